variable "cluster_path" {
  description = "The cluster definition (release/hub-aws/clusters/<name>.yaml) this workspace builds; its cluster_name and cluster_type decide what is created"
  type        = string
}

variable "run_id" {
  description = "The hubspoke run creating these resources; every resource is tagged with it so the janitor can find what a run left behind"
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,23}$", var.run_id))
    error_message = "run_id must be 1 to 24 lower-case letters, digits and dashes, as hubspoke generates it: it is part of the cluster's and the IAM roles' names, and IAM role names have at most 64 characters."
  }
}

variable "run_expires_at" {
  description = "When the run that creates these resources ends at the latest (RFC 3339); the janitor treats clusters past it as leaked"
  type        = string
  default     = ""
}

variable "region" {
  description = "The AWS region of the cluster"
  type        = string
  default     = "eu-west-2"
}

variable "kubernetes_version" {
  description = "The EKS Kubernetes version: one in EKS standard support (extended support costs six times as much per control plane); `hubspoke validate` warns once the pin's standard support has ended (dates in e2e/harness/src/eks_calendar.rs)"
  type        = string
  default     = "1.35"
}

variable "vpc_cidr" {
  description = "The CIDR of the cluster's VPC (hub and spoke use distinct ones)"
  type        = string
}

variable "node_instance_types" {
  description = "Instance types of the managed node group"
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_count" {
  description = "Nodes in the managed node group"
  type        = number
  default     = 2
}

variable "hub_account_id" {
  description = "Spoke only: the account of the hub whose Argo CD role may assume this spoke's role; empty means the spoke's own account"
  type        = string
  default     = ""
}

variable "hub_role_name" {
  description = "The IAM role Argo CD on the hub runs as (pod identity) is <hub_role_name>-<run_id>; spokes trust it"
  type        = string
  default     = "hubspoke-argocd-hub"
}

variable "spoke_role_name_prefix" {
  description = "Spoke roles are named <prefix><run_id>-<cluster_name>; the hub role may assume any role of its run with this prefix"
  type        = string
  default     = "hubspoke-argocd-spoke-"
}

variable "admin_principal_arns" {
  description = "IAM principals (besides the identity running terraform) granted cluster admin by access entries"
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource"
  type        = map(string)
  default     = {}
}

locals {
  # the cluster definition decides the name and the kind of cluster
  cluster      = yamldecode(file(var.cluster_path))
  cluster_name = local.cluster.cluster_name
  cluster_type = local.cluster.cluster_type
  is_hub       = local.cluster_type == "hub"

  # Names carry the run id, so a run that leaked (a lost runner) never blocks the next one
  # with a name already taken: the EKS cluster (and so its KMS alias alias/eks/<name>, its
  # VPC and IAM role <name>-cluster) and the IAM roles of Argo CD. hubspoke reads the
  # cluster's name from the cluster_name output.
  name            = "${local.cluster_name}-${var.run_id}"
  hub_role_name   = "${var.hub_role_name}-${var.run_id}"
  spoke_role_name = "${var.spoke_role_name_prefix}${var.run_id}-${local.cluster_name}"

  account_id     = data.aws_caller_identity.current.account_id
  hub_account_id = var.hub_account_id != "" ? var.hub_account_id : local.account_id
  hub_role_arn   = "arn:aws:iam::${local.hub_account_id}:role/${local.hub_role_name}"

  # what the janitor selects on
  tags = merge(var.tags, {
    "hubspoke.io/run-id"     = var.run_id
    "hubspoke.io/expires-at" = var.run_expires_at
    "hubspoke.io/cluster"    = local.cluster_name
    "hubspoke.io/role"       = local.cluster_type
    "hubspoke.io/workspace"  = terraform.workspace
  })

  azs = slice(data.aws_availability_zones.available.names, 0, 2)
}

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

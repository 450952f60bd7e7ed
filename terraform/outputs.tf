# What hubspoke reads with `terraform output -json` to wire the cluster in.
output "cluster_name" {
  description = "The EKS cluster's name"
  value       = module.eks.cluster_name
}

output "cluster_type" {
  description = "hub or spoke, from the cluster definition"
  value       = local.cluster_type
}

output "cluster_endpoint" {
  description = "The Kubernetes API endpoint"
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "The cluster CA (base64 PEM)"
  value       = module.eks.cluster_certificate_authority_data
}

output "region" {
  description = "The cluster's region"
  value       = var.region
}

output "account_id" {
  description = "The account the cluster is in"
  value       = local.account_id
}

output "hub_role_arn" {
  description = "The role Argo CD on the hub runs as"
  value       = local.hub_role_arn
}

output "spoke_role_arn" {
  description = "Spoke only: the role the hub assumes (awsAuthConfig.roleARN); null on the hub"
  value       = local.is_hub ? null : aws_iam_role.spoke[0].arn
}

output "run_id" {
  description = "The hubspoke run that created the cluster"
  value       = var.run_id
}

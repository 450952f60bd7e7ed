# On the hub: Argo CD's application controller, server and ApplicationSet controller run as
# one IAM role through EKS pod identity; the role may assume the spokes' roles of its run.
module "argocd_pod_identity" {
  count   = local.is_hub ? 1 : 0
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name            = local.hub_role_name
  use_name_prefix = false

  attach_custom_policy = true
  policy_statements = [
    {
      sid       = "AssumeSpokeRoles"
      actions   = ["sts:AssumeRole", "sts:TagSession"]
      resources = ["arn:aws:iam::*:role/${var.spoke_role_name_prefix}${var.run_id}-*"]
    }
  ]

  associations = {
    for sa in ["argocd-application-controller", "argocd-server", "argocd-applicationset-controller"] : sa => {
      cluster_name    = module.eks.cluster_name
      namespace       = "argocd"
      service_account = sa
    }
  }
}

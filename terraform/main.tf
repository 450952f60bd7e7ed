module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "6.6.0"

  name = local.name
  cidr = var.vpc_cidr
  azs  = local.azs

  private_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  public_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 48 + i)]

  enable_nat_gateway = true
  single_nat_gateway = true

  public_subnet_tags = {
    "kubernetes.io/role/elb" = "1"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = "1"
  }
}

module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "21.19.0"

  name               = local.name
  kubernetes_version = var.kubernetes_version

  # the cluster role is <name>-cluster (unique through the run id; a name prefix would have
  # to fit IAM's 38 characters)
  iam_role_use_name_prefix = false

  # no control plane logs: with logging on, EKS recreates /aws/eks/<name>/cluster after
  # terraform destroyed it (terraform-aws-eks#2763), so every run would leave a log group
  create_cloudwatch_log_group = false
  enabled_log_types           = []

  # the hub's Argo CD and the harness reach the API from outside the VPC
  endpoint_public_access = true
  # the harness (the identity running terraform) administers the cluster
  enable_cluster_creator_admin_permissions = true
  authentication_mode                      = "API"

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  addons = {
    coredns = {}
    eks-pod-identity-agent = {
      before_compute = true
    }
    kube-proxy = {}
    vpc-cni = {
      before_compute = true
    }
  }

  eks_managed_node_groups = {
    default = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.node_instance_types
      min_size       = var.node_count
      max_size       = var.node_count
      desired_size   = var.node_count
    }
  }

  access_entries = merge(
    {
      for i, arn in var.admin_principal_arns : "admin-${i}" => {
        principal_arn = arn
        policy_associations = {
          admin = {
            policy_arn   = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
            access_scope = { type = "cluster" }
          }
        }
      }
    },
    # on a spoke: the role the hub's Argo CD assumes is cluster admin
    {
      for k, arn in { hub = one(aws_iam_role.spoke[*].arn) } : k => {
        principal_arn     = arn
        policy_associations = {
          admin = {
            policy_arn   = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
            access_scope = { type = "cluster" }
          }
        }
      } if !local.is_hub
    },
  )
}

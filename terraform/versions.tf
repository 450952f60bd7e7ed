# One root module for both EKS clusters of the hubspoke environment: the hub (Argo CD with
# EKS pod identity) and the spoke (a role the hub assumes, granted cluster admin by an access
# entry). Each has its own workspace, so its own state: `terraform workspace select -or-create
# hub|spoke`. A remote backend is optional: `hubspoke up --env eks --backend-config FILE` (or
# `make hub-aws BACKEND_CONFIG=FILE`) writes backend_override.tf and passes -backend-config.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.28, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

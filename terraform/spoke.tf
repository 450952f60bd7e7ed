# On a spoke: a role trusted by the hub's Argo CD role (possibly in another account); the
# access entry in main.tf makes it cluster admin. Its ARN is the `roleARN` of the
# `awsAuthConfig` hubspoke writes into the hub's cluster Secret.
data "aws_iam_policy_document" "spoke_trust" {
  count = local.is_hub ? 0 : 1

  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "AWS"
      identifiers = [local.hub_role_arn]
    }
  }
}

resource "aws_iam_role" "spoke" {
  count = local.is_hub ? 0 : 1

  name               = local.spoke_role_name
  description        = "Assumed by Argo CD on the hub to manage ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.spoke_trust[0].json

  lifecycle {
    precondition {
      condition     = length(local.spoke_role_name) <= 64
      error_message = "The spoke's role name ${local.spoke_role_name} has more than IAM's 64 characters; shorten the run id (-var run_id) or the cluster_name of ${var.cluster_path}."
    }
  }
}

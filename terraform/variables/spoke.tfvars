# The spoke: trusted by the hub's Argo CD role. Set hub_account_id when the hub lives in
# another account. run_id comes from the command line (-var run_id=...).
cluster_path = "../release/hub-aws/clusters/spoke.yaml"
vpc_cidr     = "10.91.0.0/16"
tags = {
  Product = "hubspoke"
}

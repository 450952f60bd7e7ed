# The hub: Argo CD's cluster. run_id comes from the command line (-var run_id=...).
cluster_path = "../release/hub-aws/clusters/hub.yaml"
vpc_cidr     = "10.90.0.0/16"
tags = {
  Product = "hubspoke"
}

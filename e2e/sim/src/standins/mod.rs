//! Stand-ins for what runs inside a cluster. They talk to their cluster only through a
//! kube-rs client, so they work unchanged against a real API server without nodes.

pub mod kyverno;
pub mod workload;

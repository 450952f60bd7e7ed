//! What clients learn about the served types before they use them: the discovery
//! documents (legacy and aggregated, as `k8s.io/apiserver/pkg/endpoints/discovery` serves
//! them) and the OpenAPI v2 and v3 documents kubectl and kube-rs read schemas from.

pub(crate) mod groups;
pub(crate) mod openapi;

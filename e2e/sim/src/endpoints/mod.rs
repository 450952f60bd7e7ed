//! Resource endpoints, as `k8s.io/apiserver/pkg/endpoints` serves them: the request and
//! response plumbing with content negotiation ([`http`]: JSON, YAML, [`protobuf`] request
//! bodies, [`table`] output) and the [`handlers`] of the verbs on resource URLs.

pub(crate) mod handlers;
pub(crate) mod http;
pub(crate) mod protobuf;
pub(crate) mod table;

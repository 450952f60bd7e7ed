//! How requests and responses are encoded: the parsed request (query, headers, the
//! authenticated user), content negotiation (JSON, YAML, protobuf, `as=Table`,
//! `as=PartialObjectMetadata`, aggregated discovery), request bodies in JSON, YAML and
//! [`protobuf`], response bodies, and the [`table`] printers behind `kubectl get` — the
//! parts kube-apiserver keeps in its serializers and its negotiation and response writers.
//!
//! Below everything that serves requests (discovery, the endpoints, the server), which all
//! answer through it.

pub(crate) mod http;
pub(crate) mod protobuf;
pub(crate) mod table;

//! The generic registry, as kube-apiserver's `k8s.io/apiserver/pkg/registry`: the rules
//! every write to every type follows between the endpoints and storage. `rest` checks,
//! defaults, validates and stamps a write ([`managed`] tracks its field managers);
//! `generic` runs it through admission into storage; `delete` deletes with
//! preconditions, propagation and finalizers.
//!
//! The endpoints call it for clients' requests; the controllers and the cluster's
//! bootstrap call it for the cluster's own writes (without admission webhooks).

pub(crate) mod delete;
pub(crate) mod generic;
pub mod managed;
pub(crate) mod rest;

//! hubspoke-sim: an embedded Kubernetes API server and the stand-ins of the `sim`
//! environment.
//!
//! [`SimCluster`] is one API server on 127.0.0.1 (HTTPS with its own CA, admin bearer
//! token) that real clients — kube-rs, kubectl — cannot tell from a cluster: discovery,
//! OpenAPI, CRUD with kube-apiserver's semantics, patches, server-side apply, watches,
//! CRDs, finalizers, garbage collection and namespace deletion. [`SimEnvironment`] starts a
//! hub and its spokes.
//!
//! The API server is laid out as kube-apiserver's packages are. Each part uses only parts
//! listed before it (and [`faults`], [`tls`]); `tests/it/layout.rs` fails on any circle,
//! between modules or between parts:
//!
//! - [`apimachinery`]: object metadata, API errors, selectors, name validation
//! - [`apis`]: the served types (built-in and CRD-defined), schemas, defaults, validation
//! - [`storage`]: the object store and its event log
//! - [`auth`]: authentication, RBAC authorization, the bootstrap policy
//! - `encoding`: parsed requests, content negotiation, protobuf bodies, Table output
//! - `discovery`: the discovery and OpenAPI documents
//! - `state`: a cluster's shared state and the target of a resource request
//! - `admission`: the mutating and validating webhooks
//! - [`registry`]: the write path every type goes through (checks, admission, storage,
//!   deletion, managed fields)
//! - `endpoints`: request info and the handlers of the verbs on resource URLs
//! - `server`: the TLS listener, the filter chain and the routes
//! - `controllers`: the control-plane loops (CRDs, namespaces, garbage collection, ...)
//!
//! Beside them: [`faults`] (injected failures), [`tls`], [`tasks`], and the [`standins`]
//! for Argo CD, Kyverno and workloads, which use the cluster through its API.

mod admission;
pub mod apimachinery;
pub mod apis;
pub mod auth;
mod cluster;
mod controllers;
mod discovery;
mod encoding;
mod endpoints;
mod env;
pub mod faults;
pub mod registry;
mod server;
pub mod standins;
mod state;
pub mod storage;
pub mod tasks;
pub mod tls;

/// The stand-ins reach object metadata at its old path.
pub use apimachinery::meta;
pub use cluster::{SimCluster, StartError, write_private};
pub use env::{SimEnvironment, spoke_name};
pub use state::{KUBE_VERSION, ServerConfig};

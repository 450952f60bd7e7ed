//! hubspoke-sim: an embedded Kubernetes API server and the stand-ins of the `sim`
//! environment.
//!
//! [`SimCluster`] is one API server on 127.0.0.1 (HTTPS with its own CA, admin bearer
//! token) that real clients — kube-rs, kubectl — cannot tell from a cluster: discovery,
//! OpenAPI, CRUD with kube-apiserver's semantics, patches, server-side apply, watches,
//! CRDs, finalizers, garbage collection and namespace deletion. [`SimEnvironment`] starts a
//! hub and its spokes.

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

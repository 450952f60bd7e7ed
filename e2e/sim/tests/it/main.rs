//! The crate's integration tests, one binary (one build and one link instead of one per
//! file): each module is what used to be a test file of its own; nextest still runs every
//! test in a process of its own.

mod common;

mod admission;
mod api;
mod argocd;
mod argocd_image;
mod argocd_sources;
mod argocd_sync;
mod certmanager;
mod faults;
mod kubectl;
mod kyverno;
mod kyverno_policies;
mod layout;
mod rbac;
mod workload;

//! hubspoke: end-to-end tests for Kubernetes hub/spoke platforms.
//!
//! The flow: [`definition`]s describe the clusters; a [`providers`] builds them and yields
//! an [`environment::Environment`]; [`bootstrap`] installs Argo CD on the hub, registers
//! the spokes and applies the platform at the [`revision`] under test.

pub mod argocd;
pub mod bootstrap;
pub mod definition;
pub mod diagnostics;
#[cfg(feature = "eks")]
pub mod eks;
pub mod eks_calendar;
pub mod environment;
pub mod error;
pub mod expect;
pub mod kube_util;
pub mod kyverno;
pub mod kyverno_tests;
pub mod progress;
pub mod providers;
pub mod render;
pub mod report;
pub mod repository;
pub mod revision;
pub mod runner;
pub mod suites;
pub mod terraform;
pub mod timeline;
pub mod tools;
pub mod up;
pub mod validate;
pub mod yaml;

pub use environment::{Cluster, Environment, ProviderKind, Role};
pub use error::{Error, ErrorKind};

//! hubspoke: end-to-end tests for Kubernetes hub/spoke platforms.
//!
//! The flow: [`definition`]s describe the clusters; a [`provider`] builds them and yields an
//! [`environment::Environment`]; [`bootstrap`] installs Argo CD on the hub, registers the
//! spokes and applies the platform at the [`revision`] under test.

pub mod definition;
pub mod yaml;

//! The API types a cluster serves and the rules each type brings, as kube-apiserver keeps
//! them in `pkg/apis` and apiextensions-apiserver: the registry of served types (built-in
//! ones and those CustomResourceDefinitions define), structural schemas, defaulting and
//! type-specific validation.
//!
//! Depends only on [`crate::apimachinery`]: what a type is never depends on how it is
//! stored or served.

pub mod builtin;
pub(crate) mod crd;
pub(crate) mod defaults;
pub mod schema;
pub(crate) mod typecheck;
pub mod types;

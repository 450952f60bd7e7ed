//! hubspoke-sim: an embedded Kubernetes API server and the stand-ins of the `sim` environment.

pub mod builtin;
pub mod meta;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod status;
pub mod tls;
pub mod validation;

//! Who may do what, as `k8s.io/apiserver/pkg/authentication` and `authorization` decide it:
//! users and ServiceAccount tokens (authentication), RBAC over Roles, ClusterRoles and
//! their bindings (authorization), and the bootstrap policy every cluster starts with.
//!
//! Reads RBAC objects and ServiceAccounts from [`crate::storage`]; the request pipeline
//! that calls it is in `server`.

pub mod authn;
pub mod authz;
pub(crate) mod rbac_bootstrap;

/// The types users of the crate need: the identity a token webhook answers with.
pub use authn::{TokenWebhook, User};

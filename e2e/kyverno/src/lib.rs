//! Kyverno's policy engine, as Kyverno v1.15 (chart 3.5) evaluates `kyverno.io/v1`
//! ClusterPolicies and Policies: the checks its policy webhook makes, match/exclude,
//! auto-generated rules for pod controllers, validate and mutate rules, variables and
//! conditions, with the messages Kyverno writes. It does no I/O: the sim's Kyverno
//! stand-in feeds it admission requests and the cluster's answers.

pub mod cel;
pub mod clitest;
pub mod conditions;
pub mod context;
pub mod engine;
pub mod exceptions;
pub mod functions;
pub mod mutate;
pub mod patch;
pub mod pattern;
pub mod policy;
pub mod pss;
pub mod validate;
pub mod yaml;

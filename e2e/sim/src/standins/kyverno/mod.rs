//! The Kyverno stand-in.

pub mod pattern;
pub mod conditions;
pub mod policy;

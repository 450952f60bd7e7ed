//! The Kyverno stand-in.

pub mod pattern;

//! The crate's integration tests, one binary (one build and one link instead of one per
//! file): each module is what used to be a test file of its own; nextest still runs every
//! test in a process of its own.

mod common;

mod api;
mod chart_sources;
mod charts;
mod corpus;
mod fuzz;
mod helm_release;
mod sprig_vs_go;
mod strvals;

//! The crate's integration tests, one binary (one build and one link instead of one per
//! file): each module is what used to be a test file of its own; nextest still runs every
//! test in a process of its own.

mod common;
mod support {
    #[cfg(feature = "eks")]
    pub mod moto;
    pub mod tf_layout;
}

mod cli;
mod definitions;
#[cfg(feature = "eks")]
mod eks_api;
#[cfg(feature = "eks")]
mod eks_client;
#[cfg(feature = "eks")]
mod eks_credentials;
#[cfg(feature = "eks")]
mod eks_ec2;
#[cfg(feature = "eks")]
mod eks_janitor;
#[cfg(feature = "eks")]
mod eks_state_lock;
#[cfg(feature = "eks")]
mod eks_token;
#[cfg(feature = "eks")]
mod eks_up;
mod existing;
mod expect;
mod kind;
mod kyverno_tests;
mod make_aws;
mod platform;
mod registration;
mod render_cli;
mod revision;
mod shutdown;
mod sim_serve;
mod terraform;
mod validate;

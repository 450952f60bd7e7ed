//! The `eks` environment's AWS side (cargo feature `eks`): EKS bearer tokens made in-process.
//! (The terraform side, which needs no AWS SDK, is [`crate::terraform`].)

pub mod cluster;
pub mod token;

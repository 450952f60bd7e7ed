//! The `eks` environment's AWS side (cargo feature `eks`): EKS bearer tokens made
//! in-process, kube clients authenticated with them, DescribeCluster until ACTIVE, the
//! provider that wires terraform's outputs into the environment, and the leak janitor.
//! (The terraform side, which needs no AWS SDK, is [`crate::terraform`].)

pub mod client;
pub mod cluster;
pub mod janitor;
pub mod leftovers;
pub mod provider;
pub mod token;

/// The AWS configuration of `region` from the usual sources (environment, profiles, SSO,
/// web identity as GitHub's OIDC provides it, instance and container credentials);
/// `AWS_ENDPOINT_URL`/`AWS_ENDPOINT_URL_EKS` point it at an emulator.
pub async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}

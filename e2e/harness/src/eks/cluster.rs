//! EKS clusters through the EKS API: DescribeCluster until a cluster terraform made is ACTIVE
//! (the AWS API has no watch, so this is the one place that polls, at a fixed interval,
//! within a deadline), with throttling and transient errors retried and definite answers
//! (no such cluster, FAILED, DELETING, access denied) ending the wait at once.

use std::time::{Duration, Instant};

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eks::operation::describe_cluster::DescribeClusterError;
use aws_sdk_eks::types::ClusterStatus;

/// An ACTIVE cluster: what a kube client needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveCluster {
    pub name: String,
    pub arn: String,
    pub endpoint: String,
    /// Base64 PEM, as EKS and terraform report it.
    pub ca_data: String,
    pub version: String,
}

/// Error codes that mean "ask again later" (the SDK retries them a few times itself first).
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServerException",
    "ServiceUnavailableException",
    "InternalFailure",
];

/// Waits until EKS cluster `name` is ACTIVE, asking every `every`, at most `within`;
/// `step` hears each status and each retried error.
pub async fn wait_active(
    client: &aws_sdk_eks::Client,
    name: &str,
    within: Duration,
    every: Duration,
    step: &(dyn Fn(&str) + Sync),
) -> Result<ActiveCluster, String> {
    let deadline = Instant::now() + within;
    let mut last: String;
    loop {
        match client.describe_cluster().name(name).send().await {
            Ok(out) => {
                let Some(c) = out.cluster else {
                    return Err(format!(
                        "EKS cluster {name}: DescribeCluster answered without a cluster"
                    ));
                };
                let status = c.status.clone().unwrap_or(ClusterStatus::Pending);
                match status {
                    ClusterStatus::Active => {
                        let endpoint = c.endpoint.clone().unwrap_or_default();
                        let ca_data = c
                            .certificate_authority
                            .as_ref()
                            .and_then(|a| a.data.clone())
                            .unwrap_or_default();
                        if endpoint.is_empty() || ca_data.is_empty() {
                            return Err(format!(
                                "EKS cluster {name} is ACTIVE but reports no {}",
                                if endpoint.is_empty() {
                                    "endpoint"
                                } else {
                                    "certificate authority"
                                }
                            ));
                        }
                        return Ok(ActiveCluster {
                            name: name.to_string(),
                            arn: c.arn.unwrap_or_default(),
                            endpoint,
                            ca_data,
                            version: c.version.unwrap_or_default(),
                        });
                    }
                    ClusterStatus::Failed | ClusterStatus::Deleting => {
                        let issues: Vec<String> = c
                            .health
                            .as_ref()
                            .map(|h| h.issues())
                            .unwrap_or_default()
                            .iter()
                            .map(|i| {
                                format!(
                                    "{}: {}",
                                    i.code.as_ref().map(|c| c.as_str()).unwrap_or("?"),
                                    i.message.as_deref().unwrap_or("")
                                )
                            })
                            .collect();
                        return Err(format!(
                            "EKS cluster {name} is {}{}",
                            status.as_str(),
                            if issues.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", issues.join("; "))
                            }
                        ));
                    }
                    other => {
                        last = format!("status {}", other.as_str());
                        step(&format!("EKS cluster {name}: {}", other.as_str()));
                    }
                }
            }
            Err(e) => {
                if let SdkError::ServiceError(se) = &e
                    && let DescribeClusterError::ResourceNotFoundException(nf) = se.err()
                {
                    return Err(format!(
                        "EKS cluster {name} does not exist ({}); terraform's outputs name it, so check the region and account the credentials point at",
                        nf.message().unwrap_or("not found")
                    ));
                }
                let code = e.code().unwrap_or_default().to_string();
                let transient = TRANSIENT.contains(&code.as_str())
                    || matches!(
                        e,
                        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
                    )
                    || e.raw_response()
                        .is_some_and(|r| r.status().is_server_error() || r.status().as_u16() == 429);
                let why = DisplayErrorContext(&e).to_string();
                if !transient {
                    return Err(format!("EKS cluster {name}: DescribeCluster failed: {why}"));
                }
                last = format!("DescribeCluster failed, retrying: {why}");
                step(&format!(
                    "EKS cluster {name}: {}",
                    if code.is_empty() { "error" } else { &code }
                ));
            }
        }
        if Instant::now() + every > deadline {
            return Err(format!(
                "EKS cluster {name} was not ACTIVE within {within:?}; last seen: {last}"
            ));
        }
        tokio::time::sleep(every).await;
    }
}

//! The `eks` environment's AWS side (cargo feature `eks`): EKS bearer tokens made
//! in-process, kube clients authenticated with them, DescribeCluster until ACTIVE, the
//! provider that wires terraform's outputs into the environment, and the leak janitor
//! (with its own small EC2 Query API client).
//! (The terraform side, which needs no AWS SDK, is [`crate::terraform`].)

pub mod client;
pub mod cluster;
pub mod ec2;
pub mod janitor;
pub mod leftovers;
pub mod provider;
pub mod token;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};

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

/// How long credentials without an expiry are kept (as the SDK's identity cache does).
const KEEP_UNEXPIRING: Duration = Duration::from_secs(15 * 60);
/// Credentials are fetched anew this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// A credentials provider keeping what `inner` gave until a minute before it expires. The
/// SDK's clients keep credentials in the configuration's identity cache, which a client
/// signing its own requests (the janitor's EC2 client, [`ec2`]) cannot use: with this
/// provider in the configuration they share one sign-in, so an SSO portal, STS for a web
/// identity or a credential process is asked once, not once per kind of client.
#[derive(Debug)]
pub struct CachingCredentials {
    inner: SharedCredentialsProvider,
    kept: tokio::sync::Mutex<Option<(Credentials, SystemTime)>>,
}

impl CachingCredentials {
    pub fn new(inner: SharedCredentialsProvider) -> Self {
        CachingCredentials {
            inner,
            kept: tokio::sync::Mutex::new(None),
        }
    }
}

impl ProvideCredentials for CachingCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let mut kept = self.kept.lock().await;
            let now = SystemTime::now();
            if let Some((creds, until)) = kept.as_ref()
                && now < *until
            {
                return Ok(creds.clone());
            }
            let creds = self.inner.provide_credentials().await?;
            let expires = creds.expiry().unwrap_or(now + KEEP_UNEXPIRING);
            *kept = Some((creds.clone(), expires.checked_sub(RENEW_BEFORE).unwrap_or(now)));
            Ok(creds)
        })
    }
}

/// `sdk` with its credentials provider wrapped in a [`CachingCredentials`], for clients that
/// should share one sign-in (the janitor's).
pub fn sharing_credentials(sdk: aws_config::SdkConfig) -> aws_config::SdkConfig {
    match sdk.credentials_provider() {
        Some(p) => sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(CachingCredentials::new(p)))
            .build(),
        None => sdk,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::credential_fn::provide_credentials_fn;

    use super::*;

    /// A provider counting its calls, giving credentials that expire `lifetime` from now.
    fn counting(lifetime: Option<Duration>) -> (SharedCredentialsProvider, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let provider = provide_credentials_fn(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                Ok(Credentials::new(
                    format!("AKID{n}"),
                    "secret",
                    Some("token".into()),
                    lifetime.map(|l| SystemTime::now() + l),
                    "test",
                ))
            }
        });
        (SharedCredentialsProvider::new(provider), calls)
    }

    #[tokio::test]
    async fn credentials_are_fetched_once_until_they_are_about_to_expire() {
        let (inner, calls) = counting(Some(Duration::from_secs(3600)));
        let caching = CachingCredentials::new(inner);
        for _ in 0..3 {
            let c = caching.provide_credentials().await.unwrap();
            assert_eq!(c.access_key_id(), "AKID1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // within a minute of their expiry: fetched anew each time
        let (inner, calls) = counting(Some(Duration::from_secs(30)));
        let caching = CachingCredentials::new(inner);
        caching.provide_credentials().await.unwrap();
        let c = caching.provide_credentials().await.unwrap();
        assert_eq!(c.access_key_id(), "AKID2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // without an expiry: kept (for a quarter of an hour)
        let (inner, calls) = counting(None);
        let sdk = sharing_credentials(
            aws_config::SdkConfig::builder()
                .credentials_provider(inner)
                .region(aws_config::Region::new("eu-west-2"))
                .build(),
        );
        let shared = sdk.credentials_provider().unwrap();
        shared.provide_credentials().await.unwrap();
        shared.provide_credentials().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-2"));
    }
}

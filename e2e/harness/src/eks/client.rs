//! kube clients for EKS clusters, authenticated with EKS tokens made in this process (no
//! `aws` CLI, no exec plugin): a tower layer puts `Authorization: Bearer k8s-aws-v1.…` on
//! every request, making a new token from the current AWS credentials once the one in use
//! is [`REFRESH_AFTER`] old, well inside the 15 minutes the API server accepts it for.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use http::header::{AUTHORIZATION, HeaderValue};
use serde_json::json;

use super::token::{REFRESH_AFTER, token};
use crate::environment::AwsCluster;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What time it is (a test moves it).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Makes EKS tokens for one cluster and keeps the current one until it is due for renewal.
pub struct TokenSource {
    credentials: SharedCredentialsProvider,
    region: String,
    cluster: String,
    clock: Clock,
    current: tokio::sync::Mutex<Option<(String, SystemTime)>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("region", &self.region)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(credentials: SharedCredentialsProvider, region: &str, cluster: &str) -> Self {
        TokenSource {
            credentials,
            region: region.to_string(),
            cluster: cluster.to_string(),
            clock: Arc::new(SystemTime::now),
            current: tokio::sync::Mutex::new(None),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The token to send now: the current one while it is younger than [`REFRESH_AFTER`],
    /// else a new one signed with the credentials as they are now (they may have rotated).
    pub async fn bearer(&self) -> Result<String, String> {
        let now = (self.clock)();
        let mut current = self.current.lock().await;
        if let Some((t, made)) = current.as_ref()
            && now.duration_since(*made).is_ok_and(|age| age < REFRESH_AFTER)
        {
            return Ok(t.clone());
        }
        let creds = self.credentials.provide_credentials().await.map_err(|e| {
            format!(
                "no AWS credentials to make an EKS token for {} with: {}",
                self.cluster,
                aws_sdk_eks::error::DisplayErrorContext(&e)
            )
        })?;
        let t = token(&creds, &self.region, &self.cluster, now)?;
        *current = Some((t.clone(), now));
        Ok(t)
    }
}

/// The layer putting EKS tokens on a kube client's requests.
#[derive(Clone, Debug)]
pub struct EksAuthLayer {
    source: Arc<TokenSource>,
}

impl EksAuthLayer {
    pub fn new(source: TokenSource) -> Self {
        EksAuthLayer {
            source: Arc::new(source),
        }
    }
}

impl<S> tower::Layer<S> for EksAuthLayer {
    type Service = EksAuth<S>;

    fn layer(&self, inner: S) -> EksAuth<S> {
        EksAuth {
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            source: self.source.clone(),
        }
    }
}

/// See [`EksAuthLayer`]. The token may need credentials fetched first, so the inner service
/// is driven from the request's future (one request at a time is handed to it; responses
/// are awaited concurrently).
pub struct EksAuth<S> {
    inner: Arc<tokio::sync::Mutex<S>>,
    source: Arc<TokenSource>,
}

impl<S, B> tower::Service<http::Request<B>> for EksAuth<S>
where
    S: tower::Service<http::Request<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let (inner, source) = (self.inner.clone(), self.source.clone());
        Box::pin(async move {
            let token = source.bearer().await?;
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
            value.set_sensitive(true);
            req.headers_mut().insert(AUTHORIZATION, value);
            let response = {
                let mut svc = inner.lock().await;
                futures::future::poll_fn(|cx| svc.poll_ready(cx))
                    .await
                    .map_err(Into::into)?;
                svc.call(req)
            };
            response.await.map_err(Into::into)
        })
    }
}

/// A client of `aws`'s cluster with tokens from `source`.
pub async fn client_with(aws: &AwsCluster, source: TokenSource) -> Result<kube::Client, String> {
    // a kubeconfig without a user: the layer authenticates
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": aws.cluster_name, "cluster": {
            "server": aws.endpoint, "certificate-authority-data": aws.ca_data}}],
        "users": [{"name": "eks", "user": {}}],
        "contexts": [{"name": aws.cluster_name, "context": {"cluster": aws.cluster_name, "user": "eks"}}],
        "current-context": aws.cluster_name,
    });
    let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig.to_string())
        .map_err(|e| format!("EKS cluster {}: {e}", aws.cluster_name))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| format!("EKS cluster {}: {e}", aws.cluster_name))?;
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| format!("EKS cluster {}: cannot build a client: {e}", aws.cluster_name))?
        .with_layer(&EksAuthLayer::new(source))
        .build();
    Ok(client)
}

/// A client of `aws`'s cluster with tokens from the default AWS credentials.
pub async fn client(aws: &AwsCluster) -> Result<kube::Client, String> {
    let sdk = super::sdk_config(Some(&aws.region)).await;
    let credentials = sdk.credentials_provider().ok_or_else(|| {
        format!(
            "EKS cluster {}: no AWS credentials are configured (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run in a role)",
            aws.cluster_name
        )
    })?;
    client_with(aws, TokenSource::new(credentials, &aws.region, &aws.cluster_name)).await
}

//! Stand-ins for what runs inside a cluster. They talk to their cluster only through a
//! kube-rs client, so they work unchanged against a real API server without nodes.

pub mod argocd;
pub mod certmanager;
pub mod charts;
pub mod kyverno;
pub mod leader;
pub mod programs;
pub mod workload;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// Why installing a stand-in failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("installing {what}: {source}")]
    Kube {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("installing {what}: {message}")]
    Other { what: &'static str, message: String },
}

/// Serves HTTPS (HTTP/2 or 1.1) on `listener` until it fails: each request's path and body
/// go to `handle`, whose status and JSON are the response. What the stand-ins' webhook
/// servers share.
pub(crate) async fn serve_json<H, Fut>(
    listener: tokio::net::TcpListener,
    tls: std::sync::Arc<rustls::ServerConfig>,
    handle: H,
) where
    H: Fn(String, bytes::Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = (u16, Value)> + Send + 'static,
{
    use http_body_util::{BodyExt, Full};
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let acceptor = acceptor.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let handle = handle.clone();
                async move {
                    let path = req.uri().path().to_string();
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let (code, out) = handle(path, body).await;
                    Ok::<_, std::convert::Infallible>(
                        http::Response::builder()
                            .status(code)
                            .header("content-type", "application/json")
                            .body(Full::new(bytes::Bytes::from(
                                serde_json::to_vec(&out).unwrap_or_default(),
                            )))
                            .expect("valid response"),
                    )
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
        });
    }
}

/// Server-side applies an object given as JSON, as `manager`.
pub(crate) async fn apply<K>(api: &Api<K>, manager: &str, obj: &Value) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(obj))
        .await?;
    Ok(())
}

/// Applies CRDs and waits until each is Established.
pub(crate) async fn install_crds(
    client: &kube::Client,
    manager: &str,
    crds: Vec<Value>,
    what: &'static str,
) -> Result<(), InstallError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        let name = crd["metadata"]["name"].as_str().unwrap_or("").to_string();
        apply(&api, manager, &crd)
            .await
            .map_err(|source| InstallError::Kube { what, source })?;
        let established = kube::runtime::wait::conditions::is_crd_established();
        tokio::time::timeout(
            Duration::from_secs(30),
            kube::runtime::wait::await_condition(api.clone(), &name, established),
        )
        .await
        .map_err(|_| InstallError::Other {
            what,
            message: format!("CRD {name} was not established within 30s"),
        })?
        .map_err(|e| InstallError::Other {
            what,
            message: format!("waiting for CRD {name}: {e}"),
        })?;
    }
    Ok(())
}

pub(crate) fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

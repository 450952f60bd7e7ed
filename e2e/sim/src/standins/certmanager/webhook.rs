//! cert-manager's webhook and cainjector, as pods of their images run them.
//!
//! - The webhook (`cert-manager-webhook`) keeps its CA in the Secret named by
//!   `--dynamic-serving-ca-secret-name` (in `--dynamic-serving-ca-secret-namespace`), created
//!   at first start with `tls.crt`, `tls.key` and `ca.crt` and the annotation
//!   `cert-manager.io/allow-direct-injection: "true"`, serves a certificate from it for
//!   `--dynamic-serving-dns-names` on `--secure-port`, and answers the AdmissionReviews of
//!   `/validate` and `/mutate`. It admits every request: cert-manager's validation and the
//!   requester identity its mutation writes into CertificateRequests are not done.
//! - The cainjector fills `caBundle` of webhook configurations and of CRDs' conversion
//!   webhooks annotated `cert-manager.io/inject-ca-from` (a Certificate's Secret),
//!   `cert-manager.io/inject-ca-from-secret` (a Secret that allows direct injection) or
//!   `cert-manager.io/inject-apiserver-ca`, with the `ca.crt` of the source.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::InstallError;

const ALLOW_DIRECT_INJECTION: &str = "cert-manager.io/allow-direct-injection";
const INJECT_FROM: &str = "cert-manager.io/inject-ca-from";
const INJECT_FROM_SECRET: &str = "cert-manager.io/inject-ca-from-secret";
const INJECT_APISERVER_CA: &str = "cert-manager.io/inject-apiserver-ca";

fn other(what: &'static str, message: impl Into<String>) -> InstallError {
    InstallError::Other {
        what,
        message: message.into(),
    }
}

/// How the webhook runs (its flags).
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    /// The pod's address and `--secure-port`.
    pub bind: SocketAddr,
    /// `--dynamic-serving-ca-secret-namespace`.
    pub ca_secret_namespace: String,
    /// `--dynamic-serving-ca-secret-name`.
    pub ca_secret_name: String,
    /// `--dynamic-serving-dns-names`.
    pub dns_names: Vec<String>,
}

/// The running webhook; dropping it stops serving.
pub struct Webhook {
    _tasks: crate::tasks::Tasks,
}

/// The webhook's CA: read from its Secret, or created there at first start.
async fn serving_pki(client: &Client, opts: &WebhookOptions) -> Result<crate::tls::ClusterPki, InstallError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &opts.ca_secret_namespace);
    let kube_err = |e: kube::Error| other("cert-manager webhook", format!("the CA Secret: {e}"));
    let mut hosts = opts.dns_names.clone();
    hosts.push(opts.bind.ip().to_string());
    let cn = opts
        .dns_names
        .first()
        .cloned()
        .unwrap_or_else(|| "cert-manager-webhook".into());
    let text = |s: &Secret, k: &str| {
        s.data
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
    };
    if let Some(s) = secrets.get_opt(&opts.ca_secret_name).await.map_err(kube_err)?
        && let (Some(crt), Some(key)) = (text(&s, "tls.crt"), text(&s, "tls.key"))
        && let Ok(pki) = crate::tls::ClusterPki::from_ca(&crt, &key, &cn, &hosts)
    {
        return Ok(pki);
    }
    let pki = crate::tls::ClusterPki::generate("cert-manager-webhook", &hosts)
        .map_err(|e| other("cert-manager webhook", format!("creating the CA: {e}")))?;
    let pki = crate::tls::ClusterPki::from_ca(&pki.ca_pem, &pki.ca_key_pem, &cn, &hosts).map_err(|e| {
        other(
            "cert-manager webhook",
            format!("creating the serving certificate: {e}"),
        )
    })?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": opts.ca_secret_name, "namespace": opts.ca_secret_namespace,
            "annotations": {ALLOW_DIRECT_INJECTION: "true"}},
        "data": {"tls.crt": b64(&pki.ca_pem), "tls.key": b64(&pki.ca_key_pem), "ca.crt": b64(&pki.ca_pem)}});
    let secret: Secret =
        serde_json::from_value(secret).map_err(|e| other("cert-manager webhook", e.to_string()))?;
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(pki),
        // another replica created it first: serve from that one
        Err(kube::Error::Api(s)) if s.code == 409 => Box::pin(serving_pki(client, opts)).await,
        Err(e) => Err(kube_err(e)),
    }
}

impl Webhook {
    /// Creates (or reads) the CA and serves admission on the pod's address.
    pub async fn run(client: Client, opts: WebhookOptions) -> Result<Self, InstallError> {
        crate::tls::install_crypto_provider();
        let pki = serving_pki(&client, &opts).await?;
        let listener = tokio::net::TcpListener::bind(opts.bind)
            .await
            .map_err(|e| other("cert-manager webhook", format!("listening on {}: {e}", opts.bind)))?;
        let mut tasks = crate::tasks::Tasks::new();
        tasks.spawn(serve(listener, pki.server_config.clone()));
        Ok(Webhook { _tasks: tasks })
    }
}

/// The response to an AdmissionReview: allowed, with the request's UID.
fn admit(review: &Value) -> Value {
    let uid = review.pointer("/request/uid").cloned().unwrap_or(json!(""));
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, "allowed": true}})
}

async fn serve(listener: tokio::net::TcpListener, tls: Arc<rustls::ServerConfig>) {
    crate::standins::serve_json(listener, tls, |path: String, body: bytes::Bytes| async move {
        match (path.as_str(), serde_json::from_slice::<Value>(&body)) {
            ("/validate" | "/mutate", Ok(review)) => (200, admit(&review)),
            ("/validate" | "/mutate", Err(e)) => {
                (400, json!({"error": format!("invalid AdmissionReview: {e}")}))
            }
            ("/livez" | "/healthz", _) => (200, json!("ok")),
            _ => (404, json!({"error": format!("no handler for {path}")})),
        }
    })
    .await
}

/// The running cainjector; dropping it stops it.
pub struct CaInjector {
    _tasks: crate::tasks::Tasks,
}

fn targets() -> [kube::core::ApiResource; 3] {
    [
        kube::core::ApiResource::erase::<
            k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
        >(&()),
        kube::core::ApiResource::erase::<
            k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
        >(&()),
        kube::core::ApiResource::erase::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(&()),
    ]
}

impl CaInjector {
    /// Starts injecting; `namespace` is the pod's (where the API server's CA is read from
    /// `kube-root-ca.crt`).
    pub fn run(client: Client, namespace: String) -> Self {
        let mut tasks = crate::tasks::Tasks::new();
        tasks.spawn(inject_loop(client, namespace));
        CaInjector { _tasks: tasks }
    }
}

/// Re-injects on every change to a target or a Secret (a CA may arrive after the object
/// that wants it).
async fn inject_loop(client: Client, namespace: String) {
    let cfg = kube::runtime::watcher::Config::default();
    let mut streams: Vec<futures::stream::BoxStream<'static, bool>> = targets()
        .into_iter()
        .map(|ar| {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            kube::runtime::WatchStreamExt::default_backoff(kube::runtime::watcher(api, cfg.clone()))
                .map(|e| e.is_ok())
                .boxed()
        })
        .collect();
    streams.push(
        kube::runtime::WatchStreamExt::default_backoff(kube::runtime::watcher(
            Api::<Secret>::all(client.clone()),
            cfg.clone(),
        ))
        .map(|e| e.is_ok())
        .boxed(),
    );
    let mut events = futures::stream::select_all(streams);
    while let Some(ok) = events.next().await {
        if !ok {
            continue;
        }
        while let Some(Some(_)) = futures::FutureExt::now_or_never(events.next()) {}
        if let Err(e) = inject_all(&client, &namespace).await {
            tracing::debug!(error = %e, "cainjector: injecting failed; retrying on the next change");
        }
    }
}

/// The `ca.crt` the annotations of `obj` point at, if it can be read.
async fn ca_for(client: &Client, namespace: &str, obj: &Value) -> Result<Option<String>, kube::Error> {
    let ann = |k: &str| {
        obj.pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
    };
    let ca_of = |s: &Secret| {
        s.data
            .as_ref()
            .and_then(|d| d.get("ca.crt"))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
    };
    if let Some(src) = ann(INJECT_FROM_SECRET) {
        let Some((ns, name)) = src.split_once('/') else {
            return Ok(None);
        };
        let Some(s) = Api::<Secret>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await?
        else {
            return Ok(None);
        };
        let allowed = s
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ALLOW_DIRECT_INJECTION))
            .is_some_and(|v| v == "true");
        return Ok(if allowed { ca_of(&s) } else { None });
    }
    if let Some(src) = ann(INJECT_FROM) {
        let Some((ns, name)) = src.split_once('/') else {
            return Ok(None);
        };
        let certs: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &super::certificates());
        let Some(cert) = certs.get_opt(name).await? else {
            return Ok(None);
        };
        let Some(secret) = cert.data.pointer("/spec/secretName").and_then(Value::as_str) else {
            return Ok(None);
        };
        let s = Api::<Secret>::namespaced(client.clone(), ns)
            .get_opt(secret)
            .await?;
        return Ok(s.as_ref().and_then(ca_of));
    }
    if ann(INJECT_APISERVER_CA) == Some("true") {
        let cm = Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .get_opt("kube-root-ca.crt")
            .await?;
        return Ok(cm.and_then(|c| c.data).and_then(|d| d.get("ca.crt").cloned()));
    }
    Ok(None)
}

async fn inject_all(client: &Client, namespace: &str) -> Result<(), kube::Error> {
    for ar in targets() {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        for obj in api.list(&Default::default()).await?.items {
            let v = serde_json::to_value(&obj).unwrap_or_default();
            let Some(ca) = ca_for(client, namespace, &v).await? else {
                continue;
            };
            let bundle = base64::engine::general_purpose::STANDARD.encode(ca.as_bytes());
            let name = obj.metadata.name.clone().unwrap_or_default();
            let patch = if ar.kind == "CustomResourceDefinition" {
                if v.pointer("/spec/conversion/strategy").and_then(Value::as_str) != Some("Webhook")
                    || v.pointer("/spec/conversion/webhook/clientConfig/caBundle")
                        .and_then(Value::as_str)
                        == Some(bundle.as_str())
                {
                    continue;
                }
                json!({"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": bundle}}}}})
            } else {
                let mut webhooks = v
                    .get("webhooks")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if webhooks.iter().all(|w| {
                    w.pointer("/clientConfig/caBundle").and_then(Value::as_str) == Some(bundle.as_str())
                }) {
                    continue;
                }
                for w in &mut webhooks {
                    w["clientConfig"]["caBundle"] = json!(bundle);
                }
                json!({"webhooks": webhooks})
            };
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
    }
    Ok(())
}

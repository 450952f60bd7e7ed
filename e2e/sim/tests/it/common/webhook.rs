//! A test admission webhook server: HTTPS with a CA of its own, recording every
//! AdmissionReview it receives. `/validate` denies Pods without a `team` label;
//! `/mutate` adds the label `mutated: "yes"`.

use std::sync::{Arc, Mutex};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

pub struct Webhook {
    pub port: u16,
    /// base64 of the CA PEM, for `caBundle`.
    pub ca_bundle: String,
    pub seen: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(path: &str, review: &Value) -> Value {
    let req = &review["request"];
    let uid = req["uid"].clone();
    let obj = &req["object"];
    match path {
        "/mutate" => {
            let has_labels = obj.pointer("/metadata/labels").is_some_and(Value::is_object);
            let patch = if has_labels {
                json!([{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}])
            } else {
                json!([{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}])
            };
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
                "uid": uid, "allowed": true, "patchType": "JSONPatch",
                "patch": base64::engine::general_purpose::STANDARD.encode(patch.to_string()),
            }})
        }
        _ => {
            let labelled = obj.pointer("/metadata/labels/team").is_some();
            if labelled || req["operation"] == "DELETE" {
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
                    "uid": uid, "allowed": true, "warnings": ["checked by test webhook"],
                }})
            } else {
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
                    "uid": uid, "allowed": false,
                    "status": {"code": 403, "reason": "Forbidden", "message": "pod has no team label"},
                }})
            }
        }
    }
}

impl Webhook {
    /// Serves on 127.0.0.1 with a certificate for `hosts`.
    pub async fn start(hosts: &[&str]) -> Webhook {
        hubspoke_sim::tls::install_crypto_provider();
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let pki = hubspoke_sim::tls::ClusterPki::generate("test-webhook", &hosts).unwrap();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
        let recorder = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let recorder = recorder.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let recorder = recorder.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let review: Value = serde_json::from_slice(&body).unwrap();
                            recorder.lock().unwrap().push(review.clone());
                            let out = serde_json::to_vec(&respond(&path, &review)).unwrap();
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .header("content-type", "application/json")
                                    .body(Full::new(bytes::Bytes::from(out)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Webhook {
            port,
            ca_bundle: base64::engine::general_purpose::STANDARD.encode(&pki.ca_pem),
            seen,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}

/// A webhook configuration (validating or mutating) with one webhook.
pub fn configuration(kind: &str, name: &str, client_config: Value, extra: Value) -> Value {
    let mut hook = json!({
        "name": name,
        "clientConfig": client_config,
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "failurePolicy": "Fail",
    });
    if let (Some(h), Some(e)) = (hook.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            h.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name}, "webhooks": [hook]})
}

//! The stand-in's admission server: Kyverno's resource webhooks (`/mutate/*`,
//! `/validate/*`, `pkg/webhooks/resource`), its policy and exception validation webhooks
//! (`/policyvalidate`, `/exceptionvalidate`), and the cluster lookups rules make.

use std::collections::BTreeMap;
use std::sync::Arc;

use hubspoke_kyverno::context::Cluster;
use hubspoke_kyverno::engine::{self, Request, RuleResult, Status};
use hubspoke_kyverno::exceptions::Exception;
use hubspoke_kyverno::policy::{self, Action, Policy};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};

use super::{Engine, KyvernoOptions, yaml};

/// One policy's results for a request.
pub(super) struct PolicyResults {
    pub policy: Policy,
    pub results: Vec<RuleResult>,
}

/// The API server, as context entries see it (`configMap`, `apiCall`). The engine runs on
/// a blocking thread and waits for each call.
pub(super) struct KubeCluster {
    pub client: Client,
    pub handle: tokio::runtime::Handle,
}

fn api_message(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        other => other.to_string(),
    }
}

impl Cluster for KubeCluster {
    fn config_map(&self, namespace: &str, name: &str) -> Result<Value, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let cm = self.handle.block_on(api.get(name)).map_err(api_message)?;
        serde_json::to_value(cm).map_err(|e| e.to_string())
    }

    fn raw(&self, method: &str, url_path: &str, body: Option<&Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(url_path)
            .header("content-type", "application/json")
            .body(body)
            .map_err(|e| e.to_string())?;
        self.handle
            .block_on(self.client.request::<Value>(req))
            .map_err(api_message)
    }
}

pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    engine: Arc<Engine>,
) {
    crate::standins::serve_json(listener, tls, move |path: String, body: bytes::Bytes| {
        let engine = engine.clone();
        async move {
            let review = match serde_json::from_slice::<Value>(&body) {
                Ok(r) => r,
                Err(e) => return (400, json!({"error": format!("invalid AdmissionReview: {e}")})),
            };
            let response = match path.as_str() {
                "/validate/fail" | "/validate/ignore" => {
                    engine.admit_validate(&review, path.ends_with("fail")).await
                }
                "/mutate/fail" | "/mutate/ignore" => {
                    engine.admit_mutate(&review, path.ends_with("fail")).await
                }
                "/policyvalidate" => admit_policy(&review),
                "/exceptionvalidate" => admit_exception(&review, &engine.opts),
                _ => return (404, json!({"error": format!("no handler for {path}")})),
            };
            (200, response)
        }
    })
    .await
}

/// An AdmissionReview answer.
fn respond(req: &Value, allowed: bool, message: Option<String>, warnings: &[String]) -> Value {
    let mut response = json!({"uid": req.get("uid").cloned().unwrap_or(json!("")), "allowed": allowed});
    if let Some(m) = message {
        response["status"] = json!({"status": "Failure", "message": m});
    }
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

/// Kinds and namespaces Kyverno's default `resourceFilters` leave alone.
fn filtered(kind: &str, namespace: &str, opts: &KyvernoOptions) -> bool {
    const KINDS: &[&str] = &[
        "Event",
        "Node",
        "APIService",
        "TokenReview",
        "SubjectAccessReview",
        "SelfSubjectAccessReview",
        "Binding",
        "ReplicaSet",
        "AdmissionReport",
        "ClusterAdmissionReport",
        "BackgroundScanReport",
        "ClusterBackgroundScanReport",
        "EphemeralReport",
        "ClusterEphemeralReport",
        "PolicyReport",
        "ClusterPolicyReport",
    ];
    KINDS.contains(&kind)
        || [
            "kube-system",
            "kube-public",
            "kube-node-lease",
            opts.namespace.as_str(),
        ]
        .contains(&namespace)
}

/// `/policyvalidate`: Kyverno's policy validation (`pkg/validation/policy`).
fn admit_policy(review: &Value) -> Value {
    let req = review.get("request").cloned().unwrap_or(json!({}));
    let object = req.get("object").cloned().unwrap_or(Value::Null);
    let warnings = policy::warnings(&object);
    match policy::check(&object) {
        Ok(()) => respond(&req, true, None, &warnings),
        Err(e) => respond(&req, false, Some(e), &warnings),
    }
}

/// `/exceptionvalidate`: the exception's own errors, and the warnings Kyverno gives when
/// its flags would leave it unused.
fn admit_exception(review: &Value, opts: &KyvernoOptions) -> Value {
    let req = review.get("request").cloned().unwrap_or(json!({}));
    let object = req.get("object").cloned().unwrap_or(Value::Null);
    let mut warnings = Vec::new();
    if !opts.enable_policy_exception {
        warnings.push("PolicyException resources would not be processed until it is enabled.".to_string());
    } else if opts.exception_namespace.is_empty() {
        warnings.push("The exceptionNamespace flag is not set".to_string());
    } else if opts.exception_namespace != "*"
        && object.pointer("/metadata/namespace").and_then(Value::as_str)
            != Some(opts.exception_namespace.as_str())
    {
        warnings.push("PolicyException resource namespace must match the defined namespace.".to_string());
    }
    match hubspoke_kyverno::exceptions::load(&object) {
        Ok(_) => respond(&req, true, None, &warnings),
        Err(e) => respond(&req, false, Some(e), &warnings),
    }
}

impl Engine {
    /// The request's Namespace (Null when cluster-scoped or missing) and its labels.
    pub(super) async fn namespace(&self, ns: &str) -> (Value, Value) {
        if ns.is_empty() {
            return (Value::Null, json!({}));
        }
        match Api::<Namespace>::all(self.client.clone()).get(ns).await {
            Ok(n) => {
                let labels = json!(n.metadata.labels.clone().unwrap_or_default());
                (serde_json::to_value(n).unwrap_or(Value::Null), labels)
            }
            Err(_) => (Value::Null, json!({})),
        }
    }

    /// The validate rules of `policies` on a request (the engine runs on a blocking thread:
    /// context entries wait for the API server); policies without results are left out.
    pub(super) async fn validate_all(
        &self,
        policies: Vec<Policy>,
        admission: Value,
        (ns_object, ns_labels): (Value, Value),
        exceptions: Vec<Exception>,
    ) -> Vec<PolicyResults> {
        let cluster = self.cluster();
        tokio::task::spawn_blocking(move || {
            let request = Request {
                admission: &admission,
                namespace_labels: &ns_labels,
                namespace_object: Some(&ns_object),
                cluster: &cluster,
                exceptions: &exceptions,
            };
            policies
                .into_iter()
                .map(|p| PolicyResults {
                    results: engine::validate(&p, &request),
                    policy: p,
                })
                .filter(|pr| !pr.results.is_empty())
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    fn cluster(&self) -> KubeCluster {
        KubeCluster {
            client: self.client.clone(),
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// The policies a resource webhook runs for a request, with the request's namespace
    /// labels and the exceptions in force; None when nothing applies.
    async fn candidates(
        &self,
        req: &Value,
        fail_path: bool,
        wanted: fn(&Policy) -> bool,
    ) -> Option<(Vec<Policy>, (Value, Value), Vec<Exception>)> {
        let s = |p: &str| req.pointer(p).and_then(Value::as_str).unwrap_or("");
        let (kind, namespace) = (s("/kind/kind"), s("/namespace"));
        if filtered(kind, namespace, &self.opts) {
            return None;
        }
        let candidates: Vec<Policy> = self
            .loaded()
            .into_iter()
            .filter(|p| p.fail_closed == fail_path && p.admission && wanted(p))
            .filter(|p| p.namespace.as_deref().is_none_or(|ns| ns == namespace))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let ns = self.namespace(namespace).await;
        let exceptions = self.exceptions.read().expect("exception lock").clone();
        Some((candidates, ns, exceptions))
    }

    /// `/validate/*`: validate rules; a failing Enforce rule (or an erroring one under
    /// failurePolicy Fail) denies with Kyverno's block message; results go to reports.
    pub(super) async fn admit_validate(self: &Arc<Self>, review: &Value, fail_path: bool) -> Value {
        let req = review.get("request").cloned().unwrap_or(json!({}));
        let Some((candidates, (ns_object, ns_labels), exceptions)) =
            self.candidates(&req, fail_path, Policy::validates).await
        else {
            return respond(&req, true, None, &[]);
        };
        let all = self
            .validate_all(candidates, req.clone(), (ns_object, ns_labels), exceptions)
            .await;
        let s = |p: &str| req.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = s("/operation");
        let object = match operation.as_str() {
            "DELETE" => req.get("oldObject").cloned().unwrap_or(Value::Null),
            _ => req.get("object").cloned().unwrap_or(Value::Null),
        };
        // warnings for the rules that ran synchronously (Enforce, or emitWarning)
        let warnings: Vec<String> = all
            .iter()
            .flat_map(|pr| {
                pr.results
                    .iter()
                    .filter(|r| {
                        (r.action == Action::Enforce || pr.policy.emit_warning)
                            && (matches!(r.status, Status::Fail | Status::Error | Status::Warn)
                                || (pr.policy.emit_warning && r.status != Status::Skip))
                    })
                    .map(|r| format!("policy {}.{}: {}", pr.policy.name, r.rule, r.message))
            })
            .collect();
        let blocking = |r: &RuleResult, p: &Policy| {
            r.action == Action::Enforce
                && (r.status == Status::Fail || (r.status == Status::Error && p.fail_closed))
        };
        if all
            .iter()
            .any(|pr| pr.results.iter().any(|r| blocking(r, &pr.policy)))
        {
            let mut failures: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for pr in &all {
                for r in pr.results.iter().filter(|r| r.action == Action::Enforce) {
                    if r.status != Status::Pass && r.status != Status::Skip {
                        failures
                            .entry(pr.policy.name.clone())
                            .or_default()
                            .insert(r.rule.clone(), r.message.clone());
                    }
                }
            }
            let meta = |f: &str| {
                object
                    .pointer(&format!("/metadata/{f}"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            let resource = format!("{}/{}/{}", s("/kind/kind"), meta("namespace"), meta("name"));
            let message = format!(
                "\n\nresource {resource} was blocked due to the following policies \n\n{}",
                yaml::encode_failures(&failures)
            );
            return respond(&req, false, Some(message), &warnings);
        }
        self.report_admission(&req, all);
        respond(&req, true, None, &warnings)
    }

    /// `/mutate/*`: each policy's mutate rules on the output of the policy before; a
    /// policy whose rule errs denies the request under failurePolicy Fail, and otherwise
    /// contributes no patch. The answer is a JSON patch from the object as sent to the
    /// object as mutated.
    pub(super) async fn admit_mutate(self: &Arc<Self>, review: &Value, fail_path: bool) -> Value {
        let req = review.get("request").cloned().unwrap_or(json!({}));
        let Some((candidates, (ns_object, ns_labels), exceptions)) =
            self.candidates(&req, fail_path, Policy::mutates).await
        else {
            return respond(&req, true, None, &[]);
        };
        let cluster = self.cluster();
        let admission = req.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut current = admission.get("object").cloned().unwrap_or(Value::Null);
            let mut all = Vec::new();
            for p in candidates {
                let mut step = admission.clone();
                step["object"] = current.clone();
                let request = Request {
                    admission: &step,
                    namespace_labels: &ns_labels,
                    namespace_object: Some(&ns_object),
                    cluster: &cluster,
                    exceptions: &exceptions,
                };
                let (results, patched) = hubspoke_kyverno::mutate::run(&p, &request);
                let failed: Vec<String> = results
                    .iter()
                    .filter(|r| matches!(r.status, Status::Fail | Status::Error))
                    .map(|r| format!("{}: {}", r.rule, r.message))
                    .collect();
                if !failed.is_empty() && p.fail_closed {
                    return Err(format!(
                        "mutation policy {} error: failed to apply policy {} rules [{}]",
                        p.name,
                        p.name,
                        failed.join(" ")
                    ));
                }
                if failed.is_empty() {
                    current = patched;
                }
                if !results.is_empty() {
                    all.push(PolicyResults { policy: p, results });
                }
            }
            Ok((current, all))
        })
        .await
        .unwrap_or_else(|e| Err(format!("mutation failed: {e}")));
        let (mutated, all) = match outcome {
            Ok(o) => o,
            Err(message) => return respond(&req, false, Some(message), &[]),
        };
        let warnings: Vec<String> = all
            .iter()
            .flat_map(|pr| {
                pr.results
                    .iter()
                    .filter(|r| {
                        matches!(r.status, Status::Fail | Status::Error | Status::Warn)
                            || (pr.policy.emit_warning && r.status != Status::Skip)
                    })
                    .map(|r| format!("policy {}.{}: {}", pr.policy.name, r.rule, r.message))
            })
            .collect();
        let original = req.get("object").cloned().unwrap_or(Value::Null);
        let mut response = respond(&req, true, None, &warnings);
        if mutated != original {
            use base64::Engine as _;
            let patch = json_patch::diff(&original, &mutated);
            let bytes = serde_json::to_vec(&patch).unwrap_or_default();
            response["response"]["patchType"] = json!("JSONPatch");
            response["response"]["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        self.report_admission(&req, all);
        response
    }
}

//! Admission webhooks through the real protocol: AdmissionReview v1 POSTed over HTTPS to
//! the webhooks of MutatingWebhookConfigurations and ValidatingWebhookConfigurations.
//!
//! A webhook's `clientConfig.url` is called as is. A `clientConfig.service` is reached the
//! way kube-apiserver routes to endpoints: through the Service's EndpointSlices (or
//! Endpoints), taking the first ready address and the target port of the named service port;
//! TLS is verified against `caBundle` for the name `<service>.<namespace>.svc`. So a local
//! webhook server is registered with a selector-less Service plus an Endpoints (or
//! EndpointSlice) pointing at 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::ServerName;
use serde_json::{Map, Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::selector::LabelSelector;
use crate::apimachinery::status::{ApiError, ApiResult};
use crate::auth::authn::User;
use crate::state::{State, Target};
use crate::storage::store::object_key;

const MUTATING: &str = "admissionregistration.k8s.io/mutatingwebhookconfigurations";
const VALIDATING: &str = "admissionregistration.k8s.io/validatingwebhookconfigurations";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// One admission decision to make.
pub struct Review<'a> {
    pub target: &'a Target,
    pub operation: Operation,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
    pub user: &'a User,
    pub dry_run: bool,
    pub field_manager: &'a str,
}

fn str_list(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn rule_matches(rule: &Value, r: &Review<'_>, equivalent: bool) -> bool {
    let ops = str_list(rule.get("operations"));
    if !ops.iter().any(|o| *o == "*" || *o == r.operation.as_str()) {
        return false;
    }
    let rt = &r.target.rt;
    if !str_list(rule.get("apiGroups"))
        .iter()
        .any(|g| *g == "*" || *g == rt.group)
    {
        return false;
    }
    // matchPolicy Equivalent: a rule naming another served version of the same resource
    // matches too (the request is converted for the webhook)
    let version_ok = str_list(rule.get("apiVersions")).iter().any(|v| {
        *v == "*"
            || *v == r.target.version
            || (equivalent && rt.versions.iter().any(|sv| sv.served && sv.name == *v))
    });
    if !version_ok {
        return false;
    }
    let sub = r.target.subresource.as_deref().unwrap_or("");
    let resource_ok = str_list(rule.get("resources"))
        .iter()
        .any(|res| match res.split_once('/') {
            None => sub.is_empty() && (*res == "*" || *res == rt.plural),
            Some((main, s)) => (main == "*" || main == rt.plural) && (s == "*" || s == sub),
        });
    if !resource_ok {
        return false;
    }
    match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "Cluster" => !rt.namespaced,
        "Namespaced" => rt.namespaced,
        _ => true,
    }
}

fn selector_matches(sel: Option<&Value>, labels_of: &Value) -> bool {
    match sel {
        None => true,
        Some(s) => LabelSelector::from_label_selector(s)
            .map(|s| s.matches(labels_of))
            .unwrap_or(false),
    }
}

/// Whether a webhook applies to this request.
fn webhook_matches(state: &State, w: &Value, r: &Review<'_>) -> bool {
    let rules = w
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let equivalent = w.get("matchPolicy").and_then(Value::as_str) != Some("Exact");
    if !rules.iter().any(|rule| rule_matches(rule, r, equivalent)) {
        return false;
    }
    let rt = &r.target.rt;
    // namespaceSelector: the namespace's labels (a Namespace's own labels)
    let ns_sel = w.get("namespaceSelector");
    if rt.group.is_empty() && rt.plural == "namespaces" {
        let obj = r.object.or(r.old_object).cloned().unwrap_or(json!({}));
        if !selector_matches(ns_sel, &obj) {
            return false;
        }
    } else if rt.namespaced {
        let ns = r.target.ns();
        let ns_obj = state
            .store
            .get("/namespaces", ns)
            .map(|n| (*n).clone())
            .unwrap_or(json!({}));
        if !selector_matches(ns_sel, &ns_obj) {
            return false;
        }
    }
    let obj_sel = w.get("objectSelector");
    let new_ok = r.object.is_some_and(|o| selector_matches(obj_sel, o));
    let old_ok = r.old_object.is_some_and(|o| selector_matches(obj_sel, o));
    new_ok || old_ok
}

fn review_request(r: &Review<'_>, uid: &str) -> Value {
    let rt = &r.target.rt;
    let kind = json!({"group": rt.group, "version": r.target.version, "kind": rt.kind});
    let resource = json!({"group": rt.group, "version": r.target.version, "resource": rt.plural});
    let mut req = Map::new();
    req.insert("uid".into(), json!(uid));
    req.insert("kind".into(), kind.clone());
    req.insert("resource".into(), resource.clone());
    if let Some(s) = &r.target.subresource {
        req.insert("subResource".into(), json!(s));
        req.insert("requestSubResource".into(), json!(s));
    }
    req.insert("requestKind".into(), kind);
    req.insert("requestResource".into(), resource);
    let name = r
        .target
        .name
        .clone()
        .or_else(|| r.object.map(|o| meta::name(o).to_string()))
        .unwrap_or_default();
    req.insert("name".into(), json!(name));
    if rt.namespaced {
        req.insert("namespace".into(), json!(r.target.ns()));
    }
    req.insert("operation".into(), json!(r.operation.as_str()));
    let mut user = Map::new();
    user.insert("username".into(), json!(r.user.name));
    if !r.user.uid.is_empty() {
        user.insert("uid".into(), json!(r.user.uid));
    }
    user.insert("groups".into(), json!(r.user.groups));
    if !r.user.extra.is_empty() {
        user.insert("extra".into(), json!(r.user.extra));
    }
    req.insert("userInfo".into(), Value::Object(user));
    req.insert("object".into(), r.object.cloned().unwrap_or(Value::Null));
    req.insert("oldObject".into(), r.old_object.cloned().unwrap_or(Value::Null));
    req.insert("dryRun".into(), json!(r.dry_run));
    let options = match r.operation {
        Operation::Create => {
            json!({"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": r.field_manager})
        }
        Operation::Update => {
            json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": r.field_manager})
        }
        Operation::Delete => json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}),
    };
    req.insert("options".into(), options);
    json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": req})
}

/// Where to send a webhook's review: (socket address, TLS server name, URL for messages, path).
fn resolve(state: &State, w: &Value) -> Result<(SocketAddr, String, String, String), String> {
    let cc = w.get("clientConfig").cloned().unwrap_or(json!({}));
    if let Some(url) = cc.get("url").and_then(Value::as_str) {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("webhook URL {url:?} is not https"))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || p.parse::<u16>().is_ok() => {
                (h, p.parse::<u16>().map_err(|e| e.to_string())?)
            }
            _ => (hostport, 443),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: std::net::IpAddr = match host {
            "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
            h => h
                .parse()
                .map_err(|_| format!("dial tcp: lookup {h}: no such host"))?,
        };
        return Ok((
            SocketAddr::new(ip, port),
            host.to_string(),
            url.to_string(),
            path.to_string(),
        ));
    }
    let svc = cc
        .get("service")
        .ok_or("clientConfig has neither url nor service")?;
    let ns = svc.get("namespace").and_then(Value::as_str).unwrap_or("default");
    let name = svc.get("name").and_then(Value::as_str).unwrap_or("");
    let port = svc.get("port").and_then(Value::as_i64).unwrap_or(443);
    let path = svc.get("path").and_then(Value::as_str).unwrap_or("/").to_string();
    let host = format!("{name}.{ns}.svc");
    let url = format!("https://{host}:{port}{path}");
    let service = state
        .store
        .get("/services", &object_key(ns, name))
        .ok_or_else(|| format!("service \"{name}\" not found"))?;
    let sport = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .and_then(|ps| {
            ps.iter()
                .find(|p| p.get("port").and_then(Value::as_i64) == Some(port))
                .cloned()
        })
        .ok_or_else(|| format!("service \"{name}\" has no port {port}"))?;
    let target = sport.get("targetPort").cloned().unwrap_or(json!(port));
    let port_name = sport.get("name").and_then(Value::as_str).unwrap_or("");
    // EndpointSlices first, then Endpoints
    let (_, slices) = state.store.snapshot("discovery.k8s.io/endpointslices");
    let mut candidates: Vec<(String, i64)> = Vec::new();
    for s in slices.values() {
        if meta::namespace(s) != ns || meta::label(s, "kubernetes.io/service-name") != Some(name) {
            continue;
        }
        // a slice's ports carry the Service port's name and the resolved target port (a
        // hand-written slice may also name it after a named target port)
        let p = s.get("ports").and_then(Value::as_array).and_then(|ps| {
            ps.iter()
                .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)
                .or_else(|| match &target {
                    Value::String(tn) => ps
                        .iter()
                        .find(|p| p.get("name").and_then(Value::as_str) == Some(tn)),
                    _ => None,
                })
                .and_then(|p| p.get("port").and_then(Value::as_i64))
        });
        for e in s.get("endpoints").and_then(Value::as_array).into_iter().flatten() {
            if e.pointer("/conditions/ready").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            if let (Some(addr), Some(p)) = (e.pointer("/addresses/0").and_then(Value::as_str), p) {
                candidates.push((addr.to_string(), p));
            }
        }
    }
    if candidates.is_empty()
        && let Some(ep) = state.store.get("/endpoints", &object_key(ns, name))
    {
        for subset in ep.get("subsets").and_then(Value::as_array).into_iter().flatten() {
            let p = subset.get("ports").and_then(Value::as_array).and_then(|ps| {
                ps.iter()
                    .find(|p| {
                        ps.len() == 1 || p.get("name").and_then(Value::as_str).unwrap_or("") == port_name
                    })
                    .and_then(|p| p.get("port").and_then(Value::as_i64))
            });
            for a in subset
                .get("addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(ip), Some(p)) = (a.get("ip").and_then(Value::as_str), p) {
                    candidates.push((ip.to_string(), p));
                }
            }
        }
    }
    let (ip, p) = candidates
        .into_iter()
        .next()
        .ok_or_else(|| format!("no endpoints available for service \"{name}\""))?;
    let addr: SocketAddr = format!("{ip}:{p}")
        .parse()
        .map_err(|e| format!("endpoint {ip}:{p}: {e}"))?;
    Ok((addr, host, url, path))
}

async fn call(state: &State, w: &Value, body: Vec<u8>, timeout: Duration) -> Result<Value, String> {
    let (addr, host, url, path) = resolve(state, w)?;
    let ca = w
        .pointer("/clientConfig/caBundle")
        .and_then(Value::as_str)
        .unwrap_or("");
    let cfg = if ca.is_empty() {
        return Err(format!(
            "Post \"{url}?timeout={}s\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
            timeout.as_secs()
        ));
    } else {
        state.webhook_clients.config(ca)?
    };
    let post = format!("Post \"{url}?timeout={}s\"", timeout.as_secs());
    let key = (addr, host.clone(), ca.to_string());
    let fut = async {
        let mut sender = match state.webhook_connections.take(&key) {
            Some(s) => s,
            None => {
                let tcp = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("{post}: dial tcp {addr}: {e}"))?;
                let server_name = ServerName::try_from(host.clone()).map_err(|e| format!("{post}: {e}"))?;
                let tls = tokio_rustls::TlsConnector::from(cfg)
                    .connect(server_name, tcp)
                    .await
                    .map_err(|e| format!("{post}: tls: {e}"))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("{post}: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                sender
            }
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let req = http::Request::post(format!("{path}{sep}timeout={}s", timeout.as_secs()))
            .header(http::header::HOST, host.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, */*")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("{post}: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{post}: {e}"))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{post}: {e}"))?
            .to_bytes();
        state.webhook_connections.give_back(key.clone(), sender);
        if !status.is_success() {
            return Err(format!(
                "received invalid webhook response: unexpected status code {}",
                status.as_u16()
            ));
        }
        serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("received invalid webhook response: {e}"))
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("{post}: context deadline exceeded")),
    }
}

/// A denial, shaped as webhookerrors.ToStatusErr shapes it.
fn denied(name: &str, status: Option<&Value>) -> ApiError {
    let st = status.cloned().unwrap_or(json!({}));
    let denied_by = format!("admission webhook \"{name}\" denied the request");
    let msg = st.get("message").and_then(Value::as_str).unwrap_or("");
    let reason = st.get("reason").and_then(Value::as_str).unwrap_or("");
    let message = if !msg.is_empty() {
        format!("{denied_by}: {msg}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    };
    let code = st
        .get("code")
        .and_then(Value::as_u64)
        .filter(|c| *c >= 400)
        .unwrap_or(400) as u16;
    let reason: &'static str = match reason {
        "" => "",
        "Forbidden" => "Forbidden",
        "Invalid" => "Invalid",
        "BadRequest" => "BadRequest",
        "Conflict" => "Conflict",
        "NotFound" => "NotFound",
        "AlreadyExists" => "AlreadyExists",
        "Unauthorized" => "Unauthorized",
        _ => "BadRequest",
    };
    ApiError::new(code, reason, message, st.get("details").cloned())
}

fn failed_calling(name: &str, err: &str) -> ApiError {
    ApiError::internal(format!(
        "failed calling webhook \"{name}\": failed to call webhook: {err}"
    ))
}

/// The webhooks of one kind, in the order kube-apiserver calls them (configurations by name).
fn webhooks(state: &State, storage: &str) -> Vec<Value> {
    let (_, configs) = state.store.snapshot(storage);
    configs
        .values()
        .flat_map(|c| {
            c.get("webhooks")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// Whether any webhook is configured at all (so requests without can skip admission).
pub fn any_configured(state: &State) -> bool {
    !state.store.snapshot(MUTATING).1.is_empty() || !state.store.snapshot(VALIDATING).1.is_empty()
}

/// Calls one webhook; returns the response, or None when it failed and may be ignored.
async fn review_with(
    state: &State,
    w: &Value,
    r: &Review<'_>,
    warnings: &mut Vec<String>,
) -> ApiResult<Option<Value>> {
    let name = w.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    let versions = str_list(w.get("admissionReviewVersions"));
    if !versions.contains(&"v1") {
        return Err(failed_calling(
            &name,
            "webhook does not accept v1 AdmissionReview",
        ));
    }
    if r.dry_run
        && !matches!(
            w.get("sideEffects").and_then(Value::as_str),
            Some("None" | "NoneOnDryRun")
        )
    {
        return Err(ApiError::bad_request(format!(
            "admission webhook \"{name}\" does not support dry run"
        )));
    }
    let uid = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_vec(&review_request(r, &uid)).unwrap_or_default();
    let timeout = Duration::from_secs(
        w.get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(10)
            .clamp(1, 30),
    );
    let fail = w.get("failurePolicy").and_then(Value::as_str) != Some("Ignore");
    let resp = match call(state, w, body, timeout).await {
        Ok(v) => v,
        Err(e) if fail => return Err(failed_calling(&name, &e)),
        Err(e) => {
            tracing::warn!(cluster = %state.name, webhook = %name, error = %e, "failed calling webhook; failurePolicy Ignore admits");
            return Ok(None);
        }
    };
    let Some(response) = resp.get("response") else {
        let e = "received invalid webhook response: response is nil";
        return if fail {
            Err(failed_calling(&name, e))
        } else {
            Ok(None)
        };
    };
    if response.get("uid").and_then(Value::as_str) != Some(uid.as_str()) {
        let e = format!(
            "expected response.uid={uid:?}, got {:?}",
            response.get("uid").and_then(Value::as_str).unwrap_or("")
        );
        return if fail {
            Err(failed_calling(&name, &e))
        } else {
            Ok(None)
        };
    }
    warnings.extend(str_list(response.get("warnings")).into_iter().map(str::to_string));
    if response.get("allowed").and_then(Value::as_bool) != Some(true) {
        return Err(denied(&name, response.get("status")));
    }
    Ok(Some(response.clone()))
}

/// Runs mutating webhooks; returns the object they leave (None: unchanged).
pub async fn mutate(state: &State, r: &Review<'_>, warnings: &mut Vec<String>) -> ApiResult<Option<Value>> {
    let Some(mut obj) = r.object.cloned() else {
        return Ok(None);
    };
    let mut changed = false;
    for w in webhooks(state, MUTATING) {
        let current = Review {
            object: Some(&obj),
            ..*r
        };
        if !webhook_matches(state, &w, &current) {
            continue;
        }
        let Some(response) = review_with(state, &w, &current, warnings).await? else {
            continue;
        };
        let Some(patch) = response.get("patch").and_then(Value::as_str) else {
            continue;
        };
        let name = w.get("name").and_then(Value::as_str).unwrap_or("");
        if response.get("patchType").and_then(Value::as_str) != Some("JSONPatch") {
            return Err(failed_calling(
                name,
                "received invalid webhook response: unsupported patch type",
            ));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .map_err(|e| failed_calling(name, &format!("received invalid webhook response: {e}")))?;
        let ops: json_patch::Patch = serde_json::from_slice(&raw)
            .map_err(|e| failed_calling(name, &format!("received invalid webhook response: {e}")))?;
        json_patch::patch(&mut obj, &ops).map_err(|e| ApiError::internal(format!("JSON Patch: {e}")))?;
        changed = true;
    }
    Ok(changed.then_some(obj))
}

/// Runs validating webhooks.
pub async fn validate(state: &State, r: &Review<'_>, warnings: &mut Vec<String>) -> ApiResult<()> {
    for w in webhooks(state, VALIDATING) {
        if webhook_matches(state, &w, r) {
            review_with(state, &w, r, warnings).await?;
        }
    }
    Ok(())
}

//! Diagnostics bundles: when a check fails, what a platform engineer needs to see why,
//! gathered within a time budget (it ends before nextest's terminate timeout) and written to
//! `target/hubspoke/artifacts/<run>/<suite>/<check>/` with an index:
//!
//! - `failure.txt`: the check's message;
//! - `hub/applications.yaml`, `hub/applicationsets.yaml`, `hub/appprojects.yaml`: Argo CD's
//!   objects;
//! - `hub/cluster-secrets.yaml`: the cluster Secrets with every credential redacted;
//! - per cluster: `events.yaml`, `deployments.yaml`, `pods.yaml` (status only), `kyverno.yaml`
//!   (policies and their reports, where Kyverno is installed) and `logs/` of the pods in the
//!   controllers' namespaces (argocd on the hub, kyverno on spokes);
//! - `index.json` and `index.md`: every file with what it holds, and what was not gathered
//!   and why (an error, or the budget spent).
//!
//! Every byte written goes through a [`Redactor`] that knows the environment's tokens and
//! blanks anything shaped like a bearer token, so no credential reaches a bundle.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, Secret};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, LogParams};
use serde::Serialize;
use serde_json::{Value, json};

use crate::argocd::Tracking;
use crate::bootstrap::ARGOCD_NAMESPACE;
use crate::environment::{Cluster, Environment, Role};

/// What replaces a credential.
pub const REDACTED: &str = "<redacted>";

/// Where artifacts go: `$HUBSPOKE_ARTIFACTS_DIR`, else `artifacts/` under the state root
/// (`target/hubspoke/artifacts`).
pub fn artifacts_root() -> PathBuf {
    match std::env::var_os("HUBSPOKE_ARTIFACTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => crate::environment::state_root().join("artifacts"),
    }
}

/// A run's name: nextest's run id when under nextest (all tests of one run share it), else
/// the UTC time and this process's id.
pub fn run_id() -> String {
    if let Ok(id) = std::env::var("NEXTEST_RUN_ID")
        && !id.is_empty()
    {
        return id;
    }
    format!(
        "{}-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
        std::process::id()
    )
}

/// Blanks credentials: the environment's known secrets wherever they appear, and anything
/// shaped like a service account token (a JWT), an EKS token or a bearer header.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    known: BTreeSet<String>,
}

impl Redactor {
    /// Remembers a secret value (short values are ignored: they would blank ordinary text).
    pub fn add(&mut self, secret: &str) {
        let s = secret.trim();
        if s.len() >= 8 {
            self.known.insert(s.to_string());
        }
    }

    /// The tokens in every cluster's kubeconfig (read from disk: no request).
    pub fn from_kubeconfigs(env: &Environment) -> Redactor {
        let mut r = Redactor::default();
        for c in env.clusters() {
            if let Ok(text) = std::fs::read_to_string(&c.kubeconfig)
                && let Ok(doc) = crate::yaml::parse(&text)
            {
                collect_credentials(&doc.to_json(), &mut r);
            }
        }
        r
    }

    /// Adds the bearer tokens of the hub's cluster Secrets.
    pub async fn add_cluster_secrets(&mut self, env: &Environment) -> Result<(), String> {
        let secrets: Api<Secret> = Api::namespaced(env.hub.client.clone(), ARGOCD_NAMESPACE);
        let lp = ListParams::default().labels("argocd.argoproj.io/secret-type=cluster");
        let list = secrets
            .list(&lp)
            .await
            .map_err(|e| format!("listing cluster Secrets: {e}"))?;
        for s in list.items {
            for v in s.data.unwrap_or_default().values() {
                let text = String::from_utf8_lossy(&v.0).to_string();
                if let Ok(config) = serde_json::from_str::<Value>(&text) {
                    collect_credentials(&config, self);
                }
            }
        }
        Ok(())
    }

    /// `text` with every credential replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        // longest first, so a secret containing another is blanked whole
        let mut known: Vec<&String> = self.known.iter().collect();
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for k in known {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), REDACTED);
            }
        }
        redact_shaped(&out)
    }
}

/// Values under credential-named keys (token, bearerToken, password, keyData,
/// client-key-data, ...) anywhere in a JSON tree.
fn collect_credentials(v: &Value, r: &mut Redactor) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if is_credential_key(k) {
                    if let Some(s) = v.as_str() {
                        r.add(s);
                    }
                } else {
                    collect_credentials(v, r);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_credentials(v, r)),
        _ => {}
    }
}

fn is_credential_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "token",
        "bearertoken",
        "password",
        "keydata",
        "clientkeydata",
        "secretaccesskey",
        "sessiontoken",
    ]
    .contains(&k.as_str())
}

fn is_b64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Blanks JWTs (`eyJ<b64>.<b64>.<b64>`), EKS tokens (`k8s-aws-v1.<b64>`) and whatever
/// follows `Bearer `.
fn redact_shaped(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let starts = |i: usize, p: &str| {
        let p: Vec<char> = p.chars().collect();
        chars.len() >= i + p.len() && chars[i..i + p.len()] == p[..]
    };
    while i < chars.len() {
        let boundary = i == 0 || !is_b64url(chars[i - 1]);
        if boundary && starts(i, "eyJ") {
            // three dot-separated base64url parts
            let mut j = i;
            let mut parts = 0;
            loop {
                let start = j;
                while j < chars.len() && is_b64url(chars[j]) {
                    j += 1;
                }
                if j == start {
                    break;
                }
                parts += 1;
                if parts < 3 && j < chars.len() && chars[j] == '.' {
                    j += 1;
                } else {
                    break;
                }
            }
            if parts == 3 {
                out.push_str(REDACTED);
                i = j;
                continue;
            }
        }
        for prefix in ["k8s-aws-v1.", "Bearer ", "bearer "] {
            if boundary && starts(i, prefix) {
                let mut j = i + prefix.chars().count();
                let start = j;
                while j < chars.len() && (is_b64url(chars[j]) || chars[j] == '.' || chars[j] == '=') {
                    j += 1;
                }
                if j - start >= 8 {
                    out.push_str(prefix);
                    out.push_str(REDACTED);
                    i = j;
                }
                break;
            }
        }
        if i < chars.len() {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// One file of a bundle.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Entry {
    /// Relative to the bundle's directory.
    pub path: String,
    pub what: String,
    pub bytes: usize,
}

/// What a bundle holds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Index {
    pub check: String,
    pub environment: String,
    pub collected_at: String,
    pub budget_seconds: f64,
    pub elapsed_seconds: f64,
    pub files: Vec<Entry>,
    /// What was not gathered, and why.
    pub skipped: Vec<String>,
}

struct Writer<'a> {
    dir: &'a Path,
    redactor: &'a Redactor,
    index: Index,
    deadline: tokio::time::Instant,
}

impl Writer<'_> {
    fn write(&mut self, path: &str, what: &str, text: &str) {
        let p = self.dir.join(path);
        if let Some(parent) = p.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let text = self.redactor.redact(text);
        match std::fs::write(&p, &text) {
            Ok(()) => self.index.files.push(Entry {
                path: path.to_string(),
                what: what.to_string(),
                bytes: text.len(),
            }),
            Err(e) => self.index.skipped.push(format!("{path}: writing it failed: {e}")),
        }
    }

    /// Runs one gathering step unless the budget is spent; its error or the budget running
    /// out is recorded against `what`.
    async fn gather<T, F>(&mut self, what: &str, step: F) -> Option<T>
    where
        F: Future<Output = Result<T, String>>,
    {
        if tokio::time::Instant::now() >= self.deadline {
            self.index
                .skipped
                .push(format!("{what}: not gathered, the time budget was spent"));
            return None;
        }
        match tokio::time::timeout_at(self.deadline, step).await {
            Ok(Ok(text)) => Some(text),
            Ok(Err(e)) => {
                self.index.skipped.push(format!("{what}: {e}"));
                None
            }
            Err(_) => {
                self.index
                    .skipped
                    .push(format!("{what}: cut short, the time budget was spent"));
                None
            }
        }
    }
}

fn yaml_list(items: Vec<Value>) -> String {
    if items.is_empty() {
        return "# none\n".into();
    }
    items
        .iter()
        .map(|v| {
            // one line per value: greppable, and a redacted secret never split across lines
            let mut o = serde_saphyr::SerializerOptions::default();
            o.prefer_block_scalars = false;
            serde_saphyr::to_string_with_options(v, o).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn strip(mut v: Value) -> Value {
    if let Some(m) = v.pointer_mut("/metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    v
}

fn argo(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

async fn list_dynamic(
    client: &kube::Client,
    ar: &ApiResource,
    ns: Option<&str>,
) -> Result<Vec<Value>, String> {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    match api.list(&ListParams::default()).await {
        Ok(l) => Ok(l
            .items
            .into_iter()
            .map(|o| strip(serde_json::to_value(o).unwrap_or_default()))
            .collect()),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(format!("{} is not served here", ar.kind)),
        Err(e) => Err(format!("listing {}: {e}", ar.plural)),
    }
}

/// A cluster Secret with its credentials blanked: `config` decoded and its credential
/// fields replaced, every other data key shown as text.
fn redacted_cluster_secret(s: &Secret) -> Value {
    let mut data = serde_json::Map::new();
    for (k, v) in s.data.clone().unwrap_or_default() {
        let text = String::from_utf8_lossy(&v.0).to_string();
        let shown = match serde_json::from_str::<Value>(&text) {
            Ok(mut config) if k == "config" => {
                blank_credentials(&mut config);
                config
            }
            _ => Value::String(text),
        };
        data.insert(k, shown);
    }
    let mut meta = serde_json::to_value(&s.metadata).unwrap_or_default();
    if let Some(m) = meta.as_object_mut() {
        m.remove("managedFields");
    }
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": s.type_, "data (decoded)": data})
}

fn blank_credentials(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_credential_key(k) {
                    *v = Value::String(REDACTED.into());
                } else {
                    blank_credentials(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(blank_credentials),
        _ => {}
    }
}

async fn events(c: &Cluster) -> Result<String, String> {
    let api: Api<Event> = Api::all(c.client.clone());
    let mut list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing events: {e}"))?
        .items;
    let when = |e: &Event| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default()
    };
    list.sort_by_key(when);
    // the latest 300
    let skip = list.len().saturating_sub(300);
    Ok(yaml_list(
        list.iter()
            .skip(skip)
            .map(|e| {
                json!({
                    "when": when(e),
                    "type": e.type_,
                    "reason": e.reason,
                    "object": format!(
                        "{}/{}/{}",
                        e.involved_object.namespace.clone().unwrap_or_default(),
                        e.involved_object.kind.clone().unwrap_or_default(),
                        e.involved_object.name.clone().unwrap_or_default()
                    ),
                    "message": e.message,
                    "count": e.count,
                })
            })
            .collect(),
    ))
}

async fn deployments(c: &Cluster, tracking: &Tracking) -> Result<String, String> {
    let api: Api<Deployment> = Api::all(c.client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing deployments: {e}"))?;
    Ok(yaml_list(
        list.items
            .iter()
            .map(|d| {
                json!({
                    "name": format!("{}/{}", d.metadata.namespace.clone().unwrap_or_default(), d.metadata.name.clone().unwrap_or_default()),
                    "tracked by": tracking.application_of(d),
                    "replicas": d.spec.as_ref().and_then(|s| s.replicas),
                    "images": d.spec.as_ref().map(|s| s.template.spec.as_ref().map(|p| p.containers.iter().map(|c| c.image.clone().unwrap_or_default()).collect::<Vec<_>>()).unwrap_or_default()),
                    "status": d.status,
                })
            })
            .collect(),
    ))
}

async fn pods(c: &Cluster) -> Result<(String, Vec<(String, String, String)>), String> {
    let api: Api<Pod> = Api::all(c.client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing pods: {e}"))?;
    let mut containers = Vec::new();
    let text = yaml_list(
        list.items
            .iter()
            .map(|p| {
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                for ctr in p.spec.iter().flat_map(|s| s.containers.iter()) {
                    containers.push((ns.clone(), name.clone(), ctr.name.clone()));
                }
                json!({
                    "name": format!("{ns}/{name}"),
                    "node": p.spec.as_ref().and_then(|s| s.node_name.clone()),
                    "phase": p.status.as_ref().and_then(|s| s.phase.clone()),
                    "conditions": p.status.as_ref().and_then(|s| s.conditions.clone()),
                    "containerStatuses": p.status.as_ref().and_then(|s| s.container_statuses.clone()),
                })
            })
            .collect(),
    );
    Ok((text, containers))
}

async fn kyverno(c: &Cluster) -> Result<String, String> {
    let kyv = |kind: &str, plural: &str| ApiResource {
        group: "kyverno.io".into(),
        version: "v1".into(),
        api_version: "kyverno.io/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let wg = |kind: &str, plural: &str| ApiResource {
        group: "wgpolicyk8s.io".into(),
        version: "v1alpha2".into(),
        api_version: "wgpolicyk8s.io/v1alpha2".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let mut out = Vec::new();
    let mut served = false;
    for ar in [
        kyv("ClusterPolicy", "clusterpolicies"),
        kyv("Policy", "policies"),
        wg("ClusterPolicyReport", "clusterpolicyreports"),
        wg("PolicyReport", "policyreports"),
    ] {
        match list_dynamic(&c.client, &ar, None).await {
            Ok(items) => {
                served = true;
                out.extend(items);
            }
            Err(e) if e.ends_with("is not served here") => {}
            Err(e) => return Err(e),
        }
    }
    if !served {
        return Err("Kyverno is not installed here".into());
    }
    Ok(yaml_list(out))
}

async fn log(c: &Cluster, ns: &str, pod: &str, container: &str) -> Result<String, String> {
    let api: Api<Pod> = Api::namespaced(c.client.clone(), ns);
    api.logs(
        pod,
        &LogParams {
            container: Some(container.to_string()),
            tail_lines: Some(500),
            ..LogParams::default()
        },
    )
    .await
    .map_err(|e| format!("reading the log: {e}"))
}

/// Collects a bundle for `check` (`suite/name`), failed with `failure`, into `dir`.
pub async fn collect(env: &Environment, check: &str, failure: &str, dir: &Path, budget: Duration) -> Index {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + budget;
    // the tokens to blank, learnt within the budget too: a hub that does not answer must
    // not hold the bundle up (what it would have said cannot be gathered either, and
    // token-shaped text is blanked regardless)
    let mut redactor = Redactor::from_kubeconfigs(env);
    if let Some(creds) = crate::repository::Credentials::from_env() {
        redactor.add(creds.token());
    }
    let learnt = match tokio::time::timeout_at(deadline, redactor.add_cluster_secrets(env)).await {
        Ok(r) => r,
        Err(_) => Err("the time budget was spent".into()),
    };
    let _ = std::fs::create_dir_all(dir);
    let mut w = Writer {
        dir,
        redactor: &redactor,
        index: Index {
            check: check.to_string(),
            environment: env.provider.as_str().to_string(),
            collected_at: jiff::Timestamp::now().to_string(),
            budget_seconds: budget.as_secs_f64(),
            ..Index::default()
        },
        deadline,
    };
    if let Err(e) = learnt {
        w.index.skipped.push(format!(
            "the cluster Secrets' tokens (to blank them by value): {e}; token-shaped text is blanked all the same"
        ));
    }
    w.write(
        "failure.txt",
        "the check's failure message",
        &format!("{check}\n\n{failure}\n"),
    );

    let hub = env.hub.client.clone();
    for (kind, plural, file) in [
        ("Application", "applications", "hub/applications.yaml"),
        ("ApplicationSet", "applicationsets", "hub/applicationsets.yaml"),
        ("AppProject", "appprojects", "hub/appprojects.yaml"),
    ] {
        let ar = argo(kind, plural);
        if let Some(text) = w
            .gather(file, async {
                list_dynamic(&hub, &ar, Some(ARGOCD_NAMESPACE))
                    .await
                    .map(yaml_list)
            })
            .await
        {
            w.write(file, &format!("Argo CD {kind}s on the hub"), &text);
        }
    }
    let secrets: Api<Secret> = Api::namespaced(hub.clone(), ARGOCD_NAMESPACE);
    if let Some(text) = w
        .gather("hub/cluster-secrets.yaml", async {
            let lp = ListParams::default().labels("argocd.argoproj.io/secret-type=cluster");
            let list = secrets
                .list(&lp)
                .await
                .map_err(|e| format!("listing cluster Secrets: {e}"))?;
            Ok(yaml_list(
                list.items.iter().map(redacted_cluster_secret).collect(),
            ))
        })
        .await
    {
        w.write(
            "hub/cluster-secrets.yaml",
            "Argo CD's cluster Secrets, credentials redacted",
            &text,
        );
    }

    // "tracked by" as the hub's Argo CD tracks (Argo CD's defaults when its settings cannot
    // be read)
    let tracking = w
        .gather("hub/argocd-cm", Tracking::read(&hub, ARGOCD_NAMESPACE))
        .await
        .unwrap_or_else(Tracking::argo_cd_default);
    for c in env.clusters() {
        let name = &c.name;
        if let Some(t) = w.gather(&format!("{name}/events.yaml"), events(c)).await {
            w.write(
                &format!("{name}/events.yaml"),
                &format!("the latest events on {name}"),
                &t,
            );
        }
        if let Some(t) = w
            .gather(&format!("{name}/deployments.yaml"), deployments(c, &tracking))
            .await
        {
            w.write(
                &format!("{name}/deployments.yaml"),
                &format!("Deployments on {name}: replicas, images, status"),
                &t,
            );
        }
        let mut containers = Vec::new();
        if let Some((t, cs)) = w.gather(&format!("{name}/pods.yaml"), pods(c)).await {
            w.write(
                &format!("{name}/pods.yaml"),
                &format!("Pods on {name}: phase, conditions, containers"),
                &t,
            );
            containers = cs;
        }
        if (c.role == Role::Spoke || c.definition.enables("kyverno"))
            && let Some(t) = w.gather(&format!("{name}/kyverno.yaml"), kyverno(c)).await
        {
            w.write(
                &format!("{name}/kyverno.yaml"),
                &format!("Kyverno policies and policy reports on {name}"),
                &t,
            );
        }
        let controller_ns = if c.role == Role::Hub {
            ARGOCD_NAMESPACE
        } else {
            "kyverno"
        };
        for (ns, pod, container) in containers.iter().filter(|(ns, _, _)| ns == controller_ns) {
            let file = format!("{name}/logs/{ns}_{pod}_{container}.log");
            if let Some(t) = w.gather(&file, log(c, ns, pod, container)).await {
                w.write(
                    &file,
                    &format!("the last 500 lines of {ns}/{pod} {container}"),
                    &t,
                );
            }
        }
    }

    w.index.elapsed_seconds = started.elapsed().as_secs_f64();
    let index = w.index.clone();
    let json = serde_json::to_string_pretty(&index).unwrap_or_default();
    w.write("index.json", "this index, for tools", &json);
    let mut md = format!(
        "# Diagnostics for {check}\n\nEnvironment: {} · collected {} in {:.1}s (budget {:.0}s)\n\n| file | what | bytes |\n|---|---|---|\n",
        index.environment, index.collected_at, index.elapsed_seconds, index.budget_seconds
    );
    for f in &index.files {
        md.push_str(&format!("| `{}` | {} | {} |\n", f.path, f.what, f.bytes));
    }
    if !index.skipped.is_empty() {
        md.push_str("\nNot gathered:\n\n");
        for s in &index.skipped {
            md.push_str(&format!("- {s}\n"));
        }
    }
    w.write("index.md", "this index", &md);
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_shaped_credentials_are_blanked() {
        let mut r = Redactor::default();
        r.add("s3cr3t-planted-value");
        r.add("short");
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz";
        let text = format!(
            "token s3cr3t-planted-value; jwt={jwt} end; Authorization: Bearer abcdefgh12345678; eks k8s-aws-v1.aHR0cHM6Ly9zdHM; short stays; eyJnot.a-token"
        );
        assert_eq!(
            r.redact(&text),
            "token <redacted>; jwt=<redacted> end; Authorization: Bearer <redacted>; eks k8s-aws-v1.<redacted>; short stays; eyJnot.a-token"
        );
    }

    #[test]
    fn a_cluster_secret_keeps_its_shape_without_its_credentials() {
        let mut s = Secret::default();
        s.metadata.name = Some("cluster-spoke-a".into());
        s.data = Some(
            [
                ("name".to_string(), k8s_openapi::ByteString(b"spoke-a".to_vec())),
                (
                    "config".to_string(),
                    k8s_openapi::ByteString(
                        br#"{"bearerToken":"abc.def.ghi-planted","tlsClientConfig":{"caData":"Q0E=","keyData":"S0VZ"}}"#.to_vec(),
                    ),
                ),
            ]
            .into(),
        );
        let v = redacted_cluster_secret(&s);
        assert_eq!(v["data (decoded)"]["name"], "spoke-a");
        assert_eq!(v["data (decoded)"]["config"]["bearerToken"], REDACTED);
        assert_eq!(
            v["data (decoded)"]["config"]["tlsClientConfig"]["keyData"],
            REDACTED
        );
        assert_eq!(v["data (decoded)"]["config"]["tlsClientConfig"]["caData"], "Q0E=");
    }
}

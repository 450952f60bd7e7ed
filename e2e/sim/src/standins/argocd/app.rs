//! The application controller: compares each Application's sources with its destination
//! and writes the status Argo CD writes; runs sync operations (manual through `operation`,
//! automated through the sync policy, which sets `operation` as Argo CD does) with server-side
//! apply as `argocd-controller`; prunes; removes resources on deletion behind
//! `resources-finalizer.argocd.argoproj.io`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope};
use serde_json::{Value, json};

use super::Shared;
use super::clusters::Cluster;
use super::health::{self, Health};
use super::ignore::Normalizer;
use super::kubectl;
use super::project::{self, Project};

pub const FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
pub const FIELD_MANAGER: &str = "argocd-controller";
const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

use super::settings::Settings;
use super::tracking::Settings as TrackingSettings;
pub use super::tracking::Tracking;

fn now() -> String {
    crate::meta::now_rfc3339()
}

/// A resource an Application manages (from its manifests, or found live with its tracking).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    group: String,
    kind: String,
    namespace: String,
    name: String,
}

impl Key {
    fn of(obj: &Value) -> Key {
        let api_version = obj["apiVersion"].as_str().unwrap_or("");
        Key {
            group: api_version
                .rsplit_once('/')
                .map(|(g, _)| g.to_string())
                .unwrap_or_default(),
            kind: obj["kind"].as_str().unwrap_or("").to_string(),
            namespace: obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            name: obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }
    }
    /// `deployment.apps/web`, as kubectl names objects in its output.
    fn kubectl_name(&self) -> String {
        let kind = self.kind.to_lowercase();
        if self.group.is_empty() {
            format!("{kind}/{}", self.name)
        } else {
            format!("{kind}.{}/{}", self.group, self.name)
        }
    }
}

/// One desired object, placed (namespace set, tracking added) and typed for its cluster.
struct Target {
    key: Key,
    version: String,
    object: Value,
    ar: ApiResource,
    namespaced: bool,
    wave: i64,
    /// The project permits its group and kind.
    gk_permitted: bool,
    /// Live and equal to it once both are normalized.
    in_sync: bool,
    /// Its kind was found by discovery (else the ApiResource is a guess).
    known: bool,
}

/// What comparing an Application found.
struct Comparison {
    revisions: Vec<String>,
    targets: Vec<Target>,
    /// Hook resources (`argocd.argoproj.io/hook`): run during syncs, not compared.
    hooks: Vec<(String, Target)>,
    /// Live objects by key (None: missing).
    live: BTreeMap<Key, Option<Value>>,
    /// Live objects tracked by this app that no manifest declares any more.
    extra: Vec<(Key, String, Value, ApiResource)>,
    /// SharedResourceWarning and ComparisonError conditions of the comparison.
    conditions: Vec<Value>,
    /// The diff could not be computed (every resource's status is Unknown).
    failed: bool,
    normalizer: Normalizer,
    /// The health checks of the settings the comparison ran with (syncs use them too).
    checks: health::Checks,
}

fn kind_order(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "Namespace",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodSecurityPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "SecretList",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleList",
        "ClusterRoleBinding",
        "ClusterRoleBindingList",
        "Role",
        "RoleList",
        "RoleBinding",
        "RoleBindingList",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicationController",
        "ReplicaSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "Job",
        "CronJob",
        "IngressClass",
        "Ingress",
        "APIService",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

fn sources(app: &Value) -> Vec<Value> {
    match app.pointer("/spec/sources").and_then(Value::as_array) {
        Some(s) if !s.is_empty() => s.clone(),
        _ => app.pointer("/spec/source").cloned().into_iter().collect(),
    }
}

/// Argo CD's `GetRefSources`: `$<ref>` → the source, for multi-source Applications; ref
/// names checked first.
fn ref_sources(srcs: &[Value]) -> Result<BTreeMap<String, super::reposerver::RefTarget>, String> {
    let mut out = BTreeMap::new();
    if srcs.len() <= 1 {
        return Ok(out);
    }
    let str_of = |s: &Value, k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut seen = BTreeSet::new();
    for s in srcs {
        let r = str_of(s, "ref");
        if r.is_empty() {
            continue;
        }
        if !r
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "failed to get ref sources: sources.ref {r} cannot contain any special characters except '_' and '-'"
            ));
        }
        if !seen.insert(r.clone()) {
            return Err(
                "failed to get ref sources: invalid sources: multiple sources had the same `ref` key".into(),
            );
        }
    }
    for s in srcs {
        let r = str_of(s, "ref");
        if r.is_empty() {
            continue;
        }
        out.insert(
            format!("${r}"),
            super::reposerver::RefTarget {
                repo_url: str_of(s, "repoURL"),
                target_revision: str_of(s, "targetRevision"),
                chart: str_of(s, "chart"),
            },
        );
    }
    Ok(out)
}

fn multi_source(app: &Value) -> bool {
    app.pointer("/spec/sources")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty())
}

/// The strings of the array at `pointer` (none when it is absent).
fn strings_at(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.as_str().map(str::to_string))
        .collect()
}

fn sync_options(app: &Value) -> Vec<String> {
    let mut opts = strings_at(app, "/spec/syncPolicy/syncOptions");
    opts.extend(strings_at(app, "/operation/sync/syncOptions"));
    opts
}

fn has_option(opts: &[String], name: &str) -> bool {
    opts.iter().any(|o| o == &format!("{name}=true"))
}

/// `argocd.argoproj.io/sync-options` (or another CSV annotation): does it list `option`?
fn has_annotation_option(obj: &Value, annotation: &str, option: &str) -> bool {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(annotation))
        .and_then(Value::as_str)
        .is_some_and(|v| v.split(',').any(|o| o.trim() == option))
}

const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

/// IsLiveResourcePermitted: its group and kind, and for a namespaced object its namespace
/// as a destination of the project.
fn live_permitted(project: &Project, cluster: &Cluster, live: &Value) -> bool {
    let key = Key::of(live);
    let namespaced = !key.namespace.is_empty();
    project.is_group_kind_permitted(&key.group, &key.kind, namespaced)
        && (!namespaced || project.is_destination_permitted(&cluster.server, &cluster.name, &key.namespace))
}

fn images_of(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if (k == "containers" || k == "initContainers") && x.is_array() {
                        for c in x.as_array().into_iter().flatten() {
                            if let Some(i) = c.get("image").and_then(Value::as_str) {
                                out.push(i.to_string());
                            }
                        }
                    } else {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(obj, &mut out);
    out
}

impl Shared {
    fn instance_name(&self, app: &Value) -> String {
        let name = app
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = app
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if ns == self.namespace {
            name.to_string()
        } else {
            format!("{ns}_{name}")
        }
    }

    /// The settings in the hub's `argocd-cm` (Argo CD's defaults without one).
    async fn settings(&self) -> Settings {
        let cm: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.hub.clone(), &self.namespace);
        match cm.get_opt("argocd-cm").await {
            Ok(Some(c)) => Settings::from_config_map(c.data.as_ref()),
            _ => Settings::default(),
        }
    }

    /// Renders every source of the Application at its resolved revision, through the repo
    /// server (`GetRefSources` first: the `ref` names are checked before any source is read).
    async fn render(
        &self,
        app: &Value,
        dest: &(Cluster, Client),
    ) -> Result<(Vec<String>, Vec<Value>, Vec<&'static str>), String> {
        let srcs = sources(app);
        let n = srcs.len();
        let multi = multi_source(app);
        let refs = ref_sources(&srcs)?;
        let (kube_version, api_versions) = self.versions_info(dest).await?;
        let settings = self.kustomize_build_options().await;
        // Argo CD asks the repo server for one source after the other and stops at the first
        // error; the sources are independent, so they are generated at once here and the
        // first error in source order is the one reported
        let requests: Vec<_> = srcs
            .iter()
            .map(|src| super::reposerver::Request {
                app_name: self.instance_name(app),
                project: app
                    .pointer("/spec/project")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                    .unwrap_or("default")
                    .to_string(),
                namespace: app
                    .pointer("/spec/destination/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                source: src,
                multi_source: multi,
                refs: &refs,
                kube_version: kube_version.clone(),
                api_versions: api_versions.clone(),
                kustomize_build_options: settings.clone(),
            })
            .collect();
        let generated = futures::future::join_all(requests.iter().map(|r| self.reposerver.generate(r))).await;
        let mut revisions = Vec::new();
        let mut objects = Vec::new();
        let mut types = Vec::new();
        for (i, g) in generated.into_iter().enumerate() {
            let g = g.map_err(|e| format!("failed to generate manifest for source {} of {n}: {e}", i + 1))?;
            revisions.push(g.revision);
            objects.extend(g.objects);
            types.push(g.source_type);
        }
        Ok((revisions, objects, types))
    }

    /// The destination's version and API versions as the controller sends them to the repo
    /// server (`GetVersionsInfo`, `APIResourcesToStrings(..., true)`), kept a few seconds
    /// per cluster as Argo CD keeps its cluster cache.
    async fn versions_info(&self, dest: &(Cluster, Client)) -> Result<(String, Vec<String>), String> {
        let (cluster, client) = dest;
        if let Some((at, v, a)) = self.versions.lock().await.get(&cluster.server)
            && at.elapsed() < Duration::from_secs(5)
        {
            return Ok((v.clone(), a.clone()));
        }
        let fail = |e: kube::Error| {
            format!(
                "failed to get cluster version for cluster {:?}: {e}",
                cluster.server
            )
        };
        let info = client.apiserver_version().await.map_err(fail)?;
        let discovery = kube::discovery::Discovery::new(client.clone())
            .run()
            .await
            .map_err(fail)?;
        let mut set = BTreeSet::new();
        for group in discovery.groups() {
            for (ar, _) in group.recommended_resources() {
                let gv = ar.api_version.clone();
                set.insert(format!("{gv}/{}", ar.kind));
                set.insert(gv);
            }
        }
        let versions: Vec<String> = set.into_iter().collect();
        let kube_version = info.git_version;
        self.versions.lock().await.insert(
            cluster.server.clone(),
            (std::time::Instant::now(), kube_version.clone(), versions.clone()),
        );
        Ok((kube_version, versions))
    }

    /// `kustomize.buildOptions` in `argocd-cm`.
    async fn kustomize_build_options(&self) -> String {
        let cm: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(self.hub.clone(), &self.namespace);
        cm.get_opt("argocd-cm")
            .await
            .ok()
            .flatten()
            .and_then(|c| c.data)
            .and_then(|d| d.get("kustomize.buildOptions").cloned())
            .unwrap_or_default()
    }

    async fn discover(
        &self,
        client: &Client,
        cache: &mut BTreeMap<(String, String), Option<(ApiResource, ApiCapabilities)>>,
        api_version: &str,
        kind: &str,
    ) -> Option<(ApiResource, ApiCapabilities)> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(v) = cache.get(&key) {
            return v.clone();
        }
        let (g, v) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let found = kube::discovery::pinned_kind(client, &GroupVersionKind::gvk(g, v, kind))
            .await
            .ok();
        cache.insert(key, found.clone());
        found
    }

    /// Compares the rendered objects with the destination cluster, as CompareAppState does:
    /// live objects the project does not permit count as missing, both sides are normalized by
    /// the ignoreDifferences before the comparison, and a live object tracked by another
    /// Application is a SharedResourceWarning.
    #[allow(clippy::too_many_arguments)]
    async fn compare(
        &self,
        app: &Value,
        client: &Client,
        objects: Vec<Value>,
        revisions: Vec<String>,
        tracking: &TrackingSettings,
        project: &Project,
        cluster: &Cluster,
        normalizer: Result<Normalizer, String>,
        checks: &health::Checks,
    ) -> Result<Comparison, String> {
        let instance = self.instance_name(app);
        let dest_ns = app
            .pointer("/spec/destination/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string();
        let mut conditions = Vec::new();
        let (normalizer, failed) = match normalizer {
            Ok(n) => (n, false),
            Err(e) => {
                conditions.push(condition(
                    "ComparisonError",
                    &format!(
                        "Failed to compare desired state to live state: failed to create diff normalizer: {e}"
                    ),
                ));
                (Normalizer::default(), true)
            }
        };
        let mut cache = BTreeMap::new();
        let mut targets = Vec::new();
        let mut hooks = Vec::new();
        for mut obj in objects {
            let api_version = obj["apiVersion"].as_str().unwrap_or("").to_string();
            let kind = obj["kind"].as_str().unwrap_or("").to_string();
            let (ar, caps, known) = match self.discover(client, &mut cache, &api_version, &kind).await {
                Some((ar, caps)) => (ar, caps, true),
                None => {
                    // unknown kinds are kept; the sync reports them
                    let (g, v) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
                    (
                        ApiResource::from_gvk(&GroupVersionKind::gvk(g, v, &kind)),
                        ApiCapabilities {
                            scope: Scope::Namespaced,
                            subresources: vec![],
                            operations: vec![],
                        },
                        false,
                    )
                }
            };
            let namespaced = caps.scope == Scope::Namespaced;
            if namespaced {
                if obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    obj["metadata"]["namespace"] = json!(dest_ns);
                }
            } else if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            let key = Key::of(&obj);
            // the repo server marks every manifest but CustomResourceDefinitions
            if !(key.kind == "CustomResourceDefinition" && key.group == "apiextensions.k8s.io") {
                tracking
                    .set(&mut obj, &instance, &dest_ns)
                    .map_err(|e| format!("failed to set app instance tracking info on manifest: {e}"))?;
            }
            let wave = super::hooks::wave(&obj);
            let version = api_version
                .rsplit_once('/')
                .map(|(_, v)| v)
                .unwrap_or(&api_version)
                .to_string();
            let role = super::hooks::role(&obj);
            let gk_permitted = project.is_group_kind_permitted(&key.group, &key.kind, namespaced);
            let target = Target {
                key,
                version,
                object: obj,
                ar,
                namespaced,
                wave,
                gk_permitted,
                in_sync: false,
                known,
            };
            match role {
                super::hooks::Role::Skipped => {}
                super::hooks::Role::Hook(types) => hooks.push((types.join(","), target)),
                super::hooks::Role::Resource => targets.push(target),
            }
        }
        let app_name = crate::meta::name(app);
        let app_ns = crate::meta::namespace(app);
        let mut live = BTreeMap::new();
        for t in &mut targets {
            let api = dyn_api(client, &t.ar, t.namespaced, &t.key.namespace);
            let obj = match api.get_opt(&t.key.name).await {
                Ok(o) => o.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
                Err(kube::Error::Api(s)) if s.code == 404 => None,
                Err(e) => return Err(connection_error(app, e)),
            };
            // live objects the project does not permit are left out (IsLiveResourcePermitted)
            let obj = obj.filter(|l| live_permitted(project, cluster, l));
            if let Some(l) = &obj {
                let owner = tracking.app_name(l);
                if !owner.is_empty() && owner != instance {
                    conditions.push(condition(
                        "SharedResourceWarning",
                        &format!(
                            "{}/{} is part of applications {app_ns}/{app_name} and {}",
                            l["kind"].as_str().unwrap_or(""),
                            crate::meta::name(l),
                            owner.replace('_', "/")
                        ),
                    ));
                }
                let (desired, normalized_live) = normalizer.compare_pair(&t.object, l);
                t.in_sync = super::diff::satisfies(&desired, &normalized_live);
            }
            live.insert(t.key.clone(), obj);
        }
        // resources this app managed before that no manifest declares now
        let mut extra = Vec::new();
        let declared: BTreeSet<Key> = targets.iter().map(|t| t.key.clone()).collect();
        for r in app
            .pointer("/status/resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = Key {
                group: r["group"].as_str().unwrap_or("").into(),
                kind: r["kind"].as_str().unwrap_or("").into(),
                namespace: r["namespace"].as_str().unwrap_or("").into(),
                name: r["name"].as_str().unwrap_or("").into(),
            };
            if declared.contains(&key) {
                continue;
            }
            let version = r["version"].as_str().unwrap_or("v1").to_string();
            let api_version = if key.group.is_empty() {
                version.clone()
            } else {
                format!("{}/{version}", key.group)
            };
            let Some((ar, caps)) = self.discover(client, &mut cache, &api_version, &key.kind).await else {
                continue;
            };
            // a kind the last comparison did not know was taken as namespaced: a
            // cluster-scoped one has no namespace
            let mut key = key;
            if caps.scope != Scope::Namespaced {
                key.namespace.clear();
                if declared.contains(&key) {
                    continue;
                }
            }
            let api = dyn_api(client, &ar, caps.scope == Scope::Namespaced, &key.namespace);
            if let Ok(Some(o)) = api.get_opt(&key.name).await {
                let v = serde_json::to_value(o).unwrap_or(Value::Null);
                // an object already being deleted (pruned) is not pruned again
                let deleting = v.pointer("/metadata/deletionTimestamp").is_some();
                if tracking.is_tracked_by(&v, &instance) && !deleting && live_permitted(project, cluster, &v)
                {
                    extra.push((key, version, v, ar));
                }
            }
        }
        Ok(Comparison {
            revisions,
            targets,
            hooks,
            live,
            extra,
            conditions,
            failed,
            normalizer,
            checks: checks.clone(),
        })
    }
}

fn dyn_api(client: &Client, ar: &ApiResource, namespaced: bool, ns: &str) -> Api<DynamicObject> {
    if namespaced {
        Api::namespaced_with(client.clone(), ns, ar)
    } else {
        Api::all_with(client.clone(), ar)
    }
}

fn connection_error(app: &Value, e: kube::Error) -> String {
    let server = app
        .pointer("/spec/destination/server")
        .and_then(Value::as_str)
        .unwrap_or("");
    let reason = match &e {
        kube::Error::Api(s) if s.code == 401 => {
            "the server has asked for the client to provide credentials".to_string()
        }
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    };
    format!("Failed to load live state: failed to get cluster info for {server:?}: {reason}")
}

/// The status sections a comparison yields.
struct Assessed {
    sync: &'static str,
    resources: Vec<Value>,
    health: Health,
    /// The ComparisonError of a failed health check.
    health_error: Option<String>,
    images: Vec<String>,
}

/// The resources' statuses and the application's sync status and health. A resource whose
/// kind the project does not permit is Unknown; `namespace_metadata_changed` (the managed
/// namespace's metadata differs from the last sync's) makes the application OutOfSync.
fn assess(cmp: &Comparison, app: &Value, namespace_metadata_changed: bool) -> Assessed {
    let mut resources = Vec::new();
    let mut any_out = false;
    let mut images = BTreeSet::new();
    let mut managed = Vec::new();
    for t in &cmp.targets {
        let live = cmp.live.get(&t.key).and_then(Option::as_ref);
        let synced = live.is_some() && t.in_sync;
        any_out |= !synced;
        let status = if cmp.failed || !t.gk_permitted {
            "Unknown"
        } else if synced {
            "Synced"
        } else {
            "OutOfSync"
        };
        let mut r = json!({
            "group": t.key.group, "version": t.version, "kind": t.key.kind,
            "namespace": t.key.namespace, "name": t.key.name,
            "status": status,
        });
        if t.wave != 0 {
            r["syncWave"] = json!(t.wave);
        }
        if let Some(l) = live {
            images.extend(images_of(l));
        }
        managed.push(health::Managed {
            group: &t.key.group,
            kind: &t.key.kind,
            namespace: &t.key.namespace,
            name: &t.key.name,
            live,
        });
        resources.push(r);
    }
    for (key, version, live, _) in &cmp.extra {
        // an extraneous resource marked IgnoreExtraneous does not make the app OutOfSync
        if !has_annotation_option(live, "argocd.argoproj.io/compare-options", "IgnoreExtraneous") {
            any_out = true;
        }
        resources.push(json!({
            "group": key.group, "version": version, "kind": key.kind, "namespace": key.namespace, "name": key.name,
            "status": if cmp.failed { "Unknown" } else { "OutOfSync" }, "requiresPruning": true,
        }));
        managed.push(health::Managed {
            group: &key.group,
            kind: &key.kind,
            namespace: &key.namespace,
            name: &key.name,
            live: Some(live),
        });
    }
    let app_health = health::application(
        &cmp.checks,
        crate::meta::namespace(app),
        crate::meta::name(app),
        &managed,
    );
    for (r, h) in resources.iter_mut().zip(&app_health.resources) {
        if let Some(h) = h {
            r["health"] = h.to_json();
        }
        for k in ["group", "namespace"] {
            if r[k] == "" {
                r.as_object_mut().expect("object").remove(k);
            }
        }
    }
    resources.sort_by(|a, b| {
        let k = |r: &Value| {
            (
                r["group"].as_str().unwrap_or("").to_string(),
                r["kind"].as_str().unwrap_or("").to_string(),
                r["namespace"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
            )
        };
        k(a).cmp(&k(b))
    });
    Assessed {
        sync: if cmp.failed {
            "Unknown"
        } else if any_out || namespace_metadata_changed {
            "OutOfSync"
        } else {
            "Synced"
        },
        resources,
        health: app_health.status,
        health_error: app_health.error,
        images: images.into_iter().collect(),
    }
}

/// The outcome of one sync.
struct SyncOutcome {
    phase: &'static str,
    message: String,
    results: Vec<Value>,
}

impl SyncOutcome {
    fn new(phase: &'static str, message: impl Into<String>, results: Vec<Value>) -> Self {
        SyncOutcome {
            phase,
            message: message.into(),
            results,
        }
    }
}

fn result(t: &Target, status: &str, hook_phase: &str, message: &str) -> Value {
    let mut r = json!({
        "group": t.key.group, "version": t.version, "kind": t.key.kind, "namespace": t.key.namespace, "name": t.key.name,
        "status": status, "message": message, "hookPhase": hook_phase, "syncPhase": "Sync",
    });
    let imgs = images_of(&t.object);
    if !imgs.is_empty() {
        r["images"] = json!(imgs);
    }
    r
}

/// What a sync does to one resource (gitops-engine's syncTask): apply its manifest, or
/// prune the live object when there is no manifest.
struct Task {
    key: Key,
    version: String,
    target: Option<Value>,
    live: Option<Value>,
    ar: ApiResource,
    namespaced: bool,
    known: bool,
    wave: i64,
    phase: &'static str,
    in_sync: bool,
    /// Its kind is not served yet, and SkipDryRunOnMissingResource (or a CRD in the sync)
    /// lets it through.
    skip_dry_run: bool,
    /// The namespace of CreateNamespace=true: Some(whether managedNamespaceMetadata shapes it).
    managed_namespace: Option<bool>,
    done: bool,
}

impl Task {
    fn obj(&self) -> &Value {
        self.target
            .as_ref()
            .or(self.live.as_ref())
            .expect("a task has a target or a live object")
    }

    fn is_prune(&self) -> bool {
        self.target.is_none()
    }

    fn result(&self, status: &str, hook_phase: &str, message: &str) -> Value {
        let mut r = json!({
            "group": self.key.group, "version": self.version, "kind": self.key.kind,
            "namespace": self.key.namespace, "name": self.key.name,
            "status": status, "message": message, "syncPhase": self.phase,
        });
        if !hook_phase.is_empty() {
            r["hookPhase"] = json!(hook_phase);
        }
        let imgs = images_of(self.obj());
        if !imgs.is_empty() {
            r["images"] = json!(imgs);
        }
        r
    }
}

/// The sync-time permission check (controller/sync.go's permission validator).
fn permission_error(project: &Project, cluster: &Cluster, obj: &Value, namespaced: bool) -> Option<String> {
    let key = Key::of(obj);
    if !project.is_group_kind_permitted(&key.group, &key.kind, namespaced) {
        return Some(format!(
            "resource {}:{} is not permitted in project {}",
            key.group, key.kind, project.name
        ));
    }
    if namespaced && !project.is_destination_permitted(&cluster.server, &cluster.name, &key.namespace) {
        return Some(format!(
            "namespace {} is not permitted in project '{}'",
            key.namespace, project.name
        ));
    }
    None
}

fn api_message(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        other => other.to_string(),
    }
}

impl Shared {
    /// ServerResourceForGroupVersionKind: whether the kind is namespaced, or why it is not
    /// served (true: not found).
    async fn server_resource(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<bool, (bool, String)> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let list = if group.is_empty() {
            client.list_core_api_resources(version).await
        } else {
            client.list_api_group_resources(api_version).await
        };
        match list {
            Ok(list) => list
                .resources
                .iter()
                .find(|r| r.kind == kind && !r.name.contains('/'))
                .map(|r| r.namespaced)
                .ok_or_else(|| {
                    let gr = if group.is_empty() {
                        kind.to_string()
                    } else {
                        format!("{kind}.{group}")
                    };
                    (true, format!("{gr} \"\" not found"))
                }),
            Err(kube::Error::Api(s)) => Err((
                s.code == 404,
                format!(
                    "failed to discover server resources for group version {api_version}: {}",
                    s.message
                ),
            )),
            Err(e) => Err((
                false,
                format!("failed to discover server resources for group version {api_version}: {e}"),
            )),
        }
    }

    /// Applies one task's manifest as gitops-engine's applyObject does: `kubectl replace`
    /// with Replace=true, `kubectl apply --server-side` with ServerSideApply=true, else
    /// client-side `kubectl apply`; `--validate=false` with Validate=false; the live values of
    /// ignored fields with RespectIgnoreDifferences=true. A dry run (client-side) only reads.
    async fn apply_task(
        &self,
        client: &Client,
        cmp: &Comparison,
        opts: &[String],
        task: &Task,
        dry_run: bool,
    ) -> Result<String, String> {
        let target = task.target.as_ref().expect("an apply task has a target");
        let api_version = target["apiVersion"].as_str().unwrap_or("");
        // a kind discovery did not know when comparing may be served now (its CRD synced)
        let (ar, namespaced) = if task.known {
            (task.ar.clone(), task.namespaced)
        } else {
            let (g, v) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            match kube::discovery::pinned_kind(client, &GroupVersionKind::gvk(g, v, &task.key.kind)).await {
                Ok((ar, caps)) => (ar, caps.scope == Scope::Namespaced),
                Err(_) => {
                    return Err(kubectl::no_mapping(
                        &task.key.name,
                        &task.key.namespace,
                        &task.key.kind,
                        api_version,
                    ));
                }
            }
        };
        let annotated = |o: &str| has_annotation_option(target, SYNC_OPTIONS, o);
        let replace = has_option(opts, "Replace") || annotated("Replace=true");
        if dry_run && replace {
            // kubectl replace/create --dry-run=client send nothing
            return Ok(String::new());
        }
        let api = dyn_api(client, &ar, namespaced, &task.key.namespace);
        let live = match api.get_opt(&task.key.name).await {
            Ok(o) => o.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
            Err(e) => {
                let (g, v) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                let gv = if g.is_empty() {
                    v.to_string()
                } else {
                    format!("{g}/{v}")
                };
                return Err(format!(
                    "error when retrieving current configuration of:\nResource: \"{gv}, Resource={}\", GroupVersionKind: \"{gv}, Kind={}\"\nName: \"{}\", Namespace: \"{}\"\nfrom server for: \"/dev/shm/{}\": {}",
                    ar.plural,
                    task.key.kind,
                    task.key.name,
                    task.key.namespace,
                    rand::random::<u32>(),
                    api_message(e)
                ));
            }
        };
        let t = kubectl::Target {
            ar: &ar,
            namespaced,
            namespace: &task.key.namespace,
            name: &task.key.name,
            printed: task.key.kubectl_name(),
        };
        let validate = !opts.iter().any(|o| o == "Validate=false") && !annotated("Validate=false");
        if dry_run {
            // kubectl apply --dry-run=client only reads the live object
            return Ok(String::new());
        }
        let mut obj = target.clone();
        if has_option(opts, "RespectIgnoreDifferences")
            && let Some(l) = &task.live
        {
            obj = cmp.normalizer.respect(target, l);
        }
        let ssa = !annotated("ServerSideApply=false")
            && (has_option(opts, "ServerSideApply") || annotated("ServerSideApply=true"));
        let out = if replace {
            kubectl::replace(client, &t, &obj, live.as_ref(), false, FIELD_MANAGER).await
        } else if ssa {
            kubectl::server_side_apply(client, &t, &obj, validate, FIELD_MANAGER).await
        } else {
            kubectl::apply(client, &t, &obj, live.as_ref(), false, validate, FIELD_MANAGER).await
        }?;
        // a CRD is waited for until established, so its resources can follow
        if task.key.kind == "CustomResourceDefinition" && task.key.group == "apiextensions.k8s.io" {
            for _ in 0..100 {
                let established = api.get_opt(&task.key.name).await.ok().flatten().is_some_and(|c| {
                    c.data
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Established" && c["status"] == "True")
                        })
                });
                if established {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(out)
    }

    /// pruneObject: the result code and message of pruning one live object.
    async fn prune_task(
        &self,
        client: &Client,
        opts: &[String],
        task: &Task,
        prune: bool,
    ) -> (&'static str, String) {
        let live = task.live.as_ref().expect("a prune task has a live object");
        if !prune {
            return ("PruneSkipped", "ignored (requires pruning)".into());
        }
        if has_annotation_option(live, SYNC_OPTIONS, "Prune=false") {
            return ("PruneSkipped", "ignored (no prune)".into());
        }
        if live.pointer("/metadata/deletionTimestamp").is_none() {
            let dp = if opts.iter().any(|o| o == "PrunePropagationPolicy=background") {
                DeleteParams::background()
            } else if opts.iter().any(|o| o == "PrunePropagationPolicy=orphan") {
                DeleteParams::orphan()
            } else {
                DeleteParams::foreground()
            };
            let api = dyn_api(client, &task.ar, task.namespaced, &task.key.namespace);
            if let Err(e) = api.delete(&task.key.name, &dp).await {
                return ("SyncFailed", api_message(e));
            }
        }
        ("Pruned", "pruned".into())
    }

    /// Waits until every object is live and healthy (or has no health), saying what it waits
    /// for as Argo CD does.
    async fn wait_healthy(
        &self,
        client: &Client,
        checks: &health::Checks,
        in_wave: &[(&Key, &ApiResource, bool)],
        write_progress: &(dyn Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync),
    ) {
        loop {
            let mut waiting = Vec::new();
            for (key, ar, namespaced) in in_wave {
                let api = dyn_api(client, ar, *namespaced, &key.namespace);
                let live = api
                    .get_opt(&key.name)
                    .await
                    .ok()
                    .flatten()
                    .map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
                let healthy = match &live {
                    None => false,
                    Some(l) => checks.health(l).is_none_or(|h| h.status == Health::Healthy),
                };
                if !healthy {
                    waiting.push(format!("{}/{}/{}", key.group, key.kind, key.name));
                }
            }
            if waiting.is_empty() {
                break;
            }
            let msg = if waiting.len() == 1 {
                format!("waiting for healthy state of {}", waiting[0])
            } else {
                format!(
                    "waiting for healthy state of {} and {} more resources",
                    waiting[0],
                    waiting.len() - 1
                )
            };
            write_progress(msg).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until pruned objects are gone, as the next wave does.
    async fn wait_deleted(
        &self,
        client: &Client,
        pruned: &[&Task],
        write_progress: &(dyn Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync),
    ) {
        for _ in 0..600 {
            let mut waiting = Vec::new();
            for t in pruned {
                let api = dyn_api(client, &t.ar, t.namespaced, &t.key.namespace);
                if matches!(api.get_opt(&t.key.name).await, Ok(Some(_))) {
                    waiting.push(format!("{}/{}/{}", t.key.group, t.key.kind, t.key.name));
                }
            }
            if waiting.is_empty() {
                return;
            }
            let mut msg = format!("waiting for deletion of {}", waiting[0]);
            if waiting.len() > 1 {
                msg = format!("{msg} and {} more resources", waiting.len() - 1);
            }
            write_progress(msg).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs the hooks of one phase (PreSync, Sync, PostSync, SyncFail) in wave order: each is
    /// created anew (BeforeHookCreation, the default delete policy, removes the last one) and
    /// awaited until it completes; HookSucceeded / HookFailed remove it afterwards. Returns
    /// false when a hook failed.
    async fn run_hooks(
        &self,
        client: &Client,
        cmp: &Comparison,
        phase: &str,
        results: &mut Vec<Value>,
        write_progress: &(dyn Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync),
    ) -> bool {
        let mut hooks: Vec<&Target> = cmp
            .hooks
            .iter()
            .filter(|(types, _)| types.split(',').any(|t| t.trim() == phase))
            .map(|(_, t)| t)
            .collect();
        hooks.sort_by_key(|t| (t.wave, kind_order(&t.key.kind), t.key.name.clone()));
        for t in hooks {
            let policies = super::hooks::delete_policies(&t.object);
            let api = dyn_api(client, &t.ar, t.namespaced, &t.key.namespace);
            let mut name = t.key.name.clone();
            let hook_result = |name: &str, hook_phase: &str, message: &str| {
                let mut r = result(t, "Synced", hook_phase, message);
                r["name"] = json!(name);
                r["hookType"] = json!(phase);
                r["syncPhase"] = json!(phase);
                r
            };
            if !name.is_empty() && policies.iter().any(|p| p == "BeforeHookCreation") {
                let _ = api.delete(&name, &DeleteParams::background()).await;
                for _ in 0..100 {
                    if matches!(api.get_opt(&name).await, Ok(None)) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            let obj: DynamicObject = match serde_json::from_value(t.object.clone()) {
                Ok(o) => o,
                Err(e) => {
                    results.push(hook_result(&name, "Failed", &e.to_string()));
                    return false;
                }
            };
            match api
                .create(
                    &kube::api::PostParams {
                        field_manager: Some(FIELD_MANAGER.into()),
                        ..Default::default()
                    },
                    &obj,
                )
                .await
            {
                Ok(created) => name = created.metadata.name.unwrap_or(name),
                Err(e) => {
                    let msg = match e {
                        kube::Error::Api(s) => s.message,
                        other => other.to_string(),
                    };
                    let mut r = hook_result(&name, "Failed", &msg);
                    r["status"] = json!("SyncFailed");
                    results.push(r);
                    return false;
                }
            }
            // Jobs and Pods run to completion; anything else is done once created
            let (ok, message) = loop {
                let live = api
                    .get_opt(&name)
                    .await
                    .ok()
                    .flatten()
                    .map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
                let Some(live) = live else {
                    break (false, "hook was deleted before it completed".to_string());
                };
                let runs = matches!(t.key.kind.as_str(), "Job" | "Pod");
                match cmp.checks.health(&live) {
                    Some(h) if runs && h.status == Health::Healthy => break (true, h.message),
                    Some(h) if runs && h.status == Health::Degraded => break (false, h.message),
                    Some(_) if runs => {
                        let group_kind = format!("{}/{}", t.key.group, t.key.kind);
                        write_progress(format!("waiting for completion of hook {group_kind}/{name}")).await;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ => {
                        break (
                            true,
                            format!("{} created", t.key.kubectl_name().replace(&t.key.name, &name)),
                        );
                    }
                }
            };
            results.push(hook_result(
                &name,
                if ok { "Succeeded" } else { "Failed" },
                &message,
            ));
            let delete = (ok && policies.iter().any(|p| p == "HookSucceeded"))
                || (!ok && policies.iter().any(|p| p == "HookFailed"));
            if delete {
                let _ = api.delete(&name, &DeleteParams::background()).await;
            }
            if !ok {
                return false;
            }
        }
        true
    }

    /// Runs a sync as gitops-engine's sync context does: the tasks are checked (kinds served,
    /// permitted by the project), the namespace is created, every manifest is dry-run, then
    /// PreSync (the managed namespace, hooks), the Sync waves in order (prunes first in each
    /// wave, waves waiting for the previous one to be healthy) and the Sync and PostSync
    /// hooks.
    #[allow(clippy::too_many_arguments)]
    async fn sync(
        &self,
        app: &Value,
        client: &Client,
        cmp: &Comparison,
        prune: bool,
        project: &Project,
        cluster: &Cluster,
        write_progress: impl Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync,
    ) -> SyncOutcome {
        let opts = sync_options(app);
        let dest_ns = app
            .pointer("/spec/destination/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut tasks: Vec<Task> = Vec::new();
        for t in &cmp.targets {
            tasks.push(Task {
                key: t.key.clone(),
                version: t.version.clone(),
                target: Some(t.object.clone()),
                live: cmp.live.get(&t.key).cloned().flatten(),
                ar: t.ar.clone(),
                namespaced: t.namespaced,
                known: t.known,
                wave: t.wave,
                phase: "Sync",
                in_sync: t.in_sync,
                skip_dry_run: false,
                managed_namespace: None,
                done: false,
            });
        }
        for (key, version, live, ar) in &cmp.extra {
            tasks.push(Task {
                key: key.clone(),
                version: version.clone(),
                target: None,
                live: Some(live.clone()),
                ar: ar.clone(),
                namespaced: !key.namespace.is_empty(),
                known: true,
                wave: super::hooks::wave(live),
                phase: "Sync",
                in_sync: false,
                skip_dry_run: false,
                managed_namespace: None,
                done: false,
            });
        }
        // CreateNamespace=true: the destination namespace, when missing or when
        // managedNamespaceMetadata shapes it (applied server-side, as its annotation says)
        let declares_ns = cmp
            .targets
            .iter()
            .any(|t| t.key.group.is_empty() && t.key.kind == "Namespace" && t.key.name == dest_ns);
        if has_option(&opts, "CreateNamespace") && !dest_ns.is_empty() && !declares_ns {
            let managed = app
                .pointer("/spec/syncPolicy/managedNamespaceMetadata")
                .filter(|m| m.is_object());
            let ar = ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&());
            let nss: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            let live_ns = match nss.get_opt(&dest_ns).await {
                Ok(o) => o.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
                Err(e) => {
                    return SyncOutcome::new(
                        "Failed",
                        format!(
                            "one or more synchronization tasks completed unsuccessfully, reason: namespace auto creation failed: {}",
                            api_message(e)
                        ),
                        vec![],
                    );
                }
            };
            if live_ns.is_none() || managed.is_some() {
                let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": dest_ns}});
                if let Some(m) = managed {
                    if let Some(l) = m
                        .get("labels")
                        .filter(|l| l.as_object().is_some_and(|l| !l.is_empty()))
                    {
                        ns["metadata"]["labels"] = l.clone();
                    }
                    let mut ann = m
                        .get("annotations")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    ann.insert(SYNC_OPTIONS.into(), json!("ServerSideApply=true"));
                    ns["metadata"]["annotations"] = Value::Object(ann);
                }
                tasks.push(Task {
                    key: Key {
                        group: String::new(),
                        kind: "Namespace".into(),
                        namespace: String::new(),
                        name: dest_ns.clone(),
                    },
                    version: "v1".into(),
                    target: Some(ns),
                    live: live_ns,
                    ar,
                    namespaced: false,
                    known: true,
                    wave: 0,
                    phase: "PreSync",
                    in_sync: false,
                    skip_dry_run: false,
                    managed_namespace: Some(managed.is_some()),
                    done: false,
                });
            }
        }

        // every task must be served and permitted
        let crds: Vec<(String, String)> = cmp
            .targets
            .iter()
            .filter(|t| t.key.kind == "CustomResourceDefinition" && t.key.group == "apiextensions.k8s.io")
            .map(|t| {
                let s = |p: &str| {
                    t.object
                        .pointer(p)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                (s("/spec/group"), s("/spec/names/kind"))
            })
            .collect();
        let mut invalid = Vec::new();
        for task in &mut tasks {
            let api_version = task.obj()["apiVersion"].as_str().unwrap_or("").to_string();
            match self.server_resource(client, &api_version, &task.key.kind).await {
                Ok(namespaced) => {
                    if !task.known && !namespaced {
                        // served since the comparison, which took it as namespaced (as
                        // IsNamespacedOrUnknown does): the object goes without a namespace,
                        // the results keep the comparison's key, as gitops-engine's do
                        if let Some(m) = task
                            .target
                            .as_mut()
                            .and_then(|t| t.get_mut("metadata"))
                            .and_then(Value::as_object_mut)
                        {
                            m.remove("namespace");
                        }
                    }
                    let obj = task.obj().clone();
                    if let Some(msg) = permission_error(project, cluster, &obj, namespaced) {
                        invalid.push(task.result("SyncFailed", "", &msg));
                    }
                }
                Err((not_found, msg)) => {
                    let skip = not_found
                        && (has_option(&opts, "SkipDryRunOnMissingResource")
                            || task.target.as_ref().is_some_and(|t| {
                                has_annotation_option(t, SYNC_OPTIONS, "SkipDryRunOnMissingResource=true")
                            })
                            || crds.contains(&(task.key.group.clone(), task.key.kind.clone())));
                    if skip {
                        task.skip_dry_run = true;
                    } else {
                        invalid.push(task.result("SyncFailed", "", &msg));
                    }
                }
            }
        }
        for (types, h) in &cmp.hooks {
            let hook_type = types.split(',').next().unwrap_or("").trim();
            let invalid_hook = match self
                .server_resource(client, h.object["apiVersion"].as_str().unwrap_or(""), &h.key.kind)
                .await
            {
                Ok(namespaced) => permission_error(project, cluster, &h.object, namespaced),
                Err((_, msg)) => Some(msg),
            };
            if let Some(msg) = invalid_hook {
                let mut r = result(h, "SyncFailed", "", &msg);
                if let Some(m) = r.as_object_mut() {
                    m.remove("hookPhase");
                }
                r["hookType"] = json!(hook_type);
                r["syncPhase"] = json!(hook_type);
                invalid.push(r);
            }
        }
        if !invalid.is_empty() {
            return SyncOutcome::new(
                "Failed",
                "one or more synchronization tasks are not valid",
                invalid,
            );
        }

        let mut results = Vec::new();
        // the namespace is created before the dry run, which needs it
        if let Some(ns) = tasks
            .iter_mut()
            .find(|t| t.managed_namespace.is_some() && t.live.is_none())
        {
            match self.apply_task(client, cmp, &opts, ns, false).await {
                Ok(msg) => {
                    // a managed namespace is synced again in PreSync, where it is found healthy
                    let hook_phase = if ns.managed_namespace == Some(true) {
                        "Succeeded"
                    } else {
                        "Running"
                    };
                    results.push(ns.result("Synced", hook_phase, &msg));
                    ns.done = true;
                }
                Err(msg) => {
                    results.push(ns.result("SyncFailed", "Failed", &msg));
                    return SyncOutcome::new(
                        "Failed",
                        format!("the namespace failed to apply, reason: {msg}"),
                        results,
                    );
                }
            }
        }
        // ApplyOutOfSyncOnly=true: resources in sync are left alone
        let only_out_of_sync = has_option(&opts, "ApplyOutOfSyncOnly");
        let unmodified = |t: &Task| only_out_of_sync && t.target.is_some() && t.live.is_some() && t.in_sync;
        // dry run, grouped by kind as the applies below
        let dry: Vec<&Task> = tasks
            .iter()
            .filter(|t| !t.done && !t.is_prune() && !t.skip_dry_run && !unmodified(t))
            .collect();
        for group in dry.chunk_by(|a, b| a.key.kind == b.key.kind) {
            let outcomes =
                futures::future::join_all(group.iter().map(|t| self.apply_task(client, cmp, &opts, t, true)))
                    .await;
            for (task, r) in group.iter().zip(outcomes) {
                if let Err(msg) = r {
                    results.push(task.result("SyncFailed", "Failed", &msg));
                }
            }
        }
        if results.iter().any(|r| r["status"] == "SyncFailed") {
            return SyncOutcome::new("Failed", "one or more objects failed to apply (dry run)", results);
        }
        let pending_hooks = cmp
            .hooks
            .iter()
            .any(|(types, _)| types.split(',').any(|t| t.trim() != "SyncFail"));
        if !pending_hooks && tasks.iter().all(|t| t.done || unmodified(t)) {
            return SyncOutcome::new("Succeeded", "successfully synced (no more tasks)", results);
        }

        // PreSync: the managed namespace, then the hooks
        if let Some(ns) = tasks
            .iter_mut()
            .find(|t| t.managed_namespace.is_some() && !t.done)
        {
            match self.apply_task(client, cmp, &opts, ns, false).await {
                Ok(msg) => {
                    results.push(ns.result("Synced", "Succeeded", &msg));
                    ns.done = true;
                }
                Err(msg) => {
                    results.push(ns.result("SyncFailed", "Failed", &msg));
                    self.run_hooks(client, cmp, "SyncFail", &mut results, &write_progress)
                        .await;
                    return SyncOutcome::new(
                        "Failed",
                        format!("one or more objects failed to apply, reason: {msg}"),
                        results,
                    );
                }
            }
        }
        if !self
            .run_hooks(client, cmp, "PreSync", &mut results, &write_progress)
            .await
        {
            self.run_hooks(client, cmp, "SyncFail", &mut results, &write_progress)
                .await;
            return SyncOutcome::new(
                "Failed",
                "one or more synchronization tasks completed unsuccessfully",
                results,
            );
        }

        // Sync: prune waves run in reverse order, PruneLast after every wave
        let mut waves: Vec<i64> = tasks.iter().map(|t| t.wave).collect();
        let mut prune_waves: Vec<i64> = tasks.iter().filter(|t| t.is_prune()).map(|t| t.wave).collect();
        prune_waves.sort();
        prune_waves.dedup();
        let n = prune_waves.len();
        for (i, t) in tasks.iter().enumerate() {
            if t.is_prune()
                && let Some(p) = prune_waves.iter().position(|w| *w == t.wave)
            {
                waves[i] = prune_waves[n - 1 - p];
            }
        }
        let last_sync_wave = tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.phase == "Sync")
            .map(|(i, _)| waves[i])
            .fold(0, i64::max)
            + 1;
        for (i, t) in tasks.iter().enumerate() {
            if t.is_prune()
                && (has_option(&opts, "PruneLast")
                    || t.live
                        .as_ref()
                        .is_some_and(|l| has_annotation_option(l, SYNC_OPTIONS, "PruneLast=true")))
            {
                waves[i] = last_sync_wave;
            }
        }
        let mut order: Vec<usize> = (0..tasks.len())
            .filter(|i| tasks[*i].phase == "Sync" && !tasks[*i].done && !unmodified(&tasks[*i]))
            .collect();
        order.sort_by_key(|i| {
            (
                waves[*i],
                kind_order(&tasks[*i].key.kind),
                tasks[*i].key.name.clone(),
            )
        });
        let wave_set: BTreeSet<i64> = order.iter().map(|i| waves[*i]).collect();
        let last_wave = wave_set.iter().next_back().copied();
        let mut failed = Vec::new();
        for wave in &wave_set {
            let in_wave: Vec<usize> = order.iter().copied().filter(|i| waves[*i] == *wave).collect();
            // as gitops-engine's runTasks: the wave's prunes at once, then its applies in
            // groups of consecutive tasks of one kind (CRDs before what uses them), each group
            // at once; results keep the tasks' order
            let mut pruned = Vec::new();
            let prunes: Vec<usize> = in_wave.iter().copied().filter(|i| tasks[*i].is_prune()).collect();
            let outcomes = futures::future::join_all(
                prunes
                    .iter()
                    .map(|i| self.prune_task(client, &opts, &tasks[*i], prune)),
            )
            .await;
            for (i, (code, msg)) in prunes.into_iter().zip(outcomes) {
                let hook_phase = if code == "SyncFailed" {
                    "Failed"
                } else {
                    "Succeeded"
                };
                results.push(tasks[i].result(code, hook_phase, &msg));
                match code {
                    "SyncFailed" => failed.push(msg),
                    "Pruned" => pruned.push(i),
                    _ => {}
                }
            }
            if !failed.is_empty() {
                break;
            }
            let mut applied = Vec::new();
            let creates: Vec<usize> = in_wave
                .iter()
                .copied()
                .filter(|i| !tasks[*i].is_prune())
                .collect();
            for group in creates.chunk_by(|a, b| tasks[*a].key.kind == tasks[*b].key.kind) {
                let outcomes = futures::future::join_all(
                    group
                        .iter()
                        .map(|i| self.apply_task(client, cmp, &opts, &tasks[*i], false)),
                )
                .await;
                for (i, r) in group.iter().copied().zip(outcomes) {
                    match r {
                        Ok(msg) => {
                            applied.push((i, results.len()));
                            results.push(tasks[i].result("Synced", "Running", &msg));
                        }
                        Err(msg) => {
                            results.push(tasks[i].result("SyncFailed", "Failed", &msg));
                            failed.push(msg);
                        }
                    }
                }
            }
            if !failed.is_empty() {
                break;
            }
            if Some(*wave) != last_wave {
                // the next wave waits for this one: applied resources healthy (then Succeeded),
                // pruned ones gone
                let items: Vec<(&Key, &ApiResource, bool)> = applied
                    .iter()
                    .map(|(i, _)| (&tasks[*i].key, &tasks[*i].ar, tasks[*i].namespaced))
                    .collect();
                self.wait_healthy(client, &cmp.checks, &items, &write_progress)
                    .await;
                for (_, r) in &applied {
                    results[*r]["hookPhase"] = json!("Succeeded");
                }
                let gone: Vec<&Task> = pruned.iter().map(|i| &tasks[*i]).collect();
                self.wait_deleted(client, &gone, &write_progress).await;
            }
        }
        if !failed.is_empty() {
            self.run_hooks(client, cmp, "SyncFail", &mut results, &write_progress)
                .await;
            return SyncOutcome::new(
                "Failed",
                format!(
                    "one or more objects failed to apply, reason: {}",
                    failed.join(",")
                ),
                results,
            );
        }
        let post = cmp
            .hooks
            .iter()
            .any(|(types, _)| types.split(',').any(|t| t.trim() == "PostSync"));
        let mut ok = self
            .run_hooks(client, cmp, "Sync", &mut results, &write_progress)
            .await;
        if ok && post {
            // PostSync hooks run once everything is healthy
            let all: Vec<(&Key, &ApiResource, bool)> = cmp
                .targets
                .iter()
                .map(|t| (&t.key, &t.ar, t.namespaced))
                .collect();
            self.wait_healthy(client, &cmp.checks, &all, &write_progress)
                .await;
            ok = self
                .run_hooks(client, cmp, "PostSync", &mut results, &write_progress)
                .await;
        }
        if !ok {
            self.run_hooks(client, cmp, "SyncFail", &mut results, &write_progress)
                .await;
            return SyncOutcome::new(
                "Failed",
                "one or more synchronization tasks completed unsuccessfully",
                results,
            );
        }
        SyncOutcome::new("Succeeded", "successfully synced (all tasks run)", results)
    }
}

fn condition(t: &str, msg: &str) -> Value {
    json!({"type": t, "message": msg, "lastTransitionTime": now()})
}

/// Keeps the transition time of conditions that did not change.
fn merge_conditions(previous: Option<&Value>, mut new: Vec<Value>) -> Vec<Value> {
    let prev: Vec<Value> = previous.and_then(Value::as_array).cloned().unwrap_or_default();
    for c in &mut new {
        if let Some(p) = prev
            .iter()
            .find(|p| p["type"] == c["type"] && p["message"] == c["message"])
        {
            c["lastTransitionTime"] = p["lastTransitionTime"].clone();
        }
    }
    new
}

/// Reconciles one Application: the whole controller loop for it.
pub async fn reconcile(shared: Arc<Shared>, app: Value) -> Result<Duration, String> {
    let name = crate::meta::name(&app).to_string();
    let ns = crate::meta::namespace(&app).to_string();
    let apps: Api<DynamicObject> = Api::namespaced_with(shared.hub.clone(), &ns, &super::applications());
    // the controller's cache can lag behind our own writes: work on what the server has, so
    // an operation that just finished is not run twice
    let app = match apps.get_opt(&name).await.map_err(|e| e.to_string())? {
        Some(fresh) => serde_json::to_value(fresh).map_err(|e| e.to_string())?,
        None => return Ok(Duration::from_secs(3600)),
    };
    let settings = shared.settings().await;
    let tracking = &settings.tracking;
    // resource overrides that do not load leave the comparison Unknown, as in Argo CD
    let checks = match &settings.overrides {
        Ok(o) => Some(health::Checks::new(o.clone())),
        Err(e) => {
            tracing::info!("Basic comparison settings cannot be loaded, using unknown comparison: {e}");
            None
        }
    };

    if app.pointer("/metadata/deletionTimestamp").is_some() {
        return delete_app(&shared, &apps, &app, tracking).await;
    }
    // the project (refreshAppConditions): it must exist, admit the Application's namespace,
    // and permit its sources and destination
    let project_name = app
        .pointer("/spec/project")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let projects: Api<DynamicObject> =
        Api::namespaced_with(shared.hub.clone(), &shared.namespace, &super::app_projects());
    let project_obj = projects.get_opt(&project_name).await.map_err(|e| e.to_string())?;
    let mut conditions = Vec::new();
    let mut status = app.get("status").cloned().unwrap_or(json!({}));
    let mut compared_to = if multi_source(&app) {
        json!({"sources": app.pointer("/spec/sources"), "destination": app.pointer("/spec/destination")})
    } else {
        json!({"source": app.pointer("/spec/source"), "destination": app.pointer("/spec/destination")})
    };
    if let Some(ids) = app
        .pointer("/spec/ignoreDifferences")
        .filter(|i| i.as_array().is_some_and(|a| !a.is_empty()))
    {
        compared_to["ignoreDifferences"] = ids.clone();
    }
    status["controllerNamespace"] = json!(shared.namespace);
    let source_types: Vec<&str> = sources(&app)
        .iter()
        .map(|s| {
            if s.get("chart").is_some() {
                "Helm"
            } else {
                "Directory"
            }
        })
        .collect();
    if multi_source(&app) {
        status["sourceTypes"] = json!(source_types);
    } else {
        status["sourceType"] = json!(source_types.first().copied().unwrap_or("Directory"));
    }
    // why an operation cannot load the project (getAppProj's error)
    let mut project_error: Option<String> = None;
    let mut project: Option<Project> = None;
    match project_obj {
        None => {
            conditions.push(condition(
                "InvalidSpecError",
                &format!("Application referencing project {project_name} which does not exist"),
            ));
            project_error = Some(format!("appproject.argoproj.io {project_name:?} not found"));
        }
        Some(o) => {
            let p = Project::from_object(&serde_json::to_value(o).map_err(|e| e.to_string())?);
            if !p.is_app_namespace_permitted(&ns, &shared.namespace) {
                let e = format!(
                    "application '{name}' in namespace '{ns}' is not permitted to use project '{}'",
                    p.name
                );
                conditions.push(condition("UnknownError", &e));
                project_error = Some(e);
            } else {
                project = Some(p);
            }
        }
    }
    let mut cluster: Option<(Cluster, Client)> = None;
    if let Some(p) = &project {
        if let Some(msg) = project::unsupported_message(p) {
            conditions.push(condition(project::UNSUPPORTED_CONDITION, &msg));
        }
        let (errors, resolved) = validate_permissions(&shared, &app, p).await?;
        if errors.is_empty()
            && let Some(c) = resolved
        {
            match shared.clusters.client(&c).await {
                Ok(client) => cluster = Some((c, client)),
                Err(msg) => conditions.push(condition(
                    "ComparisonError",
                    &format!("Failed to load live state: {msg}"),
                )),
            }
        }
        conditions.extend(errors);
    }
    // argocd-cm's ignoreDifferences; Argo CD compares nothing when they do not load
    let overrides = settings
        .overrides
        .as_ref()
        .map(|o| super::ignore::overrides_from(o, settings.compare_options.as_deref()))
        .map_err(String::clone);
    let mut next = shared.resync;
    let mut comparison = None;
    if let (Some((c, client)), Some(p), Some(checks), Ok(overrides)) =
        (&cluster, &project, &checks, &overrides)
    {
        match shared.render(&app, cluster.as_ref().expect("resolved")).await {
            Err(msg) => conditions.push(condition(
                "ComparisonError",
                &format!("Failed to load target state: {msg}"),
            )),
            Ok((revisions, objects, types)) => {
                if multi_source(&app) {
                    status["sourceTypes"] = json!(types);
                } else {
                    status["sourceType"] = json!(types.first().copied().unwrap_or("Directory"));
                }
                let normalizer = Normalizer::new(&super::ignore::Rule::of_app(&app), overrides);
                match shared
                    .compare(
                        &app, client, objects, revisions, tracking, p, c, normalizer, checks,
                    )
                    .await
                {
                    Err(msg) => conditions.push(condition("ComparisonError", &msg)),
                    Ok(c) => {
                        conditions.extend(c.conditions.iter().cloned());
                        comparison = Some(c);
                    }
                }
            }
        }
    }
    let namespace_metadata_changed = managed_namespace_metadata_changed(&app);
    match &comparison {
        Some(cmp) => {
            let a = assess(cmp, &app, namespace_metadata_changed);
            if let Some(e) = &a.health_error {
                conditions.push(condition("ComparisonError", e));
            }
            status["sync"] = json!({"status": a.sync, "comparedTo": compared_to});
            if multi_source(&app) {
                status["sync"]["revisions"] = json!(cmp.revisions);
            } else {
                status["sync"]["revision"] = json!(cmp.revisions.first());
            }
            let previous_health = status.pointer("/health/status").cloned();
            let transition = if previous_health == Some(json!(a.health.as_str())) {
                status
                    .pointer("/health/lastTransitionTime")
                    .cloned()
                    .unwrap_or(json!(now()))
            } else {
                json!(now())
            };
            status["health"] = json!({"status": a.health.as_str(), "lastTransitionTime": transition});
            status["resources"] = json!(a.resources);
            status["summary"] = if a.images.is_empty() {
                json!({})
            } else {
                json!({"images": a.images})
            };
            if a.health != Health::Healthy || a.sync != "Synced" {
                next = next.min(Duration::from_millis(500));
            }
        }
        None => {
            status["sync"] = json!({"status": "Unknown", "comparedTo": compared_to});
            status["health"] = json!({"status": "Unknown", "lastTransitionTime": now()});
            if let Some(prev) = app.pointer("/status/health").filter(|h| h["status"] == "Unknown") {
                status["health"]["lastTransitionTime"] = prev["lastTransitionTime"].clone();
            }
        }
    }
    // automated sync: sets the operation, as Argo CD's controller does
    let mut operation = app.get("operation").cloned().filter(|o| !o.is_null());
    if operation.is_none()
        && let Some(cmp) = &comparison
        && let Some(auto) = app
            .pointer("/spec/syncPolicy/automated")
            .filter(|a| a.get("enabled") != Some(&json!(false)))
        && status.pointer("/sync/status") == Some(&json!("OutOfSync"))
    {
        let prune = auto.get("prune") == Some(&json!(true));
        let self_heal = auto.get("selfHeal") == Some(&json!(true));
        let a = assess(cmp, &app, namespace_metadata_changed);
        let prune_only = a
            .resources
            .iter()
            .all(|r| r["status"] == "Synced" || r["requiresPruning"] == true);
        let last = app.pointer("/status/operationState");
        let last_revs: Vec<String> = if multi_source(&app) {
            last.map(|l| strings_at(l, "/syncResult/revisions"))
                .unwrap_or_default()
        } else {
            last.and_then(|l| l.pointer("/syncResult/revision"))
                .and_then(Value::as_str)
                .map(|r| vec![r.to_string()])
                .unwrap_or_default()
        };
        let attempted = last.is_some() && last_revs == cmp.revisions;
        let last_ok = last.and_then(|l| l.get("phase")) == Some(&json!("Succeeded"));
        if !prune_only || prune {
            if attempted && !last_ok {
                conditions.push(condition(
                    "SyncError",
                    &format!(
                        "Failed last sync attempt to [{}]: {}",
                        last_revs.join(" "),
                        last.and_then(|l| l["message"].as_str()).unwrap_or("")
                    ),
                ));
            } else if !attempted || self_heal {
                let mut op = json!({
                    "sync": {"revision": cmp.revisions.first(), "prune": prune, "syncOptions": app.pointer("/spec/syncPolicy/syncOptions")},
                    "initiatedBy": {"automated": true},
                    "retry": app.pointer("/spec/syncPolicy/retry").cloned().unwrap_or(json!({"limit": 5})),
                });
                if multi_source(&app) {
                    op["sync"]["revisions"] = json!(cmp.revisions);
                    op["sync"]["sources"] = app.pointer("/spec/sources").cloned().unwrap_or(Value::Null);
                } else {
                    op["sync"]["source"] = app.pointer("/spec/source").cloned().unwrap_or(Value::Null);
                }
                operation = Some(op);
            }
        }
    }
    // run the operation
    let mut clear_operation = false;
    // an operation kept for its next attempt is written back (automated ones were never stored)
    let mut keep_operation: Option<Value> = None;
    if let Some(op) = &operation {
        // an operation that failed and waits for its next attempt
        let previous = app
            .pointer("/status/operationState")
            .filter(|s| s["phase"] == "Running");
        let retry_count = previous.and_then(|s| s["retryCount"].as_i64()).unwrap_or(0);
        let mut started = now();
        if let Some(prev) = previous
            && let Some(finished) = prev["finishedAt"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        {
            let retry_at = next_retry_at(op, finished, retry_count);
            let wait = retry_at.as_millisecond() - jiff::Timestamp::now().as_millisecond();
            if wait > 0 {
                return Ok(Duration::from_millis(wait as u64));
            }
            started = prev["startedAt"].as_str().map(str::to_string).unwrap_or(started);
        }
        let mut running = json!({"operation": op, "phase": "Running", "startedAt": started});
        if retry_count > 0 {
            running["retryCount"] = json!(retry_count);
            running["message"] = json!(format!("Retrying operation. Attempt #{retry_count}"));
        }
        // a new state, not a merge with the last one
        for k in ["message", "syncResult", "finishedAt", "retryCount"] {
            if running.get(k).is_none() {
                running[k] = Value::Null;
            }
        }
        let _ = patch_app(&apps, &name, json!({"status": {"operationState": running}})).await;
        let apps2 = apps.clone();
        let name2 = name.clone();
        let op2 = op.clone();
        let started2 = started.clone();
        let progress = move |msg: String| -> futures::future::BoxFuture<'static, ()> {
            let apps = apps2.clone();
            let name = name2.clone();
            let state = json!({"operation": op2, "phase": "Running", "message": msg, "startedAt": started2});
            Box::pin(async move {
                let _ = patch_app(&apps, &name, json!({"status": {"operationState": state}})).await;
            })
        };
        let prune = op.pointer("/sync/prune") == Some(&json!(true));
        let opts = sync_options(&app);
        // SyncAppState's checks before it syncs, in its order
        let shared_resource = conditions
            .iter()
            .find(|c| c["type"] == "SharedResourceWarning")
            .and_then(|c| c["message"].as_str());
        let errors: Vec<String> = conditions
            .iter()
            .filter(|c| c["type"] == "ComparisonError" || c["type"] == "InvalidSpecError")
            .map(|c| {
                format!(
                    "{}: {}",
                    c["type"].as_str().unwrap_or(""),
                    c["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        let outcome = if let Some(e) = &project_error {
            SyncOutcome::new(
                "Error",
                format!("Failed to load application project: {e}"),
                vec![],
            )
        } else if let (true, Some(m)) = (has_option(&opts, "FailOnSharedResource"), shared_resource) {
            SyncOutcome::new("Failed", format!("Shared resource found: {m}"), vec![])
        } else if !errors.is_empty() {
            SyncOutcome::new("Error", errors.join(";"), vec![])
        } else if let Err(e) = &overrides {
            SyncOutcome::new("Error", format!("Failed to load resource overrides: {e}"), vec![])
        } else if let (Some(cmp), Some((c, client)), Some(p)) = (&comparison, &cluster, &project) {
            shared.sync(&app, client, cmp, prune, p, c, progress).await
        } else {
            SyncOutcome::new("Error", "the application could not be compared", vec![])
        };
        let revisions: Vec<String> = match &comparison {
            Some(cmp) => cmp.revisions.clone(),
            None if multi_source(&app) => strings_at(op, "/sync/revisions"),
            None => op
                .pointer("/sync/revision")
                .and_then(Value::as_str)
                .map(|r| vec![r.to_string()])
                .unwrap_or_default(),
        };
        let mut sync_result = json!({"resources": outcome.results});
        if multi_source(&app) {
            sync_result["revisions"] = json!(revisions);
            sync_result["sources"] = app.pointer("/spec/sources").cloned().unwrap_or(Value::Null);
        } else {
            sync_result["revision"] = json!(revisions.first());
            sync_result["source"] = app.pointer("/spec/source").cloned().unwrap_or(Value::Null);
        }
        if outcome.results.is_empty() {
            sync_result.as_object_mut().expect("object").remove("resources");
        }
        // the managed namespace's metadata as synced, to see when it changes
        if let Some(m) = app
            .pointer("/spec/syncPolicy/managedNamespaceMetadata")
            .filter(|m| m.is_object())
            .filter(|_| comparison.is_some() && errors.is_empty() && project_error.is_none())
        {
            sync_result["managedNamespaceMetadata"] = m.clone();
        }
        status["operationState"] = json!({
            "operation": op, "phase": outcome.phase, "message": outcome.message,
            "syncResult": sync_result, "startedAt": started, "finishedAt": now(),
        });
        if project_error.is_some() {
            // the project did not load: SyncAppState never ran
            status["operationState"]
                .as_object_mut()
                .expect("object")
                .remove("syncResult");
        }
        if retry_count > 0 {
            status["operationState"]["retryCount"] = json!(retry_count);
        }
        // failed operations are retried (automated syncs 5 times by default)
        let limit = op.pointer("/retry/limit").and_then(Value::as_i64).unwrap_or(0);
        let retrying = outcome.phase != "Succeeded" && (retry_count < limit || limit < 0);
        if outcome.phase != "Succeeded" && !retrying && retry_count > 0 {
            status["operationState"]["message"] =
                json!(format!("{} (retried {retry_count} times).", outcome.message));
        }
        if retrying {
            let finished = jiff::Timestamp::now();
            let retry_at = next_retry_at(op, finished, retry_count);
            let st = &mut status["operationState"];
            st["phase"] = json!("Running");
            st["retryCount"] = json!(retry_count + 1);
            st["message"] = json!(format!(
                "{}. Retrying attempt #{} at {}.",
                outcome.message,
                retry_count + 1,
                retry_at.strftime("%-I:%M%p")
            ));
        }
        if outcome.phase == "Succeeded" {
            let mut history = status
                .get("history")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let id = history
                .iter()
                .filter_map(|h| h["id"].as_i64())
                .max()
                .map(|m| m + 1)
                .unwrap_or(0);
            let mut entry = json!({"id": id, "deployedAt": now(), "deployStartedAt": started, "initiatedBy": op.get("initiatedBy").cloned().unwrap_or(json!({}))});
            if multi_source(&app) {
                entry["revisions"] = json!(revisions);
                entry["sources"] = app.pointer("/spec/sources").cloned().unwrap_or(Value::Null);
            } else {
                entry["revision"] = json!(revisions.first());
                entry["source"] = app.pointer("/spec/source").cloned().unwrap_or(Value::Null);
            }
            history.push(entry);
            let limit = app
                .pointer("/spec/revisionHistoryLimit")
                .and_then(Value::as_i64)
                .unwrap_or(10)
                .max(1) as usize;
            let skip = history.len().saturating_sub(limit);
            status["history"] = json!(history.into_iter().skip(skip).collect::<Vec<_>>());
        }
        clear_operation = !retrying;
        if retrying {
            keep_operation = Some(op.clone());
        }
        next = Duration::from_millis(50);
    }
    status["conditions"] = json!(merge_conditions(app.pointer("/status/conditions"), conditions));
    if status["conditions"].as_array().is_some_and(Vec::is_empty) {
        status.as_object_mut().expect("object").remove("conditions");
    }
    if status
        .pointer("/summary")
        .is_some_and(|s| s.as_object().is_some_and(|m| m.is_empty()))
    {
        status.as_object_mut().expect("object").remove("summary");
    }
    // write when something other than the timestamps changed, or the last write is old
    let mut previous = app.get("status").cloned().unwrap_or(json!({}));
    let mut candidate = status.clone();
    for s in [&mut previous, &mut candidate] {
        if let Some(m) = s.as_object_mut() {
            m.remove("reconciledAt");
            m.remove("observedAt");
        }
    }
    let stale = app
        .pointer("/status/reconciledAt")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_none_or(|t| {
            jiff::Timestamp::now().as_second() - t.as_second()
                >= shared.reconciliation_timeout.as_secs() as i64
        });
    let refresh = app
        .pointer(&format!(
            "/metadata/annotations/{}",
            REFRESH_ANNOTATION.replace('/', "~1")
        ))
        .is_some();
    if previous != candidate || stale || clear_operation || keep_operation.is_some() || refresh {
        status["reconciledAt"] = json!(now());
        // a merge patch: keys that went away are written as null
        let mut written = status.clone();
        for k in app
            .get("status")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if written.get(&k).is_none() {
                written[k] = Value::Null;
            }
        }
        if written.pointer("/summary/images").is_none() && app.pointer("/status/summary/images").is_some() {
            written["summary"] = json!({"images": null});
        }
        let mut patch = json!({"status": written});
        if clear_operation {
            patch["operation"] = Value::Null;
        }
        if let Some(op) = keep_operation {
            patch["operation"] = op;
        }
        if refresh {
            patch["metadata"] = json!({"annotations": {REFRESH_ANNOTATION: null}});
        }
        patch_app(&apps, &name, patch).await.map_err(|e| e.to_string())?;
    }
    Ok(next)
}

/// ValidatePermissions (util/argo/argo.go): the sources the project permits, the
/// destination resolved and permitted. Returns the InvalidSpecError conditions and the
/// cluster when it resolved.
async fn validate_permissions(
    shared: &Shared,
    app: &Value,
    project: &Project,
) -> Result<(Vec<Value>, Option<Cluster>), String> {
    let mut conditions = Vec::new();
    let not_permitted = |url: &str| {
        condition(
            "InvalidSpecError",
            &format!(
                "application repo {url} is not permitted in project '{}'",
                project.name
            ),
        )
    };
    let str_of = |s: &Value, k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if multi_source(app) {
        for src in sources(app) {
            if !str_of(&src, "chart").is_empty() && str_of(&src, "targetRevision").is_empty() {
                conditions.push(condition(
                    "InvalidSpecError",
                    "spec.source.targetRevision is required if the manifest source is a helm chart",
                ));
                return Ok((conditions, None));
            }
            if !project.is_source_permitted(&str_of(&src, "repoURL")) {
                conditions.push(not_permitted(&str_of(&src, "repoURL")));
            }
        }
    } else {
        let src = app.pointer("/spec/source").cloned().unwrap_or(json!({}));
        let url = str_of(&src, "repoURL");
        if url.is_empty() || (str_of(&src, "path").is_empty() && str_of(&src, "chart").is_empty()) {
            conditions.push(condition(
                "InvalidSpecError",
                "spec.source.repoURL and either spec.source.path or spec.source.chart are required",
            ));
            return Ok((conditions, None));
        }
        if !str_of(&src, "chart").is_empty() && str_of(&src, "targetRevision").is_empty() {
            conditions.push(condition(
                "InvalidSpecError",
                "spec.source.targetRevision is required if the manifest source is a helm chart",
            ));
            return Ok((conditions, None));
        }
        if !project.is_source_permitted(&url) {
            conditions.push(not_permitted(&url));
        }
    }
    let destination = app.pointer("/spec/destination").cloned().unwrap_or(json!({}));
    let cluster = match shared
        .clusters
        .resolve(&destination)
        .await
        .map_err(|e| e.to_string())?
    {
        Err(msg) => {
            conditions.push(condition("InvalidSpecError", &msg));
            return Ok((conditions, None));
        }
        Ok(c) => c,
    };
    let dest_ns = str_of(&destination, "namespace");
    if !project.is_destination_permitted(&cluster.server, &cluster.name, &dest_ns) {
        let server = if str_of(&destination, "name").is_empty() {
            &cluster.server
        } else {
            &cluster.name
        };
        conditions.push(condition(
            "InvalidSpecError",
            &format!(
                "application destination server '{server}' and namespace '{dest_ns}' do not match any of the allowed destinations in project '{}'",
                project.name
            ),
        ));
    }
    Ok((conditions, Some(cluster)))
}

/// HasChangedManagedNamespaceMetadata: the spec's managedNamespaceMetadata is not what the
/// last sync applied (maps compared as Argo CD stores them, empty ones left out).
fn managed_namespace_metadata_changed(app: &Value) -> bool {
    let Some(spec) = app
        .pointer("/spec/syncPolicy/managedNamespaceMetadata")
        .filter(|m| m.is_object())
    else {
        return false;
    };
    let Some(result) = app.pointer("/status/operationState/syncResult") else {
        return false;
    };
    let norm = |v: Option<&Value>| -> Option<Value> {
        let v = v.filter(|v| v.is_object())?;
        let mut out = serde_json::Map::new();
        for k in ["labels", "annotations"] {
            if let Some(m) = v.get(k).filter(|m| m.as_object().is_some_and(|m| !m.is_empty())) {
                out.insert(k.into(), m.clone());
            }
        }
        Some(Value::Object(out))
    };
    norm(Some(spec)) != norm(result.get("managedNamespaceMetadata"))
}

/// When a failed operation is tried again: `duration * factor^retries`, at most
/// `maxDuration` (Argo CD's defaults: 5s, 2, 3m).
fn next_retry_at(op: &Value, last: jiff::Timestamp, retries: i64) -> jiff::Timestamp {
    let parse = |p: &str, default: f64| {
        op.pointer(p)
            .and_then(Value::as_str)
            .and_then(|d| {
                hubspoke_kyverno::pattern::parse_duration(d)
                    .map(|ns| ns as f64 / 1e9)
                    .or_else(|| d.parse::<f64>().ok())
            })
            .unwrap_or(default)
    };
    let duration = parse("/retry/backoff/duration", 5.0);
    let max = parse("/retry/backoff/maxDuration", 180.0);
    let factor = op
        .pointer("/retry/backoff/factor")
        .and_then(Value::as_i64)
        .unwrap_or(2) as f64;
    let mut wait = duration * factor.powi(retries as i32);
    if max > 0.0 {
        wait = wait.min(max);
    }
    last + jiff::SignedDuration::from_millis((wait * 1000.0) as i64)
}

async fn patch_app(apps: &Api<DynamicObject>, name: &str, patch: Value) -> Result<(), kube::Error> {
    match apps
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletion with the resources finalizer: the managed resources go first.
async fn delete_app(
    shared: &Shared,
    apps: &Api<DynamicObject>,
    app: &Value,
    tracking: &TrackingSettings,
) -> Result<Duration, String> {
    let finalizers = strings_at(app, "/metadata/finalizers");
    let ours: Vec<&String> = finalizers
        .iter()
        .filter(|f| *f == FINALIZER || f.starts_with(&format!("{FINALIZER}/")))
        .collect();
    if ours.is_empty() {
        return Ok(Duration::from_secs(3600));
    }
    let name = app
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let instance = shared.instance_name(app);
    if let Ok(Ok(cluster)) = shared
        .clusters
        .resolve(app.pointer("/spec/destination").unwrap_or(&json!({})))
        .await
        && let Ok(client) = shared.clusters.client(&cluster).await
    {
        let mut remaining = 0;
        let mut cache = BTreeMap::new();
        for r in app
            .pointer("/status/resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let group = r["group"].as_str().unwrap_or("");
            let version = r["version"].as_str().unwrap_or("v1");
            let kind = r["kind"].as_str().unwrap_or("");
            let api_version = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            let Some((ar, caps)) = shared.discover(&client, &mut cache, &api_version, kind).await else {
                continue;
            };
            let api = dyn_api(
                &client,
                &ar,
                caps.scope == Scope::Namespaced,
                r["namespace"].as_str().unwrap_or(""),
            );
            let rname = r["name"].as_str().unwrap_or("");
            if let Ok(Some(o)) = api.get_opt(rname).await {
                let v = serde_json::to_value(&o).unwrap_or(Value::Null);
                // shouldBeDeleted: CRDs, Delete=false and helm.sh/resource-policy: keep stay
                let kept = (kind == "CustomResourceDefinition" && group == "apiextensions.k8s.io")
                    || has_annotation_option(&v, SYNC_OPTIONS, "Delete=false")
                    || has_annotation_option(&v, "helm.sh/resource-policy", "keep");
                if tracking.is_tracked_by(&v, &instance) && !kept {
                    remaining += 1;
                    if o.metadata.deletion_timestamp.is_none() {
                        let _ = api.delete(rname, &DeleteParams::foreground()).await;
                    }
                }
            }
        }
        if remaining > 0 {
            return Ok(Duration::from_millis(200));
        }
    }
    let keep: Vec<&String> = finalizers.iter().filter(|f| !ours.contains(f)).collect();
    let patch = json!({"metadata": {"finalizers": keep, "resourceVersion": app.pointer("/metadata/resourceVersion")}});
    match apps
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) | Err(kube::Error::Api(_)) => Ok(Duration::from_secs(3600)),
        Err(e) => Err(e.to_string()),
    }
}

//! PolicyReports, as Kyverno's reports controller writes them: one report per resource
//! (named by its uid, owned by it), results from admission and from background scans
//! merged by policy and rule (the newest wins), results of policies that are gone dropped.
//! Background scans evaluate the validate rules of `background: true` policies on the
//! resources that exist, when a policy or exception changes, when a resource changes, and
//! every `--backgroundScanInterval`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hubspoke_kyverno::engine::{RuleResult, Status};
use hubspoke_kyverno::policy::{Policy, RuleKind};
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch};
use kube::core::ApiResource;
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::admission::PolicyResults;
use super::{Engine, apply_params};
use crate::standins::api_resource;

/// The resource a report is about.
#[derive(Clone, Debug)]
struct Target {
    group: String,
    version: String,
    kind: String,
    plural: String,
    name: String,
    namespace: String,
}

impl Target {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// One report result (Kyverno's `ToPolicyReportResult`).
fn result_json(policy: &Policy, r: &RuleResult, now: i64) -> Value {
    let ann = |k: &str| {
        policy
            .annotations
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let scored = ann("policies.kyverno.io/scored") != "false";
    let mut properties: serde_json::Map<String, Value> =
        r.properties.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    // Kyverno names the process by the policy's settings, not by where the result came from
    properties.insert(
        "process".into(),
        json!(if policy.background {
            "background scan"
        } else {
            "admission review"
        }),
    );
    let status = if r.status == Status::Fail && !scored {
        Status::Warn
    } else {
        r.status
    };
    let mut res = json!({
        "source": "kyverno",
        "policy": policy.key(),
        "rule": r.rule,
        "message": r.message,
        "properties": properties,
        "result": status.as_str(),
        "scored": scored,
        "timestamp": {"seconds": now, "nanos": 0},
    });
    let category = ann("policies.kyverno.io/category");
    if !category.is_empty() {
        res["category"] = json!(category);
    }
    let severity = ann("policies.kyverno.io/severity");
    if matches!(severity.as_str(), "critical" | "high" | "medium" | "low" | "info") {
        res["severity"] = json!(severity);
    }
    res
}

/// A report's summary: how many results of each kind.
fn summary(results: &[Value]) -> Value {
    let count = |s: &str| results.iter().filter(|r| r["result"] == s).count();
    json!({"pass": count("pass"), "fail": count("fail"), "warn": count("warn"), "error": count("error"), "skip": count("skip")})
}

/// Is a result's policy loaded and does it still have the result's rule?
fn is_live(live: &BTreeMap<String, BTreeSet<String>>, result: &Value) -> bool {
    live.get(result["policy"].as_str().unwrap_or(""))
        .is_some_and(|rules| rules.contains(result["rule"].as_str().unwrap_or("")))
}

impl Engine {
    /// The rule names (autogen ones included) of every loaded policy, by policy key.
    fn live_rules(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.loaded()
            .iter()
            .map(|p| (p.key(), p.rules.iter().map(|r| r.name.clone()).collect()))
            .collect()
    }

    /// Reports admission results once the resource exists (not for dry runs, DELETEs or
    /// subresources).
    pub(super) fn report_admission(self: &Arc<Self>, req: &Value, all: Vec<PolicyResults>) {
        let s = |p: &str| req.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let dry_run = req.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
        if dry_run
            || !matches!(s("/operation").as_str(), "CREATE" | "UPDATE")
            || !s("/subResource").is_empty()
            || all.is_empty()
        {
            return;
        }
        let object = req.get("object").cloned().unwrap_or(Value::Null);
        let meta = |f: &str| {
            object
                .pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut name = meta("name");
        if name.is_empty() {
            name = s("/name");
        }
        let target = Target {
            group: s("/kind/group"),
            version: s("/kind/version"),
            kind: s("/kind/kind"),
            plural: s("/resource/resource"),
            name,
            namespace: meta("namespace"),
        };
        let engine = self.clone();
        tokio::spawn(async move {
            let resource_api = engine.target_api(&target);
            // the object is stored after admission: wait for it (give up after 10 s)
            let mut stored = None;
            for _ in 0..100 {
                match resource_api.get_opt(&target.name).await {
                    Ok(Some(o)) => {
                        stored = Some(o);
                        break;
                    }
                    Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(_) => return,
                }
            }
            let Some(stored) = stored else { return };
            if let Err(e) = engine
                .merge_report(&target, &stored.uid().unwrap_or_default(), &all)
                .await
            {
                tracing::warn!(error = %e, "Kyverno stand-in: writing a policy report failed");
            }
        });
    }

    fn target_api(&self, t: &Target) -> Api<DynamicObject> {
        let ar = api_resource(&t.group, &t.version, &t.kind, &t.plural);
        if t.namespace.is_empty() {
            Api::all_with(self.client.clone(), &ar)
        } else {
            Api::namespaced_with(self.client.clone(), &t.namespace, &ar)
        }
    }

    /// Merges results into the resource's report: a policy's rule result replaces the one
    /// before it; results of policies no longer loaded are dropped.
    async fn merge_report(&self, t: &Target, uid: &str, all: &[PolicyResults]) -> Result<(), kube::Error> {
        let api_version = t.api_version();
        let mut scope = json!({"apiVersion": api_version, "kind": t.kind, "name": t.name, "uid": uid});
        if !t.namespace.is_empty() {
            scope["namespace"] = json!(t.namespace);
        }
        let (report_ar, report_api) = if t.namespace.is_empty() {
            let ar = api_resource(
                "wgpolicyk8s.io",
                "v1alpha2",
                "ClusterPolicyReport",
                "clusterpolicyreports",
            );
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            (ar, api)
        } else {
            let ar = api_resource("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports");
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &t.namespace, &ar);
            (ar, api)
        };
        let now = jiff::Timestamp::now().as_second();
        let live = self.live_rules();
        let existing = report_api.get_opt(uid).await?;
        let mut results: Vec<Value> = existing
            .as_ref()
            .and_then(|e| e.data["results"].as_array().cloned())
            .unwrap_or_default();
        for pr in all {
            let key = pr.policy.key();
            for r in &pr.results {
                results.retain(|x| !(x["policy"] == key.as_str() && x["rule"] == r.rule.as_str()));
                results.push(result_json(&pr.policy, r, now));
            }
        }
        results.retain(|x| is_live(&live, x));
        results.sort_by(|a, b| {
            (a["policy"].as_str(), a["rule"].as_str()).cmp(&(b["policy"].as_str(), b["rule"].as_str()))
        });
        if existing.is_some_and(|e| e.data["results"] == json!(results)) {
            return Ok(());
        }
        let summary = summary(&results);
        let mut metadata = json!({
            "name": uid,
            "labels": {"app.kubernetes.io/managed-by": "kyverno"},
            "ownerReferences": [{"apiVersion": api_version, "kind": t.kind, "name": t.name, "uid": uid}],
        });
        if !t.namespace.is_empty() {
            metadata["namespace"] = json!(t.namespace);
        }
        let report = json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2",
            "kind": report_ar.kind,
            "metadata": metadata,
            "scope": scope,
            "summary": summary,
            "results": results,
        });
        match report_api
            .patch(uid, &apply_params(), &Patch::Apply(&report))
            .await
        {
            Ok(_) => Ok(()),
            // the resource went away meanwhile
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Drops, from every report, the results of policies (or rules) that are gone, as
    /// Kyverno's aggregation keeps only results whose policy and rule still exist.
    async fn prune_reports(&self) {
        let live = self.live_rules();
        for (kind, plural) in [
            ("PolicyReport", "policyreports"),
            ("ClusterPolicyReport", "clusterpolicyreports"),
        ] {
            let ar = api_resource("wgpolicyk8s.io", "v1alpha2", kind, plural);
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            let lp = kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=kyverno");
            let Ok(list) = api.list(&lp).await else { continue };
            for report in list.items {
                let results = report.data["results"].as_array().cloned().unwrap_or_default();
                let kept: Vec<Value> = results.iter().filter(|x| is_live(&live, x)).cloned().collect();
                if kept.len() == results.len() {
                    continue;
                }
                let patch = json!({"summary": summary(&kept), "results": kept});
                let scoped: Api<DynamicObject> = match report.namespace() {
                    Some(ns) => Api::namespaced_with(self.client.clone(), &ns, &ar),
                    None => Api::all_with(self.client.clone(), &ar),
                };
                let _ = scoped
                    .patch(
                        &report.name_any(),
                        &kube::api::PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await;
            }
        }
    }

    /// The kinds background policies' validate rules match, as API resources.
    async fn background_kinds(&self) -> Vec<(ApiResource, bool)> {
        let selectors: Vec<(String, String, String)> = self
            .loaded()
            .iter()
            .filter(|p| p.background)
            .flat_map(|p| {
                p.rules
                    .iter()
                    .filter(|r| r.kind == RuleKind::Validate)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .flat_map(|r| {
                let m = r.match_.clone();
                let mut out = Vec::new();
                for f in std::iter::once(&m)
                    .chain(m.get("any").and_then(Value::as_array).into_iter().flatten())
                    .chain(m.get("all").and_then(Value::as_array).into_iter().flatten())
                {
                    for k in f
                        .pointer("/resources/kinds")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let (g, v, kind, sub) =
                            hubspoke_kyverno::policy::parse_kind_selector(k.as_str().unwrap_or(""));
                        if sub.is_empty() {
                            out.push((g, v, kind));
                        }
                    }
                }
                out
            })
            .collect();
        if selectors.is_empty() {
            return vec![];
        }
        let Ok(discovery) = kube::discovery::Discovery::new(self.client.clone()).run().await else {
            return vec![];
        };
        let mut out = Vec::new();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if selectors.iter().any(|(g, v, k)| {
                    hubspoke_kyverno::pattern::wildcard_match(g, &ar.group)
                        && hubspoke_kyverno::pattern::wildcard_match(v, &ar.version)
                        && hubspoke_kyverno::pattern::wildcard_match(k, &ar.kind)
                }) && caps.supports_operation(kube::discovery::verbs::WATCH)
                {
                    out.push((ar, caps.scope == kube::discovery::Scope::Namespaced));
                }
            }
        }
        out
    }

    /// Evaluates the background policies on one object and reports the results.
    async fn scan(
        self: &Arc<Self>,
        ar: &ApiResource,
        obj: DynamicObject,
        ns_labels: &mut HashMap<String, (Value, Value)>,
    ) {
        let ns = obj.namespace().unwrap_or_default();
        if !ns_labels.contains_key(&ns) {
            let found = self.namespace(&ns).await;
            ns_labels.insert(ns.clone(), found);
        }
        let (ns_object, labels) = ns_labels[&ns].clone();
        let policies: Vec<Policy> = self
            .loaded()
            .into_iter()
            .filter(|p| p.background && p.validates())
            .filter(|p| p.namespace.as_deref().is_none_or(|pns| pns == ns))
            .collect();
        let exceptions: Vec<_> = self
            .exceptions
            .read()
            .expect("exception lock")
            .iter()
            .filter(|e| e.background)
            .cloned()
            .collect();
        let Ok(object) = serde_json::to_value(&obj) else {
            return;
        };
        let admission = json!({
            "operation": "CREATE",
            "kind": {"group": ar.group, "version": ar.version, "kind": ar.kind},
            "resource": {"group": ar.group, "version": ar.version, "resource": ar.plural},
            "namespace": ns,
            "name": obj.name_any(),
            "object": object,
        });
        let all = self
            .validate_all(policies, admission, (ns_object, labels), exceptions)
            .await;
        let target = Target {
            group: ar.group.clone(),
            version: ar.version.clone(),
            kind: ar.kind.clone(),
            plural: ar.plural.clone(),
            name: obj.name_any(),
            namespace: ns,
        };
        if let Err(e) = self
            .merge_report(&target, &obj.uid().unwrap_or_default(), &all)
            .await
        {
            tracing::warn!(error = %e, "Kyverno stand-in: writing a background scan report failed");
        }
    }
}

/// What a scan of an object depends on: the object without its bookkeeping.
fn object_hash(obj: &DynamicObject) -> u64 {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["resourceVersion", "managedFields", "generation"] {
            m.remove(k);
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

/// The background scanner: rescans everything when the policies or exceptions change
/// (`generation` moves) and every `interval`, and each object when it changes.
pub(super) async fn background(
    engine: Arc<Engine>,
    mut generation: tokio::sync::watch::Receiver<u64>,
    interval: Duration,
) {
    loop {
        engine.prune_reports().await;
        let kinds = engine.background_kinds().await;
        let streams = kinds.into_iter().map(|(ar, _)| {
            let api: Api<DynamicObject> = Api::all_with(engine.client.clone(), &ar);
            kube::runtime::WatchStreamExt::default_backoff(watcher(api, watcher::Config::default()))
                .map(move |e| (ar.clone(), e))
                .boxed()
        });
        let mut events = futures::stream::select_all(streams);
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut ns_labels: HashMap<String, (Value, Value)> = HashMap::new();
        let tick = tokio::time::sleep(interval);
        tokio::pin!(tick);
        let mut idle = events.is_empty();
        loop {
            tokio::select! {
                changed = generation.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                _ = &mut tick => break,
                ev = events.next(), if !idle => match ev {
                    None => idle = true,
                    Some((ar, Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)))) => {
                        let uid = obj.uid().unwrap_or_default();
                        let h = object_hash(&obj);
                        if seen.insert(uid, h) != Some(h) {
                            engine.scan(&ar, obj, &mut ns_labels).await;
                        }
                    }
                    Some((_, Ok(watcher::Event::Init))) => ns_labels.clear(),
                    Some((_, Ok(watcher::Event::Delete(obj)))) => {
                        seen.remove(&obj.uid().unwrap_or_default());
                    }
                    Some(_) => {}
                },
            }
        }
    }
}

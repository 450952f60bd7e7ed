//! Progressive syncs (`strategy: RollingSync`) as applicationset_controller.go v3.2.0 runs
//! them when `applicationsetcontroller.enable.progressive.syncs` is true: Applications
//! grouped into steps by their labels, `status.applicationStatus` moved through Waiting,
//! Pending, Progressing and Healthy with Argo CD's messages, at most `maxUpdate` of a step
//! updating at once, the next step released when every Application of the previous one is
//! Healthy, automated sync taken off the generated Applications and syncs triggered by
//! setting their `operation`, and the RolloutProgressing condition.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// One `status.applicationStatus` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct AppStatus {
    pub application: String,
    pub last_transition_time: String,
    pub message: String,
    pub status: String,
    pub step: String,
    pub target_revisions: Vec<String>,
}

impl AppStatus {
    pub fn from_json(v: &Value) -> AppStatus {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        AppStatus {
            application: s("application"),
            last_transition_time: s("lastTransitionTime"),
            message: s("message"),
            status: s("status"),
            step: s("step"),
            target_revisions: v
                .get("targetRevisions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "application": self.application,
            "lastTransitionTime": self.last_transition_time,
            "message": self.message,
            "status": self.status,
            "step": self.step,
            "targetRevisions": self.target_revisions,
        })
    }
}

/// `isRollingSyncStrategy`: the type says RollingSync and `rollingSync` is set.
pub fn is_rolling_sync(spec: &Value) -> bool {
    spec.pointer("/strategy/type") == Some(&json!("RollingSync"))
        && spec
            .pointer("/strategy/rollingSync")
            .is_some_and(|v| !v.is_null())
}

fn steps(spec: &Value) -> &[Value] {
    spec.pointer("/strategy/rollingSync/steps")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `progressiveSyncsRollingSyncStrategyEnabled`: RollingSync with steps.
pub fn rolling_sync_enabled(spec: &Value) -> bool {
    is_rolling_sync(spec) && !steps(spec).is_empty()
}

fn name(app: &Value) -> &str {
    crate::meta::name(app)
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// `isApplicationHealthy`.
fn healthy(app: &Value) -> bool {
    str_at(app, "/status/health/status") == "Healthy"
        && str_at(app, "/status/sync/status") != "OutOfSync"
        && matches!(str_at(app, "/status/operationState/phase"), "Succeeded" | "")
}

/// `ApplicationStatus.GetRevisions`.
fn revisions(app: &Value) -> Vec<String> {
    let many: Vec<String> = app
        .pointer("/status/sync/revisions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    if !many.is_empty() {
        return many;
    }
    match str_at(app, "/status/sync/revision") {
        "" => vec![],
        r => vec![r.to_string()],
    }
}

/// `buildAppDependencyList`: the Applications of each step (selected by their labels) and
/// each Application's first step.
pub fn dependency_list(spec: &Value, apps: &[Value]) -> (Vec<Vec<String>>, BTreeMap<String, usize>) {
    if !is_rolling_sync(spec) {
        return (vec![], BTreeMap::new());
    }
    let steps = if rolling_sync_enabled(spec) {
        steps(spec)
    } else {
        &[]
    };
    let mut list = vec![Vec::new(); steps.len()];
    let mut step_of = BTreeMap::new();
    for app in apps {
        for (i, step) in steps.iter().enumerate() {
            let mut selected = true;
            for e in step
                .get("matchExpressions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let op = e.get("operator").and_then(Value::as_str).unwrap_or_default();
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                match app
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(key))
                    .and_then(Value::as_str)
                {
                    Some(val) => {
                        // labelMatchedExpression: In and NotIn only
                        let matched = match op {
                            "In" => values.contains(&val),
                            "NotIn" => !values.contains(&val),
                            _ => false,
                        };
                        if !matched {
                            selected = false;
                            break;
                        }
                    }
                    None if op == "In" => {
                        selected = false;
                        break;
                    }
                    None => {}
                }
            }
            if selected {
                list[i].push(name(app).to_string());
                step_of.entry(name(app).to_string()).or_insert(i);
            }
        }
    }
    (list, step_of)
}

fn step_label(app: &str, step_of: &BTreeMap<String, usize>) -> String {
    step_of
        .get(app)
        .map(|i| (i + 1).to_string())
        .unwrap_or_else(|| "-1".into())
}

/// `setAppSetApplicationStatus`: the new entries replace the old (sorted by Application)
/// when their number, or an entry's status, step or message, changed; otherwise the old
/// ones stay as they are.
pub fn set_statuses(current: &mut Vec<AppStatus>, new: Vec<AppStatus>) {
    let changed = new.len() != current.len()
        || new.iter().any(|n| {
            current
                .iter()
                .find(|c| c.application == n.application)
                .is_none_or(|c| c.status != n.status || c.step != n.step || c.message != n.message)
        });
    if changed {
        let mut new = new;
        new.sort_by(|a, b| a.application.cmp(&b.application));
        *current = new;
    }
}

/// `updateApplicationSetApplicationStatus`: each live Application's entry moved on by what
/// the Application shows.
fn update_statuses(
    spec: &Value,
    statuses: &[AppStatus],
    apps: &[Value],
    step_of: &BTreeMap<String, usize>,
    now: &str,
) -> Vec<AppStatus> {
    let enabled = rolling_sync_enabled(spec);
    apps.iter()
        .map(|app| {
            let n = name(app);
            let health = str_at(app, "/status/health/status");
            let sync = str_at(app, "/status/sync/status");
            let phase = str_at(app, "/status/operationState/phase");
            let revs = revisions(app);
            let step = step_label(n, step_of);
            let mut s = match statuses.iter().find(|s| s.application == n) {
                None => AppStatus {
                    application: n.to_string(),
                    last_transition_time: now.to_string(),
                    message: "No Application status found, defaulting status to Waiting.".into(),
                    status: "Waiting".into(),
                    step: step.clone(),
                    // nil: never equal to the revisions, so set below
                    target_revisions: vec!["\0".into()],
                },
                Some(s) => {
                    let mut s = s.clone();
                    if s.target_revisions != revs {
                        s.message = "Application has pending changes, setting status to Waiting.".into();
                    }
                    s
                }
            };
            if s.target_revisions != revs {
                s.target_revisions = revs;
                s.status = "Waiting".into();
                s.last_transition_time = now.into();
                s.step = step.clone();
            }
            let outdated = enabled && sync == "OutOfSync";
            if outdated && s.status != "Waiting" && s.status != "Pending" {
                s.last_transition_time = now.into();
                s.status = "Waiting".into();
                s.message = "Application has pending changes, setting status to Waiting.".into();
                s.step = step.clone();
            }
            if s.status == "Pending" {
                if !outdated && phase == "Succeeded" {
                    s.last_transition_time = now.into();
                    s.status = "Progressing".into();
                    s.message = "Application resource completed a sync successfully, updating status from Pending to Progressing.".into();
                    s.step = step.clone();
                } else if phase == "Running" || health == "Progressing" {
                    s.last_transition_time = now.into();
                    s.status = "Progressing".into();
                    s.message =
                        "Application resource became Progressing, updating status from Pending to Progressing.".into();
                    s.step = step.clone();
                }
            }
            if s.status == "Waiting" && healthy(app) {
                s.last_transition_time = now.into();
                s.status = health.into();
                s.message = "Application resource is already Healthy, updating status from Waiting to Healthy.".into();
                s.step = step.clone();
            }
            if s.status == "Progressing" && healthy(app) {
                s.last_transition_time = now.into();
                s.status = health.into();
                s.message = "Application resource became Healthy, updating status from Progressing to Healthy.".into();
                s.step = step;
            }
            s
        })
        .collect()
}

/// `buildAppSyncMap`: the Applications of every Healthy step and of the first step that is
/// not may sync; later steps wait.
fn sync_map(
    deps: &[Vec<String>],
    statuses: &[AppStatus],
    apps: &BTreeMap<String, Value>,
) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let mut enabled = true;
    for step in deps {
        for app in step {
            out.insert(app.clone(), enabled);
        }
        for app in step {
            let Some(s) = statuses.iter().find(|s| &s.application == app) else {
                enabled = false;
                break;
            };
            let Some(live) = apps.get(app) else {
                enabled = false;
                break;
            };
            enabled = healthy(live) && s.status == "Healthy";
            if !enabled {
                break;
            }
        }
    }
    out
}

/// `intstr.GetScaledValueFromIntOrPercent(v, total, false)`; a string that is not a
/// percentage gives 0 (Argo CD logs the error and goes on).
fn scaled(v: &Value, total: usize) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or_default(),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map(|p| ((p as f64) * (total as f64) / 100.0).floor() as i64)
            .unwrap_or_default(),
        _ => 0,
    }
}

/// `updateApplicationSetApplicationStatusProgress`: Waiting entries that may sync become
/// Pending, at most `maxUpdate` of a step Pending or Progressing at once.
fn update_progress(
    spec: &Value,
    statuses: &[AppStatus],
    may_sync: &BTreeMap<String, bool>,
    step_of: &BTreeMap<String, usize>,
    now: &str,
) -> Vec<AppStatus> {
    if !rolling_sync_enabled(spec) {
        return vec![];
    }
    let steps = steps(spec);
    // an Application in no step counts in the first (Go's zero value for a missing key)
    let idx = |app: &str| step_of.get(app).copied().unwrap_or(0);
    let mut updating = vec![0i64; steps.len()];
    let mut total = vec![0usize; steps.len()];
    for s in statuses {
        total[idx(&s.application)] += 1;
        if s.status == "Pending" || s.status == "Progressing" {
            updating[idx(&s.application)] += 1;
        }
    }
    statuses
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let i = idx(&s.application);
            let mut allowed = true;
            if let Some(max) = steps[i].get("maxUpdate").filter(|v| !v.is_null()) {
                let mut value = scaled(max, total[i]);
                if max.as_str().is_some_and(|m| m != "0%") && value < 1 {
                    value = 1;
                }
                if updating[i] >= value {
                    allowed = false;
                }
            }
            if s.status == "Waiting" && may_sync.get(&s.application) == Some(&true) && allowed {
                s.last_transition_time = now.into();
                s.status = "Pending".into();
                s.message =
                    "Application moved to Pending status, watching for the Application resource to start Progressing."
                        .into();
                s.step = step_label(&s.application, step_of);
                updating[i] += 1;
            }
            s
        })
        .collect()
}

/// `updateApplicationSetApplicationStatusConditions`: the RolloutProgressing condition
/// (status, reason, message) from the entries.
fn rollout_condition(spec: &Value, statuses: &[AppStatus]) -> (&'static str, &'static str, String) {
    let mut completed: BTreeMap<&str, bool> = BTreeMap::new();
    for s in statuses {
        let healthy = s.status == "Healthy";
        completed
            .entry(s.step.as_str())
            .and_modify(|c| *c = *c && healthy)
            .or_insert(healthy);
    }
    for i in 0..steps(spec).len() {
        let step = (i + 1).to_string();
        if completed.get(step.as_str()) == Some(&false) {
            return (
                "True",
                "ApplicationSetModified",
                format!("ApplicationSet is performing rollout of step {step}"),
            );
        }
    }
    (
        "False",
        "ApplicationSetRolloutComplete",
        "ApplicationSet Rollout has completed".into(),
    )
}

/// What one progressive sync pass decided.
pub struct Progress {
    /// Which Applications may sync now.
    pub may_sync: BTreeMap<String, bool>,
    /// The RolloutProgressing condition: status, reason, message.
    pub condition: (&'static str, &'static str, String),
}

/// `performProgressiveSyncs`: entries updated from the live Applications (`statuses` in
/// place), steps computed from the generated ones.
pub fn perform(
    spec: &Value,
    statuses: &mut Vec<AppStatus>,
    live: &[Value],
    generated: &[Value],
    now: &str,
) -> Progress {
    let (deps, step_of) = dependency_list(spec, generated);
    let next = update_statuses(spec, statuses, live, &step_of, now);
    set_statuses(statuses, next);
    let by_name: BTreeMap<String, Value> = live.iter().map(|a| (name(a).to_string(), a.clone())).collect();
    let may_sync = sync_map(&deps, statuses, &by_name);
    let next = update_progress(spec, statuses, &may_sync, &step_of, now);
    set_statuses(statuses, next);
    Progress {
        may_sync,
        condition: rollout_condition(spec, statuses),
    }
}

/// `syncValidApplications`: automated sync taken off each generated Application (the
/// controller syncs them itself), and a sync operation set on those that may sync, are
/// Pending and OutOfSync.
pub fn sync_valid_applications(
    apps: &mut [Value],
    statuses: &[AppStatus],
    may_sync: &BTreeMap<String, bool>,
    live: &[Value],
) {
    for app in apps.iter_mut() {
        let mut prune = false;
        let automated = app.pointer("/spec/syncPolicy/automated").filter(|a| !a.is_null());
        if let Some(a) = automated
            && a.get("enabled").is_none_or(|e| e.is_null() || e == &json!(true))
        {
            prune = a.get("prune") == Some(&json!(true));
            if let Some(p) = app.pointer_mut("/spec/syncPolicy").and_then(Value::as_object_mut) {
                p.remove("automated");
            }
        }
        let n = name(app).to_string();
        let pending = statuses
            .iter()
            .any(|s| s.application == n && s.status == "Pending");
        let out_of_sync = live
            .iter()
            .find(|a| name(a) == n)
            .is_some_and(|a| str_at(a, "/status/sync/status") == "OutOfSync");
        if may_sync.get(&n) == Some(&true) && out_of_sync && pending {
            let mut op = json!({
                "initiatedBy": {"username": "applicationset-controller", "automated": true},
                "info": [{"name": "Reason", "value": "ApplicationSet RollingSync triggered a sync of this Application resource"}],
                "sync": {},
                "retry": {"limit": 5},
            });
            if let Some(policy) = app.pointer("/spec/syncPolicy").filter(|p| !p.is_null()) {
                if let Some(retry) = policy.get("retry").filter(|r| !r.is_null()) {
                    op["retry"] = retry.clone();
                }
                if let Some(opts) = policy.get("syncOptions").filter(|o| !o.is_null()) {
                    op["sync"]["syncOptions"] = opts.clone();
                }
                if prune {
                    op["sync"]["prune"] = json!(true);
                }
            }
            app["operation"] = op;
        }
    }
}

/// `env.ParseBoolFromEnv` over the ConfigMap value (strconv.ParseBool; anything else is
/// the default, false).
pub fn parse_bool(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "t" | "T" | "TRUE" | "true" | "True"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, env: &str, health: &str, sync: &str, rev: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"env": env}},
            "spec": {"syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}},
            "status": {"health": {"status": health}, "sync": {"status": sync, "revision": rev}}})
    }

    fn spec(max_update: Value) -> Value {
        json!({"strategy": {"type": "RollingSync", "rollingSync": {"steps": [
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}], "maxUpdate": max_update},
        ]}}})
    }

    #[test]
    fn steps_roll_out_one_after_the_other() {
        let spec = spec(json!(1));
        let mut live = vec![
            app("dev-a", "dev", "Missing", "OutOfSync", "abc"),
            app("prod-a", "prod", "Missing", "OutOfSync", "abc"),
            app("prod-b", "prod", "Missing", "OutOfSync", "abc"),
            app("other", "qa", "Missing", "OutOfSync", "abc"),
        ];
        let mut statuses = Vec::new();
        // first pass: everything Waiting, then step 1 Pending and synced
        let p = perform(&spec, &mut statuses, &live, &live, "t1");
        let st: Vec<(&str, &str, &str)> = statuses
            .iter()
            .map(|s| (s.application.as_str(), s.status.as_str(), s.step.as_str()))
            .collect();
        assert_eq!(
            st,
            [
                ("dev-a", "Pending", "1"),
                ("other", "Waiting", "-1"),
                ("prod-a", "Waiting", "2"),
                ("prod-b", "Waiting", "2")
            ]
        );
        assert_eq!(
            statuses[0].message,
            "Application moved to Pending status, watching for the Application resource to start Progressing."
        );
        assert_eq!(
            statuses[1].message,
            "No Application status found, defaulting status to Waiting."
        );
        assert_eq!(statuses[1].target_revisions, ["abc"]);
        assert_eq!(
            p.condition,
            (
                "True",
                "ApplicationSetModified",
                "ApplicationSet is performing rollout of step 1".into()
            )
        );
        let mut generated = live.clone();
        sync_valid_applications(&mut generated, &statuses, &p.may_sync, &live);
        assert_eq!(
            generated[0]["operation"],
            json!({"initiatedBy": {"username": "applicationset-controller", "automated": true},
                "info": [{"name": "Reason", "value": "ApplicationSet RollingSync triggered a sync of this Application resource"}],
                "sync": {"syncOptions": ["CreateNamespace=true"], "prune": true}, "retry": {"limit": 5}})
        );
        assert!(generated[1].get("operation").is_none());
        assert!(
            generated
                .iter()
                .all(|a| a.pointer("/spec/syncPolicy/automated").is_none())
        );
        // dev-a synced and healthy: Healthy, and one of step 2 (maxUpdate 1) goes Pending
        live[0] = app("dev-a", "dev", "Healthy", "Synced", "abc");
        live[0]["status"]["operationState"] = json!({"phase": "Succeeded"});
        perform(&spec, &mut statuses, &live, &live, "t2");
        perform(&spec, &mut statuses, &live, &live, "t3");
        let st: Vec<(&str, &str)> = statuses
            .iter()
            .map(|s| (s.application.as_str(), s.status.as_str()))
            .collect();
        assert_eq!(
            st,
            [
                ("dev-a", "Healthy"),
                ("other", "Waiting"),
                ("prod-a", "Pending"),
                ("prod-b", "Waiting")
            ]
        );
        // Pending, then Progressing (the sync succeeded), then Healthy, in one pass
        assert_eq!(
            statuses[0].message,
            "Application resource became Healthy, updating status from Progressing to Healthy."
        );
        assert_eq!(
            rollout_condition(&spec, &statuses).2,
            "ApplicationSet is performing rollout of step 2"
        );
        // a percentage of a step: 50% of 2 is 1
        let mut statuses = Vec::new();
        let spec = super::tests::spec(json!("50%"));
        live[0]["status"]["sync"]["status"] = json!("Synced");
        perform(&spec, &mut statuses, &live, &live, "t1");
        perform(&spec, &mut statuses, &live, &live, "t2");
        assert_eq!(
            statuses.iter().filter(|s| s.status == "Pending").count(),
            1,
            "{statuses:?}"
        );
    }

    #[test]
    fn the_rollout_completes_when_every_step_is_healthy() {
        let spec = spec(json!(null));
        let statuses = vec![AppStatus {
            application: "a".into(),
            last_transition_time: "t".into(),
            message: String::new(),
            status: "Healthy".into(),
            step: "1".into(),
            target_revisions: vec![],
        }];
        assert_eq!(
            rollout_condition(&spec, &statuses),
            (
                "False",
                "ApplicationSetRolloutComplete",
                "ApplicationSet Rollout has completed".into()
            )
        );
        assert!(
            parse_bool(Some("true"))
                && parse_bool(Some("1"))
                && !parse_bool(Some("yes"))
                && !parse_bool(None)
        );
    }
}

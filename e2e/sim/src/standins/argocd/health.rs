//! Resource health as Argo CD 3.2 assesses it (gitops-engine pkg/health GetResourceHealth
//! with Argo CD's util/lua health overrides, and controller/health.go for the Application):
//! 1. an object being deleted (without the hook finalizer) is Progressing, "Pending deletion";
//! 2. a custom Lua check from `argocd-cm`: the override under the exact `<group>/<Kind>` key
//!    with a non-empty script, else the first wildcard key matching it (keys in order here;
//!    Argo CD walks a Go map, so which of several matching wildcards wins is unspecified);
//! 3. the Lua check Argo CD ships for the kind ([`super::customizations`]);
//! 4. gitops-engine's Go checks (Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod,
//!    Service, Ingress, PersistentVolumeClaim, Job, APIService, HorizontalPodAutoscaler).
//!
//! A Lua check (custom or shipped) replaces the Go check whatever it returns. Kinds without
//! a check have no health.

use serde_json::{Value, json};

use super::customizations;
use super::lua;
use super::settings::{ResourceOverrides, config_map_key};

/// The statuses in Argo CD's order from healthy to unhealthy (gitops-engine's healthOrder).
/// `Empty` is a check that gave no status (a Lua script returning nil, or a table that does
/// not decode): Argo CD records `health: {}` and ranks it with Healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Empty,
    Healthy,
    Suspended,
    Progressing,
    Missing,
    Degraded,
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Empty => "",
            Health::Healthy => "Healthy",
            Health::Suspended => "Suspended",
            Health::Progressing => "Progressing",
            Health::Missing => "Missing",
            Health::Degraded => "Degraded",
            Health::Unknown => "Unknown",
        }
    }

    /// One of Argo CD's six codes (isValidHealthStatusCode).
    pub fn parse(s: &str) -> Option<Health> {
        Some(match s {
            "Healthy" => Health::Healthy,
            "Suspended" => Health::Suspended,
            "Progressing" => Health::Progressing,
            "Missing" => Health::Missing,
            "Degraded" => Health::Degraded,
            "Unknown" => Health::Unknown,
            _ => return None,
        })
    }
}

/// A health and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub status: Health,
    pub message: String,
}

impl Assessment {
    /// As an Application's `status.resources[].health` holds it (both fields omitempty).
    pub fn to_json(&self) -> Value {
        let mut v = json!({});
        if self.status != Health::Empty {
            v["status"] = json!(self.status.as_str());
        }
        if !self.message.is_empty() {
            v["message"] = json!(self.message);
        }
        v
    }
}

/// A check that failed: the health Argo CD records for the resource (Unknown, with the
/// error) and the error gitops-engine hands the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckError {
    pub health: Assessment,
    pub error: String,
}

fn h(status: Health, message: impl Into<String>) -> Option<Assessment> {
    Some(Assessment {
        status,
        message: message.into(),
    })
}

fn int(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn str_at<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn condition<'a>(o: &'a Value, t: &str) -> Option<&'a Value> {
    o.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

fn group_kind(obj: &Value) -> (&str, &str) {
    let api_version = str_at(obj, "/apiVersion");
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    (group, str_at(obj, "/kind"))
}

/// The health checks of one Argo CD: the resource overrides of its `argocd-cm` over the
/// built-in checks.
#[derive(Clone, Debug, Default)]
pub struct Checks {
    overrides: ResourceOverrides,
}

impl Checks {
    pub fn new(overrides: ResourceOverrides) -> Checks {
        Checks { overrides }
    }

    /// GetResourceHealth: the health of a live object, None when nothing assesses its kind.
    pub fn assess(&self, obj: &Value) -> Result<Option<Assessment>, CheckError> {
        let deleting = obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null());
        let hook_finalizer = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|f| f == "argocd.argoproj.io/hook-finalizer"));
        if deleting && !hook_finalizer {
            return Ok(h(Health::Progressing, "Pending deletion"));
        }
        let (group, kind) = group_kind(obj);
        let key = config_map_key(group, kind);
        // gitops-engine wraps what the override (Argo CD's Lua) fails with
        let failed = |e: String| CheckError {
            error: format!(
                "failed to get resource health for {}/{}: {e}",
                str_at(obj, "/metadata/namespace"),
                str_at(obj, "/metadata/name")
            ),
            health: Assessment {
                status: Health::Unknown,
                message: e,
            },
        };
        if let Some((script, open)) = self.custom_script(&key) {
            return match lua::run_health(obj, script, open) {
                Err(e) => Err(failed(e)),
                Ok(r) if !r.checked => Ok(h(Health::Empty, r.message)),
                Ok(r) => Ok(match Health::parse(&r.status) {
                    Some(status) => h(status, r.message),
                    None => h(Health::Unknown, "Lua returned an invalid health status"),
                }),
            };
        }
        if let Some(check) = customizations::builtin(group, kind) {
            return check(obj).map(Some).map_err(failed);
        }
        go_check(group, kind, obj)
    }

    /// The health Argo CD records: a failed check's is Unknown with the error.
    pub fn health(&self, obj: &Value) -> Option<Assessment> {
        self.assess(obj).unwrap_or_else(|e| Some(e.health))
    }

    /// GetHealthScript's custom part: the exact key, then the wildcards.
    fn custom_script(&self, key: &str) -> Option<(&str, bool)> {
        if let Some(o) = self.overrides.get(key).filter(|o| !o.health_lua.is_empty()) {
            return Some((&o.health_lua, o.use_open_libs));
        }
        self.overrides
            .0
            .iter()
            .find(|(pattern, o)| !o.health_lua.is_empty() && glob_match(pattern, key))
            .map(|(_, o)| (o.health_lua.as_str(), o.use_open_libs))
    }

    /// Whether a missing resource of this kind makes its Application Missing: only with an
    /// override under its exact key (of any kind) or a Go check, as setApplicationHealth
    /// decides (a shipped Lua check does not count).
    pub fn counts_missing(&self, group: &str, kind: &str) -> bool {
        self.overrides.get(&config_map_key(group, kind)).is_some() || has_go_check(group, kind)
    }
}

/// The health of a live object with Argo CD's built-in checks only.
pub fn assess(obj: &Value) -> Option<Assessment> {
    Checks::default().health(obj)
}

/// One resource of an Application as setApplicationHealth sees it.
pub struct Managed<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub live: Option<&'a Value>,
}

/// What setApplicationHealth finds for an Application.
#[derive(Debug)]
pub struct AppHealth {
    pub status: Health,
    /// Per resource, in the order given: the health recorded (None: none).
    pub resources: Vec<Option<Assessment>>,
    /// The ComparisonError message when a check failed (the first failure).
    pub error: Option<String>,
}

/// setApplicationHealth: the worst health of the resources, except resources whose check is
/// skipped (`argocd.argoproj.io/ignore-healthcheck: "true"`, the Application itself),
/// missing resources of kinds without an override or Go check, and child Applications that
/// are Missing or Unknown.
pub fn application(checks: &Checks, app_ns: &str, app_name: &str, resources: &[Managed]) -> AppHealth {
    let mut out = AppHealth {
        status: Health::Healthy,
        resources: Vec::with_capacity(resources.len()),
        error: None,
    };
    for r in resources {
        let child_app = r.group == "argoproj.io" && r.kind == "Application";
        let health = match r.live {
            None => h(Health::Missing, ""),
            Some(live) => {
                let ignored = live
                    .pointer("/metadata/annotations/argocd.argoproj.io~1ignore-healthcheck")
                    .and_then(Value::as_str)
                    == Some("true");
                let itself = child_app
                    && str_at(live, "/metadata/name") == app_name
                    && str_at(live, "/metadata/namespace") == app_ns;
                if ignored || itself {
                    out.resources.push(None);
                    continue;
                }
                match checks.assess(live) {
                    Ok(a) => a,
                    Err(e) => {
                        if out.error.is_none() {
                            out.error = Some(format!(
                                "error setting app health: failed to get resource health for {:?} with name {:?} in namespace {:?}: {}",
                                str_at(live, "/kind"),
                                str_at(live, "/metadata/name"),
                                str_at(live, "/metadata/namespace"),
                                e.error
                            ));
                        }
                        Some(e.health)
                    }
                }
            }
        };
        out.resources.push(health.clone());
        let Some(a) = health else { continue };
        if a.status == Health::Missing && !checks.counts_missing(r.group, r.kind) {
            continue;
        }
        if child_app && matches!(a.status, Health::Missing | Health::Unknown) {
            continue;
        }
        if a.status > out.status {
            out.status = a.status;
        }
    }
    out
}

/// gobwas/glob's Match without separators (util/glob): `*`, `?`, `[...]` (`!` negates,
/// ranges), `{a,b}` and `\` escapes. A pattern that does not compile matches nothing.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_at(&p, &t).unwrap_or(false)
}

/// None: the pattern does not compile.
fn glob_at(p: &[char], t: &[char]) -> Option<bool> {
    let Some(&c) = p.first() else {
        return Some(t.is_empty());
    };
    match c {
        '*' => {
            let rest = &p[1..];
            for i in 0..=t.len() {
                if glob_at(rest, &t[i..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        '?' => Some(!t.is_empty() && glob_at(&p[1..], &t[1..])?),
        '\\' => {
            let &e = p.get(1)?;
            Some(t.first() == Some(&e) && glob_at(&p[2..], &t[1..])?)
        }
        '[' => {
            let close = p.iter().position(|&x| x == ']')?;
            let mut class = &p[1..close];
            let negate = class.first() == Some(&'!');
            if negate {
                class = &class[1..];
            }
            let Some(&ch) = t.first() else {
                return Some(false);
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= ch && ch <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == ch;
                    i += 1;
                }
            }
            Some(hit != negate && glob_at(&p[close + 1..], &t[1..])?)
        }
        '{' => {
            // the alternatives up to the matching brace, split at top-level commas
            let mut depth = 0;
            let mut close = None;
            let mut cuts = vec![0];
            for (i, &x) in p.iter().enumerate() {
                match x {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(i);
                            break;
                        }
                    }
                    ',' if depth == 1 => cuts.push(i),
                    _ => {}
                }
            }
            let close = close?;
            cuts.push(close);
            let rest = &p[close + 1..];
            for w in cuts.windows(2) {
                let mut alt: Vec<char> = p[w[0] + 1..w[1]].to_vec();
                alt.extend_from_slice(rest);
                if glob_at(&alt, t)? {
                    return Some(true);
                }
            }
            Some(false)
        }
        _ => Some(t.first() == Some(&c) && glob_at(&p[1..], &t[1..])?),
    }
}

/// Whether gitops-engine has a Go check for the kind (GetHealthCheckFunc).
fn has_go_check(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet")
            | ("extensions" | "networking.k8s.io", "Ingress")
            | ("argoproj.io", "Workflow")
            | ("apiregistration.k8s.io", "APIService")
            | ("", "Service" | "PersistentVolumeClaim" | "Pod")
            | ("batch", "Job")
            | ("autoscaling", "HorizontalPodAutoscaler")
    )
}

/// gitops-engine's Go checks (argoproj.io Workflow's is not written: no health).
fn go_check(group: &str, kind: &str, obj: &Value) -> Result<Option<Assessment>, CheckError> {
    Ok(match (group, kind) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => statefulset(obj),
        ("apps", "ReplicaSet") => replicaset(obj),
        ("apps", "DaemonSet") => daemonset(obj),
        ("extensions" | "networking.k8s.io", "Ingress") => {
            let has = obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            h(if has { Health::Healthy } else { Health::Progressing }, "")
        }
        ("apiregistration.k8s.io", "APIService") => match condition(obj, "Available") {
            Some(c) => h(
                if c["status"] == "True" {
                    Health::Healthy
                } else {
                    Health::Progressing
                },
                format!("{}: {}", str_at(c, "/reason"), str_at(c, "/message")),
            ),
            None => h(Health::Progressing, "Waiting to be processed"),
        },
        ("", "Service") => {
            if str_at(obj, "/spec/type") == "LoadBalancer"
                && obj
                    .pointer("/status/loadBalancer/ingress")
                    .and_then(Value::as_array)
                    .is_none_or(|a| a.is_empty())
            {
                h(Health::Progressing, "")
            } else {
                h(Health::Healthy, "")
            }
        }
        ("", "PersistentVolumeClaim") => h(
            match str_at(obj, "/status/phase") {
                "Lost" => Health::Degraded,
                "Pending" => Health::Progressing,
                "Bound" => Health::Healthy,
                _ => Health::Unknown,
            },
            "",
        ),
        ("", "Pod") => pod(obj),
        ("batch", "Job") => job(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => return hpa(obj),
        _ => None,
    })
}

/// getHPAHealth: conditions from status (v2, v2beta1, v2beta2) or, in v1, from the
/// `autoscaling.alpha.kubernetes.io/conditions` annotation.
fn hpa(obj: &Value) -> Result<Option<Assessment>, CheckError> {
    let version = str_at(obj, "/apiVersion")
        .rsplit_once('/')
        .map(|(_, v)| v)
        .unwrap_or("");
    let fail = |e: String| CheckError {
        health: Assessment {
            status: Health::Unknown,
            message: e.clone(),
        },
        error: e,
    };
    let from_annotation;
    let conditions: &[Value] = match version {
        "v2" | "v2beta1" | "v2beta2" => obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        "v1" => {
            let Some(text) = obj
                .pointer("/metadata/annotations/autoscaling.alpha.kubernetes.io~1conditions")
                .and_then(Value::as_str)
            else {
                return Ok(h(Health::Progressing, "Waiting to Autoscale"));
            };
            from_annotation = serde_json::from_str::<Vec<Value>>(text)
                .map_err(|e| fail(format!("failed to convert conditions annotation to typed: {e}")))?;
            &from_annotation
        }
        _ => {
            return Err(fail(format!(
                "unsupported HPA GVK: autoscaling/{version}, Kind=HorizontalPodAutoscaler"
            )));
        }
    };
    for c in conditions {
        let (t, reason, status) = (str_at(c, "/type"), str_at(c, "/reason"), str_at(c, "/status"));
        let degraded = matches!(
            (t, reason),
            ("AbleToScale", "FailedGetScale" | "FailedUpdateScale")
                | ("ScalingActive", "FailedGetResourceMetric" | "InvalidSelector")
        );
        if degraded {
            return Ok(h(Health::Degraded, str_at(c, "/message")));
        }
        if matches!(t, "AbleToScale" | "ScalingLimited") && status == "True" {
            return Ok(h(Health::Healthy, str_at(c, "/message")));
        }
    }
    Ok(h(Health::Progressing, "Waiting to Autoscale"))
}

fn deployment(d: &Value) -> Option<Assessment> {
    if d.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        return h(Health::Suspended, "Deployment is paused");
    }
    let name = str_at(d, "/metadata/name");
    if int(d, "/metadata/generation") > int(d, "/status/observedGeneration") {
        return h(
            Health::Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    let replicas = d.pointer("/spec/replicas").and_then(Value::as_i64);
    let (updated, total, available) = (
        int(d, "/status/updatedReplicas"),
        int(d, "/status/replicas"),
        int(d, "/status/availableReplicas"),
    );
    if condition(d, "Progressing").is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded") {
        return h(
            Health::Degraded,
            format!("Deployment {name:?} exceeded its progress deadline"),
        );
    }
    if let Some(r) = replicas
        && updated < r
    {
        return h(
            Health::Progressing,
            format!("Waiting for rollout to finish: {updated} out of {r} new replicas have been updated..."),
        );
    }
    if total > updated {
        return h(
            Health::Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                total - updated
            ),
        );
    }
    if available < updated {
        return h(
            Health::Progressing,
            format!(
                "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        );
    }
    h(Health::Healthy, "")
}

fn statefulset(s: &Value) -> Option<Assessment> {
    let observed = int(s, "/status/observedGeneration");
    if observed == 0 || int(s, "/metadata/generation") > observed {
        return h(
            Health::Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let replicas = s.pointer("/spec/replicas").and_then(Value::as_i64);
    let ready = int(s, "/status/readyReplicas");
    if let Some(r) = replicas
        && ready < r
    {
        return h(
            Health::Progressing,
            format!("Waiting for {} pods to be ready...", r - ready),
        );
    }
    let strategy = str_at(s, "/spec/updateStrategy/type");
    let updated = int(s, "/status/updatedReplicas");
    if strategy == "RollingUpdate" && s.pointer("/spec/updateStrategy/rollingUpdate").is_some() {
        if let (Some(r), Some(p)) = (
            replicas,
            s.pointer("/spec/updateStrategy/rollingUpdate/partition")
                .and_then(Value::as_i64),
        ) && updated < r - p
        {
            return h(
                Health::Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    r - p
                ),
            );
        }
        return h(
            Health::Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if strategy == "OnDelete" {
        return h(Health::Healthy, format!("statefulset has {ready} ready pods"));
    }
    let (update_rev, current_rev) = (
        str_at(s, "/status/updateRevision"),
        str_at(s, "/status/currentRevision"),
    );
    if update_rev != current_rev {
        return h(
            Health::Progressing,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_rev}..."
            ),
        );
    }
    h(
        Health::Healthy,
        format!(
            "statefulset rolling update complete {} pods at revision {current_rev}...",
            int(s, "/status/currentReplicas")
        ),
    )
}

fn daemonset(d: &Value) -> Option<Assessment> {
    let name = str_at(d, "/metadata/name");
    if int(d, "/metadata/generation") > int(d, "/status/observedGeneration") {
        return h(
            Health::Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let (updated, desired, available) = (
        int(d, "/status/updatedNumberScheduled"),
        int(d, "/status/desiredNumberScheduled"),
        int(d, "/status/numberAvailable"),
    );
    if str_at(d, "/spec/updateStrategy/type") == "OnDelete" {
        return h(
            Health::Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    if updated < desired {
        return h(
            Health::Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        );
    }
    if available < desired {
        return h(
            Health::Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        );
    }
    h(Health::Healthy, "")
}

fn replicaset(r: &Value) -> Option<Assessment> {
    if int(r, "/metadata/generation") > int(r, "/status/observedGeneration") {
        return h(
            Health::Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(c) = condition(r, "ReplicaFailure")
        && c["status"] == "True"
    {
        return h(Health::Degraded, str_at(c, "/message"));
    }
    let available = int(r, "/status/availableReplicas");
    if let Some(want) = r.pointer("/spec/replicas").and_then(Value::as_i64)
        && available < want
    {
        return h(
            Health::Progressing,
            format!("Waiting for rollout to finish: {available} out of {want} new replicas are available..."),
        );
    }
    h(Health::Healthy, "")
}

fn pod(p: &Value) -> Option<Assessment> {
    let restart = match str_at(p, "/spec/restartPolicy") {
        "" => "Always",
        other => other,
    };
    let message = str_at(p, "/status/message").to_string();
    let statuses: Vec<&Value> = p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if restart == "Always" {
        let bad: Vec<&str> = statuses
            .iter()
            .filter_map(|c| c.pointer("/state/waiting"))
            .filter(|w| {
                let r = str_at(w, "/reason");
                r.starts_with("Err") || r.ends_with("Error") || r.ends_with("BackOff")
            })
            .map(|w| str_at(w, "/message"))
            .collect();
        if !bad.is_empty() {
            return h(Health::Degraded, bad.join(", "));
        }
    }
    match str_at(p, "/status/phase") {
        "Pending" => h(Health::Progressing, message),
        "Succeeded" => h(Health::Healthy, message),
        "Failed" => {
            if !message.is_empty() {
                return h(Health::Degraded, message);
            }
            let all = p
                .pointer("/status/initContainerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(statuses.iter().copied());
            for c in all {
                if let Some(t) = c.pointer("/state/terminated") {
                    let m = str_at(t, "/message");
                    if !m.is_empty() {
                        return h(Health::Degraded, m);
                    }
                    if str_at(t, "/reason") == "OOMKilled" {
                        return h(Health::Degraded, "OOMKilled");
                    }
                    let code = int(t, "/exitCode");
                    if code != 0 {
                        return h(
                            Health::Degraded,
                            format!("container {:?} failed with exit code {code}", str_at(c, "/name")),
                        );
                    }
                }
            }
            h(Health::Degraded, "")
        }
        "Running" => {
            if restart != "Always" {
                return h(Health::Progressing, message);
            }
            let ready = condition(p, "Ready").is_some_and(|c| c["status"] == "True");
            if ready {
                return h(Health::Healthy, message);
            }
            if statuses
                .iter()
                .any(|c| c.pointer("/lastState/terminated").is_some())
            {
                return h(Health::Degraded, message);
            }
            h(Health::Progressing, message)
        }
        _ => h(Health::Unknown, message),
    }
}

fn job(j: &Value) -> Option<Assessment> {
    let (mut failed, mut complete, mut suspended) = (false, false, false);
    let (mut fail_msg, mut message) = (String::new(), String::new());
    for c in j
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match c["type"].as_str().unwrap_or("") {
            "Failed" => {
                failed = true;
                complete = true;
                fail_msg = str_at(c, "/message").to_string();
            }
            "Complete" => {
                complete = true;
                message = str_at(c, "/message").to_string();
            }
            "Suspended" => {
                complete = true;
                message = str_at(c, "/message").to_string();
                suspended = c["status"] == "True";
            }
            _ => {}
        }
    }
    if !complete {
        h(Health::Progressing, message)
    } else if failed {
        h(Health::Degraded, fail_msg)
    } else if suspended {
        h(Health::Suspended, fail_msg)
    } else {
        h(Health::Healthy, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Expected texts are gitops-engine's (pkg/health/health_*.go and their testdata).
    #[test]
    fn deployments() {
        let d = |status: Value, extra: Value| {
            let mut o = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 2}, "status": status});
            for (k, v) in extra.as_object().unwrap() {
                o["spec"][k] = v.clone();
            }
            assess(&o).unwrap()
        };
        assert_eq!(
            d(
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
                json!({})
            )
            .status,
            Health::Healthy
        );
        assert_eq!(
            d(json!({"observedGeneration": 1}), json!({})).message,
            "Waiting for rollout to finish: observed deployment generation less than desired generation"
        );
        assert_eq!(
            d(
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
                json!({})
            )
            .message,
            "Waiting for rollout to finish: 1 of 2 updated replicas are available..."
        );
        let deadline = d(
            json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
            json!({}),
        );
        assert_eq!(
            (deadline.status, deadline.message.as_str()),
            (
                Health::Degraded,
                "Deployment \"web\" exceeded its progress deadline"
            )
        );
        assert_eq!(d(json!({}), json!({"paused": true})).status, Health::Suspended);
    }

    #[test]
    fn pods_jobs_and_kinds_without_checks() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x.invalid/y\""}}}]}});
        assert_eq!(
            assess(&pod).unwrap(),
            Assessment {
                status: Health::Degraded,
                message: "Back-off pulling image \"x.invalid/y\"".into()
            }
        );
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": [{"type": "Complete", "status": "True", "message": "Reached expected number of succeeded pods"}]}});
        assert_eq!(assess(&job).unwrap().status, Health::Healthy);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(assess(&cm), None);
        let gone = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(assess(&gone).unwrap().message, "Pending deletion");
    }

    fn checks(pairs: &[(&str, &str)]) -> Checks {
        let data = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Checks::new(ResourceOverrides::from_config_map(Some(&data)).unwrap())
    }

    fn certificate(ready: &str) -> Value {
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": "shop"},
            "status": {"conditions": [{"type": "Ready", "status": ready, "message": "from cert-manager"}]}})
    }

    const FROM_PHASE: &str = r#"
hs = {}
if obj.status ~= nil and obj.status.phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "phase Ready"
else
  hs.status = "Degraded"
  hs.message = "phase not Ready"
end
return hs"#;

    #[test]
    fn a_custom_check_replaces_the_built_in_one() {
        let cert = certificate("True");
        assert_eq!(assess(&cert).unwrap().message, "from cert-manager");
        let c = checks(&[(
            "resource.customizations.health.cert-manager.io_Certificate",
            FROM_PHASE,
        )]);
        assert_eq!(c.assess(&cert), Ok(h(Health::Degraded, "phase not Ready")));
        // also over gitops-engine's Go checks; an empty script leaves the built-in in place
        let cm = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": {"phase": "Ready"}});
        assert_eq!(
            checks(&[("resource.customizations.health.Pod", FROM_PHASE)]).assess(&cm),
            Ok(h(Health::Healthy, "phase Ready"))
        );
        assert_eq!(
            checks(&[("resource.customizations.health.Pod", "")]).assess(&cm),
            Ok(h(Health::Unknown, ""))
        );
        // an object being deleted is Progressing before any script runs
        let mut gone = cert.clone();
        gone["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(c.assess(&gone), Ok(h(Health::Progressing, "Pending deletion")));
    }

    #[test]
    fn wildcard_keys_come_after_the_exact_key() {
        let yaml = "\"*.example.com/*\":\n  health.lua: |\n    return {status=\"Suspended\", message=\"wildcard\"}\nwidgets.example.com/Widget:\n  health.lua: |\n    return {status=\"Healthy\", message=\"exact\"}\n";
        let c = checks(&[("resource.customizations", yaml)]);
        let obj = |api: &str, kind: &str| json!({"apiVersion": api, "kind": kind, "metadata": {"name": "w"}});
        assert_eq!(
            c.assess(&obj("widgets.example.com/v1", "Widget"))
                .unwrap()
                .unwrap()
                .message,
            "exact"
        );
        assert_eq!(
            c.assess(&obj("widgets.example.com/v1", "Gadget"))
                .unwrap()
                .unwrap()
                .message,
            "wildcard"
        );
        assert_eq!(c.assess(&obj("other.io/v1", "Gadget")), Ok(None));
        // `all` (*/*) needs a group: core kinds' keys have no slash
        let all = checks(&[(
            "resource.customizations.health.all",
            "return {status=\"Degraded\"}",
        )]);
        assert_eq!(
            all.assess(&obj("x.io/v1", "Y")).unwrap().unwrap().status,
            Health::Degraded
        );
        assert_eq!(all.assess(&obj("v1", "ConfigMap")), Ok(None));
    }

    #[test]
    fn globs_match_as_gobwas_globs_do() {
        assert!(glob_match("*.aws.crossplane.io/*", "ec2.aws.crossplane.io/VPC"));
        assert!(!glob_match("*.aws.crossplane.io/*", "aws.crossplane.io/VPC"));
        assert!(glob_match("*/*", "a/b/c"));
        assert!(glob_match("apps/?eployment", "apps/Deployment"));
        assert!(glob_match("{apps,batch}/*", "batch/Job"));
        assert!(glob_match("[a-c]pps/[!X]*", "apps/Deployment"));
        assert!(!glob_match("[a-c]pps/[!D]*", "apps/Deployment"));
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("a\\*b", "axb"));
        assert!(!glob_match("[abc", "a"));
        assert!(!glob_match("{a,b", "a"));
    }

    #[test]
    fn lua_results_map_to_argo_cds_healths() {
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t", "namespace": "ns"}});
        let run = |script: &str| {
            checks(&[("resource.customizations.health.example.com_Thing", script)]).assess(&obj)
        };
        assert_eq!(
            run("return {status=\"Bogus\", message=\"m\"}"),
            Ok(h(Health::Unknown, "Lua returned an invalid health status"))
        );
        assert_eq!(
            run("return {message=\"m\"}"),
            Ok(h(Health::Unknown, "Lua returned an invalid health status"))
        );
        assert_eq!(run("return nil"), Ok(h(Health::Empty, "")));
        assert_eq!(run("return nil").unwrap().unwrap().to_json(), json!({}));
        assert_eq!(
            run("error(\"no status yet\")"),
            Err(CheckError {
                health: Assessment {
                    status: Health::Unknown,
                    message: "<string>:1: no status yet".into()
                },
                error: "failed to get resource health for ns/t: <string>:1: no status yet".into(),
            })
        );
        assert_eq!(
            run("return 1"),
            Err(CheckError {
                health: Assessment {
                    status: Health::Unknown,
                    message: "expect table output from Lua script, not number".into()
                },
                error:
                    "failed to get resource health for ns/t: expect table output from Lua script, not number"
                        .into(),
            })
        );
    }

    #[test]
    fn horizontal_pod_autoscalers() {
        let hpa = |api: &str, extra: Value| {
            let mut o =
                json!({"apiVersion": api, "kind": "HorizontalPodAutoscaler", "metadata": {"name": "a"}});
            for (k, v) in extra.as_object().unwrap() {
                o[k] = v.clone();
            }
            assess(&o).unwrap()
        };
        assert_eq!(
            hpa("autoscaling/v2", json!({})),
            h(Health::Progressing, "Waiting to Autoscale").unwrap()
        );
        assert_eq!(
            hpa(
                "autoscaling/v2",
                json!({"status": {"conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "the HPA controller was able to get the target's current scale"}]}})
            ),
            h(
                Health::Healthy,
                "the HPA controller was able to get the target's current scale"
            )
            .unwrap()
        );
        assert_eq!(
            hpa(
                "autoscaling/v2",
                json!({"status": {"conditions": [{"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric", "message": "missing metrics"}]}})
            ),
            h(Health::Degraded, "missing metrics").unwrap()
        );
        assert_eq!(
            hpa(
                "autoscaling/v1",
                json!({"metadata": {"name": "a", "annotations": {"autoscaling.alpha.kubernetes.io/conditions": "[{\"type\":\"AbleToScale\",\"status\":\"True\",\"message\":\"ok\"}]"}}})
            ),
            h(Health::Healthy, "ok").unwrap()
        );
        assert_eq!(
            hpa("autoscaling/v3", json!({})),
            h(
                Health::Unknown,
                "unsupported HPA GVK: autoscaling/v3, Kind=HorizontalPodAutoscaler"
            )
            .unwrap()
        );
    }

    #[test]
    fn application_health_follows_set_application_health() {
        let none = Checks::default();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}, "spec": {}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let m = |group: &'static str, kind: &'static str, live: Option<&'static Value>| Managed {
            group,
            kind,
            namespace: "ns",
            name: "x",
            live,
        };
        let pod: &'static Value = Box::leak(Box::new(pod));
        // a missing ConfigMap shows Missing but leaves the app Healthy; a missing Pod does not
        let a = application(
            &none,
            "argocd",
            "app",
            &[m("", "ConfigMap", None), m("", "Pod", Some(pod))],
        );
        assert_eq!(a.status, Health::Healthy);
        assert_eq!(a.resources[0], h(Health::Missing, ""));
        assert_eq!(
            application(&none, "argocd", "app", &[m("", "Pod", None)]).status,
            Health::Missing
        );
        // ... unless argocd-cm has an override for the kind
        let with = checks(&[(
            "resource.customizations.ignoreDifferences.ConfigMap",
            "jsonPointers: [/data]",
        )]);
        assert_eq!(
            application(&with, "argocd", "app", &[m("", "ConfigMap", None)]).status,
            Health::Missing
        );
        // ignore-healthcheck: no health recorded, no effect
        let ignored: &'static Value = Box::leak(Box::new(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q", "annotations": {"argocd.argoproj.io/ignore-healthcheck": "true"}}, "status": {"phase": "Failed"}}),
        ));
        let a = application(&none, "argocd", "app", &[m("", "Pod", Some(ignored))]);
        assert_eq!((a.status, a.resources[0].clone()), (Health::Healthy, None));
        // child Applications: Degraded counts, Missing and Unknown do not
        let app_check = checks(&[(
            "resource.customizations.health.argoproj.io_Application",
            "return {status=obj.status.health.status}",
        )]);
        let child = |s: &str| -> &'static Value {
            Box::leak(Box::new(
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "child", "namespace": "argocd"}, "status": {"health": {"status": s}}}),
            ))
        };
        let m_app = |live| Managed {
            group: "argoproj.io",
            kind: "Application",
            namespace: "argocd",
            name: "child",
            live: Some(live),
        };
        assert_eq!(
            application(&app_check, "argocd", "parent", &[m_app(child("Degraded"))]).status,
            Health::Degraded
        );
        assert_eq!(
            application(&app_check, "argocd", "parent", &[m_app(child("Missing"))]).status,
            Health::Healthy
        );
        assert_eq!(
            application(&app_check, "argocd", "parent", &[m_app(child("Unknown"))]).status,
            Health::Healthy
        );
        // without the custom check a child Application has no health at all
        assert_eq!(
            application(&none, "argocd", "parent", &[m_app(child("Degraded"))]).resources[0],
            None
        );
        // the Application itself is skipped
        assert_eq!(
            application(&app_check, "argocd", "child", &[m_app(child("Degraded"))]).status,
            Health::Healthy
        );
        // a failing check: Unknown, and the first failure becomes the ComparisonError
        let failing = checks(&[("resource.customizations.health.Pod", "error(\"bad\")")]);
        let a = application(
            &failing,
            "argocd",
            "app",
            &[m("", "Pod", Some(pod)), m("", "Pod", Some(ignored))],
        );
        assert_eq!(a.status, Health::Unknown);
        assert_eq!(a.resources[0], h(Health::Unknown, "<string>:1: bad"));
        assert_eq!(
            a.error.as_deref(),
            Some(
                "error setting app health: failed to get resource health for \"Pod\" with name \"p\" in namespace \"ns\": failed to get resource health for ns/p: <string>:1: bad"
            )
        );
    }
}

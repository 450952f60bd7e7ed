//! Resource health as Argo CD assesses it: gitops-engine's built-in checks (Deployment,
//! StatefulSet, DaemonSet, ReplicaSet, Pod, Service, Ingress, PersistentVolumeClaim, Job,
//! APIService) and the resource customization Argo CD ships for kyverno.io Policy (Argo CD
//! ships none for ClusterPolicy). Kinds without a check have no health.

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
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
            Health::Healthy => "Healthy",
            Health::Suspended => "Suspended",
            Health::Progressing => "Progressing",
            Health::Missing => "Missing",
            Health::Degraded => "Degraded",
            Health::Unknown => "Unknown",
        }
    }
}

/// A health and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub status: Health,
    pub message: String,
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

/// The health of a live object, or None when Argo CD has no check for its kind.
pub fn assess(obj: &Value) -> Option<Assessment> {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return h(Health::Progressing, "Pending deletion");
    }
    let api_version = str_at(obj, "/apiVersion");
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = str_at(obj, "/kind");
    match (group, kind) {
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
        ("kyverno.io", "Policy") => {
            let ready = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "Ready"
                            && c["status"] == "True"
                            && c["reason"] == "Succeeded"
                            && c["message"] == "Ready"
                    })
                });
            if ready {
                h(Health::Healthy, "Policy is ready")
            } else {
                h(Health::Progressing, "Waiting for Policy to be ready")
            }
        }
        _ => None,
    }
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
}

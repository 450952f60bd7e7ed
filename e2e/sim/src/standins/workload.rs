//! The workload stand-in: plays kubelet and the Deployment and ReplicaSet controllers, so
//! Deployments get ReplicaSets and Pods and reach the status the real controllers write.
//!
//! Pods are placed on the simulated nodes when they are created (the scheduler's part) and
//! become Running and Ready after [`WorkloadOptions::ready_after`]. Images whose registry host
//! ends in `.invalid` never pull: their containers wait in ErrImagePull / ImagePullBackOff and
//! their Deployments reach ProgressDeadlineExceeded.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// How the simulated workloads behave.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    /// How long after creation a pod's containers run and are ready.
    pub ready_after: Duration,
    /// How many nodes to simulate (DaemonSets get one pod each).
    pub nodes: usize,
    /// Scales Deployment progress deadlines (0.01: 600 s become 6 s).
    pub time_factor: f64,
    /// Prefix of the node names (`<prefix>-worker-<n>`).
    pub node_prefix: String,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            ready_after: Duration::from_millis(100),
            nodes: 2,
            time_factor: 1.0,
            node_prefix: "sim".into(),
        }
    }
}

/// Why a reconcile failed (it is retried).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReconcileError(String);

impl From<kube::Error> for ReconcileError {
    fn from(e: kube::Error) -> Self {
        ReconcileError(e.to_string())
    }
}

struct Ctx {
    client: Client,
    opts: WorkloadOptions,
    nodes: Vec<String>,
}

/// The running stand-in; dropping it stops the controllers.
pub struct WorkloadStandIn {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for WorkloadStandIn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn now() -> String {
    crate::meta::now_rfc3339()
}

/// Field managers, as the real components name themselves.
fn as_controller_manager() -> PatchParams {
    PatchParams {
        field_manager: Some("kube-controller-manager".into()),
        ..Default::default()
    }
}

fn as_kubelet() -> PatchParams {
    PatchParams {
        field_manager: Some("kubelet".into()),
        ..Default::default()
    }
}

impl WorkloadStandIn {
    /// Registers the simulated nodes and starts the controllers.
    pub async fn run(client: Client, opts: WorkloadOptions) -> Result<Self, kube::Error> {
        let nodes: Vec<String> = (1..=opts.nodes.max(1))
            .map(|i| format!("{}-worker-{i}", opts.node_prefix))
            .collect();
        let node_api: Api<Node> = Api::all(client.clone());
        for (i, n) in nodes.iter().enumerate() {
            let node: Node = serde_json::from_value(json!({
                "metadata": {"name": n, "labels": {
                    "kubernetes.io/hostname": n, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                }},
            }))
            .expect("valid node");
            match node_api.create(&PostParams::default(), &node).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e),
            }
            let ts = now();
            let status = json!({"status": {
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": ts, "lastTransitionTime": ts,
                }],
                "addresses": [{"type": "InternalIP", "address": format!("172.18.0.{}", i + 2)}, {"type": "Hostname", "address": n}],
                "nodeInfo": {
                    "kubeletVersion": crate::KUBE_VERSION, "kubeProxyVersion": crate::KUBE_VERSION, "operatingSystem": "linux",
                    "architecture": "amd64", "containerRuntimeVersion": "containerd://2.1.3", "osImage": "hubspoke sim",
                    "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": "",
                },
                "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
            }});
            node_api
                .patch_status(n, &as_kubelet(), &Patch::Merge(status))
                .await?;
        }
        let ctx = Arc::new(Ctx {
            client: client.clone(),
            opts,
            nodes,
        });
        let mut tasks = Vec::new();
        let c = ctx.clone();
        tasks.push(tokio::spawn(async move {
            Controller::new(
                Api::<Deployment>::all(c.client.clone()),
                watcher::Config::default(),
            )
            .owns(
                Api::<ReplicaSet>::all(c.client.clone()),
                watcher::Config::default(),
            )
            .run(reconcile_deployment, retry, c)
            .for_each(|_| async {})
            .await
        }));
        let c = ctx.clone();
        tasks.push(tokio::spawn(async move {
            Controller::new(
                Api::<ReplicaSet>::all(c.client.clone()),
                watcher::Config::default(),
            )
            .owns(Api::<Pod>::all(c.client.clone()), watcher::Config::default())
            .run(reconcile_replicaset, retry, c)
            .for_each(|_| async {})
            .await
        }));
        let c = ctx.clone();
        tasks.push(tokio::spawn(async move {
            Controller::new(Api::<Pod>::all(c.client.clone()), watcher::Config::default())
                .run(reconcile_pod, retry, c)
                .for_each(|_| async {})
                .await
        }));
        Ok(WorkloadStandIn { tasks })
    }
}

fn retry<K>(_: Arc<K>, e: &ReconcileError, _: Arc<Ctx>) -> Action {
    tracing::debug!(error = %e, "workload stand-in reconcile failed; retrying");
    Action::requeue(Duration::from_millis(200))
}

/// FNV-32a, as the pod-template-hash is computed.
fn fnv32a(data: &[u8]) -> u32 {
    data.iter()
        .fold(0x811c9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x01000193))
}

/// `rand.SafeEncodeString` of a decimal number: the pod-template-hash label value.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

fn template_hash(template: &Value) -> String {
    safe_encode(&fnv32a(serde_json::to_string(template).unwrap_or_default().as_bytes()).to_string())
}

fn owned_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid && r["controller"] == true))
}

fn controller_ref(kind: &str, api_version: &str, name: &str, uid: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true})
}

fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => {
            let p: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let x = p * total as f64 / 100.0;
            (if round_up { x.ceil() } else { x.floor() }) as i64
        }
        _ => 0,
    }
}

fn condition(t: &str, status: &str, reason: &str, message: &str, previous: &[Value]) -> Value {
    let ts = now();
    let prev = previous.iter().find(|c| c["type"] == t);
    let transition = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(ts),
    };
    let update = match prev {
        Some(p) if p["status"] == status && p["reason"] == reason && p["message"] == message => {
            p["lastUpdateTime"].clone()
        }
        _ => json!(ts),
    };
    json!({"type": t, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
}

async fn reconcile_deployment(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = d.namespace().unwrap_or_default();
    let dv = serde_json::to_value(d.as_ref()).map_err(|e| ReconcileError(e.to_string()))?;
    let uid = d.uid().unwrap_or_default();
    let desired = dv.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let template = dv.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = template_hash(&template);
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let owned: Vec<Value> = rs_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .filter(|r| owned_by(r, &uid))
        .collect();
    let revision = |r: &Value| -> i64 {
        r.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let max_surge = int_or_percent(dv.pointer("/spec/strategy/rollingUpdate/maxSurge"), desired, true);
    let max_unavailable = int_or_percent(
        dv.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        desired,
        false,
    );
    let new_name = format!("{}-{hash}", d.name_any());
    let mut new_rs = owned
        .iter()
        .find(|r| {
            r.pointer("/metadata/labels/pod-template-hash")
                .and_then(Value::as_str)
                == Some(hash.as_str())
        })
        .cloned();
    let mut created_now = false;
    if new_rs.is_none() {
        let next_revision = owned.iter().map(revision).max().unwrap_or(0) + 1;
        let mut tpl = template.clone();
        tpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut selector = dv.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"]["pod-template-hash"] = json!(hash);
        let rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": new_name, "namespace": ns,
                "labels": tpl["metadata"]["labels"],
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                    "deployment.kubernetes.io/max-replicas": (desired + max_surge).to_string(),
                    "deployment.kubernetes.io/revision": next_revision.to_string(),
                },
                "ownerReferences": [controller_ref("Deployment", "apps/v1", &d.name_any(), &uid)],
            },
            "spec": {"replicas": desired, "minReadySeconds": dv.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)), "selector": selector, "template": tpl},
        });
        let made = rs_api
            .create(
                &PostParams::default(),
                &serde_json::from_value(rs).map_err(|e| ReconcileError(e.to_string()))?,
            )
            .await?;
        new_rs = serde_json::to_value(made).ok();
        created_now = true;
    }
    let new_rs = new_rs.unwrap_or(json!({}));
    let new_name = new_rs
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(&new_name)
        .to_string();
    let num = |r: &Value, p: &str| r.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    // the new ReplicaSet runs the desired replicas; old ones give way as new pods become available
    if num(&new_rs, "/spec/replicas") != desired {
        let patch = json!({"spec": {"replicas": desired}, "metadata": {"annotations": {
            "deployment.kubernetes.io/desired-replicas": desired.to_string(),
            "deployment.kubernetes.io/max-replicas": (desired + max_surge).to_string(),
        }}});
        rs_api
            .patch(&new_name, &as_controller_manager(), &Patch::Merge(patch))
            .await?;
    }
    let new_available = num(&new_rs, "/status/availableReplicas");
    let olds: Vec<&Value> = owned
        .iter()
        .filter(|r| r.pointer("/metadata/name").and_then(Value::as_str) != Some(new_name.as_str()))
        .collect();
    let mut old_budget = (desired - new_available).max(0);
    for old in &olds {
        let want = num(old, "/spec/replicas").min(old_budget);
        old_budget -= want;
        if num(old, "/spec/replicas") != want {
            let name = old
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            rs_api
                .patch(
                    name,
                    &as_controller_manager(),
                    &Patch::Merge(json!({"spec": {"replicas": want}})),
                )
                .await?;
        }
    }
    // status, as the deployment controller computes it
    let all: Vec<&Value> = std::iter::once(&new_rs).chain(olds.iter().copied()).collect();
    let replicas: i64 = all.iter().map(|r| num(r, "/status/replicas")).sum();
    let ready: i64 = all.iter().map(|r| num(r, "/status/readyReplicas")).sum();
    let available: i64 = all.iter().map(|r| num(r, "/status/availableReplicas")).sum();
    let updated = num(&new_rs, "/status/replicas");
    let previous: Vec<Value> = dv
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let min_available = desired - max_unavailable;
    let available_cond = if available >= min_available {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            &previous,
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            &previous,
        )
    };
    let complete = updated == desired
        && replicas == desired
        && available == desired
        && num(&new_rs, "/status/observedGeneration") >= num(&new_rs, "/metadata/generation");
    let prev_progress = previous.iter().find(|c| c["type"] == "Progressing").cloned();
    let deadline = dv
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(600) as f64
        * ctx.opts.time_factor;
    let since_progress = prev_progress
        .as_ref()
        .and_then(|c| c["lastUpdateTime"].as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| (jiff::Timestamp::now().as_millisecond() - t.as_millisecond()) as f64 / 1000.0)
        .unwrap_or(0.0);
    let already_timed_out = prev_progress
        .as_ref()
        .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded");
    let progressed = prev_progress.as_ref().is_none_or(|c| {
        c["reason"] != "ReplicaSetUpdated"
            || num(&dv, "/status/availableReplicas") != available
            || num(&dv, "/status/updatedReplicas") != updated
    });
    let progressing_cond = if complete {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            &previous,
        )
    } else if created_now {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set \"{new_name}\""),
            &previous,
        )
    } else if already_timed_out || (!progressed && since_progress > deadline) {
        condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
            &previous,
        )
    } else {
        // progress moves lastUpdateTime; without progress it stays, and the deadline runs
        let mut c = condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{new_name}\" is progressing."),
            &previous,
        );
        if progressed
            && prev_progress
                .as_ref()
                .is_some_and(|p| p["reason"] == "ReplicaSetUpdated")
        {
            c["lastUpdateTime"] = json!(now());
        }
        c
    };
    let mut status = json!({
        "observedGeneration": d.metadata.generation.unwrap_or(1),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "conditions": [available_cond, progressing_cond],
    });
    let unavailable = (desired - available).max(0);
    if unavailable > 0 {
        status["unavailableReplicas"] = json!(unavailable);
    }
    for k in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        if status[k] == 0 {
            status.as_object_mut().expect("object").remove(k);
        }
    }
    let current = dv.get("status").cloned().unwrap_or(json!({}));
    if current != status {
        let dapi: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        // replace the whole status so fields that went to zero disappear
        let mut patch = json!({"status": status});
        for k in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ] {
            if patch["status"].get(k).is_none() {
                patch["status"][k] = Value::Null;
            }
        }
        dapi.patch_status(&d.name_any(), &as_controller_manager(), &Patch::Merge(patch))
            .await?;
    }
    if complete {
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(Duration::from_millis(250)))
    }
}

fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

async fn reconcile_replicaset(rs: Arc<ReplicaSet>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = rs.namespace().unwrap_or_default();
    let rv = serde_json::to_value(rs.as_ref()).map_err(|e| ReconcileError(e.to_string()))?;
    let uid = rs.uid().unwrap_or_default();
    let desired = rv.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut pods: Vec<Value> = pod_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .filter(|p| owned_by(p, &uid) && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    let have = pods.len() as i64;
    if have < desired {
        let template = rv.pointer("/spec/template").cloned().unwrap_or(json!({}));
        for i in 0..(desired - have) {
            let node = &ctx.nodes[(have + i) as usize % ctx.nodes.len()];
            let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
            spec["nodeName"] = json!(node);
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "generateName": format!("{}-", rs.name_any()),
                    "namespace": ns,
                    "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                    "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                    "ownerReferences": [controller_ref("ReplicaSet", "apps/v1", &rs.name_any(), &uid)],
                },
                "spec": spec,
            });
            pod_api
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(pod).map_err(|e| ReconcileError(e.to_string()))?,
                )
                .await?;
        }
    } else if have > desired {
        // not-ready pods go first, then the newest
        pods.sort_by_key(|p| {
            (
                pod_ready(p),
                std::cmp::Reverse(
                    p.pointer("/metadata/creationTimestamp")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                ),
            )
        });
        for p in pods.iter().take((have - desired) as usize) {
            let name = p.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            match pod_api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        let dropped: Vec<String> = pods
            .iter()
            .take((have - desired) as usize)
            .filter_map(|p| {
                p.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        pods.retain(|p| {
            !dropped
                .iter()
                .any(|d| p.pointer("/metadata/name").and_then(Value::as_str) == Some(d.as_str()))
        });
    }
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let mut status = json!({
        "replicas": pods.len(),
        "fullyLabeledReplicas": pods.len(),
        "readyReplicas": ready.min(desired),
        "availableReplicas": ready.min(desired),
        "observedGeneration": rs.metadata.generation.unwrap_or(1),
    });
    // replicas is always written (not omitempty in ReplicaSetStatus); the others vanish at 0
    for k in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
        if status[k] == 0 {
            status[k] = Value::Null;
        }
    }
    let current = rv.get("status").cloned().unwrap_or(json!({}));
    let mut cleaned = status.clone();
    cleaned
        .as_object_mut()
        .expect("object")
        .retain(|_, v| !v.is_null());
    if current != cleaned {
        Api::<ReplicaSet>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &rs.name_any(),
                &as_controller_manager(),
                &Patch::Merge(json!({"status": status})),
            )
            .await?;
    }
    Ok(Action::await_change())
}

/// The registry host of an image reference (`docker.io` when it has none).
fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.split(':').next().unwrap_or(first)
        }
        _ => "docker.io",
    }
}

async fn reconcile_pod(pod: Arc<Pod>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let p = serde_json::to_value(pod.as_ref()).map_err(|e| ReconcileError(e.to_string()))?;
    if p.pointer("/metadata/deletionTimestamp").is_some() || p.pointer("/spec/nodeName").is_none() {
        return Ok(Action::await_change());
    }
    let ns = pod.namespace().unwrap_or_default();
    let containers: Vec<Value> = p
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let created = p
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let age = created
        .map(|t| jiff::Timestamp::now().as_millisecond() - t.as_millisecond())
        .unwrap_or(0);
    let wait = ctx.opts.ready_after.as_millis() as i64 - age;
    let started = created
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(now);
    let failing: Vec<&Value> = containers
        .iter()
        .filter(|c| registry_host(c["image"].as_str().unwrap_or("")).ends_with(".invalid"))
        .collect();
    let pod_ip = format!(
        "10.244.{}.{}",
        fnv32a(pod.name_any().as_bytes()) % 250 + 1,
        fnv32a(pod.uid().unwrap_or_default().as_bytes()) % 250 + 2
    );
    let host_ip = "172.18.0.2";
    let ts = now();
    let cond = |t: &str, status: &str| json!({"type": t, "status": status, "lastProbeTime": null, "lastTransitionTime": ts});
    let status = if !failing.is_empty() {
        if p.pointer("/status/containerStatuses").is_some()
            && p.pointer("/status/phase") == Some(&json!("Pending"))
            && wait < -1000
        {
            // after the first failed pull, the kubelet backs off
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| {
                    let image = c["image"].as_str().unwrap_or("");
                    let bad = registry_host(image).ends_with(".invalid");
                    json!({
                        "name": c["name"], "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                        "state": if bad {
                            json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}})
                        } else {
                            json!({"waiting": {"reason": "ContainerCreating"}})
                        },
                    })
                })
                .collect();
            json!({"phase": "Pending", "containerStatuses": statuses})
        } else {
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| {
                    let image = c["image"].as_str().unwrap_or("");
                    let host = registry_host(image);
                    json!({
                        "name": c["name"], "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                        "state": if host.ends_with(".invalid") {
                            json!({"waiting": {"reason": "ErrImagePull", "message": format!(
                                "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to do request: Head \"https://{host}/v2/\": dial tcp: lookup {host}: no such host"
                            )}})
                        } else {
                            json!({"waiting": {"reason": "ContainerCreating"}})
                        },
                    })
                })
                .collect();
            json!({
                "phase": "Pending", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "startTime": started,
                "conditions": [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"), cond("Ready", "False"), cond("ContainersReady", "False"), cond("PodScheduled", "True")],
                "containerStatuses": statuses,
            })
        }
    } else if wait > 0 {
        return Ok(Action::requeue(Duration::from_millis(wait as u64)));
    } else {
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let image = c["image"].as_str().unwrap_or("");
                json!({
                    "name": c["name"], "image": image,
                    "imageID": format!("{image}@sha256:{:064x}", fnv32a(image.as_bytes())),
                    "containerID": format!("containerd://{:064x}", fnv32a(format!("{}{}", pod.uid().unwrap_or_default(), c["name"]).as_bytes())),
                    "ready": true, "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                })
            })
            .collect();
        json!({
            "phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": started,
            "conditions": [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"), cond("Ready", "True"), cond("ContainersReady", "True"), cond("PodScheduled", "True")],
            "containerStatuses": statuses,
        })
    };
    let cur = p.get("status").cloned().unwrap_or(json!({}));
    let phase_same = cur.get("phase") == status.get("phase");
    let waiting_same =
        cur.pointer("/containerStatuses/0/state") == status.pointer("/containerStatuses/0/state");
    if !(phase_same && waiting_same && cur.get("containerStatuses").is_some()) {
        Api::<Pod>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &pod.name_any(),
                &as_kubelet(),
                &Patch::Merge(json!({"status": status})),
            )
            .await?;
    }
    if failing.is_empty() {
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(Duration::from_millis(500)))
    }
}

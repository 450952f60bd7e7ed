//! The workload stand-in: plays the scheduler, the kubelet and the Deployment, ReplicaSet,
//! StatefulSet, DaemonSet and Job controllers, so workloads get their Pods and reach the
//! status the real controllers write.
//!
//! Pods are bound to the simulated nodes through `pods/binding` (the scheduler's part) and
//! become Running and Ready after [`WorkloadOptions::ready_after`]; pods that run to
//! completion (restartPolicy Never or OnFailure) then succeed. Images whose registry host
//! ends in `.invalid` never pull: their containers wait in ErrImagePull / ImagePullBackOff and
//! their Deployments reach ProgressDeadlineExceeded.
//!
//! Containers of known images run their stand-in in-process ([`crate::standins::programs`]),
//! on a loopback address the pod gets as its `podIP`; the EndpointSlice controller
//! (`endpointslice.rs`) publishes pods behind their Services, so what routes through a
//! Service (webhook calls) reaches them.

mod daemonset;
mod deployment;
mod endpointslice;
mod job;
mod kubelet;
mod statefulset;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
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

/// A simulated node.
struct SimNode {
    name: String,
    ip: String,
}

struct Ctx {
    client: Client,
    opts: WorkloadOptions,
    nodes: Vec<SimNode>,
    /// Round-robin placement of pods that may run on any node.
    next_node: AtomicUsize,
    /// The programs of known images running for pods, by pod UID (dropping one stops it).
    programs: std::sync::Mutex<std::collections::HashMap<String, kubelet::PodPrograms>>,
}

/// The running stand-in; dropping it stops the controllers.
pub struct WorkloadStandIn {
    tasks: crate::tasks::Tasks,
}

impl WorkloadStandIn {
    /// Stops the controllers, waiting for them to end (at most `grace`).
    pub async fn shutdown(self, grace: Duration) -> bool {
        self.tasks.shutdown(grace).await
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
        let nodes: Vec<SimNode> = (1..=opts.nodes.max(1))
            .map(|i| SimNode {
                name: format!("{}-worker-{i}", opts.node_prefix),
                ip: format!("172.18.0.{}", i + 1),
            })
            .collect();
        let node_api: Api<Node> = Api::all(client.clone());
        for n in &nodes {
            let node: Node = serde_json::from_value(json!({
                "metadata": {"name": n.name, "labels": {
                    "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
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
                "addresses": [{"type": "InternalIP", "address": n.ip}, {"type": "Hostname", "address": n.name}],
                "nodeInfo": {
                    "kubeletVersion": crate::KUBE_VERSION, "kubeProxyVersion": crate::KUBE_VERSION, "operatingSystem": "linux",
                    "architecture": "amd64", "containerRuntimeVersion": "containerd://2.1.3", "osImage": "hubspoke sim",
                    "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": "",
                },
                "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
            }});
            node_api
                .patch_status(&n.name, &as_kubelet(), &Patch::Merge(status))
                .await?;
        }
        let ctx = Arc::new(Ctx {
            client: client.clone(),
            opts,
            nodes,
            next_node: AtomicUsize::new(0),
            programs: Default::default(),
        });
        let mut tasks = crate::tasks::Tasks::new();
        tasks.spawn(controller::<Deployment, ReplicaSet, _, _>(
            &ctx,
            deployment::reconcile_deployment,
        ));
        tasks.spawn(controller::<ReplicaSet, Pod, _, _>(
            &ctx,
            deployment::reconcile_replicaset,
        ));
        tasks.spawn(controller::<StatefulSet, Pod, _, _>(&ctx, statefulset::reconcile));
        tasks.spawn(controller::<DaemonSet, Pod, _, _>(&ctx, daemonset::reconcile));
        tasks.spawn(controller::<Job, Pod, _, _>(&ctx, job::reconcile));
        tasks.spawn(controller::<Pod, Pod, _, _>(&ctx, kubelet::reconcile_pod));
        tasks.spawn(kubelet::stop_programs_of_deleted_pods(ctx.clone()));
        tasks.spawn(endpointslice::run(&ctx));
        Ok(WorkloadStandIn { tasks })
    }
}

/// A namespaced built-in type a controller watches.
trait Watched:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<T> Watched for T where
    T: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// A controller for `K` that also wakes up when an object `O` it controls changes.
fn controller<K, O, F, Fut>(
    ctx: &Arc<Ctx>,
    reconcile: F,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    K: Watched,
    O: Watched,
    F: FnMut(Arc<K>, Arc<Ctx>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Action, ReconcileError>> + Send + 'static,
{
    let c = ctx.clone();
    async move {
        let mut ctl = Controller::new(Api::<K>::all(c.client.clone()), watcher::Config::default());
        if std::any::TypeId::of::<K>() != std::any::TypeId::of::<O>() {
            ctl = ctl.owns(Api::<O>::all(c.client.clone()), watcher::Config::default());
        }
        ctl.run(reconcile, retry, c).for_each(|_| async {}).await
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

fn to_value<T: serde::Serialize>(x: &T) -> Result<Value, ReconcileError> {
    serde_json::to_value(x).map_err(|e| ReconcileError(e.to_string()))
}

fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ReconcileError> {
    serde_json::from_value(v).map_err(|e| ReconcileError(e.to_string()))
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn int_at(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn pod_finished(p: &Value) -> bool {
    matches!(
        p.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// The pods in `ns` that the object with `uid` controls and that are not being deleted.
async fn owned_pods(ctx: &Ctx, ns: &str, uid: &str) -> Result<Vec<Value>, ReconcileError> {
    Ok(Api::<Pod>::namespaced(ctx.client.clone(), ns)
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .filter(|p| owned_by(p, uid) && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect())
}

/// A pod made from a controller's template: its labels and annotations plus `labels`.
fn pod_from_template(template: &Value, owner: Value, labels: &[(&str, String)]) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
            "ownerReferences": [owner],
        },
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    });
    for (k, v) in labels {
        pod["metadata"]["labels"][*k] = json!(v);
    }
    pod
}

async fn create_pod(ctx: &Ctx, ns: &str, pod: Value) -> Result<(), ReconcileError> {
    let pod: Pod = from_value(pod)?;
    match Api::<Pod>::namespaced(ctx.client.clone(), ns)
        .create(&PostParams::default(), &pod)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn delete_pod(ctx: &Ctx, ns: &str, name: &str) -> Result<(), ReconcileError> {
    match Api::<Pod>::namespaced(ctx.client.clone(), ns)
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Writes `status` through the status subresource unless the object already has it. Keys
/// whose value is null are removed.
async fn write_status<K>(api: &Api<K>, obj: &Value, status: Value) -> Result<(), ReconcileError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut wanted = status.clone();
    if let Some(m) = wanted.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    if obj.get("status") == Some(&wanted) {
        return Ok(());
    }
    api.patch_status(
        name_of(obj),
        &as_controller_manager(),
        &Patch::Merge(json!({"status": status})),
    )
    .await?;
    Ok(())
}

/// The ControllerRevision of a StatefulSet's or DaemonSet's current template, created when
/// it is new (as the controllers record template history); returns its name and hash.
/// Revisions beyond `spec.revisionHistoryLimit` (default 10) that no pod uses are pruned.
async fn current_revision(
    ctx: &Ctx,
    owner: &Value,
    kind: &str,
    in_use: &[String],
) -> Result<(String, String), ReconcileError> {
    use k8s_openapi::api::apps::v1::ControllerRevision;
    let ns = owner
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let uid = owner
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let owner_name = name_of(owner);
    let mut template = owner.pointer("/spec/template").cloned().unwrap_or(json!({}));
    template["$patch"] = json!("replace");
    let data = json!({"spec": {"template": template}});
    let hash = template_hash(&data);
    let name = format!("{owner_name}-{hash}");
    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), ns);
    let mut revisions: Vec<Value> = api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .filter(|r| owned_by(r, uid))
        .collect();
    revisions.sort_by_key(|r| int_at(r, "/revision"));
    let latest = revisions.last().map(|r| int_at(r, "/revision")).unwrap_or(0);
    match revisions.iter().find(|r| name_of(r) == name) {
        None => {
            let mut labels = owner
                .pointer("/spec/template/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels["controller.kubernetes.io/hash"] = json!(hash);
            let rev: ControllerRevision = from_value(json!({
                "metadata": {"name": name, "namespace": ns, "labels": labels,
                    "ownerReferences": [controller_ref(kind, "apps/v1", owner_name, uid)]},
                "data": data,
                "revision": latest + 1,
            }))?;
            match api.create(&PostParams::default(), &rev).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        // a rollback to an earlier template makes that revision the newest again
        Some(r) if int_at(r, "/revision") < latest => {
            api.patch(
                &name,
                &as_controller_manager(),
                &Patch::Merge(json!({"revision": latest + 1})),
            )
            .await?;
        }
        Some(_) => {}
    }
    let limit = owner
        .pointer("/spec/revisionHistoryLimit")
        .and_then(Value::as_i64)
        .unwrap_or(10)
        .max(0) as usize;
    let old: Vec<&Value> = revisions
        .iter()
        .filter(|r| name_of(r) != name && !in_use.iter().any(|u| u == name_of(r)))
        .collect();
    for r in old.iter().take(old.len().saturating_sub(limit)) {
        match api.delete(name_of(r), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((name, hash))
}

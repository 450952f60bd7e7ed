//! The scheduler's and the kubelet's parts: pods are bound to a simulated node through
//! `pods/binding`, then their containers "run" (or never pull their image).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::standins::programs;

/// The registry host of an image reference (`docker.io` when it has none).
fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.split(':').next().unwrap_or(first)
        }
        _ => "docker.io",
    }
}

/// The programs of known images running for one pod, and why the others could not start.
#[derive(Default)]
pub(super) struct PodPrograms {
    running: Vec<programs::Running>,
    /// Containers whose program failed to start, with the error (retried).
    failed: BTreeMap<String, String>,
    /// Containers that run (or run simulated, when a stand-in started directly has the
    /// component).
    started: BTreeSet<String>,
}

/// The address of a pod: in the pod network, or, for a pod that runs a program, a
/// loopback address of its own that the program listens on (so the API server, the
/// EndpointSlices and the webhook calls reach it as they would reach a pod).
fn pod_address(pod: &Pod, runs_program: bool) -> String {
    let uid = pod.uid().unwrap_or_default();
    if runs_program {
        let h = fnv32a(format!("{uid}{}", pod.name_any()).as_bytes());
        return format!("127.{}.{}.{}", (h >> 16) % 254 + 1, (h >> 8) & 0xff, h % 254 + 1);
    }
    format!(
        "10.244.{}.{}",
        fnv32a(pod.name_any().as_bytes()) % 250 + 1,
        fnv32a(uid.as_bytes()) % 250 + 2
    )
}

/// Starts the programs of the pod's known images that do not run yet; returns the
/// containers whose program failed, with why.
async fn ensure_programs(
    ctx: &Ctx,
    p: &Value,
    containers: &[Value],
    pod_ip: &str,
) -> BTreeMap<String, String> {
    let uid = p
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut entry = ctx
        .programs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&uid)
        .unwrap_or_default();
    let ip: std::net::IpAddr = pod_ip.parse().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    for c in containers {
        let name = c["name"].as_str().unwrap_or("").to_string();
        let Some(program) = programs::program_for(c) else {
            continue;
        };
        if entry.started.contains(&name) {
            continue;
        }
        let start = programs::Start {
            client: ctx.client.clone(),
            pod: p,
            container: c,
            pod_ip: ip,
        };
        match programs::start(program, start).await {
            Ok(running) => {
                entry.running.extend(running);
                entry.started.insert(name.clone());
                entry.failed.remove(&name);
            }
            Err(e) => {
                tracing::warn!(pod = %uid, container = %name, error = %e, "program of {} failed to start", program.name());
                entry.failed.insert(name, e);
            }
        }
    }
    let failed = entry.failed.clone();
    ctx.programs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(uid, entry);
    failed
}

/// Stops a pod's programs as their containers are stopped (SIGTERM), in the background.
fn stop_programs(programs: Option<PodPrograms>) {
    if let Some(p) = programs {
        tokio::spawn(async move {
            for r in p.running {
                r.stop().await;
            }
        });
    }
}

/// Stops the programs of pods that are deleted (or being deleted), as the kubelet kills
/// their containers; after a relist, those of pods that no longer exist.
pub(super) async fn stop_programs_of_deleted_pods(ctx: Arc<Ctx>) {
    use kube::runtime::watcher::Event;
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let mut events = std::pin::pin!(kube::runtime::WatchStreamExt::default_backoff(watcher(
        api,
        watcher::Config::default()
    )));
    let mut listed: BTreeSet<String> = BTreeSet::new();
    while let Some(event) = events.next().await {
        let stop = |uid: &str| {
            let gone = ctx.programs.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
            stop_programs(gone);
        };
        match event {
            Ok(Event::Delete(pod)) => stop(&pod.uid().unwrap_or_default()),
            Ok(Event::Apply(pod)) if pod.metadata.deletion_timestamp.is_some() => {
                stop(&pod.uid().unwrap_or_default())
            }
            Ok(Event::Init) => listed.clear(),
            Ok(Event::InitApply(pod)) => {
                listed.insert(pod.uid().unwrap_or_default());
            }
            Ok(Event::InitDone) => {
                let gone: Vec<String> = {
                    let g = ctx.programs.lock().unwrap_or_else(|e| e.into_inner());
                    g.keys().filter(|uid| !listed.contains(*uid)).cloned().collect()
                };
                for uid in gone {
                    stop(&uid);
                }
            }
            _ => {}
        }
    }
}

fn pulls(image: &str) -> bool {
    !registry_host(image).ends_with(".invalid")
}

/// The nodes a pod may run on: its node selector and its required `metadata.name` node
/// affinity (how DaemonSet pods name their node) are honoured.
pub(super) fn feasible<'a>(ctx: &'a Ctx, p: &Value) -> Vec<&'a SimNode> {
    let selector: Vec<(String, String)> = p
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let terms = p
        .pointer(
            "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
        )
        .and_then(Value::as_array);
    ctx.nodes
        .iter()
        .filter(|n| {
            selector.iter().all(|(k, v)| match k.as_str() {
                "kubernetes.io/hostname" => *v == n.name,
                "kubernetes.io/os" | "beta.kubernetes.io/os" => v == "linux",
                "kubernetes.io/arch" | "beta.kubernetes.io/arch" => v == "amd64",
                _ => false,
            })
        })
        .filter(|n| {
            let Some(terms) = terms else { return true };
            terms.iter().any(|t| {
                t["matchFields"].as_array().into_iter().flatten().all(|f| {
                    let has = f["values"]
                        .as_array()
                        .is_some_and(|vs| vs.iter().any(|v| v == n.name.as_str()));
                    f["key"] != "metadata.name"
                        || match f["operator"].as_str() {
                            Some("In") => has,
                            Some("NotIn") => !has,
                            _ => true,
                        }
                })
            })
        })
        .collect()
}

async fn schedule(p: &Value, ctx: &Ctx) -> Result<Action, ReconcileError> {
    let ns = p
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = name_of(p);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let candidates = feasible(ctx, p);
    if candidates.is_empty() {
        let total = ctx.nodes.len();
        let message = format!(
            "0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        );
        let already = p
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "PodScheduled" && c["message"] == message.as_str())
            });
        if !already {
            let status = json!({"status": {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                "lastProbeTime": null, "lastTransitionTime": now(),
            }]}});
            let pp = PatchParams {
                field_manager: Some("kube-scheduler".into()),
                ..Default::default()
            };
            api.patch_status(name, &pp, &Patch::Merge(status)).await?;
        }
        return Ok(Action::await_change());
    }
    let i = ctx.next_node.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let node = &candidates[i % candidates.len()].name;
    let binding = json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": ns, "uid": p.pointer("/metadata/uid")},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    match api
        .create_subresource::<Value, Value>("binding", name, &PostParams::default(), &binding)
        .await
    {
        Ok(_) => {}
        // already bound, or gone: the next event tells
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Action::await_change())
}

/// Why the kubelet cannot build a container's environment (kubelet_pods.go
/// `makeEnvironmentVariables`): a Secret or ConfigMap the container references without
/// `optional: true` is missing, or lacks the key. The texts are the kubelet's, shown as the
/// container's `CreateContainerConfigError`.
async fn container_config_error(client: &Client, ns: &str, c: &Value) -> Option<String> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    // the keys of a Secret or ConfigMap, None when it does not exist
    let keys = |kind: &'static str, name: String| {
        let (secrets, config_maps) = (secrets.clone(), config_maps.clone());
        async move {
            match kind {
                "Secret" => secrets.get_opt(&name).await.ok()?.map(|s| {
                    let mut k: BTreeSet<String> = s.data.unwrap_or_default().into_keys().collect();
                    k.extend(s.string_data.unwrap_or_default().into_keys());
                    k
                }),
                _ => config_maps.get_opt(&name).await.ok()?.map(|c| {
                    let mut k: BTreeSet<String> = c.data.unwrap_or_default().into_keys().collect();
                    k.extend(c.binary_data.unwrap_or_default().into_keys());
                    k
                }),
            }
        }
    };
    let not_found = |kind: &str, name: &str| {
        format!(
            "{} \"{name}\" not found",
            if kind == "Secret" { "secret" } else { "configmap" }
        )
    };
    for from in c.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
        for (field, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
            let Some(r) = from.get(field) else { continue };
            let name = r.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            if keys(kind, name.clone()).await.is_none() && !optional {
                return Some(not_found(kind, &name));
            }
        }
    }
    for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
        for (field, kind) in [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")] {
            let Some(r) = e.pointer(&format!("/valueFrom/{field}")) else {
                continue;
            };
            let name = r.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let key = r.get("key").and_then(Value::as_str).unwrap_or("");
            let optional = r.get("optional").and_then(Value::as_bool).unwrap_or(false);
            match keys(kind, name.clone()).await {
                None if optional => {}
                None => return Some(not_found(kind, &name)),
                Some(k) if !k.contains(key) && !optional => {
                    return Some(format!("couldn't find key {key} in {kind} {ns}/{name}"));
                }
                Some(_) => {}
            }
        }
    }
    None
}

pub(super) async fn reconcile_pod(pod: Arc<Pod>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let p = to_value(pod.as_ref())?;
    if p.pointer("/metadata/deletionTimestamp").is_some() || pod_finished(&p) {
        return Ok(Action::await_change());
    }
    let node_name = p.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    if node_name.is_empty() {
        let scheduler = p
            .pointer("/spec/schedulerName")
            .and_then(Value::as_str)
            .unwrap_or("default-scheduler");
        if scheduler != "default-scheduler" {
            return Ok(Action::await_change());
        }
        return schedule(&p, &ctx).await;
    }
    let Some(node) = ctx.nodes.iter().find(|n| n.name == node_name) else {
        // bound to a node this stand-in does not run: another kubelet's business
        return Ok(Action::await_change());
    };
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
    let pulled = containers
        .iter()
        .all(|c| pulls(c["image"].as_str().unwrap_or("")));
    let runs_to_completion = matches!(
        p.pointer("/spec/restartPolicy").and_then(Value::as_str),
        Some("Never" | "OnFailure")
    );
    let runs_program = !runs_to_completion && containers.iter().any(|c| programs::program_for(c).is_some());
    let pod_ip = pod_address(&pod, runs_program);
    let host_ip = node.ip.as_str();
    let ts = now();
    let cond = |t: &str, status: &str| json!({"type": t, "status": status, "lastProbeTime": null, "lastTransitionTime": ts});
    let completed = |t: &str, status: &str| {
        let mut c = cond(t, status);
        if t != "PodScheduled" && t != "PodReadyToStartContainers" {
            c["reason"] = json!("PodCompleted");
        }
        c
    };
    let container_id = |c: &Value| {
        format!(
            "containerd://{:064x}",
            fnv32a(format!("{}{}", pod.uid().unwrap_or_default(), c["name"]).as_bytes())
        )
    };
    let image_id = |image: &str| format!("{image}@sha256:{:064x}", fnv32a(image.as_bytes()));
    let mut crashed: BTreeMap<String, String> = BTreeMap::new();
    let status = if !pulled {
        // after the first failed pull, the kubelet backs off
        let backing_off = p.pointer("/status/containerStatuses").is_some()
            && p.pointer("/status/phase") == Some(&json!("Pending"))
            && wait < -1000;
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let image = c["image"].as_str().unwrap_or("");
                let host = registry_host(image);
                let waiting = if pulls(image) {
                    json!({"reason": "ContainerCreating"})
                } else if backing_off {
                    json!({"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")})
                } else {
                    json!({"reason": "ErrImagePull", "message": format!(
                        "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to do request: Head \"https://{host}/v2/\": dial tcp: lookup {host}: no such host"
                    )})
                };
                json!({
                    "name": c["name"], "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                    "state": {"waiting": waiting},
                })
            })
            .collect();
        json!({
            "phase": "Pending", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "startTime": started,
            "conditions": [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"), cond("Ready", "False"), cond("ContainersReady", "False"), cond("PodScheduled", "True")],
            "containerStatuses": statuses,
        })
    } else if wait > 0 {
        return Ok(Action::requeue(Duration::from_millis(wait as u64)));
    } else if let Some(errors) = {
        let mut errors = BTreeMap::new();
        for c in &containers {
            if let Some(e) = container_config_error(&ctx.client, &ns, c).await {
                errors.insert(c["name"].as_str().unwrap_or("").to_string(), e);
            }
        }
        (!errors.is_empty()).then_some(errors)
    } {
        // the kubelet retries creating the container; the pod stays Pending meanwhile
        if let Some(prev) = p.pointer("/status/containerStatuses").and_then(Value::as_array)
            && prev.iter().all(|s| {
                let name = s["name"].as_str().unwrap_or("");
                s.pointer("/state/waiting/message").and_then(Value::as_str)
                    == errors.get(name).map(String::as_str)
                    || (!errors.contains_key(name) && s.pointer("/state/running").is_some())
            })
            && p.pointer("/status/phase") == Some(&json!("Pending"))
        {
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let image = c["image"].as_str().unwrap_or("");
                let name = c["name"].as_str().unwrap_or("");
                match errors.get(name) {
                    Some(e) => json!({
                        "name": name, "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                        "state": {"waiting": {"reason": "CreateContainerConfigError", "message": e}},
                    }),
                    None => json!({
                        "name": name, "image": image, "imageID": image_id(image), "containerID": container_id(c),
                        "ready": false, "started": true, "restartCount": 0,
                        "state": {"running": {"startedAt": started}},
                    }),
                }
            })
            .collect();
        // the sandbox exists: the pod has its address
        let status = json!({
            "phase": "Pending", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": started,
            "conditions": [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"), cond("Ready", "False"), cond("ContainersReady", "False"), cond("PodScheduled", "True")],
            "containerStatuses": statuses,
        });
        Api::<Pod>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &pod.name_any(),
                &as_kubelet(),
                &Patch::Merge(json!({"status": status})),
            )
            .await?;
        return Ok(Action::requeue(Duration::from_secs(2)));
    } else {
        if runs_program {
            crashed = ensure_programs(&ctx, &p, &containers, &pod_ip).await;
        }
        // containers whose program runs to completion: their exit decides the pod's
        let mut failed: BTreeMap<String, String> = BTreeMap::new();
        if runs_to_completion {
            for c in &containers {
                let Some(program) = programs::program_for(c).filter(|p| p.runs_to_completion()) else {
                    continue;
                };
                let start = programs::Start {
                    client: ctx.client.clone(),
                    pod: &p,
                    container: c,
                    pod_ip: pod_ip.parse().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])),
                };
                if let Err(e) = programs::run_to_completion(program, start).await {
                    let name = c["name"].as_str().unwrap_or("").to_string();
                    failed.insert(name, e);
                }
            }
            // restartPolicy OnFailure: the kubelet restarts the failed container in place
            if p.pointer("/spec/restartPolicy").and_then(Value::as_str) == Some("OnFailure") {
                crashed = std::mem::take(&mut failed);
            }
        }
        let runs_to_completion = runs_to_completion && crashed.is_empty();
        // the containers run; pods that run to completion have already finished
        let state = |c: &Value| {
            if let Some(error) = failed.get(c["name"].as_str().unwrap_or("")) {
                json!({"terminated": {"exitCode": 1, "reason": "Error", "message": error, "startedAt": started, "finishedAt": now(), "containerID": container_id(c)}})
            } else if runs_to_completion {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now(), "containerID": container_id(c)}})
            } else {
                json!({"running": {"startedAt": started}})
            }
        };
        let restarts = |c: &Value| {
            p.pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|s| s["name"] == c["name"]))
                .and_then(|s| s["restartCount"].as_i64())
                .unwrap_or(0)
        };
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let image = c["image"].as_str().unwrap_or("");
                let name = c["name"].as_str().unwrap_or("");
                if let Some(error) = crashed.get(name) {
                    // the program exited with its error: the kubelet restarts it with back-off
                    return json!({
                        "name": name, "image": image, "imageID": image_id(image), "containerID": container_id(c),
                        "ready": false, "started": false, "restartCount": restarts(c) + 1,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                            "back-off 10s restarting failed container={name} pod={}_{ns}({})", pod.name_any(), pod.uid().unwrap_or_default()
                        )}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": error, "startedAt": started, "finishedAt": now(), "containerID": container_id(c)}},
                    });
                }
                json!({
                    "name": name, "image": image, "imageID": image_id(image), "containerID": container_id(c),
                    "ready": !runs_to_completion, "started": !runs_to_completion, "restartCount": restarts(c),
                    "state": state(c),
                })
            })
            .collect();
        let (phase, conditions) = if runs_to_completion && !failed.is_empty() {
            let failed_cond = |t: &str, status: &str| {
                let mut c = cond(t, status);
                if t != "PodScheduled" && t != "PodReadyToStartContainers" {
                    c["reason"] = json!("PodFailed");
                }
                c
            };
            (
                "Failed",
                [
                    failed_cond("PodReadyToStartContainers", "False"),
                    failed_cond("Initialized", "True"),
                    failed_cond("Ready", "False"),
                    failed_cond("ContainersReady", "False"),
                    failed_cond("PodScheduled", "True"),
                ],
            )
        } else if runs_to_completion {
            (
                "Succeeded",
                [
                    completed("PodReadyToStartContainers", "False"),
                    completed("Initialized", "True"),
                    completed("Ready", "False"),
                    completed("ContainersReady", "False"),
                    completed("PodScheduled", "True"),
                ],
            )
        } else if !crashed.is_empty() {
            let names: Vec<&str> = crashed.keys().map(String::as_str).collect();
            let not_ready = |t: &str| {
                let mut c = cond(t, "False");
                c["reason"] = json!("ContainersNotReady");
                c["message"] = json!(format!("containers with unready status: [{}]", names.join(" ")));
                c
            };
            (
                "Running",
                [
                    cond("PodReadyToStartContainers", "True"),
                    cond("Initialized", "True"),
                    not_ready("Ready"),
                    not_ready("ContainersReady"),
                    cond("PodScheduled", "True"),
                ],
            )
        } else {
            (
                "Running",
                [
                    cond("PodReadyToStartContainers", "True"),
                    cond("Initialized", "True"),
                    cond("Ready", "True"),
                    cond("ContainersReady", "True"),
                    cond("PodScheduled", "True"),
                ],
            )
        };
        json!({
            "phase": phase, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": started,
            "conditions": conditions,
            "containerStatuses": statuses,
        })
    };
    let cur = p.get("status").cloned().unwrap_or(json!({}));
    let phase_same = cur.get("phase") == status.get("phase");
    let states = |s: &Value| -> Vec<Value> {
        s.get("containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                json!([
                    c["name"],
                    c["state"]
                        .as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>()),
                    c["state"]["waiting"]["reason"]
                ])
            })
            .collect()
    };
    let states_same = states(&cur) == states(&status)
        && cur.pointer("/containerStatuses/0/state") == status.pointer("/containerStatuses/0/state");
    if !(phase_same && states_same && cur.get("containerStatuses").is_some()) {
        Api::<Pod>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &pod.name_any(),
                &as_kubelet(),
                &Patch::Merge(json!({"status": status})),
            )
            .await?;
    }
    if !crashed.is_empty() {
        // the back-off before the next start
        Ok(Action::requeue(Duration::from_secs(5)))
    } else if pulled {
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(Duration::from_millis(500)))
    }
}

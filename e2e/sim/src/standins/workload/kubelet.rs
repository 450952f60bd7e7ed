//! The scheduler's and the kubelet's parts: pods are bound to a simulated node through
//! `pods/binding`, then their containers "run" (or never pull their image).

use super::*;

/// The registry host of an image reference (`docker.io` when it has none).
fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.split(':').next().unwrap_or(first)
        }
        _ => "docker.io",
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
    let pod_ip = format!(
        "10.244.{}.{}",
        fnv32a(pod.name_any().as_bytes()) % 250 + 1,
        fnv32a(pod.uid().unwrap_or_default().as_bytes()) % 250 + 2
    );
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
    } else {
        // the containers run; pods that run to completion have already finished
        let state = |c: &Value| {
            if runs_to_completion {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now(), "containerID": container_id(c)}})
            } else {
                json!({"running": {"startedAt": started}})
            }
        };
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let image = c["image"].as_str().unwrap_or("");
                json!({
                    "name": c["name"], "image": image, "imageID": image_id(image), "containerID": container_id(c),
                    "ready": !runs_to_completion, "started": !runs_to_completion, "restartCount": 0,
                    "state": state(c),
                })
            })
            .collect();
        let (phase, conditions) = if runs_to_completion {
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
    if pulled {
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(Duration::from_millis(500)))
    }
}

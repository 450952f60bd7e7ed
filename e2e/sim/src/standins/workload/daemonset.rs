//! The DaemonSet controller: one pod per simulated node that matches the template's node
//! selector, pinned to it by node affinity as the real controller does; rolling updates
//! replace up to `maxUnavailable` outdated pods at a time.

use super::*;

/// The node a DaemonSet pod is pinned to by its required `metadata.name` affinity.
fn pinned_node(p: &Value) -> Option<&str> {
    p.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
        .and_then(Value::as_str)
}

/// The tolerations the DaemonSet controller adds to every pod it makes.
fn daemon_tolerations(mut existing: Vec<Value>) -> Vec<Value> {
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        if !existing.iter().any(|t| t["key"] == key && t["effect"] == effect) {
            existing.push(json!({"key": key, "operator": "Exists", "effect": effect}));
        }
    }
    existing
}

pub(super) async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let v = to_value(ds.as_ref())?;
    let ns = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let uid = ds.uid().unwrap_or_default();
    let generation = ds.metadata.generation.unwrap_or(1);
    let pods = owned_pods(&ctx, &ns, &uid).await?;
    let in_use: Vec<String> = pods
        .iter()
        .filter_map(|p| {
            p.pointer("/metadata/labels/controller-revision-hash")
                .and_then(Value::as_str)
                .map(|h| format!("{name}-{h}"))
        })
        .collect();
    let (_, hash) = current_revision(&ctx, &v, "DaemonSet", &in_use).await?;
    let template = v.pointer("/spec/template").cloned().unwrap_or(json!({}));
    // the nodes the template's node selector admits
    let probe = json!({"spec": {"nodeSelector": template.pointer("/spec/nodeSelector")}});
    let wanted: Vec<String> = super::kubelet::feasible(&ctx, &probe)
        .into_iter()
        .map(|n| n.name.clone())
        .collect();
    let updated = |p: &Value| {
        p.pointer("/metadata/labels/controller-revision-hash")
            .and_then(Value::as_str)
            == Some(hash.as_str())
    };
    let mut misscheduled = 0;
    for p in &pods {
        match pinned_node(p) {
            Some(n) if wanted.iter().any(|w| w == n) => {}
            _ => {
                misscheduled += 1;
                delete_pod(&ctx, &ns, name_of(p)).await?;
            }
        }
    }
    for node in &wanted {
        if pods.iter().any(|p| pinned_node(p) == Some(node.as_str())) {
            continue;
        }
        let mut pod = pod_from_template(
            &template,
            controller_ref("DaemonSet", "apps/v1", &name, &uid),
            &[
                ("controller-revision-hash", hash.clone()),
                ("pod-template-generation", generation.to_string()),
            ],
        );
        pod["metadata"]["generateName"] = json!(format!("{name}-"));
        pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}],
        });
        let tolerations = pod["spec"]["tolerations"].as_array().cloned().unwrap_or_default();
        pod["spec"]["tolerations"] = Value::Array(daemon_tolerations(tolerations));
        create_pod(&ctx, &ns, pod).await?;
    }
    let on_node: Vec<&Value> = pods
        .iter()
        .filter(|p| pinned_node(p).is_some_and(|n| wanted.iter().any(|w| w == n)))
        .collect();
    // rolling update: replace outdated pods while at most maxUnavailable are unavailable
    if v.pointer("/spec/updateStrategy/type").and_then(Value::as_str) != Some("OnDelete") {
        let max_unavailable = int_or_percent(
            v.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable")
                .or(Some(&json!(1))),
            wanted.len() as i64,
            true,
        )
        .max(1);
        let unavailable = wanted.len() as i64 - on_node.iter().filter(|p| pod_ready(p)).count() as i64;
        let budget = (max_unavailable - unavailable).max(0) as usize;
        for p in on_node.iter().filter(|p| !updated(p)).take(budget) {
            delete_pod(&ctx, &ns, name_of(p)).await?;
        }
    }
    let desired = wanted.len() as i64;
    let scheduled = on_node.len() as i64;
    let ready = on_node.iter().filter(|p| pod_ready(p)).count() as i64;
    let updated_count = on_node.iter().filter(|p| updated(p)).count() as i64;
    let nonzero = |n: i64| if n == 0 { Value::Null } else { json!(n) };
    let status = json!({
        "currentNumberScheduled": scheduled,
        "desiredNumberScheduled": desired,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "observedGeneration": generation,
        "updatedNumberScheduled": nonzero(updated_count),
        "numberAvailable": nonzero(ready),
        "numberUnavailable": nonzero(desired - ready),
    });
    write_status(&Api::<DaemonSet>::namespaced(ctx.client.clone(), &ns), &v, status).await?;
    if ready == desired && updated_count == desired && scheduled == desired {
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(Duration::from_millis(250)))
    }
}

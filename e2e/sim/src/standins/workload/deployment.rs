//! The Deployment and ReplicaSet controllers.

use super::*;

pub(super) async fn reconcile_deployment(
    d: Arc<Deployment>,
    ctx: Arc<Ctx>,
) -> Result<Action, ReconcileError> {
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
    // Recreate: old pods go first; the new ReplicaSet scales up once none are left
    let recreate = dv.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
    let hash_of = |r: &Value| {
        r.pointer("/metadata/labels/pod-template-hash")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let old_pods_left = owned.iter().any(|r| {
        hash_of(r).as_deref()
            != Some(template_hash(&dv.pointer("/spec/template").cloned().unwrap_or(json!({}))).as_str())
            && r.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0) > 0
    });
    let new_target = if recreate && old_pods_left { 0 } else { desired };
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
            "spec": {"replicas": new_target, "minReadySeconds": dv.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)), "selector": selector, "template": tpl},
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
    if num(&new_rs, "/spec/replicas") != new_target {
        let patch = json!({"spec": {"replicas": new_target}, "metadata": {"annotations": {
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
    let mut old_budget = if recreate {
        0
    } else {
        (desired - new_available).max(0)
    };
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

pub(super) async fn reconcile_replicaset(
    rs: Arc<ReplicaSet>,
    ctx: Arc<Ctx>,
) -> Result<Action, ReconcileError> {
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = rs.namespace().unwrap_or_default();
    let rv = serde_json::to_value(rs.as_ref()).map_err(|e| ReconcileError(e.to_string()))?;
    let uid = rs.uid().unwrap_or_default();
    let desired = rv.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let mut pods = owned_pods(&ctx, &ns, &uid).await?;
    let have = pods.len() as i64;
    if have < desired {
        let template = rv.pointer("/spec/template").cloned().unwrap_or(json!({}));
        for _ in 0..(desired - have) {
            let mut pod = pod_from_template(
                &template,
                controller_ref("ReplicaSet", "apps/v1", &rs.name_any(), &uid),
                &[],
            );
            pod["metadata"]["generateName"] = json!(format!("{}-", rs.name_any()));
            create_pod(&ctx, &ns, pod).await?;
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
        let excess = (have - desired) as usize;
        for p in pods.iter().take(excess) {
            delete_pod(&ctx, &ns, name_of(p)).await?;
        }
        pods.drain(..excess);
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

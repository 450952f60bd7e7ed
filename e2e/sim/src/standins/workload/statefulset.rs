//! The StatefulSet controller: pods `<name>-<ordinal>` created in order (each after the
//! previous one is Ready, unless `podManagementPolicy: Parallel`), removed from the highest
//! ordinal, replaced from the highest ordinal on a template change (respecting
//! `rollingUpdate.partition` and `OnDelete`), and the status the real controller writes.

use super::*;

fn ordinal(sts_name: &str, pod: &Value) -> Option<i64> {
    name_of(pod)
        .strip_prefix(sts_name)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

fn revision_of(p: &Value) -> &str {
    p.pointer("/metadata/labels/controller-revision-hash")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(super) async fn reconcile(sts: Arc<StatefulSet>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    if sts.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let v = to_value(sts.as_ref())?;
    let ns = sts.namespace().unwrap_or_default();
    let name = sts.name_any();
    let uid = sts.uid().unwrap_or_default();
    let desired = v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let parallel = v.pointer("/spec/podManagementPolicy").and_then(Value::as_str) == Some("Parallel");
    let on_delete = v.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete");
    let partition = int_at(&v, "/spec/updateStrategy/rollingUpdate/partition");
    let mut pods: Vec<(i64, Value)> = owned_pods(&ctx, &ns, &uid)
        .await?
        .into_iter()
        .filter_map(|p| ordinal(&name, &p).map(|o| (o, p)))
        .collect();
    pods.sort_by_key(|(o, _)| *o);
    let in_use: Vec<String> = pods.iter().map(|(_, p)| revision_of(p).to_string()).collect();
    let (update_revision, _) = current_revision(&ctx, &v, "StatefulSet", &in_use).await?;
    let template = v.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let service = v
        .pointer("/spec/serviceName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let all_ready = |pods: &[(i64, Value)]| pods.iter().all(|(_, p)| pod_ready(p));

    // the current revision: what the pods ran before this update began
    let previous_current = v
        .pointer("/status/currentRevision")
        .and_then(Value::as_str)
        .unwrap_or(&update_revision)
        .to_string();

    // create missing ordinals (in order, one at a time unless Parallel)
    for o in 0..desired {
        if pods.iter().any(|(i, _)| *i == o) {
            continue;
        }
        if !parallel && !all_ready(&pods.iter().filter(|(i, _)| *i < o).cloned().collect::<Vec<_>>()) {
            break;
        }
        let pod_name = format!("{name}-{o}");
        let mut pod = pod_from_template(
            &template,
            controller_ref("StatefulSet", "apps/v1", &name, &uid),
            &[
                ("apps.kubernetes.io/pod-index", o.to_string()),
                ("controller-revision-hash", update_revision.clone()),
                ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
            ],
        );
        pod["metadata"]["name"] = json!(pod_name);
        pod["spec"]["hostname"] = json!(pod_name);
        if !service.is_empty() {
            pod["spec"]["subdomain"] = json!(service);
        }
        for claim in v
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let claim_name = name_of(claim);
            let volumes = pod["spec"]["volumes"].as_array().cloned().unwrap_or_default();
            if !volumes.iter().any(|vol| vol["name"] == claim_name) {
                let mut volumes = volumes;
                volumes.push(json!({"name": claim_name, "persistentVolumeClaim": {"claimName": format!("{claim_name}-{name}-{o}")}}));
                pod["spec"]["volumes"] = Value::Array(volumes);
            }
        }
        create_pod(&ctx, &ns, pod).await?;
        if !parallel {
            break;
        }
    }
    // scale down from the highest ordinal
    let excess: Vec<&(i64, Value)> = pods.iter().rev().filter(|(o, _)| *o >= desired).collect();
    for (_, p) in excess.iter().take(if parallel { excess.len() } else { 1 }) {
        delete_pod(&ctx, &ns, name_of(p)).await?;
    }
    // rolling update: replace the highest outdated ordinal once every pod is Ready
    let outdated = pods
        .iter()
        .rev()
        .find(|(o, p)| *o >= partition && revision_of(p) != update_revision);
    if let Some((_, p)) = outdated
        && !on_delete
        && excess.is_empty()
        && pods.len() as i64 == desired
        && all_ready(&pods)
    {
        delete_pod(&ctx, &ns, name_of(p)).await?;
    }

    let live: Vec<&Value> = pods.iter().map(|(_, p)| p).collect();
    let replicas = live.len() as i64;
    let ready = live.iter().filter(|p| pod_ready(p)).count() as i64;
    let updated = live.iter().filter(|p| revision_of(p) == update_revision).count() as i64;
    let done = updated == desired && replicas == desired && ready == desired;
    let current_revision = if done {
        update_revision.clone()
    } else {
        previous_current
    };
    let current = live.iter().filter(|p| revision_of(p) == current_revision).count() as i64;
    let nonzero = |n: i64| if n == 0 { Value::Null } else { json!(n) };
    let status = json!({
        "observedGeneration": sts.metadata.generation.unwrap_or(1),
        "replicas": replicas,
        "readyReplicas": nonzero(ready),
        "currentReplicas": nonzero(current),
        "updatedReplicas": nonzero(updated),
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
        "availableReplicas": ready,
    });
    write_status(
        &Api::<StatefulSet>::namespaced(ctx.client.clone(), &ns),
        &v,
        status,
    )
    .await?;
    if done {
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(Duration::from_millis(250)))
    }
}

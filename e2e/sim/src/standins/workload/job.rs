//! The Job controller: runs `parallelism` pods at a time until `completions` succeeded, then
//! writes the SuccessCriteriaMet and Complete conditions; `activeDeadlineSeconds` (scaled by
//! the time factor) fails the Job with DeadlineExceeded.

use super::*;

fn job_condition(t: &str, reason: &str, message: &str) -> Value {
    let ts = now();
    json!({"type": t, "status": "True", "lastProbeTime": ts, "lastTransitionTime": ts, "reason": reason, "message": message})
}

pub(super) async fn reconcile(job: Arc<Job>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let v = to_value(job.as_ref())?;
    let finished = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        });
    if finished || v.pointer("/spec/suspend") == Some(&json!(true)) {
        return Ok(Action::await_change());
    }
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let uid = job.uid().unwrap_or_default();
    let completions = v
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let parallelism = v
        .pointer("/spec/parallelism")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let pods = owned_pods(&ctx, &ns, &uid).await?;
    let succeeded = pods
        .iter()
        .filter(|p| p.pointer("/status/phase") == Some(&json!("Succeeded")))
        .count() as i64;
    let failed = pods
        .iter()
        .filter(|p| p.pointer("/status/phase") == Some(&json!("Failed")))
        .count() as i64;
    let active: Vec<&Value> = pods.iter().filter(|p| !pod_finished(p)).collect();
    let start_time = v
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(now);
    let mut status = json!({
        "startTime": start_time,
        "active": active.len(),
        "ready": active.iter().filter(|p| pod_ready(p)).count(),
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "succeeded": succeeded,
        "failed": failed,
    });
    let deadline = v
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .map(|s| s as f64 * ctx.opts.time_factor);
    let running_for = start_time
        .parse::<jiff::Timestamp>()
        .map(|t| (jiff::Timestamp::now().as_millisecond() - t.as_millisecond()) as f64 / 1000.0)
        .unwrap_or(0.0);
    if succeeded >= completions {
        let message = "Reached expected number of succeeded pods";
        status["conditions"] = json!([
            job_condition("SuccessCriteriaMet", "CompletionsReached", message),
            job_condition("Complete", "CompletionsReached", message),
        ]);
        status["completionTime"] = json!(now());
        status["active"] = Value::Null;
        for p in &active {
            delete_pod(&ctx, &ns, name_of(p)).await?;
        }
    } else if deadline.is_some_and(|d| running_for >= d) {
        let message = "Job was active longer than specified deadline";
        status["conditions"] = json!([
            job_condition("FailureTarget", "DeadlineExceeded", message),
            job_condition("Failed", "DeadlineExceeded", message),
        ]);
        status["failed"] = json!(failed + active.len() as i64);
        status["active"] = Value::Null;
        status["ready"] = json!(0);
        for p in &active {
            delete_pod(&ctx, &ns, name_of(p)).await?;
        }
    } else {
        let want = parallelism.min(completions - succeeded) - active.len() as i64;
        let template = v.pointer("/spec/template").cloned().unwrap_or(json!({}));
        for _ in 0..want.max(0) {
            let mut pod = pod_from_template(&template, controller_ref("Job", "batch/v1", &name, &uid), &[]);
            pod["metadata"]["generateName"] = json!(format!("{name}-"));
            create_pod(&ctx, &ns, pod).await?;
        }
        if want > 0 {
            status["active"] = json!(active.len() as i64 + want);
        }
    }
    for k in ["active", "succeeded", "failed"] {
        if status[k] == 0 {
            status[k] = Value::Null;
        }
    }
    write_status(&Api::<Job>::namespaced(ctx.client.clone(), &ns), &v, status).await?;
    match deadline {
        Some(d) if succeeded < completions => Ok(Action::requeue(Duration::from_millis(
            (((d - running_for).max(0.0) * 1000.0) as u64).clamp(50, 1000),
        ))),
        _ => Ok(Action::await_change()),
    }
}

//! Figures of the Kyverno stand-in, printed (not asserted).
//!
//! `cargo bench -p hubspoke-sim --bench kyverno` — admission latency (p50/p99 of Pod creates,
//! server-side dry run, through the mutating and validating webhooks) with 20 policies
//! loaded, against the same creates with no policy; and a background scan: 1,000 Pods that
//! exist before an Audit policy arrives, timed until each has its PolicyReport result.
//! `HUBSPOKE_BENCH_PODS` changes the 1,000, `HUBSPOKE_BENCH_POLICIES` the 20 (the first N).

use std::time::{Duration, Instant};

use hubspoke_sim::SimCluster;
use hubspoke_sim::standins::kyverno::{KyvernoOptions, KyvernoStandIn};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const SAMPLES: usize = 300;

fn pod(name: &str, image: &str) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "bench", "team": "a"}}, "spec": {"containers": [
            {"name": "app", "image": image,
             "livenessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 10},
             "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5},
             "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}},
        ]}}),
    )
    .unwrap()
}

fn pods_rule(name: &str, body: (&str, Value)) -> Value {
    let mut r = json!({"name": name, "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}});
    r[body.0] = body.1;
    r
}

/// 20 policies of the kinds platforms ship: patterns, deny conditions, foreach, CEL,
/// podSecurity, mutations.
fn policies() -> Vec<Value> {
    let mut rules: Vec<(String, Value)> = Vec::new();
    for (i, label) in ["team", "app", "owner", "cost-center", "tier"].iter().enumerate() {
        rules.push((format!("require-{label}"), pods_rule("check", ("validate", json!({"message": format!("label {label}"), "pattern": {"metadata": {"labels": {format!("={label}"): "?*"}}}})))));
        let _ = i;
    }
    rules.push(("disallow-latest".into(), pods_rule("tag", ("validate", json!({"message": "no latest", "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}})))));
    rules.push(("require-limits".into(), pods_rule("limits", ("validate", json!({"message": "limits", "pattern": {"spec": {"containers": [{"resources": {"limits": {"memory": "?*", "cpu": "?*"}}}]}}})))));
    rules.push(("require-probes".into(), pods_rule("probes", ("validate", json!({"message": "probes", "foreach": [{"list": "request.object.spec.containers", "pattern": {"livenessProbe": {"periodSeconds": ">0"}, "readinessProbe": {"periodSeconds": ">0"}}}]})))));
    rules.push(("registries".into(), pods_rule("registry", ("validate", json!({"message": "registry", "foreach": [{"list": "request.object.spec.containers", "deny": {"conditions": {"all": [{"key": "{{ element.image }}", "operator": "Equals", "value": "evil.io/*"}]}}}]})))));
    rules.push(("max-memory".into(), pods_rule("memory", ("validate", json!({"message": "memory", "deny": {"conditions": {"any": [{"key": "{{ request.object.spec.containers[0].resources.limits.memory || '0' }}", "operator": "GreaterThan", "value": "4Gi"}]}}})))));
    rules.push(("no-host-network".into(), pods_rule("host", ("validate", json!({"cel": {"expressions": [{"expression": "!has(object.spec.hostNetwork) || !object.spec.hostNetwork", "message": "host network"}]}})))));
    rules.push((
        "pss-baseline".into(),
        pods_rule(
            "baseline",
            (
                "validate",
                json!({"podSecurity": {"level": "baseline", "version": "latest"}}),
            ),
        ),
    ));
    rules.push((
        "pss-restricted-audit".into(),
        pods_rule(
            "restricted",
            (
                "validate",
                json!({"podSecurity": {"level": "restricted", "version": "latest"}}),
            ),
        ),
    ));
    rules.push(("no-privileged".into(), pods_rule("privileged", ("validate", json!({"message": "privileged", "pattern": {"spec": {"containers": [{"=(securityContext)": {"=(privileged)": false}}]}}})))));
    rules.push(("name-length".into(), pods_rule("name", ("validate", json!({"message": "name", "deny": {"conditions": {"any": [{"key": "{{ length(request.object.metadata.name) }}", "operator": "GreaterThan", "value": 63}]}}})))));
    rules.push(("add-team-annotation".into(), pods_rule("annotate", ("mutate", json!({"patchStrategicMerge": {"metadata": {"annotations": {"+(team)": "{{ request.object.metadata.labels.team || 'none' }}"}}}})))));
    rules.push(("default-security-context".into(), pods_rule("escalation", ("mutate", json!({"foreach": [{"list": "request.object.spec.containers", "patchStrategicMerge": {"spec": {"containers": [{"(name)": "{{ element.name }}", "securityContext": {"+(allowPrivilegeEscalation)": false}}]}}}]})))));
    rules.push((
        "add-env-label".into(),
        pods_rule(
            "env",
            (
                "mutate",
                json!({"patchesJson6902": "- op: add\n  path: /metadata/labels/env\n  value: bench"}),
            ),
        ),
    ));
    rules.push(("image-pull-policy".into(), pods_rule("pull", ("mutate", json!({"patchStrategicMerge": {"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}})))));
    rules.push((
        "no-default-sa-token".into(),
        pods_rule(
            "token",
            (
                "validate",
                json!({"message": "token", "pattern": {"spec": {"=(automountServiceAccountToken)": "*"}}}),
            ),
        ),
    ));
    rules
        .into_iter()
        .map(|(name, rule)| {
            json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": name},
                "spec": {"validationFailureAction": "Audit", "background": false, "rules": [rule]}})
        })
        .collect()
}

fn cpol_api(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("kyverno.io", "v1", "ClusterPolicy"),
            "clusterpolicies",
        ),
    )
}

async fn ready(client: &kube::Client, names: &[String]) {
    let api = cpol_api(client);
    loop {
        let list = api.list(&ListParams::default()).await.unwrap();
        let ok = names.iter().all(|n| {
            list.items.iter().any(|p| {
                p.metadata.name.as_deref() == Some(n)
                    && p.data.pointer("/status/conditions/0/status") == Some(&json!("True"))
            })
        });
        if ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// p50 and p99 of `SAMPLES` dry-run Pod creates.
async fn latencies(pods: &Api<Pod>, label: &str) -> (Duration, Duration) {
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let mut took = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let p = pod(&format!("{label}-{i}"), "nginx:1.27");
        let t = Instant::now();
        pods.create(&dry, &p).await.unwrap();
        took.push(t.elapsed());
    }
    took.sort();
    (took[SAMPLES / 2], took[SAMPLES * 99 / 100])
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::var("HUBSPOKE_BENCH_PODS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let c = SimCluster::start("bench-kyverno").await.unwrap();
    let client = c.client().await.unwrap();
    let _k = KyvernoStandIn::install(client.clone(), KyvernoOptions::default())
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (b50, b99) = latencies(&pods, "base").await;
    println!("kyverno: Pod create (dry run), no policy: p50 {b50:.2?}, p99 {b99:.2?}");
    let wanted: usize = std::env::var("HUBSPOKE_BENCH_POLICIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let policies: Vec<Value> = policies().into_iter().take(wanted).collect();
    let names: Vec<String> = policies
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    for p in &policies {
        cpol_api(&client)
            .create(
                &PostParams::default(),
                &serde_json::from_value(p.clone()).unwrap(),
            )
            .await
            .unwrap();
    }
    ready(&client, &names).await;
    let (p50, p99) = latencies(&pods, "loaded").await;
    println!(
        "kyverno: Pod create (dry run), {} policies (mutating and validating webhooks): p50 {p50:.2?}, p99 {p99:.2?}",
        policies.len()
    );
    for p in &names {
        cpol_api(&client).delete(p, &Default::default()).await.unwrap();
    }
    // a background scan of pods that existed before the policy
    let t = Instant::now();
    for i in 0..count {
        let image = if i % 2 == 0 { "nginx:latest" } else { "nginx:1.27" };
        pods.create(&PostParams::default(), &pod(&format!("old-{i}"), image))
            .await
            .unwrap();
    }
    println!("kyverno: {count} Pods created in {:.2?}", t.elapsed());
    let policy = json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "scan-latest"},
        "spec": {"background": true, "rules": [pods_rule("tag", ("validate", json!({"message": "no latest", "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}})))]}});
    let t = Instant::now();
    cpol_api(&client)
        .create(&PostParams::default(), &serde_json::from_value(policy).unwrap())
        .await
        .unwrap();
    let reports: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
            "policyreports",
        ),
    );
    loop {
        let list = reports.list(&ListParams::default()).await.unwrap();
        let done = list
            .items
            .iter()
            .filter(|r| {
                r.data["results"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|x| x["policy"] == "scan-latest"))
            })
            .count();
        if done >= count {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            println!("kyverno: background scan incomplete after 600 s: {done} of {count}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "kyverno: background scan of {count} pre-existing Pods: every report written {:.2?} after the policy (peak RSS {} MiB)",
        t.elapsed(),
        peak_rss_mib()
    );
}

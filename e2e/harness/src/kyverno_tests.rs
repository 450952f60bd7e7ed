//! Kyverno CLI test files (`kyverno-test.yaml`) run against a live cluster's Kyverno: the
//! file's policies are applied in Audit mode (so every resource is admitted and every rule's
//! result reported, as `kyverno test` computes results regardless of the failure action),
//! its exceptions and resources created, and each expected result compared with the one
//! Kyverno's admission wrote into the resource's PolicyReport; `patchedResources` are
//! compared with the resource as stored (as a subset: the API server adds defaults and
//! status). Everything the run created is deleted afterwards.

use std::path::Path;
use std::time::Duration;

use hubspoke_kyverno::clitest::{self, Expectation, TestFile};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::kube_util::apply;

/// How long a run waits for a policy to be Ready and for a resource's results.
const WAIT: Duration = Duration::from_secs(30);

/// One expectation's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub expectation: Expectation,
    pub ok: bool,
    /// `Ok`, or what differed (`Want pass, got fail: <message>`, as `kyverno test` says).
    pub detail: String,
}

async fn resource_api(client: &Client, obj: &Value) -> Result<(Api<DynamicObject>, bool), String> {
    let av = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let (g, v) = av.split_once('/').unwrap_or(("", av));
    let (ar, caps) = kube::discovery::pinned_kind(client, &GroupVersionKind::gvk(g, v, kind))
        .await
        .map_err(|e| format!("{av} {kind}: not served by the cluster: {e}"))?;
    let namespaced = caps.scope == kube::discovery::Scope::Namespaced;
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    Ok(if namespaced {
        (Api::namespaced_with(client.clone(), ns, &ar), true)
    } else {
        (Api::all_with(client.clone(), &ar), false)
    })
}

/// The policy in Audit mode: Kyverno's CLI reports results whatever the action; here every
/// resource must be admitted for its results to be reported.
fn audit(policy: &Value) -> Value {
    let mut p = policy.clone();
    if let Some(spec) = p.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("validationFailureAction".into(), json!("Audit"));
        spec.remove("validationFailureActionOverrides");
        for r in spec
            .get_mut("rules")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(v) = r.get_mut("validate").and_then(Value::as_object_mut) {
                v.remove("failureAction");
                v.remove("failureActionOverrides");
            }
        }
    }
    p
}

fn policy_api(client: &Client, policy: &Value) -> Api<DynamicObject> {
    let kind = policy["kind"].as_str().unwrap_or("ClusterPolicy");
    let plural = if kind == "Policy" {
        "policies"
    } else {
        "clusterpolicies"
    };
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("kyverno.io", "v1", kind), plural);
    match policy.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if kind == "Policy" => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    }
}

fn ready(o: Option<&DynamicObject>) -> Option<(bool, String)> {
    let c = o?
        .data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"] == "True",
        c["message"].as_str().unwrap_or("").to_string(),
    ))
}

/// Runs one test file; the error is for what stops the whole file (a policy Kyverno
/// refuses, a resource the API server refuses), naming the file.
pub async fn run(client: &Client, test: &TestFile) -> Result<Vec<Outcome>, String> {
    let file = test.path.display().to_string();
    let mut created: Vec<(Api<DynamicObject>, String)> = Vec::new();
    let result = run_inner(client, test, &mut created).await;
    // everything created goes, newest first
    for (api, name) in created.into_iter().rev() {
        let _ = api.delete(&name, &Default::default()).await;
    }
    result.map_err(|e| format!("{file}: {e}"))
}

async fn run_inner(
    client: &Client,
    test: &TestFile,
    created: &mut Vec<(Api<DynamicObject>, String)>,
) -> Result<Vec<Outcome>, String> {
    // namespaces the resources and exceptions need
    let nss: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Namespace"), "namespaces"),
    );
    let mut wanted: Vec<String> = test
        .resources
        .iter()
        .chain(&test.exceptions)
        .filter(|o| o["kind"] != "Namespace")
        .filter_map(|o| {
            o.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    for ns in wanted {
        if nss.get_opt(&ns).await.map_err(|e| e.to_string())?.is_none() {
            let obj: DynamicObject = serde_json::from_value(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .map_err(|e| e.to_string())?;
            nss.create(&PostParams::default(), &obj)
                .await
                .map_err(|e| format!("creating namespace {ns}: {e}"))?;
            created.push((nss.clone(), ns));
        }
    }
    for p in &test.policies {
        let api = policy_api(client, p);
        let name = p
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        apply(&api, &audit(p))
            .await
            .map_err(|e| format!("policy {name}: {}", api_message(e)))?;
        created.push((api.clone(), name.clone()));
        let status = crate::kube_util::wait_for(
            api,
            &name,
            |o: Option<&DynamicObject>| {
                ready(o).is_some_and(|(ok, _)| ok)
                    || ready(o).is_some_and(|(_, m)| m.starts_with("Not Ready"))
            },
            WAIT,
            "policy Ready",
            |o| format!("{:?}", ready(o)),
        )
        .await?;
        if let Some((false, message)) = ready(Some(&status)) {
            return Err(format!("policy {name} is not Ready: {message}"));
        }
    }
    for e in &test.exceptions {
        let (api, _) = resource_api(client, e).await?;
        let name = e
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        apply(&api, e)
            .await
            .map_err(|err| format!("exception {name}: {}", api_message(err)))?;
        created.push((api, name));
    }
    // Kyverno picks policies and exceptions up through its informers
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut outcomes = Vec::new();
    for r in &test.resources {
        let (api, namespaced) = resource_api(client, r).await?;
        let name = r
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ns = if namespaced {
            r.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        let key = if ns.is_empty() {
            name.clone()
        } else {
            format!("{ns}/{name}")
        };
        let kind = r["kind"].as_str().unwrap_or("").to_string();
        let expectations: Vec<&Expectation> = test
            .expectations
            .iter()
            .filter(|e| {
                e.kind == kind && (e.resource == key || (!e.resource.contains('/') && e.resource == name))
            })
            .collect();
        let stored = api
            .create(
                &PostParams::default(),
                &serde_json::from_value(r.clone()).map_err(|e| e.to_string())?,
            )
            .await
            .map_err(|e| format!("{kind} {key}: {}", api_message(e)))?;
        created.push((api.clone(), name.clone()));
        if expectations.is_empty() {
            continue;
        }
        let uid = stored.uid().unwrap_or_default();
        let reports = report_api(client, &ns);
        let found = |o: Option<&DynamicObject>| {
            let results = o
                .and_then(|o| o.data["results"].as_array().cloned())
                .unwrap_or_default();
            expectations.iter().all(|e| find(&results, e).is_some())
        };
        let report = crate::kube_util::wait_for(reports, &uid, found, WAIT, "policy report", |o| {
            format!("{:?}", o.map(|o| o.data["results"].clone()))
        })
        .await
        .ok();
        let results = report
            .as_ref()
            .and_then(|o| o.data["results"].as_array().cloned())
            .unwrap_or_default();
        let actual = serde_json::to_value(api.get(&name).await.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        for e in expectations {
            outcomes.push(judge(e, &results, &actual));
        }
    }
    // expectations naming a resource the file does not hold
    for e in &test.expectations {
        if !outcomes.iter().any(|o| &o.expectation == e) {
            outcomes.push(Outcome {
                expectation: e.clone(),
                ok: false,
                detail: format!("{} {} is not among the test's resources", e.kind, e.resource),
            });
        }
    }
    Ok(outcomes)
}

fn api_message(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        other => other.to_string(),
    }
}

fn report_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    if ns.is_empty() {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "ClusterPolicyReport"),
            "clusterpolicyreports",
        );
        Api::all_with(client.clone(), &ar)
    } else {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
            "policyreports",
        );
        Api::namespaced_with(client.clone(), ns, &ar)
    }
}

fn find<'a>(results: &'a [Value], e: &Expectation) -> Option<&'a Value> {
    results.iter().find(|r| {
        clitest::policy_matches(&e.policy, r["policy"].as_str().unwrap_or(""))
            && (e.rule.is_empty() || clitest::rule_matches(&e.rule, r["rule"].as_str().unwrap_or("")))
    })
}

/// `kyverno test`'s `checkResult`: the patched resource first, then the result.
fn judge(e: &Expectation, results: &[Value], actual: &Value) -> Outcome {
    let outcome = |ok: bool, detail: String| Outcome {
        expectation: e.clone(),
        ok,
        detail,
    };
    if let Some(patched) = &e.patched
        && !clitest::contains(actual, patched)
    {
        return outcome(
            false,
            format!(
                "Patched resource didn't match the patched resource in the test result: want {patched}, the cluster holds {actual}"
            ),
        );
    }
    let Some(r) = find(results, e) else {
        return outcome(
            false,
            format!(
                "no result for rule {} of policy {} on {} {}",
                e.rule, e.policy, e.kind, e.resource
            ),
        );
    };
    let got = r["result"].as_str().unwrap_or("");
    let message = r["message"].as_str().unwrap_or("");
    if got != e.result {
        return outcome(false, format!("Want {}, got {got}: {message}", e.result));
    }
    outcome(true, "Ok".into())
}

/// Loads and runs every `kyverno-test.yaml` under `root`.
pub async fn run_all(client: &Client, root: &Path) -> Result<Vec<(TestFile, Vec<Outcome>)>, String> {
    let mut out = Vec::new();
    for path in clitest::find(root) {
        let test = clitest::load(&path)?;
        let outcomes = run(client, &test).await?;
        out.push((test, outcomes));
    }
    Ok(out)
}

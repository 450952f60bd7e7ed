//! Kyverno: on every spoke that enables it, Kyverno's Application is Synced and Healthy and
//! every platform policy Ready; every Enforce policy denies its violating probe (the denial
//! naming policy and rule) and admits its compliant one; Audit policies admit both and
//! report them in PolicyReports.

use std::path::Path;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::Value;

use super::{Check, CheckFuture, Context};
use crate::environment::Cluster;
use crate::expect::{Verdict, eventually, expect};
use crate::kyverno::{ClusterPolicy, PolicyReport};

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            suite: "kyverno",
            name: "policies-ready",
            disturbs: false,
            run: policies_ready,
        },
        Check {
            suite: "kyverno",
            name: "enforced",
            disturbs: false,
            run: enforced,
        },
        Check {
            suite: "kyverno",
            name: "audited",
            disturbs: false,
            run: audited,
        },
    ]
}

/// One (policy, rule, message) of a Kyverno denial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub policy: String,
    pub rule: String,
    pub message: String,
}

/// Parses Kyverno's blocked-request text (webhooks/utils GetBlockedMessages):
/// `resource <Kind>/<ns>/<name> was blocked due to the following policies` then a YAML map
/// (yaml.v2: messages past 80 columns wrap onto indented lines) of policy to rule to message.
pub fn parse_denial(text: &str) -> Vec<Denial> {
    let Some(at) = text.find("was blocked due to the following policies") else {
        return Vec::new();
    };
    let yaml = text[at..].split_once('\n').map(|(_, rest)| rest).unwrap_or("");
    let Ok(serde_json::Value::Object(policies)) = serde_saphyr::from_str::<serde_json::Value>(yaml) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (policy, rules) in policies {
        for (rule, message) in rules.as_object().into_iter().flatten() {
            out.push(Denial {
                policy: policy.clone(),
                rule: rule.clone(),
                message: match message {
                    serde_json::Value::String(m) => m.clone(),
                    other => other.to_string(),
                },
            });
        }
    }
    out
}

/// A probe from fixtures/kyverno-probes: the Pod and what must happen to it.
struct Probe {
    policy: String,
    pod: Pod,
    expect: String,
}

impl Probe {
    /// The probe's namespace (created on the spoke if missing) and name.
    async fn place(&self, spoke: &Cluster) -> Result<(String, String), String> {
        let ns = self
            .pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        ensure_namespace(spoke, &ns).await?;
        Ok((ns, self.pod.metadata.name.clone().unwrap_or_default()))
    }
}

fn probes(root: &Path) -> Result<Vec<Probe>, String> {
    let dir = root.join("fixtures/kyverno-probes");
    let mut out = Vec::new();
    let mut policies: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    policies.sort();
    for p in policies {
        for which in ["violating", "compliant"] {
            let f = p.join(format!("{which}.yaml"));
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let pod: Pod = serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            out.push(Probe {
                policy: labels.get("hubspoke.io/policy").cloned().unwrap_or_default(),
                expect: labels.get("hubspoke.io/expect").cloned().unwrap_or_default(),
                pod,
            });
        }
    }
    Ok(out)
}

fn kyverno_spokes<'a>(ctx: &'a Context<'a>) -> Vec<&'a Cluster> {
    ctx.env
        .spokes
        .iter()
        .filter(|s| s.definition.enables("kyverno"))
        .collect()
}

fn cluster_policies(c: &Cluster) -> Api<ClusterPolicy> {
    Api::all(c.client.clone())
}

/// The names of the platform's policies (fixtures/policies).
fn platform_policies(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("fixtures/policies");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        for d in crate::yaml::parse_all(&text).map_err(|e| format!("{}: {}", p.display(), e.message))? {
            if let Some(n) = d.to_json().pointer("/metadata/name").and_then(Value::as_str) {
                names.push(n.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

fn ready(p: &ClusterPolicy) -> Option<String> {
    let conds = p.status.as_ref()?.get("conditions").and_then(Value::as_array)?;
    let c = conds.iter().find(|c| c["type"] == "Ready")?;
    (c["status"] != "True").then(|| c["message"].as_str().unwrap_or("not Ready").to_string())
}

/// Kyverno serving the platform's policies on spoke `s`: its Application Synced and Healthy,
/// every policy of fixtures/policies Ready. The precondition of the other kyverno checks.
async fn wait_policies_ready(ctx: &Context<'_>, s: &Cluster, want: Vec<String>) -> Result<(), String> {
    let app = format!("system-kyverno-{}", s.name);
    let apps: Api<crate::argocd::Application> =
        Api::namespaced(ctx.env.hub.client.clone(), crate::bootstrap::ARGOCD_NAMESPACE);
    let a2 = app.clone();
    let e = expect(
        format!("Application {app} Synced and Healthy"),
        move |apps: &[crate::argocd::Application]| match apps
            .iter()
            .find(|a| a.metadata.name.as_deref() == Some(a2.as_str()))
        {
            None => Verdict::Pending(format!("Application {a2} does not exist")),
            Some(a) => match super::convergence::offender(a) {
                None => Verdict::Pass,
                Some(why) => Verdict::Pending(why),
            },
        },
    );
    eventually(apps, ctx.intervals.convergence, e.as_ref())
        .await
        .map_err(|f| format!("spoke {}: {f}", s.name))?;
    let e = expect(
        format!("ClusterPolicies {} Ready", want.join(", ")),
        move |ps: &[ClusterPolicy]| {
            let mut pending = Vec::new();
            for n in &want {
                match ps.iter().find(|p| p.metadata.name.as_deref() == Some(n.as_str())) {
                    None => pending.push(format!("{n} does not exist")),
                    Some(p) => {
                        if let Some(why) = ready(p) {
                            pending.push(format!("{n} is not Ready: {why}"));
                        } else if p.status.as_ref().and_then(|s| s.get("conditions")).is_none() {
                            pending.push(format!("{n} has no status yet"));
                        }
                    }
                }
            }
            if pending.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Pending(pending.join("; "))
            }
        },
    );
    eventually(cluster_policies(s), ctx.intervals.policy, e.as_ref())
        .await
        .map(|_| ())
        .map_err(|f| format!("spoke {}: {f}", s.name))
}

fn policies_ready<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let want = platform_policies(&ctx.root)?;
        let spokes = kyverno_spokes(ctx);
        if spokes.is_empty() {
            return Err("no spoke enables kyverno (labels.enable_kyverno: \"true\")".into());
        }
        let results = futures::future::join_all(
            spokes
                .into_iter()
                .map(|s| wait_policies_ready(ctx, s, want.clone())),
        )
        .await;
        super::outcome(results.into_iter().filter_map(Result::err))
    })
}

async fn ensure_namespace(c: &Cluster, name: &str) -> Result<(), String> {
    let ns: Namespace = serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "hubspoke"}}}))
    .map_err(|e| e.to_string())?;
    match Api::<Namespace>::all(c.client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(format!("spoke {}: creating namespace {name}: {e}", c.name)),
    }
}

/// What a dry-run create of probe `p` on `s` says, against what it must: None when it
/// matches.
async fn probe_once(s: &Cluster, p: &Probe, ns: &str, name: &str) -> Option<String> {
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let r = Api::<Pod>::namespaced(s.client.clone(), ns)
        .create(&dry, &p.pod)
        .await;
    match (p.expect.as_str(), r) {
        ("denied", Ok(_)) => Some(format!(
            "spoke {}: {ns}/{name} was admitted, but policy {} must deny it",
            s.name, p.policy
        )),
        ("denied", Err(kube::Error::Api(st))) => {
            let denials = parse_denial(&st.message);
            (!denials.iter().any(|d| d.policy == p.policy)).then(|| {
                format!(
                    "spoke {}: {ns}/{name} was refused, but not by policy {}: {}",
                    s.name,
                    p.policy,
                    st.message.trim()
                )
            })
        }
        ("admitted", Err(e)) => Some(format!(
            "spoke {}: {ns}/{name} must be admitted by policy {}, but: {e}",
            s.name, p.policy
        )),
        (_, Err(e)) => Some(format!("spoke {}: {ns}/{name}: {e}", s.name)),
        _ => None,
    }
}

/// Probes until the answer is the expected one or the policy interval is spent: Kyverno
/// applies a policy change to admission a moment after the change (its policy cache and
/// webhook configuration follow the ClusterPolicy by watch), and a dry run is not
/// something to watch, so the probe is retried with a growing pause (100 ms doubling up to
/// 2 s). Ok(Err(last answer)) when it never matched.
async fn probe_until(ctx: &Context<'_>, s: &Cluster, p: &Probe) -> Result<Result<(), String>, String> {
    let (ns, name) = p.place(s).await?;
    let deadline = tokio::time::Instant::now() + ctx.intervals.policy;
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        let Some(wrong) = probe_once(s, p, &ns, &name).await else {
            return Ok(Ok(()));
        };
        if tokio::time::Instant::now() + pause > deadline {
            return Ok(Err(wrong));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(2));
    }
}

fn enforced<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let probes = probes(&ctx.root)?;
        let want = platform_policies(&ctx.root)?;
        let mut failures = Vec::new();
        for s in kyverno_spokes(ctx) {
            wait_policies_ready(ctx, s, want.clone()).await?;
            let answers = futures::future::join_all(
                probes
                    .iter()
                    .filter(|p| p.expect == "denied" || p.expect == "admitted")
                    .map(|p| probe_until(ctx, s, p)),
            )
            .await;
            for a in answers {
                if let Err(f) = a? {
                    failures.push(f);
                }
            }
        }
        super::outcome(failures)
    })
}

fn policy_reports(c: &Cluster, ns: &str) -> Api<PolicyReport> {
    Api::namespaced(c.client.clone(), ns)
}

fn audited<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let probes = probes(&ctx.root)?;
        let audit: Vec<&Probe> = probes
            .iter()
            .filter(|p| p.expect.starts_with("reported-"))
            .collect();
        let want = platform_policies(&ctx.root)?;
        let mut failures = Vec::new();
        for s in kyverno_spokes(ctx) {
            wait_policies_ready(ctx, s, want.clone()).await?;
            for p in &audit {
                let (ns, name) = p.place(s).await?;
                let pods = Api::<Pod>::namespaced(s.client.clone(), &ns);
                let _ = pods.delete(&name, &DeleteParams::default()).await;
                if let Err(e) = pods.create(&PostParams::default(), &p.pod).await {
                    failures.push(format!(
                        "spoke {}: {ns}/{name} must be admitted (Audit), but: {e}",
                        s.name
                    ));
                    continue;
                }
                let want = p.expect.trim_start_matches("reported-").to_string();
                let (policy, n2) = (p.policy.clone(), name.clone());
                let e = expect(
                    format!("a PolicyReport result {want} of {policy} for {ns}/{name}"),
                    move |reports: &[PolicyReport]| {
                        let result = reports
                            .iter()
                            .filter(|r| r.scope.as_ref().and_then(|s| s.name.as_deref()) == Some(n2.as_str()))
                            .find_map(|r| r.results_of(&policy).next());
                        match result {
                            None => Verdict::Pending(format!("no result of {policy} for {n2} yet")),
                            Some(x) if x.result == want => Verdict::Pass,
                            Some(x) => Verdict::Fail(format!(
                                "{policy} reported {:?} for {n2}: {}",
                                x.result, x.message
                            )),
                        }
                    },
                );
                let r = eventually(policy_reports(s, &ns), ctx.intervals.policy, e.as_ref()).await;
                let _ = pods.delete(&name, &DeleteParams::default()).await;
                if let Err(f) = r {
                    failures.push(format!("spoke {}: {f}", s.name));
                }
            }
        }
        super::outcome(failures)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_parsed_into_policy_rule_and_message() {
        let text = "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Pod/default/x was blocked due to the following policies \n\ndeny-default-namespace:\n  deny-pods-in-default: 'validation error: Workloads may not run in the default namespace.\n    rule deny-pods-in-default failed at path /metadata/namespace/'\ndeny-latest-image:\n  deny-latest-tag: 'validation error: The image tag latest is not allowed.'\n";
        assert_eq!(
            parse_denial(text),
            [
                Denial {
                    policy: "deny-default-namespace".into(),
                    rule: "deny-pods-in-default".into(),
                    message: "validation error: Workloads may not run in the default namespace. rule deny-pods-in-default failed at path /metadata/namespace/".into(),
                },
                Denial {
                    policy: "deny-latest-image".into(),
                    rule: "deny-latest-tag".into(),
                    message: "validation error: The image tag latest is not allowed.".into(),
                },
            ]
        );
        assert!(parse_denial("forbidden").is_empty());
    }
}

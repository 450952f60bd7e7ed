//! Convergence: every Application Synced and Healthy, then stable for a window, and every
//! Application deployed the revision under test (so a silently ignored override fails).

use serde_json::Value;

use super::{Check, CheckFuture, Context, applications};
use crate::argocd::Application;
use crate::expect::{Verdict, consistently, eventually, expect};

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            suite: "convergence",
            name: "synced-healthy",
            disturbs: false,
            run: synced_healthy,
        },
        Check {
            suite: "convergence",
            name: "stable",
            disturbs: false,
            run: stable,
        },
        Check {
            suite: "convergence",
            name: "revision-under-test",
            disturbs: false,
            run: revision_under_test,
        },
    ]
}

fn status<'a>(a: &'a Application, p: &str) -> &'a str {
    a.status
        .as_ref()
        .and_then(|s| s.pointer(p))
        .and_then(Value::as_str)
        .unwrap_or("-")
}

/// One Application that is not Synced and Healthy, with what Argo CD says about it:
/// conditions, the operation's message, the resources that are not Healthy or not Synced.
pub fn offender(a: &Application) -> Option<String> {
    let (sync, health) = (status(a, "/sync/status"), status(a, "/health/status"));
    if sync == "Synced" && health == "Healthy" {
        return None;
    }
    let name = a.metadata.name.clone().unwrap_or_default();
    let mut line = format!("{name}: sync {sync}, health {health}");
    let st = a.status.clone().unwrap_or_default();
    if let Some(m) = st.pointer("/operationState/message").and_then(Value::as_str) {
        line.push_str(&format!(
            "; operation {}: {m}",
            status(a, "/operationState/phase")
        ));
    }
    for c in st
        .pointer("/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        line.push_str(&format!(
            "; {}: {}",
            c["type"].as_str().unwrap_or("?"),
            c["message"].as_str().unwrap_or("")
        ));
    }
    let bad: Vec<String> = st
        .pointer("/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| {
            r.pointer("/health/status")
                .and_then(Value::as_str)
                .is_some_and(|h| h != "Healthy")
                || r["status"].as_str().is_some_and(|s| s != "Synced")
        })
        .map(|r| {
            let mut s = format!(
                "{}/{}",
                r["kind"].as_str().unwrap_or("?"),
                r["name"].as_str().unwrap_or("?")
            );
            if let Some(ns) = r["namespace"].as_str().filter(|n| !n.is_empty()) {
                s = format!("{ns}/{s}");
            }
            let health = r.pointer("/health/status").and_then(Value::as_str).unwrap_or("-");
            let msg = r.pointer("/health/message").and_then(Value::as_str).unwrap_or("");
            format!(
                "{s} {} {health}{}",
                r["status"].as_str().unwrap_or("-"),
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(" ({msg})")
                }
            )
        })
        .collect();
    if !bad.is_empty() {
        line.push_str(&format!("; resources: {}", bad.join(", ")));
    }
    Some(line)
}

/// The platform's Applications: hubspoke's own short-lived probes (registration) are not
/// the platform's, so their coming and going is no flip.
fn platform(apps: &[Application]) -> impl Iterator<Item = &Application> {
    apps.iter().filter(|a| !crate::bootstrap::is_probe(&a.metadata))
}

fn all_synced_healthy(apps: &[Application]) -> Verdict {
    if platform(apps).next().is_none() {
        return Verdict::Pending("no Applications on the hub".into());
    }
    let offenders: Vec<String> = platform(apps).filter_map(offender).collect();
    if offenders.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Pending(offenders.join("\n"))
    }
}

fn synced_healthy<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let e = expect("every Application Synced and Healthy", all_synced_healthy);
        eventually(applications(ctx), ctx.intervals.convergence, e.as_ref())
            .await
            .map(|_| ())
            .map_err(|f| f.to_string())
    })
}

fn stable<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let e = expect("every Application Synced and Healthy", all_synced_healthy);
        // converged first (the stability window starts from a converged state)
        eventually(applications(ctx), ctx.intervals.convergence, e.as_ref())
            .await
            .map_err(|f| f.to_string())?;
        consistently(applications(ctx), ctx.intervals.stability, e.as_ref())
            .await
            .map_err(|f| f.to_string())
    })
}

/// The revisions an Application synced (one per source), with the source each belongs to.
fn synced_revisions(a: &Application) -> Vec<(String, String, bool)> {
    let sources: Vec<&crate::argocd::ApplicationSource> = match &a.spec.source {
        Some(s) => vec![s],
        None => a.spec.sources.iter().collect(),
    };
    let st = a.status.clone().unwrap_or_default();
    let revisions: Vec<String> = match st.pointer("/sync/revisions").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .map(|r| r.as_str().unwrap_or_default().to_string())
            .collect(),
        None => vec![
            st.pointer("/sync/revision")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ],
    };
    sources
        .iter()
        .zip(revisions)
        .map(|(s, r)| (s.repo_url.clone(), r, s.chart.is_some()))
        .collect()
}

fn revision_under_test<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let Some(rev) = ctx.env.revision.clone() else {
            return Err("the environment records no revision under test; was it bootstrapped?".into());
        };
        let Some(sha) = rev.sha.clone() else {
            return Err(format!(
                "the revision under test {} was not resolved to a commit, so what Argo CD synced cannot be compared",
                rev.revision
            ));
        };
        let norm = |u: &str| u.trim_end_matches('/').trim_end_matches(".git").to_lowercase();
        let repository = norm(&rev.repository);
        let same_repo = move |url: &str| norm(url) == repository;
        let e = expect(
            format!("every Application of {} to have synced {sha}", rev.repository),
            move |apps: &[Application]| {
                let mut wrong = Vec::new();
                let mut pending = Vec::new();
                for a in platform(apps) {
                    let name = a.metadata.name.clone().unwrap_or_default();
                    for (url, synced, chart) in synced_revisions(a) {
                        if chart || !same_repo(&url) {
                            continue;
                        }
                        if synced.is_empty() {
                            pending.push(format!("{name} has not synced yet"));
                        } else if synced != sha {
                            wrong.push(format!("{name} synced {synced} of {url}"));
                        }
                    }
                }
                if !wrong.is_empty() {
                    Verdict::Fail(format!("not the revision under test: {}", wrong.join("; ")))
                } else if !pending.is_empty() {
                    Verdict::Pending(pending.join("; "))
                } else {
                    Verdict::Pass
                }
            },
        );
        eventually(applications(ctx), ctx.intervals.convergence, e.as_ref())
            .await
            .map(|_| ())
            .map_err(|f| f.to_string())
    })
}

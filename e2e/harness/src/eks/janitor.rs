//! `hubspoke janitor`: finds EKS clusters that hubspoke runs created and that outlived their
//! run (a run killed before its teardown, a runner that vanished), and with `--apply`
//! deletes them the way EKS requires: node groups and Fargate profiles first, then the
//! cluster, each waited for until gone.
//!
//! A cluster is a hubspoke cluster when it carries the `hubspoke.io/run-id` tag terraform
//! puts on everything a run creates. It is leaked when it is older than `--older-than` (a
//! margin for runs without a deadline, and against clock skew) and its run's deadline
//! (`hubspoke.io/expires-at`, when the run had one) has passed. Untagged clusters are never
//! listed, whatever their age.

use std::time::Duration;

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata};
use jiff::{SignedDuration, Timestamp};

use crate::progress::Progress;

pub const RUN_ID_TAG: &str = "hubspoke.io/run-id";
pub const EXPIRES_AT_TAG: &str = "hubspoke.io/expires-at";
pub const ROLE_TAG: &str = "hubspoke.io/role";

/// One hubspoke cluster and the janitor's verdict on it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Candidate {
    pub name: String,
    pub run_id: String,
    /// hub or spoke, from its tags.
    pub role: String,
    pub status: String,
    pub created_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    /// Leaked: older than the margin and past its run's deadline.
    pub leaked: bool,
    /// Why, in words.
    pub why: String,
}

fn not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ResourceNotFoundException")
}

fn age(d: SignedDuration) -> String {
    let mins = d.as_secs().max(0) / 60;
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// The verdict on a cluster with `run_id` created at `created`, whose run ends at the
/// `expires` tag (empty when the run had no deadline).
pub fn judge(
    created: Option<Timestamp>,
    expires: &str,
    older_than: Duration,
    now: Timestamp,
) -> (bool, Option<Timestamp>, String) {
    let margin = SignedDuration::try_from(older_than).unwrap_or(SignedDuration::MAX);
    let expires_at = expires.parse::<Timestamp>().ok();
    let Some(created) = created else {
        return (
            false,
            expires_at,
            "EKS reports no creation time; left alone".into(),
        );
    };
    let old = now.duration_since(created);
    if old < margin {
        return (
            false,
            expires_at,
            format!("{} old, younger than {}", age(old), age(margin)),
        );
    }
    match (expires.is_empty(), expires_at) {
        (true, _) => (
            true,
            None,
            format!(
                "{} old, older than {}; its run set no deadline",
                age(old),
                age(margin)
            ),
        ),
        (false, Some(at)) if at > now => (
            false,
            Some(at),
            format!(
                "its run is still under way (until {at}, in {})",
                age(at.duration_since(now))
            ),
        ),
        (false, Some(at)) => (
            true,
            Some(at),
            format!(
                "{} old; its run ended {} ago ({at})",
                age(old),
                age(now.duration_since(at))
            ),
        ),
        (false, None) => (
            true,
            None,
            format!(
                "{} old, older than {}; its {EXPIRES_AT_TAG} tag {expires:?} is not a time",
                age(old),
                age(margin)
            ),
        ),
    }
}

/// Every hubspoke cluster the client's region has, judged at `now`.
pub async fn survey(
    client: &aws_sdk_eks::Client,
    older_than: Duration,
    now: Timestamp,
) -> Result<Vec<Candidate>, String> {
    let mut names = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = client
            .list_clusters()
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| format!("ListClusters failed: {}", DisplayErrorContext(&e)))?;
        names.extend(out.clusters().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    let mut found = Vec::new();
    for name in names {
        let c = match client.describe_cluster().name(&name).send().await {
            Ok(out) => match out.cluster {
                Some(c) => c,
                None => continue,
            },
            // deleted between the list and now
            Err(e) if not_found(&e) => continue,
            Err(e) => {
                return Err(format!(
                    "DescribeCluster {name} failed: {}",
                    DisplayErrorContext(&e)
                ));
            }
        };
        let tags = c.tags.clone().unwrap_or_default();
        let Some(run_id) = tags.get(RUN_ID_TAG).cloned() else {
            continue;
        };
        let created = c.created_at.and_then(|t| Timestamp::from_second(t.secs()).ok());
        let expires = tags.get(EXPIRES_AT_TAG).cloned().unwrap_or_default();
        let (leaked, expires_at, why) = judge(created, &expires, older_than, now);
        found.push(Candidate {
            name,
            run_id,
            role: tags.get(ROLE_TAG).cloned().unwrap_or_default(),
            status: c.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
            created_at: created,
            expires_at,
            leaked,
            why,
        });
    }
    found.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
    Ok(found)
}

/// How long and how often deleting waits for EKS.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Per thing deleted (a node group takes minutes, a cluster up to ~15).
    pub within: Duration,
    pub every: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            within: Duration::from_secs(30 * 60),
            every: Duration::from_secs(15),
        }
    }
}

/// Polls `gone` until it says the thing is gone, at most `pace.within`.
async fn until_gone<F, Fut>(what: &str, pace: Pace, mut gone: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let deadline = tokio::time::Instant::now() + pace.within;
    loop {
        if gone().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() + pace.every > deadline {
            return Err(format!("{what} was still there after {:?}", pace.within));
        }
        tokio::time::sleep(pace.every).await;
    }
}

/// Deletes cluster `name`: its node groups and Fargate profiles (EKS refuses to delete a
/// cluster that has any), then the cluster, waiting for each to be gone.
pub async fn reap(
    client: &aws_sdk_eks::Client,
    name: &str,
    pace: Pace,
    progress: &Progress,
) -> Result<(), String> {
    let step = progress.step(format!("deleting EKS cluster {name}"));
    let r = reap_steps(client, name, pace, &|l| step.set(l)).await;
    match &r {
        Ok(()) => step.done("deleted"),
        Err(e) => step.fail(e),
    }
    r
}

/// A Delete* answer: asked, or already gone (or, when `in_use_ok`, already going).
fn requested<T, E: ProvideErrorMetadata>(
    r: Result<T, E>,
    in_use_ok: bool,
    fail: impl FnOnce(&E) -> String,
) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) if in_use_ok && e.code() == Some("ResourceInUseException") => Ok(()),
        Err(e) => Err(fail(&e)),
    }
}

/// A Describe* answer: gone (true), still there (false), or a failure.
fn gone<T, E: ProvideErrorMetadata>(
    r: Result<T, E>,
    fail: impl FnOnce(&E) -> String,
) -> Result<bool, String> {
    match r {
        Ok(_) => Ok(false),
        Err(e) if not_found(&e) => Ok(true),
        Err(e) => Err(fail(&e)),
    }
}

async fn reap_steps(
    client: &aws_sdk_eks::Client,
    name: &str,
    pace: Pace,
    say: &(dyn Fn(&str) + Sync),
) -> Result<(), String> {
    let err = |what: &str, e: &dyn std::fmt::Display| format!("EKS cluster {name}: {what}: {e}");
    let groups = client
        .list_nodegroups()
        .cluster_name(name)
        .send()
        .await
        .map_err(|e| err("ListNodegroups failed", &DisplayErrorContext(&e)))?
        .nodegroups
        .unwrap_or_default();
    for g in &groups {
        say(&format!("deleting node group {g}"));
        let r = client
            .delete_nodegroup()
            .cluster_name(name)
            .nodegroup_name(g)
            .send()
            .await;
        requested(r, true, |e| {
            err(&format!("DeleteNodegroup {g} failed"), &DisplayErrorContext(e))
        })?;
    }
    for g in &groups {
        say(&format!("waiting for node group {g} to be gone"));
        until_gone(&format!("node group {g} of {name}"), pace, || async {
            let r = client
                .describe_nodegroup()
                .cluster_name(name)
                .nodegroup_name(g)
                .send()
                .await;
            gone(r, |e| {
                err(&format!("DescribeNodegroup {g} failed"), &DisplayErrorContext(e))
            })
        })
        .await?;
    }
    let profiles = client
        .list_fargate_profiles()
        .cluster_name(name)
        .send()
        .await
        .map_err(|e| err("ListFargateProfiles failed", &DisplayErrorContext(&e)))?
        .fargate_profile_names
        .unwrap_or_default();
    for p in &profiles {
        say(&format!("deleting Fargate profile {p}"));
        let r = client
            .delete_fargate_profile()
            .cluster_name(name)
            .fargate_profile_name(p)
            .send()
            .await;
        requested(r, false, |e| {
            err(
                &format!("DeleteFargateProfile {p} failed"),
                &DisplayErrorContext(e),
            )
        })?;
        until_gone(&format!("Fargate profile {p} of {name}"), pace, || async {
            let r = client
                .describe_fargate_profile()
                .cluster_name(name)
                .fargate_profile_name(p)
                .send()
                .await;
            gone(r, |e| {
                err(
                    &format!("DescribeFargateProfile {p} failed"),
                    &DisplayErrorContext(e),
                )
            })
        })
        .await?;
    }
    say("deleting the cluster");
    let r = client.delete_cluster().name(name).send().await;
    requested(r, true, |e| err("DeleteCluster failed", &DisplayErrorContext(e)))?;
    say("waiting for the cluster to be gone");
    until_gone(&format!("EKS cluster {name}"), pace, || async {
        let r = client.describe_cluster().name(name).send().await;
        gone(r, |e| err("DescribeCluster failed", &DisplayErrorContext(e)))
    })
    .await
}

/// The table `hubspoke janitor` prints.
pub fn table(found: &[Candidate], apply: bool) -> String {
    if found.is_empty() {
        return "no EKS clusters tagged by hubspoke runs\n".into();
    }
    let rows: Vec<[String; 6]> = found
        .iter()
        .map(|c| {
            [
                c.name.clone(),
                c.run_id.clone(),
                c.role.clone(),
                c.status.clone(),
                match (c.leaked, apply) {
                    (false, _) => "keep".into(),
                    (true, false) => "leaked (would delete)".into(),
                    (true, true) => "leaked (delete)".into(),
                },
                c.why.clone(),
            ]
        })
        .collect();
    crate::up::render(["CLUSTER", "RUN", "ROLE", "STATUS", "VERDICT", "WHY"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn only_clusters_past_the_margin_and_past_their_runs_deadline_are_leaked() {
        let now = at("2026-11-24T18:00:00Z");
        let six = Duration::from_secs(6 * 3600);
        let created = Some(at("2026-11-24T10:00:00Z"));
        // eight hours old, its run ended two hours ago
        assert_eq!(
            judge(created, "2026-11-24T16:00:00Z", six, now),
            (
                true,
                Some(at("2026-11-24T16:00:00Z")),
                "8h old; its run ended 2h ago (2026-11-24T16:00:00Z)".to_string()
            )
        );
        // eight hours old, but its run is still going (a long deadline)
        assert_eq!(
            judge(created, "2026-11-24T19:30:00Z", six, now).2,
            "its run is still under way (until 2026-11-24T19:30:00Z, in 1h30m)"
        );
        assert!(!judge(created, "2026-11-24T19:30:00Z", six, now).0);
        // a run without a deadline: the margin decides
        assert_eq!(
            judge(created, "", six, now),
            (
                true,
                None,
                "8h old, older than 6h; its run set no deadline".to_string()
            )
        );
        // young: never, whatever the tag says
        let young = Some(at("2026-11-24T15:10:00Z"));
        assert_eq!(
            judge(young, "2026-11-24T15:30:00Z", six, now),
            (
                false,
                Some(at("2026-11-24T15:30:00Z")),
                "2h50m old, younger than 6h".to_string()
            )
        );
        assert_eq!(
            judge(created, "tomorrow", six, now).2,
            "8h old, older than 6h; its hubspoke.io/expires-at tag \"tomorrow\" is not a time"
        );
        assert!(!judge(None, "", six, now).0);
    }
}

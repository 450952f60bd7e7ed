//! The janitor against an emulated EKS (moto's server): only clusters tagged by a hubspoke
//! run, older than the margin and past their run's deadline are selected; `--apply` deletes
//! their node groups and then them, and nothing else.
#![cfg(feature = "eks")]

#[path = "support/moto.rs"]
mod moto;

use std::time::Duration;

use hubspoke::eks::janitor::{self, Pace};
use hubspoke::progress::Progress;
use jiff::{SignedDuration, Timestamp};
use moto::Moto;

fn at(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap().to_string()
}

/// A cluster of every kind: leaked (with a node group), leaked without a deadline, a run
/// still under way, and a cluster hubspoke never made.
async fn clusters(m: &Moto) -> Timestamp {
    let now = Timestamp::now();
    let ended = at(now + SignedDuration::from_hours(1));
    let later = at(now + SignedDuration::from_hours(10));
    let run =
        |id: &'static str, role: &'static str| vec![("hubspoke.io/run-id", id), ("hubspoke.io/role", role)];
    let mut t = run("nightly-41", "hub");
    t.push(("hubspoke.io/expires-at", &ended));
    m.create_cluster("hub-41", &t).await;
    let mut t = run("nightly-41", "spoke");
    t.push(("hubspoke.io/expires-at", &ended));
    m.create_cluster("spoke-41", &t).await;
    m.eks()
        .create_nodegroup()
        .cluster_name("spoke-41")
        .nodegroup_name("default")
        .node_role("arn:aws:iam::123456789012:role/nodes")
        .subnets("subnet-0a1b2c")
        .send()
        .await
        .unwrap();
    m.create_cluster("hub-manual", &run("manual-alice", "hub")).await;
    let mut t = run("nightly-42", "hub");
    t.push(("hubspoke.io/expires-at", &later));
    m.create_cluster("hub-42", &t).await;
    m.create_cluster("payments", &[("team", "payments")]).await;
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_expired_hubspoke_clusters_are_selected_and_reaped() {
    let m = Moto::start();
    let created = clusters(&m).await;
    let eks = m.eks();
    // seven hours later, with a margin of six
    let now = created + SignedDuration::from_hours(7) + SignedDuration::from_secs(30);
    let found = janitor::survey(&eks, Duration::from_secs(6 * 3600), now)
        .await
        .unwrap();
    let verdicts: Vec<(&str, &str, bool)> = found
        .iter()
        .map(|c| (c.name.as_str(), c.run_id.as_str(), c.leaked))
        .collect();
    let mut sorted = verdicts.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("hub-41", "nightly-41", true),
            ("hub-42", "nightly-42", false),
            ("hub-manual", "manual-alice", true),
            ("spoke-41", "nightly-41", true),
        ]
    );
    let hub42 = found.iter().find(|c| c.name == "hub-42").unwrap();
    assert!(
        hub42.why.starts_with("its run is still under way (until "),
        "{}",
        hub42.why
    );
    let spoke = found.iter().find(|c| c.name == "spoke-41").unwrap();
    assert_eq!(spoke.role, "spoke");
    assert_eq!(spoke.status, "ACTIVE");
    assert!(
        spoke.why.starts_with("7h old; its run ended 6h ago ("),
        "{}",
        spoke.why
    );
    // a margin longer than their age keeps them all
    let young = janitor::survey(&eks, Duration::from_secs(8 * 3600), now)
        .await
        .unwrap();
    assert!(young.iter().all(|c| !c.leaked), "{young:?}");

    // the table says what would happen
    let table = janitor::table(&found, false);
    assert!(table.starts_with("CLUSTER "), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("spoke-41")
            && l.contains("nightly-41")
            && l.contains("leaked (would delete)")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("hub-42") && l.contains(" keep ")),
        "{table}"
    );
    assert!(!table.contains("payments"), "{table}");

    let pace = Pace {
        within: Duration::from_secs(20),
        every: Duration::from_millis(200),
    };
    for c in found.iter().filter(|c| c.leaked) {
        janitor::reap(&eks, &c.name, pace, &Progress::plain())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(m.cluster_names().await, ["hub-42", "payments"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_command_lists_then_deletes_with_apply() {
    let m = Moto::start();
    let now = Timestamp::now();
    let ended = at(now - SignedDuration::from_mins(5));
    m.create_cluster(
        "hub-40",
        &[
            ("hubspoke.io/run-id", "nightly-40"),
            ("hubspoke.io/expires-at", &ended),
        ],
    )
    .await;
    m.create_cluster("payments", &[("team", "payments")]).await;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"));
        cmd.args(args).env("HUBSPOKE_PROGRESS", "plain");
        for (k, v) in m.env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let listed = run(&["janitor", "--older-than", "0s"]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("hub-40") && l.contains("leaked (would delete)")),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("1 leaked cluster(s); delete them with --apply\n"),
        "{stdout}"
    );
    assert_eq!(m.cluster_names().await, ["hub-40", "payments"]);

    let applied = run(&[
        "janitor",
        "--older-than",
        "0s",
        "--apply",
        "--region",
        moto::REGION,
    ]);
    let stdout = String::from_utf8_lossy(&applied.stdout);
    let stderr = String::from_utf8_lossy(&applied.stderr);
    assert!(applied.status.success(), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("hub-40") && l.contains("leaked (delete)")),
        "{stdout}"
    );
    assert!(stderr.contains("deleting EKS cluster hub-40"), "{stderr}");
    assert_eq!(m.cluster_names().await, ["payments"]);

    let bad = run(&["janitor", "--older-than", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("invalid value 'soon' for '--older-than <DURATION>': \"soon\" is not a duration; write e.g. 90m, 6h or 2h30m")
    );
}

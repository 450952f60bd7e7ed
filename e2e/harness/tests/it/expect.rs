//! Expectations evaluated on watch events against an emulated cluster: pass, pending with
//! its reason at the deadline, definite failure stopping the wait, stability windows.

use std::time::Duration;

use hubspoke::expect::{FailureKind, Verdict, consistently, eventually, eventually_after, expect};
use hubspoke_sim::SimCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

fn state_of(cms: &[ConfigMap]) -> Verdict {
    let Some(cm) = cms.iter().find(|c| c.metadata.name.as_deref() == Some("probe")) else {
        return Verdict::Pending("configmap probe does not exist".into());
    };
    match cm.data.as_ref().and_then(|d| d.get("state")).map(String::as_str) {
        Some("ready") => Verdict::Pass,
        Some("broken") => Verdict::Fail("configmap probe is broken".into()),
        other => Verdict::Pending(format!("configmap probe has state {other:?}")),
    }
}

async fn cluster() -> (SimCluster, Api<ConfigMap>) {
    let c = SimCluster::start("expect").await.unwrap();
    let api = Api::namespaced(c.client().await.unwrap(), "default");
    (c, api)
}

fn cm(state: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "probe"}, "data": {"state": state}}))
    .unwrap()
}

async fn set_state(api: &Api<ConfigMap>, state: &str) {
    api.patch(
        "probe",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"state": state}})),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventually_passes_on_the_change_that_makes_it_true() {
    let (_c, api) = cluster().await;
    let e = expect("configmap probe to be ready", state_of);
    let writer = api.clone();
    tokio::spawn(async move {
        writer
            .create(&PostParams::default(), &cm("starting"))
            .await
            .unwrap();
        set_state(&writer, "ready").await;
    });
    let objs = eventually(api, Duration::from_secs(30), e.as_ref())
        .await
        .unwrap();
    // what it passed on is returned
    let probe = objs
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("probe"))
        .unwrap();
    assert_eq!(probe.data.as_ref().unwrap()["state"], "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definite_failure_stops_the_wait_at_once() {
    let (_c, api) = cluster().await;
    api.create(&PostParams::default(), &cm("broken")).await.unwrap();
    let e = expect("configmap probe to be ready", state_of);
    // a long deadline: the failure is reported as Failed, not after waiting as a Timeout
    let f = eventually(api, Duration::from_secs(600), e.as_ref())
        .await
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Failed);
    assert_eq!(f.last, "configmap probe is broken");
    assert!(
        f.to_string()
            .starts_with("expected configmap probe to be ready, but after "),
        "{f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_says_what_was_last_seen() {
    let (_c, api) = cluster().await;
    api.create(&PostParams::default(), &cm("starting")).await.unwrap();
    let e = expect("configmap probe to be ready", state_of);
    let f = eventually(api, Duration::from_secs(1), e.as_ref())
        .await
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Timeout);
    assert_eq!(
        f.to_string(),
        "expected configmap probe to be ready within 1s; last seen: configmap probe has state Some(\"starting\")"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistently_holds_or_reports_the_flip() {
    let (_c, api) = cluster().await;
    api.create(&PostParams::default(), &cm("ready")).await.unwrap();
    let e = expect("configmap probe to be ready", state_of);
    consistently(api.clone(), Duration::from_millis(500), e.as_ref())
        .await
        .unwrap();

    let writer = api.clone();
    let flip = tokio::spawn(async move { set_state(&writer, "starting").await });
    let f = consistently(api, Duration::from_secs(30), e.as_ref())
        .await
        .unwrap_err();
    flip.await.unwrap();
    assert_eq!(f.kind, FailureKind::Flipped);
    assert_eq!(f.last, "configmap probe has state Some(\"starting\")");
    assert!(
        f.to_string()
            .starts_with("expected configmap probe to be ready to keep holding, but after "),
        "{f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventually_after_sees_a_passing_moment_the_action_causes() {
    let (_c, api) = cluster().await;
    api.create(&PostParams::default(), &cm("ready")).await.unwrap();
    // the state before the action passes, but is not judged: the action's effect is
    let e = expect("configmap probe gone", |cms: &[ConfigMap]| {
        if cms.iter().any(|c| c.metadata.name.as_deref() == Some("probe")) {
            Verdict::Pending("configmap probe exists".into())
        } else {
            Verdict::Pass
        }
    });
    let writer = api.clone();
    // deleted and at once recreated: the moment it was gone is still seen
    let objs = eventually_after(api.clone(), Duration::from_secs(30), e.as_ref(), async move {
        writer
            .delete("probe", &Default::default())
            .await
            .map_err(|e| e.to_string())?;
        writer
            .create(&PostParams::default(), &cm("starting"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    })
    .await
    .unwrap();
    assert!(
        !objs.iter().any(|c| c.metadata.name.as_deref() == Some("probe")),
        "{objs:?}"
    );
    assert!(api.get_opt("probe").await.unwrap().is_some());

    // a state the action leaves as it was: pending until the deadline, never judged on
    // what was listed before
    let stays = expect("configmap probe ready", state_of);
    let f = eventually_after(api.clone(), Duration::from_millis(700), stays.as_ref(), async {
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(f.kind, FailureKind::Timeout);
    assert_eq!(f.last, "no change seen yet");

    // an action that fails fails the wait with its message
    let f = eventually_after(api, Duration::from_secs(30), stays.as_ref(), async {
        Err("deleting configmap probe: forbidden".to_string())
    })
    .await
    .unwrap_err();
    assert_eq!(f.kind, FailureKind::Failed);
    assert_eq!(f.last, "deleting configmap probe: forbidden");
}

//! The registration and convergence suites on sim: they pass on the bootstrapped platform
//! and fail, naming what is wrong, when the environment is broken the matching way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hubspoke::environment::{Environment, ProviderKind};
use hubspoke::expect::Intervals;
use hubspoke::progress::Progress;
use hubspoke::suites::{self, Context};
use hubspoke::up::{UpOptions, up};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

async fn sim(dir: &Path) -> Environment {
    let mut opts = UpOptions::new(ProviderKind::Sim, &repo_root());
    opts.state_dir = dir.join("sim");
    up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn ctx(env: &Environment) -> Context<'_> {
    let mut intervals = Intervals::for_env(ProviderKind::Sim);
    intervals.stability = Duration::from_secs(1);
    Context {
        env,
        intervals,
        root: repo_root(),
    }
}

/// Asks Argo CD to refresh `name` and waits until it has (the controller removes the
/// annotation): from then on it reconciles with the Application's current spec, so a
/// change made next is judged by it, not by a reconcile already under way.
async fn settle(apps: &Api<kube::api::DynamicObject>, name: &str) {
    apps.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            serde_json::json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}),
        ),
    )
    .await
    .unwrap();
    hubspoke::kube_util::wait_for(
        apps.clone(),
        name,
        |a: Option<&kube::api::DynamicObject>| {
            a.is_some_and(|a| {
                a.metadata
                    .annotations
                    .as_ref()
                    .is_none_or(|m| !m.contains_key("argocd.argoproj.io/refresh"))
            })
        },
        Duration::from_secs(30),
        "the refresh",
        |_| String::new(),
    )
    .await
    .unwrap();
}

async fn run(ctx: &Context<'_>, id: &str) -> Result<(), String> {
    let c = suites::check(id).unwrap_or_else(|| panic!("no check {id}"));
    let r = suites::run_check(ctx, c).await;
    match r.failure {
        None => Ok(()),
        Some(f) => Err(f),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_on_the_bootstrapped_platform() {
    let dir = tempfile::tempdir().unwrap();
    let env = sim(dir.path()).await;
    let ctx = ctx(&env);
    let results = suites::run(&ctx, &suites::all_checks(), &Progress::plain()).await;
    let ids: Vec<String> = results
        .iter()
        .map(|r| format!("{}/{}", r.suite, r.name))
        .collect();
    assert_eq!(
        ids,
        [
            "registration/cluster-secrets",
            "registration/spokes-reachable",
            "deployment/workloads-placed",
            "deployment/drift-healed",
            "kyverno/policies-ready",
            "kyverno/enforced",
            "kyverno/audited",
            "convergence/synced-healthy",
            "convergence/stable",
            "convergence/revision-under-test",
        ]
    );
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("{}/{}: {f}", r.suite, r.name)))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_cluster_secret_and_a_revoked_token_fail_registration() {
    let dir = tempfile::tempdir().unwrap();
    let env = sim(dir.path()).await;
    let ctx = ctx(&env);
    let secrets: Api<Secret> = Api::namespaced(env.hub.client.clone(), "argocd");
    secrets
        .patch(
            "cluster-spoke-a",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"enable_kyverno": "false"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        run(&ctx, "registration/cluster-secrets").await.unwrap_err(),
        "spoke-a: argocd/cluster-spoke-a: label enable_kyverno is \"false\", want \"true\""
    );

    let s = secrets.get("cluster-spoke-b").await.unwrap();
    let config: serde_json::Value = serde_json::from_slice(&s.data.unwrap()["config"].0).unwrap();
    let token = config["bearerToken"].as_str().unwrap().to_string();
    hubspoke::providers::sim::SimProvider::cluster(&env, "spoke-b")
        .unwrap()
        .revoke_token(&token);
    let err = run(&ctx, "registration/spokes-reachable").await.unwrap_err();
    assert!(
        err.starts_with("registration check failed:\n  spoke spoke-b: the token in the hub's Secret argocd/cluster-spoke-b is rejected by the spoke (401 Unauthorized"),
        "{err}"
    );
    assert!(!err.contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_on_another_revision_fails_the_revision_check() {
    let dir = tempfile::tempdir().unwrap();
    let env = sim(dir.path()).await;
    let ctx = ctx(&env);
    run(&ctx, "convergence/synced-healthy").await.unwrap();
    // the parent commit: the same content, another revision
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD~1"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let parent = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(parent.len(), 40, "this test needs the parent commit");
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    apps.patch(
        "bootstrap",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"source": {"targetRevision": parent}}})),
    )
    .await
    .unwrap();
    let p = parent.clone();
    hubspoke::kube_util::wait_for(
        apps,
        "bootstrap",
        move |a: Option<&kube::api::DynamicObject>| {
            a.is_some_and(|a| {
                a.data.pointer("/status/sync/revision").and_then(|r| r.as_str()) == Some(p.as_str())
            })
        },
        Duration::from_secs(30),
        "the bootstrap Application on the parent commit",
        |_| String::new(),
    )
    .await
    .unwrap();
    let err = run(&ctx, "convergence/revision-under-test").await.unwrap_err();
    let sha = env.revision.as_ref().unwrap().sha.clone().unwrap();
    assert!(
        err.starts_with(&format!(
            "expected every Application of https://github.com/hubspoke/hubspoke.git to have synced {sha}, but after "
        )),
        "{err}"
    );
    assert!(
        err.ends_with(&format!(
            ": not the revision under test: bootstrap synced {parent} of https://github.com/hubspoke/hubspoke.git"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_on_a_spoke_it_is_not_placed_on_fails_placement() {
    let dir = tempfile::tempdir().unwrap();
    let env = sim(dir.path()).await;
    let ctx = ctx(&env);
    run(&ctx, "deployment/workloads-placed").await.unwrap();
    // echo is placed on spoke-a only: put a copy on spoke-b by hand
    let spoke_b = env.cluster("spoke-b").unwrap().client.clone();
    let ns: k8s_openapi::api::core::v1::Namespace = serde_json::from_value(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "echo"}}),
    )
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Namespace>::all(spoke_b.clone())
        .create(&Default::default(), &ns)
        .await
        .unwrap();
    let d: k8s_openapi::api::apps::v1::Deployment = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/workloads/echo/deployment.yaml")).unwrap(),
    )
    .unwrap();
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(spoke_b, "echo")
        .create(&Default::default(), &d)
        .await
        .unwrap();
    assert_eq!(
        run(&ctx, "deployment/workloads-placed").await.unwrap_err(),
        "spoke spoke-b: Deployment echo/echo exists, but only spoke-a places echo"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_without_self_heal_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let env = sim(dir.path()).await;
    let mut ctx = ctx(&env);
    run(&ctx, "deployment/workloads-placed").await.unwrap();
    // self-heal off for spoke-b's podinfo (the set creates and deletes Applications only,
    // so the edit stays)
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    apps.patch(
        "tenant-podinfo-spoke-b",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"syncPolicy": {"automated": {"selfHeal": false}}}})),
    )
    .await
    .unwrap();
    settle(&apps, "tenant-podinfo-spoke-b").await;
    ctx.intervals.reconcile = Duration::from_secs(2);
    let err = run(&ctx, "deployment/drift-healed").await.unwrap_err();
    assert_eq!(
        err,
        "spoke spoke-b: expected the drift on podinfo/podinfo (replicas 5) healed back to 2 within 2s; last seen: replicas Some(5)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_policy_fails_the_kyverno_suite() {
    let dir = tempfile::tempdir().unwrap();
    let env = sim(dir.path()).await;
    let mut ctx = ctx(&env);
    run(&ctx, "kyverno/policies-ready").await.unwrap();
    run(&ctx, "kyverno/enforced").await.unwrap();
    // turn self-heal off for the policies, then remove one from the spoke
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    apps.patch(
        "system-kyverno-policies-spoke-a",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"syncPolicy": {"automated": {"selfHeal": false}}}})),
    )
    .await
    .unwrap();
    settle(&apps, "system-kyverno-policies-spoke-a").await;
    let spoke_a = env.cluster("spoke-a").unwrap().client.clone();
    let ar = kube::discovery::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("kyverno.io", "v1", "ClusterPolicy"),
        "clusterpolicies",
    );
    let policies: Api<kube::api::DynamicObject> = Api::all_with(spoke_a, &ar);
    policies
        .delete("deny-latest-image", &Default::default())
        .await
        .unwrap();
    ctx.intervals.policy = Duration::from_secs(2);
    let err = run(&ctx, "kyverno/policies-ready").await.unwrap_err();
    assert_eq!(
        err,
        "spoke spoke-a: expected ClusterPolicies deny-default-namespace, deny-latest-image, require-resource-limits Ready within 2s; last seen: deny-latest-image does not exist"
    );
    let err = run(&ctx, "kyverno/enforced").await.unwrap_err();
    assert_eq!(
        err,
        "spoke spoke-a: hubspoke-probes/probe-deny-latest-image-violating was admitted, but policy deny-latest-image must deny it"
    );
}

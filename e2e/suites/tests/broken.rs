//! The registration and convergence suites on sim: they pass on the bootstrapped platform
//! and fail, naming what is wrong, when the environment is broken the matching way.

//! The suites on broken environments (always the embedded one, whatever HUBSPOKE_ENV says:
//! these tests break what they run on). Each breakage fails the matching check with a
//! precise message and leaves a diagnostics bundle saying why; credentials never reach a
//! bundle, the JUnit report or the logs.

use std::path::PathBuf;
use std::time::Duration;

use hubspoke::environment::Environment;
use hubspoke::expect::Intervals;
use hubspoke::progress::Progress;
use hubspoke::suites::{self, Context};
use hubspoke_suites::{TestEnv, repo_root};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};

/// A fresh sim environment of this test's own, and a directory for its bundles.
struct World {
    env: TestEnv,
    artifacts: tempfile::TempDir,
}

async fn world() -> World {
    World {
        env: hubspoke_suites::sim(None).await.unwrap_or_else(|e| panic!("{e}")),
        artifacts: tempfile::tempdir().unwrap(),
    }
}

impl World {
    fn ctx(&self) -> Context<'_> {
        let mut intervals = Intervals::for_env(hubspoke::ProviderKind::Sim);
        intervals.stability = Duration::from_secs(1);
        Context {
            env: &self.env,
            intervals,
            root: repo_root(),
            artifacts: Some(self.artifacts.path().to_path_buf()),
        }
    }

    /// The newest bundle of check `id`: its directory and index.
    fn bundle(&self, id: &str) -> Bundle {
        let (suite, name) = id.split_once('/').unwrap();
        let base = self.artifacts.path().join(suite);
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
            .unwrap_or_else(|e| panic!("no bundle for {id} in {}: {e}", base.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let f = p.file_name().unwrap().to_string_lossy().to_string();
                f == name
                    || f.strip_prefix(&format!("{name}-"))
                        .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .collect();
        dirs.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
        let dir = dirs.pop().unwrap_or_else(|| panic!("no bundle for {id}"));
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
        Bundle { dir, index }
    }
}

struct Bundle {
    dir: PathBuf,
    index: serde_json::Value,
}

impl Bundle {
    fn files(&self) -> Vec<String> {
        self.index["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_else(|e| panic!("{file} in {}: {e}", self.dir.display()))
    }

    /// What every bundle holds: the failure, Argo CD's objects, the cluster Secrets and
    /// each cluster's events, Deployments and Pods, and an index of them.
    fn assert_complete(&self, env: &Environment, failure: &str) {
        let files = self.files();
        let mut want = vec![
            "failure.txt".to_string(),
            "hub/applications.yaml".into(),
            "hub/applicationsets.yaml".into(),
            "hub/appprojects.yaml".into(),
            "hub/cluster-secrets.yaml".into(),
        ];
        for c in env.clusters() {
            for f in ["events.yaml", "deployments.yaml", "pods.yaml"] {
                want.push(format!("{}/{f}", c.name));
            }
        }
        for w in &want {
            assert!(files.contains(w), "{w} missing from the bundle: {files:?}");
        }
        assert!(self.read("failure.txt").contains(failure));
        assert!(
            self.read("index.md")
                .contains("| `hub/applications.yaml` | Argo CD Applications on the hub |")
        );
        assert!(
            self.index["skipped"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| !s.as_str().unwrap().contains("budget"))
        );
    }
}

/// Turns self-heal off for Application `name` as a platform engineer would: the ApplicationSet
/// owning it is told to leave that field alone (`ignoreApplicationDifferences`, else it
/// would set the field back), the Application is edited, and Argo CD reconciles with it.
/// The bootstrap Application, which deploys the sets, has self-heal turned off first, so
/// the edited set stays.
async fn self_heal_off(env: &Environment, name: &str) {
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    let off = serde_json::json!({"spec": {"syncPolicy": {"automated": {"selfHeal": false}}}});
    apps.patch("bootstrap", &PatchParams::default(), &Patch::Merge(&off))
        .await
        .unwrap();
    settle(&apps, "bootstrap").await;
    let app = apps.get(name).await.unwrap();
    let set = app
        .metadata
        .owner_references
        .unwrap_or_default()
        .into_iter()
        .find(|o| o.kind == "ApplicationSet")
        .unwrap_or_else(|| panic!("no ApplicationSet owns {name}"))
        .name;
    let sets: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.hub.client.clone(),
        hubspoke::bootstrap::ARGOCD_NAMESPACE,
        &kube::discovery::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "ApplicationSet"),
            "applicationsets",
        ),
    );
    sets.patch(
        &set,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"ignoreApplicationDifferences": [
            {"name": name, "jsonPointers": ["/spec/syncPolicy/automated/selfHeal"]}
        ]}})),
    )
    .await
    .unwrap();
    // the set's controller may still reconcile once with the set as it was before the rule
    // (its cache follows the API a moment later) and set the field back: edit again then,
    // as a person would
    let mut attempts = 0;
    loop {
        apps.patch(name, &PatchParams::default(), &Patch::Merge(&off))
            .await
            .unwrap();
        settle(&apps, name).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = apps.get(name).await.unwrap();
        if now.data.pointer("/spec/syncPolicy/automated/selfHeal") == Some(&serde_json::json!(false)) {
            break;
        }
        attempts += 1;
        assert!(
            attempts < 5,
            "the ApplicationSet {set} keeps setting selfHeal back"
        );
    }
}

/// The ClusterPolicies of a cluster.
fn cluster_policies(env: &Environment, cluster: &str) -> Api<kube::api::DynamicObject> {
    let ar = kube::discovery::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("kyverno.io", "v1", "ClusterPolicy"),
        "clusterpolicies",
    );
    Api::all_with(env.cluster(cluster).unwrap().client.clone(), &ar)
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
    let r = hubspoke_suites::run(ctx, id).await;
    match r.failure {
        None => Ok(()),
        Some(f) => Err(f),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_on_the_bootstrapped_platform() {
    let w = world().await;
    let ctx = w.ctx();
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
            "deployment/prune-on-delete",
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
    // nothing failed, nothing gathered
    assert!(std::fs::read_dir(w.artifacts.path()).unwrap().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_cluster_secret_and_a_revoked_token_fail_registration() {
    let w = world().await;
    let env = &w.env;
    let ctx = w.ctx();
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
    let b = w.bundle("registration/cluster-secrets");
    b.assert_complete(env, "label enable_kyverno is \"false\"");
    let secrets_yaml = b.read("hub/cluster-secrets.yaml");
    assert!(
        secrets_yaml.contains("enable_kyverno: 'false'")
            || secrets_yaml.contains("enable_kyverno: \"false\""),
        "{secrets_yaml}"
    );
    assert!(secrets_yaml.contains("bearerToken: <redacted>"), "{secrets_yaml}");

    let s = secrets.get("cluster-spoke-b").await.unwrap();
    let config: serde_json::Value = serde_json::from_slice(&s.data.unwrap()["config"].0).unwrap();
    let token = config["bearerToken"].as_str().unwrap().to_string();
    hubspoke::providers::sim::SimProvider::cluster(env, "spoke-b")
        .unwrap()
        .revoke_token(&token);
    let err = run(&ctx, "registration/spokes-reachable").await.unwrap_err();
    assert!(
        err.starts_with("registration check failed:\n  spoke spoke-b: the token in the hub's Secret argocd/cluster-spoke-b is rejected by the spoke (401 Unauthorized"),
        "{err}"
    );
    assert!(!err.contains(&token));
    let b = w.bundle("registration/spokes-reachable");
    b.assert_complete(env, "is rejected by the spoke (401 Unauthorized");
    for f in b.files() {
        assert!(!b.read(&f).contains(&token), "the token reached {f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_on_another_revision_fails_the_revision_check() {
    let w = world().await;
    let env = &w.env;
    let ctx = w.ctx();
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
    let b = w.bundle("convergence/revision-under-test");
    b.assert_complete(env, "not the revision under test");
    assert!(
        b.read("hub/applications.yaml")
            .contains(&format!("targetRevision: {parent}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_on_a_spoke_it_is_not_placed_on_fails_placement() {
    let w = world().await;
    let env = &w.env;
    let ctx = w.ctx();
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
    let b = w.bundle("deployment/workloads-placed");
    b.assert_complete(env, "only spoke-a places echo");
    assert!(b.read("spoke-b/deployments.yaml").contains("name: echo/echo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_without_self_heal_is_reported() {
    let w = world().await;
    let env = &w.env;
    let mut ctx = w.ctx();
    run(&ctx, "deployment/workloads-placed").await.unwrap();
    // self-heal off for spoke-b's podinfo only
    self_heal_off(env, "tenant-podinfo-spoke-b").await;
    ctx.intervals.reconcile = Duration::from_secs(2);
    let err = run(&ctx, "deployment/drift-healed").await.unwrap_err();
    assert_eq!(
        err,
        "spoke spoke-b: expected the drift on podinfo/podinfo (replicas 5) healed back to 2 within 2s; last seen: replicas Some(5)"
    );
    let b = w.bundle("deployment/drift-healed");
    b.assert_complete(env, "healed back to 2");
    assert!(b.read("spoke-b/deployments.yaml").contains("replicas: 5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_application_prunes_the_spoke_unless_it_lacks_the_finalizer() {
    let w = world().await;
    let env = &w.env;
    let ctx = w.ctx();
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    run(&ctx, "deployment/workloads-placed").await.unwrap();
    let uid = |a: kube::api::DynamicObject| a.metadata.uid.unwrap();
    let before = uid(apps.get("tenant-echo-spoke-a").await.unwrap());

    // the check passes and leaves the workload placed by a new Application
    run(&ctx, "deployment/prune-on-delete").await.unwrap();
    let after = uid(apps.get("tenant-echo-spoke-a").await.unwrap());
    assert_ne!(before, after, "tenant-echo-spoke-a was not recreated");
    run(&ctx, "deployment/workloads-placed").await.unwrap();

    // without the finalizer, deleting would orphan the workload: the check says so and
    // deletes nothing
    apps.patch(
        "tenant-podinfo-spoke-b",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let kept = uid(apps.get("tenant-podinfo-spoke-b").await.unwrap());
    let err = run(&ctx, "deployment/prune-on-delete").await.unwrap_err();
    assert_eq!(
        err,
        "spoke spoke-b: Application tenant-podinfo-spoke-b lacks the finalizer \
         resources-finalizer.argocd.argoproj.io (it has []): deleting it would leave podinfo \
         on spoke-b behind; add the finalizer to the template's metadata.finalizers of the \
         ApplicationSet that generates it"
    );
    assert_eq!(uid(apps.get("tenant-podinfo-spoke-b").await.unwrap()), kept);
    let b = w.bundle("deployment/prune-on-delete");
    b.assert_complete(env, "lacks the finalizer");
    assert!(b.read("spoke-b/deployments.yaml").contains("name: podinfo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_policy_fails_the_kyverno_suite() {
    let w = world().await;
    let env = &w.env;
    let mut ctx = w.ctx();
    run(&ctx, "kyverno/policies-ready").await.unwrap();
    run(&ctx, "kyverno/enforced").await.unwrap();
    // turn self-heal off for the policies, then remove one from the spoke
    self_heal_off(env, "system-kyverno-policies-spoke-a").await;
    let policies = cluster_policies(env, "spoke-a");
    policies
        .delete("deny-latest-image", &Default::default())
        .await
        .unwrap();
    ctx.intervals.policy = Duration::from_secs(2);
    let err = run(&ctx, "kyverno/policies-ready").await.unwrap_err();
    let want = "spoke spoke-a: expected ClusterPolicies deny-default-namespace, deny-latest-image, require-resource-limits Ready within 2s; last seen: deny-latest-image does not exist";
    assert_eq!(err, want);
    let b = w.bundle("kyverno/policies-ready");
    b.assert_complete(env, want);
    let kyverno = b.read("spoke-a/kyverno.yaml");
    assert!(kyverno.contains("name: deny-default-namespace") && !kyverno.contains("name: deny-latest-image"));
    // the probes are not tried on a spoke whose policies are not all there
    assert_eq!(run(&ctx, "kyverno/enforced").await.unwrap_err(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_switched_to_audit_fails_enforcement() {
    let w = world().await;
    let env = &w.env;
    let mut ctx = w.ctx();
    run(&ctx, "kyverno/enforced").await.unwrap();
    ctx.intervals.policy = Duration::from_secs(3);
    self_heal_off(env, "system-kyverno-policies-spoke-a").await;
    let policies = cluster_policies(env, "spoke-a");
    policies
        .patch(
            "deny-latest-image",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(serde_json::json!([
                    {"op": "replace", "path": "/spec/rules/0/validate/failureAction", "value": "Audit"},
                {"op": "replace", "path": "/spec/rules/1/validate/failureAction", "value": "Audit"}
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    let err = run(&ctx, "kyverno/enforced").await.unwrap_err();
    assert_eq!(
        err,
        "spoke spoke-a: hubspoke-probes/probe-deny-latest-image-violating was admitted, but policy deny-latest-image must deny it"
    );
    let b = w.bundle("kyverno/enforced");
    b.assert_complete(env, "must deny it");
    assert!(b.read("spoke-a/kyverno.yaml").contains("failureAction: Audit"));
}

/// An Application deploying a workload whose image can never be pulled: convergence
/// names it, its unhealthy Deployment and why; the bundle shows the pull failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_with_an_invalid_image_fails_convergence() {
    let w = world().await;
    let env = &w.env;
    let mut ctx = w.ctx();
    run(&ctx, "convergence/synced-healthy").await.unwrap();
    let rev = env.revision.clone().unwrap();
    let app: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "tenant-bad-image-spoke-a", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": rev.repository, "targetRevision": rev.sha.clone().unwrap(), "path": "fixtures/negative/bad-image"},
            "destination": {"name": "spoke-a", "namespace": "bad-image"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]}
        }
    }))
    .unwrap();
    hubspoke::bootstrap::applications(&env.hub.client)
        .create(&Default::default(), &app)
        .await
        .unwrap();
    ctx.intervals.convergence = Duration::from_secs(4);
    let err = run(&ctx, "convergence/synced-healthy").await.unwrap_err();
    assert!(
        err.starts_with("expected every Application Synced and Healthy within 4s; last seen: tenant-bad-image-spoke-a: sync Synced, health Progressing; "),
        "{err}"
    );
    assert!(
        err.contains("resources: bad-image/Deployment/bad-image Synced Progressing (Waiting for rollout to finish: 0 of 1 updated replicas are available...)"),
        "{err}"
    );
    let b = w.bundle("convergence/synced-healthy");
    b.assert_complete(env, "tenant-bad-image-spoke-a");
    let pods = b.read("spoke-a/pods.yaml");
    assert!(pods.contains("registry.hubspoke.invalid/nothing:1.0.0"), "{pods}");
    assert!(
        pods.contains("ErrImagePull") || pods.contains("ImagePullBackOff"),
        "{pods}"
    );
}

/// An Application leaving Synced during the stability window: the window ends at once,
/// naming the Application and what it became.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_flipping_during_the_window_fails_stability() {
    let w = world().await;
    let env = &w.env;
    let mut ctx = w.ctx();
    run(&ctx, "convergence/synced-healthy").await.unwrap();
    // self-heal off, so the flip stays until the check has seen it
    self_heal_off(env, "tenant-podinfo-spoke-b").await;
    ctx.intervals.stability = Duration::from_secs(60);
    let spoke_b = env.cluster("spoke-b").unwrap().client.clone();
    let flip = async {
        // converged already: the window opens at once; flip a second into it
        tokio::time::sleep(Duration::from_secs(1)).await;
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(spoke_b, "podinfo")
            .patch(
                "podinfo",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"replicas": 4}})),
            )
            .await
            .unwrap();
    };
    let (err, ()) = tokio::join!(run(&ctx, "convergence/stable"), flip);
    let err = err.unwrap_err();
    assert!(
        err.starts_with("expected every Application Synced and Healthy to keep holding, but after "),
        "{err}"
    );
    assert!(
        err.contains(": tenant-podinfo-spoke-b: sync OutOfSync, health "),
        "{err}"
    );
    let b = w.bundle("convergence/stable");
    b.assert_complete(env, "tenant-podinfo-spoke-b: sync OutOfSync");
}

/// A spoke's bearer token, planted where a careless tool would copy it (an event's message
/// on a spoke, an annotation of an Application on the hub), never reaches the logs (at
/// debug), the JUnit report or a diagnostics bundle of a failing run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_token_reaches_no_log_report_or_bundle() {
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_ansi(false)
        .with_writer(move || Sink(sink.clone()))
        .init();

    let w = world().await;
    let env = &w.env;
    let ctx = w.ctx();
    let secrets: Api<Secret> = Api::namespaced(env.hub.client.clone(), "argocd");
    let s = secrets.get("cluster-spoke-b").await.unwrap();
    let config: serde_json::Value = serde_json::from_slice(&s.data.unwrap()["config"].0).unwrap();
    let token = config["bearerToken"].as_str().unwrap().to_string();
    assert!(token.len() > 20);

    let event: k8s_openapi::api::core::v1::Event = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "leak", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "careless"},
        "reason": "Debug", "type": "Normal", "message": format!("connecting with token {token}"),
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Event>::namespaced(
        env.cluster("spoke-a").unwrap().client.clone(),
        "default",
    )
    .create(&Default::default(), &event)
    .await
    .unwrap();
    hubspoke::bootstrap::applications(&env.hub.client)
        .patch(
            "bootstrap",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"debug/token": token}}})),
        )
        .await
        .unwrap();
    hubspoke::providers::sim::SimProvider::cluster(env, "spoke-b")
        .unwrap()
        .revoke_token(&token);

    let checks = suites::select(&["registration".into()], &[]).unwrap();
    let results = suites::run(&ctx, &checks, &Progress::plain()).await;
    let failed: Vec<_> = results.iter().filter(|r| r.failure.is_some()).collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    let bundle = failed[0].bundle.clone().expect("a bundle for the failure");
    let junit = hubspoke::report::junit(env, &results);
    assert!(junit.contains("spokes-reachable") && junit.contains(&bundle.display().to_string()));
    assert!(!junit.contains(&token), "the token reached the JUnit report");

    let b = w.bundle("registration/spokes-reachable");
    let events = b.read("spoke-a/events.yaml");
    assert!(events.contains("connecting with token <redacted>"), "{events}");
    assert!(
        b.read("hub/applications.yaml")
            .contains("debug/token: <redacted>")
    );
    for f in b.files() {
        assert!(!b.read(&f).contains(&token), "the token reached {f}");
    }
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("DEBUG"), "nothing was logged at debug");
    assert!(!logs.contains(&token), "the token reached the logs");
}

/// A tracing writer into a shared buffer.
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The deployment suite recognises placed workloads as the hub's Argo CD tracks them,
/// whatever `argocd-cm` says: the chart's default (annotation) is covered by the test
/// above; here label tracking with another instance label key, then annotation+label.
/// Under label tracking a Deployment carrying only another method's mark is not tracked,
/// and the check says by what it looked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployment_suite_follows_argo_cds_tracking_method() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;
    let w = world().await;
    let ctx = w.ctx();
    let cms: Api<ConfigMap> = Api::namespaced(w.env.hub.client.clone(), "argocd");
    let spoke = &w.env.spokes[0];
    let placed: Api<Deployment> = Api::namespaced(spoke.client.clone(), "podinfo");
    for (method, key) in [
        ("label", "platform.example.com/app"),
        ("annotation+label", "argocd.argoproj.io/instance"),
    ] {
        cms.patch(
            "argocd-cm",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {
                "application.resourceTrackingMethod": method,
                "application.instanceLabelKey": key,
            }})),
        )
        .await
        .unwrap();
        // Argo CD marks its objects anew on its next sync
        let want = format!("tenant-podinfo-{}", spoke.name);
        hubspoke::kube_util::wait_all(
            placed.clone(),
            Duration::from_secs(60),
            "podinfo re-marked",
            move |ds: &[Deployment]| {
                let marked = ds.iter().any(|d| {
                    d.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(key))
                        .is_some_and(|v| *v == want)
                });
                if marked {
                    Ok(())
                } else {
                    Err(format!("no label {key}"))
                }
            },
        )
        .await
        .unwrap();
        for id in ["deployment/workloads-placed", "deployment/drift-healed"] {
            run(&ctx, id)
                .await
                .unwrap_or_else(|f| panic!("{id} under {method} tracking: {f}"));
        }
    }

    // under label tracking only the configured label counts: the tracking-id annotation the
    // Deployment also carries does not
    let tracking = hubspoke::argocd::Tracking::read(&w.env.hub.client, "argocd")
        .await
        .unwrap();
    assert_eq!(
        tracking.describe(),
        "annotation argocd.argoproj.io/tracking-id (and label argocd.argoproj.io/instance)"
    );
    let mut d = placed.get("podinfo").await.unwrap();
    assert_eq!(
        tracking.application_of(&d),
        Some(format!("tenant-podinfo-{}", spoke.name))
    );
    d.metadata.labels = None;
    let mut only_label = serde_json::to_value(&d).unwrap();
    only_label["metadata"]["annotations"] = serde_json::json!({});
    cms.patch(
        "argocd-cm",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"application.resourceTrackingMethod": "label"}})),
    )
    .await
    .unwrap();
    let label_tracking = hubspoke::argocd::Tracking::read(&w.env.hub.client, "argocd")
        .await
        .unwrap();
    assert_eq!(
        label_tracking.application_of(&d),
        None,
        "an annotation is no label"
    );
    let bare: Deployment = serde_json::from_value(only_label).unwrap();
    assert_eq!(tracking.application_of(&bare), None);
}

/// registration/spokes-reachable creates and deletes probe Applications; on a shared
/// environment it runs beside convergence/stable, whose window must not count hubspoke's
/// own probes as flips of the platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_during_the_stability_window_are_no_flips() {
    let w = world().await;
    let mut ctx = w.ctx();
    ctx.intervals.stability = Duration::from_secs(8);
    let probing = async {
        // probes come and go all through the window
        for _ in 0..3 {
            run(&ctx, "registration/spokes-reachable")
                .await
                .unwrap_or_else(|f| panic!("spokes-reachable: {f}"));
        }
    };
    let (_, stable) = tokio::join!(probing, run(&ctx, "convergence/stable"));
    stable.unwrap_or_else(|f| panic!("convergence/stable saw the probes: {f}"));
    run(&ctx, "convergence/revision-under-test")
        .await
        .unwrap_or_else(|f| panic!("revision-under-test counted the probes: {f}"));
}

//! The Argo CD stand-in against emulator clusters: Applications with git directory sources
//! deploy to a spoke registered by a cluster Secret, with the status Argo CD writes.
//!
//! Status shapes follow Argo CD's documentation and types (each assertion names its source):
//! docs/operator-manual/upgrading/2.14-3.0.md, docs/user-guide/sync-kubectl.md, docs/operator-manual/
//! declarative-setup.md (cluster Secrets: `name`, `server`, `config` with `bearerToken` and
//! `tlsClientConfig.caData`), docs/user-guide/sync-options.md and auto_sync.md (operation
//! and sync policy), pkg/apis/application/v1alpha1/types.go (ApplicationStatus, SyncStatus,
//! ResourceStatus, OperationState, SyncOperationResult, ResourceResult, RevisionHistory).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use hubspoke_sim::standins::argocd::{ArgoCdOptions, ArgoCdStandIn, Repositories};
use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};
use hubspoke_sim::{SimCluster, SimEnvironment};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const REPO_URL: &str = "https://github.com/example/platform.git";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, path: &str, content: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A repository with `apps/web` (Deployment + Service) committed on main.
fn platform_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    write(
        dir.path(),
        "apps/web/deployment.yaml",
        &deployment_yaml("web", "nginx:1.27", 2),
    );
    write(
        dir.path(),
        "apps/web/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n    - port: 80\n      targetPort: 8080\n",
    );
    write(dir.path(), "apps/web/README.md", "not a manifest\n");
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "web"]);
    dir
}

fn deployment_yaml(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  progressDeadlineSeconds: 60\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: main\n          image: {image}\n"
    )
}

fn ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind), plural)
}

struct Env {
    env: SimEnvironment,
    hub: Client,
    spoke: Client,
    _repo: tempfile::TempDir,
    repo_path: std::path::PathBuf,
    _standins: (Vec<WorkloadStandIn>, ArgoCdStandIn),
    spoke_token: String,
}

/// A hub with the Argo CD stand-in serving `repo`, and one spoke per label set, each
/// running workloads and registered with a ServiceAccount token (as the harness registers
/// spokes). Returns the spoke clients and tokens.
async fn environment(
    labels: &[Value],
    workload: WorkloadOptions,
    repo: &Path,
) -> (
    SimEnvironment,
    Client,
    Vec<(Client, String)>,
    Vec<WorkloadStandIn>,
    ArgoCdStandIn,
) {
    let env = SimEnvironment::start(labels.len()).await.unwrap();
    let hub = env.hub.client().await.unwrap();
    let mut repos = Repositories::new();
    repos.add(REPO_URL, repo);
    let argo = ArgoCdStandIn::install(
        hub.clone(),
        ArgoCdOptions {
            repositories: repos,
            resync: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut spokes = Vec::new();
    let mut workloads = Vec::new();
    for (c, l) in env.spokes.iter().zip(labels) {
        let client = c.client().await.unwrap();
        workloads.push(
            WorkloadStandIn::run(client.clone(), workload.clone())
                .await
                .unwrap(),
        );
        let token = register_with(&hub, &client, c, c.name(), l.clone()).await;
        spokes.push((client, token));
    }
    (env, hub, spokes, workloads, argo)
}

/// One spoke.
async fn setup(workload: WorkloadOptions) -> Env {
    let repo = platform_repo();
    let (env, hub, mut spokes, w, argo) = environment(&[json!({})], workload, repo.path()).await;
    let (spoke, token) = spokes.remove(0);
    let repo_path = repo.path().to_path_buf();
    Env {
        env,
        hub,
        spoke,
        _repo: repo,
        repo_path,
        _standins: (w, argo),
        spoke_token: token,
    }
}

/// Creates an admin ServiceAccount token on the spoke and the hub's cluster Secret for it.
async fn register_with(
    hub: &Client,
    spoke: &Client,
    cluster: &SimCluster,
    name: &str,
    labels: Value,
) -> String {
    let token = common::service_account_token(spoke, "kube-system", "argocd-manager").await;
    let crb: k8s_openapi::api::rbac::v1::ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "argocd-manager"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "kube-system"}],
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(spoke.clone())
        .create(&PostParams::default(), &crb)
        .await
        .unwrap();
    let config = json!({"bearerToken": token, "tlsClientConfig": {
        "insecure": false, "caData": base64::engine::general_purpose::STANDARD.encode(cluster.ca_pem()),
    }});
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": format!("cluster-{name}"), "namespace": "argocd",
            "labels": labels_with_type(&labels)},
        "stringData": {"name": name, "server": cluster.url(), "config": config.to_string()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(hub.clone(), "argocd")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    token
}

fn labels_with_type(labels: &Value) -> Value {
    let mut l = labels.clone();
    l["argocd.argoproj.io/secret-type"] = json!("cluster");
    l
}

fn application(name: &str, server: &str, path: &str, revision: &str, automated: bool) -> Value {
    let mut app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO_URL, "path": path, "targetRevision": revision},
            "destination": {"server": server, "namespace": "web"},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
        },
    });
    if automated {
        app["spec"]["syncPolicy"]["automated"] = json!({"prune": true, "selfHeal": true});
    }
    app
}

async fn create_app(hub: &Client, app: Value) -> Api<DynamicObject> {
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    apps.create(&PostParams::default(), &serde_json::from_value(app).unwrap())
        .await
        .unwrap();
    apps
}

async fn wait_app(apps: &Api<DynamicObject>, name: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let app = serde_json::to_value(apps.get(name).await.unwrap()).unwrap();
        if cond(&app) {
            return app;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {what} not reached; last status: {:#}",
            app["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every 50 ms until it holds; fails with `what` after 20 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn synced_healthy(app: &Value) -> bool {
    app.pointer("/status/sync/status") == Some(&json!("Synced"))
        && app.pointer("/status/health/status") == Some(&json!("Healthy"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_deploys_to_a_registered_spoke_with_argo_cds_status() {
    let e = setup(WorkloadOptions::default()).await;
    let server = e.env.spokes[0].url();
    let head = git(&e.repo_path, &["rev-parse", "HEAD"]);
    let apps = create_app(
        &e.hub,
        application("web-spoke-a", &server, "apps/web", "main", true),
    )
    .await;
    let app = wait_app(&apps, "web-spoke-a", "Synced and Healthy", synced_healthy).await;
    let status = &app["status"];
    assert_eq!(status["sync"]["revision"], json!(head));
    assert_eq!(
        status["sync"]["comparedTo"],
        json!({"source": {"repoURL": REPO_URL, "path": "apps/web", "targetRevision": "main"},
            "destination": {"server": server, "namespace": "web"}})
    );
    assert_eq!(status["sourceType"], "Directory");
    assert_eq!(status["summary"]["images"], json!(["nginx:1.27"]));
    assert_eq!(status["controllerNamespace"], "argocd");
    assert!(status["reconciledAt"].is_string());
    assert_eq!(
        status["resources"],
        json!([
            {"kind": "Service", "namespace": "web", "name": "web", "version": "v1", "status": "Synced", "health": {"status": "Healthy"}},
            {"group": "apps", "kind": "Deployment", "namespace": "web", "name": "web", "version": "v1", "status": "Synced", "health": {"status": "Healthy"}},
        ])
    );
    // argo-cd docs/operator-manual/upgrading/2.14-3.0.md ("Example of a status field in the
    // Application CR persisting health"): health is {status, lastTransitionTime}, each
    // resource {group, version, kind, namespace, name, status, health}, no
    // resourceHealthSource when health is persisted
    let mut health_keys: Vec<&String> = status["health"].as_object().unwrap().keys().collect();
    health_keys.sort();
    assert_eq!(health_keys, ["lastTransitionTime", "status"]);
    assert!(status.get("resourceHealthSource").is_none());
    // docs/user-guide/sync-kubectl.md: operationState {finishedAt, message: "successfully synced
    // (all tasks run)", phase: Succeeded}
    assert!(status["operationState"]["finishedAt"].is_string());
    let op = &status["operationState"];
    assert_eq!(
        (op["phase"].as_str(), op["message"].as_str()),
        (Some("Succeeded"), Some("successfully synced (all tasks run)"))
    );
    assert_eq!(op["operation"]["initiatedBy"], json!({"automated": true}));
    assert_eq!(op["syncResult"]["revision"], json!(head));
    let mut messages: Vec<(String, String, String)> = op["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["message"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["hookPhase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            (
                "deployment.apps/web created".to_string(),
                "Synced".to_string(),
                "Running".to_string()
            ),
            (
                "namespace/web created".to_string(),
                "Synced".to_string(),
                "Running".to_string()
            ),
            (
                "service/web created".to_string(),
                "Synced".to_string(),
                "Running".to_string()
            ),
        ]
    );
    // CreateNamespace=true: gitops-engine's namespace task, a PreSync task run before the dry
    // run (sync_context.go autoCreateNamespace / getNamespaceCreationTask)
    let ns = &op["syncResult"]["resources"][0];
    assert_eq!(
        (
            ns["kind"].as_str(),
            ns["namespace"].as_str(),
            ns["syncPhase"].as_str()
        ),
        (Some("Namespace"), Some(""), Some("PreSync"))
    );
    // client-side kubectl apply, as Argo CD applies by default: the last applied
    // configuration is kept on the object
    let svc = Api::<Service>::namespaced(e.spoke.clone(), "web")
        .get("web")
        .await
        .unwrap();
    let last: Value = serde_json::from_str(
        &svc.metadata.annotations.as_ref().unwrap()["kubectl.kubernetes.io/last-applied-configuration"],
    )
    .unwrap();
    assert_eq!(last["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(
        last["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "web-spoke-a:/Service:web/web"
    );
    assert_eq!(status["history"][0]["revision"], json!(head));
    assert!(
        app.get("operation").is_none_or(Value::is_null),
        "the operation is cleared once done"
    );
    // the objects landed on the spoke, tracked by the app, and not on the hub
    let deploys: Api<Deployment> = Api::namespaced(e.spoke.clone(), "web");
    let d = deploys.get("web").await.unwrap();
    // tracked as the argo-cd chart's Argo CD tracks: by annotation
    assert_eq!(
        d.metadata.annotations.as_ref().unwrap()["argocd.argoproj.io/tracking-id"],
        "web-spoke-a:apps/Deployment:web/web"
    );
    assert!(
        d.metadata
            .managed_fields
            .unwrap()
            .iter()
            .any(|m| m.manager.as_deref() == Some("argocd-controller"))
    );
    assert!(
        Api::<Deployment>::namespaced(e.hub.clone(), "web")
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
    );

    // drift on the spoke is healed
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    eventually("drift was not healed", || async {
        deploys.get("web").await.unwrap().spec.unwrap().replicas == Some(2)
    })
    .await;

    // a commit that drops the Service prunes it
    git(&e.repo_path, &["rm", "-q", "apps/web/service.yaml"]);
    git(&e.repo_path, &["commit", "-q", "-m", "drop service"]);
    let head2 = git(&e.repo_path, &["rev-parse", "HEAD"]);
    let app = wait_app(&apps, "web-spoke-a", "synced to the new commit", |a| {
        synced_healthy(a) && a.pointer("/status/sync/revision") == Some(&json!(head2))
    })
    .await;
    let pruned: Vec<&Value> = app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "Pruned")
        .collect();
    assert_eq!(pruned.len(), 1);
    assert_eq!(
        (pruned[0]["kind"].as_str(), pruned[0]["message"].as_str()),
        (Some("Service"), Some("pruned"))
    );
    assert!(
        Api::<Service>::namespaced(e.spoke.clone(), "web")
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
    );

    // deleting the Application removes what it deployed (resources finalizer)
    apps.delete("web-spoke-a", &Default::default()).await.unwrap();
    eventually("deleting the app did not prune the spoke", || async {
        apps.get_opt("web-spoke-a").await.unwrap().is_none()
            && deploys.get_opt("web").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_branches_bad_images_and_bad_specs_show_in_status() {
    let e = setup(WorkloadOptions {
        time_factor: 0.02,
        ..Default::default()
    })
    .await;
    let server = e.env.spokes[0].url();
    // a feature branch that is never pushed: the synced revision is the branch's commit
    git(&e.repo_path, &["checkout", "-q", "-b", "feature/broken"]);
    write(
        &e.repo_path,
        "apps/web/deployment.yaml",
        &deployment_yaml("web", "registry.example.invalid/web:1", 1),
    );
    git(&e.repo_path, &["commit", "-q", "-am", "broken image"]);
    let feature = git(&e.repo_path, &["rev-parse", "HEAD"]);
    let apps = create_app(
        &e.hub,
        application("broken", &server, "apps/web", "feature/broken", true),
    )
    .await;
    let app = wait_app(&apps, "broken", "Degraded", |a| {
        a.pointer("/status/health/status") == Some(&json!("Degraded"))
    })
    .await;
    assert_eq!(app["status"]["sync"]["revision"], json!(feature));
    let d = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "Deployment")
        .unwrap();
    assert_eq!(
        d["health"],
        json!({"status": "Degraded", "message": "Deployment \"web\" exceeded its progress deadline"})
    );

    // a path that does not exist: ComparisonError, as the repo server words it
    let apps = create_app(&e.hub, application("nopath", &server, "apps/nope", "main", false)).await;
    let app = wait_app(&apps, "nopath", "a ComparisonError", |a| {
        a.pointer("/status/conditions/0/type") == Some(&json!("ComparisonError"))
    })
    .await;
    assert_eq!(
        app["status"]["conditions"][0]["message"],
        "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = apps/nope: app path does not exist"
    );
    assert_eq!(app["status"]["sync"]["status"], "Unknown");
    // an unknown revision
    let apps = create_app(&e.hub, application("norev", &server, "apps/web", "v9.9.9", false)).await;
    let app = wait_app(&apps, "norev", "a ComparisonError", |a| {
        a.pointer("/status/conditions/0/type") == Some(&json!("ComparisonError"))
    })
    .await;
    assert_eq!(
        app["status"]["conditions"][0]["message"],
        "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Internal desc = unable to resolve git revision v9.9.9: unable to resolve 'v9.9.9' to a commit SHA: revision not found"
    );
    // a cluster nobody registered
    let apps = create_app(
        &e.hub,
        application("nocluster", "https://10.0.0.1:6443", "apps/web", "main", false),
    )
    .await;
    let app = wait_app(&apps, "nocluster", "an InvalidSpecError", |a| {
        a.pointer("/status/conditions/0/type") == Some(&json!("InvalidSpecError"))
    })
    .await;
    assert_eq!(
        app["status"]["conditions"][0]["message"],
        "error getting cluster by server \"https://10.0.0.1:6443\": rpc error: code = NotFound desc = cluster \"https://10.0.0.1:6443\" not found"
    );
    assert_eq!(app["status"]["health"]["status"], "Unknown");
    // without automated sync the app stays OutOfSync until an operation is set
    let mut manual = application("manual", &server, "apps/web", "main", false);
    manual["spec"]["destination"]["namespace"] = json!("manual");
    let apps = create_app(&e.hub, manual).await;
    let app = wait_app(&apps, "manual", "OutOfSync", |a| {
        a.pointer("/status/sync/status") == Some(&json!("OutOfSync"))
    })
    .await;
    assert_eq!(app["status"]["health"]["status"], "Missing");
    apps.patch(
        "manual",
        &PatchParams::default(),
        &Patch::Merge(json!({"operation": {"sync": {"revision": "main", "prune": true}, "initiatedBy": {"username": "admin"}}})),
    )
    .await
    .unwrap();
    let app = wait_app(&apps, "manual", "synced by hand", synced_healthy).await;
    assert_eq!(
        app["status"]["operationState"]["operation"]["initiatedBy"],
        json!({"username": "admin"})
    );

    // the clusters as Argo CD's API shows them: connected
    let api = e._standins.1.api_url();
    let cluster = || async {
        let list = http_get_json(&format!("{api}/api/v1/clusters")).await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["server"] == server.as_str())
            .cloned()
            .unwrap_or(Value::Null)
    };
    eventually("the spoke never showed as connected", || async {
        cluster().await["connectionState"]["status"] == "Successful"
    })
    .await;
    let c = cluster().await;
    assert_eq!(c["name"], "spoke-a");
    assert_eq!(c["info"]["connectionState"]["status"], "Successful");
    assert!(c["serverVersion"].as_str().unwrap().starts_with("1."));
    assert!(
        c.pointer("/config/bearerToken").is_none(),
        "no credentials in the API"
    );
    // a revoked token: the comparison fails and sync and health become Unknown
    e.env.spokes[0].revoke_token(&e.spoke_token);
    let app = wait_app(&apps, "manual", "Unknown after the token was revoked", |a| {
        a.pointer("/status/sync/status") == Some(&json!("Unknown"))
    })
    .await;
    assert_eq!(app["status"]["conditions"][0]["type"], "ComparisonError");
    assert_eq!(
        app["status"]["conditions"][0]["message"],
        json!(format!(
            "Failed to load live state: failed to get cluster info for {server:?}: the server has asked for the client to provide credentials"
        ))
    );
    // and the cluster's connection state says so
    eventually("the spoke never showed as disconnected", || async {
        cluster().await["connectionState"]["status"] == "Failed"
    })
    .await;
    assert_eq!(
        cluster().await["connectionState"]["message"],
        "Unable to connect to cluster: the server has asked for the client to provide credentials"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kyverno_denial_on_the_spoke_fails_the_sync_with_the_webhook_text() {
    use hubspoke_sim::standins::kyverno::{KyvernoOptions, KyvernoStandIn};
    let e = setup(WorkloadOptions::default()).await;
    let _k = KyvernoStandIn::install(e.spoke.clone(), KyvernoOptions::default())
        .await
        .unwrap();
    let cpol = json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "disallow-latest-tag"},
        "spec": {"validationFailureAction": "Enforce", "rules": [{"name": "validate-image-tag",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"message": "Using a mutable image tag e.g. 'latest' is not allowed.",
                "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}}}]}});
    let cpols: Api<DynamicObject> = Api::all_with(
        e.spoke.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("kyverno.io", "v1", "ClusterPolicy"),
            "clusterpolicies",
        ),
    );
    cpols
        .create(&PostParams::default(), &serde_json::from_value(cpol).unwrap())
        .await
        .unwrap();
    eventually("policy never Ready", || async {
        cpols
            .get("disallow-latest-tag")
            .await
            .unwrap()
            .data
            .pointer("/status/conditions/0/status")
            == Some(&json!("True"))
    })
    .await;
    write(
        &e.repo_path,
        "apps/web/deployment.yaml",
        &deployment_yaml("web", "nginx:latest", 1),
    );
    git(&e.repo_path, &["commit", "-q", "-am", "latest tag"]);
    let mut denied = application("denied", &e.env.spokes[0].url(), "apps/web", "main", true);
    denied["spec"]["syncPolicy"]["retry"] = json!({"limit": 1, "backoff": {"duration": "1s", "factor": 2}});
    let apps = create_app(&e.hub, denied).await;
    // the first attempt fails and a retry is scheduled, worded as Argo CD words it
    let app = wait_app(&apps, "denied", "a retry", |a| {
        a.pointer("/status/operationState/retryCount") == Some(&json!(1))
    })
    .await;
    // Argo CD's dry run is kubectl's client-side one (sync_context.go applyObject): nothing
    // reaches the API server, so the webhook denies the apply itself
    let denial = "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Deployment/web/web was blocked due to the following policies \n\ndisallow-latest-tag:\n  autogen-validate-image-tag: 'validation error: Using a mutable image tag e.g. ''latest'' is not allowed. rule autogen-validate-image-tag failed at path /spec/template/spec/containers/0/image/'\n";
    let failure = format!("one or more objects failed to apply, reason: {denial}");
    let op = &app["status"]["operationState"];
    assert_eq!(op["phase"], "Running");
    let msg = op["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!("{failure}. Retrying attempt #1 at ")) && msg.ends_with("M."),
        "{msg}"
    );
    let app = wait_app(&apps, "denied", "a failed sync", |a| {
        a.pointer("/status/operationState/phase") == Some(&json!("Failed"))
    })
    .await;
    // processRequestedAppOperation: a last attempt says how often it was retried
    let op = &app["status"]["operationState"];
    assert_eq!(op["message"], json!(format!("{failure} (retried 1 times).")));
    let failed: Vec<&Value> = op["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "SyncFailed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0]["kind"].as_str(), failed[0]["hookPhase"].as_str()),
        (Some("Deployment"), Some("Failed"))
    );
    assert_eq!(failed[0]["message"], denial);
    // the automated sync is not retried for the same revision; Argo CD says why
    let app = wait_app(&apps, "denied", "a SyncError", |a| {
        a.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "SyncError"))
    })
    .await;
    let head = git(&e.repo_path, &["rev-parse", "HEAD"]);
    let c = app["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "SyncError")
        .unwrap();
    assert_eq!(
        c["message"],
        json!(format!(
            "Failed last sync attempt to [{head}]: {failure} (retried 1 times)."
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kyverno_chart_is_rendered_by_the_kyverno_stand_in_and_other_charts_are_refused() {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let e = setup(WorkloadOptions::default()).await;
    let server = e.env.spokes[0].url();
    let chart_app = |name: &str, chart: &str| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://kyverno.github.io/kyverno/", "chart": chart, "targetRevision": "3.5.2"},
                "destination": {"server": server, "namespace": "kyverno"},
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"]},
            },
        })
    };
    let apps = create_app(&e.hub, chart_app("system-kyverno-spoke-a", "kyverno")).await;
    let app = wait_app(
        &apps,
        "system-kyverno-spoke-a",
        "Synced and Healthy",
        synced_healthy,
    )
    .await;
    assert_eq!(app["status"]["sourceType"], "Helm");
    assert_eq!(app["status"]["sync"]["revision"], "3.5.2");
    let kinds: Vec<String> = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}/{}", r["kind"].as_str().unwrap(), r["name"].as_str().unwrap()))
        .collect();
    for want in [
        "Deployment/kyverno-admission-controller",
        "Service/kyverno-svc",
        "CustomResourceDefinition/clusterpolicies.kyverno.io",
    ] {
        assert!(kinds.iter().any(|k| k == want), "{want} not in {kinds:?}");
    }
    let results = app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap();
    assert!(
        results
            .iter()
            .all(|r| r["message"].as_str().unwrap().ends_with(" serverside-applied")),
        "{results:?}"
    );
    let d = Api::<Deployment>::namespaced(e.spoke.clone(), "kyverno")
        .get("kyverno-admission-controller")
        .await
        .unwrap();
    assert_eq!(
        d.metadata.annotations.unwrap()["argocd.argoproj.io/tracking-id"],
        "system-kyverno-spoke-a:apps/Deployment:kyverno/kyverno-admission-controller"
    );
    let webhooks: Api<ValidatingWebhookConfiguration> = Api::all(e.spoke.clone());
    assert!(
        webhooks
            .get_opt("kyverno-resource-validating-webhook-cfg")
            .await
            .unwrap()
            .is_some()
    );

    // any other chart: a ComparisonError saying what the sim renders
    let apps2 = create_app(&e.hub, chart_app("ingress", "ingress-nginx")).await;
    let app = wait_app(&apps2, "ingress", "a ComparisonError", |a| {
        a.pointer("/status/conditions/0/type") == Some(&json!("ComparisonError"))
    })
    .await;
    assert_eq!(
        app["status"]["conditions"][0]["message"],
        "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = helm chart \"ingress-nginx\" from https://kyverno.github.io/kyverno/ cannot be rendered by the hubspoke sim: it renders the charts argo-cd and kyverno by installing their stand-ins, and git directories of plain YAML/JSON manifests"
    );

    // uninstalling (deleting the Application) removes Kyverno, webhook included
    apps.delete("system-kyverno-spoke-a", &Default::default())
        .await
        .unwrap();
    eventually("Kyverno was not uninstalled", || async {
        apps.get_opt("system-kyverno-spoke-a").await.unwrap().is_none()
            && webhooks
                .get_opt("kyverno-resource-validating-webhook-cfg")
                .await
                .unwrap()
                .is_none()
    })
    .await;
    assert!(
        Api::<Deployment>::namespaced(e.spoke.clone(), "kyverno")
            .get_opt("kyverno-admission-controller")
            .await
            .unwrap()
            .is_none()
    );
}

/// A hub with Argo CD and three spokes with workloads, registered with labels.
async fn three_spokes() -> (
    SimEnvironment,
    Client,
    Vec<Client>,
    tempfile::TempDir,
    Vec<WorkloadStandIn>,
    ArgoCdStandIn,
) {
    let repo = platform_repo();
    write(
        repo.path(),
        "workloads/applications/web/spoke-a.yaml",
        "replicas: 2\nimage: nginx:1.27\n",
    );
    write(
        repo.path(),
        "workloads/applications/web/spoke-c.yaml",
        "replicas: 1\nimage: nginx:1.28\n",
    );
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "workloads"]);
    let labels = [
        json!({"enable_web": "true", "environment": "prod"}),
        json!({"enable_web": "true", "environment": "dev"}),
        json!({"enable_web": "false"}),
    ];
    let (env, hub, spokes, workloads, argo) =
        environment(&labels, WorkloadOptions::default(), repo.path()).await;
    let spokes = spokes.into_iter().map(|(c, _)| c).collect();
    (env, hub, spokes, repo, workloads, argo)
}

async fn create_appset(hub: &Client, set: Value) -> Api<DynamicObject> {
    let sets: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("ApplicationSet", "applicationsets"));
    sets.create(&PostParams::default(), &serde_json::from_value(set).unwrap())
        .await
        .unwrap();
    sets
}

/// Waits until the hub's Applications are exactly `want`; on timeout shows what the
/// ApplicationSet `set` reported.
async fn wait_app_names(hub: &Client, set: &str, want: &[&str]) {
    let sets: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("ApplicationSet", "applicationsets"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let names = app_names(hub).await;
        if names == want {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let status = sets
                .get_opt(set)
                .await
                .ok()
                .flatten()
                .map(|s| s.data["status"].clone());
            panic!("Applications {names:?}, want {want:?}; ApplicationSet {set} status: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn app_names(hub: &Client) -> Vec<String> {
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    let mut names: Vec<String> = apps
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|a| a.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_generator_deploys_to_the_selected_spokes_only() {
    let (env, hub, spokes, _repo, _w, _argo) = three_spokes().await;
    let sets = create_appset(&hub, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"clusters": {"selector": {"matchLabels": {"enable_web": "true"}}, "values": {"tier": "{{ .metadata.labels.environment }}"}}}],
            "template": {
                "metadata": {"name": "tenant-web-{{ .name }}", "labels": {"tier": "{{ .values.tier }}"},
                    "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": REPO_URL, "path": "apps/web", "targetRevision": "main"},
                    "destination": {"server": "{{ .server }}", "namespace": "web"},
                    "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]},
                },
            },
        },
    }))
    .await;
    wait_app_names(&hub, "web", &["tenant-web-spoke-a", "tenant-web-spoke-b"]).await;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    for (name, tier, spoke) in [
        ("tenant-web-spoke-a", "prod", &env.spokes[0]),
        ("tenant-web-spoke-b", "dev", &env.spokes[1]),
    ] {
        let app = wait_app(&apps, name, "Synced and Healthy", synced_healthy).await;
        assert_eq!(app["metadata"]["labels"]["tier"], tier);
        assert_eq!(app["spec"]["destination"]["server"], json!(spoke.url()));
        let owner = &app["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                owner["kind"].as_str(),
                owner["name"].as_str(),
                owner["controller"].as_bool()
            ),
            (Some("ApplicationSet"), Some("web"), Some(true))
        );
    }
    for (i, expect) in [(0, true), (1, true), (2, false)] {
        let d = Api::<Deployment>::namespaced(spokes[i].clone(), "web")
            .get_opt("web")
            .await
            .unwrap();
        assert_eq!(d.is_some(), expect, "spoke {i}");
        if let Some(d) = d {
            assert_eq!(
                d.metadata.annotations.unwrap()["argocd.argoproj.io/tracking-id"],
                format!("tenant-web-spoke-{}:apps/Deployment:web/web", ["a", "b"][i])
            );
        }
    }
    let set = serde_json::to_value(sets.get("web").await.unwrap()).unwrap();
    let conds: Vec<(String, String, String, String)> = set["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().into(),
                c["status"].as_str().unwrap().into(),
                c["reason"].as_str().unwrap().into(),
                c["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        conds,
        [
            (
                "ErrorOccurred".into(),
                "False".into(),
                "ApplicationSetUpToDate".into(),
                "All applications have been generated successfully".into()
            ),
            (
                "ParametersGenerated".into(),
                "True".into(),
                "ParametersGenerated".into(),
                "Successfully generated parameters for all Applications".into()
            ),
            (
                "ResourcesUpToDate".into(),
                "True".into(),
                "ApplicationSetUpToDate".into(),
                "All applications have been generated successfully".into()
            ),
        ]
    );
    // a spoke whose label changes leaves the set: its Application goes, and with it the workload
    let secrets: Api<Secret> = Api::namespaced(hub.clone(), "argocd");
    secrets
        .patch(
            "cluster-spoke-b",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"enable_web": "false"}}})),
        )
        .await
        .unwrap();
    eventually("spoke-b's Application and workload were not removed", || async {
        app_names(&hub).await == ["tenant-web-spoke-a"]
            && Api::<Deployment>::namespaced(spokes[1].clone(), "web")
                .get_opt("web")
                .await
                .unwrap()
                .is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_files_and_list_generators_in_fasttemplate_mode_with_a_template_patch() {
    let (env, hub, _spokes, _repo, _w, _argo) = three_spokes().await;
    // workloads/applications/<app>/<cluster>.yaml: the file name picks the cluster
    let sets = create_appset(&hub, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "tenants", "namespace": "argocd"},
        "spec": {
            "generators": [{"matrix": {"generators": [
                {"git": {"repoURL": REPO_URL, "revision": "main", "files": [{"path": "workloads/applications/*/*.yaml"}]}},
                {"list": {"elements": [{"env": "sim"}]}},
            ]}}],
            "template": {
                "metadata": {"name": "tenant-{{path.basename}}-{{path.filenameNormalized}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": REPO_URL, "path": "apps/{{path.basename}}", "targetRevision": "main"},
                    "destination": {"name": "{{path.filename}}", "namespace": "{{env}}-{{path.basename}}"},
                },
            },
        },
    }))
    .await;
    wait_app_names(
        &hub,
        "tenants",
        &["tenant-web-spoke-a.yaml", "tenant-web-spoke-c.yaml"],
    )
    .await;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    let app = serde_json::to_value(apps.get("tenant-web-spoke-a.yaml").await.unwrap()).unwrap();
    assert_eq!(
        app["spec"]["destination"],
        json!({"name": "spoke-a.yaml", "namespace": "sim-web"})
    );
    // a destination name no cluster has: Argo CD's InvalidSpecError
    let app = wait_app(&apps, "tenant-web-spoke-a.yaml", "an InvalidSpecError", |a| {
        a.pointer("/status/conditions/0/type") == Some(&json!("InvalidSpecError"))
    })
    .await;
    assert_eq!(
        app["status"]["conditions"][0]["message"],
        "there are no clusters with this name: spoke-a.yaml"
    );
    // goTemplate with a templatePatch: the file's fields become parameters
    sets.delete("tenants", &Default::default()).await.unwrap();
    let sets = create_appset(&hub, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "tenants-go", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "generators": [{"git": {"repoURL": REPO_URL, "revision": "main", "files": [{"path": "workloads/applications/*/*.yaml"}]}}],
            "template": {
                "metadata": {"name": "tenant-{{ .path.basename }}-{{ chomp .path.filename }}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": REPO_URL, "path": "apps/{{ .path.basename }}", "targetRevision": "main"},
                    "destination": {"name": "{{ .path.filename | replace \".yaml\" \"\" }}", "namespace": "{{ .path.basename }}"},
                },
            },
            "templatePatch": "{{- if eq (toJson .replicas) \"2\" }}\nspec:\n  syncPolicy:\n    automated:\n      prune: true\n    syncOptions: [CreateNamespace=true]\n{{- end }}\n",
        },
    }))
    .await;
    eventually("the ApplicationSet wrote no status", || async {
        sets.get("tenants-go")
            .await
            .unwrap()
            .data
            .pointer("/status/conditions/0")
            .is_some()
    })
    .await;
    // a function the templates do not know: the set says so
    let set = serde_json::to_value(sets.get("tenants-go").await.unwrap()).unwrap();
    let c = &set["status"]["conditions"][0];
    assert_eq!(
        (
            c["type"].as_str(),
            c["status"].as_str(),
            c["reason"].as_str(),
            c["message"].as_str()
        ),
        (
            Some("ErrorOccurred"),
            Some("True"),
            Some("RenderTemplateParamsError"),
            // Argo CD's Render.Replace wraps Go's parse error with the template text
            Some(
                "failed to parse template tenant-{{ .path.basename }}-{{ chomp .path.filename }}: template: :1: function \"chomp\" not defined"
            )
        )
    );
    // fixed: the patched app (replicas 2: spoke-a) syncs itself, the other does not
    sets.patch(
        "tenants-go",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"metadata": {"name": "tenant-{{ .path.basename }}-{{ trimSuffix \".yaml\" .path.filename }}"}}}})),
    )
    .await
    .unwrap();
    wait_app_names(&hub, "tenants-go", &["tenant-web-spoke-a", "tenant-web-spoke-c"]).await;
    let app = wait_app(&apps, "tenant-web-spoke-a", "Synced and Healthy", synced_healthy).await;
    assert_eq!(app["spec"]["syncPolicy"]["automated"], json!({"prune": true}));
    assert_eq!(app["spec"]["destination"]["name"], "spoke-a");
    let other = serde_json::to_value(apps.get("tenant-web-spoke-c").await.unwrap()).unwrap();
    assert!(other["spec"].get("syncPolicy").is_none());
    drop(env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_sources_recursion_globs_refresh_and_unsupported_auth() {
    let e = setup(WorkloadOptions::default()).await;
    let server = e.env.spokes[0].url();
    write(
        &e.repo_path,
        "config/base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\ndata: {a: b}\n",
    );
    write(
        &e.repo_path,
        "config/base/nested/cm.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nested"}}"#,
    );
    write(
        &e.repo_path,
        "config/base/nested/skip.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: skipped\n",
    );
    git(&e.repo_path, &["add", "-A"]);
    git(&e.repo_path, &["commit", "-q", "-m", "config"]);
    let head = git(&e.repo_path, &["rev-parse", "HEAD"]);
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "multi", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "sources": [
                {"repoURL": REPO_URL, "path": "apps/web", "targetRevision": "HEAD"},
                {"repoURL": format!("file://{}", e.repo_path.display()), "path": "config/base", "targetRevision": head,
                    "directory": {"recurse": true, "exclude": "{nested/skip.yaml,other.yaml}"}},
            ],
            "destination": {"server": server, "namespace": "multi"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        },
    });
    let apps = create_app(&e.hub, app).await;
    let app = wait_app(&apps, "multi", "Synced and Healthy", synced_healthy).await;
    assert_eq!(app["status"]["sync"]["revisions"], json!([head, head]));
    assert_eq!(app["status"]["sourceTypes"], json!(["Directory", "Directory"]));
    let names: Vec<&str> = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["base", "nested", "web", "web"]);
    // a refresh request is served and the annotation removed, as Argo CD does
    apps.patch(
        "multi",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})),
    )
    .await
    .unwrap();
    wait_app(&apps, "multi", "the refresh annotation removed", |a| {
        a.pointer("/metadata/annotations/argocd.argoproj.io~1refresh")
            .is_none()
    })
    .await;
    // a cluster registered with awsAuthConfig cannot be reached from the sim, and says why
    let config = json!({"awsAuthConfig": {"clusterName": "spoke", "roleARN": "arn:aws:iam::111122223333:role/spoke"}, "tlsClientConfig": {"caData": "eA=="}});
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "cluster-eks", "namespace": "argocd", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "stringData": {"name": "eks-spoke", "server": "https://ABC.gr7.eu-west-1.eks.amazonaws.com", "config": config.to_string()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(e.hub.clone(), "argocd")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let mut eks = application(
        "eks",
        "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
        "apps/web",
        "main",
        false,
    );
    eks["metadata"]["finalizers"] = json!([]);
    let apps = create_app(&e.hub, eks).await;
    let app = wait_app(&apps, "eks", "a ComparisonError", |a| {
        a.pointer("/status/conditions/0/type") == Some(&json!("ComparisonError"))
    })
    .await;
    assert_eq!(
        app["status"]["conditions"][0]["message"],
        "Failed to load live state: cluster \"https://ABC.gr7.eu-west-1.eks.amazonaws.com\" uses awsAuthConfig, but this Argo CD has no AWS identity (ArgoCdOptions::aws); register sim spokes with a bearerToken"
    );
    assert_eq!(app["status"]["sync"]["status"], "Unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presync_and_postsync_hooks_run_around_the_sync() {
    let e = setup(WorkloadOptions::default()).await;
    let job = |name: &str, hook: &str, policy: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/hook: {hook}\n    argocd.argoproj.io/hook-delete-policy: {policy}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: run\n          image: busybox:1.37\n"
        )
    };
    write(
        &e.repo_path,
        "apps/hooks/migrate.yaml",
        &job("migrate", "PreSync", "BeforeHookCreation"),
    );
    write(
        &e.repo_path,
        "apps/hooks/smoke.yaml",
        &job("smoke", "PostSync", "HookSucceeded"),
    );
    write(
        &e.repo_path,
        "apps/hooks/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: b}\n",
    );
    git(&e.repo_path, &["add", "-A"]);
    git(&e.repo_path, &["commit", "-q", "-m", "hooks"]);
    let apps = create_app(
        &e.hub,
        application("hooks", &e.env.spokes[0].url(), "apps/hooks", "main", true),
    )
    .await;
    let app = wait_app(&apps, "hooks", "Synced and Healthy after the hooks", |a| {
        synced_healthy(a) && a.pointer("/status/operationState/phase") == Some(&json!("Succeeded"))
    })
    .await;
    // hooks are not part of the compared resources
    let names: Vec<&str> = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["settings"]);
    let results = app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap();
    let hook = |name: &str| {
        results
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no result for {name}: {results:?}"))
    };
    for (name, phase) in [("migrate", "PreSync"), ("smoke", "PostSync")] {
        let r = hook(name);
        assert_eq!(
            (
                r["hookType"].as_str(),
                r["hookPhase"].as_str(),
                r["syncPhase"].as_str(),
                r["message"].as_str()
            ),
            (
                Some(phase),
                Some("Succeeded"),
                Some(phase),
                Some("Reached expected number of succeeded pods")
            )
        );
    }
    // the PreSync hook ran before the ConfigMap was applied
    // (the namespace first: CreateNamespace=true creates it before anything else)
    let order: Vec<&str> = results.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(order, ["web", "migrate", "settings", "smoke"]);
    // HookSucceeded removed the PostSync Job; the PreSync one stays until the next sync
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(e.spoke.clone(), "web");
    assert!(jobs.get_opt("migrate").await.unwrap().is_some());
    eventually("the PostSync hook was not deleted", || async {
        jobs.get_opt("smoke").await.unwrap().is_none()
    })
    .await;
}

/// GET over plain HTTP/1.1 and parse the JSON body.
async fn http_get_json(url: &str) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    tcp.write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tcp.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let json = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // one chunk: size line, data, terminator
        body.split("\r\n").nth(1).unwrap_or("").to_string()
    } else {
        body.to_string()
    };
    serde_json::from_str(&json).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_order_the_sync_and_label_tracking_is_honoured() {
    let e = setup(WorkloadOptions::default()).await;
    // tracking by label, as argocd-cm can say (the chart's instance label key stays)
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(e.hub.clone(), "argocd");
    cms.patch(
        "argocd-cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"application.resourceTrackingMethod": "label"}})),
    )
    .await
    .unwrap();
    let cm = |name: &str, wave: i32| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"\ndata: {{a: b}}\n"
        )
    };
    write(&e.repo_path, "apps/waves/late.yaml", &cm("late", 5));
    write(&e.repo_path, "apps/waves/early.yaml", &cm("early", -1));
    write(
        &e.repo_path,
        "apps/waves/deploy.yaml",
        &deployment_yaml("mid", "nginx:1.27", 1),
    );
    git(&e.repo_path, &["add", "-A"]);
    git(&e.repo_path, &["commit", "-q", "-m", "waves"]);
    let apps = create_app(
        &e.hub,
        application("waves", &e.env.spokes[0].url(), "apps/waves", "main", true),
    )
    .await;
    let app = wait_app(&apps, "waves", "Synced and Healthy", synced_healthy).await;
    let order: Vec<(&str, &str)> = app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["hookPhase"].as_str().unwrap()))
        .collect();
    // the waves before the last were found healthy before the next one started: their tasks
    // succeeded; the last wave's are still running when the operation completes
    assert_eq!(
        order,
        [
            ("web", "Running"),
            ("early", "Succeeded"),
            ("mid", "Succeeded"),
            ("late", "Running")
        ]
    );
    let waves: Vec<(&str, Option<i64>)> = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["syncWave"].as_i64()))
        .collect();
    assert!(
        waves.contains(&("early", Some(-1)))
            && waves.contains(&("late", Some(5)))
            && waves.contains(&("mid", None))
    );
    let live = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(e.spoke.clone(), "web")
        .get("early")
        .await
        .unwrap();
    assert_eq!(
        live.metadata.labels.unwrap()["argocd.argoproj.io/instance"],
        "waves"
    );
    assert!(
        !live
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("argocd.argoproj.io/tracking-id")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_directories_merge_expressions_and_sync_policies() {
    let (_env, hub, _spokes, _repo, _w, _argo) = three_spokes().await;
    let set = |name: &str, policy: &str, preserve: bool| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "goTemplate": true,
                "syncPolicy": {"applicationsSync": policy, "preserveResourcesOnDeletion": preserve},
                "generators": [{"merge": {"mergeKeys": ["name"], "generators": [
                    {"matrix": {"generators": [
                        {"git": {"repoURL": REPO_URL, "revision": "main", "directories": [{"path": "apps/*"}]}},
                        {"clusters": {"selector": {"matchExpressions": [{"key": "environment", "operator": "In", "values": ["prod", "dev"]}]}}},
                    ]}},
                    {"list": {"elements": [{"name": "spoke-b", "suffix": "-patched"}]}},
                ]}}],
                "template": {
                    "metadata": {"name": "{{ .path.basename }}-{{ .name }}{{ .suffix | default \"\" }}",
                        "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": REPO_URL, "path": "{{ .path.path }}", "targetRevision": "main"},
                        "destination": {"server": "{{ .server }}", "namespace": "{{ .path.basename }}"},
                    },
                },
            },
        })
    };
    let sets = create_appset(&hub, set("dirs", "create-only", true)).await;
    wait_app_names(&hub, "dirs", &["web-spoke-a", "web-spoke-b-patched"]).await;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    let app = serde_json::to_value(apps.get("web-spoke-a").await.unwrap()).unwrap();
    assert_eq!(app["spec"]["source"]["path"], "apps/web");
    // preserveResourcesOnDeletion: generated apps carry no resources finalizer
    assert!(
        app["metadata"]
            .get("finalizers")
            .is_none_or(|f| f.as_array().is_none_or(Vec::is_empty)),
        "{}",
        app["metadata"]
    );
    // create-only: a hand edit of a generated app is kept
    apps.patch(
        "web-spoke-a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"source": {"targetRevision": "HEAD"}}})),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let app = serde_json::to_value(apps.get("web-spoke-a").await.unwrap()).unwrap();
    assert_eq!(app["spec"]["source"]["targetRevision"], "HEAD");
    // sync: the set takes its apps back to the template
    sets.patch(
        "dirs",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncPolicy": {"applicationsSync": "sync"}}})),
    )
    .await
    .unwrap();
    eventually("the app was not taken back to the template", || async {
        apps.get("web-spoke-a").await.unwrap().data["spec"]["source"]["targetRevision"] == "main"
    })
    .await;

    // ignoreApplicationDifferences: the fields a rule names keep their live values, for the
    // Application the rule names only; every other field is still taken back
    sets.patch(
        "dirs",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"ignoreApplicationDifferences": [
            {"name": "web-spoke-a", "jsonPointers": ["/spec/source/targetRevision", "/spec/syncPolicy"]}
        ]}})),
    )
    .await
    .unwrap();
    let edit = json!({"spec": {"source": {"targetRevision": "HEAD", "path": "apps/elsewhere"},
        "syncPolicy": {"automated": {"selfHeal": false}}}});
    for n in ["web-spoke-a", "web-spoke-b-patched"] {
        apps.patch(n, &PatchParams::default(), &Patch::Merge(&edit))
            .await
            .unwrap();
    }
    eventually("the unnamed fields were not taken back", || async {
        let a = apps.get("web-spoke-a").await.unwrap().data;
        let b = apps.get("web-spoke-b-patched").await.unwrap().data;
        a["spec"]["source"]["path"] == "apps/web" && b["spec"]["source"]["targetRevision"] == "main"
    })
    .await;
    let a = apps.get("web-spoke-a").await.unwrap().data;
    assert_eq!(a["spec"]["source"]["targetRevision"], "HEAD");
    assert_eq!(a["spec"]["syncPolicy"], json!({"automated": {"selfHeal": false}}));
    let b = apps.get("web-spoke-b-patched").await.unwrap().data;
    assert!(b["spec"].get("syncPolicy").is_none(), "{}", b["spec"]);

    // jqPathExpressions are not evaluated: the set says so rather than ignoring the rule
    sets.patch(
        "dirs",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"ignoreApplicationDifferences": [
            {"jqPathExpressions": [".spec.source.targetRevision"]}
        ]}})),
    )
    .await
    .unwrap();
    eventually("the set does not say jq is not evaluated", || async {
        let set = sets.get("dirs").await.unwrap().data;
        set["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"] == "ErrorOccurred"
                    && c["status"] == "True"
                    && c["reason"] == "UpdateApplicationError"
                    && c["message"]
                        == "failed to apply ignore differences: jqPathExpressions are not evaluated by the hubspoke sim; name the fields with jsonPointers"
            })
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomizations_are_built_with_kustomize() {
    let e = setup(WorkloadOptions::default()).await;
    write(
        &e.repo_path,
        "kustomize/base/kustomization.yaml",
        "resources:\n- cm.yaml\n",
    );
    write(
        &e.repo_path,
        "kustomize/base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: b}\n",
    );
    write(
        &e.repo_path,
        "kustomize/overlays/sim/kustomization.yaml",
        "resources:\n- ../../base\nnamePrefix: sim-\nlabels:\n- pairs:\n    env: sim\n",
    );
    write(
        &e.repo_path,
        "kustomize/broken/kustomization.yaml",
        "resources:\n- missing.yaml\n",
    );
    git(&e.repo_path, &["add", "-A"]);
    git(&e.repo_path, &["commit", "-q", "-m", "kustomize"]);
    let server = e.env.spokes[0].url();
    let apps = create_app(
        &e.hub,
        application("kz", &server, "kustomize/overlays/sim", "main", true),
    )
    .await;
    let app = wait_app(&apps, "kz", "Synced and Healthy", synced_healthy).await;
    assert_eq!(app["status"]["sourceType"], "Kustomize");
    let cm = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(e.spoke.clone(), "web")
        .get("sim-settings")
        .await
        .unwrap();
    assert_eq!(cm.metadata.labels.unwrap()["env"], "sim");
    let apps = create_app(
        &e.hub,
        application("kz-broken", &server, "kustomize/broken", "main", false),
    )
    .await;
    let app = wait_app(&apps, "kz-broken", "a ComparisonError", |a| {
        a.pointer("/status/conditions/0/type") == Some(&json!("ComparisonError"))
    })
    .await;
    let msg = app["status"]["conditions"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = `kustomize build kustomize/broken` failed exit status 1: "),
        "{msg}"
    );
    assert!(msg.contains("missing.yaml"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_renders_its_second_generator_with_the_firsts_parameters_and_selectors_filter() {
    let (_env, hub, _spokes, repo, _w, _argo) = three_spokes().await;
    // spoke-b gets a workload file too, which the git generator's selector filters out
    write(
        repo.path(),
        "workloads/applications/web/spoke-b.yaml",
        "replicas: 3\nimage: nginx:1.29\n",
    );
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "spoke-b"]);
    create_appset(
        &hub,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "tenant", "namespace": "argocd"},
            "spec": {
                "goTemplate": true,
                "generators": [{"matrix": {"generators": [
                    {"clusters": {"selector": {"matchLabels": {"enable_web": "true"}}}},
                    // the file pattern names the cluster of the first generator
                    {"git": {"repoURL": REPO_URL, "revision": "main",
                        "files": [{"path": "workloads/applications/*/{{ .name }}.yaml"}]},
                     "selector": {"matchExpressions": [{"key": "replicas", "operator": "NotIn", "values": ["3"]}]}},
                ]}}],
                "template": {
                    "metadata": {"name": "tenant-{{ .path.basename }}-{{ .name }}"},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": REPO_URL, "path": "apps/{{ .path.basename }}", "targetRevision": "main"},
                        "destination": {"server": "{{ .server }}", "namespace": "{{ .path.basename }}"},
                        "info": [{"name": "image", "value": "{{ .image }}"}],
                    },
                },
            },
        }),
    )
    .await;
    // spoke-a: selected and has a file; spoke-b: its file is filtered by the selector;
    // spoke-c: not selected by the clusters generator although it has a file
    wait_app_names(&hub, "tenant", &["tenant-web-spoke-a"]).await;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    let app = apps.get("tenant-web-spoke-a").await.unwrap();
    assert_eq!(app.data["spec"]["info"][0]["value"], "nginx:1.27");
}

//! The Argo CD stand-in against emulator clusters: Applications with git directory sources
//! deploy to a spoke registered by a cluster Secret, with the status Argo CD writes.
//!
//! Status shapes follow Argo CD's documentation and types (each assertion names its source):
//! docs/operator-manual/upgrading/2.14-3.0.md, docs/user-guide/sync-kubectl.md, docs/operator-manual/
//! declarative-setup.md (cluster Secrets: `name`, `server`, `config` with `bearerToken` and
//! `tlsClientConfig.caData`), docs/user-guide/sync-options.md and auto_sync.md (operation
//! and sync policy), pkg/apis/application/v1alpha1/types.go (ApplicationStatus, SyncStatus,
//! ResourceStatus, OperationState, SyncOperationResult, ResourceResult, RevisionHistory).

use crate::common;

use common::argocd::{eventually, git, synced_healthy, wait_app, write};

use std::path::Path;
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
            // an empty chart cache of its own (inside .git: gone with the repository, and
            // no file of the checkout), whatever the user's cache holds
            chart_cache: Some(repo.join(".git/hubspoke-charts")),
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
        let list = common::http_get_json(&format!("{api}/api/v1/clusters")).await;
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
    let denial = "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Deployment/web/web was blocked due to the following policies \n\ndisallow-latest-tag:\n  autogen-validate-image-tag: 'validation error: Using a mutable image tag e.g. ''latest''\n    is not allowed. rule autogen-validate-image-tag failed at path /spec/template/spec/containers/0/image/'\n";
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
/// Offline and uncached, the kyverno chart renders from hubspoke's rendition (said in a
/// notice): its admission controller Deployment runs Kyverno's image, so the stand-in starts
/// in the pod and registers its webhook; any other chart is a ComparisonError.
async fn an_unfetchable_kyverno_chart_renders_from_the_rendition_whose_image_runs_kyverno() {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    let e = setup(WorkloadOptions::default()).await;
    let server = e.env.spokes[0].url();
    let chart_app = |name: &str, chart: &str| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
            "spec": {
                "project": "default",
                // without releaseName the release is the Application's name, as in Argo CD
                "source": {"repoURL": "https://kyverno.github.io/kyverno/", "chart": chart, "targetRevision": "3.5.2",
                    "helm": {"releaseName": "kyverno"}},
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
    // the admission controller's pod runs the Kyverno stand-in, which registers its webhook
    // for the chart's Service
    let webhooks: Api<ValidatingWebhookConfiguration> = Api::all(e.spoke.clone());
    let registered = common::eventually("Kyverno registered no webhook", || async {
        webhooks
            .get_opt("kyverno-resource-validating-webhook-cfg")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    let svc = &registered.webhooks.unwrap()[0].client_config.service;
    assert_eq!(
        svc.as_ref().map(|s| (s.namespace.as_str(), s.name.as_str())),
        Some(("kyverno", "kyverno-svc"))
    );
    let notices = e._standins.1.chart_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].starts_with("chart kyverno 3.5.2 from https://kyverno.github.io/kyverno/: rendered from hubspoke's rendition of it (Kyverno's CRDs, "),
        "{}",
        notices[0]
    );
    assert!(
        notices[0]
            .ends_with("hubspoke charts pull https://kyverno.github.io/kyverno/ kyverno --version '3.5.2'"),
        "{}",
        notices[0]
    );

    // any other chart is fetched from its repository (unreachable here): a ComparisonError
    // naming chart, version, repository and how to cache it
    let apps2 = create_app(&e.hub, chart_app("ingress", "ingress-nginx")).await;
    let app = wait_app(&apps2, "ingress", "a ComparisonError", |a| {
        a.pointer("/status/conditions/0/type") == Some(&json!("ComparisonError"))
    })
    .await;
    let msg = app["status"]["conditions"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = cannot reach chart repository https://kyverno.github.io/kyverno/ for chart \"ingress-nginx\" version \"3.5.2\" ("),
        "{msg}"
    );
    assert!(
        msg.ends_with(
            "hubspoke charts pull https://kyverno.github.io/kyverno/ ingress-nginx --version '3.5.2'"
        ),
        "{msg}"
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

/// An ApplicationSet condition: type, status, reason, message.
type Cond = (String, String, String, String);

fn cond(t: &str, status: &str, reason: &str, message: &str) -> Cond {
    (t.into(), status.into(), reason.into(), message.into())
}

fn conditions_of(set: &Value) -> Vec<Cond> {
    set.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            cond(
                c["type"].as_str().unwrap_or_default(),
                c["status"].as_str().unwrap_or_default(),
                c["reason"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// The three conditions of a set that generated everything.
fn up_to_date() -> Vec<Cond> {
    vec![
        cond(
            "ErrorOccurred",
            "False",
            "ApplicationSetUpToDate",
            "All applications have been generated successfully",
        ),
        cond(
            "ParametersGenerated",
            "True",
            "ParametersGenerated",
            "Successfully generated parameters for all Applications",
        ),
        cond(
            "ResourcesUpToDate",
            "True",
            "ApplicationSetUpToDate",
            "All applications have been generated successfully",
        ),
    ]
}

/// The three conditions of a set whose generation failed: ErrorOccurred with the reason,
/// ParametersGenerated false and ResourcesUpToDate false with the same message.
fn generation_failed(reason: &str, message: &str) -> Vec<Cond> {
    vec![
        cond("ErrorOccurred", "True", reason, message),
        cond("ParametersGenerated", "False", "ErrorOccurred", message),
        cond("ResourcesUpToDate", "False", "ErrorOccurred", message),
    ]
}

/// Waits until the set's conditions satisfy `done`; returns them.
async fn wait_conditions(sets: &Api<DynamicObject>, name: &str, done: impl Fn(&[Cond]) -> bool) -> Vec<Cond> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let set = serde_json::to_value(sets.get(name).await.unwrap()).unwrap();
        let conds = conditions_of(&set);
        if done(&conds) {
            return conds;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ApplicationSet {name}: conditions not reached; last status: {:#}",
            set["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the set's conditions are exactly `want`.
async fn expect_conditions(sets: &Api<DynamicObject>, name: &str, want: &[Cond]) {
    wait_conditions(sets, name, |c| c == want).await;
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
    expect_conditions(&sets, "web", &up_to_date()).await;
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
    // destination names no cluster has: the set refuses both Applications
    // (validateGeneratedApplications), showing the last by name and counting the others
    let message = "application destination spec is invalid: there are no clusters with this name: spoke-c.yaml (and 1 more)";
    let conds = wait_conditions(&sets, "tenants", |c| c.iter().any(|c| c.3 == message)).await;
    assert_eq!(
        conds,
        [
            cond("ErrorOccurred", "True", "ApplicationValidationError", message),
            cond(
                "ParametersGenerated",
                "True",
                "ParametersGenerated",
                "Successfully generated parameters for all Applications"
            ),
            cond("ResourcesUpToDate", "False", "ErrorOccurred", message),
        ]
    );
    assert!(app_names(&hub).await.is_empty());
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
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
                    "metadata": {"name": "{{ .path.basename }}-{{ .name }}{{ .suffix | default \"\" }}"},
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
    // preserveResourcesOnDeletion: the resources finalizer is not added to the generated
    // apps (RenderTemplateParams adds it to templates naming no finalizer otherwise)
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

/// A custom Lua health check in `argocd-cm`, as the docs' cert-manager example declares one.
const WIDGET_HEALTH: &str = r#"hs = {}
if obj.status ~= nil and obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "widget failed: " .. obj.status.reason
  return hs
end
if obj.status ~= nil and obj.status.phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "widget ready"
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for widget"
return hs
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resource_gets_its_health_from_a_lua_check_in_argocd_cm() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let e = setup(WorkloadOptions::default()).await;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    }))
    .unwrap();
    Api::<CustomResourceDefinition>::all(e.spoke.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(e.hub.clone(), "argocd");
    cms.patch(
        "argocd-cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"resource.customizations.health.example.com_Widget": WIDGET_HEALTH}})),
    )
    .await
    .unwrap();
    write(
        &e.repo_path,
        "apps/widgets/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n",
    );
    git(&e.repo_path, &["add", "-A"]);
    git(&e.repo_path, &["commit", "-q", "-m", "widget"]);
    let apps = create_app(
        &e.hub,
        application("widgets", &e.env.spokes[0].url(), "apps/widgets", "main", true),
    )
    .await;
    let widget_health = |app: &Value| {
        app["status"]["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["kind"] == "Widget"))
            .map(|r| r["health"].clone())
    };
    let app = wait_app(&apps, "widgets", "Synced and Progressing", |a| {
        a.pointer("/status/sync/status") == Some(&json!("Synced"))
            && a.pointer("/status/health/status") == Some(&json!("Progressing"))
    })
    .await;
    assert_eq!(
        widget_health(&app),
        Some(json!({"status": "Progressing", "message": "Waiting for widget"}))
    );

    let widgets: Api<DynamicObject> = Api::namespaced_with(
        e.spoke.clone(),
        "web",
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets"),
    );
    let set_status = |status: Value| {
        let widgets = widgets.clone();
        async move {
            widgets
                .patch_status(
                    "w",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": status})),
                )
                .await
                .unwrap();
        }
    };
    set_status(json!({"phase": "Failed", "reason": "disk full"})).await;
    let app = wait_app(&apps, "widgets", "Degraded", |a| {
        a.pointer("/status/health/status") == Some(&json!("Degraded"))
    })
    .await;
    assert_eq!(
        widget_health(&app),
        Some(json!({"status": "Degraded", "message": "widget failed: disk full"}))
    );

    set_status(json!({"phase": "Ready"})).await;
    let app = wait_app(&apps, "widgets", "Synced and Healthy", synced_healthy).await;
    assert_eq!(
        widget_health(&app),
        Some(json!({"status": "Healthy", "message": "widget ready"}))
    );

    // a check that fails: the resource is Unknown with the error, the Application Unknown
    // with a ComparisonError naming the resource
    cms.patch(
        "argocd-cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"resource.customizations.health.example.com_Widget": "error(\"no widgets today\")"}})),
    )
    .await
    .unwrap();
    let app = wait_app(&apps, "widgets", "Unknown", |a| {
        a.pointer("/status/health/status") == Some(&json!("Unknown"))
    })
    .await;
    assert_eq!(
        widget_health(&app),
        Some(json!({"status": "Unknown", "message": "<string>:1: no widgets today"}))
    );
    let conditions = app["status"]["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 1, "{conditions:?}");
    assert_eq!(conditions[0]["type"], "ComparisonError");
    assert_eq!(
        conditions[0]["message"],
        "error setting app health: failed to get resource health for \"Widget\" with name \"w\" in namespace \"web\": failed to get resource health for web/w: <string>:1: no widgets today"
    );

    // overrides Argo CD cannot load leave the comparison Unknown
    cms.patch(
        "argocd-cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"resource.customizations.health.example.com_Widget": WIDGET_HEALTH, "resource.customizations.useOpenLibs.example.com_Widget": "sometimes"}})),
    )
    .await
    .unwrap();
    wait_app(&apps, "widgets", "sync Unknown", |a| {
        a.pointer("/status/sync/status") == Some(&json!("Unknown"))
            && a.pointer("/status/health/status") == Some(&json!("Unknown"))
    })
    .await;
}

/// Labels a registered spoke's cluster Secret.
async fn label_cluster(hub: &Client, cluster: &str, labels: Value) {
    Api::<Secret>::namespaced(hub.clone(), "argocd")
        .patch(
            &format!("cluster-{cluster}"),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": labels}})),
        )
        .await
        .unwrap();
}

fn config_map_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_times_the_clusters_enabling_each_feature_names_system_feature_cluster() {
    let (_env, hub, spokes, repo, _w, _argo) = three_spokes().await;
    // an addon catalog as the platform keeps it: YAML arrays of entries, a directory of
    // single entries, one of them excluded
    write(
        repo.path(),
        "addons/catalog.yaml",
        "- feature: web\n  manifests: apps/web\n  namespace: web\n  version: \"1.27\"\n- feature: metrics\n  manifests: apps/metrics\n  namespace: monitoring\n  version: \"2.0\"\n",
    );
    write(
        repo.path(),
        "addons/extra/certs.yaml",
        "feature: certs\nmanifests: apps/certs\nnamespace: cert-manager\nversion: \"1.0\"\n",
    );
    write(
        repo.path(),
        "addons/extra/retired.yaml",
        "feature: retired\nmanifests: apps/retired\nnamespace: retired\nversion: \"0.1\"\n",
    );
    write(repo.path(), "apps/metrics/cm.yaml", &config_map_yaml("metrics"));
    write(repo.path(), "apps/certs/cm.yaml", &config_map_yaml("certs"));
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "catalog"]);
    // spoke-a and spoke-b enable web (three_spokes), spoke-c metrics, spoke-a certs
    label_cluster(
        &hub,
        "spoke-c",
        json!({"enable_metrics": "true", "enable_retired": "true"}),
    )
    .await;
    label_cluster(&hub, "spoke-a", json!({"enable_certs": "true"})).await;
    let sets = create_appset(
        &hub,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "system", "namespace": "argocd"},
            "spec": {
                "goTemplate": true,
                "goTemplateOptions": ["missingkey=error"],
                "generators": [{"matrix": {"generators": [
                    // `./` and a directory with a trailing slash are git pathspecs, as Argo CD
                    // passes them to git ls-files; values see the entry's own parameters
                    {"git": {"repoURL": REPO_URL, "revision": "main",
                        "files": [{"path": "./addons/catalog.yaml"}, {"path": "addons/extra/"},
                            {"path": "addons/extra/retired.yaml", "exclude": true}],
                        "values": {"release": "{{ .feature }}-{{ .version }}"}}},
                    // the clusters selector's key is rendered with each entry's parameters
                    {"clusters": {"selector": {"matchLabels": {"enable_{{ .feature }}": "true"}}}},
                ]}}],
                "template": {
                    "metadata": {"name": "system-{{ .feature }}-{{ .name }}",
                        "labels": {"release": "{{ .values.release }}", "catalog": "{{ .path.filename }}",
                            "segments": "{{ join \"_\" .path.segments }}"}},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": REPO_URL, "path": "{{ .manifests }}", "targetRevision": "main"},
                        "destination": {"server": "{{ .server }}", "namespace": "{{ .namespace }}"},
                        "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
                    },
                },
            },
        }),
    )
    .await;
    wait_app_names(
        &hub,
        "system",
        &[
            "system-certs-spoke-a",
            "system-metrics-spoke-c",
            "system-web-spoke-a",
            "system-web-spoke-b",
        ],
    )
    .await;
    expect_conditions(&sets, "system", &up_to_date()).await;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    let labels = |a: &DynamicObject| a.metadata.labels.clone().unwrap_or_default();
    let web = apps.get("system-web-spoke-b").await.unwrap();
    assert_eq!(labels(&web)["release"], "web-1.27");
    assert_eq!(labels(&web)["catalog"], "catalog.yaml");
    assert_eq!(labels(&web)["segments"], "addons");
    let certs = apps.get("system-certs-spoke-a").await.unwrap();
    assert_eq!(labels(&certs)["catalog"], "certs.yaml");
    assert_eq!(labels(&certs)["segments"], "addons_extra");
    // generated without finalizers: Argo CD adds the resources finalizer
    assert_eq!(
        certs.metadata.finalizers.clone().unwrap_or_default(),
        ["resources-finalizer.argocd.argoproj.io"]
    );
    let metrics = wait_app(
        &apps,
        "system-metrics-spoke-c",
        "Synced and Healthy",
        synced_healthy,
    )
    .await;
    assert_eq!(metrics["spec"]["destination"]["namespace"], "monitoring");
    assert!(
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(spokes[2].clone(), "monitoring")
            .get_opt("metrics")
            .await
            .unwrap()
            .is_some()
    );

    // fasttemplate: the file's keys flattened, `values.<key>`, `path[N]`, and a post-selector
    // over the flat parameters
    create_appset(&hub, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "flat", "namespace": "argocd"},
        "spec": {
            "generators": [{
                "git": {"repoURL": REPO_URL, "revision": "main", "files": [{"path": "addons/**.yaml"}],
                    "pathParamPrefix": "cat", "values": {"release": "{{feature}}-{{version}}"}},
                "selector": {"matchExpressions": [{"key": "namespace", "operator": "In", "values": ["web", "cert-manager"]},
                    {"key": "cat.path.filename", "operator": "NotIn", "values": ["retired.yaml"]}]},
            }],
            "template": {
                "metadata": {"name": "flat-{{feature}}-{{cat.path[0]}}-{{cat.path.basename}}",
                    "labels": {"release": "{{values.release}}"}, "annotations": {"unknown": "{{nope}}x"}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": REPO_URL, "path": "{{manifests}}", "targetRevision": "main"},
                    "destination": {"name": "spoke-a", "namespace": "{{namespace}}"},
                },
            },
        },
    }))
    .await;
    wait_app_names(
        &hub,
        "flat",
        &[
            "flat-certs-addons-extra",
            "flat-web-addons-addons",
            "system-certs-spoke-a",
            "system-metrics-spoke-c",
            "system-web-spoke-a",
            "system-web-spoke-b",
        ],
    )
    .await;
    let flat = apps.get("flat-web-addons-addons").await.unwrap();
    assert_eq!(labels(&flat)["release"], "web-1.27");
    // a tag naming no parameter stays as written
    assert_eq!(
        flat.metadata.annotations.unwrap_or_default()["unknown"],
        "{{nope}}x"
    );

    // a spoke enabling metrics joins; one disabling web leaves
    label_cluster(
        &hub,
        "spoke-b",
        json!({"enable_metrics": "true", "enable_web": "false"}),
    )
    .await;
    eventually("spoke-b did not move from web to metrics", || async {
        let names = app_names(&hub).await;
        names.contains(&"system-metrics-spoke-b".to_string())
            && !names.contains(&"system-web-spoke-b".to_string())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_directories_hold_their_revision_for_requeue_after_seconds_until_refreshed() {
    let (_env, hub, _spokes, repo, _w, _argo) = three_spokes().await;
    write(repo.path(), "apps/old/cm.yaml", &config_map_yaml("old"));
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "old"]);
    let sets = create_appset(
        &hub,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "dirs", "namespace": "argocd"},
            "spec": {
                "goTemplate": true,
                "generators": [
                    {"git": {"repoURL": REPO_URL, "revision": "main", "requeueAfterSeconds": 3600,
                        "directories": [{"path": "apps/*"}, {"path": "apps/old", "exclude": true}]}},
                    // directories are matched with Go's path.Match, unnormalised: nothing matches
                    {"git": {"repoURL": REPO_URL, "revision": "main", "pathParamPrefix": "dot",
                        "directories": [{"path": "./apps/*"}, {"path": "apps/*/"}]}},
                ],
                "template": {
                    "metadata": {"name": "dir-{{ .path.basename }}"},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": REPO_URL, "path": "{{ .path.path }}", "targetRevision": "main"},
                        "destination": {"name": "spoke-a", "namespace": "{{ index .path.segments 1 }}"},
                    },
                },
            },
        }),
    )
    .await;
    wait_app_names(&hub, "dirs", &["dir-web"]).await;
    expect_conditions(&sets, "dirs", &up_to_date()).await;
    // a new directory: the set keeps the revision it read for requeueAfterSeconds
    write(repo.path(), "apps/api/cm.yaml", &config_map_yaml("api"));
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "api"]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app_names(&hub).await, ["dir-web"]);
    // the refresh annotation reads git now, and is removed
    sets.patch(
        "dirs",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"argocd.argoproj.io/application-set-refresh": "true"}}}),
        ),
    )
    .await
    .unwrap();
    wait_app_names(&hub, "dirs", &["dir-api", "dir-web"]).await;
    eventually("the refresh annotation was not removed", || async {
        !sets
            .get("dirs")
            .await
            .unwrap()
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("argocd.argoproj.io/application-set-refresh")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_patches_and_missing_keys_give_argo_cds_conditions() {
    let (_env, hub, _spokes, _repo, _w, _argo) = three_spokes().await;
    let template = json!({
        "metadata": {"name": "patched-{{ .cluster }}"},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO_URL, "path": "apps/web", "targetRevision": "main"},
            "destination": {"name": "{{ .cluster }}", "namespace": "patched"},
        },
    });
    // the patch turns on automated sync and lists files where the list element says so;
    // it cannot change the project
    let patch = "spec:\n  project: elsewhere\n{{- if .autoSync }}\n  syncPolicy:\n    automated:\n      prune: {{ .prune }}\n    syncOptions: [CreateNamespace=true]\n  info:\n  {{- range .files }}\n    - name: file\n      value: {{ . }}\n  {{- end }}\n{{- end }}\n";
    let sets = create_appset(
        &hub,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "patched", "namespace": "argocd"},
            "spec": {
                "goTemplate": true,
                "goTemplateOptions": ["missingkey=error"],
                "generators": [{"list": {"elements": [
                    {"cluster": "spoke-a", "autoSync": true, "prune": true, "files": ["a.yaml", "b.yaml"]},
                    {"cluster": "spoke-b", "autoSync": false},
                ]}}],
                "template": template,
                "templatePatch": patch,
            },
        }),
    )
    .await;
    wait_app_names(&hub, "patched", &["patched-spoke-a", "patched-spoke-b"]).await;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    let a = wait_app(&apps, "patched-spoke-a", "Synced and Healthy", synced_healthy).await;
    assert_eq!(a["spec"]["project"], "default");
    assert_eq!(
        a["spec"]["syncPolicy"],
        json!({"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]})
    );
    assert_eq!(
        a["spec"]["info"],
        json!([{"name": "file", "value": "a.yaml"}, {"name": "file", "value": "b.yaml"}])
    );
    let b = apps.get("patched-spoke-b").await.unwrap().data;
    assert_eq!(b["spec"]["project"], "default");
    assert!(b["spec"].get("syncPolicy").is_none(), "{}", b["spec"]);
    expect_conditions(&sets, "patched", &up_to_date()).await;

    // a patch that is not an Application: Argo CD's unmarshal error, with the patch as JSON
    sets.patch(
        "patched",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"templatePatch": "- {{ .cluster }}\n"}})),
    )
    .await
    .unwrap();
    expect_conditions(
        &sets,
        "patched",
        &generation_failed(
            "RenderTemplateParamsError",
            "invalid templatePatch \"[\\\"spoke-a\\\"]\": json: cannot unmarshal array into Go value of type v1alpha1.Application",
        ),
    )
    .await;
    // nothing generated, nothing deleted
    assert_eq!(app_names(&hub).await, ["patched-spoke-a", "patched-spoke-b"]);

    // missingkey=error: a key no element has
    sets.patch(
        "patched",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"templatePatch": null,
            "template": {"metadata": {"name": "patched-{{ .cluster }}-{{ .tier }}"}}}})),
    )
    .await
    .unwrap();
    expect_conditions(
        &sets,
        "patched",
        &generation_failed(
            "RenderTemplateParamsError",
            "failed to execute go template patched-{{ .cluster }}-{{ .tier }}: template: :1:26: executing \"\" at <.tier>: map has no entry for key \"tier\"",
        ),
    )
    .await;
    // and in a generator's values, rendered with the cluster's parameters
    let values = create_appset(&hub, json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "values", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"clusters": {"selector": {"matchLabels": {"enable_web": "true"}},
                "values": {"tier": "{{ .metadata.labels.tier }}"}}}],
            "template": {"metadata": {"name": "values-{{ .name }}"}, "spec": {"project": "default",
                "source": {"repoURL": REPO_URL, "path": "apps/web"}, "destination": {"server": "{{ .server }}"}}},
        },
    }))
    .await;
    expect_conditions(
        &values,
        "values",
        &generation_failed(
            "ApplicationGenerationFromParamsError",
            "error appending templated values for cluster: failed to replace templated string: failed to replace templated string with rendered values: failed to execute go template {{ .metadata.labels.tier }}: template: :1:12: executing \"\" at <.metadata.labels.tier>: map has no entry for key \"tier\"",
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_matrices_and_generators_the_sim_does_not_run_fail_with_a_condition() {
    let (_env, hub, _spokes, _repo, _w, _argo) = three_spokes().await;
    let template = json!({"metadata": {"name": "x-{{ .name }}"}, "spec": {"project": "default",
        "source": {"repoURL": REPO_URL, "path": "apps/web"}, "destination": {"name": "spoke-a"}}});
    let list = json!({"list": {"elements": [{"name": "a"}]}});
    let git_files = json!({"git": {"repoURL": REPO_URL, "revision": "main",
        "files": [{"path": "workloads/applications/*/{{ .name }}.yaml"}]}});
    let label_msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    let cases = [
        (
            "scm",
            json!({"scmProvider": {"github": {"organization": "example"}}}),
            "the hubspoke sim does not run the scmProvider generator (it lists repositories through an SCM provider's API); it runs the list, clusters, git, matrix and merge generators".to_string(),
        ),
        (
            "pr-in-matrix",
            json!({"matrix": {"generators": [list.clone(), {"pullRequest": {"github": {"owner": "example", "repo": "platform"}}}]}}),
            "failed to get params for second generator in the matrix generator: child generator returned an error on parameter generation: the hubspoke sim does not run the pullRequest generator (it lists pull requests through an SCM provider's API); it runs the list, clusters, git, matrix and merge generators".to_string(),
        ),
        (
            "three",
            json!({"matrix": {"generators": [list.clone(), list.clone(), list.clone()]}}),
            "found more than two generators, Matrix support only two".to_string(),
        ),
        (
            "two-in-one",
            json!({"matrix": {"generators": [{"list": {"elements": [{"name": "a"}]}, "clusters": {}}, list.clone()]}}),
            "error failed to get params for first generator in matrix generator: found more than one generator in matrix.Generators".to_string(),
        ),
        (
            "three-levels",
            json!({"matrix": {"generators": [{"matrix": {"generators": [{"matrix": {"generators": [list.clone(), list.clone()]}}, list.clone()]}}, list.clone()]}}),
            "error failed to get params for first generator in matrix generator: child generator returned an error on parameter generation: error failed to get params for first generator in matrix generator: child generator generated no parameters".to_string(),
        ),
        (
            // each child consumes the other's parameters: the first is not rendered, so
            // its selector keeps the template text, which is no label value
            "circular",
            json!({"matrix": {"generators": [
                {"clusters": {"selector": {"matchLabels": {"environment": "{{ .path.basename }}"}}}},
                git_files.clone(),
            ]}}),
            format!(
                "error failed to get params for first generator in matrix generator: child generator returned an error on parameter generation: error getting cluster secrets: error converting label selector: values[0][environment]: Invalid value: \"{{{{ .path.basename }}}}\": {label_msg}"
            ),
        ),
        (
            "bad-post-selector",
            json!({"list": {"elements": [{"name": "a"}]}, "selector": {"matchExpressions": [{"key": "name", "operator": "In"}]}}),
            "error parsing label selector: values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty".to_string(),
        ),
    ];
    for (name, generator, _) in &cases {
        create_appset(
            &hub,
            json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                "metadata": {"name": name, "namespace": "argocd"},
                "spec": {"goTemplate": true, "generators": [generator], "template": template},
            }),
        )
        .await;
    }
    let sets: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("ApplicationSet", "applicationsets"));
    for (name, _, message) in &cases {
        expect_conditions(
            &sets,
            name,
            &generation_failed("ApplicationGenerationFromParamsError", message),
        )
        .await;
    }
    assert!(app_names(&hub).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_sync_runs_only_with_progressive_syncs_enabled_and_then_step_by_step() {
    let (env, hub, spokes, repo, _w, _argo) = three_spokes().await;
    // spoke-b (dev, step 1) deploys an image that never starts, spoke-a (prod, step 2) one
    // that does
    write(
        repo.path(),
        "apps/dev/deployment.yaml",
        &deployment_yaml("web", "registry.example.invalid/web:1", 1),
    );
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "dev"]);
    let set = |name: &str| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "goTemplate": true,
                "generators": [{"clusters": {"selector": {"matchExpressions": [
                    {"key": "environment", "operator": "In", "values": ["prod", "dev"]}]}}}],
                "strategy": {"type": "RollingSync", "rollingSync": {"steps": [
                    {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
                    {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
                ]}},
                "template": {
                    "metadata": {"name": format!("{name}-{{{{ .name }}}}"),
                        "labels": {"env": "{{ .metadata.labels.environment }}"}},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": REPO_URL, "targetRevision": "main",
                            "path": "{{ if eq .metadata.labels.environment \"dev\" }}apps/dev{{ else }}apps/web{{ end }}"},
                        "destination": {"server": "{{ .server }}", "namespace": name},
                        "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
                    },
                },
            },
        })
    };
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &ar("Application", "applications"));
    // progressive syncs off (Argo CD's default): the strategy is ignored, both sync themselves
    let sets = create_appset(&hub, set("plain")).await;
    wait_app_names(&hub, "plain", &["plain-spoke-a", "plain-spoke-b"]).await;
    let a = wait_app(&apps, "plain-spoke-a", "Synced and Healthy", synced_healthy).await;
    assert_eq!(a["spec"]["syncPolicy"]["automated"], json!({"prune": true}));
    wait_app(&apps, "plain-spoke-b", "Synced", |a| {
        a.pointer("/status/sync/status") == Some(&json!("Synced"))
    })
    .await;
    expect_conditions(&sets, "plain", &up_to_date()).await;
    let plain = sets.get("plain").await.unwrap().data;
    assert!(
        plain["status"].get("applicationStatus").is_none(),
        "{}",
        plain["status"]
    );

    // on: Argo CD reads argocd-cmd-params-cm
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(hub.clone(), "argocd")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "argocd-cmd-params-cm"},
                "data": {"applicationsetcontroller.enable.progressive.syncs": "true"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    create_appset(&hub, set("rollout")).await;
    wait_app_names(
        &hub,
        "rollout",
        &[
            "plain-spoke-a",
            "plain-spoke-b",
            "rollout-spoke-a",
            "rollout-spoke-b",
        ],
    )
    .await;
    let statuses = |set: &Value| -> Vec<(String, String, String)> {
        set.pointer("/status/applicationStatus")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["application"].as_str().unwrap_or_default().to_string(),
                    s["status"].as_str().unwrap_or_default().to_string(),
                    s["step"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    // step 1 synced by the set (its image never starts, so it stays Progressing); step 2 waits
    let rolling = cond(
        "RolloutProgressing",
        "True",
        "ApplicationSetModified",
        "ApplicationSet is performing rollout of step 1",
    );
    wait_conditions(&sets, "rollout", |c| c.contains(&rolling)).await;
    eventually("step 1 did not start progressing", || async {
        statuses(&sets.get("rollout").await.unwrap().data)
            == [
                ("rollout-spoke-a".into(), "Waiting".into(), "2".into()),
                ("rollout-spoke-b".into(), "Progressing".into(), "1".into()),
            ]
    })
    .await;
    let b = apps.get("rollout-spoke-b").await.unwrap().data;
    // RollingSync turns automated sync off and syncs through `operation` itself
    assert!(
        b["spec"]["syncPolicy"].get("automated").is_none(),
        "{}",
        b["spec"]
    );
    assert_eq!(
        b["status"]["operationState"]["operation"]["initiatedBy"],
        json!({"username": "applicationset-controller", "automated": true})
    );
    assert_eq!(
        b["status"]["operationState"]["operation"]["info"],
        json!([{"name": "Reason", "value": "ApplicationSet RollingSync triggered a sync of this Application resource"}])
    );
    let a = apps.get("rollout-spoke-a").await.unwrap().data;
    assert_eq!(a["status"]["sync"]["status"], "OutOfSync");
    assert!(
        Api::<Deployment>::namespaced(spokes[0].clone(), "rollout")
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
    );
    // enabling progressive syncs took over the first set too: its prod Application was
    // already Healthy, its dev one (step 1) never gets there
    wait_conditions(&sets, "plain", |c| c.contains(&rolling)).await;
    eventually(
        "the first set's statuses are not Healthy and Progressing",
        || async {
            statuses(&sets.get("plain").await.unwrap().data)
                == [
                    ("plain-spoke-a".into(), "Healthy".into(), "2".into()),
                    ("plain-spoke-b".into(), "Progressing".into(), "1".into()),
                ]
        },
    )
    .await;
    let plain = sets.get("plain").await.unwrap().data;
    assert_eq!(
        plain["status"]["applicationStatus"][0]["message"],
        "Application resource is already Healthy, updating status from Waiting to Healthy."
    );

    // step 1 fixed: it syncs again, becomes Healthy, and step 2 follows
    write(
        repo.path(),
        "apps/dev/deployment.yaml",
        &deployment_yaml("web", "nginx:1.27", 1),
    );
    git(repo.path(), &["commit", "-q", "-am", "dev fixed"]);
    let done = cond(
        "RolloutProgressing",
        "False",
        "ApplicationSetRolloutComplete",
        "ApplicationSet Rollout has completed",
    );
    for name in ["rollout", "plain"] {
        wait_conditions(&sets, name, |c| c.contains(&done)).await;
    }
    let rollout = sets.get("rollout").await.unwrap().data;
    assert_eq!(
        statuses(&rollout),
        [
            ("rollout-spoke-a".into(), "Healthy".into(), "2".into()),
            ("rollout-spoke-b".into(), "Healthy".into(), "1".into()),
        ]
    );
    for s in rollout["status"]["applicationStatus"].as_array().unwrap() {
        assert_eq!(
            s["message"],
            "Application resource became Healthy, updating status from Progressing to Healthy."
        );
        assert_eq!(s["targetRevisions"].as_array().map(Vec::len), Some(1), "{s}");
    }
    assert!(
        Api::<Deployment>::namespaced(spokes[0].clone(), "rollout")
            .get_opt("web")
            .await
            .unwrap()
            .is_some()
    );
    drop(env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_selectors_see_flattened_parameters_and_go_templates_keep_typed_maps_whole() {
    let (_env, hub, _spokes, _repo, _w, _argo) = three_spokes().await;
    let set = |name: &str, go: bool, generators: Value| {
        let tag = |t: &str| {
            if go {
                format!("{{{{ .{t} }}}}")
            } else {
                format!("{{{{{t}}}}}")
            }
        };
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "goTemplate": go,
                "generators": generators,
                "template": {
                    "metadata": {"name": format!("{name}-{}", tag("name"))},
                    "spec": {"project": "default", "source": {"repoURL": REPO_URL, "path": "apps/web"},
                        "destination": {"name": "spoke-a", "namespace": "web"}},
                },
            },
        })
    };
    let prod = json!({"matchLabels": {"metadata.labels.environment": "prod"}});
    // flat parameters: metadata.labels.<key> is a parameter of its own
    create_appset(
        &hub,
        set("flat", false, json!([{"clusters": {}, "selector": prod}])),
    )
    .await;
    // goTemplate: a cluster's labels are a map[string]string, which flattening leaves whole
    // (printed as Go prints a map); a list element's nested map is flattened
    let typed = "map[argocd.argoproj.io/secret-type:cluster enable_web:true environment:dev]";
    create_appset(
        &hub,
        set(
            "go",
            true,
            json!([
                {"clusters": {}, "selector": prod},
                {"clusters": {}, "selector": {"matchLabels": {"metadata.labels": typed}}},
                {"list": {"elements": [{"name": "x", "labels": {"env": "prod"}}, {"name": "y", "labels": {"env": "dev"}}]},
                    "selector": {"matchLabels": {"labels.env": "prod"}}},
            ]),
        ),
    )
    .await;
    wait_app_names(&hub, "go", &["flat-spoke-a", "go-spoke-b", "go-x"]).await;
}

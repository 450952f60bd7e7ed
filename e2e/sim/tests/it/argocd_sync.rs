//! The Argo CD stand-in's AppProject enforcement, ignoreDifferences and sync options, as a
//! user sees them: conditions, sync status, status.resources, operationState and the live
//! objects on the spoke.
//!
//! Texts and behaviour come from Argo CD v3.2.0 and the gitops-engine it pins (each assertion
//! names its source): util/argo/argo.go (ValidatePermissions), controller/appcontroller.go
//! (getAppProj, refreshAppConditions, processRequestedAppOperation), controller/state.go
//! (CompareAppState), controller/sync.go (SyncAppState, the permission validator),
//! util/argo/normalizers/diff_normalizer.go, gitops-engine pkg/sync/sync_context.go and
//! pkg/utils/kube/resource_ops.go.

use crate::common;

use common::argocd::{eventually, git, register, synced_healthy, wait_app, write};

use std::path::Path;
use std::time::Duration;

use hubspoke_sim::SimEnvironment;
use hubspoke_sim::standins::argocd::{ArgoCdOptions, ArgoCdStandIn, Repositories};
use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const REPO_URL: &str = "https://github.com/example/platform.git";

fn commit(dir: &Path, files: &[(&str, String)], message: &str) -> String {
    for (path, content) in files {
        write(dir, path, content);
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn config_map(name: &str, extra_meta: &str, data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra_meta}data:\n{data}")
}

fn deployment(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: main\n          image: {image}\n"
    )
}

fn ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind), plural)
}

/// A hub running the Argo CD stand-in on a git repository, and one spoke running workloads,
/// registered as `spoke-a` with a ServiceAccount token.
struct Env {
    env: SimEnvironment,
    hub: Client,
    spoke: Client,
    repo: tempfile::TempDir,
    _standins: (ArgoCdStandIn, WorkloadStandIn),
}

impl Env {
    async fn start() -> Env {
        let repo = tempfile::tempdir().unwrap();
        git(repo.path(), &["init", "-q"]);
        commit(repo.path(), &[("README.md", "platform\n".into())], "init");
        let env = SimEnvironment::start(1).await.unwrap();
        let hub = env.hub.client().await.unwrap();
        let mut repos = Repositories::new();
        repos.add(REPO_URL, repo.path());
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
        let spoke = env.spokes[0].client().await.unwrap();
        let workloads = WorkloadStandIn::run(spoke.clone(), WorkloadOptions::default())
            .await
            .unwrap();
        register(&hub, &spoke, &env.spokes[0], env.spokes[0].name()).await;
        Env {
            env,
            hub,
            spoke,
            repo,
            _standins: (argo, workloads),
        }
    }

    fn server(&self) -> String {
        self.env.spokes[0].url()
    }

    fn commit(&self, files: &[(&str, String)], message: &str) -> String {
        commit(self.repo.path(), files, message)
    }

    fn apps(&self, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.hub.clone(), ns, &ar("Application", "applications"))
    }

    async fn create_app(&self, app: Value) -> Api<DynamicObject> {
        let ns = app["metadata"]["namespace"].as_str().unwrap().to_string();
        let apps = self.apps(&ns);
        apps.create(&PostParams::default(), &serde_json::from_value(app).unwrap())
            .await
            .unwrap();
        apps
    }

    async fn project(&self, name: &str, spec: Value) {
        let projects: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), "argocd", &ar("AppProject", "appprojects"));
        let p = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": name, "namespace": "argocd"}, "spec": spec});
        projects
            .patch(name, &PatchParams::apply("test").force(), &Patch::Apply(&p))
            .await
            .unwrap();
    }

    /// Sets a manual sync operation, as `argocd app sync` does.
    async fn sync(&self, apps: &Api<DynamicObject>, name: &str, options: &[&str]) {
        apps.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"operation": {"sync": {"revision": "main", "prune": true, "syncOptions": options},
                "initiatedBy": {"username": "admin"}}}),
            ),
        )
        .await
        .unwrap();
    }
}

fn app(
    name: &str,
    project: &str,
    server: &str,
    path: &str,
    namespace: &str,
    options: &[&str],
    automated: bool,
) -> Value {
    let mut a = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        "spec": {
            "project": project,
            "source": {"repoURL": REPO_URL, "path": path, "targetRevision": "main"},
            "destination": {"server": server, "namespace": namespace},
            "syncPolicy": {"syncOptions": options},
        },
    });
    if automated {
        a["spec"]["syncPolicy"]["automated"] = json!({"prune": true, "selfHeal": true});
    }
    a
}

fn op_phase(phase: &'static str) -> impl Fn(&Value) -> bool {
    move |a: &Value| a.pointer("/status/operationState/phase") == Some(&json!(phase))
}

fn conditions(app: &Value) -> Vec<(String, String)> {
    app.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn has_condition(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |a: &Value| conditions(a).iter().any(|(t, _)| t == kind)
}

/// (kind, name, status) of status.resources.
fn resource_statuses(app: &Value) -> Vec<(String, String, String)> {
    app["status"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
                r["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// (kind, name, status, message) of the last sync's results.
fn results(app: &Value) -> Vec<(String, String, String, String)> {
    app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
                r["status"].as_str().unwrap_or("").to_string(),
                r["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_limit_sources_destinations_kinds_and_application_namespaces() {
    let e = Env::start().await;
    let server = e.server();
    e.project(
        "team",
        json!({
            "sourceRepos": ["https://github.com/example/*", "!https://github.com/example/secret"],
            "destinations": [{"server": server, "namespace": "team-*"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}],
            "syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["*"]}],
        }),
    )
    .await;
    let unknown = |a: &Value| {
        a.pointer("/status/sync/status") == Some(&json!("Unknown"))
            && a.pointer("/status/health/status") == Some(&json!("Unknown"))
    };
    // a source the project denies (ValidatePermissions)
    let mut bad_repo = app("bad-repo", "team", &server, "apps/team", "team-a", &[], false);
    bad_repo["spec"]["source"]["repoURL"] = json!("https://github.com/example/secret.git");
    let apps = e.create_app(bad_repo).await;
    let a = wait_app(
        &apps,
        "bad-repo",
        "an InvalidSpecError",
        has_condition("InvalidSpecError"),
    )
    .await;
    assert!(unknown(&a), "{:#}", a["status"]);
    assert!(conditions(&a).contains(&(
        s("InvalidSpecError"),
        s("application repo https://github.com/example/secret.git is not permitted in project 'team'")
    )));
    // the sim says what of the project it does not enforce, as a warning
    assert!(conditions(&a).contains(&(
        s("UnsupportedFeatureWarning"),
        s("project 'team' sets syncWindows, which the hubspoke sim does not enforce: syncs run as if they were not set")
    )));
    // a destination namespace the project does not list, by server and by name
    e.create_app(app("bad-ns", "team", &server, "apps/team", "web", &[], false))
        .await;
    let a = wait_app(
        &apps,
        "bad-ns",
        "an InvalidSpecError",
        has_condition("InvalidSpecError"),
    )
    .await;
    assert!(conditions(&a).contains(&(
        s("InvalidSpecError"),
        format!("application destination server '{server}' and namespace 'web' do not match any of the allowed destinations in project 'team'")
    )));
    let mut by_name = app("by-name", "team", "", "apps/team", "kube-system", &[], false);
    by_name["spec"]["destination"] = json!({"name": "spoke-a", "namespace": "kube-system"});
    e.create_app(by_name).await;
    let a = wait_app(
        &apps,
        "by-name",
        "an InvalidSpecError",
        has_condition("InvalidSpecError"),
    )
    .await;
    assert!(conditions(&a).contains(&(
        s("InvalidSpecError"),
        s("application destination server 'spoke-a' and namespace 'kube-system' do not match any of the allowed destinations in project 'team'")
    )));
    // a manual sync cannot run: SyncAppState refuses on error conditions
    e.sync(&apps, "by-name", &[]).await;
    let a = wait_app(&apps, "by-name", "an errored operation", op_phase("Error")).await;
    assert_eq!(
        a["status"]["operationState"]["message"],
        "InvalidSpecError: application destination server 'spoke-a' and namespace 'kube-system' do not match any of the allowed destinations in project 'team'"
    );

    // kinds: cluster-scoped ones need the whitelist, namespaced ones must not be blacklisted,
    // and every namespace must be a permitted destination
    e.commit(
        &[
            ("apps/team/cm.yaml", config_map("settings", "", "  a: b\n")),
            (
                "apps/team/role.yaml",
                s("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: team-reader\nrules: []\n"),
            ),
            (
                "apps/team/secret.yaml",
                s("apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  t: x\n"),
            ),
            (
                "apps/team/system.yaml",
                config_map("system", "  namespace: kube-system\n", "  a: b\n"),
            ),
        ],
        "team",
    );
    e.create_app(app(
        "team",
        "team",
        &server,
        "apps/team",
        "team-a",
        &["CreateNamespace=true"],
        false,
    ))
    .await;
    e.sync(&apps, "team", &["CreateNamespace=true"]).await;
    let a = wait_app(&apps, "team", "a failed sync", op_phase("Failed")).await;
    // CompareAppState: kinds the project does not permit are Unknown; what it permits but
    // is missing is OutOfSync
    let mut statuses = resource_statuses(&a);
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (s("ClusterRole"), s("team-reader"), s("Unknown")),
            (s("ConfigMap"), s("settings"), s("OutOfSync")),
            (s("ConfigMap"), s("system"), s("OutOfSync")),
            (s("Secret"), s("token"), s("Unknown")),
        ]
    );
    assert_eq!(a["status"]["sync"]["status"], "OutOfSync");
    // the permission validator fails the tasks before anything is applied
    let op = &a["status"]["operationState"];
    assert_eq!(op["message"], "one or more synchronization tasks are not valid");
    let mut failed = results(&a);
    failed.sort();
    assert_eq!(
        failed,
        [
            (
                s("ClusterRole"),
                s("team-reader"),
                s("SyncFailed"),
                s("resource rbac.authorization.k8s.io:ClusterRole is not permitted in project team")
            ),
            (
                s("ConfigMap"),
                s("system"),
                s("SyncFailed"),
                s("namespace kube-system is not permitted in project 'team'")
            ),
            (
                s("Namespace"),
                s("team-a"),
                s("SyncFailed"),
                s("resource :Namespace is not permitted in project team")
            ),
            (
                s("Secret"),
                s("token"),
                s("SyncFailed"),
                s("resource :Secret is not permitted in project team")
            ),
        ]
    );
    assert!(
        op["syncResult"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("hookPhase").is_none()),
        "invalid tasks never ran"
    );
    assert!(
        Api::<ConfigMap>::namespaced(e.spoke.clone(), "team-a")
            .get_opt("settings")
            .await
            .unwrap()
            .is_none()
    );
    // once the project permits them, a sync applies everything
    e.project(
        "team",
        json!({
            "sourceRepos": ["https://github.com/example/*"],
            "destinations": [{"server": server, "namespace": "team-*"}, {"name": "spoke-a", "namespace": "kube-system"}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}, {"group": "rbac.authorization.k8s.io", "kind": "Cluster*"}],
        }),
    )
    .await;
    e.sync(&apps, "team", &["CreateNamespace=true"]).await;
    let a = wait_app(&apps, "team", "synced", |a| {
        synced_healthy(a) && a.pointer("/status/operationState/phase") == Some(&json!("Succeeded"))
    })
    .await;
    assert!(conditions(&a).is_empty(), "{:?}", conditions(&a));

    // Applications outside Argo CD's namespace need the project's sourceNamespaces
    // (getAppProj: an UnknownError)
    Api::<Namespace>::all(e.hub.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team-apps"}})).unwrap(),
        )
        .await
        .unwrap();
    let mut outside = app(
        "outside",
        "team",
        &server,
        "apps/team",
        "team-b",
        &["CreateNamespace=true"],
        false,
    );
    outside["metadata"]["namespace"] = json!("team-apps");
    let outside_apps = e.create_app(outside).await;
    let a = wait_app(
        &outside_apps,
        "outside",
        "an UnknownError",
        has_condition("UnknownError"),
    )
    .await;
    assert_eq!(
        conditions(&a),
        [(
            s("UnknownError"),
            s("application 'outside' in namespace 'team-apps' is not permitted to use project 'team'")
        )]
    );
    assert!(unknown(&a));
    e.sync(&outside_apps, "outside", &[]).await;
    let a = wait_app(
        &outside_apps,
        "outside",
        "an errored operation",
        op_phase("Error"),
    )
    .await;
    assert_eq!(
        a["status"]["operationState"]["message"],
        "Failed to load application project: application 'outside' in namespace 'team-apps' is not permitted to use project 'team'"
    );
    assert!(a["status"]["operationState"].get("syncResult").is_none());
    e.project(
        "team",
        json!({
            "sourceRepos": ["*"], "sourceNamespaces": ["team-*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        }),
    )
    .await;
    let a = wait_app(&outside_apps, "outside", "compared", |a| {
        a.pointer("/status/sync/status") == Some(&json!("OutOfSync"))
    })
    .await;
    // it declares the cluster-scoped role and the kube-system ConfigMap the "team" application
    // deployed (CompareAppState: named by its namespace, as it lives outside Argo CD's)
    let mut cs = conditions(&a);
    cs.sort();
    assert_eq!(
        cs,
        [
            (
                s("SharedResourceWarning"),
                s("ClusterRole/team-reader is part of applications team-apps/outside and team")
            ),
            (
                s("SharedResourceWarning"),
                s("ConfigMap/system is part of applications team-apps/outside and team")
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_differences_stay_synced_and_are_respected_by_syncs() {
    let e = Env::start().await;
    let server = e.server();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-a\n  labels:\n    argocd.argoproj.io/secret-type: cluster\nstringData:\n  name: a\n";
    e.commit(
        &[
            ("apps/ignore/secret.yaml", s(secret)),
            ("apps/ignore/deploy.yaml", deployment("web", "nginx:1.27", 2)),
            ("apps/ignore/cm.yaml", config_map("tuning", "", "  mode: safe\n")),
            (
                "apps/ignore/svc.yaml",
                s("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    tier: web\nspec:\n  selector:\n    app: web\n  ports:\n    - port: 80\n"),
            ),
        ],
        "ignore",
    );
    // argocd-cm: the Service's tier label, for every application (resource.customizations)
    Api::<ConfigMap>::namespaced(e.hub.clone(), "argocd")
        .patch(
            "argocd-cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"resource.customizations.ignoreDifferences.Service": "jqPathExpressions:\n- .metadata.labels.tier\n"}})),
        )
        .await
        .unwrap();
    let mut a = app(
        "ignore",
        "default",
        &server,
        "apps/ignore",
        "web",
        &["CreateNamespace=true", "RespectIgnoreDifferences=true"],
        true,
    );
    a["spec"]["ignoreDifferences"] = json!([
        {"kind": "Secret", "name": "cluster-a", "jsonPointers": ["/data"]},
        {"group": "apps", "kind": "Deployment", "jqPathExpressions": [".spec.replicas"]},
        {"kind": "ConfigMap", "managedFieldsManagers": ["tuner"]},
    ]);
    let apps = e.create_app(a).await;
    let a = wait_app(&apps, "ignore", "Synced and Healthy", synced_healthy).await;
    // CompareAppState records what was ignored in comparedTo
    assert_eq!(
        a["status"]["sync"]["comparedTo"]["ignoreDifferences"][0],
        json!({"kind": "Secret", "name": "cluster-a", "jsonPointers": ["/data"]})
    );
    // others change the ignored fields: credentials written into the cluster Secret, the
    // Deployment scaled, the ConfigMap tuned by its manager, the Service relabelled
    let secrets: Api<Secret> = Api::namespaced(e.spoke.clone(), "web");
    secrets
        .patch(
            "cluster-a",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"stringData": {"server": "https://10.0.0.1", "config": "{\"bearerToken\":\"t\"}"}}),
            ),
        )
        .await
        .unwrap();
    let deploys: Api<Deployment> = Api::namespaced(e.spoke.clone(), "web");
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(e.spoke.clone(), "web");
    let tuner = PatchParams {
        field_manager: Some("tuner".into()),
        ..Default::default()
    };
    cms.patch("tuning", &tuner, &Patch::Merge(json!({"data": {"mode": "fast"}})))
        .await
        .unwrap();
    Api::<k8s_openapi::api::core::v1::Service>::namespaced(e.spoke.clone(), "web")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "edge"}}})),
        )
        .await
        .unwrap();
    // the application stays Synced (a few resyncs later) and self-heal leaves them alone
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let a = wait_app(&apps, "ignore", "still Synced", synced_healthy).await;
    assert!(
        resource_statuses(&a).iter().all(|(_, _, st)| st == "Synced"),
        "{:?}",
        resource_statuses(&a)
    );
    let token = secrets.get("cluster-a").await.unwrap();
    assert_eq!(token.data.as_ref().unwrap()["server"].0, b"https://10.0.0.1");
    assert_eq!(deploys.get("web").await.unwrap().spec.unwrap().replicas, Some(4));
    // a change in git syncs, and RespectIgnoreDifferences=true keeps the ignored fields'
    // live values (controller/sync.go normalizeTargetResources)
    let head = e.commit(
        &[
            ("apps/ignore/deploy.yaml", deployment("web", "nginx:1.28", 2)),
            (
                "apps/ignore/cm.yaml",
                config_map("tuning", "", "  mode: safe\n  extra: x\n"),
            ),
        ],
        "new image",
    );
    wait_app(&apps, "ignore", "synced to the new commit", |a| {
        synced_healthy(a) && a.pointer("/status/sync/revision") == Some(&json!(head))
    })
    .await;
    let d = deploys.get("web").await.unwrap().spec.unwrap();
    assert_eq!(d.replicas, Some(4));
    assert_eq!(
        d.template.spec.unwrap().containers[0].image.as_deref(),
        Some("nginx:1.28")
    );
    let token = secrets.get("cluster-a").await.unwrap();
    assert_eq!(
        token.data.as_ref().unwrap()["config"].0,
        b"{\"bearerToken\":\"t\"}"
    );
    let tuning = cms.get("tuning").await.unwrap().data.unwrap();
    assert_eq!((tuning["mode"].as_str(), tuning["extra"].as_str()), ("fast", "x"));

    // a jq expression that does not parse: the comparison fails as Argo CD's does, worded as
    // gojq words it, and a sync is refused with the condition
    let mut broken = app("broken", "default", &server, "apps/ignore", "web", &[], false);
    broken["spec"]["ignoreDifferences"] =
        json!([{"kind": "ConfigMap", "jqPathExpressions": [".metadata.labels["]}]);
    e.create_app(broken).await;
    let msg = "Failed to compare desired state to live state: failed to create diff normalizer: unexpected token \")\"";
    let a = wait_app(
        &apps,
        "broken",
        "a ComparisonError",
        has_condition("ComparisonError"),
    )
    .await;
    assert!(
        conditions(&a).contains(&(s("ComparisonError"), s(msg))),
        "{:?}",
        conditions(&a)
    );
    assert_eq!(a["status"]["sync"]["status"], "Unknown");
    assert!(resource_statuses(&a).iter().all(|(_, _, st)| st == "Unknown"));
    e.sync(&apps, "broken", &[]).await;
    let a = wait_app(&apps, "broken", "an errored operation", op_phase("Error")).await;
    assert_eq!(
        a["status"]["operationState"]["message"],
        json!(format!("ComparisonError: {msg}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_options_choose_how_resources_are_applied() {
    let e = Env::start().await;
    let server = e.server();
    e.commit(
        &[
            ("apps/ssa/cm.yaml", config_map("settings", "", "  a: b\n")),
            ("apps/replace/cm.yaml", config_map("replaced", "", "  a: b\n")),
            (
                "apps/strict/deploy.yaml",
                deployment("strict", "nginx:1.27", 1)
                    .replace("  replicas: 1\n", "  replicas: 1\n  bogus: true\n"),
            ),
            ("apps/plain/a.yaml", config_map("a", "", "  v: \"1\"\n")),
            ("apps/plain/b.yaml", config_map("b", "", "  v: \"1\"\n")),
        ],
        "options",
    );
    // ServerSideApply=true and managedNamespaceMetadata (applied server-side, as the
    // annotation Argo CD adds says: controller/sync_namespace.go)
    let mut ssa = app(
        "ssa",
        "default",
        &server,
        "apps/ssa",
        "ssa",
        &["CreateNamespace=true", "ServerSideApply=true"],
        true,
    );
    ssa["spec"]["syncPolicy"]["managedNamespaceMetadata"] =
        json!({"labels": {"team": "a", "tier": "web"}, "annotations": {"owner": "platform"}});
    let apps = e.create_app(ssa).await;
    let a = wait_app(&apps, "ssa", "Synced and Healthy", synced_healthy).await;
    let mut msgs: Vec<(String, String, String, String)> = results(&a);
    msgs.sort();
    assert_eq!(
        msgs,
        [
            (
                s("ConfigMap"),
                s("settings"),
                s("Synced"),
                s("configmap/settings serverside-applied")
            ),
            (
                s("Namespace"),
                s("ssa"),
                s("Synced"),
                s("namespace/ssa serverside-applied")
            ),
        ]
    );
    assert_eq!(
        a["status"]["operationState"]["syncResult"]["managedNamespaceMetadata"],
        json!({"labels": {"team": "a", "tier": "web"}, "annotations": {"owner": "platform"}})
    );
    let nss: Api<Namespace> = Api::all(e.spoke.clone());
    let meta = nss.get("ssa").await.unwrap().metadata;
    assert_eq!(meta.labels.as_ref().unwrap()["team"], "a");
    let ann = meta.annotations.unwrap();
    assert_eq!(
        (
            ann["owner"].as_str(),
            ann["argocd.argoproj.io/sync-options"].as_str()
        ),
        ("platform", "ServerSideApply=true")
    );
    let cm = Api::<ConfigMap>::namespaced(e.spoke.clone(), "ssa")
        .get("settings")
        .await
        .unwrap();
    let fields = cm.metadata.managed_fields.unwrap();
    assert!(fields.iter().any(
        |f| f.manager.as_deref() == Some("argocd-controller") && f.operation.as_deref() == Some("Apply")
    ));
    // changed metadata makes the application OutOfSync (HasChangedManagedNamespaceMetadata)
    // and the next sync keeps the namespace updated
    apps.patch(
        "ssa",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncPolicy": {"managedNamespaceMetadata": {"labels": {"team": "b", "tier": null}}}}})),
    )
    .await
    .unwrap();
    eventually("the namespace's metadata was not updated", || async {
        let l = nss.get("ssa").await.unwrap().metadata.labels.unwrap_or_default();
        l.get("team").map(String::as_str) == Some("b") && !l.contains_key("tier")
    })
    .await;
    wait_app(&apps, "ssa", "Synced again", synced_healthy).await;

    // Replace=true: kubectl create, then kubectl replace (resource_ops.go)
    let apps = e
        .create_app(app(
            "replace",
            "default",
            &server,
            "apps/replace",
            "replace",
            &["CreateNamespace=true", "Replace=true"],
            true,
        ))
        .await;
    let a = wait_app(&apps, "replace", "Synced", synced_healthy).await;
    assert!(results(&a).contains(&(
        s("ConfigMap"),
        s("replaced"),
        s("Synced"),
        s("configmap/replaced created")
    )));
    Api::<ConfigMap>::namespaced(e.spoke.clone(), "replace")
        .patch(
            "replaced",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "drift"}})),
        )
        .await
        .unwrap();
    let a = wait_app(&apps, "replace", "healed", |a| {
        synced_healthy(a) && results(a).iter().any(|r| r.3 == "configmap/replaced replaced")
    })
    .await;
    assert!(
        !results(&a).iter().any(|r| r.0 == "Namespace"),
        "an existing namespace is left alone"
    );

    // the API server validates strictly unless Validate=false (kubectl --validate)
    let apps = e
        .create_app(app(
            "strict",
            "default",
            &server,
            "apps/strict",
            "strict",
            &["CreateNamespace=true"],
            false,
        ))
        .await;
    e.sync(&apps, "strict", &["CreateNamespace=true"]).await;
    let a = wait_app(&apps, "strict", "a failed sync", op_phase("Failed")).await;
    let failure = results(&a).into_iter().find(|r| r.2 == "SyncFailed").unwrap();
    assert_eq!(
        a["status"]["operationState"]["message"],
        json!(format!(
            "one or more objects failed to apply, reason: {}",
            failure.3
        ))
    );
    assert!(
        failure
            .3
            .contains("strict decoding error: unknown field \"spec.bogus\""),
        "{}",
        failure.3
    );
    e.sync(&apps, "strict", &["CreateNamespace=true", "Validate=false"])
        .await;
    let a = wait_app(
        &apps,
        "strict",
        "a sync without validation",
        op_phase("Succeeded"),
    )
    .await;
    assert!(results(&a).contains(&(
        s("Deployment"),
        s("strict"),
        s("Synced"),
        s("deployment.apps/strict created")
    )));

    // client-side apply: unchanged objects say so; ApplyOutOfSyncOnly=true leaves them out;
    // an option Argo CD does not know is ignored
    let apps = e
        .create_app(app(
            "plain",
            "default",
            &server,
            "apps/plain",
            "plain",
            &["CreateNamespace=true", "Bogus=true"],
            false,
        ))
        .await;
    e.sync(&apps, "plain", &[]).await;
    wait_app(&apps, "plain", "Synced", synced_healthy).await;
    let head = e.commit(
        &[("apps/plain/b.yaml", config_map("b", "", "  v: \"2\"\n"))],
        "b v2",
    );
    let at = |head: String| {
        move |a: &Value| {
            op_phase("Succeeded")(a)
                && a.pointer("/status/operationState/syncResult/revision") == Some(&json!(head))
        }
    };
    e.sync(&apps, "plain", &[]).await;
    let a = wait_app(&apps, "plain", "synced by hand", at(head)).await;
    let mut r = results(&a);
    r.sort();
    assert_eq!(
        r,
        [
            (s("ConfigMap"), s("a"), s("Synced"), s("configmap/a unchanged")),
            (s("ConfigMap"), s("b"), s("Synced"), s("configmap/b configured")),
        ]
    );
    let head = e.commit(
        &[("apps/plain/b.yaml", config_map("b", "", "  v: \"3\"\n"))],
        "b v3",
    );
    e.sync(&apps, "plain", &["ApplyOutOfSyncOnly=true"]).await;
    let a = wait_app(&apps, "plain", "synced again", at(head)).await;
    assert_eq!(
        results(&a),
        [(s("ConfigMap"), s("b"), s("Synced"), s("configmap/b configured"))]
    );
    e.sync(&apps, "plain", &["ApplyOutOfSyncOnly=true"]).await;
    let a = wait_app(&apps, "plain", "nothing to sync", |a| {
        a["status"]["operationState"]["message"] == "successfully synced (no more tasks)"
    })
    .await;
    assert!(results(&a).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_missing_kinds_namespaces_and_shared_resources() {
    let e = Env::start().await;
    let server = e.server();
    let keep = "  annotations:\n    argocd.argoproj.io/sync-options: Prune=false,Delete=false\n";
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  annotations:\n    argocd.argoproj.io/sync-options: SkipDryRunOnMissingResource=true\nspec:\n  size: 1\n";
    e.commit(
        &[
            ("apps/prune/a.yaml", config_map("a", "", "  v: \"1\"\n")),
            ("apps/prune/b.yaml", config_map("b", "", "  v: \"1\"\n")),
            ("apps/prune/kept.yaml", config_map("kept", keep, "  v: \"1\"\n")),
            ("apps/cr/widget.yaml", s(widget)),
            ("apps/shared/cm.yaml", config_map("shared", "", "  v: \"1\"\n")),
        ],
        "prune",
    );
    // PruneLast=true: pruning after every wave (sync_context.go getSyncTasks); Prune=false
    // keeps an object the manifests dropped
    // (no self-heal: the object left unpruned keeps the application OutOfSync, and self-heal
    // would sync again and again)
    let mut prune_app = app(
        "prune",
        "default",
        &server,
        "apps/prune",
        "prune",
        &["CreateNamespace=true", "PruneLast=true"],
        true,
    );
    prune_app["spec"]["syncPolicy"]["automated"]["selfHeal"] = json!(false);
    let apps = e.create_app(prune_app).await;
    wait_app(&apps, "prune", "Synced", synced_healthy).await;
    git(
        e.repo.path(),
        &["rm", "-q", "apps/prune/b.yaml", "apps/prune/kept.yaml"],
    );
    let head = e.commit(
        &[("apps/prune/c.yaml", config_map("c", "", "  v: \"1\"\n"))],
        "c instead of b",
    );
    let a = wait_app(&apps, "prune", "synced to the new commit", |a| {
        a.pointer("/status/operationState/syncResult/revision") == Some(&json!(head))
            && op_phase("Succeeded")(a)
    })
    .await;
    let r: Vec<(String, String, String)> = results(&a).into_iter().map(|r| (r.1, r.2, r.3)).collect();
    assert_eq!(
        r,
        [
            (s("a"), s("Synced"), s("configmap/a unchanged")),
            (s("c"), s("Synced"), s("configmap/c created")),
            (s("b"), s("Pruned"), s("pruned")),
            (s("kept"), s("PruneSkipped"), s("ignored (no prune)")),
        ]
    );
    let cms: Api<ConfigMap> = Api::namespaced(e.spoke.clone(), "prune");
    assert!(cms.get_opt("kept").await.unwrap().is_some());
    // the application stays OutOfSync with the object it must not prune
    let a = wait_app(&apps, "prune", "OutOfSync", |a| {
        a.pointer("/status/sync/status") == Some(&json!("OutOfSync"))
    })
    .await;
    assert!(
        a["status"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "kept" && r["requiresPruning"] == true)
    );
    // deleting the application keeps what says Delete=false
    apps.delete("prune", &Default::default()).await.unwrap();
    eventually("the application was not deleted", || async {
        apps.get_opt("prune").await.unwrap().is_none()
    })
    .await;
    assert!(cms.get_opt("a").await.unwrap().is_none());
    assert!(cms.get_opt("kept").await.unwrap().is_some());

    // a resource whose CRD is missing: SkipDryRunOnMissingResource=true lets the sync try,
    // kubectl finds no mapping; once the CRD exists, the retry applies it
    let mut cr = app(
        "cr",
        "default",
        &server,
        "apps/cr",
        "cr",
        &["CreateNamespace=true"],
        true,
    );
    cr["spec"]["syncPolicy"]["retry"] = json!({"limit": 5, "backoff": {"duration": "1s", "factor": 1}});
    let apps = e.create_app(cr).await;
    let a = wait_app(&apps, "cr", "a failed attempt", |a| {
        a.pointer("/status/operationState/retryCount").is_some()
    })
    .await;
    let failure = results(&a).into_iter().find(|r| r.0 == "Widget").unwrap();
    assert_eq!(failure.2, "SyncFailed");
    assert!(
        failure.3.starts_with("resource mapping not found for name: \"w\" namespace: \"cr\" from \"/dev/shm/")
            && failure.3.ends_with("\": no matches for kind \"Widget\" in version \"example.com/v1\"\nensure CRDs are installed first"),
        "{}",
        failure.3
    );
    let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_json::from_value(json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
        .unwrap();
    Api::all(e.spoke.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let a = wait_app(&apps, "cr", "synced after the CRD came", synced_healthy).await;
    assert!(
        results(&a).contains(&(
            s("Widget"),
            s("w"),
            s("Synced"),
            s("widget.example.com/w created")
        )),
        "{:?}",
        results(&a)
    );
    // without the option, a missing kind fails the tasks' check
    let mut nocrd = app(
        "nocrd",
        "default",
        &server,
        "apps/cr",
        "nocrd",
        &["CreateNamespace=true"],
        false,
    );
    nocrd["spec"]["source"]["path"] = json!("apps/nocrd");
    e.commit(
        &[(
            "apps/nocrd/gadget.yaml",
            s("apiVersion: example.org/v1\nkind: Gadget\nmetadata:\n  name: g\n"),
        )],
        "gadget",
    );
    let apps = e.create_app(nocrd).await;
    e.sync(&apps, "nocrd", &["CreateNamespace=true"]).await;
    let a = wait_app(&apps, "nocrd", "a failed sync", op_phase("Failed")).await;
    assert_eq!(
        a["status"]["operationState"]["message"],
        "one or more synchronization tasks are not valid"
    );
    let failure = results(&a).into_iter().find(|r| r.0 == "Gadget").unwrap();
    assert!(
        failure
            .3
            .starts_with("failed to discover server resources for group version example.org/v1: "),
        "{}",
        failure.3
    );

    // without CreateNamespace=true the destination namespace must exist
    let apps = e
        .create_app(app(
            "nons",
            "default",
            &server,
            "apps/shared",
            "missing",
            &[],
            false,
        ))
        .await;
    e.sync(&apps, "nons", &[]).await;
    let a = wait_app(&apps, "nons", "a failed sync", op_phase("Failed")).await;
    assert_eq!(
        a["status"]["operationState"]["message"],
        "one or more objects failed to apply, reason: namespaces \"missing\" not found"
    );

    // two applications, one object: SharedResourceWarning; FailOnSharedResource=true refuses
    let apps = e
        .create_app(app(
            "owner",
            "default",
            &server,
            "apps/shared",
            "shared",
            &["CreateNamespace=true"],
            true,
        ))
        .await;
    wait_app(&apps, "owner", "Synced", synced_healthy).await;
    e.create_app(app(
        "taker",
        "default",
        &server,
        "apps/shared",
        "shared",
        &[],
        false,
    ))
    .await;
    e.sync(&apps, "taker", &["FailOnSharedResource=true"]).await;
    let a = wait_app(&apps, "taker", "a failed sync", op_phase("Failed")).await;
    let warning = "ConfigMap/shared is part of applications argocd/taker and owner";
    assert!(
        conditions(&a).contains(&(s("SharedResourceWarning"), s(warning))),
        "{:?}",
        conditions(&a)
    );
    assert_eq!(
        a["status"]["operationState"]["message"],
        json!(format!("Shared resource found: {warning}"))
    );
    let cm = Api::<ConfigMap>::namespaced(e.spoke.clone(), "shared")
        .get("shared")
        .await
        .unwrap();
    assert_eq!(
        cm.metadata.annotations.unwrap()["argocd.argoproj.io/tracking-id"],
        "owner:/ConfigMap:shared/shared"
    );
}

/// A cluster-scoped kind unknown at the first comparison is taken as namespaced
/// (IsNamespacedOrUnknown); once its CRD is served, the object it named is the declared one,
/// not an extraneous object to prune.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_scoped_kind_served_later_is_not_pruned_as_extraneous() {
    let e = Env::start().await;
    let server = e.server();
    e.commit(
        &[(
            "apps/gizmo/g.yaml",
            s("apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\nspec:\n  size: 1\n"),
        )],
        "gizmo",
    );
    let apps = e
        .create_app(app(
            "gizmo",
            "default",
            &server,
            "apps/gizmo",
            "tools",
            &[],
            false,
        ))
        .await;
    let a = wait_app(&apps, "gizmo", "compared", |a| {
        a["status"]["resources"][0]["name"] == "g"
    })
    .await;
    assert_eq!(a["status"]["resources"][0]["namespace"], "tools");
    // the CRD arrives, and the object with it (as a sync of another attempt would leave it)
    let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_json::from_value(json!({
            "metadata": {"name": "gizmos.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
        .unwrap();
    Api::all(e.spoke.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let gizmos: Api<DynamicObject> = Api::all_with(
        e.spoke.clone(),
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Gizmo"), "gizmos"),
    );
    let g = json!({"apiVersion": "example.com/v1", "kind": "Gizmo",
        "metadata": {"name": "g", "annotations": {"argocd.argoproj.io/tracking-id": "gizmo:example.com/Gizmo:tools/g"}},
        "spec": {"size": 1}});
    eventually("the CRD was not served", || async {
        gizmos
            .create(
                &PostParams::default(),
                &serde_json::from_value(g.clone()).unwrap(),
            )
            .await
            .is_ok()
    })
    .await;
    e.sync(&apps, "gizmo", &[]).await;
    let a = wait_app(&apps, "gizmo", "synced", |a| {
        op_phase("Succeeded")(a) && synced_healthy(a)
    })
    .await;
    assert!(
        !results(&a).iter().any(|r| r.2 == "Pruned" || r.2 == "SyncFailed"),
        "{:?}",
        results(&a)
    );
    assert_eq!(a["status"]["resources"][0]["namespace"], json!(null));
    assert!(gizmos.get_opt("g").await.unwrap().is_some());
}

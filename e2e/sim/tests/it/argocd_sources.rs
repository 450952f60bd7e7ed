//! The Argo CD stand-in's repo server on real platform content: Helm charts from git paths
//! (dependencies, value files from `ref` sources, values, parameters, file parameters,
//! release name, hooks, CRDs, the destination's version), from an HTTP chart repository and
//! an OCI registry on loopback, kustomize options applied as Argo CD's `kustomize edit`, and
//! the messages Argo CD shows when a source cannot be rendered.

use crate::common;

use common::argocd::{git, register, synced_healthy};

use std::path::Path;
use std::time::Duration;

use hubspoke_sim::standins::argocd::{ArgoCdOptions, ArgoCdStandIn, Repositories};
use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};
use hubspoke_sim::{KUBE_VERSION, SimEnvironment};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const PLATFORM_URL: &str = "https://github.com/example/platform.git";
const VALUES_URL: &str = "https://github.com/example/tenant.git";

/// A repository with `files` committed on main; returns it and the commit.
fn repo(files: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "content"]);
    let sha = git(dir.path(), &["rev-parse", "HEAD"]);
    (dir, sha)
}

struct Env {
    env: SimEnvironment,
    hub: Client,
    spoke: Client,
    server: String,
    _standins: (WorkloadStandIn, ArgoCdStandIn),
    _cache: tempfile::TempDir,
}

/// A hub with Argo CD serving `repos` (URL → checkout) and one registered spoke running
/// workloads; the chart cache is a fresh directory.
async fn environment(repos: &[(&str, &Path)]) -> Env {
    let env = SimEnvironment::start(1).await.unwrap();
    let hub = env.hub.client().await.unwrap();
    let mut served = Repositories::new();
    for (url, path) in repos {
        served.add(url, *path);
    }
    let cache = tempfile::tempdir().unwrap();
    let argo = ArgoCdStandIn::install(
        hub.clone(),
        ArgoCdOptions {
            repositories: served,
            resync: Duration::from_millis(200),
            chart_cache: Some(cache.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let spoke_cluster = &env.spokes[0];
    let spoke = spoke_cluster.client().await.unwrap();
    let workloads = WorkloadStandIn::run(spoke.clone(), WorkloadOptions::default())
        .await
        .unwrap();
    register(&hub, &spoke, spoke_cluster, "spoke").await;
    let server = spoke_cluster.url();
    Env {
        env,
        hub,
        spoke,
        server,
        _standins: (workloads, argo),
        _cache: cache,
    }
}

async fn create_secret(hub: &Client, secret: Value) {
    Api::<Secret>::namespaced(hub.clone(), "argocd")
        .create(&PostParams::default(), &serde_json::from_value(secret).unwrap())
        .await
        .unwrap();
}

fn apps(hub: &Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(hub.clone(), "argocd", &ar)
}

/// An automated Application deploying `sources` (one: `source`) to the spoke's `web`.
fn application(name: &str, server: &str, sources: Vec<Value>) -> Value {
    let mut spec = json!({
        "project": "default",
        "destination": {"server": server, "namespace": "web"},
        "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]},
    });
    if sources.len() == 1 {
        spec["source"] = sources[0].clone();
    } else {
        spec["sources"] = json!(sources);
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        "spec": spec,
    })
}

async fn create_app(hub: &Client, app: Value) {
    apps(hub)
        .create(&PostParams::default(), &serde_json::from_value(app).unwrap())
        .await
        .unwrap();
}

async fn wait_app(hub: &Client, name: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let app = serde_json::to_value(apps(hub).get(name).await.unwrap()).unwrap();
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

async fn comparison_error(hub: &Client, name: &str) -> String {
    let app = wait_app(hub, name, "a ComparisonError", |a| {
        a.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c["type"] == "ComparisonError"))
    })
    .await;
    app["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ComparisonError")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn config_map(spoke: &Client, name: &str) -> std::collections::BTreeMap<String, String> {
    Api::<ConfigMap>::namespaced(spoke.clone(), "web")
        .get(name)
        .await
        .unwrap()
        .data
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// the charts written for these tests

const WEB_CHART: &str = "apiVersion: v2\nname: web\nversion: 0.3.0\ndependencies:\n  - name: common\n    version: 0.1.0\n    repository: file://../common\n";
const WEB_VALUES: &str = "replicas: 1\nimage: nginx:1.27\ngreeting: hello\nport: 80\n";
const WEB_SETTINGS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  labels:
    {{- include "common.labels" . | nindent 4 }}
data:
  greeting: {{ .Values.greeting | quote }}
  replicas: {{ .Values.replicas | quote }}
  tier: {{ .Values.tier | default "none" | quote }}
  port: {{ kindOf .Values.port | quote }}
  motd: {{ .Values.motd | default "" | trim | quote }}
  revision: {{ .Values.revision | default "" | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  hasDeployments: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}
  hasMissing: {{ .Capabilities.APIVersions.Has "example.org/v9" | quote }}
  namespace: {{ .Release.Namespace | quote }}
"#;
const WEB_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: main
          image: {{ .Values.image }}
"#;
const WEB_HOOKS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-before
  annotations:
    helm.sh/hook: pre-install
    helm.sh/hook-delete-policy: before-hook-creation
data: {phase: pre}
---
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  containers:
    - name: t
      image: busybox
"#;
const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;
const COMMON_CHART: &str = "apiVersion: v2\nname: common\nversion: 0.1.0\ntype: library\n";
const COMMON_HELPERS: &str = "{{- define \"common.labels\" -}}\napp.kubernetes.io/instance: {{ .Release.Name }}\napp.kubernetes.io/name: {{ .Chart.Name }}\n{{- end }}\n";

fn platform_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("charts/web/Chart.yaml", WEB_CHART),
        ("charts/web/values.yaml", WEB_VALUES),
        ("charts/web/values-sim.yaml", "replicas: 3\n"),
        ("charts/web/.helmignore", "*.md\n"),
        ("charts/web/NOTES.md", "ignored by .helmignore\n"),
        ("charts/web/templates/settings.yaml", WEB_SETTINGS),
        ("charts/web/templates/deployment.yaml", WEB_DEPLOYMENT),
        ("charts/web/templates/hooks.yaml", WEB_HOOKS),
        ("charts/web/crds/widgets.yaml", WIDGET_CRD),
        ("charts/common/Chart.yaml", COMMON_CHART),
        ("charts/common/templates/_helpers.tpl", COMMON_HELPERS),
    ]
}

fn tenant_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("config/web/all.yaml", "greeting: from the tenant\nreplicas: 2\n"),
        ("files/motd.txt", "welcome aboard\n"),
    ]
}

/// The platform's chart with the tenant's values, as a platform's addon Application has it.
fn web_sources(helm: Value) -> Vec<Value> {
    vec![
        json!({"repoURL": PLATFORM_URL, "path": "charts/web", "targetRevision": "main", "helm": helm}),
        json!({"repoURL": VALUES_URL, "targetRevision": "main", "ref": "values"}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_chart_renders_with_ref_value_files_parameters_hooks_and_crds() {
    let (platform, platform_sha) = repo(&platform_files());
    let (tenant, tenant_sha) = repo(&tenant_files());
    let e = environment(&[(PLATFORM_URL, platform.path()), (VALUES_URL, tenant.path())]).await;
    let helm = json!({
        "releaseName": "site",
        "ignoreMissingValueFiles": true,
        "valueFiles": ["$values/config/web/all.yaml", "$values/config/web/spoke.yaml", "values-sim.yaml"],
        "values": "tier: frontend\n",
        "parameters": [
            {"name": "port", "value": "8080", "forceString": true},
            {"name": "revision", "value": "$ARGOCD_APP_REVISION_SHORT"},
        ],
        "fileParameters": [{"name": "motd", "path": "$values/files/motd.txt"}],
    });
    create_app(
        &e.hub,
        application("system-web-spoke", &e.server, web_sources(helm)),
    )
    .await;
    let app = wait_app(&e.hub, "system-web-spoke", "Synced and Healthy", synced_healthy).await;
    assert_eq!(app["status"]["sourceTypes"], json!(["Helm", ""]));
    assert_eq!(
        app["status"]["sync"]["revisions"],
        json!([platform_sha, tenant_sha])
    );

    let data = config_map(&e.spoke, "site-settings").await;
    let want = |k: &str| data.get(k).cloned().unwrap_or_default();
    // value files in order (the missing one skipped), then values, then parameters
    assert_eq!(want("greeting"), "from the tenant");
    assert_eq!(want("replicas"), "3");
    assert_eq!(want("tier"), "frontend");
    assert_eq!(want("port"), "string", "forceString makes 8080 a string");
    assert_eq!(want("motd"), "welcome aboard");
    assert_eq!(want("revision"), platform_sha[..7]);
    // the destination's version and API versions, the release's namespace
    assert_eq!(want("kube"), KUBE_VERSION);
    assert_eq!(want("hasDeployments"), "true");
    assert_eq!(want("hasMissing"), "false");
    assert_eq!(want("namespace"), "web");
    // the file:// dependency was built in (its helper rendered the labels)
    let cm = Api::<ConfigMap>::namespaced(e.spoke.clone(), "web")
        .get("site-settings")
        .await
        .unwrap();
    assert_eq!(cm.metadata.labels.unwrap()["app.kubernetes.io/instance"], "site");
    let d = Api::<Deployment>::namespaced(e.spoke.clone(), "web")
        .get("site")
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));

    // crds/ applied, Helm's pre-install hook ran as a PreSync hook, the test hook never runs
    let kinds: Vec<String> = app["status"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}/{}", r["kind"].as_str().unwrap(), r["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap/site-settings",
            "CustomResourceDefinition/widgets.example.com",
            "Deployment/site"
        ],
        "hooks are not managed resources"
    );
    let results = app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap();
    let pre = results
        .iter()
        .find(|r| r["name"] == "site-before")
        .expect("the pre-install hook ran");
    assert_eq!(pre["hookType"], "PreSync");
    assert!(results.iter().all(|r| r["name"] != "site-test"), "{results:?}");
    assert!(
        Api::<k8s_openapi::api::core::v1::Pod>::namespaced(e.spoke.clone(), "web")
            .get_opt("site-test")
            .await
            .unwrap()
            .is_none()
    );
    drop(e.env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_that_cannot_render_show_argo_cds_messages() {
    let (platform, _) = repo(&platform_files());
    let (tenant, _) = repo(&tenant_files());
    let e = environment(&[(PLATFORM_URL, platform.path()), (VALUES_URL, tenant.path())]).await;
    let prefix = "Failed to load target state: failed to generate manifest for source 1 of 2: rpc error: code = Unknown desc = ";

    // a value file that is missing, without ignoreMissingValueFiles: helm's own error
    create_app(
        &e.hub,
        application(
            "missing",
            &e.server,
            web_sources(json!({"valueFiles": ["$values/config/web/spoke.yaml"]})),
        ),
    )
    .await;
    let msg = comparison_error(&e.hub, "missing").await;
    assert_eq!(
        msg,
        format!(
            "{prefix}failed to get command args to log: `helm template . --name-template missing --namespace web --kube-version {} --values <path to cached source>/config/web/spoke.yaml <api versions removed> --include-crds` failed exit status 1: Error: open <path to cached source>/config/web/spoke.yaml: no such file or directory",
            KUBE_VERSION.trim_start_matches('v')
        )
    );

    // a $ref no source defines
    create_app(
        &e.hub,
        application(
            "unknown-ref",
            &e.server,
            web_sources(json!({"valueFiles": ["$tenant/config/web/all.yaml"]})),
        ),
    )
    .await;
    assert_eq!(
        comparison_error(&e.hub, "unknown-ref").await,
        format!("{prefix}source referenced \"$tenant\", which is not one of the available sources ($values)")
    );

    // two tools configured on one source
    let mut both = web_sources(json!({}));
    both[0]["kustomize"] = json!({"namePrefix": "x-"});
    create_app(&e.hub, application("two-tools", &e.server, both)).await;
    assert_eq!(
        comparison_error(&e.hub, "two-tools").await,
        format!(
            "{prefix}error getting app source type: multiple application sources defined: Kustomize,Helm"
        )
    );

    // a path the commit does not have
    let mut gone = web_sources(json!({}));
    gone[0]["path"] = json!("charts/gone");
    create_app(&e.hub, application("no-path", &e.server, gone)).await;
    assert_eq!(
        comparison_error(&e.hub, "no-path").await,
        format!("{prefix}charts/gone: app path does not exist")
    );

    // a ref name Argo CD refuses, before any source is read
    let mut bad_ref = web_sources(json!({}));
    bad_ref[1]["ref"] = json!("my values");
    create_app(&e.hub, application("bad-ref", &e.server, bad_ref)).await;
    assert_eq!(
        comparison_error(&e.hub, "bad-ref").await,
        "Failed to load target state: failed to get ref sources: sources.ref my values cannot contain any special characters except '_' and '-'"
    );

    // a chart repository that cannot be reached: chart, version, repository and the fix
    create_app(
        &e.hub,
        application(
            "unreachable",
            &e.server,
            vec![json!({"repoURL": "http://127.0.0.1:9/charts", "chart": "web", "targetRevision": "1.2.0"})],
        ),
    )
    .await;
    let msg = comparison_error(&e.hub, "unreachable").await;
    assert!(
        msg.starts_with("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = "),
        "{msg}"
    );
    for part in [
        "\"web\"",
        "1.2.0",
        "http://127.0.0.1:9/charts",
        "hubspoke charts pull http://127.0.0.1:9/charts web --version '1.2.0'",
    ] {
        assert!(msg.contains(part), "{part} not in {msg}");
    }
}

/// A packaged chart `name` at `version` whose ConfigMap tells where it came from.
fn package(name: &str, version: &str) -> Vec<u8> {
    let files = vec![
        ("Chart.yaml".to_string(), format!("apiVersion: v2\nname: {name}\nversion: {version}\n").into_bytes()),
        ("values.yaml".to_string(), b"origin: chart\n".to_vec()),
        (
            "templates/cm.yaml".to_string(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n  origin: {{ .Values.origin | quote }}\n".to_vec(),
        ),
    ];
    hubspoke_render::source::archive::write_archive(name, &files).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_come_from_an_http_repository_and_an_oci_registry() {
    use hubspoke_render::testing::{Registry, StaticServer, registry_binary, repository_files};
    let repo_server = StaticServer::start(
        |_| {
            repository_files(
                "/charts",
                &[
                    ("web", "1.0.0", package("web", "1.0.0")),
                    ("web", "1.2.0", package("web", "1.2.0")),
                ],
            )
        },
        None,
        None,
    )
    .await;
    let e = environment(&[]).await;
    let repo_url = repo_server.url("/charts");
    create_app(
        &e.hub,
        application(
            "from-http",
            &e.server,
            vec![
                json!({"repoURL": repo_url, "chart": "web", "targetRevision": "^1.0",
                "helm": {"valuesObject": {"origin": {"nested": "object"}}}}),
            ],
        ),
    )
    .await;
    let app = wait_app(&e.hub, "from-http", "Synced and Healthy", synced_healthy).await;
    assert_eq!(
        app["status"]["sync"]["revision"], "1.2.0",
        "the constraint resolved to the newest 1.x"
    );
    assert_eq!(app["status"]["sourceType"], "Helm");
    let data = config_map(&e.spoke, "from-http").await;
    assert_eq!(data["chart"], "web-1.2.0");
    assert_eq!(data["origin"], "map[nested:object]");

    let Some(bin) = registry_binary() else {
        return;
    };
    let registry = Registry::start(&bin, "").await;
    let plain = hubspoke_render::source::FetchOptions {
        plain_http: true,
        ..Default::default()
    };
    for v in ["0.9.0", "1.0.0"] {
        hubspoke_render::source::oci::push(&package("db", v), &registry.url("/charts"), &plain, None)
            .await
            .unwrap();
    }
    // Argo CD reads the registry over plain HTTP when its repository Secret says so
    create_secret(
        &e.hub,
        json!({
            "metadata": {"name": "repo-registry", "namespace": "argocd",
                "labels": {"argocd.argoproj.io/secret-type": "repository"}},
            "stringData": {"url": format!("{}/charts", registry.addr), "type": "helm", "enableOCI": "true",
                "insecureOCIForceHttp": "true"},
        }),
    )
    .await;
    create_secret(
        &e.hub,
        json!({
            "metadata": {"name": "repo-registry-db", "namespace": "argocd",
                "labels": {"argocd.argoproj.io/secret-type": "repository"}},
            "stringData": {"url": format!("oci://{}/charts/db", registry.addr), "type": "oci",
                "insecureOCIForceHttp": "true"},
        }),
    )
    .await;
    // a Helm OCI repository named without a scheme, and an OCI source (oci://…/chart)
    create_app(
        &e.hub,
        application(
            "helm-oci",
            &e.server,
            vec![json!({"repoURL": format!("{}/charts", registry.addr), "chart": "db", "targetRevision": "1.0.0"})],
        ),
    )
    .await;
    create_app(
        &e.hub,
        application(
            "oci-source",
            &e.server,
            vec![json!({"repoURL": format!("oci://{}/charts/db", registry.addr), "path": ".", "targetRevision": "0.9.0",
                "helm": {"parameters": [{"name": "origin", "value": "oci"}]}})],
        ),
    )
    .await;
    let app = wait_app(&e.hub, "helm-oci", "Synced and Healthy", synced_healthy).await;
    assert_eq!(app["status"]["sync"]["revision"], "1.0.0");
    assert_eq!(config_map(&e.spoke, "helm-oci").await["chart"], "db-1.0.0");
    wait_app(&e.hub, "oci-source", "Synced and Healthy", synced_healthy).await;
    let data = config_map(&e.spoke, "oci-source").await;
    assert_eq!(
        (data["chart"].as_str(), data["origin"].as_str()),
        ("db-0.9.0", "oci")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomize_options_are_applied_as_argo_cds_kustomize_edits() {
    let (platform, platform_sha) = repo(&[
        (
            "addons/web/base/kustomization.yaml",
            "resources:\n- deployment.yaml\n- settings.yaml\ncommonLabels:\n  team: platform\n",
        ),
        (
            "addons/web/base/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.25\n",
        ),
        (
            "addons/web/base/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {app: web}\ndata: {mode: base}\n",
        ),
        (
            "addons/web/components/debug/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n- target: {kind: ConfigMap}\n  patch: |\n    - op: add\n      path: /data/debug\n      value: \"on\"\n",
        ),
    ]);
    let e = environment(&[(PLATFORM_URL, platform.path())]).await;
    let source = json!({
        "repoURL": PLATFORM_URL, "path": "addons/web/base", "targetRevision": "main",
        "kustomize": {
            "namePrefix": "acme-",
            "nameSuffix": "-v1",
            "images": ["nginx=registry.local/nginx:1.27"],
            "replicas": [{"name": "web", "count": "4"}],
            "commonLabels": {"team": "apps", "revision": "${ARGOCD_APP_REVISION_SHORT}"},
            "forceCommonLabels": true,
            "commonAnnotations": {"owner": "$ARGOCD_APP_NAME"},
            "commonAnnotationsEnvsubst": true,
            "patches": [
                {"target": {"kind": "ConfigMap", "labelSelector": "app=web"},
                 "patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: patched\n"},
            ],
            "components": ["../components/debug", "../components/absent"],
            "ignoreMissingComponents": true,
        },
    });
    create_app(&e.hub, application("kust", &e.server, vec![source.clone()])).await;
    let app = wait_app(&e.hub, "kust", "Synced and Healthy", synced_healthy).await;
    assert_eq!(app["status"]["sourceType"], "Kustomize");
    let cm = Api::<ConfigMap>::namespaced(e.spoke.clone(), "web")
        .get("acme-settings-v1")
        .await
        .unwrap();
    let labels = cm.metadata.labels.unwrap();
    assert_eq!(
        (labels["team"].as_str(), labels["revision"].as_str()),
        ("apps", &platform_sha[..7])
    );
    assert_eq!(cm.metadata.annotations.unwrap()["owner"], "kust");
    let data = cm.data.unwrap();
    assert_eq!((data["mode"].as_str(), data["debug"].as_str()), ("patched", "on"));
    let d = Api::<Deployment>::namespaced(e.spoke.clone(), "web")
        .get("acme-web-v1")
        .await
        .unwrap();
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(4));
    assert_eq!(
        spec.template.spec.unwrap().containers[0].image.as_deref(),
        Some("registry.local/nginx:1.27")
    );

    // without --force an existing label is kustomize's error; a bad image is too
    let mut clash = source.clone();
    clash["kustomize"] = json!({"commonLabels": {"team": "apps"}});
    create_app(&e.hub, application("clash", &e.server, vec![clash])).await;
    assert_eq!(
        comparison_error(&e.hub, "clash").await,
        "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = `kustomize edit add label team:apps` failed exit status 1: Error: label team already in kustomization file. Use --force to override."
    );
    let mut bad_image = source.clone();
    bad_image["kustomize"] = json!({"images": ["nginx"]});
    create_app(&e.hub, application("bad-image", &e.server, vec![bad_image])).await;
    let msg = comparison_error(&e.hub, "bad-image").await;
    assert!(
        msg.ends_with("`kustomize edit set image nginx` failed exit status 1: Error: invalid format of image, use one of the following options:\n- <image>=<newimage>:<newtag>\n- <image>=<newimage>@<digest>\n- <image>=<newimage>:<newtag>@<digest>\n- <image>=<newimage>\n- <image>:<newtag>\n- <image>:<newtag>@<digest>\n- <image>@<digest>"),
        "{msg}"
    );
}

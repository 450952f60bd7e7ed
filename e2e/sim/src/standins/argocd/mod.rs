//! The Argo CD stand-in: what an Argo CD install looks like from outside, and its
//! application controller.
//!
//! [`ArgoCdStandIn::install`] creates the surface of a helm install of the argo-cd chart on
//! the hub (namespace `argocd`, CRDs Application/ApplicationSet/AppProject, the `default`
//! AppProject, `argocd-cm`, the chart's Deployments and the application controller
//! StatefulSet) and runs the application controller: Applications with git directory sources
//! read from local repositories, destinations resolved through cluster Secrets, status and
//! health as Argo CD writes them, and sync operations applied with server-side apply.

mod app;
mod appset;
mod clusters;
mod crds;
mod customizations;
pub mod diff;
pub mod gotemplate;
pub mod health;
pub mod hooks;
pub mod ignore;
mod kubectl;
pub mod lua;
pub mod project;
pub mod repo;
pub mod reposerver;
pub mod settings;
pub mod tracking;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};

pub use super::InstallError;
use super::{api_resource, apply};
pub use app::{FIELD_MANAGER, FINALIZER, Tracking};
pub use clusters::IN_CLUSTER;
pub use repo::Repositories;

/// The Argo CD release the stand-in presents itself as.
pub const ARGOCD_VERSION: &str = "v3.2.0";
/// The argo-cd chart version of that release.
pub const CHART_VERSION: &str = "9.1.4";
const MANAGER: &str = "helm";

pub(crate) fn applications() -> ApiResource {
    api_resource("argoproj.io", "v1alpha1", "Application", "applications")
}

pub(crate) fn application_sets() -> ApiResource {
    api_resource("argoproj.io", "v1alpha1", "ApplicationSet", "applicationsets")
}

pub(crate) fn app_projects() -> ApiResource {
    api_resource("argoproj.io", "v1alpha1", "AppProject", "appprojects")
}

/// How the stand-in installs itself and behaves.
#[derive(Clone, Debug)]
pub struct ArgoCdOptions {
    /// Argo CD's namespace (the chart's default is `argocd`).
    pub namespace: String,
    /// The git repositories served to Applications, by URL.
    pub repositories: Repositories,
    /// `application.resourceTrackingMethod` written to `argocd-cm` (the controller reads it
    /// from there, so it can be changed later); None leaves it unset, as the argo-cd chart
    /// does, so Argo CD tracks by annotation.
    pub tracking: Option<Tracking>,
    /// How often Applications are compared with their clusters when nothing changes
    /// (Argo CD watches its clusters; the stand-in polls).
    pub resync: Duration,
    /// `timeout.reconciliation`: the longest time between two status writes.
    pub reconciliation_timeout: Duration,
    /// Where the repo server caches Helm charts; None: `$HUBSPOKE_CACHE_DIR`, else the
    /// user's cache directory (`~/.cache/hubspoke/charts`), as `hubspoke charts pull` fills it.
    pub chart_cache: Option<std::path::PathBuf>,
    /// Whether a chart that can be neither fetched nor read from the cache is rendered from
    /// hubspoke's rendition of it, where there is one (`standins::charts`); every use is
    /// reported by [`ArgoCdStandIn::chart_notices`]. Off, such a chart is a ComparisonError
    /// as in Argo CD.
    pub chart_renditions: bool,
    /// The AWS identity Argo CD runs as (on EKS: pod identity), for clusters registered
    /// with `awsAuthConfig`; without one such clusters fail to connect.
    pub aws: Option<AwsIdentity>,
}

/// What `argocd-k8s-auth aws --cluster-name NAME [--role-arn ARN]` does for Argo CD: an EKS
/// token for the cluster, as the role (assumed with Argo CD's own credentials) or as Argo
/// CD itself.
#[derive(Clone)]
pub struct AwsIdentity(pub std::sync::Arc<EksTokenFn>);

/// `(clusterName, roleARN) -> token`, or why not (e.g. AccessDenied by STS).
pub type EksTokenFn = dyn Fn(&str, Option<&str>) -> Result<String, String> + Send + Sync;

impl std::fmt::Debug for AwsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsIdentity")
    }
}

impl Default for ArgoCdOptions {
    fn default() -> Self {
        ArgoCdOptions {
            namespace: "argocd".into(),
            repositories: Repositories::new(),
            tracking: None,
            resync: Duration::from_secs(1),
            reconciliation_timeout: Duration::from_secs(180),
            aws: None,
            chart_cache: None,
            chart_renditions: true,
        }
    }
}

/// A destination's version and API versions, with when they were read.
type VersionsInfo = (std::time::Instant, String, Vec<String>);

/// What the controllers share.
pub(crate) struct Shared {
    hub: Client,
    namespace: String,
    repos: Arc<Repositories>,
    clusters: clusters::Clusters,
    resync: Duration,
    reconciliation_timeout: Duration,
    /// The repo server: generates the manifests of sources.
    reposerver: reposerver::RepoServer,
    /// The destinations' versions and API versions, by server, with when they were read.
    versions: tokio::sync::Mutex<std::collections::HashMap<String, VersionsInfo>>,
}

/// The running stand-in; dropping it stops the controllers.
pub struct ArgoCdStandIn {
    tasks: crate::tasks::Tasks,
    port: u16,
    renditions: Arc<crate::standins::charts::Renditions>,
    /// The components an install runs on its hub (released when it stops).
    _claims: Vec<super::programs::Claim>,
}

impl ArgoCdStandIn {
    /// The base URL of the stand-in's Argo CD API (`/api/v1/clusters`, `/api/v1/clusters/{server}`),
    /// also published as the endpoint of the `argocd-server` Service.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The charts rendered from hubspoke's renditions so far (they could not be fetched),
    /// one notice each: which chart, what the rendition holds, and how to cache the real one.
    pub fn chart_notices(&self) -> Vec<String> {
        self.renditions.notices()
    }

    /// Where those notices are recorded (it outlives the stand-in).
    pub fn renditions(&self) -> Arc<crate::standins::charts::Renditions> {
        self.renditions.clone()
    }
}

impl ArgoCdStandIn {
    /// Stops the controllers and the API, waiting for them to end (at most `grace`).
    pub async fn shutdown(self, grace: std::time::Duration) -> bool {
        self.tasks.shutdown(grace).await
    }
}

fn kube_err(source: kube::Error) -> InstallError {
    InstallError::Kube {
        what: "Argo CD",
        source,
    }
}

/// `argocd-cm`'s data as the pinned argo-cd chart renders it with its default values
/// (`configs.cm` less `create` and `annotations`, merged over the `url` preset), with the
/// stand-in's reconciliation timeout and, when asked for, a tracking method.
fn argocd_cm_data(opts: &ArgoCdOptions) -> Value {
    let mut data = json!({
        "admin.enabled": "true",
        "application.instanceLabelKey": "argocd.argoproj.io/instance",
        "application.sync.impersonation.enabled": "false",
        "exec.enabled": "false",
        "statusbadge.enabled": "false",
        "timeout.hard.reconciliation": "0s",
        "timeout.reconciliation": format!("{}s", opts.reconciliation_timeout.as_secs()),
        "url": "https://argocd.example.com",
    });
    if let Some(t) = opts.tracking {
        data["application.resourceTrackingMethod"] = json!(t.as_str());
    }
    data
}

fn chart_labels(component: &str, name: &str) -> Value {
    json!({
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": "argocd",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "argocd",
        "app.kubernetes.io/version": ARGOCD_VERSION,
        "helm.sh/chart": format!("argo-cd-{CHART_VERSION}"),
    })
}

fn workload(kind: &str, component: &str, name: &str, ns: &str, image: &str) -> Value {
    let selector = json!({"app.kubernetes.io/instance": "argocd", "app.kubernetes.io/name": name});
    let mut pod_labels = chart_labels(component, name);
    if let Some(m) = pod_labels.as_object_mut() {
        m.remove("helm.sh/chart");
    }
    let mut spec = json!({
        "replicas": 1,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "serviceAccountName": name,
                "containers": [{"name": component, "image": image, "imagePullPolicy": "IfNotPresent"}],
            },
        },
    });
    if kind == "StatefulSet" {
        spec["serviceName"] = json!(name);
    }
    json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": ns, "labels": chart_labels(component, name)},
        "spec": spec,
    })
}

/// The programs of Argo CD's image the stand-in runs (the command line says which).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// `argocd-application-controller`: Applications (with the repo server's work, done
    /// in-process) and the cluster cache.
    ApplicationController,
    /// `argocd-applicationset-controller`.
    ApplicationSetController,
    /// `argocd-server`: the API (the cluster endpoints the harness and tools use).
    Server,
}

impl Component {
    pub const ALL: [Component; 3] = [
        Component::ApplicationController,
        Component::ApplicationSetController,
        Component::Server,
    ];

    /// The component of a command line of Argo CD's image: the binary's name (argo-cd's
    /// `cmd/main.go` dispatches on it) or `argocd <component>`; None for the programs the
    /// sim does not run (repo server, notifications, dex, commit server, the CLI).
    pub fn of_command(words: &[String]) -> Option<Component> {
        let base = |w: &String| w.rsplit('/').next().unwrap_or(w).to_string();
        let first = words.first().map(base)?;
        let name = if first == "argocd" {
            words.get(1).map(|w| format!("argocd-{w}"))?
        } else {
            first
        };
        match name.as_str() {
            "argocd-application-controller" => Some(Component::ApplicationController),
            "argocd-applicationset-controller" => Some(Component::ApplicationSetController),
            "argocd-server" => Some(Component::Server),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Component::ApplicationController => "argocd-application-controller",
            Component::ApplicationSetController => "argocd-applicationset-controller",
            Component::Server => "argocd-server",
        }
    }
}

/// Argo CD's CRDs (Application, ApplicationSet, AppProject) as the chart installs them, for
/// tests and charts that bring their own workloads.
pub fn crd_manifests() -> Vec<Value> {
    crds::all()
}

/// The git repositories every Argo CD of this process serves: those given to an install,
/// read by the Argo CD programs that pods of Argo CD's image run (the sim's git hosting).
fn process_repositories() -> &'static std::sync::Mutex<Repositories> {
    static REPOS: std::sync::OnceLock<std::sync::Mutex<Repositories>> = std::sync::OnceLock::new();
    REPOS.get_or_init(Default::default)
}

/// Adds repositories to those every Argo CD of this process (installed or started from its
/// image) serves.
pub fn serve_repositories(repos: &Repositories) {
    process_repositories()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(repos);
}

impl ArgoCdStandIn {
    /// Installs Argo CD's surface on the hub and runs every component, claiming them on
    /// the hub (pods of Argo CD's image there then run simulated).
    pub async fn install(hub: Client, opts: ArgoCdOptions) -> Result<Self, InstallError> {
        // claimed before the surface exists, so no pod of the surface runs a second one
        let mut claims = Vec::new();
        for c in Component::ALL {
            if let Some(claim) =
                super::programs::claim(&hub, &opts.namespace, super::programs::Program::ArgoCd(c))
                    .await
                    .map_err(|message| InstallError::Other {
                        what: "Argo CD",
                        message,
                    })?
            {
                claims.push(claim);
            }
        }
        install_surface(&hub, &opts).await?;
        serve_repositories(&opts.repositories);
        let mut s = Self::start(hub.clone(), opts.clone(), &Component::ALL, ("127.0.0.1", 0)).await?;
        // the API server's cluster endpoint, on 127.0.0.1 and behind the argocd-server Service
        apply(
            &Api::<k8s_openapi::api::discovery::v1::EndpointSlice>::namespaced(hub.clone(), &opts.namespace),
            MANAGER,
            &json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "argocd-server-local", "namespace": opts.namespace, "labels": {
                    "kubernetes.io/service-name": "argocd-server", "endpointslice.kubernetes.io/managed-by": "hubspoke-sim"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
                "ports": [{"name": "http", "port": s.port, "protocol": "TCP"}]}),
        )
        .await
        .map_err(kube_err)?;
        s._claims = claims;
        Ok(s)
    }

    /// Runs one component as a pod of Argo CD's image does: on the cluster the pod runs
    /// on, in `opts.namespace` (the pod's), with the repositories of this process; the
    /// server listens on `bind` (the pod's address and `--port`). Installs nothing: the
    /// chart brought the CRDs and the rest, and Argo CD needs them.
    pub async fn run(
        client: Client,
        mut opts: ArgoCdOptions,
        component: Component,
        bind: std::net::SocketAddr,
    ) -> Result<Self, InstallError> {
        let crds: Api<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        > = Api::all(client.clone());
        let needs: &[&str] = match component {
            Component::ApplicationController => &["applications.argoproj.io", "appprojects.argoproj.io"],
            Component::ApplicationSetController => {
                &["applicationsets.argoproj.io", "applications.argoproj.io"]
            }
            Component::Server => &["applications.argoproj.io"],
        };
        for crd in needs {
            if crds.get_opt(crd).await.map_err(kube_err)?.is_none() {
                return Err(InstallError::Other {
                    what: "Argo CD",
                    message: format!(
                        "the server could not find the requested resource: the CRD {crd} is not installed (install the chart's CRDs)"
                    ),
                });
            }
        }
        if component == Component::Server {
            // as argocd-server's initializeDefaultProject: the `default` project when missing
            let projects: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &opts.namespace, &app_projects());
            if projects.get_opt("default").await.map_err(kube_err)?.is_none() {
                let default: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                    "metadata": {"name": "default", "namespace": opts.namespace},
                    "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]},
                }))
                .map_err(|e| InstallError::Other {
                    what: "Argo CD",
                    message: e.to_string(),
                })?;
                match projects.create(&Default::default(), &default).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => return Err(kube_err(e)),
                }
            }
        }
        opts.repositories = process_repositories()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Self::start(client, opts, &[component], bind).await
    }

    /// Starts `components` against `hub` (the API on `bind` when the server is one).
    async fn start(
        hub: Client,
        opts: ArgoCdOptions,
        components: &[Component],
        bind: impl tokio::net::ToSocketAddrs,
    ) -> Result<Self, InstallError> {
        let repos = Arc::new(opts.repositories.clone());
        let renditions = Arc::new(crate::standins::charts::Renditions::default());
        let shared = Arc::new(Shared {
            hub: hub.clone(),
            namespace: opts.namespace.clone(),
            repos: repos.clone(),
            reposerver: reposerver::RepoServer::new(
                repos,
                hub.clone(),
                &opts.namespace,
                opts.chart_cache.clone(),
                opts.chart_renditions.then(|| renditions.clone()),
            ),
            versions: Default::default(),
            clusters: clusters::Clusters::new(hub.clone(), &opts.namespace, opts.aws.clone()),
            resync: opts.resync,
            reconciliation_timeout: opts.reconciliation_timeout,
        });
        let other = |message: String| InstallError::Other {
            what: "Argo CD",
            message,
        };
        let mut tasks = crate::tasks::Tasks::new();
        let mut port = 0;
        if components.contains(&Component::Server) {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .map_err(|e| other(format!("binding the API port: {e}")))?;
            port = listener.local_addr().map_err(|e| other(e.to_string()))?.port();
            tasks.spawn(serve_api(listener, shared.clone()));
        }
        if components.contains(&Component::ApplicationController) {
            tasks.spawn(probe_clusters(shared.clone()));
            tasks.spawn(run_controller(
                shared.clone(),
                applications(),
                None,
                "Application",
                app::reconcile,
            ));
        }
        if components.contains(&Component::ApplicationSetController) {
            // the ApplicationSet controller owns its Applications: one deleted (or changed)
            // wakes its set at once, as `Owns(&Application{})` does upstream
            tasks.spawn(run_controller(
                shared,
                application_sets(),
                Some(applications()),
                "ApplicationSet",
                appset::reconcile,
            ));
        }
        Ok(ArgoCdStandIn {
            tasks,
            port,
            renditions,
            _claims: Vec::new(),
        })
    }
}

/// What a helm install of the argo-cd chart puts on a cluster (without running anything);
/// returns the objects it applied (no caller reads them since Applications of the argo-cd
/// chart are rendered from the chart itself).
pub(crate) async fn install_surface(hub: &Client, opts: &ArgoCdOptions) -> Result<Vec<Value>, InstallError> {
    {
        let hub = hub.clone();
        let ns = opts.namespace.clone();
        super::install_crds(&hub, MANAGER, crds::all(), "Argo CD").await?;
        // what the chart would install, for an Application of the argo-cd chart
        let mut manifests: Vec<Value> = crds::all();
        apply(
            &Api::<Namespace>::all(hub.clone()),
            MANAGER,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await
        .map_err(kube_err)?;
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "namespace": ns, "labels": chart_labels("server", "argocd-cm")},
            "data": argocd_cm_data(opts)});
        apply(&Api::<ConfigMap>::namespaced(hub.clone(), &ns), MANAGER, &cm)
            .await
            .map_err(kube_err)?;
        manifests.push(cm);
        let projects: Api<DynamicObject> = Api::namespaced_with(hub.clone(), &ns, &app_projects());
        if projects.get_opt("default").await.map_err(kube_err)?.is_none() {
            apply(
                &projects,
                MANAGER,
                &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                    "metadata": {"name": "default", "namespace": ns},
                    "spec": {"sourceRepos": ["*"], "destinations": [{"namespace": "*", "server": "*"}],
                        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}}),
            )
            .await
            .map_err(kube_err)?;
        }
        let image = format!("quay.io/argoproj/argocd:{ARGOCD_VERSION}");
        let deployments: Api<Deployment> = Api::namespaced(hub.clone(), &ns);
        for (component, name, img) in [
            ("server", "argocd-server", image.as_str()),
            ("repo-server", "argocd-repo-server", image.as_str()),
            (
                "applicationset-controller",
                "argocd-applicationset-controller",
                image.as_str(),
            ),
            (
                "notifications-controller",
                "argocd-notifications-controller",
                image.as_str(),
            ),
            (
                "redis",
                "argocd-redis",
                "ecr-public.aws.com/docker/library/redis:7.2.11-alpine",
            ),
            ("dex-server", "argocd-dex-server", "ghcr.io/dexidp/dex:v2.44.0"),
        ] {
            apply(
                &deployments,
                MANAGER,
                &workload("Deployment", component, name, &ns, img),
            )
            .await
            .map_err(kube_err)?;
        }
        apply(
            &Api::<StatefulSet>::namespaced(hub.clone(), &ns),
            MANAGER,
            &workload(
                "StatefulSet",
                "application-controller",
                "argocd-application-controller",
                &ns,
                &image,
            ),
        )
        .await
        .map_err(kube_err)?;
        let services: Api<Service> = Api::namespaced(hub.clone(), &ns);
        for (component, name, ports) in [
            (
                "server",
                "argocd-server",
                json!([{"name": "http", "port": 80, "targetPort": 8080}, {"name": "https", "port": 443, "targetPort": 8080}]),
            ),
            (
                "repo-server",
                "argocd-repo-server",
                json!([{"name": "tcp-repo-server", "port": 8081, "targetPort": "repo-server"}]),
            ),
            (
                "applicationset-controller",
                "argocd-applicationset-controller",
                json!([{"name": "http-webhook", "port": 7000, "targetPort": "webhook"}]),
            ),
            (
                "redis",
                "argocd-redis",
                json!([{"name": "tcp-redis", "port": 6379, "targetPort": 6379}]),
            ),
            (
                "dex-server",
                "argocd-dex-server",
                json!([{"name": "http", "port": 5556, "targetPort": "http"}, {"name": "grpc", "port": 5557, "targetPort": "grpc"}]),
            ),
        ] {
            let svc = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "labels": chart_labels(component, name)},
                "spec": {"type": "ClusterIP", "ports": ports,
                    "selector": {"app.kubernetes.io/instance": "argocd", "app.kubernetes.io/name": name}}});
            apply(&services, MANAGER, &svc).await.map_err(kube_err)?;
            manifests.push(svc);
        }
        Ok(manifests)
    }
}

/// Keeps the clusters' connection state current, as Argo CD's cluster cache does.
async fn probe_clusters(shared: Arc<Shared>) {
    loop {
        shared.clusters.probe_all().await;
        tokio::time::sleep(shared.resync.max(Duration::from_millis(500))).await;
    }
}

/// Serves `GET /api/v1/clusters` and `GET /api/v1/clusters/{server}` with Argo CD's JSON.
async fn serve_api(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                async move {
                    let path = req.uri().path().to_string();
                    let list = shared.clusters.cluster_list().await;
                    let (code, body) = if path == "/api/v1/clusters" {
                        (200, list)
                    } else if let Some(server) = path.strip_prefix("/api/v1/clusters/") {
                        let server = form_urlencoded::parse(format!("s={server}").as_bytes())
                            .next()
                            .map(|(_, v)| v.to_string())
                            .unwrap_or_default();
                        match list["items"]
                            .as_array()
                            .and_then(|items| items.iter().find(|c| c["server"] == server.as_str()).cloned())
                        {
                            Some(c) => (200, c),
                            None => (
                                404,
                                json!({"error": format!("cluster {server:?} not found"), "code": 5, "message": format!("cluster {server:?} not found")}),
                            ),
                        }
                    } else {
                        (
                            404,
                            json!({"error": "Not Found", "code": 5, "message": "Not Found"}),
                        )
                    };
                    Ok::<_, std::convert::Infallible>(
                        http::Response::builder()
                            .status(code)
                            .header("content-type", "application/json")
                            .body(Full::new(bytes::Bytes::from(body.to_string())))
                            .expect("valid response"),
                    )
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

/// Runs a controller over every object of `ar`; `reconcile` returns when to look again.
/// Every change wakes it, and so does every change to an object of `owns` whose controller
/// owner reference names one; the status writes it makes come back once and find nothing
/// to do.
async fn run_controller<F, Fut>(
    shared: Arc<Shared>,
    ar: ApiResource,
    owns: Option<ApiResource>,
    what: &'static str,
    reconcile: F,
) where
    F: Fn(Arc<Shared>, Value) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<Duration, String>> + Send + 'static,
{
    let api: Api<DynamicObject> = Api::all_with(shared.hub.clone(), &ar);
    let mut controller = Controller::new_with(api, watcher::Config::default(), ar);
    if let Some(child) = owns {
        let children: Api<DynamicObject> = Api::all_with(shared.hub.clone(), &child);
        controller = controller.owns_with(children, child, watcher::Config::default());
    }
    controller
        .run(
            move |obj: Arc<DynamicObject>, shared: Arc<Shared>| {
                let reconcile = reconcile.clone();
                async move {
                    let v = serde_json::to_value(obj.as_ref()).unwrap_or(Value::Null);
                    reconcile(shared, v)
                        .await
                        .map(Action::requeue)
                        .map_err(ReconcileError)
                }
            },
            move |_, e: &ReconcileError, _| {
                tracing::debug!(error = %e.0, "Argo CD stand-in: {what} reconcile failed; retrying");
                Action::requeue(Duration::from_millis(500))
            },
            shared,
        )
        .for_each(|_| async {})
        .await
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReconcileError(String);

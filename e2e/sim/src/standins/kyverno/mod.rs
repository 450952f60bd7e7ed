//! The Kyverno stand-in: what a Kyverno install looks like from outside, and what it does
//! at admission.
//!
//! [`KyvernoStandIn::install`] creates the observable surface of a Kyverno helm install
//! (the `kyverno` namespace, the four controller Deployments with the chart's names and
//! labels, the `kyverno-svc` Service), installs the CRDs it needs, serves HTTPS admission
//! webhooks and registers them as Kyverno registers itself
//! (`kyverno-resource-mutating-webhook-cfg` and `kyverno-resource-validating-webhook-cfg`,
//! each with an `-ignore` and a `-fail` webhook for the kinds the policies match; the policy
//! and PolicyException validation webhooks). It watches ClusterPolicies, Policies and
//! PolicyExceptions, marks policies Ready (or not, with the reason), mutates and validates
//! requests with Kyverno's engine (the `hubspoke-kyverno` crate), denies with Kyverno's
//! messages, writes admission and background-scan results to PolicyReports. It talks to the
//! cluster only through a kube-rs client and its webhooks.
//!
//! Upstream the background scans are the reports controller's; here the admission
//! controller's process runs them too (scaling the reports controller to 0 does not stop
//! them).

mod admission;
mod crds;
mod reports;
mod webhooks;
use hubspoke_kyverno::yaml;
pub use hubspoke_kyverno::{conditions, pattern, policy};
pub use webhooks::{EXCEPTION_CONFIGURATION, POLICY_CONFIGURATION};

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use hubspoke_kyverno::exceptions::Exception;
use hubspoke_kyverno::policy::Policy;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, DynamicObject, PatchParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

pub use super::InstallError;
use super::api_resource;

/// The Kyverno release the stand-in presents itself as (image tags, chart labels).
pub const KYVERNO_VERSION: &str = "v1.15.2";
/// The chart version of that release.
pub const CHART_VERSION: &str = "3.5.2";
/// The resource validating webhook configuration Kyverno maintains.
pub const WEBHOOK_CONFIGURATION: &str = "kyverno-resource-validating-webhook-cfg";
/// The resource mutating webhook configuration Kyverno maintains.
pub const MUTATING_CONFIGURATION: &str = "kyverno-resource-mutating-webhook-cfg";
const MANAGER: &str = "kyverno";

/// Where and how the stand-in installs itself.
#[derive(Clone, Debug)]
pub struct KyvernoOptions {
    /// The namespace of the install (the chart's default is `kyverno`).
    pub namespace: String,
    /// The Service in front of the admission controller (`KYVERNO_SVC`; the chart's
    /// `kyverno-svc`): the webhook configurations name it and the serving certificate is
    /// for `<service>.<namespace>.svc`.
    pub service_name: String,
    /// Register the webhook with this URL instead of the `kyverno-svc` Service (for an API
    /// server that cannot reach this process on 127.0.0.1).
    pub webhook_url: Option<String>,
    /// `timeoutSeconds` of the webhooks.
    pub timeout_seconds: i32,
    /// `--enablePolicyException` (the chart's `features.policyExceptions.enabled`,
    /// default false).
    pub enable_policy_exception: bool,
    /// `--exceptionNamespace`: the namespace PolicyExceptions are read from (`*`: all).
    /// Kyverno uses exceptions only when both flags are set.
    pub exception_namespace: String,
    /// `--backgroundScan` of the reports controller (default true).
    pub background_scan: bool,
    /// `--backgroundScanInterval` (default 1h): every resource is rescanned this often.
    pub background_scan_interval: Duration,
}

impl Default for KyvernoOptions {
    fn default() -> Self {
        KyvernoOptions {
            namespace: "kyverno".into(),
            service_name: "kyverno-svc".into(),
            webhook_url: None,
            timeout_seconds: 10,
            enable_policy_exception: false,
            exception_namespace: String::new(),
            background_scan: true,
            background_scan_interval: Duration::from_secs(3600),
        }
    }
}

impl KyvernoOptions {
    /// The namespace exceptions are read from, when Kyverno's flags enable them.
    pub fn exception_namespace(&self) -> Option<&str> {
        (self.enable_policy_exception && !self.exception_namespace.is_empty())
            .then_some(self.exception_namespace.as_str())
    }
}

/// How a pod of Kyverno's admission controller image runs the stand-in (its flags and
/// environment).
#[derive(Clone, Debug)]
pub struct PodRun {
    /// Where to serve admission: the pod's address and `--webhookServerPort`.
    pub bind: std::net::SocketAddr,
    /// `KYVERNO_DEPLOYMENT`: the Deployment whose going away (deleted, being deleted, or
    /// scaled to 0) makes the stopping controller remove its webhook configurations.
    pub deployment: String,
    /// `--caSecretName` (default `<service>.<namespace>.svc.kyverno-tls-ca`).
    pub ca_secret: Option<String>,
    /// `--tlsSecretName` (default `<service>.<namespace>.svc.kyverno-tls-pair`).
    pub tls_secret: Option<String>,
}

/// The running stand-in; dropping it stops the webhook and the policy controller.
pub struct KyvernoStandIn {
    tasks: crate::tasks::Tasks,
    port: u16,
    manifests: Vec<Value>,
    client: Client,
    /// The admission controller claimed on the cluster by a direct install (a pod of
    /// Kyverno's image there then runs as a simulated container).
    _claim: Option<super::programs::Claim>,
    /// How it runs when a pod of Kyverno's image started it.
    pod: Option<PodRun>,
    opts: KyvernoOptions,
}

impl KyvernoStandIn {
    /// Stops the webhook and the policy controller, waiting for them (at most `grace`).
    pub async fn shutdown(self, grace: Duration) -> bool {
        self.tasks.shutdown(grace).await
    }
}

/// The Kyverno CRDs the stand-in installs (what the chart's CRD templates hold for the
/// kinds it serves), for tests and charts that bring their own workloads.
pub fn crd_manifests() -> Vec<Value> {
    crds::all()
}

fn cluster_policies() -> ApiResource {
    api_resource("kyverno.io", "v1", "ClusterPolicy", "clusterpolicies")
}

fn policies() -> ApiResource {
    api_resource("kyverno.io", "v1", "Policy", "policies")
}

fn cleanup_policies() -> [ApiResource; 2] {
    [
        api_resource("kyverno.io", "v2", "CleanupPolicy", "cleanuppolicies"),
        api_resource(
            "kyverno.io",
            "v2",
            "ClusterCleanupPolicy",
            "clustercleanuppolicies",
        ),
    ]
}

fn exceptions_api() -> ApiResource {
    api_resource("kyverno.io", "v2", "PolicyException", "policyexceptions")
}

fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

async fn apply<K>(api: &Api<K>, obj: Value) -> Result<(), InstallError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    super::apply(api, MANAGER, &obj).await.map_err(kube_err)
}

fn kube_err(source: kube::Error) -> InstallError {
    InstallError::Kube {
        what: "Kyverno",
        source,
    }
}

fn other(message: impl Into<String>) -> InstallError {
    InstallError::Other {
        what: "Kyverno",
        message: message.into(),
    }
}

/// What the admission webhook and the policy controller share.
struct Engine {
    client: Client,
    opts: KyvernoOptions,
    ca_bundle: String,
    port: u16,
    /// Loaded policies by key (`name` or `namespace/name`), or why they could not load.
    policies: RwLock<BTreeMap<String, Result<Policy, String>>>,
    /// The PolicyExceptions in force.
    exceptions: RwLock<Vec<Exception>>,
    /// Moves at every reload: the background scanner rescans.
    generation: tokio::sync::watch::Sender<u64>,
}

impl KyvernoStandIn {
    /// Installs Kyverno's surface on the cluster and starts serving admission on 127.0.0.1
    /// (the surface's `kyverno-svc` endpoints point there).
    pub async fn install(client: Client, opts: KyvernoOptions) -> Result<Self, InstallError> {
        let claim = super::programs::claim(
            &client,
            &opts.namespace,
            super::programs::Program::KyvernoAdmission,
        )
        .await
        .map_err(other)?
        .ok_or_else(|| {
            other(format!(
                "Kyverno's admission controller already runs in namespace {} of this cluster",
                opts.namespace
            ))
        })?;
        // CRDs first, established before anything watches them
        super::install_crds(&client, MANAGER, crds::all(), "Kyverno").await?;
        apply(
            &Api::<Namespace>::all(client.clone()),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": opts.namespace}}),
        )
        .await?;
        let (engine, listener, pki) = prepare(client.clone(), opts, ("127.0.0.1", 0), None).await?;
        let manifests = install_surface(&engine).await?;
        let mut k = start(engine, listener, pki).await?;
        k.manifests = manifests;
        k._claim = Some(claim);
        Ok(k)
    }

    /// Runs the admission controller as a pod of Kyverno's image does: serving admission on
    /// `bind` (the pod's address and `https` port) behind the Service the chart created, and
    /// registering the webhook configurations for that Service. Installs nothing else: the
    /// chart brought the CRDs, the Service and the rest.
    pub async fn run(client: Client, opts: KyvernoOptions, pod: PodRun) -> Result<Self, InstallError> {
        // Kyverno refuses to start without its policy CRDs
        let crds: Api<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        > = Api::all(client.clone());
        for crd in ["clusterpolicies.kyverno.io", "policies.kyverno.io"] {
            if crds.get_opt(crd).await.map_err(kube_err)?.is_none() {
                return Err(other(format!(
                    "failed to wait for cache sync: the CRD {crd} is not installed (install the chart's CRDs)"
                )));
            }
        }
        let ca_secret = pod
            .ca_secret
            .clone()
            .unwrap_or_else(|| format!("{}.{}.svc.kyverno-tls-ca", opts.service_name, opts.namespace));
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), &opts.namespace);
        let ca = secrets
            .get_opt(&ca_secret)
            .await
            .map_err(kube_err)?
            .and_then(|s| {
                let data = s.data?;
                let text = |k: &str| data.get(k).and_then(|b| String::from_utf8(b.0.clone()).ok());
                Some((text("tls.crt")?, text("tls.key")?))
            });
        let (engine, listener, pki) = prepare(client, opts, pod.bind, ca).await?;
        store_tls_secrets(&engine, &pki, &pod).await?;
        let mut k = start(engine, listener, pki).await?;
        k.pod = Some(pod);
        Ok(k)
    }

    /// Ends as the admission controller ends on SIGTERM: when its Deployment is going
    /// away (gone, being deleted, or scaled to 0), it first deletes every webhook
    /// configuration labelled `webhook.kyverno.io/managed-by`, so a cluster without Kyverno
    /// is not left behind Fail webhooks nobody serves.
    pub async fn stop_as_pod(self) {
        // the controllers stop first, so none re-registers what is removed below
        let KyvernoStandIn {
            tasks,
            client,
            pod,
            opts,
            ..
        } = self;
        tasks.shutdown(Duration::from_secs(5)).await;
        if let Some(pod) = &pod {
            let deployments: Api<Deployment> = Api::namespaced(client.clone(), &opts.namespace);
            let going_down = match deployments.get_opt(&pod.deployment).await {
                Ok(None) => true,
                Ok(Some(d)) => {
                    d.metadata.deletion_timestamp.is_some() || d.spec.and_then(|s| s.replicas) == Some(0)
                }
                Err(_) => false,
            };
            if going_down {
                let lp = kube::api::ListParams::default().labels("webhook.kyverno.io/managed-by");
                let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
                let _ = validating.delete_collection(&Default::default(), &lp).await;
                let mutating: Api<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration> =
                    Api::all(client.clone());
                let _ = mutating.delete_collection(&Default::default(), &lp).await;
            }
        }
    }

    /// What the install put on the cluster as the chart would (CRDs, Deployments, Services,
    /// the EndpointSlice of `kyverno-svc`): an Argo CD Application of the kyverno chart
    /// reports these as its resources.
    pub fn manifests(&self) -> &[Value] {
        &self.manifests
    }

    /// Stops serving and removes the webhook configuration, as uninstalling Kyverno does (a
    /// Fail webhook without a server would block the cluster).
    pub async fn uninstall(self) -> Result<(), InstallError> {
        let validating: Api<ValidatingWebhookConfiguration> = Api::all(self.client.clone());
        for name in [
            WEBHOOK_CONFIGURATION,
            POLICY_CONFIGURATION,
            EXCEPTION_CONFIGURATION,
        ] {
            match validating.delete(name, &Default::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(kube_err(e)),
            }
        }
        let mutating: Api<MutatingWebhookConfiguration> = Api::all(self.client.clone());
        match mutating.delete(MUTATING_CONFIGURATION, &Default::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(kube_err(e)),
        }
    }

    /// The local port the admission webhook listens on.
    pub fn webhook_port(&self) -> u16 {
        self.port
    }
}

/// The webhook server's listener and certificate, and the engine behind it.
async fn prepare(
    client: Client,
    opts: KyvernoOptions,
    bind: impl tokio::net::ToSocketAddrs,
    ca: Option<(String, String)>,
) -> Result<(Arc<Engine>, tokio::net::TcpListener, crate::tls::ClusterPki), InstallError> {
    crate::tls::install_crypto_provider();
    let (ns, svc) = (&opts.namespace, &opts.service_name);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| other(format!("binding the webhook port: {e}")))?;
    let addr = listener.local_addr().map_err(|e| other(e.to_string()))?;
    let hosts = vec![
        svc.clone(),
        format!("{svc}.{ns}"),
        format!("{svc}.{ns}.svc"),
        addr.ip().to_string(),
        "localhost".to_string(),
    ];
    // replicas and restarts share the CA kept in Kyverno's Secret, so the caBundle of the
    // webhook configurations verifies whichever pod the Service picks
    let pki = match ca.and_then(|(crt, key)| crate::tls::ClusterPki::from_ca(&crt, &key, svc, &hosts).ok()) {
        Some(pki) => pki,
        None => crate::tls::ClusterPki::generate("kyverno", &hosts)
            .map_err(|e| other(format!("creating the webhook certificate: {e}")))?,
    };
    use base64::Engine as _;
    let engine = Arc::new(Engine {
        client,
        opts,
        ca_bundle: base64::engine::general_purpose::STANDARD.encode(&pki.ca_pem),
        port: addr.port(),
        policies: RwLock::new(BTreeMap::new()),
        exceptions: RwLock::new(Vec::new()),
        generation: tokio::sync::watch::Sender::new(0),
    });
    Ok((engine, listener, pki))
}

/// Serves admission, loads the policies, registers the webhook, then keeps watching.
async fn start(
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    pki: crate::tls::ClusterPki,
) -> Result<KyvernoStandIn, InstallError> {
    let mut tasks = crate::tasks::Tasks::new();
    tasks.spawn(admission::serve(
        listener,
        pki.server_config.clone(),
        engine.clone(),
    ));
    engine.reload().await?;
    tasks.spawn(watch_policies(engine.clone()));
    if engine.opts.background_scan {
        tasks.spawn(reports::background(
            engine.clone(),
            engine.generation.subscribe(),
            engine.opts.background_scan_interval,
        ));
    }
    Ok(KyvernoStandIn {
        tasks,
        port: engine.port,
        manifests: Vec::new(),
        client: engine.client.clone(),
        _claim: None,
        pod: None,
        opts: engine.opts.clone(),
    })
}

/// The CA and serving pair in the Secrets Kyverno keeps them in (`kubernetes.io/tls`,
/// labelled `cert.kyverno.io/managed-by: kyverno`). The stand-in issues a new pair at each
/// start and replaces them, as Kyverno does when it renews.
async fn store_tls_secrets(
    engine: &Engine,
    pki: &crate::tls::ClusterPki,
    pod: &PodRun,
) -> Result<(), InstallError> {
    use base64::Engine as _;
    let (ns, svc) = (&engine.opts.namespace, &engine.opts.service_name);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(engine.client.clone(), ns);
    for (name, cert, key) in [
        (
            pod.ca_secret
                .clone()
                .unwrap_or_else(|| format!("{svc}.{ns}.svc.kyverno-tls-ca")),
            &pki.ca_pem,
            &pki.ca_key_pem,
        ),
        (
            pod.tls_secret
                .clone()
                .unwrap_or_else(|| format!("{svc}.{ns}.svc.kyverno-tls-pair")),
            &pki.cert_pem,
            &pki.key_pem,
        ),
    ] {
        apply(
            &secrets,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": name, "namespace": ns, "labels": {"cert.kyverno.io/managed-by": "kyverno"}},
                "data": {"tls.crt": b64(cert), "tls.key": b64(key)}}),
        )
        .await?;
    }
    Ok(())
}

fn chart_labels(component: &str, name: &str) -> Value {
    json!({
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": "kyverno",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "kyverno",
        "app.kubernetes.io/version": CHART_VERSION,
        "helm.sh/chart": format!("kyverno-{CHART_VERSION}"),
    })
}

/// The namespace's Deployments and Services, as the chart names and labels them.
/// Applies `obj` and remembers it as part of what the chart installs.
async fn record<K>(applied: &mut Vec<Value>, api: &Api<K>, obj: Value) -> Result<(), InstallError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    apply(api, obj.clone()).await?;
    applied.push(obj);
    Ok(())
}

async fn install_surface(engine: &Engine) -> Result<Vec<Value>, InstallError> {
    let mut applied: Vec<Value> = crds::all();
    let client = &engine.client;
    let ns = &engine.opts.namespace;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for (component, image, replicas) in [
        ("admission-controller", "kyverno", 1),
        ("background-controller", "background-controller", 1),
        ("cleanup-controller", "cleanup-controller", 1),
        ("reports-controller", "reports-controller", 1),
    ] {
        let name = format!("kyverno-{component}");
        let selector = json!({
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/instance": "kyverno",
            "app.kubernetes.io/part-of": "kyverno",
        });
        let mut pod_labels = chart_labels(component, &name);
        pod_labels.as_object_mut().map(|m| m.remove("helm.sh/chart"));
        record(&mut applied,
            &deployments,
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": ns, "labels": chart_labels(component, &name)},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": selector},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "40%"}},
                    "template": {
                        "metadata": {"labels": pod_labels},
                        "spec": {
                            "serviceAccountName": name,
                            "containers": [{
                                "name": if component == "admission-controller" { "kyverno" } else { "controller" },
                                "image": format!("reg.kyverno.io/kyverno/{image}:{KYVERNO_VERSION}"),
                                "imagePullPolicy": "IfNotPresent",
                                "resources": {"limits": {"memory": "384Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                            }],
                        },
                    },
                },
            }),
        )
        .await?;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    // no selector: the stand-in's endpoint is this process, published below
    record(&mut applied,
        &services,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": engine.opts.service_name, "namespace": ns, "labels": chart_labels("admission-controller", "kyverno-admission-controller")},
            "spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]},
        }),
    )
    .await?;
    record(&mut applied,
        &services,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("{}-metrics", engine.opts.service_name), "namespace": ns, "labels": chart_labels("admission-controller", "kyverno-admission-controller")},
            "spec": {"type": "ClusterIP", "ports": [{"name": "metrics-port", "port": 8000, "protocol": "TCP", "targetPort": 8000}],
                "selector": {"app.kubernetes.io/component": "admission-controller", "app.kubernetes.io/instance": "kyverno", "app.kubernetes.io/part-of": "kyverno"}},
        }),
    )
    .await?;
    record(
        &mut applied,
        &Api::<EndpointSlice>::namespaced(client.clone(), ns),
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{}-local", engine.opts.service_name), "namespace": ns, "labels": {
                "kubernetes.io/service-name": engine.opts.service_name, "endpointslice.kubernetes.io/managed-by": "hubspoke-sim",
            }},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true, "serving": true, "terminating": false}}],
            "ports": [{"name": "https", "port": engine.port, "protocol": "TCP"}],
        }),
    )
    .await?;
    Ok(applied)
}

/// Reloads on every change to a ClusterPolicy or Policy.
async fn watch_policies(engine: Arc<Engine>) {
    let mut kinds = vec![cluster_policies(), policies()];
    kinds.extend(cleanup_policies());
    if engine.opts.exception_namespace().is_some() {
        kinds.push(exceptions_api());
    }
    let streams = kinds.into_iter().map(|ar| {
        let api: Api<DynamicObject> = Api::all_with(engine.client.clone(), &ar);
        // backing off between failed attempts as client-go does, never retrying at once
        kube::runtime::WatchStreamExt::default_backoff(kube::runtime::watcher(
            api,
            kube::runtime::watcher::Config::default(),
        ))
        .map(|e| e.is_ok())
        .boxed()
    });
    let mut events = futures::stream::select_all(streams);
    while let Some(ok) = events.next().await {
        if !ok {
            continue;
        }
        // several events often arrive together: take them all, then reload once
        while let Some(Some(_)) = events.next().now_or_never() {}
        if let Err(e) = engine.reload().await {
            tracing::warn!(error = %e, "Kyverno stand-in: reloading policies failed");
        }
        engine.generation.send_modify(|g| *g += 1);
    }
}

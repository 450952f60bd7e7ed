//! The Kyverno stand-in: what a Kyverno install looks like from outside, and what it does
//! at admission.
//!
//! [`KyvernoStandIn::install`] creates the observable surface of a Kyverno helm install
//! (the `kyverno` namespace, the four controller Deployments with the chart's names and
//! labels, the `kyverno-svc` Service), installs the CRDs it needs, serves an HTTPS
//! validating admission webhook and registers it as Kyverno registers itself
//! (`kyverno-resource-validating-webhook-cfg`, webhooks `validate.kyverno.svc-fail` and
//! `validate.kyverno.svc-ignore`, rules for the kinds the policies match). It watches
//! ClusterPolicies and Policies, marks them Ready (or not, with the reason), denies requests
//! that violate Enforce rules with Kyverno's message, and writes Audit and Enforce results
//! to PolicyReports. It talks to the cluster only through a kube-rs client and its webhook.

pub use hubspoke_kyverno::{conditions, pattern, policy};
mod crds;
use hubspoke_kyverno::yaml;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use policy::{Action, Policy, RuleResult, Status, Subject};

pub use super::InstallError;
use super::api_resource;

/// The Kyverno release the stand-in presents itself as (image tags, chart labels).
pub const KYVERNO_VERSION: &str = "v1.15.2";
/// The chart version of that release.
pub const CHART_VERSION: &str = "3.5.2";
/// The resource validating webhook configuration Kyverno maintains.
pub const WEBHOOK_CONFIGURATION: &str = "kyverno-resource-validating-webhook-cfg";
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
}

impl Default for KyvernoOptions {
    fn default() -> Self {
        KyvernoOptions {
            namespace: "kyverno".into(),
            service_name: "kyverno-svc".into(),
            webhook_url: None,
            timeout_seconds: 10,
        }
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
        let api: Api<ValidatingWebhookConfiguration> = Api::all(self.client.clone());
        match api.delete(WEBHOOK_CONFIGURATION, &Default::default()).await {
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
    tasks.spawn(serve(listener, pki.server_config.clone(), engine.clone()));
    engine.reload().await?;
    tasks.spawn(watch_policies(engine.clone()));
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

impl Engine {
    /// Re-reads every policy, registers the webhook for what they match, writes statuses.
    async fn reload(&self) -> Result<(), InstallError> {
        let mut loaded = BTreeMap::new();
        let mut objects = Vec::new();
        for ar in [cluster_policies(), policies()] {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            for obj in api.list(&Default::default()).await.map_err(kube_err)?.items {
                let v = serde_json::to_value(&obj).map_err(|e| other(e.to_string()))?;
                let key = match obj.namespace() {
                    Some(ns) => format!("{ns}/{}", obj.name_any()),
                    None => obj.name_any(),
                };
                loaded.insert(key, policy::load(&v));
                objects.push((ar.clone(), v));
            }
        }
        *self.policies.write().expect("policy lock") = loaded;
        self.register_webhook().await?;
        for (ar, obj) in objects {
            self.write_status(&ar, &obj).await?;
        }
        Ok(())
    }

    /// The webhook rules for the kinds the loaded policies match.
    async fn webhook_rules(&self, fail_closed: bool) -> Vec<Value> {
        let selectors: Vec<(String, String, String)> = {
            let policies = self.policies.read().expect("policy lock");
            policies
                .values()
                .filter_map(|p| p.as_ref().ok())
                .filter(|p| p.fail_closed == fail_closed)
                .flat_map(|p| p.rules.iter())
                .flat_map(|r| {
                    let mut ks = Vec::new();
                    for f in std::iter::once(&r.match_)
                        .chain(
                            r.match_
                                .get("any")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten(),
                        )
                        .chain(
                            r.match_
                                .get("all")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten(),
                        )
                    {
                        for k in f
                            .pointer("/resources/kinds")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let (g, v, kind, _) = policy::parse_kind_selector(k.as_str().unwrap_or(""));
                            ks.push((g, v, kind));
                        }
                    }
                    ks
                })
                .collect()
        };
        if selectors.is_empty() {
            return vec![];
        }
        let Ok(discovery) = kube::discovery::Discovery::new(self.client.clone()).run().await else {
            return vec![
                json!({"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"], "operations": ["CREATE", "UPDATE", "DELETE", "CONNECT"], "scope": "*"}),
            ];
        };
        // (group, version) -> resources
        let mut by_gv: BTreeMap<(String, String), std::collections::BTreeSet<String>> = BTreeMap::new();
        for group in discovery.groups() {
            for (ar, _caps) in group.recommended_resources() {
                if selectors.iter().any(|(g, v, k)| {
                    pattern::wildcard_match(g, &ar.group)
                        && pattern::wildcard_match(v, &ar.version)
                        && pattern::wildcard_match(k, &ar.kind)
                }) {
                    by_gv
                        .entry((ar.group.clone(), ar.version.clone()))
                        .or_default()
                        .insert(ar.plural.clone());
                }
            }
        }
        by_gv
            .into_iter()
            .map(|((g, v), rs)| {
                json!({
                    "apiGroups": [g], "apiVersions": [v], "resources": rs.into_iter().collect::<Vec<_>>(),
                    "operations": ["CREATE", "UPDATE", "DELETE", "CONNECT"], "scope": "*",
                })
            })
            .collect()
    }

    async fn register_webhook(&self) -> Result<(), InstallError> {
        let mut webhooks = Vec::new();
        for (suffix, fail) in [("fail", true), ("ignore", false)] {
            let rules = self.webhook_rules(fail).await;
            let client_config = match &self.opts.webhook_url {
                Some(url) => {
                    json!({"url": format!("{}/validate/{suffix}", url.trim_end_matches('/')), "caBundle": self.ca_bundle})
                }
                None => {
                    json!({"service": {"namespace": self.opts.namespace, "name": self.opts.service_name, "path": format!("/validate/{suffix}"), "port": 443}, "caBundle": self.ca_bundle})
                }
            };
            webhooks.push(json!({
                "name": format!("validate.kyverno.svc-{suffix}"),
                "clientConfig": client_config,
                "rules": rules,
                "failurePolicy": if fail { "Fail" } else { "Ignore" },
                "matchPolicy": "Equivalent",
                "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", self.opts.namespace]}]},
                "objectSelector": {},
                "sideEffects": "NoneOnDryRun",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": self.opts.timeout_seconds,
            }));
        }
        let cfg = json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": WEBHOOK_CONFIGURATION, "labels": {"webhook.kyverno.io/managed-by": "kyverno"},
                "annotations": {"admissions.enforcer/disabled": "true"}},
            "webhooks": webhooks,
        });
        apply(
            &Api::<ValidatingWebhookConfiguration>::all(self.client.clone()),
            cfg,
        )
        .await
    }

    /// Writes the status Kyverno writes: the Ready condition, rule counts, autogen rules.
    async fn write_status(&self, ar: &ApiResource, obj: &Value) -> Result<(), InstallError> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let key = match ns {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        };
        let loaded = self.policies.read().expect("policy lock").get(&key).cloned();
        let Some(loaded) = loaded else { return Ok(()) };
        let (status, reason, message) = match &loaded {
            Ok(_) => ("True", "Succeeded", "Ready".to_string()),
            Err(e) => ("False", "Failed", e.clone()),
        };
        let previous = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .cloned();
        let transition = match &previous {
            Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
            _ => json!(crate::meta::now_rfc3339()),
        };
        let (counts, autogen) = match &loaded {
            Ok(p) => (p.counts, p.autogen.clone()),
            Err(_) => ((0, 0, 0, 0), vec![]),
        };
        let mut new_status = json!({
            "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message, "lastTransitionTime": transition}],
            "autogen": {},
            "rulecount": {"validate": counts.0, "generate": counts.1, "mutate": counts.2, "verifyimages": counts.3},
            "validatingadmissionpolicy": {"generated": false, "message": ""},
        });
        if !autogen.is_empty() {
            new_status["autogen"]["rules"] = json!(autogen);
        }
        if obj.get("status") == Some(&new_status) {
            return Ok(());
        }
        let api: Api<DynamicObject> = match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        };
        let patch = json!({"status": new_status});
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(kube_err(e)),
        }
    }
}

/// Reloads on every change to a ClusterPolicy or Policy.
async fn watch_policies(engine: Arc<Engine>) {
    let streams = [cluster_policies(), policies()].map(|ar| {
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
    }
}

use futures::FutureExt;

async fn serve(listener: tokio::net::TcpListener, tls: Arc<rustls::ServerConfig>, engine: Arc<Engine>) {
    super::serve_json(listener, tls, move |path: String, body: bytes::Bytes| {
        let engine = engine.clone();
        async move {
            match serde_json::from_slice::<Value>(&body) {
                Ok(review) if path == "/validate/fail" || path == "/validate/ignore" => {
                    (200, engine.admit(&review, path.ends_with("fail")).await)
                }
                Ok(_) => (404, json!({"error": format!("no handler for {path}")})),
                Err(e) => (400, json!({"error": format!("invalid AdmissionReview: {e}")})),
            }
        }
    })
    .await
}

/// Kinds and namespaces Kyverno's default `resourceFilters` leave alone.
fn filtered(kind: &str, namespace: &str, opts: &KyvernoOptions) -> bool {
    const KINDS: &[&str] = &[
        "Event",
        "Node",
        "APIService",
        "TokenReview",
        "SubjectAccessReview",
        "SelfSubjectAccessReview",
        "Binding",
        "ReplicaSet",
        "AdmissionReport",
        "ClusterAdmissionReport",
        "BackgroundScanReport",
        "ClusterBackgroundScanReport",
        "EphemeralReport",
        "ClusterEphemeralReport",
        "PolicyReport",
        "ClusterPolicyReport",
    ];
    KINDS.contains(&kind)
        || [
            "kube-system",
            "kube-public",
            "kube-node-lease",
            opts.namespace.as_str(),
        ]
        .contains(&namespace)
}

/// One policy's results for a request.
struct PolicyResults {
    policy: Policy,
    results: Vec<RuleResult>,
}

impl Engine {
    async fn namespace_labels(&self, ns: &str) -> Value {
        if ns.is_empty() {
            return json!({});
        }
        match Api::<Namespace>::all(self.client.clone()).get(ns).await {
            Ok(n) => json!(n.metadata.labels.unwrap_or_default()),
            Err(_) => json!({}),
        }
    }

    async fn admit(self: &Arc<Self>, review: &Value, fail_path: bool) -> Value {
        let req = review.get("request").cloned().unwrap_or(json!({}));
        let uid = req.get("uid").cloned().unwrap_or(json!(""));
        let respond = |allowed: bool, message: Option<String>| {
            let mut response = json!({"uid": uid, "allowed": allowed});
            if let Some(m) = message {
                response["status"] = json!({"status": "Failure", "message": m});
            }
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
        };
        let s = |p: &str| req.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let (group, version, kind) = (s("/kind/group"), s("/kind/version"), s("/kind/kind"));
        let (subresource, operation, namespace) = (s("/subResource"), s("/operation"), s("/namespace"));
        if filtered(&kind, &namespace, &self.opts) {
            return respond(true, None);
        }
        let object = match operation.as_str() {
            "DELETE" => req.get("oldObject").cloned().unwrap_or(Value::Null),
            _ => req.get("object").cloned().unwrap_or(Value::Null),
        };
        let candidates: Vec<Policy> = {
            let policies = self.policies.read().expect("policy lock");
            policies
                .values()
                .filter_map(|p| p.as_ref().ok())
                .filter(|p| p.fail_closed == fail_path)
                .filter(|p| p.namespace.as_deref().is_none_or(|ns| ns == namespace))
                .cloned()
                .collect()
        };
        if candidates.is_empty() {
            return respond(true, None);
        }
        let needs_ns_labels = candidates.iter().any(|p| {
            p.rules.iter().any(|r| {
                r.match_.to_string().contains("namespaceSelector")
                    || r.exclude.to_string().contains("namespaceSelector")
            })
        });
        let ns_labels = if needs_ns_labels {
            self.namespace_labels(&namespace).await
        } else {
            json!({})
        };
        let username = s("/userInfo/username");
        let groups: Vec<String> = req
            .pointer("/userInfo/groups")
            .and_then(Value::as_array)
            .map(|g| g.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let subject = Subject {
            group: &group,
            version: &version,
            kind: &kind,
            subresource: &subresource,
            operation: &operation,
            object: &object,
            namespace_labels: &ns_labels,
            username: &username,
            groups: &groups,
        };
        let ctx = json!({"request": req});
        let mut all: Vec<PolicyResults> = Vec::new();
        for p in candidates {
            let results: Vec<RuleResult> = p
                .rules
                .iter()
                .filter(|r| policy::rule_applies(r, p.namespace.as_deref(), &subject))
                .filter_map(|r| policy::evaluate(r, &ctx))
                .collect();
            if !results.is_empty() {
                all.push(PolicyResults { policy: p, results });
            }
        }
        // blocked by a failing Enforce rule (or an erroring one under failurePolicy Fail)
        let blocking = |r: &RuleResult, p: &Policy| {
            r.action == Action::Enforce
                && (r.status == Status::Fail || (r.status == Status::Error && p.fail_closed))
        };
        let blocked = all
            .iter()
            .any(|pr| pr.results.iter().any(|r| blocking(r, &pr.policy)));
        if blocked {
            let mut failures: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for pr in &all {
                for r in pr.results.iter().filter(|r| r.action == Action::Enforce) {
                    if r.status != Status::Pass && r.status != Status::Skip {
                        failures
                            .entry(pr.policy.name.clone())
                            .or_default()
                            .insert(r.rule.clone(), r.message.clone());
                    }
                }
            }
            let meta = |f: &str| {
                object
                    .pointer(&format!("/metadata/{f}"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            let resource = format!("{kind}/{}/{}", meta("namespace"), meta("name"));
            let message = format!(
                "\n\nresource {resource} was blocked due to the following policies \n\n{}",
                yaml::encode_failures(&failures)
            );
            return respond(false, Some(message));
        }
        let dry_run = req.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
        if !dry_run
            && matches!(operation.as_str(), "CREATE" | "UPDATE")
            && subresource.is_empty()
            && !all.is_empty()
        {
            let engine = self.clone();
            let api_version = if group.is_empty() {
                version.clone()
            } else {
                format!("{group}/{version}")
            };
            let resource = json!({
                "apiVersion": api_version, "kind": kind,
                "name": object.pointer("/metadata/name"), "namespace": object.pointer("/metadata/namespace"),
                "uid": object.pointer("/metadata/uid"),
            });
            let plural = s("/resource/resource");
            tokio::spawn(async move {
                if let Err(e) = engine.write_report(resource, plural, all).await {
                    tracing::warn!(error = %e, "Kyverno stand-in: writing a policy report failed");
                }
            });
        }
        respond(true, None)
    }

    /// Writes (or updates) the report for one resource once the resource exists, as
    /// Kyverno's reports controller does: one report per resource, named by its uid.
    async fn write_report(
        &self,
        resource: Value,
        plural: String,
        all: Vec<PolicyResults>,
    ) -> Result<(), kube::Error> {
        let name = resource["name"].as_str().unwrap_or("").to_string();
        let ns = resource["namespace"].as_str().unwrap_or("").to_string();
        let api_version = resource["apiVersion"].as_str().unwrap_or("").to_string();
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let kind = resource["kind"].as_str().unwrap_or("").to_string();
        let target_ar = api_resource(group, version, &kind, &plural);
        let target: Api<DynamicObject> = if ns.is_empty() {
            Api::all_with(self.client.clone(), &target_ar)
        } else {
            Api::namespaced_with(self.client.clone(), &ns, &target_ar)
        };
        // the object is stored after admission: wait for it (give up after 10 s)
        let mut stored = None;
        for _ in 0..100 {
            match target.get_opt(&name).await? {
                Some(o) => {
                    stored = Some(o);
                    break;
                }
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let Some(stored) = stored else { return Ok(()) };
        let uid = stored.uid().unwrap_or_default();
        let scope = json!({"apiVersion": api_version, "kind": kind, "name": name, "namespace": if ns.is_empty() { Value::Null } else { json!(ns) }, "uid": uid});
        let mut scope = scope;
        if ns.is_empty() {
            scope.as_object_mut().map(|m| m.remove("namespace"));
        }
        let (report_ar, report_api) = if ns.is_empty() {
            let ar = api_resource(
                "wgpolicyk8s.io",
                "v1alpha2",
                "ClusterPolicyReport",
                "clusterpolicyreports",
            );
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            (ar, api)
        } else {
            let ar = api_resource("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports");
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &ns, &ar);
            (ar, api)
        };
        let now = jiff::Timestamp::now().as_second();
        let mut results: Vec<Value> = match report_api.get_opt(&uid).await? {
            Some(existing) => existing.data["results"].as_array().cloned().unwrap_or_default(),
            None => vec![],
        };
        for pr in &all {
            let key = pr.policy.key();
            let ann = |k: &str| {
                pr.policy
                    .annotations
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            for r in &pr.results {
                results.retain(|x| !(x["policy"] == key.as_str() && x["rule"] == r.rule.as_str()));
                let mut res = json!({
                    "source": "kyverno",
                    "policy": key,
                    "rule": r.rule,
                    "message": r.message,
                    "properties": {"process": "admission review"},
                    "result": r.status.as_str(),
                    "scored": ann("policies.kyverno.io/scored") != "false",
                    "timestamp": {"seconds": now, "nanos": 0},
                    "resources": [scope.clone()],
                });
                let category = ann("policies.kyverno.io/category");
                if !category.is_empty() {
                    res["category"] = json!(category);
                }
                let severity = ann("policies.kyverno.io/severity");
                if matches!(severity.as_str(), "critical" | "high" | "medium" | "low" | "info") {
                    res["severity"] = json!(severity);
                }
                results.push(res);
            }
        }
        results.sort_by(|a, b| {
            (a["policy"].as_str(), a["rule"].as_str()).cmp(&(b["policy"].as_str(), b["rule"].as_str()))
        });
        let count = |s: &str| results.iter().filter(|r| r["result"] == s).count();
        let summary = json!({"pass": count("pass"), "fail": count("fail"), "warn": count("warn"), "error": count("error"), "skip": count("skip")});
        let mut metadata = json!({
            "name": uid,
            "labels": {"app.kubernetes.io/managed-by": "kyverno"},
            "ownerReferences": [{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}],
        });
        if !ns.is_empty() {
            metadata["namespace"] = json!(ns);
        }
        let report = json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2",
            "kind": report_ar.kind,
            "metadata": metadata,
            "scope": scope,
            "summary": summary,
            "results": results,
        });
        match report_api
            .patch(&uid, &apply_params(), &Patch::Apply(&report))
            .await
        {
            Ok(_) => Ok(()),
            // the resource went away meanwhile
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

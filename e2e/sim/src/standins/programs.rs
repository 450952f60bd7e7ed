//! The programs of known images: what the kubelet stand-in runs in-process when a container
//! of one of them starts, and stops when its pod goes.
//!
//! - Kyverno's admission controller (`*/kyverno/kyverno`, any registry and tag) runs the
//!   Kyverno stand-in: it serves admission on the pod's address at its `https` container
//!   port and registers its webhook configurations for the Service named by `KYVERNO_SVC`,
//!   in the pod's namespace, as Kyverno does at start;
//! - cert-manager's controller (`*/jetstack/cert-manager-controller`) runs the cert-manager
//!   stand-in with the container's `--cluster-resource-namespace` and
//!   `--enable-certificate-owner-ref`; its webhook (`*/jetstack/cert-manager-webhook`) and
//!   cainjector (`*/jetstack/cert-manager-cainjector`) run theirs
//!   ([`super::certmanager::webhook`]), so the chart's Fail webhooks are served and get their
//!   CA.
//!
//! Any other image runs as a simulated container. A stand-in started directly (its
//! `install`) claims its component on the cluster ([`claim`]), so a pod of the same image
//! on that cluster then runs as a simulated container instead of a second instance.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, OnceLock};

use kube::Client;
use kube::api::Api;
use serde_json::Value;

/// What a known image runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Program {
    /// Kyverno's admission controller.
    KyvernoAdmission,
    /// cert-manager's controller.
    CertManagerController,
    /// cert-manager's webhook.
    CertManagerWebhook,
    /// cert-manager's cainjector.
    CertManagerCainjector,
    /// `argocd admin redis-initial-password` (the argo-cd chart's pre-install Job): runs to
    /// completion.
    ArgoCdRedisInitialPassword,
    /// One of Argo CD's controllers or its API server.
    ArgoCd(super::argocd::Component),
}

impl Program {
    /// The component as named in messages and claims.
    /// Does the program exit by itself (a Job's work) rather than serve until stopped?
    pub fn runs_to_completion(self) -> bool {
        matches!(self, Program::ArgoCdRedisInitialPassword)
    }

    pub fn name(self) -> &'static str {
        match self {
            Program::KyvernoAdmission => "kyverno-admission-controller",
            Program::CertManagerController => "cert-manager-controller",
            Program::CertManagerWebhook => "cert-manager-webhook",
            Program::CertManagerCainjector => "cert-manager-cainjector",
            Program::ArgoCdRedisInitialPassword => "argocd-redis-initial-password",
            Program::ArgoCd(c) => c.name(),
        }
    }
}

/// The repository path of an image reference, without registry, tag or digest
/// (`reg.kyverno.io/kyverno/kyverno:v1.15.2` → `kyverno/kyverno`; `nginx` → `library/nginx`).
pub fn repository_path(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    // a tag is after the last ':' that follows the last '/'
    let name = match without_digest.rfind(':') {
        Some(i) if !without_digest[i..].contains('/') => &without_digest[..i],
        _ => without_digest,
    };
    let mut parts: Vec<&str> = name.split('/').collect();
    let has_registry =
        parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
    if has_registry {
        parts.remove(0);
    }
    if parts.len() == 1 {
        return format!("library/{}", parts[0]);
    }
    parts.join("/")
}

/// The program a container's image runs, if the sim knows it.
pub fn program_for(container: &Value) -> Option<Program> {
    let image = container.get("image").and_then(Value::as_str)?;
    match repository_path(image).as_str() {
        p if p == "kyverno/kyverno" || p.ends_with("/kyverno/kyverno") => Some(Program::KyvernoAdmission),
        p if p == "argoproj/argocd" || p.ends_with("/argoproj/argocd") => {
            // one image, many programs: the command line says which
            let words: Vec<String> = container_args(container, &BTreeMap::new())
                .iter()
                .flat_map(|w| w.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect();
            let admin = words.iter().position(|w| w == "admin");
            match admin.and_then(|i| words.get(i + 1)).map(String::as_str) {
                Some("redis-initial-password") => Some(Program::ArgoCdRedisInitialPassword),
                _ => super::argocd::Component::of_command(&words).map(Program::ArgoCd),
            }
        }
        p => match p
            .rsplit_once("jetstack/")
            .filter(|(pre, _)| pre.is_empty() || pre.ends_with('/'))
        {
            Some((_, "cert-manager-controller")) => Some(Program::CertManagerController),
            Some((_, "cert-manager-webhook")) => Some(Program::CertManagerWebhook),
            Some((_, "cert-manager-cainjector")) => Some(Program::CertManagerCainjector),
            _ => None,
        },
    }
}

/// The environment of a container as the kubelet gives it: `value`s (with `$(VAR)`
/// references to earlier variables expanded) and the downward API fields the sim knows
/// (`metadata.name`, `metadata.namespace`, `metadata.uid`, `spec.nodeName`,
/// `spec.serviceAccountName`, `status.podIP`, labels and annotations by key).
pub fn container_env(pod: &Value, container: &Value, pod_ip: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for e in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = e.get("name").and_then(Value::as_str) else {
            continue;
        };
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            Some(expand(v, &env))
        } else if let Some(path) = e.pointer("/valueFrom/fieldRef/fieldPath").and_then(Value::as_str) {
            field(pod, path, pod_ip)
        } else {
            // secretKeyRef, configMapKeyRef, resourceFieldRef: not read by the programs
            None
        };
        if let Some(v) = value {
            env.insert(name.to_string(), v);
        }
    }
    env
}

fn field(pod: &Value, path: &str, pod_ip: &str) -> Option<String> {
    let s = |p: &str| pod.pointer(p).and_then(Value::as_str).map(str::to_string);
    match path {
        "metadata.name" => s("/metadata/name"),
        "metadata.namespace" => s("/metadata/namespace"),
        "metadata.uid" => s("/metadata/uid"),
        "spec.nodeName" => s("/spec/nodeName"),
        "spec.serviceAccountName" => s("/spec/serviceAccountName"),
        "status.podIP" => Some(pod_ip.to_string()),
        p => {
            let (map, key) = if let Some(k) = p.strip_prefix("metadata.labels['") {
                ("labels", k)
            } else if let Some(k) = p.strip_prefix("metadata.annotations['") {
                ("annotations", k)
            } else {
                return None;
            };
            let key = key.strip_suffix("']")?;
            pod.pointer(&format!("/metadata/{map}"))
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        }
    }
}

/// Kubernetes' expansion of `$(VAR)` in env values, commands and arguments: a defined
/// variable is replaced, `$$` is an escaped `$`, anything else stays as written.
pub fn expand(input: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The container's command and arguments after expansion.
pub fn container_args(container: &Value, env: &BTreeMap<String, String>) -> Vec<String> {
    ["command", "args"]
        .iter()
        .flat_map(|k| {
            container
                .get(*k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|a| a.as_str().map(|s| expand(s, env)))
        .collect()
}

/// The value of `--name=value` or `--name value` (also with a single dash, as Go's flag
/// package accepts), the last one winning.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    let mut found = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let Some(stripped) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            continue;
        };
        if let Some(v) = stripped.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_string());
        } else if stripped == name
            && let Some(v) = it.peek()
            && !v.starts_with('-')
        {
            found = it.next().cloned();
        }
    }
    found
}

/// The port of the container's port named `name`, if it declares one.
pub fn container_port(container: &Value, name: &str) -> Option<u16> {
    container
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|p| p.get("containerPort").and_then(Value::as_u64))
        .and_then(|p| u16::try_from(p).ok())
}

/// What a program is started with.
pub struct Start<'a> {
    /// The client of the cluster the pod runs on (the kubelet's).
    pub client: Client,
    /// The pod, as stored.
    pub pod: &'a Value,
    /// The container of the known image.
    pub container: &'a Value,
    /// The pod's address: the program listens there.
    pub pod_ip: IpAddr,
}

impl Start<'_> {
    fn namespace(&self) -> String {
        self.pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string()
    }
}

/// How a program ends when its container is killed (what it does on SIGTERM).
type Stop = super::leader::Work;

/// A running program; [`Running::stop`] ends it as the program ends on SIGTERM, dropping it
/// kills it.
pub struct Running {
    stop: Option<Stop>,
}

impl Running {
    /// Ends the program as it ends when its container is stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop().await;
        }
    }
}

/// Why a program could not start (what its container's log would end with).
pub type StartError = String;

/// Starts the program of `p` for the container in `start`; None when a stand-in started
/// directly already runs the component on this cluster (the container is simulated).
pub async fn start(p: Program, start: Start<'_>) -> Result<Option<Running>, StartError> {
    let ns = start.namespace();
    // a stand-in installed directly runs this component here: the container is simulated;
    // pods of the image otherwise each run their own instance, as replicas do (those that
    // elect a leader upstream work only while they hold its Lease)
    if claimed(&start.client, &ns, p).await? {
        return Ok(None);
    }
    let l = std::sync::Arc::new(Launch {
        p,
        client: start.client.clone(),
        pod: start.pod.clone(),
        container: start.container.clone(),
        pod_ip: start.pod_ip,
    });
    if let Some(election) = l.election() {
        let launch = l.clone();
        let candidate = super::leader::Candidate::run(start.client.clone(), election, move || {
            let l = launch.clone();
            async move { l.launch().await }
        });
        return Ok(Some(Running {
            stop: Some(Box::new(move || Box::pin(candidate.stop()))),
        }));
    }
    Ok(Some(Running {
        stop: Some(l.launch().await?),
    }))
}

/// A program's start, owned: run at once, or each time its pod wins its election.
struct Launch {
    p: Program,
    client: Client,
    pod: Value,
    container: Value,
    pod_ip: IpAddr,
}

impl Launch {
    fn start(&self) -> Start<'_> {
        Start {
            client: self.client.clone(),
            pod: &self.pod,
            container: &self.container,
            pod_ip: self.pod_ip,
        }
    }

    /// The election the program campaigns in, as its flags configure it (None: it works
    /// from the start).
    fn election(&self) -> Option<super::leader::Election> {
        let start = self.start();
        let pod_ip = start.pod_ip.to_string();
        let env = container_env(start.pod, start.container, &pod_ip);
        let args = container_args(start.container, &env);
        let pod_name = self
            .pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let enabled = |name: &str, default: bool| match flag(&args, name) {
            Some(v) => v != "false",
            None => default || args.iter().any(|a| a == &format!("--{name}")),
        };
        let duration = |name: &str, default: u64| {
            flag(&args, name)
                .and_then(|d| super::certmanager::spec::parse_duration(&d).ok())
                .unwrap_or(std::time::Duration::from_secs(default))
        };
        let controller_runtime_identity = || format!("{pod_name}_{}", uuid::Uuid::new_v4());
        match self.p {
            // cert-manager (cmd/controller, cmd/cainjector): --leader-elect (on by default) in
            // --leader-election-namespace (kube-system), leases of 60 s renewed within 40 s,
            // retried every 15 s unless the flags say otherwise
            Program::CertManagerController | Program::CertManagerCainjector => {
                if !enabled("leader-elect", true) {
                    return None;
                }
                let (name, identity) = if self.p == Program::CertManagerController {
                    (
                        "cert-manager-controller",
                        format!("{pod_name}-external-cert-manager-controller"),
                    )
                } else {
                    (
                        "cert-manager-cainjector-leader-election",
                        controller_runtime_identity(),
                    )
                };
                let namespace =
                    flag(&args, "leader-election-namespace").unwrap_or_else(|| "kube-system".into());
                let mut e = super::leader::Election::new(&namespace, name, &identity);
                e.lease_duration = duration("leader-election-lease-duration", 60);
                e.renew_deadline = duration("leader-election-renew-deadline", 40);
                e.retry_period = duration("leader-election-retry-period", 15);
                if self.p == Program::CertManagerController {
                    e.labels
                        .insert("app.kubernetes.io/managed-by".into(), "cert-manager".into());
                }
                Some(e)
            }
            // Argo CD's ApplicationSet controller with --enable-leader-election (the chart sets
            // it from argocd-cmd-params-cm through its environment): controller-runtime's
            // Lease in its namespace
            Program::ArgoCd(super::argocd::Component::ApplicationSetController) => {
                let on = enabled("enable-leader-election", false)
                    || env
                        .get("ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_LEADER_ELECTION")
                        .is_some_and(|v| v == "true");
                on.then(|| {
                    let ns = flag(&args, "namespace")
                        .or_else(|| env.get("NAMESPACE").cloned())
                        .unwrap_or_else(|| start.namespace());
                    super::leader::Election::new(
                        &ns,
                        "58ac56fa.applicationsets.argoproj.io",
                        &controller_runtime_identity(),
                    )
                })
            }
            _ => None,
        }
    }

    async fn launch(&self) -> Result<Stop, StartError> {
        let (p, start) = (self.p, self.start());
        let ns = start.namespace();
        let pod_ip = start.pod_ip.to_string();
        let env = container_env(start.pod, start.container, &pod_ip);
        let args = container_args(start.container, &env);
        let stop: Stop = match p {
            Program::KyvernoAdmission => {
                // Kyverno's flags and environment (cmd/kyverno, pkg/config)
                let port = flag(&args, "webhookServerPort")
                    .and_then(|p| p.parse().ok())
                    .or_else(|| container_port(start.container, "https"))
                    .unwrap_or(9443);
                let namespace = env.get("KYVERNO_NAMESPACE").cloned().unwrap_or(ns);
                let pod = super::kyverno::PodRun {
                    bind: SocketAddr::new(start.pod_ip, port),
                    deployment: env
                        .get("KYVERNO_DEPLOYMENT")
                        .cloned()
                        .unwrap_or_else(|| "kyverno".into()),
                    ca_secret: flag(&args, "caSecretName"),
                    tls_secret: flag(&args, "tlsSecretName"),
                };
                let opts = super::kyverno::KyvernoOptions {
                    namespace,
                    service_name: env
                        .get("KYVERNO_SVC")
                        .cloned()
                        .unwrap_or_else(|| "kyverno-svc".into()),
                    webhook_url: None,
                    timeout_seconds: flag(&args, "webhookTimeout")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(10),
                    enable_policy_exception: flag(&args, "enablePolicyException")
                        .is_some_and(|v| v != "false")
                        || args.iter().any(|a| a == "--enablePolicyException"),
                    exception_namespace: flag(&args, "exceptionNamespace").unwrap_or_default(),
                    ..super::kyverno::KyvernoOptions::default()
                };
                let k = super::kyverno::KyvernoStandIn::run(start.client.clone(), opts, pod)
                    .await
                    .map_err(|e| e.to_string())?;
                Box::new(move || Box::pin(k.stop_as_pod()) as futures::future::BoxFuture<'static, ()>)
            }
            Program::CertManagerController => {
                let defaults = super::certmanager::CertManagerOptions::default();
                let opts = super::certmanager::CertManagerOptions {
                    install_crds: false,
                    cluster_resource_namespace: flag(&args, "cluster-resource-namespace")
                        .unwrap_or_else(|| ns.clone()),
                    secret_owner_references: flag(&args, "enable-certificate-owner-ref")
                        .is_some_and(|v| v != "false")
                        || args.iter().any(|a| a == "--enable-certificate-owner-ref"),
                    ..defaults
                };
                let c = super::certmanager::CertManagerStandIn::install(start.client.clone(), opts)
                    .await
                    .map_err(|e| e.to_string())?;
                Box::new(move || {
                    Box::pin(async move {
                        c.shutdown(std::time::Duration::from_secs(5)).await;
                    }) as futures::future::BoxFuture<'static, ()>
                })
            }
            Program::CertManagerWebhook => {
                // cmd/webhook's flags (the chart passes all of them)
                let port = flag(&args, "secure-port")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(10250);
                let opts = super::certmanager::webhook::WebhookOptions {
                    bind: SocketAddr::new(start.pod_ip, port),
                    ca_secret_namespace: flag(&args, "dynamic-serving-ca-secret-namespace")
                        .unwrap_or_else(|| ns.clone()),
                    ca_secret_name: flag(&args, "dynamic-serving-ca-secret-name")
                        .unwrap_or_else(|| "cert-manager-webhook-ca".into()),
                    dns_names: flag(&args, "dynamic-serving-dns-names")
                        .map(|d| d.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                };
                let w = super::certmanager::webhook::Webhook::run(start.client.clone(), opts)
                    .await
                    .map_err(|e| e.to_string())?;
                Box::new(move || Box::pin(async move { drop(w) }) as futures::future::BoxFuture<'static, ()>)
            }
            Program::CertManagerCainjector => {
                let c = super::certmanager::webhook::CaInjector::run(start.client.clone(), ns);
                Box::new(move || Box::pin(async move { drop(c) }) as futures::future::BoxFuture<'static, ()>)
            }
            Program::ArgoCd(component) => {
                // argo-cd's flags: the server's --port (default 8080), --namespace or the pod's
                let port = flag(&args, "port").and_then(|p| p.parse().ok()).unwrap_or(8080);
                let opts = super::argocd::ArgoCdOptions {
                    namespace: flag(&args, "namespace")
                        .or_else(|| env.get("NAMESPACE").cloned())
                        .unwrap_or(ns),
                    ..Default::default()
                };
                let a = super::argocd::ArgoCdStandIn::run(
                    start.client.clone(),
                    opts,
                    component,
                    SocketAddr::new(start.pod_ip, port),
                )
                .await
                .map_err(|e| e.to_string())?;
                Box::new(move || {
                    Box::pin(async move {
                        a.shutdown(std::time::Duration::from_secs(5)).await;
                    }) as futures::future::BoxFuture<'static, ()>
                })
            }
            Program::ArgoCdRedisInitialPassword => {
                return Err(format!("{} runs to completion, not as a service", p.name()));
            }
        };
        Ok(stop)
    }
}

/// Runs a program that exits by itself ([`Program::runs_to_completion`]); Ok with what it
/// prints, or its error (the container's termination message).
pub async fn run_to_completion(p: Program, start: Start<'_>) -> Result<String, StartError> {
    let ns = start.namespace();
    match p {
        Program::ArgoCdRedisInitialPassword => {
            // argo-cd v3.2.0 `argocd admin redis-initial-password`: the Secret argocd-redis
            // with a random 16-character `auth`, left alone when it exists
            use k8s_openapi::api::core::v1::Secret;
            let secrets: Api<Secret> = Api::namespaced(start.client.clone(), &ns);
            let name = "argocd-redis";
            if secrets.get_opt(name).await.map_err(|e| e.to_string())?.is_none() {
                use rand::Rng;
                const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                let password: String = {
                    let mut rng = rand::rng();
                    (0..16)
                        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
                        .collect()
                };
                let secret: Secret = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name, "namespace": ns},
                    "type": "Opaque",
                    "stringData": {"auth": password},
                }))
                .map_err(|e| e.to_string())?;
                match secrets.create(&Default::default(), &secret).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(format!(
                "Argo CD Redis secret state confirmed: secret name {name}."
            ))
        }
        other => Err(format!("{} does not run to completion", other.name())),
    }
}

/// Which (cluster, namespace, component) run an instance in this process.
fn claims() -> &'static Mutex<HashSet<(String, String, Program)>> {
    static CLAIMS: OnceLock<Mutex<HashSet<(String, String, Program)>>> = OnceLock::new();
    CLAIMS.get_or_init(Default::default)
}

/// A component claimed on a cluster; dropping it releases the claim.
pub struct Claim(Option<(String, String, Program)>);

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.0.take() {
            claims().lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        }
    }
}

/// The identity of a cluster: its `kube-system` namespace's UID, as tools that need a
/// stable cluster ID take it.
async fn cluster_id(client: &Client) -> Result<String, StartError> {
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let kube_system = ns
        .get("kube-system")
        .await
        .map_err(|e| format!("reading the kube-system namespace: {e}"))?;
    Ok(kube_system.metadata.uid.unwrap_or_default())
}

/// Is `program` in `namespace` of the cluster claimed by a stand-in installed directly?
pub async fn claimed(client: &Client, namespace: &str, program: Program) -> Result<bool, StartError> {
    let key = (cluster_id(client).await?, namespace.to_string(), program);
    Ok(claims().lock().unwrap_or_else(|e| e.into_inner()).contains(&key))
}

/// Claims `program` in `namespace` of the cluster for a stand-in installed directly; None
/// when it is already claimed.
pub async fn claim(client: &Client, namespace: &str, program: Program) -> Result<Option<Claim>, StartError> {
    let key = (cluster_id(client).await?, namespace.to_string(), program);
    let mut g = claims().lock().unwrap_or_else(|e| e.into_inner());
    if !g.insert(key.clone()) {
        return Ok(None);
    }
    Ok(Some(Claim(Some(key))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_are_matched_by_repository_path_whatever_the_registry_and_tag() {
        for (image, want) in [
            (
                "reg.kyverno.io/kyverno/kyverno:v1.15.2",
                Some(Program::KyvernoAdmission),
            ),
            ("ghcr.io/kyverno/kyverno:latest", Some(Program::KyvernoAdmission)),
            (
                "123.dkr.ecr.eu-west-2.amazonaws.com/ghcr/kyverno/kyverno@sha256:abcd",
                Some(Program::KyvernoAdmission),
            ),
            ("ghcr.io/kyverno/background-controller:v1.15.2", None),
            (
                "quay.io/jetstack/cert-manager-controller:v1.21.1",
                Some(Program::CertManagerController),
            ),
            (
                "quay.io/jetstack/cert-manager-webhook:v1.21.1",
                Some(Program::CertManagerWebhook),
            ),
            (
                "quay.io/jetstack/cert-manager-cainjector:v1.21.1",
                Some(Program::CertManagerCainjector),
            ),
            ("quay.io/jetstack/cert-manager-acmesolver:v1.21.1", None),
            ("quay.io/notjetstack/cert-manager-controller:v1", None),
            ("nginx:1.27", None),
            ("quay.io/argoproj/argocd:v3.2.0", None),
            ("localhost:5000/kyverno/kyverno", Some(Program::KyvernoAdmission)),
        ] {
            assert_eq!(program_for(&json!({"image": image})), want, "{image}");
        }
        let argocd = |command: Value| json!({"image": "quay.io/argoproj/argocd:v3.2.0", "command": command});
        assert_eq!(
            program_for(&argocd(json!(["argocd", "admin", "redis-initial-password"]))),
            Some(Program::ArgoCdRedisInitialPassword)
        );
        assert_eq!(
            program_for(&argocd(json!([
                "sh",
                "-c",
                "argocd admin redis-initial-password"
            ]))),
            Some(Program::ArgoCdRedisInitialPassword)
        );
        use super::super::argocd::Component;
        for (command, want) in [
            (
                json!(["/usr/local/bin/argocd-server", "--port=8080"]),
                Some(Component::Server),
            ),
            (
                json!([
                    "/usr/local/bin/argocd-application-controller",
                    "--metrics-port=8082"
                ]),
                Some(Component::ApplicationController),
            ),
            (
                json!(["/usr/local/bin/argocd-applicationset-controller"]),
                Some(Component::ApplicationSetController),
            ),
            (
                json!(["argocd", "applicationset-controller"]),
                Some(Component::ApplicationSetController),
            ),
            // the programs the sim does not run stay simulated
            (json!(["/usr/local/bin/argocd-repo-server", "--port=8081"]), None),
            (json!(["/usr/local/bin/argocd-notifications"]), None),
            (
                json!(["/bin/cp", "-n", "/usr/local/bin/argocd", "/shared/argocd-dex"]),
                None,
            ),
        ] {
            assert_eq!(
                program_for(&argocd(command.clone())),
                want.map(Program::ArgoCd),
                "{command}"
            );
        }
        assert_eq!(repository_path("nginx"), "library/nginx");
        assert_eq!(repository_path("localhost:5000/a/b:1"), "a/b");
        assert_eq!(
            repository_path("docker.io/bitnami/kubectl:1.33"),
            "bitnami/kubectl"
        );
    }

    #[test]
    fn env_and_args_are_expanded_as_the_kubelet_expands_them() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns1", "labels": {"app": "x"}}, "spec": {"serviceAccountName": "sa"}});
        let c = json!({
            "env": [
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "SVC", "value": "svc.$(NS).svc"},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            ],
            "command": ["/ko-app/controller"],
            "args": ["--cluster-resource-namespace=$(NS)", "--x", "$(UNSET)", "$$(NS)", "--v", "2"],
        });
        let env = container_env(&pod, &c, "127.1.2.3");
        assert_eq!(env["SVC"], "svc.ns1.svc");
        assert_eq!(env["APP"], "x");
        assert_eq!(env["IP"], "127.1.2.3");
        assert!(!env.contains_key("SECRET"));
        let args = container_args(&c, &env);
        assert_eq!(
            args,
            [
                "/ko-app/controller",
                "--cluster-resource-namespace=ns1",
                "--x",
                "$(UNSET)",
                "$(NS)",
                "--v",
                "2"
            ]
        );
        assert_eq!(flag(&args, "cluster-resource-namespace").as_deref(), Some("ns1"));
        assert_eq!(flag(&args, "v").as_deref(), Some("2"));
        // a flag followed by a value takes it, as Go's flag package does for non-bool flags
        assert_eq!(flag(&args, "x").as_deref(), Some("$(UNSET)"));
        assert_eq!(flag(&args, "missing"), None);
    }
}

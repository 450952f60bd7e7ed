//! Bootstrap, the same for every provider: Argo CD on the hub, every enabled cluster
//! registered with it (spokes with a static ServiceAccount token), then the bootstrap
//! Application of the platform repository at the revision under test.
//!
//! The hub's cluster Secrets are shaped exactly as the platform's cluster-registration chart
//! (charts/cluster-registration/templates/secret.yaml) renders them from a cluster
//! definition with `revision_overrides` set to the revision under test, so every
//! ApplicationSet templating `{{ .metadata.annotations.platform_revision }}` deploys it.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use crate::definition::{ClusterDefinition, ClusterType};
use crate::environment::{Cluster, Environment, IN_CLUSTER, ProviderKind};
use crate::error::{Error, Result};
use crate::kube_util::{apply, wait_for};
use crate::progress::Progress;
use crate::revision::Revision;

/// Argo CD's namespace.
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// The argo-cd chart (one pin, shared with the sim's stand-in, which presents itself as it).
pub const ARGOCD_CHART_VERSION: &str = hubspoke_sim::standins::argocd::CHART_VERSION;
pub const ARGOCD_CHART_REPO: &str = "https://argoproj.github.io/argo-helm";
/// Argo CD's names for the spoke-side identity (util/clusterauth), as `argocd cluster add`.
pub const MANAGER_SERVICE_ACCOUNT: &str = "argocd-manager";
pub const MANAGER_NAMESPACE: &str = "kube-system";
pub const MANAGER_CLUSTER_ROLE: &str = "argocd-manager-role";
pub const MANAGER_CLUSTER_ROLE_BINDING: &str = "argocd-manager-role-binding";
pub const MANAGER_TOKEN_SECRET: &str = "argocd-manager-long-lived-token";
/// Where the registration probe deploys, and the repository path it deploys from.
pub const PROBE_NAMESPACE: &str = "hubspoke-probe";
pub const DEFAULT_PROBE_PATH: &str = "fixtures/probe";

/// The name of a cluster's Secret on the hub.
pub fn cluster_secret_name(cluster: &str) -> String {
    format!("cluster-{cluster}")
}

/// How bootstrap behaves.
#[derive(Clone, Debug)]
pub struct BootstrapOptions {
    pub revision: Revision,
    /// The repository path the registration probe deploys (a Namespace and a ConfigMap).
    pub probe_path: String,
    /// The deadline of each wait.
    pub timeout: Duration,
    /// Apply the bootstrap Application (off: register only).
    pub bootstrap_application: bool,
    /// Credentials for the platform repository: written into Argo CD's repository Secret
    /// (`argocd/hubspoke-repository`) before anything clones from it.
    pub repository_credentials: Option<crate::repository::Credentials>,
}

/// The Applications in Argo CD's namespace on the hub.
pub fn applications(hub: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    };
    Api::namespaced_with(hub.clone(), ARGOCD_NAMESPACE, &ar)
}

fn kube_err(cluster: &str, what: &str) -> impl Fn(kube::Error) -> Error {
    let (cluster, what) = (cluster.to_string(), what.to_string());
    move |e| Error::env(format!("cluster {cluster}: {what}: {e}"))
}

/// Installs Argo CD on the hub and waits for it. For `sim`, starts the stand-in (returned
/// so the caller keeps it running); otherwise runs `helm upgrade --install` of the pinned
/// chart with an explicit `--kube-context`, then watches its workloads become ready.
pub async fn install_argocd(
    env: &mut Environment,
    opts: &BootstrapOptions,
    progress: &Progress,
) -> Result<()> {
    let step = progress.step("installing Argo CD on the hub");
    let hub = env.hub.clone();
    match env.provider {
        ProviderKind::Sim => {
            let mut repos = hubspoke_sim::standins::argocd::Repositories::new();
            if let Some(checkout) = &opts.revision.checkout {
                // the platform repository (by any URL the definitions use) is the local
                // checkout, so unpushed commits are what gets validated
                repos.add(&opts.revision.repository, checkout);
                for d in env.clusters().map(|c| &c.definition) {
                    repos.add(&d.platform_repository, checkout);
                    repos.add(&d.tenant_repository, checkout);
                }
                let _ = repos.add_checkout(checkout);
            }
            let standin = hubspoke_sim::standins::argocd::ArgoCdStandIn::install(
                hub.client.clone(),
                hubspoke_sim::standins::argocd::ArgoCdOptions {
                    namespace: ARGOCD_NAMESPACE.into(),
                    repositories: repos,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Error::env(format!("cluster {}: {e}", hub.name)))?;
            let renditions = standin.renditions();
            env.notices.push(Box::new(move || renditions.notices()));
            env.runtime.push(Box::new(standin));
        }
        ProviderKind::Kind | ProviderKind::Existing | ProviderKind::Eks => {
            step.set(&format!("helm upgrade --install argo-cd {ARGOCD_CHART_VERSION}"));
            helm_install_argocd(&hub).await?;
        }
    }
    match wait_argocd_ready(&hub, opts.timeout, &step).await {
        Ok(()) => {
            step.done(&format!("argo-cd chart {ARGOCD_CHART_VERSION}"));
            Ok(())
        }
        Err(e) => {
            step.fail("not ready");
            Err(e)
        }
    }
}

/// `helm upgrade --install` of the pinned argo-cd chart with its own defaults (annotation
/// tracking, `argocd.argoproj.io/instance` as the instance label key): the suites read the
/// tracking from `argocd-cm`, so whatever a platform configures there is checked as Argo CD
/// applies it.
async fn helm_install_argocd(hub: &Cluster) -> Result<()> {
    let args: Vec<String> = vec![
        "upgrade".into(),
        "--install".into(),
        "argocd".into(),
        "argo-cd".into(),
        "--repo".into(),
        ARGOCD_CHART_REPO.into(),
        "--version".into(),
        ARGOCD_CHART_VERSION.into(),
        "--namespace".into(),
        ARGOCD_NAMESPACE.into(),
        "--create-namespace".into(),
        "--kubeconfig".into(),
        hub.kubeconfig.to_string_lossy().into_owned(),
        "--kube-context".into(),
        hub.context.clone(),
    ];
    let out = crate::tools::run("helm", &args).await?;
    if !out.success {
        return Err(Error::env(format!(
            "helm could not install Argo CD on {} (context {}): {}",
            hub.name,
            hub.context,
            out.stderr.trim()
        )));
    }
    Ok(())
}

/// Waits, by watching, for the Application CRD to be established and Argo CD's workloads
/// (where the chart's exist) to be ready.
async fn wait_argocd_ready(hub: &Cluster, within: Duration, step: &crate::progress::Step) -> Result<()> {
    step.set("waiting for the Application CRD");
    let crds: Api<CustomResourceDefinition> = Api::all(hub.client.clone());
    wait_for(
        crds,
        "applications.argoproj.io",
        kube::runtime::wait::conditions::is_crd_established(),
        within,
        "Argo CD's Application CRD",
        |c| match c {
            None => "not installed".into(),
            Some(c) => format!("{:?}", c.status.as_ref().and_then(|s| s.conditions.clone())),
        },
    )
    .await
    .map_err(|e| Error::env(format!("cluster {}: {e}", hub.name)))?;
    let deployments: Api<Deployment> = Api::namespaced(hub.client.clone(), ARGOCD_NAMESPACE);
    for name in [
        "argocd-server",
        "argocd-repo-server",
        "argocd-applicationset-controller",
    ] {
        if deployments
            .get_opt(name)
            .await
            .map_err(kube_err(&hub.name, name))?
            .is_none()
        {
            continue;
        }
        step.set(&format!("waiting for {name}"));
        wait_for(
            deployments.clone(),
            name,
            |d: Option<&Deployment>| {
                d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
                    s.conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == "Available" && c.status == "True")
                })
            },
            within,
            "Argo CD",
            |d| {
                d.and_then(|d| d.status.as_ref())
                    .map(|s| {
                        format!(
                            "{} of {} replicas ready",
                            s.ready_replicas.unwrap_or(0),
                            s.replicas.unwrap_or(0)
                        )
                    })
                    .unwrap_or_else(|| "no status".into())
            },
        )
        .await
        .map_err(|e| Error::env(format!("cluster {}: {e}", hub.name)))?;
    }
    let sets: Api<StatefulSet> = Api::namespaced(hub.client.clone(), ARGOCD_NAMESPACE);
    let name = "argocd-application-controller";
    if sets
        .get_opt(name)
        .await
        .map_err(kube_err(&hub.name, name))?
        .is_some()
    {
        step.set(&format!("waiting for {name}"));
        wait_for(
            sets,
            name,
            |s: Option<&StatefulSet>| {
                s.is_some_and(|s| {
                    let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    s.status.as_ref().and_then(|st| st.ready_replicas).unwrap_or(0) >= want
                })
            },
            within,
            "Argo CD",
            |s| {
                s.and_then(|s| s.status.as_ref())
                    .map(|st| {
                        format!(
                            "{} of {} replicas ready",
                            st.ready_replicas.unwrap_or(0),
                            st.replicas
                        )
                    })
                    .unwrap_or_else(|| "no status".into())
            },
        )
        .await
        .map_err(|e| Error::env(format!("cluster {}: {e}", hub.name)))?;
    }
    Ok(())
}

/// The hub Secret for a cluster, as the registration chart renders it with the revision
/// overrides: labels, annotations, and stringData name/server/config.
pub fn cluster_secret(
    def: &ClusterDefinition,
    server: &str,
    config: Option<&Value>,
    revision: Option<&Revision>,
) -> Value {
    // the chart's values.yaml defaults are deep-merged with the definition by helm
    let mut labels: BTreeMap<String, String> =
        BTreeMap::from([("app.kubernetes.io/managed-by".to_string(), "argocd".to_string())]);
    labels.extend(def.labels.clone());
    labels.insert("argocd.argoproj.io/secret-type".into(), "cluster".into());
    labels.insert("enable_core".into(), "true".into());
    if matches!(def.cluster_type, ClusterType::Hub | ClusterType::Standalone) {
        labels.insert("enable_argocd".into(), "true".into());
    }
    labels.insert("cluster_name".into(), def.cluster_name.clone());
    labels.insert("cluster_type".into(), def.cluster_type.to_string());
    labels.insert("cloud_vendor".into(), def.cloud_vendor.clone());
    labels.insert("environment".into(), def.environment.clone());

    let (platform_repository, platform_revision, tenant_repository, tenant_revision) = match revision {
        Some(r) => (
            r.repository.clone(),
            r.revision.clone(),
            if def.tenant_repository == def.platform_repository {
                r.repository.clone()
            } else {
                def.tenant_repository.clone()
            },
            r.revision.clone(),
        ),
        None => (
            def.platform_repository.clone(),
            def.platform_revision.clone(),
            def.tenant_repository.clone(),
            def.tenant_revision.clone(),
        ),
    };
    let mut annotations: BTreeMap<String, String> =
        BTreeMap::from([("app.kubernetes.io/managed-by".to_string(), "argocd".to_string())]);
    annotations.extend(def.annotations.clone());
    let or_dot = |p: &str| {
        if p.is_empty() {
            ".".to_string()
        } else {
            p.to_string()
        }
    };
    annotations.insert("cloud_vendor".into(), def.cloud_vendor.clone());
    annotations.insert("platform_path".into(), or_dot(&def.platform_path));
    annotations.insert("platform_repository".into(), platform_repository);
    annotations.insert("platform_revision".into(), platform_revision);
    annotations.insert("tenant_repository".into(), tenant_repository);
    annotations.insert("tenant_revision".into(), tenant_revision);
    annotations.insert("tenant_path".into(), or_dot(&def.tenant_path));
    annotations.insert(
        "tenant".into(),
        if def.tenant.is_empty() {
            "unknown".into()
        } else {
            def.tenant.clone()
        },
    );

    let mut string_data = serde_json::Map::new();
    string_data.insert("name".into(), def.cluster_name.clone().into());
    string_data.insert("server".into(), server.into());
    if let Some(c) = config {
        // helm's toJson: Go marshals maps with sorted keys
        string_data.insert("config".into(), sorted_json(c).into());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": cluster_secret_name(&def.cluster_name),
            "namespace": ARGOCD_NAMESPACE,
            "labels": labels,
            "annotations": annotations,
        },
        "type": "Opaque",
        "stringData": string_data,
    })
}

/// Compact JSON with object keys sorted, as Go's encoding/json writes maps.
fn sorted_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(v)).unwrap_or_default()
}

/// What registering a spoke produced.
#[derive(Clone)]
pub struct Registration {
    pub cluster: String,
    /// The ServiceAccount token the hub uses (never logged); none for an EKS spoke, which
    /// the hub's Argo CD reaches as the IAM role in its `awsAuthConfig`.
    pub token: Option<String>,
    pub server: String,
    pub ca_pem: String,
}

/// The `config` of an EKS spoke's cluster Secret: Argo CD makes its own EKS tokens as the
/// spoke's role (`argocd-k8s-auth aws --cluster-name … --role-arn …`), so there is no
/// credential in it, and it trusts the CA terraform reported.
pub fn aws_cluster_config(aws: &crate::environment::AwsCluster) -> Option<Value> {
    let role = aws.role_arn.as_ref()?;
    Some(json!({
        "awsAuthConfig": {"clusterName": aws.cluster_name, "roleARN": role},
        "tlsClientConfig": {"insecure": false, "caData": aws.ca_data},
    }))
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("cluster", &self.cluster)
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Creates the spoke-side identity Argo CD uses (ServiceAccount, ClusterRole and binding,
/// long-lived token Secret, as `argocd cluster add` does) and waits until the token
/// controller has filled in the token.
pub async fn create_spoke_identity(spoke: &Cluster, within: Duration) -> Result<(String, Option<String>)> {
    let c = &spoke.client;
    let err = |what: &'static str| kube_err(&spoke.name, what);
    let managed = json!({"app.kubernetes.io/managed-by": "hubspoke"});
    apply(
        &Api::<ServiceAccount>::namespaced(c.clone(), MANAGER_NAMESPACE),
        &json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": MANAGER_SERVICE_ACCOUNT, "namespace": MANAGER_NAMESPACE, "labels": managed}}),
    )
    .await
    .map_err(err("creating the ServiceAccount kube-system/argocd-manager"))?;
    apply(
        &Api::<ClusterRole>::all(c.clone()),
        &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": MANAGER_CLUSTER_ROLE, "labels": managed},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ]}),
    )
    .await
    .map_err(err("creating the ClusterRole argocd-manager-role"))?;
    apply(
        &Api::<ClusterRoleBinding>::all(c.clone()),
        &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": MANAGER_CLUSTER_ROLE_BINDING, "labels": managed},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": MANAGER_CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": MANAGER_SERVICE_ACCOUNT, "namespace": MANAGER_NAMESPACE}]}),
    )
    .await
    .map_err(err("creating the ClusterRoleBinding argocd-manager-role-binding"))?;
    let secrets = Api::<Secret>::namespaced(c.clone(), MANAGER_NAMESPACE);
    apply(
        &secrets,
        &json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": MANAGER_TOKEN_SECRET, "namespace": MANAGER_NAMESPACE, "labels": managed,
                "annotations": {"kubernetes.io/service-account.name": MANAGER_SERVICE_ACCOUNT}}}),
    )
    .await
    .map_err(err(
        "creating the token Secret kube-system/argocd-manager-long-lived-token",
    ))?;
    let secret = wait_for(
        secrets,
        MANAGER_TOKEN_SECRET,
        |s: Option<&Secret>| {
            s.and_then(|s| s.data.as_ref())
                .is_some_and(|d| d.get("token").is_some_and(|t| !t.0.is_empty()))
        },
        within,
        "the ServiceAccount token",
        |s| match s {
            None => "the Secret does not exist".into(),
            Some(_) => "the token controller has not filled in data.token".into(),
        },
    )
    .await
    .map_err(|e| Error::env(format!("cluster {}: {e}", spoke.name)))?;
    let data = secret.data.unwrap_or_default();
    let token = String::from_utf8_lossy(&data["token"].0).into_owned();
    let ca = data
        .get("ca.crt")
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    Ok((token, ca))
}

/// Registers one enabled spoke: its Secret on the hub, with (for a static token) its
/// identity on the spoke first, or (EKS) the role the hub's Argo CD assumes.
pub async fn register_spoke(
    hub: &Cluster,
    spoke: &Cluster,
    revision: Option<&Revision>,
    within: Duration,
) -> Result<Registration> {
    let (config, token, ca_pem) = match spoke.aws.as_ref().and_then(aws_cluster_config) {
        Some(config) => (config, None, spoke.ca_pem.clone().unwrap_or_default()),
        None => {
            let (token, secret_ca) = create_spoke_identity(spoke, within).await?;
            let ca_pem = spoke.ca_pem.clone().or(secret_ca).ok_or_else(|| {
                Error::env(format!(
                    "cluster {}: no CA certificate is known for it (neither from the provider nor in the token Secret's ca.crt)",
                    spoke.name
                ))
            })?;
            let config = json!({
                "bearerToken": token,
                "tlsClientConfig": {
                    "insecure": false,
                    "caData": base64::engine::general_purpose::STANDARD.encode(&ca_pem),
                },
            });
            (config, Some(token), ca_pem)
        }
    };
    let secret = cluster_secret(&spoke.definition, &spoke.server_from_hub, Some(&config), revision);
    write_hub_secret(hub, &secret, &format!("the Secret argocd/cluster-{}", spoke.name)).await?;
    Ok(Registration {
        cluster: spoke.name.clone(),
        token,
        server: spoke.server_from_hub.clone(),
        ca_pem,
    })
}

/// Registers the hub itself (in-cluster), as the chart does for the hub's definition.
pub async fn register_hub(hub: &Cluster, revision: Option<&Revision>) -> Result<()> {
    let secret = cluster_secret(&hub.definition, IN_CLUSTER, None, revision);
    write_hub_secret(hub, &secret, "the Secret argocd/cluster-hub").await
}

/// Server-side applies a Secret in Argo CD's namespace on the hub; `what` names it in the
/// error.
async fn write_hub_secret(hub: &Cluster, secret: &Value, what: &str) -> Result<()> {
    apply(
        &Api::<Secret>::namespaced(hub.client.clone(), ARGOCD_NAMESPACE),
        secret,
    )
    .await
    .map_err(kube_err(&hub.name, &format!("writing {what}")))?;
    Ok(())
}

/// The ApplicationSet a platform's bootstrap overlay creates from the hub's cluster
/// definition, in the convention hubspoke serves: its first generator is a git generator
/// whose `values` carry `override_platform` and `override_tenant` ("ignore" when the
/// definition's revisions stand).
pub const PLATFORM_SET: &str = "system-platform";

/// The bootstrap Application: the platform's content for the hub (its definition's
/// platform_path) from the platform repository at the revision under test.
///
/// When that path is a kustomization (`kustomize` is true), the Application carries the
/// patches the convention's installer (the platform module that bootstraps a hub) gives
/// it: [`PLATFORM_SET`]'s git generator reads the hub's own definition from the tenant
/// repository at the revision under test, with that revision as both overrides, so what the
/// platform renders from its definitions (its registration chart's cluster Secrets
/// included) targets the revision under test too. A kustomization without that
/// ApplicationSet is left as it is (a patch whose target matches nothing changes nothing).
pub fn bootstrap_application(hub: &ClusterDefinition, revision: &Revision, kustomize: bool) -> Value {
    let mut source = json!({
        "repoURL": revision.repository,
        "targetRevision": revision.revision,
        "path": hub.platform_path,
    });
    if kustomize {
        let tenant_repository = if hub.tenant_repository == hub.platform_repository {
            revision.repository.clone()
        } else {
            hub.tenant_repository.clone()
        };
        let definition = match hub.tenant_path.trim_matches('/') {
            "" | "." => format!("clusters/{}.yaml", hub.cluster_name),
            p => format!("{p}/clusters/{}.yaml", hub.cluster_name),
        };
        let ops = json!([
            {"op": "replace", "path": "/spec/generators/0/git/repoURL", "value": tenant_repository},
            {"op": "replace", "path": "/spec/generators/0/git/revision", "value": revision.revision},
            {"op": "replace", "path": "/spec/generators/0/git/files/0/path", "value": definition},
            {"op": "replace", "path": "/spec/generators/0/git/values/override_platform", "value": revision.revision},
            {"op": "replace", "path": "/spec/generators/0/git/values/override_tenant", "value": revision.revision},
        ]);
        source["kustomize"] = json!({
            "patches": [{
                "target": {"group": "argoproj.io", "kind": "ApplicationSet", "name": PLATFORM_SET},
                "patch": serde_json::to_string(&ops).expect("JSON values serialise"),
            }],
        });
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "bootstrap",
            "namespace": ARGOCD_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "hubspoke"},
        },
        "spec": {
            "project": "default",
            "source": source,
            "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE},
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                "retry": {"limit": 20, "backoff": {"duration": "5s", "maxDuration": "1m"}},
                "syncOptions": ["CreateNamespace=false", "ServerSideApply=true"],
            },
        },
    })
}

/// Whether `dir` (the platform path in the checkout) is a kustomization, as kustomize
/// finds one: kustomization.yaml, kustomization.yml or Kustomization.
pub fn is_kustomization(dir: &std::path::Path) -> bool {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

/// The whole bootstrap: Argo CD, registrations (spokes concurrently), the registration
/// check, the bootstrap Application.
pub async fn bootstrap(
    env: &mut Environment,
    opts: &BootstrapOptions,
    progress: &Progress,
) -> Result<Vec<Registration>> {
    install_argocd(env, opts, progress).await?;
    let revision = Some(&opts.revision);
    let step = progress.step(format!("registering {} spoke(s) with the hub", env.spokes.len()));
    let hub = env.hub.clone();
    let ns: Api<Namespace> = Api::all(hub.client.clone());
    apply(
        &ns,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ARGOCD_NAMESPACE}}),
    )
    .await
    .map_err(kube_err(&hub.name, "creating the argocd namespace"))?;
    if let Some(creds) = &opts.repository_credentials {
        // before the probe Applications and the bootstrap clone from it
        let secret = crate::repository::repository_secret(ARGOCD_NAMESPACE, &opts.revision.repository, creds);
        let what = format!(
            "Argo CD's repository Secret {ARGOCD_NAMESPACE}/{}",
            crate::repository::REPOSITORY_SECRET
        );
        write_hub_secret(&hub, &secret, &what).await?;
    }
    register_hub(&hub, revision).await?;
    let results = futures::future::join_all(
        env.spokes
            .iter()
            .filter(|s| s.definition.enabled)
            .map(|s| register_spoke(&hub, s, revision, opts.timeout)),
    )
    .await;
    let mut registrations = Vec::new();
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(r) => registrations.push(r),
            Err(e) => failures.push(e.message),
        }
    }
    if !failures.is_empty() {
        let msg = failures.join("; ");
        step.fail(&msg);
        return Err(Error::env(msg));
    }
    step.done(
        &registrations
            .iter()
            .map(|r| r.cluster.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let step = progress.step("checking the registrations (token and a probe Application per spoke)");
    match check_registration(env, opts).await {
        Ok(()) => step.done("every spoke answers its token and is reachable from the hub"),
        Err(e) => {
            step.fail("see below");
            return Err(e);
        }
    }
    if opts.bootstrap_application {
        let step = progress.step(format!(
            "applying the bootstrap Application ({} at {})",
            env.hub.definition.platform_path, opts.revision.revision
        ));
        let apps = applications(&hub.client);
        let kustomize = opts
            .revision
            .checkout
            .as_ref()
            .is_some_and(|c| is_kustomization(&c.join(&env.hub.definition.platform_path)));
        apply(
            &apps,
            &bootstrap_application(&hub.definition, &opts.revision, kustomize),
        )
        .await
        .map_err(kube_err(&hub.name, "applying the bootstrap Application"))?;
        step.done(if kustomize {
            "applied (a kustomization: its system-platform ApplicationSet, if any, reads the hub's definition at this revision, as the platform installer sets it)"
        } else {
            "applied"
        });
    }
    env.revision = Some(opts.revision.clone());
    Ok(registrations)
}

/// For each enabled spoke: the token in its hub Secret works (a request with it succeeds),
/// and the hub reaches the spoke (a probe Application deploying to it becomes Synced; it is
/// deleted afterwards, pruning what it made). All spokes are checked concurrently; the
/// error names each failing spoke and why.
pub async fn check_registration(env: &Environment, opts: &BootstrapOptions) -> Result<()> {
    let results = futures::future::join_all(
        env.spokes
            .iter()
            .filter(|s| s.definition.enabled)
            .map(|s| async move { (s.name.clone(), check_spoke(env, s, opts).await) }),
    )
    .await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(name, r)| r.err().map(|e| format!("spoke {name}: {e}")))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::check(format!(
            "registration check failed:\n  {}",
            failures.join("\n  ")
        )))
    }
}

/// A client built only from a cluster Secret on the hub, as Argo CD builds one; `server`
/// replaces the Secret's server when the hub's address for the spoke is not reachable from
/// here (kind's internal names).
pub async fn client_from_cluster_secret(
    secret: &Secret,
    server: Option<&str>,
) -> std::result::Result<kube::Client, String> {
    let data = secret.data.clone().unwrap_or_default();
    let field = |k: &str| data.get(k).map(|b| String::from_utf8_lossy(&b.0).into_owned());
    let server = match server {
        Some(s) => s.to_string(),
        None => field("server").ok_or("the Secret has no server")?,
    };
    let config: Value = serde_json::from_str(&field("config").ok_or("the Secret has no config")?)
        .map_err(|e| format!("its config is not JSON: {e}"))?;
    let token = config["bearerToken"]
        .as_str()
        .ok_or("its config has no bearerToken")?;
    let mut cluster = json!({"server": server});
    if let Some(ca) = config.pointer("/tlsClientConfig/caData").and_then(Value::as_str) {
        cluster["certificate-authority-data"] = ca.into();
    }
    if config.pointer("/tlsClientConfig/insecure") == Some(&Value::Bool(true)) {
        cluster["insecure-skip-tls-verify"] = true.into();
    }
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    crate::kube_util::client_from_yaml(&kubeconfig.to_string(), None).await
}

async fn check_spoke(
    env: &Environment,
    spoke: &Cluster,
    opts: &BootstrapOptions,
) -> std::result::Result<(), String> {
    let hub = &env.hub;
    let name = cluster_secret_name(&spoke.name);
    let secrets: Api<Secret> = Api::namespaced(hub.client.clone(), ARGOCD_NAMESPACE);
    let secret = secrets
        .get_opt(&name)
        .await
        .map_err(|e| format!("reading its Secret argocd/{name} on the hub: {e}"))?
        .ok_or_else(|| format!("the hub has no Secret argocd/{name}; it is not registered"))?;
    if let Some(aws) = &spoke.aws {
        // no token to try: the hub's Argo CD authenticates as the spoke's IAM role, which
        // this process need not be allowed to assume; the probe shows whether it works
        let want = aws_cluster_config(aws);
        let got = secret
            .data
            .as_ref()
            .and_then(|d| d.get("config"))
            .and_then(|b| serde_json::from_slice::<Value>(&b.0).ok());
        if want.is_some()
            && got.as_ref().map(|g| &g["awsAuthConfig"]) != want.as_ref().map(|w| &w["awsAuthConfig"])
        {
            return Err(format!(
                "the awsAuthConfig in argocd/{name} is {}, terraform's outputs say {}; register it again with `hubspoke up --env eks --reuse`",
                got.as_ref()
                    .map(|g| g["awsAuthConfig"].to_string())
                    .unwrap_or_else(|| "missing".into()),
                want.map(|w| w["awsAuthConfig"].to_string()).unwrap_or_default()
            ));
        }
        return probe(env, spoke, opts).await;
    }
    // the token: from here, at the address we reach the spoke at (the hub's may be internal)
    let here = spoke_address_from_here(spoke).await;
    let client = client_from_cluster_secret(&secret, here.as_deref())
        .await
        .map_err(|e| format!("the Secret argocd/{name} cannot be used: {e}"))?;
    let version = tokio::time::timeout(opts.timeout, client.apiserver_version()).await;
    match version {
        Ok(Ok(_)) => {}
        Ok(Err(kube::Error::Api(s))) if s.code == 401 => {
            return Err(format!(
                "the token in the hub's Secret argocd/{name} is rejected by the spoke (401 Unauthorized: revoked, or the ServiceAccount was deleted); register it again with `hubspoke up` (--reuse keeps the clusters)"
            ));
        }
        Ok(Err(e)) => return Err(format!("a request with the token in argocd/{name} failed: {e}")),
        Err(_) => {
            return Err(format!(
                "a request with the token in argocd/{name} got no answer within {}s",
                opts.timeout.as_secs()
            ));
        }
    }
    // the hub's view: a probe Application deploying to the spoke
    probe(env, spoke, opts).await
}

/// The spoke's API server as this process reaches it (its kubeconfig's server).
async fn spoke_address_from_here(spoke: &Cluster) -> Option<String> {
    let kc = kube::config::Kubeconfig::read_from(&spoke.kubeconfig).ok()?;
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == spoke.context)?
        .context
        .clone()?;
    kc.clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
}

/// The label on hubspoke's own probe Applications, which the convergence checks and the
/// timeline leave out (they come and go while the checks run).
pub const PROBE_LABEL: &str = "hubspoke.io/probe";

/// Whether an object is one of hubspoke's probes.
pub fn is_probe(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    meta.labels.as_ref().is_some_and(|l| l.contains_key(PROBE_LABEL))
}

fn probe_name(spoke: &str) -> String {
    format!("hubspoke-probe-{spoke}")
}

async fn probe(
    env: &Environment,
    spoke: &Cluster,
    opts: &BootstrapOptions,
) -> std::result::Result<(), String> {
    let apps = applications(&env.hub.client);
    let name = probe_name(&spoke.name);
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": ARGOCD_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "hubspoke", (PROBE_LABEL): spoke.name},
            "finalizers": [hubspoke_sim::standins::argocd::FINALIZER],
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": opts.revision.repository, "targetRevision": opts.revision.revision, "path": opts.probe_path},
            "destination": {"server": spoke.server_from_hub, "namespace": PROBE_NAMESPACE},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    });
    apply(&apps, &app)
        .await
        .map_err(|e| format!("creating the probe Application argocd/{name} on the hub: {e}"))?;
    let result = wait_for(
        apps.clone(),
        &name,
        |a: Option<&DynamicObject>| {
            a.is_some_and(|a| {
                a.data.pointer("/status/sync/status").and_then(Value::as_str) == Some("Synced")
                    && a.data
                        .pointer("/status/operationState/phase")
                        .and_then(Value::as_str)
                        == Some("Succeeded")
            })
        },
        opts.timeout,
        &format!(
            "the probe Application argocd/{name} (deploying {} to the spoke)",
            opts.probe_path
        ),
        |a| match a {
            None => "it does not exist".into(),
            Some(a) => describe_app(&a.data),
        },
    )
    .await;
    // delete it either way; its finalizer prunes what it deployed from the spoke
    let deleted = apps.delete(&name, &DeleteParams::foreground()).await;
    if result.is_ok() && deleted.is_ok() {
        let _ = wait_for(
            apps,
            &name,
            |a: Option<&DynamicObject>| a.is_none(),
            opts.timeout,
            "deleting the probe Application",
            |_| "still there".into(),
        )
        .await;
    }
    result
        .map(|_| ())
        .map_err(|e| format!("the hub cannot deploy to it: {e}"))
}

/// An Application's state in one line: sync, health, conditions, operation message.
pub fn describe_app(a: &Value) -> String {
    let s = |p: &str| a.pointer(p).and_then(Value::as_str).unwrap_or("-").to_string();
    let mut out = format!(
        "sync {} health {} operation {}",
        s("/status/sync/status"),
        s("/status/health/status"),
        s("/status/operationState/phase")
    );
    if let Some(m) = a
        .pointer("/status/operationState/message")
        .and_then(Value::as_str)
    {
        out.push_str(&format!(" ({m})"));
    }
    for c in a
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "; {}: {}",
            c["type"].as_str().unwrap_or("?"),
            c["message"].as_str().unwrap_or("")
        ));
    }
    out
}

//! The `existing` provider: adopts running clusters from kubeconfig contexts, named by
//! flags (`--hub-context`, `--spoke NAME=CONTEXT`) or a small file:
//!
//! ```yaml
//! kubeconfig: ~/.kube/config        # optional: $KUBECONFIG, then ~/.kube/config
//! hub:
//!   context: prod-hub
//! spokes:
//!   spoke-a:
//!     context: prod-spoke-a
//!     server_from_hub: https://10.0.4.2:6443   # optional: the context's server
//! ```
//!
//! Nothing is created; `down` removes only what hubspoke's bootstrap added (the hub's
//! cluster Secrets for the spokes, the bootstrap Application, the spokes' argocd-manager
//! identity).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams};
use serde::Deserialize;

use crate::bootstrap::{
    ARGOCD_NAMESPACE, MANAGER_CLUSTER_ROLE, MANAGER_CLUSTER_ROLE_BINDING, MANAGER_NAMESPACE,
    MANAGER_SERVICE_ACCOUNT, MANAGER_TOKEN_SECRET, cluster_secret_name,
};
use crate::environment::{Cluster, Environment, IN_CLUSTER, ProviderKind, Role, State, role_of};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::providers::{Provider, UpPlan, remove_state};

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExistingConfig {
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    pub hub: ContextRef,
    #[serde(default)]
    pub spokes: BTreeMap<String, ContextRef>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContextRef {
    pub context: String,
    #[serde(default)]
    pub server_from_hub: Option<String>,
}

impl ExistingConfig {
    /// Reads the config file; errors name the file and what to fix.
    pub fn read(path: &Path) -> Result<ExistingConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("{}: cannot read it: {e}", path.display())))?;
        serde_saphyr::from_str(&text).map_err(|e| {
            let e = crate::yaml::syntax_error(&e);
            Error::input(format!(
                "{}:{}:{}: {}; the file holds kubeconfig (optional), hub: {{context}} and spokes: {{<name>: {{context, server_from_hub}}}}",
                path.display(),
                e.pos.line,
                e.pos.column,
                e.message
            ))
        })
    }

    /// From `--hub-context` and `--spoke NAME=CONTEXT` flags.
    pub fn from_flags(kubeconfig: Option<PathBuf>, hub: &str, spokes: &[String]) -> Result<ExistingConfig> {
        let mut map = BTreeMap::new();
        for s in spokes {
            let Some((name, ctx)) = s.split_once('=') else {
                return Err(Error::input(format!(
                    "--spoke {s:?}: expected NAME=CONTEXT, e.g. --spoke spoke-a=kind-spoke-a"
                )));
            };
            map.insert(
                name.to_string(),
                ContextRef {
                    context: ctx.to_string(),
                    server_from_hub: None,
                },
            );
        }
        Ok(ExistingConfig {
            kubeconfig,
            hub: ContextRef {
                context: hub.to_string(),
                server_from_hub: None,
            },
            spokes: map,
        })
    }
}

pub struct ExistingProvider {
    pub config: ExistingConfig,
}

fn default_kubeconfig() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("KUBECONFIG") {
        // the first of a list, as kubectl's precedence goes
        return std::env::split_paths(&k).next();
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config"))
}

fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// The server and CA (PEM) of `context` in the kubeconfig.
fn context_server(kc: &kube::config::Kubeconfig, context: &str) -> Option<(String, Option<String>)> {
    let ctx = kc.contexts.iter().find(|c| c.name == context)?.context.clone()?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)?
        .cluster
        .clone()?;
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(b64), _) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        (None, Some(file)) => std::fs::read_to_string(file).ok(),
        _ => None,
    };
    Some((cluster.server?, ca))
}

impl Provider for ExistingProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Existing
    }

    async fn up(&self, plan: &UpPlan, progress: &Progress) -> Result<Environment> {
        let cfg = &self.config;
        let path = cfg
            .kubeconfig
            .as_deref()
            .map(expand_home)
            .or_else(default_kubeconfig)
            .ok_or_else(|| Error::input("no kubeconfig: pass --kubeconfig or set KUBECONFIG"))?;
        let path = std::fs::canonicalize(&path)
            .map_err(|e| Error::input(format!("{}: cannot read the kubeconfig: {e}", path.display())))?;
        let kc = kube::config::Kubeconfig::read_from(&path)
            .map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
        let members = plan.members();
        for name in cfg.spokes.keys() {
            if !members.iter().any(|d| &d.cluster_name == name) {
                return Err(Error::input(format!(
                    "a context is given for spoke {name}, but no enabled definition in {} names it (defined: {})",
                    plan.definitions.dir.display(),
                    members
                        .iter()
                        .map(|d| d.cluster_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let step = progress.step(format!(
            "adopting {} clusters from {}",
            members.len(),
            path.display()
        ));
        let mut hub = None;
        let mut spokes = Vec::new();
        for def in members {
            let role = role_of(def).unwrap_or(Role::Spoke);
            let r = match role {
                Role::Hub => &cfg.hub,
                Role::Spoke => cfg.spokes.get(&def.cluster_name).ok_or_else(|| {
                    Error::input(format!(
                        "spoke {} has no context; name it with --spoke {}=<context> (or under spokes: in the config file)",
                        def.cluster_name, def.cluster_name
                    ))
                })?,
            };
            let (server, ca) = context_server(&kc, &r.context).ok_or_else(|| {
                Error::input(format!(
                    "{}: no context {:?} (or its cluster has no server); contexts: {}",
                    path.display(),
                    r.context,
                    kc.contexts
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let client = crate::kube_util::client_from_kubeconfig(&path, Some(&r.context))
                .await
                .map_err(|e| Error::env(format!("cluster {}: {e}", def.cluster_name)))?;
            client.apiserver_version().await.map_err(|e| {
                Error::env(format!(
                    "cluster {} (context {}) does not answer: {e}",
                    def.cluster_name, r.context
                ))
            })?;
            let cluster = Cluster {
                name: def.cluster_name.clone(),
                role,
                definition: def.clone(),
                client,
                kubeconfig: path.clone(),
                context: r.context.clone(),
                server_from_hub: match role {
                    Role::Hub => IN_CLUSTER.into(),
                    Role::Spoke => r.server_from_hub.clone().unwrap_or(server),
                },
                ca_pem: (role == Role::Spoke).then_some(ca).flatten(),
                aws: None,
            };
            match role {
                Role::Hub => hub = Some(cluster),
                Role::Spoke => spokes.push(cluster),
            }
        }
        let hub = hub.ok_or_else(|| Error::input("the definitions name no hub"))?;
        step.done("every cluster answers");
        std::fs::create_dir_all(&plan.state_dir)
            .map_err(|e| Error::env(format!("cannot create {}: {e}", plan.state_dir.display())))?;
        Ok(Environment::new(ProviderKind::Existing, hub, spokes, plan))
    }

    async fn down(&self, state: &State, dir: &Path, progress: &Progress) -> Result<()> {
        let env = Environment::from_state(state.clone(), dir).await?;
        let step = progress.step("removing what hubspoke registered (the clusters stay)");
        let dp = DeleteParams::default();
        let gone = |r: std::result::Result<(), kube::Error>| match r {
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            other => other,
        };
        let mut failures = Vec::new();
        let hub_secrets: Api<Secret> = Api::namespaced(env.hub.client.clone(), ARGOCD_NAMESPACE);
        let apps = crate::bootstrap::applications(&env.hub.client);
        if let Err(e) = gone(apps.delete("bootstrap", &dp).await.map(|_| ())) {
            failures.push(format!("hub: deleting the bootstrap Application: {e}"));
        }
        for s in &env.spokes {
            if let Err(e) = gone(
                hub_secrets
                    .delete(&cluster_secret_name(&s.name), &dp)
                    .await
                    .map(|_| ()),
            ) {
                failures.push(format!("hub: deleting argocd/cluster-{}: {e}", s.name));
            }
            let c = &s.client;
            let results = [
                gone(
                    Api::<Secret>::namespaced(c.clone(), MANAGER_NAMESPACE)
                        .delete(MANAGER_TOKEN_SECRET, &dp)
                        .await
                        .map(|_| ()),
                ),
                gone(
                    Api::<ServiceAccount>::namespaced(c.clone(), MANAGER_NAMESPACE)
                        .delete(MANAGER_SERVICE_ACCOUNT, &dp)
                        .await
                        .map(|_| ()),
                ),
                gone(
                    Api::<ClusterRoleBinding>::all(c.clone())
                        .delete(MANAGER_CLUSTER_ROLE_BINDING, &dp)
                        .await
                        .map(|_| ()),
                ),
                gone(
                    Api::<ClusterRole>::all(c.clone())
                        .delete(MANAGER_CLUSTER_ROLE, &dp)
                        .await
                        .map(|_| ()),
                ),
            ];
            for r in results {
                if let Err(e) = r {
                    failures.push(format!(
                        "spoke {}: removing the argocd-manager identity: {e}",
                        s.name
                    ));
                }
            }
        }
        if !failures.is_empty() {
            step.fail("see below");
            return Err(Error::env(failures.join("\n  ")));
        }
        step.done("deregistered");
        remove_state(state, dir)
    }
}

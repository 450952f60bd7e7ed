//! The environment every suite runs against: a hub and its spokes, each with a client, its
//! cluster definition and the address the hub reaches it at — whatever built it.
//!
//! The state of an environment lives under `target/hubspoke/<env>/`: `state.json` and one
//! kubeconfig per cluster (files 0600), so a later process (a nextest test, `hubspoke down`,
//! `hubspoke status`) can rebuild the [`Environment`] with [`Environment::load`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::definition::{ClusterDefinition, ClusterType};
use crate::revision::Revision;

/// Which provider built an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Embedded: an API emulator per cluster with Argo CD, Kyverno and workload stand-ins.
    Sim,
    /// kind clusters on the local Docker.
    Kind,
    /// Clusters adopted from kubeconfig contexts.
    Existing,
    /// EKS hub and spokes built by terraform (terraform/, one workspace per cluster).
    Eks,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Sim => "sim",
            ProviderKind::Kind => "kind",
            ProviderKind::Existing => "existing",
            ProviderKind::Eks => "eks",
        }
    }

    /// The release whose cluster definitions the provider builds by default.
    pub fn default_release(self) -> &'static str {
        match self {
            ProviderKind::Eks => "release/hub-aws",
            _ => "release/hub-kind",
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role of a cluster in the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Hub,
    Spoke,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hub => "hub",
            Role::Spoke => "spoke",
        }
    }
}

/// Argo CD's name for the cluster it runs in.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// An EKS cluster as terraform built it: what a client of this process needs (the
/// in-process EKS token is made for `cluster_name` in `region`) and what the hub's Argo CD
/// needs (`awsAuthConfig`: the cluster name and the role it assumes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AwsCluster {
    /// The EKS cluster's name (terraform output `cluster_name`).
    pub cluster_name: String,
    pub region: String,
    pub account_id: String,
    /// The API endpoint (terraform output `cluster_endpoint`).
    pub endpoint: String,
    /// The cluster CA, base64 PEM (terraform output `cluster_certificate_authority_data`).
    pub ca_data: String,
    /// Spokes: the role the hub's Argo CD assumes to manage it (`awsAuthConfig.roleARN`,
    /// terraform output `spoke_role_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// One cluster of an environment as recorded in the state file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClusterState {
    pub name: String,
    pub role: Role,
    /// The kubeconfig file, relative to the state directory.
    pub kubeconfig: String,
    /// The context in it.
    pub context: String,
    /// The API server as the hub reaches it (the hub itself: [`IN_CLUSTER`]).
    pub server_from_hub: String,
    /// PEM of the CA the hub must trust for it (absent for the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// eks: the cluster's AWS side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsCluster>,
    pub definition: ClusterDefinition,
}

/// `state.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    pub provider: ProviderKind,
    /// The release directory whose definitions built it.
    pub release: PathBuf,
    pub revision: Option<Revision>,
    /// The process serving the clusters (sim: the `hubspoke up` process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When `up` finished, RFC 3339.
    pub created: String,
    pub clusters: Vec<ClusterState>,
}

pub const STATE_VERSION: u32 = 1;

/// A cluster of a running environment.
#[derive(Clone)]
pub struct Cluster {
    pub name: String,
    pub role: Role,
    pub definition: ClusterDefinition,
    /// An admin client (from the kubeconfig).
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    pub context: String,
    /// The API server as the hub reaches it.
    pub server_from_hub: String,
    /// PEM of the CA the hub must trust for it.
    pub ca_pem: Option<String>,
    /// eks: the cluster's AWS side (the hub registers it with `awsAuthConfig`).
    pub aws: Option<AwsCluster>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("context", &self.context)
            .field("server_from_hub", &self.server_from_hub)
            .finish_non_exhaustive()
    }
}

/// A hub and its spokes.
pub struct Environment {
    pub provider: ProviderKind,
    pub hub: Cluster,
    pub spokes: Vec<Cluster>,
    /// Where the state files are.
    pub state_dir: PathBuf,
    pub release: PathBuf,
    pub revision: Option<Revision>,
    /// What keeps an in-process environment alive (the sim's servers and stand-ins).
    pub(crate) runtime: Vec<Box<dyn std::any::Any + Send + Sync>>,
    /// What the in-process stand-ins have to tell the user (e.g. a chart rendered from
    /// hubspoke's rendition because the real one could not be fetched).
    pub(crate) notices: Vec<NoticeSource>,
}

/// Where an in-process stand-in's notices are read from.
pub(crate) type NoticeSource = Box<dyn Fn() -> Vec<String> + Send + Sync>;

impl Environment {
    /// The in-process stand-ins' notices so far (none for real clusters).
    pub fn notices(&self) -> Vec<String> {
        self.notices.iter().flat_map(|n| n()).collect()
    }
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("provider", &self.provider)
            .field("hub", &self.hub)
            .field("spokes", &self.spokes)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

/// Why an environment could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "no {env} environment at {dir}: state.json is missing; bring one up with `hubspoke up --env {env}`"
    )]
    Missing { env: String, dir: PathBuf },
    #[error("{file}: {message}; remove the directory and run `hubspoke up` again")]
    Corrupt { file: PathBuf, message: String },
    #[error(
        "{file}: state version {found}, this hubspoke reads version {STATE_VERSION}; run `hubspoke down` with the hubspoke that made it"
    )]
    Version { file: PathBuf, found: u32 },
    #[error("cluster {cluster}: {file}: {message}")]
    Kubeconfig {
        cluster: String,
        file: PathBuf,
        message: String,
    },
}

impl Environment {
    /// A freshly built environment (no revision yet: bootstrap sets it).
    pub fn new(
        provider: ProviderKind,
        hub: Cluster,
        spokes: Vec<Cluster>,
        plan: &crate::providers::UpPlan,
    ) -> Self {
        Environment {
            provider,
            hub,
            spokes,
            state_dir: plan.state_dir.clone(),
            release: plan.release.clone(),
            revision: None,
            runtime: Vec::new(),
            notices: Vec::new(),
        }
    }

    pub fn clusters(&self) -> impl Iterator<Item = &Cluster> {
        std::iter::once(&self.hub).chain(self.spokes.iter())
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters().find(|c| c.name == name)
    }

    /// The state of this environment, as written to state.json.
    pub fn state(&self, pid: Option<u32>) -> State {
        State {
            version: STATE_VERSION,
            provider: self.provider,
            release: self.release.clone(),
            revision: self.revision.clone(),
            pid,
            created: jiff::Timestamp::now().to_string(),
            clusters: self
                .clusters()
                .map(|c| ClusterState {
                    name: c.name.clone(),
                    role: c.role,
                    kubeconfig: c
                        .kubeconfig
                        .strip_prefix(&self.state_dir)
                        .unwrap_or(&c.kubeconfig)
                        .to_string_lossy()
                        .into_owned(),
                    context: c.context.clone(),
                    server_from_hub: c.server_from_hub.clone(),
                    ca_pem: c.ca_pem.clone(),
                    aws: c.aws.clone(),
                    definition: c.definition.clone(),
                })
                .collect(),
        }
    }

    /// Writes state.json (0600).
    pub fn save(&self, pid: Option<u32>) -> std::io::Result<PathBuf> {
        let path = self.state_dir.join("state.json");
        let text = serde_json::to_string_pretty(&self.state(pid)).map_err(std::io::Error::other)?;
        write_private(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Reads the state of `env` in `dir` without connecting.
    pub fn read_state(env: ProviderKind, dir: &Path) -> Result<State, LoadError> {
        let file = dir.join("state.json");
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LoadError::Missing {
                    env: env.to_string(),
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(LoadError::Corrupt {
                    file,
                    message: e.to_string(),
                });
            }
        };
        let probe: serde_json::Value = serde_json::from_str(&text).map_err(|e| LoadError::Corrupt {
            file: file.clone(),
            message: format!("not JSON: {e}"),
        })?;
        let found = probe.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found != STATE_VERSION {
            return Err(LoadError::Version { file, found });
        }
        let state: State = serde_json::from_value(probe).map_err(|e| LoadError::Corrupt {
            file: file.clone(),
            message: e.to_string(),
        })?;
        if state.provider != env {
            return Err(LoadError::Corrupt {
                file,
                message: format!("it records a {} environment, not {env}", state.provider),
            });
        }
        Ok(state)
    }

    /// Rebuilds the environment from its state files (clients from the kubeconfigs).
    pub async fn load(env: ProviderKind, dir: &Path) -> Result<Environment, LoadError> {
        let state = Self::read_state(env, dir)?;
        Self::from_state(state, dir).await
    }

    pub async fn from_state(state: State, dir: &Path) -> Result<Environment, LoadError> {
        let mut hub = None;
        let mut spokes = Vec::new();
        for c in state.clusters {
            let path = dir.join(&c.kubeconfig);
            let client =
                client_for(state.provider, &c, &path)
                    .await
                    .map_err(|message| LoadError::Kubeconfig {
                        cluster: c.name.clone(),
                        file: path.clone(),
                        message,
                    })?;
            let cluster = Cluster {
                name: c.name,
                role: c.role,
                definition: c.definition,
                client,
                kubeconfig: path,
                context: c.context,
                server_from_hub: c.server_from_hub,
                ca_pem: c.ca_pem,
                aws: c.aws,
            };
            match cluster.role {
                Role::Hub => hub = Some(cluster),
                Role::Spoke => spokes.push(cluster),
            }
        }
        let Some(hub) = hub else {
            return Err(LoadError::Corrupt {
                file: dir.join("state.json"),
                message: "it records no hub".into(),
            });
        };
        Ok(Environment {
            provider: state.provider,
            hub,
            spokes,
            state_dir: dir.to_path_buf(),
            release: state.release,
            revision: state.revision,
            runtime: Vec::new(),
            notices: Vec::new(),
        })
    }
}

/// The client of a recorded cluster: for EKS (with the eks feature) authenticated with
/// EKS tokens made in this process; otherwise from its kubeconfig (whose EKS users run
/// `aws eks get-token`).
async fn client_for(
    provider: ProviderKind,
    c: &ClusterState,
    kubeconfig: &Path,
) -> Result<kube::Client, String> {
    #[cfg(feature = "eks")]
    if let (ProviderKind::Eks, Some(aws)) = (provider, &c.aws) {
        return crate::eks::client::client(aws).await;
    }
    let _ = provider;
    crate::kube_util::client_from_kubeconfig(kubeconfig, Some(&c.context)).await
}

/// The role a definition gives its cluster in a hub/spoke environment.
pub fn role_of(def: &ClusterDefinition) -> Option<Role> {
    match def.cluster_type {
        ClusterType::Hub => Some(Role::Hub),
        ClusterType::Spoke => Some(Role::Spoke),
        ClusterType::Standalone => None,
    }
}

/// Where environments keep their state: `$HUBSPOKE_STATE_DIR`, else `target/hubspoke` of
/// the cargo workspace containing the current directory (so a nextest test, whose current
/// directory is its crate, finds what `hubspoke up` wrote at the workspace root).
pub fn state_root() -> PathBuf {
    if let Some(d) = std::env::var_os("HUBSPOKE_STATE_DIR") {
        return PathBuf::from(d);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let workspace = cwd.ancestors().find(|d| {
        std::fs::read_to_string(d.join("Cargo.toml"))
            .map(|t| t.lines().any(|l| l.trim() == "[workspace]"))
            .unwrap_or(false)
    });
    match workspace {
        Some(w) => w.join("target/hubspoke"),
        None => cwd.join("target/hubspoke"),
    }
}

/// The state directory of an environment kind.
pub fn state_dir(env: ProviderKind) -> PathBuf {
    state_root().join(env.as_str())
}

/// Writes a file readable only by its owner (kubeconfigs and state hold credentials).
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    hubspoke_sim::write_private(path, data)
}

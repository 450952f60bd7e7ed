//! One emulated cluster: an API server on 127.0.0.1 with its own CA and admin token.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use base64::Engine;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::registry::generic::create_internal;
use crate::state::{ServerConfig, State};
use crate::storage::store::Store;
use crate::tls::ClusterPki;

/// Why a cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cluster {cluster}: generating its certificate authority failed: {source}")]
    Pki { cluster: String, source: rcgen::Error },
    #[error("cluster {cluster}: binding 127.0.0.1 failed: {source}")]
    Bind { cluster: String, source: std::io::Error },
    #[error("cluster {cluster}: creating its built-in objects failed: {message}")]
    Bootstrap { cluster: String, message: String },
}

/// A running emulated cluster. Dropping it stops the server.
pub struct SimCluster {
    state: Arc<State>,
    addr: SocketAddr,
    ca_pem: String,
}

fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl SimCluster {
    /// Starts a cluster named `name` with default settings.
    pub async fn start(name: &str) -> Result<Self, StartError> {
        Self::start_with(name, ServerConfig::default()).await
    }

    pub async fn start_with(name: &str, config: ServerConfig) -> Result<Self, StartError> {
        let (listener, addr) = crate::server::bind().await.map_err(|source| StartError::Bind {
            cluster: name.into(),
            source,
        })?;
        let hosts = vec![
            "127.0.0.1".to_string(),
            "localhost".into(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            "kubernetes.default.svc.cluster.local".into(),
            "10.96.0.1".into(),
        ];
        let pki = ClusterPki::generate(name, &hosts).map_err(|source| StartError::Pki {
            cluster: name.into(),
            source,
        })?;
        let state = Arc::new(State {
            name: name.to_string(),
            registry: RwLock::new(crate::apis::builtin::registry()),
            store: Store::new(config.event_log_capacity),
            admin_token: random_token(),
            config,
            address: addr.to_string(),
            shutdown: CancellationToken::new(),
            openapi: Default::default(),
            signer: crate::auth::authn::TokenSigner::generate(),
            ca_pem: pki.ca_pem.clone(),
            faults: Default::default(),
            decisions: Default::default(),
            webhook_clients: Default::default(),
            webhook_connections: Default::default(),
            token_webhook: Default::default(),
        });
        bootstrap(&state).map_err(|message| StartError::Bootstrap {
            cluster: name.into(),
            message,
        })?;
        crate::controllers::spawn(state.clone());
        tokio::spawn(crate::server::serve(
            state.clone(),
            listener,
            pki.server_config.clone(),
        ));
        Ok(SimCluster {
            state,
            addr,
            ca_pem: pki.ca_pem,
        })
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// `https://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the cluster CA.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The admin (system:masters) bearer token.
    pub fn admin_token(&self) -> &str {
        &self.state.admin_token
    }

    /// Asks `webhook` about bearer tokens the cluster does not know itself, as
    /// kube-apiserver asks its token webhook (EKS: aws-iam-authenticator); it answers with
    /// the user or None (401).
    pub fn set_token_webhook(&self, webhook: crate::auth::authn::TokenWebhook) {
        *self
            .state
            .token_webhook
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(webhook);
    }

    /// The context (and cluster) name used in kubeconfigs: `sim-<name>`.
    pub fn context_name(&self) -> String {
        format!("sim-{}", self.state.name)
    }

    /// A kubeconfig for the admin identity.
    pub fn kubeconfig(&self) -> Value {
        let ctx = self.context_name();
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": ctx, "cluster": {
                "server": self.url(),
                "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&self.ca_pem),
            }}],
            "users": [{"name": format!("{ctx}-admin"), "user": {"token": self.state.admin_token}}],
            "contexts": [{"name": ctx, "context": {"cluster": ctx, "user": format!("{ctx}-admin")}}],
            "current-context": ctx,
            "preferences": {},
        })
    }

    pub fn kubeconfig_yaml(&self) -> String {
        serde_saphyr::to_string(&self.kubeconfig()).unwrap_or_default()
    }

    /// A kube-rs client with the admin identity, built from the kubeconfig as a user's would be.
    pub async fn client(&self) -> Result<kube::Client, kube::Error> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml())
            .map_err(kube::Error::InferKubeconfig)?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(kube::Error::InferKubeconfig)?;
        kube::Client::try_from(cfg)
    }

    /// Writes the kubeconfig to `path` with mode 0600 (it holds the admin token).
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        write_private(path, self.kubeconfig_yaml().as_bytes())
    }

    /// Forgets the event history up to now, as etcd compaction does: watches and lists at
    /// older resource versions get 410 Expired.
    pub fn compact(&self) {
        self.state.store.compact();
    }

    /// The current resourceVersion of the cluster.
    pub fn resource_version(&self) -> u64 {
        self.state.store.current_rv()
    }

    /// Rejects `token` from now on (401), as if it had been revoked.
    pub fn revoke_token(&self, token: &str) {
        self.state.faults.revoke(token);
    }

    /// The faults of this cluster, to inject failures into what clients see.
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.state.faults
    }

    /// Stops serving; open watches end.
    pub fn shutdown(&self) {
        self.state.shutdown.cancel();
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(data)
}

/// The objects every cluster starts with: the system namespaces, the `kubernetes` Service
/// and the bootstrap RBAC policy.
fn bootstrap(state: &State) -> Result<(), String> {
    let create = |group: &str, plural: &str, ns: Option<&str>, obj: Value| -> Result<(), String> {
        create_internal(state, group, plural, ns, obj, "kube-apiserver")
            .map(|_| ())
            .map_err(|e| e.message)
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        create(
            "",
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )?;
    }
    create(
        "",
        "services",
        Some("default"),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        }),
    )?;
    for (plural, obj) in crate::auth::rbac_bootstrap::objects() {
        create("rbac.authorization.k8s.io", plural, None, obj)?;
    }
    Ok(())
}

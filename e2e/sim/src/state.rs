//! What every layer of the API server shares: one cluster's [`State`] (its registry,
//! store, identity, caches and tunables) and the [`Target`] a resource request addresses.
//!
//! Its own module, below the server, the endpoints, the registry, admission and the
//! controllers, which all take a `&State` and a `&Target`: it depends on the parts the
//! state holds, never on the code that handles requests.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::apis::types::{Registry, ResourceType};
use crate::auth::authn::User;
use crate::storage::store::Store;

/// Tunables of one API server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Events kept for watches and historical reads before the oldest are compacted away.
    pub event_log_capacity: usize,
    /// How often idle watches that asked for bookmarks receive one.
    pub bookmark_interval: Duration,
    /// The Kubernetes version reported by /version.
    pub git_version: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            event_log_capacity: 100_000,
            bookmark_interval: Duration::from_secs(10),
            git_version: KUBE_VERSION.to_string(),
        }
    }
}

/// The Kubernetes version the emulator behaves as (within kubectl 1.32's supported skew).
pub const KUBE_VERSION: &str = "v1.33.4";

/// Everything a request handler can reach.
pub struct State {
    pub name: String,
    pub registry: RwLock<Registry>,
    pub store: Store,
    pub admin_token: String,
    pub config: ServerConfig,
    /// host:port clients use to reach this server.
    pub address: String,
    pub shutdown: CancellationToken,
    pub openapi: crate::discovery::openapi::Cache,
    /// Signs and checks this cluster's ServiceAccount tokens.
    pub signer: crate::auth::authn::TokenSigner,
    /// PEM of the cluster CA (kube-root-ca.crt, legacy token Secrets).
    pub ca_pem: String,
    pub faults: crate::faults::Faults,
    pub decisions: crate::auth::authz::DecisionCache,
    pub webhook_clients: crate::tls::ClientConfigs,
    /// Idle connections to admission webhooks, reused as the API server's HTTP transport
    /// keeps them alive.
    pub webhook_connections: crate::tls::Connections,
    /// The token webhook (`--authentication-token-webhook-config-file`), asked about bearer
    /// tokens the built-in authenticators do not know: how EKS's aws-iam-authenticator
    /// turns EKS tokens into users.
    pub token_webhook: RwLock<Option<crate::auth::authn::TokenWebhook>>,
}

impl State {
    pub fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    /// What the OpenAPI documents are built from.
    pub fn openapi_source(&self) -> crate::discovery::openapi::Source<'_> {
        crate::discovery::openapi::Source {
            registry: &self.registry,
            git_version: &self.config.git_version,
        }
    }

    pub fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The user a bearer token stands for, as the union of the cluster's authenticators sees
    /// it: the admin token, ServiceAccount tokens, then the token webhook.
    pub fn authenticate_token(&self, token: &str) -> Option<User> {
        if constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()) {
            return Some(User::admin());
        }
        crate::auth::authn::validate_token(&self.signer, &self.store, &|t| self.faults.is_revoked(t), token)
            .or_else(|| {
                let webhook = self
                    .token_webhook
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                webhook.and_then(|w| w(token))
            })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a resource URL addresses.
#[derive(Clone)]
pub struct Target {
    pub rt: Arc<ResourceType>,
    pub version: String,
    /// The namespace in the URL (None for cluster-scoped types and all-namespaces lists).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Target {
    pub fn api_version(&self) -> String {
        self.rt.api_version(&self.version)
    }
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

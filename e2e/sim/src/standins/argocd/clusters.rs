//! Destination clusters, resolved as Argo CD resolves them: `https://kubernetes.default.svc`
//! (the in-cluster destination, named `in-cluster`) and Secrets labelled
//! `argocd.argoproj.io/secret-type: cluster` in Argo CD's namespace, with `name`, `server`
//! and `config` (`bearerToken`, `awsAuthConfig` with an [`super::AwsIdentity`],
//! `tlsClientConfig.caData|insecure|serverName`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// A cluster Argo CD knows.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub server: String,
    /// The `config` JSON of the Secret (empty for in-cluster).
    pub config: Value,
}

/// A cluster's connection state, as Argo CD reports it (`connectionState`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ConnectionState {
    /// Successful, Failed or Unknown.
    pub status: String,
    pub message: String,
    #[serde(rename = "attemptedAt")]
    pub attempted_at: String,
}

/// Clients per cluster, built from the Secrets and reused while the Secret is unchanged.
pub struct Clusters {
    hub: Client,
    namespace: String,
    cache: Mutex<BTreeMap<String, (String, Client)>>,
    /// Connection state and server version per server URL.
    states: Mutex<BTreeMap<String, (ConnectionState, String)>>,
    aws: Option<super::AwsIdentity>,
}

/// How long a client with an EKS token is reused: argocd-k8s-auth's tokens are valid for 15
/// minutes, and Argo CD asks for a new one well before.
const AWS_CLIENT_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 60);

fn secret_str(s: &Secret, key: &str) -> String {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).to_string())
        .unwrap_or_default()
}

impl Clusters {
    pub fn new(hub: Client, namespace: &str, aws: Option<super::AwsIdentity>) -> Self {
        Clusters {
            hub,
            namespace: namespace.to_string(),
            cache: Mutex::new(BTreeMap::new()),
            states: Mutex::new(BTreeMap::new()),
            aws,
        }
    }

    /// Every cluster: the ones in Secrets, and in-cluster unless a Secret redefines it.
    pub async fn list(&self) -> Result<Vec<Cluster>, kube::Error> {
        let secrets: Api<Secret> = Api::namespaced(self.hub.clone(), &self.namespace);
        let lp = ListParams::default().labels("argocd.argoproj.io/secret-type=cluster");
        let mut out: Vec<Cluster> = secrets
            .list(&lp)
            .await?
            .items
            .iter()
            .map(|s| Cluster {
                name: secret_str(s, "name"),
                server: secret_str(s, "server").trim_end_matches('/').to_string(),
                config: serde_json::from_str(&secret_str(s, "config")).unwrap_or(json!({})),
            })
            .collect();
        if !out.iter().any(|c| c.server == IN_CLUSTER) {
            out.push(Cluster {
                name: "in-cluster".into(),
                server: IN_CLUSTER.into(),
                config: json!({}),
            });
        }
        Ok(out)
    }

    /// Resolves an Application's destination: the cluster, or the InvalidSpecError message
    /// Argo CD gives.
    pub async fn resolve(&self, destination: &Value) -> Result<Result<Cluster, String>, kube::Error> {
        let server = destination.get("server").and_then(Value::as_str).unwrap_or("");
        let name = destination.get("name").and_then(Value::as_str).unwrap_or("");
        let clusters = self.list().await?;
        Ok(match (server, name) {
            (s, n) if !s.is_empty() && !n.is_empty() => Err(format!(
                "application destination can't have both name and server defined: {n} {s}"
            )),
            ("", "") => Err("Destination server missing from app spec".into()),
            (s, "") => {
                let s = s.trim_end_matches('/');
                clusters.into_iter().find(|c| c.server == s).ok_or_else(|| {
                    format!("error getting cluster by server {server:?}: rpc error: code = NotFound desc = cluster {s:?} not found")
                })
            }
            (_, n) => {
                let found: Vec<Cluster> = clusters.into_iter().filter(|c| c.name == n).collect();
                match found.len() {
                    0 => Err(format!("there are no clusters with this name: {n}")),
                    1 => Ok(found.into_iter().next().expect("one")),
                    k => Err(format!(
                        "there are {k} clusters with the same name: [{}]",
                        found
                            .iter()
                            .map(|c| c.server.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )),
                }
            }
        })
    }

    /// Checks every cluster (its version endpoint, with its credentials) and records the
    /// connection state Argo CD would show.
    pub async fn probe_all(&self) {
        let Ok(clusters) = self.list().await else { return };
        for c in clusters {
            let (state, version) = match self.client(&c).await {
                Err(msg) => (("Failed", msg), String::new()),
                Ok(client) => match client.apiserver_version().await {
                    Ok(v) => (("Successful", String::new()), format!("{}.{}", v.major, v.minor)),
                    Err(e) => {
                        let why = match &e {
                            kube::Error::Api(s) if s.code == 401 => {
                                "the server has asked for the client to provide credentials".to_string()
                            }
                            kube::Error::Api(s) => s.message.clone(),
                            other => other.to_string(),
                        };
                        (
                            ("Failed", format!("Unable to connect to cluster: {why}")),
                            String::new(),
                        )
                    }
                },
            };
            let cs = ConnectionState {
                status: state.0.to_string(),
                message: state.1,
                attempted_at: crate::meta::now_rfc3339(),
            };
            self.states
                .lock()
                .expect("states lock")
                .insert(c.server.clone(), (cs, version));
        }
    }

    /// The clusters with their connection state, shaped as Argo CD's API (`/api/v1/clusters`)
    /// returns them (credentials left out).
    pub async fn cluster_list(&self) -> Value {
        let clusters = self.list().await.unwrap_or_default();
        let states = self.states.lock().expect("states lock").clone();
        let items: Vec<Value> = clusters
            .iter()
            .map(|c| {
                let (state, version) = states.get(&c.server).cloned().unwrap_or((
                    ConnectionState { status: "Unknown".into(), message: String::new(), attempted_at: String::new() },
                    String::new(),
                ));
                json!({
                    "server": c.server, "name": c.name,
                    "config": {"tlsClientConfig": {"insecure": c.config.pointer("/tlsClientConfig/insecure").cloned().unwrap_or(json!(false))}},
                    "connectionState": state,
                    "serverVersion": version,
                    "info": {"connectionState": state, "serverVersion": version},
                })
            })
            .collect();
        json!({"metadata": {}, "items": items})
    }

    /// A client for the cluster (the stand-in's own for in-cluster).
    pub async fn client(&self, cluster: &Cluster) -> Result<Client, String> {
        if cluster.server == IN_CLUSTER && cluster.config.as_object().is_none_or(|m| m.is_empty()) {
            return Ok(self.hub.clone());
        }
        let aws_token = match cluster.config.get("awsAuthConfig") {
            None => None,
            Some(auth) => {
                let Some(identity) = &self.aws else {
                    return Err(format!(
                        "cluster {:?} uses awsAuthConfig, but this Argo CD has no AWS identity (ArgoCdOptions::aws); register sim spokes with a bearerToken",
                        cluster.server
                    ));
                };
                let name = auth.get("clusterName").and_then(Value::as_str).unwrap_or("");
                let role = auth
                    .get("roleARN")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty());
                Some(
                    (identity.0)(name, role).map_err(|e| {
                        format!("getting an EKS token for cluster {name:?} (awsAuthConfig): {e}")
                    })?,
                )
            }
        };
        if cluster.config.get("execProviderConfig").is_some() {
            return Err(format!(
                "cluster {:?} uses execProviderConfig, which the hubspoke sim does not run; register sim spokes with a bearerToken",
                cluster.server
            ));
        }
        // a client with an EKS token is renewed every AWS_CLIENT_TTL
        let epoch = aws_token.as_ref().map(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
                / AWS_CLIENT_TTL.as_secs()
        });
        let key = format!("{}|{}|{epoch:?}", cluster.server, cluster.config);
        if let Some((k, c)) = self.cache.lock().expect("cache lock").get(&cluster.server)
            && *k == key
        {
            return Ok(c.clone());
        }
        let tls = cluster
            .config
            .get("tlsClientConfig")
            .cloned()
            .unwrap_or(json!({}));
        let mut kc_cluster = json!({"server": cluster.server});
        if let Some(ca) = tls.get("caData").and_then(Value::as_str) {
            kc_cluster["certificate-authority-data"] = json!(ca);
        }
        if tls.get("insecure").and_then(Value::as_bool) == Some(true) {
            kc_cluster["insecure-skip-tls-verify"] = json!(true);
        }
        if let Some(sn) = tls.get("serverName").and_then(Value::as_str) {
            kc_cluster["tls-server-name"] = json!(sn);
        }
        let mut user = json!({});
        if let Some(t) = cluster.config.get("bearerToken").and_then(Value::as_str) {
            user["token"] = json!(t);
        }
        if let Some(t) = &aws_token {
            user["token"] = json!(t);
        }
        if let Some(u) = cluster.config.get("username").and_then(Value::as_str) {
            user["username"] = json!(u);
            user["password"] = json!(
                cluster
                    .config
                    .get("password")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            );
        }
        for (from, to) in [
            ("certData", "client-certificate-data"),
            ("keyData", "client-key-data"),
        ] {
            if let Some(v) = tls.get(from).and_then(Value::as_str) {
                user[to] = json!(v);
            }
        }
        let kubeconfig = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": kc_cluster}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        });
        let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig.to_string()).map_err(|e| e.to_string())?;
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| e.to_string())?;
        cfg.connect_timeout = Some(std::time::Duration::from_secs(5));
        cfg.read_timeout = Some(std::time::Duration::from_secs(30));
        let client = Client::try_from(cfg).map_err(|e| e.to_string())?;
        self.cache
            .lock()
            .expect("cache lock")
            .insert(cluster.server.clone(), (key, client.clone()));
        Ok(client)
    }
}

//! The `kind` provider: one kind cluster per member (configs from `kind/<name>.yaml`),
//! created concurrently, reused with `--reuse`; the hub reaches spokes at their internal
//! address on the shared `kind` Docker network (`kind get kubeconfig --internal`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::environment::{
    Cluster, Environment, IN_CLUSTER, ProviderKind, Role, State, role_of, write_private,
};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::providers::{Provider, UpPlan, remove_state};
use crate::tools::{self, DOCKER, HELM, KIND};

pub struct KindProvider {
    /// Where the kind configs are (`<dir>/<cluster>.yaml`).
    pub config_dir: PathBuf,
    /// How long to wait for nodes to become Ready.
    pub node_timeout: Duration,
    /// Keep the clusters this run created when a creation fails (for debugging).
    pub keep: bool,
    /// The platform repository the hub's Argo CD will clone: checked to answer before any
    /// cluster is created.
    pub repository: Option<RepositoryCheck>,
}

/// The repository to check and the credentials Argo CD will have for it.
#[derive(Clone, Debug)]
pub struct RepositoryCheck {
    pub url: String,
    pub credentials: Option<crate::repository::Credentials>,
}

impl KindProvider {
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        KindProvider {
            config_dir: config_dir.into(),
            node_timeout: Duration::from_secs(300),
            keep: false,
            repository: None,
        }
    }
}

/// kind's context name for a cluster.
pub fn context_name(cluster: &str) -> String {
    format!("kind-{cluster}")
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The clusters kind knows (`kind get clusters`; "No kind clusters found." is on stderr).
pub async fn existing_clusters() -> Result<Vec<String>> {
    let out = tools::run("kind", &args(&["get", "clusters"])).await?;
    if !out.success {
        return Err(Error::env(format!(
            "`kind get clusters` failed: {}",
            out.stderr.trim()
        )));
    }
    Ok(out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

async fn create(name: &str, config: &Path, kubeconfig: &Path) -> Result<()> {
    let out = tools::run(
        "kind",
        &[
            "create".to_string(),
            "cluster".into(),
            "--name".into(),
            name.into(),
            "--config".into(),
            config.to_string_lossy().into_owned(),
            "--kubeconfig".into(),
            kubeconfig.to_string_lossy().into_owned(),
        ],
    )
    .await?;
    if out.success {
        return Ok(());
    }
    let stderr = out.stderr.trim();
    if stderr.contains("already exist for a cluster with the name") {
        return Err(Error::env(format!(
            "kind cluster {name} already exists ({stderr}); pass --reuse to use it, or delete it first with `hubspoke down --env kind`"
        )));
    }
    Err(Error::env(format!(
        "`kind create cluster --name {name}` failed: {stderr}"
    )))
}

async fn get_kubeconfig(name: &str, internal: bool) -> Result<String> {
    let mut a = args(&["get", "kubeconfig", "--name", name]);
    if internal {
        a.push("--internal".into());
    }
    let out = tools::run("kind", &a).await?;
    if !out.success {
        return Err(Error::env(format!(
            "`kind {}` failed: {}",
            a.join(" "),
            out.stderr.trim()
        )));
    }
    Ok(out.stdout)
}

/// The kubeconfig hubspoke keeps for a kind cluster in a state directory.
pub fn kubeconfig_path(state_dir: &Path, cluster: &str) -> PathBuf {
    state_dir.join(format!("{cluster}.kubeconfig"))
}

/// Deletes kind clusters concurrently, each with `--kubeconfig` naming its own kubeconfig:
/// without it kind edits `$KUBECONFIG` or `~/.kube/config` under the lock file
/// `<kubeconfig>.lock` (created exclusively, no retry), so concurrent deletes fail on each
/// other's lock after deleting the nodes (kind#3781), and the user's kubeconfig is touched.
/// The error names every cluster that could not be deleted and what kind said.
pub async fn delete_clusters(clusters: &[(String, PathBuf)]) -> Result<()> {
    let results = futures::future::join_all(clusters.iter().map(|(n, kubeconfig)| async move {
        let a = vec![
            "delete".to_string(),
            "cluster".into(),
            "--name".into(),
            n.clone(),
            "--kubeconfig".into(),
            kubeconfig.to_string_lossy().into_owned(),
        ];
        let out = tools::run("kind", &a).await?;
        if out.success {
            Ok(())
        } else {
            Err(Error::env(format!(
                "`kind {}` failed: {}",
                a.join(" "),
                out.stderr.trim()
            )))
        }
    }))
    .await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.message))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::env(failures.join("\n  ")))
    }
}

/// The server and CA (PEM) of the only cluster in a kubeconfig.
pub fn server_and_ca(kubeconfig: &str) -> std::result::Result<(String, Option<String>), String> {
    let kc =
        kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| format!("invalid kubeconfig: {e}"))?;
    let cluster = kc
        .clusters
        .first()
        .and_then(|c| c.cluster.clone())
        .ok_or("the kubeconfig has no cluster")?;
    let server = cluster.server.ok_or("the kubeconfig's cluster has no server")?;
    let ca = match cluster.certificate_authority_data {
        Some(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| format!("certificate-authority-data is not base64: {e}"))?,
        ),
        None => None,
    };
    Ok((server, ca))
}

/// Waits, watching, until the cluster has nodes and every one is Ready.
pub async fn wait_nodes_ready(client: kube::Client, cluster: &str, within: Duration) -> Result<usize> {
    use futures::StreamExt;
    let api: Api<Node> = Api::all(client);
    let (reader, writer) = kube::runtime::reflector::store();
    // every event counts, InitDone included: the store shows the initial list only then
    let stream =
        kube::runtime::reflector(writer, watcher(api, watcher::Config::default()).default_backoff()).boxed();
    let ready = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    let all_ready = || {
        let nodes = reader.state();
        (!nodes.is_empty() && nodes.iter().all(|n| ready(n))).then_some(nodes.len())
    };
    let mut stream = stream;
    // a watch error (an API server still starting, a throttled list) is transient: the
    // watcher retries with its backoff, the deadline ends the wait, and the last error is
    // said then
    let mut last_error: Option<String> = None;
    let watching = async {
        loop {
            if let Some(n) = all_ready() {
                return Ok(n);
            }
            match stream.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => last_error = Some(e.to_string()),
                None => return Err("the node watch ended".to_string()),
            }
        }
    };
    let waited = tokio::time::timeout(within, watching).await;
    let last_error = last_error
        .map(|e| format!(" (the last watch error: {e})"))
        .unwrap_or_default();
    match waited {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(Error::env(format!("cluster {cluster}: {e}"))),
        Err(_) => {
            let nodes = reader.state();
            let not_ready: Vec<String> = nodes
                .iter()
                .filter(|n| !ready(n))
                .map(|n| n.metadata.name.clone().unwrap_or_default())
                .collect();
            Err(Error::env(
                format!(
                    "cluster {cluster}: nodes not Ready after {within:?}: {}",
                    if nodes.is_empty() {
                        "no node has registered".to_string()
                    } else {
                        format!(
                            "{} of {} not Ready ({})",
                            not_ready.len(),
                            nodes.len(),
                            not_ready.join(", ")
                        )
                    }
                ) + &last_error,
            ))
        }
    }
}

impl KindProvider {
    async fn up_one(
        &self,
        plan: &UpPlan,
        def: &crate::definition::ClusterDefinition,
        exists: bool,
    ) -> Result<Cluster> {
        let name = &def.cluster_name;
        let kubeconfig = kubeconfig_path(&plan.state_dir, name);
        if !exists {
            let config = self.config_dir.join(format!("{name}.yaml"));
            if !config.is_file() {
                return Err(Error::input(format!(
                    "{}: no kind config for cluster {name}; add one (kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4) beside the others",
                    config.display()
                )));
            }
            create(name, &config, &kubeconfig).await?;
        }
        // the kubeconfig from here, and the server the hub's pods reach the cluster at
        let external = get_kubeconfig(name, false).await?;
        write_private(&kubeconfig, external.as_bytes())
            .map_err(|e| Error::env(format!("writing {}: {e}", kubeconfig.display())))?;
        let internal = get_kubeconfig(name, true).await?;
        let (server, ca) = server_and_ca(&internal)
            .map_err(|e| Error::env(format!("`kind get kubeconfig --internal --name {name}`: {e}")))?;
        let context = context_name(name);
        let client = crate::kube_util::client_from_kubeconfig(&kubeconfig, Some(&context))
            .await
            .map_err(|e| Error::env(format!("cluster {name}: {}: {e}", kubeconfig.display())))?;
        wait_nodes_ready(client.clone(), name, self.node_timeout).await?;
        let role = role_of(def).unwrap_or(Role::Spoke);
        Ok(Cluster {
            name: name.clone(),
            role,
            definition: def.clone(),
            client,
            kubeconfig,
            context,
            server_from_hub: if role == Role::Hub {
                IN_CLUSTER.into()
            } else {
                server
            },
            ca_pem: if role == Role::Hub { None } else { ca },
            aws: None,
        })
    }
}

impl Provider for KindProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Kind
    }

    async fn up(&self, plan: &UpPlan, progress: &Progress) -> Result<Environment> {
        let step = progress.step("preflight: kind, docker, helm");
        match tools::preflight(&[KIND, DOCKER, HELM]).await {
            Ok(found) => step.done(
                &found
                    .iter()
                    .map(|(n, v)| format!("{n} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Err(e) => {
                step.fail("tools missing or too old");
                return Err(e);
            }
        }
        if let Some(repo) = &self.repository {
            // the hub's Argo CD clones every Application from it: a wrong URL or missing
            // credentials would otherwise show only as Applications that never sync
            let shown = crate::repository::redacted(&repo.url);
            let step = progress.step(format!("checking that {shown} answers (git ls-remote)"));
            match crate::repository::check_answers(
                &repo.url,
                repo.credentials.as_ref(),
                Duration::from_secs(60),
            )
            .await
            {
                Ok(()) => step.done(if repo.credentials.is_some() {
                    "it answers (with the token)"
                } else {
                    "it answers"
                }),
                Err(e) => {
                    step.fail("it does not answer");
                    return Err(Error::input(e));
                }
            }
        }
        std::fs::create_dir_all(&plan.state_dir).map_err(|e| {
            Error::env(format!(
                "cannot create the state directory {}: {e}",
                plan.state_dir.display()
            ))
        })?;
        let existing = existing_clusters().await?;
        let members = plan.members();
        let taken: Vec<&str> = members
            .iter()
            .map(|d| d.cluster_name.as_str())
            .filter(|n| existing.iter().any(|e| e == n))
            .collect();
        if !taken.is_empty() && !plan.reuse {
            return Err(Error::env(format!(
                "kind cluster(s) {} already exist; pass --reuse to use them, or delete them first with `hubspoke down --env kind`",
                taken.join(", ")
            )));
        }
        let step = progress.step(format!(
            "creating kind clusters {} (concurrently{})",
            members
                .iter()
                .map(|d| d.cluster_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if taken.is_empty() {
                String::new()
            } else {
                format!("; reusing {}", taken.join(", "))
            }
        ));
        let results = futures::future::join_all(
            members
                .iter()
                .map(|d| self.up_one(plan, d, taken.contains(&d.cluster_name.as_str()))),
        )
        .await;
        let mut hub = None;
        let mut spokes = Vec::new();
        let mut failures = Vec::new();
        for r in results {
            match r {
                Ok(c) if c.role == Role::Hub => hub = Some(c),
                Ok(c) => spokes.push(c),
                Err(e) => failures.push(e),
            }
        }
        if let Some(first) = failures.first() {
            step.fail("see below");
            let kind = first.kind;
            let msg = failures
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("\n  ");
            let created: Vec<&str> = members
                .iter()
                .map(|d| d.cluster_name.as_str())
                .filter(|n| !taken.contains(n))
                .collect();
            self.clean_up_created(plan, &created, progress).await;
            return Err(Error { kind, message: msg });
        }
        let Some(hub) = hub else {
            return Err(Error::input("the definitions name no hub"));
        };
        step.done("nodes Ready");
        Ok(Environment::new(ProviderKind::Kind, hub, spokes, plan))
    }

    async fn down(&self, state: &State, dir: &Path, progress: &Progress) -> Result<()> {
        let clusters: Vec<(String, PathBuf)> = state
            .clusters
            .iter()
            .map(|c| (c.name.clone(), dir.join(&c.kubeconfig)))
            .collect();
        let names: Vec<&str> = clusters.iter().map(|(n, _)| n.as_str()).collect();
        let step = progress.step(format!("deleting kind clusters {}", names.join(", ")));
        if let Err(e) = delete_clusters(&clusters).await {
            step.fail("see below");
            return Err(e);
        }
        step.done("deleted");
        remove_state(state, dir)
    }
}

impl KindProvider {
    /// After a creation failed: the clusters of this run that kind still lists (not those
    /// reused) are deleted, unless `keep`; either way the output says how to delete them.
    async fn clean_up_created(&self, plan: &UpPlan, candidates: &[&str], progress: &Progress) {
        let now = existing_clusters().await.unwrap_or_default();
        let created: Vec<&str> = candidates
            .iter()
            .copied()
            .filter(|n| now.iter().any(|e| e == n))
            .collect();
        if created.is_empty() {
            return;
        }
        if self.keep {
            progress.note(&format!(
                "keeping the kind clusters this run created ({}; --keep); delete them with `hubspoke down --env kind`",
                created.join(", ")
            ));
            return;
        }
        let step = progress.step(format!(
            "deleting the kind clusters this run created ({}; pass --keep to keep them)",
            created.join(", ")
        ));
        let clusters: Vec<(String, PathBuf)> = created
            .iter()
            .map(|n| (n.to_string(), kubeconfig_path(&plan.state_dir, n)))
            .collect();
        match delete_clusters(&clusters).await {
            Ok(()) => {
                for (_, kubeconfig) in &clusters {
                    let _ = std::fs::remove_file(kubeconfig);
                }
                step.done("deleted");
            }
            Err(e) => step.fail(&format!(
                "{}; delete them with `hubspoke down --env kind`",
                e.message
            )),
        }
    }
}

/// `hubspoke down --env kind` without state.json (a failed or interrupted `up` never wrote
/// it): deletes the clusters the definitions name (the hub and the enabled spokes) that
/// kind lists, with the kubeconfigs in `dir`, then those kubeconfigs.
pub async fn down_from_definitions(
    defs: &crate::definition::Definitions,
    dir: &Path,
    progress: &Progress,
) -> Result<()> {
    let members: Vec<String> = std::iter::once(defs.hub())
        .chain(defs.spokes())
        .map(|d| d.cluster_name.clone())
        .collect();
    let now = existing_clusters().await?;
    let clusters: Vec<(String, PathBuf)> = members
        .iter()
        .filter(|n| now.contains(n))
        .map(|n| (n.clone(), kubeconfig_path(dir, n)))
        .collect();
    if clusters.is_empty() {
        progress.note(&format!(
            "no state.json in {}, and kind lists none of the clusters named by the definitions in {} ({}): nothing to delete",
            dir.display(),
            defs.dir.display(),
            members.join(", ")
        ));
    } else {
        let step = progress.step(format!(
            "no state.json in {}: deleting the kind clusters named by the definitions in {} ({})",
            dir.display(),
            defs.dir.display(),
            clusters
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Err(e) = delete_clusters(&clusters).await {
            step.fail("see below");
            return Err(e);
        }
        step.done("deleted");
    }
    for n in &members {
        let _ = std::fs::remove_file(kubeconfig_path(dir, n));
    }
    for f in ["kubeconfig", "checks.lock"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    Ok(())
}

//! `hubspoke up`/`down`/`status` as library calls, so tests and the CLI do the same thing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bootstrap::{self, BootstrapOptions, DEFAULT_PROBE_PATH};
use crate::definition::{ClusterDefinition, Definitions};
use crate::environment::{self, Environment, ProviderKind, State};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::providers::existing::{ExistingConfig, ExistingProvider};
use crate::providers::kind::KindProvider;
use crate::providers::sim::SimProvider;
use crate::providers::{Provider, UpPlan};
use crate::revision::{Revision, RevisionChoice};
use crate::terraform::Stop;

/// Everything `up` needs.
#[derive(Clone, Debug)]
pub struct UpOptions {
    pub env: ProviderKind,
    /// The release directory (holding clusters/).
    pub release: PathBuf,
    pub state_dir: PathBuf,
    pub revision: RevisionChoice,
    /// Keep what was built when a later step fails.
    pub keep: bool,
    /// Reuse clusters that exist.
    pub reuse: bool,
    /// sim only: the number of spokes (the definitions' spokes, cut or extended by copies
    /// of the last one).
    pub spokes: Option<usize>,
    pub probe_path: String,
    pub timeout: Duration,
    /// kind: where the kind configs are.
    pub kind_config_dir: PathBuf,
    /// existing: which contexts.
    pub existing: Option<ExistingConfig>,
    /// Apply the bootstrap Application.
    pub bootstrap_application: bool,
    /// The run ends at the latest this long after it starts: then it stops as on SIGTERM
    /// (and an eks run destroys what it built unless `keep`).
    pub deadline: Option<Duration>,
    /// eks: the terraform module and the run.
    pub eks: EksOptions,
    /// Credentials for the platform repository (`HUBSPOKE_REPOSITORY_TOKEN`), for Argo CD's
    /// repository Secret and the check that the repository answers.
    pub repository_credentials: Option<crate::repository::Credentials>,
}

/// What the eks environment is built with.
#[derive(Clone, Debug, Default)]
pub struct EksOptions {
    /// The root module (`terraform/`, its var files in `variables/<cluster>.tfvars`).
    pub module_dir: PathBuf,
    /// A `-backend-config` file for a remote backend.
    pub backend_config: Option<PathBuf>,
    /// The run id every resource is tagged with (`hubspoke.io/run-id`).
    pub run_id: String,
    /// When the run ends at the latest, RFC 3339 (`hubspoke.io/expires-at`; the janitor
    /// reaps clusters past it). Empty: from `deadline` when there is one.
    pub run_expires_at: String,
    /// Further terraform variables (`-var NAME=VALUE`).
    pub vars: std::collections::BTreeMap<String, String>,
    /// State locks older than this were left by a killed terraform and are force-unlocked
    /// (from `deadline`).
    pub stale_lock_after: Option<std::time::Duration>,
}

/// A run id: `$HUBSPOKE_RUN_ID`, else `hs-<UTC yymmdd-hhmmss>-<process id>` (at most 24
/// characters, see [`check_run_id`]).
pub fn new_run_id() -> String {
    match std::env::var("HUBSPOKE_RUN_ID") {
        Ok(id) if !id.is_empty() => id,
        _ => format!(
            "hs-{}-{}",
            jiff::Timestamp::now().strftime("%y%m%d-%H%M%S"),
            std::process::id()
        ),
    }
}

/// Run ids become tags, terraform variables and part of the names of the clusters and IAM
/// roles a run creates (`hubspoke-argocd-spoke-<run id>-<cluster>` must fit IAM's 64
/// characters): 1 to 24 lower-case letters, digits and dashes, as terraform/ validates them.
pub fn check_run_id(id: &str) -> std::result::Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 24
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "run id {id:?}: use 1 to 24 lower-case letters, digits and dashes, starting with a letter or digit (e.g. nightly-1234); it becomes part of the EKS cluster's and IAM roles' names"
        ))
    }
}

impl UpOptions {
    pub fn new(env: ProviderKind, root: &Path) -> Self {
        UpOptions {
            env,
            release: root.join(env.default_release()),
            state_dir: environment::state_dir(env),
            revision: RevisionChoice::default(),
            keep: false,
            reuse: false,
            spokes: None,
            probe_path: DEFAULT_PROBE_PATH.into(),
            timeout: Duration::from_secs(match env {
                ProviderKind::Sim => 60,
                _ => 600,
            }),
            kind_config_dir: root.join("kind"),
            existing: None,
            bootstrap_application: true,
            deadline: None,
            eks: EksOptions {
                module_dir: root.join("terraform"),
                run_id: new_run_id(),
                ..Default::default()
            },
            repository_credentials: None,
        }
    }
}

/// The definitions `up` builds: for sim, `spokes` cuts the enabled spokes or extends them
/// with copies of the last one (spoke-c, spoke-d, ...).
pub fn plan_definitions(mut defs: Definitions, spokes: Option<usize>) -> Result<Definitions> {
    let Some(n) = spokes else { return Ok(defs) };
    let enabled: Vec<ClusterDefinition> = defs.spokes().cloned().collect();
    let Some(template) = enabled.last().cloned() else {
        return Err(Error::input(format!(
            "--spokes {n}: {} defines no enabled spoke to copy; add one",
            defs.dir.display()
        )));
    };
    let mut keep: Vec<String> = enabled.iter().take(n).map(|d| d.cluster_name.clone()).collect();
    let mut i = 0;
    let mut extra = Vec::new();
    while keep.len() < n {
        let name = hubspoke_sim::spoke_name(i);
        i += 1;
        if defs.get(&name).is_some() || keep.contains(&name) {
            continue;
        }
        let mut d = template.clone();
        d.cluster_name = name.clone();
        d.file = defs.dir.join(format!("{name}.yaml"));
        keep.push(name);
        extra.push(d);
    }
    defs.clusters.retain(|c| {
        c.cluster_type != crate::definition::ClusterType::Spoke
            || !c.enabled
            || keep.contains(&c.cluster_name)
    });
    defs.clusters.extend(extra);
    Ok(defs)
}

async fn provider_up(
    opts: &UpOptions,
    plan: &UpPlan,
    progress: &Progress,
    stop: Stop,
    repository: &str,
) -> Result<Environment> {
    match opts.env {
        ProviderKind::Sim => SimProvider.up(plan, progress).await,
        ProviderKind::Kind => {
            KindProvider {
                config_dir: opts.kind_config_dir.clone(),
                node_timeout: opts.timeout,
                keep: opts.keep,
                repository: Some(crate::providers::kind::RepositoryCheck {
                    url: repository.to_string(),
                    credentials: opts.repository_credentials.clone(),
                }),
            }
            .up(plan, progress)
            .await
        }
        ProviderKind::Existing => {
            let config = opts.existing.clone().ok_or_else(|| {
                Error::input(
                    "--env existing needs --hub-context and --spoke NAME=CONTEXT, or --existing-config FILE",
                )
            })?;
            ExistingProvider { config }.up(plan, progress).await
        }
        #[cfg(feature = "eks")]
        ProviderKind::Eks => {
            let mut eks = opts.eks.clone();
            check_run_id(&eks.run_id).map_err(Error::input)?;
            if eks.run_expires_at.is_empty()
                && let Some(d) = opts.deadline
                && let Ok(at) =
                    jiff::Timestamp::now().checked_add(jiff::SignedDuration::try_from(d).unwrap_or_default())
            {
                eks.run_expires_at = at.round(jiff::Unit::Second).unwrap_or(at).to_string();
            }
            if eks.stale_lock_after.is_none() {
                eks.stale_lock_after = opts.deadline;
            }
            crate::eks::provider::up(&eks, plan, opts.keep, opts.timeout, progress, stop).await
        }
        #[cfg(not(feature = "eks"))]
        ProviderKind::Eks => {
            drop(stop);
            Err(Error::input(
                "--env eks: this hubspoke was built without the eks feature; build it with `cargo build -p hubspoke --features eks`",
            ))
        }
    }
}

/// Tears down an environment from its state, by its provider.
pub async fn provider_down(
    env: ProviderKind,
    state: &State,
    dir: &Path,
    progress: &Progress,
    kind_config_dir: &Path,
) -> Result<()> {
    match env {
        ProviderKind::Sim => SimProvider.down(state, dir, progress).await,
        ProviderKind::Kind => {
            KindProvider::new(kind_config_dir)
                .down(state, dir, progress)
                .await
        }
        ProviderKind::Existing => {
            ExistingProvider {
                config: ExistingConfig::default(),
            }
            .down(state, dir, progress)
            .await
        }
        ProviderKind::Eks => eks_down(dir, None, progress)
            .await
            .map(|said| progress.note(&said)),
    }
}

/// EKS: destroys what terraform built, from `<dir>/terraform.json` alone (a failed `up`
/// may not have written state.json), then the state files. Says what it destroyed.
/// `stale_lock_after`: force-unlock state locks older than this instead of the run's
/// deadline `up` recorded.
pub(crate) async fn eks_down(
    dir: &Path,
    stale_lock_after: Option<std::time::Duration>,
    progress: &Progress,
) -> Result<String> {
    let workspaces: Vec<String> = crate::terraform::Record::load(dir)
        .map(|r| r.workspaces.into_iter().map(|w| w.name).collect())
        .unwrap_or_default();
    let said = crate::terraform::down_with(dir, stale_lock_after.map(|d| d.as_secs()), progress)
        .await
        .map_err(|e| Error::env(e.to_string()))?;
    if let Ok(state) = Environment::read_state(ProviderKind::Eks, dir) {
        crate::providers::remove_state(&state, dir)?;
    }
    eks_leftovers(dir, &workspaces);
    Ok(said)
}

/// After the clusters were destroyed: the kubeconfigs a failed `up` wrote without a
/// state.json, and terraform's working directories (providers, modules).
pub(crate) fn eks_leftovers(dir: &Path, workspaces: &[String]) {
    for name in workspaces {
        let _ = std::fs::remove_file(dir.join(format!("{name}.kubeconfig")));
        let _ = std::fs::remove_dir_all(dir.join("terraform").join(name));
    }
    let _ = std::fs::remove_dir(dir.join("terraform"));
}

/// Builds the environment, bootstraps it, writes its state. On failure, what was built is
/// torn down unless `keep`.
pub async fn up(opts: &UpOptions, progress: &Progress) -> Result<Environment> {
    up_with(opts, progress, crate::terraform::never()).await
}

/// [`up`], stopped early by `stop` (SIGINT, SIGTERM, the run's deadline): terraform is
/// interrupted gracefully, a bootstrap in flight is abandoned, and what was built is torn
/// down unless `keep`.
pub async fn up_with(opts: &UpOptions, progress: &Progress, stop: Stop) -> Result<Environment> {
    if opts.spokes.is_some() && opts.env != ProviderKind::Sim {
        return Err(Error::input(format!(
            "--spokes applies to sim only; the {} environment builds the spokes its definitions name",
            opts.env
        )));
    }
    if opts.reuse && opts.env == ProviderKind::Sim {
        return Err(Error::input(
            "--reuse applies to kind and existing clusters; a sim environment lives only as long as the process serving it",
        ));
    }
    let defs = Definitions::load(&opts.release)?;
    let defs = plan_definitions(defs, opts.spokes)?;
    let hub_def = defs.hub().clone();
    let revision = Revision::choose(&opts.release, &hub_def.platform_repository, &opts.revision)
        .map_err(Error::input)?;
    crate::repository::check_url(&revision.repository).map_err(Error::input)?;
    if opts.env != ProviderKind::Sim
        && let Some(warning) = revision.unpushed()
    {
        progress.note(&format!("warning: {warning}"));
    }
    progress.note(&format!(
        "revision under test: {} at {}{}",
        revision.repository,
        revision.revision,
        revision
            .sha
            .as_deref()
            .map(|s| format!(" ({})", &s[..s.len().min(12)]))
            .unwrap_or_default()
    ));
    if let Ok(state) = Environment::read_state(opts.env, &opts.state_dir) {
        let running = state.pid.is_some_and(crate::providers::sim::alive);
        if opts.env == ProviderKind::Sim && running {
            return Err(Error::env(format!(
                "a sim environment is already up (process {}, {}); stop it with `hubspoke down --env sim`",
                state.pid.unwrap_or_default(),
                opts.state_dir.display()
            )));
        }
        if matches!(opts.env, ProviderKind::Kind | ProviderKind::Eks) && !opts.reuse {
            return Err(Error::env(format!(
                "a {env} environment is already up ({}); pass --reuse to use it, or `hubspoke down --env {env}` first",
                opts.state_dir.display(),
                env = opts.env
            )));
        }
    }
    let plan = UpPlan {
        definitions: defs,
        release: opts.release.clone(),
        state_dir: opts.state_dir.clone(),
        reuse: opts.reuse,
    };
    let mut env = provider_up(opts, &plan, progress, stop.clone(), &revision.repository).await?;
    let bopts = BootstrapOptions {
        revision,
        probe_path: opts.probe_path.clone(),
        timeout: opts.timeout,
        bootstrap_application: opts.bootstrap_application,
        repository_credentials: opts.repository_credentials.clone(),
    };
    let pid = (opts.env == ProviderKind::Sim).then(std::process::id);
    let booted = tokio::select! {
        r = bootstrap::bootstrap(&mut env, &bopts, progress) => r.map(|_| ()),
        why = stop.clone() => Err(Error::env(format!("interrupted ({why}) while bootstrapping"))),
    };
    if let Err(e) = booted {
        if opts.keep {
            let _ = env.save(pid);
            progress.note(&format!(
                "keeping the environment (--keep); its state is in {}",
                opts.state_dir.display()
            ));
        } else if opts.env != ProviderKind::Sim {
            progress.note("tearing down what was built (pass --keep to keep it for debugging)");
            let state = env.state(pid);
            if let Err(down) =
                provider_down(opts.env, &state, &opts.state_dir, progress, &opts.kind_config_dir).await
            {
                progress.note(&format!("teardown failed too: {down}"));
            }
        } else {
            let _ = crate::providers::remove_state(&env.state(pid), &opts.state_dir);
        }
        return Err(e);
    }
    write_merged_kubeconfig(&env).map_err(|e| Error::env(format!("writing the merged kubeconfig: {e}")))?;
    env.save(pid).map_err(|e| {
        Error::env(format!(
            "writing {}: {e}",
            opts.state_dir.join("state.json").display()
        ))
    })?;
    Ok(env)
}

/// [`up`], stopped when `stop` completes first (SIGINT/SIGTERM): the steps in flight are
/// abandoned (their tools killed) and, unless `keep`, kind clusters this run was creating
/// are deleted again (clusters that existed before are left alone).
pub async fn up_until(opts: &UpOptions, progress: &Progress, stop: Stop) -> Result<Environment> {
    if opts.env != ProviderKind::Kind {
        // the providers and the bootstrap stop themselves (terraform gracefully)
        return up_with(opts, progress, stop).await;
    }
    let before = kind_clusters().await.unwrap_or_default();
    tokio::select! {
        r = up_with(opts, progress, stop.clone()) => r,
        why = stop => {
            progress.note(&format!("interrupted ({why})"));
            if !opts.keep {
                interrupted_kind_cleanup(opts, &before, progress).await;
            }
            Err(Error::env(format!("interrupted ({why}) before the environment was up")))
        }
    }
}

async fn kind_clusters() -> Result<Vec<String>> {
    let out = crate::tools::run("kind", &["get".to_string(), "clusters".to_string()]).await?;
    Ok(out
        .stdout
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

async fn interrupted_kind_cleanup(opts: &UpOptions, before: &[String], progress: &Progress) {
    let Ok(defs) = Definitions::load(&opts.release) else {
        return;
    };
    let members: Vec<String> = std::iter::once(defs.hub())
        .chain(defs.spokes())
        .map(|d| d.cluster_name.clone())
        .filter(|n| !before.contains(n))
        .collect();
    let now = kind_clusters().await.unwrap_or_default();
    let created: Vec<&String> = members.iter().filter(|n| now.contains(n)).collect();
    if created.is_empty() {
        return;
    }
    let step = progress.step(format!(
        "deleting the kind clusters this run created ({}; pass --keep to keep them)",
        created.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    ));
    let clusters: Vec<(String, PathBuf)> = created
        .iter()
        .map(|n| {
            (
                n.to_string(),
                crate::providers::kind::kubeconfig_path(&opts.state_dir, n),
            )
        })
        .collect();
    if let Err(e) = crate::providers::kind::delete_clusters(&clusters).await {
        step.fail(&e.message);
        return;
    }
    for (_, kubeconfig) in &clusters {
        let _ = std::fs::remove_file(kubeconfig);
    }
    let _ = std::fs::remove_file(opts.state_dir.join("state.json"));
    step.done("deleted");
}

/// `<state>/kubeconfig` with every cluster's context (current: the hub), 0600, for
/// `kubectl --kubeconfig target/hubspoke/<env>/kubeconfig --context ...`.
pub fn write_merged_kubeconfig(env: &Environment) -> std::io::Result<()> {
    let (mut clusters, mut users, mut contexts) = (Vec::new(), Vec::new(), Vec::new());
    for c in env.clusters() {
        let Ok(kc) = kube::config::Kubeconfig::read_from(&c.kubeconfig) else {
            continue;
        };
        let Some(ctx) = kc.contexts.iter().find(|x| x.name == c.context).cloned() else {
            continue;
        };
        if let Some(inner) = &ctx.context {
            clusters.extend(kc.clusters.iter().filter(|x| x.name == inner.cluster).cloned());
            users.extend(
                kc.auth_infos
                    .iter()
                    .filter(|x| Some(&x.name) == inner.user.as_ref())
                    .cloned(),
            );
        }
        contexts.push(ctx);
    }
    let merged = kube::config::Kubeconfig {
        clusters,
        auth_infos: users,
        contexts,
        current_context: Some(env.hub.context.clone()),
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        ..Default::default()
    };
    let yaml = serde_saphyr::to_string(&merged).map_err(std::io::Error::other)?;
    environment::write_private(&env.state_dir.join("kubeconfig"), yaml.as_bytes())
}

/// `hubspoke down`: tears down the environment recorded in `dir`. kind without state.json
/// (an `up` that failed or was interrupted before writing it) deletes the clusters the
/// definitions in `release` name. eks: state locks older than `stale_lock_after` (default:
/// the run's deadline) are force-unlocked.
pub async fn down(
    env: ProviderKind,
    dir: &Path,
    kind_config_dir: &Path,
    release: &Path,
    stale_lock_after: Option<std::time::Duration>,
    progress: &Progress,
) -> Result<()> {
    if env == ProviderKind::Eks {
        return eks_down(dir, stale_lock_after, progress)
            .await
            .map(|said| progress.note(&said));
    }
    let state = match Environment::read_state(env, dir) {
        Ok(state) => state,
        Err(environment::LoadError::Missing { .. }) if env == ProviderKind::Kind => {
            let defs = Definitions::load(release)?;
            return crate::providers::kind::down_from_definitions(&defs, dir, progress).await;
        }
        Err(e) => return Err(e.into()),
    };
    provider_down(env, &state, dir, progress, kind_config_dir).await
}

/// One cluster in `hubspoke status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterStatus {
    pub name: String,
    pub role: &'static str,
    pub server_from_hub: String,
    pub context: String,
    pub reachable: bool,
    pub version: Option<String>,
    pub error: Option<String>,
}

/// One Application in `hubspoke status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppStatus {
    pub name: String,
    pub destination: String,
    pub sync: String,
    pub health: String,
    pub revision: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub env: ProviderKind,
    pub state_dir: PathBuf,
    pub revision: Option<Revision>,
    pub clusters: Vec<ClusterStatus>,
    pub applications: Vec<AppStatus>,
}

/// Reads the environment's state and asks every cluster and the hub's Argo CD.
pub async fn status(env: ProviderKind, dir: &Path) -> Result<Status> {
    let e = Environment::load(env, dir).await?;
    let clusters = futures::future::join_all(e.clusters().map(|c| async move {
        let v = tokio::time::timeout(Duration::from_secs(10), c.client.apiserver_version()).await;
        let (reachable, version, error) = match v {
            Ok(Ok(v)) => (true, Some(v.git_version), None),
            Ok(Err(err)) => (false, None, Some(err.to_string())),
            Err(_) => (false, None, Some("no answer within 10s".to_string())),
        };
        ClusterStatus {
            name: c.name.clone(),
            role: c.role.as_str(),
            server_from_hub: c.server_from_hub.clone(),
            context: c.context.clone(),
            reachable,
            version,
            error,
        }
    }))
    .await;
    let mut applications = Vec::new();
    if clusters.first().is_some_and(|c| c.reachable) {
        let api = bootstrap::applications(&e.hub.client);
        if let Ok(list) = api.list(&Default::default()).await {
            for a in list {
                let s = |p: &str| {
                    a.data
                        .pointer(p)
                        .and_then(|v| v.as_str())
                        .unwrap_or("-")
                        .to_string()
                };
                let dest = a
                    .data
                    .pointer("/spec/destination/name")
                    .or(a.data.pointer("/spec/destination/server"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("-")
                    .to_string();
                applications.push(AppStatus {
                    name: a.metadata.name.clone().unwrap_or_default(),
                    destination: dest,
                    sync: s("/status/sync/status"),
                    health: s("/status/health/status"),
                    revision: s("/status/sync/revision"),
                });
            }
        }
    }
    Ok(Status {
        env,
        state_dir: dir.to_path_buf(),
        revision: e.revision.clone(),
        clusters,
        applications,
    })
}

impl Status {
    /// The table `hubspoke status` prints.
    pub fn table(&self) -> String {
        let mut out = format!("environment {} ({})\n", self.env, self.state_dir.display());
        if let Some(r) = &self.revision {
            out.push_str(&format!("revision    {} at {}\n", r.repository, r.revision));
        }
        out.push('\n');
        let rows: Vec<[String; 5]> = self
            .clusters
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    c.role.to_string(),
                    if c.reachable {
                        "Ready".into()
                    } else {
                        "Unreachable".into()
                    },
                    c.version
                        .clone()
                        .unwrap_or_else(|| c.error.clone().unwrap_or_default()),
                    c.server_from_hub.clone(),
                ]
            })
            .collect();
        out.push_str(&render(
            ["CLUSTER", "ROLE", "STATUS", "VERSION", "SERVER (FROM HUB)"],
            &rows,
        ));
        out.push('\n');
        if !self.clusters.first().is_some_and(|c| c.reachable) {
            out.push_str("the hub does not answer: its Applications are unknown\n");
        } else if self.applications.is_empty() {
            out.push_str("no Argo CD Applications on the hub\n");
        } else {
            let rows: Vec<[String; 5]> = self
                .applications
                .iter()
                .map(|a| {
                    [
                        a.name.clone(),
                        a.sync.clone(),
                        a.health.clone(),
                        a.revision.chars().take(12).collect(),
                        a.destination.clone(),
                    ]
                })
                .collect();
            out.push_str(&render(
                ["APPLICATION", "SYNC", "HEALTH", "REVISION", "DESTINATION"],
                &rows,
            ));
        }
        out
    }
}

pub(crate) fn render<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod run_id_tests {
    use super::*;

    #[test]
    fn run_ids_fit_the_names_they_become_part_of() {
        // the nightly's: nightly-<GitHub run id>-<attempt>
        assert_eq!(check_run_id("nightly-12345678901-1"), Ok(()));
        // the generated ones
        let generated = format!(
            "hs-{}-{}",
            jiff::Timestamp::now().strftime("%y%m%d-%H%M%S"),
            4_194_304
        );
        assert_eq!(check_run_id(&generated), Ok(()), "{generated}");
        // hubspoke-argocd-spoke-<run id>-spoke would not fit IAM's 64 characters
        let long = "nightly-1234567890123-100";
        assert_eq!(
            check_run_id(long).unwrap_err(),
            "run id \"nightly-1234567890123-100\": use 1 to 24 lower-case letters, digits and dashes, starting with a letter or digit (e.g. nightly-1234); it becomes part of the EKS cluster's and IAM roles' names"
        );
        assert!(check_run_id("Nightly-1").is_err());
        assert!(check_run_id("-1").is_err());
    }
}

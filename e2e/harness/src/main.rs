//! The `hubspoke` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hubspoke",
    version,
    about = "End-to-end tests for Kubernetes hub/spoke platforms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The embedded `sim` environment.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// Run a hub and its spokes in the foreground until SIGINT/SIGTERM.
    ///
    /// Writes DIR/<cluster>.kubeconfig for each cluster, DIR/kubeconfig with every context,
    /// and DIR/ready once all clusters serve. Point kubectl, k9s or your own tools at them.
    Serve {
        /// Where to write the kubeconfigs (created if missing; files are 0600).
        #[arg(long, value_name = "DIR")]
        kubeconfig_dir: PathBuf,
        /// Number of spoke clusters besides the hub.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=500))]
        spokes: u16,
        /// Serve the Kubernetes APIs only, without the stand-ins (the workload stand-in on
        /// every cluster, which plays scheduler, kubelet and the workload controllers, Kyverno
        /// on every spoke, Argo CD on the hub).
        #[arg(long)]
        api_only: bool,
        /// Serve a git repository to Argo CD Applications: `URL=DIR` (repeatable). The git
        /// checkout containing the current directory is always served under its remotes' URLs.
        #[arg(long = "repo", value_name = "URL=DIR")]
        repos: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HUBSPOKE_LOG")
                .unwrap_or_else(|_| "hubspoke=info,hubspoke_sim=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Sim {
                command:
                    SimCommand::Serve {
                        kubeconfig_dir,
                        spokes,
                        api_only,
                        repos,
                    },
            } => serve(kubeconfig_dir, spokes as usize, api_only, repos).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The repositories Argo CD reads: `--repo URL=DIR` and the checkout we run in.
fn repositories(flags: &[String]) -> anyhow::Result<hubspoke_sim::standins::argocd::Repositories> {
    let mut repos = hubspoke_sim::standins::argocd::Repositories::new();
    for f in flags {
        let Some((url, dir)) = f.split_once('=') else {
            anyhow::bail!(
                "--repo {f:?}: expected URL=DIR, e.g. --repo https://github.com/org/platform.git=../platform"
            );
        };
        let dir = PathBuf::from(dir);
        if !dir.join(".git").exists() && !dir.join("HEAD").exists() {
            anyhow::bail!("--repo {f:?}: {} is not a git repository", dir.display());
        }
        repos.add(url, dir);
    }
    if let Ok(cwd) = std::env::current_dir() {
        // outside a checkout there is simply nothing more to serve
        let _ = repos.add_checkout(&cwd);
    }
    Ok(repos)
}

async fn serve(dir: PathBuf, spokes: usize, api_only: bool, repo_flags: Vec<String>) -> anyhow::Result<()> {
    let repos = repositories(&repo_flags)?;
    use anyhow::Context;
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create the kubeconfig directory {} (is the path writable?)",
            dir.display()
        )
    })?;
    let ready = dir.join("ready");
    // a stale ready file from an earlier run must not fool a waiting process
    match std::fs::remove_file(&ready) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing stale {}", ready.display())),
    }
    let env = hubspoke_sim::SimEnvironment::start(spokes)
        .await
        .context("starting the sim environment")?;
    let paths = env.write_kubeconfigs(&dir).with_context(|| {
        format!(
            "writing kubeconfigs to {} (is the directory writable?)",
            dir.display()
        )
    })?;
    // the workload stand-in plays kubelet and controllers on every cluster; the spokes run
    // Kyverno (later the Argo CD stand-in installs it only where the platform deploys it)
    let mut workloads = Vec::new();
    let mut kyvernos = Vec::new();
    let mut argocd = None;
    if !api_only {
        for c in env.clusters() {
            let client = c
                .client()
                .await
                .with_context(|| format!("connecting to {}", c.name()))?;
            let opts = hubspoke_sim::standins::workload::WorkloadOptions {
                node_prefix: c.name().to_string(),
                ..Default::default()
            };
            workloads.push(
                hubspoke_sim::standins::workload::WorkloadStandIn::run(client, opts)
                    .await
                    .with_context(|| format!("starting the workload stand-in on {}", c.name()))?,
            );
        }
        for c in &env.spokes {
            let client = c
                .client()
                .await
                .with_context(|| format!("connecting to {}", c.name()))?;
            kyvernos.push(
                hubspoke_sim::standins::kyverno::KyvernoStandIn::install(client, Default::default())
                    .await
                    .with_context(|| format!("installing the Kyverno stand-in on {}", c.name()))?,
            );
        }
        let hub = env.hub.client().await.context("connecting to the hub")?;
        let opts = hubspoke_sim::standins::argocd::ArgoCdOptions {
            repositories: repos,
            ..Default::default()
        };
        argocd = Some(
            hubspoke_sim::standins::argocd::ArgoCdStandIn::install(hub, opts)
                .await
                .context("installing the Argo CD stand-in on the hub")?,
        );
    }
    for (c, p) in env.clusters().zip(&paths) {
        println!("{:<10} {}  kubeconfig: {}", c.name(), c.url(), p.display());
    }
    println!("all contexts: {}", dir.join("kubeconfig").display());
    std::fs::write(&ready, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", ready.display()))?;
    wait_for_signal().await?;
    eprintln!("shutting down");
    drop(argocd);
    drop(kyvernos);
    drop(workloads);
    for c in env.clusters() {
        c.shutdown();
    }
    let _ = std::fs::remove_file(&ready);
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok(())
    }
}

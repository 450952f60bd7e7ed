//! The `hubspoke` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hubspoke::environment::{self, ProviderKind};
use hubspoke::progress::Progress;
use hubspoke::revision::RevisionChoice;
use hubspoke::up::UpOptions;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a check failed (the registration check)
  2  usage error (bad flags)
  3  invalid input (cluster definitions, config files, manifests)
  4  the environment could not be built, reached or torn down
     (missing or too old tools, cluster errors, timeouts)

Logs: HUBSPOKE_LOG or RUST_LOG (e.g. RUST_LOG=hubspoke=debug). Progress is drawn on a
terminal and written as timestamped lines otherwise (HUBSPOKE_PROGRESS=plain forces lines).";

#[derive(Parser)]
#[command(
    name = "hubspoke",
    version,
    about = "End-to-end tests for Kubernetes hub/spoke platforms",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct EnvArgs {
    /// The environment: sim (embedded, in this process), kind, existing clusters, or eks
    /// (terraform; `up` needs the eks feature, `down` works from the state files in any
    /// build).
    #[arg(long, value_enum, default_value_t = ProviderKind::Sim)]
    env: ProviderKind,
    /// Where the state files are (default: target/hubspoke/<env> of the workspace, or
    /// $HUBSPOKE_STATE_DIR/<env>).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

impl EnvArgs {
    fn dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| environment::state_dir(self.env))
    }
}

// parsed once per process: the size of the largest variant does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Build the environment, install Argo CD on the hub, register the spokes and apply the
    /// bootstrap Application at the revision under test. With --env sim it keeps serving in
    /// the foreground until SIGINT/SIGTERM (or `hubspoke down --env sim`).
    #[command(after_help = EXIT_CODES)]
    Up(UpArgs),
    /// Run the suites: bring the environment up unless it exists (sim: in this process),
    /// run the checks (suites concurrently) with progress, print a summary and write reports.
    /// Exits 1 when a check fails.
    #[command(after_help = EXIT_CODES)]
    Test {
        #[command(flatten)]
        up: UpArgs,
        /// Run only this suite (repeatable): registration, deployment, kyverno, convergence.
        #[arg(long = "suite", value_name = "NAME")]
        suites: Vec<String>,
        /// Run only the checks whose suite/name matches this glob (repeatable), e.g.
        /// 'convergence/*'.
        #[arg(long = "check", value_name = "GLOB")]
        checks: Vec<String>,
        /// Write a JUnit report here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Where this run's artifacts go: diagnostics bundles of failed checks
        /// (<DIR>/<suite>/<check>/) and the convergence timeline. Default
        /// target/hubspoke/artifacts/<run> ($HUBSPOKE_ARTIFACTS_DIR/<run> when set).
        #[arg(long, value_name = "DIR")]
        artifacts: Option<PathBuf>,
    },
    /// Tear the environment down from its state files (sim: stop the serving process; kind:
    /// delete the clusters; existing: remove what hubspoke registered).
    #[command(after_help = EXIT_CODES)]
    Down {
        #[command(flatten)]
        env: EnvArgs,
        /// kind: the directory of kind cluster configs.
        #[arg(long, value_name = "DIR", default_value = "kind")]
        kind_configs: PathBuf,
        /// kind without state.json (an `up` that failed before writing it): the release
        /// whose definitions name the clusters to delete (default: the environment's,
        /// release/hub-kind).
        #[arg(long, value_name = "DIR")]
        release: Option<PathBuf>,
        /// eks: force-unlock terraform state locks older than this (e.g. 0s once the process
        /// that applied is known to be gone); default: the deadline `up` ran with.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        stale_lock_after: Option<std::time::Duration>,
    },
    /// Show the environment's clusters and the hub's Argo CD Applications.
    #[command(after_help = EXIT_CODES)]
    Status {
        #[command(flatten)]
        env: EnvArgs,
        /// Print JSON instead of tables.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Check the cluster definitions of every release and the YAML under release/,
    /// fixtures/ and kind/.
    #[command(after_help = EXIT_CODES)]
    Validate {
        /// The repository root.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
    /// List what hubspoke runs created and that outlived their run — EKS clusters, and
    /// everything else tagged with the run (VPCs and their parts, NAT gateways, Elastic
    /// IPs, IAM roles, policies and OIDC providers, KMS keys, log groups); with --apply,
    /// delete it in dependency order (clusters first). Needs the eks feature.
    #[command(after_help = EXIT_CODES)]
    Janitor {
        /// Leave runs younger than this alone (e.g. 6h), whatever their tags say.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        older_than: std::time::Duration,
        /// Delete what is leaked (without it, only list it).
        #[arg(long)]
        apply: bool,
        /// The regions to look in (repeatable; default: the AWS configuration's region).
        #[arg(long = "region", value_name = "REGION")]
        regions: Vec<String>,
        /// Only this run's resources, all of them whatever their deadline: the run is over
        /// (the nightly's destroy job names its own run).
        #[arg(long, value_name = "RUN_ID")]
        run_id: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Go templates as Helm and Argo CD render them (hubspoke-render).
    Render {
        #[command(subcommand)]
        command: RenderCommand,
    },
    /// Helm charts rendered as Helm 3.17 renders them, without a helm binary.
    Helm {
        #[command(subcommand)]
        command: HelmCommand,
    },
    /// The chart cache ($HUBSPOKE_CACHE_DIR, default ~/.cache/hubspoke/charts): fill it
    /// while the network is there, or import packaged charts on machines without it.
    Charts {
        #[command(subcommand)]
        command: ChartsCommand,
    },
    /// The embedded `sim` environment.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(clap::Args, Clone)]
struct UpArgs {
    #[command(flatten)]
    env: EnvArgs,
    /// The release whose cluster definitions to build (holding clusters/*.yaml).
    #[arg(long, value_name = "DIR", default_value = "release/hub-kind")]
    release: PathBuf,
    /// sim only: how many spokes (the definitions' spokes, cut or extended with copies).
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=500))]
    spokes: Option<u16>,
    /// The revision under test (default: the current branch of the checkout).
    #[arg(long)]
    revision: Option<String>,
    /// Use HEAD's commit SHA instead of the branch name.
    #[arg(long, conflicts_with = "revision")]
    use_commit: bool,
    /// The platform repository URL (default: the definitions' platform_repository). For a
    /// private repository, put a token that can read it in HUBSPOKE_REPOSITORY_TOKEN (user
    /// name: HUBSPOKE_REPOSITORY_USERNAME, default x-access-token): Argo CD gets it in a
    /// repository Secret; it is never logged.
    #[arg(long, value_name = "URL")]
    repository: Option<String>,
    /// Keep what was built when a step fails (for debugging).
    #[arg(long)]
    keep: bool,
    /// Reuse clusters that already exist.
    #[arg(long)]
    reuse: bool,
    /// Register the spokes but do not apply the bootstrap Application.
    #[arg(long)]
    no_bootstrap: bool,
    /// The repository path the registration probe deploys to each spoke.
    #[arg(long, value_name = "PATH", default_value = hubspoke::bootstrap::DEFAULT_PROBE_PATH)]
    probe_path: String,
    /// The deadline of each wait, in seconds (default: 60 on sim, 600 otherwise).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// kind: the directory of kind cluster configs (<cluster>.yaml).
    #[arg(long, value_name = "DIR", default_value = "kind")]
    kind_configs: PathBuf,
    /// existing: the kubeconfig holding the contexts (default: $KUBECONFIG, ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// existing: the hub's context.
    #[arg(long, value_name = "CONTEXT")]
    hub_context: Option<String>,
    /// existing: a spoke's context, NAME=CONTEXT (repeatable).
    #[arg(long = "spoke", value_name = "NAME=CONTEXT")]
    spoke_contexts: Vec<String>,
    /// existing: a file naming the contexts instead of the flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["hub_context", "spoke_contexts"])]
    existing_config: Option<PathBuf>,
    /// The run ends at the latest this long after it starts (e.g. 90m, 2h30m): then it stops
    /// as on SIGTERM, and an eks run destroys what it built unless --keep. eks runs tag
    /// their resources with it, for the janitor.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    deadline: Option<std::time::Duration>,
    /// eks: the terraform root module (its var files in variables/<cluster>.tfvars).
    #[arg(long, value_name = "DIR", default_value = "terraform")]
    terraform_dir: PathBuf,
    /// eks: a -backend-config file for a remote terraform backend (state outside this
    /// machine, for CI).
    #[arg(long, value_name = "FILE")]
    backend_config: Option<PathBuf>,
    /// eks: the run id every resource is tagged with (default: $HUBSPOKE_RUN_ID, else
    /// hs-<time>-<pid>).
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
    /// eks: a terraform variable, NAME=VALUE (repeatable), e.g. region=eu-west-1.
    #[arg(long = "tf-var", value_name = "NAME=VALUE")]
    tf_vars: Vec<String>,
}

/// `90m`, `6h`, `2h30m`, or ISO 8601 (`PT6H`).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 90m, 6h or 2h30m"))?;
    std::time::Duration::try_from(d).map_err(|_| format!("{s:?}: a duration cannot be negative"))
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(clap::Args, Clone, Default)]
struct ChartArgs {
    /// A chart directory, a packaged chart (.tgz), oci://HOST/PATH/CHART, or a chart name
    /// in --repo.
    chart: String,
    /// The HTTP(S) chart repository holding CHART.
    #[arg(long, value_name = "URL")]
    repo: Option<String>,
    /// An exact version or a semver constraint (default: the newest).
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,
    /// Use only the cache, never the network.
    #[arg(long)]
    offline: bool,
    /// CA certificates (PEM) for an HTTPS repository or registry.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum HelmCommand {
    /// Print what `helm template` prints for a chart: its manifests under `# Source:`
    /// headers, in Helm's order, hooks last.
    #[command(after_help = EXIT_CODES)]
    Template {
        #[command(flatten)]
        chart: ChartArgs,
        /// The release name.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// The release namespace.
        #[arg(long, short = 'n', value_name = "NS")]
        namespace: Option<String>,
        /// Values files, merged in order (repeatable).
        #[arg(long = "values", short = 'f', value_name = "FILE")]
        values: Vec<PathBuf>,
        /// Set values (repeatable): a.b=c,d[0]=e
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
        /// Set string values, never typed (repeatable).
        #[arg(long = "set-string", value_name = "K=V")]
        set_string: Vec<String>,
        /// Set JSON values (repeatable): a={"b":1}
        #[arg(long = "set-json", value_name = "K=JSON")]
        set_json: Vec<String>,
        /// Set values from files' contents (repeatable): key=path
        #[arg(long = "set-file", value_name = "K=FILE")]
        set_file: Vec<String>,
        /// Set a literal string value (repeatable).
        #[arg(long = "set-literal", value_name = "K=V")]
        set_literal: Vec<String>,
        /// The Kubernetes version templates see (default v1.32.0, as Helm 3.17).
        #[arg(long, value_name = "VERSION")]
        kube_version: Option<String>,
        /// More API versions for .Capabilities.APIVersions (repeatable).
        #[arg(long = "api-versions", short = 'a', value_name = "GROUP/VERSION")]
        api_versions: Vec<String>,
        /// Print the CRDs of crds/ directories first.
        #[arg(long)]
        include_crds: bool,
        /// Leave out test hooks.
        #[arg(long)]
        skip_tests: bool,
        /// Leave out hooks.
        #[arg(long)]
        no_hooks: bool,
        /// Only these templates (repeatable), e.g. templates/deployment.yaml.
        #[arg(long = "show-only", short = 's', value_name = "PATH")]
        show_only: Vec<String>,
        /// Do not validate values against values.schema.json.
        #[arg(long)]
        skip_schema_validation: bool,
    },
}

#[derive(Subcommand)]
enum ChartsCommand {
    /// Fetch a chart from its repository into the cache (run once with network; later runs
    /// read the cache).
    #[command(after_help = EXIT_CODES)]
    Pull {
        #[command(flatten)]
        chart: ChartArgs,
    },
    /// Put a packaged chart (.tgz) into the cache under the repository it comes from.
    #[command(after_help = EXIT_CODES)]
    Import {
        /// The packaged chart.
        file: PathBuf,
        /// The repository URL it belongs to (https://... or oci://...).
        #[arg(long, value_name = "URL")]
        repo: String,
    },
}

#[derive(Subcommand)]
enum RenderCommand {
    /// Render a plain Go template with JSON data as dot and print the output, or
    /// `ERROR: <Go's error text>` with exit code 3 (to compare with Go's text/template).
    #[command(after_help = EXIT_CODES)]
    Template {
        /// The template file (its name is the template's name in error texts).
        file: PathBuf,
        /// A JSON document: dot (numbers are float64, as encoding/json decodes them).
        data: PathBuf,
        /// What a missing map key yields: default (`<no value>`), zero or error.
        #[arg(long, default_value = "default", value_name = "MODE")]
        missingkey: String,
        /// Register sprig's functions, as Helm does.
        #[arg(long)]
        sprig: bool,
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUBSPOKE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| "hubspoke=warn,hubspoke_sim=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // colours on a terminal only: CI logs and files get plain text
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(4);
        }
    };
    let outcome = rt.block_on(run(cli.command));
    // Background tasks end through their cancellation tokens before `run` returns; one that
    // is still busy must not hold the process (dropping a runtime waits for its workers for
    // ever, and the signal handlers installed meanwhile would swallow SIGTERM).
    rt.shutdown_timeout(RUNTIME_SHUTDOWN);
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.exit_code())
        }
    }
}

fn helm_args(c: ChartArgs) -> hubspoke::render::HelmTemplate {
    hubspoke::render::HelmTemplate {
        chart: c.chart,
        repo: c.repo,
        version: c.version,
        offline: c.offline,
        ca_file: c.ca_file,
        ..Default::default()
    }
}

/// How long the async runtime may take to stop once the command is done.
const RUNTIME_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(3);

/// The options of `up` (and of `test`, which brings the environment up the same way).
fn up_options(a: UpArgs) -> Result<UpOptions, hubspoke::Error> {
    let cwd = std::env::current_dir().map_err(|e| hubspoke::Error::env(e.to_string()))?;
    let mut opts = UpOptions::new(a.env.env, &cwd);
    opts.release = a.release;
    opts.state_dir = a.env.dir();
    opts.spokes = a.spokes.map(usize::from);
    opts.revision = RevisionChoice {
        revision: a.revision,
        use_commit: a.use_commit,
        repository: a.repository,
    };
    opts.repository_credentials = hubspoke::repository::Credentials::from_env();
    opts.keep = a.keep;
    opts.reuse = a.reuse;
    opts.bootstrap_application = !a.no_bootstrap;
    opts.probe_path = a.probe_path;
    if let Some(t) = a.timeout {
        opts.timeout = std::time::Duration::from_secs(t);
    }
    opts.kind_config_dir = a.kind_configs;
    opts.deadline = a.deadline;
    opts.eks.module_dir = a.terraform_dir;
    opts.eks.backend_config = a.backend_config;
    if let Some(id) = a.run_id {
        hubspoke::up::check_run_id(&id).map_err(|e| hubspoke::Error::input(format!("--run-id: {e}")))?;
        opts.eks.run_id = id;
    }
    for v in &a.tf_vars {
        let Some((k, val)) = v.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(hubspoke::Error::input(format!(
                "--tf-var {v:?}: expected NAME=VALUE, e.g. --tf-var region=eu-west-1"
            )));
        };
        opts.eks.vars.insert(k.to_string(), val.to_string());
    }
    if a.env.env == ProviderKind::Existing {
        opts.existing = Some(match (a.existing_config, a.hub_context) {
            (Some(f), _) => hubspoke::providers::existing::ExistingConfig::read(&f)?,
            (None, Some(hub)) => hubspoke::providers::existing::ExistingConfig::from_flags(
                a.kubeconfig,
                &hub,
                &a.spoke_contexts,
            )?,
            (None, None) => {
                return Err(hubspoke::Error::input(
                    "--env existing needs --hub-context (and --spoke NAME=CONTEXT for each spoke) or --existing-config FILE",
                ));
            }
        });
    }
    Ok(opts)
}

async fn run(command: Command) -> Result<ExitCode, hubspoke::Error> {
    let progress = Progress::new();
    match command {
        Command::Up(args) => {
            let opts = up_options(args)?;
            let stop = stop_signal(opts.deadline)?;
            let e = hubspoke::up::up_until(&opts, &progress, stop.clone()).await?;
            println!(
                "environment {} is up; state in {}",
                e.provider,
                e.state_dir.display()
            );
            for c in e.clusters() {
                println!(
                    "  {:<10} {:<6} {}",
                    c.name,
                    c.role.as_str(),
                    c.kubeconfig.display()
                );
            }
            println!("  all contexts: {}", e.state_dir.join("kubeconfig").display());
            if e.provider == ProviderKind::Sim {
                println!("serving until SIGINT/SIGTERM or `hubspoke down --env sim`");
                let why = stop.await;
                eprintln!("shutting down ({why})");
                let _ = hubspoke::providers::remove_state(&e.state(None), &e.state_dir);
                drop(e);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Test {
            up,
            suites,
            checks,
            junit,
            artifacts,
        } => {
            let up = up_options(up)?;
            let stop = stop_signal(up.deadline)?;
            let opts = hubspoke::runner::TestOptions {
                up,
                suites,
                checks,
                junit,
                step_summary: std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
                artifacts,
            };
            let results = hubspoke::runner::test_until(&opts, &progress, stop).await?;
            print!("{}", hubspoke::runner::summary(&results));
            Ok(if results.iter().all(|r| r.failure.is_none()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Down {
            env,
            kind_configs,
            release,
            stale_lock_after,
        } => {
            let release = release.unwrap_or_else(|| PathBuf::from(env.env.default_release()));
            hubspoke::up::down(
                env.env,
                &env.dir(),
                &kind_configs,
                &release,
                stale_lock_after,
                &progress,
            )
            .await?;
            println!("environment {} is down", env.env);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { env, output } => {
            let status = hubspoke::up::status(env.env, &env.dir()).await?;
            match output {
                Output::Table => print!("{}", status.table()),
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&status).map_err(|e| hubspoke::Error::env(e.to_string()))?
                ),
            }
            Ok(if status.clusters.iter().all(|c| c.reachable) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(4)
            })
        }
        Command::Render {
            command:
                RenderCommand::Template {
                    file,
                    data,
                    missingkey,
                    sprig,
                },
        } => match hubspoke::render::render_template(&file, &data, &missingkey, sprig)? {
            hubspoke::render::Rendered::Output(out) => {
                print!("{out}");
                Ok(ExitCode::SUCCESS)
            }
            hubspoke::render::Rendered::GoError(e) => {
                println!("ERROR: {e}");
                Ok(ExitCode::from(3))
            }
        },
        Command::Helm {
            command:
                HelmCommand::Template {
                    chart,
                    name,
                    namespace,
                    values,
                    set,
                    set_string,
                    set_json,
                    set_file,
                    set_literal,
                    kube_version,
                    api_versions,
                    include_crds,
                    skip_tests,
                    no_hooks,
                    show_only,
                    skip_schema_validation,
                },
        } => {
            let mut h = helm_args(chart);
            h.name = name;
            h.namespace = namespace;
            h.values_files = values;
            h.set = hubspoke_render::strvals::SetOptions {
                json_values: set_json,
                values: set,
                string_values: set_string,
                file_values: set_file,
                literal_values: set_literal,
            };
            h.kube_version = kube_version;
            h.api_versions = api_versions;
            h.include_crds = include_crds;
            h.skip_tests = skip_tests;
            h.no_hooks = no_hooks;
            h.show_only = show_only;
            h.skip_schema_validation = skip_schema_validation;
            print!("{}", hubspoke::render::helm_template(&h).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Charts {
            command: ChartsCommand::Pull { chart },
        } => {
            println!("{}", hubspoke::render::charts_pull(&helm_args(chart)).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Charts {
            command: ChartsCommand::Import { file, repo },
        } => {
            println!("{}", hubspoke::render::charts_import(&file, &repo)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { root } => {
            let report = hubspoke::validate::validate(&root);
            for n in &report.notes {
                eprintln!("note: {n}");
            }
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            if report.errors.is_empty() {
                println!(
                    "ok: {} release(s), {} YAML file(s), {} Kubernetes object(s), {} terraform module(s)",
                    report.releases.len(),
                    report.files,
                    report.objects,
                    report.terraform_modules
                );
                Ok(ExitCode::SUCCESS)
            } else {
                for e in &report.errors {
                    eprintln!("{e}");
                }
                Err(hubspoke::Error::input(format!(
                    "{} problem(s) in {} YAML file(s)",
                    report.errors.len(),
                    report.files
                )))
            }
        }
        Command::Janitor {
            older_than,
            apply,
            regions,
            run_id,
            output,
        } => {
            if let Some(id) = &run_id {
                hubspoke::up::check_run_id(id)
                    .map_err(|e| hubspoke::Error::input(format!("--run-id: {e}")))?;
            }
            janitor(
                older_than,
                apply,
                regions,
                run_id,
                matches!(output, Output::Json),
                &progress,
            )
            .await
        }
        Command::Sim {
            command:
                SimCommand::Serve {
                    kubeconfig_dir,
                    spokes,
                    api_only,
                    repos,
                },
        } => serve(kubeconfig_dir, spokes as usize, api_only, repos)
            .await
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| hubspoke::Error::env(format!("{e:#}"))),
    }
}

/// SIGINT, SIGTERM or the deadline, whichever comes first, for every step of the run.
fn stop_signal(deadline: Option<std::time::Duration>) -> Result<hubspoke::terraform::Stop, hubspoke::Error> {
    hubspoke::terraform::stop_signal(deadline)
        .map(hubspoke::terraform::stop)
        .map_err(|e| hubspoke::Error::env(e.to_string()))
}

#[cfg(feature = "eks")]
async fn janitor(
    older_than: std::time::Duration,
    apply: bool,
    regions: Vec<String>,
    run_id: Option<String>,
    json: bool,
    progress: &Progress,
) -> Result<ExitCode, hubspoke::Error> {
    use hubspoke::eks::{janitor, leftovers};
    let regions: Vec<Option<String>> = if regions.is_empty() {
        vec![None]
    } else {
        regions.into_iter().map(Some).collect()
    };
    let now = jiff::Timestamp::now();
    let mut all = Vec::new();
    let mut others = Vec::new();
    let mut failed = Vec::new();
    for (i, region) in regions.into_iter().enumerate() {
        // one sign-in for EKS, the SDK's other clients and the EC2 client
        let sdk = hubspoke::eks::sharing_credentials(hubspoke::eks::sdk_config(region.as_deref()).await);
        let Some(name) = sdk.region().map(|r| r.to_string()) else {
            return Err(hubspoke::Error::input(
                "no AWS region is configured: pass --region or set AWS_REGION",
            ));
        };
        let client = aws_sdk_eks::Client::new(&sdk);
        let mut found = janitor::survey(&client, older_than, now)
            .await
            .map_err(|e| hubspoke::Error::env(format!("region {name}: {e}")))?;
        if let Some(run) = &run_id {
            found.retain(|c| &c.run_id == run);
            for c in &mut found {
                c.leaked = true;
                c.why = "its run was named with --run-id".into();
            }
        }
        let clients = leftovers::Clients::new(&sdk);
        // IAM is global: looked at once, with the first region
        let mut rest = leftovers::find(&clients, i == 0)
            .await
            .map_err(|e| hubspoke::Error::env(format!("region {name}: {e}")))?;
        leftovers::judge_runs(&mut rest, &found, older_than, run_id.as_deref(), now);
        if run_id.is_some() {
            rest.retain(|l| l.leaked);
        }
        if apply {
            // the clusters first: they hold network interfaces in the VPC's subnets and
            // use the roles
            for c in found.iter().filter(|c| c.leaked) {
                if let Err(e) = janitor::reap(&client, &c.name, janitor::Pace::default(), progress).await {
                    failed.push(format!("region {name}: {e}"));
                }
            }
            for e in leftovers::reap(&clients, &rest, janitor::Pace::default(), progress).await {
                failed.push(format!("region {name}: {e}"));
            }
        }
        all.extend(found);
        others.extend(rest);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"clusters": all, "resources": others}))
                .map_err(|e| hubspoke::Error::env(e.to_string()))?
        );
    } else {
        print!("{}", janitor::table(&all, apply));
        print!("{}", leftovers::table(&others, apply));
        let leaked = all.iter().filter(|c| c.leaked).count();
        let rest = others.iter().filter(|l| l.leaked).count();
        if leaked > 0 && !apply {
            println!("{leaked} leaked cluster(s); delete them with --apply");
        }
        if rest > 0 && !apply {
            println!("{rest} other leaked resource(s); --apply deletes them after the clusters");
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(hubspoke::Error::env(format!(
            "could not delete everything leaked:\n{}",
            failed.join("\n")
        )))
    }
}

#[cfg(not(feature = "eks"))]
async fn janitor(
    _older_than: std::time::Duration,
    _apply: bool,
    _regions: Vec<String>,
    _run_id: Option<String>,
    _json: bool,
    _progress: &Progress,
) -> Result<ExitCode, hubspoke::Error> {
    Err(hubspoke::Error::input(
        "janitor: this hubspoke was built without the eks feature; build it with `cargo build -p hubspoke --features eks`",
    ))
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
    // the stand-ins' tasks end through their tokens and are waited for, then the servers
    let grace = std::time::Duration::from_secs(2);
    if let Some(a) = argocd {
        a.shutdown(grace).await;
    }
    futures::future::join_all(kyvernos.into_iter().map(|k| k.shutdown(grace))).await;
    futures::future::join_all(workloads.into_iter().map(|w| w.shutdown(grace))).await;
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

//! The terraform driver behind the `eks` environment: one workspace (so one state) per
//! cluster in the `terraform/` root module, applied with the cluster's var file
//! (`variables/<cluster>.tfvars`) and the run's id, outputs read as JSON, destroyed in
//! reverse order. terraform's output streams into the progress line and the logs.
//!
//! The teardown guarantee lives here: [`provision`] destroys every workspace it touched when
//! an apply fails or the run is interrupted (SIGINT, SIGTERM, the run's deadline: whatever
//! future the caller passes as `interrupt`), unless asked to keep them; and what was
//! touched is written to `<state_dir>/terraform.json` *before* each apply, so
//! [`down`] (`hubspoke down --env eks`) destroys from the state files alone, even after the
//! process that applied was killed.
//!
//! An interrupted terraform gets exactly one SIGINT (it runs in a process group of its own,
//! so a terminal's Ctrl-C does not reach it twice): it stops after the operations under way
//! and writes its state, which the destroy then reads.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::progress::Progress;

/// The file in an environment's state directory recording what terraform built.
pub const STATE_FILE: &str = "terraform.json";

/// The file declaring the remote backend when a `-backend-config` is given.
pub const BACKEND_OVERRIDE: &str = "backend_override.tf";
const BACKEND_OVERRIDE_MARK: &str = "# written by hubspoke";
const BACKEND_OVERRIDE_TEXT: &str = "# written by hubspoke (and `make tf-init`) when a -backend-config is given: the S3 backend it\n# completes. Removed again when none is given.\nterraform {\n  backend \"s3\" {}\n}\n";

/// How many of terraform's last lines an error quotes.
const TAIL: usize = 25;

/// Why a terraform step did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    #[error(
        "terraform was not found ({0}); install terraform >= 1.6 (https://developer.hashicorp.com/terraform/install) or point HUBSPOKE_TERRAFORM at it"
    )]
    Missing(String),
    #[error("terraform {command} for {workspace} failed ({status}):\n{tail}")]
    Failed {
        command: String,
        workspace: String,
        status: String,
        tail: String,
    },
    #[error(
        "terraform {command} for {workspace} was interrupted ({why}); it stopped after the operations under way"
    )]
    Interrupted {
        command: String,
        workspace: String,
        why: String,
    },
    #[error("{0}")]
    Other(String),
}

/// The module and the run: what every command of every workspace shares.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Module {
    /// The terraform binary.
    pub bin: PathBuf,
    /// The root module (`terraform/`).
    pub dir: PathBuf,
    /// `-backend-config` file for `init` (a remote backend), if any.
    #[serde(default)]
    pub backend_config: Option<PathBuf>,
    /// The run id every resource is tagged with.
    pub run_id: String,
    /// When the run's resources may be reaped (RFC 3339); tagged too.
    #[serde(default)]
    pub run_expires_at: String,
    /// Further `-var name=value`s (the same for apply and destroy).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The run's deadline in seconds (`--deadline`): a state lock older than this cannot
    /// belong to a terraform still running for a run (every run stops by its deadline), so
    /// it was left by one that was killed and is force-unlocked. Without a deadline no lock
    /// is forced.
    #[serde(default)]
    pub stale_lock_after: Option<u64>,
    /// How long apply and destroy wait for a state lock held by someone else (seconds;
    /// default 300).
    #[serde(default)]
    pub lock_timeout: Option<u64>,
}

/// The lock terraform could not acquire, from its "Error acquiring the state lock" message
/// (the `Lock Info:` block of terraform's statemgr.LockInfo).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldLock {
    pub id: String,
    pub who: String,
    pub operation: String,
    /// `Created:` as Go prints a time (`2026-12-06 04:21:04.47991527 +0000 UTC`).
    pub created: Option<jiff::Timestamp>,
}

impl HeldLock {
    /// The lock in terraform's output, when the failure was acquiring the state lock.
    pub fn parse(output: &str) -> Option<HeldLock> {
        let lines: Vec<&str> = output
            .lines()
            .map(|l| l.trim_start_matches(['│', '╷', '╵']).trim())
            .collect();
        if !lines.iter().any(|l| l.contains("Error acquiring the state lock")) {
            return None;
        }
        let field = |name: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                .map(|v| v.trim().to_string())
        };
        let id = field("ID").filter(|id| !id.is_empty())?;
        let created = field("Created").and_then(|c| {
            // Go's time.Time.String(): date, time with fraction, numeric offset, zone name
            let mut parts = c.split_whitespace();
            let text = format!("{} {} {}", parts.next()?, parts.next()?, parts.next()?);
            jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S%.f %z", &text)
                .ok()?
                .to_timestamp()
                .ok()
        });
        Some(HeldLock {
            id,
            who: field("Who").unwrap_or_default(),
            operation: field("Operation").unwrap_or_default(),
            created,
        })
    }
}

/// One cluster's workspace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Workspace {
    /// The cluster (and workspace) name.
    pub name: String,
    /// Its var file (`variables/<name>.tfvars`).
    pub var_file: PathBuf,
    /// `TF_DATA_DIR`: each workspace initializes and selects on its own, so hub and spokes
    /// never race on `.terraform/environment`.
    pub data_dir: PathBuf,
}

/// What `<state_dir>/terraform.json` records.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub module: Module,
    /// Workspaces in the order they were applied (the hub first); destroyed in reverse.
    pub workspaces: Vec<Workspace>,
}

impl Record {
    pub fn load(state_dir: &Path) -> Result<Record, TerraformError> {
        let path = state_dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            TerraformError::Other(format!(
                "{}: {e}; nothing was applied from this state directory (or it was destroyed already)",
                path.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| {
            TerraformError::Other(format!(
                "{}: not a hubspoke terraform record: {e}",
                path.display()
            ))
        })
    }

    /// Written owner-only, as every state file (its vars may carry credentials).
    fn save(&self, state_dir: &Path) -> Result<(), TerraformError> {
        let path = state_dir.join(STATE_FILE);
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        crate::environment::write_private(&path, text.as_bytes())
            .map_err(|e| TerraformError::Other(format!("{}: {e}", path.display())))
    }
}

/// A future that resolves, with why, when the run must stop (a signal, the deadline).
pub type Interrupt<'a> = Pin<Box<dyn Future<Output = String> + Send + 'a>>;

/// An [`Interrupt`] every step of a run can wait on (clones all fire together).
pub type Stop = futures::future::Shared<Interrupt<'static>>;

/// A [`Stop`] from an interrupt.
pub fn stop(interrupt: Interrupt<'static>) -> Stop {
    futures::FutureExt::shared(interrupt)
}

/// A [`Stop`] that never fires.
pub fn never() -> Stop {
    stop(Box::pin(std::future::pending()))
}

/// `stop` as an [`Interrupt`] for one step.
pub fn interrupt_of(stop: &Stop) -> Interrupt<'static> {
    Box::pin(stop.clone())
}

/// A terraform output value (`terraform output -json`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct OutputValue {
    #[serde(default)]
    pub sensitive: bool,
    pub value: Value,
}

/// A workspace's outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs(pub BTreeMap<String, OutputValue>);

impl Outputs {
    /// A string output; an error naming the output and the module when it is missing or
    /// not a string.
    pub fn string(&self, name: &str) -> Result<String, TerraformError> {
        match self.0.get(name).map(|o| &o.value) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Null) | None => Err(TerraformError::Other(format!(
                "terraform output {name} is missing; the module must output it"
            ))),
            Some(v) => Err(TerraformError::Other(format!(
                "terraform output {name} is {v}, not a string"
            ))),
        }
    }

    /// A string output that may be null.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|o| o.value.as_str()).map(String::from)
    }
}

/// The terraform binary: `$HUBSPOKE_TERRAFORM`, else `terraform` on PATH.
pub fn binary() -> PathBuf {
    std::env::var_os("HUBSPOKE_TERRAFORM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("terraform"))
}

impl Module {
    /// `-var-file`, `-var run_id=...`, `-var run_expires_at=...` and the other vars.
    fn var_args(&self, ws: &Workspace) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![format!("-var-file={}", ws.var_file.display()).into()];
        args.push("-var".into());
        args.push(format!("run_id={}", self.run_id).into());
        if !self.run_expires_at.is_empty() {
            args.push("-var".into());
            args.push(format!("run_expires_at={}", self.run_expires_at).into());
        }
        for (k, v) in &self.vars {
            args.push("-var".into());
            args.push(format!("{k}={v}").into());
        }
        args
    }

    /// Runs one terraform command in workspace `ws`, streaming its lines to the logs and
    /// `line`; on `interrupt`, sends terraform one SIGINT and waits for it to stop.
    async fn run(
        &self,
        ws: &Workspace,
        args: &[OsString],
        interrupt: Option<&mut Interrupt<'_>>,
        line: &(dyn Fn(&str) + Sync),
    ) -> Result<String, TerraformError> {
        let command = args
            .first()
            .map(|a| a.to_string_lossy().to_string())
            .unwrap_or_default();
        let quiet = command == "output";
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.current_dir(&self.dir)
            .args(args)
            .env("TF_DATA_DIR", &ws.data_dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TerraformError::Missing(format!("{}: {e}", self.bin.display())),
            _ => TerraformError::Other(format!("starting {}: {e}", self.bin.display())),
        })?;
        let pid = child.id();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let tail = std::sync::Mutex::new(std::collections::VecDeque::<String>::new());
        let mut all = String::new();
        let keep = |l: &str| {
            let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
            if t.len() == TAIL {
                t.pop_front();
            }
            t.push_back(l.to_string());
        };
        let read_out = async {
            if let Some(out) = stdout {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    // `output -json` shows sensitive outputs in clear: never logged
                    if !quiet {
                        tracing::info!(target: "terraform", workspace = %ws.name, "{l}");
                    }
                    if !quiet && !l.trim().is_empty() {
                        line(&l);
                        keep(&l);
                    }
                    all.push_str(&l);
                    all.push('\n');
                }
            }
        };
        let read_err = async {
            if let Some(err) = stderr {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    tracing::warn!(target: "terraform", workspace = %ws.name, "{l}");
                    if !l.trim().is_empty() {
                        keep(&l);
                    }
                }
            }
        };
        let (status, interrupted) = {
            let finished = async {
                let (_, _, status) = tokio::join!(read_out, read_err, child.wait());
                status
            };
            tokio::pin!(finished);
            match interrupt {
                None => (finished.await, None),
                Some(stop) => tokio::select! {
                    s = &mut finished => (s, None),
                    why = stop => {
                        tracing::warn!(workspace = %ws.name, "{why}: interrupting terraform {command}");
                        line(&format!("{why}: interrupting terraform {command}, waiting for it to stop"));
                        if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
                        }
                        (finished.await, Some(why))
                    }
                },
            }
        };
        let status = status.map_err(|e| TerraformError::Other(format!("waiting for terraform: {e}")))?;
        let tail = tail
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(why) = interrupted {
            return Err(TerraformError::Interrupted {
                command,
                workspace: ws.name.clone(),
                why,
            });
        }
        if !status.success() {
            return Err(TerraformError::Failed {
                command,
                workspace: ws.name.clone(),
                status: status.to_string(),
                tail,
            });
        }
        Ok(all)
    }

    /// With a backend config, `backend_override.tf` declares the (partially configured) S3
    /// backend the config completes: without a backend block terraform would only warn
    /// about `-backend-config` and keep the state on this machine. Without one, an override
    /// hubspoke (or `make tf-init`) wrote before is removed, so the state is local again.
    fn backend_override(&self) -> Result<(), TerraformError> {
        let path = self.dir.join(BACKEND_OVERRIDE);
        let err = |e: std::io::Error| TerraformError::Other(format!("{}: {e}", path.display()));
        match &self.backend_config {
            Some(_) => {
                if std::fs::read_to_string(&path).is_ok_and(|t| t == BACKEND_OVERRIDE_TEXT) {
                    return Ok(());
                }
                // workspaces prepare concurrently: write whole files only
                let tmp = self
                    .dir
                    .join(format!(".{BACKEND_OVERRIDE}.{}", std::process::id()));
                std::fs::write(&tmp, BACKEND_OVERRIDE_TEXT).map_err(err)?;
                std::fs::rename(&tmp, &path).map_err(err)
            }
            None => match std::fs::read_to_string(&path) {
                Ok(t) if t.starts_with(BACKEND_OVERRIDE_MARK) => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(e)),
                    _ => Ok(()),
                },
                _ => Ok(()),
            },
        }
    }

    /// `init` then `workspace select -or-create`: the workspace ready for apply or destroy.
    pub async fn prepare(&self, ws: &Workspace, line: &(dyn Fn(&str) + Sync)) -> Result<(), TerraformError> {
        std::fs::create_dir_all(&ws.data_dir)
            .map_err(|e| TerraformError::Other(format!("{}: {e}", ws.data_dir.display())))?;
        self.backend_override()?;
        let mut init: Vec<OsString> = vec!["init".into(), "-input=false".into(), "-no-color".into()];
        if let Some(b) = &self.backend_config {
            init.push(format!("-backend-config={}", b.display()).into());
        }
        self.run(ws, &init, None, line).await?;
        self.run(
            ws,
            &[
                "workspace".into(),
                "select".into(),
                "-or-create=true".into(),
                ws.name.clone().into(),
            ],
            None,
            line,
        )
        .await?;
        Ok(())
    }

    /// `apply` with the workspace's var file and the run's vars.
    pub async fn apply(
        &self,
        ws: &Workspace,
        interrupt: Option<&mut Interrupt<'_>>,
        line: &(dyn Fn(&str) + Sync),
    ) -> Result<(), TerraformError> {
        self.change("apply", ws, interrupt, line).await
    }

    /// `apply` or `destroy`, unattended, with the workspace's var file and the run's vars.
    ///
    /// The state lock: asked for without waiting first. When someone holds it and the lock
    /// is older than the run's deadline ([`Module::stale_lock_after`]), a killed terraform
    /// left it: it is force-unlocked (logged) and the command runs again. Any other holder
    /// is waited for ([`Module::lock_timeout`]).
    async fn change(
        &self,
        verb: &str,
        ws: &Workspace,
        mut interrupt: Option<&mut Interrupt<'_>>,
        line: &(dyn Fn(&str) + Sync),
    ) -> Result<(), TerraformError> {
        let args = |lock_timeout: u64| {
            let mut args: Vec<OsString> = [verb, "-input=false", "-auto-approve", "-no-color"]
                .map(OsString::from)
                .to_vec();
            args.push(format!("-lock-timeout={lock_timeout}s").into());
            args.extend(self.var_args(ws));
            args
        };
        let first = self.run(ws, &args(0), interrupt.as_deref_mut(), line).await;
        let held = match &first {
            Err(TerraformError::Failed { tail, .. }) => match HeldLock::parse(tail) {
                Some(held) => held,
                None => return first.map(|_| ()),
            },
            _ => return first.map(|_| ()),
        };
        let wait = self.lock_timeout.unwrap_or(300);
        let now = jiff::Timestamp::now();
        let age = held.created.map(|c| now.duration_since(c));
        let stale = match (age, self.stale_lock_after) {
            (Some(age), Some(after)) => age >= jiff::SignedDuration::from_secs(after as i64),
            _ => false,
        };
        if stale {
            let say = format!(
                "the state lock of workspace {} ({} by {}, ID {}) was created {} ago, longer than the run's deadline ({}s): a killed terraform left it; running terraform force-unlock -force {}",
                ws.name,
                held.operation,
                held.who,
                held.id,
                age.map(|a| format!("{}s", a.as_secs())).unwrap_or_default(),
                self.stale_lock_after.unwrap_or_default(),
                held.id
            );
            tracing::warn!(target: "terraform", workspace = %ws.name, "{say}");
            line(&say);
            self.run(
                ws,
                &["force-unlock".into(), "-force".into(), held.id.clone().into()],
                None,
                line,
            )
            .await?;
        } else {
            let say = format!(
                "the state of workspace {} is locked ({} by {}, ID {}, created {}); waiting up to {wait}s for it",
                ws.name,
                held.operation,
                held.who,
                held.id,
                held.created
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "at an unknown time".into())
            );
            tracing::info!(target: "terraform", workspace = %ws.name, "{say}");
            line(&say);
        }
        match self
            .run(ws, &args(if stale { 0 } else { wait }), interrupt, line)
            .await
        {
            Err(TerraformError::Failed {
                command,
                workspace,
                status,
                tail,
            }) if !stale && HeldLock::parse(&tail).is_some() => Err(TerraformError::Failed {
                command,
                workspace: workspace.clone(),
                status,
                tail: format!(
                    "{tail}\nThe lock is younger than the run's deadline{}, so it may belong to a terraform still running; when none is (a killed run), release it with: TF_DATA_DIR={} terraform -chdir={} force-unlock -force {}",
                    self.stale_lock_after
                        .map(|s| format!(" ({s}s)"))
                        .unwrap_or_else(|| " (none was given)".into()),
                    ws.data_dir.display(),
                    self.dir.display(),
                    held.id
                ),
            }),
            r => r.map(|_| ()),
        }
    }

    /// `output -json`.
    pub async fn outputs(&self, ws: &Workspace) -> Result<Outputs, TerraformError> {
        let text = self
            .run(
                ws,
                &["output".into(), "-json".into(), "-no-color".into()],
                None,
                &|_| {},
            )
            .await?;
        serde_json::from_str(&text)
            .map(Outputs)
            .map_err(|e| TerraformError::Other(format!("terraform output -json for {}: {e}", ws.name)))
    }

    /// `destroy` with the same vars as the apply.
    pub async fn destroy(&self, ws: &Workspace, line: &(dyn Fn(&str) + Sync)) -> Result<(), TerraformError> {
        self.change("destroy", ws, None, line).await
    }
}

/// What [`provision`] is asked to build.
#[derive(Clone, Debug)]
pub struct Plan {
    pub module: Module,
    /// The hub's workspace, applied first (the spokes' roles trust the hub's role, which IAM
    /// requires to exist).
    pub hub: Workspace,
    /// The spokes' workspaces, applied concurrently after the hub.
    pub spokes: Vec<Workspace>,
    /// Leave what was built when something fails (`--keep`).
    pub keep: bool,
}

/// Why provisioning failed, and what became of what it had built.
#[derive(Debug, thiserror::Error)]
#[error("{failure}\n{teardown}")]
pub struct ProvisionError {
    pub failure: TerraformError,
    /// What the teardown did: destroyed, kept (--keep), or what could not be destroyed and
    /// how to finish it.
    pub teardown: String,
}

/// Applies the hub's workspace, then the spokes' concurrently, and reads every workspace's
/// outputs. On a failed apply or `interrupt` firing, destroys every workspace it touched
/// (spokes first) unless `plan.keep`, and says so in the error.
pub async fn provision(
    plan: &Plan,
    state_dir: &Path,
    interrupt: Interrupt<'_>,
    progress: &Progress,
) -> Result<BTreeMap<String, Outputs>, ProvisionError> {
    // what was (or is being) applied, saved before each apply starts: a killed process
    // still leaves it behind for `down`
    let record = std::sync::Mutex::new(Record {
        module: plan.module.clone(),
        workspaces: Vec::new(),
    });
    let recorded = || record.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let no_teardown = |failure| ProvisionError {
        failure,
        teardown: "nothing was applied, so nothing is left to destroy".into(),
    };
    // one watcher of the interrupt, fanned out to every apply (a watch channel: an apply
    // that starts after it fired still sees it)
    let (fire, fired) = tokio::sync::watch::channel(None::<String>);
    let watcher = async move {
        let why = interrupt.await;
        let _ = fire.send(Some(why));
        std::future::pending::<()>().await
    };
    let work = async {
        let apply_one = |ws: Workspace| {
            let mut fired = fired.clone();
            let (module, record) = (&plan.module, &record);
            async move {
                let step = progress.step(format!("terraform apply {}", ws.name));
                let set = |l: &str| step.set(l);
                if let Err(e) = module.prepare(&ws, &set).await {
                    step.fail(e.to_string().lines().next().unwrap_or("failed"));
                    return Err(e);
                }
                {
                    let mut r = record.lock().unwrap_or_else(|p| p.into_inner());
                    r.workspaces.push(ws.clone());
                    if let Err(e) = r.save(state_dir) {
                        step.fail(&e.to_string());
                        return Err(e);
                    }
                }
                let mut on_stop: Interrupt = Box::pin(async move {
                    let why = fired.wait_for(Option::is_some).await.ok().and_then(|w| w.clone());
                    match why {
                        Some(why) => why,
                        // the run ended without an interrupt
                        None => std::future::pending().await,
                    }
                });
                match module.apply(&ws, Some(&mut on_stop), &set).await {
                    Ok(()) => {
                        step.done("applied");
                        Ok(())
                    }
                    Err(e) => {
                        step.fail(e.to_string().lines().next().unwrap_or("failed"));
                        Err(e)
                    }
                }
            }
        };
        apply_one(plan.hub.clone()).await?;
        let results = futures::future::join_all(plan.spokes.iter().cloned().map(apply_one)).await;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(e);
        }
        let mut outputs = BTreeMap::new();
        for ws in recorded().workspaces {
            let o = plan.module.outputs(&ws).await?;
            outputs.insert(ws.name.clone(), o);
        }
        Ok(outputs)
    };
    let result = tokio::select! {
        r = work => r,
        // never ends: it only tells the applies to stop, and `work` then finishes
        () = watcher => unreachable!("the interrupt watcher never finishes"),
    };
    match result {
        Ok(outputs) => Ok(outputs),
        Err(failure) if recorded().workspaces.is_empty() => Err(no_teardown(failure)),
        Err(failure) => {
            let record = recorded();
            let teardown = if plan.keep {
                format!(
                    "kept what was applied (--keep): destroy it with `hubspoke down --env eks` (state in {})",
                    state_dir.display()
                )
            } else {
                tracing::warn!("{failure}; destroying what was applied");
                destroy_recorded(&record, state_dir, progress).await
            };
            Err(ProvisionError { failure, teardown })
        }
    }
}

/// Destroys every workspace of `record` (spokes first, the hub last), each attempted even
/// when another fails; removes the record when all are gone. Says what happened.
async fn destroy_recorded(record: &Record, state_dir: &Path, progress: &Progress) -> String {
    let mut failed = Vec::new();
    let mut destroyed = Vec::new();
    for ws in record.workspaces.iter().rev() {
        let step = progress.step(format!("terraform destroy {}", ws.name));
        let set = |l: &str| step.set(l);
        let r = match record.module.prepare(ws, &set).await {
            Ok(()) => record.module.destroy(ws, &set).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => {
                step.done("destroyed");
                destroyed.push(ws.name.clone());
            }
            Err(e) => {
                step.fail(e.to_string().lines().next().unwrap_or("failed"));
                failed.push(format!("{}: {e}", ws.name));
            }
        }
    }
    if failed.is_empty() {
        let _ = std::fs::remove_file(state_dir.join(STATE_FILE));
        format!("destroyed what was applied: {}", destroyed.join(", "))
    } else {
        format!(
            "destroying failed for {}; the record stays in {}: run `hubspoke down --env eks` again (or `make destroy-<cluster>-aws RUN_ID={}`) until it succeeds",
            failed.join("; "),
            state_dir.join(STATE_FILE).display(),
            record.module.run_id
        )
    }
}

/// `hubspoke down --env eks`: destroys what `<state_dir>/terraform.json` records, spokes
/// first; the record goes when everything is destroyed.
pub async fn down(state_dir: &Path, progress: &Progress) -> Result<String, TerraformError> {
    down_with(state_dir, None, progress).await
}

/// [`down`], force-unlocking state locks older than `stale_lock_after` seconds instead of
/// the run's deadline the record holds (`hubspoke down --stale-lock-after`: the nightly's
/// destroy job, run once the job that applied has ended, so no terraform can still hold one).
pub async fn down_with(
    state_dir: &Path,
    stale_lock_after: Option<u64>,
    progress: &Progress,
) -> Result<String, TerraformError> {
    let mut record = Record::load(state_dir)?;
    if stale_lock_after.is_some() {
        record.module.stale_lock_after = stale_lock_after;
    }
    let said = destroy_recorded(&record, state_dir, progress).await;
    if state_dir.join(STATE_FILE).exists() {
        Err(TerraformError::Other(said))
    } else {
        Ok(said)
    }
}

/// Fires on SIGINT, SIGTERM or when `deadline` has passed, saying which. The handlers are
/// installed when this is called (a signal arriving before the future is first polled is
/// not lost) and stay installed: a second signal during the teardown that follows does
/// not kill the process half-way through a destroy.
pub fn stop_signal(deadline: Option<std::time::Duration>) -> Result<Interrupt<'static>, TerraformError> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |k: SignalKind, name: &str| {
        signal(k).map_err(|e| TerraformError::Other(format!("installing the {name} handler: {e}")))
    };
    let mut int = install(SignalKind::interrupt(), "SIGINT")?;
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    Ok(Box::pin(async move {
        let expired = async {
            match deadline {
                Some(d) => {
                    tokio::time::sleep(d).await;
                    format!("the run's deadline ({}s) passed", d.as_secs())
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = int.recv() => "SIGINT received".to_string(),
            _ = term.recv() => "SIGTERM received".to_string(),
            why = expired => why,
        }
    }))
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    /// What terraform 1.11 printed when an S3 lockfile left by a killed apply held the state.
    const HELD: &str = r#"Error: Error acquiring the state lock

Error message: operation error S3: PutObject, https response error
StatusCode: 412, RequestID:
dp5Bm89G2kZuW5wXoLXU17DhSMAhE1kh6QTidxr6Y7HRxL7ewJIe, HostID:
9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=,
api error PreconditionFailed: At least one of the pre-conditions you
specified did not hold
Lock Info:
  ID:        84ede147-24f7-12cb-53be-fdaf325cbc73
  Path:      tfstate/env:/hub/k/eks.tfstate
  Operation: OperationTypeApply
  Who:       root@vm
  Version:   1.11.4
  Created:   2026-12-06 04:21:04.47991527 +0000 UTC
  Info:      


Terraform acquires a state lock to protect the state from being written
by multiple users at the same time. Please resolve the issue above and try
again. For most commands, you can disable locking with the "-lock=false"
flag, but this is not recommended."#;

    #[test]
    fn the_lock_in_terraforms_error_is_read() {
        let held = HeldLock::parse(HELD).unwrap();
        assert_eq!(
            held,
            HeldLock {
                id: "84ede147-24f7-12cb-53be-fdaf325cbc73".into(),
                who: "root@vm".into(),
                operation: "OperationTypeApply".into(),
                created: Some("2026-12-06T04:21:04.47991527Z".parse().unwrap()),
            }
        );
        // with colour, terraform frames the diagnostic
        let framed: String = HELD.lines().map(|l| format!("│ {l}\n")).collect();
        assert_eq!(HeldLock::parse(&framed), Some(held));
        // another failure is not a lock
        assert_eq!(
            HeldLock::parse("Error: creating EKS Cluster (hub): AccessDeniedException"),
            None
        );
    }
}

//! `hubspoke test`: the main job. Brings the environment up unless one is up already,
//! runs the selected checks, prints a summary, writes the reports.

use std::path::PathBuf;

use crate::environment::{Environment, ProviderKind};
use crate::error::{Error, Result};
use crate::expect::Intervals;
use crate::progress::Progress;
use crate::suites::{self, CheckResult, Context};
use crate::terraform::Stop;
use crate::up::{UpOptions, provider_down, up_with};

#[derive(Clone, Debug)]
pub struct TestOptions {
    pub up: UpOptions,
    pub suites: Vec<String>,
    pub checks: Vec<String>,
    pub junit: Option<PathBuf>,
    /// Where `$GITHUB_STEP_SUMMARY` points, when set.
    pub step_summary: Option<PathBuf>,
    /// The run's artifacts directory (default `target/hubspoke/artifacts/<run>`).
    pub artifacts: Option<PathBuf>,
}

/// The environment to test: the one up already (from its state), or a new one.
async fn acquire(opts: &UpOptions, progress: &Progress, stop: Stop) -> Result<(Environment, bool)> {
    if let Ok(state) = Environment::read_state(opts.env, &opts.state_dir) {
        let serving = opts.env != ProviderKind::Sim || state.pid.is_some_and(crate::providers::sim::alive);
        if serving {
            progress.note(&format!(
                "testing the {} environment in {}",
                opts.env,
                opts.state_dir.display()
            ));
            let env = Environment::from_state(state, &opts.state_dir).await?;
            return Ok((env, false));
        }
    }
    Ok((up_with(opts, progress, stop).await?, true))
}

/// Runs the suites; the results, and whether any failed.
pub async fn test(opts: &TestOptions, progress: &Progress) -> Result<Vec<CheckResult>> {
    test_until(opts, progress, crate::terraform::never()).await
}

/// [`test`], stopped early by `stop` (SIGINT, SIGTERM, the run's deadline). An environment
/// this run built is torn down at the end whatever happened (checks failed, reports could
/// not be written, interrupted), unless `--keep`.
pub async fn test_until(opts: &TestOptions, progress: &Progress, stop: Stop) -> Result<Vec<CheckResult>> {
    let selected = suites::select(&opts.suites, &opts.checks).map_err(Error::input)?;
    let (env, built) = acquire(&opts.up, progress, stop.clone()).await?;
    let outcome = tokio::select! {
        r = run_and_report(&env, opts, &selected, progress) => r,
        why = stop => Err(Error::env(format!("interrupted ({why}) while running the checks"))),
    };
    for n in env.notices() {
        progress.note(&format!("note: {n}"));
    }
    if !built {
        return outcome;
    }
    let state = env.state(None);
    if env.provider == ProviderKind::Sim {
        // the clusters live in this process and stop with it
        let _ = crate::providers::remove_state(&state, &env.state_dir);
        return outcome;
    }
    if opts.up.keep {
        progress.note(&format!(
            "keeping the {} environment (--keep); tear it down with `hubspoke down --env {}`",
            env.provider, env.provider
        ));
        return outcome;
    }
    let down = provider_down(
        env.provider,
        &state,
        &env.state_dir,
        progress,
        &opts.up.kind_config_dir,
    )
    .await;
    match (outcome, down) {
        (Ok(results), Ok(())) => Ok(results),
        (Ok(_), Err(d)) => Err(d),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(d)) => Err(Error::env(format!(
            "{}
tearing down failed too: {}",
            e.message, d.message
        ))),
    }
}

/// The checks and the reports of one run.
async fn run_and_report(
    env: &Environment,
    opts: &TestOptions,
    selected: &[suites::Check],
    progress: &Progress,
) -> Result<Vec<CheckResult>> {
    let root = env
        .revision
        .as_ref()
        .and_then(|r| r.checkout.clone())
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let artifacts = opts
        .artifacts
        .clone()
        .unwrap_or_else(|| crate::diagnostics::artifacts_root().join(crate::diagnostics::run_id()));
    let recorder = crate::timeline::Recorder::start(&env.hub.client);
    let ctx = Context {
        env,
        intervals: Intervals::for_env(env.provider),
        root,
        artifacts: Some(artifacts.clone()),
    };
    let results = suites::run(&ctx, selected, progress).await;
    let timeline = recorder.finish().await;
    let timeline_path = artifacts.join("timeline.json");
    write(
        &timeline_path,
        &serde_json::to_string_pretty(&timeline).unwrap_or_default(),
    )?;
    progress.note(&format!("convergence timeline: {}", timeline_path.display()));
    if let Some(path) = &opts.junit {
        write(path, &crate::report::junit(env, &results))?;
    }
    if let Some(path) = &opts.step_summary {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::env(format!("{}: {e}", path.display())))?;
        let _ = writeln!(f, "{}", crate::report::markdown(env, &results));
        let _ = writeln!(f, "{}", timeline.markdown());
    }
    Ok(results)
}

fn write(path: &std::path::Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::env(format!("{}: {e}", parent.display())))?;
    }
    std::fs::write(path, text).map_err(|e| Error::env(format!("writing {}: {e}", path.display())))
}

/// The summary printed at the end.
pub fn summary(results: &[CheckResult]) -> String {
    let failed: Vec<&CheckResult> = results.iter().filter(|r| r.failure.is_some()).collect();
    let mut out = String::new();
    for r in &failed {
        out.push_str(&format!(
            "\nFAILED {}/{}:\n  {}\n",
            r.suite,
            r.name,
            r.failure.as_deref().unwrap_or_default().replace('\n', "\n  ")
        ));
        if let Some(b) = &r.bundle {
            out.push_str(&format!("  diagnostics: {}\n", b.display()));
        }
    }
    out.push_str(&format!(
        "\n{} check(s): {} passed, {} failed\n",
        results.len(),
        results.len() - failed.len(),
        failed.len()
    ));
    out
}

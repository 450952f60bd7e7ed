//! The suites as nextest tests. Each test under `tests/` runs one check of the `hubspoke`
//! library on the environment `HUBSPOKE_ENV` names:
//!
//! - `sim` (the default): each test process starts its own embedded environment, so tests
//!   run in parallel without sharing anything;
//! - `kind`, `existing` (and `eks`): the environment `hubspoke up` brought up, rebuilt from
//!   its state files in `$HUBSPOKE_STATE_DIR/<env>/` (the `kind` and `eks` nextest profiles
//!   run `hubspoke up` as a setup script and export both variables).
//!
//! A failed check writes its diagnostics bundle under
//! `target/hubspoke/artifacts/<nextest run id>/<suite>/<check>/` and the test's panic
//! message names it.

use std::path::{Path, PathBuf};

use hubspoke::environment::{Environment, ProviderKind};
use hubspoke::expect::Intervals;
use hubspoke::progress::Progress;
use hubspoke::suites::{self, CheckResult, Context};
use hubspoke::up::{UpOptions, up};

/// The repository (the fixtures and releases the checks read).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// An environment for one test; a sim one lives as long as this value.
pub struct TestEnv {
    pub env: Environment,
    _state: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestEnv {
    type Target = Environment;
    fn deref(&self) -> &Environment {
        &self.env
    }
}

/// The environment `HUBSPOKE_ENV` names (sim when unset).
pub async fn environment() -> Result<TestEnv, String> {
    let name = std::env::var("HUBSPOKE_ENV").unwrap_or_default();
    let kind = match name.as_str() {
        "" | "sim" => return sim(None).await,
        "kind" => ProviderKind::Kind,
        "existing" => ProviderKind::Existing,
        "eks" => ProviderKind::Eks,
        other => {
            return Err(format!(
                "HUBSPOKE_ENV={other}: not an environment hubspoke can test; use sim (the default), kind, existing or eks"
            ));
        }
    };
    let dir = hubspoke::environment::state_dir(kind);
    let env = Environment::load(kind, &dir).await.map_err(|e| {
        format!(
            "HUBSPOKE_ENV={name}: no environment to test in {} ({e}); bring it up with `hubspoke up --env {name}` or run nextest with --profile {name}",
            dir.display()
        )
    })?;
    Ok(TestEnv { env, _state: None })
}

/// A fresh embedded environment of its own (`spokes`: how many; the release's when None).
pub async fn sim(spokes: Option<usize>) -> Result<TestEnv, String> {
    let state = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut opts = UpOptions::new(ProviderKind::Sim, &repo_root());
    opts.state_dir = state.path().join("sim");
    opts.spokes = spokes;
    let env = up(&opts, &Progress::plain()).await.map_err(|e| e.to_string())?;
    Ok(TestEnv {
        env,
        _state: Some(state),
    })
}

/// The context checks run in: the environment's intervals (HUBSPOKE_<NAME>_SECONDS
/// overrides apply), this repository, bundles under this nextest run's artifacts.
pub fn context(env: &Environment) -> Context<'_> {
    Context {
        env,
        intervals: Intervals::for_env(env.provider),
        root: repo_root(),
        artifacts: Some(hubspoke::diagnostics::artifacts_root().join(hubspoke::diagnostics::run_id())),
    }
}

/// Runs check `id` (`suite/name`) as `hubspoke test` does, bundle included.
pub async fn run(ctx: &Context<'_>, id: &str) -> CheckResult {
    let c = suites::check(id).unwrap_or_else(|| panic!("no check {id}"));
    suites::run(ctx, &[c], &Progress::plain())
        .await
        .pop()
        .expect("one result per check")
}

/// The test body of a suite test: check `id` passes on the environment HUBSPOKE_ENV names;
/// otherwise panics with its failure and where its diagnostics are.
pub async fn check(id: &str) {
    let env = environment().await.unwrap_or_else(|e| panic!("{e}"));
    let r = run(&context(&env), id).await;
    if let Some(f) = r.failure {
        panic!(
            "{id} failed:\n{f}\n{}",
            r.bundle
                .map(|b| format!("diagnostics: {}", b.display()))
                .unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    /// Every check of the library has its nextest test, in the file named after its suite.
    #[test]
    fn every_check_has_a_test() {
        for c in hubspoke::suites::all_checks() {
            let file = super::repo_root().join(format!("e2e/suites/tests/{}.rs", c.suite));
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                text.contains(&format!("hubspoke_suites::check(\"{}\")", c.id())),
                "{} has no test in {}",
                c.id(),
                file.display()
            );
        }
    }
}

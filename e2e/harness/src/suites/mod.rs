//! The suites: named checks over an [`Environment`], shared by `hubspoke test` and the
//! nextest files under e2e/suites/. Checks of one suite run in order (a later one may rely
//! on an earlier one: converged before stable); suites run concurrently.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::environment::Environment;
use crate::expect::Intervals;

pub mod convergence;
pub mod deployment;
pub mod kyverno;
pub mod registration;

/// What a check is given.
pub struct Context<'a> {
    pub env: &'a Environment,
    pub intervals: Intervals,
    /// The repository the fixtures are read from.
    pub root: PathBuf,
}

/// A check's future.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    pub suite: &'static str,
    pub name: &'static str,
    pub run: for<'a> fn(&'a Context<'a>) -> CheckFuture<'a>,
}

impl Check {
    /// `suite/name`, as filters and reports name it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.suite, self.name)
    }
}

/// The checks `suites` (names) and `globs` (over `suite/name`) select; all when both are
/// empty. Unknown suite names and globs matching nothing are errors naming the known ones.
pub fn select(suites: &[String], globs: &[String]) -> Result<Vec<Check>, String> {
    let all = all_checks();
    let known = suite_names();
    for s in suites {
        if !known.contains(&s.as_str()) {
            return Err(format!(
                "--suite {s}: no such suite; the suites are {}",
                known.join(", ")
            ));
        }
    }
    for g in globs {
        if !all.iter().any(|c| glob_match(g, &c.id())) {
            let ids: Vec<String> = all.iter().map(Check::id).collect();
            return Err(format!(
                "--check {g}: matches no check; the checks are {}",
                ids.join(", ")
            ));
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| suites.is_empty() || suites.iter().any(|s| s == c.suite))
        .filter(|c| globs.is_empty() || globs.iter().any(|g| glob_match(g, &c.id())))
        .collect())
}

/// Every check of every suite, in order.
pub fn all_checks() -> Vec<Check> {
    let mut v = registration::checks();
    v.extend(deployment::checks());
    v.extend(kyverno::checks());
    v.extend(convergence::checks());
    v
}

/// The suites' names.
pub fn suite_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = all_checks().iter().map(|c| c.suite).collect();
    names.dedup();
    names
}

/// A check by its id (`suite/name`).
pub fn check(id: &str) -> Option<Check> {
    all_checks().into_iter().find(|c| c.id() == id)
}

/// A check's outcome from the problems it found (one line each): passed when there are none.
pub fn outcome(problems: impl IntoIterator<Item = String>) -> Result<(), String> {
    let problems: Vec<String> = problems.into_iter().collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The outcome of one check.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckResult {
    pub suite: &'static str,
    pub name: &'static str,
    /// The failure message, if it failed.
    pub failure: Option<String>,
    pub duration: Duration,
}

/// Whether `id` matches a glob (`*` any run of characters, `?` one).
pub fn glob_match(pattern: &str, id: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(
        &pattern.chars().collect::<Vec<_>>(),
        &id.chars().collect::<Vec<_>>(),
    )
}

/// Runs one check, timing it.
pub async fn run_check(ctx: &Context<'_>, c: Check) -> CheckResult {
    let started = Instant::now();
    let outcome = (c.run)(ctx).await;
    CheckResult {
        suite: c.suite,
        name: c.name,
        failure: outcome.err(),
        duration: started.elapsed(),
    }
}

/// Runs the selected checks: suites concurrently, each suite's checks in order, each shown
/// as a step.
pub async fn run(
    ctx: &Context<'_>,
    selected: &[Check],
    progress: &crate::progress::Progress,
) -> Vec<CheckResult> {
    let mut suites: Vec<Vec<Check>> = Vec::new();
    for c in selected {
        match suites.iter_mut().find(|s| s[0].suite == c.suite) {
            Some(s) => s.push(*c),
            None => suites.push(vec![*c]),
        }
    }
    let per_suite = futures::future::join_all(suites.into_iter().map(|checks| async move {
        let mut out = Vec::new();
        for c in checks {
            let step = progress.step(c.id());
            let r = run_check(ctx, c).await;
            match &r.failure {
                None => step.done("passed"),
                Some(f) => step.fail(f.lines().next().unwrap_or("failed")),
            }
            out.push(r);
        }
        out
    }))
    .await;
    per_suite.into_iter().flatten().collect()
}

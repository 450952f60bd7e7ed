//! The suites: named checks over an [`Environment`], shared by `hubspoke test` and the
//! nextest files under e2e/suites/. Checks of one suite run in order (a later one may rely
//! on an earlier one: converged before stable); suites run concurrently, except that a check
//! which disturbs the environment (makes drift, deletes an Application) runs alone, so no
//! other check observes the disturbance (a stability window would see it as a flip).

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
    /// The run's artifacts directory: a failed check's diagnostics bundle goes to
    /// `<artifacts>/<suite>/<check>/`. None: no bundles.
    pub artifacts: Option<PathBuf>,
}

/// A check's future.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    pub suite: &'static str,
    pub name: &'static str,
    /// Whether the check changes the environment (and restores it before it ends): it then
    /// runs while no other check does.
    pub disturbs: bool,
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

/// The hub's Argo CD Applications.
pub fn applications(ctx: &Context) -> kube::Api<crate::argocd::Application> {
    kube::Api::namespaced(ctx.env.hub.client.clone(), crate::bootstrap::ARGOCD_NAMESPACE)
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
    /// The diagnostics bundle written for a failure.
    pub bundle: Option<PathBuf>,
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
        bundle: None,
    }
}

/// Writes the diagnostics bundle of a failed check under `artifacts` (a fresh directory:
/// `<suite>/<check>`, or `<check>-2`, ... when a bundle for it is there already).
pub async fn bundle(ctx: &Context<'_>, artifacts: &std::path::Path, r: &CheckResult) -> Option<PathBuf> {
    let failure = r.failure.as_deref()?;
    let base = artifacts.join(r.suite).join(r.name);
    let mut dir = base.clone();
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = base.with_file_name(format!("{}-{n}", r.name));
    }
    let id = format!("{}/{}", r.suite, r.name);
    crate::diagnostics::collect(ctx.env, &id, failure, &dir, ctx.intervals.diagnostics).await;
    Some(dir)
}

/// Runs the selected checks: suites concurrently, each suite's checks in order, a check that
/// disturbs the environment alone; each shown as a step.
pub async fn run(
    ctx: &Context<'_>,
    selected: &[Check],
    progress: &crate::progress::Progress,
) -> Vec<CheckResult> {
    schedule(selected, |c| async move {
        let step = progress.step(c.id());
        // other processes testing the same environment (nextest's, a `hubspoke test`)
        // observe or disturb it too: the same rule across processes
        let _across = EnvLock::acquire(&ctx.env.state_dir, c.disturbs).await;
        let mut r = run_check(ctx, c).await;
        if let (Some(_), Some(artifacts)) = (&r.failure, &ctx.artifacts) {
            step.set("gathering diagnostics");
            r.bundle = bundle(ctx, artifacts, &r).await;
        }
        match &r.failure {
            None => step.done("passed"),
            Some(f) => step.fail(f.lines().next().unwrap_or("failed")),
        }
        r
    })
    .await
}

/// A lock on an environment shared by processes: `checks.lock` in its state directory,
/// held shared by observing checks and exclusively by disturbing ones (flock(2); released
/// when dropped or when the process dies).
struct EnvLock {
    _file: Option<std::fs::File>,
}

impl EnvLock {
    async fn acquire(state_dir: &std::path::Path, exclusive: bool) -> EnvLock {
        let path = state_dir.join("checks.lock");
        let file = tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .ok()?;
            let op = if exclusive {
                rustix::fs::FlockOperation::LockExclusive
            } else {
                rustix::fs::FlockOperation::LockShared
            };
            rustix::fs::flock(&f, op).ok()?;
            Some(f)
        })
        .await
        .ok()
        .flatten();
        if file.is_none() {
            tracing::debug!(
                "no lock on {}: checks of other processes are not excluded",
                state_dir.display()
            );
        }
        EnvLock { _file: file }
    }
}

/// The order [`run`] keeps: one task per suite running its checks in order, the tasks
/// concurrent; observing checks share a lock that a disturbing check takes exclusively
/// (tokio's lock is fair: once a disturbing check waits, later checks queue behind it).
/// Results come back in the order of `selected`'s suites.
async fn schedule<F, Fut, R>(selected: &[Check], each: F) -> Vec<R>
where
    F: Fn(Check) -> Fut,
    Fut: Future<Output = R>,
{
    let mut suites: Vec<Vec<Check>> = Vec::new();
    for c in selected {
        match suites.iter_mut().find(|s| s[0].suite == c.suite) {
            Some(s) => s.push(*c),
            None => suites.push(vec![*c]),
        }
    }
    let lock = tokio::sync::RwLock::new(());
    let (lock, each) = (&lock, &each);
    let per_suite = futures::future::join_all(suites.into_iter().map(|checks| async move {
        let mut out = Vec::new();
        for c in checks {
            let r = if c.disturbs {
                let _alone = lock.write().await;
                each(c).await
            } else {
                let _shared = lock.read().await;
                each(c).await
            };
            out.push(r);
        }
        out
    }))
    .await;
    per_suite.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn noop<'a>(_: &'a Context<'a>) -> CheckFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    fn c(suite: &'static str, name: &'static str, disturbs: bool) -> Check {
        Check {
            suite,
            name,
            disturbs,
            run: noop,
        }
    }

    /// The lock across processes: an exclusive holder keeps a shared one waiting until it
    /// lets go (flock locks of separate opens conflict as those of separate processes do).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_environment_lock_excludes_across_opens() {
        let dir = std::env::temp_dir().join(format!("hubspoke-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let alone = EnvLock::acquire(&dir, true).await;
        assert!(alone._file.is_some());
        let d = dir.clone();
        let waiter = tokio::spawn(async move { EnvLock::acquire(&d, false).await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            !waiter.is_finished(),
            "a shared lock was granted beside an exclusive one"
        );
        drop(alone);
        let shared = waiter.await.unwrap();
        assert!(shared._file.is_some());
        let other = EnvLock::acquire(&dir, false).await;
        assert!(other._file.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A disturbing check never runs alongside another; observing checks of different
    /// suites do run alongside each other; each suite keeps its order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disturbing_check_runs_alone() {
        let checks = [
            c("a", "one", false),
            c("a", "two", false),
            c("b", "drift", true),
            c("b", "after", false),
            c("c", "watch", false),
            c("c", "window", false),
        ];
        let running: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let log: Mutex<Vec<(String, Vec<String>)>> = Mutex::new(Vec::new());
        let ids = schedule(&checks, |c| {
            let (running, log) = (&running, &log);
            async move {
                running.lock().unwrap().push(c.id());
                tokio::time::sleep(Duration::from_millis(40)).await;
                let others: Vec<String> = running
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|id| **id != c.id())
                    .cloned()
                    .collect();
                log.lock().unwrap().push((c.id(), others));
                running.lock().unwrap().retain(|id| *id != c.id());
                c.id()
            }
        })
        .await;
        assert_eq!(
            ids,
            ["a/one", "a/two", "b/drift", "b/after", "c/watch", "c/window"]
        );
        let log = log.into_inner().unwrap();
        let beside = |id: &str| log.iter().find(|(i, _)| i == id).unwrap().1.clone();
        assert_eq!(beside("b/drift"), Vec::<String>::new());
        assert!(
            log.iter().any(|(_, others)| !others.is_empty()),
            "observing checks ran one at a time: {log:?}"
        );
        for (id, others) in &log {
            assert!(
                !others.contains(&"b/drift".to_string()),
                "{id} ran beside b/drift"
            );
        }
    }
}

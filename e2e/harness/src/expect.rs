//! Watch-driven assertions.
//!
//! An [`Expectation`] judges the current state of a set of objects on every watch event:
//! [`Verdict::Pass`], [`Verdict::Pending`] (not yet, and why) or [`Verdict::Fail`] (definitely
//! wrong: stop waiting now). [`eventually`] waits until an expectation passes within a
//! deadline; [`consistently`] requires it to keep passing for a stability window. When
//! either gives up, the [`Failure`] says what was expected and the last state that mattered.
//! There are no fixed sleeps: every evaluation follows a change the API server reported.
//!
//! The named intervals all waits use live in [`Intervals`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher::{self, Event};

/// What an expectation says about the state it was shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Not yet; the reason is the state that matters.
    Pending(String),
    /// Definitely not (an error condition, a denial): waiting longer cannot help.
    Fail(String),
}

impl Verdict {
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    /// The reason of a pending or failing verdict.
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Pass => "",
            Verdict::Pending(r) | Verdict::Fail(r) => r,
        }
    }
}

/// A judgement of a state `S`, with a description of what it expects.
pub trait Expectation<S: ?Sized>: Send + Sync {
    fn evaluate(&self, state: &S) -> Verdict;
    fn describe(&self) -> String;
}

struct FnExpectation<F> {
    what: String,
    f: F,
}

impl<S: ?Sized, F: Fn(&S) -> Verdict + Send + Sync> Expectation<S> for FnExpectation<F> {
    fn evaluate(&self, state: &S) -> Verdict {
        (self.f)(state)
    }
    fn describe(&self) -> String {
        self.what.clone()
    }
}

/// An expectation from a description and a judging function.
pub fn expect<S: ?Sized + 'static>(
    what: impl Into<String>,
    f: impl Fn(&S) -> Verdict + Send + Sync + 'static,
) -> Box<dyn Expectation<S>> {
    Box::new(FnExpectation { what: what.into(), f })
}

struct All<S: ?Sized>(Vec<Box<dyn Expectation<S>>>);
struct Any<S: ?Sized>(Vec<Box<dyn Expectation<S>>>);
struct Not<S: ?Sized>(Box<dyn Expectation<S>>);

impl<S: ?Sized> Expectation<S> for All<S> {
    /// Fails as soon as one fails; pending while any is pending (all reasons listed).
    fn evaluate(&self, state: &S) -> Verdict {
        let mut pending = Vec::new();
        for e in &self.0 {
            match e.evaluate(state) {
                Verdict::Pass => {}
                Verdict::Fail(r) => return Verdict::Fail(r),
                Verdict::Pending(r) => pending.push(r),
            }
        }
        if pending.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Pending(pending.join("; "))
        }
    }
    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|e| e.describe())
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

impl<S: ?Sized> Expectation<S> for Any<S> {
    /// Passes when one passes; fails only when every one fails.
    fn evaluate(&self, state: &S) -> Verdict {
        let mut reasons = Vec::new();
        let mut all_failed = true;
        for e in &self.0 {
            match e.evaluate(state) {
                Verdict::Pass => return Verdict::Pass,
                Verdict::Fail(r) => reasons.push(r),
                Verdict::Pending(r) => {
                    all_failed = false;
                    reasons.push(r);
                }
            }
        }
        let why = reasons.join("; ");
        if all_failed && !self.0.is_empty() {
            Verdict::Fail(why)
        } else {
            Verdict::Pending(why)
        }
    }
    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|e| e.describe())
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

impl<S: ?Sized> Expectation<S> for Not<S> {
    /// Passes while the inner does not pass; the inner passing is pending (it may change
    /// back), the inner failing definitely is a pass.
    fn evaluate(&self, state: &S) -> Verdict {
        match self.0.evaluate(state) {
            Verdict::Pass => Verdict::Pending(format!("{} holds", self.0.describe())),
            Verdict::Pending(_) | Verdict::Fail(_) => Verdict::Pass,
        }
    }
    fn describe(&self) -> String {
        format!("not ({})", self.0.describe())
    }
}

/// Every expectation holds.
pub fn all<S: ?Sized + 'static>(es: Vec<Box<dyn Expectation<S>>>) -> Box<dyn Expectation<S>> {
    Box::new(All(es))
}

/// At least one expectation holds.
pub fn any<S: ?Sized + 'static>(es: Vec<Box<dyn Expectation<S>>>) -> Box<dyn Expectation<S>> {
    Box::new(Any(es))
}

/// The expectation does not hold.
pub fn not<S: ?Sized + 'static>(e: Box<dyn Expectation<S>>) -> Box<dyn Expectation<S>> {
    Box::new(Not(e))
}

/// The named intervals of every wait, in one place. `HUBSPOKE_<NAME>_SECONDS` overrides one
/// (e.g. `HUBSPOKE_CONVERGENCE_SECONDS=900` on a slow cluster).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intervals {
    /// Every Application Synced and Healthy.
    pub convergence: Duration,
    /// How long converged state must then stay so.
    pub stability: Duration,
    /// A workload rolled out, an object appearing or disappearing on a spoke.
    pub rollout: Duration,
    /// Drift healed, an Application's deletion pruned.
    pub reconcile: Duration,
    /// A policy Ready, a report written.
    pub policy: Duration,
    /// Gathering a failed check's diagnostics bundle (ends well before nextest's terminate
    /// timeout in the ci, kind and eks profiles).
    pub diagnostics: Duration,
}

impl Intervals {
    /// The intervals for an environment: sim answers in milliseconds, real clusters pull
    /// images and start controllers.
    pub fn for_env(env: crate::environment::ProviderKind) -> Self {
        Self::defaults(env).with_overrides(|name| std::env::var(format!("HUBSPOKE_{name}_SECONDS")).ok())
    }

    /// The intervals for an environment without the `HUBSPOKE_<NAME>_SECONDS` overrides
    /// (nextest's profiles are sized from these).
    pub fn defaults(env: crate::environment::ProviderKind) -> Self {
        match env {
            crate::environment::ProviderKind::Sim => Intervals {
                convergence: Duration::from_secs(60),
                stability: Duration::from_secs(3),
                rollout: Duration::from_secs(30),
                reconcile: Duration::from_secs(30),
                policy: Duration::from_secs(30),
                diagnostics: Duration::from_secs(20),
            },
            _ => Intervals {
                convergence: Duration::from_secs(900),
                stability: Duration::from_secs(30),
                rollout: Duration::from_secs(300),
                reconcile: Duration::from_secs(300),
                policy: Duration::from_secs(180),
                diagnostics: Duration::from_secs(90),
            },
        }
    }

    /// The longest single wait (every interval but the diagnostics budget).
    pub fn longest_wait(&self) -> Duration {
        [
            self.convergence,
            self.stability,
            self.rollout,
            self.reconcile,
            self.policy,
        ]
        .into_iter()
        .max()
        .unwrap_or_default()
    }

    /// Applies overrides by name (CONVERGENCE, STABILITY, ROLLOUT, RECONCILE, POLICY,
    /// DIAGNOSTICS).
    pub fn with_overrides(mut self, get: impl Fn(&str) -> Option<String>) -> Self {
        for (name, slot) in [
            ("CONVERGENCE", &mut self.convergence),
            ("STABILITY", &mut self.stability),
            ("ROLLOUT", &mut self.rollout),
            ("RECONCILE", &mut self.reconcile),
            ("POLICY", &mut self.policy),
            ("DIAGNOSTICS", &mut self.diagnostics),
        ] {
            if let Some(secs) = get(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| *s >= 0.0)
            {
                *slot = Duration::from_secs_f64(secs);
            }
        }
        self
    }
}

/// Why a wait gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The deadline passed while the expectation was pending.
    Timeout,
    /// The expectation failed definitely.
    Failed,
    /// During a stability window the expectation stopped holding.
    Flipped,
    /// The watch itself failed.
    Watch,
}

/// A wait that gave up: what was expected and the last state that mattered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub expected: String,
    pub last: String,
    pub after: Duration,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.after.as_secs_f64();
        match self.kind {
            FailureKind::Timeout => write!(
                f,
                "expected {} within {secs:.0}s; last seen: {}",
                self.expected, self.last
            ),
            FailureKind::Failed => write!(
                f,
                "expected {}, but after {secs:.1}s: {}",
                self.expected, self.last
            ),
            FailureKind::Flipped => {
                write!(
                    f,
                    "expected {} to keep holding, but after {secs:.1}s: {}",
                    self.expected, self.last
                )
            }
            FailureKind::Watch => write!(f, "expected {}: {}", self.expected, self.last),
        }
    }
}

impl std::error::Error for Failure {}

/// Why a watch did not deliver: the error, and whether it is definite (credentials refused,
/// no such resource: retrying cannot help) or transient (the watch backs off and retries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchError {
    pub message: String,
    pub definite: bool,
}

/// Snapshots of every object of `api`: one after the initial list, then one per change.
/// Errors are passed on as they come; the watch itself backs off and retries after each
/// (see [`crate::kube_util::watch`]).
pub fn snapshots<K>(api: Api<K>) -> impl futures::Stream<Item = Result<Arc<Vec<K>>, WatchError>> + Send
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let key = |o: &K| {
        (
            o.meta().namespace.clone().unwrap_or_default(),
            o.meta().name.clone().unwrap_or_default(),
        )
    };
    let state = (
        BTreeMap::<(String, String), K>::new(),
        BTreeMap::<(String, String), K>::new(),
        false,
    );
    crate::kube_util::watch(api, watcher::Config::default())
        .scan(state, move |(live, listing, listed), ev| {
            let out = match ev {
                Ok(Event::Init) => {
                    listing.clear();
                    None
                }
                Ok(Event::InitApply(o)) => {
                    listing.insert(key(&o), o);
                    None
                }
                Ok(Event::InitDone) => {
                    *live = std::mem::take(listing);
                    *listed = true;
                    Some(Ok(()))
                }
                Ok(Event::Apply(o)) => {
                    live.insert(key(&o), o);
                    Some(Ok(()))
                }
                Ok(Event::Delete(o)) => {
                    live.remove(&key(&o));
                    Some(Ok(()))
                }
                Err(e) => Some(Err(WatchError {
                    definite: crate::kube_util::watch_error_is_definite(&e),
                    message: e.to_string(),
                })),
            };
            let item = match out {
                Some(Ok(())) if *listed => Some(Ok(Arc::new(live.values().cloned().collect::<Vec<K>>()))),
                Some(Err(e)) => Some(Err(e)),
                _ => None,
            };
            futures::future::ready(Some(item))
        })
        .filter_map(futures::future::ready)
}

/// Waits until `e` passes on the objects of `api` (watching them), at most `within`.
/// Returns the objects it passed on; a definite failure stops the wait at once.
pub async fn eventually<K>(api: Api<K>, within: Duration, e: &dyn Expectation<[K]>) -> Result<Vec<K>, Failure>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    wait(api, within, e, None).await
}

/// Makes a change and waits until `e` passes on what follows it: `act` runs once the watch
/// on `api` has listed (so no event the change causes can be missed, however fast the
/// controllers answer), and the state listed before it is not judged. An error from `act`
/// fails the wait at once with that message.
pub async fn eventually_after<K, A>(
    api: Api<K>,
    within: Duration,
    e: &dyn Expectation<[K]>,
    act: A,
) -> Result<Vec<K>, Failure>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    A: std::future::Future<Output = Result<(), String>> + Send,
{
    wait(api, within, e, Some(Box::pin(act))).await
}

type Act<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;

async fn wait<K>(
    api: Api<K>,
    within: Duration,
    e: &dyn Expectation<[K]>,
    mut act: Option<Act<'_>>,
) -> Result<Vec<K>, Failure>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut last = String::from("nothing listed yet");
    let mut stream = std::pin::pin!(snapshots(api));
    let watching = async {
        while let Some(snap) = stream.next().await {
            let snap = match snap {
                Ok(snap) => snap,
                Err(w) if w.definite => {
                    return Err((FailureKind::Watch, format!("watching failed: {}", w.message)));
                }
                Err(w) => {
                    // the watch backs off and tries again; the deadline still holds
                    last = format!("watching failed (retrying): {}", w.message);
                    continue;
                }
            };
            if let Some(act) = act.take() {
                act.await.map_err(|why| (FailureKind::Failed, why))?;
                last = "no change seen yet".to_string();
                continue;
            }
            match e.evaluate(&snap) {
                Verdict::Pass => return Ok(snap.as_ref().clone()),
                Verdict::Fail(why) => return Err((FailureKind::Failed, why)),
                Verdict::Pending(why) => last = why,
            }
        }
        Err((FailureKind::Watch, "the watch ended".to_string()))
    };
    let outcome = tokio::time::timeout(within, watching).await;
    let fail = |kind, last: String| Failure {
        kind,
        expected: e.describe(),
        last,
        after: started.elapsed(),
    };
    match outcome {
        Ok(Ok(objs)) => Ok(objs),
        Ok(Err((kind, why))) => Err(fail(kind, why)),
        Err(_) => Err(Failure {
            after: within,
            ..fail(FailureKind::Timeout, last)
        }),
    }
}

/// Requires `e` to hold on the objects of `api` at every change for `window` (watching).
pub async fn consistently<K>(api: Api<K>, window: Duration, e: &dyn Expectation<[K]>) -> Result<(), Failure>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut stream = std::pin::pin!(snapshots(api));
    let watching = async {
        while let Some(snap) = stream.next().await {
            // a window the state cannot be seen in proves nothing: a transient watch error
            // fails the window too, saying so
            let snap = snap.map_err(|w| (FailureKind::Watch, format!("watching failed: {}", w.message)))?;
            match e.evaluate(&snap) {
                Verdict::Pass => {}
                Verdict::Pending(why) | Verdict::Fail(why) => return Err((FailureKind::Flipped, why)),
            }
        }
        Err((FailureKind::Watch, "the watch ended".to_string()))
    };
    match tokio::time::timeout(window, watching).await {
        // the window passed with every state holding
        Err(_) => Ok(()),
        Ok(Ok(())) => Ok(()),
        Ok(Err((kind, why))) => Err(Failure {
            kind,
            expected: e.describe(),
            last: why,
            after: started.elapsed(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &i32) -> Verdict {
        match *v {
            1 => Verdict::Pass,
            0 => Verdict::Pending("zero".into()),
            _ => Verdict::Fail("negative".into()),
        }
    }

    #[test]
    fn combinators() {
        let pass = || expect::<i32>("one", |_| Verdict::Pass);
        let pend = || expect::<i32>("two", |_| Verdict::Pending("not yet".into()));
        let fail = || expect::<i32>("three", |_| Verdict::Fail("never".into()));
        assert_eq!(
            all(vec![pass(), pend()]).evaluate(&0),
            Verdict::Pending("not yet".into())
        );
        assert_eq!(
            all(vec![pend(), fail()]).evaluate(&0),
            Verdict::Fail("never".into())
        );
        assert_eq!(all(vec![pass(), pass()]).evaluate(&0), Verdict::Pass);
        assert_eq!(any(vec![fail(), pass()]).evaluate(&0), Verdict::Pass);
        assert_eq!(
            any(vec![fail(), pend()]).evaluate(&0),
            Verdict::Pending("never; not yet".into())
        );
        assert_eq!(
            any(vec![fail(), fail()]).evaluate(&0),
            Verdict::Fail("never; never".into())
        );
        assert_eq!(not(pass()).evaluate(&0), Verdict::Pending("one holds".into()));
        assert_eq!(not(fail()).evaluate(&0), Verdict::Pass);
        assert_eq!(all(vec![pass(), not(pend())]).describe(), "one and not (two)");
        let e = expect::<i32>("n", n);
        assert_eq!(e.evaluate(&-1), Verdict::Fail("negative".into()));
    }

    /// How long a test may take besides its waits and its diagnostics: starting, loading
    /// the environment, writing its reports.
    const TEST_SLACK: Duration = Duration::from_secs(30);

    /// nextest kills a test at `period * terminate-after` of its profile: that must come
    /// after the longest wait plus the diagnostics budget, or a stuck test dies before it
    /// writes its diagnostics.
    #[test]
    fn every_nextest_profile_lets_a_stuck_test_write_its_diagnostics() {
        use crate::environment::ProviderKind;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.config/nextest.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let doc: toml_edit::Document<String> = text.parse().unwrap();
        let profiles = doc
            .as_table()
            .get("profile")
            .and_then(toml_edit::Item::as_table)
            .unwrap();
        let mut seen = Vec::new();
        for (name, profile) in profiles.iter() {
            // which environment the profile's tests run against
            let env = match name {
                "default" | "ci" => ProviderKind::Sim,
                "kind" => ProviderKind::Kind,
                "eks" => ProviderKind::Eks,
                other => panic!(
                    "profile {other} in .config/nextest.toml: say here which environment it runs against"
                ),
            };
            let slow = profile.get("slow-timeout").unwrap_or_else(|| {
                panic!("profile {name}: no slow-timeout, so nextest never terminates a stuck test")
            });
            let period = slow.get("period").and_then(|p| p.as_str()).unwrap();
            let secs: u64 = period.strip_suffix('s').unwrap().parse().unwrap();
            let after = slow
                .get("terminate-after")
                .and_then(|t| t.as_integer())
                .unwrap_or_else(|| panic!("profile {name}: slow-timeout has no terminate-after"));
            let terminate = Duration::from_secs(secs * after as u64);
            let i = Intervals::defaults(env);
            let needed = i.longest_wait() + i.diagnostics + TEST_SLACK;
            assert!(
                terminate >= needed,
                "profile {name} terminates tests after {terminate:?} ({period} x {after}), but a {env} test may wait {:?} and then gather diagnostics for {:?} (plus {TEST_SLACK:?} to start and report): raise terminate-after to at least {}",
                i.longest_wait(),
                i.diagnostics,
                needed.as_secs().div_ceil(secs)
            );
            seen.push(name.to_string());
        }
        assert_eq!(seen, ["default", "ci", "kind", "eks"]);
    }

    #[test]
    fn intervals_take_overrides() {
        let i = Intervals::for_env(crate::environment::ProviderKind::Sim).with_overrides(|k| match k {
            "STABILITY" => Some("0.5".into()),
            "POLICY" => Some("nonsense".into()),
            _ => None,
        });
        assert_eq!(i.stability, Duration::from_millis(500));
        assert_eq!(i.policy, Duration::from_secs(30));
    }
}

//! The convergence timeline: every Application's sync and health as Argo CD reported them
//! over a run, watched on the hub from the start of the checks to their end. For each
//! Application: its transitions (time into the run, sync, health), its time to first
//! Synced and Healthy (from its creation), and how often it left that state (flips).
//! Written as `timeline.json` beside the run's bundles and summarized in the step summary.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use kube::runtime::watcher;
use serde::Serialize;
use serde_json::Value;

use crate::argocd::Application;

/// One observed change of an Application's state.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Transition {
    /// Seconds since the recording started.
    pub at_seconds: f64,
    pub sync: String,
    pub health: String,
}

/// One Application's timeline.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AppTimeline {
    pub name: String,
    /// Its creationTimestamp.
    pub created: Option<String>,
    pub transitions: Vec<Transition>,
    /// Seconds from creation to first Synced and Healthy (when it got there before the
    /// recording, Argo CD's operationState.finishedAt stands in for the observation).
    pub synced_healthy_after_seconds: Option<f64>,
    /// How often it left Synced and Healthy during the recording.
    pub flips: u32,
    /// Whether it was deleted during the recording.
    pub deleted: bool,
}

/// A run's timeline.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timeline {
    pub started_at: String,
    pub seconds: f64,
    pub applications: Vec<AppTimeline>,
    /// Errors the watch met (it backs off and retries): the timeline has gaps then.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watch_errors: Vec<String>,
}

fn field(a: &Application, p: &str) -> String {
    a.status
        .as_ref()
        .and_then(|s| s.pointer(p))
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_string()
}

fn ts(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

#[derive(Default)]
struct State {
    apps: BTreeMap<String, AppTimeline>,
    watch_errors: Vec<String>,
}

impl State {
    fn observe(&mut self, a: &Application, started: Instant, started_at: jiff::Timestamp) {
        let name = a.metadata.name.clone().unwrap_or_default();
        let (sync, health) = (field(a, "/sync/status"), field(a, "/health/status"));
        let entry = self.apps.entry(name.clone()).or_insert_with(|| AppTimeline {
            name,
            created: a.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
            ..AppTimeline::default()
        });
        entry.deleted = false;
        let was_good = entry
            .transitions
            .last()
            .is_some_and(|t| t.sync == "Synced" && t.health == "Healthy");
        if entry
            .transitions
            .last()
            .is_some_and(|t| t.sync == sync && t.health == health)
        {
            return;
        }
        let good = sync == "Synced" && health == "Healthy";
        let first = entry.transitions.is_empty();
        entry.transitions.push(Transition {
            at_seconds: started.elapsed().as_secs_f64(),
            sync,
            health,
        });
        if was_good && !good {
            entry.flips += 1;
        }
        if good && entry.synced_healthy_after_seconds.is_none() {
            let created = entry.created.as_deref().and_then(ts);
            let reached = if first {
                // converged before the recording: when its last sync finished
                ts(&field(a, "/operationState/finishedAt")).unwrap_or(started_at)
            } else {
                jiff::Timestamp::now()
            };
            entry.synced_healthy_after_seconds =
                created.map(|c| ((reached.as_millisecond() - c.as_millisecond()).max(0) as f64) / 1000.0);
        }
    }
}

/// Records the hub's Applications until [`Recorder::finish`].
pub struct Recorder {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
    stop: tokio_util::sync::CancellationToken,
    /// Stops the recording task when the recorder is dropped without [`Recorder::finish`]
    /// (the run was interrupted).
    _stop_on_drop: tokio_util::sync::DropGuard,
    started: Instant,
    started_at: jiff::Timestamp,
}

/// How long [`Recorder::finish`] waits for the recording task to end after telling it to.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// At most this many watch errors are kept in the timeline (the first ones, then a count).
const KEPT_WATCH_ERRORS: usize = 20;

impl Recorder {
    /// Starts watching the Applications of the hub's Argo CD namespace.
    pub fn start(hub: &kube::Client) -> Recorder {
        let api: kube::Api<Application> =
            kube::Api::namespaced(hub.clone(), crate::bootstrap::ARGOCD_NAMESPACE);
        let state = Arc::new(Mutex::new(State::default()));
        let started = Instant::now();
        let started_at = jiff::Timestamp::now();
        let stop = tokio_util::sync::CancellationToken::new();
        let (s, cancelled) = (state.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut events = crate::kube_util::watch(api, watcher::Config::default()).boxed();
            loop {
                let e = tokio::select! {
                    biased;
                    () = cancelled.cancelled() => return,
                    e = events.next() => match e {
                        Some(e) => e,
                        None => return,
                    },
                };
                let mut st = s.lock().expect("timeline lock");
                match e {
                    Err(e) => {
                        tracing::debug!(error = %e, "timeline: watching the hub's Applications failed; retrying");
                        if st.watch_errors.len() < KEPT_WATCH_ERRORS {
                            st.watch_errors
                                .push(format!("after {:.1}s: {e}", started.elapsed().as_secs_f64()));
                        }
                    }
                    // hubspoke's own probes are not the platform's
                    Ok(watcher::Event::Apply(a) | watcher::Event::InitApply(a))
                        if !crate::bootstrap::is_probe(&a.metadata) =>
                    {
                        st.observe(&a, started, started_at)
                    }
                    Ok(watcher::Event::Delete(a)) => {
                        if let Some(t) = st.apps.get_mut(a.metadata.name.as_deref().unwrap_or_default()) {
                            t.deleted = true;
                        }
                    }
                    Ok(_) => {}
                }
            }
        });
        Recorder {
            state,
            task,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            started,
            started_at,
        }
    }

    /// Stops recording, waits for the recording task to end (at most a few seconds, then it
    /// is aborted) and returns the timeline.
    pub async fn finish(self) -> Timeline {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            tracing::warn!("timeline: the recording task did not stop within {STOP_GRACE:?}; aborted");
            task.abort();
        }
        let st = self.state.lock().expect("timeline lock");
        Timeline {
            started_at: self.started_at.to_string(),
            seconds: self.started.elapsed().as_secs_f64(),
            applications: st.apps.values().cloned().collect(),
            watch_errors: st.watch_errors.clone(),
        }
    }
}

impl Timeline {
    /// A Markdown table: Application, time to Synced and Healthy, flips, last state.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "#### Convergence timeline\n\n| Application | Synced and Healthy after | flips | last seen |\n|---|---|---|---|\n",
        );
        for a in &self.applications {
            let last = a
                .transitions
                .last()
                .map(|t| format!("{} / {}", t.sync, t.health))
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "| {} | {} | {} | {}{} |\n",
                a.name,
                a.synced_healthy_after_seconds
                    .map(|s| format!("{s:.1}s"))
                    .unwrap_or_else(|| "not yet".into()),
                a.flips,
                last,
                if a.deleted { " (deleted)" } else { "" }
            ));
        }
        if let Some(first) = self.watch_errors.first() {
            out.push_str(&format!(
                "\nThe hub's Applications could not be watched {} time(s) (the timeline has gaps); first: {first}\n",
                self.watch_errors.len()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, sync: &str, health: &str) -> Application {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "creationTimestamp": "2026-11-24T10:00:00Z"},
            "spec": {"project": "default", "destination": {"name": "in-cluster"}},
            "status": {"sync": {"status": sync}, "health": {"status": health},
                       "operationState": {"phase": "Succeeded", "finishedAt": "2026-11-24T10:00:07Z"}}
        }))
        .unwrap()
    }

    /// Repeated states are one transition; leaving Synced and Healthy is a flip; an
    /// Application converged before the recording gets its time from operationState.
    #[test]
    fn transitions_flips_and_time_to_converge() {
        let mut st = State::default();
        let (started, at) = (Instant::now(), jiff::Timestamp::now());
        st.observe(&app("a", "Synced", "Healthy"), started, at);
        st.observe(&app("a", "Synced", "Healthy"), started, at);
        st.observe(&app("a", "OutOfSync", "Healthy"), started, at);
        st.observe(&app("a", "Synced", "Progressing"), started, at);
        st.observe(&app("a", "Synced", "Healthy"), started, at);
        st.observe(&app("b", "OutOfSync", "Missing"), started, at);
        let a = &st.apps["a"];
        let states: Vec<String> = a
            .transitions
            .iter()
            .map(|t| format!("{}/{}", t.sync, t.health))
            .collect();
        assert_eq!(
            states,
            [
                "Synced/Healthy",
                "OutOfSync/Healthy",
                "Synced/Progressing",
                "Synced/Healthy"
            ]
        );
        assert_eq!(a.flips, 1);
        assert_eq!(a.synced_healthy_after_seconds, Some(7.0));
        let b = &st.apps["b"];
        assert_eq!((b.flips, b.synced_healthy_after_seconds), (0, None));
        let t = Timeline {
            started_at: at.to_string(),
            seconds: 1.0,
            applications: st.apps.values().cloned().collect(),
            watch_errors: vec![],
        };
        let md = t.markdown();
        assert!(md.contains("| a | 7.0s | 1 | Synced / Healthy |"), "{md}");
        assert!(md.contains("| b | not yet | 0 | OutOfSync / Missing |"), "{md}");
    }
}

//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's
//! `leaderelection` package runs it for the controllers whose images the kubelet stand-in
//! runs (cert-manager's controller and cainjector, Argo CD's ApplicationSet controller with
//! `--enable-leader-election`): of several replicas only the Lease's holder works.
//!
//! A candidate takes the Lease when it is missing, unheld, or not renewed within its
//! `leaseDurationSeconds` (`tryAcquireOrRenew`: the update carries the resourceVersion read,
//! so two candidates never both win; a new holder bumps `leaseTransitions` and sets
//! `acquireTime`); the holder renews every retry period and stops leading when it could not
//! renew within the renew deadline. Stopping a leader releases the Lease (`ReleaseOnCancel`:
//! holder cleared, `leaseDurationSeconds` 1), so a waiting replica takes over within its
//! retry period. Upstream a process that loses its Lease exits and its container restarts to
//! campaign again; here the program stops and campaigns again in place.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, PostParams};

/// One election: the Lease and this candidate's identity and timings.
#[derive(Clone, Debug)]
pub struct Election {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// Labels a new Lease gets (cert-manager: `app.kubernetes.io/managed-by`).
    pub labels: BTreeMap<String, String>,
}

impl Election {
    /// client-go's defaults as controller-runtime sets them (15 s, 10 s, 2 s).
    pub fn new(namespace: &str, name: &str, identity: &str) -> Election {
        Election {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            labels: BTreeMap::new(),
        }
    }

    fn api(&self, client: &Client) -> Api<Lease> {
        Api::namespaced(client.clone(), &self.namespace)
    }

    /// One attempt to take or keep the Lease (`tryAcquireOrRenew`); true when this
    /// candidate holds it afterwards.
    pub async fn try_acquire_or_renew(&self, client: &Client) -> bool {
        let api = self.api(client);
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let seconds = self.lease_duration.as_secs().max(1) as i32;
        let current = match api.get_opt(&self.name).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(lease = %self.name, "leader election: reading the Lease failed: {e}");
                return false;
            }
        };
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: kube::api::ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
                    ..Default::default()
                },
                spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return api.create(&PostParams::default(), &lease).await.is_ok();
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        if !ours && !holder.is_empty() {
            let renewed = spec
                .renew_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
            let valid = i64::from(spec.lease_duration_seconds.unwrap_or(0));
            let expires = renewed.as_second().saturating_add(valid);
            if expires > now.0.as_second() {
                return false;
            }
        }
        let mut next = spec.clone();
        next.holder_identity = Some(self.identity.clone());
        next.lease_duration_seconds = Some(seconds);
        next.renew_time = Some(now.clone());
        if !ours {
            next.acquire_time = Some(now);
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        lease.spec = Some(next);
        // the resourceVersion read makes this a compare-and-swap
        api.replace(&self.name, &PostParams::default(), &lease)
            .await
            .is_ok()
    }

    /// Gives the Lease up if this candidate holds it (`release`): holder cleared,
    /// `leaseDurationSeconds` 1, renew and acquire times now.
    pub async fn release(&self, client: &Client) {
        let api = self.api(client);
        let Ok(Some(mut lease)) = api.get_opt(&self.name).await else {
            return;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        lease.spec = Some(k8s_openapi::api::coordination::v1::LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: spec.lease_transitions,
            ..Default::default()
        });
        if let Err(e) = api.replace(&self.name, &PostParams::default(), &lease).await {
            tracing::debug!(lease = %self.name, "leader election: releasing the Lease failed: {e}");
        }
    }
}

/// What a leader runs: started once leading, stopped when leadership ends.
pub type Work = Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>;

/// A candidate campaigning (and leading when it wins) until [`Candidate::stop`].
pub struct Candidate {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Candidate {
    /// Campaigns for `election`; each time it leads, `start` starts the work (an error is
    /// logged and the campaign goes on after a retry period), which is stopped when the Lease
    /// is lost or the candidate stops.
    pub fn run<F, Fut>(client: Client, election: Election, start: F) -> Candidate
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Work, String>> + Send,
    {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                // campaign
                loop {
                    if election.try_acquire_or_renew(&client).await {
                        break;
                    }
                    tokio::select! {
                        _ = &mut rx => return,
                        _ = tokio::time::sleep(election.retry_period) => {}
                    }
                }
                tracing::info!(lease = %format!("{}/{}", election.namespace, election.name), identity = %election.identity, "successfully acquired lease");
                let work = match start().await {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(identity = %election.identity, "leader election: the work failed to start: {e}");
                        election.release(&client).await;
                        tokio::select! {
                            _ = &mut rx => return,
                            _ = tokio::time::sleep(election.retry_period) => continue,
                        }
                    }
                };
                // lead: renew every retry period until the renew deadline passes unrenewed
                let mut renewed = Instant::now();
                let stopped = loop {
                    tokio::select! {
                        _ = &mut rx => break true,
                        _ = tokio::time::sleep(election.retry_period) => {}
                    }
                    if election.try_acquire_or_renew(&client).await {
                        renewed = Instant::now();
                    } else if renewed.elapsed() >= election.renew_deadline {
                        tracing::warn!(identity = %election.identity, "leader election lost");
                        break false;
                    }
                };
                work().await;
                if stopped {
                    election.release(&client).await;
                    return;
                }
            }
        });
        Candidate { stop: Some(tx), task }
    }

    /// Stops the work if leading, releases the Lease, and ends the campaign.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Candidate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

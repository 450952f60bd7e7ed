//! The `sim` provider: one emulated API server per cluster, in this process, with the
//! workload stand-in on each (scheduler, kubelet and workload controllers). Argo CD is the
//! bootstrap's business (its stand-in on the hub); Kyverno arrives when the platform deploys
//! its chart.

use std::path::Path;
use std::time::{Duration, Instant};

use hubspoke_sim::SimCluster;
use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};

use crate::environment::{Cluster, Environment, IN_CLUSTER, ProviderKind, Role, State, role_of};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::providers::{Provider, UpPlan, remove_state};

pub struct SimProvider;

/// What keeps a sim environment running: dropping it stops the servers.
struct SimRuntime {
    clusters: Vec<SimCluster>,
    _workloads: Vec<WorkloadStandIn>,
}

impl Drop for SimRuntime {
    fn drop(&mut self) {
        for c in &self.clusters {
            c.shutdown();
        }
    }
}

impl SimProvider {
    /// The emulated cluster behind `name` in an environment this process built, to inject
    /// faults (revoke a token, fail requests) in tests.
    pub fn cluster<'a>(env: &'a Environment, name: &str) -> Option<&'a SimCluster> {
        env.runtime
            .iter()
            .find_map(|r| r.downcast_ref::<SimRuntime>())
            .and_then(|r| r.clusters.iter().find(|c| c.name() == name))
    }
}

impl Provider for SimProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Sim
    }

    async fn up(&self, plan: &UpPlan, progress: &Progress) -> Result<Environment> {
        let members = plan.members();
        let step = progress.step(format!("starting {} emulated clusters", members.len()));
        let started = futures::future::join_all(
            members
                .iter()
                .map(|d| SimCluster::start_owned(d.cluster_name.clone())),
        )
        .await;
        let mut clusters = Vec::new();
        for c in started {
            match c {
                Ok(c) => clusters.push(c),
                Err(e) => {
                    let msg = e.to_string();
                    step.fail(&msg);
                    return Err(Error::env(msg));
                }
            }
        }
        std::fs::create_dir_all(&plan.state_dir).map_err(|e| {
            Error::env(format!(
                "cannot create the state directory {}: {e}",
                plan.state_dir.display()
            ))
        })?;
        let mut workloads = Vec::new();
        let mut hub = None;
        let mut spokes = Vec::new();
        for (sim, def) in clusters.iter().zip(&members) {
            let kubeconfig = plan.state_dir.join(format!("{}.kubeconfig", sim.name()));
            sim.write_kubeconfig(&kubeconfig)
                .map_err(|e| Error::env(format!("writing {}: {e}", kubeconfig.display())))?;
            let client = crate::kube_util::client_from_kubeconfig(&kubeconfig, None)
                .await
                .map_err(|e| Error::env(format!("cluster {}: {e}", sim.name())))?;
            let opts = WorkloadOptions {
                node_prefix: sim.name().to_string(),
                ..Default::default()
            };
            workloads.push(WorkloadStandIn::run(client.clone(), opts).await.map_err(|e| {
                Error::env(format!(
                    "cluster {}: starting the workload stand-in: {e}",
                    sim.name()
                ))
            })?);
            let role = role_of(def).unwrap_or(Role::Spoke);
            let cluster = Cluster {
                name: sim.name().to_string(),
                role,
                definition: (*def).clone(),
                client,
                kubeconfig,
                context: sim.context_name(),
                server_from_hub: match role {
                    Role::Hub => IN_CLUSTER.to_string(),
                    Role::Spoke => sim.url(),
                },
                ca_pem: (role == Role::Spoke).then(|| sim.ca_pem().to_string()),
                aws: None,
            };
            match role {
                Role::Hub => hub = Some(cluster),
                Role::Spoke => spokes.push(cluster),
            }
        }
        let Some(hub) = hub else {
            return Err(Error::input("the definitions name no hub"));
        };
        step.done(
            &clusters
                .iter()
                .map(|c| format!("{} {}", c.name(), c.url()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let mut env = Environment::new(ProviderKind::Sim, hub, spokes, plan);
        env.runtime.push(Box::new(SimRuntime {
            clusters,
            _workloads: workloads,
        }));
        Ok(env)
    }

    /// Stops the `hubspoke up --env sim` process that serves the environment (SIGTERM),
    /// waits for it to exit, and removes the state files.
    async fn down(&self, state: &State, dir: &Path, progress: &Progress) -> Result<()> {
        if let Some(pid) = state.pid
            && pid != std::process::id()
            && alive(pid)
        {
            let step = progress.step(format!("stopping the sim environment (process {pid})"));
            terminate(pid).map_err(|e| Error::env(format!("cannot signal process {pid}: {e}")))?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while alive(pid) {
                if Instant::now() > deadline {
                    step.fail("still running after 30s");
                    return Err(Error::env(format!(
                        "process {pid} serving the sim environment did not exit within 30s of SIGTERM; kill it (kill -9 {pid})"
                    )));
                }
                // a process exit cannot be watched portably; check it often
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            step.done("stopped");
        }
        remove_state(state, dir)
    }
}

/// Whether the process `pid` runs (and is not a zombie).
#[cfg(unix)]
pub(crate) fn alive(pid: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(pid as i32) else {
        return false;
    };
    rustix::process::test_kill_process(pid).is_ok() && !zombie(pid.as_raw_nonzero().get())
}

/// A child that exited but was not reaped still answers kill(0).
#[cfg(unix)]
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false)
}

#[cfg(unix)]
fn terminate(pid: u32) -> std::io::Result<()> {
    let pid = rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| std::io::Error::other("pid 0"))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(std::io::Error::from)
}

#[cfg(not(unix))]
pub(crate) fn alive(_pid: u32) -> bool {
    false
}

#[cfg(not(unix))]
fn terminate(_pid: u32) -> std::io::Result<()> {
    Err(std::io::Error::other("signals need a unix system"))
}

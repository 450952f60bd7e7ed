//! Providers build the clusters of an environment, adopt them later from the state files,
//! and tear them down.

use std::path::{Path, PathBuf};

use crate::definition::{ClusterDefinition, Definitions};
use crate::environment::{Environment, ProviderKind, State};
use crate::error::Result;
use crate::progress::Progress;

pub mod existing;
pub mod kind;
pub mod sim;

/// What `up` builds.
#[derive(Clone, Debug)]
pub struct UpPlan {
    pub definitions: Definitions,
    /// The release directory (recorded in the state).
    pub release: PathBuf,
    /// Where kubeconfigs and state.json go.
    pub state_dir: PathBuf,
    /// Reuse clusters that already exist instead of failing.
    pub reuse: bool,
}

impl UpPlan {
    /// The hub and the enabled spokes: the clusters the environment consists of.
    pub fn members(&self) -> Vec<&ClusterDefinition> {
        std::iter::once(self.definitions.hub())
            .chain(self.definitions.spokes())
            .collect()
    }
}

/// A way to build environments.
#[allow(async_fn_in_trait)]
pub trait Provider {
    fn kind(&self) -> ProviderKind;

    /// Builds (or with `reuse`, reuses) the clusters, writes their kubeconfigs (0600) and
    /// returns the environment; the caller writes state.json once bootstrapped.
    async fn up(&self, plan: &UpPlan, progress: &Progress) -> Result<Environment>;

    /// Tears down what `up` built, from the state files alone.
    async fn down(&self, state: &State, dir: &Path, progress: &Progress) -> Result<()>;

    /// Rebuilds the environment from its state files.
    async fn adopt(&self, dir: &Path) -> Result<Environment> {
        Ok(Environment::load(self.kind(), dir).await?)
    }
}

/// Removes the state files of an environment (kubeconfigs it wrote and state.json).
pub fn remove_state(state: &State, dir: &Path) -> Result<()> {
    for c in &state.clusters {
        let p = dir.join(&c.kubeconfig);
        if p.starts_with(dir) {
            let _ = std::fs::remove_file(p);
        }
    }
    // checks.lock: the suites' lock across processes (suites::EnvLock)
    for f in ["state.json", "kubeconfig", "checks.lock"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    Ok(())
}

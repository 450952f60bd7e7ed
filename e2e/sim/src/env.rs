//! An embedded hub/spoke environment: one emulated cluster per member.

use std::path::{Path, PathBuf};

use crate::cluster::{SimCluster, StartError, write_private};
use crate::state::ServerConfig;

/// The name of the n-th spoke (0-based): spoke-a ... spoke-z, spoke-aa, spoke-ab, ...
pub fn spoke_name(n: usize) -> String {
    let mut s = String::new();
    let mut n = n + 1;
    while n > 0 {
        n -= 1;
        s.insert(0, (b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    format!("spoke-{s}")
}

/// A hub and its spokes, each a running API server.
pub struct SimEnvironment {
    pub hub: SimCluster,
    pub spokes: Vec<SimCluster>,
}

impl SimEnvironment {
    /// Starts a hub and `spokes` spokes concurrently.
    pub async fn start(spokes: usize) -> Result<Self, StartError> {
        Self::start_with(spokes, ServerConfig::default()).await
    }

    pub async fn start_with(spokes: usize, config: ServerConfig) -> Result<Self, StartError> {
        let hub = SimCluster::start_with("hub", config.clone());
        let spoke_futs = (0..spokes).map(|i| SimCluster::start_with_owned(spoke_name(i), config.clone()));
        let (hub, spokes) = tokio::join!(hub, futures::future::join_all(spoke_futs));
        Ok(SimEnvironment {
            hub: hub?,
            spokes: spokes.into_iter().collect::<Result<_, _>>()?,
        })
    }

    pub fn clusters(&self) -> impl Iterator<Item = &SimCluster> {
        std::iter::once(&self.hub).chain(self.spokes.iter())
    }

    /// Writes `<dir>/<cluster>.kubeconfig` for each cluster and `<dir>/kubeconfig` with all
    /// contexts (current: the hub), all 0600. Returns the per-cluster paths.
    pub fn write_kubeconfigs(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut paths = Vec::new();
        let (mut clusters, mut users, mut contexts) = (Vec::new(), Vec::new(), Vec::new());
        for c in self.clusters() {
            let p = dir.join(format!("{}.kubeconfig", c.name()));
            c.write_kubeconfig(&p)?;
            paths.push(p);
            let k = c.kubeconfig();
            clusters.extend(k["clusters"].as_array().cloned().unwrap_or_default());
            users.extend(k["users"].as_array().cloned().unwrap_or_default());
            contexts.extend(k["contexts"].as_array().cloned().unwrap_or_default());
        }
        let merged = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": clusters,
            "users": users,
            "contexts": contexts,
            "current-context": self.hub.context_name(),
            "preferences": {},
        });
        write_private(
            &dir.join("kubeconfig"),
            serde_saphyr::to_string(&merged).unwrap_or_default().as_bytes(),
        )?;
        Ok(paths)
    }
}

impl SimCluster {
    async fn start_with_owned(name: String, config: ServerConfig) -> Result<SimCluster, StartError> {
        SimCluster::start_with(&name, config).await
    }

    /// [`SimCluster::start`] with an owned name (handy for starting many concurrently).
    pub async fn start_owned(name: String) -> Result<SimCluster, StartError> {
        SimCluster::start(&name).await
    }
}

#[cfg(test)]
mod tests {
    use super::spoke_name;

    #[test]
    fn spoke_names() {
        assert_eq!(spoke_name(0), "spoke-a");
        assert_eq!(spoke_name(1), "spoke-b");
        assert_eq!(spoke_name(25), "spoke-z");
        assert_eq!(spoke_name(26), "spoke-aa");
        assert_eq!(spoke_name(51), "spoke-az");
    }
}

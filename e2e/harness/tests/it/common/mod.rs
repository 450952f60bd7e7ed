//! Emulated clusters standing behind fake kind/docker/helm executables (tests/fakes/).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use hubspoke_sim::SimCluster;
use hubspoke_sim::standins::argocd::{ArgoCdOptions, ArgoCdStandIn, Repositories};
use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn fakes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes")
}

/// Emulated clusters standing behind the fake kind, and the files the fakes use.
pub struct World {
    dir: tempfile::TempDir,
    pub clusters: Vec<SimCluster>,
    _standins: (Vec<WorkloadStandIn>, Option<ArgoCdStandIn>),
}

impl World {
    pub async fn new(names: &[&str]) -> World {
        World::with_unready(names, &[]).await
    }

    /// A world whose clusters in `unready` never get a Ready node (no kubelet stand-in).
    pub async fn with_unready(names: &[&str], unready: &[&str]) -> World {
        World::build(names, unready, &[]).await
    }

    /// A world whose hub's Argo CD also serves the checkout under each of `urls`.
    pub async fn serving(names: &[&str], urls: &[&str]) -> World {
        World::build(names, &[], urls).await
    }

    async fn build(names: &[&str], unready: &[&str], urls: &[&str]) -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let kubeconfigs = dir.path().join("kind-state/kubeconfigs");
        std::fs::create_dir_all(&kubeconfigs).unwrap();
        std::fs::create_dir_all(dir.path().join("kind-configs")).unwrap();
        let mut clusters = Vec::new();
        let mut workloads = Vec::new();
        let mut argocd = None;
        for n in names {
            let c = SimCluster::start(n).await.unwrap();
            // kind names its contexts kind-<name>
            let yaml = c
                .kubeconfig_yaml()
                .replace(&format!("sim-{n}"), &format!("kind-{n}"));
            std::fs::write(kubeconfigs.join(format!("{n}.yaml")), yaml).unwrap();
            std::fs::write(
                dir.path().join(format!("kind-configs/{n}.yaml")),
                "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n",
            )
            .unwrap();
            let client = c.client().await.unwrap();
            let opts = WorkloadOptions {
                node_prefix: n.to_string(),
                ..Default::default()
            };
            if !unready.contains(n) {
                workloads.push(WorkloadStandIn::run(client.clone(), opts).await.unwrap());
            }
            if *n == "hub" {
                let mut repos = Repositories::new();
                repos.add_checkout(&repo_root()).unwrap();
                repos.add("https://github.com/hubspoke/hubspoke.git", repo_root());
                for url in urls {
                    repos.add(url, repo_root());
                }
                let opts = ArgoCdOptions {
                    repositories: repos,
                    ..Default::default()
                };
                argocd = Some(ArgoCdStandIn::install(client, opts).await.unwrap());
            }
            clusters.push(c);
        }
        World {
            dir,
            clusters,
            _standins: (workloads, argocd),
        }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("fake.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The HOME hubspoke and the fakes run with: nothing may appear in it (kind would
    /// edit `$HOME/.kube/config` when not given `--kubeconfig`).
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Runs hubspoke with the fakes first on PATH (off the async runtime serving the
    /// emulated clusters), HOME a directory of the test's own and no KUBECONFIG.
    pub async fn hubspoke(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"));
        let path = format!("{}:{}", fakes().display(), std::env::var("PATH").unwrap());
        cmd.args(args)
            .current_dir(repo_root())
            .env("PATH", path)
            .env("FAKE_LOG", self.path("fake.log"))
            .env("FAKE_KIND_STATE", self.path("kind-state"))
            .env("HOME", self.home())
            .env_remove("KUBECONFIG")
            .env("HUBSPOKE_PROGRESS", "plain");
        for (k, v) in env {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    pub fn up_args(&self) -> Vec<String> {
        vec![
            "up".into(),
            "--env".into(),
            "kind".into(),
            "--state-dir".into(),
            self.path("state").display().to_string(),
            "--kind-configs".into(),
            self.path("kind-configs").display().to_string(),
            "--timeout".into(),
            "30".into(),
            // a repository that answers `git ls-remote` offline: this checkout
            "--repository".into(),
            format!("file://{}", repo_root().display()),
        ]
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

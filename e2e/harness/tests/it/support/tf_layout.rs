//! A copy of the repository's EKS layout (release/hub-aws definitions, terraform/ var files)
//! whose terraform/ is the built-in-only fixture module (fixtures/terraform/cluster), for
//! the tests that drive terraform for real.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hubspoke::terraform::{self, Module, Plan, Workspace};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A copy of the repository's EKS layout whose terraform/ is the fixture module; `extra`
/// goes into a cluster's tfvars.
pub struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    pub fn new(hub_extra: &str, spoke_extra: &str) -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let root = repo_root();
        let d = dir.path();
        std::fs::create_dir_all(d.join("terraform/variables")).unwrap();
        std::fs::create_dir_all(d.join("release/hub-aws/clusters")).unwrap();
        std::fs::copy(
            root.join("fixtures/terraform/cluster/main.tf"),
            d.join("terraform/main.tf"),
        )
        .unwrap();
        for (c, extra) in [("hub", hub_extra), ("spoke", spoke_extra)] {
            std::fs::copy(
                root.join(format!("release/hub-aws/clusters/{c}.yaml")),
                d.join(format!("release/hub-aws/clusters/{c}.yaml")),
            )
            .unwrap();
            std::fs::write(
                d.join(format!("terraform/variables/{c}.tfvars")),
                format!("cluster_path = \"../release/hub-aws/clusters/{c}.yaml\"\n{extra}\n"),
            )
            .unwrap();
        }
        Layout { dir }
    }

    pub fn module_dir(&self) -> PathBuf {
        self.dir.path().join("terraform")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state/eks")
    }

    pub fn workspace(&self, name: &str) -> Workspace {
        Workspace {
            name: name.into(),
            var_file: self.module_dir().join(format!("variables/{name}.tfvars")),
            data_dir: self.state_dir().join(format!("terraform/{name}")),
        }
    }

    pub fn plan(&self, keep: bool) -> Plan {
        Plan {
            module: Module {
                bin: terraform::binary(),
                dir: self.module_dir(),
                backend_config: None,
                run_id: "nightly-42".into(),
                run_expires_at: "2026-11-24T18:00:00Z".into(),
                vars: Default::default(),
                stale_lock_after: None,
                lock_timeout: None,
            },
            hub: self.workspace("hub"),
            spokes: vec![self.workspace("spoke")],
            keep,
        }
    }

    /// The resources in a workspace's state (empty when destroyed or never applied).
    pub fn resources(&self, workspace: &str) -> Vec<String> {
        let path = self
            .module_dir()
            .join(format!("terraform.tfstate.d/{workspace}/terraform.tfstate"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Vec::new();
        };
        let state: serde_json::Value = serde_json::from_str(&text).unwrap();
        state["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{}.{}", r["type"].as_str().unwrap(), r["name"].as_str().unwrap()))
            .collect()
    }

    pub fn recorded(&self) -> bool {
        self.state_dir().join(terraform::STATE_FILE).exists()
    }
}

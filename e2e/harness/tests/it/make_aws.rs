//! The Makefile's EKS targets (hub-aws, spoke-aws, destroy-hub-aws, destroy-spoke-aws) run by
//! real make and real terraform, on a copy of the repository whose terraform/ is the
//! built-in-only fixture module (the EKS modules need the registry): one workspace, so one
//! state, per cluster; the run id reaches the resources; destroy empties only its own state.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
}

fn make(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("make")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make {args:?} failed:\n{text}");
    text
}

fn state(dir: &Path, workspace: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!(
        "terraform/terraform.tfstate.d/{workspace}/terraform.tfstate"
    )))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_eks_make_targets_keep_hub_and_spoke_apart() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    let d = dir.path();
    copy(&root.join("Makefile"), &d.join("Makefile"));
    copy(
        &root.join("fixtures/terraform/cluster/main.tf"),
        &d.join("terraform/main.tf"),
    );
    for f in ["hub", "spoke"] {
        copy(
            &root.join(format!("terraform/variables/{f}.tfvars")),
            &d.join(format!("terraform/variables/{f}.tfvars")),
        );
        copy(
            &root.join(format!("release/hub-aws/clusters/{f}.yaml")),
            &d.join(format!("release/hub-aws/clusters/{f}.yaml")),
        );
    }

    make(d, &["hub-aws", "AUTO_APPROVE=1", "RUN_ID=nightly-42"]);
    make(d, &["spoke-aws", "AUTO_APPROVE=1", "RUN_ID=nightly-42"]);
    let (hub, spoke) = (state(d, "hub"), state(d, "spoke"));
    assert_eq!(hub["outputs"]["cluster_name"]["value"], "hub-nightly-42");
    assert_eq!(hub["outputs"]["run_id"]["value"], "nightly-42");
    assert_eq!(hub["outputs"]["spoke_role_arn"], serde_json::Value::Null);
    assert_eq!(spoke["outputs"]["cluster_name"]["value"], "spoke-nightly-42");
    assert_eq!(
        spoke["outputs"]["spoke_role_arn"]["value"],
        "arn:aws:iam::123456789012:role/hubspoke-argocd-spoke-nightly-42-spoke"
    );
    assert_eq!(spoke["resources"].as_array().unwrap().len(), 2);

    make(d, &["destroy-hub-aws", "AUTO_APPROVE=1", "RUN_ID=nightly-42"]);
    assert_eq!(state(d, "hub")["resources"].as_array().unwrap().len(), 0);
    assert_eq!(state(d, "spoke")["resources"].as_array().unwrap().len(), 2);
    make(d, &["destroy-spoke-aws", "AUTO_APPROVE=1", "RUN_ID=nightly-42"]);
    assert_eq!(state(d, "spoke")["resources"].as_array().unwrap().len(), 0);
    // no backend configured: no override left behind
    assert!(!d.join("terraform/backend_override.tf").exists());
}

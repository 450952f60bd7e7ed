//! The terraform driver against the real terraform binary, on the built-in-only fixture
//! module (fixtures/terraform/cluster: terraform_data resources, the same variables and
//! outputs as terraform/): one workspace and state per cluster, outputs parsed, a failed
//! apply destroys what was applied, SIGTERM during an apply interrupts terraform and
//! destroys, `hubspoke down --env eks` destroys from the state files alone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hubspoke::progress::Progress;
use hubspoke::terraform;

use crate::support::tf_layout;
use tf_layout::Layout;

fn never() -> terraform::Interrupt<'static> {
    Box::pin(std::future::pending())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_and_spoke_get_a_state_each_and_their_outputs_are_read() {
    let l = Layout::new("", "");
    let outputs = terraform::provision(&l.plan(false), &l.state_dir(), never(), &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outputs.keys().collect::<Vec<_>>(), ["hub", "spoke"]);
    let (hub, spoke) = (&outputs["hub"], &outputs["spoke"]);
    // the EKS names carry the run id (a leaked run never takes the next one's names)
    assert_eq!(hub.string("cluster_name").unwrap(), "hub-nightly-42");
    assert_eq!(hub.string("cluster_type").unwrap(), "hub");
    assert_eq!(spoke.string("cluster_name").unwrap(), "spoke-nightly-42");
    assert_eq!(spoke.string("run_id").unwrap(), "nightly-42");
    assert_eq!(
        spoke.string("spoke_role_arn").unwrap(),
        "arn:aws:iam::123456789012:role/hubspoke-argocd-spoke-nightly-42-spoke"
    );
    assert_eq!(
        hub.string("hub_role_arn").unwrap(),
        "arn:aws:iam::123456789012:role/hubspoke-argocd-hub-nightly-42"
    );
    assert_eq!(hub.optional("spoke_role_arn"), None);
    assert_eq!(
        hub.string("spoke_role_arn").unwrap_err().to_string(),
        "terraform output spoke_role_arn is missing; the module must output it"
    );
    // a state per workspace, each with its own cluster
    let both = ["terraform_data.access", "terraform_data.cluster"];
    assert_eq!(l.resources("hub"), both);
    assert_eq!(l.resources("spoke"), both);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(l.module_dir().join("terraform.tfstate.d/spoke/terraform.tfstate")).unwrap(),
    )
    .unwrap();
    let cluster = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "cluster")
        .unwrap();
    assert_eq!(
        cluster["instances"][0]["attributes"]["input"]["value"],
        serde_json::json!({"name": "spoke-nightly-42", "run_id": "nightly-42"})
    );
    // the record names both; applying again changes nothing and keeps them apart
    let record = terraform::Record::load(&l.state_dir()).unwrap();
    assert_eq!(
        record
            .workspaces
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["hub", "spoke"]
    );
    terraform::provision(&l.plan(false), &l.state_dir(), never(), &Progress::plain())
        .await
        .unwrap();
    assert_eq!(l.resources("hub"), both);

    let said = terraform::down(&l.state_dir(), &Progress::plain()).await.unwrap();
    assert_eq!(said, "destroyed what was applied: spoke, hub");
    assert!(l.resources("hub").is_empty() && l.resources("spoke").is_empty());
    assert!(!l.recorded());
    // nothing left: down says so
    assert!(
        terraform::down(&l.state_dir(), &Progress::plain())
            .await
            .unwrap_err()
            .to_string()
            .contains("nothing was applied from this state directory (or it was destroyed already)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_failing_midway_still_destroys_everything() {
    let l = Layout::new("", "fail_after_create = true");
    let err = terraform::provision(&l.plan(false), &l.state_dir(), never(), &Progress::plain())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("terraform apply for spoke failed (exit status: 1):"),
        "{text}"
    );
    assert!(text.contains("creating the access entry failed"), "{text}");
    assert_eq!(err.teardown, "destroyed what was applied: spoke, hub");
    // the spoke's half-made cluster and the hub are gone
    assert!(l.resources("spoke").is_empty(), "{:?}", l.resources("spoke"));
    assert!(l.resources("hub").is_empty());
    assert!(!l.recorded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_leaves_a_failed_run_for_down() {
    let l = Layout::new("", "fail_after_create = true");
    let err = terraform::provision(&l.plan(true), &l.state_dir(), never(), &Progress::plain())
        .await
        .unwrap_err();
    assert!(
        err.teardown
            .starts_with("kept what was applied (--keep): destroy it with `hubspoke down --env eks`")
    );
    assert_eq!(l.resources("hub").len(), 2);
    // the spoke's cluster made, its access entry tainted (its creation failed)
    assert_eq!(
        l.resources("spoke"),
        ["terraform_data.access", "terraform_data.cluster"]
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(l.module_dir().join("terraform.tfstate.d/spoke/terraform.tfstate")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["resources"][0]["instances"][0]["status"], "tainted");
    assert!(l.recorded());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(l.state_dir().join(terraform::STATE_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // from the state files alone, in another process: the hubspoke binary
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["down", "--env", "eks", "--state-dir"])
        .arg(l.state_dir())
        .env("HUBSPOKE_PROGRESS", "plain")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("destroyed what was applied: spoke, hub"),
        "{stderr}"
    );
    assert!(l.resources("hub").is_empty() && l.resources("spoke").is_empty());
    assert!(!l.recorded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_apply_interrupts_terraform_and_destroys() {
    let l = Layout::new("apply_seconds = 120", "");
    let interrupt = terraform::stop_signal(None).unwrap();
    let marker = l.module_dir().join(".applying-hub");
    let sender = tokio::spawn(async move {
        // the hub's apply is in its slow part: a real SIGTERM to this process
        let deadline = Instant::now() + Duration::from_secs(60);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "the apply never started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM).unwrap();
    });
    let err = terraform::provision(&l.plan(false), &l.state_dir(), interrupt, &Progress::plain())
        .await
        .unwrap_err();
    sender.await.unwrap();
    assert_eq!(
        err.failure.to_string(),
        "terraform apply for hub was interrupted (SIGTERM received); it stopped after the operations under way"
    );
    assert_eq!(err.teardown, "destroyed what was applied: hub");
    assert!(l.resources("hub").is_empty(), "{:?}", l.resources("hub"));
    // the spoke was never started
    assert!(l.resources("spoke").is_empty());
    assert!(!l.recorded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_terraform_says_how_to_install_it() {
    let l = Layout::new("", "");
    let mut plan = l.plan(false);
    plan.module.bin = PathBuf::from("/nonexistent/terraform");
    let err = terraform::provision(&plan, &l.state_dir(), never(), &Progress::plain())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "terraform was not found (/nonexistent/terraform: No such file or directory (os error 2)); install terraform >= 1.6 (https://developer.hashicorp.com/terraform/install) or point HUBSPOKE_TERRAFORM at it\nnothing was applied, so nothing is left to destroy"
    );
    assert!(!l.recorded());
}

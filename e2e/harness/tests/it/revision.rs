//! The revision under test: chosen from the checkout (branch, commit, or given), and in sim
//! served from the local checkout, so a feature branch with unpushed commits is what the
//! hub deploys.

use std::path::{Path, PathBuf};
use std::process::Command;

use hubspoke::environment::ProviderKind;
use hubspoke::progress::Progress;
use hubspoke::revision::{Revision, RevisionChoice};
use hubspoke::up::{UpOptions, up};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.email=test@hubspoke.invalid",
            "-c",
            "user.name=hubspoke test",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git must be on PATH");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

const MARKER: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform-marker\n  namespace: argocd\ndata:\n  version: \"{v}\"\n";

/// A platform checkout: the release's cluster definitions, the probe, and a bootstrap
/// directory with one marker ConfigMap; main at v1, feature-x one unpushed commit ahead.
fn platform_repo(dir: &Path) -> PathBuf {
    let root = dir.join("platform");
    copy_dir(
        &repo_root().join("release/hub-kind/clusters"),
        &root.join("release/hub-kind/clusters"),
    );
    copy_dir(&repo_root().join("fixtures/probe"), &root.join("fixtures/probe"));
    std::fs::create_dir_all(root.join("release/bootstrap")).unwrap();
    let marker = root.join("release/bootstrap/marker.yaml");
    std::fs::write(&marker, MARKER.replace("{v}", "v1")).unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "."]);
    git(&root, &["commit", "-q", "-m", "platform v1"]);
    git(&root, &["checkout", "-q", "-b", "feature-x"]);
    std::fs::write(&marker, MARKER.replace("{v}", "v2")).unwrap();
    git(&root, &["commit", "-q", "-am", "platform v2"]);
    root
}

#[test]
fn the_revision_comes_from_the_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let root = platform_repo(dir.path());
    let url = "https://github.com/hubspoke/hubspoke.git";
    let head = git(&root, &["rev-parse", "HEAD"]);
    let r = Revision::choose(&root, url, &RevisionChoice::default()).unwrap();
    assert_eq!(r.revision, "feature-x");
    assert_eq!(r.sha.as_deref(), Some(head.as_str()));
    assert_eq!(r.repository, url);
    assert_eq!(
        r.unpushed().unwrap(),
        "feature-x has no upstream branch; push it (git push -u origin feature-x) so Argo CD can fetch it"
    );
    let choice = RevisionChoice {
        use_commit: true,
        ..Default::default()
    };
    assert_eq!(Revision::choose(&root, url, &choice).unwrap().revision, head);
    let choice = RevisionChoice {
        revision: Some("main".into()),
        repository: Some("https://git.example.com/platform.git".into()),
        ..Default::default()
    };
    let r = Revision::choose(&root.join("release"), url, &choice).unwrap();
    assert_eq!(
        (r.revision.as_str(), r.repository.as_str()),
        ("main", "https://git.example.com/platform.git")
    );
    assert_eq!(r.checkout.as_deref(), Some(root.as_path()));
    // a detached HEAD (as CI checks out pull requests) is its commit
    git(&root, &["checkout", "-q", "--detach"]);
    let r = Revision::choose(&root, url, &RevisionChoice::default()).unwrap();
    assert_eq!(r.revision, head);
    // a commit is no branch: nothing to `git push -u origin <sha>`; it is looked for on
    // the remote-tracking branches
    assert_eq!(
        r.unpushed().unwrap(),
        format!(
            "commit {} is on no remote-tracking branch of {}; if it was not pushed, push a branch that contains it (git push origin <branch>) so Argo CD can fetch it",
            &head[..12],
            root.display()
        )
    );
    // once a remote-tracking branch contains it, nothing to say (for the SHA, or a tag)
    let remote = dir.path().join("remote.git");
    git(dir.path(), &["init", "-q", "--bare", remote.to_str().unwrap()]);
    git(&root, &["remote", "add", "origin", remote.to_str().unwrap()]);
    git(&root, &["push", "-q", "origin", "feature-x"]);
    assert_eq!(r.unpushed(), None);
    git(&root, &["tag", "v2"]);
    let tagged = RevisionChoice {
        revision: Some("v2".into()),
        ..Default::default()
    };
    assert_eq!(Revision::choose(&root, url, &tagged).unwrap().unpushed(), None);
    // a tag on a commit no remote-tracking branch contains is named with its commit
    let main = git(&root, &["commit-tree", "HEAD^{tree}", "-m", "never pushed"]);
    git(&root, &["tag", "v1", &main]);
    let tagged = RevisionChoice {
        revision: Some("v1".into()),
        ..Default::default()
    };
    assert_eq!(
        Revision::choose(&root, url, &tagged).unwrap().unpushed().unwrap(),
        format!(
            "v1 (commit {}) is on no remote-tracking branch of {}; if it was not pushed, push a branch that contains it (git push origin <branch>) so Argo CD can fetch it",
            &main[..12],
            root.display()
        )
    );
    git(&root, &["checkout", "-q", "feature-x"]);
    git(&root, &["branch", "-q", "--set-upstream-to", "origin/feature-x"]);
    let r = Revision::choose(&root, url, &RevisionChoice::default()).unwrap();
    assert_eq!(r.unpushed(), None);
    // outside a checkout the revision must be given
    let elsewhere = dir.path().join("plain");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let err = Revision::choose(&elsewhere, url, &RevisionChoice::default()).unwrap_err();
    assert_eq!(
        err,
        format!(
            "{} is not inside a git checkout, so the revision under test cannot be taken from the current branch; run from the platform checkout or pass --revision <branch|tag|sha>",
            elsewhere.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_deploys_the_unpushed_feature_branch() {
    let dir = tempfile::tempdir().unwrap();
    let root = platform_repo(dir.path());
    let head = git(&root, &["rev-parse", "HEAD"]);
    let mut opts = UpOptions::new(ProviderKind::Sim, &root);
    opts.state_dir = dir.path().join("state");
    let env = up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(env.revision.as_ref().unwrap().revision, "feature-x");

    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    let synced = hubspoke::kube_util::wait_for(
        apps,
        "bootstrap",
        |a: Option<&kube::api::DynamicObject>| {
            a.is_some_and(|a| {
                a.data.pointer("/status/sync/status").and_then(|s| s.as_str()) == Some("Synced")
            })
        },
        std::time::Duration::from_secs(30),
        "the bootstrap Application",
        |a| {
            a.map(|a| hubspoke::bootstrap::describe_app(&a.data))
                .unwrap_or_default()
        },
    )
    .await
    .unwrap();
    assert_eq!(synced.data["status"]["sync"]["revision"], head.as_str());
    let cm: k8s_openapi::api::core::v1::ConfigMap = kube::Api::namespaced(env.hub.client.clone(), "argocd")
        .get("platform-marker")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["version"], "v2");
}

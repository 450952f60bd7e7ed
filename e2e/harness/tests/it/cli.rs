//! The `hubspoke` command: `up --env sim` serving in one process, `status` and `down` from
//! others; `validate`; exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn hubspoke(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(args)
        .current_dir(repo_root())
        .env("HUBSPOKE_STATE_DIR", state)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn up_in_one_process_status_and_down_from_others() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let log = dir.path().join("up.log");
    let mut up = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["up", "--env", "sim"])
        .current_dir(repo_root())
        .env("HUBSPOKE_STATE_DIR", state)
        // debug logs on, to show no token reaches them either
        .env("RUST_LOG", "hubspoke=debug,hubspoke_sim=debug,kube=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let state_file = state.join("sim/state.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state_file.exists() {
        if let Some(status) = up.try_wait().unwrap() {
            panic!(
                "hubspoke up exited with {status}:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "no state.json after 60s");
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = hubspoke(state, &["status", "--env", "sim"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        format!("environment sim ({})", state.join("sim").display())
    );
    assert!(
        lines[1].starts_with("revision    https://github.com/hubspoke/hubspoke.git at "),
        "{table}"
    );
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["CLUSTER", "ROLE", "STATUS", "VERSION", "SERVER", "(FROM", "HUB)"]
    );
    assert_eq!(
        lines[4].split_whitespace().collect::<Vec<_>>(),
        ["hub", "hub", "Ready", "v1.33.4", "https://kubernetes.default.svc"]
    );
    for (line, name) in lines[5..7].iter().zip(["spoke-a", "spoke-b"]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[..4], [name, "spoke", "Ready", "v1.33.4"], "{table}");
        assert!(cells[4].starts_with("https://127.0.0.1:"), "{table}");
    }
    assert_eq!(
        lines[8].split_whitespace().collect::<Vec<_>>(),
        ["APPLICATION", "SYNC", "HEALTH", "REVISION", "DESTINATION"]
    );
    assert!(lines[9].starts_with("bootstrap "), "{table}");

    let out = hubspoke(state, &["status", "--env", "sim", "--output", "json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["env"], "sim");
    assert_eq!(json["clusters"].as_array().unwrap().len(), 3);
    assert!(
        json["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["reachable"] == true)
    );
    assert_eq!(json["applications"][0]["name"], "bootstrap");

    // the spoke token, read the way a user would, must be nowhere in the logs
    let kubeconfig = state.join("sim/spoke-a.kubeconfig");
    let tok = Command::new("kubectl")
        .args([
            "get",
            "secret",
            "-n",
            "kube-system",
            "argocd-manager-long-lived-token",
            "-o",
            "jsonpath={.data.token}",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("KUBECACHEDIR", dir.path().join("kube-cache"))
        .output()
        .expect("kubectl must be on PATH");
    assert!(tok.status.success(), "{}", text(&tok.stderr));
    use base64::Engine;
    let token = text(
        &base64::engine::general_purpose::STANDARD
            .decode(tok.stdout)
            .unwrap(),
    );
    assert!(token.len() > 100);

    // a second up while one serves is refused
    let again = hubspoke(state, &["up", "--env", "sim"]);
    assert_eq!(again.status.code(), Some(4));
    assert_eq!(
        text(&again.stderr).lines().last().unwrap(),
        format!(
            "error: a sim environment is already up (process {}, {}); stop it with `hubspoke down --env sim`",
            up.id(),
            state.join("sim").display()
        )
    );

    let out = hubspoke(state, &["down", "--env", "sim"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "environment sim is down\n");
    let status = up.wait().unwrap();
    assert!(status.success(), "hubspoke up ended with {status}");
    assert!(!state_file.exists());
    assert!(!state.join("sim/hub.kubeconfig").exists());

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("DEBUG"), "debug logging was not on:\n{logs}");
    assert!(!logs.contains(&token), "the spoke token reached the logs");

    let out = hubspoke(state, &["status", "--env", "sim"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: no sim environment at {}: state.json is missing; bring one up with `hubspoke up --env sim`\n",
            state.join("sim").display()
        )
    );
}

#[test]
fn validate_passes_on_the_repository_and_names_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = hubspoke(dir.path(), &["validate"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok: 2 release(s), "),
        "{}",
        text(&out.stdout)
    );

    // a broken tree: a definition with a typo and a manifest that is not YAML
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("release/hub-kind/clusters")).unwrap();
    std::fs::create_dir_all(root.join("fixtures")).unwrap();
    std::fs::create_dir_all(root.join("release/bootstrap")).unwrap();
    for f in ["hub.yaml", "spoke-a.yaml"] {
        std::fs::copy(
            repo_root().join("release/hub-kind/clusters").join(f),
            root.join("release/hub-kind/clusters").join(f),
        )
        .unwrap();
    }
    let spoke = root.join("release/hub-kind/clusters/spoke-a.yaml");
    let t = std::fs::read_to_string(&spoke)
        .unwrap()
        .replace("cloud_vendor: kind", "cloud_vendr: kind");
    std::fs::write(&spoke, t).unwrap();
    std::fs::write(root.join("fixtures/bad.yaml"), "a: [1\n").unwrap();
    let out = hubspoke(dir.path(), &["validate", "--root", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr),
        "fixtures/bad.yaml:1:4: invalid YAML: unclosed bracket '['\n\
         release/hub-kind/clusters/spoke-a.yaml:1:1: cloud_vendor: is required but missing; add `cloud_vendor: <value>`\n\
         release/hub-kind/clusters/spoke-a.yaml:6:1: cloud_vendr: unknown field; did you mean cloud_vendor?\n\
         error: 3 problem(s) in 3 YAML file(s)\n"
    );
}

#[test]
fn help_documents_the_exit_codes_and_bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = hubspoke(dir.path(), &["--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("Exit codes:\n  0  success\n  1  a check failed"),
        "{help}"
    );
    let out = hubspoke(dir.path(), &["up", "--env", "moon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid value 'moon' for '--env <ENV>'"),
        "{}",
        text(&out.stderr)
    );
    let out = hubspoke(dir.path(), &["up", "--env", "kind", "--spokes", "3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr).lines().last().unwrap(),
        "error: --spokes applies to sim only; the kind environment builds the spokes its definitions name"
    );
}

#[test]
fn test_runs_the_selected_checks_and_writes_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("reports/junit.xml");
    let summary = dir.path().join("summary.md");
    let out = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["test", "--env", "sim", "--check", "registration/*", "--junit"])
        .arg(&junit)
        .arg("--artifacts")
        .arg(dir.path().join("art"))
        .current_dir(repo_root())
        .env("HUBSPOKE_STATE_DIR", dir.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "\n2 check(s): 2 passed, 0 failed\n");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testsuite name="registration" tests="2" disabled="0" errors="0" failures="0""#),
        "{xml}"
    );
    assert!(xml.contains(r#"<property name="environment" value="sim"/>"#));
    assert!(
        xml.contains(r#"<property name="repository" value="https://github.com/hubspoke/hubspoke.git"/>"#)
    );
    assert!(xml.contains(r#"<testcase name="spokes-reachable" classname="hubspoke.registration""#));
    assert!(!xml.contains("convergence"));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("### hubspoke on sim\n"), "{md}");
    assert!(md.contains("2 check(s), 2 passed, 0 failed"));
    assert!(md.contains("| registration/cluster-secrets | passed |"));
    // the convergence timeline: every Application of the hub, in the summary too
    let timeline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("art/timeline.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = timeline["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"bootstrap"), "{names:?}");
    assert!(
        md.contains(
            "#### Convergence timeline\n\n| Application | Synced and Healthy after | flips | last seen |"
        ),
        "{md}"
    );
    assert!(md.contains("| bootstrap | "), "{md}");
    // nothing failed: no bundle
    assert!(!dir.path().join("art/registration").exists());
    // the in-process environment left no state behind
    assert!(!dir.path().join("sim/state.json").exists());

    let out = hubspoke(dir.path(), &["test", "--suite", "nope"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr).lines().last().unwrap(),
        "error: --suite nope: no such suite; the suites are registration, deployment, kyverno, convergence"
    );
}

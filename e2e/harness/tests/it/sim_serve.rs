//! `hubspoke sim serve`: the foreground environment other processes test against.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", kubeconfig.with_extension("cache"))
        .output()
        .expect("kubectl must be on PATH to run this test")
}

#[test]
fn serve_writes_kubeconfigs_and_ready_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["sim", "serve", "--kubeconfig-dir"])
        .arg(&out)
        .args(["--spokes", "2", "--api-only"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = out.join("ready");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "ready file never appeared");
        assert!(child.try_wait().unwrap().is_none(), "hubspoke exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&ready).unwrap().trim(),
        child.id().to_string()
    );
    for name in ["hub", "spoke-a", "spoke-b"] {
        let kc = out.join(format!("{name}.kubeconfig"));
        assert_eq!(
            std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let o = kubectl(&kc, &["get", "ns", "default", "-o", "name"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "namespace/default\n");
    }
    // the merged kubeconfig reaches every cluster by context
    let merged = out.join("kubeconfig");
    let o = kubectl(&merged, &["config", "get-contexts", "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "sim-hub\nsim-spoke-a\nsim-spoke-b\n"
    );
    let o = kubectl(
        &merged,
        &["--context", "sim-spoke-b", "create", "configmap", "here"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kubectl(&merged, &["--context", "sim-hub", "get", "configmap", "here"]);
    assert!(!o.status.success(), "spokes and hub are separate clusters");

    // faults are driven through the admin endpoint, e.g. with kubectl create --raw
    let fault = dir.path().join("fault.json");
    std::fs::write(
        &fault,
        r#"{"action":"fail","code":503,"count":1,"scope":{"verb":"get","resource":"namespaces"}}"#,
    )
    .unwrap();
    let o = kubectl(
        &merged,
        &[
            "--context",
            "sim-hub",
            "create",
            "--raw",
            "/hubspoke/faults",
            "-f",
            fault.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kubectl(&merged, &["--context", "sim-hub", "get", "ns", "default"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "Error from server (ServiceUnavailable): the server is currently unable to handle the request"
    );
    let o = kubectl(
        &merged,
        &["--context", "sim-hub", "get", "ns", "default", "-o", "name"],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "namespace/default\n",
        "the fault was used up"
    );

    // SIGTERM: clean exit, ready file removed
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "hubspoke did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(!ready.exists());
}

#[test]
fn serve_reports_an_unwritable_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["sim", "serve", "--kubeconfig-dir"])
        .arg(file.join("sub"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: cannot create the kubeconfig directory {}",
            file.join("sub").display()
        )),
        "{err}"
    );
    assert!(err.contains("(is the path writable?)"), "{err}");
}

#[test]
fn serve_runs_workloads_everywhere_and_kyverno_on_the_spokes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["sim", "serve", "--kubeconfig-dir"])
        .arg(&out)
        .args(["--spokes", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = out.join("ready");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "ready file never appeared");
        assert!(child.try_wait().unwrap().is_none(), "hubspoke exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let merged = out.join("kubeconfig");
    // every cluster has simulated nodes
    for ctx in ["sim-hub", "sim-spoke-a"] {
        let o = kubectl(&merged, &["--context", ctx, "get", "nodes", "-o", "name"]);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("-worker-1"),
            "{ctx}: {o:?}"
        );
    }
    // Kyverno's Deployments become Available on the spoke, and only there
    let o = kubectl(
        &merged,
        &[
            "--context",
            "sim-spoke-a",
            "wait",
            "--for=condition=Available",
            "deployment",
            "--all",
            "-n",
            "kyverno",
            "--timeout=20s",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 4);
    let o = kubectl(&merged, &["--context", "sim-hub", "get", "cpol"]);
    assert!(!o.status.success(), "the hub has no Kyverno");
    // the hub runs Argo CD: its workloads become available and its CRDs answer
    let o = kubectl(
        &merged,
        &[
            "--context",
            "sim-hub",
            "rollout",
            "status",
            "statefulset/argocd-application-controller",
            "-n",
            "argocd",
            "--timeout=20s",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = kubectl(
        &merged,
        &[
            "--context",
            "sim-hub",
            "get",
            "appproj",
            "default",
            "-n",
            "argocd",
            "-o",
            "name",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "appproject.argoproj.io/default\n"
    );
    let o = kubectl(&merged, &["--context", "sim-hub", "get", "apps", "-n", "argocd"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "No resources found in argocd namespace.\n"
    );
    let o = kubectl(&merged, &["--context", "sim-spoke-a", "get", "cpol"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "No resources found\n");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "hubspoke did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

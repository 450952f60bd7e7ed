//! Background work ends: watches back off while the hub is unreachable or refuses the
//! token (CPU time stays bounded, nothing spins), the timeline recorder stops when told,
//! and `hubspoke test` exits within seconds of SIGTERM even while its hub is gone.
//!
//! The clusters run in a `hubspoke` child process, so the CPU time measured here is the
//! watches' own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hubspoke::expect::{self, Verdict};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // the fields after the command name, which is in parentheses and may hold spaces
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// Kills the child when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_file(path: &Path, child: &mut Child, within: Duration) {
    let deadline = Instant::now() + within;
    while !path.exists() {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("hubspoke exited with {s} before writing {}", path.display());
        }
        assert!(
            Instant::now() < deadline,
            "no {} after {within:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `hubspoke sim serve`: a hub with Argo CD and no spokes, in a child process.
fn serve(dir: &Path) -> Reaped {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["sim", "serve", "--spokes", "0", "--kubeconfig-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&dir.join("ready"), &mut child, Duration::from_secs(60));
    Reaped(child)
}

/// Sends a command to the cluster's fault endpoint.
async fn fault(admin: &kube::Client, command: serde_json::Value) {
    let req = http::Request::post("/hubspoke/faults")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&command).unwrap())
        .unwrap();
    admin.request_text(req).await.unwrap();
}

/// A cluster-admin ServiceAccount's token, and a client that uses it.
async fn watcher_identity(admin: &kube::Client, kubeconfig: &Path) -> (String, kube::Client) {
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "watcher"}})).unwrap(),
    )
    .await
    .unwrap();
    let crbs: Api<ClusterRoleBinding> = Api::all(admin.clone());
    crbs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "watcher"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "watcher", "namespace": "default"}]
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let tr = sas
        .create_token_request(
            "watcher",
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec![],
                    expiration_seconds: Some(3600),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let token = tr.status.unwrap().token;
    // the same kubeconfig with the ServiceAccount's token instead of the admin's
    let mut kc: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    kc["users"][0]["user"]["token"] = json!(token);
    let client = hubspoke::kube_util::client_from_yaml(&kc.to_string(), None)
        .await
        .unwrap();
    (token, client)
}

fn never_there() -> Box<dyn expect::Expectation<[ConfigMap]>> {
    expect::expect("ConfigMap default/late exists", |cms: &[ConfigMap]| {
        if cms.iter().any(|c| c.metadata.name.as_deref() == Some("late")) {
            Verdict::Pass
        } else {
            Verdict::Pending("no ConfigMap late".into())
        }
    })
}

/// While the hub is unreachable, and then while it refuses the token, a timeline recorder
/// and a wait keep retrying with backoff: the CPU they burn stays small, the wait survives
/// the outage and passes afterwards, a wait started with the refused token fails at once,
/// and the recorder stops within seconds, its timeline naming the errors it met.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_back_off_while_the_hub_is_unreachable_or_refuses_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let _hub = serve(dir.path());
    let kubeconfig = dir.path().join("hub.kubeconfig");
    let admin = hubspoke::kube_util::client_from_kubeconfig(&kubeconfig, None)
        .await
        .unwrap();
    let (token, client) = watcher_identity(&admin, &kubeconfig).await;

    let recorder = hubspoke::timeline::Recorder::start(&client);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let waiting = tokio::spawn({
        let cms = cms.clone();
        async move { expect::eventually(cms, Duration::from_secs(60), never_there().as_ref()).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;

    // the hub goes away for 6 s: every watch fails and retries
    let me = std::process::id();
    fault(&admin, json!({"action": "unreachable", "seconds": 6.0})).await;
    let before = cpu_time(me);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let burnt = cpu_time(me) - before;
    assert!(
        burnt < Duration::from_millis(1500),
        "watching an unreachable hub for 5 s took {burnt:?} of CPU: something retries without backing off"
    );
    assert!(
        !waiting.is_finished(),
        "the wait gave up during a transient outage"
    );

    // the hub is back: the wait passes on the change, seen by the re-established watch
    tokio::time::sleep(Duration::from_secs(2)).await;
    let admin_cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
    admin_cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
        )
        .await
        .unwrap();
    let passed = tokio::time::timeout(Duration::from_secs(45), waiting)
        .await
        .expect("the wait did not pass after the outage")
        .unwrap();
    assert!(passed.is_ok(), "{:?}", passed.err());

    // the token is revoked and the open watches closed: they come back with 401 and retry
    fault(&admin, json!({"action": "revokeToken", "token": token})).await;
    fault(&admin, json!({"action": "closeWatches"})).await;
    let before = cpu_time(me);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let burnt = cpu_time(me) - before;
    assert!(
        burnt < Duration::from_millis(1500),
        "watching with a revoked token for 4 s took {burnt:?} of CPU"
    );
    // a refused token is definite: a wait fails at once and says why
    let started = Instant::now();
    let failure = expect::eventually(cms, Duration::from_secs(30), never_there().as_ref())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{failure}");
    let text = failure.to_string();
    assert!(
        text.starts_with("expected ConfigMap default/late exists: watching failed: "),
        "{text}"
    );
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains(&token), "the token leaked into {text}");

    let started = Instant::now();
    let timeline = recorder.finish().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the recorder took {:?} to stop",
        started.elapsed()
    );
    assert!(
        !timeline.watch_errors.is_empty(),
        "the timeline does not say it has gaps"
    );
    assert!(timeline.markdown().contains("could not be watched"));
}

/// `hubspoke test` against a served environment whose hub then becomes unreachable: the
/// process stays nearly idle, and SIGTERM ends it within seconds.
#[test]
fn sigterm_ends_a_test_run_whose_hub_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let mut up = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["up", "--env", "sim"])
        .current_dir(repo_root())
        .env("HUBSPOKE_STATE_DIR", state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&state.join("sim/state.json"), &mut up, Duration::from_secs(120));
    let _up = Reaped(up);

    let log = state.join("test.log");
    let test = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["test", "--env", "sim", "--suite", "convergence", "--artifacts"])
        .arg(state.join("artifacts"))
        .current_dir(repo_root())
        .env("HUBSPOKE_STATE_DIR", state)
        .env("HUBSPOKE_PROGRESS", "plain")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = test.id();
    let mut test = Reaped(test);
    // the checks are under way: the timeline recorder and the waits watch the hub
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("testing the sim environment")
    {
        assert!(
            test.0.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(Instant::now() < deadline, "the run never started its checks");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let admin = hubspoke::kube_util::client_from_kubeconfig(&state.join("sim/hub.kubeconfig"), None)
            .await
            .unwrap();
        fault(&admin, json!({"action": "unreachable", "seconds": 60.0})).await;
    });
    let before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(4));
    let burnt = cpu_time(pid) - before;
    assert!(
        burnt < Duration::from_millis(1500),
        "`hubspoke test` used {burnt:?} of CPU in 4 s while its hub was unreachable"
    );

    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = test.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "`hubspoke test` did not exit within 10 s of SIGTERM:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("error: interrupted (SIGTERM received) while running the checks"),
        "{stderr}"
    );
}

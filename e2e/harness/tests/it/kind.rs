//! The kind provider through its real boundary: `hubspoke up --env kind` runs with fake
//! `kind`, `docker` and `helm` executables first on PATH (tests/fakes/) that record their
//! arguments and answer as the real tools do. Each fake kind cluster is backed by an
//! emulated API server this test runs (with the workload stand-in registering Ready nodes
//! and the Argo CD stand-in playing what the helm chart installs).

use crate::common;

use common::{World, fakes, repo_root, text};
use hubspoke_sim::SimCluster;

fn times(log: &[String], mark: &str) -> Vec<f64> {
    log.iter()
        .filter(|l| l.starts_with(mark))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_up_creates_the_clusters_concurrently_bootstraps_and_down_deletes_them() {
    let world = World::new(&["hub", "spoke-a", "spoke-b"]).await;
    let args = world.up_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = world.hubspoke(&args, &[("FAKE_CREATE_SECONDS", "2")]).await;
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let log = world.log();

    // preflight asked each tool its version
    assert!(log.contains(&"kind version".to_string()), "{log:#?}");
    assert!(log.contains(&"docker version --format {{.Server.Version}}".to_string()));
    assert!(log.contains(&"helm version --short".to_string()));
    // the three clusters were created concurrently: every creation started before the
    // first one finished (each fake creation takes 2s)
    let starts = times(&log, "create-start");
    let ends = times(&log, "create-end");
    assert_eq!((starts.len(), ends.len()), (3, 3), "{log:#?}");
    let first_end = ends.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        starts.iter().all(|s| *s < first_end),
        "creations overlapped not: {log:#?}"
    );
    let state = world.path("state");
    for n in ["hub", "spoke-a", "spoke-b"] {
        let cfg = world.path(&format!("kind-configs/{n}.yaml"));
        let kc = state.join(format!("{n}.kubeconfig"));
        assert!(
            log.contains(&format!(
                "kind create cluster --name {n} --config {} --kubeconfig {}",
                cfg.display(),
                kc.display()
            )),
            "{log:#?}"
        );
        assert!(log.contains(&format!("kind get kubeconfig --name {n} --internal")));
    }
    // Argo CD by the pinned chart, with an explicit context
    let helm: Vec<&String> = log.iter().filter(|l| l.starts_with("helm upgrade")).collect();
    assert_eq!(
        helm,
        [&format!(
            "helm upgrade --install argocd argo-cd --repo https://argoproj.github.io/argo-helm --version 9.1.4 --namespace argocd --create-namespace --kubeconfig {} --kube-context kind-hub",
            state.join("hub.kubeconfig").display()
        )]
    );
    // the hub reaches the spokes at their internal address
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
    let clusters = s["clusters"].as_array().unwrap();
    assert_eq!(clusters[0]["server_from_hub"], "https://kubernetes.default.svc");
    for c in &clusters[1..] {
        assert!(
            c["server_from_hub"]
                .as_str()
                .unwrap()
                .starts_with("https://localhost:"),
            "{c}"
        );
        assert_eq!(c["context"], format!("kind-{}", c["name"].as_str().unwrap()));
    }
    assert_eq!(s["provider"], "kind");

    // status from the state alone
    let out = world
        .hubspoke(
            &["status", "--env", "kind", "--state-dir", state.to_str().unwrap()],
            &[],
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("spoke-b   spoke   Ready"),
        "{}",
        text(&out.stdout)
    );

    let out = world
        .hubspoke(
            &["down", "--env", "kind", "--state-dir", state.to_str().unwrap()],
            &[],
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = world.log();
    for n in ["hub", "spoke-a", "spoke-b"] {
        // each delete edits the cluster's own kubeconfig: concurrent deletes without
        // --kubeconfig fail on kind's lock of ~/.kube/config (kind#3781)
        assert!(
            log.contains(&format!(
                "kind delete cluster --name {n} --kubeconfig {}",
                state.join(format!("{n}.kubeconfig")).display()
            )),
            "{log:#?}"
        );
        assert!(!world.path(&format!("kind-state/clusters/{n}")).exists());
    }
    assert!(!state.join("state.json").exists());
    // the user's kubeconfig was never touched: kind did not even create ~/.kube
    assert!(!world.home().join(".kube").exists());
}

/// The fake kind takes kind's lock, so the test above would catch a delete without
/// --kubeconfig: three at once on the same ~/.kube/config, as in kind#3781, delete every
/// node but two of them fail with kind's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_kind_deletes_without_kubeconfig_collide_on_the_lock_as_in_kind() {
    let world = World::new(&[]).await;
    std::fs::create_dir_all(world.path("kind-state/clusters")).unwrap();
    let names = ["hub", "spoke-a", "spoke-b"];
    for n in names {
        std::fs::write(world.path(&format!("kind-state/clusters/{n}")), "").unwrap();
    }
    let runs: Vec<_> = names
        .iter()
        .map(|n| {
            std::process::Command::new(fakes().join("kind"))
                .args(["delete", "cluster", "--name", n])
                .env("FAKE_LOG", world.path("fake.log"))
                .env("FAKE_KIND_STATE", world.path("kind-state"))
                .env("HOME", world.home())
                .env_remove("KUBECONFIG")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = runs.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let lock = world.home().join(".kube/config.lock");
    let failed: Vec<String> = outs
        .iter()
        .filter(|o| !o.status.success())
        .map(|o| text(&o.stderr).lines().last().unwrap().to_string())
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for line in &failed {
        assert!(
            line.starts_with("ERROR: failed to delete cluster \"")
                && line.ends_with(&format!(
                    "\": failed to lock config file: open {}: file exists",
                    lock.display()
                )),
            "{line}"
        );
    }
    // kind deletes the nodes before it reports the kubeconfig error
    for n in names {
        assert!(!world.path(&format!("kind-state/clusters/{n}")).exists());
    }
    assert!(!lock.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_kind_clusters_are_refused_without_reuse_and_reused_with_it() {
    let world = World::new(&["hub", "spoke-a", "spoke-b"]).await;
    std::fs::create_dir_all(world.path("kind-state/clusters")).unwrap();
    std::fs::write(world.path("kind-state/clusters/hub"), "").unwrap();
    let args = world.up_args();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = world.hubspoke(&args, &[]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).lines().last().unwrap(),
        "error: kind cluster(s) hub already exist; pass --reuse to use them, or delete them first with `hubspoke down --env kind`"
    );
    assert!(!world.log().iter().any(|l| l.starts_with("kind create")));

    args.push("--reuse");
    let out = world.hubspoke(&args, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let creates: Vec<String> = world
        .log()
        .into_iter()
        .filter(|l| l.starts_with("create-start"))
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect();
    let mut creates = creates;
    creates.sort();
    assert_eq!(creates, ["spoke-a", "spoke-b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_helm_install_tears_the_clusters_down_unless_kept() {
    let world = World::new(&["hub", "spoke-a", "spoke-b"]).await;
    let args = world.up_args();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    let fail = [(
        "FAKE_HELM_FAIL",
        "chart \"argo-cd\" version \"9.1.4\" not found in https://argoproj.github.io/argo-helm repository",
    )];
    let out = world.hubspoke(&args, &fail).await;
    assert_eq!(out.status.code(), Some(4));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("tearing down what was built (pass --keep to keep it for debugging)"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last().unwrap(),
        "error: helm could not install Argo CD on hub (context kind-hub): Error: INSTALLATION FAILED: chart \"argo-cd\" version \"9.1.4\" not found in https://argoproj.github.io/argo-helm repository"
    );
    assert!(
        world.log().contains(&format!(
            "kind delete cluster --name spoke-b --kubeconfig {}",
            world.path("state/spoke-b.kubeconfig").display()
        )),
        "{:#?}",
        world.log()
    );
    assert!(!world.path("state/state.json").exists());
    assert!(!world.home().join(".kube").exists());

    args.push("--keep");
    let out = world.hubspoke(&args, &fail).await;
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("keeping the environment (--keep)"));
    assert!(world.path("state/state.json").exists());
    assert!(world.path("kind-state/clusters/hub").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_names_every_missing_or_old_tool_with_the_fix() {
    let world = World::new(&[]).await;
    // a PATH with docker and helm fakes but no kind
    let only = world.path("bin");
    std::fs::create_dir_all(&only).unwrap();
    for t in ["docker", "helm"] {
        std::os::unix::fs::symlink(fakes().join(t), only.join(t)).unwrap();
    }
    let args = world.up_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"));
    cmd.args(&args)
        .current_dir(repo_root())
        .env("PATH", format!("{}:/usr/bin:/bin", only.display()))
        .env("FAKE_LOG", world.path("fake.log"))
        .env("FAKE_DOCKER_DOWN", "1")
        .env("FAKE_HELM_VERSION", "v3.5.4+g1b5edb6");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = text(&out.stderr);
    let tail: Vec<&str> = stderr
        .lines()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(
        tail,
        [
            "error: preflight failed:",
            "  kind is not installed (not found on PATH); install kind v0.29.0: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (or: go install sigs.k8s.io/kind@v0.29.0)",
            "  docker is installed but its daemon does not answer (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?); start Docker",
            "  helm 3.5.4 is too old (at least 3.8.0 is needed); install helm v3.8.0 or newer: https://helm.sh/docs/intro/install/",
        ]
    );

    // kind guarantees node images only for their own release: an older kind (0.24 was
    // accepted once) or a newer one is refused, naming the version found
    for found in ["v0.24.0", "v0.17.0", "v0.30.0"] {
        let out = world.hubspoke(&args, &[("FAKE_KIND_VERSION", found)]).await;
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(
            text(&out.stderr).lines().last().unwrap(),
            format!(
                "  kind {} does not match: the node image pinned in kind/*.yaml is built for kind v0.29.0, and kind guarantees a node image only with the release it was built for; install kind v0.29.0: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (or: go install sigs.k8s.io/kind@v0.29.0)",
                &found[1..]
            ),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(!world.log().iter().any(|l| l.starts_with("kind create")));
}

/// One kind release everywhere: the preflight's, the workflow's and the node image's.
#[test]
fn the_workflow_installs_the_kind_release_the_node_image_is_built_for() {
    let workflow = std::fs::read_to_string(repo_root().join(".github/workflows/e2e-kind.yml")).unwrap();
    let pinned: Vec<&str> = workflow
        .lines()
        .filter_map(|l| l.trim().strip_prefix("KIND_VERSION: "))
        .collect();
    assert_eq!(pinned, [hubspoke::tools::KIND_VERSION]);
    for n in ["hub", "spoke-a", "spoke-b"] {
        let config = std::fs::read_to_string(repo_root().join(format!("kind/{n}.yaml"))).unwrap();
        assert!(
            config.contains(&format!(
                "## the node image pin (kind {}'s image for Kubernetes",
                hubspoke::tools::KIND_VERSION
            )),
            "kind/{n}.yaml does not say which kind release its node image is for"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_nodes_says_which_are_not_ready() {
    use k8s_openapi::api::core::v1::Node;
    let c = SimCluster::start("lonely").await.unwrap();
    let client = c.client().await.unwrap();
    let err = hubspoke::providers::kind::wait_nodes_ready(
        client.clone(),
        "lonely",
        std::time::Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        "cluster lonely: nodes not Ready after 500ms: no node has registered"
    );
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    let node: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "lonely-control-plane"}}))
    .unwrap();
    nodes.create(&Default::default(), &node).await.unwrap();
    let err = hubspoke::providers::kind::wait_nodes_ready(
        client.clone(),
        "lonely",
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        "cluster lonely: nodes not Ready after 1s: 1 of 1 not Ready (lonely-control-plane)"
    );
    // the kubelet reports Ready: the wait ends
    let wait = tokio::spawn(hubspoke::providers::kind::wait_nodes_ready(
        client.clone(),
        "lonely",
        std::time::Duration::from_secs(30),
    ));
    let status = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": "True",
        "reason": "KubeletReady", "message": "kubelet is posting ready status"}]}});
    nodes
        .patch_status(
            "lonely-control-plane",
            &Default::default(),
            &kube::api::Patch::Merge(status),
        )
        .await
        .unwrap();
    assert_eq!(wait.await.unwrap().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_nodes_rides_out_failing_watches_with_backoff() {
    use hubspoke_sim::faults::{Effect, RequestFault, Scope};
    use k8s_openapi::api::core::v1::Node;
    let c = SimCluster::start("shaky").await.unwrap();
    let client = c.client().await.unwrap();
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    let node: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "shaky-control-plane"}}))
    .unwrap();
    nodes.create(&Default::default(), &node).await.unwrap();
    let status = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": "True",
        "reason": "KubeletReady", "message": "kubelet is posting ready status"}]}});
    nodes
        .patch_status(
            "shaky-control-plane",
            &Default::default(),
            &kube::api::Patch::Merge(status),
        )
        .await
        .unwrap();
    let fail_lists = |count| RequestFault {
        // 500: kube's client does not retry it itself
        effect: Effect::Fail { code: 500 },
        scope: Scope::all().verb("list").resource("nodes"),
        count,
        fraction: None,
    };
    // the first two lists fail: the watch retries (backing off) instead of ending the wait
    c.faults().inject(fail_lists(Some(2)));
    let n = hubspoke::providers::kind::wait_nodes_ready(
        client.clone(),
        "shaky",
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert!(c.faults().active().is_empty(), "both failures were answered");
    // lists failing for good: the deadline ends the wait and names the last error
    c.faults().inject(fail_lists(None));
    let err = hubspoke::providers::kind::wait_nodes_ready(
        client.clone(),
        "shaky",
        std::time::Duration::from_secs(2),
    )
    .await
    .unwrap_err();
    assert!(
        err.message.starts_with(
            "cluster shaky: nodes not Ready after 2s: no node has registered (the last watch error: "
        ),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_up_deletes_the_clusters_it_was_creating_but_not_reused_ones() {
    let world = World::new(&["hub", "spoke-a", "spoke-b"]).await;
    std::fs::create_dir_all(world.path("kind-state/clusters")).unwrap();
    std::fs::write(world.path("kind-state/clusters/hub"), "").unwrap();
    let mut args = world.up_args();
    args.push("--reuse".into());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(&args)
        .current_dir(repo_root())
        .env(
            "PATH",
            format!("{}:{}", fakes().display(), std::env::var("PATH").unwrap()),
        )
        .env("FAKE_LOG", world.path("fake.log"))
        .env("FAKE_KIND_STATE", world.path("kind-state"))
        .env("HOME", world.home())
        .env_remove("KUBECONFIG")
        .env("FAKE_CREATE_SECONDS", "30")
        .env("HUBSPOKE_PROGRESS", "plain")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // interrupt once both spokes are being created
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while times(&world.log(), "create-start").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "{:#?}", world.log());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "deleting the kind clusters this run created (spoke-a, spoke-b; pass --keep to keep them)"
        ),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last().unwrap(),
        "error: interrupted (SIGINT received) before the environment was up"
    );
    let log = world.log();
    for n in ["spoke-a", "spoke-b"] {
        assert!(
            log.contains(&format!(
                "kind delete cluster --name {n} --kubeconfig {}",
                world.path(&format!("state/{n}.kubeconfig")).display()
            )),
            "{log:#?}"
        );
    }
    assert!(
        !log.iter()
            .any(|l| l.starts_with("kind delete cluster --name hub")),
        "the reused hub was deleted"
    );
    assert!(world.path("kind-state/clusters/hub").exists());
    assert!(!world.home().join(".kube").exists());
}

fn deletes(log: &[String]) -> Vec<String> {
    let mut names: Vec<String> = log
        .iter()
        .filter(|l| l.starts_with("kind delete cluster --name "))
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_creation_deletes_the_clusters_this_run_created_but_not_reused_ones() {
    let world = World::new(&["hub", "spoke-a", "spoke-b"]).await;
    // spoke-a existed before: reused, so never deleted
    std::fs::create_dir_all(world.path("kind-state/clusters")).unwrap();
    std::fs::write(world.path("kind-state/clusters/spoke-a"), "").unwrap();
    let mut args = world.up_args();
    args.push("--reuse".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = world.hubspoke(&args, &[("FAKE_CREATE_FAIL", "spoke-b")]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("deleting the kind clusters this run created (hub; pass --keep to keep them)"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("error: `kind create cluster --name spoke-b` failed: Creating cluster \"spoke-b\" ..."),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last().unwrap(),
        "ERROR: failed to create cluster: failed to init node with kubeadm: command \"docker exec --privileged spoke-b-control-plane kubeadm init --config=/kind/kubeadm.conf --skip-token-print --v=6\" failed with error: exit status 1"
    );
    // kind removed the failed spoke-b itself; hubspoke deleted the hub it created
    assert_eq!(deletes(&world.log()), ["hub"], "{:#?}", world.log());
    assert!(!world.path("kind-state/clusters/hub").exists());
    assert!(!world.path("kind-state/clusters/spoke-b").exists());
    assert!(world.path("kind-state/clusters/spoke-a").exists());
    assert!(!world.path("state/hub.kubeconfig").exists());
    assert!(!world.home().join(".kube").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_never_ready_with_keep_leave_the_clusters_and_down_finds_them_without_state() {
    let world = World::with_unready(&["hub", "spoke-a", "spoke-b"], &["spoke-b"]).await;
    let mut args = world.up_args();
    // the node wait's deadline
    let t = args.iter().position(|a| a == "--timeout").unwrap();
    args[t + 1] = "2".into();
    args.push("--keep".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = world.hubspoke(&args, &[]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "keeping the kind clusters this run created (hub, spoke-a, spoke-b; --keep); delete them with `hubspoke down --env kind`"
        ),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last().unwrap(),
        "error: cluster spoke-b: nodes not Ready after 2s: no node has registered"
    );
    assert!(deletes(&world.log()).is_empty());
    let state = world.path("state");
    assert!(!state.join("state.json").exists());

    // what the message suggests works without state.json: the definitions name them
    let out = world
        .hubspoke(
            &["down", "--env", "kind", "--state-dir", state.to_str().unwrap()],
            &[],
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "no state.json in {}: deleting the kind clusters named by the definitions in release/hub-kind/clusters (hub, spoke-a, spoke-b)",
            state.display()
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(deletes(&world.log()), ["hub", "spoke-a", "spoke-b"]);
    for n in ["hub", "spoke-a", "spoke-b"] {
        assert!(!world.path(&format!("kind-state/clusters/{n}")).exists());
        assert!(!state.join(format!("{n}.kubeconfig")).exists());
    }
    assert!(!world.home().join(".kube").exists());

    // again: nothing left, nothing to do
    let out = world
        .hubspoke(
            &["down", "--env", "kind", "--state-dir", state.to_str().unwrap()],
            &[],
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("and kind lists none of the clusters named by the definitions in release/hub-kind/clusters (hub, spoke-a, spoke-b): nothing to delete"),
        "{}",
        text(&out.stderr)
    );
}

/// A private repository over git's dumb HTTP protocol on 127.0.0.1: `/<name>.git/info/refs`
/// and `/<name>.git/HEAD` answer only to `Authorization: Basic <user:token>`, anything else
/// gets 401 with a Basic challenge (as GitHub answers a private repository). Returns its URL
/// and the Authorization headers it saw.
fn private_repository(user: &str, token: &str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use base64::Engine;
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/platform.git", listener.local_addr().unwrap());
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    );
    let head = std::process::Command::new("git")
        .args(["-C", repo_root().to_str().unwrap(), "rev-parse", "HEAD"])
        .output()
        .unwrap();
    let sha = text(&head.stdout).trim().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut auth = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("authorization")
                {
                    auth = Some(v.trim().to_string());
                }
            }
            seen2.lock().unwrap().push(auth.clone().unwrap_or_default());
            let path = request.split(' ').nth(1).unwrap_or_default().to_string();
            let body = if path.starts_with("/platform.git/info/refs") {
                Some(format!("{sha}\trefs/heads/main\n"))
            } else if path == "/platform.git/HEAD" {
                Some("ref: refs/heads/main\n".to_string())
            } else {
                None
            };
            let response = match (auth.as_deref() == Some(want.as_str()), body) {
                (true, Some(body)) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                (true, None) => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                (false, _) => "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, seen)
}

fn with_repository<'a>(args: &'a [String], url: &'a str) -> Vec<&'a str> {
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = a.iter().position(|x| *x == "--repository").unwrap();
    a[r + 1] = url;
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_repository_fails_before_any_cluster_naming_the_url_and_the_fix() {
    let world = World::new(&["hub", "spoke-a", "spoke-b"]).await;
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/x.git");
    let args = world.up_args();
    let out = world.hubspoke(&with_repository(&args, &url), &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let last = text(&out.stderr).lines().last().unwrap().to_string();
    let prefix = format!(
        "error: the platform repository {url} does not answer (`git ls-remote`: fatal: unable to access '{url}/': Failed to connect to 127.0.0.1 port {port} after "
    );
    assert!(last.starts_with(&prefix), "{last}");
    assert!(
        last.ends_with(": Couldn't connect to server); the hub's Argo CD clones every Application from it: pass --repository with the URL of the repository under test (e.g. https://github.com/<owner>/<repo>.git); if it is private, set HUBSPOKE_REPOSITORY_TOKEN to a token that can read it"),
        "{last}"
    );
    assert!(!world.log().iter().any(|l| l.starts_with("kind create")));

    // a URL carrying a password is refused without showing it
    let out = world
        .hubspoke(
            &with_repository(&args, "https://me:ghp_leaked123@github.com/a/b.git"),
            &[],
        )
        .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(!text(&out.stderr).contains("ghp_leaked123"));
    assert_eq!(
        text(&out.stderr).lines().last().unwrap(),
        "error: --repository https://me:***@github.com/a/b.git: the URL carries a password, which would reach every Application and the logs; pass the URL without it and put the token in HUBSPOKE_REPOSITORY_TOKEN"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_is_read_with_the_token_which_argo_cd_gets_and_no_log_shows() {
    let token = "ghs_s3cr3tT0kenForTheRepo";
    let (url, seen) = private_repository("x-access-token", token);
    let world = World::serving(&["hub", "spoke-a", "spoke-b"], &[&url]).await;
    let args = world.up_args();
    let up = with_repository(&args, &url);

    // without the token: refused before anything is built, saying what to set
    let out = world.hubspoke(&up, &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let host = url.trim_end_matches("/platform.git");
    assert_eq!(
        text(&out.stderr).lines().last().unwrap(),
        format!(
            "error: the platform repository {url} does not answer (`git ls-remote`: fatal: could not read Username for '{host}': terminal prompts disabled); the hub's Argo CD clones every Application from it: pass --repository with the URL of the repository under test (e.g. https://github.com/<owner>/<repo>.git); if it is private, set HUBSPOKE_REPOSITORY_TOKEN to a token that can read it"
        )
    );
    assert!(!world.log().iter().any(|l| l.starts_with("kind create")));

    // with it: the check passes, the environment comes up, Argo CD has the credentials
    let out = world.hubspoke(&up, &[("HUBSPOKE_REPOSITORY_TOKEN", token)]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!(
        "ok checking that {url} answers (git ls-remote): it answers (with the token)"
    )));
    assert!(seen.lock().unwrap().iter().any(|a| a.starts_with("Basic ")));
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(world.clusters[0].client().await.unwrap(), "argocd");
    let s = secrets.get("hubspoke-repository").await.unwrap();
    assert_eq!(
        s.metadata.labels.unwrap()["argocd.argoproj.io/secret-type"],
        "repository"
    );
    let data: std::collections::BTreeMap<String, String> = s
        .data
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect();
    assert_eq!(
        data,
        [
            ("password", token),
            ("type", "git"),
            ("url", url.as_str()),
            ("username", "x-access-token")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into()
    );
    // the bootstrap Application clones that URL
    let apps = hubspoke::bootstrap::applications(&world.clusters[0].client().await.unwrap());
    let boot = apps.get("bootstrap").await.unwrap();
    assert_eq!(boot.data["spec"]["source"]["repoURL"], url);

    // the token is in no output, no tool's arguments, no state file, no status
    let state = world.path("state");
    let status = world
        .hubspoke(
            &[
                "status",
                "--env",
                "kind",
                "--state-dir",
                state.to_str().unwrap(),
                "--output",
                "json",
            ],
            &[("HUBSPOKE_REPOSITORY_TOKEN", token)],
        )
        .await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    let mut places = vec![
        ("up's output", text(&out.stdout) + &text(&out.stderr)),
        ("status", text(&status.stdout) + &text(&status.stderr)),
        ("the tools' arguments", world.log().join("\n")),
    ];
    for f in std::fs::read_dir(&state).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            places.push(("a state file", std::fs::read_to_string(&p).unwrap_or_default()));
        }
    }
    for (what, said) in places {
        assert!(!said.contains(token), "the token reached {what}");
    }
}

/// The kind workflow's steps, by name, as parsed YAML.
fn kind_workflow() -> serde_json::Value {
    let text = std::fs::read_to_string(repo_root().join(".github/workflows/e2e-kind.yml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn the_kind_workflow_tests_its_own_repository_and_gathers_logs_before_teardown() {
    let w = kind_workflow();
    let job = &w["jobs"]["e2e"];
    assert!(
        job["env"]["HUBSPOKE_REPOSITORY"]
            .as_str()
            .unwrap()
            .contains("github.repository"),
        "{job}"
    );
    let steps = job["steps"].as_array().unwrap();
    let step = |name: &str| {
        steps
            .iter()
            .position(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name:?}"))
    };
    let run = |i: usize| steps[i]["run"].as_str().unwrap_or_default().to_string();
    // up: the repository it runs in, the token for a private one, --keep for the logs
    let up = step("bring up hub and spokes on kind");
    assert!(run(up).contains("up --env kind"));
    assert!(
        run(up).contains("--repository \"$HUBSPOKE_REPOSITORY\""),
        "{}",
        run(up)
    );
    assert!(run(up).contains("--keep"), "{}", run(up));
    let suites = step("suites");
    for i in [up, suites] {
        assert_eq!(
            steps[i]["env"]["HUBSPOKE_REPOSITORY_TOKEN"],
            "${{ secrets.GITHUB_TOKEN }}"
        );
    }
    // only the suites' binaries, every one of them but the broken-environment tests
    let mut built: Vec<String> = run(suites)
        .split("--test ")
        .skip(1)
        .map(|t| t.split_whitespace().next().unwrap().to_string())
        .collect();
    built.sort();
    let mut suites_dir: Vec<String> = std::fs::read_dir(repo_root().join("e2e/suites/tests"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "rs").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .filter(|n| n != "broken")
        .collect();
    suites_dir.sort();
    assert_eq!(built, suites_dir);
    assert!(run(suites).contains("-p hubspoke-suites"));
    // logs and status are gathered whatever happened, before the upload; teardown is last
    let gather = step("gather logs and status");
    assert_eq!(steps[gather]["if"], "always()");
    assert!(run(gather).contains("kind export logs"));
    assert!(run(gather).contains("hubspoke -- status --env kind"));
    let upload = step("upload artifacts");
    assert!(gather < upload);
    let down = step("tear down");
    assert_eq!(down, steps.len() - 1);
    assert_eq!(steps[down]["if"], "always()");
    // kind and helm only with their checksums verified
    let install = run(step("install kind and helm (checksums verified)"));
    assert_eq!(
        install.matches("sha256sum --check --strict").count(),
        2,
        "{install}"
    );
    for (var, len) in [("KIND_SHA256", 64), ("HELM_SHA256", 64)] {
        assert_eq!(w["env"][var].as_str().unwrap().len(), len);
        assert!(install.contains(&format!("${{{var}}}")), "{install}");
    }
}

/// scripts/nextest-up passes $HUBSPOKE_REPOSITORY to `hubspoke up` (a `cargo` stand-in
/// records what it is asked to run).
#[test]
fn the_nextest_setup_script_passes_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let cargo = dir.path().join("cargo");
    std::fs::write(&cargo, "#!/usr/bin/env bash\necho \"$*\" > \"$CARGO_ARGS\"\n").unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = |repository: Option<&str>| {
        let mut cmd = std::process::Command::new(repo_root().join("scripts/nextest-up"));
        cmd.arg("kind")
            .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
            .env("CARGO_ARGS", dir.path().join("args"))
            .env("NEXTEST_ENV", dir.path().join("nextest-env"))
            .env_remove("HUBSPOKE_UP_ARGS");
        match repository {
            Some(r) => cmd.env("HUBSPOKE_REPOSITORY", r),
            None => cmd.env_remove("HUBSPOKE_REPOSITORY"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::read_to_string(dir.path().join("args"))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(
        run(Some("https://github.com/acme/platform.git")),
        "run --quiet --locked -p hubspoke -- up --env kind --reuse --repository https://github.com/acme/platform.git"
    );
    assert_eq!(
        run(None),
        "run --quiet --locked -p hubspoke -- up --env kind --reuse"
    );
}

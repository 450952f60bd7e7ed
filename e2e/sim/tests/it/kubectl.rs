//! kubectl (the real binary on PATH) against the emulator: the commands platform engineers
//! run, with the output and errors they would see from a real cluster.

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use hubspoke_sim::SimCluster;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

struct Kubectl {
    _cluster: SimCluster,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    async fn start(name: &str) -> Kubectl {
        let cluster = SimCluster::start(name).await.expect("cluster starts");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        cluster.write_kubeconfig(&kubeconfig).unwrap();
        Kubectl {
            _cluster: cluster,
            dir,
            kubeconfig,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, None).await
    }

    async fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut c = self.command(args);
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .expect("kubectl must be on PATH to run these tests (https://kubernetes.io/docs/tasks/tools/)");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut si = child.stdin.take().unwrap();
            si.write_all(input.as_bytes()).await.unwrap();
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("kubectl finished")
            .unwrap();
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and requires success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args).await;
        assert!(o.ok, "kubectl {args:?} failed: {}{}", o.stdout, o.stderr);
        o.stdout
    }

    async fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let o = self.run_stdin(args, Some(stdin)).await;
        assert!(o.ok, "kubectl {args:?} failed: {}{}", o.stdout, o.stderr);
        o.stdout
    }

    /// Runs and requires failure; returns stderr.
    async fn fails_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.run_stdin(args, stdin).await;
        assert!(!o.ok, "kubectl {args:?} should fail but printed: {}", o.stdout);
        o.stderr
    }
}

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        env: [{name: MODE, value: blue}]
"#;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer}
          status:
            type: object
            properties:
              phase: {type: string}
"#;

#[tokio::test]
async fn apply_reports_created_unchanged_configured() {
    let k = Kubectl::start("k-apply").await;
    assert_eq!(
        k.ok_stdin(&["apply", "-f", "-"], DEPLOY).await,
        "deployment.apps/web created\n"
    );
    assert_eq!(
        k.ok_stdin(&["apply", "-f", "-"], DEPLOY).await,
        "deployment.apps/web unchanged\n"
    );
    let changed = DEPLOY.replace("replicas: 2", "replicas: 3");
    assert_eq!(
        k.ok_stdin(&["apply", "-f", "-"], &changed).await,
        "deployment.apps/web configured\n"
    );
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "3"
    );
    // dropping the env var from the manifest removes it (three-way merge)
    let no_env = changed.replace("        env: [{name: MODE, value: blue}]\n", "");
    assert_eq!(
        k.ok_stdin(&["apply", "-f", "-"], &no_env).await,
        "deployment.apps/web configured\n"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env}"
        ])
        .await,
        ""
    );
    // server-side dry run changes nothing
    let dry = no_env.replace("replicas: 3", "replicas: 9");
    assert_eq!(
        k.ok_stdin(&["apply", "--dry-run=server", "-f", "-"], &dry).await,
        "deployment.apps/web configured (server dry run)\n"
    );
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "3"
    );
    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: only-dry}\ndata: {a: b}\n";
    assert_eq!(
        k.ok_stdin(&["apply", "--dry-run=server", "-f", "-"], other).await,
        "configmap/only-dry created (server dry run)\n"
    );
    assert!(!k.run(&["get", "cm", "only-dry"]).await.ok);
}

#[tokio::test]
async fn get_output_formats_and_tables() {
    let k = Kubectl::start("k-get").await;
    k.ok(&[
        "create",
        "configmap",
        "cfg",
        "--from-literal=color=blue",
        "--from-literal=size=2",
    ])
    .await;
    assert_eq!(k.ok(&["get", "cm", "cfg", "-o", "name"]).await, "configmap/cfg\n");
    assert_eq!(
        k.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.color}"]).await,
        "blue"
    );
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "cm", "cfg", "-o", "json"]).await).unwrap();
    assert_eq!(
        (json["kind"].as_str(), json["data"]["size"].as_str()),
        (Some("ConfigMap"), Some("2"))
    );
    let yaml = k.ok(&["get", "cm", "cfg", "-o", "yaml"]).await;
    assert!(
        yaml.contains("kind: ConfigMap") && yaml.contains("  color: blue"),
        "{yaml}"
    );
    let table = k.ok(&["get", "cm", "cfg"]).await;
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "DATA", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], &["cfg", "2"]);
    let ns = k.ok(&["get", "ns"]).await;
    assert!(
        ns.lines()
            .any(|l| l.starts_with("kube-system") && l.contains("Active")),
        "{ns}"
    );
    let missing = k.fails_stdin(&["get", "cm", "nope"], None).await;
    assert_eq!(
        missing.trim(),
        "Error from server (NotFound): configmaps \"nope\" not found"
    );
    let wide = k.ok(&["get", "svc", "-n", "default", "-o", "wide"]).await;
    assert!(wide.lines().next().unwrap().contains("SELECTOR"), "{wide}");
}

#[tokio::test]
async fn get_watch_streams_changes() {
    let k = Kubectl::start("k-watch").await;
    let mut child = k
        .command(&["get", "cm", "-w", "-o", "name", "-l", "watched=yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // wait until the watch is established before changing things
    tokio::time::sleep(Duration::from_millis(300)).await;
    k.ok(&["create", "configmap", "w1"]).await;
    k.ok(&["label", "configmap", "w1", "watched=yes"]).await;
    k.ok(&["create", "configmap", "w2"]).await;
    k.ok(&["label", "configmap", "w2", "watched=yes"]).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("watch output")
            .unwrap()
            .unwrap();
        seen.push(line);
    }
    assert_eq!(seen, vec!["configmap/w1", "configmap/w2"]);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn label_selectors_and_delete_by_label() {
    let k = Kubectl::start("k-labels").await;
    for (n, l) in [
        ("a", "app=web,tier=front"),
        ("b", "app=db,tier=back"),
        ("c", "app=cache"),
    ] {
        k.ok(&["create", "configmap", n]).await;
        let labels: Vec<&str> = l.split(',').collect();
        let mut args = vec!["label", "configmap", n];
        args.extend(labels);
        k.ok(&args).await;
    }
    let names = |s: String| -> Vec<String> { s.lines().map(str::to_string).collect() };
    assert_eq!(
        names(k.ok(&["get", "cm", "-l", "app in (web,db)", "-o", "name"]).await),
        vec!["configmap/a", "configmap/b"]
    );
    assert_eq!(
        names(k.ok(&["get", "cm", "-l", "!tier,app", "-o", "name"]).await),
        vec!["configmap/c"]
    );
    assert_eq!(
        names(k.ok(&["get", "cm", "-l", "tier!=front,tier", "-o", "name"]).await),
        vec!["configmap/b"]
    );
    assert_eq!(
        k.ok(&["delete", "cm", "-l", "tier"]).await,
        "configmap \"a\" deleted\nconfigmap \"b\" deleted\n"
    );
    assert_eq!(
        names(k.ok(&["get", "cm", "-l", "app", "-o", "name"]).await),
        vec!["configmap/c"]
    );
}

#[tokio::test]
async fn patch_types_and_status_subresource() {
    let k = Kubectl::start("k-patch").await;
    k.ok_stdin(&["apply", "-f", "-"], DEPLOY).await;
    assert_eq!(
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":4}}"#
        ])
        .await,
        "deployment.apps/web patched\n"
    );
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/metadata/labels/extra","value":"x"}]"#,
    ])
    .await;
    // strategic: the sidecar is added next to the existing container, env merged by name
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"EXTRA","value":"1"}]},{"name":"side","image":"busybox:1.36"}]}}}}"#,
    ])
    .await;
    let got = k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.labels.extra} {.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].env[*].name}"]).await;
    assert_eq!(got, "4 x web side MODE EXTRA");
    // no-op patches say so
    assert_eq!(
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":4}}"#
        ])
        .await,
        "deployment.apps/web patched (no change)\n"
    );
    // a failing JSON patch test
    let err = k
        .fails_stdin(
            &[
                "patch",
                "deploy",
                "web",
                "--type",
                "json",
                "-p",
                r#"[{"op":"test","path":"/spec/replicas","value":1}]"#,
            ],
            None,
        )
        .await;
    assert!(err.contains("The request is invalid"), "{err}");
    // --subresource=status writes only status
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"replicas":4,"readyReplicas":4},"spec":{"replicas":1}}"#,
    ])
    .await;
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas}/{.status.readyReplicas}"
        ])
        .await,
        "4/4"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "--subresource=status",
            "-o",
            "jsonpath={.status.replicas}"
        ])
        .await,
        "4"
    );
    // the table reads status
    let t = k.ok(&["get", "deploy", "web"]).await;
    assert!(
        t.lines().nth(1).unwrap().split_whitespace().nth(1) == Some("4/4"),
        "{t}"
    );
    // kubectl scale goes through the scale subresource
    assert_eq!(
        k.ok(&["scale", "deploy", "web", "--replicas=2"]).await,
        "deployment.apps/web scaled\n"
    );
    assert_eq!(
        k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "2"
    );
}

#[tokio::test]
async fn replace_with_a_stale_resource_version_conflicts() {
    let k = Kubectl::start("k-replace").await;
    k.ok(&["create", "configmap", "r", "--from-literal=a=1"]).await;
    let current = k.ok(&["get", "cm", "r", "-o", "json"]).await;
    let edited = current.replace("\"a\": \"1\"", "\"a\": \"2\"");
    assert_eq!(
        k.ok_stdin(&["replace", "-f", "-"], &edited).await,
        "configmap/r replaced\n"
    );
    // the same resourceVersion again is stale now
    let err = k.fails_stdin(&["replace", "-f", "-"], Some(&edited)).await;
    assert!(
        err.contains("Operation cannot be fulfilled on configmaps \"r\": the object has been modified; please apply your changes to the latest version and try again"),
        "{err}"
    );
}

#[tokio::test]
async fn server_side_apply_with_two_managers() {
    let k = Kubectl::start("k-ssa").await;
    let a = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {owner: alice, size: \"1\"}\n";
    assert_eq!(
        k.ok_stdin(&["apply", "--server-side", "--field-manager=alice", "-f", "-"], a)
            .await,
        "configmap/shared serverside-applied\n"
    );
    let b = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {owner: bob}\n";
    let err = k
        .fails_stdin(
            &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
            Some(b),
        )
        .await;
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"alice\": .data.owner"),
        "{err}"
    );
    assert_eq!(
        k.ok_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager=bob",
                "--force-conflicts",
                "-f",
                "-"
            ],
            b
        )
        .await,
        "configmap/shared serverside-applied\n"
    );
    assert_eq!(
        k.ok(&["get", "cm", "shared", "-o", "jsonpath={.data.owner}/{.data.size}"])
            .await,
        "bob/1"
    );
    let managers = k
        .ok(&[
            "get",
            "cm",
            "shared",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    assert_eq!(managers, "alice bob");
    // alice drops "size" from her config: it is removed, since nobody else owns it
    let a2 = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {}\n";
    k.ok_stdin(
        &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
        a2,
    )
    .await;
    assert_eq!(
        k.ok(&["get", "cm", "shared", "-o", "jsonpath={.data}"]).await,
        r#"{"owner":"bob"}"#
    );
    // client-side apply, then server-side apply: kubectl migrates the ownership
    k.ok_stdin(&["apply", "-f", "-"], DEPLOY).await;
    let out = k
        .run_stdin(&["apply", "--server-side", "-f", "-"], Some(DEPLOY))
        .await;
    assert!(out.ok && out.stderr.is_empty(), "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "deployment.apps/web serverside-applied\n");
}

#[tokio::test]
async fn create_with_generate_name() {
    let k = Kubectl::start("k-gen").await;
    let obj = "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: job-}\ndata: {a: b}\n";
    let out = k.ok_stdin(&["create", "-f", "-"], obj).await;
    let name = out
        .trim()
        .strip_prefix("configmap/")
        .and_then(|s| s.strip_suffix(" created"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(name.starts_with("job-") && name.len() == 9, "{name}");
    assert_eq!(k.ok(&["get", "cm", name, "-o", "jsonpath={.data.a}"]).await, "b");
}

#[tokio::test]
async fn crds_wait_short_names_and_schema_rejections() {
    let k = Kubectl::start("k-crd").await;
    assert_eq!(
        k.ok_stdin(&["apply", "-f", "-"], CRD).await,
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n"
    );
    assert_eq!(
        k.ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=20s"
        ])
        .await,
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met\n"
    );
    let w = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n";
    assert_eq!(
        k.ok_stdin(&["apply", "-f", "-"], w).await,
        "widget.example.com/w1 created\n"
    );
    let table = k.ok(&["get", "wd"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    // listed printer columns replace the default Age column, as in apiextensions-apiserver
    assert_eq!(header, vec!["NAME", "SIZE"]);
    assert_eq!(
        &table
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()[..2],
        &["w1", "3"]
    );
    assert_eq!(
        k.ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.size}"])
            .await,
        "3"
    );
    // schema rejections
    let bad = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: big}\n";
    let err = k.fails_stdin(&["apply", "-f", "-"], Some(bad)).await;
    assert!(
        err.contains("The Widget \"w2\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""),
        "{err}"
    );
    let unknown =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w3}\nspec: {size: 1, colour: red}\n";
    let err = k.fails_stdin(&["create", "-f", "-"], Some(unknown)).await;
    assert!(err.contains("Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.colour\""), "{err}");
    // status subresource through kubectl
    k.ok(&[
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Ready"}}"#,
    ])
    .await;
    assert_eq!(
        k.ok(&["get", "wd", "w1", "-o", "jsonpath={.status.phase}"]).await,
        "Ready"
    );
    // deleting the CRD takes its objects along
    k.ok(&["delete", "crd", "widgets.example.com"]).await;
    let err = k
        .fails_stdin(
            &["get", "--raw", "/apis/example.com/v1/namespaces/default/widgets"],
            None,
        )
        .await;
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): the server could not find the requested resource"
    );
}

#[tokio::test]
async fn finalizers_and_owner_garbage_collection() {
    let k = Kubectl::start("k-gc").await;
    let held = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\n";
    k.ok_stdin(&["create", "-f", "-"], held).await;
    assert_eq!(
        k.ok(&["delete", "cm", "held", "--wait=false"]).await,
        "configmap \"held\" deleted\n"
    );
    let ts = k
        .ok(&[
            "get",
            "cm",
            "held",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(!ts.is_empty(), "held object is marked for deletion");
    k.ok(&[
        "patch",
        "cm",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .await;
    assert!(!k.run(&["get", "cm", "held"]).await.ok);

    // owner and dependent: deleting the owner deletes the dependent
    k.ok(&["create", "configmap", "owner"]).await;
    let uid = k
        .ok(&["get", "cm", "owner", "-o", "jsonpath={.metadata.uid}"])
        .await;
    let dep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dep\n  ownerReferences: [{{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}}}]\n"
    );
    k.ok_stdin(&["create", "-f", "-"], &dep).await;
    k.ok(&["delete", "cm", "owner"]).await;
    k.ok(&["wait", "--for=delete", "cm/dep", "--timeout=20s"]).await;
}

#[tokio::test]
async fn namespace_deletion_completes() {
    let k = Kubectl::start("k-ns").await;
    assert_eq!(
        k.ok(&["create", "namespace", "team"]).await,
        "namespace/team created\n"
    );
    k.ok(&["create", "configmap", "c1", "-n", "team"]).await;
    k.ok(&["create", "deployment", "d1", "-n", "team", "--image=nginx:1.27"])
        .await;
    assert_eq!(
        k.ok(&["delete", "namespace", "team", "--timeout=20s"]).await,
        "namespace \"team\" deleted\n"
    );
    let err = k.fails_stdin(&["get", "ns", "team"], None).await;
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): namespaces \"team\" not found"
    );
}

#[tokio::test]
async fn chunked_lists() {
    let k = Kubectl::start("k-chunk").await;
    for i in 0..7 {
        k.ok(&["create", "configmap", &format!("c{i}")]).await;
    }
    let out = k
        .run(&["get", "cm", "--chunk-size=2", "-o", "name", "-v=6"])
        .await;
    assert!(out.ok, "{}", out.stderr);
    let names: Vec<&str> = out.stdout.lines().collect();
    // the seven, and the namespace's kube-root-ca.crt
    let mut want: Vec<String> = (0..7).map(|i| format!("configmap/c{i}")).collect();
    want.push("configmap/kube-root-ca.crt".into());
    assert_eq!(names, want);
    let pages = out
        .stderr
        .lines()
        .filter(|l| l.contains("/configmaps?") && l.contains("limit=2"))
        .count();
    assert!(pages >= 4, "kubectl paged with continue tokens:\n{}", out.stderr);
}

#[tokio::test]
async fn service_account_tokens_and_rbac_through_kubectl() {
    let k = Kubectl::start("k-rbac").await;
    k.ok(&["create", "namespace", "team"]).await;
    assert_eq!(
        k.ok(&["create", "serviceaccount", "bot", "-n", "team"]).await,
        "serviceaccount/bot created\n"
    );
    let token = k
        .ok(&["create", "token", "bot", "-n", "team", "--duration=1h"])
        .await
        .trim()
        .to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    // the token is the bot; it may read nothing yet
    let err = k
        .fails_stdin(&["--token", &token, "get", "configmaps", "-n", "team"], None)
        .await;
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): configmaps is forbidden: User \"system:serviceaccount:team:bot\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team\""
    );
    let whoami = k
        .ok(&[
            "--token",
            &token,
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .await;
    assert_eq!(whoami, "system:serviceaccount:team:bot");
    let no = k
        .run(&[
            "auth",
            "can-i",
            "list",
            "configmaps",
            "-n",
            "team",
            "--as",
            "system:serviceaccount:team:bot",
        ])
        .await;
    assert!(!no.ok);
    assert_eq!(no.stdout.trim(), "no");

    // a RoleBinding to view in team
    assert_eq!(
        k.ok(&[
            "create",
            "rolebinding",
            "bot-view",
            "--clusterrole=view",
            "--serviceaccount=team:bot",
            "-n",
            "team"
        ])
        .await,
        "rolebinding.rbac.authorization.k8s.io/bot-view created\n"
    );
    assert_eq!(
        k.ok(&[
            "auth",
            "can-i",
            "list",
            "configmaps",
            "-n",
            "team",
            "--as",
            "system:serviceaccount:team:bot"
        ])
        .await
        .trim(),
        "yes"
    );
    assert_eq!(
        k.ok(&[
            "--token",
            &token,
            "auth",
            "can-i",
            "list",
            "configmaps",
            "-n",
            "team"
        ])
        .await
        .trim(),
        "yes"
    );
    let other = k
        .run(&[
            "--token",
            &token,
            "auth",
            "can-i",
            "list",
            "configmaps",
            "-n",
            "default",
        ])
        .await;
    assert_eq!(
        other.stdout.trim(),
        "no",
        "a RoleBinding grants nothing outside its namespace"
    );
    assert_eq!(
        k.ok(&["--token", &token, "get", "configmaps", "-n", "team", "-o", "name"])
            .await,
        "configmap/kube-root-ca.crt\n"
    );
    let err = k
        .fails_stdin(
            &[
                "--token",
                &token,
                "delete",
                "configmap",
                "kube-root-ca.crt",
                "-n",
                "team",
            ],
            None,
        )
        .await;
    assert!(
        err.contains("cannot delete resource \"configmaps\" in API group \"\" in the namespace \"team\""),
        "{err}"
    );

    // the rules review behind can-i --list
    let list = k
        .ok(&["--token", &token, "auth", "can-i", "--list", "-n", "team"])
        .await;
    assert!(
        list.lines()
            .any(|l| l.starts_with("configmaps ") && l.contains("[get list watch]")),
        "{list}"
    );
    // a ClusterRoleBinding reaches every namespace
    k.ok(&[
        "create",
        "clusterrolebinding",
        "bot-view-all",
        "--clusterrole=view",
        "--serviceaccount=team:bot",
    ])
    .await;
    assert_eq!(
        k.ok(&[
            "--token",
            &token,
            "auth",
            "can-i",
            "list",
            "configmaps",
            "-n",
            "default"
        ])
        .await
        .trim(),
        "yes"
    );
    assert_eq!(
        k.run(&[
            "--token", &token, "auth", "can-i", "get", "secrets", "-n", "default"
        ])
        .await
        .stdout
        .trim(),
        "no"
    );

    // a bad token
    let err = k
        .fails_stdin(&["--token", "not-a-token", "get", "ns"], None)
        .await;
    assert!(
        err.contains("error: You must be logged in to the server (Unauthorized)"),
        "{err}"
    );
}

#[tokio::test]
async fn legacy_token_secret_used_from_a_second_client() {
    let k = Kubectl::start("k-legacy").await;
    k.ok(&["create", "serviceaccount", "argocd-manager", "-n", "kube-system"])
        .await;
    k.ok(&[
        "create",
        "clusterrolebinding",
        "argocd-manager",
        "--clusterrole=cluster-admin",
        "--serviceaccount=kube-system:argocd-manager",
    ])
    .await;
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: argocd-manager-token\n  namespace: kube-system\n  annotations: {kubernetes.io/service-account.name: argocd-manager}\ntype: kubernetes.io/service-account-token\n";
    k.ok_stdin(&["apply", "-f", "-"], secret).await;
    k.ok(&[
        "wait",
        "--for=jsonpath={.data.token}",
        "secret/argocd-manager-token",
        "-n",
        "kube-system",
        "--timeout=20s",
    ])
    .await;
    let b64 = k
        .ok(&[
            "get",
            "secret",
            "argocd-manager-token",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.data.token}",
        ])
        .await;
    let token = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        k.ok(&["--token", &token, "get", "ns", "default", "-o", "name"])
            .await,
        "namespace/default\n"
    );
    k.ok(&["delete", "secret", "argocd-manager-token", "-n", "kube-system"])
        .await;
    let err = k.fails_stdin(&["--token", &token, "get", "ns"], None).await;
    assert!(err.contains("(Unauthorized)"), "{err}");
}

#[tokio::test]
async fn admission_webhook_denials_and_warnings_through_kubectl() {
    let k = Kubectl::start("k-webhook").await;
    let hook = common::webhook::Webhook::start(&["127.0.0.1"]).await;
    let cfg = common::webhook::configuration(
        "ValidatingWebhookConfiguration",
        "pods.validate.test",
        serde_json::json!({"url": hook.url("/validate"), "caBundle": hook.ca_bundle}),
        serde_json::json!({}),
    );
    assert_eq!(
        k.ok_stdin(&["apply", "-f", "-"], &cfg.to_string()).await,
        "validatingwebhookconfiguration.admissionregistration.k8s.io/pods.validate.test created\n"
    );
    let err = k.fails_stdin(&["run", "bare", "--image=nginx:1.27"], None).await;
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): admission webhook \"pods.validate.test\" denied the request: pod has no team label"
    );
    let ok = k
        .run(&["run", "ok", "--image=nginx:1.27", "--labels=team=a"])
        .await;
    assert!(ok.ok, "{}", ok.stderr);
    assert_eq!(ok.stdout, "pod/ok created\n");
    assert!(
        ok.stderr.contains("Warning: checked by test webhook"),
        "{}",
        ok.stderr
    );
    // server-side dry run is reviewed as a dry run
    let dry = k
        .run(&[
            "run",
            "dry",
            "--image=nginx:1.27",
            "--labels=team=a",
            "--dry-run=server",
        ])
        .await;
    assert!(dry.ok, "{}", dry.stderr);
    assert_eq!(hook.requests().last().unwrap()["request"]["dryRun"], true);
}

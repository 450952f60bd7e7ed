//! `hubspoke up --env eks` end to end up to where it fails, offline: the real terraform on
//! the built-in-only fixture module (it reports the clusters' endpoints and CA as told),
//! the EKS API emulated by moto's server, and a fake helm first on PATH. Whatever fails
//! after terraform applied, what was applied is destroyed and no state is left behind.

use crate::support::moto;
use crate::support::tf_layout;

use std::path::Path;
use std::process::Output;

use base64::Engine;
use moto::Moto;
use tf_layout::Layout;

fn fakes() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes")
}

/// `hubspoke up --env eks` on the layout, against the emulator, fakes first on PATH.
async fn up(l: &Layout, m: &Moto, extra: &[&str], env: &[(&str, &str)]) -> Output {
    hubspoke("up", l, m, extra, env).await
}

/// `hubspoke <command> --env eks` (up or test) on the layout.
async fn hubspoke(command: &str, l: &Layout, m: &Moto, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let root = l.module_dir().parent().unwrap().to_path_buf();
    // the revision under test: the checkout's own commit, which the Argo CD stand-in serves
    let commit = head_commit();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"));
    cmd.current_dir(&root)
        .args([
            command,
            "--env",
            "eks",
            "--release",
            "release/hub-aws",
            "--terraform-dir",
            "terraform",
            "--state-dir",
            &l.state_dir().display().to_string(),
            "--revision",
            &commit,
            "--run-id",
            "nightly-7",
            "--timeout",
            "20",
        ])
        .args(if extra.contains(&"--deadline") {
            &[][..]
        } else {
            &["--deadline", "30m"][..]
        })
        .args(extra)
        .env(
            "PATH",
            format!("{}:{}", fakes().display(), std::env::var("PATH").unwrap()),
        )
        .env("FAKE_LOG", root.join("fake.log"))
        .env("HUBSPOKE_PROGRESS", "plain");
    for (k, v) in m.env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// `hubspoke down --env eks` in a process of its own, from the state files alone; then
/// nothing is left.
fn down_from_state_files(l: &Layout) {
    let down = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["down", "--env", "eks", "--state-dir"])
        .arg(l.state_dir())
        .env("HUBSPOKE_PROGRESS", "plain")
        .output()
        .unwrap();
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    assert_nothing_left(l);
}

fn assert_nothing_left(l: &Layout) {
    assert_eq!(l.resources("hub"), Vec::<String>::new());
    assert_eq!(l.resources("spoke"), Vec::<String>::new());
    let left: Vec<String> = std::fs::read_dir(l.state_dir())
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the state directory: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_that_eks_does_not_know_fail_the_run_and_are_destroyed() {
    let (l, m) = (Layout::new("", ""), Moto::start());
    // terraform's lines in the logs too
    let out = up(&l, &m, &[], &[("HUBSPOKE_LOG", "info")]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("INFO terraform: "), "{stderr}");
    // the outputs were read (the clusters' names came from them: the run id is part of
    // them), their sensitive one never shown
    assert!(!stderr.contains("planted-sensitive"), "{stderr}");
    assert!(
        stderr.contains("EKS cluster hub-nightly-7 does not exist (")
            && stderr.contains(
                "terraform's outputs name it, so check the region and account the credentials point at"
            ),
        "{stderr}"
    );
    assert!(
        stderr.contains("destroyed what was applied: spoke, hub"),
        "{stderr}"
    );
    // every resource was tagged with the run and its deadline (terraform got both)
    assert!(
        stderr.contains(
            "run nightly-7 (every resource is tagged hubspoke.io/run-id=nightly-7, hubspoke.io/expires-at=20"
        ),
        "{stderr}"
    );
    assert_nothing_left(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_bootstrap_destroys_the_active_clusters_unless_kept() {
    let (l, m) = (Layout::new("", ""), Moto::start());
    m.create_cluster("hub-nightly-7", &[("hubspoke.io/run-id", "nightly-7")])
        .await;
    m.create_cluster("spoke-nightly-7", &[("hubspoke.io/run-id", "nightly-7")])
        .await;
    let ca = base64::engine::general_purpose::STANDARD
        .encode(hubspoke_sim::SimCluster::start("ca").await.unwrap().ca_pem());
    let ca_var = format!("ca_data={ca}");
    let vars = ["--tf-var", &ca_var, "--tf-var", "endpoint=https://127.0.0.1:9"];
    let fail = [(
        "FAKE_HELM_FAIL",
        "Kubernetes cluster unreachable: the server has asked for the client to provide credentials",
    )];
    let out = up(&l, &m, &vars, &fail).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("EKS cluster hub ACTIVE"), "{stderr}");
    assert!(stderr.contains("helm could not install Argo CD on hub (context eks-hub): Error: INSTALLATION FAILED: Kubernetes cluster unreachable"), "{stderr}");
    assert!(
        stderr.contains("destroyed what was applied: spoke, hub"),
        "{stderr}"
    );
    assert_nothing_left(&l);
    // helm was pointed at the cluster's kubeconfig, which authenticates with `aws eks get-token`
    let log = std::fs::read_to_string(l.module_dir().parent().unwrap().join("fake.log")).unwrap();
    assert!(log.contains("--kube-context eks-hub"), "{log}");

    // --keep: kept, and `down` destroys it from the state files
    let out = up(&l, &m, &[&vars[..], &["--keep"]].concat(), &fail).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("keeping the environment (--keep)"), "{stderr}");
    assert_eq!(
        l.resources("hub"),
        ["terraform_data.access", "terraform_data.cluster"]
    );
    let kubeconfig = std::fs::read_to_string(l.state_dir().join("spoke.kubeconfig")).unwrap();
    assert!(kubeconfig.contains("get-token"), "{kubeconfig}");
    let state = std::fs::read_to_string(l.state_dir().join("state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let spoke = &state["clusters"][1];
    assert_eq!(spoke["name"], "spoke");
    assert_eq!(spoke["server_from_hub"], "https://127.0.0.1:9");
    assert_eq!(
        spoke["aws"]["role_arn"],
        "arn:aws:iam::123456789012:role/hubspoke-argocd-spoke-nightly-7-spoke"
    );
    down_from_state_files(&l);
}

/// Runs python (botocore) against the emulator's S3; returns what it prints.
fn s3(m: &Moto, code: &str) -> String {
    m.s3(code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_backend_config_each_cluster_keeps_its_state_in_the_remote_backend() {
    let (l, m) = (Layout::new("", ""), Moto::start());
    s3(
        &m,
        "s3.create_bucket(Bucket='hubspoke-state', CreateBucketConfiguration={'LocationConstraint': 'eu-west-2'})",
    );
    let backend = l.module_dir().parent().unwrap().join("backend.hcl");
    std::fs::write(
        &backend,
        format!(
            "bucket = \"hubspoke-state\"\nkey = \"hubspoke/eks.tfstate\"\nregion = \"{}\"\nendpoints = {{ s3 = \"{}\" }}\nuse_path_style = true\nskip_credentials_validation = true\nskip_requesting_account_id = true\nskip_metadata_api_check = true\naccess_key = \"testing\"\nsecret_key = \"testing\"\n",
            moto::REGION,
            m.url
        ),
    )
    .unwrap();
    let backend_arg = backend.display().to_string();
    // the clusters are not in EKS: the run fails after applying, and destroys
    let out = up(&l, &m, &["--backend-config", &backend_arg], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("destroyed what was applied: spoke, hub"),
        "{stderr}"
    );
    // one state object per workspace, in the bucket, none on this machine
    let keys = s3(
        &m,
        "print('\\n'.join(sorted(o['Key'] for o in s3.list_objects_v2(Bucket='hubspoke-state').get('Contents', []))))",
    );
    assert_eq!(
        keys.lines().collect::<Vec<_>>(),
        ["env:/hub/hubspoke/eks.tfstate", "env:/spoke/hubspoke/eks.tfstate"]
    );
    assert!(!l.module_dir().join("terraform.tfstate.d").exists());
    let spoke = s3(
        &m,
        "print(s3.get_object(Bucket='hubspoke-state', Key='env:/spoke/hubspoke/eks.tfstate')['Body'].read().decode())",
    );
    let state: serde_json::Value = serde_json::from_str(&spoke).unwrap();
    assert_eq!(state["resources"], serde_json::json!([]), "destroyed: {state}");
    assert!(l.module_dir().join("backend_override.tf").exists());
    assert_nothing_left(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_run_past_its_deadline_stops_terraform_and_destroys() {
    // the hub's apply takes two minutes; the run may take five seconds
    let (l, m) = (Layout::new("apply_seconds = 120", ""), Moto::start());
    let started = std::time::Instant::now();
    let out = hubspoke("test", &l, &m, &["--deadline", "5s"], &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("terraform apply for hub was interrupted (the run's deadline (5s) passed); it stopped after the operations under way"),
        "{stderr}"
    );
    assert!(stderr.contains("destroyed what was applied: hub"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(100),
        "terraform was not stopped"
    );
    assert_nothing_left(&l);
}

// ---------------------------------------------------------------------------------------
// The whole run on an emulated EKS: the clusters' API servers are sim clusters that
// authenticate EKS tokens as EKS's aws-iam-authenticator does (the token decoded to its
// presigned STS URL, the signing time within 15 minutes, the signature checked as STS
// checks it, for this cluster's x-k8s-aws-id), and map IAM identities to cluster admins as
// the access entries terraform creates do. Argo CD on the hub (the stand-in, "installed"
// by the fake helm's chart) connects to the spoke as `argocd-k8s-auth aws` does: it
// assumes the awsAuthConfig's role and makes an EKS token for its clusterName. So a run
// passes only if terraform's endpoint, CA, cluster name and role ARN all reached the hub's
// cluster Secret.

use aws_credential_types::Credentials;
use hubspoke_sim::SimCluster;
use hubspoke_sim::auth::User;
use hubspoke_sim::standins::argocd::{ArgoCdOptions, ArgoCdStandIn, AwsIdentity, Repositories};
use hubspoke_sim::standins::workload::{WorkloadOptions, WorkloadStandIn};

const ACCOUNT: &str = "123456789012";

/// An IAM identity: access key, secret key, ARN.
#[derive(Clone, Copy)]
struct Identity(&'static str, &'static str, &'static str);

/// Who runs hubspoke (the CI role): terraform's `enable_cluster_creator_admin_permissions`.
const HARNESS: Identity = Identity(
    "AKIAHARNESS000000001",
    "harness-secret",
    "arn:aws:iam::123456789012:user/ci",
);
/// Argo CD on the hub, through pod identity.
const ARGOCD: Identity = Identity(
    "ASIAARGOCDHUB0000001",
    "argocd-secret",
    "arn:aws:iam::123456789012:role/hubspoke-argocd-hub-nightly-7",
);
/// The spoke's role, which trusts the hub's (terraform/spoke.tf).
const SPOKE_ROLE: Identity = Identity(
    "ASIASPOKEROLE0000001",
    "spoke-role-secret",
    "arn:aws:iam::123456789012:role/hubspoke-argocd-spoke-nightly-7-spoke",
);

fn credentials(i: Identity) -> Credentials {
    Credentials::new(i.0, i.1, None, None, "test")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// aws-iam-authenticator for cluster `id`: the identities STS knows, and the ARNs access
/// entries make cluster admins.
fn iam_authenticator(
    id: &'static str,
    known: Vec<Identity>,
    admins: Vec<&'static str>,
) -> hubspoke_sim::auth::TokenWebhook {
    std::sync::Arc::new(move |token: &str| {
        let b64 = token.strip_prefix(hubspoke::eks::token::TOKEN_PREFIX)?;
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .ok()?,
        )
        .ok()?;
        let (_, query) = url.split_once('?')?;
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .map(percent_decode)
        };
        if param("Action")? != "GetCallerIdentity" {
            return None;
        }
        let signed = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", param("X-Amz-Date")?).ok()?;
        let signed = signed.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
        if jiff::Timestamp::now().duration_since(signed) > jiff::SignedDuration::from_mins(15) {
            return None;
        }
        let credential = param("X-Amz-Credential")?;
        let mut scope = credential.split('/');
        let (key, region) = (scope.next()?, scope.nth(1)?);
        let who = known.iter().find(|i| i.0 == key)?;
        // STS: the signature must be the one this identity makes for this cluster's header
        let at = std::time::SystemTime::from(signed);
        let expected = hubspoke::eks::token::presigned_url(&credentials(*who), region, id, at).ok()?;
        if expected != url {
            return None;
        }
        let mut groups = vec!["system:authenticated".to_string()];
        if admins.contains(&who.2) {
            groups.insert(0, "system:masters".into());
        }
        Some(User {
            name: who.2.to_string(),
            uid: format!("aws-iam-authenticator:{ACCOUNT}:{}", who.0),
            groups,
            extra: Default::default(),
        })
    })
}

/// Argo CD's AWS side: it may assume the spoke's role (the trust policy), nothing else.
fn argocd_identity() -> AwsIdentity {
    AwsIdentity(std::sync::Arc::new(|cluster: &str, role: Option<&str>| {
        let who = match role {
            None => ARGOCD,
            Some(r) if r == SPOKE_ROLE.2 => SPOKE_ROLE,
            Some(r) => {
                return Err(format!(
                    "AccessDenied: User: {} is not authorized to perform: sts:AssumeRole on resource: {r}",
                    ARGOCD.2
                ));
            }
        };
        hubspoke::eks::token::token(
            &credentials(who),
            moto::REGION,
            cluster,
            std::time::SystemTime::now(),
        )
    }))
}

fn head_commit() -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(tf_layout::repo_root())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_emulated_eks_terraforms_outputs_register_the_spoke_and_the_hub_reaches_it() {
    let hub = SimCluster::start("hub").await.unwrap();
    let spoke = SimCluster::start("spoke").await.unwrap();
    // EKS names carry the run id: the tokens are for those names (x-k8s-aws-id), not the
    // definitions' cluster names
    hub.set_token_webhook(iam_authenticator(
        "hub-nightly-7",
        vec![HARNESS, ARGOCD],
        vec![HARNESS.2],
    ));
    spoke.set_token_webhook(iam_authenticator(
        "spoke-nightly-7",
        vec![HARNESS, ARGOCD, SPOKE_ROLE],
        vec![HARNESS.2, SPOKE_ROLE.2],
    ));
    // kubelet and the workload controllers on both
    let mut workloads = Vec::new();
    for c in [&hub, &spoke] {
        let opts = WorkloadOptions {
            node_prefix: c.name().to_string(),
            ..Default::default()
        };
        workloads.push(
            WorkloadStandIn::run(c.client().await.unwrap(), opts)
                .await
                .unwrap(),
        );
    }
    // what the argo-cd chart installs (the fake helm only records its arguments)
    let mut repos = Repositories::new();
    repos.add("https://github.com/hubspoke/hubspoke.git", tf_layout::repo_root());
    let _argocd = ArgoCdStandIn::install(
        hub.client().await.unwrap(),
        ArgoCdOptions {
            repositories: repos,
            aws: Some(argocd_identity()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // terraform reports each cluster's endpoint and CA; EKS knows both clusters
    let vars = |c: &SimCluster| {
        format!(
            "endpoint = \"{}\"\nca_data = \"{}\"",
            c.url(),
            base64::engine::general_purpose::STANDARD.encode(c.ca_pem())
        )
    };
    let (l, m) = (Layout::new(&vars(&hub), &vars(&spoke)), Moto::start());
    m.create_cluster("hub-nightly-7", &[("hubspoke.io/run-id", "nightly-7")])
        .await;
    m.create_cluster("spoke-nightly-7", &[("hubspoke.io/run-id", "nightly-7")])
        .await;
    let harness = [
        ("AWS_ACCESS_KEY_ID", HARNESS.0),
        ("AWS_SECRET_ACCESS_KEY", HARNESS.1),
    ];

    let out = up(&l, &m, &[], &harness).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("every spoke answers its token and is reachable from the hub"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("environment eks is up"));

    // the spoke's Secret on the hub: terraform's endpoint, CA, cluster name and role
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(hub.client().await.unwrap(), "argocd");
    let s = secrets.get("cluster-spoke").await.unwrap();
    let field = |k: &str| String::from_utf8(s.data.as_ref().unwrap()[k].0.clone()).unwrap();
    assert_eq!(field("server"), spoke.url());
    let config: serde_json::Value = serde_json::from_str(&field("config")).unwrap();
    assert_eq!(
        config,
        serde_json::json!({
            "awsAuthConfig": {"clusterName": "spoke-nightly-7", "roleARN": SPOKE_ROLE.2},
            "tlsClientConfig": {
                "caData": base64::engine::general_purpose::STANDARD.encode(spoke.ca_pem()),
                "insecure": false,
            },
        })
    );
    assert!(!field("config").contains("bearerToken"));

    // a later process tests it from the state files (its clients make their own tokens)
    let test = hubspoke("test", &l, &m, &["--suite", "registration"], &harness).await;
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(stdout.contains("2 check(s): 2 passed, 0 failed"), "{stdout}");
    down_from_state_files(&l);

    // `test` on nothing: builds it, runs the suite, destroys it
    let test = hubspoke("test", &l, &m, &["--suite", "registration"], &harness).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr),
    );
    assert!(test.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("2 check(s): 2 passed, 0 failed"), "{stdout}");
    assert!(
        stderr.contains("destroyed what was applied: spoke, hub"),
        "{stderr}"
    );
    assert_nothing_left(&l);
}

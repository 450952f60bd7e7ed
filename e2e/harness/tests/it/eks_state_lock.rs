//! A terraform killed mid-apply leaves its state lock in the S3 backend (`use_lockfile`),
//! which would block every later apply and destroy of that workspace. Real terraform on the
//! fixture module, its state in moto's S3: a lock younger than the run's deadline is waited
//! for and then named with the command that releases it; one older than the deadline is
//! force-unlocked (said so) and the destroy goes through.

use crate::support::moto;
use crate::support::tf_layout;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use moto::Moto;
use tf_layout::Layout;

const LOCK: &str = "env:/hub/hubspoke/eks.tfstate.tflock";

fn lock_of(m: &Moto) -> Option<serde_json::Value> {
    let out = m.s3(&format!(
        "import json\ntry:\n    print(s3.get_object(Bucket='hubspoke-state', Key='{LOCK}')['Body'].read().decode())\nexcept s3.exceptions.NoSuchKey:\n    print('')"
    ));
    let out = out.trim();
    (!out.is_empty()).then(|| serde_json::from_str(out).unwrap())
}

/// The S3 backend in moto, with S3's own state locking (a `.tflock` object).
fn backend_hcl(m: &Moto) -> String {
    format!(
        "bucket = \"hubspoke-state\"\nkey = \"hubspoke/eks.tfstate\"\nregion = \"{}\"\nendpoints = {{ s3 = \"{}\" }}\nuse_path_style = true\nuse_lockfile = true\nskip_credentials_validation = true\nskip_requesting_account_id = true\nskip_metadata_api_check = true\naccess_key = \"testing\"\nsecret_key = \"testing\"\n",
        moto::REGION,
        m.url
    )
}

/// Starts an apply of `hub` and kills it (SIGKILL: no chance to unlock) while it creates
/// the cluster; returns the id of the lock it leaves in the bucket.
fn killed_apply(
    module: &hubspoke::terraform::Module,
    hub: &hubspoke::terraform::Workspace,
    m: &Moto,
) -> String {
    let mut apply = Command::new(&module.bin)
        .current_dir(&module.dir)
        .env("TF_DATA_DIR", &hub.data_dir)
        .env("CHECKPOINT_DISABLE", "1")
        .args(["apply", "-auto-approve", "-input=false", "-no-color"])
        .arg(format!("-var-file={}", hub.var_file.display()))
        .args(["-var", "run_id=nightly-41"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while !module.dir.join(".applying-hub").exists() {
        assert!(Instant::now() < until, "the apply did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    // terraform and its provisioner's shell, as a vanished runner loses them
    let group = rustix::process::Pid::from_raw(apply.id() as i32).unwrap();
    rustix::process::kill_process_group(group, rustix::process::Signal::KILL).unwrap();
    apply.wait().unwrap();
    let lock = lock_of(m).expect("the killed apply left its lock");
    assert_eq!(lock["Operation"], "OperationTypeApply");
    lock["ID"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_left_by_a_killed_terraform_is_forced_only_past_the_runs_deadline() {
    let m = Moto::start();
    m.s3("s3.create_bucket(Bucket='hubspoke-state', CreateBucketConfiguration={'LocationConstraint': 'eu-west-2'})");
    let l = Layout::new("apply_seconds = 300", "");
    let backend = l.module_dir().parent().unwrap().join("backend.hcl");
    std::fs::write(&backend, backend_hcl(&m)).unwrap();
    let mut plan = l.plan(false);
    plan.module.backend_config = Some(backend);
    plan.module.lock_timeout = Some(2);
    plan.module.stale_lock_after = Some(3600);
    let hub = plan.hub.clone();
    let module = plan.module.clone();
    module.prepare(&hub, &|_| {}).await.unwrap();

    let id = killed_apply(&module, &hub, &m);

    // younger than the run's deadline: it may be a live terraform's; waited for, then named
    let started = Instant::now();
    let e = module.destroy(&hub, &|_| {}).await.unwrap_err().to_string();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it did not wait for the lock"
    );
    assert!(e.starts_with("terraform destroy for hub failed"), "{e}");
    assert!(e.contains("Error acquiring the state lock"), "{e}");
    assert!(
        e.ends_with(&format!(
            "The lock is younger than the run's deadline (3600s), so it may belong to a terraform still running; when none is (a killed run), release it with: TF_DATA_DIR={} terraform -chdir={} force-unlock -force {id}",
            hub.data_dir.display(),
            module.dir.display()
        )),
        "{e}"
    );
    assert_eq!(lock_of(&m).unwrap()["ID"], id.as_str());

    // past the run's deadline (3600s here): a killed run's; forced, said so, and the destroy
    // goes through
    let mut forced = module.clone();
    forced.stale_lock_after = Some(1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let said = Mutex::new(Vec::<String>::new());
    forced
        .destroy(&hub, &|l| said.lock().unwrap().push(l.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let said = said.into_inner().unwrap();
    let line = said
        .iter()
        .find(|l| l.starts_with("the state lock of workspace hub (OperationTypeApply by "))
        .unwrap_or_else(|| panic!("{said:#?}"));
    assert!(
        line.ends_with(&format!(
            "longer than the run's deadline (1s): a killed terraform left it; running terraform force-unlock -force {id}"
        )),
        "{line}"
    );
    assert!(
        said.iter()
            .any(|l| l.contains("Terraform state has been successfully unlocked!")),
        "{said:#?}"
    );
    assert!(
        said.iter().any(|l| l.starts_with("Destroy complete!")),
        "{said:#?}"
    );
    // the lock is gone (the destroy released its own): nothing blocks the next run
    assert_eq!(lock_of(&m), None);
}

/// The nightly's destroy job: `hubspoke down --env eks --stale-lock-after 0s` from the
/// record `up` left, once the job that applied has ended (so any lock is a killed one's),
/// whatever deadline the record holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_forces_a_lock_older_than_stale_lock_after() {
    let m = Moto::start();
    m.s3("s3.create_bucket(Bucket='hubspoke-state', CreateBucketConfiguration={'LocationConstraint': 'eu-west-2'})");
    let l = Layout::new("apply_seconds = 300", "");
    let backend = l.module_dir().parent().unwrap().join("backend.hcl");
    std::fs::write(&backend, backend_hcl(&m)).unwrap();
    let mut plan = l.plan(false);
    plan.module.backend_config = Some(backend);
    plan.module.stale_lock_after = Some(9000);
    let hub = plan.hub.clone();
    plan.module.prepare(&hub, &|_| {}).await.unwrap();
    let id = killed_apply(&plan.module, &hub, &m);
    // what `up` recorded before its apply (a 150-minute deadline)
    std::fs::create_dir_all(l.state_dir()).unwrap();
    let record = hubspoke::terraform::Record {
        module: plan.module.clone(),
        workspaces: vec![hub.clone()],
    };
    std::fs::write(
        l.state_dir().join(hubspoke::terraform::STATE_FILE),
        serde_json::to_string(&record).unwrap(),
    )
    .unwrap();

    let down = Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["down", "--env", "eks", "--stale-lock-after", "0s", "--state-dir"])
        .arg(l.state_dir())
        .env("HUBSPOKE_PROGRESS", "plain")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(down.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "longer than the run's deadline (0s): a killed terraform left it; running terraform force-unlock -force {id}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("destroyed what was applied: hub"), "{stderr}");
    assert_eq!(lock_of(&m), None);
    assert!(!l.recorded());
}

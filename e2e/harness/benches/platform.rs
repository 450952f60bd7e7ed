//! Bootstrap-to-converged time of the test platform (fixtures/platform) on sim, and peak
//! memory, for hub + 2 and hub + 10 spokes. Figures are printed, not asserted (targets:
//! 10 s and 30 s on a 2-core machine).
//!
//! `cargo bench -p hubspoke --bench platform` — each size runs in a process of its own (its
//! peak RSS is its own): `hubspoke up --env sim` of the platform's definitions in-process
//! (clusters, Argo CD, registration, the bootstrap Application applied last), then the
//! time until every Application is Synced and Healthy. Spokes past the platform's two are
//! copies of spoke-b (with cert-manager; no workload files), named spoke-c, spoke-d, ...
//! `HUBSPOKE_BENCH_SPOKES=2,10` picks the sizes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hubspoke::environment::ProviderKind;
use hubspoke::progress::Progress;
use hubspoke::up::{UpOptions, up};

const CHILD: &str = "HUBSPOKE_BENCH_PLATFORM_CHILD";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// The process's peak resident set, in MiB (VmHWM of /proc/self/status).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn one(spokes: usize) {
    let state = tempfile::tempdir().expect("a state directory");
    let mut opts = UpOptions::new(ProviderKind::Sim, &repo_root());
    opts.state_dir = state.path().join("sim");
    opts.release = repo_root().join("fixtures/platform");
    opts.spokes = Some(spokes);
    let started = Instant::now();
    let env = up(&opts, &Progress::plain())
        .await
        .unwrap_or_else(|e| panic!("{spokes} spokes: {e}"));
    let up_time = started.elapsed();
    let bootstrapped = Instant::now();
    let apps = hubspoke::bootstrap::applications(&env.hub.client);
    let status = |a: &kube::api::DynamicObject, p: &str| {
        a.data
            .pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_string()
    };
    // bootstrap, platform, registration-<cluster> for the three definitions (the extra
    // spokes are copies hubspoke registers, with no definition in git), system-argocd-hub,
    // system-cert-manager-<spoke>, system-kyverno-spoke-a and tenant-web-<spoke> for the
    // spokes with workload files (spoke-a, spoke-b)
    let want = 2 + 3 + 1 + spokes + 1 + 2;
    let converged = hubspoke::kube_util::wait_all(
        apps,
        Duration::from_secs(300),
        "the platform's Applications",
        move |apps| {
            if apps.len() < want {
                return Err(format!("{} of {want} Applications", apps.len()));
            }
            let pending: Vec<String> = apps
                .iter()
                .filter(|a| {
                    status(a, "/status/sync/status") != "Synced"
                        || status(a, "/status/health/status") != "Healthy"
                })
                .map(|a| a.metadata.name.clone().unwrap_or_default())
                .collect();
            if pending.is_empty() {
                Ok(())
            } else {
                Err(format!("not Synced and Healthy: {}", pending.join(", ")))
            }
        },
    )
    .await;
    let failed = converged.as_ref().err().map(|e| e.to_string());
    println!(
        "RESULT {}",
        serde_json::json!({
            "spokes": spokes,
            "up_seconds": up_time.as_secs_f64(),
            "converged_seconds": bootstrapped.elapsed().as_secs_f64(),
            "applications": converged.as_ref().map(Vec::len).unwrap_or(0),
            "failed": failed,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
}

fn main() {
    if let Some(n) = std::env::var(CHILD).ok().and_then(|v| v.parse().ok()) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(one(n));
        return;
    }
    let sizes: Vec<usize> = std::env::var("HUBSPOKE_BENCH_SPOKES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![2, 10]);
    let me = std::env::current_exe().expect("the bench binary");
    println!(
        "the test platform on sim: `hubspoke up` (bootstrap last), then every Application Synced and Healthy"
    );
    println!(
        "{:>6} {:>8} {:>16} {:>6} {:>14}  failure",
        "spokes", "up", "bootstrap→ready", "apps", "peak RSS"
    );
    let mut invalid = false;
    for n in sizes {
        let out = Command::new(&me)
            .env(CHILD, n.to_string())
            .output()
            .expect("running the bench binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(r) = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        else {
            invalid = true;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            println!(
                "{n:>6} run failed ({}):\n{}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
            continue;
        };
        invalid |= !r["failed"].is_null();
        println!(
            "{:>6} {:>7.1}s {:>15.1}s {:>6} {:>10.0} MiB  {}",
            n,
            r["up_seconds"].as_f64().unwrap_or(f64::NAN),
            r["converged_seconds"].as_f64().unwrap_or(f64::NAN),
            r["applications"],
            r["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
            r["failed"].as_str().unwrap_or("none"),
        );
    }
    if invalid {
        std::process::exit(1);
    }
}

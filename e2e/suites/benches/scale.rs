//! Full-suite wall time and peak memory on the embedded environment with 2, 10 and 50
//! spokes. Figures are printed, not asserted.
//!
//! `cargo bench -p hubspoke-suites --bench scale` — each size runs in a process of its own
//! (so its peak RSS is its own): `hubspoke up --env sim --spokes N` in-process (the hub, N
//! spokes, Argo CD and Kyverno stand-ins, bootstrap, registration), then every check of
//! every suite as `hubspoke test` runs them. Spokes past the release's two are copies of
//! spoke-b (workloads placed by file name go to spoke-a and spoke-b only). Peak RSS is the
//! process's high-water mark (VmHWM). `HUBSPOKE_BENCH_SPOKES=2,10` picks the sizes.

use std::process::Command;
use std::time::Instant;

use hubspoke::progress::Progress;
use hubspoke::suites;

const CHILD: &str = "HUBSPOKE_BENCH_SCALE_CHILD";

/// The process's peak resident set, in MiB (VmHWM of /proc/self/status).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn one(spokes: usize) {
    let started = Instant::now();
    let env = hubspoke_suites::sim(Some(spokes))
        .await
        .unwrap_or_else(|e| panic!("{spokes} spokes: {e}"));
    let up = started.elapsed();
    let mut ctx = hubspoke_suites::context(&env);
    ctx.artifacts = None;
    let checks = suites::all_checks();
    let suite_started = Instant::now();
    let results = suites::run(&ctx, &checks, &Progress::plain()).await;
    let suite = suite_started.elapsed();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("{}/{}: {f}", r.suite, r.name)))
        .collect();
    let slowest = results
        .iter()
        .max_by_key(|r| r.duration)
        .map(|r| format!("{}/{} {:.1}s", r.suite, r.name, r.duration.as_secs_f64()));
    println!(
        "RESULT {}",
        serde_json::json!({
            "spokes": spokes,
            "up_seconds": up.as_secs_f64(),
            "suite_seconds": suite.as_secs_f64(),
            "checks": results.len(),
            "slowest": slowest,
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
        .unwrap_or_else(|| vec![2, 10, 50]);
    let me = std::env::current_exe().expect("the bench binary");
    println!(
        "full suite on sim: every check of every suite, suites concurrently, as `hubspoke test` runs them"
    );
    println!(
        "{:>6} {:>10} {:>11} {:>8} {:>14}  {:<36} failures",
        "spokes", "up", "suites", "checks", "peak RSS", "slowest check"
    );
    // a size that did not run, or ran with failed checks, gives no valid figure: the bench
    // exits non-zero after printing what it has
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
            println!(
                "{n:>6} run failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            continue;
        };
        let failed = r["failed"].as_array().map(Vec::len).unwrap_or(0);
        invalid |= failed > 0;
        println!(
            "{:>6} {:>9.1}s {:>10.1}s {:>8} {:>10.0} MiB  {:<36} {}",
            n,
            r["up_seconds"].as_f64().unwrap_or(f64::NAN),
            r["suite_seconds"].as_f64().unwrap_or(f64::NAN),
            r["checks"],
            r["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
            r["slowest"].as_str().unwrap_or("-"),
            if failed == 0 {
                "none".to_string()
            } else {
                r["failed"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
    }
    if invalid {
        std::process::exit(1);
    }
}

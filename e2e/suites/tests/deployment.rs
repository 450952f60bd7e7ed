//! The deployment suite, one test per check (see the crate's documentation for HUBSPOKE_ENV).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_placed() {
    hubspoke_suites::check("deployment/workloads-placed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_healed() {
    hubspoke_suites::check("deployment/drift-healed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_on_delete() {
    hubspoke_suites::check("deployment/prune-on-delete").await;
}

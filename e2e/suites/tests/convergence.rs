//! The convergence suite, one test per check (see the crate's documentation for HUBSPOKE_ENV).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_healthy() {
    hubspoke_suites::check("convergence/synced-healthy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stable() {
    hubspoke_suites::check("convergence/stable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_under_test() {
    hubspoke_suites::check("convergence/revision-under-test").await;
}

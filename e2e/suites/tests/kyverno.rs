//! The kyverno suite, one test per check (see the crate's documentation for HUBSPOKE_ENV).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_ready() {
    hubspoke_suites::check("kyverno/policies-ready").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforced() {
    hubspoke_suites::check("kyverno/enforced").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited() {
    hubspoke_suites::check("kyverno/audited").await;
}

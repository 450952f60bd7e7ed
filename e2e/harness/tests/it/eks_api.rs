//! DescribeCluster until ACTIVE against recorded EKS API answers (restJson1, as EKS sends
//! them: the cluster object, `x-amzn-ErrorType` on errors) served by a scripted local
//! endpoint: CREATING then ACTIVE, throttling retried, no such cluster and FAILED ending
//! the wait at once, a deadline naming the last status.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::config::{BehaviorVersion, Credentials, Region};
use hubspoke::eks::cluster::wait_active;

/// One recorded answer: status, error type (for errors), body.
struct Answer(u16, Option<&'static str>, String);

fn cluster(status: &str, active: bool) -> Answer {
    let mut c = serde_json::json!({
        "name": "hub",
        "arn": "arn:aws:eks:eu-west-2:123456789012:cluster/hub",
        "createdAt": 1764000000.0,
        "version": "1.33",
        "roleArn": "arn:aws:iam::123456789012:role/hub-cluster",
        "resourcesVpcConfig": {"subnetIds": ["subnet-0a1b"], "endpointPublicAccess": true},
        "status": status,
        "platformVersion": "eks.9",
        "certificateAuthority": {},
        "tags": {"hubspoke.io/run-id": "nightly-42"}
    });
    if active {
        c["endpoint"] = "https://0123456789ABCDEF.gr7.eu-west-2.eks.amazonaws.com".into();
        c["certificateAuthority"] = serde_json::json!({"data": "LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t"});
    }
    Answer(200, None, serde_json::json!({"cluster": c}).to_string())
}

fn throttled() -> Answer {
    Answer(
        429,
        Some("ThrottlingException"),
        r#"{"message":"Rate exceeded"}"#.into(),
    )
}

/// Serves the answers in order (the last one again once they run out); returns the base
/// URL and the request lines seen.
fn endpoint(answers: Vec<Answer>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut i = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut length = 0;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push(request.trim().to_string());
            let Answer(status, error, body) = &answers[i.min(answers.len() - 1)];
            i += 1;
            let error = error
                .map(|e| format!("x-amzn-ErrorType: {e}\r\n"))
                .unwrap_or_default();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-amzn-RequestId: 5e1d\r\n{error}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

fn client(url: &str) -> aws_sdk_eks::Client {
    let conf = aws_sdk_eks::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-2"))
        .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
        .endpoint_url(url)
        // the SDK's own retries: two attempts, quickly
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .build();
    aws_sdk_eks::Client::from_conf(conf)
}

/// A wait for cluster hub expected to fail within `within` (asking every 20 ms): its error.
async fn failed_wait(url: &str, within: Duration) -> String {
    wait_active(&client(url), "hub", within, Duration::from_millis(20), &|_| {})
        .await
        .unwrap_err()
}

#[tokio::test]
async fn creating_then_active_with_throttling_on_the_way() {
    let (url, seen) = endpoint(vec![
        throttled(),
        throttled(),
        cluster("CREATING", false),
        cluster("CREATING", false),
        cluster("ACTIVE", true),
    ]);
    let heard = Mutex::new(Vec::new());
    let c = wait_active(
        &client(&url),
        "hub",
        Duration::from_secs(30),
        Duration::from_millis(20),
        &|s: &str| heard.lock().unwrap().push(s.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(
        c.endpoint,
        "https://0123456789ABCDEF.gr7.eu-west-2.eks.amazonaws.com"
    );
    assert_eq!(c.ca_data, "LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t");
    assert_eq!(c.arn, "arn:aws:eks:eu-west-2:123456789012:cluster/hub");
    assert_eq!(c.version, "1.33");
    // the SDK's two attempts both throttled: the wait retried; then two CREATING answers
    assert_eq!(
        *heard.lock().unwrap(),
        [
            "EKS cluster hub: ThrottlingException",
            "EKS cluster hub: CREATING",
            "EKS cluster hub: CREATING"
        ]
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|r| r == "GET /clusters/hub HTTP/1.1"), "{seen:?}");
}

#[tokio::test]
async fn no_such_cluster_ends_the_wait_at_once() {
    let (url, seen) = endpoint(vec![Answer(
        404,
        Some("ResourceNotFoundException"),
        r#"{"message":"No cluster found for name: hub.","clusterName":"hub"}"#.into(),
    )]);
    let err = failed_wait(&url, Duration::from_secs(30)).await;
    assert_eq!(
        err,
        "EKS cluster hub does not exist (No cluster found for name: hub.); terraform's outputs name it, so check the region and account the credentials point at"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_cluster_says_why() {
    let mut failed = cluster("FAILED", false);
    let mut body: serde_json::Value = serde_json::from_str(&failed.2).unwrap();
    body["cluster"]["health"] = serde_json::json!({"issues": [{"code": "Ec2SubnetNotFound",
        "message": "One or more subnets were not found", "resourceIds": ["subnet-0a1b"]}]});
    failed.2 = body.to_string();
    let (url, _) = endpoint(vec![failed]);
    let err = failed_wait(&url, Duration::from_secs(30)).await;
    assert_eq!(
        err,
        "EKS cluster hub is FAILED (Ec2SubnetNotFound: One or more subnets were not found)"
    );
}

#[tokio::test]
async fn the_deadline_names_the_last_status() {
    let (url, _) = endpoint(vec![cluster("CREATING", false)]);
    let err = failed_wait(&url, Duration::from_millis(300)).await;
    assert_eq!(
        err,
        "EKS cluster hub was not ACTIVE within 300ms; last seen: status CREATING"
    );
}

#[tokio::test]
async fn access_denied_is_not_retried() {
    let (url, seen) = endpoint(vec![Answer(
        403,
        Some("AccessDeniedException"),
        r#"{"message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: eks:DescribeCluster"}"#.into(),
    )]);
    let err = failed_wait(&url, Duration::from_secs(30)).await;
    assert!(
        err.starts_with("EKS cluster hub: DescribeCluster failed: "),
        "{err}"
    );
    assert!(
        err.contains("is not authorized to perform: eks:DescribeCluster"),
        "{err}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

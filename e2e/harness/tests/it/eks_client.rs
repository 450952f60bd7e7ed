//! The kube client of an EKS cluster: every request carries an EKS token made in-process
//! (the same bytes `token()` makes, which eks_token compares with botocore), the token is
//! reused until it is 13 minutes old and then made again from the credentials as they are
//! then (rotated credentials are picked up), and missing credentials fail the request with
//! a message saying so. The API server is a local endpoint that records what it is sent.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::credential_fn::provide_credentials_fn;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use base64::Engine;
use hubspoke::eks::client::{TokenSource, client_with};
use hubspoke::eks::token;
use hubspoke::environment::AwsCluster;

/// Answers every request with a /version body; records each Authorization header.
fn api_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut auth = String::from("<none>");
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("authorization")
                        {
                            auth = v.trim().to_string();
                        }
                    }
                    log.lock().unwrap().push(auth);
                    let body = r#"{"major":"1","minor":"33","gitVersion":"v1.33.5-eks-3025e55","gitCommit":"","gitTreeState":"clean","buildDate":"2026-10-01T00:00:00Z","goVersion":"go1.24","compiler":"gc","platform":"linux/amd64"}"#;
                    let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
        }
    });
    (url, seen)
}

fn cluster(endpoint: &str) -> AwsCluster {
    AwsCluster {
        cluster_name: "spoke".into(),
        region: "eu-west-2".into(),
        account_id: "123456789012".into(),
        endpoint: endpoint.into(),
        ca_data: String::new(),
        role_arn: None,
    }
}

const START: u64 = 1_795_521_600; // 2026-11-24T12:00:00Z

/// A clock the test moves, in seconds since the epoch.
fn clock(at: &Arc<AtomicU64>) -> hubspoke::eks::client::Clock {
    let at = at.clone();
    Arc::new(move || SystemTime::UNIX_EPOCH + Duration::from_secs(at.load(Ordering::SeqCst)))
}

fn presigned(bearer: &str) -> String {
    let token = bearer.strip_prefix("Bearer ").expect(bearer);
    let b64 = token.strip_prefix(token::TOKEN_PREFIX).expect(token);
    String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn requests_carry_an_eks_token_renewed_after_13_minutes_from_current_credentials() {
    let (url, seen) = api_server();
    // credentials that rotate each time they are asked for
    let asked = Arc::new(AtomicUsize::new(0));
    let n = asked.clone();
    let creds = SharedCredentialsProvider::new(provide_credentials_fn(move || {
        let i = n.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok(Credentials::new(
                format!("AKIDROTATED{i}"),
                "secret",
                None,
                None,
                "test",
            ))
        }
    }));
    let now = Arc::new(AtomicU64::new(START));
    let source = TokenSource::new(creds, "eu-west-2", "spoke").with_clock(clock(&now));
    let client = client_with(&cluster(&url), source).await.unwrap();

    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.git_version, "v1.33.5-eks-3025e55");
    now.fetch_add(12 * 60 + 59, Ordering::SeqCst);
    client.apiserver_version().await.unwrap();
    now.fetch_add(1, Ordering::SeqCst); // 13 minutes after the first was signed
    client.apiserver_version().await.unwrap();
    client.apiserver_version().await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    // exactly the token token() makes for those credentials at that time
    let first = Credentials::new("AKIDROTATED0", "secret", None, None, "test");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(START);
    assert_eq!(
        seen[0],
        format!(
            "Bearer {}",
            token::token(&first, "eu-west-2", "spoke", at).unwrap()
        )
    );
    let url0 = presigned(&seen[0]);
    assert!(
        url0.starts_with("https://sts.eu-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"),
        "{url0}"
    );
    assert!(url0.contains("X-Amz-Date=20261124T120000Z"), "{url0}");
    assert!(url0.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"), "{url0}");
    assert!(url0.contains("X-Amz-Credential=AKIDROTATED0%2F20261124%2Feu-west-2%2Fsts%2Faws4_request"));
    // reused while younger than 13 minutes
    assert_eq!(seen[1], seen[0]);
    // then made again, signed now, with the credentials as they are now
    assert_ne!(seen[2], seen[0]);
    let url2 = presigned(&seen[2]);
    assert!(url2.contains("X-Amz-Date=20261124T121300Z"), "{url2}");
    assert!(url2.contains("X-Amz-Credential=AKIDROTATED1%2F"), "{url2}");
    assert_eq!(seen[3], seen[2]);
    assert_eq!(asked.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn without_credentials_a_request_fails_saying_so_and_sends_nothing() {
    let (url, seen) = api_server();
    let creds = SharedCredentialsProvider::new(provide_credentials_fn(|| async {
        Err(CredentialsError::not_loaded(
            "no providers in chain provided credentials",
        ))
    }));
    let client = client_with(&cluster(&url), TokenSource::new(creds, "eu-west-2", "spoke"))
        .await
        .unwrap();
    let e = client.apiserver_version().await.unwrap_err().to_string();
    assert!(
        e.contains("no AWS credentials to make an EKS token for spoke with: the credential provider was not enabled: no providers in chain provided credentials"),
        "{e}"
    );
    assert!(seen.lock().unwrap().is_empty());
}

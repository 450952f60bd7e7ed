//! The in-process EKS token against an independent implementation: botocore's SigV4
//! presigner driven as `aws eks get-token` drives it (tests/support/eks_token_botocore.py,
//! botocore from PyPI through .ci/python-tools), for fixed credentials and a fixed clock,
//! compared byte for byte.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use hubspoke::eks::token;

use crate::support::moto;
use moto::python;

/// botocore's URL and token for the same inputs.
fn botocore(creds: &Credentials, region: &str, cluster: &str, at: SystemTime) -> (String, String) {
    let args = serde_json::json!({
        "access_key": creds.access_key_id(),
        "secret_key": creds.secret_access_key(),
        "session_token": creds.session_token(),
        "region": region,
        "cluster": cluster,
        "time": at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/eks_token_botocore.py");
    let out = Command::new(python())
        .arg(script)
        .arg(args.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
    )
}

#[test]
fn the_token_matches_botocore_byte_for_byte() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    for (creds, region, cluster) in [
        // temporary credentials, as the nightly run's OIDC role gives: the session token
        // (with characters that need escaping) is signed into the URL
        (
            Credentials::new(
                "ASIAEXAMPLEEXAMPLE01",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                Some("FQoGZXIvYXdzE//token+with/slashes=".into()),
                None,
                "test",
            ),
            "eu-west-2",
            "hub",
        ),
        // long-lived keys, another region and cluster
        (
            Credentials::new("AKIDEXAMPLE", "secret/with+plus", None, None, "test"),
            "us-east-1",
            "spoke-a",
        ),
    ] {
        let (url, tok) = botocore(&creds, region, cluster, at);
        assert_eq!(token::presigned_url(&creds, region, cluster, at).unwrap(), url);
        assert_eq!(token::token(&creds, region, cluster, at).unwrap(), tok);
        assert!(tok.starts_with("k8s-aws-v1.") && !tok.ends_with('='));
    }
}

#[test]
fn the_url_signs_the_cluster_header_and_expires_in_a_minute() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let url = token::presigned_url(&creds, "eu-west-2", "hub", at).unwrap();
    assert!(
        url.starts_with("https://sts.eu-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&")
    );
    assert!(url.contains("&X-Amz-Expires=60&"));
    assert!(url.contains("&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&"));
    assert!(url.contains("&X-Amz-Date=20251124T160000Z&"));
    // another cluster, another signature
    let other = token::presigned_url(&creds, "eu-west-2", "spoke", at).unwrap();
    assert_ne!(url, other);
    assert_eq!(token::sts_host("cn-north-1"), "sts.cn-north-1.amazonaws.com.cn");
}

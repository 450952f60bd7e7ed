//! The credentials the README promises (environment, profiles, SSO, credential_process) are
//! the ones `hubspoke` finds: `hubspoke janitor` against moto's EKS with nothing but an AWS
//! profile — one whose credentials come from an external process, and one that signs in
//! through AWS IAM Identity Center (SSO) with a cached token, its portal emulated here as
//! the SSO API documents GetRoleCredentials (GET /federation/credentials, the token in
//! `x-amz-sso_bearer_token`, `roleCredentials` in the answer).

use crate::support::moto;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use moto::Moto;

/// `hubspoke janitor` with only `profile` (from `config`) as credentials, `home` as HOME;
/// the endpoints of moto, and of SSO when given.
fn janitor(m: &Moto, config: &Path, home: &Path, profile: &str, sso: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"));
    cmd.args(["janitor", "--older-than", "0s"])
        .env("HUBSPOKE_PROGRESS", "plain")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_ROLE_ARN")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env("AWS_ENDPOINT_URL", &m.url)
        .env("AWS_REGION", moto::REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PROFILE", profile)
        .env("HOME", home);
    if let Some(url) = sso {
        cmd.env("AWS_ENDPOINT_URL_SSO", url);
    }
    cmd.output().unwrap()
}

fn listed(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_process_profile_is_used() {
    let m = Moto::start();
    m.create_cluster("hub-40", &[("hubspoke.io/run-id", "nightly-40")])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("creds.sh");
    let called = dir.path().join("called");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch {}\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCESS\", \"SecretAccessKey\": \"process-secret\", \"SessionToken\": \"process-token\", \"Expiration\": \"2099-01-01T00:00:00Z\"}}'\n",
            called.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!("[profile ci]\ncredential_process = {}\n", script.display()),
    )
    .unwrap();
    let out = janitor(&m, &config, dir.path(), "ci", None);
    let stdout = listed(&out);
    assert!(called.exists(), "the credential process was not run");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("hub-40") && l.contains("nightly-40")),
        "{stdout}"
    );
    // the secrets the process printed never reach the output
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !all.contains("process-secret") && !all.contains("process-token"),
        "{all}"
    );
}

/// What the emulated SSO portal was asked: request line and the bearer token header.
type Asked = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// An SSO portal answering GetRoleCredentials for role `deploy` of account 111122223333
/// when the bearer token is `cached-sso-token`; 401 otherwise.
fn sso_portal() -> (String, Asked) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked: Asked = Arc::default();
    let seen = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut token = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("x-amz-sso_bearer_token")
                {
                    token = Some(v.trim().to_string());
                }
            }
            let request = request.trim().to_string();
            let ok = request.starts_with("GET /federation/credentials?")
                && request.contains("role_name=deploy")
                && request.contains("account_id=111122223333")
                && token.as_deref() == Some("cached-sso-token");
            seen.lock().unwrap().push((request, token));
            let (status, body) = if ok {
                (
                    "200 OK",
                    r#"{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":"sso-secret","sessionToken":"sso-session","expiration":4070908800000}}"#,
                )
            } else {
                (
                    "401 Unauthorized",
                    r#"{"message":"Session token not found or invalid"}"#,
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nx-amzn-ErrorType: UnauthorizedException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sso_profile_signs_in_with_its_cached_token() {
    let m = Moto::start();
    m.create_cluster("hub-41", &[("hubspoke.io/run-id", "nightly-41")])
        .await;
    let (portal, asked) = sso_portal();
    let dir = tempfile::tempdir().unwrap();
    let start_url = "https://d-1234567890.awsapps.com/start";
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile platform]\nsso_start_url = {start_url}\nsso_region = {}\nsso_account_id = 111122223333\nsso_role_name = deploy\nregion = {}\n",
            moto::REGION,
            moto::REGION
        ),
    )
    .unwrap();
    // `aws sso login` leaves the token in ~/.aws/sso/cache/<sha1 of the start URL>.json
    let cache = dir.path().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let out = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(start_url.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let hash = String::from_utf8(out.stdout).unwrap();
    let hash = hash.split_whitespace().next().unwrap();
    std::fs::write(
        cache.join(format!("{hash}.json")),
        format!(
            "{{\"startUrl\": \"{start_url}\", \"region\": \"{}\", \"accessToken\": \"cached-sso-token\", \"expiresAt\": \"2099-01-01T00:00:00Z\"}}",
            moto::REGION
        ),
    )
    .unwrap();

    let out = janitor(&m, &config, dir.path(), "platform", Some(&portal));
    let stdout = listed(&out);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("hub-41") && l.contains("nightly-41")),
        "{stdout}"
    );
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].0.starts_with("GET /federation/credentials?"),
        "{asked:?}"
    );
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !all.contains("cached-sso-token") && !all.contains("sso-secret") && !all.contains("sso-session"),
        "{all}"
    );

    // without a cached token (not signed in) the run stops before anything, and says why
    std::fs::remove_dir_all(&cache).unwrap();
    let out = janitor(&m, &config, dir.path(), "platform", Some(&portal));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ListClusters failed"), "{stderr}");
}

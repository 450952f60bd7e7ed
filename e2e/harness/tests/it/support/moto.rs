//! The Python tools of the eks tests: a moto server (PyPI, through .ci/python-tools)
//! emulating the AWS APIs on a local port for one test, stopped when dropped; and the
//! virtualenv's python, for botocore.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_eks::config::{BehaviorVersion, Credentials, Region};

pub const REGION: &str = "eu-west-2";

/// The python of .ci/python-tools' virtualenv (botocore and moto from PyPI, pinned).
pub fn python() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join(".ci/python-tools")).output().unwrap();
    assert!(
        out.status.success(),
        ".ci/python-tools failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let python = python();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // serving once it accepts connections (it takes a second or two to import)
        let until = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "the moto server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// An EKS client of the emulator.
    pub fn eks(&self) -> aws_sdk_eks::Client {
        let config = aws_sdk_eks::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_eks::Client::from_conf(config)
    }

    /// The AWS configuration of the emulator, for any service's client.
    pub fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                Credentials::new("testing", "testing", None, None, "test"),
            ))
            .build()
    }

    /// An EC2 client of the emulator (the janitor's own).
    pub fn ec2(&self) -> hubspoke::eks::ec2::Client {
        hubspoke::eks::ec2::Client::new(&self.sdk())
    }

    /// Calls EC2 `action` on the emulator; its answer (panics on an error).
    pub async fn ec2_call(
        &self,
        action: &str,
        params: hubspoke::eks::ec2::Params,
    ) -> hubspoke::eks::ec2::Element {
        self.ec2()
            .call(action, params)
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    /// What a hubspoke process needs in its environment to use the emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    /// Runs python (botocore) with `s3`, a client of the emulator's S3; returns what it
    /// prints.
    pub fn s3(&self, code: &str) -> String {
        let script = format!(
            "import botocore.session\ns3 = botocore.session.get_session().create_client('s3', endpoint_url='{}', region_name='{}', aws_access_key_id='testing', aws_secret_access_key='testing')\n{code}",
            self.url, REGION
        );
        let out = Command::new(python()).args(["-c", &script]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Creates an EKS cluster with these tags (moto makes it ACTIVE at once).
    pub async fn create_cluster(&self, name: &str, tags: &[(&str, &str)]) {
        let mut req = self
            .eks()
            .create_cluster()
            .name(name)
            .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigRequest::builder()
                    .subnet_ids("subnet-0a1b2c")
                    .build(),
            );
        for (k, v) in tags {
            req = req.tags(*k, *v);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("{}", aws_sdk_eks::error::DisplayErrorContext(&e)));
    }

    pub async fn cluster_names(&self) -> Vec<String> {
        let mut names = self
            .eks()
            .list_clusters()
            .send()
            .await
            .unwrap()
            .clusters
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

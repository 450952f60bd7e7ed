//! The janitor's EC2 Query client against independent implementations: botocore's EC2
//! serializer, parser and SigV4 signer (tests/support/ec2_botocore.py, botocore from PyPI
//! through .ci/python-tools) for the same parameters, rules and signature, and moto's
//! server for calls, errors and pages; a local server for the retries.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use hubspoke::eks::ec2::{self, Element, Error, Params};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::moto::{self, Moto, python};

fn botocore(args: Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ec2_botocore.py");
    let out = Command::new(python())
        .arg(script)
        .arg(args.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Parameters as sorted pairs (EC2 does not care about their order; botocore and hubspoke
/// write them in different ones).
fn sorted(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs.into_iter().collect();
    v.sort();
    v
}

fn botocore_pairs(v: &Value) -> Vec<(String, String)> {
    sorted(v.as_array().unwrap().iter().map(|p| {
        (
            p[0].as_str().unwrap().to_string(),
            p[1].as_str().unwrap().to_string(),
        )
    }))
}

fn ours(action: &str, params: &Params) -> Vec<(String, String)> {
    let mut all = vec![
        ("Action".to_string(), action.to_string()),
        ("Version".to_string(), ec2::API_VERSION.to_string()),
    ];
    all.extend(params.pairs().iter().cloned());
    sorted(all)
}

#[test]
fn parameters_are_flattened_as_botocore_flattens_them() {
    let run_tags = [
        ("hubspoke.io/run-id", "nightly-41"),
        ("hubspoke.io/cluster", "hub spoke/a"),
    ];
    for (action, botocore_params, params) in [
        (
            "DescribeAddresses",
            json!({"Filters": [{"Name": "tag-key", "Values": ["hubspoke.io/run-id"]},
                               {"Name": "domain", "Values": ["vpc", "standard"]}]}),
            Params::new()
                .filter("tag-key", ["hubspoke.io/run-id"])
                .filter("domain", ["vpc", "standard"]),
        ),
        (
            "DescribeNatGateways",
            json!({"NatGatewayIds": ["nat-0a", "nat-0b", "nat-0c"]}),
            Params::new().list("NatGatewayId", ["nat-0a", "nat-0b", "nat-0c"]),
        ),
        (
            "DescribeSecurityGroups",
            json!({"GroupIds": ["sg-0a"], "NextToken": "abc/+="}),
            Params::new()
                .list("GroupId", ["sg-0a"])
                .set("NextToken", "abc/+="),
        ),
        (
            "CreateTags",
            json!({"Resources": ["vpc-0a", "subnet-0b"],
                   "Tags": [{"Key": "hubspoke.io/run-id", "Value": "nightly-41"},
                            {"Key": "hubspoke.io/cluster", "Value": "hub spoke/a"}]}),
            Params::new()
                .list("ResourceId", ["vpc-0a", "subnet-0b"])
                .tags(run_tags),
        ),
        (
            "AuthorizeSecurityGroupIngress",
            json!({"GroupId": "sg-0a", "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                 "UserIdGroupPairs": [{"GroupId": "sg-0b"}, {"GroupId": "sg-0c", "Description": "nodes"}]},
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]}),
            Params::new().set("GroupId", "sg-0a").structs(
                "IpPermissions",
                [
                    Params::new()
                        .set("IpProtocol", "tcp")
                        .set("FromPort", "443")
                        .set("ToPort", "443")
                        .structs(
                            "Groups",
                            [
                                Params::new().set("GroupId", "sg-0b"),
                                Params::new().set("GroupId", "sg-0c").set("Description", "nodes"),
                            ],
                        ),
                    Params::new()
                        .set("IpProtocol", "-1")
                        .structs("IpRanges", [Params::new().set("CidrIp", "10.0.0.0/8")]),
                ],
            ),
        ),
    ] {
        let theirs = botocore(json!({"serialize": action, "params": botocore_params}));
        assert_eq!(ours(action, &params), botocore_pairs(&theirs), "{action}");
    }
}

/// DescribeSecurityGroups as EC2 answers it for an EKS cluster's group: the nodes' group
/// and the group itself let in, a peered group by name, and egress anywhere (IPv4, IPv6,
/// a prefix list).
const GROUPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
    <securityGroupInfo>
        <item>
            <ownerId>123456789012</ownerId>
            <groupId>sg-0cluster</groupId>
            <groupName>eks-cluster-sg-hub-nightly-41</groupName>
            <groupDescription>EKS created security group</groupDescription>
            <vpcId>vpc-0abc</vpcId>
            <ipPermissions>
                <item>
                    <ipProtocol>tcp</ipProtocol>
                    <fromPort>443</fromPort>
                    <toPort>443</toPort>
                    <groups>
                        <item>
                            <description>Node groups to cluster API</description>
                            <userId>123456789012</userId>
                            <groupId>sg-0node</groupId>
                        </item>
                        <item>
                            <userId>210987654321</userId>
                            <groupId>sg-0peer</groupId>
                            <vpcId>vpc-0peer</vpcId>
                            <vpcPeeringConnectionId>pcx-0a1b</vpcPeeringConnectionId>
                            <peeringStatus>active</peeringStatus>
                        </item>
                    </groups>
                    <ipRanges/>
                    <ipv6Ranges/>
                    <prefixListIds/>
                </item>
                <item>
                    <ipProtocol>-1</ipProtocol>
                    <groups>
                        <item>
                            <userId>123456789012</userId>
                            <groupId>sg-0cluster</groupId>
                        </item>
                    </groups>
                    <ipRanges/>
                    <ipv6Ranges/>
                    <prefixListIds/>
                </item>
            </ipPermissions>
            <ipPermissionsEgress>
                <item>
                    <ipProtocol>-1</ipProtocol>
                    <groups/>
                    <ipRanges>
                        <item>
                            <cidrIp>0.0.0.0/0</cidrIp>
                            <description>all &amp; everything</description>
                        </item>
                    </ipRanges>
                    <ipv6Ranges>
                        <item>
                            <cidrIpv6>::/0</cidrIpv6>
                        </item>
                    </ipv6Ranges>
                    <prefixListIds>
                        <item>
                            <prefixListId>pl-63a5400a</prefixListId>
                            <description>S3</description>
                        </item>
                    </prefixListIds>
                </item>
                <item>
                    <ipProtocol>udp</ipProtocol>
                    <fromPort>53</fromPort>
                    <toPort>53</toPort>
                    <groups/>
                    <ipRanges>
                        <item>
                            <cidrIp>10.0.0.2/32</cidrIp>
                        </item>
                    </ipRanges>
                    <ipv6Ranges/>
                    <prefixListIds/>
                </item>
            </ipPermissionsEgress>
        </item>
    </securityGroupInfo>
</DescribeSecurityGroupsResponse>"#;

/// The SDK's janitor sent back the rules it had read; botocore doing the same is the
/// reference for what the revokes must carry.
#[test]
fn a_groups_rules_are_revoked_with_what_botocore_reads_from_them() {
    let theirs = botocore(json!({"revoke": GROUPS}));
    let doc = Element::parse(GROUPS.as_bytes()).unwrap();
    let group = doc.items("securityGroupInfo").next().unwrap();
    for (key, action, rules) in [
        ("ingress", "RevokeSecurityGroupIngress", "ipPermissions"),
        ("egress", "RevokeSecurityGroupEgress", "ipPermissionsEgress"),
    ] {
        let params = Params::new()
            .set("GroupId", group.get("groupId").unwrap())
            .structs("IpPermissions", group.items(rules).map(ec2::ip_permission));
        assert_eq!(ours(action, &params), botocore_pairs(&theirs[key]), "{action}");
    }
}

#[test]
fn requests_are_signed_as_botocore_signs_them() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    for (creds, region, url) in [
        // temporary credentials (the nightly's OIDC role): the session token is signed
        (
            Credentials::new(
                "ASIAEXAMPLEEXAMPLE01",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                Some("FQoGZXIvYXdzE//token+with/slashes=".into()),
                None,
                "test",
            ),
            "eu-west-2",
            "https://ec2.eu-west-2.amazonaws.com/",
        ),
        // long-lived keys; an emulator's endpoint with a port
        (
            Credentials::new("AKIDEXAMPLE", "secret/with+plus", None, None, "test"),
            "us-east-1",
            "http://127.0.0.1:5000/",
        ),
    ] {
        let body = ec2::body(
            "RevokeSecurityGroupIngress",
            &Params::new().set("GroupId", "sg-0a").structs(
                "IpPermissions",
                [Params::new()
                    .set("IpProtocol", "tcp")
                    .structs("IpRanges", [Params::new().set("Description", "a b & c")])],
            ),
        );
        let mut req = ec2::request(url, &body).unwrap();
        ec2::sign_request(&mut req, body.as_bytes(), &creds, region, at).unwrap();
        let theirs = botocore(json!({"sign": {
            "url": url, "body": body, "region": region,
            "access_key": creds.access_key_id(), "secret_key": creds.secret_access_key(),
            "session_token": creds.session_token(),
            "time": at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
        }}));
        let ours: BTreeMap<String, String> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let theirs: BTreeMap<String, String> = theirs
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        assert_eq!(ours, theirs, "{url}");
        assert!(ours["authorization"].contains(&format!("/{region}/ec2/aws4_request")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_errors_and_pages_against_moto() {
    let m = Moto::start();
    // the endpoint comes from the SDK configuration, as for the SDK's clients
    let client = ec2::Client::new(&m.sdk());
    let vpc = client
        .call("CreateVpc", Params::new().set("CidrBlock", "10.70.0.0/16"))
        .await
        .unwrap();
    assert_eq!(vpc.name, "CreateVpcResponse");
    let id = vpc.child("vpc").unwrap().get("vpcId").unwrap().to_string();
    client
        .call(
            "CreateTags",
            Params::new()
                .list("ResourceId", [&id])
                .tags([("hubspoke.io/run-id", "nightly-9"), ("Name", "a & b")]),
        )
        .await
        .unwrap();
    let found = client
        .call_all(
            "DescribeVpcs",
            Params::new().filter("tag:hubspoke.io/run-id", ["nightly-9"]),
            "vpcSet",
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get("vpcId"), Some(id.as_str()));
    assert_eq!(found[0].tags()["Name"], "a & b");

    // EC2's error document: the code the janitor decides on, the message it reports
    let e = client
        .call("DeleteVpc", Params::new().set("VpcId", "vpc-0000000000000000f"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidVpcID.NotFound"));
    let Error::Api { message, status, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(message, "VpcID vpc-0000000000000000f does not exist.");
    assert_eq!(*status, 400);
    assert!(
        e.to_string()
            .starts_with("InvalidVpcID.NotFound: VpcID vpc-0000000000000000f does not exist."),
        "{e}"
    );

    // pages: moto pages DescribeInstances' reservations
    let mut reservations = Vec::new();
    for _ in 0..3 {
        let r = client
            .call(
                "RunInstances",
                Params::new()
                    .set("ImageId", "ami-03cf127a")
                    .set("MinCount", "1")
                    .set("MaxCount", "1"),
            )
            .await
            .unwrap();
        reservations.push(r.get("reservationId").unwrap().to_string());
    }
    let pages = client
        .call_all(
            "DescribeInstances",
            Params::new().set("MaxResults", "2"),
            "reservationSet",
        )
        .await
        .unwrap();
    let paged: Vec<&str> = pages.iter().filter_map(|r| r.get("reservationId")).collect();
    assert_eq!(paged, reservations);
    let first = client
        .call("DescribeInstances", Params::new().set("MaxResults", "2"))
        .await
        .unwrap();
    assert_eq!(first.items("reservationSet").count(), 2);
    assert!(first.get("nextToken").is_some());
}

/// A server answering each request with the next of `answers` (status, body); counts them.
async fn answering(answers: Vec<(u16, &'static str)>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            // the request: headers, then Content-Length bytes
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = conn.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let i = count.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answers[i.min(answers.len() - 1)];
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(response.as_bytes()).await.unwrap();
            let _ = conn.shutdown().await;
        }
    });
    (url, seen)
}

/// The configuration of a client of `url` making `attempts` attempts.
fn sdk_with(url: &str, attempts: u32) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(moto::REGION))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            Credentials::new("testing", "testing", None, None, "test"),
        ))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .build()
}

const THROTTLED: &str = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>";
const NO_VPCS: &str = r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-2</requestId><vpcSet/></DescribeVpcsResponse>"#;
const IN_USE: &str = "<Response><Errors><Error><Code>DependencyViolation</Code><Message>The vpc 'vpc-1' has dependencies and cannot be deleted.</Message></Error></Errors><RequestID>r-3</RequestID></Response>";

#[tokio::test]
async fn throttling_and_server_errors_are_retried_within_the_configured_attempts() {
    // throttled, a proxy's 502, then the answer
    let (url, seen) = answering(vec![(503, THROTTLED), (502, "Bad Gateway"), (200, NO_VPCS)]).await;
    let doc = ec2::Client::new(&sdk_with(&url, 3))
        .call("DescribeVpcs", Params::new())
        .await
        .unwrap();
    assert_eq!(doc.name, "DescribeVpcsResponse");
    assert_eq!(seen.load(Ordering::SeqCst), 3);

    // out of attempts: the last error
    let (url, seen) = answering(vec![(503, THROTTLED)]).await;
    let e = ec2::Client::new(&sdk_with(&url, 2))
        .call("DescribeVpcs", Params::new())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "RequestLimitExceeded: Request limit exceeded. (request id r-1)"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);

    // the janitor's own business (a dependency still held) is not retried here
    let (url, seen) = answering(vec![(400, IN_USE), (200, NO_VPCS)]).await;
    let e = ec2::Client::new(&sdk_with(&url, 3))
        .call("DeleteVpc", Params::new().set("VpcId", "vpc-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("DependencyViolation"));
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // nobody listening: the connection failure, after the attempts
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let e = ec2::Client::new(&sdk_with(&closed, 2))
        .call("DescribeVpcs", Params::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), None);
    assert!(
        e.to_string()
            .starts_with(&format!("DescribeVpcs to {closed}/: client error (Connect)")),
        "{e}"
    );
}

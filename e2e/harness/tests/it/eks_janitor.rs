//! The janitor against emulated AWS (moto's server): only clusters tagged by a hubspoke
//! run, older than the margin and past their run's deadline are selected; `--apply` deletes
//! their node groups and then them, and nothing else. The rest of a leaked run (VPC and its
//! parts, NAT gateway, Elastic IP, IAM, KMS, logs) is found by its tags and deleted in
//! dependency order; another run's, or nobody's, stays.

use crate::support::moto;

use std::collections::BTreeMap;
use std::time::Duration;

use hubspoke::eks::ec2::{Element, Params};
use hubspoke::eks::janitor::{self, Pace};
use hubspoke::eks::leftovers;
use hubspoke::progress::Progress;
use jiff::{SignedDuration, Timestamp};
use moto::Moto;

fn at(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap().to_string()
}

/// A cluster of every kind: leaked (with a node group), leaked without a deadline, a run
/// still under way, and a cluster hubspoke never made.
async fn clusters(m: &Moto) -> Timestamp {
    let now = Timestamp::now();
    let ended = at(now + SignedDuration::from_hours(1));
    let later = at(now + SignedDuration::from_hours(10));
    let run =
        |id: &'static str, role: &'static str| vec![("hubspoke.io/run-id", id), ("hubspoke.io/role", role)];
    let mut t = run("nightly-41", "hub");
    t.push(("hubspoke.io/expires-at", &ended));
    m.create_cluster("hub-41", &t).await;
    let mut t = run("nightly-41", "spoke");
    t.push(("hubspoke.io/expires-at", &ended));
    m.create_cluster("spoke-41", &t).await;
    m.eks()
        .create_nodegroup()
        .cluster_name("spoke-41")
        .nodegroup_name("default")
        .node_role("arn:aws:iam::123456789012:role/nodes")
        .subnets("subnet-0a1b2c")
        .send()
        .await
        .unwrap();
    m.create_cluster("hub-manual", &run("manual-alice", "hub")).await;
    let mut t = run("nightly-42", "hub");
    t.push(("hubspoke.io/expires-at", &later));
    m.create_cluster("hub-42", &t).await;
    m.create_cluster("payments", &[("team", "payments")]).await;
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_expired_hubspoke_clusters_are_selected_and_reaped() {
    let m = Moto::start();
    let created = clusters(&m).await;
    let eks = m.eks();
    // seven hours later, with a margin of six
    let now = created + SignedDuration::from_hours(7) + SignedDuration::from_secs(30);
    let found = janitor::survey(&eks, Duration::from_secs(6 * 3600), now)
        .await
        .unwrap();
    let verdicts: Vec<(&str, &str, bool)> = found
        .iter()
        .map(|c| (c.name.as_str(), c.run_id.as_str(), c.leaked))
        .collect();
    let mut sorted = verdicts.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("hub-41", "nightly-41", true),
            ("hub-42", "nightly-42", false),
            ("hub-manual", "manual-alice", true),
            ("spoke-41", "nightly-41", true),
        ]
    );
    let hub42 = found.iter().find(|c| c.name == "hub-42").unwrap();
    assert!(
        hub42.why.starts_with("its run is still under way (until "),
        "{}",
        hub42.why
    );
    let spoke = found.iter().find(|c| c.name == "spoke-41").unwrap();
    assert_eq!(spoke.role, "spoke");
    assert_eq!(spoke.status, "ACTIVE");
    assert!(
        spoke.why.starts_with("7h old; its run ended 6h ago ("),
        "{}",
        spoke.why
    );
    // a margin longer than their age keeps them all
    let young = janitor::survey(&eks, Duration::from_secs(8 * 3600), now)
        .await
        .unwrap();
    assert!(young.iter().all(|c| !c.leaked), "{young:?}");

    // the table says what would happen
    let table = janitor::table(&found, false);
    assert!(table.starts_with("CLUSTER "), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("spoke-41")
            && l.contains("nightly-41")
            && l.contains("leaked (would delete)")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("hub-42") && l.contains(" keep ")),
        "{table}"
    );
    assert!(!table.contains("payments"), "{table}");

    let pace = Pace {
        within: Duration::from_secs(20),
        every: Duration::from_millis(200),
    };
    for c in found.iter().filter(|c| c.leaked) {
        janitor::reap(&eks, &c.name, pace, &Progress::plain())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(m.cluster_names().await, ["hub-42", "payments"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_command_lists_then_deletes_with_apply() {
    let m = Moto::start();
    let now = Timestamp::now();
    let ended = at(now - SignedDuration::from_mins(5));
    m.create_cluster(
        "hub-40",
        &[
            ("hubspoke.io/run-id", "nightly-40"),
            ("hubspoke.io/expires-at", &ended),
        ],
    )
    .await;
    m.create_cluster("payments", &[("team", "payments")]).await;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"));
        cmd.args(args).env("HUBSPOKE_PROGRESS", "plain");
        for (k, v) in m.env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let listed = run(&["janitor", "--older-than", "0s"]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("hub-40") && l.contains("leaked (would delete)")),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("1 leaked cluster(s); delete them with --apply\n"),
        "{stdout}"
    );
    assert_eq!(m.cluster_names().await, ["hub-40", "payments"]);

    let applied = run(&[
        "janitor",
        "--older-than",
        "0s",
        "--apply",
        "--region",
        moto::REGION,
    ]);
    let stdout = String::from_utf8_lossy(&applied.stdout);
    let stderr = String::from_utf8_lossy(&applied.stderr);
    assert!(applied.status.success(), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("hub-40") && l.contains("leaked (delete)")),
        "{stdout}"
    );
    assert!(stderr.contains("deleting EKS cluster hub-40"), "{stderr}");
    assert_eq!(m.cluster_names().await, ["payments"]);

    let bad = run(&["janitor", "--older-than", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("invalid value 'soon' for '--older-than <DURATION>': \"soon\" is not a duration; write e.g. 90m, 6h or 2h30m")
    );
}

/// Tags of a run's resources, as terraform's default tags put them.
fn run_tags(run: &str, expires: &str) -> Vec<(String, String)> {
    vec![
        ("hubspoke.io/run-id".into(), run.into()),
        ("hubspoke.io/expires-at".into(), expires.into()),
        ("hubspoke.io/cluster".into(), "hub".into()),
    ]
}

/// The text at `path` under an EC2 answer (`["vpc", "vpcId"]`).
fn at_path(doc: &Element, path: &[&str]) -> String {
    let mut el = doc;
    for name in path {
        el = el
            .child(name)
            .unwrap_or_else(|| panic!("no {path:?} in {doc:#?}"));
    }
    el.text.clone()
}

/// The values of `field` in the items of `list`, in every page of EC2 `action`.
async fn ec2_ids(m: &Moto, action: &str, params: Params, list: &str, field: &str) -> Vec<String> {
    m.ec2()
        .call_all(action, params, list)
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"))
        .iter()
        .filter_map(|item| item.get(field).map(String::from))
        .collect()
}

fn iam_tags(tags: &[(String, String)]) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .unwrap()
        })
        .collect()
}

/// What terraform/ builds for one cluster of run `run` (its VPC with a subnet, internet
/// and NAT gateway, Elastic IP, route table and two security groups referencing each
/// other; the cluster's IAM role with a managed and an inline policy and an instance
/// profile; the OIDC provider; the KMS key with its alias; a log group), each tagged with
/// the run. Returns the ids: (vpc, subnet, igw, nat, eip allocation, route table, sgs,
/// role, policy arn, oidc arn, key id).
async fn a_runs_network_and_identity(m: &Moto, run: &str, expires: &str) -> BTreeMap<&'static str, String> {
    let sdk = m.sdk();
    let iam = aws_sdk_iam::Client::new(&sdk);
    let (kms, logs) = (
        aws_sdk_kms::Client::new(&sdk),
        aws_sdk_cloudwatchlogs::Client::new(&sdk),
    );
    let tags = run_tags(run, expires);
    let tag = |id: &str| {
        let tags = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        m.ec2_call("CreateTags", Params::new().list("ResourceId", [id]).tags(tags))
    };
    let mut ids = BTreeMap::new();
    let vpc = m
        .ec2_call("CreateVpc", Params::new().set("CidrBlock", "10.90.0.0/16"))
        .await;
    let vpc = at_path(&vpc, &["vpc", "vpcId"]);
    tag(&vpc).await;
    let subnet = m
        .ec2_call(
            "CreateSubnet",
            Params::new().set("VpcId", &vpc).set("CidrBlock", "10.90.0.0/20"),
        )
        .await;
    let subnet = at_path(&subnet, &["subnet", "subnetId"]);
    tag(&subnet).await;
    let igw = m.ec2_call("CreateInternetGateway", Params::new()).await;
    let igw = at_path(&igw, &["internetGateway", "internetGatewayId"]);
    tag(&igw).await;
    m.ec2_call(
        "AttachInternetGateway",
        Params::new().set("InternetGatewayId", &igw).set("VpcId", &vpc),
    )
    .await;
    let eip = m
        .ec2_call("AllocateAddress", Params::new().set("Domain", "vpc"))
        .await;
    let eip = at_path(&eip, &["allocationId"]);
    tag(&eip).await;
    let nat = m
        .ec2_call(
            "CreateNatGateway",
            Params::new().set("SubnetId", &subnet).set("AllocationId", &eip),
        )
        .await;
    let nat = at_path(&nat, &["natGateway", "natGatewayId"]);
    tag(&nat).await;
    let rt = m
        .ec2_call("CreateRouteTable", Params::new().set("VpcId", &vpc))
        .await;
    let rt = at_path(&rt, &["routeTable", "routeTableId"]);
    tag(&rt).await;
    m.ec2_call(
        "AssociateRouteTable",
        Params::new().set("RouteTableId", &rt).set("SubnetId", &subnet),
    )
    .await;
    let mut sgs = Vec::new();
    for name in ["cluster", "node"] {
        let sg = m
            .ec2_call(
                "CreateSecurityGroup",
                Params::new()
                    .set("GroupName", format!("{run}-{name}"))
                    .set("GroupDescription", format!("{name} security group"))
                    .set("VpcId", &vpc),
            )
            .await;
        let sg = at_path(&sg, &["groupId"]);
        tag(&sg).await;
        sgs.push(sg);
    }
    // the cluster's and the nodes' groups let each other in: neither deletes first
    for (a, b) in [(0, 1), (1, 0)] {
        let rule = Params::new()
            .set("IpProtocol", "tcp")
            .set("FromPort", "443")
            .set("ToPort", "443")
            .structs("Groups", [Params::new().set("GroupId", &sgs[b])]);
        m.ec2_call(
            "AuthorizeSecurityGroupIngress",
            Params::new()
                .set("GroupId", &sgs[a])
                .structs("IpPermissions", [rule]),
        )
        .await;
    }
    let role = format!("hub-{run}-cluster");
    iam.create_role()
        .role_name(&role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .set_tags(Some(iam_tags(&tags)))
        .send()
        .await
        .unwrap();
    let policy = iam
        .create_policy()
        .policy_name(format!("hub-{run}-cluster-ClusterEncryption"))
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#)
        .set_tags(Some(iam_tags(&tags)))
        .send()
        .await
        .unwrap();
    let policy = policy.policy().unwrap().arn().unwrap().to_string();
    iam.attach_role_policy()
        .role_name(&role)
        .policy_arn(&policy)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("inline")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:DescribeCluster","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    iam.create_instance_profile()
        .instance_profile_name(format!("hub-{run}-nodes"))
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name(format!("hub-{run}-nodes"))
        .role_name(&role)
        .send()
        .await
        .unwrap();
    let oidc = iam
        .create_open_id_connect_provider()
        .url(format!(
            "https://oidc.eks.eu-west-2.amazonaws.com/id/{}",
            run.to_uppercase()
        ))
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .set_tags(Some(iam_tags(&tags)))
        .send()
        .await
        .unwrap();
    let oidc = oidc.open_id_connect_provider_arn().unwrap().to_string();
    let key = kms
        .create_key()
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| {
                    aws_sdk_kms::types::Tag::builder()
                        .tag_key(k)
                        .tag_value(v)
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap().key_id().to_string();
    kms.create_alias()
        .alias_name(format!("alias/eks/hub-{run}"))
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    logs.create_log_group()
        .log_group_name(format!("/aws/eks/hub-{run}/cluster"))
        .set_tags(Some(tags.iter().cloned().collect()))
        .send()
        .await
        .unwrap();
    for (k, v) in [
        ("vpc", vpc),
        ("subnet", subnet),
        ("igw", igw),
        ("nat", nat),
        ("eip", eip),
        ("rt", rt),
        ("sg-cluster", sgs[0].clone()),
        ("sg-node", sgs[1].clone()),
        ("role", role),
        ("policy", policy),
        ("oidc", oidc),
        ("key", key),
    ] {
        ids.insert(k, v);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_runs_network_identity_key_and_logs_are_reaped_in_dependency_order() {
    let m = Moto::start();
    let now = Timestamp::now();
    let ended = at(now + SignedDuration::from_hours(1));
    let later = at(now + SignedDuration::from_hours(10));
    // run 41 leaked (a cluster and everything around it); run 42 is under way; a VPC and
    // a role of nobody's run
    m.create_cluster(
        "hub-nightly-41",
        &[
            ("hubspoke.io/run-id", "nightly-41"),
            ("hubspoke.io/expires-at", &ended),
        ],
    )
    .await;
    let leaked = a_runs_network_and_identity(&m, "nightly-41", &ended).await;
    let running = a_runs_network_and_identity(&m, "nightly-42", &later).await;
    let sdk = m.sdk();
    let iam = aws_sdk_iam::Client::new(&sdk);
    let theirs = m
        .ec2_call("CreateVpc", Params::new().set("CidrBlock", "10.50.0.0/16"))
        .await;
    let theirs = at_path(&theirs, &["vpc", "vpcId"]);
    iam.create_role()
        .role_name("payments")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();

    // seven hours later, with a margin of six
    let later_now = now + SignedDuration::from_hours(7) + SignedDuration::from_secs(30);
    let clusters = janitor::survey(&m.eks(), Duration::from_secs(6 * 3600), later_now)
        .await
        .unwrap();
    let clients = leftovers::Clients::new(&sdk);
    let mut found = leftovers::find(&clients, true).await.unwrap();
    leftovers::judge_runs(
        &mut found,
        &clusters,
        Duration::from_secs(6 * 3600),
        None,
        later_now,
    );
    let verdict = |id: &str| {
        found
            .iter()
            .find(|l| l.id == id)
            .map(|l| (l.kind, l.run_id.clone(), l.leaked))
            .unwrap_or_else(|| panic!("{id} not found: {found:#?}"))
    };
    use leftovers::Kind::*;
    for (what, kind) in [
        ("vpc", Vpc),
        ("subnet", Subnet),
        ("igw", InternetGateway),
        ("nat", NatGateway),
        ("eip", ElasticIp),
        ("rt", RouteTable),
        ("sg-cluster", SecurityGroup),
        ("sg-node", SecurityGroup),
        ("role", IamRole),
        ("policy", IamPolicy),
        ("oidc", OidcProvider),
        ("key", KmsKey),
    ] {
        assert_eq!(
            verdict(&leaked[what]),
            (kind, "nightly-41".into(), true),
            "{what}"
        );
        assert_eq!(
            verdict(&running[what]),
            (kind, "nightly-42".into(), false),
            "{what}"
        );
    }
    assert_eq!(
        verdict("/aws/eks/hub-nightly-41/cluster"),
        (LogGroup, "nightly-41".into(), true)
    );
    let role42 = found.iter().find(|l| l.id == running["role"]).unwrap();
    assert!(
        role42.why.starts_with("its run is still under way (until "),
        "{}",
        role42.why
    );
    // nothing of nobody's run
    assert!(
        !found.iter().any(|l| l.id == theirs || l.id == "payments"),
        "{found:#?}"
    );
    let table = leftovers::table(&found, false);
    assert!(
        table.lines().any(|l| l.starts_with(&leaked["nat"])
            && l.contains("NAT gateway")
            && l.contains("nightly-41")
            && l.contains("leaked (would delete)")),
        "{table}"
    );

    let pace = Pace {
        within: Duration::from_secs(20),
        every: Duration::from_millis(200),
    };
    for c in clusters.iter().filter(|c| c.leaked) {
        janitor::reap(&m.eks(), &c.name, pace, &Progress::plain())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let failures = leftovers::reap(&clients, &found, pace, &Progress::plain()).await;
    assert!(failures.is_empty(), "{failures:#?}");

    // run 41: nothing left but its KMS key, pending deletion, without its alias
    let vpcs = ec2_ids(&m, "DescribeVpcs", Params::new(), "vpcSet", "vpcId").await;
    assert!(!vpcs.contains(&leaked["vpc"]), "{vpcs:?}");
    assert!(
        vpcs.contains(&running["vpc"]) && vpcs.contains(&theirs),
        "{vpcs:?}"
    );
    let eips = ec2_ids(
        &m,
        "DescribeAddresses",
        Params::new(),
        "addressesSet",
        "allocationId",
    )
    .await;
    assert_eq!(eips, [running["eip"].as_str()]);
    let nat = ec2_ids(
        &m,
        "DescribeNatGateways",
        Params::new().list("NatGatewayId", [&leaked["nat"]]),
        "natGatewaySet",
        "state",
    )
    .await;
    assert_eq!(nat, ["deleted"]);
    let groups = ec2_ids(
        &m,
        "DescribeSecurityGroups",
        Params::new(),
        "securityGroupInfo",
        "groupId",
    )
    .await;
    assert!(!groups.contains(&leaked["sg-cluster"]) && !groups.contains(&leaked["sg-node"]));
    assert!(groups.contains(&running["sg-node"]));
    let roles = iam.list_roles().send().await.unwrap();
    let mut roles: Vec<&str> = roles.roles().iter().map(|r| r.role_name()).collect();
    roles.sort();
    assert_eq!(roles, ["hub-nightly-42-cluster", "payments"]);
    let policies = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    let policies: Vec<&str> = policies.policies().iter().filter_map(|p| p.arn()).collect();
    assert_eq!(policies, [running["policy"].as_str()]);
    let oidc = iam.list_open_id_connect_providers().send().await.unwrap();
    let oidc: Vec<&str> = oidc
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .collect();
    assert_eq!(oidc, [running["oidc"].as_str()]);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms.describe_key().key_id(&leaked["key"]).send().await.unwrap();
    assert_eq!(
        key.key_metadata().unwrap().key_state(),
        Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
    );
    let aliases = kms.list_aliases().send().await.unwrap();
    let aliases: Vec<&str> = aliases.aliases().iter().filter_map(|a| a.alias_name()).collect();
    assert!(
        !aliases.contains(&"alias/eks/hub-nightly-41") && aliases.contains(&"alias/eks/hub-nightly-42"),
        "{aliases:?}"
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let groups = logs.describe_log_groups().send().await.unwrap();
    let groups: Vec<&str> = groups
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .collect();
    assert_eq!(groups, ["/aws/eks/hub-nightly-42/cluster"]);
    assert_eq!(m.cluster_names().await, Vec::<String>::new());

    // a second pass finds run 41's key only, already scheduled: nothing fails
    let mut again = leftovers::find(&clients, true).await.unwrap();
    leftovers::judge_runs(
        &mut again,
        &[],
        Duration::from_secs(6 * 3600),
        Some("nightly-41"),
        later_now,
    );
    let selected: Vec<(leftovers::Kind, &str)> = again
        .iter()
        .filter(|l| l.leaked)
        .map(|l| (l.kind, l.id.as_str()))
        .collect();
    assert_eq!(selected, [(KmsKey, leaked["key"].as_str())]);
    assert!(
        leftovers::reap(&clients, &again, pace, &Progress::plain())
            .await
            .is_empty()
    );
}

/// The nightly's destroy job: `hubspoke janitor --run-id <its run> --apply` takes all of a
/// run that is over, whatever its deadline says, and nothing of another run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_command_reaps_a_named_run_whatever_its_deadline() {
    let m = Moto::start();
    let later = at(Timestamp::now() + SignedDuration::from_hours(10));
    for run in ["nightly-43", "nightly-44"] {
        m.create_cluster(
            &format!("hub-{run}"),
            &[("hubspoke.io/run-id", run), ("hubspoke.io/expires-at", &later)],
        )
        .await;
    }
    let ours = a_runs_network_and_identity(&m, "nightly-43", &later).await;
    let theirs = a_runs_network_and_identity(&m, "nightly-44", &later).await;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubspoke"));
        cmd.args(args).env("HUBSPOKE_PROGRESS", "plain");
        for (k, v) in m.env() {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // both runs are under way: nothing is selected
    let listed = run(&["janitor", "--older-than", "0s"]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{stdout}");
    assert!(!stdout.contains("leaked"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&ours["vpc"]) && l.contains("VPC") && l.contains(" keep ")),
        "{stdout}"
    );

    let reaped = run(&[
        "janitor",
        "--older-than",
        "0s",
        "--run-id",
        "nightly-43",
        "--apply",
    ]);
    let stdout = String::from_utf8_lossy(&reaped.stdout);
    let stderr = String::from_utf8_lossy(&reaped.stderr);
    assert!(reaped.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("nightly-44"), "{stdout}");
    for said in [
        "deleting EKS cluster hub-nightly-43".to_string(),
        format!("deleting NAT gateway {}", ours["nat"]),
        format!("deleting VPC {}", ours["vpc"]),
        "deleting IAM role hub-nightly-43-cluster".to_string(),
        format!("deleting KMS key {}", ours["key"]),
    ] {
        assert!(stderr.contains(&said), "{said}: {stderr}");
    }
    // the VPC went after what it holds
    assert!(
        stderr.find(&format!("deleting subnet {}", ours["subnet"]))
            < stderr.find(&format!("deleting VPC {}", ours["vpc"])),
        "{stderr}"
    );
    assert_eq!(m.cluster_names().await, ["hub-nightly-44"]);
    let sdk = m.sdk();
    let vpcs = ec2_ids(&m, "DescribeVpcs", Params::new(), "vpcSet", "vpcId").await;
    assert!(
        !vpcs.contains(&ours["vpc"]) && vpcs.contains(&theirs["vpc"]),
        "{vpcs:?}"
    );
    let roles = aws_sdk_iam::Client::new(&sdk).list_roles().send().await.unwrap();
    let roles: Vec<&str> = roles.roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(roles, ["hub-nightly-44-cluster"]);

    let bad = run(&["janitor", "--older-than", "0s", "--run-id", "Nightly 43"]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("--run-id: run id \"Nightly 43\": use 1 to 24 lower-case letters"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

//! What a lost run leaves besides its EKS clusters, and how the janitor deletes it.
//!
//! terraform tags everything a run creates with `hubspoke.io/run-id` (the provider's
//! default tags). The janitor finds those resources through the Resource Groups Tagging API
//! (VPCs, subnets, route tables, internet and NAT gateways, security groups, network
//! interfaces, launch templates, KMS keys, log groups; whatever else carries the tag is
//! listed and left to a person), Elastic IPs through EC2's own tag filter as well, and the
//! IAM roles, customer managed policies and OIDC providers through IAM (by their tags).
//!
//! A run's resources are leaked under the same rule as its clusters: older than the margin
//! (the run's age is its oldest EKS cluster or IAM role) and past the run's
//! `hubspoke.io/expires-at`; a run whose age is unknown is leaked once its deadline has
//! passed. `--run-id` names a run that is over: all of it is selected.
//!
//! Deletion follows the dependencies, after the clusters: NAT gateways (waited for), Elastic
//! IPs (disassociated, released), network interfaces, launch templates, internet gateways
//! (detached), subnets, route tables (not the VPC's main one), security groups (their rules
//! revoked first, as the cluster and node groups reference each other; not the VPC's
//! default one), VPCs; IAM roles (instance profiles, attached and inline policies first),
//! policies (detached, old versions deleted), OIDC providers; KMS keys (aliases deleted, the
//! key scheduled for deletion in 7 days, the shortest AWS allows); log groups. A dependency
//! still being released (`DependencyViolation`, an address or interface in use) is retried
//! within the pace; everything else is attempted even when one fails.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata};
use jiff::Timestamp;

use super::ec2::{self, Params};
use super::janitor::{Candidate, EXPIRES_AT_TAG, Pace, RUN_ID_TAG, judge};

/// The clients the janitor needs besides EKS's.
#[derive(Clone, Debug)]
pub struct Clients {
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub ec2: ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Clients {
        Clients {
            tagging: aws_sdk_resourcegroupstagging::Client::new(sdk),
            ec2: ec2::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
        }
    }
}

/// What a leftover is; the order is the order of deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Kind {
    NatGateway,
    ElasticIp,
    NetworkInterface,
    LaunchTemplate,
    InternetGateway,
    Subnet,
    RouteTable,
    SecurityGroup,
    Vpc,
    IamRole,
    IamPolicy,
    OidcProvider,
    KmsKey,
    LogGroup,
    /// Tagged by a run, but nothing the janitor deletes: listed for a person.
    Other,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::NatGateway => "NAT gateway",
            Kind::ElasticIp => "Elastic IP",
            Kind::NetworkInterface => "network interface",
            Kind::LaunchTemplate => "launch template",
            Kind::InternetGateway => "internet gateway",
            Kind::Subnet => "subnet",
            Kind::RouteTable => "route table",
            Kind::SecurityGroup => "security group",
            Kind::Vpc => "VPC",
            Kind::IamRole => "IAM role",
            Kind::IamPolicy => "IAM policy",
            Kind::OidcProvider => "OIDC provider",
            Kind::KmsKey => "KMS key",
            Kind::LogGroup => "log group",
            Kind::Other => "other",
        }
    }
}

/// One resource a run tagged, and the verdict on it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Leftover {
    pub kind: Kind,
    /// What its API calls it: an id (vpc-…, eipalloc-…), a name (IAM role, log group) or
    /// an ARN (IAM policy, OIDC provider, anything of kind Other).
    pub id: String,
    pub run_id: String,
    /// Its `hubspoke.io/expires-at` tag (empty when the run had no deadline).
    #[serde(skip)]
    pub expires: String,
    /// When it was created, where its API says (IAM roles).
    pub created_at: Option<Timestamp>,
    pub leaked: bool,
    pub why: String,
}

fn tag<'a>(tags: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    tags.get(key).map(String::as_str).unwrap_or_default()
}

/// The kind and id of a resource from its ARN (`arn:aws:ec2:eu-west-2:123:vpc/vpc-0ab`).
pub fn classify(arn: &str) -> (Kind, String) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let (service, resource) = match parts.as_slice() {
        [_, _, service, _, _, resource] => (*service, *resource),
        _ => return (Kind::Other, arn.to_string()),
    };
    let (kind, id) = match (service, resource.split_once('/')) {
        ("ec2", Some(("natgateway", id))) => (Kind::NatGateway, id),
        ("ec2", Some(("elastic-ip", id))) => (Kind::ElasticIp, id),
        ("ec2", Some(("network-interface", id))) => (Kind::NetworkInterface, id),
        ("ec2", Some(("launch-template", id))) => (Kind::LaunchTemplate, id),
        ("ec2", Some(("internet-gateway", id))) => (Kind::InternetGateway, id),
        ("ec2", Some(("subnet", id))) => (Kind::Subnet, id),
        ("ec2", Some(("route-table", id))) => (Kind::RouteTable, id),
        ("ec2", Some(("security-group", id))) => (Kind::SecurityGroup, id),
        ("ec2", Some(("vpc", id))) => (Kind::Vpc, id),
        ("kms", Some(("key", id))) => (Kind::KmsKey, id),
        ("logs", _) if resource.starts_with("log-group:") => {
            let name = resource.trim_start_matches("log-group:");
            (Kind::LogGroup, name.strip_suffix(":*").unwrap_or(name))
        }
        _ => (Kind::Other, arn),
    };
    (kind, id.to_string())
}

/// What the janitor needs of an API's error: its code, and how to report it.
trait ApiError {
    fn code(&self) -> &str;
    fn report(&self) -> String;
}

/// The SDK clients' errors (IAM, KMS, logs, tagging).
impl<E: ProvideErrorMetadata + std::error::Error + 'static> ApiError for E {
    fn code(&self) -> &str {
        ProvideErrorMetadata::code(self).unwrap_or_default()
    }
    fn report(&self) -> String {
        DisplayErrorContext(self).to_string()
    }
}

impl ApiError for ec2::Error {
    fn code(&self) -> &str {
        ec2::Error::code(self).unwrap_or_default()
    }
    fn report(&self) -> String {
        self.to_string()
    }
}

fn failed(what: &str, e: &impl ApiError) -> String {
    format!("{what} failed: {}", e.report())
}

/// Everything tagged `hubspoke.io/run-id` in the clients' region (IAM, which is global,
/// only when `with_iam`), not judged yet.
pub async fn find(c: &Clients, with_iam: bool) -> Result<Vec<Leftover>, String> {
    type Found = BTreeMap<(Kind, String), Leftover>;
    fn add(
        found: &mut Found,
        kind: Kind,
        id: String,
        tags: &BTreeMap<String, String>,
        created_at: Option<Timestamp>,
    ) {
        let run_id = tag(tags, RUN_ID_TAG).to_string();
        if run_id.is_empty() {
            return;
        }
        found.entry((kind, id.clone())).or_insert(Leftover {
            kind,
            id,
            run_id,
            expires: tag(tags, EXPIRES_AT_TAG).to_string(),
            created_at,
            leaked: false,
            why: String::new(),
        });
    }
    let mut found = Found::new();

    let mut token: Option<String> = None;
    loop {
        let out = c
            .tagging
            .get_resources()
            .tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                    .key(RUN_ID_TAG)
                    .build(),
            )
            .set_pagination_token(token.take())
            .send()
            .await
            .map_err(|e| failed("GetResources (Resource Groups Tagging API)", &e))?;
        for r in out.resource_tag_mapping_list() {
            let Some(arn) = r.resource_arn() else { continue };
            let tags: BTreeMap<String, String> = r
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            // clusters are the EKS survey's; IAM is listed through IAM below
            let service = arn.split(':').nth(2).unwrap_or_default();
            if service == "eks" || service == "iam" {
                continue;
            }
            let (kind, id) = classify(arn);
            add(&mut found, kind, id, &tags, None);
        }
        match out.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }

    // a deleted NAT gateway stays visible (state deleted) for a while: nothing left to do
    let nats: Vec<String> = found
        .keys()
        .filter(|(k, _)| *k == Kind::NatGateway)
        .map(|(_, id)| id.clone())
        .collect();
    if !nats.is_empty() {
        let params = Params::new().list("NatGatewayId", nats);
        let out = c
            .ec2
            .call_all("DescribeNatGateways", params, "natGatewaySet")
            .await
            .map_err(|e| failed("DescribeNatGateways", &e))?;
        for n in &out {
            if n.get("state") == Some("deleted")
                && let Some(id) = n.get("natGatewayId")
            {
                found.remove(&(Kind::NatGateway, id.to_string()));
            }
        }
    }

    // Elastic IPs by EC2's own tag filter too (not every tagging API lists them)
    let addresses = c
        .ec2
        .call("DescribeAddresses", Params::new().filter("tag-key", [RUN_ID_TAG]))
        .await
        .map_err(|e| failed("DescribeAddresses", &e))?;
    for a in addresses.items("addressesSet") {
        let Some(id) = a.get("allocationId") else { continue };
        add(&mut found, Kind::ElasticIp, id.to_string(), &a.tags(), None);
    }

    if with_iam {
        let iam_tags = |tags: &[aws_sdk_iam::types::Tag]| -> BTreeMap<String, String> {
            tags.iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()
        };
        let mut marker: Option<String> = None;
        loop {
            let out = c
                .iam
                .list_roles()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| failed("ListRoles", &e))?;
            for role in out.roles() {
                let name = role.role_name();
                let tags = c
                    .iam
                    .list_role_tags()
                    .role_name(name)
                    .send()
                    .await
                    .map_err(|e| failed(&format!("ListRoleTags {name}"), &e))?;
                let created = Timestamp::from_second(role.create_date().secs()).ok();
                add(
                    &mut found,
                    Kind::IamRole,
                    name.to_string(),
                    &iam_tags(tags.tags()),
                    created,
                );
            }
            match (out.is_truncated(), out.marker()) {
                (true, Some(m)) => marker = Some(m.to_string()),
                _ => break,
            }
        }
        let mut marker: Option<String> = None;
        loop {
            let out = c
                .iam
                .list_policies()
                .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| failed("ListPolicies", &e))?;
            for p in out.policies() {
                let Some(arn) = p.arn() else { continue };
                let tags = c
                    .iam
                    .list_policy_tags()
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| failed(&format!("ListPolicyTags {arn}"), &e))?;
                let created = p
                    .create_date()
                    .and_then(|d| Timestamp::from_second(d.secs()).ok());
                add(
                    &mut found,
                    Kind::IamPolicy,
                    arn.to_string(),
                    &iam_tags(tags.tags()),
                    created,
                );
            }
            match (out.is_truncated(), out.marker()) {
                (true, Some(m)) => marker = Some(m.to_string()),
                _ => break,
            }
        }
        let providers = c
            .iam
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| failed("ListOpenIDConnectProviders", &e))?;
        for p in providers.open_id_connect_provider_list() {
            let Some(arn) = p.arn() else { continue };
            let tags = c
                .iam
                .list_open_id_connect_provider_tags()
                .open_id_connect_provider_arn(arn)
                .send()
                .await
                .map_err(|e| failed(&format!("ListOpenIDConnectProviderTags {arn}"), &e))?;
            add(
                &mut found,
                Kind::OidcProvider,
                arn.to_string(),
                &iam_tags(tags.tags()),
                None,
            );
        }
    }
    Ok(found.into_values().collect())
}

/// Judges `leftovers` run by run: a run's age is its oldest cluster (from `clusters`) or
/// IAM resource; `only_run` (`--run-id`) selects that run, over by the caller's word.
pub fn judge_runs(
    leftovers: &mut [Leftover],
    clusters: &[Candidate],
    older_than: Duration,
    only_run: Option<&str>,
    now: Timestamp,
) {
    let mut born: BTreeMap<&str, Timestamp> = BTreeMap::new();
    let mut expires: BTreeMap<String, String> = BTreeMap::new();
    for c in clusters {
        if let Some(at) = c.created_at {
            let e = born.entry(c.run_id.as_str()).or_insert(at);
            *e = (*e).min(at);
        }
        if let Some(at) = c.expires_at {
            expires.entry(c.run_id.clone()).or_insert(at.to_string());
        }
    }
    let mut run_born: BTreeMap<String, Timestamp> =
        born.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for l in leftovers.iter() {
        if let Some(at) = l.created_at {
            let e = run_born.entry(l.run_id.clone()).or_insert(at);
            *e = (*e).min(at);
        }
        if !l.expires.is_empty() {
            expires.entry(l.run_id.clone()).or_insert(l.expires.clone());
        }
    }
    for l in leftovers.iter_mut() {
        if let Some(run) = only_run {
            l.leaked = l.run_id == run;
            l.why = if l.leaked {
                "its run was named with --run-id".into()
            } else {
                format!("not of run {run}")
            };
            continue;
        }
        let deadline = expires.get(&l.run_id).cloned().unwrap_or_default();
        match run_born.get(&l.run_id) {
            Some(born) => {
                let (leaked, _, why) = judge(Some(*born), &deadline, older_than, now);
                l.leaked = leaked;
                l.why = why;
            }
            None => match deadline.parse::<Timestamp>() {
                Ok(at) if at <= now => {
                    l.leaked = true;
                    l.why = format!("its run ended at {at}");
                }
                Ok(at) => {
                    l.leaked = false;
                    l.why = format!("its run is still under way (until {at})");
                }
                Err(_) => {
                    l.leaked = false;
                    l.why =
                        "its run's age and deadline are unknown; left alone (name it with --run-id)".into();
                }
            },
        }
    }
}

fn is_gone(code: &str) -> bool {
    code.ends_with("NotFound")
        || code.ends_with(".NotFound")
        || matches!(
            code,
            "NoSuchEntity" | "NotFoundException" | "ResourceNotFoundException"
        )
}

/// Codes meaning "still held by something being deleted": retried within the pace.
fn is_busy(code: &str) -> bool {
    matches!(
        code,
        "DependencyViolation" | "InvalidIPAddress.InUse" | "InvalidNetworkInterface.InUse" | "DeleteConflict"
    )
}

/// Calls `f` until it succeeds (`Some`), the thing is gone (`None`), or it fails for good;
/// busy answers are retried within `pace.within`.
async fn call<T, E, F, Fut>(what: &str, pace: Pace, mut f: F) -> Result<Option<T>, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: ApiError,
{
    let deadline = tokio::time::Instant::now() + pace.within;
    loop {
        match f().await {
            Ok(t) => return Ok(Some(t)),
            Err(e) if is_gone(e.code()) => return Ok(None),
            Err(e) if is_busy(e.code()) && tokio::time::Instant::now() + pace.every <= deadline => {
                tokio::time::sleep(pace.every).await;
            }
            Err(e) => return Err(failed(what, &e)),
        }
    }
}

/// Deletes one leftover; says what it did.
pub async fn delete(c: &Clients, l: &Leftover, pace: Pace) -> Result<String, String> {
    let id = l.id.as_str();
    let done = |s: &str| Ok(s.to_string());
    match l.kind {
        Kind::NatGateway => {
            call(&format!("DeleteNatGateway {id}"), pace, || {
                c.ec2
                    .call("DeleteNatGateway", Params::new().set("NatGatewayId", id))
            })
            .await?;
            let deadline = tokio::time::Instant::now() + pace.within;
            loop {
                let out = call(&format!("DescribeNatGateways {id}"), pace, || {
                    c.ec2
                        .call("DescribeNatGateways", Params::new().list("NatGatewayId", [id]))
                })
                .await?;
                let state = out
                    .as_ref()
                    .and_then(|o| o.items("natGatewaySet").next())
                    .and_then(|n| n.get("state"));
                let Some(state) = state.filter(|s| *s != "deleted") else {
                    return done("deleted");
                };
                if tokio::time::Instant::now() + pace.every > deadline {
                    return Err(format!(
                        "NAT gateway {id} was still {state} after {:?}",
                        pace.within
                    ));
                }
                tokio::time::sleep(pace.every).await;
            }
        }
        Kind::ElasticIp => {
            let out = call(&format!("DescribeAddresses {id}"), pace, || {
                c.ec2
                    .call("DescribeAddresses", Params::new().list("AllocationId", [id]))
            })
            .await?;
            let association = out
                .as_ref()
                .and_then(|o| o.items("addressesSet").next())
                .and_then(|a| a.get("associationId").map(String::from));
            if let Some(assoc) = association {
                call(&format!("DisassociateAddress {assoc}"), pace, || {
                    c.ec2
                        .call("DisassociateAddress", Params::new().set("AssociationId", &assoc))
                })
                .await?;
            }
            call(&format!("ReleaseAddress {id}"), pace, || {
                c.ec2
                    .call("ReleaseAddress", Params::new().set("AllocationId", id))
            })
            .await?;
            done("released")
        }
        Kind::NetworkInterface => {
            call(&format!("DeleteNetworkInterface {id}"), pace, || {
                c.ec2.call(
                    "DeleteNetworkInterface",
                    Params::new().set("NetworkInterfaceId", id),
                )
            })
            .await?;
            done("deleted")
        }
        Kind::LaunchTemplate => {
            call(&format!("DeleteLaunchTemplate {id}"), pace, || {
                c.ec2
                    .call("DeleteLaunchTemplate", Params::new().set("LaunchTemplateId", id))
            })
            .await?;
            done("deleted")
        }
        Kind::InternetGateway => {
            let out = call(&format!("DescribeInternetGateways {id}"), pace, || {
                c.ec2.call(
                    "DescribeInternetGateways",
                    Params::new().list("InternetGatewayId", [id]),
                )
            })
            .await?;
            let vpcs: Vec<String> = out
                .as_ref()
                .and_then(|o| o.items("internetGatewaySet").next())
                .map(|g| {
                    g.items("attachmentSet")
                        .filter_map(|a| a.get("vpcId").map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            for vpc in &vpcs {
                call(&format!("DetachInternetGateway {id} from {vpc}"), pace, || {
                    c.ec2.call(
                        "DetachInternetGateway",
                        Params::new().set("InternetGatewayId", id).set("VpcId", vpc),
                    )
                })
                .await?;
            }
            call(&format!("DeleteInternetGateway {id}"), pace, || {
                c.ec2.call(
                    "DeleteInternetGateway",
                    Params::new().set("InternetGatewayId", id),
                )
            })
            .await?;
            done(&if vpcs.is_empty() {
                "deleted".to_string()
            } else {
                format!("detached from {}, deleted", vpcs.join(", "))
            })
        }
        Kind::Subnet => {
            call(&format!("DeleteSubnet {id}"), pace, || {
                c.ec2.call("DeleteSubnet", Params::new().set("SubnetId", id))
            })
            .await?;
            done("deleted")
        }
        Kind::RouteTable => {
            let out = call(&format!("DescribeRouteTables {id}"), pace, || {
                c.ec2
                    .call("DescribeRouteTables", Params::new().list("RouteTableId", [id]))
            })
            .await?;
            let Some(table) = out.as_ref().and_then(|o| o.items("routeTableSet").next()) else {
                return done("already gone");
            };
            if table
                .items("associationSet")
                .any(|a| a.get("main") == Some("true"))
            {
                return done("the VPC's main route table: deleted with the VPC");
            }
            for a in table.items("associationSet") {
                if let Some(assoc) = a.get("routeTableAssociationId") {
                    call(&format!("DisassociateRouteTable {assoc}"), pace, || {
                        c.ec2.call(
                            "DisassociateRouteTable",
                            Params::new().set("AssociationId", assoc),
                        )
                    })
                    .await?;
                }
            }
            call(&format!("DeleteRouteTable {id}"), pace, || {
                c.ec2
                    .call("DeleteRouteTable", Params::new().set("RouteTableId", id))
            })
            .await?;
            done("deleted")
        }
        Kind::SecurityGroup => {
            let out = call(&format!("DescribeSecurityGroups {id}"), pace, || {
                c.ec2
                    .call("DescribeSecurityGroups", Params::new().list("GroupId", [id]))
            })
            .await?;
            let Some(group) = out.as_ref().and_then(|o| o.items("securityGroupInfo").next()) else {
                return done("already gone");
            };
            if group.get("groupName") == Some("default") {
                return done("the VPC's default security group: deleted with the VPC");
            }
            // groups referencing each other cannot be deleted: their rules go first
            for (action, rules) in [
                ("RevokeSecurityGroupIngress", "ipPermissions"),
                ("RevokeSecurityGroupEgress", "ipPermissionsEgress"),
            ] {
                let permissions: Vec<Params> = group.items(rules).map(ec2::ip_permission).collect();
                if permissions.is_empty() {
                    continue;
                }
                call(&format!("{action} {id}"), pace, || {
                    c.ec2.call(
                        action,
                        Params::new()
                            .set("GroupId", id)
                            .structs("IpPermissions", permissions.clone()),
                    )
                })
                .await?;
            }
            call(&format!("DeleteSecurityGroup {id}"), pace, || {
                c.ec2
                    .call("DeleteSecurityGroup", Params::new().set("GroupId", id))
            })
            .await?;
            done("rules revoked, deleted")
        }
        Kind::Vpc => {
            call(&format!("DeleteVpc {id}"), pace, || {
                c.ec2.call("DeleteVpc", Params::new().set("VpcId", id))
            })
            .await?;
            done("deleted")
        }
        Kind::IamRole => {
            let profiles = call(&format!("ListInstanceProfilesForRole {id}"), pace, || {
                c.iam.list_instance_profiles_for_role().role_name(id).send()
            })
            .await?;
            for p in profiles
                .as_ref()
                .map(|o| o.instance_profiles())
                .unwrap_or_default()
            {
                let name = p.instance_profile_name();
                call(&format!("RemoveRoleFromInstanceProfile {name}"), pace, || {
                    c.iam
                        .remove_role_from_instance_profile()
                        .instance_profile_name(name)
                        .role_name(id)
                        .send()
                })
                .await?;
                call(&format!("DeleteInstanceProfile {name}"), pace, || {
                    c.iam.delete_instance_profile().instance_profile_name(name).send()
                })
                .await?;
            }
            let attached = call(&format!("ListAttachedRolePolicies {id}"), pace, || {
                c.iam.list_attached_role_policies().role_name(id).send()
            })
            .await?;
            for p in attached
                .as_ref()
                .map(|o| o.attached_policies())
                .unwrap_or_default()
            {
                let Some(arn) = p.policy_arn() else { continue };
                call(&format!("DetachRolePolicy {arn} from {id}"), pace, || {
                    c.iam.detach_role_policy().role_name(id).policy_arn(arn).send()
                })
                .await?;
            }
            let inline = call(&format!("ListRolePolicies {id}"), pace, || {
                c.iam.list_role_policies().role_name(id).send()
            })
            .await?;
            for name in inline.as_ref().map(|o| o.policy_names()).unwrap_or_default() {
                call(&format!("DeleteRolePolicy {name} of {id}"), pace, || {
                    c.iam.delete_role_policy().role_name(id).policy_name(name).send()
                })
                .await?;
            }
            call(&format!("DeleteRole {id}"), pace, || {
                c.iam.delete_role().role_name(id).send()
            })
            .await?;
            done("policies detached, deleted")
        }
        Kind::IamPolicy => {
            let entities = call(&format!("ListEntitiesForPolicy {id}"), pace, || {
                c.iam.list_entities_for_policy().policy_arn(id).send()
            })
            .await?;
            if let Some(e) = entities.as_ref() {
                for r in e.policy_roles() {
                    let Some(role) = r.role_name() else { continue };
                    call(&format!("DetachRolePolicy {id} from {role}"), pace, || {
                        c.iam.detach_role_policy().role_name(role).policy_arn(id).send()
                    })
                    .await?;
                }
                for u in e.policy_users() {
                    let Some(user) = u.user_name() else { continue };
                    call(&format!("DetachUserPolicy {id} from {user}"), pace, || {
                        c.iam.detach_user_policy().user_name(user).policy_arn(id).send()
                    })
                    .await?;
                }
                for g in e.policy_groups() {
                    let Some(group) = g.group_name() else { continue };
                    call(&format!("DetachGroupPolicy {id} from {group}"), pace, || {
                        c.iam
                            .detach_group_policy()
                            .group_name(group)
                            .policy_arn(id)
                            .send()
                    })
                    .await?;
                }
            }
            let versions = call(&format!("ListPolicyVersions {id}"), pace, || {
                c.iam.list_policy_versions().policy_arn(id).send()
            })
            .await?;
            for v in versions.as_ref().map(|o| o.versions()).unwrap_or_default() {
                if v.is_default_version() {
                    continue;
                }
                let Some(version) = v.version_id() else { continue };
                call(&format!("DeletePolicyVersion {version} of {id}"), pace, || {
                    c.iam
                        .delete_policy_version()
                        .policy_arn(id)
                        .version_id(version)
                        .send()
                })
                .await?;
            }
            call(&format!("DeletePolicy {id}"), pace, || {
                c.iam.delete_policy().policy_arn(id).send()
            })
            .await?;
            done("detached, deleted")
        }
        Kind::OidcProvider => {
            call(&format!("DeleteOpenIDConnectProvider {id}"), pace, || {
                c.iam
                    .delete_open_id_connect_provider()
                    .open_id_connect_provider_arn(id)
                    .send()
            })
            .await?;
            done("deleted")
        }
        Kind::KmsKey => {
            let key = call(&format!("DescribeKey {id}"), pace, || {
                c.kms.describe_key().key_id(id).send()
            })
            .await?;
            let meta = key.as_ref().and_then(|k| k.key_metadata());
            if meta.is_none() {
                return done("already gone");
            }
            if meta.and_then(|m| m.key_state()) == Some(&aws_sdk_kms::types::KeyState::PendingDeletion) {
                return done("already scheduled for deletion");
            }
            let aliases = call(&format!("ListAliases of {id}"), pace, || {
                c.kms.list_aliases().key_id(id).send()
            })
            .await?;
            let names: Vec<String> = aliases
                .as_ref()
                .map(|a| {
                    a.aliases()
                        .iter()
                        .filter_map(|a| a.alias_name().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            for name in &names {
                call(&format!("DeleteAlias {name}"), pace, || {
                    c.kms.delete_alias().alias_name(name).send()
                })
                .await?;
            }
            call(&format!("ScheduleKeyDeletion {id}"), pace, || {
                c.kms
                    .schedule_key_deletion()
                    .key_id(id)
                    .pending_window_in_days(7)
                    .send()
            })
            .await?;
            done(&if names.is_empty() {
                "scheduled for deletion in 7 days".to_string()
            } else {
                format!("{} deleted, scheduled for deletion in 7 days", names.join(", "))
            })
        }
        Kind::LogGroup => {
            call(&format!("DeleteLogGroup {id}"), pace, || {
                c.logs.delete_log_group().log_group_name(id).send()
            })
            .await?;
            done("deleted")
        }
        Kind::Other => Err(format!(
            "{id}: tagged {RUN_ID_TAG}={} but not a kind the janitor deletes; delete it by hand",
            l.run_id
        )),
    }
}

/// Deletes every leaked leftover in dependency order, each attempted even when another
/// fails; returns the failures.
pub async fn reap(
    c: &Clients,
    leftovers: &[Leftover],
    pace: Pace,
    progress: &crate::progress::Progress,
) -> Vec<String> {
    let mut todo: Vec<&Leftover> = leftovers.iter().filter(|l| l.leaked).collect();
    todo.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for l in todo {
        if !seen.insert((l.kind, l.id.clone())) {
            continue;
        }
        let step = progress.step(format!("deleting {} {}", l.kind.label(), l.id));
        match delete(c, l, pace).await {
            Ok(said) => step.done(&said),
            Err(e) => {
                step.fail(&e);
                failures.push(format!("{} {} (run {}): {e}", l.kind.label(), l.id, l.run_id));
            }
        }
    }
    failures
}

/// The table `hubspoke janitor` prints after the clusters'.
pub fn table(found: &[Leftover], apply: bool) -> String {
    if found.is_empty() {
        return "no other resources tagged by hubspoke runs\n".into();
    }
    let mut sorted: Vec<&Leftover> = found.iter().collect();
    sorted.sort_by(|a, b| (&a.run_id, a.kind, &a.id).cmp(&(&b.run_id, b.kind, &b.id)));
    let rows: Vec<[String; 5]> = sorted
        .iter()
        .map(|l| {
            [
                l.id.clone(),
                l.kind.label().to_string(),
                l.run_id.clone(),
                match (l.leaked, apply) {
                    (false, _) => "keep".into(),
                    (true, false) => "leaked (would delete)".into(),
                    (true, true) => "leaked (delete)".into(),
                },
                l.why.clone(),
            ]
        })
        .collect();
    crate::up::render(["RESOURCE", "KIND", "RUN", "VERDICT", "WHY"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_kind() {
        assert_eq!(
            classify("arn:aws:ec2:eu-west-2:123456789012:natgateway/nat-0abc"),
            (Kind::NatGateway, "nat-0abc".into())
        );
        assert_eq!(
            classify("arn:aws:ec2:eu-west-2:123456789012:elastic-ip/eipalloc-0abc"),
            (Kind::ElasticIp, "eipalloc-0abc".into())
        );
        assert_eq!(
            classify("arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab"),
            (Kind::KmsKey, "1234abcd-12ab".into())
        );
        assert_eq!(
            classify("arn:aws:logs:eu-west-2:123456789012:log-group:/aws/eks/hub-nightly-7/cluster:*"),
            (Kind::LogGroup, "/aws/eks/hub-nightly-7/cluster".into())
        );
        assert_eq!(
            classify("arn:aws:logs:eu-west-2:123456789012:log-group:/aws/eks/hub/cluster"),
            (Kind::LogGroup, "/aws/eks/hub/cluster".into())
        );
        assert_eq!(
            classify("arn:aws:s3:::some-bucket"),
            (Kind::Other, "arn:aws:s3:::some-bucket".into())
        );
        assert!(
            Kind::NatGateway < Kind::ElasticIp
                && Kind::SecurityGroup < Kind::Vpc
                && Kind::IamRole < Kind::IamPolicy
        );
    }
}

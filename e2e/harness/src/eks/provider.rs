//! The `eks` provider: terraform builds the hub and the spokes (one workspace each, see
//! [`crate::terraform`]), the EKS API confirms each cluster is ACTIVE, and terraform's
//! outputs become the environment: the endpoint and CA for this process's clients (EKS
//! tokens made in-process), and for the hub's cluster Secrets the endpoint, the CA and the
//! spoke role the hub's Argo CD assumes (`awsAuthConfig`). Nobody copies an endpoint or a
//! role ARN by hand.
//!
//! Whatever fails after terraform applied (a cluster never ACTIVE, an interrupt, no
//! credentials) destroys what was applied unless `--keep`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde_json::json;

use crate::definition::ClusterDefinition;
use crate::environment::{
    AwsCluster, Cluster, Environment, IN_CLUSTER, ProviderKind, Role, role_of, write_private,
};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::providers::UpPlan;
use crate::terraform::{self, Module, Outputs, Stop, Workspace};
use crate::up::EksOptions;

/// The kubeconfig context of an EKS cluster.
pub fn context_name(cluster: &str) -> String {
    format!("eks-{cluster}")
}

/// The terraform plan for `plan`'s clusters: the hub's workspace, then the spokes', each
/// with `variables/<cluster>.tfvars` of the module and its own `TF_DATA_DIR`.
pub fn terraform_plan(eks: &EksOptions, plan: &UpPlan, keep: bool) -> Result<terraform::Plan> {
    // terraform runs in the module's directory: every path it is given must be absolute
    let absolute =
        |p: &Path| std::path::absolute(p).map_err(|e| Error::input(format!("{}: {e}", p.display())));
    let module_dir = absolute(&eks.module_dir)?;
    let state_dir = absolute(&plan.state_dir)?;
    let backend_config = eks.backend_config.as_deref().map(absolute).transpose()?;
    let workspace = |d: &ClusterDefinition| -> Result<Workspace> {
        let var_file = module_dir
            .join("variables")
            .join(format!("{}.tfvars", d.cluster_name));
        if !var_file.is_file() {
            return Err(Error::input(format!(
                "{}: no terraform var file for cluster {} ({}); add it with cluster_path = \"../{}\" and a vpc_cidr of its own, as variables/hub.tfvars does",
                var_file.display(),
                d.cluster_name,
                d.file.display(),
                d.file.display()
            )));
        }
        Ok(Workspace {
            name: d.cluster_name.clone(),
            var_file,
            data_dir: state_dir.join("terraform").join(&d.cluster_name),
        })
    };
    let hub = workspace(plan.definitions.hub())?;
    let spokes = plan
        .definitions
        .spokes()
        .map(workspace)
        .collect::<Result<Vec<_>>>()?;
    Ok(terraform::Plan {
        module: Module {
            bin: terraform::binary(),
            dir: module_dir.clone(),
            backend_config,
            run_id: eks.run_id.clone(),
            run_expires_at: eks.run_expires_at.clone(),
            vars: eks.vars.clone(),
            stale_lock_after: eks.stale_lock_after.map(|d| d.as_secs()),
            lock_timeout: None,
        },
        hub,
        spokes,
        keep,
    })
}

/// A cluster's AWS side from its workspace's outputs, checked against its definition.
pub fn aws_cluster(def: &ClusterDefinition, outputs: &Outputs) -> std::result::Result<AwsCluster, String> {
    let name = &def.cluster_name;
    let get = |o: &str| {
        outputs
            .string(o)
            .map_err(|e| format!("cluster {name}: {e} (terraform/outputs.tf declares it)"))
    };
    let cluster_type = get("cluster_type")?;
    if cluster_type != def.cluster_type.to_string() {
        return Err(format!(
            "cluster {name}: terraform built a {cluster_type} but {} defines a {}; its var file's cluster_path names the wrong definition",
            def.file.display(),
            def.cluster_type
        ));
    }
    let ca_data = get("cluster_certificate_authority_data")?;
    base64::engine::general_purpose::STANDARD
        .decode(ca_data.trim())
        .map_err(|e| {
            format!("cluster {name}: output cluster_certificate_authority_data is not base64: {e}")
        })?;
    let role_arn = outputs.optional("spoke_role_arn");
    if role_of(def) == Some(Role::Spoke) && role_arn.is_none() {
        return Err(format!(
            "cluster {name}: output spoke_role_arn is null, so the hub's Argo CD has no role to assume for it; the spoke's workspace creates it (terraform/spoke.tf)"
        ));
    }
    Ok(AwsCluster {
        cluster_name: get("cluster_name")?,
        region: get("region")?,
        account_id: get("account_id")?,
        endpoint: get("cluster_endpoint")?,
        ca_data: ca_data.trim().to_string(),
        role_arn,
    })
}

/// The kubeconfig written for people and tools (kubectl, helm): its user runs
/// `aws eks get-token`, as `aws eks update-kubeconfig` writes it. (hubspoke's own clients
/// make their tokens in-process.)
pub fn kubeconfig(aws: &AwsCluster) -> String {
    let context = context_name(&aws.cluster_name);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": aws.endpoint,
            "certificate-authority-data": aws.ca_data,
        }}],
        "users": [{"name": context, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["--region", aws.region, "eks", "get-token", "--cluster-name", aws.cluster_name, "--output", "json"],
            "interactiveMode": "Never",
        }}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    });
    serde_saphyr::to_string(&doc).unwrap_or_default()
}

/// The cluster `def` as the environment holds it, from its AWS side and a client.
pub fn cluster(
    def: &ClusterDefinition,
    aws: AwsCluster,
    client: kube::Client,
    state_dir: &Path,
) -> Result<Cluster> {
    let role = role_of(def).ok_or_else(|| {
        Error::input(format!(
            "{}: a standalone cluster has no place in a hub/spoke environment",
            def.file.display()
        ))
    })?;
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(&aws.ca_data)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| {
            Error::env(format!(
                "cluster {}: its CA data is not base64: {e}",
                def.cluster_name
            ))
        })?;
    Ok(Cluster {
        name: def.cluster_name.clone(),
        role,
        definition: def.clone(),
        client,
        kubeconfig: state_dir.join(format!("{}.kubeconfig", def.cluster_name)),
        context: context_name(&def.cluster_name),
        server_from_hub: match role {
            Role::Hub => IN_CLUSTER.to_string(),
            Role::Spoke => aws.endpoint.clone(),
        },
        ca_pem: (role == Role::Spoke).then_some(ca_pem),
        aws: Some(aws),
    })
}

/// Builds (or updates) the EKS clusters with terraform and connects to them. `stop` ends
/// it early (SIGINT, SIGTERM, the run's deadline); then, and on any failure after an apply,
/// what was applied is destroyed unless `keep`.
pub async fn up(
    eks: &EksOptions,
    plan: &UpPlan,
    keep: bool,
    within: Duration,
    progress: &Progress,
    stop: Stop,
) -> Result<Environment> {
    let tf = terraform_plan(eks, plan, keep)?;
    progress.note(&format!(
        "run {} (every resource is tagged hubspoke.io/run-id={}{})",
        eks.run_id,
        eks.run_id,
        if eks.run_expires_at.is_empty() {
            String::new()
        } else {
            format!(", hubspoke.io/expires-at={}", eks.run_expires_at)
        }
    ));
    let outputs =
        match terraform::provision(&tf, &plan.state_dir, terraform::interrupt_of(&stop), progress).await {
            Ok(o) => o,
            Err(e) => {
                if !plan.state_dir.join(terraform::STATE_FILE).exists() {
                    // destroyed (or nothing applied): nothing of the run is left to keep
                    let names: Vec<String> = std::iter::once(&tf.hub)
                        .chain(&tf.spokes)
                        .map(|w| w.name.clone())
                        .collect();
                    crate::up::eks_leftovers(&plan.state_dir, &names);
                }
                return Err(Error::env(e.to_string()));
            }
        };
    let connected = tokio::select! {
        r = connect(plan, &outputs, within, progress) => r,
        why = stop.clone() => Err(Error::env(format!("interrupted ({why}) while connecting to the clusters"))),
    };
    match connected {
        Ok(env) => Ok(env),
        Err(e) if keep => Err(Error::env(format!(
            "{}\nkept what was applied (--keep): destroy it with `hubspoke down --env eks` (state in {})",
            e.message,
            plan.state_dir.display()
        ))),
        Err(e) => {
            progress.note("tearing down what was applied (pass --keep to keep it for debugging)");
            let said = match crate::up::eks_down(&plan.state_dir, None, progress).await {
                Ok(said) => said,
                Err(d) => d.message,
            };
            Err(Error::env(format!("{}\n{said}", e.message)))
        }
    }
}

/// DescribeCluster until every cluster is ACTIVE, then a client for each.
async fn connect(
    plan: &UpPlan,
    outputs: &BTreeMap<String, Outputs>,
    within: Duration,
    progress: &Progress,
) -> Result<Environment> {
    let members = plan.members();
    let results = futures::future::join_all(members.iter().map(|def| async move {
        let name = &def.cluster_name;
        let out = outputs
            .get(name)
            .ok_or_else(|| format!("cluster {name}: terraform reported no outputs for its workspace"))?;
        let aws = aws_cluster(def, out)?;
        let step = progress.step(format!("EKS cluster {name} ACTIVE"));
        let sdk = super::sdk_config(Some(&aws.region)).await;
        let api = aws_sdk_eks::Client::new(&sdk);
        let set = |l: &str| step.set(l);
        let active =
            match super::cluster::wait_active(&api, &aws.cluster_name, within, Duration::from_secs(10), &set)
                .await
            {
                Ok(a) => a,
                Err(e) => {
                    step.fail("not ACTIVE");
                    return Err(e);
                }
            };
        step.done(&format!("Kubernetes {}", active.version));
        let path = plan.state_dir.join(format!("{name}.kubeconfig"));
        write_private(&path, kubeconfig(&aws).as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        let client = super::client::client(&aws).await?;
        cluster(def, aws, client, &plan.state_dir).map_err(|e| e.message)
    }))
    .await;
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(c) => clusters.push(c),
            Err(e) => failures.push(e),
        }
    }
    if !failures.is_empty() {
        return Err(Error::env(failures.join("\n")));
    }
    let hub_at = clusters
        .iter()
        .position(|c| c.role == Role::Hub)
        .ok_or_else(|| Error::env("terraform built no hub"))?;
    let hub = clusters.remove(hub_at);
    Ok(Environment::new(ProviderKind::Eks, hub, clusters, plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::Definitions;
    use crate::terraform::OutputValue;

    fn definitions() -> Definitions {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../release/hub-aws");
        Definitions::load(&root).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `terraform output -json` of a workspace, as the driver parses it.
    fn outputs(json: serde_json::Value) -> Outputs {
        Outputs(serde_json::from_value::<BTreeMap<String, OutputValue>>(json).unwrap())
    }

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn spoke_outputs(role: serde_json::Value) -> Outputs {
        let ca = base64::engine::general_purpose::STANDARD.encode(CA);
        outputs(json!({
            "cluster_name": {"sensitive": false, "type": "string", "value": "spoke"},
            "cluster_type": {"sensitive": false, "type": "string", "value": "spoke"},
            "cluster_endpoint": {"sensitive": false, "type": "string", "value": "https://0A1B2C.gr7.eu-west-2.eks.amazonaws.com"},
            "cluster_certificate_authority_data": {"sensitive": false, "type": "string", "value": ca},
            "region": {"sensitive": false, "type": "string", "value": "eu-west-2"},
            "account_id": {"sensitive": false, "type": "string", "value": "210987654321"},
            "spoke_role_arn": {"sensitive": false, "type": "string", "value": role},
        }))
    }

    async fn offline_client() -> kube::Client {
        let yaml = r#"{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{"server":"http://127.0.0.1:9"}}],"users":[{"name":"u","user":{}}],"contexts":[{"name":"c","context":{"cluster":"c","user":"u"}}],"current-context":"c"}"#;
        crate::kube_util::client_from_yaml(yaml, None).await.unwrap()
    }

    #[tokio::test]
    async fn the_endpoint_ca_and_role_flow_from_terraform_into_the_hubs_cluster_secret() {
        let defs = definitions();
        let def = defs.get("spoke").unwrap();
        let role = "arn:aws:iam::210987654321:role/hubspoke-argocd-spoke-spoke";
        let aws = aws_cluster(def, &spoke_outputs(role.into())).unwrap();
        assert_eq!(aws.endpoint, "https://0A1B2C.gr7.eu-west-2.eks.amazonaws.com");
        assert_eq!(aws.role_arn.as_deref(), Some(role));
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(def, aws.clone(), offline_client().await, dir.path()).unwrap();
        assert_eq!(c.server_from_hub, aws.endpoint);
        assert_eq!(c.ca_pem.as_deref(), Some(CA));
        assert_eq!(c.context, "eks-spoke");

        let config = crate::bootstrap::aws_cluster_config(&aws).unwrap();
        let secret = crate::bootstrap::cluster_secret(def, &c.server_from_hub, Some(&config), None);
        assert_eq!(secret["metadata"]["name"], "cluster-spoke");
        assert_eq!(secret["stringData"]["server"], aws.endpoint.as_str());
        // as helm's toJson renders the chart's config: keys sorted, no credentials
        assert_eq!(
            secret["stringData"]["config"],
            format!(
                r#"{{"awsAuthConfig":{{"clusterName":"spoke","roleARN":"{role}"}},"tlsClientConfig":{{"caData":"{}","insecure":false}}}}"#,
                aws.ca_data
            )
        );
        assert_eq!(secret["metadata"]["labels"]["cloud_vendor"], "aws");
    }

    #[test]
    fn outputs_that_do_not_fit_the_definition_are_refused_with_the_fix() {
        let defs = definitions();
        let spoke = defs.get("spoke").unwrap();
        assert_eq!(
            aws_cluster(spoke, &spoke_outputs(serde_json::Value::Null)).unwrap_err(),
            "cluster spoke: output spoke_role_arn is null, so the hub's Argo CD has no role to assume for it; the spoke's workspace creates it (terraform/spoke.tf)"
        );
        let hub = defs.get("hub").unwrap();
        let e = aws_cluster(hub, &spoke_outputs("arn:aws:iam::1:role/x".into())).unwrap_err();
        assert!(
            e.starts_with("cluster hub: terraform built a spoke but ")
                && e.ends_with(
                    "hub.yaml defines a hub; its var file's cluster_path names the wrong definition"
                ),
            "{e}"
        );
        let mut bad = spoke_outputs("arn:aws:iam::1:role/x".into());
        bad.0.get_mut("cluster_certificate_authority_data").unwrap().value = "not base64!".into();
        assert!(
            aws_cluster(spoke, &bad)
                .unwrap_err()
                .starts_with("cluster spoke: output cluster_certificate_authority_data is not base64: ")
        );
        let mut missing = spoke_outputs("arn:aws:iam::1:role/x".into());
        missing.0.remove("cluster_endpoint");
        assert_eq!(
            aws_cluster(spoke, &missing).unwrap_err(),
            "cluster spoke: terraform output cluster_endpoint is missing; the module must output it (terraform/outputs.tf declares it)"
        );
    }

    #[test]
    fn the_kubeconfig_for_people_runs_aws_eks_get_token_and_holds_no_credential() {
        let aws = AwsCluster {
            cluster_name: "spoke".into(),
            region: "eu-west-2".into(),
            account_id: "210987654321".into(),
            endpoint: "https://0A1B2C.gr7.eu-west-2.eks.amazonaws.com".into(),
            ca_data: "Q0E=".into(),
            role_arn: None,
        };
        let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig(&aws)).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("eks-spoke"));
        let exec = kc.auth_infos[0].auth_info.as_ref().unwrap().exec.clone().unwrap();
        assert_eq!(exec.command.as_deref(), Some("aws"));
        assert_eq!(
            exec.args.unwrap(),
            [
                "--region",
                "eu-west-2",
                "eks",
                "get-token",
                "--cluster-name",
                "spoke",
                "--output",
                "json"
            ]
        );
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some(aws.endpoint.as_str()));
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("Q0E="));
        assert!(!kubeconfig(&aws).contains("token:"));
    }

    #[test]
    fn a_cluster_without_a_var_file_is_refused_before_terraform_runs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("variables")).unwrap();
        std::fs::write(dir.path().join("variables/hub.tfvars"), "").unwrap();
        let eks = EksOptions {
            module_dir: dir.path().to_path_buf(),
            run_id: "nightly-42".into(),
            ..Default::default()
        };
        let plan = UpPlan {
            definitions: definitions(),
            release: "release/hub-aws".into(),
            state_dir: dir.path().join("state"),
            reuse: false,
        };
        let e = terraform_plan(&eks, &plan, false).unwrap_err().message;
        let var_file = dir.path().join("variables/spoke.tfvars");
        assert!(
            e.starts_with(&format!(
                "{}: no terraform var file for cluster spoke (",
                var_file.display()
            )),
            "{e}"
        );
        assert!(
            e.ends_with("and a vpc_cidr of its own, as variables/hub.tfvars does"),
            "{e}"
        );
        std::fs::write(&var_file, "").unwrap();
        let tf = terraform_plan(&eks, &plan, true).unwrap();
        assert_eq!(tf.hub.name, "hub");
        assert_eq!(
            tf.spokes.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
            ["spoke"]
        );
        assert_eq!(tf.spokes[0].data_dir, dir.path().join("state/terraform/spoke"));
        assert!(tf.keep);
    }
}

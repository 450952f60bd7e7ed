//! Registration: every enabled cluster definition has its Secret on the hub, labelled and
//! annotated as the platform's registration chart would, and every spoke is reachable from
//! the hub with its registered credentials.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::{Check, CheckFuture, Context};
use crate::bootstrap::{ARGOCD_NAMESPACE, BootstrapOptions, cluster_secret, cluster_secret_name};
use crate::environment::IN_CLUSTER;

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            suite: "registration",
            name: "cluster-secrets",
            disturbs: false,
            run: cluster_secrets,
        },
        Check {
            suite: "registration",
            name: "spokes-reachable",
            disturbs: false,
            run: spokes_reachable,
        },
    ]
}

fn strings(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The differences between what a map should be and what it is.
fn diff(what: &str, want: &BTreeMap<String, String>, got: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => out.push(format!("{what} {k} is missing (want {v:?})")),
            Some(g) if g != v => out.push(format!("{what} {k} is {g:?}, want {v:?}")),
            _ => {}
        }
    }
    out
}

fn cluster_secrets<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let env = ctx.env;
        let secrets: Api<Secret> = Api::namespaced(env.hub.client.clone(), ARGOCD_NAMESPACE);
        let mut problems = Vec::new();
        for c in env.clusters().filter(|c| c.definition.enabled) {
            let name = cluster_secret_name(&c.name);
            let server = if c.role == crate::environment::Role::Hub {
                IN_CLUSTER.to_string()
            } else {
                c.server_from_hub.clone()
            };
            let want = cluster_secret(&c.definition, &server, None, env.revision.as_ref());
            let got = match secrets.get_opt(&name).await {
                Ok(Some(s)) => s,
                Ok(None) => {
                    problems.push(format!("{}: the hub has no Secret argocd/{name}", c.name));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("{}: reading argocd/{name}: {e}", c.name));
                    continue;
                }
            };
            let labels: BTreeMap<String, String> = got
                .metadata
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let annotations: BTreeMap<String, String> = got
                .metadata
                .annotations
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            let mut p = diff("label", &strings(&want["metadata"]["labels"]), &labels);
            p.extend(diff(
                "annotation",
                &strings(&want["metadata"]["annotations"]),
                &annotations,
            ));
            let data = got.data.clone().unwrap_or_default();
            let field = |k: &str| data.get(k).map(|b| String::from_utf8_lossy(&b.0).into_owned());
            if field("name").as_deref() != Some(c.name.as_str()) {
                p.push(format!("name is {:?}, want {:?}", field("name"), c.name));
            }
            if field("server").as_deref() != Some(server.as_str()) {
                p.push(format!("server is {:?}, want {server:?}", field("server")));
            }
            problems.extend(p.into_iter().map(|x| format!("{}: argocd/{name}: {x}", c.name)));
        }
        super::outcome(problems)
    })
}

fn spokes_reachable<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let Some(revision) = ctx.env.revision.clone() else {
            return Err("the environment records no revision under test; was it bootstrapped?".into());
        };
        let opts = BootstrapOptions {
            revision,
            probe_path: crate::bootstrap::DEFAULT_PROBE_PATH.into(),
            timeout: ctx.intervals.rollout,
            bootstrap_application: false,
            repository_credentials: None,
        };
        crate::bootstrap::check_registration(ctx.env, &opts)
            .await
            .map_err(|e| e.message)
    })
}

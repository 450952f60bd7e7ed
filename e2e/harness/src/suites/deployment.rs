//! Cross-cluster deployment: each workload a spoke's placement files declare
//! (`<tenant_path>/workloads/applications/<app>/<spoke>.yaml`) lands on that spoke — its
//! Deployments present with Argo CD's tracking label and Available — and on no other spoke;
//! drift made directly on a spoke is healed.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::{Check, CheckFuture, Context};
use crate::argocd::Application;
use crate::environment::Cluster;
use crate::expect::{Verdict, eventually, expect};

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            suite: "deployment",
            name: "workloads-placed",
            disturbs: false,
            run: workloads_placed,
        },
        Check {
            suite: "deployment",
            name: "drift-healed",
            disturbs: true,
            run: drift_healed,
        },
    ]
}

/// A workload placed on a cluster: the app (its namespace) and its Deployments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub app: String,
    pub cluster: String,
    pub deployments: Vec<String>,
}

/// The placements of a release: every `workloads/applications/<app>/<cluster>.yaml` under
/// the clusters' tenant_path, with the Deployments its `manifests.path` holds.
pub fn placements(root: &Path, tenant_path: &str) -> Result<Vec<Placement>, String> {
    let dir = root.join(tenant_path).join("workloads/applications");
    let mut out = Vec::new();
    let Ok(apps) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut apps: Vec<_> = apps
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    apps.sort();
    for app_dir in apps {
        let app = app_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let mut files: Vec<_> = std::fs::read_dir(&app_dir)
            .map_err(|e| format!("{}: {e}", app_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("yaml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let doc = crate::yaml::parse(&text).map_err(|e| format!("{}: {}", f.display(), e.message))?;
            let Some(path) = doc
                .to_json()
                .pointer("/manifests/path")
                .and_then(|p| p.as_str())
                .map(String::from)
            else {
                continue;
            };
            let mut deployments = Vec::new();
            let mut manifests: Vec<_> = std::fs::read_dir(root.join(&path))
                .map_err(|e| format!("{}: manifests.path {path}: {e}", f.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            manifests.sort();
            for m in manifests {
                let Ok(text) = std::fs::read_to_string(&m) else {
                    continue;
                };
                for d in crate::yaml::parse_all(&text).unwrap_or_default() {
                    let v = d.to_json();
                    if v["kind"] == "Deployment"
                        && let Some(n) = v.pointer("/metadata/name").and_then(|n| n.as_str())
                    {
                        deployments.push(n.to_string());
                    }
                }
            }
            out.push(Placement {
                app: app.clone(),
                cluster: f
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string(),
                deployments,
            });
        }
    }
    Ok(out)
}

fn all_placements(ctx: &Context) -> Result<Vec<Placement>, String> {
    let mut paths: Vec<&str> = ctx
        .env
        .spokes
        .iter()
        .map(|s| s.definition.tenant_path.as_str())
        .collect();
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for p in paths {
        out.extend(placements(&ctx.root, p)?);
    }
    Ok(out)
}

fn available(d: &Deployment) -> bool {
    d.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Available" && c.status == "True"))
}

/// Placement `p` on `spoke`: its Deployments present, tracked by their Application,
/// Available.
async fn wait_placed(ctx: &Context<'_>, spoke: &Cluster, p: &Placement) -> Result<(), String> {
    let app = format!("tenant-{}-{}", p.app, spoke.name);
    let names = p.deployments.clone();
    let app2 = app.clone();
    let e = expect(
        format!(
            "{} on {}: Deployments {} present, tracked by {app}, Available",
            p.app,
            spoke.name,
            names.join(", ")
        ),
        move |ds: &[Deployment]| {
            let mut pending = Vec::new();
            for n in &names {
                match ds.iter().find(|d| d.metadata.name.as_deref() == Some(n.as_str())) {
                    None => pending.push(format!("Deployment {n} does not exist")),
                    Some(d) => {
                        let instance = d
                            .metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("app.kubernetes.io/instance"))
                            .cloned()
                            .unwrap_or_default();
                        if instance != app2 {
                            pending.push(format!("Deployment {n} is tracked by {instance:?}, not {app2:?}"));
                        } else if !available(d) {
                            let st = d.status.clone().unwrap_or_default();
                            pending.push(format!(
                                "Deployment {n} is not Available ({} of {} ready)",
                                st.ready_replicas.unwrap_or(0),
                                st.replicas.unwrap_or(0)
                            ));
                        }
                    }
                }
            }
            if pending.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Pending(pending.join("; "))
            }
        },
    );
    let api: Api<Deployment> = Api::namespaced(spoke.client.clone(), &p.app);
    eventually(api, ctx.intervals.rollout, e.as_ref())
        .await
        .map_err(|f| format!("spoke {}: {f}", spoke.name))?;
    Ok(())
}

/// On one spoke: the placed Deployments present, tracked by their Application, Available;
/// the ones placed elsewhere only absent.
async fn check_spoke(ctx: &Context<'_>, spoke: &Cluster, placed: &[Placement]) -> Result<(), String> {
    let mine: Vec<&Placement> = placed.iter().filter(|p| p.cluster == spoke.name).collect();
    for p in &mine {
        wait_placed(ctx, spoke, p).await?;
    }
    // placed elsewhere only: absent here
    for p in placed.iter().filter(|p| p.cluster != spoke.name) {
        if mine.iter().any(|m| m.app == p.app) {
            continue;
        }
        let api: Api<Deployment> = Api::namespaced(spoke.client.clone(), &p.app);
        for n in &p.deployments {
            if api
                .get_opt(n)
                .await
                .map_err(|e| format!("spoke {}: reading {}/{n}: {e}", spoke.name, p.app))?
                .is_some()
            {
                return Err(format!(
                    "spoke {}: Deployment {}/{n} exists, but only {} places {}",
                    spoke.name, p.app, p.cluster, p.app
                ));
            }
        }
    }
    Ok(())
}

fn workloads_placed<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let placed = all_placements(ctx)?;
        if placed.is_empty() {
            return Err("no workload placement files (workloads/applications/<app>/<cluster>.yaml) under the spokes' tenant_path".into());
        }
        let results =
            futures::future::join_all(ctx.env.spokes.iter().map(|s| check_spoke(ctx, s, &placed))).await;
        super::outcome(results.into_iter().filter_map(Result::err))
    })
}

/// Scales one placed Deployment per spoke directly on the spoke and expects Argo CD's
/// self-heal to restore what git declares, then its Application Synced and Healthy again.
fn drift_healed<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let placed = all_placements(ctx)?;
        let work = ctx.env.spokes.iter().filter_map(|s| {
            placed
                .iter()
                .find(|p| p.cluster == s.name && !p.deployments.is_empty())
                .map(|p| (s, p, p.app.clone(), p.deployments[0].clone()))
        });
        let results = futures::future::join_all(work.map(|(spoke, placement, app, name)| async move {
            // rolled out first: the drift is made on what git declares
            wait_placed(ctx, spoke, placement).await?;
            let api: Api<Deployment> = Api::namespaced(spoke.client.clone(), &app);
            let d = api
                .get(&name)
                .await
                .map_err(|e| format!("spoke {}: reading {app}/{name}: {e}", spoke.name))?;
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let drift = want + 3;
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"replicas": drift}})),
            )
            .await
            .map_err(|e| format!("spoke {}: scaling {app}/{name}: {e}", spoke.name))?;
            let n = name.clone();
            let e = expect(
                format!("the drift on {app}/{name} (replicas {drift}) healed back to {want}"),
                move |ds: &[Deployment]| match ds
                    .iter()
                    .find(|d| d.metadata.name.as_deref() == Some(n.as_str()))
                {
                    None => Verdict::Pending(format!("Deployment {n} does not exist")),
                    Some(d) => match d.spec.as_ref().and_then(|s| s.replicas) {
                        Some(r) if r == want => Verdict::Pass,
                        r => Verdict::Pending(format!("replicas {r:?}")),
                    },
                },
            );
            eventually(api, ctx.intervals.reconcile, e.as_ref())
                .await
                .map_err(|f| format!("spoke {}: {f}", spoke.name))?;
            // leave the environment as found: the Application Synced and Healthy again
            let tracked = format!("tenant-{app}-{}", spoke.name);
            let t = tracked.clone();
            let e = expect(
                format!("{tracked} Synced and Healthy again after the heal"),
                move |apps: &[Application]| match apps
                    .iter()
                    .find(|a| a.metadata.name.as_deref() == Some(t.as_str()))
                {
                    None => Verdict::Fail(format!("Application {t} no longer exists")),
                    Some(a) => match super::convergence::offender(a) {
                        None => Verdict::Pass,
                        Some(why) => Verdict::Pending(why),
                    },
                },
            );
            eventually(super::applications(ctx), ctx.intervals.reconcile, e.as_ref())
                .await
                .map(|_| ())
                .map_err(|f| format!("spoke {}: {f}", spoke.name))
        }))
        .await;
        super::outcome(results.into_iter().filter_map(Result::err))
    })
}

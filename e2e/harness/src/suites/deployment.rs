//! Cross-cluster deployment: each workload a spoke's placement files declare
//! (`<tenant_path>/workloads/applications/<app>/<spoke>.yaml`) lands on that spoke — its
//! Deployments present with Argo CD's tracking label and Available — and on no other spoke;
//! drift made directly on a spoke is healed; deleting a workload's Application prunes its
//! objects from the spoke (Argo CD's resources finalizer), and its ApplicationSet brings it
//! back.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};

use super::{Check, CheckFuture, Context};
use crate::argocd::{Application, Tracking};
use crate::environment::Cluster;
use crate::expect::{Verdict, eventually, eventually_after, expect};

/// The finalizer that makes Argo CD delete an Application's resources before the
/// Application itself (`resources-finalizer.argocd.argoproj.io`, optionally with a
/// `/foreground` or `/background` propagation suffix).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

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
        Check {
            suite: "deployment",
            name: "prune-on-delete",
            disturbs: true,
            run: prune_on_delete,
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
    // tracked as the hub's Argo CD tracks (argocd-cm), whichever method it uses
    let tracking = Tracking::read(&ctx.env.hub.client, crate::bootstrap::ARGOCD_NAMESPACE).await?;
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
                        if tracking.application_of(d).as_deref() != Some(app2.as_str()) {
                            pending.push(format!(
                                "Deployment {n} is not tracked by {app2} (its {}: {})",
                                tracking.describe(),
                                tracking
                                    .mark_of(d)
                                    .map(|m| format!("{m:?}"))
                                    .unwrap_or_else(|| "none".into())
                            ));
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

/// For each spoke, its first placement with Deployments: what the disturbing checks disturb.
fn one_per_spoke<'a>(ctx: &'a Context<'a>, placed: &'a [Placement]) -> Vec<(&'a Cluster, &'a Placement)> {
    ctx.env
        .spokes
        .iter()
        .filter_map(|s| {
            placed
                .iter()
                .find(|p| p.cluster == s.name && !p.deployments.is_empty())
                .map(|p| (s, p))
        })
        .collect()
}

/// Scales one placed Deployment per spoke directly on the spoke and expects Argo CD's
/// self-heal to restore what git declares, then its Application Synced and Healthy again.
fn drift_healed<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let placed = all_placements(ctx)?;
        let work = one_per_spoke(ctx, &placed)
            .into_iter()
            .map(|(s, p)| (s, p, p.app.clone(), p.deployments[0].clone()));
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
            app_converged(
                ctx,
                &format!("tenant-{app}-{}", spoke.name),
                None,
                "after the heal",
            )
            .await
            .map_err(|f| format!("spoke {}: {f}", spoke.name))
        }))
        .await;
        super::outcome(results.into_iter().filter_map(Result::err))
    })
}

/// Waits until Application `name` is Synced and Healthy (a different object than `not_uid`,
/// when given: the one recreated after a deletion).
async fn app_converged(
    ctx: &Context<'_>,
    name: &str,
    not_uid: Option<String>,
    when: &str,
) -> Result<(), crate::expect::Failure> {
    let t = name.to_string();
    let recreated = not_uid.is_some();
    let e = expect(
        format!(
            "{name} {}Synced and Healthy {when}",
            if recreated { "recreated, " } else { "" }
        ),
        move |apps: &[Application]| match apps
            .iter()
            .find(|a| a.metadata.name.as_deref() == Some(t.as_str()))
        {
            None if recreated => Verdict::Pending(format!("Application {t} does not exist")),
            None => Verdict::Fail(format!("Application {t} no longer exists")),
            Some(a) if not_uid.is_some() && a.metadata.uid == not_uid => {
                Verdict::Pending(format!("Application {t} is still the deleted one"))
            }
            Some(a) => match super::convergence::offender(a) {
                None => Verdict::Pass,
                Some(why) => Verdict::Pending(why),
            },
        },
    );
    eventually(super::applications(ctx), ctx.intervals.rollout, e.as_ref())
        .await
        .map(|_| ())
}

/// Deletes one placed workload's Application per spoke and expects Argo CD to prune its
/// Deployments from the spoke (the Application carries the resources finalizer), then the
/// ApplicationSet to recreate it and the workload to be placed again.
fn prune_on_delete<'a>(ctx: &'a Context<'a>) -> CheckFuture<'a> {
    Box::pin(async move {
        let placed = all_placements(ctx)?;
        let work = one_per_spoke(ctx, &placed).into_iter();
        let results = futures::future::join_all(work.map(|(spoke, p)| async move {
            let on = |e: String| format!("spoke {}: {e}", spoke.name);
            wait_placed(ctx, spoke, p).await?;
            let name = format!("tenant-{}-{}", p.app, spoke.name);
            let apps = super::applications(ctx);
            let app = apps
                .get_opt(&name)
                .await
                .map_err(|e| on(format!("reading Application {name}: {e}")))?
                .ok_or_else(|| on(format!("Application {name} does not exist")))?;
            let finalizers = app.metadata.finalizers.clone().unwrap_or_default();
            if !finalizers.iter().any(|f| {
                f == RESOURCES_FINALIZER
                    || f.strip_prefix(RESOURCES_FINALIZER)
                        .is_some_and(|rest| rest.starts_with('/'))
            }) {
                return Err(on(format!(
                    "Application {name} lacks the finalizer {RESOURCES_FINALIZER} (it has {finalizers:?}): \
                     deleting it would leave {} on {} behind; add the finalizer to the template's \
                     metadata.finalizers of the ApplicationSet that generates it",
                    p.deployments.join(", "),
                    spoke.name
                )));
            }
            let owner = app
                .metadata
                .owner_references
                .as_ref()
                .and_then(|rs| {
                    rs.iter()
                        .find(|r| r.kind == "ApplicationSet" && r.controller == Some(true))
                })
                .map(|r| r.name.clone());
            let Some(owner) = owner else {
                return Err(on(format!(
                    "Application {name} is not generated by an ApplicationSet: nothing would \
                     recreate it after the check deletes it, so the check does not"
                )));
            };
            let uid = app.metadata.uid.clone();
            let names = p.deployments.clone();
            let gone = expect(
                format!(
                    "Deployments {} pruned from {} after {name} was deleted",
                    names.join(", "),
                    spoke.name
                ),
                move |ds: &[Deployment]| {
                    let left: Vec<&str> = names
                        .iter()
                        .filter(|n| ds.iter().any(|d| d.metadata.name.as_deref() == Some(n.as_str())))
                        .map(String::as_str)
                        .collect();
                    if left.is_empty() {
                        Verdict::Pass
                    } else {
                        Verdict::Pending(format!("Deployment {} still there", left.join(", ")))
                    }
                },
            );
            let delete = async {
                apps.delete(
                    &name,
                    &DeleteParams {
                        preconditions: Some(Preconditions {
                            uid: uid.clone(),
                            resource_version: None,
                        }),
                        ..Default::default()
                    },
                )
                .await
                .map(|_| ())
                .map_err(|e| format!("deleting Application {name}: {e}"))
            };
            let deployments: Api<Deployment> = Api::namespaced(spoke.client.clone(), &p.app);
            eventually_after(deployments, ctx.intervals.reconcile, gone.as_ref(), delete)
                .await
                .map_err(|f| on(f.to_string()))?;
            // leave the environment as found: recreated by its ApplicationSet, converged,
            // the workload placed again
            app_converged(ctx, &name, uid, &format!("(by ApplicationSet {owner})"))
                .await
                .map_err(|f| on(f.to_string()))?;
            wait_placed(ctx, spoke, p).await
        }))
        .await;
        super::outcome(results.into_iter().filter_map(Result::err))
    })
}

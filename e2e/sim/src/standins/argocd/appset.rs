//! The ApplicationSet controller as Argo CD v3.2.0 runs it
//! (applicationset/controllers/applicationset_controller.go): generators produce parameter
//! sets ([`generators`]: list, clusters, git, matrix, merge), each renders the template
//! into an Application ([`render`]: fasttemplate or Go templates, `templatePatch`), the
//! Applications are validated (duplicate names, project, destination), progressive syncs
//! roll them out step by step when enabled ([`rollout`]), the sync policy decides what may
//! be created, updated and deleted ([`apply`]), and the status carries Argo CD's
//! conditions, resources and application statuses.
//!
//! The sim polls where Argo CD watches (cluster Secrets, git): a set is reconciled again
//! every second, and git is read at each pass unless a git generator's
//! `requeueAfterSeconds` holds the revision it resolved for that long (Argo CD reads git
//! when it requeues; without that field it waits 3 minutes unless a webhook tells it, which
//! the sim stands in for by not waiting).

mod apply;
mod generators;
mod git;
mod params;
mod render;
mod rollout;
mod selector;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::Shared;
use generators::{Generators, Level};
use render::Templating;
use rollout::AppStatus;

/// The annotation that asks for a fresh read of git (and is removed once done).
const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/application-set-refresh";
/// Post-delete hook finalizers a live Application keeps.
const POST_DELETE_FINALIZER: &str = "post-delete-finalizer.argocd.argoproj.io";

const ERROR_OCCURRED: &str = "ErrorOccurred";
const PARAMETERS_GENERATED: &str = "ParametersGenerated";
const RESOURCES_UP_TO_DATE: &str = "ResourcesUpToDate";
const ROLLOUT_PROGRESSING: &str = "RolloutProgressing";

fn condition(t: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": t, "status": status, "reason": reason, "message": message})
}

/// The set's conditions, changed as `setApplicationSetStatusCondition` changes them.
struct Conditions {
    list: Vec<Value>,
    /// `isRollingSyncStrategy`: RolloutProgressing is then left alone by other conditions.
    rolling: bool,
    now: String,
}

impl Conditions {
    /// `setApplicationSetStatusCondition`: the condition, ParametersGenerated (true, or false
    /// with the condition's message), ErrorOccurred false with an up-to-date set,
    /// ResourcesUpToDate false with an error, RolloutProgressing dropped unless RollingSync.
    fn set(&mut self, c: Value, parameters_generated: bool) {
        let ty = c["type"].as_str().unwrap_or_default().to_string();
        let status = c["status"].as_str().unwrap_or_default().to_string();
        let message = c["message"].as_str().unwrap_or_default().to_string();
        let mut evaluated: BTreeMap<String, bool> = [
            (PARAMETERS_GENERATED, true),
            (ERROR_OCCURRED, false),
            (RESOURCES_UP_TO_DATE, false),
            (ROLLOUT_PROGRESSING, false),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        evaluated.insert(ty.clone(), true);
        let mut new = vec![c.clone()];
        if !self.rolling {
            evaluated.insert(ROLLOUT_PROGRESSING.into(), true);
        }
        if ty != PARAMETERS_GENERATED {
            new.push(if parameters_generated {
                condition(
                    PARAMETERS_GENERATED,
                    "True",
                    "ParametersGenerated",
                    "Successfully generated parameters for all Applications",
                )
            } else {
                condition(PARAMETERS_GENERATED, "False", "ErrorOccurred", &message)
            });
        }
        match ty.as_str() {
            RESOURCES_UP_TO_DATE if status == "True" => {
                evaluated.insert(ERROR_OCCURRED.into(), true);
                new.push(condition(
                    ERROR_OCCURRED,
                    "False",
                    c["reason"].as_str().unwrap_or_default(),
                    &message,
                ));
            }
            ERROR_OCCURRED if status == "True" => {
                evaluated.insert(RESOURCES_UP_TO_DATE.into(), true);
                new.push(condition(
                    RESOURCES_UP_TO_DATE,
                    "False",
                    "ErrorOccurred",
                    &message,
                ));
            }
            ROLLOUT_PROGRESSING if !self.rolling => {
                evaluated.insert(ty.clone(), false);
            }
            _ => {}
        }
        self.set_conditions(new, &evaluated);
    }

    /// `ApplicationSetStatus.SetConditions`: conditions of types not evaluated kept, the
    /// evaluated ones replaced (keeping their time when nothing but the time changed),
    /// sorted by type, status, reason, message, time.
    fn set_conditions(&mut self, new: Vec<Value>, evaluated: &BTreeMap<String, bool>) {
        let is_evaluated = |t: &Value| evaluated.get(t.as_str().unwrap_or_default()) == Some(&true);
        let mut out: Vec<Value> = self
            .list
            .iter()
            .filter(|c| !is_evaluated(&c["type"]))
            .cloned()
            .collect();
        for mut c in new {
            if !is_evaluated(&c["type"]) {
                continue;
            }
            match self.list.iter().find(|e| e["type"] == c["type"]) {
                Some(e)
                    if e["message"] == c["message"]
                        && e["reason"] == c["reason"]
                        && e["status"] == c["status"] =>
                {
                    out.push(e.clone());
                }
                _ => {
                    c["lastTransitionTime"] = json!(self.now);
                    out.push(c);
                }
            }
        }
        for c in &mut out {
            if c.get("lastTransitionTime").is_none_or(Value::is_null) {
                c["lastTransitionTime"] = json!(self.now);
            }
        }
        let key = |c: &Value| {
            ["type", "status", "reason", "message", "lastTransitionTime"]
                .map(|k| c[k].as_str().unwrap_or_default().to_string())
        };
        out.sort_by_key(key);
        self.list = out;
    }
}

/// An Application's controller owner reference, if it is an ApplicationSet's.
fn controller_set(app: &Value) -> Option<&Value> {
    app.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| r["controller"] == json!(true))
}

/// `GenerateApplications`: every generator's parameter sets rendered into Applications;
/// the first failure ends it with its reason.
async fn generate_applications(
    gens: &Generators<'_>,
    spec: &Value,
    ns: &str,
) -> Result<Vec<Value>, (String, String)> {
    let base = spec.get("template").cloned().unwrap_or(json!({}));
    let mut apps = Vec::new();
    for g in spec
        .get("generators")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let results = gens
            .transform(g, Level::Top, &base, None)
            .await
            .map_err(|e| ("ApplicationGenerationFromParamsError".to_string(), e))?;
        for r in results {
            for p in &r.params {
                let app = render::application(&r.template, p, &gens.t, spec, ns)
                    .map_err(|e| ("RenderTemplateParamsError".to_string(), e))?;
                apps.push(app);
            }
        }
    }
    Ok(apps)
}

/// `validateGeneratedApplications`: per Application (by namespace/name), a duplicate name,
/// a project that does not exist or a destination that does not resolve. An error reading
/// a project fails the whole validation.
async fn validate(
    shared: &Shared,
    set_name: &str,
    apps: &[Value],
) -> Result<BTreeMap<String, String>, String> {
    let projects: Api<DynamicObject> =
        Api::namespaced_with(shared.hub.clone(), &shared.namespace, &super::app_projects());
    let mut known: BTreeMap<String, bool> = BTreeMap::new();
    let mut names = BTreeSet::new();
    let mut errors = BTreeMap::new();
    for app in apps {
        let name = crate::meta::name(app);
        let qualified = format!("{}/{name}", crate::meta::namespace(app));
        if !names.insert(name.to_string()) {
            errors.insert(
                qualified,
                format!("ApplicationSet {set_name} contains applications with duplicate name: {name}"),
            );
            continue;
        }
        let project = app
            .pointer("/spec/project")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let exists = match known.get(project) {
            Some(e) => *e,
            None => {
                // read through the controller's cache: an empty name is simply not found
                let e = !project.is_empty()
                    && projects
                        .get_opt(project)
                        .await
                        .map_err(|e| e.to_string())?
                        .is_some();
                known.insert(project.to_string(), e);
                e
            }
        };
        if !exists {
            errors.insert(
                qualified,
                format!("application references project {project} which does not exist"),
            );
            continue;
        }
        let destination = app.pointer("/spec/destination").cloned().unwrap_or(json!({}));
        if let Err(e) = shared
            .clusters
            .resolve(&destination)
            .await
            .map_err(|e| e.to_string())?
        {
            errors.insert(qualified, format!("application destination spec is invalid: {e}"));
        }
    }
    Ok(errors)
}

/// Whether `applicationsetcontroller.enable.progressive.syncs` is true in
/// `argocd-cmd-params-cm` (read at each reconcile; Argo CD reads it when it starts).
async fn progressive_syncs(shared: &Shared) -> bool {
    let cms: Api<ConfigMap> = Api::namespaced(shared.hub.clone(), &shared.namespace);
    let cm = cms.get_opt("argocd-cmd-params-cm").await.ok().flatten();
    rollout::parse_bool(
        cm.as_ref()
            .and_then(|c| c.data.as_ref())
            .and_then(|d| d.get("applicationsetcontroller.enable.progressive.syncs"))
            .map(String::as_str),
    )
}

/// `createOrUpdateInCluster`: each Application created, or written over the live one (its
/// preserved annotations and labels, post-delete finalizers and ignored differences kept)
/// when it differs; the first error is returned after trying them all.
async fn create_or_update(
    apps_api: &Api<DynamicObject>,
    set: &Value,
    spec: &Value,
    generated: &[Value],
    live: &[Value],
) -> Result<(), String> {
    let set_name = crate::meta::name(set);
    let ns = crate::meta::namespace(set);
    let owner = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": set_name,
        "uid": crate::meta::uid(set), "controller": true, "blockOwnerDeletion": true});
    let mut first: Option<String> = None;
    for g in generated {
        let name = crate::meta::name(g).to_string();
        let result: Result<(), String> = async {
            let mut app_spec = g.get("spec").cloned().unwrap_or(json!({}));
            render::normalize_spec(&mut app_spec);
            let meta = |k: &str, empty: Value| g.pointer(&format!("/metadata/{k}")).cloned().unwrap_or(empty);
            let mut app = json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {
                    "name": name, "namespace": ns,
                    "labels": meta("labels", json!({})),
                    "annotations": meta("annotations", json!({})),
                    "finalizers": meta("finalizers", json!([])),
                },
                "spec": app_spec,
            });
            if let Some(op) = g.get("operation").filter(|o| !o.is_null()) {
                app["operation"] = op.clone();
            }
            let Some(current) = live.iter().find(|a| crate::meta::name(a) == name) else {
                app["metadata"]["ownerReferences"] = json!([owner]);
                if let Some(m) = app["metadata"].as_object_mut() {
                    m.retain(|_, v| !(v.is_object() && v.as_object().is_some_and(|o| o.is_empty())));
                    m.retain(|_, v| !(v.is_array() && v.as_array().is_some_and(|a| a.is_empty())));
                }
                let obj: DynamicObject = serde_json::from_value(app).map_err(|e| e.to_string())?;
                return match apps_api.create(&PostParams::default(), &obj).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) => Err(s.message),
                    Err(e) => Err(e.to_string()),
                };
            };
            // SetControllerReference refuses an Application another controller owns
            if let Some(other) = controller_set(current).filter(|r| r["uid"] != owner["uid"]) {
                return Err(format!(
                    "error while wrapping using MutateFn: Object {ns}/{name} is already owned by another {} controller {}",
                    other["kind"].as_str().unwrap_or_default(),
                    other["name"].as_str().unwrap_or_default()
                ));
            }
            apply::preserve_fields(spec, current, &mut app);
            for f in current
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|f| f.as_str().is_some_and(|f| f.starts_with(POST_DELETE_FINALIZER)))
            {
                if let Some(list) = app["metadata"]["finalizers"].as_array_mut() {
                    list.push(f.clone());
                }
            }
            apply::keep_ignored(spec, &name, current, &mut app)?;
            let mut live_spec = current.get("spec").cloned().unwrap_or(json!({}));
            render::normalize_spec(&mut live_spec);
            let part = |a: &Value, s: &Value| {
                let mut p = json!({"metadata": {
                    "labels": a.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                    "annotations": a.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                    "finalizers": a.pointer("/metadata/finalizers").cloned().unwrap_or(json!([])),
                }, "spec": s});
                if let Some(op) = a.get("operation").filter(|o| !o.is_null()) {
                    p["operation"] = op.clone();
                }
                p
            };
            let from = part(current, &live_spec);
            let mut to = part(&app, &app["spec"]);
            if to.get("operation").is_none()
                && let Some(op) = from.get("operation")
            {
                // the live operation stays unless the generated one replaces it
                to["operation"] = op.clone();
            }
            let owned = controller_set(current).is_some();
            if from == to && owned {
                return Ok(());
            }
            // a JSON merge patch from the live Application to the generated one, as
            // controller-runtime's MergeFrom makes it: fields the generated one lacks are
            // nulled, so the spec is replaced whole
            let mut patch = apply::merge_diff(&from, &to);
            if !owned {
                let mut refs = current
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                refs.push(owner.clone());
                patch["metadata"]["ownerReferences"] = json!(refs);
            }
            apps_api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
                .map_err(|e| match e {
                    kube::Error::Api(s) => s.message,
                    e => e.to_string(),
                })
        }
        .await;
        if let Err(e) = result
            && first.is_none()
        {
            first = Some(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// `deleteInCluster`: the set's Applications it no longer generates are deleted, the
/// resources finalizer first removed from those whose destination no longer resolves.
/// Argo CD records no error here (its check is inverted), so neither does the sim.
async fn delete_in_cluster(
    shared: &Shared,
    apps_api: &Api<DynamicObject>,
    generated: &[Value],
    live: &[Value],
) {
    let keep: BTreeSet<&str> = generated.iter().map(crate::meta::name).collect();
    for app in live {
        let name = crate::meta::name(app);
        if keep.contains(name) {
            continue;
        }
        let finalizers: Vec<Value> = app
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !finalizers.is_empty() {
            let destination = app.pointer("/spec/destination").cloned().unwrap_or(json!({}));
            let valid = matches!(shared.clusters.resolve(&destination).await, Ok(Ok(_)));
            if !valid {
                let kept: Vec<Value> = finalizers
                    .iter()
                    .filter(|f| f.as_str() != Some(super::FINALIZER))
                    .cloned()
                    .collect();
                if kept.len() != finalizers.len() {
                    let _ = apps_api
                        .patch(
                            name,
                            &PatchParams::default(),
                            &Patch::Merge(&json!({"metadata": {"finalizers": kept}})),
                        )
                        .await;
                }
            }
        }
        let _ = apps_api.delete(name, &DeleteParams::default()).await;
    }
}

/// The `status.resources` entries of the set's Applications.
fn resources(live: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = live
        .iter()
        .map(|a| {
            let mut r = json!({
                "group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
                "namespace": crate::meta::namespace(a), "name": crate::meta::name(a),
                "health": {},
            });
            if let Some(s) = a
                .pointer("/status/sync/status")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                r["status"] = json!(s);
            }
            if let Some(h) = a
                .pointer("/status/health/status")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                r["health"] = json!({"status": h});
            }
            r
        })
        .collect();
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    out
}

/// Reconciles one ApplicationSet.
pub async fn reconcile(shared: Arc<Shared>, set: Value) -> Result<Duration, String> {
    let ns = crate::meta::namespace(&set).to_string();
    let name = crate::meta::name(&set).to_string();
    // the ApplicationSet as the API server has it now: a reconcile triggered by one of its
    // Applications may run before the watch delivered the set's own latest change, and must
    // not undo an edit the newer spec allows (ignoreApplicationDifferences, a policy change)
    let sets: Api<DynamicObject> = Api::namespaced_with(shared.hub.clone(), &ns, &super::application_sets());
    let set = match sets.get_opt(&name).await {
        Ok(Some(s)) => serde_json::to_value(s).unwrap_or(set),
        Ok(None) => return Ok(Duration::from_secs(3600)),
        Err(_) => set,
    };
    if set.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Duration::from_secs(3600));
    }
    let apps_api: Api<DynamicObject> = Api::namespaced_with(shared.hub.clone(), &ns, &super::applications());
    let spec = set.get("spec").cloned().unwrap_or(json!({}));
    let t = Templating {
        go: spec.get("goTemplate") == Some(&json!(true)),
        options: spec
            .get("goTemplateOptions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(str::to_string))
            .collect(),
    };
    let policy = spec
        .pointer("/syncPolicy/applicationsSync")
        .and_then(Value::as_str)
        .unwrap_or("sync")
        .to_string();
    let refresh = set
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REFRESH_ANNOTATION))
        .is_some();
    let status = set.get("status").cloned().unwrap_or(json!({}));
    let mut conditions = Conditions {
        list: status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        rolling: rollout::is_rolling_sync(&spec),
        now: crate::meta::now_rfc3339(),
    };
    let mut app_statuses: Vec<AppStatus> = status
        .get("applicationStatus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(AppStatus::from_json)
        .collect();
    let mut resources_status = status.get("resources").cloned();

    let gens = Generators {
        shared: &shared,
        set: &set,
        t: t.clone(),
        refresh,
    };
    let generated = generate_applications(&gens, &spec, &ns).await;
    let validated = match &generated {
        Ok(apps) => Some(validate(&shared, &name, apps).await),
        Err(_) => None,
    };
    // the set's Applications: those it controls, by its name
    let live: Vec<Value> = apps_api
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?
        .items
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .filter(|a| {
            controller_set(a).is_some_and(|r| {
                r["kind"] == "ApplicationSet"
                    && r["apiVersion"] == "argoproj.io/v1alpha1"
                    && r["name"] == name.as_str()
            })
        })
        .collect();
    // the set changed while its Applications were generated and listed (a reconcile
    // triggered by an Application edit racing an edit of the set): start over with the newer
    // spec rather than apply the older one over what was just listed
    let started = set.pointer("/metadata/generation").cloned();
    if let Ok(Some(now)) = sets.get_opt(&name).await
        && now.metadata.generation.map(Value::from) != started
    {
        return Ok(Duration::ZERO);
    }
    let outcome: Result<(), ()> = async {
        let generated = match generated {
            Ok(apps) => apps,
            Err((reason, message)) => {
                conditions.set(condition(ERROR_OCCURRED, "True", &reason, &message), false);
                return Err(());
            }
        };
        let errors = match validated.unwrap_or_else(|| Ok(BTreeMap::new())) {
            Ok(e) => e,
            Err(message) => {
                conditions.set(
                    condition(ERROR_OCCURRED, "True", "ApplicationValidationError", &message),
                    true,
                );
                return Err(());
            }
        };
        resources_status = Some(json!(resources(&live)));

        let progressive = progressive_syncs(&shared).await;
        let mut may_sync = BTreeMap::new();
        if progressive && rollout::is_rolling_sync(&spec) {
            let p = rollout::perform(
                &spec,
                &mut app_statuses,
                &live,
                &generated,
                &conditions.now.clone(),
            );
            may_sync = p.may_sync;
            let (status, reason, message) = p.condition;
            conditions.set(condition(ROLLOUT_PROGRESSING, status, reason, &message), true);
        } else {
            // progressive syncs off, or not RollingSync: no application statuses
            app_statuses.clear();
        }

        let mut valid: Vec<Value> = generated
            .iter()
            .filter(|a| {
                !errors.contains_key(&format!("{}/{}", crate::meta::namespace(a), crate::meta::name(a)))
            })
            .cloned()
            .collect();
        if let Some(last) = errors.values().last() {
            // only the last message (by Application) is shown
            let message = match errors.len() {
                1 => last.clone(),
                n => format!("{last} (and {} more)", n - 1),
            };
            conditions.set(
                condition(ERROR_OCCURRED, "True", "ApplicationValidationError", &message),
                true,
            );
        }
        if progressive && rollout::rolling_sync_enabled(&spec) {
            rollout::sync_valid_applications(&mut valid, &app_statuses, &may_sync, &live);
        }

        let (result, reason) = if policy == "create-update" || policy == "sync" {
            (
                create_or_update(&apps_api, &set, &spec, &valid, &live).await,
                "UpdateApplicationError",
            )
        } else {
            // createInCluster: only what the set does not have yet
            let new: Vec<Value> = valid
                .iter()
                .filter(|a| !live.iter().any(|l| crate::meta::name(l) == crate::meta::name(a)))
                .cloned()
                .collect();
            (
                create_or_update(&apps_api, &set, &spec, &new, &live).await,
                "CreateApplicationError",
            )
        };
        if let Err(message) = result {
            conditions.set(condition(ERROR_OCCURRED, "True", reason, &message), true);
            return Err(());
        }
        if policy == "sync" || policy == "create-delete" {
            delete_in_cluster(&shared, &apps_api, &generated, &live).await;
        }
        if refresh {
            let _ = sets
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"metadata": {"annotations": {REFRESH_ANNOTATION: null}}})),
                )
                .await;
        }
        if errors.is_empty() {
            conditions.set(
                condition(
                    RESOURCES_UP_TO_DATE,
                    "True",
                    "ApplicationSetUpToDate",
                    "All applications have been generated successfully",
                ),
                true,
            );
            Ok(())
        } else {
            Err(())
        }
    }
    .await;

    // status: conditions, resources and application statuses, written when they changed
    let mut new_status = json!({"conditions": conditions.list});
    if let Some(r) = resources_status.filter(|r| r.as_array().is_some_and(|a| !a.is_empty())) {
        new_status["resourcesCount"] = json!(r.as_array().map(Vec::len).unwrap_or_default());
        new_status["resources"] = r;
    }
    if !app_statuses.is_empty() {
        new_status["applicationStatus"] =
            json!(app_statuses.iter().map(AppStatus::to_json).collect::<Vec<_>>());
    }
    if status != new_status {
        let mut patch = new_status.clone();
        for k in status
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if patch.get(&k).is_none() {
                patch[&k] = Value::Null;
            }
        }
        match sets
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": patch})),
            )
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(match outcome {
        Ok(()) => Duration::from_secs(1),
        Err(()) => Duration::from_secs(3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(c: &Conditions) -> Vec<(String, String, String, String)> {
        c.list
            .iter()
            .map(|c| {
                (
                    c["type"].as_str().unwrap().into(),
                    c["status"].as_str().unwrap().into(),
                    c["reason"].as_str().unwrap().into(),
                    c["message"].as_str().unwrap().into(),
                )
            })
            .collect()
    }

    fn s(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
        (a.into(), b.into(), c.into(), d.into())
    }

    #[test]
    fn conditions_follow_argo_cds_rules() {
        let mut c = Conditions {
            list: vec![],
            rolling: false,
            now: "t1".into(),
        };
        c.set(
            condition(ERROR_OCCURRED, "True", "RenderTemplateParamsError", "boom"),
            false,
        );
        assert_eq!(
            types(&c),
            [
                s("ErrorOccurred", "True", "RenderTemplateParamsError", "boom"),
                s("ParametersGenerated", "False", "ErrorOccurred", "boom"),
                s("ResourcesUpToDate", "False", "ErrorOccurred", "boom"),
            ]
        );
        c.now = "t2".into();
        c.set(
            condition(
                RESOURCES_UP_TO_DATE,
                "True",
                "ApplicationSetUpToDate",
                "All applications have been generated successfully",
            ),
            true,
        );
        assert_eq!(
            types(&c),
            [
                s(
                    "ErrorOccurred",
                    "False",
                    "ApplicationSetUpToDate",
                    "All applications have been generated successfully"
                ),
                s(
                    "ParametersGenerated",
                    "True",
                    "ParametersGenerated",
                    "Successfully generated parameters for all Applications"
                ),
                s(
                    "ResourcesUpToDate",
                    "True",
                    "ApplicationSetUpToDate",
                    "All applications have been generated successfully"
                ),
            ]
        );
        // unchanged conditions keep their time
        c.now = "t3".into();
        c.set(
            condition(
                RESOURCES_UP_TO_DATE,
                "True",
                "ApplicationSetUpToDate",
                "All applications have been generated successfully",
            ),
            true,
        );
        assert!(c.list.iter().all(|x| x["lastTransitionTime"] == "t2"));
        // RolloutProgressing stays with RollingSync, goes without it
        c.rolling = true;
        c.set(
            condition(
                ROLLOUT_PROGRESSING,
                "True",
                "ApplicationSetModified",
                "ApplicationSet is performing rollout of step 1",
            ),
            true,
        );
        assert_eq!(c.list.len(), 4);
        c.set(
            condition(
                RESOURCES_UP_TO_DATE,
                "True",
                "ApplicationSetUpToDate",
                "All applications have been generated successfully",
            ),
            true,
        );
        assert_eq!(c.list[3]["type"], ROLLOUT_PROGRESSING);
        c.rolling = false;
        c.set(
            condition(
                RESOURCES_UP_TO_DATE,
                "True",
                "ApplicationSetUpToDate",
                "All applications have been generated successfully",
            ),
            true,
        );
        assert_eq!(c.list.len(), 3);
    }
}

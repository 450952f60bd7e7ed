//! The ApplicationSet controller: generators (list, clusters, git directories and files,
//! matrix, merge) produce parameter sets; each renders the template (fasttemplate
//! `{{name}}` or, with `goTemplate`, Go templates `{{.name}}`, plus `templatePatch`) into an
//! Application owned by the set; the sync policy decides what may be created, updated and
//! deleted; status conditions are written as Argo CD writes them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Map, Value, json};

use super::Shared;
use super::gotemplate::{self, sanitize_name};
use super::repo::SourceFile;

type Params = Map<String, Value>;

/// `*` and `?` within one path segment; `**` across segments.
fn path_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(pp), Some(ss)) => {
                crate::standins::kyverno::pattern::wildcard_match(pp, ss) && go(&p[1..], &s[1..])
            }
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    go(&p, &s)
}

fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).to_string()
}

fn dirname(p: &str) -> String {
    match p.rsplit_once('/') {
        Some((d, _)) => d.to_string(),
        None => ".".to_string(),
    }
}

/// Flattens nested maps to `a.b` keys with string values (fasttemplate parameters).
fn flatten(prefix: &str, v: &Value, out: &mut Params) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), json!(s));
        }
        Value::Null => {
            out.insert(prefix.to_string(), json!("<nil>"));
        }
        other => {
            out.insert(
                prefix.to_string(),
                json!(crate::standins::kyverno::pattern::go_display(other)),
            );
        }
    }
}

fn path_params(path: &str, file: Option<&str>, go: bool, prefix: &str) -> Params {
    let mut out = Params::new();
    let mut p = json!({
        "path": path, "basename": basename(path), "basenameNormalized": sanitize_name(&basename(path)),
        "segments": path.split('/').collect::<Vec<_>>(),
    });
    if let Some(f) = file {
        p["filename"] = json!(basename(f));
        p["filenameNormalized"] = json!(sanitize_name(&basename(f)));
    }
    if go {
        if prefix.is_empty() {
            out.insert("path".into(), p);
        } else {
            out.insert(prefix.into(), json!({"path": p}));
        }
    } else {
        let name = if prefix.is_empty() {
            "path".to_string()
        } else {
            format!("{prefix}.path")
        };
        out.insert(name.clone(), json!(path));
        out.insert(format!("{name}.basename"), p["basename"].clone());
        out.insert(
            format!("{name}.basenameNormalized"),
            p["basenameNormalized"].clone(),
        );
        if file.is_some() {
            out.insert(format!("{name}.filename"), p["filename"].clone());
            out.insert(
                format!("{name}.filenameNormalized"),
                p["filenameNormalized"].clone(),
            );
        }
        for (i, seg) in path.split('/').enumerate() {
            out.insert(format!("{name}[{i}]"), json!(seg));
        }
    }
    out
}

fn label_selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let ml = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let me = crate::standins::match_expressions_hold(selector, |k| labels.get(k).map(String::as_str));
    ml && me
}

/// Renders a string with fasttemplate: `{{ key }}` replaced by parameters, unknown tags kept.
fn fasttemplate(s: &str, params: &Params) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let tag = after[..end].trim();
                match params.get(tag) {
                    Some(Value::String(v)) => out.push_str(v),
                    Some(other) => out.push_str(&other.to_string()),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `goTemplateOptions` as Go template options (the only one Argo CD documents).
fn go_options(strict: bool) -> Vec<String> {
    if strict {
        vec!["missingkey=error".to_string()]
    } else {
        Vec::new()
    }
}

/// Renders every string of `v` (keys included) with the parameters.
fn render_value(v: &Value, params: &Params, go: bool, strict: bool) -> Result<Value, String> {
    let render = |s: &str| -> Result<String, String> {
        if go {
            gotemplate::render(s, params, &go_options(strict))
        } else {
            Ok(fasttemplate(s, params))
        }
    };
    Ok(match v {
        Value::String(s) => Value::String(render(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_value(x, params, go, strict))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                out.insert(render(k)?, render_value(x, params, go, strict)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

impl Shared {
    /// The parameter sets of one generator.
    fn generate<'a>(
        &'a self,
        g: &'a Value,
        go: bool,
        strict: bool,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Params>, String>> {
        self.generate_with(g, go, strict, None)
    }

    /// The parameter sets of one generator, after its `selector` (Argo CD's Transform):
    /// with `outer`, the generator is first rendered with those parameters (the second
    /// child of a matrix sees the first's, as InterpolateGenerator does).
    fn generate_with<'a>(
        &'a self,
        g: &'a Value,
        go: bool,
        strict: bool,
        outer: Option<&'a Params>,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Params>, String>> {
        Box::pin(async move {
            let rendered;
            let g = match outer {
                Some(p) if !p.is_empty() => {
                    // the selector is not rendered: Argo CD parses it before interpolating
                    let mut spec = g.clone();
                    let selector = spec.as_object_mut().and_then(|m| m.remove("selector"));
                    rendered = {
                        let mut r = render_value(&spec, p, go, false).map_err(|e| {
                            format!("failed to get params for second generator in the matrix generator: {e}")
                        })?;
                        if let (Some(sel), Some(m)) = (selector, r.as_object_mut()) {
                            m.insert("selector".into(), sel);
                        }
                        r
                    };
                    &rendered
                }
                _ => g,
            };
            let params = self.generate_unfiltered(g, go, strict).await?;
            let Some(selector) = g.get("selector").filter(|s| !s.is_null()) else {
                return Ok(params);
            };
            Ok(params
                .into_iter()
                .filter(|p| {
                    let mut flat = Params::new();
                    flatten("", &Value::Object(p.clone()), &mut flat);
                    let labels: BTreeMap<String, String> = flat
                        .into_iter()
                        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                        .collect();
                    label_selector_matches(selector, &labels)
                })
                .collect())
        })
    }

    fn generate_unfiltered<'a>(
        &'a self,
        g: &'a Value,
        go: bool,
        strict: bool,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Params>, String>> {
        Box::pin(async move {
            if let Some(list) = g.get("list") {
                let mut out = Vec::new();
                for e in list
                    .get("elements")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let mut p = Params::new();
                    if go {
                        p = e.as_object().cloned().unwrap_or_default();
                    } else {
                        flatten("", e, &mut p);
                    }
                    out.push(p);
                }
                return Ok(out);
            }
            if let Some(c) = g.get("clusters") {
                return self.clusters_generator(c, go, strict).await;
            }
            if let Some(git) = g.get("git") {
                return self.git_generator(git, go).await;
            }
            if let Some(m) = g.get("matrix") {
                let children: Vec<Value> = m
                    .get("generators")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if children.len() != 2 {
                    return Err(format!(
                        "matrix generator must have exactly 2 generators, found {}",
                        children.len()
                    ));
                }
                let first = self.generate(&children[0], go, strict).await?;
                let mut out = Vec::new();
                for a in &first {
                    // the second child is rendered with each of the first's parameter sets
                    let second = self.generate_with(&children[1], go, strict, Some(a)).await?;
                    for b in second {
                        // the first generator's values win (mergo.WithOverride of a over b)
                        let mut p = b;
                        for (k, v) in a {
                            p.insert(k.clone(), v.clone());
                        }
                        out.push(p);
                    }
                }
                return Ok(out);
            }
            if let Some(m) = g.get("merge") {
                let keys: Vec<String> = m
                    .get("mergeKeys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect();
                let children: Vec<Value> = m
                    .get("generators")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let Some((base, others)) = children.split_first() else {
                    return Err("merge generator has no generators".into());
                };
                let mut out = self.generate(base, go, strict).await?;
                let key_of = |p: &Params| {
                    keys.iter()
                        .map(|k| p.get(k).map(|v| v.to_string()).unwrap_or_default())
                        .collect::<Vec<_>>()
                };
                for other in others {
                    for o in self.generate(other, go, strict).await? {
                        for p in out.iter_mut().filter(|p| key_of(p) == key_of(&o)) {
                            for (k, v) in &o {
                                p.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
                return Ok(out);
            }
            Err(format!(
                "unsupported generator {}: the hubspoke sim supports list, clusters, git, matrix and merge",
                g
            ))
        })
    }

    async fn clusters_generator(&self, c: &Value, go: bool, strict: bool) -> Result<Vec<Params>, String> {
        let selector = c.get("selector").cloned().unwrap_or(json!({}));
        let has_selector = selector
            .get("matchLabels")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
            || selector
                .get("matchExpressions")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.hub.clone(), &self.namespace);
        let list = secrets
            .list(&kube::api::ListParams::default().labels("argocd.argoproj.io/secret-type=cluster"))
            .await
            .map_err(|e| format!("error getting cluster secrets: {e}"))?;
        let text = |s: &k8s_openapi::api::core::v1::Secret, k: &str| {
            s.data
                .as_ref()
                .and_then(|d| d.get(k))
                .map(|b| String::from_utf8_lossy(&b.0).to_string())
                .unwrap_or_default()
        };
        // one per cluster name, as Argo CD keys them
        let mut by_name: BTreeMap<String, &k8s_openapi::api::core::v1::Secret> = BTreeMap::new();
        for s in &list.items {
            let labels = s.metadata.labels.clone().unwrap_or_default();
            if label_selector_matches(&selector, &labels) {
                by_name.insert(text(s, "name"), s);
            }
        }
        let values = c.get("values").cloned().unwrap_or(json!({}));
        let mut out = Vec::new();
        let add_values = |mut p: Params| -> Result<Params, String> {
            let rendered = render_value(&values, &p, go, strict)?;
            if go {
                p.insert("values".into(), rendered);
            } else {
                for (k, v) in rendered.as_object().into_iter().flatten() {
                    p.insert(format!("values.{k}"), v.clone());
                }
            }
            Ok(p)
        };
        let mut has_in_cluster = false;
        for (name, s) in &by_name {
            let mut p = Params::new();
            let server = text(s, "server");
            has_in_cluster |= server == super::clusters::IN_CLUSTER;
            p.insert("name".into(), json!(name));
            p.insert("nameNormalized".into(), json!(sanitize_name(name)));
            p.insert("server".into(), json!(server));
            p.insert("project".into(), json!(text(s, "project")));
            let labels = s.metadata.labels.clone().unwrap_or_default();
            let annotations = s.metadata.annotations.clone().unwrap_or_default();
            if go {
                let mut meta = Map::new();
                if !annotations.is_empty() {
                    meta.insert("annotations".into(), json!(annotations));
                }
                if !labels.is_empty() {
                    meta.insert("labels".into(), json!(labels));
                }
                p.insert("metadata".into(), Value::Object(meta));
            } else {
                for (k, v) in &annotations {
                    p.insert(format!("metadata.annotations.{k}"), json!(v));
                }
                for (k, v) in &labels {
                    p.insert(format!("metadata.labels.{k}"), json!(v));
                }
            }
            out.push(add_values(p)?);
        }
        if !has_selector && !has_in_cluster {
            let mut p = Params::new();
            p.insert("name".into(), json!("in-cluster"));
            p.insert("nameNormalized".into(), json!("in-cluster"));
            p.insert("server".into(), json!(super::clusters::IN_CLUSTER));
            p.insert("project".into(), json!(""));
            out.push(add_values(p)?);
        }
        Ok(out)
    }

    async fn git_generator(&self, git: &Value, go: bool) -> Result<Vec<Params>, String> {
        let url = git
            .get("repoURL")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let rev = git
            .get("revision")
            .and_then(Value::as_str)
            .unwrap_or("HEAD")
            .to_string();
        let prefix = git
            .get("pathParamPrefix")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let repos = self.repos.clone();
        let (dirs, files) = tokio::task::spawn_blocking(move || -> Result<_, String> {
            let sha = repos.resolve(&url, &rev)?;
            repos.tree(&url, &sha)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("error generating params from git: {e}"))?;
        let mut out = Vec::new();
        if let Some(ds) = git.get("directories").and_then(Value::as_array) {
            let wanted = |d: &str| {
                let mut ok = false;
                for r in ds {
                    let p = r.get("path").and_then(Value::as_str).unwrap_or("");
                    if path_match(p, d) {
                        ok = r.get("exclude") != Some(&json!(true));
                    }
                }
                ok
            };
            for d in dirs.iter().filter(|d| wanted(d)) {
                out.push(path_params(d, None, go, &prefix));
            }
        }
        if let Some(fs) = git.get("files").and_then(Value::as_array) {
            let patterns: Vec<&str> = fs
                .iter()
                .filter_map(|f| f.get("path").and_then(Value::as_str))
                .collect();
            for f in files
                .iter()
                .filter(|f: &&SourceFile| patterns.iter().any(|p| path_match(p, &f.path)))
            {
                let text = String::from_utf8_lossy(&f.content);
                let objects: Vec<Value> = match serde_saphyr::from_str::<Value>(&text) {
                    Ok(Value::Array(a)) => a,
                    Ok(Value::Null) => vec![json!({})],
                    Ok(v) => vec![v],
                    Err(e) => {
                        return Err(format!(
                            "error generating params from git: unable to parse file: {e}"
                        ));
                    }
                };
                for o in objects {
                    let mut p = Params::new();
                    if go {
                        p = o.as_object().cloned().unwrap_or_default();
                    } else {
                        flatten("", &o, &mut p);
                    }
                    for (k, v) in path_params(&dirname(&f.path), Some(&f.path), go, &prefix) {
                        p.insert(k, v);
                    }
                    out.push(p);
                }
            }
        }
        Ok(out)
    }
}

fn condition(t: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": t, "status": status, "reason": reason, "message": message, "lastTransitionTime": crate::meta::now_rfc3339()})
}

/// Reconciles one ApplicationSet.
pub async fn reconcile(shared: Arc<Shared>, set: Value) -> Result<Duration, String> {
    let ns = crate::meta::namespace(&set).to_string();
    let name = crate::meta::name(&set).to_string();
    // the ApplicationSet as the API server has it now: a reconcile triggered by one of its
    // Applications may run before the watch delivered the set's own latest change, and must
    // not undo an edit the newer spec allows (ignoreApplicationDifferences, a policy change)
    let fresh: Api<DynamicObject> = Api::namespaced_with(shared.hub.clone(), &ns, &super::application_sets());
    let set = match fresh.get_opt(&name).await {
        Ok(Some(s)) => serde_json::to_value(s).unwrap_or(set),
        Ok(None) => return Ok(Duration::from_secs(3600)),
        Err(_) => set,
    };
    let uid = set
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if set.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Duration::from_secs(3600));
    }
    let sets: Api<DynamicObject> = Api::namespaced_with(shared.hub.clone(), &ns, &super::application_sets());
    let apps: Api<DynamicObject> = Api::namespaced_with(shared.hub.clone(), &ns, &super::applications());
    let spec = set.get("spec").cloned().unwrap_or(json!({}));
    let go = spec.get("goTemplate") == Some(&json!(true));
    let strict = spec
        .get("goTemplateOptions")
        .and_then(Value::as_array)
        .is_some_and(|o| o.iter().any(|x| x == "missingkey=error"));
    let policy = spec
        .pointer("/syncPolicy/applicationsSync")
        .and_then(Value::as_str)
        .unwrap_or("sync")
        .to_string();
    let preserve = spec.pointer("/syncPolicy/preserveResourcesOnDeletion") == Some(&json!(true));

    // parameters, then Applications
    let mut params = Vec::new();
    let mut error: Option<(String, String)> = None;
    for g in spec
        .get("generators")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match shared.generate(g, go, strict).await {
            Ok(p) => params.extend(p),
            Err(e) => {
                error = Some(("ApplicationGenerationFromParamsError".into(), e));
                break;
            }
        }
    }
    let mut desired: BTreeMap<String, Value> = BTreeMap::new();
    if error.is_none() {
        let template = spec.get("template").cloned().unwrap_or(json!({}));
        for p in &params {
            let rendered = render_value(&template, p, go, strict).and_then(|mut app| {
                if let Some(patch) = spec.get("templatePatch").and_then(Value::as_str) {
                    let text = if go {
                        gotemplate::render(patch, p, &go_options(strict))?
                    } else {
                        fasttemplate(patch, p)
                    };
                    let patch: Value = serde_saphyr::from_str(&text)
                        .map_err(|e| format!("error unmarshalling templatePatch: {e}"))?;
                    // a patch that renders to nothing changes nothing
                    if patch.is_object() {
                        merge_patch(&mut app, &patch);
                    }
                }
                Ok(app)
            });
            match rendered {
                Ok(app) => {
                    let app_name = app
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    if app_name.is_empty() {
                        error = Some((
                            "ApplicationValidationError".into(),
                            "application name is empty".into(),
                        ));
                        break;
                    }
                    if desired.contains_key(&app_name) {
                        error = Some((
                            "ApplicationValidationError".into(),
                            format!(
                                "ambiguous Application name {app_name:?}: two parameter sets generate it"
                            ),
                        ));
                        break;
                    }
                    desired.insert(app_name, app);
                }
                Err(e) => {
                    error = Some(("RenderTemplateParamsError".into(), e));
                    break;
                }
            }
        }
    }
    let existing: Vec<Value> = apps
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?
        .items
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .filter(|a| {
            a.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|rs| rs.iter().any(|r| r["uid"] == uid.as_str()))
        })
        .collect();
    // the set changed while its Applications were generated (a reconcile triggered by an
    // Application edit racing an edit of the set): start over with the newer spec rather
    // than apply the older one over the Applications just listed
    let started = set.pointer("/metadata/generation").cloned();
    if let Ok(Some(now)) = fresh.get_opt(&name).await
        && now.metadata.generation.map(serde_json::Value::from) != started
    {
        return Ok(Duration::ZERO);
    }
    if error.is_none() {
        for (app_name, tpl) in &desired {
            let mut finalizers = tpl.pointer("/metadata/finalizers").cloned().unwrap_or(json!([]));
            if preserve {
                finalizers = json!(
                    finalizers
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|f| !f.as_str().unwrap_or("").starts_with(super::FINALIZER))
                        .collect::<Vec<_>>()
                );
            }
            let mut app = json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {
                    "name": app_name, "namespace": ns,
                    "labels": tpl.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                    "annotations": tpl.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                    "finalizers": finalizers,
                    "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}],
                },
                "spec": tpl.get("spec").cloned().unwrap_or(json!({})),
            });
            match existing
                .iter()
                .find(|a| a.pointer("/metadata/name").and_then(Value::as_str) == Some(app_name.as_str()))
            {
                None => {
                    if let Some(m) = app["metadata"].as_object_mut() {
                        m.retain(|_, v| !(v.is_object() && v.as_object().is_some_and(|o| o.is_empty())));
                    }
                    let obj: DynamicObject = serde_json::from_value(app).map_err(|e| e.to_string())?;
                    match apps.create(&PostParams::default(), &obj).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) => {
                            error = Some(("CreateApplicationError".into(), s.message));
                            break;
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
                // ApplicationsSyncPolicy.AllowUpdate: only create-update and sync modify
                // existing Applications
                Some(current) if policy == "create-update" || policy == "sync" => {
                    preserve_fields(&spec, current, &mut app);
                    if let Err(e) = keep_ignored(&spec, app_name, current, &mut app) {
                        error = Some(("UpdateApplicationError".into(), e));
                        break;
                    }
                    let same = current.get("spec") == app.get("spec")
                        && current.pointer("/metadata/labels").cloned().unwrap_or(json!({}))
                            == app["metadata"]["labels"]
                        && current
                            .pointer("/metadata/annotations")
                            .cloned()
                            .unwrap_or(json!({}))
                            == app["metadata"]["annotations"];
                    if !same {
                        // a JSON merge patch from the live Application to the generated one, as
                        // controller-runtime's MergeFrom makes it: fields the generated one
                        // lacks are nulled, so the spec is replaced whole
                        let part = |a: &Value| {
                            json!({"metadata": {
                                "labels": a.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                                "annotations": a.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
                            }, "spec": a.get("spec").cloned().unwrap_or(json!({}))})
                        };
                        let patch = merge_diff(&part(current), &part(&app));
                        if let Err(e) = apps
                            .patch(app_name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                        {
                            error = Some(("UpdateApplicationError".into(), e.to_string()));
                            break;
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }
    if error.is_none() && (policy == "sync" || policy == "create-delete") {
        for a in &existing {
            let n = a.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            if !desired.contains_key(n) {
                if preserve {
                    let fins: Vec<Value> = a
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter(|f| !f.as_str().unwrap_or("").starts_with(super::FINALIZER))
                        .cloned()
                        .collect();
                    let _ = apps
                        .patch(
                            n,
                            &PatchParams::default(),
                            &Patch::Merge(&json!({"metadata": {"finalizers": fins}})),
                        )
                        .await;
                }
                match apps.delete(n, &DeleteParams::default()).await {
                    Ok(_) | Err(kube::Error::Api(_)) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
    }
    // status
    let conditions = match &error {
        None => vec![
            condition(
                "ErrorOccurred",
                "False",
                "ApplicationSetUpToDate",
                "All applications have been generated successfully",
            ),
            condition(
                "ParametersGenerated",
                "True",
                "ParametersGenerated",
                "Successfully generated parameters for all Applications",
            ),
            condition(
                "ResourcesUpToDate",
                "True",
                "ApplicationSetUpToDate",
                "All applications have been generated successfully",
            ),
        ],
        Some((reason, message)) => {
            let params_ok = reason != "ApplicationGenerationFromParamsError";
            vec![
                condition("ErrorOccurred", "True", reason, message),
                if params_ok {
                    condition(
                        "ParametersGenerated",
                        "True",
                        "ParametersGenerated",
                        "Successfully generated parameters for all Applications",
                    )
                } else {
                    condition("ParametersGenerated", "False", "ErrorOccurred", message)
                },
                condition("ResourcesUpToDate", "False", "ErrorOccurred", message),
            ]
        }
    };
    let previous = set
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let conditions: Vec<Value> = conditions
        .into_iter()
        .map(|mut c| {
            if let Some(p) = previous
                .iter()
                .find(|p| p["type"] == c["type"] && p["status"] == c["status"])
            {
                c["lastTransitionTime"] = p["lastTransitionTime"].clone();
            }
            c
        })
        .collect();
    let live = apps.list(&Default::default()).await.map_err(|e| e.to_string())?;
    let mut resources: Vec<Value> = live
        .items
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .filter(|a| desired.contains_key(a.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")))
        .map(|a| {
            let mut r = json!({
                "group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
                "namespace": ns, "name": a.pointer("/metadata/name"),
                "status": a.pointer("/status/sync/status").cloned().unwrap_or(json!("Unknown")),
            });
            if let Some(h) = a.pointer("/status/health/status") {
                r["health"] = json!({"status": h});
            }
            r
        })
        .collect();
    resources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let status = json!({"conditions": conditions, "resources": resources});
    if set.get("status") != Some(&status) {
        match sets
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(if error.is_some() {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(1)
    })
}

/// `ignoreApplicationDifferences` (applicationset/utils/createOrUpdate.go): the fields its
/// rules name (all Applications, or the one a rule's `name` says) are taken out of both the
/// live and the generated Application before the update, so the update leaves their live
/// values alone. Here: the generated Application gets the live values (or loses the field
/// where the live one has none), and is then written whole.
fn keep_ignored(spec: &Value, app_name: &str, live: &Value, app: &mut Value) -> Result<(), String> {
    for rule in spec
        .get("ignoreApplicationDifferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = rule.get("name").and_then(Value::as_str).unwrap_or("");
        if !name.is_empty() && name != app_name {
            continue;
        }
        if rule
            .get("jqPathExpressions")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            return Err(
                "failed to apply ignore differences: jqPathExpressions are not evaluated by the hubspoke sim; name the fields with jsonPointers"
                    .into(),
            );
        }
        for p in rule
            .get("jsonPointers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            match live.pointer(p) {
                Some(v) => set_pointer(app, p, v.clone()),
                None => remove_pointer(app, p),
            }
        }
    }
    Ok(())
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Sets the value at a JSON pointer, creating the objects on the way.
fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return;
    };
    let mut at = doc;
    for t in parents {
        if !at.is_object() && !at.is_array() {
            *at = json!({});
        }
        let next = match at {
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            Value::Object(m) => Some(m.entry(t.clone()).or_insert(json!({}))),
            _ => None,
        };
        let Some(next) = next else {
            return;
        };
        at = next;
    }
    match at {
        Value::Array(a) => {
            if let Some(x) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *x = value;
            }
        }
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        other => *other = json!({last.clone(): value}),
    }
}

/// Removes the value at a JSON pointer, if there is one.
fn remove_pointer(doc: &mut Value, pointer: &str) {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut at = doc;
    for t in parents {
        at = match at {
            Value::Object(m) => match m.get_mut(t) {
                Some(x) => x,
                None => return,
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
    match at {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(a) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// The JSON merge patch (RFC 7386) turning `from` into `to`: changed fields set, fields
/// `to` lacks nulled, objects compared key by key, anything else replaced whole.
fn merge_diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(f), Value::Object(t)) => {
            let mut out = Map::new();
            for k in f.keys().filter(|k| !t.contains_key(*k)) {
                out.insert(k.clone(), Value::Null);
            }
            for (k, tv) in t {
                match f.get(k) {
                    Some(fv) if fv == tv => {}
                    Some(fv) if fv.is_object() && tv.is_object() => {
                        out.insert(k.clone(), merge_diff(fv, tv));
                    }
                    _ => {
                        out.insert(k.clone(), tv.clone());
                    }
                }
            }
            Value::Object(out)
        }
        _ => to.clone(),
    }
}

/// The annotations every ApplicationSet keeps on its Applications (defaultPreservedAnnotations)
const PRESERVED_ANNOTATIONS: [&str; 2] = ["notified.notifications.argoproj.io", "argocd.argoproj.io/refresh"];

/// Annotations and labels the live Application keeps although the template lacks them: the
/// default ones and the set's `preservedFields`.
fn preserve_fields(spec: &Value, live: &Value, app: &mut Value) {
    let listed = |kind: &str| -> Vec<String> {
        spec.pointer(&format!("/preservedFields/{kind}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let mut annotations = listed("annotations");
    annotations.extend(PRESERVED_ANNOTATIONS.iter().map(|s| s.to_string()));
    for (field, keys) in [("annotations", annotations), ("labels", listed("labels"))] {
        for k in keys {
            if let Some(v) = live
                .pointer(&format!("/metadata/{field}"))
                .and_then(|m| m.get(&k))
            {
                app["metadata"][field][&k] = v.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_paths() {
        let mut p = Params::new();
        p.insert("name".into(), json!("spoke-a"));
        p.insert("metadata.labels.env".into(), json!("prod"));
        assert_eq!(
            fasttemplate("app-{{name}}-{{ metadata.labels.env }}-{{unknown}}", &p),
            "app-spoke-a-prod-{{unknown}}"
        );
        assert!(path_match("apps/*", "apps/web"));
        assert!(!path_match("apps/*", "apps/web/x"));
        assert!(path_match(
            "workloads/applications/**/config.json",
            "workloads/applications/a/b/config.json"
        ));
        let pp = path_params(
            "workloads/applications/web",
            Some("workloads/applications/web/spoke-a.yaml"),
            false,
            "",
        );
        assert_eq!(pp["path.basename"], "web");
        assert_eq!(pp["path.filenameNormalized"], "spoke-a.yaml");
        assert_eq!(pp["path[2]"], "web");
    }
}

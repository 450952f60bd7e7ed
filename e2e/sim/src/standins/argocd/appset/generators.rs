//! Generators as Argo CD v3.2.0 runs them (applicationset/generators): `Transform` (the
//! post-selector parsed first, the generator interpolated with a matrix's first parameters,
//! its parameters filtered by the selector over their flattened form), list, clusters, git
//! (directories and files, see [`super::git`]), matrix and merge with their nesting rules and
//! errors. The SCM provider, pull request, plugin and cluster-decision-resource generators
//! need services the sim does not have: they fail with a condition saying so.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::{Value, json};

use super::git;
use super::params::{self, Param, Params};
use super::render::{self, Scope, Templating};
use super::selector::{Flavor, Selector};
use crate::standins::argocd::Shared;
use crate::standins::argocd::gotemplate::sanitize_name;

/// The generator fields in `ApplicationSetGenerator`'s order (GetRelevantGenerators).
const KINDS: [&str; 9] = [
    "list",
    "clusters",
    "git",
    "scmProvider",
    "clusterDecisionResource",
    "pullRequest",
    "matrix",
    "merge",
    "plugin",
];

/// Where a generator sits: combinations nest once (a matrix or merge inside a matrix or
/// merge holds terminal generators only, whose `matrix`/`merge` fields do not exist).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Level {
    Top,
    Nested,
    Terminal,
}

impl Level {
    fn child(self) -> Level {
        match self {
            Level::Top => Level::Nested,
            _ => Level::Terminal,
        }
    }
}

/// One `TransformResult`: a generator's parameter sets and its template.
pub struct Generated {
    pub params: Vec<Params>,
    pub template: Value,
}

/// What the generators of one ApplicationSet reconcile share.
pub struct Generators<'a> {
    pub shared: &'a Shared,
    pub set: &'a Value,
    pub t: Templating,
    /// The set carries the refresh annotation: git is read afresh.
    pub refresh: bool,
}

fn unsupported(kind: &str) -> String {
    let what = match kind {
        "scmProvider" => "it lists repositories through an SCM provider's API",
        "pullRequest" => "it lists pull requests through an SCM provider's API",
        "plugin" => "it calls a generator plugin's HTTP service",
        _ => "it reads placement decisions from a duck-typed resource",
    };
    format!(
        "the hubspoke sim does not run the {kind} generator ({what}); it runs the list, clusters, git, matrix and merge generators"
    )
}

/// A git generator's repository and revision, in one set (by UID).
type HeldKey = (String, String, String);
/// The commit it resolved, the set's generation then, and when.
type Held = (String, i64, Instant);

/// Git revisions held for a generator's `requeueAfterSeconds`.
fn held_revisions() -> &'static Mutex<BTreeMap<HeldKey, Held>> {
    static HELD: OnceLock<Mutex<BTreeMap<HeldKey, Held>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// The parameters `appendTemplatedValues` adds: each of `values` rendered with the
/// generator's own parameters, under `values` (goTemplate, a `map[string]string`) or as
/// `values.<key>` (flat).
fn append_values(values: Option<&Value>, params: &mut Params, t: &Templating) -> Result<(), String> {
    let Some(values) = values.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let mut rendered = BTreeMap::new();
    {
        let scope = Scope::new(t, params);
        for (k, v) in values {
            let text = v.as_str().unwrap_or_default();
            let r = scope.replace(text).map_err(|e| {
                format!(
                    "failed to replace templated string: failed to replace templated string with rendered values: {e}"
                )
            })?;
            rendered.insert(k.clone(), r);
        }
    }
    if t.go {
        params.insert("values".into(), Param::StrMap(rendered));
    } else {
        for (k, v) in rendered {
            params.insert(format!("values.{k}"), Param::Str(v));
        }
    }
    Ok(())
}

impl Generators<'_> {
    /// `Transform`: every generator the entry names (in field order), each interpolated with
    /// `gen_params` when given, its parameters filtered by the entry's post-selector. The
    /// first error ends it (Argo CD goes on but reports the first).
    pub fn transform<'b>(
        &'b self,
        g: &'b Value,
        level: Level,
        base: &'b Value,
        gen_params: Option<&'b Params>,
    ) -> BoxFuture<'b, Result<Vec<Generated>, String>> {
        Box::pin(async move {
            let selector = match g.get("selector").filter(|s| !s.is_null()) {
                Some(s) => Some(
                    Selector::parse(s, Flavor::PostSelector)
                        .map_err(|e| format!("error parsing label selector: {e}"))?,
                ),
                None => None,
            };
            let mut out = Vec::new();
            for kind in KINDS {
                if level == Level::Terminal && (kind == "matrix" || kind == "merge") {
                    continue;
                }
                let Some(spec) = g.get(kind).filter(|v| !v.is_null()) else {
                    continue;
                };
                let template =
                    render::merge_template(&spec.get("template").cloned().unwrap_or(json!({})), base);
                // InterpolateGenerator: the whole entry (selector included) rendered with the
                // other generator's parameters; the selector parsed above still filters
                let interpolated;
                let spec = match gen_params.filter(|p| !p.is_empty()) {
                    Some(p) => {
                        interpolated = Scope::new(&self.t, p)
                            .replace_json(g)
                            .map_err(|e| format!("failed to replace parameters in generator: {e}"))?;
                        interpolated.get(kind).unwrap_or(&Value::Null)
                    }
                    None => spec,
                };
                let params = self.generate(kind, spec, level).await?;
                let params = match &selector {
                    Some(sel) => params
                        .into_iter()
                        .filter(|p| sel.matches(&params::flatten(p)))
                        .collect(),
                    None => params,
                };
                out.push(Generated { params, template });
            }
            Ok(out)
        })
    }

    async fn generate(&self, kind: &str, spec: &Value, level: Level) -> Result<Vec<Params>, String> {
        match kind {
            "list" => self.list(spec),
            "clusters" => self.clusters(spec).await,
            "git" => self.git(spec).await,
            "matrix" => self.matrix(spec, level).await,
            "merge" => self.merge(spec, level).await,
            other => Err(unsupported(other)),
        }
    }

    /// A matrix's or merge's child: one generator, its parameters.
    async fn child_params(
        &self,
        child: &Value,
        level: Level,
        params: Option<&Params>,
    ) -> Result<Vec<Params>, String> {
        let mut t = self
            .transform(child, level, &json!({}), params)
            .await
            .map_err(|e| format!("child generator returned an error on parameter generation: {e}"))?;
        match t.len() {
            0 => Err("child generator generated no parameters".into()),
            1 => Ok(t.remove(0).params),
            _ => Err("found more than one generator in matrix.Generators".into()),
        }
    }

    fn list(&self, list: &Value) -> Result<Vec<Params>, String> {
        let mut out = Vec::new();
        for e in list
            .get("elements")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let element = match e {
                Value::Object(_) => Param::from_json(e),
                Value::Null => Param::Map(Params::new()),
                other => {
                    return Err(format!(
                        "error unmarshling list element json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                        json_kind(other)
                    ));
                }
            };
            let Param::Map(element) = element else { continue };
            if self.t.go {
                out.push(element);
                continue;
            }
            let mut p = Params::new();
            for (k, v) in element {
                match (k.as_str(), v) {
                    ("values", Param::Map(values)) => {
                        for (vk, vv) in values {
                            match vv {
                                Param::Str(s) => {
                                    p.insert(format!("values.{vk}"), Param::Str(s));
                                }
                                _ => return Err("error parsing value as string %!w(<nil>)".into()),
                            }
                        }
                    }
                    ("values", _) => return Err("error parsing values map".into()),
                    (_, Param::Str(s)) => {
                        p.insert(k, Param::Str(s));
                    }
                    _ => return Err("error parsing value as string %!w(<nil>)".into()),
                }
            }
            out.push(p);
        }
        // elementsYaml: appended as decoded, in either mode
        if let Some(text) = list
            .get("elementsYaml")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            let v = hubspoke_render::goyaml::unmarshal(text)
                .map_err(|e| format!("error unmarshling decoded ElementsYaml {e}"))?;
            match Param::from_go(&v) {
                Param::Null => {}
                Param::List(items) => {
                    for item in items {
                        match item {
                            Param::Map(m) => out.push(m),
                            Param::Null => out.push(Params::new()),
                            other => {
                                return Err(format!(
                                    "error unmarshling decoded ElementsYaml error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                                    param_kind(&other)
                                ));
                            }
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "error unmarshling decoded ElementsYaml error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []map[string]interface {{}}",
                        param_kind(&other)
                    ));
                }
            }
        }
        Ok(out)
    }

    async fn clusters(&self, c: &Value) -> Result<Vec<Params>, String> {
        let sel = c.get("selector").cloned().unwrap_or(json!({}));
        let non_empty = |k: &str| {
            sel.get(k).is_some_and(|v| {
                v.as_object().is_some_and(|m| !m.is_empty()) || v.as_array().is_some_and(|a| !a.is_empty())
            })
        };
        // the local cluster has no Secret, so no labels a selector could match
        let ignore_local = non_empty("matchLabels") || non_empty("matchExpressions");
        let secrets: Api<Secret> = Api::namespaced(self.shared.hub.clone(), &self.shared.namespace);
        let all = secrets
            .list(&ListParams::default().labels("argocd.argoproj.io/secret-type=cluster"))
            .await
            .map_err(|e| format!("error listing clusters: {e}"))?
            .items;
        let text = |s: &Secret, k: &str| {
            s.data
                .as_ref()
                .and_then(|d| d.get(k))
                .map(|b| String::from_utf8_lossy(&b.0).to_string())
        };
        let mut selector = Selector::parse(&sel, Flavor::Labels)
            .map_err(|e| format!("error getting cluster secrets: error converting label selector: {e}"))?;
        selector.require("argocd.argoproj.io/secret-type", "cluster");
        let mut by_name: BTreeMap<String, &Secret> = BTreeMap::new();
        for s in &all {
            let labels: BTreeMap<String, String> = s.metadata.labels.clone().unwrap_or_default();
            if selector.matches(&labels) {
                by_name.insert(text(s, "name").unwrap_or_default(), s);
            }
        }
        // ListClusters: every cluster Secret, then in-cluster unless a Secret names its URL
        let mut clusters: Vec<(String, String)> = all
            .iter()
            .map(|s| {
                (
                    text(s, "name").unwrap_or_default(),
                    text(s, "server")
                        .unwrap_or_default()
                        .trim_end_matches('/')
                        .to_string(),
                )
            })
            .collect();
        let in_cluster = crate::standins::argocd::IN_CLUSTER;
        if !clusters.iter().any(|(_, server)| server == in_cluster) {
            clusters.push(("in-cluster".into(), in_cluster.into()));
        }
        let values = c.get("values");
        let mut out = Vec::new();
        let mut found = Vec::new();
        for (name, server) in &clusters {
            if let Some(s) = by_name.get(name) {
                found.push(*s);
            } else if !ignore_local {
                let mut p = Params::new();
                p.insert("name".into(), Param::str(name));
                p.insert("nameNormalized".into(), Param::str(name));
                p.insert("server".into(), Param::str(server));
                p.insert("project".into(), Param::str(""));
                append_values(values, &mut p, &self.t)
                    .map_err(|e| format!("error appending templated values for local cluster: {e}"))?;
                out.push(p);
            }
        }
        for s in found {
            let name = text(s, "name").unwrap_or_default();
            let mut p = Params::new();
            p.insert("nameNormalized".into(), Param::str(sanitize_name(&name)));
            p.insert("name".into(), Param::Str(name));
            p.insert("server".into(), Param::str(text(s, "server").unwrap_or_default()));
            p.insert(
                "project".into(),
                Param::str(text(s, "project").unwrap_or_default()),
            );
            let labels = s.metadata.labels.clone().unwrap_or_default();
            let annotations = s.metadata.annotations.clone().unwrap_or_default();
            if self.t.go {
                let mut meta = Params::new();
                if !annotations.is_empty() {
                    meta.insert("annotations".into(), Param::StrMap(annotations));
                }
                if !labels.is_empty() {
                    meta.insert("labels".into(), Param::StrMap(labels));
                }
                p.insert("metadata".into(), Param::Map(meta));
            } else {
                for (k, v) in annotations {
                    p.insert(format!("metadata.annotations.{k}"), Param::Str(v));
                }
                for (k, v) in labels {
                    p.insert(format!("metadata.labels.{k}"), Param::Str(v));
                }
            }
            append_values(values, &mut p, &self.t)
                .map_err(|e| format!("error appending templated values for cluster: {e}"))?;
            out.push(p);
        }
        if c.get("flatList") == Some(&json!(true)) {
            return Ok(vec![Params::from([(
                "clusters".to_string(),
                Param::MapList(out),
            )])]);
        }
        Ok(out)
    }

    async fn git(&self, g: &Value) -> Result<Vec<Params>, String> {
        let shared = self.shared;
        // the project's signature keys decide whether commits are verified: the project is
        // read unless the template names it with a template
        let project = self
            .set
            .pointer("/spec/template/spec/project")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !project.contains("{{") {
            // read through the controller's cache, so an empty name is simply not found
            let projects: Api<DynamicObject> = Api::namespaced_with(
                shared.hub.clone(),
                &shared.namespace,
                &crate::standins::argocd::app_projects(),
            );
            let found = match project {
                "" => Ok(None),
                p => projects.get_opt(p).await,
            };
            match found {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(format!(
                        "error getting project {project}: appprojects.argoproj.io \"{project}\" not found"
                    ));
                }
                Err(e) => return Err(format!("error getting project {project}: {e}")),
            }
        }
        let items = |field: &str| -> Vec<(String, bool)> {
            g.get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|i| {
                    (
                        i.get("path")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        i.get("exclude") == Some(&json!(true)),
                    )
                })
                .collect()
        };
        let dirs = items("directories");
        let files = items("files");
        if dirs.is_empty() && files.is_empty() {
            return Err("ApplicationSet is empty".into());
        }
        let url = g
            .get("repoURL")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let rev = g
            .get("revision")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let prefix = g
            .get("pathParamPrefix")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let hold = g
            .get("requeueAfterSeconds")
            .and_then(Value::as_i64)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64));
        let key = (crate::meta::uid(self.set).to_string(), url.clone(), rev.clone());
        let generation = self
            .set
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        // the refresh annotation reads git now (and what it reads is held from then on)
        let held = hold.filter(|_| !self.refresh).and_then(|d| {
            let held = held_revisions().lock().unwrap_or_else(|e| e.into_inner());
            held.get(&key)
                .filter(|(_, gen_, at)| *gen_ == generation && at.elapsed() < d)
                .map(|(sha, _, _)| sha.clone())
        });
        let repos = shared.repos.clone();
        let (url2, rev2) = (url.clone(), rev.clone());
        let read = tokio::task::spawn_blocking(move || -> Result<_, (bool, String)> {
            let sha = match held {
                Some(sha) => sha,
                None => repos.resolve(&url2, &rev2).map_err(|e| (true, e))?,
            };
            let root = repos
                .local(&url2)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let tree = repos.tree(&url2, &sha).map_err(|e| (false, e))?;
            Ok((sha, root, tree))
        })
        .await
        .map_err(|e| e.to_string())?;
        let wrap = |e: String| {
            if dirs.is_empty() {
                format!("error generating params from git: error retrieving Git files: {e}")
            } else {
                format!(
                    "error generating params from git: error getting directories from repo: error retrieving Git Directories: {e}"
                )
            }
        };
        let (sha, root, (all_dirs, all_files)) = match read {
            Ok(r) => r,
            // the repo server reports its revision variable, shadowed to "" by then
            Err((true, e)) => {
                return Err(wrap(format!(
                    "rpc error: code = Internal desc = unable to resolve git revision : {e}"
                )));
            }
            Err((false, e)) => return Err(wrap(format!("rpc error: code = Internal desc = {e}"))),
        };
        if hold.is_some() {
            held_revisions()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, (sha.clone(), generation, Instant::now()));
        }
        let mut out = Vec::new();
        if !dirs.is_empty() {
            for d in git::filter_dirs(&dirs, &git::walk_dirs(all_dirs)) {
                let mut p = Params::new();
                git::path_params(&d, None, self.t.go, &prefix, &mut p);
                append_values(g.get("values"), &mut p, &self.t).map_err(|e| {
                    format!(
                        "error generating params from git: error generating params from apps: failed to append templated values: {e}"
                    )
                })?;
                out.push(p);
            }
            return Ok(out);
        }
        let selected = git::select_files(&files, &all_files, &root).map_err(|(pattern, e)| {
            wrap(format!(
                "rpc error: code = Internal desc = unable to list files. repo {url} with revision {sha} pattern {pattern}: `git ls-files --full-name -z -- {pattern}` failed exit status 128: {e}"
            ))
        })?;
        for (path, content) in selected {
            let in_file =
                |e: String| format!("error generating params from git: unable to process file '{path}': {e}");
            for mut p in git::file_objects(content, self.t.go).map_err(in_file)? {
                git::path_params(&git::dir(&path), Some(&path), self.t.go, &prefix, &mut p);
                append_values(g.get("values"), &mut p, &self.t)
                    .map_err(|e| in_file(format!("failed to append templated values: {e}")))?;
                out.push(p);
            }
        }
        Ok(out)
    }

    async fn matrix(&self, m: &Value, level: Level) -> Result<Vec<Params>, String> {
        let children: Vec<Value> = m
            .get("generators")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if children.len() < 2 {
            return Err("found less than two generators, Matrix support only two".into());
        }
        if children.len() > 2 {
            return Err("found more than two generators, Matrix support only two".into());
        }
        let level = level.child();
        let first = self.child_params(&children[0], level, None).await.map_err(|e| {
            format!("error failed to get params for first generator in matrix generator: {e}")
        })?;
        let mut out = Vec::new();
        for a in &first {
            let second = self
                .child_params(&children[1], level, Some(a))
                .await
                .map_err(|e| {
                    format!("failed to get params for second generator in the matrix generator: {e}")
                })?;
            for b in second {
                if self.t.go {
                    let mut p = Params::new();
                    params::merge_override(&mut p, &b);
                    params::merge_override(&mut p, a);
                    out.push(p);
                } else {
                    out.push(params::combine_string_maps(a, &b).map_err(|e| {
                        format!(
                            "failed to combine string maps with merging params for the matrix generator: {e}"
                        )
                    })?);
                }
            }
        }
        Ok(out)
    }

    async fn merge(&self, m: &Value, level: Level) -> Result<Vec<Params>, String> {
        let children: Vec<Value> = m
            .get("generators")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if children.len() < 2 {
            return Err("found less than two generators, Merge requires two or more".into());
        }
        let level = level.child();
        let mut sets = Vec::new();
        for (i, child) in children.iter().enumerate() {
            let p = self.child_params(child, level, None).await.map_err(|e| {
                format!(
                    "error getting param sets from generators: error getting params from generator {} of {}: {e}",
                    i + 1,
                    children.len()
                )
            })?;
            sets.push(p);
        }
        let mut keys: Vec<String> = m
            .get("mergeKeys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|k| k.as_str().unwrap_or_default().to_string())
            .collect();
        keys.sort();
        keys.dedup();
        // getParamSetsByMergeKey: the JSON of the merge keys' values, unique per generator
        let by_key = |sets: Vec<Params>| -> Result<BTreeMap<String, Params>, String> {
            if keys.is_empty() {
                return Err(
                    "error getting param sets by merge key: no merge keys were specified, Merge requires at least one"
                        .into(),
                );
            }
            let mut out = BTreeMap::new();
            for p in sets {
                let key_params: Params = keys
                    .iter()
                    .map(|k| (k.clone(), p.get(k).cloned().unwrap_or(Param::Null)))
                    .collect();
                let key = params::to_json_text(&Param::Map(key_params));
                if out.contains_key(&key) {
                    return Err(format!(
                        "error getting param sets by merge key: the parameters from a generator were not unique by the given mergeKeys, Merge requires all param sets to be unique. Duplicate key was {key}"
                    ));
                }
                out.insert(key, p);
            }
            Ok(out)
        };
        let mut sets = sets.into_iter();
        let mut base = by_key(sets.next().unwrap_or_default())?;
        for others in sets {
            let others = by_key(others)?;
            for (key, b) in base.iter_mut() {
                if let Some(o) = others.get(key) {
                    if self.t.go {
                        params::merge_override(b, o);
                    } else {
                        b.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
            }
        }
        Ok(base.into_values().collect())
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

fn param_kind(p: &Param) -> &'static str {
    match p {
        Param::Map(_) | Param::StrMap(_) => "object",
        Param::List(_) | Param::StrList(_) | Param::MapList(_) => "array",
        Param::Str(_) => "string",
        Param::Num(_) => "number",
        Param::Bool(_) => "bool",
        Param::Null => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_rendered_with_the_generators_own_parameters() {
        let go = Templating {
            go: true,
            options: vec!["missingkey=error".into()],
        };
        let mut p = Params::from([("name".to_string(), Param::str("spoke-a"))]);
        append_values(Some(&json!({"ns": "team-{{ .name }}"})), &mut p, &go).unwrap();
        assert_eq!(
            p["values"],
            Param::StrMap(BTreeMap::from([("ns".to_string(), "team-spoke-a".to_string())]))
        );
        let mut p = Params::from([("name".to_string(), Param::str("spoke-a"))]);
        assert_eq!(
            append_values(Some(&json!({"ns": "{{ .nope }}"})), &mut p, &go).unwrap_err(),
            "failed to replace templated string: failed to replace templated string with rendered values: failed to execute go template {{ .nope }}: template: :1:3: executing \"\" at <.nope>: map has no entry for key \"nope\""
        );
        let flat = Templating::default();
        let mut p = Params::from([("name".to_string(), Param::str("spoke-a"))]);
        append_values(Some(&json!({"ns": "team-{{name}}"})), &mut p, &flat).unwrap();
        assert_eq!(p["values.ns"], Param::str("team-spoke-a"));
    }
}

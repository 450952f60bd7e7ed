//! Templates as Argo CD's `utils.Render` applies them (applicationset/utils/utils.go,
//! controllers/template/template.go and patch.go, v3.2.0): fasttemplate or Go templates
//! over every string of a document (map keys included, null map entries dropped, as
//! `deeplyReplace` does), the Application built from the set's template, the default
//! resources finalizer, and `templatePatch` applied as a strategic merge patch.

use std::cell::OnceCell;

use hubspoke_render::Value as GoValue;
use hubspoke_render::gofmt::quote;
use serde_json::{Map, Value, json};

use super::params::{self, Param, Params};
use crate::standins::argocd::gotemplate;

/// How a set renders: `goTemplate` and `goTemplateOptions`.
#[derive(Clone, Debug, Default)]
pub struct Templating {
    pub go: bool,
    pub options: Vec<String>,
}

/// One parameter set ready to render strings with (the Go value is built once, as Go
/// executes every string of an Application with the same map).
pub struct Scope<'a> {
    t: &'a Templating,
    params: &'a Params,
    data: OnceCell<GoValue>,
}

impl<'a> Scope<'a> {
    pub fn new(t: &'a Templating, params: &'a Params) -> Self {
        Scope {
            t,
            params,
            data: OnceCell::new(),
        }
    }

    /// `Render.Replace`.
    pub fn replace(&self, text: &str) -> Result<String, String> {
        if !self.t.go {
            return fasttemplate(text, self.params);
        }
        // text without an action executes to itself
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let data = self.data.get_or_init(|| params::to_go(self.params));
        gotemplate::render_data(text, data, &self.t.options)
    }

    /// `deeplyReplace` over a JSON document: strings and map keys rendered (a value before
    /// its key), null map entries dropped, anything else kept.
    pub fn replace_json(&self, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(self.replace(s)?),
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.replace_json(x)).collect::<Result<_, _>>()?)
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    if x.is_null() {
                        continue;
                    }
                    let x = self.replace_json(x)?;
                    out.insert(self.replace(k)?, x);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// Whether Argo CD's `.*{{.*}}.*` finds `{{` and a later `}}` on one line.
fn is_templated(s: &str) -> bool {
    s.split('\n')
        .any(|line| line.find("{{").is_some_and(|i| line[i + 2..].contains("}}")))
}

/// fasttemplate as `Render.Replace` runs it: `{{ tag }}` replaced by the string parameter
/// `tag` (trimmed), any other tag kept as written; a start tag without an end tag is
/// fasttemplate's parse error.
pub fn fasttemplate(text: &str, params: &Params) -> Result<String, String> {
    if !is_templated(text) {
        return Ok(text.to_string());
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "invalid template: Cannot find end tag={} in the template={} starting from {}",
                quote("}}", false),
                quote(text, false),
                quote(after, false)
            ));
        };
        let tag = &after[..end];
        match params.get(tag.trim()).and_then(Param::as_str) {
            Some(v) if !tag.trim().is_empty() => out.push_str(v),
            _ => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A value decoded by sigs.k8s.io/yaml as JSON (float64 numbers printed as JSON prints them).
pub fn go_to_json(v: &GoValue) -> Value {
    match v {
        GoValue::Nil => Value::Null,
        GoValue::Bool(b) => Value::Bool(*b),
        GoValue::Int(i) | GoValue::Int64(i) => json!(i),
        GoValue::Uint8(u) => json!(u),
        GoValue::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
                json!(*f as i64)
            } else {
                json!(f)
            }
        }
        GoValue::String(s) => Value::String(s.clone()),
        GoValue::Slice(items) => Value::Array(items.iter().map(go_to_json).collect()),
        GoValue::Map(m) => Value::Object(
            m.entries()
                .iter()
                .map(|(k, v)| (k.clone(), go_to_json(v)))
                .collect(),
        ),
        other => Value::String(hubspoke_render::gofmt::format_v(other)),
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

/// `applyTemplatePatch`: the rendered patch (YAML, or JSON when it starts with `{`) checked
/// against the Application type, applied as a strategic merge patch (Application has no
/// merge keys: maps merge, lists are replaced, null removes), `spec.project` kept.
pub fn apply_template_patch(app: &Value, text: &str) -> Result<Value, String> {
    let is_json = text.trim_start().starts_with('{');
    let (patch, converted) = if is_json {
        match hubspoke_render::gojson::unmarshal(text) {
            Ok(v) => (go_to_json(&v), text.to_string()),
            Err(e) => return Err(format!("invalid templatePatch {}: {e}", quote(text, false))),
        }
    } else {
        match hubspoke_render::goyaml::unmarshal(text) {
            Ok(v) => {
                let converted = hubspoke_render::gojson::marshal(&v).unwrap_or_default();
                (go_to_json(&v), converted)
            }
            Err(e) => {
                return Err(format!(
                    "error while converting template to json {}: {e}",
                    quote(text, false)
                ));
            }
        }
    };
    let invalid = |e: String| format!("invalid templatePatch {}: {e}", quote(&converted, false));
    // json.Unmarshal into v1alpha1.Application: the shapes of its top-level fields
    match &patch {
        Value::Null => return Ok(app.clone()),
        Value::Object(m) => {
            for (field, ty) in [
                ("metadata", "v1.ObjectMeta"),
                ("spec", "v1alpha1.ApplicationSpec"),
                ("status", "v1alpha1.ApplicationStatus"),
                ("operation", "v1alpha1.Operation"),
            ] {
                if let Some(v) = m.get(field).filter(|v| !v.is_null() && !v.is_object()) {
                    return Err(invalid(format!(
                        "json: cannot unmarshal {} into Go struct field Application.{field} of type {ty}",
                        json_kind(v)
                    )));
                }
            }
            if let Some(v) = m
                .get("spec")
                .and_then(|s| s.get("project"))
                .filter(|v| !v.is_null() && !v.is_string())
            {
                return Err(invalid(format!(
                    "json: cannot unmarshal {} into Go struct field ApplicationSpec.spec.project of type string",
                    json_kind(v)
                )));
            }
        }
        other => {
            return Err(invalid(format!(
                "json: cannot unmarshal {} into Go value of type v1alpha1.Application",
                json_kind(other)
            )));
        }
    }
    let original = app.as_object().cloned().unwrap_or_default();
    let patched = crate::patch::strategic_merge_map(&original, patch.as_object().expect("an object"), None)
        .map_err(|e| {
            format!(
                "error while applying templatePatch template to json {}: {}",
                quote(&converted, false),
                e.message
            )
        })?
        .unwrap_or_default();
    let mut out = Value::Object(patched);
    // changes to the project are not allowed
    let project = app.pointer("/spec/project").cloned().unwrap_or(json!(""));
    if !out.get("spec").is_some_and(Value::is_object) {
        out["spec"] = json!({});
    }
    out["spec"]["project"] = project;
    Ok(out)
}

/// The Application one parameter set generates (`GetTempApplication`,
/// `RenderTemplateParams`, `renderTemplatePatch`), in the set's namespace. Errors are Argo
/// CD's texts (the set reports them as RenderTemplateParamsError).
pub fn application(
    template: &Value,
    params: &Params,
    t: &Templating,
    set_spec: &Value,
    namespace: &str,
) -> Result<Value, String> {
    let mut meta = Map::new();
    for k in ["name", "namespace", "labels", "annotations", "finalizers"] {
        if let Some(v) = template
            .pointer(&format!("/metadata/{k}"))
            .filter(|v| !v.is_null())
        {
            meta.insert(k.to_string(), v.clone());
        }
    }
    let tmpl = json!({"metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
    let scope = Scope::new(t, params);
    let mut app = if params.is_empty() {
        // no parameters: the template as it is
        tmpl
    } else {
        let mut app = scope.replace_json(&tmpl)?;
        let preserve = set_spec.pointer("/syncPolicy/preserveResourcesOnDeletion") == Some(&json!(true));
        let no_finalizers = app
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if !preserve && no_finalizers {
            app["metadata"]["finalizers"] = json!([crate::standins::argocd::FINALIZER]);
        }
        app
    };
    if let Some(patch) = set_spec.get("templatePatch").and_then(Value::as_str) {
        let text = scope
            .replace(patch)
            .map_err(|e| format!("error replacing values in templatePatch: {e}"))?;
        app = apply_template_patch(&app, &text)?;
    }
    if !app.get("metadata").is_some_and(Value::is_object) {
        app["metadata"] = json!({});
    }
    app["metadata"]["namespace"] = json!(namespace);
    Ok(app)
}

/// Whether a value is Go's zero value as JSON shows it (empty everything).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}

/// `argo.NormalizeApplicationSpec`: the `default` project when none is named, an empty sync
/// policy dropped, and a source's empty helm, kustomize and directory blocks dropped (a
/// directory keeps its include and exclude).
pub fn normalize_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    if m.get("project").and_then(Value::as_str).unwrap_or("").is_empty() {
        m.insert("project".into(), json!("default"));
    }
    let sync_zero = m.get("syncPolicy").is_some_and(|p| {
        p.get("automated").is_none_or(Value::is_null)
            && p.get("syncOptions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            && p.get("retry").is_none_or(Value::is_null)
            && p.get("managedNamespaceMetadata").is_none_or(Value::is_null)
    });
    if sync_zero {
        m.remove("syncPolicy");
    }
    let normalize_source = |src: &mut Value| {
        let Some(s) = src.as_object_mut() else {
            return;
        };
        for k in ["kustomize", "helm"] {
            if s.get(k).is_some_and(is_zero) {
                s.remove(k);
            }
        }
        // ApplicationSourceDirectory.IsZero looks at recurse and jsonnet only
        if let Some(d) = s.get("directory").cloned()
            && d.get("recurse").is_none_or(is_zero)
            && d.get("jsonnet").is_none_or(is_zero)
        {
            let mut kept = Map::new();
            for k in ["exclude", "include"] {
                if let Some(v) = d.get(k).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
                    kept.insert(k.into(), v.clone());
                }
            }
            if kept.is_empty() {
                s.remove("directory");
            } else {
                s.insert("directory".into(), Value::Object(kept));
            }
        }
    };
    match m.get_mut("sources").and_then(Value::as_array_mut) {
        Some(sources) if !sources.is_empty() => sources.iter_mut().for_each(normalize_source),
        _ => {
            if let Some(src) = m.get_mut("source") {
                normalize_source(src);
            }
        }
    }
}

/// `mergo.Merge(&generatorTemplate, setTemplate)` (no override): what the generator's own
/// template leaves empty comes from the set's template.
pub fn merge_template(generator: &Value, base: &Value) -> Value {
    match (generator, base) {
        (Value::Object(g), Value::Object(b)) => {
            let mut out = g.clone();
            for (k, bv) in b {
                match out.get(k) {
                    Some(gv) if gv.is_object() && bv.is_object() => {
                        let merged = merge_template(gv, bv);
                        out.insert(k.clone(), merged);
                    }
                    Some(gv) if !is_zero(gv) => {}
                    _ => {
                        out.insert(k.clone(), bv.clone());
                    }
                }
            }
            Value::Object(out)
        }
        (g, b) if is_zero(g) => b.clone(),
        (g, _) => g.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Param::str(*v)))
            .collect()
    }

    #[test]
    fn fasttemplate_replaces_string_parameters_only() {
        let mut params = p(&[("name", "spoke-a"), ("metadata.labels.env", "prod")]);
        params.insert("n".into(), Param::Num(2.0));
        assert_eq!(
            fasttemplate(
                "app-{{name}}-{{ metadata.labels.env }}-{{unknown}}-{{n}}-{{ }}",
                &params
            )
            .unwrap(),
            "app-spoke-a-prod-{{unknown}}-{{n}}-{{ }}"
        );
        // {{ and }} on different lines: not a template at all
        assert_eq!(fasttemplate("{{name\n}}", &params).unwrap(), "{{name\n}}");
        assert_eq!(
            fasttemplate("{{name}} {{name", &params).unwrap_err(),
            "invalid template: Cannot find end tag=\"}}\" in the template=\"{{name}} {{name\" starting from \"name\""
        );
    }

    #[test]
    fn applications_get_the_default_finalizer_and_the_patch() {
        let t = Templating {
            go: true,
            options: vec!["missingkey=error".into()],
        };
        let tpl = json!({"metadata": {"name": "{{ .name }}-web", "labels": {"{{ .name }}": "x", "gone": null}},
            "spec": {"project": "default", "destination": {"server": "{{ .server }}"}}});
        let params = p(&[("name", "a"), ("server", "https://a")]);
        let set = json!({"templatePatch": "spec:\n  project: other\n  syncPolicy:\n    syncOptions: [\"{{ .name }}\"]\n  destination: null\n"});
        let app = application(&tpl, &params, &t, &set, "argocd").unwrap();
        assert_eq!(
            app,
            json!({"metadata": {"name": "a-web", "namespace": "argocd", "labels": {"a": "x"},
                "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
                "spec": {"project": "default", "syncPolicy": {"syncOptions": ["a"]}}})
        );
        // preserveResourcesOnDeletion: no default finalizer; no parameters: nothing rendered
        let set = json!({"syncPolicy": {"preserveResourcesOnDeletion": true}});
        let app = application(&tpl, &params, &t, &set, "argocd").unwrap();
        assert!(app["metadata"].get("finalizers").is_none());
        let app = application(&tpl, &Params::new(), &t, &json!({}), "argocd").unwrap();
        assert_eq!(app["metadata"]["name"], "{{ .name }}-web");
        assert!(app["metadata"].get("finalizers").is_none());
    }

    #[test]
    fn template_patch_errors_are_argo_cds() {
        let t = Templating {
            go: true,
            options: vec!["missingkey=error".into()],
        };
        let tpl = json!({"metadata": {"name": "x"}, "spec": {"project": "default"}});
        let params = p(&[("name", "a")]);
        let err = |patch: &str| {
            application(&tpl, &params, &t, &json!({"templatePatch": patch}), "argocd").unwrap_err()
        };
        assert_eq!(
            err("spec: {{ .missing }}"),
            "error replacing values in templatePatch: failed to execute go template spec: {{ .missing }}: template: :1:9: executing \"\" at <.missing>: map has no entry for key \"missing\""
        );
        assert_eq!(
            err("- a\n- b\n"),
            "invalid templatePatch \"[\\\"a\\\",\\\"b\\\"]\": json: cannot unmarshal array into Go value of type v1alpha1.Application"
        );
        assert_eq!(
            err("spec: nope\n"),
            "invalid templatePatch \"{\\\"spec\\\":\\\"nope\\\"}\": json: cannot unmarshal string into Go struct field Application.spec of type v1alpha1.ApplicationSpec"
        );
        assert!(
            err("spec:\n  a: b\n c: d\n").starts_with(
                "error while converting template to json \"spec:\\n  a: b\\n c: d\\n\": error converting YAML to JSON: yaml: line "
            ),
            "{}",
            err("spec:\n  a: b\n c: d\n")
        );
        assert!(
            err("{\"spec\": ")
                .starts_with("invalid templatePatch \"{\\\"spec\\\": \": unexpected end of JSON input")
        );
        // an empty patch changes nothing
        let app = application(
            &tpl,
            &params,
            &t,
            &json!({"templatePatch": "{{ if false }}x{{ end }}"}),
            "argocd",
        )
        .unwrap();
        assert_eq!(app["spec"], json!({"project": "default"}));
    }

    #[test]
    fn specs_normalize_as_argo_cd_does() {
        let mut spec = json!({"project": "", "syncPolicy": {"syncOptions": []},
            "source": {"repoURL": "r", "helm": {"valueFiles": []}, "directory": {"recurse": false, "include": "*.yaml"}}});
        normalize_spec(&mut spec);
        assert_eq!(
            spec,
            json!({"project": "default", "source": {"repoURL": "r", "directory": {"include": "*.yaml"}}})
        );
        let merged = merge_template(
            &json!({"metadata": {}, "spec": {"project": "", "source": {"path": "override"}}}),
            &json!({"metadata": {"name": "n"}, "spec": {"project": "default", "source": {"path": "base", "repoURL": "r"}}}),
        );
        assert_eq!(
            merged,
            json!({"metadata": {"name": "n"}, "spec": {"project": "default", "source": {"path": "override", "repoURL": "r"}}})
        );
    }
}

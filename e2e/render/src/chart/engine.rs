//! Rendering a chart's templates (pkg/engine): every template of the chart and its
//! subcharts parsed into one set, each executed with its chart's scope of values, Helm's
//! functions (`include`, `tpl`, `required`, `fail`, `lookup`), `.Files`, `.Chart`,
//! `.Capabilities`, `.Release`, `.Template`, `.Subcharts`.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use crate::value::{Arg, FuncMap, Function, GoMap, GoObject, ParamType, Value};
use crate::{MissingKey, Options, Template};

use super::{Chart, File, Metadata};

const WARN_START: &str = "HELM_ERR_START";
const WARN_END: &str = "HELM_ERR_END";
/// Helm's limit on how deep one name may be included in itself.
const RECURSION_MAX: usize = 1000;

/// The Kubernetes version and API versions templates see (`.Capabilities`).
#[derive(Clone, Debug, PartialEq)]
pub struct Capabilities {
    /// e.g. `v1.32.0`.
    pub kube_version: String,
    pub api_versions: Vec<String>,
    /// `.Capabilities.HelmVersion.Version`.
    pub helm_version: String,
}

/// The group versions client-go v0.32's scheme knows (Helm 3.17's default
/// `.Capabilities.APIVersions` without a cluster), plus apiextensions.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1alpha1",
    "certificates.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1alpha1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1alpha1",
    "rbac.authorization.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "resource.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "scheduling.k8s.io/v1alpha1",
    "scheduling.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storage.k8s.io/v1beta1",
    "storagemigration.k8s.io/v1alpha1",
    "apiextensions.k8s.io/v1",
    "apiextensions.k8s.io/v1beta1",
];

impl Default for Capabilities {
    /// Helm 3.17's defaults for `helm template` (Kubernetes v1.32.0, built with client-go
    /// v0.32).
    fn default() -> Capabilities {
        Capabilities {
            kube_version: "v1.32.0".into(),
            api_versions: DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect(),
            helm_version: "v3.17.0".into(),
        }
    }
}

/// Helm's `ParseKubeVersion` (`--kube-version`): a semantic version, printed `v` +
/// Masterminds' String() (`1.30` becomes `v1.30.0`).
pub fn parse_kube_version(v: &str) -> Result<String, String> {
    let sv = crate::sprig::semver::Version::parse(v)?;
    Ok(format!("v{}", sv.to_go_string()))
}

/// The release a chart is rendered for (`.Release`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseOptions {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_upgrade: bool,
    pub is_install: bool,
}

impl Default for ReleaseOptions {
    /// As `helm template` (`release-name` in `default`, an install at revision 1).
    fn default() -> ReleaseOptions {
        ReleaseOptions {
            name: "release-name".into(),
            namespace: "default".into(),
            revision: 1,
            is_upgrade: false,
            is_install: true,
        }
    }
}

/// The top-level render values (chartutil.ToRenderValues), with `.Values` already
/// coalesced.
pub fn render_values(chart: &Chart, values: GoMap, release: &ReleaseOptions, caps: &Capabilities) -> GoMap {
    GoMap::new(
        [
            ("Chart".to_string(), chart_object(&chart.metadata, true)),
            (
                "Capabilities".to_string(),
                Value::Object(Arc::new(CapabilitiesObject(caps.clone()))),
            ),
            (
                "Release".to_string(),
                Value::map([
                    ("Name", Value::from(release.name.as_str())),
                    ("Namespace", Value::from(release.namespace.as_str())),
                    ("IsUpgrade", Value::Bool(release.is_upgrade)),
                    ("IsInstall", Value::Bool(release.is_install)),
                    ("Revision", Value::Int(release.revision)),
                    ("Service", Value::from("Helm")),
                ]),
            ),
            ("Values".to_string(), Value::Map(values)),
        ]
        .into_iter()
        .collect(),
    )
}

/// Engine settings.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Helm's `--strict` rendering (`missingkey=error`).
    pub strict: bool,
    /// Lint mode: `required` and `fail` do not fail.
    pub lint: bool,
}

struct Renderable {
    text: String,
    vals: GoMap,
    base_path: String,
}

/// Renders every template of `chart` and its subcharts with `top` (from
/// [`render_values`]); returns the output per template path (`chart/templates/x.yaml`,
/// `chart/charts/sub/templates/y.yaml`), partials (`_*`) left out, as Helm's
/// `engine.Render`.
pub fn render(chart: &Chart, top: &GoMap, opts: &EngineOptions) -> Result<BTreeMap<String, String>, String> {
    let mut tpls = BTreeMap::new();
    rec_all_templates(chart, &mut tpls, top, true, chart.name());
    let mut keys: Vec<&String> = tpls.keys().collect();
    // more path segments first; among equals, reverse lexical order (sort.Reverse(byPathLen))
    keys.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        cb.cmp(&ca).then_with(|| b.cmp(a))
    });
    let t = parsed_set(&keys, &tpls, opts)?;
    let exec_opts = Options {
        missing_key: if opts.strict {
            MissingKey::Error
        } else {
            MissingKey::Zero
        },
    };
    INCLUDED.with(|c| c.borrow_mut().clear());
    let mut rendered = BTreeMap::new();
    for name in keys {
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.starts_with('_') {
            continue;
        }
        let r = &tpls[name];
        r.vals.insert(
            "Template",
            Value::map([
                ("Name", Value::from(name.as_str())),
                ("BasePath", Value::from(r.base_path.as_str())),
            ]),
        );
        let out = t
            .execute_template(name, &Value::Map(r.vals.clone()), &exec_opts)
            .map_err(|e| cleanup_exec_error(name, &e.0))?;
        rendered.insert(name.clone(), out.replace("<no value>", ""));
    }
    Ok(rendered)
}

/// Parsed template sets by their texts: a chart version is parsed once per process.
fn parse_cache() -> &'static Mutex<HashMap<u64, Arc<Template>>> {
    static C: OnceLock<Mutex<HashMap<u64, Arc<Template>>>> = OnceLock::new();
    C.get_or_init(Mutex::default)
}

/// How many parsed sets the cache keeps before it starts over.
const PARSE_CACHE_MAX: usize = 64;

/// Every template parsed into one set in Helm's order (cached by content).
fn parsed_set(
    keys: &[&String],
    tpls: &BTreeMap<String, Renderable>,
    opts: &EngineOptions,
) -> Result<Arc<Template>, String> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (opts.strict, opts.lint).hash(&mut h);
    for k in keys {
        k.hash(&mut h);
        tpls[*k].text.hash(&mut h);
    }
    let key = h.finish();
    if let Some(t) = parse_cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(t.clone());
    }
    let mut funcs = crate::sprig::funcs();
    funcs.extend(crate::helmdata::helm_data_funcs());
    funcs.extend(helm_funcs(opts));
    let mut t = Template::new("gotpl").funcs(funcs);
    for name in keys {
        let r = &tpls[*name];
        t.add_parse(name, &r.text)
            .map_err(|e| cleanup_parse_error(name, &e.to_string()))?;
    }
    let t = Arc::new(t);
    let mut cache = parse_cache().lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= PARSE_CACHE_MAX {
        cache.clear();
    }
    cache.insert(key, t.clone());
    Ok(t)
}

thread_local! {
    /// Helm's includedNames: how deep each name is being included, for the render in
    /// progress on this thread (a render runs on one thread, include and tpl within it).
    static INCLUDED: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
}

/// recAllTpls: each chart's scope (its `.Values` table of the parent's, `.Chart`,
/// `.Files`, `.Subcharts`), templates keyed by the chart's full path.
fn rec_all_templates(
    c: &Chart,
    out: &mut BTreeMap<String, Renderable>,
    vals: &GoMap,
    is_root: bool,
    full_path: &str,
) -> GoMap {
    let subcharts = GoMap::default();
    let values = if is_root {
        vals.get("Values").unwrap_or(Value::Map(GoMap::default()))
    } else {
        match vals.get("Values") {
            Some(Value::Map(v)) => match v.get(c.name()) {
                Some(Value::Map(t)) => Value::Map(t),
                _ => Value::Map(GoMap::default()),
            },
            _ => Value::Map(GoMap::default()),
        }
    };
    let next = GoMap::new(
        [
            ("Chart".to_string(), chart_object(&c.metadata, is_root)),
            ("Files".to_string(), files_object(&c.files)),
            ("Release".to_string(), vals.get("Release").unwrap_or(Value::Nil)),
            (
                "Capabilities".to_string(),
                vals.get("Capabilities").unwrap_or(Value::Nil),
            ),
            ("Values".to_string(), values),
            ("Subcharts".to_string(), Value::Map(subcharts.clone())),
        ]
        .into_iter()
        .collect(),
    );
    for child in &c.dependencies {
        let child_path = format!("{full_path}/charts/{}", child.name());
        let scope = rec_all_templates(child, out, &next, false, &child_path);
        subcharts.insert(child.name(), Value::Map(scope));
    }
    for t in &c.templates {
        if c.is_library() && !t.name.rsplit('/').next().unwrap_or("").starts_with('_') {
            continue;
        }
        out.insert(
            format!("{full_path}/{}", t.name),
            Renderable {
                text: String::from_utf8_lossy(&t.data).into_owned(),
                vals: next.clone(),
                base_path: format!("{full_path}/templates"),
            },
        );
    }
    next
}

fn warn_wrap(s: &str) -> String {
    format!("{WARN_START}{s}{WARN_END}")
}

/// Helm's own functions over sprig's (funcs.go and initFunMap).
fn helm_funcs(opts: &EngineOptions) -> FuncMap {
    let mut m = FuncMap::new();
    m.insert(
        "include".into(),
        Function::with_context(
            vec![ParamType::String, ParamType::Any],
            false,
            "string",
            true,
            move |ctx, a| {
                let name = a[0].value().as_str().unwrap_or_default().to_string();
                let too_deep = INCLUDED.with(|c| {
                    let mut counts = c.borrow_mut();
                    let n = counts.entry(name.clone()).or_insert(0);
                    if *n > RECURSION_MAX {
                        return true;
                    }
                    *n += 1;
                    false
                });
                if too_deep {
                    return Err(format!(
                        "rendering template has a nested reference name: {name}: unable to execute template"
                    ));
                }
                let r = ctx.execute_template(&name, &a[1]);
                INCLUDED.with(|c| {
                    if let Some(n) = c.borrow_mut().get_mut(&name) {
                        *n = n.saturating_sub(1);
                    }
                });
                r.map(|s| Arg::Value(Value::String(s))).map_err(|e| e.0)
            },
        ),
    );
    let strict = opts.strict;
    m.insert(
        "tpl".into(),
        Function::with_context(
            vec![ParamType::String, ParamType::Any],
            false,
            "string",
            true,
            move |ctx, a| {
                let text = a[0].value().as_str().unwrap_or_default().to_string();
                let mut t = ctx.template();
                let opts = Options {
                    missing_key: if strict {
                        MissingKey::Error
                    } else {
                        MissingKey::Zero
                    },
                };
                let name = t.name().to_string();
                let q = crate::gofmt::quote(&text, false);
                match t.add_parse_execute(&name, &text, &a[1].value(), &opts) {
                    Err(e) => Err(format!("cannot parse template {q}: {e}")),
                    Ok(Err(e)) => Err(format!("error during tpl function execution for {q}: {e}")),
                    Ok(Ok(out)) => Ok(Arg::Value(Value::String(out.replace("<no value>", "")))),
                }
            },
        ),
    );
    let lint = opts.lint;
    m.insert(
        "required".into(),
        Function::new(
            vec![ParamType::String, ParamType::Any],
            false,
            "interface {}",
            true,
            move |a| {
                let warn = a[0].value().as_str().unwrap_or_default().to_string();
                let v = a[1].value();
                let missing = matches!(v, Value::Nil) || v.as_str() == Some("");
                if missing {
                    if lint {
                        return Ok(Arg::Value(Value::from("")));
                    }
                    return Err(warn_wrap(&warn));
                }
                Ok(Arg::Value(v))
            },
        ),
    );
    m.insert(
        "fail".into(),
        Function::new(vec![ParamType::String], false, "string", true, move |a| {
            if lint {
                return Ok(Arg::Value(Value::from("")));
            }
            Err(warn_wrap(a[0].value().as_str().unwrap_or_default()))
        }),
    );
    m.insert(
        "lookup".into(),
        Function::new(
            vec![
                ParamType::String,
                ParamType::String,
                ParamType::String,
                ParamType::String,
            ],
            false,
            "map[string]interface {}",
            true,
            |_| Ok(Arg::Value(Value::Map(GoMap::default()))),
        ),
    );
    // DNS lookups are off unless enabled, as in Helm
    m.insert(
        "getHostByName".into(),
        Function::new(vec![ParamType::String], false, "string", false, |_| {
            Ok(Arg::Value(Value::from("")))
        }),
    );
    m
}

fn cleanup_parse_error(filename: &str, err: &str) -> String {
    let tokens: Vec<&str> = err.split(": ").collect();
    if tokens.len() == 1 {
        return format!("parse error in ({filename}): {err}");
    }
    format!("parse error at ({}): {}", tokens[1], tokens[tokens.len() - 1])
}

fn cleanup_exec_error(filename: &str, err: &str) -> String {
    // only Go's ExecError (a failure inside the template) is cleaned up
    if err.starts_with("template: no template ") {
        return err.to_string();
    }
    let tokens: Vec<&str> = err.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({filename}): {err}");
    }
    if let Some(start) = tokens[2].find(WARN_START) {
        let rest = &tokens[2][start + WARN_START.len()..];
        // the pattern is greedy: up to the last end marker
        if let Some(end) = rest.rfind(WARN_END) {
            return format!("execution error at ({}): {}", tokens[1], &rest[..end]);
        }
    }
    err.to_string()
}

// ---- objects -------------------------------------------------------------------------

fn str_slice(items: &[String]) -> Value {
    Value::slice(items.iter().map(|s| Value::from(s.as_str())))
}

struct ChartObject {
    md: Metadata,
    is_root: bool,
}

fn chart_object(md: &Metadata, is_root: bool) -> Value {
    Value::Object(Arc::new(ChartObject {
        md: md.clone(),
        is_root,
    }))
}

struct MaintainerObject(super::Maintainer);

impl GoObject for MaintainerObject {
    fn type_name(&self) -> String {
        "*chart.Maintainer".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::from(match name {
            "Name" => self.0.name.as_str(),
            "Email" => self.0.email.as_str(),
            "URL" => self.0.url.as_str(),
            _ => return None,
        }))
    }
    fn format_v(&self) -> String {
        format!("&{{{} {} {}}}", self.0.name, self.0.email, self.0.url)
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("name", &self.0.name),
            ("email", &self.0.email),
            ("url", &self.0.url),
        ] {
            if !v.is_empty() {
                m.insert(k.into(), serde_json::Value::String(v.clone()));
            }
        }
        Ok(serde_json::Value::Object(m))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct DependencyObject(super::Dependency);

impl GoObject for DependencyObject {
    fn type_name(&self) -> String {
        "*chart.Dependency".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        let d = &self.0;
        Some(match name {
            "Name" => Value::from(d.name.as_str()),
            "Version" => Value::from(d.version.as_str()),
            "Repository" => Value::from(d.repository.as_str()),
            "Condition" => Value::from(d.condition.as_str()),
            "Tags" => str_slice(&d.tags),
            "Enabled" => Value::Bool(d.enabled),
            "ImportValues" => Value::slice(d.import_values.iter().cloned()),
            "Alias" => Value::from(d.alias.as_str()),
            _ => return None,
        })
    }
    fn format_v(&self) -> String {
        format!("&{{{} {} {}}}", self.0.name, self.0.version, self.0.repository)
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        let d = &self.0;
        let mut m = serde_json::Map::new();
        m.insert("name".into(), d.name.clone().into());
        if !d.version.is_empty() {
            m.insert("version".into(), d.version.clone().into());
        }
        m.insert("repository".into(), d.repository.clone().into());
        if !d.condition.is_empty() {
            m.insert("condition".into(), d.condition.clone().into());
        }
        if !d.tags.is_empty() {
            m.insert("tags".into(), d.tags.clone().into());
        }
        if d.enabled {
            m.insert("enabled".into(), true.into());
        }
        if !d.alias.is_empty() {
            m.insert("alias".into(), d.alias.clone().into());
        }
        Ok(serde_json::Value::Object(m))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl ChartObject {
    fn metadata_field(&self, name: &str) -> Option<Value> {
        let md = &self.md;
        Some(match name {
            "Name" => Value::from(md.name.as_str()),
            "Home" => Value::from(md.home.as_str()),
            "Sources" => str_slice(&md.sources),
            "Version" => Value::from(md.version.as_str()),
            "Description" => Value::from(md.description.as_str()),
            "Keywords" => str_slice(&md.keywords),
            "Maintainers" => Value::slice(md.maintainers.iter().map(|m| match m {
                Some(m) => Value::Object(Arc::new(MaintainerObject(m.clone()))),
                None => Value::Nil,
            })),
            "Icon" => Value::from(md.icon.as_str()),
            "APIVersion" => Value::from(md.api_version.as_str()),
            "Condition" => Value::from(md.condition.as_str()),
            "Tags" => Value::from(md.tags.as_str()),
            "AppVersion" => Value::from(md.app_version.as_str()),
            "Deprecated" => Value::Bool(md.deprecated),
            "Annotations" => match &md.annotations {
                Some(a) => Value::map(a.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str())))),
                None => Value::Map(GoMap::default()),
            },
            "KubeVersion" => Value::from(md.kube_version.as_str()),
            "Dependencies" => Value::slice(md.dependencies.iter().map(|d| match d {
                Some(d) => Value::Object(Arc::new(DependencyObject(d.clone()))),
                None => Value::Nil,
            })),
            "Type" => Value::from(md.r#type.as_str()),
            _ => return None,
        })
    }
}

impl GoObject for ChartObject {
    fn type_name(&self) -> String {
        "struct { chart.Metadata; IsRoot bool }".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "IsRoot" => Some(Value::Bool(self.is_root)),
            "Metadata" => Some(chart_object(&self.md, self.is_root)),
            n => self.metadata_field(n),
        }
    }
    fn format_v(&self) -> String {
        let md = &self.md;
        format!(
            "{{{{{} {} {}}} {}}}",
            md.name, md.version, md.app_version, self.is_root
        )
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        let md = &self.md;
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                m.insert(k.into(), v.to_string().into());
            }
        };
        put("name", &md.name);
        put("home", &md.home);
        let mut m2 = m;
        if !md.sources.is_empty() {
            m2.insert("sources".into(), md.sources.clone().into());
        }
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                m2.insert(k.into(), v.to_string().into());
            }
        };
        put("version", &md.version);
        put("description", &md.description);
        put("icon", &md.icon);
        put("apiVersion", &md.api_version);
        put("condition", &md.condition);
        put("tags", &md.tags);
        put("appVersion", &md.app_version);
        put("kubeVersion", &md.kube_version);
        put("type", &md.r#type);
        if !md.keywords.is_empty() {
            m2.insert("keywords".into(), md.keywords.clone().into());
        }
        if md.deprecated {
            m2.insert("deprecated".into(), true.into());
        }
        if let Some(a) = md.annotations.as_ref().filter(|a| !a.is_empty()) {
            {
                m2.insert(
                    "annotations".into(),
                    serde_json::Value::Object(a.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()),
                );
            }
        }
        let mut deps = Vec::new();
        for d in md.dependencies.iter().flatten() {
            deps.push(DependencyObject(d.clone()).to_json()?);
        }
        if !deps.is_empty() {
            m2.insert("dependencies".into(), deps.into());
        }
        m2.insert("IsRoot".into(), self.is_root.into());
        Ok(serde_json::Value::Object(m2))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `.Capabilities` (*chartutil.Capabilities).
struct CapabilitiesObject(Capabilities);

struct KubeVersionObject(String);
struct VersionSetObject(Arc<Vec<String>>);
struct HelmVersionObject(String);

impl GoObject for CapabilitiesObject {
    fn type_name(&self) -> String {
        "*chartutil.Capabilities".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "KubeVersion" => Value::Object(Arc::new(KubeVersionObject(self.0.kube_version.clone()))),
            "APIVersions" => Value::Object(Arc::new(VersionSetObject(Arc::new(self.0.api_versions.clone())))),
            "HelmVersion" => Value::Object(Arc::new(HelmVersionObject(self.0.helm_version.clone()))),
            _ => return None,
        })
    }
    fn format_v(&self) -> String {
        format!(
            "&{{{} [{}] {}}}",
            self.0.kube_version,
            self.0.api_versions.join(" "),
            self.0.helm_version
        )
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::json!({
            "KubeVersion": KubeVersionObject(self.0.kube_version.clone()).to_json()?,
            "APIVersions": self.0.api_versions,
            "HelmVersion": HelmVersionObject(self.0.helm_version.clone()).to_json()?,
        }))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn kube_parts(v: &str) -> (String, String) {
    let t = v.trim_start_matches('v');
    let mut it = t.split(['.', '-', '+']);
    (
        it.next().unwrap_or("").to_string(),
        it.next().unwrap_or("").to_string(),
    )
}

impl GoObject for KubeVersionObject {
    fn type_name(&self) -> String {
        "chartutil.KubeVersion".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        let (major, minor) = kube_parts(&self.0);
        Some(Value::from(match name {
            "Version" => self.0.clone(),
            "Major" => major,
            "Minor" => minor,
            _ => return None,
        }))
    }
    fn method(&self, name: &str) -> Option<Function> {
        match name {
            "String" | "GitVersion" => {
                let v = self.0.clone();
                Some(Function::new(vec![], false, "string", false, move |_| {
                    Ok(Arg::Value(Value::from(v.as_str())))
                }))
            }
            _ => None,
        }
    }
    fn format_v(&self) -> String {
        self.0.clone()
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        let (major, minor) = kube_parts(&self.0);
        Ok(serde_json::json!({"Version": self.0, "Major": major, "Minor": minor}))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl GoObject for VersionSetObject {
    fn type_name(&self) -> String {
        "chartutil.VersionSet".into()
    }
    fn method(&self, name: &str) -> Option<Function> {
        match name {
            "Has" => {
                let set = self.0.clone();
                Some(Function::new(
                    vec![ParamType::String],
                    false,
                    "bool",
                    false,
                    move |a| {
                        let want = a[0].value();
                        let want = want.as_str().unwrap_or_default();
                        Ok(Arg::Value(Value::Bool(set.iter().any(|x| x == want))))
                    },
                ))
            }
            _ => None,
        }
    }
    fn format_v(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::json!(*self.0))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl GoObject for HelmVersionObject {
    fn type_name(&self) -> String {
        "version.BuildInfo".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::from(match name {
            "Version" => self.0.as_str(),
            "GitCommit" | "GitTreeState" => "",
            "GoVersion" => "go1.23.4",
            _ => return None,
        }))
    }
    fn format_v(&self) -> String {
        format!("{{{}   go1.23.4}}", self.0)
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::json!({"version": self.0, "go_version": "go1.23.4"}))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `.Files` (engine.files): the chart's non-template files.
pub struct FilesObject(Arc<BTreeMap<String, Vec<u8>>>);

fn files_object(files: &[File]) -> Value {
    Value::Object(Arc::new(FilesObject(Arc::new(
        files.iter().map(|f| (f.name.clone(), f.data.clone())).collect(),
    ))))
}

fn path_base(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { "." } else { "/" };
    }
    t.rsplit('/').next().unwrap_or(t)
}

impl FilesObject {
    fn to_yaml_map(&self, f: impl Fn(&[u8]) -> String) -> String {
        let m = Value::map(
            self.0
                .iter()
                .map(|(k, v)| (path_base(k).to_string(), Value::String(f(v)))),
        );
        crate::helmdata::to_yaml(&m)
    }
}

impl GoObject for FilesObject {
    fn type_name(&self) -> String {
        "engine.files".into()
    }
    fn method(&self, name: &str) -> Option<Function> {
        let files = self.0.clone();
        Some(match name {
            "Get" => Function::new(vec![ParamType::String], false, "string", false, move |a| {
                let n = a[0].value();
                let data = files
                    .get(n.as_str().unwrap_or_default())
                    .cloned()
                    .unwrap_or_default();
                Ok(Arg::Value(Value::String(
                    String::from_utf8_lossy(&data).into_owned(),
                )))
            }),
            "GetBytes" => Function::new(vec![ParamType::String], false, "[]uint8", false, move |a| {
                let n = a[0].value();
                let data = files
                    .get(n.as_str().unwrap_or_default())
                    .cloned()
                    .unwrap_or_default();
                Ok(Arg::Value(Value::slice(data.into_iter().map(Value::Uint8))))
            }),
            "Glob" => Function::new(vec![ParamType::String], false, "engine.files", false, move |a| {
                let pattern = a[0].value();
                let pattern = pattern.as_str().unwrap_or_default();
                let g = super::glob::Glob::compile(pattern).unwrap_or_else(|_| super::glob::Glob::any());
                let picked = files
                    .iter()
                    .filter(|(k, _)| g.matches(k))
                    .map(|(k, v)| (k.clone(), v.clone()));
                Ok(Arg::Value(Value::Object(Arc::new(FilesObject(Arc::new(
                    picked.collect(),
                ))))))
            }),
            "AsConfig" => {
                let me = FilesObject(files);
                Function::new(vec![], false, "string", false, move |_| {
                    Ok(Arg::Value(Value::String(
                        me.to_yaml_map(|d| String::from_utf8_lossy(d).into_owned()),
                    )))
                })
            }
            "AsSecrets" => {
                let me = FilesObject(files);
                Function::new(vec![], false, "string", false, move |_| {
                    use base64::Engine as _;
                    Ok(Arg::Value(Value::String(me.to_yaml_map(|d| {
                        base64::engine::general_purpose::STANDARD.encode(d)
                    }))))
                })
            }
            "Lines" => Function::new(vec![ParamType::String], false, "[]string", false, move |a| {
                let n = a[0].value();
                let Some(data) = files.get(n.as_str().unwrap_or_default()) else {
                    return Ok(Arg::Value(Value::slice([])));
                };
                let mut s = String::from_utf8_lossy(data).into_owned();
                if s.ends_with('\n') {
                    s.pop();
                }
                Ok(Arg::Value(Value::slice(s.split('\n').map(Value::from))))
            }),
            _ => return None,
        })
    }
    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), Value::slice(v.iter().map(|b| Value::Uint8(*b)))))
                .collect(),
        )
    }
    fn format_v(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| {
                let bytes: Vec<String> = v.iter().map(|b| b.to_string()).collect();
                format!("{k}:[{}]", bytes.join(" "))
            })
            .collect();
        format!("map[{}]", parts.join(" "))
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        use base64::Engine as _;
        Ok(serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        base64::engine::general_purpose::STANDARD.encode(v).into(),
                    )
                })
                .collect(),
        ))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

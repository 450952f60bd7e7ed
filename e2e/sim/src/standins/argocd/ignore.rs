//! `ignoreDifferences` as Argo CD 3.2 applies them (util/argo/normalizers/diff_normalizer.go,
//! util/argo/diff/{diff,ignore,normalize}.go, util/argo/managedfields, util/settings
//! `GetResourceOverrides`):
//! - entries of the Application's `spec.ignoreDifferences` (group and kind are globs, name
//!   and namespace exact when set) and argocd-cm's `resource.customizations.ignoreDifferences.<group_kind>`
//!   (`.all` for every kind) and `resource.customizations`;
//! - `jsonPointers` remove a field (evanphx/json-patch `remove`; a missing path is skipped);
//! - `jqPathExpressions` remove what `del(<expression>)` removes (gojq's `delpaths` of
//!   `path(<expression>)`), evaluated with jaq within Argo CD's 1 s limit; an expression that
//!   does not parse fails the comparison, one that fails on an object is skipped, as Argo CD
//!   only logs those;
//! - `managedFieldsManagers`: fields the live object's managed fields give to those
//!   managers, and whose value differs from the desired one, are dropped from both sides.
//!
//! Argo CD also ignores `/status` of every kind unless `resource.compareoptions` says
//! otherwise (`ignoreResourceStatusField`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::project::glob_match;

/// Argo CD's `DefaultJQExecutionTimeout`.
pub const JQ_TIMEOUT: Duration = Duration::from_secs(1);

/// One `ignoreDifferences` entry (of an Application, or of argocd-cm for a group/kind).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub group: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub json_pointers: Vec<String>,
    pub jq: Vec<String>,
    pub managers: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

impl Rule {
    fn from_value(v: &Value) -> Rule {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Rule {
            group: s("group"),
            kind: s("kind"),
            name: s("name"),
            namespace: s("namespace"),
            json_pointers: strings(v.get("jsonPointers")),
            jq: strings(v.get("jqPathExpressions")),
            managers: strings(v.get("managedFieldsManagers")),
        }
    }

    /// The Application's `spec.ignoreDifferences`.
    pub fn of_app(app: &Value) -> Vec<Rule> {
        app.pointer("/spec/ignoreDifferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(Rule::from_value)
            .collect()
    }
}

/// argocd-cm's ignoreDifferences overrides, by override key (`group/kind`, `kind` or `*/*`).
pub type Overrides = BTreeMap<String, Rule>;

/// The ignoreDifferences part of `GetResourceOverrides`: the overrides argocd-cm's
/// settings reader loaded ([`super::settings`]), plus the `/status` rule Argo CD adds from
/// `resource.compareoptions`' `ignoreResourceStatusField` (all kinds by default, CRDs only
/// with `crd`, none with `none`/`off`/`false`).
pub fn overrides_from(
    resource_overrides: &super::settings::ResourceOverrides,
    compare_options: Option<&str>,
) -> Overrides {
    let mut out = Overrides::new();
    for (key, o) in &resource_overrides.0 {
        let d = &o.ignore_differences;
        out.insert(
            key.clone(),
            Rule {
                json_pointers: d.json_pointers.clone(),
                jq: d.jq_path_expressions.clone(),
                managers: d.managed_fields_managers.clone(),
                ..Default::default()
            },
        );
    }
    let field = compare_options
        .and_then(|c| serde_saphyr::from_str::<Value>(c).ok())
        .and_then(|c| c.get("ignoreResourceStatusField").cloned())
        .map(|v| match v {
            Value::Bool(false) => "false".to_string(),
            Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_default();
    let status_key = match field.as_str() {
        "none" | "off" | "false" => None,
        "crd" => Some("apiextensions.k8s.io/CustomResourceDefinition"),
        _ => Some("*/*"),
    };
    if let Some(k) = status_key {
        out.entry(k.to_string())
            .or_default()
            .json_pointers
            .push("/status".into());
    }
    out
}

/// One patch of the ignore normalizer.
#[derive(Clone, Debug)]
struct Patch {
    group: String,
    kind: String,
    name: String,
    namespace: String,
    op: Op,
}

#[derive(Clone, Debug)]
enum Op {
    Pointer(String),
    Jq(String),
}

/// The ignore normalizer of an Application under an Argo CD's settings.
#[derive(Clone, Debug, Default)]
pub struct Normalizer {
    patches: Vec<Patch>,
    rules: Vec<Rule>,
    overrides: Overrides,
}

impl Normalizer {
    /// NewIgnoreNormalizer: the Application's rules, then the overrides. A jq expression
    /// that does not parse is an error, worded as gojq words it.
    pub fn new(rules: &[Rule], overrides: &Overrides) -> Result<Normalizer, String> {
        let mut all: Vec<Rule> = rules.to_vec();
        for (key, o) in overrides {
            if o.json_pointers.is_empty() && o.jq.is_empty() {
                continue;
            }
            let (group, kind) = match key.split('/').collect::<Vec<_>>().as_slice() {
                [g, k] => (g.to_string(), k.to_string()),
                [k] => (String::new(), k.to_string()),
                _ => (String::new(), String::new()),
            };
            all.push(Rule {
                group,
                kind,
                json_pointers: o.json_pointers.clone(),
                jq: o.jq.clone(),
                ..Default::default()
            });
        }
        let mut patches = Vec::new();
        for r in &all {
            let patch = |op| Patch {
                group: r.group.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
                namespace: r.namespace.clone(),
                op,
            };
            for p in &r.json_pointers {
                patches.push(patch(Op::Pointer(p.clone())));
            }
            for e in &r.jq {
                check_jq(e)?;
                patches.push(patch(Op::Jq(e.clone())));
            }
        }
        Ok(Normalizer {
            patches,
            rules: rules.to_vec(),
            overrides: overrides.clone(),
        })
    }

    /// Removes the ignored fields of `obj` (patches that fail on it are skipped).
    pub fn normalize(&self, obj: &mut Value) {
        let api_version = obj["apiVersion"].as_str().unwrap_or("");
        let group = api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
            .to_string();
        let kind = obj["kind"].as_str().unwrap_or("").to_string();
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for p in &self.patches {
            let applies = glob_match(&p.group, &group, &[])
                && glob_match(&p.kind, &kind, &[])
                && (p.name.is_empty() || p.name == name)
                && (p.namespace.is_empty() || p.namespace == ns);
            if !applies {
                continue;
            }
            let result = match &p.op {
                Op::Pointer(ptr) => {
                    let mut doc = obj.clone();
                    remove_pointer(&mut doc, ptr).map(|_| doc)
                }
                Op::Jq(e) => jq_delete(e, obj, JQ_TIMEOUT),
            };
            match result {
                Ok(doc) if doc.is_object() => *obj = doc,
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "Argo CD stand-in: ignoreDifferences patch skipped"),
            }
        }
    }

    /// HasIgnoreDifference's managers: the overrides for exactly `group/kind` and `*/*`,
    /// and the Application's matching rules.
    pub fn managers(&self, group: &str, kind: &str, name: &str, namespace: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |ms: &[String]| {
            for m in ms {
                if !out.contains(m) {
                    out.push(m.clone());
                }
            }
        };
        if let Some(o) = self.overrides.get(&format!("{group}/{kind}")) {
            add(&o.managers);
        }
        if let Some(o) = self.overrides.get("*/*") {
            add(&o.managers);
        }
        for r in &self.rules {
            if glob_match(&r.group, group, &[])
                && glob_match(&r.kind, kind, &[])
                && (r.name.is_empty() || r.name == name)
                && (r.namespace.is_empty() || r.namespace == namespace)
            {
                add(&r.managers);
            }
        }
        out
    }

    /// The objects as the diff compares them: preDiffNormalize's managed-fields step, then
    /// gitops-engine's Normalize (a Secret's stringData as data) and the ignore normalizer.
    pub fn compare_pair(&self, target: &Value, live: &Value) -> (Value, Value) {
        let (mut t, mut l) = self.managed_pair(target, live);
        for o in [&mut t, &mut l] {
            normalize_secret(o);
            self.normalize(o);
        }
        (t, l)
    }

    /// util/argo/diff Normalize: the managed-fields step and the ignore normalizer on both
    /// sides (what RespectIgnoreDifferences starts from).
    pub fn normalize_pair(&self, target: &Value, live: &Value) -> (Value, Value) {
        let (mut t, mut l) = self.managed_pair(target, live);
        self.normalize(&mut t);
        self.normalize(&mut l);
        (t, l)
    }

    fn managed_pair(&self, target: &Value, live: &Value) -> (Value, Value) {
        let (mut t, mut l) = (target.clone(), live.clone());
        let group = t["apiVersion"]
            .as_str()
            .and_then(|a| a.rsplit_once('/'))
            .map(|(g, _)| g.to_string())
            .unwrap_or_default();
        let kind = t["kind"].as_str().unwrap_or("").to_string();
        let name = crate::meta::name(&t).to_string();
        let ns = crate::meta::namespace(&t).to_string();
        let managers = self.managers(&group, &kind, &name, &ns);
        if !managers.is_empty() {
            normalize_managed_fields(live, &mut l, &mut t, &managers);
        }
        (t, l)
    }

    /// normalizeTargetResources (RespectIgnoreDifferences=true): the target with the ignored
    /// fields' live values, so a sync leaves them as they are.
    pub fn respect(&self, target: &Value, live: &Value) -> Value {
        let (mut t, normalized_live) = self.normalize_pair(target, live);
        // what normalizing removed from live, written back into the normalized target
        // (JSON merge semantics; lists of named items merge by name, as the strategic merge
        // patch of the built-in kinds does)
        restore(&mut t, &normalized_live, live);
        t
    }
}

/// gitops-engine's NormalizeSecret: a core Secret's stringData is compared as base64 data.
fn normalize_secret(obj: &mut Value) {
    use base64::Engine;
    if obj["kind"] != "Secret" || obj["apiVersion"] != "v1" {
        return;
    }
    let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = Value::Object(Map::new());
    }
    let data = obj["data"].as_object_mut().expect("object");
    for (k, v) in string_data {
        let v = match v {
            Value::String(s) => Value::String(base64::engine::general_purpose::STANDARD.encode(s)),
            other => other,
        };
        data.insert(k, v);
    }
}

/// Writes into `target` what `live` has and `normalized` lost.
fn restore(target: &mut Value, normalized: &Value, live: &Value) {
    match (normalized, live) {
        (Value::Object(n), Value::Object(l)) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object");
            for (k, lv) in l {
                match n.get(k) {
                    None => {
                        t.insert(k.clone(), lv.clone());
                    }
                    Some(nv) if nv != lv => {
                        let entry = t.entry(k.clone()).or_insert(Value::Null);
                        restore(entry, nv, lv);
                    }
                    _ => {}
                }
            }
        }
        (Value::Array(n), Value::Array(l)) => {
            let named = |a: &Vec<Value>| a.iter().all(|i| i.get("name").and_then(Value::as_str).is_some());
            match target {
                Value::Array(t) if named(n) && named(l) && named(t) => {
                    let name_of = |v: &Value| v["name"].as_str().unwrap_or("").to_string();
                    for lv in l {
                        let nm = name_of(lv);
                        let nv = n.iter().find(|x| name_of(x) == nm);
                        match (nv, t.iter_mut().find(|x| name_of(x) == nm)) {
                            (Some(nv), Some(tv)) if nv != lv => restore(tv, nv, lv),
                            (Some(_), _) => {}
                            (None, Some(tv)) => *tv = lv.clone(),
                            (None, None) => t.push(lv.clone()),
                        }
                    }
                }
                Value::Array(t) if n.len() == l.len() && t.len() == l.len() => {
                    for ((tv, nv), lv) in t.iter_mut().zip(n).zip(l) {
                        if nv != lv {
                            restore(tv, nv, lv);
                        }
                    }
                }
                _ => *target = live.clone(),
            }
        }
        _ => *target = live.clone(),
    }
}

/// evanphx/json-patch's `remove` of one RFC 6901 pointer (negative array indices count from
/// the end, as that library allows).
pub fn remove_pointer(doc: &mut Value, path: &str) -> Result<(), String> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return Err(format!(
            "remove operation does not apply: doc is missing path: \"{path}\": missing value"
        ));
    }
    let decode = |k: &str| k.replace("~1", "/").replace("~0", "~");
    let missing =
        || format!("remove operation does not apply: doc is missing path: \"{path}\": missing value");
    let mut cur = doc;
    for part in &split[1..split.len() - 1] {
        let key = decode(part);
        cur = match cur {
            Value::Object(m) => match m.get_mut(&key) {
                Some(v) if v.is_object() || v.is_array() => v,
                _ => return Err(missing()),
            },
            Value::Array(a) => {
                let idx: i64 = key.parse().map_err(|_| missing())?;
                let len = a.len() as i64;
                let i = if idx < 0 { idx + len } else { idx };
                if idx < -len || i >= len {
                    return Err(missing());
                }
                match a.get_mut(i as usize) {
                    Some(v) if v.is_object() || v.is_array() => v,
                    _ => return Err(missing()),
                }
            }
            _ => return Err(missing()),
        };
    }
    let key = decode(split[split.len() - 1]);
    match cur {
        Value::Object(m) => {
            if m.remove(&key).is_none() {
                return Err(format!(
                    "error in remove for path: '{path}': Unable to remove nonexistent key: {key}: missing value"
                ));
            }
            Ok(())
        }
        Value::Array(a) => {
            let idx: i64 = key
                .parse()
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))?;
            let len = a.len() as i64;
            if idx >= len || idx < -len {
                return Err(format!(
                    "error in remove for path: '{path}': Unable to access invalid index: {idx}: invalid index referenced"
                ));
            }
            let i = if idx < 0 { idx + len } else { idx };
            a.remove(i as usize);
            Ok(())
        }
        _ => Err(missing()),
    }
}

// ---- managed fields ----

/// managedfields.Normalize: for each managedFields entry of a trusted manager, the fields it
/// owns whose live and desired values differ leave both objects.
fn normalize_managed_fields(
    original_live: &Value,
    live: &mut Value,
    target: &mut Value,
    managers: &[String],
) {
    let entries = original_live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for e in entries {
        let manager = e.get("manager").and_then(Value::as_str).unwrap_or("");
        if !managers.iter().any(|m| m == manager) {
            continue;
        }
        let Some(fields) = e.get("fieldsV1") else { continue };
        let mut leaves = Vec::new();
        leaf_paths(fields, &mut Vec::new(), &mut leaves);
        for p in leaves {
            let (Some(lv), Some(tv)) = (value_at(live, &p), value_at(target, &p)) else {
                continue;
            };
            if lv != tv {
                remove_at(live, &p);
                remove_at(target, &p);
            }
        }
    }
}

/// The leaf paths of a `fieldsV1` set (entries without children).
fn leaf_paths(set: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let Some(m) = set.as_object() else { return };
    for (k, child) in m {
        if k == "." {
            continue;
        }
        prefix.push(k.clone());
        let has_children = child.as_object().is_some_and(|c| c.keys().any(|k| k != "."));
        if has_children {
            leaf_paths(child, prefix, out);
        } else {
            out.push(prefix.clone());
        }
        prefix.pop();
    }
}

fn find_item(arr: &[Value], pe: &str) -> Option<usize> {
    if let Some(k) = pe.strip_prefix("k:") {
        let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
        return arr
            .iter()
            .position(|i| keys.iter().all(|(k, v)| i.get(k) == Some(v)));
    }
    if let Some(v) = pe.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return arr.iter().position(|i| *i == want);
    }
    if let Some(i) = pe.strip_prefix("i:") {
        let i: usize = i.parse().ok()?;
        return (i < arr.len()).then_some(i);
    }
    None
}

fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for pe in path {
        cur = match pe.strip_prefix("f:") {
            Some(f) => cur.get(f)?,
            None => {
                let arr = cur.as_array()?;
                &arr[find_item(arr, pe)?]
            }
        };
    }
    Some(cur)
}

fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for pe in parents {
        let next = match pe.strip_prefix("f:") {
            Some(f) => cur.get_mut(f),
            None => match cur.as_array_mut() {
                Some(arr) => match find_item(arr, pe) {
                    Some(i) => arr.get_mut(i),
                    None => None,
                },
                None => None,
            },
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last.strip_prefix("f:") {
        Some(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        None => {
            if let Some(arr) = cur.as_array_mut()
                && let Some(i) = find_item(arr, last)
            {
                arr.remove(i);
            }
        }
    }
}

// ---- jq ----

/// Checks that `del(<expression>)` parses and compiles; the error as gojq words it (the
/// position follows jaq's parser).
pub fn check_jq(expr: &str) -> Result<(), String> {
    // compiling loads jaq's standard library: once per expression is enough
    static CHECKED: Mutex<BTreeMap<String, Result<(), String>>> = Mutex::new(BTreeMap::new());
    if let Some(r) = CHECKED.lock().ok().and_then(|c| c.get(expr).cloned()) {
        return r;
    }
    let r = compile(&format!("del({expr})")).map(|_| ());
    if let Ok(mut c) = CHECKED.lock() {
        c.insert(expr.to_string(), r.clone());
    }
    r
}

type JqFilter = jaq_core::Filter<jaq_core::data::JustLut<jaq_json::Val>>;

fn compile(code: &str) -> Result<JqFilter, String> {
    use jaq_core::load::{Arena, File, Loader};
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errs| load_error(code, errs))?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let first = errs.into_iter().flat_map(|(_, es)| es).next();
            match first {
                Some((name, jaq_core::compile::Undefined::Var)) => {
                    format!("variable not defined: ${}", name.trim_start_matches('$'))
                }
                Some((name, jaq_core::compile::Undefined::Label)) => {
                    format!("label not defined: ${}", name.trim_start_matches('$'))
                }
                Some((name, jaq_core::compile::Undefined::Filter(arity))) => {
                    format!("function not defined: {name}/{arity}")
                }
                Some((name, _)) => format!("module not found: {name}"),
                None => "invalid query".into(),
            }
        })
}

fn load_error(code: &str, errs: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::{Error, lex};
    let Some((_, e)) = errs.into_iter().next() else {
        return "invalid query".into();
    };
    let at = |rest: &str| -> usize { code.len() - rest.len().min(code.len()) };
    match e {
        Error::Lex(es) => {
            let Some((expect, rest)) = es.into_iter().next() else {
                return "invalid query".into();
            };
            match expect {
                lex::Expect::Delim("\"") => "unterminated string literal".into(),
                lex::Expect::Escape | lex::Expect::Unicode => {
                    let seq: String = rest
                        .chars()
                        .take(if rest.starts_with('u') { 5 } else { 1 })
                        .collect();
                    format!("invalid escape sequence \"\\{seq}\" in string literal")
                }
                lex::Expect::Delim(_) => unexpected(code, at(rest)),
                lex::Expect::Token | lex::Expect::Digit | lex::Expect::Ident => {
                    let tok = gojq_token(&code[at(rest)..]);
                    if tok.is_empty() {
                        "unexpected EOF".into()
                    } else if tok.len() == 1 && tok.is_ascii() && !tok.chars().all(char::is_alphanumeric) {
                        format!(
                            "unexpected token {}",
                            serde_json::to_string(&tok).unwrap_or_default()
                        )
                    } else {
                        format!(
                            "invalid token {}",
                            serde_json::to_string(&tok).unwrap_or_default()
                        )
                    }
                }
                _ => unexpected(code, at(rest)),
            }
        }
        Error::Parse(es) => match es.into_iter().next() {
            Some((_, found)) => unexpected(code, jaq_core::load::span(code, found).start),
            None => "invalid query".into(),
        },
        Error::Io(es) => es
            .into_iter()
            .next()
            .map(|(_, m)| m)
            .unwrap_or_else(|| "invalid query".into()),
    }
}

/// gojq's parse error at byte `at`: the token found there, or EOF.
fn unexpected(code: &str, at: usize) -> String {
    let tok = gojq_token(code.get(at..).unwrap_or(""));
    if tok.is_empty() {
        "unexpected EOF".into()
    } else {
        format!(
            "unexpected token {}",
            serde_json::to_string(&tok).unwrap_or_default()
        )
    }
}

/// The first token of `s` as gojq's lexer cuts it.
fn gojq_token(s: &str) -> String {
    let s = s.trim_start();
    let mut chars = s.char_indices().peekable();
    let Some((_, c)) = chars.next() else {
        return String::new();
    };
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let end = if c.is_ascii_alphabetic() || c == '_' || c == '$' || c == '@' {
        let mut end = c.len_utf8();
        for (i, c) in s.char_indices().skip(1) {
            if ident(c) || (c == ':' && s[i..].starts_with("::")) || (c == ':' && s[..i].ends_with(':')) {
                end = i + c.len_utf8();
            } else {
                break;
            }
        }
        end
    } else if c == '.' {
        match s[1..].chars().next() {
            Some('.') => 2,
            Some(n) if n.is_ascii_alphabetic() || n == '_' => {
                1 + s[1..].find(|c: char| !ident(c)).unwrap_or(s.len() - 1)
            }
            _ => 1,
        }
    } else if c.is_ascii_digit() {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(s.len())
    } else {
        const OPS: &[&str] = &[
            "?//=", "?//", "//=", "|=", "+=", "-=", "*=", "/=", "%=", "==", "!=", "<=", ">=", "//",
        ];
        OPS.iter()
            .find(|op| s.starts_with(**op))
            .map(|op| op.len())
            .unwrap_or(c.len_utf8())
    };
    s[..end].to_string()
}

/// `del(<expression>)` on `doc`: gojq's `delpaths([path(<expression>)])`.
pub fn jq_delete(expr: &str, doc: &Value, timeout: Duration) -> Result<Value, String> {
    let paths = jq_paths(expr, doc, timeout)?;
    delpaths(doc, &paths)
}

/// A job for the jq worker: an expression, its input, where to answer.
struct Job {
    expr: String,
    input: Value,
    timeout: Duration,
    deadline: Instant,
    reply: mpsc::Sender<Result<Vec<Vec<Value>>, String>>,
}

/// The worker evaluating jq (jaq's values are not `Send`, so filters live on one thread).
/// A job that overruns its time is abandoned with the worker, and its expression is not run
/// again: Argo CD's gojq stops at the deadline, jaq cannot be interrupted.
static WORKER: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);
static POISONED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// At most this many paths are taken from one expression.
const MAX_PATHS: usize = 100_000;

fn spawn_worker() -> Option<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("argocd-jq".into())
        .stack_size(64 << 20)
        .spawn(move || {
            let mut filters: BTreeMap<String, Result<JqFilter, String>> = BTreeMap::new();
            while let Ok(job) = rx.recv() {
                let filter = filters
                    .entry(job.expr.clone())
                    .or_insert_with(|| compile(&format!("path({})", job.expr)));
                let result = match filter {
                    Ok(f) => run_paths(f, &job.input, job.deadline, job.timeout),
                    Err(e) => Err(e.clone()),
                };
                let _ = job.reply.send(result);
            }
        })
        .ok()?;
    Some(tx)
}

fn timed_out(timeout: Duration) -> String {
    format!("JQ patch execution timed out ({})", go_duration(timeout))
}

/// Go's Duration.String for whole and fractional seconds and milliseconds.
fn go_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    }
}

/// The paths `path(<expression>)` yields on `input`.
pub fn jq_paths(expr: &str, input: &Value, timeout: Duration) -> Result<Vec<Vec<Value>>, String> {
    if POISONED.lock().map(|p| p.contains(expr)).unwrap_or(false) {
        return Err(timed_out(timeout));
    }
    let (reply, answer) = mpsc::channel();
    let job = Job {
        expr: expr.to_string(),
        input: input.clone(),
        timeout,
        deadline: Instant::now() + timeout,
        reply,
    };
    {
        let mut w = WORKER.lock().map_err(|_| "jq worker unavailable".to_string())?;
        if w.is_none() {
            *w = spawn_worker();
        }
        let sent = w.as_ref().is_some_and(|tx| tx.send(job).is_ok());
        if !sent {
            *w = None;
            return Err("jq worker unavailable".into());
        }
    }
    match answer.recv_timeout(timeout + Duration::from_millis(200)) {
        Ok(r) => r,
        Err(_) => {
            if let Ok(mut p) = POISONED.lock() {
                p.insert(expr.to_string());
            }
            if let Ok(mut w) = WORKER.lock() {
                *w = None;
            }
            Err(timed_out(timeout))
        }
    }
}

fn run_paths(
    filter: &JqFilter,
    input: &Value,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<Vec<Value>>, String> {
    use jaq_core::{Ctx, Vars, data, unwrap_valr};
    let bytes = serde_json::to_vec(input).map_err(|e| e.to_string())?;
    let val = jaq_json::read::parse_single(&bytes).map_err(|e| e.to_string())?;
    let ctx = Ctx::<data::JustLut<jaq_json::Val>>::new(&filter.lut, Vars::new([]));
    let mut out = Vec::new();
    for v in filter.id.run((ctx, val)).map(unwrap_valr) {
        if Instant::now() > deadline {
            return Err(timed_out(timeout));
        }
        let v = v.map_err(|e| format!("JQ patch returned error: {e}"))?;
        let path: Value = serde_json::from_str(&v.to_string()).map_err(|e| e.to_string())?;
        match path {
            Value::Array(p) => out.push(p),
            other => return Err(format!("delpaths: expected an array but got: {other}")),
        }
        if out.len() > MAX_PATHS {
            return Err(format!("JQ patch yielded more than {MAX_PATHS} paths"));
        }
    }
    Ok(out)
}

/// A JSON value with gojq's deletion marker.
#[derive(Clone, Debug, PartialEq)]
enum J {
    Null,
    Scalar(Value),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
    Empty,
}

impl J {
    fn from(v: &Value) -> J {
        match v {
            Value::Null => J::Null,
            Value::Array(a) => J::Arr(a.iter().map(J::from).collect()),
            Value::Object(m) => J::Obj(m.iter().map(|(k, v)| (k.clone(), J::from(v))).collect()),
            other => J::Scalar(other.clone()),
        }
    }

    fn into_value(self) -> Value {
        match self {
            J::Null | J::Empty => Value::Null,
            J::Scalar(v) => v,
            J::Arr(a) => Value::Array(
                a.into_iter()
                    .filter(|j| *j != J::Empty)
                    .map(J::into_value)
                    .collect(),
            ),
            J::Obj(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, j)| *j != J::Empty)
                    .map(|(k, j)| (k, j.into_value()))
                    .collect(),
            ),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            J::Null | J::Empty => "null",
            J::Scalar(Value::Bool(_)) => "boolean",
            J::Scalar(Value::Number(_)) => "number",
            J::Scalar(_) => "string",
            J::Arr(_) => "array",
            J::Obj(_) => "object",
        }
    }
}

fn to_int(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64))
}

/// gojq's clampIndex.
fn clamp_index(mut i: i64, min: i64, max: i64) -> i64 {
    if i < 0 {
        i += max;
    }
    if i < min {
        min
    } else if i < max {
        i
    } else {
        max
    }
}

/// gojq's `update(v, path, empty)`: marks what `path` names as deleted.
fn mark(v: J, path: &[Value]) -> Result<J, String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(J::Empty);
    };
    match first {
        Value::String(k) => match v {
            J::Null | J::Empty => Ok(v),
            J::Obj(mut m) => {
                if let Some(slot) = m.iter_mut().find(|(key, _)| key == k) {
                    let old = std::mem::replace(&mut slot.1, J::Null);
                    slot.1 = mark(old, rest)?;
                }
                Ok(J::Obj(m))
            }
            other => Err(format!("expected an object but got: {}", other.type_name())),
        },
        Value::Number(_) => match v {
            J::Null | J::Empty => Ok(v),
            J::Arr(mut a) => {
                let i = to_int(first).unwrap_or(0);
                let j = clamp_index(i, -1, a.len() as i64);
                if j >= 0 && (j as usize) < a.len() {
                    let old = std::mem::replace(&mut a[j as usize], J::Null);
                    a[j as usize] = mark(old, rest)?;
                }
                Ok(J::Arr(a))
            }
            other => Err(format!("expected an array but got: {}", other.type_name())),
        },
        Value::Object(m) => match v {
            J::Null | J::Empty => Ok(v),
            J::Arr(a) => {
                let (Some(s), Some(e)) = (m.get("start"), m.get("end")) else {
                    return Err("expected object with start and end keys".into());
                };
                let len = a.len() as i64;
                let start = to_int(s).map(|i| clamp_index(i, 0, len)).unwrap_or(0);
                let end = to_int(e).map(|i| clamp_index(i, start, len)).unwrap_or(len);
                if start == end {
                    return Ok(J::Arr(a));
                }
                let (s, e) = (start as usize, end as usize);
                match mark(J::Arr(a[s..e].to_vec()), rest)? {
                    J::Empty => {
                        let mut w = a;
                        for x in &mut w[s..e] {
                            *x = J::Empty;
                        }
                        Ok(J::Arr(w))
                    }
                    J::Arr(u) => {
                        let mut w: Vec<J> = a[..s].to_vec();
                        w.extend(u);
                        w.extend(a[e..].iter().cloned());
                        Ok(J::Arr(w))
                    }
                    other => Err(format!("expected an array but got: {}", other.type_name())),
                }
            }
            other => Err(format!("expected an array but got: {}", other.type_name())),
        },
        _ => match v {
            J::Arr(_) => Err("expected a number for indexing an array".into()),
            _ => Err("expected a string for object key".into()),
        },
    }
}

/// gojq's `delpaths`: every path is marked first, then the marked values go, so array
/// indices do not shift between deletions.
pub fn delpaths(doc: &Value, paths: &[Vec<Value>]) -> Result<Value, String> {
    let mut u = J::from(doc);
    for p in paths {
        u = mark(u, p)?;
    }
    Ok(u.into_value())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "main", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "proxy:1"}]}}}})
    }

    #[test]
    fn json_pointers_remove_as_json_patch_does() {
        let mut d = deployment();
        remove_pointer(&mut d, "/spec/replicas").unwrap();
        assert!(d.pointer("/spec/replicas").is_none());
        remove_pointer(&mut d, "/spec/template/spec/containers/-1").unwrap();
        assert_eq!(
            d.pointer("/spec/template/spec/containers")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let mut m = json!({"metadata": {"annotations": {"a/b": "x", "c~d": "y"}}});
        remove_pointer(&mut m, "/metadata/annotations/a~1b").unwrap();
        remove_pointer(&mut m, "/metadata/annotations/c~0d").unwrap();
        assert_eq!(m, json!({"metadata": {"annotations": {}}}));
        // missing paths and bad indices are errors (the patch is skipped)
        let mut d = deployment();
        assert_eq!(
            remove_pointer(&mut d, "/spec/nope").unwrap_err(),
            "error in remove for path: '/spec/nope': Unable to remove nonexistent key: nope: missing value"
        );
        assert!(remove_pointer(&mut d, "/status/x").is_err());
        assert!(remove_pointer(&mut d, "spec").is_err());
        assert!(remove_pointer(&mut d, "/spec/template/spec/containers/9").is_err());
        assert!(remove_pointer(&mut d, "/spec/template/spec/containers/x").is_err());
        assert_eq!(d, deployment());
    }

    #[test]
    fn jq_deletes_what_del_deletes() {
        let d = deployment();
        let out = jq_delete(".spec.replicas", &d, JQ_TIMEOUT).unwrap();
        assert!(out.pointer("/spec/replicas").is_none());
        let out = jq_delete(
            ".spec.template.spec.containers[] | select(.name == \"sidecar\")",
            &d,
            JQ_TIMEOUT,
        )
        .unwrap();
        assert_eq!(
            out.pointer("/spec/template/spec/containers").unwrap(),
            &json!([{"name": "main", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]}])
        );
        let out = jq_delete(".spec.template.spec.containers[].image", &d, JQ_TIMEOUT).unwrap();
        assert!(out.pointer("/spec/template/spec/containers/0/image").is_none());
        assert!(out.pointer("/spec/template/spec/containers/1/image").is_none());
        // indices do not shift between deletions: [0, 1, 2, 3] | del(.[1, 2]) is [0, 3]
        let out = jq_delete(".[1, 2]", &json!([0, 1, 2, 3]), JQ_TIMEOUT).unwrap();
        assert_eq!(out, json!([0, 3]));
        let out = jq_delete(".[1:3]", &json!([0, 1, 2, 3]), JQ_TIMEOUT).unwrap();
        assert_eq!(out, json!([0, 3]));
        let out = jq_delete(".[-1]", &json!([0, 1, 2, 3]), JQ_TIMEOUT).unwrap();
        assert_eq!(out, json!([0, 1, 2]));
        // a field of a missing object is no error; a field of a number is
        assert_eq!(jq_delete(".status.x", &d, JQ_TIMEOUT).unwrap(), d);
        assert!(jq_delete(".spec.replicas.x", &d, JQ_TIMEOUT).is_err());
        // what is not a path is an error at run time
        assert!(jq_delete("1 + 1", &d, JQ_TIMEOUT).is_err());
    }

    #[test]
    fn jq_parse_errors_are_worded_as_gojqs() {
        assert_eq!(check_jq(".a[").unwrap_err(), "unexpected token \")\"");
        assert_eq!(check_jq(".a |").unwrap_err(), "unexpected token \")\"");
        assert_eq!(
            check_jq("nosuchfn").unwrap_err(),
            "function not defined: nosuchfn/0"
        );
        assert_eq!(check_jq("$x").unwrap_err(), "variable not defined: $x");
        assert_eq!(check_jq("\"abc").unwrap_err(), "unterminated string literal");
        assert!(check_jq(".spec.template.spec.containers[] | select(.name == \"x\") | .image").is_ok());
    }

    #[test]
    fn a_never_ending_expression_times_out_and_is_not_run_again() {
        let d = json!({"a": 1});
        let started = Instant::now();
        let e = jq_delete("def f: f; f", &d, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e, "JQ patch execution timed out (300ms)");
        assert!(started.elapsed() < Duration::from_secs(3));
        let started = Instant::now();
        assert_eq!(
            jq_delete("def f: f; f", &d, Duration::from_millis(300)).unwrap_err(),
            "JQ patch execution timed out (300ms)"
        );
        assert!(started.elapsed() < Duration::from_millis(100));
        // the worker is replaced: other expressions still run
        assert_eq!(jq_delete(".a", &d, JQ_TIMEOUT).unwrap(), json!({}));
        // an endless stream of paths is cut at the deadline (or at the most paths taken)
        let e = jq_delete("repeat(.a)", &d, Duration::from_millis(300)).unwrap_err();
        assert!(
            e == "JQ patch execution timed out (300ms)" || e == "JQ patch yielded more than 100000 paths",
            "{e}"
        );
    }

    #[test]
    fn arbitrary_expressions_and_pointers_never_panic() {
        // a deterministic soup of jq tokens and pointer parts
        const TOKENS: &[&str] = &[
            ".",
            ".a",
            ".spec",
            "[",
            "]",
            "(",
            ")",
            "{",
            "}",
            "|",
            ",",
            "?",
            "//",
            "..",
            "[]",
            "0",
            "-1",
            "1:2",
            "\"x\"",
            "select(",
            "map(",
            "$x",
            "as",
            "reduce",
            "if",
            "then",
            "else",
            "end",
            "def",
            "f:",
            ";",
            "+",
            "==",
            "not",
            "empty",
            "error",
            "paths",
            "@base64",
            "\\",
            "\"",
            "limit(2;",
            "recurse",
            "to_entries",
            "keys",
            "..a",
            "test(\"a\")",
            "splits(",
            "ltrimstr(",
            "getpath([",
        ];
        let doc = json!({"a": [1, {"b": null}], "spec": {"x": "y"}, "n": 3});
        let mut seed: u64 = 0x5eed;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..400 {
            let n = (next() % 8) as usize + 1;
            let expr: String = (0..n)
                .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize])
                .collect();
            let _ = check_jq(&expr);
            if check_jq(&expr).is_ok() {
                let _ = jq_delete(&expr, &doc, Duration::from_millis(200));
            }
            let parts: Vec<&str> = (0..n)
                .map(|_| ["a", "0", "-1", "~1", "~0", "", "spec", "x", "99"][(next() % 9) as usize])
                .collect();
            let mut d = doc.clone();
            let _ = remove_pointer(&mut d, &format!("/{}", parts.join("/")));
            let _ = remove_pointer(&mut d, &parts.join("/"));
        }
        // path arrays of every shape
        for p in [
            json!([]),
            json!(["a", 0]),
            json!([{"start": 1}]),
            json!([null]),
            json!([true]),
            json!(["n", "x"]),
        ] {
            let _ = delpaths(&doc, &[p.as_array().unwrap().clone()]);
        }
    }

    #[test]
    fn managed_fields_of_trusted_managers_are_not_compared() {
        let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}}});
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "managedFields": [
                {"manager": "argocd-controller", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
                {"manager": "hpa", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}}});
        let rules = vec![Rule {
            kind: "Deployment".into(),
            group: "apps".into(),
            managers: vec!["hpa".into()],
            ..Default::default()
        }];
        let n = Normalizer::new(&rules, &Overrides::new()).unwrap();
        let (t, l) = n.compare_pair(&target, &live);
        assert!(t.pointer("/spec/replicas").is_none());
        assert!(l.pointer("/spec/replicas").is_none());
        assert!(crate::standins::argocd::diff::satisfies(&t, &l));
        // the same value is no difference, and stays
        let mut same = live.clone();
        same["spec"]["replicas"] = json!(2);
        let (t, _) = n.normalize_pair(&target, &same);
        assert_eq!(t.pointer("/spec/replicas"), Some(&json!(2)));
        // an untrusted manager's fields are compared
        let n = Normalizer::new(&[], &Overrides::new()).unwrap();
        let (t, l) = n.normalize_pair(&target, &live);
        assert!(!crate::standins::argocd::diff::satisfies(&t, &l));
    }

    #[test]
    fn secrets_compare_their_string_data_as_data() {
        let target = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}});
        let live =
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "Yg=="}});
        let n = Normalizer::new(&[], &Overrides::new()).unwrap();
        let (t, l) = n.compare_pair(&target, &live);
        assert_eq!(t["data"], json!({"a": "Yg=="}));
        assert!(crate::standins::argocd::diff::satisfies(&t, &l));
        // RespectIgnoreDifferences starts from util/argo's Normalize, which keeps stringData
        assert_eq!(
            n.normalize_pair(&target, &live).0["stringData"],
            json!({"a": "b"})
        );
    }

    #[test]
    fn respecting_ignored_fields_copies_them_from_live() {
        let target = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cluster-a", "labels": {"a": "b"}},
            "data": {"server": "cGxhY2Vob2xkZXI="}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cluster-a", "labels": {"a": "b"}},
            "data": {"server": "aHR0cHM6Ly8xMC4wLjAuMQ==", "config": "e30="}});
        let rules = vec![Rule {
            kind: "Secret".into(),
            json_pointers: vec!["/data".into()],
            ..Default::default()
        }];
        let n = Normalizer::new(&rules, &Overrides::new()).unwrap();
        let t = n.respect(&target, &live);
        assert_eq!(t["data"], live["data"]);
        assert_eq!(t["metadata"]["labels"], json!({"a": "b"}));
        // a container ignored by name keeps the live one, the others follow git
        let target = deployment();
        let mut live = deployment();
        live["spec"]["template"]["spec"]["containers"][1]["image"] = json!("proxy:2");
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
        let rules = vec![Rule {
            kind: "Deployment".into(),
            group: "apps".into(),
            jq: vec![".spec.template.spec.containers[] | select(.name == \"sidecar\")".into()],
            ..Default::default()
        }];
        let n = Normalizer::new(&rules, &Overrides::new()).unwrap();
        let t = n.respect(&target, &live);
        let cs = t["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        assert_eq!(cs[0]["image"], "nginx:1.27");
        assert_eq!(cs[1]["image"], "proxy:2");
    }

    #[test]
    fn argocd_cm_overrides() {
        let mut data = BTreeMap::new();
        data.insert(
            "resource.customizations.ignoreDifferences.apps_Deployment".to_string(),
            "jsonPointers:\n- /spec/replicas\n".to_string(),
        );
        data.insert(
            "resource.customizations.ignoreDifferences.all".to_string(),
            "managedFieldsManagers:\n- kube-controller-manager\n".to_string(),
        );
        data.insert(
            "resource.customizations".to_string(),
            "admissionregistration.k8s.io/MutatingWebhookConfiguration:\n  ignoreDifferences: |\n    jqPathExpressions:\n    - .webhooks[]?.clientConfig.caBundle\n".to_string(),
        );
        let settings = crate::standins::argocd::settings::Settings::from_config_map(Some(&data));
        let o = overrides_from(
            settings.overrides.as_ref().unwrap(),
            settings.compare_options.as_deref(),
        );
        assert_eq!(o["apps/Deployment"].json_pointers, ["/spec/replicas"]);
        assert_eq!(o["*/*"].managers, ["kube-controller-manager"]);
        assert_eq!(o["*/*"].json_pointers, ["/status"]);
        assert_eq!(
            o["admissionregistration.k8s.io/MutatingWebhookConfiguration"].jq,
            [".webhooks[]?.clientConfig.caBundle"]
        );
        let n = Normalizer::new(&[], &o).unwrap();
        let mut d = deployment();
        d["status"] = json!({"replicas": 1});
        n.normalize(&mut d);
        assert!(d.get("status").is_none() && d.pointer("/spec/replicas").is_none());
        assert_eq!(
            n.managers("apps", "Deployment", "web", "web"),
            ["kube-controller-manager"]
        );
        // status stays compared when the compare options say so
        data.insert(
            "resource.compareoptions".to_string(),
            "ignoreResourceStatusField: none\n".to_string(),
        );
        let settings = crate::standins::argocd::settings::Settings::from_config_map(Some(&data));
        let o = overrides_from(
            settings.overrides.as_ref().unwrap(),
            settings.compare_options.as_deref(),
        );
        assert!(o["*/*"].json_pointers.is_empty());
    }
}

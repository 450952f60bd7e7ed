//! Generator parameters with the Go types Argo CD gives them (applicationset/generators,
//! v3.2.0). The types matter beyond templates: post-selectors see parameters flattened by
//! jeremywohl/flatten, which descends only into `map[string]interface {}` and
//! `[]interface {}`; the typed containers generators build (a cluster's labels, `values`,
//! `path.segments`, a flat cluster list) stay whole and print as `%v`.

use std::collections::BTreeMap;

use hubspoke_render::Value as GoValue;
use serde_json::Value;

/// One parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Null,
    Bool(bool),
    /// Decoded JSON and YAML numbers are float64.
    Num(f64),
    Str(String),
    /// `[]interface {}`
    List(Vec<Param>),
    /// `map[string]interface {}`
    Map(Params),
    /// `map[string]string` (cluster labels and annotations, `values`)
    StrMap(BTreeMap<String, String>),
    /// `[]string` (`path.segments`)
    StrList(Vec<String>),
    /// `[]map[string]interface {}` (the cluster generator's `flatList`)
    MapList(Vec<Params>),
}

/// A parameter set (`map[string]interface {}`).
pub type Params = BTreeMap<String, Param>;

impl Param {
    pub fn str(s: impl Into<String>) -> Param {
        Param::Str(s.into())
    }

    /// A value decoded from JSON into `interface {}`.
    pub fn from_json(v: &Value) -> Param {
        match v {
            Value::Null => Param::Null,
            Value::Bool(b) => Param::Bool(*b),
            Value::Number(n) => Param::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Param::Str(s.clone()),
            Value::Array(a) => Param::List(a.iter().map(Param::from_json).collect()),
            Value::Object(m) => Param::Map(m.iter().map(|(k, v)| (k.clone(), Param::from_json(v))).collect()),
        }
    }

    /// A value decoded by sigs.k8s.io/yaml (hubspoke-render's goyaml) into `interface {}`.
    pub fn from_go(v: &GoValue) -> Param {
        match v {
            GoValue::Nil => Param::Null,
            GoValue::Bool(b) => Param::Bool(*b),
            GoValue::Int(i) | GoValue::Int64(i) => Param::Num(*i as f64),
            GoValue::Uint8(u) => Param::Num(f64::from(*u)),
            GoValue::Float(f) => Param::Num(*f),
            GoValue::String(s) => Param::Str(s.clone()),
            GoValue::Slice(items) => Param::List(items.iter().map(Param::from_go).collect()),
            GoValue::Map(m) => Param::Map(
                m.entries()
                    .iter()
                    .map(|(k, v)| (k.clone(), Param::from_go(v)))
                    .collect(),
            ),
            other => Param::Str(hubspoke_render::gofmt::format_v(other)),
        }
    }

    /// The value a Go template sees.
    pub fn to_go(&self) -> GoValue {
        match self {
            Param::Null => GoValue::Nil,
            Param::Bool(b) => GoValue::Bool(*b),
            Param::Num(f) => GoValue::Float(*f),
            Param::Str(s) => GoValue::String(s.clone()),
            Param::List(items) => GoValue::slice(items.iter().map(Param::to_go)),
            Param::Map(m) => to_go(m),
            Param::StrMap(m) => GoValue::map(m.iter().map(|(k, v)| (k.clone(), GoValue::String(v.clone())))),
            Param::StrList(items) => GoValue::slice(items.iter().map(|s| GoValue::String(s.clone()))),
            Param::MapList(items) => GoValue::slice(items.iter().map(to_go)),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Param::Str(s) => Some(s),
            _ => None,
        }
    }

    fn is_map(&self) -> bool {
        matches!(self, Param::Map(_) | Param::StrMap(_))
    }
}

/// A parameter set as the Go template's dot.
pub fn to_go(params: &Params) -> GoValue {
    GoValue::map(params.iter().map(|(k, v)| (k.clone(), v.to_go())))
}

/// `fmt.Sprintf("%v", v)`.
pub fn format_v(p: &Param) -> String {
    match p {
        Param::Str(s) => s.clone(),
        other => hubspoke_render::gofmt::format_v(&other.to_go()),
    }
}

/// jeremywohl/flatten's `Flatten(m, "", DotStyle)` with each leaf printed by `%v`
/// (Argo CD's flattenParameters, and the git files generator in flat mode): maps and
/// slices of `interface {}` give `a.b` and `a.0` keys, empty ones give nothing, anything
/// else (typed maps and slices included) is a leaf.
pub fn flatten(params: &Params) -> BTreeMap<String, String> {
    fn go(prefix: Option<&str>, p: &Param, out: &mut BTreeMap<String, String>) {
        let key = |k: &str| match prefix {
            None => k.to_string(),
            Some(pre) => format!("{pre}.{k}"),
        };
        match p {
            Param::Map(m) if prefix.is_some() => {
                for (k, v) in m {
                    go(Some(&key(k)), v, out);
                }
            }
            Param::List(items) if prefix.is_some() => {
                for (i, v) in items.iter().enumerate() {
                    go(Some(&key(&i.to_string())), v, out);
                }
            }
            leaf => {
                out.insert(prefix.unwrap_or_default().to_string(), format_v(leaf));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (k, v) in params {
        go(Some(k), v, &mut out);
    }
    out
}

/// `mergo.Merge(&dst, src, mergo.WithOverride)` on parameter maps (dario.cat/mergo
/// v1.0.2): maps present on both sides merge key by key, anything else from `src`
/// replaces what `dst` has (a null included; slices are replaced, not appended).
pub fn merge_override(dst: &mut Params, src: &Params) {
    for (k, s) in src {
        match dst.get_mut(k) {
            Some(d) if d.is_map() && s.is_map() => merge_maps(d, s),
            _ => {
                dst.insert(k.clone(), s.clone());
            }
        }
    }
}

fn merge_maps(dst: &mut Param, src: &Param) {
    match (dst, src) {
        (Param::Map(d), Param::Map(s)) => merge_override(d, s),
        (Param::Map(d), Param::StrMap(s)) => {
            for (k, v) in s {
                d.insert(k.clone(), Param::Str(v.clone()));
            }
        }
        (Param::StrMap(d), Param::StrMap(s)) => {
            d.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        (dst @ Param::StrMap(_), Param::Map(s)) => {
            // Go would panic setting a non-string into map[string]string; the merged map
            // becomes map[string]interface {} instead
            let Param::StrMap(d) = dst else { return };
            let mut m: Params = d
                .iter()
                .map(|(k, v)| (k.clone(), Param::Str(v.clone())))
                .collect();
            merge_override(&mut m, s);
            *dst = match m.values().all(|v| matches!(v, Param::Str(_))) {
                true => Param::StrMap(
                    m.into_iter()
                        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                        .collect(),
                ),
                false => Param::Map(m),
            };
        }
        (d, s) => *d = s.clone(),
    }
}

/// Argo CD's `utils.CombineStringMaps(a, b)`: both printed with `%v`, `b` added to `a`;
/// a key both have with different values is an error.
pub fn combine_string_maps(a: &Params, b: &Params) -> Result<Params, String> {
    let mut res: Params = a
        .iter()
        .map(|(k, v)| (k.clone(), Param::Str(format_v(v))))
        .collect();
    for (k, v) in b {
        let v = format_v(v);
        if let Some(current) = res.get(k).and_then(Param::as_str)
            && current != v
        {
            return Err(format!(
                "found duplicate key {k} with different value, a: {current} ,b: {v}"
            ));
        }
        res.insert(k.clone(), Param::Str(v));
    }
    Ok(res)
}

/// encoding/json's `Marshal` of a parameter value (merge keys are compared as JSON).
pub fn to_json_text(p: &Param) -> String {
    hubspoke_render::gojson::marshal(&p.to_go()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strmap(pairs: &[(&str, &str)]) -> Param {
        Param::StrMap(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn flattening_descends_into_interface_containers_only() {
        // a cluster in goTemplate mode: metadata is map[string]interface {}, its labels are
        // map[string]string, values too; a git file's content is decoded JSON
        let mut p = Params::new();
        p.insert("name".into(), Param::str("spoke-a"));
        p.insert(
            "metadata".into(),
            Param::Map(Params::from([(
                "labels".into(),
                strmap(&[("env", "prod"), ("a.b/c", "x")]),
            )])),
        );
        p.insert("values".into(), strmap(&[("tier", "web")]));
        p.insert(
            "path".into(),
            Param::Map(Params::from([
                ("path".into(), Param::str("apps/web")),
                (
                    "segments".into(),
                    Param::StrList(vec!["apps".into(), "web".into()]),
                ),
            ])),
        );
        p.insert(
            "file".into(),
            Param::from_json(&serde_json::json!({"replicas": 3, "ratio": 0.5, "tags": ["a", {"b": null}], "empty": {}, "none": []})),
        );
        let flat = flatten(&p);
        let want: BTreeMap<String, String> = [
            ("name", "spoke-a"),
            ("metadata.labels", "map[a.b/c:x env:prod]"),
            ("values", "map[tier:web]"),
            ("path.path", "apps/web"),
            ("path.segments", "[apps web]"),
            ("file.replicas", "3"),
            ("file.ratio", "0.5"),
            ("file.tags.0", "a"),
            ("file.tags.1.b", "<nil>"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(flat, want);
    }

    #[test]
    fn mergo_override_merges_maps_and_replaces_the_rest() {
        let mut dst = Params::from([
            ("values".into(), strmap(&[("a", "1"), ("b", "2")])),
            ("list".into(), Param::List(vec![Param::str("x"), Param::str("y")])),
            ("keep".into(), Param::str("kept")),
            (
                "m".into(),
                Param::from_json(&serde_json::json!({"x": {"y": 1, "z": 2}})),
            ),
        ]);
        let src = Params::from([
            ("values".into(), strmap(&[("b", "3"), ("c", "4")])),
            ("list".into(), Param::List(vec![Param::str("z")])),
            (
                "m".into(),
                Param::from_json(&serde_json::json!({"x": {"z": 3}, "w": null})),
            ),
        ]);
        merge_override(&mut dst, &src);
        assert_eq!(dst["values"], strmap(&[("a", "1"), ("b", "3"), ("c", "4")]));
        assert_eq!(dst["list"], Param::List(vec![Param::str("z")]));
        assert_eq!(dst["keep"], Param::str("kept"));
        assert_eq!(
            dst["m"],
            Param::from_json(&serde_json::json!({"x": {"y": 1, "z": 3}, "w": null}))
        );
    }

    #[test]
    fn flat_matrices_refuse_conflicting_keys() {
        let a = Params::from([("name".into(), Param::str("a")), ("n".into(), Param::Num(2.0))]);
        let b = Params::from([("n".into(), Param::str("2")), ("x".into(), Param::str("y"))]);
        let c = combine_string_maps(&a, &b).unwrap();
        assert_eq!(c["n"], Param::str("2"));
        let b = Params::from([("name".into(), Param::str("b"))]);
        assert_eq!(
            combine_string_maps(&a, &b).unwrap_err(),
            "found duplicate key name with different value, a: a ,b: b"
        );
    }
}

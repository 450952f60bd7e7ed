//! sprig's dict functions: dict, get, set, unset, hasKey, pluck, keys, pick, omit,
//! merge, mergeOverwrite, mustMerge, mustMergeOverwrite, values, dig.
//!
//! Go maps are references: `set`, `unset` and the merges change the map every holder
//! sees ([`GoMap`]). A nil map (a missing value or `nil` passed for a map) is `Nil`.
//! Go ranges over maps in random order; `keys` and `values` give key order, one of the
//! orders Go may give.

use std::collections::BTreeMap;

use super::util::{strval, val};
use crate::value::{Arg, FuncMap, FuncResult, Function, GoMap, ParamType, Value};

use ParamType::{Any, Map, String as Str};

pub(super) fn register(m: &mut FuncMap) {
    let mut add = |name: &str, f: Function| {
        m.insert(name.to_string(), f);
    };
    add(
        "dict",
        Function::new(vec![Any], true, "map[string]interface {}", false, |a| {
            let mut d = BTreeMap::new();
            for pair in a.chunks(2) {
                let k = strval(&val(&pair[0]));
                let v = pair.get(1).map_or(Value::String(String::new()), val);
                d.insert(k, v);
            }
            Ok(Arg::Value(Value::Map(GoMap::new(d))))
        }),
    );
    add(
        "get",
        Function::new(vec![Map, Str], false, "interface {}", false, |a| {
            let v = map_of(&a[0]).and_then(|m| m.get(&key(&a[1])));
            Ok(Arg::Interface(v.unwrap_or(Value::String(String::new()))))
        }),
    );
    add(
        "set",
        Function::new(
            vec![Map, Str, Any],
            false,
            "map[string]interface {}",
            false,
            |a| {
                let Some(m) = map_of(&a[0]) else {
                    return Err("assignment to entry in nil map".into());
                };
                m.insert(key(&a[1]), val(&a[2]));
                Ok(Arg::Value(Value::Map(m)))
            },
        ),
    );
    add(
        "unset",
        Function::new(vec![Map, Str], false, "map[string]interface {}", false, |a| {
            // deleting from a nil map does nothing; the nil map prints as map[]
            let m = map_of(&a[0]).unwrap_or_default();
            m.remove(&key(&a[1]));
            Ok(Arg::Value(Value::Map(m)))
        }),
    );
    add(
        "hasKey",
        Function::new(vec![Map, Str], false, "bool", false, |a| {
            let has = map_of(&a[0]).is_some_and(|m| m.contains_key(&key(&a[1])));
            Ok(Arg::Value(Value::Bool(has)))
        }),
    );
    add(
        "pluck",
        Function::new(vec![Str, Map], true, "[]interface {}", false, |a| {
            let k = key(&a[0]);
            let found = a[1..].iter().filter_map(|d| map_of(d).and_then(|m| m.get(&k)));
            Ok(Arg::Value(Value::slice(found)))
        }),
    );
    add(
        "keys",
        Function::new(vec![Map], true, "[]string", false, |a| {
            let ks = a.iter().filter_map(map_of).flat_map(|m| m.keys());
            Ok(Arg::Value(Value::slice(ks.map(Value::String))))
        }),
    );
    add(
        "pick",
        Function::new(vec![Map, Str], true, "map[string]interface {}", false, |a| {
            let mut res = BTreeMap::new();
            if let Some(m) = map_of(&a[0]) {
                for k in a[1..].iter().map(key) {
                    if let Some(v) = m.get(&k) {
                        res.insert(k, v);
                    }
                }
            }
            Ok(Arg::Value(Value::Map(GoMap::new(res))))
        }),
    );
    add(
        "omit",
        Function::new(vec![Map, Str], true, "map[string]interface {}", false, |a| {
            let omit: Vec<String> = a[1..].iter().map(key).collect();
            let res = map_of(&a[0])
                .map(|m| m.entries())
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| !omit.contains(k))
                .collect();
            Ok(Arg::Value(Value::Map(GoMap::new(res))))
        }),
    );
    for (name, overwrite, must) in [
        ("merge", false, false),
        ("mustMerge", false, true),
        ("mergeOverwrite", true, false),
        ("mustMergeOverwrite", true, true),
    ] {
        add(
            name,
            Function::new(vec![Map, Map], true, "interface {}", must, move |a| {
                merge_all(a, overwrite)
            }),
        );
    }
    add(
        "values",
        Function::new(vec![Map], false, "[]interface {}", false, |a| {
            let vs = map_of(&a[0]).map(|m| m.entries()).unwrap_or_default();
            Ok(Arg::Value(Value::slice(vs.into_iter().map(|(_, v)| v))))
        }),
    );
    add("dig", Function::new(vec![Any], true, "interface {}", true, dig));
}

fn map_of(a: &Arg) -> Option<GoMap> {
    match val(a) {
        Value::Map(m) => Some(m),
        _ => None,
    }
}

fn key(a: &Arg) -> String {
    match val(a) {
        Value::String(s) => s,
        _ => String::new(),
    }
}

/// sprig's merge: each source merged into dst in turn, dst returned (a nil dst becomes
/// a new map when a source is not nil).
fn merge_all(a: &[Arg], overwrite: bool) -> FuncResult {
    let mut dst = map_of(&a[0]);
    for src in a[1..].iter().filter_map(map_of) {
        let d = dst.get_or_insert_with(GoMap::default);
        merge_maps(d, &src, overwrite, 0);
    }
    Ok(Arg::Interface(match dst {
        Some(m) => Value::Map(m),
        // a nil map[string]interface {}: prints as map[]
        None => Value::Map(GoMap::default()),
    }))
}

/// How deep merges go into nested maps; Go recurses until its stack runs out on a map
/// holding itself.
const MAX_DEPTH: usize = 1000;

/// dario.cat/mergo 1.0.1's deepMerge of one map[string]interface {} into another (Merge,
/// or MergeWithOverwrite with `overwrite`), for each key of src:
/// - a nil value is copied only when overwriting (even over a value dst has);
/// - maps merge into dst's map in place when dst has a map there;
/// - otherwise dst takes src's value when overwriting or when its own is missing or
///   empty (nil, false, 0, "", empty slice or map): overwriting copies empty values too.
///
/// mergo 0.3.12 (Debian's) keeps a non-empty non-map dst value against a src map even
/// when overwriting; 1.0.1 replaces it.
fn merge_maps(dst: &GoMap, src: &GoMap, overwrite: bool, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for (k, s) in src.entries() {
        let d = dst.get(&k);
        if let Value::Nil = s {
            if overwrite {
                dst.insert(k, Value::Nil);
            }
            continue;
        }
        if let (Value::Map(sm), Some(Value::Map(dm))) = (&s, &d) {
            merge_maps(dm, sm, overwrite, depth + 1);
        }
        // dst's value as it is now: a nested merge may have filled an empty map
        let d_empty = d.as_ref().is_none_or(super::generic::is_empty);
        if !d_empty {
            match (&s, &d) {
                (Value::Slice(_), _) => {
                    if overwrite {
                        dst.insert(k, s);
                    }
                    continue;
                }
                (Value::Map(_), Some(Value::Map(_))) => continue,
                _ => {}
            }
        }
        if overwrite || d_empty {
            dst.insert(k, s);
        }
    }
}

fn dig(a: &[Arg]) -> FuncResult {
    if a.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let n = a.len();
    let dict = match val(&a[n - 1]) {
        Value::Map(m) => m,
        v => return Err(conversion(&v, "map[string]interface {}")),
    };
    let default = val(&a[n - 2]);
    let mut keys = Vec::with_capacity(n - 2);
    for k in &a[..n - 2] {
        match val(k) {
            Value::String(s) => keys.push(s),
            v => return Err(conversion(&v, "string")),
        }
    }
    let mut cur = dict;
    for (i, k) in keys.iter().enumerate() {
        let Some(step) = cur.get(k) else {
            return Ok(Arg::Interface(default));
        };
        if i + 1 == keys.len() {
            return Ok(Arg::Interface(step));
        }
        cur = match step {
            Value::Map(m) => m,
            v => return Err(conversion(&v, "map[string]interface {}")),
        };
    }
    Ok(Arg::Interface(default))
}

/// Go's failed type assertion on an interface {}.
fn conversion(v: &Value, want: &str) -> String {
    let have = match v {
        Value::Nil => "nil".to_string(),
        v => v.type_name(),
    };
    format!("interface conversion: interface {{}} is {have}, not {want}")
}

#[cfg(test)]
mod tests {
    use crate::{Options, Template, Value};

    fn render(t: &str, data: &Value) -> String {
        let mut tpl = Template::new("t").funcs(crate::sprig::funcs());
        tpl.add_parse("t", t)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        tpl.execute(data, &Options::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn set_changes_the_callers_map() {
        let data = Value::from(serde_json::json!({"Values": {"a": 1, "sub": {}}}));
        let out = render(
            r#"{{$_ := set .Values "x" 1}}{{$_ := set .Values.sub "y" "z"}}{{$_ := unset .Values "a"}}{{.Values.x}}"#,
            &data,
        );
        assert_eq!(out, "1");
        let Value::Map(top) = &data else { panic!("map") };
        let Some(Value::Map(values)) = top.get("Values") else {
            panic!("Values")
        };
        assert_eq!(values.get("x"), Some(Value::Int(1)));
        assert!(!values.contains_key("a"));
        let Some(Value::Map(sub)) = values.get("sub") else {
            panic!("sub")
        };
        assert_eq!(sub.get("y"), Some(Value::from("z")));
    }

    #[test]
    fn merge_changes_dst_and_shares_src_maps() {
        let data = Value::from(serde_json::json!({"dst": {"a": 1}, "src": {"n": {"b": 2}}}));
        render(r#"{{$_ := merge .dst .src}}{{$_ := set .dst.n "c" 3}}"#, &data);
        // the nested map went over as is: src sees the change made through dst
        let Value::Map(top) = &data else { panic!("map") };
        let Some(Value::Map(src)) = top.get("src") else {
            panic!("src")
        };
        let Some(Value::Map(n)) = src.get("n") else {
            panic!("n")
        };
        assert_eq!(n.get("c"), Some(Value::Int(3)));
    }

    #[test]
    fn merging_a_map_holding_itself_ends() {
        let data = Value::from(serde_json::json!({"d": {"a": 1}}));
        let out = render(
            r#"{{$_ := set .d "self" .d}}{{$m := merge .d .d}}{{len $m}}"#,
            &data,
        );
        assert_eq!(out, "2");
    }
}

//! What sprig's list, dict and default functions share: Go's reflect kinds, sprig's
//! `empty`, reflect.DeepEqual and copystructure's deep copy, over [`Value`]s.

use crate::value::{GoMap, Value};

/// Go's `reflect.TypeOf(v).Kind()` as `%s` prints it; `None` for a nil interface (whose
/// type is nil: asking its kind dereferences nil).
pub(crate) fn kind_name(v: &Value) -> Option<&'static str> {
    Some(match v {
        Value::Nil => return None,
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Uint8(_) => "uint8",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::Slice(_) => "slice",
        Value::Map(_) => "map",
        Value::Func(_) => "func",
        Value::Object(o) => {
            if o.type_name().starts_with('*') {
                "ptr"
            } else {
                "struct"
            }
        }
    })
}

/// The runtime error Go raises calling a method on a nil `reflect.Type`.
pub(crate) const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// The slice's elements, or the error `Cannot <what> on type <kind>` sprig gives for
/// anything else (Go's nil-pointer error for nil).
pub(crate) fn list_items(
    v: &Value,
    err: impl Fn(&str) -> String,
) -> Result<std::sync::Arc<Vec<Value>>, String> {
    match v {
        Value::Slice(s) => Ok(s.clone()),
        v => match kind_name(v) {
            None => Err(NIL_DEREF.into()),
            Some(k) => Err(err(k)),
        },
    }
}

/// sprig's `empty`: nil, false, 0, and empty strings, slices and maps; structs and
/// functions never are.
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) | Value::Int64(i) => *i == 0,
        Value::Uint8(u) => *u == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Slice(s) => s.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Func(_) | Value::Object(_) => false,
    }
}

/// How deep [`deep_equal`] and [`deep_copy`] go: Go follows cycles (DeepEqual remembers
/// them, copystructure loops); a template's data is never this deep.
const MAX_DEPTH: usize = 1000;

/// reflect.DeepEqual: the same types and equal contents (a NaN is not equal to itself).
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    deep_eq(a, b, 0)
}

fn deep_eq(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Uint8(x), Value::Uint8(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Slice(x), Value::Slice(y)) => {
            std::sync::Arc::ptr_eq(x, y)
                || (x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_eq(p, q, depth + 1)))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.ptr_eq(y) {
                return true;
            }
            let (ex, ey) = (x.entries(), y.entries());
            ex.len() == ey.len()
                && ex
                    .iter()
                    .zip(ey.iter())
                    .all(|((kx, vx), (ky, vy))| kx == ky && deep_eq(vx, vy, depth + 1))
        }
        // functions are equal only when both are nil
        (Value::Func(_), Value::Func(_)) => false,
        (Value::Object(x), Value::Object(y)) => {
            std::sync::Arc::ptr_eq(x, y) || (x.type_name() == y.type_name() && x.format_v() == y.format_v())
        }
        _ => false,
    }
}

/// copystructure.Copy: maps and slices copied all the way down; other values are
/// immutable here and shared.
pub(crate) fn deep_copy(v: &Value) -> Value {
    copy_at(v, 0)
}

fn copy_at(v: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return v.clone();
    }
    match v {
        Value::Slice(s) => Value::slice(s.iter().map(|e| copy_at(e, depth + 1))),
        Value::Map(m) => Value::Map(GoMap::new(
            m.entries()
                .into_iter()
                .map(|(k, e)| (k, copy_at(&e, depth + 1)))
                .collect(),
        )),
        v => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use crate::value::{Arg, ParamType, Value};

    /// Values of every kind, with the edges: nil, extremes, NaN, empty and nested
    /// collections, a map holding itself.
    fn samples() -> Vec<Value> {
        let nested = Value::from(serde_json::json!({"a": {"b": [1, null, {"c": "d"}]}, "e": null}));
        let cyclic = crate::GoMap::default();
        cyclic.insert("self", Value::Map(cyclic.clone()));
        vec![
            Value::Nil,
            Value::Bool(true),
            Value::Int(0),
            Value::Int(-1),
            Value::Int(3),
            Value::Int(i64::MIN),
            Value::Int64(i64::MAX),
            Value::Uint8(7),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(-0.5),
            Value::Float(1e300),
            Value::Float(5e-324),
            Value::from(""),
            Value::from("0x1p-2"),
            Value::from("é"),
            Value::from("-9223372036854775809"),
            Value::slice([]),
            Value::slice([Value::Int(1), Value::Nil, nested.clone()]),
            Value::map::<String>([]),
            nested,
            Value::Map(cyclic),
        ]
    }

    fn fits(t: ParamType, v: &Value) -> bool {
        match t {
            ParamType::Any | ParamType::Reflect => true,
            ParamType::Int => matches!(v, Value::Int(_)),
            ParamType::Int64 => matches!(v, Value::Int64(_)),
            ParamType::Float => matches!(v, Value::Float(_)),
            ParamType::String => matches!(v, Value::String(_)),
            ParamType::Bool => matches!(v, Value::Bool(_)),
            ParamType::Map => matches!(v, Value::Map(_) | Value::Nil),
            ParamType::Uint32 => false,
            ParamType::Named(n) => v.type_name() == n,
        }
    }

    /// Every function of the conv, math, defaults, lists and dicts groups, called with
    /// every combination of sample arguments its signature accepts (variadic ones up to
    /// two arguments, or one past the fixed ones), returns a value or an error without
    /// panicking.
    #[test]
    fn never_panics() {
        let mut m = crate::FuncMap::new();
        super::super::conv::register(&mut m);
        super::super::math::register(&mut m);
        super::super::defaults::register(&mut m);
        super::super::lists::register(&mut m);
        super::super::dicts::register(&mut m);
        let vals = samples();
        let mut calls = 0;
        for (name, f) in &m {
            let n = f.params.len();
            let counts: Vec<usize> = if f.variadic {
                (n - 1..=n.max(2)).collect()
            } else {
                vec![n]
            };
            for count in counts {
                let types: Vec<ParamType> = (0..count).map(|i| f.params[i.min(n - 1)]).collect();
                let mut idx = vec![0usize; count];
                loop {
                    // fresh values each call: set, unset and merge change maps in place
                    let fresh = samples();
                    let args: Vec<Value> = idx.iter().map(|&i| fresh[i].clone()).collect();
                    if args.iter().zip(&types).all(|(v, t)| fits(*t, v)) {
                        // the cycle only where it cannot be printed or walked forever by Go either
                        let printable = !matches!(name.as_str(), "toString" | "toDecimal" | "dict");
                        let has_cycle = args
                            .iter()
                            .any(|v| matches!(v, Value::Map(m) if m.contains_key("self")));
                        if printable || !has_cycle {
                            let argv: Vec<Arg> = args.into_iter().map(Arg::Value).collect();
                            let _ = f.call(&argv);
                            calls += 1;
                        }
                    }
                    // next combination
                    let mut k = 0;
                    while k < count {
                        idx[k] += 1;
                        if idx[k] < vals.len() {
                            break;
                        }
                        idx[k] = 0;
                        k += 1;
                    }
                    if k == count {
                        break;
                    }
                }
            }
        }
        assert!(calls > 10_000, "{calls} calls");
    }
}

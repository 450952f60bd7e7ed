//! text/template's builtin functions (funcs.go): and, or, not, len, index, slice, eq, ne,
//! lt, le, gt, ge, print, printf, println, html, js, urlquery, call.

use crate::gofmt;
use crate::value::{Arg, FuncMap, FuncResult, Function, ParamType, Value};

use ParamType::{Any, Reflect};

pub(crate) fn builtins() -> FuncMap {
    let mut m = FuncMap::new();
    let mut add = |name: &str, f: Function| {
        m.insert(name.to_string(), f);
    };
    // and/or are evaluated specially (short-circuit) by the executor
    add(
        "and",
        Function::new(vec![Reflect, Reflect], true, "reflect.Value", false, |a| {
            Ok(a[a.len() - 1].clone())
        }),
    );
    add(
        "or",
        Function::new(vec![Reflect, Reflect], true, "reflect.Value", false, |a| {
            Ok(a[a.len() - 1].clone())
        }),
    );
    add(
        "not",
        Function::new(vec![Reflect], false, "bool", false, |a| Ok(b(!truth(&a[0])))),
    );
    add("len", Function::new(vec![Reflect], false, "int", true, length));
    add(
        "index",
        Function::new(vec![Reflect, Reflect], true, "reflect.Value", true, index),
    );
    add(
        "slice",
        Function::new(vec![Reflect, Reflect], true, "reflect.Value", true, slice),
    );
    add(
        "call",
        Function::new(vec![Reflect, Reflect], true, "reflect.Value", true, call),
    );
    add(
        "eq",
        Function::new(vec![Reflect, Reflect], true, "bool", true, |a| {
            eq(&a[0], &a[1..]).map(b)
        }),
    );
    add(
        "ne",
        Function::new(vec![Reflect, Reflect], false, "bool", true, |a| {
            eq(&a[0], &a[1..2]).map(|t| b(!t))
        }),
    );
    add(
        "lt",
        Function::new(vec![Reflect, Reflect], false, "bool", true, |a| {
            lt(&a[0], &a[1]).map(b)
        }),
    );
    add(
        "le",
        Function::new(vec![Reflect, Reflect], false, "bool", true, |a| {
            le(&a[0], &a[1]).map(b)
        }),
    );
    add(
        "gt",
        Function::new(vec![Reflect, Reflect], false, "bool", true, |a| {
            le(&a[0], &a[1]).map(|t| b(!t))
        }),
    );
    add(
        "ge",
        Function::new(vec![Reflect, Reflect], false, "bool", true, |a| {
            lt(&a[0], &a[1]).map(|t| b(!t))
        }),
    );
    add(
        "print",
        Function::new(vec![Any], true, "string", false, |a| {
            Ok(s(gofmt::sprint(&values(a))))
        }),
    );
    add(
        "println",
        Function::new(vec![Any], true, "string", false, |a| {
            Ok(s(gofmt::sprintln(&values(a))))
        }),
    );
    add(
        "printf",
        Function::new(vec![ParamType::String, Any], true, "string", false, |a| {
            let f = match &a[0] {
                Arg::Value(Value::String(f)) => f.clone(),
                _ => String::new(),
            };
            Ok(s(gofmt::sprintf(&f, &values(&a[1..]))))
        }),
    );
    add(
        "html",
        Function::new(vec![Any], true, "string", false, |a| {
            Ok(s(html_escape(&eval_args(a))))
        }),
    );
    add(
        "js",
        Function::new(vec![Any], true, "string", false, |a| {
            Ok(s(js_escape(&eval_args(a))))
        }),
    );
    add(
        "urlquery",
        Function::new(vec![Any], true, "string", false, |a| {
            Ok(s(query_escape(&eval_args(a))))
        }),
    );
    m
}

fn b(v: bool) -> Arg {
    Arg::Value(Value::Bool(v))
}
fn s(v: String) -> Arg {
    Arg::Value(Value::String(v))
}
fn values(a: &[Arg]) -> Vec<Value> {
    a.iter().map(Arg::value).collect()
}

/// indirectInterface: a nil interface is the invalid value.
fn ind(a: &Arg) -> Option<&Value> {
    match a {
        Arg::Missing | Arg::Value(Value::Nil) | Arg::Interface(Value::Nil) => None,
        Arg::Value(v) | Arg::Interface(v) => Some(v),
    }
}

fn truth(a: &Arg) -> bool {
    match ind(a) {
        None => false,
        Some(v) => crate::exec::is_true(v),
    }
}

fn length(a: &[Arg]) -> FuncResult {
    if let Arg::Missing = a[0] {
        // Go's error path asks the invalid value for its type
        return Err("reflect: call of reflect.Value.Type on zero Value".into());
    }
    match ind(&a[0]) {
        None => Err("len of nil pointer".into()),
        Some(Value::String(s)) => Ok(Arg::Value(Value::Int(s.len() as i64))),
        Some(Value::Slice(s)) => Ok(Arg::Value(Value::Int(s.len() as i64))),
        Some(Value::Map(m)) => Ok(Arg::Value(Value::Int(m.len() as i64))),
        Some(Value::Object(o)) if o.map_entries().is_some() => Ok(Arg::Value(Value::Int(
            o.map_entries().map_or(0, |e| e.len()) as i64,
        ))),
        Some(v) => Err(format!("len of type {}", v.type_name())),
    }
}

fn index_arg(index: Option<&Value>, cap: usize) -> Result<usize, String> {
    let x = match index {
        Some(Value::Int(i) | Value::Int64(i)) => *i,
        Some(Value::Uint8(u)) => i64::from(*u),
        None => return Err("cannot index slice/array with nil".into()),
        Some(v) => return Err(format!("cannot index slice/array with type {}", v.type_name())),
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(a: &[Arg]) -> FuncResult {
    let Some(mut item) = ind(&a[0]).cloned() else {
        return Err("index of untyped nil".into());
    };
    for idx in &a[1..] {
        let idx = ind(idx);
        item = match item {
            Value::Nil => return Err("index of nil pointer".into()),
            Value::Slice(s) => {
                let x = index_arg(idx, s.len())?;
                // Go's Value.Index panics past the end; safeCall turns it into this error
                match s.get(x) {
                    Some(v) => v.clone(),
                    None => return Err("reflect: slice index out of range".into()),
                }
            }
            Value::String(st) => {
                let x = index_arg(idx, st.len())?;
                match st.as_bytes().get(x) {
                    // indexing a string yields a byte (uint8)
                    Some(c) => Value::Uint8(*c),
                    None => return Err("reflect: string index out of range".into()),
                }
            }
            Value::Map(m) => match idx {
                Some(Value::String(k)) => m.get(k).unwrap_or(Value::Nil),
                None => return Err("value is nil; should be of type string".into()),
                Some(v) => return Err(format!("value has type {}; should be string", v.type_name())),
            },
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(Arg::Value(item))
}

fn slice(a: &[Arg]) -> FuncResult {
    let Some(item) = ind(&a[0]) else {
        return Err("slice of untyped nil".into());
    };
    let indexes = &a[1..];
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let (len, cap) = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            (s.len(), s.len())
        }
        Value::Slice(s) => (s.len(), s.len()),
        v => return Err(format!("can't slice item of type {}", v.type_name())),
    };
    let mut idx = [0usize, len, 0];
    for (i, x) in indexes.iter().enumerate() {
        // unlike index, slice does not look inside interface values
        if let Arg::Interface(_) = x {
            return Err("cannot index slice/array with type interface {}".into());
        }
        idx[i] = index_arg(ind(x), cap)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(Arg::Value(match item {
        Value::String(s) => match s.get(idx[0]..idx[1]) {
            Some(t) => Value::String(t.to_string()),
            // a cut inside a UTF-8 sequence: Go keeps the bytes
            None => Value::String(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned()),
        },
        Value::Slice(s) => Value::slice(s[idx[0]..idx[1]].iter().cloned()),
        _ => Value::Nil,
    }))
}

fn prepare_arg(v: Option<&Value>, t: ParamType) -> Result<Arg, String> {
    let Some(v) = v else {
        return match t {
            ParamType::Any => Ok(Arg::Value(Value::Nil)),
            ParamType::Reflect => Ok(Arg::Missing),
            ParamType::Map => Ok(Arg::Value(Value::Nil)),
            t => Err(format!("value is nil; should be of type {}", t.go_name())),
        };
    };
    let ok = match (t, v) {
        (ParamType::Any | ParamType::Reflect, _) => true,
        (ParamType::Int, Value::Int(_)) | (ParamType::Int64, Value::Int64(_)) => true,
        (ParamType::Float, Value::Float(_)) | (ParamType::String, Value::String(_)) => true,
        (ParamType::Bool, Value::Bool(_)) => true,
        (ParamType::Named(n), v) if v.type_name() == n => true,
        (ParamType::Uint32, Value::Int(i) | Value::Int64(i)) => {
            return Ok(Arg::Value(Value::Int(i64::from(*i as u32))));
        }
        (ParamType::Uint32, Value::Uint8(u)) => return Ok(Arg::Value(Value::Int(i64::from(*u)))),
        (ParamType::Map, Value::Map(_)) => true,
        (ParamType::Int, Value::Int64(i)) => return Ok(Arg::Value(Value::Int(*i))),
        (ParamType::Int64, Value::Int(i)) => return Ok(Arg::Value(Value::Int64(*i))),
        // integer kinds convert into each other
        (ParamType::Int, Value::Uint8(u)) => return Ok(Arg::Value(Value::Int(i64::from(*u)))),
        (ParamType::Int64, Value::Uint8(u)) => return Ok(Arg::Value(Value::Int64(i64::from(*u)))),
        _ => false,
    };
    if ok {
        Ok(Arg::Value(v.clone()))
    } else {
        Err(format!(
            "value has type {}; should be {}",
            v.type_name(),
            t.go_name()
        ))
    }
}

fn call(a: &[Arg]) -> FuncResult {
    let f = match ind(&a[0]) {
        None => return Err("call of nil".into()),
        Some(Value::Func(f)) => f.clone(),
        Some(v) => return Err(format!("non-function of type {}", v.type_name())),
    };
    let args = &a[1..];
    let n = f.params.len();
    if f.variadic {
        if args.len() < n - 1 {
            return Err(format!(
                "wrong number of args: got {} want at least {}",
                args.len(),
                n - 1
            ));
        }
    } else if args.len() != n {
        return Err(format!("wrong number of args: got {} want {}", args.len(), n));
    }
    let mut argv = Vec::with_capacity(args.len());
    for (i, x) in args.iter().enumerate() {
        let t = if f.variadic && i >= n - 1 {
            f.params[n - 1]
        } else {
            f.params[i]
        };
        argv.push(prepare_arg(ind(x), t).map_err(|e| format!("arg {i}: {e}"))?);
    }
    f.call(&argv)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
}

fn basic_kind(v: Option<&Value>) -> Kind {
    match v {
        Some(Value::Bool(_)) => Kind::Bool,
        Some(Value::Int(_) | Value::Int64(_)) => Kind::Int,
        Some(Value::Uint8(_)) => Kind::Uint,
        Some(Value::Float(_)) => Kind::Float,
        Some(Value::String(_)) => Kind::String,
        _ => Kind::Invalid,
    }
}

const BAD_TYPE: &str = "invalid type for comparison";
const BAD_CMP: &str = "incompatible types for comparison";

fn eq(a1: &Arg, rest: &[Arg]) -> Result<bool, String> {
    let a1 = ind(a1);
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a1);
    for a in rest {
        let a = ind(a);
        let k2 = basic_kind(a);
        let truth = if k1 != k2 {
            match (a1, a) {
                // int against uint: equal when the int is not negative and the values are
                (Some(Value::Int(x) | Value::Int64(x)), Some(Value::Uint8(y)))
                | (Some(Value::Uint8(y)), Some(Value::Int(x) | Value::Int64(x))) => *x == i64::from(*y),
                (Some(_), Some(_)) => return Err(BAD_CMP.into()),
                _ => false,
            }
        } else {
            match (a1, a) {
                (Some(Value::Bool(x)), Some(Value::Bool(y))) => x == y,
                (Some(Value::Uint8(x)), Some(Value::Uint8(y))) => x == y,
                (Some(Value::Float(x)), Some(Value::Float(y))) => x == y,
                (Some(Value::Int(x) | Value::Int64(x)), Some(Value::Int(y) | Value::Int64(y))) => x == y,
                (Some(Value::String(x)), Some(Value::String(y))) => x == y,
                (None, None) => true,
                (None, Some(_)) | (Some(_), None) => false,
                (Some(x), Some(y)) => {
                    // same non-basic kind, or different kinds of which neither is basic
                    let same_kind = std::mem::discriminant(x) == std::mem::discriminant(y);
                    if !same_kind {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            gofmt::sprintf("%s", std::slice::from_ref(x)),
                            x.type_name(),
                            y.type_name(),
                            gofmt::format_v(y)
                        ));
                    }
                    match (x, y) {
                        (_, Value::Func(_)) => false,
                        // structs compare by their fields; ours are immutable values
                        (Value::Object(a), Value::Object(b)) => {
                            a.type_name() == b.type_name() && a.format_v() == b.format_v()
                        }
                        _ => {
                            return Err(format!(
                                "non-comparable type {}: {}",
                                gofmt::sprintf("%s", std::slice::from_ref(y)),
                                y.type_name()
                            ));
                        }
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a1: &Arg, a2: &Arg) -> Result<bool, String> {
    let a1 = ind(a1);
    let k1 = basic_kind(a1);
    if k1 == Kind::Invalid {
        return Err(BAD_TYPE.into());
    }
    let a2 = ind(a2);
    let k2 = basic_kind(a2);
    if k2 == Kind::Invalid {
        return Err(BAD_TYPE.into());
    }
    if k1 != k2 {
        return match (a1, a2) {
            (Some(Value::Int(x) | Value::Int64(x)), Some(Value::Uint8(y))) => Ok(*x < i64::from(*y)),
            (Some(Value::Uint8(x)), Some(Value::Int(y) | Value::Int64(y))) => Ok(i64::from(*x) < *y),
            _ => Err(BAD_CMP.into()),
        };
    }
    Ok(match (a1, a2) {
        (Some(Value::Uint8(x)), Some(Value::Uint8(y))) => x < y,
        (Some(Value::Float(x)), Some(Value::Float(y))) => x < y,
        (Some(Value::Int(x) | Value::Int64(x)), Some(Value::Int(y) | Value::Int64(y))) => x < y,
        (Some(Value::String(x)), Some(Value::String(y))) => x < y,
        _ => return Err(BAD_TYPE.into()),
    })
}

fn le(a1: &Arg, a2: &Arg) -> Result<bool, String> {
    if lt(a1, a2)? {
        return Ok(true);
    }
    eq(a1, std::slice::from_ref(a2))
}

/// evalArgs: a single string as is, otherwise fmt.Sprint of the arguments.
fn eval_args(a: &[Arg]) -> String {
    if let [Arg::Value(Value::String(s))] = a {
        return s.clone();
    }
    // printableValue turns a nil argument into the string "<no value>"
    let v: Vec<Value> = a
        .iter()
        .map(|x| match x.value() {
            Value::Nil => Value::String("<no value>".into()),
            v => v,
        })
        .collect();
    gofmt::sprint(&v)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if c.is_ascii() => out.push(c),
            c if gofmt::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(c as char),
            b' ' => out.push('+'),
            c => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

//! sprig's list functions: tuple, list, append (push), prepend, first, rest, last,
//! initial, reverse, uniq, without, has, slice, concat, chunk, and their must* forms.
//!
//! The non-must forms panic where the must forms return an error; text/template turns
//! both into the same `error calling NAME: ...`, so they share the code here. sprig's
//! `slice` replaces text/template's builtin of that name.

use std::sync::Arc;

use super::cast::to_int;
use super::generic::{NIL_DEREF, deep_equal, kind_name, list_items};
use super::util::val;
use crate::value::{Arg, FuncMap, FuncResult, Function, ParamType, Value};

use ParamType::{Any, Int};

type ListFn = fn(&[Arg]) -> FuncResult;

/// A list function's names (plain, must*), parameters, whether the last is variadic, its
/// result type and code.
type Group = (
    &'static [&'static str],
    &'static [&'static str],
    Vec<ParamType>,
    bool,
    &'static str,
    ListFn,
);

pub(super) fn register(m: &mut FuncMap) {
    let mut add = |name: &str, f: Function| {
        m.insert(name.to_string(), f);
    };
    for name in ["tuple", "list"] {
        add(
            name,
            Function::new(vec![Any], true, "[]interface {}", false, |a| {
                Ok(Arg::Value(Value::slice(a.iter().map(val))))
            }),
        );
    }
    let groups: [Group; 13] = [
        (
            &["append", "push"],
            &["mustAppend", "mustPush"],
            vec![Any, Any],
            false,
            "[]interface {}",
            push,
        ),
        (
            &["prepend"],
            &["mustPrepend"],
            vec![Any, Any],
            false,
            "[]interface {}",
            prepend,
        ),
        (
            &["first"],
            &["mustFirst"],
            vec![Any],
            false,
            "interface {}",
            first,
        ),
        (&["rest"], &["mustRest"], vec![Any], false, "[]interface {}", rest),
        (&["last"], &["mustLast"], vec![Any], false, "interface {}", last),
        (
            &["initial"],
            &["mustInitial"],
            vec![Any],
            false,
            "[]interface {}",
            initial,
        ),
        (
            &["reverse"],
            &["mustReverse"],
            vec![Any],
            false,
            "[]interface {}",
            reverse,
        ),
        (&["uniq"], &["mustUniq"], vec![Any], false, "[]interface {}", uniq),
        (
            &["without"],
            &["mustWithout"],
            vec![Any, Any],
            true,
            "[]interface {}",
            without,
        ),
        (&["has"], &["mustHas"], vec![Any, Any], false, "bool", has),
        (
            &["slice"],
            &["mustSlice"],
            vec![Any, Any],
            true,
            "interface {}",
            slice,
        ),
        (
            &["chunk"],
            &["mustChunk"],
            vec![Int, Any],
            false,
            "[][]interface {}",
            chunk,
        ),
        (&["concat"], &[], vec![Any], true, "interface {}", concat),
    ];
    for (plain, must, params, variadic, result, f) in groups {
        for (names, returns_error) in [(plain, false), (must, true)] {
            for name in names {
                add(
                    name,
                    Function::new(params.clone(), variadic, result, returns_error, f),
                );
            }
        }
    }
}

fn items(a: &Arg, what: &str) -> Result<Arc<Vec<Value>>, String> {
    list_items(&val(a), |k| format!("Cannot {what} {k}"))
}

fn list(v: impl IntoIterator<Item = Value>) -> FuncResult {
    Ok(Arg::Value(Value::slice(v)))
}

fn push(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "push on type")?;
    list(l.iter().cloned().chain([val(&a[1])]))
}

fn prepend(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "prepend on type")?;
    list([val(&a[1])].into_iter().chain(l.iter().cloned()))
}

fn first(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "find first on type")?;
    Ok(Arg::Interface(l.first().cloned().unwrap_or(Value::Nil)))
}

fn last(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "find last on type")?;
    Ok(Arg::Interface(l.last().cloned().unwrap_or(Value::Nil)))
}

fn rest(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "find rest on type")?;
    list(l.iter().skip(1).cloned())
}

fn initial(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "find initial on type")?;
    list(l.iter().take(l.len().saturating_sub(1)).cloned())
}

fn reverse(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "find reverse on type")?;
    list(l.iter().rev().cloned())
}

fn uniq(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "find uniq on type")?;
    let mut dest: Vec<Value> = Vec::new();
    for v in l.iter() {
        if !dest.iter().any(|d| deep_equal(v, d)) {
            dest.push(v.clone());
        }
    }
    list(dest)
}

fn without(a: &[Arg]) -> FuncResult {
    let l = items(&a[0], "find without on type")?;
    let omit: Vec<Value> = a[1..].iter().map(val).collect();
    list(
        l.iter()
            .filter(|v| !omit.iter().any(|o| deep_equal(v, o)))
            .cloned(),
    )
}

fn has(a: &[Arg]) -> FuncResult {
    let haystack = val(&a[1]);
    if let Value::Nil = haystack {
        return Ok(Arg::Value(Value::Bool(false)));
    }
    let l = list_items(&haystack, |k| format!("Cannot find has on type {k}"))?;
    let needle = val(&a[0]);
    Ok(Arg::Value(Value::Bool(l.iter().any(|v| deep_equal(&needle, v)))))
}

fn slice(a: &[Arg]) -> FuncResult {
    let l = list_items(&val(&a[0]), |k| {
        format!("list should be type of slice or array but {k}")
    })?;
    if l.is_empty() {
        return Ok(Arg::Interface(Value::Nil));
    }
    let start = a.get(1).map_or(0, |x| to_int(&val(x)));
    let end = a.get(2).map_or(l.len() as i64, |x| to_int(&val(x)));
    // reflect's Slice checks against the capacity, the length here
    if start < 0 || end < start || end > l.len() as i64 {
        return Err("reflect.Value.Slice: slice index out of bounds".into());
    }
    Ok(Arg::Interface(Value::slice(
        l[start as usize..end as usize].iter().cloned(),
    )))
}

fn concat(a: &[Arg]) -> FuncResult {
    let mut res = Vec::new();
    for x in a {
        match val(x) {
            Value::Slice(s) => res.extend(s.iter().cloned()),
            v => {
                return Err(match kind_name(&v) {
                    None => NIL_DEREF.into(),
                    Some(k) => format!("Cannot concat type {k} as list"),
                });
            }
        }
    }
    Ok(Arg::Interface(Value::slice(res)))
}

/// Go's float64 to int conversion on amd64 (the "integer indefinite" value when out of
/// range).
fn go_int(f: f64) -> i64 {
    super::cast::float_to_int(f)
}

const MAKESLICE: &str = "runtime error: makeslice: len out of range";

fn chunk(a: &[Arg]) -> FuncResult {
    let size = match val(&a[0]) {
        Value::Int(i) => i,
        _ => 0,
    };
    let l = items(&a[1], "chunk type")?;
    let n = l.len() as i64;
    // sprig counts the chunks in floats: floor((n-1)/size)+1
    let count = go_int(((n - 1) as f64 / size as f64).floor()).wrapping_add(1);
    if count < 0 {
        return Err(MAKESLICE.into());
    }
    let mut out = Vec::new();
    for i in 0..count {
        let mut clen = size;
        if i == count - 1 {
            clen = go_int((n as f64 % size as f64).floor());
            if clen == 0 {
                clen = size;
            }
        }
        if clen < 0 {
            return Err(MAKESLICE.into());
        }
        let mut c = Vec::new();
        for j in 0..clen {
            let ix = i.wrapping_mul(size).wrapping_add(j);
            match usize::try_from(ix).ok().and_then(|ix| l.get(ix)) {
                Some(v) => c.push(v.clone()),
                None => return Err("reflect: slice index out of range".into()),
            }
        }
        out.push(Value::slice(c));
    }
    Ok(Arg::Value(Value::slice(out)))
}

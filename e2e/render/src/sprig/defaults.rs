//! sprig's defaults functions: default, empty, coalesce, all, any, compact, mustCompact,
//! ternary, deepCopy, mustDeepCopy, fail.

use super::generic::{deep_copy, is_empty, list_items};
use super::util::val;
use crate::value::{Arg, FuncMap, Function, ParamType, Value};

use ParamType::{Any, Bool};

pub(super) fn register(m: &mut FuncMap) {
    let mut add = |name: &str, f: Function| {
        m.insert(name.to_string(), f);
    };
    add(
        "default",
        Function::new(vec![Any, Any], true, "interface {}", false, |a| {
            Ok(Arg::Interface(match a.get(1).map(val) {
                Some(given) if !is_empty(&given) => given,
                _ => val(&a[0]),
            }))
        }),
    );
    add(
        "empty",
        Function::new(vec![Any], false, "bool", false, |a| {
            Ok(Arg::Value(Value::Bool(is_empty(&val(&a[0])))))
        }),
    );
    add(
        "coalesce",
        Function::new(vec![Any], true, "interface {}", false, |a| {
            Ok(Arg::Interface(
                a.iter().map(val).find(|v| !is_empty(v)).unwrap_or(Value::Nil),
            ))
        }),
    );
    add(
        "all",
        Function::new(vec![Any], true, "bool", false, |a| {
            Ok(Arg::Value(Value::Bool(a.iter().all(|v| !is_empty(&val(v))))))
        }),
    );
    add(
        "any",
        Function::new(vec![Any], true, "bool", false, |a| {
            Ok(Arg::Value(Value::Bool(a.iter().any(|v| !is_empty(&val(v))))))
        }),
    );
    for (name, must) in [("compact", false), ("mustCompact", true)] {
        add(
            name,
            Function::new(vec![Any], false, "[]interface {}", must, |a| {
                let items = list_items(&val(&a[0]), |k| format!("Cannot compact on type {k}"))?;
                Ok(Arg::Value(Value::slice(
                    items.iter().filter(|v| !is_empty(v)).cloned(),
                )))
            }),
        );
    }
    add(
        "ternary",
        Function::new(vec![Any, Any, Bool], false, "interface {}", false, |a| {
            let t = matches!(val(&a[2]), Value::Bool(true));
            Ok(Arg::Interface(val(&a[if t { 0 } else { 1 }])))
        }),
    );
    for (name, must) in [("deepCopy", false), ("mustDeepCopy", true)] {
        add(
            name,
            Function::new(vec![Any], false, "interface {}", must, |a| match val(&a[0]) {
                // copystructure asks the nil interface for its type
                Value::Nil => Err("reflect: call of reflect.Value.Type on zero Value".into()),
                v => Ok(Arg::Interface(deep_copy(&v))),
            }),
        );
    }
    add(
        "fail",
        Function::new(vec![ParamType::String], false, "string", true, |a| {
            Err(val(&a[0]).as_str().unwrap_or("").to_string())
        }),
    );
}

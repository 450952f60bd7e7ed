//! sprig's conv functions: toString, atoi, int64, int, float64, toDecimal, seq, until,
//! untilStep.

use super::cast;
use super::util::{strval, val};
use crate::gofmt;
use crate::value::{Arg, FuncMap, Function, ParamType, Value};

use ParamType::{Any, Int};

/// The most elements `until`, `untilStep` and `seq` build: Go would go on until memory
/// runs out; a template asking for more is broken either way.
const MAX_RANGE: usize = 1 << 20;

pub(super) fn register(m: &mut FuncMap) {
    let mut add = |name: &str, f: Function| {
        m.insert(name.to_string(), f);
    };
    add(
        "toString",
        Function::new(vec![Any], false, "string", false, |a| {
            Ok(Arg::Value(Value::String(strval(&val(&a[0])))))
        }),
    );
    add(
        "atoi",
        Function::new(vec![ParamType::String], false, "int", false, |a| {
            let s = val(&a[0]);
            Ok(Arg::Value(Value::Int(cast::atoi(s.as_str().unwrap_or("")))))
        }),
    );
    add(
        "int64",
        Function::new(vec![Any], false, "int64", false, |a| {
            Ok(Arg::Value(Value::Int64(cast::to_int64(&val(&a[0])))))
        }),
    );
    add(
        "int",
        Function::new(vec![Any], false, "int", false, |a| {
            Ok(Arg::Value(Value::Int(cast::to_int(&val(&a[0])))))
        }),
    );
    add(
        "float64",
        Function::new(vec![Any], false, "float64", false, |a| {
            Ok(Arg::Value(Value::Float(cast::to_float64(&val(&a[0])))))
        }),
    );
    add(
        "toDecimal",
        Function::new(vec![Any], false, "int64", false, |a| {
            // the value as fmt's %v, read as an octal number; 0 when it is not one
            let text = gofmt::sprint(&[val(&a[0])]);
            Ok(Arg::Value(Value::Int64(cast::parse_int(&text, 8).unwrap_or(0))))
        }),
    );
    add(
        "seq",
        Function::new(vec![Int], true, "string", false, |a| {
            let p: Vec<i64> = a.iter().map(|x| int_of(&val(x))).collect();
            Ok(Arg::Value(Value::String(seq(&p)?)))
        }),
    );
    add(
        "until",
        Function::new(vec![Int], false, "[]int", false, |a| {
            let n = int_of(&val(&a[0]));
            let step = if n < 0 { -1 } else { 1 };
            Ok(ints(until_step(0, n, step)?))
        }),
    );
    add(
        "untilStep",
        Function::new(vec![Int, Int, Int], false, "[]int", false, |a| {
            let p: Vec<i64> = a.iter().map(|x| int_of(&val(x))).collect();
            Ok(ints(until_step(p[0], p[1], p[2])?))
        }),
    );
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

fn ints(v: Vec<i64>) -> Arg {
    Arg::Value(Value::slice(v.into_iter().map(Value::Int)))
}

/// sprig's untilStep: from start towards stop (excluded) by step; empty when step does
/// not lead there.
pub(crate) fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let mut v = Vec::new();
    let more = |i: i64| if stop < start { i > stop } else { i < stop };
    if (stop < start && step >= 0) || (stop >= start && step <= 0) {
        return Ok(v);
    }
    let mut i = start;
    while more(i) {
        if v.len() >= MAX_RANGE {
            return Err(format!("more than {MAX_RANGE} elements"));
        }
        v.push(i);
        // Go's int would wrap past the end and go on; the range is over
        match i.checked_add(step) {
            Some(n) => i = n,
            None => break,
        }
    }
    Ok(v)
}

/// sprig's seq, as the numbers joined by spaces.
fn seq(p: &[i64]) -> Result<String, String> {
    let list = match *p {
        [end] => {
            let inc = if end < 1 { -1 } else { 1 };
            until_step(1, end.wrapping_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(start, end.wrapping_add(step), step)?
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if step > 0 {
                    return Ok(String::new());
                }
            }
            until_step(start, end.wrapping_add(inc), step)?
        }
        _ => return Ok(String::new()),
    };
    Ok(list.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
}

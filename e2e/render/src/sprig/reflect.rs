//! sprig's reflection functions: typeOf, typeIs, typeIsLike, kindOf, kindIs, deepEqual.

use crate::value::{FuncMap, ParamType, Value};

use super::strings::{add, ok_b, ok_s, sarg};

use ParamType::{Any, String as Str};

/// Go's reflect Kind name of the value's dynamic type.
pub(crate) fn kind_of(v: &Value) -> String {
    match v {
        Value::Nil => "invalid".into(),
        Value::Bool(_) => "bool".into(),
        Value::Int(_) => "int".into(),
        Value::Int64(_) => "int64".into(),
        Value::Uint8(_) => "uint8".into(),
        Value::Float(_) => "float64".into(),
        Value::String(_) => "string".into(),
        Value::Slice(_) => "slice".into(),
        Value::Map(_) => "map".into(),
        Value::Func(_) => "func".into(),
        Value::Object(o) => {
            if o.type_name().starts_with('*') {
                "ptr".into()
            } else {
                "struct".into()
            }
        }
    }
}

/// Go's reflect.DeepEqual on template values.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Slice(x), Value::Slice(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.ptr_eq(y) {
                return true;
            }
            let (x, y) = (x.entries(), y.entries());
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2))
        }
        // funcs are deeply equal only when both are nil
        (Value::Func(_), _) | (_, Value::Func(_)) => false,
        (a, b) => a == b,
    }
}

pub(super) fn register(m: &mut FuncMap) {
    add(m, "typeOf", vec![Any], false, "string", false, |a| {
        ok_s(a[0].value().type_name())
    });
    add(m, "typeIs", vec![Str, Any], false, "bool", false, |a| {
        ok_b(sarg(a, 0) == a[1].value().type_name())
    });
    add(m, "typeIsLike", vec![Str, Any], false, "bool", false, |a| {
        let (t, s) = (sarg(a, 0), a[1].value().type_name());
        ok_b(t == s || format!("*{t}") == s)
    });
    add(m, "kindOf", vec![Any], false, "string", false, |a| {
        ok_s(kind_of(&a[0].value()))
    });
    add(m, "kindIs", vec![Str, Any], false, "bool", false, |a| {
        ok_b(sarg(a, 0) == kind_of(&a[1].value()))
    });
    add(m, "deepEqual", vec![Any, Any], false, "bool", false, |a| {
        ok_b(deep_equal(&a[0].value(), &a[1].value()))
    });
}

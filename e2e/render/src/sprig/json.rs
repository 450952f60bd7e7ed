//! sprig's json functions: toJson, toPrettyJson, toRawJson, fromJson and their must*
//! variants (Helm's engine replaces toJson and fromJson with its own, see
//! [`crate::helmdata`]).

use crate::FuncMap;
use crate::gojson;
use crate::value::{Arg, Function, ParamType};

use super::util::val;

fn string_fn(m: &mut FuncMap, name: &str, must: bool, enc: fn(&crate::Value) -> Result<String, String>) {
    let f = if must {
        Function::new(vec![ParamType::Any], false, "string", true, move |a: &[Arg]| {
            let v = a.first().map(val).unwrap_or(crate::Value::Nil);
            enc(&v).map(|s| Arg::Value(s.into()))
        })
    } else {
        Function::new(
            vec![ParamType::Any],
            false,
            "string",
            false,
            move |a: &[Arg]| {
                let v = a.first().map(val).unwrap_or(crate::Value::Nil);
                Ok(Arg::Value(enc(&v).unwrap_or_default().into()))
            },
        )
    };
    m.insert(name.to_string(), f);
}

fn pretty(v: &crate::Value) -> Result<String, String> {
    gojson::marshal_indent(v, "", "  ")
}

pub(super) fn register(m: &mut FuncMap) {
    string_fn(m, "toJson", false, gojson::marshal);
    string_fn(m, "mustToJson", true, gojson::marshal);
    string_fn(m, "toPrettyJson", false, pretty);
    string_fn(m, "mustToPrettyJson", true, pretty);
    string_fn(m, "mustToRawJson", true, gojson::marshal_no_html_escape);
    // toRawJson panics on an encoding error; text/template reports the panic as the
    // function's error
    m.insert(
        "toRawJson".into(),
        Function::new(vec![ParamType::Any], false, "string", false, |a: &[Arg]| {
            let v = a.first().map(val).unwrap_or(crate::Value::Nil);
            gojson::marshal_no_html_escape(&v).map(|s| Arg::Value(s.into()))
        }),
    );
    m.insert(
        "fromJson".into(),
        Function::new(
            vec![ParamType::String],
            false,
            "interface {}",
            false,
            |a: &[Arg]| {
                let s = a.first().map(val).unwrap_or(crate::Value::Nil);
                let s = s.as_str().unwrap_or_default();
                let v = match gojson::unmarshal_into(s, gojson::Target::Any) {
                    Ok(v) | Err((v, _)) => v,
                };
                Ok(Arg::Value(v))
            },
        ),
    );
    m.insert(
        "mustFromJson".into(),
        Function::new(
            vec![ParamType::String],
            false,
            "interface {}",
            true,
            |a: &[Arg]| {
                let s = a.first().map(val).unwrap_or(crate::Value::Nil);
                gojson::unmarshal(s.as_str().unwrap_or_default()).map(Arg::Value)
            },
        ),
    );
}

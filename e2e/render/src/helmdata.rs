//! Helm 3.17's data functions (pkg/engine/funcs.go): toToml, fromToml, toYaml,
//! toYamlPretty, fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray. Registered after
//! sprig's, they replace sprig's toJson and fromJson. Like Helm's, they never fail: an
//! encoding error gives "" (toToml: the error text), a decoding error lands in the
//! result (`Error` key, or the only element of the list).

use crate::gojson::{self, Target};
use crate::value::{Arg, Function, ParamType, Value};
use crate::{FuncMap, gotoml, goyaml};

fn arg(a: &[Arg]) -> Value {
    a.first().map(Arg::value).unwrap_or(Value::Nil)
}

fn encoder(m: &mut FuncMap, name: &str, f: fn(&Value) -> String) {
    m.insert(
        name.to_string(),
        Function::new(
            vec![ParamType::Any],
            false,
            "string",
            false,
            move |a: &[Arg]| Ok(Arg::Value(Value::String(f(&arg(a))))),
        ),
    );
}

/// A decoder into `map[string]interface {}` putting its error under "Error".
fn map_decoder(m: &mut FuncMap, name: &str, f: fn(&str) -> Result<Value, (Value, String)>) {
    m.insert(
        name.to_string(),
        Function::new(
            vec![ParamType::String],
            false,
            "map[string]interface {}",
            false,
            move |a: &[Arg]| {
                let s = arg(a);
                let v = match f(s.as_str().unwrap_or_default()) {
                    Ok(v) => v,
                    Err((v, e)) => {
                        let m = match v {
                            Value::Map(m) => m,
                            _ => crate::GoMap::default(),
                        };
                        m.insert("Error", Value::String(e));
                        Value::Map(m)
                    }
                };
                Ok(Arg::Value(v))
            },
        ),
    );
}

/// A decoder into `[]interface {}` whose error becomes the only element.
fn slice_decoder(m: &mut FuncMap, name: &str, f: fn(&str) -> Result<Value, (Value, String)>) {
    m.insert(
        name.to_string(),
        Function::new(
            vec![ParamType::String],
            false,
            "[]interface {}",
            false,
            move |a: &[Arg]| {
                let s = arg(a);
                let v = match f(s.as_str().unwrap_or_default()) {
                    Ok(v) => v,
                    Err((_, e)) => Value::slice([Value::String(e)]),
                };
                Ok(Arg::Value(v))
            },
        ),
    );
}

/// Helm's `toYAML`: sigs.k8s.io/yaml without the final newline; "" when it cannot
/// marshal.
pub fn to_yaml(v: &Value) -> String {
    match goyaml::marshal(v) {
        Ok(s) => s.strip_suffix('\n').map(str::to_string).unwrap_or(s),
        Err(_) => String::new(),
    }
}

/// Argo CD's ApplicationSet `toYaml`, `fromYaml` and `fromYamlArray`
/// (applicationset/utils/template_functions.go, v3.2.0): as Helm's, but their errors fail
/// the template instead of being swallowed or put into an `Error` key.
pub fn argocd_yaml_funcs() -> FuncMap {
    let mut m = FuncMap::new();
    m.insert(
        "toYaml".into(),
        Function::new(vec![ParamType::Any], false, "string", true, |a: &[Arg]| {
            let s = goyaml::marshal(&arg(a))?;
            Ok(Arg::Value(Value::String(
                s.strip_suffix('\n').map(str::to_string).unwrap_or(s),
            )))
        }),
    );
    m.insert(
        "fromYaml".into(),
        Function::new(
            vec![ParamType::String],
            false,
            "map[string]interface {}",
            true,
            |a: &[Arg]| {
                let text = arg(a);
                goyaml::unmarshal_into(text.as_str().unwrap_or_default(), Target::Map)
                    .map(Arg::Value)
                    .map_err(|(_, e)| e)
            },
        ),
    );
    m.insert(
        "fromYamlArray".into(),
        Function::new(
            vec![ParamType::String],
            false,
            "[]interface {}",
            true,
            |a: &[Arg]| {
                let text = arg(a);
                goyaml::unmarshal_into(text.as_str().unwrap_or_default(), Target::Slice)
                    .map(Arg::Value)
                    .map_err(|(_, e)| e)
            },
        ),
    );
    m
}

/// Helm's data functions, to register after [`crate::sprig::funcs`].
pub fn helm_data_funcs() -> FuncMap {
    let mut m = FuncMap::new();
    encoder(&mut m, "toYaml", to_yaml);
    // yaml.v3 panics on a function value (text/template reports the panic as an error)
    m.insert(
        "toYamlPretty".into(),
        Function::new(vec![ParamType::Any], false, "string", false, |a: &[Arg]| {
            let s = goyaml::marshal_pretty(&arg(a))?;
            Ok(Arg::Value(Value::String(
                s.strip_suffix('\n').map(str::to_string).unwrap_or(s),
            )))
        }),
    );
    encoder(&mut m, "toJson", |v| gojson::marshal(v).unwrap_or_default());
    // the encoder's own errors come back as the text; a nil value makes it panic (on
    // reflect's zero Value), which text/template reports as the call's error
    m.insert(
        "toToml".into(),
        Function::new(vec![ParamType::Any], false, "string", false, |a: &[Arg]| {
            let v = arg(a);
            if matches!(v, Value::Nil) {
                return Err("reflect: call of reflect.Value.Type on zero Value".into());
            }
            Ok(Arg::Value(Value::String(
                gotoml::marshal(&v).unwrap_or_else(|e| e),
            )))
        }),
    );
    map_decoder(&mut m, "fromYaml", |s| goyaml::unmarshal_into(s, Target::Map));
    slice_decoder(&mut m, "fromYamlArray", |s| {
        goyaml::unmarshal_into(s, Target::Slice)
    });
    map_decoder(&mut m, "fromJson", |s| gojson::unmarshal_into(s, Target::Map));
    slice_decoder(&mut m, "fromJsonArray", |s| {
        gojson::unmarshal_into(s, Target::Slice)
    });
    map_decoder(&mut m, "fromToml", gotoml::unmarshal_into_map);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Template};

    fn exec(src: &str, data: serde_json::Value) -> String {
        let mut t = Template::new("t")
            .funcs(crate::sprig::funcs())
            .funcs(helm_data_funcs());
        t.add_parse("t", src).unwrap();
        t.execute(&Value::from(data), &Options::default()).unwrap()
    }

    #[test]
    fn registers_helms_data_functions() {
        let m = helm_data_funcs();
        for f in [
            "toToml",
            "fromToml",
            "toYaml",
            "toYamlPretty",
            "fromYaml",
            "fromYamlArray",
            "toJson",
            "fromJson",
            "fromJsonArray",
        ] {
            assert!(m.contains_key(f), "{f}");
        }
    }

    #[test]
    fn values_round_trip() {
        let doc =
            "replicaCount: 2\nimage:\n  repository: nginx\n  tag: \"1.25\"\nports: [80, 443]\nenabled: yes\n";
        assert_eq!(
            exec("{{fromYaml .d | toJson}}", serde_json::json!({"d": doc})),
            r#"{"enabled":true,"image":{"repository":"nginx","tag":"1.25"},"ports":[80,443],"replicaCount":2}"#
        );
        assert_eq!(
            exec("{{fromYaml .d | toYaml}}", serde_json::json!({"d": doc})),
            "enabled: true\nimage:\n  repository: nginx\n  tag: \"1.25\"\nports:\n- 80\n- 443\nreplicaCount: 2"
        );
        assert_eq!(
            exec("{{(fromJson .d).Error}}", serde_json::json!({"d": "{"})),
            "unexpected end of JSON input"
        );
        assert_eq!(
            exec("{{fromYamlArray .d}}", serde_json::json!({"d": "a: 1"})),
            "[error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []interface {}]"
        );
        assert_eq!(
            exec("{{toToml .}}", serde_json::json!({"a": {"b": 1}})),
            "[a]\n  b = 1.0\n"
        );
    }
}

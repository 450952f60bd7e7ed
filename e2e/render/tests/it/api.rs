//! The API around the engine: template sets built from several files, ExecuteTemplate,
//! FuncMap overrides. Expected texts are Go 1.19's for the same calls.

use hubspoke_render::{Arg, FuncMap, Function, Options, ParamType, Template, Value};

fn opts() -> Options {
    Options::default()
}

#[test]
fn files_share_definitions_and_the_last_definition_wins() {
    let mut t = Template::parse(
        "a.yaml",
        r#"A{{template "helper" .}}{{define "helper"}}h1{{end}}"#,
    )
    .unwrap();
    t.add_parse(
        "b.yaml",
        r#"B{{template "helper" .}}{{define "helper"}}h2{{end}}"#,
    )
    .unwrap();
    assert_eq!(t.execute(&Value::Nil, &opts()).unwrap(), "Ah2");
    assert_eq!(t.execute_template("b.yaml", &Value::Nil, &opts()).unwrap(), "Bh2");
    // an empty redefinition does not replace a template
    t.add_parse("c.yaml", r#"{{define "helper"}}{{end}}C"#).unwrap();
    assert_eq!(t.execute(&Value::Nil, &opts()).unwrap(), "Ah2");
    assert_eq!(t.execute_template("helper", &Value::Nil, &opts()).unwrap(), "h2");
    let names: Vec<&str> = t.template_names().collect();
    assert_eq!(names, ["a.yaml", "b.yaml", "c.yaml", "helper"]);
}

#[test]
fn unknown_and_empty_templates_are_errors_with_gos_texts() {
    let t = Template::parse("a.yaml", "x").unwrap();
    let e = t.execute_template("nope", &Value::Nil, &opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"template: no template "nope" associated with template "a.yaml""#
    );
    let empty = Template::new("e");
    assert_eq!(
        empty.execute(&Value::Nil, &opts()).unwrap_err().to_string(),
        r#"template: e: "e" is an incomplete or empty template"#
    );
    assert_eq!(
        empty
            .execute_template("e", &Value::Nil, &opts())
            .unwrap_err()
            .to_string(),
        r#"template: no template "e" associated with template "e""#
    );
}

#[test]
fn errors_in_a_defined_template_name_it_and_its_file() {
    let t = Template::parse("f", r#"{{define "g"}}{{.x.y}}{{end}}{{template "g" .}}"#).unwrap();
    let data = Value::from(serde_json::json!({"x": "s"}));
    let e = t.execute_template("g", &data, &opts()).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"template: f:1:18: executing "g" at <.x.y>: can't evaluate field y in type interface {}"#
    );
}

#[test]
fn a_funcmap_entry_overrides_a_builtin() {
    let mut funcs = FuncMap::new();
    funcs.insert(
        "len".into(),
        Function::new(vec![ParamType::String], false, "string", false, |a| {
            Ok(Arg::Value(Value::String(format!(
                "L{}",
                a[0].value().as_str().unwrap_or("")
            ))))
        }),
    );
    let mut t = Template::new("x").funcs(funcs);
    t.add_parse("x", r#"{{len "ab"}}"#).unwrap();
    assert_eq!(t.execute(&Value::Nil, &opts()).unwrap(), "Lab");
}

#[test]
fn functions_must_be_added_before_parsing() {
    let e = Template::parse("x", "{{shout .}}").unwrap_err();
    assert_eq!(e.to_string(), r#"template: x:1: function "shout" not defined"#);
}

#[test]
fn templates_and_values_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Template>();
    send_sync::<Value>();
    let t = std::sync::Arc::new(Template::parse("t", "{{.}}").unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || t.execute(&Value::Int(i), &Options::default()).unwrap())
        })
        .collect();
    let outs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outs, ["0", "1", "2", "3"]);
}

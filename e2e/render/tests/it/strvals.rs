//! Helm's `--set` parsers (pkg/strvals, Helm 3.17) and Argo CD's Helm parameters.
//!
//! The cases of Helm's parser_test.go are here as facts (input, expected map or error),
//! plus cases worked out from the parser's source (the exact error texts, the quirks of
//! its list and key handling). Once, during development, the five parsers were also run
//! side by side with Helm 3.17's own strvals (built with Go 1.19) over 60000 random lines:
//! maps and error texts were identical.

use std::collections::BTreeMap;

use hubspoke_render::strvals::{self, ArgoHelmFileParameter, ArgoHelmParameter, SetOptions};
use hubspoke_render::{GoMap, Value};
use serde_json::json;

/// A value from JSON with `--set`'s types: integers are int64.
fn typed(j: serde_json::Value) -> Value {
    match j {
        serde_json::Value::Number(n) if n.is_i64() => Value::Int64(n.as_i64().unwrap()),
        serde_json::Value::Array(a) => Value::slice(a.into_iter().map(typed)),
        serde_json::Value::Object(o) => Value::map(o.into_iter().map(|(k, v)| (k, typed(v)))),
        other => Value::from(other),
    }
}

fn gomap(v: Value) -> GoMap {
    match v {
        Value::Map(m) => m,
        _ => panic!("not a map"),
    }
}

#[track_caller]
fn set_ok(s: &str, want: serde_json::Value) {
    let got = strvals::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(got, gomap(typed(want)), "{s}");
}

#[track_caller]
fn set_err(s: &str, want: &str) {
    assert_eq!(strvals::parse(s).unwrap_err(), want, "{s}");
}

#[test]
fn helm_parse_set_cases() {
    set_ok(
        "name1=null,f=false,t=true",
        json!({"name1": null, "f": false, "t": true}),
    );
    set_ok("name1=value1", json!({"name1": "value1"}));
    set_ok(
        "name1=value1,name2=value2",
        json!({"name1": "value1", "name2": "value2"}),
    );
    set_ok(
        "name1=value1,name2=value2,",
        json!({"name1": "value1", "name2": "value2"}),
    );
    set_ok("name1=,name2=value2", json!({"name1": "", "name2": "value2"}));
    set_ok("leading_zeros=00009", json!({"leading_zeros": "00009"}));
    set_ok("zero_int=0", json!({"zero_int": 0}));
    set_ok("long_int=1234567890", json!({"long_int": 1234567890}));
    set_ok("boolean=true", json!({"boolean": true}));
    set_ok("is_null=null", json!({"is_null": null}));
    set_ok(
        "name1=one\\,two,name2=three\\,four",
        json!({"name1": "one,two", "name2": "three,four"}),
    );
    set_ok(
        "name1=one\\=two,name2=three\\=four",
        json!({"name1": "one=two", "name2": "three=four"}),
    );
    set_ok(
        "name1=one two three,name2=three two one",
        json!({"name1": "one two three", "name2": "three two one"}),
    );
    set_ok("outer.inner=value", json!({"outer": {"inner": "value"}}));
    set_ok(
        "outer.middle.inner=value",
        json!({"outer": {"middle": {"inner": "value"}}}),
    );
    set_ok(
        "outer.inner1=value,outer.inner2=value2",
        json!({"outer": {"inner1": "value", "inner2": "value2"}}),
    );
    set_ok(
        "outer.inner1=value,outer.middle.inner=value",
        json!({"outer": {"inner1": "value", "middle": {"inner": "value"}}}),
    );
    set_ok("name1.name2=", json!({"name1": {"name2": ""}}));
    set_ok("name1={value1,value2}", json!({"name1": ["value1", "value2"]}));
    set_ok(
        "name1={value1,value2},name2={value1,value2}",
        json!({"name1": ["value1", "value2"], "name2": ["value1", "value2"]}),
    );
    set_ok("name1={1021,902}", json!({"name1": [1021, 902]}));
    set_ok(
        "name1.name2={value1,value2}",
        json!({"name1": {"name2": ["value1", "value2"]}}),
    );
    set_ok("list[0]=foo", json!({"list": ["foo"]}));
    set_ok("list[0].foo=bar", json!({"list": [{"foo": "bar"}]}));
    set_ok(
        "list[0].foo=bar,list[0].hello=world",
        json!({"list": [{"foo": "bar", "hello": "world"}]}),
    );
    set_ok("list[0]=foo,list[1]=bar", json!({"list": ["foo", "bar"]}));
    set_ok("list[0]=foo,list[1]=bar,", json!({"list": ["foo", "bar"]}));
    set_ok(
        "list[0]=foo,list[3]=bar",
        json!({"list": ["foo", null, null, "bar"]}),
    );
    set_ok("noval[0]", json!({"noval": []}));
    set_ok("noval[0]=", json!({"noval": [""]}));
    set_ok("nested[0][0]=1", json!({"nested": [[1]]}));
    set_ok("nested[1][1]=1", json!({"nested": [null, [null, 1]]}));
    set_ok(
        "name1.name2[0].foo=bar,name1.name2[1].foo=bar",
        json!({"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}}),
    );
    set_ok(
        "name1.name2[1].foo=bar,name1.name2[0].foo=bar",
        json!({"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}}),
    );
    set_ok(
        "name1.name2[1].foo=bar",
        json!({"name1": {"name2": [null, {"foo": "bar"}]}}),
    );
}

#[test]
fn helm_parse_set_errors() {
    // the texts come from the parser's source; parser_test.go only checks that they fail
    set_err(
        "name1=value1,,,,name2=value2,",
        r#"key "" has no value (cannot end with ,)"#,
    );
    set_err("name1,name2=", r#"key "name1" has no value (cannot end with ,)"#);
    set_err(
        "name1,name2=value2",
        r#"key "name1" has no value (cannot end with ,)"#,
    );
    set_err(
        "name1,name2=value2\\",
        r#"key "name1" has no value (cannot end with ,)"#,
    );
    set_err("name1,name2", r#"key "name1" has no value (cannot end with ,)"#);
    set_err("name1.name2", r#"key "name2" has no value"#);
    set_err(
        "name1.name2,name1.name3",
        r#"key "name2" has no value (cannot end with ,)"#,
    );
    set_err("name1.=name2", r#"key map "name1" has no value"#);
    set_err("name1.,name2", r#"key "" has no value (cannot end with ,)"#);
    set_err("name1={1021,902", "list must terminate with '}'");
    set_err(
        "list[0].foo=bar,list[-30].hello=world",
        "negative -30 index not allowed",
    );
    set_err("list[0]=foo,list[-20]=bar", "negative -20 index not allowed");
    set_err(
        "illegal[0]name.foo=bar",
        "unexpected data at end of array index: ['n' 'a' 'm' 'e']",
    );
    // `]` gets a list, then `].` wants it to be a map: a recovered type assertion panic
    set_err(
        "]={}].",
        "unable to parse key: interface conversion: interface {} is []interface {}, not map[string]interface {}",
    );
}

#[test]
fn helm_nested_name_levels() {
    set_ok(
        "outer.middle.inner=value",
        json!({"outer": {"middle": {"inner": "value"}}}),
    );
    // 31 dots: one level too deep
    let mut key = String::new();
    for i in 1..=32 {
        key.push_str(&format!("name{i}"));
        if i <= 31 {
            key.push('.');
        }
    }
    set_err(
        &format!("{key}=value"),
        "value name nested level is greater than maximum supported nested level of 30",
    );
    // 30 dots is the limit, still accepted
    let key: Vec<String> = (1..=31).map(|i| format!("n{i}")).collect();
    let got = strvals::parse(&format!("{}=v", key.join("."))).unwrap();
    assert!(got.contains_key("n1"));
}

#[test]
fn helm_parse_string_cases() {
    let p = |s: &str| strvals::parse_string(s).unwrap();
    assert_eq!(
        p("long_int_string=1234567890"),
        gomap(typed(json!({"long_int_string": "1234567890"})))
    );
    assert_eq!(p("boolean=true"), gomap(typed(json!({"boolean": "true"}))));
    assert_eq!(p("is_null=null"), gomap(typed(json!({"is_null": "null"}))));
    assert_eq!(p("zero=0"), gomap(typed(json!({"zero": "0"}))));
    assert_eq!(p("a={1,true}"), gomap(typed(json!({"a": ["1", "true"]}))));
    // into an existing map
    let got = gomap(typed(
        json!({"outer": {"inner1": "overwrite", "inner2": "value2"}}),
    ));
    strvals::parse_into_string("outer.inner1=1,outer.inner3=3", &got).unwrap();
    assert_eq!(
        got,
        gomap(typed(
            json!({"outer": {"inner1": "1", "inner2": "value2", "inner3": "3"}})
        ))
    );
}

#[test]
fn helm_parse_into_cases() {
    let got = gomap(typed(
        json!({"outer": {"inner1": "overwrite", "inner2": "value2"}}),
    ));
    strvals::parse_into("outer.inner1=value1,outer.inner3=value3,outer.inner4=4", &got).unwrap();
    assert_eq!(
        got,
        gomap(typed(json!({"outer": {
            "inner1": "value1", "inner2": "value2", "inner3": "value3", "inner4": 4
        }})))
    );

    let got = GoMap::default();
    strvals::parse_into("listOuter[0][0].type=listValue", &got).unwrap();
    strvals::parse_into("listOuter[0][0].status=alive", &got).unwrap();
    assert_eq!(
        got,
        gomap(typed(
            json!({"listOuter": [[{"type": "listValue", "status": "alive"}]]})
        ))
    );

    let got = GoMap::default();
    strvals::parse_into("listOuter[0][0].type=listValue", &got).unwrap();
    strvals::parse_into("listOuter[1][0].status=alive", &got).unwrap();
    assert_eq!(
        got,
        gomap(typed(
            json!({"listOuter": [[{"type": "listValue"}], [{"status": "alive"}]]})
        ))
    );

    let got = gomap(typed(json!({"listOuter": [[[{"exited": "old"}]]]})));
    strvals::parse_into("listOuter[0][1][0].type=listValue", &got).unwrap();
    strvals::parse_into("listOuter[0][0][1].status=alive", &got).unwrap();
    assert_eq!(
        got,
        gomap(typed(json!({"listOuter": [[
            [{"exited": "old"}, {"status": "alive"}],
            [{"type": "listValue"}]
        ]]})))
    );
}

#[test]
fn set_index_growth_and_limits() {
    // Helm's TestSetIndex, through the parser: shorter, equal and longer lists
    let got = gomap(typed(json!({"l": [0, 1]})));
    strvals::parse_into("l[2]=2", &got).unwrap();
    assert_eq!(got, gomap(typed(json!({"l": [0, 1, 2]}))));
    let got = gomap(typed(json!({"l": [0, 1]})));
    strvals::parse_into("l[1]=2", &got).unwrap();
    assert_eq!(got, gomap(typed(json!({"l": [0, 2]}))));
    let got = gomap(typed(json!({"l": [0, 1, 2, 3, 4, 5]})));
    strvals::parse_into("l[3]=4", &got).unwrap();
    assert_eq!(got, gomap(typed(json!({"l": [0, 1, 2, 4, 4, 5]}))));
    set_err("l[-1]=4", "negative -1 index not allowed");
    set_err(
        "l[65537]=4",
        "index of 65537 is greater than maximum supported index of 65536",
    );
    let got = strvals::parse("l[65536]=x").unwrap();
    match got.get("l") {
        Some(Value::Slice(l)) => assert_eq!(l.len(), 65537),
        other => panic!("{other:?}"),
    }
    // the limit is checked when the value is stored, after the rest is parsed
    set_err(
        "l[70000].a=b",
        "index of 70000 is greater than maximum supported index of 65536",
    );
}

#[test]
fn index_errors() {
    set_err(
        "a[x]=1",
        r#"error parsing index: strconv.Atoi: parsing "x": invalid syntax"#,
    );
    set_err(
        "a[]=1",
        r#"error parsing index: strconv.Atoi: parsing "": invalid syntax"#,
    );
    set_err("a[1", "error parsing index: EOF");
    set_err(
        "a[99999999999999999999]=1",
        r#"error parsing index: strconv.Atoi: parsing "99999999999999999999": value out of range"#,
    );
    set_err(
        "a[0][y]=1",
        r#"error parsing index: strconv.Atoi: parsing "y": invalid syntax"#,
    );
    set_err("a[0]x=1", "unexpected data at end of array index: ['x']");
    set_err("a[0]\"=1", "unexpected data at end of array index: ['\"']");
    set_ok("a[+1]=x", json!({"a": [null, "x"]}));
}

#[test]
fn typed_values() {
    set_ok("a=TRUE,b=False,c=NuLL", json!({"a": true, "b": false, "c": null}));
    // strings.EqualFold: the long s folds to s
    set_ok("a=falſe", json!({"a": false}));
    set_ok("a=-5,b=+5,c=-0", json!({"a": -5, "b": 5, "c": 0}));
    set_ok(
        "a=007,b=0.5,c=1.5,d=1e3",
        json!({"a": "007", "b": "0.5", "c": "1.5", "d": "1e3"}),
    );
    set_ok("a=9223372036854775807", json!({"a": 9223372036854775807i64}));
    set_ok("a=9223372036854775808", json!({"a": "9223372036854775808"}));
    set_ok("a=1_000,b=0x10", json!({"a": "1_000", "b": "0x10"}));
    set_ok("a=yes,b=~", json!({"a": "yes", "b": "~"}));
    set_ok("a= 1", json!({"a": " 1"}));
}

#[test]
fn escapes_and_lists() {
    set_ok("a\\.b=c", json!({"a.b": "c"}));
    set_ok("a\\[0\\]=c", json!({"a[0]": "c"}));
    set_ok("a=b\\\\c", json!({"a": "b\\c"}));
    set_ok("a=b\\", json!({"a": "b"}));
    set_ok("a=b=c", json!({"a": "b=c"}));
    set_ok("a={}", json!({"a": [""]}));
    set_ok("a={x\\,y,z}", json!({"a": ["x,y", "z"]}));
    set_ok("a={x\\}}", json!({"a": ["x}"]}));
    // after `}` the parser goes on with the next key, comma or not
    set_ok("a={x}b=1", json!({"a": ["x"], "b": 1}));
    set_ok("a={x},b=1", json!({"a": ["x"], "b": 1}));
    set_ok("a=x{y}", json!({"a": "x{y}"}));
    set_ok("a[0]={1,2}", json!({"a": [[1, 2]]}));
    set_ok("a=", json!({"a": ""}));
    set_ok("", json!({}));
    // an empty key is never set, even when it holds a nested map
    set_ok(".a=1", json!({}));
    set_err("a", r#"key "a" has no value"#);
    set_err("a=1,b", r#"key "b" has no value"#);
    set_err("é", r#"key "é" has no value"#);
}

#[test]
fn list_quirks() {
    // an index with nothing after it leaves the list as it was (created empty)
    set_ok("a[0]", json!({"a": []}));
    set_ok("a[0].b=", json!({"a": []}));
    set_ok("a[0].b=,c=1", json!({"a": [{"b": ""}], "c": 1}));
    // an element that is not a map becomes one
    set_ok("a[0]=x,a[0].b=c", json!({"a": [{"b": "c"}]}));
    set_ok("a[1].b=c,a[0]=x", json!({"a": ["x", {"b": "c"}]}));
    set_ok("a[0][1]=x,a[0][0]=y", json!({"a": [["y", "x"]]}));
}

#[test]
fn type_conflicts_are_recovered_panics() {
    let conv = |have: &str, want: &str| {
        format!("unable to parse key: interface conversion: interface {{}} is {have}, not {want}")
    };
    set_err("a=1,a.b=2", &conv("int64", "map[string]interface {}"));
    set_err("a=x,a.b=2", &conv("string", "map[string]interface {}"));
    set_err("a=null,a.b=2", &conv("nil", "map[string]interface {}"));
    set_err("a=true,a[0]=2", &conv("bool", "[]interface {}"));
    set_err("a.b=1,a[0]=2", &conv("map[string]interface {}", "[]interface {}"));
    set_err("a[0]=1,a[0][0]=2", &conv("int64", "[]interface {}"));
    set_err(
        "a[0].b=1,a[0][0]=2",
        &conv("map[string]interface {}", "[]interface {}"),
    );
    // a float64 from a values file
    let got = gomap(Value::from(json!({"a": 1.5})));
    assert_eq!(
        strvals::parse_into("a.b=1", &got).unwrap_err(),
        conv("float64", "map[string]interface {}")
    );
    // a nil element inside a list is an empty list for a nested index
    let got = gomap(typed(json!({"a": [null]})));
    strvals::parse_into("a[0][0]=1", &got).unwrap();
    assert_eq!(got, gomap(typed(json!({"a": [[1]]}))));
}

#[test]
fn values_before_an_error_stay_set() {
    let got = GoMap::default();
    assert!(strvals::parse_into("a=1,b,c=2", &got).is_err());
    assert_eq!(got, gomap(typed(json!({"a": 1, "b": ""}))));
}

#[test]
fn helm_parse_json_cases() {
    let got = gomap(typed(
        json!({"outer": {"inner1": "overwrite", "inner2": "value2"}}),
    ));
    strvals::parse_json(
        "outer.inner1=\"1\",outer.inner3=3,outer.inner4=true,outer.inner5=\"true\"",
        &got,
    )
    .unwrap();
    assert_eq!(
        got,
        gomap(Value::from(json!({"outer": {
            "inner1": "1", "inner2": "value2", "inner3": 3.0, "inner4": true, "inner5": "true"
        }})))
    );

    let got = gomap(Value::from(json!({"outer": {
        "inner1": {"x": "overwrite"}, "inner2": "value2", "inner3": ["overwrite"]
    }})));
    strvals::parse_json(
        "outer.inner1={\"a\":\"1\",\"b\":2,\"c\":[1,2,3]},outer.inner3=[\"new value 1\",\"new value 2\"],outer.inner4={\"aa\":\"1\",\"bb\":2,\"cc\":[1,2,3]},outer.inner5=[{\"A\":\"1\",\"B\":2,\"C\":[1,2,3]}]",
        &got,
    )
    .unwrap();
    assert_eq!(
        got,
        gomap(Value::from(json!({"outer": {
            "inner1": {"a": "1", "b": 2, "c": [1, 2, 3]},
            "inner2": "value2",
            "inner3": ["new value 1", "new value 2"],
            "inner4": {"aa": "1", "bb": 2, "cc": [1, 2, 3]},
            "inner5": [{"A": "1", "B": 2, "C": [1, 2, 3]}]
        }})))
    );

    let got = gomap(Value::from(
        json!({"outer": {"inner1": {"x": "overwrite"}, "inner2": "value2"}}),
    ));
    strvals::parse_json(
        "outer.inner1=,outer.inner3={\"aa\":\"1\",\"bb\":2,\"cc\":[1,2,3]},outer.inner3.cc[1]=null",
        &got,
    )
    .unwrap();
    assert_eq!(
        got,
        gomap(Value::from(json!({"outer": {
            "inner1": null,
            "inner2": "value2",
            "inner3": {"aa": "1", "bb": 2, "cc": [1, null, 3]}
        }})))
    );

    // the trailing `]` is left over and read as a key without a value
    let got = GoMap::default();
    assert_eq!(
        strvals::parse_json(
            "outer.inner1={\"a\":\"1\",\"b\":2,\"c\":[1,2,3]},outer.inner3=[\"new value 1\",\"new value 2\"],outer.inner4={\"aa\":\"1\",\"bb\":2,\"cc\":[1,2,3]},outer.inner5={\"A\":\"1\",\"B\":2,\"C\":[1,2,3]}]",
            &got,
        )
        .unwrap_err(),
        r#"key "]" has no value"#
    );
}

#[test]
fn json_values_and_errors() {
    let j = |s: &str| {
        let m = GoMap::default();
        strvals::parse_json(s, &m).map(|_| m)
    };
    assert_eq!(j("a=").unwrap(), gomap(Value::from(json!({"a": null}))));
    assert_eq!(
        j("a=  ,b=1").unwrap(),
        gomap(Value::from(json!({"a": null, "b": 1.0})))
    );
    assert_eq!(j("a= 1").unwrap(), gomap(Value::from(json!({"a": 1.0}))));
    assert_eq!(j("a=\"x,y\"").unwrap(), gomap(Value::from(json!({"a": "x,y"}))));
    // the blank after a comma belongs to the next key
    assert_eq!(
        j("a=[1,2], b=3").unwrap(),
        gomap(Value::from(json!({"a": [1.0, 2.0], " b": 3.0})))
    );
    assert_eq!(
        j("a[1]={\"b\":1}").unwrap(),
        gomap(Value::from(json!({"a": [null, {"b": 1.0}]})))
    );
    assert_eq!(j("a[0]=").unwrap(), gomap(Value::from(json!({"a": [null]}))));
    assert_eq!(
        j("a.b=null").unwrap(),
        gomap(Value::from(json!({"a": {"b": null}})))
    );
    assert_eq!(j("a=1b").unwrap_err(), r#"key "b" has no value"#);
    assert_eq!(
        j("a=x").unwrap_err(),
        "invalid character 'x' looking for beginning of value"
    );
    assert_eq!(
        j("a={\"b\":}").unwrap_err(),
        "invalid character '}' looking for beginning of value"
    );
    assert_eq!(j("a=[1,2").unwrap_err(), "unexpected EOF");
    assert_eq!(j("a=\"x").unwrap_err(), "unexpected EOF");
    assert_eq!(j("a[0]=nul").unwrap_err(), "unexpected EOF");
    assert_eq!(
        j("a=nulx").unwrap_err(),
        "invalid character 'x' in literal null (expecting 'l')"
    );
    assert_eq!(
        j("a=1e999").unwrap_err(),
        "json: cannot unmarshal number 1e999 into Go value of type float64"
    );
    assert_eq!(j("a=,b").unwrap_err(), r#"key "b" has no value"#);
    assert_eq!(
        j("a,b=1").unwrap_err(),
        r#"key "a" has no value (cannot end with ,)"#
    );
}

#[test]
fn helm_parse_file_cases() {
    let mut calls = Vec::new();
    let mut reader = |p: &str| {
        calls.push(p.to_string());
        if p == "missing" {
            return Err("open missing: no such file or directory".to_string());
        }
        Ok(Value::from(format!("content of {p}")))
    };
    let got = strvals::parse_file("name1=path1", &mut reader).unwrap();
    assert_eq!(got, gomap(typed(json!({"name1": "content of path1"}))));
    let got = GoMap::default();
    strvals::parse_into_file("a.b=p\\,1,c={x,y}", &got, &mut reader).unwrap();
    assert_eq!(
        got,
        gomap(typed(
            json!({"a": {"b": "content of p,1"}, "c": ["content of x", "content of y"]})
        ))
    );
    assert_eq!(
        strvals::parse_file("a=missing", &mut reader).unwrap_err(),
        "open missing: no such file or directory"
    );
    assert_eq!(calls, ["path1", "p,1", "x", "y", "missing"]);
}

#[test]
fn literal_cases() {
    let l = |s: &str| strvals::parse_literal(s);
    assert_eq!(
        l("a.b=c,d=e\\f").unwrap(),
        gomap(typed(json!({"a": {"b": "c,d=e\\f"}})))
    );
    assert_eq!(l("a=").unwrap(), gomap(typed(json!({"a": ""}))));
    assert_eq!(l("a=1").unwrap(), gomap(typed(json!({"a": "1"}))));
    assert_eq!(l("a,b=c").unwrap(), gomap(typed(json!({"a,b": "c"}))));
    assert_eq!(l("a[1]=x,y").unwrap(), gomap(typed(json!({"a": [null, "x,y"]}))));
    assert_eq!(l("a[0].b=x").unwrap(), gomap(typed(json!({"a": [{"b": "x"}]}))));
    assert_eq!(l("a[0][1]=x").unwrap(), gomap(typed(json!({"a": [[null, "x"]]}))));
    assert_eq!(l("a\\b=c").unwrap(), gomap(typed(json!({"a\\b": "c"}))));
    assert_eq!(l("a").unwrap_err(), r#"key "a" has no value"#);
    assert_eq!(l("a.=x").unwrap_err(), r#"key map "a" has no value"#);
    assert_eq!(
        l("a[x]=1").unwrap_err(),
        r#"error parsing index: strconv.Atoi: parsing "x": invalid syntax"#
    );
    assert_eq!(
        l("a[0]b=1").unwrap_err(),
        "unexpected data at end of array index: ['b']"
    );
    assert_eq!(
        l("a[70000]=1").unwrap_err(),
        "index of 70000 is greater than maximum supported index of 65536"
    );
}

#[test]
fn merge_order_and_error_texts() {
    let base = gomap(typed(json!({"a": "file", "keep": 1})));
    let opts = SetOptions {
        literal_values: vec!["a=literal,x".into()],
        file_values: vec!["f=p".into()],
        string_values: vec!["a=2".into(), "s=3".into()],
        values: vec!["a=1".into(), "n=3".into()],
        json_values: vec!["a={\"j\":1}".into()],
    };
    let mut read = |p: &str| Ok(format!("<{p}>"));
    strvals::merge_set_options(&opts, &base, &mut read).unwrap();
    assert_eq!(
        base,
        gomap(typed(
            json!({"a": "literal,x", "keep": 1, "f": "<p>", "s": "3", "n": 3})
        ))
    );

    let e = |o: SetOptions| {
        strvals::merge_set_options(&o, &GoMap::default(), &mut |_: &str| Err("nope".to_string())).unwrap_err()
    };
    assert_eq!(
        e(SetOptions {
            json_values: vec!["a=x".into()],
            ..Default::default()
        }),
        "failed parsing --set-json data a=x"
    );
    assert_eq!(
        e(SetOptions {
            values: vec!["a".into()],
            ..Default::default()
        }),
        r#"failed parsing --set data: key "a" has no value"#
    );
    assert_eq!(
        e(SetOptions {
            string_values: vec!["a,".into()],
            ..Default::default()
        }),
        r#"failed parsing --set-string data: key "a" has no value (cannot end with ,)"#
    );
    assert_eq!(
        e(SetOptions {
            file_values: vec!["a=p".into()],
            ..Default::default()
        }),
        "failed parsing --set-file data: nope"
    );
    assert_eq!(
        e(SetOptions {
            literal_values: vec!["a".into()],
            ..Default::default()
        }),
        r#"failed parsing --set-literal data: key "a" has no value"#
    );
}

fn param(name: &str, value: &str, force_string: bool) -> ArgoHelmParameter {
    ArgoHelmParameter {
        name: name.into(),
        value: value.into(),
        force_string,
    }
}

#[test]
fn argocd_parameters_become_set_flags() {
    let env = vec![
        ("ARGOCD_APP_NAME".to_string(), "guestbook".to_string()),
        ("ARGOCD_APP_NAMESPACE".to_string(), "apps".to_string()),
    ];
    let params = vec![
        param("image.tag", "v1,2", false),
        param("list", "{a,b}", false),
        param("port", "80", true),
        param("replicas", "3", false),
        param("name", "$ARGOCD_APP_NAME-${ARGOCD_APP_NAMESPACE}", false),
        param("replicas", "4", false),
        param("port", "81", false),
        param("escaped", "a\\,b", false),
        param("price", "$$5", true),
    ];
    let files = vec![ArgoHelmFileParameter {
        name: "config".into(),
        path: "files/$ARGOCD_APP_NAME,1.txt".into(),
    }];
    let mut resolve = |p: &str| Ok(format!("/repo/app/{}", strvals::argocd_envsubst(p, &env)));
    let opts = strvals::argocd_set_options(&params, &files, &env, &mut resolve).unwrap();
    assert_eq!(
        opts.values,
        [
            "escaped=a\\,b",
            "image.tag=v1\\,2",
            "list={a,b}",
            "name=guestbook-apps",
            "port=81",
            "replicas=4"
        ]
    );
    assert_eq!(opts.string_values, ["port=80", "price=$5"]);
    assert_eq!(opts.file_values, ["config=/repo/app/files/guestbook\\,1.txt"]);

    let base = gomap(typed(json!({"image": {"repository": "nginx"}})));
    let mut read = |p: &str| Ok(format!("<{p}>"));
    strvals::apply_argocd_parameters(&base, &params, &files, &env, &mut resolve, &mut read).unwrap();
    assert_eq!(
        base,
        gomap(typed(json!({
            "image": {"repository": "nginx", "tag": "v1,2"},
            "list": ["a", "b"],
            "name": "guestbook-apps",
            // --set-string is applied after --set, whatever the order of the flags
            "port": "80",
            "replicas": 4,
            "escaped": "a,b",
            "price": "$5",
            "config": "</repo/app/files/guestbook,1.txt>"
        })))
    );
}

#[test]
fn argocd_values_keep_helms_escapes() {
    // Argo CD escapes only commas: Helm still reads backslashes and typed values
    let base = GoMap::default();
    let params = vec![
        param("a", "x\\y", false),
        param("b", "true", false),
        param("c", "null", false),
    ];
    strvals::apply_argocd_parameters(
        &base,
        &params,
        &[],
        &[],
        &mut |p: &str| Ok(p.to_string()),
        &mut |_: &str| Ok(String::new()),
    )
    .unwrap();
    let want: BTreeMap<String, Value> = [
        ("a".to_string(), Value::from("xy")),
        ("b".to_string(), Value::Bool(true)),
        ("c".to_string(), Value::Nil),
    ]
    .into_iter()
    .collect();
    assert_eq!(base.to_btree(), want);
    // a parameter Helm cannot parse fails as helm would
    let e = strvals::apply_argocd_parameters(
        &GoMap::default(),
        &[param("a[x]", "1", false)],
        &[],
        &[],
        &mut |p: &str| Ok(p.to_string()),
        &mut |_: &str| Ok(String::new()),
    )
    .unwrap_err();
    assert_eq!(
        e,
        r#"failed parsing --set data: error parsing index: strconv.Atoi: parsing "x": invalid syntax"#
    );
}

#[test]
fn never_panics_on_odd_input() {
    let inputs = [
        "[",
        "]",
        "[[",
        "a[",
        "a[]",
        "a[0",
        "a[0]]",
        "a[0][",
        "a.[0]=1",
        "a..b=1",
        "=",
        "==",
        ",",
        "\\",
        "a=\\",
        "a={",
        "a={,",
        "a={\\",
        "{}={}",
        "a[0].=1",
        "a[0]..b=1",
        "é[0]=ü",
        "a[-0]=1",
        "a[0].b[0].c[0].d=1",
    ];
    for s in inputs {
        let _ = strvals::parse(s);
        let _ = strvals::parse_string(s);
        let _ = strvals::parse_literal(s);
        let _ = strvals::parse_json(s, &GoMap::default());
    }
    // deep nesting grows the stack instead of overflowing it
    let deep = format!("a{}=1", "[0]".repeat(2000));
    assert!(strvals::parse(&deep).is_ok());
    let deep_json = format!("a={}", "[".repeat(10000));
    assert_eq!(
        strvals::parse_json(&deep_json, &GoMap::default()).unwrap_err(),
        "unexpected EOF"
    );
}

/// Random lines over the parser's special characters: never a panic.
#[test]
fn never_panics_on_random_lines() {
    let alphabet: Vec<char> = "ab.[]=,{}\\0192- é\"ntrue".chars().collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..20000 {
        let len = next() % 24;
        let s: String = (0..len).map(|_| alphabet[next() % alphabet.len()]).collect();
        let base = gomap(typed(json!({"a": [1, {"b": 2}], "b": {"c": [null]}})));
        let _ = strvals::parse_into(&s, &base);
        let _ = strvals::parse_into_string(&s, &GoMap::default());
        let _ = strvals::parse_json(&s, &base);
        let _ = strvals::parse_literal_into(&s, &base);
        let _ = strvals::parse_into_file(&s, &base, &mut |p: &str| Ok(Value::from(p)));
        let _ = strvals::argocd_envsubst(&s.replace('b', "$"), &[("a".into(), "x".into())]);
    }
}

//! `hubspoke render template`: Go's output, or `ERROR: <Go's text>` and exit code 3.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, template: &str, data: &str, extra: &[&str]) -> Output {
    std::fs::write(dir.join("t.tmpl"), template).unwrap();
    std::fs::write(dir.join("data.json"), data).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hubspoke"))
        .args(["render", "template"])
        .arg(dir.join("t.tmpl"))
        .arg(dir.join("data.json"))
        .args(extra)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn prints_the_output_with_go_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "{{range $k, $v := .}}{{$k}}={{$v}};{{end}} {{.missing}} {{.b.c}}",
        r#"{"b": {"c": 1.5}, "a": 2}"#,
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "a=2;b=map[c:1.5]; <no value> 1.5");
}

#[test]
fn go_errors_print_error_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "x{{.a.b}}", r#"{"a": 1}"#, &[]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        "ERROR: template: t.tmpl:1:5: executing \"t.tmpl\" at <.a.b>: can't evaluate field b in type interface {}\n"
    );
    let out = run(dir.path(), "{{if}}", "{}", &[]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        "ERROR: template: t.tmpl:1: missing value for if\n"
    );
    let out = run(dir.path(), "{{.x.y}}", "{}", &["--missingkey", "error"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stdout),
        "ERROR: template: t.tmpl:1:4: executing \"t.tmpl\" at <.x.y>: map has no entry for key \"x\"\n"
    );
}

#[test]
fn bad_input_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), "{{.}}", "{not json", &[]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("data.json: not JSON"), "{err}");
    assert!(err.contains("the data must be a JSON document"), "{err}");
    let out = run(dir.path(), "{{.}}", "{}", &["--missingkey", "sometimes"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("--missingkey=sometimes: expected default, invalid, zero or error"));
}

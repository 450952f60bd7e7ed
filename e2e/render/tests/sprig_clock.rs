//! sprig's clock-dependent functions (`now`, `ago`, `date` of now) against Go's by shape:
//! the same template rendered by the oracle and by Rust, with every number masked, in the
//! local zones Go's runtime derives from TZ.

mod common;

use hubspoke_render::sprig::{Clock, funcs_with};
use hubspoke_render::{Options, Template, Value};

const TEMPLATE: &str = "{{now}}|{{now.UTC}}|{{now.Location}}|{{ago now}}|{{now | date \"MST -07:00\"}}|{{now.Add 1000}}|{{dateInZone \"MST\" now \"Asia/Tokyo\"}}|{{(now.Round 1000000000).Nanosecond}}";

/// Every run of digits as one `0` (Go trims a fraction's trailing zeros).
fn mask(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('0') {
                out.push('0');
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn go(bin: &std::path::Path, tz: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = std::process::Command::new(bin);
    match tz {
        Some(tz) => cmd.env("TZ", tz),
        None => cmd.env_remove("TZ"),
    };
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run oracle");
    let input = serde_json::json!([{"name": "t", "template": TEMPLATE, "data": null, "missingkey": "default", "sprig": true, "funcs": false}]);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("oracle");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v[0]["output"].as_str().unwrap_or_default().to_string()
}

fn rust(clock: &Clock) -> String {
    let mut t = Template::new("t").funcs(funcs_with(clock));
    t.add_parse("t", TEMPLATE).expect("parse");
    t.execute(&Value::Nil, &Options::default()).expect("execute")
}

#[test]
fn now_has_gos_shape_in_every_local_zone() {
    let Some(bin) = common::build_oracle() else {
        println!("note: `go` is not installed; skipped");
        return;
    };
    for tz in ["UTC", "Europe/Paris", "America/St_Johns"] {
        let g = go(&bin, Some(tz));
        let r = rust(&Clock::system().with_local_zone(tz));
        assert_eq!(mask(&r), mask(&g), "TZ={tz}:\n go:   {g}\n rust: {r}");
    }
    // without TZ: both read the system's /etc/localtime (Go names it Local)
    if std::env::var_os("TZ").is_none() {
        let g = go(&bin, None);
        let r = rust(&Clock::system());
        assert_eq!(mask(&r), mask(&g), "no TZ:\n go:   {g}\n rust: {r}");
    }
}

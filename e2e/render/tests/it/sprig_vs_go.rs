//! sprig's non-deterministic functions against Go where the corpus cannot compare bytes:
//! the clock-dependent ones (`now`, `ago`, `date` of now) by shape, the same template
//! rendered by the oracle and by Rust with every number masked, in the local zones Go's
//! runtime derives from TZ; the keys and certificates Rust generates by having Go read them.

use crate::common;

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
    go_render(bin, tz, TEMPLATE, serde_json::Value::Null)
}

fn go_render(bin: &std::path::Path, tz: Option<&str>, template: &str, data: serde_json::Value) -> String {
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
    let input = serde_json::json!([{"name": "t", "template": template, "data": data, "missingkey": "default", "sprig": true, "funcs": false}]);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("oracle");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    match (v[0]["output"].as_str(), v[0]["error"].as_str()) {
        (Some(o), _) => o.to_string(),
        (_, Some(e)) => format!("error: {e}"),
        _ => String::new(),
    }
}

fn rust(clock: &Clock) -> String {
    rust_render(clock, TEMPLATE)
}

fn rust_render(clock: &Clock, template: &str) -> String {
    let mut t = Template::new("t").funcs(funcs_with(clock));
    t.add_parse("t", template).expect("parse");
    t.execute(&Value::Nil, &Options::default()).expect("execute")
}

#[test]
fn go_reads_the_keys_and_certificates_rust_makes() {
    use base64::Engine;
    let Some(bin) = common::build_oracle() else {
        println!("note: `go` is not installed; skipped");
        return;
    };
    let clock = Clock::system();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for typ in ["ecdsa", "ed25519", "rsa", "dsa"] {
        let key = rust_render(&clock, &format!("{{{{genPrivateKey \"{typ}\"}}}}"));
        let got = go_render(
            &bin,
            Some("UTC"),
            "{{$c := genCAWithKey \"go-ca\" 3 .key}}{{eq $c.Key .key}}",
            serde_json::json!({"key": key}),
        );
        let want = if typ == "dsa" {
            "error: template: t:1:8: executing \"t\" at <genCAWithKey \"go-ca\" 3 .key>: error calling genCAWithKey: error creating certificate: x509: certificate private key does not implement crypto.Signer"
        } else {
            "true"
        };
        assert_eq!(got, want, "{typ} key:\n{key}");
    }
    // a Rust CA and a certificate it signed, read back by Go's buildCustomCert and used by Go
    // to sign another
    let out = rust_render(
        &clock,
        "{{$ca := genCA \"rust-ca\" 5}}{{$c := genSelfSignedCert \"leaf\" nil nil 2}}{{$ca.Cert}}|{{$ca.Key}}|{{$c.Cert}}|{{$c.Key}}",
    );
    let parts: Vec<&str> = out.split('|').collect();
    let data = serde_json::json!({
        "cacert": b64(parts[0]), "cakey": b64(parts[1]), "cert": b64(parts[2]), "key": b64(parts[3]),
    });
    let got = go_render(
        &bin,
        Some("UTC"),
        "{{$ca := buildCustomCert .cacert .cakey}}{{$c := buildCustomCert .cert .key}}{{$s := genSignedCert \"go-leaf\" nil nil 1 $ca}}{{printf \"%.27s\" $s.Cert}}",
        data,
    );
    assert_eq!(got, "-----BEGIN CERTIFICATE-----");
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

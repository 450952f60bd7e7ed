//! The YAML Kyverno puts in a denial: gopkg.in/yaml.v2 (v2.4.0) marshalling a map of policy
//! name to a map of rule name to message. Keys in yaml.v2's natural order, scalars plain when
//! YAML 1.1 would read them back as the same string, double-quoted when it would not (`yes`,
//! `on`, numbers, `1:20`, dates), single-quoted when plain is not allowed, literal (`|-`) when
//! multi-line; plain and single-quoted values wrapped at 80 columns as libyaml's emitter wraps
//! them (Kyverno never calls `yaml.FutureLineWrap`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// libyaml's `best_width`.
const BEST_WIDTH: usize = 80;

/// Would yaml.v2's resolver (YAML 1.1) read this plain scalar as something other than a
/// string (so the encoder double-quotes it)?
fn resolves_to_non_string(s: &str) -> bool {
    const MAP: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No", "NO",
        "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan", ".NaN",
        ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
    ];
    let Some(first) = s.chars().next() else {
        return true;
    };
    if "yYnNtTfFoO~".contains(first) {
        return MAP.contains(&s);
    }
    if first == '.' {
        return MAP.contains(&s) || go_float(s);
    }
    if !(first.is_ascii_digit() || first == '+' || first == '-') {
        return false;
    }
    if MAP.contains(&s) || is_timestamp(s) || is_base60_float(s) {
        return true;
    }
    let plain = s.replace('_', "");
    go_int(&plain) || yaml_style_float(&plain) || {
        let bin = plain.strip_prefix("0b").or_else(|| plain.strip_prefix("-0b"));
        bin.is_some_and(|b| !b.is_empty() && b.chars().all(|c| c == '0' || c == '1'))
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` (or ParseUint) would accept `s`.
fn go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits = |d: &str, radix: u32| !d.is_empty() && d.chars().all(|c| c.is_digit(radix));
    if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return digits(h, 16);
    }
    if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        return digits(o, 8);
    }
    if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        return digits(b, 2);
    }
    if body.len() > 1 && body.starts_with('0') {
        return digits(body, 8);
    }
    digits(body, 10)
}

/// `strconv.ParseFloat` accepts it (decimal forms).
fn go_float(s: &str) -> bool {
    s.parse::<f64>().is_ok() && !s.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mant, exp) = match b.find(['e', 'E']) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let num = |d: &str| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit());
    let mant_ok = match mant.split_once('.') {
        Some(("", f)) => num(f),
        Some((i, f)) => num(i) && f.chars().all(|c| c.is_ascii_digit()),
        None => num(mant),
    };
    mant_ok && exp.is_none_or(|e| num(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = match b.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (b, None),
    };
    if frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit() || c == '_')) {
        return false;
    }
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && rest.iter().all(|p| {
            let c: Vec<char> = p.chars().collect();
            match c.as_slice() {
                [d] => d.is_ascii_digit(),
                [a, d] => ('0'..='5').contains(a) && d.is_ascii_digit(),
                _ => false,
            }
        })
}

/// yaml.v2's timestamp formats: `2006-1-2`, with `T`/`t`/` ` and a time.
fn is_timestamp(s: &str) -> bool {
    let date_end = s.find(['T', 't', ' ']).unwrap_or(s.len());
    let date: Vec<&str> = s[..date_end].split('-').collect();
    let ok_date = date.len() == 3
        && date[0].len() == 4
        && date
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit()))
        && date[1].len() <= 2
        && date[2].len() <= 2;
    if !ok_date {
        return false;
    }
    if date_end == s.len() {
        return true;
    }
    // a time part: 15:4:5 with optional fraction and zone
    let time = &s[date_end + 1..];
    let hms: Vec<&str> = time.splitn(3, ':').collect();
    hms.len() == 3
        && hms[0].len() <= 2
        && hms[..2]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && hms[2].starts_with(|c: char| c.is_ascii_digit())
}

/// yaml.v2's natural key order (`keyList.Less`): where the keys differ, a non-letter sorts before a letter, runs of
/// digits compared as numbers.
pub fn key_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.saturating_mul(10).saturating_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.saturating_mul(10).saturating_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

fn plain_allowed(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b[0] == b' ' || b[b.len() - 1] == b' ' {
        return false;
    }
    let followed_by_space = |i: usize| i + 1 >= b.len() || b[i + 1] == b' ';
    if b"#,[]{}&*!|>'\"%@`".contains(&b[0]) {
        return false;
    }
    if matches!(b[0], b'-' | b'?' | b':') && followed_by_space(0) {
        return false;
    }
    for (i, c) in b.iter().enumerate() {
        if *c == b':' && followed_by_space(i) {
            return false;
        }
        if *c == b'#' && i > 0 && b[i - 1] == b' ' {
            return false;
        }
        if c.is_ascii_control() {
            return false;
        }
    }
    true
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `text` (plain or single-quoted, already with its quotes) starting at `column`,
/// breaking at a space when past 80 columns as libyaml does; continuation lines start at
/// `indent`. `quoted`: a single-quoted scalar (never breaks at its first or last character).
fn wrap(text: &str, column: usize, indent: usize, quoted: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut col = column;
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_space = chars.get(i + 1) == Some(&' ');
            let inner = !quoted || (i > 1 && i + 2 < chars.len());
            if !spaces && col > BEST_WIDTH && !next_space && inner {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                col = indent;
            } else {
                out.push(c);
                col += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
    out
}

/// One scalar as yaml.v2 writes it as a block mapping value starting at `column`, its
/// continuation lines and literal block at `indent`.
pub fn scalar_at(s: &str, column: usize, indent: usize) -> String {
    if s.contains('\n') {
        let pad = " ".repeat(indent);
        let chomp = if s.ends_with('\n') { "" } else { "-" };
        let body: Vec<String> = s
            .trim_end_matches('\n')
            .split('\n')
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{pad}{l}")
                }
            })
            .collect();
        return format!("|{chomp}\n{}", body.join("\n"));
    }
    if resolves_to_non_string(s) || s.chars().any(|c| c.is_control()) {
        return double_quoted(s);
    }
    if plain_allowed(s) {
        return wrap(s, column, indent, false);
    }
    wrap(&format!("'{}'", s.replace('\'', "''")), column, indent, true)
}

/// One scalar as yaml.v2 writes it as a value of a key at `indent` (a value that fits on
/// its line; see [`scalar_at`] for where it starts).
pub fn scalar(s: &str, indent: usize) -> String {
    scalar_at(s, 0, indent + 2)
}

/// `policy:\n  rule: message\n` for every failing rule, in yaml.v2's key order.
pub fn encode_failures(failures: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    let mut policies: Vec<&String> = failures.keys().collect();
    policies.sort_by(|a, b| key_order(a, b));
    for policy in policies {
        out.push_str(&format!("{}:\n", scalar_at(policy, 0, 2)));
        let rules = &failures[policy];
        let mut names: Vec<&String> = rules.keys().collect();
        names.sort_by(|a, b| key_order(a, b));
        for rule in names {
            let key = scalar_at(rule, 2, 4);
            // "  key: " then the value: the emitter's column after the space
            let column = 2 + key.chars().count() + 2;
            out.push_str(&format!("  {key}: {}\n", scalar_at(&rules[rule], column, 4)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kyverno's conformance test `check-message-upon-resource-failure` (chainsaw-test.yaml),
    /// which asserts the denial exactly as yaml.v2 wraps it.
    #[test]
    fn long_messages_wrap_at_80_columns_as_yaml_v2_does() {
        let msg = "validation error: The label `uw.systems/owner` is required. Check policy at https://github.com/utilitywarehouse/system-manifests/tree/master/kyverno/policies/namespaces/require-ns-owner-label.yaml for allowed label values. rule check-for-namespace-owner-label failed at path /metadata/labels/uw.systems/owner/";
        let mut f = BTreeMap::new();
        f.entry("require-ns-owner-label".to_string())
            .or_insert_with(BTreeMap::new)
            .insert("check-for-namespace-owner-label".to_string(), msg.to_string());
        assert_eq!(
            encode_failures(&f),
            "require-ns-owner-label:\n  check-for-namespace-owner-label: 'validation error: The label `uw.systems/owner`\n    is required. Check policy at https://github.com/utilitywarehouse/system-manifests/tree/master/kyverno/policies/namespaces/require-ns-owner-label.yaml\n    for allowed label values. rule check-for-namespace-owner-label failed at path\n    /metadata/labels/uw.systems/owner/'\n"
        );
        // YAML 1.1 words and numbers are quoted, natural key order
        assert_eq!(scalar("yes", 2), "\"yes\"");
        assert_eq!(scalar("on", 2), "\"on\"");
        assert_eq!(scalar("1:20", 2), "\"1:20\"");
        assert_eq!(scalar("2024-01-02", 2), "\"2024-01-02\"");
        assert_eq!(scalar("0x1F", 2), "\"0x1F\"");
        assert_eq!(scalar("1e3", 2), "\"1e3\"");
        assert_eq!(scalar("v1.2", 2), "v1.2");
        assert_eq!(key_order("rule2", "rule10"), Ordering::Less);
        assert_eq!(key_order("a-b", "ab"), Ordering::Less);
        assert_eq!(
            scalar_at("first line\nsecond", 10, 4),
            "|-\n    first line\n    second"
        );
    }

    #[test]
    fn scalars_as_go_yaml_writes_them() {
        assert_eq!(scalar("message fail", 2), "message fail");
        assert_eq!(
            scalar(
                "validation error: use a tag. rule r failed at path /spec/containers/0/image/",
                2
            ),
            "'validation error: use a tag. rule r failed at path /spec/containers/0/image/'"
        );
        assert_eq!(scalar("it's: here", 2), "'it''s: here'");
        assert_eq!(scalar("true", 2), "\"true\"");
        assert_eq!(scalar("42", 2), "\"42\"");
        assert_eq!(scalar("- x", 2), "'- x'");
        let mut f = BTreeMap::new();
        f.entry("test".to_string())
            .or_insert_with(BTreeMap::new)
            .insert("rule-fail".to_string(), "message fail".to_string());
        f.get_mut("test")
            .unwrap()
            .insert("rule-error".to_string(), "message error".to_string());
        assert_eq!(
            encode_failures(&f),
            "test:\n  rule-error: message error\n  rule-fail: message fail\n"
        );
    }
}

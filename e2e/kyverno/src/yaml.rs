//! The YAML Kyverno puts in a denial (go-yaml v3, indent 2, no line wrapping): a map of
//! policy name to a map of rule name to message, keys sorted, scalars plain when YAML
//! allows, single-quoted otherwise.

use std::collections::BTreeMap;

/// Would a YAML 1.2 core-schema reader take this plain scalar as something other than a
/// string (go-yaml v3 then quotes it)?
fn resolves_to_non_string(s: &str) -> bool {
    matches!(
        s,
        "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "null"
            | "Null"
            | "NULL"
            | "~"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
            | ".Inf"
            | ".NaN"
    ) || s.parse::<f64>().is_ok()
        || s.strip_prefix("0x")
            .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
        || s.strip_prefix("0o")
            .is_some_and(|o| !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c)))
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

/// One scalar as go-yaml v3 writes it in block context at `indent`.
pub fn scalar(s: &str, indent: usize) -> String {
    if s.is_empty() || resolves_to_non_string(s) {
        return double_quoted(s);
    }
    if s.contains('\n') {
        let pad = " ".repeat(indent + 2);
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
    if plain_allowed(s) {
        return s.to_string();
    }
    if s.chars().any(|c| c.is_control()) {
        return double_quoted(s);
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// `policy:\n  rule: message\n` for every failing rule.
pub fn encode_failures(failures: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    for (policy, rules) in failures {
        out.push_str(&format!("{}:\n", scalar(policy, 0)));
        for (rule, message) in rules {
            out.push_str(&format!("  {}: {}\n", scalar(rule, 2), scalar(message, 2)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

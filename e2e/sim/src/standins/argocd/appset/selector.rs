//! Label selectors as the ApplicationSet controller parses them: the cluster generator's
//! through apimachinery's `metav1.LabelSelectorAsSelector` (keys and values validated), a
//! generator's post-selector through Argo CD's copy of it (applicationset/utils/selector.go:
//! keys validated, values free, so cluster URLs can be matched), both with
//! k8s.io/apimachinery v0.34's error texts.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Op {
    In,
    NotIn,
    Equals,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed selector; no requirements match everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    reqs: Vec<Requirement>,
}

/// Which parser: apimachinery's or Argo CD's copy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `metav1.LabelSelectorAsSelector`: values must be valid label values.
    Labels,
    /// Argo CD's `utils.LabelSelectorAsSelector`: any value.
    PostSelector,
}

const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn qualified_name_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    })
}

/// `validation.IsQualifiedName`.
fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                if prefix.len() > 253 {
                    errs.push("prefix part must be no more than 253 characters".to_string());
                }
                if !dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {DNS1123_SUBDOMAIN_MSG}"));
                }
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !qualified_name_chars(name) {
        errs.push(format!("name part {QUALIFIED_NAME_MSG}"));
    }
    errs
}

/// `validation.IsValidLabelValue`.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !qualified_name_chars(value) {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    errs
}

/// `field.Invalid(path, values, detail)` with a `[]string` value (JSON-printed).
fn invalid_values(values: &[String], detail: &str) -> String {
    let shown = if values.is_empty() {
        "null".to_string()
    } else {
        serde_json::to_string(values).unwrap_or_default()
    };
    format!("values: Invalid value: {shown}: {detail}")
}

/// `labels.NewRequirement` (or Argo CD's `newRequirement`, which leaves values alone): the
/// errors joined as an aggregate prints them.
fn new_requirement(key: &str, op: Op, values: Vec<String>, flavor: Flavor) -> Result<Requirement, String> {
    let mut errs: Vec<String> = Vec::new();
    let key_errs = qualified_name_errors(key);
    if !key_errs.is_empty() {
        errs.push(format!(
            "key: Invalid value: {}: {}",
            hubspoke_render::gofmt::quote(key, false),
            key_errs.join("; ")
        ));
    }
    match op {
        Op::In | Op::NotIn if values.is_empty() => errs.push(invalid_values(
            &values,
            "for 'in', 'notin' operators, values set can't be empty",
        )),
        Op::Equals if values.len() != 1 => errs.push(invalid_values(
            &values,
            "exact-match compatibility requires one single value",
        )),
        Op::Exists | Op::DoesNotExist if !values.is_empty() => errs.push(invalid_values(
            &values,
            "values set must be empty for exists and does not exist",
        )),
        _ => {}
    }
    if flavor == Flavor::Labels {
        for (i, v) in values.iter().enumerate() {
            let e = label_value_errors(v);
            if !e.is_empty() {
                errs.push(format!(
                    "values[{i}][{key}]: Invalid value: {}: {}",
                    hubspoke_render::gofmt::quote(v, false),
                    e.join("; ")
                ));
            }
        }
    }
    // an aggregate prints one error as is, several (deduplicated) in brackets
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => Ok(Requirement {
            key: key.to_string(),
            op,
            values,
        }),
        1 => Err(seen.remove(0)),
        _ => Err(format!("[{}]", seen.join(", "))),
    }
}

impl Selector {
    /// Parses a `metav1.LabelSelector` object: `matchLabels` (in key order: Go ranges its map
    /// in random order, so with several bad keys any one may be reported), then
    /// `matchExpressions` in order.
    pub fn parse(sel: &Value, flavor: Flavor) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                let v = v.as_str().unwrap_or_default().to_string();
                reqs.push(new_requirement(k, Op::Equals, vec![v], flavor)?);
            }
        }
        for e in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect();
            let operator = e.get("operator").and_then(Value::as_str).unwrap_or_default();
            let op = match operator {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => {
                    let what = match flavor {
                        Flavor::Labels => "label",
                        Flavor::PostSelector => "pod",
                    };
                    return Err(format!(
                        "{} is not a valid {what} selector operator",
                        hubspoke_render::gofmt::quote(other, false)
                    ));
                }
            };
            reqs.push(new_requirement(key, op, values, flavor)?);
        }
        Ok(Selector { reqs })
    }

    /// Whether labels (a string map) satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|r| {
            let have = labels.get(&r.key);
            match r.op {
                Op::In | Op::Equals => have.is_some_and(|v| r.values.contains(v)),
                Op::NotIn => have.is_none_or(|v| !r.values.contains(v)),
                Op::Exists => have.is_some(),
                Op::DoesNotExist => have.is_none(),
            }
        })
    }

    /// Adds `key=value` (metav1.AddLabelToSelector).
    pub fn require(&mut self, key: &str, value: &str) {
        self.reqs.push(Requirement {
            key: key.into(),
            op: Op::Equals,
            values: vec![value.into()],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn post_selectors_match_flattened_keys_and_any_value() {
        let s = Selector::parse(
            &json!({"matchLabels": {"server": "https://spoke-a.example.com:6443"},
                "matchExpressions": [{"key": "metadata.labels.argocd.argoproj.io/secret-type", "operator": "Exists"},
                    {"key": "path.basename", "operator": "NotIn", "values": ["skip"]}]}),
            Flavor::PostSelector,
        )
        .unwrap();
        assert!(s.matches(&labels(&[
            ("server", "https://spoke-a.example.com:6443"),
            ("metadata.labels.argocd.argoproj.io/secret-type", "cluster"),
        ])));
        assert!(!s.matches(&labels(&[
            ("server", "https://spoke-a.example.com:6443"),
            ("metadata.labels.argocd.argoproj.io/secret-type", "cluster"),
            ("path.basename", "skip"),
        ])));
        // the same value is refused by apimachinery's parser
        assert_eq!(
            Selector::parse(&json!({"matchLabels": {"server": "https://x"}}), Flavor::Labels).unwrap_err(),
            "values[0][server]: Invalid value: \"https://x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
    }

    #[test]
    fn invalid_selectors_are_reported_as_apimachinery_does() {
        assert_eq!(
            Selector::parse(
                &json!({"matchLabels": {"enable_{{ .feature }}": "true"}}),
                Flavor::Labels
            )
            .unwrap_err(),
            "key: Invalid value: \"enable_{{ .feature }}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            Selector::parse(
                &json!({"matchExpressions": [{"key": "env", "operator": "In"}]}),
                Flavor::PostSelector
            )
            .unwrap_err(),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            Selector::parse(
                &json!({"matchExpressions": [{"key": "env", "operator": "Gt", "values": ["1"]}]}),
                Flavor::PostSelector
            )
            .unwrap_err(),
            "\"Gt\" is not a valid pod selector operator"
        );
        assert_eq!(
            Selector::parse(
                &json!({"matchExpressions": [{"key": "a/b/c", "operator": "Exists", "values": ["x"]}]}),
                Flavor::Labels
            )
            .unwrap_err(),
            "[key: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName'), values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist]"
        );
    }
}

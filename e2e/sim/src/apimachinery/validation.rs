//! Name and metadata validation with kube-apiserver's messages.

use serde_json::Value;

use crate::apimachinery::status::Cause;

/// How `metadata.name` is validated (mirrors the per-type name validators of kube-apiserver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most types).
    Subdomain,
    /// DNS-1123 label (namespaces).
    Label,
    /// DNS-1035 label (services).
    Dns1035,
    /// Any path segment name (RBAC types).
    PathSegment,
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Validates `metadata.name` (or a namespace name) by the type's rule.
pub fn name_causes(field: &str, name: &str, rule: NameRule) -> Vec<Cause> {
    let v = Value::String(name.to_string());
    let mut out = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                out.push(Cause::new(
                    "FieldValueInvalid",
                    field,
                    format!("Invalid value: {v}: must be no more than 253 characters"),
                ));
            }
            if !is_dns1123_subdomain(name) && name.len() <= 253 {
                out.push(Cause::invalid(field, &v, SUBDOMAIN_MSG));
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                out.push(Cause::invalid(field, &v, "must be no more than 63 characters"));
            } else if !is_dns1123_label(name) {
                out.push(Cause::invalid(field, &v, LABEL_MSG));
            }
        }
        NameRule::Dns1035 => {
            if name.len() > 63 {
                out.push(Cause::invalid(field, &v, "must be no more than 63 characters"));
            } else if !is_dns1035_label(name) {
                out.push(Cause::invalid(field, &v, DNS1035_MSG));
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                out.push(Cause::invalid(field, &v, format!("may not be '{name}'")));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    out.push(Cause::invalid(field, &v, format!("may not contain '{bad}'")));
                }
            }
        }
    }
    out
}

const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn qualified_name_causes(field: &str, key: &str) -> Vec<Cause> {
    let v = Value::String(key.to_string());
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let mut out = Vec::new();
    if let Some(p) = prefix
        && !is_dns1123_subdomain(p)
    {
        out.push(Cause::invalid(field, &v, format!("prefix part {SUBDOMAIN_MSG}")));
    }
    if name.contains('/') || !is_qualified_name_part(name) {
        out.push(Cause::invalid(field, &v, QUALIFIED_NAME_MSG));
    }
    out
}

/// Validates labels and annotation keys of an object's metadata.
pub fn metadata_causes(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    for (k, v) in crate::apimachinery::meta::string_map(obj, "labels") {
        out.extend(qualified_name_causes("metadata.labels", k));
        let ok = v.is_empty() || is_qualified_name_part(v);
        if !ok {
            out.push(Cause::invalid(
                "metadata.labels",
                &Value::String(v.into()),
                LABEL_VALUE_MSG,
            ));
        }
    }
    for (k, _) in crate::apimachinery::meta::string_map(obj, "annotations") {
        out.extend(qualified_name_causes("metadata.annotations", &k.to_lowercase()));
    }
    let total: usize = crate::apimachinery::meta::string_map(obj, "annotations")
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if total > 262_144 {
        out.push(Cause::new(
            "FieldValueTooLong",
            "metadata.annotations",
            "Too long: may not be more than 262144 bytes",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name_causes("metadata.name", "web-1.example", NameRule::Subdomain).is_empty());
        let c = name_causes("metadata.name", "Web", NameRule::Subdomain);
        assert_eq!(
            c[0].render(),
            format!("metadata.name: Invalid value: \"Web\": {SUBDOMAIN_MSG}")
        );
        assert!(!name_causes("metadata.name", "a.b", NameRule::Label).is_empty());
        assert!(!name_causes("metadata.name", "1abc", NameRule::Dns1035).is_empty());
        assert!(name_causes("metadata.name", "system:controller:x", NameRule::PathSegment).is_empty());
    }
}

//! Variables (`{{ request.object.metadata.name }}`, resolved by JMESPath against the
//! admission request) and `deny.conditions` with Kyverno's operators.

use serde_json::Value;

use super::pattern::{Op, operator_of, parse_duration, parse_quantity, validate_value, wildcard_match};

/// Evaluates a JMESPath expression against the context, with Kyverno's functions
/// ([`super::functions`]) and go-jmespath's error texts.
pub fn query(ctx: &Value, expr: &str) -> Result<Value, String> {
    let data = jmespath::Variable::from_serializable(ctx).map_err(|e| e.to_string())?;
    query_data(&jmespath::Rcvar::new(data), expr)
}

/// [`query`] on a context already converted to JMESPath's values (a rule's context converts
/// once, then queries many times).
pub fn query_data(data: &jmespath::Rcvar, expr: &str) -> Result<Value, String> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err("invalid query (nil)".into());
    }
    let compiled = super::functions::runtime()
        .compile(expr)
        .map_err(|e| format!("incorrect query {expr}: {}", super::functions::error_text(&e)))?;
    let result = compiled
        .search(data.clone())
        .map_err(|e| format!("JMESPath query failed: {}", super::functions::error_text(&e)))?;
    if result.is_null()
        && let Some(key) = unknown_key(compiled.as_ast(), data, expr)
    {
        return Err(format!("JMESPath query failed: Unknown key \"{key}\" in path"));
    }
    serde_json::to_value(&*result).map_err(|e| e.to_string())
}

/// Kyverno's fork of go-jmespath fails a field access on an object without that key
/// (`NotFoundError`, `Unknown key "x" in path`) where JMESPath gives null. The error goes
/// up through `.` and `[n]` chains and is dropped by everything else (`||`, `&&`, `!`,
/// comparisons, function arguments, pipes, projections, multi-selects), so only the chain
/// at the top of the expression can fail: the key it names when it does.
fn unknown_key(ast: &jmespath::ast::Ast, data: &jmespath::Rcvar, expr: &str) -> Option<String> {
    use jmespath::ast::Ast;
    match ast {
        Ast::Field { name, .. } => match &**data {
            jmespath::Variable::Object(m) if !m.contains_key(name) => Some(name.clone()),
            _ => None,
        },
        Ast::Subexpr { offset, lhs, rhs } => {
            // a pipe is a Subexpr too in this crate: it swallows the error
            if expr.chars().nth(*offset) == Some('|') {
                return None;
            }
            if let Some(k) = unknown_key(lhs, data, expr) {
                return Some(k);
            }
            let mut ctx = jmespath::Context::new(expr, super::functions::runtime());
            let left = jmespath::interpret(data, lhs, &mut ctx).ok()?;
            unknown_key(rhs, &left, expr)
        }
        _ => None,
    }
}

/// The `{{ ... }}` references in a string (not preceded by a backslash), as byte ranges.
fn variables(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'{' && b[i + 1] == b'{' && (i == 0 || b[i - 1] != b'\\') {
            if let Some(end) = s[i + 2..].find("}}") {
                out.push((i, i + 2 + end + 2));
                i = i + 2 + end + 2;
                continue;
            }
            break;
        }
        i += 1;
    }
    out
}

/// What `{{ }}` variables are resolved against: a plain JSON context, or a rule's
/// [`crate::context::Context`] (which loads context entries when first named).
pub trait Vars {
    fn query(&self, expr: &str) -> Result<Value, String>;
}

impl Vars for Value {
    fn query(&self, expr: &str) -> Result<Value, String> {
        query(self, expr)
    }
}

fn is_delete(ctx: &dyn Vars) -> bool {
    ctx.query("request.operation")
        .ok()
        .as_ref()
        .and_then(Value::as_str)
        == Some("DELETE")
}

/// Substitutes variables in one string. A string that is exactly one variable takes the
/// variable's value (of any type); otherwise values are spliced in (JSON for non-strings).
pub fn substitute_str(ctx: &dyn Vars, s: &str) -> Result<Value, String> {
    substitute_leaf(ctx, s, "")
}

/// Kyverno's `substituteVariablesIfAny` for one string at `path` (a JSON pointer in the
/// document being substituted): `{{@}}` is the value at that path of `request.object`,
/// `{{- x}}` substitutes once (braces in the value stay escaped), other values are
/// substituted again until no variable is left.
fn substitute_leaf(ctx: &dyn Vars, s: &str, path: &str) -> Result<Value, String> {
    if !s.contains("{{") {
        return Ok(Value::String(s.replace("\\{{", "{{")));
    }
    let delete = is_delete(ctx);
    let mut value = s.to_string();
    let mut guard = 0;
    loop {
        let vars = variables(&value);
        let Some(&(start, end)) = vars.first() else { break };
        guard += 1;
        if guard > 100 {
            return Err(format!(
                "failed to resolve {s} at path {path}: too many nested variables"
            ));
        }
        let inner = &value[start + 2..end - 2];
        let (shallow, inner) = match inner.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let mut expr = inner.trim().to_string();
        if expr == "@" {
            expr = at_path(path);
        }
        if delete {
            expr = expr.replace("request.object", "request.oldObject");
        }
        let resolved = ctx
            .query(&expr)
            .map_err(|e| format!("failed to resolve {expr} at path {path}: {e}"))?;
        if start == 0 && end == value.len() && vars.len() == 1 {
            return Ok(resolved);
        }
        let text = match &resolved {
            Value::String(v) if shallow => v.replace("{{", "\\{{"),
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        value = format!("{}{}{}", &value[..start], text, &value[end..]);
        if shallow {
            break;
        }
    }
    Ok(Value::String(value.replace("\\{{", "{{")))
}

/// `{{@}}` at a pattern path: the same place in `request.object` (the first two path
/// elements, e.g. `validate.pattern`, and everything up to `foreach` skipped by the
/// caller, who passes the path inside the pattern).
fn at_path(path: &str) -> String {
    let mut out = String::from("request.object");
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            out.push_str(&format!(".\"{}\"", seg.replace('"', "\\\"")));
        }
    }
    out
}

/// Substitutes variables in every string (and key) of a JSON value.
pub fn substitute(ctx: &dyn Vars, v: &Value) -> Result<Value, String> {
    substitute_at(ctx, v, "")
}

fn substitute_at(ctx: &dyn Vars, v: &Value, path: &str) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => substitute_leaf(ctx, s, path)?,
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| substitute_at(ctx, x, &format!("{path}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                let at = format!("{path}/{k}");
                let key = match substitute_leaf(ctx, k, &at)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, substitute_at(ctx, x, &at)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// `fmt.Sprint` of a decoded JSON value.
fn sprint(v: &Value) -> String {
    super::pattern::go_display(v)
}

fn equals(key: &Value, value: &Value) -> bool {
    match key {
        Value::Null => false,
        Value::Bool(k) => value.as_bool() == Some(*k),
        Value::Number(k) => {
            let v = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) if k.is_f64() => s.parse::<f64>().ok(),
                Value::String(s) => s.parse::<i64>().ok().map(|i| i as f64),
                _ => None,
            };
            v.is_some() && v == k.as_f64()
        }
        Value::String(k) => {
            if let (Some(a), Some(b)) = (parse_duration(k), value.as_str().and_then(parse_duration)) {
                return a == b;
            }
            if let Some(a) = parse_quantity(k)
                && let Some(s) = value.as_str()
            {
                return parse_quantity(s) == Some(a);
            }
            value.as_str().is_some_and(|v| wildcard_match(v, k))
        }
        Value::Array(_) | Value::Object(_) => key == value,
    }
}

/// The values a set operator compares against: an array, a JSON array in a string, or a
/// single value.
fn value_set(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(a) => Some(a.iter().map(sprint).collect()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => Some(a.iter().map(sprint).collect()),
            Ok(Value::String(_)) | Err(_) => Some(vec![s.clone()]),
            Ok(_) => None,
        },
        Value::Number(_) | Value::Bool(_) => Some(vec![sprint(value)]),
        _ => None,
    }
}

fn key_set(key: &Value) -> Option<Vec<String>> {
    match key {
        Value::Array(a) => Some(a.iter().map(sprint).collect()),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(vec![sprint(key)]),
        _ => None,
    }
}

fn in_set(k: &str, set: &[String], range: Option<&str>) -> bool {
    if let Some(r) = range {
        return validate_value(&Value::String(k.to_string()), &Value::String(r.to_string()));
    }
    set.iter().any(|v| wildcard_match(k, v) || wildcard_match(v, k))
}

fn range_of(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| operator_of(s) == Op::InRange)
}

fn numeric(key: &Value, value: &Value, op: Op) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    let holds = |ord: std::cmp::Ordering| match op {
        Op::More => ord.is_gt(),
        Op::MoreEqual => ord.is_ge(),
        Op::Less => ord.is_lt(),
        Op::LessEqual => ord.is_le(),
        _ => false,
    };
    if let (Some(a), Some(b)) = (num(key), num(value)) {
        return a.partial_cmp(&b).is_some_and(holds);
    }
    let (Some(ks), Some(vs)) = (key.as_str(), value.as_str()) else {
        return false;
    };
    if let (Some(a), Some(b)) = (parse_duration(ks), parse_duration(vs)) {
        return holds(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (parse_quantity(ks), parse_quantity(vs)) {
        return holds(a.cmp(&b));
    }
    false
}

/// Applies a condition operator (case-insensitive, as Kyverno reads it).
pub fn apply_operator(operator: &str, key: &Value, value: &Value) -> Result<bool, String> {
    let keys = key_set(key);
    let values = value_set(value);
    let range = range_of(value);
    let any_in = || match (&keys, &values) {
        (Some(k), Some(v)) => k.iter().any(|k| in_set(k, v, range)),
        _ => false,
    };
    let all_in = || match (&keys, &values) {
        (Some(k), Some(v)) => k.iter().all(|k| in_set(k, v, range)),
        _ => false,
    };
    let set_op_valid = keys.is_some() && values.is_some();
    Ok(match operator.to_ascii_lowercase().as_str() {
        "equal" | "equals" => equals(key, value),
        "notequal" | "notequals" => !equals(key, value),
        "in" | "allin" => all_in(),
        "anyin" => any_in(),
        "notin" | "allnotin" => set_op_valid && !any_in(),
        "anynotin" => set_op_valid && !all_in(),
        "greaterthan" | "durationgreaterthan" => numeric(key, value, Op::More),
        "greaterthanorequals" | "durationgreaterthanorequals" => numeric(key, value, Op::MoreEqual),
        "lessthan" | "durationlessthan" => numeric(key, value, Op::Less),
        "lessthanorequals" | "durationlessthanorequals" => numeric(key, value, Op::LessEqual),
        other => return Err(format!("unknown operator {other:?}")),
    })
}

/// One condition: `{key, operator, value, message}`.
fn evaluate(ctx: &dyn Vars, c: &Value) -> Result<(bool, String), String> {
    let key = substitute(ctx, c.get("key").unwrap_or(&Value::Null))
        .map_err(|e| format!("failed to substitute variables in condition key: {e}"))?;
    let value = substitute(ctx, c.get("value").unwrap_or(&Value::Null))
        .map_err(|e| format!("failed to substitute variables in condition value: {e}"))?;
    let op = c.get("operator").and_then(Value::as_str).unwrap_or("");
    let message = c.get("message").and_then(Value::as_str).unwrap_or("").to_string();
    Ok((apply_operator(op, &key, &value)?, message))
}

fn join_non_empty(parts: &[String], sep: &str) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(sep)
}

/// `{any: [...], all: [...]}` (or the older plain list, all of which must hold): whether the
/// conditions hold, and the messages of the conditions that decided it.
pub fn evaluate_conditions(ctx: &dyn Vars, conditions: &Value) -> Result<(bool, String), String> {
    if let Value::Array(list) = conditions {
        let mut trues = Vec::new();
        for c in list {
            let (ok, msg) = evaluate(ctx, c)?;
            if !ok {
                return Ok((false, msg));
            }
            trues.push(msg);
        }
        return Ok((true, join_non_empty(&trues, ";")));
    }
    let mut any_ok = true;
    let mut all_ok = true;
    let mut falses = Vec::new();
    let mut trues = Vec::new();
    if let Some(any) = conditions.get("any").and_then(Value::as_array) {
        any_ok = false;
        for c in any {
            let (ok, msg) = evaluate(ctx, c)?;
            if ok {
                any_ok = true;
                trues.push(msg);
                break;
            }
            falses.push(msg);
        }
    }
    for c in conditions
        .get("all")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (ok, msg) = evaluate(ctx, c)?;
        if !ok {
            all_ok = false;
            falses.push(msg);
            break;
        }
        trues.push(msg);
    }
    if any_ok && all_ok {
        Ok((true, join_non_empty(&trues, "; ")))
    } else {
        Ok((false, join_non_empty(&falses, "; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Value {
        json!({"request": {"operation": "CREATE", "object": {
            "metadata": {"name": "web", "namespace": "default", "labels": {"team": "a"}},
            "spec": {"replicas": 3, "containers": [{"image": "nginx:1.27"}, {"image": "busybox:latest"}]},
        }}})
    }

    #[test]
    fn substitution() {
        let c = ctx();
        assert_eq!(
            substitute_str(&c, "{{ request.object.spec.replicas }}").unwrap(),
            json!(3)
        );
        assert_eq!(
            substitute_str(
                &c,
                "Pod {{request.object.metadata.name}} in {{ request.object.metadata.namespace }}"
            )
            .unwrap(),
            json!("Pod web in default")
        );
        assert_eq!(
            substitute_str(&c, "{{ request.object.spec.containers[].image }}").unwrap(),
            json!(["nginx:1.27", "busybox:latest"])
        );
        assert_eq!(
            substitute_str(&c, "n={{ request.object.spec.replicas }}").unwrap(),
            json!("n=3")
        );
        assert_eq!(
            substitute_str(&c, "literal \\{{ x }}").unwrap(),
            json!("literal {{ x }}")
        );
    }

    #[test]
    fn missing_keys_fail_as_in_kyvernos_jmespath() {
        let c = ctx();
        let err = |q: &str| query(&c, q).unwrap_err();
        assert_eq!(
            err("request.object.metadata.labels.owner"),
            "JMESPath query failed: Unknown key \"owner\" in path"
        );
        assert_eq!(
            err("request.object.metadata.annotations.owner"),
            "JMESPath query failed: Unknown key \"annotations\" in path"
        );
        assert_eq!(
            err("request.object.spec.containers[0].ports"),
            "JMESPath query failed: Unknown key \"ports\" in path"
        );
        // dropped by ||, functions, pipes, projections, comparisons
        assert_eq!(
            query(&c, "request.object.metadata.labels.owner || 'none'").unwrap(),
            json!("none")
        );
        assert_eq!(
            query(&c, "to_string(request.object.metadata.labels.owner)").unwrap(),
            json!("null")
        );
        assert_eq!(
            query(&c, "request.object.metadata | labels.owner").unwrap(),
            json!(null)
        );
        assert_eq!(
            query(&c, "request.object.spec.containers[*].ports").unwrap(),
            json!([])
        );
        assert_eq!(
            query(&c, "request.object.metadata.labels.owner == null").unwrap(),
            json!(true)
        );
        // a field of a non-object is null, not an error
        assert_eq!(
            query(&c, "request.object.metadata.name.first").unwrap(),
            json!(null)
        );
        assert_eq!(
            substitute_str(&c, "{{ request.object.metadata.labels.owner }}").unwrap_err(),
            "failed to resolve request.object.metadata.labels.owner at path : JMESPath query failed: Unknown key \"owner\" in path"
        );
    }

    #[test]
    fn operators() {
        let t = |op: &str, k: Value, v: Value| apply_operator(op, &k, &v).unwrap();
        assert!(t("Equals", json!("CREATE"), json!("CREATE")));
        assert!(t("Equals", json!("nginx:1.27"), json!("nginx:*")));
        assert!(t("NotEquals", json!("default"), json!("kube-system")));
        assert!(t("Equals", json!(3), json!(3)));
        assert!(t("Equals", json!("1Gi"), json!("1024Mi")));
        assert!(t("AnyIn", json!(["a", "b"]), json!(["b", "c"])));
        assert!(!t("AllIn", json!(["a", "b"]), json!(["b", "c"])));
        assert!(t("AllIn", json!(["a", "b"]), json!(["a", "b", "c"])));
        assert!(t("AnyNotIn", json!(["a", "z"]), json!(["a", "b"])));
        assert!(t("AllNotIn", json!(["y", "z"]), json!(["a", "b"])));
        assert!(t("In", json!("default"), json!(["default", "dev"])));
        assert!(t("NotIn", json!("prod"), json!(["default", "dev"])));
        assert!(t("AnyIn", json!("5"), json!("1-10")));
        assert!(t("GreaterThan", json!(5), json!(3)));
        assert!(t("LessThanOrEquals", json!("512Mi"), json!("1Gi")));
        assert!(t("GreaterThanOrEquals", json!("2h"), json!("30m")));
        assert!(apply_operator("Bogus", &json!(1), &json!(1)).is_err());
    }

    #[test]
    fn any_all() {
        let c = ctx();
        let conds = json!({"any": [
            {"key": "{{ request.object.metadata.namespace }}", "operator": "Equals", "value": "kube-system", "message": "system"},
            {"key": "{{ request.object.spec.replicas }}", "operator": "GreaterThan", "value": 2, "message": "too many replicas"},
        ]});
        assert_eq!(
            evaluate_conditions(&c, &conds).unwrap(),
            (true, "too many replicas".into())
        );
        let conds = json!({"all": [
            {"key": "{{ request.operation }}", "operator": "Equals", "value": "CREATE"},
            {"key": "{{ request.object.metadata.labels.team }}", "operator": "Equals", "value": "b", "message": "not team b"},
        ]});
        assert_eq!(
            evaluate_conditions(&c, &conds).unwrap(),
            (false, "not team b".into())
        );
    }
}

//! values.schema.json (chartutil.ValidateAgainstSchema): each chart's values validated
//! against its schema, errors texted as gojsonschema's (`- field: description`).

use crate::value::{GoMap, Value};

use super::Chart;

/// Values as JSON after Helm's YAML round trip (integral floats become integers).
pub(crate) fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) | Value::Int64(i) => (*i).into(),
        Value::Uint8(u) => (*u).into(),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                (*f as i64).into()
            } else {
                serde_json::Number::from_f64(*f)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::String(s) => s.clone().into(),
        Value::Slice(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.entries().into_iter().map(|(k, v)| (k, to_json(&v))).collect())
        }
        Value::Object(o) => o.to_json().unwrap_or(serde_json::Value::Null),
        Value::Func(_) => serde_json::Value::Null,
    }
}

/// Validates the chart's values and its subcharts' (their tables) against their schemas.
pub fn validate_against_schema(chart: &Chart, values: &GoMap) -> Result<(), String> {
    let mut sb = String::new();
    if let Some(Err(e)) = chart.schema.as_ref().map(|s| validate_single(values, s)) {
        sb.push_str(&format!("{}:\n{e}", chart.name()));
    }
    for sub in &chart.dependencies {
        let sv = match values.get(sub.name()) {
            Some(Value::Map(m)) => m,
            _ => GoMap::default(),
        };
        if let Err(e) = validate_against_schema(sub, &sv) {
            sb.push_str(&e);
        }
    }
    if sb.is_empty() { Ok(()) } else { Err(sb) }
}

fn json_type_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) => {
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) {
                "integer"
            } else {
                "number"
            }
        }
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// gojsonschema's field: the context `(root).a.b` without `(root).`.
fn field_of(pointer: &str) -> String {
    if pointer.is_empty() || pointer == "/" {
        return "(root)".into();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn num(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => n.to_string(),
        v => v.to_string(),
    }
}

/// Validates one chart's values (`ValidateAgainstSingleSchema`).
pub fn validate_single(values: &GoMap, schema: &[u8]) -> Result<(), String> {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let schema: serde_json::Value =
        serde_json::from_slice(schema).map_err(|e| format!("unable to parse values.schema.json: {e}"))?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
    let instance = to_json(&Value::Map(values.clone()));
    let mut out = String::new();
    for e in validator.iter_errors(&instance) {
        let field = field_of(&e.instance_path().to_string());
        let given = json_type_of(e.instance());
        let desc = match e.kind() {
            K::Required { property } => {
                format!(
                    "{} is required",
                    property
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| property.to_string())
                )
            }
            K::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => t.to_string(),
                    TypeKind::Multiple(ts) => {
                        format!(
                            "[{}]",
                            ts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",")
                        )
                    }
                };
                format!("Invalid type. Expected: {expected}, given: {given}")
            }
            K::Enum { options } => {
                let allowed: Vec<String> = match &**options {
                    serde_json::Value::Array(a) => a.iter().map(|x| x.to_string()).collect(),
                    v => vec![v.to_string()],
                };
                format!("{field} must be one of the following: {}", allowed.join(", "))
            }
            K::Constant { expected_value } => format!("{field} does not match: {expected_value}"),
            K::AdditionalProperties { unexpected } => {
                // gojsonschema reports each property on its own line
                for p in unexpected.iter().skip(1) {
                    out.push_str(&format!("- {field}: Additional property {p} is not allowed\n"));
                }
                format!(
                    "Additional property {} is not allowed",
                    unexpected.first().cloned().unwrap_or_default()
                )
            }
            K::MinLength { limit } => format!("String length must be greater than or equal to {limit}"),
            K::MaxLength { limit } => format!("String length must be less than or equal to {limit}"),
            K::Pattern { pattern } => format!("Does not match pattern '{pattern}'"),
            K::Format { format } => format!("Does not match format '{format}'"),
            K::Minimum { limit } => format!("Must be greater than or equal to {}", num(limit)),
            K::ExclusiveMinimum { limit } => format!("Must be greater than {}", num(limit)),
            K::Maximum { limit } => format!("Must be less than or equal to {}", num(limit)),
            K::ExclusiveMaximum { limit } => format!("Must be less than {}", num(limit)),
            K::MultipleOf { multiple_of } => format!("Must be a multiple of {multiple_of}"),
            K::MinItems { limit } => format!("Array must have at least {limit} items"),
            K::MaxItems { limit } => format!("Array must have at most {limit} items"),
            K::UniqueItems => format!("{given} items must be unique"),
            K::MinProperties { limit } => format!("Must have at least {limit} properties"),
            K::MaxProperties { limit } => format!("Must have at most {limit} properties"),
            K::AnyOf { .. } => "Must validate at least one schema (anyOf)".into(),
            K::OneOfNotValid { .. } | K::OneOfMultipleValid { .. } => {
                "Must validate one and only one schema (oneOf)".into()
            }
            K::Not { .. } => "Must not validate the schema (not)".into(),
            K::FalseSchema => "False always fails validation".into(),
            K::Contains => "At least one of the items must match".into(),
            K::AdditionalItems { .. } => "No additional items allowed on array".into(),
            _ => e.to_string(),
        };
        out.push_str(&format!("- {field}: {desc}\n"));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

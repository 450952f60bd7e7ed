//! Kyverno's validation pattern language, evaluated the way Kyverno's engine evaluates it:
//! wildcards (`*`, `?`), operators (`!`, `>`, `<`, `>=`, `<=`, ranges `a-b` and `a!-b`),
//! alternatives (`|`) and conjunctions (`&`), quantities and durations, and the anchors
//! conditional `(key)`, equality `=(key)`, negation `X(key)`, global `<(key)` and
//! existence `^(key)`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// `*` matches any run of characters, `?` any one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub fn contains_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// An anchor on a pattern key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Condition,
    Global,
    Negation,
    AddIfNotPresent,
    Equality,
    Existence,
}

/// Parses `(key)`, `<(key)`, `X(key)`, `+(key)`, `=(key)`, `^(key)`.
pub fn parse_anchor(key: &str) -> Option<(Anchor, &str)> {
    let key = key.trim();
    let (kind, rest) = match key.chars().next()? {
        '<' => (Anchor::Global, &key[1..]),
        'X' => (Anchor::Negation, &key[1..]),
        '+' => (Anchor::AddIfNotPresent, &key[1..]),
        '=' => (Anchor::Equality, &key[1..]),
        '^' => (Anchor::Existence, &key[1..]),
        _ => (Anchor::Condition, key),
    };
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    if inner.is_empty() {
        return None;
    }
    Some((kind, inner))
}

fn anchor_string(kind: Anchor, key: &str) -> String {
    let m = match kind {
        Anchor::Condition => "",
        Anchor::Global => "<",
        Anchor::Negation => "X",
        Anchor::AddIfNotPresent => "+",
        Anchor::Equality => "=",
        Anchor::Existence => "^",
    };
    format!("{m}({key})")
}

/// Why a pattern did not match.
#[derive(Clone, Debug)]
pub enum PatternErr {
    /// A conditional, global or negation anchor did not hold.
    Anchor(Anchor, String),
    /// A nested pattern error (what Kyverno's PatternError carries).
    Pattern {
        message: String,
        path: String,
        skip: bool,
    },
    Other(String),
}

impl PatternErr {
    pub fn message(&self) -> &str {
        match self {
            PatternErr::Anchor(_, m) | PatternErr::Other(m) => m,
            PatternErr::Pattern { message, .. } => message,
        }
    }
    fn conditional(msg: &str) -> Self {
        PatternErr::Anchor(Anchor::Condition, format!("conditional anchor mismatch: {msg}"))
    }
    fn global(msg: &str) -> Self {
        PatternErr::Anchor(Anchor::Global, format!("global anchor mismatch: {msg}"))
    }
    fn negation(msg: &str) -> Self {
        PatternErr::Anchor(
            Anchor::Negation,
            format!("negation anchor matched in resource: {msg}"),
        )
    }
    /// Conditional and global anchors that do not hold mean the rule does not apply.
    fn is_skip(&self) -> bool {
        match self {
            PatternErr::Anchor(Anchor::Condition | Anchor::Global, _) => true,
            PatternErr::Anchor(..) => false,
            other => {
                let m = other.message();
                m.contains("conditional anchor mismatch") || m.contains("global anchor mismatch")
            }
        }
    }
    fn is_fail(&self) -> bool {
        match self {
            PatternErr::Anchor(Anchor::Negation, _) => true,
            PatternErr::Anchor(..) => false,
            other => other.message().contains("negation anchor matched in resource"),
        }
    }
    fn is_pattern_error(&self) -> bool {
        matches!(self, PatternErr::Pattern { .. })
    }
}

fn combine(errs: &[PatternErr]) -> String {
    errs.iter()
        .map(PatternErr::message)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The outcome of matching a whole pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchError {
    pub message: String,
    /// Where the resource failed (empty for errors that are not at a path).
    pub path: String,
    /// The rule does not apply (a conditional or global anchor did not hold).
    pub skip: bool,
}

/// Which anchor keys of the pattern the resource has.
#[derive(Default)]
struct AnchorMap(BTreeMap<String, bool>);

impl AnchorMap {
    fn check(&mut self, pattern: &Map<String, Value>, resource: &Value) {
        for key in pattern.keys() {
            if let Some((kind, inner)) = parse_anchor(key)
                && matches!(kind, Anchor::Condition | Anchor::Existence | Anchor::Negation)
            {
                let seen = self.0.entry(key.clone()).or_insert(false);
                if !*seen && has_key(resource, inner) {
                    *seen = true;
                }
            }
        }
    }
    fn keys_missing(&self) -> bool {
        self.0
            .iter()
            .any(|(k, v)| !*v && !matches!(parse_anchor(k), Some((Anchor::Negation, _))))
    }
}

fn has_key(resource: &Value, key: &str) -> bool {
    match resource {
        Value::Object(m) => m.contains_key(key),
        Value::Array(a) => a.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

/// Matches `resource` against `pattern` from the root.
pub fn match_pattern(resource: &Value, pattern: &Value) -> Result<(), MatchError> {
    let mut ac = AnchorMap::default();
    match validate_element(resource, pattern, "/", &mut ac) {
        Ok(()) => Ok(()),
        Err((path, err)) => {
            let message = err.message().to_string();
            if err.is_skip() {
                return Err(MatchError {
                    message,
                    path: String::new(),
                    skip: true,
                });
            }
            if err.is_fail() {
                return Err(MatchError {
                    message,
                    path,
                    skip: false,
                });
            }
            if ac.keys_missing() {
                return Err(MatchError {
                    message,
                    path: String::new(),
                    skip: false,
                });
            }
            Err(MatchError {
                message,
                path,
                skip: false,
            })
        }
    }
}

type Res = Result<(), (String, PatternErr)>;

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `%v` of a JSON value, as Go prints decoded JSON.
pub fn go_display(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_display).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", go_display(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

fn validate_element(resource: &Value, pattern: &Value, path: &str, ac: &mut AnchorMap) -> Res {
    match pattern {
        Value::Object(pm) => {
            let Value::Object(rm) = resource else {
                return Err((
                    path.to_string(),
                    PatternErr::Other(format!(
                        "pattern and resource have different structures. Path: {path}. Expected {}, found {}",
                        go_type(pattern),
                        go_type(resource)
                    )),
                ));
            };
            ac.check(pm, resource);
            validate_map(rm, pm, path, ac)
        }
        Value::Array(pa) => {
            let Value::Array(ra) = resource else {
                return Err((
                    path.to_string(),
                    PatternErr::Other(format!(
                        "validation rule failed at path {path}, resource does not satisfy the expected overlay pattern"
                    )),
                ));
            };
            validate_array(ra, pa, path, ac)
        }
        _ => {
            let bad = || {
                Err((
                    path.to_string(),
                    PatternErr::Other(format!(
                        "resource value '{}' does not match '{}' at path {path}",
                        go_display(resource),
                        go_display(pattern)
                    )),
                ))
            };
            match resource {
                Value::Array(items) => {
                    for item in items {
                        if !validate_value(item, pattern) {
                            return bad();
                        }
                    }
                    Ok(())
                }
                _ if !validate_value(resource, pattern) => bad(),
                _ => Ok(()),
            }
        }
    }
}

/// Expands wildcard keys of `metadata.labels` / `metadata.annotations` in the pattern to the
/// resource's matching keys (values are matched later).
fn expand_metadata(pattern: &Map<String, Value>, resource: &Map<String, Value>) -> Map<String, Value> {
    let mut out = pattern.clone();
    let Some((meta_key, Value::Object(pmeta))) = pattern
        .iter()
        .find(|(k, _)| *k == "metadata" || parse_anchor(k).is_some_and(|(_, i)| i == "metadata"))
        .map(|(k, v)| (k.clone(), v.clone()))
    else {
        return out;
    };
    let Some(Value::Object(rmeta)) = resource.get("metadata") else {
        return out;
    };
    let mut pmeta = pmeta.clone();
    for tag in ["labels", "annotations"] {
        let Some((tag_key, Value::Object(pdata))) = pmeta
            .iter()
            .find(|(k, _)| *k == tag || parse_anchor(k).is_some_and(|(_, i)| i == tag))
            .map(|(k, v)| (k.clone(), v.clone()))
        else {
            continue;
        };
        let Some(Value::Object(rdata)) = rmeta.get(tag) else {
            continue;
        };
        let mut expanded = Map::new();
        for (k, v) in &pdata {
            let Value::String(_) = v else { continue };
            if !contains_wildcard(k) {
                expanded.insert(k.clone(), v.clone());
                continue;
            }
            let (anchor, inner) = match parse_anchor(k) {
                Some((a, i)) => (Some(a), i.to_string()),
                None => (None, k.clone()),
            };
            let matched = rdata
                .keys()
                .find(|rk| wildcard_match(&inner, rk))
                .cloned()
                .unwrap_or(inner);
            let key = match anchor {
                Some(a) => anchor_string(a, &matched),
                None => matched,
            };
            expanded.insert(key, v.clone());
        }
        pmeta.insert(tag_key, Value::Object(expanded));
    }
    out.insert(meta_key, Value::Object(pmeta));
    out
}

fn has_nested_anchors(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| {
            parse_anchor(k).is_some_and(|(a, _)| a != Anchor::AddIfNotPresent) || has_nested_anchors(v)
        }),
        Value::Array(a) => a.iter().any(has_nested_anchors),
        _ => false,
    }
}

fn validate_map(
    resource: &Map<String, Value>,
    pattern: &Map<String, Value>,
    path: &str,
    ac: &mut AnchorMap,
) -> Res {
    let pattern = expand_metadata(pattern, resource);
    let mut anchors: Vec<(&String, &Value)> = Vec::new();
    let mut plain: Vec<(&String, &Value)> = Vec::new();
    for (k, v) in &pattern {
        match parse_anchor(k) {
            Some((Anchor::Condition | Anchor::Existence | Anchor::Equality | Anchor::Negation, _)) => {
                anchors.push((k, v))
            }
            _ => plain.push((k, v)),
        }
    }
    anchors.sort_by(|a, b| a.0.cmp(b.0));
    let mut skips: Vec<PatternErr> = Vec::new();
    let mut applied = 0;
    for (key, value) in anchors {
        if let Err((p, err)) = handle(key, value, resource, path, ac) {
            if err.is_skip() {
                skips.push(err);
                continue;
            }
            if !skips.iter().any(|s| !s.is_pattern_error()) {
                return Err((p, err));
            }
            continue;
        }
        applied += 1;
    }
    if !skips.is_empty() && (applied == 0 || skips.iter().any(|s| !s.is_pattern_error())) {
        return Err(skip_error(path, &skips));
    }
    // globals and keys with nested anchors first, in reverse sorted order (as pushed to the front)
    plain.sort_by(|a, b| a.0.cmp(b.0));
    let mut front: Vec<(&String, &Value)> = Vec::new();
    let mut back: Vec<(&String, &Value)> = Vec::new();
    for (k, v) in plain {
        if matches!(parse_anchor(k), Some((Anchor::Global, _))) || has_nested_anchors(v) {
            front.insert(0, (k, v));
        } else {
            back.push((k, v));
        }
    }
    for (key, value) in front.into_iter().chain(back) {
        handle(key, value, resource, path, ac)?;
    }
    Ok(())
}

fn handle(key: &str, pattern: &Value, resource: &Map<String, Value>, path: &str, ac: &mut AnchorMap) -> Res {
    let Some((kind, inner)) = parse_anchor(key) else {
        let current = format!("{path}{key}/");
        let value = resource.get(key).unwrap_or(&Value::Null);
        if pattern == "*" {
            if value.is_null() {
                return Err((
                    path.to_string(),
                    PatternErr::Other(format!("{path}/{key} not found")),
                ));
            }
            return Ok(());
        }
        return validate_element(value, pattern, &current, ac);
    };
    let current = format!("{path}{inner}/");
    let value = resource.get(inner);
    match kind {
        Anchor::Negation => match value {
            Some(_) => Err((
                current.clone(),
                PatternErr::negation(&format!("{current} is not allowed")),
            )),
            None => Ok(()),
        },
        Anchor::Equality => match value {
            Some(v) => validate_element(v, pattern, &current, ac),
            None => Ok(()),
        },
        Anchor::Condition => match value {
            Some(v) => validate_element(v, pattern, &current, ac)
                .map_err(|(p, e)| (p, PatternErr::conditional(e.message()))),
            None => Err((
                current,
                PatternErr::conditional("conditional anchor key doesn't exist in the resource"),
            )),
        },
        Anchor::Global => match value {
            Some(v) => validate_element(v, pattern, &current, ac)
                .map_err(|(p, e)| (p, PatternErr::global(e.message()))),
            None => Ok(()),
        },
        Anchor::Existence => match value {
            None => Ok(()),
            Some(Value::Array(items)) => {
                let Value::Array(patterns) = pattern else {
                    return Err((
                        current,
                        PatternErr::Other(format!(
                            "invalid pattern type {}: Pattern has to be of list to compare against resource",
                            go_type(pattern)
                        )),
                    ));
                };
                for p in patterns {
                    if !p.is_object() {
                        return Err((
                            current,
                            PatternErr::Other(format!(
                                "invalid pattern type {}: Pattern has to be of type map to compare against items in resource",
                                go_type(pattern)
                            )),
                        ));
                    }
                    let found = items
                        .iter()
                        .enumerate()
                        .any(|(i, item)| validate_element(item, p, &format!("{current}{i}/"), ac).is_ok());
                    if !found {
                        return Err((
                            current.clone(),
                            PatternErr::Other(format!(
                                "existence anchor validation failed at path {current}"
                            )),
                        ));
                    }
                }
                Ok(())
            }
            Some(other) => Err((
                current,
                PatternErr::Other(format!(
                    "invalid resource type {}: Existence ^ () anchor can be used only on list/array type resource",
                    go_type(other)
                )),
            )),
        },
        // add-if-not-present is a mutation anchor; in validation it is a plain key
        Anchor::AddIfNotPresent => validate_element(
            resource.get(key).unwrap_or(&Value::Null),
            pattern,
            &format!("{path}{key}/"),
            ac,
        ),
    }
}

fn skip_error(path: &str, skips: &[PatternErr]) -> (String, PatternErr) {
    (
        path.to_string(),
        PatternErr::Pattern {
            message: combine(skips),
            path: path.to_string(),
            skip: true,
        },
    )
}

/// Validates (resource, pattern) pairs at `path/<index>/`; when every one was skipped by
/// an anchor, the whole list is skipped.
fn validate_items<'a>(
    pairs: impl Iterator<Item = (&'a Value, &'a Value)>,
    path: &str,
    ac: &mut AnchorMap,
) -> Res {
    let mut applied = 0;
    let mut skips = Vec::new();
    for (i, (item, p)) in pairs.enumerate() {
        match validate_element(item, p, &format!("{path}{i}/"), ac) {
            Ok(()) => applied += 1,
            Err((_, e)) if e.is_skip() => skips.push(e),
            Err(e) => return Err(e),
        }
    }
    if applied == 0 && !skips.is_empty() {
        return Err(skip_error(path, &skips));
    }
    Ok(())
}

fn validate_array(resource: &[Value], pattern: &[Value], path: &str, ac: &mut AnchorMap) -> Res {
    let Some(first) = pattern.first() else {
        return Err((path.to_string(), PatternErr::Other("pattern Array empty".into())));
    };
    match first {
        // every element against the one map pattern
        Value::Object(_) => validate_items(resource.iter().map(|item| (item, first)), path, ac),
        Value::Array(_) => {
            if resource.len() < pattern.len() {
                return Err((
                    String::new(),
                    PatternErr::Other(format!(
                        "validate Array failed, array length mismatch, resource Array len is {} and pattern Array len is {}",
                        resource.len(),
                        pattern.len()
                    )),
                ));
            }
            validate_items(resource.iter().zip(pattern.iter()), path, ac)
        }
        _ => validate_element(&Value::Array(resource.to_vec()), first, path, ac),
    }
}

// ---- values ----

/// Does one resource value satisfy one elementary pattern?
pub fn validate_value(value: &Value, pattern: &Value) -> bool {
    match pattern {
        Value::Bool(b) => value.as_bool() == Some(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => int_equals(value, i),
            (None, Some(f)) => float_equals(value, f),
            _ => false,
        },
        Value::Null => match value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            _ => false,
        },
        Value::Object(_) => value.is_object(),
        Value::String(p) => string_patterns(value, p),
        Value::Array(_) => false,
    }
}

fn int_equals(value: &Value, pattern: i64) -> bool {
    match value {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i == pattern,
            (None, Some(f)) => f.fract() == 0.0 && f as i64 == pattern,
            _ => false,
        },
        Value::String(s) => s.parse::<i64>().ok() == Some(pattern),
        _ => false,
    }
}

fn float_equals(value: &Value, pattern: f64) -> bool {
    match value {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => pattern.fract() == 0.0 && pattern as i64 == i,
            (None, Some(f)) => f == pattern,
            _ => false,
        },
        Value::String(s) => s.parse::<f64>().ok() == Some(pattern),
        _ => false,
    }
}

fn string_patterns(value: &Value, pattern: &str) -> bool {
    if value.as_str() == Some(pattern) {
        return true;
    }
    pattern.split('|').any(|alt| {
        alt.trim_matches(' ')
            .split('&')
            .all(|cond| string_pattern(value, cond.trim_matches(' ')))
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Equal,
    MoreEqual,
    LessEqual,
    NotEqual,
    More,
    Less,
    InRange,
    NotInRange,
}

fn range_parts(pattern: &str, sep: &str) -> Option<(String, String)> {
    // ^([-|+]?\d+(?:\.\d+)?[A-Za-z]*)<sep>([-|+]?\d+(?:\.\d+)?[A-Za-z]*)$
    let re = regex_lite::Regex::new(&format!(
        r"^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*){}([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$",
        regex_lite::escape(sep)
    ))
    .ok()?;
    let c = re.captures(pattern)?;
    Some((c[1].to_string(), c[2].to_string()))
}

pub fn operator_of(pattern: &str) -> Op {
    if pattern.len() < 2 {
        return Op::Equal;
    }
    if pattern.starts_with(">=") {
        Op::MoreEqual
    } else if pattern.starts_with("<=") {
        Op::LessEqual
    } else if pattern.starts_with('>') {
        Op::More
    } else if pattern.starts_with('<') {
        Op::Less
    } else if pattern.starts_with('!') {
        Op::NotEqual
    } else if range_parts(pattern, "!-").is_some() {
        Op::NotInRange
    } else if range_parts(pattern, "-").is_some() {
        Op::InRange
    } else {
        Op::Equal
    }
}

fn string_pattern(value: &Value, pattern: &str) -> bool {
    match operator_of(pattern) {
        Op::InRange => match range_parts(pattern, "-") {
            Some((l, r)) => {
                string_pattern(value, &format!(">= {l}")) && string_pattern(value, &format!("<= {r}"))
            }
            None => false,
        },
        Op::NotInRange => match range_parts(pattern, "!-") {
            Some((l, r)) => {
                string_pattern(value, &format!("< {l}")) || string_pattern(value, &format!("> {r}"))
            }
            None => false,
        },
        op => {
            let len = match op {
                Op::Equal => 0,
                Op::More | Op::Less | Op::NotEqual => 1,
                _ => 2,
            };
            compare(value, pattern[len..].trim(), op)
        }
    }
}

fn number_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("0".into()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(i.to_string()),
            None => n.as_f64().map(|f| format!("{f:.6}")),
        },
        _ => None,
    }
}

fn ordering_holds(ord: std::cmp::Ordering, op: Op) -> Option<bool> {
    use std::cmp::Ordering::*;
    Some(match op {
        Op::Equal => ord == Equal,
        Op::NotEqual => ord != Equal,
        Op::More => ord == Greater,
        Op::Less => ord == Less,
        Op::MoreEqual => ord != Less,
        Op::LessEqual => ord != Greater,
        _ => return None,
    })
}

fn compare(value: &Value, pattern: &str, op: Op) -> bool {
    if let (Some(p), Some(v)) = (
        parse_duration(pattern),
        number_string(value).and_then(|s| parse_duration(&s)),
    ) && let Some(r) = ordering_holds(v.cmp(&p), op)
    {
        return r;
    }
    if let (Some(p), Some(v)) = (
        parse_quantity(pattern),
        number_string(value).and_then(|s| parse_quantity(&s)),
    ) && let Some(r) = ordering_holds(v.cmp(&p), op)
    {
        return r;
    }
    if !matches!(op, Op::Equal | Op::NotEqual) {
        return false;
    }
    let s = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => go_float_e(n.as_f64().unwrap_or(0.0)),
        },
        _ => return false,
    };
    let m = wildcard_match(pattern, &s);
    if op == Op::NotEqual { !m } else { m }
}

/// Go's `strconv.FormatFloat(f, 'E', -1, 64)`.
fn go_float_e(f: f64) -> String {
    let s = format!("{f:E}");
    match s.split_once('E') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}E{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return None;
        }
        let n: f64 = num.parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    let v = total.round() as i128;
    Some(if neg { -v } else { v })
}

/// A Kubernetes resource quantity, as an exact value scaled to 10^-9 (nano units).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i128);

impl Quantity {
    /// The value in nano units (10^-9), for arithmetic on quantities (CEL's `add`, `sub`).
    pub fn nanos(self) -> i128 {
        self.0
    }
}

/// `k8s.io/apimachinery` quantity syntax: a signed decimal number, then a binary suffix
/// (Ki..Ei), a decimal SI suffix (n u m k M G T P E) or a decimal exponent (e3, E-2).
pub fn parse_quantity(s: &str) -> Option<Quantity> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num.matches('.').count() > 1 || num == "." {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        other => {
            let e = other.strip_prefix('e').or_else(|| other.strip_prefix('E'))?;
            exp10 += e.parse::<i32>().ok()?;
        }
    }
    // scale to nano units
    exp10 += 9;
    let mut v = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if exp10 >= 0 {
        v = v.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
    } else {
        let d = 10i128.checked_pow((-exp10) as u32)?;
        // round up, as Kubernetes does for values finer than its precision
        v = (v + d - 1) / d;
    }
    Some(Quantity(if neg { -v } else { v }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("?*", "a"));
        assert!(!wildcard_match("?*", ""));
        assert!(wildcard_match("*:latest", "nginx:latest"));
        assert!(!wildcard_match("*:latest", "nginx:1.27"));
        assert!(wildcard_match("kube-*", "kube-system"));
        assert!(wildcard_match("a?c*e", "abcdde"));
    }

    #[test]
    fn values_operators_quantities_durations() {
        let v = |r: Value, p: Value| validate_value(&r, &p);
        assert!(v(json!("nginx:1.27"), json!("!*:latest")));
        assert!(!v(json!("nginx:latest"), json!("!*:latest")));
        assert!(v(json!(3), json!(">2")));
        assert!(v(json!(3), json!("1-5")));
        assert!(!v(json!(7), json!("1-5")));
        assert!(v(json!(7), json!("1!-5")));
        assert!(v(json!("256Mi"), json!("<=1Gi")));
        assert!(!v(json!("2Gi"), json!("<=1Gi")));
        assert!(v(json!("500m"), json!("<1")));
        assert!(v(json!("100m"), json!("0.1")));
        assert!(v(json!("1024Mi"), json!("1Gi")));
        assert!(v(json!("30s"), json!(">=10s")));
        assert!(v(json!("Always"), json!("Always | IfNotPresent")));
        assert!(!v(json!("Never"), json!("Always | IfNotPresent")));
        assert!(v(json!(4), json!(">1 & <5")));
        assert!(v(json!(true), json!(true)));
        assert!(v(json!(null), json!(null)));
        assert!(v(json!(""), json!(null)));
        assert!(v(json!(80), json!(80)));
        assert!(v(json!("80"), json!(80)));
        assert!(!v(json!(null), json!("?*")));
        assert_eq!(parse_quantity("1.5Gi"), Some(Quantity(1_610_612_736_000_000_000)));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(operator_of("!-5"), Op::NotEqual);
    }

    #[test]
    fn anchors() {
        let pod = json!({"metadata": {"name": "p", "labels": {"app": "web"}}, "spec": {
            "hostNetwork": false,
            "containers": [
                {"name": "a", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent"},
                {"name": "b", "image": "busybox:latest", "imagePullPolicy": "Always"},
            ],
        }});
        // conditional: containers using :latest must pull Always
        let p = json!({"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}});
        assert_eq!(match_pattern(&pod, &p), Ok(()));
        let p = json!({"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "IfNotPresent"}]}});
        let e = match_pattern(&pod, &p).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.skip),
            ("/spec/containers/1/imagePullPolicy/", false)
        );
        // conditional that never holds: the rule does not apply
        let p = json!({"spec": {"containers": [{"(image)": "*:v9", "imagePullPolicy": "Never"}]}});
        assert!(match_pattern(&pod, &p).unwrap_err().skip);
        // equality: if present, must match
        let p = json!({"spec": {"=(hostNetwork)": false}});
        assert_eq!(match_pattern(&pod, &p), Ok(()));
        let p = json!({"spec": {"=(hostNetwork)": true}});
        assert_eq!(match_pattern(&pod, &p).unwrap_err().path, "/spec/hostNetwork/");
        let p = json!({"spec": {"=(hostPID)": true}});
        assert_eq!(match_pattern(&pod, &p), Ok(()));
        // negation
        let p = json!({"spec": {"X(hostNetwork)": "null"}});
        let e = match_pattern(&pod, &p).unwrap_err();
        assert_eq!(e.path, "/spec/hostNetwork/");
        assert_eq!(
            e.message,
            "negation anchor matched in resource: /spec/hostNetwork/ is not allowed"
        );
        // global: a pod with any busybox container must run as non-root
        let p = json!({"spec": {"containers": [{"<(image)": "busybox:*"}], "securityContext": {"runAsNonRoot": true}}});
        assert_eq!(
            match_pattern(&pod, &p).unwrap_err().path,
            "/spec/securityContext/"
        );
        let p = json!({"spec": {"containers": [{"<(image)": "redis:*"}], "securityContext": {"runAsNonRoot": true}}});
        assert!(match_pattern(&pod, &p).unwrap_err().skip);
        // existence: at least one container is nginx
        let p = json!({"spec": {"^(containers)": [{"image": "nginx:*"}]}});
        assert_eq!(match_pattern(&pod, &p), Ok(()));
        let p = json!({"spec": {"^(containers)": [{"image": "redis:*"}]}});
        assert_eq!(match_pattern(&pod, &p).unwrap_err().path, "/spec/containers/");
        // wildcard label keys
        let p = json!({"metadata": {"labels": {"app*": "?*"}}});
        assert_eq!(match_pattern(&pod, &p), Ok(()));
        let p = json!({"metadata": {"labels": {"team": "?*"}}});
        assert_eq!(
            match_pattern(&pod, &p).unwrap_err().path,
            "/metadata/labels/team/"
        );
        // a missing map
        let p = json!({"spec": {"containers": [{"resources": {"limits": {"memory": "?*"}}}]}});
        assert_eq!(
            match_pattern(&pod, &p).unwrap_err().path,
            "/spec/containers/0/resources/"
        );
    }
}

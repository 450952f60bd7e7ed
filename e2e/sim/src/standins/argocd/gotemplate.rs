//! The part of Go's text/template (with Argo CD's sprig functions) that ApplicationSet
//! templates use: `{{ .a.b }}`, `$`, string/number/bool literals, pipelines `|`, parentheses,
//! `if` / `else if` / `else` / `end`, trim markers `{{-` `-}}`, and the functions index,
//! default, normalize, lower, upper, trim, trimPrefix, trimSuffix, trunc, replace, quote,
//! squote, printf, eq, ne, not, and, or, len, toJson, join, hasPrefix, hasSuffix, contains. Missing keys print `<no value>`,
//! or fail with `missingkey=error`.

use serde_json::Value;

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Root(Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    Ident(String),
    Sub(Pipeline),
}

type Pipeline = Vec<Vec<Arg>>;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
}

/// A parsed template.
pub struct Template {
    nodes: Vec<Node>,
}

fn lex(src: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '`' {
            let mut j = i + 1;
            let mut s = String::from(c);
            while j < chars.len() && chars[j] != c {
                if c == '"' && chars[j] == '\\' && j + 1 < chars.len() {
                    s.push(chars[j]);
                    j += 1;
                }
                s.push(chars[j]);
                j += 1;
            }
            if j >= chars.len() {
                return Err(format!("unterminated quoted string in {src:?}"));
            }
            s.push(c);
            out.push(s);
            i = j + 1;
        } else if c == '(' || c == ')' || c == '|' {
            out.push(c.to_string());
            i += 1;
        } else {
            let mut j = i;
            while j < chars.len() && !chars[j].is_whitespace() && !"()|\"`".contains(chars[j]) {
                j += 1;
            }
            out.push(chars[i..j].iter().collect());
            i = j;
        }
    }
    Ok(out)
}

fn parse_pipeline(tokens: &[String], pos: &mut usize) -> Result<Pipeline, String> {
    let mut pipeline = vec![];
    let mut cmd = vec![];
    while *pos < tokens.len() {
        let t = &tokens[*pos];
        *pos += 1;
        match t.as_str() {
            "|" => {
                if cmd.is_empty() {
                    return Err("missing command before '|'".into());
                }
                pipeline.push(std::mem::take(&mut cmd));
            }
            "(" => cmd.push(Arg::Sub(parse_pipeline(tokens, pos)?)),
            ")" => {
                if !cmd.is_empty() {
                    pipeline.push(cmd);
                }
                return Ok(pipeline);
            }
            _ => cmd.push(parse_arg(t)?),
        }
    }
    if !cmd.is_empty() {
        pipeline.push(cmd);
    }
    Ok(pipeline)
}

fn parse_arg(t: &str) -> Result<Arg, String> {
    let path = |s: &str| {
        s.split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    Ok(if t == "." {
        Arg::Field(vec![])
    } else if let Some(rest) = t.strip_prefix('.') {
        Arg::Field(path(rest))
    } else if let Some(rest) = t.strip_prefix('$') {
        Arg::Root(path(rest))
    } else if t.starts_with('"') {
        Arg::Str(serde_json::from_str(t).map_err(|e| format!("bad string {t}: {e}"))?)
    } else if t.starts_with('`') {
        Arg::Str(t[1..t.len() - 1].to_string())
    } else if t == "true" || t == "false" {
        Arg::Bool(t == "true")
    } else if t == "nil" {
        Arg::Nil
    } else if let Ok(n) = t.parse::<f64>() {
        Arg::Num(n)
    } else {
        Arg::Ident(t.to_string())
    })
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, String> {
        // split into text and actions, honouring trim markers
        let mut parts: Vec<(bool, String)> = Vec::new();
        let mut rest = src;
        let mut trim_next = false;
        while let Some(start) = rest.find("{{") {
            let mut text = rest[..start].to_string();
            if trim_next {
                text = text.trim_start().to_string();
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed action in {src:?}"))?;
            let mut action = &after[..end];
            if let Some(a) = action.strip_prefix('-') {
                text = text.trim_end().to_string();
                action = a;
            }
            trim_next = false;
            if let Some(a) = action.strip_suffix('-') {
                trim_next = true;
                action = a;
            }
            parts.push((false, text));
            parts.push((true, action.trim().to_string()));
            rest = &after[end + 2..];
        }
        let mut tail = rest.to_string();
        if trim_next {
            tail = tail.trim_start().to_string();
        }
        parts.push((false, tail));
        let mut pos = 0;
        let (nodes, stop) = parse_nodes(&parts, &mut pos)?;
        if let Some(s) = stop {
            return Err(format!("unexpected {{{{{s}}}}}"));
        }
        Ok(Template { nodes })
    }

    /// Executes with `data` as `.` and `$`.
    pub fn execute(&self, data: &Value, missing_error: bool) -> Result<String, String> {
        let mut out = String::new();
        exec(&self.nodes, data, missing_error, &mut out)?;
        Ok(out)
    }
}

/// Parses nodes until `else`/`end` (returned as the stop keyword).
fn parse_nodes(parts: &[(bool, String)], pos: &mut usize) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *pos < parts.len() {
        let (is_action, s) = &parts[*pos];
        *pos += 1;
        if !is_action {
            if !s.is_empty() {
                nodes.push(Node::Text(s.clone()));
            }
            continue;
        }
        if s == "end" || s == "else" || s.starts_with("else if ") {
            return Ok((nodes, Some(s.clone())));
        }
        if let Some(cond) = s.strip_prefix("if ") {
            let mut branches = Vec::new();
            let mut cond = cond.to_string();
            let mut otherwise = Vec::new();
            loop {
                let tokens = lex(&cond)?;
                let pipeline = parse_pipeline(&tokens, &mut 0)?;
                let (body, stop) = parse_nodes(parts, pos)?;
                branches.push((pipeline, body));
                match stop.as_deref() {
                    Some("end") => break,
                    Some("else") => {
                        let (body, stop) = parse_nodes(parts, pos)?;
                        if stop.as_deref() != Some("end") {
                            return Err("missing {{end}} after {{else}}".into());
                        }
                        otherwise = body;
                        break;
                    }
                    Some(s) if s.starts_with("else if ") => cond = s["else if ".len()..].to_string(),
                    _ => return Err("missing {{end}}".into()),
                }
            }
            nodes.push(Node::If(branches, otherwise));
            continue;
        }
        if s.starts_with("/*") || s.is_empty() {
            continue;
        }
        let tokens = lex(s)?;
        nodes.push(Node::Action(parse_pipeline(&tokens, &mut 0)?));
    }
    Ok((nodes, None))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => crate::standins::kyverno::pattern::go_display(other),
    }
}

fn exec(nodes: &[Node], data: &Value, strict: bool, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&show(&eval_pipeline(p, data, strict)?)),
            Node::If(branches, otherwise) => {
                let mut done = false;
                for (cond, body) in branches {
                    if truthy(&eval_pipeline(cond, data, strict)?) {
                        exec(body, data, strict, out)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    exec(otherwise, data, strict, out)?;
                }
            }
        }
    }
    Ok(())
}

fn lookup(base: &Value, path: &[String], strict: bool) -> Result<Value, String> {
    let mut cur = base.clone();
    for p in path {
        cur = match &cur {
            Value::Object(m) => match m.get(p) {
                Some(v) => v.clone(),
                None if strict => return Err(format!("map has no entry for key {p:?}")),
                None => Value::Null,
            },
            Value::Null => return Err(format!("nil pointer evaluating interface {{}}.{p}")),
            other => return Err(format!("can't evaluate field {p} in type {}", show(other))),
        };
    }
    Ok(cur)
}

fn eval_arg(a: &Arg, data: &Value, strict: bool) -> Result<Value, String> {
    Ok(match a {
        Arg::Field(p) | Arg::Root(p) => lookup(data, p, strict)?,
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Num(n) => serde_json::json!(n),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Nil => Value::Null,
        Arg::Sub(p) => eval_pipeline(p, data, strict)?,
        Arg::Ident(f) => call(f, vec![])?,
    })
}

fn eval_pipeline(p: &Pipeline, data: &Value, strict: bool) -> Result<Value, String> {
    let mut prev: Option<Value> = None;
    for cmd in p {
        let mut args = Vec::new();
        let (head, rest) = cmd.split_first().ok_or("empty command")?;
        let value = match head {
            Arg::Ident(f) => {
                for a in rest {
                    args.push(eval_arg(a, data, strict)?);
                }
                if let Some(v) = prev.take() {
                    args.push(v);
                }
                call(f, args)?
            }
            other => {
                if !rest.is_empty() {
                    return Err(format!("can't give argument to non-function {other:?}"));
                }
                eval_arg(other, data, strict)?
            }
        };
        prev = Some(value);
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => show(other),
    }
}

/// Argo CD's `normalize` (and the clusters generator's `nameNormalized`).
pub fn sanitize_name(name: &str) -> String {
    let lower: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cut: String = lower.chars().take(253).collect();
    cut.trim_matches(|c| c == '-' || c == '.').to_string()
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn call(f: &str, args: Vec<Value>) -> Result<Value, String> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    let last = || args.last().cloned().unwrap_or(Value::Null);
    Ok(match f {
        "index" => {
            let mut cur = arg(0);
            for k in &args[1.min(args.len())..] {
                cur = match (&cur, k) {
                    (Value::Object(m), key) => m.get(&s(key)).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), Value::Number(n)) => a
                        .get(n.as_f64().unwrap_or(-1.0) as usize)
                        .cloned()
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                };
            }
            cur
        }
        "default" => {
            let given = if args.len() > 1 { last() } else { Value::Null };
            if truthy(&given) { given } else { arg(0) }
        }
        "normalize" => Value::String(sanitize_name(&s(&last()))),
        "lower" => Value::String(s(&last()).to_lowercase()),
        "upper" => Value::String(s(&last()).to_uppercase()),
        "trim" => Value::String(s(&last()).trim().to_string()),
        "trunc" => {
            let n = arg(0).as_f64().unwrap_or(0.0) as i64;
            let text = s(&arg(1));
            let len = text.chars().count() as i64;
            Value::String(if n >= 0 {
                text.chars().take(n as usize).collect()
            } else {
                text.chars().skip((len + n).max(0) as usize).collect()
            })
        }
        "replace" => Value::String(s(&arg(2)).replace(&s(&arg(0)), &s(&arg(1)))),
        "quote" => Value::String(format!("{:?}", s(&last()))),
        "squote" => Value::String(format!("'{}'", s(&last()))),
        "printf" => {
            let fmt = s(&arg(0));
            let mut out = String::new();
            let mut rest = args.iter().skip(1);
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '%' {
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some('q') => out.push_str(&format!("{:?}", s(rest.next().unwrap_or(&Value::Null)))),
                        Some(_) => out.push_str(&s(rest.next().unwrap_or(&Value::Null))),
                        None => out.push('%'),
                    }
                } else {
                    out.push(c);
                }
            }
            Value::String(out)
        }
        "eq" => Value::Bool(args.iter().skip(1).any(|b| same(&arg(0), b))),
        "ne" => Value::Bool(!same(&arg(0), &arg(1))),
        "not" => Value::Bool(!truthy(&arg(0))),
        "and" => args.iter().find(|a| !truthy(a)).cloned().unwrap_or_else(last),
        "or" => args.iter().find(|a| truthy(a)).cloned().unwrap_or_else(last),
        "len" => serde_json::json!(match arg(0) {
            Value::String(t) => t.chars().count(),
            Value::Array(a) => a.len(),
            Value::Object(m) => m.len(),
            _ => 0,
        }),
        "toJson" => Value::String(last().to_string()),
        "join" => Value::String(
            arg(1)
                .as_array()
                .map(|a| a.iter().map(s).collect::<Vec<_>>().join(&s(&arg(0))))
                .unwrap_or_default(),
        ),
        "trimSuffix" => Value::String(
            s(&arg(1))
                .strip_suffix(s(&arg(0)).as_str())
                .map(str::to_string)
                .unwrap_or_else(|| s(&arg(1))),
        ),
        "trimPrefix" => Value::String(
            s(&arg(1))
                .strip_prefix(s(&arg(0)).as_str())
                .map(str::to_string)
                .unwrap_or_else(|| s(&arg(1))),
        ),
        "hasPrefix" => Value::Bool(s(&arg(1)).starts_with(&s(&arg(0)))),
        "hasSuffix" => Value::Bool(s(&arg(1)).ends_with(&s(&arg(0)))),
        "contains" => Value::Bool(s(&arg(1)).contains(&s(&arg(0)))),
        other => return Err(format!("function {other:?} not defined")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, data: Value) -> String {
        Template::parse(t).unwrap().execute(&data, false).unwrap()
    }

    #[test]
    fn fields_functions_and_conditions() {
        let d = json!({"name": "Spoke_A", "metadata": {"labels": {"env": "prod", "team-x": "a"}}, "n": 3});
        assert_eq!(run("app-{{.name}}", d.clone()), "app-Spoke_A");
        assert_eq!(run("{{ .name | normalize }}", d.clone()), "spoke-a");
        assert_eq!(run("{{ index .metadata.labels \"team-x\" }}", d.clone()), "a");
        assert_eq!(
            run("{{ .metadata.labels.tier | default \"web\" }}", d.clone()),
            "web"
        );
        assert_eq!(run("{{ .missing }}", d.clone()), "<no value>");
        assert_eq!(
            run(
                "{{ if eq .metadata.labels.env \"prod\" }}p{{ else }}np{{ end }}",
                d.clone()
            ),
            "p"
        );
        assert_eq!(
            run(
                "{{- if .nothing }}x{{ else if .n }}n={{ .n }}{{ end -}}  ",
                d.clone()
            ),
            "n=3"
        );
        assert_eq!(run("{{ trunc 5 (lower .name) }}", d.clone()), "spoke");
        assert_eq!(run("{{ printf \"%s-%s\" .name \"x\" }}", d.clone()), "Spoke_A-x");
        let err = Template::parse("{{ .missing }}")
            .unwrap()
            .execute(&d, true)
            .unwrap_err();
        assert_eq!(err, "map has no entry for key \"missing\"");
    }
}

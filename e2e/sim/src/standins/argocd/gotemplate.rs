//! ApplicationSet Go templates as Argo CD renders them (applicationset/utils, v3.2.0):
//! Go's text/template through hubspoke-render, with sprig's functions minus `env`,
//! `expandenv` and `getHostByName`, plus Argo CD's `normalize`, `slugify`, `toYaml`,
//! `fromYaml` and `fromYamlArray`; `goTemplateOptions` applied as template options; errors
//! wrapped as Argo CD wraps them.

use std::sync::OnceLock;

use hubspoke_render::{Arg, FuncMap, Function, MissingKey, Options, ParamType, Value as GoValue};
use serde_json::Value;

fn funcs() -> &'static FuncMap {
    static F: OnceLock<FuncMap> = OnceLock::new();
    F.get_or_init(|| {
        let mut m = hubspoke_render::sprig::funcs();
        m.remove("getHostByName");
        m.insert(
            "normalize".into(),
            Function::new(vec![ParamType::String], false, "string", false, |a| {
                Ok(Arg::Value(GoValue::String(sanitize_name(
                    a[0].value().as_str().unwrap_or_default(),
                ))))
            }),
        );
        m.insert(
            "slugify".into(),
            Function::new(vec![ParamType::Any], true, "string", false, |a| {
                slugify(a).map(|s| Arg::Value(GoValue::String(s)))
            }),
        );
        m.extend(hubspoke_render::argocd_yaml_funcs());
        m
    })
}

/// Renders `text` with `params` as dot, as Argo CD's `Render.Replace` with goTemplate.
pub fn render(
    text: &str,
    params: &serde_json::Map<String, Value>,
    options: &[String],
) -> Result<String, String> {
    render_data(text, &GoValue::from(Value::Object(params.clone())), options)
}

/// Renders `text` with `data` as dot (the parameters converted once for every string of
/// an Application, as Go executes each with the same map).
pub fn render_data(text: &str, data: &GoValue, options: &[String]) -> Result<String, String> {
    let mut t = hubspoke_render::Template::new("").funcs(funcs().clone());
    t.add_parse("", text)
        .map_err(|e| format!("failed to parse template {text}: {e}"))?;
    let mut opts = Options::default();
    for o in options {
        // Go's Option panics on an unknown option; Argo CD validates them earlier
        match o.strip_prefix("missingkey=").and_then(MissingKey::parse) {
            Some(mk) => opts.missing_key = mk,
            None => return Err(format!("template: unrecognized option: {o}")),
        }
    }
    t.execute(data, &opts)
        .map_err(|e| format!("failed to execute go template {text}: {e}"))
}

/// Argo CD's `SanitizeName` (`normalize`, and the generators' `nameNormalized`): lower
/// case, characters outside `[-a-z0-9.]` become `-`, at most 253 bytes, `-` and `.`
/// trimmed at both ends.
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
    // the regexp replaces each character (not byte), so the result is ASCII
    let cut = &lower[..lower.len().min(253)];
    cut.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// Argo CD's `SlugifyName([maxSize int], [smartTruncate bool], name string)`: the name
/// normalized, then gosimple/slug's Make (for that ASCII input: characters outside
/// `[a-zA-Z0-9_-]` become `-`, runs of `-` collapse, `-`/`_` trimmed) cut to maxSize
/// (default 50): at the last `-` up to it with smart truncation (default on), otherwise
/// before the clean-up.
fn slugify(args: &[Arg]) -> Result<String, String> {
    let mut max = 50usize;
    let mut smart = true;
    let mut name = String::new();
    let n = args.len();
    for (i, a) in args.iter().enumerate() {
        let v = a.value();
        if i + 1 == n {
            match v {
                GoValue::String(s) => name = s,
                v => {
                    return Err(format!(
                        "interface conversion: interface {{}} is {}, not string",
                        v.type_name()
                    ));
                }
            }
        } else if i == 0 {
            match v {
                GoValue::Int(x) => max = x.max(0) as usize,
                v => {
                    return Err(format!(
                        "interface conversion: interface {{}} is {}, not int",
                        v.type_name()
                    ));
                }
            }
        } else if i == 1 {
            match v {
                GoValue::Bool(b) => smart = b,
                v => {
                    return Err(format!(
                        "interface conversion: interface {{}} is {}, not bool",
                        v.type_name()
                    ));
                }
            }
        }
    }
    let mut text = sanitize_name(&name);
    if !smart && text.len() >= max {
        text.truncate(max);
    }
    let mut slug = String::new();
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if c == '-' && slug.ends_with('-') {
            continue;
        }
        slug.push(c);
    }
    let slug = slug.trim_matches(|c| c == '-' || c == '_').to_string();
    if max > 0 && smart && slug.len() > max {
        let bytes = slug.as_bytes();
        for i in (0..=max).rev() {
            if bytes[i] == b'-' {
                return Ok(slug[..i].to_string());
            }
        }
        return Ok(slug[..max].to_string());
    }
    Ok(slug)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, data: Value) -> Result<String, String> {
        render(t, data.as_object().unwrap(), &[])
    }

    #[test]
    fn fields_functions_and_conditions_as_argo_cd() {
        let d = json!({"name": "Spoke_A", "metadata": {"labels": {"env": "prod", "team-x": "a"}}, "n": 3,
            "sync": {}});
        assert_eq!(run("app-{{.name}}", d.clone()).unwrap(), "app-Spoke_A");
        assert_eq!(run("{{ .name | normalize }}", d.clone()).unwrap(), "spoke-a");
        assert_eq!(
            run("{{ index .metadata.labels \"team-x\" }}", d.clone()).unwrap(),
            "a"
        );
        assert_eq!(
            run("{{ .metadata.labels.tier | default \"web\" }}", d.clone()).unwrap(),
            "web"
        );
        // Go's missing-key behaviour: a field of a missing key is missing again
        assert_eq!(
            run("{{ default \"primary\" .sync.phase }}", d.clone()).unwrap(),
            "primary"
        );
        assert_eq!(run("{{ .missing }}", d.clone()).unwrap(), "<no value>");
        // numbers from JSON are float64: Go's eq refuses to compare them with an int
        assert_eq!(
            run("{{ if eq .n 3 }}x{{ end }}", d.clone()).unwrap_err(),
            "failed to execute go template {{ if eq .n 3 }}x{{ end }}: template: :1:6: executing \"\" at <eq .n 3>: error calling eq: incompatible types for comparison"
        );
        assert_eq!(
            run("{{ if gt (int .n) 2 }}big{{ end }}", d.clone()).unwrap(),
            "big"
        );
        assert_eq!(run("{{ .name | slugify }}", d.clone()).unwrap(), "spoke-a");
        assert_eq!(
            render(
                "{{ .missing }}",
                d.as_object().unwrap(),
                &["missingkey=error".into()]
            )
            .unwrap_err(),
            "failed to execute go template {{ .missing }}: template: :1:3: executing \"\" at <.missing>: map has no entry for key \"missing\""
        );
        assert_eq!(
            run("{{ .name", d).unwrap_err(),
            "failed to parse template {{ .name: template: :1: unclosed action"
        );
    }

    #[test]
    fn slugify_cuts_at_a_word_boundary() {
        let d = json!({"n": "Hello World, this is a very long cluster name for slugs"});
        assert_eq!(
            run("{{ slugify 20 true .n }}", d.clone()).unwrap(),
            "hello-world-this-is"
        );
        assert_eq!(
            run("{{ slugify 20 false .n }}", d).unwrap(),
            "hello-world-this-is"
        );
        let d = json!({"n": "abcdefghijklmnopqrstuvwxyz"});
        assert_eq!(run("{{ slugify 10 true .n }}", d).unwrap(), "abcdefghij");
    }
}

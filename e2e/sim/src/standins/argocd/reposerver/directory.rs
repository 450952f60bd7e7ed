//! Directory sources: the YAML and JSON manifests under a path, filtered by the
//! `directory.include` / `directory.exclude` globs, split into objects as Argo CD's repo
//! server splits them (multi-document YAML, JSON objects or arrays, `List` kinds expanded).

use serde_json::Value;

use crate::standins::argocd::repo::SourceFile;

/// Expands `{a,b}` alternatives of a glob.
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_string()];
    };
    let Some(close) = pattern[open..].find('}').map(|c| open + c) else {
        return vec![pattern.to_string()];
    };
    let (head, alts, tail) = (&pattern[..open], &pattern[open + 1..close], &pattern[close + 1..]);
    alts.split(',')
        .flat_map(|a| expand_braces(&format!("{head}{a}{tail}")))
        .collect()
}

/// Argo CD's glob match of a file path relative to the source path.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    expand_braces(pattern)
        .iter()
        .any(|p| hubspoke_kyverno::pattern::wildcard_match(p, path))
}

/// Parses the files of a directory source into objects.
pub fn objects(files: &[SourceFile], include: &str, exclude: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for f in files {
        if !include.is_empty() && !glob_match(include, &f.path) {
            continue;
        }
        if !exclude.is_empty() && glob_match(exclude, &f.path) {
            continue;
        }
        let text = String::from_utf8_lossy(&f.content);
        let docs: Vec<Value> = if f.path.ends_with(".json") {
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(items)) => items,
                Ok(v) => vec![v],
                Err(e) => return Err(format!("Failed to unmarshal {:?}: {e}", f.path)),
            }
        } else {
            serde_saphyr::from_multiple::<Value>(&text)
                .map_err(|e| format!("Failed to unmarshal {:?}: {e}", f.path))?
        };
        for doc in docs {
            push_object(doc, &f.path, &mut out)?;
        }
    }
    Ok(out)
}

fn push_object(doc: Value, file: &str, out: &mut Vec<Value>) -> Result<(), String> {
    match doc {
        Value::Null => Ok(()),
        Value::Object(ref m) if m.is_empty() => Ok(()),
        Value::Object(ref m) => {
            let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind.is_empty()
                || m.get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
            {
                return Err(format!(
                    "Failed to unmarshal {file:?}: Object 'Kind' is missing in '{}'",
                    serde_json::to_string(&doc).unwrap_or_default()
                ));
            }
            if kind.ends_with("List") && m.get("items").is_some_and(Value::is_array) {
                for item in m["items"].as_array().cloned().unwrap_or_default() {
                    push_object(item, file, out)?;
                }
                return Ok(());
            }
            out.push(doc);
            Ok(())
        }
        other => Err(format!(
            "Failed to unmarshal {file:?}: expected an object, found {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            content: content.as_bytes().to_vec(),
        }
    }

    #[test]
    fn documents_lists_and_globs() {
        let files = vec![
            file(
                "a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
            ),
            file(
                "list.json",
                r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}}]}"#,
            ),
            file(
                "skip/x.yml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            ),
        ];
        let names = |objs: Vec<Value>| -> Vec<String> {
            objs.iter()
                .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(objects(&files, "", "").unwrap()), ["a", "b", "c", "x"]);
        assert_eq!(
            names(objects(&files, "*.{yaml,json}", "").unwrap()),
            ["a", "b", "c"]
        );
        assert_eq!(names(objects(&files, "", "skip/*").unwrap()), ["a", "b", "c"]);
        let bad = vec![file("bad.yaml", "metadata: {name: y}\n")];
        assert!(
            objects(&bad, "", "")
                .unwrap_err()
                .contains("Object 'Kind' is missing")
        );
    }
}

//! Kustomize sources as the repo server builds them (`kustomize.Build`): the Application's
//! `kustomize` options become the `kustomize edit` changes Argo CD makes to the
//! kustomization file (name prefix and suffix, images, replicas, labels, annotations,
//! namespace, patches, components — in Argo CD's order, with kustomize's own rules and
//! messages), then the commit is built with the kustomize inside kubectl.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::{Tree, clean_path, split_yaml, str_at};

/// The file names kustomize looks for, in its order.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

pub fn is_kustomization(name: &str) -> bool {
    KUSTOMIZATION_FILES.contains(&name)
}

/// `kustomize edit …` failing as Argo CD reports a failed command.
fn edit_failed(args: &str, msg: impl std::fmt::Display) -> String {
    format!("`kustomize edit {args}` failed exit status 1: Error: {msg}")
}

/// Builds the kustomization at `app_dir` of `tree` with the source's options applied.
pub fn build(
    tree: &Tree,
    app_dir: &str,
    source: &Value,
    env: &[(String, String)],
    build_options: &str,
) -> Result<Vec<Value>, String> {
    // without kustomize options nothing is edited: the build reads the commit's checkout;
    // with them, Argo CD edits the kustomization of a checkout of its own
    let edits = source.get("kustomize").is_some_and(|o| o.is_object());
    if !edits {
        return build_in(tree.checkout()?, app_dir, source, env, build_options);
    }
    let dir = std::env::temp_dir().join(format!(
        "hubspoke-kustomize-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let result = tree
        .link_into(&dir)
        .and_then(|()| build_in(&dir, app_dir, source, env, build_options));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn build_in(
    dir: &Path,
    app_dir: &str,
    source: &Value,
    env: &[(String, String)],
    build_options: &str,
) -> Result<Vec<Value>, String> {
    let app = dir.join(app_dir);
    if let Some(opts) = source.get("kustomize").filter(|o| o.is_object()) {
        edit(&app, dir, app_dir, opts, env)?;
    }
    let mut cmd = std::process::Command::new("kubectl");
    cmd.arg("kustomize");
    let shown_args: Vec<String> = build_options.split_whitespace().map(str::to_string).collect();
    cmd.args(&shown_args);
    cmd.arg(&app)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let shown = format!(
        "kustomize build {}{}",
        if app_dir.is_empty() { "." } else { app_dir },
        shown_args.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    let out = cmd.output().map_err(|e| {
        format!("`{shown}` failed: kubectl, whose kustomize the sim uses, could not run: {e}")
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace(&format!("{}/", dir.display()), "")
            .replace(&dir.display().to_string(), "");
        let stderr = kustomize_error(&stderr);
        return Err(format!(
            "`{shown}` failed exit status {}: {stderr}",
            out.status.code().unwrap_or(-1)
        ));
    }
    split_yaml(&String::from_utf8_lossy(&out.stdout), "kustomize build")
}

/// kubectl's report of a failed `kubectl kustomize` as the kustomize binary Argo CD runs
/// prints it (`Error: <err>`): older kubectl print `error: <err>`, newer ones log it with
/// klog (`E1206 20:11:08.303293 12962 run.go:72] "command failed" err="<Go-quoted err>"`).
fn kustomize_error(stderr: &str) -> String {
    if let Some(rest) = stderr.strip_prefix("error: ") {
        return format!("Error: {rest}");
    }
    const MARK: &str = "\"command failed\" err=\"";
    if let Some(i) = stderr.find(MARK) {
        let quoted = &stderr[i + MARK.len()..];
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return format!("Error: {out}");
    }
    stderr.to_string()
}

/// The kustomization file of `app`, read as YAML.
fn read_kustomization(app: &Path) -> Result<(std::path::PathBuf, Map<String, Value>), String> {
    for name in KUSTOMIZATION_FILES {
        let p = app.join(name);
        if p.is_file() {
            let text = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
            let v: Value = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
            return match v {
                Value::Object(m) => Ok((p, m)),
                Value::Null => Ok((p, Map::new())),
                _ => Err(format!("{name}: not a kustomization (a YAML mapping)")),
            };
        }
    }
    Err("Missing kustomization file 'kustomization.yaml'.".into())
}

/// One `kustomize edit` change to a kustomization.
type Edit = dyn Fn(&mut Map<String, Value>) -> Result<(), String>;

/// Argo CD's edits, in its order.
fn edit(
    app: &Path,
    root: &Path,
    app_dir: &str,
    opts: &Value,
    env: &[(String, String)],
) -> Result<(), String> {
    let subst = |s: &str| hubspoke_render::strvals::argocd_envsubst(s, env);
    let mut changes: Vec<(String, Box<Edit>)> = Vec::new();
    // `kustomize edit set <what> -- VALUE`: one field of the kustomization
    let set_field =
        |changes: &mut Vec<(String, Box<Edit>)>, option: &str, what: &str, field: &'static str| {
            let value = str_at(opts, option).to_string();
            if !value.is_empty() {
                changes.push((
                    format!("set {what} -- {value}"),
                    Box::new(move |m| {
                        m.insert(field.into(), json!(value));
                        Ok(())
                    }),
                ));
            }
        };
    set_field(&mut changes, "/namePrefix", "nameprefix", "namePrefix");
    set_field(&mut changes, "/nameSuffix", "namesuffix", "nameSuffix");
    let images: Vec<String> = opts
        .get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.as_str().map(subst))
        .collect();
    if !images.is_empty() {
        let args = images.clone();
        changes.push((
            format!("set image {}", images.join(" ")),
            Box::new(move |m| set_images(m, &args)),
        ));
    }
    if let Some(replicas) = opts
        .get("replicas")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
    {
        let mut args = Vec::new();
        for r in replicas {
            let count = match r.get("count") {
                Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                Some(Value::String(s)) => s
                    .parse::<i64>()
                    .map_err(|_| format!("expected integer value for count. Received: {s}"))?,
                _ => 0,
            };
            args.push((str_at(r, "/name").to_string(), count));
        }
        let shown: Vec<String> = args.iter().map(|(n, c)| format!("{n}={c}")).collect();
        changes.push((
            format!("set replicas {}", shown.join(" ")),
            Box::new(move |m| {
                set_replicas(m, &args);
                Ok(())
            }),
        ));
    }
    let labels = string_map(opts.get("commonLabels"), Some(&subst));
    if !labels.is_empty() {
        let force = opts
            .get("forceCommonLabels")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let without_selector = opts
            .get("labelWithoutSelector")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let include_templates = opts
            .get("labelIncludeTemplates")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut shown = "add label".to_string();
        for (flag, on) in [
            ("--force", force),
            ("--without-selector", without_selector),
            ("--include-templates", include_templates),
        ] {
            if on {
                shown.push_str(&format!(" {flag}"));
            }
        }
        shown.push_str(&format!(" {}", pairs(&labels)));
        changes.push((
            shown,
            Box::new(move |m| add_labels(m, &labels, force, without_selector, include_templates)),
        ));
    }
    let envsubst_annotations = opts
        .get("commonAnnotationsEnvsubst")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let annotations = string_map(
        opts.get("commonAnnotations"),
        if envsubst_annotations { Some(&subst) } else { None },
    );
    if !annotations.is_empty() {
        let force = opts
            .get("forceCommonAnnotations")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let shown = format!(
            "add annotation{} {}",
            if force { " --force" } else { "" },
            pairs(&annotations)
        );
        changes.push((
            shown,
            Box::new(move |m| {
                let entry = m.entry("commonAnnotations").or_insert_with(|| json!({}));
                write_map(entry, &annotations, force, "annotation")
            }),
        ));
    }
    set_field(&mut changes, "/namespace", "namespace", "namespace");
    for (args, change) in &changes {
        let (path, mut m) = read_kustomization(app).map_err(|e| edit_failed(args, e))?;
        change(&mut m).map_err(|e| edit_failed(args, e))?;
        write_kustomization(&path, &m)?;
    }
    if let Some(patches) = opts
        .get("patches")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
    {
        let (path, mut m) =
            read_kustomization(app).map_err(|_| "kustomization file not found in the path".to_string())?;
        match m.get_mut("patches") {
            Some(Value::Array(list)) => list.extend(patches.iter().cloned()),
            Some(other) => {
                return Err(format!(
                    "expected 'patches' field in kustomization.yaml to be []any, but got {}",
                    go_type(other)
                ));
            }
            None => {
                m.insert("patches".into(), Value::Array(patches.clone()));
            }
        }
        write_kustomization(&path, &m)?;
    }
    let components: Vec<String> = opts
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    if !components.is_empty() {
        let ignore_missing = opts
            .get("ignoreMissingComponents")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut found = Vec::new();
        for c in &components {
            let rel = clean_path(&format!("{app_dir}/{c}"));
            let exists = !(rel == ".." || rel.starts_with("../")) && root.join(&rel).exists();
            if exists {
                found.push(c.clone());
            } else if !ignore_missing {
                let args = format!("add component {}", components.join(" "));
                return Err(edit_failed(
                    &args,
                    format!(
                        "{c} has no match: must build at directory: not a valid directory: evalsymlink failure on '{rel}' : lstat {rel}: no such file or directory"
                    ),
                ));
            }
        }
        if !found.is_empty() {
            let (path, mut m) = read_kustomization(app)
                .map_err(|e| edit_failed(&format!("add component {}", found.join(" ")), e))?;
            let list = m.entry("components").or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                for c in found {
                    if !list.iter().any(|x| x.as_str() == Some(c.as_str())) {
                        list.push(json!(c));
                    }
                }
            }
            write_kustomization(&path, &m)?;
        }
    }
    Ok(())
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn write_kustomization(path: &Path, m: &Map<String, Value>) -> Result<(), String> {
    // JSON is YAML: kustomize reads it back as the same document
    let text = serde_json::to_string_pretty(&Value::Object(m.clone())).map_err(|e| e.to_string())?;
    // replaced, not written in place: the file is a link into the commit's checkout
    let fail = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let new = path.with_extension("hubspoke-edit");
    std::fs::write(&new, text).map_err(fail)?;
    std::fs::rename(&new, path).map_err(fail)
}

fn string_map(v: Option<&Value>, subst: Option<&dyn Fn(&str) -> String>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), subst.map(|f| f(&s)).unwrap_or(s))
        })
        .collect()
}

/// `k:v` arguments, as `mapToEditAddArgs` passes them.
fn pairs(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `kustomize edit add label|annotation`: a key already present is an error without
/// `--force`.
fn write_map(
    target: &mut Value,
    pairs: &BTreeMap<String, String>,
    force: bool,
    kind: &str,
) -> Result<(), String> {
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("object");
    for (k, v) in pairs {
        if map.contains_key(k) && !force {
            return Err(format!(
                "{kind} {k} already in kustomization file. Use --force to override."
            ));
        }
        map.insert(k.clone(), json!(v));
    }
    Ok(())
}

/// `kustomize edit add label`: into `commonLabels`, or with `--without-selector` into a
/// `labels` entry with `includeSelectors: false` (and `includeTemplates` as asked).
fn add_labels(
    m: &mut Map<String, Value>,
    pairs: &BTreeMap<String, String>,
    force: bool,
    without_selector: bool,
    include_templates: bool,
) -> Result<(), String> {
    if include_templates && !without_selector {
        return Err("--without-selector flag must be specified for --include-templates to work".into());
    }
    if !without_selector {
        let entry = m.entry("commonLabels").or_insert_with(|| json!({}));
        return write_map(entry, pairs, force, "label");
    }
    let labels = m.entry("labels").or_insert_with(|| json!([]));
    if !labels.is_array() {
        *labels = json!([]);
    }
    let list = labels.as_array_mut().expect("array");
    let matches = |l: &Value| {
        !l.get("includeSelectors")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            && l.get("includeTemplates")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                == include_templates
    };
    let index = match list.iter().position(matches) {
        Some(i) => i,
        None => {
            let mut entry = json!({"pairs": {}});
            if include_templates {
                entry["includeTemplates"] = json!(true);
            }
            list.push(entry);
            list.len() - 1
        }
    };
    let entry = list[index]
        .as_object_mut()
        .expect("object")
        .entry("pairs")
        .or_insert_with(|| json!({}));
    write_map(entry, pairs, force, "label")
}

/// Kustomize's `SplitImageName`: name, tag, digest (a registry port is not a tag).
fn split_image(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|i| *i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@').map(|i| i + slash);
    let colon = search.find(':').map(|i| i + slash);
    match (colon, at) {
        (None, None) => (image.into(), String::new(), String::new()),
        (c, Some(a)) if c.is_none_or(|c| a < c) => (image[..a].into(), String::new(), image[a + 1..].into()),
        (Some(c), Some(a)) => (image[..c].into(), image[c + 1..a].into(), image[a + 1..].into()),
        (Some(c), None) => (image[..c].into(), image[c + 1..].into(), String::new()),
        (None, Some(_)) => unreachable!("handled above"),
    }
}

const IMAGE_FORMAT_ERROR: &str = "invalid format of image, use one of the following options:
- <image>=<newimage>:<newtag>
- <image>=<newimage>@<digest>
- <image>=<newimage>:<newtag>@<digest>
- <image>=<newimage>
- <image>:<newtag>
- <image>:<newtag>@<digest>
- <image>@<digest>";

/// `kustomize edit set image ARG...`: each argument replaces the entry of its image name;
/// `*` keeps the existing new name, tag or digest; entries end sorted by name.
fn set_images(m: &mut Map<String, Value>, args: &[String]) -> Result<(), String> {
    let mut given: BTreeMap<String, [String; 3]> = BTreeMap::new();
    for arg in args {
        let (key, value) = match arg.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (String::new(), arg.clone()),
        };
        let (name, tag, digest) = split_image(&value);
        if name == *arg {
            return Err(IMAGE_FORMAT_ERROR.into());
        }
        let (name, new_name) = if key.is_empty() {
            (name, String::new())
        } else {
            (key, name)
        };
        given.insert(name, [new_name, tag, digest]);
    }
    let existing: Vec<Value> = m
        .get("images")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out: BTreeMap<String, [String; 3]> = BTreeMap::new();
    for im in &existing {
        let name = str_at(im, "/name").to_string();
        let old = [
            str_at(im, "/newName").to_string(),
            im.get("newTag")
                .map(|t| t.as_str().map(str::to_string).unwrap_or_else(|| t.to_string()))
                .unwrap_or_default(),
            str_at(im, "/digest").to_string(),
        ];
        let entry = match given.remove(&name) {
            Some(mut new) => {
                for (n, o) in new.iter_mut().zip(old.iter()) {
                    if n == "*" {
                        *n = o.clone();
                    }
                }
                new
            }
            None => old,
        };
        out.insert(name, entry);
    }
    for (name, new) in given {
        out.insert(name, new.map(|s| if s == "*" { String::new() } else { s }));
    }
    let images: Vec<Value> = out
        .into_iter()
        .map(|(name, [new_name, tag, digest])| {
            let mut e = Map::new();
            e.insert("name".into(), json!(name));
            if !new_name.is_empty() {
                e.insert("newName".into(), json!(new_name));
            }
            if !tag.is_empty() {
                e.insert("newTag".into(), json!(tag));
            }
            if !digest.is_empty() {
                e.insert("digest".into(), json!(digest));
            }
            Value::Object(e)
        })
        .collect();
    m.insert("images".into(), Value::Array(images));
    Ok(())
}

/// `kustomize edit set replicas NAME=COUNT...`: given names replace existing entries;
/// entries end sorted by name.
fn set_replicas(m: &mut Map<String, Value>, args: &[(String, i64)]) {
    let mut out: BTreeMap<String, i64> = args.iter().cloned().collect();
    for r in m.get("replicas").and_then(Value::as_array).into_iter().flatten() {
        let name = str_at(r, "/name").to_string();
        out.entry(name)
            .or_insert_with(|| r.get("count").and_then(Value::as_i64).unwrap_or(0));
    }
    m.insert(
        "replicas".into(),
        Value::Array(
            out.into_iter()
                .map(|(n, c)| json!({"name": n, "count": c}))
                .collect(),
        ),
    );
}

#[cfg(test)]
mod tests {

    #[test]
    fn kubectls_error_reads_as_the_kustomize_binarys() {
        assert_eq!(
            kustomize_error(
                r#"E1206 20:11:08.303293   12962 run.go:72] "command failed" err="no resource matches strategic merge patch \"AppProject.v1alpha1.argoproj.io/tenant.argocd\": no matches for Id AppProject.v1alpha1.argoproj.io/tenant.argocd""#
            ),
            r#"Error: no resource matches strategic merge patch "AppProject.v1alpha1.argoproj.io/tenant.argocd": no matches for Id AppProject.v1alpha1.argoproj.io/tenant.argocd"#
        );
        assert_eq!(
            kustomize_error("error: accumulating resources: missing"),
            "Error: accumulating resources: missing"
        );
        assert_eq!(kustomize_error("something else"), "something else");
    }

    use super::*;

    #[test]
    fn image_names_split_like_kustomize() {
        let s = |i: &str| split_image(i);
        assert_eq!(s("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(s("nginx:1.2"), ("nginx".into(), "1.2".into(), "".into()));
        assert_eq!(s("host:5000/app"), ("host:5000/app".into(), "".into(), "".into()));
        assert_eq!(
            s("host:5000/app:v1@sha256:ab"),
            ("host:5000/app".into(), "v1".into(), "sha256:ab".into())
        );
        assert_eq!(s("app@sha256:ab"), ("app".into(), "".into(), "sha256:ab".into()));
    }

    #[test]
    fn set_image_merges_sorts_and_keeps_stars() {
        let mut m = Map::new();
        m.insert(
            "images".into(),
            json!([{"name": "b", "newName": "reg/b", "newTag": "1"}, {"name": "z", "newTag": "9"}]),
        );
        set_images(&mut m, &["b=*:2".into(), "a:3".into(), "c=reg/c@sha256:x".into()]).unwrap();
        assert_eq!(
            m["images"],
            json!([
                {"name": "a", "newTag": "3"},
                {"name": "b", "newName": "reg/b", "newTag": "2"},
                {"name": "c", "newName": "reg/c", "digest": "sha256:x"},
                {"name": "z", "newTag": "9"},
            ])
        );
        assert_eq!(
            set_images(&mut m, &["plain".into()]).unwrap_err(),
            IMAGE_FORMAT_ERROR
        );
    }

    #[test]
    fn labels_and_annotations_need_force_to_replace() {
        let mut m = Map::new();
        let one: BTreeMap<String, String> = [("team".to_string(), "a".to_string())].into();
        add_labels(&mut m, &one, false, false, false).unwrap();
        assert_eq!(
            add_labels(&mut m, &one, false, false, false).unwrap_err(),
            "label team already in kustomization file. Use --force to override."
        );
        add_labels(&mut m, &one, true, false, false).unwrap();
        add_labels(&mut m, &one, false, true, true).unwrap();
        assert_eq!(m["commonLabels"], json!({"team": "a"}));
        assert_eq!(
            m["labels"],
            json!([{"pairs": {"team": "a"}, "includeTemplates": true}])
        );
        assert_eq!(
            add_labels(&mut m, &one, false, false, true).unwrap_err(),
            "--without-selector flag must be specified for --include-templates to work"
        );
    }

    #[test]
    fn replicas_replace_by_name() {
        let mut m = Map::new();
        m.insert(
            "replicas".into(),
            json!([{"name": "a", "count": 1}, {"name": "c", "count": 3}]),
        );
        set_replicas(&mut m, &[("a".into(), 5), ("b".into(), 2)]);
        assert_eq!(
            m["replicas"],
            json!([{"name": "a", "count": 5}, {"name": "b", "count": 2}, {"name": "c", "count": 3}])
        );
    }
}

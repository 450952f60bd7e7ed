//! The JSON context rules are evaluated against (Kyverno's `pkg/engine/context`): the
//! admission request, `serviceAccountName`/`serviceAccountNamespace`, `images`, foreach
//! elements, and the rule's `context` entries, loaded when a query first names them
//! (Kyverno's deferred loading, on by default).

use std::cell::RefCell;

use serde_json::{Map, Value, json};

use crate::conditions::{self, Vars, substitute};

/// What context entries ask the cluster. The stand-in answers from the API server; errors
/// are the API server's messages (`configmaps "x" not found`).
pub trait Cluster: Sync {
    /// The ConfigMap `namespace/name`.
    fn config_map(&self, namespace: &str, name: &str) -> Result<Value, String>;
    /// An `apiCall` against the API server: `GET` (or `POST` with `body`) of `url_path`.
    fn raw(&self, method: &str, url_path: &str, body: Option<&Value>) -> Result<Value, String>;
}

/// No cluster: every lookup fails (offline evaluation, e.g. of Kyverno CLI test files).
pub struct Offline;

impl Cluster for Offline {
    fn config_map(&self, namespace: &str, name: &str) -> Result<Value, String> {
        Err(format!(
            "configmaps \"{name}\" not found (no cluster to read {namespace}/{name} from)"
        ))
    }
    fn raw(&self, method: &str, url_path: &str, _: Option<&Value>) -> Result<Value, String> {
        Err(format!("{method} {url_path}: no cluster to call"))
    }
}

/// A context entry not loaded yet.
struct Pending {
    name: String,
    entry: Value,
}

/// The context of one rule's evaluation.
pub struct Context<'a> {
    data: RefCell<Value>,
    /// `data` as JMESPath values, converted when first queried after a change.
    converted: RefCell<Option<jmespath::Rcvar>>,
    pending: RefCell<Vec<Pending>>,
    cluster: &'a dyn Cluster,
}

impl Vars for Context<'_> {
    fn query(&self, expr: &str) -> Result<Value, String> {
        self.load_matching(expr)?;
        let cached = self.converted.borrow().clone();
        let data = match cached {
            Some(d) => d,
            None => {
                let v =
                    jmespath::Variable::from_serializable(&*self.data.borrow()).map_err(|e| e.to_string())?;
                let d = jmespath::Rcvar::new(v);
                *self.converted.borrow_mut() = Some(d.clone());
                d
            }
        };
        conditions::query_data(&data, expr)
    }
}

/// Does `query` name the entry `name`? (Kyverno's deferred loader matcher:
/// `(?:\A|\z|\s|[^.0-9A-Za-z])<name>\b`.)
fn names_entry(query: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(pos) = query[from..].find(name) {
        let start = from + pos;
        let end = start + name.len();
        let before_ok = query[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || !(c == '.' || c.is_ascii_alphanumeric()));
        let after_ok = query[end..].chars().next().is_none_or(|c| !word(c))
            || !name.chars().next_back().is_some_and(word);
        if before_ok && after_ok {
            return true;
        }
        from = start + name.len().max(1);
    }
    false
}

impl<'a> Context<'a> {
    /// The context of an admission request (`request` as the API server sent it).
    pub fn new(request: Value, cluster: &'a dyn Cluster) -> Self {
        let mut data = Map::new();
        let username = request
            .pointer("/userInfo/username")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(sa) = username.strip_prefix("system:serviceaccount:")
            && let Some((ns, name)) = sa.split_once(':')
        {
            data.insert("serviceAccountName".into(), json!(name));
            data.insert("serviceAccountNamespace".into(), json!(ns));
        }
        let object = match request.get("operation").and_then(Value::as_str) {
            Some("DELETE") => request.get("oldObject"),
            _ => request.get("object"),
        };
        if let Some(images) = object.and_then(images_of) {
            data.insert("images".into(), images);
        }
        data.insert("request".into(), request);
        Context {
            data: RefCell::new(Value::Object(data)),
            converted: RefCell::new(None),
            pending: RefCell::new(Vec::new()),
            cluster,
        }
    }

    /// A copy for one rule or element (entries added to it stay in it).
    pub fn fork(&self) -> Context<'a> {
        Context {
            data: RefCell::new(self.data.borrow().clone()),
            converted: RefCell::new(self.converted.borrow().clone()),
            pending: RefCell::new(
                self.pending
                    .borrow()
                    .iter()
                    .map(|p| Pending {
                        name: p.name.clone(),
                        entry: p.entry.clone(),
                    })
                    .collect(),
            ),
            cluster: self.cluster,
        }
    }

    /// The whole context as JSON (entries loaded so far).
    pub fn data(&self) -> Value {
        self.data.borrow().clone()
    }

    /// Sets a top-level variable.
    pub fn set(&self, name: &str, value: Value) {
        *self.converted.borrow_mut() = None;
        if let Value::Object(m) = &mut *self.data.borrow_mut() {
            m.insert(name.to_string(), value);
        }
    }

    /// Replaces `request.object` (a mutated resource seen by the next rules).
    pub fn set_object(&self, object: &Value) {
        *self.converted.borrow_mut() = None;
        // (a request that is not an object, as a garbage admission can be, is left alone)
        if let Some(r) = self.data.borrow_mut().get_mut("request")
            && (r.is_object() || r.is_null())
        {
            r["object"] = object.clone();
        }
        if let Some(images) = images_of(object) {
            self.set("images", images);
        }
    }

    /// Adds a foreach element (`element`, `elementIndex`, `element<N>`, `elementIndex<N>`).
    pub fn add_element(&self, element: &Value, index: usize, nesting: usize) {
        self.set("element", element.clone());
        self.set(&format!("element{nesting}"), element.clone());
        self.set("elementIndex", json!(index));
        self.set(&format!("elementIndex{nesting}"), json!(index));
    }

    /// Registers the rule's (or foreach's) `context` entries, loaded when first named.
    pub fn add_entries(&self, entries: &Value) {
        for e in entries.as_array().into_iter().flatten() {
            let name = e.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            self.pending.borrow_mut().push(Pending {
                name,
                entry: e.clone(),
            });
        }
    }

    fn load_matching(&self, query: &str) -> Result<(), String> {
        loop {
            let next = {
                let mut pending = self.pending.borrow_mut();
                match pending.iter().position(|p| names_entry(query, &p.name)) {
                    Some(i) => pending.remove(i),
                    None => return Ok(()),
                }
            };
            let value = self.load(&next.name, &next.entry)?;
            self.set(&next.name, value);
        }
    }

    fn load(&self, name: &str, entry: &Value) -> Result<Value, String> {
        if let Some(v) = entry.get("variable") {
            return self.load_variable(name, v);
        }
        if let Some(cm) = entry.get("configMap") {
            let cm = substitute(self, cm)?;
            let cm_name = cm.get("name").and_then(Value::as_str).unwrap_or("");
            let ns = match cm.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() => ns,
                _ => "default",
            };
            let obj = self.cluster.config_map(ns, cm_name).map_err(|e| {
                format!(
                    "failed to retrieve config map for context entry {name}: failed to get configmap {ns}/{cm_name} : {e}"
                )
            })?;
            return Ok(
                json!({"data": obj.get("data").cloned().unwrap_or(json!({})), "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))}),
            );
        }
        if let Some(call) = entry.get("apiCall") {
            return self.load_api_call(name, call);
        }
        if entry.get("imageRegistry").is_some() {
            return Err(format!(
                "failed to fetch data for context entry {name}: imageRegistry context entries need a registry, which the hubspoke sim does not reach (no network)"
            ));
        }
        if entry.get("globalReference").is_some() {
            return Err(format!(
                "failed to fetch data for context entry {name}: globalReference context entries (GlobalContextEntry) are not served by the hubspoke sim Kyverno stand-in"
            ));
        }
        Err(format!(
            "missing ConfigMap|APICall|ImageRegistry|Variable in context entry {name}"
        ))
    }

    /// Kyverno's `variableLoader.loadVariable`.
    fn load_variable(&self, name: &str, v: &Value) -> Result<Value, String> {
        let shown = |x: &Value| crate::pattern::go_display(x);
        let mut path = String::new();
        if let Some(jp) = v
            .get("jmesPath")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            path = match substitute(self, &json!(jp)) {
                Ok(Value::String(s)) => s,
                Ok(_) => return Err(format!("jmespath value must be a string {name} {jp}: <nil>")),
                Err(e) => {
                    return Err(format!(
                        "failed to substitute variables in context entry {name} {jp}: {e}"
                    ));
                }
            };
        }
        let default = match v.get("default") {
            Some(d) => Some(substitute(self, d).map_err(|e| {
                format!(
                    "failed to substitute variables in context entry {name} {}: {e}",
                    shown(d)
                )
            })?),
            None => None,
        };
        let mut output = default.clone();
        if let Some(raw) = v.get("value") {
            let value = substitute(self, raw).map_err(|e| {
                format!(
                    "failed to substitute variables in context entry {name} {}: {e}",
                    shown(raw)
                )
            })?;
            if path.is_empty() {
                output = Some(value);
            } else {
                match conditions::query(&value, &path) {
                    Ok(r) => output = Some(r),
                    Err(e) if default.is_none() => {
                        return Err(format!(
                            "failed to apply jmespath {path} to variable {}: {e}",
                            shown(&value)
                        ));
                    }
                    Err(_) => {}
                }
            }
        } else if !path.is_empty() {
            match self.query(&path) {
                Ok(r) if !r.is_null() => output = Some(r),
                Ok(_) => {}
                Err(e) if default.is_none() => {
                    return Err(format!("failed to apply jmespath {path} to variable <nil>: {e}"));
                }
                Err(_) => {}
            }
        }
        match output {
            Some(v) if !v.is_null() => Ok(v),
            _ => Err(format!(
                "failed to add context entry for variable {name} since it evaluated to nil"
            )),
        }
    }

    fn load_api_call(&self, name: &str, call: &Value) -> Result<Value, String> {
        let call = substitute(self, call)?;
        if call.get("service").is_some() {
            return Err(format!(
                "failed to fetch data for APICall: service API calls ({name}) are not made by the hubspoke sim Kyverno stand-in: it reaches only the API server (use urlPath)"
            ));
        }
        let method = call.get("method").and_then(Value::as_str).unwrap_or("GET");
        let path = call.get("urlPath").and_then(Value::as_str).unwrap_or("");
        let body = call.get("data").and_then(Value::as_array).map(|items| {
            let mut m = Map::new();
            for i in items {
                if let Some(k) = i.get("key").and_then(Value::as_str) {
                    m.insert(k.into(), i.get("value").cloned().unwrap_or(Value::Null));
                }
            }
            Value::Object(m)
        });
        let response = match self.cluster.raw(method, path, body.as_ref()) {
            Ok(r) => r,
            Err(e) => match call.get("default") {
                Some(d) => return Ok(d.clone()),
                None => {
                    return Err(format!(
                        "failed to fetch data for APICall: failed to {method} resource with raw url\n: {path}: {e}"
                    ));
                }
            },
        };
        match call
            .get("jmesPath")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(jp) => conditions::query(&response, jp)
                .map_err(|e| format!("failed to apply JMESPath {jp} for context entry {name}: {e}")),
            None => Ok(response),
        }
    }
}

/// `images`: per container list, per container name, the parts of its image reference.
fn images_of(object: &Value) -> Option<Value> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let spec = match kind {
        "Pod" => object.get("spec"),
        "CronJob" => object.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => object.pointer("/spec/template/spec"),
    }?;
    let mut out = Map::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let mut by_name = Map::new();
        for c in spec.get(list).and_then(Value::as_array).into_iter().flatten() {
            let (Some(name), Some(image)) = (
                c.get("name").and_then(Value::as_str),
                c.get("image").and_then(Value::as_str),
            ) else {
                continue;
            };
            if let Some(info) = image_info(image) {
                by_name.insert(name.into(), info);
            }
        }
        if !by_name.is_empty() {
            out.insert(list.into(), Value::Object(by_name));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Kyverno's `GetImageInfo` with the default registry `docker.io` added (the chart's
/// `defaultRegistry` and `enableDefaultRegistryMutation: true`).
pub fn image_info(image: &str) -> Option<Value> {
    let full = match image.find('/') {
        Some(i)
            if image[..i].contains(['.', ':'])
                || &image[..i] == "localhost"
                || image[..i].to_lowercase() != image[..i] =>
        {
            image.to_string()
        }
        _ => format!("docker.io/{image}"),
    };
    let (named, digest) = match full.split_once('@') {
        Some((n, d)) => (n, d.to_string()),
        None => (full.as_str(), String::new()),
    };
    let slash = named.find('/')?;
    let registry = &named[..slash];
    let rest = &named[slash + 1..];
    let (path, mut tag) = match rest.rfind(':') {
        Some(i) => (&rest[..i], rest[i + 1..].to_string()),
        None => (rest, String::new()),
    };
    if path.is_empty() || path != path.to_lowercase() {
        return None;
    }
    if digest.is_empty() && tag.is_empty() {
        tag = "latest".into();
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let reference = if digest.is_empty() {
        format!("{registry}/{path}:{tag}")
    } else {
        format!("{registry}/{path}@{digest}")
    };
    let mut info = json!({
        "registry": registry, "name": name, "path": path,
        "reference": reference, "referenceWithTag": format!("{registry}/{path}:{tag}"),
    });
    if !tag.is_empty() {
        info["tag"] = json!(tag);
    }
    if !digest.is_empty() {
        info["digest"] = json!(digest);
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl Cluster for Fake {
        fn config_map(&self, ns: &str, name: &str) -> Result<Value, String> {
            if ns == "platform" && name == "settings" {
                Ok(json!({"metadata": {"name": name, "namespace": ns}, "data": {"registry": "ghcr.io/acme"}}))
            } else {
                Err(format!("configmaps \"{name}\" not found"))
            }
        }
        fn raw(&self, method: &str, path: &str, _: Option<&Value>) -> Result<Value, String> {
            match path {
                "/api/v1/namespaces/web/pods" => {
                    Ok(json!({"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]}))
                }
                _ => Err(format!(
                    "{method} {path}: the server could not find the requested resource"
                )),
            }
        }
    }

    fn ctx(f: &Fake) -> Context<'_> {
        Context::new(
            json!({"operation": "CREATE", "userInfo": {"username": "system:serviceaccount:ci:deployer"},
                "object": {"kind": "Pod", "metadata": {"name": "p", "namespace": "web"},
                    "spec": {"containers": [{"name": "app", "image": "nginx"}, {"name": "side", "image": "ghcr.io/acme/side:1.2@sha256:abc"}]}}}),
            f,
        )
    }

    // Found by tests/fuzz.rs: a request that is not an object (a garbage admission) made
    // `set_object` index into it and panic.
    #[test]
    fn set_object_on_a_request_that_is_not_an_object() {
        for request in [json!([1]), json!("x"), json!(3)] {
            let c = Context::new(request.clone(), &crate::context::Offline);
            c.set_object(&json!({"kind": "Pod"}));
            assert_eq!(c.data()["request"], request);
        }
        let c = Context::new(Value::Null, &crate::context::Offline);
        c.set_object(&json!({"kind": "Pod"}));
        assert_eq!(c.data()["request"], json!({"object": {"kind": "Pod"}}));
    }

    #[test]
    fn built_in_variables() {
        let f = Fake;
        let c = ctx(&f);
        assert_eq!(c.query("serviceAccountName").unwrap(), json!("deployer"));
        assert_eq!(c.query("serviceAccountNamespace").unwrap(), json!("ci"));
        assert_eq!(
            c.query("images.containers.app").unwrap(),
            json!({"registry": "docker.io", "name": "nginx", "path": "nginx", "tag": "latest",
                "reference": "docker.io/nginx:latest", "referenceWithTag": "docker.io/nginx:latest"})
        );
        assert_eq!(
            c.query("images.containers.side.reference").unwrap(),
            json!("ghcr.io/acme/side@sha256:abc")
        );
    }

    #[test]
    fn entries_load_when_named() {
        let f = Fake;
        let c = ctx(&f);
        c.add_entries(&json!([
            {"name": "settings", "configMap": {"name": "settings", "namespace": "platform"}},
            {"name": "missing", "configMap": {"name": "nope", "namespace": "platform"}},
            {"name": "podCount", "apiCall": {"urlPath": "/api/v1/namespaces/{{ request.object.metadata.namespace }}/pods", "jmesPath": "items | length(@)"}},
            {"name": "team", "variable": {"jmesPath": "request.object.metadata.labels.team", "default": "none"}},
            {"name": "owner", "variable": {"value": "{{ request.object.metadata.labels.owner }}", "default": "none"}},
            {"name": "registry", "variable": {"jmesPath": "settings.data.registry"}},
        ]));
        // an entry that fails is an error only where it is named
        assert_eq!(c.query("registry").unwrap(), json!("ghcr.io/acme"));
        assert_eq!(c.query("podCount").unwrap(), json!(2));
        assert_eq!(c.query("team").unwrap(), json!("none"));
        // a value is substituted before the default is considered: a missing key fails
        assert_eq!(
            c.query("owner").unwrap_err(),
            "failed to substitute variables in context entry owner {{ request.object.metadata.labels.owner }}: failed to resolve request.object.metadata.labels.owner at path : JMESPath query failed: Unknown key \"labels\" in path"
        );
        assert_eq!(
            c.query("missing.data").unwrap_err(),
            "failed to retrieve config map for context entry missing: failed to get configmap platform/nope : configmaps \"nope\" not found"
        );
        // a name inside another word does not load it
        assert!(!names_entry("request.object.team", "team"));
        assert!(names_entry("team || 'x'", "team"));
        assert!(names_entry("length(team)", "team"));
    }

    #[test]
    fn api_call_errors_read_as_kyvernos() {
        let f = Fake;
        let c = ctx(&f);
        c.add_entries(
            &json!([{"name": "deps", "apiCall": {"urlPath": "/apis/apps/v1/namespaces/default/unknown"}}]),
        );
        assert_eq!(
            c.query("deps").unwrap_err(),
            "failed to fetch data for APICall: failed to GET resource with raw url\n: /apis/apps/v1/namespaces/default/unknown: GET /apis/apps/v1/namespaces/default/unknown: the server could not find the requested resource"
        );
    }
}

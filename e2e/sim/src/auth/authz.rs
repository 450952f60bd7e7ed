//! Authorization: RBAC evaluated from Roles, ClusterRoles and their bindings, with the
//! request attributes and denial messages of kube-apiserver.

use serde_json::Value;

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, GroupResource};
use crate::auth::authn::User;
use crate::storage::store::{Store, object_key};

const RBAC: &str = "rbac.authorization.k8s.io";
const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
const ROLES: &str = "rbac.authorization.k8s.io/roles";
const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";

/// What a request does, as the authorizer sees it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// The path of a non-resource request.
    pub path: String,
}

fn has(list: Option<&Value>, want: &str) -> bool {
    list.and_then(Value::as_array).is_some_and(|l| {
        l.iter()
            .any(|v| v.as_str() == Some(want) || v.as_str() == Some("*"))
    })
}

/// Whether one PolicyRule allows the request.
pub fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    if !has(rule.get("verbs"), &a.verb) {
        return false;
    }
    if !a.resource_request {
        return rule
            .get("nonResourceURLs")
            .and_then(Value::as_array)
            .is_some_and(|urls| {
                urls.iter().filter_map(Value::as_str).any(|u| {
                    u == "*" || u == a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
                })
            });
    }
    if !has(rule.get("apiGroups"), &a.group) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resource_ok = rule.get("resources").and_then(Value::as_array).is_some_and(|rs| {
        rs.iter().filter_map(Value::as_str).any(|r| {
            r == "*"
                || r == combined
                || (!a.subresource.is_empty() && r.strip_prefix("*/") == Some(a.subresource.as_str()))
        })
    });
    if !resource_ok {
        return false;
    }
    match rule.get("resourceNames").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => names.iter().any(|n| n.as_str() == Some(a.name.as_str())),
        _ => true,
    }
}

/// How a subject is named in RBAC reasons: `User "x"`, `ServiceAccount "ns/name"`.
fn describe_subject(s: &Value) -> String {
    let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
    match kind {
        "ServiceAccount" => format!(
            "{kind} \"{}/{name}\"",
            s.get("namespace").and_then(Value::as_str).unwrap_or("")
        ),
        _ => format!("{kind} \"{name}\""),
    }
}

fn subject_matches(s: &Value, user: &User, binding_ns: &str) -> bool {
    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
    match s.get("kind").and_then(Value::as_str) {
        Some("User") => user.name == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = s
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// One binding that applies to a user, with the rules of its role.
pub struct Grant {
    /// `ClusterRoleBinding "x" of ClusterRole "y" to User "z"`
    pub source: String,
    pub rules: Vec<Value>,
}

/// Visits the bindings that apply to `user` in `namespace` (cluster-wide ones first) with
/// their role's rules, until `visit` returns true; missing roles are added to `errors` as
/// the RBAC authorizer words them. `visit` gets (binding source description, rules).
fn visit_grants(
    store: &Store,
    user: &User,
    namespace: &str,
    errors: &mut Vec<String>,
    mut visit: impl FnMut(&dyn Fn() -> String, &Value) -> bool,
) -> bool {
    let (_, crbs) = store.snapshot(CLUSTER_ROLE_BINDINGS);
    for b in crbs.values() {
        let Some(s) = b
            .get("subjects")
            .and_then(Value::as_array)
            .and_then(|ss| ss.iter().find(|s| subject_matches(s, user, "")))
        else {
            continue;
        };
        let role = b.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("");
        match store.get(CLUSTER_ROLES, role) {
            Some(r) => {
                let source = || {
                    format!(
                        "ClusterRoleBinding \"{}\" of ClusterRole \"{role}\" to {}",
                        meta::name(b),
                        describe_subject(s)
                    )
                };
                if visit(&source, r.get("rules").unwrap_or(&Value::Null)) {
                    return true;
                }
            }
            None => errors.push(format!("clusterrole.{RBAC} \"{role}\" not found")),
        }
    }
    if namespace.is_empty() {
        return false;
    }
    let (_, rbs) = store.snapshot(ROLE_BINDINGS);
    let prefix = format!("{namespace}/");
    for (_, b) in rbs
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
    {
        let Some(s) = b
            .get("subjects")
            .and_then(Value::as_array)
            .and_then(|ss| ss.iter().find(|s| subject_matches(s, user, namespace)))
        else {
            continue;
        };
        let kind = b
            .pointer("/roleRef/kind")
            .and_then(Value::as_str)
            .unwrap_or("Role");
        let role = b.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("");
        let found = if kind == "ClusterRole" {
            store.get(CLUSTER_ROLES, role)
        } else {
            store.get(ROLES, &object_key(namespace, role))
        };
        match found {
            Some(r) => {
                let source = || {
                    format!(
                        "RoleBinding \"{}/{namespace}\" of {kind} \"{role}\" to {}",
                        meta::name(b),
                        describe_subject(s)
                    )
                };
                if visit(&source, r.get("rules").unwrap_or(&Value::Null)) {
                    return true;
                }
            }
            None => errors.push(format!("{}.{RBAC} \"{role}\" not found", kind.to_lowercase())),
        }
    }
    false
}

/// The grants a user has in `namespace` (cluster-wide ones included), and the errors met.
pub fn grants(store: &Store, user: &User, namespace: &str) -> (Vec<Grant>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    visit_grants(store, user, namespace, &mut errors, |source, rules| {
        out.push(Grant {
            source: source(),
            rules: rules.as_array().cloned().unwrap_or_default(),
        });
        false
    });
    (out, errors)
}

/// The authorizer's decision: allowed (with the reason), or denied (with the reason).
#[derive(Clone, Debug)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// Remembers decisions until any RBAC object changes (the cache is keyed by the last
/// resourceVersion written to each RBAC storage), so repeated requests cost a lookup.
#[derive(Default)]
pub struct DecisionCache {
    inner: std::sync::Mutex<(Vec<u64>, std::collections::HashMap<String, Decision>)>,
}

const CACHE_LIMIT: usize = 8192;

impl DecisionCache {
    pub fn authorize(&self, store: &Store, user: &User, a: &Attributes) -> Decision {
        if user.is_admin() {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let versions: Vec<u64> = [CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS]
            .iter()
            .map(|s| store.storage_rv(s))
            .collect();
        let key = format!(
            "{}\0{}\0{}\0{}\0{}\0{}\0{}\0{}\0{}",
            user.name,
            user.groups.join(","),
            a.verb,
            a.group,
            a.resource,
            a.subresource,
            a.namespace,
            a.name,
            a.path
        );
        {
            let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if g.0 == versions
                && let Some(d) = g.1.get(&key)
            {
                return d.clone();
            }
        }
        let d = authorize(store, user, a);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 != versions || g.1.len() >= CACHE_LIMIT {
            g.0 = versions;
            g.1.clear();
        }
        g.1.insert(key, d.clone());
        d
    }
}

pub fn authorize(store: &Store, user: &User, a: &Attributes) -> Decision {
    if user.is_admin() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let namespace = if a.resource_request {
        a.namespace.as_str()
    } else {
        ""
    };
    let mut errors = Vec::new();
    let mut reason = String::new();
    let allowed = visit_grants(store, user, namespace, &mut errors, |source, rules| {
        let hit = rules
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| rule_allows(r, a)));
        if hit {
            reason = format!("RBAC: allowed by {}", source());
        }
        hit
    });
    if allowed {
        return Decision { allowed, reason };
    }
    let reason = match errors.len() {
        0 => String::new(),
        1 => format!("RBAC: {}", errors[0]),
        _ => format!("RBAC: [{}]", errors.join(", ")),
    };
    Decision {
        allowed: false,
        reason,
    }
}

/// The 403 a denied request gets.
pub fn forbidden(user: &User, a: &Attributes, reason: &str) -> ApiError {
    let mut msg = if !a.resource_request {
        format!("User {:?} cannot {} path {:?}", user.name, a.verb, a.path)
    } else {
        let resource = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        if a.namespace.is_empty() {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                user.name, a.verb, resource, a.group
            )
        } else {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                user.name, a.verb, resource, a.group, a.namespace
            )
        }
    };
    if !reason.is_empty() {
        msg = format!("{msg}: {reason}");
    }
    if !a.resource_request {
        return ApiError::new(
            403,
            "Forbidden",
            format!("forbidden: {msg}"),
            Some(serde_json::json!({})),
        );
    }
    ApiError::forbidden(&GroupResource::new(&a.group, &a.resource), &a.name, &msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use http::Method;

    use crate::encoding::http::Query;
    use crate::endpoints::request::attributes;

    fn attrs(method: Method, path: &str) -> Attributes {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        attributes(&method, p, &Query::parse(Some(q)))
    }

    #[test]
    fn rules_match_like_rbac() {
        let a = attrs(Method::GET, "/apis/apps/v1/namespaces/ns/deployments/web/status");
        assert!(rule_allows(
            &json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/status"]}),
            &a
        ));
        assert!(rule_allows(
            &json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/status"]}),
            &a
        ));
        assert!(!rule_allows(
            &json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]}),
            &a
        ));
        assert!(rule_allows(
            &json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/status"], "resourceNames": ["web"]}),
            &a
        ));
        assert!(!rule_allows(
            &json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/status"], "resourceNames": ["api"]}),
            &a
        ));
        let h = attrs(Method::GET, "/healthz/etcd");
        assert!(rule_allows(
            &json!({"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]}),
            &h
        ));
        assert!(!rule_allows(
            &json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}),
            &h
        ));
    }

    #[test]
    fn denial_messages() {
        let u = User::service_account("ns", "bot", "u1");
        let a = attrs(Method::GET, "/api/v1/namespaces/ns/configmaps");
        assert_eq!(
            forbidden(&u, &a, "").message,
            "configmaps is forbidden: User \"system:serviceaccount:ns:bot\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"ns\""
        );
        let a = attrs(Method::GET, "/apis/apps/v1/deployments");
        assert_eq!(
            forbidden(&u, &a, "").message,
            "deployments.apps is forbidden: User \"system:serviceaccount:ns:bot\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope"
        );
        let a = attrs(Method::GET, "/metrics");
        assert_eq!(
            forbidden(&u, &a, "").message,
            "forbidden: User \"system:serviceaccount:ns:bot\" cannot get path \"/metrics\""
        );
    }
}

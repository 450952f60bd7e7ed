//! Request info, as kube-apiserver's `k8s.io/apiserver/pkg/endpoints/request` derives it
//! from a request's method and URL: the attributes authorization and fault injection see.

use http::Method;

use crate::auth::authz::Attributes;
use crate::encoding::http::Query;

/// Request attributes from method and URL (k8s.io/apiserver's RequestInfoFactory).
pub fn attributes(method: &Method, path: &str, query: &Query) -> Attributes {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let nonresource = |verb: &str| Attributes {
        verb: verb.into(),
        path: path.to_string(),
        ..Default::default()
    };
    let http_verb = match *method {
        Method::GET => "get",
        Method::HEAD => "head",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    };
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest.to_vec()),
        ["apis", g, v, rest @ ..] => (*g, *v, rest.to_vec()),
        _ => return nonresource(http_verb),
    };
    if rest.is_empty() {
        return nonresource(http_verb);
    }
    let mut a = Attributes {
        resource_request: true,
        group: group.into(),
        version: version.into(),
        ..Default::default()
    };
    let mut watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    if rest[0] == "watch" {
        watch = true;
        rest.remove(0);
    }
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        a.namespace = rest[1].to_string();
        // /namespaces/<name> and /namespaces/<name>/<sub> address the namespace itself
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest.drain(..2);
        }
    }
    match rest.as_slice() {
        [r] => a.resource = r.to_string(),
        [r, n] => {
            a.resource = r.to_string();
            a.name = n.to_string();
        }
        [r, n, s, ..] => {
            a.resource = r.to_string();
            a.name = n.to_string();
            a.subresource = s.to_string();
        }
        [] => {}
    }
    if a.resource == "namespaces" && rest.first() == Some(&"namespaces") {
        // a namespace object: its name is the namespace field of RequestInfo
        a.name = a.namespace.clone();
        a.namespace = String::new();
        if let Some(s) = rest.get(2) {
            a.subresource = s.to_string();
        }
    }
    a.verb = match (method.clone(), a.name.is_empty()) {
        (Method::GET | Method::HEAD, _) if watch => "watch",
        (Method::GET | Method::HEAD, true) => "list",
        (Method::GET | Method::HEAD, false) => "get",
        (Method::POST, _) => "create",
        (Method::PUT, _) => "update",
        (Method::PATCH, _) => "patch",
        (Method::DELETE, true) => "deletecollection",
        (Method::DELETE, false) => "delete",
        _ => "",
    }
    .to_string();
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, path: &str) -> Attributes {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        attributes(&method, p, &Query::parse(Some(q)))
    }

    #[test]
    fn request_info_like_kube_apiserver() {
        let a = attrs(Method::GET, "/api/v1/namespaces/ns/configmaps");
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.namespace.as_str()),
            ("list", "configmaps", "ns")
        );
        let a = attrs(Method::GET, "/apis/apps/v1/namespaces/ns/deployments/web/status");
        assert_eq!(
            (
                a.group.as_str(),
                a.name.as_str(),
                a.subresource.as_str(),
                a.verb.as_str()
            ),
            ("apps", "web", "status", "get")
        );
        let a = attrs(Method::GET, "/api/v1/namespaces/ns/pods?watch=true");
        assert_eq!(a.verb, "watch");
        let a = attrs(Method::DELETE, "/api/v1/namespaces/ns");
        assert_eq!(
            (
                a.resource.as_str(),
                a.name.as_str(),
                a.namespace.as_str(),
                a.verb.as_str()
            ),
            ("namespaces", "ns", "", "delete")
        );
        let a = attrs(Method::PUT, "/api/v1/namespaces/ns/finalize");
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.subresource.as_str()),
            ("namespaces", "ns", "finalize")
        );
        let a = attrs(Method::GET, "/apis/apps/v1");
        assert!(!a.resource_request);
        assert_eq!(a.path, "/apis/apps/v1");
        let a = attrs(Method::POST, "/api/v1/namespaces/ns/serviceaccounts/bot/token");
        assert_eq!((a.verb.as_str(), a.subresource.as_str()), ("create", "token"));
    }
}

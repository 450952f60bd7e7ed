//! The request filters before routing, as kube-apiserver's handler chain runs them:
//! authentication (bearer tokens through the cluster's authenticators) and impersonation.

use crate::auth::authn::User;
use crate::state::State;

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// The user behind a request's bearer token; None means 401 (there is no anonymous access).
pub(super) fn authenticate(state: &State, headers: &http::HeaderMap) -> Option<User> {
    let token = bearer(headers)?;
    if state.faults.is_revoked(token) {
        return None;
    }
    state.authenticate_token(token)
}

/// Applies `Impersonate-*` headers, checking the `impersonate` permission for each part.
pub(super) fn impersonate(
    state: &State,
    user: User,
    headers: &http::HeaderMap,
) -> Result<User, crate::apimachinery::status::ApiError> {
    let get_all = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    };
    let target_user = get_all("impersonate-user").into_iter().next();
    let groups = get_all("impersonate-group");
    let uid = get_all("impersonate-uid").into_iter().next();
    let extras: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix("impersonate-extra-")?;
            Some((key.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect();
    let Some(name) = target_user else {
        if !groups.is_empty() || uid.is_some() || !extras.is_empty() {
            return Err(crate::apimachinery::status::ApiError::internal(
                "requested [{Kind:Group ...}] without impersonating a user",
            ));
        }
        return Ok(user);
    };
    let check = |a: crate::auth::authz::Attributes| -> Result<(), crate::apimachinery::status::ApiError> {
        let d = crate::auth::authz::authorize(&state.store, &user, &a);
        if d.allowed {
            Ok(())
        } else {
            Err(crate::auth::authz::forbidden(&user, &a, &d.reason))
        }
    };
    let imp = |group: &str, resource: &str, namespace: &str, name: &str| crate::auth::authz::Attributes {
        verb: "impersonate".into(),
        resource_request: true,
        group: group.into(),
        resource: resource.into(),
        namespace: namespace.into(),
        name: name.into(),
        ..Default::default()
    };
    let mut out = match name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, sa)) => {
            check(imp("", "serviceaccounts", ns, sa))?;
            User::service_account(ns, sa, "")
        }
        None => {
            check(imp("", "users", "", &name))?;
            User {
                name: name.clone(),
                ..Default::default()
            }
        }
    };
    for g in &groups {
        check(imp("", "groups", "", g))?;
    }
    if let Some(u) = &uid {
        check(imp("authentication.k8s.io", "uids", "", u))?;
        out.uid = u.clone();
    }
    for (k, v) in extras {
        check(imp("authentication.k8s.io", &format!("userextras/{k}"), "", &v))?;
        out.extra.entry(k).or_default().push(v);
    }
    if out.as_service_account().is_none() {
        out.groups = groups;
    }
    if name != "system:anonymous" && !out.groups.iter().any(|g| g == "system:authenticated") {
        out.groups.push("system:authenticated".into());
    }
    Ok(out)
}

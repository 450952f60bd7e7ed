//! The API server: TLS listener, authentication, routing.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::apimachinery::status::ApiError;
use crate::apis::types::{Registry, ResourceType};
use crate::http::{
    Accept, Body, MAX_BODY, Query, Request, User, error_response, json_response, text_response,
};
use crate::storage::store::Store;

/// Tunables of one API server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Events kept for watches and historical reads before the oldest are compacted away.
    pub event_log_capacity: usize,
    /// How often idle watches that asked for bookmarks receive one.
    pub bookmark_interval: Duration,
    /// The Kubernetes version reported by /version.
    pub git_version: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            event_log_capacity: 100_000,
            bookmark_interval: Duration::from_secs(10),
            git_version: KUBE_VERSION.to_string(),
        }
    }
}

/// The Kubernetes version the emulator behaves as (within kubectl 1.32's supported skew).
pub const KUBE_VERSION: &str = "v1.33.4";

/// Everything a request handler can reach.
pub struct State {
    pub name: String,
    pub registry: RwLock<Registry>,
    pub store: Store,
    pub admin_token: String,
    pub config: ServerConfig,
    /// host:port clients use to reach this server.
    pub address: String,
    pub shutdown: CancellationToken,
    pub openapi: crate::openapi::Cache,
    /// Signs and checks this cluster's ServiceAccount tokens.
    pub signer: crate::auth::authn::TokenSigner,
    /// PEM of the cluster CA (kube-root-ca.crt, legacy token Secrets).
    pub ca_pem: String,
    pub faults: crate::faults::Faults,
    pub decisions: crate::auth::authz::DecisionCache,
    pub webhook_clients: crate::admission::Clients,
    /// The token webhook (`--authentication-token-webhook-config-file`), asked about bearer
    /// tokens the built-in authenticators do not know: how EKS's aws-iam-authenticator
    /// turns EKS tokens into users.
    pub token_webhook: RwLock<Option<crate::auth::authn::TokenWebhook>>,
}

impl State {
    pub fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Binds 127.0.0.1 on a random port and serves until `state.shutdown` is cancelled.
pub async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

pub async fn serve(state: Arc<State>, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
    let addr = listener.local_addr().ok();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut outages = state.faults.outages();
    let mut listener = Some(listener);
    loop {
        let l = match listener.take() {
            Some(l) => l,
            // back from an outage: the same port again
            None => match addr {
                Some(a) => loop {
                    match TcpListener::bind(a).await {
                        Ok(l) => break l,
                        Err(e) => {
                            tracing::warn!(cluster = %state.name, error = %e, "re-binding after an outage failed; retrying");
                            tokio::select! {
                                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                                _ = state.shutdown.cancelled() => return,
                            }
                        }
                    }
                },
                None => return,
            },
        };
        let outage = accept_loop(&state, l, &acceptor, &mut outages).await;
        match outage {
            Some(d) => {
                tracing::info!(cluster = %state.name, duration = ?d, "unreachable (injected outage)");
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = state.shutdown.cancelled() => return,
                }
            }
            None => return,
        }
    }
}

/// Serves connections until shutdown (None) or an injected outage (its duration).
async fn accept_loop(
    state: &Arc<State>,
    listener: TcpListener,
    acceptor: &tokio_rustls::TlsAcceptor,
    outages: &mut tokio::sync::watch::Receiver<Option<Duration>>,
) -> Option<Duration> {
    let mut conns = tokio::task::JoinSet::new();
    let result = loop {
        let (tcp, _) = tokio::select! {
            _ = state.shutdown.cancelled() => break None,
            changed = outages.changed() => match changed {
                Ok(()) => match *outages.borrow_and_update() {
                    Some(d) => break Some(d),
                    None => continue,
                },
                Err(_) => break None,
            },
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(cluster = %state.name, error = %e, "accept failed");
                    continue;
                }
            },
            // reap finished connections so the set does not grow without bound
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state = state.clone();
        conns.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(cluster = %state.name, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let svc_state = state.clone();
            let service = service_fn(move |req| {
                let state = svc_state.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(state, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = state.shutdown.cancelled() => {}
            }
        });
    };
    drop(listener);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    result
}

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// The user behind a request's bearer token; None means 401 (there is no anonymous access).
fn authenticate(state: &State, headers: &http::HeaderMap) -> Option<User> {
    let token = bearer(headers)?;
    if state.faults.is_revoked(token) {
        return None;
    }
    authenticate_token(state, token)
}

/// The user a bearer token stands for, as the union of the cluster's authenticators sees
/// it: the admin token, ServiceAccount tokens, then the token webhook.
pub fn authenticate_token(state: &State, token: &str) -> Option<User> {
    if constant_time_eq(token.as_bytes(), state.admin_token.as_bytes()) {
        return Some(User::admin());
    }
    crate::auth::authn::validate_token(
        &state.signer,
        &state.store,
        &|t| state.faults.is_revoked(t),
        token,
    )
    .or_else(|| {
        let webhook = state
            .token_webhook
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        webhook.and_then(|w| w(token))
    })
}

/// Applies `Impersonate-*` headers, checking the `impersonate` permission for each part.
fn impersonate(
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn handle(state: Arc<State>, req: http::Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let Some(user) = authenticate(&state, &parts.headers) else {
        return error_response(&ApiError::unauthorized());
    };
    let user = match impersonate(&state, user, &parts.headers) {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let query = Query::parse(parts.uri.query());
    let attrs = crate::auth::authz::attributes(&parts.method, &path, &query);
    // injected faults act where API Priority and Fairness does: after authentication,
    // before authorization
    if !path.starts_with("/hubspoke/") {
        match state.faults.on_request(&user, &attrs) {
            None => {}
            Some(crate::faults::Effect::Latency { millis }) => {
                tokio::time::sleep(Duration::from_millis(millis)).await
            }
            Some(crate::faults::Effect::Fail { code: 503 }) => {
                return error_response(&ApiError::new(
                    503,
                    "ServiceUnavailable",
                    "the server is currently unable to handle the request",
                    None,
                ));
            }
            Some(crate::faults::Effect::Fail { .. }) => {
                return error_response(&ApiError::internal("fault injected by hubspoke-sim"));
            }
            Some(crate::faults::Effect::Throttle { retry_after_seconds }) => {
                return error_response(&ApiError::too_many_requests(
                    "Too many requests, please try again later.",
                    retry_after_seconds,
                ));
            }
        }
    }
    let decision = state.decisions.authorize(&state.store, &user, &attrs);
    if !decision.allowed {
        return error_response(&crate::auth::authz::forbidden(&user, &attrs, &decision.reason));
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error_response(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request entity too large: limit is {MAX_BODY}"),
                None,
            ));
        }
    };
    let req = Request {
        method: parts.method,
        query,
        path,
        headers: parts.headers,
        body,
        user,
    };
    let started = std::time::Instant::now();
    let (method, path, user) = (req.method.clone(), req.path.clone(), req.user.name.clone());
    let resp = route(&state, req).await;
    tracing::debug!(
        cluster = %state.name, %method, %path, %user,
        status = resp.status().as_u16(), elapsed = ?started.elapsed(), "request"
    );
    resp
}

async fn route(state: &Arc<State>, req: Request) -> Response<Body> {
    let accept = Accept::parse(req.header("accept"));
    let path = req.path.clone();
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let get = req.method == Method::GET || req.method == Method::HEAD;
    match segs.as_slice() {
        ["healthz" | "livez" | "readyz", rest @ ..] if get => health(&req, segs[0], rest),
        ["version"] if get => json_response(200, &version_doc(state)),
        ["api"] if get => crate::discovery::core_versions(state, &req, &accept),
        ["apis"] if get => crate::discovery::groups(state, &req, &accept),
        ["openapi", "v3", rest @ ..] if get => crate::openapi::serve_v3(state, &req, rest),
        ["openapi", "v2"] if get => crate::openapi::serve_v2(state, &req),
        ["hubspoke", "faults"] => faults_endpoint(state, &req),
        ["api", "v1", rest @ ..] => resource_route(state, req, &accept, "", "v1", rest).await,
        ["apis", group] if get => crate::discovery::group(state, group),
        ["apis", group, version, rest @ ..] => {
            let (g, v) = (group.to_string(), version.to_string());
            resource_route(state, req, &accept, &g, &v, rest).await
        }
        _ => error_response(&ApiError::no_route()),
    }
}

/// `/hubspoke/faults`: GET lists the active request faults, POST applies a
/// [`crate::faults::Command`]. Admins only (system:masters).
fn faults_endpoint(state: &State, req: &Request) -> Response<Body> {
    if !req.user.is_admin() {
        return error_response(&ApiError::new(
            403,
            "Forbidden",
            format!(
                "forbidden: User {:?} cannot use the fault injection endpoint (system:masters only)",
                req.user.name
            ),
            Some(json!({})),
        ));
    }
    match req.method {
        Method::GET => json_response(200, &json!({"faults": state.faults.active()})),
        Method::POST => {
            let cmd: crate::faults::Command = match serde_json::from_slice(&req.body) {
                Ok(c) => c,
                Err(e) => {
                    return error_response(&ApiError::bad_request(format!("invalid fault command: {e}")));
                }
            };
            match state.faults.apply(cmd) {
                Ok(()) => json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                ),
                Err(e) => error_response(&ApiError::bad_request(e)),
            }
        }
        _ => error_response(&ApiError::method_not_allowed()),
    }
}

fn health(req: &Request, kind: &str, rest: &[&str]) -> Response<Body> {
    if !rest.is_empty() && rest != ["ping"] && rest != ["etcd"] && rest != ["log"] {
        return text_response(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    if req.query.get("verbose").is_some() {
        let checks = [
            "ping",
            "log",
            "etcd",
            "poststarthook/start-apiextensions-controllers",
            "poststarthook/crd-informer-synced",
        ];
        let mut out = String::new();
        for c in checks {
            out.push_str(&format!("[+]{c} ok\n"));
        }
        out.push_str(&format!("{kind} check passed\n"));
        return text_response(StatusCode::OK, out);
    }
    text_response(StatusCode::OK, "ok")
}

fn version_doc(state: &State) -> Value {
    let v = state.config.git_version.trim_start_matches('v');
    let mut parts = v.split(['.', '+', '-']);
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": minor,
        "gitVersion": state.config.git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-08-01T00:00:00Z",
        "goVersion": "go1.24.5",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// What a resource URL addresses.
#[derive(Clone)]
pub struct Target {
    pub rt: Arc<ResourceType>,
    pub version: String,
    /// The namespace in the URL (None for cluster-scoped types and all-namespaces lists).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Target {
    pub fn api_version(&self) -> String {
        self.rt.api_version(&self.version)
    }
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

fn parse_target(state: &State, group: &str, version: &str, segs: &[&str]) -> Result<Target, ApiError> {
    let reg = state.registry();
    let lookup = |plural: &str| reg.lookup(group, version, plural);
    let target = |rt: Arc<ResourceType>, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
        rt,
        version: version.to_string(),
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
        subresource: sub.map(str::to_string),
    };
    let t = match segs {
        ["namespaces", ns, plural, rest @ ..]
            if group.is_empty() || lookup(plural).is_some_and(|t| t.namespaced) =>
        {
            match lookup(plural) {
                Some(rt) if rt.namespaced => match rest {
                    [] => target(rt, Some(ns), None, None),
                    [name] => target(rt, Some(ns), Some(name), None),
                    [name, sub] => target(rt, Some(ns), Some(name), Some(sub)),
                    _ => return Err(ApiError::no_route()),
                },
                // /api/v1/namespaces/<name>/status|finalize
                _ if group.is_empty() && rest.is_empty() && matches!(*plural, "status" | "finalize") => {
                    let rt = lookup("namespaces").ok_or_else(ApiError::no_route)?;
                    target(rt, None, Some(ns), Some(plural))
                }
                _ => return Err(ApiError::no_route()),
            }
        }
        [plural] => target(lookup(plural).ok_or_else(ApiError::no_route)?, None, None, None),
        [plural, name] => {
            let rt = lookup(plural).ok_or_else(ApiError::no_route)?;
            if rt.namespaced {
                return Err(ApiError::no_route());
            }
            target(rt, None, Some(name), None)
        }
        [plural, name, sub] => {
            let rt = lookup(plural).ok_or_else(ApiError::no_route)?;
            if rt.namespaced {
                return Err(ApiError::no_route());
            }
            target(rt, None, Some(name), Some(sub))
        }
        _ => return Err(ApiError::no_route()),
    };
    if let Some(sub) = &t.subresource {
        let v = t.rt.version(version).ok_or_else(ApiError::no_route)?;
        let ok = match sub.as_str() {
            "status" => v.status,
            "scale" => v.scale.is_some(),
            "finalize" => t.rt.plural == "namespaces" && t.rt.group.is_empty(),
            "token" => t.rt.plural == "serviceaccounts" && t.rt.group.is_empty(),
            "log" | "binding" => t.rt.plural == "pods" && t.rt.group.is_empty(),
            _ => false,
        };
        if !ok {
            return Err(ApiError::no_route());
        }
    }
    Ok(t)
}

async fn resource_route(
    state: &Arc<State>,
    req: Request,
    accept: &Accept,
    group: &str,
    version: &str,
    segs: &[&str],
) -> Response<Body> {
    if segs.is_empty() {
        return if req.method == Method::GET {
            crate::discovery::resource_list(state, group, version)
        } else {
            error_response(&ApiError::method_not_allowed())
        };
    }
    // legacy /watch/ prefix
    let (segs, legacy_watch) = match segs {
        ["watch", rest @ ..] => (rest, true),
        _ => (segs, false),
    };
    let target = match parse_target(state, group, version, segs) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    if !accept.acceptable() {
        return error_response(&ApiError::not_acceptable(&[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ]));
    }
    let result = crate::handlers::dispatch(state, &req, accept, target, legacy_watch).await;
    match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

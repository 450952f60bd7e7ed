//! The API server: the TLS listener and the handler chain every request passes
//! (authentication, impersonation, injected faults, authorization, the body limit) before
//! [`routes`] hands it to discovery, OpenAPI or the resource [`crate::endpoints`].
//!
//! kube-apiserver's `k8s.io/apiserver/pkg/server` and its filters.

pub(crate) mod filters;
pub(crate) mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Response;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::apimachinery::status::ApiError;
use crate::encoding::http::{Body, MAX_BODY, Query, Request, error_response};
use crate::state::State;

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

async fn handle(state: Arc<State>, req: http::Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let Some(user) = filters::authenticate(&state, &parts.headers) else {
        return error_response(&ApiError::unauthorized());
    };
    let user = match filters::impersonate(&state, user, &parts.headers) {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let query = Query::parse(parts.uri.query());
    let attrs = crate::endpoints::request::attributes(&parts.method, &path, &query);
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
    let resp = routes::route(&state, req).await;
    tracing::debug!(
        cluster = %state.name, %method, %path, %user,
        status = resp.status().as_u16(), elapsed = ?started.elapsed(), "request"
    );
    resp
}

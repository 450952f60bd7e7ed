//! Watch: `?watch=true` streams of newline-delimited `{"type":..., "object":...}` events.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Response;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult};
use crate::apis::types::ResourceType;
use crate::encoding::http::{Accept, Body, Request};
use crate::endpoints::handlers::list::{Selectors, parse_rv};
use crate::registry::rest::with_type_meta;
use crate::state::{State, Target};
use crate::storage::store::{EventType, ReadError};

/// The longest a watch stays open without an explicit timeoutSeconds (kube-apiserver's
/// --min-request-timeout default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Watch {
    state: Arc<State>,
    rt: Arc<ResourceType>,
    version: String,
    namespace: Option<String>,
    selectors: Selectors,
    accept: Accept,
    bookmarks: bool,
}

impl Watch {
    fn in_scope(&self, obj: &Value) -> bool {
        match &self.namespace {
            Some(ns) if self.rt.namespaced => meta::namespace(obj) == ns,
            _ => true,
        }
    }

    fn matches(&self, obj: &Value) -> bool {
        self.in_scope(obj) && self.selectors.matches(obj)
    }

    fn encode(&self, kind: &str, obj: &Value) -> Bytes {
        let typed = with_type_meta(obj, &self.rt, &self.version);
        let object = if let Some(v) = &self.accept.table {
            crate::encoding::table::table(
                &self.rt,
                &self.version,
                std::slice::from_ref(&typed),
                v,
                meta::resource_version(obj),
                None,
                "",
            )
        } else if let Some(v) = &self.accept.partial_metadata {
            json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{v}"), "metadata": typed.get("metadata").cloned().unwrap_or(json!({}))})
        } else {
            typed
        };
        event_line(kind, &object)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut md = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(&self.version), "metadata": md});
        event_line("BOOKMARK", &obj)
    }

    fn error(&self, e: &ApiError) -> Bytes {
        event_line("ERROR", &e.to_status())
    }
}

/// A watch stream line, as kube-apiserver frames each event.
fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn list_options_forbidden(field: &str, why: &str) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "ListOptions",
        "",
        vec![crate::apimachinery::status::Cause::forbidden(field, why)],
    )
}

fn too_old(requested: u64, oldest: u64) -> ApiError {
    ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
}

pub fn serve(
    state: &Arc<State>,
    req: &Request,
    accept: &Accept,
    target: Target,
) -> ApiResult<Response<Body>> {
    let mut selectors = Selectors::from_request(req, &target)?;
    if let Some(name) = &target.name {
        let supported = target.rt.supported_field_selectors(&target.version);
        let supported: Vec<&str> = supported.iter().map(String::as_str).collect();
        let mut fs = req.query.str("fieldSelector").to_string();
        if !fs.is_empty() {
            fs.push(',');
        }
        fs.push_str(&format!("metadata.name={name}"));
        selectors.fields = crate::apimachinery::selector::FieldSelector::parse(&fs, &supported)?;
    }
    let bookmarks = req.query.flag("allowWatchBookmarks")?;
    let send_initial = match req.query.get("sendInitialEvents") {
        Some(_) => Some(req.query.flag("sendInitialEvents")?),
        None => None,
    };
    let rv_param = req.query.str("resourceVersion").to_string();
    let rv_match = req.query.str("resourceVersionMatch");
    if send_initial.is_some() && rv_match != "NotOlderThan" {
        return Err(list_options_forbidden(
            "resourceVersionMatch",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    if send_initial == Some(true) && !bookmarks {
        return Err(list_options_forbidden(
            "allowWatchBookmarks",
            "allowWatchBookmarks must be set to true when sendInitialEvents is true",
        ));
    }
    if send_initial.is_none() && !rv_match.is_empty() {
        return Err(list_options_forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let timeout = match req.query.int("timeoutSeconds")? {
        Some(t) if t > 0 => Duration::from_secs(t as u64),
        _ => DEFAULT_TIMEOUT,
    };
    let start_rv = if rv_param.is_empty() || rv_param == "0" {
        None
    } else {
        Some(parse_rv(&rv_param)?)
    };
    // "" and "0": start with the current state; N: replay history after N.
    let initial = match send_initial {
        Some(v) => v,
        None => start_rv.is_none(),
    };

    let w = Watch {
        state: state.clone(),
        rt: target.rt.clone(),
        version: target.version.clone(),
        namespace: target.namespace.clone(),
        selectors,
        accept: accept.clone(),
        bookmarks,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let attrs = crate::endpoints::request::attributes(&req.method, &req.path, &req.query);
    if state.faults.take_watch_expiry(&req.user, &attrs) {
        // injected: this watch's history is gone
        let cur = state.store.current_rv();
        let asked = start_rv.unwrap_or(cur);
        let line = w.error(&too_old(asked, cur));
        tokio::spawn(async move {
            let _ = tx.send(line).await;
        });
    } else {
        tokio::spawn(run(w, tx, start_rv, initial, send_initial == Some(true), timeout));
    }
    let stream = tokio_stream_from(rx).map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b)));
    let body: Body = BodyExt::boxed(StreamBody::new(stream));
    let ct = if accept.table.is_some() {
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    } else {
        "application/json"
    };
    Ok(Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, ct)
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .expect("valid response"))
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Bytes> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn run(
    w: Watch,
    tx: mpsc::Sender<Bytes>,
    start_rv: Option<u64>,
    initial: bool,
    initial_end_bookmark: bool,
    timeout: Duration,
) {
    let storage = w.rt.storage_key();
    let mut notify = w.state.store.subscribe();
    let mut closer = w.state.faults.watch_epoch();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut cursor;
    if initial {
        let (rv, table) = w.state.store.snapshot(&storage);
        if let Some(want) = start_rv
            && want > rv
        {
            let _ = tx
                .send(w.error(&crate::endpoints::handlers::list::too_large_rv(want, rv)))
                .await;
            return;
        }
        for (_, obj) in table.iter() {
            if w.matches(obj) && tx.send(w.encode("ADDED", obj)).await.is_err() {
                return;
            }
        }
        cursor = rv;
        if initial_end_bookmark && tx.send(w.bookmark(rv, true)).await.is_err() {
            return;
        }
    } else {
        cursor = start_rv.unwrap_or(0);
    }
    let mut tick = tokio::time::interval(w.state.config.bookmark_interval);
    tick.tick().await;
    let mut last_sent = cursor;
    loop {
        match w.state.store.events_after(&storage, cursor) {
            Err(ReadError::TooOld(r, oldest)) => {
                let _ = tx.send(w.error(&too_old(r, oldest))).await;
                return;
            }
            Err(ReadError::TooLarge(..)) => {}
            Ok((events, now)) => {
                for e in events {
                    let prev_match = e.prev.as_deref().is_some_and(|p| w.matches(p));
                    let cur_match = w.matches(&e.object);
                    let out = match e.kind {
                        EventType::Added if cur_match => Some(("ADDED", e.object.clone())),
                        EventType::Modified if cur_match && prev_match => {
                            Some(("MODIFIED", e.object.clone()))
                        }
                        EventType::Modified if cur_match => Some(("ADDED", e.object.clone())),
                        EventType::Modified if prev_match => {
                            let mut p = (*e.prev.clone().expect("prev matched")).clone();
                            meta::meta_mut(&mut p).insert("resourceVersion".into(), json!(e.rv.to_string()));
                            Some(("DELETED", Arc::new(p)))
                        }
                        EventType::Deleted if cur_match => Some(("DELETED", e.object.clone())),
                        _ => None,
                    };
                    if let Some((kind, obj)) = out {
                        if tx.send(w.encode(kind, &obj)).await.is_err() {
                            return;
                        }
                        last_sent = e.rv;
                    }
                }
                cursor = now.max(cursor);
            }
        }
        tokio::select! {
            r = notify.changed() => if r.is_err() { return },
            _ = tick.tick() => {
                if w.bookmarks && cursor > last_sent {
                    if tx.send(w.bookmark(cursor, false)).await.is_err() {
                        return;
                    }
                    last_sent = cursor;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return,
            _ = w.state.shutdown.cancelled() => return,
            _ = closer.changed() => return,
            _ = tx.closed() => return,
        }
    }
}

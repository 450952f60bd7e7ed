//! Small kube-rs helpers shared by the providers and the bootstrap.

use std::path::Path;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use serde_json::Value;

/// The field manager of everything hubspoke applies.
pub const FIELD_MANAGER: &str = "hubspoke";

/// A client for `context` (or the current context) of the kubeconfig at `path`.
pub async fn client_from_kubeconfig(path: &Path, context: Option<&str>) -> Result<kube::Client, String> {
    let kc =
        kube::config::Kubeconfig::read_from(path).map_err(|e| format!("cannot read the kubeconfig: {e}"))?;
    client_from(kc, context).await
}

/// A client for `context` of a kubeconfig given as YAML text.
pub async fn client_from_yaml(yaml: &str, context: Option<&str>) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::from_yaml(yaml).map_err(|e| format!("invalid kubeconfig: {e}"))?;
    client_from(kc, context).await
}

async fn client_from(kc: kube::config::Kubeconfig, context: Option<&str>) -> Result<kube::Client, String> {
    if let Some(ctx) = context
        && !kc.contexts.iter().any(|c| c.name == ctx)
    {
        let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "it has no context {ctx:?} (contexts: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    let opts = kube::config::KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| format!("cannot use the kubeconfig: {e}"))?;
    kube::Client::try_from(cfg).map_err(|e| format!("cannot build a client: {e}"))
}

/// Server-side applies `obj` (which names itself) with hubspoke's field manager, forcing
/// ownership as `kubectl apply --server-side --force-conflicts` does.
pub async fn apply<K>(api: &Api<K>, obj: &Value) -> Result<K, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
}

/// Waits until `cond` holds for the object `name`, watching it; on timeout says what it
/// last saw through `describe`.
pub async fn wait_for<K, C>(
    api: Api<K>,
    name: &str,
    cond: C,
    within: Duration,
    what: &str,
    describe: impl Fn(Option<&K>) -> String,
) -> Result<K, String>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    C: kube::runtime::wait::Condition<K>,
{
    let last = std::sync::Arc::new(std::sync::Mutex::new(None::<K>));
    let seen = last.clone();
    let watching = await_condition(api, name, move |o: Option<&K>| {
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = o.cloned();
        cond.matches_object(o)
    });
    match tokio::time::timeout(within, watching).await {
        Ok(Ok(Some(o))) => Ok(o),
        Ok(Ok(None)) => Err(format!("{what}: {name} is gone")),
        Ok(Err(e)) => Err(format!("{what}: watching {name} failed: {e}")),
        Err(_) => {
            let last = last.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Err(format!(
                "{what}: not done after {within:?}; last seen: {}",
                describe(last.as_ref())
            ))
        }
    }
}

/// Watches every object of `api` and waits until `check` passes on the whole set; `check`
/// returns why it is not done yet, which the timeout error repeats.
pub async fn wait_all<K>(
    api: Api<K>,
    within: Duration,
    what: &str,
    check: impl Fn(&[K]) -> Result<(), String> + Send + Sync + 'static,
) -> Result<Vec<K>, String>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    use crate::expect::{Verdict, eventually, expect};
    let e = expect(what, move |objs: &[K]| match check(objs) {
        Ok(()) => Verdict::Pass,
        Err(why) => Verdict::Pending(why),
    });
    eventually(api, within, e.as_ref())
        .await
        .map_err(|f| f.to_string())
}

/// A kube-runtime watch of `api` that backs off between failed attempts as client-go's
/// reflectors do (kube-runtime's `default_backoff`: 0.8 s doubling to 30 s, with jitter).
/// Without it a watcher whose API server fails retries at once, forever, and the task
/// consuming it never yields (it cannot even be aborted). Every watch hubspoke makes goes
/// through here.
pub fn watch<K>(
    api: Api<K>,
    config: kube::runtime::watcher::Config,
) -> impl futures::Stream<Item = kube::runtime::watcher::Result<kube::runtime::watcher::Event<K>>> + Send
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    use kube::runtime::WatchStreamExt;
    kube::runtime::watcher(api, config).default_backoff()
}

/// Whether a watch error is definite, so that retrying cannot help: the credentials are
/// refused (401), the caller may not watch (403), or the resource type does not exist (404).
/// Anything else (a refused connection, a 5xx, a throttle) is worth another attempt.
pub fn watch_error_is_definite(e: &kube::runtime::watcher::Error) -> bool {
    use kube::runtime::watcher::Error as W;
    let code = match e {
        W::InitialListFailed(kube::Error::Api(s))
        | W::WatchStartFailed(kube::Error::Api(s))
        | W::WatchFailed(kube::Error::Api(s)) => s.code,
        W::WatchError(s) => s.code,
        _ => return false,
    };
    matches!(code, 401 | 403 | 404)
}

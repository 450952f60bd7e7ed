//! The EndpointSlice controller's part (kube-controller-manager): a Service with a selector
//! gets EndpointSlices listing the addresses of its pods, with the ports its target ports
//! resolve to, so that what routes through the Service (admission webhook calls among
//! others) reaches the pods.
//!
//! As the upstream controller does: slices are named `<service>-<random>`, owned by the
//! Service, labelled `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//! endpointslice-controller.k8s.io` (plus the Service's labels, and
//! `service.kubernetes.io/headless` for a headless Service); pods that finished or have no
//! address are left out; an endpoint is ready (and serving) when its pod is Ready and not
//! terminating, or always with `publishNotReadyAddresses`; a named target port resolves
//! through the pod's container ports, and pods that resolve the ports differently go to
//! different slices; a Service without endpoints keeps one empty placeholder slice. Slices
//! hold at most 100 endpoints (`--max-endpoints-per-slice`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::DynamicObject;

use super::*;

const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const MAX_ENDPOINTS: usize = 100;

/// The port a Service port targets on a pod (`FindPort`): a number as is, a name through
/// the pod's container ports of the same protocol.
fn find_port(pod: &Value, service_port: &Value) -> Option<i64> {
    let protocol = service_port["protocol"].as_str().unwrap_or("TCP");
    match service_port.get("targetPort") {
        Some(Value::String(name)) => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| p["name"] == name.as_str() && p["protocol"].as_str().unwrap_or("TCP") == protocol)
            .and_then(|p| p["containerPort"].as_i64()),
        Some(Value::Number(n)) => n.as_i64(),
        _ => service_port["port"].as_i64(),
    }
}

fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// The slices a Service should have: (ports, endpoints) per group of pods resolving the
/// ports alike.
fn desired(svc: &Value, pods: &[Value]) -> Vec<(Value, Vec<Value>)> {
    let ports: Vec<Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let publish_not_ready = svc
        .pointer("/spec/publishNotReadyAddresses")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut groups: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    let mut sorted: Vec<&Value> = pods.iter().collect();
    sorted.sort_by_key(|p| name_of(p).to_string());
    for pod in sorted {
        let ip = pod.pointer("/status/podIP").and_then(Value::as_str).unwrap_or("");
        if ip.is_empty() || pod_finished(pod) {
            continue;
        }
        let slice_ports: Vec<Value> = ports
            .iter()
            .filter_map(|sp| {
                let port = find_port(pod, sp)?;
                let mut p = json!({
                    "name": sp["name"].as_str().unwrap_or(""),
                    "port": port,
                    "protocol": sp["protocol"].as_str().unwrap_or("TCP"),
                });
                if let Some(a) = sp.get("appProtocol") {
                    p["appProtocol"] = a.clone();
                }
                Some(p)
            })
            .collect();
        let terminating = pod.pointer("/metadata/deletionTimestamp").is_some();
        let ready = publish_not_ready || (pod_ready(pod) && !terminating);
        let serving = publish_not_ready || pod_ready(pod);
        let mut endpoint = json!({
            "addresses": [ip],
            "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
            "targetRef": {"kind": "Pod", "namespace": pod.pointer("/metadata/namespace"), "name": name_of(pod), "uid": pod.pointer("/metadata/uid")},
        });
        if let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str) {
            endpoint["nodeName"] = json!(node);
        }
        let key = serde_json::to_string(&slice_ports).unwrap_or_default();
        groups
            .entry(key)
            .or_insert_with(|| (json!(slice_ports), Vec::new()))
            .1
            .push(endpoint);
    }
    let mut out = Vec::new();
    for (_, (ports, endpoints)) in groups {
        for chunk in endpoints.chunks(MAX_ENDPOINTS) {
            out.push((ports.clone(), chunk.to_vec()));
        }
    }
    out
}

fn selector_of(svc: &Value) -> Option<String> {
    let sel = svc.pointer("/spec/selector").and_then(Value::as_object)?;
    if sel.is_empty() {
        return None;
    }
    Some(
        sel.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
    )
}

pub(super) async fn reconcile(service: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let svc = to_value(service.as_ref())?;
    let ns = service.namespace().unwrap_or_default();
    let name = service.name_any();
    if svc.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Action::await_change());
    }
    // a Service without a selector has the endpoints someone else writes
    let Some(selector) = selector_of(&svc) else {
        return Ok(Action::await_change());
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let pods: Vec<Value> = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .iter()
        .map(to_value)
        .collect::<Result<_, _>>()?;
    let mut want = desired(&svc, &pods);
    if want.is_empty() {
        want.push((json!([]), Vec::new()));
    }
    let slices: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let existing: Vec<Value> = slices
        .list(&ListParams::default().labels(&format!(
            "kubernetes.io/service-name={name},endpointslice.kubernetes.io/managed-by={MANAGED_BY}"
        )))
        .await?
        .items
        .iter()
        .map(to_value)
        .collect::<Result<_, _>>()?;
    let mut labels = svc
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.insert("kubernetes.io/service-name".into(), json!(name));
    labels.insert("endpointslice.kubernetes.io/managed-by".into(), json!(MANAGED_BY));
    if svc.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None") {
        labels.insert("service.kubernetes.io/headless".into(), json!(""));
    }
    let owner = json!([{"apiVersion": "v1", "kind": "Service", "name": name, "uid": service.uid(), "controller": true, "blockOwnerDeletion": true}]);
    let mut unused: Vec<&Value> = existing.iter().collect();
    for (ports, endpoints) in want {
        // reuse a slice with the same ports, else any left over, else create one
        let pos = unused
            .iter()
            .position(|s| s.get("ports").cloned().unwrap_or(json!([])) == ports)
            .or(if unused.is_empty() { None } else { Some(0) });
        let body = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": ns, "labels": labels, "ownerReferences": owner,
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": now()}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        });
        match pos.map(|i| unused.remove(i)) {
            Some(cur) => {
                let same = cur.get("endpoints").cloned().unwrap_or(json!([])) == body["endpoints"]
                    && cur.get("ports").cloned().unwrap_or(json!([])) == body["ports"]
                    && cur.pointer("/metadata/labels").cloned().unwrap_or(json!({})) == json!(labels);
                if !same {
                    let patch = json!({
                        "metadata": {"labels": labels, "annotations": body["metadata"]["annotations"]},
                        "endpoints": body["endpoints"], "ports": body["ports"],
                    });
                    slices
                        .patch(name_of(cur), &as_controller_manager(), &Patch::Merge(patch))
                        .await?;
                }
            }
            None => {
                let mut body = body;
                body["metadata"]["generateName"] = json!(format!("{}-", truncate_name(&name)));
                let obj: DynamicObject =
                    serde_json::from_value(body).map_err(|e| ReconcileError(e.to_string()))?;
                let api: Api<DynamicObject> = Api::namespaced_with(
                    ctx.client.clone(),
                    &ns,
                    &kube::core::ApiResource::erase::<EndpointSlice>(&()),
                );
                api.create(&PostParams::default(), &obj).await?;
            }
        }
    }
    for extra in unused {
        match slices.delete(name_of(extra), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}

/// The generateName prefix: names are cut so that the generated suffix fits (63 - 5).
fn truncate_name(name: &str) -> &str {
    let max = 63 - 5 - 1;
    if name.len() > max { &name[..max] } else { name }
}

/// The Services in a pod's namespace that select it: what a pod change wakes.
pub(super) fn services_of_pod(
    store: &kube::runtime::reflector::Store<Service>,
    pod: &Pod,
) -> Vec<ObjectRefService> {
    let ns = pod.namespace().unwrap_or_default();
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    store
        .state()
        .iter()
        .filter(|s| s.namespace().as_deref() == Some(ns.as_str()))
        .filter(|s| {
            s.spec
                .as_ref()
                .and_then(|sp| sp.selector.as_ref())
                .is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
        .map(|s| kube::runtime::reflector::ObjectRef::from_obj(s.as_ref()))
        .collect()
}

pub(super) type ObjectRefService = kube::runtime::reflector::ObjectRef<Service>;

/// The controller: Services, woken by changes to the pods they select.
pub(super) fn run(ctx: &Arc<Ctx>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let c = ctx.clone();
    async move {
        let ctl = Controller::new(Api::<Service>::all(c.client.clone()), watcher::Config::default());
        let store = ctl.store();
        ctl.watches(
            Api::<Pod>::all(c.client.clone()),
            watcher::Config::default(),
            move |pod| services_of_pod(&store, &pod),
        )
        .run(reconcile, retry, c)
        .for_each(|_| async {})
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool, ports: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}")},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn endpoints_resolve_named_ports_and_group_pods_by_them() {
        let svc = json!({"spec": {"selector": {"app": "x"}, "ports": [
            {"name": "https", "port": 443, "targetPort": "https"},
            {"name": "metrics", "port": 8000, "targetPort": 8000},
        ]}});
        let pods = [
            pod(
                "b",
                "10.0.0.2",
                false,
                json!([{"name": "https", "containerPort": 9443}]),
            ),
            pod(
                "a",
                "10.0.0.1",
                true,
                json!([{"name": "https", "containerPort": 9443}]),
            ),
            pod(
                "c",
                "10.0.0.3",
                true,
                json!([{"name": "https", "containerPort": 8443}]),
            ),
            pod("d", "", true, json!([])),
        ];
        let got = desired(&svc, &pods);
        assert_eq!(got.len(), 2);
        let (ports, eps) = &got.iter().find(|(p, _)| p[0]["port"] == 9443).unwrap();
        assert_eq!(
            ports,
            &json!([{"name": "https", "port": 9443, "protocol": "TCP"}, {"name": "metrics", "port": 8000, "protocol": "TCP"}])
        );
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0]["addresses"], json!(["10.0.0.1"]));
        assert_eq!(
            eps[0]["conditions"],
            json!({"ready": true, "serving": true, "terminating": false})
        );
        assert_eq!(eps[1]["conditions"]["ready"], false);
        assert_eq!(eps[0]["targetRef"]["name"], "a");
        assert_eq!(eps[0]["nodeName"], "n1");
    }

    #[test]
    fn publish_not_ready_addresses_makes_every_endpoint_ready() {
        let svc = json!({"spec": {"selector": {"app": "x"}, "publishNotReadyAddresses": true, "ports": [{"port": 80}]}});
        let got = desired(&svc, &[pod("a", "10.0.0.1", false, json!([]))]);
        assert_eq!(got[0].0, json!([{"name": "", "port": 80, "protocol": "TCP"}]));
        assert_eq!(got[0].1[0]["conditions"]["ready"], true);
        assert_eq!(selector_of(&json!({"spec": {"selector": {}}})), None);
        assert_eq!(selector_of(&json!({"spec": {}})), None);
    }
}

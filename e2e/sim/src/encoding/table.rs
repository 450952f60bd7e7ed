//! `meta.k8s.io/v1` Table output (what `kubectl get` prints), with the columns of
//! kube-apiserver's built-in printers and CRDs' `additionalPrinterColumns`.

use serde_json::{Map, Value, json};

use crate::apimachinery::meta;
use crate::apis::types::{Column, ResourceType};

/// `duration.HumanDuration` from k8s.io/apimachinery.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn since(ts: Option<&str>) -> String {
    let Some(ts) = ts else { return "<unknown>".into() };
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => human_duration(jiff::Timestamp::now().as_second() - t.as_second()),
        Err(_) => "<unknown>".into(),
    }
}

fn age(obj: &Value) -> Value {
    json!(since(
        meta::meta(obj)
            .and_then(|m| m.get("creationTimestamp"))
            .and_then(Value::as_str)
    ))
}

fn col(name: &str, ty: &str, format: &str, priority: i64, description: &str) -> Column {
    Column {
        name: name.into(),
        type_: ty.into(),
        format: format.into(),
        description: description.into(),
        priority,
        json_path: String::new(),
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn name_col() -> Column {
    col("Name", "string", "name", 0, NAME_DESC)
}
fn age_col() -> Column {
    col("Age", "string", "", 0, AGE_DESC)
}

fn s(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn i(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_i64).unwrap_or(0)
}

fn ptr<'a>(obj: &'a Value, p: &str) -> Option<&'a Value> {
    obj.pointer(p)
}

fn join_or_none(items: Vec<String>) -> String {
    if items.is_empty() {
        "<none>".into()
    } else {
        items.join(",")
    }
}

fn containers_images(spec: Option<&Value>) -> (String, String) {
    let cs: Vec<&Value> = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    (
        cs.iter().map(|c| s(c.get("name"))).collect::<Vec<_>>().join(","),
        cs.iter().map(|c| s(c.get("image"))).collect::<Vec<_>>().join(","),
    )
}

fn selector_str(sel: Option<&Value>) -> String {
    let mut parts: Vec<String> = sel
        .and_then(|x| x.get("matchLabels"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    parts.sort();
    join_or_none(parts)
}

fn pod_row(p: &Value) -> Vec<Value> {
    let containers = ptr(p, "/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    let statuses: Vec<&Value> = ptr(p, "/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let ready = statuses
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses.iter().map(|c| i(c.get("restartCount"))).sum();
    let mut reason = s(ptr(p, "/status/phase"));
    if let Some(r) = ptr(p, "/status/reason").and_then(Value::as_str) {
        reason = r.to_string();
    }
    for c in statuses.iter().rev() {
        if let Some(w) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = w.to_string();
        } else if let Some(t) = c.pointer("/state/terminated/reason").and_then(Value::as_str) {
            reason = t.to_string();
        }
    }
    if meta::deletion_timestamp(p).is_some() {
        reason = "Terminating".into();
    }
    let ip = s(ptr(p, "/status/podIP"));
    vec![
        json!(meta::name(p)),
        json!(format!("{ready}/{containers}")),
        json!(reason),
        json!(restarts),
        age(p),
        json!(if ip.is_empty() { "<none>".into() } else { ip }),
        json!(
            ptr(p, "/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("<none>")
        ),
        json!("<none>"),
        json!("<none>"),
    ]
}

fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = ptr(svc, "/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) => format!("{}:{np}/{proto}", i(p.get("port"))),
                None => format!("{}/{proto}", i(p.get("port"))),
            }
        })
        .collect();
    join_or_none(ports)
}

/// kubectl's `listWithMoreString` over the first three items of a list (the printers'
/// `formatDiscoveryPorts` / `formatDiscoveryEndpoints`): `a,b,c + N more...`, `<unset>`
/// when empty.
fn list_with_more(items: &[String]) -> String {
    const MAX: usize = 3;
    let ret = items.iter().take(MAX).cloned().collect::<Vec<_>>().join(",");
    if items.len() > MAX {
        return format!("{ret} + {} more...", items.len() - MAX);
    }
    if ret.is_empty() {
        return "<unset>".into();
    }
    ret
}

/// Columns and one row of cells for a built-in type; None means the default table.
/// Computes the cells of one row.
type RowFn = fn(&Value) -> Vec<Value>;

fn builtin_printer(rt: &ResourceType) -> Option<(Vec<Column>, RowFn)> {
    let c = |n: &str, p: i64| col(n, "string", "", p, "");
    let num = |n: &str, p: i64| col(n, "integer", "", p, "");
    Some(match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => (vec![name_col(), c("Status", 0), age_col()], |o| {
            vec![json!(meta::name(o)), json!(s(ptr(o, "/status/phase"))), age(o)]
        }),
        ("", "ConfigMap") => (vec![name_col(), num("Data", 0), age_col()], |o| {
            let n = o
                .get("data")
                .and_then(Value::as_object)
                .map(Map::len)
                .unwrap_or(0)
                + o.get("binaryData")
                    .and_then(Value::as_object)
                    .map(Map::len)
                    .unwrap_or(0);
            vec![json!(meta::name(o)), json!(n), age(o)]
        }),
        ("", "Secret") => (vec![name_col(), c("Type", 0), num("Data", 0), age_col()], |o| {
            let n = o
                .get("data")
                .and_then(Value::as_object)
                .map(Map::len)
                .unwrap_or(0);
            vec![json!(meta::name(o)), json!(s(o.get("type"))), json!(n), age(o)]
        }),
        ("", "ServiceAccount") => (vec![name_col(), num("Secrets", 0), age_col()], |o| {
            let n = o
                .get("secrets")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            vec![json!(meta::name(o)), json!(n), age(o)]
        }),
        ("", "Service") => (
            vec![
                name_col(),
                c("Type", 0),
                c("Cluster-IP", 0),
                c("External-IP", 0),
                c("Port(s)", 0),
                age_col(),
                c("Selector", 1),
            ],
            |o| {
                let ext: Vec<String> = ptr(o, "/status/loadBalancer/ingress")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|x| s(x.get("ip").or(x.get("hostname"))))
                    .collect();
                let sel: Vec<String> = ptr(o, "/spec/selector")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect();
                let ty = s(ptr(o, "/spec/type"));
                let ext = if ext.is_empty() {
                    if ty == "LoadBalancer" {
                        "<pending>".to_string()
                    } else {
                        "<none>".to_string()
                    }
                } else {
                    ext.join(",")
                };
                vec![
                    json!(meta::name(o)),
                    json!(ty),
                    json!(s(ptr(o, "/spec/clusterIP"))),
                    json!(ext),
                    json!(service_ports(o)),
                    age(o),
                    json!(join_or_none(sel)),
                ]
            },
        ),
        ("discovery.k8s.io", "EndpointSlice") => (
            vec![
                name_col(),
                c("AddressType", 0),
                c("Ports", 0),
                c("Endpoints", 0),
                age_col(),
            ],
            |o| {
                let ports: Vec<String> = ptr(o, "/ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        match (
                            p.get("port").and_then(Value::as_i64),
                            p.get("name").and_then(Value::as_str),
                        ) {
                            (Some(n), _) => n.to_string(),
                            (None, Some(name)) => name.to_string(),
                            (None, None) => "*".to_string(),
                        }
                    })
                    .collect();
                let addresses: Vec<String> = ptr(o, "/endpoints")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
                    .map(|a| s(Some(&a)))
                    .collect();
                vec![
                    json!(meta::name(o)),
                    json!(s(o.get("addressType"))),
                    json!(list_with_more(&ports)),
                    json!(list_with_more(&addresses)),
                    age(o),
                ]
            },
        ),
        ("", "Node") => (
            vec![
                name_col(),
                c("Status", 0),
                c("Roles", 0),
                age_col(),
                c("Version", 0),
                c("Internal-IP", 1),
                c("External-IP", 1),
                c("OS-Image", 1),
                c("Kernel-Version", 1),
                c("Container-Runtime", 1),
            ],
            |o| {
                let ready = ptr(o, "/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|cs| {
                        cs.iter()
                            .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                    })
                    .map(|c| {
                        if c.get("status").and_then(Value::as_str) == Some("True") {
                            "Ready"
                        } else {
                            "NotReady"
                        }
                    })
                    .unwrap_or("Unknown");
                let status = if ptr(o, "/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                    format!("{ready},SchedulingDisabled")
                } else {
                    ready.to_string()
                };
                let mut roles: Vec<String> = meta::string_map(o, "labels")
                    .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string))
                    .collect();
                roles.sort();
                let address = |t: &str| {
                    ptr(o, "/status/addresses")
                        .and_then(Value::as_array)
                        .and_then(|a| {
                            a.iter()
                                .find(|x| x.get("type").and_then(Value::as_str) == Some(t))
                        })
                        .map(|x| s(x.get("address")))
                        .unwrap_or_else(|| "<none>".into())
                };
                vec![
                    json!(meta::name(o)),
                    json!(status),
                    json!(join_or_none(roles)),
                    age(o),
                    json!(s(ptr(o, "/status/nodeInfo/kubeletVersion"))),
                    json!(address("InternalIP")),
                    json!(address("ExternalIP")),
                    json!(s(ptr(o, "/status/nodeInfo/osImage"))),
                    json!(s(ptr(o, "/status/nodeInfo/kernelVersion"))),
                    json!(s(ptr(o, "/status/nodeInfo/containerRuntimeVersion"))),
                ]
            },
        ),
        ("", "Pod") => (
            vec![
                name_col(),
                c("Ready", 0),
                c("Status", 0),
                num("Restarts", 0),
                age_col(),
                c("IP", 1),
                c("Node", 1),
                c("Nominated Node", 1),
                c("Readiness Gates", 1),
            ],
            pod_row,
        ),
        ("", "Event") => (
            vec![
                c("Last Seen", 0),
                c("Type", 0),
                c("Reason", 0),
                c("Object", 0),
                c("Subobject", 1),
                c("Source", 1),
                c("Message", 0),
                c("First Seen", 1),
                num("Count", 1),
                name_col(),
            ],
            |o| {
                let last = o
                    .get("lastTimestamp")
                    .or(o.get("eventTime"))
                    .and_then(Value::as_str);
                let obj = format!(
                    "{}/{}",
                    s(ptr(o, "/involvedObject/kind")).to_lowercase(),
                    s(ptr(o, "/involvedObject/name"))
                );
                vec![
                    json!(since(last)),
                    json!(s(o.get("type"))),
                    json!(s(o.get("reason"))),
                    json!(obj),
                    json!(s(ptr(o, "/involvedObject/fieldPath"))),
                    json!(s(ptr(o, "/source/component"))),
                    json!(s(o.get("message"))),
                    json!(since(o.get("firstTimestamp").and_then(Value::as_str))),
                    json!(i(o.get("count"))),
                    json!(meta::name(o)),
                ]
            },
        ),
        ("apps", "Deployment") => (
            vec![
                name_col(),
                c("Ready", 0),
                num("Up-to-date", 0),
                num("Available", 0),
                age_col(),
                c("Containers", 1),
                c("Images", 1),
                c("Selector", 1),
            ],
            |o| {
                let (cs, is) = containers_images(ptr(o, "/spec/template/spec"));
                vec![
                    json!(meta::name(o)),
                    json!(format!(
                        "{}/{}",
                        i(ptr(o, "/status/readyReplicas")),
                        i(ptr(o, "/spec/replicas"))
                    )),
                    json!(i(ptr(o, "/status/updatedReplicas"))),
                    json!(i(ptr(o, "/status/availableReplicas"))),
                    age(o),
                    json!(cs),
                    json!(is),
                    json!(selector_str(ptr(o, "/spec/selector"))),
                ]
            },
        ),
        ("apps", "ReplicaSet") | ("", "ReplicationController") => (
            vec![
                name_col(),
                num("Desired", 0),
                num("Current", 0),
                num("Ready", 0),
                age_col(),
                c("Containers", 1),
                c("Images", 1),
                c("Selector", 1),
            ],
            |o| {
                let (cs, is) = containers_images(ptr(o, "/spec/template/spec"));
                vec![
                    json!(meta::name(o)),
                    json!(i(ptr(o, "/spec/replicas"))),
                    json!(i(ptr(o, "/status/replicas"))),
                    json!(i(ptr(o, "/status/readyReplicas"))),
                    age(o),
                    json!(cs),
                    json!(is),
                    json!(selector_str(ptr(o, "/spec/selector"))),
                ]
            },
        ),
        ("apps", "StatefulSet") => (
            vec![
                name_col(),
                c("Ready", 0),
                age_col(),
                c("Containers", 1),
                c("Images", 1),
            ],
            |o| {
                let (cs, is) = containers_images(ptr(o, "/spec/template/spec"));
                vec![
                    json!(meta::name(o)),
                    json!(format!(
                        "{}/{}",
                        i(ptr(o, "/status/readyReplicas")),
                        i(ptr(o, "/spec/replicas"))
                    )),
                    age(o),
                    json!(cs),
                    json!(is),
                ]
            },
        ),
        ("apps", "DaemonSet") => (
            vec![
                name_col(),
                num("Desired", 0),
                num("Current", 0),
                num("Ready", 0),
                num("Up-to-date", 0),
                num("Available", 0),
                c("Node Selector", 0),
                age_col(),
                c("Containers", 1),
                c("Images", 1),
                c("Selector", 1),
            ],
            |o| {
                let (cs, is) = containers_images(ptr(o, "/spec/template/spec"));
                let ns: Vec<String> = ptr(o, "/spec/template/spec/nodeSelector")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect();
                vec![
                    json!(meta::name(o)),
                    json!(i(ptr(o, "/status/desiredNumberScheduled"))),
                    json!(i(ptr(o, "/status/currentNumberScheduled"))),
                    json!(i(ptr(o, "/status/numberReady"))),
                    json!(i(ptr(o, "/status/updatedNumberScheduled"))),
                    json!(i(ptr(o, "/status/numberAvailable"))),
                    json!(join_or_none(ns)),
                    age(o),
                    json!(cs),
                    json!(is),
                    json!(selector_str(ptr(o, "/spec/selector"))),
                ]
            },
        ),
        ("batch", "Job") => (
            vec![
                name_col(),
                c("Status", 0),
                c("Completions", 0),
                c("Duration", 0),
                age_col(),
                c("Containers", 1),
                c("Images", 1),
                c("Selector", 1),
            ],
            |o| {
                let (cs, is) = containers_images(ptr(o, "/spec/template/spec"));
                let conds: Vec<&Value> = ptr(o, "/status/conditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .collect();
                let has = |t: &str| {
                    conds.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some(t)
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                };
                let status = if has("Complete") {
                    "Complete"
                } else if has("Failed") {
                    "Failed"
                } else if meta::deletion_timestamp(o).is_some() {
                    "Terminating"
                } else if has("Suspended") {
                    "Suspended"
                } else {
                    "Running"
                };
                let start = ptr(o, "/status/startTime")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok());
                let end = ptr(o, "/status/completionTime")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok());
                let duration = match (start, end) {
                    (Some(s), Some(e)) => human_duration(e.as_second() - s.as_second()),
                    (Some(s), None) => human_duration(jiff::Timestamp::now().as_second() - s.as_second()),
                    _ => String::new(),
                };
                vec![
                    json!(meta::name(o)),
                    json!(status),
                    json!(format!(
                        "{}/{}",
                        i(ptr(o, "/status/succeeded")),
                        ptr(o, "/spec/completions").and_then(Value::as_i64).unwrap_or(1)
                    )),
                    json!(duration),
                    age(o),
                    json!(cs),
                    json!(is),
                    json!(selector_str(ptr(o, "/spec/selector"))),
                ]
            },
        ),
        ("coordination.k8s.io", "Lease") => (vec![name_col(), c("Holder", 0), age_col()], |o| {
            vec![
                json!(meta::name(o)),
                json!(s(ptr(o, "/spec/holderIdentity"))),
                age(o),
            ]
        }),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => (
            vec![
                name_col(),
                c("Role", 0),
                age_col(),
                c("Users", 1),
                c("Groups", 1),
                c("ServiceAccounts", 1),
            ],
            |o| {
                let subj: Vec<&Value> = o
                    .get("subjects")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .collect();
                let of = |k: &str| -> String {
                    subj.iter()
                        .filter(|x| x.get("kind").and_then(Value::as_str) == Some(k))
                        .map(|x| {
                            if k == "ServiceAccount" {
                                format!("{}/{}", s(x.get("namespace")), s(x.get("name")))
                            } else {
                                s(x.get("name"))
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                vec![
                    json!(meta::name(o)),
                    json!(format!(
                        "{}/{}",
                        s(ptr(o, "/roleRef/kind")),
                        s(ptr(o, "/roleRef/name"))
                    )),
                    age(o),
                    json!(of("User")),
                    json!(of("Group")),
                    json!(of("ServiceAccount")),
                ]
            },
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => (vec![name_col(), num("Webhooks", 0), age_col()], |o| {
            vec![
                json!(meta::name(o)),
                json!(
                    o.get("webhooks")
                        .and_then(Value::as_array)
                        .map(Vec::len)
                        .unwrap_or(0)
                ),
                age(o),
            ]
        }),
        ("", "Endpoints") => (vec![name_col(), c("Endpoints", 0), age_col()], |o| {
            let mut eps = Vec::new();
            for sset in o.get("subsets").and_then(Value::as_array).into_iter().flatten() {
                let ports: Vec<i64> = sset
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| i(p.get("port")))
                    .collect();
                for a in sset
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for p in &ports {
                        eps.push(format!("{}:{p}", s(a.get("ip"))));
                    }
                }
            }
            vec![json!(meta::name(o)), json!(join_or_none(eps)), age(o)]
        }),
        _ => return None,
    })
}

fn crd_columns(rt: &ResourceType, version: &str) -> Vec<Column> {
    let v = rt.version(version);
    let mut cols = vec![name_col()];
    match v {
        Some(v) if !v.columns.is_empty() => cols.extend(v.columns.iter().cloned()),
        _ => cols.push(Column {
            json_path: ".metadata.creationTimestamp".into(),
            ..col("Age", "date", "", 0, AGE_DESC)
        }),
    }
    cols
}

/// Evaluates the simple JSONPath subset CRD printer columns use (`.a.b`, `.a[0].b`,
/// `.a[?(@.type=="Ready")].status`).
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('.');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = r[end + 1..].trim_start_matches('.');
            let arr = cur.as_array()?;
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (field, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches('"').trim_matches('\'');
                cur = arr
                    .iter()
                    .find(|x| x.get(field.trim()).map(|v| s(Some(v))) == Some(want.to_string()))?;
            } else {
                cur = arr.get(inner.parse::<usize>().ok()?)?;
            }
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        cur = cur.get(&rest[..end])?;
        rest = rest[end..].trim_start_matches('.');
    }
    Some(cur)
}

fn crd_cell(obj: &Value, c: &Column) -> Value {
    if c.name == "Name" && c.json_path.is_empty() {
        return json!(meta::name(obj));
    }
    match json_path(obj, &c.json_path) {
        None => Value::Null,
        Some(v) => match c.type_.as_str() {
            "date" => json!(since(v.as_str())),
            "integer" => v.as_i64().map(|n| json!(n)).unwrap_or(Value::Null),
            "number" => v.as_f64().map(|n| json!(n)).unwrap_or(Value::Null),
            "boolean" => v.as_bool().map(|b| json!(b)).unwrap_or(Value::Null),
            _ => match v {
                Value::String(_) => v.clone(),
                other => json!(other.to_string()),
            },
        },
    }
}

fn row_object(obj: &Value, include: &str) -> Option<Value> {
    match include {
        "None" => None,
        "Object" => Some(obj.clone()),
        _ => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        })),
    }
}

/// Builds a Table of `objects`.
pub fn table(
    rt: &ResourceType,
    version: &str,
    objects: &[Value],
    table_version: &str,
    resource_version: &str,
    list_meta: Option<Value>,
    include_object: &str,
) -> Value {
    let (columns, rows): (Vec<Column>, Vec<Vec<Value>>) = match (rt.is_custom(), builtin_printer(rt)) {
        (false, Some((cols, f))) => (cols, objects.iter().map(f).collect()),
        (false, None) => (
            vec![name_col(), col("Created At", "date", "", 0, AGE_DESC)],
            objects
                .iter()
                .map(|o| {
                    vec![
                        json!(meta::name(o)),
                        meta::meta(o)
                            .and_then(|m| m.get("creationTimestamp"))
                            .cloned()
                            .unwrap_or(Value::Null),
                    ]
                })
                .collect(),
        ),
        (true, _) => {
            let cols = crd_columns(rt, version);
            let rows = objects
                .iter()
                .map(|o| cols.iter().map(|c| crd_cell(o, c)).collect())
                .collect();
            (cols, rows)
        }
    };
    let defs: Vec<Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect();
    let rows: Vec<Value> = rows
        .into_iter()
        .zip(objects)
        .map(|(cells, o)| {
            let mut r = Map::new();
            r.insert("cells".into(), Value::Array(cells));
            if let Some(obj) = row_object(o, include_object) {
                r.insert("object".into(), obj);
            }
            Value::Object(r)
        })
        .collect();
    let mut md = list_meta.and_then(|m| m.as_object().cloned()).unwrap_or_default();
    if !resource_version.is_empty() {
        md.insert("resourceVersion".into(), json!(resource_version));
    }
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{table_version}"),
        "metadata": md,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_apimachinery() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(10 * 3600), "10h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(human_duration(30 * 86400), "30d");
    }

    #[test]
    fn endpoint_slices_print_as_kubectl_prints_them() {
        let rt = ResourceType {
            group: "discovery.k8s.io".into(),
            kind: "EndpointSlice".into(),
            list_kind: "EndpointSliceList".into(),
            plural: "endpointslices".into(),
            singular: "endpointslice".into(),
            short_names: vec![],
            categories: vec![],
            namespaced: true,
            versions: vec![],
            builtin: None,
        };
        let (cols, row) = builtin_printer(&rt).unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Name", "AddressType", "Ports", "Endpoints", "Age"]);
        let slice = json!({"metadata": {"name": "web-abcde"}, "addressType": "IPv4",
            "ports": [{"name": "https", "port": 9443}, {"name": "named"}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}, {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}, {"addresses": ["10.0.0.5"]}]});
        let cells = row(&slice);
        assert_eq!(
            cells[1..4],
            [
                json!("IPv4"),
                json!("9443,named"),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...")
            ]
        );
        let placeholder =
            row(&json!({"metadata": {"name": "web-fghij"}, "addressType": "IPv4", "endpoints": []}));
        assert_eq!(placeholder[2..4], [json!("<unset>"), json!("<unset>")]);
    }

    #[test]
    fn printer_column_json_paths() {
        let o = json!({"status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}, "spec": {"items": [{"n": 1}]}});
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(json_path(&o, ".spec.items[0].n"), Some(&json!(1)));
        assert_eq!(json_path(&o, ".spec.missing"), None);
    }
}

//! Defaulting of built-in types, as kube-apiserver's `SetDefaults_*` functions and default
//! admission plugins do it. GitOps tools diff against these values, so they matter.

use serde_json::{Map, Value, json};

use crate::apimachinery::meta;
use crate::apis::types::ResourceType;

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    let m = v.as_object_mut().expect("object");
    let e = m.entry(key.to_string()).or_insert_with(|| json!({}));
    if !e.is_object() {
        *e = json!({});
    }
    e.as_object_mut().expect("object")
}

fn default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if !m.contains_key(key) || m.get(key) == Some(&Value::Null) {
        m.insert(key.to_string(), v);
    }
}

/// Applies the defaults for `rt` to `obj` (`old` is the stored object on updates).
pub fn apply(rt: &ResourceType, obj: &mut Value, old: Option<&Value>) {
    if !obj.is_object() {
        return;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => {
            pod_spec(obj_mut(obj, "spec"), true);
            if old.is_none() {
                let spec = obj.get("spec").cloned().unwrap_or(json!({}));
                let status = obj_mut(obj, "status");
                default(status, "phase", json!("Pending"));
                default(status, "qosClass", json!(qos_class(&spec)));
            }
        }
        ("", "PodTemplate") => pod_template(obj_mut(obj, "template")),
        ("", "ReplicationController") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "minReadySeconds", json!(0));
            pod_template(template_of(spec));
        }
        ("apps", "Deployment") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            rolling_strategy(
                spec,
                "strategy",
                &[("maxUnavailable", json!("25%")), ("maxSurge", json!("25%"))],
            );
            pod_template(template_of(spec));
        }
        ("apps", "ReplicaSet") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            pod_template(template_of(spec));
        }
        ("apps", "StatefulSet") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(spec, "revisionHistoryLimit", json!(10));
            default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            rolling_strategy(spec, "updateStrategy", &[("partition", json!(0))]);
            if let Some(vcts) = spec.get_mut("volumeClaimTemplates").and_then(Value::as_array_mut) {
                for v in vcts {
                    if let Some(s) = v.get_mut("spec").and_then(Value::as_object_mut) {
                        default(s, "volumeMode", json!("Filesystem"));
                    }
                    if let Some(m) = v.as_object_mut() {
                        default(m, "apiVersion", json!("v1"));
                        default(m, "kind", json!("PersistentVolumeClaim"));
                        let st = m.entry("status").or_insert_with(|| json!({}));
                        if let Some(st) = st.as_object_mut() {
                            default(st, "phase", json!("Pending"));
                        }
                    }
                }
            }
            pod_template(template_of(spec));
        }
        ("apps", "DaemonSet") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            rolling_strategy(
                spec,
                "updateStrategy",
                &[("maxUnavailable", json!(1)), ("maxSurge", json!(0))],
            );
            pod_template(template_of(spec));
        }
        ("batch", "Job") => job(obj, old),
        ("batch", "CronJob") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            let jt = spec.entry("jobTemplate").or_insert_with(|| json!({}));
            if let Some(jt) = jt.as_object_mut() {
                let js = jt.entry("spec").or_insert_with(|| json!({}));
                if let Some(js) = js.as_object_mut() {
                    job_spec(js);
                    pod_template(template_of(js));
                }
            }
        }
        ("", "Service") => service(obj, old),
        ("", "Secret") => {
            // stringData is write-only: it is merged into data (base64) as the object is
            // decoded, so nothing stored or shown has it
            use base64::Engine;
            if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
                let data = obj_mut(obj, "data");
                for (k, v) in sd {
                    let text = v.as_str().unwrap_or("").to_string();
                    data.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(text)));
                }
            }
            let m = obj.as_object_mut().expect("object");
            default(m, "type", json!("Opaque"));
        }
        ("", "Namespace") => {
            let name = meta::name(obj).to_string();
            let labels = meta::meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if old.is_none() {
                let spec = obj_mut(obj, "spec");
                default(spec, "finalizers", json!(["kubernetes"]));
                let status = obj_mut(obj, "status");
                default(status, "phase", json!("Active"));
            }
        }
        ("", "PersistentVolumeClaim") => {
            let spec = obj_mut(obj, "spec");
            default(spec, "volumeMode", json!("Filesystem"));
            if old.is_none() {
                default(obj_mut(obj, "status"), "phase", json!("Pending"));
            }
        }
        ("", "Endpoints") => {
            for subset in obj
                .get_mut("subsets")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                each_item(Some(subset), "ports", |p| default(p, "protocol", json!("TCP")));
            }
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            each_item(Some(obj), "ports", |p| default(p, "protocol", json!("TCP")))
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            for s in obj
                .get_mut("subjects")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(s) = s.as_object_mut() {
                    match s.get("kind").and_then(Value::as_str) {
                        Some("ServiceAccount") => default(s, "apiGroup", json!("")),
                        Some("User") | Some("Group") => {
                            default(s, "apiGroup", json!("rbac.authorization.k8s.io"))
                        }
                        _ => {}
                    }
                }
            }
        }
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => {
            let mutating = rt.kind.starts_with("Mutating");
            for w in obj
                .get_mut("webhooks")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let Some(w) = w.as_object_mut() else { continue };
                default(w, "failurePolicy", json!("Fail"));
                default(w, "matchPolicy", json!("Equivalent"));
                default(w, "namespaceSelector", json!({}));
                default(w, "objectSelector", json!({}));
                default(w, "timeoutSeconds", json!(10));
                if mutating {
                    default(w, "reinvocationPolicy", json!("Never"));
                }
                if let Some(svc) = w
                    .get_mut("clientConfig")
                    .and_then(|c| c.get_mut("service"))
                    .and_then(Value::as_object_mut)
                {
                    default(svc, "port", json!(443));
                }
                for r in w
                    .get_mut("rules")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(r) = r.as_object_mut() {
                        default(r, "scope", json!("*"));
                    }
                }
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if old.is_none() {
                let mut fins = meta::finalizers(obj);
                if !fins.iter().any(|f| f == crate::apis::crd::CLEANUP_FINALIZER) {
                    fins.push(crate::apis::crd::CLEANUP_FINALIZER.to_string());
                    meta::set_finalizers(obj, fins);
                }
            }
            let spec = obj_mut(obj, "spec");
            let conv = spec.entry("conversion").or_insert_with(|| json!({}));
            if let Some(c) = conv.as_object_mut() {
                default(c, "strategy", json!("None"));
            }
            let names = spec.get("names").cloned();
            if let Some(n) = spec.get_mut("names").and_then(Value::as_object_mut)
                && !n.contains_key("singular")
                && let Some(k) = names.as_ref().and_then(|n| n.get("kind")).and_then(Value::as_str)
            {
                n.insert("singular".into(), json!(k.to_lowercase()));
            }
            if let Some(n) = spec.get_mut("names").and_then(Value::as_object_mut)
                && !n.contains_key("listKind")
                && let Some(k) = n.get("kind").and_then(Value::as_str).map(str::to_string)
            {
                n.insert("listKind".into(), json!(format!("{k}List")));
            }
        }
        _ => {}
    }
}

/// Strategy defaults: `type: RollingUpdate` and, for rolling updates, `rollingUpdate` fields.
fn rolling_strategy(spec: &mut Map<String, Value>, key: &str, fields: &[(&str, Value)]) {
    let Some(s) = spec.entry(key).or_insert_with(|| json!({})).as_object_mut() else {
        return;
    };
    default(s, "type", json!("RollingUpdate"));
    if s.get("type") == Some(&json!("RollingUpdate"))
        && let Some(ru) = s
            .entry("rollingUpdate")
            .or_insert_with(|| json!({}))
            .as_object_mut()
    {
        for (k, v) in fields {
            default(ru, k, v.clone());
        }
    }
}

/// Calls `f` on each object in the list at `key` of `v`.
fn each_item(v: Option<&mut Value>, key: &str, mut f: impl FnMut(&mut Map<String, Value>)) {
    for item in v
        .and_then(|v| v.get_mut(key))
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(m) = item.as_object_mut() {
            f(m);
        }
    }
}

fn template_of(spec: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let t = spec.entry("template").or_insert_with(|| json!({}));
    if !t.is_object() {
        *t = json!({});
    }
    t.as_object_mut().expect("object")
}

fn pod_template(t: &mut Map<String, Value>) {
    let spec = t.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        pod_spec(spec, false);
    }
}

fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn probe(p: &mut Value) {
    let Some(p) = p.as_object_mut() else { return };
    default(p, "timeoutSeconds", json!(1));
    default(p, "periodSeconds", json!(10));
    default(p, "successThreshold", json!(1));
    default(p, "failureThreshold", json!(3));
    if let Some(h) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
        default(h, "scheme", json!("HTTP"));
    }
}

fn container(c: &mut Value) {
    let Some(c) = c.as_object_mut() else { return };
    let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
    default(c, "imagePullPolicy", json!(image_pull_policy(&image)));
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    for p in c
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(p) = p.as_object_mut() {
            default(p, "protocol", json!("TCP"));
        }
    }
    for e in c
        .get_mut("env")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(fr) = e
            .pointer_mut("/valueFrom/fieldRef")
            .and_then(Value::as_object_mut)
        {
            default(fr, "apiVersion", json!("v1"));
        }
    }
    for k in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(k) {
            probe(p);
        }
    }
}

fn pod_spec(spec: &mut Map<String, Value>, is_pod: bool) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    for k in ["containers", "initContainers"] {
        for c in spec
            .get_mut(k)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            container(c);
        }
    }
    for v in spec
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for k in ["configMap", "secret"] {
            if let Some(s) = v.get_mut(k).and_then(Value::as_object_mut) {
                default(s, "defaultMode", json!(420));
            }
        }
    }
    if spec.get("serviceAccount").is_some() && spec.get("serviceAccountName").is_none() {
        let sa = spec["serviceAccount"].clone();
        spec.insert("serviceAccountName".into(), sa);
    }
    if is_pod {
        // admission: ServiceAccount, Priority, DefaultTolerationSeconds
        default(spec, "serviceAccountName", json!("default"));
        let sa = spec["serviceAccountName"].clone();
        default(spec, "serviceAccount", sa);
        default(spec, "enableServiceLinks", json!(true));
        default(spec, "priority", json!(0));
        default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        let tol = spec.entry("tolerations").or_insert_with(|| json!([]));
        if let Some(t) = tol.as_array_mut() {
            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
                if !t
                    .iter()
                    .any(|x| x.get("key").and_then(Value::as_str) == Some(key))
                {
                    t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                }
            }
        }
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        let cpu_mem_limited = lim.is_some_and(|l| l.contains_key("cpu") && l.contains_key("memory"));
        let req_eq = req.is_none_or(|r| r.iter().all(|(k, v)| lim.and_then(|l| l.get(k)) == Some(v)));
        if !cpu_mem_limited || !req_eq {
            guaranteed = false;
        }
    }
    if guaranteed {
        "Guaranteed"
    } else if any {
        "Burstable"
    } else {
        "BestEffort"
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    if !spec.contains_key("completions") && !spec.contains_key("parallelism") {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default(spec, "parallelism", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    default(spec, "manualSelector", Value::Null);
    if spec.get("manualSelector") == Some(&Value::Null) {
        spec.remove("manualSelector");
    }
}

fn job(obj: &mut Value, old: Option<&Value>) {
    let uid = match old {
        Some(o) => meta::uid(o).to_string(),
        None => meta::uid(obj).to_string(),
    };
    let name = meta::name(obj).to_string();
    let spec = obj_mut(obj, "spec");
    job_spec(spec);
    let manual = spec
        .get("manualSelector")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !manual && old.is_none() && !uid.is_empty() {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
        let t = template_of(spec);
        let md = t.entry("metadata").or_insert_with(|| json!({}));
        if let Some(md) = md.as_object_mut() {
            let labels = md.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
                l.insert("batch.kubernetes.io/job-name".into(), json!(name));
                l.insert("controller-uid".into(), json!(uid));
                l.insert("job-name".into(), json!(name));
            }
        }
    }
    let t = template_of(spec);
    pod_template(t);
}

fn service(obj: &mut Value, old: Option<&Value>) {
    let old_spec = old.and_then(|o| o.get("spec")).cloned();
    let spec = obj_mut(obj, "spec");
    default(spec, "type", json!("ClusterIP"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    default(spec, "sessionAffinity", json!("None"));
    if ty != "ExternalName" {
        // keep the allocated IP across updates
        if let Some(os) = &old_spec {
            for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                if !spec.contains_key(k)
                    && let Some(v) = os.get(k)
                {
                    spec.insert(k.into(), v.clone());
                }
            }
        }
        if !spec.contains_key("clusterIP") {
            let ip = allocate_cluster_ip();
            spec.insert("clusterIP".into(), json!(ip));
        }
        let cip = spec["clusterIP"].clone();
        default(spec, "clusterIPs", json!([cip]));
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    let old_ports: Vec<Value> = old_spec
        .as_ref()
        .and_then(|s| s.get("ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(p) = p.as_object_mut() else { continue };
        default(p, "protocol", json!("TCP"));
        if let Some(port) = p.get("port").cloned() {
            default(p, "targetPort", port);
        }
        if (ty == "NodePort" || ty == "LoadBalancer") && !p.contains_key("nodePort") {
            let prev = old_ports
                .iter()
                .find(|o| o.get("port") == p.get("port"))
                .and_then(|o| o.get("nodePort"))
                .cloned();
            p.insert(
                "nodePort".into(),
                prev.unwrap_or_else(|| json!(allocate_node_port())),
            );
        }
    }
    if old.is_none() {
        let status = obj_mut(obj, "status");
        default(status, "loadBalancer", json!({}));
    }
}

fn allocate_cluster_ip() -> String {
    use rand::Rng;
    let mut r = rand::rng();
    // 10.96.0.0/12, avoiding .0 and the kubernetes service address 10.96.0.1
    let n: u32 = r.random_range(2..(1 << 20) - 1);
    format!("10.{}.{}.{}", 96 + (n >> 16), (n >> 8) & 0xff, n & 0xff)
}

fn allocate_node_port() -> u16 {
    use rand::Rng;
    rand::rng().random_range(30000..=32767)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(image_pull_policy("nginx"), "Always");
        assert_eq!(image_pull_policy("nginx:latest"), "Always");
        assert_eq!(image_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(image_pull_policy("registry:5000/nginx"), "Always");
        assert_eq!(image_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }
}

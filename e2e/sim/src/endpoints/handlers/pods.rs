//! The pod subresources a node-less cluster still needs: `pods/binding` (how a scheduler
//! places a pod) and `pods/log` (answered by the emulator, since no container runs).

use http::{Response, StatusCode};
use serde_json::{Value, json};

use crate::apimachinery::meta;
use crate::apimachinery::status::{ApiError, ApiResult, GroupResource};
use crate::encoding::http::{Accept, Body, Request, decode_body, object_response, text_response};
use crate::state::{State, Target};
use crate::storage::store::object_key;

fn stored_pod(state: &State, target: &Target) -> ApiResult<Value> {
    state
        .store
        .get("/pods", &object_key(target.ns(), target.name()))
        .map(|p| p.as_ref().clone())
        .ok_or_else(|| ApiError::not_found(&GroupResource::new("", "pods"), target.name()))
}

fn names(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// GET .../pods/<name>/log: one line saying the pod is simulated, after the checks the
/// kubelet makes (a container must be named when there are several, it must have started).
pub fn log(state: &State, req: &Request, target: &Target) -> ApiResult<Response<Body>> {
    let pod = stored_pod(state, target)?;
    let name = target.name();
    let containers = names(pod.pointer("/spec/containers"));
    let init = names(pod.pointer("/spec/initContainers"));
    let container = match req.query.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            return Err(ApiError::bad_request(msg));
        }
    };
    if !containers.contains(&container) && !init.contains(&container) {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    if pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let status = ["/status/containerStatuses", "/status/initContainerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find(|s| s["name"] == container.as_str());
    let Some(status) = status else {
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
        )));
    };
    if req.query.flag("previous")? {
        return Err(ApiError::bad_request(format!(
            "previous terminated container {container:?} in pod {name:?} not found"
        )));
    }
    if let Some(reason) = status.pointer("/state/waiting/reason").and_then(Value::as_str) {
        let why = match reason {
            "ErrImagePull" => "image can't be pulled",
            "ImagePullBackOff" => "trying and failing to pull image",
            other => other,
        };
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: {why}"
        )));
    }
    let started = status
        .pointer("/state/running/startedAt")
        .or_else(|| status.pointer("/state/terminated/startedAt"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut line = format!(
        "hubspoke sim: container {container:?} of pod {}/{name} is simulated; no process runs in it, so it has no logs\n",
        target.ns()
    );
    if req.query.flag("timestamps")? {
        let ts = started
            .parse::<jiff::Timestamp>()
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_string())
            .unwrap_or_else(|_| crate::apimachinery::meta::now_rfc3339());
        line = format!("{ts} {line}");
    }
    if req.query.int("tailLines")? == Some(0) {
        line.clear();
    }
    if let Some(limit) = req.query.int("limitBytes")? {
        if limit <= 0 {
            return Err(ApiError::invalid(
                "",
                "PodLogOptions",
                "",
                vec![crate::apimachinery::status::Cause::invalid(
                    "limitBytes",
                    &json!(limit),
                    "must be greater than 0",
                )],
            ));
        }
        let mut cut = (limit as usize).min(line.len());
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    Ok(text_response(StatusCode::OK, line))
}

/// POST .../pods/<name>/binding: assigns the pod to a node, as kube-scheduler does.
pub fn bind(state: &State, req: &Request, accept: &Accept, target: &Target) -> ApiResult<Response<Body>> {
    let body = decode_body(req, Some("io.k8s.api.core.v1.Binding"))?;
    let name = target.name();
    let node = body.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
    let kind = body.pointer("/target/kind").and_then(Value::as_str).unwrap_or("");
    let invalid = |field: &str, value: &str, detail: &str| {
        ApiError::invalid(
            "",
            "Binding",
            name,
            vec![crate::apimachinery::status::Cause::invalid(
                field,
                &json!(value),
                detail,
            )],
        )
    };
    if !kind.is_empty() && kind != "Node" {
        return Err(invalid("target.kind", kind, "must be empty or 'Node'"));
    }
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            name,
            vec![crate::apimachinery::status::Cause::new(
                "FieldValueRequired",
                "target.name",
                "Required value",
            )],
        ));
    }
    let body_name = meta::name(&body);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Binding object",
        ));
    }
    let old = stored_pod(state, target)?;
    let gr = GroupResource::new("", "pods/binding");
    if meta::deletion_timestamp(&old).is_some() {
        return Err(ApiError::conflict(
            &gr,
            name,
            &format!("pod {name} is being deleted, cannot be assigned to a host"),
        ));
    }
    if let Some(current) = old
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::conflict(
            &gr,
            name,
            &format!("pod {name} is already assigned to node {current:?}"),
        ));
    }
    let mut new = old.clone();
    new["spec"]["nodeName"] = json!(node);
    if let Some(ann) = body.pointer("/metadata/annotations").and_then(Value::as_object) {
        for (k, v) in ann {
            new["metadata"]["annotations"][k] = v.clone();
        }
    }
    let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": crate::apimachinery::meta::now_rfc3339()});
    let conditions = new["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    conditions.push(scheduled);
    new["status"]["conditions"] = Value::Array(conditions);
    if !req.query.dry_run()? {
        let opts = crate::registry::rest::WriteOpts::internal("kube-scheduler");
        crate::registry::generic::finish_write(
            state,
            target,
            Some(&old),
            new,
            &opts,
            crate::registry::managed::Operation::Update,
        )?;
    }
    Ok(object_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        accept,
    ))
}

//! Built-in types: their registry entries and OpenAPI definitions.
//!
//! The definitions come from k8s-openapi's schemars output (the same OpenAPI the real API
//! server publishes, minus the list/map extensions, which `list_semantics.json` restores).

use std::any::TypeId;
use std::sync::{Arc, LazyLock};

use k8s_openapi::api::{
    admissionregistration::v1 as admreg, apps::v1 as apps, authentication::v1 as authn,
    authorization::v1 as authz, autoscaling::v2 as autoscaling, batch::v1 as batch,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
    storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use k8s_openapi::{NamespaceResourceScope, Resource};
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::apimachinery::validation::NameRule;
use crate::apis::schema::REF_PREFIX;
use crate::apis::types::{BuiltinMeta, Registry, ResourceType, VersionInfo};

struct Info {
    short: &'static [&'static str],
    categories: &'static [&'static str],
    singular: &'static str,
    status: bool,
    scale: bool,
    generation: bool,
    name_rule: NameRule,
    return_deleted: bool,
    field_selectors: &'static [&'static str],
    create_only: bool,
}

const BASE: Info = Info {
    short: &[],
    categories: &[],
    singular: "",
    status: false,
    scale: false,
    generation: false,
    name_rule: NameRule::Subdomain,
    return_deleted: false,
    field_selectors: &[],
    create_only: false,
};

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// The OpenAPI definitions of all built-in types (`components.schemas`).
pub struct Definitions {
    pub defs: Map<String, Value>,
}

static DEFINITIONS: LazyLock<Arc<Definitions>> = LazyLock::new(|| Arc::new(build_definitions()));
static TYPES: LazyLock<Vec<Arc<ResourceType>>> = LazyLock::new(build_types);

pub fn definitions() -> Arc<Definitions> {
    DEFINITIONS.clone()
}

pub fn resource_types() -> Vec<Arc<ResourceType>> {
    TYPES.clone()
}

/// The registry of a new cluster: the built-in types, no custom resources yet.
pub fn registry() -> Registry {
    Registry::new(resource_types())
}

/// Invokes `$cb!(Type, Info)` for every built-in type, in discovery order within each group.
macro_rules! for_each_builtin {
    ($cb:ident) => {{
        // core/v1 (alphabetical, as /api/v1 lists them)
        $cb!(
            core::ConfigMap,
            Info {
                short: &["cm"],
                ..BASE
            }
        );
        $cb!(
            core::Endpoints,
            Info {
                short: &["ep"],
                ..BASE
            }
        );
        $cb!(
            core::Event,
            Info {
                short: &["ev"],
                field_selectors: EVENT_FIELDS,
                ..BASE
            }
        );
        $cb!(
            core::LimitRange,
            Info {
                short: &["limits"],
                ..BASE
            }
        );
        $cb!(
            core::Namespace,
            Info {
                short: &["ns"],
                status: true,
                name_rule: NameRule::Label,
                return_deleted: true,
                field_selectors: &["status.phase"],
                ..BASE
            }
        );
        $cb!(
            core::Node,
            Info {
                short: &["no"],
                status: true,
                return_deleted: true,
                field_selectors: &["spec.unschedulable"],
                ..BASE
            }
        );
        $cb!(
            core::PersistentVolumeClaim,
            Info {
                short: &["pvc"],
                status: true,
                ..BASE
            }
        );
        $cb!(
            core::PersistentVolume,
            Info {
                short: &["pv"],
                status: true,
                ..BASE
            }
        );
        $cb!(
            core::Pod,
            Info {
                short: &["po"],
                categories: &["all"],
                status: true,
                return_deleted: true,
                field_selectors: POD_FIELDS,
                ..BASE
            }
        );
        $cb!(core::PodTemplate, Info { ..BASE });
        $cb!(
            core::ReplicationController,
            Info {
                short: &["rc"],
                categories: &["all"],
                status: true,
                scale: true,
                generation: true,
                field_selectors: &["status.replicas"],
                ..BASE
            }
        );
        $cb!(
            core::ResourceQuota,
            Info {
                short: &["quota"],
                status: true,
                ..BASE
            }
        );
        $cb!(
            core::Secret,
            Info {
                field_selectors: &["type"],
                ..BASE
            }
        );
        $cb!(
            core::ServiceAccount,
            Info {
                short: &["sa"],
                ..BASE
            }
        );
        $cb!(
            core::Service,
            Info {
                short: &["svc"],
                categories: &["all"],
                status: true,
                name_rule: NameRule::Dns1035,
                return_deleted: true,
                ..BASE
            }
        );
        // apps/v1
        $cb!(apps::ControllerRevision, Info { ..BASE });
        $cb!(
            apps::DaemonSet,
            Info {
                short: &["ds"],
                categories: &["all"],
                status: true,
                generation: true,
                ..BASE
            }
        );
        $cb!(
            apps::Deployment,
            Info {
                short: &["deploy"],
                categories: &["all"],
                status: true,
                scale: true,
                generation: true,
                ..BASE
            }
        );
        $cb!(
            apps::ReplicaSet,
            Info {
                short: &["rs"],
                categories: &["all"],
                status: true,
                scale: true,
                generation: true,
                field_selectors: &["status.replicas"],
                ..BASE
            }
        );
        $cb!(
            apps::StatefulSet,
            Info {
                short: &["sts"],
                categories: &["all"],
                status: true,
                scale: true,
                generation: true,
                ..BASE
            }
        );
        // authentication.k8s.io/v1, authorization.k8s.io/v1: create-only reviews
        $cb!(
            authn::SelfSubjectReview,
            Info {
                create_only: true,
                ..BASE
            }
        );
        $cb!(
            authn::TokenReview,
            Info {
                create_only: true,
                ..BASE
            }
        );
        $cb!(
            authz::LocalSubjectAccessReview,
            Info {
                create_only: true,
                ..BASE
            }
        );
        $cb!(
            authz::SelfSubjectAccessReview,
            Info {
                create_only: true,
                ..BASE
            }
        );
        $cb!(
            authz::SelfSubjectRulesReview,
            Info {
                create_only: true,
                ..BASE
            }
        );
        $cb!(
            authz::SubjectAccessReview,
            Info {
                create_only: true,
                ..BASE
            }
        );
        // autoscaling/v2
        $cb!(
            autoscaling::HorizontalPodAutoscaler,
            Info {
                short: &["hpa"],
                categories: &["all"],
                status: true,
                ..BASE
            }
        );
        // batch/v1
        $cb!(
            batch::CronJob,
            Info {
                short: &["cj"],
                categories: &["all"],
                status: true,
                generation: true,
                ..BASE
            }
        );
        $cb!(
            batch::Job,
            Info {
                categories: &["all"],
                status: true,
                generation: true,
                field_selectors: &["status.successful"],
                ..BASE
            }
        );
        // networking.k8s.io/v1
        $cb!(networking::IngressClass, Info { ..BASE });
        $cb!(
            networking::Ingress,
            Info {
                short: &["ing"],
                status: true,
                ..BASE
            }
        );
        $cb!(
            networking::NetworkPolicy,
            Info {
                short: &["netpol"],
                generation: true,
                ..BASE
            }
        );
        // policy/v1
        $cb!(
            policy::PodDisruptionBudget,
            Info {
                short: &["pdb"],
                status: true,
                generation: true,
                ..BASE
            }
        );
        // rbac.authorization.k8s.io/v1
        $cb!(
            rbac::ClusterRoleBinding,
            Info {
                name_rule: NameRule::PathSegment,
                ..BASE
            }
        );
        $cb!(
            rbac::ClusterRole,
            Info {
                name_rule: NameRule::PathSegment,
                ..BASE
            }
        );
        $cb!(
            rbac::RoleBinding,
            Info {
                name_rule: NameRule::PathSegment,
                ..BASE
            }
        );
        $cb!(
            rbac::Role,
            Info {
                name_rule: NameRule::PathSegment,
                ..BASE
            }
        );
        // storage.k8s.io/v1
        $cb!(
            storage::StorageClass,
            Info {
                short: &["sc"],
                ..BASE
            }
        );
        // admissionregistration.k8s.io/v1
        $cb!(
            admreg::MutatingWebhookConfiguration,
            Info {
                categories: &["api-extensions"],
                generation: true,
                ..BASE
            }
        );
        $cb!(
            admreg::ValidatingWebhookConfiguration,
            Info {
                categories: &["api-extensions"],
                generation: true,
                ..BASE
            }
        );
        // apiextensions.k8s.io/v1
        $cb!(
            apiext::CustomResourceDefinition,
            Info {
                short: &["crd", "crds"],
                categories: &["api-extensions"],
                status: true,
                generation: true,
                ..BASE
            }
        );
        // scheduling.k8s.io/v1
        $cb!(
            scheduling::PriorityClass,
            Info {
                short: &["pc"],
                ..BASE
            }
        );
        // coordination.k8s.io/v1
        $cb!(coordination::Lease, Info { ..BASE });
        // discovery.k8s.io/v1
        $cb!(discovery::EndpointSlice, Info { ..BASE });
    }};
}

fn singular_of(kind: &str) -> String {
    kind.to_lowercase()
}

fn make_type<T: Resource + JsonSchema + 'static>(info: Info) -> Arc<ResourceType> {
    let namespaced = TypeId::of::<T::Scope>() == TypeId::of::<NamespaceResourceScope>();
    let scale = info.scale.then(|| crate::apis::types::ScaleSpec {
        spec_replicas_path: ".spec.replicas".into(),
        status_replicas_path: ".status.replicas".into(),
        label_selector_path: Some(".status.selector".into()),
    });
    Arc::new(ResourceType {
        group: T::GROUP.to_string(),
        kind: T::KIND.to_string(),
        list_kind: format!("{}List", T::KIND),
        plural: T::URL_PATH_SEGMENT.to_string(),
        singular: if info.singular.is_empty() {
            singular_of(T::KIND)
        } else {
            info.singular.to_string()
        },
        short_names: info.short.iter().map(|s| s.to_string()).collect(),
        categories: info.categories.iter().map(|s| s.to_string()).collect(),
        namespaced,
        versions: vec![VersionInfo {
            name: T::VERSION.to_string(),
            served: true,
            storage: true,
            schema: None,
            status: info.status,
            scale,
            columns: Vec::new(),
            selectable_fields: Vec::new(),
            deprecation_warning: None,
        }],
        builtin: Some(BuiltinMeta {
            definition: T::schema_name().to_string(),
            name_rule: info.name_rule,
            generation: info.generation,
            return_deleted: info.return_deleted,
            field_selectors: info.field_selectors,
            create_only: info.create_only,
        }),
    })
}

fn build_types() -> Vec<Arc<ResourceType>> {
    let mut out = Vec::new();
    macro_rules! push_type {
        ($t:ty, $info:expr) => {
            out.push(make_type::<$t>($info))
        };
    }
    for_each_builtin!(push_type);
    out
}

fn build_definitions() -> Definitions {
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut gvks: Vec<(String, Value)> = Vec::new();
    macro_rules! root {
        ($t:ty, $info:expr) => {{
            let _ = $info;
            generator.subschema_for::<$t>();
            gvks.push((
                <$t as JsonSchema>::schema_name().to_string(),
                json!([{"group": <$t as Resource>::GROUP, "version": <$t as Resource>::VERSION, "kind": <$t as Resource>::KIND}]),
            ));
        }};
    }
    for_each_builtin!(root);
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::Patch>();
    root!(k8s_openapi::api::autoscaling::v1::Scale, ());
    root!(k8s_openapi::api::authentication::v1::TokenRequest, ());

    let mut defs = generator.take_definitions(true);
    for (name, gvk) in gvks {
        if let Some(Value::Object(d)) = defs.get_mut(&name) {
            d.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
    }
    for def in defs.values_mut() {
        normalize_refs(def);
    }
    // Types whose JSON is any value (or a union) are declared `type: object` by k8s-openapi.
    for any in [
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
    ] {
        if let Some(Value::Object(d)) = defs.get_mut(any) {
            d.remove("type");
        }
    }
    let semantics: Map<String, Value> =
        serde_json::from_str(include_str!("list_semantics.json")).expect("list_semantics.json is valid JSON");
    for (def_name, fields) in semantics {
        let Some(props) = defs
            .get_mut(&def_name)
            .and_then(|d| d.get_mut("properties"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (field, sem) in fields.as_object().into_iter().flatten() {
            let Some(Value::Object(p)) = props.get_mut(field) else {
                continue;
            };
            match sem.get("list").and_then(Value::as_str) {
                Some("map") => {
                    let keys = sem.get("keys").cloned().unwrap_or(json!([]));
                    if let Some(first) = keys.get(0).cloned() {
                        p.insert("x-kubernetes-patch-merge-key".into(), first);
                        p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                    }
                    p.insert("x-kubernetes-list-map-keys".into(), keys);
                    p.insert("x-kubernetes-list-type".into(), json!("map"));
                }
                Some("set") => {
                    p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                    p.insert("x-kubernetes-list-type".into(), json!("set"));
                }
                _ => {}
            }
            if sem.get("map").and_then(Value::as_str) == Some("atomic") {
                p.insert("x-kubernetes-map-type".into(), json!("atomic"));
            }
        }
    }
    // Lists without an annotation are atomic, as in the published OpenAPI.
    Definitions { defs }
}

/// Rewrites `{"$ref": X, "description": ...}` into kube-openapi's v3 form
/// `{"allOf": [{"$ref": X}], "description": ...}`, recursively through schema nodes.
/// The keys of `properties` are field names (JSONSchemaProps has fields named `$ref` and
/// `allOf`), so only their values are schemas.
fn normalize_refs(v: &mut Value) {
    let Value::Object(m) = v else { return };
    if m.len() > 1
        && let Some(r) = m.remove("$ref")
    {
        let r = match r {
            Value::String(s) if !s.starts_with(REF_PREFIX) => {
                Value::String(format!("{REF_PREFIX}{}", s.rsplit('/').next().unwrap_or(&s)))
            }
            other => other,
        };
        m.insert("allOf".into(), json!([{"$ref": r}]));
    }
    for (k, c) in m.iter_mut() {
        match (k.as_str(), c) {
            ("properties", Value::Object(props)) => props.values_mut().for_each(normalize_refs),
            ("items" | "additionalProperties" | "not", c @ Value::Object(_)) => normalize_refs(c),
            ("allOf" | "anyOf" | "oneOf", Value::Array(a)) => a.iter_mut().for_each(normalize_refs),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::schema::{ListType, Node};

    #[test]
    fn builtin_schemas_carry_list_semantics() {
        let d = definitions();
        let pod_spec = Node::new(&d.defs["io.k8s.api.core.v1.PodSpec"], &d.defs);
        let containers = pod_spec.property("containers").unwrap();
        assert_eq!(containers.list_type(), ListType::Map(vec!["name".into()]));
        assert_eq!(containers.patch_merge_key(), Some("name"));
        let env = containers.items().unwrap().property("env").unwrap();
        assert_eq!(env.patch_merge_key(), Some("name"));
        let args = containers.items().unwrap().property("args").unwrap();
        assert_eq!(args.list_type(), ListType::Atomic);
        let deploy = &d.defs["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(deploy["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
        // property names are not schema keywords
        let props =
            &d.defs["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"]["properties"];
        assert_eq!(props["$ref"], json!({"type": "string"}));
        assert_eq!(props["allOf"]["type"], "array");
    }

    #[test]
    fn builtin_types_are_registered_with_scope() {
        let types = resource_types();
        let deploy = types.iter().find(|t| t.plural == "deployments").unwrap();
        assert_eq!(deploy.group, "apps");
        assert!(deploy.namespaced);
        let ns = types.iter().find(|t| t.plural == "namespaces").unwrap();
        assert!(!ns.namespaced);
        assert_eq!(ns.short_names, vec!["ns"]);
    }
}

//! Resource tracking as Argo CD 3.2 does it (util/argo/resource_tracking.go,
//! util/settings GetTrackingMethod / GetAppInstanceLabelKey / GetInstallationID, and the
//! controller's isSelfReferencedObj), configured by the hub's `argocd-cm`:
//! - `application.resourceTrackingMethod`: `label`, `annotation` (the default when unset,
//!   and what any other value means) or `annotation+label`;
//! - `application.instanceLabelKey`: the label (default `app.kubernetes.io/instance`; the
//!   argo-cd chart sets `argocd.argoproj.io/instance`);
//! - `installationID`: when set, only objects annotated with it belong to this Argo CD.
//!
//! The annotation `argocd.argoproj.io/tracking-id` is
//! `<instance>:<group>/<Kind>:<namespace>/<name>`; a cluster-scoped object carries the
//! Application's destination namespace there. An object whose annotation names another
//! object (copied) does not belong to the Application.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// `argocd.argoproj.io/tracking-id`.
pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// `argocd.argoproj.io/installation-id`.
pub const INSTALLATION_ANNOTATION: &str = "argocd.argoproj.io/installation-id";
/// Argo CD's default instance label key (common.LabelKeyAppInstance).
pub const DEFAULT_LABEL_KEY: &str = "app.kubernetes.io/instance";
/// Label values are at most this long; annotation+label truncates the informational label.
const LABEL_MAX_LENGTH: usize = 63;

/// `application.resourceTrackingMethod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracking {
    Label,
    Annotation,
    AnnotationAndLabel,
}

impl Tracking {
    /// As Argo CD reads the setting: empty or unknown values mean `annotation`.
    pub fn parse(s: &str) -> Self {
        match s {
            "label" => Tracking::Label,
            "annotation+label" => Tracking::AnnotationAndLabel,
            _ => Tracking::Annotation,
        }
    }

    /// The value written to `argocd-cm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tracking::Label => "label",
            Tracking::Annotation => "annotation",
            Tracking::AnnotationAndLabel => "annotation+label",
        }
    }
}

/// The tracking settings of one Argo CD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub method: Tracking,
    pub label_key: String,
    pub installation_id: String,
}

impl Default for Settings {
    /// What Argo CD uses without an `argocd-cm`.
    fn default() -> Self {
        Settings {
            method: Tracking::Annotation,
            label_key: DEFAULT_LABEL_KEY.into(),
            installation_id: String::new(),
        }
    }
}

/// The parts of a tracking id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingId {
    pub app: String,
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl TrackingId {
    /// ParseAppInstanceValue: `<app>:<group>/<kind>:<namespace>/<name>`, split as Argo CD
    /// splits it (at most three `:` parts, exactly two `/` parts in each of the last two).
    pub fn parse(value: &str) -> Option<TrackingId> {
        let parts: Vec<&str> = value.splitn(3, ':').collect();
        if parts.len() != 3 {
            return None;
        }
        let g: Vec<&str> = parts[1].split('/').collect();
        let n: Vec<&str> = parts[2].split('/').collect();
        if g.len() != 2 || n.len() != 2 {
            return None;
        }
        Some(TrackingId {
            app: parts[0].into(),
            group: g[0].into(),
            kind: g[1].into(),
            namespace: n[0].into(),
            name: n[1].into(),
        })
    }

    fn build(&self) -> String {
        format!(
            "{}:{}/{}:{}/{}",
            self.app, self.group, self.kind, self.namespace, self.name
        )
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.get(key)?.as_str()
}

fn group_kind(obj: &Value) -> (String, String) {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    (group.into(), obj["kind"].as_str().unwrap_or("").into())
}

fn ok_end(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

impl Settings {
    /// The settings in `argocd-cm`'s data (none: Argo CD's defaults).
    pub fn from_config_map(data: Option<&BTreeMap<String, String>>) -> Settings {
        let get = |k: &str| data.and_then(|d| d.get(k)).map(String::as_str).unwrap_or("");
        let label_key = get("application.instanceLabelKey");
        Settings {
            method: Tracking::parse(get("application.resourceTrackingMethod")),
            label_key: if label_key.is_empty() {
                DEFAULT_LABEL_KEY.into()
            } else {
                label_key.into()
            },
            installation_id: get("installationID").into(),
        }
    }

    /// SetAppInstance: marks `obj` as belonging to the Application `instance` (its
    /// InstanceName) whose destination namespace is `dest_ns`. Errors as Argo CD's do.
    pub fn set(&self, obj: &mut Value, instance: &str, dest_ns: &str) -> Result<(), String> {
        let annotate = |obj: &mut Value| {
            let (group, kind) = group_kind(obj);
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(dest_ns)
                .to_string();
            let id = TrackingId {
                app: instance.into(),
                group,
                kind,
                namespace: ns,
                name: obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
            };
            let meta = &mut obj["metadata"];
            if self.installation_id.is_empty() {
                if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                    a.remove(INSTALLATION_ANNOTATION);
                }
            } else {
                meta["annotations"][INSTALLATION_ANNOTATION] = json!(self.installation_id);
            }
            meta["annotations"][TRACKING_ANNOTATION] = json!(id.build());
        };
        match self.method {
            Tracking::Label => {
                obj["metadata"]["labels"][&self.label_key] = json!(instance);
            }
            Tracking::Annotation => annotate(obj),
            Tracking::AnnotationAndLabel => {
                annotate(obj);
                let mut val = instance.to_string();
                if val.len() > LABEL_MAX_LENGTH {
                    val.truncate(LABEL_MAX_LENGTH);
                    while !val.chars().last().is_some_and(ok_end) {
                        if val.len() <= 1 {
                            return Err("failed to set app instance label: unable to truncate label to not end with a special character".into());
                        }
                        val.pop();
                    }
                }
                obj["metadata"]["labels"][&self.label_key] = json!(val);
            }
        }
        Ok(())
    }

    /// The tracking id of `obj`, when it carries a valid one of this installation.
    fn tracking_id(&self, obj: &Value) -> Option<TrackingId> {
        let installation = meta_str(obj, "annotations", INSTALLATION_ANNOTATION).unwrap_or("");
        if installation != self.installation_id {
            return None;
        }
        TrackingId::parse(meta_str(obj, "annotations", TRACKING_ANNOTATION)?)
    }

    /// GetAppName: the Application `obj` belongs to by this method ("" when none).
    pub fn app_name(&self, obj: &Value) -> String {
        match self.method {
            Tracking::Label => meta_str(obj, "labels", &self.label_key).unwrap_or("").to_string(),
            Tracking::Annotation | Tracking::AnnotationAndLabel => {
                self.tracking_id(obj).map(|t| t.app).unwrap_or_default()
            }
        }
    }

    /// Whether `obj` belongs to the Application `instance`: its name by the method, and for
    /// the annotation methods a tracking id that names `obj` itself (isSelfReferencedObj).
    pub fn is_tracked_by(&self, obj: &Value, instance: &str) -> bool {
        if instance.is_empty() || self.app_name(obj) != instance {
            return false;
        }
        match self.method {
            Tracking::Label => true,
            Tracking::Annotation | Tracking::AnnotationAndLabel => {
                let Some(id) = self.tracking_id(obj) else {
                    return false;
                };
                let (group, kind) = group_kind(obj);
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                (ns == id.namespace || ns.is_empty())
                    && name == id.name
                    && group == id.group
                    && kind == id.kind
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}})
    }

    fn settings(method: &str, label: &str, id: &str) -> Settings {
        let mut d = BTreeMap::new();
        d.insert(
            "application.resourceTrackingMethod".to_string(),
            method.to_string(),
        );
        d.insert("application.instanceLabelKey".to_string(), label.to_string());
        d.insert("installationID".to_string(), id.to_string());
        Settings::from_config_map(Some(&d))
    }

    #[test]
    fn defaults_are_argo_cds() {
        let s = Settings::from_config_map(None);
        assert_eq!(s, Settings::default());
        assert_eq!(s.method, Tracking::Annotation);
        assert_eq!(settings("nonsense", "", "").method, Tracking::Annotation);
        assert_eq!(settings("", "", "").label_key, DEFAULT_LABEL_KEY);
    }

    #[test]
    fn label_tracking_uses_the_configured_key() {
        let s = settings("label", "argocd.argoproj.io/instance", "");
        let mut d = deployment();
        s.set(&mut d, "shop-spoke-a", "shop").unwrap();
        assert_eq!(
            d["metadata"]["labels"]["argocd.argoproj.io/instance"],
            "shop-spoke-a"
        );
        assert!(d["metadata"].get("annotations").is_none());
        assert!(s.is_tracked_by(&d, "shop-spoke-a"));
        assert!(!settings("label", "", "").is_tracked_by(&d, "shop-spoke-a"));
    }

    #[test]
    fn annotation_tracking_names_the_object_itself() {
        let s = settings("annotation", "", "");
        let mut d = deployment();
        s.set(&mut d, "shop-spoke-a", "other").unwrap();
        assert_eq!(
            d["metadata"]["annotations"][TRACKING_ANNOTATION],
            "shop-spoke-a:apps/Deployment:shop/web"
        );
        assert!(s.is_tracked_by(&d, "shop-spoke-a"));
        // copied to another object: not tracked
        let mut copy = d.clone();
        copy["metadata"]["name"] = json!("web-copy");
        assert!(!s.is_tracked_by(&copy, "shop-spoke-a"));
        // cluster-scoped objects carry the destination namespace
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        s.set(&mut ns, "shop-spoke-a", "shop").unwrap();
        assert_eq!(
            ns["metadata"]["annotations"][TRACKING_ANNOTATION],
            "shop-spoke-a:/Namespace:shop/shop"
        );
        assert!(s.is_tracked_by(&ns, "shop-spoke-a"));
    }

    #[test]
    fn annotation_and_label_truncates_the_label() {
        let s = settings("annotation+label", "", "");
        let long = format!("{}-x", "a".repeat(62));
        let mut d = deployment();
        s.set(&mut d, &long, "shop").unwrap();
        assert_eq!(d["metadata"]["labels"][DEFAULT_LABEL_KEY], "a".repeat(62));
        let mut short = deployment();
        s.set(&mut short, &format!("a{}b", "-".repeat(70)), "shop")
            .unwrap();
        assert_eq!(short["metadata"]["labels"][DEFAULT_LABEL_KEY], "a");
        assert!(s.is_tracked_by(&d, &long));
        let mut bad = deployment();
        assert_eq!(
            s.set(&mut bad, &"-".repeat(70), "shop").unwrap_err(),
            "failed to set app instance label: unable to truncate label to not end with a special character"
        );
    }

    #[test]
    fn an_installation_id_must_match() {
        let s = settings("annotation", "", "hub-1");
        let mut d = deployment();
        s.set(&mut d, "app", "shop").unwrap();
        assert_eq!(d["metadata"]["annotations"][INSTALLATION_ANNOTATION], "hub-1");
        assert!(s.is_tracked_by(&d, "app"));
        assert!(!settings("annotation", "", "hub-2").is_tracked_by(&d, "app"));
        assert!(!settings("annotation", "", "").is_tracked_by(&d, "app"));
    }

    #[test]
    fn malformed_ids_belong_to_nobody() {
        for bad in [
            "app",
            "app:apps/Deployment",
            "app:Deployment:shop/web",
            "app:apps/Deployment:web",
        ] {
            assert_eq!(TrackingId::parse(bad), None, "{bad}");
        }
    }
}

//! `hubspoke validate`: every YAML file under release/, fixtures/ and kind/ parsed and
//! type-checked (k8s-openapi's types for built-in kinds, the project's types for Argo CD and
//! Kyverno objects, the cluster definition model, the workload placement files, kind's
//! cluster configs), and the references between them checked: paths Applications deploy,
//! clusters workload files name, the kind node image pin. Terraform modules under
//! terraform/ and fixtures/terraform/ are checked with `terraform fmt -check` and, where
//! `terraform init` can run (it needs the registry for the EKS modules), `terraform
//! validate`; tfvars' `cluster_path` must name a cluster definition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::definition::{Definitions, did_you_mean};
use crate::yaml::{Node, Pos};

/// What validation found.
#[derive(Debug, Default)]
pub struct Report {
    pub files: usize,
    pub objects: usize,
    /// Terraform modules checked (terraform/, fixtures/terraform/).
    pub terraform_modules: usize,
    pub releases: Vec<PathBuf>,
    pub errors: Vec<String>,
    /// What holds today but costs or breaks later (a pinned EKS version out of standard
    /// support); they do not fail validation.
    pub warnings: Vec<String>,
    /// What could not be checked here, and why.
    pub notes: Vec<String>,
}

/// Directories under `fixtures/` holding deliberately broken inputs (the tests' corpus).
const BROKEN_CORPORA: [&str; 1] = ["fixtures/cluster-definitions/invalid"];

/// Directories under `fixtures/` holding a platform in a layout of its own (Helm charts,
/// kustomizations, addon catalogs, value files), which validate does not read file by file:
/// the tests bring it up on sim instead (e2e/harness/tests/it/platform.rs). Reported as a
/// note.
const OWN_LAYOUT: [&str; 1] = ["fixtures/platform"];

fn yaml_files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).unwrap_or(&p);
        if BROKEN_CORPORA
            .iter()
            .chain(&OWN_LAYOUT)
            .any(|c| rel.starts_with(c))
        {
            continue;
        }
        if p.is_dir() {
            yaml_files(&p, root, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

struct Ctx<'a> {
    root: &'a Path,
    report: Report,
}

impl Ctx<'_> {
    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(self.root).unwrap_or(p).display().to_string()
    }

    fn error(&mut self, file: &str, pos: Pos, what: String) {
        self.report
            .errors
            .push(format!("{file}:{}:{}: {what}", pos.line, pos.column));
    }
}

/// The node at a serde path (`spec.template.spec.containers.0.image`), or the closest one.
fn node_at<'n>(root: &'n Node, path: &str) -> &'n Node {
    let mut n = root;
    for seg in path.split('.').filter(|s| !s.is_empty() && *s != "?") {
        let next = match &n.value {
            crate::yaml::Value::Map(m) => m.iter().find(|(k, _)| k.name == seg).map(|(_, v)| v),
            crate::yaml::Value::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(x) => n = x,
            None => break,
        }
    }
    n
}

/// The key node at a path (for unknown fields, whose value position is less telling).
fn key_pos(root: &Node, path: &str) -> Pos {
    let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
    let p = node_at(root, parent);
    if let crate::yaml::Value::Map(m) = &p.value
        && let Some((k, _)) = m.iter().find(|(k, _)| k.name == last)
    {
        return k.pos;
    }
    node_at(root, path).pos
}

/// `a.0.b` as `a[0].b`, the way kubectl explains paths.
fn show_path(path: &str) -> String {
    let mut out = String::new();
    for seg in path.split('.').filter(|s| !s.is_empty() && *s != "?") {
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Deserializes `doc` as `T`, reporting type errors and fields `T` does not know, each at
/// its position. Returns the value when it deserialized.
fn typed<T: DeserializeOwned>(ctx: &mut Ctx, file: &str, doc: &Node, kind: &str) -> Option<T> {
    let json = doc.to_json();
    let mut unknown = Vec::new();
    let mut note = |p: serde_ignored::Path| unknown.push(p.to_string());
    let de = serde_ignored::Deserializer::new(&json, &mut note);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    for u in unknown {
        // apiVersion/kind/status are handled by the envelope, not the types
        if matches!(u.as_str(), "apiVersion" | "kind" | "status") {
            continue;
        }
        ctx.error(
            file,
            key_pos(doc, &u),
            format!("{}: unknown field of {kind}", show_path(&u)),
        );
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let pos = node_at(doc, &path).pos;
            let inner = e.into_inner().to_string();
            ctx.error(file, pos, format!("{}: {inner} ({kind})", show_path(&path)));
            None
        }
    }
}

macro_rules! builtin_kinds {
    ($($api:literal $kind:literal => $ty:ty),* $(,)?) => {
        /// Type-checks a built-in object; false when the kind is not one of these.
        fn check_builtin(ctx: &mut Ctx, file: &str, doc: &Node, api: &str, kind: &str) -> bool {
            match (api, kind) {
                $(($api, $kind) => { typed::<$ty>(ctx, file, doc, $kind); true })*
                _ => false,
            }
        }
        const BUILTIN: &[(&str, &str)] = &[$(($api, $kind)),*];
    };
}

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as core, networking::v1 as net, rbac::v1 as rbac,
};
builtin_kinds! {
    "v1" "Namespace" => core::Namespace,
    "v1" "ConfigMap" => core::ConfigMap,
    "v1" "Secret" => core::Secret,
    "v1" "Service" => core::Service,
    "v1" "ServiceAccount" => core::ServiceAccount,
    "v1" "Pod" => core::Pod,
    "v1" "PersistentVolumeClaim" => core::PersistentVolumeClaim,
    "apps/v1" "Deployment" => apps::Deployment,
    "apps/v1" "StatefulSet" => apps::StatefulSet,
    "apps/v1" "DaemonSet" => apps::DaemonSet,
    "batch/v1" "Job" => batch::Job,
    "batch/v1" "CronJob" => batch::CronJob,
    "networking.k8s.io/v1" "NetworkPolicy" => net::NetworkPolicy,
    "networking.k8s.io/v1" "Ingress" => net::Ingress,
    "rbac.authorization.k8s.io/v1" "Role" => rbac::Role,
    "rbac.authorization.k8s.io/v1" "RoleBinding" => rbac::RoleBinding,
    "rbac.authorization.k8s.io/v1" "ClusterRole" => rbac::ClusterRole,
    "rbac.authorization.k8s.io/v1" "ClusterRoleBinding" => rbac::ClusterRoleBinding,
}

/// A path in the repository that an object deploys from: must exist.
fn check_repo_path(ctx: &mut Ctx, file: &str, pos: Pos, field: &str, path: &str) {
    if path.contains("{{") || path.is_empty() {
        return; // templated: known only when the ApplicationSet renders it
    }
    if !ctx.root.join(path).is_dir() {
        ctx.error(
            file,
            pos,
            format!(
                "{field}: {path:?} is not a directory of this repository; fix the path or add the directory"
            ),
        );
    }
}

fn check_sources(ctx: &mut Ctx, file: &str, doc: &Node, base: &str, spec: &crate::argocd::ApplicationSpec) {
    let sources: Vec<(String, &crate::argocd::ApplicationSource)> = match &spec.source {
        Some(s) => vec![(format!("{base}.source"), s)],
        None => spec
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{base}.sources.{i}"), s))
            .collect(),
    };
    if sources.is_empty() {
        ctx.error(
            file,
            node_at(doc, base).pos,
            format!("{}: has neither source nor sources", show_path(base)),
        );
    }
    for (at, s) in sources {
        if let (Some(p), None) = (&s.path, &s.chart) {
            let pos = node_at(doc, &format!("{at}.path")).pos;
            check_repo_path(ctx, file, pos, &format!("{}.path", show_path(&at)), p);
        }
    }
}

/// What Kyverno's policy validation webhook would refuse (the message it denies with).
fn kyverno_policy(ctx: &mut Ctx, file: &str, doc: &Node) {
    if let Err(e) = hubspoke_kyverno::policy::check(&doc.to_json()) {
        ctx.error(file, doc.pos, format!("Kyverno would refuse this policy: {e}"));
    }
}

fn check_object(ctx: &mut Ctx, file: &str, doc: &Node) {
    let api = doc
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.name == "apiVersion"))
        .and_then(|(_, v)| v.as_str());
    let kind = doc
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.name == "kind"))
        .and_then(|(_, v)| v.as_str());
    let (Some(api), Some(kind)) = (api, kind) else {
        ctx.error(
            file,
            doc.pos,
            "not a Kubernetes object: apiVersion and kind are required".to_string(),
        );
        return;
    };
    ctx.report.objects += 1;
    if check_builtin(ctx, file, doc, api, kind) {
        return;
    }
    match (api, kind) {
        ("argoproj.io/v1alpha1", "Application") => {
            if let Some(app) = typed::<crate::argocd::Application>(ctx, file, doc, kind) {
                check_sources(ctx, file, doc, "spec", &app.spec);
            }
        }
        ("argoproj.io/v1alpha1", "ApplicationSet") => {
            if let Some(set) = typed::<crate::argocd::ApplicationSet>(ctx, file, doc, kind) {
                for (i, g) in set.spec.generators.iter().enumerate() {
                    let kinds = g.kinds();
                    if kinds.len() != 1 {
                        ctx.error(
                            file,
                            node_at(doc, &format!("spec.generators.{i}")).pos,
                            format!(
                                "spec.generators[{i}]: sets {} generator kinds ({}); each entry sets exactly one",
                                kinds.len(),
                                kinds.join(", ")
                            ),
                        );
                    }
                }
                check_sources(ctx, file, doc, "spec.template.spec", &set.spec.template.spec);
            }
        }
        ("argoproj.io/v1alpha1", "AppProject") => {
            typed::<crate::argocd::AppProject>(ctx, file, doc, kind);
        }
        ("kyverno.io/v1", "ClusterPolicy") => {
            if typed::<crate::kyverno::ClusterPolicy>(ctx, file, doc, kind).is_some() {
                kyverno_policy(ctx, file, doc);
            }
        }
        ("kyverno.io/v1", "Policy") => {
            if typed::<crate::kyverno::Policy>(ctx, file, doc, kind).is_some() {
                kyverno_policy(ctx, file, doc);
            }
        }
        ("kyverno.io/v2" | "kyverno.io/v2beta1", "PolicyException") => {
            if let Err(e) = hubspoke_kyverno::exceptions::load(&doc.to_json()) {
                ctx.error(
                    file,
                    doc.pos,
                    format!("Kyverno would refuse this PolicyException: {e}"),
                );
            }
        }
        ("cli.kyverno.io/v1alpha1", "Test") => {
            // a Kyverno CLI test file: the files it names must load and its results be well formed
            if let Err(e) = hubspoke_kyverno::clitest::load(&ctx.root.join(file)) {
                let e = e.replace(&format!("{}: ", ctx.root.join(file).display()), "");
                ctx.error(file, doc.pos, e);
            }
        }
        _ => {
            let known: Vec<String> = BUILTIN
                .iter()
                .map(|(_, k)| k.to_string())
                .chain(
                    [
                        "Application",
                        "ApplicationSet",
                        "AppProject",
                        "ClusterPolicy",
                        "Policy",
                        "PolicyException",
                        "Test",
                    ]
                    .map(String::from),
                )
                .collect();
            let hint = did_you_mean(kind, known.iter().map(String::as_str))
                .map(|k| format!("; did you mean {k}?"))
                .unwrap_or_default();
            let pos = doc
                .as_map()
                .and_then(|m| m.iter().find(|(k, _)| k.name == "kind"))
                .map(|(_, v)| v.pos)
                .unwrap_or(doc.pos);
            ctx.error(
                file,
                pos,
                format!("kind: {api}/{kind} is not a kind hubspoke can check{hint} (known: the core workload kinds, Argo CD Application/ApplicationSet/AppProject, Kyverno ClusterPolicy/Policy/PolicyException, Kyverno CLI Test)"),
            );
        }
    }
}

/// `workloads/applications/<app>/<cluster>.yaml`: the cluster must exist in the release,
/// the manifests path in the repository.
#[derive(serde::Deserialize)]
struct Placement {
    manifests: PlacementManifests,
}

#[derive(serde::Deserialize)]
struct PlacementManifests {
    path: String,
}

fn check_placement(ctx: &mut Ctx, file: &Path, doc: &Node, defs: Option<&Definitions>) {
    let rel = ctx.rel(file);
    let Some(p) = typed::<Placement>(ctx, &rel, doc, "a workload placement (manifests.path)") else {
        return;
    };
    let pos = node_at(doc, "manifests.path").pos;
    check_repo_path(ctx, &rel, pos, "manifests.path", &p.manifests.path);
    let cluster = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if let Some(defs) = defs
        && defs.get(cluster).is_none()
    {
        let names: Vec<&str> = defs.clusters.iter().map(|c| c.cluster_name.as_str()).collect();
        let hint = did_you_mean(cluster, names.iter().copied())
            .map(|n| format!("did you mean {n}.yaml? "))
            .unwrap_or_default();
        ctx.error(
            &rel,
            Pos { line: 1, column: 1 },
            format!(
                "the file name places the workload on cluster {cluster:?}, which this release does not define; {hint}clusters: {}",
                names.join(", ")
            ),
        );
    }
}

/// kind's cluster config (kind.x-k8s.io/v1alpha4), the parts hubspoke relies on.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct KindCluster {
    kind: String,
    api_version: String,
    name: Option<String>,
    networking: Option<KindNetworking>,
    nodes: Vec<KindNode>,
    feature_gates: Option<Value>,
    runtime_config: Option<Value>,
    kubeadm_config_patches: Option<Value>,
    kubeadm_config_patches_json6902: Option<Value>,
    containerd_config_patches: Option<Value>,
    containerd_config_patches_json6902: Option<Value>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct KindNetworking {
    ip_family: Option<String>,
    api_server_address: Option<String>,
    api_server_port: Option<i64>,
    pod_subnet: Option<String>,
    service_subnet: Option<String>,
    disable_default_cni: Option<bool>,
    kube_proxy_mode: Option<String>,
    dns_search: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct KindNode {
    role: String,
    image: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    extra_mounts: Option<Value>,
    extra_port_mappings: Option<Value>,
    kubeadm_config_patches: Option<Value>,
    kubeadm_config_patches_json6902: Option<Value>,
}

fn check_kind_configs(ctx: &mut Ctx, files: &[(PathBuf, Node)]) {
    let mut images: BTreeMap<String, String> = BTreeMap::new();
    let mut subnets: BTreeMap<String, String> = BTreeMap::new();
    for (path, doc) in files {
        let rel = ctx.rel(path);
        let Some(c) = typed::<KindCluster>(ctx, &rel, doc, "a kind Cluster config") else {
            continue;
        };
        if c.kind != "Cluster" || c.api_version != "kind.x-k8s.io/v1alpha4" {
            ctx.error(
                &rel,
                doc.pos,
                "kind/apiVersion: a kind config is kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4".into(),
            );
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if let Some(n) = &c.name
            && n != stem
        {
            ctx.error(
                &rel,
                node_at(doc, "name").pos,
                format!(
                    "name: {n:?} differs from the file name {stem}.yaml, which hubspoke passes as --name"
                ),
            );
        }
        for (i, n) in c.nodes.iter().enumerate() {
            let pos = node_at(doc, &format!("nodes.{i}.image")).pos;
            match &n.image {
                Some(img) if img.contains("@sha256:") => {
                    images.insert(img.clone(), rel.clone());
                }
                Some(img) => ctx.error(&rel, pos, format!("nodes[{i}].image: {img:?} is not pinned by digest; use kindest/node:<version>@sha256:<digest> from the kind release notes")),
                None => ctx.error(&rel, node_at(doc, &format!("nodes.{i}")).pos, format!("nodes[{i}].image: missing; pin the node image (kindest/node:<version>@sha256:<digest>)")),
            }
        }
        for (field, v) in [
            (
                "podSubnet",
                c.networking.as_ref().and_then(|n| n.pod_subnet.clone()),
            ),
            (
                "serviceSubnet",
                c.networking.as_ref().and_then(|n| n.service_subnet.clone()),
            ),
        ] {
            if let Some(v) = v
                && let Some(other) = subnets.insert(v.clone(), rel.clone())
            {
                let pos = node_at(doc, &format!("networking.{field}")).pos;
                ctx.error(&rel, pos, format!("networking.{field}: {v} is also used by {other}; clusters on the shared kind network need distinct subnets"));
            }
        }
    }
    if images.len() > 1 {
        let list: Vec<String> = images.iter().map(|(i, f)| format!("{f}: {i}")).collect();
        ctx.report.errors.push(format!(
            "kind/: the clusters use different node images ({}); pin one image in every config",
            list.join("; ")
        ));
    }
}

/// Validates the repository at `root`.
pub fn validate(root: &Path) -> Report {
    validate_at(
        root,
        jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date(),
    )
}

/// [`validate`] as of `today` (UTC): what the EKS version pin is judged against.
pub fn validate_at(root: &Path, today: jiff::civil::Date) -> Report {
    let mut ctx = Ctx {
        root,
        report: Report::default(),
    };
    // the releases' cluster definitions first: placement files refer to them
    let mut releases: BTreeMap<PathBuf, Option<Definitions>> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(root.join("release")) {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("clusters").is_dir())
            .collect();
        dirs.sort();
        for r in dirs {
            let defs = match Definitions::load(&r.join("clusters")) {
                Ok(d) => {
                    for c in &d.clusters {
                        let file = ctx.rel(&c.file);
                        for (field, path) in [
                            ("platform_path", &c.platform_path),
                            ("tenant_path", &c.tenant_path),
                        ] {
                            check_repo_path(&mut ctx, &file, Pos { line: 1, column: 1 }, field, path);
                        }
                    }
                    Some(d)
                }
                Err(errs) => {
                    for e in errs.0 {
                        let mut e = e.clone();
                        e.file = PathBuf::from(ctx.rel(&e.file));
                        ctx.report.errors.push(e.to_string());
                    }
                    None
                }
            };
            ctx.report.releases.push(PathBuf::from(ctx.rel(&r)));
            releases.insert(r, defs);
        }
    }
    for d in OWN_LAYOUT {
        if root.join(d).is_dir() {
            ctx.report.notes.push(format!(
                "{d}/: a platform in its own layout (charts, kustomizations, catalogs) is not read file by file; the tests bring it up on sim"
            ));
        }
    }
    let mut files = Vec::new();
    for d in ["release", "fixtures", "kind"] {
        yaml_files(&root.join(d), root, &mut files);
    }
    let mut kind_configs = Vec::new();
    for f in &files {
        ctx.report.files += 1;
        let rel = ctx.rel(f);
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                ctx.report.errors.push(format!("{rel}: cannot be read: {e}"));
                continue;
            }
        };
        let docs = match crate::yaml::parse_all(&text) {
            Ok(d) => d,
            Err(e) => {
                ctx.error(&rel, e.pos, format!("invalid YAML: {}", e.message));
                continue;
            }
        };
        let relp = Path::new(&rel);
        if relp.starts_with("release") && relp.parent().is_some_and(|p| p.ends_with("clusters")) {
            continue; // cluster definitions: checked above
        }
        if relp.starts_with("kind") {
            kind_configs.extend(docs.into_iter().map(|d| (f.clone(), d)));
            continue;
        }
        let placement_release = releases
            .keys()
            .find(|r| f.starts_with(r.join("workloads/applications")))
            .cloned();
        for doc in &docs {
            match &placement_release {
                Some(r) => check_placement(&mut ctx, f, doc, releases.get(r).and_then(Option::as_ref)),
                None => check_object(&mut ctx, &rel, doc),
            }
        }
    }
    check_kind_configs(&mut ctx, &kind_configs);
    check_terraform(&mut ctx);
    check_eks_module(&mut ctx, today);
    // by file, then by position
    ctx.report.warnings.sort();
    ctx.report.errors.sort_by_key(|e| {
        let mut parts = e.splitn(4, ':');
        let file = parts.next().unwrap_or_default().to_string();
        let line: u64 = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        let col: u64 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        (file, line, col)
    });
    ctx.report
}

/// Directories holding terraform modules (`*.tf`), under terraform/ and fixtures/terraform/.
fn terraform_modules(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        if entries
            .iter()
            .any(|p| p.is_file() && p.extension().is_some_and(|e| e == "tf"))
        {
            out.push(dir.to_path_buf());
        }
        for p in entries {
            if p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                walk(&p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join("terraform"), &mut out);
    walk(&root.join("fixtures/terraform"), &mut out);
    out
}

/// `terraform fmt -check` and `terraform validate` over every module, and the tfvars'
/// `cluster_path` references.
fn check_terraform(ctx: &mut Ctx) {
    let modules = terraform_modules(ctx.root);
    ctx.report.terraform_modules = modules.len();
    if modules.is_empty() {
        return;
    }
    for m in &modules {
        check_tfvars(ctx, m);
    }
    let version = std::process::Command::new("terraform").arg("version").output();
    if !version.is_ok_and(|o| o.status.success()) {
        ctx.report.notes.push(
            "terraform not found on PATH: terraform fmt -check and terraform validate not run (install terraform 1.6 or later)"
                .into(),
        );
        return;
    }
    for m in &modules {
        let rel = ctx.rel(m);
        terraform_fmt(ctx, m, &rel);
        terraform_validate(ctx, m, &rel);
    }
}

fn terraform(dir: &Path, args: &[&str], data_dir: Option<&Path>) -> std::io::Result<std::process::Output> {
    let mut cmd = std::process::Command::new("terraform");
    cmd.arg(format!("-chdir={}", dir.display()))
        .args(args)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1");
    if let Some(d) = data_dir {
        cmd.env("TF_DATA_DIR", d);
    }
    cmd.output()
}

fn terraform_fmt(ctx: &mut Ctx, module: &Path, rel: &str) {
    match terraform(module, &["fmt", "-check", "-list=true", "-no-color"], None) {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
                .collect();
            if listed.is_empty() {
                ctx.report.errors.push(format!(
                    "{rel}: terraform fmt -check failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            for f in listed {
                ctx.report.errors.push(format!(
                    "{rel}/{f}: not in terraform's canonical format; fix: terraform fmt {rel}"
                ));
            }
        }
        Err(e) => ctx
            .report
            .errors
            .push(format!("{rel}: running terraform fmt: {e}")),
    }
}

/// `terraform init -backend=false` into a scratch data directory, then `terraform validate
/// -json`; a module whose providers or modules need the registry is noted, not failed,
/// when the registry cannot be reached.
fn terraform_validate(ctx: &mut Ctx, module: &Path, rel: &str) {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let data = std::env::temp_dir().join(format!(
        "hubspoke-validate-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let had_lock = module.join(".terraform.lock.hcl").exists();
    let init = terraform(
        module,
        &["init", "-backend=false", "-input=false", "-no-color"],
        Some(&data),
    );
    let result = match init {
        Err(e) => Err(format!("{rel}: running terraform init: {e}")),
        Ok(out) if !out.status.success() => {
            let text =
                String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
            if unreachable_registry(&text) {
                ctx.report.notes.push(format!(
                    "{rel}: terraform validate not run: its providers and modules come from the Terraform registry, which cannot be reached from here (terraform init failed: {})",
                    first_error(&text)
                ));
                Ok(())
            } else {
                Err(format!("{rel}: terraform init: {}", first_error(&text)))
            }
        }
        Ok(_) => match terraform(module, &["validate", "-json", "-no-color"], Some(&data)) {
            Err(e) => Err(format!("{rel}: running terraform validate: {e}")),
            Ok(out) => validate_diagnostics(rel, &out.stdout),
        },
    };
    let _ = std::fs::remove_dir_all(&data);
    if !had_lock {
        let _ = std::fs::remove_file(module.join(".terraform.lock.hcl"));
    }
    if let Err(e) = result {
        ctx.report.errors.push(e);
    }
}

fn unreachable_registry(text: &str) -> bool {
    [
        "no such host",
        "dial tcp",
        "Could not retrieve the list of available versions",
        "failed to request discovery document",
        "i/o timeout",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// The first `Error: ...` line of terraform's output and the line after it.
fn first_error(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('│') && !l.starts_with('╷') && !l.starts_with('╵'))
        .collect();
    match lines.iter().position(|l| l.starts_with("Error:")) {
        Some(i) => lines[i..(i + 3).min(lines.len())].join(" "),
        None => lines.last().copied().unwrap_or("no output").to_string(),
    }
}

/// `terraform validate -json`'s diagnostics as `file:line:col: summary: detail`.
fn validate_diagnostics(rel: &str, stdout: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(stdout)
        .map_err(|e| format!("{rel}: terraform validate -json printed something unreadable: {e}"))?;
    let errors: Vec<String> = v["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            let at = match d["range"]["filename"].as_str() {
                Some(f) => format!(
                    "{rel}/{f}:{}:{}",
                    d["range"]["start"]["line"].as_u64().unwrap_or(0),
                    d["range"]["start"]["column"].as_u64().unwrap_or(0)
                ),
                None => rel.to_string(),
            };
            let detail = d["detail"].as_str().unwrap_or_default();
            format!(
                "{at}: {}{}",
                d["summary"].as_str().unwrap_or("error"),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// The EKS root module (`terraform/`): the Kubernetes version it pins (the
/// `kubernetes_version` variable's default and any tfvars setting it) judged against the EKS
/// release calendar, and its `terraform-aws-modules/eks/aws` module calls set up so a
/// destroyed cluster leaves nothing that breaks the next apply.
fn check_eks_module(ctx: &mut Ctx, today: jiff::civil::Date) {
    let module = ctx.root.join("terraform");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&module)
        .map(|es| es.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.extend(
        std::fs::read_dir(module.join("variables"))
            .map(|es| es.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("tf" | "tfvars")));
    files.sort();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let rel = ctx.rel(&f);
        let lines: Vec<&str> = text.lines().collect();
        let tfvars = f.extension().is_some_and(|e| e == "tfvars");
        // (line index, 1-based column of the value, value) of each pin
        let mut pins = Vec::new();
        if tfvars {
            for (i, l) in lines.iter().enumerate() {
                if let Some(v) = attribute(l, "kubernetes_version") {
                    pins.push((i, l.find('"').map_or(1, |c| c + 1), v));
                }
            }
        }
        for (start, end, header) in blocks(&lines) {
            if header == "variable \"kubernetes_version\"" {
                for (i, l) in lines.iter().enumerate().take(end).skip(start + 1) {
                    if let Some(v) = attribute(l, "default") {
                        pins.push((i, l.find('"').map_or(1, |c| c + 1), v));
                    }
                }
            }
            let source = (start + 1..end).find_map(|i| attribute(lines[i], "source"));
            if header.starts_with("module ") && source.as_deref() == Some("terraform-aws-modules/eks/aws") {
                let name = header.trim_start_matches("module ").trim_matches('"');
                let set = |key: &str| (start + 1..end).find_map(|i| attribute(lines[i], key));
                let mut wrong = Vec::new();
                if set("create_cloudwatch_log_group").as_deref() != Some("false") {
                    wrong.push("create_cloudwatch_log_group = false");
                }
                if set("enabled_log_types").as_deref() != Some("[]") {
                    wrong.push("enabled_log_types = []");
                }
                if !wrong.is_empty() {
                    ctx.report.errors.push(format!(
                        "{rel}:{}:1: module \"{name}\" ({}): without {} EKS writes control plane logs to /aws/eks/<cluster>/cluster and recreates that log group after terraform destroys it (terraform-aws-eks#2763), so the group outlives every run and the next apply with the same name fails; fix: set {} in the module block",
                        start + 1,
                        "terraform-aws-modules/eks/aws",
                        wrong.join(" and "),
                        wrong.join(" and "),
                    ));
                }
            }
        }
        for (i, column, version) in pins {
            if let Some(p) = crate::eks_calendar::problem(&version, today) {
                ctx.report
                    .warnings
                    .push(format!("{rel}:{}:{column}: kubernetes_version: {p}", i + 1));
            }
        }
    }
}

/// `key = value` on this line (a top-level attribute of its block), the value unquoted.
fn attribute(line: &str, key: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(key)?;
    let value = rest.trim_start().strip_prefix('=')?.trim();
    let value = value.split(" #").next().unwrap_or(value).trim();
    Some(value.trim_matches('"').to_string())
}

/// The top-level blocks of a terraform file in canonical format: (first line, closing line,
/// header such as `module "eks"`).
fn blocks<'a>(lines: &[&'a str]) -> Vec<(usize, usize, &'a str)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, &str)> = None;
    for (i, l) in lines.iter().enumerate() {
        match open {
            None if !l.starts_with([' ', '#', '}']) && l.trim_end().ends_with('{') => {
                open = Some((i, l.trim_end().trim_end_matches('{').trim_end()));
            }
            Some((start, header)) if l.starts_with('}') => {
                out.push((start, i, header));
                open = None;
            }
            _ => {}
        }
    }
    out
}

/// Every `cluster_path = "..."` in a module's tfvars names a cluster definition that loads.
fn check_tfvars(ctx: &mut Ctx, module: &Path) {
    let mut files = Vec::new();
    for dir in [module.to_path_buf(), module.join("variables")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "tfvars")),
            );
        }
    }
    files.sort();
    for f in files {
        let rel = ctx.rel(&f);
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let Some(rest) = line.trim_start().strip_prefix("cluster_path") else {
                continue;
            };
            let Some(value) = rest
                .trim_start()
                .strip_prefix('=')
                .map(|v| v.trim().trim_matches('"'))
            else {
                continue;
            };
            let column = line.find("cluster_path").unwrap_or(0) + 1;
            let target = module.join(value);
            let problem = if !target.is_file() {
                Some(format!(
                    "{value} does not exist (paths are relative to {})",
                    ctx.rel(module)
                ))
            } else {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                match crate::definition::parse(&target, &text) {
                    Ok(_) => None,
                    Err(errs) => Some(format!(
                        "{value} is not a valid cluster definition: {}",
                        errs.first().map(|e| e.message.clone()).unwrap_or_default()
                    )),
                }
            };
            if let Some(p) = problem {
                ctx.report.errors.push(format!(
                    "{rel}:{}:{column}: cluster_path: {p}; fix: point it at a file under release/<env>/clusters/",
                    i + 1
                ));
            }
        }
    }
}

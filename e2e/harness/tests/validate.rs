//! `hubspoke validate` on a broken copy of the repository's content: each problem is named
//! with file, line, column, field and fix.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn copy(root: &Path, rel: &str) {
    write(
        root,
        rel,
        &std::fs::read_to_string(repo_root().join(rel)).unwrap(),
    );
}

#[test]
fn the_repository_validates() {
    let report = hubspoke::validate::validate(&repo_root());
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.objects >= 20, "{} objects", report.objects);
}

#[test]
fn broken_content_is_named_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in ["hub", "spoke-a", "spoke-b"] {
        copy(root, &format!("release/hub-kind/clusters/{f}.yaml"));
    }
    for f in [
        "system-kyverno.yaml",
        "system-kyverno-policies.yaml",
        "tenant-workloads.yaml",
    ] {
        copy(root, &format!("release/bootstrap/{f}"));
    }
    copy(root, "fixtures/policies/deny-latest-image.yaml");
    copy(root, "fixtures/workloads/podinfo/service.yaml");
    let deployment = std::fs::read_to_string(repo_root().join("fixtures/workloads/podinfo/deployment.yaml"))
        .unwrap()
        .replace("          image: ghcr", "          imagee: ghcr")
        .replace("replicas: 2", "replicas: two");
    write(root, "fixtures/workloads/podinfo/deployment.yaml", &deployment);
    write(
        root,
        "release/hub-kind/workloads/applications/podinfo/spoke-z.yaml",
        "manifests:\n  path: fixtures/workloads/podinfo\n",
    );
    write(
        root,
        "release/hub-kind/workloads/applications/echo/spoke-a.yaml",
        "manifests:\n  path: fixtures/workloads/echo\n",
    );
    write(
        root,
        "fixtures/extra/app.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: x\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: https://github.com/hubspoke/hubspoke.git\n    path: fixtures/nowhere\n  destination:\n    server: https://kubernetes.default.svc\n  syncPolicy:\n    automated:\n      prune: true\n      selfHeel: true\n---\napiVersion: apps/v1\nkind: Deploymnet\nmetadata:\n  name: y\n",
    );
    write(
        root,
        "fixtures/extra/project.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: tenants\n  namespace: argocd\nspec:\n  sourceRepo:\n    - https://github.com/hubspoke/*\n  destinations:\n    - server: \"*\"\n      namespace: \"*\"\n---\napiVersion: kyverno.io/v1\nkind: Policy\nmetadata:\n  name: team-limits\n  namespace: team\nspec:\n  background: yes please\n  rules: []\n",
    );
    let policy = std::fs::read_to_string(repo_root().join("fixtures/policies/deny-latest-image.yaml"))
        .unwrap()
        .replacen("      validate:\n", "      validat:\n", 1);
    write(root, "fixtures/policies/deny-latest-image.yaml", &policy);
    let kind_a = std::fs::read_to_string(repo_root().join("kind/spoke-a.yaml")).unwrap();
    write(root, "kind/spoke-a.yaml", &kind_a);
    write(
        root,
        "kind/spoke-b.yaml",
        &kind_a.replace("name: spoke-a", "name: spoke-b").replace(
            "@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f",
            "",
        ),
    );
    // terraform: a file out of canonical format, a reference to an undeclared variable, a
    // tfvars pointing at no cluster definition
    let module = std::fs::read_to_string(repo_root().join("fixtures/terraform/cluster/main.tf"))
        .unwrap()
        .replace("value = var.region", "value = var.regoin");
    write(root, "fixtures/terraform/cluster/main.tf", &module);
    write(root, "terraform/main.tf", "output \"x\" {\nvalue = 1\n}\n");
    write(
        root,
        "terraform/variables/hub.tfvars",
        "# the hub\ncluster_path = \"../release/hub-kind/clusters/hubb.yaml\"\n",
    );

    let report = hubspoke::validate::validate(root);
    assert_eq!(report.terraform_modules, 2);
    assert_eq!(
        report.errors,
        [
            "fixtures/extra/app.yaml:10:11: spec.source.path: \"fixtures/nowhere\" is not a directory of this repository; fix the path or add the directory",
            "fixtures/extra/app.yaml:16:7: spec.syncPolicy.automated.selfHeel: unknown field of Application",
            "fixtures/extra/app.yaml:19:7: kind: apps/v1/Deploymnet is not a kind hubspoke can check; did you mean Deployment? (known: the core workload kinds, Argo CD Application/ApplicationSet/AppProject, Kyverno ClusterPolicy/Policy)",
            "fixtures/extra/project.yaml:7:3: spec.sourceRepo: unknown field of AppProject",
            "fixtures/extra/project.yaml:19:15: spec.background: invalid type: string \"yes please\", expected a boolean (Policy)",
            "fixtures/policies/deny-latest-image.yaml:28:7: spec.rules[0].validat: unknown field of ClusterPolicy",
            "fixtures/terraform/cluster/main.tf:94:11: Reference to undeclared input variable: An input variable with the name \"regoin\" has not been declared. Did you mean \"region\"?",
            "fixtures/workloads/podinfo/deployment.yaml:8:13: spec.replicas: invalid type: string \"two\", expected i32 (Deployment)",
            "kind/spoke-b.yaml:10:14: networking.podSubnet: 10.20.0.0/16 is also used by kind/spoke-a.yaml; clusters on the shared kind network need distinct subnets",
            "kind/spoke-b.yaml:11:18: networking.serviceSubnet: 10.120.0.0/16 is also used by kind/spoke-a.yaml; clusters on the shared kind network need distinct subnets",
            "kind/spoke-b.yaml:15:12: nodes[0].image: \"kindest/node:v1.33.1\" is not pinned by digest; use kindest/node:<version>@sha256:<digest> from the kind release notes",
            "release/hub-kind/workloads/applications/echo/spoke-a.yaml:2:9: manifests.path: \"fixtures/workloads/echo\" is not a directory of this repository; fix the path or add the directory",
            "release/hub-kind/workloads/applications/podinfo/spoke-z.yaml:1:1: the file name places the workload on cluster \"spoke-z\", which this release does not define; did you mean spoke-b.yaml? clusters: hub, spoke-a, spoke-b",
            "terraform/main.tf: not in terraform's canonical format; fix: terraform fmt terraform",
            "terraform/variables/hub.tfvars:2:1: cluster_path: ../release/hub-kind/clusters/hubb.yaml does not exist (paths are relative to terraform); fix: point it at a file under release/<env>/clusters/",
        ]
    );
}

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

fn day(y: i16, m: i8, d: i8) -> jiff::civil::Date {
    jiff::civil::date(y, m, d)
}

#[test]
fn the_repository_validates() {
    // as of the day the EKS pin was last chosen: in standard support, nothing to warn about
    let report = hubspoke::validate::validate_at(&repo_root(), day(2026, 12, 6));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    assert!(report.objects >= 20, "{} objects", report.objects);
}

/// `(line, column of the value's opening quote)` (1-based) of the first line of `text` starting with `prefix` after the
/// line starting with `after`.
fn position(text: &str, after: &str, prefix: &str) -> (usize, usize) {
    let start = text.lines().position(|l| l.starts_with(after)).unwrap();
    let i = text
        .lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| l.starts_with(prefix))
        .unwrap()
        .0;
    (i + 1, text.lines().nth(i).unwrap().find('"').unwrap() + 1)
}

#[test]
fn the_eks_module_pins_a_version_in_standard_support_and_leaves_no_log_group() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in ["hub", "spoke"] {
        copy(root, &format!("release/hub-aws/clusters/{f}.yaml"));
        copy(root, &format!("terraform/variables/{f}.tfvars"));
    }
    for f in ["hub.tf", "locals.tf", "outputs.tf", "spoke.tf", "versions.tf"] {
        copy(root, &format!("terraform/{f}"));
    }
    // the definitions' platform_path
    std::fs::create_dir_all(root.join("release/bootstrap")).unwrap();
    // the pin and the module call as they were: 1.33, and control plane logs into a log
    // group EKS recreates after destroy
    let variables = std::fs::read_to_string(repo_root().join("terraform/variables.tf")).unwrap();
    let pinned = {
        let (line, _) = position(&variables, "variable \"kubernetes_version\"", "  default");
        variables
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i + 1 == line {
                    "  default     = \"1.33\""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    write(root, "terraform/variables.tf", &pinned);
    let main = std::fs::read_to_string(repo_root().join("terraform/main.tf"))
        .unwrap()
        .replace("  create_cloudwatch_log_group = false\n", "")
        .replace("  enabled_log_types           = []\n", "");
    write(root, "terraform/main.tf", &main);
    write(
        root,
        "terraform/variables/spoke.tfvars",
        &(std::fs::read_to_string(repo_root().join("terraform/variables/spoke.tfvars")).unwrap()
            + "kubernetes_version = \"1.34\"\n"),
    );

    let report = hubspoke::validate::validate_at(root, day(2026, 12, 6));
    let (line, column) = position(&pinned, "variable \"kubernetes_version\"", "  default");
    let spoke_line = std::fs::read_to_string(root.join("terraform/variables/spoke.tfvars"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(
        report.warnings,
        [
            format!(
                "terraform/variables.tf:{line}:{column}: kubernetes_version: EKS standard support for Kubernetes 1.33 ended on 2026-07-29: every cluster is billed extended support (six times the standard price per control plane hour) until 2027-07-29; fix: pin 1.35 (standard support until 2027-03-27)"
            ),
            format!(
                "terraform/variables/spoke.tfvars:{spoke_line}:22: kubernetes_version: EKS standard support for Kubernetes 1.34 ended on 2026-12-02: every cluster is billed extended support (six times the standard price per control plane hour) until 2027-12-02; fix: pin 1.35 (standard support until 2027-03-27)"
            ),
        ]
    );
    let module_line = main.lines().position(|l| l == "module \"eks\" {").unwrap() + 1;
    assert_eq!(
        report.errors,
        [format!(
            "terraform/main.tf:{module_line}:1: module \"eks\" (terraform-aws-modules/eks/aws): without create_cloudwatch_log_group = false and enabled_log_types = [] EKS writes control plane logs to /aws/eks/<cluster>/cluster and recreates that log group after terraform destroys it (terraform-aws-eks#2763), so the group outlives every run and the next apply with the same name fails; fix: set create_cloudwatch_log_group = false and enabled_log_types = [] in the module block"
        )]
    );
    // the day before 1.34 left standard support only the 1.33 pin is a problem
    let report = hubspoke::validate::validate_at(root, day(2026, 12, 1));
    assert_eq!(report.warnings.len(), 1, "{:#?}", report.warnings);
    assert!(report.warnings[0].starts_with("terraform/variables.tf:"));
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
    // a policy Kyverno's policy webhook would refuse, and a Kyverno CLI test file with a
    // result that is not one
    write(
        root,
        "fixtures/extra/kyverno.yaml",
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: probes\nspec:\n  rules:\n    - name: probes\n      match:\n        any:\n          - resources:\n              kinds: [Pod]\n      validate:\n        foreach:\n          - pattern:\n              livenessProbe: {}\n",
    );
    write(
        root,
        "fixtures/extra/tests/kyverno-test.yaml",
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata:\n  name: probes\npolicies: []\nresults:\n  - policy: probes\n    rule: probes\n    kind: Pod\n    resources: [p]\n    result: failed\n",
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
            "fixtures/extra/app.yaml:19:7: kind: apps/v1/Deploymnet is not a kind hubspoke can check; did you mean Deployment? (known: the core workload kinds, Argo CD Application/ApplicationSet/AppProject, Kyverno ClusterPolicy/Policy/PolicyException, Kyverno CLI Test)",
            "fixtures/extra/kyverno.yaml:1:1: Kyverno would refuse this policy: path: spec.rules[0].validate..: foreach.list is required",
            "fixtures/extra/project.yaml:7:3: spec.sourceRepo: unknown field of AppProject",
            "fixtures/extra/project.yaml:19:15: spec.background: invalid type: string \"yes please\", expected a boolean (Policy)",
            "fixtures/extra/tests/kyverno-test.yaml:1:1: results[0].result: \"failed\" is not a result (pass, fail, skip, warn or error)",
            "fixtures/policies/deny-latest-image.yaml:1:1: Kyverno would refuse this policy: spec.rules[0]: Invalid value: rule 'require-image-tag': No operation defined in the rule 'require-image-tag'.(supported operations: mutate,validate,generate,verifyImages)",
            "fixtures/policies/deny-latest-image.yaml:28:7: spec.rules[0].validat: unknown field of ClusterPolicy",
            "fixtures/terraform/cluster/main.tf:96:11: Reference to undeclared input variable: An input variable with the name \"regoin\" has not been declared. Did you mean \"region\"?",
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

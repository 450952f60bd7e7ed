//! Validate rules through the engine, on policies written here after common public
//! policy-library patterns, with the messages Kyverno writes.

use hubspoke_kyverno::context::{Cluster, Offline};
use hubspoke_kyverno::engine::{self, Request, RuleResult, Status};
use hubspoke_kyverno::exceptions::{self, Exception};
use hubspoke_kyverno::policy::{self, Action};
use serde_json::{Value, json};

fn cpol(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": name}, "spec": spec})
}

fn pod(name: &str, ns: &str, containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": {"containers": containers}})
}

fn create(object: &Value) -> Value {
    json!({"uid": "1", "operation": "CREATE", "kind": {"group": "", "version": "v1", "kind": object["kind"]},
        "namespace": object.pointer("/metadata/namespace"), "object": object,
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]}})
}

fn run_with(
    policy: &Value,
    admission: &Value,
    exceptions: &[Exception],
    cluster: &dyn Cluster,
) -> Vec<RuleResult> {
    let p = policy::load(policy).unwrap_or_else(|e| panic!("policy loads: {e}"));
    let labels = json!({});
    engine::validate(
        &p,
        &Request {
            admission,
            namespace_labels: &labels,
            namespace_object: None,
            cluster,
            exceptions,
        },
    )
}

fn run(policy: &Value, admission: &Value) -> Vec<(String, Status, String)> {
    run_with(policy, admission, &[], &Offline)
        .into_iter()
        .map(|r| (r.rule, r.status, r.message))
        .collect()
}

fn probes_policy() -> Value {
    cpol(
        "require-probes",
        json!({"validationFailureAction": "Enforce", "rules": [{
            "name": "validate-probes",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {
                "message": "Liveness and readiness probes are required.",
                "foreach": [{"list": "request.object.spec.containers", "pattern": {
                    "livenessProbe": {"periodSeconds": ">0"},
                    "readinessProbe": {"periodSeconds": ">0"},
                }}],
            },
        }]}),
    )
}

fn probe() -> Value {
    json!({"httpGet": {"path": "/", "port": 80}, "periodSeconds": 10})
}

#[test]
fn foreach_checks_every_container_with_paths_relative_to_the_element() {
    let ok = pod(
        "ok",
        "web",
        json!([{"name": "a", "image": "nginx", "livenessProbe": probe(), "readinessProbe": probe()}]),
    );
    assert_eq!(
        run(&probes_policy(), &create(&ok)),
        [("validate-probes".into(), Status::Pass, "rule passed".into())]
    );
    let bad = pod(
        "bad",
        "web",
        json!([
            {"name": "a", "image": "nginx", "livenessProbe": probe(), "readinessProbe": probe()},
            {"name": "b", "image": "nginx", "livenessProbe": probe()},
        ]),
    );
    assert_eq!(
        run(&probes_policy(), &create(&bad)),
        [(
            "validate-probes".into(),
            Status::Fail,
            "validation failure: validation error: Liveness and readiness probes are required. rule validate-probes failed at path /readinessProbe/".into()
        )]
    );
    // autogen: the Deployment rule loops over the template's containers
    let p = policy::load(&probes_policy()).unwrap();
    let auto = p
        .rules
        .iter()
        .find(|r| r.name == "autogen-validate-probes")
        .unwrap();
    assert_eq!(
        auto.body["foreach"][0]["list"],
        "request.object.spec.template.spec.containers"
    );
}

#[test]
fn foreach_with_no_element_gives_no_result() {
    let p = cpol(
        "no-host-path",
        json!({"rules": [{
            "name": "volumes",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"foreach": [{"list": "request.object.spec.volumes[]", "deny": {"conditions": {"any": [
                {"key": "{{ element.hostPath || '' }}", "operator": "NotEquals", "value": ""}]}}}]},
        }]}),
    );
    assert_eq!(
        run(
            &p,
            &create(&pod("p", "web", json!([{"name": "a", "image": "x"}])))
        ),
        []
    );
}

#[test]
fn foreach_deny_preconditions_and_nested_loops() {
    let p = cpol(
        "registries",
        json!({"validationFailureAction": "Enforce", "rules": [{
            "name": "allowed-registry",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {
                "message": "{{ element.name }} uses {{ element.image }}, not from ghcr.io/acme",
                "foreach": [{
                    "list": "request.object.spec.containers",
                    "preconditions": {"all": [{"key": "{{ element.name }}", "operator": "NotEquals", "value": "istio-proxy"}]},
                    "deny": {"conditions": {"all": [{"key": "{{ element.image }}", "operator": "NotEquals", "value": "ghcr.io/acme/*"}]}},
                }],
            },
        }]}),
    );
    let good = pod(
        "p",
        "web",
        json!([{"name": "app", "image": "ghcr.io/acme/app:1"}, {"name": "istio-proxy", "image": "docker.io/istio/proxyv2"}]),
    );
    assert_eq!(run(&p, &create(&good))[0].1, Status::Pass);
    let bad = pod("p", "web", json!([{"name": "app", "image": "docker.io/app:1"}]));
    assert_eq!(
        run(&p, &create(&bad)),
        [(
            "allowed-registry".into(),
            Status::Fail,
            "validation failure: app uses docker.io/app:1, not from ghcr.io/acme".into()
        )]
    );
    // nested: element0 is the outer element, element the inner one
    let nested = cpol(
        "ports",
        json!({"rules": [{
            "name": "no-low-ports",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"message": "low port", "foreach": [{
                "list": "request.object.spec.containers",
                "foreach": [{"list": "element.ports", "deny": {"conditions": {"any": [
                    {"key": "{{ element.containerPort }}", "operator": "LessThan", "value": 1024},
                ]}}}],
            }]},
        }]}),
    );
    let low = pod(
        "p",
        "web",
        json!([{"name": "a", "image": "x", "ports": [{"containerPort": 8080}, {"containerPort": 80}]}]),
    );
    assert_eq!(
        run(&nested, &create(&low)),
        [(
            "no-low-ports".into(),
            Status::Fail,
            "validation failure: validation failure: low port".into()
        )]
    );
}

#[test]
fn an_exception_skips_its_rule_for_the_resources_it_matches() {
    let policy = probes_policy();
    let ex = exceptions::load(&json!({
        "apiVersion": "kyverno.io/v2", "kind": "PolicyException",
        "metadata": {"name": "legacy-probes", "namespace": "kyverno"},
        "spec": {
            "exceptions": [{"policyName": "require-probes", "ruleNames": ["validate-probes", "autogen-*"]}],
            "match": {"any": [{"resources": {"kinds": ["Pod"], "namespaces": ["legacy"]}}]},
        },
    }))
    .unwrap();
    let bad = |ns: &str| pod("p", ns, json!([{"name": "a", "image": "x"}]));
    let skipped = run_with(
        &policy,
        &create(&bad("legacy")),
        std::slice::from_ref(&ex),
        &Offline,
    );
    assert_eq!(skipped[0].status, Status::Skip);
    assert_eq!(
        skipped[0].message,
        "rule is skipped due to policy exceptionskyverno/legacy-probes"
    );
    assert_eq!(skipped[0].properties["exceptions"], "legacy-probes");
    let failed = run_with(&policy, &create(&bad("web")), &[ex], &Offline);
    assert_eq!(failed[0].status, Status::Fail);
    // the exception's own checks
    assert_eq!(
        exceptions::load(&json!({"metadata": {"name": "x", "namespace": "kyverno"}, "spec": {"exceptions": [{"ruleNames": ["r"]}]}}))
            .unwrap_err(),
        "spec.exceptions[0].policyName: Required value: An exception requires a policy name"
    );
}

#[test]
fn existing_violations_do_not_block_an_update_and_overrides_pick_the_action() {
    let policy = cpol(
        "team-label",
        json!({"validationFailureAction": "Enforce",
            "validationFailureActionOverrides": [{"action": "Audit", "namespaces": ["sandbox-*"]}],
            "rules": [{
            "name": "team",
            "match": {"any": [{"resources": {"kinds": ["ConfigMap"]}}]},
            "validate": {"message": "team label required", "pattern": {"metadata": {"labels": {"team": "?*"}}}},
        }]}),
    );
    let cm = |labels: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "web", "labels": labels}});
    let mut update = create(&cm(json!({"app": "x"})));
    update["operation"] = json!("UPDATE");
    update["oldObject"] = cm(json!({}));
    let r = run(&policy, &update);
    assert_eq!(
        r,
        [(
            "team".into(),
            Status::Skip,
            "skipping the rule evaluation as pre-existing violations are allowed".into()
        )]
    );
    // a compliant object made non-compliant is checked
    update["oldObject"] = cm(json!({"team": "a"}));
    assert_eq!(run(&policy, &update)[0].1, Status::Fail);
    // the override makes the rule Audit in sandbox namespaces
    let mut sandbox = create(&cm(json!({})));
    sandbox["namespace"] = json!("sandbox-1");
    sandbox["object"]["metadata"]["namespace"] = json!("sandbox-1");
    let results = run_with(&policy, &sandbox, &[], &Offline);
    assert_eq!(
        (results[0].status, results[0].action),
        (Status::Fail, Action::Audit)
    );
    let results = run_with(&policy, &create(&cm(json!({}))), &[], &Offline);
    assert_eq!(results[0].action, Action::Enforce);
}

struct Settings;
impl Cluster for Settings {
    fn config_map(&self, ns: &str, name: &str) -> Result<Value, String> {
        match (ns, name) {
            ("platform", "limits") => Ok(json!({"metadata": {"name": name}, "data": {"maxReplicas": "5"}})),
            _ => Err(format!("configmaps \"{name}\" not found")),
        }
    }
    fn raw(&self, _: &str, path: &str, _: Option<&Value>) -> Result<Value, String> {
        Err(format!(
            "{path}: the server could not find the requested resource"
        ))
    }
}

#[test]
fn context_entries_feed_conditions_and_their_errors_read_as_kyvernos() {
    let policy = cpol(
        "max-replicas",
        json!({"validationFailureAction": "Enforce", "background": false, "rules": [{
            "name": "replicas",
            "match": {"any": [{"resources": {"kinds": ["Deployment"]}}]},
            "context": [
                {"name": "limits", "configMap": {"name": "limits", "namespace": "platform"}},
                {"name": "replicas", "variable": {"jmesPath": "request.object.spec.replicas", "default": 1}},
            ],
            "validate": {"message": "at most {{ limits.data.maxReplicas }} replicas, not {{ replicas }}",
                "deny": {"conditions": {"any": [{"key": "{{ replicas }}", "operator": "GreaterThan", "value": "{{ limits.data.maxReplicas }}"}]}}},
        }]}),
    );
    let deploy = |replicas: i64| {
        json!({"uid": "1", "operation": "CREATE", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"}, "namespace": "web",
            "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "web"}, "spec": {"replicas": replicas}}})
    };
    let r = run_with(&policy, &deploy(8), &[], &Settings);
    assert_eq!(
        (r[0].status, r[0].message.as_str()),
        (Status::Fail, "at most 5 replicas, not 8")
    );
    assert_eq!(
        run_with(&policy, &deploy(3), &[], &Settings)[0].status,
        Status::Pass
    );
    let r = run_with(&policy, &deploy(8), &[], &Offline);
    assert_eq!(r[0].status, Status::Error);
    assert_eq!(
        r[0].message,
        "failed to check deny conditions: failed to substitute variables in condition value: failed to resolve limits.data.maxReplicas at path : failed to retrieve config map for context entry limits: failed to get configmap platform/limits : configmaps \"limits\" not found (no cluster to read platform/limits from)"
    );
}

#[test]
fn invalid_policies_are_rejected_with_kyvernos_messages() {
    let rule = |body: Value| {
        let mut r = json!({"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}});
        for (k, v) in body.as_object().unwrap() {
            r[k] = v.clone();
        }
        cpol("p", json!({"rules": [r]}))
    };
    let cases = [
        (
            json!({"validate": {"foreach": [{"pattern": {"a": "b"}}]}}),
            "path: spec.rules[0].validate..: foreach.list is required",
        ),
        (
            json!({"validate": {"foreach": [{"list": "x", "pattern": {"a": "b"}, "deny": {}}]}}),
            "path: spec.rules[0].validate..: only one of pattern, anyPattern, deny, or a nested foreach can be specified",
        ),
        (
            json!({"mutate": {"patchStrategicMerge": {}, "patchesJson6902": "[]"}}),
            "path: spec.rules[0].mutate.foreach.: only one of `patchStrategicMerge` or `patchesJson6902` is allowed",
        ),
        (
            json!({"mutate": {"patchesJson6902": "- op: add\n  path: metadata/labels/x\n  value: y"}}),
            "path must begin with a forward slash: spec.rules[0]: metadata/labels/x",
        ),
        (
            json!({"validate": {"message": "{{ request.userInfo.username }}", "deny": {}}}),
            "only select variables are allowed in background mode. Set spec.background=false to disable background mode for this policy rule: variable {{ request.userInfo.username }} is not allowed ",
        ),
        (
            json!({"context": [{"name": "request", "variable": {"value": 1}}], "validate": {"deny": {}}}),
            "path: spec.rules[0]: entry name request is invalid as it conflicts with a pre-defined variable request",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(policy::check(&rule(body.clone())).unwrap_err(), want, "{body}");
    }
    // what the stand-in cannot run is refused with the reason, not ignored
    let generate = rule(json!({"generate": {"kind": "ConfigMap", "name": "x", "data": {}}}));
    assert!(policy::check(&generate).is_ok());
    assert_eq!(
        policy::load(&generate).unwrap_err(),
        "rule r is a generate rule, which the hubspoke sim Kyverno stand-in does not run: the policy is not enforced on sim"
    );
}

#[test]
fn pod_security_rules_check_the_standards_and_take_exceptions_by_control() {
    let policy = cpol(
        "psa",
        json!({"validationFailureAction": "Enforce", "rules": [{
            "name": "restricted",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"podSecurity": {"level": "restricted", "version": "latest"}},
        }]}),
    );
    let sc = json!({"allowPrivilegeEscalation": false, "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}});
    let p = pod(
        "p",
        "web",
        json!([{"name": "app", "image": "nginx", "securityContext": sc}]),
    );
    let r = run_with(&policy, &create(&p), &[], &Offline);
    assert_eq!(
        (r[0].status, r[0].message.as_str()),
        (
            Status::Fail,
            "Validation rule 'restricted' failed. It violates PodSecurity \"restricted:latest\": (Forbidden reason: unrestricted capabilities, field error list: [spec.containers[0].securityContext.capabilities.drop: Required value])"
        )
    );
    assert_eq!(r[0].properties["controls"], "capabilities_restricted");
    // an exception lifting the control for that image
    let ex = exceptions::load(&json!({
        "metadata": {"name": "caps", "namespace": "kyverno"},
        "spec": {"exceptions": [{"policyName": "psa", "ruleNames": ["restricted"]}],
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "podSecurity": [{"controlName": "Capabilities", "images": ["nginx*", "docker.io/nginx*"]}]},
    }))
    .unwrap();
    let r = run_with(&policy, &create(&p), std::slice::from_ref(&ex), &Offline);
    assert_eq!(
        (r[0].status, r[0].message.as_str()),
        (
            Status::Skip,
            "rule is skipped due to policy exceptions kyverno/caps"
        )
    );
    // a policy webhook check of the excludes
    let bad = cpol(
        "psa",
        json!({"rules": [{"name": "baseline", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"podSecurity": {"level": "baseline", "exclude": [{"controlName": "Host Ports"}]}}}]}),
    );
    assert_eq!(
        policy::check(&bad).unwrap_err(),
        "spec.rules[0].podSecurity.exclude[0].controlName: Invalid value: \"Host Ports\": exclude.images must be specified for the container level control"
    );
}

#[test]
fn cel_rules_check_services_and_shift_to_pod_templates() {
    let policy = cpol(
        "no-lb",
        json!({"validationFailureAction": "Enforce", "rules": [{
            "name": "no-loadbalancer",
            "match": {"any": [{"resources": {"kinds": ["Service"]}}]},
            "validate": {"cel": {"expressions": [{
                "expression": "object.spec.type != 'LoadBalancer'",
                "messageExpression": "'Service ' + object.metadata.name + ' must not be a LoadBalancer'",
            }]}},
        }]}),
    );
    let svc = |t: &str| {
        let o = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"type": t}});
        let mut a = create(&o);
        a["namespace"] = json!("shop");
        a
    };
    assert_eq!(
        run(&policy, &svc("LoadBalancer")),
        [(
            "no-loadbalancer".into(),
            Status::Fail,
            "Service web must not be a LoadBalancer".into()
        )]
    );
    assert_eq!(
        run(&policy, &svc("ClusterIP")),
        [(
            "no-loadbalancer".into(),
            Status::Pass,
            "Validation rule 'no-loadbalancer' passed.".into()
        )]
    );
    let pods = cpol(
        "host-network",
        json!({"rules": [{
            "name": "no-host-network",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"cel": {"expressions": [{"expression": "!has(object.spec.hostNetwork) || !object.spec.hostNetwork"}]}},
        }]}),
    );
    let p = policy::load(&pods).unwrap();
    assert_eq!(
        p.rules[1].body["cel"]["expressions"][0]["expression"],
        "!has(object.spec.template.spec.hostNetwork) || !object.spec.template.spec.hostNetwork"
    );
}

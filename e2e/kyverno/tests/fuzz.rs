//! "Nothing panics": every public entry point of the engine, called a few thousand times
//! with inputs from a small deterministic generator biased towards the shapes policies,
//! patterns, variables, patches and requests take (and the ways they go wrong). Each call
//! only has to return (`Ok` or `Err`); a panic fails the test with the input that caused it,
//! printed as JSON, and the seed to replay it.
//!
//! `KYVERNO_FUZZ_ITERS=<factor>` multiplies the iterations (default 1), and
//! `KYVERNO_FUZZ_SEED=<n>` changes the seed (default 0), for longer runs by hand:
//! `KYVERNO_FUZZ_ITERS=50 KYVERNO_FUZZ_SEED=7 cargo test -p hubspoke-kyverno --test fuzz`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use hubspoke_kyverno::cel::{self, CelInput};
use hubspoke_kyverno::conditions;
use hubspoke_kyverno::context::{self, Cluster, Offline};
use hubspoke_kyverno::engine::{self, Request, Status};
use hubspoke_kyverno::exceptions::{self, Exception};
use hubspoke_kyverno::policy::{self, Action, Policy, Rule, RuleKind};
use hubspoke_kyverno::{clitest, functions, mutate, patch, pattern, pss, yaml};
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------
// The generator

/// xorshift64* (Vigna): small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that neighbouring seeds start far apart (and never 0)
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `pct`%.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn pick_str(&mut self, xs: &[&str]) -> String {
        self.pick(xs).to_string()
    }
}

const NAMES: &[&str] = &[
    "a",
    "b",
    "app",
    "name",
    "image",
    "web",
    "nginx",
    "default",
    "kube-system",
    "team",
    "x",
    "",
    "metadata",
    "spec",
    "labels",
    "containers",
    "securityContext",
    "privileged",
    "resources",
    "limits",
    "memory",
    "cpu",
    "replicas",
    "ports",
    "containerPort",
    "hostPath",
    "volumes",
    "initContainers",
    "env",
    "value",
    "args",
    "status",
    "template",
    "kind",
    "apiVersion",
    "annotations",
    "a.b/c",
    "k8s.io/x",
    "*",
    "?",
    "é",
    "💥",
    "a b",
    "~",
    "/",
    "0",
    "-1",
];

const SCALARS: &[&str] = &[
    "",
    "a",
    "nginx",
    "nginx:1.27",
    "nginx:latest",
    "ghcr.io/x/y@sha256:abc",
    "web",
    "default",
    "*",
    "?",
    "true",
    "false",
    "null",
    "0",
    "-1",
    "1.5",
    "1e400",
    "-0",
    "NaN",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1Gi",
    "512Mi",
    "100m",
    "1.5Ki",
    "1e3",
    "0.000000001",
    "2h",
    "30m",
    "1h30m",
    "-5s",
    "1.5h",
    "1d",
    "9999999999h",
    "é",
    "💥",
    "\u{0}",
    "a\nb",
    "~",
    "/",
    "~1",
    "~0",
    "-",
    "{",
    "}",
    "[",
    "]",
    "\\",
    "\"",
    "'",
    "`",
    "CREATE",
    "UPDATE",
    "DELETE",
    "Equals",
    "1-5",
    ">1",
    "a|b",
];

const OPERATOR_STRINGS: &[&str] = &[
    ">1",
    "<1",
    ">=1",
    "<=1",
    "<=2Gi",
    ">=512Mi",
    ">0",
    "<0",
    ">-1",
    "1-5",
    "1!-5",
    "5-1",
    "1Gi-2Gi",
    "1h-2h",
    "1m-1h",
    "!a*",
    "!",
    "!*",
    "a|b",
    "a | b | !c",
    "|",
    "||",
    "a|",
    "?*",
    "*",
    "&",
    "a&b",
    ">1 & <5",
    "&&",
    ">",
    "<",
    ">=",
    "<=",
    "-",
    "--",
    "1-",
    "-5",
    "1--5",
    ">999999999999999999999Ei",
    ">1e309",
    "<-1e309",
    ">NaN",
    "<1ns",
    ">1h",
    "!= 3",
    "!=",
    "0x10",
    "1_000",
    ">1.5.5",
    "<=1Gi1",
    ">=  2",
    "!1-5",
    "1-5|7",
    "!a|b",
    "1-5-7",
    ">-9223372036854775808",
    "<=18446744073709551616",
    "1.5-2.5",
    "a-b",
];

/// JMESPath functions (go-jmespath's and Kyverno's) with their arity; `x509_decode` and
/// `nope` are not registered.
const FUNCTIONS: &[(&str, usize)] = &[
    ("abs", 1),
    ("avg", 1),
    ("ceil", 1),
    ("contains", 2),
    ("ends_with", 2),
    ("floor", 1),
    ("join", 2),
    ("keys", 1),
    ("length", 1),
    ("map", 2),
    ("max", 1),
    ("max_by", 2),
    ("merge", 2),
    ("min", 1),
    ("min_by", 2),
    ("not_null", 2),
    ("reverse", 1),
    ("sort", 1),
    ("sort_by", 2),
    ("starts_with", 2),
    ("to_array", 1),
    ("to_number", 1),
    ("to_string", 1),
    ("type", 1),
    ("values", 1),
    ("compare", 2),
    ("equal_fold", 2),
    ("replace", 4),
    ("replace_all", 3),
    ("to_upper", 1),
    ("to_lower", 1),
    ("trim", 2),
    ("trim_prefix", 2),
    ("split", 2),
    ("regex_replace_all", 3),
    ("regex_replace_all_literal", 3),
    ("regex_match", 2),
    ("pattern_match", 2),
    ("label_match", 2),
    ("to_boolean", 1),
    ("add", 2),
    ("sum", 1),
    ("subtract", 2),
    ("multiply", 2),
    ("divide", 2),
    ("modulo", 2),
    ("round", 2),
    ("base64_decode", 1),
    ("base64_encode", 1),
    ("time_since", 3),
    ("time_now", 0),
    ("time_now_utc", 0),
    ("path_canonicalize", 1),
    ("truncate", 2),
    ("semver_compare", 2),
    ("parse_json", 1),
    ("parse_yaml", 1),
    ("lookup", 2),
    ("items", 3),
    ("object_from_lists", 2),
    ("time_to_cron", 1),
    ("time_add", 2),
    ("time_parse", 2),
    ("time_utc", 1),
    ("time_diff", 2),
    ("time_before", 2),
    ("time_after", 2),
    ("time_between", 3),
    ("time_truncate", 2),
    ("image_normalize", 1),
    ("sha256", 1),
    ("sha1", 1),
    ("md5", 1),
    ("x509_decode", 1),
    ("nope", 1),
];

/// Literal arguments for functions: numbers, quantities, durations, times, regexes, layouts,
/// semvers, YAML and JSON texts, at their edges.
const JP_LITERALS: &[&str] = &[
    "`0`",
    "`1`",
    "`-1`",
    "`1.5`",
    "`-0`",
    "`1e308`",
    "`-1e308`",
    "`9223372036854775807`",
    "`-9223372036854775808`",
    "`18446744073709551616`",
    "`0.1`",
    "`2`",
    "`99999`",
    "`-99999`",
    "'0'",
    "'1'",
    "'-1'",
    "'1Gi'",
    "'-1Gi'",
    "'100m'",
    "'1.5'",
    "'999999999999Ei'",
    "'1e308'",
    "'9223372036854775807'",
    "'0.000000001'",
    "'1Ki'",
    "'1k'",
    "'1E'",
    "'1n'",
    "'1h'",
    "'0s'",
    "'-1ns'",
    "'2562047h'",
    "'2562048h'",
    "'9223372036854775807ns'",
    "'-9223372036854775808ns'",
    "'1.5h'",
    "'1h30m'",
    "'1d'",
    "'x'",
    "''",
    "'*'",
    "'?'",
    "'2024-01-01T00:00:00Z'",
    "'0001-01-01T00:00:00Z'",
    "'9999-12-31T23:59:59Z'",
    "'2024-13-45T99:99:99Z'",
    "'2024-01-01T00:00:00+99:99'",
    "'2024-02-29T12:00:00.999999999-07:00'",
    "'1970-01-01T00:00:00Z'",
    "'-0001-01-01T00:00:00Z'",
    "'Mon Jan 2 15:04:05 MST 2006'",
    "'2006-01-02'",
    "'2006-01-02T15:04:05Z07:00'",
    "'15:04'",
    "'01/02/2006'",
    "'Z07'",
    "'^nginx'",
    "'('",
    "'[a-'",
    "'(?P<n>a)'",
    "'\\d+'",
    "'a{1000000}'",
    "'(a*)*$'",
    "'\\p{Greek}'",
    "'1.2.3'",
    "'>1.0.0'",
    "'1.2.3-rc.1+b'",
    "'v1'",
    "'>=1.0.0 <2.0.0'",
    "'x.y.z'",
    "'a: [1, 2]'",
    "'- a\n- b'",
    "'{\"a\": 1}'",
    "'[1,'",
    "'&a [*a]'",
    "'!!binary x'",
    "'aGVsbG8='",
    "'!!'",
    "'a/../..//b/.'",
    "'nginx'",
    "'ghcr.io/a/b:1@sha256:x'",
    "'A:B'",
    "`{\"a\":\"b\"}`",
    "`[\"a\",\"b\"]`",
    "`[1,2,3]`",
    "`[]`",
    "`{}`",
    "`null`",
    "`[\"1Gi\",\"2Mi\"]`",
    "`[\"1h\",\"2m\"]`",
    "`[1,\"a\"]`",
    "`true`",
];

/// Well-formed expressions of the kind policies use.
const JP_REAL: &[&str] = &[
    "request.object.metadata.name",
    "request.object.metadata.labels.app",
    "request.object.spec.containers[].image",
    "request.object.spec.containers[?name=='a'].image | [0]",
    "length(request.object.spec.containers)",
    "request.object.metadata.labels.\"app\" || 'none'",
    "element.image",
    "element.name",
    "elementIndex",
    "to_string(elementIndex)",
    "split(element.image, ':')[1]",
    "regex_match('^nginx', element.image)",
    "images.containers.*.registry",
    "images.containers.*.tag",
    "request.operation",
    "request.userInfo.username",
    "serviceAccountName",
    "v",
    "cfg.data.key",
    "api.items[].metadata.name",
    "request.object.spec.template.spec.containers[].securityContext.privileged",
    "request.object.spec.containers[].resources.limits.memory",
    "request.oldObject.metadata.labels",
    "request.object.metadata.annotations.\"pod-policies.kyverno.io/autogen-controllers\"",
    "max_by(request.object.spec.containers, &name).name",
    "sort_by(request.object.spec.containers, &image)",
    "map(&name, request.object.spec.containers)",
    "merge(request.object.metadata.labels, `{}`)",
    "join(',', request.object.spec.containers[].name)",
    "items(request.object.metadata.labels, 'k', 'v')",
    "lookup(request.object.metadata.labels, 'app')",
    "sum(request.object.spec.containers[].resources.limits.memory)",
    "request.object.spec.containers[*].ports[*].containerPort[]",
    "keys(request.object.metadata.labels || `{}`)",
    "label_match(`{\"app\":\"web\"}`, request.object.metadata.labels)",
    "@",
    "element.securityContext",
];

fn jp_function(r: &mut Rng, depth: u32) -> String {
    let (f, arity) = *r.pick(FUNCTIONS);
    let n = if r.chance(70) { arity } else { r.below(5) };
    let args: Vec<String> = (0..n)
        .map(|_| match r.below(10) {
            0..=4 => r.pick_str(JP_LITERALS),
            5 => format!("&{}", jmespath(r, depth.saturating_sub(1))),
            6 => r.pick_str(JP_REAL),
            _ => jmespath(r, depth.saturating_sub(1)),
        })
        .collect();
    format!("{f}({})", args.join(", "))
}

const KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "Namespace",
    "ConfigMap",
    "CronJob",
    "Service",
];

const OPERATORS: &[&str] = &[
    "Equals",
    "NotEquals",
    "Equal",
    "NotEqual",
    "In",
    "AnyIn",
    "AllIn",
    "NotIn",
    "AnyNotIn",
    "AllNotIn",
    "GreaterThan",
    "GreaterThanOrEquals",
    "LessThan",
    "LessThanOrEquals",
    "DurationGreaterThan",
    "DurationGreaterThanOrEquals",
    "DurationLessThan",
    "DurationLessThanOrEquals",
    "equals",
    "anyin",
    "Bogus",
    "",
];

fn name(r: &mut Rng) -> String {
    r.pick_str(NAMES)
}

/// A map key, often wrapped in an anchor (sometimes a broken one).
fn key(r: &mut Rng) -> String {
    let k = name(r);
    match r.below(16) {
        0 => format!("({k})"),
        1 => format!("=({k})"),
        2 => format!("X({k})"),
        3 => format!("^({k})"),
        4 => format!("<({k})"),
        5 => format!("+({k})"),
        6 => r.pick_str(&[
            "(", ")", "()", "=()", "X(", "(k", "((k))", "=(=(k))", "^()", "+(", "<(<(a))", "X(X)",
        ]),
        7 => format!("{{{{ {} }}}}", jmespath(r, 1)),
        8 => "$patch".into(),
        _ => k,
    }
}

/// A JMESPath expression: fragments joined, with wrong arities and types and, now and
/// then, a bracket or quote too many or too few.
fn jmespath(r: &mut Rng, depth: u32) -> String {
    let atom = |r: &mut Rng| -> String {
        match r.below(14) {
            0 => "request.object".into(),
            1 => "request.object.metadata.name".into(),
            2 => "request.object.spec.containers".into(),
            3 => "request.operation".into(),
            4 => "element".into(),
            5 => "elementIndex".into(),
            6 => "@".into(),
            7 => r.pick_str(&[
                "`1`",
                "`\"x\"`",
                "`[1,2]`",
                "`{\"a\":1}`",
                "`null`",
                "`true`",
                "`-1e400`",
                "`1e400`",
                "``",
                "`[`",
            ]),
            8 => r.pick_str(&["'lit'", "''", "'a\\'b'", "'1Gi'", "'2h'", "'*'"]),
            9 => r.pick_str(&["\"quoted\"", "\"\"", "\"a\\\"\"", "\"\\u00\""]),
            10 => r.pick_str(&[
                "images.containers",
                "serviceAccountName",
                "cfg.data",
                "v",
                "images",
            ]),
            11 => r.pick_str(&["$", "&", "*", "[]", "{}", "0", "-1", "1.5", "a-b"]),
            _ => name(r).replace(['/', ' ', '~', '.'], "_"),
        }
    };
    if r.chance(25) {
        return r.pick_str(JP_REAL);
    }
    let mut s = if depth > 0 && r.chance(40) {
        jp_function(r, depth)
    } else {
        atom(r)
    };
    for _ in 0..r.below(3) {
        let suffix = match r.below(18) {
            0 => format!(".{}", name(r).replace(['/', ' ', '~', '.'], "_")),
            1 => "[0]".into(),
            2 => "[-1]".into(),
            3 => "[999999999999999999999]".into(),
            4 => "[*]".into(),
            5 => "[]".into(),
            6 => format!("[?{} == '{}']", atom(r), name(r)),
            7 => r.pick_str(&[
                "[1:2]",
                "[::-1]",
                "[::0]",
                "[-9223372036854775808:]",
                "[:-99999999999]",
                "[::9223372036854775807]",
                "[0:0:0]",
            ]),
            8 => format!(".{{k: {}}}", atom(r)),
            9 => format!(".[{}, {}]", atom(r), atom(r)),
            10 => format!(" | {}", jmespath(r, depth.saturating_sub(1))),
            11 => format!(" || {}", jmespath(r, depth.saturating_sub(1))),
            12 => format!(" && {}", atom(r)),
            13 => format!(" == {}", atom(r)),
            14 => format!(" < {}", atom(r)),
            15 => format!("[?!{}]", atom(r)),
            16 => ".*".into(),
            _ => format!("[{}]", r.below(5)),
        };
        s.push_str(&suffix);
    }
    if r.chance(5) {
        // unbalance it
        let c = r.pick_str(&[
            "[", "]", "(", ")", "{", "}", "'", "`", "\"", "|", ".", "&", "!", ",",
        ]);
        let at = r.below(s.len() + 1);
        if s.is_char_boundary(at) {
            s.insert_str(at, &c);
        }
    }
    if r.chance(3) && !s.is_empty() {
        let at = r.below(s.len());
        if s.is_char_boundary(at) {
            s.truncate(at);
        }
    }
    s
}

/// A string with `{{ }}` variables (or broken ones) spliced into text.
fn var_string(r: &mut Rng) -> String {
    match r.below(10) {
        0 => format!("{{{{ {} }}}}", jmespath(r, 2)),
        1 => format!("{{{{{}}}}}", jmespath(r, 1)),
        2 => format!(
            "pre {{{{ {} }}}} post {{{{ {} }}}}",
            jmespath(r, 1),
            jmespath(r, 1)
        ),
        3 => r.pick_str(&[
            "{{@}}",
            "{{ @ }}",
            "\\{{ x }}",
            "{{",
            "}}",
            "{{ {{ a }} }}",
            "{{}}",
            "{{ }}",
            "a{{b",
            "{{a}}}}",
            "{{{{a}}}}",
            "$(./../x)",
            "{{ request.object.metadata.name }}",
            "{{ element.name }}",
            "{{ elementIndex }}",
            "{{ images.containers.*.tag }}",
            "{{ request.object.spec.containers[0].image }}",
            "{{ serviceAccountName }}",
            "{{ v }}",
            "{{ cfg.data.key }}",
        ]),
        4 => format!("{}{{{{ {} }}}}", r.pick_str(OPERATOR_STRINGS), jmespath(r, 1)),
        _ => format!("{{{{ {} }}}}", jmespath(r, 1)),
    }
}

/// A scalar: plain, operator or variable strings, numbers, booleans, null.
fn scalar(r: &mut Rng) -> Value {
    match r.below(12) {
        0 | 1 => json!(r.pick_str(SCALARS)),
        2 | 3 => json!(r.pick_str(OPERATOR_STRINGS)),
        4 => json!(var_string(r)),
        5 => json!(r.pick(&[0i64, 1, -1, 3, 80, 1000, i64::MIN, i64::MAX])),
        6 => json!(r.pick(&[0.5f64, -0.0, 1e300, -1e300, 2.5, f64::MIN_POSITIVE])),
        7 => json!(u64::MAX),
        8 => json!(r.chance(50)),
        9 => Value::Null,
        _ => {
            // a composed operator string
            let parts: Vec<String> = (0..1 + r.below(3))
                .map(|_| {
                    format!(
                        "{}{}",
                        r.pick_str(&["", ">", "<", ">=", "<=", "!", ""]),
                        r.pick_str(SCALARS)
                    )
                })
                .collect();
            json!(parts.join(*r.pick(&["|", " | ", "&", "-", "!-", ""])))
        }
    }
}

/// Any JSON value, with anchored keys.
fn value(r: &mut Rng, depth: u32) -> Value {
    if depth == 0 || r.chance(45) {
        return scalar(r);
    }
    if r.chance(50) {
        let mut m = Map::new();
        for _ in 0..r.below(5) {
            m.insert(key(r), value(r, depth - 1));
        }
        Value::Object(m)
    } else {
        Value::Array((0..r.below(4)).map(|_| value(r, depth - 1)).collect())
    }
}

/// A validate pattern: objects with anchors, arrays of patterns, operator leaves.
fn pattern_value(r: &mut Rng, depth: u32) -> Value {
    if depth == 0 || r.chance(30) {
        return scalar(r);
    }
    match r.below(10) {
        0..=5 => {
            let mut m = Map::new();
            for _ in 0..1 + r.below(4) {
                m.insert(key(r), pattern_value(r, depth - 1));
            }
            Value::Object(m)
        }
        6..=8 => Value::Array((0..r.below(3)).map(|_| pattern_value(r, depth - 1)).collect()),
        _ => {
            // a pod-shaped pattern
            json!({"spec": {key(r): [{"(name)": r.pick_str(SCALARS), key(r): pattern_value(r, depth - 1)}]}})
        }
    }
}

fn container(r: &mut Rng) -> Value {
    let mut c = json!({
        "name": r.pick_str(&["a", "b", "web", "sidecar", ""]),
        "image": r.pick_str(&["nginx", "nginx:1.27", "nginx:latest", "ghcr.io/x/y:1@sha256:abcd", "localhost:5000/a", "UPPER", "", ":", "@", "a/b/c/d:e"]),
    });
    if r.chance(50) {
        c["securityContext"] = json!({
            "privileged": r.pick(&[json!(true), json!(false), json!("true"), Value::Null]),
            "runAsNonRoot": r.pick(&[json!(true), json!(false), json!(1)]),
            "runAsUser": r.pick(&[json!(0), json!(1000), json!(-1), json!("0")]),
            "allowPrivilegeEscalation": r.pick(&[json!(true), json!(false), json!([])]),
            "capabilities": r.pick(&[json!({"add": ["NET_ADMIN", "ALL"], "drop": ["ALL"]}), json!({"add": "x"}), json!(null), json!({"drop": [1]})]),
            "seccompProfile": r.pick(&[json!({"type": "RuntimeDefault"}), json!({"type": "Unconfined"}), json!({"type": 3}), json!({"type": "Localhost", "localhostProfile": "p"})]),
            "procMount": r.pick(&[json!("Default"), json!("Unmasked"), json!(5)]),
            "seLinuxOptions": r.pick(&[json!({"type": "spc_t"}), json!({"user": "x", "role": "y"}), json!("x")]),
            "appArmorProfile": r.pick(&[json!({"type": "Unconfined"}), json!({"type": "RuntimeDefault"})]),
            "windowsOptions": r.pick(&[json!({"hostProcess": true}), json!({})]),
        });
        if r.chance(30) {
            c["securityContext"] = value(r, 2);
        }
    }
    if r.chance(40) {
        c["resources"] = json!({"limits": {"memory": scalar(r), "cpu": scalar(r)}, "requests": {"memory": r.pick_str(&["1Gi", "512Mi", "x"])}});
    }
    if r.chance(30) {
        c["ports"] =
            json!([{"containerPort": scalar(r), "hostPort": r.pick(&[json!(0), json!(80), json!("80")])}]);
    }
    if r.chance(20) {
        c["env"] = json!([{"name": "A", "value": scalar(r)}]);
    }
    if r.chance(15) {
        c["args"] = json!(["a", scalar(r)]);
    }
    c
}

fn pod_spec(r: &mut Rng) -> Value {
    let mut spec = json!({"containers": (0..r.below(4)).map(|_| container(r)).collect::<Vec<_>>()});
    if r.chance(30) {
        spec["initContainers"] = json!([container(r)]);
    }
    if r.chance(15) {
        spec["ephemeralContainers"] = json!([container(r)]);
    }
    for (k, vals) in [
        ("hostNetwork", [json!(true), json!(false), json!("yes")]),
        ("hostPID", [json!(true), json!(false), json!(null)]),
        ("hostIPC", [json!(true), json!(false), json!(1)]),
    ] {
        if r.chance(20) {
            spec[k] = r.pick(&vals).clone();
        }
    }
    if r.chance(30) {
        spec["securityContext"] = json!({"runAsNonRoot": r.pick(&[json!(true), json!(false)]),
            "seccompProfile": {"type": r.pick_str(&["RuntimeDefault", "Unconfined", "Localhost", ""])},
            "sysctls": [{"name": r.pick_str(&["kernel.shm_rmid_forced", "net.ipv4.ip_forward", ""]), "value": "1"}],
            "supplementalGroups": r.pick(&[json!([0, 1]), json!("x")])});
    }
    if r.chance(25) {
        spec["volumes"] = json!([{"name": "v", r.pick_str(&["hostPath", "emptyDir", "configMap", "nfs", "x"]): {"path": "/"}}]);
    }
    if r.chance(10) {
        spec["os"] = json!({"name": r.pick_str(&["linux", "windows", ""])});
    }
    spec
}

/// A resource: a Pod, Deployment, CronJob, Namespace, ConfigMap or garbage, now and then
/// with a random part replaced by a random value.
fn resource(r: &mut Rng) -> Value {
    let meta = |r: &mut Rng| {
        let mut m = json!({"name": r.pick_str(&["web", "x", "", "a.b"]), "namespace": r.pick_str(&["default", "kube-system", "", "prod"])});
        if r.chance(50) {
            m["labels"] = json!({"app": r.pick_str(SCALARS), r.pick_str(NAMES): "x"});
        }
        if r.chance(20) {
            m["annotations"] = json!({"pod-policies.kyverno.io/autogen-controllers": r.pick_str(&["none", "Deployment", "all", ""])});
        }
        if r.chance(10) {
            m = value(r, 2);
        }
        m
    };
    let mut obj = match r.below(10) {
        0..=3 => json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(r), "spec": pod_spec(r)}),
        4 | 5 => {
            json!({"apiVersion": "apps/v1", "kind": r.pick_str(&["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]), "metadata": meta(r),
            "spec": {"replicas": scalar(r), "template": {"metadata": meta(r), "spec": pod_spec(r)}}})
        }
        6 => json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(r),
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec(r)}}}}}),
        7 => json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(r)}),
        8 => {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(r), "data": {"key": scalar(r)}})
        }
        _ => value(r, 4),
    };
    if r.chance(20) {
        scramble(r, &mut obj);
    }
    obj
}

/// Replaces one random node of `v` by a random value.
fn scramble(r: &mut Rng, v: &mut Value) {
    let leaf = r.chance(30);
    match v {
        Value::Object(m) if !m.is_empty() && !leaf => {
            let k = m.keys().nth(r.below(m.len())).cloned().unwrap_or_default();
            if let Some(x) = m.get_mut(&k) {
                scramble(r, x);
            }
        }
        Value::Array(a) if !a.is_empty() && !leaf => {
            let i = r.below(a.len());
            scramble(r, &mut a[i]);
        }
        _ => *v = value(r, 2),
    }
}

/// An AdmissionRequest for `object` (or garbage).
fn admission(r: &mut Rng, object: &Value) -> Value {
    if r.chance(3) {
        return value(r, 3);
    }
    let kind = object.get("kind").cloned().unwrap_or(json!(r.pick_str(KINDS)));
    let op = r.pick_str(&[
        "CREATE", "CREATE", "UPDATE", "UPDATE", "DELETE", "CONNECT", "", "create",
    ]);
    let mut a = json!({
        "uid": "u",
        "operation": op,
        "kind": {"group": r.pick_str(&["", "apps", "batch"]), "version": "v1", "kind": kind},
        "namespace": object.pointer("/metadata/namespace").cloned().unwrap_or(json!("default")),
        "name": object.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
        "object": if op == "DELETE" && r.chance(70) { Value::Null } else { object.clone() },
        "userInfo": {"username": r.pick_str(&["alice", "system:serviceaccount:ns:sa", "system:serviceaccount:", "system:serviceaccount:a", ""]),
            "groups": r.pick(&[json!(["system:authenticated"]), json!("x"), json!([1, null])])},
    });
    if op == "UPDATE" || op == "DELETE" {
        let mut old = object.clone();
        if r.chance(50) {
            scramble(r, &mut old);
        }
        a["oldObject"] = old;
    }
    if r.chance(10) {
        a["subResource"] = json!(r.pick_str(&["status", "exec", "ephemeralContainers", ""]));
    }
    if r.chance(10) {
        scramble(r, &mut a);
    }
    a
}

fn condition(r: &mut Rng) -> Value {
    let mut c = Map::new();
    if r.chance(90) {
        c.insert(
            "key".into(),
            if r.chance(60) {
                json!(var_string(r))
            } else {
                value(r, 2)
            },
        );
    }
    if r.chance(95) {
        c.insert(
            "operator".into(),
            if r.chance(95) {
                json!(r.pick_str(OPERATORS))
            } else {
                value(r, 1)
            },
        );
    }
    if r.chance(90) {
        c.insert(
            "value".into(),
            match r.below(4) {
                0 => json!(var_string(r)),
                1 => json!((0..r.below(4)).map(|_| scalar(r)).collect::<Vec<_>>()),
                2 => json!(r.pick_str(OPERATOR_STRINGS)),
                _ => value(r, 2),
            },
        );
    }
    if r.chance(40) {
        c.insert("message".into(), json!(var_string(r)));
    }
    Value::Object(c)
}

fn conditions(r: &mut Rng) -> Value {
    let list = |r: &mut Rng| json!((0..r.below(4)).map(|_| condition(r)).collect::<Vec<_>>());
    match r.below(8) {
        0 => list(r),
        1 => json!({"any": list(r)}),
        2 => json!({"all": list(r)}),
        3 => value(r, 2),
        _ => json!({"any": list(r), "all": list(r)}),
    }
}

fn match_block(r: &mut Rng) -> Value {
    let filter = |r: &mut Rng| {
        let mut res = json!({"kinds": (0..1 + r.below(2)).map(|_| {
            r.pick_str(&["Pod", "Pod", "Deployment", "Namespace", "ConfigMap", "CronJob", "*", "v1/Pod", "apps/v1/Deployment", "Pod/exec", "Pod/*", "*/*", "apps/*/Deployment", "", "/", "a/b/c/d/e"])
        }).collect::<Vec<_>>()});
        if r.chance(20) {
            res["names"] = json!([r.pick_str(&["web", "w*", "?", ""])]);
        }
        if r.chance(20) {
            res["namespaces"] = json!([r.pick_str(&["default", "kube-*", ""])]);
        }
        if r.chance(15) {
            let op = r.pick_str(&["In", "NotIn", "Exists", "DoesNotExist", "Bogus"]);
            res["selector"] = r
                .pick(&[
                    json!({"matchLabels": {"app": "web"}}),
                    json!({"matchExpressions": [{"key": "app", "operator": op, "values": ["web"]}]}),
                    json!("x"),
                ])
                .clone();
        }
        if r.chance(15) {
            res["namespaceSelector"] = json!({"matchLabels": {"env": "prod"}});
        }
        if r.chance(15) {
            res["operations"] = json!([r.pick_str(&["CREATE", "UPDATE", "DELETE", "CONNECT", "x"])]);
        }
        if r.chance(10) {
            res["annotations"] = json!({"a": "*"});
        }
        let mut f = json!({"resources": res});
        if r.chance(10) {
            f["subjects"] = json!([{"kind": "User", "name": "alice"}]);
        }
        if r.chance(10) {
            f["clusterRoles"] = json!(["admin"]);
        }
        if r.chance(5) {
            scramble(r, &mut f);
        }
        f
    };
    match r.below(6) {
        0 => filter(r),
        1 => json!({"all": (0..1 + r.below(2)).map(|_| filter(r)).collect::<Vec<_>>()}),
        _ => json!({"any": (0..1 + r.below(2)).map(|_| filter(r)).collect::<Vec<_>>()}),
    }
}

fn context_entries(r: &mut Rng) -> Value {
    let entry = |r: &mut Rng| {
        let n = r.pick_str(&["v", "cfg", "api", "img", "", "images", "request.x", "v.w"]);
        let mut e = json!({"name": n});
        match r.below(6) {
            0 | 1 => {
                let mut v = Map::new();
                if r.chance(70) {
                    v.insert("value".into(), value(r, 2));
                }
                if r.chance(50) {
                    v.insert("jmesPath".into(), json!(jmespath(r, 2)));
                }
                if r.chance(30) {
                    v.insert("default".into(), value(r, 1));
                }
                e["variable"] = Value::Object(v);
            }
            2 => {
                e["configMap"] = json!({"name": r.pick_str(&["c", "", "{{ request.object.metadata.name }}"]), "namespace": r.pick_str(&["default", ""])})
            }
            3 => {
                e["apiCall"] = json!({"urlPath": r.pick_str(&["/api/v1/namespaces", "/api/v1/namespaces/{{ request.namespace }}", "", "x"]),
                "jmesPath": jmespath(r, 1), "method": r.pick_str(&["GET", "POST", ""]), "data": [{"key": "a", "value": scalar(r)}]})
            }
            4 => e["imageRegistry"] = json!({"reference": var_string(r)}),
            _ => e = value(r, 2),
        }
        e
    };
    json!((0..r.below(3)).map(|_| entry(r)).collect::<Vec<_>>())
}

fn foreach_validate(r: &mut Rng, depth: u32) -> Value {
    let expr = jmespath(r, 1);
    let mut fe = json!({"list": r.pick(&[json!("request.object.spec.containers"), json!("request.object.metadata.labels"), json!(expr), json!(""), json!(1)]).clone()});
    if r.chance(30) {
        fe["elementScope"] = r.pick(&[json!(true), json!(false), json!("x")]).clone();
    }
    if r.chance(30) {
        fe["preconditions"] = conditions(r);
    }
    if r.chance(20) {
        fe["context"] = context_entries(r);
    }
    match r.below(5) {
        0 => fe["pattern"] = pattern_value(r, 3),
        1 => fe["anyPattern"] = json!([pattern_value(r, 3), pattern_value(r, 2)]),
        2 => fe["deny"] = json!({"conditions": conditions(r)}),
        3 if depth > 0 => fe["foreach"] = json!([foreach_validate(r, depth - 1)]),
        _ => {}
    }
    fe
}

fn foreach_mutate(r: &mut Rng, depth: u32) -> Value {
    let expr = jmespath(r, 1);
    let mut fe = json!({"list": r.pick(&[json!("request.object.spec.containers"), json!("request.object.spec.template.spec.containers"), json!(expr), json!("")]).clone()});
    if r.chance(30) {
        fe["order"] = json!(r.pick_str(&["Ascending", "Descending", "x"]));
    }
    if r.chance(30) {
        fe["preconditions"] = conditions(r);
    }
    if r.chance(20) {
        fe["context"] = context_entries(r);
    }
    match r.below(4) {
        0 => fe["patchStrategicMerge"] = smp_patch(r),
        1 => fe["patchesJson6902"] = json!(json_patch_text(r)),
        2 if depth > 0 => fe["foreach"] = json!([foreach_mutate(r, depth - 1)]),
        _ => {}
    }
    fe
}

/// A rule: validate (pattern, anyPattern, deny, foreach, podSecurity, cel) or mutate
/// (patchStrategicMerge, patchesJson6902, foreach), with match, exclude, context and
/// preconditions.
fn rule_json(r: &mut Rng, index: usize) -> Value {
    let mut rule = json!({"name": format!("rule-{index}"), "match": match_block(r)});
    if r.chance(10) {
        rule["exclude"] = match_block(r);
    }
    if r.chance(25) {
        rule["preconditions"] = conditions(r);
    }
    if r.chance(20) {
        rule["context"] = context_entries(r);
    }
    if r.chance(60) {
        let mut v = json!({"message": var_string(r)});
        match r.below(8) {
            0 | 1 => v["pattern"] = pattern_value(r, 4),
            2 => v["anyPattern"] = json!((0..r.below(3)).map(|_| pattern_value(r, 3)).collect::<Vec<_>>()),
            3 => v["deny"] = json!({"conditions": conditions(r)}),
            4 => {
                v["foreach"] = json!(
                    (0..1 + r.below(2))
                        .map(|_| foreach_validate(r, 2))
                        .collect::<Vec<_>>()
                )
            }
            5 => v["podSecurity"] = pod_security(r),
            6 => {
                v["cel"] = cel_block(r);
                if r.chance(30) {
                    rule["celPreconditions"] = json!([{"name": "p", "expression": cel_expr(r, 2)}]);
                }
            }
            _ => {}
        }
        if r.chance(20) {
            v["failureAction"] = json!(r.pick_str(&["Enforce", "Audit", "enforce", "x"]));
        }
        if r.chance(10) {
            v["allowExistingViolations"] = r.pick(&[json!(true), json!(false), json!("no")]).clone();
        }
        if r.chance(10) {
            v["failureActionOverrides"] = json!([{"action": r.pick_str(&["Enforce", "Audit", "x"]), "namespaces": ["def*"], "namespaceSelector": {"matchLabels": {"env": "prod"}}}]);
        }
        if r.chance(5) {
            v = value(r, 3);
        }
        rule["validate"] = v;
    } else {
        let mut m = json!({});
        match r.below(4) {
            0 => m["patchStrategicMerge"] = smp_patch(r),
            1 => m["patchesJson6902"] = json!(json_patch_text(r)),
            2 => {
                m["foreach"] = json!(
                    (0..1 + r.below(2))
                        .map(|_| foreach_mutate(r, 2))
                        .collect::<Vec<_>>()
                )
            }
            _ => m = value(r, 3),
        }
        rule["mutate"] = m;
    }
    if r.chance(10) {
        rule["reportProperties"] = json!({"a": scalar(r)});
    }
    if r.chance(5) {
        scramble(r, &mut rule);
    }
    rule
}

/// A ClusterPolicy or Policy named `p`.
fn policy_json(r: &mut Rng) -> Value {
    let namespaced = r.chance(20);
    let mut meta = json!({"name": if r.chance(95) { "p".to_string() } else { "x".repeat(64) }});
    if namespaced {
        meta["namespace"] = json!("default");
    }
    if r.chance(15) {
        meta["annotations"] = json!({"pod-policies.kyverno.io/autogen-controllers": r.pick_str(&["none", "Deployment,CronJob", "all", "", "Bogus", "Deployment"])});
    }
    let mut spec = json!({"rules": (0..1 + r.below(3)).map(|i| rule_json(r, i)).collect::<Vec<_>>()});
    for (k, vals) in [
        (
            "validationFailureAction",
            [json!("Enforce"), json!("Audit"), json!("audit"), json!(1)],
        ),
        (
            "background",
            [json!(true), json!(false), json!(false), json!("x")],
        ),
        ("admission", [json!(true), json!(false), json!(true), json!(null)]),
        (
            "failurePolicy",
            [json!("Fail"), json!("Ignore"), json!("x"), json!(2)],
        ),
        (
            "applyRules",
            [json!("One"), json!("All"), json!("x"), json!(null)],
        ),
        (
            "webhookTimeoutSeconds",
            [json!(10), json!(0), json!(31), json!(-1)],
        ),
        ("emitWarning", [json!(true), json!(false), json!("x"), json!(0)]),
    ] {
        if r.chance(25) {
            spec[k] = r.pick(&vals).clone();
        }
    }
    if r.chance(10) {
        spec["validationFailureActionOverrides"] = json!([{"action": "Enforce", "namespaces": ["prod"]}]);
    }
    if r.chance(5) {
        spec = value(r, 3);
    }
    json!({"apiVersion": "kyverno.io/v1", "kind": if namespaced { "Policy" } else { "ClusterPolicy" }, "metadata": meta, "spec": spec})
}

/// A Policy built directly from generated rules, bypassing the webhook's checks, so that
/// the engine sees rule bodies `policy::load` would reject.
fn raw_policy(r: &mut Rng, kind: &str) -> (Value, Policy) {
    let mut rules_json: Vec<Value> = (0..1 + r.below(3)).map(|i| rule_json(r, i)).collect();
    for rule in &mut rules_json {
        aim(r, rule, kind);
    }
    let mut rules = Vec::new();
    for rj in &rules_json {
        let (kind, body) = match (rj.get("validate"), rj.get("mutate")) {
            (Some(v), _) => (RuleKind::Validate, v.clone()),
            (None, Some(m)) => (RuleKind::Mutate, m.clone()),
            _ => (RuleKind::Validate, value(r, 2)),
        };
        let get = |k: &str| rj.get(k).cloned().unwrap_or(Value::Null);
        rules.push(Rule {
            name: rj.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
            kind,
            match_: get("match"),
            exclude: get("exclude"),
            preconditions: get("preconditions"),
            context: get("context"),
            action: if r.chance(50) {
                Action::Enforce
            } else {
                Action::Audit
            },
            overrides: body.get("failureActionOverrides").cloned().unwrap_or(Value::Null),
            allow_existing: r.chance(70),
            properties: get("reportProperties"),
            cel_preconditions: get("celPreconditions"),
            body,
        });
    }
    let policy = Policy {
        name: "p".into(),
        namespace: r.chance(20).then(|| "default".to_string()),
        rules,
        fail_closed: r.chance(50),
        annotations: json!({}),
        autogen: Vec::new(),
        counts: (0, 0, 0, 0),
        background: r.chance(50),
        admission: r.chance(50),
        apply_one: r.chance(20),
        emit_warning: r.chance(20),
    };
    (json!({"rules": rules_json}), policy)
}

/// A strategic merge patch: anchors, `$patch`, `$retainKeys`, `$setElementOrder/..`,
/// `$deleteFromPrimitiveList/..`, lists of containers by name, variables.
fn smp_patch(r: &mut Rng) -> Value {
    let directive_map = |r: &mut Rng, m: &mut Map<String, Value>| match r.below(8) {
        0 => {
            m.insert(
                "$patch".into(),
                json!(r.pick_str(&["replace", "delete", "merge", "bogus", ""])),
            );
        }
        1 => {
            m.insert(
                "$retainKeys".into(),
                r.pick(&[json!(["name", "image"]), json!("x"), json!([1]), json!([])])
                    .clone(),
            );
        }
        2 => {
            m.insert(
                format!(
                    "$setElementOrder/{}",
                    r.pick_str(&["containers", "args", "x", ""])
                ),
                r.pick(&[
                    json!([{"name": "b"}, {"name": "a"}]),
                    json!(["a"]),
                    json!("x"),
                    json!([{"x": 1}]),
                ])
                .clone(),
            );
        }
        3 => {
            m.insert(
                format!(
                    "$deleteFromPrimitiveList/{}",
                    r.pick_str(&["args", "finalizers", "x"])
                ),
                r.pick(&[json!(["a"]), json!("a"), json!([{}])]).clone(),
            );
        }
        _ => {}
    };
    let mut containers = Vec::new();
    for _ in 0..r.below(3) {
        let mut c = Map::new();
        c.insert(
            r.pick_str(&["name", "(name)", "+(name)", "<(name)", "=(name)", "X(name)"]),
            json!(r.pick_str(&["a", "b", "web", "*", "sidecar", "{{ element.name }}"])),
        );
        for _ in 0..r.below(3) {
            c.insert(key(r), value(r, 2));
        }
        directive_map(r, &mut c);
        containers.push(Value::Object(c));
    }
    let mut spec = Map::new();
    spec.insert(
        r.pick_str(&[
            "containers",
            "initContainers",
            "+(containers)",
            "(containers)",
            "volumes",
            "x",
        ]),
        if r.chance(90) {
            json!(containers)
        } else {
            value(r, 2)
        },
    );
    directive_map(r, &mut spec);
    let mut meta = Map::new();
    meta.insert(
        r.pick_str(&["labels", "+(labels)", "annotations", "(labels)", "<(labels)"]),
        json!({key(r): scalar(r)}),
    );
    directive_map(r, &mut meta);
    let mut top = json!({"metadata": meta, "spec": spec});
    if r.chance(30) {
        top["spec"]["template"] = json!({"spec": {"containers": containers}});
    }
    if r.chance(10) {
        top = value(r, 4);
    }
    if r.chance(10) {
        scramble(r, &mut top);
    }
    top
}

fn json_pointer(r: &mut Rng) -> String {
    match r.below(4) {
        0 => r.pick_str(&[
            "",
            "/",
            "/metadata/labels/a~1b",
            "/metadata/labels/a~0b",
            "/spec/containers/-",
            "/spec/containers/-1",
            "/spec/containers/-99",
            "/spec/containers/99999999999999999999",
            "/spec/containers/0/name",
            "~",
            "/~2",
            "/a/~",
            "x",
            "/spec/containers/01",
            "/spec/containers/+1",
            "/spec/containers/ 1",
            "/spec/containers/1e3",
            "//",
            "/metadata/labels/",
            "/-",
            "/-/-/-",
            "/spec/containers/0/ports/-1/x",
            "/spec/containers/-9223372036854775808",
        ]),
        _ => {
            let mut p = String::new();
            for _ in 0..r.below(5) {
                p.push('/');
                p.push_str(&r.pick_str(&[
                    "metadata",
                    "labels",
                    "spec",
                    "containers",
                    "0",
                    "1",
                    "-",
                    "-1",
                    "-2",
                    "a~1b",
                    "~0",
                    "~",
                    "name",
                    "9999999999",
                    "",
                    "x",
                ]));
            }
            p
        }
    }
}

/// A JSON patch as the rule's string: JSON or YAML, with bad operations and odd paths.
fn json_patch_text(r: &mut Rng) -> String {
    let ops: Vec<Value> = (0..r.below(3) + usize::from(r.chance(95)))
        .map(|_| {
            let mut op = Map::new();
            let kind = r.pick_str(&[
                "add", "add", "add", "add", "add", "remove", "remove", "remove", "replace", "replace",
                "replace", "move", "move", "copy", "copy", "test", "test", "bogus", "", "Add",
            ]);
            if r.chance(97) {
                op.insert("op".into(), json!(kind));
            }
            if r.chance(97) {
                op.insert("path".into(), json!(json_pointer(r)));
            }
            if r.chance(if kind == "move" || kind == "copy" { 90 } else { 10 }) {
                op.insert("from".into(), json!(json_pointer(r)));
            }
            if r.chance(85) {
                op.insert("value".into(), if r.chance(60) { scalar(r) } else { value(r, 2) });
            }
            if r.chance(5) {
                return value(r, 2);
            }
            Value::Object(op)
        })
        .collect();
    match r.below(10) {
        0..=3 => serde_json::to_string(&ops).expect("JSON"),
        4..=7 => {
            // YAML block sequence with flow (JSON) values
            let mut s = String::new();
            for op in &ops {
                match op.as_object() {
                    Some(m) => {
                        let mut first = true;
                        for (k, v) in m {
                            s.push_str(if first { "- " } else { "  " });
                            first = false;
                            s.push_str(&format!(
                                "{}: {v}\n",
                                if r.chance(90) {
                                    k.clone()
                                } else {
                                    Value::String(k.clone()).to_string()
                                }
                            ));
                        }
                        if first {
                            s.push_str("- {}\n");
                        }
                    }
                    None => s.push_str(&format!("- {op}\n")),
                }
            }
            s
        }
        8 => r.pick_str(&[
            "",
            "[",
            "]",
            "{}",
            "null",
            "- ",
            "- op: add\n path: /x",
            "- op: add\n  path: /a\n  value: &a [*a]",
            "- !!binary x",
            "- <<: {op: add}\n  path: /x",
            "\t- op: add",
            "[{\"op\": \"add\", \"path\": \"/x\", \"value\": 1e999}]",
            "- op: add\n  path: /x\n  value: 1e999",
            "--- \n- op: test\n  path: ''\n  value: null\n--- x",
            "- {op: add, path: /metadata/labels/x, value: {{ request.object.metadata.name }}}",
            "[[[[[[",
            "{{{{{{",
            "- - - - -",
            "\"[\"",
            "%YAML 1.1\n---\n- op: add",
            "? x\n: y",
            "- op: add\n  path: /x\n  value: *unknown",
        ]),
        _ => format!("{{{{ {} }}}}", jmespath(r, 1)),
    }
}

fn control_names() -> Vec<String> {
    let mut names: Vec<String> = pss::check_ids()
        .iter()
        .map(|id| pss::control_name(id).to_string())
        .collect();
    names.sort();
    names.dedup();
    names.push("Bogus".into());
    names.push(String::new());
    names
}

/// A `validate.podSecurity` block: random levels, versions and excludes.
fn pod_security(r: &mut Rng) -> Value {
    let controls = control_names();
    let mut ps = Map::new();
    if r.chance(90) {
        ps.insert(
            "level".into(),
            r.pick(&[
                json!("baseline"),
                json!("restricted"),
                json!("privileged"),
                json!("Restricted"),
                json!("bogus"),
                json!(""),
                json!(1),
            ])
            .clone(),
        );
    }
    if r.chance(80) {
        ps.insert(
            "version".into(),
            r.pick(&[
                json!("latest"),
                json!("v1.0"),
                json!("v1.19"),
                json!("v1.25"),
                json!("v1.29"),
                json!("v1.35"),
                json!("v1.999"),
                json!("v2.0"),
                json!("v1.x"),
                json!("1.29"),
                json!("v1"),
                json!("v1.-1"),
                json!("v1.99999999999999999999"),
                json!(""),
                json!(null),
            ])
            .clone(),
        );
    }
    if r.chance(60) {
        let excludes: Vec<Value> = (0..r.below(4))
            .map(|_| {
                let mut e = Map::new();
                if r.chance(90) {
                    e.insert("controlName".into(), json!(r.pick(&controls)));
                }
                if r.chance(60) {
                    e.insert(
                        "images".into(),
                        json!([r.pick_str(&["nginx*", "*", "", "ghcr.io/*", "?"])]),
                    );
                }
                if r.chance(50) {
                    e.insert(
                        "restrictedField".into(),
                        json!(r.pick_str(&[
                            "spec.containers[*].securityContext.privileged",
                            "spec.initContainers[*].securityContext.capabilities.add",
                            "spec.hostNetwork",
                            "spec.securityContext.sysctls[*].name",
                            "spec.volumes[*].hostPath",
                            "spec.containers[*].ports[*].hostPort",
                            "spec.containers[*].securityContext.runAsUser",
                            "",
                            "[",
                            "spec.*",
                            "spec.ephemeralContainers[*].securityContext.seccompProfile.type",
                            "metadata.annotations",
                        ])),
                    );
                }
                if r.chance(50) {
                    e.insert(
                        "values".into(),
                        json!((0..r.below(3)).map(|_| scalar(r)).collect::<Vec<_>>()),
                    );
                }
                if r.chance(5) {
                    return value(r, 2);
                }
                Value::Object(e)
            })
            .collect();
        ps.insert("exclude".into(), json!(excludes));
    }
    let mut ps = Value::Object(ps);
    if r.chance(5) {
        scramble(r, &mut ps);
    }
    ps
}

/// A CEL expression: fields of the admission data, literals, macros, Kubernetes library
/// functions, overflows, wrong types and broken syntax.
fn cel_expr(r: &mut Rng, depth: u32) -> String {
    let atoms = [
        "object",
        "object.metadata.name",
        "object.spec.containers",
        "oldObject",
        "request.operation",
        "request.userInfo.username",
        "namespaceObject",
        "namespaceObject.metadata.labels",
        "variables.x",
        "variables.missing",
        "params",
        "authorizer",
        "1",
        "1u",
        "-1",
        "1.5",
        "\"s\"",
        "b\"x\"",
        "true",
        "null",
        "[1, 2]",
        "{\"a\": 1}",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615u",
        "1e400",
        "''",
        "'''x'''",
        "r\"\\d\"",
        "x",
        "_",
        "object.nope",
        "object.metadata.?labels",
        "optional.none()",
        "duration(\"1h\")",
        "timestamp(\"2024-01-01T00:00:00Z\")",
        "quantity(\"1Gi\")",
    ];
    if depth == 0 || r.chance(30) {
        return r.pick_str(&atoms);
    }
    let a = cel_expr(r, depth - 1);
    let b = cel_expr(r, depth - 1);
    let mut s = match r.below(22) {
        0 => format!("{a} + {b}"),
        1 => format!("{a} / {b}"),
        2 => format!("{a} % {b}"),
        3 => format!("{a} == {b}"),
        4 => format!("{a} < {b}"),
        5 => format!("{a} && {b}"),
        6 => format!("{a} ? {b} : {a}"),
        7 => format!("{a} in {b}"),
        8 => format!("has({a})"),
        9 => format!("size({a})"),
        10 => format!("{a}.all(c, {b})"),
        11 => format!("{a}.exists(c, {b})"),
        12 => format!("{a}.map(c, {b})"),
        13 => format!("{a}.filter(c, {b})"),
        14 => format!("{a}[{b}]"),
        15 => format!(
            "{}({a})",
            r.pick_str(&[
                "int",
                "uint",
                "double",
                "string",
                "bytes",
                "dyn",
                "type",
                "duration",
                "timestamp",
                "quantity",
                "isQuantity",
                "url",
                "isURL",
                "ip",
                "isIP",
                "cidr",
                "isCIDR",
                "semver",
                "isSemver",
                "sets.contains",
                "lists.x",
                "optional.of"
            ])
        ),
        16 => format!(
            "{a}.{}({b})",
            r.pick_str(&[
                "matches",
                "startsWith",
                "endsWith",
                "contains",
                "split",
                "replace",
                "substring",
                "charAt",
                "indexOf",
                "lastIndexOf",
                "join",
                "find",
                "findAll",
                "isGreaterThan",
                "compareTo",
                "add",
                "sub",
                "orValue",
                "sum",
                "min",
                "max",
                "isSorted",
                "getHost",
                "lowerAscii",
                "trim",
                "format",
                "quote",
                "reverse"
            ])
        ),
        17 => format!("-{a}"),
        18 => format!("!{a}"),
        19 => r.pick_str(&[
            "9223372036854775807 + 1",
            "-9223372036854775808 / -1",
            "-9223372036854775808 % -1",
            "1 / 0",
            "1 % 0",
            "18446744073709551615u + 1u",
            "0u - 1u",
            "\"abc\"[5]",
            "[1][5]",
            "\"x\".matches(\"[\")",
            "\"x\".substring(5)",
            "\"x\".substring(-1)",
            "\"x\".substring(1, 0)",
            "\"é\".charAt(1)",
            "\"é\".substring(1)",
            "\"a\".indexOf(\"\", 9)",
            "duration(\"9999999999h\")",
            "timestamp(\"0000-00-00\")",
            "quantity(\"1e999\")",
            "quantity(\"9223372036854775807Ei\").asInteger()",
            "int(1e300)",
            "uint(-1)",
            "int(\"99999999999999999999\")",
            "double(\"x\")",
            "[1,2].sum()",
            "[\"a\", 1].sum()",
            "[].min()",
            "\"1.2.3\".split(\".\", -2)",
            "'a'.replace('', 'b', -5)",
            "ip(\"::1\").family()",
            "cidr(\"10.0.0.0/33\")",
            "url(\"::\").getHost()",
            "\"%s %d\".format([1])",
            "\"%.999999f\".format([1.0])",
        ]),
        _ => {
            let mut s = format!("({a})");
            if r.chance(50) {
                s.push_str(&r.pick_str(&["(", ")", "[", "]", "{", "\"", ".", ",", "?", ":", "&&", "||"]));
            }
            s
        }
    };
    if r.chance(5) && !s.is_empty() {
        let at = r.below(s.len());
        if s.is_char_boundary(at) {
            s.truncate(at);
        }
    }
    s
}

/// A `validate.cel` block.
fn cel_block(r: &mut Rng) -> Value {
    let mut c = Map::new();
    if r.chance(50) {
        let vars: Vec<Value> = (0..r.below(3))
            .map(|i| json!({"name": if i == 0 { "x".to_string() } else { name(r) }, "expression": cel_expr(r, 2)}))
            .collect();
        c.insert("variables".into(), json!(vars));
    }
    let exprs: Vec<Value> = (0..1 + r.below(3))
        .map(|_| {
            let mut e = json!({"expression": cel_expr(r, 3)});
            if r.chance(30) {
                e["message"] = json!(r.pick_str(SCALARS));
            }
            if r.chance(30) {
                e["messageExpression"] = json!(cel_expr(r, 2));
            }
            e
        })
        .collect();
    c.insert("expressions".into(), json!(exprs));
    if r.chance(15) {
        c.insert(
            "auditAnnotations".into(),
            json!([{"key": "k", "valueExpression": cel_expr(r, 2)}]),
        );
    }
    if r.chance(10) {
        c.insert(
            "paramKind".into(),
            json!({"apiVersion": "v1", "kind": "ConfigMap"}),
        );
        c.insert("paramRef".into(), json!({"name": "x"}));
    }
    let mut c = Value::Object(c);
    if r.chance(5) {
        scramble(r, &mut c);
    }
    c
}

/// A PolicyException for policy `p`.
fn exception_json(r: &mut Rng) -> Value {
    let mut spec = json!({
        "exceptions": [{"policyName": r.pick_str(&["p", "default/p", "", "*"]), "ruleNames": [r.pick_str(&["rule-0", "rule-*", "*", "", "autogen-rule-0"])]}],
        "match": match_block(r),
    });
    if r.chance(30) {
        spec["conditions"] = conditions(r);
    }
    if r.chance(30) {
        spec["podSecurity"] = pod_security(r).get("exclude").cloned().unwrap_or(json!([]));
    }
    if r.chance(20) {
        spec["background"] = r.pick(&[json!(true), json!(false), json!("x")]).clone();
    }
    let mut e = json!({"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
        "metadata": {"name": "e", "namespace": r.pick_str(&["default", "kyverno", ""])}, "spec": spec});
    if r.chance(10) {
        scramble(r, &mut e);
    }
    e
}

/// A cluster that answers every read with a value derived from the path, so context entries
/// see data as well as errors.
struct FakeCluster(u64);

impl FakeCluster {
    fn answer(&self, what: &str) -> Result<Value, String> {
        let h = what
            .bytes()
            .fold(self.0, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut r = Rng::new(h);
        if r.chance(20) {
            return Err(format!("{what}: not found"));
        }
        Ok(match r.below(3) {
            0 => {
                json!({"data": {"key": scalar(&mut r), "list": "[\"a\", \"b\"]"}, "metadata": {"name": "c"}})
            }
            1 => {
                json!({"items": [resource(&mut r), resource(&mut r)], "metadata": {"labels": {"env": "prod"}}})
            }
            _ => value(&mut r, 3),
        })
    }
}

impl Cluster for FakeCluster {
    fn config_map(&self, namespace: &str, name: &str) -> Result<Value, String> {
        self.answer(&format!("cm/{namespace}/{name}"))
    }
    fn raw(&self, method: &str, url_path: &str, body: Option<&Value>) -> Result<Value, String> {
        self.answer(&format!(
            "{method} {url_path} {}",
            body.map(Value::to_string).unwrap_or_default()
        ))
    }
}

// ---------------------------------------------------------------------------------------
// The harness

fn iterations(base: usize) -> usize {
    let factor = std::env::var("KYVERNO_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1);
    base * factor
}

fn base_seed() -> u64 {
    std::env::var("KYVERNO_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs `call` on `iters` inputs from `gen`; every input is a JSON value (printed when the
/// call panics). Panics are collected (the first few) and fail the test at the end.
fn fuzz(name: &str, base: usize, mut generate: impl FnMut(&mut Rng) -> Value, call: impl Fn(&Value)) {
    let iters = iterations(base);
    let stream = name
        .bytes()
        .fold(base_seed(), |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
    let mut failures = Vec::new();
    let start = std::time::Instant::now();
    for i in 0..iters {
        let seed = stream.wrapping_add(i as u64);
        let input = generate(&mut Rng::new(seed));
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| call(&input))) {
            let text = panic_text(&*payload);
            eprintln!(
                "{name}: case {i} panicked: {text}\ninput:\n{}",
                serde_json::to_string_pretty(&input).unwrap_or_default()
            );
            failures.push(format!("case {i}: {text}"));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    eprintln!("{name}: {iters} cases in {:.2?}", start.elapsed());
    assert!(
        failures.is_empty(),
        "{name}: {} case(s) panicked (inputs printed above): {failures:#?}",
        failures.len()
    );
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

// ---------------------------------------------------------------------------------------
// The entry points

#[test]
fn match_pattern_never_panics() {
    fuzz(
        "match_pattern",
        4000,
        |r| {
            let res = if r.chance(70) { resource(r) } else { value(r, 4) };
            let pat = if r.chance(20) {
                // a pattern shaped like the resource, with parts replaced
                let mut p = res.clone();
                scramble(r, &mut p);
                scramble(r, &mut p);
                p
            } else {
                pattern_value(r, 5)
            };
            json!({"resource": res, "pattern": pat})
        },
        |i| {
            let _ = pattern::match_pattern(&i["resource"], &i["pattern"]);
            let _ = pattern::validate_value(&i["resource"], &i["pattern"]);
        },
    );
}

#[test]
fn pattern_helpers_never_panic() {
    fuzz(
        "pattern_helpers",
        3000,
        |r| {
            let ops = r.chance(50);
            let mut s = r.pick_str(if ops { OPERATOR_STRINGS } else { SCALARS });
            if r.chance(50) {
                s.push_str(&r.pick_str(SCALARS));
            }
            let any = r.next() as i64;
            let n = *r.pick(&[0i64, 1, -1, i64::MIN, i64::MAX, 1_000_000_000, any]);
            json!({"s": s, "t": r.pick_str(SCALARS), "key": key(r), "n": n})
        },
        |i| {
            let (s, t) = (str_of(i, "s"), str_of(i, "t"));
            let _ = pattern::operator_of(&s);
            let _ = pattern::parse_quantity(&s);
            let _ = pattern::parse_duration(&s);
            let _ = pattern::wildcard_match(&s, &t);
            let _ = pattern::parse_anchor(&str_of(i, "key"));
            let _ = pattern::go_display(i);
            for op in OPERATORS {
                let _ = conditions::apply_operator(op, &json!(s), &json!(t));
            }
            if let Some(q) = functions::KubeQuantity::parse(&s) {
                let _ = (q.as_f64(), q.canonical());
                if let Some(o) = functions::KubeQuantity::parse(&t) {
                    let _ = (q.add(&o).map(|x| x.canonical()), q.sub(&o).map(|x| x.canonical()));
                }
            }
            if let Ok(d) = functions::go_parse_duration(&s) {
                let _ = functions::go_duration_string(d);
            }
            let _ = functions::go_duration_string(i["n"].as_i64().unwrap_or(0));
            let _ = context::image_info(&s);
            let _ = pss::image_reference(&s);
            let _ = yaml::key_order(&s, &t);
            let _ = yaml::scalar_at(&s, (i["n"].as_i64().unwrap_or(0) & 0xff) as usize, 2);
            let failures = BTreeMap::from([(s.clone(), BTreeMap::from([(t.clone(), s.clone())]))]);
            let _ = yaml::encode_failures(&failures);
            let _ = policy::parse_kind_selector(&s);
        },
    );
}

#[test]
fn query_never_panics() {
    fuzz(
        "query",
        5000,
        |r| {
            let obj = resource(r);
            json!({"ctx": {"request": admission(r, &obj), "element": value(r, 2), "elementIndex": r.below(3), "images": {"containers": {"a": {"tag": "1"}}}}, "expr": jmespath(r, 3)})
        },
        |i| {
            let _ = conditions::query(&i["ctx"], &str_of(i, "expr"));
        },
    );
}

#[test]
fn jmespath_functions_never_panic() {
    fuzz(
        "jmespath_functions",
        4000,
        |r| {
            let obj = resource(r);
            json!({"ctx": {"request": admission(r, &obj)}, "expr": jp_function(r, 1)})
        },
        |i| {
            let _ = conditions::query(&i["ctx"], &str_of(i, "expr"));
        },
    );
}

#[test]
fn substitute_never_panics() {
    fuzz(
        "substitute",
        4000,
        |r| {
            let obj = resource(r);
            let doc = match r.below(3) {
                0 => json!(var_string(r)),
                1 => pattern_value(r, 4),
                _ => value(r, 4),
            };
            json!({"ctx": {"request": admission(r, &obj)}, "doc": doc})
        },
        |i| {
            let _ = conditions::substitute(&i["ctx"], &i["doc"]);
            if let Some(s) = i["doc"].as_str() {
                let _ = conditions::substitute_str(&i["ctx"], s);
            }
        },
    );
}

#[test]
fn evaluate_conditions_never_panics() {
    fuzz(
        "evaluate_conditions",
        4000,
        |r| {
            let obj = resource(r);
            json!({"ctx": {"request": admission(r, &obj)}, "conditions": conditions(r)})
        },
        |i| {
            let _ = conditions::evaluate_conditions(&i["ctx"], &i["conditions"]);
        },
    );
}

#[test]
fn policy_check_and_load_never_panic() {
    let loaded = Cell::new(0);
    fuzz(
        "policy_load",
        3000,
        |r| if r.chance(97) { policy_json(r) } else { value(r, 4) },
        |i| {
            let _ = policy::check(i);
            let _ = policy::warnings(i);
            if policy::load(i).is_ok() {
                loaded.set(loaded.get() + 1);
            }
        },
    );
    // the generator must get past the webhook's checks often enough to reach the engine
    assert!(
        loaded.get() > iterations(3000) / 20,
        "only {} policies loaded",
        loaded.get()
    );
}

#[test]
fn exceptions_load_never_panics() {
    fuzz(
        "exceptions_load",
        3000,
        |r| {
            if r.chance(95) {
                exception_json(r)
            } else {
                value(r, 4)
            }
        },
        |i| {
            if let Ok(e) = exceptions::load(i) {
                let _ = e.covers("p", "rule-0");
            }
            let _ = pss::check_exception_errors(i.pointer("/spec/podSecurity").unwrap_or(&Value::Null));
        },
    );
}

/// Most of the time, makes the rule match resources of `kind` (most generated match blocks
/// would not match the request, and the rule would not run).
fn aim(r: &mut Rng, rule: &mut Value, kind: &str) {
    if r.chance(75)
        && let Some(m) = rule.as_object_mut()
    {
        m.insert("match".into(), json!({"any": [{"resources": {"kinds": [kind]}}]}));
    }
}

/// One engine run: a policy (loaded, or built past the checks), PolicyExceptions, a request.
fn engine_case(r: &mut Rng) -> Value {
    let obj = resource(r);
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Pod")
        .to_string();
    let mut case = json!({
        "admission": admission(r, &obj),
        "namespaceLabels": r.pick(&[json!({}), json!({"env": "prod"}), json!(null), json!("x")]),
        "exceptions": (0..r.below(3)).map(|_| exception_json(r)).collect::<Vec<_>>(),
        "cluster": if r.chance(50) { Value::Null } else { json!(r.next()) },
    });
    if r.chance(50) {
        let mut p = policy_json(r);
        if let Some(rules) = p.pointer_mut("/spec/rules").and_then(Value::as_array_mut) {
            for rule in rules {
                aim(r, rule, &kind);
            }
        }
        case["policy"] = p;
    } else {
        case["raw_seed"] = json!(r.next());
        case["raw_kind"] = json!(kind);
    }
    case
}

/// Runs the case; the kind and status of every rule result.
fn run_engine(case: &Value) -> Vec<(RuleKind, Status)> {
    let policy = match case.get("raw_seed").and_then(Value::as_u64) {
        Some(seed) => Some(raw_policy(&mut Rng::new(seed), &str_of(case, "raw_kind")).1),
        None => policy::load(&case["policy"]).ok(),
    };
    let Some(policy) = policy else {
        return Vec::new();
    };
    let exceptions: Vec<Exception> = case["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| exceptions::load(e).ok())
        .collect();
    let fake;
    let cluster: &dyn Cluster = match case["cluster"].as_u64() {
        Some(seed) => {
            fake = FakeCluster(seed);
            &fake
        }
        None => &Offline,
    };
    let req = Request {
        admission: &case["admission"],
        namespace_labels: &case["namespaceLabels"],
        namespace_object: None,
        cluster,
        exceptions: &exceptions,
    };
    let validated = engine::validate(&policy, &req);
    let (mutated_results, mutated) = mutate::run(&policy, &req);
    let _ = patch::json_patch_diff(req.object(), &mutated);
    validated
        .into_iter()
        .chain(mutated_results)
        .map(|r| (r.kind, r.status))
        .collect()
}

#[test]
fn engine_never_panics() {
    let seen = RefCell::new(BTreeSet::new());
    fuzz("engine", 2500, engine_case, |case| {
        seen.borrow_mut().extend(
            run_engine(case)
                .into_iter()
                .map(|(k, s)| format!("{k:?} {}", s.as_str())),
        );
    });
    // the generated rules reach every outcome of both handlers (else the generator has
    // drifted away from what the engine runs)
    let seen = seen.into_inner();
    for want in [
        "Validate pass",
        "Validate fail",
        "Validate skip",
        "Validate error",
        "Mutate pass",
        "Mutate skip",
        "Mutate error",
    ] {
        assert!(seen.contains(want), "no rule result {want:?} in {seen:?}");
    }
}

#[test]
fn strategic_merge_never_panics() {
    let changed = Cell::new(0);
    fuzz(
        "strategic_merge",
        4000,
        |r| {
            let res = if r.chance(90) { resource(r) } else { value(r, 4) };
            json!({"resource": res, "patch": smp_patch(r)})
        },
        |i| {
            if let Ok(out) = patch::strategic_merge(&i["resource"], &i["patch"]) {
                if out != i["resource"] {
                    changed.set(changed.get() + 1);
                }
                let _ = patch::json_patch_diff(&i["resource"], &out);
            }
        },
    );
    assert!(
        changed.get() > iterations(4000) / 50,
        "only {} patches applied",
        changed.get()
    );
}

#[test]
fn json6902_never_panics() {
    let changed = Cell::new(0);
    fuzz(
        "json6902",
        5000,
        |r| {
            let res = if r.chance(90) { resource(r) } else { value(r, 4) };
            json!({"resource": res, "patch": json_patch_text(r)})
        },
        |i| {
            if let Ok(out) = patch::json6902(&i["resource"], &str_of(i, "patch")) {
                if out != i["resource"] {
                    changed.set(changed.get() + 1);
                }
                let _ = patch::json_patch_diff(&i["resource"], &out);
            }
        },
    );
    assert!(
        changed.get() > iterations(5000) / 50,
        "only {} patches applied",
        changed.get()
    );
}

#[test]
fn json_patch_diff_never_panics() {
    fuzz(
        "json_patch_diff",
        3000,
        |r| {
            let a = if r.chance(80) { resource(r) } else { value(r, 4) };
            let mut b = a.clone();
            for _ in 0..1 + r.below(3) {
                scramble(r, &mut b);
            }
            json!({"before": a, "after": b})
        },
        |i| {
            let _ = patch::json_patch_diff(&i["before"], &i["after"]);
        },
    );
}

#[test]
fn pss_evaluate_never_panics() {
    fuzz(
        "pss",
        3000,
        |r| {
            let ps = pod_security(r);
            let excludes = pod_security(r).get("exclude").cloned().unwrap_or(json!([]));
            json!({"podSecurity": ps, "resource": resource(r), "excludes": excludes})
        },
        |i| {
            let _ = pss::evaluate("r", &i["podSecurity"], &i["resource"]);
            let excludes = i["excludes"].as_array().cloned().unwrap_or_default();
            let _ = pss::evaluate_with_exceptions("r", &i["podSecurity"], &i["resource"], &excludes);
            let _ = pss::check_policy(&i["podSecurity"], "spec.rules[0].validate.podSecurity");
            let _ = pss::check_policy_errors(&i["podSecurity"], "spec.rules[0].validate.podSecurity");
            if let Some(v) = i["podSecurity"]["version"].as_str() {
                let _ = pss::parse_version(v);
            }
        },
    );
}

#[test]
fn cel_evaluate_never_panics() {
    fuzz(
        "cel",
        2500,
        |r| {
            let obj = resource(r);
            let adm = admission(r, &obj);
            let pre = r
                .chance(20)
                .then(|| json!([{"name": "p", "expression": cel_expr(r, 2)}]));
            json!({"cel": cel_block(r), "pre": pre, "object": obj, "old": if r.chance(30) { resource(r) } else { Value::Null },
                "request": adm, "ns": if r.chance(50) { json!({"metadata": {"name": "default", "labels": {"env": "prod"}}}) } else { Value::Null },
                "message": r.pick_str(SCALARS)})
        },
        |i| {
            let input = CelInput {
                object: &i["object"],
                old_object: &i["old"],
                request: &i["request"],
                namespace_object: &i["ns"],
            };
            let _ = cel::evaluate(
                "r",
                &str_of(i, "message"),
                &i["cel"],
                i.get("pre").filter(|p| !p.is_null()),
                &input,
            );
            let rule = json!({"name": "r", "validate": {"cel": i["cel"]}, "celPreconditions": i["pre"]});
            let _ = cel::check_policy(&rule, 0);
        },
    );
}

/// A fresh directory for one clitest case.
fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kyverno-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(dir.join("sub")).expect("scratch dir");
    dir
}

/// YAML text: documents as JSON (JSON is YAML), block YAML, or broken YAML.
fn yaml_text(r: &mut Rng, docs: &[Value]) -> String {
    match r.below(6) {
        0..=2 => docs.iter().map(|d| format!("---\n{d}\n")).collect::<String>(),
        3 => format!(
            "apiVersion: v1\nkind: List\nitems: {}\n",
            Value::Array(docs.to_vec())
        ),
        4 => r.pick_str(&[
            "",
            "---",
            "--- |\n x",
            "a: [",
            "\t- x",
            "- &a [*a]",
            "a: *b",
            "!!binary x",
            "? [a]\n: b",
            "<<: {a: 1}",
            "%TAG ! x\n---\na",
            "\u{feff}a: 1",
            "a: 1\na: 2",
        ]),
        _ => format!(
            "{}\n{}",
            docs.first().map(Value::to_string).unwrap_or_default(),
            r.pick_str(&["]", "- x", "a: b: c", "---\nnull"])
        ),
    }
}

#[test]
fn clitest_load_never_panics() {
    let files = [
        "p.yaml",
        "r.yaml",
        "e.yaml",
        "missing.yaml",
        "",
        ".",
        "sub",
        "sub/../p.yaml",
        "kyverno-test.yaml",
    ];
    fuzz(
        "clitest_load",
        600,
        |r| {
            let pick_files =
                |r: &mut Rng| json!((0..r.below(3)).map(|_| r.pick_str(&files)).collect::<Vec<_>>());
            let results: Vec<Value> = (0..r.below(3))
                .map(|_| {
                    let mut res = json!({"policy": r.pick_str(&["p", "default/p", ""]), "rule": "rule-0",
                        "result": r.pick_str(&["pass", "fail", "skip", "warn", "error", "bogus"]), "kind": r.pick_str(KINDS)});
                    if r.chance(70) {
                        res["resources"] = json!([r.pick_str(&["web", "default/web", "/", "a/b/c", ""])]);
                    }
                    if r.chance(30) {
                        res["resourceSpecs"] = json!([{"name": "web", "namespace": r.pick_str(&["", "default"])}]);
                    }
                    if r.chance(30) {
                        res["patchedResources"] = json!(r.pick_str(&files));
                    }
                    if r.chance(10) {
                        scramble(r, &mut res);
                    }
                    res
                })
                .collect();
            let mut test = json!({"apiVersion": r.pick_str(&["cli.kyverno.io/v1alpha1", "cli.kyverno.io/v1alpha1", "v1"]), "kind": r.pick_str(&["Test", "Test", "Other"]),
                "metadata": {"name": "t"}, "policies": pick_files(r), "resources": pick_files(r), "exceptions": pick_files(r), "results": results});
            if r.chance(10) {
                scramble(r, &mut test);
            }
            let policies: Vec<Value> = (0..r.below(3)).map(|_| policy_json(r)).collect();
            let resources: Vec<Value> = (0..r.below(3)).map(|_| resource(r)).collect();
            let exceptions: Vec<Value> = (0..r.below(2)).map(|_| exception_json(r)).collect();
            json!({
                "kyverno-test.yaml": yaml_text(r, &[test]),
                "p.yaml": yaml_text(r, &policies),
                "r.yaml": yaml_text(r, &resources),
                "e.yaml": yaml_text(r, &exceptions),
            })
        },
        |i| {
            let dir = scratch_dir();
            for (f, text) in i.as_object().into_iter().flatten() {
                std::fs::write(dir.join(f), text.as_str().unwrap_or("")).expect("write");
            }
            let loaded = clitest::load(&dir.join("kyverno-test.yaml"));
            let _ = clitest::find(&dir);
            std::fs::remove_dir_all(&dir).expect("clean up");
            if let Ok(t) = loaded {
                for e in &t.expectations {
                    let _ = clitest::rule_matches(&e.rule, "rule-0");
                    let _ = clitest::policy_matches(&e.policy, "default/p");
                }
                for res in &t.resources {
                    let _ = clitest::contains(res, &json!({"metadata": {"name": "web"}}));
                }
            }
        },
    );
}

// ---------------------------------------------------------------------------------------
// Deep nesting
//
// Values reach the engine through parsers with depth limits: serde_json stops at 128 levels,
// serde-saphyr (YAML: test files, YAML JSON patches, `parse_yaml`) at 64. Past them, stack
// use is what limits depth, and every entry point recurses on the nesting (as serde_json's
// own `clone`, `==` and `drop` do). Measured on a 2 MiB thread (Rust's default for spawned
// threads) in a debug build: `match_pattern` and so `engine::validate` (patterns) overflow
// past about 340 nested objects (790 arrays); `substitute` past about 1,000; strategic merge
// past about 940; `json6902`, `json_patch_diff`, `pss::evaluate` and `policy::check` past
// 1,250-1,450, where `Value::clone` itself overflows (1,350). Strings the crate compiles
// itself: JMESPath (the `jmespath` crate's parser and interpreter recurse) overflows past
// about 1,950 nested parentheses, 1,450 nested brackets and 3,100 chained `|`/`.`/`||`
// (go-jmespath, on Go's growable stacks, takes them); a CEL chain of binary operators
// (`1 + 1 + ...`, a left-nested tree that cel-rust's parser builds without counting it)
// overflows the checker and interpreter past about 690 terms, where cel-go stops at its
// parser's recursion limit of 250. Nested CEL parentheses, lists and unary operators are
// refused by cel-rust's parser (limit 96). None of these depths can come from a parsed
// request or policy, except through a JMESPath or CEL expression written that way.

/// `depth` nested arrays (`[[[...leaf...]]]`), built without recursion.
fn nested_arrays(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |v, _| Value::Array(vec![v]))
}

/// `depth` nested objects (`{"spec": {"spec": ...leaf...}}`), built without recursion.
fn nested_objects(depth: usize, key: &str, leaf: Value) -> Value {
    (0..depth).fold(leaf, |v, _| Value::Object(Map::from_iter([(key.to_string(), v)])))
}

/// Runs `f` on a thread with Rust's default 2 MiB stack (a stack overflow aborts the test
/// binary: the failure is loud, if not pretty).
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic");
}

#[test]
fn nesting_as_deep_as_the_parsers_allow_is_evaluated() {
    // serde_json's limit: the deepest request or policy the sim can parse
    const DEPTH: usize = 128;
    on_small_stack(|| {
        // the nested values parse: they are what a request can carry
        let deep_obj = nested_objects(DEPTH - 3, "spec", json!(1));
        let text =
            serde_json::to_string(&json!({"kind": "Pod", "metadata": {"name": "a"}, "spec": deep_obj}))
                .unwrap();
        let pod: Value = serde_json::from_str(&text).expect("128 levels parse");
        let deep_arr = nested_arrays(DEPTH - 2, json!(1));
        let pattern_obj = json!({"spec": nested_objects(DEPTH - 3, "spec", json!(">0"))});
        let pattern_anchored = json!({"spec": nested_objects(DEPTH - 3, "=(spec)", json!("?*"))});

        assert_eq!(pattern::match_pattern(&pod, &pattern_obj), Ok(()));
        assert_eq!(pattern::match_pattern(&pod, &pattern_anchored), Ok(()));
        assert_eq!(
            pattern::match_pattern(&deep_arr, &nested_arrays(DEPTH - 2, json!("1-5"))),
            Ok(())
        );
        assert!(
            pattern::match_pattern(
                &pod,
                &json!({"spec": nested_objects(DEPTH - 3, "spec", json!(">5"))})
            )
            .is_err()
        );

        let ctx = json!({"request": {"object": pod}});
        let deep_vars = nested_objects(DEPTH - 1, "a", json!("{{ request.object.metadata.name }}"));
        let substituted = conditions::substitute(&ctx, &deep_vars).unwrap();
        assert_eq!(substituted.pointer(&"/a".repeat(DEPTH - 1)), Some(&json!("a")));
        assert_eq!(
            conditions::query(&ctx, "request.object.spec").unwrap(),
            pod["spec"]
        );
        let conds = json!({"any": [{"key": "{{ request.object.spec }}", "operator": "Equals", "value": pod["spec"]}]});
        assert!(conditions::evaluate_conditions(&ctx, &conds).unwrap().0);

        let smp = json!({"spec": nested_objects(DEPTH - 3, "spec", json!(2))});
        let merged = patch::strategic_merge(&pod, &smp).unwrap();
        assert_eq!(merged.pointer(&"/spec".repeat(DEPTH - 2)), Some(&json!(2)));
        assert_eq!(patch::json_patch_diff(&pod, &merged).len(), 1);
        let deep_path = "/spec".repeat(DEPTH - 2);
        let patched = patch::json6902(
            &pod,
            &format!(r#"[{{"op":"replace","path":"{deep_path}","value":3}}]"#),
        )
        .unwrap();
        assert_eq!(patched.pointer(&deep_path), Some(&json!(3)));

        let mut pss_pod = json!({"kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i", "securityContext": null}]}});
        pss_pod["spec"]["containers"][0]["securityContext"] = nested_objects(DEPTH - 6, "x", json!(1));
        assert!(
            pss::evaluate(
                "r",
                &json!({"level": "restricted", "version": "latest"}),
                &pss_pod
            )
            .is_ok()
        );

        let mut policy_json = json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "p"},
            "spec": {"validationFailureAction": "Enforce", "rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"message": "deep", "pattern": null}}]}});
        policy_json["spec"]["rules"][0]["validate"]["pattern"] = pattern_obj.clone();
        let policy = policy::load(&policy_json).expect("a deep pattern loads");
        let admission = json!({"operation": "CREATE", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": ctx["request"]["object"]});
        let labels = json!({});
        let results = engine::validate(
            &policy,
            &Request {
                admission: &admission,
                namespace_labels: &labels,
                namespace_object: None,
                cluster: &Offline,
                exceptions: &[],
            },
        );
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].status, Status::Pass, "{:.200}", results[0].message);

        let input = CelInput {
            object: &pod,
            old_object: &pod,
            request: &admission,
            namespace_object: &Value::Null,
        };
        let outcome = cel::evaluate(
            "r",
            "",
            &json!({"expressions": [{"expression": "object == oldObject && has(object.spec.spec)"}]}),
            None,
            &input,
        );
        assert_eq!(
            outcome,
            cel::CelOutcome::Pass("Validation rule 'r' passed.".into())
        );
    });
}

#[test]
fn ten_thousand_levels_of_text_are_refused_not_overflowed() {
    const DEPTH: usize = 10_000;
    on_small_stack(|| {
        let open = "[".repeat(DEPTH);
        let close = "]".repeat(DEPTH);
        // JSON patches: serde_json's limit (JSON) and serde-saphyr's (YAML)
        let json_patch = format!(r#"[{{"op":"add","path":"/x","value":{open}1{close}}}]"#);
        assert_eq!(
            patch::json6902(&json!({}), &json_patch).unwrap_err(),
            "failed to decode patches: invalid state detected"
        );
        let yaml_patch = format!("- op: add\n  path: /x\n  value: {open}1{close}\n");
        let err = patch::json6902(&json!({}), &yaml_patch).unwrap_err();
        assert!(
            err.starts_with("failed to convert patchesJSON6902 to JSON: "),
            "{err:.300}"
        );
        // JMESPath: literals and parse_json/parse_yaml texts
        for expr in [
            format!("`{open}1{close}`"),
            format!("parse_json('{open}1{close}')"),
            format!("parse_yaml('{open}1{close}')"),
        ] {
            assert!(conditions::query(&json!({}), &expr).is_err(), "{}", &expr[..20]);
        }
        let block: String = (0..DEPTH).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert!(conditions::query(&json!({"y": block}), "parse_yaml(y)").is_err());
        // CEL: cel-rust's parser refuses nesting past its recursion limit
        let input = CelInput {
            object: &Value::Null,
            old_object: &Value::Null,
            request: &Value::Null,
            namespace_object: &Value::Null,
        };
        let run = |expr: String| {
            cel::evaluate(
                "r",
                "",
                &json!({"expressions": [{"expression": expr}]}),
                None,
                &input,
            )
        };
        // a run of unary minus is one node (10,000 of them cancel out)
        assert_eq!(
            run(format!("{}1 == 1", "-".repeat(DEPTH))),
            cel::CelOutcome::Pass("Validation rule 'r' passed.".into())
        );
        for expr in [
            format!("{}1{} == 1", "(".repeat(DEPTH), ")".repeat(DEPTH)),
            format!("{open}1{close} == [1]"),
        ] {
            let outcome = run(expr);
            // `Recursion limit of 96 exceeded` (cel-go: `expression recursion limit exceeded: 250`)
            assert!(
                matches!(&outcome, cel::CelOutcome::Fail(m) if m.contains("Recursion limit of 96 exceeded")),
                "{:.300}",
                format!("{outcome:?}")
            );
        }
        // a test file with deep YAML
        let dir = scratch_dir();
        std::fs::write(
            dir.join("kyverno-test.yaml"),
            format!("results: {open}1{close}\n"),
        )
        .unwrap();
        let err = clitest::load(&dir.join("kyverno-test.yaml")).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("invalid YAML"), "{err:.300}");
    });
}

//! What `helm template` (Helm 3.17) does with rendered files: splitting, head reading,
//! hooks, kind order, printing. No helm binary was run: each expectation is worked out by
//! hand from the Go function named in its comment. Once, during development,
//! `sort_manifests` was also run side by side with Helm's releaseutil (built with Go 1.19,
//! yaml.v2 and ghodss/yaml) over 20000 random sets of files: same documents, heads, hooks,
//! order and error texts (YAML syntax errors aside, see README).

use std::collections::BTreeMap;

use hubspoke_render::release::{
    self, BadPattern, CrdFile, HookInfo, INSTALL_ORDER, TemplateOptions, UNINSTALL_ORDER, glob_match,
    helm_template_output, read_head, sort_manifests, split_manifests,
};

fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn template(list: &[(&str, &str)], opts: &TemplateOptions) -> String {
    helm_template_output(&files(list), &[], opts).unwrap()
}

// --- releaseutil.SplitManifests: the separator regexp `(?:^|\s*\n)---\s*` on the
// trimmed file, each piece trimmed, empty pieces dropped

#[test]
fn split_on_separator_lines() {
    assert_eq!(split_manifests("a: 1\n---\nb: 2\n"), ["a: 1", "b: 2"]);
    assert_eq!(split_manifests("---\na: 1\n---\n"), ["a: 1"]);
    assert_eq!(split_manifests("\n\n  ---\na: 1"), ["a: 1"]);
    assert_eq!(
        split_manifests("a: 1\n   \n---   \n\n  b: 2  \n\n"),
        ["a: 1", "b: 2"]
    );
    assert_eq!(split_manifests(""), Vec::<String>::new());
    // the second separator lost its newline to the first one's blanks: a document
    assert_eq!(split_manifests(" \n---\n \n---\n"), ["---"]);
}

#[test]
fn split_is_not_yaml_aware() {
    // any line starting with --- separates, whatever follows on the line
    assert_eq!(split_manifests("a: 1\n---b: 2"), ["a: 1", "b: 2"]);
    assert_eq!(split_manifests("a: 1\n----\nb: 2"), ["a: 1", "-\nb: 2"]);
    assert_eq!(split_manifests("a: 1\n--- # doc\nb: 2"), ["a: 1", "# doc\nb: 2"]);
    // a block scalar's line starting with --- splits it too
    assert_eq!(split_manifests("a: |\n  x\n---\n  y"), ["a: |\n  x", "y"]);
    // --- inside a line does not
    assert_eq!(split_manifests("a: b---c\nd: ---"), ["a: b---c\nd: ---"]);
    // a separator right after another one's blanks has no newline of its own left:
    // it stays at the start of the next document
    assert_eq!(split_manifests("a: 1\n---\n---\nb: 2"), ["a: 1", "---\nb: 2"]);
    assert_eq!(split_manifests("a: 1\n---\n\n---\nb: 2"), ["a: 1", "---\nb: 2"]);
    // the document's own whitespace is trimmed (Unicode spaces too)
    assert_eq!(split_manifests("a: 1\n---\n\u{a0}b: 2"), ["a: 1", "b: 2"]);
    // comment-only documents are kept
    assert_eq!(
        split_manifests("# just a comment\n---\na: 1"),
        ["# just a comment", "a: 1"]
    );
}

// --- SimpleHead read with sigs.k8s.io/yaml

#[test]
fn head_fields() {
    let h = read_head(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  annotations:\n    a: b\nspec: {}",
    )
    .unwrap();
    assert_eq!(h.api_version, "v1");
    assert_eq!(h.kind, "ConfigMap");
    assert_eq!(h.name(), "cm");
    assert_eq!(h.annotation("a"), Some("b"));
    // comments and null documents have an empty head
    assert_eq!(read_head("# only a comment").unwrap(), release::Head::default());
    assert_eq!(read_head("null").unwrap(), release::Head::default());
    let h = read_head("kind: A\nmetadata: null").unwrap();
    assert_eq!(h.metadata, None);
    let h = read_head("kind: A\nmetadata:\n  annotations: ~").unwrap();
    assert_eq!(h.metadata.unwrap().annotations, None);
}

#[test]
fn head_scalars_become_strings_and_keys_match_any_case() {
    // sigs.k8s.io/yaml converts scalars for string fields: ints, floats (as float32 %g),
    // bools
    let h = read_head("apiVersion: 1.0\nkind: 12\nmetadata:\n  name: true\n  annotations:\n    w: 5\n    f: 0.5\n    z: null\n    n: x\n    o: 0777")
        .unwrap();
    assert_eq!(h.api_version, "1");
    assert_eq!(h.kind, "12");
    assert_eq!(h.name(), "true");
    assert_eq!(h.annotation("w"), Some("5"));
    assert_eq!(h.annotation("f"), Some("0.5"));
    assert_eq!(h.annotation("z"), Some(""));
    // YAML 1.1 as yaml.v2 reads it: `n` is the boolean false, even as a key; 0777 is octal
    assert_eq!(h.annotation("n"), None);
    assert_eq!(h.annotation("false"), Some("x"));
    assert_eq!(h.annotation("o"), Some("511"));
    // encoding/json matches field names case-insensitively
    let h = read_head("Kind: Secret\nMETADATA:\n  Name: s").unwrap();
    assert_eq!(h.kind, "Secret");
    assert_eq!(h.name(), "s");
    // of two spellings, the later in sorted key order wins (`Kind` < `kind`)
    let h = read_head("kind: B\nKind: A").unwrap();
    assert_eq!(h.kind, "B");
    // a quoted scalar stays as written
    let h = read_head("kind: \"007\"").unwrap();
    assert_eq!(h.kind, "007");
}

#[test]
fn head_type_errors() {
    let pre = "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal";
    assert_eq!(
        read_head("- a\n- b").unwrap_err(),
        format!("{pre} array into Go value of type releaseutil.SimpleHead")
    );
    assert_eq!(
        read_head("just text").unwrap_err(),
        format!("{pre} string into Go value of type releaseutil.SimpleHead")
    );
    assert_eq!(
        read_head("12").unwrap_err(),
        format!("{pre} number into Go value of type releaseutil.SimpleHead")
    );
    assert_eq!(
        read_head("kind: [a]").unwrap_err(),
        format!("{pre} array into Go struct field SimpleHead.kind of type string")
    );
    assert_eq!(
        read_head("apiVersion: {a: 1}").unwrap_err(),
        format!("{pre} object into Go struct field SimpleHead.apiVersion of type string")
    );
    assert_eq!(
        read_head("metadata: x").unwrap_err(),
        format!(
            "{pre} string into Go struct field SimpleHead.metadata of type struct {{ Name string \"json:\\\"name\\\"\"; Annotations map[string]string \"json:\\\"annotations\\\"\" }}"
        )
    );
    // the metadata struct is anonymous: Go prints an empty struct name
    assert_eq!(
        read_head("metadata:\n  name: [x]").unwrap_err(),
        format!("{pre} array into Go struct field .metadata.name of type string")
    );
    assert_eq!(
        read_head("metadata:\n  annotations: [x]").unwrap_err(),
        format!("{pre} array into Go struct field .metadata.annotations of type map[string]string")
    );
    assert_eq!(
        read_head("metadata:\n  annotations:\n    a: {b: c}").unwrap_err(),
        format!("{pre} object into Go struct field .metadata.annotations of type string")
    );
    // JSON decodes keys in sorted order: the first error in that order is reported
    assert_eq!(
        read_head("metadata: 1\napiVersion: [x]").unwrap_err(),
        format!("{pre} array into Go struct field SimpleHead.apiVersion of type string")
    );
}

#[test]
fn non_finite_floats_outside_string_fields_do_not_convert() {
    assert_eq!(
        read_head("kind: A\ndata:\n  x: .inf").unwrap_err(),
        "error converting YAML to JSON: json: unsupported value: +Inf"
    );
    assert_eq!(
        read_head("spec: [-.inf]").unwrap_err(),
        "error converting YAML to JSON: json: unsupported value: -Inf"
    );
    // in a string field it is a string
    assert_eq!(read_head("kind: .nan").unwrap().kind, "NaN");
}

#[test]
fn yaml_syntax_errors_in_yaml_v2s_words() {
    // expected texts checked once against Helm's releaseutil built with Go's yaml.v2; the
    // line is libyaml's (0-based for parser errors, none on the first line for scanner
    // errors)
    let cases = [
        ("a: b: c", "mapping values are not allowed in this context"),
        (
            "kind: A\nmetadata:\n  name: x: y",
            "line 3: mapping values are not allowed in this context",
        ),
        (
            "kind: A\nspec:\n  - a\n  b: c",
            "line 3: did not find expected '-' indicator",
        ),
        ("kind: A\nfoo\nbar: 1", "line 3: could not find expected ':'"),
        ("# c\n...\nkind: A", "line 1: did not find expected node content"),
        ("kind: \"A", "found unexpected end of stream"),
        ("a: b\n- c", "line 1: did not find expected key"),
        ("- a\nb: c", "line 1: did not find expected '-' indicator"),
        (
            "kind: A\n  x: y",
            "line 2: mapping values are not allowed in this context",
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(
            read_head(doc).unwrap_err(),
            format!("error converting YAML to JSON: yaml: {want}"),
            "{doc:?}"
        );
    }
    // yaml.v2 reads the first document only: content after the root node ends it
    assert_eq!(read_head("  kind: A\nname: b").unwrap().kind, "A");
    assert_eq!(read_head("kind: A\n...\nnot: [valid").unwrap().kind, "A");
}

#[test]
fn yaml_syntax_errors_carry_helms_prefix() {
    let e = read_head("a: [b\nc: d").unwrap_err();
    assert!(e.starts_with("error converting YAML to JSON: yaml: "), "{e}");
    let e = helm_template_output(
        &files(&[("c/templates/x.yaml", "a: [b\nc: d")]),
        &[],
        &TemplateOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.starts_with("YAML parse error on c/templates/x.yaml: error converting YAML to JSON: yaml: "),
        "{e}"
    );
    assert!(
        e.ends_with("\n\nUse --debug flag to render out invalid YAML"),
        "{e}"
    );
}

// --- SortManifests, sortManifestsByKind, lessByKind

#[test]
fn install_order_and_unknown_kinds() {
    assert_eq!(INSTALL_ORDER.len(), 36);
    assert_eq!(INSTALL_ORDER[0], "PriorityClass");
    assert_eq!(INSTALL_ORDER[35], "APIService");
    let mut rev = UNINSTALL_ORDER.to_vec();
    rev.reverse();
    // the uninstall order is not simply reversed (Service and the workloads differ)
    assert_ne!(rev, INSTALL_ORDER);
    assert_eq!(UNINSTALL_ORDER[3], "Service");

    let f = files(&[
        (
            "c/templates/a.yaml",
            "kind: Zeta\nmetadata: {name: z}\n---\nkind: Deployment\nmetadata: {name: d1}",
        ),
        (
            "c/templates/b.yaml",
            "kind: Alpha\nmetadata: {name: a}\n---\nkind: Service\nmetadata: {name: s}\n---\nkind: Deployment\nmetadata: {name: d2}",
        ),
        (
            "c/templates/c.yaml",
            "kind: Namespace\nmetadata: {name: ns}\n---\nkind: Zeta\nmetadata: {name: z2}",
        ),
        ("c/templates/_helpers.tpl", "kind: Secret"),
        ("c/templates/empty.yaml", "  \n\n"),
    ]);
    let (hooks, manifests) = sort_manifests(&f, INSTALL_ORDER).unwrap();
    assert!(hooks.is_empty());
    let got: Vec<(&str, &str)> = manifests.iter().map(|m| (m.kind(), m.name())).collect();
    assert_eq!(
        got,
        [
            ("Namespace", "ns"),
            ("Service", "s"),
            ("Deployment", "d1"),
            ("Deployment", "d2"),
            ("Alpha", "a"),
            ("Zeta", "z"),
            ("Zeta", "z2"),
        ]
    );
    assert_eq!(manifests[0].path, "c/templates/c.yaml");
    let (_, manifests) = sort_manifests(&f, UNINSTALL_ORDER).unwrap();
    let got: Vec<&str> = manifests.iter().map(|m| m.name()).collect();
    assert_eq!(got, ["s", "d1", "d2", "ns", "a", "z", "z2"]);
}

#[test]
fn hooks_are_parsed_from_annotations() {
    let f = files(&[(
        "c/templates/hooks.yaml",
        "kind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: \" Pre-Install , post-upgrade\"\n    helm.sh/hook-weight: \"-5\"\n    helm.sh/hook-delete-policy: \"Hook-Succeeded, before-hook-creation,whatever\"\n\
---\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test-success\n    helm.sh/hook-weight: 3\n\
---\nkind: ConfigMap\nmetadata:\n  name: other\n  annotations:\n    some: thing\n\
---\nkind: Secret\nmetadata:\n  name: unknown\n  annotations:\n    helm.sh/hook: pre-install,on-tuesday\n\
---\nkind: ServiceAccount\nmetadata:\n  name: sa\n  annotations:\n    helm.sh/hook: pre-delete\n    helm.sh/hook-weight: \" 2\"",
    )]);
    let (hooks, manifests) = sort_manifests(&f, INSTALL_ORDER).unwrap();
    // a document annotated without helm.sh/hook is a plain manifest
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].name(), "other");
    // an unknown event drops the document entirely; hooks sort by kind, not weight
    let got: Vec<(&str, HookInfo)> = hooks
        .iter()
        .map(|h| (h.name(), h.hook.clone().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "sa",
                HookInfo {
                    events: vec!["pre-delete".into()],
                    weight: 0,
                    delete_policies: vec![]
                }
            ),
            (
                "t",
                HookInfo {
                    events: vec!["test".into()],
                    weight: 3,
                    delete_policies: vec![]
                }
            ),
            (
                "j",
                HookInfo {
                    events: vec!["pre-install".into(), "post-upgrade".into()],
                    weight: -5,
                    delete_policies: vec![
                        "hook-succeeded".into(),
                        "before-hook-creation".into(),
                        "whatever".into()
                    ],
                }
            ),
        ]
    );
    assert!(hooks[1].is_test_hook());
}

#[test]
fn a_bad_head_stops_sorting_with_the_files_path() {
    let f = files(&[
        ("c/templates/a.yaml", "kind: A"),
        ("c/templates/b.yaml", "kind: A\n---\n- x"),
    ]);
    assert_eq!(
        sort_manifests(&f, INSTALL_ORDER).unwrap_err(),
        "YAML parse error on c/templates/b.yaml: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type releaseutil.SimpleHead"
    );
}

// --- action.renderResources and cmd/helm/template.go printing

#[test]
fn template_output_format() {
    let out = template(
        &[
            ("c/templates/NOTES.txt", "Thanks for installing"),
            ("c/charts/sub/templates/NOTES.txt", "sub notes"),
            (
                "c/templates/svc.yaml",
                "\n\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n\n",
            ),
            (
                "c/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# a comment only\n---\n\n",
            ),
            ("c/templates/_helpers.tpl", ""),
        ],
        &TemplateOptions::default(),
    );
    assert_eq!(
        out,
        "---\n# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n\
---\n# Source: c/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n\
---\n# Source: c/templates/cm.yaml\n# a comment only\n"
    );
}

#[test]
fn nothing_rendered_prints_a_newline() {
    assert_eq!(
        template(&[("c/templates/x.yaml", "\n")], &TemplateOptions::default()),
        "\n"
    );
    assert_eq!(template(&[], &TemplateOptions::default()), "\n");
}

#[test]
fn crds_come_first_and_only_when_included() {
    let f = files(&[("c/templates/cm.yaml", "kind: ConfigMap\nmetadata:\n  name: a")]);
    let crds = [
        CrdFile {
            path: "c/crds/b.yaml".into(),
            content: "kind: CustomResourceDefinition\n".into(),
        },
        CrdFile {
            path: "c/charts/sub/crds/a.yaml".into(),
            content: "kind: CustomResourceDefinition\n---\nkind: X".into(),
        },
    ];
    let out = helm_template_output(&f, &crds, &TemplateOptions::default()).unwrap();
    assert_eq!(
        out,
        "---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\nmetadata:\n  name: a\n"
    );
    let with = TemplateOptions {
        include_crds: true,
        ..Default::default()
    };
    let out = helm_template_output(&f, &crds, &with).unwrap();
    // CRD files are printed as they are, in the order given, under one header each
    assert_eq!(
        out,
        "---\n# Source: c/crds/b.yaml\nkind: CustomResourceDefinition\n\n\
---\n# Source: c/charts/sub/crds/a.yaml\nkind: CustomResourceDefinition\n---\nkind: X\n\
---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\nmetadata:\n  name: a\n"
    );
    // only CRDs: the whole text is trimmed before printing
    let out = helm_template_output(&files(&[]), &crds[..1], &with).unwrap();
    assert_eq!(
        out,
        "---\n# Source: c/crds/b.yaml\nkind: CustomResourceDefinition\n"
    );
}

const HOOKS: &[(&str, &str)] = &[
    ("c/templates/cm.yaml", "kind: ConfigMap\nmetadata:\n  name: a"),
    (
        "c/templates/tests/t.yaml",
        "kind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test",
    ),
    (
        "c/templates/job.yaml",
        "kind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install",
    ),
];

#[test]
fn hooks_print_after_manifests() {
    let out = template(HOOKS, &TemplateOptions::default());
    assert_eq!(
        out,
        "---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\nmetadata:\n  name: a\n\
---\n# Source: c/templates/tests/t.yaml\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\n\
---\n# Source: c/templates/job.yaml\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install\n"
    );
    let out = template(
        HOOKS,
        &TemplateOptions {
            skip_tests: true,
            ..Default::default()
        },
    );
    assert!(!out.contains("tests/t.yaml"));
    assert!(out.contains("job.yaml"));
    let out = template(
        HOOKS,
        &TemplateOptions {
            no_hooks: true,
            ..Default::default()
        },
    );
    assert_eq!(
        out,
        "---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\nmetadata:\n  name: a\n"
    );
    // only hooks: the (empty) manifest text prints as a blank line first
    let out = template(&HOOKS[2..], &TemplateOptions::default());
    assert_eq!(
        out,
        "\n---\n# Source: c/templates/job.yaml\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install\n"
    );
}

#[test]
fn show_only_selects_documents_by_source_path() {
    let only = |pats: &[&str]| TemplateOptions {
        show_only: pats.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let out = template(HOOKS, &only(&["templates/job.yaml"]));
    assert_eq!(
        out,
        "---\n# Source: c/templates/job.yaml\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install\n"
    );
    // globs: `*` does not cross `/`; each pattern in turn, documents in printed order
    let out = template(HOOKS, &only(&["templates/*.yaml", "templates/tests/*"]));
    let sources: Vec<&str> = out.lines().filter(|l| l.starts_with("# Source:")).collect();
    assert_eq!(
        sources,
        [
            "# Source: c/templates/cm.yaml",
            "# Source: c/templates/job.yaml",
            "# Source: c/templates/tests/t.yaml"
        ]
    );
    // a pattern matching nothing is an error
    assert_eq!(
        helm_template_output(&files(HOOKS), &[], &only(&["templates/nope.yaml"])).unwrap_err(),
        "could not find template templates/nope.yaml in chart"
    );
    // --show-only skips hooks left out by --skip-tests
    let opts = TemplateOptions {
        skip_tests: true,
        ..only(&["templates/tests/t.yaml"])
    };
    assert_eq!(
        helm_template_output(&files(HOOKS), &[], &opts).unwrap_err(),
        "could not find template templates/tests/t.yaml in chart"
    );
    // documents of a multi-document CRD file after the first have no header: never shown
    let crds = [CrdFile {
        path: "c/crds/a.yaml".into(),
        content: "kind: A\n---\nkind: B".into(),
    }];
    let opts = TemplateOptions {
        include_crds: true,
        ..only(&["crds/a.yaml"])
    };
    assert_eq!(
        helm_template_output(&files(&[]), &crds, &opts).unwrap(),
        "---\n# Source: c/crds/a.yaml\nkind: A\n"
    );
}

#[test]
fn go_filepath_match() {
    assert_eq!(glob_match("templates/*.yaml", "templates/a.yaml"), Ok(true));
    assert_eq!(glob_match("templates/*", "templates/sub/a.yaml"), Ok(false));
    assert_eq!(glob_match("templates/*/*", "templates/sub/a.yaml"), Ok(true));
    assert_eq!(glob_match("templates/?.yaml", "templates/a.yaml"), Ok(true));
    assert_eq!(glob_match("templates/[a-c].yaml", "templates/b.yaml"), Ok(true));
    assert_eq!(glob_match("templates/[^a-c].yaml", "templates/b.yaml"), Ok(false));
    assert_eq!(glob_match("templates/\\*.yaml", "templates/*.yaml"), Ok(true));
    assert_eq!(glob_match("*a*b", "xaab"), Ok(true));
    assert_eq!(glob_match("a*", "a/b"), Ok(false));
    assert_eq!(glob_match("templates", "templates/a.yaml"), Ok(false));
    assert_eq!(glob_match("[", "a"), Err(BadPattern));
    assert_eq!(glob_match("a[", "b"), Err(BadPattern));
    assert_eq!(glob_match("\\", "a"), Err(BadPattern));
}

#[test]
fn notes_and_crd_files() {
    assert!(release::is_notes_file("c/templates/NOTES.txt"));
    assert!(release::is_notes_file("c/templates/MYNOTES.txt"));
    assert!(!release::is_notes_file("c/templates/notes.txt"));
    assert!(release::is_crd_file("crds/a.yaml"));
    assert!(release::is_crd_file("crds/sub/a.YML"));
    assert!(release::is_crd_file("crds/a.json"));
    assert!(!release::is_crd_file("crds/README.md"));
    assert!(!release::is_crd_file("templates/crds/a.yaml"));
}

// --- action.execHook's order (hookByWeight) and default delete policy

#[test]
fn hooks_run_by_weight_then_name() {
    let hook = |name: &str, kind: &str, ann: &str| {
        format!("kind: {kind}\nmetadata:\n  name: {name}\n  annotations:\n{ann}\n---\n")
    };
    let text = [
        hook(
            "b",
            "Job",
            "    helm.sh/hook: pre-install\n    helm.sh/hook-weight: \"1\"",
        ),
        hook(
            "a",
            "Job",
            "    helm.sh/hook: pre-install,post-install\n    helm.sh/hook-weight: \"1\"",
        ),
        hook(
            "z",
            "ConfigMap",
            "    helm.sh/hook: pre-install\n    helm.sh/hook-weight: \"-1\"",
        ),
        hook(
            "c",
            "Secret",
            "    helm.sh/hook: pre-install,pre-install\n    helm.sh/hook-delete-policy: hook-failed, ΣΣ",
        ),
    ]
    .concat();
    let (hooks, _) = sort_manifests(&files(&[("c/templates/h.yaml", &text)]), INSTALL_ORDER).unwrap();
    let names = |event: &str| -> Vec<String> {
        release::hooks_for_event(&hooks, event)
            .iter()
            .map(|h| h.name().to_string())
            .collect()
    };
    assert_eq!(names("pre-install"), ["z", "c", "c", "a", "b"]);
    assert_eq!(names("post-install"), ["a"]);
    assert!(names("test").is_empty());
    let policies: Vec<Vec<String>> = hooks
        .iter()
        .map(|h| h.hook.as_ref().unwrap().effective_delete_policies())
        .collect();
    // hooks are in kind order: Secret, ConfigMap, Job, Job
    assert_eq!(
        policies,
        [
            vec!["hook-failed", "σσ"],
            vec!["before-hook-creation"],
            vec!["before-hook-creation"],
            vec!["before-hook-creation"]
        ]
    );
}

#[test]
fn notes_are_the_top_charts_unless_sub_notes() {
    let f = files(&[
        ("c/templates/NOTES.txt", "top"),
        ("c/charts/sub/templates/NOTES.txt", "sub"),
        ("c/templates/cm.yaml", "kind: ConfigMap"),
    ]);
    assert_eq!(release::release_notes(&f, "c", false), "top");
    assert_eq!(release::release_notes(&f, "c", true), "sub\ntop");
    assert_eq!(release::release_notes(&f, "other", false), "");
}

/// Odd and random documents: errors at most, never a panic.
#[test]
fn never_panics_on_odd_documents() {
    let odd = [
        "---",
        "- - -",
        "? a\n: b",
        "a: &x [*x]",
        "!!binary aGVsbG8=",
        "a: !!float x",
        "{a: 1, a: 2}",
        "key: [1, .nan]",
        "'unterminated",
        "~: x",
        "[a]: b",
        "metadata: {annotations: {helm.sh/hook: ''}}",
        "kind: A\n...\nkind: B",
        "\u{feff}kind: A",
        "kind: 99999999999999999999999",
        "kind: 1e400",
        "metadata:\n  annotations:\n    helm.sh/hook-weight: 99999999999999999999",
    ];
    for d in odd {
        let _ = read_head(d);
        let _ = helm_template_output(
            &files(&[("c/templates/x.yaml", d)]),
            &[],
            &TemplateOptions::default(),
        );
    }
    let alphabet: Vec<char> = "-\n :a[]{}#'\"&*!|>.,?é\t".chars().collect();
    let mut seed: u64 = 42;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..5000 {
        let len = next() % 30;
        let s: String = (0..len).map(|_| alphabet[next() % alphabet.len()]).collect();
        let _ = split_manifests(&s);
        let _ = read_head(&s);
        let opts = TemplateOptions {
            show_only: vec![s.chars().take(5).collect()],
            ..Default::default()
        };
        let _ = helm_template_output(&files(&[("c/templates/x.yaml", &s)]), &[], &opts);
        let _ = glob_match(&s, "templates/a.yaml");
    }
}

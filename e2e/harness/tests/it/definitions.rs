//! Cluster definitions: the invalid corpus under fixtures/cluster-definitions/invalid/ (each
//! case a clusters/ directory and the exact errors expected), and the valid definitions of
//! the releases round-tripping through the model.

use std::path::{Path, PathBuf};

use hubspoke::definition::{ClusterType, Definitions};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The errors of a case as the user sees them, with paths relative to the case directory.
fn rendered(case: &Path) -> String {
    match Definitions::load(&case.join("clusters")) {
        Ok(_) => String::from("(no errors)\n"),
        Err(errs) => {
            let prefix = format!("{}/", case.display());
            errs.0
                .iter()
                .map(|e| format!("{}\n", e.to_string().replace(&prefix, "")))
                .collect()
        }
    }
}

#[test]
fn every_invalid_definition_gets_its_exact_error() {
    let corpus = repo_root().join("fixtures/cluster-definitions/invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "the corpus has {} cases", cases.len());
    let bless = std::env::var_os("HUBSPOKE_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let got = rendered(case);
        let expected_file = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_file, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_file.display()));
        assert_ne!(got, "(no errors)\n", "{} is accepted", case.display());
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn release_definitions_load_and_round_trip() {
    for release in ["release/hub-kind"] {
        let defs = Definitions::load(&repo_root().join(release)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defs.hub().cluster_name, "hub");
        assert_eq!(defs.hub().cluster_type, ClusterType::Hub);
        let spokes: Vec<&str> = defs.spokes().map(|s| s.cluster_name.as_str()).collect();
        assert_eq!(spokes, ["spoke-a", "spoke-b"]);
        for c in &defs.clusters {
            let again = hubspoke::definition::parse(&c.file, &c.to_yaml())
                .unwrap_or_else(|e| panic!("{}: {e:?}\n{}", c.file.display(), c.to_yaml()));
            assert_eq!(&again, c);
        }
        // selection is tested through a label that differs between the spokes
        let a = defs.get("spoke-a").unwrap();
        let b = defs.get("spoke-b").unwrap();
        assert_ne!(a.labels, b.labels);
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // a cheap fuzz over mutations of a valid definition: every result is Ok or errors with
    // positions inside the text
    let base = std::fs::read_to_string(repo_root().join("release/hub-kind/clusters/spoke-a.yaml")).unwrap();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let specials = [
        "\"", "'", ":", "- ", "[", "{", "\n  ", "&a", "*a", "!!binary", "\t", "#", "\u{0}", "é",
    ];
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut text = base.clone();
        let at = (seed as usize) % text.len();
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let s = specials[(seed >> 32) as usize % specials.len()];
        if seed.is_multiple_of(3) {
            let end = (at + 5).min(text.len());
            let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap();
            text.replace_range(at..end, s);
        } else {
            text.insert_str(at, s);
        }
        if let Err(errs) = hubspoke::definition::parse(Path::new("spoke-a.yaml"), &text) {
            assert!(!errs.is_empty());
            let lines = text.lines().count() as u64 + 1;
            for e in errs {
                assert!(e.line <= lines, "{e} beyond the text:\n{text}");
            }
        }
    }
}

//! The differential corpus: hand-written cases per feature (tests/corpus/*.yaml) and
//! generated ones, compared byte for byte with the outputs and errors Go's text/template
//! gave (recorded in tests/corpus/expected.json by the oracle, tools/gotmpl-oracle).

use crate::common;

use common::*;

#[test]
fn corpus_matches_go() {
    let expected = load_expected();
    let cases = all_cases();
    let hand = cases
        .iter()
        .filter(|c| !c.id.starts_with("generated/") && !c.id.starts_with("typed/"))
        .count();
    assert!(
        hand >= 300,
        "the hand-written corpus has {hand} cases, fewer than 300"
    );
    let mut mismatches = Vec::new();
    for c in &cases {
        if let Some((go, want)) = &c.newer_go {
            let got = render(c);
            if &got != want {
                mismatches.push(format!(
                    "{} (Go {go}):\n  template: {:?}\n  want: {:?}\n  rust: {:?}",
                    c.id, c.template, want, got
                ));
            }
            continue;
        }
        let Some(e) = expected.get(&c.id) else {
            mismatches.push(format!(
                "{}: no recorded output (run the oracle test with HUBSPOKE_RENDER_RECORD=1)",
                c.id
            ));
            continue;
        };
        if e.template != c.template {
            mismatches.push(format!(
                "{}: the recorded template differs from the case's; re-record",
                c.id
            ));
            continue;
        }
        let got = render(c);
        let want = match (&e.output, &e.error) {
            (_, Some(err)) => Err(err.clone()),
            (Some(o), None) => Ok(o.clone()),
            (None, None) => Ok(String::new()),
        };
        if got != want {
            mismatches.push(format!(
                "{}:\n  template: {:?}\n  go:   {:?}\n  rust: {:?}",
                c.id, c.template, want, got
            ));
        }
    }
    println!(
        "{} cases ({} hand-written, {} generated), {} mismatches",
        cases.len(),
        hand,
        cases.len() - hand,
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches with Go:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Re-runs Go on every case: the recorded outputs must still be Go's. With
/// HUBSPOKE_RENDER_RECORD=1 it records them instead.
#[test]
fn recorded_outputs_are_gos() {
    let Some(bin) = build_oracle() else {
        println!("note: `go` is not installed; the recorded outputs were not re-checked against Go");
        return;
    };
    let (cases, newer): (Vec<Case>, Vec<Case>) = all_cases().into_iter().partition(|c| c.newer_go.is_none());
    println!(
        "note: {} cases need a newer Go than the oracle's (else with: Go 1.23); their expectations are hand-written",
        newer.len()
    );
    let results = run_oracle(&bin, &cases);
    assert_eq!(results.len(), cases.len());
    let fresh: std::collections::BTreeMap<String, Expected> = cases
        .iter()
        .zip(results)
        .map(|(c, r)| {
            let (output, error) = match r {
                Ok(o) => (Some(o), None),
                Err(e) => (None, Some(e)),
            };
            (
                c.id.clone(),
                Expected {
                    template: c.template.clone(),
                    output,
                    error,
                },
            )
        })
        .collect();
    if std::env::var_os("HUBSPOKE_RENDER_RECORD").is_some() {
        let text = serde_json::to_string_pretty(&fresh).expect("json") + "\n";
        std::fs::write(expected_path(), text).expect("write expected.json");
        println!("recorded {} cases", fresh.len());
        return;
    }
    let recorded = load_expected();
    let mut diffs = Vec::new();
    for (id, e) in &fresh {
        if recorded.get(id) != Some(e) {
            diffs.push(format!(
                "{id}: recorded {:?}, Go now gives {:?}",
                recorded.get(id),
                e
            ));
        }
    }
    for id in recorded.keys() {
        if !fresh.contains_key(id) {
            diffs.push(format!("{id}: recorded but no longer in the corpus"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} recorded outputs differ from Go's:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Mutated corpus templates (characters deleted, inserted, truncated; seeded), rendered by
/// Go and by hubspoke-render: equal outputs or equal error texts. Needs `go`.
#[test]
fn mutations_match_go() {
    let Some(bin) = build_oracle() else {
        println!("note: `go` is not installed; mutations were not compared with Go");
        return;
    };
    let base = hand_written();
    let seed = std::env::var("HUBSPOKE_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut r = Rng::new(seed);
    let n: usize = std::env::var("HUBSPOKE_MUTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut cases = Vec::with_capacity(n);
    for i in 0..n {
        let c = &base[r.below(base.len())];
        // function values print as their address in Go: not comparable
        if c.newer_go.is_some() || c.data.to_string().contains("$func") || c.funcs {
            continue;
        }
        let template = mutate(
            &mut r,
            &c.template,
            &[
                '{', '}', '(', ')', '"', '$', '.', '-', ' ', '|', '\n', '/', '*', '`', '\'',
            ],
            1,
        );
        if nondeterministic(&template) || version_dependent(&template) {
            continue;
        }
        let mut m = c.clone();
        m.id = format!("mutation/{i:04}");
        m.template = template;
        cases.push(m);
    }
    let results = run_oracle(&bin, &cases);
    let mut mismatches = Vec::new();
    for (c, want) in cases.iter().zip(results) {
        let got = render(c);
        if got != want {
            mismatches.push(format!(
                "{}:\n  template: {:?}\n  go:   {:?}\n  rust: {:?}",
                c.id, c.template, want, got
            ));
        }
    }
    println!("{} mutations, {} mismatches", cases.len(), mismatches.len());
    assert!(
        mismatches.is_empty(),
        "{} mismatches with Go:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Whether a template may call a sprig function whose result depends on the clock or on
/// randomness (a mutated `date "..." 0` can turn into `date "..." .x`, which is now).
fn nondeterministic(template: &str) -> bool {
    const NAMES: &[&str] = &[
        "now",
        "ago",
        "date",
        "dateInZone",
        "date_in_zone",
        "htmlDate",
        "htmlDateInZone",
        "durationRound",
        "randAlphaNum",
        "randAlpha",
        "randAscii",
        "randNumeric",
        "randBytes",
        "randInt",
        "uuidv4",
        "shuffle",
        "bcrypt",
        "htpasswd",
        "genPrivateKey",
        "genCA",
        "genCAWithKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "encryptAES",
        "getHostByName",
    ];
    template
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| NAMES.contains(&w))
}

/// Whether a template may hit a behaviour that differs between the oracle's libraries
/// (Debian's) and Helm's: semver 3.3.0 rewrites a hyphen range with a trailing space, and
/// Go 1.20+ time parse errors name the value where the failing element began.
fn version_dependent(template: &str) -> bool {
    (template.contains("semverCompare") && template.contains(" - ")) || template.contains("mustToDate")
}

//! Nothing panics on any input: seeded property tests over random bytes, over mutations of
//! the corpus templates and over the grammar, parsing and executing each input under every
//! missingkey option.

use crate::common;

use common::*;
use hubspoke_render::{MissingKey, Options, Template, Value};

fn run(text: &str, data: &Value) {
    // any result is fine; a panic fails the test and names the input
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Ok(t) = Template::parse("fuzz", text) {
            for mk in [MissingKey::Invalid, MissingKey::Zero, MissingKey::Error] {
                let _ = t.execute(data, &Options { missing_key: mk });
            }
        }
    }));
    assert!(r.is_ok(), "panic on input {text:?}");
}

fn iterations() -> usize {
    std::env::var("HUBSPOKE_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn random_bytes_never_panic() {
    let mut r = Rng::new(1);
    let data = to_value(&kinds_data());
    let alphabet: &[u8] = b"{{}}{}-/* \n\t.$:=|()\"'`\\,abcdefxyz0123456789_ifelsendrangewithdefinetemplateblockbreakcontinuenil";
    for _ in 0..iterations() {
        let n = r.below(40);
        let bytes: Vec<u8> = (0..n)
            .map(|_| {
                if r.below(8) == 0 {
                    (r.next() & 0xff) as u8
                } else {
                    alphabet[r.below(alphabet.len())]
                }
            })
            .collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        run(&format!("{{{{{text}"), &data);
        run(&text, &data);
    }
}

#[test]
fn corpus_mutations_never_panic() {
    let mut r = Rng::new(2);
    let cases = hand_written();
    let data = to_value(&kinds_data());
    for _ in 0..iterations() {
        let c = &cases[r.below(cases.len())];
        let text = mutate(
            &mut r,
            &c.template,
            &['{', '}', '(', ')', '"', '$', '.', '-', ' ', '|', '\n'],
            0,
        );
        run(&text, &to_value(&c.data));
        run(&text, &data);
    }
}

#[test]
fn grammar_walks_never_panic() {
    for c in generated(iterations())
        .iter()
        .chain(&generated_typed(iterations()))
    {
        run(&c.template, &to_value(&c.data));
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    let depth = 20_000;
    let text = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
    let t = Template::parse("deep", &format!("{{{{print {text}}}}}")).expect("parse");
    assert_eq!(t.execute(&Value::Nil, &Options::default()).expect("execute"), "1");
    let ifs = format!("{}x{}", "{{if true}}".repeat(depth), "{{end}}".repeat(depth));
    let t = Template::parse("ifs", &ifs).expect("parse");
    assert_eq!(t.execute(&Value::Nil, &Options::default()).expect("execute"), "x");
}

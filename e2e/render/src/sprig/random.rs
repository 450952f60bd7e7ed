//! sprig's random strings (`randAlphaNum`, `randAlpha`, `randAscii`, `randNumeric`, from
//! goutils' `CryptoRandom*`) and `uuidv4`, from the operating system's secure generator.

use rand::Rng;

use crate::FuncMap;
use crate::value::{Arg, Function, ParamType, Value};

const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DIGITS: &[u8] = b"0123456789";

/// `count` characters drawn uniformly from `set`; goutils' error for a negative count is
/// dropped by sprig, which then returns the empty string.
pub(crate) fn random_from(set: &[u8], count: i64) -> String {
    if count <= 0 || set.is_empty() {
        return String::new();
    }
    let mut rng = rand::rng();
    (0..count)
        .map(|_| char::from(set[rng.random_range(0..set.len())]))
        .collect()
}

fn charset(which: &str) -> Vec<u8> {
    match which {
        // goutils draws from ' '..='z' and keeps letters and/or digits
        "randAlphaNum" => [LETTERS, DIGITS].concat(),
        "randAlpha" => LETTERS.to_vec(),
        "randNumeric" => DIGITS.to_vec(),
        // printable ASCII, 32..=126
        _ => (32u8..127).collect(),
    }
}

pub(super) fn register(m: &mut FuncMap) {
    for name in ["randAlphaNum", "randAlpha", "randAscii", "randNumeric"] {
        let set = charset(name);
        m.insert(
            name.into(),
            Function::new(vec![ParamType::Int], false, "string", false, move |a| {
                let n = match a.first().map(Arg::value) {
                    Some(Value::Int(n)) => n,
                    _ => 0,
                };
                // goutils makes a []rune of the count: past Go's allocation limit (2^48
                // bytes) that panics, which text/template reports as the call's error
                if n > (1 << 46) {
                    return Err("runtime error: makeslice: len out of range".into());
                }
                Ok(Arg::Value(Value::String(random_from(&set, n))))
            }),
        );
    }
    m.insert(
        "uuidv4".into(),
        Function::new(vec![], false, "string", false, |_| {
            Ok(Arg::Value(Value::String(uuid::Uuid::new_v4().to_string())))
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Template};

    fn render(text: &str) -> Result<String, String> {
        let mut m = FuncMap::new();
        register(&mut m);
        let mut t = Template::new("t").funcs(m);
        t.add_parse("t", text).map_err(|e| e.to_string())?;
        t.execute(&Value::Nil, &Options::default())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn character_sets_and_lengths() {
        let s = render("{{randAlphaNum 200}}").unwrap();
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(|c| c.is_ascii_alphanumeric()));
        let s = render("{{randAlpha 200}}").unwrap();
        assert!(s.len() == 200 && s.bytes().all(|c| c.is_ascii_alphabetic()));
        let s = render("{{randNumeric 200}}").unwrap();
        assert!(s.len() == 200 && s.bytes().all(|c| c.is_ascii_digit()));
        let s = render("{{randAscii 500}}").unwrap();
        assert!(s.len() == 500 && s.bytes().all(|c| (32..=126).contains(&c)));
        // with 500 draws from 95 characters, a space and a tilde are near certain
        assert_ne!(
            render("{{randAlphaNum 20}}").unwrap(),
            render("{{randAlphaNum 20}}").unwrap()
        );
        assert_eq!(render("[{{randAlpha 0}}{{randAlpha -5}}]").unwrap(), "[]");
        assert!(render("{{randAlpha \"x\"}}").is_err());
    }

    #[test]
    fn uuids_are_version_4() {
        let s = render("{{uuidv4}}").unwrap();
        let u = uuid::Uuid::parse_str(&s).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(s.len(), 36);
        assert_eq!(s, s.to_lowercase());
        assert_ne!(s, render("{{uuidv4}}").unwrap());
    }
}

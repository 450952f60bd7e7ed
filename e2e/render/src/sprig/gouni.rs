//! Go's `unicode` package predicates and simple case mappings (Go's tables are by general
//! category, Rust's `char` methods by derived properties; they differ for letters such as
//! `ª` or circled letters, and Rust's case mappings are the full ones).

use std::sync::OnceLock;

use regex::Regex;

fn class(cell: &'static OnceLock<Option<Regex>>, pat: &str, c: char) -> bool {
    let re = cell.get_or_init(|| Regex::new(pat).ok());
    let mut buf = [0u8; 4];
    re.as_ref().is_some_and(|r| r.is_match(c.encode_utf8(&mut buf)))
}

macro_rules! category {
    ($name:ident, $pat:expr, $ascii:expr) => {
        pub(crate) fn $name(c: char) -> bool {
            if c.is_ascii() {
                #[allow(clippy::redundant_closure_call)]
                return ($ascii)(c);
            }
            static RE: OnceLock<Option<Regex>> = OnceLock::new();
            class(&RE, $pat, c)
        }
    };
}

category!(is_letter, r"\A\p{L}\z", |c: char| c.is_ascii_alphabetic());
category!(is_upper, r"\A\p{Lu}\z", |c: char| c.is_ascii_uppercase());
category!(is_lower, r"\A\p{Ll}\z", |c: char| c.is_ascii_lowercase());
category!(is_title, r"\A\p{Lt}\z", |_c: char| false);
category!(is_digit, r"\A\p{Nd}\z", |c: char| c.is_ascii_digit());
category!(is_number, r"\A\p{N}\z", |c: char| c.is_ascii_digit());
category!(is_punct, r"\A\p{P}\z", |c: char| c.is_ascii_punctuation()
    && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~'));

/// Go's `unicode.IsSpace`.
pub(crate) fn is_space(c: char) -> bool {
    match c {
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}' => true,
        c if (c as u32) < 0x100 => false,
        c => c.is_whitespace(),
    }
}

/// Greek letters with ypogegrammeni: their simple upper and title case mapping.
fn greek_iota(c: char) -> Option<char> {
    let u = c as u32;
    let m = match u {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => u + 8,
        0x1FB3 => 0x1FBC,
        0x1FC3 => 0x1FCC,
        0x1FF3 => 0x1FFC,
        _ => return None,
    };
    char::from_u32(m)
}

/// Go's `unicode.ToUpper` (the simple mapping).
pub(crate) fn to_upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => greek_iota(c).unwrap_or(c),
    }
}

/// Go's `unicode.ToLower` (the simple mapping).
pub(crate) fn to_lower(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if c == '\u{130}' {
        return 'i';
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Go's `unicode.ToTitle`.
pub(crate) fn to_title(c: char) -> char {
    let u = c as u32;
    let t = match u {
        0x1C4..=0x1C6 => 0x1C5,
        0x1C7..=0x1C9 => 0x1C8,
        0x1CA..=0x1CC => 0x1CB,
        0x1F1..=0x1F3 => 0x1F2,
        0x10D0..=0x10FA | 0x10FD..=0x10FF => u,
        _ => return to_upper(c),
    };
    char::from_u32(t).unwrap_or(c)
}

/// Go's `strings.ToUpper`.
pub(crate) fn str_upper(s: &str) -> String {
    s.chars().map(to_upper).collect()
}

/// Go's `strings.ToLower`.
pub(crate) fn str_lower(s: &str) -> String {
    s.chars().map(to_lower).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_categories_and_simple_mappings() {
        assert!(is_upper('É') && !is_upper('Ⓐ') && is_lower('ß') && !is_lower('ª'));
        assert!(is_letter('ª') && !is_letter('Ⅻ') && is_number('Ⅻ') && !is_digit('Ⅻ'));
        assert!(is_punct('!') && !is_punct('+') && is_punct('¿'));
        assert_eq!(to_upper('ß'), 'ß');
        assert_eq!(to_lower('İ'), 'i');
        assert_eq!(to_title('ǆ'), 'ǅ');
        assert_eq!(to_upper('ᾀ'), 'ᾈ');
        assert!(is_space('\u{85}') && is_space('\u{2003}') && !is_space('\u{200b}'));
    }
}

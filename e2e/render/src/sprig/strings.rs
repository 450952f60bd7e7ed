//! sprig's string functions (strings.go, the string entries of functions.go, and the
//! helpers it takes from goutils and xstrings, as sprig 3.3.0 with xstrings 1.5.0 and
//! goutils 1.1.1 behave).

use crate::gofmt;
use crate::value::{Arg, FuncMap, FuncResult, Function, ParamType, Value};

use super::gouni;
use super::util::{strslice, strval};

use ParamType::{Any, Int, String as Str};

pub(super) fn add(
    m: &mut FuncMap,
    name: &str,
    params: Vec<ParamType>,
    variadic: bool,
    result: &str,
    returns_error: bool,
    f: impl Fn(&[Arg]) -> FuncResult + Send + Sync + 'static,
) {
    m.insert(
        name.to_string(),
        Function::new(params, variadic, result, returns_error, f),
    );
}

/// A string argument.
pub(super) fn sarg(a: &[Arg], i: usize) -> String {
    match a.get(i).map(Arg::value) {
        Some(Value::String(s)) => s,
        Some(Value::Nil) | None => String::new(),
        Some(v) => strval(&v),
    }
}

/// An int argument.
pub(super) fn iarg(a: &[Arg], i: usize) -> i64 {
    match a.get(i).map(Arg::value) {
        Some(Value::Int(n) | Value::Int64(n)) => n,
        Some(Value::Uint8(n)) => i64::from(n),
        _ => 0,
    }
}

pub(super) fn ok_s(s: String) -> FuncResult {
    Ok(Arg::Value(Value::String(s)))
}

pub(super) fn ok_b(b: bool) -> FuncResult {
    Ok(Arg::Value(Value::Bool(b)))
}

pub(super) fn str_list(v: Vec<String>) -> Value {
    Value::slice(v.into_iter().map(Value::String))
}

/// Bytes as Go's string of them would print: each byte of an invalid UTF-8 sequence
/// becomes U+FFFD (as Go's range and encoding/json see it).
pub(super) fn lossy(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&rest[..good]).unwrap_or_default());
                out.push('\u{FFFD}');
                rest = &rest[good + 1..];
            }
        }
    }
    out
}

/// Go's runtime panic texts for string slicing, checked as Go checks them.
pub(super) fn slice_str(s: &str, lo: Option<i64>, hi: Option<i64>) -> Result<String, String> {
    let len = s.len() as i64;
    let h = hi.unwrap_or(len);
    let l = lo.unwrap_or(0);
    if let Some(h) = hi {
        if h < 0 {
            return Err(match lo {
                Some(l) => format!("runtime error: slice bounds out of range [{l}:{h}]"),
                None => format!("runtime error: slice bounds out of range [:{h}]"),
            });
        }
        if h > len {
            return Err(format!(
                "runtime error: slice bounds out of range [:{h}] with length {len}"
            ));
        }
    }
    if l < 0 {
        return Err(format!("runtime error: slice bounds out of range [{l}:]"));
    }
    if l > h {
        return Err(format!("runtime error: slice bounds out of range [{l}:{h}]"));
    }
    Ok(lossy(&s.as_bytes()[l as usize..h as usize]))
}

/// Go 1.23's strings.Repeat (Helm's Go), its panics as errors. Go would try to allocate
/// any result up to its heap limit; past 1 GiB this refuses instead.
fn repeat(s: &str, count: i64) -> Result<String, String> {
    if count == 0 {
        return Ok(String::new());
    }
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let Some(n) = (s.len() as i64).checked_mul(count) else {
        return Err("strings: Repeat output length overflow".into());
    };
    if n > 1 << 48 {
        // beyond Go's maxAlloc, strings.Builder's allocation panics
        return Err("runtime error: makeslice: len out of range".into());
    }
    if n > 1 << 30 {
        return Err(format!(
            "strings: Repeat output of {n} bytes is over this renderer's 1 GiB limit"
        ));
    }
    Ok(s.repeat(count as usize))
}

fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let l = s.chars().count() as i64;
        let n = if n < 0 || n > l { l } else { n } as usize;
        let mut out = Vec::with_capacity(n);
        let mut rest = s;
        for _ in 0..n.saturating_sub(1) {
            let Some(c) = rest.chars().next() else { break };
            out.push(c.to_string());
            rest = &rest[c.len_utf8()..];
        }
        if n > 0 {
            out.push(rest.to_string());
        }
        return out;
    }
    if n < 0 {
        s.split(sep).map(str::to_string).collect()
    } else {
        s.splitn(n as usize, sep).map(str::to_string).collect()
    }
}

fn split_map(parts: Vec<String>) -> Value {
    Value::map(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::String(p))),
    )
}

/// Go's strings.Title.
fn title(s: &str) -> String {
    fn is_sep(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if gouni::is_letter(c) || gouni::is_digit(c) {
            return false;
        }
        gouni::is_space(c)
    }
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_sep(prev) { gouni::to_title(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

/// goutils' Uncapitalize (whitespace-separated words).
fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if gouni::is_space(c) {
                next = true;
                c
            } else if next {
                next = false;
                gouni::to_lower(c)
            } else {
                c
            }
        })
        .collect()
}

/// A byte read as a rune (goutils walks some strings byte by byte).
fn byte_rune(b: u8) -> char {
    char::from(b)
}

/// goutils' DeleteWhiteSpace: byte by byte, each byte taken as the rune of that value.
fn nospace(s: &str) -> String {
    let kept: Vec<char> = s
        .bytes()
        .map(byte_rune)
        .filter(|c| !gouni::is_space(*c))
        .collect();
    if kept.len() == s.len() {
        return s.to_string();
    }
    kept.into_iter().collect()
}

/// goutils' Initials: byte by byte, as nospace.
fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for c in s.bytes().map(byte_rune) {
        if gouni::is_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

/// goutils' SwapCase.
fn swapcase(s: &str) -> String {
    let mut ws = true;
    s.chars()
        .map(|c| {
            if gouni::is_upper(c) || gouni::is_title(c) {
                ws = false;
                gouni::to_lower(c)
            } else if gouni::is_lower(c) {
                if ws {
                    ws = false;
                    gouni::to_title(c)
                } else {
                    gouni::to_upper(c)
                }
            } else {
                ws = gouni::is_space(c);
                c
            }
        })
        .collect()
}

/// goutils' AbbreviateFull (its errors give "").
fn abbreviate_full(s: &[u8], offset: i64, max: i64) -> Vec<u8> {
    if s.is_empty() || max < 4 {
        return Vec::new();
    }
    let len = s.len() as i64;
    if len <= max {
        return s.to_vec();
    }
    let mut offset = offset;
    if offset > len {
        offset = len;
    }
    if len.wrapping_sub(offset) < max - 3 {
        offset = len - (max - 3);
    }
    let mut out = b"...".to_vec();
    if offset <= 4 {
        let mut v = s[..(max - 3) as usize].to_vec();
        v.extend_from_slice(b"...");
        return v;
    }
    if max < 7 {
        return Vec::new();
    }
    if offset.wrapping_add(max - 3) < len {
        out.extend(abbreviate_full(&s[offset as usize..], 0, max - 3));
        return out;
    }
    out.extend_from_slice(&s[(len - (max - 3)) as usize..]);
    out
}

/// goutils' WrapCustom, byte by byte as goutils does.
fn wrap_custom(s: &str, width: i64, nl: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let width = width.max(1);
    let b = s.as_bytes();
    let len = b.len() as i64;
    let mut offset: i64 = 0;
    let mut out: Vec<u8> = Vec::new();
    while len - offset > width {
        if b[offset as usize] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1) as usize;
        let space = b[offset as usize..end]
            .iter()
            .rposition(|&c| c == b' ')
            .map(|p| p as i64 + offset)
            .unwrap_or(offset - 1);
        if space >= offset {
            out.extend_from_slice(&b[offset as usize..space as usize]);
            out.extend_from_slice(nl.as_bytes());
            offset = space + 1;
        } else if long_words {
            let end = (width + offset) as usize;
            out.extend_from_slice(&b[offset as usize..end]);
            out.extend_from_slice(nl.as_bytes());
            offset += width;
        } else {
            let end = (width + offset) as usize;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset as usize..]);
                    offset = len;
                }
                Some(i) => {
                    let space = i + end;
                    out.extend_from_slice(&b[offset as usize..space]);
                    out.extend_from_slice(nl.as_bytes());
                    offset = space as i64 + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[offset as usize..]);
    lossy(&out)
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || gouni::is_space(c)
}

/// xstrings' isAlphabet: a letter that is not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    if !gouni::is_letter(c) {
        return false;
    }
    !matches!(c as u32, 0x4E00..=0x9FCC | 0x3400..=0x4D85 | 0x20000..=0x2B81D)
}

/// xstrings 1.5.0's ToPascalCase (sprig 3.3.0's camelcase).
fn pascal_case(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut first_upper = false;
    let mut r0 = None;
    for c in chars.by_ref() {
        if !is_connector(c) {
            first_upper = gouni::is_upper(c);
            r0 = Some(gouni::to_upper(c));
            break;
        }
        out.push(c);
    }
    let Some(mut r0) = r0 else { return out };
    if chars.peek().is_none() {
        out.push(r0);
        return out;
    }
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = gouni::is_upper(r0);
            r0 = gouni::to_upper(r0);
        } else {
            if first_upper {
                if gouni::is_upper(r0) {
                    r0 = gouni::to_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alpha,
    Connector,
    Punct,
    Other,
}

const BAD: char = '\u{FFFD}';

/// The next rune that is not U+FFFD (Go's decoder reports invalid bytes as U+FFFD too)
/// and the bytes up to and including it; `prev` when there is none.
fn next_valid(s: &str, prev: char) -> (char, usize) {
    let mut size = 0;
    for c in s.chars() {
        size += c.len_utf8();
        if c != BAD {
            return (c, size);
        }
    }
    (prev, size)
}

fn next_word(s: &str) -> (Word, &str, &str) {
    if s.is_empty() {
        return (Word::Invalid, "", "");
    }
    let (mut r, mut size) = next_valid(s, BAD);
    let mut offset = size;
    if r == BAD {
        return (Word::Invalid, &s[..offset], &s[offset..]);
    }
    let mut rem = &s[size..];
    let wt;
    let run = |rem: &mut &str, offset: &mut usize, r: &mut char, stop: &dyn Fn(char) -> bool| {
        while !rem.is_empty() {
            let (c, sz) = next_valid(rem, *r);
            *r = c;
            if stop(c) {
                break;
            }
            *offset += sz;
            *rem = &rem[sz..];
        }
    };
    if is_connector(r) {
        wt = Word::Connector;
        run(&mut rem, &mut offset, &mut r, &|c| !is_connector(c));
    } else if gouni::is_punct(r) {
        wt = Word::Punct;
        run(&mut rem, &mut offset, &mut r, &|c| !gouni::is_punct(c));
    } else if gouni::is_upper(r) {
        wt = Word::Upper;
        if !rem.is_empty() {
            (r, size) = next_valid(rem, r);
            if gouni::is_upper(r) {
                let mut prev_size = size;
                offset += size;
                rem = &rem[size..];
                while !rem.is_empty() {
                    (r, size) = next_valid(rem, r);
                    if !gouni::is_upper(r) {
                        break;
                    }
                    prev_size = size;
                    offset += size;
                    rem = &rem[size..];
                }
                if !rem.is_empty() && is_alphabet(r) {
                    offset -= prev_size;
                    rem = &s[offset..];
                }
            } else if is_alphabet(r) {
                offset += size;
                rem = &rem[size..];
                run(&mut rem, &mut offset, &mut r, &|c| {
                    !is_alphabet(c) || gouni::is_upper(c)
                });
            }
        }
    } else if is_alphabet(r) {
        wt = Word::Alpha;
        run(&mut rem, &mut offset, &mut r, &|c| {
            !is_alphabet(c) || gouni::is_upper(c)
        });
    } else if gouni::is_number(r) {
        wt = Word::Number;
        run(&mut rem, &mut offset, &mut r, &|c| !gouni::is_number(c));
    } else {
        wt = Word::Other;
        while !rem.is_empty() {
            let (c, sz) = next_valid(rem, r);
            r = c;
            if sz == 0 || is_connector(c) || is_alphabet(c) || gouni::is_number(c) || gouni::is_punct(c) {
                break;
            }
            offset += sz;
            rem = &rem[sz..];
        }
    }
    (wt, &s[..offset], rem)
}

fn word_lower(out: &mut String, wt: Word, s: &str, conn: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if is_connector(c) {
            out.push(conn);
        } else if gouni::is_upper(c) {
            out.push(gouni::to_lower(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings' snake and kebab case.
fn lower_case_words(s: &str, conn: char) -> String {
    use Word::*;
    let mut out = String::new();
    if s.is_empty() {
        return out;
    }
    let (mut wt, mut word, mut rem) = next_word(s);
    while !rem.is_empty() {
        if wt != Connector {
            word_lower(&mut out, wt, word, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word, rem) = next_word(rem);
        match prev {
            Number => {
                while wt == Alpha || wt == Number {
                    word_lower(&mut out, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Invalid && wt != Punct && wt != Connector {
                    out.push(conn);
                }
            }
            Connector => word_lower(&mut out, prev, last, conn),
            Punct => {}
            _ => {
                if wt != Number {
                    if wt != Connector && wt != Punct {
                        out.push(conn);
                    }
                    continue;
                }
                if rem.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, rem) = next_word(rem);
                if wt != Alpha {
                    word_lower(&mut out, Number, last, conn);
                    if wt != Connector && wt != Punct {
                        out.push(conn);
                    }
                    continue;
                }
                out.push(conn);
                word_lower(&mut out, Number, last, conn);
                while wt == Alpha || wt == Number {
                    word_lower(&mut out, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Invalid && wt != Connector && wt != Punct {
                    out.push(conn);
                }
            }
        }
    }
    word_lower(&mut out, wt, word, conn);
    out
}

/// xstrings' Shuffle: the runes in a random order.
pub(crate) fn shuffle(s: &str) -> String {
    use rand::Rng;
    let mut runes: Vec<char> = s.chars().collect();
    let mut rng = rand::rng();
    for i in (1..runes.len()).rev() {
        let j = rng.random_range(0..=i);
        runes.swap(i, j);
    }
    runes.into_iter().collect()
}

fn sort_alpha(v: &Value) -> Vec<String> {
    match v {
        Value::Slice(_) => {
            let mut l = strslice(v);
            l.sort();
            l
        }
        v => vec![strval(v)],
    }
}

fn s1(m: &mut FuncMap, name: &str, f: fn(&str) -> String) {
    add(m, name, vec![Str], false, "string", false, move |a| {
        ok_s(f(&sarg(a, 0)))
    });
}

fn s2(m: &mut FuncMap, name: &str, f: fn(&str, &str) -> String) {
    add(m, name, vec![Str, Str], false, "string", false, move |a| {
        ok_s(f(&sarg(a, 0), &sarg(a, 1)))
    });
}

fn b2(m: &mut FuncMap, name: &str, f: fn(&str, &str) -> bool) {
    add(m, name, vec![Str, Str], false, "bool", false, move |a| {
        ok_b(f(&sarg(a, 0), &sarg(a, 1)))
    });
}

pub(super) fn register(m: &mut FuncMap) {
    add(m, "hello", vec![], false, "string", false, |_| {
        ok_s("Hello!".into())
    });
    add(m, "abbrev", vec![Int, Str], false, "string", false, |a| {
        let (w, s) = (iarg(a, 0), sarg(a, 1));
        if w < 4 {
            return ok_s(s);
        }
        ok_s(lossy(&abbreviate_full(s.as_bytes(), 0, w)))
    });
    add(
        m,
        "abbrevboth",
        vec![Int, Int, Str],
        false,
        "string",
        false,
        |a| {
            let (l, r, s) = (iarg(a, 0), iarg(a, 1), sarg(a, 2));
            if r < 4 || l > 0 && r < 7 {
                return ok_s(s);
            }
            ok_s(lossy(&abbreviate_full(s.as_bytes(), l, r)))
        },
    );
    add(m, "trunc", vec![Int, Str], false, "string", false, |a| {
        let (c, s) = (iarg(a, 0), sarg(a, 1));
        let len = s.len() as i64;
        if c < 0 && len.wrapping_add(c) > 0 {
            return ok_s(lossy(&s.as_bytes()[(len + c) as usize..]));
        }
        if c >= 0 && len > c {
            return ok_s(lossy(&s.as_bytes()[..c as usize]));
        }
        ok_s(s)
    });
    s1(m, "trim", |s| s.trim_matches(gouni::is_space).to_string());
    s1(m, "upper", gouni::str_upper);
    s1(m, "lower", gouni::str_lower);
    s1(m, "title", title);
    s1(m, "untitle", untitle);
    add(m, "substr", vec![Int, Int, Str], false, "string", false, |a| {
        let (start, end, s) = (iarg(a, 0), iarg(a, 1), sarg(a, 2));
        let r = if start < 0 {
            slice_str(&s, None, Some(end))
        } else if end < 0 || end > s.len() as i64 {
            slice_str(&s, Some(start), None)
        } else {
            slice_str(&s, Some(start), Some(end))
        };
        r.map(|s| Arg::Value(Value::String(s)))
    });
    add(m, "repeat", vec![Int, Str], false, "string", false, |a| {
        repeat(&sarg(a, 1), iarg(a, 0)).map(|s| Arg::Value(Value::String(s)))
    });
    let trim_all = |cut: &str, s: &str| s.trim_matches(|c| cut.contains(c)).to_string();
    s2(m, "trimall", trim_all);
    s2(m, "trimAll", trim_all);
    s2(m, "trimSuffix", |suf, s| {
        s.strip_suffix(suf).unwrap_or(s).to_string()
    });
    s2(m, "trimPrefix", |pre, s| {
        s.strip_prefix(pre).unwrap_or(s).to_string()
    });
    s1(m, "nospace", nospace);
    s1(m, "initials", initials);
    s1(m, "swapcase", swapcase);
    s1(m, "shuffle", shuffle);
    s1(m, "snakecase", |s| lower_case_words(s, '_'));
    s1(m, "kebabcase", |s| lower_case_words(s, '-'));
    s1(m, "camelcase", pascal_case);
    add(m, "wrap", vec![Int, Str], false, "string", false, |a| {
        ok_s(wrap_custom(&sarg(a, 1), iarg(a, 0), "", false))
    });
    add(m, "wrapWith", vec![Int, Str, Str], false, "string", false, |a| {
        ok_s(wrap_custom(&sarg(a, 2), iarg(a, 0), &sarg(a, 1), true))
    });
    b2(m, "contains", |sub, s| s.contains(sub));
    b2(m, "hasPrefix", |p, s| s.starts_with(p));
    b2(m, "hasSuffix", |p, s| s.ends_with(p));
    add(m, "quote", vec![Any], true, "string", false, |a| {
        let parts: Vec<String> = a
            .iter()
            .map(Arg::value)
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| gofmt::quote(&strval(&v), false))
            .collect();
        ok_s(parts.join(" "))
    });
    add(m, "squote", vec![Any], true, "string", false, |a| {
        let parts: Vec<String> = a
            .iter()
            .map(Arg::value)
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| format!("'{}'", gofmt::format_v(&v)))
            .collect();
        ok_s(parts.join(" "))
    });
    add(m, "cat", vec![Any], true, "string", false, |a| {
        let parts: Vec<String> = a
            .iter()
            .map(Arg::value)
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| gofmt::format_v(&v))
            .collect();
        ok_s(parts.join(" "))
    });
    fn indent(n: i64, s: &str) -> Result<String, String> {
        let pad = repeat(" ", n)?;
        Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
    }
    add(m, "indent", vec![Int, Str], false, "string", false, |a| {
        indent(iarg(a, 0), &sarg(a, 1)).map(|s| Arg::Value(Value::String(s)))
    });
    add(m, "nindent", vec![Int, Str], false, "string", false, |a| {
        indent(iarg(a, 0), &sarg(a, 1)).map(|s| Arg::Value(Value::String(format!("\n{s}"))))
    });
    add(m, "replace", vec![Str, Str, Str], false, "string", false, |a| {
        ok_s(sarg(a, 2).replace(&sarg(a, 0), &sarg(a, 1)))
    });
    add(m, "plural", vec![Str, Str, Int], false, "string", false, |a| {
        ok_s(if iarg(a, 2) == 1 { sarg(a, 0) } else { sarg(a, 1) })
    });
    add(
        m,
        "split",
        vec![Str, Str],
        false,
        "map[string]string",
        false,
        |a| Ok(Arg::Value(split_map(go_split(&sarg(a, 1), &sarg(a, 0), -1)))),
    );
    add(
        m,
        "splitn",
        vec![Str, Int, Str],
        false,
        "map[string]string",
        false,
        |a| {
            Ok(Arg::Value(split_map(go_split(
                &sarg(a, 2),
                &sarg(a, 0),
                iarg(a, 1),
            ))))
        },
    );
    add(m, "splitList", vec![Str, Str], false, "[]string", false, |a| {
        Ok(Arg::Value(str_list(go_split(&sarg(a, 1), &sarg(a, 0), -1))))
    });
    add(m, "join", vec![Str, Any], false, "string", false, |a| {
        ok_s(strslice(&a[1].value()).join(&sarg(a, 0)))
    });
    add(m, "sortAlpha", vec![Any], false, "[]string", false, |a| {
        Ok(Arg::Value(str_list(sort_alpha(&a[0].value()))))
    });
    add(m, "toStrings", vec![Any], false, "[]string", false, |a| {
        Ok(Arg::Value(str_list(strslice(&a[0].value()))))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xstrings_cases() {
        for (i, o) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
        ] {
            assert_eq!(lower_case_words(i, '_'), o, "{i}");
        }
        for (i, o) in [
            ("some_words", "SomeWords"),
            ("http_server", "HttpServer"),
            ("no_https", "NoHttps"),
            ("_complex__case_", "_Complex_Case_"),
            ("some words", "SomeWords"),
            ("GOLANG_IS_GREAT", "GolangIsGreat"),
        ] {
            assert_eq!(pascal_case(i), o, "{i}");
        }
    }

    #[test]
    fn shuffle_in_a_template() {
        let mut t = crate::Template::new("t").funcs(crate::sprig::funcs());
        assert!(t.add_parse("t", "{{shuffle .}}|{{shuffle \"\"}}").is_ok());
        let sorted = |s: &str| {
            let mut v: Vec<char> = s.chars().collect();
            v.sort();
            v
        };
        for _ in 0..20 {
            let out = t
                .execute(&Value::from("héllo wörld"), &crate::Options::default())
                .unwrap_or_default();
            let (a, b) = out.split_once('|').unwrap_or(("", "x"));
            assert_eq!(sorted(a), sorted("héllo wörld"), "{out:?}");
            assert_eq!(b, "");
        }
    }

    #[test]
    fn shuffle_keeps_the_runes() {
        for s in ["", "a", "héllo wörld ✓", "aaaaab", "0123456789abcdefghij"] {
            let mut seen_other = false;
            for _ in 0..50 {
                let t = shuffle(s);
                let mut a: Vec<char> = s.chars().collect();
                let mut b: Vec<char> = t.chars().collect();
                a.sort();
                b.sort();
                assert_eq!(a, b, "{s:?} -> {t:?}");
                seen_other |= t != s;
            }
            // a string of distinct runes is reordered at least once in 50 tries
            if s.chars().count() > 5 {
                assert!(seen_other, "{s:?} never shuffled");
            }
        }
    }
}

//! sprig's regular-expression functions with Go's regexp semantics: patterns in Go's RE2
//! syntax are checked as Go's regexp/syntax parser checks them (Go's error texts) and
//! translated for the `regex` crate (ASCII `\d \s \w \b`, Go's class and escape rules);
//! matching loops, replacement expansion and Split follow Go's regexp package.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use regex::{Captures, Regex, RegexBuilder};

use crate::gofmt;
use crate::value::{Arg, FuncMap, ParamType, Value};

use super::strings::{add, iarg, ok_b, ok_s, sarg, str_list};

/// A compiled Go pattern.
pub(crate) struct Compiled {
    re: Regex,
    /// Capture names by index (index 0, the whole match, is unnamed).
    names: Vec<String>,
    expr_empty: bool,
}

fn perr(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

const GO_CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl",
    "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs",
];

/// Go 1.23's unicode.Scripts (Unicode 15).
const GO_SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];

const POSIX: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
    "upper", "word", "xdigit",
];

const ALL: &str = r"\x{0}-\x{10FFFF}";
const SPACE: &str = r"\x{9}\x{A}\x{C}\x{D}\x{20}";
const WORD: &str = "0-9A-Za-z_";

fn lit(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", c as u32)
    }
}

/// A Unicode class by Go's name, as a `regex` atom (usable inside a class too).
fn unicode_class(name: &str, neg: bool) -> Option<String> {
    let (p, n) = if neg { ("\\P", "^") } else { ("\\p", "") };
    Some(match name {
        "Any" => format!("[{n}{ALL}]"),
        // the crate's C includes unassigned code points; Go's is Cc|Cf|Co|Cs
        "C" => format!(r"[{n}\p{{Cc}}\p{{Cf}}\p{{Co}}]"),
        // no surrogate is ever in a string
        "Cs" => format!("[{}{ALL}]", if neg { "" } else { "^" }),
        c if GO_CATEGORIES.contains(&c) => format!("{p}{{{c}}}"),
        s if GO_SCRIPTS.contains(&s) => format!("{p}{{sc={s}}}"),
        _ => return None,
    })
}

/// The Perl class escape (`\d` ...) at `t`, as class items and whether it is negated.
fn perl_class(t: &str) -> Option<(&'static str, bool)> {
    let b = t.as_bytes();
    if b.len() < 2 || b[0] != b'\\' {
        return None;
    }
    Some(match b[1] {
        b'd' => ("0-9", false),
        b'D' => ("0-9", true),
        b's' => (SPACE, false),
        b'S' => (SPACE, true),
        b'w' => (WORD, false),
        b'W' => (WORD, true),
        _ => return None,
    })
}

fn is_octal(b: Option<&u8>) -> bool {
    matches!(b, Some(b'0'..=b'7'))
}

/// Go's parseEscape at `s` (starting with `\`): the rune and the bytes used.
fn parse_escape(s: &str) -> Result<(char, usize), String> {
    let b = s.as_bytes();
    let Some(c) = s[1..].chars().next() else {
        return Err(perr("trailing backslash at end of expression", ""));
    };
    let mut i = 1 + c.len_utf8();
    let bad = |i: usize| Err(perr("invalid escape sequence", &s[..i]));
    match c {
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => return Ok((c, i)),
        '1'..='7' | '0' => {
            if c != '0' && !is_octal(b.get(i)) {
                return bad(i);
            }
            let mut r = c as u32 - '0' as u32;
            for _ in 1..3 {
                if !is_octal(b.get(i)) {
                    break;
                }
                r = r * 8 + u32::from(b[i] - b'0');
                i += 1;
            }
            return Ok((char::from_u32(r).unwrap_or('\u{FFFD}'), i));
        }
        'x' => {
            let Some(c) = s[i..].chars().next() else {
                return bad(i);
            };
            i += c.len_utf8();
            if c == '{' {
                let mut r: u32 = 0;
                let mut n = 0;
                loop {
                    let Some(c) = s[i..].chars().next() else {
                        return bad(i);
                    };
                    i += c.len_utf8();
                    if c == '}' {
                        break;
                    }
                    let Some(v) = c.to_digit(16) else { return bad(i) };
                    r = r * 16 + v;
                    if r > 0x10FFFF {
                        return bad(i);
                    }
                    n += 1;
                }
                if n == 0 {
                    return bad(i);
                }
                return Ok((char::from_u32(r).unwrap_or('\u{FFFD}'), i));
            }
            let x = c.to_digit(16);
            let y = s[i..].chars().next();
            if let Some(y) = y {
                i += y.len_utf8();
            }
            return match (x, y.and_then(|y| y.to_digit(16))) {
                (Some(x), Some(y)) => Ok((char::from_u32(x * 16 + y).unwrap_or('\u{FFFD}'), i)),
                _ => bad(i),
            };
        }
        'a' => return Ok(('\u{7}', i)),
        'f' => return Ok(('\u{c}', i)),
        'n' => return Ok(('\n', i)),
        'r' => return Ok(('\r', i)),
        't' => return Ok(('\t', i)),
        'v' => return Ok(('\u{b}', i)),
        _ => {}
    }
    bad(i)
}

/// Go's parseUnicodeClass at `s` (`\p` or `\P`): the atom and the bytes used.
fn parse_unicode_class(s: &str) -> Result<(String, usize), String> {
    let mut neg = s.as_bytes()[1] == b'P';
    let t = &s[2..];
    let (seq_len, name) = match t.chars().next() {
        Some('{') => match s.find('}') {
            Some(end) => (end + 1, &s[3..end]),
            None => return Err(perr("invalid character class range", s)),
        },
        Some(c) => (2 + c.len_utf8(), &t[..c.len_utf8()]),
        None => (2, ""),
    };
    let name = match name.strip_prefix('^') {
        Some(n) => {
            neg = !neg;
            n
        }
        None => name,
    };
    match unicode_class(name, neg) {
        Some(a) => Ok((a, seq_len)),
        None => Err(perr("invalid character class range", &s[..seq_len])),
    }
}

/// Go's parseClass at `s` (starting with `[`): the `regex` class and the bytes used.
fn parse_class(s: &str) -> Result<(String, usize), String> {
    let mut i = 1;
    let mut out = String::from("[");
    if s[i..].starts_with('^') {
        out.push('^');
        i += 1;
    }
    let mut items = 0;
    let mut first = true;
    loop {
        let t = &s[i..];
        if !first && t.starts_with(']') {
            i += 1;
            break;
        }
        first = false;
        if let Some(e) = t
            .strip_prefix("[:")
            .filter(|r| !r.is_empty())
            .and_then(|r| r.find(":]"))
        {
            {
                let name = &t[..e + 4];
                let inner = &t[2..e + 2];
                if !POSIX.contains(&inner.strip_prefix('^').unwrap_or(inner)) {
                    return Err(perr("invalid character class range", name));
                }
                out.push_str(name);
                items += 1;
                i += name.len();
                continue;
            }
        }
        if t.starts_with("\\p") || t.starts_with("\\P") {
            let (a, n) = parse_unicode_class(t)?;
            out.push_str(&a);
            items += 1;
            i += n;
            continue;
        }
        if let Some((cls, neg)) = perl_class(t) {
            if neg {
                out.push_str(&format!("[^{cls}]"));
            } else {
                out.push_str(cls);
            }
            items += 1;
            i += 2;
            continue;
        }
        let class_char = |t: &str| -> Result<(char, usize), String> {
            match t.chars().next() {
                None => Err(perr("missing closing ]", s)),
                Some('\\') => parse_escape(t),
                Some(c) => Ok((c, c.len_utf8())),
            }
        };
        let (lo, n) = class_char(t)?;
        let mut used = n;
        let mut hi = lo;
        let rest = &t[n..];
        if rest.len() >= 2 && rest.starts_with('-') && !rest[1..].starts_with(']') {
            let (h, m) = class_char(&rest[1..])?;
            hi = h;
            used += 1 + m;
            if hi < lo {
                return Err(perr("invalid character class range", &t[..used]));
            }
        }
        if lo == hi {
            out.push_str(&lit(lo));
        } else {
            out.push_str(&format!("{}-{}", lit(lo), lit(hi)));
        }
        items += 1;
        i += used;
    }
    if items == 0 {
        // unreachable in Go's grammar (the first `]` is literal), kept for safety
        out.push_str(ALL);
    }
    out.push(']');
    Ok((out, i))
}

/// Go's parseRepeat at `s` (starting with `{`): min, max (-1: none), bytes used; min -1
/// when a number is too big.
fn parse_repeat(s: &str) -> Option<(i64, i64, usize)> {
    let b = s.as_bytes();
    let int = |i: usize| -> Option<(i64, usize)> {
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        if b[i] == b'0' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let mut j = i;
        let mut n: i64 = 0;
        while j < b.len() && b[j].is_ascii_digit() {
            if n >= 100_000_000 {
                n = -1;
            } else if n >= 0 {
                n = n * 10 + i64::from(b[j] - b'0');
            }
            j += 1;
        }
        Some((n, j))
    };
    let (min, mut i) = int(1)?;
    let max;
    match b.get(i) {
        None => return None,
        Some(b',') => {
            i += 1;
            match b.get(i) {
                None => return None,
                Some(b'}') => max = -1,
                _ => {
                    let (m, j) = int(i)?;
                    i = j;
                    if m < 0 {
                        return Some((-1, m, i + 1)).filter(|_| b.get(i) == Some(&b'}'));
                    }
                    max = m;
                }
            }
        }
        Some(_) => max = min,
    }
    if b.get(i) != Some(&b'}') {
        return None;
    }
    Some((min, max, i + 1))
}

struct Frame {
    out_start: usize,
    cost: i64,
    /// Go's NonGreedy flag outside the group.
    ungreedy: bool,
}

/// Checks a Go pattern and translates it for the `regex` crate; also the capture names.
fn translate(p: &str) -> Result<(String, Vec<String>), String> {
    let mut out = String::new();
    let mut names = vec![String::new()];
    let mut frames: Vec<Frame> = Vec::new();
    // the atom a repetition would apply to: where it starts in `out`, its nesting cost
    let mut last: Option<(usize, i64)> = None;
    let mut cur_cost: i64 = 1;
    let mut last_repeat: Option<usize> = None;
    // Go's (?U): kept here and written as explicit lazy repetitions, not passed on
    let mut ungreedy = false;
    // a flag group right after the atom `last` (its start, where the group begins): Go
    // applies a following repetition to the atom, so it is written before the group
    let mut flag_gap: Option<(usize, usize)> = None;
    let mut i = 0;
    let b = p.as_bytes();
    while i < p.len() {
        let t = &p[i..];
        let mut repeat = None;
        let start = out.len();
        match b[i] {
            b'(' => {
                if t.starts_with("(?") {
                    let named = if t.len() > 4 && t.starts_with("(?P<") {
                        Some(4)
                    } else if t.len() > 3 && t.starts_with("(?<") {
                        Some(3)
                    } else {
                        None
                    };
                    if let Some(begin) = named {
                        let Some(end) = t.find('>') else {
                            return Err(perr("invalid named capture", t));
                        };
                        let name = &t[begin..end];
                        if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                            return Err(perr("invalid named capture", &t[..end + 1]));
                        }
                        names.push(name.to_string());
                        frames.push(Frame {
                            out_start: start,
                            cost: cur_cost,
                            ungreedy,
                        });
                        cur_cost = 1;
                        out.push('(');
                        last = None;
                        i += end + 1;
                        last_repeat = None;
                        continue;
                    }
                    // flags, a non-capturing group, or both
                    let mut flags: Vec<(char, bool)> = Vec::new();
                    let mut neg = false;
                    let mut saw = false;
                    let mut j = 2;
                    let mut done = None;
                    for c in t.chars().skip(2) {
                        j += c.len_utf8();
                        match c {
                            'i' | 'm' | 's' | 'U' => {
                                flags.retain(|f| f.0 != c);
                                flags.push((c, !neg));
                                saw = true;
                            }
                            '-' if !neg => {
                                neg = true;
                                saw = false;
                            }
                            ':' | ')' if !neg || saw => {
                                done = Some(c);
                                break;
                            }
                            _ => break,
                        }
                    }
                    let Some(end) = done else {
                        return Err(perr("invalid or unsupported Perl syntax", &t[..j]));
                    };
                    let ungreedy_after = flags.iter().find(|f| f.0 == 'U').map_or(ungreedy, |f| f.1);
                    flags.retain(|f| f.0 != 'U');
                    let on: String = flags.iter().filter(|f| f.1).map(|f| f.0).collect();
                    let off: String = flags.iter().filter(|f| !f.1).map(|f| f.0).collect();
                    let spec = if off.is_empty() { on } else { format!("{on}-{off}") };
                    if end == ':' {
                        frames.push(Frame {
                            out_start: start,
                            cost: cur_cost,
                            ungreedy,
                        });
                        cur_cost = 1;
                        out.push_str(&format!("(?{spec}:"));
                        last = None;
                    } else if !spec.is_empty() {
                        if let Some((a, _)) = last.filter(|l| flag_gap.is_none_or(|g| g.0 != l.0)) {
                            flag_gap = Some((a, out.len()));
                        }
                        out.push_str(&format!("(?{spec})"));
                    }
                    ungreedy = ungreedy_after;
                    i += j;
                    last_repeat = None;
                    continue;
                }
                names.push(String::new());
                frames.push(Frame {
                    out_start: start,
                    cost: cur_cost,
                    ungreedy,
                });
                cur_cost = 1;
                out.push('(');
                last = None;
                i += 1;
            }
            b'|' => {
                out.push('|');
                last = None;
                i += 1;
            }
            b')' => {
                let Some(f) = frames.pop() else {
                    return Err(perr("unexpected )", p));
                };
                out.push(')');
                ungreedy = f.ungreedy;
                let inner = cur_cost;
                cur_cost = f.cost.max(inner);
                last = Some((f.out_start, inner));
                i += 1;
            }
            b'^' | b'$' | b'.' => {
                match b[i] {
                    b'^' => out.push_str("(?:^)"),
                    b'$' => out.push_str("(?:$)"),
                    _ => out.push('.'),
                }
                last = Some((start, 1));
                i += 1;
            }
            b'[' => {
                let (cls, n) = parse_class(t)?;
                out.push_str(&cls);
                last = Some((start, 1));
                i += n;
            }
            b'*' | b'+' | b'?' | b'{' => {
                let (min, max, mut n) = if b[i] == b'{' {
                    match parse_repeat(t) {
                        None => {
                            out.push_str(&lit('{'));
                            last = Some((start, 1));
                            i += 1;
                            last_repeat = None;
                            continue;
                        }
                        Some((min, max, n)) => {
                            if !(0..=1000).contains(&min) || max > 1000 || max >= 0 && min > max {
                                return Err(perr("invalid repeat count", &t[..n]));
                            }
                            (min, max, n)
                        }
                    }
                } else {
                    (-2, -2, 1)
                };
                let greedy = !t[n..].starts_with('?');
                if !greedy {
                    n += 1;
                }
                if let Some(lr) = last_repeat {
                    return Err(perr("invalid nested repetition operator", &p[lr..i + n]));
                }
                let Some((astart, acost)) = last else {
                    return Err(perr("missing argument to repetition operator", &t[..n]));
                };
                let mut cost = acost;
                if min != -2 && (min >= 2 || max >= 2) && max != 0 {
                    let m = if max < 0 { min } else { max };
                    cost = acost.saturating_mul(m.max(1));
                    if m > 1000 || cost > 1000 {
                        return Err(perr("invalid repeat count", &t[..n]));
                    }
                } else if min != -2 && max != 0 {
                    cost = acost.saturating_mul(max.max(min).max(1));
                }
                cur_cost = cur_cost.max(cost);
                let mut op = if min == -2 {
                    char::from(b[i]).to_string()
                } else if max == -1 {
                    format!("{{{min},}}")
                } else {
                    format!("{{{min},{max}}}")
                };
                if greedy == ungreedy {
                    op.push('?');
                }
                match flag_gap.take().filter(|g| g.0 == astart) {
                    Some((_, at)) => out.insert_str(at, &op),
                    None => out.push_str(&op),
                }
                last = Some((astart, cost));
                repeat = Some(i);
                i += n;
            }
            b'\\' => {
                let c1 = t[1..].chars().next();
                match c1 {
                    Some('A') => out.push_str(r"(?:\A)"),
                    Some('z') => out.push_str(r"(?:\z)"),
                    Some('b') => out.push_str(r"(?-u:\b)"),
                    Some('B') => out.push_str(r"(?-u:\B)"),
                    Some('C') => return Err(perr("invalid escape sequence", "\\C")),
                    Some('Q') => {
                        let body = &t[2..];
                        let (lit_s, used) = match body.find("\\E") {
                            Some(e) => (&body[..e], 2 + e + 2),
                            None => (body, t.len()),
                        };
                        for c in lit_s.chars() {
                            let st = out.len();
                            out.push_str(&lit(c));
                            last = Some((st, 1));
                        }
                        i += used;
                        last_repeat = None;
                        continue;
                    }
                    Some('p' | 'P') => {
                        let (a, n) = parse_unicode_class(t)?;
                        out.push_str(&a);
                        last = Some((start, 1));
                        i += n;
                        last_repeat = None;
                        continue;
                    }
                    _ => {
                        if let Some((cls, neg)) = perl_class(t) {
                            out.push_str(&format!("[{}{cls}]", if neg { "^" } else { "" }));
                            last = Some((start, 1));
                            i += 2;
                            last_repeat = None;
                            continue;
                        }
                        let (c, n) = parse_escape(t)?;
                        out.push_str(&lit(c));
                        last = Some((start, 1));
                        i += n;
                        last_repeat = None;
                        continue;
                    }
                }
                last = Some((start, 1));
                i += 2;
            }
            _ => {
                let c = t.chars().next().unwrap_or('\u{FFFD}');
                out.push_str(&lit(c));
                last = Some((start, 1));
                i += c.len_utf8();
            }
        }
        last_repeat = repeat;
    }
    if !frames.is_empty() {
        return Err(perr("missing closing )", p));
    }
    Ok((out, names))
}

fn compile_uncached(p: &str) -> Result<Compiled, String> {
    let (pat, names) = translate(p)?;
    let re = RegexBuilder::new(&pat)
        .size_limit(256 << 20)
        .nest_limit(2000)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => perr("expression too large", p),
            _ => perr("invalid or unsupported Perl syntax", p),
        })?;
    Ok(Compiled {
        re,
        names,
        expr_empty: p.is_empty(),
    })
}

type Cache = Mutex<HashMap<String, Arc<Result<Compiled, String>>>>;

/// Go's regexp.Compile (cached).
pub(crate) fn compile(p: &str) -> Arc<Result<Compiled, String>> {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = c.get(p) {
        return r.clone();
    }
    let r = Arc::new(compile_uncached(p));
    if c.len() > 512 {
        c.clear();
    }
    c.insert(p.to_string(), r.clone());
    r
}

/// Go's regexp.MustCompile panic text.
fn must_compile(p: &str) -> Result<Arc<Result<Compiled, String>>, String> {
    let c = compile(p);
    if let Err(e) = &*c {
        return Err(format!("regexp: Compile({}): {e}", go_quote_expr(p)));
    }
    Ok(c)
}

fn go_quote_expr(s: &str) -> String {
    let can_backquote = s
        .chars()
        .all(|c| c != '`' && c != '\u{7f}' && c != '\u{feff}' && (c >= ' ' || c == '\t'));
    if can_backquote {
        format!("`{s}`")
    } else {
        gofmt::quote(s, false)
    }
}

impl Compiled {
    /// Go's allMatches: matches (as capture sets) with Go's empty-match rules.
    fn all<'h>(&self, s: &'h str, n: i64, mut deliver: impl FnMut(Captures<'h>)) {
        let n = if n < 0 { s.len() as i64 + 1 } else { n };
        let (mut pos, mut i, mut prev_end) = (0usize, 0i64, None);
        while i < n && pos <= s.len() {
            let Some(caps) = self.re.captures_at(s, pos) else {
                break;
            };
            let Some(m) = caps.get(0) else { break };
            let mut accept = true;
            if m.end() == pos {
                if Some(m.start()) == prev_end {
                    accept = false;
                }
                match s[pos..].chars().next() {
                    Some(c) => pos += c.len_utf8(),
                    None => pos = s.len() + 1,
                }
            } else {
                pos = m.end();
            }
            prev_end = Some(m.end());
            if accept {
                deliver(caps);
                i += 1;
            }
        }
    }

    fn find_all(&self, s: &str, n: i64) -> Vec<String> {
        let mut out = Vec::new();
        self.all(s, n, |c| {
            out.push(c.get(0).map(|m| m.as_str()).unwrap_or("").to_string())
        });
        out
    }

    fn find(&self, s: &str) -> String {
        self.re
            .find(s)
            .map(|m| m.as_str().to_string())
            .unwrap_or_default()
    }

    /// Go's Regexp.expand.
    fn expand(&self, dst: &mut String, template: &str, caps: &Captures<'_>) {
        let mut t = template;
        while let Some(d) = t.find('$') {
            dst.push_str(&t[..d]);
            t = &t[d + 1..];
            if let Some(r) = t.strip_prefix('$') {
                dst.push('$');
                t = r;
                continue;
            }
            let Some((name, num, rest)) = extract(t) else {
                dst.push('$');
                continue;
            };
            t = rest;
            let group = |i: usize| caps.get(i).map(|m| m.as_str());
            if let Some(num) = num {
                if let Some(g) = group(num) {
                    dst.push_str(g);
                }
            } else {
                for (i, n) in self.names.iter().enumerate() {
                    if let Some(g) = group(i).filter(|_| *n == name) {
                        dst.push_str(g);
                        break;
                    }
                }
            }
        }
        dst.push_str(t);
    }

    /// Go's replaceAll; `literal` for ReplaceAllLiteralString.
    fn replace_all(&self, src: &str, repl: &str, literal: bool) -> String {
        let mut buf = String::new();
        let (mut last_end, mut search) = (0usize, 0usize);
        while search <= src.len() {
            let Some(caps) = self.re.captures_at(src, search) else {
                break;
            };
            let Some(m) = caps.get(0) else { break };
            buf.push_str(&src[last_end..m.start()]);
            if m.end() > last_end || m.start() == 0 {
                if literal {
                    buf.push_str(repl);
                } else {
                    self.expand(&mut buf, repl, &caps);
                }
            }
            last_end = m.end();
            let width = src[search..].chars().next().map_or(0, char::len_utf8);
            if search + width > m.end() {
                search += width;
            } else if search + 1 > m.end() {
                search += 1;
            } else {
                search = m.end();
            }
        }
        buf.push_str(&src[last_end..]);
        buf
    }

    /// Go's Regexp.Split.
    fn split(&self, s: &str, n: i64) -> Vec<String> {
        if n == 0 {
            return Vec::new();
        }
        if !self.expr_empty && s.is_empty() {
            return vec![String::new()];
        }
        let mut ms = Vec::new();
        self.all(s, n, |c| {
            if let Some(m) = c.get(0) {
                ms.push((m.start(), m.end()));
            }
        });
        let mut out = Vec::with_capacity(ms.len());
        let (mut beg, mut end) = (0, 0);
        for (a, b) in ms {
            if n > 0 && out.len() as i64 >= n - 1 {
                break;
            }
            end = a;
            if b != 0 {
                out.push(s[beg..end].to_string());
            }
            beg = b;
        }
        if end != s.len() {
            out.push(s[beg..].to_string());
        }
        out
    }
}

/// Go's extract: a `$name`/`${name}` reference; the group number when it is one.
fn extract(s: &str) -> Option<(String, Option<usize>, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let mut i = 0;
    for c in body.chars() {
        if !(super::gouni::is_letter(c) || super::gouni::is_digit(c) || c == '_') {
            break;
        }
        i += c.len_utf8();
    }
    if i == 0 {
        return None;
    }
    let name = &body[..i];
    let mut rest = &body[i..];
    if brace {
        rest = rest.strip_prefix('}')?;
    }
    let mut num: Option<usize> = Some(0);
    for c in name.bytes() {
        match num {
            Some(n) if c.is_ascii_digit() && n < 100_000_000 => {
                num = Some(n * 10 + usize::from(c - b'0'));
            }
            _ => {
                num = None;
                break;
            }
        }
    }
    if name.len() > 1 && name.starts_with('0') {
        num = None;
    }
    Some((name.to_string(), num, rest))
}

/// Go's regexp.QuoteMeta.
pub(crate) fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn register(m: &mut FuncMap) {
    use ParamType::{Int, String as Str};
    fn sv(s: String) -> Result<Arg, String> {
        Ok(Arg::Value(Value::String(s)))
    }
    fn lv(l: Vec<String>) -> Result<Arg, String> {
        Ok(Arg::Value(str_list(l)))
    }
    add(m, "regexMatch", vec![Str, Str], false, "bool", false, |a| {
        ok_b(match &*compile(&sarg(a, 0)) {
            Ok(c) => c.re.is_match(&sarg(a, 1)),
            Err(_) => false,
        })
    });
    add(
        m,
        "mustRegexMatch",
        vec![Str, Str],
        false,
        "bool",
        true,
        |a| match &*compile(&sarg(a, 0)) {
            Ok(c) => ok_b(c.re.is_match(&sarg(a, 1))),
            Err(e) => Err(e.clone()),
        },
    );
    type Op = fn(&Compiled, &[Arg]) -> Result<Arg, String>;
    let both = |m: &mut FuncMap, name: &str, must: &str, params: Vec<ParamType>, result: &str, op: Op| {
        let p2 = params.clone();
        add(m, name, params, false, result, false, move |a| {
            let c = must_compile(&sarg(a, 0))?;
            match &*c {
                Ok(c) => op(c, a),
                Err(e) => Err(e.clone()),
            }
        });
        add(m, must, p2, false, result, true, move |a| {
            match &*compile(&sarg(a, 0)) {
                Ok(c) => op(c, a),
                Err(e) => Err(e.clone()),
            }
        });
    };
    both(
        m,
        "regexFindAll",
        "mustRegexFindAll",
        vec![Str, Str, Int],
        "[]string",
        |c, a| lv(c.find_all(&sarg(a, 1), iarg(a, 2))),
    );
    both(
        m,
        "regexFind",
        "mustRegexFind",
        vec![Str, Str],
        "string",
        |c, a| sv(c.find(&sarg(a, 1))),
    );
    both(
        m,
        "regexReplaceAll",
        "mustRegexReplaceAll",
        vec![Str, Str, Str],
        "string",
        |c, a| sv(c.replace_all(&sarg(a, 1), &sarg(a, 2), false)),
    );
    both(
        m,
        "regexReplaceAllLiteral",
        "mustRegexReplaceAllLiteral",
        vec![Str, Str, Str],
        "string",
        |c, a| sv(c.replace_all(&sarg(a, 1), &sarg(a, 2), true)),
    );
    both(
        m,
        "regexSplit",
        "mustRegexSplit",
        vec![Str, Str, Int],
        "[]string",
        |c, a| lv(c.split(&sarg(a, 1), iarg(a, 2))),
    );
    add(m, "regexQuoteMeta", vec![Str], false, "string", false, |a| {
        ok_s(quote_meta(&sarg(a, 0)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(p: &str) -> String {
        match compile_uncached(p) {
            Ok(_) => "ok".into(),
            Err(e) => e,
        }
    }

    #[test]
    fn go_parse_errors() {
        assert_eq!(err("("), "error parsing regexp: missing closing ): `(`");
        assert_eq!(err("a)"), "error parsing regexp: unexpected ): `a)`");
        assert_eq!(
            err("a**"),
            "error parsing regexp: invalid nested repetition operator: `**`"
        );
        assert_eq!(
            err("*"),
            "error parsing regexp: missing argument to repetition operator: `*`"
        );
        assert_eq!(err(r"\1"), "error parsing regexp: invalid escape sequence: `\\1`");
        assert_eq!(
            err("(?=a)"),
            "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"
        );
        assert_eq!(err("[a"), "error parsing regexp: missing closing ]: `[a`");
        assert_eq!(
            err("a{1001}"),
            "error parsing regexp: invalid repeat count: `{1001}`"
        );
        assert_eq!(
            err(r"\pX"),
            "error parsing regexp: invalid character class range: `\\pX`"
        );
        for ok in [
            r"a{,5}",
            r"[a[]",
            r"\<",
            r"(?i)(?P<x>a)(?P<x>b)",
            r"\Qa.b\E+",
            "^*",
        ] {
            assert!(compile_uncached(ok).is_ok(), "{ok}: {}", err(ok));
        }
    }
}

//! Go's `encoding/json` for template values, byte for byte: `json.Marshal` (sorted map
//! keys, HTML-safe string escaping, Go's float formatting), `json.MarshalIndent`, an
//! `Encoder` without HTML escaping (sprig's `toRawJson`) and `json.Unmarshal` into
//! `interface {}`, `map[string]interface {}` and `[]interface {}` with Go's error texts.
//!
//! Decoding refuses nesting deeper than 5000 levels (Go: 10000), with Go's error text.
//!
//! Strings escape `\b` and `\f` as Go 1.22 and later do (Helm 3.17 is built with Go 1.23;
//! Go 1.19 wrote `\u0008` and `\u000c`).

use std::collections::BTreeMap;

use crate::gofmt;
use crate::value::Value;

/// `json.Marshal(v)`.
pub fn marshal(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, true, None, 0)?;
    Ok(out)
}

/// `json.MarshalIndent(v, prefix, indent)`.
pub fn marshal_indent(v: &Value, prefix: &str, indent: &str) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, true, Some((prefix, indent)), 0)?;
    Ok(out)
}

/// A `json.Encoder` with `SetEscapeHTML(false)`, as sprig's `toRawJson` uses it: the
/// encoding without the Encoder's trailing newline (sprig trims it).
pub fn marshal_no_html_escape(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, false, None, 0)?;
    Ok(out)
}

fn newline(out: &mut String, ind: Option<(&str, &str)>, depth: usize) {
    if let Some((prefix, indent)) = ind {
        out.push('\n');
        out.push_str(prefix);
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

fn write_value(
    out: &mut String,
    v: &Value,
    html: bool,
    ind: Option<(&str, &str)>,
    depth: usize,
) -> Result<(), String> {
    deep(|| write_value_inner(out, v, html, ind, depth))
}

fn write_value_inner(
    out: &mut String,
    v: &Value,
    html: bool,
    ind: Option<(&str, &str)>,
    depth: usize,
) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Uint8(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&float_json(*f)?),
        Value::String(s) => write_string(out, s, html),
        Value::Slice(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, ind, depth + 1);
                write_value(out, e, html, ind, depth + 1)?;
            }
            newline(out, ind, depth);
            out.push(']');
        }
        Value::Map(m) => {
            let entries = m.entries();
            write_object(
                out,
                entries.iter().map(|(k, v)| (k.as_str(), v)),
                html,
                ind,
                depth,
            )?;
        }
        Value::Func(f) => return Err(format!("json: unsupported type: {}", f.type_name())),
        Value::Object(o) => {
            let j = o.to_json()?;
            write_serde(out, &j, html, ind, depth)?;
        }
    }
    Ok(())
}

fn write_object<'a>(
    out: &mut String,
    entries: impl ExactSizeIterator<Item = (&'a str, &'a Value)>,
    html: bool,
    ind: Option<(&str, &str)>,
    depth: usize,
) -> Result<(), String> {
    if entries.len() == 0 {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, ind, depth + 1);
        write_string(out, k, html);
        out.push(':');
        if ind.is_some() {
            out.push(' ');
        }
        write_value(out, v, html, ind, depth + 1)?;
    }
    newline(out, ind, depth);
    out.push('}');
    Ok(())
}

fn write_serde(
    out: &mut String,
    j: &serde_json::Value,
    html: bool,
    ind: Option<(&str, &str)>,
    depth: usize,
) -> Result<(), String> {
    match j {
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                out.push_str(&float_json(n.as_f64().unwrap_or(f64::NAN))?);
            }
            Ok(())
        }
        serde_json::Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, ind, depth + 1);
                write_serde(out, e, html, ind, depth + 1)?;
            }
            newline(out, ind, depth);
            out.push(']');
            Ok(())
        }
        serde_json::Value::Object(o) => {
            if o.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, v)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, ind, depth + 1);
                write_string(out, k, html);
                out.push(':');
                if ind.is_some() {
                    out.push(' ');
                }
                write_serde(out, v, html, ind, depth + 1)?;
            }
            newline(out, ind, depth);
            out.push('}');
            Ok(())
        }
        other => write_value(out, &Value::from(other), html, ind, depth),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// encoding/json's string encoding (Go 1.22+: `\b` and `\f` escaped by name).
pub(crate) fn write_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if html => push_u00(out, c as u32),
            c if (c as u32) < 0x20 => push_u00(out, c as u32),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_u00(out: &mut String, b: u32) {
    out.push_str("\\u00");
    out.push(HEX[(b >> 4) as usize & 15] as char);
    out.push(HEX[b as usize & 15] as char);
}

/// Runs `f` with room on the stack for deep nesting (Go's decoder allows 10000 levels).
pub(crate) fn deep<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, f)
}

// ---- strconv.FormatFloat ----

/// Shortest decimal digits of |f| and the decimal point position (value = 0.d × 10^dp).
fn digits(f: f64, bits32: bool) -> (Vec<u8>, i32) {
    let s = if bits32 {
        format!("{:e}", (f as f32).abs())
    } else {
        format!("{:e}", f.abs())
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let d: Vec<u8> = mant
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|c| c - b'0')
        .collect();
    if d.iter().all(|&c| c == 0) {
        return (Vec::new(), 0);
    }
    (d, exp + 1)
}

fn fmt_e(d: &[u8], dp: i32, out: &mut String) {
    out.push((b'0' + d.first().copied().unwrap_or(0)) as char);
    if d.len() > 1 {
        out.push('.');
        for &c in &d[1..] {
            out.push((b'0' + c) as char);
        }
    }
    out.push('e');
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

fn fmt_f(d: &[u8], dp: i32, out: &mut String) {
    if dp > 0 {
        for k in 0..dp as usize {
            out.push((b'0' + d.get(k).copied().unwrap_or(0)) as char);
        }
    } else {
        out.push('0');
    }
    let frac = d.len() as i32 - dp;
    if frac > 0 {
        out.push('.');
        for k in 0..frac {
            let idx = dp + k;
            let c = if idx < 0 {
                0
            } else {
                d.get(idx as usize).copied().unwrap_or(0)
            };
            out.push((b'0' + c) as char);
        }
    }
}

/// `strconv.FormatFloat(f, fmt, -1, bits)` for `fmt` in 'e', 'f', 'g' (shortest
/// representation), with Go's `NaN`, `+Inf`, `-Inf`.
pub fn format_float(f: f64, fmt: char, bits32: bool) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let (d, dp) = digits(f, bits32);
    match fmt {
        'e' => fmt_e(&d, dp, &mut out),
        'f' => fmt_f(&d, dp, &mut out),
        _ => {
            let exp = dp - 1;
            if !d.is_empty() && !(-4..6).contains(&exp) {
                fmt_e(&d, dp, &mut out)
            } else {
                fmt_f(&d, dp, &mut out)
            }
        }
    }
    out
}

/// encoding/json's float64 encoding.
pub(crate) fn float_json(f: f64) -> Result<String, String> {
    if f.is_nan() || f.is_infinite() {
        return Err(format!(
            "json: unsupported value: {}",
            format_float(f, 'g', false)
        ));
    }
    let abs = f.abs();
    let e = abs != 0.0 && !(1e-6..1e21).contains(&abs);
    let mut s = format_float(f, if e { 'e' } else { 'f' }, false);
    if e {
        // e-07 → e-7
        let b = s.as_bytes();
        let n = b.len();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
    }
    Ok(s)
}

// ---- Unmarshal ----

/// What `json.Unmarshal` decodes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `interface {}`
    Any,
    /// `map[string]interface {}`
    Map,
    /// `[]interface {}`
    Slice,
}

/// `json.Unmarshal(data, &v)` with `v` an `interface {}`: objects become maps, arrays
/// slices, numbers float64.
pub fn unmarshal(s: &str) -> Result<Value, String> {
    unmarshal_into(s, Target::Any).map_err(|(_, e)| e)
}

/// `json.Unmarshal` into the target; on error, what Go leaves in the target (filled as far
/// as decoding went; an empty map or slice where nothing was stored) and the error text.
/// JSON `null` into a map or slice gives an empty one (Go's nil map or slice).
pub fn unmarshal_into(s: &str, target: Target) -> Result<Value, (Value, String)> {
    let empty = || match target {
        Target::Any => Value::Nil,
        Target::Map => Value::map(Vec::<(String, Value)>::new()),
        Target::Slice => Value::slice(Vec::new()),
    };
    if let Err(e) = check_valid(s.as_bytes()) {
        return Err((empty(), e));
    }
    let mut d = Decoder {
        b: s.as_bytes(),
        i: 0,
        err: None,
    };
    let v = d.value();
    let kind = match &v {
        Value::Map(_) => "object",
        Value::Slice(_) => "array",
        Value::String(_) => "string",
        Value::Float(_) => "number",
        Value::Bool(_) => "bool",
        _ => "null",
    };
    let v = match (target, kind) {
        (Target::Any, _) | (Target::Map, "object") | (Target::Slice, "array") => v,
        (_, "null") => empty(),
        (t, k) => {
            let ty = if t == Target::Map {
                "map[string]interface {}"
            } else {
                "[]interface {}"
            };
            return Err((
                empty(),
                format!("json: cannot unmarshal {k} into Go value of type {ty}"),
            ));
        }
    };
    match d.err {
        Some(e) => Err((v, e)),
        None => Ok(v),
    }
}

fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        c => {
            let q = gofmt::quote(&char::from(c).to_string(), false);
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

fn syntax(c: u8, ctx: &str) -> String {
    format!("invalid character {} {ctx}", quote_char(c))
}

const EOF: &str = "unexpected end of JSON input";

/// Nesting refused as Go refuses more than 10000 levels; lower here, because a value
/// nested that deep could overflow a small thread stack when dropped.
const MAX_DEPTH: usize = 5000;

struct Checker<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

/// The scanner's validity check over the whole input, with its first error.
fn check_valid(b: &[u8]) -> Result<(), String> {
    let mut c = Checker { b, i: 0, depth: 0 };
    c.ws();
    c.value()?;
    c.ws();
    if let Some(&x) = c.b.get(c.i) {
        return Err(syntax(x, "after top-level value"));
    }
    Ok(())
}

impl Checker<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }
    fn peek(&self) -> Result<u8, String> {
        self.b.get(self.i).copied().ok_or_else(|| EOF.to_string())
    }
    /// At the end of input Go's scanner steps a space through the current state.
    fn peek_eof_space(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(b' ')
    }
    fn value(&mut self) -> Result<(), String> {
        deep(|| self.value_inner())
    }

    fn value_inner(&mut self) -> Result<(), String> {
        let c = self.peek()?;
        match c {
            b'{' => {
                self.i += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(syntax(c, "exceeded max depth"));
                }
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                loop {
                    let c = self.peek()?;
                    if c != b'"' {
                        return Err(syntax(c, "looking for beginning of object key string"));
                    }
                    self.string()?;
                    self.ws();
                    let c = self.peek()?;
                    if c != b':' {
                        return Err(syntax(c, "after object key"));
                    }
                    self.i += 1;
                    self.ws();
                    self.value()?;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.ws();
                        }
                        b'}' => {
                            self.i += 1;
                            self.depth -= 1;
                            return Ok(());
                        }
                        c => return Err(syntax(c, "after object key:value pair")),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(syntax(c, "exceeded max depth"));
                }
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                loop {
                    self.value()?;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.ws();
                        }
                        b']' => {
                            self.i += 1;
                            self.depth -= 1;
                            return Ok(());
                        }
                        c => return Err(syntax(c, "after array element")),
                    }
                }
            }
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c => Err(syntax(c, "looking for beginning of value")),
        }
    }
    fn literal(&mut self, word: &str) -> Result<(), String> {
        for want in word.bytes() {
            let c = self.peek_eof_space();
            if c != want {
                return Err(syntax(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(want)),
                ));
            }
            self.i += 1;
        }
        Ok(())
    }
    fn string(&mut self) -> Result<(), String> {
        self.i += 1;
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Ok(()),
                b'\\' => {
                    let e = self.peek_eof_space();
                    self.i += 1;
                    match e {
                        b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {}
                        b'u' => {
                            for _ in 0..4 {
                                let h = self.peek_eof_space();
                                if !h.is_ascii_hexdigit() {
                                    return Err(syntax(h, "in \\u hexadecimal character escape"));
                                }
                                self.i += 1;
                            }
                        }
                        e => return Err(syntax(e, "in string escape code")),
                    }
                }
                c if c < 0x20 => return Err(syntax(c, "in string literal")),
                _ => {}
            }
        }
    }
    fn digits(&mut self) {
        while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }
    fn number(&mut self) -> Result<(), String> {
        if self.peek()? == b'-' {
            self.i += 1;
            let c = self.peek_eof_space();
            if !c.is_ascii_digit() {
                return Err(syntax(c, "in numeric literal"));
            }
        }
        if self.peek()? == b'0' {
            self.i += 1;
        } else {
            self.digits();
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let c = self.peek_eof_space();
            if !c.is_ascii_digit() {
                return Err(syntax(c, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let c = self.peek_eof_space();
            if !c.is_ascii_digit() {
                return Err(syntax(c, "in exponent of numeric literal"));
            }
            self.digits();
        }
        Ok(())
    }
}

/// Decodes input already checked valid; keeps the first number-range error as Go's
/// decoder does (`saveError`) and goes on.
struct Decoder<'a> {
    b: &'a [u8],
    i: usize,
    err: Option<String>,
}

impl Decoder<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }
    fn at(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }
    fn value(&mut self) -> Value {
        deep(|| self.value_inner())
    }

    fn value_inner(&mut self) -> Value {
        self.ws();
        match self.at() {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.at() == b'}' {
                    self.i += 1;
                    return Value::Map(crate::GoMap::new(m));
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.ws();
                    self.i += 1; // ':'
                    let v = self.value();
                    m.insert(k, v);
                    self.ws();
                    let c = self.at();
                    self.i += 1;
                    if c != b',' {
                        return Value::Map(crate::GoMap::new(m));
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.at() == b']' {
                    self.i += 1;
                    return Value::slice(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    let c = self.at();
                    self.i += 1;
                    if c != b',' {
                        return Value::slice(items);
                    }
                }
            }
            b'"' => Value::String(self.string()),
            b't' => {
                self.i += 4;
                Value::Bool(true)
            }
            b'f' => {
                self.i += 5;
                Value::Bool(false)
            }
            b'n' => {
                self.i += 4;
                Value::Nil
            }
            _ => {
                let start = self.i;
                while matches!(self.at(), b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("0");
                let f: f64 = text.parse().unwrap_or(f64::INFINITY);
                if f.is_infinite() {
                    if self.err.is_none() {
                        self.err = Some(format!(
                            "json: cannot unmarshal number {text} into Go value of type float64"
                        ));
                    }
                    return Value::Nil;
                }
                Value::Float(f)
            }
        }
    }
    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.b.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }
    fn string(&mut self) -> String {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.at();
            if self.i >= self.b.len() {
                break;
            }
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.at();
                    self.i += 1;
                    let ch = match e {
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let r = self.hex4(self.i).unwrap_or(0xFFFD);
                            self.i += 4;
                            if (0xD800..0xE000).contains(&r) {
                                // a surrogate: combined with a following \u low surrogate
                                let mut ch = '\u{FFFD}';
                                let low = if r < 0xDC00
                                    && self.b.get(self.i) == Some(&b'\\')
                                    && self.b.get(self.i + 1) == Some(&b'u')
                                {
                                    self.hex4(self.i + 2).filter(|r2| (0xDC00..0xE000).contains(r2))
                                } else {
                                    None
                                };
                                if let Some(r2) = low {
                                    let cp = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                                    ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                                    self.i += 6;
                                }
                                ch
                            } else {
                                char::from_u32(r).unwrap_or('\u{FFFD}')
                            }
                        }
                        other => other as char,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c => out.push(c),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Value {
        Value::from(serde_json::from_str::<serde_json::Value>(s).unwrap())
    }

    #[test]
    fn marshal_basics() {
        assert_eq!(
            marshal(&j(r#"{"b":1,"a":[true,null,"x<y>&"]}"#)).unwrap(),
            r#"{"a":[true,null,"x\u003cy\u003e\u0026"],"b":1}"#
        );
        assert_eq!(marshal_no_html_escape(&Value::from("<a>")).unwrap(), "\"<a>\"");
        assert_eq!(
            marshal(&Value::from("\u{8}\u{c}\u{1}\u{2028}")).unwrap(),
            "\"\\b\\f\\u0001\\u2028\""
        );
        assert_eq!(marshal(&Value::Int(-3)).unwrap(), "-3");
    }

    #[test]
    fn floats_as_go() {
        let cases = [
            (1.0, "1"),
            (-0.0, "-0"),
            (0.5, "0.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (123456789.125, "123456789.125"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (f, want) in cases {
            assert_eq!(marshal(&Value::Float(f)).unwrap(), want, "{f}");
        }
        assert_eq!(
            marshal(&Value::Float(f64::NAN)).unwrap_err(),
            "json: unsupported value: NaN"
        );
        assert_eq!(format_float(1e6, 'g', false), "1e+06");
        assert_eq!(format_float(123456.0, 'g', false), "123456");
        assert_eq!(format_float(0.0001, 'g', false), "0.0001");
        assert_eq!(format_float(0.00001, 'g', false), "1e-05");
        assert_eq!(format_float(0.1, 'g', true), "0.1");
    }

    #[test]
    fn indent() {
        let v = j(r#"{"a":[1,{}],"b":[]}"#);
        assert_eq!(
            marshal_indent(&v, "", "  ").unwrap(),
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}"
        );
        assert_eq!(
            marshal_indent(&v, ">", "\t").unwrap(),
            "{\n>\t\"a\": [\n>\t\t1,\n>\t\t{}\n>\t],\n>\t\"b\": []\n>}"
        );
    }

    #[test]
    fn unmarshal_errors() {
        let e = |s: &str| unmarshal(s).unwrap_err();
        assert_eq!(e(""), "unexpected end of JSON input");
        assert_eq!(e("x"), "invalid character 'x' looking for beginning of value");
        assert_eq!(e("{\"a\" 1}"), "invalid character '1' after object key");
        assert_eq!(
            e("{\"a\":1 \"b\"}"),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(e("[1,]"), "invalid character ']' looking for beginning of value");
        assert_eq!(
            e("{,}"),
            "invalid character ',' looking for beginning of object key string"
        );
        assert_eq!(e("tru"), "invalid character ' ' in literal true (expecting 'e')");
        assert_eq!(e("trux"), "invalid character 'x' in literal true (expecting 'e')");
        assert_eq!(e("1 2"), "invalid character '2' after top-level value");
        assert_eq!(e("\"\n\""), "invalid character '\\n' in string literal");
        assert_eq!(
            e("1e400"),
            "json: cannot unmarshal number 1e400 into Go value of type float64"
        );
        assert_eq!(
            unmarshal_into("[1]", Target::Map).unwrap_err().1,
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
    }

    #[test]
    fn deep_nesting() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let v = unmarshal(&ok).unwrap();
        assert_eq!(marshal(&v).unwrap(), ok);
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            unmarshal(&too_deep).unwrap_err(),
            "invalid character '[' exceeded max depth"
        );
        let y = crate::goyaml::marshal(&v).unwrap();
        assert!(y.starts_with("- - - "));
        let _ = crate::goyaml::marshal_pretty(&v).unwrap();
        let _ = crate::gotoml::marshal(&Value::map([("a", v)]));
    }

    #[test]
    fn unmarshal_values() {
        let v = unmarshal(r#" {"a": [1, 2.5, "\u00e9\ud83d\ude00\ud800"], "a": {"b": null}, "c": true} "#)
            .unwrap();
        assert_eq!(marshal(&v).unwrap(), r#"{"a":{"b":null},"c":true}"#);
        let v = unmarshal(r#"["\u00e9\ud83d\ude00\ud800x", -0, 1E2]"#).unwrap();
        assert_eq!(marshal(&v).unwrap(), "[\"é😀\u{FFFD}x\",-0,100]");
        assert_eq!(
            unmarshal_into("null", Target::Map).unwrap(),
            Value::map(Vec::<(String, Value)>::new())
        );
    }
}

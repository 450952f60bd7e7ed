//! spf13/cast's conversions as sprig uses them (`ToInt64`, `ToInt`, `ToFloat64`, their
//! errors ignored: a value that does not convert gives 0), and the strconv parsers they
//! rest on (`ParseInt`, `ParseFloat`, `Atoi`), with Go's syntax: base prefixes and `_`
//! separators for base 0, a leading `0` meaning octal, `inf`/`nan`, hexadecimal floats.
//!
//! cast 1.7.0 (Helm's) and 1.5.0 (Debian's) convert the kinds a template holds alike:
//! 1.7.0 only adds numeric kinds to `ToBool` and `Float64()` providers to `ToFloat64`.

use num_bigint::BigUint;

use crate::value::Value;

/// Why a strconv parse failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumError {
    Syntax,
    /// Out of range; the value Go returns alongside the error (clamped).
    Range(i64),
}

/// Go's `x != 0 && x is a digit or letter below base` check: the digit's value.
fn digit_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 10),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// strconv's underscoreOK: `_` only between digits (or after a base prefix).
pub(crate) fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let [b'+' | b'-', rest @ ..] = b {
        b = rest;
    }
    // '^' start, '0' digit or prefix, '_' underscore, '!' anything else
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// strconv.ParseUint(s, base, 64).
fn parse_uint(s: &str, base: u32) -> Result<u64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let base0 = base == 0;
    let mut b = s.as_bytes();
    let mut base = base;
    if base0 {
        base = 10;
        if b[0] == b'0' {
            if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'b') {
                base = 2;
                b = &b[2..];
            } else if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'o') {
                base = 8;
                b = &b[2..];
            } else if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'x') {
                base = 16;
                b = &b[2..];
            } else {
                base = 8;
                b = &b[1..];
            }
        }
    }
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in b {
        if c == b'_' && base0 {
            underscores = true;
            continue;
        }
        let Some(d) = digit_value(c) else {
            return Err(NumError::Syntax);
        };
        if d >= base {
            return Err(NumError::Syntax);
        }
        let Some(m) = n.checked_mul(u64::from(base)) else {
            return Err(NumError::Range(0));
        };
        let Some(n1) = m.checked_add(u64::from(d)) else {
            return Err(NumError::Range(0));
        };
        n = n1;
    }
    if underscores && !underscore_ok(s) {
        return Err(NumError::Syntax);
    }
    Ok(n)
}

/// strconv.ParseInt(s, base, 64): base 0 reads Go's prefixes (`0x`, `0o`, `0b`, a
/// leading `0` for octal) and `_` separators. A range error carries the clamped value.
pub(crate) fn parse_int(s: &str, base: u32) -> Result<i64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let (neg, digits) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let un = match parse_uint(digits, base) {
        Ok(u) => u,
        Err(NumError::Range(_)) => u64::MAX,
        Err(e) => return Err(e),
    };
    const CUTOFF: u64 = 1 << 63;
    if !neg && un >= CUTOFF {
        return Err(NumError::Range(i64::MAX));
    }
    if neg && un > CUTOFF {
        return Err(NumError::Range(i64::MIN));
    }
    Ok(if neg {
        (un as i64).wrapping_neg()
    } else {
        un as i64
    })
}

/// strconv.Atoi with its result kept on error, as sprig's `atoi` does: 0 for bad syntax,
/// the clamped value when out of range.
pub(crate) fn atoi(s: &str) -> i64 {
    match parse_int(s, 10) {
        Ok(i) | Err(NumError::Range(i)) => i,
        Err(NumError::Syntax) => 0,
    }
}

/// strconv's `special`: infinities and NaN, with the number of bytes they take.
fn special(s: &str) -> Option<(f64, usize)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    let (sign, nsign, rest) = match first {
        b'+' => (1.0, 1, &b[1..]),
        b'-' => (-1.0, 1, &b[1..]),
        b'n' | b'N' => {
            return (b.len() >= 3 && b[..3].eq_ignore_ascii_case(b"nan")).then_some((f64::NAN, 3));
        }
        _ => (1.0, 0, b),
    };
    let word = b"infinity";
    let mut n = 0;
    while n < rest.len() && n < word.len() && rest[n].to_ascii_lowercase() == word[n] {
        n += 1;
    }
    if 3 < n && n < 8 {
        n = 3;
    }
    (n == 3 || n == 8).then_some((sign * f64::INFINITY, nsign + n))
}

/// strconv.ParseFloat(s, 64); `Err` for bad syntax and for values out of range.
pub(crate) fn parse_float(s: &str) -> Result<f64, NumError> {
    if let Some((f, n)) = special(s) {
        return if n == s.len() {
            Ok(f)
        } else {
            Err(NumError::Syntax)
        };
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut neg = false;
    if let Some(&c @ (b'+' | b'-')) = b.first() {
        neg = c == b'-';
        i = 1;
    }
    let mut base = 10u32;
    if i + 2 <= b.len() && b[i] == b'0' && b[i + 1].eq_ignore_ascii_case(&b'x') {
        base = 16;
        i += 2;
    }
    let mut underscores = false;
    let mut mant = String::new();
    let mut saw_dot = false;
    let mut saw_digits = false;
    let mut dot_pos: i64 = 0;
    let mut ndigits: i64 = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'_' {
            underscores = true;
        } else if c == b'.' {
            if saw_dot {
                break;
            }
            saw_dot = true;
            dot_pos = ndigits;
        } else if c.is_ascii_digit() || (base == 16 && c.is_ascii_hexdigit()) {
            saw_digits = true;
            mant.push(c as char);
            ndigits += 1;
        } else {
            break;
        }
        i += 1;
    }
    if !saw_digits {
        return Err(NumError::Syntax);
    }
    if !saw_dot {
        dot_pos = ndigits;
    }
    let exp_char = if base == 16 { b'p' } else { b'e' };
    let mut exp: i64 = 0;
    if i < b.len() && b[i].to_ascii_lowercase() == exp_char {
        i += 1;
        if i >= b.len() {
            return Err(NumError::Syntax);
        }
        let mut esign = 1;
        if b[i] == b'+' || b[i] == b'-' {
            if b[i] == b'-' {
                esign = -1;
            }
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return Err(NumError::Syntax);
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            } else if exp < 10000 {
                exp = exp * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        exp *= esign;
    } else if base == 16 {
        return Err(NumError::Syntax);
    }
    if i != b.len() || (underscores && !underscore_ok(&s[..i])) {
        return Err(NumError::Syntax);
    }
    let f = if base == 10 {
        // the decimal digits, exactly: Rust's parser rounds correctly, as Go's does
        let text = format!("0.{mant}e{}", dot_pos.saturating_add(exp));
        text.parse::<f64>().map_err(|_| NumError::Syntax)?
    } else {
        hex_float(&mant, exp - 4 * (ndigits - dot_pos))
    };
    if f.is_infinite() {
        return Err(NumError::Range(0));
    }
    Ok(if neg { -f } else { f })
}

/// The hexadecimal mantissa digits times 2^exp, correctly rounded.
fn hex_float(mant: &str, exp: i64) -> f64 {
    let m = BigUint::parse_bytes(mant.as_bytes(), 16).unwrap_or_default();
    if m.bits() == 0 {
        return 0.0;
    }
    let top = m.bits() as i64 + exp;
    if top > 1025 {
        return f64::INFINITY;
    }
    if top < -1076 {
        return 0.0;
    }
    // an exact decimal expansion, rounded by the decimal parser
    let text = if exp >= 0 {
        format!("{}", m << (exp as usize))
    } else {
        let k = (-exp) as u32;
        format!("{}e-{k}", m * BigUint::from(5u32).pow(k))
    };
    text.parse::<f64>().unwrap_or(0.0)
}

/// cast's trimZeroDecimal: `"5.0"` and `"5.00"` read as `"5"`.
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's conversion of a float64 to int64 on amd64: truncation, and the "integer
/// indefinite" value for NaN and out-of-range values.
pub(crate) fn float_to_int(f: f64) -> i64 {
    if f.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// cast.ToInt64E: `Err` where cast fails (maps, slices, structs, unparsable strings).
pub(crate) fn to_int64_e(v: &Value) -> Result<i64, ()> {
    match v {
        Value::Int(i) | Value::Int64(i) => Ok(*i),
        Value::Uint8(u) => Ok(i64::from(*u)),
        Value::Float(f) => Ok(float_to_int(*f)),
        Value::String(s) => parse_int(trim_zero_decimal(s), 0).map_err(|_| ()),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Nil => Ok(0),
        _ => Err(()),
    }
}

/// cast.ToInt64, as sprig's `int64`, `add`, `max`... use it (0 when it fails).
pub(crate) fn to_int64(v: &Value) -> i64 {
    to_int64_e(v).unwrap_or(0)
}

/// cast.ToInt (Go's int is 64 bits here, so as [`to_int64`]).
pub(crate) fn to_int(v: &Value) -> i64 {
    to_int64(v)
}

/// cast.ToFloat64E.
pub(crate) fn to_float64_e(v: &Value) -> Result<f64, ()> {
    match v {
        Value::Int(i) | Value::Int64(i) => Ok(*i as f64),
        Value::Uint8(u) => Ok(f64::from(*u)),
        Value::Float(f) => Ok(*f),
        Value::String(s) => parse_float(s).map_err(|_| ()),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Nil => Ok(0.0),
        _ => Err(()),
    }
}

/// cast.ToFloat64, as sprig's `float64`, `addf`, `maxf`... use it (0 when it fails).
pub(crate) fn to_float64(v: &Value) -> f64 {
    to_float64_e(v).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_like_go() {
        assert_eq!(parse_int("0x1F", 0), Ok(31));
        assert_eq!(parse_int("010", 0), Ok(8));
        assert_eq!(parse_int("0o17", 0), Ok(15));
        assert_eq!(parse_int("-0b101", 0), Ok(-5));
        assert_eq!(parse_int("1_000", 0), Ok(1000));
        assert_eq!(parse_int("1__0", 0), Err(NumError::Syntax));
        assert_eq!(parse_int("_1", 0), Err(NumError::Syntax));
        assert_eq!(parse_int("08", 0), Err(NumError::Syntax));
        assert_eq!(parse_int("0x", 0), Err(NumError::Syntax));
        assert_eq!(parse_int("0", 0), Ok(0));
        assert_eq!(parse_int("1_000", 10), Err(NumError::Syntax));
        assert_eq!(parse_int("9223372036854775807", 10), Ok(i64::MAX));
        assert_eq!(
            parse_int("9223372036854775808", 10),
            Err(NumError::Range(i64::MAX))
        );
        assert_eq!(parse_int("-9223372036854775808", 10), Ok(i64::MIN));
        assert_eq!(
            parse_int("-9223372036854775809", 10),
            Err(NumError::Range(i64::MIN))
        );
        assert_eq!(atoi("99999999999999999999x"), i64::MAX);
        assert_eq!(atoi("12a"), 0);
        assert_eq!(parse_int("777", 8), Ok(511));
    }

    #[test]
    fn parse_float_like_go() {
        assert_eq!(parse_float("1.5"), Ok(1.5));
        assert_eq!(parse_float("1_000.5"), Ok(1000.5));
        assert_eq!(parse_float(".5"), Ok(0.5));
        assert_eq!(parse_float("5."), Ok(5.0));
        assert_eq!(parse_float("1e3"), Ok(1000.0));
        assert_eq!(parse_float("0x1p-2"), Ok(0.25));
        assert_eq!(parse_float("0x1.8p1"), Ok(3.0));
        assert_eq!(parse_float("-Inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_float("infinity"), Ok(f64::INFINITY));
        assert!(parse_float("NaN").is_ok_and(f64::is_nan));
        assert!(parse_float("+nan").is_err());
        assert!(parse_float("infx").is_err());
        assert!(parse_float("1e400").is_err());
        assert_eq!(parse_float("1e-400"), Ok(0.0));
        assert!(parse_float("0x1").is_err());
        assert!(parse_float("1e").is_err());
        assert!(parse_float(".").is_err());
        assert!(parse_float("").is_err());
        assert!(parse_float("1_e5").is_err());
        assert!(parse_float(" 1").is_err());
    }

    #[test]
    fn casts() {
        assert_eq!(to_int64(&Value::from("5.0")), 5);
        assert_eq!(to_int64(&Value::from("5.5")), 0);
        assert_eq!(to_int64(&Value::Float(-2.7)), -2);
        assert_eq!(to_int64(&Value::Float(1e300)), i64::MIN);
        assert_eq!(to_int64(&Value::Bool(true)), 1);
        assert_eq!(to_float64(&Value::from("abc")), 0.0);
        assert_eq!(to_float64(&Value::Int64(3)), 3.0);
    }
}

//! Go's `fmt` formatting (`Sprint`, `Sprintln`, `Sprintf`) for [`Value`]s: the verbs, flags,
//! widths and precisions templates use, and Go's texts for bad verbs and arguments.

use crate::value::Value;

#[derive(Clone, Copy, Default)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    /// `%#v`: Go syntax.
    sharp_v: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprint`: operands formatted with `%v`, a space between two operands when neither
/// is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', Flags::default());
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: operands with `%v`, always separated by a space, and a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', Flags::default());
    }
    out.push('\n');
    out
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let b = format.as_bytes();
    let mut i = 0;
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut good_arg_num = true;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[start..i]);
        if i >= b.len() {
            break;
        }
        i += 1; // '%'
        let mut fl = Flags::default();
        while i < b.len() {
            match b[i] {
                b'#' => fl.sharp = true,
                b'0' => fl.zero = !fl.minus,
                b'+' => fl.plus = true,
                b'-' => {
                    fl.minus = true;
                    fl.zero = false;
                }
                b' ' => fl.space = true,
                _ => break,
            }
            i += 1;
        }
        // argument index, width
        if i < b.len() && b[i] == b'[' {
            reordered = true;
        }
        let (n, ni, ok) = arg_index(b, i, arg_num, args.len());
        if let Some(n) = n {
            arg_num = n;
        }
        good_arg_num &= ok;
        i = ni;
        if i < b.len() && b[i] == b'*' {
            i += 1;
            match int_arg(args, &mut arg_num) {
                Some(w) => {
                    if w < 0 {
                        fl.minus = true;
                        fl.zero = false;
                        fl.width = Some(w.unsigned_abs() as usize);
                    } else {
                        fl.width = Some(w as usize);
                    }
                    if w.unsigned_abs() > 1_000_000 {
                        fl.width = None;
                        out.push_str("%!(BADWIDTH)");
                    }
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
            reordered = false;
        } else {
            let (w, ni) = parse_num(b, i);
            if let Some(w) = w {
                fl.width = Some(w);
                if reordered {
                    good_arg_num = false;
                }
            }
            i = ni;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            if reordered {
                good_arg_num = false;
            }
            if i < b.len() && b[i] == b'[' {
                reordered = true;
            }
            let (n, ni, ok) = arg_index(b, i, arg_num, args.len());
            if let Some(n) = n {
                arg_num = n;
            }
            good_arg_num &= ok;
            i = ni;
            if i < b.len() && b[i] == b'*' {
                i += 1;
                match int_arg(args, &mut arg_num) {
                    Some(p) if p >= 0 => fl.prec = Some(p as usize),
                    Some(_) => fl.prec = None,
                    None => out.push_str("%!(BADPREC)"),
                }
                reordered = false;
            } else {
                let (p, ni) = parse_num(b, i);
                fl.prec = Some(p.unwrap_or(0));
                i = ni;
            }
        }
        if !reordered {
            if i < b.len() && b[i] == b'[' {
                reordered = true;
            }
            let (n, ni, ok) = arg_index(b, i, arg_num, args.len());
            if let Some(n) = n {
                arg_num = n;
            }
            good_arg_num &= ok;
            i = ni;
        }
        if i >= b.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('?');
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        if !good_arg_num {
            out.push_str("%!");
            out.push(verb);
            out.push_str("(BADINDEX)");
            good_arg_num = true;
            continue;
        }
        if arg_num >= args.len() {
            out.push_str("%!");
            out.push(verb);
            out.push_str("(MISSING)");
            continue;
        }
        if verb == 'w' {
            out.push_str("%!w(");
            out.push_str(&args[arg_num].type_name());
            out.push('=');
            print_arg(&mut out, &args[arg_num], 'v', Flags::default());
            out.push(')');
            arg_num += 1;
            continue;
        }
        // the + flag on %v only matters for structs; # on %v asks for Go syntax
        if verb == 'v' {
            fl.plus = false;
            fl.sharp_v = fl.sharp;
            fl.sharp = false;
        }
        print_arg(&mut out, &args[arg_num], verb, fl);
        arg_num += 1;
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            match a {
                Value::Nil => out.push_str("<nil>"),
                _ => {
                    out.push_str(&a.type_name());
                    out.push('=');
                    print_arg(&mut out, a, 'v', Flags::default());
                }
            }
        }
        out.push(')');
    }
    out
}

fn parse_num(b: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        if n > 1_000_000 {
            return (None, b.len()); // Go: overflow, %!(NOVERB) follows
        }
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    if i == start { (None, i) } else { (Some(n), i) }
}

/// `[n]` argument indexes: (new argument number, next position, ok).
fn arg_index(b: &[u8], i: usize, arg_num: usize, nargs: usize) -> (Option<usize>, usize, bool) {
    if i >= b.len() || b[i] != b'[' {
        return (None, i, true);
    }
    // find the closing bracket
    let mut j = i + 1;
    while j < b.len() && b[j] != b']' {
        j += 1;
    }
    if j >= b.len() {
        return (None, i + 1, false);
    }
    let digits = &b[i + 1..j];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 7 {
        return (None, j + 1, false);
    }
    let n: usize = std::str::from_utf8(digits).unwrap_or("0").parse().unwrap_or(0);
    if n >= 1 && n - 1 < nargs {
        (Some(n - 1), j + 1, true)
    } else {
        let _ = arg_num;
        (None, j + 1, false)
    }
}

fn int_arg(args: &[Value], arg_num: &mut usize) -> Option<i64> {
    if *arg_num >= args.len() {
        return None;
    }
    let r = match &args[*arg_num] {
        Value::Int(i) | Value::Int64(i) => Some(*i),
        _ => None,
    };
    *arg_num += 1;
    r
}

fn pad(out: &mut String, s: &str, fl: Flags) {
    let w = match fl.width {
        Some(w) => w,
        None => {
            out.push_str(s);
            return;
        }
    };
    let n = s.chars().count();
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = w - n;
    if fl.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if fl.zero {
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(s);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn print_arg(out: &mut String, v: &Value, verb: char, fl: Flags) {
    if let Value::Nil = v {
        match verb {
            'T' | 'v' => pad(out, "<nil>", fl),
            _ => bad_verb_fl(out, v, verb, fl),
        }
        return;
    }
    if verb == 'T' {
        pad(out, &v.type_name(), fl);
        return;
    }
    print_value(out, v, verb, fl, 0);
}

/// Go's `%!verb(type=value)`; the value is printed with `%v` and the verb's flags.
fn bad_verb_fl(out: &mut String, v: &Value, verb: char, fl: Flags) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    match v {
        Value::Nil => out.push_str("<nil>"),
        _ => {
            out.push_str(&v.type_name());
            out.push('=');
            print_value(out, v, 'v', fl, 0);
        }
    }
    out.push(')');
}

fn print_value(out: &mut String, v: &Value, verb: char, fl: Flags, depth: usize) {
    match v {
        Value::Nil => {
            if depth == 0 {
                print_arg(out, v, verb, fl);
            } else if fl.sharp_v {
                out.push_str("interface {}(nil)");
            } else {
                pad(out, "<nil>", fl);
            }
        }
        Value::String(s) if fl.sharp_v && verb == 'v' => pad(out, &quote(s, false), fl),
        Value::Slice(items) if fl.sharp_v && verb == 'v' => {
            out.push_str("[]interface {}{");
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print_value(out, e, verb, fl, depth + 1);
            }
            out.push('}');
        }
        Value::Map(m) if fl.sharp_v && verb == 'v' => {
            out.push_str("map[string]interface {}{");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                pad(out, &quote(k, false), fl);
                out.push(':');
                print_value(out, e, verb, fl, depth + 1);
            }
            out.push('}');
        }
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, fl),
            _ => bad_verb_fl(out, v, verb, fl),
        },
        Value::Int(i) | Value::Int64(i) => fmt_integer(out, *i, verb, fl, v),
        Value::Float(f) => fmt_float_verb(out, *f, verb, fl, v),
        Value::String(s) => match verb {
            'v' | 's' => fmt_s(out, s, fl),
            'x' | 'X' => fmt_sx(out, s, verb == 'X', fl),
            'q' => {
                let q = if fl.sharp && !s.contains('`') && s.chars().all(|c| c == '\t' || !c.is_control()) {
                    format!("`{s}`")
                } else {
                    quote(&truncate(s, fl.prec), fl.plus)
                };
                pad(out, &q, fl);
            }
            _ => bad_verb_fl(out, v, verb, fl),
        },
        Value::Slice(items) => {
            out.push('[');
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_value(out, e, verb, fl, depth + 1);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_value(out, &Value::String(k.clone()), verb, fl, depth + 1);
                out.push(':');
                print_value(out, e, verb, fl, depth + 1);
            }
            out.push(']');
        }
        Value::Func(_) => match verb {
            // Go prints the function's address; a template can't rely on it.
            'v' | 'p' => pad(out, "0xfunc", fl),
            _ => bad_verb_fl(out, v, verb, fl),
        },
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn fmt_s(out: &mut String, s: &str, fl: Flags) {
    pad(out, &truncate(s, fl.prec), fl);
}

fn fmt_sx(out: &mut String, s: &str, upper: bool, fl: Flags) {
    let digits: &[u8] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let bytes = s.as_bytes();
    let n = match fl.prec {
        Some(p) if p < bytes.len() => p,
        _ => bytes.len(),
    };
    let mut r = String::new();
    if n == 0 {
        // Go pads an empty %x with spaces even with the zero flag
        let f = Flags { zero: false, ..fl };
        pad(out, "", f);
        return;
    }
    for (i, c) in bytes[..n].iter().enumerate() {
        if fl.space && i > 0 {
            r.push(' ');
        }
        if fl.sharp && (fl.space || i == 0) {
            r.push_str(if upper { "0X" } else { "0x" });
        }
        r.push(digits[(c >> 4) as usize] as char);
        r.push(digits[(c & 15) as usize] as char);
    }
    pad(out, &r, fl);
}

fn fmt_integer(out: &mut String, i: i64, verb: char, fl: Flags, v: &Value) {
    let base = match verb {
        'v' | 'd' => 10,
        'b' => 2,
        'o' | 'O' => 8,
        'x' | 'X' => 16,
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), fl);
            return;
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let q = if fl.sharp && c != '\'' && !c.is_control() && c != '`' {
                format!("'{c}'")
            } else {
                quote_rune(c, fl.plus)
            };
            pad(out, &q, fl);
            return;
        }
        'U' => {
            let mut s = format!("U+{:04X}", i as u64);
            if fl.sharp
                && let Some(c) = u32::try_from(i).ok().and_then(char::from_u32)
                && !c.is_control()
            {
                s.push_str(&format!(" '{c}'"));
            }
            pad(out, &s, fl);
            return;
        }
        _ => {
            bad_verb_fl(out, v, verb, fl);
            return;
        }
    };
    let neg = i < 0;
    let mag = i.unsigned_abs();
    let mut digits = match base {
        2 => format!("{mag:b}"),
        8 => format!("{mag:o}"),
        16 if verb == 'X' => format!("{mag:X}"),
        16 => format!("{mag:x}"),
        _ => mag.to_string(),
    };
    if let Some(p) = fl.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    } else if fl.zero
        && !fl.minus
        && let Some(w) = fl.width
    {
        {
            let mut extra = 0;
            if neg || fl.plus || fl.space {
                extra += 1;
            }
            if fl.sharp {
                extra += match base {
                    16 | 2 => 2,
                    8 => 1,
                    _ => 0,
                };
            }
            if verb == 'O' {
                extra += 2;
            }
            while digits.len() + extra < w {
                digits.insert(0, '0');
            }
        }
    }
    let mut prefix = String::new();
    if neg {
        prefix.push('-');
    } else if fl.plus {
        prefix.push('+');
    } else if fl.space {
        prefix.push(' ');
    }
    if fl.sharp {
        match base {
            2 => prefix.push_str("0b"),
            8 if !digits.starts_with('0') => prefix.push('0'),
            16 => prefix.push_str(if verb == 'X' { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        prefix.push_str("0o");
    }
    let s = format!("{prefix}{digits}");
    let f = Flags { zero: false, ..fl };
    pad(out, &s, f);
}

/// Decimal digits of a finite non-negative float: digits (no leading zeros unless zero)
/// and the decimal point position, value = 0.d1d2... × 10^dp.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

fn parse_e(s: &str) -> Digits {
    // s like "1.2345e-7" or "0e0"
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    if mant.bytes().all(|c| c == b'0' || c == b'.') {
        return Digits { d: vec![], dp: 0 };
    }
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|c| c - b'0')
        .collect();
    while d.len() > 1 && d.last() == Some(&0) {
        d.pop();
    }
    if d == [0] {
        return Digits { d: vec![], dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

fn shortest(f: f64) -> Digits {
    parse_e(&format!("{:e}", f.abs()))
}

fn rounded(f: f64, sig: usize) -> Digits {
    parse_e(&format!("{:.*e}", sig.saturating_sub(1), f.abs()))
}

fn fmt_e(d: &Digits, prec: usize, upper: bool) -> String {
    let mut s = String::new();
    let first = d.d.first().copied().unwrap_or(0);
    s.push((b'0' + first) as char);
    if prec > 0 {
        s.push('.');
        for k in 1..=prec {
            s.push((b'0' + d.d.get(k).copied().unwrap_or(0)) as char);
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if d.d.is_empty() { 0 } else { d.dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
    s
}

fn fmt_f(d: &Digits, prec: usize) -> String {
    let mut s = String::new();
    if d.dp > 0 {
        for k in 0..d.dp as usize {
            s.push((b'0' + d.d.get(k).copied().unwrap_or(0)) as char);
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for k in 0..prec as i32 {
            let idx = d.dp + k;
            let c = if idx < 0 {
                0
            } else {
                d.d.get(idx as usize).copied().unwrap_or(0)
            };
            s.push((b'0' + c) as char);
        }
    }
    s
}

/// strconv.FormatFloat for 'e', 'f', 'g' (prec None = shortest).
fn format_float(f: f64, verb: char, prec: Option<usize>) -> String {
    let upper = verb.is_ascii_uppercase();
    match verb.to_ascii_lowercase() {
        'e' => {
            let d = match prec {
                None => shortest(f),
                Some(p) => rounded(f, p + 1),
            };
            let p = prec.unwrap_or(d.d.len().max(1) - 1);
            fmt_e(&d, p, upper)
        }
        'f' => match prec {
            Some(p) => format!("{:.*}", p, f.abs()),
            None => {
                let d = shortest(f);
                let p = (d.d.len() as i32 - d.dp).max(0) as usize;
                fmt_f(&d, p)
            }
        },
        _ => {
            let (d, mut p, short) = match prec {
                None => {
                    let d = shortest(f);
                    let n = d.d.len();
                    (d, n, true)
                }
                Some(p) => {
                    let p = p.max(1);
                    (rounded(f, p), p, false)
                }
            };
            let nd = d.d.len() as i32;
            let mut eprec = p as i32;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            if short {
                eprec = 6;
            }
            let exp = if d.d.is_empty() { 0 } else { d.dp - 1 };
            if exp < -4 || exp >= eprec {
                if p as i32 > nd {
                    p = nd as usize;
                }
                return fmt_e(&d, p.saturating_sub(1), upper);
            }
            if p as i32 > d.dp {
                p = nd as usize;
            }
            fmt_f(&d, (p as i32 - d.dp).max(0) as usize)
        }
    }
}

fn fmt_float_verb(out: &mut String, f: f64, verb: char, fl: Flags, v: &Value) {
    let (verb, prec) = match verb {
        'v' => ('g', fl.prec),
        'g' | 'G' => (verb, fl.prec),
        'e' | 'E' | 'f' => (verb, Some(fl.prec.unwrap_or(6))),
        'F' => ('f', Some(fl.prec.unwrap_or(6))),
        _ => {
            bad_verb_fl(out, v, verb, fl);
            return;
        }
    };
    let mut body = if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        "Inf".to_string()
    } else {
        let mut b = format_float(f, verb, prec);
        if fl.sharp && !b.contains('.') {
            // %#g keeps the decimal point
            match b.find(['e', 'E']) {
                Some(k) => b.insert(k, '.'),
                None => b.push('.'),
            }
        }
        b
    };
    let neg = f.is_sign_negative() && !f.is_nan();
    let sign = if neg {
        "-"
    } else if fl.plus {
        "+"
    } else if fl.space {
        " "
    } else {
        ""
    };
    if f.is_infinite() || f.is_nan() {
        let sign = if f.is_nan() {
            if fl.plus {
                "+"
            } else if fl.space {
                " "
            } else {
                ""
            }
        } else {
            sign
        };
        let s = format!("{sign}{body}");
        pad(out, &s, Flags { zero: false, ..fl });
        return;
    }
    if fl.zero
        && !fl.minus
        && let Some(w) = fl.width
    {
        while body.len() + sign.len() < w {
            body.insert(0, '0');
        }
    }
    let s = format!("{sign}{body}");
    pad(out, &s, Flags { zero: false, ..fl });
}

fn is_print(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{00AD}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{200B}'..='\u{200F}'
        )
        || (c.is_whitespace() && c != ' '))
}

fn escape_rune(s: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        s.push('\\');
        s.push(c);
        return;
    }
    if ascii_only {
        if c.is_ascii() && is_print(c) {
            s.push(c);
            return;
        }
    } else if is_print(c) {
        s.push(c);
        return;
    }
    match c {
        '\u{7}' => s.push_str("\\a"),
        '\u{8}' => s.push_str("\\b"),
        '\u{c}' => s.push_str("\\f"),
        '\n' => s.push_str("\\n"),
        '\r' => s.push_str("\\r"),
        '\t' => s.push_str("\\t"),
        '\u{b}' => s.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => s.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
        c => s.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// strconv.Quote (or QuoteToASCII).
pub fn quote(s: &str, ascii_only: bool) -> String {
    let mut r = String::from("\"");
    for c in s.chars() {
        escape_rune(&mut r, c, '"', ascii_only);
    }
    r.push('"');
    r
}

fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut r = String::from("'");
    escape_rune(&mut r, c, '\'', ascii_only);
    r.push('\'');
    r
}

/// `%v` of a single value, as the template engine prints an action's value.
pub fn format_v(v: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, v, 'v', Flags::default());
    out
}

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

/// `fmt.Sprintf`, following fmt's doPrintf step for step.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut st = Printf {
        args,
        out: String::new(),
        reordered: false,
        good_arg_num: true,
    };
    st.run(format);
    st.out
}

struct Printf<'a> {
    args: &'a [Value],
    out: String,
    reordered: bool,
    good_arg_num: bool,
}

const TOO_LARGE: i64 = 1_000_000;

/// fmt's parsenum: (number, whether there was one, next position).
fn parse_num(b: &[u8], start: usize) -> (i64, bool, usize) {
    let mut num: i64 = 0;
    let mut isnum = false;
    let mut i = start;
    while i < b.len() && b[i].is_ascii_digit() {
        if num > TOO_LARGE {
            return (0, false, b.len()); // overflow: a crazy long number
        }
        num = num * 10 + i64::from(b[i] - b'0');
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

/// fmt's parseArgNumber on `b` (starting at '['): (index, width consumed, ok).
fn parse_arg_number(b: &[u8]) -> (i64, usize, bool) {
    if b.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..b.len() {
        if b[i] == b']' {
            let (width, ok, newi) = parse_num(&b[..i], 1);
            if !ok || newi != i {
                return (0, i + 1, false);
            }
            return (width - 1, i + 1, true);
        }
    }
    (0, 1, false)
}

impl Printf<'_> {
    /// fmt's argNumber: (new argument number, next position, found).
    fn arg_number(&mut self, arg_num: usize, b: &[u8], i: usize) -> (usize, usize, bool) {
        if b.len() <= i || b[i] != b'[' {
            return (arg_num, i, false);
        }
        self.reordered = true;
        let (index, wid, ok) = parse_arg_number(&b[i..]);
        if ok && index >= 0 && (index as usize) < self.args.len() {
            return (index as usize, i + wid, true);
        }
        self.good_arg_num = false;
        (arg_num, i + wid, ok)
    }

    /// fmt's intFromArg: (number, whether it is an int, next argument).
    fn int_from_arg(&self, arg_num: usize) -> (i64, bool, usize) {
        if arg_num >= self.args.len() {
            return (0, false, arg_num);
        }
        let (mut num, mut is_int) = match &self.args[arg_num] {
            Value::Int(i) | Value::Int64(i) => (*i, true),
            Value::Uint8(u) => (i64::from(*u), true),
            _ => (0, false),
        };
        if !(-TOO_LARGE..=TOO_LARGE).contains(&num) {
            num = 0;
            is_int = false;
        }
        (num, is_int, arg_num + 1)
    }

    fn run(&mut self, format: &str) {
        let b = format.as_bytes();
        let end = b.len();
        let mut arg_num = 0usize;
        let mut i = 0;
        'format: while i < end {
            self.good_arg_num = true;
            let last = i;
            while i < end && b[i] != b'%' {
                i += 1;
            }
            self.out.push_str(&format[last..i]);
            if i >= end {
                break;
            }
            i += 1;
            let mut fl = Flags::default();
            while i < end {
                match b[i] {
                    b'#' => fl.sharp = true,
                    b'0' => fl.zero = !fl.minus,
                    b'+' => fl.plus = true,
                    b'-' => {
                        fl.minus = true;
                        fl.zero = false;
                    }
                    b' ' => fl.space = true,
                    c => {
                        // fast path: a lower-case verb right after the flags
                        if c.is_ascii_lowercase() && arg_num < self.args.len() {
                            let mut f = fl;
                            if c == b'v' {
                                f.sharp_v = f.sharp;
                                f.sharp = false;
                                f.plus = false;
                            }
                            print_arg(&mut self.out, &self.args[arg_num], c as char, f);
                            arg_num += 1;
                            i += 1;
                            continue 'format;
                        }
                        break;
                    }
                }
                i += 1;
            }
            let (n, ni, mut after_index) = self.arg_number(arg_num, b, i);
            arg_num = n;
            i = ni;
            if i < end && b[i] == b'*' {
                i += 1;
                let (w, ok, n) = self.int_from_arg(arg_num);
                arg_num = n;
                if !ok {
                    self.out.push_str("%!(BADWIDTH)");
                }
                if ok {
                    if w < 0 {
                        fl.minus = true;
                        fl.zero = false;
                    }
                    fl.width = Some(w.unsigned_abs() as usize);
                }
                after_index = false;
            } else {
                let (w, present, ni) = parse_num(b, i);
                i = ni;
                if present {
                    fl.width = Some(w as usize);
                    if after_index {
                        self.good_arg_num = false;
                    }
                }
            }
            if i + 1 < end && b[i] == b'.' {
                i += 1;
                if after_index {
                    self.good_arg_num = false;
                }
                let (n, ni, ai) = self.arg_number(arg_num, b, i);
                arg_num = n;
                i = ni;
                after_index = ai;
                if i < end && b[i] == b'*' {
                    i += 1;
                    let (p, ok, n) = self.int_from_arg(arg_num);
                    arg_num = n;
                    let (p, ok) = if p < 0 { (0, false) } else { (p, ok) };
                    if ok {
                        fl.prec = Some(p as usize);
                    } else {
                        self.out.push_str("%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (p, present, ni) = parse_num(b, i);
                    i = ni;
                    fl.prec = Some(if present { p as usize } else { 0 });
                }
            }
            if !after_index {
                let (n, ni, _) = self.arg_number(arg_num, b, i);
                arg_num = n;
                i = ni;
            }
            if i >= end {
                self.out.push_str("%!(NOVERB)");
                break;
            }
            let verb = format[i..].chars().next().unwrap_or('?');
            i += verb.len_utf8();
            if verb == '%' {
                self.out.push('%');
            } else if !self.good_arg_num {
                self.out.push_str(&format!("%!{verb}(BADINDEX)"));
            } else if arg_num >= self.args.len() {
                self.out.push_str(&format!("%!{verb}(MISSING)"));
            } else {
                if verb == 'v' {
                    fl.sharp_v = fl.sharp;
                    fl.sharp = false;
                    fl.plus = false;
                }
                if verb == 'w' {
                    // Sprintf has no error to wrap: fmt prints %!w(type=value)
                    bad_verb_fl(&mut self.out, &self.args[arg_num], 'w', fl);
                } else {
                    print_arg(&mut self.out, &self.args[arg_num], verb, fl);
                }
                arg_num += 1;
            }
        }
        if !self.reordered && arg_num < self.args.len() {
            self.out.push_str("%!(EXTRA ");
            for (k, a) in self.args[arg_num..].iter().enumerate() {
                if k > 0 {
                    self.out.push_str(", ");
                }
                match a {
                    Value::Nil => self.out.push_str("<nil>"),
                    _ => {
                        self.out.push_str(&a.type_name());
                        self.out.push('=');
                        print_arg(&mut self.out, a, 'v', Flags::default());
                    }
                }
            }
            self.out.push(')');
        }
    }
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
                // fmt writes a nil element unpadded
                out.push_str("<nil>");
            }
        }
        Value::String(s) if fl.sharp_v && verb == 'v' => pad(out, &quote(&truncate(s, fl.prec), false), fl),
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
            for (i, (k, e)) in m.read().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                pad(out, &quote(&truncate(k, fl.prec), false), fl);
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
        // fmt prints an unsigned %#v in hex
        Value::Uint8(u) if verb == 'v' && fl.sharp_v => fmt_integer(
            out,
            i64::from(*u),
            'x',
            Flags {
                sharp: true,
                sharp_v: false,
                ..fl
            },
            v,
        ),
        Value::Uint8(u) => fmt_integer(out, i64::from(*u), verb, fl, v),
        Value::Float(f) => fmt_float_verb(out, *f, verb, fl, v),
        Value::String(s) => match verb {
            'v' | 's' => fmt_s(out, s, fl),
            'x' | 'X' => fmt_sx(out, s, verb == 'X', fl),
            'q' => {
                // the precision truncates before quoting
                let t = truncate(s, fl.prec);
                let q = if fl.sharp && can_backquote(&t) {
                    format!("`{t}`")
                } else {
                    quote(&t, fl.plus)
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
            for (i, (k, e)) in m.read().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_value(out, &Value::String(k.clone()), verb, fl, depth + 1);
                out.push(':');
                print_value(out, e, verb, fl, depth + 1);
            }
            out.push(']');
        }
        // fmt's handleMethods: a Stringer formats its String() with the string verbs
        Value::Object(o) => match verb {
            'v' | 's' | 'q' | 'x' | 'X' => print_value(
                out,
                &Value::String(o.format_v()),
                verb,
                Flags { sharp_v: false, ..fl },
                depth,
            ),
            _ => bad_verb_fl(out, v, verb, fl),
        },
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
            let q = if fl.sharp && c != '\'' && is_print(c) && c != '`' {
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
                && is_print(c)
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
            // zero has no digits and its point at 0: exponent -1, so %g prints it as %f
            let exp = d.dp - 1;
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
    let (fverb, prec) = match verb {
        'v' => ('g', fl.prec),
        'g' | 'G' | 'x' | 'X' | 'b' => (verb, fl.prec),
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
    } else if fverb == 'b' {
        format_binary_float(f.abs())
    } else if fverb == 'x' || fverb == 'X' {
        let b = format_hex_float(f.abs(), prec, fverb == 'X');
        if fl.sharp { sharp_float(b, verb, prec) } else { b }
    } else {
        let b = format_float(f, fverb, prec);
        if fl.sharp { sharp_float(b, verb, prec) } else { b }
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
        } else if neg {
            "-"
        } else if fl.space && !fl.plus {
            " "
        } else {
            // fmt always signs a positive infinity: +Inf
            "+"
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

/// fmt's `#` flag on floats: always a decimal point, and for %v/%g/%x the trailing zeros
/// up to the precision (6 when none is given).
fn sharp_float(num: String, verb: char, prec: Option<usize>) -> String {
    let mut digits: i64 = match verb {
        'v' | 'g' | 'G' | 'x' => prec.map(|p| p as i64).unwrap_or(6),
        _ => 0,
    };
    // the exponent is kept aside (in hex, 'e' is a digit)
    let exp_at = if verb == 'x' || verb == 'X' {
        num.find(['p', 'P'])
    } else {
        num.find(['e', 'E'])
    };
    let (mut body, tail) = match exp_at {
        Some(k) => (num[..k].to_string(), num[k..].to_string()),
        None => (num, String::new()),
    };
    let has_point = body.contains('.');
    let mut saw_nonzero = false;
    for c in body.chars() {
        if c == '.' {
            continue;
        }
        if c != '0' {
            saw_nonzero = true;
        }
        if saw_nonzero {
            digits -= 1;
        }
    }
    if !has_point {
        if body == "0" {
            digits -= 1;
        }
        body.push('.');
    }
    while digits > 0 {
        body.push('0');
        digits -= 1;
    }
    body + &tail
}

/// strconv's %b for floats: the integer mantissa and the binary exponent, `4503599627370496p-52`.
fn format_binary_float(f: f64) -> String {
    let bits = f.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    let exp = exp - 1023 - 52;
    format!("{mant}p{}{exp}", if exp >= 0 { "+" } else { "" })
}

/// strconv's %x for floats: `0x1.8p+01` (prec None = as many hex digits as needed).
fn format_hex_float(f: f64, prec: Option<usize>, upper: bool) -> String {
    let bits = f.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    exp -= 1023;
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1u64 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec
        && p < 15
    {
        let shift = (p * 4) as u32;
        let extra = (mant << shift) & ((1u64 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1u64 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1u64 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut s = String::from(if upper { "0X" } else { "0x" });
    s.push((b'0' + ((mant >> 60) & 1) as u8) as char);
    mant <<= 4;
    match prec {
        None if mant != 0 => {
            s.push('.');
            while mant != 0 {
                s.push(hex[((mant >> 60) & 15) as usize] as char);
                mant <<= 4;
            }
        }
        Some(p) if p > 0 => {
            s.push('.');
            for _ in 0..p {
                s.push(hex[((mant >> 60) & 15) as usize] as char);
                mant <<= 4;
            }
        }
        _ => {}
    }
    s.push(if upper { 'P' } else { 'p' });
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
    s
}

/// strconv.CanBackquote: no backquote, no control character but tab, no BOM.
fn can_backquote(s: &str) -> bool {
    s.chars().all(|c| {
        if c.is_ascii() {
            c == '\t' || (c >= ' ' && c != '\u{7f}' && c != '`')
        } else {
            c != '\u{feff}'
        }
    })
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Control (Cc), format (Cf), private-use (Co), separator (Zs other than the space,
/// Zl, Zp) characters are not; unassigned code points are not recognised here (Rust's
/// standard library has no table of them).
pub(crate) fn is_print(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() {
        return false;
    }
    const NOT_PRINT: &[(u32, u32)] = &[
        // Zs, Zl, Zp
        (0x00A0, 0x00A0),
        (0x1680, 0x1680),
        (0x2000, 0x200A),
        (0x2028, 0x2029),
        (0x202F, 0x202F),
        (0x205F, 0x205F),
        (0x3000, 0x3000),
        // Cf
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x13438),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        // Co
        (0xE000, 0xF8FF),
        (0xF0000, 0xFFFFD),
        (0x100000, 0x10FFFD),
        // noncharacters
        (0xFFFE, 0xFFFF),
        (0x1FFFE, 0x1FFFF),
        (0x10FFFE, 0x10FFFF),
    ];
    !NOT_PRINT.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
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

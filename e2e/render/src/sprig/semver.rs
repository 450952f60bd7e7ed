//! sprig's `semver` and `semverCompare`, with Masterminds/semver v3.3.0's versions and
//! constraints (as Helm 3.17 uses them). [`Version`] and [`Constraints`] are also what
//! chart dependency version ranges use.

use std::any::Any;
use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

use regex::Regex;

use crate::FuncMap;
use crate::value::{Arg, FuncResult, Function, GoObject, ParamType, Value};

/// Go's RE2 `\s` (ASCII whitespace, unlike Rust's Unicode `\s`).
const WS: &str = r"[\t\n\f\r ]";

const VERSION_RE: &str = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const CONSTRAINT_VERSION_RE: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Regexes {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn regexes() -> &'static Regexes {
    static R: OnceLock<Regexes> = OnceLock::new();
    R.get_or_init(|| {
        let cv = CONSTRAINT_VERSION_RE;
        let build = |s: String| Regex::new(&s.replace(r"\s", WS)).expect("semver regex");
        Regexes {
            version: build(format!("^{VERSION_RE}$")),
            constraint: build(format!(r"^\s*({OPS})\s*({cv})\s*$")),
            range: build(format!(r"\s*({cv})\s+-\s+({cv})\s*")),
            find: build(format!(r"({OPS})\s*({cv})")),
            valid: build(format!(
                r"^(\s*({OPS})\s*({cv})\s*)((?:\s+|,\s*)({OPS})\s*({cv})\s*)*$"
            )),
        }
    })
}

/// A semantic version (Masterminds/semver's `Version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

fn only_digits(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_digit())
}

fn only_allowed(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

fn validate_prerelease(p: &str) -> Result<(), String> {
    for part in p.split('.') {
        if only_digits(part) {
            if part.len() > 1 && part.starts_with('0') {
                return Err("Version segment starts with 0".into());
            }
        } else if !only_allowed(part) {
            return Err("Invalid Prerelease string".into());
        }
    }
    Ok(())
}

fn validate_metadata(m: &str) -> Result<(), String> {
    if m.split('.').all(only_allowed) {
        Ok(())
    } else {
        Err("Invalid Metadata string".into())
    }
}

/// Go's `strconv.ParseUint(s, 10, 64)` for a digit string, with its range error.
fn parse_u64(s: &str) -> Result<u64, String> {
    s.parse::<u64>().map_err(|_| {
        format!(
            "Error parsing version segment: strconv.ParseUint: parsing {}: value out of range",
            crate::gofmt::quote(s, false)
        )
    })
}

impl Version {
    /// `semver.NewVersion`: the loose form (`v` prefix, missing minor/patch allowed).
    pub fn parse(v: &str) -> Result<Version, String> {
        let m = regexes()
            .version
            .captures(v)
            .ok_or_else(|| "Invalid Semantic Version".to_string())?;
        let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
        let seg = |i: usize| -> Result<u64, String> {
            match g(i) {
                "" => Ok(0),
                s => parse_u64(s.trim_start_matches('.')),
            }
        };
        let ver = Version {
            major: parse_u64(g(1))?,
            minor: seg(2)?,
            patch: seg(3)?,
            pre: g(5).to_string(),
            metadata: g(8).to_string(),
            original: v.to_string(),
        };
        if !ver.pre.is_empty() {
            validate_prerelease(&ver.pre)?;
        }
        if !ver.metadata.is_empty() {
            validate_metadata(&ver.metadata)?;
        }
        Ok(ver)
    }

    fn zero() -> Version {
        Version {
            major: 0,
            minor: 0,
            patch: 0,
            pre: String::new(),
            metadata: String::new(),
            original: "0.0.0".into(),
        }
    }

    /// `Version.String()`: the normalised form.
    pub fn to_go_string(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            s.push('+');
            s.push_str(&self.metadata);
        }
        s
    }

    /// `Version.Compare`: precedence, metadata ignored.
    pub fn compare(&self, o: &Version) -> Ordering {
        self.major
            .cmp(&o.major)
            .then(self.minor.cmp(&o.minor))
            .then(self.patch.cmp(&o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &o.pre),
            })
    }

    fn v_prefix(&self) -> &str {
        if self.original.starts_with('v') { "v" } else { "" }
    }

    fn with_original(mut self, prefix: &str) -> Version {
        self.original = format!("{prefix}{}", self.to_go_string());
        self
    }

    fn inc(&self, which: u8) -> Version {
        let mut n = self.clone();
        n.metadata.clear();
        let had_pre = !n.pre.is_empty();
        n.pre.clear();
        match which {
            b'M' => {
                n.major = n.major.wrapping_add(1);
                n.minor = 0;
                n.patch = 0;
            }
            b'm' => {
                n.minor = n.minor.wrapping_add(1);
                n.patch = 0;
            }
            _ if !had_pre => n.patch = n.patch.wrapping_add(1),
            _ => {}
        }
        n.with_original(self.v_prefix())
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let sa: Vec<&str> = a.split('.').collect();
    let sb: Vec<&str> = b.split('.').collect();
    for i in 0..sa.len().max(sb.len()) {
        let d = compare_pre_part(sa.get(i).copied().unwrap_or(""), sb.get(i).copied().unwrap_or(""));
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(si), Ok(oi)) => {
            if si > oi {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Constraint {
    con: Version,
    op: String,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Constraint {
    fn parse(c: &str) -> Result<Constraint, String> {
        if c.is_empty() {
            return Ok(Constraint {
                con: Version::zero(),
                op: String::new(),
                minor_dirty: false,
                patch_dirty: false,
                dirty: true,
            });
        }
        let m = regexes()
            .constraint
            .captures(c)
            .ok_or_else(|| format!("improper constraint: {c}"))?;
        let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
        let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
        let ver = if is_x(g(3)) || g(3).is_empty() {
            dirty = true;
            format!("0.0.0{}", g(6))
        } else if is_x(g(4).trim_start_matches('.')) || g(4).is_empty() {
            minor_dirty = true;
            dirty = true;
            format!("{}.0.0{}", g(3), g(6))
        } else if is_x(g(5).trim_start_matches('.')) || g(5).is_empty() {
            dirty = true;
            patch_dirty = true;
            format!("{}{}.0{}", g(3), g(4), g(6))
        } else {
            g(2).to_string()
        };
        let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_string())?;
        Ok(Constraint {
            con,
            op: g(1).to_string(),
            minor_dirty,
            patch_dirty,
            dirty,
        })
    }

    fn check(&self, v: &Version) -> bool {
        let c = self;
        let pre_blocked = !v.pre.is_empty() && c.con.pre.is_empty();
        match c.op.as_str() {
            "" | "=" => {
                !pre_blocked
                    && if c.dirty {
                        c.tilde(v)
                    } else {
                        v.compare(&c.con).is_eq()
                    }
            }
            "!=" => c.not_equal(v),
            ">" => {
                if pre_blocked {
                    return false;
                }
                if !c.dirty {
                    return v.compare(&c.con).is_gt();
                }
                if v.major != c.con.major {
                    return v.major > c.con.major;
                }
                if c.minor_dirty {
                    return false;
                }
                if c.patch_dirty {
                    return v.minor > c.con.minor;
                }
                v.compare(&c.con).is_gt()
            }
            "<" => !pre_blocked && v.compare(&c.con).is_lt(),
            ">=" | "=>" => !pre_blocked && v.compare(&c.con).is_ge(),
            "<=" | "=<" => {
                if pre_blocked {
                    return false;
                }
                if !c.dirty {
                    return v.compare(&c.con).is_le();
                }
                !(v.major > c.con.major
                    || (v.major == c.con.major && v.minor > c.con.minor && !c.minor_dirty))
            }
            "~" | "~>" => !pre_blocked && c.tilde(v),
            "^" => !pre_blocked && c.caret(v),
            _ => false,
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = self;
        if !v.pre.is_empty() && c.con.pre.is_empty() {
            return false;
        }
        if v.compare(&c.con).is_lt() {
            return false;
        }
        if c.con.major == 0 && c.con.minor == 0 && c.con.patch == 0 && !c.minor_dirty && !c.patch_dirty {
            return true;
        }
        if v.major != c.con.major {
            return false;
        }
        v.minor == c.con.minor || c.minor_dirty
    }

    fn caret(&self, v: &Version) -> bool {
        let c = self;
        if v.compare(&c.con).is_lt() {
            return false;
        }
        if c.con.major > 0 || c.minor_dirty {
            return v.major == c.con.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.con.minor > 0 || c.patch_dirty {
            return v.minor == c.con.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.con.patch == v.patch
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = self;
        if c.dirty {
            if !v.pre.is_empty() && c.con.pre.is_empty() {
                return false;
            }
            if c.con.major != v.major {
                return true;
            }
            if c.con.minor != v.minor && !c.minor_dirty {
                return true;
            } else if c.minor_dirty {
                return false;
            } else if c.con.patch != v.patch && !c.patch_dirty {
                return true;
            } else if c.patch_dirty {
                if !v.pre.is_empty() || !c.con.pre.is_empty() {
                    return compare_prerelease(&v.pre, &c.con.pre) != Ordering::Equal;
                }
                return false;
            }
        }
        !v.compare(&c.con).is_eq()
    }
}

/// A constraint set (Masterminds/semver's `Constraints`): `||`-separated groups of
/// constraints that must all hold.
#[derive(Clone, Debug)]
pub(crate) struct Constraints {
    ors: Vec<Vec<Constraint>>,
}

/// Rewrites hyphen ranges (`1 - 2` to `>= 1, <= 2 `), as semver v3.3.0 does.
fn rewrite_range(i: &str) -> String {
    let r = &regexes().range;
    let mut o = i.to_string();
    for m in r.captures_iter(i) {
        let whole = m.get(0).map_or("", |x| x.as_str());
        let t = format!(
            ">= {}, <= {} ",
            m.get(1).map_or("", |x| x.as_str()),
            m.get(11).map_or("", |x| x.as_str())
        );
        o = o.replacen(whole, &t, 1);
    }
    o
}

impl Constraints {
    /// `semver.NewConstraint`, with its error texts.
    pub fn parse(c: &str) -> Result<Constraints, String> {
        let c = rewrite_range(c);
        let mut ors = Vec::new();
        for v in c.split("||") {
            if !regexes().valid.is_match(v) {
                return Err(format!("improper constraint: {v}"));
            }
            let mut found: Vec<&str> = regexes().find.find_iter(v).map(|m| m.as_str()).collect();
            if found.is_empty() {
                found.push(v);
            }
            ors.push(
                found
                    .into_iter()
                    .map(Constraint::parse)
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(Constraints { ors })
    }

    /// `Constraints.Check`.
    pub fn check(&self, v: &Version) -> bool {
        self.ors.iter().any(|group| group.iter().all(|c| c.check(v)))
    }
}

// ---- the template side ----

/// A `*semver.Version` (or, from `IncMajor` and friends, a `semver.Version` value).
struct VersionObj {
    v: Version,
    ptr: bool,
}

fn version_value(v: Version, ptr: bool) -> Value {
    Value::Object(Arc::new(VersionObj { v, ptr }))
}

/// A Go `uint64` as the engine can hold it: `int64` below 2^63 (the same digits when
/// printed), its decimal text above.
fn uint64(n: u64) -> Value {
    match i64::try_from(n) {
        Ok(i) => Value::Int64(i),
        Err(_) => Value::String(n.to_string()),
    }
}

fn arg_version(a: &[Arg]) -> Option<Version> {
    match a.first().map(Arg::value) {
        Some(Value::Object(o)) => o.as_any().downcast_ref::<VersionObj>().map(|x| x.v.clone()),
        _ => None,
    }
}

fn str_arg(a: &[Arg], i: usize) -> String {
    match a.get(i).map(Arg::value) {
        Some(Value::String(s)) => s,
        _ => String::new(),
    }
}

impl GoObject for VersionObj {
    fn type_name(&self) -> String {
        if self.ptr {
            "*semver.Version"
        } else {
            "semver.Version"
        }
        .into()
    }

    fn method(&self, name: &str) -> Option<Function> {
        let v = self.v.clone();
        let m0 = |result: &str, f: Box<dyn Fn() -> Value + Send + Sync>| {
            Function::new(vec![], false, result, false, move |_| Ok(Arg::Value(f())))
        };
        let f = match name {
            "String" => m0("string", Box::new(move || Value::String(v.to_go_string()))),
            "Major" => m0("uint64", Box::new(move || uint64(v.major))),
            "Minor" => m0("uint64", Box::new(move || uint64(v.minor))),
            "Patch" => m0("uint64", Box::new(move || uint64(v.patch))),
            "Prerelease" => m0("string", Box::new(move || Value::String(v.pre.clone()))),
            "Metadata" => m0("string", Box::new(move || Value::String(v.metadata.clone()))),
            "IncMajor" => m0(
                "semver.Version",
                Box::new(move || version_value(v.inc(b'M'), false)),
            ),
            "IncMinor" => m0(
                "semver.Version",
                Box::new(move || version_value(v.inc(b'm'), false)),
            ),
            "IncPatch" => m0(
                "semver.Version",
                Box::new(move || version_value(v.inc(b'p'), false)),
            ),
            "SetPrerelease" | "SetMetadata" => {
                let pre = name == "SetPrerelease";
                Function::new(vec![ParamType::String], false, "semver.Version", true, move |a| {
                    let s = str_arg(a, 0);
                    let mut n = v.clone();
                    if pre {
                        if !s.is_empty() {
                            validate_prerelease(&s)?;
                        }
                        n.pre = s;
                    } else {
                        if !s.is_empty() {
                            validate_metadata(&s)?;
                        }
                        n.metadata = s;
                    }
                    Ok(Arg::Value(version_value(n.with_original(v.v_prefix()), false)))
                })
            }
            // pointer-receiver methods
            "Original" if self.ptr => m0("string", Box::new(move || Value::String(v.original.clone()))),
            "Compare" | "LessThan" | "LessThanEqual" | "GreaterThan" | "GreaterThanEqual" | "Equal"
                if self.ptr =>
            {
                let which = name.to_string();
                let result = if which == "Compare" { "int" } else { "bool" };
                Function::new(
                    vec![ParamType::Named("*semver.Version")],
                    false,
                    result,
                    false,
                    move |a| {
                        let o = arg_version(a)
                            .ok_or("runtime error: invalid memory address or nil pointer dereference")?;
                        let d = v.compare(&o);
                        Ok(Arg::Value(match which.as_str() {
                            "Compare" => Value::Int(d as i64),
                            "LessThan" => Value::Bool(d.is_lt()),
                            "LessThanEqual" => Value::Bool(d.is_le()),
                            "GreaterThan" => Value::Bool(d.is_gt()),
                            "GreaterThanEqual" => Value::Bool(d.is_ge()),
                            _ => Value::Bool(d.is_eq()),
                        }))
                    },
                )
            }
            _ => return None,
        };
        Some(f)
    }

    fn format_v(&self) -> String {
        self.v.to_go_string()
    }

    fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(serde_json::Value::String(self.v.to_go_string()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn sv(f: impl Fn(&[Arg]) -> FuncResult + Send + Sync + 'static, params: usize, result: &str) -> Function {
    Function::new(vec![ParamType::String; params], false, result, true, f)
}

pub(super) fn register(m: &mut FuncMap) {
    m.insert(
        "semver".into(),
        sv(
            |a| Ok(Arg::Value(version_value(Version::parse(&str_arg(a, 0))?, true))),
            1,
            "*semver.Version",
        ),
    );
    m.insert(
        "semverCompare".into(),
        sv(
            |a| {
                let c = Constraints::parse(&str_arg(a, 0))?;
                let v = Version::parse(&str_arg(a, 1))?;
                Ok(Arg::Value(Value::Bool(c.check(&v))))
            },
            2,
            "bool",
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: &str, v: &str) -> bool {
        Constraints::parse(c).unwrap().check(&Version::parse(v).unwrap())
    }

    #[test]
    fn constraints() {
        assert!(check(">= 1.2, < 3", "2.9.9"));
        assert!(!check(">= 1.2, < 3", "3.0.0"));
        assert!(check("1.2 - 1.4.5", "1.4.5"));
        assert!(check("^1.2.3", "1.9.0"));
        assert!(!check("^0.2.3", "0.3.0"));
        assert!(check("~1.2.3", "1.2.9"));
        assert!(check("1.2.x", "1.2.7"));
        assert!(check("*", "7.0.0"));
        assert!(!check("*", "7.0.0-beta"));
        assert!(check(">=1.0.0-0", "7.0.0-beta"));
        assert!(check("<1 || >=3", "3.1.0"));
        assert_eq!(Constraints::parse("abc").unwrap_err(), "improper constraint: abc");
        assert_eq!(Version::parse("1.2.3.4").unwrap_err(), "Invalid Semantic Version");
    }
}

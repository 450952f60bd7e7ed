//! Chart version selection: an exact version or a constraint, with Masterminds semver v3's
//! semantics as Helm 3.17 applies them (repo.IndexFile.Get and the OCI tag matcher).
//!
//! This is an interim, self-contained semver until the crate's sprig semver (with the full
//! Masterminds grammar) is available here: everything that parses versions or checks
//! constraints goes through [`Version::parse`], [`Version::parse_strict`] and [`select`].

use std::cmp::Ordering;

/// A semantic version, parsed as Masterminds' `NewVersion` does (a leading `v`, missing minor
/// and patch allowed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

fn valid_ident_list(s: &str, no_leading_zero: bool) -> bool {
    !s.is_empty()
        && s.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !(no_leading_zero
                    && id.len() > 1
                    && id.starts_with('0')
                    && id.bytes().all(|b| b.is_ascii_digit()))
        })
}

impl Version {
    /// Masterminds `NewVersion`.
    pub(crate) fn parse(s: &str) -> Option<Version> {
        let body = s.strip_prefix('v').unwrap_or(s);
        Self::parse_parts(body, false)
    }

    /// Masterminds `StrictNewVersion`: exactly MAJOR.MINOR.PATCH with optional prerelease and
    /// metadata, no `v`, no leading zeros.
    pub(crate) fn parse_strict(s: &str) -> Option<Version> {
        Self::parse_parts(s, true)
    }

    fn parse_parts(body: &str, strict: bool) -> Option<Version> {
        let (rest, meta) = match body.split_once('+') {
            Some((r, m)) => (r, Some(m)),
            None => (body, None),
        };
        if let Some(m) = meta
            && !valid_ident_list(m, false)
        {
            return None;
        }
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, p),
            None => (rest, ""),
        };
        if !pre.is_empty() && !valid_ident_list(pre, true) {
            return None;
        }
        if rest.contains('-') && pre.is_empty() {
            return None;
        }
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 || (strict && parts.len() != 3) {
            return None;
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            if strict && p.len() > 1 && p.starts_with('0') {
                return None;
            }
            nums[i] = p.parse().ok()?;
        }
        Some(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre: pre.to_string(),
        })
    }

    fn cmp_pre(a: &str, b: &str) -> Ordering {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        let mut ai = a.split('.');
        let mut bi = b.split('.');
        loop {
            match (ai.next(), bi.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let xn = x
                        .parse::<u64>()
                        .ok()
                        .filter(|_| x.bytes().all(|c| c.is_ascii_digit()));
                    let yn = y
                        .parse::<u64>()
                        .ok()
                        .filter(|_| y.bytes().all(|c| c.is_ascii_digit()));
                    let o = match (xn, yn) {
                        (Some(p), Some(q)) => p.cmp(&q),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => x.cmp(y),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
            }
        }
    }

    /// Precedence order (build metadata ignored).
    pub(crate) fn compare(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| Self::cmp_pre(&self.pre, &other.pre))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

#[derive(Debug)]
struct Single {
    op: Op,
    v: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    major_dirty: bool,
}

impl Single {
    fn dirty(&self) -> bool {
        self.major_dirty || self.minor_dirty || self.patch_dirty
    }

    fn check(&self, v: &Version) -> bool {
        let c = &self.v;
        if !v.pre.is_empty() && c.pre.is_empty() {
            return false;
        }
        let cmp = v.compare(c);
        match self.op {
            Op::Eq if self.dirty() => self.tilde(v, cmp),
            Op::Eq => cmp == Ordering::Equal,
            Op::Ne if self.dirty() => !self.tilde(v, cmp),
            Op::Ne => cmp != Ordering::Equal,
            Op::Gt if self.dirty() => {
                if self.major_dirty {
                    false
                } else if v.major != c.major {
                    v.major > c.major
                } else if self.minor_dirty {
                    false
                } else {
                    v.minor > c.minor
                }
            }
            Op::Gt => cmp == Ordering::Greater,
            Op::Lt => cmp == Ordering::Less,
            Op::Ge => cmp != Ordering::Less,
            Op::Le if self.dirty() => {
                if self.major_dirty {
                    true
                } else if v.major != c.major {
                    v.major < c.major
                } else if self.minor_dirty {
                    true
                } else {
                    v.minor <= c.minor
                }
            }
            Op::Le => cmp != Ordering::Greater,
            Op::Tilde => self.tilde(v, cmp),
            Op::Caret => {
                if cmp == Ordering::Less {
                    return false;
                }
                if self.major_dirty {
                    true
                } else if c.major > 0 || self.minor_dirty {
                    v.major == c.major
                } else if c.minor > 0 || self.patch_dirty {
                    v.major == 0 && v.minor == c.minor
                } else {
                    v.major == 0 && v.minor == 0 && v.patch == c.patch
                }
            }
        }
    }

    fn tilde(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.v;
        if cmp == Ordering::Less {
            return false;
        }
        if self.major_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        if v.minor != c.minor && !self.minor_dirty {
            return false;
        }
        true
    }
}

/// A parsed constraint: OR of AND groups.
#[derive(Debug)]
pub(crate) struct Constraint {
    groups: Vec<Vec<Single>>,
}

fn parse_single(op: &str, ver: &str) -> Option<Single> {
    let op = match op {
        "" | "=" => Op::Eq,
        "!=" => Op::Ne,
        ">" => Op::Gt,
        "<" => Op::Lt,
        ">=" | "=>" => Op::Ge,
        "<=" | "=<" => Op::Le,
        "~" | "~>" => Op::Tilde,
        "^" => Op::Caret,
        _ => return None,
    };
    let body = ver.strip_prefix('v').unwrap_or(ver);
    let (core, suffix) = match body.find(['-', '+']) {
        Some(i) => (&body[..i], &body[i..]),
        None => (body, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 {
        return None;
    }
    let wild = |p: &str| matches!(p, "x" | "X" | "*");
    let mut nums = Vec::new();
    let mut dirty_from = None;
    for (i, p) in parts.iter().enumerate() {
        if wild(p) {
            dirty_from.get_or_insert(i);
            nums.push("0");
        } else {
            if dirty_from.is_some() {
                return None;
            }
            nums.push(p);
        }
    }
    let specified = parts.len();
    while nums.len() < 3 {
        nums.push("0");
    }
    let v = Version::parse(&format!("{}.{}.{}{}", nums[0], nums[1], nums[2], suffix))?;
    let d = dirty_from.unwrap_or(specified);
    Some(Single {
        op,
        v,
        major_dirty: d == 0,
        minor_dirty: d <= 1,
        patch_dirty: d <= 2,
    })
}

impl Constraint {
    /// Masterminds `NewConstraint` (the common grammar: `||`, `,` or spaces between parts,
    /// the operators, `x`/`X`/`*` wildcards and `a - b` ranges).
    pub(crate) fn parse(s: &str) -> Option<Constraint> {
        let mut groups = Vec::new();
        for group in s.split("||") {
            let mut tokens: Vec<String> = Vec::new();
            for piece in group.split(',') {
                for t in piece.split_whitespace() {
                    tokens.push(t.to_string());
                }
            }
            let mut singles = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                if i + 2 < tokens.len() && tokens[i + 1] == "-" {
                    singles.push(parse_single(">=", &tokens[i])?);
                    singles.push(parse_single("<=", &tokens[i + 2])?);
                    i += 3;
                    continue;
                }
                let mut t = tokens[i].clone();
                let mut op_len = t.bytes().take_while(|b| b"=!<>~^".contains(b)).count();
                if op_len == t.len() && i + 1 < tokens.len() {
                    // an operator followed by a space
                    i += 1;
                    t.push_str(&tokens[i]);
                    op_len = t.len() - tokens[i].len();
                }
                let (op, ver) = t.split_at(op_len);
                singles.push(parse_single(op, ver)?);
                i += 1;
            }
            if singles.is_empty() {
                return None;
            }
            groups.push(singles);
        }
        Some(Constraint { groups })
    }

    pub(crate) fn check(&self, v: &Version) -> bool {
        self.groups.iter().any(|g| g.iter().all(|s| s.check(v)))
    }
}

/// Sorts versions newest first (Helm's `SortEntries`); unparsable ones last, in their order.
pub(crate) fn sort_descending(versions: &mut [String]) {
    versions.sort_by(|a, b| match (Version::parse(a), Version::parse(b)) {
        (Some(x), Some(y)) => y.compare(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    });
}

/// Why [`select`] found nothing.
#[derive(Debug, PartialEq)]
pub(crate) enum SelectError {
    /// The requested version is neither one of the versions nor a valid constraint.
    BadConstraint,
    /// No version satisfies the constraint.
    NoMatch,
}

/// Chooses a version among `versions` (newest first) as Helm does: an empty request means
/// `*` (the newest release that is not a prerelease); a request equal to a listed version
/// picks it; otherwise the newest version satisfying the request as a constraint.
pub(crate) fn select<'a>(versions: &'a [String], requested: &str) -> Result<&'a str, SelectError> {
    let requested = requested.trim();
    if !requested.is_empty()
        && let Some(v) = versions.iter().find(|v| v.as_str() == requested)
    {
        return Ok(v);
    }
    let c = Constraint::parse(if requested.is_empty() { "*" } else { requested })
        .ok_or(SelectError::BadConstraint)?;
    versions
        .iter()
        .find(|v| Version::parse(v).is_some_and(|p| c.check(&p)))
        .map(|v| v.as_str())
        .ok_or(SelectError::NoMatch)
}

/// Whether the request names one exact version (Helm: it parses as a version), so that a
/// cached copy answers it without asking the repository.
pub(crate) fn is_exact(requested: &str) -> bool {
    Version::parse(requested.trim()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(vs: &[&str], req: &str) -> Result<String, SelectError> {
        let mut v: Vec<String> = vs.iter().map(|s| s.to_string()).collect();
        sort_descending(&mut v);
        select(&v, req).map(str::to_string)
    }

    #[test]
    fn selection_follows_masterminds() {
        let vs = [
            "1.0.0",
            "1.2.3",
            "1.2.10",
            "2.0.0-rc.1",
            "2.0.0",
            "0.9.0",
            "v1.3.0",
        ];
        assert_eq!(pick(&vs, "").unwrap(), "2.0.0");
        assert_eq!(pick(&vs, "1.2.3").unwrap(), "1.2.3");
        assert_eq!(pick(&vs, "~1.2").unwrap(), "1.2.10");
        assert_eq!(pick(&vs, "^1.0").unwrap(), "v1.3.0");
        assert_eq!(pick(&vs, "1.x").unwrap(), "v1.3.0");
        assert_eq!(pick(&vs, ">=1.0.0 <1.2.5").unwrap(), "1.2.3");
        assert_eq!(pick(&vs, ">= 1.0, < 1.2.5").unwrap(), "1.2.3");
        assert_eq!(pick(&vs, "<1.0.0 || >=3").unwrap(), "0.9.0");
        assert_eq!(pick(&vs, "1.0 - 1.2.3").unwrap(), "1.2.3");
        assert_eq!(pick(&vs, ">=2.0.0-0").unwrap(), "2.0.0");
        assert_eq!(pick(&vs, "2.0.0-rc.1").unwrap(), "2.0.0-rc.1");
        assert_eq!(pick(&vs, "^0.9").unwrap(), "0.9.0");
        assert_eq!(pick(&vs, ">5"), Err(SelectError::NoMatch));
        assert_eq!(pick(&vs, "not a version"), Err(SelectError::BadConstraint));
        assert_eq!(pick(&["2.0.0-rc.1"], ""), Err(SelectError::NoMatch));
    }

    #[test]
    fn parse_and_order() {
        assert!(Version::parse("1").is_some());
        assert!(Version::parse("v1.2").is_some());
        assert!(Version::parse("1.2.3-01").is_none());
        assert!(Version::parse("1.2.3.4").is_none());
        assert!(Version::parse_strict("1.2").is_none());
        assert!(Version::parse_strict("v1.2.3").is_none());
        assert!(Version::parse_strict("1.2.3+build.1").is_some());
        let mut v: Vec<String> = ["1.0.0-alpha", "1.0.0", "1.0.0-alpha.1", "1.0.0-beta", "junk"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort_descending(&mut v);
        assert_eq!(v, ["1.0.0", "1.0.0-beta", "1.0.0-alpha.1", "1.0.0-alpha", "junk"]);
    }
}

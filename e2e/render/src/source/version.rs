//! Chart version selection: an exact version or a constraint, with Masterminds semver v3.3.0's
//! semantics as Helm 3.17 applies them (repo.IndexFile.Get and the OCI tag matcher), over
//! the crate's Masterminds semver (the one sprig's semver functions use).

use std::cmp::Ordering;

use crate::sprig::semver::{Constraints, Version as SemVer};

/// A semantic version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version(SemVer);

impl Version {
    /// Masterminds `NewVersion` (a leading `v`, missing minor and patch allowed).
    pub(crate) fn parse(s: &str) -> Option<Version> {
        SemVer::parse(s).ok().map(Version)
    }

    /// Masterminds `StrictNewVersion`: exactly MAJOR.MINOR.PATCH with optional prerelease and
    /// metadata, no `v`, no leading zeros in the three numbers.
    pub(crate) fn parse_strict(s: &str) -> Option<Version> {
        let core = s.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        let strict = parts.len() == 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (p.len() == 1 || !p.starts_with('0'))
            });
        if strict { Self::parse(s) } else { None }
    }

    /// Precedence order (build metadata ignored).
    pub(crate) fn compare(&self, other: &Version) -> Ordering {
        self.0.compare(&other.0)
    }
}

/// A parsed constraint (Masterminds `NewConstraint`).
pub(crate) struct Constraint(Constraints);

impl Constraint {
    pub(crate) fn parse(s: &str) -> Option<Constraint> {
        Constraints::parse(s).ok().map(Constraint)
    }

    pub(crate) fn check(&self, v: &Version) -> bool {
        self.0.check(&v.0)
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

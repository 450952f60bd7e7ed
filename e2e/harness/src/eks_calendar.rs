//! The Amazon EKS Kubernetes release calendar: when each minor version leaves standard
//! support (from then on every cluster of it is billed extended support, six times the
//! standard price per control plane hour) and when extended support ends (EKS then
//! upgrades the control plane by itself). `hubspoke validate` warns when the version
//! `terraform/` pins has left standard support.
//!
//! The one place these dates live. Source: the "Amazon EKS Kubernetes release calendar" of
//! the EKS user guide (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html);
//! dates are UTC, and billing for extended support starts at the beginning of the end of
//! standard support day. Add a row when EKS releases a version.

use jiff::civil::Date;

/// One minor version: end of standard support, end of extended support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    pub version: &'static str,
    pub end_of_standard: Date,
    pub end_of_extended: Date,
}

const fn row(version: &'static str, standard: (i16, i8, i8), extended: (i16, i8, i8)) -> Support {
    Support {
        version,
        end_of_standard: jiff::civil::date(standard.0, standard.1, standard.2),
        end_of_extended: jiff::civil::date(extended.0, extended.1, extended.2),
    }
}

/// The calendar, oldest first.
pub const CALENDAR: [Support; 7] = [
    row("1.29", (2025, 3, 23), (2026, 3, 23)),
    row("1.30", (2025, 7, 23), (2026, 7, 23)),
    row("1.31", (2025, 11, 26), (2026, 11, 26)),
    row("1.32", (2026, 3, 23), (2027, 3, 23)),
    row("1.33", (2026, 7, 29), (2027, 7, 29)),
    row("1.34", (2026, 12, 2), (2027, 12, 2)),
    row("1.35", (2027, 3, 27), (2028, 3, 27)),
];

/// The calendar's row for `version` (`1.35`; a patch level such as `1.35.1` is ignored).
pub fn support(version: &str) -> Option<Support> {
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    CALENDAR.iter().copied().find(|s| s.version == minor)
}

/// The versions in standard support on `today`, oldest first.
pub fn in_standard_support(today: Date) -> Vec<&'static str> {
    CALENDAR
        .iter()
        .filter(|s| today < s.end_of_standard)
        .map(|s| s.version)
        .collect()
}

/// What is wrong with pinning `version` on `today`, if anything: out of standard support,
/// out of support altogether, or not in the calendar.
pub fn problem(version: &str, today: Date) -> Option<String> {
    let current = in_standard_support(today);
    let fix = match current.last() {
        Some(v) => format!(
            "pin {v} (standard support until {})",
            support(v).map(|s| s.end_of_standard.to_string()).unwrap_or_default()
        ),
        None => "add the versions EKS released since to hubspoke's calendar (e2e/harness/src/eks_calendar.rs) and pin one in standard support".into(),
    };
    let Some(s) = support(version) else {
        return Some(format!(
            "Kubernetes {version} is not in hubspoke's EKS release calendar (e2e/harness/src/eks_calendar.rs knows {}), so its support dates cannot be checked; fix: add its dates from the EKS release calendar, or {fix}",
            CALENDAR.iter().map(|s| s.version).collect::<Vec<_>>().join(", ")
        ));
    };
    if today >= s.end_of_extended {
        Some(format!(
            "EKS support for Kubernetes {version} ended on {} (standard support on {}): EKS no longer creates such clusters and upgrades existing ones by itself; fix: {fix}",
            s.end_of_extended, s.end_of_standard
        ))
    } else if today >= s.end_of_standard {
        Some(format!(
            "EKS standard support for Kubernetes {version} ended on {}: every cluster is billed extended support (six times the standard price per control plane hour) until {}; fix: {fix}",
            s.end_of_standard, s.end_of_extended
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_is_in_order_and_extended_support_lasts_twelve_months() {
        for pair in CALENDAR.windows(2) {
            assert!(pair[0].end_of_standard < pair[1].end_of_standard, "{pair:?}");
        }
        for s in CALENDAR {
            assert_eq!(
                s.end_of_standard.checked_add(jiff::Span::new().years(1)).unwrap(),
                s.end_of_extended,
                "{s:?}"
            );
        }
    }

    #[test]
    fn versions_are_judged_against_the_day() {
        let day = jiff::civil::date(2026, 12, 6);
        assert_eq!(in_standard_support(day), ["1.35"]);
        assert_eq!(problem("1.35", day), None);
        assert_eq!(
            problem("1.33", day).unwrap(),
            "EKS standard support for Kubernetes 1.33 ended on 2026-07-29: every cluster is billed extended support (six times the standard price per control plane hour) until 2027-07-29; fix: pin 1.35 (standard support until 2027-03-27)"
        );
        // the day itself is already billed as extended support
        assert!(problem("1.34", jiff::civil::date(2026, 12, 2)).is_some());
        assert_eq!(problem("1.34", jiff::civil::date(2026, 12, 1)), None);
        assert!(problem("1.29", day).unwrap().starts_with(
            "EKS support for Kubernetes 1.29 ended on 2026-03-23 (standard support on 2025-03-23)"
        ));
        assert!(
            problem("1.36", day)
                .unwrap()
                .starts_with("Kubernetes 1.36 is not in hubspoke's EKS release calendar")
        );
        assert!(
            problem("1.35", jiff::civil::date(2027, 4, 1))
                .unwrap()
                .ends_with("fix: add the versions EKS released since to hubspoke's calendar (e2e/harness/src/eks_calendar.rs) and pin one in standard support")
        );
    }
}

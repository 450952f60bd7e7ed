//! Reports of `hubspoke test`: JUnit (one testsuite per suite, the environment and the
//! revision under test as properties) and a Markdown summary for $GITHUB_STEP_SUMMARY.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::environment::Environment;
use crate::suites::CheckResult;

/// The JUnit XML of a run.
pub fn junit(env: &Environment, results: &[CheckResult]) -> String {
    let mut report = Report::new("hubspoke");
    let mut suites: Vec<TestSuite> = Vec::new();
    for r in results {
        if !suites.iter().any(|s| s.name.as_str() == r.suite) {
            let mut s = TestSuite::new(r.suite);
            s.add_property(("environment", env.provider.as_str()));
            if let Some(rev) = &env.revision {
                s.add_property(("repository", rev.repository.as_str()));
                s.add_property(("revision", rev.revision.as_str()));
                if let Some(sha) = &rev.sha {
                    s.add_property(("commit", sha.as_str()));
                }
            }
            suites.push(s);
        }
        let suite = suites
            .iter_mut()
            .find(|s| s.name.as_str() == r.suite)
            .expect("added above");
        let status = match &r.failure {
            None => TestCaseStatus::success(),
            Some(f) => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(f.lines().next().unwrap_or_default());
                match &r.bundle {
                    Some(b) => st.set_description(format!("{f}\n\ndiagnostics: {}", b.display())),
                    None => st.set_description(f.as_str()),
                };
                st
            }
        };
        let mut case = TestCase::new(r.name, status);
        case.set_classname(format!("hubspoke.{}", r.suite));
        case.set_time(r.duration);
        suite.add_test_case(case);
    }
    for s in &mut suites {
        let total = s.test_cases.iter().map(|c| c.time.unwrap_or_default()).sum();
        s.set_time(total);
    }
    report.add_test_suites(suites);
    report.to_string().unwrap_or_default()
}

/// A Markdown summary: one row per check.
pub fn markdown(env: &Environment, results: &[CheckResult]) -> String {
    let failed = results.iter().filter(|r| r.failure.is_some()).count();
    let mut out = format!("### hubspoke on {}\n\n", env.provider);
    if let Some(rev) = &env.revision {
        out.push_str(&format!(
            "Revision under test: `{}` of {}{}\n\n",
            rev.revision,
            rev.repository,
            rev.sha
                .as_deref()
                .map(|s| format!(" (`{}`)", &s[..s.len().min(12)]))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "{} check(s), {} passed, {failed} failed\n\n| check | result | time |\n|---|---|---|\n",
        results.len(),
        results.len() - failed
    ));
    for r in results {
        let result = match &r.failure {
            None => "passed".to_string(),
            Some(f) => format!(
                "**failed**: {}{}",
                f.lines().next().unwrap_or_default().replace('|', "\\|"),
                r.bundle
                    .as_ref()
                    .map(|b| format!(" (diagnostics: `{}`)", b.display()))
                    .unwrap_or_default()
            ),
        };
        out.push_str(&format!(
            "| {}/{} | {result} | {:.1}s |\n",
            r.suite,
            r.name,
            r.duration.as_secs_f64()
        ));
    }
    out
}

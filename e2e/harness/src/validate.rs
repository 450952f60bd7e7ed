//! `hubspoke validate`: the cluster definitions of every release and the YAML syntax of
//! every manifest under release/, fixtures/ and kind/.

use std::path::{Path, PathBuf};

use crate::definition::Definitions;

/// What validation found.
#[derive(Debug, Default)]
pub struct Report {
    pub files: usize,
    pub releases: Vec<PathBuf>,
    pub errors: Vec<String>,
}

/// Directories under `fixtures/` holding deliberately broken inputs (the tests' corpus).
const BROKEN_CORPORA: [&str; 1] = ["fixtures/cluster-definitions/invalid"];

fn yaml_files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).unwrap_or(&p);
        if BROKEN_CORPORA.iter().any(|c| rel.starts_with(c)) {
            continue;
        }
        if p.is_dir() {
            yaml_files(&p, root, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Validates the repository at `root`.
pub fn validate(root: &Path) -> Report {
    let mut report = Report::default();
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    if let Ok(entries) = std::fs::read_dir(root.join("release")) {
        let mut releases: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("clusters").is_dir())
            .collect();
        releases.sort();
        for r in releases {
            if let Err(errs) = Definitions::load(&r.join("clusters")) {
                report.errors.extend(errs.0.iter().map(|e| {
                    let mut e = e.clone();
                    e.file = PathBuf::from(rel(&e.file));
                    e.to_string()
                }));
            }
            report.releases.push(PathBuf::from(rel(&r)));
        }
    }
    let mut files = Vec::new();
    for d in ["release", "fixtures", "kind"] {
        yaml_files(&root.join(d), root, &mut files);
    }
    for f in &files {
        report.files += 1;
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(format!("{}: cannot be read: {e}", rel(f)));
                continue;
            }
        };
        if let Err(e) = crate::yaml::parse_all(&text) {
            report.errors.push(format!(
                "{}:{}:{}: invalid YAML: {}",
                rel(f),
                e.pos.line,
                e.pos.column,
                e.message
            ));
        }
    }
    report
}

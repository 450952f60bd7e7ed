//! Packaged charts (`.tgz`): reading them as Helm's loader does (the top directory stripped,
//! the same safety checks and size limits, Windows separators) and writing them in the
//! `helm package` layout, byte-for-byte deterministic.

use std::io::{Read, Write};

/// The largest total of a chart's decompressed files (Helm 3.17.3+: 100 MiB).
pub const MAX_DECOMPRESSED_CHART_SIZE: u64 = 100 * 1024 * 1024;
/// The largest single decompressed file (Helm 3.17.3+: 5 MiB).
pub const MAX_DECOMPRESSED_FILE_SIZE: u64 = 5 * 1024 * 1024;

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Go's `strconv.Quote` for the names in error messages.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `path.Clean`.
pub(crate) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn is_drive_path(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/'
}

/// Reads a packaged chart's files, paths relative to the chart root (Helm's
/// `LoadArchiveFiles`): errors are Helm's texts.
pub fn read_archive(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    if data.len() < 10 || data[0] != 0x1f || data[1] != 0x8b {
        return Err("gzip: invalid header".into());
    }
    let gz = flate2::read::MultiGzDecoder::new(data);
    let mut ar = tar::Archive::new(gz);
    let entries = ar.entries().map_err(|e| format!("archive/tar: {e}"))?;
    let mut files = Vec::new();
    let mut remaining = MAX_DECOMPRESSED_CHART_SIZE;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("archive/tar: {e}"))?;
        let header = entry.header();
        let kind = header.entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        }
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mode = header.mode().unwrap_or(0);
        let is_dir = kind.is_dir()
            || (mode & !0o7777) == 0o040000
            || (header.as_bytes()[156] == 0 && raw_name.ends_with('/'));
        if is_dir {
            continue;
        }
        let delim = if raw_name.contains('\\') { '\\' } else { '/' };
        let parts: Vec<&str> = raw_name.split(delim).collect();
        let rest = parts[1..].join(&delim.to_string());
        let n = rest.replace(delim, "/");
        if n.starts_with('/') {
            return Err("chart illegally contains absolute paths".into());
        }
        let n = clean_path(&n);
        if n == "." {
            return Err(format!(
                "chart illegally contains content outside the base directory: {}",
                go_quote(&raw_name)
            ));
        }
        if n.starts_with("..") {
            return Err("chart illegally references parent directory".into());
        }
        if is_drive_path(&n) {
            return Err("chart contains illegally named files".into());
        }
        if parts[0] == "Chart.yaml" {
            return Err("chart yaml not in base directory".into());
        }
        let size = entry.size();
        if size > remaining {
            return Err(format!(
                "decompressed chart is larger than the maximum file size {MAX_DECOMPRESSED_CHART_SIZE}"
            ));
        }
        if size > MAX_DECOMPRESSED_FILE_SIZE {
            return Err(format!(
                "decompressed chart file {} is larger than the maximum file size {MAX_DECOMPRESSED_FILE_SIZE}",
                go_quote(&raw_name)
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        let written = (&mut entry)
            .take(remaining)
            .read_to_end(&mut buf)
            .map_err(|e| format!("archive/tar: {e}"))? as u64;
        remaining -= written;
        if written < size || remaining == 0 {
            return Err(format!(
                "decompressed chart is larger than the maximum file size {MAX_DECOMPRESSED_CHART_SIZE}"
            ));
        }
        let data = match buf.strip_prefix(UTF8_BOM) {
            Some(d) => d.to_vec(),
            None => buf,
        };
        files.push((n, data));
    }
    if files.is_empty() {
        return Err("no files in chart archive".into());
    }
    Ok(files)
}

/// Reads a packaged chart file as `helm` does for a path (Helm's `LoadFile`): first checks
/// that it is a gzip archive at all, with Helm's hints when it is not.
pub fn read_archive_file(name: &str, data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    if !data.starts_with(&[0x1f, 0x8b, 0x08]) {
        if name.ends_with(".yml") || name.ends_with(".yaml") {
            return Err(format!(
                "file '{name}' seems to be a YAML file, but expected a gzipped archive"
            ));
        }
        let head = &data[..data.len().min(512)];
        let kind = if head.is_empty() || std::str::from_utf8(head).is_ok_and(|s| !s.contains('\0')) {
            "text/plain; charset=utf-8"
        } else {
            "application/octet-stream"
        };
        return Err(format!(
            "file '{name}' does not appear to be a gzipped archive; got '{kind}'"
        ));
    }
    read_archive(data).map_err(|e| {
        if e == "gzip: invalid header" {
            format!("file '{name}' does not appear to be a valid chart file (details: {e})")
        } else {
            e
        }
    })
}

/// A chart's name and version from its Chart.yaml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartMetadata {
    pub name: String,
    pub version: String,
}

fn scalar_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads name and version from the files' Chart.yaml.
pub fn chart_metadata(files: &[(String, Vec<u8>)]) -> Result<ChartMetadata, String> {
    let data = files
        .iter()
        .find(|(n, _)| n == "Chart.yaml")
        .map(|(_, d)| d)
        .ok_or_else(|| "Chart.yaml file is missing".to_string())?;
    let text =
        std::str::from_utf8(data).map_err(|_| "cannot load Chart.yaml: it is not UTF-8".to_string())?;
    let doc: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|e| format!("cannot load Chart.yaml: {e}"))?;
    let name = doc.get("name").and_then(scalar_string).unwrap_or_default();
    let version = doc.get("version").and_then(scalar_string).unwrap_or_default();
    if name.is_empty() {
        return Err("validation: chart.metadata.name is required".into());
    }
    if version.is_empty() {
        return Err("validation: chart.metadata.version is required".into());
    }
    if name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return Err(format!(
            "validation: chart.metadata.name {} is invalid",
            go_quote(&name)
        ));
    }
    Ok(ChartMetadata { name, version })
}

/// The gzip extra field `helm package` writes.
const HELM_GZIP_EXTRA: &[u8] = b"+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=";

fn package_order(path: &str) -> (u8, &str) {
    let rank = match path {
        "Chart.yaml" => 0,
        "Chart.lock" => 1,
        "values.yaml" => 2,
        "values.schema.json" => 3,
        p if p.starts_with("templates/") => 4,
        p if p.starts_with("charts/") => 6,
        _ => 5,
    };
    (rank, path)
}

/// Packages files as `helm package` lays them out (`NAME/Chart.yaml` first, then
/// Chart.lock, values.yaml, the schema, templates, other files, subcharts), deterministic:
/// sorted, mode 0644, times zero, owner root.
pub fn write_archive(name: &str, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    if name.is_empty() || name.contains('/') || name.contains('\\') {
        return Err(format!("chart name {} is invalid", go_quote(name)));
    }
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| package_order(&a.0).cmp(&package_order(&b.0)));
    let gz = flate2::GzBuilder::new()
        .extra(HELM_GZIP_EXTRA)
        .comment("Helm")
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    b.mode(tar::HeaderMode::Deterministic);
    for (path, data) in sorted {
        let clean = clean_path(path);
        if clean.starts_with("..") || clean.starts_with('/') || clean == "." {
            return Err(format!("file {} is outside the chart", go_quote(path)));
        }
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("{name}/{clean}"), data.as_slice())
            .map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    let gz = b.into_inner().map_err(|e| e.to_string())?;
    let mut out = gz.finish().map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        for (i, o) in [
            ("", "."),
            ("a/../..", ".."),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("a//b/./c/", "a/b/c"),
            ("a/b/../../c", "c"),
            ("..a", "..a"),
        ] {
            assert_eq!(clean_path(i), o, "{i}");
        }
    }

    #[test]
    fn round_trip_is_deterministic() {
        let files = vec![
            ("templates/a.yaml".to_string(), b"a: 1".to_vec()),
            ("values.yaml".to_string(), b"x: 1".to_vec()),
            ("Chart.yaml".to_string(), b"name: c\nversion: 1.0.0\n".to_vec()),
        ];
        let a = write_archive("c", &files).unwrap();
        assert_eq!(a, write_archive("c", &files).unwrap());
        let back = read_archive(&a).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Chart.yaml", "values.yaml", "templates/a.yaml"]);
        assert_eq!(
            chart_metadata(&back).unwrap(),
            ChartMetadata {
                name: "c".into(),
                version: "1.0.0".into()
            }
        );
    }

    #[test]
    fn hostile_input_never_panics() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let files = vec![
            ("Chart.yaml".to_string(), b"name: c\nversion: 1.0.0\n".to_vec()),
            ("templates/a.yaml".to_string(), vec![b'a'; 3000]),
        ];
        let good = write_archive("c", &files).unwrap();
        let raw = {
            let mut d = Vec::new();
            flate2::read::GzDecoder::new(&good[..])
                .read_to_end(&mut d)
                .unwrap();
            d
        };
        for round in 0..400 {
            // flip bytes in the tar stream, re-compress, and read
            let mut t = raw.clone();
            for _ in 0..(1 + next() % 8) {
                let i = (next() as usize) % t.len();
                t[i] = next() as u8;
            }
            if round % 3 == 0 {
                t.truncate((next() as usize) % t.len());
            }
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&t).unwrap();
            let _ = read_archive(&gz.finish().unwrap());
            // and the compressed bytes themselves
            let mut g = good.clone();
            let i = (next() as usize) % g.len();
            g[i] = next() as u8;
            let _ = read_archive(&g);
            let _ = read_archive(&good[..(next() as usize) % good.len()]);
            let alphabet = b"*?[]^-\\/!#a.\n ";
            let text: Vec<u8> = (0..(next() % 64))
                .map(|_| alphabet[(next() as usize) % alphabet.len()])
                .collect();
            let _ = super::super::dir::IgnoreRules::parse(&text);
            let pat = String::from_utf8_lossy(&text).into_owned();
            let _ = super::super::dir::glob_match(&pat, "a/b.c");
            let _ = super::super::http::Index::parse(&text);
        }
    }
}

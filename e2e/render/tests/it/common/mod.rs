//! Shared by the corpus tests: the corpus, the generated cases, tagged data, the oracle.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hubspoke_render::{Arg, Function, MissingKey, Options, ParamType, Template, Value};
use serde::Deserialize;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Case {
    pub id: String,
    pub template: String,
    pub data: serde_json::Value,
    pub missingkey: String,
    /// Registers the test functions (add, greet, fail, join, twice, add64) as a FuncMap.
    pub funcs: bool,
    /// Registers sprig's functions (as Helm's engine: without env and expandenv).
    pub sprig: bool,
    /// Registers Helm's data functions (toYaml, fromJson, toToml...) after sprig's.
    pub helm: bool,
    /// For behaviour of a Go newer than the oracle's (Go 1.19 from Debian): the Go version
    /// and the expected result, written from that Go's documentation and source since the
    /// oracle cannot give it.
    #[serde(skip)]
    pub newer_go: Option<(String, Result<String, String>)>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    data: Option<serde_json::Value>,
    /// Every case of the file uses sprig.
    #[serde(default)]
    sprig: bool,
    /// Every case of the file uses sprig and Helm's data functions.
    #[serde(default)]
    helm: bool,
    cases: Vec<FileCase>,
}

#[derive(Deserialize)]
struct FileCase {
    name: String,
    t: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    missingkey: Option<String>,
    #[serde(default)]
    funcs: bool,
    #[serde(default)]
    sprig: bool,
    #[serde(default)]
    helm: bool,
    #[serde(default)]
    go: Option<String>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The hand-written cases, from tests/corpus/*.yaml.
pub fn hand_written() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("corpus file");
        let file: File = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        for c in file.cases {
            out.push(Case {
                id: format!("{stem}/{}", c.name),
                template: c.t,
                data: c
                    .data
                    .or_else(|| file.data.clone())
                    .unwrap_or(serde_json::Value::Null),
                missingkey: c.missingkey.unwrap_or_else(|| "default".into()),
                funcs: c.funcs,
                sprig: c.sprig || file.sprig || c.helm || file.helm,
                helm: c.helm || file.helm,
                newer_go: c.go.map(|v| {
                    let want = match (c.output, c.error) {
                        (_, Some(e)) => Err(e),
                        (o, None) => Ok(o.unwrap_or_default()),
                    };
                    (v, want)
                }),
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &out {
        assert!(seen.insert(c.id.clone()), "duplicate case {}", c.id);
    }
    out
}

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

/// One to three random edits of `template`: a character removed, one of `inserts` put in,
/// or the text cut short (never below `min_len` characters).
pub fn mutate(r: &mut Rng, template: &str, inserts: &[char], min_len: usize) -> String {
    let mut chars: Vec<char> = template.chars().collect();
    for _ in 0..1 + r.below(3) {
        if chars.is_empty() {
            break;
        }
        let at = r.below(chars.len());
        match r.below(3) {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, r.pick(inserts)),
            _ => chars.truncate(at.max(min_len)),
        }
    }
    chars.into_iter().collect()
}

/// Data holding every Go kind the engine knows.
pub fn kinds_data() -> serde_json::Value {
    serde_json::json!({
        "i": {"$int": 3}, "i0": {"$int": 0}, "j": {"$int64": -4}, "f": 2.5, "g": 3, "h": 1000000,
        "z": 0, "s": "str", "e": "", "q": "a<b>&\"'=", "b": true, "no": false, "n": null,
        "l": [1, "a", null, true], "el": [], "m": {"x": 1, "y": "z", "k": {"d": 4}}, "em": {},
        "ss": ["b", "a", "c"]
    })
}

fn atom(r: &mut Rng, depth: usize) -> String {
    let atoms = [
        ".i",
        ".i0",
        ".j",
        ".f",
        ".g",
        ".h",
        ".z",
        ".s",
        ".e",
        ".q",
        ".b",
        ".no",
        ".n",
        ".l",
        ".el",
        ".m",
        ".em",
        ".ss",
        ".m.x",
        ".m.k.d",
        ".missing",
        ".missing.deeper",
        ".s.x",
        ".",
        "$",
        "1",
        "0",
        "-2",
        "1.5",
        "2.0",
        "1e3",
        "0x1F",
        "'a'",
        "\"str\"",
        "\"\"",
        "`raw`",
        "true",
        "false",
        "nil",
        "$x",
    ];
    if depth < 2 && r.below(4) == 0 {
        return format!("({})", pipeline(r, depth + 1));
    }
    r.pick(&atoms).to_string()
}

fn command(r: &mut Rng, depth: usize) -> String {
    let funcs: [(&str, usize, usize); 19] = [
        ("eq", 2, 3),
        ("ne", 2, 2),
        ("lt", 2, 2),
        ("le", 2, 2),
        ("gt", 2, 2),
        ("ge", 2, 2),
        ("and", 1, 3),
        ("or", 1, 3),
        ("not", 1, 1),
        ("len", 1, 1),
        ("index", 1, 3),
        ("slice", 1, 3),
        ("print", 0, 3),
        ("println", 0, 2),
        ("printf", 1, 3),
        ("html", 1, 2),
        ("js", 1, 2),
        ("urlquery", 1, 2),
        ("call", 1, 3),
    ];
    if r.below(3) == 0 {
        return atom(r, depth);
    }
    let (name, lo, hi) = r.pick(&funcs);
    let n = lo + r.below(hi - lo + 1);
    let mut s = name.to_string();
    for k in 0..n {
        s.push(' ');
        if name == "printf" && k == 0 {
            let fmts = [
                "\"%v\"",
                "\"%d\"",
                "\"%s\"",
                "\"%q\"",
                "\"%5.2f\"",
                "\"%x\"",
                "\"%t\"",
                "\"%v %v\"",
                "\"%-4d|\"",
                "\"%05d\"",
                "\"%e\"",
                "\"%g\"",
                "\"%T\"",
                "\"%%\"",
                "\"%+d\"",
                "\"%c\"",
                "\"%.1s\"",
                "\"%X\"",
            ];
            s.push_str(r.pick(&fmts));
        } else {
            s.push_str(&atom(r, depth));
        }
    }
    s
}

pub fn pipeline(r: &mut Rng, depth: usize) -> String {
    let mut s = command(r, depth);
    if r.below(4) == 0 {
        let tails = [
            "print",
            "len",
            "not",
            "printf \"%v\"",
            "html",
            "urlquery",
            "eq 1",
            "and 1",
            "or 0",
            "index .m",
        ];
        s.push_str(" | ");
        s.push_str(r.pick(&tails));
    }
    s
}

fn body(r: &mut Rng, depth: usize) -> String {
    let mut out = String::new();
    let n = 1 + r.below(3);
    for _ in 0..n {
        let k = if depth > 2 { r.below(3) } else { r.below(9) };
        let trim_l = if r.below(5) == 0 { "- " } else { "" };
        let trim_r = if r.below(5) == 0 { " -" } else { "" };
        match k {
            0 => out.push_str(r.pick(&["a", " b ", "\n", "x\ny", "  "])),
            1 | 2 => out.push_str(&format!("{{{{{trim_l}{}{trim_r}}}}}", pipeline(r, 0))),
            3 => out.push_str(&format!(
                "{{{{if {}}}}}{}{{{{else}}}}{}{{{{end}}}}",
                pipeline(r, 0),
                body(r, depth + 1),
                body(r, depth + 1)
            )),
            4 => out.push_str(&format!(
                "{{{{with {}}}}}{}{{{{end}}}}",
                pipeline(r, 0),
                body(r, depth + 1)
            )),
            5 => {
                let decl = r.pick(&["", "$v := ", "$k, $v := "]).to_string();
                let inner = if decl.is_empty() {
                    body(r, depth + 1)
                } else {
                    format!("{{{{$v}}}}{}", body(r, depth + 1))
                };
                let ctl = r
                    .pick(&["", "", "{{break}}", "{{continue}}", "{{if $x}}{{break}}{{end}}"])
                    .to_string();
                out.push_str(&format!(
                    "{{{{range {decl}{}}}}}{inner}{ctl}{{{{else}}}}E{{{{end}}}}",
                    r.pick(&[".l", ".el", ".m", ".em", ".ss", ".n", ".missing", ".s", ".i"])
                ))
            }
            6 => out.push_str(&format!("{{{{$x = {}}}}}", pipeline(r, 0))),
            7 => out.push_str(&format!("{{{{/* c */}}}}{}", body(r, depth + 1))),
            _ => out.push_str(&format!(
                "{{{{template \"sub\" {}}}}}",
                r.pick(&[".", ".m", ".l", ".s", "1", ".missing"])
            )),
        }
    }
    out
}

/// The generated cases: a seeded, deterministic walk over the grammar and over values of
/// every Go kind.
pub fn generated(n: usize) -> Vec<Case> {
    let mut r = Rng::new(0x5EED_0016);
    let mut out = Vec::new();
    for i in 0..n {
        let b = body(&mut r, 0);
        let template = format!(
            "{{{{$x := {}}}}}{}{{{{define \"sub\"}}}}[{{{{.}}}}]{{{{end}}}}",
            atom(&mut r, 0),
            b
        );
        let missingkey = r.pick(&["default", "default", "zero", "error"]).to_string();
        out.push(Case {
            id: format!("generated/{i:04}"),
            template,
            data: kinds_data(),
            missingkey,
            funcs: false,
            sprig: false,
            helm: false,
            newer_go: None,
        });
    }
    out
}

fn pick_expr(r: &mut Rng, kinds: &[char], depth: usize) -> String {
    let t = r.pick(kinds);
    typed_expr(r, t, depth)
}

fn typed_expr(r: &mut Rng, ty: char, depth: usize) -> String {
    let deeper = depth < 3;
    match ty {
        // Go int
        'i' => match r.below(if deeper { 8 } else { 4 }) {
            0 => r.pick(&[".i", ".i0", ".j"]).to_string(),
            1 => r
                .pick(&["1", "0", "-2", "42", "0x1F", "'a'", "1_000"])
                .to_string(),
            2 => format!("len {}", r.pick(&[".l", ".s", ".m", ".ss", ".el", "\"héllo\""])),
            3 => r.pick(&["$n", "(len .ss)"]).to_string(),
            4 => format!("(index .ss {} | len)", r.below(3)),
            5 => format!("(len ({}))", typed_expr(r, 's', depth + 1)),
            6 => format!("(index .ints {})", r.below(3)),
            _ => format!("(len (slice .ss {}))", r.below(4)),
        },
        // float64 from JSON
        'f' => match r.below(3) {
            0 => r
                .pick(&[".f", ".g", ".h", ".z", ".m.x", ".small", ".neg"])
                .to_string(),
            1 => r
                .pick(&["1.5", "2.0", "1e3", "-0.25", "1e21", "0.000001"])
                .to_string(),
            _ => "(index .l 0)".to_string(),
        },
        // string
        's' => match r.below(if deeper { 10 } else { 3 }) {
            0 => r.pick(&[".s", ".e", ".q", ".m.y", "$.s"]).to_string(),
            1 => r.pick(&["\"str\"", "\"\"", "`raw`", "\"a b\""]).to_string(),
            2 => format!("(index .ss {})", r.below(3)),
            3 => format!(
                "(print {} {})",
                pick_expr(r, &['i', 'f', 's', 'b', 'a'], depth + 1),
                pick_expr(r, &['i', 'f', 's', 'b', 'a'], depth + 1)
            ),
            4 => {
                let (verb, t) = r.pick(&[
                    ("%v", 'a'),
                    ("%d", 'i'),
                    ("%s", 's'),
                    ("%q", 's'),
                    ("%x", 's'),
                    ("%5.2f", 'f'),
                    ("%t", 'b'),
                    ("%-4d|", 'i'),
                    ("%05d", 'i'),
                    ("%e", 'f'),
                    ("%g", 'f'),
                    ("%T", 'a'),
                    ("%+d", 'i'),
                    ("%8.3e", 'f'),
                    ("%X", 'i'),
                    ("%o", 'i'),
                    ("%c", 'i'),
                    ("%.1s", 's'),
                    ("%6v", 'a'),
                    ("%q", 'i'),
                ]);
                format!("(printf \"<{verb}>\" {})", typed_expr(r, t, depth + 1))
            }
            5 => format!(
                "({} {})",
                r.pick(&["html", "js", "urlquery"]),
                pick_expr(r, &['s', 'a', 'i'], depth + 1)
            ),
            6 => format!("(slice {} {})", r.pick(&[".s", "\"abcdef\""]), r.below(3)),
            7 => format!("({} | printf \"%v\")", typed_expr(r, 'a', depth + 1)),
            8 => format!("(println {})", typed_expr(r, 'a', depth + 1)),
            _ => format!("(print {})", typed_expr(r, 'a', depth + 1)),
        },
        // bool
        'b' => match r.below(if deeper { 7 } else { 2 }) {
            0 => r.pick(&[".b", ".no", "true", "false"]).to_string(),
            1 => format!("(not {})", typed_expr(r, 'a', depth + 1)),
            2 | 3 => {
                let t = r.pick(&['i', 'f', 's']);
                let op = r.pick(&["eq", "ne", "lt", "le", "gt", "ge"]);
                format!(
                    "({op} {} {})",
                    typed_expr(r, t, depth + 1),
                    typed_expr(r, t, depth + 1)
                )
            }
            4 => {
                let t = r.pick(&['i', 's']);
                format!(
                    "(eq {} {} {})",
                    typed_expr(r, t, depth + 1),
                    typed_expr(r, t, depth + 1),
                    typed_expr(r, t, depth + 1)
                )
            }
            _ => format!(
                "({} {} {})",
                r.pick(&["and", "or"]),
                typed_expr(r, 'a', depth + 1),
                typed_expr(r, 'a', depth + 1)
            ),
        },
        // any value
        _ => match r.below(6) {
            0 => r
                .pick(&[
                    ".l", ".m", ".ss", ".el", ".em", ".n", ".missing", ".m.k", ".", ".ints",
                ])
                .to_string(),
            1 => format!("(index .m {})", r.pick(&["\"x\"", "\"y\"", "\"k\"", "\"nope\""])),
            2 => format!(
                "({} | {})",
                typed_expr(r, 'a', depth + 1),
                r.pick(&["print", "len | print", "not"])
            ),
            _ => pick_expr(r, &['i', 'f', 's', 'b'], depth),
        },
    }
}

fn typed_body(r: &mut Rng, depth: usize) -> String {
    let mut out = String::new();
    for _ in 0..1 + r.below(3) {
        let k = if depth > 2 { r.below(3) } else { r.below(10) };
        match k {
            0 => out.push_str(r.pick(&["a", " ", "\n", "- ", ":"])),
            1 | 2 => {
                let t = r.pick(&['i', 'f', 's', 'b', 'a']);
                let (l, rt) = r.pick(&[("{{", "}}"), ("{{- ", "}}"), ("{{", " -}}")]);
                out.push_str(&format!("{l}{}{rt}", typed_expr(r, t, 0)));
            }
            3 => out.push_str(&format!(
                "{{{{if {}}}}}{}{{{{else if {}}}}}{}{{{{else}}}}{}{{{{end}}}}",
                typed_expr(r, 'b', 0),
                typed_body(r, depth + 1),
                typed_expr(r, 'a', 0),
                typed_body(r, depth + 1),
                typed_body(r, depth + 1)
            )),
            4 => out.push_str(&format!(
                "{{{{with {}}}}}[{{{{.}}}}]{}{{{{else}}}}none{{{{end}}}}",
                typed_expr(r, 'a', 0),
                typed_body(r, depth + 1)
            )),
            5 | 6 => {
                let coll = r.pick(&[".l", ".ss", ".m", ".el", ".em", ".ints", ".m.k", ".missing"]);
                let ctl = r.pick(&[
                    "",
                    "{{if eq $n 1}}{{break}}{{end}}",
                    "{{if eq $n 0}}{{continue}}{{end}}",
                    "",
                ]);
                out.push_str(&format!(
                    "{{{{range $n, $v := {coll}}}}}{ctl}{{{{$n}}}}={{{{$v}}}};{}{{{{else}}}}empty{{{{end}}}}",
                    typed_body(r, depth + 1)
                ))
            }
            7 => out.push_str(&format!("{{{{$t := {}}}}}{{{{$t}}}}", typed_expr(r, 'a', 0))),
            8 => out.push_str(&format!("{{{{template \"sub\" {}}}}}", typed_expr(r, 'a', 0))),
            _ => out.push_str(&format!(
                "{{{{block \"b{}\" {}}}}}<{{{{.}}}}>{{{{end}}}}",
                r.below(1000),
                typed_expr(r, 'a', 0)
            )),
        }
    }
    out
}

/// Generated cases that mostly render: expressions built by the Go type they produce, so
/// comparisons meet values of one kind and printf verbs meet their operands.
pub fn generated_typed(n: usize) -> Vec<Case> {
    let mut r = Rng::new(0x7E5_7ED);
    let mut data = kinds_data();
    data["ints"] = serde_json::json!([{"$int": 0}, {"$int": 1}, {"$int64": 2}]);
    data["small"] = serde_json::json!(0.00001234);
    data["neg"] = serde_json::json!(-2.5);
    (0..n)
        .map(|i| Case {
            id: format!("typed/{i:04}"),
            template: format!(
                "{{{{$n := 1}}}}{}{{{{define \"sub\"}}}}({{{{.}}}}){{{{end}}}}",
                typed_body(&mut r, 0)
            ),
            data: data.clone(),
            missingkey: r.pick(&["default", "default", "zero"]).to_string(),
            funcs: false,
            sprig: false,
            helm: false,
            newer_go: None,
        })
        .collect()
}

pub fn go_funcs() -> BTreeMap<&'static str, Function> {
    use ParamType::*;
    let mut m = BTreeMap::new();
    let int = |a: &Arg| match a.value() {
        Value::Int(i) | Value::Int64(i) => i,
        _ => 0,
    };
    m.insert(
        "add",
        Function::new(vec![Int, Int], false, "int", false, move |a| {
            Ok(Arg::Value(Value::Int(int(&a[0]) + int(&a[1]))))
        }),
    );
    m.insert(
        "add64",
        Function::new(vec![Int64, Int64], false, "int64", false, move |a| {
            Ok(Arg::Value(Value::Int64(int(&a[0]) + int(&a[1]))))
        }),
    );
    m.insert(
        "greet",
        Function::new(vec![], false, "string", false, |_| {
            Ok(Arg::Value(Value::String("hello".into())))
        }),
    );
    m.insert(
        "fail",
        Function::new(vec![], false, "string", true, |_| Err("boom".into())),
    );
    m.insert(
        "join",
        Function::new(vec![String, String], true, "string", false, |a| {
            let s = |x: &Arg| match x.value() {
                Value::String(s) => s,
                _ => std::string::String::new(),
            };
            let parts: Vec<std::string::String> = a[1..].iter().map(s).collect();
            Ok(Arg::Value(Value::String(parts.join(&s(&a[0])))))
        }),
    );
    m.insert(
        "twice",
        Function::new(vec![Any], false, "[]interface {}", false, |a| {
            Ok(Arg::Value(Value::slice([a[0].value(), a[0].value()])))
        }),
    );
    m
}

/// Tagged JSON data to Go values, as the oracle converts it.
pub fn to_value(v: &serde_json::Value) -> Value {
    if let serde_json::Value::Object(o) = v {
        if o.len() == 1 {
            if let Some(n) = o.get("$int") {
                return Value::Int(n.as_f64().unwrap_or(0.0) as i64);
            }
            if let Some(n) = o.get("$int64") {
                return Value::Int64(n.as_f64().unwrap_or(0.0) as i64);
            }
            if let Some(n) = o.get("$func") {
                let name = n.as_str().unwrap_or("");
                return go_funcs().remove(name).map(Value::Func).unwrap_or(Value::Nil);
            }
        }
        return Value::map(o.iter().map(|(k, v)| (k.clone(), to_value(v))));
    }
    if let serde_json::Value::Array(a) = v {
        return Value::slice(a.iter().map(to_value));
    }
    Value::from(v)
}

/// Renders a case with hubspoke-render: Ok(output) or Err(error text).
pub fn render(c: &Case) -> Result<String, String> {
    let name = c.id.clone();
    let mut t = Template::new(&name);
    if c.sprig {
        // time.Local is UTC on both sides (the oracle runs with TZ=UTC); other zones are
        // tested through explicit zone arguments
        let clock = hubspoke_render::sprig::Clock::system().with_local_zone("UTC");
        t = t.funcs(hubspoke_render::sprig::funcs_with(&clock));
    }
    if c.helm {
        t = t.funcs(hubspoke_render::helm_data_funcs());
    }
    if c.funcs {
        t = t.funcs(go_funcs().into_iter().map(|(k, f)| (k.to_string(), f)).collect());
    }
    t.add_parse(&name, &c.template).map_err(|e| e.to_string())?;
    let opts = Options {
        missing_key: MissingKey::parse(&c.missingkey).expect("missingkey"),
    };
    t.execute(&to_value(&c.data), &opts).map_err(|e| e.to_string())
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Expected {
    pub template: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn expected_path() -> PathBuf {
    corpus_dir().join("expected.json")
}

pub fn load_expected() -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(expected_path()).expect("tests/corpus/expected.json");
    serde_json::from_str(&text).expect("expected.json")
}

pub const GENERATED: usize = 400;

pub const GENERATED_TYPED: usize = 300;

pub fn all_cases() -> Vec<Case> {
    let mut v = hand_written();
    v.extend(generated(GENERATED));
    v.extend(generated_typed(GENERATED_TYPED));
    v
}

/// Builds tools/gotmpl-oracle with the Go toolchain in GOPATH mode (Debian's packages), or
/// None when `go` is not installed.
pub fn build_oracle() -> Option<PathBuf> {
    if std::process::Command::new("go").arg("version").output().is_err() {
        // CI sets this: there the comparison with Go must run, not be skipped
        assert!(
            std::env::var_os("HUBSPOKE_RENDER_REQUIRE_GO").is_none(),
            "HUBSPOKE_RENDER_REQUIRE_GO is set but `go` is not installed \
             (apt-get install golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev golang-gopkg-yaml.v3-dev golang-github-burntsushi-toml-dev)"
        );
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("gotmpl-oracle");
    let status = std::process::Command::new("go")
        .current_dir(&root)
        .env("GOPATH", "/usr/share/gocode")
        .env("GO111MODULE", "off")
        .env("GOCACHE", target.join("go-cache"))
        .args(["build", "-o"])
        .arg(&bin)
        .arg("./tools/gotmpl-oracle")
        .status()
        .expect("go build");
    assert!(
        status.success(),
        "building tools/gotmpl-oracle failed (apt-get install golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev golang-gopkg-yaml.v3-dev golang-github-burntsushi-toml-dev)"
    );
    Some(bin)
}

/// Runs the oracle on the cases.
pub fn run_oracle(bin: &Path, cases: &[Case]) -> Vec<Result<String, String>> {
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({"name": c.id, "template": c.template, "data": c.data, "missingkey": c.missingkey, "funcs": c.funcs, "sprig": c.sprig, "helm": c.helm})
        })
        .collect();
    run_oracle_json(bin, &input)
}

/// Runs the oracle on cases given as its JSON input (e.g. chart cases).
pub fn run_oracle_json(bin: &Path, input: &[serde_json::Value]) -> Vec<Result<String, String>> {
    use std::io::Write;
    let mut child = std::process::Command::new(bin)
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run oracle");
    let body = serde_json::to_vec(&input).expect("json");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer").expect("write cases");
    assert!(out.status.success(), "oracle failed");
    #[derive(Deserialize)]
    struct R {
        output: Option<String>,
        error: Option<String>,
    }
    let rs: Vec<R> = serde_json::from_slice(&out.stdout).expect("oracle json");
    rs.into_iter()
        .map(|r| match (r.output, r.error) {
            (_, Some(e)) => Err(e),
            (Some(o), None) => Ok(o),
            (None, None) => Ok(String::new()),
        })
        .collect()
}

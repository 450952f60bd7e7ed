//! YAML as Helm 3.17 reads and writes it: sigs.k8s.io/yaml v1.4.0 (`json.Marshal` then
//! YAML through its vendored yaml.v2 2.4.0; YAML read by yaml.v2, turned into JSON and
//! decoded by encoding/json), and yaml.v3's encoder for `toYamlPretty`.
//!
//! Events come from granit-parser (the parser serde-saphyr builds on); yaml.v2's tag
//! resolution (YAML 1.1 booleans, octal, base-60 quoting...), its merge keys and its
//! emitter (scalar styles, 80-column folding, indentation) are written here after yaml.v2's
//! behaviour.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use granit_parser::{Event, Options, Parser, ScalarStyle, ScanError};

use crate::gojson::{self, format_float};
use crate::value::{GoMap, Value};

// ---------------------------------------------------------------- decoding

/// A value as yaml.v2 decodes it into `interface {}`.
#[derive(Clone, Debug, PartialEq)]
enum YVal {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    Seq(Vec<YVal>),
    Map(Vec<(YVal, YVal)>),
}

#[derive(Debug)]
enum Node {
    Scalar { value: String, plain: bool, tag: String },
    Seq(Vec<Rc<Node>>),
    Map(Vec<(Rc<Node>, Rc<Node>)>),
    Alias(Rc<Node>),
}

const STR: &str = "tag:yaml.org,2002:str";
const INT: &str = "tag:yaml.org,2002:int";
const FLOAT: &str = "tag:yaml.org,2002:float";
const BOOL: &str = "tag:yaml.org,2002:bool";
const NULL: &str = "tag:yaml.org,2002:null";
const TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";
const BINARY: &str = "tag:yaml.org,2002:binary";
const MERGE: &str = "tag:yaml.org,2002:merge";

fn short_tag(t: &str) -> String {
    match t.strip_prefix("tag:yaml.org,2002:") {
        Some(s) => format!("!!{s}"),
        None => t.to_string(),
    }
}

fn yerr(msg: impl std::fmt::Display) -> String {
    format!("yaml: {msg}")
}

/// The first document's node tree (None for an empty stream).
fn parse_first(src: &str) -> Result<Option<Rc<Node>>, String> {
    if let Some(_c) = src.chars().find(|&c| !allowed_char(c)) {
        return Err(yerr("control characters are not allowed"));
    }
    if src.contains('\u{85}') {
        // YAML 1.1 (yaml.v2) breaks lines at NEL and reads it as a line feed
        return parse_events(&src.replace('\u{85}', "\n"));
    }
    parse_events(src)
}

fn parse_events(src: &str) -> Result<Option<Rc<Node>>, String> {
    check_directives(src)?;
    let mut opts = Options::default();
    opts.emit_anchor_events = true;
    opts.emit_unresolved_aliases = true;
    opts.emit_comments = false;
    // as libyaml: no line feed added to a block scalar ending the input, a BOM inside a
    // document is content
    opts.block_scalar_eof_without_line_feed = true;
    opts.bom_inside_document_as_content = true;
    let parser = Parser::new_from_str_with_options(src, opts);
    enum Frame {
        Seq(Vec<Rc<Node>>, usize),
        /// pairs, the pending key, the anchor, whether in flow style
        Map(Vec<(Rc<Node>, Rc<Node>)>, Option<Rc<Node>>, usize, bool),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Rc<Node>> = HashMap::new();
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut open: HashSet<usize> = HashSet::new();
    let mut root: Option<Rc<Node>> = None;
    let mut in_doc = false;
    for ev in parser {
        let (ev, span) = ev.map_err(|e| scan_error(src, &e))?;
        // yaml.v2 wants a key before a block mapping's ':' (an implicit empty key is an
        // error there; `? ` makes it explicit)
        if let (Event::Scalar(v, ScalarStyle::Plain, _, None), Some(Frame::Map(_, None, _, false))) =
            (&ev, stack.last())
            && (v.is_empty() || v == "~")
            && span.indent.is_none()
            && span.start.index() == span.end.index()
            && src_at(src, span.start.index()) == Some(':')
        {
            let line = src_before(src, span.start.index()).matches('\n').count();
            return Err(if line == 0 {
                yerr("did not find expected key")
            } else {
                yerr(format!("line {line}: did not find expected key"))
            });
        }
        // an anchor event follows the node it names
        if let Event::Anchor(id, name) = &ev {
            names.insert(*id, name.to_string());
            continue;
        }
        let node: Rc<Node> = match ev {
            Event::StreamStart | Event::Comment(..) => continue,
            Event::DocumentStart(..) => {
                in_doc = true;
                continue;
            }
            Event::DocumentEnd | Event::StreamEnd => break,
            Event::Anchor(..) => continue,
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => Rc::new(Node::Alias(n.clone())),
                None => {
                    let name = names.get(&id).cloned().unwrap_or_default();
                    if open.contains(&id) {
                        return Err(yerr(format!("anchor '{name}' value contains itself")));
                    }
                    return Err(yerr(format!("unknown anchor '{name}' referenced")));
                }
            },
            Event::UnresolvedAlias(name) => {
                return Err(yerr(format!("unknown anchor '{name}' referenced")));
            }
            Event::Scalar(value, style, anchor, tag) => {
                let n = Rc::new(Node::Scalar {
                    value: value.to_string(),
                    plain: style == ScalarStyle::Plain,
                    tag: tag.map(|t| t.to_string()).unwrap_or_default(),
                });
                if anchor != 0 {
                    anchors.insert(anchor, n.clone());
                }
                n
            }
            Event::SequenceStart(_, anchor, _) => {
                if anchor != 0 {
                    open.insert(anchor);
                }
                stack.push(Frame::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(style, anchor, _) => {
                if anchor != 0 {
                    open.insert(anchor);
                }
                let flow = style == granit_parser::StructureStyle::Flow;
                stack.push(Frame::Map(Vec::new(), None, anchor, flow));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => {
                    let n = Rc::new(Node::Seq(items));
                    if anchor != 0 {
                        open.remove(&anchor);
                        anchors.insert(anchor, n.clone());
                    }
                    n
                }
                _ => return Err(yerr("internal error")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(pairs, _, anchor, _)) => {
                    let n = Rc::new(Node::Map(pairs));
                    if anchor != 0 {
                        open.remove(&anchor);
                        anchors.insert(anchor, n.clone());
                    }
                    n
                }
                _ => return Err(yerr("internal error")),
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => {
                root = Some(node);
            }
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(pairs, key, _, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
    }
    let _ = in_doc;
    Ok(root)
}

/// Characters yaml.v2's reader accepts.
fn allowed_char(c: char) -> bool {
    let v = c as u32;
    v == 0x09
        || v == 0x0A
        || v == 0x0D
        || (0x20..=0x7E).contains(&v)
        || v == 0x85
        || (0xA0..=0xD7FF).contains(&v)
        || (0xE000..=0xFFFD).contains(&v)
        || (0x10000..=0x10FFFF).contains(&v)
}

/// A parser error as yaml.v2 words it. yaml.v2 prefixes `line N: ` only when the problem's
/// (0-based) line is not 0: scanner errors print it 1-based, parser errors 0-based (a
/// yaml.v2 quirk). Errors at the end of the stream sit on the line after an unterminated
/// last line for the parser (its stream-end token), on the last line for the scanner.
fn scan_error(src: &str, e: &ScanError) -> String {
    use granit_parser::ErrorKind as K;
    let at = e.marker().line().saturating_sub(1);
    let newlines = src.matches('\n').count();
    let eof_parser = newlines + usize::from(!src.is_empty() && !src.ends_with('\n'));
    let idx = e.marker().index();
    let before = src_before(src, idx);
    let last = src.trim_end().chars().last();
    // in a flow collection left open at the end: a node was expected after `[`, `{`, `,`, `:`
    let eof_flow = |closer: char| -> (String, bool, usize) {
        if matches!(last, Some('[' | '{' | ',' | ':')) {
            ("did not find expected node content".into(), true, eof_parser)
        } else {
            (
                format!("did not find expected ',' or '{closer}'"),
                true,
                eof_parser,
            )
        }
    };
    // (message, parser error?, 0-based line)
    let (msg, parser, line): (String, bool, usize) = match e.kind() {
        K::UnexpectedEofFlowSequence | K::UnclosedFlowCollection { open: '[' } => eof_flow(']'),
        K::UnexpectedEofFlowMapping | K::UnclosedFlowCollection { .. } => eof_flow('}'),
        K::MismatchedFlowCollectionEnd { open, .. } => {
            let closer = if *open == '[' { ']' } else { '}' };
            (format!("did not find expected ',' or '{closer}'"), true, at)
        }
        K::ExpectedFlowSequenceSeparator => ("did not find expected ',' or ']'".into(), true, at),
        K::ExpectedFlowMappingSeparator => ("did not find expected ',' or '}'".into(), true, at),
        K::ExpectedBlockMappingKey => ("did not find expected key".into(), true, at),
        K::MisplacedFlowCollectionEnd => {
            // a closing bracket where a value should start, or where a key should
            let msg = match before.trim_end_matches([' ', '\t']).chars().last() {
                None | Some(':' | '-' | '[' | '{' | ',') => "did not find expected node content",
                Some(_) => "did not find expected key",
            };
            (msg.into(), true, at)
        }
        K::InvalidTrailingSingleQuotedScalar | K::InvalidTrailingDoubleQuotedScalar => match src_at(src, idx)
        {
            Some(':') => ("mapping values are not allowed in this context".into(), false, at),
            Some('|' | '>') => ("did not find expected comment or line break".into(), false, at),
            _ => ("did not find expected key".into(), true, at),
        },
        K::CommentInterceptedScalar => ("did not find expected key".into(), true, at + 1),
        K::TabInPlainScalar => (
            "found a tab character that violates indentation".into(),
            false,
            next_tab_line(src, at),
        ),
        K::UnexpectedEofBlockMapping => ("did not find expected key".into(), true, eof_parser),
        K::ExpectedBlockSequenceEntry => ("did not find expected '-' indicator".into(), true, at),
        K::UnexpectedEofBlockSequence => ("did not find expected '-' indicator".into(), true, eof_parser),
        K::ExpectedNodeContent => ("did not find expected node content".into(), true, at),
        K::UnexpectedEof | K::UnclosedQuotedScalar => {
            ("found unexpected end of stream".into(), false, newlines)
        }
        K::InvalidSimpleKey => ("mapping values are not allowed in this context".into(), false, at),
        K::SimpleKeyExpected => (
            "could not find expected ':'".into(),
            false,
            stale_key_line(src, idx),
        ),
        K::BlockSequenceEntryNotAllowed => (
            "block sequence entries are not allowed in this context".into(),
            false,
            at,
        ),
        K::TabNotAllowed | K::TabInBlockIndentation | K::TabInIndentation | K::UnexpectedCharacter { .. } => {
            ("found character that cannot start any token".into(), false, at)
        }
        K::UndeclaredTagHandle => ("found undefined tag handle".into(), true, at),
        _ => {
            // libyaml's problem without its context ("while scanning ...")
            let info = e.info();
            let problem = match info.strip_prefix("while ") {
                Some(rest) => rest.split_once(", ").map_or(info.as_str(), |(_, p)| p),
                None => info.as_str(),
            };
            (problem.replace("hexadecimal", "hexdecimal"), false, at)
        }
    };
    if line == 0 {
        yerr(msg)
    } else if parser {
        yerr(format!("line {line}: {msg}"))
    } else {
        yerr(format!("line {}: {msg}", line + 1))
    }
}

/// Where libyaml finds a required simple key stale: at the first token after the key's
/// plain scalar, which goes on over more indented lines (0-based line).
fn stale_key_line(src: &str, index: usize) -> usize {
    let before = src_before(src, index);
    let mut line = before.matches('\n').count();
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
    let lines: Vec<&str> = src.split('\n').collect();
    // the stream end sits on the line after an unterminated last line
    let eof = src.matches('\n').count() + usize::from(!src.is_empty() && !src.ends_with('\n'));
    let mut first = true;
    loop {
        let Some(text) = lines.get(line) else { return eof };
        if !first && line + 1 == lines.len() && text.is_empty() {
            return eof;
        }
        let content = if first {
            text.chars().skip(col).collect::<String>()
        } else {
            text.to_string()
        };
        if !first {
            let indent = text.chars().take_while(|&c| c == ' ').count();
            let t = text.trim();
            if t.is_empty() {
                line += 1;
                continue;
            }
            if indent <= col || t.starts_with('#') {
                return line;
            }
        }
        first = false;
        if content.contains(": ") || content.trim_end().ends_with(':') || content.contains(" #") {
            return line;
        }
        line += 1;
        if line >= lines.len() {
            return eof;
        }
    }
}

/// The first line from `from` on whose indentation holds a tab.
fn next_tab_line(src: &str, from: usize) -> usize {
    for (n, l) in src.split('\n').enumerate().skip(from + 1) {
        let ws: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        if ws.contains('\t') {
            return n;
        }
    }
    from
}

/// The text before the `index`th character.
fn src_before(src: &str, index: usize) -> &str {
    match src.char_indices().nth(index) {
        Some((b, _)) => &src[..b],
        None => src,
    }
}

fn src_at(src: &str, index: usize) -> Option<char> {
    src.chars().nth(index)
}

/// yaml.v2's scanner refuses directives other than %YAML and %TAG.
fn check_directives(src: &str) -> Result<(), String> {
    for (n, line) in src.lines().enumerate() {
        let t = line.trim_start_matches('\u{feff}');
        if let Some(rest) = t.strip_prefix('%') {
            let name: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            if name != "YAML" && name != "TAG" {
                return Err(if n == 0 {
                    yerr("found unknown directive name")
                } else {
                    yerr(format!("line {}: found unknown directive name", n + 1))
                });
            }
            continue;
        }
        if t.trim().is_empty() || t.trim_start().starts_with('#') {
            continue;
        }
        break;
    }
    Ok(())
}

struct Dec {
    decode_count: usize,
    alias_count: usize,
}

impl Dec {
    fn node(&mut self, n: &Node) -> Result<YVal, String> {
        crate::gojson::deep(|| self.node_inner(n))
    }

    fn node_inner(&mut self, n: &Node) -> Result<YVal, String> {
        self.decode_count += 1;
        if self.alias_count > 100 && self.decode_count > 1000 {
            let ratio = self.alias_count as f64 / self.decode_count as f64;
            if ratio > allowed_alias_ratio(self.decode_count) {
                return Err(yerr("document contains excessive aliasing"));
            }
        }
        match n {
            Node::Alias(t) => {
                self.alias_count += 1;
                self.node(t)
            }
            Node::Scalar {
                value, plain, tag, ..
            } => scalar(value, *plain, tag),
            Node::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.node(i)?);
                }
                Ok(YVal::Seq(out))
            }
            Node::Map(pairs) => {
                let mut out: Vec<(YVal, YVal)> = Vec::new();
                self.mapping(pairs, &mut out)?;
                Ok(YVal::Map(out))
            }
        }
    }

    fn mapping(&mut self, pairs: &[(Rc<Node>, Rc<Node>)], out: &mut Vec<(YVal, YVal)>) -> Result<(), String> {
        for (k, v) in pairs {
            if is_merge(k) {
                self.merge(v, out)?;
                continue;
            }
            let key = self.node(k)?;
            if matches!(key, YVal::Map(_) | YVal::Seq(_)) {
                return Err(yerr(format!("invalid map key: {}", go_sharp_v(&key))));
            }
            let val = self.node(v)?;
            insert(out, key, val);
        }
        Ok(())
    }

    fn merge(&mut self, n: &Node, out: &mut Vec<(YVal, YVal)>) -> Result<(), String> {
        let want_map = || yerr("map merge requires map or sequence of maps as the value");
        match n {
            Node::Map(pairs) => {
                self.decode_count += 1;
                self.mapping(pairs, out)
            }
            Node::Alias(t) => match &**t {
                Node::Map(pairs) => {
                    self.decode_count += 2;
                    self.alias_count += 1;
                    self.mapping(pairs, out)
                }
                _ => Err(want_map()),
            },
            Node::Seq(items) => {
                for item in items.iter().rev() {
                    match &**item {
                        Node::Map(pairs) => {
                            self.decode_count += 1;
                            self.mapping(pairs, out)?
                        }
                        Node::Alias(t) => match &**t {
                            Node::Map(pairs) => {
                                self.decode_count += 2;
                                self.alias_count += 1;
                                self.mapping(pairs, out)?
                            }
                            _ => return Err(want_map()),
                        },
                        _ => return Err(want_map()),
                    }
                }
                Ok(())
            }
            _ => Err(want_map()),
        }
    }
}

fn allowed_alias_ratio(count: usize) -> f64 {
    const LOW: f64 = 400_000.0;
    const HIGH: f64 = 4_000_000.0;
    let c = count as f64;
    if c <= LOW {
        0.99
    } else if c >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((c - LOW) / (HIGH - LOW))
    }
}

fn insert(out: &mut Vec<(YVal, YVal)>, key: YVal, val: YVal) {
    if let Some(slot) = out.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = val;
    } else {
        out.push((key, val));
    }
}

fn is_merge(n: &Node) -> bool {
    match n {
        Node::Scalar {
            value, plain, tag, ..
        } => value == "<<" && ((*plain && tag.is_empty()) || tag == MERGE),
        _ => false,
    }
}

/// Go's `%#v` of a decoded value (for the rare key errors).
fn go_sharp_v(v: &YVal) -> String {
    match v {
        YVal::Nil => "interface {}(nil)".into(),
        YVal::Bool(b) => b.to_string(),
        YVal::Int(i) => i.to_string(),
        YVal::Uint(u) => format!("0x{u:x}"),
        YVal::Float(f) => format_float(*f, 'g', false),
        YVal::Str(s) => crate::gofmt::quote(s, false),
        YVal::Seq(items) => format!(
            "[]interface {{}}{{{}}}",
            items.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        YVal::Map(pairs) => format!(
            "map[interface {{}}]interface {{}}{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", go_sharp_v(k), go_sharp_v(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn scalar(value: &str, plain: bool, tag: &str) -> Result<YVal, String> {
    if tag.is_empty() && !plain {
        return Ok(YVal::Str(value.to_string()));
    }
    let (rtag, v) = resolve(tag, value)?;
    if rtag == BINARY {
        let data = base64_decode(&match v {
            YVal::Str(s) => s,
            _ => String::new(),
        })
        .ok_or_else(|| yerr("!!binary value contains invalid base64 data"))?;
        return Ok(YVal::Str(String::from_utf8_lossy(&data).into_owned()));
    }
    if rtag == TIMESTAMP {
        return Ok(YVal::Str(value.to_string()));
    }
    Ok(v)
}

fn resolvable(tag: &str) -> bool {
    matches!(tag, "" | STR | BOOL | INT | FLOAT | NULL | TIMESTAMP)
}

/// yaml.v2's `resolve`: the tag a plain scalar resolves to and its value.
fn resolve(tag: &str, s: &str) -> Result<(&'static str, YVal), String> {
    if !resolvable(tag) {
        // a custom or binary tag: the text as is
        let t = if tag == BINARY { BINARY } else { "" };
        return Ok((t, YVal::Str(s.to_string())));
    }
    let (rtag, v) = resolve_plain(tag, s);
    if tag.is_empty() || tag == rtag || tag == STR {
        return Ok((rtag, v));
    }
    if tag == FLOAT && rtag == INT {
        match v {
            YVal::Int(i) => return Ok((FLOAT, YVal::Float(i as f64))),
            YVal::Uint(_) => {}
            _ => {}
        }
    }
    Err(yerr(format!(
        "cannot decode {} `{}` as a {}",
        short_tag(rtag),
        s,
        short_tag(tag)
    )))
}

fn resolve_plain(tag: &str, s: &str) -> (&'static str, YVal) {
    let hint = match s.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    };
    if hint == 0 || tag == STR {
        return (STR, YVal::Str(s.to_string()));
    }
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return (BOOL, YVal::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return (BOOL, YVal::Bool(false));
        }
        "" | "~" | "null" | "Null" | "NULL" => return (NULL, YVal::Nil),
        ".nan" | ".NaN" | ".NAN" => return (FLOAT, YVal::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return (FLOAT, YVal::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return (FLOAT, YVal::Float(f64::NEG_INFINITY)),
        "<<" => return (MERGE, YVal::Str("<<".into())),
        _ => {}
    }
    match hint {
        b'.' => {
            if let Some(f) = go_parse_float(s) {
                return (FLOAT, YVal::Float(f));
            }
        }
        b'D' | b'S' => {
            if (tag.is_empty() || tag == TIMESTAMP) && is_timestamp(s) {
                return (TIMESTAMP, YVal::Str(s.to_string()));
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return (INT, YVal::Int(i));
            }
            if let Some(u) = go_parse_uint(&plain) {
                return (INT, YVal::Uint(u));
            }
            if let Some(f) = yaml_style_float(&plain).then(|| go_parse_float(&plain)).flatten() {
                return (FLOAT, YVal::Float(f));
            }
            if let Some(b) = plain.strip_prefix("0b") {
                if let Some(i) = parse_radix_i64(b, 2, false) {
                    return (INT, YVal::Int(i));
                }
                if let Some(u) = parse_radix_u64(b, 2) {
                    return (INT, YVal::Uint(u));
                }
            } else if let Some(i) = plain
                .strip_prefix("-0b")
                .and_then(|b| parse_radix_i64(b, 2, true))
            {
                return (INT, YVal::Int(i));
            }
        }
        _ => {}
    }
    (STR, YVal::Str(s.to_string()))
}

fn parse_radix_u64(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

fn parse_radix_i64(digits: &str, radix: u32, neg: bool) -> Option<i64> {
    let u = parse_radix_u64(digits, radix)?;
    if neg {
        if u <= 1u64 << 63 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// strconv.ParseUint(s, 0, 64) (no sign; 0x, 0o, 0b prefixes, a leading 0 for octal).
fn go_parse_uint(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        parse_radix_u64(h, 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        parse_radix_u64(o, 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        parse_radix_u64(b, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        parse_radix_u64(&lower[1..], 8)
    } else {
        parse_radix_u64(&lower, 10)
    }
}

/// strconv.ParseInt(s, 0, 64).
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(rest)?;
    if neg {
        if u <= 1u64 << 63 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// strconv.ParseFloat(s, 64) for the decimal forms yaml.v2 hands it (no error on
/// overflow: ±Inf is returned with ErrRange, which yaml.v2 treats as a failure).
fn go_parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let rest = &s[i..];
    let lower = rest.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        let f: f64 = if lower == "nan" { f64::NAN } else { f64::INFINITY };
        return Some(if s.starts_with('-') { -f } else { f });
    }
    if lower.starts_with("0x") || rest.contains('_') {
        return None;
    }
    let ok = rest
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !ok || rest.is_empty() {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() {
        return None;
    }
    Some(f)
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// yaml.v2's `parseTimestamp` (time.Parse with its four layouts).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let i = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if i != 4 || i == b.len() || b[i] != b'-' {
        return false;
    }
    // 1 or 2 digits
    fn num(b: &[u8], i: &mut usize) -> Option<u32> {
        let c0 = *b.get(*i)?;
        if !c0.is_ascii_digit() {
            return None;
        }
        let mut n = (c0 - b'0') as u32;
        *i += 1;
        if let Some(&c1) = b.get(*i).filter(|c| c.is_ascii_digit()) {
            n = n * 10 + (c1 - b'0') as u32;
            *i += 1;
        }
        Some(n)
    }
    let year: i64 = s[..4].parse().unwrap_or(0);
    let mut i = 5;
    let Some(month) = num(b, &mut i) else { return false };
    if !(1..=12).contains(&month) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = num(b, &mut i) else { return false };
    if day < 1 || day > days_in(month, year) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    let Some(h) = num(b, &mut i) else { return false };
    if h > 23 || b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    let Some(m) = num(b, &mut i) else { return false };
    if m > 59 || b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    let Some(sec) = num(b, &mut i) else { return false };
    if sec > 59 {
        return false;
    }
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if i == b.len() {
        return sep == b' ';
    }
    if sep == b' ' {
        return false;
    }
    match b[i] {
        b'Z' => i + 1 == b.len(),
        b'+' | b'-' => {
            let r = &b[i + 1..];
            r.len() == 5
                && r[0].is_ascii_digit()
                && r[1].is_ascii_digit()
                && r[2] == b':'
                && r[3].is_ascii_digit()
                && r[4].is_ascii_digit()
                && {
                    let hh = (r[0] - b'0') * 10 + (r[1] - b'0');
                    let mm = (r[3] - b'0') * 10 + (r[4] - b'0');
                    hh <= 24 && mm <= 60
                }
        }
        _ => false,
    }
}

/// What sigs.k8s.io/yaml decodes into.
pub use crate::gojson::Target;

/// sigs.k8s.io/yaml.Unmarshal into `interface {}`.
pub fn unmarshal(s: &str) -> Result<Value, String> {
    unmarshal_into(s, Target::Any).map_err(|(_, e)| e)
}

/// sigs.k8s.io/yaml.Unmarshal into the target type; on error, what the target holds
/// (an empty map or slice) and Go's error text.
pub fn unmarshal_into(s: &str, target: Target) -> Result<Value, (Value, String)> {
    let empty = || match target {
        Target::Any => Value::Nil,
        Target::Map => Value::Map(GoMap::default()),
        Target::Slice => Value::slice(Vec::new()),
    };
    let y = decode_v2(s).map_err(|e| (empty(), format!("error converting YAML to JSON: {e}")))?;
    let v = to_json_value(&y).map_err(|e| (empty(), format!("error converting YAML to JSON: {e}")))?;
    let kind = match &v {
        Value::Map(_) => "object",
        Value::Slice(_) => "array",
        Value::String(_) => "string",
        Value::Float(_) => "number",
        Value::Bool(_) => "bool",
        _ => "null",
    };
    match (target, kind) {
        (Target::Any, _) | (Target::Map, "object") | (Target::Slice, "array") => Ok(v),
        (_, "null") => Ok(empty()),
        (t, k) => {
            let ty = if t == Target::Map {
                "map[string]interface {}"
            } else {
                "[]interface {}"
            };
            Err((
                empty(),
                format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {k} into Go value of type {ty}"
                ),
            ))
        }
    }
}

fn decode_v2(s: &str) -> Result<YVal, String> {
    let Some(root) = parse_first(s)? else {
        return Ok(YVal::Nil);
    };
    let mut d = Dec {
        decode_count: 0,
        alias_count: 0,
    };
    d.node(&root)
}

/// yamlToJSON's conversion, json.Marshal and json.Unmarshal into `interface {}`.
fn to_json_value(y: &YVal) -> Result<Value, String> {
    crate::gojson::deep(|| to_json_value_inner(y))
}

fn to_json_value_inner(y: &YVal) -> Result<Value, String> {
    Ok(match y {
        YVal::Nil => Value::Nil,
        YVal::Bool(b) => Value::Bool(*b),
        YVal::Int(i) => Value::Float(*i as f64),
        YVal::Uint(u) => Value::Float(*u as f64),
        YVal::Float(f) => {
            if f.is_nan() || f.is_infinite() {
                return Err(format!(
                    "json: unsupported value: {}",
                    format_float(*f, 'g', false)
                ));
            }
            Value::Float(*f)
        }
        YVal::Str(s) => Value::String(s.clone()),
        YVal::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(to_json_value(i)?);
            }
            Value::slice(out)
        }
        YVal::Map(pairs) => {
            let mut m = BTreeMap::new();
            for (k, v) in pairs {
                let key = match k {
                    YVal::Str(s) => s.clone(),
                    YVal::Int(i) => i.to_string(),
                    YVal::Float(f) => match format_float(*f, 'g', true).as_str() {
                        "+Inf" => ".inf".into(),
                        "-Inf" => "-.inf".into(),
                        "NaN" => ".nan".into(),
                        s => s.to_string(),
                    },
                    YVal::Bool(b) => b.to_string(),
                    other => {
                        let ty = match other {
                            YVal::Uint(_) => "uint64",
                            _ => "%!s(<nil>)",
                        };
                        let key = match other {
                            YVal::Nil => "<nil>".to_string(),
                            o => go_sharp_v(o),
                        };
                        return Err(format!(
                            "unsupported map key of type: {ty}, key: {key}, value: {}",
                            go_sharp_v(v)
                        ));
                    }
                };
                m.insert(key, to_json_value(v)?);
            }
            Value::Map(GoMap::new(m))
        }
    })
}

// ---------------------------------------------------------------- encoding

/// A node to emit: a scalar with the style the encoder asks for, or a collection.
enum ENode {
    Scalar(String, Style),
    Seq(Vec<ENode>),
    Map(Vec<(ENode, ENode)>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// sigs.k8s.io/yaml.Marshal: the YAML text (with its final newline).
pub fn marshal(v: &Value) -> Result<String, String> {
    // json.Marshal first: its errors (unsupported types and values) are Marshal's
    let j = gojson::marshal(v).map_err(|e| format!("error marshaling into JSON: {e}"))?;
    let _ = j;
    let y = json_to_yaml_value(v)?;
    let node = v2_node(&y);
    let mut e = Emitter::new(false, 2);
    e.document(&node);
    Ok(e.out)
}

/// The value as yaml.v2 reads back its JSON encoding (JSONToYAML's first step): integral
/// numbers become ints, others float64; a character yaml.v2's reader refuses fails.
fn json_to_yaml_value(v: &Value) -> Result<YVal, String> {
    crate::gojson::deep(|| json_to_yaml_value_inner(v))
}

fn json_to_yaml_value_inner(v: &Value) -> Result<YVal, String> {
    let check = |s: &str| {
        if s.chars().all(|c| (c as u32) < 0x20 || allowed_char(c)) {
            Ok(())
        } else {
            Err(yerr("control characters are not allowed"))
        }
    };
    Ok(match v {
        Value::Nil | Value::Func(_) => YVal::Nil,
        Value::Bool(b) => YVal::Bool(*b),
        Value::Int(i) | Value::Int64(i) => YVal::Int(*i),
        Value::Uint8(u) => YVal::Int(*u as i64),
        Value::Float(f) => {
            let j = gojson::float_json(*f)?;
            if j.contains(['.', 'e']) {
                YVal::Float(*f)
            } else if let Ok(i) = j.parse::<i64>() {
                YVal::Int(i)
            } else if let Ok(u) = j.parse::<u64>() {
                YVal::Uint(u)
            } else {
                YVal::Float(*f)
            }
        }
        Value::String(s) => {
            check(s)?;
            YVal::Str(fold_nel(s))
        }
        Value::Slice(items) => YVal::Seq(items.iter().map(json_to_yaml_value).collect::<Result<_, _>>()?),
        Value::Map(m) => {
            let mut pairs = Vec::new();
            for (k, v) in m.entries() {
                check(&k)?;
                if k.contains('\u{85}') {
                    // a line break in a flow mapping's (simple) key
                    return Err(yerr("mapping values are not allowed in this context"));
                }
                pairs.push((YVal::Str(k), json_to_yaml_value(&v)?));
            }
            YVal::Map(pairs)
        }
        Value::Object(o) => json_to_yaml_value(&Value::from(o.to_json()?))?,
    })
}

/// encoding/json leaves U+0085 (NEL) unescaped, and yaml.v2 reads it in the quoted JSON
/// string as a line break: folded with the spaces around it into one space, or into
/// newlines where several follow each other.
fn fold_nel(s: &str) -> String {
    if !s.contains('\u{85}') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != ' ' && c != '\u{85}' {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\u{85}') {
            i += 1;
        }
        let run = &chars[start..i];
        let breaks = run.iter().filter(|&&c| c == '\u{85}').count();
        if breaks == 0 {
            out.extend(run.iter());
        } else if breaks == 1 {
            out.push(' ');
        } else {
            for _ in 1..breaks {
                out.push('\n');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    let mut pad = 0;
    let mut n = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                pad += 1;
                n += 1;
                continue;
            }
            b'\r' | b'\n' => continue,
            _ => return None,
        };
        if pad > 0 {
            return None;
        }
        n += 1;
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    if n % 4 != 0 || pad > 2 {
        return None;
    }
    Some(out)
}

/// The emitter's view of a yaml.v2-decoded value.
fn v2_node(y: &YVal) -> ENode {
    crate::gojson::deep(|| v2_node_inner(y))
}

fn v2_node_inner(y: &YVal) -> ENode {
    match y {
        YVal::Nil => ENode::Scalar("null".into(), Style::Plain),
        YVal::Bool(b) => ENode::Scalar(b.to_string(), Style::Plain),
        YVal::Int(i) => ENode::Scalar(i.to_string(), Style::Plain),
        YVal::Uint(u) => ENode::Scalar(u.to_string(), Style::Plain),
        YVal::Float(f) => ENode::Scalar(yaml_float(*f), Style::Plain),
        YVal::Str(s) => string_node(s, false),
        YVal::Seq(items) => ENode::Seq(items.iter().map(v2_node).collect()),
        YVal::Map(pairs) => {
            let mut keys: Vec<&(YVal, YVal)> = pairs.iter().collect();
            merge_sort(&mut keys, &|a, b| key_less(&a.0, &b.0));
            ENode::Map(keys.into_iter().map(|(k, v)| (v2_node(k), v2_node(v))).collect())
        }
    }
}

fn yaml_float(f: f64) -> String {
    match format_float(f, 'g', false).as_str() {
        "+Inf" => ".inf".into(),
        "-Inf" => "-.inf".into(),
        "NaN" => ".nan".into(),
        s => s.to_string(),
    }
}

/// yaml.v2's `stringv` (v3 also quotes the YAML 1.1 booleans it no longer resolves).
fn string_node(s: &str, v3: bool) -> ENode {
    let can_plain = if v3 {
        resolve_v3(s) && !is_base60_float(s) && !is_old_bool(s)
    } else {
        resolve_plain("", s).0 == STR && !is_base60_float(s)
    };
    let style = if s.contains('\n') {
        Style::Literal
    } else if can_plain {
        Style::Plain
    } else {
        Style::Double
    };
    ENode::Scalar(s.to_string(), style)
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&c) = b.first() else { return false };
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    let mut i = 0;
    if matches!(c, b'+' | b'-') {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        // [0-5]?[0-9]
        let d1 = b.get(i).copied();
        let d2 = b.get(i + 1).copied();
        match (d1, d2) {
            (Some(x), Some(y)) if (b'0'..=b'5').contains(&x) && y.is_ascii_digit() => i += 2,
            (Some(x), _) if x.is_ascii_digit() => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// yaml.v2's map key order (numbers within strings compared by value). Not a total
/// order for every set of keys (Go's own order is then that of its random map iteration).
fn key_less(a: &YVal, b: &YVal) -> bool {
    match (a, b) {
        (YVal::Str(a), YVal::Str(b)) => str_less(a, b),
        _ => false,
    }
}

/// A stable merge sort that tolerates an inconsistent comparison.
fn merge_sort<T: Clone>(v: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let mid = n / 2;
    merge_sort(&mut v[..mid], less);
    merge_sort(&mut v[mid..], less);
    let left = v[..mid].to_vec();
    let right = v[mid..].to_vec();
    let (mut i, mut j, mut k) = (0, 0, 0);
    while i < left.len() && j < right.len() {
        if less(&right[j], &left[i]) {
            v[k] = right[j].clone();
            j += 1;
        } else {
            v[k] = left[i].clone();
            i += 1;
        }
        k += 1;
    }
    for x in left[i..].iter().chain(right[j..].iter()) {
        v[k] = x.clone();
        k += 1;
    }
}

fn str_less(a: &str, b: &str) -> bool {
    str_less_v(a, b, false)
}

/// yaml.v3's order: as yaml.v2's, but after a common digit a letter sorts first.
fn str_less_v3(a: &str, b: &str) -> bool {
    str_less_v(a, b, true)
}

fn str_less_v(a: &str, b: &str, v3: bool) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    let mut digits = false;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            digits = is_go_digit(ar[i]);
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return if v3 && digits { al } else { bl };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i as isize - 1;
            while j >= 0 && is_go_digit(ar[j as usize]) {
                if ar[j as usize] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
                j -= 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && is_go_digit(ar[ai]) {
            an = an.wrapping_mul(10).wrapping_add(digit_val(ar[ai]));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && is_go_digit(br[bi]) {
            bn = bn.wrapping_mul(10).wrapping_add(digit_val(br[bi]));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// unicode.IsDigit (decimal digits, Nd).
fn is_go_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric() && c.to_digit(10).is_none() && is_nd(c))
}

fn is_nd(c: char) -> bool {
    // Unicode Nd ranges come in blocks of ten starting at a zero digit; Rust has no direct
    // test, so check the common scripts' blocks
    const ZEROS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
        0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
        0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    ];
    let v = c as u32;
    ZEROS.iter().any(|&z| v >= z && v < z + 10)
}

fn digit_val(c: char) -> i64 {
    if c.is_ascii_digit() {
        return (c as u8 - b'0') as i64;
    }
    // Go subtracts '0' from the rune
    (c as i64) - ('0' as i64)
}

// ---- the emitter (yaml.v2's libyaml port, for the events its encoder sends) ----

struct Analysis {
    multiline: bool,
    flow_plain: bool,
    block_plain: bool,
    single_quoted: bool,
    block: bool,
}

fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn analyze(value: &str, v3: bool) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain: false,
            block_plain: true,
            single_quoted: true,
            block: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_ind = false;
    let mut flow_ind = false;
    if value.starts_with("---") || value.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = i + 1 >= n || is_blank(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`' => {
                    flow_ind = true;
                    block_ind = true;
                }
                '?' | ':' => {
                    flow_ind = true;
                    if followed_by_ws {
                        block_ind = true;
                    }
                }
                '-' if followed_by_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_ind = true,
                ':' => {
                    flow_ind = true;
                    if followed_by_ws {
                        block_ind = true;
                    }
                }
                '#' if preceded_by_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        }
        if v3 && c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blank(c) || is_break(c) || c == '\0';
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain: true,
        block_plain: true,
        single_quoted: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.flow_plain = false;
        a.block_plain = false;
        a.single_quoted = false;
    }
    if tabs {
        a.flow_plain = false;
        a.block_plain = false;
        a.single_quoted = false;
    }
    if space_break || special {
        a.flow_plain = false;
        a.block_plain = false;
        a.single_quoted = false;
        a.block = false;
    }
    if line_breaks {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if flow_ind {
        a.flow_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

struct Emitter {
    out: String,
    column: usize,
    indent: i64,
    indents: Vec<i64>,
    flow_level: usize,
    whitespace: bool,
    indention: bool,
    mapping_context: bool,
    simple_key_context: bool,
    best_indent: i64,
    best_width: usize,
    v3: bool,
}

impl Emitter {
    fn new(v3: bool, indent: i64) -> Emitter {
        Emitter {
            out: String::new(),
            column: 0,
            indent: -1,
            indents: Vec::new(),
            flow_level: 0,
            whitespace: true,
            indention: true,
            mapping_context: false,
            simple_key_context: false,
            best_indent: indent,
            // yaml.v3's encoder does not fold long lines
            best_width: if v3 { usize::MAX } else { 80 },
            v3,
        }
    }

    fn document(&mut self, n: &ENode) {
        self.node(n, false, false, false);
        self.write_indent();
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }
    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        if self.v3 {
            self.indention = true;
        }
    }
    fn write_str(&mut self, s: &str) {
        for c in s.chars() {
            self.put(c);
        }
    }
    fn write_break_char(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
            if self.v3 {
                self.indention = true;
            }
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            self.indent += self.best_indent;
        }
    }
    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        if !self.v3 {
            self.indention = true;
        }
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        self.write_str(ind);
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, n: &ENode, sequence: bool, mapping: bool, simple_key: bool) {
        crate::gojson::deep(|| self.node_inner(n, sequence, mapping, simple_key))
    }

    fn node_inner(&mut self, n: &ENode, _sequence: bool, mapping: bool, simple_key: bool) {
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match n {
            ENode::Scalar(s, style) => self.scalar(s, *style),
            ENode::Seq(items) => {
                if self.flow_level > 0 || items.is_empty() {
                    self.write_indicator("[", true, true, false);
                    self.increase_indent(true, false);
                    self.flow_level += 1;
                    // only empty sequences are written in flow style here
                    self.flow_level -= 1;
                    self.pop_indent();
                    self.write_indicator("]", false, false, false);
                } else {
                    let indentless = self.mapping_context && !self.indention && !self.v3;
                    self.increase_indent(false, indentless);
                    for item in items {
                        self.write_indent();
                        self.write_indicator("-", true, false, true);
                        self.node(item, true, false, false);
                    }
                    self.pop_indent();
                }
            }
            ENode::Map(pairs) => {
                if self.flow_level > 0 || pairs.is_empty() {
                    self.write_indicator("{", true, true, false);
                    self.write_indicator("}", false, false, false);
                } else {
                    self.increase_indent(false, false);
                    for (k, v) in pairs {
                        self.write_indent();
                        if self.simple_key(k) {
                            self.node(k, false, true, true);
                            self.write_indicator(":", false, false, false);
                            self.node(v, false, true, false);
                        } else {
                            self.write_indicator("?", true, false, true);
                            self.node(k, false, true, false);
                            self.write_indent();
                            self.write_indicator(":", true, false, true);
                            self.node(v, false, true, false);
                        }
                    }
                    self.pop_indent();
                }
            }
        }
    }

    fn simple_key(&self, k: &ENode) -> bool {
        match k {
            ENode::Scalar(s, _) => !analyze(s, self.v3).multiline && s.len() <= 128,
            ENode::Seq(items) => items.is_empty(),
            ENode::Map(pairs) => pairs.is_empty(),
        }
    }

    fn scalar(&mut self, value: &str, requested: Style) {
        let a = analyze(value, self.v3);
        let mut style = requested;
        if self.simple_key_context && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            if (self.flow_level > 0 && !a.flow_plain) || (self.flow_level == 0 && !a.block_plain) {
                style = Style::Single;
            }
            if value.is_empty() && (self.flow_level > 0 || self.simple_key_context) {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_quoted {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || self.flow_level > 0 || self.simple_key_context) {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let allow_breaks = !self.simple_key_context;
        match style {
            Style::Plain => self.write_plain(value, allow_breaks),
            Style::Single => self.write_single(value, allow_breaks),
            Style::Double => self.write_double(value, allow_breaks),
            Style::Literal => self.write_literal(value),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                if allow_breaks && !spaces && self.column > self.best_width && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break_char(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
            i += 1;
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        let mut breaks = false;
        for i in 0..n {
            let c = chars[i];
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i + 1 < n
                    && chars[i + 1] != ' '
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break_char(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let n = chars.len();
        let bom = value.starts_with('\u{FEFF}');
        let mut spaces = false;
        for i in 0..n {
            let c = chars[i];
            if !is_printable(c) || bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c as u32 {
                    0x00 => self.put('0'),
                    0x07 => self.put('a'),
                    0x08 => self.put('b'),
                    0x09 => self.put('t'),
                    0x0A => self.put('n'),
                    0x0B => self.put('v'),
                    0x0C => self.put('f'),
                    0x0D => self.put('r'),
                    0x1B => self.put('e'),
                    0x22 => self.put('"'),
                    0x5C => self.put('\\'),
                    0x85 => self.put('N'),
                    0xA0 => self.put('_'),
                    0x2028 => self.put('L'),
                    0x2029 => self.put('P'),
                    v => {
                        let (ind, w) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(ind);
                        let hex = format!("{:0w$X}", v, w = w);
                        self.write_str(&hex);
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > self.best_width && i > 0 && i + 1 < n {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        // block scalar hints
        let chars: Vec<char> = value.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            let hint = char::from(b'0' + self.best_indent as u8);
            self.write_indicator(&hint.to_string(), false, false, false);
        }
        let n = chars.len();
        let chomp = if n == 0 || !is_break(chars[n - 1]) {
            Some("-")
        } else if n == 1 || is_break(chars[n - 2]) {
            Some("+")
        } else {
            None
        };
        if let Some(h) = chomp {
            self.write_indicator(h, false, false, false);
        }
        if !self.v3 {
            self.put_break();
            self.indention = true;
        }
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break_char(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

// ---------------------------------------------------------------- yaml.v3 (toYamlPretty)

/// yaml.v3's resolution of a plain scalar: whether it stays a string.
fn resolve_v3(s: &str) -> bool {
    let hint = match s.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    };
    if hint == 0 {
        return true;
    }
    if matches!(
        s,
        "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | ""
            | "~"
            | "null"
            | "Null"
            | "NULL"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | "<<"
    ) {
        return false;
    }
    match hint {
        b'.' => go_parse_float(s).is_none(),
        b'D' | b'S' => {
            if is_timestamp(s) {
                return false;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if go_parse_int(&plain).is_some() || go_parse_uint(&plain).is_some() {
                return false;
            }
            if yaml_style_float(&plain) && go_parse_float(&plain).is_some() {
                return false;
            }
            if let Some(b) = plain.strip_prefix("0b") {
                if parse_radix_u64(b, 2).is_some() {
                    return false;
                }
            } else if plain
                .strip_prefix("-0b")
                .and_then(|b| parse_radix_i64(b, 2, true))
                .is_some()
            {
                return false;
            }
            true
        }
        _ => true,
    }
}

/// Helm's `toYamlPretty`: yaml.v3's encoder with indent 2 on the value itself (no JSON
/// round trip): maps sorted, float64 numbers as strconv's 'g', sequences indented under
/// their keys.
pub fn marshal_pretty(v: &Value) -> Result<String, String> {
    let node = v3_node(v)?;
    let mut e = Emitter::new(true, 2);
    e.document(&node);
    Ok(e.out)
}

fn v3_node(v: &Value) -> Result<ENode, String> {
    crate::gojson::deep(|| v3_node_inner(v))
}

fn v3_node_inner(v: &Value) -> Result<ENode, String> {
    Ok(match v {
        Value::Nil => ENode::Scalar("null".into(), Style::Plain),
        Value::Bool(b) => ENode::Scalar(b.to_string(), Style::Plain),
        Value::Int(i) | Value::Int64(i) => ENode::Scalar(i.to_string(), Style::Plain),
        Value::Uint8(u) => ENode::Scalar(u.to_string(), Style::Plain),
        Value::Float(f) => ENode::Scalar(yaml_float(*f), Style::Plain),
        Value::String(s) => string_node(s, true),
        Value::Slice(items) => ENode::Seq(items.iter().map(v3_node).collect::<Result<_, _>>()?),
        Value::Map(m) => {
            let mut entries = m.entries();
            merge_sort(&mut entries, &|a, b| str_less_v3(&a.0, &b.0));
            let mut pairs = Vec::new();
            for (k, v) in entries {
                pairs.push((string_node(&k, true), v3_node(&v)?));
            }
            ENode::Map(pairs)
        }
        Value::Func(f) => return Err(format!("cannot marshal type: {}", f.type_name())),
        Value::Object(o) => v3_node(&Value::from(o.to_json()?))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> String {
        let v = unmarshal(s).unwrap();
        gojson::marshal(&v).unwrap()
    }

    #[test]
    fn resolution() {
        assert_eq!(
            y("a: yes\nb: off\nc: 0755\nd: 0x1F\ne: 1_000\nf: .inf_\ng: ~\nh: 2001-12-14\ni: 1e3\nj: '1'"),
            r#"{"a":true,"b":false,"c":493,"d":31,"e":1000,"f":".inf_","g":null,"h":"2001-12-14","i":1000,"j":"1"}"#
        );
        assert_eq!(y("1: a\n1.5: b\ntrue: c"), r#"{"1":"a","1.5":"b","true":"c"}"#);
        assert_eq!(
            unmarshal("a: .nan").unwrap_err(),
            "error converting YAML to JSON: json: unsupported value: NaN"
        );
    }

    #[test]
    fn anchors_and_merges() {
        let doc = "base: &b {x: 1, z: 2}\nother:\n  <<: *b\n  z: 3\nlist: [*b]\ny: 1\n";
        assert_eq!(
            y(doc),
            r#"{"base":{"x":1,"z":2},"list":[{"x":1,"z":2}],"other":{"x":1,"z":3},"true":1}"#
        );
    }

    #[test]
    fn helm_values() {
        let doc = "# Default values\nreplicaCount: 1\nimage:\n  repository: nginx\n  pullPolicy: IfNotPresent\n  tag: \"\"\nserviceAccount:\n  create: true\n  annotations: {}\nresources: {}\ntolerations: []\nnodeSelector: {}\ningress:\n  enabled: false\n  hosts:\n    - host: chart-example.local\n      paths:\n        - path: /\n          pathType: ImplementationSpecific\n";
        let v = unmarshal_into(doc, Target::Map).unwrap();
        assert_eq!(
            gojson::marshal(&v).unwrap(),
            r#"{"image":{"pullPolicy":"IfNotPresent","repository":"nginx","tag":""},"ingress":{"enabled":false,"hosts":[{"host":"chart-example.local","paths":[{"path":"/","pathType":"ImplementationSpecific"}]}]},"nodeSelector":{},"replicaCount":1,"resources":{},"serviceAccount":{"annotations":{},"create":true},"tolerations":[]}"#
        );
        assert_eq!(v.type_name(), "map[string]interface {}");
    }

    #[test]
    fn emit() {
        let v = Value::from(
            serde_json::json!({"b": [1, "two", {"c": null}], "a": "yes", "e": "", "m": "x\ny\n", "s": " lead", "k": {}}),
        );
        assert_eq!(
            marshal(&v).unwrap(),
            "a: \"yes\"\nb:\n- 1\n- two\n- c: null\ne: \"\"\nk: {}\nm: |\n  x\n  y\ns: ' lead'\n"
        );
        assert_eq!(marshal(&Value::Nil).unwrap(), "null\n");
    }

    /// NEL breaks lines as in YAML 1.1 (expectations from Go's yaml.v2).
    #[test]
    fn nel_breaks_lines() {
        let cases = [
            ("a: x\u{85}b: y\n", r#"{"a":"x","b":true}"#),
            ("k: \"a\u{85}b\"\n", r#"{"k":"a b"}"#),
            ("k: |\n  a\u{85}  b\n", r#"{"k":"a\nb\n"}"#),
            ("k: plain\u{85}  more\n", r#"{"k":"plain more"}"#),
            ("k: 'x\u{85}\u{85}y'\n", r#"{"k":"x\ny"}"#),
            ("k: a \u{85} b\n", r#"{"k":"a b"}"#),
        ];
        for (doc, want) in cases {
            assert_eq!(
                gojson::marshal(&unmarshal(doc).unwrap()).unwrap(),
                want,
                "{doc:?}"
            );
        }
        assert_eq!(
            unmarshal("\"q\u{85}k\": v\n").unwrap_err(),
            "error converting YAML to JSON: yaml: line 2: mapping values are not allowed in this context"
        );
    }

    /// Mutated documents never panic any decoder or encoder.
    #[test]
    fn mutations_never_panic() {
        let seeds = [
            "a: &x {b: [1, 'two', \"3\"], c: |\n  lit\n}\nd: *x\n<<: *x\n? [k]\n: v\n",
            "- !!binary aGk=\n- !!int 0x1F\n- {a: 1, a: 2}\n- 2001-12-14\n- .inf\n---\n- x\n",
            "{\"a\": [1, 2.5e10, null, true, \"\\u00e9\\ud83d\\ude00\"], \"b\": {}}",
            "[servers]\nalpha = { ip = \"10.0.0.1\", ports = [1, 2] }\n[[p]]\nn = 1.5\n",
        ];
        let inserts = [
            '[', ']', '{', '}', ':', ' ', '\n', '\t', '-', '&', '*', '!', '|', '>', '"', '\'', '#', '%',
            '\\', 'é', '\u{85}', '\u{2028}', '\u{feff}', '0',
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for round in 0..4000 {
            let mut chars: Vec<char> = seeds[round % seeds.len()].chars().collect();
            for _ in 0..1 + next(4) {
                if chars.is_empty() {
                    break;
                }
                let at = next(chars.len());
                match next(3) {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, inserts[next(inserts.len())]),
                    _ => chars.truncate(at),
                }
            }
            let doc: String = chars.into_iter().collect();
            for t in [Target::Any, Target::Map, Target::Slice] {
                let (Ok(v) | Err((v, _))) = unmarshal_into(&doc, t);
                let _ = marshal(&v);
                let _ = marshal_pretty(&v);
                let _ = crate::gotoml::marshal(&v);
                let (Ok(v) | Err((v, _))) = gojson::unmarshal_into(&doc, t);
                let _ = marshal(&v);
                let _ = gojson::marshal_indent(&v, "", "  ");
            }
            let (Ok(v) | Err((v, _))) = crate::gotoml::unmarshal_into_map(&doc);
            let _ = crate::gotoml::marshal(&v);
        }
    }
}

//! The parser: Go's text/template/parse, producing the same trees and error texts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::lex::{Item, ItemType, Lexer};

/// A parse error, texted as Go's: `template: NAME:LINE: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ParseError {}

type PResult<T> = Result<T, ParseError>;

#[derive(Clone, Debug)]
pub(crate) struct Number {
    pub text: String,
    pub is_int: bool,
    pub is_uint: bool,
    pub is_float: bool,
    pub is_complex: bool,
    pub int: i64,
    pub float: f64,
    /// The complex128 value (real, imaginary) of a complex constant.
    pub complex: (f64, f64),
}

#[derive(Clone, Debug)]
pub(crate) enum Operand {
    Field {
        pos: usize,
        ident: Vec<String>,
    },
    Chain {
        pos: usize,
        node: Box<Operand>,
        field: Vec<String>,
    },
    Identifier {
        pos: usize,
        name: String,
    },
    Variable {
        pos: usize,
        ident: Vec<String>,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Bool {
        pos: usize,
        val: bool,
    },
    Number {
        pos: usize,
        num: Number,
    },
    Str {
        pos: usize,
        quoted: String,
        text: String,
    },
    Pipe(Box<Pipe>),
}

impl Operand {
    pub fn pos(&self) -> usize {
        match self {
            Operand::Field { pos, .. }
            | Operand::Chain { pos, .. }
            | Operand::Identifier { pos, .. }
            | Operand::Variable { pos, .. }
            | Operand::Dot { pos }
            | Operand::Nil { pos }
            | Operand::Bool { pos, .. }
            | Operand::Number { pos, .. }
            | Operand::Str { pos, .. } => *pos,
            Operand::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Field { ident, .. } => {
                for i in ident {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Operand::Chain { node, field, .. } => {
                if let Operand::Pipe(p) = &**node {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in field {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Operand::Identifier { name, .. } => f.write_str(name),
            Operand::Variable { ident, .. } => f.write_str(&ident.join(".")),
            Operand::Dot { .. } => f.write_str("."),
            Operand::Nil { .. } => f.write_str("nil"),
            Operand::Bool { val, .. } => write!(f, "{val}"),
            Operand::Number { num, .. } => f.write_str(&num.text),
            Operand::Str { quoted, .. } => f.write_str(quoted),
            Operand::Pipe(p) => write!(f, "{p}"),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Operand>,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Operand::Pipe(p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    /// Declared variables, with their positions.
    pub decl: Vec<(usize, String)>,
    pub cmds: Vec<Command>,
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROW, || self.write(f))
    }
}

/// Nested parentheses and actions recurse; these grow the stack on the heap when it runs low.
pub(crate) const STACK_RED_ZONE: usize = 64 * 1024;
pub(crate) const STACK_GROW: usize = 1024 * 1024;

impl Drop for Pipe {
    fn drop(&mut self) {
        let cmds = std::mem::take(&mut self.cmds);
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROW, move || drop(cmds));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Node::Branch { list, else_list, .. } = self {
            let list = std::mem::take(list);
            let else_list = else_list.take();
            stacker::maybe_grow(STACK_RED_ZONE, STACK_GROW, move || drop((list, else_list)));
        }
    }
}

impl Pipe {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            for (i, (_, v)) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(v)?;
            }
            f.write_str(" := ")?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BranchKind {
    If,
    Range,
    With,
}

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text {
        pos: usize,
        text: String,
    },
    Action {
        pos: usize,
        pipe: Pipe,
    },
    Branch {
        kind: BranchKind,
        pos: usize,
        pipe: Pipe,
        list: Vec<Node>,
        else_list: Option<Vec<Node>>,
    },
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break {
        pos: usize,
    },
    Continue {
        pos: usize,
    },
    // only while parsing
    End {
        pos: usize,
    },
    Else {
        pos: usize,
    },
}

impl Node {
    pub fn pos(&self) -> usize {
        match self {
            Node::Text { pos, .. }
            | Node::Action { pos, .. }
            | Node::Branch { pos, .. }
            | Node::Template { pos, .. }
            | Node::Break { pos }
            | Node::Continue { pos }
            | Node::End { pos }
            | Node::Else { pos } => *pos,
        }
    }
}

pub(crate) fn write_list(f: &mut fmt::Formatter<'_>, list: &[Node]) -> fmt::Result {
    for n in list {
        write!(f, "{n}")?;
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROW, || self.write(f))
    }
}

impl Node {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text { text, .. } => f.write_str(text),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::Branch {
                kind,
                pipe,
                list,
                else_list,
                ..
            } => {
                let name = match kind {
                    BranchKind::If => "if",
                    BranchKind::Range => "range",
                    BranchKind::With => "with",
                };
                write!(f, "{{{{{name} {pipe}}}}}")?;
                write_list(f, list)?;
                if let Some(e) = else_list {
                    f.write_str("{{else}}")?;
                    write_list(f, e)?;
                }
                f.write_str("{{end}}")
            }
            Node::Template { name, pipe, .. } => {
                write!(f, "{{{{template {}", crate::gofmt::quote(name, false))?;
                if let Some(p) = pipe {
                    write!(f, " {p}")?;
                }
                f.write_str("}}")
            }
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
            Node::End { .. } => f.write_str("{{end}}"),
            Node::Else { .. } => f.write_str("{{else}}"),
        }
    }
}

/// One parsed template: its body and the file it came from (for error positions).
#[derive(Clone, Debug)]
pub(crate) struct Tree {
    pub name: String,
    pub parse_name: String,
    pub text: Arc<str>,
    pub root: Vec<Node>,
}

pub(crate) fn is_empty_tree(list: &[Node]) -> bool {
    list.iter().all(|n| match n {
        Node::Text { text, .. } => text.trim_matches(|c: char| c.is_whitespace()).is_empty(),
        _ => false,
    })
}

struct Ctx {
    name: String,
    token: [Item; 3],
    peek_count: usize,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
}

fn blank_item() -> Item {
    Item {
        typ: ItemType::Eof,
        pos: 0,
        val: String::new(),
        line: 0,
    }
}

impl Ctx {
    fn new(name: &str) -> Ctx {
        Ctx {
            name: name.to_string(),
            token: [blank_item(), blank_item(), blank_item()],
            peek_count: 0,
            vars: vec!["$".to_string()],
            range_depth: 0,
            action_line: 0,
        }
    }
}

pub(crate) struct Parser<'a, 'f> {
    lex: Lexer<'a>,
    parse_name: String,
    text: Arc<str>,
    has_func: &'f dyn Fn(&str) -> bool,
    ctx: Vec<Ctx>,
    /// Trees defined by this parse, in definition order.
    pub trees: BTreeMap<String, Tree>,
}

/// Parses `text` as the file `name`: the trees it defines (the top level under `name`).
pub(crate) fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> PResult<BTreeMap<String, Tree>> {
    let mut p = Parser {
        lex: Lexer::new(text),
        parse_name: name.to_string(),
        text: Arc::from(text),
        has_func,
        ctx: vec![Ctx::new(name)],
        trees: BTreeMap::new(),
    };
    let root = p.parse_top()?;
    p.add(name.to_string(), root)?;
    Ok(p.trees)
}

impl Parser<'_, '_> {
    fn c(&mut self) -> &mut Ctx {
        self.ctx.last_mut().expect("a parse context")
    }

    fn errorf<T>(&mut self, msg: impl Into<String>) -> PResult<T> {
        let line = self.c().token[0].line;
        Err(ParseError(format!(
            "template: {}:{}: {}",
            self.parse_name,
            line,
            msg.into()
        )))
    }

    fn next(&mut self) -> Item {
        let c = self.ctx.last_mut().expect("ctx");
        if c.peek_count > 0 {
            c.peek_count -= 1;
        } else {
            c.token[0] = self.lex.next_item();
        }
        c.token[c.peek_count].clone()
    }

    fn backup(&mut self) {
        self.c().peek_count += 1;
    }

    fn backup2(&mut self, t1: Item) {
        let c = self.c();
        c.token[1] = t1;
        c.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item, t1: Item) {
        let c = self.c();
        c.token[1] = t1;
        c.token[2] = t2;
        c.peek_count = 3;
    }

    fn peek(&mut self) -> Item {
        let c = self.ctx.last_mut().expect("ctx");
        if c.peek_count > 0 {
            return c.token[c.peek_count - 1].clone();
        }
        c.peek_count = 1;
        c.token[0] = self.lex.next_item();
        c.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let t = self.next();
            if t.typ != ItemType::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn expect(&mut self, expected: ItemType, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.typ != expected {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn unexpected<T>(&mut self, token: &Item, context: &str) -> PResult<T> {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            let al = self.c().action_line;
            if al != 0 && al != token.line {
                extra = format!(" in action started at {}:{}", self.parse_name, al);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{token}{extra}"));
        }
        self.errorf(format!("unexpected {token} in {context}"))
    }

    /// parse.go's add: a name defined twice in one parse is an error unless one is empty.
    fn add(&mut self, name: String, root: Vec<Node>) -> PResult<()> {
        if let Some(existing) = self.trees.get(&name)
            && !is_empty_tree(&existing.root)
        {
            if !is_empty_tree(&root) {
                return self.errorf(format!(
                    "template: multiple definition of template {}",
                    crate::gofmt::quote(&name, false)
                ));
            }
            return Ok(());
        }
        let tree = Tree {
            name: name.clone(),
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root,
        };
        self.trees.insert(name, tree);
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let delim = self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.ctx.push(Ctx::new("definition"));
                    let r = self.parse_definition();
                    self.ctx.pop();
                    r?;
                    continue;
                }
                self.backup2(delim);
            }
            let n = self.text_or_action()?;
            match n {
                Node::End { .. } | Node::Else { .. } => return self.errorf(format!("unexpected {n}")),
                n => root.push(n),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let name = self.next_non_space();
        if name.typ != ItemType::String && name.typ != ItemType::RawString {
            return self.unexpected(&name, context);
        }
        let n = match unquote(&name.val) {
            Ok(n) => n,
            Err(e) => return self.errorf(e),
        };
        self.c().name = n.clone();
        self.expect(ItemType::RightDelim, context)?;
        let (list, end) = self.item_list()?;
        if !matches!(end, Node::End { .. }) {
            return self.errorf(format!("unexpected {end} in {context}"));
        }
        self.add(n, list)
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Node)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != ItemType::Eof {
            let n = self.text_or_action()?;
            match n {
                Node::End { .. } | Node::Else { .. } => return Ok((list, n)),
                n => list.push(n),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Node> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Node::Text {
                pos: token.pos,
                text: token.val,
            }),
            ItemType::LeftDelim => {
                self.c().action_line = token.line;
                let r = stacker::maybe_grow(STACK_RED_ZONE, STACK_GROW, || self.action());
                self.c().action_line = 0;
                r
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> PResult<Node> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Block => return self.block_control(),
            ItemType::Break => return self.break_control(token.pos, "{{break}}"),
            ItemType::Continue => return self.break_control(token.pos, "{{continue}}"),
            ItemType::Else => return self.else_control(),
            ItemType::End => {
                let t = self.expect(ItemType::RightDelim, "end")?;
                return Ok(Node::End { pos: t.pos });
            }
            ItemType::If => return self.parse_control(BranchKind::If),
            ItemType::Range => return self.parse_control(BranchKind::Range),
            ItemType::Template => return self.template_control(),
            ItemType::With => return self.parse_control(BranchKind::With),
            _ => {}
        }
        self.backup();
        let token = self.peek();
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Node::Action { pos: token.pos, pipe })
    }

    fn break_control(&mut self, pos: usize, what: &str) -> PResult<Node> {
        let token = self.next_non_space();
        if token.typ != ItemType::RightDelim {
            return self.unexpected(&token, what);
        }
        if self.c().range_depth == 0 {
            let word = if what == "{{break}}" { "break" } else { "continue" };
            return self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}"));
        }
        Ok(if what == "{{break}}" {
            Node::Break { pos }
        } else {
            Node::Continue { pos }
        })
    }

    fn else_control(&mut self) -> PResult<Node> {
        let peek = self.peek_non_space();
        // {{else if ...}} and (Go 1.23) {{else with ...}} leave the keyword pending
        if peek.typ == ItemType::If || peek.typ == ItemType::With {
            return Ok(Node::Else { pos: peek.pos });
        }
        let t = self.expect(ItemType::RightDelim, "else")?;
        Ok(Node::Else { pos: t.pos })
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe {
            pos: token.pos,
            is_assign: false,
            decl: vec![],
            cmds: vec![],
        };
        'decls: loop {
            let v = self.peek_non_space();
            if v.typ == ItemType::Variable {
                self.next();
                let after = self.peek();
                let next = self.peek_non_space();
                if next.typ == ItemType::Assign || next.typ == ItemType::Declare {
                    pipe.is_assign = next.typ == ItemType::Assign;
                    self.next_non_space();
                    pipe.decl.push((v.pos, v.val.clone()));
                    self.c().vars.push(v.val.clone());
                } else if next.typ == ItemType::Char && next.val == "," {
                    self.next_non_space();
                    pipe.decl.push((v.pos, v.val.clone()));
                    self.c().vars.push(v.val.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                                continue 'decls;
                            }
                            _ => return self.errorf("range can only initialize variables"),
                        }
                    }
                    return self.errorf(format!("too many declarations in {context}"));
                } else if after.typ == ItemType::Space {
                    self.backup3(v, after);
                } else {
                    self.backup2(v);
                }
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            match token.typ {
                t if t == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn check_pipeline(&mut self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Operand::Bool { .. }
                    | Operand::Dot { .. }
                    | Operand::Nil { .. }
                    | Operand::Number { .. }
                    | Operand::Str { .. }
            ) {
                return self.errorf(format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(())
    }

    fn parse_control(&mut self, kind: BranchKind) -> PResult<Node> {
        let nvars = self.c().vars.len();
        let r = self.parse_control_inner(kind);
        self.c().vars.truncate(nvars);
        r
    }

    fn parse_control_inner(&mut self, kind: BranchKind) -> PResult<Node> {
        let context = match kind {
            BranchKind::If => "if",
            BranchKind::Range => "range",
            BranchKind::With => "with",
        };
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if kind == BranchKind::Range {
            self.c().range_depth += 1;
        }
        let r = self.item_list();
        if kind == BranchKind::Range {
            self.c().range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let Node::Else { .. } = next {
            let chained = match (kind, self.peek().typ) {
                (BranchKind::If, ItemType::If) => Some(BranchKind::If),
                (BranchKind::With, ItemType::With) => Some(BranchKind::With),
                _ => None,
            };
            if let Some(inner_kind) = chained {
                // {{if a}}_{{else if b}}_{{end}} is {{if a}}_{{else}}{{if b}}_{{end}}{{end}};
                // likewise {{with a}}_{{else with b}}_{{end}} (Go 1.23, as in Helm 3.17)
                self.next();
                let inner = self.parse_control(inner_kind)?;
                else_list = Some(vec![inner]);
            } else {
                let (el, next) = self.item_list()?;
                if !matches!(next, Node::End { .. }) {
                    return self.errorf(format!("expected end; found {next}"));
                }
                else_list = Some(el);
            }
        }
        Ok(Node::Branch {
            kind,
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        let context = "block clause";
        let token = self.next_non_space();
        let name = self.parse_template_name(&token, context)?;
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        self.ctx.push(Ctx::new(&name));
        let r = self.item_list();
        self.ctx.pop();
        let (list, end) = r?;
        if !matches!(end, Node::End { .. }) {
            return self.errorf(format!("unexpected {end} in {context}"));
        }
        self.add(name.clone(), list)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let token = self.next_non_space();
        let name = self.parse_template_name(&token, context)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, ItemType::RightDelim)?);
        }
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn parse_template_name(&mut self, token: &Item, context: &str) -> PResult<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => match unquote(&token.val) {
                Ok(s) => Ok(s),
                Err(e) => self.errorf(e),
            },
            _ => self.unexpected(token, context),
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command { pos, args: vec![] };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Operand>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ == ItemType::Field {
            let chain_pos = self.peek().pos;
            let mut fields = Vec::new();
            while self.peek().typ == ItemType::Field {
                let f = self.next().val;
                fields.push(f[1..].to_string());
            }
            return Ok(Some(match node {
                Operand::Field { mut ident, .. } => {
                    ident.extend(fields);
                    Operand::Field {
                        pos: chain_pos,
                        ident,
                    }
                }
                Operand::Variable { mut ident, .. } => {
                    ident.extend(fields);
                    Operand::Variable {
                        pos: chain_pos,
                        ident,
                    }
                }
                Operand::Bool { .. }
                | Operand::Str { .. }
                | Operand::Number { .. }
                | Operand::Nil { .. }
                | Operand::Dot { .. } => {
                    return self.errorf(format!(
                        "unexpected . after term {}",
                        crate::gofmt::quote(&node.to_string(), false)
                    ));
                }
                node => Operand::Chain {
                    pos: chain_pos,
                    node: Box::new(node),
                    field: fields,
                },
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Operand>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !(self.has_func)(&token.val) {
                    return self.errorf(format!(
                        "function {} not defined",
                        crate::gofmt::quote(&token.val, false)
                    ));
                }
                Operand::Identifier { pos, name: token.val }
            }
            ItemType::Dot => Operand::Dot { pos },
            ItemType::Nil => Operand::Nil { pos },
            ItemType::Variable => {
                let ident: Vec<String> = token.val.split('.').map(str::to_string).collect();
                if !self.c().vars.iter().any(|v| *v == ident[0]) {
                    return self.errorf(format!(
                        "undefined variable {}",
                        crate::gofmt::quote(&ident[0], false)
                    ));
                }
                Operand::Variable { pos, ident }
            }
            ItemType::Field => {
                let ident = token.val[1..].split('.').map(str::to_string).collect();
                Operand::Field { pos, ident }
            }
            ItemType::Bool => Operand::Bool {
                pos,
                val: token.val == "true",
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                match new_number(&token.val, token.typ) {
                    Ok(num) => Operand::Number { pos, num },
                    Err(e) => return self.errorf(e),
                }
            }
            ItemType::LeftParen => {
                let p = stacker::maybe_grow(STACK_RED_ZONE, STACK_GROW, || {
                    self.pipeline("parenthesized pipeline", ItemType::RightParen)
                })?;
                Operand::Pipe(Box::new(p))
            }
            ItemType::String | ItemType::RawString => match unquote(&token.val) {
                Ok(s) => Operand::Str {
                    pos,
                    quoted: token.val,
                    text: s,
                },
                Err(e) => return self.errorf(e),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// strconv.Unquote for the `"..."`, `` `...` `` and `'.'` forms the lexer produces.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    const SYNTAX: &str = "invalid syntax";
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(SYNTAX.into());
    }
    let q = b[0];
    if q != b[b.len() - 1] {
        return Err(SYNTAX.into());
    }
    let inner = &s[1..s.len() - 1];
    if q == b'`' {
        if inner.contains('`') {
            return Err(SYNTAX.into());
        }
        return Ok(inner.replace('\r', ""));
    }
    if q != b'"' && q != b'\'' {
        return Err(SYNTAX.into());
    }
    if inner.contains('\n') {
        return Err(SYNTAX.into());
    }
    let mut out: Vec<u8> = Vec::new();
    let mut rest = inner;
    let mut count = 0;
    while !rest.is_empty() {
        let (c, bytes, tail) = unquote_char(rest, q as char).map_err(|_| SYNTAX.to_string())?;
        match c {
            Some(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(bytes),
        }
        rest = tail;
        count += 1;
        if q == b'\'' && count > 1 {
            return Err(SYNTAX.into());
        }
    }
    if q == b'\'' && count != 1 {
        return Err(SYNTAX.into());
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// strconv.UnquoteChar: (a rune, or a raw byte from \x/\ooo), the rest.
fn unquote_char(s: &str, quote: char) -> Result<(Option<char>, u8, &str), ()> {
    let mut chars = s.chars();
    let c = chars.next().ok_or(())?;
    if c == quote && (quote == '\'' || quote == '"') {
        return Err(());
    }
    if c != '\\' {
        return Ok((Some(c), 0, &s[c.len_utf8()..]));
    }
    let b = s.as_bytes();
    if b.len() <= 1 {
        return Err(());
    }
    let e = b[1] as char;
    let tail = &s[2..];
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote {
                return Err(());
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((Some(c), 0, tail));
    }
    match e {
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            if tail.len() < n || !tail.is_char_boundary(n) {
                return Err(());
            }
            let v = u32::from_str_radix(&tail[..n], 16).map_err(|_| ())?;
            if !tail[..n].bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(());
            }
            if e == 'x' {
                if v < 0x80 {
                    return Ok((char::from_u32(v), 0, &tail[n..]));
                }
                return Ok((None, v as u8, &tail[n..]));
            }
            let c = char::from_u32(v).ok_or(())?;
            Ok((Some(c), 0, &tail[n..]))
        }
        '0'..='7' => {
            let digits = &s[1..];
            if digits.len() < 3 || !digits.is_char_boundary(3) {
                return Err(());
            }
            let d = &digits[..3];
            if !d.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                return Err(());
            }
            let v = u32::from_str_radix(d, 8).map_err(|_| ())?;
            if v > 255 {
                return Err(());
            }
            if v < 0x80 {
                Ok((char::from_u32(v), 0, &digits[3..]))
            } else {
                Ok((None, v as u8, &digits[3..]))
            }
        }
        _ => Err(()),
    }
}

/// strconv.ParseInt/ParseUint with base 0 (prefixes, underscores).
fn parse_go_int(text: &str) -> (Option<i64>, Option<u64>) {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (base, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    if digits.contains('_') && !underscore_ok(&lower, prefixed) {
        return (None, None);
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() {
        return (None, None);
    }
    let Ok(mag) = u64::from_str_radix(&digits, base) else {
        return (None, None);
    };
    let u = if neg || text.starts_with('+') {
        None
    } else {
        Some(mag)
    };
    let i = if neg {
        if mag <= i64::MAX as u64 + 1 {
            Some((mag as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else if mag <= i64::MAX as u64 {
        Some(mag as i64)
    } else {
        None
    };
    // ParseUint rejects signs; "-0" handled by the caller
    (
        i,
        if text.starts_with('-') || text.starts_with('+') {
            None
        } else {
            u
        },
    )
}

/// strconv's underscoreOK: underscores only between digits (or after a base prefix).
fn underscore_ok(s: &str, prefixed: bool) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && prefixed {
        let c = b[1].to_ascii_lowercase();
        if c == b'x' || c == b'o' || c == b'b' {
            hex = c == b'x';
            i = 2;
            saw = b'0';
        }
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

fn parse_go_float(text: &str) -> Option<f64> {
    let t = if text.contains('_') {
        if !underscore_ok(&text.to_ascii_lowercase(), true) {
            return None;
        }
        text.replace('_', "")
    } else {
        text.to_string()
    };
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body.starts_with("0x") || body.contains("inf") || body.contains("nan") || body.is_empty() {
        return None;
    }
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'+' || c == b'-')
    {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    if v.is_infinite() {
        return None; // Go: value out of range
    }
    Some(v)
}

/// strconv.ParseFloat(s, 64)'s error for a token fmt's scanner produced, if any.
fn parse_float_err(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    let ok = matches!(body, "inf" | "infinity" | "nan") || parse_go_float(s).is_some() || {
        // hexadecimal mantissa with its required binary exponent
        body.strip_prefix("0x").is_some_and(|h| {
            let (m, e) = h.split_once('p').unwrap_or((h, ""));
            let e = e.trim_start_matches(['+', '-']);
            m.chars().any(|c| c.is_ascii_hexdigit())
                && m.chars().all(|c| c.is_ascii_hexdigit() || c == '.' || c == '_')
                && !e.is_empty()
                && e.chars().all(|c| c.is_ascii_digit() || c == '_')
        })
    };
    if ok {
        return None;
    }
    let num = crate::gofmt::quote(s, false);
    let range = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'));
    Some(if range && s.parse::<f64>().is_ok_and(f64::is_infinite) {
        format!("strconv.ParseFloat: parsing {num}: value out of range")
    } else {
        format!("strconv.ParseFloat: parsing {num}: invalid syntax")
    })
}

/// The error `fmt.Sscan(text, &c)` gives for a complex128 `c`, as Go's parser scans
/// complex constants (`1+2i`).
fn sscan_complex(text: &str) -> Result<(f64, f64), String> {
    const ERR: &str = "syntax error scanning complex number";
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    let accept = |i: &mut usize, set: &str| -> bool {
        match b.get(*i) {
            Some(&c) if set.contains(c) => {
                *i += 1;
                true
            }
            _ => false,
        }
    };
    let float_token = |i: &mut usize| -> String {
        let start = *i;
        if accept(i, "nN") && accept(i, "aA") && accept(i, "nN") {
            return b[start..*i].iter().collect();
        }
        accept(i, "+-");
        if accept(i, "iI") && accept(i, "nN") && accept(i, "fF") {
            return b[start..*i].iter().collect();
        }
        let mut digits = "0123456789_";
        let mut exp = "eEpP";
        if accept(i, "0") && accept(i, "xX") {
            digits = "0123456789aAbBcCdDeEfF_";
            exp = "pP";
        }
        while accept(i, digits) {}
        if accept(i, ".") {
            while accept(i, digits) {}
        }
        if accept(i, exp) {
            accept(i, "+-");
            while accept(i, "0123456789_") {}
        }
        b[start..*i].iter().collect()
    };
    let parens = accept(&mut i, "(");
    let real = float_token(&mut i);
    let sign_at = i;
    if !accept(&mut i, "+-") {
        return Err(ERR.into());
    }
    let sign = b[sign_at];
    let imag = format!("{sign}{}", float_token(&mut i));
    if !accept(&mut i, "i") || (parens && !accept(&mut i, ")")) {
        return Err(ERR.into());
    }
    for part in [&real, &imag] {
        if let Some(e) = parse_float_err(part) {
            return Err(e);
        }
    }
    Ok((float_value(&real), float_value(&imag)))
}

/// The value of a float token strconv.ParseFloat accepted.
fn float_value(s: &str) -> f64 {
    if let Some(f) = parse_go_float(s) {
        return f;
    }
    let lower = s.to_ascii_lowercase();
    let neg = lower.starts_with('-');
    let body = lower.trim_start_matches(['+', '-']);
    let v = match body {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => body.strip_prefix("0x").map_or(0.0, hex_float_value),
    };
    if neg { -v } else { v }
}

/// A hexadecimal float's value (`1.8p3`, the part after `0x`).
fn hex_float_value(h: &str) -> f64 {
    let h = h.replace('_', "");
    let (m, e) = h.split_once('p').unwrap_or((&h, "0"));
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    let mut v = 0.0;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16).unwrap_or(0) as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16).unwrap_or(0) as f64 * scale;
        scale /= 16.0;
    }
    v * 2f64.powi(e.parse::<i32>().unwrap_or(0))
}

/// Go's `simplifyComplex`: a complex constant with no imaginary part is also a float (and
/// an integer where integral).
fn simplify_complex(n: &mut Number) {
    let (re, im) = n.complex;
    n.is_float = im == 0.0;
    if n.is_float {
        n.float = re;
        n.is_int = re.is_finite() && re.fract() == 0.0 && re.abs() < 9.2e18;
        if n.is_int {
            n.int = re as i64;
        }
        n.is_uint = re.is_finite() && re.fract() == 0.0 && (0.0..1.8e19).contains(&re);
    }
}

fn new_number(text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        text: text.to_string(),
        is_int: false,
        is_uint: false,
        is_float: false,
        is_complex: false,
        int: 0,
        float: 0.0,
        complex: (0.0, 0.0),
    };
    if typ == ItemType::CharConstant {
        let (c, byte, tail) = unquote_char(&text[1..], '\'').map_err(|_| "invalid syntax".to_string())?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        let v = c.map(|c| c as i64).unwrap_or(byte as i64);
        n.int = v;
        n.is_int = true;
        n.is_uint = true;
        n.float = v as f64;
        n.is_float = true;
        return Ok(n);
    }
    // complex constants are recognised (values of complex type are not supported); Go
    // scans a complex item with fmt.Sscan, whose errors it reports
    if typ == ItemType::Complex {
        n.complex = sscan_complex(text)?;
        n.is_complex = true;
        simplify_complex(&mut n);
        return Ok(n);
    }
    if let Some(im) = text.strip_suffix('i').and_then(parse_go_float) {
        n.complex = (0.0, im);
        n.is_complex = true;
        simplify_complex(&mut n);
        return Ok(n);
    }
    let (i, u) = parse_go_int(text);
    if let Some(u) = u {
        n.is_uint = true;
        n.float = u as f64;
    }
    if let Some(i) = i {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if n.is_uint {
        n.is_float = true;
    } else if let Some(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::gofmt::quote(text, false)));
        }
        n.is_float = true;
        n.float = f;
        if !n.is_int && (f as i64) as f64 == f && f.fract() == 0.0 && f.abs() < 9.2e18 {
            n.is_int = true;
            n.int = f as i64;
        }
        if !n.is_uint && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 {
            n.is_uint = true;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!(
            "illegal number syntax: {}",
            crate::gofmt::quote(text, false)
        ));
    }
    Ok(n)
}

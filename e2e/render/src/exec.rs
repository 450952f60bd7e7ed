//! Execution: Go's text/template exec.go semantics over [`Value`]s.

use std::collections::BTreeMap;

use crate::gofmt;
use crate::parse::{BranchKind, Command, Node, Operand, Pipe, STACK_GROW, STACK_RED_ZONE, Tree};
use crate::value::{Arg, FuncMap, Function, ParamType, Value};
use crate::{ExecError, MissingKey, Options, Template};
use std::sync::Arc;

/// A value during execution: Go's `reflect.Value`. `Invalid` is the invalid value (a
/// missing key); the flag tells a value whose static type is `interface {}` (an element of
/// a map or slice) from a concrete one, which shows in Go's error texts.
#[derive(Clone, Debug)]
pub(crate) enum Rv {
    Invalid,
    V(Value, bool),
}

impl Rv {
    fn strip(self) -> Rv {
        match self {
            Rv::V(Value::Nil, _) => Rv::Invalid,
            Rv::V(v, _) => Rv::V(v, false),
            Rv::Invalid => Rv::Invalid,
        }
    }
    fn to_arg(&self) -> Arg {
        match self {
            Rv::Invalid => Arg::Missing,
            Rv::V(v, false) => Arg::Value(v.clone()),
            Rv::V(v, true) => Arg::Interface(v.clone()),
        }
    }
    fn from_arg(a: Arg) -> Rv {
        match a {
            Arg::Missing => Rv::Invalid,
            Arg::Value(v) => Rv::V(v, false),
            Arg::Interface(v) => Rv::V(v, true),
        }
    }
}

/// What a context function ([`Function::with_context`]) sees of the executing template
/// set: enough to execute its templates (Helm's `include`) or to parse more text into a
/// copy of it (Helm's `tpl`).
pub struct CallContext<'a> {
    set_name: &'a str,
    trees: &'a BTreeMap<String, Arc<Tree>>,
    funcs: &'a FuncMap,
    opts: &'a Options,
}

impl CallContext<'_> {
    /// A copy of the executing set (definitions shared, cheap), with its functions.
    pub fn template(&self) -> Template {
        Template {
            name: self.set_name.to_string(),
            funcs: self.funcs.clone(),
            trees: self.trees.clone(),
        }
    }

    /// The options of the execution in progress.
    pub fn options(&self) -> &Options {
        self.opts
    }

    /// Executes template `name` of the executing set with `data` as dot (Go's
    /// `ExecuteTemplate` on the set: a fresh execution, depth counted anew).
    pub fn execute_template(&self, name: &str, data: &Arg) -> Result<String, ExecError> {
        let Some(tree) = self.trees.get(name) else {
            return Err(ExecError(format!(
                "template: no template {} associated with template {}",
                gofmt::quote(name, false),
                gofmt::quote(self.set_name, false)
            )));
        };
        let dot = Rv::from_arg(data.clone()).strip();
        let mut st = State::new(
            self.set_name,
            self.trees,
            self.funcs,
            crate::builtin_map(),
            self.opts,
            tree,
            dot.clone(),
        );
        stacker::maybe_grow(256 * 1024, 4 * 1024 * 1024, || st.walk_root(&dot))?;
        Ok(st.out)
    }
}

pub(crate) enum Ctl {
    Err(String),
    Break,
    Continue,
}

type R<T> = Result<T, Ctl>;

const MAX_EXEC_DEPTH: usize = 100_000;

#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Op(&'t Operand),
}

pub(crate) struct State<'t> {
    pub set_name: &'t str,
    pub trees: &'t BTreeMap<String, Arc<Tree>>,
    pub funcs: &'t FuncMap,
    pub builtins: &'t FuncMap,
    pub opts: &'t Options,
    pub tree: &'t Tree,
    pub vars: Vec<(String, Rv)>,
    pub depth: usize,
    pub out: String,
    at: At<'t>,
}

fn truth(v: &Rv) -> bool {
    match v {
        Rv::Invalid => false,
        Rv::V(v, _) => match v {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Uint8(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Slice(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Func(_) => true,
            // a struct is always true, a pointer to one is non-nil
            Value::Object(o) => o.map_entries().is_none_or(|e| !e.is_empty()),
        },
    }
}

pub(crate) fn is_true(v: &Value) -> bool {
    truth(&Rv::V(v.clone(), false))
}

impl<'t> State<'t> {
    pub fn new(
        set_name: &'t str,
        trees: &'t BTreeMap<String, Arc<Tree>>,
        funcs: &'t FuncMap,
        builtins: &'t FuncMap,
        opts: &'t Options,
        tree: &'t Tree,
        data: Rv,
    ) -> Self {
        State {
            set_name,
            trees,
            funcs,
            builtins,
            opts,
            tree,
            vars: vec![("$".into(), data)],
            depth: 0,
            out: String::new(),
            at: At::None,
        }
    }

    fn errorf<T>(&self, msg: impl Into<String>) -> R<T> {
        let name = &self.tree.name;
        let msg = msg.into();
        let (pos, context) = match self.at {
            At::None => return Err(Ctl::Err(format!("template: {name}: {msg}"))),
            At::Node(n) => (n.pos(), n.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Op(o) => (o.pos(), o.to_string()),
        };
        let text = &self.tree.text[..pos.min(self.tree.text.len())];
        let col = match text.rfind('\n') {
            None => pos,
            Some(i) => pos - (i + 1),
        };
        let line = 1 + text.matches('\n').count();
        Err(Ctl::Err(format!(
            "template: {}:{}:{}: executing {} at <{}>: {}",
            self.tree.parse_name,
            line,
            col,
            gofmt::quote(name, false),
            context,
            msg
        )))
    }

    pub fn walk_root(&mut self, dot: &Rv) -> Result<(), ExecError> {
        let root = &self.tree.root;
        match self.walk_list(dot, root) {
            Ok(()) => Ok(()),
            Err(Ctl::Err(e)) => Err(ExecError(e)),
            // the parser rejects break/continue outside range
            Err(Ctl::Break | Ctl::Continue) => Ok(()),
        }
    }

    fn walk_list(&mut self, dot: &Rv, list: &'t [Node]) -> R<()> {
        for n in list {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Rv, node: &'t Node) -> R<()> {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROW, || self.walk_node(dot, node))
    }

    fn walk_node(&mut self, dot: &Rv, node: &'t Node) -> R<()> {
        self.at = At::Node(node);
        match node {
            Node::Action { pipe, .. } => {
                let val = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print_value(node, &val)?;
                }
                Ok(())
            }
            Node::Break { .. } => Err(Ctl::Break),
            Node::Continue { .. } => Err(Ctl::Continue),
            Node::End { .. } | Node::Else { .. } => Ok(()),
            Node::Branch {
                kind: BranchKind::Range,
                ..
            } => self.walk_range(dot, node),
            Node::Branch {
                kind,
                pipe,
                list,
                else_list,
                ..
            } => {
                let mark = self.vars.len();
                let r = self.walk_if_or_with(*kind, dot, pipe, list, else_list.as_deref());
                self.vars.truncate(mark);
                r
            }
            Node::Template { name, pipe, .. } => self.walk_template(dot, node, name, pipe.as_ref()),
            Node::Text { text, .. } => {
                self.out.push_str(text);
                Ok(())
            }
        }
    }

    fn walk_if_or_with(
        &mut self,
        kind: BranchKind,
        dot: &Rv,
        pipe: &'t Pipe,
        list: &'t [Node],
        else_list: Option<&'t [Node]>,
    ) -> R<()> {
        let val = self.eval_pipeline(dot, pipe)?;
        if truth(&val) {
            if kind == BranchKind::With {
                self.walk_list(&val, list)
            } else {
                self.walk_list(dot, list)
            }
        } else if let Some(e) = else_list {
            self.walk_list(dot, e)
        } else {
            Ok(())
        }
    }

    fn walk_range(&mut self, dot: &Rv, node: &'t Node) -> R<()> {
        let Node::Branch {
            pipe,
            list,
            else_list,
            ..
        } = node
        else {
            return Ok(());
        };
        let mark0 = self.vars.len();
        let r = self.walk_range_inner(dot, node, pipe, list, else_list.as_deref());
        self.vars.truncate(mark0);
        match r {
            Err(Ctl::Break) => Ok(()),
            r => r,
        }
    }

    fn walk_range_inner(
        &mut self,
        dot: &Rv,
        node: &'t Node,
        pipe: &'t Pipe,
        list: &'t [Node],
        else_list: Option<&'t [Node]>,
    ) -> R<()> {
        self.at = At::Node(node);
        let val = self.eval_pipeline(dot, pipe)?;
        let mark = self.vars.len();
        let ndecl = pipe.decl.len();
        let one = |s: &mut Self, index: Rv, elem: Rv| -> R<()> {
            if ndecl > 0 {
                let n = s.vars.len();
                s.vars[n - 1].1 = elem.clone();
            }
            if ndecl > 1 {
                let n = s.vars.len();
                s.vars[n - 2].1 = index;
            }
            let r = s.walk_list(&elem, list);
            s.vars.truncate(mark);
            match r {
                Err(Ctl::Continue) => Ok(()),
                r => r,
            }
        };
        match &val {
            Rv::V(Value::Slice(items), _) if !items.is_empty() => {
                for (i, e) in items.iter().enumerate() {
                    one(self, Rv::V(Value::Int(i as i64), false), Rv::V(e.clone(), true))?;
                }
                return Ok(());
            }
            Rv::V(Value::Map(m), _) if !m.is_empty() => {
                for (k, e) in m.entries() {
                    one(
                        self,
                        Rv::V(Value::String(k.clone()), false),
                        Rv::V(e.clone(), true),
                    )?;
                }
                return Ok(());
            }
            Rv::V(Value::Object(o), _) if o.map_entries().is_some_and(|e| !e.is_empty()) => {
                for (k, e) in o.map_entries().unwrap_or_default() {
                    one(self, Rv::V(Value::String(k), false), Rv::V(e, false))?;
                }
                return Ok(());
            }
            Rv::V(Value::Slice(_) | Value::Map(_), _) | Rv::Invalid => {}
            Rv::V(Value::Object(o), _) if o.map_entries().is_some() => {}
            Rv::V(v, _) => {
                // Go reports it at the node evaluated last (the pipeline's)
                return self.errorf(format!("range can't iterate over {}", gofmt::format_v(v)));
            }
        }
        if let Some(e) = else_list {
            self.walk_list(dot, e)?;
        }
        Ok(())
    }

    fn walk_template(&mut self, dot: &Rv, node: &'t Node, name: &str, pipe: Option<&'t Pipe>) -> R<()> {
        self.at = At::Node(node);
        let Some(tree) = self.trees.get(name) else {
            return self.errorf(format!("template {} not defined", gofmt::quote(name, false)));
        };
        if self.depth == MAX_EXEC_DEPTH {
            return self.errorf(format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})"));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Rv::Invalid,
        };
        let saved_tree = self.tree;
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        self.tree = tree;
        self.depth += 1;
        let r = stacker::maybe_grow(256 * 1024, 4 * 1024 * 1024, || {
            self.walk_list(&new_dot, &tree.root)
        });
        self.depth -= 1;
        self.tree = saved_tree;
        self.vars = saved_vars;
        r
    }

    fn eval_pipeline(&mut self, dot: &Rv, pipe: &'t Pipe) -> R<Rv> {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROW, || self.eval_pipeline_inner(dot, pipe))
    }

    fn eval_pipeline_inner(&mut self, dot: &Rv, pipe: &'t Pipe) -> R<Rv> {
        self.at = At::Pipe(pipe);
        let mut value: Option<Rv> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v.strip());
        }
        let value = value.unwrap_or(Rv::Invalid);
        for (_, name) in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn set_var(&mut self, name: &str, value: Rv) -> R<()> {
        for v in self.vars.iter_mut().rev() {
            if v.0 == name {
                v.1 = value;
                return Ok(());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn var_value(&self, name: &str) -> R<Rv> {
        for v in self.vars.iter().rev() {
            if v.0 == name {
                return Ok(v.1.clone());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn not_a_function(&self, args: &[Operand], final_: &Option<Rv>) -> R<()> {
        if args.len() > 1 || final_.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Rv, cmd: &'t Command, final_: Option<Rv>) -> R<Rv> {
        let first = &cmd.args[0];
        match first {
            Operand::Field { ident, .. } => {
                self.at = At::Op(first);
                return self.eval_field_chain(dot, dot.clone(), first, ident, &cmd.args, final_);
            }
            Operand::Chain { .. } => return self.eval_chain(dot, first, &cmd.args, final_),
            Operand::Identifier { name, .. } => {
                self.at = At::Op(first);
                return self.eval_function(dot, name, At::Cmd(cmd), &cmd.args, final_);
            }
            Operand::Pipe(p) => {
                self.not_a_function(&cmd.args, &final_)?;
                return self.eval_pipeline(dot, p);
            }
            Operand::Variable { .. } => return self.eval_variable(dot, first, &cmd.args, final_),
            _ => {}
        }
        self.at = At::Op(first);
        self.not_a_function(&cmd.args, &final_)?;
        match first {
            Operand::Bool { val, .. } => Ok(Rv::V(Value::Bool(*val), false)),
            Operand::Dot { .. } => Ok(dot.clone()),
            Operand::Nil { .. } => self.errorf("nil is not a command"),
            Operand::Number { .. } => self.ideal_constant(first),
            Operand::Str { text, .. } => Ok(Rv::V(Value::String(text.clone()), false)),
            _ => self.errorf(format!(
                "can't evaluate command {}",
                gofmt::quote(&first.to_string(), false)
            )),
        }
    }

    fn ideal_constant(&mut self, op: &'t Operand) -> R<Rv> {
        self.at = At::Op(op);
        let Operand::Number { num, .. } = op else {
            return Ok(Rv::Invalid);
        };
        let t = &num.text;
        let is_hex_int = t.len() > 2
            && t.starts_with('0')
            && (t.as_bytes()[1] == b'x' || t.as_bytes()[1] == b'X')
            && !t.contains(['p', 'P']);
        let is_rune = t.starts_with('\'');
        if num.is_complex {
            let (re, im) = num.complex;
            return Ok(Rv::V(
                Value::Object(std::sync::Arc::new(Complex128 { re, im })),
                false,
            ));
        }
        if num.is_float && !is_hex_int && !is_rune && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Rv::V(Value::Float(num.float), false));
        }
        if num.is_int {
            return Ok(Rv::V(Value::Int(num.int), false));
        }
        if num.is_uint {
            return self.errorf(format!("{t} overflows int"));
        }
        Ok(Rv::Invalid)
    }

    fn eval_chain(&mut self, dot: &Rv, op: &'t Operand, args: &'t [Operand], final_: Option<Rv>) -> R<Rv> {
        self.at = At::Op(op);
        let Operand::Chain { node, field, .. } = op else {
            return Ok(Rv::Invalid);
        };
        if let Operand::Nil { .. } = **node {
            return self.errorf(format!("indirection through explicit nil in {op}"));
        }
        let pipe = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, pipe, op, field, args, final_)
    }

    fn eval_variable(&mut self, dot: &Rv, op: &'t Operand, args: &'t [Operand], final_: Option<Rv>) -> R<Rv> {
        self.at = At::Op(op);
        let Operand::Variable { ident, .. } = op else {
            return Ok(Rv::Invalid);
        };
        let value = self.var_value(&ident[0])?;
        if ident.len() == 1 {
            self.not_a_function(args, &final_)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, op, &ident[1..], args, final_)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Rv,
        mut receiver: Rv,
        node: &'t Operand,
        ident: &'t [String],
        args: &'t [Operand],
        final_: Option<Rv>,
    ) -> R<Rv> {
        let n = ident.len();
        for name in &ident[..n - 1] {
            receiver = self.eval_field(dot, name, node, &[], None, receiver)?;
        }
        self.eval_field(dot, &ident[n - 1], node, args, final_, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Rv,
        name: &str,
        node: &'t Operand,
        args: &'t [Operand],
        final_: Option<Rv>,
        receiver: Rv,
    ) -> R<Rv> {
        let (v, iface) = match receiver {
            Rv::Invalid => {
                if self.opts.missing_key == MissingKey::Error {
                    return self.errorf(format!(
                        "nil data; no entry for key {}",
                        gofmt::quote(name, false)
                    ));
                }
                return Ok(Rv::Invalid);
            }
            Rv::V(v, iface) => (v, iface),
        };
        let typ = if iface {
            "interface {}".to_string()
        } else {
            v.type_name()
        };
        if let Value::Nil = v {
            return self.errorf(format!("nil pointer evaluating {typ}.{name}"));
        }
        let has_args = args.len() > 1 || final_.is_some();
        if let Value::Object(o) = &v {
            // Go looks for a method first, then an exported field
            if let Some(method) = o.method(name) {
                // Go reports a method's errors at the field, chain or variable naming it
                return self.eval_call(dot, &method, false, At::Op(node), name, args, final_);
            }
            if let Some(field) = o.field(name) {
                if has_args {
                    return self.errorf(format!("{name} has arguments but cannot be invoked as function"));
                }
                return Ok(Rv::V(field, false));
            }
        }
        if let Value::Map(m) = &v {
            if has_args {
                return self.errorf(format!("{name} is not a method but has arguments"));
            }
            return match m.get(name) {
                Some(x) => Ok(Rv::V(x.clone(), true)),
                None => match self.opts.missing_key {
                    MissingKey::Invalid => Ok(Rv::Invalid),
                    MissingKey::Zero => Ok(Rv::V(Value::Nil, true)),
                    MissingKey::Error => {
                        self.errorf(format!("map has no entry for key {}", gofmt::quote(name, false)))
                    }
                },
            };
        }
        let _ = node; // Go reports this at whatever node was evaluated last
        self.errorf(format!("can't evaluate field {name} in type {typ}"))
    }

    fn find_function(&self, name: &str) -> Option<(&'t Function, bool)> {
        if let Some(f) = self.funcs.get(name) {
            return Some((f, false));
        }
        self.builtins.get(name).map(|f| (f, true))
    }

    fn eval_function(
        &mut self,
        dot: &Rv,
        name: &'t str,
        node: At<'t>,
        args: &'t [Operand],
        final_: Option<Rv>,
    ) -> R<Rv> {
        let Some((f, builtin)) = self.find_function(name) else {
            return self.errorf(format!("{} is not a defined function", gofmt::quote(name, false)));
        };
        self.eval_call(dot, f, builtin, node, name, args, final_)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Rv,
        f: &Function,
        builtin: bool,
        node: At<'t>,
        name: &str,
        args: &'t [Operand],
        final_: Option<Rv>,
    ) -> R<Rv> {
        let args = if args.is_empty() { args } else { &args[1..] };
        let nparams = f.params.len();
        let num_in = args.len() + usize::from(final_.is_some());
        let mut num_fixed = args.len();
        if f.variadic {
            num_fixed = nparams - 1;
            if num_in < num_fixed {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    nparams - 1,
                    args.len()
                ));
            }
        } else if num_in != nparams {
            return self.errorf(format!(
                "wrong number of args for {name}: want {nparams} got {num_in}"
            ));
        }
        if builtin && (name == "and" || name == "or") {
            let mut v = Rv::Invalid;
            for a in args {
                v = self.eval_arg(dot, Some(ParamType::Reflect), a)?;
                if truth(&v) == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(fv) = final_ {
                v = self.validate_type(fv, Some(ParamType::Reflect))?;
            }
            return Ok(v);
        }
        let mut argv: Vec<Rv> = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, Some(f.params[i]), &args[i])?);
            i += 1;
        }
        if f.variadic {
            let t = f.params[nparams - 1];
            while i < args.len() {
                argv.push(self.eval_arg(dot, Some(t), &args[i])?);
                i += 1;
            }
        }
        if let Some(fv) = final_ {
            let mut t = f.params[nparams - 1];
            if f.variadic && num_in - 1 < num_fixed {
                t = f.params[num_in - 1];
            }
            argv.push(self.validate_type(fv, Some(t))?);
        }
        let call_args: Vec<Arg> = argv
            .iter()
            .enumerate()
            .map(|(k, a)| {
                let t = if k < nparams {
                    f.params[k]
                } else {
                    f.params[nparams - 1]
                };
                match (t, a) {
                    (ParamType::Reflect, a) => a.to_arg(),
                    (_, Rv::V(v, _)) => Arg::Value(v.clone()),
                    (_, Rv::Invalid) => Arg::Value(Value::Nil),
                }
            })
            .collect();
        let result = match &f.ctx_call {
            Some(c) => {
                let ctx = CallContext {
                    set_name: self.set_name,
                    trees: self.trees,
                    funcs: self.funcs,
                    opts: self.opts,
                };
                c(&ctx, &call_args)
            }
            None => f.call(&call_args),
        };
        match result {
            Ok(a) => Ok(Rv::from_arg(a)),
            Err(e) => {
                self.at = node;
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    fn validate_type(&self, value: Rv, typ: Option<ParamType>) -> R<Rv> {
        let (v, iface) = match value {
            Rv::Invalid => {
                return match typ {
                    None | Some(ParamType::Reflect) => Ok(Rv::Invalid),
                    Some(ParamType::Any) => Ok(Rv::V(Value::Nil, true)),
                    Some(t) if t.can_be_nil() => Ok(Rv::V(Value::Nil, false)),
                    // a map can be nil: the zero value
                    Some(ParamType::Map) => Ok(Rv::V(Value::Nil, false)),
                    Some(t) => self.errorf(format!("invalid value; expected {}", t.go_name())),
                };
            }
            Rv::V(v, iface) => (v, iface),
        };
        let Some(t) = typ else { return Ok(Rv::V(v, iface)) };
        let ok = |v: &Value| match t {
            ParamType::Any | ParamType::Reflect => true,
            ParamType::Int => matches!(v, Value::Int(_)),
            ParamType::Int64 => matches!(v, Value::Int64(_)),
            ParamType::Float => matches!(v, Value::Float(_)),
            ParamType::String => matches!(v, Value::String(_)),
            ParamType::Bool => matches!(v, Value::Bool(_)),
            ParamType::Uint32 => false,
            ParamType::Named(n) => v.type_name() == n || (matches!(v, Value::Nil) && t.can_be_nil()),
            ParamType::Map => matches!(v, Value::Map(_)),
        };
        if matches!(t, ParamType::Any | ParamType::Reflect) {
            return Ok(Rv::V(v, iface));
        }
        if iface {
            if !matches!(v, Value::Nil) && ok(&v) {
                return Ok(Rv::V(v, false));
            }
            if matches!(v, Value::Nil) {
                return self.errorf(format!(
                    "wrong type for value; expected {}; got interface {{}}",
                    t.go_name()
                ));
            }
        } else if ok(&v) {
            return Ok(Rv::V(v, false));
        }
        self.errorf(format!(
            "wrong type for value; expected {}; got {}",
            t.go_name(),
            v.type_name()
        ))
    }

    fn eval_arg(&mut self, dot: &Rv, typ: Option<ParamType>, n: &'t Operand) -> R<Rv> {
        self.at = At::Op(n);
        match n {
            Operand::Dot { .. } => return self.validate_type(dot.clone(), typ),
            Operand::Nil { .. } => {
                return match typ {
                    Some(ParamType::Any) => Ok(Rv::V(Value::Nil, true)),
                    Some(ParamType::Reflect) => Ok(Rv::Invalid),
                    Some(t) if t.can_be_nil() => Ok(Rv::V(Value::Nil, false)),
                    Some(ParamType::Map) => Ok(Rv::V(Value::Nil, false)),
                    Some(t) => self.errorf(format!("cannot assign nil to {}", t.go_name())),
                    None => self.errorf("cannot assign nil to <nil>"),
                };
            }
            Operand::Field { ident, .. } => {
                let v = self.eval_field_chain(dot, dot.clone(), n, ident, std::slice::from_ref(n), None)?;
                return self.validate_type(v, typ);
            }
            Operand::Variable { .. } => {
                let v = self.eval_variable(dot, n, &[], None)?;
                return self.validate_type(v, typ);
            }
            Operand::Pipe(p) => {
                let v = self.eval_pipeline(dot, p)?;
                return self.validate_type(v, typ);
            }
            Operand::Identifier { name, .. } => {
                let v = self.eval_function(dot, name, At::Op(n), &[], None)?;
                return self.validate_type(v, typ);
            }
            Operand::Chain { .. } => {
                let v = self.eval_chain(dot, n, &[], None)?;
                return self.validate_type(v, typ);
            }
            _ => {}
        }
        let Some(typ) = typ else {
            return self.errorf(format!("can't handle {n} for arg of type <nil>"));
        };
        match typ {
            ParamType::Bool => match n {
                Operand::Bool { val, .. } => Ok(Rv::V(Value::Bool(*val), false)),
                _ => self.errorf(format!("expected bool; found {n}")),
            },
            ParamType::String => match n {
                Operand::Str { text, .. } => Ok(Rv::V(Value::String(text.clone()), false)),
                _ => self.errorf(format!("expected string; found {n}")),
            },
            ParamType::Int | ParamType::Int64 => match n {
                Operand::Number { num, .. } if num.is_int => Ok(Rv::V(
                    if typ == ParamType::Int {
                        Value::Int(num.int)
                    } else {
                        Value::Int64(num.int)
                    },
                    false,
                )),
                _ => self.errorf(format!("expected integer; found {n}")),
            },
            ParamType::Float => match n {
                Operand::Number { num, .. } if num.is_float => Ok(Rv::V(Value::Float(num.float), false)),
                _ => self.errorf(format!("expected float; found {n}")),
            },
            ParamType::Uint32 => match n {
                Operand::Number { num, .. } if num.is_uint && !num.is_complex => {
                    let u = if num.is_int {
                        num.int as u64
                    } else {
                        num.float as u64
                    };
                    Ok(Rv::V(Value::Int(i64::from(u as u32)), false))
                }
                _ => self.errorf(format!("expected unsigned integer; found {n}")),
            },
            ParamType::Named(t) => self.errorf(format!("can't handle {n} for arg of type {t}")),
            ParamType::Any | ParamType::Reflect => self.eval_empty_interface(dot, n),
            ParamType::Map => self.errorf(format!("can't handle {n} for arg of type {}", typ.go_name())),
        }
    }

    fn eval_empty_interface(&mut self, dot: &Rv, n: &'t Operand) -> R<Rv> {
        self.at = At::Op(n);
        match n {
            Operand::Bool { val, .. } => Ok(Rv::V(Value::Bool(*val), false)),
            Operand::Dot { .. } => Ok(dot.clone()),
            Operand::Number { .. } => self.ideal_constant(n),
            Operand::Str { text, .. } => Ok(Rv::V(Value::String(text.clone()), false)),
            _ => self.errorf(format!(
                "can't handle assignment of {n} to empty interface argument"
            )),
        }
    }

    fn print_value(&mut self, node: &'t Node, v: &Rv) -> R<()> {
        self.at = At::Node(node);
        match v {
            Rv::Invalid => self.out.push_str("<no value>"),
            Rv::V(Value::Func(f), _) => {
                return self.errorf(format!("can't print {node} of type {}", f.type_name()));
            }
            Rv::V(v, _) => self.out.push_str(&gofmt::format_v(v)),
        }
        Ok(())
    }
}

/// A complex constant's value (Go's `complex128`): printed as fmt prints it; no arithmetic
/// or comparison.
struct Complex128 {
    re: f64,
    im: f64,
}

impl crate::GoObject for Complex128 {
    fn type_name(&self) -> String {
        "complex128".into()
    }
    fn format_v(&self) -> String {
        let im = gofmt::format_v(&Value::Float(self.im));
        let sign = if im.starts_with(['-', '+']) { "" } else { "+" };
        format!("({}{sign}{im}i)", gofmt::format_v(&Value::Float(self.re)))
    }
    fn to_json(&self) -> Result<serde_json::Value, String> {
        Err("json: unsupported type: complex128".into())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

//! `validate.cel` rules, as Kyverno v1.15.2 evaluates them
//! (`pkg/engine/handlers/validation/validate_cel.go`) with the Kubernetes apiserver v0.33
//! ValidatingAdmissionPolicy machinery (`pkg/admission/plugin/policy/validating/validator.go`,
//! `pkg/admission/plugin/cel/`), on the `cel` crate (cel-rust).
//!
//! What is evaluated: `celPreconditions` (match conditions: any `false` skips the rule, errors
//! fail it), `variables` (lazily, each seeing those declared before it), every `expressions[]`
//! entry, their `messageExpression`s, and `auditAnnotations` (evaluated, results unused, as in
//! Kyverno). The first expression (in order) that is not `true` or that errors decides the
//! rule's failure, as Kyverno returns on the first `Deny` decision.
//!
//! Activation: `object` (null on DELETE), `oldObject` (null on CREATE), `request`,
//! `namespaceObject` (the fields `CreateNamespaceObject` keeps; null in preconditions, as the
//! apiserver matcher passes no namespace), `params` (null, declared only with
//! `paramKind`+`paramRef`), `variables`. `authorizer` is declared but not supported: an
//! expression using it fails with an evaluation error.
//!
//! Libraries: cel-rust's standard library and macros, optional types, the strings extension
//! (charAt, indexOf, lastIndexOf, join, lowerAscii, upperAscii, replace, split, substring, trim,
//! strings.quote, format, reverse), and here Kubernetes' regex (find, findAll), lists (isSorted,
//! sum, min, max, indexOf, lastIndexOf) and quantity libraries. Not covered (evaluation error
//! "... is not supported"): url, ip, cidr, sets, semver, format, authz, two-variable
//! comprehensions, `duration`/`timestamp` (cel-rust's `chrono` feature is left out for its
//! build cost), cost budgets.
//!
//! Compile errors: cel-rust only parses, so the cel-go checker's work is approximated by a
//! walk of the tree: undeclared identifiers and functions (`undeclared reference to 'x' (in
//! container '')`), unknown fields of `variables`, `request` and `namespaceObject`
//! (`undefined field 'x'`), and a result type that is statically not the one wanted (`must
//! evaluate to bool but got string`) for literals, operators and functions of known result
//! type. Overload mismatches between known types are only found at evaluation. Errors are
//! printed as cel-go's `Errors.ToDisplayString` (`ERROR: <input>:L:C: msg`, the source line
//! and a caret line); syntax error texts are cel-rust's ANTLR messages, which follow cel-go's
//! grammar and mostly match. Runtime error texts of the common cases are mapped to cel-go's
//! (`no such key: x`, `index out of bounds: 3`, `no such overload`, `division by zero`).

use std::sync::{Arc, LazyLock, OnceLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, SourceInfo};
use cel::common::traits::Indexer;
use cel::common::types::{self as ct, CelString, Type};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::objects::{Key, Map as CelMap, Opaque, Value as CV};
use cel::{Context, Env, ExecutionError, Program};
use serde_json::Value;

use crate::pattern::{Quantity, parse_quantity};

/// The admission data a CEL rule sees. Use `Value::Null` for what is absent: `object` on
/// DELETE, `old_object` on CREATE, `namespace_object` for cluster-scoped resources and
/// Namespaces. `request` is the admission request as `CreateAdmissionRequest` builds it
/// (kind, resource, requestKind, requestResource, name, namespace, operation, userInfo,
/// dryRun, options, ...).
pub struct CelInput<'a> {
    pub object: &'a Value,
    pub old_object: &'a Value,
    pub request: &'a Value,
    pub namespace_object: &'a Value,
}

/// The rule's result and its message, as Kyverno writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CelOutcome {
    Pass(String),
    Fail(String),
    Skip(String),
}

/// Evaluates a rule's `validate.cel` block (`cel`) and its rule-level `celPreconditions`.
/// `rule_message` is the rule's `validate.message`, copied into expressions without one.
pub fn evaluate(
    rule_name: &str,
    rule_message: &str,
    cel: &Value,
    preconditions: Option<&Value>,
    input: &CelInput,
) -> CelOutcome {
    let has_params = cel.get("paramKind").is_some_and(|v| !v.is_null())
        && cel.get("paramRef").is_some_and(|v| !v.is_null());
    let decls = |authorizer: bool, want: Want, vars: &[String]| Decls {
        authorizer,
        params: has_params,
        variables: vars.to_vec(),
        want,
    };

    // variables, each compiled with the ones before it (`CompileAndStoreVariable`)
    let mut names: Vec<String> = Vec::new();
    let mut vars: Vec<VarSlot> = Vec::new();
    for v in list(cel, "variables") {
        let name = str_of(v, "name").to_string();
        let compiled = compile(str_of(v, "expression"), &decls(true, Want::Any, &names));
        names.push(name.clone());
        vars.push(VarSlot { name, compiled });
    }
    let vars = Arc::new(vars);

    // celPreconditions: the matcher evaluates them with no namespace object
    let conditions: Vec<&Value> = preconditions
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if !conditions.is_empty() {
        let act = Activation::new(input, false, &vars);
        let mut errors: Vec<String> = Vec::new();
        for c in conditions {
            let compiled = compile(str_of(c, "expression"), &decls(true, Want::Bool, &names));
            match eval(&act, str_of(c, "expression"), &compiled) {
                Ok(CV::Bool(false)) => return CelOutcome::Skip("cel preconditions not met".into()),
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return CelOutcome::Fail(aggregate(&errors));
        }
    }

    let act = Activation::new(input, true, &vars);
    let expressions = list(cel, "expressions");
    let results: Vec<Result<CV, String>> = expressions
        .iter()
        .map(|e| {
            let src = str_of(e, "expression");
            eval(&act, src, &compile(src, &decls(true, Want::Bool, &names)))
        })
        .collect();
    // messageExpressions are compiled without `authorizer` and evaluated for every expression
    let messages: Vec<Option<Result<CV, String>>> = expressions
        .iter()
        .map(|e| {
            let src = str_of(e, "messageExpression");
            (!src.is_empty()).then(|| eval(&act, src, &compile(src, &decls(false, Want::String, &names))))
        })
        .collect();
    // auditAnnotations: compiled and evaluated, their values unused (validate_cel.go:197-219)
    for a in list(cel, "auditAnnotations") {
        let src = str_of(a, "valueExpression");
        let _ = eval(&act, src, &compile(src, &decls(true, Want::StringOrNull, &names)));
    }

    for (i, result) in results.into_iter().enumerate() {
        let expr = &expressions[i];
        match result {
            Ok(CV::Bool(true)) => {}
            Err(e) => return CelOutcome::Fail(e),
            Ok(_) => {
                let mut message = String::new();
                if let Some(Ok(CV::String(s))) = &messages[i] {
                    message = s.trim().to_string();
                    if message.len() > MAX_MESSAGE_BYTES || message.contains('\n') {
                        message.clear();
                    }
                }
                if message.is_empty() {
                    let own = str_of(expr, "message");
                    message = if own.is_empty() { rule_message } else { own }.trim().to_string();
                }
                if message.is_empty() {
                    message = format!("failed expression: {}", str_of(expr, "expression").trim());
                }
                return CelOutcome::Fail(message);
            }
        }
    }
    CelOutcome::Pass(format!("Validation rule '{rule_name}' passed."))
}

/// The policy webhook's checks of a rule's CEL block (`pkg/policy/validate/validate.go:91-145`),
/// with the `path: spec.rules[i].validate..: ` prefix `pkg/validation/policy/actions.go:51`
/// gives them. `rule` is the whole rule (for `celPreconditions`). Invalid expressions are not
/// rejected here: Kyverno only warns, and the rule fails at admission.
pub fn check_policy(rule: &Value, rule_index: usize) -> Result<(), String> {
    let wrap = |m: &str| Err(format!("path: spec.rules[{rule_index}].validate..: {m}"));
    let cel = rule.pointer("/validate/cel").filter(|v| !v.is_null());
    let Some(cel) = cel else {
        if rule.get("celPreconditions").is_some_and(|v| !v.is_null()) {
            return wrap("celPrecondition can only be used with validate.cel");
        }
        return Ok(());
    };
    for e in list(cel, "expressions") {
        if str_of(e, "expression").is_empty() {
            return wrap("cel.expressions.expression is required");
        }
    }
    let kind = cel.get("paramKind").filter(|v| !v.is_null());
    let pref = cel.get("paramRef").filter(|v| !v.is_null());
    if let Some(k) = kind {
        if str_of(k, "apiVersion").is_empty() {
            return wrap("cel.paramKind.apiVersion is required");
        }
        if str_of(k, "kind").is_empty() {
            return wrap("cel.paramKind.kind is required");
        }
        if pref.is_none() {
            return wrap("cel.paramRef is required");
        }
    }
    if let Some(r) = pref {
        let named = !str_of(r, "name").is_empty();
        let selector = r.get("selector").is_some_and(|v| !v.is_null());
        if named == selector {
            return wrap("one of cel.paramRef.name or cel.paramRef.selector must be set");
        }
        if r.get("parameterNotFoundAction").is_none_or(Value::is_null) {
            return wrap("cel.paramRef.parameterNotFoundAction is required");
        }
        if kind.is_none() {
            return wrap("cel.paramKind is required");
        }
    }
    for a in list(cel, "auditAnnotations") {
        if str_of(a, "key").is_empty() {
            return wrap("cel.auditAnnotation.key is required");
        }
        if str_of(a, "valueExpression").is_empty() {
            return wrap("cel.auditAnnotation.valueExpression is required");
        }
    }
    Ok(())
}

/// `celconfig.MaxEvaluatedMessageExpressionSizeBytes`.
const MAX_MESSAGE_BYTES: usize = 5 * 1024;

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `utilerrors.NewAggregate(errs).Error()`: one error as is, several deduplicated in brackets.
fn aggregate(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    if errors.len() == 1 || seen.len() == 1 {
        seen[0].to_string()
    } else {
        format!("[{}]", seen.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// Compilation

/// The result type an expression must have (`ExpressionAccessor.ReturnTypes`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Bool,
    String,
    StringOrNull,
    Any,
}

/// The declarations of the environment an expression is compiled in.
struct Decls {
    authorizer: bool,
    params: bool,
    variables: Vec<String>,
    want: Want,
}

struct Compiled {
    program: Program,
    uses_authorizer: bool,
}

/// Compiles `src`; the error is the apiserver `CompilationResult.Error` text.
fn compile(src: &str, decls: &Decls) -> Result<Compiled, String> {
    let program = match std::panic::catch_unwind(|| ENV.compile(src)) {
        Ok(Ok(p)) => p,
        Ok(Err(errs)) => {
            let errors: Vec<(isize, isize, String)> = errs
                .errors
                .iter()
                .map(|e| (e.pos.0, e.pos.1 - 1, e.msg.clone()))
                .collect();
            return Err(format!("compilation failed: {}", display_errors(src, errors)));
        }
        Err(_) => {
            return Err(format!(
                "compilation failed: ERROR: <input>:1:1: the expression could not be parsed{}",
                snippet(src, 1, 0)
            ));
        }
    };
    let mut checker = Checker {
        decls,
        info: program.source_info(),
        errors: Vec::new(),
        uses_authorizer: false,
    };
    let ty = checker.check(program.expression(), &mut Vec::new());
    if !checker.errors.is_empty() {
        let errors = std::mem::take(&mut checker.errors);
        return Err(format!("compilation failed: {}", display_errors(src, errors)));
    }
    if let Some(ty) = ty {
        let wanted = match decls.want {
            Want::Bool => Some((ty == "bool", "bool".to_string())),
            Want::String => Some((ty == "string", "string".to_string())),
            Want::StringOrNull => Some((
                ty == "string" || ty == "null_type",
                "one of [string null_type]".to_string(),
            )),
            Want::Any => None,
        };
        if let Some((false, w)) = wanted {
            return Err(format!("must evaluate to {w} but got {ty}"));
        }
    }
    let uses_authorizer = checker.uses_authorizer;
    Ok(Compiled {
        program,
        uses_authorizer,
    })
}

/// cel-go's `Errors.ToDisplayString`: errors sorted by position, each with its source line
/// and a caret under the (0-based) column.
fn display_errors(src: &str, mut errors: Vec<(isize, isize, String)>) -> String {
    errors.sort_by_key(|(l, c, _)| (*l, *c));
    errors
        .iter()
        .map(|(line, col, msg)| {
            format!(
                "ERROR: <input>:{line}:{}: {msg}{}",
                col + 1,
                snippet(src, *line, *col)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn snippet(src: &str, line: isize, col: isize) -> String {
    let Some(text) = usize::try_from(line - 1)
        .ok()
        .and_then(|l| src.split('\n').nth(l))
    else {
        return String::new();
    };
    let text = text.replace('\t', " ");
    let mut ind = String::new();
    let mut chars = text.chars();
    for _ in 0..col.max(0) {
        match chars.next() {
            Some(c) if c.len_utf8() > 1 => ind.push('\u{ff0e}'),
            Some(_) => ind.push('.'),
            None => break,
        }
    }
    match chars.next() {
        Some(c) if c.len_utf8() > 1 => ind.push('\u{ff3e}'),
        _ => ind.push('^'),
    }
    format!("\n | {text}\n | {ind}")
}

/// Functions (global and member) the environment declares, and those Kubernetes declares
/// that are not implemented here: the latter compile and fail at evaluation.
const FUNCTIONS: &[&str] = &[
    // standard
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "type",
    "dyn",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "duration",
    "timestamp",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getFullYear",
    "getHours",
    "getMilliseconds",
    "getMinutes",
    "getMonth",
    "getSeconds", // optional types
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "hasValue",
    "value",
    "or",
    "orValue",
    "optMap",
    "optFlatMap", // strings extension
    "charAt",
    "indexOf",
    "lastIndexOf",
    "join",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "substring",
    "format",
    "strings.quote",
    "reverse", // Kubernetes
    "find",
    "findAll",
    "isSorted",
    "sum",
    "min",
    "max",
    "quantity",
    "isQuantity",
    "sign",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "add",
    "sub",
    "compareTo",
    "isGreaterThan",
    "isLessThan", // Kubernetes, not implemented
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "ip",
    "isIP",
    "cidr",
    "isCIDR",
    "ip.isCanonical",
    "family",
    "isUnspecified",
    "isLoopback",
    "isLinkLocalMulticast",
    "isLinkLocalUnicast",
    "isGlobalUnicast",
    "prefixLength",
    "masked",
    "containsIP",
    "containsCIDR",
    "sets.contains",
    "sets.equivalent",
    "sets.intersects",
    "semver",
    "isSemver",
    "major",
    "minor",
    "patch",
    "isGreaterThan",
    "check",
    "allowed",
    "reason",
    "errored",
    "error",
    "path",
    "group",
    "resource",
    "subresource",
    "namespace",
    "name",
    "serviceAccount",
    "validate",
    "transformList",
    "transformMap",
    "transformMapEntry",
];

/// Identifiers that name types.
const TYPE_NAMES: &[&str] = &[
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
];

/// The fields of `request` (`BuildRequestType`) and `namespaceObject` (`BuildNamespaceType`).
const REQUEST_FIELDS: &[&str] = &[
    "kind",
    "resource",
    "subResource",
    "requestKind",
    "requestResource",
    "requestSubResource",
    "name",
    "namespace",
    "operation",
    "userInfo",
    "dryRun",
    "options",
];
const NAMESPACE_FIELDS: &[&str] = &["metadata", "spec", "status"];

struct Checker<'a> {
    decls: &'a Decls,
    info: &'a SourceInfo,
    errors: Vec<(isize, isize, String)>,
    uses_authorizer: bool,
}

impl Checker<'_> {
    fn report(&mut self, id: u64, msg: String) {
        let (line, col) = self.position(id);
        self.errors.push((line, col, msg));
    }

    /// 1-based line and 0-based column of a node.
    fn position(&self, id: u64) -> (isize, isize) {
        let Some((start, _)) = self.info.offset_for(id) else {
            return (1, 0);
        };
        let mut line = 1;
        let mut col = 0;
        for (i, c) in self.info.source.chars().enumerate() {
            if i == start as usize {
                break;
            }
            if c == '\n' {
                line += 1;
                col = 0;
            } else {
                col += 1;
            }
        }
        (line, col)
    }

    fn declared(&self, name: &str) -> bool {
        matches!(
            name,
            "object" | "oldObject" | "request" | "namespaceObject" | "variables"
        ) || (name == "params" && self.decls.params)
            || (name == "authorizer" && self.decls.authorizer)
    }

    /// Checks `e` and returns its static type when it is known.
    fn check(&mut self, e: &IdedExpr, scope: &mut Vec<String>) -> Option<String> {
        match &e.expr {
            Expr::Literal(l) => Some(
                match l {
                    LiteralValue::Boolean(_) => "bool",
                    LiteralValue::Int(_) => "int",
                    LiteralValue::UInt(_) => "uint",
                    LiteralValue::Double(_) => "double",
                    LiteralValue::String(_) => "string",
                    LiteralValue::Bytes(_) => "bytes",
                    LiteralValue::Null => "null_type",
                }
                .to_string(),
            ),
            Expr::Ident(name) => {
                if scope.iter().any(|s| s == name) {
                    return None;
                }
                if self.declared(name) {
                    if name == "authorizer" {
                        self.uses_authorizer = true;
                    }
                    return None;
                }
                if TYPE_NAMES.contains(&name.as_str()) {
                    return Some("type".into());
                }
                self.report(
                    e.id,
                    format!("undeclared reference to '{name}' (in container '')"),
                );
                None
            }
            Expr::Select(s) => {
                if let Expr::Ident(root) = &s.operand.expr
                    && !scope.iter().any(|v| v == root)
                {
                    let fields: Option<Vec<&str>> = match root.as_str() {
                        "variables" => Some(self.decls.variables.iter().map(String::as_str).collect()),
                        "request" => Some(REQUEST_FIELDS.to_vec()),
                        "namespaceObject" => Some(NAMESPACE_FIELDS.to_vec()),
                        _ => None,
                    };
                    if let Some(fields) = fields
                        && !fields.contains(&s.field.as_str())
                    {
                        self.report(e.id, format!("undefined field '{}'", s.field));
                    }
                }
                self.check(&s.operand, scope);
                if s.test { Some("bool".into()) } else { None }
            }
            Expr::Call(c) => self.check_call(e.id, c, scope),
            Expr::Comprehension(c) => {
                self.check(&c.iter_range, scope);
                self.check(&c.accu_init, scope);
                let n = scope.len();
                scope.push(c.iter_var.clone());
                if let Some(v) = &c.iter_var2 {
                    scope.push(v.clone());
                }
                scope.push(c.accu_var.clone());
                self.check(&c.loop_cond, scope);
                self.check(&c.loop_step, scope);
                let result = self.check(&c.result, scope);
                scope.truncate(n);
                match &c.result.expr {
                    Expr::Ident(v) if *v == c.accu_var => match &c.accu_init.expr {
                        Expr::Literal(LiteralValue::Boolean(_)) => Some("bool".into()),
                        _ => None,
                    },
                    _ => result,
                }
            }
            Expr::List(l) => {
                for x in &l.elements {
                    self.check(x, scope);
                }
                None
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(me) => {
                            self.check(&me.key, scope);
                            self.check(&me.value, scope);
                        }
                        EntryExpr::StructField(f) => {
                            self.check(&f.value, scope);
                        }
                    }
                }
                None
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        self.check(&f.value, scope);
                    }
                }
                None
            }
            Expr::Unspecified => None,
        }
    }

    fn check_call(
        &mut self,
        id: u64,
        c: &cel::common::ast::CallExpr,
        scope: &mut Vec<String>,
    ) -> Option<String> {
        let name = c.func_name.as_str();
        // a namespaced global function, `strings.quote(x)`, may come as a member call
        let qualified = c.target.as_ref().and_then(|t| match &t.expr {
            Expr::Ident(ns) if !scope.iter().any(|s| s == ns) && !self.declared(ns) => {
                Some(format!("{ns}.{name}"))
            }
            _ => None,
        });
        let target_ty = match (&qualified, &c.target) {
            (Some(q), _) if FUNCTIONS.contains(&q.as_str()) => None,
            (_, Some(t)) => self.check(t, scope),
            _ => None,
        };
        let args: Vec<Option<String>> = c.args.iter().map(|a| self.check(a, scope)).collect();
        let operator = name.starts_with('_') || name.starts_with('@') || name == "!_";
        if !operator
            && !FUNCTIONS.contains(&name)
            && !qualified.as_deref().is_some_and(|q| FUNCTIONS.contains(&q))
        {
            self.report(id, format!("undeclared reference to '{name}' (in container '')"));
            return None;
        }
        let a = |i: usize| args.get(i).cloned().flatten();
        let same = |x: Option<String>, y: Option<String>| match (x, y) {
            (Some(x), Some(y)) if x == y => Some(x),
            _ => None,
        };
        let t = |s: &str| Some(s.to_string());
        match name {
            "_==_"
            | "_!=_"
            | "_<_"
            | "_<=_"
            | "_>_"
            | "_>=_"
            | "_&&_"
            | "_||_"
            | "!_"
            | "@in"
            | "@not_strictly_false"
            | "matches"
            | "startsWith"
            | "endsWith"
            | "contains"
            | "isSorted"
            | "isQuantity"
            | "isInteger"
            | "isGreaterThan"
            | "isLessThan"
            | "hasValue" => t("bool"),
            "_+_" => match (a(0), a(1)) {
                (Some(x), Some(y)) if x == y && x != "list" && x != "map" => Some(x),
                _ => None,
            },
            "_-_" | "_*_" | "_/_" | "_%_" => {
                same(a(0), a(1)).filter(|x| matches!(x.as_str(), "int" | "uint" | "double"))
            }
            "-_" => a(0).filter(|x| matches!(x.as_str(), "int" | "double")),
            "_?_:_" => same(a(1), a(2)),
            "size" | "indexOf" | "lastIndexOf" | "sign" | "asInteger" | "compareTo" | "int" => t("int"),
            "uint" => t("uint"),
            "double" | "asApproximateFloat" => t("double"),
            "string" | "lowerAscii" | "upperAscii" | "trim" | "replace" | "substring" | "charAt" | "join"
            | "find" | "format" | "quote" | "reverse" => {
                if name == "reverse" && target_ty.as_deref() != Some("string") {
                    None
                } else {
                    t("string")
                }
            }
            "bytes" => t("bytes"),
            "bool" => t("bool"),
            "quantity" | "add" | "sub" => t("kubernetes.Quantity"),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// A variable and its compiled expression.
struct VarSlot {
    name: String,
    compiled: Result<Compiled, String>,
}

/// One activation (`newActivation`): the bound values, and the variables evaluated at most
/// once each, on first use (the apiserver's lazy map).
struct Activation {
    object: Box<dyn Val>,
    old_object: Box<dyn Val>,
    request: Box<dyn Val>,
    namespace: Box<dyn Val>,
    vars: Arc<Vec<VarSlot>>,
    cache: Vec<OnceLock<Result<CV, String>>>,
}

impl Activation {
    fn new(input: &CelInput, with_namespace: bool, vars: &Arc<Vec<VarSlot>>) -> Arc<Activation> {
        let namespace = if with_namespace {
            namespace_object(input.namespace_object)
        } else {
            Value::Null
        };
        Arc::new(Activation {
            object: boxed(input.object),
            old_object: boxed(input.old_object),
            request: boxed(input.request),
            namespace: boxed(&namespace),
            vars: vars.clone(),
            cache: vars.iter().map(|_| OnceLock::new()).collect(),
        })
    }
}

/// Evaluates an expression, with `evaluationActivation.Evaluate`'s error texts.
fn eval(act: &Arc<Activation>, src: &str, compiled: &Result<Compiled, String>) -> Result<CV, String> {
    let compiled = compiled.as_ref().map_err(|e| format!("compilation error: {e}"))?;
    run(act, act.vars.len(), compiled).map_err(|e| format!("expression '{src}' resulted in error: {e}"))
}

/// Runs `program` with the variables before `visible`; the error is cel-go's runtime text.
fn run(act: &Arc<Activation>, visible: usize, compiled: &Compiled) -> Result<CV, String> {
    if compiled.uses_authorizer {
        return Err(
            "authorizer is not supported by the hubspoke Kyverno engine (no authorization checks)".into(),
        );
    }
    let resolver = Resolver {
        act: act.clone(),
        visible,
    };
    let mut ctx = Context::with_env(ENV.clone());
    ctx.set_variable_resolver(&resolver);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compiled.program.execute(&ctx))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(missing_key(&compiled.program, &ctx, &e).unwrap_or_else(|| runtime_error(&e))),
        Err(_) => Err("internal error evaluating the expression".into()),
    }
}

struct Resolver {
    act: Arc<Activation>,
    visible: usize,
}

impl VariableResolver for Resolver {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let a = &self.act;
        Some(match variable {
            "object" => CowVal::Borrowed(a.object.as_ref()),
            "oldObject" => CowVal::Borrowed(a.old_object.as_ref()),
            "request" => CowVal::Borrowed(a.request.as_ref()),
            "namespaceObject" => CowVal::Borrowed(a.namespace.as_ref()),
            "params" => CowVal::owned(ct::CelNull),
            "variables" => CowVal::owned(Variables {
                act: a.clone(),
                visible: self.visible,
            }),
            _ => return None,
        })
    }
}

static VARIABLES_TYPE: LazyLock<Type> = LazyLock::new(|| Type::new_opaque_type("kubernetes.variables"));

/// `variables`: each field evaluated on first access.
struct Variables {
    act: Arc<Activation>,
    visible: usize,
}

impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "variables")
    }
}

impl Variables {
    fn lookup(&self, idx: &dyn Val) -> Result<CV, ExecutionError> {
        let key = idx
            .downcast_ref::<CelString>()
            .map(|s| s.inner().to_string())
            .unwrap_or_default();
        let Some(i) = self.act.vars[..self.visible].iter().rposition(|v| v.name == key) else {
            return Err(ExecutionError::no_such_key(&key));
        };
        let slot = &self.act.vars[i];
        let name = &slot.name;
        let value = self.act.cache[i].get_or_init(|| match &slot.compiled {
            Ok(c) => run(&self.act, i, c)
                .map_err(|e| format!("composited variable \"{name}\" fails to evaluate: {e}")),
            Err(e) => Err(format!("composited variable \"{name}\" fails to compile: {e}")),
        });
        value.clone().map_err(fail)
    }
}

impl Val for Variables {
    fn get_type(&self) -> &Type {
        &VARIABLES_TYPE
    }
    fn cel_type() -> &'static Type {
        panic!("`variables` has no static type")
    }
    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(Variables {
            act: self.act.clone(),
            visible: self.visible,
        })
    }
    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }
}

impl Indexer for Variables {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let v: Box<dyn Val> = self.lookup(idx)?.try_into()?;
        Ok(CowVal::Owned(v))
    }
    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let v: Box<dyn Val> = self.lookup(idx)?.try_into()?;
        Ok(v)
    }
}

/// The namespace as `CreateNamespaceObject` exposes it: status, spec and some metadata.
fn namespace_object(ns: &Value) -> Value {
    let Some(obj) = ns.as_object() else {
        return Value::Null;
    };
    let mut out = serde_json::Map::new();
    let mut meta = serde_json::Map::new();
    if let Some(m) = obj.get("metadata").and_then(Value::as_object) {
        for k in [
            "name",
            "generateName",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "labels",
            "annotations",
            "finalizers",
        ] {
            if let Some(v) = m.get(k) {
                meta.insert(k.to_string(), v.clone());
            }
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    for k in ["spec", "status"] {
        out.insert(
            k.into(),
            obj.get(k)
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
        );
    }
    Value::Object(out)
}

/// JSON as the unstructured object CEL sees: integers as int, other numbers as double.
fn to_cel(v: &Value) -> CV {
    match v {
        Value::Null => CV::Null,
        Value::Bool(b) => CV::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => CV::Int(i),
            None => CV::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => CV::String(Arc::new(s.clone())),
        Value::Array(a) => CV::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => CV::Map(CelMap {
            map: Arc::new(
                o.iter()
                    .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                    .collect(),
            ),
        }),
    }
}

fn boxed(v: &Value) -> Box<dyn Val> {
    Box::<dyn Val>::try_from(to_cel(v)).unwrap_or_else(|_| Box::new(ct::CelNull))
}

/// cel-rust's runtime errors in cel-go's words where they differ.
fn runtime_error(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => format!("no such key: {k}"),
        ExecutionError::IndexOutOfBounds(i) => format!("index out of bounds: {}", show(i)),
        ExecutionError::NoSuchOverload(_)
        | ExecutionError::ValuesNotComparable(..)
        | ExecutionError::UnsupportedBinaryOperator(..)
        | ExecutionError::UnsupportedIndex(..)
        | ExecutionError::UnexpectedType { .. }
        | ExecutionError::UnsupportedTargetType { .. }
        | ExecutionError::NotSupportedAsMethod { .. } => "no such overload".into(),
        ExecutionError::DivisionByZero(_) => "division by zero".into(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".into(),
        ExecutionError::Overflow(..) => "integer overflow".into(),
        ExecutionError::UndeclaredReference(n) => {
            format!("function '{n}' is not supported by the hubspoke Kyverno CEL engine")
        }
        ExecutionError::FunctionError { function, message } if function.is_empty() => message.clone(),
        ExecutionError::FunctionError { function, message } if function == "matches" => regex_error(message),
        other => other.to_string(),
    }
}

/// cel-go reports a field selected (or a key indexed) on a value that is not a map, `null`
/// included, as `no such key: <field>`; cel-rust reports a missing overload of `_._` or `_[_]`
/// without the field. Finds it: the first selection, in evaluation order, whose operand
/// evaluates to a value of the type the error names.
fn missing_key(program: &Program, ctx: &Context, e: &ExecutionError) -> Option<String> {
    let ExecutionError::NoSuchOverload(o) = e else {
        return None;
    };
    if !matches!(o.function(), "_._" | "_[_]") || o.argument_types().len() != 2 {
        return None;
    }
    let ty = o.argument_types()[0].as_str();
    walk_select(program.expression(), ctx, ty, 0).map(|k| format!("no such key: {k}"))
}

fn type_name(v: &CV) -> &'static str {
    match v {
        CV::Null => "null_type",
        CV::Int(_) => "int",
        CV::UInt(_) => "uint",
        CV::Float(_) => "double",
        CV::String(_) => "string",
        CV::Bool(_) => "bool",
        CV::Bytes(_) => "bytes",
        CV::List(_) => "list",
        _ => "",
    }
}

fn walk_select(e: &IdedExpr, ctx: &Context, ty: &str, depth: usize) -> Option<String> {
    if depth > 200 {
        return None;
    }
    let found = |operand: &IdedExpr| {
        CV::resolve(operand, ctx)
            .ok()
            .is_some_and(|v| type_name(&v) == ty)
    };
    match &e.expr {
        Expr::Select(s) => walk_select(&s.operand, ctx, ty, depth + 1)
            .or_else(|| (!s.test && found(&s.operand)).then(|| s.field.clone())),
        Expr::Call(c) => {
            let inner = c
                .target
                .iter()
                .map(|t| t.as_ref())
                .chain(c.args.iter())
                .find_map(|a| walk_select(a, ctx, ty, depth + 1));
            inner.or_else(|| {
                if c.func_name != "_[_]" || c.args.len() != 2 || !found(&c.args[0]) {
                    return None;
                }
                CV::resolve(&c.args[1], ctx).ok().map(|k| show(&k))
            })
        }
        Expr::List(l) => l.elements.iter().find_map(|x| walk_select(x, ctx, ty, depth + 1)),
        _ => None,
    }
}

fn show(v: &CV) -> String {
    match v {
        CV::Int(i) => i.to_string(),
        CV::UInt(u) => u.to_string(),
        CV::Float(f) => f.to_string(),
        CV::String(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

/// An error whose text is shown as is.
fn fail(message: String) -> ExecutionError {
    ExecutionError::FunctionError {
        function: String::new(),
        message,
    }
}

// ---------------------------------------------------------------------------------------------
// The environment and the Kubernetes libraries

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    let _ = env.add_extension(cel::extensions::strings);
    let _ = add_kubernetes(&mut env);
    Arc::new(env)
});

const QUANTITY: &str = "kubernetes.Quantity";

/// `apiservercel.Quantity`, exact to the nano unit (`pattern::Quantity`).
#[derive(Debug, PartialEq, Eq)]
struct KQuantity(Quantity);

impl Opaque for KQuantity {
    fn runtime_type_name(&self) -> &str {
        QUANTITY
    }
}

type Args<'b, 'v> = Vec<CowVal<'b, 'v>>;
type Ret<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

fn add_kubernetes(env: &mut Env) -> Result<(), cel::DeclarationError> {
    let q = || Type::new_opaque_type(QUANTITY);
    let (s, l, i, d) = (
        || ct::STRING_TYPE,
        || ct::LIST_TYPE,
        || ct::INT_TYPE,
        || ct::DYN_TYPE,
    );
    // regex library
    env.add_member_overload("find", "string_find_string", s(), vec![s()], find)?;
    env.add_member_overload("findAll", "string_find_all_string", s(), vec![s()], find_all)?;
    env.add_member_overload(
        "findAll",
        "string_find_all_string_int",
        s(),
        vec![s(), i()],
        find_all,
    )?;
    // lists library
    env.add_member_overload("isSorted", "list_is_sorted", l(), vec![], is_sorted)?;
    env.add_member_overload("sum", "list_sum", l(), vec![], sum)?;
    env.add_member_overload("min", "list_min", l(), vec![], min)?;
    env.add_member_overload("max", "list_max", l(), vec![], max)?;
    env.add_member_overload("indexOf", "list_index_of", l(), vec![d()], index_of)?;
    env.add_member_overload("lastIndexOf", "list_last_index_of", l(), vec![d()], last_index_of)?;
    // quantity library
    env.add_overload("quantity", "string_to_quantity", vec![s()], quantity)?;
    env.add_overload("isQuantity", "is_quantity_string", vec![s()], is_quantity)?;
    env.add_member_overload("sign", "quantity_sign", q(), vec![], q_sign)?;
    env.add_member_overload("isInteger", "quantity_is_integer", q(), vec![], q_is_int)?;
    env.add_member_overload("asInteger", "quantity_as_integer", q(), vec![], q_as_int)?;
    env.add_member_overload(
        "asApproximateFloat",
        "quantity_get_float",
        q(),
        vec![],
        q_as_float,
    )?;
    env.add_member_overload("add", "quantity_add", q(), vec![q()], q_add)?;
    env.add_member_overload("add", "quantity_add_int", q(), vec![i()], q_add)?;
    env.add_member_overload("sub", "quantity_sub", q(), vec![q()], q_sub)?;
    env.add_member_overload("sub", "quantity_sub_int", q(), vec![i()], q_sub)?;
    env.add_member_overload("compareTo", "quantity_compare_to", q(), vec![q()], q_compare)?;
    env.add_member_overload(
        "isGreaterThan",
        "quantity_is_greater_than",
        q(),
        vec![q()],
        q_greater,
    )?;
    env.add_member_overload("isLessThan", "quantity_is_less_than", q(), vec![q()], q_less)?;
    Ok(())
}

fn arg(args: &Args, i: usize) -> Result<CV, ExecutionError> {
    let v = args
        .get(i)
        .ok_or_else(ExecutionError::missing_argument_or_target)?;
    CV::try_from(&**v)
}

fn out<'b, 'v>(v: CV) -> Ret<'b, 'v> {
    let b: Box<dyn Val> = v.try_into()?;
    Ok(CowVal::Owned(b))
}

fn no_overload() -> ExecutionError {
    fail("no such overload".into())
}

fn string_arg(args: &Args, i: usize) -> Result<Arc<String>, ExecutionError> {
    match arg(args, i)? {
        CV::String(s) => Ok(s),
        _ => Err(no_overload()),
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, ExecutionError> {
    regex::Regex::new(pattern).map_err(|e| fail(format!("Illegal regex: {}", regex_error(&e.to_string()))))
}

/// A regex syntax error as Go's `regexp` starts it; the reason is the `regex` crate's.
fn regex_error(e: &str) -> String {
    let reason = e.lines().last().unwrap_or(e).trim_start_matches("error: ");
    format!("error parsing regexp: {reason}")
}

fn find<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let s = string_arg(&args, 0)?;
    let re = regex(&string_arg(&args, 1)?)?;
    let found = re.find(&s).map_or("", |m| m.as_str()).to_string();
    out(CV::String(Arc::new(found)))
}

fn find_all<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let s = string_arg(&args, 0)?;
    let re = regex(&string_arg(&args, 1)?)?;
    let n = match args.len() {
        3 => match arg(&args, 2)? {
            CV::Int(n) => n,
            _ => return Err(no_overload()),
        },
        _ => -1,
    };
    let found: Vec<CV> = re
        .find_iter(&s)
        .take(if n < 0 { usize::MAX } else { n as usize })
        .map(|m| CV::String(Arc::new(m.as_str().to_string())))
        .collect();
    out(CV::List(Arc::new(found)))
}

fn list_arg(args: &Args) -> Result<Arc<Vec<CV>>, ExecutionError> {
    match arg(args, 0)? {
        CV::List(l) => Ok(l),
        _ => Err(no_overload()),
    }
}

/// `traits.Comparer.Compare` of two values: numbers across types, strings, bools, bytes.
fn compare(a: &CV, b: &CV) -> Result<std::cmp::Ordering, ExecutionError> {
    use CV::*;
    let num = |v: &CV| match v {
        Int(i) => Some(*i as f64),
        UInt(u) => Some(*u as f64),
        Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (Int(x), Int(y)) => Ok(x.cmp(y)),
        (UInt(x), UInt(y)) => Ok(x.cmp(y)),
        (String(x), String(y)) => Ok(x.cmp(y)),
        (Bool(x), Bool(y)) => Ok(x.cmp(y)),
        (Bytes(x), Bytes(y)) => Ok(x.cmp(y)),
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).ok_or_else(no_overload),
            _ => Err(no_overload()),
        },
    }
}

fn is_sorted<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let l = list_arg(&args)?;
    for w in l.windows(2) {
        if compare(&w[0], &w[1])? == std::cmp::Ordering::Greater {
            return out(CV::Bool(false));
        }
    }
    out(CV::Bool(true))
}

fn sum<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let l = list_arg(&args)?;
    let mut acc = match l.first() {
        None | Some(CV::Int(_)) => CV::Int(0),
        Some(CV::UInt(_)) => CV::UInt(0),
        Some(CV::Float(_)) => CV::Float(0.0),
        Some(_) => return Err(no_overload()),
    };
    for v in l.iter() {
        acc = match (&acc, v) {
            (CV::Int(a), CV::Int(b)) => {
                CV::Int(a.checked_add(*b).ok_or_else(|| fail("integer overflow".into()))?)
            }
            (CV::UInt(a), CV::UInt(b)) => CV::UInt(
                a.checked_add(*b)
                    .ok_or_else(|| fail("unsigned integer overflow".into()))?,
            ),
            (CV::Float(a), CV::Float(b)) => CV::Float(a + b),
            _ => return Err(no_overload()),
        };
    }
    out(acc)
}

fn extreme<'b, 'v>(args: Args<'b, 'v>, op: &str, prefer: std::cmp::Ordering) -> Ret<'b, 'v> {
    let l = list_arg(&args)?;
    let mut best: Option<&CV> = None;
    for v in l.iter() {
        best = match best {
            None => Some(v),
            Some(b) if compare(b, v)? == prefer => Some(v),
            keep => keep,
        };
    }
    match best {
        Some(b) => out(b.clone()),
        None => Err(fail(format!("{op} called on empty list"))),
    }
}

fn min<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    extreme(args, "min", std::cmp::Ordering::Greater)
}

fn max<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    extreme(args, "max", std::cmp::Ordering::Less)
}

fn index_of<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let l = list_arg(&args)?;
    let item = arg(&args, 1)?;
    let i = l.iter().position(|v| *v == item).map_or(-1, |i| i as i64);
    out(CV::Int(i))
}

fn last_index_of<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let l = list_arg(&args)?;
    let item = arg(&args, 1)?;
    let i = l.iter().rposition(|v| *v == item).map_or(-1, |i| i as i64);
    out(CV::Int(i))
}

/// `resource.ParseQuantity`: no surrounding spaces, then `pattern::parse_quantity`.
/// `resource.ParseQuantity`: the shape `parseQuantityString` scans (else `ErrFormatWrong`),
/// then the value (`pattern::parse_quantity`, else `ErrSuffix`).
fn parse_k8s_quantity(s: &str) -> Result<Quantity, String> {
    const FORMAT: &str =
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        digits(&mut i);
    }
    while i < b.len() && b"eEinumkKMGTP".contains(&b[i]) {
        i += 1;
    }
    if i < b.len() && matches!(b[i], b'+' | b'-') {
        i += 1;
    }
    digits(&mut i);
    if s.is_empty() || i < b.len() {
        return Err(FORMAT.into());
    }
    parse_quantity(s).ok_or_else(|| "unable to parse quantity's suffix".to_string())
}

fn quantity<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let s = string_arg(&args, 0)?;
    let q = parse_k8s_quantity(&s).map_err(fail)?;
    out(CV::Opaque(Arc::new(KQuantity(q))))
}

fn is_quantity<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let s = string_arg(&args, 0)?;
    out(CV::Bool(parse_k8s_quantity(&s).is_ok()))
}

fn q_arg(args: &Args, i: usize) -> Result<i128, ExecutionError> {
    match arg(args, i)? {
        CV::Opaque(o) => o
            .downcast_ref::<KQuantity>()
            .map(|q| q.0.nanos())
            .ok_or_else(no_overload),
        CV::Int(n) => Ok(i128::from(n) * NANO),
        _ => Err(no_overload()),
    }
}

const NANO: i128 = 1_000_000_000;

fn q_out<'b, 'v>(nanos: i128) -> Ret<'b, 'v> {
    // nanos is exact: rebuild the quantity from its nano-unit value
    let q = parse_quantity(&format!("{nanos}n")).ok_or_else(|| fail("quantity overflow".into()))?;
    out(CV::Opaque(Arc::new(KQuantity(q))))
}

fn q_sign<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    out(CV::Int(q_arg(&args, 0)?.signum() as i64))
}

fn q_int(n: i128) -> Option<i64> {
    (n % NANO == 0).then(|| i64::try_from(n / NANO).ok()).flatten()
}

fn q_is_int<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    out(CV::Bool(q_int(q_arg(&args, 0)?).is_some()))
}

fn q_as_int<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    match q_int(q_arg(&args, 0)?) {
        Some(n) => out(CV::Int(n)),
        None => Err(fail("cannot convert value to integer".into())),
    }
}

fn q_as_float<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    out(CV::Float(q_arg(&args, 0)? as f64 / NANO as f64))
}

fn q_add<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let sum = q_arg(&args, 0)?.checked_add(q_arg(&args, 1)?);
    q_out(sum.ok_or_else(|| fail("quantity overflow".into()))?)
}

fn q_sub<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let diff = q_arg(&args, 0)?.checked_sub(q_arg(&args, 1)?);
    q_out(diff.ok_or_else(|| fail("quantity overflow".into()))?)
}

fn q_compare<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let o = q_arg(&args, 0)?.cmp(&q_arg(&args, 1)?);
    out(CV::Int(o as i64))
}

fn q_greater<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    out(CV::Bool(q_arg(&args, 0)? > q_arg(&args, 1)?))
}

fn q_less<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    out(CV::Bool(q_arg(&args, 0)? < q_arg(&args, 1)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(op: &str) -> Value {
        json!({"kind": {"group": "", "version": "v1", "kind": "Service"}, "operation": op,
               "name": "web", "namespace": "prod", "userInfo": {"username": "alice"}})
    }

    fn service(kind: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "prod"}, "spec": {"type": kind}})
    }

    fn run_rule(message: &str, cel: Value, pre: Option<Value>, object: &Value) -> CelOutcome {
        let (old, req, ns) = (
            Value::Null,
            request("CREATE"),
            json!({"metadata": {"name": "prod"}}),
        );
        let input = CelInput {
            object,
            old_object: &old,
            request: &req,
            namespace_object: &ns,
        };
        evaluate("no-lb", message, &cel, pre.as_ref(), &input)
    }

    fn fail(s: &str) -> CelOutcome {
        CelOutcome::Fail(s.to_string())
    }

    #[test]
    fn services_messages() {
        let lb = service("LoadBalancer");
        let expr = |extra: Value| {
            let mut e = json!({"expression": "object.spec.type != 'LoadBalancer'"});
            e.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"expressions": [e]})
        };
        // pass: validate_cel.go:221
        assert_eq!(
            run_rule("", expr(json!({})), None, &service("ClusterIP")),
            CelOutcome::Pass("Validation rule 'no-lb' passed.".into())
        );
        // message, trimmed (validator.go:174-176)
        let cel = expr(json!({"message": " LoadBalancer Services are not allowed. "}));
        assert_eq!(
            run_rule("", cel, None, &lb),
            fail("LoadBalancer Services are not allowed.")
        );
        // messageExpression first
        let cel = expr(json!({"message": "m",
            "messageExpression": "'Service ' + object.metadata.name + ' must not be a LoadBalancer'"}));
        assert_eq!(
            run_rule("", cel, None, &lb),
            fail("Service web must not be a LoadBalancer")
        );
        // a messageExpression that errors, is not a string, is empty or multi-line is ignored
        for me in ["object.missing", "1", "'  '", "'a\\nb'", "undefinedVar"] {
            let cel = expr(json!({"message": "m", "messageExpression": me}));
            assert_eq!(run_rule("", cel, None, &lb), fail("m"), "{me}");
        }
        // the rule's validate.message fills empty messages (validate_cel.go:117-122); the
        // conformance test cel-messages-upon-resource-failure expects it in the denial
        assert_eq!(
            run_rule("rule says no", expr(json!({})), None, &lb),
            fail("rule says no")
        );
        // else the expression (validator.go:178-180; conformance
        // validating-admission-policy-reports/.../report-assert.yaml:12)
        assert_eq!(
            run_rule("", expr(json!({})), None, &lb),
            fail("failed expression: object.spec.type != 'LoadBalancer'")
        );
        // the first failing expression decides
        let cel = json!({"expressions": [
            {"expression": "true"},
            {"expression": "object.spec.type == 'NodePort'", "message": "second"},
            {"expression": "false", "message": "third"}]});
        assert_eq!(run_rule("", cel, None, &lb), fail("second"));
        // a non-bool result is a denial at evaluation (EvalResult != celtypes.True) ...
        let cel = json!({"expressions": [{"expression": "object.spec.type", "message": "no"}]});
        assert_eq!(run_rule("", cel, None, &lb), fail("no"));
        // ... and a compile error when the type is known (compile.go:193-202)
        let cel = json!({"expressions": [{"expression": "'abc'", "message": "no"}]});
        assert_eq!(
            run_rule("", cel, None, &lb),
            fail("compilation error: must evaluate to bool but got string")
        );
    }

    #[test]
    fn variables_and_namespace() {
        // conformance test validate/clusterpolicy/standard/cel/cel-variables/policy.yaml
        let cel = json!({
            "variables": [
                {"name": "environment", "expression": "'environment' in namespaceObject.metadata.labels ? namespaceObject.metadata.labels['environment'] : 'prod'"},
                {"name": "exempt", "expression": "has(object.metadata.labels) && 'exempt' in object.metadata.labels && object.metadata.labels['exempt'] == 'true'"},
                {"name": "containers", "expression": "object.spec.template.spec.containers"},
                {"name": "containersToCheck", "expression": "variables.containers.filter(c, c.image.contains('example.com/'))"}],
            "expressions": [{
                "expression": "variables.exempt || variables.containersToCheck.all(c, c.image.startsWith(variables.environment + '.'))",
                "messageExpression": "'only ' + variables.environment + ' images are allowed in namespace ' + namespaceObject.metadata.name"}]});
        let deploy = |image: &str, labels: Value| {
            json!({"metadata": {"name": "d", "labels": labels},
                   "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
        };
        let (old, req) = (Value::Null, request("CREATE"));
        let ns = json!({"metadata": {"name": "staging-ns", "labels": {"environment": "staging"}}});
        let check = |obj: &Value| {
            let input = CelInput {
                object: obj,
                old_object: &old,
                request: &req,
                namespace_object: &ns,
            };
            evaluate("r", "", &cel, None, &input)
        };
        assert_eq!(
            check(&deploy("staging.example.com/app", json!({}))),
            CelOutcome::Pass("Validation rule 'r' passed.".into())
        );
        assert_eq!(
            check(&deploy("prod.example.com/app", json!({}))),
            fail("only staging images are allowed in namespace staging-ns")
        );
        assert_eq!(
            check(&deploy("prod.example.com/app", json!({"exempt": "true"}))),
            CelOutcome::Pass("Validation rule 'r' passed.".into())
        );
        // a variable that fails is an error where it is used (composition.go:218-236)
        let cel = json!({"variables": [{"name": "v", "expression": "object.nope"}],
            "expressions": [{"expression": "variables.v == 1"}]});
        assert_eq!(
            run_rule("", cel, None, &service("ClusterIP")),
            fail(
                "expression 'variables.v == 1' resulted in error: composited variable \"v\" fails to evaluate: no such key: nope"
            )
        );
        // a variable that is not used is not evaluated
        let cel = json!({"variables": [{"name": "v", "expression": "object.nope"}],
            "expressions": [{"expression": "true"}]});
        assert!(matches!(
            run_rule("", cel, None, &service("ClusterIP")),
            CelOutcome::Pass(_)
        ));
        // a variable sees only those before it: undefined field of the variables type
        let cel = json!({"variables": [{"name": "a", "expression": "variables.b"},
                                       {"name": "b", "expression": "1"}],
            "expressions": [{"expression": "variables.a == 1"}]});
        assert_eq!(
            run_rule("", cel, None, &service("ClusterIP")),
            fail(
                "expression 'variables.a == 1' resulted in error: composited variable \"a\" fails to compile: compilation failed: ERROR: <input>:1:10: undefined field 'b'\n | variables.b\n | .........^"
            )
        );
    }

    #[test]
    fn libraries() {
        let pod = json!({"metadata": {"name": "app-42-x"}, "spec": {"containers": [
            {"name": "a", "resources": {"limits": {"memory": "512Mi", "cpu": "500m"}}}]}});
        let t = |e: &str| {
            let cel = json!({"expressions": [{"expression": e, "message": "no"}]});
            run_rule("", cel, None, &pod)
        };
        let pass = CelOutcome::Pass("Validation rule 'no-lb' passed.".into());
        for e in [
            "quantity(object.spec.containers[0].resources.limits.memory).isLessThan(quantity('1Gi'))",
            "quantity('1Gi').isGreaterThan(quantity('1000Mi'))",
            "quantity('1Gi').compareTo(quantity('1024Mi')) == 0",
            "quantity('1Gi') == quantity('1024Mi')",
            "quantity('500m').add(quantity('500m')).isInteger()",
            "quantity('1k').sub(1).asInteger() == 999",
            "quantity('1.5').asApproximateFloat() == 1.5",
            "quantity('-1').sign() == -1 && !quantity('1.5').isInteger()",
            "isQuantity('10Gi') && !isQuantity('10 Gi') && !isQuantity('abc')",
            "object.metadata.name.find('[0-9]+') == '42'",
            "object.metadata.name.find('z+') == ''",
            "'a1b22c333'.findAll('[0-9]+') == ['1', '22', '333']",
            "'a1b22c333'.findAll('[0-9]+', 2) == ['1', '22']",
            "object.metadata.name.matches('^app-[0-9]+')",
            "[1, 2, 3].isSorted() && ![2, 1].isSorted() && ['a', 'b'].isSorted()",
            "[1, 2, 3].sum() == 6 && [1.5, 2.5].sum() == 4.0 && [].sum() == 0",
            "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3",
            "[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2 && [1].indexOf(5) == -1",
            "'TacoCat'.lowerAscii() == 'tacocat' && 'a'.upperAscii() == 'A'",
            "'a-b-c'.split('-') == ['a', 'b', 'c'] && ['a', 'b'].join(',') == 'a,b'",
            "'hello'.substring(1, 3) == 'el' && ' x '.trim() == 'x' && 'aXa'.replace('X', 'y') == 'aya'",
            "'hello'.indexOf('l') == 2 && 'hello'.lastIndexOf('l') == 3 && 'abc'.charAt(1) == 'b'",
            "object.?metadata.?labels.?team.orValue('none') == 'none'",
            "object.spec.containers.all(c, has(c.resources.limits))",
            "object.spec.containers.exists(c, c.name == 'a') && object.spec.containers.exists_one(c, true)",
            "object.spec.containers.map(c, c.name) == ['a'] && object.spec.containers.filter(c, false) == []",
            "1 < 2.5 && 2u > 1",
        ] {
            assert_eq!(t(e), pass, "{e}");
        }
        assert_eq!(
            t("[].min() == 1"),
            fail("expression '[].min() == 1' resulted in error: min called on empty list")
        );
        assert_eq!(
            t("quantity('1 Gi').isInteger()"),
            fail(
                "expression 'quantity('1 Gi').isInteger()' resulted in error: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            )
        );
        assert_eq!(
            t("quantity('1.5').asInteger() == 1"),
            fail(
                "expression 'quantity('1.5').asInteger() == 1' resulted in error: cannot convert value to integer"
            )
        );
    }

    #[test]
    fn preconditions() {
        // conformance test validate/clusterpolicy/standard/cel/cel-preconditions/policy.yaml
        let cel =
            json!({"expressions": [{"expression": "object.spec.type != 'LoadBalancer'", "message": "no"}]});
        let pre = |e: &str| Some(json!([{"name": "c", "expression": e}]));
        let lb = service("LoadBalancer");
        assert_eq!(
            run_rule(
                "",
                cel.clone(),
                pre("object.metadata.name.matches('nginx-pod')"),
                &lb
            ),
            CelOutcome::Skip("cel preconditions not met".into())
        );
        assert_eq!(
            run_rule("", cel.clone(), pre("object.metadata.name == 'web'"), &lb),
            fail("no")
        );
        // any false condition skips, even after an error (matcher.go:117-127)
        let two = Some(json!([{"name": "a", "expression": "object.x == 1"},
                             {"name": "b", "expression": "false"}]));
        assert_eq!(
            run_rule("", cel.clone(), two, &lb),
            CelOutcome::Skip("cel preconditions not met".into())
        );
        // errors fail the rule (validator.go:91-101)
        assert_eq!(
            run_rule("", cel.clone(), pre("object.x == 1"), &lb),
            fail("expression 'object.x == 1' resulted in error: no such key: x")
        );
        // the matcher passes no namespace object
        assert_eq!(run_rule("", cel, pre("namespaceObject == null"), &lb), fail("no"));
    }

    #[test]
    fn compile_and_evaluation_errors() {
        let lb = service("LoadBalancer");
        let t = |e: &str| {
            run_rule(
                "",
                json!({"expressions": [{"expression": e, "message": "m"}]}),
                None,
                &lb,
            )
        };
        // cel-go's parser text and snippet (common/error.go ToDisplayString)
        assert_eq!(
            t("object.spec.type =="),
            fail(
                "compilation error: compilation failed: ERROR: <input>:1:20: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n | object.spec.type ==\n | ...................^"
            )
        );
        assert_eq!(
            t("foo == 1"),
            fail(
                "compilation error: compilation failed: ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')\n | foo == 1\n | ^"
            )
        );
        assert_eq!(
            t("object.spec.ports.frobnicate()"),
            fail(
                "compilation error: compilation failed: ERROR: <input>:1:29: undeclared reference to 'frobnicate' (in container '')\n | object.spec.ports.frobnicate()\n | ............................^"
            )
        );
        assert_eq!(
            t("request.uid == ''"),
            fail(
                "compilation error: compilation failed: ERROR: <input>:1:8: undefined field 'uid'\n | request.uid == ''\n | .......^"
            )
        );
        // params is only declared with paramKind and paramRef
        assert_eq!(
            t("params == null"),
            fail(
                "compilation error: compilation failed: ERROR: <input>:1:1: undeclared reference to 'params' (in container '')\n | params == null\n | ^"
            )
        );
        // evaluation errors (activation.go:181-185)
        assert_eq!(
            t("object.spec.nope == 'x'"),
            fail("expression 'object.spec.nope == 'x'' resulted in error: no such key: nope")
        );
        // conformance validating-policies/match-conditions/failure-policy/default
        assert_eq!(
            t("2 / 0 == 1"),
            fail("expression '2 / 0 == 1' resulted in error: division by zero")
        );
        // Go's regexp reason differs from the regex crate's ("missing closing ): `(`")
        assert_eq!(
            t("object.metadata.name.matches('(')"),
            fail(
                "expression 'object.metadata.name.matches('(')' resulted in error: error parsing regexp: unclosed group"
            )
        );
        assert_eq!(
            t("object.metadata.name.find('(') == ''"),
            fail(
                "expression 'object.metadata.name.find('(') == ''' resulted in error: Illegal regex: error parsing regexp: unclosed group"
            )
        );
        // a field of a string
        assert_eq!(
            t("object.spec.type.name == 'x'"),
            fail("expression 'object.spec.type.name == 'x'' resulted in error: no such key: name")
        );
        assert!(matches!(
            t("authorizer.serviceAccount('default', 'sa').check('get').allowed()"),
            CelOutcome::Fail(m) if m.contains("authorizer is not supported")
        ));
    }

    #[test]
    fn delete_has_no_object() {
        let old = service("LoadBalancer");
        let (obj, req, ns) = (Value::Null, request("DELETE"), Value::Null);
        let input = CelInput {
            object: &obj,
            old_object: &old,
            request: &req,
            namespace_object: &ns,
        };
        let t = |e: &str| {
            evaluate(
                "r",
                "",
                &json!({"expressions": [{"expression": e, "message": "m"}]}),
                None,
                &input,
            )
        };
        let pass = CelOutcome::Pass("Validation rule 'r' passed.".into());
        assert_eq!(t("object == null && oldObject.spec.type == 'LoadBalancer'"), pass);
        assert_eq!(
            t("request.operation == 'DELETE' || object.spec.type != 'LoadBalancer'"),
            pass
        );
        assert_eq!(t("namespaceObject == null"), pass);
        assert_eq!(
            t("object.spec.type != 'LoadBalancer'"),
            fail("expression 'object.spec.type != 'LoadBalancer'' resulted in error: no such key: spec")
        );
    }

    #[test]
    fn policy_checks() {
        let rule = |v: Value| json!({"name": "r", "validate": v});
        let err = |m: &str| Err(format!("path: spec.rules[2].validate..: {m}"));
        assert_eq!(
            check_policy(&rule(json!({"cel": {"expressions": [{"expression": "x"}]}})), 2),
            Ok(())
        );
        // invalid expressions are not rejected
        assert_eq!(
            check_policy(&rule(json!({"cel": {"expressions": [{"expression": "1 +"}]}})), 2),
            Ok(())
        );
        assert_eq!(
            check_policy(&json!({"celPreconditions": [], "validate": {"pattern": {}}}), 2),
            err("celPrecondition can only be used with validate.cel")
        );
        assert_eq!(
            check_policy(&rule(json!({"cel": {"expressions": [{"message": "m"}]}})), 2),
            err("cel.expressions.expression is required")
        );
        assert_eq!(
            check_policy(&rule(json!({"cel": {"paramKind": {"kind": "K"}}})), 2),
            err("cel.paramKind.apiVersion is required")
        );
        assert_eq!(
            check_policy(&rule(json!({"cel": {"paramKind": {"apiVersion": "v1"}}})), 2),
            err("cel.paramKind.kind is required")
        );
        assert_eq!(
            check_policy(
                &rule(json!({"cel": {"paramKind": {"apiVersion": "v1", "kind": "K"}}})),
                2
            ),
            err("cel.paramRef is required")
        );
        let both = json!({"cel": {"paramKind": {"apiVersion": "v1", "kind": "K"},
            "paramRef": {"name": "n", "selector": {}}}});
        assert_eq!(
            check_policy(&rule(both), 2),
            err("one of cel.paramRef.name or cel.paramRef.selector must be set")
        );
        assert_eq!(
            check_policy(&rule(json!({"cel": {"paramRef": {"name": "n"}}})), 2),
            err("cel.paramRef.parameterNotFoundAction is required")
        );
        assert_eq!(
            check_policy(
                &rule(json!({"cel": {"paramRef": {"name": "n", "parameterNotFoundAction": "Deny"}}})),
                2
            ),
            err("cel.paramKind is required")
        );
        assert_eq!(
            check_policy(
                &rule(json!({"cel": {"auditAnnotations": [{"valueExpression": "'x'"}]}})),
                2
            ),
            err("cel.auditAnnotation.key is required")
        );
        assert_eq!(
            check_policy(&rule(json!({"cel": {"auditAnnotations": [{"key": "k"}]}})), 2),
            err("cel.auditAnnotation.valueExpression is required")
        );
    }

    /// Garbled and random expressions never panic, and always give an outcome.
    #[test]
    fn garbled_expressions() {
        let pieces = [
            "object",
            ".",
            "spec",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            "'",
            "\"",
            "==",
            "!",
            "&&",
            "||",
            "?",
            ":",
            "1",
            "0",
            "-",
            "+",
            "/",
            "%",
            "quantity",
            "has",
            "all",
            "map",
            "x",
            ",",
            "variables",
            "null",
            "true",
            "size",
            "\\",
            "é",
            "\u{1F600}",
            "?.",
            "[?",
            "1e999",
            "0x",
            "9223372036854775808",
            "-9223372036854775808",
            "b'",
            "r'",
            "'''",
            "\n",
            "\t",
            " ",
            "in",
            "@",
            "#",
            "$",
            "`",
            "findAll",
            "isSorted()",
            "min()",
            ".sum()",
        ];
        let lb = service("LoadBalancer");
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..400 {
            let len = (next() % 12) as usize;
            let expr: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let cel = json!({"variables": [{"name": "x", "expression": expr}],
                "expressions": [{"expression": expr, "messageExpression": expr},
                                {"expression": "variables.x == 1"}],
                "auditAnnotations": [{"key": "k", "valueExpression": expr}]});
            let pre = Some(json!([{"name": "p", "expression": expr}]));
            let _ = run_rule("", cel.clone(), None, &lb);
            let _ = run_rule("", cel, pre, &lb);
        }
        // deep nesting
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        let _ = run_rule("", json!({"expressions": [{"expression": deep}]}), None, &lb);
        let deep = format!("{}true", "!".repeat(2000));
        let _ = run_rule("", json!({"expressions": [{"expression": deep}]}), None, &lb);
    }
}

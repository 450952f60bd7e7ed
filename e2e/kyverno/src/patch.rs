//! The two patch mechanisms of Kyverno's mutate rules, as Kyverno v1.15.2 applies them
//! (`pkg/engine/mutate/patch/`), and the JSON patch Kyverno answers the API server with.
//!
//! - [`strategic_merge`]: `patchStrategicMerge`. Kyverno first resolves the mutate anchors of
//!   the overlay against the resource (`strategicPreprocessing.go`: add-if-not-present `+(k)`,
//!   conditional `(k)`, global `<(k)`, in maps and per element in lists of maps), then hands the
//!   overlay to kustomize's `patchstrategicmerge.Filter` (kyaml v0.20.0 `yaml/merge2` over
//!   `yaml/walk`). Both work on yaml.v3 node trees and mutate them in place, sharing nodes; the
//!   port keeps that model (an arena of nodes, [`Tree`]) because several observable results
//!   depend on it (see the notes on the functions).
//! - [`json6902`]: `patchesJson6902`, applied as evanphx/json-patch v5.9.11 applies it with
//!   `SupportNegativeIndices`, `AllowMissingPathOnRemove` and `EnsurePathExistsOnAdd`.
//! - [`json_patch_diff`]: the RFC 6902 operations gomodules.xyz/jsonpatch/v2 `CreatePatch`
//!   makes from the resource before and after (`pkg/engine/api/engineresponse.go` GetPatches).
//!
//! Errors are the inner texts; the caller prefixes `failed to patch resource: `
//! (`pkg/engine/mutate/mutation.go:57-60`).

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde_json::{Map, Number, Value};

use crate::pattern::{self, Anchor};

// ---------------------------------------------------------------------------------------------
// yaml.v3 nodes, as kyaml's RNode sees them

type Id = usize;

#[derive(Clone, Debug, PartialEq)]
enum Scalar {
    /// `!!null` (from JSON `null`).
    Null,
    Bool(bool),
    Num(Number),
    /// A string from JSON (double-quoted, tag `!!str`).
    Str(String),
    /// An untagged plain scalar kyaml creates (`NewScalarRNode`); its type is resolved when
    /// the tree is read back (yaml.Unmarshal of the node's text).
    Plain(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Map,
    Seq,
    Scalar,
}

#[derive(Clone, Debug)]
struct YNode {
    kind: Kind,
    scalar: Scalar,
    /// Maps: key, value, key, value...; sequences: the elements.
    content: Vec<Id>,
    /// kyaml's `ShouldKeep` (a null the merge preserves).
    keep: bool,
}

/// An arena of nodes: ids play the part of yaml.v3 `*Node` pointers.
#[derive(Default)]
struct Tree {
    n: Vec<YNode>,
}

fn node_kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Map => "MappingNode",
        Kind::Seq => "SequenceNode",
        Kind::Scalar => "ScalarNode",
    }
}

impl Tree {
    fn add(&mut self, node: YNode) -> Id {
        self.n.push(node);
        self.n.len() - 1
    }
    fn scalar(&mut self, s: Scalar) -> Id {
        self.add(YNode {
            kind: Kind::Scalar,
            scalar: s,
            content: Vec::new(),
            keep: false,
        })
    }
    fn coll(&mut self, kind: Kind, content: Vec<Id>) -> Id {
        self.add(YNode {
            kind,
            scalar: Scalar::Null,
            content,
            keep: false,
        })
    }

    fn add_value(&mut self, v: &Value) -> Id {
        match v {
            Value::Null => self.scalar(Scalar::Null),
            Value::Bool(b) => self.scalar(Scalar::Bool(*b)),
            Value::Number(n) => self.scalar(Scalar::Num(n.clone())),
            Value::String(s) => self.scalar(Scalar::Str(s.clone())),
            Value::Array(a) => {
                let c = a.iter().map(|e| self.add_value(e)).collect();
                self.coll(Kind::Seq, c)
            }
            Value::Object(m) => {
                let mut c = Vec::with_capacity(m.len() * 2);
                for (k, v) in m {
                    c.push(self.scalar(Scalar::Str(k.clone())));
                    c.push(self.add_value(v));
                }
                self.coll(Kind::Map, c)
            }
        }
    }

    /// The JSON of a node as kyaml produces it (`String()`, yaml.Unmarshal into
    /// `map[string]interface{}`, json.Marshal): keys sorted, numbers as Go prints them.
    fn to_value(&self, id: Id) -> Value {
        let node = &self.n[id];
        match node.kind {
            Kind::Map => {
                let mut pairs: Vec<(String, Value)> = node
                    .content
                    .chunks(2)
                    .filter(|kv| kv.len() == 2)
                    .map(|kv| (self.value_str(kv[0]), self.to_value(kv[1])))
                    .collect();
                // yaml.Unmarshal keeps the last of duplicate keys; json.Marshal sorts.
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                let mut m = Map::new();
                for (k, v) in pairs {
                    m.insert(k, v);
                }
                Value::Object(m)
            }
            Kind::Seq => Value::Array(node.content.iter().map(|c| self.to_value(*c)).collect()),
            Kind::Scalar => match &node.scalar {
                Scalar::Null => Value::Null,
                Scalar::Bool(b) => Value::Bool(*b),
                Scalar::Num(n) => go_number(n),
                Scalar::Str(s) => Value::String(s.clone()),
                Scalar::Plain(s) => resolve_plain(s),
            },
        }
    }

    /// yaml.v3 `Node.Value`: the scalar's text, "" for collections.
    fn value_str(&self, id: Id) -> String {
        let node = &self.n[id];
        if node.kind != Kind::Scalar {
            return String::new();
        }
        match &node.scalar {
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Num(n) => n.to_string(),
            Scalar::Str(s) | Scalar::Plain(s) => s.clone(),
        }
    }

    fn kind(&self, id: Id) -> Kind {
        self.n[id].kind
    }
    fn is_tagged_null(&self, id: Id) -> bool {
        let n = &self.n[id];
        n.kind == Kind::Scalar && n.scalar == Scalar::Null
    }
    fn missing_or_null(&self, id: Option<Id>) -> bool {
        id.is_none_or(|i| self.is_tagged_null(i))
    }
    fn is_map(&self, id: Id) -> bool {
        self.kind(id) == Kind::Map
    }
    /// `IsEmptyMap`: missing, null or `{}`.
    fn is_empty_map(&self, id: Option<Id>) -> bool {
        self.missing_or_null(id) || id.is_some_and(|i| self.is_map(i) && self.n[i].content.is_empty())
    }
    /// `IsNilOrEmpty`: missing, null, `{}` or `[]`.
    fn nil_or_empty(&self, id: Option<Id>) -> bool {
        match id {
            None => true,
            Some(i) => {
                self.is_tagged_null(i) || (self.kind(i) != Kind::Scalar && self.n[i].content.is_empty())
            }
        }
    }

    /// `RNode.Field(name)`: the last entry with that key (key id, value id); None on non-maps.
    fn field(&self, id: Id, name: &str) -> Option<(Id, Id)> {
        if !self.is_map(id) {
            return None;
        }
        let mut found = None;
        for kv in self.n[id].content.chunks(2) {
            if kv.len() == 2 && self.value_str(kv[0]) == name {
                found = Some((kv[0], kv[1]));
            }
        }
        found
    }
    fn field_value(&self, id: Option<Id>, name: &str) -> Option<Id> {
        id.and_then(|i| self.field(i, name)).map(|(_, v)| v)
    }
    /// `Fields()` (names in order); non-maps have none.
    fn fields(&self, id: Id) -> Vec<String> {
        if !self.is_map(id) {
            return Vec::new();
        }
        self.n[id]
            .content
            .chunks(2)
            .filter(|kv| kv.len() == 2)
            .map(|kv| self.value_str(kv[0]))
            .collect()
    }
    /// `Clear(name)`: removes the first entry with that key.
    fn clear(&mut self, id: Id, name: &str) {
        if !self.is_map(id) {
            return;
        }
        let pos = self.n[id]
            .content
            .chunks(2)
            .position(|kv| kv.len() == 2 && self.value_str(kv[0]) == name);
        if let Some(p) = pos {
            self.n[id].content.drain(p * 2..p * 2 + 2);
        }
    }
    /// `FieldSetter{Name, Value}`: a missing or (not kept) null value clears the field, an
    /// existing field gets the new value, else the field is appended.
    fn set_field(&mut self, id: Id, name: &str, value: Option<Id>) {
        let Some(v) = value.filter(|v| !self.is_tagged_null(*v) || self.n[*v].keep) else {
            self.clear(id, name);
            return;
        };
        if !self.is_map(id) {
            return;
        }
        let content = &self.n[id].content;
        let mut slot = None;
        for (i, kv) in content.chunks(2).enumerate() {
            if kv.len() == 2 && self.value_str(kv[0]) == name {
                slot = Some(i * 2 + 1);
                break;
            }
        }
        match slot {
            Some(s) => self.n[id].content[s] = v,
            None => {
                let k = self.scalar(Scalar::Str(name.to_string()));
                self.n[id].content.push(k);
                self.n[id].content.push(v);
            }
        }
    }
    fn rename_field(&mut self, id: Id, name: &str, new_name: &str) {
        if let Some((k, _)) = self.field(id, name) {
            self.n[k].scalar = Scalar::Str(new_name.to_string());
        }
    }
    /// `RNode.Copy()`: a deep copy.
    fn copy(&mut self, id: Id) -> Id {
        let mut node = self.n[id].clone();
        node.content = node.content.clone().into_iter().map(|c| self.copy(c)).collect();
        self.add(node)
    }

    /// `RNode.String()` as the text of kyaml's wrong-node-kind errors: nodes parsed from JSON
    /// keep yaml.v3's flow style and double quotes.
    fn yaml_string(&self, id: Id) -> String {
        format!("{}\n", self.flow(id))
    }
    fn flow(&self, id: Id) -> String {
        let node = &self.n[id];
        match node.kind {
            Kind::Map => {
                let parts: Vec<String> = node
                    .content
                    .chunks(2)
                    .filter(|kv| kv.len() == 2)
                    .map(|kv| format!("{}: {}", self.flow(kv[0]), self.flow(kv[1])))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            Kind::Seq => {
                let parts: Vec<String> = node.content.iter().map(|c| self.flow(*c)).collect();
                format!("[{}]", parts.join(", "))
            }
            Kind::Scalar => match &node.scalar {
                Scalar::Str(s) => Value::String(s.clone()).to_string(),
                _ => self.value_str(id),
            },
        }
    }
    /// kyaml `ErrorIfInvalid`: missing and null nodes pass.
    fn error_if_invalid(&self, id: Option<Id>, kind: Kind) -> Result<(), String> {
        match id {
            Some(i) if !self.is_tagged_null(i) && self.kind(i) != kind => Err(format!(
                "wrong node kind: expected {} but got {}: node contents:\n{}",
                node_kind_name(kind),
                node_kind_name(self.kind(i)),
                self.yaml_string(i)
            )),
            _ => Ok(()),
        }
    }
    /// `Elements()` of a sequence (missing and null: none).
    fn elements(&self, id: Option<Id>) -> Result<Vec<Id>, String> {
        self.error_if_invalid(id, Kind::Seq)?;
        Ok(id.map(|i| self.n[i].content.clone()).unwrap_or_default())
    }
}

/// Go's json.Marshal of a float64 that yaml decoded: integral values print without a fraction.
fn go_number(n: &Number) -> Value {
    if n.is_f64()
        && let Some(f) = n.as_f64()
        && f.fract() == 0.0
        && f.abs() < 1e15
    {
        return Value::Number(Number::from(f as i64));
    }
    Value::Number(n.clone())
}

/// How yaml.v3 resolves an untagged plain scalar (YAML 1.2 core schema).
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::Number(i.into());
    }
    if s.chars().any(|c| c.is_ascii_digit())
        && !s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return go_number(&n);
    }
    Value::String(s.to_string())
}

// ---------------------------------------------------------------------------------------------
// Anchor preprocessing — pkg/engine/mutate/patch/strategicPreprocessing.go

/// The errors of preprocessing: `ConditionError` (`condition failed: ...`),
/// `GlobalConditionError` (`global condition failed: ...`) and the others.
#[derive(Debug)]
enum PreErr {
    Condition(String),
    Global(String),
    Other(String),
}

impl PreErr {
    fn text(&self) -> String {
        match self {
            PreErr::Condition(m) => format!("condition failed: {m}"),
            PreErr::Global(m) => format!("global condition failed: {m}"),
            PreErr::Other(m) => m.clone(),
        }
    }
}

impl From<String> for PreErr {
    fn from(s: String) -> Self {
        PreErr::Other(s)
    }
}

/// `anchor.Parse` (the regex `^([+<=X^])?\((.+)\)$` on the trimmed key).
fn anchor_of(key: &str) -> Option<Anchor> {
    pattern::parse_anchor(key).map(|(a, _)| a)
}
fn anchor_key(key: &str) -> String {
    pattern::parse_anchor(key)
        .map(|(_, k)| k.to_string())
        .unwrap_or_default()
}
fn contains_condition(a: Option<Anchor>) -> bool {
    matches!(a, Some(Anchor::Condition | Anchor::Global))
}
/// `hasAnchor`: the three mutate anchors.
fn has_mutate_anchor(a: Option<Anchor>) -> bool {
    contains_condition(a) || a == Some(Anchor::AddIfNotPresent)
}

impl Tree {
    /// `filterKeys`: the keys of a map whose anchor satisfies `pred`, in order.
    fn filter_keys(&self, id: Id, pred: fn(Option<Anchor>) -> bool) -> Vec<String> {
        self.fields(id)
            .into_iter()
            .filter(|f| anchor_of(f).is_some() && pred(anchor_of(f)))
            .collect()
    }

    /// `PreProcessPattern`.
    fn pre_process_pattern(&mut self, pattern: Id, resource: Option<Id>) -> Result<(), PreErr> {
        self.pre_process(pattern, resource)?;
        self.delete_condition_elements(pattern)?;
        Ok(())
    }

    fn pre_process(&mut self, pattern: Id, resource: Option<Id>) -> Result<(), PreErr> {
        match self.kind(pattern) {
            Kind::Map => self.walk_pattern_map(pattern, resource),
            Kind::Seq => {
                let first = self.n[pattern].content.first().copied();
                match first {
                    Some(f) if self.is_map(f) => self.process_list_of_maps(pattern, resource),
                    _ => Ok(()),
                }
            }
            Kind::Scalar => Ok(()),
        }
    }

    /// `walkMap`.
    fn walk_pattern_map(&mut self, pattern: Id, resource: Option<Id>) -> Result<(), PreErr> {
        self.handle_add_if_not_present(pattern, resource);
        self.validate_conditions(pattern, resource)?;
        // X(), =() and ^() keys are not mutate anchors: they are walked like plain keys.
        let keys: Vec<String> = self
            .fields(pattern)
            .into_iter()
            .filter(|f| !has_mutate_anchor(anchor_of(f)))
            .collect();
        for key in keys {
            let rv = self.field_value(resource, &key);
            if let Some(pv) = self.field_value(Some(pattern), &key) {
                self.pre_process(pv, rv)?;
            }
        }
        Ok(())
    }

    /// `handleAddIfNotPresentAnchor`: `+(k)` is dropped when the resource has `k`, else renamed
    /// to `k`. Returns how many there were.
    fn handle_add_if_not_present(&mut self, pattern: Id, resource: Option<Id>) -> usize {
        let anchors = self.filter_keys(pattern, |a| a == Some(Anchor::AddIfNotPresent));
        for a in &anchors {
            let key = anchor_key(a);
            if resource.and_then(|r| self.field(r, &key)).is_some() {
                self.clear(pattern, a);
            } else {
                self.rename_field(pattern, a, &key);
            }
        }
        anchors.len()
    }

    /// `validateConditions`: global anchors first, then conditional ones.
    fn validate_conditions(&mut self, pattern: Id, resource: Option<Id>) -> Result<(), PreErr> {
        self.validate_conditions_internal(pattern, resource, |a| a == Some(Anchor::Global))
            .map_err(PreErr::Global)?;
        self.validate_conditions_internal(pattern, resource, |a| a == Some(Anchor::Condition))
            .map_err(PreErr::Condition)
    }

    fn validate_conditions_internal(
        &mut self,
        pattern: Id,
        resource: Option<Id>,
        pred: fn(Option<Anchor>) -> bool,
    ) -> Result<(), String> {
        for a in self.filter_keys(pattern, pred) {
            let key = anchor_key(&a);
            let Some(rv) = self.field_value(resource, &key) else {
                return Err(format!("could not found \"{key}\" key in the resource"));
            };
            let Some(pv) = self.field_value(Some(pattern), &a) else {
                continue;
            };
            // A condition whose value holds `+()` anchors only resolves those.
            if self.handle_add_if_not_present(pv, Some(rv)) > 0 {
                continue;
            }
            self.check_condition(pv, rv)?;
        }
        Ok(())
    }

    /// `convertRNodeToInterface`: scalars become their text, collections their JSON.
    fn to_interface(&self, id: Id) -> Value {
        if self.kind(id) == Kind::Scalar {
            Value::String(self.value_str(id))
        } else {
            self.to_value(id)
        }
    }

    /// `checkCondition`: the validate matcher (`validate.MatchPattern`).
    fn check_condition(&self, pattern: Id, resource: Id) -> Result<(), String> {
        let p = self.to_interface(pattern);
        let r = self.to_interface(resource);
        pattern::match_pattern(&r, &p).map_err(|e| e.message)
    }

    /// `hasAnchors`. A scalar *value* that reads like `(x)` or `<(x)` counts too.
    fn has_anchors(&self, id: Id, pred: fn(Option<Anchor>) -> bool) -> bool {
        match self.kind(id) {
            Kind::Map => self.fields(id).iter().any(|k| {
                let a = anchor_of(k);
                (a.is_some() && pred(a))
                    || self
                        .field_value(Some(id), k)
                        .is_some_and(|v| !self.nil_or_empty(Some(v)) && self.has_anchors(v, pred))
            }),
            Kind::Scalar => !self.is_tagged_null(id) && contains_condition(anchor_of(&self.value_str(id))),
            Kind::Seq => self.n[id].content.iter().any(|e| self.has_anchors(*e, pred)),
        }
    }

    /// `processListOfMaps`. Each pattern element with an anchor is evaluated against every
    /// resource element, on ONE copy shared by all of them (Kyverno copies once per pattern
    /// element), so what an earlier element resolved (`+()` renamed or dropped, names appended
    /// in nested lists) carries over to the later ones. For each element that passes, a copy
    /// without anchors, named like the resource element, is appended to the pattern list.
    fn process_list_of_maps(&mut self, pattern: Id, resource: Option<Id>) -> Result<(), PreErr> {
        let pattern_elements = self.n[pattern].content.clone();
        let resource_elements = self.elements(resource)?;
        for pe in pattern_elements {
            if !self.has_anchors(pe, has_mutate_anchor) {
                continue;
            }
            let has_global = self.has_anchors(pe, |a| a == Some(Anchor::Global));
            let mut any_global_passed = false;
            let mut last_global: Option<PreErr> = None;
            let copy = self.copy(pe);
            for &re in &resource_elements {
                match self.pre_process(copy, Some(re)) {
                    Err(PreErr::Condition(_)) => continue,
                    Err(e @ PreErr::Global(_)) => {
                        last_global = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                    Ok(()) => {}
                }
                if has_global {
                    any_global_passed = true;
                } else {
                    self.handle_pattern_name(pattern, copy, re)
                        .map_err(|e| PreErr::Other(format!("failed to update name in pattern: {e}")))?;
                }
            }
            if resource.is_none() {
                match self.pre_process(copy, None) {
                    Err(PreErr::Condition(_)) => continue,
                    Err(e) => return Err(e),
                    Ok(()) => {
                        if has_global {
                            any_global_passed = true;
                        }
                    }
                }
            }
            if !any_global_passed && let Some(e) = last_global {
                return Err(e);
            }
        }
        Ok(())
    }

    /// `handlePatternName`: resource elements without a `name` are skipped.
    fn handle_pattern_name(&mut self, pattern: Id, element: Id, resource_element: Id) -> Result<(), String> {
        let Some((_, name)) = self.field(resource_element, "name") else {
            return Ok(());
        };
        if self.nil_or_empty(Some(name)) {
            return Ok(());
        }
        let new = self.copy(element);
        if self.delete_anchors(new, true, false)? {
            return Ok(());
        }
        self.set_field(new, "name", Some(name));
        self.n[pattern].content.push(new);
        Ok(())
    }

    /// `deleteConditionElements`.
    fn delete_condition_elements(&mut self, pattern: Id) -> Result<(), String> {
        self.error_if_invalid(Some(pattern), Kind::Map)?;
        for field in self.fields(pattern) {
            let delete_scalar = contains_condition(anchor_of(&field));
            let Some(v) = self.field_value(Some(pattern), &field) else {
                continue;
            };
            if self.delete_anchors(v, delete_scalar, false)? {
                self.clear(pattern, &field);
            }
        }
        Ok(())
    }

    /// `deleteAnchors`: strips the anchors; true when the node must leave the patch (it held
    /// only anchors — or nothing: an empty map in the overlay is dropped too).
    fn delete_anchors(&mut self, id: Id, delete_scalar: bool, traverse: bool) -> Result<bool, String> {
        match self.kind(id) {
            Kind::Map => self.delete_anchors_in_map(id, traverse),
            Kind::Seq => self.delete_anchors_in_list(id, traverse),
            Kind::Scalar => Ok(delete_scalar),
        }
    }

    fn delete_anchors_in_map(&mut self, id: Id, traverse: bool) -> Result<bool, String> {
        let mut anchors_exist = false;
        for a in self.filter_keys(id, contains_condition) {
            let Some(v) = self.field_value(Some(id), &a) else {
                continue;
            };
            if self.delete_anchors(v, true, traverse)? {
                self.clear(id, &a);
            } else {
                anchors_exist = true;
            }
        }
        if anchors_exist {
            for a in self.filter_keys(id, contains_condition) {
                let k = anchor_key(&a);
                self.rename_field(id, &a, &k);
            }
        }
        let mut need_to_delete = true;
        for field in self.fields(id) {
            let Some(v) = self.field_value(Some(id), &field) else {
                continue;
            };
            if self.delete_anchors(v, false, traverse)? {
                self.clear(id, &field);
            } else {
                need_to_delete = false;
            }
        }
        Ok(need_to_delete)
    }

    /// `deleteAnchorsInList`. Kyverno deletes by the element's index in the list as it was
    /// before any deletion (`deleteListElement(node, i)`), so after a first deletion a later
    /// one removes the element that has moved into that position; an index past the end is a
    /// Go slice panic, reported here as an error.
    fn delete_anchors_in_list(&mut self, id: Id, traverse: bool) -> Result<bool, String> {
        let elements = self.n[id].content.clone();
        let was_empty = elements.is_empty();
        for (i, &e) in elements.iter().enumerate() {
            let delete = if self.has_anchors(e, has_mutate_anchor) {
                if traverse && self.is_map(e) {
                    self.delete_anchors(e, true, traverse)
                        .map_err(|err| format!("failed to delete anchors: {err}"))?
                } else {
                    true
                }
            } else {
                self.delete_anchors(e, false, traverse)
                    .map_err(|err| format!("failed to delete anchors: {err}"))?
            };
            if delete {
                let content = &mut self.n[id].content;
                if i >= content.len() {
                    return Err(format!(
                        "runtime error: slice bounds out of range [{}:{}]",
                        i + 1,
                        content.len()
                    ));
                }
                content.remove(i);
            }
        }
        Ok(self.n[id].content.is_empty() && !was_empty)
    }
}

// ---------------------------------------------------------------------------------------------
// kyaml's OpenAPI schema (kyaml/openapi, built-in Kubernetes v1.21.2 swagger)

/// The part of kyaml v0.20.0's built-in schema (`kyaml/openapi/kubernetesapi/v1_21_2/
/// swagger.pb`, the one Kyverno uses: it sets no other) that decides how lists merge:
/// every `x-kubernetes-patch-strategy` containing `merge` on an array reachable from a kind,
/// with its keys (`x-kubernetes-list-map-keys` if present, else `x-kubernetes-patch-merge-key`,
/// else none: a list of scalars merged as a set), and the object fields leading to them.
/// Extracted from the swagger by walking the definitions from every kind
/// (`x-kubernetes-group-version-kind`); kinds whose only such field is `metadata` map to `Obj`.
///
/// Lines before `--`: `apiVersion kind definition`. After: `definition field=spec...` where
/// spec is `@def` (an object), `[k1,k2]` (a merge list) or `[k]@def` (a merge list of `def`).
///
/// A list with no merge strategy in the schema, or with no schema, is replaced by the patch's:
/// `merge2.Merge` walks without `InferAssociativeLists`, so kyaml's fallback key list
/// (`yaml.AssociativeSequenceKeys`, `[]string{"name"}` at v0.20.0, `rnode.go:940`) only
/// serves for inference and for a merge strategy without key, which the built-in schema
/// never has.
///
/// Not in the table: kinds newer than v1.21 (e.g. `autoscaling/v2` HPA, `resource.k8s.io`)
/// and every custom resource have no schema, so all their lists are replaced; PodSpec fields
/// newer than v1.21 (`resourceClaims`, `schedulingGates`) are replaced too.
const SCHEMA_TABLE: &str = r#"admissionregistration.k8s.io/v1 MutatingWebhookConfiguration admissionregistration.v1.MutatingWebhookConfiguration
admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration admissionregistration.v1.ValidatingWebhookConfiguration
admissionregistration.k8s.io/v1beta1 MutatingWebhookConfiguration admissionregistration.v1beta1.MutatingWebhookConfiguration
admissionregistration.k8s.io/v1beta1 ValidatingWebhookConfiguration admissionregistration.v1beta1.ValidatingWebhookConfiguration
apps/v1 ControllerRevision Obj
apps/v1 DaemonSet apps.v1.DaemonSet
apps/v1 Deployment apps.v1.Deployment
apps/v1 ReplicaSet apps.v1.ReplicaSet
apps/v1 StatefulSet apps.v1.StatefulSet
authentication.k8s.io/v1 TokenRequest Obj
authentication.k8s.io/v1 TokenReview Obj
authentication.k8s.io/v1beta1 TokenReview Obj
authorization.k8s.io/v1 LocalSubjectAccessReview Obj
authorization.k8s.io/v1 SelfSubjectAccessReview Obj
authorization.k8s.io/v1 SelfSubjectRulesReview Obj
authorization.k8s.io/v1 SubjectAccessReview Obj
authorization.k8s.io/v1beta1 LocalSubjectAccessReview Obj
authorization.k8s.io/v1beta1 SelfSubjectAccessReview Obj
authorization.k8s.io/v1beta1 SelfSubjectRulesReview Obj
authorization.k8s.io/v1beta1 SubjectAccessReview Obj
autoscaling/v1 HorizontalPodAutoscaler Obj
autoscaling/v1 Scale Obj
autoscaling/v2beta1 HorizontalPodAutoscaler Obj
autoscaling/v2beta2 HorizontalPodAutoscaler Obj
batch/v1 CronJob batch.v1.CronJob
batch/v1 Job batch.v1.Job
batch/v1beta1 CronJob batch.v1beta1.CronJob
certificates.k8s.io/v1 CertificateSigningRequest Obj
certificates.k8s.io/v1beta1 CertificateSigningRequest Obj
coordination.k8s.io/v1 Lease Obj
coordination.k8s.io/v1beta1 Lease Obj
v1 Binding Obj
v1 ComponentStatus core.v1.ComponentStatus
v1 ConfigMap Obj
v1 Endpoints Obj
v1 Event Obj
v1 LimitRange Obj
v1 Namespace core.v1.Namespace
v1 Node core.v1.Node
v1 PersistentVolume Obj
v1 PersistentVolumeClaim core.v1.PersistentVolumeClaim
v1 Pod core.v1.Pod
v1 PodTemplate core.v1.PodTemplate
v1 ReplicationController core.v1.ReplicationController
v1 ResourceQuota Obj
v1 Secret Obj
v1 Service core.v1.Service
v1 ServiceAccount core.v1.ServiceAccount
discovery.k8s.io/v1 EndpointSlice Obj
discovery.k8s.io/v1beta1 EndpointSlice Obj
events.k8s.io/v1 Event Obj
events.k8s.io/v1beta1 Event Obj
extensions/v1beta1 Ingress Obj
flowcontrol.apiserver.k8s.io/v1beta1 FlowSchema Obj
flowcontrol.apiserver.k8s.io/v1beta1 PriorityLevelConfiguration Obj
networking.k8s.io/v1 Ingress Obj
networking.k8s.io/v1 IngressClass Obj
networking.k8s.io/v1 NetworkPolicy Obj
networking.k8s.io/v1beta1 Ingress Obj
networking.k8s.io/v1beta1 IngressClass Obj
node.k8s.io/v1 RuntimeClass Obj
node.k8s.io/v1beta1 RuntimeClass Obj
policy/v1 PodDisruptionBudget policy.v1.PodDisruptionBudget
policy/v1beta1 Eviction Obj
policy/v1beta1 PodDisruptionBudget policy.v1beta1.PodDisruptionBudget
policy/v1beta1 PodSecurityPolicy Obj
rbac.authorization.k8s.io/v1 ClusterRole Obj
rbac.authorization.k8s.io/v1 ClusterRoleBinding Obj
rbac.authorization.k8s.io/v1 Role Obj
rbac.authorization.k8s.io/v1 RoleBinding Obj
rbac.authorization.k8s.io/v1beta1 ClusterRole Obj
rbac.authorization.k8s.io/v1beta1 ClusterRoleBinding Obj
rbac.authorization.k8s.io/v1beta1 Role Obj
rbac.authorization.k8s.io/v1beta1 RoleBinding Obj
scheduling.k8s.io/v1 PriorityClass Obj
scheduling.k8s.io/v1beta1 PriorityClass Obj
storage.k8s.io/v1 CSIDriver Obj
storage.k8s.io/v1 CSINode storage.v1.CSINode
storage.k8s.io/v1 StorageClass Obj
storage.k8s.io/v1 VolumeAttachment Obj
storage.k8s.io/v1beta1 CSIDriver Obj
storage.k8s.io/v1beta1 CSINode storage.v1beta1.CSINode
storage.k8s.io/v1beta1 CSIStorageCapacity Obj
storage.k8s.io/v1beta1 StorageClass Obj
storage.k8s.io/v1beta1 VolumeAttachment Obj
apiextensions.k8s.io/v1 CustomResourceDefinition Obj
apiextensions.k8s.io/v1beta1 CustomResourceDefinition Obj
apiregistration.k8s.io/v1 APIService apiregistration.v1.APIService
apiregistration.k8s.io/v1beta1 APIService apiregistration.v1beta1.APIService
--
admissionregistration.v1.MutatingWebhookConfiguration metadata=@meta.ObjectMeta webhooks=[name]
admissionregistration.v1.ValidatingWebhookConfiguration metadata=@meta.ObjectMeta webhooks=[name]
admissionregistration.v1beta1.MutatingWebhookConfiguration metadata=@meta.ObjectMeta webhooks=[name]
admissionregistration.v1beta1.ValidatingWebhookConfiguration metadata=@meta.ObjectMeta webhooks=[name]
apps.v1.DaemonSet metadata=@meta.ObjectMeta spec=@apps.v1.DaemonSetSpec status=@apps.v1.DaemonSetStatus
apps.v1.DaemonSetSpec template=@core.v1.PodTemplateSpec
apps.v1.DaemonSetStatus conditions=[type]
apps.v1.Deployment metadata=@meta.ObjectMeta spec=@apps.v1.DeploymentSpec status=@apps.v1.DeploymentStatus
apps.v1.DeploymentSpec template=@core.v1.PodTemplateSpec
apps.v1.DeploymentStatus conditions=[type]
apps.v1.ReplicaSet metadata=@meta.ObjectMeta spec=@apps.v1.ReplicaSetSpec status=@apps.v1.ReplicaSetStatus
apps.v1.ReplicaSetSpec template=@core.v1.PodTemplateSpec
apps.v1.ReplicaSetStatus conditions=[type]
apps.v1.StatefulSet metadata=@meta.ObjectMeta spec=@apps.v1.StatefulSetSpec status=@apps.v1.StatefulSetStatus
apps.v1.StatefulSetSpec template=@core.v1.PodTemplateSpec
apps.v1.StatefulSetStatus conditions=[type]
batch.v1.CronJob metadata=@meta.ObjectMeta spec=@batch.v1.CronJobSpec
batch.v1.CronJobSpec jobTemplate=@batch.v1.JobTemplateSpec
batch.v1.Job metadata=@meta.ObjectMeta spec=@batch.v1.JobSpec status=@batch.v1.JobStatus
batch.v1.JobSpec template=@core.v1.PodTemplateSpec
batch.v1.JobStatus conditions=[type]
batch.v1.JobTemplateSpec metadata=@meta.ObjectMeta spec=@batch.v1.JobSpec
batch.v1beta1.CronJob metadata=@meta.ObjectMeta spec=@batch.v1beta1.CronJobSpec
batch.v1beta1.CronJobSpec jobTemplate=@batch.v1beta1.JobTemplateSpec
batch.v1beta1.JobTemplateSpec metadata=@meta.ObjectMeta spec=@batch.v1.JobSpec
core.v1.ComponentStatus conditions=[type] metadata=@meta.ObjectMeta
core.v1.Container env=[name] ports=[containerPort,protocol] volumeDevices=[devicePath] volumeMounts=[mountPath]
core.v1.EphemeralContainer env=[name] volumeDevices=[devicePath] volumeMounts=[mountPath]
core.v1.EphemeralVolumeSource volumeClaimTemplate=@core.v1.PersistentVolumeClaimTemplate
core.v1.Namespace metadata=@meta.ObjectMeta status=@core.v1.NamespaceStatus
core.v1.NamespaceStatus conditions=[type]
core.v1.Node metadata=@meta.ObjectMeta spec=@core.v1.NodeSpec status=@core.v1.NodeStatus
core.v1.NodeSpec podCIDRs=[]
core.v1.NodeStatus addresses=[type] conditions=[type]
core.v1.PersistentVolumeClaim metadata=@meta.ObjectMeta status=@core.v1.PersistentVolumeClaimStatus
core.v1.PersistentVolumeClaimStatus conditions=[type]
core.v1.PersistentVolumeClaimTemplate metadata=@meta.ObjectMeta
core.v1.Pod metadata=@meta.ObjectMeta spec=@core.v1.PodSpec status=@core.v1.PodStatus
core.v1.PodSpec containers=[name]@core.v1.Container ephemeralContainers=[name]@core.v1.EphemeralContainer hostAliases=[ip] imagePullSecrets=[name] initContainers=[name]@core.v1.Container topologySpreadConstraints=[topologyKey,whenUnsatisfiable] volumes=[name]@core.v1.Volume
core.v1.PodStatus conditions=[type] podIPs=[ip]
core.v1.PodTemplate metadata=@meta.ObjectMeta template=@core.v1.PodTemplateSpec
core.v1.PodTemplateSpec metadata=@meta.ObjectMeta spec=@core.v1.PodSpec
core.v1.ReplicationController metadata=@meta.ObjectMeta spec=@core.v1.ReplicationControllerSpec status=@core.v1.ReplicationControllerStatus
core.v1.ReplicationControllerSpec template=@core.v1.PodTemplateSpec
core.v1.ReplicationControllerStatus conditions=[type]
core.v1.Service metadata=@meta.ObjectMeta spec=@core.v1.ServiceSpec status=@core.v1.ServiceStatus
core.v1.ServiceAccount metadata=@meta.ObjectMeta secrets=[name]
core.v1.ServiceSpec ports=[port,protocol]
core.v1.ServiceStatus conditions=[type]
core.v1.Volume ephemeral=@core.v1.EphemeralVolumeSource
policy.v1.PodDisruptionBudget metadata=@meta.ObjectMeta status=@policy.v1.PodDisruptionBudgetStatus
policy.v1.PodDisruptionBudgetStatus conditions=[type]
policy.v1beta1.PodDisruptionBudget metadata=@meta.ObjectMeta status=@policy.v1beta1.PodDisruptionBudgetStatus
policy.v1beta1.PodDisruptionBudgetStatus conditions=[type]
storage.v1.CSINode metadata=@meta.ObjectMeta spec=@storage.v1.CSINodeSpec
storage.v1.CSINodeSpec drivers=[name]
storage.v1beta1.CSINode metadata=@meta.ObjectMeta spec=@storage.v1beta1.CSINodeSpec
storage.v1beta1.CSINodeSpec drivers=[name]
meta.ObjectMeta finalizers=[] ownerReferences=[uid]
apiregistration.v1.APIService metadata=@meta.ObjectMeta status=@apiregistration.v1.APIServiceStatus
apiregistration.v1.APIServiceStatus conditions=[type]
apiregistration.v1beta1.APIService metadata=@meta.ObjectMeta status=@apiregistration.v1beta1.APIServiceStatus
apiregistration.v1beta1.APIServiceStatus conditions=[type]
Obj metadata=@meta.ObjectMeta"#;

#[derive(Clone, Debug)]
enum FieldSchema {
    Object(String),
    MergeList { keys: Vec<String>, elem: Option<String> },
}

struct Schemas {
    roots: HashMap<(String, String), String>,
    defs: HashMap<String, HashMap<String, FieldSchema>>,
}

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| {
        let (roots_text, defs_text) = SCHEMA_TABLE.split_once("\n--\n").unwrap_or((SCHEMA_TABLE, ""));
        let mut roots = HashMap::new();
        for line in roots_text.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if let [api_version, kind, def] = parts[..] {
                roots.insert((api_version.to_string(), kind.to_string()), def.to_string());
            }
        }
        let mut defs = HashMap::new();
        for line in defs_text.lines() {
            let mut parts = line.split_whitespace();
            let Some(name) = parts.next() else { continue };
            let mut fields = HashMap::new();
            for spec in parts {
                let Some((field, rest)) = spec.split_once('=') else {
                    continue;
                };
                let fs = if let Some(def) = rest.strip_prefix('@') {
                    FieldSchema::Object(def.to_string())
                } else {
                    let (keys, elem) = match rest.split_once("]@") {
                        Some((k, e)) => (k.trim_start_matches('['), Some(e.to_string())),
                        None => (rest.trim_start_matches('[').trim_end_matches(']'), None),
                    };
                    let keys = keys
                        .split(',')
                        .filter(|k| !k.is_empty())
                        .map(String::from)
                        .collect();
                    FieldSchema::MergeList { keys, elem }
                };
                fields.insert(field.to_string(), fs);
            }
            defs.insert(name.to_string(), fields);
        }
        Schemas { roots, defs }
    })
}

/// A kyaml `*openapi.ResourceSchema` as far as merging is concerned.
#[derive(Clone, Debug)]
enum Schema {
    /// nil: no schema (kyaml then looks for apiVersion/kind on the node itself).
    Unknown,
    /// A schema without merge strategies anywhere below.
    Plain,
    Def(String),
    MergeList {
        keys: Vec<String>,
        elem: Option<String>,
    },
}

impl Schema {
    fn field(&self, name: &str) -> Schema {
        match self {
            Schema::Unknown => Schema::Unknown,
            Schema::Def(d) => match schemas().defs.get(d).and_then(|f| f.get(name)) {
                Some(FieldSchema::Object(o)) => Schema::Def(o.clone()),
                Some(FieldSchema::MergeList { keys, elem }) => Schema::MergeList {
                    keys: keys.clone(),
                    elem: elem.clone(),
                },
                None => Schema::Plain,
            },
            _ => Schema::Plain,
        }
    }
    fn elements(&self) -> Schema {
        match self {
            Schema::Unknown => Schema::Unknown,
            Schema::MergeList { elem: Some(e), .. } => Schema::Def(e.clone()),
            _ => Schema::Plain,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// kyaml merge2 over walk (kyaml/yaml/walk, kyaml/yaml/merge2), ListIncreaseDirection = Prepend

#[derive(Clone, Copy, PartialEq, Debug)]
enum Directive {
    Replace,
    Delete,
    Merge,
}

impl Tree {
    /// `GetMeta`: apiVersion and kind of a map node.
    fn type_meta(&self, id: Id) -> Option<(String, String)> {
        let get = |name: &str| {
            self.field(id, name)
                .map(|(_, v)| v)
                .filter(|v| !self.nil_or_empty(Some(*v)))
                .map(|v| self.value_str(v))
                .filter(|s| !s.is_empty())
        };
        Some((get("apiVersion")?, get("kind")?))
    }

    /// `Walker.GetSchema`.
    fn get_schema(&self, sources: [Option<Id>; 2], schema: Schema) -> Schema {
        if !matches!(schema, Schema::Unknown) {
            return schema;
        }
        for s in sources.into_iter().flatten() {
            if self.is_tagged_null(s) {
                continue;
            }
            if let Some(tm) = self.type_meta(s)
                && let Some(def) = schemas().roots.get(&tm)
            {
                return Schema::Def(def.clone());
            }
        }
        Schema::Unknown
    }

    /// `Walker.Walk` with sources `[dest, origin]`. `None` is kyaml's nil / `ClearNode`.
    fn walk(&mut self, dest: Option<Id>, origin: Option<Id>, schema: Schema) -> Result<Option<Id>, String> {
        let schema = self.get_schema([dest, origin], schema);
        let kind = [dest, origin]
            .into_iter()
            .flatten()
            .find(|s| !self.is_tagged_null(*s))
            .map(|s| self.kind(s));
        let check = |t: &Tree, k: Kind| -> Result<(), String> {
            t.error_if_invalid(dest, k)?;
            t.error_if_invalid(origin, k)
        };
        match kind {
            Some(Kind::Map) | None => {
                if kind.is_some() {
                    check(self, Kind::Map)?;
                }
                self.walk_map(dest, origin, schema)
            }
            Some(Kind::Seq) => {
                check(self, Kind::Seq)?;
                if let Schema::MergeList { keys, .. } = &schema {
                    let keys = keys.clone();
                    self.walk_associative(dest, origin, schema, keys)
                } else {
                    // VisitList on a non-associative list: the patch's list replaces.
                    Ok(origin.or(dest))
                }
            }
            Some(Kind::Scalar) => {
                check(self, Kind::Scalar)?;
                Ok(origin.or(dest))
            }
        }
    }

    /// `determineSmpDirective`: reads and removes `$patch`.
    fn directive(&mut self, patch: Option<Id>) -> Result<Directive, String> {
        let Some(p) = patch else {
            return Ok(Directive::Merge);
        };
        let parse = |v: &str| match v {
            "replace" => Some(Directive::Replace),
            "delete" => Some(Directive::Delete),
            "merge" => Some(Directive::Merge),
            _ => None,
        };
        match self.kind(p) {
            Kind::Map => {
                let Some(v) = self.field_value(Some(p), "$patch") else {
                    return Ok(Directive::Merge);
                };
                let v = self.value_str(v);
                let d = parse(&v).ok_or_else(|| format!("unknown patch strategy '{v}'"))?;
                self.clear(p, "$patch");
                Ok(d)
            }
            Kind::Seq => {
                let elem = self.n[p]
                    .content
                    .iter()
                    .copied()
                    .find(|e| self.is_map(*e) && self.field(*e, "$patch").is_some());
                let Some(e) = elem else {
                    return Ok(Directive::Merge);
                };
                // more than one key: the $patch is not for the sequence
                if self.n[e].content.len() > 2 {
                    return Ok(Directive::Merge);
                }
                let Some(v) = self.field_value(Some(e), "$patch") else {
                    return Ok(Directive::Merge);
                };
                let v = self.value_str(v);
                let d = parse(&v).ok_or_else(|| format!("unknown patch strategy '{v}'"))?;
                self.element_setter(p, None, &["$patch".into()], std::slice::from_ref(&v))?;
                Ok(d)
            }
            Kind::Scalar => Err(format!(
                "no implemented strategic merge patch strategy for '{}' ('{}')",
                self.short_tag(p),
                self.yaml_string(p)
            )),
        }
    }

    fn short_tag(&self, id: Id) -> &'static str {
        match &self.n[id].scalar {
            Scalar::Null => "!!null",
            Scalar::Bool(_) => "!!bool",
            Scalar::Num(n) if n.is_f64() => "!!float",
            Scalar::Num(_) => "!!int",
            _ => "!!str",
        }
    }

    /// `Merger.VisitMap`.
    fn visit_map(&mut self, dest: Option<Id>, origin: Option<Id>) -> Result<Option<Id>, String> {
        if self.missing_or_null(dest) {
            // Add (a directive error on a scalar origin is ignored here, as in kyaml)
            if self.directive(origin).ok() == Some(Directive::Delete) {
                return Ok(None);
            }
            if origin.is_none()
                && let Some(d) = dest
                && !self.value_str(d).is_empty()
            {
                let n = self.scalar(Scalar::Null);
                self.n[n].keep = true;
                return Ok(Some(n));
            }
            return Ok(origin);
        }
        if origin.is_some_and(|o| self.is_tagged_null(o)) {
            return Ok(None);
        }
        Ok(match self.directive(origin)? {
            Directive::Delete => None,
            Directive::Replace => origin,
            Directive::Merge => dest,
        })
    }

    /// `Walker.walkMap`: the fields of all sources in sorted order, each walked and set on
    /// the node VisitMap returned.
    fn walk_map(
        &mut self,
        dest: Option<Id>,
        origin: Option<Id>,
        schema: Schema,
    ) -> Result<Option<Id>, String> {
        let Some(new_dest) = self.visit_map(dest, origin)? else {
            return Ok(None);
        };
        let sources = [Some(new_dest), origin];
        let mut names = BTreeSet::new();
        for s in sources.into_iter().flatten() {
            names.extend(self.fields(s));
        }
        for key in names {
            let fd = self.field_value(sources[0], &key);
            let fo = self.field_value(sources[1], &key);
            let val = self.walk(fd, fo, schema.field(&key))?;
            self.set_field(new_dest, &key, val);
        }
        Ok(Some(new_dest))
    }

    /// `Walker.walkAssociativeSequence` with the keys of the schema.
    fn walk_associative(
        &mut self,
        dest: Option<Id>,
        origin: Option<Id>,
        schema: Schema,
        keys: Vec<String>,
    ) -> Result<Option<Id>, String> {
        // Merger.VisitList for an associative list
        let new_dest = if self.missing_or_null(dest) {
            origin
        } else if origin.is_some_and(|o| self.is_tagged_null(o)) {
            None
        } else {
            match self.directive(origin)? {
                Directive::Delete => None,
                Directive::Replace => origin,
                Directive::Merge => dest,
            }
        };
        let Some(new_dest) = new_dest else {
            return Ok(None);
        };
        let sources = [Some(new_dest), origin];
        let values = self.element_values(sources, &keys);
        if !values.is_empty() || !keys.is_empty() {
            return self.set_associative_elements(sources, &schema, values, keys);
        }
        let prim = self.element_primitive_values(sources);
        self.set_associative_elements(sources, &schema, prim, vec![String::new()])
    }

    /// `elementValues`: each element's key values, the patch's elements first (prepend).
    fn element_values(&self, sources: [Option<Id>; 2], keys: &[String]) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        for src in [sources[1], sources[0]].into_iter().flatten() {
            if self.kind(src) != Kind::Seq {
                continue;
            }
            for &e in &self.n[src].content {
                let vals: Vec<String> = keys
                    .iter()
                    .map(|k| match self.field_value(Some(e), k) {
                        Some(v) if !self.nil_or_empty(Some(v)) => self.value_str(v),
                        _ => String::new(),
                    })
                    .collect();
                if vals.is_empty() || out.contains(&vals) {
                    continue;
                }
                out.push(vals);
            }
        }
        out
    }

    fn element_primitive_values(&self, sources: [Option<Id>; 2]) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        let mut seen = BTreeSet::new();
        for src in [sources[1], sources[0]].into_iter().flatten() {
            for &e in &self.n[src].content {
                let v = self.value_str(e);
                if seen.insert(v.clone()) {
                    out.push(vec![v]);
                }
            }
        }
        out
    }

    /// `MatchElementList` (`RNode.ElementList`): the first element matching all key values.
    fn element_list(&self, seq: Option<Id>, keys: &[String], values: &[String]) -> Option<Id> {
        let seq = seq?;
        if self.kind(seq) != Kind::Seq {
            return None;
        }
        let mut keys = keys.to_vec();
        let mut values = values.to_vec();
        if keys.is_empty() {
            keys.push(String::new());
        }
        if values.is_empty() {
            values.push(String::new());
        }
        if keys[0].is_empty() {
            return self.n[seq]
                .content
                .iter()
                .copied()
                .find(|e| self.value_str(*e) == values[0]);
        }
        if keys.len() != values.len() {
            return None;
        }
        self.n[seq].content.iter().copied().find(|&e| {
            self.is_map(e)
                && keys.iter().zip(&values).all(|(k, v)| {
                    self.field_value(Some(e), k)
                        .is_some_and(|fv| self.value_str(fv) == *v)
                })
        })
    }

    /// `Walker.setAssociativeSequenceElements`.
    fn set_associative_elements(
        &mut self,
        sources: [Option<Id>; 2],
        schema: &Schema,
        mut values_list: Vec<Vec<String>>,
        keys: Vec<String>,
    ) -> Result<Option<Id>, String> {
        let dest = sources[0].expect("associative walk has a destination");
        let items = self.coll(Kind::Seq, Vec::new());
        let elem_schema = schema.elements();
        if keys.len() > 1 {
            merge_values(&mut values_list);
        }
        let mut valid_keys: Vec<String> = Vec::new();
        for values in values_list.clone() {
            if values.is_empty() {
                continue;
            }
            let (vk, vv) = validate_keys(&values_list, &values, &keys);
            valid_keys = vk.clone();
            let (ek, ev) = validate_keys(std::slice::from_ref(&vv), &vv, &vk);
            let fd = self.element_list(sources[0], &ek, &ev);
            let fo = self.element_list(sources[1], &ek, &ev);
            let val = self.walk(fd, fo, elem_schema.clone())?;
            let mut exit = false;
            for (i, key) in vk.iter().enumerate() {
                if self.is_empty_map(val) {
                    self.element_setter(dest, None, &vk, &vv)?;
                    exit = true;
                } else if let Some(v) = val
                    && self.field(v, key).is_none()
                    && vv.get(i).is_some_and(|s| !s.is_empty())
                {
                    let s = self.scalar(Scalar::Plain(vv[i].clone()));
                    self.set_field(v, key, Some(s));
                }
            }
            if exit {
                continue;
            }
            self.element_setter(items, val, &vk, &vv)?;
        }
        let mut result = dest;
        if !values_list.is_empty() {
            // the patch's items come first: the destination's are set onto them
            result = self.append_list_node(items, dest, &valid_keys)?;
        }
        if self.missing_or_null(Some(result)) {
            return Ok(None);
        }
        Ok(Some(result))
    }

    /// `appendListNode(dst, src, keys)`.
    fn append_list_node(&mut self, dst: Id, src: Id, keys: &[String]) -> Result<Id, String> {
        let first = keys.first().cloned().unwrap_or_default();
        for elem in self.n[src].content.clone() {
            if first.is_empty() {
                let v = self.value_str(elem);
                self.element_setter(dst, Some(elem), &[String::new()], &[v])?;
                continue;
            }
            let mut v = Vec::new();
            for key in keys {
                if self.is_tagged_null(elem) {
                    self.n[dst].content.push(elem);
                    continue;
                }
                self.error_if_invalid(Some(elem), Kind::Map)?;
                match self.field_value(Some(elem), key) {
                    None => {
                        // no key found, directly append to dst
                        self.error_if_invalid(Some(dst), Kind::Seq)?;
                        self.n[dst].content.push(elem);
                    }
                    Some(val) => v.push(self.value_str(val)),
                }
            }
            if keys.len() > 1 {
                self.element_setter(dst, None, keys, &v)?;
            }
            self.element_setter(dst, Some(elem), keys, &v)?;
        }
        Ok(dst)
    }

    /// `FieldMatcher{Name, StringValue}` on an element (ElementSetter's matching).
    fn field_matcher(&self, elem: Id, name: &str, value: &str) -> Result<Option<Id>, String> {
        if self.is_tagged_null(elem) {
            return Ok(None);
        }
        if name.is_empty() {
            self.error_if_invalid(Some(elem), Kind::Scalar)?;
            return Ok((self.value_str(elem) == value).then_some(elem));
        }
        self.error_if_invalid(Some(elem), Kind::Map)?;
        let mut found = None;
        for kv in self.n[elem].content.chunks(2) {
            if kv.len() == 2
                && self.value_str(kv[0]) == name
                && (value.is_empty() || self.value_str(kv[1]) == value)
            {
                found = Some(kv[1]);
            }
        }
        Ok(found)
    }

    /// `ElementSetter{Element, Keys, Values}`: replaces the elements matching every key value
    /// with `element`, removes them when `element` is None, appends `element` when none
    /// matched. Null and empty-map elements are dropped on the way.
    fn element_setter(
        &mut self,
        seq: Id,
        element: Option<Id>,
        keys: &[String],
        values: &[String],
    ) -> Result<Option<Id>, String> {
        let keys: Vec<String> = if keys.is_empty() {
            vec![String::new()]
        } else {
            keys.to_vec()
        };
        self.error_if_invalid(Some(seq), Kind::Seq)?;
        let mapping_setter = !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
        let mut new_content = Vec::new();
        let mut matched = false;
        for elem in self.n[seq].content.clone() {
            if self.is_empty_map(Some(elem)) {
                continue;
            }
            if !self.is_map(elem) && mapping_setter {
                new_content.push(elem);
                continue;
            }
            let mut val = None;
            let mut found = true;
            for (j, key) in keys.iter().enumerate() {
                if let Some(v) = values.get(j) {
                    val = self.field_matcher(elem, key, v)?;
                }
                if val.is_none() {
                    found = false;
                    break;
                }
            }
            if !found {
                if !values.is_empty() {
                    new_content.push(elem);
                }
                continue;
            }
            matched = true;
            if let Some(e) = element {
                new_content.push(e);
            }
        }
        self.n[seq].content = new_content;
        let Some(e) = element.filter(|e| !self.is_tagged_null(*e)) else {
            return Ok(None);
        };
        if !matched {
            self.n[seq].content.push(e);
        }
        Ok(Some(e))
    }
}

/// kyaml `validateKeys`: keep the keys some element has a value for.
fn validate_keys(
    values_list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut valid = BTreeSet::new();
    for vals in values_list {
        for (i, v) in vals.iter().enumerate() {
            if !v.is_empty()
                && let Some(k) = keys.get(i)
            {
                valid.insert(k.clone());
            }
        }
    }
    if valid.is_empty() {
        return (keys.to_vec(), values.to_vec());
    }
    let vk = keys.iter().filter(|k| valid.contains(*k)).cloned().collect();
    let vv = values
        .iter()
        .enumerate()
        .filter(|(i, v)| !v.is_empty() || keys.get(*i).is_some_and(|k| valid.contains(k)))
        .map(|(_, v)| v.clone())
        .collect();
    (vk, vv)
}

/// kyaml `mergeValues`: key tuples that only differ where one side is empty are one element.
fn merge_values(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        let v1 = list[i].clone();
        for j in 0..list.len() {
            let v2 = list[j].clone();
            if let Some(res) = match_values(&v1, &v2) {
                list[i] = res.clone();
                list[j] = res;
            }
        }
    }
}

fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut res = Vec::new();
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            res.push(x.clone());
            continue;
        }
        if !x.is_empty() && !y.is_empty() {
            return None;
        }
        res.push(if x.is_empty() { y.clone() } else { x.clone() });
    }
    common.then_some(res)
}

// ---------------------------------------------------------------------------------------------
// patchStrategicMerge

/// Kyverno's `patchStrategicMerge` of `patch` (the rule's overlay, variables already
/// substituted) onto `resource` (a whole object: its apiVersion/kind choose the schema).
///
/// A conditional or global anchor that does not hold at the top level makes the patch `{}`:
/// the resource comes back unchanged (the caller reports `no patches applied`). Other
/// preprocessing errors are `failed to preProcess rule: <err>`; merge errors are kyaml's
/// (`wrong node kind: expected MappingNode but got ScalarNode: node contents:\n...`,
/// `unknown patch strategy 'x'`, `filter cannot create or delete objects` when the overlay
/// deletes the whole object).
///
/// The result is JSON as kyaml writes it back (keys sorted). Known differences from Kyverno:
/// kyaml's node texts in errors are approximated (flow style, as nodes parsed from JSON print);
/// kyaml would type a nested object by its own apiVersion/kind where its schema has a gap
/// (e.g. inside `RawExtension`) — here a known type's unknown fields are schema-less for
/// lists (replaced) and never retyped; the merge-key inference kyaml has for schemas with a
/// strategy but no key is not needed by the built-in schema and not ported.
pub fn strategic_merge(resource: &Value, patch: &Value) -> Result<Value, String> {
    let mut t = Tree::default();
    let res = t.add_value(resource);
    let mut overlay = t.add_value(patch);
    match t.pre_process_pattern(overlay, Some(res)) {
        Ok(()) => {}
        Err(PreErr::Condition(_) | PreErr::Global(_)) => overlay = t.coll(Kind::Map, Vec::new()),
        Err(e) => return Err(format!("failed to preProcess rule: {}", e.text())),
    }
    match t.walk(Some(res), Some(overlay), Schema::Unknown)? {
        Some(out) => Ok(t.to_value(out)),
        None => Err("filter cannot create or delete objects".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// patchesJson6902 — evanphx/json-patch v5.9.11 (v5/patch.go)

const MISSING: &str = "missing value";
const INVALID_INDEX: &str = "invalid index referenced";
const INVALID: &str = "invalid state detected";

/// Kyverno's `patchesJson6902`: `patch` is the rule's string, a YAML or JSON list of
/// operations (`patchesUtils.go` convertPatchesToJSON: a string starting with `[` is taken as
/// JSON, anything else goes through YAML→JSON first), applied with SupportNegativeIndices,
/// AllowMissingPathOnRemove and EnsurePathExistsOnAdd (`patchJSON6902.go:138`).
///
/// Errors: `failed to convert patchesJSON6902 to JSON: <yaml error>` (the YAML parser's
/// text is serde-saphyr's, not sigs.k8s.io/yaml's), `failed to decode patches: <err>`
/// (invalid JSON is `invalid state detected`; a wrong shape is Go's
/// `json: cannot unmarshal ... into Go value of type ...`; a bad operation is
/// `invalid operation {"op":...}: unsupported operation` and the like), then evanphx's
/// texts per operation (`add operation does not apply: doc is missing path: "/x": missing
/// value`, `testing value /x failed: test failed`, ...).
///
/// The patch is taken as the string it is in the rule (the task sketch had `&Value`). The YAML
/// is read as YAML 1.2 (serde-saphyr), where sigs.k8s.io/yaml reads YAML 1.1: an unquoted
/// `yes`/`no`/`on`/`off` value stays a string here.
pub fn json6902(resource: &Value, patch: &str) -> Result<Value, String> {
    let json: Value = if patch.starts_with('[') {
        serde_json::from_str(patch).map_err(|_| format!("failed to decode patches: {INVALID}"))?
    } else if patch.is_empty() {
        return Err(format!("failed to decode patches: {INVALID}"));
    } else {
        serde_saphyr::from_str::<Value>(patch)
            .map_err(|e| format!("failed to convert patchesJSON6902 to JSON: {e}"))?
    };
    let ops = decode_patch(&json).map_err(|e| format!("failed to decode patches: {e}"))?;
    let mut doc = resource.clone();
    for op in &ops {
        apply_op(&mut doc, op)?;
    }
    Ok(doc)
}

fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `DecodePatch`: a list of operation objects, each validated.
fn decode_patch(json: &Value) -> Result<Vec<Map<String, Value>>, String> {
    let list = match json {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                go_json_type(other)
            ));
        }
    };
    let mut ops = Vec::new();
    for item in list {
        let op = match item {
            Value::Object(m) => m.clone(),
            Value::Null => Map::new(),
            other => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                    go_json_type(other)
                ));
            }
        };
        if let Err(e) = validate_operation(&op) {
            let data = if item.is_null() {
                "null".to_string()
            } else {
                go_compact(item)
            };
            return Err(format!("invalid operation {data}: {e}"));
        }
        ops.push(op);
    }
    Ok(ops)
}

/// json.Marshal of an Operation (a Go map of raw messages): keys sorted, HTML escaped.
fn go_compact(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let top = match v {
        // the operation itself is a map: sorted; its values are raw messages, kept as written
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), m[k].clone());
            }
            Value::Object(out)
        }
        other => sorted(other),
    };
    top.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn op_kind(op: &Map<String, Value>) -> String {
    match op.get("op") {
        Some(Value::String(s)) => s.clone(),
        _ => "unknown".into(),
    }
}

/// `Operation.Path()` / `From()`.
fn op_string(op: &Map<String, Value>, field: &str, missing: &str) -> Result<String, String> {
    match op.get(field) {
        None | Some(Value::Null) => Err(format!("{missing}: {MISSING}")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go value of type string",
            go_json_type(other)
        )),
    }
}
fn op_path(op: &Map<String, Value>) -> Result<String, String> {
    op_string(op, "path", "operation missing path field")
}
fn op_from(op: &Map<String, Value>) -> Result<String, String> {
    op_string(op, "from", "operation, missing from field")
}
fn op_value(op: &Map<String, Value>) -> Value {
    op.get("value").cloned().unwrap_or(Value::Null)
}

fn validate_operation(op: &Map<String, Value>) -> Result<(), String> {
    match op_kind(op).as_str() {
        "add" | "replace" => {
            if !op.contains_key("value") {
                return Err(format!(
                    "failed to decode 'value': operation, missing value field: {MISSING}"
                ));
            }
        }
        "move" | "copy" => {
            op_from(op).map_err(|e| format!("failed to decode 'from': {e}"))?;
        }
        "remove" | "test" => {}
        _ => return Err("unsupported operation".into()),
    }
    op_path(op).map_err(|e| format!("failed to decode 'path': {e}"))?;
    Ok(())
}

fn decode_key(k: &str) -> String {
    k.replace("~1", "/").replace("~0", "~")
}

/// Go's `strconv.Atoi` error text.
fn atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(s)));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

fn go_quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A resolved step from the document root to a container.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Idx(usize),
}

fn at_mut<'a>(doc: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    let mut cur = doc;
    for s in steps {
        cur = match (s, cur) {
            (Step::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Step::Idx(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn at<'a>(doc: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let mut cur = doc;
    for s in steps {
        cur = match (s, cur) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Idx(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `container.get(key)`: the step to the child, or the error (None = the container itself).
fn container_get(c: &Value, key: &str) -> Result<Option<Step>, String> {
    match c {
        Value::Object(m) => {
            if key.is_empty() {
                return Ok(None);
            }
            if m.contains_key(key) {
                Ok(Some(Step::Key(key.to_string())))
            } else {
                Err(format!("unable to get nonexistent key: {key}: {MISSING}"))
            }
        }
        Value::Array(a) => {
            if key.is_empty() {
                return Ok(None);
            }
            let mut idx = atoi(key)?;
            let len = a.len() as i64;
            if idx < 0 {
                if idx < -len {
                    return Err(format!("Unable to access invalid index: {idx}: {INVALID_INDEX}"));
                }
                idx += len;
            }
            if idx >= len {
                return Err(format!("Unable to access invalid index: {idx}: {INVALID_INDEX}"));
            }
            Ok(Some(Step::Idx(idx as usize)))
        }
        _ => Err("invalid value, expected object".into()),
    }
}

/// `container.add(key, val)`.
fn container_add(c: &mut Value, key: &str, val: Value) -> Result<(), String> {
    match c {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(val);
                return Ok(());
            }
            let mut idx =
                atoi(key).map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
            let sz = a.len() as i64 + 1;
            if idx >= sz {
                return Err(format!("Unable to access invalid index: {idx}: {INVALID_INDEX}"));
            }
            if idx < 0 {
                if idx < -sz {
                    return Err(format!("Unable to access invalid index: {idx}: {INVALID_INDEX}"));
                }
                idx += sz;
            }
            a.insert(idx as usize, val);
            Ok(())
        }
        _ => Err("invalid value, expected object".into()),
    }
}

/// `container.remove(key)` with AllowMissingPathOnRemove.
fn container_remove(c: &mut Value, key: &str) -> Result<(), String> {
    match c {
        Value::Object(m) => {
            m.shift_remove(key);
            Ok(())
        }
        Value::Array(a) => {
            let mut idx = atoi(key)?;
            let len = a.len() as i64;
            if idx >= len {
                return Ok(());
            }
            if idx < 0 {
                if idx < -len {
                    return Ok(());
                }
                idx += len;
            }
            a.remove(idx as usize);
            Ok(())
        }
        _ => Err("invalid value, expected object".into()),
    }
}

/// `container.set(key, val)` (replace, after a successful get).
fn container_set(c: &mut Value, key: &str, val: Value) -> Result<(), String> {
    match c {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            let mut idx = atoi(key)?;
            let len = a.len() as i64;
            if idx < 0 {
                if idx < -len {
                    return Err(format!("Unable to access invalid index: {idx}: {INVALID_INDEX}"));
                }
                idx += len;
            }
            match a.get_mut(idx as usize) {
                Some(slot) => {
                    *slot = val;
                    Ok(())
                }
                None => Err(format!("Unable to access invalid index: {idx}: {INVALID_INDEX}")),
            }
        }
        _ => Err("invalid value, expected object".into()),
    }
}

/// `findObject`: the container of the path's last token, and that token decoded.
fn find_object(doc: &Value, path: &str) -> Option<(Vec<Step>, String)> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return (path.is_empty()).then(|| (Vec::new(), String::new()));
    }
    let mut steps = Vec::new();
    for part in &split[1..split.len() - 1] {
        let cur = at(doc, &steps)?;
        let step = container_get(cur, &decode_key(part)).ok()?;
        if let Some(s) = step {
            steps.push(s);
        }
        match at(doc, &steps)? {
            Value::Object(_) | Value::Array(_) => {}
            _ => return None,
        }
    }
    Some((steps, decode_key(split[split.len() - 1])))
}

/// The most nulls `ensure_path_exists` pads an array with. evanphx pads without a bound (an
/// index like `/a/99999999999/b` makes Kyverno exhaust its memory); the API server takes no
/// request body over 3 MiB, so no storable object has an array this long.
const MAX_PAD: i64 = 1 << 20;

fn pad_limit(idx: i64) -> Result<(), String> {
    if idx > MAX_PAD {
        return Err(format!(
            "Unable to ensure path for index {idx}: more than {MAX_PAD} elements: {INVALID_INDEX}"
        ));
    }
    Ok(())
}

/// `ensurePathExists`: creates the missing parents of an `add` path, arrays where the next
/// token is a number or `-`, objects otherwise. A parent it cannot attach (an array asked for
/// a non-numeric key) is created detached, as evanphx ignores that error; the add then fails.
/// Arrays are padded with at most [`MAX_PAD`] nulls (an error past that, where evanphx has no
/// bound).
fn ensure_path_exists(doc: &mut Value, path: &str) -> Result<(), String> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return Ok(());
    }
    let parts = &split[1..];
    let mut steps: Vec<Step> = Vec::new();
    for (pi, part) in parts.iter().enumerate() {
        if pi == parts.len() - 1 {
            return Ok(());
        }
        let Some(cur) = at_mut(doc, &steps) else {
            return Ok(());
        };
        // a null value reads as missing (evanphx decodes it to a nil node)
        let found = match container_get(cur, &decode_key(part)) {
            Ok(None) => Some(None),
            Ok(Some(s)) if !at(cur, std::slice::from_ref(&s)).is_some_and(Value::is_null) => Some(Some(s)),
            _ => None,
        };
        match found {
            Some(step) => {
                if let Some(s) = step {
                    steps.push(s);
                }
                match at(doc, &steps) {
                    Some(Value::Object(_) | Value::Array(_)) => {}
                    _ => return Err(INVALID.into()),
                }
            }
            None => {
                if let Ok(idx) = atoi(part)
                    && let Value::Array(a) = &mut *cur
                    && idx > a.len() as i64
                {
                    pad_limit(idx)?;
                    while (a.len() as i64) < idx {
                        a.push(Value::Null);
                    }
                }
                let next = parts[pi + 1];
                let next_idx = atoi(next);
                let new = if next_idx.is_ok() || next == "-" {
                    let mut n = next_idx.unwrap_or(0);
                    if n < 0 {
                        if n < -1 {
                            return Err(format!(
                                "Unable to ensure path for negative index other than -1: {n}: {INVALID_INDEX}"
                            ));
                        }
                        n = 0;
                    }
                    pad_limit(n)?;
                    Value::Array(vec![Value::Null; n as usize])
                } else {
                    Value::Object(Map::new())
                };
                // evanphx adds the raw (still escaped) token here
                let len_before = if let Value::Array(a) = &*cur { a.len() } else { 0 };
                if container_add(cur, part, new).is_err() {
                    return Ok(());
                }
                let step = match &*cur {
                    Value::Array(a) => {
                        let idx = atoi(part).unwrap_or(0);
                        let sz = len_before as i64 + 1;
                        let i = if *part == "-" {
                            a.len() - 1
                        } else if idx < 0 {
                            (idx + sz) as usize
                        } else {
                            idx as usize
                        };
                        Step::Idx(i)
                    }
                    _ => Step::Key(part.to_string()),
                };
                steps.push(step);
            }
        }
    }
    Ok(())
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.to_string() == y.to_string(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| json_equal(v, w))
        }
        _ => a == b,
    }
}

fn apply_op(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let kind = op_kind(op);
    match kind.as_str() {
        "add" => {
            let path = op_path(op).map_err(|_| format!("add operation failed to decode path: {MISSING}"))?;
            let value = op_value(op);
            if path.is_empty() {
                if !matches!(value, Value::Object(_) | Value::Array(_)) {
                    return Err(format!(
                        "json: cannot unmarshal {} into Go value of type map[string]*jsonpatch.lazyNode",
                        go_json_type(&value)
                    ));
                }
                *doc = value;
                return Ok(());
            }
            ensure_path_exists(doc, &path)?;
            let Some((steps, key)) = find_object(doc, &path) else {
                return Err(format!(
                    "add operation does not apply: doc is missing path: \"{path}\": {MISSING}"
                ));
            };
            let con = at_mut(doc, &steps).expect("found container");
            container_add(con, &key, value).map_err(|e| format!("error in add for path: '{path}': {e}"))
        }
        "remove" => {
            let path =
                op_path(op).map_err(|_| format!("remove operation failed to decode path: {MISSING}"))?;
            let Some((steps, key)) = find_object(doc, &path) else {
                return Ok(());
            };
            let con = at_mut(doc, &steps).expect("found container");
            container_remove(con, &key).map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "replace" => {
            let path = op_path(op).map_err(|e| format!("replace operation failed to decode path: {e}"))?;
            let value = op_value(op);
            if path.is_empty() {
                if !matches!(value, Value::Object(_) | Value::Array(_)) {
                    return Err("replace operation value must be object or array: %!w(<nil>)".into());
                }
                *doc = value;
                return Ok(());
            }
            let Some((steps, key)) = find_object(doc, &path) else {
                return Err(format!(
                    "replace operation does not apply: doc is missing path: {path}: {MISSING}"
                ));
            };
            let con = at_mut(doc, &steps).expect("found container");
            if container_get(con, &key).is_err() {
                return Err(format!(
                    "replace operation does not apply: doc is missing key: {path}: {MISSING}"
                ));
            }
            container_set(con, &key, value).map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "move" => {
            let from = op_from(op).map_err(|e| format!("move operation failed to decode from: {e}"))?;
            if from.is_empty() {
                return Err(format!(
                    "unable to move entire document to another path: {INVALID}"
                ));
            }
            let Some((steps, key)) = find_object(doc, &from) else {
                return Err(format!(
                    "move operation does not apply: doc is missing from path: {from}: {MISSING}"
                ));
            };
            let con = at_mut(doc, &steps).expect("found container");
            let val = match container_get(con, &key)
                .map_err(|e| format!("error in move for path: '{key}': {e}"))?
            {
                Some(s) => at(con, std::slice::from_ref(&s)).cloned().unwrap_or(Value::Null),
                None => con.clone(),
            };
            container_remove(con, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let path = op_path(op).map_err(|e| format!("move operation failed to decode path: {e}"))?;
            let Some((steps, key)) = find_object(doc, &path) else {
                return Err(format!(
                    "move operation does not apply: doc is missing destination path: {path}: {MISSING}"
                ));
            };
            let con = at_mut(doc, &steps).expect("found container");
            container_add(con, &key, val).map_err(|e| format!("error in move for path: '{path}': {e}"))
        }
        "copy" => {
            let from = op_from(op).map_err(|e| format!("copy operation failed to decode from: {e}"))?;
            let Some((steps, key)) = find_object(doc, &from) else {
                return Err(format!(
                    "copy operation does not apply: doc is missing from path: \"{from}\": {MISSING}"
                ));
            };
            let con = at(doc, &steps).expect("found container");
            let val = match container_get(con, &key)
                .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
            {
                Some(s) => at(con, std::slice::from_ref(&s)).cloned().unwrap_or(Value::Null),
                None => con.clone(),
            };
            let path = op_path(op).map_err(|_| format!("copy operation failed to decode path: {MISSING}"))?;
            let Some((steps, key)) = find_object(doc, &path) else {
                return Err(format!(
                    "copy operation does not apply: doc is missing destination path: {path}: {MISSING}"
                ));
            };
            let con = at_mut(doc, &steps).expect("found container");
            container_add(con, &key, val).map_err(|e| format!("error while adding value during copy: {e}"))
        }
        "test" => {
            let path = op_path(op).map_err(|e| format!("test operation failed to decode path: {e}"))?;
            let expected = op_value(op);
            let failed = || format!("testing value {path} failed: test failed");
            if path.is_empty() {
                return if json_equal(doc, &expected) {
                    Ok(())
                } else {
                    Err(failed())
                };
            }
            let Some((steps, key)) = find_object(doc, &path) else {
                return Err(format!(
                    "test operation does not apply: is missing path: {path}: {MISSING}"
                ));
            };
            let con = at(doc, &steps).expect("found container");
            let val = match container_get(con, &key) {
                Ok(Some(s)) => at(con, std::slice::from_ref(&s)).filter(|v| !v.is_null()),
                Ok(None) => Some(con),
                // a missing key (ErrMissing) reads as no value
                Err(e) if e.starts_with("unable to get nonexistent key") => None,
                Err(e) => return Err(format!("error in test for path: '{path}': {e}")),
            };
            match val {
                None if expected.is_null() => Ok(()),
                None => Err(failed()),
                Some(_) if expected.is_null() => Err(failed()),
                Some(v) if json_equal(v, &expected) => Ok(()),
                Some(_) => Err(failed()),
            }
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The admission response patch — gomodules.xyz/jsonpatch/v2 CreatePatch

/// The RFC 6902 operations gomodules.xyz/jsonpatch/v2 (v2.5.0, `v2/jsonpatch.go`) computes
/// from `before` to `after`, each `{"op","path"[,"value"]}` (`value` always present for add
/// and replace, absent for remove).
///
/// Maps: every key of `after` (added → `add`, present → compared recursively), then every key
/// of `before` missing from `after` → `remove`. Go iterates maps in random order; here keys
/// are taken in document order. Arrays: indexes past the new length removed from the last
/// down, then the new tail added, then common indexes compared (no edit-distance: inserting
/// at the front rewrites the following elements). A change of type (including from or to
/// null) is a `replace`; numbers compare as float64.
pub fn json_patch_diff(before: &Value, after: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    if before != after {
        handle_values(before, after, "", &mut ops);
    }
    ops
}

fn make_path(path: &str, part: &str) -> String {
    format!("{path}/{}", part.replace('~', "~0").replace('/', "~1"))
}

fn patch_op(op: &str, path: String, value: Option<&Value>) -> Value {
    let mut m = Map::new();
    m.insert("op".into(), Value::String(op.into()));
    m.insert("path".into(), Value::String(path));
    if let Some(v) = value {
        m.insert("value".into(), v.clone());
    }
    Value::Object(m)
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn handle_values(a: &Value, b: &Value, p: &str, ops: &mut Vec<Value>) {
    if a.is_null() && b.is_null() {
        return;
    }
    if !same_type(a, b) {
        ops.push(patch_op("replace", p.to_string(), Some(b)));
        return;
    }
    match (a, b) {
        (Value::Object(am), Value::Object(bm)) => {
            for (k, bv) in bm {
                let path = make_path(p, k);
                match am.get(k) {
                    None => ops.push(patch_op("add", path, Some(bv))),
                    Some(av) => handle_values(av, bv, &path, ops),
                }
            }
            for k in am.keys() {
                if !bm.contains_key(k) {
                    ops.push(patch_op("remove", make_path(p, k), None));
                }
            }
        }
        (Value::Array(aa), Value::Array(ba)) => {
            let n = aa.len().min(ba.len());
            for i in (n..aa.len()).rev() {
                ops.push(patch_op("remove", make_path(p, &i.to_string()), None));
            }
            for (i, v) in ba.iter().enumerate().skip(n) {
                ops.push(patch_op("add", make_path(p, &i.to_string()), Some(v)));
            }
            for i in 0..n {
                handle_values(&aa[i], &ba[i], &make_path(p, &i.to_string()), ops);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            if x.as_f64() != y.as_f64() {
                ops.push(patch_op("replace", p.to_string(), Some(b)));
            }
        }
        _ => {
            if a != b {
                ops.push(patch_op("replace", p.to_string(), Some(b)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(containers: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hello"}, "spec": {"containers": containers}})
    }

    // Kyverno pkg/engine/mutate/patch/patchesUtils_test.go baseBytes / overlayBytes.
    fn wordpress() -> (Value, Value) {
        let base = json!({
          "apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "wordpress", "labels": {"app": "wordpress"}},
          "spec": {"selector": {"matchLabels": {"app": "wordpress"}}, "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": {"app": "wordpress"}}, "spec": {
              "containers": [{"image": "wordpress:4.8-apache", "name": "wordpress",
                "ports": [{"containerPort": 80, "name": "wordpress"}],
                "volumeMounts": [{"name": "wordpress-persistent-storage", "mountPath": "/var/www/html"}]}],
              "volumes": [{"name": "wordpress-persistent-storage"}]}}}});
        let overlay = json!({
          "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "wordpress"},
          "spec": {"template": {"spec": {
            "initContainers": [{"name": "init-command", "image": "debian",
              "command": ["echo $(WORDPRESS_SERVICE)", "echo $(MYSQL_SERVICE)"]}],
            "containers": [{"name": "nginx", "image": "nginx"},
              {"name": "wordpress", "env": [{"name": "WORDPRESS_DB_HOST", "value": "$(MYSQL_SERVICE)"},
                {"name": "WORDPRESS_DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mysql-pass", "key": "password"}}}]}]}}}});
        (base, overlay)
    }

    // TestMergePatch case 1 (strategicMergePatch_test.go): containers merged by name, the
    // patch's new container first (kustomize prepends), initContainers added.
    #[test]
    fn smp_merges_containers_by_name_and_prepends_new_ones() {
        let (base, overlay) = wordpress();
        let out = strategic_merge(&base, &overlay).unwrap();
        let expected = json!({"apiVersion": "apps/v1","kind": "Deployment","metadata": {"name": "wordpress","labels": {"app": "wordpress"}},"spec": {"selector": {"matchLabels": {"app": "wordpress"}},"strategy": {"type": "Recreate"},"template": {"metadata": {"labels": {"app": "wordpress"}},"spec": {"containers": [{"name": "nginx","image": "nginx"},{"image": "wordpress:4.8-apache","name": "wordpress","ports": [{"containerPort": 80,"name": "wordpress"}],"volumeMounts": [{"name": "wordpress-persistent-storage","mountPath": "/var/www/html"}],"env": [{"name": "WORDPRESS_DB_HOST","value": "$(MYSQL_SERVICE)"},{"name": "WORDPRESS_DB_PASSWORD","valueFrom": {"secretKeyRef": {"name": "mysql-pass","key": "password"}}}]}],"volumes": [{"name": "wordpress-persistent-storage"}],"initContainers": [{"name": "init-command","image": "debian","command": ["echo $(WORDPRESS_SERVICE)","echo $(MYSQL_SERVICE)"]}]}}}});
        assert_eq!(out, expected);
        // Keys come back sorted, as kyaml's json.Marshal writes them.
        let keys: Vec<&String> = out["spec"]["template"]["spec"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["containers", "initContainers", "volumes"]);
    }

    // Test_GeneratePatches (patchesUtils_test.go): the admission patch of that merge.
    #[test]
    fn diff_of_the_wordpress_merge_is_kyvernos() {
        let (base, overlay) = wordpress();
        let out = strategic_merge(&base, &overlay).unwrap();
        let mut got: Vec<String> = json_patch_diff(&base, &out)
            .iter()
            .map(|o| o.to_string())
            .collect();
        got.sort();
        let mut expected = vec![
            r#"{"op":"add","path":"/spec/template/spec/initContainers","value":[{"command":["echo $(WORDPRESS_SERVICE)","echo $(MYSQL_SERVICE)"],"image":"debian","name":"init-command"}]}"#,
            r#"{"op":"add","path":"/spec/template/spec/containers/1","value":{"env":[{"name":"WORDPRESS_DB_HOST","value":"$(MYSQL_SERVICE)"},{"name":"WORDPRESS_DB_PASSWORD","valueFrom":{"secretKeyRef":{"key":"password","name":"mysql-pass"}}}],"image":"wordpress:4.8-apache","name":"wordpress","ports":[{"containerPort":80,"name":"wordpress"}],"volumeMounts":[{"mountPath":"/var/www/html","name":"wordpress-persistent-storage"}]}}"#,
            r#"{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx"}"#,
            r#"{"op":"replace","path":"/spec/template/spec/containers/0/name","value":"nginx"}"#,
            r#"{"op":"remove","path":"/spec/template/spec/containers/0/ports"}"#,
            r#"{"op":"remove","path":"/spec/template/spec/containers/0/volumeMounts"}"#,
        ];
        expected.sort();
        assert_eq!(got, expected);
        assert_eq!(apply_diff(&base, &out), out);
    }

    fn apply_diff(before: &Value, after: &Value) -> Value {
        let ops = Value::Array(json_patch_diff(before, after)).to_string();
        json6902(before, &ops).unwrap()
    }

    // website mutate.md "Strategic Merge Patch": a label and a new container with its fields.
    #[test]
    fn smp_adds_label_and_container() {
        let resource = pod(json!([{"name": "web", "image": "web:1"}]));
        let patch = json!({"metadata": {"labels": {"name": "hello"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:latest", "imagePullPolicy": "Never", "command": ["ls"]}]}});
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"name": "hello"}));
        assert_eq!(
            out["spec"]["containers"],
            json!([{"command": ["ls"], "image": "nginx:latest", "imagePullPolicy": "Never", "name": "nginx"},
                   {"image": "web:1", "name": "web"}])
        );
        assert_eq!(
            json_patch_diff(&resource, &out)[0],
            json!({"op": "add", "path": "/metadata/labels", "value": {"name": "hello"}})
        );
    }

    // website mutate.md "Add if not present anchor": existing fields stay, missing ones are added.
    #[test]
    fn smp_add_if_not_present_security_context() {
        let mut resource = pod(json!([{"name": "a", "image": "a"}]));
        resource["spec"]["securityContext"] = json!({"runAsUser": 5});
        let patch = json!({"spec": {"securityContext": {
            "+(runAsNonRoot)": true, "+(runAsUser)": 1000, "+(runAsGroup)": 3000, "+(fsGroup)": 2000}}});
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(
            out["spec"]["securityContext"],
            json!({"fsGroup": 2000, "runAsGroup": 3000, "runAsNonRoot": true, "runAsUser": 5})
        );
        // lfx-add-labels: the label is present, nothing changes.
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"lfx-mentorship": "other"}}});
        let patch = json!({"metadata": {"labels": {"+(lfx-mentorship)": "kyverno"}}});
        assert_eq!(strategic_merge(&cm, &patch).unwrap(), cm);
        cm["metadata"]["labels"] = json!({});
        assert_eq!(
            strategic_merge(&cm, &patch).unwrap()["metadata"]["labels"],
            json!({"lfx-mentorship": "kyverno"})
        );
    }

    // TestMergePatch case 2 (strategicMergePatch_test.go): a condition on the containers' image
    // holds for some element, so the rest of the patch applies.
    #[test]
    fn smp_conditional_anchor_on_container_image() {
        let resource = pod(json!([
            {"name": "hello", "image": "gcr.io/google-containers/busybox:latest"},
            {"name": "hello2", "image": "gcr.io/google-containers/busybox:latest"},
            {"name": "hello3", "image": "gcr.io/google-containers/nginx:latest"}]));
        let patch = json!({"spec": {"containers": [{"(image)": "gcr.io/google-containers/busybox:*"}],
            "imagePullSecrets": [{"name": "regcred"}]}});
        let out = strategic_merge(&resource, &patch).unwrap();
        let mut expected = resource.clone();
        expected["spec"]["imagePullSecrets"] = json!([{"name": "regcred"}]);
        assert_eq!(out, expected);
        // A condition that holds for no element is not an error: only that element drops out.
        let patch = json!({"spec": {"containers": [{"(image)": "quay.io/*", "imagePullPolicy": "Always"}]}});
        assert_eq!(strategic_merge(&resource, &patch).unwrap(), resource);
        // Per element: only the nginx container gets the field. Being in the patch, it moves
        // to the front (kyaml walk/associative_sequence.go: with ListIncreaseDirection Prepend
        // the patch's elements come first and the resource's are set onto them).
        let patch = json!({"spec": {"containers": [{"(image)": "*nginx*", "imagePullPolicy": "Always"}]}});
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(
            out["spec"]["containers"][0],
            json!({"image": "gcr.io/google-containers/nginx:latest", "imagePullPolicy": "Always", "name": "hello3"})
        );
        assert!(out["spec"]["containers"][1].get("imagePullPolicy").is_none());
        assert_eq!(out["spec"]["containers"][2]["name"], "hello2");
        assert_eq!(apply_diff(&resource, &out), out);
        // When the patched element is the first one, the patch is a single add.
        let resource = pod(json!([
            {"name": "hello3", "image": "gcr.io/google-containers/nginx:latest"},
            {"name": "hello", "image": "gcr.io/google-containers/busybox:latest"}]));
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(
            json_patch_diff(&resource, &out),
            vec![json!({"op": "add", "path": "/spec/containers/0/imagePullPolicy", "value": "Always"})]
        );
    }

    // Test_preProcessStrategicMergePatch_multipleAnchors (strategicPreprocessing_test.go) and
    // the docs' `(name): "*"` advice: every container and init container gets the fields.
    #[test]
    fn smp_name_wildcard_reaches_every_container() {
        let mut resource = pod(json!([
            {"name": "sleepy-container-1", "image": "docker.io/library/ubuntu"},
            {"name": "sleepy-container-2", "image": "docker.io/library/ubuntu"}]));
        resource["spec"]["initContainers"] =
            json!([{"name": "init-container-1", "image": "docker.io/library/ubuntu"}]);
        let sc = |cap: &str| json!({"+(allowPrivilegeEscalation)": false, "+(capabilities)": {"drop": [cap]}, "+(privileged)": false});
        let patch = json!({"spec": {
            "containers": [{"(name)": "*", "securityContext": sc("NET_CAP")}],
            "initContainers": [{"(name)": "*", "securityContext": sc("NET_ADMIN")}]}});
        let out = strategic_merge(&resource, &patch).unwrap();
        let want = |cap: &str| json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": [cap]}, "privileged": false});
        assert_eq!(out["spec"]["containers"][0]["securityContext"], want("NET_CAP"));
        assert_eq!(out["spec"]["containers"][1]["securityContext"], want("NET_CAP"));
        assert_eq!(
            out["spec"]["initContainers"][0]["securityContext"],
            want("NET_ADMIN")
        );
        assert_eq!(out["spec"]["containers"][0]["name"], "sleepy-container-1");
        assert_eq!(out["spec"]["containers"].as_array().unwrap().len(), 2);
        let ops = json_patch_diff(&resource, &out);
        assert_eq!(
            ops[0],
            json!({"op": "add", "path": "/spec/containers/0/securityContext", "value": want("NET_CAP")})
        );
        assert_eq!(ops.len(), 3);
    }

    // Derived from processListOfMaps: the pattern element is copied once and that copy is
    // resolved against each container in turn, so `+()` resolved for one container carries
    // over to the next.
    #[test]
    fn smp_add_if_not_present_in_list_shares_one_copy() {
        let patch =
            json!({"spec": {"containers": [{"(name)": "*", "securityContext": {"+(runAsNonRoot)": true}}]}});
        // The first container has the field: it is dropped from the shared copy, so the
        // second container gets nothing either.
        let resource = pod(json!([
            {"name": "a", "image": "a", "securityContext": {"runAsNonRoot": false}},
            {"name": "b", "image": "b"}]));
        assert_eq!(strategic_merge(&resource, &patch).unwrap(), resource);
        // The first lacks it: renamed to a plain field, which then also overrides the second's.
        let resource = pod(json!([
            {"name": "a", "image": "a"},
            {"name": "b", "image": "b", "securityContext": {"runAsNonRoot": false}}]));
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(
            out["spec"]["containers"][0]["securityContext"],
            json!({"runAsNonRoot": true})
        );
        assert_eq!(
            out["spec"]["containers"][1]["securityContext"],
            json!({"runAsNonRoot": true})
        );
    }

    // Test_NestedConditionals (strategicPreprocessing_test.go).
    #[test]
    fn smp_nested_conditional_with_add_if_not_present() {
        let resource = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"volumes": [{"emptyDir": {}, "name": "vol02"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {"volumes": [{"(emptyDir)": {"+(sizeLimit)": "20Mi"}, "name": "*"}]}}}});
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{"emptyDir": {"sizeLimit": "20Mi"}, "name": "vol02"}])
        );
    }

    // website mutate.md "Global Anchor" (add-imagepullsecrets).
    #[test]
    fn smp_global_anchor() {
        let patch = json!({"spec": {"containers": [{"<(image)": "corp.reg.com/*"}], "imagePullSecrets": [{"name": "my-secret"}]}});
        let resource = pod(json!([{"name": "web", "image": "corp.reg.com/nginx"}]));
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(out["spec"]["imagePullSecrets"], json!([{"name": "my-secret"}]));
        assert_eq!(out["spec"]["containers"], resource["spec"]["containers"]);
        // No container from corp.reg.com: the whole rule's patch is dropped.
        let resource = pod(json!([{"name": "web", "image": "docker.io/nginx"}]));
        assert_eq!(strategic_merge(&resource, &patch).unwrap(), resource);
    }

    // Test_GlobalCondition_Fail (strategicPreprocessing_test.go) and website "Processing flow
    // and combinations": a global anchor on a missing key drops the annotation too.
    #[test]
    fn smp_global_anchor_on_missing_list_drops_everything() {
        let resource = pod(json!([{"name": "nginx", "image": "nginx"}]));
        let patch = json!({"metadata": {"annotations": {"+(cluster-autoscaler.kubernetes.io/safe-to-evict)": "true"}},
            "spec": {"volumes": [{"<(emptyDir)": {}}]}});
        assert_eq!(strategic_merge(&resource, &patch).unwrap(), resource);
        let mut with_volume = resource.clone();
        with_volume["spec"]["volumes"] = json!([{"name": "v", "emptyDir": {}}]);
        let out = strategic_merge(&with_volume, &patch).unwrap();
        assert_eq!(
            out["metadata"]["annotations"],
            json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"})
        );
        assert_eq!(out["spec"]["volumes"], with_volume["spec"]["volumes"]);
    }

    #[test]
    fn smp_top_level_condition_is_no_patch() {
        // Test_NonExistingKeyMustFailPreprocessing: a condition on a missing key.
        let resource = pod(json!([{"name": "hello", "image": "busybox"}]));
        let patch = json!({"metadata": {"labels": {"(key1)": "value1"}},
            "spec": {"imagePullSecrets": [{"name": "regcred"}]}});
        assert_eq!(strategic_merge(&resource, &patch).unwrap(), resource);
        let mut t = Tree::default();
        let p = t.add_value(&patch);
        let r = t.add_value(&resource);
        assert_eq!(
            t.pre_process_pattern(p, Some(r)).unwrap_err().text(),
            "condition failed: could not found \"key1\" key in the resource"
        );
    }

    #[test]
    fn smp_directives_and_null() {
        let resource = pod(json!([{"name": "app", "image": "app"}, {"name": "sidecar", "image": "s"}]));
        let mut resource = resource;
        resource["metadata"]["labels"] = json!({"a": "1", "b": "2"});
        // $patch: delete removes the element with that key.
        let patch = json!({"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}});
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(
            out["spec"]["containers"],
            json!([{"image": "app", "name": "app"}])
        );
        assert_eq!(
            json_patch_diff(&resource, &out),
            vec![json!({"op": "remove", "path": "/spec/containers/1"})]
        );
        // null deletes a field; $patch: replace replaces a map.
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}, "annotations": null},
            "spec": {"containers": [{"name": "app", "image": null}]}});
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
        assert_eq!(out["spec"]["containers"][0], json!({"name": "app"}));
        // the list directive: replace the whole list
        let patch = json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]}});
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(out["spec"]["containers"], json!([{"image": "o", "name": "only"}]));
        let patch = json!({"metadata": {"labels": {"$patch": "frob"}}});
        assert_eq!(
            strategic_merge(&resource, &patch).unwrap_err(),
            "unknown patch strategy 'frob'"
        );
        assert_eq!(
            strategic_merge(&resource, &json!({"$patch": "delete"})).unwrap_err(),
            "filter cannot create or delete objects"
        );
    }

    #[test]
    fn smp_lists_without_merge_key_are_replaced() {
        let mut resource = pod(json!([{"name": "app", "image": "app", "args": ["a", "b"]}]));
        resource["spec"]["tolerations"] = json!([{"key": "k1", "operator": "Exists"}]);
        let patch = json!({"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}],
            "containers": [{"name": "app", "args": ["c"]}]}});
        let out = strategic_merge(&resource, &patch).unwrap();
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "k2", "operator": "Exists"}])
        );
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["c"]));
        // A custom resource has no schema: even a list of named maps is replaced.
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"items": [{"name": "a", "v": 1}]}});
        let out = strategic_merge(&cr, &json!({"spec": {"items": [{"name": "b"}]}})).unwrap();
        assert_eq!(out["spec"]["items"], json!([{"name": "b"}]));
    }

    #[test]
    fn smp_merge_keys_from_the_schema() {
        // Service ports merge on (port, protocol); finalizers merge as a set.
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "finalizers": ["a"]},
            "spec": {"ports": [{"port": 80, "protocol": "TCP", "name": "http"}]}});
        let patch = json!({"metadata": {"finalizers": ["b", "a"]},
            "spec": {"ports": [{"port": 443, "protocol": "TCP", "name": "https"}, {"port": 80, "protocol": "TCP", "targetPort": 8080}]}});
        let out = strategic_merge(&svc, &patch).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b", "a"]));
        assert_eq!(
            out["spec"]["ports"],
            json!([{"name": "https", "port": 443, "protocol": "TCP"},
                   {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}])
        );
        // Container ports without protocol still merge on containerPort; volumeMounts on mountPath.
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i",
                "ports": [{"containerPort": 80}], "volumeMounts": [{"name": "v", "mountPath": "/data"}]}]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c",
            "ports": [{"containerPort": 80, "name": "http"}], "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}]}}}});
        let out = strategic_merge(&dep, &patch).unwrap();
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["ports"], json!([{"containerPort": 80, "name": "http"}]));
        assert_eq!(
            c["volumeMounts"],
            json!([{"mountPath": "/data", "name": "v", "readOnly": true}])
        );
    }

    // kustomize api/v0.20.0 api/filters/patchstrategicmerge/patchstrategicmerge_test.go
    // ("merge list - directive", "list map keys - add a port, no names"): kyaml's merge alone.
    #[test]
    fn kyaml_merge_vectors() {
        let dep = |spec: Value| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": spec});
        let out = strategic_merge(
            &dep(json!({"template": {"spec": {"containers": [{"name": "test", "image": "test"}]}}})),
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "test2", "image": "test2"}, {"$patch": "merge"}]}}}}),
        )
        .unwrap();
        assert_eq!(
            out["spec"],
            json!({"template": {"spec": {"containers": [{"image": "test2", "name": "test2"}, {"image": "test", "name": "test"}]}}})
        );
        let c = |ports: Value| json!({"template": {"spec": {"containers": [{"image": "test-image", "name": "test-deployment", "ports": ports}]}}});
        let out = strategic_merge(
            &dep(c(json!([{"containerPort": 8080, "protocol": "TCP"}]))),
            &json!({"spec": c(json!([{"containerPort": 8080, "protocol": "UDP"}, {"containerPort": 80, "protocol": "UDP"}]))}),
        )
        .unwrap();
        assert_eq!(
            out["spec"],
            c(
                json!([{"containerPort": 8080, "protocol": "UDP"}, {"containerPort": 80, "protocol": "UDP"}, {"containerPort": 8080, "protocol": "TCP"}])
            )
        );
    }

    #[test]
    fn smp_errors() {
        let resource = pod(json!([{"name": "a", "image": "a"}]));
        assert_eq!(
            strategic_merge(&resource, &json!({"metadata": "x"})).unwrap_err(),
            "wrong node kind: expected MappingNode but got ScalarNode: node contents:\n\"x\"\n"
        );
        let mut labelled = resource.clone();
        labelled["metadata"]["labels"] = json!({"app": "x"});
        assert_eq!(
            strategic_merge(&labelled, &json!({"metadata": {"labels": [{"(app)": "x"}]}})).unwrap_err(),
            "failed to preProcess rule: wrong node kind: expected SequenceNode but got MappingNode: node contents:\n{\"app\": \"x\"}\n"
        );
    }

    // patchJSON6902_test.go TestTypeConversion: YAML operations, output keys in resource order.
    #[test]
    fn json6902_yaml_replace() {
        let resource = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "myDeploy"},
            "spec": {"replica": 2, "template": {"metadata": {"labels": {"old-label": "old-value"}},
                "spec": {"containers": [{"image": "nginx", "name": "nginx"}]}}}});
        let patch = "\n- op: replace\n  path: /spec/template/spec/containers/0/name\n  value: my-nginx\n";
        let out = json6902(&resource, patch).unwrap();
        assert_eq!(
            out.to_string(),
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"myDeploy"},"spec":{"replica":2,"template":{"metadata":{"labels":{"old-label":"old-value"}},"spec":{"containers":[{"image":"nginx","name":"my-nginx"}]}}}}"#
        );
    }

    // website mutate.md "RFC 6902 JSONPatch": adding under a missing parent, appending,
    // escaped keys, removing a missing path.
    #[test]
    fn json6902_documented_operations() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config-game"}});
        let patch = "- path: \"/data/ship.properties\"\n  op: add\n  value: |\n    type=starship\n    owner=utany.corp\n- path: \"/data/newKey1\"\n  op: add\n  value: newValue1\n";
        let out = json6902(&cm, patch).unwrap();
        assert_eq!(
            out["data"],
            json!({"ship.properties": "type=starship\nowner=utany.corp\n", "newKey1": "newValue1"})
        );

        let mut p = pod(json!([{"name": "a", "image": "a"}]));
        p["spec"]["tolerations"] = json!([{"key": "t0"}]);
        let out = json6902(
            &p,
            r#"[{"op":"add","path":"/spec/tolerations/-","value":{"key":"networkzone"}}]"#,
        )
        .unwrap();
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "t0"}, {"key": "networkzone"}])
        );
        // negative index -1 on add appends; on remove it is the last element
        let out = json6902(
            &p,
            r#"[{"op":"add","path":"/spec/containers/-1","value":{"name":"b"}}]"#,
        )
        .unwrap();
        assert_eq!(out["spec"]["containers"][1], json!({"name": "b"}));
        let out = json6902(&out, r#"[{"op":"remove","path":"/spec/containers/-1"}]"#).unwrap();
        assert_eq!(out["spec"]["containers"], json!([{"name": "a", "image": "a"}]));
        // insert-container: add at index 1, then a field of it
        let patch = "- op: add\n  path: \"/spec/containers/1\"\n  value:\n    name: busybox\n    image: busybox:latest\n- op: add\n  path: \"/spec/containers/1/command\"\n  value:\n  - ls\n";
        let out = json6902(&p, patch).unwrap();
        assert_eq!(
            out["spec"]["containers"][1],
            json!({"name": "busybox", "image": "busybox:latest", "command": ["ls"]})
        );

        let patch = "- op: add\n  path: /metadata/annotations/config.linkerd.io~1skip-outbound-ports\n  value: \"8200\"\n";
        let out = json6902(&p, patch).unwrap();
        assert_eq!(
            out["metadata"]["annotations"],
            json!({"config.linkerd.io/skip-outbound-ports": "8200"})
        );
        let out = json6902(&p, "- path: /metadata/labels/purpose\n  op: remove\n").unwrap();
        assert_eq!(out, p);
        // missing intermediate arrays are created and padded with nulls
        let out = json6902(
            &p,
            r#"[{"op":"add","path":"/spec/hostAliases/1/ip","value":"1.2.3.4"}]"#,
        )
        .unwrap();
        assert_eq!(out["spec"]["hostAliases"], json!([null, {"ip": "1.2.3.4"}]));
    }

    // evanphx v5.9.11 patch.go texts.
    #[test]
    fn json6902_errors() {
        let p = pod(json!([{"name": "a", "image": "a"}]));
        let run = |ops: &str| json6902(&p, ops).unwrap_err();
        assert_eq!(
            run(r#"[{"op":"test","path":"/metadata/name","value":"other"}]"#),
            "testing value /metadata/name failed: test failed"
        );
        assert!(json6902(&p, r#"[{"op":"test","path":"/metadata/name","value":"hello"}]"#).is_ok());
        assert_eq!(
            run(r#"[{"op":"test","path":"/x/y","value":1}]"#),
            "test operation does not apply: is missing path: /x/y: missing value"
        );
        assert_eq!(
            run(r#"[{"op":"replace","path":"/metadata/labels/x","value":"1"}]"#),
            "replace operation does not apply: doc is missing path: /metadata/labels/x: missing value"
        );
        assert_eq!(
            run(r#"[{"op":"replace","path":"/metadata/x","value":"1"}]"#),
            "replace operation does not apply: doc is missing key: /metadata/x: missing value"
        );
        assert_eq!(
            run(r#"[{"op":"add","path":"/spec/containers/5","value":{}}]"#),
            "error in add for path: '/spec/containers/5': Unable to access invalid index: 5: invalid index referenced"
        );
        assert_eq!(
            run(r#"[{"op":"add","path":"/spec/containers/x/name","value":"n"}]"#),
            "add operation does not apply: doc is missing path: \"/spec/containers/x/name\": missing value"
        );
        assert_eq!(
            run(r#"[{"op":"add","path":"/metadata/name/x","value":1}]"#),
            "invalid state detected"
        );
        assert_eq!(
            run(r#"[{"op":"move","from":"/nope/x","path":"/x"}]"#),
            "move operation does not apply: doc is missing from path: /nope/x: missing value"
        );
        assert_eq!(
            run(r#"[{"op":"move","from":"/nope","path":"/x"}]"#),
            "error in move for path: 'nope': unable to get nonexistent key: nope: missing value"
        );
        assert_eq!(
            run(r#"[{"path":"/x","op":"frob"}]"#),
            "failed to decode patches: invalid operation {\"op\":\"frob\",\"path\":\"/x\"}: unsupported operation"
        );
        assert_eq!(
            run(r#"[{"op":"add","path":"/x"}]"#),
            "failed to decode patches: invalid operation {\"op\":\"add\",\"path\":\"/x\"}: failed to decode 'value': operation, missing value field: missing value"
        );
        assert_eq!(
            run("[{op: add}]"),
            "failed to decode patches: invalid state detected"
        );
        assert_eq!(
            run("op: add\npath: /x\n"),
            "failed to decode patches: json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        );
        assert!(run("- op: [unclosed\n").starts_with("failed to convert patchesJSON6902 to JSON: "));
    }

    // Found by tests/fuzz.rs: an index in the billions made the padding loop allocate
    // hundreds of gigabytes and abort the process.
    #[test]
    fn json6902_padding_is_bounded() {
        let p = json!({"a": [], "b": {}});
        assert_eq!(
            json6902(&p, r#"[{"op":"add","path":"/a/99999999999/x","value":1}]"#).unwrap_err(),
            "Unable to ensure path for index 99999999999: more than 1048576 elements: invalid index referenced"
        );
        assert_eq!(
            json6902(
                &p,
                r#"[{"op":"add","path":"/b/c/9223372036854775807/x","value":1}]"#
            )
            .unwrap_err(),
            "Unable to ensure path for index 9223372036854775807: more than 1048576 elements: invalid index referenced"
        );
        // up to the bound, arrays are padded as before
        let out = json6902(&p, r#"[{"op":"add","path":"/a/2/x","value":1}]"#).unwrap();
        assert_eq!(out["a"], json!([null, null, {"x": 1}]));
    }

    #[test]
    fn json6902_copy_and_move() {
        let p = json!({"a": {"b": 1}, "c": [1, 2]});
        let out = json6902(
            &p,
            r#"[{"op":"copy","from":"/a","path":"/d"},{"op":"move","from":"/c/0","path":"/c/-"}]"#,
        )
        .unwrap();
        assert_eq!(out, json!({"a": {"b": 1}, "c": [2, 1], "d": {"b": 1}}));
    }

    #[test]
    fn diff_operations() {
        let before = json!({"metadata": {"labels": {"a": "1"}, "annotations": {"x/y": "1", "gone": "z"}},
            "spec": {"containers": [{"name": "c", "image": "i"}], "list": [1, 2, 3]}});
        let after = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x/y": "2"}},
            "spec": {"containers": [{"name": "c", "image": "i", "securityContext": {"runAsNonRoot": true}}], "list": [1]}});
        assert_eq!(
            json_patch_diff(&before, &after),
            vec![
                json!({"op": "add", "path": "/metadata/labels/b", "value": "2"}),
                json!({"op": "replace", "path": "/metadata/annotations/x~1y", "value": "2"}),
                json!({"op": "remove", "path": "/metadata/annotations/gone"}),
                json!({"op": "add", "path": "/spec/containers/0/securityContext", "value": {"runAsNonRoot": true}}),
                json!({"op": "remove", "path": "/spec/list/2"}),
                json!({"op": "remove", "path": "/spec/list/1"}),
            ]
        );
        assert_eq!(apply_diff(&before, &after), after);
        assert!(json_patch_diff(&before, &before).is_empty());
        // a type change (here to null) is a replace that keeps the null
        assert_eq!(
            json_patch_diff(&json!({"a": 1}), &json!({"a": null})),
            vec![json!({"op": "replace", "path": "/a", "value": null})]
        );
        assert!(json_patch_diff(&json!({"a": 1}), &json!({"a": 1.0})).is_empty());
    }

    // Test_GeneratePatches_sortRemovalPatches (patchesUtils_test.go): the patch applies.
    #[test]
    fn diff_with_removals_applies() {
        let base = json!({"apiVersion": "apps/v1","kind": "Deployment","metadata": {"name": "nginx-deployment","labels": {"app": "nginx"}},"spec": {"selector": {"matchLabels": {"app": "nginx"}},"replicas": 1,"template": {"metadata": {"labels": {"app": "nginx"}},"spec": {"containers": [{"name": "nginx","image": "nginx:1.14.2","ports": [{"containerPort": 80}]}],"tolerations": [{"effect": "NoExecute","key": "node.kubernetes.io/not-ready","operator": "Exists","tolerationSeconds": 300},{"effect": "NoExecute","key": "node.kubernetes.io/unreachable","operator": "Exists","tolerationSeconds": 300}]}}}});
        let expected = json!({"apiVersion": "apps/v1","kind": "Deployment","metadata": {"name": "nginx-deployment","labels": {"app": "nginx"}},"spec": {"selector": {"matchLabels": {"app": "nginx"}},"replicas": 1,"template": {"metadata": {"labels": {"app": "nginx"}},"spec": {"containers": [{"name": "nginx","image": "nginx:1.14.2","ports": [{"containerPort": 80}]}],"tolerations": [{"effect": "NoSchedule","key": "networkzone","operator": "Equal","value": "dmz"}]}}}});
        assert_eq!(apply_diff(&base, &expected), expected);
        assert_eq!(
            json_patch_diff(&base, &expected)[0],
            json!({"op": "remove", "path": "/spec/template/spec/tolerations/1"})
        );
    }
}

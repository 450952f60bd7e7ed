//! Field management: `metadata.managedFields` for every write and server-side apply.
//!
//! Follows structured-merge-diff: an object is seen as a set of field paths (`f:name`,
//! `k:{"name":"x"}` for associative-list items, `v:"x"` for set members). Updates give the
//! writer the paths it added or modified; apply merges the applied configuration, reports
//! conflicts with other managers' paths whose values it changes, and prunes the paths its
//! manager applied before but no longer applies (unless someone else owns them).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::apimachinery::status::{ApiError, ApiResult};
use crate::apis::schema::{ListType, Node};
use crate::apis::types::ResourceType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

/// A set of field paths, as a tree keyed by rendered path elements (`f:spec`, `k:{...}`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet {
    /// This node itself is in the set.
    pub member: bool,
    pub children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    fn child(&mut self, pe: String) -> &mut FieldSet {
        self.children.entry(pe).or_default()
    }

    /// Parses `fieldsV1`.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut fs = FieldSet::default();
        if let Some(m) = v.as_object() {
            for (k, c) in m {
                if k == "." {
                    fs.member = true;
                } else {
                    let mut child = FieldSet::from_fields_v1(c);
                    if c.as_object().is_some_and(|m| m.is_empty()) {
                        child.member = true;
                    }
                    fs.children.insert(k.clone(), child);
                }
            }
        }
        fs
    }

    /// Renders `fieldsV1`.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &self.children {
            if c.is_empty() {
                continue;
            }
            m.insert(k.clone(), c.to_fields_v1());
        }
        Value::Object(m)
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (k, c) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let d = match other.children.get(k) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(k.clone(), d);
            }
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(k.clone(), i);
                }
            }
        }
        out
    }

    /// Every member path, depth first.
    pub fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    fn insert_path(&mut self, path: &[String]) {
        let mut cur = self;
        for pe in path {
            cur = cur.child(pe.clone());
        }
        cur.member = true;
    }

    fn has_children(&self) -> bool {
        self.children.values().any(|c| !c.is_empty())
    }
}

/// Renders a path the way structured-merge-diff prints it: `.spec.containers[name="a"].image`.
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for pe in path {
        if let Some(f) = pe.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = pe.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = pe.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = pe.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

fn key_element(item: &Value, keys: &[String]) -> String {
    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
    for k in keys {
        if let Some(v) = item.get(k) {
            m.insert(k.as_str(), v.clone());
        }
    }
    format!("k:{}", serde_json::to_string(&m).unwrap_or_default())
}

fn value_element(v: &Value) -> String {
    format!("v:{}", serde_json::to_string(v).unwrap_or_default())
}

fn is_leaf_schema(node: Option<Node<'_>>, v: &Value) -> bool {
    match v {
        Value::Object(_) => node.is_some_and(|n| n.map_atomic()),
        Value::Array(_) => node.is_none_or(|n| n.list_type() == ListType::Atomic),
        _ => true,
    }
}

/// The field set of a value (structured-merge-diff's ToFieldSet). With `mark_maps`, map
/// fields (labels, annotations, ...) are members themselves, so that an update that adds a
/// map owns it (`.` in fieldsV1), as the real field manager records it.
fn value_set(v: &Value, node: Option<Node<'_>>, mark_maps: bool) -> FieldSet {
    let mut fs = FieldSet::default();
    match v {
        Value::Object(m) if !is_leaf_schema(node, v) => {
            for (k, c) in m {
                let declared = node.and_then(|n| n.property(k));
                let child_schema = declared.or_else(|| node.and_then(|n| n.additional()));
                let mut child = if is_leaf_schema(child_schema, c) {
                    FieldSet {
                        member: true,
                        ..Default::default()
                    }
                } else {
                    value_set(c, child_schema, mark_maps)
                };
                if mark_maps
                    && child_schema.is_some_and(|n| n.additional().is_some() && !n.has_properties())
                    && c.is_object()
                {
                    child.member = true;
                }
                // structured-merge-diff: a map item is itself a member when it is null, an
                // empty map, or not a declared field (map entries, untyped content)
                if c.is_null() || c.as_object().is_some_and(|m| m.is_empty()) || declared.is_none() {
                    child.member = true;
                }
                fs.children.insert(format!("f:{k}"), child);
            }
        }
        Value::Array(items) => {
            let item_schema = node.and_then(|n| n.items());
            match node.map(|n| n.list_type()).unwrap_or(ListType::Atomic) {
                ListType::Set => {
                    for i in items {
                        fs.children.insert(
                            value_element(i),
                            FieldSet {
                                member: true,
                                ..Default::default()
                            },
                        );
                    }
                }
                ListType::Map(keys) => {
                    for i in items {
                        let mut child = value_set(i, item_schema, mark_maps);
                        child.member = true;
                        fs.children.insert(key_element(i, &keys), child);
                    }
                }
                ListType::Atomic => fs.member = true,
            }
        }
        _ => fs.member = true,
    }
    fs
}

const TRACKED_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// The field set of an object as the field manager sees it: type meta and system metadata
/// are ignored; the status of types with a status subresource belongs to /status writers.
pub fn object_set(
    rt: &ResourceType,
    version: &str,
    obj: &Value,
    subresource: Option<&str>,
    mark_maps: bool,
) -> FieldSet {
    let defs = crate::apis::builtin::definitions();
    let crd_schema = rt.version(version).and_then(|v| v.schema.clone());
    let root: Option<Node<'_>> = match (&rt.builtin, &crd_schema) {
        (Some(b), _) => defs.defs.get(&b.definition).map(|d| Node::new(d, &defs.defs)),
        (None, Some(s)) => Some(Node::standalone(s)),
        _ => None,
    };
    let meta_node = defs
        .defs
        .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        .map(|d| Node::new(d, &defs.defs));
    let has_status = rt.has_status(version);
    let mut trimmed = Map::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    let mut md = Map::new();
                    for f in TRACKED_METADATA {
                        if let Some(x) = v.get(*f) {
                            md.insert((*f).to_string(), x.clone());
                        }
                    }
                    if !md.is_empty() {
                        trimmed.insert(k.clone(), Value::Object(md));
                    }
                }
                "status" if has_status && subresource != Some("status") => {}
                _ if has_status && subresource == Some("status") => {}
                _ => {
                    trimmed.insert(k.clone(), v.clone());
                }
            }
        }
        if subresource == Some("status")
            && let Some(s) = m.get("status")
        {
            trimmed.insert("status".into(), s.clone());
        }
    }
    let mut fs = FieldSet::default();
    for (k, v) in &trimmed {
        let node = if k == "metadata" {
            meta_node
        } else {
            root.and_then(|r| r.property(k))
        };
        let child = if is_leaf_schema(node, v) {
            FieldSet {
                member: true,
                ..Default::default()
            }
        } else {
            value_set(v, node, mark_maps)
        };
        let mut child = child;
        if v.is_null() || v.as_object().is_some_and(|m| m.is_empty()) {
            child.member = true;
        }
        fs.children.insert(format!("f:{k}"), child);
    }
    fs
}

/// The value at a path of rendered path elements.
fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for pe in path {
        cur = step(cur, pe)?;
    }
    Some(cur)
}

fn step<'a>(cur: &'a Value, pe: &str) -> Option<&'a Value> {
    if let Some(f) = pe.strip_prefix("f:") {
        return cur.get(f);
    }
    let arr = cur.as_array()?;
    if let Some(k) = pe.strip_prefix("k:") {
        let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
        return arr.iter().find(|i| keys.iter().all(|(k, v)| i.get(k) == Some(v)));
    }
    if let Some(v) = pe.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return arr.iter().find(|i| **i == want);
    }
    None
}

/// Removes the value at `path` (a field, list item or set member).
fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for pe in parent_path {
        let next = if let Some(f) = pe.strip_prefix("f:") {
            cur.get_mut(f)
        } else if let Some(k) = pe.strip_prefix("k:") {
            let Ok(keys) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|i| keys.iter().all(|(k, v)| i.get(k) == Some(v)))
            })
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(k) = last.strip_prefix("k:") {
        if let (Ok(keys), Some(a)) = (serde_json::from_str::<Map<String, Value>>(k), cur.as_array_mut()) {
            a.retain(|i| !keys.iter().all(|(k, v)| i.get(k) == Some(v)));
        }
    } else if let Some(v) = last.strip_prefix("v:")
        && let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut())
    {
        a.retain(|i| *i != want);
    }
}

/// Added, removed and modified paths between two objects.
struct Comparison {
    added: FieldSet,
    removed: FieldSet,
    modified: FieldSet,
}

fn compare(old_set: &FieldSet, new_set: &FieldSet, old: &Value, new: &Value) -> Comparison {
    let added = new_set.difference(old_set);
    let removed = old_set.difference(new_set);
    let mut modified = FieldSet::default();
    let both = old_set.intersection(new_set);
    for p in both.paths() {
        let leaf_old = subset_at(old_set, &p).is_some_and(|n| !n.has_children());
        let leaf_new = subset_at(new_set, &p).is_some_and(|n| !n.has_children());
        if (leaf_old || leaf_new) && value_at(old, &p) != value_at(new, &p) {
            modified.insert_path(&p);
        }
    }
    Comparison {
        added,
        removed,
        modified,
    }
}

fn subset_at<'a>(fs: &'a FieldSet, path: &[String]) -> Option<&'a FieldSet> {
    let mut cur = fs;
    for pe in path {
        cur = cur.children.get(pe)?;
    }
    Some(cur)
}

/// One managedFields entry.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: String,
    set: FieldSet,
}

impl Entry {
    fn identity(&self) -> (&str, &str, &str) {
        (&self.manager, &self.operation, &self.subresource)
    }

    /// How conflicts name this manager.
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        m.insert("time".into(), json!(self.time));
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(Entry {
                manager: e.get("manager")?.as_str()?.to_string(),
                operation: e
                    .get("operation")
                    .and_then(Value::as_str)
                    .unwrap_or("Update")
                    .to_string(),
                api_version: e
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                time: e.get("time").and_then(Value::as_str).unwrap_or("").to_string(),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                set: FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)),
            })
        })
        .collect()
}

fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        (a.operation != "Apply", &a.time, &a.manager).cmp(&(b.operation != "Apply", &b.time, &b.manager))
    });
    let md = crate::apimachinery::meta::meta_mut(obj);
    if entries.is_empty() {
        md.remove("managedFields");
    } else {
        md.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::to_json).collect()),
        );
    }
}

fn upsert(entries: &mut Vec<Entry>, e: Entry) {
    match entries.iter_mut().find(|x| x.identity() == e.identity()) {
        Some(slot) => *slot = e,
        None => entries.push(e),
    }
}

/// Records an update (create, PUT, non-apply PATCH) in `new`'s managedFields.
#[allow(clippy::too_many_arguments)]
pub fn track(
    rt: &ResourceType,
    version: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: Operation,
    subresource: Option<&str>,
    now: &str,
) -> ApiResult<()> {
    if operation == Operation::Apply {
        // apply computes its managed fields in `apply`
        return Ok(());
    }
    let sub = match subresource {
        Some("status") => Some("status"),
        _ => None,
    };
    let empty = json!({});
    let old_obj = old.unwrap_or(&empty);
    // A client may rewrite managedFields itself (kubectl does, when it migrates client-side
    // apply to server-side apply); then its list is the starting point.
    let requested = read_entries(new);
    let mut entries = if old.is_some()
        && new.pointer("/metadata/managedFields") != old_obj.pointer("/metadata/managedFields")
        && new.pointer("/metadata/managedFields").is_some()
    {
        requested
    } else {
        read_entries(old_obj)
    };
    let old_set = object_set(rt, version, old_obj, sub, true);
    let new_set = object_set(rt, version, new, sub, true);
    let cmp = compare(&old_set, &new_set, old_obj, new);
    let changed = cmp.added.union(&cmp.modified);
    for e in entries.iter_mut() {
        e.set = e.set.difference(&cmp.modified).difference(&cmp.removed);
    }
    let api_version = rt.api_version(version);
    let mine = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == sub.unwrap_or(""))
        .map(|e| e.set.clone())
        .unwrap_or_default();
    let set = mine.union(&changed).difference(&cmp.removed);
    if !changed.is_empty() || entries.iter().any(|e| e.manager == manager) {
        upsert(
            &mut entries,
            Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version,
                time: now.to_string(),
                subresource: sub.unwrap_or("").to_string(),
                set,
            },
        );
    }
    write_entries(new, entries);
    Ok(())
}

/// Merges an applied configuration into the live object (structured-merge-diff's Merge).
pub fn merge_applied(live: &Value, applied: &Value, node: Option<Node<'_>>) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !node.is_some_and(|n| n.map_atomic()) => {
            let mut out = l.clone();
            for (k, av) in a {
                let child = node.and_then(|n| n.property(k).or_else(|| n.additional()));
                let merged = match l.get(k) {
                    Some(lv) => merge_applied(lv, av, child),
                    None => av.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) => match node.map(|n| n.list_type()).unwrap_or(ListType::Atomic) {
            ListType::Map(keys) => {
                let item_schema = node.and_then(|n| n.items());
                let mut out = l.clone();
                for ai in a {
                    let k = key_element(ai, &keys);
                    match out.iter_mut().find(|li| key_element(li, &keys) == k) {
                        Some(li) => *li = merge_applied(li, ai, item_schema),
                        None => out.push(ai.clone()),
                    }
                }
                Value::Array(out)
            }
            ListType::Set => {
                let mut out = l.clone();
                for ai in a {
                    if !out.contains(ai) {
                        out.push(ai.clone());
                    }
                }
                Value::Array(out)
            }
            ListType::Atomic => applied.clone(),
        },
        _ => applied.clone(),
    }
}

fn root_node<'a>(
    rt: &ResourceType,
    defs: &'a crate::apis::builtin::Definitions,
    crd: &'a Option<std::sync::Arc<Value>>,
) -> Option<Node<'a>> {
    match (&rt.builtin, crd) {
        (Some(b), _) => defs.defs.get(&b.definition).map(|d| Node::new(d, &defs.defs)),
        (None, Some(s)) => Some(Node::standalone(s)),
        _ => None,
    }
}

/// Server-side apply: returns the new object (with managedFields) or a conflict error.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    rt: &ResourceType,
    version: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: &str,
) -> ApiResult<Value> {
    let defs = crate::apis::builtin::definitions();
    let crd = rt.version(version).and_then(|v| v.schema.clone());
    let root = root_node(rt, &defs, &crd);
    let sub = match subresource {
        Some("status") => Some("status"),
        _ => None,
    };
    let empty = json!({});
    let live_obj = live.unwrap_or(&empty);
    let mut entries = read_entries(live_obj);

    // metadata merges with the ObjectMeta schema; the rest with the type's
    let meta_node = defs
        .defs
        .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        .map(|d| Node::new(d, &defs.defs));
    let mut merged = live_obj.clone();
    if let (Some(m), Some(a)) = (merged.as_object_mut(), applied.as_object()) {
        for (k, av) in a {
            if k == "metadata" {
                let lv = m.get("metadata").cloned().unwrap_or(json!({}));
                let mut am = av.clone();
                if let Some(x) = am.as_object_mut() {
                    x.remove("managedFields");
                    x.remove("resourceVersion");
                }
                m.insert(k.clone(), merge_applied(&lv, &am, meta_node));
            } else {
                let node = root.and_then(|r| r.property(k));
                let merged_v = match m.get(k) {
                    Some(lv) => merge_applied(lv, av, node),
                    None => av.clone(),
                };
                m.insert(k.clone(), merged_v);
            }
        }
    }

    let applied_set = object_set(rt, version, applied, sub, false);
    let live_set = object_set(rt, version, live_obj, sub, false);
    let merged_set = object_set(rt, version, &merged, sub, false);
    let cmp = compare(&live_set, &merged_set, live_obj, &merged);
    let changed = cmp.modified.union(&cmp.added);

    // conflicts with every other manager
    let mut conflicts: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for e in entries.iter() {
        if e.manager == manager && e.operation == "Apply" && e.subresource == sub.unwrap_or("") {
            continue;
        }
        let c = e.set.intersection(&changed);
        if !c.is_empty() {
            conflicts.push((e.describe(), c.paths()));
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    if force {
        for e in entries.iter_mut() {
            if !(e.manager == manager && e.operation == "Apply" && e.subresource == sub.unwrap_or("")) {
                e.set = e.set.difference(&changed);
            }
        }
    }
    for e in entries.iter_mut() {
        e.set = e.set.difference(&cmp.removed);
    }

    // prune what this manager applied last time but not now, unless someone else owns it
    let last = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply" && e.subresource == sub.unwrap_or(""))
        .map(|e| e.set.clone())
        .unwrap_or_default();
    let disowned = last.difference(&applied_set);
    let mut owned = applied_set.clone();
    for e in entries.iter() {
        if !(e.manager == manager && e.operation == "Apply" && e.subresource == sub.unwrap_or("")) {
            owned = owned.union(&e.set);
        }
    }
    // structured-merge-diff removes the last applied set, then adds back everything someone
    // still owns: a disowned map or list item stays while anything beneath it is owned
    let mut to_remove: Vec<Vec<String>> = disowned
        .difference(&owned)
        .paths()
        .into_iter()
        .filter(|p| subset_at(&owned, p).is_none_or(|n| n.is_empty()))
        .collect();
    // remove whole subtrees: the shallowest paths first, skipping what they contain (a list
    // item is found by its key fields, which must still be there when it is removed)
    to_remove.sort_by_key(Vec::len);
    let mut removed: Vec<Vec<String>> = Vec::new();
    for p in to_remove {
        if removed.iter().any(|r| p.starts_with(r)) {
            continue;
        }
        remove_at(&mut merged, &p);
        removed.push(p);
    }

    upsert(
        &mut entries,
        Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: rt.api_version(version),
            time: now.to_string(),
            subresource: sub.unwrap_or("").to_string(),
            set: applied_set,
        },
    );
    write_entries(&mut merged, entries);
    Ok(merged)
}

fn conflict_error(conflicts: &[(String, Vec<Vec<String>>)]) -> ApiError {
    let mut causes = Vec::new();
    let mut total = 0;
    for (who, paths) in conflicts {
        for p in paths {
            total += 1;
            causes.push(json!({"reason": "FieldManagerConflict", "message": format!("conflict with {who}"), "field": path_string(p)}));
        }
    }
    let message = if total == 1 {
        let (who, paths) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with {who}: {}",
            path_string(&paths[0])
        )
    } else {
        let mut sorted: Vec<&(String, Vec<Vec<String>>)> = conflicts.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut lines = Vec::new();
        for (who, paths) in sorted {
            lines.push(format!("conflicts with {who}:"));
            for p in paths {
                lines.push(format!("- {}", path_string(p)));
            }
        }
        format!("Apply failed with {total} conflicts: {}", lines.join("\n"))
    };
    ApiError::new(409, "Conflict", message, Some(json!({"causes": causes})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_round_trip() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:replicas": {}}});
        let fs = FieldSet::from_fields_v1(&v);
        assert_eq!(fs.to_fields_v1(), v);
        assert_eq!(fs.paths().len(), 3);
    }

    #[test]
    fn path_rendering() {
        let p = vec![
            "f:spec".to_string(),
            "f:containers".into(),
            "k:{\"name\":\"nginx\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(path_string(&p), ".spec.containers[name=\"nginx\"].image");
    }
}

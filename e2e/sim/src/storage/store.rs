//! Generic object storage: JSON objects keyed by storage (group/resource) and
//! `namespace/name`, one increasing resourceVersion counter per cluster, and an event log
//! that serves watches and historical reads until it is compacted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use imbl::OrdMap;
use serde_json::Value;

use crate::apimachinery::meta;

/// The key of one object inside its storage: `namespace/name`, or `name` when cluster-scoped.
pub fn object_key(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

pub type Table = OrdMap<String, Arc<Value>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as the watch cache holds it.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub storage: Arc<str>,
    pub key: String,
    pub kind: EventType,
    /// The object after the change (for deletions: its last state, at the deletion's rv).
    pub object: Arc<Value>,
    /// The object before the change (None for additions).
    pub prev: Option<Arc<Value>>,
}

/// Why a write did not happen.
#[derive(Debug, PartialEq)]
pub enum WriteError {
    /// The object exists already (create).
    Exists,
    /// The object does not exist (update/delete).
    Missing,
    /// The object's resourceVersion is not the expected one.
    Conflict,
}

/// A read could not be served at the requested resourceVersion.
#[derive(Debug, PartialEq)]
pub enum ReadError {
    /// Older than the compacted history: `(requested, oldest available)`.
    TooOld(u64, u64),
    /// Newer than anything written yet: `(requested, current)`.
    TooLarge(u64, u64),
}

type Loc = (Arc<str>, String);
/// A storage and the object stored at some key of it.
type Loc2 = (Arc<str>, Arc<Value>);

struct Inner {
    rv: u64,
    /// uid -> where the object is
    uids: HashMap<String, Loc>,
    /// owner uid -> the objects naming it in ownerReferences
    dependents: HashMap<String, std::collections::HashSet<Loc>>,
    tables: HashMap<Arc<str>, Table>,
    log: VecDeque<Arc<Event>>,
    /// Events with rv <= compacted are gone.
    compacted: u64,
    /// The resourceVersion of the last write to each storage.
    written: HashMap<Arc<str>, u64>,
}

pub struct Store {
    inner: Mutex<Inner>,
    notify: tokio::sync::watch::Sender<u64>,
    capacity: usize,
}

fn with_rv(obj: &Value, rv: u64) -> Value {
    let mut o = obj.clone();
    meta::meta_mut(&mut o).insert("resourceVersion".into(), Value::String(rv.to_string()));
    o
}

impl Store {
    /// A store whose event log keeps at most `capacity` events before compacting.
    pub fn new(capacity: usize) -> Self {
        let (notify, _) = tokio::sync::watch::channel(1);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                uids: HashMap::new(),
                dependents: HashMap::new(),
                tables: HashMap::new(),
                log: VecDeque::new(),
                compacted: 1,
                written: HashMap::new(),
            }),
            notify,
            capacity: capacity.max(16),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a table half-written (tables are
        // persistent maps replaced whole), so recovering the guard is sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn compacted_rv(&self) -> u64 {
        self.lock().compacted
    }

    /// Subscribes to "something was written" notifications (the value is the new rv).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    pub fn get(&self, storage: &str, key: &str) -> Option<Arc<Value>> {
        self.lock().tables.get(storage).and_then(|t| t.get(key).cloned())
    }

    /// A consistent snapshot of one storage and the rv it was taken at.
    pub fn snapshot(&self, storage: &str) -> (u64, Table) {
        let g = self.lock();
        (g.rv, g.tables.get(storage).cloned().unwrap_or_default())
    }

    /// The storage as it was at `rv`, rebuilt by undoing later events.
    pub fn snapshot_at(&self, storage: &str, rv: u64) -> Result<Table, ReadError> {
        let g = self.lock();
        if rv > g.rv {
            return Err(ReadError::TooLarge(rv, g.rv));
        }
        if rv < g.compacted {
            return Err(ReadError::TooOld(rv, g.compacted));
        }
        let mut table = g.tables.get(storage).cloned().unwrap_or_default();
        for e in g.log.iter().rev() {
            if e.rv <= rv {
                break;
            }
            if &*e.storage != storage {
                continue;
            }
            match &e.prev {
                Some(p) => {
                    table.insert(e.key.clone(), p.clone());
                }
                None => {
                    table.remove(&e.key);
                }
            }
        }
        Ok(table)
    }

    /// The stored object a write replaces, if its resourceVersion is `expected_rv` (any, if None).
    fn current(g: &Inner, storage: &str, key: &str, expected_rv: Option<&str>) -> Result<Loc2, WriteError> {
        let (storage, prev) = g
            .tables
            .get_key_value(storage)
            .and_then(|(s, t)| Some((s.clone(), t.get(key)?.clone())))
            .ok_or(WriteError::Missing)?;
        match expected_rv {
            Some(exp) if meta::resource_version(&prev) != exp => Err(WriteError::Conflict),
            _ => Ok((storage, prev)),
        }
    }

    fn unindex(g: &mut Inner, storage: &Arc<str>, key: &str, obj: &Value) {
        let uid = meta::uid(obj);
        if !uid.is_empty() {
            g.uids.remove(uid);
        }
        for owner in meta::owner_uids(obj) {
            if let Some(set) = g.dependents.get_mut(&owner) {
                set.remove(&(storage.clone(), key.to_string()));
                if set.is_empty() {
                    g.dependents.remove(&owner);
                }
            }
        }
    }

    fn index(g: &mut Inner, storage: &Arc<str>, key: &str, obj: &Value) {
        let uid = meta::uid(obj);
        if !uid.is_empty() {
            g.uids.insert(uid.to_string(), (storage.clone(), key.to_string()));
        }
        for owner in meta::owner_uids(obj) {
            g.dependents
                .entry(owner)
                .or_default()
                .insert((storage.clone(), key.to_string()));
        }
    }

    /// The object with this uid, and its storage.
    pub fn by_uid(&self, uid: &str) -> Option<(Arc<str>, Arc<Value>)> {
        let g = self.lock();
        let (s, k) = g.uids.get(uid)?;
        Some((s.clone(), g.tables.get(s)?.get(k)?.clone()))
    }

    pub fn uid_exists(&self, uid: &str) -> bool {
        self.lock().uids.contains_key(uid)
    }

    /// The objects that name `uid` as an owner.
    pub fn dependents_of(&self, uid: &str) -> Vec<(Arc<str>, Arc<Value>)> {
        let g = self.lock();
        g.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|(s, k)| Some((s.clone(), g.tables.get(s)?.get(k)?.clone())))
            .collect()
    }

    /// The resourceVersion of the last write to `storage` (0 if never written).
    pub fn storage_rv(&self, storage: &str) -> u64 {
        self.lock().written.get(storage).copied().unwrap_or(0)
    }

    fn append(&self, g: &mut Inner, ev: Event) {
        g.written.insert(ev.storage.clone(), ev.rv);
        g.log.push_back(Arc::new(ev));
        while g.log.len() > self.capacity {
            if let Some(old) = g.log.pop_front() {
                g.compacted = old.rv;
            }
        }
    }

    fn publish(&self, rv: u64) {
        self.notify.send_replace(rv);
    }

    /// Stores a new object, assigning its resourceVersion.
    pub fn create(&self, storage: &str, key: &str, obj: Value) -> Result<Arc<Value>, WriteError> {
        let mut g = self.lock();
        let storage: Arc<str> = g
            .tables
            .get_key_value(storage)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| storage.into());
        if g.tables.get(&storage).is_some_and(|t| t.contains_key(key)) {
            return Err(WriteError::Exists);
        }
        g.rv += 1;
        let rv = g.rv;
        let obj = Arc::new(with_rv(&obj, rv));
        g.tables
            .entry(storage.clone())
            .or_default()
            .insert(key.to_string(), obj.clone());
        Self::index(&mut g, &storage, key, &obj);
        let ev = Event {
            rv,
            storage,
            key: key.to_string(),
            kind: EventType::Added,
            object: obj.clone(),
            prev: None,
        };
        self.append(&mut g, ev);
        drop(g);
        self.publish(rv);
        Ok(obj)
    }

    /// Replaces an object if its current resourceVersion is `expected_rv` (any, if None).
    pub fn update(
        &self,
        storage: &str,
        key: &str,
        obj: Value,
        expected_rv: Option<&str>,
    ) -> Result<Arc<Value>, WriteError> {
        let mut g = self.lock();
        let (storage, prev) = Self::current(&g, storage, key, expected_rv)?;
        g.rv += 1;
        let rv = g.rv;
        let obj = Arc::new(with_rv(&obj, rv));
        g.tables
            .get_mut(&storage)
            .expect("exists")
            .insert(key.to_string(), obj.clone());
        Self::unindex(&mut g, &storage, key, &prev);
        Self::index(&mut g, &storage, key, &obj);
        let ev = Event {
            rv,
            storage,
            key: key.to_string(),
            kind: EventType::Modified,
            object: obj.clone(),
            prev: Some(prev),
        };
        self.append(&mut g, ev);
        drop(g);
        self.publish(rv);
        Ok(obj)
    }

    /// Removes an object if its current resourceVersion is `expected_rv` (any, if None).
    /// Returns its last state, stamped with the deletion's resourceVersion.
    pub fn delete(
        &self,
        storage: &str,
        key: &str,
        expected_rv: Option<&str>,
    ) -> Result<Arc<Value>, WriteError> {
        let mut g = self.lock();
        let (storage, prev) = Self::current(&g, storage, key, expected_rv)?;
        g.rv += 1;
        let rv = g.rv;
        g.tables.get_mut(&storage).expect("exists").remove(key);
        Self::unindex(&mut g, &storage, key, &prev);
        let last = Arc::new(with_rv(&prev, rv));
        let ev = Event {
            rv,
            storage,
            key: key.to_string(),
            kind: EventType::Deleted,
            object: last.clone(),
            prev: Some(prev),
        };
        self.append(&mut g, ev);
        drop(g);
        self.publish(rv);
        Ok(last)
    }

    /// Drops a whole storage (used when a CRD goes away), emitting DELETED events.
    pub fn drop_storage(&self, storage: &str) -> usize {
        let keys: Vec<String> = self.snapshot(storage).1.keys().cloned().collect();
        keys.iter()
            .filter(|k| self.delete(storage, k, None).is_ok())
            .count()
    }

    /// Events of `storage` with rv > `after`, or TooOld if the history no longer reaches back.
    pub fn events_after(&self, storage: &str, after: u64) -> Result<(Vec<Arc<Event>>, u64), ReadError> {
        let g = self.lock();
        if after < g.compacted {
            return Err(ReadError::TooOld(after, g.compacted));
        }
        let start = g.log.partition_point(|e| e.rv <= after);
        let evs = g
            .log
            .range(start..)
            .filter(|e| &*e.storage == storage)
            .cloned()
            .collect();
        Ok((evs, g.rv))
    }

    /// Events of every storage with rv > `after`.
    pub fn all_events_after(&self, after: u64) -> Result<(Vec<Arc<Event>>, u64), ReadError> {
        let g = self.lock();
        if after < g.compacted {
            return Err(ReadError::TooOld(after, g.compacted));
        }
        let start = g.log.partition_point(|e| e.rv <= after);
        Ok((g.log.range(start..).cloned().collect(), g.rv))
    }

    /// A consistent snapshot of every storage.
    pub fn all_tables(&self) -> (u64, Vec<(Arc<str>, Table)>) {
        let g = self.lock();
        (
            g.rv,
            g.tables.iter().map(|(k, t)| (k.clone(), t.clone())).collect(),
        )
    }

    /// Forgets all history up to now, as etcd compaction does: older resource versions
    /// can no longer be watched from or listed at.
    pub fn compact(&self) {
        let mut g = self.lock();
        g.log.clear();
        g.compacted = g.rv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str, v: i64) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns"}, "data": {"v": v}})
    }

    #[test]
    fn writes_bump_one_counter_and_check_versions() {
        let s = Store::new(100);
        let a = s.create("/configmaps", "ns/a", obj("a", 1)).unwrap();
        assert_eq!(meta::resource_version(&a), "2");
        assert_eq!(
            s.create("/configmaps", "ns/a", obj("a", 1)).unwrap_err(),
            WriteError::Exists
        );
        let b = s.create("/secrets", "ns/b", obj("b", 1)).unwrap();
        assert_eq!(meta::resource_version(&b), "3");
        assert_eq!(
            s.update("/configmaps", "ns/a", obj("a", 2), Some("1"))
                .unwrap_err(),
            WriteError::Conflict
        );
        let a2 = s.update("/configmaps", "ns/a", obj("a", 2), Some("2")).unwrap();
        assert_eq!(meta::resource_version(&a2), "4");
        let gone = s.delete("/configmaps", "ns/a", None).unwrap();
        assert_eq!(meta::resource_version(&gone), "5");
        assert_eq!(
            s.delete("/configmaps", "ns/a", None).unwrap_err(),
            WriteError::Missing
        );
    }

    #[test]
    fn history_reads_and_compaction() {
        let s = Store::new(100);
        s.create("/configmaps", "ns/a", obj("a", 1)).unwrap(); // rv 2
        s.create("/configmaps", "ns/b", obj("b", 1)).unwrap(); // rv 3
        s.update("/configmaps", "ns/a", obj("a", 2), None).unwrap(); // rv 4
        s.delete("/configmaps", "ns/b", None).unwrap(); // rv 5
        let at3 = s.snapshot_at("/configmaps", 3).unwrap();
        assert_eq!(at3.len(), 2);
        assert_eq!(at3["ns/a"]["data"]["v"], 1);
        let (evs, rv) = s.events_after("/configmaps", 3).unwrap();
        assert_eq!(rv, 5);
        assert_eq!(
            evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
            vec![EventType::Modified, EventType::Deleted]
        );
        s.compact();
        assert_eq!(
            s.events_after("/configmaps", 3).unwrap_err(),
            ReadError::TooOld(3, 5)
        );
        assert_eq!(
            s.snapshot_at("/configmaps", 4).unwrap_err(),
            ReadError::TooOld(4, 5)
        );
        assert_eq!(
            s.snapshot_at("/configmaps", 9).unwrap_err(),
            ReadError::TooLarge(9, 5)
        );
    }

    #[test]
    fn bounded_log_compacts_oldest() {
        let s = Store::new(16);
        for i in 0..40 {
            s.create("/configmaps", &format!("ns/{i}"), obj(&i.to_string(), i))
                .unwrap();
        }
        assert!(s.compacted_rv() > 1);
        assert!(s.events_after("/configmaps", 2).is_err());
        assert_eq!(
            s.events_after("/configmaps", s.compacted_rv()).unwrap().0.len(),
            16
        );
    }
}

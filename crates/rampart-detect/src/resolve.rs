//! Per-event field resolution: the document paths a class of events needs, compiled into a key trie and resolved in one pass over the event's keys.
//!
//! Looking fields up one by one costs a hash of every probed key per path (the flat key,
//! then each segment of the dotted walk, then the next candidate path). A [`PathTrie`]
//! holds every path a class of events may read; [`PathTrie::fill`] walks the event's
//! object once, descending only into keys some path continues through, and records every
//! path's value in a slot vector. The semantics are exactly those of
//! [`document::lookup`](crate::document::lookup): a path's value is the root key equal to
//! the whole dotted path when there is one, else the value found by walking its segments,
//! where `*` takes the first child object (in the object's order) that has the rest.

use crate::document::{FieldKey, FieldPath, FieldRef, Segment};
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

const NONE: u32 = u32::MAX;

/// Where a key of an object leads.
#[derive(Debug)]
struct Edge {
    /// The node of the paths continuing below this key, or NONE.
    node: u32,
    /// The slot of the path whose walk ends at this key, or NONE.
    walk: u32,
    /// At the root only: the slot of the multi-segment path whose flat form is this key.
    flat: u32,
}

#[derive(Debug, Default)]
struct Node {
    /// Keyed by the document key. The table is fixed after compilation and documents
    /// only look keys up, so a fast non-keyed hash is safe here.
    children: FxHashMap<Box<str>, Edge>,
    /// Bit `min(len, 63)` per child key length: most document keys are skipped on their
    /// length alone, without reading (and hashing) their bytes.
    lens: u64,
    /// The node reached through a `*` segment, or NONE.
    any: u32,
}

#[inline]
fn len_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl Node {
    fn new() -> Self {
        Node {
            children: FxHashMap::default(),
            lens: 0,
            any: NONE,
        }
    }
}

/// A set of document paths compiled for one-pass resolution.
#[derive(Debug)]
pub(crate) struct PathTrie {
    nodes: Vec<Node>,
    paths: FxHashMap<FieldPath, u32>,
}

impl Default for PathTrie {
    fn default() -> Self {
        PathTrie {
            nodes: vec![Node::new()],
            paths: FxHashMap::default(),
        }
    }
}

/// The slots of one event: for path `p`, `2p` holds the flat-key value and `2p + 1` the
/// walked value.
pub(crate) type Slots<'a> = Vec<Option<&'a Value>>;

impl PathTrie {
    /// Slots needed by [`fill`](Self::fill).
    pub fn slots(&self) -> usize {
        2 * self.paths.len()
    }

    /// The id of `path`, added if new.
    pub fn intern(&mut self, path: &FieldPath) -> u32 {
        if let Some(id) = self.paths.get(path) {
            return *id;
        }
        let id = self.paths.len() as u32;
        self.paths.insert(path.clone(), id);
        let segments = &path.segments;
        if segments.len() >= 2 {
            self.edge(0, &path.flat).flat = 2 * id;
        }
        let mut node = 0u32;
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            match seg {
                Segment::Key(k) => {
                    if last {
                        self.edge(node, k).walk = 2 * id + 1;
                    } else {
                        node = self.child(node, k);
                    }
                }
                // A path ending in `*` never resolves (as in `document::lookup`).
                Segment::AnyChild if last => {}
                Segment::AnyChild => {
                    if self.nodes[node as usize].any == NONE {
                        self.nodes[node as usize].any = self.nodes.len() as u32;
                        self.nodes.push(Node::new());
                    }
                    node = self.nodes[node as usize].any;
                }
            }
        }
        id
    }

    /// The ids of a key's candidate paths, in order, appended to `out`.
    pub fn intern_key(&mut self, key: &FieldKey, out: &mut Vec<u32>) {
        for p in key.candidates.iter() {
            let id = self.intern(p);
            out.push(id);
        }
    }

    fn edge(&mut self, node: u32, key: &str) -> &mut Edge {
        let n = &mut self.nodes[node as usize];
        n.lens |= len_bit(key.len());
        n.children.entry(key.into()).or_insert(Edge {
            node: NONE,
            walk: NONE,
            flat: NONE,
        })
    }

    fn child(&mut self, node: u32, key: &str) -> u32 {
        let next = self.nodes.len() as u32;
        let e = self.edge(node, key);
        if e.node != NONE {
            return e.node;
        }
        e.node = next;
        self.nodes.push(Node::new());
        next
    }

    /// Resolve every path against `root`; `slots` is cleared and sized first.
    pub fn fill<'a>(&self, root: &'a Map<String, Value>, slots: &mut Slots<'a>) {
        slots.clear();
        slots.resize(self.slots(), None);
        if self.paths.is_empty() {
            return;
        }
        self.visit(0, root, slots);
    }

    fn visit<'a>(&self, node: u32, map: &'a Map<String, Value>, slots: &mut Slots<'a>) {
        let n = &self.nodes[node as usize];
        if !n.children.is_empty() {
            // The loop below branches on each key and would wait for their cache misses
            // one by one.
            touch(map.keys().map(String::as_str));
            for (k, v) in map {
                if n.lens & len_bit(k.len()) == 0 {
                    continue;
                }
                let Some(e) = n.children.get(k.as_str()) else {
                    continue;
                };
                if e.flat != NONE {
                    slots[e.flat as usize] = Some(v);
                }
                // A node is reached more than once only through `*`, where the first
                // child object that has the rest of the path wins.
                if e.walk != NONE && slots[e.walk as usize].is_none() {
                    slots[e.walk as usize] = Some(v);
                }
                if e.node != NONE
                    && let Value::Object(child) = v
                {
                    self.visit(e.node, child, slots);
                }
            }
        }
        if n.any != NONE {
            for v in map.values() {
                if let Value::Object(child) = v {
                    self.visit(n.any, child, slots);
                }
            }
        }
    }
}

/// Read the first and last byte of every string before any is used. These loads do not
/// depend on one another, so the processor overlaps their cache misses, where code that
/// branches on each string would wait for them one at a time (an event is read cold: its
/// keys and values are scattered small allocations).
#[inline]
pub(crate) fn touch<'a>(strings: impl IntoIterator<Item = &'a str>) {
    let mut x = 0u8;
    for s in strings {
        let b = s.as_bytes();
        x ^= b.first().copied().unwrap_or(0) ^ b.last().copied().unwrap_or(0);
    }
    std::hint::black_box(x);
}

/// The value of path `id` in filled slots.
#[inline]
pub(crate) fn path_value<'a>(slots: &[Option<&'a Value>], id: u32) -> Option<&'a Value> {
    let i = 2 * id as usize;
    match slots.get(i..i + 2) {
        Some([flat, walk]) => flat.or(*walk),
        _ => None,
    }
}

/// The value of the first present path of `ids`.
#[inline]
pub(crate) fn first_value<'a>(slots: &[Option<&'a Value>], ids: &[u32]) -> FieldRef<'a> {
    for id in ids {
        if let Some(v) = path_value(slots, *id) {
            return FieldRef::from_json(v);
        }
    }
    FieldRef::Missing
}

/// A slot vector for another event, keeping the allocation of `old`.
pub(crate) fn recycle<'b>(old: Slots<'_>) -> Slots<'b> {
    let mut old = old;
    old.clear();
    // Collecting an emptied vector into one of the same layout reuses its allocation.
    old.into_iter().map(|_| None).collect()
}

/// A string list for another event, keeping the allocation of `old`.
pub(crate) fn recycle_strs<'b>(old: Vec<&'_ str>) -> Vec<&'b str> {
    let mut old = old;
    old.clear();
    old.into_iter().map(|_| "").collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::document::Document;
    use serde_json::json;

    /// Every key resolves through the trie exactly as `Document::field` does.
    fn check(doc: &Value, keys: &[&[&str]]) {
        let mut trie = PathTrie::default();
        let compiled: Vec<(FieldKey, Vec<u32>)> = keys
            .iter()
            .map(|paths| {
                let key = FieldKey::with_candidates(paths);
                let mut ids = Vec::new();
                trie.intern_key(&key, &mut ids);
                (key, ids)
            })
            .collect();
        let mut slots = Vec::new();
        trie.fill(doc.as_object().unwrap(), &mut slots);
        for (key, ids) in &compiled {
            assert_eq!(first_value(&slots, ids), doc.field(key), "{key:?} in {doc}");
        }
    }

    #[test]
    fn same_as_lookup() {
        let doc = json!({
            "Event": {"System": {"EventID": 1, "Provider": {"Name": "Sysmon"}},
                      "EventData": {"Image": "C:\\x.exe", "Nested": {"a": 1}},
                      "UserData": {"First": {"Other": "no"},
                                   "LogFileCleared": {"SubjectUserName": "bob"},
                                   "Later": {"SubjectUserName": "not me"}}},
            "process.command_line": "flat wins",
            "process": {"command_line": "nested", "args": ["a", "b"], "pid": 4},
            "a.b": {"c": "flat is not split further"},
            "n": null, "s": "x"
        });
        let keys: &[&[&str]] = &[
            &["Event.System.EventID"],
            &["Event.System.Provider.Name"],
            &["Event.System"],
            &["Event.EventData.Image"],
            &["Event.EventData.Nested.a"],
            &["Event.EventData.Nope", "Event.UserData.*.SubjectUserName"],
            &["Event.UserData.*.Other"],
            &["Event.UserData.*"],
            &["Event.*.EventID"],
            &["process.command_line"],
            &["process.pid"],
            &["process.args"],
            &["process.nope", "s"],
            &["a.b.c"],
            &["a.b"],
            &["n"],
            &["s.x"],
            &["nope"],
            &["*.command_line"],
        ];
        check(&doc, keys);
        // The same keys against documents lacking or reshaping their parts.
        for doc in [
            json!({}),
            json!({"Event": "not an object", "process": {"command_line": 3}}),
            json!({"Event": {"UserData": {"x": 1, "y": {"SubjectUserName": "y"}}}}),
            json!({"process.command_line": null, "s": {"x": true}}),
        ] {
            check(&doc, keys);
        }
    }

    #[test]
    fn recycled_slots_start_empty() {
        let mut trie = PathTrie::default();
        let id = trie.intern(&FieldPath::new("a"));
        let first = json!({"a": 1});
        let mut slots = Vec::new();
        trie.fill(first.as_object().unwrap(), &mut slots);
        assert_eq!(path_value(&slots, id), Some(&json!(1)));
        let mut slots = recycle(slots);
        assert!(slots.is_empty());
        let second = json!({"b": 1});
        trie.fill(second.as_object().unwrap(), &mut slots);
        assert_eq!(path_value(&slots, id), None);
    }
}

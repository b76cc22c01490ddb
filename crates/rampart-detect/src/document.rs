//! Event access: the [`Document`] trait the engine reads events through, pre-resolved [`FieldKey`]s, and implementations for JSON values and [`rampart_model::Event`].

use serde_json::{Map, Value};

/// Maximum nesting depth walked when visiting every string of a document.
const MAX_DEPTH: usize = 64;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    Key(Box<str>),
    /// `*`: the first child object that has the rest of the path.
    AnyChild,
}

/// One dotted path into a document, split once at compile time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    /// The whole path, tried first as one flat key at the root (`"process.command_line"`).
    pub(crate) flat: Box<str>,
    pub(crate) segments: Box<[Segment]>,
}

impl FieldPath {
    pub fn new(path: &str) -> Self {
        let segments = path
            .split('.')
            .map(|s| {
                if s == "*" {
                    Segment::AnyChild
                } else {
                    Segment::Key(s.into())
                }
            })
            .collect();
        FieldPath {
            flat: path.into(),
            segments,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.flat
    }
}

/// A Sigma field resolved against a field mapping: the document paths to try, in order.
///
/// Built once when an [`Engine`](crate::Engine) is created, so a lookup at evaluation time
/// is a walk of pre-split path segments with no parsing and no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldKey {
    pub(crate) candidates: Box<[FieldPath]>,
}

impl FieldKey {
    /// A key with a single path.
    pub fn new(path: &str) -> Self {
        FieldKey {
            candidates: vec![FieldPath::new(path)].into(),
        }
    }

    /// A key whose value is the first of `paths` present in the document.
    pub fn with_candidates<S: AsRef<str>>(paths: &[S]) -> Self {
        FieldKey {
            candidates: paths.iter().map(|p| FieldPath::new(p.as_ref())).collect(),
        }
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.candidates.iter().map(|p| p.as_str())
    }
}

/// A field's value as the engine sees it. Borrowed from the document: no copies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldRef<'a> {
    /// The field is not in the document.
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
    /// A list: a test holds when it holds for any member.
    List(&'a [Value]),
    /// A nested object; string and numeric tests never match it.
    Object,
}

impl<'a> FieldRef<'a> {
    /// The view of a JSON value.
    pub fn from_json(v: &'a Value) -> Self {
        match v {
            Value::Null => FieldRef::Null,
            Value::Bool(b) => FieldRef::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    FieldRef::Int(i)
                } else if let Some(u) = n.as_u64() {
                    FieldRef::UInt(u)
                } else {
                    FieldRef::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => FieldRef::Str(s),
            Value::Array(a) => FieldRef::List(a),
            Value::Object(_) => FieldRef::Object,
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, FieldRef::Missing)
    }
}

/// What the engine needs from an event.
///
/// `field` resolves a pre-built key; `for_each_string` visits every string value of the
/// event (the haystack of Sigma keyword searches): every string leaf of nested objects and
/// lists, numbers and booleans excluded.
///
/// A document that is a JSON object says so through `as_json_object`: the engine then
/// resolves every field a rule set needs in one pass over the object's keys instead of
/// calling `field` once per field (same results, fewer hash lookups).
pub trait Document {
    fn field(&self, key: &FieldKey) -> FieldRef<'_>;
    fn for_each_string(&self, f: &mut dyn FnMut(&str));
    /// The JSON object `field` reads, when the document is one.
    fn as_json_object(&self) -> Option<&Map<String, Value>> {
        None
    }
}

/// Look `path` up in `root`: the flat key first, then the dotted walk.
pub(crate) fn lookup<'a>(root: &'a Map<String, Value>, path: &FieldPath) -> Option<&'a Value> {
    if let Some(v) = root.get(&*path.flat) {
        return Some(v);
    }
    if path.segments.len() < 2 {
        return None;
    }
    walk(root, &path.segments)
}

fn walk<'a>(map: &'a Map<String, Value>, segments: &[Segment]) -> Option<&'a Value> {
    let (first, rest) = segments.split_first()?;
    match first {
        Segment::Key(k) => {
            let v = map.get(&**k)?;
            if rest.is_empty() {
                return Some(v);
            }
            match v {
                Value::Object(child) => walk(child, rest),
                _ => None,
            }
        }
        Segment::AnyChild => {
            if rest.is_empty() {
                return None;
            }
            map.values().find_map(|v| match v {
                Value::Object(child) => walk(child, rest),
                _ => None,
            })
        }
    }
}

fn field_in_map<'a>(map: &'a Map<String, Value>, key: &FieldKey) -> FieldRef<'a> {
    for path in key.candidates.iter() {
        if let Some(v) = lookup(map, path) {
            return FieldRef::from_json(v);
        }
    }
    FieldRef::Missing
}

pub(crate) fn visit_strings(v: &Value, f: &mut dyn FnMut(&str), depth: usize) {
    if depth == 0 {
        return;
    }
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| visit_strings(i, f, depth - 1)),
        Value::Object(map) => map.values().for_each(|i| visit_strings(i, f, depth - 1)),
        _ => {}
    }
}

/// The string leaves of `root`, in the order (and to the depth) `for_each_string` visits
/// them.
pub(crate) fn collect_strings<'a>(root: &'a Map<String, Value>, out: &mut Vec<&'a str>) {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>, depth: usize) {
        if depth == 0 {
            return;
        }
        match v {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out, depth - 1)),
            Value::Object(map) => map.values().for_each(|i| walk(i, out, depth - 1)),
            _ => {}
        }
    }
    root.values().for_each(|v| walk(v, out, MAX_DEPTH));
}

impl Document for Map<String, Value> {
    fn field(&self, key: &FieldKey) -> FieldRef<'_> {
        field_in_map(self, key)
    }

    fn for_each_string(&self, f: &mut dyn FnMut(&str)) {
        self.values().for_each(|v| visit_strings(v, f, MAX_DEPTH));
    }

    fn as_json_object(&self) -> Option<&Map<String, Value>> {
        Some(self)
    }
}

impl Document for Value {
    fn field(&self, key: &FieldKey) -> FieldRef<'_> {
        match self {
            Value::Object(map) => field_in_map(map, key),
            _ => FieldRef::Missing,
        }
    }

    fn for_each_string(&self, f: &mut dyn FnMut(&str)) {
        // An object is visited as the `Map` document it holds (same depth).
        match self {
            Value::Object(map) => map.for_each_string(f),
            v => visit_strings(v, f, MAX_DEPTH),
        }
    }

    fn as_json_object(&self) -> Option<&Map<String, Value>> {
        self.as_object()
    }
}

/// A Rampart event is matched on its parsed `fields`.
impl Document for rampart_model::Event {
    fn field(&self, key: &FieldKey) -> FieldRef<'_> {
        field_in_map(&self.fields, key)
    }

    fn for_each_string(&self, f: &mut dyn FnMut(&str)) {
        self.fields.for_each_string(f);
    }

    fn as_json_object(&self) -> Option<&Map<String, Value>> {
        Some(&self.fields)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups() {
        let doc = json!({
            "Event": {"System": {"EventID": 1, "Provider": {"Name": "Sysmon"}},
                      "EventData": {"Image": "C:\\x.exe"},
                      "UserData": {"LogFileCleared": {"SubjectUserName": "bob"}}},
            "process.command_line": "flat wins",
            "process": {"command_line": "nested", "args": ["a", "b"]},
            "n": null, "f": 1.5, "b": true, "big": u64::MAX
        });
        let cases: &[(&[&str], FieldRef<'_>)] = &[
            (&["Event.System.EventID"], FieldRef::Int(1)),
            (&["Event.System.Provider.Name"], FieldRef::Str("Sysmon")),
            (&["Event.EventData.Image"], FieldRef::Str("C:\\x.exe")),
            (&["process.command_line"], FieldRef::Str("flat wins")),
            (
                &[
                    "Event.EventData.SubjectUserName",
                    "Event.UserData.*.SubjectUserName",
                ],
                FieldRef::Str("bob"),
            ),
            (&["Event.EventData.Nope"], FieldRef::Missing),
            (&["Event.System.EventID.x"], FieldRef::Missing),
            (&["n"], FieldRef::Null),
            (&["f"], FieldRef::Float(1.5)),
            (&["b"], FieldRef::Bool(true)),
            (&["big"], FieldRef::UInt(u64::MAX)),
            (&["Event.System"], FieldRef::Object),
        ];
        for (paths, want) in cases {
            assert_eq!(
                doc.field(&FieldKey::with_candidates(paths)),
                *want,
                "{paths:?}"
            );
        }
        let list = doc.field(&FieldKey::new("process.args"));
        assert!(matches!(list, FieldRef::List(l) if l.len() == 2));
    }

    #[test]
    fn strings_are_all_string_leaves() {
        let doc = json!({"a": "x", "b": {"c": ["y", 1, {"d": "z"}]}, "e": true});
        let mut seen = Vec::new();
        doc.for_each_string(&mut |s| seen.push(s.to_owned()));
        seen.sort();
        assert_eq!(seen, ["x", "y", "z"]);
    }
}

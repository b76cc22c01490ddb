//! Field access for correlations: Sigma names resolved per event class through the mappings, scalar rendering for group keys and distinct values, and the group-key encoding.

use crate::document::{Document, FieldKey, FieldRef};
use crate::mapping::CompiledSchema;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Sigma field names used by correlations, resolved per event class like the engine's.
#[derive(Debug)]
pub(crate) struct FieldTable {
    pub(crate) schemas: Vec<CompiledSchema>,
    pub(crate) names: Vec<String>,
    pub(crate) ids: HashMap<String, u32>,
    /// `keys[class * names.len() + field]`.
    pub(crate) keys: Vec<FieldKey>,
    pub(crate) classes: usize,
}

impl FieldTable {
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(i) = self.ids.get(name) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), i);
        i
    }

    pub(crate) fn classify<D: Document + ?Sized>(&self, doc: &D) -> usize {
        for s in &self.schemas {
            let present = match &s.detect {
                None => true,
                Some(k) => !doc.field(k).is_missing(),
            };
            if present {
                return s.classify(doc);
            }
        }
        self.classes.saturating_sub(1)
    }

    pub(crate) fn key(&self, class: usize, field: u32) -> Option<&FieldKey> {
        self.keys.get(class * self.names.len() + field as usize)
    }
}

/// Render a scalar as group-key / distinct-value text (integers plainly, floats by
/// `Display`, booleans as `true`/`false`); `false` for lists, objects, null, missing.
pub(crate) fn render(v: FieldRef<'_>, out: &mut String) -> bool {
    match v {
        FieldRef::Str(s) => out.push_str(s),
        FieldRef::Int(i) => {
            let _ = write!(out, "{i}");
        }
        FieldRef::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        FieldRef::Float(f) => {
            let _ = write!(out, "{f}");
        }
        FieldRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        FieldRef::Missing | FieldRef::Null | FieldRef::List(_) | FieldRef::Object => return false,
    }
    true
}

pub(crate) fn number(v: FieldRef<'_>) -> Option<f64> {
    match v {
        FieldRef::Int(i) => Some(i as f64),
        FieldRef::UInt(u) => Some(u as f64),
        FieldRef::Float(f) => Some(f),
        FieldRef::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// FNV-1a: a stable hash for distinct values (snapshots must hash alike after restart).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The values of an encoded group key (`<byte length>:<value>` per field).
pub(crate) fn decode_key(key: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        let (len, after) = rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        out.push(after.get(..len)?);
        rest = after.get(len..)?;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_round_trip() {
        let cases: &[&[&str]] = &[&[], &["10.0.0.1"], &["a:b", ""], &["é", "3:x"]];
        for values in cases {
            let mut key = String::new();
            for v in *values {
                let _ = write!(key, "{}:", v.len());
                key.push_str(v);
            }
            assert_eq!(decode_key(&key).unwrap(), *values);
        }
        assert_eq!(decode_key("5:ab"), None);
        assert_eq!(decode_key("x:ab"), None);
    }

    #[test]
    fn rendering_of_values() {
        let cases = [
            (FieldRef::Str("root"), Some("root")),
            (FieldRef::Int(-3), Some("-3")),
            (FieldRef::UInt(7), Some("7")),
            (FieldRef::Float(1.5), Some("1.5")),
            (FieldRef::Bool(true), Some("true")),
            (FieldRef::Null, None),
            (FieldRef::Missing, None),
            (FieldRef::Object, None),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            let ok = render(v, &mut s);
            assert_eq!(ok.then_some(s.as_str()), want, "{v:?}");
        }
    }
}

//! Dotted paths (`host.name`) over nested JSON objects.

use serde_json::{Map, Value};

/// A dotted field path such as `source.ip`.
pub type FieldPath = str;

/// Look up `path` in `map`, first as a literal key (for keys that contain dots, as
/// flattened JSON often does), then through nested objects.
pub fn get_path<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    match map.get(head)? {
        Value::Object(inner) => get_path(inner, rest),
        _ => None,
    }
}

/// Insert `value` at `path`, creating intermediate objects. A non-object in the way is
/// replaced, so the newest value wins.
pub fn insert_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let slot = map
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Insert only when nothing is at `path` yet.
pub fn insert_path_if_absent(map: &mut Map<String, Value>, path: &str, value: Value) {
    if get_path(map, path).is_none() {
        insert_path(map, path, value);
    }
}

/// Render a scalar as a string; `None` for objects, arrays and null.
pub fn scalar_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Visit every leaf of a nested object with its dotted path.
pub fn for_each_leaf(map: &Map<String, Value>, f: &mut dyn FnMut(&str, &Value)) {
    fn walk(prefix: &mut String, value: &Value, f: &mut dyn FnMut(&str, &Value)) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let len = prefix.len();
                    if !prefix.is_empty() {
                        prefix.push('.');
                    }
                    prefix.push_str(k);
                    walk(prefix, v, f);
                    prefix.truncate(len);
                }
            }
            other => f(prefix, other),
        }
    }
    let mut prefix = String::new();
    for (k, v) in map {
        prefix.clear();
        prefix.push_str(k);
        walk(&mut prefix, v, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_and_dotted_keys_both_resolve() {
        let Value::Object(map) = json!({"host": {"name": "a"}, "user.name": "bob"}) else {
            unreachable!()
        };
        assert_eq!(get_path(&map, "host.name"), Some(&json!("a")));
        assert_eq!(get_path(&map, "user.name"), Some(&json!("bob")));
        assert_eq!(get_path(&map, "host.ip"), None);
    }

    #[test]
    fn insert_creates_objects_and_leaves_walk() {
        let mut map = Map::new();
        insert_path(&mut map, "a.b.c", json!(1));
        insert_path(&mut map, "a.d", json!("x"));
        insert_path_if_absent(&mut map, "a.d", json!("y"));
        let mut leaves = Vec::new();
        for_each_leaf(&map, &mut |p, v| leaves.push((p.to_owned(), v.clone())));
        assert_eq!(
            leaves,
            vec![
                ("a.b.c".to_owned(), json!(1)),
                ("a.d".to_owned(), json!("x"))
            ]
        );
    }
}

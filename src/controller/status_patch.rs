//! Status writes as JSON merge patches (RFC 7386) that also clear what the new status leaves out.
//! serde skips `None` fields, and a merge patch keeps every field it does not mention, so without
//! this a cleared field (say `status.roll.node` after a roll) would stay in the object forever.

use serde_json::{Map, Value};

/// `new`, with `null` for every object field that `old` has and `new` lacks, at any depth.
pub fn with_removals(old: &Value, new: Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(mut new)) => {
            let mut out = Map::with_capacity(new.len());
            for (key, old_value) in old {
                let merged = match new.remove(key) {
                    Some(new_value) => with_removals(old_value, new_value),
                    None => Value::Null,
                };
                out.insert(key.clone(), merged);
            }
            out.extend(new);
            Value::Object(out)
        }
        (_, new) => new,
    }
}

/// The merge patch `{"status": new}` that turns `previous` into `new`.
pub fn status_patch<T: serde::Serialize>(previous: Option<&T>, new: &T) -> Value {
    let new = serde_json::to_value(new).unwrap_or(Value::Null);
    let old = previous.and_then(|p| serde_json::to_value(p).ok()).unwrap_or(Value::Null);
    serde_json::json!({ "status": with_removals(&old, new) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clears_nested_fields_the_new_status_drops() {
        let old = json!({"roll": {"inProgress": true, "node": 100, "reason": "x"}, "clusterId": "a", "listeners": [1]});
        let new = json!({"roll": {"inProgress": false}, "clusterId": "a"});
        assert_eq!(
            with_removals(&old, new),
            json!({"roll": {"inProgress": false, "node": null, "reason": null}, "clusterId": "a", "listeners": null})
        );
    }

    #[test]
    fn arrays_and_scalars_are_replaced_whole() {
        assert_eq!(with_removals(&json!([1, 2]), json!([3])), json!([3]));
        assert_eq!(with_removals(&json!({"a": 1}), json!(5)), json!(5));
        assert_eq!(with_removals(&Value::Null, json!({"a": 1})), json!({"a": 1}));
    }
}

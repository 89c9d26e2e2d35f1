//! The one status write of every kind: a JSON merge patch (RFC 7386) that also clears what the
//! new status leaves out, sent only when the status changed. serde skips `None` fields, and a
//! merge patch keeps every field it does not mention, so without the clearing a cleared field
//! (say `status.roll.node` after a roll) would stay in the object forever.

use kube::api::{Api, Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::controller::context::Context;

/// Writes `new` as the status of `obj`, unless it is the status `obj` already has.
pub async fn write_status<K>(ctx: &Context, obj: &K, new: &K::Status) -> kube::Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + HasStatus + Clone + DeserializeOwned + std::fmt::Debug,
    K::Status: Serialize + PartialEq,
{
    if obj.status() == Some(new) {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = status_patch(obj.status(), new);
    api.patch_status(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    ctx.metrics.count_write();
    Ok(())
}

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

#[cfg(test)]
mod patch_tests {
    use super::*;
    use crate::api::topic::{KafkaTopicStatus, ReassignmentStatus};

    #[test]
    fn cleared_fields_become_null() {
        let old = KafkaTopicStatus {
            reassignment: Some(ReassignmentStatus { target_replicas: 3, partitions_done: 0, partitions_total: 1 }),
            replicas: Some(2),
            ..KafkaTopicStatus::default()
        };
        let new = KafkaTopicStatus { replicas: Some(3), ..KafkaTopicStatus::default() };
        assert_eq!(status_patch(Some(&old), &new), serde_json::json!({"status": {"replicas": 3, "reassignment": null}}));
        assert_eq!(status_patch(None, &new), serde_json::json!({"status": {"replicas": 3}}));
    }
}

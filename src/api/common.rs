//! Types shared by the Gregor custom resources.
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The API group of every Gregor resource, as a literal for `concat!` (annotation, label and
/// finalizer keys live under it). The `#[kube(group = ...)]` attributes need a literal too: a
/// test checks that they say the same.
#[macro_export]
macro_rules! api_group {
    () => {
        "kafka.gregor.dev"
    };
}

/// The API group of every Gregor resource.
pub const GROUP: &str = api_group!();
/// The API version served and stored.
pub const VERSION: &str = "v1alpha1";

/// A standard Kubernetes condition (`type`, `status`, `reason`, `message`, ...), kstatus-compatible.
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Free-form Kafka configuration: keys are Kafka property names, values are strings, numbers or booleans.
pub type KafkaConfig = BTreeMap<String, serde_json::Value>;

/// Schema of a free-form Kafka configuration map.
///
/// Values are scalars, but the schema keeps unknown fields so that keys with dots
/// (`retention.ms`) and values of any scalar type are accepted; the model rejects
/// non-scalar values with a field path.
pub fn kafka_config_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        // A server-side apply of `config: {}` over owned keys stores null: accept it as empty.
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Reads a Kafka configuration map, taking `null` for an empty one (see [`kafka_config_schema`]).
pub fn kafka_config_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<KafkaConfig, D::Error> {
    Ok(Option::<KafkaConfig>::deserialize(deserializer)?.unwrap_or_default())
}

/// A reference to a key of a Secret in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as the resource.
    pub name: String,
    /// Key inside the Secret.
    pub key: String,
}

#[cfg(test)]
mod tests {
    use crate::api::KafkaTopic;

    #[test]
    fn every_kind_is_in_the_one_group() {
        use kube::Resource;
        assert_eq!(crate::api::KafkaCluster::group(&()), super::GROUP);
        assert_eq!(crate::api::KafkaTopic::group(&()), super::GROUP);
        assert_eq!(crate::api::KafkaUser::group(&()), super::GROUP);
    }

    #[test]
    fn null_config_reads_as_empty() {
        let read = |config: serde_json::Value| -> KafkaTopic {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic",
                "metadata": {"name": "t"},
                "spec": {"cluster": "c", "partitions": 1, "config": config}
            }))
            .expect("topic")
        };
        assert!(read(serde_json::Value::Null).spec.config.is_empty());
        assert_eq!(read(serde_json::json!({"retention.ms": 1000})).spec.config.len(), 1);
    }
}

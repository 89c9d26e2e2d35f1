//! Types shared by the Gregor custom resources.
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The API group of every Gregor resource.
pub const GROUP: &str = "kafka.gregor.dev";
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
        "x-kubernetes-preserve-unknown-fields": true,
    })
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

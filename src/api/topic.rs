//! The `KafkaTopic` custom resource.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, KafkaConfig, kafka_config_or_null, kafka_config_schema};

/// Desired state of a Kafka topic. The resource is the source of truth: out-of-band changes to managed keys are reverted.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kafka.gregor.dev",
    version = "v1alpha1",
    kind = "KafkaTopic",
    namespaced,
    shortname = "kt",
    category = "gregor",
    status = "KafkaTopicStatus",
    derive = "PartialEq",
    doc = "A Kafka topic, managed by Gregor.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster", description = "The KafkaCluster holding the topic"),
    printcolumn(name = "Topic", type_ = "string", json_path = ".status.topicName", description = "Topic name in Kafka"),
    printcolumn(name = "Partitions", type_ = "integer", json_path = ".spec.partitions", description = "Desired partitions"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".status.replicas", description = "Replication factor in Kafka"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the topic matches its spec"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.topicName) == has(oldSelf.topicName)", "message": "topicName is immutable"}
]))]
pub struct KafkaTopicSpec {
    /// Name of the KafkaCluster (same namespace) that holds the topic. Immutable.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "cluster is immutable"}]))]
    pub cluster: String,
    /// Topic name in Kafka. Defaults to the resource name. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "topicName is immutable"}]))]
    pub topic_name: Option<String>,
    /// Number of partitions, at least 1. It may grow but never decrease. Defaults to the cluster's num.partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1", "message": "partitions must be at least 1"},
        {"rule": "self >= oldSelf", "message": "partitions may not decrease"}
    ]))]
    pub partitions: Option<i32>,
    /// Replication factor, at least 1. Defaults to the cluster's default.replication.factor. A change is carried out by partition reassignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 1", "message": "replicas must be at least 1"}]))]
    pub replicas: Option<i32>,
    /// Topic configuration (e.g. cleanup.policy, retention.ms). min.insync.replicas defaults to max(1, replicas-1).
    #[serde(default, skip_serializing_if = "KafkaConfig::is_empty", deserialize_with = "kafka_config_or_null")]
    #[schemars(schema_with = "kafka_config_schema")]
    pub config: KafkaConfig,
    /// What happens to the Kafka topic when the resource is deleted: delete (default) or retain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// What happens in Kafka when the resource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DeletionPolicy {
    Delete,
    Retain,
}

/// Observed state of a Kafka topic.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTopicStatus {
    /// The metadata.generation the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: Ready (reasons include ResourceConflict, PartitionDecrease) and Warning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Topic name in Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// Kafka's topic id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Partitions in Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Replication factor in Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Progress of a replication factor change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassignment: Option<ReassignmentStatus>,
}

/// Progress of a partition reassignment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReassignmentStatus {
    /// Replication factor being reached.
    pub target_replicas: i32,
    /// Partitions already at the target.
    pub partitions_done: i32,
    /// Partitions in total.
    pub partitions_total: i32,
}

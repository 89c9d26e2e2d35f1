//! Pure: a KafkaTopic spec plus its cluster's defaults → the topic Kafka should hold, or every
//! error with its field path.

use std::collections::BTreeMap;

use super::config::scalar_text;
use super::error::{Findings, ValidationErrors};
use crate::api::topic::{DeletionPolicy, KafkaTopicSpec};

/// The topic config key whose default follows the replication factor.
pub use super::config::MIN_ISR_KEY;
/// Longest legal Kafka topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// What the topic reconciler needs to know about the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    /// The cluster's `default.replication.factor`.
    pub replication_factor: i32,
    /// Number of brokers the cluster declares.
    pub brokers: i32,
}

/// The topic as Kafka should hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTopic {
    /// Topic name in Kafka.
    pub name: String,
    /// Partitions; `None` takes the broker's `num.partitions` at creation and is not managed after.
    pub partitions: Option<i32>,
    /// Replication factor.
    pub replicas: i32,
    /// Managed config keys (the spec's, plus `min.insync.replicas` = max(1, RF-1) unless given).
    pub config: BTreeMap<String, String>,
    /// Whether deleting the resource deletes the topic.
    pub delete_with_resource: bool,
}

/// The topic name a resource stands for: `spec.topicName`, else the resource name.
pub fn topic_name<'a>(resource_name: &'a str, spec: &'a KafkaTopicSpec) -> &'a str {
    spec.topic_name.as_deref().unwrap_or(resource_name)
}

/// Whether `name` is a legal Kafka topic name.
pub fn is_legal_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_NAME_LEN
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Validates a KafkaTopic spec against its cluster's defaults.
pub fn desired_topic(resource_name: &str, spec: &KafkaTopicSpec, defaults: &TopicDefaults) -> Result<DesiredTopic, ValidationErrors> {
    let mut findings = Findings::default();
    let mut error = |path: &str, message: String| findings.error(path, message);
    let name = topic_name(resource_name, spec);
    if !is_legal_topic_name(name) {
        let path = if spec.topic_name.is_some() { "spec.topicName" } else { "metadata.name" };
        error(
            path,
            format!(
                "\"{name}\" is not a legal Kafka topic name (1-{MAX_TOPIC_NAME_LEN} of a-z, A-Z, 0-9, '.', '_', '-'); set spec.topicName"
            ),
        );
    }
    if let Some(p) = spec.partitions
        && p < 1
    {
        error("spec.partitions", format!("must be at least 1, not {p}"));
    }
    let replicas = spec.replicas.unwrap_or(defaults.replication_factor);
    if replicas < 1 {
        error("spec.replicas", format!("must be at least 1, not {replicas}"));
    } else if replicas > defaults.brokers {
        error("spec.replicas", format!("{replicas} replicas need {replicas} brokers, but the cluster has {}", defaults.brokers));
    }
    let mut config = BTreeMap::new();
    for (key, value) in &spec.config {
        match scalar_text(value) {
            Ok(text) => {
                config.insert(key.clone(), text);
            }
            Err(message) => error(&format!("spec.config.{key}"), message.to_owned()),
        }
    }
    if let Some(isr) = config.get(MIN_ISR_KEY) {
        match isr.trim().parse::<i32>() {
            Ok(n) if n >= 1 && n <= replicas => {}
            Ok(n) if n >= 1 => error(
                "spec.config.min.insync.replicas",
                format!("{n} is more than the {replicas} replicas: no write with acks=all could ever succeed"),
            ),
            _ => error("spec.config.min.insync.replicas", format!("\"{isr}\" is not a positive integer")),
        }
    } else {
        config.insert(MIN_ISR_KEY.to_owned(), (replicas - 1).max(1).to_string());
    }
    findings.into_result(DesiredTopic {
        name: name.to_owned(),
        partitions: spec.partitions,
        replicas,
        config,
        delete_with_resource: spec.deletion_policy != Some(DeletionPolicy::Retain),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> KafkaTopicSpec {
        serde_json::from_value(value).expect("spec")
    }

    const THREE: TopicDefaults = TopicDefaults { replication_factor: 3, brokers: 3 };

    #[test]
    fn defaults_follow_the_cluster() {
        let d = desired_topic("orders", &spec(json!({"cluster": "c"})), &THREE).expect("valid");
        assert_eq!(d.name, "orders");
        assert_eq!(d.replicas, 3);
        assert_eq!(d.partitions, None);
        assert_eq!(d.config.get(MIN_ISR_KEY).map(String::as_str), Some("2"));
        assert!(d.delete_with_resource);
    }

    #[test]
    fn spec_values_win_and_are_text() {
        let d = desired_topic(
            "r",
            &spec(json!({"cluster": "c", "topicName": "t.1", "partitions": 6, "replicas": 1, "deletionPolicy": "retain",
                "config": {"retention.ms": 1000, "cleanup.policy": "compact", "preallocate": true}})),
            &THREE,
        )
        .expect("valid");
        assert_eq!(d.name, "t.1");
        assert_eq!(d.partitions, Some(6));
        assert_eq!(d.replicas, 1);
        assert!(!d.delete_with_resource);
        let keys: Vec<(&str, &str)> = d.config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            keys,
            vec![("cleanup.policy", "compact"), ("min.insync.replicas", "1"), ("preallocate", "true"), ("retention.ms", "1000")]
        );
    }

    #[test]
    fn errors_have_field_paths() {
        let cases = [
            (json!({"cluster": "c", "replicas": 4}), "spec.replicas"),
            (json!({"cluster": "c", "partitions": 0}), "spec.partitions"),
            (json!({"cluster": "c", "config": {"retention.ms": [1]}}), "spec.config.retention.ms"),
            (json!({"cluster": "c", "config": {"min.insync.replicas": 4}}), "spec.config.min.insync.replicas"),
            (json!({"cluster": "c", "topicName": "no/slash"}), "spec.topicName"),
        ];
        for (value, path) in cases {
            let errors = desired_topic("r", &spec(value.clone()), &THREE).expect_err("invalid");
            assert_eq!(errors.0[0].path, path, "{value}");
        }
    }
}

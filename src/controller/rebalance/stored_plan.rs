//! The plan an approved rebalance carries out, kept in a ConfigMap owned by the KafkaRebalance so
//! that an operator restart resumes the same plan instead of computing a new one (which could
//! move a partition twice). Pure: conversion, the ConfigMap's shape, and reading it back.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::{Deserialize, Serialize};

use crate::balance::{BrokerId, Plan, TopicPartition};
use crate::model::names;

/// The ConfigMap key holding the plan.
pub const PLAN_KEY: &str = "plan.json";
/// A ConfigMap holds at most 1 MiB; leave room for the metadata.
const MAX_PLAN_BYTES: usize = 900 * 1024;

/// One partition's replica list before and after.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct StoredMove {
    pub topic: String,
    pub partition: i32,
    pub from: Vec<BrokerId>,
    pub to: Vec<BrokerId>,
}

impl StoredMove {
    pub fn partition(&self) -> TopicPartition {
        TopicPartition { topic: self.topic.clone(), partition: self.partition }
    }
    /// Brokers that get a replica.
    pub fn added(&self) -> impl Iterator<Item = BrokerId> + '_ {
        self.to.iter().copied().filter(|b| !self.from.contains(b))
    }
}

/// The batches to run in order, then the leader-only reorders.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredPlan {
    pub batches: Vec<Vec<StoredMove>>,
    pub reorders: Vec<StoredMove>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoredPlanError {
    #[error(
        "the plan is {bytes} bytes as JSON, more than a ConfigMap holds ({MAX_PLAN_BYTES}); use add-brokers or remove-brokers, or fewer partitions per rebalance"
    )]
    TooLarge { bytes: usize },
    #[error("ConfigMap {0} has no {PLAN_KEY}")]
    Missing(String),
    #[error("ConfigMap {name}: {PLAN_KEY} is not a plan: {source}")]
    Corrupt {
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StoredPlan {
    pub fn from_plan(plan: &Plan) -> StoredPlan {
        let batches = plan
            .batches
            .iter()
            .map(|b| {
                b.moves
                    .iter()
                    .filter_map(|&i| plan.moves.get(i))
                    .map(|m| StoredMove {
                        topic: m.partition.topic.clone(),
                        partition: m.partition.partition,
                        from: m.old_replicas.clone(),
                        to: m.new_replicas.clone(),
                    })
                    .collect()
            })
            .collect();
        let reorders = plan
            .leader_reorders
            .iter()
            .map(|r| StoredMove {
                topic: r.partition.topic.clone(),
                partition: r.partition.partition,
                from: r.old_replicas.clone(),
                to: r.new_replicas.clone(),
            })
            .collect();
        StoredPlan { batches, reorders }
    }

    /// The ConfigMap `name` holding this plan, owned by the KafkaRebalance.
    pub fn config_map(&self, name: &str, namespace: &str, cluster: &str, owner: OwnerReference) -> Result<ConfigMap, StoredPlanError> {
        let json = serde_json::to_string(self).map_err(|source| StoredPlanError::Corrupt { name: name.to_owned(), source })?;
        if json.len() > MAX_PLAN_BYTES {
            return Err(StoredPlanError::TooLarge { bytes: json.len() });
        }
        let mut labels = names::cluster_selector(cluster);
        labels.insert(names::labels::MANAGED_BY.to_owned(), names::labels::MANAGED_BY_VALUE.to_owned());
        Ok(ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                labels: Some(labels),
                owner_references: Some(vec![owner]),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(PLAN_KEY.to_owned(), json)])),
            ..ConfigMap::default()
        })
    }

    pub fn read(cm: &ConfigMap) -> Result<StoredPlan, StoredPlanError> {
        let name = cm.metadata.name.clone().unwrap_or_default();
        let json = cm.data.as_ref().and_then(|d| d.get(PLAN_KEY)).ok_or_else(|| StoredPlanError::Missing(name.clone()))?;
        serde_json::from_str(json).map_err(|source| StoredPlanError::Corrupt { name, source })
    }
}

/// The plan ConfigMap's name for a KafkaRebalance.
pub fn config_map_name(rebalance: &str) -> String {
    format!("{rebalance}-plan")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::{Broker, ClusterLayout, Goals, PartitionLayout};

    fn layout() -> ClusterLayout {
        let brokers = (1..=3).map(|id| Broker { id, rack: None, capacity_bytes: 1 << 30 }).collect();
        let partitions = (0..6)
            .map(|p| PartitionLayout {
                id: TopicPartition { topic: "t".into(), partition: p },
                replicas: vec![1, 2],
                leader: Some(1),
                isr: vec![1, 2],
                size_bytes: 1000,
                min_isr: 1,
            })
            .collect();
        ClusterLayout { brokers, partitions, drain: Default::default() }
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "kafka.gregor.dev/v1alpha1".into(),
            kind: "KafkaRebalance".into(),
            name: "r".into(),
            uid: "u".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_plan_survives_the_config_map_and_keeps_every_move_once() {
        let plan = crate::balance::plan(&layout(), &Goals::default()).expect("plan");
        assert!(!plan.moves.is_empty());
        let stored = StoredPlan::from_plan(&plan);
        let moved: usize = stored.batches.iter().map(Vec::len).sum();
        assert_eq!(moved, plan.moves.len(), "every move in exactly one batch");
        let cm = stored.config_map(&config_map_name("r"), "ns", "c", owner()).expect("fits");
        assert_eq!(cm.metadata.name.as_deref(), Some("r-plan"));
        assert_eq!(cm.metadata.labels.as_ref().and_then(|l| l.get(names::labels::CLUSTER)).map(String::as_str), Some("c"));
        assert_eq!(StoredPlan::read(&cm).expect("read"), stored);
    }

    #[test]
    fn a_missing_or_corrupt_plan_is_an_error_not_an_empty_plan() {
        let mut cm = ConfigMap::default();
        assert!(matches!(StoredPlan::read(&cm), Err(StoredPlanError::Missing(_))));
        cm.data = Some(BTreeMap::from([(PLAN_KEY.to_owned(), "{".to_owned())]));
        assert!(matches!(StoredPlan::read(&cm), Err(StoredPlanError::Corrupt { .. })));
    }
}

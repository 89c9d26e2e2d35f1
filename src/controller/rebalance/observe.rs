//! Reads the cluster's layout from Kafka for the planner: brokers, partitions, replica sizes,
//! usable disk and each topic's min.insync.replicas. Every read must succeed: a layout with a
//! hole in it gives no plan.

use std::collections::{BTreeMap, BTreeSet};

use super::proposal::{self, LayoutReadError};
use crate::balance::{BrokerId, ClusterLayout, TopicPartition};
use crate::controller::kafka_access::admin::Admin;
use crate::kafka::ops::cluster::ClusterBroker;
use crate::kafka::ops::configs::ConfigResource;

const MIN_ISR: &str = "min.insync.replicas";

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("Kafka: {0}")]
    Kafka(#[from] crate::kafka::Error),
    #[error(transparent)]
    Layout(#[from] LayoutReadError),
}

/// What Kafka reports, before the spec is applied to it.
pub struct Observed {
    pub brokers: Vec<ClusterBroker>,
    pub capacity: BTreeMap<BrokerId, u64>,
    pub metadata: std::sync::Arc<crate::kafka::MetadataSnapshot>,
    pub sizes: BTreeMap<TopicPartition, u64>,
    pub min_isr: BTreeMap<String, usize>,
}

impl Observed {
    pub fn broker_ids(&self) -> Vec<BrokerId> {
        self.brokers.iter().map(|b| b.id).collect()
    }

    pub fn layout(&self, drain: BTreeSet<BrokerId>) -> Result<ClusterLayout, LayoutReadError> {
        proposal::layout(&self.brokers, &self.capacity, &self.metadata, &self.sizes, &self.min_isr, drain)
    }
}

pub async fn observe(admin: &dyn Admin) -> Result<Observed, ObserveError> {
    let description = admin.describe_cluster().await?;
    let metadata = admin.refresh_metadata().await?;
    let mut brokers = description.brokers.clone();
    brokers.sort_by_key(|b| b.id);
    let mut capacity = BTreeMap::new();
    let mut sizes: BTreeMap<TopicPartition, u64> = BTreeMap::new();
    for b in &brokers {
        if b.fenced {
            continue;
        }
        let dirs = admin.describe_log_dirs(b.id).await?;
        capacity.insert(b.id, dirs.iter().filter_map(|d| d.total_bytes).sum());
        for (tp, size) in admin.replica_sizes(b.id).await? {
            let key = TopicPartition { topic: tp.topic, partition: tp.partition };
            let entry = sizes.entry(key).or_insert(0);
            *entry = (*entry).max(size);
        }
    }
    let topics: Vec<ConfigResource> = metadata.topics.iter().map(|t| ConfigResource::topic(t.name.clone())).collect();
    let mut min_isr = BTreeMap::new();
    if !topics.is_empty() {
        for r in admin.describe_configs(&topics, Some(&[MIN_ISR])).await? {
            if let Some(v) = r.get(MIN_ISR).and_then(|e| e.value.as_deref()).and_then(|v| v.parse::<usize>().ok()) {
                min_isr.insert(r.resource.name.clone(), v);
            }
        }
    }
    Ok(Observed { brokers, capacity, metadata, sizes, min_isr })
}

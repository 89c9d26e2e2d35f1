//! What the planner is given: the brokers, the partitions as Kafka describes them, and the
//! brokers to drain. Checked once by [`ClusterLayout::check`] before any planning.

use std::collections::BTreeSet;
use std::fmt;

/// A broker's node id, as Kafka numbers it.
pub type BrokerId = i32;

/// One broker: its rack (`broker.rack`, if set) and the disk it may fill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    pub id: BrokerId,
    pub rack: Option<String>,
    /// Usable disk bytes (the capacity the disk goal shares out in proportion).
    pub capacity_bytes: u64,
}

/// A topic-partition, the unit Kafka reassigns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// One partition as Kafka reports it (Metadata plus DescribeLogDirs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLayout {
    pub id: TopicPartition,
    /// The replica list in order; the first one is the preferred leader.
    pub replicas: Vec<BrokerId>,
    /// The current leader, if the partition has one.
    pub leader: Option<BrokerId>,
    /// The in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// The size of one replica's log, in bytes.
    pub size_bytes: u64,
    /// The topic's `min.insync.replicas`.
    pub min_isr: usize,
}

impl PartitionLayout {
    /// Every replica is in the ISR. Only such a partition is ever moved.
    pub fn isr_complete(&self) -> bool {
        self.replicas.iter().all(|r| self.isr.contains(r))
    }
}

/// The cluster the planner balances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterLayout {
    pub brokers: Vec<Broker>,
    pub partitions: Vec<PartitionLayout>,
    /// Brokers that are to hold no replica at the end (a scale-down or `remove-brokers`).
    pub drain: BTreeSet<BrokerId>,
}

/// A layout the planner refuses, naming the field at fault. Nothing is planned for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("brokers: broker {0} is listed twice")]
    DuplicateBroker(BrokerId),
    #[error("drain: broker {0} is not a broker of the cluster")]
    DrainUnknownBroker(BrokerId),
    #[error("partitions: {0} is listed twice")]
    DuplicatePartition(TopicPartition),
    #[error("partitions[{0}].replicas: the partition has no replica")]
    NoReplicas(TopicPartition),
    #[error("partitions[{partition}].replicas: broker {broker} is listed twice")]
    DuplicateReplica { partition: TopicPartition, broker: BrokerId },
    #[error("partitions[{partition}].replicas: broker {broker} is not a broker of the cluster")]
    ReplicaOnUnknownBroker { partition: TopicPartition, broker: BrokerId },
    #[error("goals.movesPerBroker: must be at least 1")]
    ZeroMovesPerBroker,
    #[error("goals.maxBytesInFlight: must be at least 1")]
    ZeroBytesInFlight,
}

impl ClusterLayout {
    /// Checks what the planner relies on: unique brokers and partitions, replicas on known
    /// brokers, each at most once, and drained brokers that exist.
    pub fn check(&self) -> Result<(), LayoutError> {
        let mut ids = BTreeSet::new();
        for b in &self.brokers {
            if !ids.insert(b.id) {
                return Err(LayoutError::DuplicateBroker(b.id));
            }
        }
        if let Some(d) = self.drain.iter().find(|d| !ids.contains(d)) {
            return Err(LayoutError::DrainUnknownBroker(*d));
        }
        let mut seen = BTreeSet::new();
        for p in &self.partitions {
            if !seen.insert(&p.id) {
                return Err(LayoutError::DuplicatePartition(p.id.clone()));
            }
            if p.replicas.is_empty() {
                return Err(LayoutError::NoReplicas(p.id.clone()));
            }
            for (i, r) in p.replicas.iter().enumerate() {
                if !ids.contains(r) {
                    return Err(LayoutError::ReplicaOnUnknownBroker { partition: p.id.clone(), broker: *r });
                }
                if p.replicas[..i].contains(r) {
                    return Err(LayoutError::DuplicateReplica { partition: p.id.clone(), broker: *r });
                }
            }
        }
        Ok(())
    }
}

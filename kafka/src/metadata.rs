//! An indexed snapshot of cluster metadata (brokers, controller, topics, partitions, ISR).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use kafka_protocol::messages::MetadataResponse;
use uuid::Uuid;

use crate::error::KafkaCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    /// `None` when the partition is offline (leader -1).
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
    pub error: Option<KafkaCode>,
}

impl PartitionInfo {
    pub fn is_under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub id: Uuid,
    pub internal: bool,
    pub error: Option<KafkaCode>,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionInfo>,
}

/// A (topic, partition) pair, used in reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Cluster metadata with indexes by topic name and by hosting broker.
#[derive(Debug, Clone)]
pub struct MetadataSnapshot {
    pub cluster_id: Option<String>,
    /// In KRaft this is a broker that forwards controller requests, not the active controller.
    pub controller_id: Option<i32>,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Sorted by name (binary-searched).
    pub topics: Vec<TopicInfo>,
    by_broker: HashMap<i32, Vec<(u32, u32)>>,
    pub fetched_at: Instant,
}

fn opt_node(id: i32) -> Option<i32> {
    (id >= 0).then_some(id)
}

impl MetadataSnapshot {
    /// Build and index a snapshot, moving the decoded vectors (no per-replica copies).
    pub fn from_response(resp: MetadataResponse) -> Self {
        let brokers = resp
            .brokers
            .into_iter()
            .map(|b| {
                let id = b.node_id.0;
                (id, BrokerInfo { id, host: b.host.to_string(), port: b.port, rack: b.rack.map(|r| r.to_string()) })
            })
            .collect();
        let mut topics: Vec<TopicInfo> = resp
            .topics
            .into_iter()
            .map(|t| {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        leader: opt_node(p.leader_id.0),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.into_iter().map(|b| b.0).collect(),
                        isr: p.isr_nodes.into_iter().map(|b| b.0).collect(),
                        offline: p.offline_replicas.into_iter().map(|b| b.0).collect(),
                        error: KafkaCode::from_code(p.error_code),
                    })
                    .collect();
                partitions.sort_unstable_by_key(|p| p.partition);
                TopicInfo {
                    name: t.name.map(|n| n.0.to_string()).unwrap_or_default(),
                    id: t.topic_id,
                    internal: t.is_internal,
                    error: KafkaCode::from_code(t.error_code),
                    partitions,
                }
            })
            .collect();
        topics.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let mut snap = MetadataSnapshot {
            cluster_id: resp.cluster_id.map(|c| c.to_string()),
            controller_id: opt_node(resp.controller_id.0),
            brokers,
            topics,
            by_broker: HashMap::new(),
            fetched_at: Instant::now(),
        };
        snap.reindex();
        snap
    }

    /// A snapshot from its parts (topics in any order), indexed as [`from_response`](Self::from_response)
    /// indexes one; for fakes of the Admin API in the operator's tests.
    pub fn new(
        cluster_id: Option<String>,
        controller_id: Option<i32>,
        brokers: BTreeMap<i32, BrokerInfo>,
        mut topics: Vec<TopicInfo>,
    ) -> Self {
        topics.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let mut snap =
            MetadataSnapshot { cluster_id, controller_id, brokers, topics, by_broker: HashMap::new(), fetched_at: Instant::now() };
        snap.reindex();
        snap
    }

    fn reindex(&mut self) {
        let mut by_broker: HashMap<i32, Vec<(u32, u32)>> = HashMap::with_capacity(self.brokers.len() + 1);
        for (ti, t) in self.topics.iter().enumerate() {
            for (pi, p) in t.partitions.iter().enumerate() {
                for r in &p.replicas {
                    by_broker.entry(*r).or_default().push((ti as u32, pi as u32));
                }
            }
        }
        self.by_broker = by_broker;
    }

    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.binary_search_by(|t| t.name.as_str().cmp(name)).ok().map(|i| &self.topics[i])
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionInfo> {
        let t = self.topic(topic)?;
        t.partitions.binary_search_by_key(&partition, |p| p.partition).ok().map(|i| &t.partitions[i])
    }

    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partition(topic, partition).and_then(|p| p.leader)
    }

    pub fn broker(&self, id: i32) -> Option<&BrokerInfo> {
        self.brokers.get(&id)
    }

    /// How many partition replicas each node hosts, for every node named in a replica list
    /// (registered or not, in the cluster's spec or not).
    pub fn replicas_per_node(&self) -> std::collections::BTreeMap<i32, usize> {
        self.by_broker.iter().map(|(node, hosted)| (*node, hosted.len())).collect()
    }

    /// Every partition with a replica on `node`.
    pub fn hosted_by(&self, node: i32) -> impl Iterator<Item = (&TopicInfo, &PartitionInfo)> {
        self.by_broker.get(&node).map(|v| v.as_slice()).unwrap_or(&[]).iter().map(|&(ti, pi)| {
            let t = &self.topics[ti as usize];
            (t, &t.partitions[pi as usize])
        })
    }

    pub fn partition_count(&self) -> usize {
        self.topics.iter().map(|t| t.partitions.len()).sum()
    }

    pub fn under_replicated(&self) -> impl Iterator<Item = (&TopicInfo, &PartitionInfo)> {
        self.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t, p))).filter(|(_, p)| p.is_under_replicated())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    /// Partitions of a synthetic topic: (replicas, isr) each.
    pub type Partitions = Vec<(Vec<i32>, Vec<i32>)>;

    /// A synthetic response: `topics` of (name, [(replicas, isr)]), leader = first ISR member.
    pub fn response(brokers: &[i32], topics: &[(&str, Partitions)]) -> MetadataResponse {
        let ids = |v: &[i32]| v.iter().map(|&i| BrokerId(i)).collect::<Vec<_>>();
        MetadataResponse::default()
            .with_cluster_id(Some(StrBytes::from_static_str("c1")))
            .with_controller_id(BrokerId(brokers[0]))
            .with_brokers(
                brokers
                    .iter()
                    .map(|&b| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(b))
                            .with_host(StrBytes::from_string(format!("b{b}.svc")))
                            .with_port(9092)
                    })
                    .collect(),
            )
            .with_topics(
                topics
                    .iter()
                    .map(|(name, parts)| {
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
                            .with_topic_id(Uuid::from_u128(name.len() as u128))
                            .with_partitions(
                                parts
                                    .iter()
                                    .enumerate()
                                    .rev()
                                    .map(|(i, (replicas, isr))| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(i as i32)
                                            .with_leader_id(BrokerId(isr.first().copied().unwrap_or(-1)))
                                            .with_replica_nodes(ids(replicas))
                                            .with_isr_nodes(ids(isr))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }

    #[test]
    fn indexes_by_name_and_broker() {
        let snap = MetadataSnapshot::from_response(response(
            &[1, 2, 3],
            &[("z", vec![(vec![1, 2], vec![1, 2])]), ("a", vec![(vec![2, 3], vec![3]), (vec![3, 1], vec![])])],
        ));
        assert_eq!(snap.cluster_id.as_deref(), Some("c1"));
        assert_eq!(snap.controller_id, Some(1));
        assert_eq!(snap.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "z"]);
        assert_eq!(snap.leader("a", 0), Some(3));
        assert_eq!(snap.leader("a", 1), None);
        assert_eq!(snap.partition("a", 1).unwrap().partition, 1);
        assert!(snap.topic("missing").is_none());
        let hosted: Vec<String> = snap.hosted_by(3).map(|(t, p)| format!("{}-{}", t.name, p.partition)).collect();
        assert_eq!(hosted, ["a-0", "a-1"]);
        assert_eq!(snap.hosted_by(9).count(), 0);
        // Node 7 is in no broker list (gone, or never registered) but still holds a replica.
        let gone = MetadataSnapshot::from_response(response(&[1, 2], &[("t", vec![(vec![1, 7], vec![1])])]));
        assert_eq!(gone.replicas_per_node(), std::collections::BTreeMap::from([(1, 1), (7, 1)]));
        assert_eq!(snap.partition_count(), 3);
        assert_eq!(snap.under_replicated().count(), 2);
        assert_eq!(snap.broker(2).unwrap().addr(), "b2.svc:9092");
    }
}

//! CreateTopics, DeleteTopics, CreatePartitions (batched), and partition reassignments.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::metadata::TopicPartition;
use crate::ops::pair_by_name;
use crate::router::{Client, Target};

/// Server-side timeout carried by topic requests.
const TOPIC_TIMEOUT_MS: i32 = 30_000;

fn tn(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Kafka's controller refuses a request that makes more than 10,000 metadata records
/// ("excessively large batch operation"); we stay well below.
pub const MAX_RECORDS_PER_REQUEST: usize = 5_000;

/// A topic to create. `None` partitions/replication use the broker defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i16>,
    /// Explicit replica assignment per partition (then partitions/RF must be `None`).
    pub assignments: BTreeMap<i32, Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions: Some(partitions),
            replication_factor: Some(replication_factor),
            assignments: BTreeMap::new(),
            configs: BTreeMap::new(),
        }
    }
    pub fn with_defaults(name: impl Into<String>) -> Self {
        NewTopic { partitions: None, replication_factor: None, ..NewTopic::new(name, 0, 0) }
    }
    /// Metadata records this topic's creation makes: the topic, its partitions, its configs.
    /// Unknown (broker-default) partition counts are guessed at 50.
    pub fn record_count(&self) -> usize {
        let parts = self.partitions.map(|p| p.max(1) as usize).unwrap_or(50).max(self.assignments.len());
        1 + parts + self.configs.len()
    }
    pub fn config(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.configs.insert(k.into(), v.into());
        self
    }
}

/// What Kafka reports for a created topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    pub topic_id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Effective configs as created (empty when the caller may not describe configs).
    pub configs: Vec<(String, Option<String>)>,
}

pub fn create_topics_request(topics: &[NewTopic], validate_only: bool) -> CreateTopicsRequest {
    CreateTopicsRequest::default().with_timeout_ms(TOPIC_TIMEOUT_MS).with_validate_only(validate_only).with_topics(
        topics
            .iter()
            .map(|t| {
                CreatableTopic::default()
                    .with_name(tn(&t.name))
                    .with_num_partitions(t.partitions.unwrap_or(-1))
                    .with_replication_factor(t.replication_factor.unwrap_or(-1))
                    .with_assignments(
                        t.assignments
                            .iter()
                            .map(|(p, b)| {
                                CreatableReplicaAssignment::default()
                                    .with_partition_index(*p)
                                    .with_broker_ids(b.iter().map(|&i| BrokerId(i)).collect())
                            })
                            .collect(),
                    )
                    .with_configs(
                        t.configs
                            .iter()
                            .map(|(k, v)| {
                                CreatableTopicConfig::default()
                                    .with_name(StrBytes::from_string(k.clone()))
                                    .with_value(Some(StrBytes::from_string(v.clone())))
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

pub fn parse_create_topics(resp: CreateTopicsResponse) -> HashMap<String, Result<CreatedTopic>> {
    resp.topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let r = Error::check("CreateTopics", t.error_code, Some(&name), t.error_message.as_deref()).map(|()| CreatedTopic {
                topic_id: t.topic_id,
                partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                configs: t.configs.unwrap_or_default().into_iter().map(|c| (c.name.to_string(), c.value.map(|v| v.to_string()))).collect(),
            });
            (name, r)
        })
        .collect()
}

pub fn delete_topics_request(names: &[String]) -> DeleteTopicsRequest {
    DeleteTopicsRequest::default()
        .with_timeout_ms(TOPIC_TIMEOUT_MS)
        .with_topics(names.iter().map(|n| DeleteTopicState::default().with_name(Some(tn(n)))).collect())
}

pub fn parse_delete_topics(resp: DeleteTopicsResponse) -> HashMap<String, Result<()>> {
    resp.responses
        .into_iter()
        .map(|t| {
            let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
            let r = Error::check("DeleteTopics", t.error_code, Some(&name), t.error_message.as_deref());
            (name, r)
        })
        .collect()
}

pub fn create_partitions_request(increases: &[(String, i32)], validate_only: bool) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default().with_timeout_ms(TOPIC_TIMEOUT_MS).with_validate_only(validate_only).with_topics(
        increases.iter().map(|(n, c)| CreatePartitionsTopic::default().with_name(tn(n)).with_count(*c).with_assignments(None)).collect(),
    )
}

pub fn parse_create_partitions(resp: CreatePartitionsResponse) -> HashMap<String, Result<()>> {
    resp.results
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let r = Error::check("CreatePartitions", t.error_code, Some(&name), t.error_message.as_deref());
            (name, r)
        })
        .collect()
}

/// Target replicas per partition; `None` cancels an ongoing reassignment.
pub type Reassignment = (TopicPartition, Option<Vec<i32>>);

pub fn alter_reassignments_request(items: &[Reassignment]) -> AlterPartitionReassignmentsRequest {
    let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for (tp, replicas) in items {
        by_topic.entry(tp.topic.as_str()).or_default().push(
            ReassignablePartition::default()
                .with_partition_index(tp.partition)
                .with_replicas(replicas.as_ref().map(|r| r.iter().map(|&b| BrokerId(b)).collect())),
        );
    }
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(TOPIC_TIMEOUT_MS)
        .with_topics(by_topic.into_iter().map(|(t, ps)| ReassignableTopic::default().with_name(tn(t)).with_partitions(ps)).collect())
}

pub fn parse_alter_reassignments(resp: AlterPartitionReassignmentsResponse) -> Result<HashMap<TopicPartition, Result<()>>> {
    Error::check("AlterPartitionReassignments", resp.error_code, None, resp.error_message.as_deref())?;
    let mut out = HashMap::new();
    for t in resp.responses {
        for p in t.partitions {
            let tp = TopicPartition { topic: t.name.0.to_string(), partition: p.partition_index };
            let r = Error::check("AlterPartitionReassignments", p.error_code, Some(&tp.to_string()), p.error_message.as_deref());
            out.insert(tp, r);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub partition: TopicPartition,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

pub fn list_reassignments_request(topics: Option<&[TopicPartition]>) -> ListPartitionReassignmentsRequest {
    let topics = topics.map(|tps| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in tps {
            by_topic.entry(tp.topic.as_str()).or_default().push(tp.partition);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| ListPartitionReassignmentsTopics::default().with_name(tn(t)).with_partition_indexes(ps))
            .collect()
    });
    ListPartitionReassignmentsRequest::default().with_timeout_ms(TOPIC_TIMEOUT_MS).with_topics(topics)
}

pub fn parse_list_reassignments(resp: ListPartitionReassignmentsResponse) -> Result<Vec<OngoingReassignment>> {
    Error::check("ListPartitionReassignments", resp.error_code, None, resp.error_message.as_deref())?;
    let ids = |v: Vec<BrokerId>| v.into_iter().map(|b| b.0).collect::<Vec<_>>();
    let mut out = Vec::new();
    for t in resp.topics {
        for p in t.partitions {
            out.push(OngoingReassignment {
                partition: TopicPartition { topic: t.name.0.to_string(), partition: p.partition_index },
                replicas: ids(p.replicas),
                adding: ids(p.adding_replicas),
                removing: ids(p.removing_replicas),
            });
        }
    }
    out.sort_by(|a, b| a.partition.cmp(&b.partition));
    Ok(out)
}

impl Client {
    /// Create topics in batches; per-topic outcome (TopicAlreadyExists is an error outcome).
    pub async fn create_topics(&self, topics: &[NewTopic], validate_only: bool) -> Result<Vec<(NewTopic, Result<CreatedTopic>)>> {
        self.run_items_weighted(topics.to_vec(), NewTopic::record_count, MAX_RECORDS_PER_REQUEST, |chunk| async move {
            let req = create_topics_request(&chunk, validate_only);
            let resp = self.send(Target::Controller, &req).await?;
            Ok(pair_by_name("CreateTopics", chunk, |t| t.name.as_str(), parse_create_topics(resp)))
        })
        .await
    }

    /// Delete topics by name in batches; per-topic outcome.
    pub async fn delete_topics(&self, names: &[String]) -> Result<Vec<(String, Result<()>)>> {
        self.run_items(names.to_vec(), |chunk| async move {
            let req = delete_topics_request(&chunk);
            let resp = self.send(Target::Controller, &req).await?;
            Ok(pair_by_name("DeleteTopics", chunk, |n| n.as_str(), parse_delete_topics(resp)))
        })
        .await
    }

    /// Grow topics to the given total partition counts. A decrease fails with INVALID_PARTITIONS.
    pub async fn create_partitions(&self, increases: &[(String, i32)], validate_only: bool) -> Result<Vec<((String, i32), Result<()>)>> {
        self.run_items_weighted(
            increases.to_vec(),
            |(_, n)| (*n).max(1) as usize,
            MAX_RECORDS_PER_REQUEST,
            |chunk| async move {
                let req = create_partitions_request(&chunk, validate_only);
                let resp = self.send(Target::Controller, &req).await?;
                Ok(pair_by_name("CreatePartitions", chunk, |(n, _)| n.as_str(), parse_create_partitions(resp)))
            },
        )
        .await
    }

    /// Start (or with `None`, cancel) partition reassignments.
    pub async fn alter_partition_reassignments(&self, items: &[Reassignment]) -> Result<HashMap<TopicPartition, Result<()>>> {
        self.call(Target::Controller, &alter_reassignments_request(items), parse_alter_reassignments).await
    }

    /// Ongoing reassignments (all, or for the given partitions).
    pub async fn list_partition_reassignments(&self, partitions: Option<&[TopicPartition]>) -> Result<Vec<OngoingReassignment>> {
        self.call(Target::Controller, &list_reassignments_request(partitions), parse_list_reassignments).await
    }
}

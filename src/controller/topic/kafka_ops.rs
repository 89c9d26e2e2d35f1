//! The topic reconciler's Kafka calls, batched across every KafkaTopic of one cluster: one
//! Metadata + DescribeConfigs (+ ListPartitionReassignments) for all topics described within a
//! batch window, one CreateTopics, one IncrementalAlterConfigs, one CreatePartitions, one
//! AlterPartitionReassignments, one DeleteTopics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::controller::batch::{BatchPolicy, Batcher};
use crate::controller::kafka_access::admin::Admin;
use crate::controller::kafka_access::calls::{Breaker, ClusterOps, KafkaResult, OpError, OpsRegistry, SharedError, all_fail, flatten};
use crate::kafka::ops::configs::{AlterOp, ConfigAlteration, ConfigResource};
use crate::kafka::ops::topics::{CreatedTopic, NewTopic, Reassignment};
use crate::kafka::{self, ResponseError, Target, TopicPartition};

/// What to describe about one topic.
#[derive(Debug, Clone)]
pub struct DescribeTopic {
    pub name: String,
    /// Config keys to read.
    pub keys: Vec<String>,
    /// The desired replication factor: a topic with other replica counts gets its ongoing
    /// reassignments listed.
    pub replicas: i32,
    /// List ongoing reassignments of its partitions anyway (one was in progress).
    pub with_reassignments: bool,
}

/// A topic as Kafka holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedTopic {
    pub id: String,
    /// Replicas of each partition, by partition index.
    pub partitions: BTreeMap<i32, Vec<i32>>,
    /// Current values of the requested config keys (absent: no value).
    pub config: BTreeMap<String, String>,
    /// Partitions with a reassignment in progress.
    pub reassigning: BTreeSet<i32>,
}

/// The answer to a [`DescribeTopic`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// `None`: no such topic.
    pub topic: Option<ObservedTopic>,
    /// Ids of the registered brokers.
    pub brokers: Vec<i32>,
    /// The topic exists but its partitions have no leader yet (just created): look again soon.
    pub settling: bool,
}

/// Batched operations on one cluster.
pub struct TopicOps {
    pub client: Arc<dyn Admin>,
    describe: Batcher<DescribeTopic, KafkaResult<Described>>,
    create: Batcher<NewTopic, KafkaResult<CreatedTopic>>,
    alter: Batcher<ConfigAlteration, KafkaResult<()>>,
    grow: Batcher<(String, i32), KafkaResult<()>>,
    reassign: Batcher<Vec<Reassignment>, KafkaResult<()>>,
    delete: Batcher<String, KafkaResult<()>>,
    breaker: Breaker,
}

fn kafka_error(api: &'static str, code: kafka::KafkaCode, resource: &str) -> SharedError {
    Arc::new(kafka::Error::Kafka { api, code, resource: Some(resource.to_owned()), message: None })
}

/// Results in the order of `names`, from per-name results; a missing name is an error.
fn by_name<T: Clone>(api: &'static str, names: &[String], results: kafka::Result<Vec<(String, kafka::Result<T>)>>) -> Vec<KafkaResult<T>> {
    match results {
        Err(e) => all_fail(names, e),
        Ok(results) => {
            let map: HashMap<String, KafkaResult<T>> = results.into_iter().map(|(n, r)| (n, r.map_err(Arc::new))).collect();
            names
                .iter()
                .map(|n| map.get(n).cloned().unwrap_or_else(|| Err(Arc::new(kafka::Error::Protocol(format!("{api}: no result for {n}"))))))
                .collect()
        }
    }
}

async fn describe_batch(client: Arc<dyn Admin>, items: Vec<DescribeTopic>) -> Vec<KafkaResult<Described>> {
    let mut names: Vec<String> = items.iter().map(|i| i.name.clone()).collect();
    names.sort();
    names.dedup();
    let snap = match client.fetch_metadata(Target::Any, Some(&names)).await {
        Ok(s) => s,
        Err(e) => return all_fail(&items, e),
    };
    let brokers: Vec<i32> = snap.brokers.keys().copied().collect();
    let existing: Vec<&str> = snap.topics.iter().filter(|t| t.error.is_none()).map(|t| t.name.as_str()).collect();
    let mut keys: Vec<&str> = items.iter().flat_map(|i| i.keys.iter().map(String::as_str)).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut configs: HashMap<String, KafkaResult<BTreeMap<String, String>>> = HashMap::new();
    if !existing.is_empty() && !keys.is_empty() {
        let resources: Vec<ConfigResource> = existing.iter().map(|n| ConfigResource::topic(*n)).collect();
        match client.describe_configs(&resources, Some(&keys)).await {
            Ok(described) => {
                for rc in described {
                    let entries = rc
                        .entries
                        .map_err(Arc::new)
                        .map(|es| es.into_iter().filter_map(|e| e.value.map(|v| (e.name, v))).collect::<BTreeMap<_, _>>());
                    configs.insert(rc.resource.name, entries);
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for n in &existing {
                    configs.insert((*n).to_owned(), Err(e.clone()));
                }
            }
        }
    }
    let mismatched = |i: &DescribeTopic, t: &kafka::TopicInfo| t.partitions.iter().any(|p| p.replicas.len() as i32 != i.replicas);
    let wanted: Vec<TopicPartition> = items
        .iter()
        .filter_map(|i| snap.topic(&i.name).filter(|t| t.error.is_none()).map(|t| (i, t)))
        .filter(|(i, t)| i.with_reassignments || mismatched(i, t))
        .map(|(_, t)| t)
        .flat_map(|t| t.partitions.iter().map(|p| TopicPartition { topic: t.name.clone(), partition: p.partition }))
        .collect();
    let mut reassigning: KafkaResult<HashMap<String, BTreeSet<i32>>> = Ok(HashMap::new());
    if !wanted.is_empty() {
        reassigning = client.list_partition_reassignments(Some(&wanted)).await.map_err(Arc::new).map(|ongoing| {
            let mut by_topic: HashMap<String, BTreeSet<i32>> = HashMap::new();
            for o in ongoing {
                by_topic.entry(o.partition.topic).or_default().insert(o.partition.partition);
            }
            by_topic
        });
    }
    items
        .iter()
        .map(|item| {
            let Some(info) = snap.topic(&item.name) else {
                return Ok(Described { topic: None, brokers: brokers.clone(), settling: false });
            };
            match info.error.as_ref().map(|c| c.0) {
                None => {}
                Some(ResponseError::UnknownTopicOrPartition) => {
                    return Ok(Described { topic: None, brokers: brokers.clone(), settling: false });
                }
                Some(ResponseError::LeaderNotAvailable) => {
                    return Ok(Described { topic: None, brokers: brokers.clone(), settling: true });
                }
                Some(_) => {
                    let code = info.error.unwrap_or(kafka::KafkaCode(ResponseError::UnknownServerError));
                    return Err(kafka_error("Metadata", code, &item.name));
                }
            }
            let config = match configs.get(&item.name) {
                Some(Ok(c)) => c.iter().filter(|(k, _)| item.keys.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
                Some(Err(e)) => return Err(e.clone()),
                None => BTreeMap::new(),
            };
            let reassigning = match &reassigning {
                Ok(map) => map.get(&item.name).cloned().unwrap_or_default(),
                Err(e) if item.with_reassignments || mismatched(item, info) => return Err(e.clone()),
                Err(_) => BTreeSet::new(),
            };
            let partitions = info.partitions.iter().map(|p| (p.partition, p.replicas.clone())).collect();
            let settling = info.partitions.iter().any(|p| p.leader.is_none());
            Ok(Described {
                topic: Some(ObservedTopic { id: info.id.to_string(), partitions, config, reassigning }),
                brokers: brokers.clone(),
                settling,
            })
        })
        .collect()
}

impl ClusterOps for TopicOps {
    fn client(&self) -> &Arc<dyn Admin> {
        &self.client
    }

    fn new(client: Arc<dyn Admin>) -> Self {
        let policy = BatchPolicy::default();
        let c = client.clone();
        let describe = Batcher::spawn("DescribeTopics", policy, move |items| describe_batch(c.clone(), items));
        let c = client.clone();
        let create = Batcher::spawn("CreateTopics", policy, move |topics: Vec<NewTopic>| {
            let c = c.clone();
            async move {
                let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
                let results = c.create_topics(&topics, false).await.map(|rs| rs.into_iter().map(|(t, r)| (t.name, r)).collect());
                by_name("CreateTopics", &names, results)
            }
        });
        let c = client.clone();
        let alter = Batcher::spawn("IncrementalAlterConfigs", policy, move |alts: Vec<ConfigAlteration>| {
            let c = c.clone();
            async move {
                let names: Vec<String> = alts.iter().map(|a| a.resource.name.clone()).collect();
                let results =
                    c.incremental_alter_configs(&alts, false).await.map(|rs| rs.into_iter().map(|o| (o.resource.name, o.result)).collect());
                by_name("IncrementalAlterConfigs", &names, results)
            }
        });
        let c = client.clone();
        let grow = Batcher::spawn("CreatePartitions", policy, move |increases: Vec<(String, i32)>| {
            let c = c.clone();
            async move {
                let names: Vec<String> = increases.iter().map(|(n, _)| n.clone()).collect();
                let results = c.create_partitions(&increases, false).await.map(|rs| rs.into_iter().map(|((n, _), r)| (n, r)).collect());
                by_name("CreatePartitions", &names, results)
            }
        });
        let c = client.clone();
        let reassign = Batcher::spawn("AlterPartitionReassignments", policy, move |per_topic: Vec<Vec<Reassignment>>| {
            let c = c.clone();
            async move {
                let all: Vec<Reassignment> = per_topic.iter().flatten().cloned().collect();
                match c.alter_partition_reassignments(&all).await {
                    Err(e) => all_fail(&per_topic, e),
                    Ok(mut results) => per_topic
                        .iter()
                        .map(|items| {
                            let mut outcome = Ok(());
                            for (tp, _) in items {
                                if let Some(Err(e)) = results.remove(tp) {
                                    outcome = Err(Arc::new(e));
                                }
                            }
                            outcome
                        })
                        .collect(),
                }
            }
        });
        let c = client.clone();
        let delete = Batcher::spawn("DeleteTopics", policy, move |names: Vec<String>| {
            let c = c.clone();
            async move {
                let results = c.delete_topics(&names).await;
                by_name("DeleteTopics", &names, results)
            }
        });
        TopicOps { client, describe, create, alter, grow, reassign, delete, breaker: Breaker::default() }
    }
}

impl TopicOps {
    /// Describes a topic; fails fast for a while after the cluster did not answer.
    pub async fn describe(&self, item: DescribeTopic) -> Result<Described, OpError> {
        self.breaker.check()?;
        let result = flatten(self.describe.call(item).await);
        self.breaker.record(&result);
        result
    }

    pub async fn create(&self, topic: NewTopic) -> Result<CreatedTopic, OpError> {
        flatten(self.create.call(topic).await)
    }

    /// Sets the given keys of a topic.
    pub async fn set_config(&self, topic: &str, changes: Vec<(String, String)>) -> Result<(), OpError> {
        let alteration = ConfigAlteration {
            resource: ConfigResource::topic(topic),
            changes: changes.into_iter().map(|(k, v)| (k, AlterOp::Set(v))).collect(),
        };
        flatten(self.alter.call(alteration).await)
    }

    pub async fn grow(&self, topic: &str, partitions: i32) -> Result<(), OpError> {
        flatten(self.grow.call((topic.to_owned(), partitions)).await)
    }

    pub async fn reassign(&self, topic: &str, targets: Vec<(i32, Vec<i32>)>) -> Result<(), OpError> {
        let items = targets
            .into_iter()
            .map(|(partition, replicas)| (TopicPartition { topic: topic.to_owned(), partition }, Some(replicas)))
            .collect();
        flatten(self.reassign.call(items).await)
    }

    /// Deletes a topic; a topic that is already gone is not an error.
    pub async fn delete(&self, topic: &str) -> Result<(), OpError> {
        match flatten(self.delete.call(topic.to_owned()).await) {
            Err(e) if e.code() == Some(ResponseError::UnknownTopicOrPartition) => Ok(()),
            other => other,
        }
    }
}

/// One [`TopicOps`] per cluster.
pub type TopicOpsRegistry = OpsRegistry<TopicOps>;

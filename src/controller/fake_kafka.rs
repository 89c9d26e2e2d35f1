//! An in-memory Kafka behind the [`Admin`] trait, for the reconcile tests: registered brokers,
//! the KRaft quorum, metadata.version, topics with their partitions and configs, broker configs,
//! SCRAM users, ACLs and quotas. Every call is recorded by name, and a call can be made to fail.
//! Only what the reconcilers ask is modelled; it checks no permissions and knows no timing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::controller::kafka_access::admin::{Admin, Call, PartitionIncreases};
use crate::kafka::ops::acls::{AclBinding, AclFilter};
use crate::kafka::ops::cluster::{ClusterBroker, ClusterDescription};
use crate::kafka::ops::configs::{
    AlterOp, AlterOutcome, ConfigAlteration, ConfigEntry, ConfigResource, ConfigSource, ResourceConfigs, ResourceType,
};
use crate::kafka::ops::features::{FeatureMetadata, UpgradeType};
use crate::kafka::ops::lag::GroupOffsets;
use crate::kafka::ops::log_dirs::LogDir;
use crate::kafka::ops::quorum::{QuorumInfo, ReplicaLag};
use crate::kafka::ops::quotas::{QuotaAlteration, QuotaEntity, QuotaMatch};
use crate::kafka::ops::scram::{ScramCredentialInfo, ScramMechanism, ScramUpsert};
use crate::kafka::ops::topics::{CreatedTopic, NewTopic, OngoingReassignment, Reassignment};
use crate::kafka::safety::RestartInputs;
use crate::kafka::{self, BrokerInfo, KafkaCode, MetadataSnapshot, PartitionInfo, ResponseError, Target, TopicInfo, TopicPartition};

/// One partition: its replicas (the first is the leader) and in-sync replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakePartition {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeTopic {
    pub id: u128,
    pub partitions: Vec<FakePartition>,
    pub config: BTreeMap<String, String>,
}

/// What the fake cluster holds. Tests set it up directly and read it back.
#[derive(Clone, Debug, Default)]
pub struct FakeState {
    pub cluster_id: String,
    /// Registered brokers: id → fenced.
    pub brokers: BTreeMap<i32, bool>,
    /// Controller quorum voters; all caught up with the leader.
    pub voters: Vec<i32>,
    pub leader: i32,
    /// The finalized metadata.version level.
    pub metadata_level: Option<i16>,
    pub topics: BTreeMap<String, FakeTopic>,
    /// Dynamic broker configs; the key `""` holds the cluster-wide default.
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    pub scram_users: BTreeSet<String>,
    pub acls: Vec<AclBinding>,
    pub quotas: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
}

/// The fake Kafka. Cheap to clone a handle to with `Arc`.
#[derive(Default)]
pub struct FakeKafka {
    state: Mutex<FakeState>,
    calls: Mutex<Vec<&'static str>>,
    failing: Mutex<BTreeSet<&'static str>>,
}

fn fake_error(api: &'static str) -> kafka::Error {
    kafka::Error::Disconnected { addr: format!("fake kafka ({api} made to fail)") }
}

fn code_error(api: &'static str, code: ResponseError, resource: &str) -> kafka::Error {
    kafka::Error::Kafka { api, code: KafkaCode(code), resource: Some(resource.to_owned()), message: None }
}

fn ready<'a, T: Send + 'a>(value: kafka::Result<T>) -> Call<'a, T> {
    Box::pin(std::future::ready(value))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl FakeKafka {
    /// A healthy cluster: these brokers registered and unfenced, these controllers voting (the
    /// first leads), metadata.version at `metadata_level`.
    pub fn new(brokers: &[i32], voters: &[i32], metadata_level: Option<i16>) -> Arc<Self> {
        let state = FakeState {
            cluster_id: "fake-cluster".into(),
            brokers: brokers.iter().map(|b| (*b, false)).collect(),
            voters: voters.to_vec(),
            leader: voters.first().copied().unwrap_or(-1),
            metadata_level,
            ..FakeState::default()
        };
        Arc::new(FakeKafka { state: Mutex::new(state), ..FakeKafka::default() })
    }

    /// The state, to set up or inspect.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The calls made so far, by API name, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes every later call of `api` fail as if the cluster did not answer.
    pub fn fail(&self, api: &'static str) {
        self.failing.lock().unwrap_or_else(|p| p.into_inner()).insert(api);
    }

    /// Records the call; `Err` when the test made it fail.
    fn enter(&self, api: &'static str) -> kafka::Result<MutexGuard<'_, FakeState>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(api);
        if self.failing.lock().unwrap_or_else(|p| p.into_inner()).contains(api) {
            return Err(fake_error(api));
        }
        Ok(self.state())
    }

    fn snapshot(state: &FakeState, only: Option<&[String]>) -> MetadataSnapshot {
        let brokers = state
            .brokers
            .iter()
            .filter(|(_, fenced)| !**fenced)
            .map(|(id, _)| (*id, BrokerInfo { id: *id, host: format!("broker-{id}"), port: 9092, rack: None }))
            .collect();
        let mut topics: Vec<TopicInfo> = state
            .topics
            .iter()
            .filter(|(name, _)| only.is_none_or(|names| names.contains(name)))
            .map(|(name, t)| TopicInfo {
                name: name.clone(),
                id: uuid::Uuid::from_u128(t.id),
                internal: false,
                error: None,
                partitions: t
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(i, p)| PartitionInfo {
                        partition: i as i32,
                        leader: p.isr.first().copied(),
                        leader_epoch: 0,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        offline: Vec::new(),
                        error: None,
                    })
                    .collect(),
            })
            .collect();
        for missing in only.into_iter().flatten().filter(|n| !state.topics.contains_key(*n)) {
            topics.push(TopicInfo {
                name: missing.clone(),
                id: uuid::Uuid::nil(),
                internal: false,
                error: Some(KafkaCode(ResponseError::UnknownTopicOrPartition)),
                partitions: Vec::new(),
            });
        }
        MetadataSnapshot::new(Some(state.cluster_id.clone()), state.brokers.keys().next().copied(), brokers, topics)
    }

    fn configs(state: &FakeState, resource: &ConfigResource, keys: Option<&[&str]>) -> ResourceConfigs {
        let (values, source) = match resource.kind {
            ResourceType::Topic => match state.topics.get(&resource.name) {
                Some(t) => (t.config.clone(), ConfigSource::DynamicTopic),
                None => {
                    let e = code_error("DescribeConfigs", ResponseError::UnknownTopicOrPartition, &resource.name);
                    return ResourceConfigs { resource: resource.clone(), entries: Err(e) };
                }
            },
            ResourceType::Broker | ResourceType::BrokerLogger => {
                let mut values = state.broker_configs.get("").cloned().unwrap_or_default();
                values.extend(state.broker_configs.get(&resource.name).cloned().unwrap_or_default());
                (values, ConfigSource::DynamicDefaultBroker)
            }
        };
        let entries = values
            .into_iter()
            .filter(|(k, _)| keys.is_none_or(|keys| keys.contains(&k.as_str())))
            .map(|(name, value)| ConfigEntry { name, value: Some(value), read_only: false, source, sensitive: false })
            .collect();
        ResourceConfigs { resource: resource.clone(), entries: Ok(entries) }
    }
}

fn matches(filter: &AclFilter, acl: &AclBinding) -> bool {
    filter.principal.as_ref().is_none_or(|p| *p == acl.principal) && filter.resource_name.as_ref().is_none_or(|n| *n == acl.resource_name)
}

fn quota_matches(filter: &[QuotaMatch], entity: &QuotaEntity) -> bool {
    filter.iter().all(|m| match m {
        QuotaMatch::Exact(kind, name) => entity.iter().any(|(k, n)| k == kind && n.as_deref() == Some(name)),
        QuotaMatch::Default(kind) => entity.iter().any(|(k, n)| k == kind && n.is_none()),
        QuotaMatch::Any(kind) => entity.iter().any(|(k, _)| k == kind),
    })
}

impl Admin for FakeKafka {
    fn restart_inputs<'a>(&'a self, _max_lag: i64) -> Call<'a, RestartInputs> {
        // The fake's metadata is never stale: the lowest broker id stands for the freshest one.
        Box::pin(async move {
            let quorum = self.describe_quorum().await?;
            let metadata = self.refresh_metadata().await?;
            let cluster = self.describe_cluster().await?;
            let source = metadata.brokers.keys().copied().min().unwrap_or(-1);
            Ok(RestartInputs { source, quorum, cluster, metadata })
        })
    }

    fn describe_cluster<'a>(&'a self) -> Call<'a, ClusterDescription> {
        ready(self.enter("DescribeCluster").map(|s| {
            ClusterDescription {
                cluster_id: s.cluster_id.clone(),
                controller_id: Some(s.leader),
                brokers: s
                    .brokers
                    .iter()
                    .map(|(id, fenced)| ClusterBroker { id: *id, host: format!("broker-{id}"), port: 9092, rack: None, fenced: *fenced })
                    .collect(),
            }
        }))
    }

    fn refresh_metadata<'a>(&'a self) -> Call<'a, Arc<MetadataSnapshot>> {
        ready(self.enter("Metadata").map(|s| Arc::new(FakeKafka::snapshot(&s, None))))
    }

    fn fetch_metadata<'a>(&'a self, _target: Target<'a>, topics: Option<&'a [String]>) -> Call<'a, MetadataSnapshot> {
        ready(self.enter("Metadata").map(|s| FakeKafka::snapshot(&s, topics)))
    }

    fn describe_quorum<'a>(&'a self) -> Call<'a, QuorumInfo> {
        ready(self.enter("DescribeQuorum").map(|s| {
            let now = now_ms();
            let lag = |id: &i32| ReplicaLag { id: *id, log_end_offset: 100, last_fetch_timestamp: now, last_caught_up_timestamp: now };
            QuorumInfo {
                leader_id: s.leader,
                leader_epoch: 1,
                high_watermark: 100,
                voters: s.voters.iter().map(lag).collect(),
                observers: Vec::new(),
            }
        }))
    }

    fn describe_log_dirs<'a>(&'a self, broker: i32) -> Call<'a, Vec<LogDir>> {
        // One data directory per broker, of a fixed size, half used.
        ready(self.enter("DescribeLogDirs").map(|_| {
            vec![LogDir {
                path: format!("/var/lib/kafka/data-{broker}"),
                error: None,
                total_bytes: Some(1 << 30),
                usable_bytes: Some(1 << 29),
            }]
        }))
    }

    fn group_offsets<'a>(&'a self, _wanted: &'a (dyn Fn(&str) -> bool + Sync)) -> Call<'a, GroupOffsets> {
        // The fake cluster has no consumer groups.
        ready(self.enter("ListGroups").map(|_| GroupOffsets::default()))
    }

    fn describe_features<'a>(&'a self) -> Call<'a, FeatureMetadata> {
        ready(self.enter("ApiVersions").map(|s| FeatureMetadata {
            finalized: s.metadata_level.map(|l| ("metadata.version".to_owned(), l)).into_iter().collect(),
            supported: BTreeMap::new(),
            epoch: 1,
        }))
    }

    fn set_metadata_version<'a>(&'a self, level: i16, _kind: UpgradeType, validate_only: bool) -> Call<'a, ()> {
        ready(self.enter("UpdateFeatures").map(|mut s| {
            if !validate_only {
                s.metadata_level = Some(level);
            }
        }))
    }

    fn unregister_broker<'a>(&'a self, broker_id: i32) -> Call<'a, ()> {
        ready(self.enter("UnregisterBroker").and_then(|mut s| match s.brokers.remove(&broker_id) {
            Some(_) => Ok(()),
            None => Err(code_error("UnregisterBroker", ResponseError::BrokerIdNotRegistered, &broker_id.to_string())),
        }))
    }

    fn describe_configs<'a>(&'a self, resources: &'a [ConfigResource], keys: Option<&'a [&'a str]>) -> Call<'a, Vec<ResourceConfigs>> {
        ready(self.enter("DescribeConfigs").map(|s| resources.iter().map(|r| FakeKafka::configs(&s, r, keys)).collect()))
    }

    fn incremental_alter_configs<'a>(&'a self, alterations: &'a [ConfigAlteration], validate_only: bool) -> Call<'a, Vec<AlterOutcome>> {
        ready(self.enter("IncrementalAlterConfigs").map(|mut s| {
            alterations
                .iter()
                .map(|a| {
                    let values = match a.resource.kind {
                        ResourceType::Topic => s.topics.get_mut(&a.resource.name).map(|t| &mut t.config),
                        ResourceType::Broker | ResourceType::BrokerLogger => {
                            Some(s.broker_configs.entry(a.resource.name.clone()).or_default())
                        }
                    };
                    let result = match values {
                        None => Err(code_error("IncrementalAlterConfigs", ResponseError::UnknownTopicOrPartition, &a.resource.name)),
                        Some(_) if validate_only => Ok(()),
                        Some(values) => {
                            for (key, op) in &a.changes {
                                match op {
                                    AlterOp::Set(v) => {
                                        values.insert(key.clone(), v.clone());
                                    }
                                    AlterOp::Delete => {
                                        values.remove(key);
                                    }
                                    AlterOp::Append(_) | AlterOp::Subtract(_) => {}
                                }
                            }
                            Ok(())
                        }
                    };
                    AlterOutcome { resource: a.resource.clone(), result }
                })
                .collect()
        }))
    }

    fn create_topics<'a>(&'a self, topics: &'a [NewTopic], validate_only: bool) -> Call<'a, Vec<(NewTopic, kafka::Result<CreatedTopic>)>> {
        ready(self.enter("CreateTopics").map(|mut s| {
            let brokers: Vec<i32> = s.brokers.keys().copied().collect();
            topics
                .iter()
                .map(|t| {
                    if s.topics.contains_key(&t.name) {
                        return (t.clone(), Err(code_error("CreateTopics", ResponseError::TopicAlreadyExists, &t.name)));
                    }
                    let count = t.partitions.unwrap_or(1).max(1);
                    let rf = t.replication_factor.unwrap_or(1).max(1) as usize;
                    if rf > brokers.len() {
                        return (t.clone(), Err(code_error("CreateTopics", ResponseError::InvalidReplicationFactor, &t.name)));
                    }
                    let partitions = (0..count)
                        .map(|p| {
                            let replicas = t
                                .assignments
                                .get(&p)
                                .cloned()
                                .unwrap_or_else(|| (0..rf).map(|r| brokers[(p as usize + r) % brokers.len()]).collect());
                            FakePartition { isr: replicas.clone(), replicas }
                        })
                        .collect();
                    let id = s.topics.len() as u128 + 1;
                    let created = CreatedTopic {
                        topic_id: uuid::Uuid::from_u128(id),
                        partitions: count,
                        replication_factor: rf as i16,
                        configs: t.configs.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
                    };
                    if !validate_only {
                        s.topics.insert(t.name.clone(), FakeTopic { id, partitions, config: t.configs.clone() });
                    }
                    (t.clone(), Ok(created))
                })
                .collect()
        }))
    }

    fn delete_topics<'a>(&'a self, names: &'a [String]) -> Call<'a, Vec<(String, kafka::Result<()>)>> {
        ready(self.enter("DeleteTopics").map(|mut s| {
            names
                .iter()
                .map(|n| match s.topics.remove(n) {
                    Some(_) => (n.clone(), Ok(())),
                    None => (n.clone(), Err(code_error("DeleteTopics", ResponseError::UnknownTopicOrPartition, n))),
                })
                .collect()
        }))
    }

    fn create_partitions<'a>(&'a self, increases: &'a [(String, i32)], validate_only: bool) -> Call<'a, PartitionIncreases> {
        ready(self.enter("CreatePartitions").map(|mut s| {
            increases
                .iter()
                .map(|(name, count)| {
                    let result = match s.topics.get_mut(name) {
                        None => Err(code_error("CreatePartitions", ResponseError::UnknownTopicOrPartition, name)),
                        Some(t) if (*count as usize) <= t.partitions.len() => {
                            Err(code_error("CreatePartitions", ResponseError::InvalidPartitions, name))
                        }
                        Some(_) if validate_only => Ok(()),
                        Some(t) => {
                            let template = t.partitions.last().cloned().unwrap_or(FakePartition { replicas: Vec::new(), isr: Vec::new() });
                            t.partitions.resize(*count as usize, template);
                            Ok(())
                        }
                    };
                    ((name.clone(), *count), result)
                })
                .collect()
        }))
    }

    fn alter_partition_reassignments<'a>(&'a self, items: &'a [Reassignment]) -> Call<'a, HashMap<TopicPartition, kafka::Result<()>>> {
        // Reassignments complete at once: the new replicas are in sync.
        ready(self.enter("AlterPartitionReassignments").map(|mut s| {
            items
                .iter()
                .map(|(tp, target)| {
                    let partition = s.topics.get_mut(&tp.topic).and_then(|t| t.partitions.get_mut(tp.partition as usize));
                    let result = match (partition, target) {
                        (None, _) => {
                            Err(code_error("AlterPartitionReassignments", ResponseError::UnknownTopicOrPartition, &tp.to_string()))
                        }
                        (Some(p), Some(replicas)) => {
                            *p = FakePartition { replicas: replicas.clone(), isr: replicas.clone() };
                            Ok(())
                        }
                        (Some(_), None) => Ok(()),
                    };
                    (tp.clone(), result)
                })
                .collect()
        }))
    }

    fn list_partition_reassignments<'a>(&'a self, _partitions: Option<&'a [TopicPartition]>) -> Call<'a, Vec<OngoingReassignment>> {
        ready(self.enter("ListPartitionReassignments").map(|_| Vec::new()))
    }

    fn replica_sizes<'a>(&'a self, _broker: i32) -> Call<'a, std::collections::BTreeMap<TopicPartition, u64>> {
        // Empty logs: every replica the fake knows is 0 bytes.
        ready(self.enter("DescribeLogDirs").map(|_| std::collections::BTreeMap::new()))
    }

    fn elect_preferred_leaders<'a>(
        &'a self,
        partitions: Option<&'a [TopicPartition]>,
    ) -> Call<'a, HashMap<TopicPartition, kafka::Result<()>>> {
        // Every election succeeds: the preferred replicas are in sync.
        ready(self.enter("ElectLeaders").map(|_| partitions.unwrap_or_default().iter().map(|tp| (tp.clone(), Ok(()))).collect()))
    }

    fn describe_scram_credentials<'a>(
        &'a self,
        users: Option<&'a [String]>,
    ) -> Call<'a, HashMap<String, kafka::Result<Vec<ScramCredentialInfo>>>> {
        ready(self.enter("DescribeUserScramCredentials").map(|s| {
            let info = || vec![ScramCredentialInfo { mechanism: Some(ScramMechanism::Sha512), iterations: 4096 }];
            match users {
                None => s.scram_users.iter().map(|u| (u.clone(), Ok(info()))).collect(),
                Some(users) => users
                    .iter()
                    .map(|u| {
                        let r = if s.scram_users.contains(u) {
                            Ok(info())
                        } else {
                            Err(code_error("DescribeUserScramCredentials", ResponseError::ResourceNotFound, u))
                        };
                        (u.clone(), r)
                    })
                    .collect(),
            }
        }))
    }

    fn alter_scram_credentials<'a>(
        &'a self,
        upserts: &'a [ScramUpsert],
        deletions: &'a [(String, ScramMechanism)],
    ) -> Call<'a, Vec<(String, kafka::Result<()>)>> {
        ready(self.enter("AlterUserScramCredentials").map(|mut s| {
            let mut out = Vec::new();
            for u in upserts {
                s.scram_users.insert(u.user.clone());
                out.push((u.user.clone(), Ok(())));
            }
            for (u, _) in deletions {
                s.scram_users.remove(u);
                out.push((u.clone(), Ok(())));
            }
            out
        }))
    }

    fn describe_acls<'a>(&'a self, filter: &'a AclFilter) -> Call<'a, Vec<AclBinding>> {
        ready(self.enter("DescribeAcls").map(|s| s.acls.iter().filter(|a| matches(filter, a)).cloned().collect()))
    }

    fn create_acls<'a>(&'a self, acls: &'a [AclBinding]) -> Call<'a, Vec<(AclBinding, kafka::Result<()>)>> {
        ready(self.enter("CreateAcls").map(|mut s| {
            acls.iter()
                .map(|a| {
                    if !s.acls.contains(a) {
                        s.acls.push(a.clone());
                    }
                    (a.clone(), Ok(()))
                })
                .collect()
        }))
    }

    fn delete_acls<'a>(&'a self, filters: &'a [AclFilter]) -> Call<'a, Vec<kafka::Result<Vec<AclBinding>>>> {
        ready(self.enter("DeleteAcls").map(|mut s| {
            filters
                .iter()
                .map(|f| {
                    let (gone, kept): (Vec<AclBinding>, Vec<AclBinding>) = s.acls.drain(..).partition(|a| matches(f, a));
                    s.acls = kept;
                    Ok(gone)
                })
                .collect()
        }))
    }

    fn describe_client_quotas<'a>(
        &'a self,
        filter: &'a [QuotaMatch],
        _strict: bool,
    ) -> Call<'a, Vec<(QuotaEntity, BTreeMap<String, f64>)>> {
        ready(
            self.enter("DescribeClientQuotas")
                .map(|s| s.quotas.iter().filter(|(e, _)| quota_matches(filter, e)).map(|(e, q)| (e.clone(), q.clone())).collect()),
        )
    }

    fn alter_client_quotas<'a>(
        &'a self,
        alts: &'a [QuotaAlteration],
        validate_only: bool,
    ) -> Call<'a, Vec<(QuotaEntity, kafka::Result<()>)>> {
        ready(self.enter("AlterClientQuotas").map(|mut s| {
            alts.iter()
                .map(|a| {
                    if !validate_only {
                        let values = s.quotas.entry(a.entity.clone()).or_default();
                        for (k, v) in &a.ops {
                            match v {
                                Some(v) => {
                                    values.insert(k.clone(), *v);
                                }
                                None => {
                                    values.remove(k);
                                }
                            }
                        }
                    }
                    (a.entity.clone(), Ok(()))
                })
                .collect()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_fake_answers_like_a_small_cluster() {
        let fake = FakeKafka::new(&[100, 101], &[0], Some(20));
        let created = fake.create_topics(&[NewTopic::new("orders", 2, 2)], false).await.expect("create");
        assert!(created[0].1.is_ok());
        let snap = fake.refresh_metadata().await.expect("metadata");
        assert_eq!(snap.replicas_per_node(), BTreeMap::from([(100, 2), (101, 2)]));
        assert_eq!(fake.describe_features().await.expect("features").metadata_version(), Some(20));
        fake.unregister_broker(101).await.expect("unregister");
        assert_eq!(fake.describe_cluster().await.expect("cluster").brokers.len(), 1);
        fake.fail("DescribeQuorum");
        assert!(fake.describe_quorum().await.is_err());
        assert_eq!(fake.calls(), vec!["CreateTopics", "Metadata", "ApiVersions", "UnregisterBroker", "DescribeCluster", "DescribeQuorum"]);
    }
}

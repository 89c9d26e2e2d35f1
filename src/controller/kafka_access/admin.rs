//! The Admin API calls the reconcilers make, behind one trait: the real client implements it,
//! and the reconcile tests use an in-memory fake (`controller::fake_kafka`). Each method is the
//! client's method of the same name and signature, boxed so the trait can be a `dyn` object.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::kafka::ops::acls::{AclBinding, AclFilter};
use crate::kafka::ops::cluster::ClusterDescription;
use crate::kafka::ops::configs::{AlterOutcome, ConfigAlteration, ConfigResource, ResourceConfigs};
use crate::kafka::ops::features::{FeatureMetadata, UpgradeType};
use crate::kafka::ops::lag::GroupOffsets;
use crate::kafka::ops::log_dirs::LogDir;
use crate::kafka::ops::quorum::QuorumInfo;
use crate::kafka::ops::quotas::{QuotaAlteration, QuotaEntity, QuotaMatch};
use crate::kafka::ops::scram::{ScramCredentialInfo, ScramMechanism, ScramUpsert};
use crate::kafka::ops::topics::{CreatedTopic, NewTopic, OngoingReassignment, Reassignment};
use crate::kafka::safety::RestartInputs;
use crate::kafka::{self, MetadataSnapshot, Target, TopicPartition};

/// Per-topic results of a CreatePartitions call: `((topic, new count), result)`.
pub type PartitionIncreases = Vec<((String, i32), kafka::Result<()>)>;

/// The answer of one Admin call.
pub type Call<'a, T> = BoxFuture<'a, kafka::Result<T>>;

/// The Admin API of one cluster, as the reconcilers use it.
pub trait Admin: Send + Sync {
    /// The registered brokers (fenced or not) and the cluster id.
    fn describe_cluster<'a>(&'a self) -> Call<'a, ClusterDescription>;
    /// What a restart decision reads, from the broker whose metadata is freshest (within
    /// `max_lag` metadata records of the quorum leader): the quorum, the cluster, the metadata.
    fn restart_inputs<'a>(&'a self, max_lag: i64) -> Call<'a, RestartInputs>;
    /// Every topic's partitions, replicas and ISR.
    fn refresh_metadata<'a>(&'a self) -> Call<'a, Arc<MetadataSnapshot>>;
    /// Metadata of some topics (or all), from `target`.
    fn fetch_metadata<'a>(&'a self, target: Target<'a>, topics: Option<&'a [String]>) -> Call<'a, MetadataSnapshot>;
    /// The KRaft quorum: leader, voters and their lag.
    fn describe_quorum<'a>(&'a self) -> Call<'a, QuorumInfo>;
    /// The finalized and supported feature levels (metadata.version).
    fn describe_features<'a>(&'a self) -> Call<'a, FeatureMetadata>;
    /// One broker's log directories with their total and usable bytes (DescribeLogDirs).
    fn describe_log_dirs<'a>(&'a self, broker: i32) -> Call<'a, Vec<LogDir>>;
    /// Committed offsets of the consumer groups `wanted` keeps, and the end offsets of their
    /// partitions (ListGroups, OffsetFetch, ListOffsets; batched).
    fn group_offsets<'a>(&'a self, wanted: &'a (dyn Fn(&str) -> bool + Sync)) -> Call<'a, GroupOffsets>;
    /// Raises (or lowers) the finalized metadata.version.
    fn set_metadata_version<'a>(&'a self, level: i16, kind: UpgradeType, validate_only: bool) -> Call<'a, ()>;
    /// Removes a broker's registration from KRaft.
    fn unregister_broker<'a>(&'a self, broker_id: i32) -> Call<'a, ()>;
    /// The configuration of brokers or topics (only `keys`, when given).
    fn describe_configs<'a>(&'a self, resources: &'a [ConfigResource], keys: Option<&'a [&'a str]>) -> Call<'a, Vec<ResourceConfigs>>;
    /// Sets or deletes configuration keys.
    fn incremental_alter_configs<'a>(&'a self, alterations: &'a [ConfigAlteration], validate_only: bool) -> Call<'a, Vec<AlterOutcome>>;
    /// Creates topics; one result per topic.
    fn create_topics<'a>(&'a self, topics: &'a [NewTopic], validate_only: bool) -> Call<'a, Vec<(NewTopic, kafka::Result<CreatedTopic>)>>;
    /// Deletes topics; one result per topic.
    fn delete_topics<'a>(&'a self, names: &'a [String]) -> Call<'a, Vec<(String, kafka::Result<()>)>>;
    /// Raises topics' partition counts.
    fn create_partitions<'a>(&'a self, increases: &'a [(String, i32)], validate_only: bool) -> Call<'a, PartitionIncreases>;
    /// Starts (or cancels) partition reassignments.
    fn alter_partition_reassignments<'a>(&'a self, items: &'a [Reassignment]) -> Call<'a, HashMap<TopicPartition, kafka::Result<()>>>;
    /// The reassignments in progress.
    fn list_partition_reassignments<'a>(&'a self, partitions: Option<&'a [TopicPartition]>) -> Call<'a, Vec<OngoingReassignment>>;
    /// The size of every replica one broker hosts (DescribeLogDirs for all topics).
    fn replica_sizes<'a>(&'a self, broker: i32) -> Call<'a, std::collections::BTreeMap<TopicPartition, u64>>;
    /// Elects each partition's preferred replica leader (all partitions, with `None`).
    fn elect_preferred_leaders<'a>(
        &'a self,
        partitions: Option<&'a [TopicPartition]>,
    ) -> Call<'a, HashMap<TopicPartition, kafka::Result<()>>>;
    /// The SCRAM mechanisms each user has.
    fn describe_scram_credentials<'a>(
        &'a self,
        users: Option<&'a [String]>,
    ) -> Call<'a, HashMap<String, kafka::Result<Vec<ScramCredentialInfo>>>>;
    /// Sets and deletes SCRAM credentials.
    fn alter_scram_credentials<'a>(
        &'a self,
        upserts: &'a [ScramUpsert],
        deletions: &'a [(String, ScramMechanism)],
    ) -> Call<'a, Vec<(String, kafka::Result<()>)>>;
    /// The ACLs matching a filter.
    fn describe_acls<'a>(&'a self, filter: &'a AclFilter) -> Call<'a, Vec<AclBinding>>;
    /// Creates ACLs; one result per binding.
    fn create_acls<'a>(&'a self, acls: &'a [AclBinding]) -> Call<'a, Vec<(AclBinding, kafka::Result<()>)>>;
    /// Deletes the ACLs matching each filter.
    fn delete_acls<'a>(&'a self, filters: &'a [AclFilter]) -> Call<'a, Vec<kafka::Result<Vec<AclBinding>>>>;
    /// The client quotas matching a filter.
    fn describe_client_quotas<'a>(&'a self, filter: &'a [QuotaMatch], strict: bool) -> Call<'a, Vec<(QuotaEntity, BTreeMap<String, f64>)>>;
    /// Sets or removes client quotas.
    fn alter_client_quotas<'a>(
        &'a self,
        alts: &'a [QuotaAlteration],
        validate_only: bool,
    ) -> Call<'a, Vec<(QuotaEntity, kafka::Result<()>)>>;
}

impl Admin for kafka::Client {
    fn restart_inputs<'a>(&'a self, max_lag: i64) -> Call<'a, RestartInputs> {
        Box::pin(kafka::Client::restart_inputs(self, max_lag))
    }

    fn describe_cluster<'a>(&'a self) -> Call<'a, ClusterDescription> {
        Box::pin(kafka::Client::describe_cluster(self))
    }

    fn refresh_metadata<'a>(&'a self) -> Call<'a, Arc<MetadataSnapshot>> {
        Box::pin(kafka::Client::refresh_metadata(self))
    }

    fn fetch_metadata<'a>(&'a self, target: Target<'a>, topics: Option<&'a [String]>) -> Call<'a, MetadataSnapshot> {
        Box::pin(kafka::Client::fetch_metadata(self, target, topics))
    }

    fn describe_quorum<'a>(&'a self) -> Call<'a, QuorumInfo> {
        Box::pin(kafka::Client::describe_quorum(self))
    }

    fn describe_features<'a>(&'a self) -> Call<'a, FeatureMetadata> {
        Box::pin(kafka::Client::describe_features(self))
    }

    fn describe_log_dirs<'a>(&'a self, broker: i32) -> Call<'a, Vec<LogDir>> {
        Box::pin(kafka::Client::describe_log_dirs(self, broker))
    }

    fn group_offsets<'a>(&'a self, wanted: &'a (dyn Fn(&str) -> bool + Sync)) -> Call<'a, GroupOffsets> {
        Box::pin(kafka::Client::group_offsets(self, wanted))
    }

    fn set_metadata_version<'a>(&'a self, level: i16, kind: UpgradeType, validate_only: bool) -> Call<'a, ()> {
        Box::pin(kafka::Client::set_metadata_version(self, level, kind, validate_only))
    }

    fn unregister_broker<'a>(&'a self, broker_id: i32) -> Call<'a, ()> {
        Box::pin(kafka::Client::unregister_broker(self, broker_id))
    }

    fn describe_configs<'a>(&'a self, resources: &'a [ConfigResource], keys: Option<&'a [&'a str]>) -> Call<'a, Vec<ResourceConfigs>> {
        Box::pin(kafka::Client::describe_configs(self, resources, keys))
    }

    fn incremental_alter_configs<'a>(&'a self, alterations: &'a [ConfigAlteration], validate_only: bool) -> Call<'a, Vec<AlterOutcome>> {
        Box::pin(kafka::Client::incremental_alter_configs(self, alterations, validate_only))
    }

    fn create_topics<'a>(&'a self, topics: &'a [NewTopic], validate_only: bool) -> Call<'a, Vec<(NewTopic, kafka::Result<CreatedTopic>)>> {
        Box::pin(kafka::Client::create_topics(self, topics, validate_only))
    }

    fn delete_topics<'a>(&'a self, names: &'a [String]) -> Call<'a, Vec<(String, kafka::Result<()>)>> {
        Box::pin(kafka::Client::delete_topics(self, names))
    }

    fn create_partitions<'a>(&'a self, increases: &'a [(String, i32)], validate_only: bool) -> Call<'a, PartitionIncreases> {
        Box::pin(kafka::Client::create_partitions(self, increases, validate_only))
    }

    fn alter_partition_reassignments<'a>(&'a self, items: &'a [Reassignment]) -> Call<'a, HashMap<TopicPartition, kafka::Result<()>>> {
        Box::pin(kafka::Client::alter_partition_reassignments(self, items))
    }

    fn list_partition_reassignments<'a>(&'a self, partitions: Option<&'a [TopicPartition]>) -> Call<'a, Vec<OngoingReassignment>> {
        Box::pin(kafka::Client::list_partition_reassignments(self, partitions))
    }

    fn replica_sizes<'a>(&'a self, broker: i32) -> Call<'a, std::collections::BTreeMap<TopicPartition, u64>> {
        Box::pin(kafka::Client::replica_sizes(self, broker))
    }

    fn elect_preferred_leaders<'a>(
        &'a self,
        partitions: Option<&'a [TopicPartition]>,
    ) -> Call<'a, HashMap<TopicPartition, kafka::Result<()>>> {
        Box::pin(kafka::Client::elect_preferred_leaders(self, partitions))
    }

    fn describe_scram_credentials<'a>(
        &'a self,
        users: Option<&'a [String]>,
    ) -> Call<'a, HashMap<String, kafka::Result<Vec<ScramCredentialInfo>>>> {
        Box::pin(kafka::Client::describe_scram_credentials(self, users))
    }

    fn alter_scram_credentials<'a>(
        &'a self,
        upserts: &'a [ScramUpsert],
        deletions: &'a [(String, ScramMechanism)],
    ) -> Call<'a, Vec<(String, kafka::Result<()>)>> {
        Box::pin(kafka::Client::alter_scram_credentials(self, upserts, deletions))
    }

    fn describe_acls<'a>(&'a self, filter: &'a AclFilter) -> Call<'a, Vec<AclBinding>> {
        Box::pin(kafka::Client::describe_acls(self, filter))
    }

    fn create_acls<'a>(&'a self, acls: &'a [AclBinding]) -> Call<'a, Vec<(AclBinding, kafka::Result<()>)>> {
        Box::pin(kafka::Client::create_acls(self, acls))
    }

    fn delete_acls<'a>(&'a self, filters: &'a [AclFilter]) -> Call<'a, Vec<kafka::Result<Vec<AclBinding>>>> {
        Box::pin(kafka::Client::delete_acls(self, filters))
    }

    fn describe_client_quotas<'a>(&'a self, filter: &'a [QuotaMatch], strict: bool) -> Call<'a, Vec<(QuotaEntity, BTreeMap<String, f64>)>> {
        Box::pin(kafka::Client::describe_client_quotas(self, filter, strict))
    }

    fn alter_client_quotas<'a>(
        &'a self,
        alts: &'a [QuotaAlteration],
        validate_only: bool,
    ) -> Call<'a, Vec<(QuotaEntity, kafka::Result<()>)>> {
        Box::pin(kafka::Client::alter_client_quotas(self, alts, validate_only))
    }
}

//! Every cluster-health metric, its labels and its help text, spelled once. The README's metrics
//! table, the alert rules and the dashboards name these.

/// The labels a health metric carries, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `namespace`, `cluster`.
    Cluster,
    /// `namespace`, `cluster`, `node` (a Kafka node id).
    Node,
    /// `namespace`, `cluster`, `group` (a consumer group), `topic`.
    GroupTopic,
}

impl Scope {
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Scope::Cluster => &["namespace", "cluster"],
            Scope::Node => &["namespace", "cluster", "node"],
            Scope::GroupTopic => &["namespace", "cluster", "group", "topic"],
        }
    }
}

macro_rules! health_metrics {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $scope:ident, $help:literal;)*) => {
        /// A cluster-health gauge on `/metrics`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum HealthMetric {
            $($(#[$doc])* $variant,)*
        }

        impl HealthMetric {
            /// Every health metric, in the order `/metrics` lists them.
            pub const ALL: &'static [HealthMetric] = &[$(HealthMetric::$variant,)*];

            /// The metric name.
            pub fn name(self) -> &'static str {
                match self {
                    $(HealthMetric::$variant => $name,)*
                }
            }

            /// Its labels.
            pub fn scope(self) -> Scope {
                match self {
                    $(HealthMetric::$variant => Scope::$scope,)*
                }
            }

            /// The `# HELP` text (also the README table's meaning).
            pub fn help(self) -> &'static str {
                match self {
                    $(HealthMetric::$variant => $help,)*
                }
            }
        }
    };
}

health_metrics! {
    Up = "gregor_kafka_health_up", Cluster,
        "1 when the operator's last health gathering got every answer from the cluster's Admin API, 0 when a call failed.";
    BrokerRegistered = "gregor_kafka_broker_registered", Node,
        "1 when the broker is registered with the KRaft controller (DescribeCluster), 0 for a broker of the spec that is not.";
    BrokerFenced = "gregor_kafka_broker_fenced", Node,
        "1 when the registered broker is fenced (DescribeCluster): stopped, starting, or lost its controller session.";
    BrokerPartitionsLed = "gregor_kafka_broker_partitions_led", Node,
        "Partitions whose leader is this broker (Metadata).";
    BrokerReplicas = "gregor_kafka_broker_replicas", Node,
        "Partition replicas assigned to this broker (Metadata).";
    LogDirTotalBytes = "gregor_kafka_log_dir_total_bytes", Node,
        "Size of the file systems holding the broker's log directories, in bytes (DescribeLogDirs v4, KIP-827).";
    LogDirUsableBytes = "gregor_kafka_log_dir_usable_bytes", Node,
        "Bytes still usable on the file systems holding the broker's log directories (DescribeLogDirs v4, KIP-827).";
    ActiveControllers = "gregor_kafka_active_controllers", Cluster,
        "Active KRaft controllers (quorum leaders) the quorum reports (DescribeQuorum): 1 when healthy, 0 when none answered.";
    ActiveControllerId = "gregor_kafka_active_controller_id", Cluster,
        "Node id of the active controller, the KRaft quorum leader (DescribeQuorum); -1 when there is none.";
    QuorumLeaderEpoch = "gregor_kafka_quorum_leader_epoch", Cluster,
        "Epoch of the KRaft quorum leader (DescribeQuorum); it rises at each leader election.";
    QuorumVoterLag = "gregor_kafka_quorum_voter_lag_records", Node,
        "Records of the metadata log this voter is behind the quorum leader (DescribeQuorum: the leader's log end offset minus the voter's).";
    Partitions = "gregor_kafka_partitions", Cluster,
        "Partitions in the cluster (Metadata).";
    UnderReplicatedPartitions = "gregor_kafka_under_replicated_partitions", Cluster,
        "Partitions whose in-sync replica set is smaller than their replica set (Metadata).";
    UnderMinIsrPartitions = "gregor_kafka_under_min_isr_partitions", Cluster,
        "Partitions with fewer in-sync replicas than their topic's min.insync.replicas (Metadata and DescribeConfigs): producers with acks=all fail on them.";
    OfflinePartitions = "gregor_kafka_offline_partitions", Cluster,
        "Partitions without a leader (Metadata): nobody can read or write them.";
    ConsumerGroupLag = "gregor_kafka_consumer_group_lag_records", GroupTopic,
        "Records of the topic the consumer group has not committed yet: the sum over its partitions of the log end offset minus the committed offset (ListGroups, OffsetFetch, ListOffsets). Only for clusters with spec.metrics.consumerLag, and groups matching its pattern.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prometheus_safe() {
        let mut names: Vec<&str> = HealthMetric::ALL.iter().map(|m| m.name()).collect();
        assert!(names.iter().all(|n| n.starts_with("gregor_kafka_") && n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HealthMetric::ALL.len());
        assert!(HealthMetric::ALL.iter().all(|m| !m.help().contains('\n')));
    }
}

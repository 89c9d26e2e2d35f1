//! Pure: the health of every cluster as Prometheus text (exposition format 0.0.4). Every metric
//! family is announced (`# HELP`, `# TYPE`) even without samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::compute::{Load, PartitionCounts};
use super::metric::{HealthMetric, Scope};

/// What one broker looked like at the last gathering; `None` where the call that tells it failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrokerHealth {
    pub registered: Option<bool>,
    pub fenced: Option<bool>,
    pub load: Option<Load>,
    /// `(total, usable)` bytes of its log directories.
    pub log_dir_bytes: Option<(u64, u64)>,
}

/// The KRaft quorum at the last gathering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumHealth {
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub voter_lag: BTreeMap<i32, u64>,
}

/// One cluster at the last gathering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterHealth {
    pub namespace: String,
    pub cluster: String,
    /// Every call answered.
    pub up: bool,
    pub brokers: BTreeMap<i32, BrokerHealth>,
    /// `None` when DescribeQuorum failed.
    pub quorum: Option<QuorumHealth>,
    /// `None` when Metadata failed.
    pub partitions: Option<PartitionCounts>,
    /// Lag per `(group, topic)`, for clusters that ask for it (`spec.metrics.consumerLag`).
    pub consumer_lag: BTreeMap<(String, String), u64>,
}

/// A label value with `\`, `"` and line feeds escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The labels of one sample beyond `namespace` and `cluster`.
#[derive(Clone, Copy)]
enum Extra<'a> {
    None,
    Node(i32),
    GroupTopic(&'a str, &'a str),
}

fn sample(out: &mut String, metric: HealthMetric, c: &ClusterHealth, extra: Extra<'_>, value: i64) {
    let _ = write!(out, "{}{{namespace=\"{}\",cluster=\"{}\"", metric.name(), escape(&c.namespace), escape(&c.cluster));
    match extra {
        Extra::None => {}
        Extra::Node(n) => {
            let _ = write!(out, ",node=\"{n}\"");
        }
        Extra::GroupTopic(g, t) => {
            let _ = write!(out, ",group=\"{}\",topic=\"{}\"", escape(g), escape(t));
        }
    }
    let _ = writeln!(out, "}} {value}");
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The value of `metric` for one cluster (cluster-scoped metrics).
fn cluster_value(metric: HealthMetric, c: &ClusterHealth) -> Option<i64> {
    use HealthMetric::*;
    let q = c.quorum.as_ref();
    let p = c.partitions.as_ref();
    match metric {
        Up => Some(i64::from(c.up)),
        // A quorum that did not answer has no active controller we can see.
        ActiveControllers => Some(q.map_or(0, |q| i64::from(q.leader.is_some()))),
        ActiveControllerId => q.map(|q| i64::from(q.leader.unwrap_or(-1))),
        QuorumLeaderEpoch => q.map(|q| i64::from(q.leader_epoch)),
        Partitions => p.map(|p| int(p.total)),
        UnderReplicatedPartitions => p.map(|p| int(p.under_replicated)),
        UnderMinIsrPartitions => p.map(|p| int(p.under_min_isr)),
        OfflinePartitions => p.map(|p| int(p.offline)),
        BrokerRegistered | BrokerFenced | BrokerPartitionsLed | BrokerReplicas | LogDirTotalBytes | LogDirUsableBytes | QuorumVoterLag
        | ConsumerGroupLag => None,
    }
}

/// The values of `metric` per node of one cluster (node-scoped metrics).
fn node_values(metric: HealthMetric, c: &ClusterHealth) -> Vec<(i32, i64)> {
    use HealthMetric::*;
    let per_broker = |f: &dyn Fn(&BrokerHealth) -> Option<i64>| c.brokers.iter().filter_map(|(id, b)| Some((*id, f(b)?))).collect();
    match metric {
        BrokerRegistered => per_broker(&|b| b.registered.map(i64::from)),
        BrokerFenced => per_broker(&|b| b.fenced.map(i64::from)),
        BrokerPartitionsLed => per_broker(&|b| b.load.map(|l| int(l.led))),
        BrokerReplicas => per_broker(&|b| b.load.map(|l| int(l.replicas))),
        LogDirTotalBytes => per_broker(&|b| b.log_dir_bytes.map(|(t, _)| int(t))),
        LogDirUsableBytes => per_broker(&|b| b.log_dir_bytes.map(|(_, u)| int(u))),
        QuorumVoterLag => c.quorum.as_ref().map(|q| q.voter_lag.iter().map(|(id, lag)| (*id, int(*lag))).collect()).unwrap_or_default(),
        Up
        | ActiveControllers
        | ActiveControllerId
        | QuorumLeaderEpoch
        | Partitions
        | UnderReplicatedPartitions
        | UnderMinIsrPartitions
        | OfflinePartitions
        | ConsumerGroupLag => Vec::new(),
    }
}

/// Every health metric of every cluster, as Prometheus text.
pub fn render(clusters: &[ClusterHealth]) -> String {
    let mut out = String::new();
    for metric in HealthMetric::ALL {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n", name = metric.name(), help = metric.help());
        for c in clusters {
            match metric.scope() {
                Scope::Cluster => {
                    if let Some(v) = cluster_value(*metric, c) {
                        sample(&mut out, *metric, c, Extra::None, v);
                    }
                }
                Scope::Node => {
                    for (node, v) in node_values(*metric, c) {
                        sample(&mut out, *metric, c, Extra::Node(node), v);
                    }
                }
                Scope::GroupTopic => {
                    for ((group, topic), lag) in &c.consumer_lag {
                        sample(&mut out, *metric, c, Extra::GroupTopic(group, topic), int(*lag));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> ClusterHealth {
        let broker = |led, replicas, usable| BrokerHealth {
            registered: Some(true),
            fenced: Some(false),
            load: Some(Load { led, replicas }),
            log_dir_bytes: Some((1000, usable)),
        };
        ClusterHealth {
            namespace: "ns".into(),
            cluster: "events".into(),
            up: true,
            brokers: BTreeMap::from([(100, broker(2, 3, 900)), (101, broker(1, 3, 800))]),
            quorum: Some(QuorumHealth { leader: Some(0), leader_epoch: 4, voter_lag: BTreeMap::from([(0, 0), (1, 12)]) }),
            partitions: Some(PartitionCounts { total: 3, under_replicated: 1, under_min_isr: 0, offline: 0 }),
            consumer_lag: BTreeMap::from([(("orders-\"eu\"".to_string(), "orders".to_string()), 42)]),
        }
    }

    #[test]
    fn item1_exposition_text() {
        let text = render(&[healthy()]);
        for line in [
            "# HELP gregor_kafka_health_up 1 when the operator's last health gathering got every answer from the cluster's Admin API, 0 when a call failed.\n# TYPE gregor_kafka_health_up gauge\ngregor_kafka_health_up{namespace=\"ns\",cluster=\"events\"} 1\n",
            "gregor_kafka_broker_registered{namespace=\"ns\",cluster=\"events\",node=\"100\"} 1\n",
            "gregor_kafka_broker_fenced{namespace=\"ns\",cluster=\"events\",node=\"101\"} 0\n",
            "gregor_kafka_broker_partitions_led{namespace=\"ns\",cluster=\"events\",node=\"100\"} 2\n",
            "gregor_kafka_broker_replicas{namespace=\"ns\",cluster=\"events\",node=\"101\"} 3\n",
            "gregor_kafka_log_dir_total_bytes{namespace=\"ns\",cluster=\"events\",node=\"100\"} 1000\n",
            "gregor_kafka_log_dir_usable_bytes{namespace=\"ns\",cluster=\"events\",node=\"101\"} 800\n",
            "gregor_kafka_active_controllers{namespace=\"ns\",cluster=\"events\"} 1\n",
            "gregor_kafka_active_controller_id{namespace=\"ns\",cluster=\"events\"} 0\n",
            "gregor_kafka_quorum_leader_epoch{namespace=\"ns\",cluster=\"events\"} 4\n",
            "gregor_kafka_quorum_voter_lag_records{namespace=\"ns\",cluster=\"events\",node=\"1\"} 12\n",
            "gregor_kafka_partitions{namespace=\"ns\",cluster=\"events\"} 3\n",
            "gregor_kafka_under_replicated_partitions{namespace=\"ns\",cluster=\"events\"} 1\n",
            "gregor_kafka_under_min_isr_partitions{namespace=\"ns\",cluster=\"events\"} 0\n",
            "gregor_kafka_offline_partitions{namespace=\"ns\",cluster=\"events\"} 0\n",
            "gregor_kafka_consumer_group_lag_records{namespace=\"ns\",cluster=\"events\",group=\"orders-\\\"eu\\\"\",topic=\"orders\"} 42\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(text.lines().filter(|l| l.starts_with("# TYPE")).count(), HealthMetric::ALL.len());
    }

    #[test]
    fn failed_calls_leave_their_series_out_but_quorum_loss_reads_as_no_controller() {
        let c = ClusterHealth {
            up: false,
            quorum: None,
            partitions: None,
            brokers: BTreeMap::from([(100, BrokerHealth { registered: Some(false), ..BrokerHealth::default() })]),
            ..healthy()
        };
        let text = render(&[c]);
        assert!(text.contains("gregor_kafka_health_up{namespace=\"ns\",cluster=\"events\"} 0\n"));
        assert!(text.contains("gregor_kafka_active_controllers{namespace=\"ns\",cluster=\"events\"} 0\n"));
        assert!(text.contains("gregor_kafka_broker_registered{namespace=\"ns\",cluster=\"events\",node=\"100\"} 0\n"));
        for gone in [
            "gregor_kafka_active_controller_id{",
            "gregor_kafka_partitions{",
            "gregor_kafka_broker_fenced{",
            "gregor_kafka_log_dir_usable_bytes{",
        ] {
            assert!(!text.contains(gone), "{gone} should have no sample:\n{text}");
        }
    }

    #[test]
    fn no_cluster_announces_every_family_and_labels_are_escaped() {
        let empty = render(&[]);
        assert_eq!(empty.lines().count(), 2 * HealthMetric::ALL.len());
        let odd = ClusterHealth { namespace: "a\"b".into(), cluster: "c\\d".into(), ..ClusterHealth::default() };
        assert!(render(&[odd]).contains("gregor_kafka_health_up{namespace=\"a\\\"b\",cluster=\"c\\\\d\"} 0\n"));
    }
}

//! The Admin API calls of one health gathering: DescribeCluster, Metadata, DescribeConfigs
//! (`min.insync.replicas` of every topic), DescribeQuorum and one DescribeLogDirs per live
//! broker. Read-only; a failed call leaves its numbers out and marks the gathering not `up`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tracing::debug;

use super::compute;
use super::exposition::{BrokerHealth, ClusterHealth, QuorumHealth};
use crate::controller::kafka_access::admin::Admin;
use crate::kafka::ops::configs::ConfigResource;
use crate::kafka::safety::{self, MIN_ISR_KEY};
use crate::kafka::{self, MetadataSnapshot};
use crate::model::ClusterModel;

/// Logs a failed call and turns it into `None`.
fn answered<T>(what: &str, cluster: &str, up: &mut bool, r: Result<T, kafka::Error>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            debug!(cluster, call = what, error = %e, "health gathering: call failed");
            *up = false;
            None
        }
    }
}

async fn min_isr(admin: &dyn Admin, meta: &MetadataSnapshot) -> Result<HashMap<String, i32>, kafka::Error> {
    let resources: Vec<ConfigResource> = meta.topics.iter().map(|t| ConfigResource::topic(t.name.clone())).collect();
    if resources.is_empty() {
        return Ok(HashMap::new());
    }
    safety::min_isr_map(&admin.describe_configs(&resources, Some(&[MIN_ISR_KEY])).await?)
}

/// One gathering for one cluster.
pub async fn gather(admin: &dyn Admin, model: &ClusterModel) -> ClusterHealth {
    let name = model.name.as_str();
    let mut up = true;
    let expected: BTreeSet<i32> = model.broker_pools().flat_map(|p| p.node_ids()).collect();

    let cluster = answered("DescribeCluster", name, &mut up, admin.describe_cluster().await);
    let meta = answered("Metadata", name, &mut up, admin.refresh_metadata().await);
    let min_isr = match &meta {
        Some(m) => answered("DescribeConfigs", name, &mut up, min_isr(admin, m).await),
        None => None,
    };
    let quorum = answered("DescribeQuorum", name, &mut up, admin.describe_quorum().await);
    // Only brokers in the metadata are alive enough to answer; one request each, at once.
    let live: Vec<i32> = meta.as_ref().map(|m| m.brokers.keys().copied().collect()).unwrap_or_default();
    let dirs = futures::future::join_all(live.iter().map(|id| admin.describe_log_dirs(*id))).await;

    let mut brokers: BTreeMap<i32, BrokerHealth> = BTreeMap::new();
    if let Some(c) = &cluster {
        let registered: Vec<(i32, bool)> = c.brokers.iter().map(|b| (b.id, b.fenced)).collect();
        for (id, (registered, fenced)) in compute::registration(&expected, &registered) {
            let b = brokers.entry(id).or_default();
            b.registered = Some(registered);
            b.fenced = fenced;
        }
    }
    if let Some(m) = &meta {
        for (id, load) in compute::load_per_node(&m.topics, expected.iter().copied()) {
            brokers.entry(id).or_default().load = Some(load);
        }
    }
    for (id, r) in live.iter().zip(dirs) {
        if let Some(d) = answered("DescribeLogDirs", name, &mut up, r) {
            brokers.entry(*id).or_default().log_dir_bytes = compute::log_dir_bytes(&d);
        }
    }
    // Consumer lag, only when the spec asks; after Metadata, whose answer routes ListOffsets.
    let consumer_lag = match (&model.consumer_lag, &meta) {
        (Some(pattern), Some(_)) => {
            let wanted = |g: &str| pattern.matches(g);
            match answered("ListGroups/OffsetFetch/ListOffsets", name, &mut up, admin.group_offsets(&wanted).await) {
                Some(offsets) => {
                    if !offsets.errors.is_empty() {
                        debug!(cluster = name, errors = ?offsets.errors, "health gathering: consumer lag partly unanswered");
                        up = false;
                    }
                    compute::group_lag(&offsets)
                }
                None => BTreeMap::new(),
            }
        }
        _ => BTreeMap::new(),
    };
    let partitions = match (&meta, &min_isr) {
        (Some(m), Some(min)) => Some(compute::partition_counts(&m.topics, min, model.replication.min_insync_replicas)),
        _ => None,
    };
    let quorum = quorum.map(|q| QuorumHealth {
        leader: (q.leader_id >= 0).then_some(q.leader_id),
        leader_epoch: q.leader_epoch,
        voter_lag: compute::voter_lag(&q),
    });
    ClusterHealth { namespace: model.namespace.clone(), cluster: model.name.clone(), up, brokers, quorum, partitions, consumer_lag }
}

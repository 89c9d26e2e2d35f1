//! Asks Kafka everything the roll planner needs: the quorum, the brokers' registration, every
//! partition's ISR and every topic's min ISR. The cluster and the metadata come from the broker
//! whose metadata is freshest (DescribeQuorum), never from whichever broker answers first.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, info};

use super::observe::KafkaFacts;
use crate::controller::kafka_access::admin::Admin;
use crate::kafka::ops::configs::ConfigResource;
use crate::kafka::ops::quorum::QuorumInfo;
use crate::kafka::safety::{self, RestartDecision};
use crate::kafka::{self, TopicPartition};
use crate::model::ClusterModel;
use crate::model::config::MIN_ISR_KEY;
use crate::roll::RestartSafety;

/// A voter may lag this many records behind the leader and still count as caught up.
const MAX_VOTER_LAG: i64 = 1000;
/// A voter must have fetched from the leader this recently.
const MAX_VOTER_FETCH_AGE_MS: i64 = 10_000;

fn names(parts: &[TopicPartition]) -> Vec<String> {
    parts.iter().map(|p| format!("{}-{}", p.topic, p.partition)).collect()
}

/// The roll planner's restart safety from the admin client's decision.
pub fn restart_safety(decision: RestartDecision) -> RestartSafety {
    match decision {
        RestartDecision::Ok { unprotectable } => RestartSafety::Safe { unprotectable: names(&unprotectable) },
        RestartDecision::Blocked { at_risk, .. } => {
            let parts: Vec<TopicPartition> = at_risk.into_iter().map(|a| a.partition).collect();
            RestartSafety::Blocked { partitions: names(&parts) }
        }
        // Fail closed: the planner waits, it never restarts on an unknown.
        RestartDecision::Unknown { .. } => RestartSafety::Unknown,
    }
}

/// Whether Kafka reports a controller as serving: the quorum leader, or a voter that fetched
/// from it within `max_fetch_age_ms` of `now_ms`.
pub fn controller_serving(quorum: &QuorumInfo, id: i32, max_fetch_age_ms: i64, now_ms: i64) -> bool {
    if quorum.leader_id == id {
        return true;
    }
    quorum
        .voters
        .iter()
        .find(|v| v.id == id)
        .is_some_and(|v| v.last_fetch_timestamp >= 0 && now_ms - v.last_fetch_timestamp <= max_fetch_age_ms)
}

/// Gathers the facts. Any failure means the facts are unknown and the planner waits.
/// Counted in `/metrics` as `gregor_kafka_probes_total`.
pub async fn gather(admin: &dyn Admin, model: &ClusterModel) -> Result<KafkaFacts, kafka::Error> {
    crate::controller::context::KAFKA_PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let inputs = admin.restart_inputs(safety::MAX_METADATA_LAG).await?;
    let (cluster, snap, quorum) = (&inputs.cluster, &inputs.metadata, &inputs.quorum);
    let features = admin.describe_features().await?;
    let errors = safety::metadata_errors(snap);
    if !errors.is_empty() {
        info!(cluster = %model.name, source = inputs.source, ?errors, "topics came back from Metadata with an error; no broker may restart until they are known");
    }

    let mut topics: Vec<&str> = snap.topics.iter().map(|t| t.name.as_str()).collect();
    topics.sort_unstable();
    let resources: Vec<ConfigResource> = topics.iter().map(|t| ConfigResource::topic(*t)).collect();
    let min_isr: HashMap<String, i32> = if resources.is_empty() {
        HashMap::new()
    } else {
        safety::min_isr_map(&admin.describe_configs(&resources, Some(&[MIN_ISR_KEY])).await?)?
    };

    // No broker restarts while partitions are being reassigned (a rebalance, or a replication
    // factor change): the moving replicas are not in the ISR yet, so a restart would leave the
    // partition with fewer in-sync copies than its spec asks for while data is being copied.
    let reassigning: Vec<String> =
        admin.list_partition_reassignments(None).await?.iter().map(|r| format!("{} (being reassigned)", r.partition)).collect();

    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let quorum_state = safety::controllers_caught_up(quorum, MAX_VOTER_LAG, MAX_VOTER_FETCH_AGE_MS, now_ms);
    let lagging: Vec<i32> = quorum_state.lagging.iter().map(|v| v.id).collect();

    let mut facts = KafkaFacts {
        active_controller: (quorum.leader_id >= 0).then_some(quorum.leader_id),
        quorum_caught_up: Some(quorum_state.is_caught_up()),
        metadata_level: features.metadata_version(),
        ..KafkaFacts::default()
    };
    let default_min_isr = model.replication.min_insync_replicas;
    // Every node that hosts replicas, not only those of the spec: a scale-down removes nodes
    // the new spec no longer names, and those are the ones that must be checked.
    let mut hosted: BTreeMap<i32, usize> = snap.replicas_per_node();
    for pool in &model.pools {
        for id in pool.node_ids() {
            let mut caught_up = true;
            // Not serving only if Kafka says so for every role the node has.
            let mut serving = false;
            if pool.role.is_broker() {
                let c = safety::caught_up(cluster, snap, id);
                caught_up &= c.is_caught_up();
                serving |= c.is_serving();
                let safety = if reassigning.is_empty() {
                    restart_safety(safety::can_restart(snap, id, &min_isr, default_min_isr))
                } else {
                    RestartSafety::Blocked { partitions: reassigning.clone() }
                };
                facts.restart_safety.insert(id, safety);
                hosted.entry(id).or_insert(0);
            }
            if pool.role.is_controller() {
                let is_voter = quorum.voters.iter().any(|v| v.id == id);
                caught_up &= is_voter && !lagging.contains(&id);
                serving |= controller_serving(quorum, id, MAX_VOTER_FETCH_AGE_MS, now_ms);
            }
            facts.caught_up.insert(id, caught_up);
            facts.serving.insert(id, serving);
        }
    }
    facts.hosted_partitions = hosted;
    debug!(cluster = %model.name, source = inputs.source, ?facts.active_controller, ?facts.quorum_caught_up, "kafka facts");
    Ok(facts)
}

/// Unregisters the brokers a scale-down left registered in KRaft (see
/// [`scale::removed_brokers`](super::scale::removed_brokers)); returns what it found.
pub async fn unregister_removed_brokers(
    admin: &dyn Admin,
    model: &ClusterModel,
    pod_names: &[&str],
) -> Result<super::scale::RemovedBrokers, kafka::Error> {
    let cluster = admin.describe_cluster().await?;
    let registered: Vec<(i32, bool)> = cluster.brokers.iter().map(|b| (b.id, b.fenced)).collect();
    let removed = super::scale::removed_brokers(&registered, model, pod_names);
    for id in &removed.unregister {
        admin.unregister_broker(*id).await?;
        info!(cluster = %model.name, broker = id, "unregistered a broker the spec no longer has");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::ops::quorum::ReplicaLag;

    /// Issue #12 item 7: a controller is "not serving" when it is no voter, or has not fetched
    /// from the quorum leader lately; the leader serves.
    #[test]
    fn item7_controller_serving_table() {
        let v = |id, fetch| ReplicaLag { id, log_end_offset: 100, last_fetch_timestamp: fetch, last_caught_up_timestamp: fetch };
        let q = QuorumInfo {
            leader_id: 1,
            leader_epoch: 3,
            high_watermark: 100,
            voters: vec![v(1, -1), v(2, 95_000), v(3, 50_000), v(4, -1)],
            observers: vec![],
        };
        let now = 100_000;
        let cases = [
            (1, true, "the leader"),
            (2, true, "fetched 5 s ago"),
            (3, false, "fetched 50 s ago"),
            (4, false, "never fetched"),
            (5, false, "no voter"),
        ];
        for (id, want, why) in cases {
            assert_eq!(controller_serving(&q, id, MAX_VOTER_FETCH_AGE_MS, now), want, "{why}");
        }
    }
}

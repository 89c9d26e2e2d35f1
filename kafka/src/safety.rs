//! Roll-safety queries: may a broker restart, has it caught up, are the controllers caught up.
//! The decisions are pure functions over snapshots; the `Client` methods only gather inputs.

use std::collections::HashMap;

use crate::error::{Error, KafkaCode, Result};
use crate::metadata::{MetadataSnapshot, TopicPartition};
use crate::ops::cluster::ClusterDescription;
use crate::ops::configs::ConfigResource;
use crate::ops::quorum::QuorumInfo;
use crate::router::{Client, Target};

pub const MIN_ISR_KEY: &str = "min.insync.replicas";

/// A partition that restarting the node would take below min ISR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtRisk {
    pub partition: TopicPartition,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub min_isr: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartDecision {
    /// Safe. `unprotectable` lists partitions on the node with RF <= min ISR (or RF 1),
    /// which no roll can keep available: report them, do not block on them.
    Ok {
        unprotectable: Vec<TopicPartition>,
    },
    Blocked {
        at_risk: Vec<AtRisk>,
        unprotectable: Vec<TopicPartition>,
    },
    /// The metadata cannot tell: these topics (or, with a partition index, partitions without a
    /// replica list) came back with an error, so whether the node hosts them, and their ISR, are
    /// unknown. Never skipped: an unknown blocks the restart as surely as a partition at risk.
    Unknown {
        errors: Vec<(String, Option<i32>, KafkaCode)>,
    },
}

impl RestartDecision {
    pub fn is_ok(&self) -> bool {
        matches!(self, RestartDecision::Ok { .. })
    }
}

/// Decide whether `node` may restart: refuse if any partition with a replica on it and
/// RF > min ISR has ISR < min ISR already, or ISR == min ISR with `node` in the ISR.
/// `min_isr` gives each topic's effective `min.insync.replicas` (absent: `default_min_isr`).
/// A topic (or a partition) that Metadata returned with an error is unknown, never skipped: the
/// answer is then [`RestartDecision::Unknown`].
pub fn can_restart(snap: &MetadataSnapshot, node: i32, min_isr: &HashMap<String, i32>, default_min_isr: i32) -> RestartDecision {
    let errors = metadata_errors(snap);
    if !errors.is_empty() {
        return RestartDecision::Unknown { errors };
    }
    let mut at_risk = Vec::new();
    let mut unprotectable = Vec::new();
    for (t, p) in snap.hosted_by(node) {
        let min = min_isr.get(&t.name).copied().unwrap_or(default_min_isr).max(1);
        let rf = p.replicas.len() as i32;
        let tp = TopicPartition { topic: t.name.clone(), partition: p.partition };
        if rf <= 1 || rf <= min {
            unprotectable.push(tp);
            continue;
        }
        let isr = p.isr.len() as i32;
        let in_isr = p.isr.contains(&node);
        if isr < min || (isr == min && in_isr) {
            at_risk.push(AtRisk { partition: tp, replicas: p.replicas.clone(), isr: p.isr.clone(), min_isr: min });
        }
    }
    at_risk.sort_by(|a, b| a.partition.cmp(&b.partition));
    unprotectable.sort();
    if at_risk.is_empty() { RestartDecision::Ok { unprotectable } } else { RestartDecision::Blocked { at_risk, unprotectable } }
}

/// Topics that Metadata returned with an error, and partitions with an error and no replica list:
/// the snapshot cannot say who hosts them. (A partition with an error but with its replicas and
/// ISR, such as an offline one, is judged by its ISR like any other.)
pub fn metadata_errors(snap: &MetadataSnapshot) -> Vec<(String, Option<i32>, KafkaCode)> {
    let mut out = Vec::new();
    for t in &snap.topics {
        if let Some(code) = t.error {
            out.push((t.name.clone(), None, code));
            continue;
        }
        for p in &t.partitions {
            if let Some(code) = p.error
                && p.replicas.is_empty()
            {
                out.push((t.name.clone(), Some(p.partition), code));
            }
        }
    }
    out
}

/// The broker whose metadata is freshest, by DescribeQuorum: the highest log end offset of the
/// metadata log among `brokers` (observers, and voters that are also brokers, as combined nodes
/// are), lowest id on a tie. It must be within `max_lag` records of the quorum leader's log end
/// offset, else no broker's metadata can be trusted and the answer is
/// [`Error::StaleMetadata`] (fail closed).
pub fn freshest_broker(q: &QuorumInfo, brokers: &[i32], max_lag: i64) -> Result<i32> {
    let leader_leo = match q.leader() {
        Some(l) if q.leader_id >= 0 => l.log_end_offset.max(q.high_watermark),
        _ => return Err(Error::StaleMetadata { freshest: None }),
    };
    let best = q
        .observers
        .iter()
        .chain(q.voters.iter())
        .filter(|r| brokers.contains(&r.id) && r.log_end_offset >= 0)
        .max_by(|a, b| a.log_end_offset.cmp(&b.log_end_offset).then(b.id.cmp(&a.id)));
    let Some(best) = best else {
        return Err(Error::StaleMetadata { freshest: None });
    };
    let lag = (leader_leo - best.log_end_offset).max(0);
    if lag > max_lag {
        return Err(Error::StaleMetadata { freshest: Some((best.id, lag)) });
    }
    Ok(best.id)
}

/// What a restart decision is made on, all from one broker: the freshest (see
/// [`freshest_broker`]).
#[derive(Debug, Clone)]
pub struct RestartInputs {
    /// The broker whose metadata this is.
    pub source: i32,
    pub quorum: QuorumInfo,
    pub cluster: ClusterDescription,
    pub metadata: std::sync::Arc<MetadataSnapshot>,
}

/// How far (in metadata log records) the broker asked for restart inputs may be behind the
/// quorum leader. The active controller appends a no-op record every 500 ms, so a broker that
/// follows the log is typically 0 to 2 records behind.
pub const MAX_METADATA_LAG: i64 = 20;

/// Whether a (re)started broker is back: registered, unfenced, in every ISR it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUp {
    pub registered: bool,
    pub fenced: bool,
    /// Partitions with a replica on the node whose ISR does not contain it.
    pub out_of_isr: Vec<TopicPartition>,
    /// Partitions with a replica on the node.
    pub hosted: usize,
}

impl CatchUp {
    pub fn is_caught_up(&self) -> bool {
        self.registered && !self.fenced && self.out_of_isr.is_empty()
    }

    /// Whether Kafka counts the broker as serving: registered, unfenced, and in the ISR of at
    /// least one partition it hosts (a broker that hosts nothing is judged by its registration).
    /// A broker that is fenced, or absent from every ISR, is down as far as Kafka is concerned.
    pub fn is_serving(&self) -> bool {
        self.registered && !self.fenced && (self.hosted == 0 || self.out_of_isr.len() < self.hosted)
    }
}

pub fn caught_up(cluster: &ClusterDescription, snap: &MetadataSnapshot, node: i32) -> CatchUp {
    let b = cluster.broker(node);
    let mut out_of_isr: Vec<TopicPartition> = snap
        .hosted_by(node)
        .filter(|(_, p)| !p.isr.contains(&node))
        .map(|(t, p)| TopicPartition { topic: t.name.clone(), partition: p.partition })
        .collect();
    out_of_isr.sort();
    let hosted = snap.hosted_by(node).count();
    CatchUp { registered: b.is_some(), fenced: b.is_none_or(|b| b.fenced), out_of_isr, hosted }
}

/// A voter that is not caught up with the quorum leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterLag {
    pub id: i32,
    pub lag: i64,
    /// ms since the leader last heard a fetch from it (None if never).
    pub since_fetch_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumCatchUp {
    pub leader_id: i32,
    pub lagging: Vec<VoterLag>,
}

impl QuorumCatchUp {
    pub fn is_caught_up(&self) -> bool {
        self.lagging.is_empty()
    }
}

/// Every voter other than the leader must be within `max_lag` records of the leader's log end
/// and have fetched within `max_fetch_age_ms` of `now_ms` (the leader's clock; timestamps
/// from DescribeQuorum).
pub fn controllers_caught_up(q: &QuorumInfo, max_lag: i64, max_fetch_age_ms: i64, now_ms: i64) -> QuorumCatchUp {
    let leader_leo = q.leader().map(|l| l.log_end_offset).unwrap_or(q.high_watermark);
    let mut lagging: Vec<VoterLag> = q
        .voters
        .iter()
        .filter(|v| v.id != q.leader_id)
        .filter_map(|v| {
            let lag = (leader_leo - v.log_end_offset).max(0);
            let since = (v.last_fetch_timestamp >= 0).then(|| (now_ms - v.last_fetch_timestamp).max(0));
            let stale = since.is_none_or(|s| s > max_fetch_age_ms);
            (v.log_end_offset < 0 || lag > max_lag || stale).then_some(VoterLag { id: v.id, lag, since_fetch_ms: since })
        })
        .collect();
    lagging.sort_by_key(|v| v.id);
    let leader_known = q.leader_id >= 0 && q.leader().is_some();
    if !leader_known {
        lagging.insert(0, VoterLag { id: q.leader_id, lag: 0, since_fetch_ms: None });
    }
    QuorumCatchUp { leader_id: q.leader_id, lagging }
}

/// Effective min ISR per topic from DescribeConfigs results.
pub fn min_isr_map(results: &[crate::ops::configs::ResourceConfigs]) -> Result<HashMap<String, i32>> {
    let mut out = HashMap::with_capacity(results.len());
    for r in results {
        match &r.entries {
            Ok(_) => {
                if let Some(v) = r.get(MIN_ISR_KEY).and_then(|e| e.value.as_deref()).and_then(|v| v.parse().ok()) {
                    out.insert(r.resource.name.clone(), v);
                }
            }
            // A topic deleted between Metadata and DescribeConfigs no longer matters.
            Err(e) if e.kafka_code() == Some(crate::ResponseError::UnknownTopicOrPartition) => {}
            Err(e) => {
                return Err(crate::Error::Protocol(format!("min ISR of {}: {e}", r.resource)));
            }
        }
    }
    Ok(out)
}

impl Client {
    /// The quorum (from the active controller, through any broker), then the cluster and the
    /// metadata from the broker whose metadata log is freshest, within `max_lag` records of the
    /// quorum leader: never from whichever broker answers first, whose metadata may lag (say,
    /// right after a topic was created).
    pub async fn restart_inputs(&self, max_lag: i64) -> Result<RestartInputs> {
        let known = match self.cached_metadata() {
            Some(m) => m,
            None => self.refresh_metadata().await?,
        };
        let brokers: Vec<i32> = known.brokers.keys().copied().collect();
        let quorum = self.describe_quorum().await?;
        let source = freshest_broker(&quorum, &brokers, max_lag)?;
        let metadata = self.fetch_metadata(Target::Node(source), None).await?;
        let cluster = self.describe_cluster_via(Target::Node(source)).await?;
        // The freshest full metadata there is: route by it too.
        let metadata = self.store_metadata(metadata);
        Ok(RestartInputs { source, quorum, cluster, metadata })
    }

    /// `can_restart` with fresh metadata (from the freshest broker) and fresh topic configs.
    pub async fn can_restart(&self, node: i32) -> Result<RestartDecision> {
        let snap = self.restart_inputs(MAX_METADATA_LAG).await?.metadata;
        let mut topics: Vec<&str> = snap.hosted_by(node).map(|(t, _)| t.name.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        let resources: Vec<ConfigResource> = topics.iter().map(|t| ConfigResource::topic(*t)).collect();
        let configs = self.describe_configs(&resources, Some(&[MIN_ISR_KEY])).await?;
        let min_isr = min_isr_map(&configs)?;
        Ok(can_restart(&snap, node, &min_isr, 1))
    }

    /// `caught_up`, asked of a broker other than `node` when one is reachable.
    pub async fn caught_up(&self, node: i32) -> Result<CatchUp> {
        let cluster = self.describe_cluster_via(Target::AnyExcept(node)).await?;
        let snap = self.fetch_metadata(Target::AnyExcept(node), None).await?;
        Ok(caught_up(&cluster, &snap, node))
    }

    /// `controllers_caught_up` with the given tolerances, using the local clock.
    pub async fn controllers_caught_up(&self, max_lag: i64, max_fetch_age_ms: i64) -> Result<QuorumCatchUp> {
        let q = self.describe_quorum().await?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        Ok(controllers_caught_up(&q, max_lag, max_fetch_age_ms, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResponseError;
    use crate::metadata::tests::response;
    use crate::ops::cluster::ClusterBroker;
    use crate::ops::quorum::ReplicaLag;
    use proptest::prelude::*;

    fn snap(parts: Vec<(Vec<i32>, Vec<i32>)>) -> MetadataSnapshot {
        MetadataSnapshot::from_response(response(&[1, 2, 3, 4], &[("t", parts)]))
    }

    #[test]
    fn can_restart_table() {
        // (replicas, isr, min_isr, node, expect: "ok" | "blocked" | "unprotectable")
        type Case<'a> = (&'a [i32], &'a [i32], i32, i32, &'a str);
        let cases: &[Case<'_>] = &[
            (&[1, 2, 3], &[1, 2, 3], 2, 1, "ok"),            // ISR 3 > min 2
            (&[1, 2, 3], &[1, 2], 2, 1, "blocked"),          // ISR == min, node in ISR
            (&[1, 2, 3], &[2, 3], 2, 1, "ok"),               // ISR == min, node already out
            (&[1, 2, 3], &[2], 2, 1, "blocked"),             // already under min
            (&[1, 2, 3], &[1], 2, 1, "blocked"),             // under min, node in ISR
            (&[1, 2, 3], &[1, 2, 3], 3, 1, "unprotectable"), // RF == min
            (&[1], &[1], 1, 1, "unprotectable"),             // RF 1
            (&[1, 2], &[1, 2], 1, 1, "ok"),                  // RF 2, min 1
            (&[1, 2], &[1], 1, 1, "blocked"),                // RF 2, min 1, node is the last ISR
            (&[2, 3, 4], &[2], 2, 1, "ok"),                  // node hosts nothing here
        ];
        for (i, (replicas, isr, min, node, want)) in cases.iter().enumerate() {
            let s = snap(vec![(replicas.to_vec(), isr.to_vec())]);
            let m = HashMap::from([("t".to_string(), *min)]);
            let got = can_restart(&s, *node, &m, 1);
            let label = match &got {
                RestartDecision::Ok { unprotectable } if unprotectable.is_empty() => "ok",
                RestartDecision::Ok { .. } => "unprotectable",
                RestartDecision::Blocked { .. } => "blocked",
                RestartDecision::Unknown { .. } => "unknown",
            };
            assert_eq!(label, *want, "case {i}: {got:?}");
        }
    }

    #[test]
    fn blocked_names_partitions_and_uses_default_min_isr() {
        let s = snap(vec![(vec![1, 2, 3], vec![1, 2]), (vec![1, 2, 3], vec![1, 2, 3]), (vec![2, 3, 1], vec![3, 1])]);
        let got = can_restart(&s, 1, &HashMap::new(), 2);
        let RestartDecision::Blocked { at_risk, unprotectable } = got else { panic!("{got:?}") };
        assert!(unprotectable.is_empty());
        let names: Vec<String> = at_risk.iter().map(|a| a.partition.to_string()).collect();
        assert_eq!(names, ["t-0", "t-2"]);
        assert_eq!(at_risk[0].min_isr, 2);
    }

    /// Issue #12 item 15: a topic Metadata returned with an error is unknown, and blocks the
    /// restart; it is never skipped (its partitions are not listed, so skipping it would read as
    /// "the node hosts nothing there").
    #[test]
    fn item15_a_topic_with_an_error_blocks_the_restart() {
        use kafka_protocol::messages::TopicName;
        use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
        use kafka_protocol::protocol::StrBytes;
        let all_in_sync = vec![(vec![1, 2, 3], vec![1, 2, 3])];
        let healthy = MetadataSnapshot::from_response(response(&[1, 2, 3], &[("t", all_in_sync.clone())]));
        assert!(can_restart(&healthy, 1, &HashMap::new(), 2).is_ok());

        // A topic that came back with an error and no partitions (as a topic still being
        // created, or one the broker cannot describe, does).
        let mut resp = response(&[1, 2, 3], &[("t", all_in_sync.clone())]);
        resp.topics.push(
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("orders"))))
                .with_error_code(ResponseError::LeaderNotAvailable.code()),
        );
        let snap = MetadataSnapshot::from_response(resp);
        let got = can_restart(&snap, 1, &HashMap::new(), 2);
        let RestartDecision::Unknown { errors } = &got else { panic!("{got:?}") };
        assert_eq!(errors, &vec![("orders".to_string(), None, KafkaCode(ResponseError::LeaderNotAvailable))]);
        assert!(!got.is_ok());

        // A partition with an error and no replica list: who hosts it is unknown.
        let mut resp = response(&[1, 2, 3], &[("t", vec![(vec![1, 2, 3], vec![1, 2, 3]), (vec![], vec![])])]);
        for p in &mut resp.topics[0].partitions {
            if p.replica_nodes.is_empty() {
                p.error_code = ResponseError::UnknownServerError.code();
            }
        }
        let got = can_restart(&MetadataSnapshot::from_response(resp), 1, &HashMap::new(), 2);
        assert!(matches!(&got, RestartDecision::Unknown { errors } if errors[0].1 == Some(1)), "{got:?}");

        // An offline partition (an error, but its replicas and ISR known) is judged by its ISR.
        let mut resp = response(&[1, 2, 3], &[("t", vec![(vec![2, 3, 4], vec![])])]);
        resp.topics[0].partitions[0].error_code = ResponseError::LeaderNotAvailable.code();
        assert!(can_restart(&MetadataSnapshot::from_response(resp), 1, &HashMap::new(), 2).is_ok());
    }

    /// Issue #12 item 15: restart inputs come from the broker whose metadata log is furthest
    /// along, and only when it is close to the quorum leader.
    #[test]
    fn item15_freshest_broker_table() {
        let r = |id, leo| ReplicaLag { id, log_end_offset: leo, last_fetch_timestamp: 0, last_caught_up_timestamp: 0 };
        let q = |leader: i32, voters: Vec<ReplicaLag>, observers: Vec<ReplicaLag>| QuorumInfo {
            leader_id: leader,
            leader_epoch: 1,
            high_watermark: 100,
            voters,
            observers,
        };
        let split = |observers| q(1, vec![r(1, 100), r(2, 100), r(3, 99)], observers);
        const BROKERS: &[i32] = &[100, 101, 102];
        type Case = (&'static str, QuorumInfo, &'static [i32], Option<i32>);
        let cases: Vec<Case> = vec![
            ("the freshest observer", split(vec![r(100, 90), r(101, 100), r(102, 98)]), BROKERS, Some(101)),
            ("a tie goes to the lowest id", split(vec![r(102, 100), r(100, 100), r(101, 50)]), BROKERS, Some(100)),
            ("controller-only voters are never asked", split(vec![r(100, 95)]), BROKERS, Some(100)),
            ("every broker too far behind: unknown", split(vec![r(100, 10), r(101, 79)]), BROKERS, None),
            ("within the allowed lag", split(vec![r(100, 80)]), BROKERS, Some(100)),
            ("an observer that is not a known broker is not asked", split(vec![r(7, 100), r(100, 99)]), BROKERS, Some(100)),
            ("no broker at all: unknown", split(vec![]), BROKERS, None),
            ("an observer that never fetched is not asked", split(vec![r(100, -1)]), BROKERS, None),
            ("no leader: unknown", q(-1, vec![r(1, 100)], vec![r(100, 100)]), BROKERS, None),
            ("combined nodes: voters that are brokers", q(2, vec![r(0, 100), r(1, 99), r(2, 100)], vec![]), &[0, 1, 2], Some(0)),
        ];
        for (why, qi, brokers, want) in cases {
            let got = freshest_broker(&qi, brokers, 20);
            assert_eq!(got.as_ref().ok().copied(), want, "{why}: {got:?}");
            if want.is_none() {
                assert!(matches!(got, Err(Error::StaleMetadata { .. })), "{why}: {got:?}");
            }
        }
    }

    proptest! {
        /// Restarting an allowed node never leaves a protectable partition below min ISR.
        #[test]
        fn ok_means_min_isr_survives(
            parts in prop::collection::vec((prop::sample::subsequence(vec![1, 2, 3, 4], 1..=4), any::<u8>()), 1..8),
            min in 1i32..4, node in 1i32..5)
        {
            let parts: Vec<(Vec<i32>, Vec<i32>)> = parts.into_iter().map(|(r, mask)| {
                let isr = r.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, b)| *b).collect();
                (r, isr)
            }).collect();
            let s = snap(parts.clone());
            let m = HashMap::from([("t".to_string(), min)]);
            if can_restart(&s, node, &m, 1).is_ok() {
                for (replicas, isr) in parts {
                    if !replicas.contains(&node) || replicas.len() as i32 <= min { continue; }
                    let after = isr.iter().filter(|b| **b != node).count() as i32;
                    prop_assert!(after >= min, "replicas {replicas:?} isr {isr:?} min {min}");
                }
            }
        }
    }

    fn cluster(fenced: &[(i32, bool)]) -> ClusterDescription {
        ClusterDescription {
            cluster_id: "c".into(),
            controller_id: Some(1),
            brokers: fenced.iter().map(|&(id, f)| ClusterBroker { id, host: "h".into(), port: 1, rack: None, fenced: f }).collect(),
        }
    }

    #[test]
    fn caught_up_table() {
        let s = snap(vec![(vec![1, 2, 3], vec![2, 3]), (vec![2, 3, 4], vec![2, 3, 4])]);
        let all_isr = snap(vec![(vec![1, 2, 3], vec![1, 2, 3])]);
        let cases = [
            (cluster(&[(1, false), (2, false)]), &s, 1, false, "out of ISR"),
            (cluster(&[(1, false)]), &all_isr, 1, true, "back"),
            (cluster(&[(1, true)]), &all_isr, 1, false, "fenced"),
            (cluster(&[(2, false)]), &all_isr, 1, false, "not registered"),
            (cluster(&[(4, false)]), &s, 4, true, "hosts one in-sync partition"),
        ];
        for (c, sn, node, want, why) in cases {
            let got = caught_up(&c, sn, node);
            assert_eq!(got.is_caught_up(), want, "{why}: {got:?}");
        }
        let got = caught_up(&cluster(&[(1, false)]), &s, 1);
        assert_eq!(got.out_of_isr, vec![TopicPartition { topic: "t".into(), partition: 0 }]);
    }

    /// Issue #12 item 7: "not serving" is Kafka's word, not the pod's: fenced (or unregistered),
    /// or absent from every ISR of the partitions it hosts.
    #[test]
    fn item7_serving_table() {
        let out_of_one = snap(vec![(vec![1, 2, 3], vec![2, 3]), (vec![1, 2, 3], vec![1, 2, 3])]);
        let out_of_all = snap(vec![(vec![1, 2, 3], vec![2, 3]), (vec![3, 1, 2], vec![3, 2])]);
        let elsewhere = snap(vec![(vec![2, 3, 4], vec![2, 3, 4])]);
        let cases = [
            (cluster(&[(1, false)]), &out_of_one, true, "in some ISR: serving, though not caught up"),
            (cluster(&[(1, false)]), &out_of_all, false, "in no ISR: not serving"),
            (cluster(&[(1, true)]), &out_of_one, false, "fenced"),
            (cluster(&[(2, false)]), &out_of_one, false, "not registered"),
            (cluster(&[(1, false)]), &elsewhere, true, "hosts nothing, unfenced"),
            (cluster(&[(1, true)]), &elsewhere, false, "hosts nothing, fenced"),
        ];
        for (c, sn, want, why) in cases {
            assert_eq!(caught_up(&c, sn, 1).is_serving(), want, "{why}");
        }
    }

    #[test]
    fn controllers_caught_up_table() {
        let v = |id, leo, fetch| ReplicaLag { id, log_end_offset: leo, last_fetch_timestamp: fetch, last_caught_up_timestamp: fetch };
        let q = |voters: Vec<ReplicaLag>| QuorumInfo { leader_id: 1, leader_epoch: 3, high_watermark: 100, voters, observers: vec![] };
        let now = 10_000;
        let cases = [
            (q(vec![v(1, 100, -1), v(2, 100, 9_900), v(3, 99, 9_950)]), vec![]),
            (q(vec![v(1, 100, -1), v(2, 50, 9_900), v(3, 100, 9_950)]), vec![2]), // lagging
            (q(vec![v(1, 100, -1), v(2, 100, 1_000), v(3, 100, 9_950)]), vec![2]), // stale fetch
            (q(vec![v(1, 100, -1), v(2, -1, -1), v(3, 100, 9_950)]), vec![2]),    // never fetched
            (q(vec![v(2, 100, 9_900)]), vec![1]),                                 // leader not a voter we see
        ];
        for (i, (qi, want)) in cases.into_iter().enumerate() {
            let got = controllers_caught_up(&qi, 5, 5_000, now);
            assert_eq!(got.lagging.iter().map(|l| l.id).collect::<Vec<_>>(), want, "case {i}");
        }
    }
}

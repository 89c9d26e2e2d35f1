//! Roll-safety queries: may a broker restart, has it caught up, are the controllers caught up.
//! The decisions are pure functions over snapshots; the `Client` methods only gather inputs.

use std::collections::HashMap;

use crate::error::Result;
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
}

impl RestartDecision {
    pub fn is_ok(&self) -> bool {
        matches!(self, RestartDecision::Ok { .. })
    }
}

/// Decide whether `node` may restart: refuse if any partition with a replica on it and
/// RF > min ISR has ISR < min ISR already, or ISR == min ISR with `node` in the ISR.
/// `min_isr` gives each topic's effective `min.insync.replicas` (absent: `default_min_isr`).
pub fn can_restart(snap: &MetadataSnapshot, node: i32, min_isr: &HashMap<String, i32>, default_min_isr: i32) -> RestartDecision {
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

/// Whether a (re)started broker is back: registered, unfenced, in every ISR it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUp {
    pub registered: bool,
    pub fenced: bool,
    /// Partitions with a replica on the node whose ISR does not contain it.
    pub out_of_isr: Vec<TopicPartition>,
}

impl CatchUp {
    pub fn is_caught_up(&self) -> bool {
        self.registered && !self.fenced && self.out_of_isr.is_empty()
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
    CatchUp { registered: b.is_some(), fenced: b.is_none_or(|b| b.fenced), out_of_isr }
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
    /// `can_restart` with fresh metadata and fresh topic configs.
    pub async fn can_restart(&self, node: i32) -> Result<RestartDecision> {
        let snap = self.refresh_metadata().await?;
        let mut topics: Vec<&str> = snap.hosted_by(node).map(|(t, _)| t.name.as_str()).collect();
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

//! Pure: what a health gathering found, reduced to the numbers `/metrics` shows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::kafka::TopicInfo;

/// Partition counts of one cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionCounts {
    pub total: u64,
    pub under_replicated: u64,
    pub under_min_isr: u64,
    pub offline: u64,
}

/// Counts the partitions of `topics`: under-replicated (ISR smaller than the replica set),
/// under min ISR (ISR smaller than the topic's `min.insync.replicas`, from `min_isr`, else
/// `default_min_isr`; offline partitions included) and offline (no leader).
pub fn partition_counts(topics: &[TopicInfo], min_isr: &HashMap<String, i32>, default_min_isr: i32) -> PartitionCounts {
    let mut c = PartitionCounts::default();
    for t in topics {
        let min = usize::try_from(min_isr.get(&t.name).copied().unwrap_or(default_min_isr)).unwrap_or(0);
        for p in &t.partitions {
            c.total += 1;
            c.under_replicated += u64::from(p.isr.len() < p.replicas.len());
            c.under_min_isr += u64::from(p.isr.len() < min);
            c.offline += u64::from(p.leader.is_none());
        }
    }
    c
}

/// Partitions led and replicas hosted, per node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Load {
    pub led: u64,
    pub replicas: u64,
}

/// What each node leads and hosts; every node of `nodes` appears, with zeros if it holds nothing.
pub fn load_per_node(topics: &[TopicInfo], nodes: impl IntoIterator<Item = i32>) -> BTreeMap<i32, Load> {
    let mut out: BTreeMap<i32, Load> = nodes.into_iter().map(|n| (n, Load::default())).collect();
    for p in topics.iter().flat_map(|t| &t.partitions) {
        if let Some(l) = p.leader {
            out.entry(l).or_default().led += 1;
        }
        for r in &p.replicas {
            out.entry(*r).or_default().replicas += 1;
        }
    }
    out
}

/// How far each voter's log end offset is behind the leader's (0 for the leader, never negative).
pub fn voter_lag(quorum: &crate::kafka::ops::quorum::QuorumInfo) -> BTreeMap<i32, u64> {
    let leader_end = quorum.leader().map_or(quorum.high_watermark, |l| l.log_end_offset);
    quorum.voters.iter().map(|v| (v.id, u64::try_from(leader_end.saturating_sub(v.log_end_offset)).unwrap_or(0))).collect()
}

/// Registration of one broker: `(registered, fenced)`, over the brokers the spec names and those
/// Kafka has registered (a broker the spec no longer names stays visible until unregistered).
pub fn registration(expected: &BTreeSet<i32>, registered: &[(i32, bool)]) -> BTreeMap<i32, (bool, Option<bool>)> {
    let mut out: BTreeMap<i32, (bool, Option<bool>)> = expected.iter().map(|id| (*id, (false, None))).collect();
    for (id, fenced) in registered {
        out.insert(*id, (true, Some(*fenced)));
    }
    out
}

/// Sums a broker's log directories, skipping those it could not describe or size. `None` when
/// none had a size.
pub fn log_dir_bytes(dirs: &[crate::kafka::ops::log_dirs::LogDir]) -> Option<(u64, u64)> {
    let sized: Vec<(u64, u64)> =
        dirs.iter().filter(|d| d.error.is_none()).filter_map(|d| Some((d.total_bytes?, d.usable_bytes?))).collect();
    (!sized.is_empty()).then(|| sized.iter().fold((0, 0), |(t, u), (dt, du)| (t + dt, u + du)))
}

/// Lag per `(group, topic)`: over the partitions the group committed to whose end offset is
/// known, the sum of `end - committed` (never negative: a commit can run ahead of a stale end).
pub fn group_lag(offsets: &crate::kafka::ops::lag::GroupOffsets) -> BTreeMap<(String, String), u64> {
    let mut out: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (group, committed) in &offsets.committed {
        for (tp, off) in committed {
            if let Some(end) = offsets.end_offsets.get(tp) {
                *out.entry((group.clone(), tp.topic.clone())).or_default() += u64::try_from(end.saturating_sub(*off)).unwrap_or(0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::PartitionInfo;
    use crate::kafka::ops::log_dirs::LogDir;
    use crate::kafka::ops::quorum::{QuorumInfo, ReplicaLag};

    fn part(i: i32, leader: Option<i32>, replicas: &[i32], isr: &[i32]) -> PartitionInfo {
        PartitionInfo {
            partition: i,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            offline: Vec::new(),
            error: None,
        }
    }

    fn topic(name: &str, partitions: Vec<PartitionInfo>) -> TopicInfo {
        TopicInfo { name: name.into(), id: uuid::Uuid::nil(), internal: false, error: None, partitions }
    }

    #[test]
    fn item1_partition_counts_table() {
        // (case, partitions of topic "t" with min ISR 2, want (total, URP, under min ISR, offline))
        type Case = (&'static str, Vec<PartitionInfo>, (u64, u64, u64, u64));
        let cases: Vec<Case> = vec![
            ("healthy", vec![part(0, Some(1), &[1, 2, 3], &[1, 2, 3])], (1, 0, 0, 0)),
            ("one replica out", vec![part(0, Some(1), &[1, 2, 3], &[1, 2])], (1, 1, 0, 0)),
            ("two replicas out", vec![part(0, Some(1), &[1, 2, 3], &[1])], (1, 1, 1, 0)),
            ("offline, empty ISR", vec![part(0, None, &[1, 2, 3], &[])], (1, 1, 1, 1)),
            ("offline, last leader kept in ISR", vec![part(0, None, &[1, 2, 3], &[3])], (1, 1, 1, 1)),
            ("RF 1 is never under-replicated, but under min ISR 2", vec![part(0, Some(1), &[1], &[1])], (1, 0, 1, 0)),
            (
                "mixed",
                vec![part(0, Some(1), &[1, 2, 3], &[1, 2, 3]), part(1, Some(2), &[2, 3, 1], &[2, 3]), part(2, Some(3), &[3, 1, 2], &[3])],
                (3, 2, 1, 0),
            ),
            ("no partitions", vec![], (0, 0, 0, 0)),
        ];
        let min_isr = HashMap::from([("t".to_string(), 2)]);
        for (case, parts, want) in cases {
            let c = partition_counts(&[topic("t", parts)], &min_isr, 1);
            assert_eq!((c.total, c.under_replicated, c.under_min_isr, c.offline), want, "{case}");
        }
    }

    #[test]
    fn item1_min_isr_per_topic_with_the_cluster_default_for_the_rest() {
        let topics =
            [topic("strict", vec![part(0, Some(1), &[1, 2, 3], &[1, 2])]), topic("other", vec![part(0, Some(1), &[1, 2, 3], &[1, 2])])];
        let min_isr = HashMap::from([("strict".to_string(), 3)]);
        assert_eq!(partition_counts(&topics, &min_isr, 2).under_min_isr, 1, "strict needs 3, other takes the default 2");
        assert_eq!(partition_counts(&topics, &min_isr, 3).under_min_isr, 2);
    }

    #[test]
    fn load_counts_leaders_and_replicas_and_lists_idle_nodes() {
        let topics =
            [topic("a", vec![part(0, Some(1), &[1, 2], &[1, 2]), part(1, Some(2), &[2, 1], &[2, 1]), part(2, None, &[2, 7], &[])])];
        let load = load_per_node(&topics, [1, 2, 3]);
        assert_eq!(load[&1], Load { led: 1, replicas: 2 });
        assert_eq!(load[&2], Load { led: 1, replicas: 3 });
        assert_eq!(load[&3], Load::default(), "a node that holds nothing still has a series");
        assert_eq!(load[&7], Load { led: 0, replicas: 1 }, "a replica on a node the spec no longer names is shown");
    }

    #[test]
    fn voter_lag_is_behind_the_leader() {
        let v = |id, end| ReplicaLag { id, log_end_offset: end, last_fetch_timestamp: 0, last_caught_up_timestamp: 0 };
        let q = QuorumInfo {
            leader_id: 1,
            leader_epoch: 3,
            high_watermark: 90,
            voters: vec![v(1, 100), v(2, 100), v(3, 40), v(4, 120)],
            observers: vec![],
        };
        assert_eq!(voter_lag(&q), BTreeMap::from([(1, 0), (2, 0), (3, 60), (4, 0)]));
        let leaderless = QuorumInfo { leader_id: -1, voters: vec![v(2, 80)], ..q };
        assert_eq!(voter_lag(&leaderless), BTreeMap::from([(2, 10)]), "without a leader, against the high watermark");
    }

    #[test]
    fn registration_covers_expected_and_registered() {
        let got = registration(&BTreeSet::from([1, 2, 3]), &[(1, false), (2, true), (9, false)]);
        assert_eq!(got, BTreeMap::from([(1, (true, Some(false))), (2, (true, Some(true))), (3, (false, None)), (9, (true, Some(false)))]));
    }

    #[test]
    fn item1_group_lag_sums_partitions_per_topic() {
        use crate::kafka::TopicPartition;
        use crate::kafka::ops::lag::GroupOffsets;
        let tp = |t: &str, p| TopicPartition { topic: t.into(), partition: p };
        let offsets = GroupOffsets {
            committed: BTreeMap::from([
                ("g1".to_string(), BTreeMap::from([(tp("a", 0), 10), (tp("a", 1), 5), (tp("b", 0), 7)])),
                ("g2".to_string(), BTreeMap::from([(tp("a", 0), 100), (tp("c", 0), 1)])),
            ]),
            // c-0 has no end offset (its leader did not answer): left out, not counted as 0.
            end_offsets: BTreeMap::from([(tp("a", 0), 20), (tp("a", 1), 5), (tp("b", 0), 9)]),
            ..GroupOffsets::default()
        };
        let want = BTreeMap::from([
            (("g1".to_string(), "a".to_string()), 10),
            (("g1".to_string(), "b".to_string()), 2),
            (("g2".to_string(), "a".to_string()), 0),
        ]);
        assert_eq!(group_lag(&offsets), want, "g2 committed past a stale end: 0, never negative");
    }

    #[test]
    fn log_dirs_sum_sized_healthy_dirs() {
        let d = |path: &str, t: Option<u64>, u: Option<u64>, failed: bool| LogDir {
            path: path.into(),
            error: failed.then_some(crate::kafka::KafkaCode::from_code(57).expect("a code")),
            total_bytes: t,
            usable_bytes: u,
        };
        assert_eq!(log_dir_bytes(&[d("a", Some(100), Some(40), false), d("b", Some(50), Some(10), false)]), Some((150, 50)));
        assert_eq!(
            log_dir_bytes(&[d("a", Some(100), Some(40), false), d("b", None, None, false), d("c", Some(9), Some(9), true)]),
            Some((100, 40))
        );
        assert_eq!(log_dir_bytes(&[d("a", None, None, false)]), None);
        assert_eq!(log_dir_bytes(&[]), None);
    }
}

//! The planner's answer: replica moves in batches, leader-only reorders, figures before and after,
//! and how each goal ended.

use std::collections::BTreeMap;

use super::goals::GoalOutcome;
use super::layout::{BrokerId, ClusterLayout, PartitionLayout, TopicPartition};

/// One partition's reassignment: the replica list it has and the one it gets. Kafka adds the new
/// replicas first and drops the old ones only once the new ones are in the ISR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaMove {
    pub partition: TopicPartition,
    pub old_replicas: Vec<BrokerId>,
    pub new_replicas: Vec<BrokerId>,
    /// Bytes copied: the partition's size for every new replica.
    pub bytes_moved: u64,
}

impl ReplicaMove {
    /// Brokers that get a replica.
    pub fn added(&self) -> impl Iterator<Item = BrokerId> + '_ {
        self.new_replicas.iter().copied().filter(|b| !self.old_replicas.contains(b))
    }
    /// Brokers that lose their replica.
    pub fn removed(&self) -> impl Iterator<Item = BrokerId> + '_ {
        self.old_replicas.iter().copied().filter(|b| !self.new_replicas.contains(b))
    }
}

/// A change of replica order only (same brokers, a different preferred leader): no data moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderReorder {
    pub partition: TopicPartition,
    pub old_replicas: Vec<BrokerId>,
    pub new_replicas: Vec<BrokerId>,
}

/// Moves to run together, as indices into [`Plan::moves`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub moves: Vec<usize>,
    /// Bytes the batch copies.
    pub bytes: u64,
    /// One move that alone exceeds a bound (bytes in flight or moves per broker); it runs alone.
    pub oversized: bool,
}

/// One broker's load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerFigures {
    pub broker: BrokerId,
    pub replicas: usize,
    pub leaders: usize,
    pub disk_bytes: u64,
}

/// The brokers' loads and their spread over the brokers not drained.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// Every broker, by id (drained ones included).
    pub brokers: Vec<BrokerFigures>,
    /// Largest minus smallest replica count.
    pub replica_spread: usize,
    /// Largest minus smallest leader count.
    pub leader_spread: usize,
    /// Largest minus smallest disk use (bytes over usable bytes), as a fraction.
    pub disk_use_spread: f64,
}

impl Figures {
    /// The figures of a layout, with its current leaders.
    pub fn of(layout: &ClusterLayout) -> Figures {
        let mut per: BTreeMap<BrokerId, BrokerFigures> =
            layout.brokers.iter().map(|b| (b.id, BrokerFigures { broker: b.id, replicas: 0, leaders: 0, disk_bytes: 0 })).collect();
        for p in &layout.partitions {
            for r in &p.replicas {
                if let Some(f) = per.get_mut(r) {
                    f.replicas += 1;
                    f.disk_bytes = f.disk_bytes.saturating_add(p.size_bytes);
                }
            }
            if let Some(f) = p.leader.and_then(|l| per.get_mut(&l)) {
                f.leaders += 1;
            }
        }
        Figures::from_brokers(layout, per.into_values().collect())
    }

    /// Spreads over the brokers not drained in `layout`.
    pub(super) fn from_brokers(layout: &ClusterLayout, brokers: Vec<BrokerFigures>) -> Figures {
        let capacity: BTreeMap<BrokerId, u64> = layout.brokers.iter().map(|b| (b.id, b.capacity_bytes)).collect();
        let active: Vec<&BrokerFigures> = brokers.iter().filter(|f| !layout.drain.contains(&f.broker)).collect();
        let spread = |v: Vec<usize>| v.iter().max().copied().unwrap_or(0) - v.iter().min().copied().unwrap_or(0);
        let uses: Vec<f64> =
            active.iter().map(|f| f.disk_bytes as f64 / capacity.get(&f.broker).copied().unwrap_or(0).max(1) as f64).collect();
        let max = uses.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = uses.iter().copied().fold(f64::INFINITY, f64::min);
        Figures {
            replica_spread: spread(active.iter().map(|f| f.replicas).collect()),
            leader_spread: spread(active.iter().map(|f| f.leaders).collect()),
            disk_use_spread: if uses.is_empty() { 0.0 } else { max - min },
            brokers,
        }
    }
}

/// The whole plan. Empty (no moves, no reorders) when the layout already meets every goal it can.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Reassignments, sorted by partition.
    pub moves: Vec<ReplicaMove>,
    /// The moves cut into batches, to run one after the other.
    pub batches: Vec<Batch>,
    /// Leader-only reorders, sorted by partition.
    pub leader_reorders: Vec<LeaderReorder>,
    /// Partitions whose ISR is not complete: never moved or reordered.
    pub under_replicated: Vec<TopicPartition>,
    pub before: Figures,
    /// After every move, reorder and the preferred-leader election.
    pub after: Figures,
    /// Replicas relocated (each new replica of each move counts once).
    pub replicas_moved: usize,
    /// No plan that meets the goals relocates fewer replicas than this.
    pub lower_bound: usize,
    /// Each goal in priority order, met or why not.
    pub goals: Vec<GoalOutcome>,
}

/// The leader a preferred-leader election gives: the first replica when it is in the ISR, else
/// the current leader.
pub(super) fn elected_leader(p: &PartitionLayout) -> Option<BrokerId> {
    match p.replicas.first() {
        Some(first) if p.isr.contains(first) => Some(*first),
        _ => p.leader,
    }
}

impl Plan {
    /// No move and no reorder.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty() && self.leader_reorders.is_empty()
    }

    /// The layout once every move has completed (the new replicas are the ISR), every reorder is
    /// done and the preferred-leader election has run. Pure; for tests and previews.
    pub fn apply(&self, layout: &ClusterLayout) -> ClusterLayout {
        let mut changed: BTreeMap<&TopicPartition, &Vec<BrokerId>> = BTreeMap::new();
        for m in &self.moves {
            changed.insert(&m.partition, &m.new_replicas);
        }
        for r in &self.leader_reorders {
            changed.insert(&r.partition, &r.new_replicas);
        }
        let mut out = layout.clone();
        for p in &mut out.partitions {
            if let Some(replicas) = changed.get(&p.id) {
                let moved = replicas.iter().any(|r| !p.replicas.contains(r));
                p.replicas = (*replicas).clone();
                if moved {
                    p.isr = p.replicas.clone();
                }
            }
            p.leader = elected_leader(p);
        }
        out
    }
}

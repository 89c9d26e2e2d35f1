//! What the planner aims for, in priority order, and how each aim ended.

use super::layout::{BrokerId, TopicPartition};

/// The knobs of one plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Goals {
    /// A broker's disk use may stray this many percent from its fair share (the cluster's bytes
    /// shared in proportion to usable disk), e.g. 10 = ±10 % of the mean use.
    pub disk_band_percent: u32,
    /// The bytes one batch may copy at most (the sum of the new replicas' sizes). A single move
    /// larger than this goes alone in its own batch.
    pub max_bytes_in_flight: u64,
    /// How many replica moves one broker may take part in (as source or destination) per batch.
    pub moves_per_broker: usize,
}

impl Default for Goals {
    fn default() -> Self {
        Goals { disk_band_percent: 10, max_bytes_in_flight: 10 * 1024 * 1024 * 1024, moves_per_broker: 5 }
    }
}

/// The five goals, highest priority first. A lower goal never undoes a higher one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Goal {
    /// No replica on a broker being drained.
    Drained,
    /// The replicas of a partition on distinct racks (a broker without a rack is a rack of its own).
    RackAware,
    /// Every broker's disk use within the band around its fair share.
    DiskInBand,
    /// Replica counts per broker within ±1 (the largest minus the smallest is at most 1).
    ReplicasEven,
    /// Preferred-leader counts per broker within ±1.
    LeadersEven,
}

impl Goal {
    /// Every goal, in priority order.
    pub const ALL: [Goal; 5] = [Goal::Drained, Goal::RackAware, Goal::DiskInBand, Goal::ReplicasEven, Goal::LeadersEven];
}

/// Why a goal is not met once the plan is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnmetReason {
    /// No broker is left once the drained ones are taken away.
    NoActiveBroker,
    /// The partition has more replicas than there are brokers left once drained.
    TooFewBrokers { partition: TopicPartition, replication_factor: usize, brokers_left: usize },
    /// Partitions whose ISR is not complete hold replicas where the goal does not want them; the
    /// planner never moves them.
    UnderReplicated { count: usize, first: TopicPartition },
    /// The partition has more replicas than there are racks among the brokers left.
    TooFewRacks { partition: TopicPartition, replication_factor: usize, racks: usize },
    /// The cluster's bytes exceed the usable disk of the brokers left.
    NotEnoughDisk { bytes: u64, capacity_bytes: u64 },
    /// This partition alone is larger than the band's width on the brokers out of band, so no
    /// placement of it can fit.
    PartitionLargerThanBand { partition: TopicPartition, size_bytes: u64, band_bytes: u64 },
    /// No single move or reorder improves these brokers without breaking a higher goal (or the
    /// disk band, for replica counts).
    NoImprovingMove { brokers: Vec<BrokerId> },
    /// Replica counts: the most loaded broker could give the least loaded one a replica only by
    /// breaking `goal` (a partition would lose a rack, or a broker would leave its disk band).
    /// With every partition on distinct racks, a replica can only move within its rack, so racks
    /// of equal size but unequal totals keep counts apart.
    BlockedByHigherGoal { goal: Goal, from: BrokerId, to: BrokerId },
}

/// How one goal ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GoalStatus {
    Met,
    /// Not met, with at least one reason.
    Unmet(Vec<UnmetReason>),
}

/// One goal and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoalOutcome {
    pub goal: Goal,
    pub status: GoalStatus,
}

//! The balance planner: a pure function from the cluster's layout to the replica moves and
//! leader reorders that balance it. No I/O; the controller observes and acts.
//!
//! # Goals, in priority order
//! 1. no replica on a drained broker;
//! 2. the replicas of each partition on distinct racks, where there are racks enough (a broker
//!    without a rack counts as a rack of its own);
//! 3. each broker's disk use within a band around its fair share;
//! 4. replica counts within ±1 per broker;
//! 5. preferred-leader counts within ±1 per broker.
//!
//! A lower goal never undoes a higher one. For each goal the plan says whether it is met, or why
//! not ([`UnmetReason`]).
//!
//! # Never below min ISR
//! Kafka's reassignment (AlterPartitionReassignments) first adds the new replicas to the replica
//! set, lets them catch up, and only when they have joined the ISR drops the old ones. So a move
//! never takes a replica that is in the ISR away while the ISR would fall below min ISR: the old
//! replicas stay in the ISR until their replacements are in it. The planner keeps its side of this:
//! a partition whose ISR is not complete (under-replicated) is neither moved nor reordered, only
//! reported ([`Plan::under_replicated`]); a replica is only ever replaced, never dropped, so the
//! replication factor stays.
//!
//! # Algorithm: greedy, fewest moves first
//! 1. Drain: every replica on a drained broker goes to the least loaded broker that keeps the
//!    partition's racks (largest partition first).
//! 2. Racks: a partition on fewer racks than it could use moves a replica that shares a rack to the
//!    least loaded broker of an unused rack.
//! 3. Disk and counts: from the most loaded broker to the least loaded eligible one, the largest
//!    replica that fits the band (disk), then the smallest replica first (counts) while the spread
//!    is above 1, never raising the out-of-band bytes and never losing a rack.
//! 4. Leaders: reorder replica lists (no data moves) so preferred-leader counts are within ±1;
//!    the preferred-leader election at the end makes them leaders.
//!
//! Every choice breaks ties by broker id and partition, and each phase stops only where it finds no
//! move, so the output is deterministic and planning the applied plan again gives an empty plan.

mod batch;
mod bound;
pub mod execute;
mod goals;
mod layout;
mod leaders;
mod place;
mod plan;
mod state;
mod verdict;

#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod prop_tests;

pub use goals::{Goal, GoalOutcome, GoalStatus, Goals, UnmetReason};
pub use layout::{Broker, BrokerId, ClusterLayout, LayoutError, PartitionLayout, TopicPartition};
pub use plan::{Batch, BrokerFigures, Figures, LeaderReorder, Plan, ReplicaMove};

use state::State;

/// Cuts `moves` into batches under `goals`' bounds (for a plan whose moves were filtered).
pub fn batches(moves: &[ReplicaMove], goals: &Goals) -> Vec<Batch> {
    batch::cut(moves, goals)
}

/// Plans the moves and reorders that bring `layout` as close to `goals` as single moves can.
/// Fails, planning nothing, on a layout or goals it cannot trust (the error names the field).
pub fn plan(layout: &ClusterLayout, goals: &Goals) -> Result<Plan, LayoutError> {
    if goals.moves_per_broker == 0 {
        return Err(LayoutError::ZeroMovesPerBroker);
    }
    if goals.max_bytes_in_flight == 0 {
        return Err(LayoutError::ZeroBytesInFlight);
    }
    layout.check()?;
    let before = Figures::of(layout);
    let mut state = State::new(layout, goals.disk_band_percent);
    let lower_bound = bound::lower_bound(&state);

    place::drain(&mut state);
    place::racks(&mut state);
    place::spread(&mut state);

    let index: std::collections::BTreeMap<BrokerId, usize> = state.brokers.iter().enumerate().map(|(i, b)| (b.id, i)).collect();
    let fixed: Vec<Option<usize>> = state
        .parts
        .iter()
        .map(|p| if p.movable { None } else { plan::elected_leader(&layout.partitions[p.source]).and_then(|l| index.get(&l).copied()) })
        .collect();
    let leader_counts = leaders::balance(&mut state, &fixed);

    let mut moves = Vec::new();
    let mut leader_reorders = Vec::new();
    let mut under_replicated = Vec::new();
    let mut replicas_moved = 0;
    for part in &state.parts {
        let source = &layout.partitions[part.source];
        if !part.movable {
            under_replicated.push(source.id.clone());
            continue;
        }
        let new: Vec<BrokerId> = part.replicas.iter().map(|&r| state.brokers[r].id).collect();
        if new == source.replicas {
            continue;
        }
        let added = new.iter().filter(|b| !source.replicas.contains(b)).count();
        if added == 0 {
            leader_reorders.push(LeaderReorder { partition: source.id.clone(), old_replicas: source.replicas.clone(), new_replicas: new });
        } else {
            replicas_moved += added;
            moves.push(ReplicaMove {
                partition: source.id.clone(),
                old_replicas: source.replicas.clone(),
                new_replicas: new,
                bytes_moved: part.size.saturating_mul(added as u64),
            });
        }
    }
    let batches = batch::cut(&moves, goals);
    let after_brokers = state
        .brokers
        .iter()
        .enumerate()
        .map(|(i, b)| BrokerFigures { broker: b.id, replicas: b.replicas, leaders: leader_counts.counts[i], disk_bytes: b.bytes })
        .collect();
    let after = Figures::from_brokers(layout, after_brokers);
    let goals_met = verdict::judge(layout, &state, &after, &under_replicated);
    Ok(Plan { moves, batches, leader_reorders, under_replicated, before, after, replicas_moved, lower_bound, goals: goals_met })
}

//! The planner's working copy of the cluster: dense indices instead of ids, running totals per
//! broker, and per broker the movable replicas ordered by size. Every phase reads and changes
//! only this, so the plan depends on the state alone (never on the order a map iterates in).

use std::collections::{BTreeMap, BTreeSet};

use super::layout::{BrokerId, ClusterLayout, PartitionLayout};

/// A broker's index in [`State::brokers`] (brokers sorted by id).
pub(super) type B = usize;
/// A partition's index in [`State::parts`] (partitions sorted by topic, then partition).
pub(super) type P = u32;

pub(super) struct BrokerState {
    pub id: BrokerId,
    /// The broker's rack as a dense number; a broker without a rack has a number of its own.
    pub rack: u32,
    pub drained: bool,
    pub bytes: u64,
    pub replicas: usize,
    /// The disk band: the fair share and its bounds (only meaningful for brokers not drained).
    pub share: u64,
    pub lo: u64,
    pub hi: u64,
    /// Movable replicas on this broker, smallest first (size, partition).
    pub movable: BTreeSet<(u64, P)>,
}

impl BrokerState {
    pub fn over(&self) -> u64 {
        self.bytes.saturating_sub(self.hi)
    }
    pub fn under(&self) -> u64 {
        self.lo.saturating_sub(self.bytes)
    }
    /// Out-of-band bytes: what the disk goal drives to zero.
    pub fn off_band(&self) -> u64 {
        self.over() + self.under()
    }
    /// Use relative to the fair share, for ordering brokers by how loaded they are.
    pub fn relative_use(&self) -> f64 {
        self.bytes as f64 / (self.share.max(1)) as f64
    }
    pub fn off_band_with(&self, bytes: u64) -> u64 {
        bytes.saturating_sub(self.hi) + self.lo.saturating_sub(bytes)
    }
}

pub(super) struct PartState {
    /// Index into the layout's partitions.
    pub source: usize,
    pub replicas: Vec<B>,
    pub size: u64,
    /// The ISR is complete: the planner may move or reorder this partition.
    pub movable: bool,
}

pub(super) struct State {
    pub brokers: Vec<BrokerState>,
    pub parts: Vec<PartState>,
    /// Distinct racks among the brokers not drained.
    pub active_racks: usize,
    /// Indices of the brokers not drained, ascending.
    pub active: Vec<B>,
}

/// Each broker's fair share of `total` bytes, in proportion to usable disk (evenly when no
/// broker reports any), and the band of `percent` around it.
fn band(capacity: u64, capacity_total: u64, brokers: u64, total: u64, percent: u32) -> (u64, u64, u64) {
    let share =
        if capacity_total == 0 { total / brokers.max(1) } else { ((total as u128 * capacity as u128) / capacity_total as u128) as u64 };
    let width = ((share as u128 * percent as u128) / 100) as u64;
    (share, share.saturating_sub(width), share.saturating_add(width))
}

impl State {
    /// Builds the state from a checked layout.
    pub fn new(layout: &ClusterLayout, disk_band_percent: u32) -> State {
        let mut order: Vec<&crate::balance::layout::Broker> = layout.brokers.iter().collect();
        order.sort_by_key(|b| b.id);
        let index: BTreeMap<BrokerId, B> = order.iter().enumerate().map(|(i, b)| (b.id, i)).collect();
        let mut racks: BTreeMap<&str, u32> = BTreeMap::new();
        for b in &order {
            if let Some(r) = &b.rack {
                let next = racks.len() as u32;
                racks.entry(r.as_str()).or_insert(next);
            }
        }
        let named = racks.len() as u32;
        let mut brokers: Vec<BrokerState> = order
            .iter()
            .enumerate()
            .map(|(i, b)| BrokerState {
                id: b.id,
                rack: b.rack.as_deref().and_then(|r| racks.get(r).copied()).unwrap_or(named + i as u32),
                drained: layout.drain.contains(&b.id),
                bytes: 0,
                replicas: 0,
                share: 0,
                lo: 0,
                hi: 0,
                movable: BTreeSet::new(),
            })
            .collect();
        let mut sorted: Vec<(usize, &PartitionLayout)> = layout.partitions.iter().enumerate().collect();
        sorted.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        let mut parts = Vec::with_capacity(sorted.len());
        let mut total: u64 = 0;
        for (p, (source, pl)) in sorted.into_iter().enumerate() {
            let replicas: Vec<B> = pl.replicas.iter().filter_map(|r| index.get(r).copied()).collect();
            let movable = pl.isr_complete();
            for &r in &replicas {
                let b = &mut brokers[r];
                b.bytes = b.bytes.saturating_add(pl.size_bytes);
                b.replicas += 1;
                if movable {
                    b.movable.insert((pl.size_bytes, p as P));
                }
            }
            total = total.saturating_add(pl.size_bytes.saturating_mul(replicas.len() as u64));
            parts.push(PartState { source, replicas, size: pl.size_bytes, movable });
        }
        let active: Vec<B> = (0..brokers.len()).filter(|&b| !brokers[b].drained).collect();
        let capacity_total: u64 = active.iter().map(|&b| order[b].capacity_bytes).fold(0, u64::saturating_add);
        for &b in &active {
            let (share, lo, hi) = band(order[b].capacity_bytes, capacity_total, active.len() as u64, total, disk_band_percent);
            let st = &mut brokers[b];
            st.share = share;
            st.lo = lo;
            st.hi = hi;
        }
        let active_racks = active.iter().map(|&b| brokers[b].rack).collect::<BTreeSet<_>>().len();
        State { brokers, parts, active_racks, active }
    }

    /// Distinct racks among `replicas` (no allocation: replica lists are short).
    pub fn distinct_racks(&self, replicas: &[B]) -> usize {
        self.distinct_racks_by(replicas.len(), |i| self.brokers[replicas[i]].rack)
    }

    /// Distinct racks of partition `p` if its replica on `from` moved to `to`.
    pub fn distinct_racks_after(&self, p: P, from: B, to: B) -> usize {
        let replicas = &self.parts[p as usize].replicas;
        self.distinct_racks_by(replicas.len(), |i| {
            let r = replicas[i];
            self.brokers[if r == from { to } else { r }].rack
        })
    }

    fn distinct_racks_by(&self, n: usize, rack: impl Fn(usize) -> u32) -> usize {
        (0..n).filter(|&i| (0..i).all(|j| rack(j) != rack(i))).count()
    }

    /// Whether `to` may take over partition `p`'s replica on `from`: `to` is not drained, holds
    /// no replica of it yet, and the partition keeps at least as many racks.
    pub fn may_move(&self, p: P, from: B, to: B) -> bool {
        let part = &self.parts[p as usize];
        part.movable
            && !self.brokers[to].drained
            && !part.replicas.contains(&to)
            && self.distinct_racks_after(p, from, to) >= self.distinct_racks(&part.replicas)
    }

    /// Moves partition `p`'s replica from `from` to `to`, in the same place of the replica list.
    pub fn relocate(&mut self, p: P, from: B, to: B) {
        let part = &mut self.parts[p as usize];
        let size = part.size;
        for r in part.replicas.iter_mut() {
            if *r == from {
                *r = to;
            }
        }
        let src = &mut self.brokers[from];
        src.bytes = src.bytes.saturating_sub(size);
        src.replicas -= 1;
        src.movable.remove(&(size, p));
        let dst = &mut self.brokers[to];
        dst.bytes = dst.bytes.saturating_add(size);
        dst.replicas += 1;
        dst.movable.insert((size, p));
    }

    /// The sum of every active broker's out-of-band bytes (zero when the disk goal is met).
    pub fn off_band_total(&self) -> u64 {
        self.active.iter().map(|&b| self.brokers[b].off_band()).fold(0, u64::saturating_add)
    }
}

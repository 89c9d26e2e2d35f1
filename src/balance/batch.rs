//! Cutting the moves into batches: each batch copies at most `max_bytes_in_flight` bytes and
//! involves each broker in at most `moves_per_broker` replica moves (as source or destination).

use std::collections::BTreeMap;

use super::goals::Goals;
use super::layout::BrokerId;
use super::plan::{Batch, ReplicaMove};

/// How many of the newest batches a move may still join. It keeps cutting linear in the number
/// of moves; older batches are nearly full anyway.
const OPEN_BATCHES: usize = 32;

struct Open {
    batch: Batch,
    per_broker: BTreeMap<BrokerId, usize>,
}

fn involvement(m: &ReplicaMove) -> BTreeMap<BrokerId, usize> {
    let mut per = BTreeMap::new();
    for b in m.added().chain(m.removed()) {
        *per.entry(b).or_insert(0) += 1;
    }
    per
}

impl Open {
    fn fits(&self, m: &ReplicaMove, per: &BTreeMap<BrokerId, usize>, goals: &Goals) -> bool {
        !self.batch.oversized
            && self.batch.bytes.saturating_add(m.bytes_moved) <= goals.max_bytes_in_flight
            && per.iter().all(|(b, n)| self.per_broker.get(b).copied().unwrap_or(0) + n <= goals.moves_per_broker)
    }
    fn add(&mut self, index: usize, m: &ReplicaMove, per: BTreeMap<BrokerId, usize>) {
        self.batch.moves.push(index);
        self.batch.bytes = self.batch.bytes.saturating_add(m.bytes_moved);
        for (b, n) in per {
            *self.per_broker.entry(b).or_insert(0) += n;
        }
    }
}

/// First fit over the newest open batches, in the moves' order. A move that alone exceeds a
/// bound gets a batch of its own, marked `oversized`.
pub(super) fn cut(moves: &[ReplicaMove], goals: &Goals) -> Vec<Batch> {
    let mut done: Vec<Batch> = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    for (i, m) in moves.iter().enumerate() {
        let per = involvement(m);
        if let Some(o) = open.iter_mut().find(|o| o.fits(m, &per, goals)) {
            o.add(i, m, per);
            continue;
        }
        let alone_too_big = m.bytes_moved > goals.max_bytes_in_flight || per.values().any(|&n| n > goals.moves_per_broker);
        let mut fresh = Open { batch: Batch { moves: Vec::new(), bytes: 0, oversized: alone_too_big }, per_broker: BTreeMap::new() };
        fresh.add(i, m, per);
        open.push(fresh);
        if open.len() > OPEN_BATCHES {
            done.push(open.remove(0).batch);
        }
    }
    done.extend(open.into_iter().map(|o| o.batch));
    done
}

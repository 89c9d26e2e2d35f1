//! The replica phases of the greedy planner, one per goal: drain, racks, then disk and replica
//! counts together. Each phase moves one replica at a time and only ever makes a move that keeps
//! every higher goal as good as it was, so the phases never fight.

use std::cmp::Ordering;

use super::state::{B, P, State};

/// How many replicas of one broker a single search looks at before giving up on a pair of
/// brokers. It bounds the work per move; the result still depends on the state alone.
const CANDIDATES_PER_PAIR: usize = 64;

/// Orders brokers from the least to the most loaded: disk use relative to the fair share, then
/// replica count, then id (a total order, so ties never depend on iteration order).
fn by_load(state: &State, a: B, b: B) -> Ordering {
    let (x, y) = (&state.brokers[a], &state.brokers[b]);
    x.relative_use().total_cmp(&y.relative_use()).then(x.replicas.cmp(&y.replicas)).then(x.id.cmp(&y.id))
}

/// The best broker to take partition `p`'s replica on `from`, ignoring the disk band: an active
/// broker that holds no replica of `p`, preferring one that keeps the partition's racks, then the
/// least loaded.
fn drain_target(state: &State, p: P, from: B) -> Option<B> {
    let part = &state.parts[p as usize];
    let before = state.distinct_racks(&part.replicas);
    state.active.iter().copied().filter(|&t| !part.replicas.contains(&t)).min_by(|&a, &b| {
        let keeps = |t: B| state.distinct_racks_after(p, from, t) < before;
        keeps(a).cmp(&keeps(b)).then_with(|| by_load(state, a, b))
    })
}

/// Goal 1: every movable replica on a drained broker goes to the best other broker, largest
/// partition first (large pieces placed first pack the disk best).
pub(super) fn drain(state: &mut State) {
    let mut todo: Vec<P> = (0..state.parts.len() as P)
        .filter(|&p| {
            let part = &state.parts[p as usize];
            part.movable && part.replicas.iter().any(|&r| state.brokers[r].drained)
        })
        .collect();
    todo.sort_by(|&a, &b| state.parts[b as usize].size.cmp(&state.parts[a as usize].size).then(a.cmp(&b)));
    for p in todo {
        let on_drained: Vec<B> = state.parts[p as usize].replicas.iter().copied().filter(|&r| state.brokers[r].drained).collect();
        for from in on_drained {
            if let Some(to) = drain_target(state, p, from) {
                state.relocate(p, from, to);
            }
        }
    }
}

/// Goal 2: a movable partition on fewer racks than it could use moves a replica that shares its
/// rack (the one on the fullest broker) to the least loaded broker of a rack it does not use.
pub(super) fn racks(state: &mut State) {
    for p in 0..state.parts.len() as P {
        loop {
            let part = &state.parts[p as usize];
            if !part.movable {
                break;
            }
            let want = part.replicas.len().min(state.active_racks);
            if state.distinct_racks(&part.replicas) >= want {
                break;
            }
            let shared: Vec<B> = part
                .replicas
                .iter()
                .copied()
                .filter(|&r| part.replicas.iter().filter(|&&o| state.brokers[o].rack == state.brokers[r].rack).count() > 1)
                .collect();
            let Some(from) = shared.iter().copied().max_by(|&a, &b| by_load(state, a, b)) else { break };
            let used: Vec<u32> = part.replicas.iter().map(|&r| state.brokers[r].rack).collect();
            let to = state.active.iter().copied().filter(|&t| !used.contains(&state.brokers[t].rack)).min_by(|&a, &b| by_load(state, a, b));
            let Some(to) = to else { break };
            state.relocate(p, from, to);
        }
    }
}

/// Goal 3, one move: from a broker with bytes to spare to one with room, the replica that lowers
/// the pair's out-of-band bytes the most: among the largest that leave both inside their bands
/// and the smallest that do not. The out-of-band total strictly falls with every move. Returns
/// whether a move was made.
fn disk_step(state: &mut State) -> bool {
    if state.off_band_total() == 0 {
        return false;
    }
    let mut order = state.active.clone();
    order.sort_by(|&a, &b| by_load(state, a, b));
    for &src in order.iter().rev() {
        for &dst in &order {
            if src == dst {
                continue;
            }
            let (s, d) = (&state.brokers[src], &state.brokers[dst]);
            if s.over() == 0 && d.under() == 0 {
                continue;
            }
            let before = s.off_band() + d.off_band();
            let after = |size: u64| s.off_band_with(s.bytes - size) + d.off_band_with(d.bytes.saturating_add(size));
            let limit = s.bytes.saturating_sub(s.lo).min(d.hi.saturating_sub(d.bytes));
            let fitting =
                (limit >= 1).then(|| s.movable.range((1, 0)..=(limit, P::MAX)).rev().take(CANDIDATES_PER_PAIR)).into_iter().flatten();
            let larger = s.movable.range((limit.saturating_add(1), 0)..).take(CANDIDATES_PER_PAIR);
            let best = fitting
                .chain(larger)
                .filter(|&&(size, _)| after(size) < before)
                .filter(|&&(_, p)| state.may_move(p, src, dst))
                .min_by_key(|&&(size, p)| (after(size), std::cmp::Reverse(size), p))
                .map(|&(_, p)| p);
            if let Some(p) = best {
                state.relocate(p, src, dst);
                return true;
            }
        }
    }
    false
}

/// Goal 4, one move: from a broker with at least two replicas more than another, its smallest
/// replica that the other may take without raising the out-of-band total. Returns whether a move
/// was made.
fn count_step(state: &mut State) -> bool {
    let mut order = state.active.clone();
    order.sort_by(|&a, &b| {
        let (x, y) = (&state.brokers[a], &state.brokers[b]);
        x.replicas.cmp(&y.replicas).then_with(|| by_load(state, a, b))
    });
    for &src in order.iter().rev() {
        for &dst in &order {
            let (s, d) = (&state.brokers[src], &state.brokers[dst]);
            if s.replicas < d.replicas + 2 {
                break;
            }
            let found = s.movable.iter().take(CANDIDATES_PER_PAIR).map(|&(size, p)| (size, p)).find(|&(size, p)| {
                let before = s.off_band() + d.off_band();
                let after = s.off_band_with(s.bytes - size) + d.off_band_with(d.bytes.saturating_add(size));
                after <= before && state.may_move(p, src, dst)
            });
            if let Some((_, p)) = found {
                state.relocate(p, src, dst);
                return true;
            }
        }
    }
    false
}

/// Goals 3 and 4: disk moves until none helps, then count moves until none helps, again while
/// the count moves changed anything. Disk moves strictly lower the out-of-band total and count
/// moves never raise it, so this ends, and it ends where neither finds a move.
pub(super) fn spread(state: &mut State) {
    loop {
        while disk_step(state) {}
        let mut moved = false;
        while count_step(state) {
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

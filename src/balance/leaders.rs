//! Goal 5: balance preferred leaders by reordering replica lists (no data moves). Kafka makes the
//! first replica the leader at the preferred-leader election that ends a rebalance.

use std::collections::BTreeSet;

use super::state::{B, P, State};

/// Who leads each partition once the plan is done and the preferred election has run: the first
/// replica of a movable partition (its ISR is complete, so the election picks it); for any other
/// partition the layout's answer (`fixed`), which the planner does not change.
pub(super) struct Leadership {
    /// Partitions led, per broker index.
    pub counts: Vec<usize>,
}

/// Reorders movable partitions' replica lists until the active brokers' leader counts are within
/// ±1 or no single reorder helps. `fixed[p]` is the elected leader of a partition the planner may
/// not touch. A drained broker never becomes, or stays, a preferred leader when another replica
/// can lead.
pub(super) fn balance(state: &mut State, fixed: &[Option<B>]) -> Leadership {
    let n = state.brokers.len();
    // A drained broker that still holds a replica (too few brokers) hands the lead to an active one.
    for p in 0..state.parts.len() {
        let part = &mut state.parts[p];
        if !part.movable || part.replicas.is_empty() || !state.brokers[part.replicas[0]].drained {
            continue;
        }
        if let Some(i) = part.replicas.iter().position(|&r| !state.brokers[r].drained) {
            part.replicas.swap(0, i);
        }
    }
    let mut counts = vec![0usize; n];
    // pairs[leader * n + follower]: movable partitions led by `leader` with a replica on `follower`.
    let mut pairs: Vec<BTreeSet<P>> = vec![BTreeSet::new(); n * n];
    for (p, part) in state.parts.iter().enumerate() {
        let leader = if part.movable { part.replicas.first().copied() } else { fixed[p] };
        let Some(leader) = leader else { continue };
        counts[leader] += 1;
        if part.movable {
            for &f in &part.replicas[1..] {
                if !state.brokers[f].drained {
                    pairs[leader * n + f].insert(p as P);
                }
            }
        }
    }
    loop {
        let mut order = state.active.clone();
        order.sort_by_key(|&b| (counts[b], state.brokers[b].id));
        let mut chosen = None;
        'search: for &src in order.iter().rev() {
            for &dst in &order {
                if counts[src] < counts[dst] + 2 {
                    break;
                }
                if let Some(&p) = pairs[src * n + dst].first() {
                    chosen = Some((p, src, dst));
                    break 'search;
                }
            }
        }
        let Some((p, src, dst)) = chosen else { break };
        let part = &mut state.parts[p as usize];
        for &f in &part.replicas[1..] {
            pairs[src * n + f].remove(&p);
        }
        if let Some(i) = part.replicas.iter().position(|&r| r == dst) {
            part.replicas.swap(0, i);
        }
        for &f in &part.replicas[1..] {
            if !state.brokers[f].drained {
                pairs[dst * n + f].insert(p);
            }
        }
        counts[src] -= 1;
        counts[dst] += 1;
    }
    Leadership { counts }
}

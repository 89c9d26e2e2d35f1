//! A lower bound on the replicas any plan meeting the goals must relocate, to judge the greedy
//! plan against. It is the largest of three bounds, each on its own valid:
//! - per partition: each replica on a drained broker, plus the racks it still lacks;
//! - replica counts: the replicas above the most any broker may keep (`ceil(mean)`), or below the
//!   fewest it may have (`floor(mean)`), whichever is more (each relocation changes one of each);
//! - disk: for each broker above its band, the fewest of its own replicas, largest first, whose
//!   bytes cover the excess (each relocation leaves exactly one broker).

use super::state::State;

pub(super) fn lower_bound(state: &State) -> usize {
    let per_partition: usize = state
        .parts
        .iter()
        .filter(|p| p.movable)
        .map(|p| {
            let drained = p.replicas.iter().filter(|&&r| state.brokers[r].drained).count();
            let kept: Vec<usize> = p.replicas.iter().copied().filter(|&r| !state.brokers[r].drained).collect();
            let want = p.replicas.len().min(state.active_racks);
            drained + want.saturating_sub(state.distinct_racks(&kept) + drained)
        })
        .sum();
    let active = state.active.len();
    let total: usize = state.brokers.iter().map(|b| b.replicas).sum();
    let counts = match total.checked_div(active) {
        None => 0,
        Some(floor) => {
            let ceil = floor + usize::from(!total.is_multiple_of(active));
            let drained: usize = state.brokers.iter().filter(|b| b.drained).map(|b| b.replicas).sum();
            let above: usize = state.active.iter().map(|&b| state.brokers[b].replicas.saturating_sub(ceil)).sum();
            let below: usize = state.active.iter().map(|&b| floor.saturating_sub(state.brokers[b].replicas)).sum();
            (drained + above).max(below)
        }
    };
    let disk: usize = state
        .active
        .iter()
        .map(|&b| {
            let broker = &state.brokers[b];
            let mut excess = broker.over();
            let mut n = 0;
            for &(size, _) in broker.movable.iter().rev() {
                if excess == 0 {
                    break;
                }
                excess = excess.saturating_sub(size);
                n += 1;
            }
            n
        })
        .sum();
    per_partition.max(counts).max(disk)
}

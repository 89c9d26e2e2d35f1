//! How each goal ended, judged on the planner's final state, with the reasons for a goal that is
//! not met.

use super::goals::{Goal, GoalOutcome, GoalStatus, UnmetReason};
use super::layout::{ClusterLayout, TopicPartition};
use super::plan::Figures;
use super::state::State;

fn status(reasons: Vec<UnmetReason>) -> GoalStatus {
    if reasons.is_empty() { GoalStatus::Met } else { GoalStatus::Unmet(reasons) }
}

fn under_replicated(list: &[TopicPartition]) -> Option<UnmetReason> {
    list.first().map(|first| UnmetReason::UnderReplicated { count: list.len(), first: first.clone() })
}

struct Judge<'a> {
    layout: &'a ClusterLayout,
    state: &'a State,
    after: &'a Figures,
    under_replicated: &'a [TopicPartition],
}

impl Judge<'_> {
    fn id(&self, p: usize) -> &TopicPartition {
        &self.layout.partitions[self.state.parts[p].source].id
    }

    fn drained(&self) -> GoalStatus {
        let (mut stuck, mut first_short) = (Vec::new(), None);
        for (p, part) in self.state.parts.iter().enumerate() {
            if !part.replicas.iter().any(|&r| self.state.brokers[r].drained) {
                continue;
            }
            if !part.movable {
                stuck.push(self.id(p).clone());
            } else if first_short.is_none() {
                first_short = Some(p);
            }
        }
        let mut reasons: Vec<UnmetReason> = under_replicated(&stuck).into_iter().collect();
        if let Some(p) = first_short {
            reasons.push(if self.state.active.is_empty() {
                UnmetReason::NoActiveBroker
            } else {
                UnmetReason::TooFewBrokers {
                    partition: self.id(p).clone(),
                    replication_factor: self.state.parts[p].replicas.len(),
                    brokers_left: self.state.active.len(),
                }
            });
        }
        status(reasons)
    }

    fn rack_aware(&self) -> GoalStatus {
        let (mut stuck, mut too_few, mut other) = (Vec::new(), None, None);
        for (p, part) in self.state.parts.iter().enumerate() {
            if self.state.distinct_racks(&part.replicas) >= part.replicas.len() {
                continue;
            }
            if !part.movable {
                stuck.push(self.id(p).clone());
            } else if part.replicas.len() > self.state.active_racks {
                too_few.get_or_insert(p);
            } else {
                other.get_or_insert(p);
            }
        }
        let mut reasons: Vec<UnmetReason> = under_replicated(&stuck).into_iter().collect();
        if let Some(p) = too_few {
            reasons.push(UnmetReason::TooFewRacks {
                partition: self.id(p).clone(),
                replication_factor: self.state.parts[p].replicas.len(),
                racks: self.state.active_racks,
            });
        }
        if let Some(p) = other {
            let brokers = self.state.parts[p].replicas.iter().map(|&r| self.state.brokers[r].id).collect();
            reasons.push(UnmetReason::NoImprovingMove { brokers });
        }
        status(reasons)
    }

    fn disk_in_band(&self) -> GoalStatus {
        let out: Vec<usize> = self.state.active.iter().copied().filter(|&b| self.state.brokers[b].off_band() > 0).collect();
        if out.is_empty() {
            return GoalStatus::Met;
        }
        let mut reasons = Vec::new();
        let bytes: u64 = self.state.brokers.iter().map(|b| b.bytes).fold(0, u64::saturating_add);
        let capacity: u64 = self
            .layout
            .brokers
            .iter()
            .filter(|b| !self.layout.drain.contains(&b.id))
            .map(|b| b.capacity_bytes)
            .fold(0, u64::saturating_add);
        if capacity > 0 && bytes > capacity {
            reasons.push(UnmetReason::NotEnoughDisk { bytes, capacity_bytes: capacity });
        }
        let band = out.iter().map(|&b| self.state.brokers[b].hi - self.state.brokers[b].lo).min().unwrap_or(0);
        let largest = (0..self.state.parts.len()).max_by_key(|&p| (self.state.parts[p].size, std::cmp::Reverse(p)));
        if let Some(p) = largest.filter(|&p| self.state.parts[p].size > band) {
            reasons.push(UnmetReason::PartitionLargerThanBand {
                partition: self.id(p).clone(),
                size_bytes: self.state.parts[p].size,
                band_bytes: band,
            });
        }
        reasons.extend(under_replicated(self.under_replicated));
        if reasons.is_empty() {
            reasons.push(UnmetReason::NoImprovingMove { brokers: out.iter().map(|&b| self.state.brokers[b].id).collect() });
        }
        GoalStatus::Unmet(reasons)
    }

    /// Why no replica goes from the most to the least loaded broker (by count): the higher goal a
    /// move would break, for the first replica that only such a goal keeps in place.
    fn count_blocker(&self) -> Option<UnmetReason> {
        let st = self.state;
        let from = st.active.iter().copied().max_by_key(|&b| (st.brokers[b].replicas, std::cmp::Reverse(st.brokers[b].id)))?;
        let to = st.active.iter().copied().min_by_key(|&b| (st.brokers[b].replicas, st.brokers[b].id))?;
        let (s, d) = (&st.brokers[from], &st.brokers[to]);
        let mut band = false;
        for &(size, p) in &s.movable {
            let part = &st.parts[p as usize];
            if part.replicas.contains(&to) {
                continue;
            }
            if st.distinct_racks_after(p, from, to) < st.distinct_racks(&part.replicas) {
                return Some(UnmetReason::BlockedByHigherGoal { goal: Goal::RackAware, from: s.id, to: d.id });
            }
            band |= s.off_band_with(s.bytes - size) + d.off_band_with(d.bytes.saturating_add(size)) > s.off_band() + d.off_band();
        }
        band.then_some(UnmetReason::BlockedByHigherGoal { goal: Goal::DiskInBand, from: s.id, to: d.id })
    }

    /// Spread over the active brokers of one per-broker figure.
    fn even(&self, value: impl Fn(&super::plan::BrokerFigures) -> usize, blocker: Option<UnmetReason>) -> GoalStatus {
        let active: Vec<&super::plan::BrokerFigures> =
            self.after.brokers.iter().filter(|f| !self.layout.drain.contains(&f.broker)).collect();
        let (Some(max), Some(min)) = (active.iter().map(|f| value(f)).max(), active.iter().map(|f| value(f)).min()) else {
            return GoalStatus::Met;
        };
        if max - min <= 1 {
            return GoalStatus::Met;
        }
        let mut reasons: Vec<UnmetReason> = under_replicated(self.under_replicated).into_iter().collect();
        match blocker {
            Some(b) => reasons.push(b),
            None => {
                let brokers = active.iter().filter(|f| value(f) == max || value(f) == min).map(|f| f.broker).collect();
                reasons.push(UnmetReason::NoImprovingMove { brokers });
            }
        }
        GoalStatus::Unmet(reasons)
    }
}

/// Every goal in priority order, judged on the final state and figures.
pub(super) fn judge(layout: &ClusterLayout, state: &State, after: &Figures, under_replicated: &[TopicPartition]) -> Vec<GoalOutcome> {
    let j = Judge { layout, state, after, under_replicated };
    Goal::ALL
        .iter()
        .map(|&goal| GoalOutcome {
            goal,
            status: match goal {
                Goal::Drained => j.drained(),
                Goal::RackAware => j.rack_aware(),
                Goal::DiskInBand => j.disk_in_band(),
                Goal::ReplicasEven => j.even(|f| f.replicas, j.count_blocker()),
                Goal::LeadersEven => j.even(|f| f.leaders, None),
            },
        })
        .collect()
}

//! From what Kafka reports to the planner's layout, from the spec to the brokers to drain or fill,
//! and from a plan to the proposal in the status. Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::rebalance::{BalanceFigures, BrokerBalance, GoalReport, KafkaRebalanceSpec, RebalanceMode, RebalanceProposal};
use crate::balance::{self, Broker, BrokerId, ClusterLayout, Figures, Goal, GoalStatus, Goals, PartitionLayout, Plan, TopicPartition};
use crate::kafka::MetadataSnapshot;
use crate::kafka::ops::cluster::ClusterBroker;

/// Default replication throttle: 50 MiB/s per broker.
pub const DEFAULT_THROTTLE_BYTES_PER_SECOND: u64 = 50 * 1024 * 1024;

/// What a spec asks that this cluster cannot do. Each names the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("spec.brokers: {unknown:?} are not brokers of the cluster (its brokers: {known:?})")]
    UnknownBrokers { unknown: Vec<BrokerId>, known: Vec<BrokerId> },
    #[error(
        "spec.brokers: removing {removed:?} leaves {left} broker(s), fewer than the replication factor {replication_factor} of {partition}"
    )]
    TooFewBrokersLeft { removed: Vec<BrokerId>, left: usize, replication_factor: usize, partition: TopicPartition },
    #[error("spec.brokers: removing {0:?} leaves no broker")]
    NoBrokerLeft(Vec<BrokerId>),
    #[error("waiting for brokers {0:?} (in the cluster's spec) to register with Kafka")]
    NotRegisteredYet(Vec<BrokerId>),
}

/// Why the cluster's layout cannot be read as the planner needs it. Fails closed: no plan.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutReadError {
    #[error("broker {0} is registered but fenced: the rebalance waits until every broker is up")]
    FencedBroker(BrokerId),
    #[error("topic {0} reports an error in the metadata: the rebalance waits")]
    TopicError(String),
    #[error("partition {0} has no leader: the rebalance waits")]
    Offline(TopicPartition),
    #[error("min.insync.replicas of topic {0} is unknown")]
    MinIsrUnknown(String),
}

/// The layout the planner is given: every unfenced broker with its usable disk, every
/// partition with its size (the largest replica), and the drained brokers.
pub fn layout(
    brokers: &[ClusterBroker],
    capacity: &BTreeMap<BrokerId, u64>,
    metadata: &MetadataSnapshot,
    sizes: &BTreeMap<TopicPartition, u64>,
    min_isr: &BTreeMap<String, usize>,
    drain: BTreeSet<BrokerId>,
) -> Result<ClusterLayout, LayoutReadError> {
    if let Some(b) = brokers.iter().find(|b| b.fenced) {
        return Err(LayoutReadError::FencedBroker(b.id));
    }
    let mut partitions = Vec::new();
    for t in &metadata.topics {
        if t.error.is_some() {
            return Err(LayoutReadError::TopicError(t.name.clone()));
        }
        let min = *min_isr.get(&t.name).ok_or_else(|| LayoutReadError::MinIsrUnknown(t.name.clone()))?;
        for p in &t.partitions {
            let id = TopicPartition { topic: t.name.clone(), partition: p.partition };
            if p.leader.is_none() {
                return Err(LayoutReadError::Offline(id));
            }
            partitions.push(PartitionLayout {
                size_bytes: sizes.get(&id).copied().unwrap_or(0),
                id,
                replicas: p.replicas.clone(),
                leader: p.leader,
                isr: p.isr.clone(),
                min_isr: min,
            });
        }
    }
    let brokers = brokers
        .iter()
        .map(|b| Broker { id: b.id, rack: b.rack.clone(), capacity_bytes: capacity.get(&b.id).copied().unwrap_or(0) })
        .collect();
    Ok(ClusterLayout { brokers, partitions, drain })
}

/// The brokers the spec drains (remove-brokers) and, for add-brokers, the only brokers that
/// may receive replicas. Checked against the brokers Kafka has and the replication factors;
/// brokers the cluster's spec has (`expected`) but Kafka does not know yet are waited for.
pub fn request(
    spec: &KafkaRebalanceSpec,
    known: &[BrokerId],
    expected: &[BrokerId],
    partitions: &[PartitionLayout],
) -> Result<Request, RequestError> {
    let named: BTreeSet<BrokerId> = spec.brokers.iter().copied().collect();
    let unknown: Vec<BrokerId> = named.iter().copied().filter(|b| !known.contains(b)).collect();
    if !unknown.is_empty() && spec.mode == RebalanceMode::AddBrokers && unknown.iter().all(|b| expected.contains(b)) {
        return Err(RequestError::NotRegisteredYet(unknown));
    }
    if !unknown.is_empty() {
        return Err(RequestError::UnknownBrokers { unknown, known: known.to_vec() });
    }
    match spec.mode {
        RebalanceMode::Full => Ok(Request::default()),
        RebalanceMode::AddBrokers => Ok(Request { drain: BTreeSet::new(), only_onto: Some(named) }),
        RebalanceMode::RemoveBrokers => {
            let removed: Vec<BrokerId> = named.iter().copied().collect();
            let left = known.len() - named.len();
            if left == 0 {
                return Err(RequestError::NoBrokerLeft(removed));
            }
            if let Some(p) = partitions.iter().max_by_key(|p| (p.replicas.len(), std::cmp::Reverse(p.id.clone())))
                && p.replicas.len() > left
            {
                return Err(RequestError::TooFewBrokersLeft {
                    removed,
                    left,
                    replication_factor: p.replicas.len(),
                    partition: p.id.clone(),
                });
            }
            Ok(Request { drain: named, only_onto: None })
        }
    }
}

/// What the planner is asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub drain: BTreeSet<BrokerId>,
    /// add-brokers: keep only the moves whose new replicas all land on these brokers.
    pub only_onto: Option<BTreeSet<BrokerId>>,
}

/// The planner's knobs for a spec.
pub fn goals(spec: &KafkaRebalanceSpec) -> Goals {
    let mut goals = Goals::default();
    if let Some(n) = spec.moves_per_broker.and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0) {
        goals.moves_per_broker = n;
    }
    goals
}

/// The throttle of a spec, in bytes per second.
pub fn throttle(spec: &KafkaRebalanceSpec) -> u64 {
    spec.throttle_bytes_per_second.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0).unwrap_or(DEFAULT_THROTTLE_BYTES_PER_SECOND)
}

/// For add-brokers: the plan with only the moves onto `targets`, batched again, and its figures
/// and goals judged from the layout those moves give.
pub fn restrict(plan: Plan, layout: &ClusterLayout, goals: &Goals, targets: &BTreeSet<BrokerId>) -> Plan {
    let moves: Vec<_> = plan.moves.into_iter().filter(|m| m.added().all(|b| targets.contains(&b))).collect();
    let restricted = Plan { moves, ..plan };
    let replicas_moved = restricted.moves.iter().map(|m| m.added().count()).sum();
    let batches = balance::batches(&restricted.moves, goals);
    let after = Figures::of(&restricted.apply(layout));
    let goals_met = restricted
        .goals
        .iter()
        .map(|g| match g.goal {
            Goal::ReplicasEven if after.replica_spread > 1 => balance::GoalOutcome {
                goal: g.goal,
                status: GoalStatus::Unmet(vec![balance::UnmetReason::NoImprovingMove { brokers: targets.iter().copied().collect() }]),
            },
            Goal::LeadersEven if after.leader_spread > 1 => balance::GoalOutcome {
                goal: g.goal,
                status: GoalStatus::Unmet(vec![balance::UnmetReason::NoImprovingMove { brokers: targets.iter().copied().collect() }]),
            },
            _ => g.clone(),
        })
        .collect();
    Plan { batches, after, replicas_moved, goals: goals_met, ..restricted }
}

fn figures(f: &Figures) -> BalanceFigures {
    BalanceFigures {
        replica_spread: f.replica_spread as i64,
        leader_spread: f.leader_spread as i64,
        brokers: f
            .brokers
            .iter()
            .map(|b| BrokerBalance {
                broker: b.broker,
                replicas: b.replicas as i64,
                leaders: b.leaders as i64,
                disk_bytes: i64::try_from(b.disk_bytes).unwrap_or(i64::MAX),
            })
            .collect(),
    }
}

fn goal_name(g: Goal) -> &'static str {
    match g {
        Goal::Drained => "Drained",
        Goal::RackAware => "RackAware",
        Goal::DiskInBand => "DiskInBand",
        Goal::ReplicasEven => "ReplicasEven",
        Goal::LeadersEven => "LeadersEven",
    }
}

/// The proposal in the status.
pub fn proposal(plan: &Plan, config_map: &str) -> RebalanceProposal {
    RebalanceProposal {
        moves: plan.moves.len() as i64,
        replicas_moved: plan.replicas_moved as i64,
        replicas_moved_lower_bound: plan.lower_bound as i64,
        bytes_to_move: plan.moves.iter().map(|m| i64::try_from(m.bytes_moved).unwrap_or(i64::MAX)).fold(0i64, i64::saturating_add),
        leader_reorders: plan.leader_reorders.len() as i64,
        batches: plan.batches.len() as i64,
        under_replicated: plan.under_replicated.len() as i64,
        before: figures(&plan.before),
        after: figures(&plan.after),
        goals: plan
            .goals
            .iter()
            .map(|g| match &g.status {
                GoalStatus::Met => GoalReport { goal: goal_name(g.goal).to_owned(), met: true, reason: None },
                GoalStatus::Unmet(reasons) => GoalReport {
                    goal: goal_name(g.goal).to_owned(),
                    met: false,
                    reason: Some(reasons.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join("; ")),
                },
            })
            .collect(),
        plan_config_map: config_map.to_owned(),
    }
}

/// The drain goal unmet: the plan would leave replicas on a broker to remove.
pub fn drain_unmet(plan: &Plan) -> Option<String> {
    plan.goals.iter().find(|g| g.goal == Goal::Drained).and_then(|g| match &g.status {
        GoalStatus::Met => None,
        GoalStatus::Unmet(reasons) => Some(reasons.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: RebalanceMode, brokers: &[i32]) -> KafkaRebalanceSpec {
        KafkaRebalanceSpec {
            cluster: "c".into(),
            mode,
            brokers: brokers.to_vec(),
            auto_approve: false,
            throttle_bytes_per_second: None,
            moves_per_broker: None,
        }
    }

    fn part(p: i32, replicas: &[i32]) -> PartitionLayout {
        PartitionLayout {
            id: TopicPartition { topic: "t".into(), partition: p },
            replicas: replicas.to_vec(),
            leader: replicas.first().copied(),
            isr: replicas.to_vec(),
            size_bytes: 10,
            min_isr: 1,
        }
    }

    #[test]
    fn requests_are_checked_against_the_cluster() {
        let parts = [part(0, &[1, 2, 3]), part(1, &[2, 3])];
        let known = [1, 2, 3, 4];
        assert_eq!(request(&spec(RebalanceMode::Full, &[]), &known, &[], &parts), Ok(Request::default()));
        assert_eq!(request(&spec(RebalanceMode::RemoveBrokers, &[4]), &known, &[], &parts).map(|r| r.drain), Ok(BTreeSet::from([4])));
        let unknown = request(&spec(RebalanceMode::RemoveBrokers, &[7, 4]), &known, &[7], &parts).unwrap_err();
        assert!(unknown.to_string().starts_with("spec.brokers: [7]"), "{unknown}");
        let rf = request(&spec(RebalanceMode::RemoveBrokers, &[1, 2]), &known, &[], &parts).unwrap_err();
        assert_eq!(
            rf,
            RequestError::TooFewBrokersLeft { removed: vec![1, 2], left: 2, replication_factor: 3, partition: parts[0].id.clone() }
        );
        assert!(rf.to_string().contains("replication factor 3 of t-0"), "{rf}");
        assert!(matches!(
            request(&spec(RebalanceMode::RemoveBrokers, &[1, 2, 3, 4]), &known, &[], &parts),
            Err(RequestError::NoBrokerLeft(_))
        ));
        assert!(matches!(request(&spec(RebalanceMode::AddBrokers, &[9]), &known, &[], &parts), Err(RequestError::UnknownBrokers { .. })));
        assert_eq!(request(&spec(RebalanceMode::AddBrokers, &[5]), &known, &[5], &parts), Err(RequestError::NotRegisteredYet(vec![5])));
    }

    #[test]
    fn add_brokers_moves_only_onto_the_named_brokers() {
        let brokers = (1..=4).map(|id| Broker { id, rack: None, capacity_bytes: 1 << 30 }).collect();
        let partitions = (0..12).map(|p| part(p, &[1 + p % 3, 1 + (p + 1) % 3])).collect();
        let layout = ClusterLayout { brokers, partitions, drain: BTreeSet::new() };
        let goals = Goals::default();
        let full = balance::plan(&layout, &goals).expect("plan");
        let onto = restrict(full, &layout, &goals, &BTreeSet::from([4]));
        assert!(!onto.moves.is_empty());
        assert!(onto.moves.iter().all(|m| m.added().all(|b| b == 4)));
        let fourth = onto.after.brokers.iter().find(|b| b.broker == 4).expect("broker 4");
        assert!(fourth.replicas >= 5, "broker 4 gets a fair share: {fourth:?}");
        assert_eq!(onto.batches.iter().map(|b| b.moves.len()).sum::<usize>(), onto.moves.len());
    }

    #[test]
    fn a_fenced_broker_or_an_offline_partition_gives_no_layout() {
        let fenced = ClusterBroker { id: 1, host: "h".into(), port: 1, rack: None, fenced: true };
        let snap = MetadataSnapshot::new(None, None, Default::default(), vec![]);
        let got = layout(&[fenced], &BTreeMap::new(), &snap, &BTreeMap::new(), &BTreeMap::new(), BTreeSet::new());
        assert_eq!(got, Err(LayoutReadError::FencedBroker(1)));
    }
}

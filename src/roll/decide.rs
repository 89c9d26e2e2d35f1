//! `decide`: the roll rules as one pure function (see the rules on [`decide`]).

use super::observation::{NodeObservation, Observation, PodPhase, Policy, RestartSafety};
use super::step::{Step, WaitReason};

/// The roll order: controllers, then combined nodes, then brokers; within a role the active
/// controller goes last; then by node id, so the order is total and stable.
fn roll_order(obs: &Observation, node: &NodeObservation) -> (u8, bool, i32) {
    let role_rank = node.role as u8;
    let is_active = obs.active_controller == Some(node.id) && node.role.is_controller();
    (role_rank, is_active, node.id)
}

/// Decides the next step of a rolling restart.
///
/// Rules, in order:
/// 1. An outdated pod that is stuck (its Kafka container crash-looping or failing to pull its
///    image, or the pod unschedulable) is restarted out of turn, when Kafka reports the node as
///    not serving: it is down already, so the number of down nodes cannot grow. A stuck pod that
///    Kafka still counts as serving, or when Kafka cannot tell, is not: it gets every check.
/// 2. Any node that is not Ready and caught up holds the roll: an up-to-date stuck pod halts it,
///    an outdated stuck one that rule 1 did not take is waited for (Kafka says it serves, or
///    cannot be asked), anything else is waited for (reported as overdue after `policy.catch_up_timeout`), or, when
///    Kafka would refuse the next broker anyway, reported as blocked on its partitions. This
///    includes the node restarted last, so a roll is over only when that node has caught up.
/// 3. Nothing outdated and every node healthy: idle.
/// 4. Otherwise the first outdated node in roll order is the candidate. A controller waits for
///    the quorum to be caught up; a broker waits until no protectable partition would fall below
///    its min ISR. Then it is restarted.
pub fn decide(obs: &Observation, policy: &Policy) -> Step {
    let mut outdated: Vec<&NodeObservation> = obs.nodes.iter().filter(|n| n.is_outdated()).collect();
    outdated.sort_by_key(|n| roll_order(obs, n));

    if let Some(stuck) = outdated.iter().find(|n| n.is_down_and_stuck()) {
        return Step::Restart {
            node: stuck.id,
            pod: stuck.pod.clone(),
            reasons: stuck.restart_reasons.clone(),
            out_of_turn: true,
            unprotectable: Vec::new(),
        };
    }

    let mut unhealthy: Vec<&NodeObservation> = obs.nodes.iter().filter(|n| !n.is_healthy()).collect();
    unhealthy.sort_by_key(|n| roll_order(obs, n));
    if let Some(node) = unhealthy.first() {
        if node.phase.is_stuck() && !node.is_outdated() {
            return Step::Halted { node: node.id, pod: node.pod.clone() };
        }
        // When the next restart would be refused by Kafka too, say so: that names the partitions
        // a person must look at (typically, they sit at min ISR because of this very node).
        if let Some(next) = outdated.iter().find(|n| n.is_healthy() && n.role.is_broker())
            && let RestartSafety::Blocked { partitions } = &next.restart_safety
        {
            return Step::Blocked { node: next.id, pod: next.pod.clone(), partitions: partitions.clone() };
        }
        let reason = match node.phase {
            _ if node.phase.is_stuck() && node.serving.is_none() => WaitReason::KafkaUnreachable,
            PodPhase::Missing | PodPhase::Pending { .. } | PodPhase::Terminating => WaitReason::PodNotRunning,
            PodPhase::Ready if node.caught_up.is_none() => WaitReason::KafkaUnreachable,
            _ => WaitReason::NodeNotCaughtUp,
        };
        return Step::Wait { node: node.id, pod: node.pod.clone(), reason, overdue: node.unready_for > policy.catch_up_timeout };
    }

    // Every node is healthy here.
    let Some(next) = outdated.first() else {
        return Step::Idle;
    };
    let wait = |reason| Step::Wait { node: next.id, pod: next.pod.clone(), reason, overdue: false };
    if next.role.is_controller() {
        match obs.quorum_caught_up {
            Some(true) => {}
            Some(false) => return wait(WaitReason::QuorumNotCaughtUp),
            None => return wait(WaitReason::KafkaUnreachable),
        }
    }
    let mut unprotectable = Vec::new();
    if next.role.is_broker() {
        match &next.restart_safety {
            RestartSafety::Safe { unprotectable: u } => unprotectable = u.clone(),
            RestartSafety::Blocked { partitions } => {
                return Step::Blocked { node: next.id, pod: next.pod.clone(), partitions: partitions.clone() };
            }
            RestartSafety::Unknown => return wait(WaitReason::KafkaUnreachable),
        }
    }
    Step::Restart { node: next.id, pod: next.pod.clone(), reasons: next.restart_reasons.clone(), out_of_turn: false, unprotectable }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

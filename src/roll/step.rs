//! The one step the planner asks for.

use super::observation::{NodeId, RestartReason};

/// Why the roll is waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// The node is not Ready yet, or Kafka does not yet count it as caught up.
    NodeNotCaughtUp,
    /// The node's pod is missing, pending or terminating.
    PodNotRunning,
    /// The next node is a controller and the other voters lag behind the quorum leader.
    QuorumNotCaughtUp,
    /// Kafka's Admin API could not answer a question the next restart depends on.
    KafkaUnreachable,
}

/// The planner's answer. At most one node is ever named for a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing is outdated and every node is Ready and caught up.
    Idle,
    /// Delete this pod now; the StatefulSet recreates it on the current revision.
    Restart {
        node: NodeId,
        pod: String,
        reasons: Vec<RestartReason>,
        /// The pod was stuck (crash-looping, image pull failing, unschedulable) and is restarted
        /// ahead of the normal order: it is down already.
        out_of_turn: bool,
        /// Partitions no roll can protect (RF=1 or RF <= min ISR), to report in a condition.
        unprotectable: Vec<String>,
    },
    /// Wait for this node, then decide again.
    Wait {
        node: NodeId,
        pod: String,
        reason: WaitReason,
        /// The wait has lasted longer than the policy allows: report it as a condition.
        overdue: bool,
    },
    /// Restarting the next node would drop these partitions below min ISR. Wait until Kafka's
    /// ISR recovers.
    Blocked { node: NodeId, pod: String, partitions: Vec<String> },
    /// An up-to-date pod is stuck and waiting cannot fix it; the roll halts until a person looks.
    Halted { node: NodeId, pod: String },
}

impl Step {
    /// The node this action restarts, if any.
    pub fn restarts(&self) -> Option<NodeId> {
        match self {
            Step::Restart { node, .. } => Some(*node),
            _ => None,
        }
    }
}

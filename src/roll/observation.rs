//! What the planner sees: one entry per Kafka node, plus the cluster-wide Kafka facts.

use std::fmt;
use std::time::Duration;

/// A Kafka `node.id`; equal to the pod's StatefulSet ordinal.
pub type NodeId = i32;

pub use crate::model::Role;

/// The pod's state as Kubernetes reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// No pod object: the StatefulSet controller has yet to (re)create it.
    Missing,
    /// Not running yet. `unschedulable` when the scheduler said it cannot place it.
    Pending { unschedulable: bool },
    /// Running, not Ready: starting up, or in log recovery. Never restarted again while so.
    Starting,
    /// Running and Ready.
    Ready,
    /// Its container keeps exiting (CrashLoopBackOff).
    CrashLooping,
    /// Its image cannot be pulled (ErrImagePull, ImagePullBackOff, InvalidImageName).
    ImagePullFailing,
    /// Being deleted.
    Terminating,
}

impl PodPhase {
    /// A pod that cannot get better by waiting, as Kubernetes reports it (only the Kafka
    /// container's state counts, see `controller::pod_phase`). An outdated stuck pod may be
    /// restarted out of turn, but only once Kafka itself reports the node as not serving (see
    /// [`NodeObservation::serving`]): then it is down already, and restarting it takes nothing
    /// else down.
    pub fn is_stuck(&self) -> bool {
        matches!(self, PodPhase::CrashLooping | PodPhase::ImagePullFailing | PodPhase::Pending { unschedulable: true })
    }
}

/// Why a node needs a restart. Recorded in an Event for each restart.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RestartReason {
    /// The image changed (a version upgrade or an image override).
    ImageChanged,
    /// A read-only broker configuration key changed.
    ConfigChanged,
    /// Anything else in the pod template changed (JVM options, resources, ...).
    PodTemplateChanged,
    /// A user asked with the `kafka.gregor.dev/manual-roll` annotation.
    ManualRoll,
    /// The pod's node is cordoned (drain): the pod is moved through the safe roll.
    NodeCordoned,
}

impl RestartReason {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: &'static [RestartReason] = &[
        RestartReason::ImageChanged,
        RestartReason::ConfigChanged,
        RestartReason::PodTemplateChanged,
        RestartReason::ManualRoll,
        RestartReason::NodeCordoned,
    ];

    /// The metric label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            RestartReason::ImageChanged => "ImageChanged",
            RestartReason::ConfigChanged => "ConfigChanged",
            RestartReason::PodTemplateChanged => "PodTemplateChanged",
            RestartReason::ManualRoll => "ManualRoll",
            RestartReason::NodeCordoned => "NodeCordoned",
        }
    }
}

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartReason::ImageChanged => "the image changed",
            RestartReason::ConfigChanged => "a read-only configuration key changed",
            RestartReason::PodTemplateChanged => "the pod template changed",
            RestartReason::ManualRoll => "a manual roll was requested",
            RestartReason::NodeCordoned => "its node is cordoned",
        })
    }
}

/// What Kafka's Admin API says about restarting one broker now.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum RestartSafety {
    /// Not known: the Admin API could not be asked.
    #[default]
    Unknown,
    /// No protectable partition would fall below its min ISR. `unprotectable` lists partitions
    /// that no roll can protect (RF=1, or RF <= min ISR): they are reported, not waited on.
    Safe { unprotectable: Vec<String> },
    /// These partitions would fall below their min ISR.
    Blocked { partitions: Vec<String> },
}

/// One Kafka node as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeObservation {
    pub id: NodeId,
    pub pod: String,
    pub role: Role,
    pub phase: PodPhase,
    /// How long the pod has been out of `Ready` (zero when Ready).
    pub unready_for: Duration,
    /// Why the node needs a restart; empty when it is up to date.
    pub restart_reasons: Vec<RestartReason>,
    /// Kafka says the node is back: registered and unfenced, and in the ISR of every partition it
    /// hosts (brokers); a voter that follows the leader (controllers). `None` when unknown.
    pub caught_up: Option<bool>,
    /// For brokers: whether restarting it would drop a partition below min ISR.
    pub restart_safety: RestartSafety,
    /// Whether Kafka reports the node as serving. `Some(false)`: Kafka says it is down: a broker
    /// that is fenced (or not registered) or in no ISR at all; a controller that is no voter or
    /// has not fetched from the quorum leader lately; a combined node both. `None` when unknown,
    /// which never allows an out-of-turn restart (fail closed).
    pub serving: Option<bool>,
}

impl NodeObservation {
    pub fn is_outdated(&self) -> bool {
        !self.restart_reasons.is_empty()
    }

    /// Stuck by its pod's state, and Kafka confirms it is not serving: the only node that may be
    /// restarted out of turn, without the checks a restart of a serving node needs.
    pub fn is_down_and_stuck(&self) -> bool {
        self.phase.is_stuck() && self.serving == Some(false)
    }

    /// Serving and caught up: the only state in which another node may be restarted.
    pub fn is_healthy(&self) -> bool {
        self.phase == PodPhase::Ready && self.caught_up == Some(true)
    }
}

/// Everything the planner needs for one decision.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Observation {
    pub nodes: Vec<NodeObservation>,
    /// The KRaft quorum leader (DescribeQuorum), when known.
    pub active_controller: Option<NodeId>,
    /// Every voter other than the leader has caught up with it (DescribeQuorum). `None` when
    /// unknown.
    pub quorum_caught_up: Option<bool>,
}

/// Limits that turn waits into conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a node may take to become Ready and catch up before the wait is reported as
    /// overdue (a condition, with backoff; the roll still waits).
    pub catch_up_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { catch_up_timeout: Duration::from_secs(300) }
    }
}

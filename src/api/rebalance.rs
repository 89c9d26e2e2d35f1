//! The `KafkaRebalance` custom resource: one balancing of a cluster's replicas, proposed, approved
//! and carried out by the operator through Kafka's reassignment API (no Cruise Control).
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Condition;

/// A rebalance of one KafkaCluster. The operator computes a proposal into the status; it runs
/// once approved (`kafka.gregor.dev/rebalance=approve`, or `autoApprove: true`), and stops on
/// `kafka.gregor.dev/rebalance=stop`. The spec is immutable: make a new resource for a new plan,
/// or annotate `kafka.gregor.dev/rebalance=refresh` to propose again from the cluster as it is now.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kafka.gregor.dev",
    version = "v1alpha1",
    kind = "KafkaRebalance",
    namespaced,
    shortname = "kr",
    category = "gregor",
    status = "KafkaRebalanceStatus",
    derive = "PartialEq",
    doc = "A rebalance of a KafkaCluster's replicas and leaders, carried out by Gregor.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster", description = "The KafkaCluster to balance"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode", description = "full, add-brokers or remove-brokers"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Where the rebalance is"),
    printcolumn(name = "Moves", type_ = "integer", json_path = ".status.proposal.moves", description = "Partitions reassigned"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the rebalance is done"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self == oldSelf", "message": "spec is immutable: create a new KafkaRebalance for a new plan"},
    {"rule": "self.mode == 'full' ? !has(self.brokers) || size(self.brokers) == 0 : has(self.brokers) && size(self.brokers) > 0",
     "message": "brokers: required (non-empty) for add-brokers and remove-brokers, and not allowed for full"}
]))]
pub struct KafkaRebalanceSpec {
    /// Name of the KafkaCluster (same namespace) to balance.
    #[schemars(length(min = 1, max = 253))]
    pub cluster: String,
    /// full (every broker), add-brokers (move replicas onto `brokers` only) or remove-brokers
    /// (move every replica off `brokers`).
    #[serde(default)]
    pub mode: RebalanceMode,
    /// Broker node ids, for add-brokers and remove-brokers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub brokers: Vec<i32>,
    /// Run the proposal without waiting for the approve annotation.
    #[serde(default)]
    pub auto_approve: bool,
    /// Replication throttle per broker while replicas move, in bytes per second (Kafka's
    /// leader/follower.replication.throttled.rate). Default 50 MiB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 1", "message": "throttleBytesPerSecond must be at least 1"}]))]
    pub throttle_bytes_per_second: Option<i64>,
    /// Replica moves one broker takes part in per batch. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 1 && self <= 1000", "message": "movesPerBroker must be between 1 and 1000"}]))]
    pub moves_per_broker: Option<i32>,
}

/// What a rebalance aims at.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceMode {
    /// Balance every broker.
    #[default]
    Full,
    /// Move a fair share of replicas onto the named (new) brokers only.
    AddBrokers,
    /// Move every replica off the named brokers (before a scale-down).
    RemoveBrokers,
}

/// Where a rebalance is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RebalancePhase {
    /// The proposal is in the status, waiting for approval.
    ProposalReady,
    /// Batches of reassignments are running.
    Rebalancing,
    /// Stop was asked: no new batch starts; the running one finishes, then the throttles go.
    Stopping,
    /// Every move and the leader election are done, and the throttles are gone.
    Ready,
    /// Stopped before the end; the throttles are gone.
    Stopped,
    /// The spec cannot be carried out (the Ready condition says why). Nothing was moved.
    Invalid,
}

/// Observed state of a rebalance.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRebalanceStatus {
    /// The metadata.generation the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: ProposalReady, Rebalancing, Ready, and kstatus' Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RebalancePhase>,
    /// What the plan does, computed before anything moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<RebalanceProposal>,
    /// How far the execution got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RebalanceProgress>,
    /// The brokers and topics whose throttles this rebalance set (written before they are set,
    /// so an operator restart removes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttles: Option<RebalanceThrottles>,
}

/// The proposal: moves, bytes, and the balance before and after.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceProposal {
    /// Partitions reassigned (each gets at least one new replica).
    pub moves: i64,
    /// Replicas relocated in all.
    pub replicas_moved: i64,
    /// No plan meeting the goals relocates fewer replicas than this.
    pub replicas_moved_lower_bound: i64,
    /// Bytes copied in all.
    pub bytes_to_move: i64,
    /// Partitions whose replica order changes (a new preferred leader, no data moved).
    pub leader_reorders: i64,
    /// Batches the moves are cut into.
    pub batches: i64,
    /// Partitions left alone because their ISR is not complete.
    pub under_replicated: i64,
    pub before: BalanceFigures,
    pub after: BalanceFigures,
    /// Each goal, in priority order: met, or why not.
    pub goals: Vec<GoalReport>,
    /// The ConfigMap holding the batches (owned by this resource).
    pub plan_config_map: String,
}

/// Replica and leader counts per broker, with their spreads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceFigures {
    /// Largest minus smallest replica count over the brokers kept.
    pub replica_spread: i64,
    /// Largest minus smallest leader count over the brokers kept.
    pub leader_spread: i64,
    pub brokers: Vec<BrokerBalance>,
}

/// One broker's load.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerBalance {
    pub broker: i32,
    pub replicas: i64,
    pub leaders: i64,
    pub disk_bytes: i64,
}

/// How one planner goal ended.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoalReport {
    pub goal: String,
    pub met: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Execution progress.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceProgress {
    /// Batches whose reassignments Kafka reports finished.
    pub batches_done: i64,
    /// The batch submitted to Kafka and not finished yet, if any (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_in_flight: Option<i64>,
    /// The leader reorders were submitted and the preferred-leader election ran.
    #[serde(default)]
    pub leaders_elected: bool,
}

/// Throttles this rebalance set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceThrottles {
    pub brokers: Vec<i32>,
    pub topics: Vec<String>,
}

//! Builds the roll planner's observation from cached pods and Kafka's answers. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::controller::pod_phase::{pod_phase, unready_for};
use crate::model::{ClusterModel, names};
use crate::render::ClusterObjects;
use crate::roll::{NodeId, NodeObservation, Observation, PodPhase, RestartReason, RestartSafety};

/// What Kafka said, gathered once per reconcile (see `kafka_facts`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaFacts {
    pub active_controller: Option<NodeId>,
    pub quorum_caught_up: Option<bool>,
    pub caught_up: BTreeMap<NodeId, bool>,
    pub restart_safety: BTreeMap<NodeId, RestartSafety>,
    /// Whether Kafka reports each node as serving (see `NodeObservation::serving`).
    pub serving: BTreeMap<NodeId, bool>,
    /// The finalized metadata.version feature level.
    pub metadata_level: Option<i16>,
    /// Partitions hosted per broker, for scale-down checks.
    pub hosted_partitions: BTreeMap<NodeId, usize>,
}

/// What Kubernetes alone shows of a cluster's nodes: each node's id, pod phase and restart
/// reasons (not how long a pod has been unready). Kafka facts gathered for one key are stale for
/// any other.
pub type ObservedKey = Vec<(NodeId, PodPhase, Vec<RestartReason>)>;

/// The key of an observation (see [`ObservedKey`]).
pub fn observed_key(obs: &Observation) -> ObservedKey {
    obs.nodes.iter().map(|n| (n.id, n.phase.clone(), n.restart_reasons.clone())).collect()
}

/// Everything else the observation needs.
pub struct Inputs<'a> {
    pub model: &'a ClusterModel,
    pub objects: &'a ClusterObjects,
    /// Cached pods by name (this cluster's).
    pub pods: &'a BTreeMap<String, Pod>,
    /// Nodes with `spec.unschedulable` (cordoned).
    pub cordoned: &'a BTreeSet<String>,
    /// Nodes whose configuration changed in a read-only key (from the dynamic-config check).
    pub config_restarts: &'a BTreeSet<NodeId>,
    /// Pools asked to roll with the manual-roll annotation on their StatefulSet.
    pub manual_roll_pools: &'a BTreeSet<String>,
    pub now: Timestamp,
}

/// A pod annotation's value.
pub fn annotation<'p>(pod: &'p Pod, key: &str) -> Option<&'p str> {
    pod.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

fn kafka_image(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().find(|c| c.name == names::KAFKA_CONTAINER)?.image.as_deref()
}

/// Why a pod needs a restart, given its pool's current revision.
pub fn restart_reasons(
    pod: &Pod,
    revision: &str,
    desired_image: &str,
    inputs: &Inputs<'_>,
    pool: &str,
    node: NodeId,
) -> Vec<RestartReason> {
    let mut reasons = Vec::new();
    if annotation(pod, names::annotations::REVISION) != Some(revision) {
        if kafka_image(pod) != Some(desired_image) {
            reasons.push(RestartReason::ImageChanged);
        } else {
            reasons.push(RestartReason::PodTemplateChanged);
        }
    }
    if inputs.config_restarts.contains(&node) {
        reasons.push(RestartReason::ConfigChanged);
    }
    if annotation(pod, names::annotations::MANUAL_ROLL) == Some("true") || inputs.manual_roll_pools.contains(pool) {
        reasons.push(RestartReason::ManualRoll);
    }
    let on_cordoned = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| inputs.cordoned.contains(n));
    if on_cordoned {
        reasons.push(RestartReason::NodeCordoned);
    }
    reasons
}

/// The observation of every node of the cluster, from the caches alone (see [`with_kafka_facts`]).
pub fn observation(inputs: &Inputs<'_>) -> Observation {
    let model = inputs.model;
    let mut nodes = Vec::new();
    for (pool, objects) in model.pools.iter().zip(&inputs.objects.pools) {
        for id in pool.node_ids() {
            let pod_name = names::pod(&model.name, &pool.name, id);
            let pod = inputs.pods.get(&pod_name);
            let restart_reasons = match pod {
                Some(p) if p.metadata.deletion_timestamp.is_none() => {
                    restart_reasons(p, &objects.revision, &model.image, inputs, &pool.name, id)
                }
                _ => Vec::new(),
            };
            nodes.push(NodeObservation {
                id,
                pod: pod_name,
                role: pool.role,
                phase: pod_phase(pod),
                unready_for: unready_for(pod, inputs.now),
                restart_reasons,
                caught_up: None,
                restart_safety: RestartSafety::default(),
                serving: None,
            });
        }
    }
    Observation { nodes, active_controller: None, quorum_caught_up: None }
}

/// The observation completed with what Kafka said.
pub fn with_kafka_facts(mut obs: Observation, facts: &KafkaFacts) -> Observation {
    for node in &mut obs.nodes {
        node.caught_up = facts.caught_up.get(&node.id).copied();
        node.restart_safety = facts.restart_safety.get(&node.id).cloned().unwrap_or_default();
        node.serving = facts.serving.get(&node.id).copied();
    }
    obs.active_controller = facts.active_controller;
    obs.quorum_caught_up = facts.quorum_caught_up;
    obs
}

/// Whether Kafka must be asked this reconcile: something is outdated, or some pod is not Ready.
/// A converged cluster is observed from the caches alone.
pub fn needs_kafka(obs: &Observation) -> bool {
    obs.nodes.iter().any(|n| n.is_outdated() || n.phase != PodPhase::Ready)
}

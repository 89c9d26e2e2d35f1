//! The KafkaCluster status: what the reconcile concluded, as kstatus-compatible conditions plus
//! the cluster's facts. Pure.

use k8s_openapi::jiff::Timestamp;

use super::scale::Refusal;
use crate::api::cluster::{KafkaClusterStatus, ListenerStatus, NodePoolStatus, RollStatus};
use crate::controller::conditions::{Conclusion, PAUSED, READY, ROLLING, WARNING, merge};
use crate::controller::reason::ClusterReason;
use crate::model::version::metadata_version_name;
use crate::model::{ClusterModel, ValidationErrors, Warning};
use crate::roll::{Observation, RestartReason, Step, WaitReason};

/// Condition types this reconciler owns (others are left alone).
pub const OWNED: &[&str] = &[READY, WARNING, ROLLING, PAUSED];

/// Everything the status is computed from.
pub struct StatusInputs<'a> {
    pub previous: Option<&'a KafkaClusterStatus>,
    pub generation: Option<i64>,
    pub model: &'a ClusterModel,
    pub warnings: &'a [Warning],
    pub observation: &'a Observation,
    pub step: &'a Step,
    pub refusal: Option<&'a Refusal>,
    pub metadata_level: Option<i16>,
    pub now: Timestamp,
}

fn reasons_text(reasons: &[RestartReason]) -> String {
    reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The reason of the Ready condition for a roll step.
pub fn ready_reason(step: &Step) -> ClusterReason {
    match step {
        Step::Idle => ClusterReason::Ready,
        Step::Restart { .. } => ClusterReason::RollingRestart,
        Step::Wait { overdue: true, .. } => ClusterReason::RollStalled,
        Step::Wait { overdue: false, .. } => ClusterReason::Progressing,
        Step::Blocked { .. } => ClusterReason::RollBlocked,
        Step::Halted { .. } => ClusterReason::RollHalted,
    }
}

/// The Ready condition for a roll step.
fn ready_conclusion(step: &Step, model: &ClusterModel) -> Conclusion {
    let message = match step {
        Step::Idle => {
            format!("{} nodes run Kafka {} and are caught up", model.pools.iter().map(|p| p.replicas).sum::<i32>(), model.version.version)
        }
        Step::Restart { pod, reasons, .. } => format!("restarting {pod}: {}", reasons_text(reasons)),
        Step::Wait { pod, reason, .. } => {
            let what = match reason {
                WaitReason::NodeNotCaughtUp => "to be Ready and back in every ISR",
                WaitReason::PodNotRunning => "to be scheduled and running",
                WaitReason::QuorumNotCaughtUp => "the controller quorum to catch up before restarting",
                WaitReason::KafkaUnreachable => "Kafka's Admin API to answer before restarting",
            };
            format!("waiting for {pod} {what}")
        }
        Step::Blocked { pod, partitions, .. } => format!(
            "restarting {pod} would take partitions below min.insync.replicas: {}; waiting for their ISR to recover",
            partitions.join(", ")
        ),
        Step::Halted { pod, .. } => {
            format!("{pod} is stuck (crash loop, image pull or unschedulable) on the current revision; fix it to resume")
        }
    };
    Conclusion::new(READY, *step == Step::Idle, ready_reason(step), message)
}

/// The status after a reconcile of a valid spec.
pub fn status(i: &StatusInputs<'_>) -> KafkaClusterStatus {
    let previous = i.previous.cloned().unwrap_or_default();
    let mut conclusions = vec![match i.refusal {
        Some(r) => Conclusion::not_ready(r.reason, r.message.clone()),
        None => ready_conclusion(i.step, i.model),
    }];
    let mut warnings: Vec<String> = i.warnings.iter().map(ToString::to_string).collect();
    if let Step::Restart { unprotectable, .. } = i.step
        && !unprotectable.is_empty()
    {
        warnings.push(format!(
            "partitions with replication factor <= min.insync.replicas cannot stay available during a roll: {}",
            unprotectable.join(", ")
        ));
    }
    if !warnings.is_empty() {
        conclusions.push(Conclusion::new(WARNING, true, ClusterReason::UnsafeSettings, warnings.join("; ")));
    }
    let outdated: Vec<&str> = i.observation.nodes.iter().filter(|n| n.is_outdated()).map(|n| n.pod.as_str()).collect();
    let rolling = !outdated.is_empty();
    if rolling {
        conclusions.push(Conclusion::new(
            ROLLING,
            true,
            ClusterReason::NodesOutdated,
            format!("{} node(s) to restart: {}", outdated.len(), outdated.join(", ")),
        ));
    }
    let conditions = merge(&previous.conditions, &conclusions, OWNED, i.generation, i.now);

    let image_current = i
        .observation
        .nodes
        .iter()
        .all(|n| !n.restart_reasons.contains(&RestartReason::ImageChanged) && n.phase != crate::roll::PodPhase::Missing);
    let roll = match i.step {
        Step::Restart { node, reasons, .. } => RollStatus { in_progress: true, node: Some(*node), reason: Some(reasons_text(reasons)) },
        Step::Wait { node, .. } | Step::Blocked { node, .. } | Step::Halted { node, .. } if rolling => {
            RollStatus { in_progress: true, node: Some(*node), reason: previous.roll.as_ref().and_then(|r| r.reason.clone()) }
        }
        _ if rolling => RollStatus { in_progress: true, node: None, reason: None },
        _ => RollStatus { in_progress: false, node: None, reason: None },
    };
    KafkaClusterStatus {
        observed_generation: i.generation,
        conditions,
        cluster_id: Some(i.model.cluster_id.clone()),
        kafka_version: if image_current { Some(i.model.version.version.to_owned()) } else { previous.kafka_version },
        metadata_version: i.metadata_level.and_then(metadata_version_name).map(str::to_owned).or(previous.metadata_version),
        listeners: i
            .model
            .listeners
            .iter()
            .map(|l| ListenerStatus { name: l.name.clone(), bootstrap_servers: i.model.bootstrap_servers(l) })
            .collect(),
        node_pools: i.model.node_ids_by_pool().into_iter().map(|(name, node_ids)| NodePoolStatus { name, node_ids }).collect(),
        roll: Some(roll),
    }
}

/// The status for a spec that failed validation: Ready=False, InvalidSpec, every error listed.
/// Everything else stays as it was.
pub fn invalid(
    previous: Option<&KafkaClusterStatus>,
    generation: Option<i64>,
    errors: &ValidationErrors,
    now: Timestamp,
) -> KafkaClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let message = format!("the spec is invalid and was not applied: {errors}");
    let conclusions = [Conclusion::not_ready(ClusterReason::InvalidSpec, message)];
    // Keep Warning/Rolling as they were: nothing was applied.
    status.conditions = merge(&status.conditions, &conclusions, &[READY], generation, now);
    status.observed_generation = generation;
    status
}

/// The status while reconciliation is paused.
pub fn paused(previous: Option<&KafkaClusterStatus>, generation: Option<i64>, now: Timestamp) -> KafkaClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.conditions = crate::controller::conditions::paused(&status.conditions, ClusterReason::Paused, generation, now);
    status
}

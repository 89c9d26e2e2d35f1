//! The KafkaCluster status: what the reconcile concluded, as kstatus-compatible conditions plus
//! the cluster's facts. Pure.

use k8s_openapi::jiff::Timestamp;

use super::dynamic::{Rejection, Tracked, rejection_message};
use super::scale::Refusal;
use crate::api::cluster::{KafkaClusterStatus, ListenerStatus, NodePoolStatus, PoolStorageStatus, RollStatus};
use crate::controller::conditions::{Conclusion, PAUSED, READY, RECONCILING, ROLLING, STALLED, WARNING, merge, with_health};
use crate::controller::reason::ClusterReason;
use crate::model::version::metadata_version_name;
use crate::model::{ClusterModel, ValidationErrors, Warning};
use crate::roll::{Observation, RestartReason, Step, WaitReason};

/// Condition types this reconciler owns (others are left alone).
pub const OWNED: &[&str] = &[READY, RECONCILING, STALLED, WARNING, ROLLING, PAUSED];

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
    /// A Kafka call the reconcile needed got no answer (the error, as text).
    pub kafka_failure: Option<&'a str>,
    /// Dynamic values Kafka refused.
    pub rejected: &'a [Rejection],
    /// What the status records about applied configuration; `None`: as it was.
    pub tracked: Option<&'a Tracked>,
    /// What autoGrow recorded per pool; `None`: as it was.
    pub storage: Option<&'a [PoolStorageStatus]>,
    /// `status.certificates`; `None`: as it was.
    pub certificates: Option<&'a [crate::api::cluster::CertificateStatus]>,
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
        Step::Wait { reason: WaitReason::KafkaUnreachable, overdue: false, .. } => ClusterReason::KafkaUnavailable,
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
    // A refused change first, then Kafka not answering, then a refused value, then the roll.
    let mut conclusions = vec![match (i.refusal, i.kafka_failure) {
        (Some(r), _) => Conclusion::not_ready(r.reason, r.message.clone()),
        (None, Some(e)) => Conclusion::not_ready(ClusterReason::KafkaUnavailable, format!("Kafka's Admin API did not answer: {e}")),
        (None, None) if !i.rejected.is_empty() => Conclusion::not_ready(ClusterReason::ConfigRejected, rejection_message(i.rejected)),
        (None, None) => ready_conclusion(i.step, i.model),
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
    let storage = i.storage.map_or(previous.storage, <[_]>::to_vec);
    warnings.extend(storage.iter().filter_map(|e| Some(format!("storage of pool {}: {}", e.name, e.blocked.as_ref()?))));
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
    let conditions = merge(&previous.conditions, &with_health(&conclusions), OWNED, i.generation, i.now);

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
        dynamic_defaults: match i.tracked {
            Some(t) => t.dynamic_defaults.iter().cloned().collect(),
            None => previous.dynamic_defaults,
        },
        config_fingerprints: match i.tracked {
            Some(t) => t.fingerprints.clone(),
            None => previous.config_fingerprints,
        },
        storage,
        certificates: i.certificates.map_or(previous.certificates, <[_]>::to_vec),
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
    status.conditions = merge(&status.conditions, &with_health(&conclusions), &[READY, RECONCILING, STALLED], generation, now);
    status.observed_generation = generation;
    status
}

/// The status while reconciliation is paused.
pub fn paused(previous: Option<&KafkaClusterStatus>, generation: Option<i64>, now: Timestamp) -> KafkaClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.conditions = crate::controller::conditions::paused(&status.conditions, ClusterReason::Paused, generation, now);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::conditions::STALLED;

    fn model() -> ClusterModel {
        let kc: crate::api::KafkaCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "events", "namespace": "ns"},
            "spec": {"version": "4.4.0", "nodePools": [{"name": "c", "roles": ["controller", "broker"], "replicas": 1,
                     "storage": {"type": "ephemeral"}}]}
        }))
        .expect("cluster");
        let observed = crate::model::Observed { cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(), node_id_starts: Default::default() };
        crate::model::validate(&kc, &observed).expect("valid").model
    }

    fn condition<'a>(s: &'a KafkaClusterStatus, type_: &str) -> (&'a str, &'a str, &'a str) {
        let c = s.conditions.iter().find(|c| c.type_ == type_).expect("condition");
        (c.status.as_str(), c.reason.as_str(), c.message.as_str())
    }

    /// (Kafka failure, refused values, Ready, reason, message contains, Stalled)
    type Case<'a> = (Option<&'a str>, &'a [Rejection], &'a str, &'a str, &'a str, &'a str);

    #[test]
    fn kafka_failures_and_refused_values_reach_ready() {
        let model = model();
        let observation = Observation { nodes: Vec::new(), active_controller: None, quorum_caught_up: None };
        let rejected = [Rejection { key: "num.io.threads".into(), error: "too many".into() }];
        let tracked = Tracked { dynamic_defaults: ["log.retention.ms".to_owned()].into(), fingerprints: Default::default() };
        let inputs = |kafka_failure, rejected| StatusInputs {
            previous: None,
            generation: Some(2),
            model: &model,
            warnings: &[],
            observation: &observation,
            step: &Step::Idle,
            refusal: None,
            metadata_level: None,
            kafka_failure,
            rejected,
            tracked: Some(&tracked),
            storage: None,
            certificates: None,
            now: Timestamp::UNIX_EPOCH,
        };
        let cases: &[Case<'_>] = &[
            (None, &[], "True", "Ready", "caught up", "False"),
            (Some("DescribeFeatures timed out"), &[], "False", "KafkaUnavailable", "DescribeFeatures timed out", "False"),
            (None, &rejected, "False", "ConfigRejected", "num.io.threads: too many", "True"),
            (Some("timed out"), &rejected, "False", "KafkaUnavailable", "timed out", "False"),
        ];
        for (failure, rejected, ready, reason, text, stalled) in cases {
            let s = status(&inputs(*failure, rejected));
            let (st, r, m) = condition(&s, READY);
            assert_eq!((st, r), (*ready, *reason), "{failure:?} {rejected:?}");
            assert!(m.contains(text), "{m}");
            assert_eq!(condition(&s, STALLED).0, *stalled, "{reason}");
            assert_eq!(s.dynamic_defaults, vec!["log.retention.ms".to_owned()]);
        }
        let waiting = Step::Wait { node: 0, pod: "p".into(), reason: WaitReason::KafkaUnreachable, overdue: false };
        assert_eq!(ready_reason(&waiting), ClusterReason::KafkaUnavailable);
    }

    #[test]
    fn item8_certificates_are_kept_until_the_certificates_step_says_otherwise() {
        use crate::api::cluster::{CertificateKind, CertificatePhase, CertificateStatus};
        let model = model();
        let observation = Observation { nodes: Vec::new(), active_controller: None, quorum_caught_up: None };
        let kept = CertificateStatus {
            kind: CertificateKind::ClusterCa,
            name: "c-cluster-ca".into(),
            not_after: "2030-01-01T00:00:00Z".into(),
            phase: CertificatePhase::Valid,
        };
        let previous = KafkaClusterStatus { certificates: vec![kept.clone()], ..Default::default() };
        let renewed = CertificateStatus { kind: CertificateKind::Node, phase: CertificatePhase::Reloading, ..kept.clone() };
        let with = |certificates| {
            status(&StatusInputs {
                previous: Some(&previous),
                generation: Some(2),
                model: &model,
                warnings: &[],
                observation: &observation,
                step: &Step::Idle,
                refusal: None,
                metadata_level: None,
                kafka_failure: None,
                rejected: &[],
                tracked: None,
                storage: None,
                certificates,
                now: Timestamp::UNIX_EPOCH,
            })
            .certificates
        };
        assert_eq!(with(None), vec![kept], "a reconcile that stopped before the certificates step keeps them");
        assert_eq!(with(Some(std::slice::from_ref(&renewed))), vec![renewed.clone()]);
        assert!(with(Some(&[])).is_empty(), "no TLS listener any more: none");
    }
}

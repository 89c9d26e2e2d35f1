//! Reads a Pod's status into the roll planner's `PodPhase`. Pure.
//!
//! Only Gregor's own containers count: the Kafka container (and Gregor's init containers, of
//! which there are none today). A container injected into the pod (a service-mesh proxy, a log
//! shipper) that crash-loops says nothing about Kafka, and must never make a serving broker look
//! "stuck": a stuck pod may be restarted out of turn (see `roll::decide`).

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;

use crate::model::names;
use crate::roll::PodPhase;

/// The containers whose state decides whether a pod is stuck.
const GREGOR_CONTAINERS: &[&str] = &[names::KAFKA_CONTAINER];
/// The init containers that do (Gregor renders none today).
const GREGOR_INIT_CONTAINERS: &[&str] = &[];

const IMAGE_PULL_FAILURES: &[&str] = &["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"];

fn waiting_reasons<'a>(statuses: Option<&'a Vec<ContainerStatus>>, ours: &'a [&str]) -> impl Iterator<Item = &'a str> {
    statuses
        .into_iter()
        .flatten()
        .filter(|s| ours.contains(&s.name.as_str()))
        .filter_map(|s| s.state.as_ref()?.waiting.as_ref()?.reason.as_deref())
}

fn condition_true(pod: &Pod, kind: &str) -> Option<bool> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let c = conditions.iter().find(|c| c.type_ == kind)?;
    Some(c.status == "True")
}

/// The planner's view of a pod (`None` = no pod).
pub fn pod_phase(pod: Option<&Pod>) -> PodPhase {
    let Some(pod) = pod else {
        return PodPhase::Missing;
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return PodPhase::Terminating;
    }
    let status = pod.status.as_ref();
    let containers = status.and_then(|s| s.container_statuses.as_ref());
    let init_containers = status.and_then(|s| s.init_container_statuses.as_ref());
    let mut waiting = waiting_reasons(containers, GREGOR_CONTAINERS).chain(waiting_reasons(init_containers, GREGOR_INIT_CONTAINERS));
    if let Some(reason) = waiting.find(|r| *r == "CrashLoopBackOff" || IMAGE_PULL_FAILURES.contains(r)) {
        return if reason == "CrashLoopBackOff" { PodPhase::CrashLooping } else { PodPhase::ImagePullFailing };
    }
    match status.and_then(|s| s.phase.as_deref()) {
        Some("Running") if condition_true(pod, "Ready") == Some(true) => PodPhase::Ready,
        Some("Running") => PodPhase::Starting,
        // A pod that ended under restartPolicy Always will not get better by waiting.
        Some("Failed") | Some("Succeeded") => PodPhase::CrashLooping,
        _ => {
            let unschedulable = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable"));
            PodPhase::Pending { unschedulable }
        }
    }
}

/// How long the pod has been out of Ready, from its Ready condition's last transition (or its
/// creation, when it never had one). Zero for a Ready pod.
pub fn unready_for(pod: Option<&Pod>, now: Timestamp) -> Duration {
    let Some(pod) = pod else {
        return Duration::ZERO;
    };
    if condition_true(pod, "Ready") == Some(true) {
        return Duration::ZERO;
    }
    let ready_changed = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .and_then(|c| c.last_transition_time.as_ref());
    let since = ready_changed.or(pod.metadata.creation_timestamp.as_ref());
    since.and_then(|t| Duration::try_from(now.duration_since(t.0)).ok()).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("valid pod")
    }

    #[test]
    fn phases() {
        let cases = vec![
            ("no pod", None, PodPhase::Missing),
            ("fresh", Some(pod(json!({"metadata": {"name": "p"}}))), PodPhase::Pending { unschedulable: false }),
            (
                "unschedulable",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}))),
                PodPhase::Pending { unschedulable: true },
            ),
            (
                "terminating",
                Some(pod(json!({"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}}))),
                PodPhase::Terminating,
            ),
            (
                "ready",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True"}]}}))),
                PodPhase::Ready,
            ),
            (
                "starting",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "False"}]}}))),
                PodPhase::Starting,
            ),
            (
                "crash loop",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "containerStatuses": [
                    {"name": "kafka", "image": "i", "imageID": "", "ready": false, "restartCount": 4,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}))),
                PodPhase::CrashLooping,
            ),
            (
                "image pull",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending", "containerStatuses": [
                    {"name": "kafka", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}))),
                PodPhase::ImagePullFailing,
            ),
            ("failed", Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Failed"}}))), PodPhase::CrashLooping),
            (
                "item 7: a crash-looping injected sidecar next to a serving Kafka container is not stuck",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [
                    {"name": "kafka", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                     "state": {"running": {}}},
                    {"name": "mesh-proxy", "image": "j", "imageID": "", "ready": false, "restartCount": 9,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}))),
                PodPhase::Starting,
            ),
            (
                "item 7: ... nor one whose image cannot be pulled",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                    {"name": "kafka", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                     "state": {"running": {}}},
                    {"name": "log-shipper", "image": "j", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}))),
                PodPhase::Ready,
            ),
            (
                "item 7: an injected init container that crash-loops is not Gregor's",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending",
                    "initContainerStatuses": [
                    {"name": "mesh-init", "image": "j", "imageID": "", "ready": false, "restartCount": 3,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}))),
                PodPhase::Pending { unschedulable: false },
            ),
            (
                "item 7: the Kafka container crash-looping beside a healthy sidecar is",
                Some(pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "containerStatuses": [
                    {"name": "mesh-proxy", "image": "j", "imageID": "", "ready": true, "restartCount": 0,
                     "state": {"running": {}}},
                    {"name": "kafka", "image": "i", "imageID": "", "ready": false, "restartCount": 4,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}))),
                PodPhase::CrashLooping,
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(pod_phase(p.as_ref()), want, "case {name}");
        }
    }

    #[test]
    fn unready_duration() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().expect("ts");
        let ready = pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}));
        assert_eq!(unready_for(Some(&ready), now), Duration::ZERO);
        let unready = pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-01T00:08:00Z"}]}}));
        assert_eq!(unready_for(Some(&unready), now), Duration::from_secs(120));
        let new = pod(json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:09:30Z"}}));
        assert_eq!(unready_for(Some(&new), now), Duration::from_secs(30));
    }
}

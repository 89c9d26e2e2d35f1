//! The reconciler's writes: apply, orphan clean-up, one pod restart, manual-roll hand-over and the
//! metadata.version bump.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::scale::Refusal;
use crate::api::KafkaCluster;
use crate::controller::apply;
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::controller::kafka_access::admin::Admin;
use crate::controller::reason::ClusterReason;
use crate::kafka::ops::features::UpgradeType;
use crate::model::version::metadata_version_level;
use crate::model::{ClusterModel, names};
use crate::render::ClusterObjects;
use crate::roll::Step;

/// Applies every rendered object but the StatefulSets in `held_back` (being re-created: see `storage`).
pub async fn apply_objects(ctx: &Context, objects: &ClusterObjects, held_back: &BTreeSet<String>) -> Result<()> {
    for object in objects.iter().filter(|o| !(o.kind() == "StatefulSet" && held_back.contains(o.name()))) {
        apply::apply(ctx, object).await?;
    }
    Ok(())
}

/// Deletes owned objects the render no longer produces (a removed pool's StatefulSet and
/// ConfigMap, say). PVCs and Secrets are never touched here.
pub async fn delete_orphans(ctx: &Context, kc: &KafkaCluster, objects: &ClusterObjects) -> Result<()> {
    let (Some(uid), Some(ns)) = (kc.meta().uid.as_deref(), kc.meta().namespace.as_deref()) else {
        return Ok(());
    };
    apply::delete_orphans(ctx, ns, uid, objects.iter()).await
}

/// Records an Event about the cluster. `related`: the object it concerns (a pod), which also
/// keeps Events about different pods apart (the recorder merges Events with the same key into a
/// series, keeping the first note).
pub(super) async fn publish(
    ctx: &Context,
    kc: &KafkaCluster,
    type_: EventType,
    (reason, action): (ClusterReason, &str),
    note: String,
    related: Option<ObjectReference>,
) {
    let event = Event { type_, reason: reason.as_str().into(), note: Some(note), action: action.into(), secondary: related };
    if let Err(e) = ctx.recorder.publish(&event, &kc.object_ref(&())).await {
        warn!(error = %e, "could not record an event");
    }
}

/// Records a Warning Event when the cluster is newly refused a change (its Ready condition did
/// not already carry that reason), so `kubectl describe` and event exporters see it once.
pub async fn report_refusal(ctx: &Context, kc: &KafkaCluster, refusal: &Refusal) {
    let ready_reason = kc
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == crate::controller::conditions::READY))
        .map(|c| c.reason.as_str());
    if ready_reason != Some(refusal.reason.as_str()) {
        let kind = if refusal.reason.stalls() { EventType::Warning } else { EventType::Normal };
        publish(ctx, kc, kind, (refusal.reason, "Refuse"), refusal.message.clone(), None).await;
    }
}

/// Carries out the planner's step. Only `Restart` writes: it deletes the one pod (only if it
/// is still the pod that was observed), and the StatefulSet recreates it on the current revision.
pub async fn perform(ctx: &Context, kc: &KafkaCluster, pods: &BTreeMap<String, Pod>, step: &Step) -> Result<()> {
    let Step::Restart { node, pod, reasons, out_of_turn, .. } = step else {
        return Ok(());
    };
    let Some(uid) = pods.get(pod).and_then(|p| p.metadata.uid.clone()) else {
        return Ok(());
    };
    let why = reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let note = if *out_of_turn {
        format!("restarting node {node} ({pod}) out of turn, as it is stuck: {why}")
    } else {
        format!("restarting node {node} ({pod}): {why}")
    };
    info!(node, pod = %pod, reasons = %why, "restarting");
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &kc.namespace().unwrap_or_default());
    let params = DeleteParams { preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }), ..DeleteParams::default() };
    match api.delete(pod, &params).await {
        Ok(_) => {}
        // Gone or replaced already: the next reconcile observes the new pod.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    ctx.metrics.count_write();
    ctx.metrics.pod_restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ctx.operator.count_restart(reasons);
    let related = pods.get(pod).map(|p| p.object_ref(&()));
    publish(ctx, kc, EventType::Normal, (ClusterReason::RestartingNode, "Roll"), note, related).await;
    Ok(())
}

/// A `manual-roll` annotation on a StatefulSet becomes one on each of its pods (which go away with
/// their restart), and leaves the StatefulSet, so the pool rolls exactly once.
pub async fn hand_over_manual_roll(
    ctx: &Context,
    model: &ClusterModel,
    pools: &BTreeSet<String>,
    pods: &BTreeMap<String, Pod>,
) -> Result<()> {
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &model.namespace);
    let sts_api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &model.namespace);
    let key = names::annotations::MANUAL_ROLL;
    for pool in model.pools.iter().filter(|p| pools.contains(&p.name)) {
        for id in pool.node_ids() {
            let name = names::pod(&model.name, &pool.name, id);
            if pods.get(&name).is_some_and(|p| p.metadata.deletion_timestamp.is_none()) {
                let patch = serde_json::json!({"metadata": {"annotations": {key: "true"}}});
                pod_api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
                ctx.metrics.count_write();
            }
        }
        let patch = serde_json::json!({"metadata": {"annotations": {key: null}}});
        sts_api.patch(&names::statefulset(&model.name, &pool.name), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        ctx.metrics.count_write();
        info!(pool = %pool.name, "manual roll requested on the StatefulSet; handed over to its pods");
    }
    Ok(())
}

/// Raises `metadata.version` once every node runs the new binaries and has caught up (the
/// caller only calls this when the planner is idle). Returns the new level when raised.
pub async fn upgrade_metadata_version(admin: &dyn Admin, model: &ClusterModel, active: Option<i16>) -> Result<Option<i16>> {
    let Some(wanted) = metadata_version_level(&model.metadata_version) else {
        return Ok(None);
    };
    let active = match active {
        Some(a) => a,
        None => match admin.describe_features().await?.metadata_version() {
            Some(a) => a,
            None => return Ok(None),
        },
    };
    if active >= wanted {
        return Ok(None);
    }
    info!(from = active, to = wanted, version = %model.metadata_version, "raising metadata.version");
    admin.set_metadata_version(wanted, UpgradeType::Upgrade, false).await?;
    Ok(Some(wanted))
}

//! Automatic moves on scaling (`spec.rebalance.onScale`, on by default): a scale-up makes an
//! add-brokers KafkaRebalance for the new brokers, and a scale-down that is blocked by replicas
//! on the brokers to remove makes a remove-brokers one and waits for it. The KafkaRebalance
//! controller does the moves; this module only decides which resource should exist (pure) and
//! creates or replaces it.

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use tracing::info;

use super::scale::Refusal;
use crate::api::rebalance::{KafkaRebalanceSpec, RebalanceMode, RebalancePhase};
use crate::api::{KafkaCluster, KafkaRebalance};
use crate::controller::context::Context;
use crate::controller::error::ControllerError;
use crate::controller::reason::ClusterReason;
use crate::model::{ClusterModel, names};

fn ids(brokers: &[i32]) -> String {
    brokers.iter().map(i32::to_string).collect::<Vec<_>>().join("-")
}

/// The drain of a scale-down; one per set of brokers, so a second look finds the same one.
pub fn drain_name(cluster: &str, brokers: &[i32]) -> String {
    format!("{cluster}-drain-{}", ids(brokers))
}

/// The fill of a scale-up; one per cluster generation, so scaling up again later makes a new one.
pub fn fill_name(cluster: &str, brokers: &[i32], generation: i64) -> String {
    format!("{cluster}-add-{}-g{generation}", ids(brokers))
}

/// What to do about the drain KafkaRebalance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrainAction {
    Create,
    /// A finished one that left replicas behind (new partitions meanwhile): replace it.
    Replace,
    Keep,
}

/// The drain's refusal and what to do, from the drain KafkaRebalance as it is (pure).
pub fn drain_decision(name: &str, existing: Option<&KafkaRebalance>, busy: &[(i32, usize)]) -> (Refusal, DrainAction) {
    let listed = busy.iter().map(|(id, n)| format!("{id} ({n} replicas)")).collect::<Vec<_>>().join(", ");
    let draining = |state: &str| Refusal {
        reason: ClusterReason::ScaleDownDraining,
        message: format!("draining brokers {listed} through KafkaRebalance {name} ({state}); their pods go once Kafka reports them empty"),
    };
    let Some(kr) = existing else {
        return (draining("created"), DrainAction::Create);
    };
    let status = kr.status.as_ref();
    let ready_message =
        status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).map(|c| c.message.clone()).unwrap_or_default();
    match status.and_then(|s| s.phase) {
        Some(RebalancePhase::Invalid) => (
            Refusal {
                reason: ClusterReason::ScaleDownBlocked,
                message: format!("brokers {listed} cannot be drained: KafkaRebalance {name} says: {ready_message}"),
            },
            DrainAction::Keep,
        ),
        Some(RebalancePhase::Stopped) => (
            Refusal {
                reason: ClusterReason::ScaleDownBlocked,
                message: format!(
                    "the drain of brokers {listed} was stopped (KafkaRebalance {name}); delete it to drain again, or restore the replicas"
                ),
            },
            DrainAction::Keep,
        ),
        Some(RebalancePhase::Ready) => (draining("done, but replicas are left: draining again"), DrainAction::Replace),
        Some(phase) => (draining(&format!("{phase:?}")), DrainAction::Keep),
        None => (draining("starting"), DrainAction::Keep),
    }
}

fn rebalance(model: &ClusterModel, name: &str, mode: RebalanceMode, brokers: &[i32]) -> KafkaRebalance {
    let mut kr = KafkaRebalance::new(
        name,
        KafkaRebalanceSpec {
            cluster: model.name.clone(),
            mode,
            brokers: brokers.to_vec(),
            auto_approve: true,
            throttle_bytes_per_second: model.rebalance_throttle,
            moves_per_broker: None,
        },
    );
    kr.metadata.namespace = Some(model.namespace.clone());
    kr.metadata.owner_references = crate::render::meta::owner_references(model);
    let mut labels = names::cluster_labels(&model.name);
    labels.insert(names::labels::MANAGED_BY.to_owned(), names::labels::MANAGED_BY_VALUE.to_owned());
    kr.metadata.labels = Some(labels);
    kr
}

async fn create(api: &Api<KafkaRebalance>, kr: &KafkaRebalance) -> Result<(), ControllerError> {
    match api.create(&PostParams::default(), kr).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The brokers a scale-down removes (of broker pools), sorted: the drain's brokers.
pub fn removed_brokers(shrinks: &[super::scale::Shrink]) -> Vec<i32> {
    let mut ids: Vec<i32> = shrinks.iter().filter(|s| !s.controller).flat_map(|s| s.removed.iter().copied()).collect();
    ids.sort_unstable();
    ids
}

/// Whether the scale-down still waits for its drain although Kafka reports the brokers empty:
/// the drain's last steps (the leader election, removing the throttles it set on those very
/// brokers) come after the last replica left, and the pods go only after them.
pub fn drain_still_running(existing: Option<&KafkaRebalance>) -> bool {
    existing.is_some_and(|kr| {
        !matches!(kr.status.as_ref().and_then(|s| s.phase), Some(RebalancePhase::Ready | RebalancePhase::Stopped | RebalancePhase::Invalid))
    })
}

/// A scale-down whose brokers are empty: the refusal that holds it while its drain finishes.
pub async fn drain_finishing(
    ctx: &Context,
    kc: &KafkaCluster,
    model: &ClusterModel,
    removed: &[i32],
) -> Result<Option<Refusal>, ControllerError> {
    let name = drain_name(&kc.name_any(), removed);
    let api: Api<KafkaRebalance> = Api::namespaced(ctx.client.clone(), &model.namespace);
    let existing = api.get_opt(&name).await?;
    Ok(drain_still_running(existing.as_ref()).then(|| Refusal {
        reason: ClusterReason::ScaleDownDraining,
        message: format!(
            "brokers {removed:?} are empty; waiting for KafkaRebalance {name} to finish (leader election, throttles) before their pods go"
        ),
    }))
}

/// A scale-down blocked by replicas on `busy` (some of `removed`): makes sure the drain runs, and
/// says where it is.
pub async fn drain(
    ctx: &Context,
    kc: &KafkaCluster,
    model: &ClusterModel,
    removed: &[i32],
    busy: &[(i32, usize)],
) -> Result<Refusal, ControllerError> {
    let brokers = removed.to_vec();
    let name = drain_name(&kc.name_any(), &brokers);
    let api: Api<KafkaRebalance> = Api::namespaced(ctx.client.clone(), &model.namespace);
    let existing = api.get_opt(&name).await?;
    let (refusal, action) = drain_decision(&name, existing.as_ref(), busy);
    match action {
        DrainAction::Keep => {}
        DrainAction::Create => {
            info!(cluster = %model.name, rebalance = %name, ?brokers, "draining the brokers to remove");
            create(&api, &rebalance(model, &name, RebalanceMode::RemoveBrokers, &brokers)).await?;
        }
        DrainAction::Replace => {
            api.delete(&name, &DeleteParams::default()).await?;
        }
    }
    Ok(refusal)
}

/// Broker ids the spec has now and the status did not record: the brokers a scale-up adds.
pub fn added_brokers(model: &ClusterModel, previous: Option<&crate::api::cluster::KafkaClusterStatus>) -> Vec<i32> {
    let Some(status) = previous.filter(|s| !s.node_pools.is_empty()) else {
        return Vec::new();
    };
    let recorded: std::collections::BTreeSet<i32> = status.node_pools.iter().flat_map(|p| p.node_ids.iter().copied()).collect();
    let mut added: Vec<i32> =
        model.pools.iter().filter(|p| p.role.is_broker()).flat_map(|p| p.node_ids()).filter(|id| !recorded.contains(id)).collect();
    added.sort_unstable();
    added
}

/// A scale-up: an add-brokers KafkaRebalance for the new brokers (it waits until they are up).
pub async fn fill(ctx: &Context, kc: &KafkaCluster, model: &ClusterModel, added: &[i32]) -> Result<(), ControllerError> {
    let name = fill_name(&kc.name_any(), added, kc.metadata.generation.unwrap_or(0));
    info!(cluster = %model.name, rebalance = %name, brokers = ?added, "moving replicas onto the new brokers");
    let api: Api<KafkaRebalance> = Api::namespaced(ctx.client.clone(), &model.namespace);
    create(&api, &rebalance(model, &name, RebalanceMode::AddBrokers, added)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rebalance::KafkaRebalanceStatus;

    fn kr(phase: Option<RebalancePhase>) -> KafkaRebalance {
        let mut kr = KafkaRebalance::new(
            "c-drain-3",
            KafkaRebalanceSpec {
                cluster: "c".into(),
                mode: RebalanceMode::RemoveBrokers,
                brokers: vec![3],
                auto_approve: true,
                throttle_bytes_per_second: None,
                moves_per_broker: None,
            },
        );
        kr.status = Some(KafkaRebalanceStatus { phase, ..Default::default() });
        kr
    }

    #[test]
    fn the_drain_follows_its_rebalance() {
        let busy = [(3, 7)];
        let cases = [
            (None, ClusterReason::ScaleDownDraining, DrainAction::Create),
            (Some(kr(None)), ClusterReason::ScaleDownDraining, DrainAction::Keep),
            (Some(kr(Some(RebalancePhase::Rebalancing))), ClusterReason::ScaleDownDraining, DrainAction::Keep),
            (Some(kr(Some(RebalancePhase::Invalid))), ClusterReason::ScaleDownBlocked, DrainAction::Keep),
            (Some(kr(Some(RebalancePhase::Stopped))), ClusterReason::ScaleDownBlocked, DrainAction::Keep),
            (Some(kr(Some(RebalancePhase::Ready))), ClusterReason::ScaleDownDraining, DrainAction::Replace),
        ];
        for (existing, reason, action) in cases {
            let (refusal, got) = drain_decision("c-drain-3", existing.as_ref(), &busy);
            assert_eq!((refusal.reason, got), (reason, action), "{existing:?}");
            assert!(refusal.message.contains("3 (7 replicas)"), "{}", refusal.message);
        }
        assert_eq!(drain_name("c", &[3, 4]), "c-drain-3-4");
        assert!(!drain_still_running(None));
        assert!(drain_still_running(Some(&kr(Some(RebalancePhase::Rebalancing)))));
        assert!(drain_still_running(Some(&kr(None))));
        assert!(!drain_still_running(Some(&kr(Some(RebalancePhase::Ready)))));
        assert_eq!(fill_name("c", &[3, 4], 7), "c-add-3-4-g7");
    }
}

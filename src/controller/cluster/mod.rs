//! The KafkaCluster reconciler: validate → render → apply → clean up orphans → roll one step →
//! status. It never sleeps on a pod: every wait is a requeue.

mod act;
pub mod dynamic;
pub mod identity;
pub mod kafka_facts;
pub mod observe;
pub mod scale;
pub mod status;
pub mod storage;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::{Resource, ResourceExt};
use tracing::{info, instrument, warn};

use crate::api::KafkaCluster;
use crate::api::cluster::KafkaClusterStatus;
use crate::controller::context::Context;
use crate::controller::error::{ControllerError, Result};
use crate::controller::topic::lifecycle::{annotation_true, is_paused};
use crate::model::{self, Observed, names};
use crate::render;
use crate::roll::{self, Action};
use observe::{Inputs, KafkaFacts};
use status::{Refusal, StatusInputs};

async fn write_status(kc: &KafkaCluster, ctx: &Context, status: KafkaClusterStatus) -> Result<()> {
    if kc.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &kc.namespace().unwrap_or_default());
    let patch = crate::controller::status_patch::status_patch(kc.status.as_ref(), &status);
    api.patch_status(&kc.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    ctx.metrics.count_write();
    Ok(())
}

/// The cluster's pods, by name, from the cache.
fn cluster_pods(ctx: &Context, ns: &str, cluster: &str) -> BTreeMap<String, Pod> {
    ctx.stores
        .pods
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
        .filter(|p| p.labels().get(names::labels::CLUSTER).map(String::as_str) == Some(cluster))
        .map(|p| (p.name_any(), (**p).clone()))
        .collect()
}

fn cordoned_nodes(ctx: &Context) -> BTreeSet<String> {
    ctx.stores
        .nodes
        .state()
        .iter()
        .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false))
        .map(|n| n.name_any())
        .collect()
}

fn manual_roll_pools(ctx: &Context, model: &model::ClusterModel) -> BTreeSet<String> {
    model
        .pools
        .iter()
        .filter(|pool| {
            scale::cached_stateful_set(ctx, model, &pool.name)
                .is_some_and(|s| annotation_true(&s.metadata, names::annotations::MANUAL_ROLL))
        })
        .map(|pool| pool.name.clone())
        .collect()
}

/// Reconciles one KafkaCluster.
#[instrument(skip_all, fields(cluster = %kc.name_any(), namespace = kc.namespace().unwrap_or_default()))]
pub async fn reconcile(kc: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Requeue> {
    ctx.metrics.reconciles.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let requests_before = crate::controller::context::api_requests();
    let ns = kc.namespace().unwrap_or_else(|| "default".into());
    let name = kc.name_any();
    let now = Timestamp::now();
    let generation = kc.meta().generation;
    if kc.meta().deletion_timestamp.is_some() {
        // Children go with the owner references; PVCs follow their retention policy.
        kafka_facts::forget_admin_client(&ctx, &ns, &name);
        return Ok(Requeue::await_change());
    }
    if is_paused(kc.meta()) {
        write_status(&kc, &ctx, status::paused(kc.status.as_ref(), generation, now)).await?;
        return Ok(Requeue::requeue(ctx.settings.resync));
    }

    let cluster_id = identity::cluster_id(&kc, &ctx).await?;
    let observed = Observed { cluster_id, node_id_starts: Observed::node_id_starts_from_status(&kc) };
    let validated = match model::validate(&kc, &observed) {
        Ok(v) => v,
        Err(errors) => {
            warn!(%errors, "invalid spec; nothing applied");
            write_status(&kc, &ctx, status::invalid(kc.status.as_ref(), generation, &errors, now)).await?;
            return Ok(Requeue::await_change());
        }
    };
    let model = &validated.model;
    let objects = render::render(model)?;
    let password = identity::operator_password(model, &ctx).await?;
    let pods = cluster_pods(&ctx, &ns, &name);
    let admin = kafka_facts::admin_client(&ctx, model, password.as_deref()).map_err(ControllerError::from)?;

    // Refusals that keep the running cluster untouched.
    let mut refusal: Option<Refusal> = scale::security_change_refusal(&scale::running_security(&ctx, model), model)
        .or_else(|| scale::downgrade_refusal(kc.status.as_ref(), model));
    let mut facts: Option<KafkaFacts> = None;
    let shrinking = scale::shrinking_pools(&ctx, model);
    if refusal.is_none() && !shrinking.is_empty() {
        let gathered = kafka_facts::gather(&admin, model).await;
        refusal = scale::scale_down_refusal(&shrinking, gathered.as_ref().ok());
        facts = gathered.ok();
    }
    let mut recreating = BTreeSet::new();
    if refusal.is_none() {
        let step = storage::reconcile(&ctx, &ns, &objects).await?;
        refusal = step.refusal;
        recreating = step.recreating;
    }
    if refusal.is_none() {
        act::apply_objects(&ctx, &objects, &recreating).await?;
        act::delete_orphans(&ctx, &kc, &objects).await?;
    }

    if let Some(r) = &refusal {
        act::report_refusal(&ctx, &kc, r).await;
    }
    let cordoned = cordoned_nodes(&ctx);
    let manual = manual_roll_pools(&ctx, model);
    if refusal.is_none() && !manual.is_empty() {
        act::hand_over_manual_roll(&ctx, model, &manual, &pods).await?;
    }
    let config_restarts = if refusal.is_none() { dynamic::reconcile(&ctx, &admin, model, &objects, &pods).await? } else { BTreeSet::new() };
    let mut inputs = Inputs {
        model,
        objects: &objects,
        pods: &pods,
        cordoned: &cordoned,
        config_restarts: &config_restarts,
        manual_roll_pools: &manual,
        kafka: None,
        paused: false,
        now,
    };
    let base = observe::observation(&inputs);
    let needs_kafka = observe::needs_kafka(&base) || scale::metadata_upgrade_pending(kc.status.as_ref(), model);
    if needs_kafka && facts.is_none() {
        match kafka_facts::gather(&admin, model).await {
            Ok(f) => facts = Some(f),
            Err(e) => info!(error = %e, "Kafka's Admin API did not answer; the roll waits"),
        }
    }
    let (observation, action) = if refusal.is_some() {
        (base, Action::Idle)
    } else if needs_kafka {
        inputs.kafka = facts.as_ref();
        let obs = observe::observation(&inputs);
        let action = roll::decide(&obs, &ctx.settings.roll_policy);
        (obs, action)
    } else {
        (base, Action::Idle)
    };
    if refusal.is_none() {
        act::perform(&ctx, &kc, &pods, &action).await?;
    }
    // Brokers a scale-down removed stay registered in KRaft until unregistered: once their
    // process has stopped and their pod is gone, unregister them (one DescribeCluster per idle
    // reconcile).
    let mut removal_pending = false;
    if refusal.is_none() && action == Action::Idle {
        let names: Vec<&str> = pods.keys().map(String::as_str).collect();
        match kafka_facts::unregister_removed_brokers(&admin, model, &names).await {
            Ok(removed) => removal_pending = !removed.waiting.is_empty(),
            Err(e) => info!(error = %e, "could not unregister removed brokers; trying again at the next reconcile"),
        }
    }
    let mut metadata_level = facts.as_ref().and_then(|f| f.metadata_level);
    if refusal.is_none()
        && action == Action::Idle
        && let Some(level) = act::upgrade_metadata_version(&admin, model, metadata_level).await?
    {
        metadata_level = Some(level);
    }

    let new_status = status::status(&StatusInputs {
        previous: kc.status.as_ref(),
        generation,
        model,
        warnings: &validated.warnings,
        observation: &observation,
        action: &action,
        refusal: refusal.as_ref(),
        metadata_level,
        now,
    });
    write_status(&kc, &ctx, new_status).await?;
    tracing::debug!(
        api_requests = crate::controller::context::api_requests() - requests_before,
        action = ?action,
        "reconcile done"
    );
    Ok(match action {
        Action::Idle if refusal.is_none() && !removal_pending && recreating.is_empty() => Requeue::requeue(ctx.settings.resync),
        _ => Requeue::requeue(ctx.settings.requeue_busy),
    })
}

/// Retries failed reconciles with a short backoff.
pub fn error_policy(kc: Arc<KafkaCluster>, error: &ControllerError, ctx: Arc<Context>) -> Requeue {
    warn!(cluster = %kc.name_any(), %error, "reconcile failed; retrying");
    Requeue::requeue(ctx.settings.requeue_busy.max(std::time::Duration::from_secs(5)))
}

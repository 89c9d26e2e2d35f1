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
use kube::runtime::controller::Action as Requeue;
use kube::{Resource, ResourceExt};
use tracing::{info, instrument, warn};

use crate::api::KafkaCluster;
use crate::api::cluster::KafkaClusterStatus;
use crate::controller::backoff;
use crate::controller::context::Context;
use crate::controller::error::{ControllerError, Result};
use crate::controller::kafka_access;
use crate::controller::lifecycle::{annotation_true, is_paused};
use crate::controller::reason::{ClusterReason, Reason};
use crate::controller::status_write::write_status;
use crate::kafka;
use crate::model::{self, Observed, names};
use crate::render::{self, ClusterObjects};
use crate::roll::{self, NodeId, Observation, Step};
use observe::{Inputs, KafkaFacts};
use scale::Refusal;
use status::StatusInputs;

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

/// How soon a reconcile that found the caches unsynced looks again.
const CACHE_SYNC_RECHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// What a reconcile works with once the spec is valid and rendered.
struct Valid<'a> {
    kc: &'a KafkaCluster,
    ctx: &'a Context,
    validated: &'a model::Validated,
    objects: &'a ClusterObjects,
    pods: &'a BTreeMap<String, Pod>,
    admin: &'a kafka::Client,
    now: Timestamp,
}

impl Valid<'_> {
    fn model(&self) -> &model::ClusterModel {
        &self.validated.model
    }

    /// The observation inputs; `config_restarts` from the dynamic-config step.
    fn inputs<'a>(
        &'a self,
        cordoned: &'a BTreeSet<String>,
        config_restarts: &'a BTreeSet<NodeId>,
        manual: &'a BTreeSet<String>,
    ) -> Inputs<'a> {
        Inputs {
            model: self.model(),
            objects: self.objects,
            pods: self.pods,
            cordoned,
            config_restarts,
            manual_roll_pools: manual,
            now: self.now,
        }
    }

    fn status(&self, observation: &Observation, step: &Step, refusal: Option<&Refusal>, metadata_level: Option<i16>) -> KafkaClusterStatus {
        status::status(&StatusInputs {
            previous: self.kc.status.as_ref(),
            generation: self.kc.meta().generation,
            model: self.model(),
            warnings: &self.validated.warnings,
            observation,
            step,
            refusal,
            metadata_level,
            now: self.now,
        })
    }

    /// Asks Kafka when the cached observation cannot settle the roll, or metadata.version may be
    /// behind. `known`: facts gathered earlier in this reconcile.
    async fn facts_if_needed(&self, observation: &Observation, known: Option<KafkaFacts>) -> (bool, Option<KafkaFacts>) {
        let needed = observe::needs_kafka(observation) || scale::metadata_upgrade_pending(self.kc.status.as_ref(), self.model());
        if !needed || known.is_some() {
            return (needed, known);
        }
        match kafka_facts::gather(self.admin, self.model()).await {
            Ok(f) => (true, Some(f)),
            Err(e) => {
                info!(error = %e, "Kafka's Admin API did not answer; the roll waits");
                (true, None)
            }
        }
    }

    /// A refusal leaves the running cluster untouched: record it, write the status, look again soon.
    async fn refuse(&self, refusal: Refusal, known: Option<KafkaFacts>) -> Result<Requeue> {
        act::report_refusal(self.ctx, self.kc, &refusal).await;
        self.ctx.metrics.record_outcome(refusal.reason);
        let (cordoned, manual) = (cordoned_nodes(self.ctx), manual_roll_pools(self.ctx, self.model()));
        let no_restarts = BTreeSet::new();
        let observation = observe::observation(&self.inputs(&cordoned, &no_restarts, &manual));
        let (_, facts) = self.facts_if_needed(&observation, known).await;
        let metadata_level = facts.and_then(|f| f.metadata_level);
        write_status(self.ctx, self.kc, &self.status(&observation, &Step::Idle, Some(&refusal), metadata_level)).await?;
        Ok(Requeue::requeue(self.ctx.settings.requeue_busy))
    }

    /// Housekeeping that only runs while the roll is idle: brokers a scale-down removed stay
    /// registered in KRaft until unregistered, so unregister them once their process has stopped
    /// and their pod is gone (one DescribeCluster per idle reconcile); and raise metadata.version
    /// once every node runs the new binaries. Returns whether a removal is still pending, and the
    /// metadata.version level now active.
    async fn idle_housekeeping(&self, metadata_level: Option<i16>) -> Result<(bool, Option<i16>)> {
        let names: Vec<&str> = self.pods.keys().map(String::as_str).collect();
        let removal_pending = match kafka_facts::unregister_removed_brokers(self.admin, self.model(), &names).await {
            Ok(removed) => !removed.waiting.is_empty(),
            Err(e) => {
                info!(error = %e, "could not unregister removed brokers; trying again at the next reconcile");
                false
            }
        };
        let raised = act::upgrade_metadata_version(self.admin, self.model(), metadata_level).await?;
        Ok((removal_pending, raised.or(metadata_level)))
    }
}

/// Reconciles one KafkaCluster.
#[instrument(skip_all, fields(cluster = %kc.name_any(), namespace = kc.namespace().unwrap_or_default()))]
pub async fn reconcile(kc: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Requeue> {
    let result = reconcile_steps(&kc, &ctx).await;
    backoff::record(&ctx, kc.as_ref(), &result);
    result
}

/// The reconcile's steps: each either hands on to the next or returns.
async fn reconcile_steps(kc: &Arc<KafkaCluster>, ctx: &Arc<Context>) -> Result<Requeue> {
    let (kc, ctx) = (kc.clone(), ctx.clone());
    ctx.metrics.reconciles.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let requests_before = crate::controller::context::api_requests();
    let ns = kc.namespace().unwrap_or_else(|| "default".into());
    let name = kc.name_any();
    let now = Timestamp::now();
    let generation = kc.meta().generation;
    if !ctx.caches.is_open() {
        // Fail closed: nothing is decided from caches that have not synced yet.
        tracing::debug!("caches not synced yet; looking again shortly");
        return Ok(Requeue::requeue(CACHE_SYNC_RECHECK));
    }
    if kc.meta().deletion_timestamp.is_some() {
        // Children go with the owner references; PVCs follow their retention policy.
        kafka_access::forget_admin_client(&ctx, &ns, &name);
        return Ok(Requeue::await_change());
    }
    if is_paused(kc.meta()) {
        ctx.metrics.record_outcome(ClusterReason::Paused);
        write_status(&ctx, kc.as_ref(), &status::paused(kc.status.as_ref(), generation, now)).await?;
        return Ok(Requeue::requeue(ctx.settings.resync));
    }

    // Validate and render, purely.
    let cluster_id = identity::cluster_id(&kc, &ctx).await?;
    let observed = Observed { cluster_id, node_id_starts: Observed::node_id_starts_from_status(&kc) };
    let validated = match model::validate(&kc, &observed) {
        Ok(v) => v,
        Err(errors) => {
            warn!(%errors, "invalid spec; nothing applied");
            ctx.metrics.record_outcome(ClusterReason::InvalidSpec);
            write_status(&ctx, kc.as_ref(), &status::invalid(kc.status.as_ref(), generation, &errors, now)).await?;
            return Ok(Requeue::await_change());
        }
    };
    let model = &validated.model;
    let objects = render::render(model)?;
    let password = identity::operator_password(model, &ctx).await?;
    let pods = cluster_pods(&ctx, &ns, &name);
    let admin = kafka_access::admin_client(&ctx, model, password.as_deref()).map_err(ControllerError::from)?;
    let valid = Valid { kc: &kc, ctx: &ctx, validated: &validated, objects: &objects, pods: &pods, admin: &admin, now };

    // Refusals that keep the running cluster untouched.
    if let Some(refusal) = scale::security_change_refusal(&scale::running_security(&ctx, model), model)
        .or_else(|| scale::downgrade_refusal(kc.status.as_ref(), model))
        .or_else(|| scale::controller_growth_refusal(&scale::growing_controller_pools(&ctx, model)))
    {
        return valid.refuse(refusal, None).await;
    }
    let facts = match scale::check_scale_down(&ctx, &admin, model, kc.status.as_ref()).await {
        Ok(facts) => facts,
        Err((refusal, facts)) => return valid.refuse(refusal, facts).await,
    };
    let recreating = match storage::reconcile(&ctx, &ns, &objects).await? {
        Ok(recreating) => recreating,
        Err(refusal) => return valid.refuse(refusal, facts).await,
    };

    // Apply, clean up, and change what needs no restart.
    act::apply_objects(&ctx, &objects, &recreating).await?;
    act::delete_orphans(&ctx, &kc, &objects).await?;
    let cordoned = cordoned_nodes(&ctx);
    let manual = manual_roll_pools(&ctx, model);
    if !manual.is_empty() {
        act::hand_over_manual_roll(&ctx, model, &manual, &pods).await?;
    }
    let config_restarts = dynamic::reconcile(&ctx, &admin, model, &objects, &pods).await?;

    // Observe, and roll one step.
    let observation = observe::observation(&valid.inputs(&cordoned, &config_restarts, &manual));
    let (needs_kafka, facts) = valid.facts_if_needed(&observation, facts).await;
    let (observation, step) = if needs_kafka {
        let observation = match &facts {
            Some(f) => observe::with_kafka_facts(observation, f),
            None => observation,
        };
        let step = roll::decide(&observation, &ctx.settings.roll_policy);
        (observation, step)
    } else {
        (observation, Step::Idle)
    };
    act::perform(&ctx, &kc, &pods, &step).await?;
    let metadata_level = facts.as_ref().and_then(|f| f.metadata_level);
    let (removal_pending, metadata_level) =
        if step == Step::Idle { valid.idle_housekeeping(metadata_level).await? } else { (false, metadata_level) };

    write_status(&ctx, kc.as_ref(), &valid.status(&observation, &step, None, metadata_level)).await?;
    ctx.metrics.record_outcome(status::ready_reason(&step));
    tracing::debug!(
        api_requests = crate::controller::context::api_requests() - requests_before,
        step = ?step,
        "reconcile done"
    );
    Ok(match step {
        Step::Idle if !removal_pending && recreating.is_empty() => Requeue::requeue(ctx.settings.resync),
        _ => Requeue::requeue(ctx.settings.requeue_busy),
    })
}

/// After a failed reconcile: exponential backoff for transient errors, the next change for an
/// invalid object (see [`backoff`]).
pub fn error_policy(kc: Arc<KafkaCluster>, error: &ControllerError, ctx: Arc<Context>) -> Requeue {
    backoff::after_failure(&ctx, ClusterReason::KIND, kc.as_ref(), error.category(), error)
}

//! The KafkaCluster reconciler: validate → render → apply → clean up orphans → roll one step →
//! status. It never sleeps on a pod: every wait is a requeue.

mod act;
pub mod autogrow;
mod autogrow_step;
pub mod dynamic;
pub mod identity;
pub mod kafka_facts;
pub mod observe;
#[cfg(test)]
mod pure_tests;
#[cfg(test)]
mod reconcile_tests;
pub mod scale;
pub mod scale_rebalance;
pub mod status;
pub mod storage;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::{info, instrument, warn};

use crate::api::KafkaCluster;
use crate::api::cluster::{KafkaClusterStatus, PoolStorageStatus};
use crate::controller::backoff;
use crate::controller::certificates;
use crate::controller::context::Context;
use crate::controller::error::{ControllerError, Result};
use crate::controller::kafka_access;
use crate::controller::lifecycle::{annotation_true, is_paused};
use crate::controller::reason::{ClusterReason, Reason};
use crate::controller::status_write::write_status;
use crate::model::{self, ClusterModel, Observed, names};
use crate::render::{self, ClusterObjects};
use crate::roll::{self, NodeId, Observation, Step};
use dynamic::{ConfigOutcome, Tracked};
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
    admin: &'a dyn kafka_access::admin::Admin,
    /// What autoGrow recorded per pool in this reconcile.
    storage: &'a [PoolStorageStatus],
    /// `status.certificates` once the certificates step ran (`None` before: as it was).
    certificates: Option<Vec<crate::api::cluster::CertificateStatus>>,
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
        self.status_with(observation, step, refusal, metadata_level, None, &ConfigOutcome::default(), None)
    }

    #[allow(clippy::too_many_arguments)]
    fn status_with(
        &self,
        observation: &Observation,
        step: &Step,
        refusal: Option<&Refusal>,
        metadata_level: Option<i16>,
        kafka_failure: Option<&str>,
        config: &ConfigOutcome,
        tracked: Option<&Tracked>,
    ) -> KafkaClusterStatus {
        status::status(&StatusInputs {
            previous: self.kc.status.as_ref(),
            generation: self.kc.meta().generation,
            model: self.model(),
            warnings: &self.validated.warnings,
            observation,
            step,
            refusal,
            metadata_level,
            kafka_failure,
            rejected: &config.rejected,
            tracked,
            storage: Some(self.storage),
            certificates: self.certificates.as_deref(),
            now: self.now,
        })
    }

    /// A Kafka call failed: Ready=False with reason KafkaUnavailable naming the failure is
    /// written first, then the error goes to the backoff (`error_policy`). Other errors go as
    /// they are.
    async fn kafka_failed(
        &self,
        error: ControllerError,
        observation: &Observation,
        step: &Step,
        metadata_level: Option<i16>,
        config: Option<&ConfigOutcome>,
    ) -> Result<Requeue> {
        if let ControllerError::Kafka(e) = &error {
            warn!(error = %e, "Kafka's Admin API did not answer; Ready=False until it does");
            self.ctx.metrics.record_outcome(ClusterReason::KafkaUnavailable);
            let text = e.to_string();
            let none = ConfigOutcome::default();
            let tracked = config.map(|c| &c.tracked);
            let status = self.status_with(observation, step, None, metadata_level, Some(&text), config.unwrap_or(&none), tracked);
            write_status(self.ctx, self.kc, &status).await?;
        }
        Err(error)
    }

    /// The key of this cluster in the context's caches.
    fn key(&self) -> String {
        format!("{}/{}", self.model().namespace, self.model().name)
    }

    /// Asks Kafka when the cached observation cannot settle the roll, or metadata.version may be
    /// behind. `known`: facts gathered earlier in this reconcile. While neither Kubernetes nor
    /// Kafka shows a change, the facts of the last probe stand in for a new one, up to a backoff
    /// interval (see [`FactsCache`](crate::controller::context::FactsCache)); such facts are
    /// `Gathered::cached`, and may decide a wait only, never a restart.
    async fn facts_if_needed(&self, observation: &Observation, known: Option<KafkaFacts>) -> Gathered {
        let needed = observe::needs_kafka(observation) || scale::metadata_upgrade_pending(self.kc.status.as_ref(), self.model());
        if !needed {
            return Gathered { needed, facts: known, cached: false };
        }
        if let Some(facts) = known {
            self.remember(observation, Some(facts.clone()));
            return Gathered { needed, facts: Some(facts), cached: false };
        }
        let observed = observe::observed_key(observation);
        if let Some(facts) = self.ctx.facts.usable(&self.key(), &observed, std::time::Instant::now()) {
            tracing::debug!("Kafka facts unchanged since the last probe; not asking again yet");
            return Gathered { needed, facts, cached: true };
        }
        Gathered { needed, facts: self.probe(observation).await, cached: false }
    }

    /// A full Kafka probe, remembered for the next reconciles.
    async fn probe(&self, observation: &Observation) -> Option<KafkaFacts> {
        let facts = match kafka_facts::gather(self.admin, self.model()).await {
            Ok(f) => Some(f),
            Err(e) => {
                info!(error = %e, "Kafka's Admin API did not answer; the roll waits");
                None
            }
        };
        self.remember(observation, facts.clone());
        facts
    }

    fn remember(&self, observation: &Observation, facts: Option<KafkaFacts>) {
        let observed = observe::observed_key(observation);
        self.ctx.facts.record(&self.key(), observed, facts, std::time::Instant::now(), self.ctx.settings.requeue_busy);
    }

    /// The planner's step on `facts`. A restart is never decided on cached facts: then Kafka is
    /// asked afresh and the planner decides again on what it says.
    async fn decide(&self, observation: Observation, gathered: Gathered) -> (Observation, Step, Option<KafkaFacts>) {
        let complete = |facts: &Option<KafkaFacts>| match facts {
            Some(f) => observe::with_kafka_facts(observation.clone(), f),
            None => observation.clone(),
        };
        let completed = complete(&gathered.facts);
        let step = roll::decide(&completed, &self.ctx.settings.roll_policy);
        if !(gathered.cached && step.restarts().is_some()) {
            return (completed, step, gathered.facts);
        }
        let fresh = self.probe(&observation).await;
        let completed = complete(&fresh);
        let step = roll::decide(&completed, &self.ctx.settings.roll_policy);
        (completed, step, fresh)
    }

    /// A refusal leaves the running cluster untouched: record it, write the status, look again soon.
    async fn refuse(&self, refusal: Refusal, known: Option<KafkaFacts>) -> Result<Requeue> {
        act::report_refusal(self.ctx, self.kc, &refusal).await;
        self.ctx.metrics.record_outcome(refusal.reason);
        let (cordoned, manual) = (cordoned_nodes(self.ctx), manual_roll_pools(self.ctx, self.model()));
        let no_restarts = BTreeSet::new();
        let observation = observe::observation(&self.inputs(&cordoned, &no_restarts, &manual));
        let metadata_level = self.facts_if_needed(&observation, known).await.facts.and_then(|f| f.metadata_level);
        write_status(self.ctx, self.kc, &self.status(&observation, &Step::Idle, Some(&refusal), metadata_level)).await?;
        Ok(Requeue::requeue(self.ctx.settings.requeue_busy))
    }

    /// Housekeeping that only runs while the roll is idle: brokers a scale-down removed stay
    /// registered in KRaft until unregistered, so unregister them once their process has stopped
    /// and their pod is gone (one DescribeCluster per idle reconcile); and raise metadata.version
    /// once every node runs the new binaries. Returns whether a removal is still pending, and the
    /// metadata.version level now active.
    /// A Kafka call that gets no answer here is an error: the caller reports it in the status.
    async fn idle_housekeeping(&self, metadata_level: Option<i16>) -> Result<(bool, Option<i16>)> {
        let names: Vec<&str> = self.pods.keys().map(String::as_str).collect();
        let removed = kafka_facts::unregister_removed_brokers(self.admin, self.model(), &names).await.map_err(ControllerError::from)?;
        let removal_pending = !removed.waiting.is_empty();
        let raised = act::upgrade_metadata_version(self.admin, self.model(), metadata_level).await?;
        Ok((removal_pending, raised.or(metadata_level)))
    }
}

/// Kafka facts for one reconcile.
struct Gathered {
    /// The observation needs Kafka's facts.
    needed: bool,
    facts: Option<KafkaFacts>,
    /// The facts are those of an earlier probe (see [`Valid::facts_if_needed`]).
    cached: bool,
}

/// Reconciles one KafkaCluster.
#[instrument(skip_all, fields(cluster = %kc.name_any(), namespace = kc.namespace().unwrap_or_default()))]
pub async fn reconcile(kc: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Requeue> {
    let _timer = ctx.operator.start_reconcile(<ClusterReason as crate::controller::reason::Reason>::KIND);
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
        ctx.facts.forget(&format!("{ns}/{name}"));
        ctx.served_certificates.forget(&ns, &name);
        ctx.operator.forget_cluster(&ns, &name);
        return Ok(Requeue::await_change());
    }
    if is_paused(kc.meta()) {
        ctx.metrics.record_outcome(ClusterReason::Paused);
        write_status(&ctx, kc.as_ref(), &status::paused(kc.status.as_ref(), generation, now)).await?;
        return Ok(Requeue::requeue(ctx.settings.resync));
    }

    // Validate and render, purely.
    let cluster_id = identity::cluster_id(&kc, &ctx).await?;
    // Node ids from the live StatefulSets first (the caches have synced: checked above), so a lost
    // status never reassigns them.
    let live_starts = identity::live_node_id_starts(&ctx, &ns, &name);
    let observed = Observed { cluster_id, node_id_starts: Observed::node_id_starts(kc.status.as_ref(), &live_starts) };
    let mut validated = match model::validate(&kc, &observed) {
        Ok(v) => v,
        Err(errors) => {
            warn!(%errors, "invalid spec; nothing applied");
            ctx.metrics.record_outcome(ClusterReason::InvalidSpec);
            write_status(&ctx, kc.as_ref(), &status::invalid(kc.status.as_ref(), generation, &errors, now)).await?;
            return Ok(Requeue::await_change());
        }
    };
    // Claims autoGrow grew keep their size: max(spec size, status.storage[].autoGrownSize).
    model::auto_grow::with_grown_sizes(&mut validated.model, kc.status.as_ref());
    let model = &validated.model;
    let objects = render::render(model)?;
    let password = identity::operator_password(model, &ctx).await?;
    let pods = cluster_pods(&ctx, &ns, &name);
    let admin = kafka_access::admin_client(&ctx, model, password.as_deref()).map_err(ControllerError::from)?;
    let storage_status = autogrow_step::reconcile(&ctx, &kc, model).await?;
    let mut valid = Valid {
        kc: &kc,
        ctx: &ctx,
        validated: &validated,
        objects: &objects,
        pods: &pods,
        admin: &*admin,
        storage: &storage_status,
        certificates: None,
        now,
    };

    // Refusals that keep the running cluster untouched.
    if let Some(refusal) = scale::security_change_refusal(&scale::running_security(&ctx, model), model)
        .or_else(|| scale::downgrade_refusal(kc.status.as_ref(), model))
        .or_else(|| scale::controller_growth_refusal(&scale::growing_controller_pools(&ctx, model)))
    {
        return valid.refuse(refusal, None).await;
    }
    let facts = match scale::check_scale_down(&ctx, &*admin, model, kc.status.as_ref()).await {
        Ok(facts) => {
            // spec.rebalance.onScale: the pods of drained brokers go once their drain has ended.
            let removed = scale_rebalance::removed_brokers(&scale::shrinking_pools(&ctx, model, kc.status.as_ref()));
            if model.rebalance_on_scale
                && !removed.is_empty()
                && let Some(refusal) = scale_rebalance::drain_finishing(&ctx, &kc, model, &removed).await?
            {
                return valid.refuse(refusal, facts).await;
            }
            facts
        }
        Err((refusal, Some(facts))) if refusal.reason == ClusterReason::ScaleDownBlocked && model.rebalance_on_scale => {
            // spec.rebalance.onScale: drain the brokers to remove instead of refusing.
            let shrinks = scale::shrinking_pools(&ctx, model, kc.status.as_ref());
            let busy = scale::busy_brokers(&shrinks, &facts);
            let refusal = scale_rebalance::drain(&ctx, &kc, model, &scale_rebalance::removed_brokers(&shrinks), &busy).await?;
            return valid.refuse(refusal, Some(facts)).await;
        }
        Err((refusal, facts)) => return valid.refuse(refusal, facts).await,
    };
    let recreating = match storage::reconcile(&ctx, &ns, &objects).await? {
        Ok(recreating) => recreating,
        Err(refusal) => return valid.refuse(refusal, facts).await,
    };

    // Apply (certificates first, so a new node's is there before its pod), clean up, and change
    // what needs no restart.
    let issued = certificates_step(&ctx, &kc, model).await?;
    crate::controller::client_config::reconcile(model, &ctx, issued.as_ref().map(|i| i.cluster_ca.clone())).await?;
    act::apply_objects(&ctx, &objects, &recreating).await?;
    let added = scale_rebalance::added_brokers(model, kc.status.as_ref());
    if model.rebalance_on_scale && !added.is_empty() {
        scale_rebalance::fill(&ctx, &kc, model, &added).await?;
    }
    act::delete_orphans(&ctx, &kc, &objects).await?;
    let cordoned = cordoned_nodes(&ctx);
    let manual = manual_roll_pools(&ctx, model);
    if !manual.is_empty() {
        act::hand_over_manual_roll(&ctx, model, &manual, &pods).await?;
    }
    let config = match dynamic::reconcile(&ctx, &kc, &*admin, model, &objects, &pods).await {
        Ok(config) => config,
        Err(e) => {
            let no_restarts = BTreeSet::new();
            let observation = observe::observation(&valid.inputs(&cordoned, &no_restarts, &manual));
            return valid.kafka_failed(e, &observation, &Step::Idle, None, None).await;
        }
    };
    let config_restarts = &config.restart;
    let reload = match &issued {
        Some(issued) => certificates::reload::reconcile(&ctx, model, &*admin, &pods, issued).await,
        None => certificates::reload::ReloadOutcome::default(),
    };
    valid.certificates = Some(issued.as_ref().map(|i| certificates::expiry::statuses(&i.expiries, &reload.pending)).unwrap_or_default());
    if !reload.reloaded.is_empty() {
        let serve = if reload.reloaded.len() == 1 { "serves its renewed certificate" } else { "serve their renewed certificates" };
        let note = format!("{} {serve}, without a restart", reload.reloaded.join(", "));
        act::publish(&ctx, &kc, EventType::Normal, (ClusterReason::CertificatesReloaded, "Reload"), note, None).await;
    }

    // Observe, and roll one step.
    let observation = observe::observation(&valid.inputs(&cordoned, config_restarts, &manual));
    let gathered = valid.facts_if_needed(&observation, facts).await;
    let (observation, step, facts) =
        if gathered.needed { valid.decide(observation, gathered).await } else { (observation, Step::Idle, gathered.facts) };
    ctx.operator.set_roll_state(&ns, &name, crate::roll::RollState::from(&step));
    act::perform(&ctx, &kc, &pods, &step).await?;
    let metadata_level = facts.as_ref().and_then(|f| f.metadata_level);
    let (removal_pending, metadata_level) = if step == Step::Idle {
        match valid.idle_housekeeping(metadata_level).await {
            Ok(done) => done,
            Err(e) => return valid.kafka_failed(e, &observation, &step, metadata_level, Some(&config)).await,
        }
    } else {
        (false, metadata_level)
    };

    let status = valid.status_with(&observation, &step, None, metadata_level, None, &config, Some(&config.tracked));
    write_status(&ctx, kc.as_ref(), &status).await?;
    ctx.metrics.record_outcome(if config.rejected.is_empty() { status::ready_reason(&step) } else { ClusterReason::ConfigRejected });
    tracing::debug!(
        api_requests = crate::controller::context::api_requests() - requests_before,
        step = ?step,
        "reconcile done"
    );
    // Pools that grow on their own look at every health refresh's usage.
    let resync = if autogrow_step::any(model) { ctx.settings.resync.min(crate::controller::health::REFRESH) } else { ctx.settings.resync };
    Ok(match step {
        Step::Idle if !removal_pending && recreating.is_empty() && reload.pending.is_empty() => Requeue::requeue(resync),
        _ => Requeue::requeue(ctx.settings.requeue_busy),
    })
}

/// The certificates step: issues what is due, or every node certificate when
/// `kafka.gregor.dev/renew-certificates=true` asks for it (the annotation is removed once the new
/// ones are written, so it acts once).
async fn certificates_step(ctx: &Context, kc: &KafkaCluster, model: &ClusterModel) -> Result<Option<certificates::Issued>> {
    let forced = crate::controller::lifecycle::annotation_true(kc.meta(), names::annotations::RENEW_CERTIFICATES);
    let renewal = if forced { certificates::Renewal::Forced } else { certificates::Renewal::AsDue };
    let issued = certificates::reconcile(model, ctx, certificates::unix_now(), renewal).await?;
    if forced {
        let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &model.namespace);
        let patch = serde_json::json!({"metadata": {"annotations": {names::annotations::RENEW_CERTIFICATES: null}}});
        api.patch(&model.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        ctx.metrics.count_write();
        info!(cluster = %model.name, "every node certificate re-issued, as asked");
    }
    Ok(issued)
}

/// After a failed reconcile: exponential backoff for transient errors, the next change for an
/// invalid object (see [`backoff`]).
pub fn error_policy(kc: Arc<KafkaCluster>, error: &ControllerError, ctx: Arc<Context>) -> Requeue {
    backoff::after_failure(&ctx, ClusterReason::KIND, kc.as_ref(), error.category(), error)
}

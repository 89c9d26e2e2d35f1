//! One KafkaRebalance reconcile: finalizer → cluster → (another running?) → propose → execute one
//! step (`balance::execute::next_step`) → status. Never waits on Kafka: it requeues.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::RebalanceContext;
use super::observe::{ObserveError, observe};
use super::proposal::{self, RequestError};
use super::status::{Facts, Verdict, status};
use super::stored_plan::{StoredMove, StoredPlan, StoredPlanError, config_map_name};
use super::throttle::{self, Throttled};
use crate::api::KafkaRebalance;
use crate::api::rebalance::{RebalancePhase, RebalanceProgress, RebalanceThrottles};
use crate::balance::execute::{Ending, Execution, HoldReason, Step, next_step};
use crate::controller::apply::FIELD_MANAGER;
use crate::controller::backoff;
use crate::controller::conditions::ROLLING;
use crate::controller::error::{ErrorCategory, kafka_category, kube_category};
use crate::controller::kafka_access::admin::Admin;
use crate::controller::kafka_access::{ConnectError, connect};
use crate::controller::lifecycle::{Lifecycle, add_finalizer, lifecycle, remove_finalizer};
use crate::controller::reason::{Reason, RebalanceReason};
use crate::controller::status_write::write_status;
use crate::kafka;

/// `kafka.gregor.dev/rebalance`: `approve`, `stop` or `refresh`.
pub const REBALANCE_ANNOTATION: &str = concat!(crate::api_group!(), "/rebalance");
/// How often a running rebalance looks at Kafka's progress.
const POLL: Duration = Duration::from_secs(5);
/// How often a waiting rebalance (for approval, a roll, another rebalance) looks again.
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum RebalanceError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("Kafka: {0}")]
    Kafka(#[from] kafka::Error),
    #[error("cannot reach the cluster: {0}")]
    Connect(#[from] ConnectError),
    #[error("the stored plan: {0}")]
    Plan(#[from] StoredPlanError),
}

impl RebalanceError {
    pub fn category(&self) -> ErrorCategory {
        match self {
            RebalanceError::Kube(e) => kube_category(e),
            RebalanceError::Kafka(e) => kafka_category(e),
            RebalanceError::Connect(e) => e.category(),
            RebalanceError::Plan(_) => ErrorCategory::Permanent,
        }
    }
}

pub fn error_policy(kr: Arc<KafkaRebalance>, error: &RebalanceError, ctx: Arc<RebalanceContext>) -> Requeue {
    backoff::after_failure(&ctx.base, RebalanceReason::KIND, kr.as_ref(), error.category(), error)
}

fn annotation(kr: &KafkaRebalance) -> Option<&str> {
    kr.meta().annotations.as_ref()?.get(REBALANCE_ANNOTATION).map(String::as_str)
}

fn running(phase: Option<RebalancePhase>) -> bool {
    matches!(phase, Some(RebalancePhase::Rebalancing | RebalancePhase::Stopping))
}

fn phase(kr: &KafkaRebalance) -> Option<RebalancePhase> {
    kr.status.as_ref().and_then(|s| s.phase)
}

/// Writes the status and counts the outcome.
async fn report(ctx: &RebalanceContext, kr: &KafkaRebalance, verdict: Verdict, facts: Facts) -> Result<(), RebalanceError> {
    let conclusion = crate::controller::conditions::Conclusion::not_ready(verdict.reason, "");
    ctx.base.metrics.record_conclusion::<RebalanceReason>(&conclusion);
    let new = status(kr.status.as_ref(), kr.meta().generation, &verdict, facts, Timestamp::now());
    Ok(write_status(&ctx.base, kr, &new).await?)
}

pub async fn reconcile(kr: Arc<KafkaRebalance>, ctx: Arc<RebalanceContext>) -> Result<Requeue, RebalanceError> {
    let ns = kr.namespace().unwrap_or_default();
    let api: Api<KafkaRebalance> = Api::namespaced(ctx.base.client.clone(), &ns);
    let cluster = ctx.clusters.get(&ObjectRef::new(&kr.spec.cluster).within(&ns));
    match lifecycle(kr.meta(), true) {
        Lifecycle::Gone => return Ok(Requeue::await_change()),
        Lifecycle::AddFinalizer => {
            add_finalizer(&api, kr.as_ref()).await?;
            return Ok(Requeue::requeue(Duration::from_millis(200)));
        }
        Lifecycle::CleanUp => {
            // Deleted: the throttles it set go with it (its moves in flight finish in Kafka).
            if let Some(t) = kr.status.as_ref().and_then(|s| s.throttles.as_ref()) {
                match connect(&ctx.base, cluster.as_deref(), &kr.spec.cluster).await {
                    Ok((_, admin)) => clear_throttles(admin.as_ref(), t).await?,
                    Err(ConnectError::NoCluster(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            remove_finalizer(&api, kr.as_ref()).await?;
            return Ok(Requeue::await_change());
        }
        Lifecycle::RemoveFinalizer | Lifecycle::Live => {}
    }
    let current = phase(&kr);
    if matches!(current, Some(RebalancePhase::Ready | RebalancePhase::Stopped))
        && kr.status.as_ref().and_then(|s| s.observed_generation) == kr.meta().generation
    {
        return Ok(Requeue::await_change());
    }
    let (model, admin) = match connect(&ctx.base, cluster.as_deref(), &kr.spec.cluster).await {
        Ok(c) => c,
        Err(e) if e.category() != ErrorCategory::Invalid && !matches!(e, ConnectError::Kafka(_)) => {
            report(&ctx, &kr, Verdict::new(current, RebalanceReason::ClusterNotReady, e.to_string()), Facts::of(kr.status.as_ref()))
                .await?;
            return Ok(Requeue::requeue(WAIT));
        }
        Err(e) => return Err(e.into()),
    };
    let rolling = cluster
        .as_ref()
        .and_then(|c| c.status.as_ref())
        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == ROLLING && c.status == "True"));

    if !running(current) {
        if let Some(other) = ctx.rebalances.state().iter().find(|o| {
            o.namespace().as_deref() == Some(ns.as_str())
                && o.spec.cluster == kr.spec.cluster
                && o.name_any() != kr.name_any()
                && running(phase(o))
        }) {
            let message = format!(
                "spec.cluster: KafkaRebalance {} is already rebalancing cluster {}; nothing moves for this one while it runs (delete this one, or wait)",
                other.name_any(),
                kr.spec.cluster
            );
            report(
                &ctx,
                &kr,
                Verdict::new(Some(RebalancePhase::Invalid), RebalanceReason::AnotherRebalanceRunning, message),
                Facts::of(kr.status.as_ref()),
            )
            .await?;
            return Ok(Requeue::requeue(WAIT));
        }
        let refresh = annotation(&kr) == Some("refresh");
        let proposed = kr.status.as_ref().is_some_and(|s| s.proposal.is_some()) && current == Some(RebalancePhase::ProposalReady);
        if !proposed || refresh {
            let expected: Vec<i32> = model.pools.iter().filter(|p| p.role.is_broker()).flat_map(|p| p.node_ids()).collect();
            return propose(&ctx, &kr, admin.as_ref(), &expected).await;
        }
    }
    execute(&ctx, &kr, admin.as_ref(), rolling).await
}

/// Computes the proposal, stores its batches, and writes it to the status. Nothing moves.
async fn propose(ctx: &RebalanceContext, kr: &KafkaRebalance, admin: &dyn Admin, expected: &[i32]) -> Result<Requeue, RebalanceError> {
    let observed = match observe(admin).await {
        Ok(o) => o,
        Err(ObserveError::Kafka(e)) => return Err(e.into()),
        Err(ObserveError::Layout(e)) => {
            report(ctx, kr, Verdict::new(None, RebalanceReason::ClusterNotReady, e.to_string()), Facts::default()).await?;
            return Ok(Requeue::requeue(WAIT));
        }
    };
    let invalid = |reason: RebalanceReason, message: String| Verdict::new(Some(RebalancePhase::Invalid), reason, message);
    let layout = match observed.layout(BTreeSet::new()) {
        Ok(l) => l,
        Err(e) => {
            report(ctx, kr, Verdict::new(None, RebalanceReason::ClusterNotReady, e.to_string()), Facts::default()).await?;
            return Ok(Requeue::requeue(WAIT));
        }
    };
    let request = match proposal::request(&kr.spec, &observed.broker_ids(), expected, &layout.partitions) {
        Ok(r) => r,
        Err(e @ RequestError::NotRegisteredYet(_)) => {
            report(ctx, kr, Verdict::new(None, RebalanceReason::ClusterNotReady, e.to_string()), Facts::default()).await?;
            return Ok(Requeue::requeue(Duration::from_secs(10)));
        }
        Err(e @ (RequestError::UnknownBrokers { .. } | RequestError::TooFewBrokersLeft { .. } | RequestError::NoBrokerLeft(_))) => {
            report(ctx, kr, invalid(RebalanceReason::InvalidSpec, e.to_string()), Facts::default()).await?;
            return Ok(Requeue::requeue(WAIT));
        }
    };
    let layout = crate::balance::ClusterLayout { drain: request.drain.clone(), ..layout };
    let goals = proposal::goals(&kr.spec);
    let plan = match crate::balance::plan(&layout, &goals) {
        Ok(p) => p,
        Err(e) => {
            report(ctx, kr, invalid(RebalanceReason::InvalidSpec, e.to_string()), Facts::default()).await?;
            return Ok(Requeue::requeue(WAIT));
        }
    };
    let plan = match &request.only_onto {
        Some(targets) => proposal::restrict(plan, &layout, &goals, targets),
        None => plan,
    };
    if let Some(why) = proposal::drain_unmet(&plan) {
        let message = format!("spec.brokers: the brokers to remove cannot be emptied: {why}");
        report(ctx, kr, invalid(RebalanceReason::GoalUnreachable, message), Facts::default()).await?;
        return Ok(Requeue::requeue(WAIT));
    }
    let cm_name = config_map_name(&kr.name_any());
    let summary = proposal::proposal(&plan, &cm_name);
    if plan.is_empty() {
        let facts = Facts { proposal: Some(summary), ..Facts::default() };
        report(
            ctx,
            kr,
            Verdict::new(Some(RebalancePhase::Ready), RebalanceReason::NothingToMove, "the cluster is balanced: nothing to move"),
            facts,
        )
        .await?;
        return Ok(Requeue::await_change());
    }
    let stored = StoredPlan::from_plan(&plan);
    let owner = OwnerReference {
        api_version: KafkaRebalance::api_version(&()).into_owned(),
        kind: KafkaRebalance::kind(&()).into_owned(),
        name: kr.name_any(),
        uid: kr.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let ns = kr.namespace().unwrap_or_default();
    let cm = match stored.config_map(&cm_name, &ns, &kr.spec.cluster, owner) {
        Ok(cm) => cm,
        Err(e) => {
            report(ctx, kr, invalid(RebalanceReason::GoalUnreachable, e.to_string()), Facts::default()).await?;
            return Ok(Requeue::requeue(WAIT));
        }
    };
    let cms: Api<ConfigMap> = Api::namespaced(ctx.base.client.clone(), &ns);
    cms.patch(&cm_name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&cm)).await?;
    ctx.base.metrics.count_write();
    info!(rebalance = %kr.name_any(), moves = plan.moves.len(), batches = plan.batches.len(), reorders = plan.leader_reorders.len(), "proposal ready");
    let message = format!(
        "proposal ready: {} partition moves ({} replicas, lower bound {}) in {} batches; approve with {REBALANCE_ANNOTATION}=approve",
        summary.moves, summary.replicas_moved, summary.replicas_moved_lower_bound, summary.batches
    );
    let facts = Facts { proposal: Some(summary), progress: Some(RebalanceProgress::default()), throttles: None };
    report(ctx, kr, Verdict::new(Some(RebalancePhase::ProposalReady), RebalanceReason::AwaitingApproval, message), facts).await?;
    Ok(Requeue::requeue(Duration::from_secs(1)))
}

fn throttled_of(t: &RebalanceThrottles) -> Throttled {
    Throttled { brokers: t.brokers.iter().copied().collect(), topics: t.topics.iter().cloned().collect() }
}

fn throttles_of(t: &Throttled) -> RebalanceThrottles {
    RebalanceThrottles { brokers: t.brokers.iter().copied().collect(), topics: t.topics.iter().cloned().collect() }
}

async fn alter_configs(admin: &dyn Admin, alts: &[kafka::ops::configs::ConfigAlteration]) -> Result<(), kafka::Error> {
    for outcome in admin.incremental_alter_configs(alts, false).await? {
        outcome.result?;
    }
    Ok(())
}

/// Removes the throttles; a broker that has left the cluster meanwhile (a drained broker of a
/// scale-down) is skipped: Kafka cannot be asked about it any more.
async fn clear_throttles(admin: &dyn Admin, t: &RebalanceThrottles) -> Result<(), kafka::Error> {
    let registered: BTreeSet<i32> = admin.describe_cluster().await?.brokers.iter().map(|b| b.id).collect();
    let mut throttled = throttled_of(t);
    let gone: Vec<i32> = throttled.brokers.iter().copied().filter(|b| !registered.contains(b)).collect();
    if !gone.is_empty() {
        warn!(brokers = ?gone, "brokers left the cluster before their throttles were removed");
        throttled.brokers.retain(|b| registered.contains(b));
    }
    alter_configs(admin, &throttle::clear(&throttled)).await
}

fn kafka_partition(m: &StoredMove) -> kafka::TopicPartition {
    kafka::TopicPartition { topic: m.topic.clone(), partition: m.partition }
}

/// Sends reassignments; a partition deleted meanwhile is skipped, any other refusal fails.
async fn reassign(admin: &dyn Admin, moves: &[StoredMove]) -> Result<(), kafka::Error> {
    let items: Vec<_> = moves.iter().map(|m| (kafka_partition(m), Some(m.to.clone()))).collect();
    for (tp, result) in admin.alter_partition_reassignments(&items).await? {
        match result {
            Err(e) if e.kafka_code() == Some(kafka::ResponseError::UnknownTopicOrPartition) => {
                warn!(partition = %tp, "partition gone; not moved")
            }
            other => other?,
        }
    }
    Ok(())
}

/// One step of an approved (or stopped) plan.
async fn execute(ctx: &RebalanceContext, kr: &KafkaRebalance, admin: &dyn Admin, rolling: bool) -> Result<Requeue, RebalanceError> {
    let ns = kr.namespace().unwrap_or_default();
    let mut facts = Facts::of(kr.status.as_ref());
    let cm_name = facts.proposal.as_ref().map(|p| p.plan_config_map.clone()).unwrap_or_else(|| config_map_name(&kr.name_any()));
    let cms: Api<ConfigMap> = Api::namespaced(ctx.base.client.clone(), &ns);
    let plan = StoredPlan::read(&cms.get(&cm_name).await?)?;
    let progress = facts.progress.clone().unwrap_or_default();
    let in_flight = progress.batch_in_flight.and_then(|b| usize::try_from(b).ok());
    let ongoing: BTreeSet<kafka::TopicPartition> =
        admin.list_partition_reassignments(None).await?.into_iter().map(|o| o.partition).collect();
    let batch_partitions: BTreeSet<kafka::TopicPartition> =
        in_flight.and_then(|b| plan.batches.get(b)).map(|b| b.iter().map(kafka_partition).collect()).unwrap_or_default();
    let approved = kr.spec.auto_approve || annotation(kr) == Some("approve");
    let view = Execution {
        approved,
        stop_asked: annotation(kr) == Some("stop"),
        batches: plan.batches.len(),
        batches_done: usize::try_from(progress.batches_done).unwrap_or(0),
        batch_in_flight: in_flight,
        still_moving: ongoing.intersection(&batch_partitions).count(),
        foreign_moving: ongoing.difference(&batch_partitions).count(),
        cluster_rolling: rolling,
        leaders_elected: progress.leaders_elected,
        throttles_recorded: facts.throttles.is_some(),
    };
    let step = next_step(&view);
    let total = plan.batches.len();
    let rebalancing = |reason, message: String| Verdict::new(Some(RebalancePhase::Rebalancing), reason, message);
    let stopping = view.stop_asked;
    let running_phase = if stopping { RebalancePhase::Stopping } else { RebalancePhase::Rebalancing };
    match step {
        Step::AwaitApproval => {
            let message = format!("waiting for approval: annotate {REBALANCE_ANNOTATION}=approve to run {total} batches");
            report(ctx, kr, Verdict::new(Some(RebalancePhase::ProposalReady), RebalanceReason::AwaitingApproval, message), facts).await?;
            Ok(Requeue::requeue(WAIT))
        }
        Step::AwaitBatch { batch, moving } => {
            let reason = if stopping { RebalanceReason::Stopping } else { RebalanceReason::Rebalancing };
            let message = format!("batch {} of {total}: {moving} partition(s) still moving", batch + 1);
            report(ctx, kr, Verdict::new(Some(running_phase), reason, message), facts).await?;
            Ok(Requeue::requeue(POLL))
        }
        Step::RecordBatchDone { batch } => {
            facts.progress = Some(RebalanceProgress { batches_done: batch as i64 + 1, batch_in_flight: None, ..progress });
            info!(rebalance = %kr.name_any(), batch = batch + 1, total, "batch done");
            let reason = if stopping { RebalanceReason::Stopping } else { RebalanceReason::Rebalancing };
            report(ctx, kr, Verdict::new(Some(running_phase), reason, format!("{} of {total} batches done", batch + 1)), facts).await?;
            Ok(Requeue::requeue(Duration::from_millis(200)))
        }
        Step::Submit { batch } => {
            let moves = plan.batches.get(batch).cloned().unwrap_or_default();
            // Record the throttles before setting them, so that a crash in between still clears them.
            let recorded = facts.throttles.as_ref().map(throttled_of).unwrap_or_default().union(&Throttled::of(&moves));
            facts.throttles = Some(throttles_of(&recorded));
            report(ctx, kr, rebalancing(RebalanceReason::Rebalancing, format!("starting batch {} of {total}", batch + 1)), facts.clone())
                .await?;
            if let Err(e) = alter_configs(admin, &throttle::set_for_batch(&moves, proposal::throttle(&kr.spec))).await {
                return refused(ctx, kr, facts, "setting the replication throttles", e).await;
            }
            if let Err(e) = reassign(admin, &moves).await {
                return refused(ctx, kr, facts, "starting the reassignments", e).await;
            }
            info!(rebalance = %kr.name_any(), batch = batch + 1, total, moves = moves.len(), "batch submitted");
            facts.progress = Some(RebalanceProgress { batch_in_flight: Some(batch as i64), ..progress });
            report(
                ctx,
                kr,
                rebalancing(
                    RebalanceReason::Rebalancing,
                    format!("batch {} of {total} submitted: {} partition moves", batch + 1, moves.len()),
                ),
                facts,
            )
            .await?;
            Ok(Requeue::requeue(POLL))
        }
        Step::Hold(why) => {
            let (reason, message) = match why {
                HoldReason::ClusterRolling => {
                    (RebalanceReason::WaitingForRoll, "the cluster is rolling: the next batch waits for the roll to end".to_owned())
                }
                HoldReason::ForeignReassignment => (
                    RebalanceReason::ForeignReassignment,
                    format!("Kafka lists {} reassignment(s) this plan did not start: the next batch waits for them", view.foreign_moving),
                ),
            };
            report(ctx, kr, rebalancing(reason, message), facts).await?;
            Ok(Requeue::requeue(Duration::from_secs(10)))
        }
        Step::ElectLeaders => {
            if !plan.reorders.is_empty() {
                if let Err(e) = reassign(admin, &plan.reorders).await {
                    return refused(ctx, kr, facts, "reordering replicas", e).await;
                }
                let reordered: Vec<kafka::TopicPartition> = plan.reorders.iter().map(kafka_partition).collect();
                if !admin.list_partition_reassignments(Some(&reordered)).await?.is_empty() {
                    return Ok(Requeue::requeue(Duration::from_secs(1)));
                }
            }
            let partitions: Vec<kafka::TopicPartition> =
                plan.batches.iter().flatten().chain(plan.reorders.iter()).map(kafka_partition).collect();
            let results = admin.elect_preferred_leaders(Some(&partitions)).await?;
            let failed: Vec<String> = results.iter().filter(|(_, r)| r.is_err()).map(|(tp, _)| tp.to_string()).collect();
            if !failed.is_empty() {
                // The preferred replica not in the ISR yet (a follower catching up): the
                // election is asked again shortly.
                warn!(rebalance = %kr.name_any(), count = failed.len(), first = %failed[0], "preferred leader election incomplete; retrying");
                report(
                    ctx,
                    kr,
                    rebalancing(RebalanceReason::Rebalancing, format!("electing preferred leaders: {} partition(s) not yet", failed.len())),
                    facts,
                )
                .await?;
                return Ok(Requeue::requeue(POLL));
            }
            facts.progress = Some(RebalanceProgress { leaders_elected: true, ..progress });
            report(ctx, kr, rebalancing(RebalanceReason::Rebalancing, "preferred leaders elected; removing throttles".to_owned()), facts)
                .await?;
            Ok(Requeue::requeue(Duration::from_millis(200)))
        }
        Step::ClearThrottles(ending) => {
            if let Some(t) = &facts.throttles
                && let Err(e) = clear_throttles(admin, t).await
            {
                return refused(ctx, kr, facts, "removing the replication throttles", e).await;
            }
            facts.throttles = None;
            finish(ctx, kr, facts, ending, total).await
        }
        Step::Finish(ending) => finish(ctx, kr, facts, ending, total).await,
    }
}

async fn finish(
    ctx: &RebalanceContext,
    kr: &KafkaRebalance,
    facts: Facts,
    ending: Ending,
    total: usize,
) -> Result<Requeue, RebalanceError> {
    let done = facts.progress.as_ref().map_or(0, |p| p.batches_done);
    let verdict = match ending {
        Ending::Completed => Verdict::new(
            Some(RebalancePhase::Ready),
            RebalanceReason::Completed,
            format!("{total} batches done, preferred leaders elected, throttles removed"),
        ),
        Ending::Stopped => Verdict::new(
            Some(RebalancePhase::Stopped),
            RebalanceReason::Stopped,
            format!("stopped on request after {done} of {total} batches; throttles removed; create a new KafkaRebalance to go on"),
        ),
    };
    info!(rebalance = %kr.name_any(), ?ending, "rebalance ended");
    report(ctx, kr, verdict, facts).await?;
    Ok(Requeue::await_change())
}

/// Kafka refused a step: a retriable refusal is retried; any other stalls the rebalance with
/// what Kafka said (the throttles stay recorded, so a delete or stop removes them).
async fn refused(
    ctx: &RebalanceContext,
    kr: &KafkaRebalance,
    facts: Facts,
    what: &str,
    e: kafka::Error,
) -> Result<Requeue, RebalanceError> {
    if e.is_retriable() {
        return Err(e.into());
    }
    let message = format!("{what}: Kafka refused: {e}");
    warn!(rebalance = %kr.name_any(), %message);
    let phase = facts.throttles.as_ref().map(|_| RebalancePhase::Rebalancing);
    report(ctx, kr, Verdict::new(phase, RebalanceReason::KafkaRejected, message), facts).await?;
    Ok(Requeue::requeue(WAIT))
}

//! One KafkaTopic reconcile: finalizer → detach / conflict → cluster → validate → describe →
//! plan → act → status.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::{info, instrument, warn};

use super::TopicContext;
use super::conflict::{Claim, claimed_by_another, held_by};
use super::kafka_ops::{DescribeTopic, TopicOps};
use super::plan::{Outcome, TopicPlan, plan, replication_factor};
use super::status::{TopicFacts, conclusion, status};
use crate::api::KafkaTopic;
use crate::api::topic::{DeletionPolicy, KafkaTopicStatus};
use crate::controller::backoff;
use crate::controller::conditions::{self, Conclusion};
use crate::controller::error::{ErrorCategory, kube_category};
use crate::controller::kafka_access::calls::OpError;
use crate::controller::kafka_access::{ConnectError, connect};
use crate::controller::lifecycle::{Lifecycle, MANAGED_ANNOTATION, add_finalizer, is_managed, is_paused, lifecycle, remove_finalizer};
use crate::controller::reason::{Reason, TopicReason};
use crate::controller::status_write::write_status;
use crate::controller::watch::RECHECK;
use crate::kafka::ResponseError;
use crate::kafka::ops::topics::CreatedTopic;
use crate::model::topic::{TopicDefaults, desired_topic, topic_name};

/// What can fail in a topic reconcile; retried with backoff by [`error_policy`].
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot reach cluster {cluster} to delete topic {topic}: {source}")]
    Connect {
        cluster: String,
        topic: String,
        #[source]
        source: ConnectError,
    },
    #[error("deleting topic {topic}: {source}")]
    Delete {
        topic: String,
        #[source]
        source: OpError,
    },
}

impl TopicError {
    /// How `error_policy` retries it.
    pub fn category(&self) -> ErrorCategory {
        match self {
            TopicError::Kube(e) => kube_category(e),
            TopicError::Connect { source, .. } => source.category(),
            TopicError::Delete { source, .. } => source.category(),
        }
    }
}

fn claim(kt: &KafkaTopic) -> Claim {
    let name = kt.name_any();
    Claim {
        namespace: kt.namespace().unwrap_or_default(),
        topic: topic_name(&name, &kt.spec).to_owned(),
        resource: name,
        cluster: kt.spec.cluster.clone(),
        created: kt.meta().creation_timestamp.as_ref().map(|t| t.0),
        released: kt.meta().deletion_timestamp.is_some() || !is_managed(kt.meta()),
    }
}

/// Every resource's claim on `me`'s topic (filtered before building claims: the store may hold
/// thousands of topics).
fn claims_on(ctx: &TopicContext, me: &Claim) -> Vec<Claim> {
    ctx.topics
        .state()
        .iter()
        .filter(|t| t.spec.cluster == me.cluster && topic_name(t.metadata.name.as_deref().unwrap_or_default(), &t.spec) == me.topic)
        .filter(|t| t.metadata.namespace.as_deref() == Some(me.namespace.as_str()))
        .map(|t| claim(t))
        .collect()
}

/// Writes a Ready conclusion that says nothing new about the topic itself.
async fn report(kt: &KafkaTopic, ctx: &TopicContext, conclusion: Conclusion) -> Result<(), TopicError> {
    ctx.base.metrics.record_conclusion::<TopicReason>(&conclusion);
    Ok(write_status(&ctx.base, kt, &status(kt.status.as_ref(), kt.meta().generation, conclusion, None, Timestamp::now())).await?)
}

/// Carries out a plan; returns what creation reported, if it created the topic.
async fn act(ops: &TopicOps, topic: &str, plan: &TopicPlan) -> Result<Option<CreatedTopic>, OpError> {
    if let Some(new) = &plan.create {
        let created = ops.create(new.clone()).await?;
        info!(topic, partitions = created.partitions, replicas = created.replication_factor, "created");
        return Ok(Some(created));
    }
    if !plan.set_config.is_empty() {
        info!(topic, changes = ?plan.set_config, "setting config");
        ops.set_config(topic, plan.set_config.clone()).await?;
    }
    if let Some(n) = plan.grow_to {
        info!(topic, partitions = n, "adding partitions");
        ops.grow(topic, n).await?;
    }
    if !plan.reassign.is_empty() {
        info!(topic, partitions = plan.reassign.len(), "reassigning replicas");
        ops.reassign(topic, plan.reassign.clone()).await?;
    }
    Ok(None)
}

/// Deletes the topic in Kafka when the resource owned it and asks for it.
async fn clean_up(kt: &KafkaTopic, ctx: &TopicContext) -> Result<(), TopicError> {
    let me = claim(kt);
    if !is_managed(kt.meta()) || kt.spec.deletion_policy == Some(DeletionPolicy::Retain) {
        info!(topic = %me.topic, "resource deleted; the topic stays in Kafka");
        return Ok(());
    }
    if claimed_by_another(&me, &claims_on(ctx, &me)) {
        info!(topic = %me.topic, "resource deleted; another KafkaTopic holds the topic, which stays");
        return Ok(());
    }
    let ns = kt.namespace().unwrap_or_default();
    let kc = ctx.clusters.get(&ObjectRef::new(&kt.spec.cluster).within(&ns));
    if kc.as_ref().is_none_or(|kc| kc.meta().deletion_timestamp.is_some()) {
        info!(topic = %me.topic, cluster = %kt.spec.cluster, "the cluster is gone or going; nothing to delete");
        return Ok(());
    }
    let (_, client) = match connect(&ctx.base, kc.as_deref(), &kt.spec.cluster).await {
        Ok(v) => v,
        Err(ConnectError::NoCluster(_) | ConnectError::NotInitialised(_)) => return Ok(()),
        Err(source) => return Err(TopicError::Connect { cluster: kt.spec.cluster.clone(), topic: me.topic, source }),
    };
    let ops = ctx.ops.get(&format!("{ns}/{}", kt.spec.cluster), &client);
    ops.delete(&me.topic).await.map_err(|source| TopicError::Delete { topic: me.topic.clone(), source })?;
    info!(topic = %me.topic, "deleted in Kafka");
    Ok(())
}

/// Reconciles one KafkaTopic.
#[instrument(skip_all, fields(topic = %kt.name_any(), namespace = kt.namespace().unwrap_or_default()))]
pub async fn reconcile(kt: Arc<KafkaTopic>, ctx: Arc<TopicContext>) -> Result<Requeue, TopicError> {
    let _timer = ctx.base.operator.start_reconcile(<TopicReason as crate::controller::reason::Reason>::KIND);
    let result = reconcile_steps(kt.clone(), ctx.clone()).await;
    backoff::record(&ctx.base, kt.as_ref(), &result);
    result
}

async fn reconcile_steps(kt: Arc<KafkaTopic>, ctx: Arc<TopicContext>) -> Result<Requeue, TopicError> {
    ctx.base.metrics.reconciles.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ctx.topics.wait_until_ready().await.ok();
    ctx.clusters.wait_until_ready().await.ok();
    let ns = kt.namespace().unwrap_or_default();
    let name = kt.name_any();
    let api: Api<KafkaTopic> = Api::namespaced(ctx.base.client.clone(), &ns);
    let managed = is_managed(kt.meta());
    let wants_finalizer = managed && kt.spec.deletion_policy != Some(DeletionPolicy::Retain);
    let paused = is_paused(kt.meta());
    if paused && kt.meta().deletion_timestamp.is_none() {
        let previous = kt.status.clone().unwrap_or_default();
        ctx.base.metrics.record_outcome(TopicReason::Paused);
        let conditions = conditions::paused(&previous.conditions, TopicReason::Paused, kt.meta().generation, Timestamp::now());
        write_status(&ctx.base, kt.as_ref(), &KafkaTopicStatus { conditions, ..previous }).await?;
        return Ok(Requeue::await_change());
    }
    match lifecycle(kt.meta(), wants_finalizer) {
        Lifecycle::CleanUp if paused => {
            info!(topic = %topic_name(&name, &kt.spec), "resource deleted while paused; the topic stays in Kafka");
            remove_finalizer(&api, kt.as_ref()).await?;
            return Ok(Requeue::await_change());
        }
        Lifecycle::CleanUp => {
            clean_up(&kt, &ctx).await?;
            remove_finalizer(&api, kt.as_ref()).await?;
            return Ok(Requeue::await_change());
        }
        Lifecycle::Gone => return Ok(Requeue::await_change()),
        Lifecycle::AddFinalizer => add_finalizer(&api, kt.as_ref()).await?,
        Lifecycle::RemoveFinalizer => remove_finalizer(&api, kt.as_ref()).await?,
        Lifecycle::Live => {}
    }
    let topic = topic_name(&name, &kt.spec).to_owned();
    if !managed {
        report(&kt, &ctx, Conclusion::ready(TopicReason::Unmanaged, format!("{MANAGED_ANNOTATION}=false: topic {topic} is not touched")))
            .await?;
        return Ok(Requeue::await_change());
    }
    if kt.status.is_none() {
        // The first status write comes at once, so kstatus never reads a new topic as Current.
        report(&kt, &ctx, Conclusion::not_ready(TopicReason::Reconciling, format!("topic {topic} is being set up"))).await?;
    }
    let me = claim(&kt);
    if let Some(holder) = held_by(&me, &claims_on(&ctx, &me)) {
        let message =
            format!("topic {topic} of cluster {} is already managed by the older KafkaTopic {}", kt.spec.cluster, holder.resource);
        report(&kt, &ctx, Conclusion::not_ready(TopicReason::ResourceConflict, message)).await?;
        return Ok(Requeue::requeue(RECHECK));
    }

    let kc = ctx.clusters.get(&ObjectRef::new(&kt.spec.cluster).within(&ns));
    let (model, client) = match connect(&ctx.base, kc.as_deref(), &kt.spec.cluster).await {
        Ok(v) => v,
        Err(e) => {
            report(&kt, &ctx, Conclusion::not_ready(TopicReason::ClusterNotReady, e.to_string())).await?;
            return Ok(Requeue::requeue(RECHECK));
        }
    };
    let defaults = TopicDefaults { replication_factor: model.replication.replication_factor, brokers: model.broker_count() };
    let desired = match desired_topic(&name, &kt.spec, &defaults) {
        Ok(d) => d,
        Err(errors) => {
            warn!(%errors, "invalid spec");
            report(&kt, &ctx, Conclusion::not_ready(TopicReason::InvalidSpec, errors.to_string())).await?;
            return Ok(Requeue::await_change());
        }
    };
    let ops = ctx.ops.get(&format!("{ns}/{}", kt.spec.cluster), &client);
    let request = DescribeTopic {
        name: topic.clone(),
        keys: desired.config.keys().cloned().collect(),
        replicas: desired.replicas,
        with_reassignments: kt.status.as_ref().is_some_and(|s| s.reassignment.is_some()),
    };
    let described = match ops.describe(request).await {
        Ok(d) => d,
        Err(e) => {
            report(&kt, &ctx, Conclusion::not_ready(TopicReason::KafkaUnavailable, format!("describing topic {topic}: {e}"))).await?;
            return Ok(Requeue::requeue(RECHECK));
        }
    };
    let plan = plan(&desired, &described);
    let created = match act(&ops, &topic, &plan).await {
        Ok(created) => created,
        Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => return Ok(Requeue::requeue(std::time::Duration::from_secs(1))),
        Err(e) if e.is_retriable() => {
            report(&kt, &ctx, Conclusion::not_ready(TopicReason::KafkaUnavailable, format!("topic {topic}: {e}"))).await?;
            return Ok(Requeue::requeue(RECHECK));
        }
        Err(e) => {
            report(&kt, &ctx, Conclusion::not_ready(TopicReason::KafkaRejected, format!("Kafka refused the change of topic {topic}: {e}")))
                .await?;
            return Ok(Requeue::requeue(ctx.base.settings.resync));
        }
    };
    let facts = match (&created, &described.topic) {
        (Some(c), _) => TopicFacts {
            topic_name: topic.clone(),
            topic_id: Some(c.topic_id.to_string()),
            partitions: Some(c.partitions),
            replicas: Some(i32::from(c.replication_factor)),
            reassignment: None,
        },
        (None, Some(t)) => TopicFacts {
            topic_name: topic.clone(),
            topic_id: Some(t.id.clone()),
            partitions: Some(plan.grow_to.unwrap_or(t.partitions.len() as i32)),
            replicas: replication_factor(t),
            reassignment: match &plan.outcome {
                Outcome::Reassigning(p) => Some(p.clone()),
                _ => None,
            },
        },
        (None, None) => TopicFacts { topic_name: topic.clone(), ..TopicFacts::default() },
    };
    let conclusion = conclusion(&plan.outcome, &facts);
    ctx.base.metrics.record_conclusion::<TopicReason>(&conclusion);
    write_status(&ctx.base, kt.as_ref(), &status(kt.status.as_ref(), kt.meta().generation, conclusion, Some(facts), Timestamp::now()))
        .await?;
    Ok(match plan.outcome {
        Outcome::Ready | Outcome::Creating | Outcome::PartitionDecrease { .. } => Requeue::requeue(ctx.base.settings.resync),
        Outcome::Settling | Outcome::Growing | Outcome::Reassigning(_) | Outcome::WaitingForBrokers { .. } => {
            Requeue::requeue(ctx.base.settings.requeue_busy)
        }
    })
}

/// After a failed reconcile: exponential backoff for transient errors, the next change for an
/// invalid object (see [`backoff`]).
pub fn error_policy(kt: Arc<KafkaTopic>, error: &TopicError, ctx: Arc<TopicContext>) -> Requeue {
    backoff::after_failure(&ctx.base, TopicReason::KIND, kt.as_ref(), error.category(), error)
}

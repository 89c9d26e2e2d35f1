//! The KafkaTopic controller: the resource is the source of truth for its topic in Kafka.
//!
//! - `plan` (pure) compares the desired topic with what Kafka holds and lists the actions;
//! - `kafka_ops` sends them, batched across every topic of a cluster by `batcher`;
//! - `reconcile` is the thin wiring: finalizer, conflicts, cluster, plan, act, status.

pub mod batcher;
pub mod conflict;
pub mod kafka_ops;
pub mod lifecycle;
pub mod plan;
mod reconcile;
pub mod status;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Config as WatchConfig};
use kube::runtime::{Controller, WatchStreamExt};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use crate::api::{KafkaCluster, KafkaTopic};
use crate::controller::conditions::READY;
use crate::controller::context::Context;
use kafka_ops::TopicOpsRegistry;
pub use reconcile::{TopicError, error_policy, reconcile};

/// Reconciles running at once. Their Kafka calls are batched, so more concurrency means bigger
/// batches, up to what the API server takes in status writes.
pub const CONCURRENCY: u16 = 256;
/// How often a resource in conflict, or waiting for its cluster, looks again.
pub const RECHECK: Duration = Duration::from_secs(10);

/// Shared state of the topic reconciler.
pub struct TopicContext {
    pub base: Arc<Context>,
    pub clusters: Store<KafkaCluster>,
    pub topics: Store<KafkaTopic>,
    pub ops: TopicOpsRegistry,
}

pub(crate) fn namespaced_api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What about a KafkaCluster matters to its topics and users: being there, its id and readiness.
fn cluster_trigger_hash(kc: &KafkaCluster) -> Option<u64> {
    let mut h = DefaultHasher::new();
    kc.metadata.uid.hash(&mut h);
    kc.metadata.generation.hash(&mut h);
    let status = kc.status.as_ref();
    status.and_then(|s| s.cluster_id.as_deref()).hash(&mut h);
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY)).map(|c| c.status.as_str()).hash(&mut h);
    Some(h.finish())
}

/// A KafkaCluster cache, and the stream of the changes that concern its topics and users.
pub fn cluster_watch(
    client: &kube::Client,
    namespace: Option<&str>,
) -> (Store<KafkaCluster>, impl Stream<Item = Result<KafkaCluster, watcher::Error>> + Send + 'static) {
    let (store, writer) = reflector::store::<KafkaCluster>();
    let stream = reflector::reflector(writer, watcher::watcher(namespaced_api::<KafkaCluster>(client, namespace), WatchConfig::default()))
        .default_backoff()
        .applied_objects()
        .predicate_filter(cluster_trigger_hash, Default::default());
    (store, stream)
}

fn topics_of(topics: &Store<KafkaTopic>, kc: &KafkaCluster) -> Vec<ObjectRef<KafkaTopic>> {
    let ns = kc.namespace();
    let name = kc.name_any();
    topics.state().iter().filter(|t| t.namespace() == ns && t.spec.cluster == name).map(|t| ObjectRef::from_obj(t.as_ref())).collect()
}

/// Runs the KafkaTopic controller until a shutdown signal.
pub async fn run(client: kube::Client, base: Arc<Context>, namespace: Option<String>) {
    let ns = namespace.as_deref();
    let (topics, writer) = reflector::store::<KafkaTopic>();
    let topic_stream = reflector::reflector(writer, watcher::watcher(namespaced_api::<KafkaTopic>(&client, ns), WatchConfig::default()))
        .default_backoff()
        .applied_objects()
        .predicate_filter(lifecycle::trigger_hash, Default::default());
    let (clusters, cluster_stream) = cluster_watch(&client, ns);
    let ctx = Arc::new(TopicContext { base, clusters, topics: topics.clone(), ops: TopicOpsRegistry::default() });
    let by_cluster = topics.clone();
    Controller::for_stream(topic_stream, topics)
        .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
        .watches_stream(cluster_stream, move |kc: KafkaCluster| topics_of(&by_cluster, &kc))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(topic = %obj.name, "reconciled"),
                Err(e) => warn!(error = %e, "topic reconcile error"),
            }
        })
        .await;
}

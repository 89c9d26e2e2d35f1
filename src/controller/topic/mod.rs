//! The KafkaTopic controller: the resource is the source of truth for its topic in Kafka.
//!
//! - `plan` (pure) compares the desired topic with what Kafka holds and lists the actions;
//! - `kafka_ops` sends them, batched across every topic of a cluster by `batcher`;
//! - `reconcile` is the thin wiring: finalizer, conflicts, cluster, plan, act, status.

pub mod conflict;
pub mod kafka_ops;
pub mod plan;
mod reconcile;
pub mod status;

use std::sync::Arc;

use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Config as WatchConfig};
use kube::runtime::{Controller, WatchStreamExt};
use tracing::{debug, warn};

use crate::api::{KafkaCluster, KafkaTopic};
use crate::controller::context::Context;
/// The life cycle moved to [`crate::controller::lifecycle`]; this path stays for existing callers.
pub use crate::controller::lifecycle;
use crate::controller::watch::{CONCURRENCY, cluster_watch, namespaced_api};
use kafka_ops::TopicOpsRegistry;
pub use reconcile::{TopicError, error_policy, reconcile};

/// Shared state of the topic reconciler.
pub struct TopicContext {
    pub base: Arc<Context>,
    pub clusters: Store<KafkaCluster>,
    pub topics: Store<KafkaTopic>,
    pub ops: TopicOpsRegistry,
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

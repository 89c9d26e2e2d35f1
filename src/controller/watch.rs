//! Watch plumbing the controllers share: the API handle for one namespace or all, the
//! KafkaCluster watch that drives the topic and user controllers, and their concurrency.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use futures::Stream;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Config as WatchConfig};
use serde::de::DeserializeOwned;

use crate::api::KafkaCluster;
use crate::controller::conditions::READY;

/// Reconciles of topics (or users) running at once. Their Kafka calls are batched, so more
/// concurrency means bigger batches, up to what the API server takes in status writes.
pub const CONCURRENCY: u16 = 256;
/// How often a resource in conflict, or waiting for its cluster, looks again.
pub const RECHECK: Duration = Duration::from_secs(10);

/// The API of a namespaced kind in `namespace`, or in every namespace.
pub fn namespaced_api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
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

//! The KafkaRebalance controller: proposes a plan (`balance::plan`), waits for approval, and
//! carries it out in throttled batches through Kafka's reassignment API, one step per reconcile
//! (`balance::execute::next_step`).
//!
//! - `observe` reads the layout from Kafka; `proposal` (pure) turns it and the spec into the
//!   planner's input and the plan into the status' proposal;
//! - `stored_plan` keeps the batches in a ConfigMap, so a restart resumes the same plan;
//! - `throttle` (pure) builds the replication throttles; `status` (pure) the conditions;
//! - `reconcile` is the wiring.

mod observe;
pub mod proposal;
mod reconcile;
pub mod status;
pub mod stored_plan;
pub mod throttle;

use std::sync::Arc;

use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Config as WatchConfig};
use kube::runtime::{Controller, WatchStreamExt};
use tracing::{debug, warn};

use crate::api::{KafkaCluster, KafkaRebalance};
use crate::controller::context::Context;
use crate::controller::watch::{cluster_watch, namespaced_api};
pub use reconcile::{REBALANCE_ANNOTATION, RebalanceError, error_policy, reconcile};

/// Shared state of the rebalance reconciler.
pub struct RebalanceContext {
    pub base: Arc<Context>,
    pub clusters: Store<KafkaCluster>,
    pub rebalances: Store<KafkaRebalance>,
}

/// A reconcile for a spec change, a deletion, or a change of the rebalance annotation; the
/// status writes of the reconciler itself do not trigger one (progress comes from the requeue).
fn trigger_hash(kr: &KafkaRebalance) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    crate::controller::lifecycle::trigger_hash(kr).hash(&mut h);
    kr.metadata.annotations.as_ref().and_then(|a| a.get(REBALANCE_ANNOTATION)).hash(&mut h);
    Some(h.finish())
}

fn rebalances_of(store: &Store<KafkaRebalance>, kc: &KafkaCluster) -> Vec<ObjectRef<KafkaRebalance>> {
    let ns = kc.namespace();
    let name = kc.name_any();
    store.state().iter().filter(|r| r.namespace() == ns && r.spec.cluster == name).map(|r| ObjectRef::from_obj(r.as_ref())).collect()
}

/// Runs the KafkaRebalance controller until a shutdown signal.
pub async fn run(client: kube::Client, base: Arc<Context>, namespace: Option<String>) {
    let ns = namespace.as_deref();
    let (rebalances, writer) = reflector::store::<KafkaRebalance>();
    let stream = reflector::reflector(writer, watcher::watcher(namespaced_api::<KafkaRebalance>(&client, ns), WatchConfig::default()))
        .default_backoff()
        .applied_objects()
        .predicate_filter(trigger_hash, Default::default());
    let (clusters, cluster_stream) = cluster_watch(&client, ns);
    let ctx = Arc::new(RebalanceContext { base, clusters, rebalances: rebalances.clone() });
    let by_cluster = rebalances.clone();
    Controller::for_stream(stream, rebalances)
        .watches_stream(cluster_stream, move |kc: KafkaCluster| rebalances_of(&by_cluster, &kc))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(rebalance = %obj.name, "reconciled"),
                Err(e) => warn!(error = %e, "rebalance reconcile error"),
            }
        })
        .await;
}

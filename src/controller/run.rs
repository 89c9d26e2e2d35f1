//! `gregor run`: reflectors, the KafkaCluster controller, and leader election.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Config as WatchConfig};
use kube::runtime::{Controller, WatchStreamExt};
use kube::{Resource, ResourceExt};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::cluster;
use super::context::{Context, Settings, Stores};
use super::leader::{self, LeaderConfig};
use super::watch::namespaced_api;
use crate::api::KafkaCluster;
use crate::model::names;

/// How the operator runs.
#[derive(Clone)]
pub struct RunOptions {
    pub settings: Settings,
    /// Leader election; `None` runs as the only replica.
    pub leader: Option<LeaderConfig>,
    /// Watch one namespace only; `None` watches all.
    pub namespace: Option<String>,
    /// What the probe/metrics server reports, when one runs (see `http`).
    pub telemetry: Option<Arc<super::http::Telemetry>>,
    /// The client the election renews its Lease with. It must not go through the fence of
    /// `settings.fence` (a closed fence would stop the renewal that reopens it); `None` uses the
    /// controllers' client (fine when that one is not fenced).
    pub election_client: Option<kube::Client>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("lost leadership; stopping so that only the leader writes")]
    LostLeadership,
    #[error("leader election ended")]
    ElectionEnded,
}

/// A reflector over objects carrying `app.kubernetes.io/managed-by=gregor`: a cache, and the
/// stream of changes that drives the controller.
macro_rules! owned_reflector {
    ($client:expr, $ns:expr, $kind:ty, $delay:expr) => {{
        let (reader, writer) = reflector::store::<$kind>();
        let config = WatchConfig::default().labels(&format!("{}={}", names::labels::MANAGED_BY, names::labels::MANAGED_BY_VALUE));
        let stream = reflector::reflector(writer, watcher::watcher(namespaced_api::<$kind>(&$client, $ns), config))
            .default_backoff()
            .touched_objects();
        (reader, delayed(stream, $delay))
    }};
}

/// `stream`, started `delay` later (the `debug_delay_child_watches` test hook).
fn delayed<S: futures::Stream + Send + 'static>(
    stream: S,
    delay: Option<std::time::Duration>,
) -> impl futures::Stream<Item = S::Item> + Send {
    futures::stream::once(async move {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        stream
    })
    .flatten()
}

macro_rules! children {
    ($($kind:ident($ty:ty) => $field:ident,)*) => {
        /// The caches the reconciler reads, with the controller owning every child kind and the
        /// cluster's Secrets; the pod and node streams are returned to be watched.
        #[allow(clippy::type_complexity)]
        fn with_children(
            client: &kube::Client,
            ns: Option<&str>,
            controller: Controller<KafkaCluster>,
            delay: Option<std::time::Duration>,
        ) -> (
            Stores,
            Controller<KafkaCluster>,
            impl futures::Stream<Item = Result<Pod, watcher::Error>> + Send + 'static,
            impl futures::Stream<Item = Result<Node, watcher::Error>> + Send + 'static,
        ) {
            $(
                let ($field, stream) = owned_reflector!(client, ns, $ty, delay);
                let controller = controller.owns_stream(stream);
            )*
            let (secrets, secret_stream) = owned_reflector!(client, ns, Secret, delay);
            let controller = controller.owns_stream(secret_stream);
            let (pods, pod_stream) = owned_reflector!(client, ns, Pod, delay);
            let (nodes, node_writer) = reflector::store::<Node>();
            let node_stream = delayed(
                reflector::reflector(node_writer, watcher::watcher(Api::<Node>::all(client.clone()), cordoned_nodes()))
                    .default_backoff()
                    .touched_objects(),
                delay,
            );
            (Stores { $($field,)* pods, secrets, nodes }, controller, pod_stream, node_stream)
        }
    };
}
crate::with_child_kinds!(children);

/// The Node watch sees only what the drain logic needs: cordoned nodes. A node that is
/// uncordoned leaves the selection, which the watch reports as a deletion, so its pods' clusters
/// are reconciled then too. On a large cluster this keeps every other node's status heartbeats
/// (one update per node every few seconds) out of the operator.
fn cordoned_nodes() -> WatchConfig {
    WatchConfig::default().fields("spec.unschedulable=true")
}

fn cluster_of<K: Resource>(obj: &K) -> Option<ObjectRef<KafkaCluster>> {
    let cluster = obj.meta().labels.as_ref()?.get(names::labels::CLUSTER)?;
    Some(ObjectRef::new(cluster).within(obj.meta().namespace.as_deref()?))
}

/// Runs the operator until a shutdown signal, or until leadership is lost.
pub async fn run(client: kube::Client, opts: RunOptions) -> Result<(), RunError> {
    let (leading_tx, mut leading_rx) = watch::channel(false);
    let fence = opts.settings.fence.clone();
    let election = match opts.leader.clone() {
        Some(cfg) => {
            info!(identity = %cfg.identity, lease = %cfg.lease_name, "waiting for leadership");
            let lease_client = opts.election_client.clone().unwrap_or_else(|| client.clone());
            Some(tokio::spawn(leader::run(lease_client, cfg, leading_tx, fence)))
        }
        None => {
            leading_tx.send_replace(true);
            None
        }
    };
    while !*leading_rx.borrow_and_update() {
        if leading_rx.changed().await.is_err() {
            return Err(RunError::ElectionEnded);
        }
    }
    info!("leading: starting controllers");
    if let Some(t) = &opts.telemetry {
        t.set_leading(true);
    }

    let ns = opts.namespace.as_deref();
    let clusters: Api<KafkaCluster> = namespaced_api(&client, ns);
    let (stores, controller, pod_stream, node_stream) =
        with_children(&client, ns, Controller::new(clusters, WatchConfig::default()), opts.settings.debug_delay_child_watches);
    let pods = stores.pods.clone();
    let ctx = Arc::new(Context::new(client.clone(), stores.clone(), opts.settings.clone()));
    ctx.caches.open_when_synced(stores);
    if let Some(t) = &opts.telemetry {
        t.attach(ctx.clone());
    }
    let pods_for_nodes: Store<Pod> = pods;
    let controller = controller
        .watches_stream(pod_stream, |pod: Pod| cluster_of(&pod))
        .watches_stream(node_stream, move |node: Node| {
            // A node (un)cordoned: reconcile the clusters with pods on it.
            let name = node.name_any();
            let mut refs: Vec<ObjectRef<KafkaCluster>> = pods_for_nodes
                .state()
                .iter()
                .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str()))
                .filter_map(|p| cluster_of(p.as_ref()))
                .collect();
            refs.dedup();
            refs
        })
        .shutdown_on_signal()
        .run(cluster::reconcile, cluster::error_policy, ctx.clone())
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(cluster = %obj.name, "reconciled"),
                Err(e) => warn!(error = %e, "reconcile error"),
            }
        });

    // The KafkaTopic and KafkaUser controllers run beside the cluster controller, under the same
    // leadership.
    // Cluster health for /metrics, in the background (see `health`).
    let health = super::health::spawn(&client, ctx.clone(), ns);
    let topics = super::topic::run(client.clone(), ctx.clone(), opts.namespace.clone());
    let users = super::user::run(client.clone(), ctx.clone(), opts.namespace.clone());
    let rebalances = super::rebalance::run(client.clone(), ctx.clone(), opts.namespace.clone());
    let controllers = async move {
        tokio::join!(controller, topics, users, rebalances);
    };

    let lost = async move {
        loop {
            if leading_rx.changed().await.is_err() {
                return RunError::ElectionEnded;
            }
            if !*leading_rx.borrow() {
                return RunError::LostLeadership;
            }
        }
    };
    let outcome = tokio::select! {
        () = controllers => Ok(()),
        e = lost => Err(e),
    };
    health.abort();
    if let Some(handle) = election {
        handle.abort();
        // A clean stop (a signal: the controllers have finished) hands the Lease over at once.
        if outcome.is_ok()
            && let Some(cfg) = &opts.leader
        {
            let lease_client = opts.election_client.clone().unwrap_or_else(|| client.clone());
            match leader::release(lease_client, cfg, &opts.settings.fence).await {
                Ok(true) => info!(identity = %cfg.identity, lease = %cfg.lease_name, "released the Lease"),
                Ok(false) => {}
                Err(e) => warn!(error = %e, "could not release the Lease; a follower takes over when it expires"),
            }
        }
    }
    if let Some(t) = &opts.telemetry {
        t.set_leading(false);
    }
    if let Err(e) = &outcome {
        error!(error = %e, "stopping");
    }
    outcome
}

//! Cluster health from the Admin API, on the operator's `/metrics` (the leader only).
//!
//! A background task (never a reconcile) gathers each KafkaCluster's health every
//! [`REFRESH`] with the cluster's admin client from `kafka_access`: brokers registered and
//! fenced, their load and log-dir bytes, the KRaft quorum, and the under-replicated,
//! under-min-ISR and offline partition counts. `/metrics` renders the last result of each.
//!
//! - `metric`: every metric name, its labels and help, typed, in one place;
//! - `compute` (pure): the numbers from what Kafka answered;
//! - `exposition` (pure): the Prometheus text;
//! - `gather`: the calls.

pub mod compute;
pub mod exposition;
pub mod gather;
pub mod metric;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::reflector::Store;
use tracing::debug;

use crate::api::KafkaCluster;
use crate::controller::cluster::autogrow::Usage;
use crate::controller::context::Context;
use exposition::ClusterHealth;

/// How often each cluster's health is gathered (at most; a slow cluster delays its next round).
pub const REFRESH: Duration = Duration::from_secs(30);
/// How long one cluster's gathering may take before it counts as failed.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(25);
/// Clusters gathered at once.
const CONCURRENCY: usize = 4;

/// The last health gathered per cluster (`namespace/name`), with when it was gathered.
#[derive(Default, Debug)]
pub struct HealthState {
    clusters: Mutex<BTreeMap<String, (Instant, ClusterHealth)>>,
}

impl HealthState {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Instant, ClusterHealth)>> {
        self.clusters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Prometheus text of every cluster's health.
    pub fn exposition(&self) -> String {
        let clusters: Vec<ClusterHealth> = self.lock().values().map(|(_, h)| h.clone()).collect();
        exposition::render(&clusters)
    }

    /// The log-dir bytes last gathered for a cluster (`namespace/name`), with their age; `None`
    /// when nothing was gathered (not the leader, no admin client yet).
    pub fn log_dir_usage(&self, key: &str, now: Instant) -> Option<Usage> {
        let clusters = self.lock();
        let (at, health) = clusters.get(key)?;
        let nodes = health.brokers.iter().filter_map(|(id, b)| b.log_dir_bytes.map(|bytes| (*id, bytes))).collect();
        Some(Usage { age: now.saturating_duration_since(*at), nodes })
    }

    fn set(&self, key: String, health: ClusterHealth) {
        self.lock().insert(key, (Instant::now(), health));
    }

    /// Records a gathering made at `at` (tests).
    #[cfg(test)]
    pub fn set_at(&self, key: String, at: Instant, health: ClusterHealth) {
        self.lock().insert(key, (at, health));
    }

    fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    fn retain(&self, keys: &BTreeSet<String>) {
        self.lock().retain(|k, _| keys.contains(k));
    }
}

/// Starts the health task: its own KafkaCluster cache and the refresh loop. Runs until aborted.
pub fn spawn(client: &kube::Client, ctx: Arc<Context>, namespace: Option<&str>) -> tokio::task::JoinHandle<()> {
    let (store, stream) = crate::controller::watch::cluster_watch(client, namespace);
    tokio::spawn(async move {
        let drive = stream.for_each(|_| async {});
        tokio::join!(drive, refresh_loop(ctx, store));
    })
}

async fn refresh_loop(ctx: Arc<Context>, clusters: Store<KafkaCluster>) {
    if clusters.wait_until_ready().await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !ctx.caches.is_open() {
            continue;
        }
        let all = clusters.state();
        let keys: BTreeSet<String> = all.iter().map(|kc| key(kc)).collect();
        ctx.health.retain(&keys);
        ctx.certificate_expiries.retain(&keys);
        futures::stream::iter(all).for_each_concurrent(CONCURRENCY, |kc| refresh_one(&ctx, kc)).await;
    }
}

fn key(kc: &KafkaCluster) -> String {
    format!("{}/{}", kc.namespace().unwrap_or_default(), kc.name_any())
}

async fn refresh_one(ctx: &Context, kc: Arc<KafkaCluster>) {
    let key = key(&kc);
    if kc.metadata.deletion_timestamp.is_some() {
        return ctx.health.remove(&key);
    }
    let (model, admin) = match crate::controller::kafka_access::connect(ctx, Some(&kc), &kc.name_any()).await {
        Ok(v) => v,
        Err(e) => {
            // Not set up yet (no id, no credentials) or invalid: nothing to show.
            debug!(cluster = %key, error = %e, "health gathering: no admin client");
            return ctx.health.remove(&key);
        }
    };
    let health = match tokio::time::timeout(GATHER_TIMEOUT, gather::gather(&*admin, &model)).await {
        Ok(h) => h,
        Err(_) => {
            debug!(cluster = %key, "health gathering timed out");
            ClusterHealth { namespace: model.namespace.clone(), cluster: model.name.clone(), ..ClusterHealth::default() }
        }
    };
    ctx.health.set(key, health);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The metric families an exposition announces (`# TYPE name kind`).
    fn families(text: &str) -> BTreeSet<String> {
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect()
    }

    /// The metrics the README's `### Metrics` table lists (first column, in backticks).
    fn readme_metrics() -> BTreeSet<String> {
        let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
        let table = readme.split("\n### Metrics\n").nth(1).expect("a ### Metrics section in README.md");
        table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.split('|').nth(1))
            .filter_map(|cell| cell.trim().strip_prefix('`')?.strip_suffix('`').map(str::to_owned))
            .collect()
    }

    #[test]
    fn item1_readme_metrics_table_lists_exactly_what_metrics_exports() {
        let snapshot = crate::controller::http::Snapshot::default();
        let text = format!(
            "{}{}{}{}",
            crate::controller::http::render_metrics(&snapshot),
            super::exposition::render(&[]),
            crate::controller::operator_metrics::OperatorMetrics::default().exposition(),
            crate::controller::certificates::expiry::CertificateExpiries::default().exposition(),
        );
        let exported = families(&text);
        let listed = readme_metrics();
        assert!(exported.len() > 10, "{exported:?}");
        let unlisted: Vec<_> = exported.difference(&listed).collect();
        let missing: Vec<_> = listed.difference(&exported).collect();
        assert!(unlisted.is_empty(), "/metrics exports metrics the README's table does not list: {unlisted:?}");
        assert!(missing.is_empty(), "the README's table lists metrics /metrics does not export: {missing:?}");
        let health_labels = |m: super::metric::HealthMetric| m.scope().labels().join(", ");
        let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
        for m in super::metric::HealthMetric::ALL {
            let row = format!("| `{}` | gauge | {} |", m.name(), health_labels(*m));
            assert!(readme.contains(&row), "README row of {} should start {row:?}", m.name());
        }
    }
}

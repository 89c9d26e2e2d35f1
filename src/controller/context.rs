//! What every reconcile shares: the API client, reflector caches, Kafka admin clients, events.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;

use super::backoff::Backoff;
use super::cluster::observe::{KafkaFacts, ObservedKey};
use super::conditions::Conclusion;
use super::error::ErrorCategory;
use super::reason::Reason;

macro_rules! stores {
    ($($kind:ident($ty:ty) => $field:ident,)*) => {
        /// Reflector caches of everything the cluster reconciler reads, so a steady-state
        /// reconcile makes no LIST and no GET: one per child kind, plus pods, Secrets and nodes.
        #[derive(Clone)]
        pub struct Stores {
            $(pub $field: Store<$ty>,)*
            pub pods: Store<Pod>,
            pub secrets: Store<Secret>,
            pub nodes: Store<Node>,
        }
    };
}
crate::with_child_kinds!(stores);

impl Stores {
    /// Resolves once every cache has had its initial list (a dropped writer counts as never).
    pub async fn wait_until_ready(&self) -> bool {
        let (a, b, c, d, e, f, g, h) = futures::join!(
            self.pods.wait_until_ready(),
            self.stateful_sets.wait_until_ready(),
            self.config_maps.wait_until_ready(),
            self.services.wait_until_ready(),
            self.service_accounts.wait_until_ready(),
            self.pod_disruption_budgets.wait_until_ready(),
            self.secrets.wait_until_ready(),
            self.nodes.wait_until_ready(),
        );
        [a.is_ok(), b.is_ok(), c.is_ok(), d.is_ok(), e.is_ok(), f.is_ok(), g.is_ok(), h.is_ok()].iter().all(|ok| *ok)
    }
}

/// Closed until every reflector cache the cluster reconciler reads has synced. A reconcile that
/// finds it closed acts on nothing and requeues: a decision taken on an empty cache (no
/// StatefulSet seen, so no scale-down to refuse) would fail open.
#[derive(Clone, Debug, Default)]
pub struct CacheGate(Arc<AtomicBool>);

impl CacheGate {
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Opens the gate at once (the reconcile tests, whose caches are filled by hand).
    #[cfg(test)]
    pub fn open_now(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Opens the gate once `stores` have all synced.
    pub fn open_when_synced(&self, stores: Stores) {
        let gate = self.0.clone();
        tokio::spawn(async move {
            if stores.wait_until_ready().await {
                gate.store(true, Ordering::Release);
                tracing::info!("every cache has synced: reconciles may act");
            }
        });
    }
}

/// Operator settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A hosts(5) file the Kafka admin client consults before DNS (test worlds, playground).
    pub kafka_hosts_file: Option<PathBuf>,
    /// Refuse to dial Kafka outside 127.0.0.0/8 (test worlds).
    pub kafka_loopback_only: bool,
    /// Requeue while something is in progress (a roll, pods starting).
    pub requeue_busy: Duration,
    /// Resync period of a converged resource.
    pub resync: Duration,
    /// Limits of the roll planner.
    pub roll_policy: crate::roll::Policy,
    /// Test hook: start the watches behind the child caches this much later, to show that
    /// reconciles wait for them (`--debug-delay-child-watches-ms`).
    pub debug_delay_child_watches: Option<Duration>,
    /// The leader's fence: closed, every Kubernetes write (see `write_fence`) and every Kafka
    /// write (the admin client's write gate) is refused. Open when there is no election.
    pub fence: crate::controller::leader::Fence,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            kafka_hosts_file: None,
            kafka_loopback_only: false,
            requeue_busy: Duration::from_secs(2),
            resync: Duration::from_secs(300),
            roll_policy: crate::roll::Policy::default(),
            debug_delay_child_watches: None,
            fence: crate::controller::leader::Fence::open(),
        }
    }
}

/// Every HTTP request the operator's Kubernetes client sends (watches included), counted by a
/// tower layer installed in `main`. Process-wide, for metrics and the benchmark.
pub static API_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// The number of Kubernetes API requests sent so far.
pub fn api_requests() -> u64 {
    API_REQUESTS.load(Ordering::Relaxed)
}

/// Full Kafka probes (`cluster::kafka_facts::gather`) so far, for `/metrics`. Process-wide.
pub static KAFKA_PROBES: AtomicU64 = AtomicU64::new(0);

/// The number of full Kafka probes so far.
pub fn kafka_probes() -> u64 {
    KAFKA_PROBES.load(Ordering::Relaxed)
}

/// The longest a cluster whose state does not change waits between two full Kafka probes.
pub const PROBE_INTERVAL_MAX: Duration = Duration::from_secs(30);

/// The last full Kafka probe of one cluster, with its age.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbedFacts {
    /// What Kafka said (`None`: it could not be asked).
    pub facts: Option<KafkaFacts>,
    /// What Kubernetes showed at the time (pods' phases and restart reasons).
    pub observed: ObservedKey,
    pub at: Instant,
    /// How long these facts may stand in for a probe.
    pub interval: Duration,
}

/// The last Kafka facts per cluster (`namespace/name`), so that a roll that is halted, or waits
/// for a pod that stays unready, does not probe Kafka on every reconcile: while neither the
/// Kubernetes view nor Kafka's answer changes, the interval between probes doubles up to
/// [`PROBE_INTERVAL_MAX`]. Cached facts only ever decide a wait; a restart is decided on a fresh
/// probe (see `cluster::reconcile`).
#[derive(Debug, Default)]
pub struct FactsCache(Mutex<HashMap<String, ProbedFacts>>);

impl FactsCache {
    /// The cached facts of `cluster`, when they may stand in for a probe at `now`: Kubernetes
    /// shows the same as when they were gathered, and their interval has not passed.
    pub fn usable(&self, cluster: &str, observed: &ObservedKey, now: Instant) -> Option<Option<KafkaFacts>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.get(cluster)?;
        let fresh = entry.observed == *observed && now.saturating_duration_since(entry.at) < entry.interval;
        fresh.then(|| entry.facts.clone())
    }

    /// Records a probe at `now`. The interval starts at `min` and doubles, up to
    /// [`PROBE_INTERVAL_MAX`], while the probe finds what the previous one found; any change
    /// starts it again at `min`.
    pub fn record(&self, cluster: &str, observed: ObservedKey, facts: Option<KafkaFacts>, now: Instant, min: Duration) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let interval = match map.get(cluster) {
            Some(prev) if prev.observed == observed && prev.facts == facts => (prev.interval * 2).clamp(min, PROBE_INTERVAL_MAX.max(min)),
            _ => min,
        };
        map.insert(cluster.to_owned(), ProbedFacts { facts, observed, at: now, interval });
    }

    /// Forgets a deleted cluster.
    pub fn forget(&self, cluster: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(cluster);
    }
}

/// Counters exposed for benchmarks and metrics.
#[derive(Default, Debug)]
pub struct Metrics {
    pub reconciles: AtomicU64,
    /// Create/patch/delete requests sent to the API server for owned objects and status.
    pub writes: AtomicU64,
    pub pod_restarts: AtomicU64,
    /// Reconcile outcomes by kind and typed reason (the Ready condition's reason).
    outcomes: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Failed reconciles by kind and error category.
    failures: Mutex<BTreeMap<(&'static str, ErrorCategory), u64>>,
}

impl Metrics {
    pub fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a reconcile that concluded with `reason`.
    pub fn record_outcome<R: Reason>(&self, reason: R) {
        let mut map = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((R::KIND, reason.as_str())).or_insert(0) += 1;
    }

    /// Counts a reconcile that concluded with this Ready conclusion (its reason is typed `R`).
    pub fn record_conclusion<R: Reason>(&self, conclusion: &Conclusion) {
        let mut map = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((R::KIND, conclusion.reason)).or_insert(0) += 1;
    }

    /// Counts a failed reconcile.
    pub fn record_failure(&self, kind: &'static str, category: ErrorCategory) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((kind, category)).or_insert(0) += 1;
    }

    /// `(kind, reason, count)` of every outcome so far, for `/metrics` labels.
    pub fn outcomes(&self) -> Vec<(&'static str, &'static str, u64)> {
        let map = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|((kind, reason), n)| (*kind, *reason, *n)).collect()
    }

    /// `(kind, category label, count)` of every failure so far, for `/metrics` labels.
    pub fn failures(&self) -> Vec<(&'static str, &'static str, u64)> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|((kind, category), n)| (*kind, category.as_str(), *n)).collect()
    }
}

/// A Kafka admin client, kept per cluster while its connection settings stay the same.
pub struct CachedKafka {
    pub fingerprint: String,
    pub client: Arc<dyn super::kafka_access::admin::Admin>,
}

/// Shared state of the reconcilers.
pub struct Context {
    pub client: kube::Client,
    pub stores: Stores,
    pub settings: Settings,
    pub recorder: Recorder,
    pub metrics: Metrics,
    /// Open once the caches in `stores` have synced.
    pub caches: CacheGate,
    /// Per cluster (`namespace/name`).
    pub kafka: Mutex<HashMap<String, CachedKafka>>,
    /// What we applied last, per object, to skip unchanged applies (see `apply`).
    pub applied: Mutex<HashMap<String, crate::controller::apply::AppliedMark>>,
    /// Consecutive failed reconciles per object, for `error_policy`.
    pub backoff: Backoff,
    /// The clusters' health, gathered in the background (see `health`), for `/metrics`.
    pub health: crate::controller::health::HealthState,
    /// The last Kafka facts per cluster, with their age.
    pub facts: FactsCache,
    /// Reconcile durations, reconciles in flight, roll states, restarts by reason.
    pub operator: crate::controller::operator_metrics::OperatorMetrics,
    /// When each certificate the operator keeps expires.
    pub certificate_expiries: crate::controller::certificates::expiry::CertificateExpiries,
    /// Which certificate each broker's TLS listeners were last seen serving.
    pub served_certificates: crate::controller::certificates::reload::ServedCertificates,
}

impl Context {
    pub fn new(client: kube::Client, stores: Stores, settings: Settings) -> Self {
        let reporter = Reporter { controller: "gregor".into(), instance: std::env::var("HOSTNAME").ok() };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            stores,
            settings,
            metrics: Metrics::default(),
            caches: CacheGate::default(),
            kafka: Mutex::new(HashMap::new()),
            applied: Mutex::new(HashMap::new()),
            backoff: Backoff::default(),
            health: Default::default(),
            facts: FactsCache::default(),
            operator: Default::default(),
            certificate_expiries: Default::default(),
            served_certificates: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roll::PodPhase;

    fn facts(caught_up: bool) -> Option<KafkaFacts> {
        Some(KafkaFacts { caught_up: [(100, caught_up)].into(), ..KafkaFacts::default() })
    }

    /// Issue #12 item 16: while nothing changes, probes back off to one per 30 s; any change
    /// (in Kubernetes or in Kafka's answer) makes the next reconcile probe again.
    #[test]
    fn item16_probe_backoff() {
        let cache = FactsCache::default();
        let min = Duration::from_secs(2);
        let t0 = Instant::now();
        let halted: ObservedKey = vec![(100, PodPhase::Pending { unschedulable: true }, vec![])];
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(cache.usable("ns/c", &halted, t0), None, "nothing probed yet");

        // Reconciles every 2 s of a halt that does not change: count the probes.
        let mut probes = Vec::new();
        for s in (0..=120).step_by(2) {
            if cache.usable("ns/c", &halted, at(s)).is_none() {
                probes.push(s);
                cache.record("ns/c", halted.clone(), facts(false), at(s), min);
            }
        }
        assert_eq!(probes, vec![0, 2, 6, 14, 30, 60, 90, 120]);

        // Kubernetes shows a change: the cached facts no longer stand in.
        let ready: ObservedKey = vec![(100, PodPhase::Ready, vec![])];
        assert_eq!(cache.usable("ns/c", &ready, at(121)), None);
        // Kafka answers differently: the interval starts again.
        cache.record("ns/c", ready.clone(), facts(true), at(121), min);
        assert_eq!(cache.usable("ns/c", &ready, at(122)), Some(facts(true)));
        assert_eq!(cache.usable("ns/c", &ready, at(123)), None);
        // Other clusters are their own; a deleted one is forgotten.
        assert_eq!(cache.usable("ns/other", &ready, at(122)), None);
        cache.forget("ns/c");
        assert_eq!(cache.usable("ns/c", &ready, at(122)), None);
    }

    #[test]
    fn an_unanswered_probe_backs_off_too() {
        let cache = FactsCache::default();
        let t0 = Instant::now();
        let key: ObservedKey = vec![(0, PodPhase::CrashLooping, vec![])];
        cache.record("ns/c", key.clone(), None, t0, Duration::from_secs(2));
        cache.record("ns/c", key.clone(), None, t0 + Duration::from_secs(2), Duration::from_secs(2));
        assert_eq!(cache.usable("ns/c", &key, t0 + Duration::from_secs(5)), Some(None));
    }
}

//! The operator's own gauges and histograms on `/metrics`, beyond the counters of
//! `context::Metrics`: reconcile durations, reconciles in flight, each cluster's roll state and
//! pod restarts by reason. Every label comes from a typed enum (`Reason::KIND`, `RollState`,
//! `RestartReason`).
//!
//! Queue depth: kube-rs's controller does not expose its scheduler's queue, so what is measured
//! is the nearest honest thing, the reconciles running now per kind (`gregor_reconciles_in_flight`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::roll::{RestartReason, RollState};

/// Upper bounds of the reconcile duration buckets, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The metric names, spelled once (the README table, rules and dashboards use them).
pub const RECONCILE_DURATION: &str = "gregor_reconcile_duration_seconds";
pub const IN_FLIGHT: &str = "gregor_reconciles_in_flight";
pub const ROLL_STATE: &str = "gregor_roll_state";
pub const RESTARTS_BY_REASON: &str = "gregor_pod_restarts_by_reason_total";

/// A cumulative histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Observations at or below each bound of [`DURATION_BUCKETS`].
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        if self.buckets.len() != DURATION_BUCKETS.len() {
            self.buckets = vec![0; DURATION_BUCKETS.len()];
        }
        for (b, bound) in self.buckets.iter_mut().zip(DURATION_BUCKETS) {
            *b += u64::from(seconds <= *bound);
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// What the operator's gauges hold.
#[derive(Debug, Default)]
pub struct OperatorMetrics {
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
    in_flight: Mutex<BTreeMap<&'static str, i64>>,
    /// `namespace/name` -> (namespace, name, state).
    rolls: Mutex<BTreeMap<String, (String, String, RollState)>>,
    restarts: Mutex<BTreeMap<RestartReason, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts one reconcile of `kind` in flight until dropped, then records its duration.
pub struct ReconcileTimer<'a> {
    metrics: &'a OperatorMetrics,
    kind: &'static str,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        *lock(&self.metrics.in_flight).entry(self.kind).or_default() -= 1;
        lock(&self.metrics.durations).entry(self.kind).or_default().observe(self.start.elapsed().as_secs_f64());
    }
}

impl OperatorMetrics {
    /// Starts timing a reconcile of `kind` (a `Reason::KIND`).
    pub fn start_reconcile(&self, kind: &'static str) -> ReconcileTimer<'_> {
        *lock(&self.in_flight).entry(kind).or_default() += 1;
        ReconcileTimer { metrics: self, kind, start: Instant::now() }
    }

    pub fn set_roll_state(&self, namespace: &str, name: &str, state: RollState) {
        lock(&self.rolls).insert(format!("{namespace}/{name}"), (namespace.to_owned(), name.to_owned(), state));
    }

    /// Forgets a deleted cluster.
    pub fn forget_cluster(&self, namespace: &str, name: &str) {
        lock(&self.rolls).remove(&format!("{namespace}/{name}"));
    }

    /// Counts a restart under each of its reasons.
    pub fn count_restart(&self, reasons: &[RestartReason]) {
        let mut map = lock(&self.restarts);
        for r in reasons {
            *map.entry(r.clone()).or_default() += 1;
        }
    }

    /// The Prometheus text of these metrics.
    pub fn exposition(&self) -> String {
        render(&lock(&self.durations), &lock(&self.in_flight), &lock(&self.rolls), &lock(&self.restarts))
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Pure: the text of the operator gauges. Every family is announced, even without samples.
pub fn render(
    durations: &BTreeMap<&'static str, Histogram>,
    in_flight: &BTreeMap<&'static str, i64>,
    rolls: &BTreeMap<String, (String, String, RollState)>,
    restarts: &BTreeMap<RestartReason, u64>,
) -> String {
    let mut out = String::new();
    family(&mut out, RECONCILE_DURATION, "histogram", "How long reconciles took, by kind.");
    for (kind, h) in durations {
        for (bound, n) in DURATION_BUCKETS.iter().zip(&h.buckets) {
            let _ = writeln!(out, "{RECONCILE_DURATION}_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{RECONCILE_DURATION}_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{RECONCILE_DURATION}_sum{{kind=\"{kind}\"}} {}", h.sum);
        let _ = writeln!(out, "{RECONCILE_DURATION}_count{{kind=\"{kind}\"}} {}", h.count);
    }
    family(
        &mut out,
        IN_FLIGHT,
        "gauge",
        "Reconciles running now, by kind (kube-rs does not expose its work queue; this is the nearest measure of queue pressure).",
    );
    for (kind, n) in in_flight {
        let _ = writeln!(out, "{IN_FLIGHT}{{kind=\"{kind}\"}} {n}");
    }
    family(&mut out, ROLL_STATE, "gauge", "1 for the state of each cluster's roll after the planner's last step, 0 for the other states.");
    for (namespace, name, state) in rolls.values() {
        for s in RollState::ALL {
            let _ = writeln!(
                out,
                "{ROLL_STATE}{{namespace=\"{}\",cluster=\"{}\",state=\"{}\"}} {}",
                escape(namespace),
                escape(name),
                s.as_str(),
                u8::from(s == state)
            );
        }
    }
    family(
        &mut out,
        RESTARTS_BY_REASON,
        "counter",
        "Kafka pods this replica restarted for a roll, by restart reason (a restart with several reasons counts under each).",
    );
    for (reason, n) in restarts {
        let _ = writeln!(out, "{RESTARTS_BY_REASON}{{reason=\"{}\"}} {n}", reason.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item2_histogram_in_flight_roll_state_and_restarts() {
        let m = OperatorMetrics::default();
        {
            let _t = m.start_reconcile("cluster");
            assert_eq!(lock(&m.in_flight)["cluster"], 1, "counted while it runs");
        }
        assert_eq!(lock(&m.in_flight)["cluster"], 0);
        m.set_roll_state("ns", "events", RollState::Blocked);
        m.set_roll_state("ns", "events", RollState::Halted);
        m.set_roll_state("ns", "gone", RollState::Idle);
        m.forget_cluster("ns", "gone");
        m.count_restart(&[RestartReason::ImageChanged, RestartReason::ConfigChanged]);
        m.count_restart(&[RestartReason::ImageChanged]);
        let text = m.exposition();
        assert!(text.contains("gregor_reconcile_duration_seconds_count{kind=\"cluster\"} 1\n"), "{text}");
        assert!(text.contains("gregor_reconcile_duration_seconds_bucket{kind=\"cluster\",le=\"+Inf\"} 1\n"), "{text}");
        assert!(text.contains("gregor_reconciles_in_flight{kind=\"cluster\"} 0\n"), "{text}");
        assert!(text.contains("gregor_roll_state{namespace=\"ns\",cluster=\"events\",state=\"Halted\"} 1\n"), "{text}");
        assert!(text.contains("gregor_roll_state{namespace=\"ns\",cluster=\"events\",state=\"Blocked\"} 0\n"), "{text}");
        assert!(!text.contains("cluster=\"gone\""), "{text}");
        assert!(text.contains("gregor_pod_restarts_by_reason_total{reason=\"ImageChanged\"} 2\n"), "{text}");
        assert!(text.contains("gregor_pod_restarts_by_reason_total{reason=\"ConfigChanged\"} 1\n"), "{text}");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        for s in [0.001, 0.2, 0.2, 7.0, 100.0] {
            h.observe(s);
        }
        let at = |bound: f64| h.buckets[DURATION_BUCKETS.iter().position(|b| *b == bound).expect("bound")];
        assert_eq!((at(0.005), at(0.25), at(5.0), at(10.0), at(60.0), h.count), (1, 3, 3, 4, 4, 5));
        assert!((h.sum - 107.401).abs() < 1e-9);
        assert!(h.buckets.windows(2).all(|w| w[0] <= w[1]));
    }
}

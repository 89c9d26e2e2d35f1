//! Pure: the bench's figures, their table, their JSON file, and percentiles.

use std::collections::BTreeMap;
use std::time::Duration;

/// Every figure a run reports: (JSON key, unit, what it is). A run that leaves one out is
/// incomplete ([`Report::missing`]).
pub const FIGURES: &[(&str, &str, &str)] = &[
    ("topics.count", "", "KafkaTopics applied at once"),
    ("topics.apply_s", "s", "time to send every apply"),
    ("topics.all_ready_s", "s", "first apply to the last Ready"),
    ("topics.per_s", "/s", "topics Ready per second"),
    ("topics.apply_to_ready_p50_ms", "ms", "apply to Ready, median"),
    ("topics.apply_to_ready_p99_ms", "ms", "apply to Ready, 99th percentile"),
    ("topics.failures", "", "apply errors, never Ready, missing in Kafka, failed reconciles"),
    ("users.count", "", "SCRAM KafkaUsers (3 ACLs + quota each) applied at once"),
    ("users.apply_s", "s", "time to send every apply"),
    ("users.all_ready_s", "s", "first apply to the last Ready"),
    ("users.per_s", "/s", "users Ready per second"),
    ("users.apply_to_ready_p50_ms", "ms", "apply to Ready, median"),
    ("users.apply_to_ready_p99_ms", "ms", "apply to Ready, 99th percentile"),
    ("users.failures", "", "apply errors, never Ready, ACLs missing in Kafka, failed reconciles"),
    ("clusters.count", "", "KafkaClusters of 1 combined node applied at once"),
    ("clusters.apply_to_children_p50_ms", "ms", "apply to every child object, median"),
    ("clusters.apply_to_children_p99_ms", "ms", "apply to every child object, 99th percentile"),
    ("clusters.apply_to_ready_p50_ms", "ms", "apply to Ready, median"),
    ("clusters.apply_to_ready_p99_ms", "ms", "apply to Ready, 99th percentile"),
    ("clusters.failures", "", "apply errors, never Ready"),
    ("limit.objects", "", "trivial objects of the bench's own CRD"),
    ("limit.create_s", "s", "creating them all"),
    ("limit.status_patch_s", "s", "one status patch each"),
    ("limit.per_s", "/s", "objects created and status-patched per second"),
    ("ratio.topics_to_limit", "", "gregor topics/s / limit objects/s"),
    ("steady.resync_s", "s", "the operator's resync period"),
    ("steady.window_s", "s", "length of the steady-state window"),
    ("steady.kube_list", "", "LIST requests of the operator in the window"),
    ("steady.kube_writes", "", "create/update/patch/delete requests of the operator in the window"),
    ("steady.kube_get", "", "GET requests of the operator in the window"),
    ("steady.kube_watch", "", "WATCH requests (re)opened in the window"),
    ("steady.kafka_requests_per_resync_per_topic", "", "Kafka requests per resync period per topic"),
    ("steady.kafka_requests_per_resync", "", "Kafka requests per resync period"),
    ("steady.cpu_s_per_resync", "s", "operator CPU seconds per resync period"),
    ("rss.idle_mib", "MiB", "operator RSS, one cluster Ready, no topics"),
    ("rss.topics_mib", "MiB", "operator RSS, every topic Ready"),
    ("rss.users_mib", "MiB", "operator RSS, every user Ready"),
    ("rss.clusters_mib", "MiB", "operator RSS, every cluster Ready"),
    ("rss.peak_mib", "MiB", "operator RSS high-water mark (VmHWM)"),
    ("rss.restarted_mib", "MiB", "RSS of the restarted operator after its first reconciles"),
    ("startup.to_leading_ms", "ms", "restart: process start to holding the Lease"),
    ("startup.to_first_reconcile_ms", "ms", "restart: process start to the first reconcile"),
    ("deletion.count", "", "KafkaTopics deleted at once"),
    ("deletion.gone_from_kafka_s", "s", "delete to the last topic gone from Kafka"),
    ("deletion.per_s", "/s", "topics gone from Kafka per second"),
    ("deletion.resources_gone_s", "s", "delete to the last KafkaTopic gone from the API"),
    ("deletion.left", "", "topics in Kafka or KafkaTopics left when the wait ended"),
];

/// The figures of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    values: BTreeMap<&'static str, f64>,
    /// Kafka requests in the steady-state window, by API.
    pub kafka_requests_by_api: BTreeMap<String, u64>,
}

impl Report {
    /// Records a figure; `key` must be one of [`FIGURES`].
    pub fn set(&mut self, key: &str, value: f64) {
        let known = FIGURES.iter().map(|(k, _, _)| *k).find(|k| *k == key);
        let key = known.unwrap_or_else(|| panic!("unknown figure {key}"));
        self.values.insert(key, value);
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }

    /// The figures of [`FIGURES`] this report lacks, or holds as NaN or infinite.
    pub fn missing(&self) -> Vec<&'static str> {
        FIGURES.iter().map(|(k, _, _)| *k).filter(|k| !self.get(k).is_some_and(f64::is_finite)).collect()
    }

    /// The printed table: one line per figure, in [`FIGURES`]' order, `-` for a missing one.
    pub fn table(&self, title: &str) -> String {
        let mut out = format!("\n=== {title} ===\n{:<44} {:>14}  {:<4} {}\n", "figure", "value", "unit", "what");
        for (key, unit, what) in FIGURES {
            let value = self.get(key).map_or("-".to_owned(), format_value);
            out.push_str(&format!("{key:<44} {value:>14}  {unit:<4} {what}\n"));
        }
        out
    }

    /// The JSON file: `{"title", "command", "figures": {key: value}, "units": {key: unit},
    /// "kafka_requests_by_api": {...}}`. A figure without a value is `null`.
    pub fn to_json(&self, title: &str, command: &str) -> serde_json::Value {
        let figures: serde_json::Map<String, serde_json::Value> = FIGURES
            .iter()
            .map(|(k, _, _)| ((*k).to_owned(), self.get(k).map_or(serde_json::Value::Null, |v| serde_json::json!(v))))
            .collect();
        let units: serde_json::Map<String, serde_json::Value> =
            FIGURES.iter().map(|(k, u, _)| ((*k).to_owned(), serde_json::json!(u))).collect();
        serde_json::json!({
            "title": title,
            "command": command,
            "figures": figures,
            "units": units,
            "kafka_requests_by_api": self.kafka_requests_by_api,
        })
    }
}

/// The figures of a JSON file [`Report::to_json`] wrote that are not numbers.
pub fn missing_in_json(json: &serde_json::Value) -> Vec<&'static str> {
    FIGURES.iter().map(|(k, _, _)| *k).filter(|k| !json["figures"][*k].as_f64().is_some_and(f64::is_finite)).collect()
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// The `p` quantile (0..=1) of durations by nearest rank, in milliseconds; NaN when empty.
pub fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    // Nanoseconds over 1e6, not seconds times 1000: an exact millisecond stays exact
    // (32.038 s * 1000 is 32037.999…).
    sorted[rank - 1].as_nanos() as f64 / 1_000_000.0
}

/// `n / elapsed` per second; NaN for a zero duration.
pub fn per_second(n: usize, elapsed: Duration) -> f64 {
    if elapsed.is_zero() { f64::NAN } else { n as f64 / elapsed.as_secs_f64() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
        let cases: &[(&[u64], f64, f64)] = &[
            (&[5], 0.5, 5.0),
            (&[5], 0.99, 5.0),
            (&[1, 2, 3, 4], 0.5, 2.0),
            (&[4, 3, 2, 1], 0.99, 4.0),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5, 5.0),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99, 10.0),
        ];
        for (samples, p, want) in cases {
            assert_eq!(percentile_ms(&ms(samples), *p), *want, "{samples:?} p{p}");
        }
        assert!(percentile_ms(&[], 0.5).is_nan());
    }

    #[test]
    fn a_report_is_complete_only_with_every_figure() {
        let mut report = Report::default();
        assert_eq!(report.missing().len(), FIGURES.len());
        for (key, _, _) in FIGURES {
            report.set(key, 1.5);
        }
        assert!(report.missing().is_empty());
        assert!(missing_in_json(&report.to_json("t", "c")).is_empty());
        report.set("topics.per_s", f64::NAN);
        assert_eq!(report.missing(), ["topics.per_s"]);
        assert_eq!(missing_in_json(&report.to_json("t", "c")), ["topics.per_s"]);
        let table = report.table("t");
        assert_eq!(table.lines().count(), FIGURES.len() + 3, "{table}");
    }

    #[test]
    fn figure_keys_are_unique() {
        let keys: std::collections::BTreeSet<&str> = FIGURES.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(keys.len(), FIGURES.len());
    }

    #[test]
    fn a_whole_millisecond_sample_is_reported_exactly() {
        assert_eq!(percentile_ms(&[Duration::from_millis(32_038)], 0.5), 32_038.0);
    }

    proptest! {
        /// p50 never exceeds p99, and both lie within the samples.
        #[test]
        fn p50_is_at_most_p99(samples in proptest::collection::vec(0u64..100_000, 1..200)) {
            let d: Vec<Duration> = samples.iter().map(|m| Duration::from_millis(*m)).collect();
            let (p50, p99) = (percentile_ms(&d, 0.5), percentile_ms(&d, 0.99));
            let (lo, hi) = (*samples.iter().min().unwrap() as f64, *samples.iter().max().unwrap() as f64);
            prop_assert!(lo <= p50 && p50 <= p99 && p99 <= hi);
        }
    }
}

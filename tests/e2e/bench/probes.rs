//! What the bench reads off the operator: its process (RSS, CPU from /proc) and its /metrics.

use std::collections::BTreeMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// (VmRSS, VmHWM) of a process, in MiB; zeros when it is gone.
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// User + system CPU seconds of a process so far (fields 14 and 15 of /proc/<pid>/stat).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    cpu_seconds_of_stat(&stat, clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Pure: utime + stime of a /proc/<pid>/stat line, in seconds.
pub fn cpu_seconds_of_stat(stat: &str, ticks_per_second: f64) -> f64 {
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (field(11) + field(12)) / ticks_per_second
}

/// The operator's /metrics text (empty when it does not answer).
pub async fn metrics_text(port: u16) -> String {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return String::new() };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

/// The samples of one counter family by the value of one of its labels, summed over the others.
pub fn by_label(text: &str, family: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let key = format!("{label}=\"");
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(family).and_then(|r| r.strip_prefix('{')) else { continue };
        let Some((labels, value)) = rest.rsplit_once('}') else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let Some(start) = labels.find(&key) else { continue };
        let tail = &labels[start + key.len()..];
        let Some(end) = tail.find('"') else { continue };
        *out.entry(tail[..end].to_owned()).or_insert(0.0) += value;
    }
    out
}

/// A sample without labels (`name value`).
pub fn plain(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

/// The operator's counters the bench follows, at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counters {
    /// `gregor_kube_requests_total` by verb.
    pub kube: BTreeMap<String, f64>,
    /// `gregor_kafka_requests_total` by API.
    pub kafka: BTreeMap<String, f64>,
    /// `gregor_reconcile_failures_total` by kind.
    pub failures: BTreeMap<String, f64>,
    pub reconciles: f64,
    pub leading: bool,
}

impl Counters {
    pub fn parse(text: &str) -> Counters {
        Counters {
            kube: by_label(text, "gregor_kube_requests_total", "verb"),
            kafka: by_label(text, "gregor_kafka_requests_total", "api"),
            failures: by_label(text, "gregor_reconcile_failures_total", "kind"),
            reconciles: plain(text, "gregor_reconciles_total").unwrap_or(0.0),
            leading: plain(text, "gregor_leader") == Some(1.0),
        }
    }

    pub async fn read(port: u16) -> Counters {
        Counters::parse(&metrics_text(port).await)
    }

    /// Kubernetes requests of these verbs since `before`.
    pub fn kube_since(&self, before: &Counters, verbs: &[&str]) -> f64 {
        verbs.iter().map(|v| self.kube.get(*v).copied().unwrap_or(0.0) - before.kube.get(*v).copied().unwrap_or(0.0)).sum()
    }

    /// Failed reconciles of `kind` since `before`.
    pub fn failures_since(&self, before: &Counters, kind: &str) -> f64 {
        self.failures.get(kind).copied().unwrap_or(0.0) - before.failures.get(kind).copied().unwrap_or(0.0)
    }

    /// Kafka requests per API since `before` (APIs with none left out).
    pub fn kafka_since(&self, before: &Counters) -> BTreeMap<String, u64> {
        self.kafka
            .iter()
            .map(|(api, n)| (api.clone(), (n - before.kafka.get(api).copied().unwrap_or(0.0)).max(0.0) as u64))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The write verbs of `gregor_kube_requests_total`.
pub const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_from_a_stat_line_with_spaces_in_the_name() {
        let stat = "4242 (gregor run x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 1 1";
        assert_eq!(cpu_seconds_of_stat(stat, 100.0), 3.0);
        assert_eq!(cpu_seconds_of_stat("", 100.0), 0.0);
    }

    #[test]
    fn counters_from_metrics_text() {
        let text = "# HELP x\ngregor_leader 1\ngregor_reconciles_total 12\n\
            gregor_kube_requests_total{verb=\"list\"} 3\ngregor_kube_requests_total{verb=\"patch\"} 9\n\
            gregor_kafka_requests_total{api=\"Metadata\"} 40\n\
            gregor_reconcile_failures_total{kind=\"KafkaTopic\",category=\"transient\"} 2\n\
            gregor_reconcile_failures_total{kind=\"KafkaTopic\",category=\"kafka\"} 1\n";
        let c = Counters::parse(text);
        assert!(c.leading);
        assert_eq!(c.reconciles, 12.0);
        assert_eq!(c.kube.get("list"), Some(&3.0));
        assert_eq!(c.failures.get("KafkaTopic"), Some(&3.0));
        let before = Counters::parse("gregor_kube_requests_total{verb=\"patch\"} 4\ngregor_kafka_requests_total{api=\"Metadata\"} 40\n");
        assert_eq!(c.kube_since(&before, WRITE_VERBS), 5.0);
        assert_eq!(c.kube_since(&before, &["list"]), 3.0);
        assert!(c.kafka_since(&before).is_empty());
        assert!(!Counters::parse("gregor_leader 0\n").leading);
    }
}

//! The broker JVM metrics agent (`spec.metrics.jmxExporter`): the Prometheus JMX exporter
//! javaagent, copied into the pod by an init container, loaded by the Kafka JVM, configured by a
//! rules file in the pool's ConfigMap, serving `/metrics` on the pod IP at the container port
//! `metrics`.
use k8s_openapi::api::core::v1::{Container, VolumeMount};

use super::script::CONFIG_MOUNT;
use crate::model::{JmxExporter, metrics::METRICS_AGENT_JAR_IN_IMAGE};

/// Name of the init container that copies the agent jar.
pub const INIT_CONTAINER: &str = "metrics-agent";
/// Name of the emptyDir volume the jar is copied into.
pub const VOLUME: &str = "metrics-agent";
/// Where that volume is mounted, in the init container and in the Kafka container.
pub const MOUNT: &str = "/opt/gregor/metrics-agent";
/// The jar's path in the Kafka container.
pub const AGENT_JAR: &str = "/opt/gregor/metrics-agent/jmx_prometheus_javaagent.jar";
/// Key of the rules file in the pool's ConfigMap (so at `/opt/gregor/config/<key>` in the pod).
pub const RULES_KEY: &str = "jmx-exporter.yaml";
/// Name of the container port the agent serves on (what a PodMonitor selects).
pub const PORT_NAME: &str = "metrics";

/// The agent volume's mount (read-only in the Kafka container).
pub fn volume_mount(read_only: bool) -> VolumeMount {
    VolumeMount { name: VOLUME.to_owned(), mount_path: MOUNT.to_owned(), read_only: read_only.then_some(true), ..VolumeMount::default() }
}

/// The init container: copies the jar from its image into the agent volume.
pub fn init_container(exporter: &JmxExporter) -> Container {
    Container {
        name: INIT_CONTAINER.to_owned(),
        image: Some(exporter.image.clone()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        command: Some(vec!["cp".to_owned(), METRICS_AGENT_JAR_IN_IMAGE.to_owned(), AGENT_JAR.to_owned()]),
        volume_mounts: Some(vec![volume_mount(false)]),
        security_context: Some(super::statefulset::restricted_security_context()),
        ..Container::default()
    }
}

/// The shell line of the start script that loads the agent into the Kafka JVM (and only there:
/// the format step before it runs without it). `${BIND_IP}` is the pod IP, so the agent listens
/// where the listeners do and never on every address.
pub fn start_script_line(exporter: &JmxExporter) -> String {
    format!(
        "export KAFKA_OPTS=\"${{KAFKA_OPTS:+$KAFKA_OPTS }}-javaagent:{AGENT_JAR}=${{BIND_IP}}:{}:{CONFIG_MOUNT}/{RULES_KEY}\"\n",
        exporter.port
    )
}

/// One rule of the exporter's configuration: a pattern over `domain<key=value, ...><>Attribute`
/// and the Prometheus series it becomes.
struct Rule {
    /// What the series is, as a comment in the file.
    about: &'static str,
    pattern: &'static str,
    name: &'static str,
    kind: &'static str,
    labels: &'static [(&'static str, &'static str)],
}

/// The rules, in match order (the first matching rule wins). Meters' `Count` become counters
/// (`_total`), histograms' percentiles a `quantile` label, gauges keep their value. The names
/// follow the `kafka_<domain>_<type>_<name>` shape Kafka dashboards commonly query.
const RULES: &[Rule] = &[
    Rule {
        about: "bytes and messages in/out, failed and total requests, per topic",
        pattern: r"kafka.server<type=BrokerTopicMetrics, name=(\w+)PerSec, topic=(.+)><>Count",
        name: "kafka_server_brokertopicmetrics_$1_total",
        kind: "COUNTER",
        labels: &[("topic", "$2")],
    },
    Rule {
        about: "the same, summed over all topics of the broker",
        pattern: r"kafka.server<type=BrokerTopicMetrics, name=(\w+)PerSec><>Count",
        name: "kafka_server_brokertopicmetrics_$1_total",
        kind: "COUNTER",
        labels: &[],
    },
    Rule {
        about: "requests by API and version",
        pattern: r"kafka.network<type=RequestMetrics, name=RequestsPerSec, request=(\w+), version=(\d+)><>Count",
        name: "kafka_network_requestmetrics_requests_total",
        kind: "COUNTER",
        labels: &[("request", "$1"), ("version", "$2")],
    },
    Rule {
        about: "request latency (total, queue, local, remote, response send) by API, as quantiles",
        pattern: r"kafka.network<type=RequestMetrics, name=(\w+)TimeMs, request=(\w+)><>(\d+)thPercentile",
        name: "kafka_network_requestmetrics_$1timems",
        kind: "GAUGE",
        labels: &[("request", "$2"), ("quantile", "0.$3")],
    },
    Rule {
        about: "the network threads' idle ratio (0..1)",
        pattern: r"kafka.network<type=SocketServer, name=NetworkProcessorAvgIdlePercent><>Value",
        name: "kafka_network_socketserver_networkprocessoravgidlepercent",
        kind: "GAUGE",
        labels: &[],
    },
    Rule {
        about: "the request handler threads' idle ratio (0..1, a one-minute rate)",
        pattern: r"kafka.server<type=KafkaRequestHandlerPool, name=RequestHandlerAvgIdlePercent><>OneMinuteRate",
        name: "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent",
        kind: "GAUGE",
        labels: &[],
    },
    Rule {
        about: "ISR shrinks and expands",
        pattern: r"kafka.server<type=ReplicaManager, name=(IsrShrinks|IsrExpands)PerSec><>Count",
        name: "kafka_server_replicamanager_$1_total",
        kind: "COUNTER",
        labels: &[],
    },
    Rule {
        about: "the replica manager's gauges (partitions, leaders, under-replicated, offline replicas)",
        pattern: r"kafka.server<type=ReplicaManager, name=(\w+)><>Value",
        name: "kafka_server_replicamanager_$1",
        kind: "GAUGE",
        labels: &[],
    },
    Rule {
        about: "log flush time, as quantiles",
        pattern: r"kafka.log<type=LogFlushStats, name=LogFlushRateAndTimeMs><>(\d+)thPercentile",
        name: "kafka_log_logflushstats_logflushrateandtimems",
        kind: "GAUGE",
        labels: &[("quantile", "0.$1")],
    },
    Rule {
        about: "log flushes",
        pattern: r"kafka.log<type=LogFlushStats, name=LogFlushRateAndTimeMs><>Count",
        name: "kafka_log_logflushstats_logflushes_total",
        kind: "COUNTER",
        labels: &[],
    },
    Rule {
        about: "the KRaft controller's gauges (active controller count, offline partitions, ...)",
        pattern: r"kafka.controller<type=KafkaController, name=(\w+)><>Value",
        name: "kafka_controller_kafkacontroller_$1",
        kind: "GAUGE",
        labels: &[],
    },
];

/// Single-quoted YAML scalar.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The exporter's configuration file: only the MBeans the rules read are scraped (every scrape
/// walks them), names and labels lowercased, the JVM's own metrics (`jvm_*`) as the agent
/// exports them by default.
pub fn rules_file() -> String {
    let mut out = String::from("# Generated by Gregor: the Prometheus JMX exporter's rules for Kafka. Do not edit.\n");
    out.push_str("lowercaseOutputName: true\nlowercaseOutputLabelNames: true\n");
    out.push_str("includeObjectNames:\n");
    for domain in ["kafka.server", "kafka.network", "kafka.log", "kafka.controller"] {
        out.push_str(&format!("  - {}\n", quoted(&format!("{domain}:*"))));
    }
    out.push_str("rules:\n");
    for rule in RULES {
        out.push_str(&format!("  # {}\n", rule.about));
        out.push_str(&format!("  - pattern: {}\n", quoted(rule.pattern)));
        out.push_str(&format!("    name: {}\n", rule.name));
        out.push_str(&format!("    type: {}\n", rule.kind));
        if !rule.labels.is_empty() {
            out.push_str("    labels:\n");
            for (key, value) in rule.labels {
                out.push_str(&format!("      {key}: {}\n", quoted(value)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_file_is_yaml_with_one_entry_per_rule() {
        let parsed: serde_yaml::Value = serde_yaml::from_str(&rules_file()).expect("YAML");
        let rules = parsed["rules"].as_sequence().expect("rules list");
        assert_eq!(rules.len(), RULES.len());
        for (rule, parsed) in RULES.iter().zip(rules) {
            assert_eq!(parsed["pattern"].as_str(), Some(rule.pattern));
            assert_eq!(parsed["name"].as_str(), Some(rule.name));
        }
        assert_eq!(parsed["lowercaseOutputName"].as_bool(), Some(true));
    }

    #[test]
    fn counters_end_in_total_and_gauges_do_not() {
        for rule in RULES {
            assert_eq!(rule.kind == "COUNTER", rule.name.ends_with("_total"), "{}", rule.name);
        }
    }

    #[test]
    fn the_agent_listens_on_the_pod_ip_at_the_configured_port() {
        let line = start_script_line(&JmxExporter { port: 9500, image: "x".to_owned() });
        assert!(line.contains(
            "-javaagent:/opt/gregor/metrics-agent/jmx_prometheus_javaagent.jar=${BIND_IP}:9500:/opt/gregor/config/jmx-exporter.yaml"
        ));
        assert!(line.starts_with("export KAFKA_OPTS=\"${KAFKA_OPTS:+$KAFKA_OPTS }"));
    }
}

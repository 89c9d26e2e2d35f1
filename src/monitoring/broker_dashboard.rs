//! The `broker JVM` dashboard: what the JMX exporter javaagent (`spec.metrics.jmxExporter`)
//! serves on each Kafka pod's `metrics` port, under the names its rules file
//! (`render::metrics_agent`) gives them. Its queries select on `namespace` and `cluster` labels,
//! which a scrape of the pods adds (a PodMonitor's relabeling of the pod's namespace and its
//! `kafka.gregor.dev/cluster` label), and show one line per `pod`.

use super::dashboards::{Dashboard, Panel, PanelKind, SEL};

/// A broker metric, selected by the dashboard variables.
fn m(name: &str) -> String {
    format!("{name}{{{SEL}}}")
}

/// A metric with extra label matchers.
fn m_with(name: &str, matchers: &str) -> String {
    format!("{name}{{{SEL},{matchers}}}")
}

fn rate(series: &str) -> String {
    format!("rate({series}[$__rate_interval])")
}

fn panel(title: &'static str, unit: &'static str, queries: Vec<(String, &'static str)>) -> Panel {
    Panel { title, kind: PanelKind::TimeSeries, unit, queries }
}

/// The Kafka APIs whose rate and latency the dashboard shows.
const CLIENT_REQUESTS: &str = "request=~\"Produce|FetchConsumer|FetchFollower\"";

/// The dashboard's uid (and file name).
pub const UID: &str = "gregor-kafka-broker-jvm";

/// The broker JVM dashboard.
pub fn broker_dashboard() -> Dashboard {
    let per_pod = |expr: String| format!("sum by (namespace, cluster, pod) ({expr})");
    Dashboard {
        uid: UID,
        title: "Gregor / Kafka broker JVM",
        panels: vec![
            panel(
                "Request rate",
                "reqps",
                vec![(
                    format!("sum by (namespace, cluster, request) ({})", rate(&m("kafka_network_requestmetrics_requests_total"))),
                    "{{cluster}} {{request}}",
                )],
            ),
            panel(
                "Request latency p99 (total time)",
                "ms",
                vec![(
                    format!(
                        "max by (namespace, cluster, request) ({})",
                        m_with("kafka_network_requestmetrics_totaltimems", &format!("{CLIENT_REQUESTS},quantile=\"0.99\""))
                    ),
                    "{{cluster}} {{request}}",
                )],
            ),
            panel(
                "Request latency p50 (total time)",
                "ms",
                vec![(
                    format!(
                        "max by (namespace, cluster, request) ({})",
                        m_with("kafka_network_requestmetrics_totaltimems", &format!("{CLIENT_REQUESTS},quantile=\"0.50\""))
                    ),
                    "{{cluster}} {{request}}",
                )],
            ),
            panel(
                "Network processor idle",
                "percentunit",
                vec![(m("kafka_network_socketserver_networkprocessoravgidlepercent"), "{{cluster}} {{pod}}")],
            ),
            panel(
                "Request handler idle",
                "percentunit",
                vec![(m("kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent"), "{{cluster}} {{pod}}")],
            ),
            panel(
                "Bytes in / out",
                "Bps",
                vec![
                    (per_pod(rate(&m("kafka_server_brokertopicmetrics_bytesin_total"))), "in {{pod}}"),
                    (per_pod(rate(&m("kafka_server_brokertopicmetrics_bytesout_total"))), "out {{pod}}"),
                ],
            ),
            panel("Messages in", "ops", vec![(per_pod(rate(&m("kafka_server_brokertopicmetrics_messagesin_total"))), "{{pod}}")]),
            panel(
                "ISR shrinks / expands",
                "ops",
                vec![
                    (per_pod(rate(&m("kafka_server_replicamanager_isrshrinks_total"))), "shrinks {{pod}}"),
                    (per_pod(rate(&m("kafka_server_replicamanager_isrexpands_total"))), "expands {{pod}}"),
                ],
            ),
            panel(
                "Log flush time p99",
                "ms",
                vec![(m_with("kafka_log_logflushstats_logflushrateandtimems", "quantile=\"0.99\""), "{{cluster}} {{pod}}")],
            ),
            panel(
                "Under-replicated partitions (broker view)",
                "none",
                vec![(m("kafka_server_replicamanager_underreplicatedpartitions"), "{{cluster}} {{pod}}")],
            ),
            panel("JVM heap used", "bytes", vec![(m_with("jvm_memory_used_bytes", "area=\"heap\""), "{{cluster}} {{pod}}")]),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_panel_selects_on_the_dashboard_variables() {
        let d = broker_dashboard();
        assert!(d.panels.len() >= 8);
        for p in &d.panels {
            for (expr, _) in &p.queries {
                assert!(expr.contains(SEL), "{}: {expr}", p.title);
            }
        }
    }
}

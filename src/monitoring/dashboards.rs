//! The Grafana dashboards, generated from the same metric names as the rules, each with a
//! datasource, a `namespace` and a `cluster` variable. Written to
//! `deploy/monitoring/dashboards/<uid>.json` by `make generate` and checked for drift.

use serde_json::{Value, json};

use crate::controller::health::metric::HealthMetric as M;
use crate::controller::operator_metrics::{IN_FLIGHT, RECONCILE_DURATION, RESTARTS_BY_REASON};
use crate::monitoring::rules::{EXPIRY, FAILURES, LEADER, OUTCOMES, ROLL_STATE};

/// How a panel shows its queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelKind {
    /// One number per series, now.
    Stat,
    /// Lines over time.
    TimeSeries,
}

impl PanelKind {
    fn grafana_type(self) -> &'static str {
        match self {
            PanelKind::Stat => "stat",
            PanelKind::TimeSeries => "timeseries",
        }
    }
}

/// One panel: a title, its queries `(expr, legend)` and a Grafana unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panel {
    pub title: &'static str,
    pub kind: PanelKind,
    pub unit: &'static str,
    pub queries: Vec<(String, &'static str)>,
}

/// One dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dashboard {
    /// Its Grafana uid and file name.
    pub uid: &'static str,
    pub title: &'static str,
    pub panels: Vec<Panel>,
}

/// The label matchers of the namespace/cluster variables.
pub(super) const SEL: &str = "namespace=~\"$namespace\",cluster=~\"$cluster\"";

fn q(metric: M) -> String {
    format!("{}{{{SEL}}}", metric.name())
}

fn panel(title: &'static str, kind: PanelKind, unit: &'static str, queries: Vec<(String, &'static str)>) -> Panel {
    Panel { title, kind, unit, queries }
}

/// Every dashboard.
pub fn dashboards() -> Vec<Dashboard> {
    use PanelKind::{Stat, TimeSeries};
    let usable = q(M::LogDirUsableBytes);
    let total = q(M::LogDirTotalBytes);
    let by_cluster = |m: M| format!("sum by (namespace, cluster) ({})", q(m));
    let lag = q(M::ConsumerGroupLag);
    vec![
        Dashboard {
            uid: "gregor-kafka-overview",
            title: "Gregor / Kafka cluster overview",
            panels: vec![
                panel("Health gathering up", Stat, "none", vec![(q(M::Up), "{{cluster}}")]),
                panel("Brokers registered", Stat, "none", vec![(by_cluster(M::BrokerRegistered), "{{cluster}}")]),
                panel("Brokers fenced", Stat, "none", vec![(by_cluster(M::BrokerFenced), "{{cluster}}")]),
                panel("Active controller", Stat, "none", vec![(q(M::ActiveControllerId), "{{cluster}}")]),
                panel("Offline partitions", Stat, "none", vec![(q(M::OfflinePartitions), "{{cluster}}")]),
                panel("Under min ISR", Stat, "none", vec![(q(M::UnderMinIsrPartitions), "{{cluster}}")]),
                panel("Under-replicated", Stat, "none", vec![(q(M::UnderReplicatedPartitions), "{{cluster}}")]),
                panel("Partitions", Stat, "none", vec![(q(M::Partitions), "{{cluster}}")]),
                panel(
                    "Fullest broker disk",
                    Stat,
                    "percentunit",
                    vec![(format!("max by (namespace, cluster) (1 - {usable} / {total})"), "{{cluster}}")],
                ),
            ],
        },
        Dashboard {
            uid: "gregor-kafka-brokers",
            title: "Gregor / Kafka brokers and disk",
            panels: vec![
                panel("Disk usage", TimeSeries, "percentunit", vec![(format!("1 - {usable} / {total}"), "{{cluster}} {{node}}")]),
                panel("Usable bytes", TimeSeries, "bytes", vec![(usable.clone(), "{{cluster}} {{node}}")]),
                panel(
                    "Time to full (at the last hour's rate)",
                    TimeSeries,
                    "s",
                    vec![(format!("{usable} / clamp_min(-deriv({usable}[1h]), 1)"), "{{cluster}} {{node}}")],
                ),
                panel("Partitions led", TimeSeries, "none", vec![(q(M::BrokerPartitionsLed), "{{cluster}} {{node}}")]),
                panel("Replicas hosted", TimeSeries, "none", vec![(q(M::BrokerReplicas), "{{cluster}} {{node}}")]),
                panel(
                    "Registered / fenced",
                    TimeSeries,
                    "none",
                    vec![(q(M::BrokerRegistered), "registered {{cluster}} {{node}}"), (q(M::BrokerFenced), "fenced {{cluster}} {{node}}")],
                ),
            ],
        },
        Dashboard {
            uid: "gregor-kafka-partitions",
            title: "Gregor / Kafka partitions, ISR and quorum",
            panels: vec![
                panel(
                    "Partitions out of sync",
                    TimeSeries,
                    "none",
                    vec![
                        (q(M::UnderReplicatedPartitions), "under-replicated {{cluster}}"),
                        (q(M::UnderMinIsrPartitions), "under min ISR {{cluster}}"),
                        (q(M::OfflinePartitions), "offline {{cluster}}"),
                    ],
                ),
                panel("Partitions", TimeSeries, "none", vec![(q(M::Partitions), "{{cluster}}")]),
                panel("Quorum voter lag", TimeSeries, "none", vec![(q(M::QuorumVoterLag), "{{cluster}} voter {{node}}")]),
                panel("Active controller", TimeSeries, "none", vec![(q(M::ActiveControllerId), "{{cluster}}")]),
                panel("Quorum leader epoch", TimeSeries, "none", vec![(q(M::QuorumLeaderEpoch), "{{cluster}}")]),
            ],
        },
        Dashboard {
            uid: "gregor-operator",
            title: "Gregor / operator",
            panels: vec![
                panel("Leader", Stat, "none", vec![(format!("sum({LEADER})"), "replicas leading")]),
                panel(
                    "Reconciles",
                    TimeSeries,
                    "ops",
                    vec![("sum(rate(gregor_reconciles_total[$__rate_interval]))".to_owned(), "reconciles/s")],
                ),
                panel(
                    "Reconcile outcomes by reason",
                    TimeSeries,
                    "ops",
                    vec![(format!("sum by (kind, reason) (rate({OUTCOMES}[$__rate_interval]))"), "{{kind}} {{reason}}")],
                ),
                panel(
                    "Reconcile failures by category",
                    TimeSeries,
                    "ops",
                    vec![(format!("sum by (kind, category) (rate({FAILURES}[$__rate_interval]))"), "{{kind}} {{category}}")],
                ),
                panel("Writes", TimeSeries, "ops", vec![("sum(rate(gregor_writes_total[$__rate_interval]))".to_owned(), "writes/s")]),
                panel(
                    "Pod restarts (rolls)",
                    TimeSeries,
                    "none",
                    vec![("sum(increase(gregor_pod_restarts_total[1h]))".to_owned(), "restarts in 1 h")],
                ),
                panel(
                    "Reconcile duration (p50, p99)",
                    TimeSeries,
                    "s",
                    vec![
                        (
                            format!("histogram_quantile(0.5, sum by (kind, le) (rate({RECONCILE_DURATION}_bucket[$__rate_interval])))"),
                            "p50 {{kind}}",
                        ),
                        (
                            format!("histogram_quantile(0.99, sum by (kind, le) (rate({RECONCILE_DURATION}_bucket[$__rate_interval])))"),
                            "p99 {{kind}}",
                        ),
                    ],
                ),
                panel("Reconciles in flight", TimeSeries, "none", vec![(format!("sum by (kind) ({IN_FLIGHT})"), "{{kind}}")]),
                panel("Roll state", TimeSeries, "none", vec![(format!("{ROLL_STATE}{{{SEL}}} == 1"), "{{cluster}} {{state}}")]),
                panel(
                    "Pod restarts by reason",
                    TimeSeries,
                    "none",
                    vec![(format!("sum by (reason) (increase({RESTARTS_BY_REASON}[1h]))"), "{{reason}} in 1 h")],
                ),
                panel(
                    "Certificates: days to expiry",
                    TimeSeries,
                    "d",
                    vec![(format!("({EXPIRY}{{{SEL}}} - time()) / 86400"), "{{cluster}} {{kind}} {{name}}")],
                ),
            ],
        },
        Dashboard {
            uid: "gregor-kafka-consumers",
            title: "Gregor / Kafka consumer lag",
            panels: vec![
                panel(
                    "Total lag per group",
                    Stat,
                    "none",
                    vec![(format!("sum by (namespace, cluster, group) ({lag})"), "{{cluster}} {{group}}")],
                ),
                panel("Lag per group and topic", TimeSeries, "none", vec![(lag.clone(), "{{group}} {{topic}}")]),
                panel("Lag growth (records/s, 5 m)", TimeSeries, "none", vec![(format!("deriv({lag}[5m])"), "{{group}} {{topic}}")]),
                panel(
                    "Groups with lag",
                    Stat,
                    "none",
                    vec![(format!("count by (namespace, cluster) (sum by (namespace, cluster, group) ({lag}) > 0)"), "{{cluster}}")],
                ),
            ],
        },
        super::broker_dashboard::broker_dashboard(),
    ]
}

fn variables() -> Value {
    let label = |name: &str, query: &str| {
        json!({
            "name": name, "label": name, "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": query, "refId": name}, "definition": query,
            "includeAll": true, "multi": true, "allValue": ".*", "refresh": 2, "sort": 1,
            "current": {"selected": true, "text": ["All"], "value": ["$__all"]}
        })
    };
    json!({"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "refresh": 1},
        label("namespace", &format!("label_values({}, namespace)", M::Up.name())),
        label("cluster", &format!("label_values({}{{namespace=~\"$namespace\"}}, cluster)", M::Up.name())),
    ]})
}

/// A dashboard as Grafana JSON (schema 39), panels laid out three per row.
pub fn dashboard_json(d: &Dashboard) -> Value {
    let panels: Vec<Value> = d
        .panels
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (w, h) = match p.kind {
                PanelKind::Stat => (8, 4),
                PanelKind::TimeSeries => (8, 8),
            };
            let targets: Vec<Value> = p
                .queries
                .iter()
                .enumerate()
                .map(|(j, (expr, legend))| {
                    json!({"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": expr, "legendFormat": legend,
                           "refId": char::from(b'A' + u8::try_from(j).unwrap_or(25)).to_string()})
                })
                .collect();
            json!({
                "id": i + 1, "title": p.title, "type": p.kind.grafana_type(),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"x": (i % 3) * 8, "y": (i / 3) * h, "w": w, "h": h},
                "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
                "targets": targets
            })
        })
        .collect();
    json!({
        "uid": d.uid, "title": d.title, "tags": ["gregor", "kafka"], "timezone": "browser", "editable": true,
        "schemaVersion": 39, "version": 1, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": variables(), "panels": panels,
        "description": "Generated by 'gregor monitoring dashboards' (make generate). Do not edit."
    })
}

/// `(file name, pretty JSON)` of every dashboard.
pub fn dashboard_files() -> Result<Vec<(String, String)>, serde_json::Error> {
    dashboards()
        .iter()
        .map(|d| Ok((format!("{}.json", d.uid), format!("{}\n", serde_json::to_string_pretty(&dashboard_json(d))?))))
        .collect()
}

/// A panel query with the dashboard variables filled in, as a test runs it against Prometheus.
pub fn with_variables(expr: &str, namespace: &str, cluster: &str, rate_interval: &str) -> String {
    expr.replace("$namespace", namespace).replace("$cluster", cluster).replace("$__rate_interval", rate_interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item5_every_dashboard_has_the_variables_and_uses_them() {
        let all = dashboards();
        assert_eq!(all.len(), 6);
        for d in &all {
            let j = dashboard_json(d);
            let vars: Vec<&str> = j["templating"]["list"].as_array().expect("vars").iter().filter_map(|v| v["name"].as_str()).collect();
            assert_eq!(vars, ["datasource", "namespace", "cluster"]);
            for p in &d.panels {
                for (expr, _) in &p.queries {
                    let operator = !expr.contains("gregor_kafka_") && !expr.contains("namespace");
                    assert!(operator || expr.contains(SEL), "{}: {expr} ignores the variables", p.title);
                }
            }
        }
        let names: Vec<String> = dashboard_files().expect("json").into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"gregor-kafka-brokers.json".to_owned()));
        assert_eq!(
            with_variables("x{namespace=~\"$namespace\",cluster=~\"$cluster\"}[$__rate_interval]", "ns", "c", "1m"),
            "x{namespace=~\"ns\",cluster=~\"c\"}[1m]"
        );
    }
}

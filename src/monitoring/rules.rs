//! The alert rules, generated from the typed metric names (`controller::health::metric`) and
//! reasons (`controller::reason`), so a renamed metric or a new stalling reason reaches the rules.
//!
//! `deploy/monitoring/gregor-rules.yaml` and the chart's `templates/prometheus-rule.yaml` are
//! written from here by `make generate` and checked for drift. Each alert names a runbook,
//! `docs/runbooks/<alert>.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::controller::health::metric::HealthMetric as M;
use crate::controller::reason::{ClusterReason, TopicReason, UserReason};

/// The default base of each alert's `runbook_url` (the runbooks in this repository). Point it at
/// your copy with `--runbook-base-url` (or the chart's `monitoring.runbookBaseUrl`).
pub const DEFAULT_RUNBOOK_BASE_URL: &str = "docs/runbooks";

/// How serious an alert is (the `severity` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Someone must act now: data is unavailable or about to be.
    Critical,
    /// Look at it today.
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// One alert, before rendering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub name: &'static str,
    /// The group it belongs to.
    pub group: &'static str,
    /// The value the alert watches: a PromQL expression that returns a series on a healthy
    /// cluster too (the e2e runs it against a real Prometheus).
    pub value: String,
    /// The condition on `value` that fires, e.g. `> 0`.
    pub condition: &'static str,
    /// How long the condition must hold.
    pub hold: Duration,
    pub severity: Severity,
    pub summary: &'static str,
    /// May use `{{ $labels.x }}` and `{{ $value }}`.
    pub description: &'static str,
}

impl Alert {
    /// The full expression: `value condition`.
    pub fn expr(&self) -> String {
        format!("{} {}", self.value, self.condition)
    }
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// `a|b|c` of the reasons (of every kind) for which `pick` holds.
fn reason_regex(pick: impl Fn(&str, bool) -> bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    names.extend(ClusterReason::ALL.iter().filter(|r| pick(r.as_str(), r.stalls())).map(|r| r.as_str()));
    names.extend(TopicReason::ALL.iter().filter(|r| pick(r.as_str(), r.stalls())).map(|r| r.as_str()));
    names.extend(UserReason::ALL.iter().filter(|r| pick(r.as_str(), r.stalls())).map(|r| r.as_str()));
    names.sort_unstable();
    names.dedup();
    names.join("|")
}

/// The cluster reasons of a roll that cannot go on by itself.
fn stuck_roll_reasons() -> String {
    let roll: Vec<&str> =
        [ClusterReason::RollStalled, ClusterReason::RollHalted].iter().inspect(|r| debug_assert!(r.stalls())).map(|r| r.as_str()).collect();
    roll.join("|")
}

/// The operator's outcome counter (exported by `controller::http`).
pub const OUTCOMES: &str = "gregor_reconcile_outcomes_total";
/// The operator's failure counter (exported by `controller::http`).
pub const FAILURES: &str = "gregor_reconcile_failures_total";
/// The leader gauge (exported by `controller::http`).
pub const LEADER: &str = "gregor_leader";
/// The roll state gauge (exported by `controller::operator_metrics`).
pub const ROLL_STATE: &str = crate::controller::operator_metrics::ROLL_STATE;
/// The certificate expiry gauge (exported by `controller::certificates::expiry`).
pub const EXPIRY: &str = crate::controller::certificates::expiry::EXPIRY_METRIC;
/// Days before a certificate's end at which its alert fires.
pub const CERTIFICATE_ALERT_DAYS: u32 = 14;
const CERTIFICATE_DAYS_CONDITION: &str = "< 14";

/// Every alert, in the order of the rules file.
pub fn alerts() -> Vec<Alert> {
    let usable = M::LogDirUsableBytes.name();
    let total = M::LogDirTotalBytes.name();
    let roll = stuck_roll_reasons();
    let roll_names: Vec<&str> = roll.split('|').collect();
    let stuck_states = crate::roll::RollState::ALL.iter().filter(|s| s.stuck()).map(|s| s.as_str()).collect::<Vec<_>>().join("|");
    let stalled = reason_regex(|name, stalls| stalls && !roll_names.contains(&name));
    vec![
        Alert {
            name: "KafkaBrokerDiskFillingUp",
            group: "gregor-kafka-disk",
            value: format!("predict_linear({usable}[6h], 24 * 3600)"),
            condition: "<= 0",
            hold: minutes(30),
            severity: Severity::Warning,
            summary: "Kafka broker disk predicted to fill within 24 hours",
            description: "At the rate of the last 6 hours, the log directories of broker {{ $labels.node }} of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} fill up within 24 hours. A full disk stops the broker.",
        },
        Alert {
            name: "KafkaBrokerDiskUsageHigh",
            group: "gregor-kafka-disk",
            value: format!("1 - {usable} / {total}"),
            condition: "> 0.85",
            hold: minutes(5),
            severity: Severity::Critical,
            summary: "Kafka broker disk more than 85 % full",
            description: "The log directories of broker {{ $labels.node }} of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} are {{ $value | humanizePercentage }} full.",
        },
        Alert {
            name: "KafkaOfflinePartitions",
            group: "gregor-kafka-partitions",
            value: M::OfflinePartitions.name().to_owned(),
            condition: "> 0",
            hold: minutes(1),
            severity: Severity::Critical,
            summary: "Kafka partitions without a leader",
            description: "{{ $value }} partitions of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} have no leader: nobody can read or write them.",
        },
        Alert {
            name: "KafkaUnderMinIsrPartitions",
            group: "gregor-kafka-partitions",
            value: M::UnderMinIsrPartitions.name().to_owned(),
            condition: "> 0",
            hold: minutes(2),
            severity: Severity::Critical,
            summary: "Kafka partitions below min.insync.replicas",
            description: "{{ $value }} partitions of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} have fewer in-sync replicas than min.insync.replicas: producers with acks=all fail on them.",
        },
        Alert {
            name: "KafkaUnderReplicatedPartitions",
            group: "gregor-kafka-partitions",
            value: M::UnderReplicatedPartitions.name().to_owned(),
            condition: "> 0",
            hold: minutes(10),
            severity: Severity::Warning,
            summary: "Kafka partitions under-replicated for 10 minutes",
            description: "{{ $value }} partitions of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} have had a replica out of their in-sync set for 10 minutes.",
        },
        Alert {
            name: "KafkaActiveControllersNotOne",
            group: "gregor-kafka-quorum",
            value: M::ActiveControllers.name().to_owned(),
            condition: "!= 1",
            hold: minutes(5),
            severity: Severity::Critical,
            summary: "Kafka has no active controller",
            description: "KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} reports {{ $value }} active KRaft controllers: without one, no metadata changes (topics, leaders, ISR) happen.",
        },
        Alert {
            name: "KafkaQuorumVoterLagging",
            group: "gregor-kafka-quorum",
            value: M::QuorumVoterLag.name().to_owned(),
            condition: "> 1000",
            hold: minutes(5),
            severity: Severity::Warning,
            summary: "A KRaft controller is behind the quorum leader",
            description: "Voter {{ $labels.node }} of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} is {{ $value }} metadata records behind the quorum leader.",
        },
        Alert {
            name: "KafkaBrokerFenced",
            group: "gregor-kafka-quorum",
            value: M::BrokerFenced.name().to_owned(),
            condition: "== 1",
            hold: minutes(5),
            severity: Severity::Warning,
            summary: "A Kafka broker is fenced",
            description: "Broker {{ $labels.node }} of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} is registered but fenced: it leads and serves nothing.",
        },
        Alert {
            name: "KafkaBrokerNotRegistered",
            group: "gregor-kafka-quorum",
            value: M::BrokerRegistered.name().to_owned(),
            condition: "== 0",
            hold: minutes(10),
            severity: Severity::Warning,
            summary: "A Kafka broker of the spec is not registered",
            description: "Broker {{ $labels.node }} of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} is in the spec but not registered with the KRaft controller.",
        },
        Alert {
            name: "KafkaClusterHealthUnknown",
            group: "gregor-kafka-quorum",
            value: M::Up.name().to_owned(),
            condition: "== 0",
            hold: minutes(5),
            severity: Severity::Warning,
            summary: "Gregor cannot read a Kafka cluster's health",
            description: "The operator's Admin API calls to KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} fail: its health metrics are missing or stale.",
        },
        Alert {
            name: "KafkaConsumerGroupLagGrowing",
            group: "gregor-kafka-consumers",
            value: format!("deriv({}[5m])", M::ConsumerGroupLag.name()),
            condition: "> 0",
            hold: minutes(15),
            severity: Severity::Warning,
            summary: "A Kafka consumer group's lag has grown for 15 minutes",
            description: "The lag of consumer group {{ $labels.group }} on topic {{ $labels.topic }} of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} has kept growing for 15 minutes: its consumers fall behind the producers, or have stopped.",
        },
        Alert {
            name: "GregorRollStuck",
            group: "gregor-operator",
            value: format!("max by (namespace, cluster, state) ({ROLL_STATE}{{state=~\"{stuck_states}\"}})"),
            condition: "== 1",
            hold: minutes(15),
            severity: Severity::Warning,
            summary: "A Kafka roll is stuck",
            description: "The roll of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} has been {{ $labels.state }} for 15 minutes: it waits for a node longer than it may, the next restart would drop partitions below min ISR, or a stuck pod halts it. `kubectl describe kc` shows which.",
        },
        Alert {
            name: "GregorResourceStalled",
            group: "gregor-operator",
            value: format!("sum by (kind, reason) (increase({OUTCOMES}{{reason=~\"{stalled}\"}}[15m]))"),
            condition: "> 0",
            hold: minutes(5),
            severity: Severity::Warning,
            summary: "Gregor refuses a change (Stalled)",
            description: "Reconciles of kind {{ $labels.kind }} keep ending with {{ $labels.reason }}, a reason that needs a person (Stalled=True): the change is not applied.",
        },
        Alert {
            name: "GregorReconcileErrors",
            group: "gregor-operator",
            value: format!("sum by (kind, category) (increase({FAILURES}[15m]))"),
            condition: "> 3",
            hold: minutes(15),
            severity: Severity::Warning,
            summary: "Gregor's reconciles keep failing",
            description: "{{ $value }} reconciles of kind {{ $labels.kind }} failed with {{ $labels.category }} errors in 15 minutes.",
        },
        Alert {
            name: "GregorCertificateExpiresSoon",
            group: "gregor-operator",
            value: format!("({EXPIRY} - time()) / 86400"),
            condition: CERTIFICATE_DAYS_CONDITION,
            hold: minutes(15),
            severity: Severity::Warning,
            summary: "A Kafka certificate expires within 14 days",
            description: "The {{ $labels.kind }} certificate {{ $labels.name }} of KafkaCluster {{ $labels.namespace }}/{{ $labels.cluster }} expires in {{ $value | printf \"%.0f\" }} days. Gregor renews node certificates 30 days (renewalDays) before their end, so one this close was not renewed.",
        },
        Alert {
            name: "GregorNoLeader",
            group: "gregor-operator",
            value: format!("sum({LEADER})"),
            condition: "< 1",
            hold: minutes(5),
            severity: Severity::Critical,
            summary: "No Gregor replica leads",
            description: "No operator replica holds the leader-election Lease: no Kafka resource is reconciled.",
        },
    ]
}

/// How to render the rules.
#[derive(Clone, Debug)]
pub struct Options {
    /// Base of each `runbook_url` (`<base>/<alert>.md`).
    pub runbook_base_url: String,
    /// Multiplies every `for:` (never below 1 s). Tests use a small factor to see alerts fire
    /// within a test's time; the expressions stay the same.
    pub for_scale: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { runbook_base_url: DEFAULT_RUNBOOK_BASE_URL.to_owned(), for_scale: 1.0 }
    }
}

/// A Prometheus duration: whole minutes as `Nm`, else seconds.
pub fn prom_duration(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s.is_multiple_of(60) { format!("{}m", s / 60) } else { format!("{s}s") }
}

#[derive(Serialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    hold: String,
    labels: BTreeMap<&'static str, String>,
    annotations: BTreeMap<&'static str, String>,
}

fn groups(opts: &Options) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for a in alerts() {
        let hold = Duration::from_secs_f64((a.hold.as_secs_f64() * opts.for_scale).max(1.0));
        let rule = Rule {
            alert: a.name.to_owned(),
            expr: a.expr(),
            hold: prom_duration(Duration::from_secs(hold.as_secs())),
            labels: BTreeMap::from([("severity", a.severity.as_str().to_owned())]),
            annotations: BTreeMap::from([
                ("summary", a.summary.to_owned()),
                ("description", a.description.to_owned()),
                ("runbook_url", format!("{}/{}.md", opts.runbook_base_url.trim_end_matches('/'), a.name)),
            ]),
        };
        match out.last_mut() {
            Some(g) if g.name == a.group => g.rules.push(rule),
            _ => out.push(Group { name: a.group.to_owned(), rules: vec![rule] }),
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("serializing the rules: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// The plain Prometheus rules file (`rule_files:`), as YAML.
pub fn rules_file(opts: &Options) -> Result<String, RulesError> {
    let body = serde_yaml::to_string(&RuleFile { groups: groups(opts) })?;
    Ok(format!("# Generated by 'gregor monitoring rules' (make generate). Do not edit.\n{body}"))
}

/// Makes `{{ … }}` of Prometheus templates literal for Helm: `{{` + "`{{ … }}`" + `}}`.
fn helm_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else { break };
        let end = start + len + 2;
        out.push_str(&rest[..start]);
        out.push_str("{{`");
        out.push_str(&rest[start..end]);
        out.push_str("`}}");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A placeholder for the runbook base in the chart, replaced by a Helm expression.
const CHART_RUNBOOK_BASE: &str = "RUNBOOK_BASE_URL_PLACEHOLDER";

/// The chart's `templates/prometheus-rule.yaml`: the same rules as a `PrometheusRule`, rendered
/// only when the monitoring.coreos.com/v1 API exists and `monitoring.prometheusRule.enabled`.
pub fn chart_template() -> Result<String, RulesError> {
    let opts = Options { runbook_base_url: CHART_RUNBOOK_BASE.to_owned(), for_scale: 1.0 };
    let spec = serde_yaml::to_string(&RuleFile { groups: groups(&opts) })?;
    let spec = helm_escape(&spec).replace(CHART_RUNBOOK_BASE, "{{ .Values.monitoring.runbookBaseUrl | trimSuffix \"/\" }}");
    let indented: String = spec.lines().map(|l| if l.is_empty() { "\n".to_owned() } else { format!("  {l}\n") }).collect();
    Ok(format!(
        "{{{{- /* Generated by 'gregor monitoring chart-rules' (make generate). Do not edit. */ -}}}}\n\
         {{{{- if and .Values.monitoring.prometheusRule.enabled (.Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\") }}}}\n\
         apiVersion: monitoring.coreos.com/v1\n\
         kind: PrometheusRule\n\
         metadata:\n  \
           name: {{{{ include \"gregor.fullname\" . }}}}\n  \
           namespace: {{{{ .Release.Namespace }}}}\n  \
           labels:\n    \
             {{{{- include \"gregor.labels\" . | nindent 4 }}}}\n    \
             {{{{- with .Values.monitoring.prometheusRule.labels }}}}\n    \
             {{{{- toYaml . | nindent 4 }}}}\n    \
             {{{{- end }}}}\n\
         spec:\n\
         {indented}\
         {{{{- end }}}}\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_has_a_unique_name_a_runbook_and_annotations() {
        let all = alerts();
        let mut names: Vec<&str> = all.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for a in &all {
            assert!(!a.summary.is_empty() && !a.description.is_empty(), "{}", a.name);
            let runbook = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/runbooks").join(format!("{}.md", a.name));
            assert!(runbook.exists(), "{} has no runbook at {}", a.name, runbook.display());
        }
    }

    #[test]
    fn flapping_alerts_wait_at_least_five_minutes() {
        for a in alerts() {
            let urgent = ["KafkaOfflinePartitions", "KafkaUnderMinIsrPartitions"].contains(&a.name);
            assert!(urgent || a.hold >= minutes(5), "{} holds only {:?}", a.name, a.hold);
        }
        let urp = alerts().into_iter().find(|a| a.name == "KafkaUnderReplicatedPartitions").expect("URP alert");
        assert_eq!(urp.hold, minutes(10));
    }

    #[test]
    fn stalled_reasons_come_from_the_typed_enums() {
        let all = alerts();
        let stalled = all.iter().find(|a| a.name == "GregorResourceStalled").expect("stalled alert");
        for r in ClusterReason::ALL.iter().filter(|r| r.stalls() && !matches!(r, ClusterReason::RollStalled | ClusterReason::RollHalted)) {
            assert!(stalled.value.contains(r.as_str()), "{r} missing from {}", stalled.value);
        }
        assert!(!stalled.value.contains("RollStalled") && !stalled.value.contains("Ready|"));
        assert!(TopicReason::ALL.iter().filter(|r| r.stalls()).all(|r| stalled.value.contains(r.as_str())));
        let roll = all.iter().find(|a| a.name == "GregorRollStuck").expect("roll alert");
        assert!(roll.value.contains("gregor_roll_state{state=~\"Overdue|Blocked|Halted\"}"), "{}", roll.value);
        let certs = all.iter().find(|a| a.name == "GregorCertificateExpiresSoon").expect("certificate alert");
        assert_eq!(certs.condition, format!("< {CERTIFICATE_ALERT_DAYS}"));
    }

    #[test]
    fn for_scale_shortens_holds_and_keeps_expressions() {
        let normal = rules_file(&Options::default()).expect("rules");
        let fast = rules_file(&Options { for_scale: 0.01, ..Options::default() }).expect("rules");
        let exprs = |t: &str| t.lines().filter(|l| l.trim_start().starts_with("expr:")).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(exprs(&normal), exprs(&fast));
        assert!(normal.contains("for: 10m") && fast.contains("for: 6s") && fast.contains("for: 3s"));
        assert_eq!(
            (prom_duration(minutes(5)), prom_duration(Duration::from_secs(90)), prom_duration(Duration::ZERO)),
            ("5m".into(), "90s".into(), "1s".into())
        );
    }

    #[test]
    fn chart_template_escapes_prometheus_templates() {
        let t = chart_template().expect("template");
        assert!(t.contains("{{`{{ $labels.node }}`}}"), "{t}");
        assert!(!t.contains("RUNBOOK_BASE_URL_PLACEHOLDER"));
        assert!(t.contains(".Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\""));
        assert_eq!(helm_escape("a {{ $value }} b {{ x }}"), "a {{`{{ $value }}`}} b {{`{{ x }}`}}");
    }
}

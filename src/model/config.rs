//! Broker configuration rules: operator-owned keys, value checks for known keys, replication defaults.
use std::collections::BTreeMap;

use super::error::Findings;

/// `min.insync.replicas`: with `acks=all`, a write needs this many in-sync replicas. A roll
/// must never take a partition below it.
pub const MIN_ISR_KEY: &str = "min.insync.replicas";
/// Key prefixes the operator owns; a `spec.config` key starting with one is rejected.
pub const OWNED_PREFIXES: &[&str] = &[
    "listeners",
    "advertised.",
    "broker.",
    "listener.",
    "host.name",
    "port",
    "inter.broker.listener.name",
    "sasl.",
    "ssl.",
    "security.",
    "password.",
    "log.dir",
    "authorizer.",
    "super.user",
    "node.id",
    "process.roles",
    "controller.",
    "metadata.log.dir",
    "zookeeper.",
    // Gregor resolves the operator's password through an environment config provider.
    "config.providers",
];

/// Keys allowed even though they start with an owned prefix.
pub const ALLOWED_EXCEPTIONS: &[&str] = &[
    "ssl.cipher.suites",
    "ssl.protocol",
    "ssl.enabled.protocols",
    "sasl.server.max.receive.size",
    "broker.session.timeout.ms",
    "broker.heartbeat.interval.ms",
    "controller.quorum.election.timeout.ms",
    "controller.quorum.fetch.timeout.ms",
    "controller.quorum.election.backoff.max.ms",
    "controller.socket.timeout.ms",
];

/// Replication-factor keys that default to min(3, brokers), each with its min-ISR key (default max(1, RF-1)).
pub const REPLICATION_KEYS: &[(&str, Option<&str>)] = &[
    ("default.replication.factor", Some(MIN_ISR_KEY)),
    ("offsets.topic.replication.factor", None),
    ("transaction.state.log.replication.factor", Some("transaction.state.log.min.isr")),
    ("share.coordinator.state.topic.replication.factor", Some("share.coordinator.state.topic.min.isr")),
];

/// Returns the owned prefix a key falls under, unless it is an allowed exception.
pub fn owned_prefix(key: &str) -> Option<&'static str> {
    if ALLOWED_EXCEPTIONS.contains(&key) {
        return None;
    }
    OWNED_PREFIXES.iter().copied().find(|prefix| key.starts_with(prefix))
}

/// The type of a known key's value.
#[derive(Debug, Clone, Copy)]
enum ValueKind {
    /// Integer within an inclusive range.
    Int(i64, i64),
    Bool,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// Comma-separated list of the listed words.
    ListOf(&'static [&'static str]),
}

const POSITIVE: ValueKind = ValueKind::Int(1, i32::MAX as i64);
const NON_NEGATIVE: ValueKind = ValueKind::Int(0, i32::MAX as i64);
const LONG_OR_MINUS_ONE: ValueKind = ValueKind::Int(-1, i64::MAX);

/// Keys whose values Gregor checks. Unknown keys pass: they may belong to plugins.
const KNOWN_KEYS: &[(&str, ValueKind)] = &[
    ("default.replication.factor", POSITIVE),
    ("offsets.topic.replication.factor", ValueKind::Int(1, i16::MAX as i64)),
    ("transaction.state.log.replication.factor", ValueKind::Int(1, i16::MAX as i64)),
    ("share.coordinator.state.topic.replication.factor", ValueKind::Int(1, i16::MAX as i64)),
    (MIN_ISR_KEY, POSITIVE),
    ("transaction.state.log.min.isr", POSITIVE),
    ("share.coordinator.state.topic.min.isr", ValueKind::Int(1, i16::MAX as i64)),
    ("num.partitions", POSITIVE),
    ("offsets.topic.num.partitions", POSITIVE),
    ("transaction.state.log.num.partitions", POSITIVE),
    ("num.network.threads", POSITIVE),
    ("num.io.threads", POSITIVE),
    ("num.replica.fetchers", POSITIVE),
    ("num.recovery.threads.per.data.dir", POSITIVE),
    ("background.threads", POSITIVE),
    ("message.max.bytes", NON_NEGATIVE),
    ("replica.lag.time.max.ms", ValueKind::Int(1, i64::MAX)),
    ("log.retention.ms", LONG_OR_MINUS_ONE),
    ("log.retention.minutes", ValueKind::Int(-1, i32::MAX as i64)),
    ("log.retention.hours", ValueKind::Int(-1, i32::MAX as i64)),
    ("log.retention.bytes", LONG_OR_MINUS_ONE),
    ("log.segment.bytes", ValueKind::Int(14, i32::MAX as i64)),
    ("log.roll.ms", ValueKind::Int(1, i64::MAX)),
    ("group.initial.rebalance.delay.ms", NON_NEGATIVE),
    ("auto.create.topics.enable", ValueKind::Bool),
    ("auto.leader.rebalance.enable", ValueKind::Bool),
    ("unclean.leader.election.enable", ValueKind::Bool),
    ("delete.topic.enable", ValueKind::Bool),
    ("log.cleaner.enable", ValueKind::Bool),
    ("allow.everyone.if.no.acl.found", ValueKind::Bool),
    ("compression.type", ValueKind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"])),
    ("log.message.timestamp.type", ValueKind::OneOf(&["CreateTime", "LogAppendTime"])),
    ("log.cleanup.policy", ValueKind::ListOf(&["delete", "compact"])),
];

/// Turns a scalar JSON value of a Kafka configuration map into its text (server.properties,
/// topic configs).
pub(crate) fn scalar_text(value: &serde_json::Value) -> Result<String, &'static str> {
    match value {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Null => Err("must have a value (null is not allowed)"),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            Err("must be a string, number or boolean (write lists as comma-separated strings)")
        }
    }
}

fn check_kind(kind: ValueKind, text: &str) -> Result<(), String> {
    match kind {
        ValueKind::Int(min, max) => match text.trim().parse::<i64>() {
            Ok(n) if n >= min && n <= max => Ok(()),
            Ok(_) if max == i64::MAX => Err(format!("must be at least {min}")),
            Ok(_) => Err(format!("must be between {min} and {max}")),
            Err(_) => Err(format!("must be an integer, got \"{text}\"")),
        },
        ValueKind::Bool => match text.trim() {
            "true" | "false" => Ok(()),
            _ => Err(format!("must be true or false, got \"{text}\"")),
        },
        ValueKind::OneOf(words) => {
            if words.contains(&text.trim()) {
                Ok(())
            } else {
                Err(format!("must be one of {}, got \"{text}\"", words.join(", ")))
            }
        }
        ValueKind::ListOf(words) => {
            if text.split(',').all(|item| words.contains(&item.trim())) {
                Ok(())
            } else {
                Err(format!("must be a comma-separated list of {}, got \"{text}\"", words.join(", ")))
            }
        }
    }
}

/// Checks every `spec.config` entry and returns the valid ones as text.
/// Errors carry the path `spec.config.<key>`.
pub(crate) fn check_user_config(config: &BTreeMap<String, serde_json::Value>, findings: &mut Findings) -> BTreeMap<String, String> {
    let mut accepted = BTreeMap::new();
    for (key, value) in config {
        let path = format!("spec.config.{key}");
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || matches!(c, '=' | ':' | '#' | '!' | '\\')) {
            findings.error(path, "is not a valid property name");
            continue;
        }
        if let Some(prefix) = owned_prefix(key) {
            findings.error(path, format!("is owned by the operator (keys starting with \"{prefix}\" are not allowed)"));
            continue;
        }
        let text = match scalar_text(value) {
            Ok(text) => text,
            Err(message) => {
                findings.error(path, message);
                continue;
            }
        };
        if text.contains(['\n', '\r']) {
            findings.error(path, "must not contain line breaks");
            continue;
        }
        if let Some((_, kind)) = KNOWN_KEYS.iter().find(|(known, _)| known == key)
            && let Err(message) = check_kind(*kind, &text)
        {
            findings.error(path, message);
            continue;
        }
        accepted.insert(key.clone(), text);
    }
    accepted
}

/// Effective replication settings of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replication {
    /// `default.replication.factor` in effect.
    pub replication_factor: i32,
    /// `min.insync.replicas` in effect.
    pub min_insync_replicas: i32,
}

fn int_of(config: &BTreeMap<String, String>, key: &str) -> Option<i32> {
    config.get(key).and_then(|v| v.trim().parse().ok())
}

/// Adds the replication defaults (RF = min(3, brokers), min ISR = max(1, RF-1)) where the user left
/// them out, and checks the rules: RF <= brokers is an error; RF < 3 with 3+ brokers and min ISR >= RF
/// are warnings.
pub(crate) fn apply_replication_defaults(config: &mut BTreeMap<String, String>, brokers: i32, findings: &mut Findings) -> Replication {
    let default_rf = brokers.clamp(1, 3);
    for (rf_key, isr_key) in REPLICATION_KEYS {
        let rf = match int_of(config, rf_key) {
            Some(rf) => {
                if rf > brokers && brokers > 0 {
                    findings.error(
                        format!("spec.config.{rf_key}"),
                        format!("replication factor {rf} is greater than the number of brokers ({brokers})"),
                    );
                } else if rf < 3 && brokers >= 3 {
                    findings.warn(
                        format!("spec.config.{rf_key}"),
                        format!("replication factor {rf} is below 3 although there are {brokers} brokers; losing one broker can lose data"),
                    );
                }
                rf
            }
            None => {
                config.insert((*rf_key).to_owned(), default_rf.to_string());
                default_rf
            }
        };
        let Some(isr_key) = isr_key else { continue };
        match int_of(config, isr_key) {
            Some(isr) if isr >= rf && rf > 1 => findings.warn(
                format!("spec.config.{isr_key}"),
                format!(
                    "min in-sync replicas {isr} is not below the replication factor {rf}: with acks=all, losing one broker blocks writes and no broker can roll safely"
                ),
            ),
            Some(_) => {}
            None => {
                config.insert((*isr_key).to_owned(), (rf - 1).max(1).to_string());
            }
        }
    }
    Replication {
        replication_factor: int_of(config, "default.replication.factor").unwrap_or(default_rf),
        min_insync_replicas: int_of(config, MIN_ISR_KEY).unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_are_allowed_and_prefixes_rejected() {
        assert_eq!(owned_prefix("listeners"), Some("listeners"));
        assert_eq!(owned_prefix("listener.name.plain.sasl.jaas.config"), Some("listener."));
        assert_eq!(owned_prefix("log.dirs"), Some("log.dir"));
        assert_eq!(owned_prefix("broker.session.timeout.ms"), None);
        assert_eq!(owned_prefix("controller.quorum.fetch.timeout.ms"), None);
        assert_eq!(owned_prefix("ssl.cipher.suites"), None);
        assert_eq!(owned_prefix("log.retention.ms"), None);
        assert_eq!(owned_prefix("retention.ms"), None);
    }

    #[test]
    fn defaults_follow_broker_count() {
        for (brokers, rf, isr) in [(1, 1, 1), (2, 2, 1), (3, 3, 2), (7, 3, 2)] {
            let mut config = BTreeMap::new();
            let mut findings = Findings::default();
            let replication = apply_replication_defaults(&mut config, brokers, &mut findings);
            assert_eq!(replication, Replication { replication_factor: rf, min_insync_replicas: isr });
            assert_eq!(config["offsets.topic.replication.factor"], rf.to_string());
            assert_eq!(config["transaction.state.log.min.isr"], isr.to_string());
            assert_eq!(config["share.coordinator.state.topic.min.isr"], isr.to_string());
            assert!(findings.errors.is_empty());
        }
    }

    #[test]
    fn user_values_win_and_isr_follows_user_rf() {
        let mut config = BTreeMap::from([("default.replication.factor".to_owned(), "2".to_owned())]);
        let mut findings = Findings::default();
        let replication = apply_replication_defaults(&mut config, 5, &mut findings);
        assert_eq!(replication.replication_factor, 2);
        assert_eq!(config["min.insync.replicas"], "1");
        assert_eq!(config["offsets.topic.replication.factor"], "3");
        assert_eq!(findings.warnings.len(), 1);
    }
}

//! `spec.metrics`: the broker JVM metrics agent (the Prometheus JMX exporter javaagent), validated.
use super::{ClientListener, error::Findings, names};
use crate::api::cluster::MetricsSpec;

/// The Prometheus JMX exporter release the agent image carries: Maven Central's
/// `io.prometheus.jmx:jmx_prometheus_javaagent`, whose newest release there is 1.0.1.
pub const JMX_EXPORTER_VERSION: &str = "1.0.1";
/// The image of the init container that copies the agent jar into the pod, tagged with the
/// exporter's version. It holds the jar at [`METRICS_AGENT_JAR_IN_IMAGE`].
pub const METRICS_AGENT_IMAGE_REPOSITORY: &str = "ghcr.io/gregor-dev/gregor-metrics-agent";
/// Where the agent image holds the jar.
pub const METRICS_AGENT_JAR_IN_IMAGE: &str = "/opt/gregor-metrics-agent/jmx_prometheus_javaagent.jar";
/// The agent's default HTTP port.
pub const DEFAULT_JMX_EXPORTER_PORT: i32 = 9404;

/// The default agent image: `ghcr.io/gregor-dev/gregor-metrics-agent:<exporter version>`.
pub fn default_metrics_agent_image() -> String {
    format!("{METRICS_AGENT_IMAGE_REPOSITORY}:{JMX_EXPORTER_VERSION}")
}

/// The JMX exporter javaagent of every Kafka node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JmxExporter {
    /// The agent's HTTP port on the pod IP.
    pub port: i32,
    /// The init container's image, which holds the jar.
    pub image: String,
}

/// `spec.metrics`: the exporter when it is set and enabled. The port must be a non-privileged
/// port that no listener (client, controller or replication) uses.
pub(crate) fn validate_metrics(spec: Option<&MetricsSpec>, listeners: &[ClientListener], findings: &mut Findings) -> Option<JmxExporter> {
    let exporter = spec?.jmx_exporter.as_ref()?;
    if exporter.enabled == Some(false) {
        return None;
    }
    let port = exporter.port.unwrap_or(DEFAULT_JMX_EXPORTER_PORT);
    if !(1024..=65535).contains(&port) {
        findings.error("spec.metrics.jmxExporter.port", format!("{port} must be between 1024 and 65535"));
    } else if port == names::CONTROLLER_PORT || port == names::REPLICATION_PORT {
        findings.error("spec.metrics.jmxExporter.port", format!("{port} is the operator's own controller or replication listener port"));
    } else if let Some(listener) = listeners.iter().find(|l| l.port == port) {
        findings.error("spec.metrics.jmxExporter.port", format!("{port} is already the port of listener {}", listener.name));
    }
    if let Some(image) = &exporter.image
        && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
    {
        findings.error("spec.metrics.jmxExporter.image", "must be a container image reference without spaces");
    }
    Some(JmxExporter { port, image: exporter.image.clone().unwrap_or_else(default_metrics_agent_image) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test world fetches the jar of hack/versions.env's version and maps the default image
    /// to it, so the two must agree.
    #[test]
    fn the_default_image_carries_the_version_the_test_world_fetches() {
        let pinned = include_str!("../../hack/versions.env")
            .lines()
            .find_map(|l| l.strip_prefix("JMX_EXPORTER_VERSION="))
            .expect("hack/versions.env pins JMX_EXPORTER_VERSION");
        assert_eq!(pinned.trim(), JMX_EXPORTER_VERSION);
        assert_eq!(default_metrics_agent_image(), format!("ghcr.io/gregor-dev/gregor-metrics-agent:{pinned}"));
    }
}

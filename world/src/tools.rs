//! Where the cached tools live ($GREGOR_CACHE, keyed by the versions pinned in hack/versions.env).
use crate::error::{Result, WorldError};
use std::path::PathBuf;

const VERSIONS_ENV: &str = include_str!("../../hack/versions.env");

fn pinned(key: &str) -> String {
    VERSIONS_ENV
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .unwrap_or_default()
}

/// Kubernetes version of the control plane (hack/versions.env K8S_VERSION).
pub fn k8s_version() -> String {
    pinned("K8S_VERSION")
}

/// etcd version (hack/versions.env ETCD_VERSION).
pub fn etcd_version() -> String {
    pinned("ETCD_VERSION")
}

/// The Kafka versions the cache holds (hack/versions.env KAFKA_VERSIONS), oldest first.
pub fn kafka_versions() -> Vec<String> {
    pinned("KAFKA_VERSIONS").split_whitespace().map(str::to_string).collect()
}

/// The newest pinned Kafka version.
pub fn latest_kafka_version() -> String {
    kafka_versions().last().cloned().unwrap_or_else(|| "4.4.0".to_string())
}

/// `$GREGOR_CACHE`, default `~/.cache/gregor`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GREGOR_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache").join("gregor")
}

/// Paths of every binary a world runs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
}

impl Tools {
    pub fn locate() -> Result<Tools> {
        let cache = cache_dir();
        let k8s = cache.join(format!("k8s-{}", k8s_version()));
        let etcd = cache.join(format!("etcd-{}", etcd_version()));
        let t = Tools {
            etcd: etcd.join("etcd"),
            kube_apiserver: k8s.join("kube-apiserver"),
            kube_controller_manager: k8s.join("kube-controller-manager"),
            kube_scheduler: k8s.join("kube-scheduler"),
        };
        for (tool, p) in [
            ("etcd", &t.etcd),
            ("kube-apiserver", &t.kube_apiserver),
            ("kube-controller-manager", &t.kube_controller_manager),
            ("kube-scheduler", &t.kube_scheduler),
        ] {
            if !p.is_file() {
                return Err(WorldError::ToolMissing { tool: tool.to_string(), path: p.clone() });
            }
        }
        Ok(t)
    }
}

/// The cached `/opt/kafka` layout (bin/, config/, libs/) of a Kafka version.
pub fn kafka_home(version: &str) -> Result<PathBuf> {
    let home = cache_dir().join(format!("kafka-{version}"));
    if home.join("libs").is_dir() && home.join("bin").join("kafka-run-class.sh").is_file() {
        Ok(home)
    } else {
        Err(WorldError::KafkaVersionMissing(version.to_string()))
    }
}

/// The Prometheus JMX exporter version the cache holds (hack/versions.env JMX_EXPORTER_VERSION).
pub fn jmx_exporter_version() -> String {
    pinned("JMX_EXPORTER_VERSION")
}

/// The cached JMX exporter javaagent of a version: a directory holding
/// `jmx_prometheus_javaagent.jar`, which the node agent mounts where the
/// gregor-metrics-agent image holds it.
pub fn jmx_exporter_dir(version: &str) -> Result<PathBuf> {
    let dir = cache_dir().join(format!("jmx-exporter-{version}"));
    if dir.join("jmx_prometheus_javaagent.jar").is_file() {
        Ok(dir)
    } else {
        Err(WorldError::ToolMissing { tool: format!("jmx_prometheus_javaagent {version} (make tools)"), path: dir })
    }
}

/// The variable `make test` sets so that a missing world fails the run instead of skipping it.
pub const REQUIRE_WORLD_ENV: &str = "GREGOR_REQUIRE_WORLD";

/// Why a world cannot start on this machine, if it cannot: the cached tools are not built, a
/// Kafka version is missing, or the process is not root (the node agent needs mount namespaces).
pub fn world_unavailable() -> Option<String> {
    if let Err(e) = Tools::locate() {
        return Some(e.to_string());
    }
    for version in kafka_versions() {
        if let Err(e) = kafka_home(&version) {
            return Some(e.to_string());
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (the node agent needs mount namespaces)".to_string());
    }
    None
}

/// Whether a world suite should run. When the world cannot start, prints one line (on stderr,
/// past libtest's capture) saying which suite is skipped and why, and returns false, unless
/// `GREGOR_REQUIRE_WORLD=1` (set by `make test`), in which case it panics: a missing world must
/// never pass silently there.
pub fn world_suite_runs(suite: &str) -> bool {
    let Some(why) = world_unavailable() else {
        return true;
    };
    let required = std::env::var(REQUIRE_WORLD_ENV).is_ok_and(|v| v == "1");
    assert!(!required, "{suite}: the test world is required ({REQUIRE_WORLD_ENV}=1) but cannot start: {why}");
    // Straight to the stderr handle, not eprintln!: libtest captures the print macros and shows
    // nothing of a passing test, so the line would be lost in a plain `cargo test`.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED world suite {suite}: {why}; run `make tools` (as root) or `make test` to run it");
    false
}

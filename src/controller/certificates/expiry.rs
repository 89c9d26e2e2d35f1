//! The not-after of every certificate the operator keeps, for `/metrics`
//! (`gregor_certificate_expiry_timestamp_seconds`). Renewal is the certificates module's own
//! business; this only shows when each certificate ends.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};

/// The metric name.
pub const EXPIRY_METRIC: &str = "gregor_certificate_expiry_timestamp_seconds";

/// What a certificate is: `status.certificates[].kind`, and a metric label.
pub use crate::api::cluster::CertificateKind;

impl CertificateKind {
    /// The kind of one of the cluster's CAs.
    pub fn of_ca(kind: super::kind::CaKind) -> CertificateKind {
        match kind {
            super::kind::CaKind::Cluster => CertificateKind::ClusterCa,
            super::kind::CaKind::Clients => CertificateKind::ClientsCa,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateKind::ClusterCa => "cluster-ca",
            CertificateKind::ClientsCa => "clients-ca",
            CertificateKind::Node => "node",
        }
    }
}

/// One certificate's end.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry {
    pub kind: CertificateKind,
    /// The CA's Secret, or the node's pod.
    pub name: String,
    /// Unix seconds.
    pub not_after: i64,
}

/// One cluster's certificates: `(namespace, name, certificates)`.
pub type ClusterCertificates = (String, String, Vec<Expiry>);

/// The certificates of each cluster (`namespace/name`).
#[derive(Debug, Default)]
pub struct CertificateExpiries(Mutex<BTreeMap<String, ClusterCertificates>>);

impl CertificateExpiries {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ClusterCertificates>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces a cluster's certificates (none: it has no TLS listener any more).
    pub fn set(&self, namespace: &str, cluster: &str, mut certs: Vec<Expiry>) {
        let key = format!("{namespace}/{cluster}");
        if certs.is_empty() {
            self.lock().remove(&key);
            return;
        }
        certs.sort();
        self.lock().insert(key, (namespace.to_owned(), cluster.to_owned(), certs));
    }

    /// Keeps only the clusters in `keys` (`namespace/name`).
    pub fn retain(&self, keys: &std::collections::BTreeSet<String>) {
        self.lock().retain(|k, _| keys.contains(k));
    }

    pub fn exposition(&self) -> String {
        render(&self.lock())
    }
}

/// Pure: `status.certificates`, from each certificate's end and the pods whose brokers do not
/// serve their renewed certificate yet. CAs first, then nodes, each by name.
pub fn statuses(certs: &[Expiry], reloading: &[String]) -> Vec<crate::api::cluster::CertificateStatus> {
    use crate::api::cluster::{CertificatePhase, CertificateStatus};
    let mut certs = certs.to_vec();
    certs.sort();
    certs
        .into_iter()
        .map(|c| CertificateStatus {
            kind: c.kind,
            not_after: k8s_openapi::jiff::Timestamp::from_second(c.not_after).map(|t| t.to_string()).unwrap_or_default(),
            phase: if c.kind == CertificateKind::Node && reloading.contains(&c.name) {
                CertificatePhase::Reloading
            } else {
                CertificatePhase::Valid
            },
            name: c.name,
        })
        .collect()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Pure: the metric family, announced even without samples.
pub fn render(clusters: &BTreeMap<String, ClusterCertificates>) -> String {
    let mut out = format!(
        "# HELP {EXPIRY_METRIC} When each certificate the operator keeps expires (its not-after), in Unix seconds: the cluster CA and each node certificate.\n# TYPE {EXPIRY_METRIC} gauge\n"
    );
    for (namespace, cluster, certs) in clusters.values() {
        for c in certs {
            let _ = writeln!(
                out,
                "{EXPIRY_METRIC}{{namespace=\"{}\",cluster=\"{}\",kind=\"{}\",name=\"{}\"}} {}",
                escape(namespace),
                escape(cluster),
                c.kind.as_str(),
                escape(&c.name),
                c.not_after
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item3_expiry_per_certificate_with_a_typed_kind() {
        let e = CertificateExpiries::default();
        e.set(
            "ns",
            "events",
            vec![
                Expiry { kind: CertificateKind::Node, name: "events-broker-0".into(), not_after: 2_000 },
                Expiry { kind: CertificateKind::ClusterCa, name: "events-cluster-ca".into(), not_after: 9_000 },
            ],
        );
        e.set("ns", "plain", vec![]);
        let text = e.exposition();
        assert!(text.contains(
            "gregor_certificate_expiry_timestamp_seconds{namespace=\"ns\",cluster=\"events\",kind=\"cluster-ca\",name=\"events-cluster-ca\"} 9000\n"
        ));
        assert!(text.contains(
            "gregor_certificate_expiry_timestamp_seconds{namespace=\"ns\",cluster=\"events\",kind=\"node\",name=\"events-broker-0\"} 2000\n"
        ));
        assert!(!text.contains("plain"));
        e.retain(&std::collections::BTreeSet::new());
        assert!(!e.exposition().contains("events"), "a deleted cluster's certificates go");
    }

    #[test]
    fn item8_status_lists_cas_then_nodes_with_rfc3339_ends_and_reloading_brokers() {
        use crate::api::cluster::CertificatePhase::{Reloading, Valid};
        let certs = vec![
            Expiry { kind: CertificateKind::Node, name: "c-brokers-101".into(), not_after: 1_800_000_000 },
            Expiry { kind: CertificateKind::ClientsCa, name: "c-clients-ca".into(), not_after: 1_900_000_000 },
            Expiry { kind: CertificateKind::Node, name: "c-brokers-100".into(), not_after: 1_800_000_001 },
            Expiry { kind: CertificateKind::ClusterCa, name: "c-cluster-ca".into(), not_after: 1_900_000_000 },
        ];
        let got: Vec<_> = statuses(&certs, &["c-brokers-101".to_owned(), "c-cluster-ca".to_owned()])
            .into_iter()
            .map(|s| (s.kind.as_str(), s.name, s.not_after, s.phase))
            .collect();
        assert_eq!(
            got,
            vec![
                ("cluster-ca", "c-cluster-ca".to_owned(), "2030-03-17T17:46:40Z".to_owned(), Valid),
                ("clients-ca", "c-clients-ca".to_owned(), "2030-03-17T17:46:40Z".to_owned(), Valid),
                ("node", "c-brokers-100".to_owned(), "2027-01-15T08:00:01Z".to_owned(), Valid),
                ("node", "c-brokers-101".to_owned(), "2027-01-15T08:00:00Z".to_owned(), Reloading),
            ],
            "a pending pod name only makes a node certificate Reloading"
        );
        assert!(statuses(&[], &[]).is_empty());
    }
}

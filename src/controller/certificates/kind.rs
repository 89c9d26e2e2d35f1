//! The two CAs of a cluster: which Secrets each lives in and what its certificate is called.
use crate::model::names;

/// A CA the operator runs for a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaKind {
    /// Signs the node certificates; clients trust it to reach the brokers.
    Cluster,
    /// Signs the certificates of TLS KafkaUsers; mutual TLS listeners trust it.
    Clients,
}

impl CaKind {
    /// Both, in the order they are made.
    pub const ALL: [CaKind; 2] = [CaKind::Cluster, CaKind::Clients];

    /// For logs and the CA's common name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaKind::Cluster => "cluster",
            CaKind::Clients => "clients",
        }
    }

    /// The operator-only Secret with the CA's key and certificate.
    pub fn key_secret(self, cluster: &str) -> String {
        match self {
            CaKind::Cluster => names::cluster_ca_secret(cluster),
            CaKind::Clients => names::clients_ca_secret(cluster),
        }
    }

    /// The public Secret with the CA's certificate (key `ca.crt`).
    pub fn cert_secret(self, cluster: &str) -> String {
        match self {
            CaKind::Cluster => names::cluster_ca_cert_secret(cluster),
            CaKind::Clients => names::clients_ca_cert_secret(cluster),
        }
    }

    /// The common name of a new CA certificate.
    pub fn common_name(self, cluster: &str, namespace: &str) -> String {
        format!("{cluster}.{namespace} {} CA", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item1_each_ca_has_its_own_secrets_and_name() {
        let cases = [
            (CaKind::Cluster, "c-cluster-ca", "c-cluster-ca-cert", "c.ns cluster CA"),
            (CaKind::Clients, "c-clients-ca", "c-clients-ca-cert", "c.ns clients CA"),
        ];
        for (kind, key, cert, cn) in cases {
            assert_eq!(kind.key_secret("c"), key);
            assert_eq!(kind.cert_secret("c"), cert);
            assert_eq!(kind.common_name("c", "ns"), cn);
        }
    }
}

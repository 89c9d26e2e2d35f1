//! The validated model of a KafkaCluster: everything the renderer and the controllers need,
//! with defaults applied and no Kubernetes API types except pass-through pod settings.
use super::role::Role;
use std::{collections::BTreeMap, ops::Range};

use k8s_openapi::api::core::v1::ResourceRequirements;

use super::{config::Replication, names, version::SupportedVersion};
use crate::api::cluster::PodTemplate;

/// A validated KafkaCluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterModel {
    /// Cluster (KafkaCluster) name.
    pub name: String,
    /// Namespace of the cluster and all its objects.
    pub namespace: String,
    /// UID of the KafkaCluster, for owner references (absent when rendering offline).
    pub uid: Option<String>,
    /// KRaft cluster id the storage is formatted with.
    pub cluster_id: String,
    /// The Kafka release.
    pub version: SupportedVersion,
    /// Container image.
    pub image: String,
    /// Desired metadata.version.
    pub metadata_version: String,
    /// Node pools, in spec order, with node ids assigned.
    pub pools: Vec<PoolModel>,
    /// Client listeners (never empty: defaults to `plain` on 9092).
    pub listeners: Vec<ClientListener>,
    /// Whether the operator-owned listeners require authentication.
    pub security: InternalSecurity,
    /// ACL authorization, when enabled.
    pub authorization: Option<Authorization>,
    /// Rack awareness, when enabled.
    pub rack: Option<RackAwareness>,
    /// User configuration plus replication defaults, as server.properties text values.
    pub config: BTreeMap<String, String>,
    /// Effective replication defaults.
    pub replication: Replication,
    /// PodDisruptionBudget maxUnavailable.
    pub pdb_max_unavailable: i32,
    /// Validity and renewal of the certificates the operator issues.
    pub certificates: CertificatePolicy,
    /// The broker JVM metrics agent, when `spec.metrics.jmxExporter` is set and enabled.
    pub jmx_exporter: Option<super::JmxExporter>,
    /// The consumer groups whose lag the operator exports (`spec.metrics.consumerLag`), if any.
    pub consumer_lag: Option<super::glob::GroupPattern>,
    /// `spec.rebalance.onScale` (default true): scaling moves replicas through KafkaRebalances.
    pub rebalance_on_scale: bool,
    /// `spec.rebalance.throttleBytesPerSecond`, for those rebalances.
    pub rebalance_throttle: Option<i64>,
}

/// Validity and renewal of the operator-issued certificates, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificatePolicy {
    /// Validity of the cluster CA certificate.
    pub ca_validity_days: u32,
    /// Validity of a node certificate.
    pub leaf_validity_days: u32,
    /// A certificate is renewed this many days before it expires.
    pub renewal_days: u32,
}

impl Default for CertificatePolicy {
    /// CA 5 years, leaf 1 year, renewal 30 days before expiry.
    fn default() -> Self {
        Self { ca_validity_days: 5 * 365, leaf_validity_days: 365, renewal_days: 30 }
    }
}

/// A validated node pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolModel {
    /// Pool name.
    pub name: String,
    /// The KRaft role of its nodes.
    pub role: Role,
    /// Number of nodes.
    pub replicas: i32,
    /// First node id; the pool's nodes are `node_id_start .. node_id_start + replicas`.
    pub node_id_start: i32,
    /// Data volume.
    pub storage: StorageModel,
    /// Container resources.
    pub resources: Option<ResourceRequirements>,
    /// JVM heap in bytes (-Xms/-Xmx), when set.
    pub heap_bytes: Option<u64>,
    /// Extra JVM options.
    pub jvm_extra_options: Vec<String>,
    /// Pod placement and metadata.
    pub template: PodTemplate,
    /// Grace period for a controlled shutdown.
    pub termination_grace_period_seconds: i64,
}

impl PoolModel {
    /// Node ids of the pool, ascending.
    pub fn node_ids(&self) -> Range<i32> {
        self.node_id_start..self.node_id_start + self.replicas
    }
}

/// A pool's data volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageModel {
    /// A PersistentVolumeClaim per node.
    PersistentClaim {
        /// Requested size (a quantity).
        size: String,
        /// StorageClass, or the default one.
        class: Option<String>,
        /// Delete claims on scale-down and cluster deletion.
        delete_claim: bool,
        /// Growing the claims before they fill.
        auto_grow: Option<AutoGrowModel>,
    },
    /// An emptyDir.
    Ephemeral {
        /// Optional size limit.
        size_limit: Option<String>,
    },
}

/// `storage.autoGrow`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoGrowModel {
    /// Used percent of a log directory past which the claims grow (1..=99).
    pub threshold_percent: u8,
    /// How much one growth adds.
    pub increment: Increment,
    /// The largest size, in bytes.
    pub max_bytes: u64,
}

/// How much one growth adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Increment {
    /// A percentage of the current size.
    Percent(u32),
    /// A number of bytes.
    Bytes(u64),
}

/// Client authentication of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerAuth {
    /// No authentication (PLAINTEXT).
    None,
    /// SASL SCRAM-SHA-512 (SASL_PLAINTEXT, or SASL_SSL with TLS).
    ScramSha512,
    /// Mutual TLS (SSL with `ssl.client.auth=required`): clients present a certificate of the
    /// clients CA, and the principal is its CN (`User:<CN>`, through `ssl.principal.mapping.rules`).
    /// Only on TLS listeners (validation refuses it elsewhere).
    Tls,
}

/// A client listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientListener {
    /// Name as written in the spec (lowercase).
    pub name: String,
    /// Port.
    pub port: i32,
    /// Authentication.
    pub auth: ListenerAuth,
    /// Whether the listener is encrypted (SSL / SASL_SSL) with the node certificates.
    pub tls: bool,
}

impl ClientListener {
    /// Name as Kafka sees it (upper-case).
    pub fn kafka_name(&self) -> String {
        self.name.to_ascii_uppercase()
    }

    /// Kafka security protocol.
    pub fn security_protocol(&self) -> &'static str {
        match (self.auth, self.tls) {
            (ListenerAuth::None, false) => "PLAINTEXT",
            (ListenerAuth::ScramSha512, false) => "SASL_PLAINTEXT",
            (ListenerAuth::None | ListenerAuth::Tls, true) => "SSL",
            (ListenerAuth::ScramSha512, true) => "SASL_SSL",
            // Refused by validation; rendered as what it would be without a certificate.
            (ListenerAuth::Tls, false) => "PLAINTEXT",
        }
    }
}

/// Authentication on the operator-owned listeners (controller and replication).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalSecurity {
    /// No client authentication and no authorizer anywhere: the internal listeners are PLAINTEXT too.
    Open,
    /// Some listener authenticates or an authorizer is on: the controller listener uses SASL PLAIN and the
    /// replication listener SASL SCRAM-SHA-512, both as the operator's own super user, whose password the
    /// pods read from the Secret [`names::operator_secret`]. The SCRAM credential is added at storage format.
    Secured,
}

/// ACL authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Super users from the spec (without `User:`); the operator's user is added when rendering.
    pub super_users: Vec<String>,
}

/// Rack awareness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RackAwareness {
    /// Node label whose value becomes `broker.rack` (a zone or region label).
    pub topology_key: String,
}

/// How the operator's admin client reaches and authenticates to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAccess {
    /// `host:port` of every broker's replication listener.
    pub bootstrap_servers: Vec<String>,
    /// `host:port` of every controller's controller listener (for DescribeQuorum through `bootstrap.controllers`).
    pub controller_servers: Vec<String>,
    /// SCRAM-SHA-512 credentials, when the cluster is secured.
    pub credentials: Option<OperatorCredentials>,
}

/// Where the operator's own credentials live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorCredentials {
    /// Kafka user name.
    pub username: String,
    /// Secret holding the password, in the cluster's namespace.
    pub secret_name: String,
    /// Key of the password in the Secret.
    pub secret_key: String,
}

impl ClusterModel {
    /// Whether any listener uses TLS, so the cluster needs its CA and node certificates.
    pub fn tls_enabled(&self) -> bool {
        self.listeners.iter().any(|l| l.tls)
    }

    /// Every node as (pool, node id), in pool order.
    pub fn nodes(&self) -> impl Iterator<Item = (&PoolModel, i32)> {
        self.pools.iter().flat_map(|pool| pool.node_ids().map(move |id| (pool, id)))
    }

    /// The DNS names a node's certificate covers: the pod's names through the headless Service
    /// (short to fully qualified; the `.svc` one is what it advertises) and, for nodes that serve
    /// clients, the bootstrap Service's names. Sorted, without duplicates.
    pub fn node_dns_names(&self, pool: &PoolModel, node_id: i32) -> Vec<String> {
        let ns = &self.namespace;
        let pod = names::pod(&self.name, &pool.name, node_id);
        let headless = names::headless_service(&self.name);
        let mut dns = vec![
            format!("{pod}.{headless}"),
            format!("{pod}.{headless}.{ns}"),
            self.pod_host(pool, node_id),
            format!("{}.{}", self.pod_host(pool, node_id), names::CLUSTER_DOMAIN),
        ];
        if pool.role.is_broker() {
            let bootstrap = names::bootstrap_service(&self.name);
            dns.extend([
                bootstrap.clone(),
                format!("{bootstrap}.{ns}"),
                names::bootstrap_host(&self.name, ns),
                format!("{}.{}", names::bootstrap_host(&self.name, ns), names::CLUSTER_DOMAIN),
            ]);
        }
        dns.sort();
        dns.dedup();
        dns
    }

    /// Pools whose nodes run the controller role.
    pub fn controller_pools(&self) -> impl Iterator<Item = &PoolModel> {
        self.pools.iter().filter(|p| p.role.is_controller())
    }

    /// Pools whose nodes run the broker role.
    pub fn broker_pools(&self) -> impl Iterator<Item = &PoolModel> {
        self.pools.iter().filter(|p| p.role.is_broker())
    }

    /// Number of broker (and combined) nodes.
    pub fn broker_count(&self) -> i32 {
        self.broker_pools().map(|p| p.replicas).sum()
    }

    /// Number of controller (and combined) nodes.
    pub fn controller_count(&self) -> i32 {
        self.controller_pools().map(|p| p.replicas).sum()
    }

    /// DNS name of a node.
    pub fn pod_host(&self, pool: &PoolModel, node_id: i32) -> String {
        names::pod_host(&self.name, &self.namespace, &pool.name, node_id)
    }

    /// Static `controller.quorum.voters`: `id@host:9090,...` over every controller node.
    pub fn controller_quorum_voters(&self) -> String {
        self.controller_pools()
            .flat_map(|pool| pool.node_ids().map(move |id| (pool, id)))
            .map(|(pool, id)| format!("{id}@{}:{}", self.pod_host(pool, id), names::CONTROLLER_PORT))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Bootstrap address of a client listener: `<cluster>-kafka-bootstrap.<ns>.svc:<port>`.
    pub fn bootstrap_servers(&self, listener: &ClientListener) -> String {
        format!("{}:{}", names::bootstrap_host(&self.name, &self.namespace), listener.port)
    }

    /// Node ids of each pool, for `status.nodePools`.
    pub fn node_ids_by_pool(&self) -> Vec<(String, Vec<i32>)> {
        self.pools.iter().map(|p| (p.name.clone(), p.node_ids().collect())).collect()
    }

    /// The operator's credentials, when the cluster is secured.
    pub fn operator_credentials(&self) -> Option<OperatorCredentials> {
        match self.security {
            InternalSecurity::Open => None,
            InternalSecurity::Secured => Some(OperatorCredentials {
                username: names::OPERATOR_USERNAME.to_owned(),
                secret_name: names::operator_secret(&self.name),
                secret_key: names::OPERATOR_PASSWORD_KEY.to_owned(),
            }),
        }
    }

    /// How the operator's admin client connects: the replication listener of every broker.
    pub fn admin_access(&self) -> AdminAccess {
        let bootstrap_servers = self
            .broker_pools()
            .flat_map(|pool| pool.node_ids().map(move |id| (pool, id)))
            .map(|(pool, id)| format!("{}:{}", self.pod_host(pool, id), names::REPLICATION_PORT))
            .collect();
        let controller_servers = self
            .controller_pools()
            .flat_map(|pool| pool.node_ids().map(move |id| (pool, id)))
            .map(|(pool, id)| format!("{}:{}", self.pod_host(pool, id), names::CONTROLLER_PORT))
            .collect();
        AdminAccess { bootstrap_servers, controller_servers, credentials: self.operator_credentials() }
    }
}

#[cfg(test)]
mod tests {
    use crate::api::KafkaCluster;
    use crate::model::{Observed, validate};

    #[test]
    fn item2_node_certificates_cover_the_pod_and_bootstrap_names() {
        let kc: KafkaCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "ev", "namespace": "prod"},
            "spec": {"version": "4.4.0",
                "nodePools": [
                    {"name": "c", "roles": ["controller"], "replicas": 1, "storage": {"type": "ephemeral"}},
                    {"name": "b", "roles": ["broker"], "replicas": 1, "nodeIdStart": 7, "storage": {"type": "ephemeral"}}],
                "listeners": [{"name": "tls", "port": 9093, "type": "internal", "tls": true}]}
        }))
        .expect("cluster");
        let model = validate(&kc, &Observed { cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(), ..Observed::default() }).expect("valid").model;
        let (controllers, brokers) = (&model.pools[0], &model.pools[1]);
        let cases: &[(&str, Vec<String>, &[&str])] = &[
            (
                "a broker: its pod names and the bootstrap Service's",
                model.node_dns_names(brokers, 7),
                &[
                    "ev-b-7.ev-kafka-brokers",
                    "ev-b-7.ev-kafka-brokers.prod",
                    "ev-b-7.ev-kafka-brokers.prod.svc",
                    "ev-b-7.ev-kafka-brokers.prod.svc.cluster.local",
                    "ev-kafka-bootstrap",
                    "ev-kafka-bootstrap.prod",
                    "ev-kafka-bootstrap.prod.svc",
                    "ev-kafka-bootstrap.prod.svc.cluster.local",
                ],
            ),
            (
                "a controller serves no clients: its pod names only",
                model.node_dns_names(controllers, 0),
                &[
                    "ev-c-0.ev-kafka-brokers",
                    "ev-c-0.ev-kafka-brokers.prod",
                    "ev-c-0.ev-kafka-brokers.prod.svc",
                    "ev-c-0.ev-kafka-brokers.prod.svc.cluster.local",
                ],
            ),
        ];
        for (what, got, want) in cases {
            assert_eq!(got, want, "{what}");
        }
        assert!(model.node_dns_names(brokers, 7).contains(&model.pod_host(brokers, 7)), "the advertised host is covered");
        assert!(model.tls_enabled());
        assert_eq!(model.listeners[0].security_protocol(), "SSL");
    }
}

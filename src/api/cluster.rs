//! The `KafkaCluster` custom resource.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration, TopologySpreadConstraint};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, KafkaConfig, kafka_config_or_null, kafka_config_schema};

/// Desired state of a Kafka cluster running in KRaft mode.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kafka.gregor.dev",
    version = "v1alpha1",
    kind = "KafkaCluster",
    namespaced,
    shortname = "kc",
    category = "gregor",
    status = "KafkaClusterStatus",
    derive = "PartialEq",
    doc = "A Kafka cluster in KRaft mode, managed by Gregor.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the cluster is ready"
    ),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version", description = "Desired Kafka version"),
    printcolumn(name = "Running", type_ = "string", json_path = ".status.kafkaVersion", description = "Kafka version every node runs"),
    printcolumn(name = "Metadata", type_ = "string", json_path = ".status.metadataVersion", description = "Active metadata.version"),
    printcolumn(
        name = "Rolling",
        type_ = "boolean",
        json_path = ".status.roll.inProgress",
        description = "Whether a rolling restart is in progress"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#,
        priority = 1,
        description = "Reason of the Ready condition"
    ),
    printcolumn(
        name = "Cluster ID",
        type_ = "string",
        json_path = ".status.clusterId",
        priority = 1,
        description = "The KRaft cluster id"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterSpec {
    /// Kafka version, e.g. "4.4.0". Selects the default image and the default metadata.version. Must be a version Gregor supports.
    #[schemars(length(min = 1, max = 32))]
    pub version: String,
    /// Kafka metadata.version (e.g. "4.4-IV2"). Optional: defaults to the version's latest production metadata.version. Raise it only after every node runs the new binaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub metadata_version: Option<String>,
    /// Container image override. Defaults to apache/kafka:<version>. The image must provide /opt/kafka/bin/kafka-server-start.sh and kafka-storage.sh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Groups of Kafka nodes sharing roles and settings. Each pool becomes one StatefulSet; pool names are unique and at least one pool must run the controller role.
    #[schemars(length(min = 1, max = 16))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub node_pools: Vec<NodePool>,
    /// Client listeners exposed by the brokers. Names and ports are unique. The controller (9090) and replication (9091) listeners are the operator's own and are added automatically.
    #[serde(default)]
    #[schemars(length(max = 8))]
    #[schemars(extend(
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["name"],
        "x-kubernetes-validations" = [{"rule": "self.all(a, self.exists_one(b, b.port == a.port))", "message": "listener ports must be unique"}]
    ))]
    pub listeners: Vec<Listener>,
    /// Authorization of client requests. Absent means every authenticated client may do anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<ClusterAuthorization>,
    /// Rack awareness: spreads replicas over the values of a node topology label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<Rack>,
    /// Broker configuration (server.properties keys). Keys the operator owns (listeners, security, node identity, ...) are rejected. Unset replication keys get safe defaults: replication factor min(3, brokers), min ISR max(1, RF-1).
    #[serde(default, skip_serializing_if = "KafkaConfig::is_empty", deserialize_with = "kafka_config_or_null")]
    #[schemars(schema_with = "kafka_config_schema")]
    pub config: KafkaConfig,
    /// PodDisruptionBudget settings for the cluster's pods. Default maxUnavailable 0: the operator, not the eviction API, moves Kafka pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<PodDisruptionBudgetSpec>,
    /// Validity and renewal of the certificates the operator issues: the cluster CA (Secrets <cluster>-cluster-ca and <cluster>-cluster-ca-cert) and one node certificate per node. Used when a listener has tls: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificatesSpec>,
    /// Metrics beyond the cluster health the operator always exports: the Kafka nodes' own (JMX exporter), and consumer lag on the operator's /metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,
    /// Balancing when brokers are added or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<ClusterRebalanceSpec>,
}

/// How the operator balances replicas when the broker count changes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRebalanceSpec {
    /// Move replicas on scaling (default true): new brokers get a fair share through an
    /// add-brokers KafkaRebalance, and brokers to remove are drained through a remove-brokers one
    /// before their pods go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_scale: Option<bool>,
    /// Replication throttle of those rebalances, in bytes per second per broker (default 50 MiB/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 1", "message": "throttleBytesPerSecond must be at least 1"}]))]
    pub throttle_bytes_per_second: Option<i64>,
}

/// Optional metrics of one cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Consumer lag per group and topic (ListGroups, OffsetFetch and ListOffsets every 30 s), for the groups whose name matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_lag: Option<ConsumerLagSpec>,
    /// Broker JVM metrics (request rates and latencies, idle ratios, bytes in/out, ISR changes, log flush time) through the Prometheus JMX exporter javaagent. Every Kafka pod gets an init container that copies the agent jar, and a container port named `metrics`. Setting or changing it rolls the nodes, one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jmx_exporter: Option<JmxExporterSpec>,
}

/// The Prometheus JMX exporter javaagent in every Kafka node.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JmxExporterSpec {
    /// Whether the agent runs. Default true (the field's presence enables it); false keeps the settings and removes the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Port of the agent's HTTP endpoint (/metrics) on the pod IP. Default 9404. Must differ from every listener port and from 9090/9091 (the operator's own listeners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 1024 && self <= 65535", "message": "port must be between 1024 and 65535"}]))]
    pub port: Option<i32>,
    /// Image of the init container that copies the agent jar. Default ghcr.io/gregor-dev/gregor-metrics-agent:<exporter version>; an override must hold the jar at /opt/gregor-metrics-agent/jmx_prometheus_javaagent.jar and a POSIX cp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
}

/// Which consumer groups' lag the operator exports.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerLagSpec {
    /// A glob over group names: `*` matches any run of characters, `?` one character, everything else itself (e.g. "orders-*"; "*" for every group).
    #[schemars(length(min = 1, max = 249))]
    pub groups: String,
}

/// Validity and renewal of the operator-issued certificates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesSpec {
    /// Days the cluster CA certificate is valid. Default 1825 (5 years).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_validity_days: Option<i32>,
    /// Days a node certificate is valid. Default 365. At most caValidityDays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_days: Option<i32>,
    /// Days before expiry at which a certificate is renewed. Default 30. Less than validityDays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_days: Option<i32>,
}

/// The roles a Kafka node can play.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NodeRole {
    Controller,
    Broker,
}

/// A group of identical Kafka nodes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePool {
    /// Name of the pool; part of the StatefulSet and pod names (<cluster>-<pool>-<nodeId>). Lowercase letters, digits and '-'.
    #[schemars(length(min = 1, max = 30), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// Roles of every node in the pool: [controller], [broker], or both for combined nodes. Immutable.
    #[schemars(length(min = 1, max = 2))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "roles are immutable"}]))]
    pub roles: Vec<NodeRole>,
    /// Number of nodes in the pool, at least 1 and at most 100.
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1", "message": "replicas must be at least 1"},
        {"rule": "self <= 100", "message": "replicas must be at most 100"}
    ]))]
    pub replicas: i32,
    /// First node id of the pool; node ids are nodeIdStart .. nodeIdStart+replicas-1 and pod ordinals equal node ids. Optional: the operator assigns a free block of 100 and keeps it. Immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 0", "message": "nodeIdStart must not be negative"},
        {"rule": "self == oldSelf", "message": "nodeIdStart is immutable"}
    ]))]
    pub node_id_start: Option<i32>,
    /// Storage of the pool's data volume.
    pub storage: Storage,
    /// CPU and memory requests and limits of the Kafka container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// JVM settings of the Kafka process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm_options: Option<JvmOptions>,
    /// Pod placement and metadata settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplate>,
}

/// The kinds of data volume.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StorageType {
    PersistentClaim,
    Ephemeral,
}

/// Storage of a node pool's data volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type != 'persistentClaim' || has(self.size)", "message": "size is required for persistentClaim storage"},
    {"rule": "!has(self.size) || isQuantity(self.size)", "message": "size must be a quantity such as 100Gi"},
    {"rule": "self.type == oldSelf.type", "message": "storage type is immutable"},
    {"rule": "!has(oldSelf.size) || !has(self.size) || !isQuantity(self.size) || !isQuantity(oldSelf.size) || quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0", "message": "storage size must not shrink"},
    {"rule": "!has(self.autoGrow) || self.type == 'persistentClaim'", "message": "autoGrow applies only to persistentClaim storage"},
    {"rule": "!has(self.autoGrow) || !has(self.size) || !isQuantity(self.size) || !isQuantity(self.autoGrow.maxSize) || quantity(self.autoGrow.maxSize).compareTo(quantity(self.size)) >= 0", "message": "autoGrow.maxSize must be at least size"}
]))]
pub struct Storage {
    /// Volume type: persistentClaim (a PersistentVolumeClaim per node) or ephemeral (an emptyDir; data is lost when the pod is deleted).
    #[serde(rename = "type")]
    pub type_: StorageType,
    /// Size of each volume, a quantity such as 100Gi. Required for persistentClaim; a size limit for ephemeral. It can grow but never shrink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub size: Option<String>,
    /// StorageClass of the claims. Absent means the cluster's default StorageClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Delete the claims when the pool is scaled down or the cluster deleted. Default false: data outlives the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_claim: Option<bool>,
    /// Grow the pool's claims before they fill (persistentClaim only; the StorageClass must allow volume expansion). Absent: claims grow only when size does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_grow: Option<AutoGrow>,
}

/// Growing a pool's claims when a broker's log directory fills past a threshold, from the usage
/// Kafka reports (DescribeLogDirs). One step at a time, never past maxSize, never shrinking.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.increment) || self.increment.matches('^[1-9][0-9]{0,3}%$') || isQuantity(self.increment)", "message": "increment must be a percentage such as 25% or a quantity such as 10Gi"},
    {"rule": "isQuantity(self.maxSize)", "message": "maxSize must be a quantity such as 500Gi"}
]))]
pub struct AutoGrow {
    /// Used space, in percent of a log directory's total, past which the pool's claims grow. 1 to 99, default 80.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 1 && self <= 99", "message": "thresholdPercent must be between 1 and 99"}]))]
    pub threshold_percent: Option<i32>,
    /// How much one growth adds: a percentage of the current size (e.g. 25%, the default) or a quantity (e.g. 10Gi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub increment: Option<String>,
    /// The largest size the claims may reach (required; at least size). Growth stops there, and the disk alert is left to fire.
    #[schemars(length(max = 64))]
    pub max_size: String,
}

/// JVM settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JvmOptions {
    /// Heap size (-Xms and -Xmx), a quantity such as 2Gi. Absent means Kafka's default (1G).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub heap: Option<String>,
    /// Extra JVM options appended to KAFKA_OPTS, e.g. ["-XX:+ExitOnOutOfMemoryError"].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_options: Vec<String>,
}

/// Pod-level customization of a node pool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    /// Affinity rules of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Topology spread constraints of the pods. Use the label kafka.gregor.dev/pool=<pool> in their label selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// Extra annotations on the pods (keys under kafka.gregor.dev/ are reserved).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64, "x-kubernetes-validations" = [
        {"rule": "self.all(k, !k.startsWith('kafka.gregor.dev/'))", "message": "template.podAnnotations: keys under kafka.gregor.dev/ are reserved for the operator (manual-roll here would roll every pod for ever)"}
    ]))]
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra labels on the pods (keys under kafka.gregor.dev/ and app.kubernetes.io/ are reserved).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64, "x-kubernetes-validations" = [
        {"rule": "self.all(k, !k.startsWith('kafka.gregor.dev/') && !k.startsWith('app.kubernetes.io/'))", "message": "template.podLabels: keys under kafka.gregor.dev/ and app.kubernetes.io/ are reserved for the operator"}
    ]))]
    pub pod_labels: BTreeMap<String, String>,
    /// Node selector of the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Priority class of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Seconds a pod gets for a controlled shutdown before it is killed. Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 30", "message": "terminationGracePeriodSeconds must be at least 30"}]))]
    pub termination_grace_period_seconds: Option<i64>,
}

/// How a listener is reachable.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ListenerType {
    Internal,
}

/// A client listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.authentication) || self.authentication.type != 'tls' || (has(self.tls) && self.tls)",
    "message": "authentication type tls (mutual TLS) needs tls: true on the listener",
    "fieldPath": ".authentication"
}]))]
pub struct Listener {
    /// Name of the listener: at most 11 lowercase letters and digits, starting with a letter. Kafka sees it upper-cased. "controller" and "replication" are reserved.
    #[schemars(length(min = 1, max = 11), regex(pattern = r"^[a-z][a-z0-9]*$"))]
    pub name: String,
    /// Port of the listener, 1024-65535, except 9090 and 9091 which the operator uses.
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1024 && self <= 65535", "message": "port must be between 1024 and 65535"},
        {"rule": "self != 9090 && self != 9091", "message": "ports 9090 and 9091 are reserved for the controller and replication listeners"}
    ]))]
    pub port: i32,
    /// How the listener is exposed: internal (inside the Kubernetes cluster, through the bootstrap and headless Services).
    #[serde(rename = "type")]
    pub type_: ListenerType,
    /// Encrypt the listener with TLS: the brokers serve node certificates signed by the cluster CA, whose certificate clients find in the Secret <cluster>-cluster-ca-cert (key ca.crt). With scram-sha-512 authentication the listener is SASL_SSL.
    #[serde(default)]
    pub tls: bool,
    /// Client authentication on this listener. Absent means none. Type tls (mutual TLS) needs tls: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<ListenerAuthentication>,
}

/// Authentication mechanisms: of a listener's clients, and of a KafkaUser's credentials.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AuthenticationType {
    #[serde(rename = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "tls")]
    Tls,
}

/// Client authentication mechanisms of a listener.
pub type ListenerAuthenticationType = AuthenticationType;

/// Client authentication of a listener.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerAuthentication {
    /// Mechanism: scram-sha-512 (SASL SCRAM over the listener; SASL_SSL when tls is true) or tls (mutual TLS on a tls: true listener: clients present a certificate signed by the clients CA, <cluster>-clients-ca-cert, such as a TLS KafkaUser's; the principal is User:<CN>).
    #[serde(rename = "type")]
    pub type_: ListenerAuthenticationType,
}

/// Authorizers: of a cluster, and the one a KafkaUser's ACLs are meant for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthorizationType {
    Simple,
}

/// Cluster authorization.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAuthorization {
    /// Authorizer: simple (Kafka's StandardAuthorizer with ACLs managed through KafkaUser resources).
    #[serde(rename = "type")]
    pub type_: AuthorizationType,
    /// User names (without the "User:" prefix) that bypass ACLs. The operator's own user is always a super user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub super_users: Vec<String>,
}

/// Rack awareness settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rack {
    /// Node label whose value becomes each broker's broker.rack. Supported: topology.kubernetes.io/zone and topology.kubernetes.io/region (copied onto pods by Kubernetes' PodTopologyLabelsAdmission).
    pub topology_key: String,
}

/// PodDisruptionBudget settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// Kafka pods that voluntary disruptions (evictions, drains) may take down at once. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 0", "message": "maxUnavailable must not be negative"}]))]
    pub max_unavailable: Option<i32>,
}

/// Observed state of a Kafka cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterStatus {
    /// The metadata.generation the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: Ready, plus Warning for unsafe but legal settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The KRaft cluster id the storage was formatted with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Kafka version every node runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_version: Option<String>,
    /// Active metadata.version of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<String>,
    /// Bootstrap addresses of the client listeners.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<ListenerStatus>,
    /// Node ids of each pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_pools: Vec<NodePoolStatus>,
    /// Progress of a rolling restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roll: Option<RollStatus>,
    /// Cluster-wide dynamic broker defaults the operator set itself. Only these are ever deleted
    /// when they leave `spec.config`; defaults an admin set by hand are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamic_defaults: Vec<String>,
    /// A fingerprint (salted SHA-256, never the value) of each `spec.config` value the nodes are
    /// known to run, by key. Kafka hides sensitive values, so a changed one is found by this.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config_fingerprints: BTreeMap<String, String>,
    /// Storage the operator grew on its own (`storage.autoGrow`), per pool. The claims are asked
    /// for the larger of `spec` size and this, so a growth outlives every reconcile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<PoolStorageStatus>,
    /// Every certificate the operator keeps for the cluster (only with a TLS listener): the two
    /// CAs and each node's certificate, with their expiry and where their renewal stands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateStatus>,
}

/// One certificate the operator keeps for a cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// What it is.
    pub kind: CertificateKind,
    /// The CA's key Secret, or the node's pod.
    pub name: String,
    /// When it expires (RFC 3339). The operator renews it before: `spec.certificates`.
    pub not_after: String,
    /// Where its renewal stands.
    pub phase: CertificatePhase,
}

/// What a certificate in `status.certificates` is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CertificateKind {
    /// The cluster CA (`<cluster>-cluster-ca`), which signs the node certificates.
    ClusterCa,
    /// The clients CA (`<cluster>-clients-ca`), which signs the TLS KafkaUsers' certificates.
    ClientsCa,
    /// One node's certificate (in `<cluster>-kafka-node-certs`), named by its pod.
    Node,
}

/// Where a certificate's renewal stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CertificatePhase {
    /// In place: the one the Secret holds, and, for a broker, the one its TLS listeners serve.
    Valid,
    /// Renewed in its Secret; a TLS listener of the broker does not serve it yet (the operator
    /// reloads it without a restart).
    Reloading,
}

/// What `storage.autoGrow` did to a pool's claims.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolStorageStatus {
    /// Pool name.
    pub name: String,
    /// The size autoGrow asked the pool's claims for (a quantity). Absent: never grown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_grown_size: Option<String>,
    /// Why the last growth happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the claims should grow but cannot (maxSize reached, StorageClass without expansion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// The largest log-dir total Kafka reported when the last growth was decided: the next one
    /// waits until Kafka reports more (the growth reached the filesystem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes_at_growth: Option<u64>,
}

/// Bootstrap address of a listener.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    /// Listener name.
    pub name: String,
    /// host:port list clients use to bootstrap.
    pub bootstrap_servers: String,
}

/// Node ids of a pool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolStatus {
    /// Pool name.
    pub name: String,
    /// Node ids of the pool's nodes, ascending.
    #[serde(default)]
    pub node_ids: Vec<i32>,
}

/// Progress of a rolling restart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollStatus {
    /// Whether a roll is in progress.
    #[serde(default)]
    pub in_progress: bool,
    /// Node id being restarted, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<i32>,
    /// Why the roll happens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

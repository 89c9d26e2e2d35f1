//! Names, labels and well-known ports of the objects Gregor creates for a cluster.
//! The controllers use the same functions to find what the renderer made.
use std::collections::BTreeMap;

/// Label keys and values every Gregor-managed object carries.
pub mod labels {
    /// `app.kubernetes.io/name`, always [`NAME_VALUE`].
    pub const NAME: &str = "app.kubernetes.io/name";
    /// Value of [`NAME`].
    pub const NAME_VALUE: &str = "kafka";
    /// `app.kubernetes.io/instance`: the cluster name.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// `app.kubernetes.io/managed-by`, always [`MANAGED_BY_VALUE`].
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// Value of [`MANAGED_BY`].
    pub const MANAGED_BY_VALUE: &str = "gregor";
    /// `app.kubernetes.io/component`: broker, controller or combined (per-pool objects only).
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// `kafka.gregor.dev/cluster`: the cluster name.
    pub const CLUSTER: &str = concat!(crate::api_group!(), "/cluster");
    /// `kafka.gregor.dev/pool`: the node pool name (per-pool objects only).
    pub const POOL: &str = concat!(crate::api_group!(), "/pool");
    /// `kafka.gregor.dev/broker=true` on pods that serve clients (broker or combined); the bootstrap Service selects it.
    pub const BROKER_ROLE: &str = concat!(crate::api_group!(), "/broker");
}

/// Annotation keys.
pub mod annotations {
    /// Hash of everything in a pod that needs a restart when it changes (pod spec, start script, operator-owned config).
    pub const REVISION: &str = concat!(crate::api_group!(), "/revision");
    /// Hash of the user part of server.properties (`spec.config` plus defaults). A change may be dynamic.
    pub const CONFIG_HASH: &str = concat!(crate::api_group!(), "/config-hash");
    /// Stops all changes to a cluster.
    pub const PAUSE_RECONCILIATION: &str = concat!(crate::api_group!(), "/pause-reconciliation");
    /// On a pod or StatefulSet: asks for a safe roll.
    pub const MANUAL_ROLL: &str = concat!(crate::api_group!(), "/manual-roll");
    /// On PVCs (through the claim template): the KRaft cluster id their volume is formatted with,
    /// so a cluster re-created over retained volumes keeps its id.
    pub const CLUSTER_ID: &str = concat!(crate::api_group!(), "/cluster-id");
    /// On a KafkaCluster: `true` re-issues every node certificate now (brokers take them up
    /// without a restart); the operator removes the annotation once done.
    pub const RENEW_CERTIFICATES: &str = concat!(crate::api_group!(), "/renew-certificates");
    /// Prefix reserved for the operator in pod annotations and labels.
    pub const RESERVED_PREFIX: &str = concat!(crate::api_group!(), "/");
}

/// Name of the Kafka container in every pod.
pub const KAFKA_CONTAINER: &str = "kafka";
/// Port of the operator-owned KRaft controller listener.
pub const CONTROLLER_PORT: i32 = 9090;
/// Port of the operator-owned replication (inter-broker and operator admin) listener.
pub const REPLICATION_PORT: i32 = 9091;
/// Kafka name of the controller listener.
pub const CONTROLLER_LISTENER: &str = "CONTROLLER";
/// Kafka name of the replication listener.
pub const REPLICATION_LISTENER: &str = "REPLICATION";
/// The operator's own Kafka user (a super user when the cluster is secured).
pub const OPERATOR_USERNAME: &str = "gregor-operator";
/// Key of the operator's password in its Secret.
pub const OPERATOR_PASSWORD_KEY: &str = "password";

/// The Kubernetes cluster domain appended to `.svc` names in certificates.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// Secret holding the cluster CA's private key and certificate: `<cluster>-cluster-ca`
/// (keys `ca.key`, `ca.crt`). Only the operator reads it.
pub fn cluster_ca_secret(cluster: &str) -> String {
    format!("{cluster}-cluster-ca")
}

/// Public Secret with the cluster CA certificate, for clients: `<cluster>-cluster-ca-cert` (key `ca.crt`).
pub fn cluster_ca_cert_secret(cluster: &str) -> String {
    format!("{cluster}-cluster-ca-cert")
}

/// Secret with the clients CA's key and certificate (operator-only): `<cluster>-clients-ca`. It signs
/// the certificates of TLS KafkaUsers.
pub fn clients_ca_secret(cluster: &str) -> String {
    format!("{cluster}-clients-ca")
}

/// Public Secret with the clients CA certificate: `<cluster>-clients-ca-cert` (key `ca.crt`).
pub fn clients_ca_cert_secret(cluster: &str) -> String {
    format!("{cluster}-clients-ca-cert")
}

/// Secret with a ready `client.properties` per client listener of a cluster:
/// `<cluster>-client-properties` (keys `<listener>.client.properties`).
pub fn client_properties_secret(cluster: &str) -> String {
    format!("{cluster}-client-properties")
}

/// Key of a listener's client properties in [`client_properties_secret`].
pub fn listener_client_properties_key(listener: &str) -> String {
    format!("{listener}.client.properties")
}

/// Key of the clients CA certificate in the node certificates Secret: the truststore of mutual
/// TLS listeners.
pub const CLIENTS_CA_CERT_KEY: &str = "clients-ca.crt";

/// Secret with every node's key and certificate chain: `<cluster>-kafka-node-certs`
/// (key `<pod>.pem` per node, plus `ca.crt`), mounted into the Kafka pods.
pub fn node_certs_secret(cluster: &str) -> String {
    format!("{cluster}-kafka-node-certs")
}

/// Key of a CA certificate (PEM) in the CA Secrets and the node certificates Secret.
pub const CA_CERT_KEY: &str = "ca.crt";
/// Key of the CA private key (PKCS#8 PEM) in the CA key Secret.
pub const CA_KEY_KEY: &str = "ca.key";

/// Key of a node's PEM file (private key and certificate chain) in the node certificates Secret.
pub fn node_cert_key(pod: &str) -> String {
    format!("{pod}.pem")
}

/// StatefulSet of a pool: `<cluster>-<pool>`; its pods are `<cluster>-<pool>-<nodeId>`.
pub fn statefulset(cluster: &str, pool: &str) -> String {
    format!("{cluster}-{pool}")
}

/// Pod of a node: `<cluster>-<pool>-<nodeId>`.
pub fn pod(cluster: &str, pool: &str, node_id: i32) -> String {
    format!("{cluster}-{pool}-{node_id}")
}

/// ConfigMap of a pool: `<cluster>-<pool>-config`.
pub fn pool_config_map(cluster: &str, pool: &str) -> String {
    format!("{cluster}-{pool}-config")
}

/// Headless Service: `<cluster>-kafka-brokers`.
pub fn headless_service(cluster: &str) -> String {
    format!("{cluster}-kafka-brokers")
}

/// Bootstrap Service: `<cluster>-kafka-bootstrap`.
pub fn bootstrap_service(cluster: &str) -> String {
    format!("{cluster}-kafka-bootstrap")
}

/// PodDisruptionBudget: `<cluster>-kafka`.
pub fn pod_disruption_budget(cluster: &str) -> String {
    format!("{cluster}-kafka")
}

/// ServiceAccount of the Kafka pods: `<cluster>-kafka`.
pub fn service_account(cluster: &str) -> String {
    format!("{cluster}-kafka")
}

/// Secret holding the operator's own Kafka credentials: `<cluster>-kafka-operator` (key `password`).
/// The controller generates it; the pods read it.
pub fn operator_secret(cluster: &str) -> String {
    format!("{cluster}-kafka-operator")
}

/// DNS name of a node's pod through the headless Service: `<pod>.<cluster>-kafka-brokers.<ns>.svc`.
pub fn pod_host(cluster: &str, namespace: &str, pool: &str, node_id: i32) -> String {
    format!("{}.{}.{namespace}.svc", pod(cluster, pool, node_id), headless_service(cluster))
}

/// DNS name of the bootstrap Service: `<cluster>-kafka-bootstrap.<ns>.svc`.
pub fn bootstrap_host(cluster: &str, namespace: &str) -> String {
    format!("{}.{namespace}.svc", bootstrap_service(cluster))
}

/// Labels on every object of a cluster.
pub fn cluster_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_owned(), labels::NAME_VALUE.to_owned()),
        (labels::INSTANCE.to_owned(), cluster.to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MANAGED_BY_VALUE.to_owned()),
        (labels::CLUSTER.to_owned(), cluster.to_owned()),
    ])
}

/// Selector of every Kafka pod of a cluster.
pub fn cluster_selector(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::NAME.to_owned(), labels::NAME_VALUE.to_owned()), (labels::CLUSTER.to_owned(), cluster.to_owned())])
}

/// Selector of the Kafka pods of one pool.
pub fn pool_selector(cluster: &str, pool: &str) -> BTreeMap<String, String> {
    let mut selector = cluster_selector(cluster);
    selector.insert(labels::POOL.to_owned(), pool.to_owned());
    selector
}

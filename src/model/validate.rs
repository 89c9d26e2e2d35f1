//! Spec -> validated model. Pure: every rule a KafkaCluster spec must follow (node pools and the KRaft
//! quorum, listeners, operator-owned configuration, storage, rack awareness), every error with
//! its field path.
use std::collections::{BTreeMap, BTreeSet};

use super::{
    Observed,
    cluster::{
        Authorization, CertificatePolicy, ClientListener, ClusterModel, InternalSecurity, ListenerAuth, PoolModel, RackAwareness,
        StorageModel,
    },
    config,
    error::Findings,
    names::{self, annotations},
    node_ids::{self, PoolRequest},
    quantity,
    role::Role,
    version,
};
use crate::api::cluster::{CertificatesSpec, KafkaClusterSpec, Listener, ListenerAuthenticationType, NodePool, NodeRole, StorageType};

/// Longest cluster name: `<cluster>-kafka-bootstrap` must stay a DNS label (63).
const MAX_CLUSTER_NAME: usize = 47;
/// Longest `<cluster>-<pool>`: StatefulSet pods get a `controller-revision-hash` label of name + 11 characters.
const MAX_STATEFULSET_NAME: usize = 52;
/// Default grace period for a controlled shutdown.
pub const DEFAULT_TERMINATION_GRACE_SECONDS: i64 = 300;
/// Smallest heap Kafka can start with in practice.
const MIN_HEAP_BYTES: u64 = 64 * 1024 * 1024;
/// Node labels whose values Kubernetes copies onto pods (PodTopologyLabelsAdmission), readable by the downward API.
pub const SUPPORTED_RACK_KEYS: &[&str] = &["topology.kubernetes.io/zone", "topology.kubernetes.io/region"];
/// Listener names the operator uses itself.
const RESERVED_LISTENER_NAMES: &[&str] = &["controller", "replication"];

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_lowercase()
        && !s.ends_with('-')
}

pub(crate) struct Identity<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: Option<&'a str>,
}

pub(crate) fn validate_spec(
    identity: &Identity<'_>,
    spec: &KafkaClusterSpec,
    observed: &Observed,
    findings: &mut Findings,
) -> Option<ClusterModel> {
    if !is_dns_label(identity.name) || identity.name.len() > MAX_CLUSTER_NAME {
        findings.error(
            "metadata.name",
            format!(
                "must be a DNS label (lowercase letters, digits, '-', starting with a letter) of at most {MAX_CLUSTER_NAME} characters"
            ),
        );
    }
    if identity.namespace.is_empty() {
        findings.error("metadata.namespace", "must be set");
    }
    if !super::is_valid_cluster_id(&observed.cluster_id) {
        findings.error("status.clusterId", "must be a 22-character base64url Kafka cluster id");
    }

    let release = version::find(&spec.version);
    if release.is_none() {
        findings.error(
            "spec.version",
            format!("Kafka version \"{}\" is not supported (supported: {})", spec.version, version::supported_list()),
        );
    }
    let metadata_version = match (&spec.metadata_version, release) {
        (Some(mv), Some(release)) => {
            if version::metadata_version_rank(mv).is_none() {
                findings.error(
                    "spec.metadataVersion",
                    format!("\"{mv}\" is not a known metadata.version (e.g. {})", release.default_metadata_version),
                );
            } else if !release.accepts_metadata_version(mv) {
                findings.error(
                    "spec.metadataVersion",
                    format!("\"{mv}\" is newer than Kafka {} supports (at most {})", release.version, release.default_metadata_version),
                );
            }
            mv.clone()
        }
        (None, Some(release)) => release.default_metadata_version.to_owned(),
        (mv, None) => mv.clone().unwrap_or_default(),
    };
    if let Some(image) = &spec.image
        && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
    {
        findings.error("spec.image", "must be a container image reference without spaces");
    }

    let pools = validate_pools(identity, spec, observed, findings);
    let brokers: i32 = pools.iter().filter(|p| p.role.is_broker()).map(|p| p.replicas).sum();
    let controllers: i32 = pools.iter().filter(|p| p.role.is_controller()).map(|p| p.replicas).sum();
    check_quorum(&pools, brokers, controllers, findings);

    let listeners = validate_listeners(&spec.listeners, findings);
    let secured = spec.authorization.is_some() || listeners.iter().any(|l| l.auth != ListenerAuth::None);
    let authorization = spec.authorization.as_ref().map(|authz| {
        for (i, user) in authz.super_users.iter().enumerate() {
            if user.trim().is_empty() || user.contains([';', ',', '\n']) || user.starts_with("User:") {
                findings.error(format!("spec.authorization.superUsers[{i}]"), "must be a user name without \"User:\", ';' or ','");
            }
        }
        if listeners.iter().all(|l| l.auth == ListenerAuth::None) {
            findings
                .warn("spec.authorization", "no listener authenticates clients, so every client is User:ANONYMOUS and needs ACLs for it");
        }
        Authorization { super_users: authz.super_users.clone() }
    });

    let rack = spec.rack.as_ref().map(|rack| {
        // Rack awareness reads the node's zone/region from the pod's own labels, which Kubernetes copies from
        // the node at binding (PodTopologyLabelsAdmission, KEP-4742, Kubernetes >= 1.33), through the downward
        // API. It needs no API access from the pod. Other node labels would need an init container that reads
        // the Node object (Strimzi's way); Gregor does not support them.
        if !SUPPORTED_RACK_KEYS.contains(&rack.topology_key.as_str()) {
            findings.error(
                "spec.rack.topologyKey",
                format!("\"{}\" is not supported (supported: {})", rack.topology_key, SUPPORTED_RACK_KEYS.join(", ")),
            );
        }
        RackAwareness { topology_key: rack.topology_key.clone() }
    });

    let mut config = config::check_user_config(&spec.config, findings);
    let replication = config::apply_replication_defaults(&mut config, brokers, findings);

    let pdb_max_unavailable = spec.pod_disruption_budget.as_ref().and_then(|p| p.max_unavailable).unwrap_or(0);
    if pdb_max_unavailable < 0 {
        findings.error("spec.podDisruptionBudget.maxUnavailable", "must not be negative");
    } else if pdb_max_unavailable > 0 {
        findings.warn(
            "spec.podDisruptionBudget.maxUnavailable",
            "evictions (node drains) may then take Kafka pods down without the operator's safety checks",
        );
    }

    let certificates = validate_certificates(spec.certificates.as_ref(), findings);
    let jmx_exporter = super::metrics::validate_metrics(spec.metrics.as_ref(), &listeners, findings);
    let consumer_lag = validate_consumer_lag(spec, findings);

    let release = release?;
    if !findings.errors.is_empty() {
        return None;
    }
    Some(ClusterModel {
        name: identity.name.to_owned(),
        namespace: identity.namespace.to_owned(),
        uid: identity.uid.map(str::to_owned),
        cluster_id: observed.cluster_id.clone(),
        version: *release,
        image: spec.image.clone().unwrap_or_else(|| release.default_image.to_owned()),
        metadata_version,
        pools,
        listeners,
        security: if secured { InternalSecurity::Secured } else { InternalSecurity::Open },
        authorization,
        rack,
        config,
        replication,
        pdb_max_unavailable,
        certificates,
        jmx_exporter,
        consumer_lag,
        rebalance_on_scale: spec.rebalance.as_ref().and_then(|r| r.on_scale).unwrap_or(true),
        rebalance_throttle: spec.rebalance.as_ref().and_then(|r| r.throttle_bytes_per_second),
    })
}

/// `spec.metrics.consumerLag.groups`: a non-empty glob.
fn validate_consumer_lag(spec: &KafkaClusterSpec, findings: &mut Findings) -> Option<super::glob::GroupPattern> {
    let lag = spec.metrics.as_ref()?.consumer_lag.as_ref()?;
    let pattern = super::glob::GroupPattern::new(&lag.groups);
    if pattern.is_none() {
        findings.error("spec.metrics.consumerLag.groups", "must not be empty: give a glob such as \"orders-*\", or \"*\" for every group");
    }
    pattern
}

/// Longest validity a certificate may have: 100 years.
const MAX_VALIDITY_DAYS: i32 = 36_500;

/// `spec.certificates`: every validity at least a day and at most [`MAX_VALIDITY_DAYS`]; a leaf
/// valid no longer than its CA; renewal inside the leaf's validity.
fn validate_certificates(spec: Option<&CertificatesSpec>, findings: &mut Findings) -> CertificatePolicy {
    let defaults = CertificatePolicy::default();
    let Some(spec) = spec else {
        return defaults;
    };
    let mut days = |value: Option<i32>, field: &str, default: u32, min: i32| -> u32 {
        match value {
            None => default,
            Some(v) if (min..=MAX_VALIDITY_DAYS).contains(&v) => v.unsigned_abs(),
            Some(v) => {
                findings.error(format!("spec.certificates.{field}"), format!("{v} must be between {min} and {MAX_VALIDITY_DAYS} days"));
                default
            }
        }
    };
    let policy = CertificatePolicy {
        ca_validity_days: days(spec.ca_validity_days, "caValidityDays", defaults.ca_validity_days, 1),
        leaf_validity_days: days(spec.validity_days, "validityDays", defaults.leaf_validity_days, 1),
        renewal_days: days(spec.renewal_days, "renewalDays", defaults.renewal_days, 0),
    };
    if policy.leaf_validity_days > policy.ca_validity_days {
        findings.error(
            "spec.certificates.validityDays",
            format!(
                "{} days is longer than the CA's validity ({} days, caValidityDays)",
                policy.leaf_validity_days, policy.ca_validity_days
            ),
        );
    }
    if policy.renewal_days >= policy.leaf_validity_days {
        findings.error(
            "spec.certificates.renewalDays",
            format!(
                "{} days must be less than the node certificates' validity ({} days, validityDays): they would be renewed at every reconcile",
                policy.renewal_days, policy.leaf_validity_days
            ),
        );
    }
    policy
}

fn check_quorum(pools: &[PoolModel], brokers: i32, controllers: i32, findings: &mut Findings) {
    // A missing role is an error; a pool with a bad replica count is reported on its own field.
    if !pools.iter().any(|p| p.role.is_controller()) {
        findings.error("spec.nodePools", "at least one node pool must have the controller role");
    } else if controllers == 2 {
        findings.warn("spec.nodePools", "2 controllers tolerate no controller failure, like 1; use 3");
    } else if controllers > 0 && controllers % 2 == 0 {
        findings.warn(
            "spec.nodePools",
            format!("{controllers} controllers tolerate no more failures than {}; use an odd number", controllers - 1),
        );
    }
    if !pools.iter().any(|p| p.role.is_broker()) {
        findings.error("spec.nodePools", "at least one node pool must have the broker role");
    }
    for (i, pool) in pools.iter().enumerate() {
        if !matches!(pool.storage, StorageModel::Ephemeral { .. }) {
            continue;
        }
        if pool.role.is_broker() && brokers == 1 {
            findings.warn(format!("spec.nodePools[{i}].storage"), "the only broker is on ephemeral storage: every restart loses all data");
        }
        if pool.role.is_controller() && controllers == 1 {
            findings.warn(
                format!("spec.nodePools[{i}].storage"),
                "the only controller is on ephemeral storage: every restart loses the cluster metadata",
            );
        }
    }
}

fn validate_pools(identity: &Identity<'_>, spec: &KafkaClusterSpec, observed: &Observed, findings: &mut Findings) -> Vec<PoolModel> {
    if spec.node_pools.is_empty() {
        findings.error("spec.nodePools", "must list at least one node pool");
    }
    let mut seen = BTreeSet::new();
    for (i, pool) in spec.node_pools.iter().enumerate() {
        if !seen.insert(pool.name.as_str()) {
            findings.error(format!("spec.nodePools[{i}].name"), format!("duplicate pool name \"{}\"", pool.name));
        }
    }
    let requests: Vec<PoolRequest<'_>> =
        spec.node_pools.iter().map(|p| PoolRequest { name: &p.name, replicas: p.replicas, spec_start: p.node_id_start }).collect();
    let starts = node_ids::assign(&requests, &observed.node_id_starts, findings);
    spec.node_pools.iter().zip(starts).enumerate().map(|(i, (pool, start))| validate_pool(identity, i, pool, start, findings)).collect()
}

fn validate_pool(identity: &Identity<'_>, i: usize, pool: &NodePool, start: i32, findings: &mut Findings) -> PoolModel {
    let path = format!("spec.nodePools[{i}]");
    if !is_dns_label(&pool.name) {
        findings.error(format!("{path}.name"), "must be lowercase letters, digits and '-', starting with a letter");
    } else if identity.name.len() + 1 + pool.name.len() > MAX_STATEFULSET_NAME {
        findings
            .error(format!("{path}.name"), format!("\"{}-{}\" is longer than {MAX_STATEFULSET_NAME} characters", identity.name, pool.name));
    }
    let role = Role::from_roles(pool.roles.contains(&NodeRole::Controller), pool.roles.contains(&NodeRole::Broker));
    if pool.roles.is_empty() {
        findings.error(format!("{path}.roles"), "must list controller, broker or both");
    } else if pool.roles.len() != pool.roles.iter().collect::<BTreeSet<_>>().len() {
        findings.error(format!("{path}.roles"), "must not repeat a role");
    }
    if pool.replicas < 1 {
        findings.error(format!("{path}.replicas"), "must be at least 1");
    } else if pool.replicas > node_ids::BLOCK {
        findings.error(format!("{path}.replicas"), format!("must be at most {}", node_ids::BLOCK));
    }
    if let Some(id) = pool.node_id_start
        && id < 0
    {
        findings.error(format!("{path}.nodeIdStart"), "must not be negative");
    }

    let storage = match pool.storage.type_ {
        StorageType::PersistentClaim => {
            let size = match &pool.storage.size {
                None => {
                    findings.error(format!("{path}.storage.size"), "is required for persistentClaim storage");
                    String::new()
                }
                Some(size) => {
                    if quantity::parse_bytes(size).is_none_or(|b| b == 0) {
                        findings.error(format!("{path}.storage.size"), format!("\"{size}\" is not a positive quantity such as 100Gi"));
                    }
                    size.clone()
                }
            };
            let size_bytes = quantity::parse_bytes(&size).filter(|b| *b > 0);
            let auto_grow =
                pool.storage.auto_grow.as_ref().map(|a| super::auto_grow::validate(&format!("{path}.storage"), a, size_bytes, findings));
            if let Some(class) = &pool.storage.class
                && class.trim().is_empty()
            {
                findings.error(format!("{path}.storage.class"), "must not be empty (leave it out for the default class)");
            }
            StorageModel::PersistentClaim {
                size,
                class: pool.storage.class.clone(),
                delete_claim: pool.storage.delete_claim.unwrap_or(false),
                auto_grow,
            }
        }
        StorageType::Ephemeral => {
            if let Some(size) = &pool.storage.size
                && quantity::parse_bytes(size).is_none_or(|b| b == 0)
            {
                findings.error(format!("{path}.storage.size"), format!("\"{size}\" is not a positive quantity such as 10Gi"));
            }
            if pool.storage.class.is_some() {
                findings.error(format!("{path}.storage.class"), "applies only to persistentClaim storage");
            }
            if pool.storage.auto_grow.is_some() {
                findings.error(format!("{path}.storage.autoGrow"), "applies only to persistentClaim storage");
            }
            StorageModel::Ephemeral { size_limit: pool.storage.size.clone() }
        }
    };

    let jvm = pool.jvm_options.clone().unwrap_or_default();
    let heap_bytes = jvm.heap.as_ref().and_then(|heap| match quantity::parse_bytes(heap) {
        Some(bytes) if bytes >= MIN_HEAP_BYTES => Some(bytes),
        _ => {
            findings.error(format!("{path}.jvmOptions.heap"), format!("\"{heap}\" is not a quantity of at least 64Mi"));
            None
        }
    });
    let memory_limit =
        pool.resources.as_ref().and_then(|r| r.limits.as_ref()).and_then(|l| l.get("memory")).and_then(|q| quantity::parse_bytes(&q.0));
    if let (Some(heap), Some(limit)) = (heap_bytes, memory_limit)
        && heap >= limit
    {
        findings.error(
            format!("{path}.jvmOptions.heap"),
            "must be below the container memory limit (the JVM and the page cache need memory beyond the heap)",
        );
    }
    for (j, option) in jvm.extra_options.iter().enumerate() {
        if !option.starts_with('-') || option.contains(['\n', '\'', '"']) {
            findings.error(format!("{path}.jvmOptions.extraOptions[{j}]"), "must be a single JVM option starting with '-', without quotes");
        }
    }

    let template = pool.template.clone().unwrap_or_default();
    for key in template.pod_annotations.keys() {
        if key.starts_with(annotations::RESERVED_PREFIX) {
            // manual-roll included: copied onto every pod, it would roll them for ever.
            findings.error(format!("{path}.template.podAnnotations.{key}"), "is reserved for the operator");
        }
    }
    for key in template.pod_labels.keys() {
        if key.starts_with(annotations::RESERVED_PREFIX) || key.starts_with("app.kubernetes.io/") {
            findings.error(format!("{path}.template.podLabels.{key}"), "is reserved for the operator");
        }
    }
    let grace = template.termination_grace_period_seconds.unwrap_or(DEFAULT_TERMINATION_GRACE_SECONDS);
    if grace < 30 {
        findings.error(format!("{path}.template.terminationGracePeriodSeconds"), "must be at least 30 so a node can shut down cleanly");
    }

    PoolModel {
        name: pool.name.clone(),
        role,
        replicas: pool.replicas,
        node_id_start: start,
        storage,
        resources: pool.resources.clone(),
        heap_bytes,
        jvm_extra_options: jvm.extra_options,
        template,
        termination_grace_period_seconds: grace,
    }
}

/// A cluster's client listeners as the model sees them, without the findings (the cluster's own
/// validation reports those): for the user controller, which needs a cluster's listeners only.
pub fn client_listeners(listeners: &[Listener]) -> Vec<ClientListener> {
    validate_listeners(listeners, &mut Findings::default())
}

/// A cluster's certificate policy from its `spec.certificates`, defaults for bad values (the
/// cluster's own validation reports those).
pub fn certificate_policy(spec: Option<&CertificatesSpec>) -> CertificatePolicy {
    validate_certificates(spec, &mut Findings::default())
}

fn validate_listeners(listeners: &[Listener], findings: &mut Findings) -> Vec<ClientListener> {
    if listeners.is_empty() {
        return vec![ClientListener { name: "plain".to_owned(), port: 9092, auth: ListenerAuth::None, tls: false }];
    }
    let mut names_seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut ports_seen: BTreeMap<i32, usize> = BTreeMap::new();
    let mut result = Vec::new();
    for (i, listener) in listeners.iter().enumerate() {
        let path = format!("spec.listeners[{i}]");
        let name_ok = !listener.name.is_empty()
            && listener.name.len() <= 11
            && listener.name.as_bytes()[0].is_ascii_lowercase()
            && listener.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !name_ok {
            findings.error(format!("{path}.name"), "must be lowercase letters and digits, starting with a letter, at most 11 characters");
        } else if RESERVED_LISTENER_NAMES.contains(&listener.name.as_str()) {
            findings.error(format!("{path}.name"), format!("\"{}\" is reserved for the operator's own listener", listener.name));
        }
        if let Some(first) = names_seen.insert(listener.name.clone(), i) {
            findings.error(format!("{path}.name"), format!("duplicate listener name (also spec.listeners[{first}])"));
        }
        if !(1024..=65535).contains(&listener.port) {
            findings.error(format!("{path}.port"), "must be between 1024 and 65535");
        } else if listener.port == names::CONTROLLER_PORT || listener.port == names::REPLICATION_PORT {
            findings.error(
                format!("{path}.port"),
                format!("{} is reserved for the operator's controller and replication listeners", listener.port),
            );
        }
        if let Some(first) = ports_seen.insert(listener.port, i) {
            findings.error(format!("{path}.port"), format!("duplicate port (also spec.listeners[{first}])"));
        }
        let auth = match listener.authentication.as_ref().map(|a| a.type_) {
            None => ListenerAuth::None,
            Some(ListenerAuthenticationType::ScramSha512) => ListenerAuth::ScramSha512,
            Some(ListenerAuthenticationType::Tls) if !listener.tls => {
                findings.error(
                    format!("{path}.authentication"),
                    "type tls (mutual TLS) needs a TLS listener: set tls: true on this listener, or choose scram-sha-512",
                );
                ListenerAuth::None
            }
            Some(ListenerAuthenticationType::Tls) => ListenerAuth::Tls,
        };
        result.push(ClientListener { name: listener.name.clone(), port: listener.port, auth, tls: listener.tls });
    }
    result
}

//! Pure spec -> validated model: names, node ids, merged config, defaults, warnings.
//!
//! Entry point: [`validate`]. It never talks to the API server; what it needs from the live cluster
//! (the KRaft cluster id, the node ids already in use) comes in through [`Observed`].
pub mod acl;
pub mod auto_grow;
pub mod cluster;
pub mod config;
pub mod error;
pub mod glob;
pub mod metrics;
pub mod names;
pub mod node_ids;
pub mod quantity;
pub mod role;
pub mod topic;
pub mod user;
mod validate;
pub mod version;

use std::collections::BTreeMap;

use base64::Engine;
use sha2::{Digest, Sha256};

pub use cluster::{
    AdminAccess, Authorization, AutoGrowModel, CertificatePolicy, ClientListener, ClusterModel, Increment, InternalSecurity, ListenerAuth,
    OperatorCredentials, PoolModel, RackAwareness, StorageModel,
};
pub use config::Replication;
pub use error::{ValidationError, ValidationErrors, Warning};
pub use metrics::JmxExporter;
pub use role::Role;
pub use validate::{DEFAULT_TERMINATION_GRACE_SECONDS, SUPPORTED_RACK_KEYS, certificate_policy, client_listeners};
pub use version::{SUPPORTED_VERSIONS, SupportedVersion};

use crate::api::KafkaCluster;
use crate::api::cluster::KafkaClusterStatus;

/// What the controller knows from the live cluster and passes into validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The KRaft cluster id (generated once by the controller, kept in a Secret/ConfigMap and the status).
    pub cluster_id: String,
    /// First node id of every pool that already exists (see [`Observed::node_id_starts`]), by pool name.
    pub node_id_starts: BTreeMap<String, i32>,
}

impl Observed {
    /// Reads the node-id starts back from a cluster's status.
    pub fn node_id_starts_from_status(cluster: &KafkaCluster) -> BTreeMap<String, i32> {
        Self::node_id_starts(cluster.status.as_ref(), &BTreeMap::new())
    }

    /// The first node id of every pool that already exists: from the live StatefulSets'
    /// `spec.ordinals.start` (`live`, by pool), which is what the pods run with, else from the
    /// status's `nodePools`. A lost status (patched away, or the object re-created from a GitOps
    /// source) therefore never reassigns node ids.
    pub fn node_id_starts(status: Option<&KafkaClusterStatus>, live: &BTreeMap<String, i32>) -> BTreeMap<String, i32> {
        let mut starts: BTreeMap<String, i32> = status
            .iter()
            .flat_map(|s| s.node_pools.iter())
            .filter_map(|p| p.node_ids.iter().min().map(|start| (p.name.clone(), *start)))
            .collect();
        starts.extend(live.iter().map(|(pool, start)| (pool.clone(), *start)));
        starts
    }
}

/// A validated cluster and the warnings about unsafe but legal settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// The model the renderer takes.
    pub model: ClusterModel,
    /// Warnings for a `Warning` condition.
    pub warnings: Vec<Warning>,
}

/// Validates a KafkaCluster into a model, or returns every error with its field path.
/// A missing namespace is taken as `default`.
pub fn validate(cluster: &KafkaCluster, observed: &Observed) -> Result<Validated, ValidationErrors> {
    let identity = validate::Identity {
        name: cluster.metadata.name.as_deref().unwrap_or_default(),
        namespace: cluster.metadata.namespace.as_deref().unwrap_or("default"),
        uid: cluster.metadata.uid.as_deref(),
    };
    let mut findings = error::Findings::default();
    let model = validate::validate_spec(&identity, &cluster.spec, observed, &mut findings);
    match model {
        Some(model) if findings.errors.is_empty() => Ok(Validated { model, warnings: findings.warnings }),
        _ => Err(ValidationErrors(findings.errors)),
    }
}

/// Whether a string is a Kafka cluster id: 16 bytes in unpadded base64url (22 characters).
pub fn is_valid_cluster_id(id: &str) -> bool {
    // A leading '-' would be read as an option by `kafka-storage format` (Kafka's own
    // `Uuid.randomUuid()` never yields one for the same reason).
    id.len() == 22
        && !id.starts_with('-')
        && base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id).is_ok_and(|bytes| bytes.len() == 16 && bytes.iter().any(|b| *b != 0))
}

/// A fresh random cluster id, for the controller's first reconcile.
pub fn new_cluster_id() -> String {
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
        if is_valid_cluster_id(&id) {
            return id;
        }
    }
}

/// A stable cluster id derived from namespace and name, for offline rendering.
pub fn placeholder_cluster_id(cluster: &KafkaCluster) -> String {
    let namespace = cluster.metadata.namespace.as_deref().unwrap_or("default");
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    (0u32..)
        .map(|salt| {
            let seed = match salt {
                0 => format!("gregor-offline/{namespace}/{name}"),
                n => format!("gregor-offline/{namespace}/{name}/{n}"),
            };
            let digest = Sha256::digest(seed);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
        })
        .find(|id| is_valid_cluster_id(id))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::cluster::NodePoolStatus;

    /// (what, status, live StatefulSet starts, expected starts)
    type Case<'a> = (&'a str, Option<KafkaClusterStatus>, BTreeMap<String, i32>, BTreeMap<String, i32>);

    #[test]
    fn node_id_starts_come_from_the_live_stateful_sets_first() {
        let status = |pools: &[(&str, &[i32])]| KafkaClusterStatus {
            node_pools: pools.iter().map(|(n, ids)| NodePoolStatus { name: (*n).into(), node_ids: ids.to_vec() }).collect(),
            ..KafkaClusterStatus::default()
        };
        let map = |kv: &[(&str, i32)]| kv.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect::<BTreeMap<_, _>>();
        let cases: &[Case<'_>] = &[
            ("nothing exists yet", None, map(&[]), map(&[])),
            ("status only", Some(status(&[("c", &[0, 1, 2]), ("b", &[101, 100])])), map(&[]), map(&[("c", 0), ("b", 100)])),
            ("status lost: the StatefulSets tell", None, map(&[("c", 0), ("b", 100)]), map(&[("c", 0), ("b", 100)])),
            ("status emptied", Some(KafkaClusterStatus::default()), map(&[("b", 200)]), map(&[("b", 200)])),
            ("the live ordinals win over a stale status", Some(status(&[("b", &[0])])), map(&[("b", 100)]), map(&[("b", 100)])),
            (
                "a pool without pods yet keeps its status start",
                Some(status(&[("new", &[300]), ("b", &[])])),
                map(&[("c", 0)]),
                map(&[("new", 300), ("c", 0)]),
            ),
        ];
        for (what, status, live, want) in cases {
            assert_eq!(&Observed::node_id_starts(status.as_ref(), live), want, "{what}");
        }
    }

    #[test]
    fn recovered_starts_are_not_reassigned_when_pools_are_reordered() {
        // A status-less cluster whose spec lists its pools the other way round keeps its ids.
        let kc = KafkaCluster::new(
            "events",
            serde_json::from_value(serde_json::json!({
                "version": "4.4.0",
                "nodePools": [
                    {"name": "brokers", "roles": ["broker"], "replicas": 2, "storage": {"type": "ephemeral"}},
                    {"name": "controllers", "roles": ["controller"], "replicas": 1, "storage": {"type": "ephemeral"}}
                ]
            }))
            .unwrap(),
        );
        let live = BTreeMap::from([("controllers".to_owned(), 0), ("brokers".to_owned(), 100)]);
        let observed = Observed { cluster_id: new_cluster_id(), node_id_starts: Observed::node_id_starts(None, &live) };
        let model = validate(&kc, &observed).expect("valid").model;
        let ids = model.node_ids_by_pool();
        assert!(ids.contains(&("controllers".to_owned(), vec![0])), "{ids:?}");
        assert!(ids.contains(&("brokers".to_owned(), vec![100, 101])), "{ids:?}");
        let fresh = validate(&kc, &Observed { cluster_id: observed.cluster_id.clone(), ..Observed::default() }).expect("valid").model;
        assert!(fresh.node_ids_by_pool().contains(&("brokers".to_owned(), vec![0, 1])), "without the live ids, spec order decides");
    }

    #[test]
    fn generated_ids_are_valid() {
        assert!(is_valid_cluster_id(&new_cluster_id()));
        let cluster = KafkaCluster::new(
            "events",
            serde_json::from_value(serde_json::json!({
                "version": "4.4.0", "nodePools": []
            }))
            .unwrap(),
        );
        let id = placeholder_cluster_id(&cluster);
        assert!(is_valid_cluster_id(&id), "{id}");
        assert_eq!(id, placeholder_cluster_id(&cluster));
        assert!(!is_valid_cluster_id("short"));
        assert!(!is_valid_cluster_id("-o0QKTLMuTHHGg1IbQdwjA"), "kafka-storage would read it as an option");
        assert!((0..5000).map(|_| new_cluster_id()).all(|id| !id.starts_with('-')));
    }
}

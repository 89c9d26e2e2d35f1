//! Pure spec -> validated model: names, node ids, merged config, defaults, warnings.
//!
//! Entry point: [`validate`]. It never talks to the API server; what it needs from the live cluster
//! (the KRaft cluster id, the node ids already in use) comes in through [`Observed`].
pub mod acl;
pub mod cluster;
pub mod config;
pub mod error;
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
    AdminAccess, Authorization, ClientListener, ClusterModel, InternalSecurity, ListenerAuth, OperatorCredentials, PoolModel,
    RackAwareness, StorageModel,
};
pub use config::Replication;
pub use error::{ValidationError, ValidationErrors, Warning};
pub use role::Role;
pub use validate::{DEFAULT_TERMINATION_GRACE_SECONDS, SUPPORTED_RACK_KEYS};
pub use version::{SUPPORTED_VERSIONS, SupportedVersion};

use crate::api::KafkaCluster;

/// What the controller knows from the live cluster and passes into validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The KRaft cluster id (generated once by the controller, kept in a Secret/ConfigMap and the status).
    pub cluster_id: String,
    /// First node id of every pool that already exists (from `status.nodePools`), by pool name.
    pub node_id_starts: BTreeMap<String, i32>,
}

impl Observed {
    /// Reads the node-id starts back from a cluster's status.
    pub fn node_id_starts_from_status(cluster: &KafkaCluster) -> BTreeMap<String, i32> {
        cluster
            .status
            .iter()
            .flat_map(|s| s.node_pools.iter())
            .filter_map(|p| p.node_ids.iter().min().map(|start| (p.name.clone(), *start)))
            .collect()
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

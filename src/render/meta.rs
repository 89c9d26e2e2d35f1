//! Metadata shared by every rendered object: names, namespace, labels, owner reference.
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::{
    api::common::{GROUP, VERSION},
    model::{ClusterModel, PoolModel, names},
};

/// Owner reference to the KafkaCluster, when its uid is known.
pub fn owner_references(model: &ClusterModel) -> Option<Vec<OwnerReference>> {
    model.uid.as_ref().map(|uid| {
        vec![OwnerReference {
            api_version: format!("{GROUP}/{VERSION}"),
            kind: "KafkaCluster".to_owned(),
            name: model.name.clone(),
            uid: uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]
    })
}

/// Labels of a pool's objects: the cluster labels plus component and pool.
pub fn pool_labels(model: &ClusterModel, pool: &PoolModel) -> BTreeMap<String, String> {
    let mut labels = names::cluster_labels(&model.name);
    labels.insert(names::labels::COMPONENT.to_owned(), pool.role.as_str().to_owned());
    labels.insert(names::labels::POOL.to_owned(), pool.name.clone());
    labels
}

/// Metadata of a cluster-wide object.
pub fn cluster_object(model: &ClusterModel, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(model.namespace.clone()),
        labels: Some(names::cluster_labels(&model.name)),
        owner_references: owner_references(model),
        ..ObjectMeta::default()
    }
}

/// Metadata of a per-pool object.
pub fn pool_object(model: &ClusterModel, pool: &PoolModel, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(model.namespace.clone()),
        labels: Some(pool_labels(model, pool)),
        owner_references: owner_references(model),
        ..ObjectMeta::default()
    }
}

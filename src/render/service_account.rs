//! The pods' ServiceAccount.
use k8s_openapi::api::core::v1::ServiceAccount;

use super::meta;
use crate::model::{ClusterModel, names};

/// ServiceAccount of the Kafka pods. They need no API access, so no token is mounted.
pub fn service_account(model: &ClusterModel) -> ServiceAccount {
    ServiceAccount {
        metadata: meta::cluster_object(model, names::service_account(&model.name)),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

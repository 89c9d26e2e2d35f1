//! The PodDisruptionBudget `<cluster>-kafka` and the pods' ServiceAccount.
use k8s_openapi::{
    api::{
        core::v1::ServiceAccount,
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

use super::meta;
use crate::model::{ClusterModel, names};

/// PDB over every Kafka pod, default maxUnavailable 0: drains wait for the operator to move pods safely.
pub fn pod_disruption_budget(model: &ClusterModel) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta::cluster_object(model, names::pod_disruption_budget(&model.name)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(model.pdb_max_unavailable)),
            selector: Some(LabelSelector { match_labels: Some(names::cluster_selector(&model.name)), match_expressions: None }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

/// ServiceAccount of the Kafka pods. They need no API access, so no token is mounted.
pub fn service_account(model: &ClusterModel) -> ServiceAccount {
    ServiceAccount {
        metadata: meta::cluster_object(model, names::service_account(&model.name)),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

//! The PodDisruptionBudget `<cluster>-kafka`.
use k8s_openapi::{
    api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
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

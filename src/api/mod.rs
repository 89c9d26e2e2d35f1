//! Gregor's custom resource types (`kafka.gregor.dev/v1alpha1`). Types only: no logic.
// kube's `printcolumn(name = .., type_ = ..)` repeats `type_ = "string"` across columns, which clippy
// mistakes for duplicated attributes.
#![allow(clippy::duplicated_attributes)]
pub mod cluster;
pub mod common;
pub mod rebalance;
pub mod topic;
pub mod user;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use cluster::{KafkaCluster, KafkaClusterSpec, KafkaClusterStatus};
pub use rebalance::{KafkaRebalance, KafkaRebalanceSpec, KafkaRebalanceStatus};
pub use topic::{KafkaTopic, KafkaTopicSpec, KafkaTopicStatus};
pub use user::{KafkaUser, KafkaUserSpec, KafkaUserStatus};

/// Every CustomResourceDefinition Gregor serves, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![KafkaCluster::crd(), KafkaTopic::crd(), KafkaUser::crd(), KafkaRebalance::crd()]
}

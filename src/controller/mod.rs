//! Reconcilers: thin wiring between Kubernetes, the pure model/render/roll code and Kafka.

pub mod apply;
pub mod cluster;
pub mod conditions;
pub mod context;
pub mod error;
pub mod http;
pub mod leader;
pub mod pod_phase;
pub mod run;
pub mod status_patch;
pub mod topic;
pub mod user;

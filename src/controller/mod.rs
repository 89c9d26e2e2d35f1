//! Reconcilers: thin wiring between Kubernetes, the pure model/render/roll code and Kafka.

pub mod conditions;
pub mod leader;
pub mod pod_phase;
pub mod run;
pub mod apply;
pub mod cluster;
pub mod context;
pub mod error;
pub mod http;
pub mod topic;
pub mod user;
pub mod status_patch;

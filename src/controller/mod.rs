//! Reconcilers: thin wiring between Kubernetes, the pure model/render/roll code and Kafka.
//!
//! Shared by the three controllers: `lifecycle` (finalizer, pause, managed), `kafka_access`
//! (admin clients, batched-call errors), `batch` (the batcher), `status_write` (the one status
//! patch), `watch` (API handles and the cluster watch) and `conditions`.

pub mod apply;
pub mod backoff;
pub mod batch;
pub mod certificates;
pub mod client_config;
pub mod cluster;
pub mod conditions;
pub mod context;
pub mod error;
#[cfg(test)]
pub mod fake_kafka;
pub mod health;
pub mod http;
pub mod kafka_access;
pub mod kube_requests;
pub mod leader;
pub mod lifecycle;
#[cfg(test)]
pub mod mock_api;
pub mod operator_metrics;
pub mod pod_phase;
pub mod reason;
pub mod rebalance;
pub mod run;
pub mod status_write;
pub mod topic;
pub mod user;
pub mod watch;
pub mod write_fence;

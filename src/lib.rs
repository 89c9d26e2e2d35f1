//! Gregor: a Kubernetes operator for Apache Kafka (KRaft only).
pub mod api;
pub mod balance;
pub mod controller;
pub mod model;
pub mod monitoring;
pub mod render;
pub mod roll;

/// The Kafka admin client is its own crate (`kafka/`); re-exported so `crate::kafka::…` and
/// `gregor::kafka::…` keep naming it.
pub use gregor_kafka as kafka;

//! Gregor: a Kubernetes operator for Apache Kafka (KRaft only).
pub mod api;
pub mod controller;
pub mod kafka;
pub mod model;
pub mod render;
pub mod roll;

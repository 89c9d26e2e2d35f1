//! Gregor's test world: a real Kubernetes control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler) on loopback addresses, simulated nodes, and a node
//! agent that runs `apache/kafka` pods as real Kafka brokers. See world/README.md.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gregor_world::WorldError> {
//! let world = gregor_world::World::start().await?;
//! let client = world.client();
//! let kafka = gregor_world::fixtures::kraft_statefulset(&world, "kafka", "k", "4.4.0", 3).await?;
//! println!("bootstrap: {}", kafka.bootstrap_servers());
//! drop(world); // tears everything down
//! # Ok(()) }
//! ```
pub mod agent;
mod controlplane;
pub mod error;
pub mod fixtures;
pub mod kafka;
mod pki;
mod proc;
pub mod tools;
mod world;

pub use agent::SimNode;
pub use error::{Result, WorldError};
pub use kafka::{KafkaTool, ToolOutput};
pub use proc::random_kafka_cluster_id;
pub use world::{World, WorldOptions};

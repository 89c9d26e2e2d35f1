//! Gregor's Kafka admin client, on the `kafka-protocol` wire codec.
//!
//! - [`Client`] (router.rs): bootstrap fail-over, pooled multiplexed connections, metadata
//!   cache, routing ([`Target`]) and retries with backoff.
//! - Operations are inherent methods of [`Client`], one file per area under `ops/`.
//! - Roll-safety queries and their pure decision functions are in [`safety`].
//! - Every API is sent at one fixed version ([`versions::FIXED`]), checked against
//!   ApiVersions.
//! - Reads are eventually consistent with writes: a write is acknowledged by the controller,
//!   and a broker answering a later read may not have applied it yet (same as Kafka's Java
//!   AdminClient). Callers verifying a write should poll.
//!
//! Tests: `cargo test -p gregor --lib kafka::` (pure: codec round trips at every allowed
//! version, decisions, SCRAM vectors), `cargo test -p gregor --test kafka_admin` (real 3-node
//! clusters of Kafka 4.4.0 and 4.3.1 in the test world). Figures:
//! `cargo run --release --example kafka_bench` (add `-- --bootstrap h:p` for an existing cluster).

pub mod codec;
pub mod config;
pub mod connection;
pub mod consume;
pub mod error;
pub mod metadata;
pub mod ops;
pub mod produce;
pub mod resolve;
#[cfg(test)]
mod roundtrip_tests;
pub mod router;
pub mod safety;
pub mod sasl;
pub mod transport;
pub mod versions;

pub use config::{ClientConfig, ResolverConfig, RetryPolicy, SaslConfig, TlsConfig};
pub use error::{Error, KafkaCode, ResponseError, Result};
pub use metadata::{BrokerInfo, MetadataSnapshot, PartitionInfo, TopicInfo, TopicPartition};
pub use router::{Client, Target};
pub use sasl::{StaticToken, TokenProvider};

//! Gregor's Kafka admin client, on the `kafka-protocol` wire codec.
//!
//! - [`Client`] (router.rs): bootstrap fail-over, pooled multiplexed connections, metadata
//!   cache, routing ([`Target`]) and retries with backoff.
//! - Operations are inherent methods of [`Client`], one file per area under `ops/`.
//! - Roll-safety queries and their pure decision functions are in [`safety`].
//! - Every API is sent at one fixed version ([`versions::FIXED`]), checked against
//!   ApiVersions.

pub mod codec;
pub mod config;
pub mod consume;
pub mod connection;
pub mod error;
pub mod metadata;
pub mod ops;
pub mod produce;
pub mod resolve;
pub mod router;
#[cfg(test)]
mod roundtrip_tests;
pub mod safety;
pub mod sasl;
pub mod transport;
pub mod versions;

pub use config::{ClientConfig, ResolverConfig, RetryPolicy, SaslConfig, TlsConfig};
pub use error::{Error, KafkaCode, ResponseError, Result};
pub use metadata::{BrokerInfo, MetadataSnapshot, PartitionInfo, TopicInfo, TopicPartition};
pub use router::{Client, Target};
pub use sasl::{StaticToken, TokenProvider};

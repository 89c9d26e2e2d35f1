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
//! - Errors are typed ([`Error`]); [`Error::category`] sorts them into a few
//!   [`ErrorCategory`]s for callers that only need to know what kind of failure it was.
//!
//! Used by the operator (`gregor`, as `gregor::kafka`): the admin operations, roll safety,
//! SCRAM. Not used by the operator today, kept for the tests, the benchmark and the upcoming
//! canary: the producer ([`produce`]), the consumer ([`consume`]), consumer groups
//! ([`ops::groups`]) and OAUTHBEARER ([`SaslConfig::OAuthBearer`], [`TokenProvider`]).
//!
//! The crate depends on nothing of the operator; the test world (`gregor-world`) is a
//! dev-dependency only.
//!
//! Tests: `cargo test -p gregor-kafka --lib` (pure: codec round trips at every allowed
//! version, decisions, SCRAM vectors), `cargo test -p gregor-kafka --test kafka_admin` (real
//! 3-node clusters of Kafka 4.4.0 and 4.3.1 in the test world). Figures:
//! `cargo run --release -p gregor-kafka --example kafka_bench` (add `-- --bootstrap h:p` for an
//! existing cluster).

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
pub mod served_certificate;
pub mod stats;
pub mod transport;
pub mod versions;
pub mod write_gate;

pub use config::{ClientConfig, ResolverConfig, RetryPolicy, SaslConfig, TlsConfig};
pub use error::{Error, ErrorCategory, KafkaCode, ResponseError, Result};
pub use metadata::{BrokerInfo, MetadataSnapshot, PartitionInfo, TopicInfo, TopicPartition};
pub use router::{Client, Target};
pub use sasl::{StaticToken, TokenProvider};
pub use write_gate::WriteGate;

//! Typed errors of the Kafka client, with retriable classification.

use std::time::Duration;

pub use kafka_protocol::error::ResponseError;

/// A Kafka error code returned by a broker (non-zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaCode(pub ResponseError);

impl KafkaCode {
    /// `None` for 0 (no error).
    pub fn from_code(code: i16) -> Option<Self> {
        ResponseError::try_from_code(code).map(KafkaCode)
    }
    pub fn code(&self) -> i16 {
        self.0.code()
    }
    /// Retriable per Kafka's `Errors.java`, except the "unknown topic" family, which for an
    /// admin client is an answer ("it does not exist"), not a transient condition.
    pub fn is_retriable(&self) -> bool {
        !matches!(self.0, ResponseError::UnknownTopicOrPartition | ResponseError::UnknownTopicId) && self.0.is_retriable()
    }
    /// Errors after which the routing metadata (leaders, controller) is stale.
    pub fn needs_metadata_refresh(&self) -> bool {
        matches!(
            self.0,
            ResponseError::NotController
                | ResponseError::NotLeaderOrFollower
                | ResponseError::LeaderNotAvailable
                | ResponseError::NotCoordinator
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::FencedLeaderEpoch
                | ResponseError::UnknownLeaderEpoch
                | ResponseError::ListenerNotFound
                | ResponseError::BrokerNotAvailable
        )
    }
    pub fn is_authorization(&self) -> bool {
        matches!(
            self.0,
            ResponseError::TopicAuthorizationFailed
                | ResponseError::GroupAuthorizationFailed
                | ResponseError::ClusterAuthorizationFailed
                | ResponseError::TransactionalIdAuthorizationFailed
                | ResponseError::DelegationTokenAuthorizationFailed
        )
    }
}

impl std::fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.0, self.0.code())
    }
}

/// Why a name could not be turned into socket addresses.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("invalid address {0:?}: expected host:port")]
    InvalidAddress(String),
    #[error("cannot read hosts file {path}: {source}")]
    HostsFile { path: String, source: std::io::Error },
    #[error("cannot resolve {host}: {source}")]
    Lookup { host: String, source: std::io::Error },
    #[error("{host} resolved to no address")]
    NoAddress { host: String },
    #[error("{host} resolved to {addr}, outside the allowed loopback range")]
    NotLoopback { host: String, addr: std::net::IpAddr },
}

/// TLS configuration and handshake errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("no certificate in {0}")]
    NoCertificate(String),
    #[error("no private key in {0}")]
    NoPrivateKey(String),
    #[error("invalid server name {0:?}")]
    ServerName(String),
    #[error("tls configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("tls handshake with {addr}: {source}")]
    Handshake { addr: String, source: std::io::Error },
}

/// SASL authentication errors.
#[derive(Debug, thiserror::Error)]
pub enum SaslError {
    #[error("broker does not enable mechanism {wanted}; it offers {offered:?}")]
    MechanismNotEnabled { wanted: String, offered: Vec<String> },
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    #[error("sasl mechanism error: {0}")]
    Mechanism(String),
    #[error("oauthbearer token provider failed: {0}")]
    TokenProvider(String),
}

/// The client's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o with {addr}: {source}")]
    Io { addr: String, source: std::io::Error },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Sasl(#[from] SaslError),
    #[error("cannot encode/decode {api} v{version}: {message}")]
    Codec { api: &'static str, version: i16, message: String },
    #[error("{api} to {addr} timed out after {after:?}")]
    Timeout { api: &'static str, addr: String, after: Duration },
    #[error("connection to {addr} closed")]
    Disconnected { addr: String },
    #[error(
        "broker {addr} does not support {api} v{wanted} (it supports {}); Gregor needs Kafka 4.3 or newer",
        match broker_range { Some((a, b)) => format!("v{a}..=v{b}"), None => "none".to_string() }
    )]
    UnsupportedVersion { addr: String, api: &'static str, wanted: i16, broker_range: Option<(i16, i16)> },
    #[error("{api} failed: {code}{}{}",
        resource.as_deref().map(|r| format!(" for {r}")).unwrap_or_default(),
        message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka { api: &'static str, code: KafkaCode, resource: Option<String>, message: Option<String> },
    #[error("no broker reachable (tried {tried:?}): {last}")]
    NoBrokerAvailable { tried: Vec<String>, last: Box<Error> },
    #[error("node {0} is not in the cluster metadata")]
    UnknownNode(i32),
    #[error("partition {topic}-{partition} has no leader")]
    NoLeader { topic: String, partition: i32 },
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted { attempts: u32, last: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Build an error from a response error code, `Ok(())` for 0.
    pub fn check(api: &'static str, code: i16, resource: Option<&str>, message: Option<&str>) -> Result<()> {
        match KafkaCode::from_code(code) {
            None => Ok(()),
            Some(code) => Err(Error::Kafka {
                api,
                code,
                resource: resource.map(str::to_string),
                message: message.filter(|m| !m.is_empty()).map(str::to_string),
            }),
        }
    }

    /// The Kafka error code, if this error came from a broker's answer.
    pub fn kafka_code(&self) -> Option<ResponseError> {
        match self {
            Error::Kafka { code, .. } => Some(code.0),
            Error::RetriesExhausted { last, .. } => last.kafka_code(),
            _ => None,
        }
    }

    /// Whether retrying the same request (possibly elsewhere) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Io { .. }
            | Error::Timeout { .. }
            | Error::Disconnected { .. }
            | Error::NoBrokerAvailable { .. }
            | Error::NoLeader { .. } => true,
            Error::Resolve(ResolveError::Lookup { .. } | ResolveError::NoAddress { .. }) => true,
            Error::Tls(TlsError::Handshake { .. }) => true,
            Error::Kafka { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// Whether the routing metadata should be refreshed before a retry.
    pub fn needs_metadata_refresh(&self) -> bool {
        match self {
            Error::Kafka { code, .. } => code.needs_metadata_refresh(),
            Error::Io { .. }
            | Error::Disconnected { .. }
            | Error::NoLeader { .. }
            | Error::UnknownNode(_)
            // A node whose name no longer resolves (its pod is gone after a scale-down) may
            // still be the cached controller or leader: ask again who it is.
            | Error::Resolve(ResolveError::Lookup { .. } | ResolveError::NoAddress { .. }) => true,
            _ => false,
        }
    }

    pub fn is_authorization_failure(&self) -> bool {
        matches!(self, Error::Kafka { code, .. } if code.is_authorization())
    }

    pub fn is_authentication_failure(&self) -> bool {
        matches!(self, Error::Sasl(SaslError::AuthenticationFailed(_)))
            || matches!(self, Error::Kafka { code, .. } if code.0 == ResponseError::SaslAuthenticationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let cases: &[(i16, bool, bool, bool)] = &[
            // code, retriable, refresh, authz
            (3, false, false, false),  // UNKNOWN_TOPIC_OR_PARTITION: an answer
            (6, true, true, false),    // NOT_LEADER_OR_FOLLOWER
            (7, true, false, false),   // REQUEST_TIMED_OUT
            (29, false, false, true),  // TOPIC_AUTHORIZATION_FAILED
            (31, false, false, true),  // CLUSTER_AUTHORIZATION_FAILED
            (36, false, false, false), // TOPIC_ALREADY_EXISTS
            (37, false, false, false), // INVALID_PARTITIONS
            (41, true, true, false),   // NOT_CONTROLLER
            (89, true, false, false),  // THROTTLING_QUOTA_EXCEEDED
            (58, false, false, false), // SASL_AUTHENTICATION_FAILED
        ];
        for &(code, retriable, refresh, authz) in cases {
            let e = Error::check("Test", code, None, None).unwrap_err();
            assert_eq!(e.is_retriable(), retriable, "retriable {code}");
            assert_eq!(e.needs_metadata_refresh(), refresh, "refresh {code}");
            assert_eq!(e.is_authorization_failure(), authz, "authz {code}");
        }
        assert!(Error::check("Test", 0, None, None).is_ok());
        let gone = Error::Resolve(ResolveError::Lookup { host: "c-brokers-103".into(), source: std::io::Error::other("unknown") });
        assert!(gone.is_retriable() && gone.needs_metadata_refresh(), "a vanished node makes the routing stale");
        let outside = Error::Resolve(ResolveError::NotLoopback { host: "x".into(), addr: std::net::Ipv4Addr::new(10, 0, 0, 1).into() });
        assert!(!outside.needs_metadata_refresh());
    }

    #[test]
    fn messages_name_the_code_and_resource() {
        let e = Error::check("CreateTopics", 36, Some("t1"), Some("exists")).unwrap_err();
        assert_eq!(e.to_string(), "CreateTopics failed: TopicAlreadyExists (36) for t1: exists");
    }
}

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
    #[error("bad PEM in {path}: {source}")]
    Pem { path: String, source: rustls::pki_types::pem::Error },
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
    /// The client's write gate was closed (the operator may no longer be the leader): nothing
    /// was sent.
    #[error("{api} not sent: writes are fenced (leadership may have lapsed)")]
    WriteFenced { api: &'static str },
    /// No broker's metadata is known to be fresh: DescribeQuorum shows every broker's metadata
    /// log more than the allowed lag behind the quorum leader (or names no broker at all).
    #[error("no broker's metadata is fresh enough ({})", match freshest {
        Some((id, lag)) => format!("the freshest, broker {id}, is {lag} records behind the quorum leader"),
        None => "DescribeQuorum names no reachable broker".to_string(),
    })]
    StaleMetadata { freshest: Option<(i32, i64)> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, for callers that report or count failures by kind
/// (the operator's error categories build on this). [`Error::is_retriable`] stays the retry
/// decision; the two agree except for the wrappers (see [`Error::category`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The cluster or the network is not answering right now (i/o, timeouts, closed
    /// connections, no leader, names that do not resolve yet, retriable Kafka codes).
    Transient,
    /// Authentication or authorization failed (SASL, the token provider, Kafka's
    /// `*_AUTHORIZATION_FAILED` and `SASL_AUTHENTICATION_FAILED` codes).
    Auth,
    /// The client's own configuration or arguments are wrong: addresses, the hosts file, the
    /// loopback rule, TLS files, a SASL mechanism the broker does not enable.
    Config,
    /// The broker does not support an API version this client needs.
    Unsupported,
    /// The wire exchange broke: a frame or message that cannot be encoded or decoded, an
    /// answer missing what was asked, a SASL mechanism failure.
    Protocol,
    /// The cluster answered "no": a Kafka error code that is not transient (topic exists,
    /// invalid partitions, unknown topic, policy violation, ...), or a node it does not know.
    Rejected,
}

impl KafkaCode {
    pub fn category(&self) -> ErrorCategory {
        match self.0 {
            _ if self.is_authorization() => ErrorCategory::Auth,
            ResponseError::SaslAuthenticationFailed => ErrorCategory::Auth,
            ResponseError::UnsupportedSaslMechanism => ErrorCategory::Config,
            ResponseError::UnsupportedVersion => ErrorCategory::Unsupported,
            _ if self.is_retriable() => ErrorCategory::Transient,
            _ => ErrorCategory::Rejected,
        }
    }
}

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

    /// What kind of failure this is. The wrappers ([`Error::NoBrokerAvailable`],
    /// [`Error::RetriesExhausted`]) take the category of their last error: every broker
    /// refusing the password is an [`ErrorCategory::Auth`] failure, although trying again
    /// later ([`Error::is_retriable`]) is still right for an unreachable cluster.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Error::Io { .. }
            | Error::Timeout { .. }
            | Error::Disconnected { .. }
            | Error::NoLeader { .. }
            | Error::WriteFenced { .. }
            | Error::StaleMetadata { .. } => ErrorCategory::Transient,
            Error::Resolve(e) => match e {
                ResolveError::Lookup { .. } | ResolveError::NoAddress { .. } => ErrorCategory::Transient,
                ResolveError::InvalidAddress(_) | ResolveError::HostsFile { .. } | ResolveError::NotLoopback { .. } => {
                    ErrorCategory::Config
                }
            },
            Error::Tls(e) => match e {
                TlsError::Handshake { .. } => ErrorCategory::Transient,
                TlsError::Read { .. }
                | TlsError::Pem { .. }
                | TlsError::NoCertificate(_)
                | TlsError::NoPrivateKey(_)
                | TlsError::ServerName(_)
                | TlsError::Config(_) => ErrorCategory::Config,
            },
            Error::Sasl(e) => match e {
                SaslError::AuthenticationFailed(_) | SaslError::TokenProvider(_) => ErrorCategory::Auth,
                SaslError::MechanismNotEnabled { .. } => ErrorCategory::Config,
                SaslError::Mechanism(_) => ErrorCategory::Protocol,
            },
            Error::Codec { .. } | Error::Protocol(_) => ErrorCategory::Protocol,
            Error::UnsupportedVersion { .. } => ErrorCategory::Unsupported,
            Error::Kafka { code, .. } => code.category(),
            Error::UnknownNode(_) => ErrorCategory::Rejected,
            Error::InvalidArgument(_) => ErrorCategory::Config,
            Error::NoBrokerAvailable { last, .. } | Error::RetriesExhausted { last, .. } => last.category(),
        }
    }

    /// Whether retrying the same request (possibly elsewhere) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Io { .. }
            | Error::Timeout { .. }
            | Error::Disconnected { .. }
            | Error::NoBrokerAvailable { .. }
            | Error::NoLeader { .. }
            | Error::StaleMetadata { .. } => true,
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
    fn category_table() {
        use ErrorCategory::*;
        let io = || std::io::Error::other("x");
        let kafka = |code: i16| Error::check("Test", code, None, None).unwrap_err();
        let cases: Vec<(Error, ErrorCategory)> = vec![
            (Error::Io { addr: "a".into(), source: io() }, Transient),
            (Error::Timeout { api: "Metadata", addr: "a".into(), after: Duration::from_secs(1) }, Transient),
            (Error::Disconnected { addr: "a".into() }, Transient),
            (Error::NoLeader { topic: "t".into(), partition: 0 }, Transient),
            (Error::Resolve(ResolveError::Lookup { host: "h".into(), source: io() }), Transient),
            (Error::Resolve(ResolveError::NoAddress { host: "h".into() }), Transient),
            (Error::Resolve(ResolveError::InvalidAddress("h".into())), Config),
            (Error::Resolve(ResolveError::HostsFile { path: "/h".into(), source: io() }), Config),
            (Error::Resolve(ResolveError::NotLoopback { host: "h".into(), addr: std::net::Ipv4Addr::new(10, 0, 0, 1).into() }), Config),
            (Error::Tls(TlsError::Handshake { addr: "a".into(), source: io() }), Transient),
            (Error::Tls(TlsError::Read { path: "/ca".into(), source: io() }), Config),
            (Error::Tls(TlsError::NoCertificate("/ca".into())), Config),
            (Error::Tls(TlsError::NoPrivateKey("/key".into())), Config),
            (Error::Tls(TlsError::ServerName("".into())), Config),
            (Error::Tls(TlsError::Config(rustls::Error::General("x".into()))), Config),
            (Error::Sasl(SaslError::AuthenticationFailed("bad password".into())), Auth),
            (Error::Sasl(SaslError::TokenProvider("no token".into())), Auth),
            (Error::Sasl(SaslError::MechanismNotEnabled { wanted: "SCRAM-SHA-512".into(), offered: vec![] }), Config),
            (Error::Sasl(SaslError::Mechanism("x".into())), Protocol),
            (Error::Codec { api: "Metadata", version: 12, message: "x".into() }, Protocol),
            (Error::Protocol("x".into()), Protocol),
            (Error::UnsupportedVersion { addr: "a".into(), api: "Metadata", wanted: 12, broker_range: None }, Unsupported),
            (Error::UnknownNode(7), Rejected),
            (Error::InvalidArgument("x".into()), Config),
            (kafka(3), Rejected),     // UNKNOWN_TOPIC_OR_PARTITION: an answer
            (kafka(6), Transient),    // NOT_LEADER_OR_FOLLOWER
            (kafka(7), Transient),    // REQUEST_TIMED_OUT
            (kafka(29), Auth),        // TOPIC_AUTHORIZATION_FAILED
            (kafka(31), Auth),        // CLUSTER_AUTHORIZATION_FAILED
            (kafka(33), Config),      // UNSUPPORTED_SASL_MECHANISM
            (kafka(35), Unsupported), // UNSUPPORTED_VERSION
            (kafka(36), Rejected),    // TOPIC_ALREADY_EXISTS
            (kafka(37), Rejected),    // INVALID_PARTITIONS
            (kafka(41), Transient),   // NOT_CONTROLLER
            (kafka(44), Rejected),    // POLICY_VIOLATION
            (kafka(58), Auth),        // SASL_AUTHENTICATION_FAILED
            (kafka(89), Transient),   // THROTTLING_QUOTA_EXCEEDED
            (Error::NoBrokerAvailable { tried: vec!["a".into()], last: Box::new(Error::Disconnected { addr: "a".into() }) }, Transient),
            (
                Error::NoBrokerAvailable {
                    tried: vec!["a".into()],
                    last: Box::new(Error::Sasl(SaslError::AuthenticationFailed("x".into()))),
                },
                Auth,
            ),
            (Error::RetriesExhausted { attempts: 3, last: Box::new(kafka(41)) }, Transient),
            (Error::RetriesExhausted { attempts: 3, last: Box::new(kafka(36)) }, Rejected),
            (Error::StaleMetadata { freshest: Some((100, 40)) }, Transient),
            (Error::StaleMetadata { freshest: None }, Transient),
        ];
        for (e, want) in &cases {
            assert_eq!(e.category(), *want, "{e}");
            if !matches!(e, Error::NoBrokerAvailable { .. } | Error::RetriesExhausted { .. }) {
                assert_eq!(e.is_retriable(), *want == Transient, "category and retry decision agree for {e}");
            }
        }
    }

    #[test]
    fn messages_name_the_code_and_resource() {
        let e = Error::check("CreateTopics", 36, Some("t1"), Some("exists")).unwrap_err();
        assert_eq!(e.to_string(), "CreateTopics failed: TopicAlreadyExists (36) for t1: exists");
    }
}

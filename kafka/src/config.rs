//! Client configuration: bootstrap servers, security, resolver, timeouts, retries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::sasl::TokenProvider;
use crate::write_gate::WriteGate;

/// How to reach and authenticate to the brokers.
#[derive(Clone)]
pub struct ClientConfig {
    /// `host:port` bootstrap addresses, tried in order (fail-over).
    pub bootstrap: Vec<String>,
    pub client_id: String,
    pub tls: Option<TlsConfig>,
    pub sasl: Option<SaslConfig>,
    pub resolver: ResolverConfig,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Largest number of topics per CreateTopics/DeleteTopics/DescribeConfigs request.
    pub batch_size: usize,
    /// How many batched requests may be in flight at once.
    pub batch_concurrency: usize,
    /// Asked before every request that changes the cluster; `None` lets every write through.
    pub write_gate: Option<WriteGate>,
}

impl ClientConfig {
    pub fn new<S: Into<String>>(bootstrap: impl IntoIterator<Item = S>) -> Self {
        ClientConfig {
            bootstrap: bootstrap.into_iter().map(Into::into).collect(),
            client_id: "gregor".to_string(),
            tls: None,
            sasl: None,
            resolver: ResolverConfig::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            batch_size: 200,
            batch_concurrency: 4,
            write_gate: None,
        }
    }
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }
    pub fn with_sasl(mut self, sasl: SaslConfig) -> Self {
        self.sasl = Some(sasl);
        self
    }
    pub fn with_resolver(mut self, resolver: ResolverConfig) -> Self {
        self.resolver = resolver;
        self
    }
    pub fn with_request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    pub fn with_write_gate(mut self, gate: WriteGate) -> Self {
        self.write_gate = Some(gate);
        self
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("bootstrap", &self.bootstrap)
            .field("client_id", &self.client_id)
            .field("tls", &self.tls)
            .field("sasl", &self.sasl)
            .field("resolver", &self.resolver)
            .finish_non_exhaustive()
    }
}

/// TLS from PEM files. Client certificate + key enable mTLS.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// CA bundle used to verify the brokers. Required (no system roots: brokers use our CA).
    pub ca_pem: PathBuf,
    pub client_cert_pem: Option<PathBuf>,
    pub client_key_pem: Option<PathBuf>,
    /// Name to verify instead of the host dialled (rarely needed).
    pub server_name_override: Option<String>,
}

/// SASL mechanisms we speak.
#[derive(Clone)]
pub enum SaslConfig {
    /// What the operator uses.
    ScramSha512 { username: String, password: String },
    /// Not used by the operator today; for the tests, benchmarks and the upcoming canary.
    OAuthBearer { provider: Arc<dyn TokenProvider> },
}

impl std::fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaslConfig::ScramSha512 { username, .. } => {
                f.debug_struct("ScramSha512").field("username", username).field("password", &"<redacted>").finish()
            }
            SaslConfig::OAuthBearer { .. } => f.write_str("OAuthBearer"),
        }
    }
}

/// Name resolution: an optional hosts(5) file consulted first, then system DNS.
#[derive(Debug, Clone, Default)]
pub struct ResolverConfig {
    pub hosts_file: Option<PathBuf>,
    /// Refuse any address outside 127.0.0.0/8 and ::1 (test worlds).
    pub loopback_only: bool,
}

/// Exponential backoff for retriable errors.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, initial_backoff: Duration::from_millis(50), max_backoff: Duration::from_secs(2) }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt` (1-based retry count), capped, without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy { max_attempts: 10, initial_backoff: Duration::from_millis(100), max_backoff: Duration::from_millis(1000) };
        let got: Vec<u128> = (1..=6).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff(64).as_millis(), 1000);
    }

    #[test]
    fn debug_redacts_password() {
        let s = SaslConfig::ScramSha512 { username: "u".into(), password: "secret".into() };
        assert!(!format!("{s:?}").contains("secret"));
    }
}

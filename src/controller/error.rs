//! Errors of the reconcilers, and their categories (what `error_policy` does with them, and the
//! metric label).

/// How a failed reconcile is retried (see [`backoff`](super::backoff)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCategory {
    /// May succeed by itself later (the API server or Kafka did not answer, a conflict).
    Transient,
    /// The object (or what it names) must change first.
    Invalid,
    /// Refused for good as things stand (a request the API server or Kafka rejects).
    Permanent,
}

impl ErrorCategory {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Transient => "transient",
            ErrorCategory::Invalid => "invalid",
            ErrorCategory::Permanent => "permanent",
        }
    }
}

/// The category of a Kubernetes API failure: a request the API server rejects (4xx other than
/// not found, conflict and too many requests) is permanent; anything else may pass later.
pub fn kube_category(e: &kube::Error) -> ErrorCategory {
    match e {
        kube::Error::Api(s) if (400..500).contains(&s.code) && ![404, 409, 429].contains(&s.code) => ErrorCategory::Permanent,
        _ => ErrorCategory::Transient,
    }
}

/// The category of a Kafka client failure.
pub fn kafka_category(e: &crate::kafka::Error) -> ErrorCategory {
    if e.is_retriable() { ErrorCategory::Transient } else { ErrorCategory::Permanent }
}

/// What can fail in a reconcile. `error_policy` retries by [`category`](Self::category).
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("rendering: {0}")]
    Render(#[from] crate::render::RenderError),
    #[error("Kafka: {0}")]
    Kafka(#[from] crate::kafka::Error),
    #[error("serializing {what}: {source}")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{kind} has no {field}")]
    MissingField { kind: &'static str, field: &'static str },
    #[error("Secret {secret} lacks key {key}")]
    SecretKey { secret: String, key: String },
    #[error("certificates: {0}")]
    Certificate(#[from] crate::controller::certificates::CertificateError),
}

impl ControllerError {
    /// How `error_policy` retries it.
    pub fn category(&self) -> ErrorCategory {
        match self {
            ControllerError::Kube(e) => kube_category(e),
            ControllerError::Kafka(e) => kafka_category(e),
            ControllerError::Render(_) | ControllerError::Serialize { .. } => ErrorCategory::Permanent,
            ControllerError::MissingField { .. } | ControllerError::SecretKey { .. } => ErrorCategory::Invalid,
            ControllerError::Certificate(e) => e.category(),
        }
    }
}

pub type Result<T, E = ControllerError> = std::result::Result<T, E>;

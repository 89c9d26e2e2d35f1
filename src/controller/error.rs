//! Errors of the reconcilers.

/// What can fail in a reconcile. Every variant is retried with backoff by `error_policy`.
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
}

pub type Result<T, E = ControllerError> = std::result::Result<T, E>;

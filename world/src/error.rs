//! Errors of the test world.
use std::path::PathBuf;

/// Everything that can go wrong while starting, running or using a world.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("tool {tool} not found at {path} (run `bash hack/build-tools.sh all` first)")]
    ToolMissing { tool: String, path: PathBuf },
    #[error("kafka version {0} is not in the cache ($GREGOR_CACHE/kafka-<v>); run `bash hack/build-tools.sh kafka`")]
    KafkaVersionMissing(String),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to spawn {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("command {what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("no free loopback block for a new world (all 127.X.0.0/16 blocks locked)")]
    NoFreeBlock,
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    #[error("process {what} exited early: {status} (log: {log})")]
    EarlyExit { what: String, status: String, log: PathBuf },
    #[error("kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error("kubeconfig error: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("serialization error: {0}")]
    Json(#[from] serde_json::Error),
    #[error("yaml error: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("the world supervisor thread is gone")]
    SupervisorGone,
    #[error("{0}")]
    Other(String),
}

impl WorldError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WorldError {
        let path = path.into();
        move |source| WorldError::Io { path, source }
    }
}

pub type Result<T, E = WorldError> = std::result::Result<T, E>;

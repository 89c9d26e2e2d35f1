//! What the topic and user reconcilers share about their batched Kafka calls: the per-item
//! error, the breaker that stops asking a cluster that does not answer, and one set of batchers
//! per cluster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::admin::Admin;
use crate::controller::batch::BatchDropped;
use crate::controller::error::ErrorCategory;
use crate::kafka::{self, ResponseError};

/// A Kafka error shared by every item of a failed batch.
pub type SharedError = Arc<kafka::Error>;
pub type KafkaResult<T> = Result<T, SharedError>;

/// Why a batched Kafka call failed for one item.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Kafka(SharedError),
    #[error(transparent)]
    Dropped(#[from] BatchDropped),
    #[error("the cluster did not answer a moment ago ({0}); not asking again yet")]
    Unreachable(String),
}

impl OpError {
    /// The Kafka error code, if Kafka answered with one.
    pub fn code(&self) -> Option<ResponseError> {
        match self {
            OpError::Kafka(e) => e.kafka_code(),
            OpError::Dropped(_) | OpError::Unreachable(_) => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            OpError::Kafka(e) => e.is_retriable(),
            OpError::Dropped(_) | OpError::Unreachable(_) => true,
        }
    }

    /// How `error_policy` retries it.
    pub fn category(&self) -> ErrorCategory {
        if self.is_retriable() { ErrorCategory::Transient } else { ErrorCategory::Permanent }
    }
}

/// One item's result of a batched call, as the reconciler sees it.
pub fn flatten<T>(r: Result<KafkaResult<T>, BatchDropped>) -> Result<T, OpError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(OpError::Kafka(e)),
        Err(d) => Err(OpError::Dropped(d)),
    }
}

/// The same error for every item of a batch that failed as a whole.
pub fn all_fail<T, I>(items: &[I], e: kafka::Error) -> Vec<KafkaResult<T>> {
    let e = Arc::new(e);
    items.iter().map(|_| Err(e.clone())).collect()
}

/// How long a cluster that did not answer is not asked again: its resources fail fast instead
/// of holding reconcile slots that other clusters' resources need.
pub const UNREACHABLE_BACKOFF: Duration = Duration::from_secs(10);

/// Remembers that a cluster did not answer (a retriable failure of a describe).
#[derive(Default)]
pub struct Breaker {
    open_until: Mutex<Option<(Instant, String)>>,
}

impl Breaker {
    /// Fails fast while the breaker is open.
    pub fn check(&self) -> Result<(), OpError> {
        let guard = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some((until, why)) if Instant::now() < *until => Err(OpError::Unreachable(why.clone())),
            _ => Ok(()),
        }
    }

    /// Records the outcome of a call.
    pub fn record<T>(&self, result: &Result<T, OpError>) {
        let mut guard = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Err(OpError::Kafka(e)) if e.is_retriable() => *guard = Some((Instant::now() + UNREACHABLE_BACKOFF, e.to_string())),
            Ok(_) => *guard = None,
            Err(_) => {}
        }
    }
}

/// The batched calls of one reconciler against one cluster, built around its admin client.
pub trait ClusterOps {
    fn new(client: Arc<dyn Admin>) -> Self;
    fn client(&self) -> &Arc<dyn Admin>;
}

/// One set of batched calls per cluster, rebuilt when the cluster's admin client changes.
pub struct OpsRegistry<T> {
    by_cluster: Mutex<HashMap<String, Arc<T>>>,
}

impl<T> Default for OpsRegistry<T> {
    fn default() -> Self {
        OpsRegistry { by_cluster: Mutex::new(HashMap::new()) }
    }
}

impl<T: ClusterOps> OpsRegistry<T> {
    pub fn get(&self, cluster_key: &str, client: &Arc<dyn Admin>) -> Arc<T> {
        let mut map = self.by_cluster.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(cluster_key) {
            Some(ops) if Arc::ptr_eq(ops.client(), client) => ops.clone(),
            _ => {
                let ops = Arc::new(T::new(client.clone()));
                map.insert(cluster_key.to_owned(), ops.clone());
                ops
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_on_unreachable_and_closes_on_success() {
        let b = Breaker::default();
        assert!(b.check().is_ok());
        let down: Result<(), OpError> = Err(OpError::Kafka(Arc::new(kafka::Error::Disconnected { addr: "b:9091".into() })));
        b.record(&down);
        assert!(matches!(b.check(), Err(OpError::Unreachable(_))));
        b.record(&Ok::<(), OpError>(()));
        assert!(b.check().is_ok());
        let refused: Result<(), OpError> = Err(OpError::Kafka(Arc::new(kafka::Error::InvalidArgument("bad".into()))));
        b.record(&refused);
        assert!(b.check().is_ok(), "an answer, even a refusal, means the cluster is there");
    }
}

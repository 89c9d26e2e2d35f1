//! Coalesces single-item calls from many concurrent reconciles into one batched call.
//!
//! A [`Batcher`] owns a task: it takes the first item, keeps collecting for `window` (or until
//! `max_batch` items), then hands the whole batch to the handler, at most `max_in_flight`
//! batches at a time. While a batch is in flight, newcomers queue up for the next one. Each
//! cluster gets its own batchers, so a cluster that does not answer only slows its own
//! resources.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::trace;

/// How a batcher collects.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// How long to wait for more items after the first.
    pub window: Duration,
    /// Largest batch.
    pub max_batch: usize,
    /// Batches handled concurrently.
    pub max_in_flight: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy { window: Duration::from_millis(15), max_batch: 500, max_in_flight: 4 }
    }
}

/// The batcher's task is gone, or dropped the item (a handler that returned too few results).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the {0} batcher dropped the request")]
pub struct BatchDropped(pub &'static str);

struct Job<I, O> {
    item: I,
    reply: oneshot::Sender<O>,
}

/// Sends items to the batching task. Cheap to clone; the task ends when every clone is dropped.
pub struct Batcher<I, O> {
    name: &'static str,
    tx: mpsc::UnboundedSender<Job<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Batcher { name: self.name, tx: self.tx.clone() }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Spawns the task. `handler` gets a batch and must return one output per item, in order.
    pub fn spawn<F, Fut>(name: &'static str, policy: BatchPolicy, handler: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job<I, O>>();
        let handler = Arc::new(handler);
        let permits = Arc::new(Semaphore::new(policy.max_in_flight.max(1)));
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                let deadline = tokio::time::Instant::now() + policy.window;
                while jobs.len() < policy.max_batch {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(job)) => jobs.push(job),
                        Ok(None) | Err(_) => break,
                    }
                }
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                // Whatever queued while we waited for a permit joins this batch.
                while jobs.len() < policy.max_batch {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                trace!(batcher = name, size = jobs.len(), "batch");
                let (items, replies): (Vec<I>, Vec<oneshot::Sender<O>>) = jobs.into_iter().map(|j| (j.item, j.reply)).unzip();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let outputs = handler(items).await;
                    for (reply, output) in replies.into_iter().zip(outputs) {
                        let _ = reply.send(output);
                    }
                    drop(permit);
                });
            }
        });
        Batcher { name, tx }
    }

    /// Queues one item and waits for its result.
    pub async fn call(&self, item: I) -> Result<O, BatchDropped> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job { item, reply }).map_err(|_| BatchDropped(self.name))?;
        answer.await.map_err(|_| BatchDropped(self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn concurrent_calls_share_one_batch() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher: Batcher<u32, u32> = Batcher::spawn(
            "test",
            BatchPolicy { window: Duration::from_millis(50), max_batch: 100, max_in_flight: 1 },
            move |items: Vec<u32>| {
                seen.lock().expect("lock").push(items.len());
                async move { items.into_iter().map(|i| i * 2).collect() }
            },
        );
        let calls = (0..10).map(|i| {
            let b = batcher.clone();
            async move { b.call(i).await }
        });
        let results: Vec<u32> = futures::future::join_all(calls).await.into_iter().map(|r| r.expect("answer")).collect();
        assert_eq!(results, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(*sizes.lock().expect("lock"), vec![10]);
    }

    #[tokio::test]
    async fn short_answers_are_errors_not_hangs() {
        let batcher: Batcher<u32, u32> = Batcher::spawn("short", BatchPolicy::default(), |_items: Vec<u32>| async move { Vec::new() });
        assert!(batcher.call(1).await.is_err());
    }
}

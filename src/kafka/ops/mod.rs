//! Admin operations, as inherent methods of [`Client`], one file per area.

pub mod acls;
pub mod cluster;
pub mod configs;
pub mod features;
pub mod groups;
pub mod quorum;
pub mod quotas;
pub mod scram;
pub mod topics;

use std::future::Future;

use futures::stream::{self, StreamExt};

use crate::kafka::error::{Error, Result};
use crate::kafka::router::Client;

impl Client {
    /// Run a per-item batched operation: chunk `items` by `batch_size`, send chunks with
    /// bounded concurrency, and re-send only the items whose own error is retriable, with
    /// backoff, up to the retry policy's attempts.
    pub(crate) async fn run_items<I, O, F, Fut>(&self, items: Vec<I>, send: F) -> Result<Vec<(I, Result<O>)>>
    where
        I: Clone,
        F: Fn(Vec<I>) -> Fut,
        Fut: Future<Output = Result<Vec<(I, Result<O>)>>>,
    {
        let policy = self.config().retry;
        let mut done = Vec::with_capacity(items.len());
        let mut pending = items;
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let chunks: Vec<Vec<I>> = pending
                .chunks(self.config().batch_size.max(1))
                .map(|c| c.to_vec())
                .collect();
            let results: Vec<Result<Vec<(I, Result<O>)>>> = stream::iter(chunks)
                .map(&send)
                .buffer_unordered(self.config().batch_concurrency.max(1))
                .collect()
                .await;
            let mut retry = Vec::new();
            let mut refresh = false;
            for r in results {
                for (item, res) in r? {
                    match res {
                        Err(e) if e.is_retriable() && attempt < policy.max_attempts => {
                            refresh |= e.needs_metadata_refresh();
                            retry.push(item);
                        }
                        other => done.push((item, other)),
                    }
                }
            }
            if !retry.is_empty() {
                tracing::debug!(count = retry.len(), attempt, "retrying items");
                if refresh {
                    let _ = self.refresh_metadata().await;
                }
                tokio::time::sleep(policy.backoff(attempt)).await;
            }
            pending = retry;
        }
        Ok(done)
    }
}

/// Pair request items with per-name results; items missing from the answer get an error.
pub(crate) fn pair_by_name<I, O>(
    api: &'static str,
    items: Vec<I>,
    name: impl Fn(&I) -> &str,
    mut results: std::collections::HashMap<String, Result<O>>,
) -> Vec<(I, Result<O>)> {
    items
        .into_iter()
        .map(|it| {
            let r = results
                .remove(name(&it))
                .unwrap_or_else(|| Err(Error::Protocol(format!("{api}: no result for {}", name(&it)))));
            (it, r)
        })
        .collect()
}

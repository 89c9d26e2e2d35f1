//! Admin operations, as inherent methods of [`Client`], one file per area.

pub mod acls;
pub mod cluster;
pub mod configs;
pub mod elect;
pub mod features;
pub mod groups;
pub mod lag;
pub mod log_dirs;
pub mod quorum;
pub mod quotas;
pub mod scram;
pub mod topics;

use std::future::Future;

use futures::stream::{self, StreamExt};

use crate::error::{Error, Result};
use crate::router::Client;

type Outcomes<I, O> = Result<Vec<(I, Result<O>)>>;

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
        self.run_items_weighted(items, |_| 1, usize::MAX, send).await
    }

    /// As [`Client::run_items`], with chunks also bounded by a total `weight` (e.g. the number
    /// of metadata records a CreateTopics request makes: Kafka refuses more than 10,000).
    pub(crate) async fn run_items_weighted<I, O, F, Fut>(
        &self,
        items: Vec<I>,
        weight: impl Fn(&I) -> usize,
        max_weight: usize,
        send: F,
    ) -> Result<Vec<(I, Result<O>)>>
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
            let chunks = chunk_weighted(pending, self.config().batch_size, &weight, max_weight);
            let results: Vec<Outcomes<I, O>> =
                stream::iter(chunks).map(&send).buffer_unordered(self.config().batch_concurrency.max(1)).collect().await;
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

/// Split `items` in order into chunks of at most `max_count` items and `max_weight` total
/// weight; an item heavier than `max_weight` goes alone.
pub fn chunk_weighted<I>(items: Vec<I>, max_count: usize, weight: impl Fn(&I) -> usize, max_weight: usize) -> Vec<Vec<I>> {
    let max_count = max_count.max(1);
    let mut out: Vec<Vec<I>> = Vec::new();
    let mut cur: Vec<I> = Vec::new();
    let mut cur_w = 0usize;
    for it in items {
        let w = weight(&it);
        if !cur.is_empty() && (cur.len() >= max_count || cur_w.saturating_add(w) > max_weight) {
            out.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        cur_w = cur_w.saturating_add(w);
        cur.push(it);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
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
            let r = results.remove(name(&it)).unwrap_or_else(|| Err(Error::Protocol(format!("{api}: no result for {}", name(&it)))));
            (it, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::chunk_weighted;
    use proptest::prelude::*;

    #[test]
    fn chunk_table() {
        type Case = (Vec<usize>, usize, usize, Vec<Vec<usize>>);
        let cases: Vec<Case> = vec![
            (vec![1, 1, 1, 1, 1], 2, 100, vec![vec![1, 1], vec![1, 1], vec![1]]),
            (vec![60, 60, 30, 10], 10, 100, vec![vec![60], vec![60, 30, 10]]),
            (vec![500, 1], 10, 100, vec![vec![500], vec![1]]),
            (vec![], 3, 3, vec![]),
        ];
        for (items, n, w, want) in cases {
            assert_eq!(chunk_weighted(items, n, |x| *x, w), want);
        }
    }

    proptest! {
        #[test]
        fn chunks_keep_order_and_bounds(items in prop::collection::vec(1usize..50, 0..100), n in 1usize..10, w in 1usize..120) {
            let chunks = chunk_weighted(items.clone(), n, |x| *x, w);
            let flat: Vec<usize> = chunks.iter().flatten().copied().collect();
            prop_assert_eq!(flat, items);
            for c in &chunks {
                prop_assert!(!c.is_empty() && c.len() <= n);
                prop_assert!(c.len() == 1 || c.iter().sum::<usize>() <= w);
            }
        }
    }
}

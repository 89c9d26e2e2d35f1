//! Applying many objects at once, as `kubectl apply --server-side -f dir/` would, noting when
//! each apply was sent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

/// What applying a batch gave.
pub struct Applied {
    /// When each object's apply was sent, by name.
    pub sent_at: HashMap<String, Instant>,
    /// When the first apply was sent.
    pub started: Instant,
    /// How long sending every apply took.
    pub took: Duration,
    /// Applies the API server refused.
    pub errors: usize,
    /// The first refusal, for the log.
    pub first_error: Option<String>,
}

/// Server-side applies every object with at most `concurrency` in flight.
pub async fn apply_all<K>(client: &kube::Client, ns: &str, objects: Vec<serde_json::Value>, concurrency: usize) -> Applied
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let started = Instant::now();
    let results: Vec<(String, Instant, Result<K, kube::Error>)> = futures::stream::iter(objects.into_iter().map(|o| async move {
        let name = o["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let at = Instant::now();
        (name, at, crate::support::apply_json::<K>(client, ns, o).await)
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let took = started.elapsed();
    let mut applied = Applied { sent_at: HashMap::new(), started, took, errors: 0, first_error: None };
    for (name, at, result) in results {
        if let Err(e) = result {
            applied.errors += 1;
            applied.first_error.get_or_insert_with(|| format!("{name}: {e}"));
        }
        applied.sent_at.insert(name, at);
    }
    applied
}

/// Apply-to-event durations of `names` (those with both instants).
pub fn latencies(names: &[String], sent_at: &HashMap<String, Instant>, event_at: impl Fn(&str) -> Option<Instant>) -> Vec<Duration> {
    names.iter().filter_map(|n| Some(event_at(n)?.saturating_duration_since(*sent_at.get(n)?))).collect()
}

//! What `error_policy` does after a failed reconcile, for all three controllers: a transient
//! failure is retried with exponential backoff (per object, reset by the next success, capped);
//! an invalid object waits for its next change; a permanent failure is retried at the cap.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::controller::Action as Requeue;
use kube::{Resource, ResourceExt};
use tracing::warn;

use super::context::Context;
use super::error::ErrorCategory;

/// The longest wait between two retries of one object.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The shortest first retry.
pub const MIN_BACKOFF: Duration = Duration::from_secs(5);

/// Consecutive failures per object (`Kind/namespace/name`).
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Counts one more failure of `key`; returns how many in a row.
    pub fn failed(&self, key: &str) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// A success: the next failure of `key` starts from the first delay again.
    pub fn succeeded(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// The delay after `failures` failures in a row: `base`, doubling, at most `cap`.
pub fn delay(base: Duration, cap: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(cap)
}

/// The key of an object in [`Backoff`].
pub fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!("{}/{}/{}", K::kind(&()), obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Resets the object's failures when its reconcile succeeded.
pub fn record<K: Resource<DynamicType = ()>, T, E>(ctx: &Context, obj: &K, result: &Result<T, E>) {
    if result.is_ok() {
        ctx.backoff.succeeded(&key(obj));
    }
}

/// The requeue after a failed reconcile of `obj`, counted in the metrics under `kind`.
pub fn after_failure<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    kind: &'static str,
    obj: &K,
    category: ErrorCategory,
    error: &dyn std::fmt::Display,
) -> Requeue {
    ctx.metrics.record_failure(kind, category);
    let base = ctx.settings.requeue_busy.max(MIN_BACKOFF);
    let key = key(obj);
    match category {
        ErrorCategory::Invalid => {
            warn!(object = %key, %error, "reconcile failed on the object itself; waiting for it to change");
            Requeue::await_change()
        }
        ErrorCategory::Permanent => {
            ctx.backoff.failed(&key);
            warn!(object = %key, %error, "reconcile failed; retrying in {}s", MAX_BACKOFF.as_secs());
            Requeue::requeue(MAX_BACKOFF)
        }
        ErrorCategory::Transient => {
            let wait = delay(base, MAX_BACKOFF, ctx.backoff.failed(&key));
            warn!(object = %key, %error, "reconcile failed; retrying in {}s", wait.as_secs());
            Requeue::requeue(wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let s = Duration::from_secs;
        assert_eq!([1, 2, 3, 4].map(|n| delay(s(5), s(300), n)), [s(5), s(10), s(20), s(40)]);
        assert_eq!(delay(s(5), s(300), 10), s(300));
        assert_eq!(delay(s(5), s(300), u32::MAX), s(300));
        let b = Backoff::default();
        assert_eq!((b.failed("a"), b.failed("a"), b.failed("b")), (1, 2, 1));
        b.succeeded("a");
        assert_eq!(b.failed("a"), 1);
    }
}

//! Requests this process sent, per API (for the operator's `/metrics` and benchmarks).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::versions::{FIXED, api_name};

/// One counter per API of [`FIXED`], in its order.
static SENT: [AtomicU64; FIXED.len()] = [const { AtomicU64::new(0) }; FIXED.len()];

/// Counts one request of API `key`.
pub fn count(key: i16) {
    if let Some(i) = FIXED.iter().position(|(k, _)| *k as i16 == key) {
        SENT[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// `(API name, requests sent)` for every API sent at least once, in [`FIXED`]'s order.
pub fn requests_sent() -> Vec<(&'static str, u64)> {
    FIXED.iter().zip(&SENT).map(|((k, _), n)| (api_name(*k as i16), n.load(Ordering::Relaxed))).filter(|(_, n)| *n > 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiKey;

    #[test]
    fn counts_per_api_by_name() {
        let before = requests_sent().into_iter().find(|(n, _)| *n == "DescribeLogDirs").map_or(0, |(_, c)| c);
        count(ApiKey::DescribeLogDirs as i16);
        count(ApiKey::DescribeLogDirs as i16);
        count(-5);
        let after = requests_sent().into_iter().find(|(n, _)| *n == "DescribeLogDirs").map_or(0, |(_, c)| c);
        assert_eq!(after, before + 2);
    }
}

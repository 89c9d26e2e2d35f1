//! `storage.autoGrow`: whether a pool's claims should grow, from the log-dir usage the health
//! task last gathered. Pure: `decide(inputs) -> Decision`; the wiring is in `autogrow_step`.
//!
//! Fails closed: without fresh usage there is no growth. One step at a time: while a growth is
//! not yet reflected (a claim's capacity below the requested size, or Kafka still reporting the
//! total it had when the last growth was decided), nothing more is asked. Never shrinks, never
//! passes `maxSize`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::cluster::PoolStorageStatus;
use crate::controller::reason::ClusterReason;
use crate::model::{AutoGrowModel, Increment};

/// Usage older than this is stale (three health refreshes).
pub const MAX_USAGE_AGE: Duration = Duration::from_secs(90);
/// Growths are rounded up to whole MiB (unless that would pass maxSize).
const MIB: u64 = 1 << 20;

/// The log-dir bytes the health task last gathered for a cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// How long ago it was gathered.
    pub age: Duration,
    /// `(total, usable)` bytes per node that answered DescribeLogDirs.
    pub nodes: BTreeMap<i32, (u64, u64)>,
}

/// Everything one pool's decision is made from.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    pub spec: &'a AutoGrowModel,
    /// The broker node ids of the pool.
    pub nodes: &'a [i32],
    /// The size the pool's claims are asked for now (spec or an earlier growth), in bytes.
    pub requested: u64,
    /// Each existing claim's `status.capacity` (`None`: not reported).
    pub capacities: &'a [Option<u64>],
    /// The usage of the cluster; `None`: none gathered (not the leader, Kafka unreachable).
    pub usage: Option<&'a Usage>,
    /// The largest log-dir total Kafka reported when the last growth was decided.
    pub total_at_last_growth: Option<u64>,
    /// Whether the claims' StorageClass allows expansion; `None`: not checked (yet).
    pub expandable: Option<bool>,
}

/// Why a decision cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// No usage gathered, or older than [`MAX_USAGE_AGE`], or none for the pool's nodes.
    NoFreshUsage,
}

/// Why the claims should grow but cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cannot {
    MaxSizeReached,
    NotExpandable,
}

/// Why nothing is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nothing {
    /// Every node is below the threshold.
    BelowThreshold,
    /// The last growth is not reflected in the claims' capacity or Kafka's totals yet.
    GrowthInProgress,
}

/// Which node pressed, and how full it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pressure {
    pub node: i32,
    /// Used percent of its log dir (rounded down).
    pub used_percent: u64,
    pub total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Ask the claims for `to` bytes.
    Grow {
        to: u64,
        pressure: Pressure,
    },
    Nothing(Nothing),
    Cannot {
        why: Cannot,
        pressure: Pressure,
    },
    Unknown(Unknown),
}

fn used_percent(total: u64, usable: u64) -> u64 {
    if total == 0 {
        return 100;
    }
    let used = u128::from(total.saturating_sub(usable));
    u64::try_from(used * 100 / u128::from(total)).unwrap_or(100)
}

/// The size after one increment from `requested`, capped at `max`; at least one byte more.
pub fn next_size(requested: u64, increment: Increment, max: u64) -> u64 {
    let step = match increment {
        Increment::Percent(p) => u64::try_from(u128::from(requested) * u128::from(p) / 100).unwrap_or(u64::MAX),
        Increment::Bytes(b) => b,
    };
    let raw = requested.saturating_add(step.max(1));
    let rounded = raw.div_ceil(MIB).saturating_mul(MIB);
    rounded.min(max).max(requested.min(max))
}

pub fn decide(i: &Inputs<'_>) -> Decision {
    let Some(usage) = i.usage.filter(|u| u.age <= MAX_USAGE_AGE) else {
        return Decision::Unknown(Unknown::NoFreshUsage);
    };
    let reported: Vec<(i32, u64, u64)> =
        i.nodes.iter().filter_map(|n| usage.nodes.get(n).map(|(total, usable)| (*n, *total, *usable))).collect();
    if reported.is_empty() {
        return Decision::Unknown(Unknown::NoFreshUsage);
    }
    let in_flight = i.capacities.iter().any(|c| c.is_none_or(|c| c < i.requested))
        || i.total_at_last_growth.is_some_and(|before| reported.iter().any(|(_, total, _)| *total <= before));
    if in_flight {
        return Decision::Nothing(Nothing::GrowthInProgress);
    }
    let fullest = reported
        .iter()
        .map(|(node, total, usable)| Pressure { node: *node, used_percent: used_percent(*total, *usable), total: *total })
        .max_by_key(|p| (p.used_percent, std::cmp::Reverse(p.node)));
    let Some(pressure) = fullest.filter(|p| p.used_percent >= u64::from(i.spec.threshold_percent)) else {
        return if reported.len() < i.nodes.len() {
            Decision::Unknown(Unknown::NoFreshUsage)
        } else {
            Decision::Nothing(Nothing::BelowThreshold)
        };
    };
    if i.requested >= i.spec.max_bytes {
        return Decision::Cannot { why: Cannot::MaxSizeReached, pressure };
    }
    if i.expandable == Some(false) {
        return Decision::Cannot { why: Cannot::NotExpandable, pressure };
    }
    Decision::Grow { to: next_size(i.requested, i.spec.increment, i.spec.max_bytes), pressure }
}

/// A byte count as a quantity: whole MiB as `NMi`, else plain bytes.
pub fn quantity(bytes: u64) -> String {
    if bytes > 0 && bytes.is_multiple_of(MIB) { format!("{}Mi", bytes / MIB) } else { bytes.to_string() }
}

/// What a decision means for the pool's status entry, and the Event to record (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub entry: PoolStorageStatus,
    /// `(reason, note)` of an Event: Normal for a growth, Warning for a newly blocked one.
    pub event: Option<(ClusterReason, String)>,
}

fn pressure_text(p: &Pressure, threshold: u8) -> String {
    format!("node {} uses {}% of its {} log dir (threshold {threshold}%)", p.node, p.used_percent, quantity(p.total))
}

/// The pool's status entry after `decision`. `previous`: the entry before; `requested`: the
/// claims' requested bytes; `refusal`: the API server's answer when a growth was refused.
pub fn record(
    pool: &str,
    previous: Option<&PoolStorageStatus>,
    inputs: &Inputs<'_>,
    decision: &Decision,
    usage_max_total: Option<u64>,
) -> Recorded {
    let mut entry = previous.cloned().unwrap_or_else(|| PoolStorageStatus { name: pool.to_owned(), ..PoolStorageStatus::default() });
    let threshold = inputs.spec.threshold_percent;
    let event = match decision {
        Decision::Grow { to, pressure } => {
            let note = format!(
                "{}: growing the claims from {} to {}",
                pressure_text(pressure, threshold),
                quantity(inputs.requested),
                quantity(*to)
            );
            entry.auto_grown_size = Some(quantity(*to));
            entry.reason = Some(note.clone());
            entry.blocked = None;
            entry.total_bytes_at_growth = usage_max_total;
            Some((ClusterReason::StorageAutoGrown, note))
        }
        Decision::Cannot { why, pressure } => {
            let because = match why {
                Cannot::MaxSizeReached => format!("the claims are at maxSize ({})", quantity(inputs.spec.max_bytes)),
                Cannot::NotExpandable => "the claims' StorageClass does not allow volume expansion".to_owned(),
            };
            let message =
                format!("{} but cannot grow: {because}; raise autoGrow.maxSize or free space", pressure_text(pressure, threshold));
            let newly = entry.blocked.as_deref().is_none_or(|b| !b.contains(&because));
            entry.blocked = Some(message.clone());
            newly.then_some((ClusterReason::StorageAutoGrowBlocked, message))
        }
        Decision::Nothing(Nothing::BelowThreshold) => {
            entry.blocked = None;
            None
        }
        Decision::Nothing(Nothing::GrowthInProgress) | Decision::Unknown(_) => None,
    };
    Recorded { entry, event }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const M: u64 = MIB;

    fn spec(threshold: u8, max: u64) -> AutoGrowModel {
        AutoGrowModel { threshold_percent: threshold, increment: Increment::Percent(25), max_bytes: max }
    }

    fn usage(age: u64, nodes: &[(i32, u64, u64)]) -> Usage {
        Usage { age: Duration::from_secs(age), nodes: nodes.iter().map(|(n, t, u)| (*n, (*t, *u))).collect() }
    }

    #[test]
    fn next_sizes() {
        assert_eq!(next_size(64 * M, Increment::Percent(25), 1 << 30), 80 * M);
        assert_eq!(next_size(64 * M, Increment::Bytes(10 * M), 1 << 30), 74 * M);
        assert_eq!(next_size(64 * M, Increment::Percent(25), 70 * M), 70 * M, "capped at maxSize");
        assert_eq!(next_size(100, Increment::Percent(1), 1 << 30), M, "rounded up to a MiB");
        assert_eq!(quantity(80 * M), "80Mi");
        assert_eq!(quantity(1000), "1000");
    }

    #[test]
    fn decisions() {
        let s = spec(80, 128 * M);
        let nodes = [0, 1];
        let full = usage(10, &[(0, 64 * M, 10 * M), (1, 64 * M, 50 * M)]); // node 0: 84 % used
        let calm = usage(10, &[(0, 64 * M, 40 * M), (1, 64 * M, 50 * M)]);
        let half = usage(10, &[(1, 64 * M, 50 * M)]);
        let half_full = usage(10, &[(1, 64 * M, M)]);
        let stale = usage(600, &[(0, 64 * M, M)]);
        let grown = usage(10, &[(0, 80 * M, 10 * M), (1, 80 * M, 60 * M)]);
        let p0 = Pressure { node: 0, used_percent: 84, total: 64 * M };
        let cap = [Some(64 * M), Some(64 * M)];
        let base = Inputs {
            spec: &s,
            nodes: &nodes,
            requested: 64 * M,
            capacities: &cap,
            usage: Some(&full),
            total_at_last_growth: None,
            expandable: None,
        };
        let cases: Vec<(&str, Inputs<'_>, Decision)> = vec![
            ("over the threshold", base.clone(), Decision::Grow { to: 80 * M, pressure: p0 }),
            ("below", Inputs { usage: Some(&calm), ..base.clone() }, Decision::Nothing(Nothing::BelowThreshold)),
            ("no usage", Inputs { usage: None, ..base.clone() }, Decision::Unknown(Unknown::NoFreshUsage)),
            ("stale usage", Inputs { usage: Some(&stale), ..base.clone() }, Decision::Unknown(Unknown::NoFreshUsage)),
            ("a node unreported, the other calm", Inputs { usage: Some(&half), ..base.clone() }, Decision::Unknown(Unknown::NoFreshUsage)),
            (
                "a node unreported, the other full",
                Inputs { usage: Some(&half_full), ..base.clone() },
                Decision::Grow { to: 80 * M, pressure: Pressure { node: 1, used_percent: 98, total: 64 * M } },
            ),
            ("claims not grown yet", Inputs { requested: 80 * M, ..base.clone() }, Decision::Nothing(Nothing::GrowthInProgress)),
            (
                "a claim without capacity",
                Inputs { capacities: &[Some(64 * M), None], ..base.clone() },
                Decision::Nothing(Nothing::GrowthInProgress),
            ),
            (
                "Kafka still sees the old total",
                Inputs { total_at_last_growth: Some(64 * M), ..base.clone() },
                Decision::Nothing(Nothing::GrowthInProgress),
            ),
            (
                "Kafka sees the growth",
                Inputs {
                    requested: 80 * M,
                    capacities: &[Some(80 * M); 2],
                    usage: Some(&grown),
                    total_at_last_growth: Some(64 * M),
                    ..base.clone()
                },
                Decision::Grow { to: 100 * M, pressure: Pressure { node: 0, used_percent: 87, total: 80 * M } },
            ),
            (
                "at maxSize",
                Inputs { requested: 128 * M, capacities: &[Some(128 * M); 2], ..base.clone() },
                Decision::Cannot { why: Cannot::MaxSizeReached, pressure: p0 },
            ),
            (
                "class refuses",
                Inputs { expandable: Some(false), ..base.clone() },
                Decision::Cannot { why: Cannot::NotExpandable, pressure: p0 },
            ),
            ("no node of the pool reported", Inputs { nodes: &[7], ..base.clone() }, Decision::Unknown(Unknown::NoFreshUsage)),
        ];
        for (what, inputs, expected) in cases {
            assert_eq!(decide(&inputs), expected, "{what}");
        }
    }

    #[test]
    fn records() {
        let s = spec(80, 128 * M);
        let cap = [Some(64 * M)];
        let inputs = Inputs {
            spec: &s,
            nodes: &[0],
            requested: 64 * M,
            capacities: &cap,
            usage: None,
            total_at_last_growth: None,
            expandable: None,
        };
        let p = Pressure { node: 0, used_percent: 90, total: 64 * M };
        let grown = record("b", None, &inputs, &Decision::Grow { to: 80 * M, pressure: p }, Some(64 * M));
        assert_eq!(grown.entry.auto_grown_size.as_deref(), Some("80Mi"));
        assert_eq!(grown.entry.total_bytes_at_growth, Some(64 * M));
        assert_eq!(grown.event.as_ref().map(|e| e.0), Some(ClusterReason::StorageAutoGrown));
        assert!(grown.event.as_ref().is_some_and(|e| e.1.contains("from 64Mi to 80Mi")), "{grown:?}");

        let blocked = record("b", Some(&grown.entry), &inputs, &Decision::Cannot { why: Cannot::MaxSizeReached, pressure: p }, None);
        assert_eq!(blocked.entry.auto_grown_size.as_deref(), Some("80Mi"), "a growth is never forgotten");
        assert!(blocked.entry.blocked.as_deref().is_some_and(|b| b.contains("maxSize (128Mi)")));
        assert_eq!(blocked.event.as_ref().map(|e| e.0), Some(ClusterReason::StorageAutoGrowBlocked));
        let again = record("b", Some(&blocked.entry), &inputs, &Decision::Cannot { why: Cannot::MaxSizeReached, pressure: p }, None);
        assert_eq!(again.event, None, "the Warning Event is recorded once");
        let freed = record("b", Some(&again.entry), &inputs, &Decision::Nothing(Nothing::BelowThreshold), None);
        assert_eq!(freed.entry.blocked, None);
        assert_eq!(freed.entry.auto_grown_size.as_deref(), Some("80Mi"));
        let blind = record("b", Some(&again.entry), &inputs, &Decision::Unknown(Unknown::NoFreshUsage), None);
        assert_eq!(blind.entry, again.entry, "no data changes nothing");
    }

    proptest! {
        #[test]
        fn never_shrinks_never_passes_max_never_acts_blind(
            requested in 1u64..(1 << 40),
            max in 1u64..(1 << 41),
            threshold in 1u8..100,
            pct in 1u32..500,
            age in 0u64..300,
            total in 0u64..(1 << 40),
            usable_frac in 0u64..=100,
            capacity in proptest::option::of(0u64..(1 << 41)),
            before in proptest::option::of(0u64..(1 << 40)),
            expandable in proptest::option::of(any::<bool>()),
        ) {
            let s = AutoGrowModel { threshold_percent: threshold, increment: Increment::Percent(pct), max_bytes: max };
            let u = usage(age, &[(3, total, total / 100 * usable_frac)]);
            let caps = [capacity];
            let inputs = Inputs { spec: &s, nodes: &[3], requested, capacities: &caps, usage: Some(&u), total_at_last_growth: before, expandable };
            if let Decision::Grow { to, pressure } = decide(&inputs) {
                prop_assert!(to > requested, "grows: {to} > {requested}");
                prop_assert!(to <= max, "within maxSize");
                prop_assert!(age <= MAX_USAGE_AGE.as_secs(), "fresh usage only");
                prop_assert!(capacity.is_some_and(|c| c >= requested), "the last growth is reflected");
                prop_assert!(before.is_none_or(|b| total > b), "Kafka sees the last growth");
                prop_assert!(pressure.used_percent >= u64::from(threshold));
                prop_assert!(expandable != Some(false));
            }
            let blind = Inputs { usage: None, ..inputs.clone() };
            prop_assert_eq!(decide(&blind), Decision::Unknown(Unknown::NoFreshUsage));
        }
    }
}

//! kstatus-compatible conditions: `Ready` plus `Warning`-style conditions, each stamped with the
//! generation it describes. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::controller::reason::Reason;

/// The condition types Gregor writes.
pub const READY: &str = "Ready";
pub const WARNING: &str = "Warning";
pub const ROLLING: &str = "Rolling";
/// True while `kafka.gregor.dev/pause-reconciliation=true` holds the resource still.
pub const PAUSED: &str = "ReconciliationPaused";

/// What a reconcile concluded for one condition type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conclusion {
    pub type_: &'static str,
    pub status: bool,
    /// A typed reason's string form (see [`Reason`]).
    pub reason: &'static str,
    pub message: String,
}

impl Conclusion {
    pub fn new(type_: &'static str, status: bool, reason: impl Reason, message: impl Into<String>) -> Self {
        Conclusion { type_, status, reason: reason.as_str(), message: message.into() }
    }

    pub fn ready(reason: impl Reason, message: impl Into<String>) -> Self {
        Self::new(READY, true, reason, message)
    }

    pub fn not_ready(reason: impl Reason, message: impl Into<String>) -> Self {
        Self::new(READY, false, reason, message)
    }
}

/// The conditions of a paused resource: `ReconciliationPaused=True`, everything else as it was.
pub fn paused(existing: &[Condition], reason: impl Reason, generation: Option<i64>, now: Timestamp) -> Vec<Condition> {
    let message = format!("{}=true: no change is applied", crate::model::names::annotations::PAUSE_RECONCILIATION);
    let conclusion = Conclusion::new(PAUSED, true, reason, message);
    merge(existing, &[conclusion], &[PAUSED], generation, now)
}

/// Merges `conclusions` into `existing`: a condition whose status did not change keeps its
/// `lastTransitionTime`, so a steady state writes identical status. Condition types not named in
/// `conclusions` but listed in `owned` are dropped (e.g. a cleared `Warning`); any other condition is
/// kept untouched.
pub fn merge(
    existing: &[Condition],
    conclusions: &[Conclusion],
    owned: &[&str],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let replaced = |c: &Condition| owned.contains(&c.type_.as_str()) || conclusions.iter().any(|v| v.type_ == c.type_);
    let mut out: Vec<Condition> = existing.iter().filter(|c| !replaced(c)).cloned().collect();
    for v in conclusions {
        let status = if v.status { "True" } else { "False" }.to_string();
        let previous = existing.iter().find(|c| c.type_ == v.type_);
        let last_transition_time = match previous {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Time(now),
        };
        out.push(Condition {
            type_: v.type_.to_string(),
            status,
            reason: v.reason.to_owned(),
            message: v.message.clone(),
            observed_generation: generation,
            last_transition_time,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::reason::ClusterReason;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn keeps_transition_time_when_status_is_unchanged() {
        let t0 = ts("2026-01-01T00:00:00Z");
        let first = merge(&[], &[Conclusion::ready(ClusterReason::Ready, "all good")], &[READY], Some(1), t0);
        let second = merge(&first, &[Conclusion::ready(ClusterReason::Ready, "all good")], &[READY], Some(1), ts("2026-01-01T01:00:00Z"));
        assert_eq!(first, second, "a steady state must produce identical conditions");
    }

    #[test]
    fn flips_transition_time_on_change_and_stamps_generation() {
        let t0 = ts("2026-01-01T00:00:00Z");
        let t1 = ts("2026-01-01T01:00:00Z");
        let first = merge(&[], &[Conclusion::ready(ClusterReason::Ready, "ok")], &[READY], Some(1), t0);
        let second = merge(&first, &[Conclusion::not_ready(ClusterReason::InvalidSpec, "bad")], &[READY], Some(2), t1);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].status, "False");
        assert_eq!(second[0].reason, "InvalidSpec");
        assert_eq!(second[0].observed_generation, Some(2));
        assert_eq!(second[0].last_transition_time, Time(t1));
    }

    #[test]
    fn drops_cleared_owned_conditions_and_keeps_foreign_ones() {
        let t0 = ts("2026-01-01T00:00:00Z");
        let with_warning = merge(
            &[],
            &[Conclusion::ready(ClusterReason::Ready, "ok"), Conclusion::new(WARNING, true, ClusterReason::UnsafeSettings, "rf 1")],
            &[READY, WARNING],
            Some(1),
            t0,
        );
        let mut foreign = with_warning.clone();
        foreign.push(Condition {
            type_: "Reconciling".into(),
            status: "False".into(),
            reason: "x".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(t0),
        });
        let cleared = merge(&foreign, &[Conclusion::ready(ClusterReason::Ready, "ok")], &[READY, WARNING], Some(1), t0);
        let types: Vec<_> = cleared.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec!["Ready", "Reconciling"]);
    }
}

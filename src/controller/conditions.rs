//! kstatus-compatible conditions: `Ready`, the standard abnormal-true `Reconciling` and `Stalled`,
//! plus `Warning`-style conditions, each stamped with the generation it describes. Pure.
//!
//! kstatus (`sigs.k8s.io/cli-utils`, used by Flux and kpt) reads `Reconciling` and `Stalled`
//! first and falls back to `Ready` only when neither is True; there Ready=False is InProgress,
//! never Failed. So every Ready verdict is written with the two derived from it
//! ([`with_health`]): Reconciling=True while the operator makes progress, Stalled=True when it
//! cannot go on without a person (an invalid spec, a refused change, a halted roll).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::controller::reason::Reason;

/// The condition types Gregor writes.
pub const READY: &str = "Ready";
pub const WARNING: &str = "Warning";
pub const ROLLING: &str = "Rolling";
/// kstatus' abnormal-true conditions, derived from the Ready verdict by [`with_health`].
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
/// True while `kafka.gregor.dev/pause-reconciliation=true` holds the resource still.
pub const PAUSED: &str = "ReconciliationPaused";

/// What a reconcile concluded for one condition type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conclusion {
    pub type_: &'static str,
    pub status: bool,
    /// A typed reason's string form (see [`Reason`]).
    pub reason: &'static str,
    /// The typed reason's [`Reason::stalls`]: a Ready=False needing a person.
    pub stalls: bool,
    pub message: String,
}

impl Conclusion {
    pub fn new(type_: &'static str, status: bool, reason: impl Reason, message: impl Into<String>) -> Self {
        Conclusion { type_, status, reason: reason.as_str(), stalls: reason.stalls(), message: message.into() }
    }

    pub fn ready(reason: impl Reason, message: impl Into<String>) -> Self {
        Self::new(READY, true, reason, message)
    }

    pub fn not_ready(reason: impl Reason, message: impl Into<String>) -> Self {
        Self::new(READY, false, reason, message)
    }
}

/// What a Ready verdict means for a GitOps tool waiting on the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Ready=True: Reconciling=False, Stalled=False (kstatus: Current).
    Ready,
    /// Not Ready yet, and the operator is getting there on its own: Reconciling=True
    /// (kstatus: InProgress).
    Progressing,
    /// Not Ready, and it will not get there without a person: Stalled=True (kstatus: Failed).
    Stalled,
}

/// The health of a Ready verdict.
pub fn health(ready: &Conclusion) -> Health {
    match (ready.status, ready.stalls) {
        (true, _) => Health::Ready,
        (false, true) => Health::Stalled,
        (false, false) => Health::Progressing,
    }
}

/// `verdicts` plus the `Reconciling` and `Stalled` verdicts derived from its Ready verdict (the
/// True one carries Ready's reason and message; a False one carries Ready's reason). Without a
/// Ready verdict, `verdicts` as they are.
pub fn with_health(verdicts: &[Conclusion]) -> Vec<Conclusion> {
    let mut out: Vec<Conclusion> = verdicts.iter().filter(|v| v.type_ != RECONCILING && v.type_ != STALLED).cloned().collect();
    let Some(ready) = verdicts.iter().find(|v| v.type_ == READY) else {
        return out;
    };
    let health = health(ready);
    let derived = |type_, on: bool| {
        let message = if on { ready.message.clone() } else { String::new() };
        Conclusion { type_, status: on, reason: ready.reason, stalls: false, message }
    };
    out.push(derived(RECONCILING, health == Health::Progressing));
    out.push(derived(STALLED, health == Health::Stalled));
    out
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

    /// A Ready conclusion of a cluster reason.
    fn c(status: bool, reason: ClusterReason, message: &str) -> Conclusion {
        Conclusion::new(READY, status, reason, message)
    }
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

    #[test]
    fn every_ready_reason_is_classified() {
        use crate::controller::reason::{TopicReason as T, UserReason as U};
        use ClusterReason as C;
        // The reasons that need a person, per kind; every other reason is progress.
        let stalled_cluster = [
            C::InvalidSpec,
            C::ScaleDownRefused,
            C::ControllerScaleRefused,
            C::SecurityChangeRefused,
            C::ScaleDownBlocked,
            C::UnsafeDowngrade,
            C::StorageResizeRefused,
            C::ConfigRejected,
            C::StorageAutoGrowBlocked,
            C::RollStalled,
            C::RollHalted,
        ];
        let stalled_topic = [T::InvalidSpec, T::PartitionDecrease, T::ResourceConflict, T::KafkaRejected];
        let stalled_user = [U::InvalidSpec, U::AuthorizationDisabled, U::SecretConflict, U::KafkaRejected, U::CertificateFailed];
        fn check<R: Reason + PartialEq>(all: &[R], stalled: &[R]) {
            for &reason in all {
                let want = if stalled.contains(&reason) { Health::Stalled } else { Health::Progressing };
                let v = Conclusion::not_ready(reason, "m");
                assert_eq!(health(&v), want, "{reason:?}");
                let derived = with_health(std::slice::from_ref(&v));
                let get = |t: &str| derived.iter().find(|d| d.type_ == t).map(|d| d.status).expect("derived condition");
                assert_eq!((get(RECONCILING), get(STALLED)), (want == Health::Progressing, want == Health::Stalled), "{reason:?}");
                // Ready=True is Current whatever the reason.
                assert_eq!(health(&Conclusion::ready(reason, "m")), Health::Ready, "{reason:?}");
            }
        }
        check(C::ALL, &stalled_cluster);
        check(T::ALL, &stalled_topic);
        check(U::ALL, &stalled_user);
        // Spot checks against what kstatus must see.
        assert!(!C::RollBlocked.stalls(), "a roll waiting for min ISR makes progress on its own");
        assert!(!T::KafkaUnavailable.stalls() && !U::PasswordSecretMissing.stalls());
    }

    #[test]
    fn health_conditions_keep_transition_times_and_follow_ready() {
        let t0 = ts("2026-01-01T00:00:00Z");
        let t1 = ts("2026-01-01T01:00:00Z");
        let t2 = ts("2026-01-01T02:00:00Z");
        let at = |cs: &[Condition], t: &str| cs.iter().find(|c| c.type_ == t).cloned().expect("condition");
        let coming_up = merge(&[], &with_health(&[c(false, ClusterReason::Progressing, "pod starting")]), &[READY], Some(1), t0);
        assert_eq!(at(&coming_up, RECONCILING).status, "True");
        assert_eq!(at(&coming_up, RECONCILING).message, "pod starting");
        assert_eq!(at(&coming_up, STALLED).status, "False");
        assert_eq!(at(&coming_up, STALLED).observed_generation, Some(1));
        // Still coming up, another reason: no transition.
        let still = merge(&coming_up, &with_health(&[c(false, ClusterReason::RollingRestart, "x")]), &[READY], Some(1), t1);
        assert_eq!(at(&still, RECONCILING).last_transition_time, Time(t0));
        assert_eq!(at(&still, STALLED).last_transition_time, Time(t0));
        // Invalid: Reconciling flips off, Stalled on, both at t2.
        let invalid = merge(&still, &with_health(&[c(false, ClusterReason::InvalidSpec, "bad")]), &[READY], Some(2), t2);
        assert_eq!((at(&invalid, RECONCILING).status.as_str(), at(&invalid, STALLED).status.as_str()), ("False", "True"));
        assert_eq!(at(&invalid, STALLED).last_transition_time, Time(t2));
        assert_eq!(at(&invalid, STALLED).message, "bad");
        assert_eq!(at(&invalid, RECONCILING).observed_generation, Some(2));
        // Ready: both False; Ready's own transition time stays with its status.
        let ready = merge(&invalid, &with_health(&[c(true, ClusterReason::Ready, "ok")]), &[READY], Some(2), t2);
        assert_eq!((at(&ready, RECONCILING).status.as_str(), at(&ready, STALLED).status.as_str()), ("False", "False"));
        let again = merge(&ready, &with_health(&[c(true, ClusterReason::Ready, "ok")]), &[READY], Some(2), ts("2026-01-01T03:00:00Z"));
        assert_eq!(ready, again, "a steady Ready state writes identical conditions");
    }

    #[test]
    fn without_ready_nothing_is_derived() {
        let w = [Conclusion::new(WARNING, true, ClusterReason::UnsafeSettings, "rf 1")];
        assert_eq!(with_health(&w), w.to_vec());
    }
}

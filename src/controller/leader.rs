//! Leader election on a `coordination.k8s.io/v1` Lease, so two operator replicas can run and
//! only one writes.
//!
//! The decision is a pure function of the observed Lease; the loop around it uses the Lease's
//! `resourceVersion` for optimistic concurrency, so two candidates can never both win the same
//! term. A leader that fails to renew before its lease expires stops leading (the process exits
//! from `main`, and its Deployment restarts it as a follower). It stops writing earlier still: see
//! [`Fence`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

/// What a candidate should do with the Lease it observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseStep {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew it.
    Renew,
    /// Another holder let it expire: take it over.
    TakeOver,
    /// Another holder is live: follow.
    Follow,
}

/// Decides from the observed Lease spec. Pure.
pub fn lease_step(spec: Option<&LeaseSpec>, me: &str, now: Timestamp, default_duration: Duration) -> LeaseStep {
    let Some(spec) = spec else {
        return LeaseStep::Create;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder == me {
        return LeaseStep::Renew;
    }
    if holder.is_empty() {
        return LeaseStep::TakeOver;
    }
    let duration = spec.lease_duration_seconds.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs).unwrap_or(default_duration);
    let last = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()).map(|t| t.0);
    match last {
        Some(last) if now.duration_since(last) <= jiff_span(duration) => LeaseStep::Follow,
        _ => LeaseStep::TakeOver,
    }
}

fn jiff_span(d: Duration) -> k8s_openapi::jiff::SignedDuration {
    k8s_openapi::jiff::SignedDuration::try_from(d).unwrap_or(k8s_openapi::jiff::SignedDuration::MAX)
}

/// Lease parameters.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub namespace: String,
    pub lease_name: String,
    pub identity: String,
    pub lease_duration: Duration,
    /// How long a leader keeps writing after its last successful renewal started: less than
    /// `lease_duration`, so it has stopped before anyone may take the Lease over.
    pub renew_deadline: Duration,
    pub renew_every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lease API: {0}")]
    Api(#[from] kube::Error),
}

fn held_spec(cfg: &LeaderConfig, now: Timestamp, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: i32::try_from(cfg.lease_duration.as_secs()).ok(),
        acquire_time: Some(acquire.unwrap_or(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

/// The Lease spec a leader leaves behind when it stops cleanly: no holder, so the next follower
/// round takes over at once instead of waiting out the lease duration (client-go's
/// ReleaseOnCancel does the same). The transitions count is kept.
fn released_spec(old: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: old.lease_transitions,
        ..LeaseSpec::default()
    }
}

/// Gives the Lease up on a clean shutdown, after the fence has closed every write path. Only a
/// Lease this identity still holds is released (`replace` carries its resourceVersion).
pub async fn release(client: kube::Client, cfg: &LeaderConfig, fence: &Fence) -> Result<bool, LeaderError> {
    fence.set(None);
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let Some(mut lease) = api.get_opt(&cfg.lease_name).await? else {
        return Ok(false);
    };
    let old = lease.spec.take().unwrap_or_default();
    if old.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(false);
    }
    lease.spec = Some(released_spec(&old, Timestamp::now()));
    match api.replace(&cfg.lease_name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// One round: observe, decide, act. Returns whether we hold the Lease afterwards.
async fn round(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<bool, LeaderError> {
    let now = Timestamp::now();
    let current = api.get_opt(&cfg.lease_name).await?;
    let step = lease_step(current.as_ref().and_then(|l| l.spec.as_ref()), &cfg.identity, now, cfg.lease_duration);
    match (step, current) {
        (LeaseStep::Create, _) => {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(cfg.lease_name.clone()), ..ObjectMeta::default() },
                spec: Some(held_spec(cfg, now, None, 0)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        (LeaseStep::Follow, _) | (_, None) => Ok(false),
        (step, Some(mut lease)) => {
            let old = lease.spec.take().unwrap_or_default();
            let (acquire, transitions) = match step {
                LeaseStep::Renew => (old.acquire_time, old.lease_transitions.unwrap_or(0)),
                _ => (None, old.lease_transitions.unwrap_or(0) + 1),
            };
            lease.spec = Some(held_spec(cfg, now, acquire, transitions));
            // `replace` carries the observed resourceVersion: a concurrent writer makes it fail
            // with 409 and we have not won.
            match api.replace(&cfg.lease_name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Whether this process may still write. A leader's writes are allowed only until its Lease
/// could have expired: the fence deadline is the start of the last successful renewal plus the
/// renew deadline, which is shorter than the lease duration, so a follower that takes over after
/// the lease duration never overlaps with a late write of the old leader. Every write path (the
/// Kubernetes applies and deletes, and the Kafka-side writes) checks it.
#[derive(Clone, Debug)]
pub struct Fence(Option<Arc<Mutex<Option<Instant>>>>);

impl Fence {
    /// No election (a single replica): writes are always allowed.
    pub fn open() -> Fence {
        Fence(None)
    }

    /// A fence that allows nothing until a renewal extends it.
    pub fn closed() -> Fence {
        Fence(Some(Arc::new(Mutex::new(None))))
    }

    /// Whether a write may be sent now.
    pub fn allows_writes(&self) -> bool {
        self.allows_writes_at(Instant::now())
    }

    fn allows_writes_at(&self, now: Instant) -> bool {
        match &self.0 {
            None => true,
            Some(deadline) => deadline.lock().map(|d| d.is_some_and(|d| now < d)).unwrap_or(false),
        }
    }

    /// How long writes stay allowed from `now`, if they are.
    fn remaining_at(&self, now: Instant) -> Option<Duration> {
        match &self.0 {
            None => Some(Duration::MAX),
            Some(deadline) => deadline.lock().ok().and_then(|d| *d).and_then(|d| d.checked_duration_since(now)).filter(|r| !r.is_zero()),
        }
    }

    fn set(&self, until: Option<Instant>) {
        if let Some(deadline) = &self.0
            && let Ok(mut d) = deadline.lock()
        {
            *d = until;
        }
    }
}

/// How a round ended, for pacing the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RoundOutcome {
    /// The API server answered (whether or not we hold the Lease).
    Answered,
    /// An error or a timeout.
    Failed,
}

/// How long to sleep after a round that took `took`. Rounds are paced from their start, not from
/// their end: a slow round (a busy API server) must not push the next renewal so late that its
/// budget (what is left of the renew deadline) is too short to finish. A leader renews every
/// `renew_every`; after a failed round it retries within a second, since its fence is running
/// out; a follower looks every `renew_every`, at most every 2 s.
fn wait_before_next_round(renew_every: Duration, is_leader: bool, outcome: RoundOutcome, took: Duration) -> Duration {
    let period = match (is_leader, outcome) {
        (true, RoundOutcome::Answered) => renew_every,
        (true, RoundOutcome::Failed) => renew_every.min(Duration::from_secs(1)),
        (false, _) => renew_every.min(Duration::from_secs(2)),
    };
    period.saturating_sub(took)
}

/// Runs the election forever, publishing whether we lead. A renewal counts from the moment its
/// round started, and a round that hangs is abandoned when the fence closes: once the renew
/// deadline has passed without a successful renewal, `fence` refuses writes and `false` is
/// published, even while a Lease call is still hanging. Callers must then stop at once.
pub async fn run(client: kube::Client, cfg: LeaderConfig, leading: watch::Sender<bool>, fence: Fence) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    loop {
        let started = Instant::now();
        // A leader's round may take until its fence closes; a follower's, one renew deadline.
        let budget = fence.remaining_at(started).unwrap_or(cfg.renew_deadline).min(cfg.renew_deadline);
        let result = tokio::time::timeout(budget, round(&api, &cfg)).await;
        let outcome = if matches!(result, Ok(Ok(_))) { RoundOutcome::Answered } else { RoundOutcome::Failed };
        match result {
            Ok(Ok(true)) => fence.set(Some(started + cfg.renew_deadline)),
            Ok(Ok(false)) => fence.set(None),
            Ok(Err(e)) => warn!(error = %e, "leader election round failed"),
            Err(_) => warn!(after = ?budget, "leader election round timed out"),
        }
        let is_leader = fence.allows_writes();
        if is_leader != *leading.borrow() {
            info!(identity = %cfg.identity, leader = is_leader, "leadership changed");
        }
        leading.send_replace(is_leader);
        tokio::time::sleep(wait_before_next_round(cfg.renew_every, is_leader, outcome, started.elapsed())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_paced_from_their_start() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // (leader, outcome, round took, expected sleep) with renew_every = 5 s
        let table = [
            (true, RoundOutcome::Answered, ms(50), ms(4950)),
            (true, RoundOutcome::Answered, s(4), s(1)),
            (true, RoundOutcome::Answered, s(7), s(0)),
            (true, RoundOutcome::Failed, ms(300), ms(700)),
            (true, RoundOutcome::Failed, s(10), s(0)),
            (false, RoundOutcome::Answered, ms(500), ms(1500)),
            (false, RoundOutcome::Failed, s(3), s(0)),
        ];
        for (leader, outcome, took, want) in table {
            assert_eq!(wait_before_next_round(s(5), leader, outcome, took), want, "{leader} {outcome:?} {took:?}");
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn spec(holder: &str, renewed: &str, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(ts(renewed))),
            lease_duration_seconds: Some(secs),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn fence_allows_writes_only_before_its_deadline() {
        let now = Instant::now();
        assert!(Fence::open().allows_writes_at(now), "no election: always open");
        let fence = Fence::closed();
        assert!(!fence.allows_writes_at(now), "closed until the first renewal");
        fence.set(Some(now + Duration::from_secs(10)));
        assert!(fence.allows_writes_at(now + Duration::from_secs(9)));
        assert!(!fence.allows_writes_at(now + Duration::from_secs(10)), "closed at the deadline");
        assert_eq!(fence.remaining_at(now + Duration::from_secs(4)), Some(Duration::from_secs(6)));
        assert_eq!(fence.remaining_at(now + Duration::from_secs(11)), None);
        let shared = fence.clone();
        fence.set(None);
        assert!(!shared.allows_writes_at(now), "clones share the deadline");
    }

    #[test]
    fn a_released_lease_is_taken_over_at_once() {
        let held = spec("a", "2026-01-01T00:00:00Z", 15);
        let released = released_spec(&held, ts("2026-01-01T00:00:01Z"));
        assert_eq!(released.holder_identity, None);
        assert_eq!(released.lease_transitions, held.lease_transitions);
        assert_eq!(lease_step(Some(&released), "b", ts("2026-01-01T00:00:01Z"), Duration::from_secs(15)), LeaseStep::TakeOver);
    }

    #[test]
    fn steps() {
        let now = ts("2026-01-01T00:00:20Z");
        let d = Duration::from_secs(15);
        let cases = [
            ("no lease", None, LeaseStep::Create),
            ("ours", Some(spec("me", "2026-01-01T00:00:00Z", 15)), LeaseStep::Renew),
            ("live other", Some(spec("other", "2026-01-01T00:00:10Z", 15)), LeaseStep::Follow),
            ("expired other", Some(spec("other", "2026-01-01T00:00:04Z", 15)), LeaseStep::TakeOver),
            ("released", Some(LeaseSpec::default()), LeaseStep::TakeOver),
        ];
        for (name, s, want) in cases {
            assert_eq!(lease_step(s.as_ref(), "me", now, d), want, "case {name}");
        }
    }
}

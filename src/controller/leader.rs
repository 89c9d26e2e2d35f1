//! Leader election on a `coordination.k8s.io/v1` Lease, so two operator replicas can run and
//! only one writes.
//!
//! The decision is a pure function of the observed Lease; the loop around it uses the Lease's
//! `resourceVersion` for optimistic concurrency, so two candidates can never both win the same
//! term. A leader that fails to renew before its lease expires stops leading (the process exits
//! from `main`, and its Deployment restarts it as a follower).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
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

/// Runs the election forever, publishing whether we lead. Once leading, failing to renew for a
/// whole lease duration publishes `false`; callers must then stop writing at once.
pub async fn run(client: kube::Client, cfg: LeaderConfig, leading: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut last_renewed: Option<tokio::time::Instant> = None;
    loop {
        let result = round(&api, &cfg).await;
        let now = tokio::time::Instant::now();
        let is_leader = match result {
            Ok(true) => {
                last_renewed = Some(now);
                true
            }
            Ok(false) => {
                last_renewed = None;
                false
            }
            Err(e) => {
                warn!(error = %e, "leader election round failed");
                // Keep leading only while the last successful renewal is still within the lease.
                last_renewed.is_some_and(|t| now.duration_since(t) < cfg.lease_duration)
            }
        };
        if is_leader != *leading.borrow() {
            info!(identity = %cfg.identity, leader = is_leader, "leadership changed");
        }
        leading.send_replace(is_leader);
        let wait = if is_leader { cfg.renew_every } else { cfg.renew_every.min(Duration::from_secs(2)) };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

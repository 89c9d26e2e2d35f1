//! The KafkaRebalance status: phase, conditions and what the status records of the execution.
//! Pure.

use k8s_openapi::jiff::Timestamp;

use crate::api::rebalance::{KafkaRebalanceStatus, RebalancePhase, RebalanceProgress, RebalanceProposal, RebalanceThrottles};
use crate::controller::conditions::{Conclusion, READY, RECONCILING, STALLED, merge, with_health};
use crate::controller::reason::RebalanceReason;

/// True once a proposal is in the status.
pub const PROPOSAL_READY: &str = "ProposalReady";
/// True while batches run (or the last one finishes after a stop).
pub const REBALANCING: &str = "Rebalancing";
/// Condition types the rebalance reconciler owns.
pub const OWNED: &[&str] = &[READY, RECONCILING, STALLED, PROPOSAL_READY, REBALANCING];

/// What one reconcile concluded.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub phase: Option<RebalancePhase>,
    pub reason: RebalanceReason,
    pub message: String,
}

impl Verdict {
    pub fn new(phase: Option<RebalancePhase>, reason: RebalanceReason, message: impl Into<String>) -> Verdict {
        Verdict { phase, reason, message: message.into() }
    }
}

/// The execution facts the status keeps (the parts a restart resumes from).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub proposal: Option<RebalanceProposal>,
    pub progress: Option<RebalanceProgress>,
    pub throttles: Option<RebalanceThrottles>,
}

impl Facts {
    pub fn of(status: Option<&KafkaRebalanceStatus>) -> Facts {
        status.map_or_else(Facts::default, |s| Facts {
            proposal: s.proposal.clone(),
            progress: s.progress.clone(),
            throttles: s.throttles.clone(),
        })
    }
}

/// Whether a reason ends the rebalance successfully (Ready=True).
fn is_done(reason: RebalanceReason) -> bool {
    matches!(reason, RebalanceReason::Completed | RebalanceReason::NothingToMove)
}

pub fn status(
    previous: Option<&KafkaRebalanceStatus>,
    generation: Option<i64>,
    verdict: &Verdict,
    facts: Facts,
    now: Timestamp,
) -> KafkaRebalanceStatus {
    let ready = if is_done(verdict.reason) {
        Conclusion::ready(verdict.reason, &verdict.message)
    } else {
        Conclusion::not_ready(verdict.reason, &verdict.message)
    };
    let proposal_message = match &facts.proposal {
        Some(p) => format!(
            "{} partition moves in {} batches, {} leader reorders, {} bytes to copy",
            p.moves, p.batches, p.leader_reorders, p.bytes_to_move
        ),
        None => String::new(),
    };
    let running = matches!(verdict.phase, Some(RebalancePhase::Rebalancing | RebalancePhase::Stopping));
    let conclusions = vec![
        ready,
        Conclusion::new(PROPOSAL_READY, facts.proposal.is_some(), verdict.reason, proposal_message),
        Conclusion::new(REBALANCING, running, verdict.reason, if running { verdict.message.clone() } else { String::new() }),
    ];
    let existing = previous.map(|s| s.conditions.as_slice()).unwrap_or_default();
    KafkaRebalanceStatus {
        observed_generation: generation,
        conditions: merge(existing, &with_health(&conclusions), OWNED, generation, now),
        phase: verdict.phase,
        proposal: facts.proposal,
        progress: facts.progress,
        throttles: facts.throttles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond<'a>(s: &'a KafkaRebalanceStatus, t: &str) -> (&'a str, &'a str) {
        let c = s.conditions.iter().find(|c| c.type_ == t).expect(t);
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn conditions_follow_the_phase_with_kstatus_polarity() {
        let now = Timestamp::UNIX_EPOCH;
        let proposal = Facts { proposal: Some(RebalanceProposal::default()), ..Facts::default() };
        let cases = [
            (
                RebalancePhase::ProposalReady,
                RebalanceReason::AwaitingApproval,
                [
                    ("False", "AwaitingApproval"),
                    ("True", "AwaitingApproval"),
                    ("False", "AwaitingApproval"),
                    ("True", "AwaitingApproval"),
                    ("False", "AwaitingApproval"),
                ],
            ),
            (
                RebalancePhase::Rebalancing,
                RebalanceReason::Rebalancing,
                [
                    ("False", "Rebalancing"),
                    ("True", "Rebalancing"),
                    ("True", "Rebalancing"),
                    ("True", "Rebalancing"),
                    ("False", "Rebalancing"),
                ],
            ),
            (
                RebalancePhase::Ready,
                RebalanceReason::Completed,
                [("True", "Completed"), ("True", "Completed"), ("False", "Completed"), ("False", "Completed"), ("False", "Completed")],
            ),
            (
                RebalancePhase::Invalid,
                RebalanceReason::InvalidSpec,
                [
                    ("False", "InvalidSpec"),
                    ("True", "InvalidSpec"),
                    ("False", "InvalidSpec"),
                    ("False", "InvalidSpec"),
                    ("True", "InvalidSpec"),
                ],
            ),
        ];
        for (phase, reason, want) in cases {
            let s = status(None, Some(2), &Verdict::new(Some(phase), reason, "m"), proposal.clone(), now);
            let got = [READY, PROPOSAL_READY, REBALANCING, RECONCILING, STALLED].map(|t| cond(&s, t));
            assert_eq!(got, want, "{phase:?}");
            assert!(s.conditions.iter().all(|c| c.observed_generation == Some(2)));
        }
    }
}

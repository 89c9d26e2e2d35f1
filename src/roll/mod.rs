//! The roll planner: a pure function from what the operator observes to the one next step.
//!
//! The planner keeps no state of its own. Everything it needs (which pods are outdated, which are
//! healthy, what Kafka says about the ISR and the quorum) is observed afresh on every reconcile, so
//! an operator killed mid-roll resumes exactly where the cluster is: a pod that was restarted comes
//! back on the new revision and is no longer outdated, and no other pod is touched until it has
//! caught up.

mod decide;
mod observation;
mod state;
mod step;

pub use decide::decide;
pub use observation::{NodeId, NodeObservation, Observation, PodPhase, Policy, RestartReason, RestartSafety, Role};
pub use state::RollState;
pub use step::{Step, WaitReason};

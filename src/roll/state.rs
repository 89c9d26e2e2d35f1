//! The roll's state, as a metric label: what the planner's last step says about the roll.

use super::step::Step;

/// Where a cluster's roll stands after the planner's last step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RollState {
    /// Nothing to roll.
    Idle,
    /// A pod is being restarted now.
    Restarting,
    /// Waiting for a node to come back or catch up, within the policy's time.
    Waiting,
    /// Waiting longer than the policy allows.
    Overdue,
    /// The next restart would drop partitions below min ISR; waiting for Kafka's ISR.
    Blocked,
    /// A stuck, up-to-date pod halts the roll until a person looks.
    Halted,
}

impl RollState {
    /// Every state, in the order `/metrics` lists them.
    pub const ALL: &'static [RollState] =
        &[RollState::Idle, RollState::Restarting, RollState::Waiting, RollState::Overdue, RollState::Blocked, RollState::Halted];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RollState::Idle => "Idle",
            RollState::Restarting => "Restarting",
            RollState::Waiting => "Waiting",
            RollState::Overdue => "Overdue",
            RollState::Blocked => "Blocked",
            RollState::Halted => "Halted",
        }
    }

    /// Whether the roll cannot go on by itself in time (the stuck-roll alert).
    pub fn stuck(self) -> bool {
        matches!(self, RollState::Overdue | RollState::Blocked | RollState::Halted)
    }
}

impl From<&Step> for RollState {
    fn from(step: &Step) -> Self {
        match step {
            Step::Idle => RollState::Idle,
            Step::Restart { .. } => RollState::Restarting,
            Step::Wait { overdue: false, .. } => RollState::Waiting,
            Step::Wait { overdue: true, .. } => RollState::Overdue,
            Step::Blocked { .. } => RollState::Blocked,
            Step::Halted { .. } => RollState::Halted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roll::WaitReason;

    #[test]
    fn item2_roll_state_of_each_step() {
        let wait = |overdue| Step::Wait { node: 1, pod: "p".into(), reason: WaitReason::NodeNotCaughtUp, overdue };
        let cases = [
            (Step::Idle, RollState::Idle),
            (Step::Restart { node: 1, pod: "p".into(), reasons: vec![], out_of_turn: false, unprotectable: vec![] }, RollState::Restarting),
            (wait(false), RollState::Waiting),
            (wait(true), RollState::Overdue),
            (Step::Blocked { node: 1, pod: "p".into(), partitions: vec![] }, RollState::Blocked),
            (Step::Halted { node: 1, pod: "p".into() }, RollState::Halted),
        ];
        for (step, want) in cases {
            assert_eq!(RollState::from(&step), want, "{step:?}");
        }
        let stuck: Vec<&str> = RollState::ALL.iter().filter(|s| s.stuck()).map(|s| s.as_str()).collect();
        assert_eq!(stuck, ["Overdue", "Blocked", "Halted"]);
    }
}

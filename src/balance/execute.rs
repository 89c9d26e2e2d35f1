//! The execution of an approved plan, as a pure step function: from what the status records and
//! what Kafka reports now, the one next step. Like `roll::decide`, it never does anything itself.
//!
//! Order: batches one after the other (each waits until Kafka reports none of its partitions in
//! reassignment), then the leader-only reorders and the preferred-leader election, then the
//! throttles go. A stop lets the batch in flight finish, starts no new one, and clears the
//! throttles. Every step is safe to repeat after a crash: submitting a batch again asks Kafka for
//! the same targets (a finished one is a no-op), clearing throttles twice clears nothing new.

/// What the step function is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// `kafka.gregor.dev/rebalance=approve`, or `spec.autoApprove`.
    pub approved: bool,
    /// `kafka.gregor.dev/rebalance=stop`.
    pub stop_asked: bool,
    /// Batches in the stored plan.
    pub batches: usize,
    /// Batches Kafka reported finished (from the status).
    pub batches_done: usize,
    /// The batch submitted and not seen finished (from the status).
    pub batch_in_flight: Option<usize>,
    /// Partitions of the batch in flight that Kafka still lists as reassigning.
    pub still_moving: usize,
    /// Reassignments Kafka lists that are not this plan's batch in flight (another tool's, or
    /// a topic's replication-factor change).
    pub foreign_moving: usize,
    /// The cluster is rolling: no reassignment starts during a roll.
    pub cluster_rolling: bool,
    /// Reorders submitted and the election run (from the status).
    pub leaders_elected: bool,
    /// The status records throttles this rebalance set.
    pub throttles_recorded: bool,
}

/// How a rebalance ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every batch and the election are done.
    Completed,
    /// Stopped on request.
    Stopped,
}

/// The one next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Not approved yet: nothing moves.
    AwaitApproval,
    /// Wait for the batch in flight.
    AwaitBatch { batch: usize, moving: usize },
    /// Kafka finished the batch in flight: record it.
    RecordBatchDone { batch: usize },
    /// Set the batch's throttles (recorded in the status first), then submit it.
    Submit { batch: usize },
    /// A roll or another reassignment is running: start nothing.
    Hold(HoldReason),
    /// Submit the leader-only reorders and run the preferred-leader election.
    ElectLeaders,
    /// Remove every throttle the status records, then end.
    ClearThrottles(Ending),
    /// Nothing left to do.
    Finish(Ending),
}

/// Why no batch starts now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldReason {
    ClusterRolling,
    ForeignReassignment,
}

/// The next step of an execution.
pub fn next_step(e: &Execution) -> Step {
    if let Some(batch) = e.batch_in_flight {
        return if e.still_moving > 0 { Step::AwaitBatch { batch, moving: e.still_moving } } else { Step::RecordBatchDone { batch } };
    }
    let end = |ending| if e.throttles_recorded { Step::ClearThrottles(ending) } else { Step::Finish(ending) };
    if e.stop_asked {
        return end(Ending::Stopped);
    }
    if !e.approved {
        return Step::AwaitApproval;
    }
    if e.batches_done < e.batches {
        if e.cluster_rolling {
            return Step::Hold(HoldReason::ClusterRolling);
        }
        if e.foreign_moving > 0 {
            return Step::Hold(HoldReason::ForeignReassignment);
        }
        return Step::Submit { batch: e.batches_done };
    }
    if !e.leaders_elected {
        if e.cluster_rolling {
            return Step::Hold(HoldReason::ClusterRolling);
        }
        return Step::ElectLeaders;
    }
    end(Ending::Completed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> Execution {
        Execution {
            approved: true,
            stop_asked: false,
            batches: 3,
            batches_done: 0,
            batch_in_flight: None,
            still_moving: 0,
            foreign_moving: 0,
            cluster_rolling: false,
            leaders_elected: false,
            throttles_recorded: false,
        }
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Execution, Step)> = vec![
            ("not approved", Execution { approved: false, ..base() }, Step::AwaitApproval),
            ("first batch", base(), Step::Submit { batch: 0 }),
            ("in flight", Execution { batch_in_flight: Some(0), still_moving: 4, ..base() }, Step::AwaitBatch { batch: 0, moving: 4 }),
            ("batch finished", Execution { batch_in_flight: Some(1), batches_done: 1, ..base() }, Step::RecordBatchDone { batch: 1 }),
            ("next batch", Execution { batches_done: 2, throttles_recorded: true, ..base() }, Step::Submit { batch: 2 }),
            ("roll holds a batch", Execution { cluster_rolling: true, ..base() }, Step::Hold(HoldReason::ClusterRolling)),
            ("foreign holds a batch", Execution { foreign_moving: 1, ..base() }, Step::Hold(HoldReason::ForeignReassignment)),
            ("all batches: elect", Execution { batches_done: 3, throttles_recorded: true, ..base() }, Step::ElectLeaders),
            ("no moves: elect", Execution { batches: 0, ..base() }, Step::ElectLeaders),
            (
                "elected: clear",
                Execution { batches_done: 3, leaders_elected: true, throttles_recorded: true, ..base() },
                Step::ClearThrottles(Ending::Completed),
            ),
            ("cleared: finish", Execution { batches_done: 3, leaders_elected: true, ..base() }, Step::Finish(Ending::Completed)),
            (
                "stop waits for the batch in flight",
                Execution { stop_asked: true, batch_in_flight: Some(0), still_moving: 2, ..base() },
                Step::AwaitBatch { batch: 0, moving: 2 },
            ),
            (
                "stop after the batch",
                Execution { stop_asked: true, batches_done: 1, throttles_recorded: true, ..base() },
                Step::ClearThrottles(Ending::Stopped),
            ),
            ("stop before anything", Execution { stop_asked: true, approved: false, ..base() }, Step::Finish(Ending::Stopped)),
        ];
        for (name, e, want) in cases {
            assert_eq!(next_step(&e), want, "{name}");
        }
    }

    fn any_execution() -> impl Strategy<Value = Execution> {
        (any::<[bool; 6]>(), 0usize..5, 0usize..5, proptest::option::of(0usize..5), 0usize..3, 0usize..3).prop_map(
            |(b, batches, done, in_flight, still, foreign)| Execution {
                approved: b[0],
                stop_asked: b[1],
                batches,
                batches_done: done.min(batches),
                batch_in_flight: in_flight.filter(|i| *i < batches),
                still_moving: still,
                foreign_moving: foreign,
                cluster_rolling: b[2],
                leaders_elected: b[3],
                throttles_recorded: b[4],
            },
        )
    }

    proptest! {
        /// No batch starts unapproved, stopped, during a roll, beside a foreign reassignment, or
        /// while another batch is in flight; and a stop never submits anything.
        #[test]
        fn a_batch_starts_only_when_everything_allows(e in any_execution()) {
            if let Step::Submit { batch } = next_step(&e) {
                prop_assert!(e.approved && !e.stop_asked && !e.cluster_rolling && e.foreign_moving == 0);
                prop_assert!(e.batch_in_flight.is_none());
                prop_assert_eq!(batch, e.batches_done);
            }
            if e.stop_asked {
                let moves_something = matches!(next_step(&e), Step::Submit { .. } | Step::ElectLeaders);
                prop_assert!(!moves_something);
            }
        }

        /// An ending with throttles recorded always clears them first.
        #[test]
        fn throttles_are_cleared_before_any_ending(e in any_execution()) {
            if let Step::Finish(_) = next_step(&e) {
                prop_assert!(!e.throttles_recorded);
            }
        }
    }
}

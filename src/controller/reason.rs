//! Why a resource is in the state it is: one `Reason` enum per kind. Its string form is the
//! condition reason, the Event reason and the metric label, so each is spelled once, here.

use std::fmt;

/// A typed reason of one kind.
pub trait Reason: Copy + fmt::Debug {
    /// The kind it belongs to, as a metric label (`cluster`, `topic`, `user`).
    const KIND: &'static str;
    /// The reason as written in conditions, Events and metric labels.
    fn as_str(self) -> &'static str;
    /// Whether a Ready=False with this reason needs a person (kstatus `Stalled=True`, Failed)
    /// rather than more time (`Reconciling=True`, InProgress). Each kind lists every variant, so
    /// a new reason cannot go unclassified.
    fn stalls(self) -> bool;
}

macro_rules! reasons {
    ($(#[$meta:meta])* $name:ident ($kind:literal) { $($(#[$vmeta:meta])* $variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every reason of the kind.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The reason as written in conditions, Events and metric labels.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                }
            }
        }

        impl Reason for $name {
            const KIND: &'static str = $kind;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn stalls(self) -> bool {
                $name::stalls(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

reasons! {
    /// Reasons of a KafkaCluster.
    ClusterReason ("cluster") {
        /// Every node runs the desired version and has caught up.
        Ready,
        /// `pause-reconciliation=true`.
        Paused,
        /// The spec failed validation; nothing was applied.
        InvalidSpec,
        /// Just seen: the operator is setting it up (the first status write).
        Reconciling,
        /// A node is being restarted.
        RollingRestart,
        /// The Event of one node restart.
        RestartingNode,
        /// The roll waits for a node, within its time.
        Progressing,
        /// The roll has waited for a node longer than the policy allows.
        RollStalled,
        /// Restarting the next node would take partitions below min.insync.replicas.
        RollBlocked,
        /// An up-to-date pod is stuck; the roll halts until a person looks.
        RollHalted,
        /// Unsafe but legal settings (the Warning condition).
        UnsafeSettings,
        /// Nodes to restart (the Rolling condition).
        NodesOutdated,
        /// A scale-down the operator never does (the controller quorum), or cannot check.
        ScaleDownRefused,
        /// A controller or combined pool asked to grow: the static KRaft quorum cannot.
        ControllerScaleRefused,
        /// Internal authentication turned on or off on a running cluster.
        SecurityChangeRefused,
        /// Brokers to remove still host replicas.
        ScaleDownBlocked,
        /// Brokers to remove are being drained by a remove-brokers KafkaRebalance; their pods go
        /// once Kafka reports them empty.
        ScaleDownDraining,
        /// A version change below the active metadata.version.
        UnsafeDowngrade,
        /// A claim cannot grow.
        StorageResizeRefused,
        /// Kafka's Admin API did not answer a call the reconcile needed (the status says which).
        KafkaUnavailable,
        /// Kafka refused a dynamic `spec.config` value (the key and Kafka's error are named).
        ConfigRejected,
        /// `storage.autoGrow` asked a pool's claims for more (the Event of one growth).
        StorageAutoGrown,
        /// A pool's claims should grow but cannot: maxSize reached, or the StorageClass refuses.
        StorageAutoGrowBlocked,
        /// Renewed node certificates were taken up by the brokers without a restart (an Event).
        CertificatesReloaded,
    }
}

reasons! {
    /// Reasons of a KafkaTopic.
    TopicReason ("topic") {
        Ready,
        Paused,
        InvalidSpec,
        /// Just seen: the operator is setting it up (the first status write).
        Reconciling,
        /// Created in this reconcile.
        Created,
        /// Kafka is still creating it.
        Creating,
        AddingPartitions,
        /// Kafka holds more partitions than the spec asks for; Kafka cannot remove partitions.
        PartitionDecrease,
        /// The replication factor is changing.
        Reassigning,
        WaitingForBrokers,
        /// `managed=false`: Kafka is not touched.
        Unmanaged,
        /// An older KafkaTopic manages the same topic.
        ResourceConflict,
        ClusterNotReady,
        KafkaUnavailable,
        KafkaRejected,
    }
}

reasons! {
    /// Reasons of a KafkaUser.
    UserReason ("user") {
        Ready,
        Paused,
        InvalidSpec,
        /// Just seen: the operator is setting it up (the first status write).
        Reconciling,
        /// The cluster has no authorizer: the ACLs cannot be set.
        AuthorizationDisabled,
        Unmanaged,
        /// A Secret of the user's name exists and is not the user's.
        SecretConflict,
        /// The Secret named in `spec.authentication.password` lacks its key.
        PasswordSecretMissing,
        /// A TLS user waits for its cluster's clients CA (made once a listener has tls: true).
        ClientsCaMissing,
        /// A TLS user's certificate cannot be issued (the clients CA cannot be read or used).
        CertificateFailed,
        ClusterNotReady,
        KafkaUnavailable,
        KafkaRejected,
    }
}

reasons! {
    /// Reasons of a KafkaRebalance.
    RebalanceReason ("rebalance") {
        /// Just seen: the operator is computing the proposal.
        Reconciling,
        /// The proposal is in the status; it waits for `kafka.gregor.dev/rebalance=approve`.
        AwaitingApproval,
        /// The proposal moves nothing: the cluster is balanced already.
        NothingToMove,
        /// Batches of reassignments are running.
        Rebalancing,
        /// A stop was asked: the batch in flight finishes, then the throttles go.
        Stopping,
        /// Stopped on request; the throttles are gone.
        Stopped,
        /// Every move and the leader election are done, and the throttles are gone.
        Completed,
        /// The spec names brokers that do not exist, or asks for what the cluster cannot hold.
        InvalidSpec,
        /// The plan cannot reach a goal it must reach (e.g. drain a broker) with this cluster.
        GoalUnreachable,
        /// Another KafkaRebalance of the same cluster is running.
        AnotherRebalanceRunning,
        /// The cluster is rolling: no batch starts until the roll is over.
        WaitingForRoll,
        /// Kafka lists reassignments that are not this plan's.
        ForeignReassignment,
        ClusterNotReady,
        KafkaUnavailable,
        KafkaRejected,
    }
}

impl RebalanceReason {
    /// See [`Reason::stalls`].
    pub fn stalls(self) -> bool {
        use RebalanceReason::*;
        match self {
            // The spec is wrong, the goal cannot be met, another rebalance holds the cluster,
            // Kafka refused, or a person stopped it: each needs a person's decision.
            InvalidSpec | GoalUnreachable | AnotherRebalanceRunning | KafkaRejected | Stopped => true,
            Reconciling | AwaitingApproval | NothingToMove | Rebalancing | Stopping | Completed | WaitingForRoll | ForeignReassignment
            | ClusterNotReady | KafkaUnavailable => false,
        }
    }
}

impl ClusterReason {
    /// See [`Reason::stalls`].
    pub fn stalls(self) -> bool {
        use ClusterReason::*;
        match self {
            // The spec cannot be applied as written, a refused change keeps the running cluster
            // as it is, or the roll cannot go on (a stuck pod, a node that did not catch up).
            InvalidSpec
            | ScaleDownRefused
            | ControllerScaleRefused
            | SecurityChangeRefused
            | ScaleDownBlocked
            | UnsafeDowngrade
            | StorageResizeRefused
            | ConfigRejected
            | StorageAutoGrowBlocked
            | RollStalled
            | RollHalted => true,
            // Kafka not answering is waited out (with backoff): it needs time, not a person.
            Ready | Paused | Reconciling | RollingRestart | RestartingNode | Progressing | RollBlocked | UnsafeSettings | NodesOutdated
            | KafkaUnavailable | StorageAutoGrown | CertificatesReloaded | ScaleDownDraining => false,
        }
    }
}

impl TopicReason {
    /// See [`Reason::stalls`].
    pub fn stalls(self) -> bool {
        use TopicReason::*;
        match self {
            // Another resource owns the topic, Kafka cannot remove partitions, or Kafka refused.
            InvalidSpec | PartitionDecrease | ResourceConflict | KafkaRejected => true,
            Ready | Paused | Reconciling | Created | Creating | AddingPartitions | Reassigning | WaitingForBrokers | Unmanaged
            | ClusterNotReady | KafkaUnavailable => false,
        }
    }
}

impl UserReason {
    /// See [`Reason::stalls`].
    pub fn stalls(self) -> bool {
        use UserReason::*;
        match self {
            // A foreign Secret in the way, ACLs without an authorizer, or Kafka refused.
            InvalidSpec | AuthorizationDisabled | SecretConflict | KafkaRejected | CertificateFailed => true,
            Ready | Paused | Reconciling | Unmanaged | PasswordSecretMissing | ClientsCaMissing | ClusterNotReady | KafkaUnavailable => {
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_spelled_as_written_today() {
        assert_eq!(ClusterReason::ScaleDownBlocked.as_str(), "ScaleDownBlocked");
        assert_eq!(TopicReason::ResourceConflict.to_string(), "ResourceConflict");
        assert_eq!(UserReason::InvalidSpec.as_str(), "InvalidSpec");
        assert_eq!(<ClusterReason as Reason>::KIND, "cluster");
        assert!(ClusterReason::ALL.iter().all(|r| !r.as_str().is_empty() && !r.as_str().contains(' ')));
        assert!(!ClusterReason::KafkaUnavailable.stalls(), "Kafka away is progress, not a stall");
        assert!(ClusterReason::ConfigRejected.stalls(), "a value Kafka refuses needs a person");
    }
}

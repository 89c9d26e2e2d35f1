//! Why a resource is in the state it is: one `Reason` enum per kind. Its string form is the
//! condition reason, the Event reason and the metric label, so each is spelled once, here.

use std::fmt;

/// A typed reason of one kind.
pub trait Reason: Copy + fmt::Debug {
    /// The kind it belongs to, as a metric label (`cluster`, `topic`, `user`).
    const KIND: &'static str;
    /// The reason as written in conditions, Events and metric labels.
    fn as_str(self) -> &'static str;
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
        /// A version change below the active metadata.version.
        UnsafeDowngrade,
        /// A claim cannot grow.
        StorageResizeRefused,
    }
}

reasons! {
    /// Reasons of a KafkaTopic.
    TopicReason ("topic") {
        Ready,
        Paused,
        InvalidSpec,
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
        /// The cluster has no authorizer: the ACLs cannot be set.
        AuthorizationDisabled,
        Unmanaged,
        /// A Secret of the user's name exists and is not the user's.
        SecretConflict,
        /// The Secret named in `spec.authentication.password` lacks its key.
        PasswordSecretMissing,
        ClusterNotReady,
        KafkaUnavailable,
        KafkaRejected,
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
    }
}

//! A gate in front of every request that changes the cluster. The operator closes it when its
//! leadership could have lapsed (see the operator's leader `Fence`), so a deposed leader sends no
//! Kafka-side write after a new leader may have started; reads stay allowed.

use std::sync::Arc;

use kafka_protocol::messages::ApiKey;

/// Decides, at the moment a request is about to be sent, whether writes may go out.
#[derive(Clone)]
pub struct WriteGate(Arc<dyn Fn() -> bool + Send + Sync>);

impl WriteGate {
    /// A gate that asks `allows` before each write.
    pub fn new(allows: impl Fn() -> bool + Send + Sync + 'static) -> WriteGate {
        WriteGate(Arc::new(allows))
    }

    /// Whether a write may be sent now.
    pub fn allows_writes(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for WriteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WriteGate").field(&self.allows_writes()).finish()
    }
}

/// Whether the request with this API key changes the cluster (topics, configs, credentials,
/// ACLs, quotas, partitions, features, the quorum, groups, records). Everything else is a read.
pub fn changes_the_cluster(api_key: i16) -> bool {
    const WRITES: &[ApiKey] = &[
        ApiKey::Produce,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::DeleteRecords,
        ApiKey::CreatePartitions,
        ApiKey::AlterConfigs,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::AlterReplicaLogDirs,
        ApiKey::AlterPartitionReassignments,
        ApiKey::ElectLeaders,
        ApiKey::CreateAcls,
        ApiKey::DeleteAcls,
        ApiKey::AlterUserScramCredentials,
        ApiKey::AlterClientQuotas,
        ApiKey::UpdateFeatures,
        ApiKey::UnregisterBroker,
        ApiKey::AddRaftVoter,
        ApiKey::RemoveRaftVoter,
        ApiKey::DeleteGroups,
        ApiKey::OffsetDelete,
        ApiKey::OffsetCommit,
        ApiKey::CreateDelegationToken,
        ApiKey::RenewDelegationToken,
        ApiKey::ExpireDelegationToken,
    ];
    WRITES.iter().any(|k| *k as i16 == api_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn writes_and_reads() {
        for k in [ApiKey::CreateTopics, ApiKey::IncrementalAlterConfigs, ApiKey::AlterUserScramCredentials, ApiKey::UnregisterBroker] {
            assert!(changes_the_cluster(k as i16), "{k:?}");
        }
        for k in [ApiKey::Metadata, ApiKey::DescribeConfigs, ApiKey::DescribeCluster, ApiKey::DescribeQuorum, ApiKey::ApiVersions] {
            assert!(!changes_the_cluster(k as i16), "{k:?}");
        }
    }

    #[test]
    fn the_gate_is_asked_each_time() {
        let open = Arc::new(AtomicBool::new(true));
        let seen = open.clone();
        let gate = WriteGate::new(move || seen.load(Ordering::SeqCst));
        assert!(gate.allows_writes());
        open.store(false, Ordering::SeqCst);
        assert!(!gate.allows_writes(), "a gate reads its source at the moment of the write");
    }

    /// A closed gate stops a write before anything is routed or sent: the bootstrap address here
    /// refuses connections, so reaching the network would fail differently (and slowly).
    #[tokio::test]
    async fn item12_a_closed_gate_sends_no_kafka_write() {
        let config = crate::ClientConfig::new(["127.0.0.1:1"]).with_write_gate(WriteGate::new(|| false));
        let client = crate::Client::new(config).expect("client");
        let err = client.unregister_broker(7).await.expect_err("fenced");
        assert!(matches!(err, crate::Error::WriteFenced { api: "UnregisterBroker" }), "{err}");
        assert_eq!(err.category(), crate::ErrorCategory::Transient);
        let err = client.delete_topics(&["t".to_string()]).await.expect_err("fenced");
        assert!(matches!(err, crate::Error::WriteFenced { .. }), "{err}");
        // A read is not gated: it goes to the network (and fails there).
        let err = client.describe_cluster().await.expect_err("nothing listens");
        assert!(!matches!(err, crate::Error::WriteFenced { .. }), "{err}");
    }
}

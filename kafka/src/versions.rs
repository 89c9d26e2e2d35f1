//! One fixed API version per operation, and ApiVersions negotiation.
//!
//! Each version below is supported by Kafka 4.3.1 and 4.4.0 (from their message schemas) and
//! implemented by kafka-protocol 0.18; `tests` pins both facts.

use std::collections::HashMap;

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use crate::error::{Error, Result};

/// Our fixed version for each API we send.
pub const FIXED: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 12),
    (ApiKey::Fetch, 12),
    (ApiKey::ListOffsets, 9),
    (ApiKey::Metadata, 12),
    (ApiKey::OffsetCommit, 8),
    (ApiKey::OffsetFetch, 8),
    (ApiKey::FindCoordinator, 4),
    (ApiKey::ListGroups, 5),
    (ApiKey::SaslHandshake, 1),
    (ApiKey::ApiVersions, 3),
    (ApiKey::CreateTopics, 7),
    (ApiKey::DeleteTopics, 6),
    (ApiKey::InitProducerId, 5),
    (ApiKey::DescribeAcls, 3),
    (ApiKey::CreateAcls, 3),
    (ApiKey::DeleteAcls, 3),
    (ApiKey::DescribeConfigs, 4),
    (ApiKey::SaslAuthenticate, 2),
    (ApiKey::CreatePartitions, 3),
    (ApiKey::IncrementalAlterConfigs, 1),
    (ApiKey::AlterPartitionReassignments, 0),
    (ApiKey::ListPartitionReassignments, 0),
    (ApiKey::DescribeClientQuotas, 1),
    (ApiKey::AlterClientQuotas, 1),
    (ApiKey::DescribeUserScramCredentials, 0),
    (ApiKey::AlterUserScramCredentials, 0),
    (ApiKey::DescribeQuorum, 2),
    (ApiKey::UpdateFeatures, 1),
    (ApiKey::DescribeCluster, 2),
    (ApiKey::UnregisterBroker, 0),
    (ApiKey::DescribeLogDirs, 4),
    (ApiKey::ElectLeaders, 2),
];

/// APIs every broker must support at connect time ("is this broker new enough?").
pub const REQUIRED_AT_CONNECT: &[ApiKey] = &[ApiKey::Metadata, ApiKey::DescribeCluster, ApiKey::DescribeConfigs, ApiKey::CreateTopics];

pub fn fixed_version(key: i16) -> Option<i16> {
    FIXED.iter().find(|(k, _)| *k as i16 == key).map(|(_, v)| *v)
}

pub fn api_name(key: i16) -> &'static str {
    match ApiKey::try_from(key) {
        Ok(k) => api_key_name(k),
        Err(_) => "UnknownApi",
    }
}

fn api_key_name(k: ApiKey) -> &'static str {
    // Debug names of ApiKey are the Kafka names; keep a static table for the ones we use.
    match k {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::SaslHandshake => "SaslHandshake",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::DescribeAcls => "DescribeAcls",
        ApiKey::CreateAcls => "CreateAcls",
        ApiKey::DeleteAcls => "DeleteAcls",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::SaslAuthenticate => "SaslAuthenticate",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::AlterPartitionReassignments => "AlterPartitionReassignments",
        ApiKey::ListPartitionReassignments => "ListPartitionReassignments",
        ApiKey::DescribeClientQuotas => "DescribeClientQuotas",
        ApiKey::AlterClientQuotas => "AlterClientQuotas",
        ApiKey::DescribeUserScramCredentials => "DescribeUserScramCredentials",
        ApiKey::AlterUserScramCredentials => "AlterUserScramCredentials",
        ApiKey::DescribeQuorum => "DescribeQuorum",
        ApiKey::UpdateFeatures => "UpdateFeatures",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::UnregisterBroker => "UnregisterBroker",
        ApiKey::DescribeLogDirs => "DescribeLogDirs",
        ApiKey::ElectLeaders => "ElectLeaders",
        _ => "OtherApi",
    }
}

/// A finalized or supported feature range reported by ApiVersions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureRange {
    pub name: String,
    pub min: i16,
    pub max: i16,
}

/// What one broker told us in ApiVersions.
#[derive(Debug, Clone, Default)]
pub struct Negotiated {
    ranges: HashMap<i16, (i16, i16)>,
    pub supported_features: Vec<FeatureRange>,
    /// Finalized feature levels (`min == max == level`); `metadata.version` is among them.
    pub finalized_features: Vec<FeatureRange>,
    pub finalized_features_epoch: i64,
}

impl Negotiated {
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        Negotiated {
            ranges: resp.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect(),
            supported_features: resp
                .supported_features
                .iter()
                .map(|f| FeatureRange { name: f.name.to_string(), min: f.min_version, max: f.max_version })
                .collect(),
            finalized_features: resp
                .finalized_features
                .iter()
                .map(|f| FeatureRange { name: f.name.to_string(), min: f.min_version_level, max: f.max_version_level })
                .collect(),
            finalized_features_epoch: resp.finalized_features_epoch,
        }
    }

    pub fn broker_range(&self, key: i16) -> Option<(i16, i16)> {
        self.ranges.get(&key).copied()
    }

    /// Our fixed version for `key`, if this broker supports it.
    pub fn version_for(&self, key: i16, addr: &str) -> Result<i16> {
        let wanted = fixed_version(key).ok_or_else(|| Error::InvalidArgument(format!("no fixed version for api key {key}")))?;
        match self.broker_range(key) {
            Some((min, max)) if (min..=max).contains(&wanted) => Ok(wanted),
            range => Err(Error::UnsupportedVersion { addr: addr.to_string(), api: api_name(key), wanted, broker_range: range }),
        }
    }

    /// Fail with a clear error if the broker lacks any API we need from the start.
    pub fn check_required(&self, addr: &str) -> Result<()> {
        for key in REQUIRED_AT_CONNECT {
            self.version_for(*key as i16, addr)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Message, Request};

    /// Broker version ranges from the message schemas shipped in kafka-clients 4.3.1 and 4.4.0
    /// (the lowest common max is what both support).
    const KAFKA_43_44: &[(ApiKey, i16, i16)] = &[
        (ApiKey::Produce, 3, 13),
        (ApiKey::Fetch, 4, 18),
        (ApiKey::ListOffsets, 1, 11),
        (ApiKey::Metadata, 0, 13),
        (ApiKey::OffsetCommit, 2, 10),
        (ApiKey::OffsetFetch, 1, 10),
        (ApiKey::FindCoordinator, 0, 6),
        (ApiKey::ListGroups, 0, 5),
        (ApiKey::SaslHandshake, 0, 1),
        (ApiKey::ApiVersions, 0, 4),
        (ApiKey::CreateTopics, 2, 7),
        (ApiKey::DeleteTopics, 1, 6),
        (ApiKey::InitProducerId, 0, 5), // v6 is unstable
        (ApiKey::DescribeAcls, 1, 3),
        (ApiKey::CreateAcls, 1, 3),
        (ApiKey::DeleteAcls, 1, 3),
        (ApiKey::DescribeConfigs, 1, 4),
        (ApiKey::SaslAuthenticate, 0, 2),
        (ApiKey::CreatePartitions, 0, 3),
        (ApiKey::IncrementalAlterConfigs, 0, 1),
        (ApiKey::AlterPartitionReassignments, 0, 1),
        (ApiKey::ListPartitionReassignments, 0, 0),
        (ApiKey::DescribeClientQuotas, 0, 1),
        (ApiKey::AlterClientQuotas, 0, 1),
        (ApiKey::DescribeUserScramCredentials, 0, 0),
        (ApiKey::AlterUserScramCredentials, 0, 0),
        (ApiKey::DescribeQuorum, 0, 2),
        (ApiKey::UpdateFeatures, 0, 2),
        (ApiKey::DescribeCluster, 0, 2),
        (ApiKey::UnregisterBroker, 0, 0),
        (ApiKey::DescribeLogDirs, 1, 4),
        (ApiKey::ElectLeaders, 0, 2),
    ];

    fn crate_range(key: ApiKey) -> (i16, i16) {
        macro_rules! r {
            ($t:ty) => {
                (<$t as Message>::VERSIONS.min, <$t as Message>::VERSIONS.max)
            };
        }
        match key {
            ApiKey::Produce => r!(ProduceRequest),
            ApiKey::Fetch => r!(FetchRequest),
            ApiKey::ListOffsets => r!(ListOffsetsRequest),
            ApiKey::Metadata => r!(MetadataRequest),
            ApiKey::OffsetCommit => r!(OffsetCommitRequest),
            ApiKey::OffsetFetch => r!(OffsetFetchRequest),
            ApiKey::FindCoordinator => r!(FindCoordinatorRequest),
            ApiKey::ListGroups => r!(ListGroupsRequest),
            ApiKey::SaslHandshake => r!(SaslHandshakeRequest),
            ApiKey::ApiVersions => r!(ApiVersionsRequest),
            ApiKey::CreateTopics => r!(CreateTopicsRequest),
            ApiKey::DeleteTopics => r!(DeleteTopicsRequest),
            ApiKey::InitProducerId => r!(InitProducerIdRequest),
            ApiKey::DescribeAcls => r!(DescribeAclsRequest),
            ApiKey::CreateAcls => r!(CreateAclsRequest),
            ApiKey::DeleteAcls => r!(DeleteAclsRequest),
            ApiKey::DescribeConfigs => r!(DescribeConfigsRequest),
            ApiKey::SaslAuthenticate => r!(SaslAuthenticateRequest),
            ApiKey::CreatePartitions => r!(CreatePartitionsRequest),
            ApiKey::IncrementalAlterConfigs => r!(IncrementalAlterConfigsRequest),
            ApiKey::AlterPartitionReassignments => r!(AlterPartitionReassignmentsRequest),
            ApiKey::ListPartitionReassignments => r!(ListPartitionReassignmentsRequest),
            ApiKey::DescribeClientQuotas => r!(DescribeClientQuotasRequest),
            ApiKey::AlterClientQuotas => r!(AlterClientQuotasRequest),
            ApiKey::DescribeUserScramCredentials => r!(DescribeUserScramCredentialsRequest),
            ApiKey::AlterUserScramCredentials => r!(AlterUserScramCredentialsRequest),
            ApiKey::DescribeQuorum => r!(DescribeQuorumRequest),
            ApiKey::UpdateFeatures => r!(UpdateFeaturesRequest),
            ApiKey::DescribeCluster => r!(DescribeClusterRequest),
            ApiKey::UnregisterBroker => r!(UnregisterBrokerRequest),
            ApiKey::DescribeLogDirs => r!(DescribeLogDirsRequest),
            ApiKey::ElectLeaders => r!(ElectLeadersRequest),
            other => panic!("no range for {other:?}"),
        }
    }

    #[test]
    fn every_fixed_version_is_supported_by_kafka_and_the_codec() {
        for (key, v) in FIXED {
            let (_, kmin, kmax) = KAFKA_43_44.iter().find(|(k, _, _)| k == key).unwrap();
            assert!((*kmin..=*kmax).contains(v), "{key:?} v{v} not in Kafka 4.3/4.4 {kmin}..{kmax}");
            let (cmin, cmax) = crate_range(*key);
            assert!((cmin..=cmax).contains(v), "{key:?} v{v} not in kafka-protocol {cmin}..{cmax}");
        }
        assert_eq!(FIXED.len(), KAFKA_43_44.len());
        let _ = <MetadataRequest as Request>::KEY;
    }

    #[test]
    fn negotiation_rejects_old_brokers_clearly() {
        let mut resp = ApiVersionsResponse::default();
        for (key, v) in FIXED {
            resp.api_keys
                .push(api_versions_response::ApiVersion::default().with_api_key(*key as i16).with_min_version(0).with_max_version(*v));
        }
        let n = Negotiated::from_response(&resp);
        n.check_required("b:9092").unwrap();
        assert_eq!(n.version_for(ApiKey::Metadata as i16, "b").unwrap(), 12);

        // A broker whose Metadata stops at v11 is too old.
        let mut old = resp.clone();
        for k in old.api_keys.iter_mut() {
            if k.api_key == ApiKey::Metadata as i16 {
                k.max_version = 11;
            }
        }
        let err = Negotiated::from_response(&old).check_required("b:9092").unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion { wanted: 12, broker_range: Some((0, 11)), .. }));
        assert!(err.to_string().contains("Metadata v12"), "{err}");

        // A broker without the API at all.
        old.api_keys.retain(|k| k.api_key != ApiKey::DescribeQuorum as i16);
        let err = Negotiated::from_response(&old).version_for(ApiKey::DescribeQuorum as i16, "b").unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion { broker_range: None, .. }));
    }
}

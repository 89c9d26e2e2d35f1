//! Encode/decode round trips of every request and response type we send, at the one version we
//! allow for it (`versions::FIXED`), through the same framing code the connection uses.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};
use proptest::prelude::*;

use crate::codec::{decode_request, decode_response, encode_request, encode_response};
use crate::metadata::TopicPartition;
use crate::ops::acls::*;
use crate::ops::configs::*;
use crate::ops::quotas::*;
use crate::ops::scram::*;
use crate::ops::topics::*;
use crate::versions::{FIXED, fixed_version};
use crate::{consume, ops, produce};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}
fn tn(v: &str) -> TopicName {
    TopicName(s(v))
}
fn tp(t: &str, p: i32) -> TopicPartition {
    TopicPartition { topic: t.into(), partition: p }
}

/// Round-trip `req` and `resp` at our fixed version for `R`; returns the version used.
fn rt<R>(req: R, resp: R::Response) -> i16
where
    R: Request + PartialEq + std::fmt::Debug,
    R::Response: PartialEq + std::fmt::Debug,
{
    let v = fixed_version(R::KEY).expect("fixed version");
    let frame = encode_request(&req, v, 77, &s("gregor")).unwrap();
    let (h, back) = decode_request::<R>(frame.slice(4..)).unwrap();
    assert_eq!((h.request_api_key, h.request_api_version, h.correlation_id), (R::KEY, v, 77));
    assert_eq!(back, req, "request {} v{v}", R::KEY);
    let body = encode_response::<R>(&resp, v, 78).unwrap();
    let (corr, back) = decode_response::<R>(body, v).unwrap();
    assert_eq!(corr, 78);
    assert_eq!(back, resp, "response {} v{v}", R::KEY);
    v
}

#[test]
fn every_allowed_api_round_trips() {
    let mut seen: Vec<i16> = Vec::new();
    let mut mark = |k: i16| seen.push(k);

    rt(
        ApiVersionsRequest::default().with_client_software_name(s("gregor")).with_client_software_version(s("0.1")),
        ApiVersionsResponse::default()
            .with_api_keys(vec![api_versions_response::ApiVersion::default().with_api_key(3).with_min_version(0).with_max_version(13)])
            .with_throttle_time_ms(1)
            .with_supported_features(vec![
                api_versions_response::SupportedFeatureKey::default()
                    .with_name(s("metadata.version"))
                    .with_min_version(7)
                    .with_max_version(33),
            ])
            .with_finalized_features_epoch(9)
            .with_finalized_features(vec![
                api_versions_response::FinalizedFeatureKey::default()
                    .with_name(s("metadata.version"))
                    .with_min_version_level(33)
                    .with_max_version_level(33),
            ]),
    );
    mark(ApiKey::ApiVersions as i16);

    rt(
        SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-512")),
        SaslHandshakeResponse::default().with_error_code(33).with_mechanisms(vec![s("PLAIN")]),
    );
    mark(ApiKey::SaslHandshake as i16);
    rt(
        SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"n,,n=u,r=abc")),
        SaslAuthenticateResponse::default()
            .with_error_message(Some(s("x")))
            .with_auth_bytes(Bytes::from_static(b"r=abc"))
            .with_session_lifetime_ms(3_600_000),
    );
    mark(ApiKey::SaslAuthenticate as i16);

    let md = crate::metadata::tests::response(&[1, 2, 3], &[("t", vec![(vec![1, 2, 3], vec![1, 2])])]);
    rt(MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false), md.clone());
    rt(MetadataRequest::default().with_topics(Some(vec![metadata_request::MetadataRequestTopic::default().with_name(Some(tn("t")))])), md);
    mark(ApiKey::Metadata as i16);

    rt(
        ops::cluster::describe_cluster_request(),
        DescribeClusterResponse::default().with_cluster_id(s("c")).with_controller_id(BrokerId(2)).with_endpoint_type(1).with_brokers(
            vec![
                describe_cluster_response::DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(2))
                    .with_host(s("h"))
                    .with_port(9092)
                    .with_is_fenced(true),
            ],
        ),
    );
    mark(ApiKey::DescribeCluster as i16);

    rt(
        ops::quorum::describe_quorum_request(),
        DescribeQuorumResponse::default()
            .with_topics(vec![describe_quorum_response::TopicData::default().with_topic_name(tn("__cluster_metadata")).with_partitions(
                vec![
                    describe_quorum_response::PartitionData::default()
                        .with_leader_id(BrokerId(1))
                        .with_leader_epoch(4)
                        .with_high_watermark(100)
                        .with_current_voters(vec![
                            describe_quorum_response::ReplicaState::default()
                                .with_replica_id(BrokerId(1))
                                .with_log_end_offset(100)
                                .with_last_fetch_timestamp(5)
                                .with_last_caught_up_timestamp(5),
                        ]),
                ],
            )])
            .with_nodes(vec![describe_quorum_response::Node::default().with_node_id(BrokerId(1)).with_listeners(vec![
                describe_quorum_response::Listener::default().with_name(s("CONTROLLER")).with_host(s("h")).with_port(9093),
            ])]),
    );
    mark(ApiKey::DescribeQuorum as i16);

    rt(
        ops::log_dirs::describe_log_dirs_request(),
        DescribeLogDirsResponse::default().with_results(vec![
            describe_log_dirs_response::DescribeLogDirsResult::default()
                .with_log_dir(s("/var/lib/kafka/data"))
                .with_total_bytes(1 << 30)
                .with_usable_bytes(1 << 29),
        ]),
    );
    mark(ApiKey::DescribeLogDirs as i16);

    let res = [ConfigResource::topic("t"), ConfigResource::broker(1), ConfigResource::cluster_broker_default()];
    rt(
        describe_configs_request(&res, Some(&["min.insync.replicas"])),
        DescribeConfigsResponse::default().with_results(vec![
            describe_configs_response::DescribeConfigsResult::default().with_resource_type(2).with_resource_name(s("t")).with_configs(
                vec![
                    describe_configs_response::DescribeConfigsResourceResult::default()
                        .with_name(s("min.insync.replicas"))
                        .with_value(Some(s("2")))
                        .with_read_only(false)
                        .with_config_source(1)
                        .with_config_type(3),
                ],
            ),
        ]),
    );
    rt(describe_configs_request(&res, None), DescribeConfigsResponse::default());
    mark(ApiKey::DescribeConfigs as i16);

    rt(
        incremental_alter_configs_request(
            &[ConfigAlteration {
                resource: ConfigResource::broker(1),
                changes: vec![("a".into(), AlterOp::Set("1".into())), ("b".into(), AlterOp::Delete)],
            }],
            true,
        ),
        IncrementalAlterConfigsResponse::default().with_responses(vec![
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(40)
                .with_error_message(Some(s("bad")))
                .with_resource_type(4)
                .with_resource_name(s("1")),
        ]),
    );
    mark(ApiKey::IncrementalAlterConfigs as i16);

    let mut nt = NewTopic::new("t", 3, 3).config("retention.ms", "1");
    nt.assignments.insert(0, vec![1, 2, 3]);
    rt(
        create_topics_request(&[nt, NewTopic::with_defaults("d")], false),
        CreateTopicsResponse::default().with_topics(vec![
            create_topics_response::CreatableTopicResult::default()
                .with_name(tn("t"))
                .with_topic_id(uuid::Uuid::from_u128(7))
                .with_num_partitions(3)
                .with_replication_factor(3)
                .with_configs(Some(vec![
                    create_topics_response::CreatableTopicConfigs::default().with_name(s("retention.ms")).with_value(Some(s("1"))),
                ])),
        ]),
    );
    mark(ApiKey::CreateTopics as i16);
    rt(
        delete_topics_request(&["a".into(), "b".into()]),
        DeleteTopicsResponse::default()
            .with_responses(vec![delete_topics_response::DeletableTopicResult::default().with_name(Some(tn("a"))).with_error_code(3)]),
    );
    mark(ApiKey::DeleteTopics as i16);
    rt(
        create_partitions_request(&[("t".into(), 6)], false),
        CreatePartitionsResponse::default()
            .with_results(vec![create_partitions_response::CreatePartitionsTopicResult::default().with_name(tn("t")).with_error_code(37)]),
    );
    mark(ApiKey::CreatePartitions as i16);
    rt(
        alter_reassignments_request(&[(tp("t", 0), Some(vec![3, 2, 1])), (tp("t", 1), None)]),
        AlterPartitionReassignmentsResponse::default().with_responses(vec![
            alter_partition_reassignments_response::ReassignableTopicResponse::default().with_name(tn("t")).with_partitions(vec![
                alter_partition_reassignments_response::ReassignablePartitionResponse::default()
                    .with_partition_index(1)
                    .with_error_code(85),
            ]),
        ]),
    );
    mark(ApiKey::AlterPartitionReassignments as i16);
    rt(
        list_reassignments_request(Some(&[tp("t", 0)])),
        ListPartitionReassignmentsResponse::default().with_topics(vec![
            list_partition_reassignments_response::OngoingTopicReassignment::default().with_name(tn("t")).with_partitions(vec![
                list_partition_reassignments_response::OngoingPartitionReassignment::default()
                    .with_replicas(vec![BrokerId(1), BrokerId(2)])
                    .with_adding_replicas(vec![BrokerId(2)]),
            ]),
        ]),
    );
    rt(list_reassignments_request(None), ListPartitionReassignmentsResponse::default());
    mark(ApiKey::ListPartitionReassignments as i16);
    rt(
        crate::ops::elect::elect_preferred_request(Some(&[tp("t", 0)])),
        ElectLeadersResponse::default().with_replica_election_results(vec![
            elect_leaders_response::ReplicaElectionResult::default()
                .with_topic(tn("t"))
                .with_partition_result(vec![elect_leaders_response::PartitionResult::default().with_partition_id(0).with_error_code(84)]),
        ]),
    );
    rt(crate::ops::elect::elect_preferred_request(None), ElectLeadersResponse::default());
    mark(ApiKey::ElectLeaders as i16);

    rt(
        describe_scram_request(Some(&["alice".into()])),
        DescribeUserScramCredentialsResponse::default().with_results(vec![
            describe_user_scram_credentials_response::DescribeUserScramCredentialsResult::default()
                .with_user(s("alice"))
                .with_credential_infos(vec![
                    describe_user_scram_credentials_response::CredentialInfo::default().with_mechanism(2).with_iterations(4096),
                ]),
        ]),
    );
    rt(describe_scram_request(None), DescribeUserScramCredentialsResponse::default());
    mark(ApiKey::DescribeUserScramCredentials as i16);
    rt(
        alter_scram_request(
            &[ScramUpsert::with_salt("a", "pw", ScramMechanism::Sha512, 4096, vec![9; 16])],
            &[("b".into(), ScramMechanism::Sha512)],
        ),
        AlterUserScramCredentialsResponse::default()
            .with_results(vec![alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default().with_user(s("a"))]),
    );
    mark(ApiKey::AlterUserScramCredentials as i16);

    let acl = AclBinding::allow("alice", AclResourceType::Topic, "t", AclOperation::Read);
    rt(
        create_acls_request(std::slice::from_ref(&acl)),
        CreateAclsResponse::default().with_results(vec![create_acls_response::AclCreationResult::default().with_error_code(0)]),
    );
    mark(ApiKey::CreateAcls as i16);
    rt(
        describe_acls_request(&AclFilter::principal("User:alice")),
        DescribeAclsResponse::default().with_resources(vec![
            describe_acls_response::DescribeAclsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("t"))
                .with_pattern_type(3)
                .with_acls(vec![
                    describe_acls_response::AclDescription::default()
                        .with_principal(s("User:alice"))
                        .with_host(s("*"))
                        .with_operation(3)
                        .with_permission_type(3),
                ]),
        ]),
    );
    mark(ApiKey::DescribeAcls as i16);
    rt(
        delete_acls_request(&[acl.to_filter(), AclFilter::any()]),
        DeleteAclsResponse::default().with_filter_results(vec![
            delete_acls_response::DeleteAclsFilterResult::default().with_matching_acls(vec![
                delete_acls_response::DeleteAclsMatchingAcl::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_pattern_type(3)
                    .with_principal(s("User:alice"))
                    .with_host(s("*"))
                    .with_operation(3)
                    .with_permission_type(3),
            ]),
        ]),
    );
    mark(ApiKey::DeleteAcls as i16);

    rt(
        describe_quotas_request(&[QuotaMatch::Exact("user".into(), "a".into()), QuotaMatch::Any("client-id".into())], true),
        DescribeClientQuotasResponse::default().with_entries(Some(vec![
            describe_client_quotas_response::EntryData::default()
                .with_entity(vec![
                    describe_client_quotas_response::EntityData::default().with_entity_type(s("user")).with_entity_name(Some(s("a"))),
                ])
                .with_values(vec![
                    describe_client_quotas_response::ValueData::default().with_key(s(PRODUCER_BYTE_RATE)).with_value(1024.0),
                ]),
        ])),
    );
    mark(ApiKey::DescribeClientQuotas as i16);
    rt(
        alter_quotas_request(
            &[QuotaAlteration {
                entity: user_entity("a"),
                ops: vec![(CONSUMER_BYTE_RATE.into(), Some(1.5)), (REQUEST_PERCENTAGE.into(), None)],
            }],
            false,
        ),
        AlterClientQuotasResponse::default()
            .with_entries(vec![alter_client_quotas_response::EntryData::default().with_entity(vec![
                alter_client_quotas_response::EntityData::default().with_entity_type(s("user")).with_entity_name(None),
            ])]),
    );
    mark(ApiKey::AlterClientQuotas as i16);

    rt(
        ops::features::update_features_request(&[("metadata.version".into(), 33, ops::features::UpgradeType::Upgrade)], true),
        UpdateFeaturesResponse::default().with_results(vec![
            update_features_response::UpdatableFeatureResult::default().with_feature(s("metadata.version")).with_error_code(42),
        ]),
    );
    mark(ApiKey::UpdateFeatures as i16);
    rt(UnregisterBrokerRequest::default().with_broker_id(BrokerId(5)), UnregisterBrokerResponse::default().with_error_code(102));
    mark(ApiKey::UnregisterBroker as i16);

    rt(
        FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![s("g")]),
        FindCoordinatorResponse::default().with_coordinators(vec![
            find_coordinator_response::Coordinator::default().with_key(s("g")).with_node_id(BrokerId(2)).with_host(s("h")).with_port(1),
        ]),
    );
    mark(ApiKey::FindCoordinator as i16);
    rt(
        ListGroupsRequest::default(),
        ListGroupsResponse::default().with_groups(vec![
            list_groups_response::ListedGroup::default()
                .with_group_id(GroupId(s("g")))
                .with_group_state(s("Empty"))
                .with_group_type(s("classic")),
        ]),
    );
    mark(ApiKey::ListGroups as i16);
    rt(
        ops::groups::offset_fetch_request("g"),
        OffsetFetchResponse::default().with_groups(vec![
            offset_fetch_response::OffsetFetchResponseGroup::default().with_group_id(GroupId(s("g"))).with_topics(vec![
                offset_fetch_response::OffsetFetchResponseTopics::default()
                    .with_name(tn("t"))
                    .with_partitions(vec![offset_fetch_response::OffsetFetchResponsePartitions::default().with_committed_offset(5)]),
            ]),
        ]),
    );
    mark(ApiKey::OffsetFetch as i16);
    let offs = std::collections::BTreeMap::from([(tp("t", 0), 5i64), (tp("t", 1), 7)]);
    rt(
        ops::groups::offset_commit_request("g", &offs),
        OffsetCommitResponse::default().with_topics(vec![
            offset_commit_response::OffsetCommitResponseTopic::default()
                .with_name(tn("t"))
                .with_partitions(vec![offset_commit_response::OffsetCommitResponsePartition::default().with_partition_index(1)]),
        ]),
    );
    mark(ApiKey::OffsetCommit as i16);

    let batch = produce::encode_batch(&[produce::OutRecord::value("v")], 4, 0, 0).unwrap();
    rt(
        produce::produce_request(&tp("t", 0), batch.clone(), -1, 1000),
        ProduceResponse::default().with_responses(vec![
            produce_response::TopicProduceResponse::default().with_name(tn("t")).with_partition_responses(vec![
                produce_response::PartitionProduceResponse::default().with_base_offset(10).with_log_start_offset(0),
            ]),
        ]),
    );
    mark(ApiKey::Produce as i16);
    rt(
        consume::fetch_request(&tp("t", 0), 10, 1 << 20, 100),
        FetchResponse::default().with_responses(vec![
            fetch_response::FetchableTopicResponse::default()
                .with_topic(tn("t"))
                .with_partitions(vec![fetch_response::PartitionData::default().with_high_watermark(11).with_records(Some(batch))]),
        ]),
    );
    mark(ApiKey::Fetch as i16);
    rt(
        consume::list_offsets_request(&tp("t", 0), consume::OffsetSpec::Latest),
        ListOffsetsResponse::default().with_topics(vec![
            list_offsets_response::ListOffsetsTopicResponse::default()
                .with_name(tn("t"))
                .with_partitions(vec![list_offsets_response::ListOffsetsPartitionResponse::default().with_offset(11).with_leader_epoch(3)]),
        ]),
    );
    mark(ApiKey::ListOffsets as i16);
    rt(
        InitProducerIdRequest::default().with_transaction_timeout_ms(60_000).with_producer_id(ProducerId(-1)).with_producer_epoch(-1),
        InitProducerIdResponse::default().with_producer_id(ProducerId(1000)).with_producer_epoch(0),
    );
    mark(ApiKey::InitProducerId as i16);

    // Every API in FIXED was exercised.
    seen.sort();
    seen.dedup();
    let mut want: Vec<i16> = FIXED.iter().map(|(k, _)| *k as i16).collect();
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn record_batches_round_trip_and_skip_truncated_tail() {
    let recs: Vec<produce::OutRecord> = (0..5)
        .map(|i| produce::OutRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: vec![("h".into(), None)],
        })
        .collect();
    let batch = produce::encode_batch(&recs, 7, 1, 100).unwrap();
    let got = consume::decode_records(batch.clone(), 0).unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(got[3].value.as_deref(), Some(&b"v3"[..]));
    assert_eq!(got[3].headers, vec![("h".to_string(), None)]);
    // Two batches where the second is cut short: only the first decodes.
    let mut two = bytes::BytesMut::from(&batch[..]);
    two.extend_from_slice(&batch[..batch.len() - 3]);
    assert_eq!(consume::decode_records(two.freeze(), 0).unwrap().len(), 5);
    // Offsets below the requested one are dropped.
    assert_eq!(consume::decode_records(batch, 2).unwrap().len(), 3);
}

proptest! {
    #[test]
    fn create_topics_round_trips(names in prop::collection::vec("[a-z][a-z0-9._-]{0,40}", 1..20), parts in 1i32..1000, rf in 1i16..5,
                                 cfg in prop::collection::btree_map("[a-z.]{1,20}", "[ -~]{0,30}", 0..5)) {
        let topics: Vec<NewTopic> = names.iter().map(|n| NewTopic { configs: cfg.clone(), ..NewTopic::new(n.clone(), parts, rf) }).collect();
        let req = create_topics_request(&topics, false);
        let frame = encode_request(&req, 7, 1, &s("c")).unwrap();
        let (_, back) = decode_request::<CreateTopicsRequest>(frame.slice(4..)).unwrap();
        prop_assert_eq!(back, req);
    }

    #[test]
    fn metadata_snapshot_round_trips(parts in prop::collection::vec((prop::sample::subsequence(vec![1, 2, 3, 4, 5], 1..=5), 0usize..5), 1..30)) {
        let parts: Vec<(Vec<i32>, Vec<i32>)> = parts.into_iter().map(|(r, k)| { let isr = r[..k.min(r.len())].to_vec(); (r, isr) }).collect();
        let resp = crate::metadata::tests::response(&[1, 2, 3, 4, 5], &[("p", parts.clone())]);
        let body = encode_response::<MetadataRequest>(&resp, 12, 1).unwrap();
        let (_, back) = decode_response::<MetadataRequest>(body, 12).unwrap();
        let snap = crate::metadata::MetadataSnapshot::from_response(back);
        for (i, (r, isr)) in parts.iter().enumerate() {
            let p = snap.partition("p", i as i32).unwrap();
            prop_assert_eq!(&p.replicas, r);
            prop_assert_eq!(&p.isr, isr);
        }
    }
}

//! Asks Kafka, once per reconcile, everything the roll planner needs: the quorum, the brokers'
//! registration, every partition's ISR and every topic's min ISR.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, info};

use super::observe::KafkaFacts;
use crate::controller::context::{CachedKafka, Context};
use crate::kafka::ops::configs::ConfigResource;
use crate::kafka::safety::{self, MIN_ISR_KEY, RestartDecision};
use crate::kafka::{self, ClientConfig, ResolverConfig, SaslConfig, TopicPartition};
use crate::model::ClusterModel;
use crate::roll::RestartVerdict;

/// A voter may lag this many records behind the leader and still count as caught up.
const MAX_VOTER_LAG: i64 = 1000;
/// A voter must have fetched from the leader this recently.
const MAX_VOTER_FETCH_AGE_MS: i64 = 10_000;

fn names(parts: &[TopicPartition]) -> Vec<String> {
    parts.iter().map(|p| format!("{}-{}", p.topic, p.partition)).collect()
}

/// The roll planner's verdict from the admin client's decision.
pub fn verdict(decision: RestartDecision) -> RestartVerdict {
    match decision {
        RestartDecision::Ok { unprotectable } => RestartVerdict::Safe { unprotectable: names(&unprotectable) },
        RestartDecision::Blocked { at_risk, .. } => {
            let parts: Vec<TopicPartition> = at_risk.into_iter().map(|a| a.partition).collect();
            RestartVerdict::Blocked { partitions: names(&parts) }
        }
    }
}

/// The admin client for a cluster, reused while its connection settings stay the same.
pub fn admin_client(ctx: &Context, model: &ClusterModel, password: Option<&str>) -> Result<Arc<kafka::Client>, kafka::Error> {
    let access = model.admin_access();
    let fingerprint = format!("{:?}|{:?}|{}", access.bootstrap_servers, access.credentials, password.unwrap_or_default());
    let key = format!("{}/{}", model.namespace, model.name);
    if let Ok(cache) = ctx.kafka.lock()
        && let Some(c) = cache.get(&key).filter(|c| c.fingerprint == fingerprint)
    {
        return Ok(c.client.clone());
    }
    let mut config = ClientConfig::new(access.bootstrap_servers.clone()).with_resolver(ResolverConfig {
        hosts_file: ctx.settings.kafka_hosts_file.clone(),
        loopback_only: ctx.settings.kafka_loopback_only,
    });
    config.request_timeout = std::time::Duration::from_secs(5);
    config.connect_timeout = std::time::Duration::from_secs(3);
    config.retry.max_attempts = 3;
    if let (Some(creds), Some(password)) = (&access.credentials, password) {
        config = config.with_sasl(SaslConfig::ScramSha512 { username: creds.username.clone(), password: password.to_owned() });
    }
    let client = Arc::new(kafka::Client::new(config)?);
    if let Ok(mut cache) = ctx.kafka.lock() {
        cache.insert(key, CachedKafka { fingerprint, client: client.clone() });
    }
    Ok(client)
}

/// Forgets a cluster's admin client (after the cluster is deleted).
pub fn forget_admin_client(ctx: &Context, namespace: &str, name: &str) {
    if let Ok(mut cache) = ctx.kafka.lock() {
        cache.remove(&format!("{namespace}/{name}"));
    }
}

/// Gathers the facts. Any failure means the facts are unknown and the planner waits.
pub async fn gather(admin: &kafka::Client, model: &ClusterModel) -> Result<KafkaFacts, kafka::Error> {
    let cluster = admin.describe_cluster().await?;
    let snap = admin.refresh_metadata().await?;
    let quorum = admin.describe_quorum().await?;
    let features = admin.describe_features().await?;

    let mut topics: Vec<&str> = snap.topics.iter().map(|t| t.name.as_str()).collect();
    topics.sort_unstable();
    let resources: Vec<ConfigResource> = topics.iter().map(|t| ConfigResource::topic(*t)).collect();
    let min_isr: HashMap<String, i32> = if resources.is_empty() {
        HashMap::new()
    } else {
        safety::min_isr_map(&admin.describe_configs(&resources, Some(&[MIN_ISR_KEY])).await?)?
    };

    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let quorum_state = safety::controllers_caught_up(&quorum, MAX_VOTER_LAG, MAX_VOTER_FETCH_AGE_MS, now_ms);
    let lagging: Vec<i32> = quorum_state.lagging.iter().map(|v| v.id).collect();

    let mut facts = KafkaFacts {
        active_controller: (quorum.leader_id >= 0).then_some(quorum.leader_id),
        quorum_caught_up: Some(quorum_state.is_caught_up()),
        metadata_level: features.metadata_version(),
        ..KafkaFacts::default()
    };
    let default_min_isr = model.replication.min_insync_replicas;
    // Every node that hosts replicas, not only those of the spec: a scale-down removes nodes
    // the new spec no longer names, and those are the ones that must be checked.
    let mut hosted: BTreeMap<i32, usize> = snap.replicas_per_node();
    for pool in &model.pools {
        for id in pool.node_ids() {
            let mut caught_up = true;
            if pool.roles.broker {
                let c = safety::caught_up(&cluster, &snap, id);
                caught_up &= c.is_caught_up();
                facts.verdicts.insert(id, verdict(safety::can_restart(&snap, id, &min_isr, default_min_isr)));
                hosted.entry(id).or_insert(0);
            }
            if pool.roles.controller {
                let is_voter = quorum.voters.iter().any(|v| v.id == id);
                caught_up &= is_voter && !lagging.contains(&id);
            }
            facts.caught_up.insert(id, caught_up);
        }
    }
    facts.hosted_partitions = hosted;
    debug!(cluster = %model.name, ?facts.active_controller, ?facts.quorum_caught_up, "kafka facts");
    Ok(facts)
}

/// Unregisters the brokers a scale-down left registered in KRaft (see
/// [`scale::removed_brokers`](super::scale::removed_brokers)); returns what it found.
pub async fn unregister_removed_brokers(
    admin: &kafka::Client,
    model: &ClusterModel,
    pod_names: &[&str],
) -> Result<super::scale::RemovedBrokers, kafka::Error> {
    let cluster = admin.describe_cluster().await?;
    let registered: Vec<(i32, bool)> = cluster.brokers.iter().map(|b| (b.id, b.fenced)).collect();
    let removed = super::scale::removed_brokers(&registered, model, pod_names);
    for id in &removed.unregister {
        admin.unregister_broker(*id).await?;
        info!(cluster = %model.name, broker = id, "unregistered a broker the spec no longer has");
    }
    Ok(removed)
}

/// Why another reconciler (topics, users) cannot talk to a cluster's Kafka yet.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("KafkaCluster {0} does not exist")]
    NoCluster(String),
    #[error("KafkaCluster {0} has no cluster id yet (not reconciled)")]
    NotInitialised(String),
    #[error("KafkaCluster {name} is invalid: {errors}")]
    InvalidCluster { name: String, errors: crate::model::ValidationErrors },
    #[error("the operator's credentials for {0} are not there yet")]
    NoCredentials(String),
    #[error(transparent)]
    Controller(#[from] crate::controller::error::ControllerError),
    #[error(transparent)]
    Kafka(#[from] kafka::Error),
}

/// The validated model and the admin client of a KafkaCluster, for the topic and user
/// reconcilers. Reads only: it never creates the cluster's Secret or id.
pub async fn connect(
    ctx: &Context,
    kc: Option<&crate::api::KafkaCluster>,
    name: &str,
) -> Result<(ClusterModel, Arc<kafka::Client>), ConnectError> {
    let kc = kc.ok_or_else(|| ConnectError::NoCluster(name.to_owned()))?;
    let cluster_id = kc.status.as_ref().and_then(|s| s.cluster_id.clone()).ok_or_else(|| ConnectError::NotInitialised(name.to_owned()))?;
    let observed = crate::model::Observed { cluster_id, node_id_starts: crate::model::Observed::node_id_starts_from_status(kc) };
    let model =
        crate::model::validate(kc, &observed).map_err(|errors| ConnectError::InvalidCluster { name: name.to_owned(), errors })?.model;
    let password = match model.operator_credentials() {
        None => None,
        Some(creds) => {
            let secret = ctx
                .stores
                .secrets
                .get(&kube::runtime::reflector::ObjectRef::new(&creds.secret_name).within(&model.namespace))
                .ok_or_else(|| ConnectError::NoCredentials(name.to_owned()))?;
            Some(super::identity::secret_value(&secret, &creds.secret_name, &creds.secret_key)?)
        }
    };
    let client = admin_client(ctx, &model, password.as_deref())?;
    Ok((model, client))
}

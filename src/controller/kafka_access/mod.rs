//! How the reconcilers reach a cluster's Kafka: one admin client per cluster, and, for the
//! topic and user reconcilers, the cluster's model and client in one call (`connect`).

pub mod admin;
pub mod calls;

use std::sync::Arc;

use crate::controller::context::{CachedKafka, Context};
use crate::controller::error::{ErrorCategory, kafka_category};
use crate::kafka::{self, ClientConfig, ResolverConfig, SaslConfig};
use crate::model::ClusterModel;

/// The admin client for a cluster, reused while its connection settings stay the same.
pub fn admin_client(ctx: &Context, model: &ClusterModel, password: Option<&str>) -> Result<Arc<dyn admin::Admin>, kafka::Error> {
    let access = model.admin_access();
    let (key, fingerprint) = cache_key(model, password);
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
    let fence = ctx.settings.fence.clone();
    config = config.with_write_gate(kafka::WriteGate::new(move || fence.allows_writes()));
    if let (Some(creds), Some(password)) = (&access.credentials, password) {
        config = config.with_sasl(SaslConfig::ScramSha512 { username: creds.username.clone(), password: password.to_owned() });
    }
    let client: Arc<dyn admin::Admin> = Arc::new(kafka::Client::new(config)?);
    if let Ok(mut cache) = ctx.kafka.lock() {
        cache.insert(key, CachedKafka { fingerprint, client: client.clone() });
    }
    Ok(client)
}

/// The cache key of a cluster's admin client, and the fingerprint of its connection settings.
fn cache_key(model: &ClusterModel, password: Option<&str>) -> (String, String) {
    let access = model.admin_access();
    let fingerprint = format!("{:?}|{:?}|{}", access.bootstrap_servers, access.credentials, password.unwrap_or_default());
    (format!("{}/{}", model.namespace, model.name), fingerprint)
}

/// Makes `client` the cluster's admin client (a fake Kafka, in the reconcile tests).
#[cfg(test)]
pub fn install_admin_client(ctx: &Context, model: &ClusterModel, password: Option<&str>, client: Arc<dyn admin::Admin>) {
    let (key, fingerprint) = cache_key(model, password);
    ctx.kafka.lock().unwrap_or_else(|p| p.into_inner()).insert(key, CachedKafka { fingerprint, client });
}

/// Forgets a cluster's admin client (after the cluster is deleted).
pub fn forget_admin_client(ctx: &Context, namespace: &str, name: &str) {
    if let Ok(mut cache) = ctx.kafka.lock() {
        cache.remove(&format!("{namespace}/{name}"));
    }
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

impl ConnectError {
    /// How `error_policy` retries it: an invalid cluster must change first (its changes reach
    /// the topics and users that name it); anything else may pass by itself.
    pub fn category(&self) -> ErrorCategory {
        match self {
            ConnectError::NoCluster(_) | ConnectError::NotInitialised(_) | ConnectError::NoCredentials(_) => ErrorCategory::Transient,
            ConnectError::InvalidCluster { .. } => ErrorCategory::Invalid,
            ConnectError::Controller(e) => e.category(),
            ConnectError::Kafka(e) => kafka_category(e),
        }
    }
}

/// The validated model and the admin client of a KafkaCluster, for the topic and user
/// reconcilers. Reads only: it never creates the cluster's Secret or id.
pub async fn connect(
    ctx: &Context,
    kc: Option<&crate::api::KafkaCluster>,
    name: &str,
) -> Result<(ClusterModel, Arc<dyn admin::Admin>), ConnectError> {
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
            Some(crate::controller::cluster::identity::secret_value(&secret, &creds.secret_name, &creds.secret_key)?)
        }
    };
    let client = admin_client(ctx, &model, password.as_deref())?;
    Ok((model, client))
}

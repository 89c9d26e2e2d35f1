//! The cluster's durable identity: its KRaft cluster id and the operator's own credentials.
//!
//! The cluster id is generated once and written to the status before anything is created. PVCs
//! carry it too (an annotation on the claim template), so a KafkaCluster deleted with its
//! volumes retained and created again finds its old id instead of formatting a new one that its
//! brokers would refuse.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef as StoreRef;
use tracing::info;

use crate::api::KafkaCluster;
use crate::controller::apply::FIELD_MANAGER;
use crate::controller::conditions::{self, Conclusion};
use crate::controller::context::Context;
use crate::controller::error::{ControllerError, Result};
use crate::controller::reason::ClusterReason;
use crate::kafka::ops::scram::{ScramMechanism, generate_password};
use crate::model::{ClusterModel, StorageModel, names};
use crate::render::meta;
use crate::render::script::{SCRAM_ITERATIONS_KEY, SCRAM_SALT_KEY, SCRAM_SALTED_PASSWORD_KEY};

use names::annotations::CLUSTER_ID as CLUSTER_ID_ANNOTATION;

/// Length of the operator's generated password.
const PASSWORD_LEN: usize = 32;

/// The cluster id from the status, else from a retained PVC, else a new one, persisted in the
/// status at once.
pub async fn cluster_id(kc: &KafkaCluster, ctx: &Context) -> Result<String> {
    if let Some(id) = kc.status.as_ref().and_then(|s| s.cluster_id.clone()) {
        return Ok(id);
    }
    let ns = kc.metadata.namespace.as_deref().unwrap_or("default");
    let name = kc.metadata.name.as_deref().unwrap_or_default();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!("{}={name}", names::labels::CLUSTER);
    let retained = pvcs
        .list_metadata(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .find_map(|p| p.metadata.annotations.and_then(|a| a.get(CLUSTER_ID_ANNOTATION).cloned()));
    let id = match retained {
        Some(id) => {
            info!(cluster = name, cluster_id = %id, "reusing the cluster id of retained volumes");
            id
        }
        None => crate::model::new_cluster_id(),
    };
    let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), ns);
    // The first status write: Reconciling=True from the start, so kstatus never reads a new
    // cluster as Current before it exists.
    let existing = kc.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let verdicts =
        conditions::with_health(&[Conclusion::not_ready(ClusterReason::Reconciling, "cluster id recorded; creating the cluster")]);
    let conditions = conditions::merge(existing, &verdicts, &[], kc.metadata.generation, k8s_openapi::jiff::Timestamp::now());
    let patch = serde_json::json!({"status": {"clusterId": id, "observedGeneration": kc.metadata.generation, "conditions": conditions}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    ctx.metrics.count_write();
    info!(cluster = name, cluster_id = %id, "cluster id recorded");
    Ok(id)
}

/// The first node id of each of the cluster's pools that has a StatefulSet, from the cache: its
/// `spec.ordinals.start` (0 when unset, as Kubernetes reads it), by the StatefulSet's pool label.
/// Only called once the caches have synced (the reconcile's [`CacheGate`](crate::controller::context::CacheGate)
/// check), so a pool that exists is never missed; see [`crate::model::Observed::node_id_starts`].
pub fn live_node_id_starts(ctx: &Context, namespace: &str, cluster: &str) -> BTreeMap<String, i32> {
    ctx.stores
        .stateful_sets
        .state()
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
        .filter(|s| s.metadata.labels.as_ref().and_then(|l| l.get(names::labels::CLUSTER)).map(String::as_str) == Some(cluster))
        .filter_map(|s| {
            let pool = s.metadata.labels.as_ref()?.get(names::labels::POOL)?.clone();
            let start = s.spec.as_ref().and_then(|spec| spec.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0);
            Some((pool, start))
        })
        .collect()
}

/// One key of a Secret, as text.
pub fn secret_value(secret: &Secret, name: &str, key: &str) -> Result<String> {
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or_else(|| ControllerError::SecretKey { secret: name.to_owned(), key: key.to_owned() })?;
    Ok(String::from_utf8_lossy(&value.0).into_owned())
}

/// The operator's salted SCRAM-SHA-512 credential for a password, as the operator Secret's extra keys
/// (base64 salt and salted password, as Kafka's `kafka-storage format --add-scram` takes them). The
/// pods format storage with these; the password itself never reaches a command line.
pub fn salted_keys(password: &str) -> BTreeMap<String, String> {
    use base64::Engine as _;
    let salt: [u8; 32] = rand::Rng::random(&mut rand::rng());
    let iterations = ScramMechanism::MIN_ITERATIONS;
    let salted = ScramMechanism::Sha512.salted_password(password, &salt, iterations);
    let b64 = base64::engine::general_purpose::STANDARD;
    BTreeMap::from([
        (SCRAM_ITERATIONS_KEY.to_owned(), iterations.to_string()),
        (SCRAM_SALT_KEY.to_owned(), b64.encode(salt)),
        (SCRAM_SALTED_PASSWORD_KEY.to_owned(), b64.encode(salted)),
    ])
}

/// Whether every volume of the cluster goes when the cluster goes (ephemeral, or claims with
/// `deleteClaim: true`). Only then may the operator Secret go with it: a cluster created again on
/// retained volumes must find the credential its brokers were formatted with.
pub fn volumes_go_with_cluster(model: &ClusterModel) -> bool {
    model.pools.iter().all(|p| match &p.storage {
        StorageModel::Ephemeral { .. } => true,
        StorageModel::PersistentClaim { delete_claim, .. } => *delete_claim,
    })
}

/// The operator Secret's owner references: the KafkaCluster only when no volume outlives it.
fn secret_owner_references(model: &ClusterModel) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>> {
    if volumes_go_with_cluster(model) { meta::owner_references(model) } else { None }
}

/// Makes sure the operator's credentials Secret exists when the cluster is secured, and returns
/// the password. The password of an existing Secret is never changed; missing salted keys are
/// added (Secrets of older operators), and the owner reference follows the volumes' retention.
/// The Secret is found again by name, so a cluster recreated on retained volumes keeps its credential.
pub async fn operator_password(model: &ClusterModel, ctx: &Context) -> Result<Option<String>> {
    let Some(creds) = model.operator_credentials() else {
        return Ok(None);
    };
    let cached = ctx.stores.secrets.get(&StoreRef::new(&creds.secret_name).within(&model.namespace));
    let existing = match cached {
        Some(s) => Some((*s).clone()),
        None => Api::<Secret>::namespaced(ctx.client.clone(), &model.namespace).get_opt(&creds.secret_name).await?,
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &model.namespace);
    if let Some(secret) = existing {
        let password = secret_value(&secret, &creds.secret_name, &creds.secret_key)?;
        let has_salted = [SCRAM_ITERATIONS_KEY, SCRAM_SALT_KEY, SCRAM_SALTED_PASSWORD_KEY]
            .iter()
            .all(|k| secret.data.as_ref().is_some_and(|d| d.contains_key(*k)));
        let owners = secret_owner_references(model);
        let owners_now = secret.metadata.owner_references.clone().filter(|o| !o.is_empty());
        let mut patch = serde_json::Map::new();
        if !has_salted {
            patch.insert("stringData".to_owned(), serde_json::json!(salted_keys(&password)));
        }
        if owners != owners_now {
            patch.insert("metadata".to_owned(), serde_json::json!({"ownerReferences": owners}));
        }
        if !patch.is_empty() {
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
            api.patch(&creds.secret_name, &params, &Patch::Merge(&serde_json::Value::Object(patch))).await?;
            ctx.metrics.count_write();
            info!(secret = %creds.secret_name, salted_added = !has_salted, "operator credentials updated");
        }
        return Ok(Some(password));
    }
    let password = generate_password(PASSWORD_LEN);
    let mut data = salted_keys(&password);
    data.insert(creds.secret_key.clone(), password.clone());
    data.insert("username".to_owned(), creds.username.clone());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(creds.secret_name.clone()),
            namespace: Some(model.namespace.clone()),
            labels: Some(names::cluster_labels(&model.name)),
            owner_references: secret_owner_references(model),
            ..ObjectMeta::default()
        },
        string_data: Some(data),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    };
    match api.create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() }, &secret).await {
        Ok(_) => {
            ctx.metrics.count_write();
            info!(secret = %creds.secret_name, "operator credentials created");
            Ok(Some(password))
        }
        // Created concurrently (by a previous incarnation): read it back next time.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let secret = api.get(&creds.secret_name).await?;
            secret_value(&secret, &creds.secret_name, &creds.secret_key).map(Some)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_32_alphanumerics() {
        let p = generate_password(PASSWORD_LEN);
        assert_eq!(p.len(), 32);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn salted_keys_match_kafka_scram_sha_512() {
        use base64::Engine as _;
        let keys = salted_keys("secret");
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode(&keys[SCRAM_SALT_KEY]).expect("salt");
        let iterations: u32 = keys[SCRAM_ITERATIONS_KEY].parse().expect("iterations");
        assert!(iterations >= 4096);
        assert_eq!(salt.len(), 32);
        let salted = b64.decode(&keys[SCRAM_SALTED_PASSWORD_KEY]).expect("salted");
        assert_eq!(salted, ScramMechanism::Sha512.salted_password("secret", &salt, iterations));
        assert_ne!(salted_keys("secret")[SCRAM_SALT_KEY], keys[SCRAM_SALT_KEY], "a fresh salt each time");
    }
}

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
use crate::controller::context::Context;
use crate::controller::error::{ControllerError, Result};
use crate::kafka::ops::scram::generate_password;
use crate::model::{ClusterModel, names};
use crate::render::meta;

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
    let patch = serde_json::json!({"status": {"clusterId": id}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    ctx.metrics.count_write();
    info!(cluster = name, cluster_id = %id, "cluster id recorded");
    Ok(id)
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

/// Makes sure the operator's credentials Secret exists when the cluster is secured, and returns
/// the password. An existing Secret is never changed.
pub async fn operator_password(model: &ClusterModel, ctx: &Context) -> Result<Option<String>> {
    let Some(creds) = model.operator_credentials() else {
        return Ok(None);
    };
    let cached = ctx.stores.secrets.get(&StoreRef::new(&creds.secret_name).within(&model.namespace));
    let existing = match cached {
        Some(s) => Some((*s).clone()),
        None => Api::<Secret>::namespaced(ctx.client.clone(), &model.namespace).get_opt(&creds.secret_name).await?,
    };
    if let Some(secret) = existing {
        return secret_value(&secret, &creds.secret_name, &creds.secret_key).map(Some);
    }
    let password = generate_password(PASSWORD_LEN);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(creds.secret_name.clone()),
            namespace: Some(model.namespace.clone()),
            labels: Some(names::cluster_labels(&model.name)),
            owner_references: meta::owner_references(model),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([(creds.secret_key.clone(), password.clone()), ("username".to_owned(), creds.username.clone())])),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &model.namespace);
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

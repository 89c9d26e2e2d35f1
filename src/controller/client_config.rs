//! The cluster's Secret `<cluster>-client-properties`: a ready `client.properties` per client
//! listener (keys `<listener>.client.properties`), with the bootstrap address, the security
//! protocol, the cluster CA inline for TLS listeners, and the recommended client defaults. It
//! holds no credential: SCRAM and mutual TLS clients take theirs from a KafkaUser's Secret.
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::controller::certificates::apply_secret;
use crate::controller::context::Context;
use crate::controller::error::Result;
use crate::model::{ClusterModel, names};
use crate::render::client_properties::ClusterClients;
use crate::render::meta;

/// Writes the cluster's client properties Secret when it differs. `ca`: the cluster CA
/// certificate, with TLS.
pub async fn reconcile(model: &ClusterModel, ctx: &Context, ca: Option<String>) -> Result<()> {
    let clients =
        ClusterClients { cluster: model.name.clone(), namespace: model.namespace.clone(), listeners: model.listeners.clone(), ca };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &model.namespace);
    let name = names::client_properties_secret(&model.name);
    apply_secret(ctx, &api, model, &name, meta::owner_references(model), clients.per_listener()).await
}

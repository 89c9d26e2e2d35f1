//! The KafkaUser controller: SCRAM-SHA-512 credentials with their Secret, ACLs as a full set,
//! and quotas, kept in Kafka exactly as declared.
//!
//! - `plan` (pure) decides the credential, ACL and quota changes;
//! - `kafka_ops` sends them, batched across every user of a cluster;
//! - `secret` renders and writes the user's Secret;
//! - `reconcile` is the thin wiring.

pub mod acl;
pub mod kafka_ops;
pub mod plan;
pub mod quota;
mod reconcile;
pub mod secret;
pub mod tls;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Config as WatchConfig};
use kube::runtime::{Controller, WatchStreamExt};
use tracing::{debug, warn};

use crate::api::{KafkaCluster, KafkaUser};
use crate::controller::context::Context;
use crate::controller::lifecycle;
use crate::controller::watch::{CONCURRENCY, cluster_watch, namespaced_api};
use crate::model::user::Credentials;
use kafka_ops::UserOpsRegistry;
pub use reconcile::{UserError, error_policy, reconcile};

/// Shared state of the user reconciler.
pub struct UserContext {
    pub base: Arc<Context>,
    pub clusters: Store<KafkaCluster>,
    pub users: Store<KafkaUser>,
    pub ops: UserOpsRegistry,
}

fn users_of_cluster(users: &Store<KafkaUser>, kc: &KafkaCluster) -> Vec<ObjectRef<KafkaUser>> {
    let ns = kc.namespace();
    let name = kc.name_any();
    users.state().iter().filter(|u| u.namespace() == ns && u.spec.cluster == name).map(|u| ObjectRef::from_obj(u.as_ref())).collect()
}

/// Users whose own Secret, or whose password source, is this Secret.
fn users_of_secret(users: &Store<KafkaUser>, secret: &PartialObjectMeta<Secret>) -> Vec<ObjectRef<KafkaUser>> {
    let ns = secret.namespace();
    let name = secret.name_any();
    users
        .state()
        .iter()
        .filter(|u| u.namespace() == ns)
        .filter(|u| {
            u.name_any() == name
                || u.spec
                    .authentication
                    .as_ref()
                    .and_then(|a| a.password.as_ref())
                    .is_some_and(|p| p.value_from.secret_key_ref.name == name)
        })
        .map(|u| ObjectRef::from_obj(u.as_ref()))
        .collect()
}

/// Whether a Secret is a user's own (written by this controller).
fn is_user_secret(secret: &PartialObjectMeta<Secret>) -> bool {
    secret.labels().contains_key(secret::USER_LABEL)
        && (secret.annotations().contains_key(secret::PASSWORD_HASH_ANNOTATION)
            || secret.annotations().contains_key(tls::CERT_SERIAL_ANNOTATION))
}

/// Whether the user's password comes from a Secret it names.
pub fn password_source(ku: &KafkaUser) -> Option<&crate::api::common::SecretKeyRef> {
    ku.spec.authentication.as_ref()?.password.as_ref().map(|p| &p.value_from.secret_key_ref)
}

/// Whether a desired credential needs the user's Secret.
pub fn needs_secret(credentials: &Credentials) -> bool {
    !matches!(credentials, Credentials::None)
}

/// Runs the KafkaUser controller until a shutdown signal.
pub async fn run(client: kube::Client, base: Arc<Context>, namespace: Option<String>) {
    let ns = namespace.as_deref();
    let (users, writer) = reflector::store::<KafkaUser>();
    let user_stream = reflector::reflector(writer, watcher::watcher(namespaced_api::<KafkaUser>(&client, ns), WatchConfig::default()))
        .default_backoff()
        .applied_objects()
        .predicate_filter(lifecycle::trigger_hash, Default::default());
    let (clusters, cluster_stream) = cluster_watch(&client, ns);
    // Secrets by metadata only: a change of a password source rotates the password; a deleted
    // user Secret is written again.
    // Our own writes of a user's Secret are not news (they would only double every reconcile);
    // its deletion is.
    let secret_stream = watcher::watcher(namespaced_api::<PartialObjectMeta<Secret>>(&client, ns), WatchConfig::default())
        .default_backoff()
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Delete(s)) => Some(Ok(s)),
                Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) if !is_user_secret(&s) => Some(Ok(s)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        });
    let ctx = Arc::new(UserContext { base, clusters, users: users.clone(), ops: UserOpsRegistry::default() });
    let by_cluster = users.clone();
    let by_secret = users.clone();
    Controller::for_stream(user_stream, users)
        .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
        .watches_stream(cluster_stream, move |kc: KafkaCluster| users_of_cluster(&by_cluster, &kc))
        .watches_stream(secret_stream, move |s: PartialObjectMeta<Secret>| users_of_secret(&by_secret, &s))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(user = %obj.name, "reconciled"),
                Err(e) => warn!(error = %e, "user reconcile error"),
            }
        })
        .await;
}

//! One KafkaUser reconcile: finalizer → detach → validate → Secrets → cluster → describe →
//! credential, ACLs, quotas → status.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::{info, instrument, warn};

use super::kafka_ops::{ObservedUser, UserOps};
use super::plan::{CredentialPlan, acl_plan, credential_plan, jaas_config, quota_plan};
use super::secret::{self, owned_by, secret_state, secret_text, user_secret};
use super::tls::{self, CLIENT_PROPERTIES_KEY};
use super::{UserContext, needs_secret};
use crate::api::KafkaUser;
use crate::api::user::KafkaUserStatus;
use crate::controller::backoff;
use crate::controller::certificates::cached_or_get;
use crate::controller::conditions::{self, Conclusion, PAUSED, READY, WARNING, merge};
use crate::controller::error::{ErrorCategory, kube_category};
use crate::controller::kafka_access::calls::OpError;
use crate::controller::kafka_access::{ConnectError, connect};
use crate::controller::lifecycle::{Lifecycle, MANAGED_ANNOTATION, add_finalizer, is_managed, is_paused, lifecycle, remove_finalizer};
use crate::controller::reason::{Reason, UserReason};
use crate::controller::status_write::write_status;
use crate::controller::watch::RECHECK;
use crate::kafka::ops::acls::{AclBinding, AclFilter};
use crate::kafka::ops::scram::generate_password;
use crate::model::user::{Credentials, DesiredUser, check_super_user, desired_user, is_operator_user, principal};
use crate::model::{certificate_policy, client_listeners, names};
use crate::render::client_properties::{ClientCredential, ClusterClients};

/// Condition types the user reconciler owns.
const OWNED: &[&str] = &[READY, conditions::RECONCILING, conditions::STALLED, WARNING, PAUSED];
/// Length of generated passwords.
const PASSWORD_LEN: usize = 32;

/// What can fail in a user reconcile; retried with backoff by [`error_policy`].
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot reach cluster {cluster} to remove user {user}: {source}")]
    Connect {
        cluster: String,
        user: String,
        #[source]
        source: ConnectError,
    },
    #[error("removing user {user} from Kafka: {source}")]
    CleanUp {
        user: String,
        #[source]
        source: OpError,
    },
}

impl UserError {
    /// How `error_policy` retries it.
    pub fn category(&self) -> ErrorCategory {
        match self {
            UserError::Kube(e) => kube_category(e),
            UserError::Connect { source, .. } => source.category(),
            UserError::CleanUp { source, .. } => source.category(),
        }
    }
}

/// A failure while changing Kafka or the user's Secret.
#[derive(Debug, thiserror::Error)]
enum ActError {
    #[error(transparent)]
    Kafka(#[from] OpError),
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("refusing to change the operator's own Kafka user {0} from a KafkaUser")]
    OperatorUser(String),
}

/// The cluster's `spec.authorization.superUsers` (empty without authorization or cluster).
fn super_users(kc: Option<&crate::api::KafkaCluster>) -> Vec<String> {
    kc.and_then(|kc| kc.spec.authorization.as_ref()).map(|a| a.super_users.clone()).unwrap_or_default()
}

fn status(ku: &KafkaUser, conclusions: &[Conclusion], desired: Option<&DesiredUser>) -> KafkaUserStatus {
    let previous = ku.status.clone().unwrap_or_default();
    let generation = ku.meta().generation;
    let conditions = merge(&previous.conditions, &conditions::with_health(conclusions), OWNED, generation, Timestamp::now());
    match desired {
        Some(d) => KafkaUserStatus {
            observed_generation: generation,
            conditions,
            username: Some(d.username.clone()),
            secret: needs_secret(&d.credentials).then(|| d.username.clone()),
        },
        None => KafkaUserStatus { observed_generation: generation, conditions, ..previous },
    }
}

async fn report(ku: &KafkaUser, ctx: &UserContext, conclusion: Conclusion) -> Result<(), UserError> {
    ctx.base.metrics.record_conclusion::<UserReason>(&conclusion);
    Ok(write_status(&ctx.base, ku, &status(ku, &[conclusion], None)).await?)
}

fn acl_filters(acls: &[AclBinding]) -> Vec<AclFilter> {
    acls.iter().map(AclBinding::to_filter).collect()
}

/// What the user's Secret is made from.
struct SecretInputs<'a> {
    /// The user's own Secret, if it has one.
    own: Option<&'a Secret>,
    /// The password from the Secret the user names.
    source_password: Option<&'a str>,
    /// The cluster's listeners and CA, for `client.properties`.
    clients: &'a ClusterClients,
}

/// Makes Kafka and the user's Secret match. Returns a warning when ACLs cannot be set.
async fn act(
    ku: &KafkaUser,
    ops: &UserOps,
    secrets: &Api<Secret>,
    desired: &DesiredUser,
    observed: &ObservedUser,
    inputs: &SecretInputs<'_>,
) -> Result<Option<Conclusion>, ActError> {
    let user = &desired.username;
    // Last guard before AlterUserScramCredentials, CreateAcls, DeleteAcls, AlterClientQuotas.
    if is_operator_user(user) {
        return Err(ActError::OperatorUser(user.clone()));
    }
    let state = inputs.own.map(secret_state);
    match credential_plan(desired, state.as_ref(), observed, inputs.source_password, &generate_password(PASSWORD_LEN)) {
        CredentialPlan::Remove { credential, secret } => {
            if credential {
                info!(user, "removing the SCRAM credential");
                ops.delete_password(user).await?;
            }
            if secret {
                secret::delete(secrets, user).await?;
            }
        }
        CredentialPlan::Scram { password, set_in_kafka, write_secret } => {
            if set_in_kafka {
                info!(user, "setting the SCRAM-SHA-512 credential");
                ops.set_password(user, &password).await?;
            }
            let jaas = jaas_config(user, &password);
            let properties = inputs.clients.for_user(user, &ClientCredential::Scram { jaas: &jaas });
            let stale = inputs.own.and_then(|s| secret_text(s, CLIENT_PROPERTIES_KEY)).as_deref() != Some(properties.as_str());
            if write_secret || stale {
                secret::apply(secrets, &user_secret(ku, &password, &properties)).await?;
            }
        }
    }
    let mut warning = None;
    if observed.authorizer {
        let plan = acl_plan(&desired.acls, observed);
        if !plan.delete.is_empty() {
            info!(user, count = plan.delete.len(), "deleting stale ACLs");
            ops.delete_acls(acl_filters(&plan.delete)).await?;
        }
        if !plan.create.is_empty() {
            info!(user, count = plan.create.len(), "creating ACLs");
            ops.create_acls(plan.create).await?;
        }
    } else if !desired.acls.is_empty() {
        warning = Some(Conclusion::not_ready(
            UserReason::AuthorizationDisabled,
            format!(
                "cluster {} has no authorizer (spec.authorization): the {} ACLs of {user} cannot be set",
                ku.spec.cluster,
                desired.acls.len()
            ),
        ));
    }
    let quota_ops = quota_plan(&super::quota::kafka_quotas(&desired.quotas), &observed.quotas);
    if !quota_ops.is_empty() {
        info!(user, changes = ?quota_ops, "altering quotas");
        ops.alter_quotas(user, quota_ops).await?;
    }
    Ok(warning)
}

/// Removes the user's credential, ACLs, quotas and Secret.
async fn clean_up(ku: &KafkaUser, ctx: &UserContext, secrets: &Api<Secret>) -> Result<(), UserError> {
    let user = ku.name_any();
    let ns = ku.namespace().unwrap_or_default();
    if !is_managed(ku.meta()) {
        info!(user, "resource deleted; unmanaged, Kafka keeps the user");
        return Ok(());
    }
    let kc = ctx.clusters.get(&ObjectRef::new(&ku.spec.cluster).within(&ns));
    // The operator's own user, and a super user without the opt-in, were never managed by this
    // KafkaUser: deleting it must not delete their credential, ACLs or quotas.
    if is_operator_user(&user) || check_super_user(&user, &ku.spec, &super_users(kc.as_deref())).is_err() {
        warn!(user, "resource deleted; a reserved or super user, Kafka keeps its credential, ACLs and quotas");
        return Ok(());
    }
    let cluster_going = kc.as_ref().is_none_or(|kc| kc.meta().deletion_timestamp.is_some());
    if !cluster_going {
        let reachable = match connect(&ctx.base, kc.as_deref(), &ku.spec.cluster).await {
            Ok(v) => Some(v),
            Err(ConnectError::NoCluster(_) | ConnectError::NotInitialised(_)) => None,
            Err(source) => return Err(UserError::Connect { cluster: ku.spec.cluster.clone(), user, source }),
        };
        if let Some((_, client)) = reachable {
            let ops = ctx.ops.get(&format!("{ns}/{}", ku.spec.cluster), &client);
            let fail = |source| UserError::CleanUp { user: user.clone(), source };
            let observed = ops.describe(&user).await.map_err(fail)?;
            ops.delete_password(&user).await.map_err(fail)?;
            if observed.authorizer && !observed.acls.is_empty() {
                ops.delete_acls(vec![AclFilter::principal(&principal(&user))]).await.map_err(fail)?;
            }
            let removals: Vec<(String, Option<f64>)> = observed.quotas.keys().map(|k| (k.clone(), None)).collect();
            ops.alter_quotas(&user, removals).await.map_err(fail)?;
            info!(user, "credential, ACLs and quotas removed from Kafka");
        }
    }
    if let Some(s) = secrets.get_opt(&user).await?
        && owned_by(&s, ku)
    {
        secret::delete(secrets, &user).await?;
    }
    Ok(())
}

/// Reconciles one KafkaUser.
#[instrument(skip_all, fields(user = %ku.name_any(), namespace = ku.namespace().unwrap_or_default()))]
pub async fn reconcile(ku: Arc<KafkaUser>, ctx: Arc<UserContext>) -> Result<Requeue, UserError> {
    let _timer = ctx.base.operator.start_reconcile(<UserReason as crate::controller::reason::Reason>::KIND);
    let result = reconcile_steps(ku.clone(), ctx.clone()).await;
    backoff::record(&ctx.base, ku.as_ref(), &result);
    result
}

async fn reconcile_steps(ku: Arc<KafkaUser>, ctx: Arc<UserContext>) -> Result<Requeue, UserError> {
    ctx.base.metrics.reconciles.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ctx.users.wait_until_ready().await.ok();
    ctx.clusters.wait_until_ready().await.ok();
    let ns = ku.namespace().unwrap_or_default();
    let name = ku.name_any();
    let api: Api<KafkaUser> = Api::namespaced(ctx.base.client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(ctx.base.client.clone(), &ns);
    let managed = is_managed(ku.meta());
    let paused = is_paused(ku.meta());
    if paused && ku.meta().deletion_timestamp.is_none() {
        let previous = ku.status.clone().unwrap_or_default();
        ctx.base.metrics.record_outcome(UserReason::Paused);
        let conditions = conditions::paused(&previous.conditions, UserReason::Paused, ku.meta().generation, Timestamp::now());
        write_status(&ctx.base, ku.as_ref(), &KafkaUserStatus { conditions, ..previous }).await?;
        return Ok(Requeue::await_change());
    }
    match lifecycle(ku.meta(), managed) {
        Lifecycle::CleanUp if paused => {
            info!(user = %name, "resource deleted while paused; credentials, ACLs, quotas and Secret stay");
            remove_finalizer(&api, ku.as_ref()).await?;
            return Ok(Requeue::await_change());
        }
        Lifecycle::CleanUp => {
            clean_up(&ku, &ctx, &secrets).await?;
            remove_finalizer(&api, ku.as_ref()).await?;
            return Ok(Requeue::await_change());
        }
        Lifecycle::Gone => return Ok(Requeue::await_change()),
        Lifecycle::AddFinalizer => add_finalizer(&api, ku.as_ref()).await?,
        Lifecycle::RemoveFinalizer => remove_finalizer(&api, ku.as_ref()).await?,
        Lifecycle::Live => {}
    }
    if !managed {
        report(&ku, &ctx, Conclusion::ready(UserReason::Unmanaged, format!("{MANAGED_ANNOTATION}=false: user {name} is not touched")))
            .await?;
        return Ok(Requeue::await_change());
    }
    if ku.status.is_none() {
        // The first status write comes at once, so kstatus never reads a new user as Current.
        report(&ku, &ctx, Conclusion::not_ready(UserReason::Reconciling, format!("user {name} is being set up"))).await?;
    }
    let kc = ctx.clusters.get(&ObjectRef::new(&ku.spec.cluster).within(&ns));
    let checked = desired_user(&name, &ku.spec).and_then(|d| check_super_user(&name, &ku.spec, &super_users(kc.as_deref())).map(|()| d));
    let desired = match checked {
        Ok(d) => d,
        Err(errors) => {
            warn!(%errors, "invalid spec");
            report(&ku, &ctx, Conclusion::not_ready(UserReason::InvalidSpec, errors.to_string())).await?;
            return Ok(Requeue::await_change());
        }
    };

    // The user's own Secret: from the cache, else (just created, or never) from the API, so a
    // generated password is never generated twice.
    let cached = ctx.base.stores.secrets.get(&ObjectRef::new(&name).within(&ns)).map(|s| (*s).clone());
    let own_secret = match cached {
        Some(s) => Some(s),
        None if needs_secret(&desired.credentials) => secrets.get_opt(&name).await?,
        None => None,
    };
    let foreign_secret = own_secret.as_ref().is_some_and(|s| !owned_by(s, &ku));
    if foreign_secret && needs_secret(&desired.credentials) {
        let message = format!("Secret {name} exists and does not belong to this KafkaUser; Gregor will not overwrite it");
        report(&ku, &ctx, Conclusion::not_ready(UserReason::SecretConflict, message)).await?;
        return Ok(Requeue::requeue(RECHECK));
    }
    let own_secret = own_secret.filter(|s| owned_by(s, &ku));
    let source_password = match &desired.credentials {
        Credentials::ScramFromSecret(r) => {
            let value = secrets.get_opt(&r.name).await?.and_then(|s| secret_text(&s, &r.key)).filter(|p| !p.is_empty());
            match value {
                Some(v) => Some(v),
                None => {
                    let message = format!("Secret {} has no key {} (spec.authentication.password)", r.name, r.key);
                    report(&ku, &ctx, Conclusion::not_ready(UserReason::PasswordSecretMissing, message)).await?;
                    return Ok(Requeue::requeue(RECHECK));
                }
            }
        }
        _ => None,
    };

    let ca = cached_or_get(&ctx.base, &secrets, &ns, &names::cluster_ca_cert_secret(&ku.spec.cluster))
        .await?
        .and_then(|s| secret_text(&s, names::CA_CERT_KEY));
    let listeners = kc.as_deref().map(|kc| client_listeners(&kc.spec.listeners)).unwrap_or_default();
    let clients = ClusterClients { cluster: ku.spec.cluster.clone(), namespace: ns.clone(), listeners, ca };
    if desired.credentials == Credentials::Tls {
        let policy = certificate_policy(kc.as_deref().and_then(|kc| kc.spec.certificates.as_ref()));
        if let Err(waiting) = tls::reconcile_secret(&ku, &ctx.base, &secrets, own_secret.as_ref(), &clients, &policy).await? {
            report(&ku, &ctx, waiting).await?;
            return Ok(Requeue::requeue(RECHECK));
        }
    }

    let (_, client) = match connect(&ctx.base, kc.as_deref(), &ku.spec.cluster).await {
        Ok(v) => v,
        Err(e) => {
            report(&ku, &ctx, Conclusion::not_ready(UserReason::ClusterNotReady, e.to_string())).await?;
            return Ok(Requeue::requeue(RECHECK));
        }
    };
    let ops = ctx.ops.get(&format!("{ns}/{}", ku.spec.cluster), &client);
    let observed = match ops.describe(&name).await {
        Ok(o) => o,
        Err(e) => {
            report(&ku, &ctx, Conclusion::not_ready(UserReason::KafkaUnavailable, format!("describing user {name}: {e}"))).await?;
            return Ok(Requeue::requeue(RECHECK));
        }
    };
    let inputs = SecretInputs { own: own_secret.as_ref(), source_password: source_password.as_deref(), clients: &clients };
    let warning = match act(&ku, &ops, &secrets, &desired, &observed, &inputs).await {
        Ok(w) => w,
        Err(ActError::Kube(e)) => return Err(e.into()),
        Err(ActError::OperatorUser(user)) => {
            let message = format!("metadata.name: {user} is reserved for the operator's own Kafka user");
            report(&ku, &ctx, Conclusion::not_ready(UserReason::InvalidSpec, message)).await?;
            return Ok(Requeue::await_change());
        }
        Err(ActError::Kafka(e)) => {
            let (reason, after) = if e.is_retriable() {
                (UserReason::KafkaUnavailable, RECHECK)
            } else {
                (UserReason::KafkaRejected, ctx.base.settings.resync)
            };
            report(&ku, &ctx, Conclusion::not_ready(reason, format!("user {name}: {e}"))).await?;
            return Ok(Requeue::requeue(after));
        }
    };
    let ready = match warning {
        Some(w) => w,
        None => Conclusion::ready(
            UserReason::Ready,
            format!(
                "user {name}: {}, {} ACLs, {} quotas",
                match desired.credentials {
                    Credentials::None => "no credential",
                    Credentials::Tls => "a certificate of the clients CA",
                    Credentials::ScramGenerated | Credentials::ScramFromSecret(_) => "SCRAM-SHA-512 credential",
                },
                desired.acls.len(),
                desired.quotas.len()
            ),
        ),
    };
    ctx.base.metrics.record_conclusion::<UserReason>(&ready);
    write_status(&ctx.base, ku.as_ref(), &status(&ku, &[ready], Some(&desired))).await?;
    Ok(Requeue::requeue(ctx.base.settings.resync))
}

/// After a failed reconcile: exponential backoff for transient errors, the next change for an
/// invalid object (see [`backoff`]).
pub fn error_policy(ku: Arc<KafkaUser>, error: &UserError, ctx: Arc<UserContext>) -> Requeue {
    backoff::after_failure(&ctx.base, UserReason::KIND, ku.as_ref(), error.category(), error)
}

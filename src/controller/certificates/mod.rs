//! The cluster CA, the clients CA and the node certificates.
//!
//! When any listener has `tls: true`, the operator keeps:
//! - two CAs ([`CaKind`]): the cluster CA signs node certificates, the clients CA signs the
//!   certificates of TLS KafkaUsers. Each has its key and certificate in an operator-only Secret
//!   (`<cluster>-cluster-ca`, `<cluster>-clients-ca`) and its certificate in a public Secret
//!   (`<cluster>-cluster-ca-cert`, `<cluster>-clients-ca-cert`, key `ca.crt`) that clients mount.
//!   All four are kept with the volumes, like the operator credential: while a volume outlives
//!   the cluster, so do the CAs its clients trust;
//! - the Secret `<cluster>-kafka-node-certs`: each node's PKCS#8 key and certificate chain
//!   (`<pod>.pem`), the cluster CA's `ca.crt` and the clients CA's `clients-ca.crt` (the
//!   truststore of mutual TLS listeners), mounted into every Kafka pod.
//!
//! What to (re-)issue is decided purely in [`plan`]; [`issue`] makes and reads certificates.
pub mod expiry;
pub mod issue;
pub mod kind;
pub mod plan;
#[cfg(test)]
mod reconcile_tests;
pub mod reload;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef as StoreRef;
use tracing::{info, warn};

use crate::controller::apply::FIELD_MANAGER;
use crate::controller::context::Context;
use crate::controller::error::{ControllerError, ErrorCategory, Result};
use crate::model::{ClusterModel, names};
use crate::render::meta;
use issue::{Ca, CaPem};
pub use kind::CaKind;
use plan::Verdict;

/// What can go wrong with certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// rcgen could not make a key or certificate.
    #[error("cannot generate {what}: {detail}")]
    Generate {
        /// What was being made.
        what: String,
        /// rcgen's error.
        detail: String,
    },
    /// A key or certificate cannot be read or used.
    #[error("{what} is not valid: {detail}")]
    Invalid {
        /// What was read.
        what: String,
        /// Why it is refused.
        detail: String,
    },
    /// A CA has expired (CA replacement is not supported yet).
    #[error(
        "the {kind} CA in Secret {secret} has expired; replacing a CA is not supported yet: delete both of its Secrets to get a new one"
    )]
    CaExpired {
        /// Which CA.
        kind: &'static str,
        /// The CA key Secret.
        secret: String,
    },
}

impl CertificateError {
    /// How a reconcile that failed with it is retried.
    pub fn category(&self) -> ErrorCategory {
        match self {
            CertificateError::Generate { .. } => ErrorCategory::Transient,
            CertificateError::Invalid { .. } | CertificateError::CaExpired { .. } => ErrorCategory::Invalid,
        }
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

/// Whether node certificates are re-issued only when due, or all of them now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Missing, unreadable, outdated or due certificates only.
    AsDue,
    /// Every node certificate (`kafka.gregor.dev/renew-certificates=true`).
    Forced,
}

/// What the certificates step leaves for the rest of the reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The cluster CA certificate (PEM) that clients trust.
    pub cluster_ca: String,
    /// Per pod, the serial of the certificate its node should serve (the one in the Secret).
    pub node_serials: BTreeMap<String, String>,
    /// When each CA and node certificate expires.
    pub expiries: Vec<expiry::Expiry>,
}

/// Makes sure both CAs, their public certificate Secrets and every node's certificate exist and
/// are good, when the cluster has a TLS listener. Runs before the StatefulSets are applied, so a
/// new node's certificate is there before its pod starts. Returns the cluster CA certificate
/// and the node certificates' serials, or `None` without TLS.
pub async fn reconcile(model: &ClusterModel, ctx: &Context, now: i64, renewal: Renewal) -> Result<Option<Issued>> {
    if !model.tls_enabled() {
        ctx.certificate_expiries.set(&model.namespace, &model.name, Vec::new());
        return Ok(None);
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &model.namespace);
    let cluster_ca = published_ca(CaKind::Cluster, model, ctx, &api, now).await?;
    let clients_ca = published_ca(CaKind::Clients, model, ctx, &api, now).await?;
    let (mut expiries, node_serials) = node_certificates(model, ctx, &api, &cluster_ca, &clients_ca.pem.cert, now, renewal).await?;
    for (kind, ca) in [(CaKind::Cluster, &cluster_ca), (CaKind::Clients, &clients_ca)] {
        expiries.push(expiry::Expiry {
            kind: expiry::CertificateKind::of_ca(kind),
            name: kind.key_secret(&model.name),
            not_after: ca.facts.not_after,
        });
    }
    ctx.certificate_expiries.set(&model.namespace, &model.name, expiries.clone());
    Ok(Some(Issued { cluster_ca: cluster_ca.pem.cert, node_serials, expiries }))
}

/// A CA of the cluster, made if need be, with its certificate in its public Secret.
async fn published_ca(kind: CaKind, model: &ClusterModel, ctx: &Context, api: &Api<Secret>, now: i64) -> Result<Ca> {
    let ca = ensure_ca(kind, model, ctx, api, now).await?;
    let public = BTreeMap::from([(names::CA_CERT_KEY.to_owned(), ca.pem.cert.clone())]);
    apply_secret(ctx, api, model, &kind.cert_secret(&model.name), ca_owner_references(model), public).await?;
    Ok(ca)
}

/// The CA Secrets go with the cluster only when every volume does (see
/// [`volumes_go_with_cluster`](crate::controller::cluster::identity::volumes_go_with_cluster)).
fn ca_owner_references(model: &ClusterModel) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>> {
    if crate::controller::cluster::identity::volumes_go_with_cluster(model) { meta::owner_references(model) } else { None }
}

/// A Secret from the cache, else from the API server (just made, or not one of ours).
pub async fn cached_or_get(ctx: &Context, api: &Api<Secret>, namespace: &str, name: &str) -> kube::Result<Option<Secret>> {
    match ctx.stores.secrets.get(&StoreRef::new(name).within(namespace)) {
        Some(s) => Ok(Some((*s).clone())),
        None => api.get_opt(name).await,
    }
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// Loads a CA from its key Secret (keys `ca.crt` and `ca.key`).
pub fn load_from(secret: &Secret, name: &str) -> Result<Ca> {
    let cert = text(secret, names::CA_CERT_KEY)
        .ok_or_else(|| ControllerError::SecretKey { secret: name.to_owned(), key: names::CA_CERT_KEY.to_owned() })?;
    let key = text(secret, names::CA_KEY_KEY)
        .ok_or_else(|| ControllerError::SecretKey { secret: name.to_owned(), key: names::CA_KEY_KEY.to_owned() })?;
    Ok(issue::load_ca(&CaPem { cert, key })?)
}

/// A CA of the cluster: loaded from its key Secret, or made and stored once. Its key is never changed.
async fn ensure_ca(kind: CaKind, model: &ClusterModel, ctx: &Context, api: &Api<Secret>, now: i64) -> Result<Ca> {
    let name = kind.key_secret(&model.name);
    let owners = ca_owner_references(model);
    if let Some(secret) = cached_or_get(ctx, api, &model.namespace, &name).await? {
        let ca = load_from(&secret, &name)?;
        if !plan::ca_usable(&ca.facts, now) {
            return Err(CertificateError::CaExpired { kind: kind.as_str(), secret: name }.into());
        }
        if plan::renewal_due(&ca.facts, &model.certificates, now) {
            warn!(secret = %name, not_after = ca.facts.not_after, "the {} CA nears its end; replacing it is not supported yet", kind.as_str());
        }
        if secret.metadata.owner_references.clone().filter(|o| !o.is_empty()) != owners {
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
            api.patch(&name, &params, &Patch::Merge(&serde_json::json!({"metadata": {"ownerReferences": owners}}))).await?;
            ctx.metrics.count_write();
        }
        return Ok(ca);
    }
    let ca = issue::new_ca(&kind.common_name(&model.name, &model.namespace), now, model.certificates.ca_validity_days)?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(model.namespace.clone()),
            labels: Some(names::cluster_labels(&model.name)),
            owner_references: owners,
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            (names::CA_CERT_KEY.to_owned(), ByteString(ca.pem.cert.clone().into_bytes())),
            (names::CA_KEY_KEY.to_owned(), ByteString(ca.pem.key.clone().into_bytes())),
        ])),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    };
    match api.create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() }, &secret).await {
        Ok(_) => {
            ctx.metrics.count_write();
            info!(secret = %name, not_after = ca.facts.not_after, "{} CA created", kind.as_str());
            Ok(ca)
        }
        // Made concurrently (by a previous incarnation): use that one.
        Err(kube::Error::Api(e)) if e.code == 409 => load_from(&api.get(&name).await?, &name),
        Err(e) => Err(e.into()),
    }
}

/// Keeps every good node certificate (unless the renewal is forced) and issues the rest, then
/// writes the Secret if anything changed; answers each node certificate's not-after and serial.
/// `clients_ca`: the clients CA certificate, the truststore of mutual TLS listeners.
async fn node_certificates(
    model: &ClusterModel,
    ctx: &Context,
    api: &Api<Secret>,
    ca: &Ca,
    clients_ca: &str,
    now: i64,
    renewal: Renewal,
) -> Result<(Vec<expiry::Expiry>, BTreeMap<String, String>)> {
    let name = names::node_certs_secret(&model.name);
    let existing = cached_or_get(ctx, api, &model.namespace, &name).await?;
    let mut data = BTreeMap::from([
        (names::CA_CERT_KEY.to_owned(), ca.pem.cert.clone()),
        (names::CLIENTS_CA_CERT_KEY.to_owned(), clients_ca.to_owned()),
    ]);
    let mut issued = Vec::new();
    let mut expiries = Vec::new();
    let mut serials = BTreeMap::new();
    for (pool, node_id) in model.nodes() {
        let pod = names::pod(&model.name, &pool.name, node_id);
        let key = names::node_cert_key(&pod);
        let dns_names = model.node_dns_names(pool, node_id);
        let current = existing.as_ref().and_then(|s| text(s, &key));
        let current_facts = current.as_deref().map(|t| issue::facts(t).map_err(|_| ()));
        let verdict = match renewal {
            Renewal::Forced => Verdict::Issue(plan::IssueReason::Forced),
            Renewal::AsDue => plan::leaf_verdict(
                current_facts.as_ref().map(|r| r.as_ref().map_err(|_| ())),
                &ca.facts,
                &dns_names,
                &model.certificates,
                now,
            ),
        };
        let kept = current_facts.as_ref().and_then(|r| r.as_ref().ok()).map(|f| (f.not_after, f.serial.clone()));
        let (file, (not_after, serial)) = match (verdict, current, kept) {
            (Verdict::Keep, Some(file), Some(kept)) => (file, kept),
            (verdict, _, _) => {
                // `Keep` comes only with a certificate that exists.
                let reason = match verdict {
                    Verdict::Issue(reason) => reason,
                    Verdict::Keep => plan::IssueReason::Missing,
                };
                let (not_before, not_after) = plan::leaf_validity(&model.certificates, &ca.facts, now);
                issued.push(format!("{pod} ({})", reason.as_str()));
                let file = issue::issue_leaf(ca, &pod, &dns_names, not_before, not_after)?;
                let serial = issue::facts(&file)?.serial;
                (file, (not_after, serial))
            }
        };
        serials.insert(pod.clone(), serial);
        expiries.push(expiry::Expiry { kind: expiry::CertificateKind::Node, name: pod, not_after });
        data.insert(key, file);
    }
    let unchanged = existing.as_ref().is_some_and(|s| {
        let have: BTreeMap<String, String> =
            s.data.iter().flatten().map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned())).collect();
        have == data && s.metadata.owner_references.clone().filter(|o| !o.is_empty()) == meta::owner_references(model)
    });
    if unchanged {
        return Ok((expiries, serials));
    }
    apply_secret(ctx, api, model, &name, meta::owner_references(model), data).await?;
    if !issued.is_empty() {
        info!(secret = %name, issued = %issued.join(", "), "node certificates issued");
    }
    Ok((expiries, serials))
}

/// Server-side applies a Secret of the cluster with these keys (unchanged ones are no write on
/// the API server's side either).
pub async fn apply_secret(
    ctx: &Context,
    api: &Api<Secret>,
    model: &ClusterModel,
    name: &str,
    owners: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    data: BTreeMap<String, String>,
) -> Result<()> {
    if let Some(cached) = ctx.stores.secrets.get(&StoreRef::new(name).within(&model.namespace)) {
        let have: BTreeMap<String, String> =
            cached.data.iter().flatten().map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned())).collect();
        if have == data && cached.metadata.owner_references.clone().filter(|o| !o.is_empty()) == owners {
            return Ok(());
        }
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(model.namespace.clone()),
            labels: Some(names::cluster_labels(&model.name)),
            owner_references: owners,
            ..ObjectMeta::default()
        },
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))).collect()),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    };
    let mut value =
        serde_json::to_value(&secret).map_err(|source| ControllerError::Serialize { what: format!("Secret {name}"), source })?;
    if let Some(object) = value.as_object_mut() {
        object.insert("apiVersion".into(), "v1".into());
        object.insert("kind".into(), "Secret".into());
    }
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&value)).await?;
    ctx.metrics.count_write();
    Ok(())
}

//! A TLS KafkaUser's Secret: a certificate of the cluster's clients CA with `CN=<user>`, its
//! PKCS#8 key, the same as PKCS#12 with a generated password, the cluster CA certificate to trust
//! the brokers, and a ready `client.properties` for the cluster's mutual TLS listener.
//!
//! [`plan`] (pure) decides whether the Secret is kept, rewritten with the same certificate, or
//! gets a new one (missing, another CA, another name, renewal due); [`secret`] builds it.
use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use tracing::info;

use super::secret::user_secret_meta;
use crate::api::KafkaUser;
use crate::controller::certificates::issue::{self, Ca, ClientPem};
use crate::controller::certificates::plan::{CertFacts, IssueReason, Verdict, leaf_validity, user_verdict};
use crate::controller::certificates::{CertificateError, cached_or_get, load_from, unix_now};
use crate::controller::conditions::Conclusion;
use crate::controller::context::Context;
use crate::controller::reason::UserReason;
use crate::model::CertificatePolicy;
use crate::model::names;
use crate::render::client_properties::{ClientCredential, ClusterClients};

/// Keys of a TLS user's Secret.
pub const USER_CRT_KEY: &str = "user.crt";
pub const USER_KEY_KEY: &str = "user.key";
pub const USER_P12_KEY: &str = "user.p12";
pub const USER_PASSWORD_KEY: &str = "user.password";
/// Key of the ready client configuration in every user's Secret.
pub const CLIENT_PROPERTIES_KEY: &str = "client.properties";
/// Annotation on a TLS user's Secret: the serial of its certificate (marks the Secret as written
/// by the user controller, as the password hash does for SCRAM users).
pub const CERT_SERIAL_ANNOTATION: &str = concat!(crate::api_group!(), "/certificate-serial");
/// Length of a PKCS#12 password.
const P12_PASSWORD_LEN: usize = 32;

/// A TLS user's key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// Certificate and key (PEM).
    pub pem: ClientPem,
    /// The PKCS#12 file.
    pub p12: Vec<u8>,
    /// Its password.
    pub password: String,
}

/// What the user's Secret holds now, as far as the plan cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Existing {
    pub material: Option<Material>,
    /// `ca.crt`.
    pub ca_crt: Option<String>,
    /// `client.properties`.
    pub client_properties: Option<String>,
}

/// What to do with a TLS user's Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// It is current: no write.
    Keep,
    /// Same certificate and key; `ca.crt` or `client.properties` changed.
    Rewrite,
    /// A new key and certificate.
    Issue(IssueReason),
}

/// What the Secret should hold besides the key material, with the current certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted<'a> {
    /// The cluster CA certificate.
    pub ca_crt: &'a str,
    /// The client configuration.
    pub client_properties: &'a str,
}

/// Decides the Secret. `facts`: what its `user.crt` says (`None` without one, `Err` unreadable).
pub fn plan(
    existing: &Existing,
    facts: Option<Result<&CertFacts, ()>>,
    clients_ca: &CertFacts,
    username: &str,
    policy: &CertificatePolicy,
    now: i64,
    wanted: Wanted<'_>,
) -> Plan {
    let facts = if existing.material.is_some() { facts } else { None };
    match user_verdict(facts, clients_ca, username, policy, now) {
        Verdict::Issue(reason) => Plan::Issue(reason),
        Verdict::Keep
            if existing.ca_crt.as_deref() == Some(wanted.ca_crt)
                && existing.client_properties.as_deref() == Some(wanted.client_properties) =>
        {
            Plan::Keep
        }
        Verdict::Keep => Plan::Rewrite,
    }
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// What a user's Secret holds (a Secret from before, or of a SCRAM user, has no material).
pub fn existing(secret: Option<&Secret>) -> Existing {
    let Some(secret) = secret else { return Existing::default() };
    let bytes = |key: &str| secret.data.as_ref().and_then(|d| d.get(key)).map(|v| v.0.clone());
    let material = match (text(secret, USER_CRT_KEY), text(secret, USER_KEY_KEY), bytes(USER_P12_KEY), text(secret, USER_PASSWORD_KEY)) {
        (Some(cert), Some(key), Some(p12), Some(password)) => Some(Material { pem: ClientPem { cert, key }, p12, password }),
        _ => None,
    };
    Existing { material, ca_crt: text(secret, names::CA_CERT_KEY), client_properties: text(secret, CLIENT_PROPERTIES_KEY) }
}

/// A new key and certificate for `username` from the clients CA, and its PKCS#12 file.
pub fn issue(ca: &Ca, username: &str, policy: &CertificatePolicy) -> Result<Material, CertificateError> {
    let now = unix_now();
    let (not_before, not_after) = leaf_validity(policy, &ca.facts, now);
    let pem = issue::issue_client(ca, username, not_before, not_after)?;
    let password = crate::kafka::ops::scram::generate_password(P12_PASSWORD_LEN);
    let p12 = issue::pkcs12(&pem, &ca.pem.cert, username, &password)?;
    Ok(Material { pem, p12, password })
}

/// Makes a TLS user's Secret current: keeps it, rewrites it, or issues a new certificate, as
/// [`plan`] says. `Ok(Err(conclusion))` when it must wait (no clients CA yet) or cannot be done.
pub async fn reconcile_secret(
    ku: &KafkaUser,
    ctx: &Context,
    secrets: &Api<Secret>,
    own: Option<&Secret>,
    clients: &ClusterClients,
    policy: &CertificatePolicy,
) -> kube::Result<Result<(), Conclusion>> {
    let cluster = &ku.spec.cluster;
    let username = ku.name_any();
    let ca_name = names::clients_ca_secret(cluster);
    let waiting = |what: &str| {
        Conclusion::not_ready(
            UserReason::ClientsCaMissing,
            format!("cluster {cluster} has no {what} yet: the operator makes it once a listener of the cluster has tls: true"),
        )
    };
    let (Some(ca_secret), Some(ca_crt)) = (cached_or_get(ctx, secrets, &clients.namespace, &ca_name).await?, clients.ca.as_deref()) else {
        return Ok(Err(waiting(&format!("clients CA (Secret {ca_name}) or cluster CA"))));
    };
    let failed = |e: &dyn std::fmt::Display| Conclusion::not_ready(UserReason::CertificateFailed, format!("user {username}: {e}"));
    let ca = match load_from(&ca_secret, &ca_name) {
        Ok(ca) => ca,
        Err(e) => return Ok(Err(failed(&e))),
    };
    let existing = existing(own);
    let properties_of = |m: &Material| clients.for_user(&username, &ClientCredential::Tls { cert: &m.pem.cert, key: &m.pem.key });
    let facts = existing.material.as_ref().map(|m| issue::facts(&m.pem.cert).map_err(|_| ()));
    let current_properties = existing.material.as_ref().map(properties_of).unwrap_or_default();
    let wanted = Wanted { ca_crt, client_properties: &current_properties };
    let decision = plan(&existing, facts.as_ref().map(|r| r.as_ref().map_err(|_| ())), &ca.facts, &username, policy, unix_now(), wanted);
    let material = match (decision, existing.material) {
        (Plan::Keep, _) => return Ok(Ok(())),
        (Plan::Rewrite, Some(m)) => m,
        (decision, _) => {
            let reason = if let Plan::Issue(reason) = decision { reason } else { IssueReason::Missing };
            match issue(&ca, &username, policy) {
                Ok(m) => {
                    info!(user = %username, reason = reason.as_str(), "issuing the user's certificate from the clients CA");
                    m
                }
                Err(e) => return Ok(Err(failed(&e))),
            }
        }
    };
    let serial = match issue::facts(&material.pem.cert) {
        Ok(f) => f.serial,
        Err(e) => return Ok(Err(failed(&e))),
    };
    let properties = properties_of(&material);
    super::secret::apply(secrets, &secret(ku, &material, ca_crt, &properties, &serial)).await?;
    Ok(Ok(()))
}

/// The user's Secret with this material.
pub fn secret(ku: &KafkaUser, material: &Material, ca_crt: &str, client_properties: &str, serial: &str) -> Secret {
    let string = |v: &str| ByteString(v.as_bytes().to_vec());
    Secret {
        metadata: user_secret_meta(ku, (CERT_SERIAL_ANNOTATION, serial.to_owned())),
        data: Some(BTreeMap::from([
            (names::CA_CERT_KEY.to_owned(), string(ca_crt)),
            (USER_CRT_KEY.to_owned(), string(&material.pem.cert)),
            (USER_KEY_KEY.to_owned(), string(&material.pem.key)),
            (USER_P12_KEY.to_owned(), ByteString(material.p12.clone())),
            (USER_PASSWORD_KEY.to_owned(), string(&material.password)),
            (CLIENT_PROPERTIES_KEY.to_owned(), string(client_properties)),
        ])),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::certificates::issue::{DAY, new_ca};

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn item5_the_secret_plan() {
        let policy = CertificatePolicy::default();
        let ca = new_ca("c.ns clients CA", NOW - DAY, 1825).expect("ca");
        let pem = issue::issue_client(&ca, "alice", NOW - DAY, NOW + 300 * DAY).expect("client");
        let material = Material { pem: pem.clone(), p12: vec![1], password: "p".into() };
        let facts = issue::facts(&pem.cert).expect("facts");
        let current = Existing { material: Some(material.clone()), ca_crt: Some("CA".into()), client_properties: Some("P".into()) };
        const W: Wanted<'static> = Wanted { ca_crt: "CA", client_properties: "P" };
        type Case<'a> = (&'a str, Existing, Option<Result<&'a CertFacts, ()>>, Plan);
        let cases: Vec<Case<'_>> = vec![
            ("no Secret yet", Existing::default(), None, Plan::Issue(IssueReason::Missing)),
            ("a SCRAM user's Secret: no material", Existing { material: None, ..current.clone() }, None, Plan::Issue(IssueReason::Missing)),
            ("current", current.clone(), Some(Ok(&facts)), Plan::Keep),
            ("the cluster CA changed", Existing { ca_crt: Some("old CA".into()), ..current.clone() }, Some(Ok(&facts)), Plan::Rewrite),
            (
                "the listener changed",
                Existing { client_properties: Some("old".into()), ..current.clone() },
                Some(Ok(&facts)),
                Plan::Rewrite,
            ),
            ("user.crt unreadable", current.clone(), Some(Err(())), Plan::Issue(IssueReason::Unreadable)),
        ];
        for (what, existing, facts, want) in cases {
            assert_eq!(plan(&existing, facts, &ca.facts, "alice", &policy, NOW, W), want, "{what}");
        }
        // Renamed, re-signed, or due: a new certificate.
        assert_eq!(plan(&current, Some(Ok(&facts)), &ca.facts, "bob", &policy, NOW, W), Plan::Issue(IssueReason::NamesChanged));
        let other = new_ca("other", NOW - DAY, 1825).expect("ca");
        assert_eq!(plan(&current, Some(Ok(&facts)), &other.facts, "alice", &policy, NOW, W), Plan::Issue(IssueReason::OtherCa));
        assert_eq!(
            plan(&current, Some(Ok(&facts)), &ca.facts, "alice", &policy, NOW + 271 * DAY, W),
            Plan::Issue(IssueReason::Renewal),
            "30 days before its end"
        );
    }

    #[test]
    fn item5_an_issued_user_has_cn_user_and_a_pkcs12_of_key_and_chain() {
        let ca = new_ca("c.ns clients CA", unix_now(), 1825).expect("ca");
        let m = issue(&ca, "alice", &CertificatePolicy::default()).expect("issue");
        let facts = issue::facts(&m.pem.cert).expect("facts");
        assert_eq!(facts.common_name.as_deref(), Some("alice"));
        assert_eq!(facts.issuer, ca.facts.subject);
        assert!(facts.dns_names.is_empty());
        assert!(m.pem.key.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
        assert_eq!(m.password.len(), P12_PASSWORD_LEN);
        let store = p12_keystore::KeyStore::from_pkcs12(&m.p12, &m.password, p12_keystore::Pkcs12ImportPolicy::Relaxed).expect("read back");
        let (alias, chain) = store.private_key_chain().expect("a key entry");
        assert_eq!(alias, "alice");
        assert_eq!(chain.certs().len(), 2, "the certificate and the clients CA");
        assert!(p12_keystore::KeyStore::from_pkcs12(&m.p12, "wrong", p12_keystore::Pkcs12ImportPolicy::Relaxed).is_err());
    }
}

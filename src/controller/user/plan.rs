//! Pure: the desired user, its Secret and what Kafka holds → the changes to make.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::kafka_ops::ObservedUser;
use crate::kafka::ops::acls::{AclBinding, AclPlan, plan_acl_reconcile};
use crate::model::acl::Acl;
use crate::model::user::{Credentials, DesiredUser};

/// The password-related state of the user's own Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretState {
    pub password: Option<String>,
    /// The `password-hash` annotation: the hash of the password last set in Kafka.
    pub applied_hash: Option<String>,
    pub jaas: Option<String>,
}

/// Fingerprint of a user's password, recorded on its Secret once Kafka has it. The Secret holds
/// the password itself, so the fingerprint discloses nothing more.
pub fn password_hash(username: &str, password: &str) -> String {
    let digest = Sha256::digest(format!("{username}:{password}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// `sasl.jaas.config` for a SCRAM user.
pub fn jaas_config(username: &str, password: &str) -> String {
    format!("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{username}\" password=\"{password}\";")
}

/// What to do with the user's credential and Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialPlan {
    /// No credential wanted: remove what exists.
    Remove { credential: bool, secret: bool },
    /// A SCRAM credential with this password. `set_in_kafka`: upsert it (then write the Secret).
    /// `write_secret`: the Secret must be (re)written.
    Scram { password: String, set_in_kafka: bool, write_secret: bool },
}

/// Decides the credential. `source_password`: the value of the Secret the user names (for
/// [`Credentials::ScramFromSecret`]); `fresh_password`: a newly generated one, used only when
/// the user's Secret holds none.
pub fn credential_plan(
    desired: &DesiredUser,
    secret: Option<&SecretState>,
    observed: &ObservedUser,
    source_password: Option<&str>,
    fresh_password: &str,
) -> CredentialPlan {
    let password = match &desired.credentials {
        Credentials::None => {
            return CredentialPlan::Remove { credential: observed.scram_sha512, secret: secret.is_some() };
        }
        // A certificate is the credential: a SCRAM one left from before goes; the Secret stays
        // (it becomes the TLS user's, see `user::tls`).
        Credentials::Tls => return CredentialPlan::Remove { credential: observed.scram_sha512, secret: false },
        Credentials::ScramGenerated => secret.and_then(|s| s.password.clone()).unwrap_or_else(|| fresh_password.to_owned()),
        Credentials::ScramFromSecret(_) => source_password.unwrap_or(fresh_password).to_owned(),
    };
    let hash = password_hash(&desired.username, &password);
    let applied = secret.is_some_and(|s| s.applied_hash.as_deref() == Some(hash.as_str()));
    let set_in_kafka = !observed.scram_sha512 || !applied;
    let jaas = jaas_config(&desired.username, &password);
    let secret_current =
        secret.is_some_and(|s| s.password.as_deref() == Some(password.as_str()) && s.jaas.as_deref() == Some(jaas.as_str()));
    let write_secret = set_in_kafka || !secret_current || !applied;
    CredentialPlan::Scram { password, set_in_kafka, write_secret }
}

/// ACL changes: the principal's ACLs become exactly the desired set.
pub fn acl_plan(desired: &[Acl], observed: &ObservedUser) -> AclPlan {
    let desired: Vec<AclBinding> = desired.iter().map(super::acl::binding).collect();
    plan_acl_reconcile(&observed.acls, &desired)
}

/// Quota changes (by Kafka key): set the desired values that differ, remove managed keys no
/// longer wanted.
pub fn quota_plan(desired: &BTreeMap<String, f64>, observed: &BTreeMap<String, f64>) -> Vec<(String, Option<f64>)> {
    let mut ops: Vec<(String, Option<f64>)> =
        desired.iter().filter(|(k, v)| observed.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), Some(*v))).collect();
    ops.extend(observed.keys().filter(|k| super::quota::is_managed(k) && !desired.contains_key(*k)).map(|k| (k.clone(), None)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::common::SecretKeyRef;

    fn user(credentials: Credentials) -> DesiredUser {
        DesiredUser { username: "alice".into(), credentials, acls: Vec::new(), quotas: BTreeMap::new() }
    }

    fn observed(scram: bool) -> ObservedUser {
        ObservedUser { scram_sha512: scram, acls: Vec::new(), authorizer: true, quotas: BTreeMap::new() }
    }

    fn secret(password: &str, applied: bool) -> SecretState {
        SecretState {
            password: Some(password.into()),
            applied_hash: applied.then(|| password_hash("alice", password)),
            jaas: Some(jaas_config("alice", password)),
        }
    }

    #[test]
    fn credential_table() {
        let from = Credentials::ScramFromSecret(SecretKeyRef { name: "pw".into(), key: "p".into() });
        let scram =
            |password: &str, set_in_kafka, write_secret| CredentialPlan::Scram { password: password.into(), set_in_kafka, write_secret };
        let cases = vec![
            ("new generated user", user(Credentials::ScramGenerated), None, observed(false), None, scram("fresh", true, true)),
            (
                "generated, in sync",
                user(Credentials::ScramGenerated),
                Some(secret("p1", true)),
                observed(true),
                None,
                scram("p1", false, false),
            ),
            (
                "generated, lost in Kafka",
                user(Credentials::ScramGenerated),
                Some(secret("p1", true)),
                observed(false),
                None,
                scram("p1", true, true),
            ),
            (
                "generated, Secret edited by hand",
                user(Credentials::ScramGenerated),
                Some(secret("p2", false)),
                observed(true),
                None,
                scram("p2", true, true),
            ),
            ("from Secret, in sync", user(from.clone()), Some(secret("p1", true)), observed(true), Some("p1"), scram("p1", false, false)),
            ("from Secret, rotated", user(from.clone()), Some(secret("p1", true)), observed(true), Some("p2"), scram("p2", true, true)),
            (
                "no credentials",
                user(Credentials::None),
                Some(secret("p1", true)),
                observed(true),
                None,
                CredentialPlan::Remove { credential: true, secret: true },
            ),
            (
                "no credentials, none left",
                user(Credentials::None),
                None,
                observed(false),
                None,
                CredentialPlan::Remove { credential: false, secret: false },
            ),
            (
                "tls user that was a SCRAM user",
                user(Credentials::Tls),
                Some(secret("p1", true)),
                observed(true),
                None,
                CredentialPlan::Remove { credential: true, secret: false },
            ),
            ("tls user", user(Credentials::Tls), None, observed(false), None, CredentialPlan::Remove { credential: false, secret: false }),
        ];
        for (what, desired, secret, observed, source, expected) in cases {
            assert_eq!(credential_plan(&desired, secret.as_ref(), &observed, source, "fresh"), expected, "{what}");
        }
    }

    #[test]
    fn quota_table() {
        let desired = BTreeMap::from([("producer_byte_rate".to_owned(), 1024.0), ("request_percentage".to_owned(), 50.0)]);
        let observed = BTreeMap::from([
            ("producer_byte_rate".to_owned(), 1024.0),
            ("consumer_byte_rate".to_owned(), 10.0),
            ("request_percentage".to_owned(), 10.0),
        ]);
        assert_eq!(
            quota_plan(&desired, &observed),
            vec![("request_percentage".to_owned(), Some(50.0)), ("consumer_byte_rate".to_owned(), None)]
        );
        assert!(quota_plan(&desired, &desired).is_empty());
    }

    #[test]
    fn jaas_names_user_and_password() {
        assert_eq!(
            jaas_config("alice", "pw"),
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"pw\";"
        );
    }
}

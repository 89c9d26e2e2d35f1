//! Pure: a KafkaUser spec → the credentials, ACLs and quotas Kafka should hold for it, or every
//! error with its field path.

use std::collections::BTreeMap;

use super::acl::{Acl, Pattern, Permission, ResourceType};
use super::error::{Findings, ValidationErrors};
use super::names::OPERATOR_USERNAME;
use crate::api::common::SecretKeyRef;
use crate::api::user::{AclPatternType, AclResourceType as SpecResourceType, AclRuleType, KafkaUserSpec, UserAuthenticationType};

/// Kafka's name of the cluster resource in ACLs.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// A client quota a KafkaUser manages. The controller names it in Kafka's terms
/// (`controller::user::quota`); every one not in a user's spec is removed from Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaKey {
    /// Bytes per second the user may produce (`spec.quotas.producerByteRate`).
    ProducerByteRate,
    /// Bytes per second the user may fetch (`spec.quotas.consumerByteRate`).
    ConsumerByteRate,
    /// Percentage of a broker's request-handler and network threads (`spec.quotas.requestPercentage`).
    RequestPercentage,
    /// Partition mutations per second (`spec.quotas.controllerMutationRate`).
    ControllerMutationRate,
}

impl QuotaKey {
    /// Every quota a KafkaUser manages.
    pub const ALL: [QuotaKey; 4] =
        [QuotaKey::ProducerByteRate, QuotaKey::ConsumerByteRate, QuotaKey::RequestPercentage, QuotaKey::ControllerMutationRate];
}

/// Where a SCRAM user's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials in Kafka (an external identity): ACLs and quotas only.
    None,
    /// SCRAM-SHA-512 with a password Gregor generates into the user's Secret.
    ScramGenerated,
    /// SCRAM-SHA-512 with the password from a Secret the user names.
    ScramFromSecret(SecretKeyRef),
    /// A certificate signed by the cluster's clients CA, `CN=<username>`, for mutual TLS
    /// listeners (whose principal mapping makes it `User:<username>`).
    Tls,
}

/// The user as Kafka should hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredUser {
    /// Kafka user name (the resource name); the principal is `User:<username>`.
    pub username: String,
    pub credentials: Credentials,
    /// The full ACL set of the principal, sorted and without duplicates.
    pub acls: Vec<Acl>,
    /// Quota values; the [`QuotaKey`]s not listed are removed.
    pub quotas: BTreeMap<QuotaKey, f64>,
}

impl DesiredUser {
    pub fn principal(&self) -> String {
        principal(&self.username)
    }
}

/// `User:<username>`.
pub fn principal(username: &str) -> String {
    format!("User:{username}")
}

fn resource_type(t: SpecResourceType) -> ResourceType {
    match t {
        SpecResourceType::Topic => ResourceType::Topic,
        SpecResourceType::Group => ResourceType::Group,
        SpecResourceType::Cluster => ResourceType::Cluster,
        SpecResourceType::TransactionalId => ResourceType::TransactionalId,
        SpecResourceType::DelegationToken => ResourceType::DelegationToken,
    }
}

/// Whether `username` is the operator's own Kafka user, which no KafkaUser may manage.
pub fn is_operator_user(username: &str) -> bool {
    username == OPERATOR_USERNAME
}

/// Refuses a KafkaUser whose name is one of its cluster's `superUsers` unless the KafkaUser opts
/// in with `spec.allowSuperUser: true`. Needs the cluster, so it runs in the user reconcile.
pub fn check_super_user(username: &str, spec: &KafkaUserSpec, super_users: &[String]) -> Result<(), ValidationErrors> {
    if spec.allow_super_user == Some(true) || !super_users.iter().any(|u| u == username) {
        return Ok(());
    }
    let mut findings = Findings::default();
    findings.error(
        "metadata.name",
        format!(
            "{username} is in the spec.authorization.superUsers of cluster {}; set spec.allowSuperUser: true to let this KafkaUser manage a super user's credential",
            spec.cluster
        ),
    );
    findings.into_result(())
}

/// Validates a KafkaUser spec. `username` is the resource name.
pub fn desired_user(username: &str, spec: &KafkaUserSpec) -> Result<DesiredUser, ValidationErrors> {
    let mut findings = Findings::default();
    let mut error = |path: String, message: String| findings.error(path, message);
    if is_operator_user(username) {
        error(
            "metadata.name".into(),
            format!("{username} is reserved for the operator's own Kafka user (a super user); choose another name"),
        );
    }
    let credentials = match &spec.authentication {
        None => Credentials::None,
        Some(auth) => match (auth.type_, &auth.password) {
            (UserAuthenticationType::ScramSha512, None) => Credentials::ScramGenerated,
            (UserAuthenticationType::ScramSha512, Some(source)) => {
                let r = &source.value_from.secret_key_ref;
                if r.name == username {
                    error(
                        "spec.authentication.password.valueFrom.secretKeyRef.name".into(),
                        format!("must differ from the user's name: Gregor writes the Secret \"{username}\" itself"),
                    );
                }
                Credentials::ScramFromSecret(r.clone())
            }
            (UserAuthenticationType::Tls, None) => Credentials::Tls,
            (UserAuthenticationType::Tls, Some(_)) => {
                error(
                    "spec.authentication.password".into(),
                    "is for scram-sha-512 users only: a tls user authenticates with its certificate".into(),
                );
                Credentials::Tls
            }
        },
    };
    let principal = principal(username);
    let mut acls = Vec::new();
    for (i, rule) in spec.authorization.iter().flat_map(|a| a.acls.iter()).enumerate() {
        let kind = resource_type(rule.resource.type_);
        let name = match (kind, rule.resource.name.as_deref()) {
            (ResourceType::Cluster, _) => CLUSTER_RESOURCE_NAME.to_owned(),
            (_, Some(n)) if !n.is_empty() => n.to_owned(),
            _ => {
                error(format!("spec.authorization.acls[{i}].resource.name"), "is required for this resource type (\"*\" for all)".into());
                continue;
            }
        };
        let pattern_type = match (kind, rule.resource.pattern_type) {
            (ResourceType::Cluster, _) | (_, None | Some(AclPatternType::Literal)) => Pattern::Literal,
            (_, Some(AclPatternType::Prefix)) => Pattern::Prefixed,
        };
        if rule.operations.is_empty() {
            error(format!("spec.authorization.acls[{i}].operations"), "must name at least one operation".into());
        }
        let permission = match rule.type_ {
            Some(AclRuleType::Deny) => Permission::Deny,
            None | Some(AclRuleType::Allow) => Permission::Allow,
        };
        for op in &rule.operations {
            acls.push(Acl {
                resource_type: kind,
                resource_name: name.clone(),
                pattern_type,
                principal: principal.clone(),
                host: rule.host.clone().unwrap_or_else(|| "*".to_owned()),
                operation: *op,
                permission,
            });
        }
    }
    acls.sort();
    acls.dedup();
    let mut quotas = BTreeMap::new();
    if let Some(q) = &spec.quotas {
        let values = [
            (QuotaKey::ProducerByteRate, "producerByteRate", q.producer_byte_rate.map(|v| v as f64)),
            (QuotaKey::ConsumerByteRate, "consumerByteRate", q.consumer_byte_rate.map(|v| v as f64)),
            (QuotaKey::RequestPercentage, "requestPercentage", q.request_percentage.map(f64::from)),
            (QuotaKey::ControllerMutationRate, "controllerMutationRate", q.controller_mutation_rate),
        ];
        for (key, field, value) in values {
            match value {
                Some(v) if !(v.is_finite() && v >= 0.0) => {
                    error(format!("spec.quotas.{field}"), format!("must be a non-negative number, not {v}"))
                }
                Some(v) => {
                    quotas.insert(key, v);
                }
                None => {}
            }
        }
    }
    findings.into_result(DesiredUser { username: username.to_owned(), credentials, acls, quotas })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> KafkaUserSpec {
        serde_json::from_value(value).expect("spec")
    }

    #[test]
    fn acls_expand_per_operation_with_defaults() {
        let u = desired_user(
            "alice",
            &spec(json!({"cluster": "c", "authentication": {"type": "scram-sha-512"},
                "authorization": {"acls": [
                    {"resource": {"type": "topic", "name": "orders"}, "operations": ["Write", "Describe", "Write"]},
                    {"resource": {"type": "group", "name": "g-", "patternType": "prefix"}, "operations": ["Read"], "type": "deny", "host": "10.0.0.1"},
                    {"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"]}
                ]},
                "quotas": {"producerByteRate": 1024, "requestPercentage": 50}})),
        )
        .expect("valid");
        assert_eq!(u.credentials, Credentials::ScramGenerated);
        let acls: Vec<String> = u
            .acls
            .iter()
            .map(|a| {
                format!(
                    "{:?} {} {:?} {} {} {:?} {:?}",
                    a.resource_type, a.resource_name, a.pattern_type, a.principal, a.host, a.operation, a.permission
                )
            })
            .collect();
        assert_eq!(
            acls,
            vec![
                "Topic orders Literal User:alice * Write Allow",
                "Topic orders Literal User:alice * Describe Allow",
                "Group g- Prefixed User:alice 10.0.0.1 Read Deny",
                "Cluster kafka-cluster Literal User:alice * IdempotentWrite Allow",
            ]
        );
        assert_eq!(u.quotas, BTreeMap::from([(QuotaKey::ProducerByteRate, 1024.0), (QuotaKey::RequestPercentage, 50.0)]));
    }

    #[test]
    fn item5_a_tls_user_has_a_certificate_credential_and_user_principal() {
        let u = desired_user("alice", &spec(json!({"cluster": "c", "authentication": {"type": "tls"}}))).expect("valid");
        assert_eq!(u.credentials, Credentials::Tls);
        assert_eq!(u.principal(), "User:alice", "the mutual TLS listeners map CN=alice to User:alice");
    }

    #[test]
    fn errors_have_field_paths() {
        let cases = [
            (
                json!({"cluster": "c", "authentication": {"type": "tls", "password": {"valueFrom": {"secretKeyRef": {"name": "pw", "key": "p"}}}}}),
                "spec.authentication.password",
            ),
            (
                json!({"cluster": "c", "authentication": {"type": "scram-sha-512", "password": {"valueFrom": {"secretKeyRef": {"name": "alice", "key": "p"}}}}}),
                "spec.authentication.password.valueFrom.secretKeyRef.name",
            ),
            (
                json!({"cluster": "c", "authorization": {"acls": [{"resource": {"type": "topic"}, "operations": ["Read"]}]}}),
                "spec.authorization.acls[0].resource.name",
            ),
            (json!({"cluster": "c", "quotas": {"controllerMutationRate": -1.0}}), "spec.quotas.controllerMutationRate"),
        ];
        for (value, path) in cases {
            let errors = desired_user("alice", &spec(value.clone())).expect_err("invalid");
            assert_eq!(errors.0[0].path, path, "{value}");
        }
    }

    #[test]
    fn the_operator_user_is_reserved() {
        let errors = desired_user(OPERATOR_USERNAME, &spec(json!({"cluster": "c", "authentication": {"type": "scram-sha-512"}})))
            .expect_err("reserved");
        assert_eq!(errors.0[0].path, "metadata.name");
        assert!(errors.0[0].message.contains("reserved"), "{errors}");
    }

    #[test]
    fn super_users_need_the_opt_in() {
        let supers = vec!["admin".to_owned()];
        let plain = spec(json!({"cluster": "c", "authentication": {"type": "scram-sha-512"}}));
        let errors = check_super_user("admin", &plain, &supers).expect_err("super user without opt-in");
        assert_eq!(errors.0[0].path, "metadata.name");
        assert!(errors.0[0].message.contains("allowSuperUser"), "{errors}");
        assert!(check_super_user("alice", &plain, &supers).is_ok());
        let opted = spec(json!({"cluster": "c", "allowSuperUser": true, "authentication": {"type": "scram-sha-512"}}));
        assert!(check_super_user("admin", &opted, &supers).is_ok());
    }

    #[test]
    fn password_from_a_secret() {
        let u = desired_user(
            "alice",
            &spec(json!({"cluster": "c", "authentication": {"type": "scram-sha-512", "password": {"valueFrom": {"secretKeyRef": {"name": "pw", "key": "p"}}}}})),
        )
        .expect("valid");
        assert_eq!(u.credentials, Credentials::ScramFromSecret(SecretKeyRef { name: "pw".into(), key: "p".into() }));
        assert!(u.acls.is_empty() && u.quotas.is_empty());
    }
}

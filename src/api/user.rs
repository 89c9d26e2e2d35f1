//! The `KafkaUser` custom resource.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::cluster::{AuthenticationType, AuthorizationType};
use super::common::{Condition, SecretKeyRef};

/// Desired state of a Kafka user: credentials, ACLs and quotas.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kafka.gregor.dev",
    version = "v1alpha1",
    kind = "KafkaUser",
    namespaced,
    shortname = "ku",
    category = "gregor",
    status = "KafkaUserStatus",
    derive = "PartialEq",
    doc = "A Kafka user with its credentials, ACLs and quotas, managed by Gregor.",
    validation = Rule::new("self.metadata.name != 'gregor-operator'")
        .message("metadata.name: gregor-operator is reserved for the operator's own Kafka user (a super user); choose another name"),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.cluster", description = "The KafkaCluster the user belongs to"),
    printcolumn(name = "Authentication", type_ = "string", json_path = ".spec.authentication.type", description = "Authentication type"),
    printcolumn(name = "Secret", type_ = "string", json_path = ".status.secret", description = "Secret holding the credentials"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the user matches its spec"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserSpec {
    /// Name of the KafkaCluster (same namespace) the user belongs to. Immutable.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "cluster is immutable"}]))]
    pub cluster: String,
    /// How the user authenticates. Absent means no credentials (ACLs and quotas only, e.g. for an external identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<UserAuthentication>,
    /// ACLs of the user, reconciled as a full set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<UserAuthorization>,
    /// Client quotas of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<UserQuotas>,
    /// Set to true to let this KafkaUser manage a user that is in its cluster's
    /// `spec.authorization.superUsers`. Without it such a KafkaUser is refused (Ready=False,
    /// InvalidSpec) and Gregor never touches that super user's credential, ACLs or quotas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_super_user: Option<bool>,
}

/// User authentication types: the mechanisms listeners authenticate clients with.
pub type UserAuthenticationType = AuthenticationType;

/// User authentication.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthentication {
    /// scram-sha-512 (a password in a Secret named after the user: keys password, sasl.jaas.config, client.properties) or tls (a certificate CN=<user> signed by the cluster's clients CA, for mutual TLS listeners, renewed before expiry: keys ca.crt, user.crt, user.key, user.p12, user.password, client.properties).
    #[serde(rename = "type")]
    pub type_: UserAuthenticationType,
    /// For scram-sha-512: take the password from this Secret key instead of generating one. Changing the Secret rotates the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordSource>,
}

/// Where a password comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSource {
    /// The Secret key holding the password.
    pub value_from: PasswordValueFrom,
}

/// Source of a password value.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordValueFrom {
    /// A key of a Secret in the user's namespace.
    pub secret_key_ref: SecretKeyRef,
}

/// Authorizer types for users: the cluster's authorizers.
pub type UserAuthorizationType = AuthorizationType;

/// ACLs of a user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthorization {
    /// Authorizer the ACLs are meant for: simple (the default).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<UserAuthorizationType>,
    /// The ACL rules, principal User:<user name>.
    #[serde(default)]
    pub acls: Vec<AclRule>,
}

/// One ACL rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclRule {
    /// The resource the rule applies to.
    pub resource: AclResource,
    /// Operations allowed (or denied): Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens, All.
    #[schemars(length(min = 1))]
    pub operations: Vec<AclOperation>,
    /// Host the rule applies to. Default "*" (any host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// allow (default) or deny.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<AclRuleType>,
}

/// Whether an ACL grants or denies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclRuleType {
    Allow,
    Deny,
}

/// An ACL resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AclResource {
    /// Resource type: topic, group, cluster, transactionalId or delegationToken.
    #[serde(rename = "type")]
    pub type_: AclResourceType,
    /// Resource name; "*" for all. Not used for cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How the name matches: literal (default) or prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_type: Option<AclPatternType>,
}

/// ACL resource types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
}

/// ACL pattern types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AclPatternType {
    Literal,
    Prefix,
}

/// ACL operations, spelled as Kafka spells them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
}

/// Client quotas of a user.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserQuotas {
    /// Bytes per second a producer of this user may publish, per broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 0", "message": "producerByteRate must not be negative"}]))]
    pub producer_byte_rate: Option<i64>,
    /// Bytes per second a consumer of this user may fetch, per broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 0", "message": "consumerByteRate must not be negative"}]))]
    pub consumer_byte_rate: Option<i64>,
    /// Percentage of request handler and network thread time the user may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 0", "message": "requestPercentage must not be negative"}]))]
    pub request_percentage: Option<i32>,
    /// Partition mutations per second (create, delete, add partitions) the user may cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self >= 0.0", "message": "controllerMutationRate must not be negative"}]))]
    pub controller_mutation_rate: Option<f64>,
}

/// Observed state of a Kafka user.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaUserStatus {
    /// The metadata.generation the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: Ready and Warning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The user name in Kafka: its SCRAM credentials are stored under it, and its principal is
    /// `User:<username>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Name of the Secret holding the user's credentials and its ready client.properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

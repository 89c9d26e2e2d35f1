//! The ACLs a KafkaUser asks for, in the model's own terms (the model does not depend on the
//! Kafka client; the user controller converts them into the client's bindings). The orders
//! follow Kafka's wire codes, so sorted lists sort as Kafka's do.

pub use crate::api::user::AclOperation;

/// The kind of resource an ACL is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
}

/// How the resource name matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    Literal,
    Prefixed,
}

/// Whether the ACL grants or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Deny,
    Allow,
}

/// One ACL: `principal` (e.g. `User:alice`) may/may not do `operation` on a resource from `host`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Acl {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: Pattern,
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

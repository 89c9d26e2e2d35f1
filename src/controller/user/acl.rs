//! The model's ACLs as the Kafka client's bindings. Pure.

use crate::kafka::ops::acls::{AclBinding, AclOperation, AclPermission, AclResourceType, PatternType};
use crate::model::acl::{self, Acl, Pattern, Permission, ResourceType};

fn resource_type(t: ResourceType) -> AclResourceType {
    match t {
        ResourceType::Topic => AclResourceType::Topic,
        ResourceType::Group => AclResourceType::Group,
        ResourceType::Cluster => AclResourceType::Cluster,
        ResourceType::TransactionalId => AclResourceType::TransactionalId,
        ResourceType::DelegationToken => AclResourceType::DelegationToken,
    }
}

fn operation(o: acl::AclOperation) -> AclOperation {
    use acl::AclOperation as Op;
    match o {
        Op::All => AclOperation::All,
        Op::Read => AclOperation::Read,
        Op::Write => AclOperation::Write,
        Op::Create => AclOperation::Create,
        Op::Delete => AclOperation::Delete,
        Op::Alter => AclOperation::Alter,
        Op::Describe => AclOperation::Describe,
        Op::ClusterAction => AclOperation::ClusterAction,
        Op::DescribeConfigs => AclOperation::DescribeConfigs,
        Op::AlterConfigs => AclOperation::AlterConfigs,
        Op::IdempotentWrite => AclOperation::IdempotentWrite,
        Op::CreateTokens => AclOperation::CreateTokens,
        Op::DescribeTokens => AclOperation::DescribeTokens,
    }
}

/// The client's binding of one ACL.
pub fn binding(acl: &Acl) -> AclBinding {
    AclBinding {
        resource_type: resource_type(acl.resource_type),
        resource_name: acl.resource_name.clone(),
        pattern_type: match acl.pattern_type {
            Pattern::Literal => PatternType::Literal,
            Pattern::Prefixed => PatternType::Prefixed,
        },
        principal: acl.principal.clone(),
        host: acl.host.clone(),
        operation: operation(acl.operation),
        permission: match acl.permission {
            Permission::Allow => AclPermission::Allow,
            Permission::Deny => AclPermission::Deny,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_sort_as_the_model_does() {
        let acl = |resource_type, operation, permission| Acl {
            resource_type,
            resource_name: "r".into(),
            pattern_type: Pattern::Literal,
            principal: "User:a".into(),
            host: "*".into(),
            operation,
            permission,
        };
        let mut model = [
            acl(ResourceType::Cluster, acl::AclOperation::IdempotentWrite, Permission::Allow),
            acl(ResourceType::Topic, acl::AclOperation::Describe, Permission::Allow),
            acl(ResourceType::Topic, acl::AclOperation::Write, Permission::Deny),
            acl(ResourceType::Group, acl::AclOperation::Read, Permission::Allow),
        ];
        let mut client: Vec<AclBinding> = model.iter().map(binding).collect();
        model.sort();
        client.sort();
        assert_eq!(model.iter().map(binding).collect::<Vec<_>>(), client);
    }
}

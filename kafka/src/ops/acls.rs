//! CreateAcls, DeleteAcls, DescribeAcls.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{Error, Result};
use crate::router::{Client, Target};

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident = $c:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($v),* }
        impl $name {
            pub fn code(self) -> i8 { match self { $($name::$v => $c),* } }
            pub fn from_code(c: i8) -> Option<Self> { match c { $($c => Some($name::$v),)* _ => None } }
        }
    };
}

code_enum!(AclResourceType { Any = 1, Topic = 2, Group = 3, Cluster = 4, TransactionalId = 5, DelegationToken = 6, User = 7 });
code_enum!(PatternType { Any = 1, Match = 2, Literal = 3, Prefixed = 4 });
code_enum!(AclOperation {
    Any = 1, All = 2, Read = 3, Write = 4, Create = 5, Delete = 6, Alter = 7, Describe = 8,
    ClusterAction = 9, DescribeConfigs = 10, AlterConfigs = 11, IdempotentWrite = 12,
    CreateTokens = 13, DescribeTokens = 14, TwoPhaseCommit = 15,
});
code_enum!(AclPermission { Any = 1, Deny = 2, Allow = 3 });

/// One ACL: `principal` (e.g. `User:alice`) may/may not do `operation` on a resource from `host`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: AclResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBinding {
    /// An allow rule for `User:<user>` from any host on a literal resource.
    pub fn allow(user: &str, resource_type: AclResourceType, name: &str, op: AclOperation) -> Self {
        AclBinding {
            resource_type,
            resource_name: name.to_string(),
            pattern_type: PatternType::Literal,
            principal: format!("User:{user}"),
            host: "*".to_string(),
            operation: op,
            permission: AclPermission::Allow,
        }
    }
    /// A filter matching exactly this binding.
    pub fn to_filter(&self) -> AclFilter {
        AclFilter {
            resource_type: self.resource_type,
            resource_name: Some(self.resource_name.clone()),
            pattern_type: self.pattern_type,
            principal: Some(self.principal.clone()),
            host: Some(self.host.clone()),
            operation: self.operation,
            permission: self.permission,
        }
    }
}

/// A filter over ACLs; `None` and `Any` match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: AclResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclFilter {
    pub fn any() -> Self {
        AclFilter {
            resource_type: AclResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }
    /// Every ACL of one principal (e.g. `User:alice`).
    pub fn principal(principal: &str) -> Self {
        AclFilter { principal: Some(principal.to_string()), ..AclFilter::any() }
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn binding(rt: i8, name: &StrBytes, pt: i8, principal: &StrBytes, host: &StrBytes, op: i8, perm: i8) -> Result<AclBinding> {
    let bad = |what: &str, c: i8| Error::Protocol(format!("unknown ACL {what} code {c}"));
    Ok(AclBinding {
        resource_type: AclResourceType::from_code(rt).ok_or_else(|| bad("resource type", rt))?,
        resource_name: name.to_string(),
        pattern_type: PatternType::from_code(pt).ok_or_else(|| bad("pattern type", pt))?,
        principal: principal.to_string(),
        host: host.to_string(),
        operation: AclOperation::from_code(op).ok_or_else(|| bad("operation", op))?,
        permission: AclPermission::from_code(perm).ok_or_else(|| bad("permission", perm))?,
    })
}

pub fn create_acls_request(acls: &[AclBinding]) -> CreateAclsRequest {
    CreateAclsRequest::default().with_creations(
        acls.iter()
            .map(|a| {
                AclCreation::default()
                    .with_resource_type(a.resource_type.code())
                    .with_resource_name(s(&a.resource_name))
                    .with_resource_pattern_type(a.pattern_type.code())
                    .with_principal(s(&a.principal))
                    .with_host(s(&a.host))
                    .with_operation(a.operation.code())
                    .with_permission_type(a.permission.code())
            })
            .collect(),
    )
}

pub fn parse_create_acls(acls: &[AclBinding], resp: CreateAclsResponse) -> Vec<(AclBinding, Result<()>)> {
    acls.iter()
        .cloned()
        .zip(resp.results.into_iter().map(Some).chain(std::iter::repeat_with(|| None)))
        .map(|(a, r)| {
            let res = match r {
                Some(r) => Error::check("CreateAcls", r.error_code, Some(&a.principal), r.error_message.as_deref()),
                None => Err(Error::Protocol("CreateAcls: missing result".into())),
            };
            (a, res)
        })
        .collect()
}

pub fn describe_acls_request(f: &AclFilter) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(f.resource_type.code())
        .with_resource_name_filter(f.resource_name.as_deref().map(s))
        .with_pattern_type_filter(f.pattern_type.code())
        .with_principal_filter(f.principal.as_deref().map(s))
        .with_host_filter(f.host.as_deref().map(s))
        .with_operation(f.operation.code())
        .with_permission_type(f.permission.code())
}

pub fn parse_describe_acls(resp: DescribeAclsResponse) -> Result<Vec<AclBinding>> {
    Error::check("DescribeAcls", resp.error_code, None, resp.error_message.as_deref())?;
    let mut out = Vec::new();
    for r in &resp.resources {
        for a in &r.acls {
            out.push(binding(r.resource_type, &r.resource_name, r.pattern_type, &a.principal, &a.host, a.operation, a.permission_type)?);
        }
    }
    out.sort();
    Ok(out)
}

pub fn delete_acls_request(filters: &[AclFilter]) -> DeleteAclsRequest {
    DeleteAclsRequest::default().with_filters(
        filters
            .iter()
            .map(|f| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(f.resource_type.code())
                    .with_resource_name_filter(f.resource_name.as_deref().map(s))
                    .with_pattern_type_filter(f.pattern_type.code())
                    .with_principal_filter(f.principal.as_deref().map(s))
                    .with_host_filter(f.host.as_deref().map(s))
                    .with_operation(f.operation.code())
                    .with_permission_type(f.permission.code())
            })
            .collect(),
    )
}

/// Per filter: the ACLs it deleted.
pub fn parse_delete_acls(resp: DeleteAclsResponse) -> Vec<Result<Vec<AclBinding>>> {
    resp.filter_results
        .into_iter()
        .map(|r| {
            Error::check("DeleteAcls", r.error_code, None, r.error_message.as_deref())?;
            r.matching_acls
                .iter()
                .map(|m| {
                    Error::check("DeleteAcls", m.error_code, Some(&m.principal), m.error_message.as_deref())?;
                    binding(m.resource_type, &m.resource_name, m.pattern_type, &m.principal, &m.host, m.operation, m.permission_type)
                })
                .collect()
        })
        .collect()
}

impl Client {
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<Vec<(AclBinding, Result<()>)>> {
        let resp = self.send(Target::Controller, &create_acls_request(acls)).await?;
        Ok(parse_create_acls(acls, resp))
    }

    pub async fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>> {
        self.call(Target::Any, &describe_acls_request(filter), parse_describe_acls).await
    }

    pub async fn delete_acls(&self, filters: &[AclFilter]) -> Result<Vec<Result<Vec<AclBinding>>>> {
        let resp = self.send(Target::Controller, &delete_acls_request(filters)).await?;
        Ok(parse_delete_acls(resp))
    }

    /// Make `principal`'s ACLs exactly `desired`: create the missing, delete the stale.
    /// Returns (created, deleted).
    pub async fn reconcile_acls(&self, principal: &str, desired: &[AclBinding]) -> Result<(usize, usize)> {
        let current = self.describe_acls(&AclFilter::principal(principal)).await?;
        let plan = plan_acl_reconcile(&current, desired);
        let mut deleted = 0;
        if !plan.delete.is_empty() {
            let filters: Vec<AclFilter> = plan.delete.iter().map(AclBinding::to_filter).collect();
            for r in self.delete_acls(&filters).await? {
                deleted += r?.len();
            }
        }
        if !plan.create.is_empty() {
            for (_, r) in self.create_acls(&plan.create).await? {
                r?;
            }
        }
        Ok((plan.create.len(), deleted))
    }
}

/// What to create and delete to go from `current` to `desired`.
#[derive(Debug, PartialEq, Eq)]
pub struct AclPlan {
    pub create: Vec<AclBinding>,
    pub delete: Vec<AclBinding>,
}

pub fn plan_acl_reconcile(current: &[AclBinding], desired: &[AclBinding]) -> AclPlan {
    use std::collections::BTreeSet;
    let cur: BTreeSet<&AclBinding> = current.iter().collect();
    let want: BTreeSet<&AclBinding> = desired.iter().collect();
    AclPlan { create: want.difference(&cur).map(|a| (*a).clone()).collect(), delete: cur.difference(&want).map(|a| (*a).clone()).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_plan_table() {
        let a = AclBinding::allow("u", AclResourceType::Topic, "a", AclOperation::Read);
        let b = AclBinding::allow("u", AclResourceType::Topic, "b", AclOperation::Write);
        let c = AclBinding::allow("u", AclResourceType::Group, "g", AclOperation::Read);
        type Case = (Vec<AclBinding>, Vec<AclBinding>, Vec<AclBinding>, Vec<AclBinding>);
        let cases: Vec<Case> = vec![
            (vec![], vec![a.clone()], vec![a.clone()], vec![]),
            (vec![a.clone()], vec![a.clone()], vec![], vec![]),
            (vec![a.clone(), b.clone()], vec![a.clone(), c.clone()], vec![c.clone()], vec![b.clone()]),
            (vec![a.clone()], vec![], vec![], vec![a.clone()]),
        ];
        for (cur, want, create, delete) in cases {
            assert_eq!(plan_acl_reconcile(&cur, &want), AclPlan { create, delete });
        }
    }

    #[test]
    fn codes_round_trip() {
        for c in 1..=15 {
            assert_eq!(AclOperation::from_code(c).map(AclOperation::code), Some(c));
        }
        assert_eq!(AclOperation::from_code(0), None);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclPermission::Allow.code(), 3);
    }
}

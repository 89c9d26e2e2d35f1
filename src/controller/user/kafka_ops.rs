//! The user reconciler's Kafka calls, batched across every KafkaUser of one cluster: one
//! DescribeUserScramCredentials + DescribeAcls + DescribeClientQuotas for all users described
//! within a batch window, one AlterUserScramCredentials, one CreateAcls, one DeleteAcls, one
//! AlterClientQuotas.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::controller::batch::{BatchPolicy, Batcher};
use crate::controller::kafka_access::admin::Admin;
use crate::controller::kafka_access::calls::{Breaker, ClusterOps, KafkaResult, OpError, OpsRegistry, all_fail, flatten};
use crate::kafka::ops::acls::{AclBinding, AclFilter};
use crate::kafka::ops::quotas::{QuotaAlteration, QuotaMatch, user_entity};
use crate::kafka::ops::scram::{ScramMechanism, ScramUpsert};
use crate::kafka::{self, ResponseError};
use crate::model::user::principal;

/// A user as Kafka holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedUser {
    /// Whether a SCRAM-SHA-512 credential exists.
    pub scram_sha512: bool,
    /// The principal's ACLs, sorted.
    pub acls: Vec<AclBinding>,
    /// Whether the cluster has an authorizer (else ACL calls fail with SECURITY_DISABLED).
    pub authorizer: bool,
    /// The user's quotas (managed keys only).
    pub quotas: BTreeMap<String, f64>,
}

/// A change of one user's SCRAM credential.
#[derive(Debug, Clone)]
pub enum ScramChange {
    Upsert(ScramUpsert),
    Delete(String),
}

impl ScramChange {
    fn user(&self) -> &str {
        match self {
            ScramChange::Upsert(u) => &u.user,
            ScramChange::Delete(u) => u,
        }
    }
}

fn is_code(e: &kafka::Error, code: ResponseError) -> bool {
    e.kafka_code() == Some(code)
}

async fn describe_batch(client: Arc<dyn Admin>, users: Vec<String>) -> Vec<KafkaResult<ObservedUser>> {
    let mut names = users.clone();
    names.sort();
    names.dedup();
    let scram = match client.describe_scram_credentials(Some(&names)).await {
        Ok(s) => s,
        Err(e) => return all_fail(&users, e),
    };
    let (acls, authorizer) = {
        let filter = match names.as_slice() {
            [one] => AclFilter::principal(&principal(one)),
            _ => AclFilter::any(),
        };
        match client.describe_acls(&filter).await {
            Ok(acls) => (acls, true),
            Err(e) if is_code(&e, ResponseError::SecurityDisabled) => (Vec::new(), false),
            Err(e) => return all_fail(&users, e),
        }
    };
    let mut acls_by_principal: HashMap<String, Vec<AclBinding>> = HashMap::new();
    for a in acls {
        acls_by_principal.entry(a.principal.clone()).or_default().push(a);
    }
    let filter = match names.as_slice() {
        [one] => vec![QuotaMatch::Exact("user".into(), one.clone())],
        _ => vec![QuotaMatch::Any("user".into())],
    };
    let quotas = match client.describe_client_quotas(&filter, true).await {
        Ok(q) => q,
        Err(e) => return all_fail(&users, e),
    };
    let mut quotas_by_user: HashMap<String, BTreeMap<String, f64>> = HashMap::new();
    for (entity, values) in quotas {
        if let [(kind, Some(name))] = entity.as_slice()
            && kind == "user"
        {
            let managed = values.into_iter().filter(|(k, _)| super::quota::is_managed(k)).collect();
            quotas_by_user.insert(name.clone(), managed);
        }
    }
    users
        .iter()
        .map(|u| {
            let scram_sha512 = match scram.get(u) {
                Some(Ok(infos)) => infos.iter().any(|i| i.mechanism == Some(ScramMechanism::Sha512)),
                Some(Err(e)) if is_code(e, ResponseError::ResourceNotFound) => false,
                Some(Err(e)) => {
                    return Err(Arc::new(kafka::Error::Protocol(format!("DescribeUserScramCredentials for {u}: {e}"))));
                }
                None => false,
            };
            Ok(ObservedUser {
                scram_sha512,
                acls: acls_by_principal.get(&principal(u)).cloned().unwrap_or_default(),
                authorizer,
                quotas: quotas_by_user.get(u).cloned().unwrap_or_default(),
            })
        })
        .collect()
}

/// Splits flat per-element results back into one result per item (`sizes[i]` elements each).
fn regroup<T>(sizes: &[usize], flat: Vec<kafka::Result<T>>) -> Vec<KafkaResult<()>> {
    let mut flat = flat.into_iter();
    sizes
        .iter()
        .map(|n| {
            let mut outcome = Ok(());
            for _ in 0..*n {
                match flat.next() {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => outcome = Err(Arc::new(e)),
                    None => outcome = Err(Arc::new(kafka::Error::Protocol("missing result".into()))),
                }
            }
            outcome
        })
        .collect()
}

/// Batched user operations on one cluster.
pub struct UserOps {
    pub client: Arc<dyn Admin>,
    describe: Batcher<String, KafkaResult<ObservedUser>>,
    scram: Batcher<ScramChange, KafkaResult<()>>,
    create_acls: Batcher<Vec<AclBinding>, KafkaResult<()>>,
    delete_acls: Batcher<Vec<AclFilter>, KafkaResult<()>>,
    quotas: Batcher<QuotaAlteration, KafkaResult<()>>,
    breaker: Breaker,
}

impl ClusterOps for UserOps {
    fn client(&self) -> &Arc<dyn Admin> {
        &self.client
    }

    fn new(client: Arc<dyn Admin>) -> Self {
        let policy = BatchPolicy::default();
        let c = client.clone();
        let describe = Batcher::spawn("DescribeUsers", policy, move |users| describe_batch(c.clone(), users));
        let c = client.clone();
        let scram = Batcher::spawn("AlterUserScramCredentials", policy, move |changes: Vec<ScramChange>| {
            let c = c.clone();
            async move {
                let mut upserts = Vec::new();
                let mut deletions = Vec::new();
                for change in &changes {
                    match change {
                        ScramChange::Upsert(u) => upserts.push(u.clone()),
                        ScramChange::Delete(u) => deletions.push((u.clone(), ScramMechanism::Sha512)),
                    }
                }
                match c.alter_scram_credentials(&upserts, &deletions).await {
                    Err(e) => all_fail(&changes, e),
                    Ok(results) => {
                        let mut by_user: HashMap<String, KafkaResult<()>> =
                            results.into_iter().map(|(u, r)| (u, r.map_err(Arc::new))).collect();
                        changes
                            .iter()
                            .map(|ch| {
                                by_user.remove(ch.user()).unwrap_or_else(|| {
                                    Err(Arc::new(kafka::Error::Protocol(format!("AlterUserScramCredentials: no result for {}", ch.user()))))
                                })
                            })
                            .collect()
                    }
                }
            }
        });
        let c = client.clone();
        let create_acls = Batcher::spawn("CreateAcls", policy, move |per_user: Vec<Vec<AclBinding>>| {
            let c = c.clone();
            async move {
                let sizes: Vec<usize> = per_user.iter().map(Vec::len).collect();
                let all: Vec<AclBinding> = per_user.into_iter().flatten().collect();
                match c.create_acls(&all).await {
                    Err(e) => all_fail(&sizes, e),
                    Ok(results) => regroup(&sizes, results.into_iter().map(|(_, r)| r).collect()),
                }
            }
        });
        let c = client.clone();
        let delete_acls = Batcher::spawn("DeleteAcls", policy, move |per_user: Vec<Vec<AclFilter>>| {
            let c = c.clone();
            async move {
                let sizes: Vec<usize> = per_user.iter().map(Vec::len).collect();
                let all: Vec<AclFilter> = per_user.into_iter().flatten().collect();
                match c.delete_acls(&all).await {
                    Err(e) => all_fail(&sizes, e),
                    Ok(results) => regroup(&sizes, results),
                }
            }
        });
        let c = client.clone();
        let quotas = Batcher::spawn("AlterClientQuotas", policy, move |alts: Vec<QuotaAlteration>| {
            let c = c.clone();
            async move {
                match c.alter_client_quotas(&alts, false).await {
                    Err(e) => all_fail(&alts, e),
                    Ok(results) => {
                        let mut by_entity: HashMap<Vec<(String, Option<String>)>, KafkaResult<()>> =
                            results.into_iter().map(|(e, r)| (e, r.map_err(Arc::new))).collect();
                        alts.iter()
                            .map(|a| {
                                by_entity.remove(&a.entity).unwrap_or_else(|| {
                                    Err(Arc::new(kafka::Error::Protocol(format!("AlterClientQuotas: no result for {:?}", a.entity))))
                                })
                            })
                            .collect()
                    }
                }
            }
        });
        UserOps { client, describe, scram, create_acls, delete_acls, quotas, breaker: Breaker::default() }
    }
}

impl UserOps {
    /// Describes a user; fails fast for a while after the cluster did not answer.
    pub async fn describe(&self, username: &str) -> Result<ObservedUser, OpError> {
        self.breaker.check()?;
        let result = flatten(self.describe.call(username.to_owned()).await);
        self.breaker.record(&result);
        result
    }

    /// Sets a user's SCRAM-SHA-512 password (salted here; only the salted form is sent).
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), OpError> {
        let upsert = ScramUpsert::new(username, password, ScramMechanism::Sha512, ScramMechanism::MIN_ITERATIONS);
        flatten(self.scram.call(ScramChange::Upsert(upsert)).await)
    }

    /// Removes a user's SCRAM-SHA-512 credential; a user without one is not an error.
    pub async fn delete_password(&self, username: &str) -> Result<(), OpError> {
        match flatten(self.scram.call(ScramChange::Delete(username.to_owned())).await) {
            Err(e) if e.code() == Some(ResponseError::ResourceNotFound) => Ok(()),
            other => other,
        }
    }

    pub async fn create_acls(&self, acls: Vec<AclBinding>) -> Result<(), OpError> {
        if acls.is_empty() {
            return Ok(());
        }
        flatten(self.create_acls.call(acls).await)
    }

    pub async fn delete_acls(&self, filters: Vec<AclFilter>) -> Result<(), OpError> {
        if filters.is_empty() {
            return Ok(());
        }
        match flatten(self.delete_acls.call(filters).await) {
            Err(e) if e.code() == Some(ResponseError::SecurityDisabled) => Ok(()),
            other => other,
        }
    }

    /// Sets (`Some`) or removes (`None`) quota keys of a user.
    pub async fn alter_quotas(&self, username: &str, ops: Vec<(String, Option<f64>)>) -> Result<(), OpError> {
        if ops.is_empty() {
            return Ok(());
        }
        flatten(self.quotas.call(QuotaAlteration { entity: user_entity(username), ops }).await)
    }
}

/// One [`UserOps`] per cluster.
pub type UserOpsRegistry = OpsRegistry<UserOps>;

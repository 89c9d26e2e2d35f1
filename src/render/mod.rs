//! Pure model -> Kubernetes objects. Nothing here talks to the API server.
//!
//! Entry point: [`render`], which returns [`ClusterObjects`]: per cluster a ServiceAccount, a headless and a
//! bootstrap Service and a PodDisruptionBudget, and per pool a ConfigMap (server.properties, start.sh) and
//! a StatefulSet.
pub mod client_properties;
pub mod config;
pub mod kinds;
pub mod meta;
pub mod metrics_agent;
pub mod pdb;
pub mod revision;
pub mod script;
pub mod service;
pub mod service_account;
pub mod statefulset;

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::StatefulSet,
        core::v1::{ConfigMap, Service, ServiceAccount},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Serialize;

use crate::model::{ClusterModel, PoolModel, names};

/// Errors of rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// An object could not be serialized (for hashing or output).
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// An object could not be written as YAML.
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// Every object of one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterObjects {
    /// The pods' ServiceAccount.
    pub service_account: ServiceAccount,
    /// `<cluster>-kafka-brokers`.
    pub headless_service: Service,
    /// `<cluster>-kafka-bootstrap`.
    pub bootstrap_service: Service,
    /// `<cluster>-kafka`.
    pub pod_disruption_budget: PodDisruptionBudget,
    /// Per pool, in spec order.
    pub pools: Vec<PoolObjects>,
}

/// The objects of one node pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolObjects {
    /// Pool name.
    pub pool: String,
    /// `<cluster>-<pool>-config` with `server.properties`, `start.sh` and, with the JMX exporter, its rules.
    pub config_map: ConfigMap,
    /// `<cluster>-<pool>`.
    pub stateful_set: StatefulSet,
    /// Value of the pod template's `kafka.gregor.dev/revision` annotation.
    pub revision: String,
    /// Value of the pod template's `kafka.gregor.dev/config-hash` annotation.
    pub config_hash: String,
}

macro_rules! object_ref {
    ($($kind:ident($ty:ty) => $field:ident,)*) => {
        /// A reference to any rendered object, for generic handling (output, uniqueness checks, apply).
        #[derive(Debug, Clone, Copy)]
        pub enum ObjectRef<'a> {
            $($kind(&'a $ty),)*
        }

        impl<'a> ObjectRef<'a> {
            /// Kind of the object.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(ObjectRef::$kind(_) => stringify!($kind),)*
                }
            }

            /// Metadata of the object.
            pub fn metadata(&self) -> &'a ObjectMeta {
                match *self {
                    $(ObjectRef::$kind(o) => &o.metadata,)*
                }
            }

            /// The object as JSON, with apiVersion and kind.
            pub fn to_json(&self) -> Result<serde_json::Value, RenderError> {
                let result = match self {
                    $(ObjectRef::$kind(o) => serde_json::to_value(o),)*
                };
                result.map_err(|source| RenderError::Serialize { what: format!("{} {}", self.kind(), self.name()), source })
            }
        }
    };
}
crate::with_child_kinds!(object_ref);

impl<'a> ObjectRef<'a> {
    /// Name of the object.
    pub fn name(&self) -> &'a str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}

impl ClusterObjects {
    /// Every object, cluster-wide ones first, then per pool the ConfigMap before its StatefulSet.
    pub fn iter(&self) -> impl Iterator<Item = ObjectRef<'_>> {
        [
            ObjectRef::ServiceAccount(&self.service_account),
            ObjectRef::Service(&self.headless_service),
            ObjectRef::Service(&self.bootstrap_service),
            ObjectRef::PodDisruptionBudget(&self.pod_disruption_budget),
        ]
        .into_iter()
        .chain(self.pools.iter().flat_map(|p| [ObjectRef::ConfigMap(&p.config_map), ObjectRef::StatefulSet(&p.stateful_set)]))
    }
}

/// Key of server.properties in a pool's ConfigMap.
pub const SERVER_PROPERTIES_KEY: &str = "server.properties";
/// Key of the start script in a pool's ConfigMap.
pub const START_SCRIPT_KEY: &str = "start.sh";

fn json_bytes<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, RenderError> {
    serde_json::to_vec(value).map_err(|source| RenderError::Serialize { what: what.to_owned(), source })
}

fn render_pool(model: &ClusterModel, pool: &PoolModel) -> Result<PoolObjects, RenderError> {
    let properties = config::server_properties(model, pool);
    let start_script = script::start_script(model, pool);
    let pod_spec = statefulset::pod_spec(model, pool);
    let pod_labels = statefulset::pod_labels(model, pool);
    let metrics_rules = model.jmx_exporter.as_ref().map(|_| metrics_agent::rules_file());
    let (spec_bytes, label_bytes) = (json_bytes("pod spec", &pod_spec)?, json_bytes("pod labels", &pod_labels)?);
    let mut revision_parts: Vec<&[u8]> = vec![&spec_bytes, &label_bytes, properties.operator_part.as_bytes(), start_script.as_bytes()];
    // The agent reads its rules at start only, so a change of them needs a restart. Without the
    // agent the parts (and so every existing revision) stay as they were.
    if let Some(rules) = &metrics_rules {
        revision_parts.push(rules.as_bytes());
    }
    let revision = revision::hash(&revision_parts);
    let config_hash = revision::hash(&[properties.user_part.as_bytes()]);
    let mut annotations = pool.template.pod_annotations.clone();
    annotations.insert(names::annotations::REVISION.to_owned(), revision.clone());
    annotations.insert(names::annotations::CONFIG_HASH.to_owned(), config_hash.clone());

    let mut data = BTreeMap::from([(SERVER_PROPERTIES_KEY.to_owned(), properties.text()), (START_SCRIPT_KEY.to_owned(), start_script)]);
    if let Some(rules) = metrics_rules {
        data.insert(metrics_agent::RULES_KEY.to_owned(), rules);
    }
    let config_map = ConfigMap {
        metadata: meta::pool_object(model, pool, names::pool_config_map(&model.name, &pool.name)),
        data: Some(data),
        ..ConfigMap::default()
    };
    Ok(PoolObjects {
        pool: pool.name.clone(),
        config_map,
        stateful_set: statefulset::stateful_set(model, pool, annotations),
        revision,
        config_hash,
    })
}

/// Renders every object of a validated cluster.
pub fn render(model: &ClusterModel) -> Result<ClusterObjects, RenderError> {
    Ok(ClusterObjects {
        service_account: service_account::service_account(model),
        headless_service: service::headless_service(model),
        bootstrap_service: service::bootstrap_service(model),
        pod_disruption_budget: pdb::pod_disruption_budget(model),
        pools: model.pools.iter().map(|pool| render_pool(model, pool)).collect::<Result<_, _>>()?,
    })
}

/// One object as a YAML document (without the leading `---`).
pub fn to_yaml(object: &ObjectRef<'_>) -> Result<String, RenderError> {
    Ok(serde_yaml::to_string(&object.to_json()?)?)
}

/// Every object as multi-document YAML.
pub fn to_multi_doc_yaml(objects: &ClusterObjects) -> Result<String, RenderError> {
    let mut out = String::new();
    for object in objects.iter() {
        out.push_str("---\n");
        out.push_str(&to_yaml(&object)?);
    }
    Ok(out)
}

//! The StatefulSet of a node pool.
use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{
            StatefulSet, StatefulSetOrdinals, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetUpdateStrategy,
        },
        core::v1::{
            Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, KeyToPath,
            ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
            SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext, TCPSocketAction, Volume, VolumeMount,
            VolumeResourceRequirements,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};

use super::{
    config::{DATA_MOUNT, OPERATOR_PASSWORD_ENV},
    meta, metrics_agent,
    script::{
        CONFIG_MOUNT, NODE_CERTS_MOUNT, OPERATOR_SCRAM_MOUNT, RACK_ENV, RUN_MOUNT, SCRAM_ITERATIONS_KEY, SCRAM_SALT_KEY,
        SCRAM_SALTED_PASSWORD_KEY,
    },
};
use crate::model::{ClusterModel, InternalSecurity, PoolModel, StorageModel, names};

/// Volume names.
const CONFIG_VOLUME: &str = "config";
const RUN_VOLUME: &str = "run";
const TMP_VOLUME: &str = "tmp";
const DATA_VOLUME: &str = "data";
const OPERATOR_SCRAM_VOLUME: &str = "operator-scram";
const NODE_CERTS_VOLUME: &str = "node-certs";
/// UID and GID of the apache/kafka image's `appuser`.
const KAFKA_UID: i64 = 1000;

fn field_env(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: field_path.to_owned(), api_version: None }),
            ..EnvVarSource::default()
        }),
        value: None,
    }
}

fn value_env(name: &str, value: String) -> EnvVar {
    EnvVar { name: name.to_owned(), value: Some(value), value_from: None }
}

fn env(model: &ClusterModel, pool: &PoolModel) -> Vec<EnvVar> {
    let mut env =
        vec![field_env("POD_NAME", "metadata.name"), field_env("POD_NAMESPACE", "metadata.namespace"), field_env("POD_IP", "status.podIP")];
    if let (Some(rack), true) = (&model.rack, pool.role.is_broker()) {
        // The zone/region label is copied from the node onto the pod at binding (PodTopologyLabelsAdmission).
        env.push(field_env(RACK_ENV, &format!("metadata.labels['{}']", rack.topology_key)));
    }
    if let Some(heap) = pool.heap_bytes {
        let mib = (heap / (1024 * 1024)).max(1);
        env.push(value_env("KAFKA_HEAP_OPTS", format!("-Xms{mib}m -Xmx{mib}m")));
    }
    if !pool.jvm_extra_options.is_empty() {
        env.push(value_env("KAFKA_OPTS", pool.jvm_extra_options.join(" ")));
    }
    env.push(value_env("LOG_DIR", format!("{RUN_MOUNT}/logs")));
    if model.security == InternalSecurity::Secured {
        env.push(EnvVar {
            name: OPERATOR_PASSWORD_ENV.to_owned(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: names::operator_secret(&model.name),
                    key: names::OPERATOR_PASSWORD_KEY.to_owned(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            value: None,
        });
    }
    env
}

fn container_port(name: String, port: i32) -> ContainerPort {
    ContainerPort { name: Some(name), container_port: port, protocol: Some("TCP".to_owned()), ..ContainerPort::default() }
}

fn ports(model: &ClusterModel, pool: &PoolModel) -> Vec<ContainerPort> {
    let mut ports = Vec::new();
    if pool.role.is_controller() {
        ports.push(container_port("tcp-controller".to_owned(), names::CONTROLLER_PORT));
    }
    if pool.role.is_broker() {
        ports.push(container_port("tcp-replication".to_owned(), names::REPLICATION_PORT));
        ports.extend(model.listeners.iter().map(|l| container_port(super::service::listener_port_name(&l.name), l.port)));
    }
    if let Some(exporter) = &model.jmx_exporter {
        ports.push(container_port(metrics_agent::PORT_NAME.to_owned(), exporter.port));
    }
    ports
}

/// The port that is open only once the node serves: the replication listener of a broker (bound after the
/// broker caught up with the metadata log), the controller listener of a controller-only node.
pub fn serving_port(pool: &PoolModel) -> i32 {
    if pool.role.is_broker() { names::REPLICATION_PORT } else { names::CONTROLLER_PORT }
}

fn tcp_probe(port: i32, period: i32, failures: i32, initial_delay: Option<i32>) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(port), host: None }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        initial_delay_seconds: initial_delay,
        timeout_seconds: Some(5),
        ..Probe::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount { name: name.to_owned(), mount_path: path.to_owned(), ..VolumeMount::default() }
}

fn volume_mounts(model: &ClusterModel) -> Vec<VolumeMount> {
    let mut mounts = vec![
        // ConfigMap volumes are read-only by nature; no readOnly flag needed.
        mount(CONFIG_VOLUME, CONFIG_MOUNT),
        mount(RUN_VOLUME, RUN_MOUNT),
        mount(TMP_VOLUME, "/tmp"),
        mount(DATA_VOLUME, DATA_MOUNT),
    ];
    if model.security == InternalSecurity::Secured {
        mounts.push(VolumeMount { read_only: Some(true), ..mount(OPERATOR_SCRAM_VOLUME, OPERATOR_SCRAM_MOUNT) });
    }
    if model.tls_enabled() {
        mounts.push(VolumeMount { read_only: Some(true), ..mount(NODE_CERTS_VOLUME, NODE_CERTS_MOUNT) });
    }
    if model.jmx_exporter.is_some() {
        mounts.push(metrics_agent::volume_mount(true));
    }
    mounts
}

/// The node certificates Secret (every node's `<pod>.pem` and the CA's `ca.crt`), readable by the
/// Kafka user only. A Secret volume, so a renewed certificate reaches the running pod.
fn node_certs_volume(model: &ClusterModel) -> Volume {
    Volume {
        name: NODE_CERTS_VOLUME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(names::node_certs_secret(&model.name)),
            items: None,
            default_mode: Some(0o400),
            optional: Some(false),
        }),
        ..Volume::default()
    }
}

/// The operator's salted SCRAM credential (never its password), for the format step: three keys of
/// the operator Secret as files readable by the Kafka user only.
fn operator_scram_volume(model: &ClusterModel) -> Volume {
    let item = |key: &str| KeyToPath { key: key.to_owned(), path: key.to_owned(), mode: None };
    Volume {
        name: OPERATOR_SCRAM_VOLUME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(names::operator_secret(&model.name)),
            items: Some(vec![item(SCRAM_ITERATIONS_KEY), item(SCRAM_SALT_KEY), item(SCRAM_SALTED_PASSWORD_KEY)]),
            default_mode: Some(0o400),
            optional: Some(false),
        }),
        ..Volume::default()
    }
}

fn container(model: &ClusterModel, pool: &PoolModel) -> Container {
    let port = serving_port(pool);
    Container {
        name: names::KAFKA_CONTAINER.to_owned(),
        image: Some(model.image.clone()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        command: Some(vec!["/bin/bash".to_owned(), format!("{CONFIG_MOUNT}/start.sh")]),
        env: Some(env(model, pool)),
        ports: Some(ports(model, pool)),
        resources: pool.resources.clone(),
        volume_mounts: Some(volume_mounts(model)),
        // Readiness: the node serves. Liveness: the node still listens. The startup probe holds liveness back
        // while Kafka recovers its logs, which can take long and must never be interrupted.
        readiness_probe: Some(tcp_probe(port, 5, 3, None)),
        liveness_probe: Some(tcp_probe(port, 10, 6, Some(60))),
        startup_probe: Some(tcp_probe(port, 10, 8640, None)),
        security_context: Some(restricted_security_context()),
        ..Container::default()
    }
}

fn empty_dir(name: &str, size_limit: Option<&String>) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource { size_limit: size_limit.map(|s| Quantity(s.clone())), medium: None }),
        ..Volume::default()
    }
}

fn volumes(model: &ClusterModel, pool: &PoolModel) -> Vec<Volume> {
    let mut volumes = vec![
        Volume {
            name: CONFIG_VOLUME.to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: names::pool_config_map(&model.name, &pool.name),
                default_mode: Some(0o444),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        empty_dir(RUN_VOLUME, None),
        empty_dir(TMP_VOLUME, None),
    ];
    if let StorageModel::Ephemeral { size_limit } = &pool.storage {
        volumes.push(empty_dir(DATA_VOLUME, size_limit.as_ref()));
    }
    if model.security == InternalSecurity::Secured {
        volumes.push(operator_scram_volume(model));
    }
    if model.tls_enabled() {
        volumes.push(node_certs_volume(model));
    }
    if model.jmx_exporter.is_some() {
        volumes.push(empty_dir(metrics_agent::VOLUME, None));
    }
    volumes
}

fn claim_templates(model: &ClusterModel, pool: &PoolModel) -> Option<Vec<PersistentVolumeClaim>> {
    let StorageModel::PersistentClaim { size, class, .. } = &pool.storage else { return None };
    Some(vec![PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.to_owned()),
            labels: Some(meta::pool_labels(model, pool)),
            annotations: Some(BTreeMap::from([(names::annotations::CLUSTER_ID.to_owned(), model.cluster_id.clone())])),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(size.clone()))])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }])
}

fn retention_policy(pool: &PoolModel) -> Option<StatefulSetPersistentVolumeClaimRetentionPolicy> {
    let StorageModel::PersistentClaim { delete_claim, .. } = &pool.storage else { return None };
    let policy = if *delete_claim { "Delete" } else { "Retain" };
    Some(StatefulSetPersistentVolumeClaimRetentionPolicy { when_deleted: Some(policy.to_owned()), when_scaled: Some(policy.to_owned()) })
}

/// Labels on the pool's pods.
pub fn pod_labels(model: &ClusterModel, pool: &PoolModel) -> BTreeMap<String, String> {
    let mut labels = pool.template.pod_labels.clone();
    labels.extend(meta::pool_labels(model, pool));
    if pool.role.is_broker() {
        labels.insert(names::labels::BROKER_ROLE.to_owned(), "true".to_owned());
    }
    labels
}

/// The pod spec of a pool (without the revision annotations, which hash it).
pub fn pod_spec(model: &ClusterModel, pool: &PoolModel) -> PodSpec {
    let template = &pool.template;
    PodSpec {
        service_account_name: Some(names::service_account(&model.name)),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(pool.termination_grace_period_seconds),
        init_containers: model.jmx_exporter.as_ref().map(|exporter| vec![metrics_agent::init_container(exporter)]),
        containers: vec![container(model, pool)],
        volumes: Some(volumes(model, pool)),
        affinity: template.affinity.clone(),
        tolerations: (!template.tolerations.is_empty()).then(|| template.tolerations.clone()),
        topology_spread_constraints: (!template.topology_spread_constraints.is_empty())
            .then(|| template.topology_spread_constraints.clone()),
        node_selector: (!template.node_selector.is_empty()).then(|| template.node_selector.clone()),
        priority_class_name: template.priority_class_name.clone(),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(KAFKA_UID),
            run_as_group: Some(KAFKA_UID),
            fs_group: Some(KAFKA_UID),
            fs_group_change_policy: Some("OnRootMismatch".to_owned()),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), localhost_profile: None }),
            ..PodSecurityContext::default()
        }),
        ..PodSpec::default()
    }
}

/// The StatefulSet of a pool. `annotations` go on the pod template (revision hashes plus the user's).
pub fn stateful_set(model: &ClusterModel, pool: &PoolModel, pod_annotations: BTreeMap<String, String>) -> StatefulSet {
    StatefulSet {
        metadata: meta::pool_object(model, pool, names::statefulset(&model.name, &pool.name)),
        spec: Some(StatefulSetSpec {
            service_name: Some(names::headless_service(&model.name)),
            replicas: Some(pool.replicas),
            ordinals: Some(StatefulSetOrdinals { start: Some(pool.node_id_start) }),
            selector: LabelSelector { match_labels: Some(names::pool_selector(&model.name, &pool.name)), match_expressions: None },
            pod_management_policy: Some("Parallel".to_owned()),
            update_strategy: Some(StatefulSetUpdateStrategy { type_: Some("OnDelete".to_owned()), rolling_update: None }),
            persistent_volume_claim_retention_policy: retention_policy(pool),
            volume_claim_templates: claim_templates(model, pool),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels(model, pool)),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(model, pool)),
            },
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

/// The container security context of every container Gregor renders in a Kafka pod: no
/// privilege escalation, a read-only root file system, non-root, no capabilities.
pub(crate) fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), add: None }),
        ..SecurityContext::default()
    }
}

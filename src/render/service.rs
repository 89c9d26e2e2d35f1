//! The headless Service (stable pod DNS names) and the bootstrap Service (client entry point).
use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::meta;
use crate::model::{ClusterModel, names};

fn port(name: String, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name),
        port,
        target_port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

/// Port name of a client listener (`tcp-<name>`, at most 15 characters).
pub fn listener_port_name(listener: &str) -> String {
    format!("tcp-{listener}")
}

/// Headless Service `<cluster>-kafka-brokers` over every Kafka pod, ready or not, so that nodes find each
/// other while they start.
pub fn headless_service(model: &ClusterModel) -> Service {
    let mut ports =
        vec![port("tcp-controller".to_owned(), names::CONTROLLER_PORT), port("tcp-replication".to_owned(), names::REPLICATION_PORT)];
    ports.extend(model.listeners.iter().map(|l| port(listener_port_name(&l.name), l.port)));
    Service {
        metadata: meta::cluster_object(model, names::headless_service(&model.name)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(names::cluster_selector(&model.name)),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Bootstrap Service `<cluster>-kafka-bootstrap` over the ready brokers, one port per client listener.
pub fn bootstrap_service(model: &ClusterModel) -> Service {
    let mut selector = names::cluster_selector(&model.name);
    selector.insert(names::labels::BROKER_ROLE.to_owned(), "true".to_owned());
    Service {
        metadata: meta::cluster_object(model, names::bootstrap_service(&model.name)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector),
            ports: Some(model.listeners.iter().map(|l| port(listener_port_name(&l.name), l.port)).collect()),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

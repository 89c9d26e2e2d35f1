//! Renewal without restarts (issue #13, item 7, leaf certificates), run inside the TLS suite's
//! cluster: `kafka.gregor.dev/renew-certificates=true` re-issues every node certificate, and
//! under acks=all idempotent traffic from Kafka's VerifiableProducer over SSL every broker
//! listener ends up serving a new serial (read by openssl, not by Gregor), with no pod restarted,
//! no failed produce and no lost record.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::support::traffic::{Producer, consume_all_with};
use crate::support::*;
use gregor::api::KafkaCluster;
use gregor_world::World;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

const RENEW: &str = "kafka.gregor.dev/renew-certificates";

/// One broker TLS listener.
pub(crate) struct Listener {
    pub pod: String,
    pub host: String,
    pub port: i32,
}

/// The serial (hex, upper case, as `openssl x509 -serial` prints it) that `host:port` serves,
/// verified against `ca_file` by openssl.
fn served_serial(world: &World, dir: &Path, listener: &Listener, ca_file: &str) -> Option<String> {
    let (status, stdout, _) = crate::tls::s_client(world, &listener.host, listener.port, ca_file);
    if status != 0 || !stdout.contains("Verify return code: 0 (ok)") {
        return None;
    }
    let start = stdout.find("-----BEGIN CERTIFICATE-----")?;
    let end = stdout[start..].find("-----END CERTIFICATE-----")? + start + "-----END CERTIFICATE-----".len();
    let file =
        crate::tls::write(&dir.join(format!("served-{}-{}.crt", listener.pod, listener.port)), &format!("{}\n", &stdout[start..end]));
    serial_of_file(&file)
}

fn serial_of_file(file: &str) -> Option<String> {
    let out = std::process::Command::new("openssl").args(["x509", "-noout", "-serial", "-in", file]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().strip_prefix("serial=").map(|s| s.to_ascii_uppercase())
}

/// The serial of the certificate the node certificates Secret holds for `pod`, read by openssl.
fn secret_serial(dir: &Path, node_certs: &Secret, pod: &str) -> String {
    let pem = crate::tls::secret_text(node_certs, &format!("{pod}.pem"));
    let start = pem.find("-----BEGIN CERTIFICATE-----").expect("a certificate");
    let file = crate::tls::write(&dir.join(format!("secret-{pod}.crt")), &pem[start..]);
    serial_of_file(&file).expect("openssl x509 -serial")
}

/// Forces a renewal of every node certificate under traffic and checks it went live with no
/// restart. `listeners`: every broker TLS listener; `bootstrap` and `client_properties`: how the
/// independent producer and consumer reach the SSL listener.
pub(crate) async fn item7_forced_leaf_renewal_restarts_no_pod(
    world: &World,
    client: &kube::Client,
    (ns, cluster): (&str, &str),
    listeners: &[Listener],
    (bootstrap, client_properties): (&str, &str),
    ca_file: &str,
    op: &Operator,
) {
    let dir = world.dir().join("tls-renewal-e2e");
    std::fs::create_dir_all(&dir).expect("dir");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let node_certs_name = format!("{cluster}-kafka-node-certs");
    let before: BTreeMap<(String, i32), String> = listeners
        .iter()
        .map(|l| {
            ((l.pod.clone(), l.port), served_serial(world, &dir, l, ca_file).unwrap_or_else(|| panic!("{}:{} serves", l.host, l.port)))
        })
        .collect();
    let pods_before: BTreeMap<String, (String, i32)> = pod_identities(client, ns, cluster).await;

    // Traffic from Kafka's own client, over SSL, through the renewal.
    let topic = "renewal-traffic";
    let spec = json!({"apiVersion": "kafka.gregor.dev/v1alpha1", "kind": "KafkaTopic", "metadata": {"name": topic, "namespace": ns},
        "spec": {"cluster": cluster, "partitions": 3, "replicas": 3}});
    apply_json::<gregor::api::KafkaTopic>(client, ns, spec).await.expect("topic");
    wait_topic(client, ns, topic, true, None, Duration::from_secs(120), op).await;
    let producer = Producer::start_with(world, "4.4.0", bootstrap, topic, 100, client_properties);
    tokio::time::sleep(Duration::from_secs(8)).await;

    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let patch = json!({"metadata": {"annotations": {RENEW: "true"}}});
    clusters.patch(cluster, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
    println!("PASS asked for new node certificates ({RENEW}=true) under traffic");

    // The operator re-issues (a new serial in the Secret for every node) and takes the annotation off.
    let node_certs = wait_for("new node certificates in the Secret and the annotation removed", Duration::from_secs(120), || async {
        let kc = clusters.get(cluster).await.ok()?;
        (!kc.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(RENEW))).then_some(())?;
        let secret = secrets.get(&node_certs_name).await.ok()?;
        listeners.iter().all(|l| before.get(&(l.pod.clone(), l.port)) != Some(&secret_serial(&dir, &secret, &l.pod))).then_some(secret)
    })
    .await;
    let wanted: BTreeMap<String, String> = listeners.iter().map(|l| (l.pod.clone(), secret_serial(&dir, &node_certs, &l.pod))).collect();

    // Every broker listener serves its new certificate, as openssl sees it.
    let served = wait_for("every broker listener serving its new certificate", Duration::from_secs(180), || async {
        let now: BTreeMap<(String, i32), String> =
            listeners.iter().filter_map(|l| served_serial(world, &dir, l, ca_file).map(|s| ((l.pod.clone(), l.port), s))).collect();
        listeners.iter().all(|l| now.get(&(l.pod.clone(), l.port)) == wanted.get(&l.pod)).then_some(now)
    })
    .await;
    for l in listeners {
        let key = (l.pod.clone(), l.port);
        println!(
            "PASS {}:{} serves serial {} (was {}), verified by openssl against the cluster CA",
            l.host, l.port, served[&key], before[&key]
        );
    }

    // The operator says so in an Event.
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let reloaded = wait_for("a CertificatesReloaded Event", Duration::from_secs(60), || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("CertificatesReloaded"))
    })
    .await;
    println!("PASS Event CertificatesReloaded: {}", reloaded.message.unwrap_or_default());

    tokio::time::sleep(Duration::from_secs(5)).await;
    let produced = producer.stop().await;
    assert!(produced.errors.is_empty(), "failed produces during the renewal: {:#?}", produced.errors);
    assert!(produced.acked.len() > 100, "traffic went on: {} acknowledged", produced.acked.len());
    let config = crate::tls::write(&dir.join("consumer.properties"), client_properties);
    let read = consume_all_with(world, "4.4.0", bootstrap, topic, Some(&config)).await;
    let lost: Vec<&String> = produced.acked.iter().filter(|v| !read.contains(*v)).collect();
    assert!(lost.is_empty(), "{} acknowledged records lost, e.g. {:?}", lost.len(), lost.iter().take(5).collect::<Vec<_>>());
    println!(
        "PASS {} records acknowledged (acks=all, idempotent) over SSL during the renewal, 0 failed, 0 lost (read back over SSL)",
        produced.acked.len()
    );

    let pods_after = pod_identities(client, ns, cluster).await;
    assert_eq!(pods_after, pods_before, "no pod was re-created or restarted (uid, restart count)");
    println!("PASS 0 pod restarts: all {} pods keep their uid and restart count", pods_after.len());

    // status.certificates (item 8): both CAs and every node, each broker's end as openssl reads
    // it from the certificate the broker serves, and nothing left Reloading.
    let served_ends: BTreeMap<String, String> = listeners
        .iter()
        .map(|l| (l.pod.clone(), not_after_of_file(&dir.join(format!("served-{}-{}.crt", l.pod, l.port))).expect("openssl -enddate")))
        .collect();
    let kc = wait_for("status.certificates with every broker Valid", Duration::from_secs(60), || async {
        let kc = clusters.get(cluster).await.ok()?;
        let certs = &kc.status.as_ref()?.certificates;
        listeners
            .iter()
            .all(|l| certs.iter().any(|c| c.name == l.pod && c.phase == gregor::api::cluster::CertificatePhase::Valid))
            .then_some(kc)
    })
    .await;
    let certs = kc.status.map(|s| s.certificates).unwrap_or_default();
    let kinds: Vec<_> = certs.iter().map(|c| serde_json::to_value(c.kind).expect("kind")).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "clusterCa").count(), 1, "{certs:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "clientsCa").count(), 1, "{certs:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "node").count(), pods_after.len(), "one per node: {certs:?}");
    for (pod, end) in &served_ends {
        let entry = certs.iter().find(|c| &c.name == pod).expect("the broker's entry");
        assert_eq!(&entry.not_after, end, "{pod}: status.certificates notAfter is the served certificate's, as openssl reads it");
    }
    println!(
        "PASS status.certificates lists {} certificates (2 CAs, {} nodes); each broker's notAfter is the one openssl reads from what it serves, e.g. {}",
        certs.len(),
        pods_after.len(),
        served_ends.values().next().cloned().unwrap_or_default()
    );
}

/// The not-after of a PEM certificate file as RFC 3339, read by openssl.
fn not_after_of_file(file: &Path) -> Option<String> {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(file)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "notAfter=2027-12-03 12:50:24Z"
    text.trim().strip_prefix("notAfter=").map(|s| s.replacen(' ', "T", 1))
}

/// Per pod of the cluster: its uid and the Kafka container's restart count.
async fn pod_identities(client: &kube::Client, ns: &str, cluster: &str) -> BTreeMap<String, (String, i32)> {
    cluster_pods(client, ns, cluster)
        .await
        .into_iter()
        .map(|p| {
            let restarts =
                p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).map(|c| c.iter().map(|c| c.restart_count).sum()).unwrap_or(0);
            (p.metadata.name.clone().unwrap_or_default(), (p.metadata.uid.clone().unwrap_or_default(), restarts))
        })
        .collect()
}

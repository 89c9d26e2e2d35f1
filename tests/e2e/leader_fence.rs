//! Issue #12 item 12: a leader stops as soon as its Lease could have expired, even when a Lease
//! call hangs. The operator runs with the chart's RBAC and leader election, talking to the API
//! server through a loopback proxy; once it leads, the proxy stalls (connections stay open, no
//! byte passes), so its renewal hangs. It must stop leading, and exit, before its Lease's last
//! renewal plus the lease duration: only then may another replica take over.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::stall_proxy::StallProxy;
use crate::support::*;
use gregor_world::World;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;

const LEASE: &str = "gregor-leader";
const LEASE_DURATION_SECS: i64 = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item12_leader_fencing_stops_before_the_lease_could_expire_when_a_lease_call_hangs() {
    let Some(_serial) =
        crate::support::world_test("e2e::leader_fence::item12_leader_fencing_stops_before_the_lease_could_expire_when_a_lease_call_hangs")
            .await
    else {
        return;
    };
    let world = World::start().await.expect("world");
    let admin = world.client();
    install_crds(&admin).await;
    let kubeconfig = chart_rbac::install(&world).await;

    // The operator's kubeconfig points at the proxy, on the API server's own address (its
    // certificate names that address), another port.
    let api: SocketAddr = world.api_url().trim_start_matches("https://").parse().expect("API address");
    let proxy = StallProxy::start(SocketAddr::new(api.ip(), 0), api).await;
    let text = std::fs::read_to_string(&kubeconfig).expect("kubeconfig");
    let proxied = world.dir().join("kubeconfigs/fence-proxied.yaml");
    std::fs::write(&proxied, text.replace(&world.api_url(), &format!("https://{}", proxy.addr))).expect("write kubeconfig");

    let args = ["--leader-election-namespace=gregor-system", "--identity=fence-a", "--metrics-addr=127.0.0.1:0"];
    let mut op = Operator::start(&world, &proxied, "fence", &args);
    let leases: Api<Lease> = Api::namespaced(admin.clone(), chart_rbac::RELEASE_NS);
    wait_for("fence-a holds the Lease", Duration::from_secs(60), || {
        let leases = leases.clone();
        async move {
            let lease = leases.get_opt(LEASE).await.ok()??;
            (lease.spec?.holder_identity.as_deref() == Some("fence-a")).then_some(())
        }
    })
    .await;
    // Let it renew at least once, so the stall lands in the middle of its steady state.
    tokio::time::sleep(Duration::from_secs(6)).await;

    proxy.stall();
    let stalled_at = Timestamp::now();
    let exited_at = wait_for("the stalled leader stops", Duration::from_secs(60), || {
        let exited = op.has_exited();
        async move { exited.then(Timestamp::now) }
    })
    .await;
    // The Lease as the API server holds it: its last renewal is the latest the old leader could
    // have counted on (a renewal whose answer the proxy held still reached the server).
    let lease = leases.get(LEASE).await.expect("lease");
    let spec = lease.spec.expect("lease spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("fence-a"));
    let renewed = spec.renew_time.expect("renewTime").0;
    let expires = renewed + k8s_openapi::jiff::SignedDuration::from_secs(LEASE_DURATION_SECS);
    eprintln!("stalled at {stalled_at}, last renewal {renewed}, lease would expire at {expires}, the leader stopped at {exited_at}");
    assert!(exited_at < expires, "the leader ran until {exited_at}, past the moment its Lease could have expired ({expires})");
    let log = std::fs::read_to_string(&op.log).expect("operator log");
    assert!(log.contains("leader=false") && log.contains("lost leadership"), "no leadership loss in the log:\n{}", op.log_tail(40));
}

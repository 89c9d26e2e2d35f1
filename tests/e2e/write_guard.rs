//! Issue #12 item 8: RBAC cannot say "only the Secrets the operator made", so the chart's
//! write-guard ValidatingAdmissionPolicy holds the operator's ServiceAccount to that. With the
//! chart's RBAC and policy installed from `deploy/gregor.yaml`, and the operator's own token:
//! - a Secret of type `kubernetes.io/service-account-token` is refused, even labelled;
//! - a Secret or ServiceAccount without `app.kubernetes.io/managed-by=gregor` is refused, and so
//!   are changes to and deletion of a tenant's unlabelled Secret (labelling it first is refused too);
//! - labelled objects go through, and nobody else (the admin here) is affected.

use std::time::Duration;

use crate::support::*;
use gregor_world::World;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

const NS: &str = "tenant";

fn secret(name: &str, type_: &str, labelled: bool) -> Secret {
    let mut v = serde_json::json!({
        "metadata": {"name": name, "namespace": NS,
                     "annotations": {"kubernetes.io/service-account.name": "default"}},
        "type": type_,
        "stringData": {"k": "v"}
    });
    if labelled {
        v["metadata"]["labels"] = serde_json::json!({"app.kubernetes.io/managed-by": "gregor"});
    }
    serde_json::from_value(v).expect("secret")
}

fn service_account(name: &str, labelled: bool) -> ServiceAccount {
    let mut v = serde_json::json!({"metadata": {"name": name, "namespace": NS}});
    if labelled {
        v["metadata"]["labels"] = serde_json::json!({"app.kubernetes.io/managed-by": "gregor"});
    }
    serde_json::from_value(v).expect("service account")
}

/// The refusal's message, or a panic when the call went through.
fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 403, "{what}: refused with {e:?}, expected 403 Forbidden");
            e.message
        }
        other => panic!("{what}: expected a refusal by the write guard, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item8_rbac_write_guard_refuses_service_account_tokens_and_unlabelled_objects() {
    let Some(_serial) =
        crate::support::world_test("e2e::write_guard::item8_rbac_write_guard_refuses_service_account_tokens_and_unlabelled_objects").await
    else {
        return;
    };
    let world = World::start().await.expect("world");
    let admin = world.client();
    let operator = chart_rbac::operator_client(&world).await;
    create_namespace(&admin, NS).await;

    // A tenant's own Secret, unlabelled, made by someone else.
    let admin_secrets: Api<Secret> = Api::namespaced(admin.clone(), NS);
    admin_secrets.create(&PostParams::default(), &secret("tenant-owned", "Opaque", false)).await.expect("the admin creates a Secret");

    let secrets: Api<Secret> = Api::namespaced(operator.clone(), NS);
    let accounts: Api<ServiceAccount> = Api::namespaced(operator.clone(), NS);
    // The policy takes a moment to load after it is created.
    wait_for("the write guard in effect", Duration::from_secs(60), || {
        let secrets = secrets.clone();
        async move {
            let dry = PostParams { dry_run: true, ..PostParams::default() };
            match secrets.create(&dry, &secret("probe", "Opaque", false)).await {
                Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains("managed-by") => Some(()),
                _ => None,
            }
        }
    })
    .await;

    let msg = refused(
        "service-account token Secret",
        secrets.create(&PostParams::default(), &secret("steal", "kubernetes.io/service-account-token", true)).await,
    );
    assert!(msg.contains("service-account-token"), "{msg}");
    let msg = refused("unlabelled Secret", secrets.create(&PostParams::default(), &secret("plain", "Opaque", false)).await);
    assert!(msg.contains("managed-by=gregor"), "{msg}");
    let label = serde_json::json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "gregor"}}});
    refused("labelling a tenant's Secret", secrets.patch("tenant-owned", &PatchParams::default(), &Patch::Merge(&label)).await);
    refused("deleting a tenant's Secret", secrets.delete("tenant-owned", &DeleteParams::default()).await);
    refused("unlabelled ServiceAccount", accounts.create(&PostParams::default(), &service_account("plain", false)).await);

    // What the operator really renders goes through.
    secrets.create(&PostParams::default(), &secret("mine", "Opaque", true)).await.expect("a labelled Secret");
    accounts.create(&PostParams::default(), &service_account("mine", true)).await.expect("a labelled ServiceAccount");
    secrets.delete("mine", &DeleteParams::default()).await.expect("deleting its own Secret");
    // Nobody else is affected.
    admin_secrets.create(&PostParams::default(), &secret("admin-made", "Opaque", false)).await.expect("the admin is not guarded");
    let kept = admin_secrets.get("tenant-owned").await.expect("the tenant's Secret is still there");
    assert!(kept.metadata.labels.is_none(), "the tenant's Secret was relabelled: {:?}", kept.metadata.labels);
}

//! Volume expansion, as an external resizer plus the kubelet's file-system resize would do it:
//! a bound claim of our StorageClass whose request grew has its volume's filesystem grown
//! (a tmpfs remount, see `volume`), then gets a PersistentVolume and a `status.capacity` of the
//! new size.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, Patch, PatchParams};

use super::AgentError;

/// Bytes of a storage quantity ("1Gi", "500M", "1073741824"); `None` for what it cannot read.
pub(crate) fn bytes(q: &Quantity) -> Option<u128> {
    let s = q.0.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let factor: u128 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    Some((value * factor as f64) as u128)
}

fn storage(resources: Option<&BTreeMap<String, Quantity>>) -> Option<Quantity> {
    resources.and_then(|r| r.get("storage")).cloned()
}

/// One pass: every bound claim of `ours` (StorageClass name → class) asking for more than its
/// capacity is expanded, if its class allows expansion.
pub(crate) async fn resize_once(
    client: &kube::Client,
    claims: &[PersistentVolumeClaim],
    ours: &HashMap<String, StorageClass>,
) -> Result<(), AgentError> {
    let pv_api = Api::<PersistentVolume>::all(client.clone());
    for pvc in claims {
        let spec = pvc.spec.clone().unwrap_or_default();
        let status = pvc.status.clone().unwrap_or_default();
        let expandable = spec.storage_class_name.as_ref().and_then(|n| ours.get(n)).is_some_and(|c| c.allow_volume_expansion == Some(true));
        if !expandable || status.phase.as_deref() != Some("Bound") {
            continue;
        }
        let (Some(requested), Some(capacity), Some(volume)) = (
            storage(spec.resources.as_ref().and_then(|r| r.requests.as_ref())),
            storage(status.capacity.as_ref()),
            spec.volume_name.as_ref(),
        ) else {
            continue;
        };
        if bytes(&requested) <= bytes(&capacity) {
            continue;
        }
        // Grow the filesystem for real first: the capacity reported is what the volume has.
        let pv = pv_api.get(volume).await?;
        let Some(dir) = pv.spec.as_ref().and_then(|s| s.host_path.as_ref()).map(|h| std::path::PathBuf::from(&h.path)) else {
            continue;
        };
        let Some(new_bytes) = bytes(&requested) else { continue };
        super::volume::grow(&dir, new_bytes)?;
        let grow = serde_json::json!({"spec": {"capacity": {"storage": requested}}});
        pv_api.patch(volume, &PatchParams::default(), &Patch::Merge(&grow)).await?;
        let ns = pvc.metadata.namespace.clone().unwrap_or_default();
        let name = pvc.metadata.name.clone().unwrap_or_default();
        let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns);
        let done = serde_json::json!({"status": {"capacity": {"storage": requested}}});
        claims.patch_status(&name, &PatchParams::default(), &Patch::Merge(&done)).await?;
        tracing::info!(pvc = %format!("{ns}/{name}"), from = %capacity.0, to = %requested.0, "expanded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let q = |s: &str| bytes(&Quantity(s.into()));
        assert_eq!(q("1Gi"), Some(1 << 30));
        assert_eq!(q("2Gi"), Some(2 << 30));
        assert_eq!(q("500M"), Some(500_000_000));
        assert_eq!(q("1.5Gi"), Some(3 << 29));
        assert_eq!(q("1024"), Some(1024));
        assert_eq!(q("1Xi"), None);
        assert!(q("1Gi") < q("1100Mi"));
    }
}

//! Revision hashes on the pod template. A pod whose annotation differs from its StatefulSet's template is
//! outdated; the controller decides whether it needs a restart.
use sha2::{Digest, Sha256};

/// First 16 hex digits of the SHA-256 of the given parts (each length-prefixed, so boundaries count).
pub fn hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

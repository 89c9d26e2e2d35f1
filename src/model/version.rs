//! The Kafka versions Gregor supports, with their default image and metadata.version.

/// A supported Kafka release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedVersion {
    /// Release, e.g. "4.4.0".
    pub version: &'static str,
    /// Image used when `spec.image` is absent.
    pub default_image: &'static str,
    /// The release's latest production metadata.version (what `kafka-storage format` uses by default).
    pub default_metadata_version: &'static str,
}

/// Supported releases, oldest first. The metadata versions come from each release's
/// `MetadataVersion` enum (`kafka-storage.sh version-mapping`): 4.3.1 defaults to 4.3-IV0,
/// 4.4.0 to 4.4-IV2.
pub const SUPPORTED_VERSIONS: &[SupportedVersion] = &[
    SupportedVersion { version: "4.3.1", default_image: "apache/kafka:4.3.1", default_metadata_version: "4.3-IV0" },
    SupportedVersion { version: "4.4.0", default_image: "apache/kafka:4.4.0", default_metadata_version: "4.4-IV2" },
];

/// Production metadata versions in order, oldest first (KRaft's minimum is 3.3-IV3).
const METADATA_VERSIONS: &[&str] = &[
    "3.3-IV3", "3.4-IV0", "3.5-IV0", "3.5-IV1", "3.5-IV2", "3.6-IV0", "3.6-IV1", "3.6-IV2", "3.7-IV0", "3.7-IV1", "3.7-IV2", "3.7-IV3",
    "3.7-IV4", "3.8-IV0", "3.9-IV0", "4.0-IV0", "4.0-IV1", "4.0-IV2", "4.0-IV3", "4.1-IV0", "4.1-IV1", "4.2-IV0", "4.2-IV1", "4.3-IV0",
    "4.4-IV0", "4.4-IV1", "4.4-IV2",
];

/// Looks a release up in the supported table.
pub fn find(version: &str) -> Option<&'static SupportedVersion> {
    SUPPORTED_VERSIONS.iter().find(|v| v.version == version)
}

/// Versions as a human-readable list, for error messages.
pub fn supported_list() -> String {
    SUPPORTED_VERSIONS.iter().map(|v| v.version).collect::<Vec<_>>().join(", ")
}

/// Position of a metadata.version in the production order, if it is one.
pub fn metadata_version_rank(metadata_version: &str) -> Option<usize> {
    METADATA_VERSIONS.iter().position(|v| *v == metadata_version)
}

/// Feature level of the oldest production metadata.version, 3.3-IV3.
const FIRST_METADATA_LEVEL: i16 = 7;

/// The `metadata.version` feature level of a named version (the list is contiguous, so the level
/// is its position plus the first level; checked against the real jars by
/// `tests/kafka_versions.rs`).
pub fn metadata_version_level(metadata_version: &str) -> Option<i16> {
    metadata_version_rank(metadata_version).and_then(|r| i16::try_from(r).ok()).map(|r| r + FIRST_METADATA_LEVEL)
}

/// The name of a `metadata.version` feature level.
pub fn metadata_version_name(level: i16) -> Option<&'static str> {
    let rank = usize::try_from(level.checked_sub(FIRST_METADATA_LEVEL)?).ok()?;
    METADATA_VERSIONS.get(rank).copied()
}

impl SupportedVersion {
    /// Whether this release can run with the given metadata.version (known, and not newer than its default).
    pub fn accepts_metadata_version(&self, metadata_version: &str) -> bool {
        match (metadata_version_rank(metadata_version), metadata_version_rank(self.default_metadata_version)) {
            (Some(wanted), Some(max)) => wanted <= max,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_metadata_version_is_known() {
        for v in SUPPORTED_VERSIONS {
            assert!(v.accepts_metadata_version(v.default_metadata_version), "{}", v.version);
        }
    }

    #[test]
    fn newer_metadata_version_is_refused() {
        let v431 = find("4.3.1").unwrap();
        assert!(!v431.accepts_metadata_version("4.4-IV2"));
        assert!(v431.accepts_metadata_version("4.2-IV1"));
        assert!(!v431.accepts_metadata_version("4.3-IV9"));
    }
}

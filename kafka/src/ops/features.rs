//! Features (`metadata.version` and friends): describe through ApiVersions, update through
//! UpdateFeatures.

use std::collections::BTreeMap;

use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::{ApiVersionsRequest, UpdateFeaturesRequest, UpdateFeaturesResponse};
use kafka_protocol::protocol::StrBytes;

use crate::error::{Error, Result};
use crate::router::{Client, Target};
use crate::versions::Negotiated;

pub const METADATA_VERSION: &str = "metadata.version";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureMetadata {
    /// Finalized (cluster-wide) levels.
    pub finalized: BTreeMap<String, i16>,
    /// What the answering broker's software supports: (min, max).
    pub supported: BTreeMap<String, (i16, i16)>,
    pub epoch: i64,
}

impl FeatureMetadata {
    pub fn from_negotiated(n: &Negotiated) -> Self {
        FeatureMetadata {
            finalized: n.finalized_features.iter().map(|f| (f.name.clone(), f.max)).collect(),
            supported: n.supported_features.iter().map(|f| (f.name.clone(), (f.min, f.max))).collect(),
            epoch: n.finalized_features_epoch,
        }
    }
    pub fn metadata_version(&self) -> Option<i16> {
        self.finalized.get(METADATA_VERSION).copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

impl UpgradeType {
    pub fn code(self) -> i8 {
        match self {
            UpgradeType::Upgrade => 1,
            UpgradeType::SafeDowngrade => 2,
            UpgradeType::UnsafeDowngrade => 3,
        }
    }
}

pub fn update_features_request(updates: &[(String, i16, UpgradeType)], validate_only: bool) -> UpdateFeaturesRequest {
    UpdateFeaturesRequest::default().with_timeout_ms(60_000).with_validate_only(validate_only).with_feature_updates(
        updates
            .iter()
            .map(|(f, level, t)| {
                FeatureUpdateKey::default()
                    .with_feature(StrBytes::from_string(f.clone()))
                    .with_max_version_level(*level)
                    .with_upgrade_type(t.code())
            })
            .collect(),
    )
}

pub fn parse_update_features(resp: UpdateFeaturesResponse) -> Result<Vec<(String, Result<()>)>> {
    Error::check("UpdateFeatures", resp.error_code, None, resp.error_message.as_deref())?;
    Ok(resp
        .results
        .into_iter()
        .map(|r| {
            let f = r.feature.to_string();
            let res = Error::check("UpdateFeatures", r.error_code, Some(&f), r.error_message.as_deref());
            (f, res)
        })
        .collect())
}

impl Client {
    /// Finalized and supported features, as seen by `target` (ApiVersions, asked afresh).
    pub async fn describe_features_via(&self, target: Target<'_>) -> Result<FeatureMetadata> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("gregor"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        self.call(target, &req, |resp| {
            Error::check("ApiVersions", resp.error_code, None, None)?;
            Ok(FeatureMetadata::from_negotiated(&Negotiated::from_response(&resp)))
        })
        .await
    }

    pub async fn describe_features(&self) -> Result<FeatureMetadata> {
        self.describe_features_via(Target::Any).await
    }

    /// Set finalized feature levels; per-feature outcomes.
    pub async fn update_features(&self, updates: &[(String, i16, UpgradeType)], validate_only: bool) -> Result<Vec<(String, Result<()>)>> {
        self.call(Target::Controller, &update_features_request(updates, validate_only), parse_update_features).await
    }

    /// Raise (or with a downgrade type, lower) `metadata.version` to `level`.
    pub async fn set_metadata_version(&self, level: i16, kind: UpgradeType, validate_only: bool) -> Result<()> {
        let res = self.update_features(&[(METADATA_VERSION.to_string(), level, kind)], validate_only).await?;
        for (_, r) in res {
            r?;
        }
        Ok(())
    }
}

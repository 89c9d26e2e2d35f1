//! `storage.autoGrow` of a pool: validated into an [`AutoGrowModel`], and the size a pool's claims
//! are asked for once the operator grew them (the larger of the spec's and the status's). Pure.

use super::cluster::{AutoGrowModel, ClusterModel, Increment, StorageModel};
use super::error::Findings;
use super::quantity::parse_bytes;
use crate::api::cluster::{AutoGrow, KafkaClusterStatus};

/// Default `thresholdPercent`.
pub const DEFAULT_THRESHOLD_PERCENT: u8 = 80;
/// Default `increment`.
pub const DEFAULT_INCREMENT: Increment = Increment::Percent(25);

/// Reads an increment: `25%` or a positive quantity.
pub fn parse_increment(text: &str) -> Option<Increment> {
    let text = text.trim();
    match text.strip_suffix('%') {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse().ok().filter(|p: &u32| *p >= 1).map(Increment::Percent)
        }
        Some(_) => None,
        None => parse_bytes(text).filter(|b| *b > 0).map(Increment::Bytes),
    }
}

/// Validates `autoGrow` of a persistentClaim pool whose size is `size_bytes` (`None`: the size is
/// itself invalid, reported elsewhere). Errors name `<path>.autoGrow.<field>`.
pub(crate) fn validate(path: &str, auto_grow: &AutoGrow, size_bytes: Option<u64>, findings: &mut Findings) -> AutoGrowModel {
    let path = format!("{path}.autoGrow");
    let threshold_percent = match auto_grow.threshold_percent {
        None => DEFAULT_THRESHOLD_PERCENT,
        Some(t) => match u8::try_from(t) {
            Ok(t) if (1..=99).contains(&t) => t,
            _ => {
                findings.error(format!("{path}.thresholdPercent"), format!("{t} is not between 1 and 99"));
                DEFAULT_THRESHOLD_PERCENT
            }
        },
    };
    let increment = match &auto_grow.increment {
        None => DEFAULT_INCREMENT,
        Some(text) => parse_increment(text).unwrap_or_else(|| {
            findings
                .error(format!("{path}.increment"), format!("\"{text}\" is neither a percentage such as 25% nor a quantity such as 10Gi"));
            DEFAULT_INCREMENT
        }),
    };
    let max_bytes = match parse_bytes(&auto_grow.max_size).filter(|b| *b > 0) {
        None => {
            findings.error(format!("{path}.maxSize"), format!("\"{}\" is not a positive quantity such as 500Gi", auto_grow.max_size));
            0
        }
        Some(max) => {
            if let Some(size) = size_bytes
                && max < size
            {
                findings.error(format!("{path}.maxSize"), format!("{} is smaller than size", auto_grow.max_size));
            }
            max
        }
    };
    AutoGrowModel { threshold_percent, increment, max_bytes }
}

/// The size autoGrow recorded for `pool` in the status, if any.
pub fn grown_size<'a>(status: Option<&'a KafkaClusterStatus>, pool: &str) -> Option<&'a str> {
    status?.storage.iter().find(|s| s.name == pool)?.auto_grown_size.as_deref()
}

/// The size a pool's claims are asked for: the spec's, unless autoGrow recorded a larger one.
/// Never smaller than the spec's; an unreadable recorded size is ignored.
pub fn effective_size(spec_size: &str, grown: Option<&str>) -> String {
    match (parse_bytes(spec_size), grown.and_then(|g| parse_bytes(g).map(|b| (g, b)))) {
        (Some(spec), Some((grown, bytes))) if bytes > spec => grown.to_owned(),
        _ => spec_size.to_owned(),
    }
}

/// The model with each pool's claim size raised to what autoGrow recorded in `status`.
pub fn with_grown_sizes(model: &mut ClusterModel, status: Option<&KafkaClusterStatus>) {
    for pool in &mut model.pools {
        if let StorageModel::PersistentClaim { size, .. } = &mut pool.storage {
            *size = effective_size(size, grown_size(status, &pool.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(threshold: Option<i32>, increment: Option<&str>, max: &str) -> AutoGrow {
        AutoGrow { threshold_percent: threshold, increment: increment.map(str::to_owned), max_size: max.into() }
    }

    #[test]
    fn increments() {
        assert_eq!(parse_increment("25%"), Some(Increment::Percent(25)));
        assert_eq!(parse_increment("100%"), Some(Increment::Percent(100)));
        assert_eq!(parse_increment("10Gi"), Some(Increment::Bytes(10 << 30)));
        for bad in ["0%", "%", "-5%", "2.5%", "abc", "0", "", "x%"] {
            assert_eq!(parse_increment(bad), None, "{bad}");
        }
    }

    #[test]
    fn validation_names_each_field() {
        // (spec, size, error paths)
        let cases: &[(AutoGrow, Option<u64>, &[&str])] = &[
            (spec(None, None, "1Gi"), Some(64 << 20), &[]),
            (spec(Some(0), None, "1Gi"), Some(64 << 20), &["p.autoGrow.thresholdPercent"]),
            (spec(Some(100), None, "1Gi"), Some(64 << 20), &["p.autoGrow.thresholdPercent"]),
            (spec(None, Some("lots"), "1Gi"), Some(64 << 20), &["p.autoGrow.increment"]),
            (spec(None, None, "huge"), Some(64 << 20), &["p.autoGrow.maxSize"]),
            (spec(None, None, "32Mi"), Some(64 << 20), &["p.autoGrow.maxSize"]),
            (spec(None, None, "64Mi"), Some(64 << 20), &[]),
            (spec(None, None, "32Mi"), None, &[]),
        ];
        for (auto_grow, size, paths) in cases {
            let mut findings = Findings::default();
            let model = validate("p", auto_grow, *size, &mut findings);
            let errors = findings.into_result(()).err().map(|e| e.iter().map(|e| e.path.clone()).collect::<Vec<_>>()).unwrap_or_default();
            assert_eq!(errors, *paths, "{auto_grow:?}");
            if paths.is_empty() {
                assert_eq!(model.threshold_percent, auto_grow.threshold_percent.map_or(80, |t| t as u8));
                assert_eq!(model.increment, DEFAULT_INCREMENT);
            }
        }
    }

    #[test]
    fn effective_size_never_below_spec() {
        assert_eq!(effective_size("64Mi", None), "64Mi");
        assert_eq!(effective_size("64Mi", Some("80Mi")), "80Mi");
        assert_eq!(effective_size("100Mi", Some("80Mi")), "100Mi", "a larger spec wins");
        assert_eq!(effective_size("64Mi", Some("bogus")), "64Mi");
    }
}

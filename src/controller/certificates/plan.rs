//! Pure: which certificates a cluster needs, and whether the ones it has are still good.
use crate::model::CertificatePolicy;

use super::issue::DAY;

/// What a certificate says, as far as the plan cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertFacts {
    /// Start of validity (Unix seconds).
    pub not_before: i64,
    /// End of validity (Unix seconds).
    pub not_after: i64,
    /// DNS subject alternative names, sorted.
    pub dns_names: Vec<String>,
    /// The issuer's DN (DER).
    pub issuer: Vec<u8>,
    /// The subject's DN (DER).
    pub subject: Vec<u8>,
    /// The SubjectPublicKeyInfo (DER).
    pub public_key: Vec<u8>,
    /// The serial number (hex).
    pub serial: String,
    /// The subject's common name.
    pub common_name: Option<String>,
}

/// Why a node certificate is (re-)issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueReason {
    /// The node has none yet.
    Missing,
    /// What is there cannot be read as a certificate.
    Unreadable,
    /// It was signed by another CA than the current one.
    OtherCa,
    /// Its DNS names are not the ones the node needs.
    NamesChanged,
    /// It expires within the renewal window (or has expired).
    Renewal,
    /// `kafka.gregor.dev/renew-certificates=true` asked for new ones.
    Forced,
}

impl IssueReason {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueReason::Missing => "missing",
            IssueReason::Unreadable => "unreadable",
            IssueReason::OtherCa => "signed by another CA",
            IssueReason::NamesChanged => "names changed",
            IssueReason::Renewal => "renewal due",
            IssueReason::Forced => "renewal asked for",
        }
    }
}

/// What to do with one node's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It is good: keep it (and its key) unchanged.
    Keep,
    /// Issue a new one.
    Issue(IssueReason),
}

/// Whether a node's certificate is still good. `existing`: what the node certificates Secret
/// holds for it (`None` when nothing, `Some(Err(()))` when it cannot be read); `ca`: the current
/// CA certificate's facts; `names`: the DNS names the node needs (sorted).
pub fn leaf_verdict(
    existing: Option<Result<&CertFacts, ()>>,
    ca: &CertFacts,
    names: &[String],
    policy: &CertificatePolicy,
    now: i64,
) -> Verdict {
    let cert = match existing {
        None => return Verdict::Issue(IssueReason::Missing),
        Some(Err(())) => return Verdict::Issue(IssueReason::Unreadable),
        Some(Ok(cert)) => cert,
    };
    if cert.issuer != ca.subject {
        Verdict::Issue(IssueReason::OtherCa)
    } else if cert.dns_names != names {
        Verdict::Issue(IssueReason::NamesChanged)
    } else if renewal_due(cert, policy, now) {
        Verdict::Issue(IssueReason::Renewal)
    } else {
        Verdict::Keep
    }
}

/// Whether a TLS user's certificate is still good: signed by the current clients CA, for
/// `CN=<username>`, outside its renewal window. `existing` as for [`leaf_verdict`].
pub fn user_verdict(
    existing: Option<Result<&CertFacts, ()>>,
    ca: &CertFacts,
    username: &str,
    policy: &CertificatePolicy,
    now: i64,
) -> Verdict {
    match existing {
        Some(Ok(cert)) if cert.common_name.as_deref() != Some(username) => Verdict::Issue(IssueReason::NamesChanged),
        existing => leaf_verdict(existing, ca, &[], policy, now),
    }
}

/// Whether a certificate is inside its renewal window: it expires within `renewal_days`.
/// A certificate that cannot outlive the window at all (its CA ends sooner) is not renewed over
/// and over: it is due only once it is past half of its own lifetime.
pub fn renewal_due(cert: &CertFacts, policy: &CertificatePolicy, now: i64) -> bool {
    let window = i64::from(policy.renewal_days) * DAY;
    let lifetime = cert.not_after - cert.not_before;
    let window = window.min(lifetime / 2);
    now >= cert.not_after - window
}

/// The validity of a new node certificate: from `now` for the policy's leaf validity, but never
/// past the CA's own end.
pub fn leaf_validity(policy: &CertificatePolicy, ca: &CertFacts, now: i64) -> (i64, i64) {
    let not_after = (now + i64::from(policy.leaf_validity_days) * DAY).min(ca.not_after);
    (now - 3_600, not_after)
}

/// Whether the CA can still sign: it has not expired. (Replacing a CA that nears its end is a
/// later step; until then an expiring CA is reported, not replaced.)
pub fn ca_usable(ca: &CertFacts, now: i64) -> bool {
    now < ca.not_after
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn ca() -> CertFacts {
        CertFacts {
            subject: b"ca".to_vec(),
            issuer: b"ca".to_vec(),
            not_before: NOW - DAY,
            not_after: NOW + 1000 * DAY,
            ..CertFacts::default()
        }
    }

    fn leaf(issuer: &[u8], names: &[&str], not_before: i64, not_after: i64) -> CertFacts {
        CertFacts {
            issuer: issuer.to_vec(),
            subject: b"leaf".to_vec(),
            dns_names: names.iter().map(|n| (*n).to_owned()).collect(),
            not_before,
            not_after,
            ..CertFacts::default()
        }
    }

    /// (what, the Secret's certificate, expected verdict)
    type Case<'a> = (&'a str, Option<Result<CertFacts, ()>>, Verdict);

    #[test]
    fn item2_leaf_verdicts() {
        let policy = CertificatePolicy::default();
        let names = vec!["a.svc".to_owned(), "b.svc".to_owned()];
        let good = leaf(b"ca", &["a.svc", "b.svc"], NOW - DAY, NOW + 300 * DAY);
        let cases: Vec<Case<'_>> = vec![
            ("nothing yet", None, Verdict::Issue(IssueReason::Missing)),
            ("garbage in the Secret", Some(Err(())), Verdict::Issue(IssueReason::Unreadable)),
            ("good", Some(Ok(good.clone())), Verdict::Keep),
            (
                "another CA",
                Some(Ok(leaf(b"old-ca", &["a.svc", "b.svc"], NOW - DAY, NOW + 300 * DAY))),
                Verdict::Issue(IssueReason::OtherCa),
            ),
            ("a name is missing", Some(Ok(leaf(b"ca", &["a.svc"], NOW - DAY, NOW + 300 * DAY))), Verdict::Issue(IssueReason::NamesChanged)),
            (
                "an extra name",
                Some(Ok(leaf(b"ca", &["a.svc", "b.svc", "c.svc"], NOW - DAY, NOW + 300 * DAY))),
                Verdict::Issue(IssueReason::NamesChanged),
            ),
            ("31 days left", Some(Ok(leaf(b"ca", &["a.svc", "b.svc"], NOW - 334 * DAY, NOW + 31 * DAY))), Verdict::Keep),
            (
                "30 days left: renew",
                Some(Ok(leaf(b"ca", &["a.svc", "b.svc"], NOW - 335 * DAY, NOW + 30 * DAY))),
                Verdict::Issue(IssueReason::Renewal),
            ),
            ("expired", Some(Ok(leaf(b"ca", &["a.svc", "b.svc"], NOW - 400 * DAY, NOW - DAY))), Verdict::Issue(IssueReason::Renewal)),
            // Cut short by its CA's end: renewed at half its life, not at every reconcile.
            ("10-day leaf, 6 days left", Some(Ok(leaf(b"ca", &["a.svc", "b.svc"], NOW - 4 * DAY, NOW + 6 * DAY))), Verdict::Keep),
            (
                "10-day leaf, 5 days left",
                Some(Ok(leaf(b"ca", &["a.svc", "b.svc"], NOW - 5 * DAY, NOW + 5 * DAY))),
                Verdict::Issue(IssueReason::Renewal),
            ),
        ];
        for (what, existing, want) in cases {
            let got = leaf_verdict(existing.as_ref().map(|r| r.as_ref().map_err(|_| ())), &ca(), &names, &policy, NOW);
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn item5_user_certificate_verdicts() {
        let policy = CertificatePolicy { ca_validity_days: 1825, leaf_validity_days: 365, renewal_days: 30 };
        let user = |cn: &str, issuer: &[u8], not_before: i64, not_after: i64| CertFacts {
            common_name: Some(cn.to_owned()),
            ..leaf(issuer, &[], not_before, not_after)
        };
        let cases: Vec<Case<'_>> = vec![
            ("no certificate yet", None, Verdict::Issue(IssueReason::Missing)),
            ("user.crt is garbage", Some(Err(())), Verdict::Issue(IssueReason::Unreadable)),
            ("good", Some(Ok(user("alice", b"ca", NOW - DAY, NOW + 300 * DAY))), Verdict::Keep),
            ("another user's CN", Some(Ok(user("bob", b"ca", NOW - DAY, NOW + 300 * DAY))), Verdict::Issue(IssueReason::NamesChanged)),
            ("signed by another CA", Some(Ok(user("alice", b"old", NOW - DAY, NOW + 300 * DAY))), Verdict::Issue(IssueReason::OtherCa)),
            ("31 days left", Some(Ok(user("alice", b"ca", NOW - 334 * DAY, NOW + 31 * DAY))), Verdict::Keep),
            ("30 days left: renew", Some(Ok(user("alice", b"ca", NOW - 335 * DAY, NOW + 30 * DAY))), Verdict::Issue(IssueReason::Renewal)),
            ("expired", Some(Ok(user("alice", b"ca", NOW - 400 * DAY, NOW - DAY))), Verdict::Issue(IssueReason::Renewal)),
        ];
        for (what, existing, want) in cases {
            let got = user_verdict(existing.as_ref().map(|r| r.as_ref().map_err(|_| ())), &ca(), "alice", &policy, NOW);
            assert_eq!(got, want, "{what}");
        }
        // A shorter renewal window from spec.certificates keeps what the default would renew.
        let narrow = CertificatePolicy { renewal_days: 7, ..policy };
        let cert = user("alice", b"ca", NOW - 335 * DAY, NOW + 30 * DAY);
        assert_eq!(user_verdict(Some(Ok(&cert)), &ca(), "alice", &narrow, NOW), Verdict::Keep);
    }

    #[test]
    fn item2_a_fresh_leaf_is_never_due() {
        // Whatever the policy, a certificate issued now is kept by the next reconcile.
        for (ca_days, leaf_days, renewal) in [(1825, 365, 30), (10, 365, 30), (2, 1, 0), (400, 31, 30)] {
            let policy = CertificatePolicy { ca_validity_days: ca_days, leaf_validity_days: leaf_days, renewal_days: renewal };
            let ca = CertFacts { not_after: NOW + i64::from(ca_days) * DAY, ..ca() };
            let (not_before, not_after) = leaf_validity(&policy, &ca, NOW);
            assert!(not_after <= ca.not_after, "never past the CA");
            let cert = leaf(b"ca", &[], not_before, not_after);
            assert!(!renewal_due(&cert, &policy, NOW), "{ca_days}/{leaf_days}/{renewal}");
        }
    }

    #[test]
    fn item1_an_expired_ca_cannot_sign() {
        assert!(ca_usable(&ca(), NOW));
        assert!(!ca_usable(&CertFacts { not_after: NOW, ..ca() }, NOW));
    }
}

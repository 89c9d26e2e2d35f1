//! Making and reading certificates (rcgen, x509-parser): the cluster CA, node certificates, and
//! the facts the pure plan judges them by. ECDSA P-256 keys in PKCS#8 PEM, which Kafka's PEM
//! stores load (Ed25519 keys do not).
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;

use super::CertificateError;
use super::plan::CertFacts;

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// Certificates start to be valid this long before they are issued, for clocks that lag behind.
const BACKDATE_SECONDS: i64 = 3_600;

/// A CA's key and certificate, as PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPem {
    /// The certificate (PEM).
    pub cert: String,
    /// The PKCS#8 private key (PEM).
    pub key: String,
}

/// A CA ready to sign.
pub struct Ca {
    /// Its key and certificate.
    pub pem: CaPem,
    /// What its certificate says.
    pub facts: CertFacts,
    issuer: Issuer<'static, KeyPair>,
}

fn at(unix: i64) -> Result<OffsetDateTime, CertificateError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| CertificateError::Invalid { what: "a validity date".into(), detail: e.to_string() })
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::Rng::random(&mut rand::rng());
    // Positive, and never with a leading zero byte that DER would strip.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn generate_err(what: &str) -> impl FnOnce(rcgen::Error) -> CertificateError + '_ {
    move |e| CertificateError::Generate { what: what.to_owned(), detail: e.to_string() }
}

/// A new self-signed cluster CA, valid from (about) `now` for `validity_days`.
pub fn new_ca(common_name: &str, now: i64, validity_days: u32) -> Result<Ca, CertificateError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate_err("the CA key"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "gregor");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = at(now - BACKDATE_SECONDS)?;
    params.not_after = at(now + i64::from(validity_days) * DAY)?;
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key).map_err(generate_err("the CA certificate"))?;
    load_ca(&CaPem { cert: cert.pem(), key: key.serialize_pem() })
}

/// Loads a CA from its PEM key and certificate, checking that they belong together.
pub fn load_ca(pem: &CaPem) -> Result<Ca, CertificateError> {
    let key = KeyPair::from_pem(&pem.key).map_err(|e| CertificateError::Invalid { what: "the CA key".into(), detail: e.to_string() })?;
    let der = first_certificate(&pem.cert)?;
    let facts = facts_of_der(&der)?;
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    if facts.public_key != spki {
        return Err(CertificateError::Invalid { what: "the CA".into(), detail: "its certificate and key do not match".into() });
    }
    let issuer = Issuer::from_ca_cert_der(&der, key)
        .map_err(|e| CertificateError::Invalid { what: "the CA certificate".into(), detail: e.to_string() })?;
    Ok(Ca { pem: pem.clone(), facts, issuer })
}

/// A leaf's parameters: `O=gregor, CN=<common_name>`, the DNS names as SANs, these extended key
/// usages, a random serial.
fn leaf_params(
    common_name: &str,
    dns_names: &[String],
    usages: Vec<ExtendedKeyUsagePurpose>,
    not_before: i64,
    not_after: i64,
) -> Result<CertificateParams, CertificateError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "gregor");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.subject_alt_names = dns_names
        .iter()
        .map(|n| {
            n.clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e: rcgen::Error| CertificateError::Invalid { what: format!("the DNS name {n}"), detail: e.to_string() })
        })
        .collect::<Result<_, _>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = usages;
    params.use_authority_key_identifier_extension = true;
    params.not_before = at(not_before)?;
    params.not_after = at(not_after)?;
    params.serial_number = Some(random_serial());
    Ok(params)
}

/// A node's certificate and key, signed by `ca`: `CN=<common_name>`, the DNS names as SANs, for
/// TLS servers and clients. The returned file holds the PKCS#8 key, the certificate and the CA
/// certificate (the chain), as Kafka's `ssl.keystore.type=PEM` reads it from `ssl.keystore.location`.
pub fn issue_leaf(ca: &Ca, common_name: &str, dns_names: &[String], not_before: i64, not_after: i64) -> Result<String, CertificateError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate_err("a node key"))?;
    let usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let params = leaf_params(common_name, dns_names, usages, not_before, not_after)?;
    let cert = params.signed_by(&key, &ca.issuer).map_err(generate_err("a node certificate"))?;
    Ok(format!("{}{}{}", key.serialize_pem(), cert.pem(), ca.pem.cert))
}

/// A client's certificate and key, as PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPem {
    /// The certificate (PEM), `CN=<user>`.
    pub cert: String,
    /// The PKCS#8 private key (PEM).
    pub key: String,
}

/// A TLS client's certificate and key, signed by `ca`: `O=gregor, CN=<common_name>`, no SANs,
/// for TLS clients only.
pub fn issue_client(ca: &Ca, common_name: &str, not_before: i64, not_after: i64) -> Result<ClientPem, CertificateError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate_err("a client key"))?;
    let params = leaf_params(common_name, &[], vec![ExtendedKeyUsagePurpose::ClientAuth], not_before, not_after)?;
    let cert = params.signed_by(&key, &ca.issuer).map_err(generate_err("a client certificate"))?;
    Ok(ClientPem { cert: cert.pem(), key: key.serialize_pem() })
}

/// A PKCS#12 file (PBES2 with AES-256 and an HMAC-SHA-256 MAC, which Java reads since 8u301)
/// with the client's key and certificate chain (its certificate, then `ca_cert`), under `alias`,
/// protected by `password`.
pub fn pkcs12(client: &ClientPem, ca_cert: &str, alias: &str, password: &str) -> Result<Vec<u8>, CertificateError> {
    let invalid = |what: &str| {
        let what = what.to_owned();
        move |e: p12_keystore::error::Error| CertificateError::Invalid { what: what.clone(), detail: e.to_string() }
    };
    let key_der = rustls_pki_types::PrivateKeyDer::from_pem_slice(client.key.as_bytes())
        .map_err(|e| CertificateError::Invalid { what: "the client key".into(), detail: e.to_string() })?;
    let key = p12_keystore::PrivateKey::from_der(key_der.secret_der()).map_err(invalid("the client key"))?;
    let chain = [first_certificate(&client.cert)?, first_certificate(ca_cert)?]
        .iter()
        .map(|der| p12_keystore::Certificate::from_der(der.as_ref()).map_err(invalid("a certificate")))
        .collect::<Result<Vec<_>, _>>()?;
    let local_key_id = facts(&client.cert)?.serial.into_bytes();
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(alias, p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(local_key_id, key, chain)));
    store.writer(password).write().map_err(invalid("the PKCS#12 file"))
}

/// The first certificate in a PEM text (a node file holds the key, then the chain).
fn first_certificate(pem: &str) -> Result<CertificateDer<'static>, CertificateError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| CertificateError::Invalid { what: "a PEM file".into(), detail: "no certificate in it".into() })?
        .map_err(|e| CertificateError::Invalid { what: "a PEM file".into(), detail: e.to_string() })
}

/// What a DER certificate says.
pub fn facts_of_der(der: &CertificateDer<'_>) -> Result<CertFacts, CertificateError> {
    let invalid = |detail: String| CertificateError::Invalid { what: "a certificate".into(), detail };
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| invalid(e.to_string()))?;
    let dns_names = match cert.subject_alternative_name().map_err(|e| invalid(e.to_string()))? {
        Some(ext) => ext
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    };
    let mut dns_names: Vec<String> = dns_names;
    dns_names.sort();
    let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_owned);
    Ok(CertFacts {
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns_names,
        issuer: cert.issuer().as_raw().to_vec(),
        subject: cert.subject().as_raw().to_vec(),
        public_key: cert.public_key().raw.to_vec(),
        serial: cert.raw_serial_as_string(),
        common_name,
    })
}

/// What the first certificate of a PEM text says.
pub fn facts(pem: &str) -> Result<CertFacts, CertificateError> {
    facts_of_der(&first_certificate(pem)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn item2_a_leaf_is_signed_by_the_ca_and_carries_its_names() {
        let ca = new_ca("events.kafka cluster CA", NOW, 1825).expect("ca");
        assert_eq!(ca.facts.not_after, NOW + 1825 * DAY);
        assert_eq!(ca.facts.issuer, ca.facts.subject, "self-signed");
        let names = vec!["a.example.svc".to_owned(), "b.example.svc".to_owned()];
        let file = issue_leaf(&ca, "events-b-100", &names, NOW, NOW + 365 * DAY).expect("leaf");
        assert!(file.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 key first: {file}");
        assert_eq!(CertificateDer::pem_slice_iter(file.as_bytes()).count(), 2, "leaf and CA");
        let leaf = facts(&file).expect("facts");
        assert_eq!(leaf.dns_names, names);
        assert_eq!(leaf.issuer, ca.facts.subject);
        assert_eq!(leaf.not_after, NOW + 365 * DAY);
        // Loading the CA back from its PEM gives a CA that signs the same way.
        let again = load_ca(&ca.pem).expect("load");
        let other = facts(&issue_leaf(&again, "x", &names, NOW, NOW + DAY).expect("leaf")).expect("facts");
        assert_eq!(other.issuer, ca.facts.subject);
        assert_ne!(other.serial, leaf.serial);
    }

    #[test]
    fn item1_a_ca_whose_key_does_not_match_is_refused() {
        let (a, b) = (new_ca("a", NOW, 10).expect("a"), new_ca("b", NOW, 10).expect("b"));
        let mixed = CaPem { cert: a.pem.cert.clone(), key: b.pem.key.clone() };
        let err = load_ca(&mixed).err().expect("refused");
        assert!(err.to_string().contains("do not match"), "{err}");
        assert!(load_ca(&CaPem { cert: "nonsense".into(), key: a.pem.key.clone() }).is_err());
    }
}

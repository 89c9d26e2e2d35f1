//! SCRAM credentials: describe, upsert (salted client-side), delete.

use std::collections::HashMap;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use kafka_protocol::messages::alter_user_scram_credentials_request::{ScramCredentialDeletion, ScramCredentialUpsertion};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use rand::Rng;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, Result};
use crate::router::{Client, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }
    pub fn from_code(c: i8) -> Option<Self> {
        match c {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }
    /// Kafka's minimum iteration count for both mechanisms.
    pub const MIN_ITERATIONS: u32 = 4096;

    /// Hi(password, salt, i) of RFC 5802: PBKDF2 with HMAC of this hash.
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = vec![0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
                out
            }
            ScramMechanism::Sha512 => {
                let mut out = vec![0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out);
                out
            }
        }
    }

    pub fn hmac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => match Hmac::<Sha256>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(msg);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(), // HMAC accepts keys of any length
            },
            ScramMechanism::Sha512 => match Hmac::<Sha512>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(msg);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// StoredKey = H(HMAC(SaltedPassword, "Client Key")); ServerKey = HMAC(SaltedPassword, "Server Key").
    pub fn stored_and_server_key(self, salted: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let client_key = self.hmac(salted, b"Client Key");
        (self.hash(&client_key), self.hmac(salted, b"Server Key"))
    }
}

/// A credential to create or replace, with its salt chosen by us.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramUpsert {
    pub user: String,
    pub mechanism: ScramMechanism,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

impl std::fmt::Debug for ScramUpsert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramUpsert")
            .field("user", &self.user)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramUpsert {
    /// Salt (32 random bytes) and hash `password` client-side; the password never leaves us.
    pub fn new(user: impl Into<String>, password: &str, mechanism: ScramMechanism, iterations: u32) -> Self {
        let mut salt = vec![0u8; 32];
        rand::rng().fill(&mut salt[..]);
        Self::with_salt(user, password, mechanism, iterations, salt)
    }
    pub fn with_salt(user: impl Into<String>, password: &str, mechanism: ScramMechanism, iterations: u32, salt: Vec<u8>) -> Self {
        let salted_password = mechanism.salted_password(password, &salt, iterations);
        ScramUpsert { user: user.into(), mechanism, iterations, salt, salted_password }
    }
}

/// A random alphanumeric password (the KafkaUser controller uses 32 characters).
pub fn generate_password(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentialInfo {
    pub mechanism: Option<ScramMechanism>,
    pub iterations: i32,
}

pub fn describe_scram_request(users: Option<&[String]>) -> DescribeUserScramCredentialsRequest {
    DescribeUserScramCredentialsRequest::default()
        .with_users(users.map(|us| us.iter().map(|u| UserName::default().with_name(StrBytes::from_string(u.clone()))).collect()))
}

/// Per user: its credentials, or an error (RESOURCE_NOT_FOUND for a user without any).
pub fn parse_describe_scram(resp: DescribeUserScramCredentialsResponse) -> Result<HashMap<String, Result<Vec<ScramCredentialInfo>>>> {
    Error::check("DescribeUserScramCredentials", resp.error_code, None, resp.error_message.as_deref())?;
    Ok(resp
        .results
        .into_iter()
        .map(|r| {
            let user = r.user.to_string();
            let res = Error::check("DescribeUserScramCredentials", r.error_code, Some(&user), r.error_message.as_deref()).map(|()| {
                r.credential_infos
                    .iter()
                    .map(|c| ScramCredentialInfo { mechanism: ScramMechanism::from_code(c.mechanism), iterations: c.iterations })
                    .collect()
            });
            (user, res)
        })
        .collect())
}

pub fn alter_scram_request(upserts: &[ScramUpsert], deletions: &[(String, ScramMechanism)]) -> AlterUserScramCredentialsRequest {
    AlterUserScramCredentialsRequest::default()
        .with_upsertions(
            upserts
                .iter()
                .map(|u| {
                    ScramCredentialUpsertion::default()
                        .with_name(StrBytes::from_string(u.user.clone()))
                        .with_mechanism(u.mechanism.code())
                        .with_iterations(u.iterations as i32)
                        .with_salt(Bytes::from(u.salt.clone()))
                        .with_salted_password(Bytes::from(u.salted_password.clone()))
                })
                .collect(),
        )
        .with_deletions(
            deletions
                .iter()
                .map(|(u, m)| ScramCredentialDeletion::default().with_name(StrBytes::from_string(u.clone())).with_mechanism(m.code()))
                .collect(),
        )
}

pub fn parse_alter_scram(resp: AlterUserScramCredentialsResponse) -> Vec<(String, Result<()>)> {
    resp.results
        .into_iter()
        .map(|r| {
            let user = r.user.to_string();
            let res = Error::check("AlterUserScramCredentials", r.error_code, Some(&user), r.error_message.as_deref());
            (user, res)
        })
        .collect()
}

impl Client {
    /// SCRAM credentials of the given users (or all users).
    pub async fn describe_scram_credentials(&self, users: Option<&[String]>) -> Result<HashMap<String, Result<Vec<ScramCredentialInfo>>>> {
        self.call(Target::Any, &describe_scram_request(users), parse_describe_scram).await
    }

    /// Upsert and delete SCRAM credentials in one request; per-user outcomes.
    pub async fn alter_scram_credentials(
        &self,
        upserts: &[ScramUpsert],
        deletions: &[(String, ScramMechanism)],
    ) -> Result<Vec<(String, Result<()>)>> {
        let resp = self.send(Target::Controller, &alter_scram_request(upserts, deletions)).await?;
        Ok(parse_alter_scram(resp))
    }

    /// Create or replace one user's SCRAM-SHA-512 credential (salted here).
    pub async fn upsert_scram_sha512(&self, user: &str, password: &str, iterations: u32) -> Result<()> {
        let up = ScramUpsert::new(user, password, ScramMechanism::Sha512, iterations.max(ScramMechanism::MIN_ITERATIONS));
        let mut res = self.alter_scram_credentials(&[up], &[]).await?;
        res.pop().map(|(_, r)| r).unwrap_or_else(|| Err(Error::Protocol("no result for SCRAM upsert".into())))
    }

    /// Delete one user's SCRAM-SHA-512 credential.
    pub async fn delete_scram_sha512(&self, user: &str) -> Result<()> {
        let mut res = self.alter_scram_credentials(&[], &[(user.to_string(), ScramMechanism::Sha512)]).await?;
        res.pop().map(|(_, r)| r).unwrap_or_else(|| Err(Error::Protocol("no result for SCRAM deletion".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

    /// RFC 7677 section 3: SCRAM-SHA-256 exchange for user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_vector() {
        let m = ScramMechanism::Sha256;
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password("pencil", &salt, 4096);
        let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final_wo_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth = format!("{client_first_bare},{server_first},{client_final_wo_proof}");
        let client_key = m.hmac(&salted, b"Client Key");
        let (stored, server_key) = m.stored_and_server_key(&salted);
        let sig = m.hmac(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
        assert_eq!(B64.encode(proof), "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        let server_sig = m.hmac(&server_key, auth.as_bytes());
        assert_eq!(B64.encode(server_sig), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    /// PBKDF2-HMAC-SHA512 checked against Python's hashlib.pbkdf2_hmac (independent
    /// implementation): pbkdf2_hmac('sha512', b'pencil', b'gregor-salt', 4096).
    #[test]
    fn sha512_salting_matches_reference() {
        let got = ScramMechanism::Sha512.salted_password("pencil", b"gregor-salt", 4096);
        assert_eq!(got.len(), 64);
        assert_eq!(hex(&got), SHA512_REFERENCE);
    }

    const SHA512_REFERENCE: &str =
        "5125e6946e2ca6b8edc043c492b86969f1652a2efa35c7b63fc47f83247e06ee2219572e0a67bfddda60a149b3158c02ea0785a57f486dda4d0d6720935aef4f";

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn upsert_request_carries_salt_and_hash_not_password() {
        let up = ScramUpsert::with_salt("alice", "pw", ScramMechanism::Sha512, 4096, vec![1, 2, 3]);
        let req = alter_scram_request(std::slice::from_ref(&up), &[("bob".into(), ScramMechanism::Sha512)]);
        let u = &req.upsertions[0];
        assert_eq!((u.mechanism, u.iterations, &u.salt[..]), (2, 4096, &[1u8, 2, 3][..]));
        assert_eq!(u.salted_password.len(), 64);
        assert_eq!(&u.salted_password[..], &up.salted_password[..]);
        assert_eq!(req.deletions[0].name.as_str(), "bob");
        assert!(!format!("{up:?}").contains("salted"));
    }

    #[test]
    fn passwords_are_alphanumeric() {
        let p = generate_password(32);
        assert_eq!(p.len(), 32);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(p, generate_password(32));
    }
}

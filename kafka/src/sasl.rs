//! SASL over Kafka's SaslHandshake + SaslAuthenticate: SCRAM-SHA-512 and OAUTHBEARER (with a
//! pluggable token provider), driven by rsasl.
//!
//! The operator uses SCRAM-SHA-512 only. OAUTHBEARER ([`TokenProvider`], [`StaticToken`],
//! `SaslConfig::OAuthBearer`) is not used by the operator today: it is here for the tests and
//! benchmarks (and for the upcoming canary).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use rsasl::callback::{Context, Request as CbRequest, SessionCallback, SessionData};
use rsasl::mechanisms::oauthbearer::properties::OAuthBearerErrored;
use rsasl::prelude::{Mechname, Registry, SASLClient, SASLConfig, SessionError, State};
use rsasl::property::{AuthId, OAuthBearerToken, Password};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::SaslConfig;
use crate::connection::Framed;
use crate::error::{Result, SaslError};
use crate::versions::Negotiated;

/// Supplies OAuth 2.0 bearer tokens (e.g. from an OIDC client-credentials flow).
/// Called once per new connection.
pub trait TokenProvider: Send + Sync {
    fn token(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// A provider returning a fixed token (tests, or tokens mounted from a file by the caller).
pub struct StaticToken(pub String);

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<String, String>> {
        let t = self.0.clone();
        Box::pin(async move { Ok(t) })
    }
}

struct Callback {
    username: String,
    password: String,
    token: String,
    server_error: Arc<Mutex<Option<String>>>,
}

impl SessionCallback for Callback {
    fn callback(&self, _session: &SessionData, _context: &Context, request: &mut CbRequest<'_>) -> Result<(), SessionError> {
        if let Some(err) = request.get_action::<OAuthBearerErrored>() {
            if let Ok(mut slot) = self.server_error.lock() {
                *slot = Some(format!("{}: {:?}", err.status, err.scope));
            }
            return Ok(());
        }
        if request.is::<OAuthBearerToken>() {
            request.satisfy::<OAuthBearerToken>(self.token.as_str())?;
            return Ok(());
        }
        request.satisfy::<AuthId>(self.username.as_str())?.satisfy::<Password>(self.password.as_bytes())?;
        Ok(())
    }
}

/// Authenticate `framed`; returns the session lifetime the broker granted, if any.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S>,
    negotiated: &Negotiated,
    cfg: &SaslConfig,
) -> Result<Option<Duration>> {
    let (mech, cb) = match cfg {
        SaslConfig::ScramSha512 { username, password } => (
            &rsasl::mechanisms::scram::SCRAM_SHA512,
            Callback { username: username.clone(), password: password.clone(), token: String::new(), server_error: Arc::default() },
        ),
        SaslConfig::OAuthBearer { provider } => {
            let token = provider.token().await.map_err(SaslError::TokenProvider)?;
            (
                &rsasl::mechanisms::oauthbearer::OAUTHBEARER,
                Callback { username: String::new(), password: String::new(), token, server_error: Arc::default() },
            )
        }
    };
    let mech_name = mech.mechanism.as_str().to_string();
    let server_error = cb.server_error.clone();

    let hs_version = negotiated.version_for(ApiKey::SaslHandshake as i16, &framed.addr)?;
    let hs =
        framed.roundtrip(&SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mech_name.clone())), hs_version).await?;
    if hs.error_code != 0 {
        return Err(
            SaslError::MechanismNotEnabled { wanted: mech_name, offered: hs.mechanisms.iter().map(|m| m.to_string()).collect() }.into()
        );
    }

    let mechs: &'static [rsasl::prelude::Mechanism] = match cfg {
        SaslConfig::ScramSha512 { .. } => std::slice::from_ref(&rsasl::mechanisms::scram::SCRAM_SHA512),
        SaslConfig::OAuthBearer { .. } => std::slice::from_ref(&rsasl::mechanisms::oauthbearer::OAUTHBEARER),
    };
    let config: Arc<SASLConfig> = SASLConfig::builder()
        .with_registry(Registry::with_mechanisms(mechs))
        .with_callback(cb)
        .map_err(|e| SaslError::Mechanism(e.to_string()))?;
    let name = Mechname::parse(mech_name.as_bytes()).map_err(|e| SaslError::Mechanism(e.to_string()))?;
    let mut session = SASLClient::new(config).start_suggested([name].iter()).map_err(|e| SaslError::Mechanism(e.to_string()))?;

    let auth_version = negotiated.version_for(ApiKey::SaslAuthenticate as i16, &framed.addr)?;
    let mut input: Option<Bytes> = None;
    let mut lifetime = None;
    loop {
        let mut out = Vec::new();
        let state = session.step(input.as_deref(), &mut out).map_err(|e| SaslError::AuthenticationFailed(e.to_string()))?;
        let must_send = match state {
            State::Running => true,
            State::Finished(ref sent) => matches!(sent, rsasl::prelude::MessageSent::Yes) || input.is_none(),
        };
        if !must_send {
            break;
        }
        if matches!(cfg, SaslConfig::OAuthBearer { .. }) && matches!(state, State::Finished(_)) && out.is_empty() {
            // RFC 7628: after a server error challenge the client answers with a lone %x01.
            out.push(1);
        }
        let resp = framed.roundtrip(&SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(out)), auth_version).await?;
        if resp.error_code != 0 {
            let detail = resp.error_message.map(|m| m.to_string()).unwrap_or_default();
            let extra = server_error.lock().ok().and_then(|s| s.clone()).map(|s| format!(" ({s})")).unwrap_or_default();
            tracing::debug!(addr = %framed.addr, code = resp.error_code, "sasl authentication failed");
            return Err(SaslError::AuthenticationFailed(format!("{detail}{extra}")).into());
        }
        if resp.session_lifetime_ms > 0 {
            lifetime = Some(Duration::from_millis(resp.session_lifetime_ms as u64));
        }
        if matches!(state, State::Finished(_)) {
            break;
        }
        input = Some(resp.auth_bytes);
    }
    Ok(lifetime)
}

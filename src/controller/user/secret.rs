//! The user's own Secret (named after the user, keys `password` and `sasl.jaas.config`), and
//! the Secret a user may name as its password source.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};

use super::plan::{SecretState, jaas_config, password_hash};
use crate::api::KafkaUser;
use crate::controller::apply::FIELD_MANAGER;
use crate::model::names::labels;

/// Key of the password in the user's Secret.
pub const PASSWORD_KEY: &str = "password";
/// Key of the JAAS configuration in the user's Secret.
pub const JAAS_KEY: &str = "sasl.jaas.config";
/// Annotation on the user's Secret: fingerprint of the password Kafka has.
pub const PASSWORD_HASH_ANNOTATION: &str = concat!(crate::api_group!(), "/password-hash");
/// Label on the user's Secret: the KafkaUser it belongs to.
pub const USER_LABEL: &str = concat!(crate::api_group!(), "/user");

fn text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// One key of a Secret, as text.
pub fn secret_text(secret: &Secret, key: &str) -> Option<String> {
    text(secret, key)
}

/// What the user's Secret says about the password.
pub fn secret_state(secret: &Secret) -> SecretState {
    SecretState {
        password: text(secret, PASSWORD_KEY),
        applied_hash: secret.annotations().get(PASSWORD_HASH_ANNOTATION).cloned(),
        jaas: text(secret, JAAS_KEY),
    }
}

/// Whether the Secret is the user's own (controller owner reference to this KafkaUser).
pub fn owned_by(secret: &Secret, ku: &KafkaUser) -> bool {
    let uid = ku.meta().uid.as_deref();
    secret.owner_references().iter().any(|r| Some(r.uid.as_str()) == uid && r.controller == Some(true))
}

/// The metadata of a user's own Secret: named after the user, labelled with it, owned by it, with
/// the annotation that marks what the controller last wrote (`key=value`).
pub fn user_secret_meta(ku: &KafkaUser, annotation: (&str, String)) -> ObjectMeta {
    let username = ku.name_any();
    ObjectMeta {
        name: Some(username.clone()),
        namespace: ku.namespace(),
        labels: Some(BTreeMap::from([
            (labels::MANAGED_BY.to_owned(), labels::MANAGED_BY_VALUE.to_owned()),
            (USER_LABEL.to_owned(), username),
        ])),
        annotations: Some(BTreeMap::from([(annotation.0.to_owned(), annotation.1)])),
        owner_references: ku.controller_owner_ref(&()).map(|r| vec![r]),
        ..ObjectMeta::default()
    }
}

/// The user's Secret with this password and client configuration.
pub fn user_secret(ku: &KafkaUser, password: &str, client_properties: &str) -> Secret {
    let username = ku.name_any();
    Secret {
        metadata: user_secret_meta(ku, (PASSWORD_HASH_ANNOTATION, password_hash(&username, password))),
        data: Some(BTreeMap::from([
            (PASSWORD_KEY.to_owned(), ByteString(password.as_bytes().to_vec())),
            (JAAS_KEY.to_owned(), ByteString(jaas_config(&username, password).into_bytes())),
            (super::tls::CLIENT_PROPERTIES_KEY.to_owned(), ByteString(client_properties.as_bytes().to_vec())),
        ])),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    }
}

/// Server-side applies the user's Secret.
pub async fn apply(api: &Api<Secret>, secret: &Secret) -> kube::Result<()> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let mut value = serde_json::to_value(secret).map_err(kube::Error::SerdeError)?;
    value["apiVersion"] = "v1".into();
    value["kind"] = "Secret".into();
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&value)).await?;
    Ok(())
}

/// Deletes a Secret; one already gone is fine.
pub async fn delete(api: &Api<Secret>, name: &str) -> kube::Result<()> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_carries_password_jaas_and_fingerprint() {
        let mut ku = KafkaUser::new("alice", serde_json::from_value(serde_json::json!({"cluster": "c"})).expect("spec"));
        ku.metadata.namespace = Some("ns".into());
        ku.metadata.uid = Some("u1".into());
        let s = user_secret(&ku, "pw", "security.protocol=SSL\n");
        let state = secret_state(&s);
        assert_eq!(state.password.as_deref(), Some("pw"));
        assert_eq!(state.applied_hash, Some(password_hash("alice", "pw")));
        assert!(state.jaas.as_deref().is_some_and(|j| j.contains("username=\"alice\" password=\"pw\"")));
        assert!(owned_by(&s, &ku));
        assert_eq!(s.metadata.name.as_deref(), Some("alice"));
    }
}

//! JWT verification (the app's identity provider and this service's own tokens) and signing.
//!
//! Two kinds of token are accepted:
//! - **own tokens**, signed by this service (accounts, anonymous sessions, `chat-threads token`):
//!   `iss` and `aud` are `self_issuer`, HS256 with the service secret;
//! - **provider tokens** from the app's identity provider: any other `iss`, verified with the
//!   configured algorithm (HS256 with the shared secret, RS256 or ES256 with a PEM public key or
//!   a JWKS file), issuer and audience, reading claims under the configured names.
//!
//! The algorithm is fixed per kind of token, never taken from the token: `alg: none` and a token
//! whose algorithm differs from the configured one (the HS/RS confusion attack) are refused
//! before any signature check.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chat_threads_application::AppError;
use chat_threads_application::accounts::{AuthError, TokenIssuer, TokenVerifier};
use chat_threads_domain::{OrgId, Principal, PrincipalKind, Timestamp};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The identity provider's signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ProviderAlgorithm {
    /// HMAC-SHA256 with the shared secret.
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

impl ProviderAlgorithm {
    fn jwt(self) -> Algorithm {
        match self {
            Self::HS256 => Algorithm::HS256,
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
        }
    }
}

/// Where the provider's public keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The shared HS256 secret.
    SharedSecret,
    /// A PEM file holding one public key.
    PemFile(PathBuf),
    /// A JWKS file; keys are picked by the token's `kid`.
    JwksFile(PathBuf),
}

/// Claim names in provider tokens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimNames {
    /// The subject (user id).
    pub subject: String,
    /// The organization.
    pub org: String,
    /// The e-mail.
    pub email: String,
    /// The display name.
    #[serde(default = "name_claim")]
    pub name: String,
    /// Scopes: a space-separated string or an array.
    pub scopes: String,
}

fn name_claim() -> String {
    "name".into()
}

/// How provider tokens are verified.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Signing algorithm.
    pub algorithm: ProviderAlgorithm,
    /// Key source.
    pub keys: KeySource,
    /// Required `iss`, if any.
    pub issuer: Option<String>,
    /// Required `aud`, if any.
    pub audience: Option<String>,
    /// Claim names.
    pub claims: ClaimNames,
}

/// Everything the authority needs.
#[derive(Clone)]
pub struct JwtConfig {
    /// `iss`/`aud` of own tokens.
    pub self_issuer: String,
    /// The HS256 secret (configured, or generated and stored in the database).
    pub secret: Vec<u8>,
    /// Clock skew tolerated on exp/nbf, seconds.
    pub leeway_secs: u64,
    /// The identity provider.
    pub provider: ProviderConfig,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("self_issuer", &self.self_issuer)
            .field("secret", &"***")
            .field("leeway_secs", &self.leeway_secs)
            .field("provider", &self.provider)
            .finish()
    }
}

enum ProviderKeys {
    One(DecodingKey),
    ByKid(HashMap<String, DecodingKey>),
}

struct Inner {
    self_issuer: String,
    encoding: EncodingKey,
    own_key: DecodingKey,
    own_validation: Validation,
    provider_alg: Algorithm,
    provider_keys: ProviderKeys,
    provider_validation: Validation,
    claims: ClaimNames,
}

/// Verifies and signs tokens. Cloning shares the keys.
#[derive(Clone)]
pub struct JwtAuthority(Arc<Inner>);

impl std::fmt::Debug for JwtAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthority")
            .field("self_issuer", &self.0.self_issuer)
            .finish_non_exhaustive()
    }
}

/// Why the authority could not be built.
#[derive(Debug, thiserror::Error)]
#[error("auth configuration: {0}")]
pub struct KeyError(String);

fn read(path: &PathBuf) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError(format!("cannot read {}: {e}", path.display())))
}

impl JwtAuthority {
    /// Loads keys and builds validators.
    pub fn new(config: JwtConfig) -> Result<Self, KeyError> {
        if config.secret.len() < 32 {
            return Err(KeyError(
                "the HS256 secret must be at least 32 bytes".into(),
            ));
        }
        let leeway = config.leeway_secs;
        let mut own_validation = Validation::new(Algorithm::HS256);
        own_validation.leeway = leeway;
        own_validation.validate_nbf = true;
        own_validation.set_issuer(&[&config.self_issuer]);
        own_validation.set_audience(&[&config.self_issuer]);
        own_validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

        let p = &config.provider;
        let alg = p.algorithm.jwt();
        let provider_keys = match (&p.keys, p.algorithm) {
            (KeySource::SharedSecret, ProviderAlgorithm::HS256) => {
                ProviderKeys::One(DecodingKey::from_secret(&config.secret))
            }
            (KeySource::SharedSecret, _) => {
                return Err(KeyError(format!(
                    "{:?} needs auth.provider.public_key_file or auth.provider.jwks_file",
                    p.algorithm
                )));
            }
            (_, ProviderAlgorithm::HS256) => {
                return Err(KeyError(
                    "HS256 uses the shared secret, not a public key file".into(),
                ));
            }
            (KeySource::PemFile(path), algorithm) => {
                let pem = read(path)?;
                let key = match algorithm {
                    ProviderAlgorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
                    _ => DecodingKey::from_ec_pem(&pem),
                }
                .map_err(|e| {
                    KeyError(format!(
                        "{}: not a {algorithm:?} public key: {e}",
                        path.display()
                    ))
                })?;
                ProviderKeys::One(key)
            }
            (KeySource::JwksFile(path), _) => {
                let set: JwkSet = serde_json::from_slice(&read(path)?).map_err(|e| {
                    KeyError(format!("{}: not a JWKS document: {e}", path.display()))
                })?;
                let mut keys = HashMap::new();
                for jwk in &set.keys {
                    let kid = jwk.common.key_id.clone().unwrap_or_default();
                    let key = DecodingKey::from_jwk(jwk)
                        .map_err(|e| KeyError(format!("{}: key {kid:?}: {e}", path.display())))?;
                    keys.insert(kid, key);
                }
                if keys.is_empty() {
                    return Err(KeyError(format!(
                        "{}: the JWKS holds no keys",
                        path.display()
                    )));
                }
                ProviderKeys::ByKid(keys)
            }
        };
        let mut provider_validation = Validation::new(alg);
        provider_validation.leeway = leeway;
        provider_validation.validate_nbf = true;
        // A configured issuer or audience must be present, not only right when present.
        let mut required = vec!["exp"];
        required.extend(p.issuer.as_ref().map(|_| "iss"));
        required.extend(p.audience.as_ref().map(|_| "aud"));
        provider_validation.set_required_spec_claims(&required);
        match &p.issuer {
            Some(iss) => provider_validation.set_issuer(&[iss]),
            None => provider_validation.iss = None,
        }
        match &p.audience {
            Some(aud) => provider_validation.set_audience(&[aud]),
            None => provider_validation.validate_aud = false,
        }
        Ok(Self(Arc::new(Inner {
            self_issuer: config.self_issuer.clone(),
            encoding: EncodingKey::from_secret(&config.secret),
            own_key: DecodingKey::from_secret(&config.secret),
            own_validation,
            provider_alg: alg,
            provider_keys,
            provider_validation,
            claims: p.claims.clone(),
        })))
    }
}

fn segment(raw: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| AuthError::TokenMalformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(AuthError::TokenMalformed),
    }
}

fn classify(e: &jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        ErrorKind::InvalidSignature => AuthError::TokenSignatureInvalid,
        ErrorKind::ExpiredSignature => AuthError::TokenExpired,
        ErrorKind::ImmatureSignature => AuthError::TokenNotYetValid,
        ErrorKind::InvalidIssuer => AuthError::TokenIssuerInvalid,
        ErrorKind::InvalidAudience => AuthError::TokenAudienceInvalid,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => AuthError::TokenAlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => AuthError::TokenIssuerMissing,
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => AuthError::TokenAudienceMissing,
        ErrorKind::MissingRequiredClaim(claim) if claim == "sub" => AuthError::TokenSubjectMissing,
        _ => AuthError::TokenMalformed,
    }
}

/// Whether a claim the service stores or shows (subject, org, e-mail) is unusable text: a token
/// carrying one is malformed, never a 500 further in.
fn unusable_claim(claims: &Map<String, Value>, name: &str) -> bool {
    matches!(claims.get(name), Some(Value::String(s)) if s.chars().any(char::is_control))
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn scopes_claim(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl TokenVerifier for JwtAuthority {
    fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let inner = &self.0;
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::TokenMalformed);
        };
        let header = segment(header)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(AuthError::TokenMalformed)?;
        if alg.eq_ignore_ascii_case("none") {
            return Err(AuthError::TokenUnsigned);
        }
        let unverified = segment(payload)?;
        let own = unverified.get("iss").and_then(Value::as_str) == Some(inner.self_issuer.as_str());
        let expected = if own {
            Algorithm::HS256
        } else {
            inner.provider_alg
        };
        if alg.parse::<Algorithm>().ok() != Some(expected) {
            return Err(AuthError::TokenAlgorithmNotAllowed);
        }
        let (key, validation) = if own {
            (&inner.own_key, &inner.own_validation)
        } else {
            let key = match &inner.provider_keys {
                ProviderKeys::One(key) => key,
                ProviderKeys::ByKid(keys) => {
                    let kid = header.get("kid").and_then(Value::as_str);
                    match kid {
                        Some(kid) => keys.get(kid).ok_or(AuthError::TokenSignatureInvalid)?,
                        None if keys.len() == 1 => keys
                            .values()
                            .next()
                            .ok_or(AuthError::TokenSignatureInvalid)?,
                        None => return Err(AuthError::TokenSignatureInvalid),
                    }
                }
            };
            (key, &inner.provider_validation)
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .map_err(|e| classify(&e))?;
        let claims = data.claims;
        let names = &inner.claims;
        let checked = if own {
            ["sub", "org", "email", "name"]
        } else {
            [
                names.subject.as_str(),
                names.org.as_str(),
                names.email.as_str(),
                names.name.as_str(),
            ]
        };
        if checked.iter().any(|n| unusable_claim(&claims, n)) {
            return Err(AuthError::TokenMalformed);
        }
        if own {
            let subject = string_claim(&claims, "sub").ok_or(AuthError::TokenSubjectMissing)?;
            let kind = match claims.get("kind").and_then(Value::as_str) {
                Some("anon") => PrincipalKind::Anonymous,
                Some("service") => PrincipalKind::Service,
                _ => PrincipalKind::User,
            };
            return Ok(Principal {
                subject,
                org: string_claim(&claims, "org").and_then(|o| OrgId::parse(&o).ok()),
                kind,
                scopes: scopes_claim(&claims, "scope"),
                email: string_claim(&claims, "email"),
                name: string_claim(&claims, "name"),
                session_key: string_claim(&claims, "skey"),
            });
        }

        Ok(Principal {
            subject: string_claim(&claims, &names.subject).ok_or(AuthError::TokenSubjectMissing)?,
            org: string_claim(&claims, &names.org).and_then(|o| OrgId::parse(&o).ok()),
            kind: PrincipalKind::User,
            scopes: scopes_claim(&claims, &names.scopes),
            email: string_claim(&claims, &names.email),
            name: string_claim(&claims, &names.name),
            session_key: None,
        })
    }
}

impl TokenIssuer for JwtAuthority {
    fn issue(&self, principal: &Principal, expires_at: Timestamp) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.0.self_issuer,
            "aud": self.0.self_issuer,
            "sub": principal.subject,
            "kind": principal.kind.as_str(),
            "iat": now,
            "nbf": now,
            "exp": expires_at.timestamp(),
        });
        if let Some(org) = &principal.org {
            claims["org"] = json!(org.as_str());
        }
        if let Some(email) = &principal.email {
            claims["email"] = json!(email);
        }
        if let Some(name) = &principal.name {
            claims["name"] = json!(name);
        }
        if !principal.scopes.is_empty() {
            claims["scope"] = json!(principal.scopes.join(" "));
        }
        if let Some(key) = &principal.session_key {
            claims["skey"] = json!(key);
        }
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .map_err(|e| AppError::internal_from("signing a token failed", e))
    }
}

//! Token verification: what is accepted (own tokens; provider tokens by HS256, RS256 and ES256
//! from a PEM file or a JWKS file) and each rejection with its own code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write;

use chat_threads_application::accounts::{AuthError, TokenIssuer, TokenVerifier};
use chat_threads_domain::{Principal, PrincipalKind};
use chat_threads_infrastructure::auth::{
    ClaimNames, JwtAuthority, JwtConfig, KeySource, ProviderAlgorithm, ProviderConfig,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &[u8] = b"an-hs256-secret-that-is-long-enough-0123456789";

fn claims() -> ClaimNames {
    ClaimNames {
        subject: "sub".into(),
        org: "org".into(),
        email: "email".into(),
        name: "name".into(),
        scopes: "scope".into(),
    }
}

fn authority(provider: ProviderConfig) -> JwtAuthority {
    JwtAuthority::new(JwtConfig {
        self_issuer: "chat-threads".into(),
        secret: SECRET.to_vec(),
        leeway_secs: 5,
        provider,
    })
    .unwrap()
}

fn hs_provider() -> ProviderConfig {
    ProviderConfig {
        algorithm: ProviderAlgorithm::HS256,
        keys: KeySource::SharedSecret,
        issuer: Some("https://idp.example".into()),
        audience: Some("chat-api".into()),
        claims: claims(),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn idp_claims() -> Value {
    json!({"iss": "https://idp.example", "aud": "chat-api", "sub": "alice", "org": "acme",
           "email": "alice@acme.test", "scope": "read org:admin", "exp": now() + 600, "nbf": now() - 10})
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET),
        claims,
        None,
    )
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn provider_hs256_token_becomes_a_user_principal_with_claims() {
    let auth = authority(hs_provider());
    let p = auth.verify(&hs(&idp_claims())).unwrap();
    assert_eq!(p.subject, "alice");
    assert_eq!(p.kind, PrincipalKind::User);
    assert_eq!(p.org.unwrap().as_str(), "acme");
    assert_eq!(p.email.as_deref(), Some("alice@acme.test"));
    assert_eq!(p.scopes, vec!["read", "org:admin"]);
}

#[test]
fn own_tokens_round_trip_with_their_kind() {
    let auth = authority(hs_provider());
    let mut anon = Principal::user("s-123", None);
    anon.kind = PrincipalKind::Anonymous;
    let token = auth
        .issue(&anon, chrono::Utc::now() + chrono::TimeDelta::hours(1))
        .unwrap();
    let back = auth.verify(&token).unwrap();
    assert_eq!(
        (back.subject.as_str(), back.kind),
        ("s-123", PrincipalKind::Anonymous)
    );
}

#[test]
fn configurable_claim_names_and_array_scopes() {
    let provider = ProviderConfig {
        claims: ClaimNames {
            subject: "uid".into(),
            org: "tenant".into(),
            email: "mail".into(),
            name: "name".into(),
            scopes: "roles".into(),
        },
        ..hs_provider()
    };
    let auth = authority(provider);
    let token = hs(
        &json!({"iss": "https://idp.example", "aud": "chat-api", "uid": 42, "tenant": "globex",
                          "roles": ["a", "b"], "exp": now() + 60}),
    );
    let p = auth.verify(&token).unwrap();
    assert_eq!(
        (p.subject.as_str(), p.org.unwrap().as_str()),
        ("42", "globex")
    );
    assert_eq!(p.scopes, vec!["a", "b"]);
    let no_subject = hs(
        &json!({"iss": "https://idp.example", "aud": "chat-api", "sub": "x", "exp": now() + 60}),
    );
    assert_eq!(
        auth.verify(&no_subject).unwrap_err(),
        AuthError::TokenSubjectMissing
    );
}

#[test]
fn each_rejection_has_its_own_error() {
    let auth = authority(hs_provider());
    let mut c = idp_claims();
    let cases: Vec<(&str, String, AuthError)> = vec![
        ("garbled", "not.a.jwt".into(), AuthError::TokenMalformed),
        ("two segments", "abc.def".into(), AuthError::TokenMalformed),
        (
            "bad signature",
            {
                let t = hs(&c);
                let (body, _) = t.rsplit_once('.').unwrap();
                format!("{body}.{}", "A".repeat(43))
            },
            AuthError::TokenSignatureInvalid,
        ),
        (
            "other secret",
            sign(
                Algorithm::HS256,
                &EncodingKey::from_secret(b"another-secret-another-secret-another!!"),
                &c,
                None,
            ),
            AuthError::TokenSignatureInvalid,
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&c)
            ),
            AuthError::TokenUnsigned,
        ),
        (
            "alg None",
            format!("{}.{}.sig", b64(&json!({"alg": "None"})), b64(&c)),
            AuthError::TokenUnsigned,
        ),
        (
            "HS512 where HS256 is configured",
            sign(
                Algorithm::HS512,
                &EncodingKey::from_secret(SECRET),
                &c,
                None,
            ),
            AuthError::TokenAlgorithmNotAllowed,
        ),
        (
            "expired",
            {
                c["exp"] = json!(now() - 60);
                let t = hs(&c);
                c["exp"] = json!(now() + 600);
                t
            },
            AuthError::TokenExpired,
        ),
        (
            "not yet valid",
            {
                c["nbf"] = json!(now() + 60);
                let t = hs(&c);
                c["nbf"] = json!(now() - 10);
                t
            },
            AuthError::TokenNotYetValid,
        ),
        (
            "wrong issuer",
            {
                c["iss"] = json!("https://evil.example");
                let t = hs(&c);
                c["iss"] = json!("https://idp.example");
                t
            },
            AuthError::TokenIssuerInvalid,
        ),
        (
            "wrong audience",
            {
                c["aud"] = json!("other-api");
                let t = hs(&c);
                c["aud"] = json!("chat-api");
                t
            },
            AuthError::TokenAudienceInvalid,
        ),
        (
            "no issuer while one is configured",
            {
                let mut x = c.clone();
                x.as_object_mut().unwrap().remove("iss");
                hs(&x)
            },
            AuthError::TokenIssuerMissing,
        ),
        (
            "no audience while one is configured",
            {
                let mut x = c.clone();
                x.as_object_mut().unwrap().remove("aud");
                hs(&x)
            },
            AuthError::TokenAudienceMissing,
        ),
        (
            "a NUL in the subject",
            {
                let mut x = c.clone();
                x["sub"] = json!("ali\u{0}ce");
                hs(&x)
            },
            AuthError::TokenMalformed,
        ),
        (
            "no exp",
            {
                let mut x = c.clone();
                x.as_object_mut().unwrap().remove("exp");
                hs(&x)
            },
            AuthError::TokenMalformed,
        ),
    ];
    for (name, token, expected) in cases {
        assert_eq!(auth.verify(&token).unwrap_err(), expected, "{name}");
    }
    // The leeway absorbs small clock skew.
    c["exp"] = json!(now() - 2);
    assert!(auth.verify(&hs(&c)).is_ok());
}

fn temp_file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

#[test]
fn rs256_from_pem_and_the_hs_rs_confusion_attack() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let pem_file = temp_file(&public_pem);
    let auth = authority(ProviderConfig {
        algorithm: ProviderAlgorithm::RS256,
        keys: KeySource::PemFile(pem_file.path().to_owned()),
        ..hs_provider()
    });
    let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap();
    assert_eq!(
        auth.verify(&sign(Algorithm::RS256, &key, &idp_claims(), None))
            .unwrap()
            .subject,
        "alice"
    );

    // The classic confusion: HS256 "signed" with the public key as the HMAC secret.
    let forged = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(public_pem.as_bytes()),
        &idp_claims(),
        None,
    );
    assert_eq!(
        auth.verify(&forged).unwrap_err(),
        AuthError::TokenAlgorithmNotAllowed
    );
    // HS256 with the real shared secret is still not a provider token when RS256 is configured.
    assert_eq!(
        auth.verify(&hs(&idp_claims())).unwrap_err(),
        AuthError::TokenAlgorithmNotAllowed
    );
    // Genuinely signed, but without the configured issuer or audience.
    for (claim, expected) in [
        ("iss", AuthError::TokenIssuerMissing),
        ("aud", AuthError::TokenAudienceMissing),
    ] {
        let mut c = idp_claims();
        c.as_object_mut().unwrap().remove(claim);
        assert_eq!(
            auth.verify(&sign(Algorithm::RS256, &key, &c, None))
                .unwrap_err(),
            expected,
            "RS256 without {claim}"
        );
    }
    // With neither configured, neither is required.
    let open = authority(ProviderConfig {
        algorithm: ProviderAlgorithm::RS256,
        keys: KeySource::PemFile(pem_file.path().to_owned()),
        issuer: None,
        audience: None,
        ..hs_provider()
    });
    let mut bare = idp_claims();
    bare.as_object_mut().unwrap().remove("iss");
    bare.as_object_mut().unwrap().remove("aud");
    assert!(
        open.verify(&sign(Algorithm::RS256, &key, &bare, None))
            .is_ok()
    );
    // A different RSA key fails the signature.
    let other = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let other_key =
        EncodingKey::from_rsa_pem(other.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    assert_eq!(
        auth.verify(&sign(Algorithm::RS256, &other_key, &idp_claims(), None))
            .unwrap_err(),
        AuthError::TokenSignatureInvalid
    );
}

#[test]
fn es256_from_pem_and_from_jwks_by_kid() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let private_pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public_pem = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let key = EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap();

    let pem_file = temp_file(&public_pem);
    let auth = authority(ProviderConfig {
        algorithm: ProviderAlgorithm::ES256,
        keys: KeySource::PemFile(pem_file.path().to_owned()),
        ..hs_provider()
    });
    assert_eq!(
        auth.verify(&sign(Algorithm::ES256, &key, &idp_claims(), None))
            .unwrap()
            .subject,
        "alice"
    );
    assert_eq!(
        auth.verify(&hs(&idp_claims())).unwrap_err(),
        AuthError::TokenAlgorithmNotAllowed
    );
    let mut no_aud = idp_claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        auth.verify(&sign(Algorithm::ES256, &key, &no_aud, None))
            .unwrap_err(),
        AuthError::TokenAudienceMissing
    );

    // The same key published in a JWKS under a kid.
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let point = secret.public_key().to_encoded_point(false);
    use base64::Engine;
    let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
                                 "x": enc(point.x().unwrap()), "y": enc(point.y().unwrap())}]});
    let jwks_file = temp_file(&jwks.to_string());
    let auth = authority(ProviderConfig {
        algorithm: ProviderAlgorithm::ES256,
        keys: KeySource::JwksFile(jwks_file.path().to_owned()),
        ..hs_provider()
    });
    assert!(
        auth.verify(&sign(Algorithm::ES256, &key, &idp_claims(), Some("k1")))
            .is_ok()
    );
    assert_eq!(
        auth.verify(&sign(
            Algorithm::ES256,
            &key,
            &idp_claims(),
            Some("unknown")
        ))
        .unwrap_err(),
        AuthError::TokenSignatureInvalid
    );
}

#[test]
fn misconfiguration_is_refused_at_start() {
    let short = JwtAuthority::new(JwtConfig {
        self_issuer: "chat-threads".into(),
        secret: b"short".to_vec(),
        leeway_secs: 0,
        provider: hs_provider(),
    });
    assert!(short.is_err());
    let missing = JwtAuthority::new(JwtConfig {
        self_issuer: "chat-threads".into(),
        secret: SECRET.to_vec(),
        leeway_secs: 0,
        provider: ProviderConfig {
            algorithm: ProviderAlgorithm::RS256,
            ..hs_provider()
        },
    });
    assert!(missing.unwrap_err().to_string().contains("public_key_file"));
}

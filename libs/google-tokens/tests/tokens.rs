//! Each token kind minted, published in both of Google's formats, and verified; then every
//! verification rule rejecting its bad case, one line per case (`check_rejected`).

use google_tokens::claims::{FIREBASE_CUSTOM_TOKEN_AUDIENCE, IAP_ISSUER};
use google_tokens::{
    Alg, FirebaseClaims, FirebaseCustomTokenClaims, GoogleIdClaims, IapClaims, KeySet, Policy,
    ServiceAccountJwtClaims, SigningKey, VerifyError, forge, verify,
};
use serde_json::{Value, json};

const NOW: u64 = 1_764_000_000;
const CLIENT_ID: &str = "987654321-abcdefghijklmnop.apps.googleusercontent.com";
const BACKEND_AUD: &str = "/projects/123456789012/global/backendServices/4242424242424242424";
const GATEWAY_SA: &str = "my-gateway-sa@my-project.iam.gserviceaccount.com";

struct Issuer {
    key: SigningKey,
}

impl Issuer {
    fn rsa() -> Self {
        Self {
            key: SigningKey::generate_rsa(None).expect("rsa key"),
        }
    }
    fn ec() -> Self {
        Self {
            key: SigningKey::generate_ec(None).expect("ec key"),
        }
    }
    fn jwks_keys(&self) -> KeySet {
        let jwks = google_tokens::Jwks {
            keys: vec![self.key.public_jwk()],
        };
        // Round-trip through JSON: what a client reads is what the emulator serves.
        let text = serde_json::to_string(&jwks).expect("jwks json");
        KeySet::from_jwks(
            self.key.alg(),
            &serde_json::from_str(&text).expect("jwks parse"),
        )
        .expect("jwks key set")
    }
    fn x509_keys(&self) -> KeySet {
        let mut map = google_tokens::PemMap::new();
        map.insert(
            self.key.kid().into(),
            self.key
                .certificate_pem("securetoken.system.gserviceaccount.com")
                .expect("cert"),
        );
        KeySet::from_pem_map(self.key.alg(), &map).expect("pem key set")
    }
    fn public_key_pem_keys(&self) -> KeySet {
        let mut map = google_tokens::PemMap::new();
        map.insert(
            self.key.kid().into(),
            self.key.public_key_pem().expect("public pem"),
        );
        KeySet::from_pem_map(self.key.alg(), &map).expect("pem key set")
    }
}

fn id_claims() -> GoogleIdClaims {
    GoogleIdClaims::for_service_account(GATEWAY_SA, "112233445566778899000", CLIENT_ID, NOW)
}

#[test]
fn a_google_id_token_verifies_against_its_jwks_and_its_x509_map() {
    let issuer = Issuer::rsa();
    let token = issuer.key.sign(&id_claims()).expect("sign");
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]).requiring_email();
    for keys in [issuer.jwks_keys(), issuer.x509_keys()] {
        let claims: GoogleIdClaims = verify(&token, &keys, &policy, NOW + 10).expect("verifies");
        assert_eq!(claims.email.as_deref(), Some(GATEWAY_SA));
        assert_eq!(claims.iss, "https://accounts.google.com");
        assert_eq!(claims.exp, claims.iat + 3600);
        assert_eq!(claims.azp, claims.sub);
    }
}

#[test]
fn an_iap_assertion_is_es256_and_verifies_against_both_gstatic_formats() {
    let issuer = Issuer::ec();
    let claims = IapClaims::new(
        BACKEND_AUD,
        "my-gateway-sa@my-project.iam.gserviceaccount.com",
        "1234",
        NOW,
    );
    let token = issuer.key.sign(&claims).expect("sign");
    let header: Value =
        serde_json::from_slice(&base64_decode(token.split('.').next().unwrap_or_default()))
            .expect("header");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], issuer.key.kid());
    let policy = Policy::iap_assertion(BACKEND_AUD);
    for keys in [issuer.jwks_keys(), issuer.public_key_pem_keys()] {
        let got: IapClaims = verify(&token, &keys, &policy, NOW).expect("verifies");
        assert_eq!(got.iss, IAP_ISSUER);
        assert_eq!(got.sub, "accounts.google.com:1234");
        assert_eq!(got.user_id(), "1234");
        assert_eq!(got.exp - got.iat, 600);
    }
}

#[test]
fn a_firebase_id_token_verifies_against_the_securetoken_x509_map() {
    let issuer = Issuer::rsa();
    let claims =
        FirebaseClaims::for_password_user("my-project", "uid-alice", "alice@example.com", NOW);
    let token = issuer.key.sign(&claims).expect("sign");
    let got: FirebaseClaims = verify(
        &token,
        &issuer.x509_keys(),
        &Policy::firebase_id_token("my-project"),
        NOW,
    )
    .expect("verifies");
    assert_eq!(got.iss, "https://securetoken.google.com/my-project");
    assert_eq!(got.aud, "my-project");
    assert_eq!(got.user_id, "uid-alice");
    assert_eq!(got.firebase.sign_in_provider, "password");
    assert_eq!(
        got.firebase.identities["email"],
        json!(["alice@example.com"])
    );
}

#[test]
fn a_self_signed_service_account_jwt_verifies_for_its_resource_url_and_a_path_wildcard() {
    let issuer = Issuer::rsa();
    let policy = Policy::service_account_jwt(GATEWAY_SA, "https://api.myawesomeapp.com/smoothie");
    for aud in [
        "https://api.myawesomeapp.com/smoothie",
        "https://api.myawesomeapp.com/*",
    ] {
        let token = issuer
            .key
            .sign(&ServiceAccountJwtClaims::new(GATEWAY_SA, aud, NOW))
            .expect("sign");
        let got: ServiceAccountJwtClaims =
            verify(&token, &issuer.jwks_keys(), &policy, NOW).expect(aud);
        assert_eq!(got.iss, GATEWAY_SA);
    }
    let elsewhere = issuer
        .key
        .sign(&ServiceAccountJwtClaims::new(
            GATEWAY_SA,
            "https://other.example.com/*",
            NOW,
        ))
        .expect("sign");
    assert!(matches!(
        verify::<Value>(&elsewhere, &issuer.jwks_keys(), &policy, NOW),
        Err(VerifyError::WrongAudience { .. })
    ));
}

#[test]
fn a_firebase_custom_token_carries_the_identity_toolkit_audience() {
    let issuer = Issuer::rsa();
    let claims = FirebaseCustomTokenClaims::new(
        "firebase-adminsdk@my-project.iam.gserviceaccount.com",
        "uid-1",
        NOW,
    );
    let token = issuer.key.sign(&claims).expect("sign");
    let mut policy = Policy::service_account_jwt(
        "firebase-adminsdk@my-project.iam.gserviceaccount.com",
        FIREBASE_CUSTOM_TOKEN_AUDIENCE,
    );
    policy.max_lifetime = Some(3600);
    let got: FirebaseCustomTokenClaims =
        verify(&token, &issuer.jwks_keys(), &policy, NOW).expect("verifies");
    assert_eq!(got.uid, "uid-1");
}

// ---- every rule rejecting its bad case ------------------------------------------------------

/// Signs `id_claims()` edited by `edit` with a real key and expects `verify` to fail with `want`.
fn check_rejected(edit: impl FnOnce(&mut Value), want: impl Fn(&VerifyError) -> bool) {
    let issuer = Issuer::rsa();
    let mut claims = serde_json::to_value(id_claims()).expect("claims");
    edit(&mut claims);
    let token = issuer.key.sign(&claims).expect("sign");
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]).requiring_email();
    let got = verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW);
    match got {
        Err(e) if want(&e) => {}
        other => panic!("unexpected result {other:?}"),
    }
}

#[test]
fn rejects_an_expired_token() {
    check_rejected(
        |c| {
            c["iat"] = json!(NOW - 4000);
            c["exp"] = json!(NOW - 400)
        },
        |e| matches!(e, VerifyError::Expired { .. }),
    );
}

#[test]
fn accepts_a_token_expired_within_the_leeway() {
    let issuer = Issuer::rsa();
    let mut claims = id_claims();
    claims.iat = NOW - 3600;
    claims.exp = NOW - 20;
    let token = issuer.key.sign(&claims).expect("sign");
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert!(verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW).is_ok());
}

#[test]
fn rejects_a_token_issued_in_the_future() {
    check_rejected(
        |c| {
            c["iat"] = json!(NOW + 600);
            c["exp"] = json!(NOW + 1200)
        },
        |e| matches!(e, VerifyError::NotYetValid { claim: "iat", .. }),
    );
}

#[test]
fn rejects_a_token_not_yet_valid_by_nbf() {
    check_rejected(
        |c| c["nbf"] = json!(NOW + 600),
        |e| matches!(e, VerifyError::NotYetValid { claim: "nbf", .. }),
    );
}

#[test]
fn rejects_the_wrong_audience() {
    check_rejected(
        |c| c["aud"] = json!("https://smoothie-service-abc-uc.a.run.app"),
        |e| matches!(e, VerifyError::WrongAudience { found } if found[0].contains("run.app")),
    );
}

#[test]
fn accepts_an_audience_array_naming_the_client() {
    let issuer = Issuer::rsa();
    let mut claims = serde_json::to_value(id_claims()).expect("claims");
    claims["aud"] = json!(["other", CLIENT_ID]);
    let token = issuer.key.sign(&claims).expect("sign");
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert!(verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW).is_ok());
}

#[test]
fn rejects_the_wrong_issuer() {
    check_rejected(
        |c| c["iss"] = json!("https://evil.example.com"),
        |e| matches!(e, VerifyError::WrongIssuer { found } if found == "https://evil.example.com"),
    );
}

#[test]
fn rejects_a_token_without_exp() {
    check_rejected(
        |c| {
            c.as_object_mut().map(|o| o.remove("exp"));
        },
        |e| matches!(e, VerifyError::MissingClaim("exp")),
    );
}

#[test]
fn rejects_a_token_without_email_where_email_is_required() {
    check_rejected(
        |c| {
            c.as_object_mut().map(|o| o.remove("email"));
        },
        |e| matches!(e, VerifyError::MissingClaim("email")),
    );
}

#[test]
fn rejects_a_lifetime_longer_than_the_issuer_allows() {
    check_rejected(
        |c| c["exp"] = json!(NOW + 86_400),
        |e| {
            matches!(
                e,
                VerifyError::LifetimeTooLong {
                    lifetime: 86_400,
                    ..
                }
            )
        },
    );
}

#[test]
fn rejects_alg_none() {
    let issuer = Issuer::rsa();
    let token = forge::alg_none(&id_claims());
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert!(matches!(
        verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW),
        Err(VerifyError::AlgNotAllowed { found, expected: Alg::Rs256 }) if found == "none"
    ));
}

#[test]
fn rejects_hs256_signed_with_the_public_key() {
    let issuer = Issuer::rsa();
    let public_pem = issuer.key.public_key_pem().expect("pem");
    let token = forge::hs256_with_public_key(&id_claims(), issuer.key.kid(), public_pem.as_bytes());
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert!(matches!(
        verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW),
        Err(VerifyError::AlgNotAllowed { found, .. }) if found == "HS256"
    ));
}

#[test]
fn rejects_an_unknown_kid() {
    let issuer = Issuer::rsa();
    let stranger = Issuer::rsa();
    let token = stranger.key.sign(&id_claims()).expect("sign");
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert!(matches!(
        verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW),
        Err(VerifyError::UnknownKid(kid)) if kid == stranger.key.kid()
    ));
}

#[test]
fn rejects_a_path_traversal_kid_as_unknown() {
    let issuer = Issuer::rsa();
    let token =
        forge::signed_with_header(&issuer.key, "RS256", Some("../../dev/null"), &id_claims());
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert!(matches!(
        verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW),
        Err(VerifyError::UnknownKid(_))
    ));
}

#[test]
fn rejects_a_token_without_kid() {
    let issuer = Issuer::rsa();
    let token = forge::signed_with_header(&issuer.key, "RS256", None, &id_claims());
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert_eq!(
        verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW).err(),
        Some(VerifyError::MissingKid)
    );
}

#[test]
fn rejects_a_signature_made_by_another_key_under_a_known_kid() {
    let issuer = Issuer::rsa();
    let impostor = SigningKey::generate_rsa(Some(issuer.key.kid().into())).expect("key");
    let token = impostor.sign(&id_claims()).expect("sign");
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert_eq!(
        verify::<Value>(&token, &issuer.jwks_keys(), &policy, NOW).err(),
        Some(VerifyError::BadSignature)
    );
}

#[test]
fn rejects_a_tampered_payload() {
    let issuer = Issuer::rsa();
    let token = issuer.key.sign(&id_claims()).expect("sign");
    let tampered = forge::tamper_payload(&token, |c| c["email"] = json!("admin@corp.com"));
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    assert_eq!(
        verify::<Value>(&tampered, &issuer.jwks_keys(), &policy, NOW).err(),
        Some(VerifyError::BadSignature)
    );
}

#[test]
fn rejects_an_rs256_token_where_iap_expects_es256() {
    let rsa = Issuer::rsa();
    let ec = Issuer::ec();
    let token = rsa
        .key
        .sign(&IapClaims::new(BACKEND_AUD, "a@b.c", "1", NOW))
        .expect("sign");
    assert!(matches!(
        verify::<Value>(&token, &ec.jwks_keys(), &Policy::iap_assertion(BACKEND_AUD), NOW),
        Err(VerifyError::AlgNotAllowed { found, expected: Alg::Es256 }) if found == "RS256"
    ));
}

#[test]
fn rejects_garbage_as_malformed_without_panicking() {
    let issuer = Issuer::rsa();
    let policy = Policy::google_id_token(vec![CLIENT_ID.into()]);
    for garbage in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "e30.e30.e30",
        "eyJhbGciOiJSUzI1NiJ9..%%%",
    ] {
        assert!(
            matches!(
                verify::<Value>(garbage, &issuer.jwks_keys(), &policy, NOW),
                Err(VerifyError::Malformed(_))
            ),
            "{garbage:?}"
        );
    }
}

#[test]
fn firebase_rejects_an_empty_or_overlong_subject() {
    let issuer = Issuer::rsa();
    let policy = Policy::firebase_id_token("my-project");
    for sub in [String::new(), "x".repeat(129)] {
        let mut claims = FirebaseClaims::for_password_user("my-project", &sub, "a@b.c", NOW);
        claims.sub = sub.clone();
        let token = issuer.key.sign(&claims).expect("sign");
        assert!(matches!(
            verify::<Value>(&token, &issuer.x509_keys(), &policy, NOW),
            Err(VerifyError::InvalidClaim { claim: "sub", .. })
        ));
    }
}

#[test]
fn firebase_rejects_an_auth_time_in_the_future() {
    let issuer = Issuer::rsa();
    let mut claims = FirebaseClaims::for_password_user("my-project", "u", "a@b.c", NOW);
    claims.auth_time = NOW + 3600;
    let token = issuer.key.sign(&claims).expect("sign");
    assert!(matches!(
        verify::<Value>(
            &token,
            &issuer.x509_keys(),
            &Policy::firebase_id_token("my-project"),
            NOW
        ),
        Err(VerifyError::NotYetValid {
            claim: "auth_time",
            ..
        })
    ));
}

#[test]
fn firebase_rejects_a_token_of_another_project() {
    let issuer = Issuer::rsa();
    let token = issuer
        .key
        .sign(&FirebaseClaims::for_password_user(
            "other-project",
            "u",
            "a@b.c",
            NOW,
        ))
        .expect("sign");
    assert!(matches!(
        verify::<Value>(
            &token,
            &issuer.x509_keys(),
            &Policy::firebase_id_token("my-project"),
            NOW
        ),
        Err(VerifyError::WrongIssuer { .. })
    ));
}

#[test]
fn a_key_set_ignores_keys_of_the_other_algorithm() {
    let rsa = Issuer::rsa();
    let ec = Issuer::ec();
    let jwks = google_tokens::Jwks {
        keys: vec![rsa.key.public_jwk(), ec.key.public_jwk()],
    };
    let es = KeySet::from_jwks(Alg::Es256, &jwks).expect("es set");
    assert!(es.contains(ec.key.kid()) && !es.contains(rsa.key.kid()));
    assert!(
        KeySet::from_jwks(
            Alg::Es256,
            &google_tokens::Jwks {
                keys: vec![rsa.key.public_jwk()]
            }
        )
        .is_err()
    );
}

fn base64_decode(segment: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap_or_default()
}

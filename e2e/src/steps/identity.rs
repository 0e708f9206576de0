//! Who the client is: the credential it holds and where it sends it.

use cucumber::given;
use google_tokens::{IapClaims, ServiceAccountJwtClaims, SigningKey};

use super::header_pair;
use crate::tokens::{self, Flaw, TokenKind};
use crate::world::{FortressWorld, TokenPlace};

async fn hold(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: &str,
    flaw: Flaw,
) -> Result<(), String> {
    let email = w.expand(email).await?;
    let f = w.fortress().await?;
    w.credential = Some(tokens::mint(&f, kind, &email, &flaw)?);
    Ok(())
}

#[given(expr = "an anonymous client")]
async fn anonymous(w: &mut FortressWorld) {
    w.credential = None;
}

#[given(expr = "a signed-in Firebase user {string}")]
async fn firebase_user(w: &mut FortressWorld, email: String) -> Result<(), String> {
    let email = w.expand(&email).await?;
    let f = w.fortress().await?;
    w.credential = Some(tokens::firebase_sign_in(&f, &email).await?);
    Ok(())
}

#[given(expr = "a {token} for {string}")]
async fn valid(w: &mut FortressWorld, kind: TokenKind, email: String) -> Result<(), String> {
    hold(w, kind, &email, Flaw::None).await
}

#[given(expr = "a {token} for {string} that expired {int} minutes ago")]
async fn expired(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: String,
    minutes: u64,
) -> Result<(), String> {
    hold(w, kind, &email, Flaw::ExpiredMinutesAgo(minutes)).await
}

#[given(expr = "a {token} for {string} that is not valid for another {int} minutes")]
async fn not_yet_valid(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: String,
    minutes: u64,
) -> Result<(), String> {
    hold(w, kind, &email, Flaw::NotValidForMinutes(minutes)).await
}

#[given(expr = "a {token} for {string} with audience {string}")]
async fn audience(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: String,
    aud: String,
) -> Result<(), String> {
    let aud = w.expand(&aud).await?;
    hold(w, kind, &email, Flaw::Audience(aud)).await
}

#[given(expr = "a {token} for {string} with issuer {string}")]
async fn issuer(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: String,
    iss: String,
) -> Result<(), String> {
    let iss = w.expand(&iss).await?;
    hold(w, kind, &email, Flaw::Issuer(iss)).await
}

#[given(expr = "a {token} for {string} without an email")]
async fn no_email(w: &mut FortressWorld, kind: TokenKind, email: String) -> Result<(), String> {
    hold(w, kind, &email, Flaw::NoEmail).await
}

#[given(expr = "a {token} for {string} signed by an unknown key")]
async fn unknown_key(w: &mut FortressWorld, kind: TokenKind, email: String) -> Result<(), String> {
    hold(w, kind, &email, Flaw::UnknownKey).await
}

#[given(expr = "a {token} for {string} signed by an unknown key with kid {string}")]
async fn injected_kid(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: String,
    kid: String,
) -> Result<(), String> {
    hold(w, kind, &email, Flaw::Kid(kid)).await
}

#[given(expr = "an unsigned {token} for {string} with alg {string}")]
async fn alg_none(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: String,
    alg: String,
) -> Result<(), String> {
    if alg != "none" {
        return Err(format!(
            "alg {alg:?}: only \"none\" makes an unsigned token"
        ));
    }
    hold(w, kind, &email, Flaw::AlgNone).await
}

#[given(expr = "a {token} for {string} signed with HS256 using the issuer's public key")]
async fn key_confusion(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: String,
) -> Result<(), String> {
    hold(w, kind, &email, Flaw::Hs256WithPublicKey).await
}

#[given(expr = "a {token} for {string} tampered after signing to set {string} to {string}")]
async fn tampered(
    w: &mut FortressWorld,
    kind: TokenKind,
    email: String,
    claim: String,
    value: String,
) -> Result<(), String> {
    let value = w.expand(&value).await?;
    let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
    hold(w, kind, &email, Flaw::Tampered { claim, value }).await
}

#[given(expr = "a Google ID token from the metadata server for audience {string}")]
async fn metadata_token(w: &mut FortressWorld, audience: String) -> Result<(), String> {
    let audience = w.expand(&audience).await?;
    let f = w.fortress().await?;
    // The metadata server's path, exactly as google-auth and ESPv2 ask it (item 75).
    let url = f.emulator_http_url(&format!(
        "/computeMetadata/v1/instance/service-accounts/default/identity?audience={audience}&format=full"
    ));
    let resp = f
        .client
        .get(&url)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .map_err(|e| format!("metadata server: {e}"))?;
    let status = resp.status();
    let token = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("metadata server answered {status}: {token}"));
    }
    w.credential = Some(token);
    Ok(())
}

#[given(expr = "a self-signed JWT of service account {string} for audience {string}")]
async fn self_signed_jwt(
    w: &mut FortressWorld,
    account: String,
    audience: String,
) -> Result<(), String> {
    let account = w.expand(&account).await?;
    let audience = w.expand(&audience).await?;
    let f = w.fortress().await?;
    // A new key file for the account, as `gcloud iam service-accounts keys create` gives.
    let url = f.emulator_http_url(&format!("/_emulator/service-accounts/{account}/key"));
    let resp = f
        .client
        .post(&url)
        .send()
        .await
        .map_err(|e| format!("minting a key for {account}: {e}"))?;
    let status = resp.status();
    let file: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    let (Some(pem), Some(kid)) = (
        file["private_key"].as_str(),
        file["private_key_id"].as_str(),
    ) else {
        return Err(format!(
            "minting a key for {account} answered {status}: {file}"
        ));
    };
    let key = SigningKey::from_pkcs8_pem(pem, Some(kid.to_string())).map_err(|e| e.to_string())?;
    let claims = ServiceAccountJwtClaims::new(&account, &audience, google_tokens::now_unix());
    w.credential = Some(key.sign(&claims).map_err(|e| e.to_string())?);
    Ok(())
}

#[given(expr = "the client is inside the project's VPC network")]
async fn inside_vpc(w: &mut FortressWorld) {
    w.in_vpc = true;
}

#[given(expr = "the client sends its token in the {string} header")]
async fn token_in_header(w: &mut FortressWorld, name: String) {
    w.token_place = if name.eq_ignore_ascii_case("authorization") {
        TokenPlace::Authorization
    } else {
        TokenPlace::Header(name)
    };
}

#[given(expr = "the client sends its token in the query parameter {string}")]
async fn token_in_query(w: &mut FortressWorld, name: String) {
    w.token_place = TokenPlace::Query(name);
}

#[given(expr = "the client sends the header {string}")]
async fn client_header(w: &mut FortressWorld, header: String) -> Result<(), String> {
    w.headers.push(header_pair(&header)?);
    Ok(())
}

async fn iap_assertion(
    w: &mut FortressWorld,
    service: &str,
    email: &str,
    stranger: bool,
) -> Result<(), String> {
    let email = w.expand(email).await?;
    let f = w.fortress().await?;
    let svc = f
        .topology
        .service(service)
        .ok_or_else(|| format!("the topology has no service {service:?}"))?;
    let claims = IapClaims::new(
        svc.iap_audience().as_str(),
        &email,
        &crate::tokens::firebase_uid(&email),
        google_tokens::now_unix(),
    );
    let key = if stranger {
        &f.keys.stranger_ec
    } else {
        &f.keys.iap
    };
    let jwt = key.sign(&claims).map_err(|e| e.to_string())?;
    w.headers.push(("x-goog-iap-jwt-assertion".into(), jwt));
    Ok(())
}

#[given(expr = "the client holds an IAP assertion for {string} as {string}")]
async fn stolen_assertion(
    w: &mut FortressWorld,
    service: String,
    email: String,
) -> Result<(), String> {
    iap_assertion(w, &service, &email, false).await
}

#[given(
    expr = "the client holds an IAP assertion for {string} as {string} signed by an unknown key"
)]
async fn forged_assertion(
    w: &mut FortressWorld,
    service: String,
    email: String,
) -> Result<(), String> {
    iap_assertion(w, &service, &email, true).await
}

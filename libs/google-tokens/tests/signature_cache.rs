//! `SignatureCache::verify` answers exactly as `verify` does, while verifying each token's
//! signature once: claims are re-checked on every hit, and a kid gone from the key set is
//! unknown again.

use google_tokens::{GoogleIdClaims, KeySet, Policy, SignatureCache, SigningKey, VerifyError};

const NOW: u64 = 1_764_000_000;
const AUD: &str = "987654321-abcdefghijklmnop.apps.googleusercontent.com";
const SA: &str = "my-gateway-sa@my-project.iam.gserviceaccount.com";

fn key_set(keys: &[&SigningKey]) -> KeySet {
    KeySet::from_signing_keys(google_tokens::Alg::Rs256, keys.iter().copied()).expect("key set")
}

fn token(key: &SigningKey, aud: &str) -> String {
    key.sign(&GoogleIdClaims::for_service_account(
        SA,
        "1234567890",
        aud,
        NOW,
    ))
    .expect("sign")
}

fn policy() -> Policy {
    Policy::google_id_token(vec![AUD.to_string()])
}

#[test]
fn a_second_sight_of_a_token_is_answered_from_the_cache_with_the_same_claims() {
    let key = SigningKey::generate_rsa(None).expect("key");
    let keys = key_set(&[&key]);
    let cache = SignatureCache::default();
    let t = token(&key, AUD);
    let first: GoogleIdClaims = cache.verify(&t, &keys, &policy(), NOW).expect("first");
    assert_eq!(cache.len(), 1);
    let second: GoogleIdClaims = cache.verify(&t, &keys, &policy(), NOW + 1).expect("second");
    assert_eq!(first, second);
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_cached_token_still_expires() {
    let key = SigningKey::generate_rsa(None).expect("key");
    let keys = key_set(&[&key]);
    let cache = SignatureCache::default();
    let t = token(&key, AUD);
    cache
        .verify::<GoogleIdClaims>(&t, &keys, &policy(), NOW)
        .expect("fresh");
    let late = cache.verify::<GoogleIdClaims>(&t, &keys, &policy(), NOW + 7200);
    assert!(matches!(late, Err(VerifyError::Expired { .. })), "{late:?}");
}

#[test]
fn a_cached_token_is_checked_against_each_callers_policy() {
    let key = SigningKey::generate_rsa(None).expect("key");
    let keys = key_set(&[&key]);
    let cache = SignatureCache::default();
    let t = token(&key, AUD);
    cache
        .verify::<GoogleIdClaims>(&t, &keys, &policy(), NOW)
        .expect("fresh");
    let other = Policy::google_id_token(vec!["https://other.example".to_string()]);
    let refused = cache.verify::<GoogleIdClaims>(&t, &keys, &other, NOW);
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn a_retired_kid_makes_its_cached_tokens_unknown() {
    let old = SigningKey::generate_rsa(None).expect("old");
    let new = SigningKey::generate_rsa(None).expect("new");
    let cache = SignatureCache::default();
    let t = token(&old, AUD);
    cache
        .verify::<GoogleIdClaims>(&t, &key_set(&[&old, &new]), &policy(), NOW)
        .expect("before retirement");
    let after = cache.verify::<GoogleIdClaims>(&t, &key_set(&[&new]), &policy(), NOW);
    assert!(
        matches!(after, Err(VerifyError::UnknownKid(_))),
        "{after:?}"
    );
}

#[test]
fn failures_are_not_cached_and_a_tampered_token_never_hits() {
    let key = SigningKey::generate_rsa(None).expect("key");
    let keys = key_set(&[&key]);
    let cache = SignatureCache::default();
    let t = token(&key, AUD);
    let (signed, sig) = t.rsplit_once('.').expect("three parts");
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{flipped}{}", &sig[1..]);
    for _ in 0..2 {
        let r = cache.verify::<GoogleIdClaims>(&tampered, &keys, &policy(), NOW);
        assert!(matches!(r, Err(VerifyError::BadSignature)), "{r:?}");
    }
    assert!(cache.is_empty());
}

#[test]
fn a_full_cache_starts_over_instead_of_growing() {
    let key = SigningKey::generate_rsa(None).expect("key");
    let keys = key_set(&[&key]);
    let cache = SignatureCache::with_capacity(2);
    // Three distinct tokens: their iat differs.
    let tokens: Vec<String> = (0..3u64)
        .map(|i| {
            key.sign(&GoogleIdClaims::for_service_account(SA, "1", AUD, NOW + i))
                .expect("sign")
        })
        .collect();
    for t in &tokens {
        cache
            .verify::<GoogleIdClaims>(t, &keys, &policy(), NOW + 3)
            .expect("valid");
    }
    assert!(cache.len() <= 2, "{}", cache.len());
}

#[test]
fn only_a_verified_token_is_seen_and_it_carries_the_tokens_own_claims() {
    let key = SigningKey::generate_rsa(None).expect("key");
    let keys = key_set(&[&key]);
    let cache = SignatureCache::default();
    let t = token(&key, AUD);
    assert!(cache.seen(&t).is_none(), "not seen yet");
    let stranger = SigningKey::generate_rsa(None).expect("stranger");
    let refused = cache.verify::<GoogleIdClaims>(&t, &key_set(&[&stranger]), &policy(), NOW);
    assert!(refused.is_err(), "{refused:?}");
    assert!(cache.seen(&t).is_none(), "a failure is not kept");
    cache
        .verify::<GoogleIdClaims>(&t, &keys, &policy(), NOW)
        .expect("valid");
    let seen = cache.seen(&t).expect("kept");
    assert_eq!(seen.payload()["iss"], "https://accounts.google.com");
    assert_eq!(seen.payload()["email"], SA);
    assert_eq!(seen.claims().iss(), Some("https://accounts.google.com"));
    assert_eq!(seen.claims().email(), Some(SA));
    assert_eq!(seen.claims().sub(), seen.payload()["sub"].as_str());
}

#[test]
fn a_token_seen_before_is_checked_again_against_the_current_keys_and_clock() {
    let key = SigningKey::generate_rsa(None).expect("key");
    let cache = SignatureCache::default();
    let t = token(&key, AUD);
    cache
        .verify_token(&t, &key_set(&[&key]), &policy(), NOW)
        .expect("valid");
    let seen = cache.seen(&t);
    assert!(seen.is_some());
    // The key retired: the hit does not stand, and the answer is verify's own.
    let rotated = key_set(&[&SigningKey::generate_rsa(None).expect("new key")]);
    let refused = cache.verify_seen(&t, seen.clone(), &rotated, &policy(), NOW);
    assert!(
        matches!(refused, Err(VerifyError::UnknownKid(ref kid)) if kid == key.kid()),
        "{refused:?}"
    );
    // The same keys an hour and more later: expired, from the cached claims.
    let late = cache.verify_seen(&t, seen, &key_set(&[&key]), &policy(), NOW + 7200);
    assert!(matches!(late, Err(VerifyError::Expired { .. })), "{late:?}");
}

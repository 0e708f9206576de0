//! Request ids: one `x-request-id` per request, accepted from the caller or made here, echoed back.
//!
//! A caller's id is kept when it is well-formed: 1 to [`RequestId::MAX_LEN`] bytes of visible ASCII
//! (`!` to `~`, so no spaces and no control characters). Anything else, too long, non-ASCII, empty, is
//! replaced by a fresh UUID v4 instead of being refused: the id only serves to correlate logs, so a bad
//! one is no reason to fail the request, but it must not reach the logs as attacker-shaped text.
//!
//! The effective id is written back into the request's `x-request-id` header (so a proxy forwards the
//! same id), stored as a [`RequestId`] extension for handlers, carried by the request's scope (so every log
//! line carries it), and set on the response.

use std::fmt;

use axum::{extract::Request, response::Response};
use http::{HeaderName, HeaderValue};

/// The header name.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A well-formed request id. Handlers get it with `Extension<RequestId>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The longest id accepted from a caller, in bytes. A UUID is 36; 128 leaves room for other
    /// schemes (a trace id plus a counter, say) while keeping log lines bounded.
    pub const MAX_LEN: usize = 128;

    /// Accepts a caller's id if it is 1 to [`Self::MAX_LEN`] bytes of visible ASCII.
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let well_formed = !bytes.is_empty()
            && bytes.len() <= Self::MAX_LEN
            && bytes.iter().all(|b| (b'!'..=b'~').contains(b));
        well_formed.then(|| Self(value.clone()))
    }

    /// A fresh id: a hyphenated UUID v4, its random bits from the thread's userspace RNG (an
    /// id only has to be unique; asking the kernel per request cost a syscall).
    pub fn generate() -> Self {
        let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        // Encoded into a stack buffer: `to_string` went through the formatting machinery.
        let mut text = uuid::Uuid::encode_buffer();
        Self(
            HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut text)).unwrap_or_else(|_| {
                // A hyphenated UUID is always a valid header value; this arm is never taken.
                HeaderValue::from_static("00000000-0000-0000-0000-000000000000")
            }),
        )
    }

    /// The id as text (always visible ASCII).
    pub fn as_str(&self) -> &str {
        // `parse` and `generate` admit only visible ASCII, so this never falls back.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settles the request's id: a well-formed `x-request-id` is kept, anything else replaced; the
/// id is written back to the header and exposed as a [`RequestId`] extension. The caller echoes
/// it on the response with [`echo`].
pub(crate) fn settle(request: &mut Request) -> RequestId {
    // One lookup of the (non-standard, so hashed byte by byte) name: a kept id is left where
    // it is, a missing or replaced one written in place.
    let id = match request.headers_mut().entry(&X_REQUEST_ID) {
        http::header::Entry::Occupied(mut entry) => match RequestId::parse(entry.get()) {
            Some(kept) => kept,
            None => {
                // The rejected value is not logged: it is exactly the text we refuse to carry.
                tracing::debug!(
                    length = entry.get().len(),
                    "replacing a malformed x-request-id"
                );
                let fresh = RequestId::generate();
                entry.insert(fresh.header_value().clone());
                fresh
            }
        },
        http::header::Entry::Vacant(entry) => {
            let fresh = RequestId::generate();
            entry.insert(fresh.header_value().clone());
            fresh
        }
    };
    request.extensions_mut().insert(id.clone());
    id
}

/// Sets the request's id on its response, whoever made the response.
pub(crate) fn echo(response: &mut Response, id: RequestId) {
    response.headers_mut().insert(X_REQUEST_ID.clone(), id.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(bytes: &[u8]) -> bool {
        let value = HeaderValue::from_bytes(bytes).expect("a header value");
        RequestId::parse(&value).is_some()
    }

    #[test]
    fn visible_ascii_ids_up_to_the_limit_are_accepted() {
        assert!(accepted(b"abc-123"));
        assert!(accepted(b"!~{}[]<>"));
        assert!(accepted(&[b'a'; RequestId::MAX_LEN]));
    }

    #[test]
    fn empty_oversized_spaced_or_non_ascii_ids_are_rejected() {
        assert!(!accepted(b""));
        assert!(!accepted(&[b'a'; RequestId::MAX_LEN + 1]));
        assert!(!accepted(b"has space"));
        assert!(!accepted(b"tab\there"));
        assert!(!accepted("caf\u{e9}".as_bytes()));
        assert!(!accepted(&[0x80, 0xff]));
    }

    #[test]
    fn generated_ids_are_distinct_v4_uuids_and_accepted() {
        let id = RequestId::generate();
        assert_eq!(id.as_str().len(), 36);
        let parsed = uuid::Uuid::parse_str(id.as_str()).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(RequestId::generate(), id);
        assert_eq!(RequestId::parse(id.header_value()), Some(id));
    }
}

//! The headers that describe one connection rather than the message, which a proxy must not
//! forward (RFC 9110 section 7.6.1): `Connection` and every header it names, and the fixed set
//! below. Two fortress hops proxy, the gateway shim (toward its backends, and their answers
//! back) and the emulator's Cloud Run front end (toward a service, and back); both strip with
//! [`strip`], so the two can never disagree on what crosses a hop.
//!
//! The names are `HeaderName` constants: removing by `&str` would parse each name on every
//! request, and this runs twice per proxied request.

use http::{HeaderMap, HeaderName, header};

/// The fixed hop-by-hop set: RFC 9110's `Connection`, `Keep-Alive`, `Proxy-Connection`, `TE`,
/// `Transfer-Encoding` and `Upgrade`, with RFC 7230's `Trailer` and the proxy credentials
/// (`Proxy-Authenticate`, `Proxy-Authorization`), which are meant for the proxy itself.
///
/// A `static`, not a `const`: a `const` array is built afresh (and dropped) at every use.
pub static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// Whether `name` is in [`HOP_BY_HOP`], by its text: a `match` on the (lowercase) name is a
/// length switch and one comparison, where comparing `HeaderName`s one by one cost nine
/// comparisons per header.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authenticate"
            | "proxy-authorization"
    )
}

/// Removes the hop-by-hop headers from `headers`, including every header that a `Connection`
/// value names (a name that is not a valid header name is ignored).
pub fn strip(headers: &mut HeaderMap) {
    // One pass over the names first: most messages carry none of these, and each `remove` is a
    // hash and a probe (nine per message, two messages per proxied request: 2 % of the IAP
    // hop's instructions under callgrind). `Connection` is in the set, so a message without
    // any of them names nothing to drop either.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_test_agrees_with_the_list() {
        for name in &HOP_BY_HOP {
            assert!(is_hop_by_hop(name), "{name}");
        }
        for name in [
            "host",
            "x-connection",
            "authorization",
            "trailers",
            "keep-alive-x",
        ] {
            let name = HeaderName::from_static(name);
            assert!(!is_hop_by_hop(&name), "{name}");
        }
    }

    fn names(h: &HeaderMap) -> Vec<String> {
        h.keys().map(|k| k.as_str().to_owned()).collect()
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-private".parse().expect("v"));
        h.insert("keep-alive", "timeout=5".parse().expect("v"));
        h.insert("proxy-connection", "keep-alive".parse().expect("v"));
        h.insert("proxy-authorization", "Basic eA==".parse().expect("v"));
        h.insert("x-private", "1".parse().expect("v"));
        h.insert("transfer-encoding", "chunked".parse().expect("v"));
        h.insert("upgrade", "websocket".parse().expect("v"));
        h.insert("te", "trailers".parse().expect("v"));
        h.insert("x-kept", "1".parse().expect("v"));
        strip(&mut h);
        assert_eq!(names(&h), vec!["x-kept"]);
    }

    #[test]
    fn every_connection_header_line_counts_and_bad_names_are_ignored() {
        let mut h = HeaderMap::new();
        h.append("connection", "x-one".parse().expect("v"));
        h.append("connection", " x-two ,bad name".parse().expect("v"));
        h.insert("x-one", "1".parse().expect("v"));
        h.insert("x-two", "2".parse().expect("v"));
        h.insert("authorization", "Bearer t".parse().expect("v"));
        strip(&mut h);
        assert_eq!(names(&h), vec!["authorization"]);
    }

    #[test]
    fn a_single_hop_by_hop_header_is_found_among_the_others() {
        for name in &HOP_BY_HOP {
            let mut h = HeaderMap::new();
            h.insert("content-type", "text/plain".parse().expect("v"));
            h.insert(name, "x".parse().expect("v"));
            h.insert("x-kept", "1".parse().expect("v"));
            strip(&mut h);
            assert_eq!(names(&h), vec!["content-type", "x-kept"], "{name}");
        }
    }

    #[test]
    fn a_message_without_hop_by_hop_headers_is_left_as_is() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/plain".parse().expect("v"));
        h.insert("content-length", "2".parse().expect("v"));
        strip(&mut h);
        assert_eq!(names(&h), vec!["content-type", "content-length"]);
    }
}

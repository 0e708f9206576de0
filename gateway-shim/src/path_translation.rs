//! `path_translation`: which path the backend sees (items 62-64).
//!
//! The rules are ESPv2's, from `src/go/configgenerator/filtergen/path_rewrite.go` (which prefix or
//! constant path a route gets) and `src/envoy/http/path_rewrite/config_parser_impl.cc` (how it is
//! applied):
//!
//! - **APPEND_PATH_TO_ADDRESS** (the top-level default): the address path, without its trailing
//!   `/`, is put before the whole request path and query. An address with no path, or only `/`,
//!   rewrites nothing: the request path goes through as it came.
//! - **CONSTANT_ADDRESS** (the operation-level default): the address path replaces the request
//!   path (an empty one becomes `/`, a trailing `/` is dropped unless the path is just `/`). The
//!   template's variables go to the query as `name=value`, after the original query if there was
//!   one: `/a/{x}` on `/a/1?q=2` to address path `/f` gives `/f?q=2&x=1`.
//!
//! The values are the raw path segments (still percent-encoded), joined with `/` for multi-segment
//! variables, exactly as ESPv2's `VariableBindingsToQueryParameters` writes them.

/// Which translation a backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathTranslation {
    AppendPathToAddress,
    ConstantAddress,
}

impl PathTranslation {
    pub fn as_str(self) -> &'static str {
        match self {
            PathTranslation::AppendPathToAddress => "APPEND_PATH_TO_ADDRESS",
            PathTranslation::ConstantAddress => "CONSTANT_ADDRESS",
        }
    }
}

/// The path-and-query to send to the backend.
///
/// `address_path` is the path of the backend address (`""` when it has none). `request_path` is
/// the normalised request path, `query` the raw query (without `?`), `bindings` the template's
/// variables as matched.
pub fn rewrite(
    translation: PathTranslation,
    address_path: &str,
    request_path: &str,
    query: Option<&str>,
    bindings: &[(String, String)],
) -> String {
    match translation {
        PathTranslation::AppendPathToAddress => {
            let prefix = address_path.strip_suffix('/').unwrap_or(address_path);
            let mut out = String::with_capacity(prefix.len() + request_path.len() + 16);
            out.push_str(prefix);
            out.push_str(request_path);
            if let Some(q) = query {
                out.push('?');
                out.push_str(q);
            }
            out
        }
        PathTranslation::ConstantAddress => {
            let mut out = match address_path {
                "" => "/".to_owned(),
                "/" => "/".to_owned(),
                p => p.strip_suffix('/').unwrap_or(p).to_owned(),
            };
            let vars = bindings
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("&");
            match query {
                Some(q) => {
                    out.push('?');
                    out.push_str(q);
                    if !vars.is_empty() {
                        out.push('&');
                        out.push_str(&vars);
                    }
                }
                None if !vars.is_empty() => {
                    out.push('?');
                    out.push_str(&vars);
                }
                None => {}
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PathTranslation::{AppendPathToAddress as Append, ConstantAddress as Constant};
    use super::*;
    use crate::template::{PathTemplate, normalize_path, segments};

    /// `(translation, address path, template, request path-and-query, expected)`.
    /// Rows 1-2: google-behaviour item 63 (BackendRule docs). The rest: ESPv2
    /// `src/envoy/http/path_rewrite/config_parser_impl_test.cc`, with the prefix or constant path
    /// as the address path (item 64).
    const CASES: &[(PathTranslation, &str, &str, &str, &str)] = &[
        (
            Constant,
            "/getUser",
            "/api/company/{cid}/user/{uid}",
            "/api/company/widgetworks/user/johndoe?timezone=EST",
            "/getUser?timezone=EST&cid=widgetworks&uid=johndoe",
        ),
        (
            Append,
            "",
            "/api/company/{cid}/user/{uid}",
            "/api/company/widgetworks/user/johndoe?timezone=EST",
            "/api/company/widgetworks/user/johndoe?timezone=EST",
        ),
        (Append, "/foo", "/bar", "/bar", "/foo/bar"),
        (Append, "/foo", "/bar", "/bar?xyz=123", "/foo/bar?xyz=123"),
        (Append, "/foo/", "/bar", "/bar", "/foo/bar"),
        (Append, "/foo/", "/bar", "/bar?xyz=123", "/foo/bar?xyz=123"),
        (Append, "/", "/bar", "/bar", "/bar"),
        (Append, "/", "/bar", "/bar?xyz=123", "/bar?xyz=123"),
        (Constant, "/foo", "/bar", "/bar", "/foo"),
        (Constant, "/foo", "/bar", "/bar?xyz=123", "/foo?xyz=123"),
        (Constant, "/foo", "/bar/{abc}", "/bar/567", "/foo?abc=567"),
        (
            Constant,
            "/foo",
            "/bar/{abc}",
            "/bar/567?xyz=123",
            "/foo?xyz=123&abc=567",
        ),
        (Constant, "/foo/", "/bar", "/bar", "/foo"),
        (Constant, "/foo/", "/bar", "/bar?xyz=123", "/foo?xyz=123"),
        (Constant, "/", "/bar", "/bar", "/"),
        (Constant, "/", "/bar", "/bar?xyz=123", "/?xyz=123"),
        // An address with no path is "/" for CONSTANT_ADDRESS (path_rewrite.go).
        (Constant, "", "/bar", "/bar", "/"),
        // Multi-segment and percent-encoded values go to the query raw.
        (
            Constant,
            "/f",
            "/files/{path=**}",
            "/files/a/b%20c",
            "/f?path=a/b%20c",
        ),
        (
            Constant,
            "/f",
            "/v1/{name=shelves/*}",
            "/v1/shelves/7",
            "/f?name=shelves/7",
        ),
        // The fixture's operation-level override: APPEND on the load balancer's root.
        (
            Append,
            "",
            "/coffee/cafes",
            "/coffee/cafes?near=x",
            "/coffee/cafes?near=x",
        ),
    ];

    #[test]
    fn path_translation_follows_the_reference_table() {
        for (translation, address_path, template, request, want) in CASES {
            let tpl = PathTemplate::parse(template).expect("template");
            let (path, query) = match request.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (*request, None),
            };
            let normalized = normalize_path(path);
            let bindings = tpl
                .matches(&segments(&normalized))
                .unwrap_or_else(|| panic!("{template} does not match {request}"));
            let got = rewrite(*translation, address_path, &normalized, query, &bindings);
            assert_eq!(
                got,
                *want,
                "{} {address_path:?} {template} {request}",
                translation.as_str()
            );
        }
    }
}

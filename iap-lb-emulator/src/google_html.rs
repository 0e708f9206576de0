//! Google Front End's HTML error pages, the bodies Google's edge answers with.
//!
//! Cloud Run's invoker and ingress refusals and the metadata server's missing-header refusal
//! share one page shape: a `<title>` with the status, an `<h1>Error: ...</h1>` and an `<h2>`
//! sentence (google-behaviour items 43, 47 and 74 quote those fragments verbatim). The
//! surrounding markup (meta tag, body colours, trailing empty `<h2>`) is the GFE page as
//! commonly captured; only the quoted fragments are asserted by the reference.
//!
//! The request path is echoed inside `<code>` as Google does, HTML-escaped so a path can never
//! inject markup.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `Content-Type` of GFE error pages.
pub const TEXT_HTML_UTF8: &str = "text/html; charset=UTF-8";

/// A GFE error page: `status`, the `<h1>` phrase after "Error: " and the `<h2>` sentence
/// (already escaped HTML).
pub fn page(status: StatusCode, title: &str, h1: &str, h2_html: &str) -> Response {
    let body = format!(
        "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n\
         <title>{} {title}</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n\
         <h1>Error: {h1}</h1>\n<h2>{h2_html}</h2>\n<h2></h2>\n</body></html>\n",
        status.as_u16()
    );
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TEXT_HTML_UTF8),
        )],
        body,
    )
        .into_response()
}

/// 403 "Your client does not have permission to get URL `<path>` from this server." followed by
/// `extra` (item 47; item 74 appends "Missing Metadata-Flavor:Google header.").
pub fn forbidden(path: &str, extra: &str) -> Response {
    let mut h2 = format!(
        "Your client does not have permission to get URL <code>{}</code> from this server.",
        escape(path)
    );
    if !extra.is_empty() {
        h2.push(' ');
        h2.push_str(&escape(extra));
    }
    page(StatusCode::FORBIDDEN, "Forbidden", "Forbidden", &h2)
}

/// 401 "Your client does not have permission to the requested URL" with
/// `WWW-Authenticate: Bearer error="invalid_token"`: Cloud Run's answer to a token that is
/// present but invalid (item 47).
pub fn unauthorized() -> Response {
    let mut resp = page(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Unauthorized",
        "Your client does not have permission to the requested URL",
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    resp
}

/// 404 "The requested URL was not found on this server." (item 43), for unknown paths on a
/// Google host and for Cloud Run's ingress refusal.
pub fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "Page not found",
        "The requested URL was not found on this server.",
    )
}

/// Minimal HTML escaping for text echoed into a page.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(resp: Response) -> String {
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn the_forbidden_page_quotes_googles_sentence_and_escapes_the_path() {
        let resp = forbidden("/a<b>", "");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/html; charset=UTF-8"
        );
        let body = body(resp).await;
        assert!(body.contains("<title>403 Forbidden</title>"), "{body}");
        assert!(body.contains("<h1>Error: Forbidden</h1>"));
        assert!(body.contains(
            "<h2>Your client does not have permission to get URL <code>/a&lt;b&gt;</code> from this server.</h2>"
        ));
    }

    #[tokio::test]
    async fn the_not_found_page_matches_the_reference() {
        let resp = not_found();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = body(resp).await;
        assert!(body.contains("<title>404 Page not found</title>"));
        assert!(body.contains("<h1>Error: Page not found</h1>"));
        assert!(body.contains("<h2>The requested URL was not found on this server.</h2>"));
    }
}

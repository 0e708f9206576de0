//! Every error answer, in one place: Google's JSON error shape
//! (`{"error":{"code":N,"status":"...","message":"..."}}`, as Google APIs and the IAP layer in
//! front answer), with `content-type: application/json`. The messages are the service's
//! (`no recipe "x"`); the shape, the statuses and the router's 404 and 405 are here.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Longest caller-supplied value echoed back in a message; longer ones are cut.
pub const ECHO_LIMIT: usize = 64;

/// A request this service will not answer with data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(Method),
}

impl ApiError {
    /// 404 `NOT_FOUND` with this message.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    /// 400 `INVALID_ARGUMENT` with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
        }
    }
}

/// `value`, cut to [`ECHO_LIMIT`] characters, for messages that quote what the caller sent.
pub fn echo(value: &str) -> String {
    if value.chars().count() <= ECHO_LIMIT {
        value.to_owned()
    } else {
        let cut: String = value.chars().take(ECHO_LIMIT).collect();
        format!("{cut}...")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, google_status) = self.parts();
        let body = serde_json::json!({
            "error": {
                "code": status.as_u16(),
                "status": google_status,
                "message": self.to_string(),
            }
        });
        (status, Json(body)).into_response()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("bad query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(format!("bad path: {}", rejection.body_text()))
    }
}

/// The router's fallback: unknown paths are JSON 404s like every other miss.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", echo(uri.path())))
}

/// The router's answer to a known path with another method.
pub async fn wrong_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(error: ApiError) -> (u16, String, serde_json::Value) {
        let response = error.into_response();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let json = serde_json::from_slice(&body).expect("JSON body");
        (status, content_type, json)
    }

    #[tokio::test]
    async fn each_error_is_googles_json_shape_with_its_status() {
        for (error, code, status, message) in [
            (
                ApiError::not_found("no recipe \"x\""),
                404,
                "NOT_FOUND",
                "no recipe \"x\"",
            ),
            (ApiError::bad_request("bad"), 400, "INVALID_ARGUMENT", "bad"),
            (
                ApiError::MethodNotAllowed(Method::POST),
                405,
                "METHOD_NOT_ALLOWED",
                "method POST is not allowed here",
            ),
        ] {
            let (got, content_type, body) = answer(error).await;
            assert_eq!(got, code, "{body}");
            assert_eq!(content_type, "application/json");
            assert_eq!(
                body,
                serde_json::json!({"error": {"code": code, "status": status, "message": message}})
            );
        }
    }

    #[test]
    fn echo_cuts_long_values_to_the_limit() {
        assert_eq!(echo("short"), "short");
        let exact = "é".repeat(ECHO_LIMIT);
        assert_eq!(echo(&exact), exact);
        let long = "é".repeat(ECHO_LIMIT + 1);
        assert_eq!(echo(&long), format!("{exact}..."));
    }
}

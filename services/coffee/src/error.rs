//! Every error answer, in one place: Google's JSON error shape
//! (`{"error":{"code":N,"status":"...","message":"..."}}`, as Google APIs and the IAP layer in
//! front answer), with `content-type: application/json`.

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
    pub fn no_method(id: &str) -> Self {
        ApiError::NotFound(format!("no brewing method {:?}", echo(id)))
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

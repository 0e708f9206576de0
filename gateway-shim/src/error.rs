//! Every response the gateway makes itself, in one place (style.md section 4).
//!
//! ESPv2 answers all its local errors through an Envoy local reply with a JSON format, so every
//! body is `{"code":<status>,"message":"<text>"}` with `content-type: application/json` (item 72;
//! ESPv2 `src/go/configgenerator/filtergen/http_connection_manager.go`). The texts below are
//! ESPv2's and Envoy's; each variant cites where it comes from. Causes (connect errors, key fetch
//! failures) go to the log, never to the client.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::jwt::JwtStatus;

/// Why the gateway answered instead of the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No template matches: `deny_all.go` (item 72).
    NotFound,
    /// A template matches, the method does not: `deny_invalid_method.go` (item 72).
    MethodNotAllowed { template: String },
    /// JWT authentication failed. `realm` is the original URL for `WWW-Authenticate` (item 72;
    /// Envoy `jwt_authn/filter.cc`).
    Jwt { status: JwtStatus, realm: String },
    /// No API key where one is required (item 72, Service Control's text).
    ApiKeyMissing,
    /// A key not in the configured allow-list (item 72).
    ApiKeyInvalid,
    /// No backend ID token could be had: ESPv2 `backend_auth/filter.cc` (items 65, 72).
    BackendTokenUnavailable { audience: String },
    /// The backend did not answer within the deadline: Envoy's route timeout (item 72).
    UpstreamTimeout,
    /// The backend could not be reached or reset before headers (item 72). The text is Envoy's
    /// `upstream connect error or disconnect/reset before headers. ...` with the reason.
    UpstreamReset { detail: String },
    /// The backend's name did not resolve: Envoy finds no host in the cluster (item 72).
    NoHealthyUpstream,
    /// Request body over API Gateway's 32 MB limit (peers.md section 1). Envoy's text for 413.
    PayloadTooLarge,
    /// ESPv2's path_rewrite filter refuses a fragment (`path_rewrite/filter.cc`).
    FragmentInPath,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NotFound => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::Jwt { status, .. } => status.http_status(),
            GatewayError::ApiKeyMissing => StatusCode::UNAUTHORIZED,
            GatewayError::ApiKeyInvalid => StatusCode::BAD_REQUEST,
            GatewayError::BackendTokenUnavailable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::UpstreamReset { .. } | GatewayError::NoHealthyUpstream => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::FragmentInPath => StatusCode::BAD_REQUEST,
        }
    }

    pub fn message(&self) -> String {
        match self {
            GatewayError::NotFound => "The current request is not defined by this API.".into(),
            GatewayError::MethodNotAllowed { template } => format!(
                "The current request is matched to the defined url template \"{template}\" but its http method is not allowed"
            ),
            GatewayError::Jwt { status, .. } => status.message().into(),
            GatewayError::ApiKeyMissing => "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.".into(),
            GatewayError::ApiKeyInvalid => {
                "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.".into()
            }
            GatewayError::BackendTokenUnavailable { audience } => {
                format!("Token not found for audience: {audience}")
            }
            GatewayError::UpstreamTimeout => "upstream request timeout".into(),
            GatewayError::UpstreamReset { detail } => format!(
                "upstream connect error or disconnect/reset before headers. {detail}"
            ),
            GatewayError::NoHealthyUpstream => "no healthy upstream".into(),
            GatewayError::PayloadTooLarge => "Payload Too Large".into(),
            GatewayError::FragmentInPath => "Path cannot contain fragment identifier (#)".into(),
        }
    }
}

/// `{"code":N,"message":"..."}`; keys in this order, as Envoy's JSON local reply writes them.
pub fn json_body(status: StatusCode, message: &str) -> String {
    let message = serde_json::Value::String(message.to_owned());
    format!("{{\"code\":{},\"message\":{}}}", status.as_u16(), message)
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json_body(status, &self.message());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let GatewayError::Jwt { status, realm } = &self {
            // `Bearer realm="<url>"`, plus `, error="invalid_token"` unless the token was
            // missing (Envoy jwt_authn filter.cc, item 72).
            let mut value = format!("Bearer realm=\"{realm}\"");
            if *status != JwtStatus::Missing {
                value.push_str(", error=\"invalid_token\"");
            }
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_envoy_json_local_replies() {
        assert_eq!(
            json_body(StatusCode::UNAUTHORIZED, "Jwt is missing"),
            r#"{"code":401,"message":"Jwt is missing"}"#
        );
        assert_eq!(
            json_body(StatusCode::NOT_FOUND, "say \"hi\""),
            r#"{"code":404,"message":"say \"hi\""}"#
        );
    }
}

//! This service's error messages. The answer itself (Google's JSON error shape, the statuses, the
//! router's 404 and 405) is [`iap_service::ApiError`], shared by every sample service.

pub use iap_service::{ApiError, ECHO_LIMIT, echo};

/// 404: no recipe has this id.
pub fn no_recipe(id: &str) -> ApiError {
    ApiError::not_found(format!("no recipe {:?}", echo(id)))
}

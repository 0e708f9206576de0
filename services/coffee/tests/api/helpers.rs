//! The shared test helpers (`iap_service::test_util`: a local IAP key server, assertion
//! minting, the service started in-process on 127.0.0.1:0) pointed at coffee-service.

pub use iap_service::test_util::{assert_error, json};

/// coffee-service in-process, enforcing IAP against a local key server (or disabled).
pub type TestApp = iap_service::test_util::TestApp<coffee_service::CoffeeService>;

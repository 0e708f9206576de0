//! coffee-service API tests: one test binary (zero2prod's `tests/api`), the service started
//! in-process on 127.0.0.1:0 with a local IAP key server, plus the real binary for shutdown.

mod brewing;
mod helpers;
mod iap;
mod lifecycle;

//! The emulator's behaviour, host by host, as clients see it. One test binary (zero-to-production
//! `tests/api/main.rs`): router tests through `tower::ServiceExt::oneshot` where sockets do not
//! matter, a started emulator on random ports where Host routing, TLS or real clients matter.

mod faults;
mod firebase;
mod helpers;
mod keys;
mod lb;
mod listeners;
mod metadata;
mod oauth2;
mod python;
mod run_app;

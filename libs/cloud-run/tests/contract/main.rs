//! Behaviour of the contract as a service sees it: one test binary, modules by concern.

mod access_log;
mod capture;
mod logging;
mod request_id;
mod shutdown;
mod trace_context;

//! gateway-shim end to end: the gateway on a random loopback port, wiremock playing the key
//! server, the metadata server and the backend (one test binary, zero-to-production style).

mod authn;
mod backend;
mod emulator;
mod helpers;
mod local_mode;
mod routing;
mod specs;

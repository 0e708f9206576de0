//! `fortress-probe record PORT UPSTREAM_HOST:PORT ADMIN_PORT`: what a service saw, in the
//! container runtime.
//!
//! The in-process stack wraps each service's router in a recording layer (e2e/src/recorder.rs).
//! A container image holds only the service's shipped binary, so here the recording sits in
//! front of it instead: this proxy takes the service's topology host name on the internal
//! network (the emulator's upstream), records every request that carries the harness's probe
//! header, then forwards it unchanged to the real service (`UPSTREAM`, another alias) and hands
//! its answer back unchanged.
//!
//! - Recorded *before* forwarding, so once the client has its response the record exists: the
//!   harness never waits for one.
//! - A record is the method, the path and query, and every header (names lowercase, in the
//!   order the header map yields them, as the in-process layer records them).
//! - `GET /records/PROBE` on `ADMIN_PORT` answers the records of one probe id as JSON:
//!   `[{"method":"GET","uri":"/smoothie","headers":[["host","..."],...]}]`.
//! - Hop-by-hop headers (`connection`, `transfer-encoding`, ...) belong to one connection and
//!   are not forwarded; bodies are read whole (the sample APIs' bodies are small).
//!
//! It prints `listening` once both ports accept: the harness waits for that line.

use std::collections::HashMap;
use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// The header that ties a request at a service to the scenario step that sent it (the same
/// name as `e2e::recorder::PROBE_HEADER`).
const PROBE_HEADER: &str = "x-fortress-e2e-probe";

/// Records by probe id, each a JSON object. A std mutex: never held across an await.
type Records = Arc<Mutex<HashMap<String, Vec<serde_json::Value>>>>;

/// Runs `record` with its arguments (after the word `record`).
pub fn run(args: &[String]) -> ExitCode {
    let [port, upstream, admin] = args else {
        return crate::usage();
    };
    let (Ok(port), Ok(admin)) = (port.parse::<u16>(), admin.parse::<u16>()) else {
        return crate::usage();
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fortress-probe record: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(port, upstream.clone(), admin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fortress-probe record: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(port: u16, upstream: String, admin_port: u16) -> std::io::Result<()> {
    let proxy = TcpListener::bind(("0.0.0.0", port)).await?;
    let admin = TcpListener::bind(("0.0.0.0", admin_port)).await?;
    println!("listening: proxy :{port} -> {upstream}, records on :{admin_port}");
    let records = Records::default();
    let admin_records = records.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = admin.accept().await else {
                continue;
            };
            let records = admin_records.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let answer = answer_records(&records, req.uri().path());
                    async move { Ok::<_, Infallible>(answer) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let upstream: Arc<str> = upstream.into();
    loop {
        let (stream, _) = proxy.accept().await?;
        let records = records.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let records = records.clone();
                let upstream = upstream.clone();
                async move {
                    record(&records, &req);
                    Ok::<_, Infallible>(
                        forward(req, &upstream)
                            .await
                            .unwrap_or_else(|e| text(StatusCode::BAD_GATEWAY, e)),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Keeps `req` under its probe id, if it has one.
fn record(records: &Records, req: &Request<Incoming>) {
    let Some(probe) = req
        .headers()
        .get(PROBE_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let headers: Vec<[String; 2]> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            [
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ]
        })
        .collect();
    let seen = serde_json::json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "headers": headers,
    });
    let mut map = match records.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(probe.to_owned()).or_default().push(seen);
}

/// `GET /records/PROBE`: that probe's records (an empty list when none).
fn answer_records(records: &Records, path: &str) -> Response<Full<Bytes>> {
    let Some(probe) = path.strip_prefix("/records/") else {
        return text(StatusCode::NOT_FOUND, "try GET /records/PROBE".into());
    };
    let list = {
        let map = match records.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        serde_json::Value::Array(map.get(probe).cloned().unwrap_or_default())
    };
    let mut response = Response::new(Full::new(Bytes::from(list.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Sends `req` to `upstream` on a connection of its own and returns the answer as it came.
async fn forward(req: Request<Incoming>, upstream: &str) -> Result<Response<Full<Bytes>>, String> {
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("reading the request body: {e}"))?
        .to_bytes();
    // Hop-by-hop headers (RFC 9110 section 7.6.1) stay on this hop, as at every fortress proxy.
    hop_by_hop::strip(&mut parts.headers);
    let mut out = Request::builder()
        .method(parts.method)
        .uri(parts.uri)
        .version(hyper::Version::HTTP_11);
    for (name, value) in &parts.headers {
        out = out.header(name, value);
    }
    let out = out.body(Full::new(body)).map_err(|e| e.to_string())?;
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connecting to {upstream}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{upstream}: {e}"))?;
    tokio::spawn(connection);
    let answer = sender
        .send_request(out)
        .await
        .map_err(|e| format!("{upstream}: {e}"))?;
    let (mut parts, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("{upstream}: reading the answer: {e}"))?
        .to_bytes();
    hop_by_hop::strip(&mut parts.headers);
    let mut response = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        response = response.header(name, value);
    }
    response.body(Full::new(body)).map_err(|e| e.to_string())
}

fn text(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "fortress-probe record: {message}\n"
    ))));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_admin_paths_are_not_found() {
        let records = Records::default();
        assert_eq!(
            answer_records(&records, "/nope").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_probe_with_no_records_answers_an_empty_list() {
        let records = Records::default();
        let response = answer_records(&records, "/records/abc");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

//! The pool against a hand-written HTTP/1.1 service on 127.0.0.1 that counts its connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Empty};
use http1_pool::{Pool, PooledBody, SendError};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Body = Empty<Bytes>;

struct Service {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Service {
    /// Answers `body` to every request, closing each connection after `per_connection` answers.
    async fn start(body: &'static str, per_connection: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut answered = 0;
                    while answered < per_connection {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if stream.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                            answered += 1;
                            continue;
                        }
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        Self { addr, accepted }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn pool() -> Pool<SocketAddr, Body> {
    Pool::new(8, Duration::from_secs(60))
}

async fn get(
    pool: &Pool<SocketAddr, Body>,
    addr: SocketAddr,
) -> Result<Response<PooledBody<SocketAddr, Body>>, SendError<std::io::Error, Body>> {
    let request = Request::builder()
        .uri("/")
        .header(header::HOST, addr.to_string())
        .body(Empty::new())
        .expect("request");
    pool.send(&addr, request, || async move {
        Ok::<_, std::io::Error>(TokioIo::new(TcpStream::connect(addr).await?))
    })
    .await
}

async fn text(response: Response<PooledBody<SocketAddr, Body>>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let service = Service::start("ok", usize::MAX).await;
    let pool = pool();
    for _ in 0..5 {
        assert_eq!(
            text(get(&pool, service.addr).await.expect("answer")).await,
            "ok"
        );
    }
    assert_eq!(service.connections(), 1);
    assert_eq!(pool.idle(&service.addr), 1);
}

#[tokio::test]
async fn a_connection_the_service_closed_is_replaced() {
    let service = Service::start("ok", 1).await;
    let pool = pool();
    for _ in 0..3 {
        assert_eq!(
            text(get(&pool, service.addr).await.expect("answer")).await,
            "ok"
        );
    }
    assert_eq!(service.connections(), 3);
}

#[tokio::test]
async fn a_response_still_streaming_keeps_its_connection_out_of_the_pool() {
    let service = Service::start("ok", usize::MAX).await;
    let pool = pool();
    let unread = get(&pool, service.addr).await.expect("answer");
    assert_eq!(pool.idle(&service.addr), 0);
    assert_eq!(
        text(get(&pool, service.addr).await.expect("answer")).await,
        "ok"
    );
    assert_eq!(service.connections(), 2);
    assert_eq!(text(unread).await, "ok");
    assert_eq!(pool.idle(&service.addr), 2);
}

#[tokio::test]
async fn a_body_dropped_unread_takes_its_connection_with_it() {
    let service = Service::start("not read", usize::MAX).await;
    let pool = pool();
    drop(get(&pool, service.addr).await.expect("answer"));
    assert_eq!(pool.idle(&service.addr), 0);
    assert_eq!(
        text(get(&pool, service.addr).await.expect("answer")).await,
        "not read"
    );
    assert_eq!(service.connections(), 2);
}

#[tokio::test]
async fn idle_connections_are_bounded_per_destination() {
    let service = Service::start("ok", usize::MAX).await;
    let pool = Pool::new(1, Duration::from_secs(60));
    let first = get(&pool, service.addr).await.expect("answer");
    let second = get(&pool, service.addr).await.expect("answer");
    assert_eq!(text(first).await, "ok");
    assert_eq!(text(second).await, "ok");
    assert_eq!(pool.idle(&service.addr), 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_idle_past_the_timeout_is_not_reused() {
    let service = Service::start("ok", usize::MAX).await;
    let pool = Pool::new(8, Duration::from_secs(60));
    assert_eq!(
        text(get(&pool, service.addr).await.expect("answer")).await,
        "ok"
    );
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(
        text(get(&pool, service.addr).await.expect("answer")).await,
        "ok"
    );
    assert_eq!(service.connections(), 1, "idle 59 s: reused");
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        text(get(&pool, service.addr).await.expect("answer")).await,
        "ok"
    );
    assert_eq!(service.connections(), 2, "idle 61 s: a new connection");
}

#[tokio::test]
async fn a_failed_connect_is_a_connect_error_that_gives_the_request_back() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = get(&pool(), addr).await.expect_err("refused");
    assert!(err.is_connect(), "{err}");
    assert!(
        matches!(err, SendError::Connect { ref error, ref request } if error.kind() == std::io::ErrorKind::ConnectionRefused && request.uri() == "/")
    );
}

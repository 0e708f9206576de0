//! Keep-alive HTTP/1.1 connections per destination, over hyper's connection API
//! (`hyper::client::conn::http1`). Two fortress hops proxy over HTTP/1.1 and keep connections
//! open: the emulator's Cloud Run front end toward a service's container, and the gateway shim
//! toward its backends. Both send through a [`Pool`]; each brings its own way to connect (plain
//! TCP to a known address; DNS or the emulator, then TLS), and its own request form.
//!
//! Why not hyper-util's pooled client, which both used: callgrind put its pool (checkout through
//! a keyed map of waiters, the `Pooled` guard, its put-back) at 6 % of the emulator's and 11 % of
//! the gateway's user-space instructions per proxied request (`tools/bench/instructions.sh`).
//! What the hops need is smaller, and is all this crate does:
//!
//! - **Reuse**: a connection goes back to its destination's idle list when the response body
//!   has been read to the end (or had nothing to read), never while a response still streams;
//!   a body that fails or is dropped unread takes its connection with it (hyper closes it).
//! - **Checkout**: the most recently used idle connection first (its buffers are warm), awaited
//!   until hyper can send on it; a closed one, or one idle longer than the pool's idle timeout,
//!   is dropped and the next tried; none left, a new connection from the caller's `connect`.
//! - **A stale connection**: a request that a reused connection refused before anything was
//!   sent (the peer had just closed it) goes once more over a new connection, as hyper-util's
//!   client retries it. A request that was sent is never sent again here.
//! - **Bounds**: at most `max_idle_per_key` idle connections per destination; each connection's
//!   I/O runs in a tokio task of its own until it closes.
//!
//! The caller gives the request as it must go on the wire: origin-form URI, `Host` set.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::rt::{Read, Write};
// tokio's clock, so tests can move time on.
use tokio::time::Instant;

/// Any error a request body may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request got no response.
#[derive(thiserror::Error)]
pub enum SendError<E: std::error::Error + 'static, B> {
    /// The caller's `connect` failed: nothing was sent, and the request comes back untouched
    /// (body unread), so a caller whose policy retries connect failures sends it again without
    /// having kept a copy. Boxed: the error stays small in every `Result` that carries it.
    #[error("connect failed")]
    Connect {
        #[source]
        error: E,
        request: Box<Request<B>>,
    },
    /// The connection was made but the exchange failed: hyper says why (its source chain holds
    /// a request body's own error, e.g. a size limit).
    #[error("the exchange failed")]
    Exchange(#[source] hyper::Error),
}

impl<E: std::error::Error + 'static, B> SendError<E, B> {
    pub fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect { .. })
    }
}

// By hand: the request's body need not be `Debug`, and only its line matters here.
impl<E: std::error::Error + 'static, B> std::fmt::Debug for SendError<E, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect { error, request } => f
                .debug_struct("Connect")
                .field("error", error)
                .field("method", request.method())
                .field("uri", request.uri())
                .finish_non_exhaustive(),
            SendError::Exchange(error) => f.debug_tuple("Exchange").field(error).finish(),
        }
    }
}

/// Idle connections by destination `K`, for request bodies `B`. Cheap to clone: clones share
/// one pool.
pub struct Pool<K, B> {
    shared: Arc<Shared<K, B>>,
}

struct Shared<K, B> {
    /// Few destinations (a spec's backends, a topology's services): a list searched with `==`
    /// costs less per request than hashing the key (SipHash over an authority was 2 % of the
    /// gateway's instructions).
    idle: Mutex<Destinations<K, B>>,
    max_idle_per_key: usize,
    idle_timeout: Duration,
}

struct Destinations<K, B>(Vec<(K, Vec<Idle<B>>)>);

impl<K: Eq, B> Destinations<K, B> {
    fn get(&self, key: &K) -> Option<&Vec<Idle<B>>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, idle)| idle)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut Vec<Idle<B>>> {
        self.0
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, idle)| idle)
    }

    fn entry(&mut self, key: K) -> &mut Vec<Idle<B>> {
        match self.0.iter().position(|(k, _)| *k == key) {
            Some(i) => &mut self.0[i].1,
            None => {
                self.0.push((key, Vec::new()));
                let last = self.0.len() - 1;
                &mut self.0[last].1
            }
        }
    }
}

struct Idle<B> {
    sender: SendRequest<B>,
    since: Instant,
}

impl<K, B> Clone for Pool<K, B> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K, B> std::fmt::Debug for Pool<K, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_idle_per_key", &self.shared.max_idle_per_key)
            .field("idle_timeout", &self.shared.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl<K, B> Pool<K, B>
where
    K: Eq + Clone + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// A pool keeping at most `max_idle_per_key` idle connections per destination, each for at
    /// most `idle_timeout`.
    pub fn new(max_idle_per_key: usize, idle_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                idle: Mutex::new(Destinations(Vec::new())),
                max_idle_per_key,
                idle_timeout,
            }),
        }
    }

    /// Sends `request` to `key` over an idle connection, or over a new one that `connect` opens,
    /// and returns the response head with its body still streaming.
    pub async fn send<IO, E, Fut>(
        &self,
        key: &K,
        mut request: Request<B>,
        connect: impl FnOnce() -> Fut,
    ) -> Result<Response<PooledBody<K, B>>, SendError<E, B>>
    where
        IO: Read + Write + Unpin + Send + 'static,
        E: std::error::Error + 'static,
        Fut: Future<Output = Result<IO, E>>,
    {
        if let Some(mut sender) = self.checkout(key).await {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.pooled(key, sender, response)),
                Err(mut refused) => match refused.take_message() {
                    // Never sent: the connection closed under it. Once more, on a new one.
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Exchange(refused.into_error())),
                },
            }
        }
        let io = match connect().await {
            Ok(io) => io,
            Err(error) => {
                return Err(SendError::Connect {
                    error,
                    request: Box::new(request),
                });
            }
        };
        // A request's head and body written from one buffer, as `cloud_run`'s server writes
        // responses (see its `serve_connection`).
        let (mut sender, connection) = http1::Builder::new()
            .writev(false)
            .handshake(io)
            .await
            .map_err(SendError::Exchange)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "pooled connection ended");
            }
        });
        let response = sender
            .send_request(request)
            .await
            .map_err(SendError::Exchange)?;
        Ok(self.pooled(key, sender, response))
    }

    /// How many idle connections to `key` the pool holds.
    pub fn idle(&self, key: &K) -> usize {
        self.lock().get(key).map_or(0, Vec::len)
    }

    /// The most recently used idle connection to `key` that hyper can send on.
    async fn checkout(&self, key: &K) -> Option<SendRequest<B>> {
        let now = Instant::now();
        loop {
            let taken = self.lock().get_mut(key).and_then(Vec::pop);
            let Idle { mut sender, since } = taken?;
            let fresh = now.saturating_duration_since(since) <= self.shared.idle_timeout;
            if fresh && !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn pooled(
        &self,
        key: &K,
        sender: SendRequest<B>,
        response: Response<Incoming>,
    ) -> Response<PooledBody<K, B>> {
        let give_back = GiveBack {
            pool: self.clone(),
            key: key.clone(),
            sender,
        };
        response.map(|inner| PooledBody {
            inner,
            give_back: Some(give_back),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Destinations<K, B>> {
        match self.shared.idle.lock() {
            Ok(guard) => guard,
            // Only whole pushes and pops happen under the lock.
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Where a connection goes once its response is complete.
struct GiveBack<K: Eq, B> {
    pool: Pool<K, B>,
    key: K,
    sender: SendRequest<B>,
}

/// A response body as it streams from the connection. The connection returns to its pool when
/// the body has ended; it is dropped (and hyper closes it) when the body fails or is abandoned.
pub struct PooledBody<K: Eq, B> {
    inner: Incoming,
    give_back: Option<GiveBack<K, B>>,
}

impl<K: Eq, B> PooledBody<K, B> {
    fn give_back(&mut self) {
        let Some(GiveBack { pool, key, sender }) = self.give_back.take() else {
            return;
        };
        if sender.is_closed() {
            return;
        }
        let mut idle = match pool.shared.idle.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let list = idle.entry(key);
        if list.len() < pool.shared.max_idle_per_key {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

impl<K: Eq, B> Body for PooledBody<K, B>
where
    Self: Unpin,
{
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Err(_)) => this.give_back = None,
            None => this.give_back(),
            Some(Ok(_)) if this.inner.is_end_stream() => this.give_back(),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<K: Eq, B> Drop for PooledBody<K, B> {
    /// A body nobody had to read (empty, or the answer to `HEAD`) is complete too.
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.give_back();
        }
    }
}

impl<K: Eq, B> std::fmt::Debug for PooledBody<K, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

//! Accepting connections for `velo serve`: the connection cap, the header-read and idle
//! timeouts, and the graceful stop.
//!
//! A client that opens a connection and sends its headers one byte a second must not hold a
//! slot for long, and a thousand of them must not starve everyone else. So hyper closes a
//! connection whose request headers have not all arrived within the header-read timeout (idle
//! keep-alive connections included), [`Idle`] closes one that moved less than [`MIN_RATE`] on
//! average, with the idle timeout as slack (a stalled upload, a body sent a byte now and then, a
//! client that stopped reading), and at most `max_connections` are served at once. When a new connection finds them all taken, the one that has waited
//! longest for its request headers is closed to make room ([`Waiting`]): a crowd of slow
//! clients that reconnect as fast as they are cut off cannot keep a real request out, since a
//! real client sends its headers at once and is then busy, not waiting. Only when every slot
//! is busy with a request do new connections wait for one to finish.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// The limits on connections, from `--header-read-timeout`, `--idle-timeout` and
/// `--max-connections`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serve `app` on `listener` until `shutdown` resolves, then give the connections in flight
/// `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let waiting = Waiting::default();
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !waiting.close_oldest() {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached and every connection is busy: a new one waits until one closes"
                    );
                }
                tokio::select! {
                    permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (id, closed) = waiting.add();
        let io = TokioIo::new(Idle::new(stream, limits.idle_timeout));
        let inner = TowerToHyperService::new(app.clone());
        let tracker = waiting.clone();
        let service = hyper::service::service_fn(move |request| {
            use hyper::service::Service as _;
            tracker.busy(id);
            let response = inner.call(request);
            let tracker = tracker.clone();
            async move {
                let response = response.await?;
                // Waiting again once the whole response has gone (or was abandoned).
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    axum::body::Body::new(Tracked {
                        body,
                        done: Some((tracker, id)),
                    })
                }))
            }
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        let tracker = waiting.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        log_closed(peer, &err);
                    }
                }
                () = closed.cancelled() => tracing::warn!(
                    %peer,
                    "connection limit reached: closed the connection that had waited longest for its request headers"
                ),
            }
            tracker.forget(id);
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("requests were still running {} s after the signal; stopping anyway", grace.as_secs());
        }
    }
}

fn log_closed(peer: SocketAddr, err: &hyper::Error) {
    let idle = std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<io::Error>())
        .is_some_and(|source| source.kind() == io::ErrorKind::TimedOut);
    if err.is_timeout() {
        tracing::warn!(%peer, "closed a connection that did not send its request headers in time");
    } else if idle {
        tracing::warn!(%peer, "closed a connection that moved too few bytes for the idle timeout");
    } else if !err.is_incomplete_message() {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

/// The open connections, and which of them are waiting for a request's headers (the first, or
/// the next on a kept-alive connection), oldest wait first.
#[derive(Clone, Default)]
struct Waiting(Arc<Mutex<WaitingInner>>);

#[derive(Default)]
struct WaitingInner {
    next_id: u64,
    next_turn: u64,
    /// Connection id → its closer, and its place in `queue` while it waits.
    open: BTreeMap<u64, (CancellationToken, Option<u64>)>,
    /// Turn → connection id, for the connections waiting for headers.
    queue: BTreeMap<u64, u64>,
}

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, WaitingInner> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new connection, waiting for its first request: its id and what closes it.
    fn add(&self) -> (u64, CancellationToken) {
        let mut inner = self.lock();
        let (id, token) = (inner.next_id, CancellationToken::new());
        inner.next_id += 1;
        inner.open.insert(id, (token.clone(), None));
        inner.wait(id);
        (id, token)
    }

    /// A request's headers arrived: the connection is busy until its response has gone.
    fn busy(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(turn) = inner.open.get_mut(&id).and_then(|(_, turn)| turn.take()) {
            inner.queue.remove(&turn);
        }
    }

    /// The response went: the connection waits for the next request.
    fn idle(&self, id: u64) {
        self.lock().wait(id);
    }

    fn forget(&self, id: u64) {
        let mut inner = self.lock();
        if let Some((_, Some(turn))) = inner.open.remove(&id) {
            inner.queue.remove(&turn);
        }
    }

    /// Close the connection that has waited longest for headers; false when none waits.
    fn close_oldest(&self) -> bool {
        let mut inner = self.lock();
        let Some((_, id)) = inner.queue.pop_first() else {
            return false;
        };
        if let Some((token, turn)) = inner.open.get_mut(&id) {
            *turn = None;
            token.cancel();
        }
        true
    }
}

impl WaitingInner {
    fn wait(&mut self, id: u64) {
        let turn = self.next_turn;
        if let Some((_, place)) = self.open.get_mut(&id) {
            if let Some(old) = place.replace(turn) {
                self.queue.remove(&old);
            }
            self.queue.insert(turn, id);
            self.next_turn += 1;
        }
    }
}

/// A response body that marks its connection as waiting again once it is dropped (sent in
/// full, or abandoned).
struct Tracked {
    body: axum::body::Body,
    done: Option<(Waiting, u64)>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some((waiting, id)) = self.done.take() {
            waiting.idle(id);
        }
    }
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The slowest a connection may move bytes on average, either way. A byte now and then must not
/// hold a connection slot for ever (a client trickling a body is busy, never the one closed to
/// make room): each byte moved buys `1 / MIN_RATE` seconds more, and the connection fails once
/// it is out of time (never holding more than the idle timeout in hand).
pub const MIN_RATE: u32 = 1024;

/// A connection that fails with `TimedOut` once it has moved too few bytes either way for the
/// time it had (see [`MIN_RATE`]) while hyper waits on it: at once, `timeout`.
struct Idle {
    inner: TcpStream,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Idle {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        Idle {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    /// `bytes` moved: the deadline moves on by what they earned, to at most `timeout` from now.
    fn progressed(&mut self, bytes: usize) {
        let earned = Duration::from_secs_f64(bytes as f64 / f64::from(MIN_RATE));
        let next = (self.deadline.deadline() + earned).min(Instant::now() + self.timeout);
        self.deadline.as_mut().reset(next);
    }

    /// After the inner stream said `Pending`: an error if the deadline has passed.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "too few bytes moved for the idle timeout",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Idle {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let read = buf.filled().len() - before;
                if read > 0 {
                    this.progressed(read);
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }
}

impl AsyncWrite for Idle {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                if let Ok(written @ 1..) = result {
                    this.progressed(written);
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.check(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

//! Accepting connections for `velo serve`: the connection cap, the header-read and idle
//! timeouts, and the graceful stop.
//!
//! A client that opens a connection and sends its headers one byte a second must not hold a
//! slot for long, and a thousand of them must not starve everyone else. So hyper closes a
//! connection whose request headers have not all arrived within the header-read timeout (idle
//! keep-alive connections included), [`Idle`] closes one that moved less than [`MIN_RATE`] on
//! average, with the idle timeout as slack (a stalled upload, a body sent a byte now and then, a
//! client that stopped reading), and at most `max_connections` are served at once: past that, new
//! ones wait in the kernel's accept queue until a slot frees.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

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
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting, so the cap holds; say so once per time it fills.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection limit reached: new connections wait until one closes"
                );
                tokio::select! {
                    permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
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
        let io = TokioIo::new(Idle::new(stream, limits.idle_timeout));
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                log_closed(peer, &err);
            }
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

/// The slowest a connection may move bytes on average, either way. A byte now and then must not
/// hold a connection slot for ever: each byte moved buys `1 / MIN_RATE` seconds more, and the
/// connection fails once it is out of time (never holding more than the idle timeout in hand).
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

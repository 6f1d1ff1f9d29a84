//! `velo serve`: the remote build cache server.
//!
//! Stateless: everything it knows comes from flags (or `VELO_SERVER_*`), the tokens file and
//! storage. With S3-compatible storage it only authenticates and signs, and artifacts move
//! between clients and the bucket directly; with the local driver (one machine) it carries the
//! bytes itself, behind URLs it signs the same way. It also speaks the Turborepo remote cache
//! API ([`turbo`]).
//!
//! | module | owns |
//! |---|---|
//! | [`auth`] | the tokens file and constant-time token checks |
//! | [`storage`] | the local directory and S3 drivers, first write wins, retention |
//! | [`routes`] | `/v1/negotiate`, `/v1/status`, the local driver's artifact URLs, `/healthz`, `/metrics` |
//! | [`turbo`] | `/v8/artifacts/…` for `turbo` |
//! | [`metrics`] | the Prometheus counters |
//! | [`listen`] | accepting connections: the connection cap, header-read and idle timeouts, graceful stop |

pub mod auth;
pub mod listen;
pub mod metrics;
pub mod routes;
pub mod storage;
pub mod turbo;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use self::auth::Tokens;
use self::metrics::Metrics;
use self::storage::{Local, S3Config, Storage, S3};
use crate::error::Error;
use crate::protocol::{ErrorBody, FirstWriteWins, Scope};

pub struct Config {
    pub listen: String,
    pub storage: StorageConfig,
    pub tokens: Tokens,
    pub limits: Limits,
    pub retention: Retention,
    pub connections: listen::ConnectionLimits,
    pub json_logs: bool,
}

/// How the server signs URLs and what it accepts.
pub struct Limits {
    /// The URL clients reach this server at, for the local driver's artifact URLs (default:
    /// from each request's `Host`).
    pub public_url: Option<url::Url>,
    /// Signs the local driver's URLs; random per process unless set.
    pub url_secret: Vec<u8>,
    pub url_expiry: Duration,
    pub max_artifact_size: u64,
    pub max_request_size: usize,
    pub max_items: usize,
}

pub enum StorageConfig {
    Local(PathBuf),
    S3(Box<S3Config>),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_size: Option<u64>,
}

/// Said in the log and `/healthz` when storage does not enforce first write wins.
pub const UNENFORCED: &str = "the store ignores If-None-Match on PUT, so it cannot refuse a second upload of a key: \
    this server hands out one upload URL per key at a time, but uploads through other instances or after a URL \
    expires may overwrite";

/// How long requests in flight may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How often the local driver applies retention.
const RETENTION_INTERVAL: Duration = Duration::from_secs(600);

pub struct AppState {
    pub storage: Storage,
    pub tokens: Tokens,
    pub metrics: Metrics,
    pub first_write_wins: FirstWriteWins,
    pub limits: Limits,
    /// With [`FirstWriteWins::Checked`]: the keys this server has handed an upload URL for, and
    /// until when (the URL's expiry).
    pub leases: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
}

pub type Shared = Arc<AppState>;

/// See [`AppState::lease_for_upload`].
pub struct LeaseGuard<'a> {
    state: &'a AppState,
    object: &'a str,
}

impl Drop for LeaseGuard<'_> {
    fn drop(&mut self) {
        self.state.release(self.object);
    }
}

/// An error response: a status, a kind for the metrics and logs, and a message for the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

/// Attached to error responses so the request log and metrics see the kind.
#[derive(Debug, Clone, Copy)]
struct ErrorKind(&'static str);

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required: send `Authorization: Bearer <token>`",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "this token may only read")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// A request body of at most `limit` bytes. Handlers read it only after authorizing the
    /// request: a client without a token must not hold a connection by trickling a body the
    /// server would refuse anyway (an axum `Bytes` extractor reads it before the handler runs).
    pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, Self> {
        use futures::StreamExt;
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| Self::bad_request(format!("the body did not arrive: {err}")))?;
            if bytes.len() + chunk.len() > limit {
                return Err(Self::too_large(format!(
                    "the body is larger than the server's limit of {limit} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes.into())
    }

    /// 400 unless `key` is 1 to 128 hex digits (`noun` says what it is: a key, a hash).
    pub fn check_key(key: &str, noun: &str) -> Result<(), Self> {
        if crate::protocol::valid_key(key) {
            return Ok(());
        }
        Err(Self::bad_request(format!(
            "`{}` is not a {noun}: {noun}s are 1 to {} hex digits",
            key.chars().take(140).collect::<String>(),
            crate::protocol::MAX_KEY_LEN
        )))
    }

    /// 413 when a request lists more than `limit` things.
    pub fn check_count(count: usize, limit: usize, what: &str) -> Result<(), Self> {
        if count <= limit {
            return Ok(());
        }
        Err(Self::too_large(format!("{count} {what}; the limit is {limit}")))
    }

    pub fn storage(err: &storage::StorageError) -> Self {
        match err {
            storage::StorageError::TooLarge { limit } => Self::too_large(format!(
                "the artifact is larger than the server's limit of {limit} bytes"
            )),
            storage::StorageError::Body(reason) => {
                Self::bad_request(format!("the upload was cut short: {reason}"))
            }
            storage::StorageError::LengthRequired => Self::new(
                StatusCode::LENGTH_REQUIRED,
                "length_required",
                "uploads to object storage need a Content-Length",
            ),
            _ => Self::new(
                StatusCode::BAD_GATEWAY,
                "storage",
                format!("storage failed: {}", crate::error::chain(err)),
            ),
        }
    }
}

impl From<storage::StorageError> for ApiError {
    fn from(err: storage::StorageError) -> Self {
        Self::storage(&err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(ErrorBody { error: self.message })).into_response();
        response.extensions_mut().insert(ErrorKind(self.kind));
        response
    }
}

impl ApiError {
    /// The error in the shape Vercel's API (and so `turbo`) uses:
    /// `{"error": {"code": …, "message": …}}`.
    pub fn into_turbo_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.kind, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        response.extensions_mut().insert(ErrorKind(self.kind));
        response
    }
}

impl AppState {
    /// Whether an upload of `object` may go ahead. Always, where storage enforces first write
    /// wins; otherwise only if no other upload of it was let through within the URL expiry.
    pub fn lease(&self, object: &str) -> bool {
        if self.first_write_wins == FirstWriteWins::Atomic {
            return true;
        }
        let now = Instant::now();
        let mut leases = self.leases.lock().expect("not poisoned");
        if leases.len() > 100_000 {
            leases.retain(|_, until| *until > now);
        }
        match leases.get(object) {
            Some(until) if *until > now => false,
            _ => {
                leases.insert(object.to_string(), now + self.limits.url_expiry);
                true
            }
        }
    }

    /// End the lease [`Self::lease`] took, once the upload it covered is over.
    pub fn release(&self, object: &str) {
        if self.first_write_wins == FirstWriteWins::Checked {
            self.leases.lock().expect("not poisoned").remove(object);
        }
    }

    /// Take the lease on `object` for an upload this server carries itself, ended when the
    /// guard drops: when the upload is over, or abandoned half way by the client.
    pub fn lease_for_upload<'a>(&'a self, object: &'a str) -> Option<LeaseGuard<'a>> {
        self.lease(object).then_some(LeaseGuard { state: self, object })
    }

    /// The scope of the request's bearer token; 401 without a valid one.
    pub fn authorize(&self, headers: &axum::http::HeaderMap, needs: Scope) -> Result<Scope, ApiError> {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let scope = self.tokens.scope(header).ok_or_else(ApiError::unauthorized)?;
        if scope < needs {
            return Err(ApiError::forbidden());
        }
        Ok(scope)
    }
}

/// Run the server until SIGTERM or Ctrl-C, then finish the requests in flight.
pub async fn serve(config: Config) -> Result<(), Error> {
    init_logging(config.json_logs);
    let (storage, first_write_wins) = match config.storage {
        StorageConfig::Local(root) => {
            let local = Local::new(root.clone()).map_err(|err| {
                Error::usage(
                    format!(
                        "cannot use `{}` for storage: {}",
                        root.display(),
                        crate::error::chain(&err)
                    ),
                    None,
                )
            })?;
            (Storage::Local(local), FirstWriteWins::Atomic)
        }
        StorageConfig::S3(s3) => {
            let bucket = s3.bucket.clone();
            let s3 = S3::new(*s3).map_err(|err| Error::usage(format!("invalid S3 settings: {err}"), None))?;
            let guarantee = s3.probe().await.map_err(|err| {
                Error::usage(
                    format!("cannot use bucket `{bucket}`: {err}"),
                    Some("check the endpoint, the bucket name and the credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`)".to_string()),
                )
            })?;
            if guarantee == FirstWriteWins::Checked {
                tracing::warn!(
                    bucket = %bucket,
                    "{UNENFORCED}"
                );
            }
            (Storage::S3(Box::new(s3)), guarantee)
        }
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|err| Error::usage(format!("cannot listen on `{}`: {err}", config.listen), None))?;
    let address = listener.local_addr().map_err(|source| Error::Io {
        path: PathBuf::from(&config.listen),
        source,
    })?;
    let state = Arc::new(AppState {
        storage,
        tokens: config.tokens,
        metrics: Metrics::new(),
        first_write_wins,
        limits: config.limits,
        leases: Default::default(),
    });
    let retention = spawn_retention(&state, config.retention);
    let app =
        routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(state.clone(), log_request));
    // The signal handlers are installed before the server says it listens: a SIGTERM right after
    // that line stops it gracefully rather than killing it.
    let shutdown = shutdown_signal();
    tracing::info!(
        storage = state.storage.kind(),
        first_write_wins = ?state.first_write_wins,
        "velo serve listening on http://{address}"
    );
    // After the signal, requests in flight get `SHUTDOWN_GRACE` to finish (a stalled upload
    // must not keep the process alive until it is killed).
    listen::serve(listener, app, config.connections, shutdown, SHUTDOWN_GRACE).await;
    if let Some(retention) = retention {
        retention.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    // A second `velo serve` in one process (tests) keeps the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed by this call, not when the
/// future is first polled, so no signal in between gets its default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let mut signals = crate::signals::Signals::new();
    async move {
        signals.next().await;
        tracing::info!("shutting down: finishing the requests in flight");
    }
}

fn spawn_retention(state: &Shared, retention: Retention) -> Option<tokio::task::JoinHandle<()>> {
    if retention.max_age.is_none() && retention.max_size.is_none() {
        return None;
    }
    if !matches!(state.storage, Storage::Local(_)) {
        tracing::warn!(
            "--max-age and --max-size apply to the local driver; for S3 use the bucket's lifecycle rules"
        );
        return None;
    }
    let state = state.clone();
    Some(tokio::spawn(async move {
        loop {
            let pruning = state.clone();
            let pruned = tokio::task::spawn_blocking(move || match &pruning.storage {
                Storage::Local(local) => local.prune(retention.max_age, retention.max_size),
                Storage::S3(_) => (0, 0),
            })
            .await;
            if let Ok((removed, freed)) = pruned {
                if removed > 0 {
                    tracing::info!(removed, freed_bytes = freed, "retention removed objects");
                }
            }
            tokio::time::sleep(RETENTION_INTERVAL).await;
        }
    }))
}

/// One structured log line per request: method, path (never the query, which holds URL
/// signatures, nor any header), status, duration, and the error kind. Error kinds are counted.
async fn log_request(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    let kind = response.extensions().get::<ErrorKind>().map(|k| k.0);
    let kind = kind.or(match status {
        // Produced by axum's extractors (body limits, bad JSON), not by our handlers.
        413 => Some("too_large"),
        400 | 415 | 422 => Some("bad_request"),
        _ => None,
    });
    if let Some(kind) = kind {
        state.metrics.error(kind);
        tracing::warn!(%method, %path, status, duration_ms = millis, error = kind, "request");
    } else {
        tracing::info!(%method, %path, status, duration_ms = millis, "request");
    }
    response
}

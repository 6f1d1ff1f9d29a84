//! The remote build cache client: one negotiation for the whole graph, downloads into the local
//! cache before tasks start, uploads after they succeed.
//!
//! The remote is an optimisation and never a reason for a build to fail: any error (refused,
//! unreachable, slow past the timeout, a bad token) is reported once, and the run carries on
//! with the local cache alone. Downloads are verified before anything is restored: the object's
//! header must name the key asked for, its blake3 and size must match the artifact, and with
//! `VELO_CACHE_SIGNING_KEY` set its HMAC-SHA256 must too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::artifact::Written;
use super::cache::TaskCache;
use super::{Event, Reporter};
use crate::env_vars;
use crate::error::Error;
use crate::manifest::RemoteCache;
use crate::protocol::{
    Action, Envelope, NegotiateRequest, NegotiateResponse, RequestItem, ResponseItem, Status, StatusResponse,
};

/// Seconds a negotiation may take, and a transfer may stall, unless `timeout_secs` says.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Downloads at once, and uploads at once.
const CONCURRENT_DOWNLOADS: usize = 8;
const CONCURRENT_UPLOADS: usize = 8;

/// Where the remote cache is and how to talk to it.
#[derive(Clone)]
pub struct RemoteConfig {
    pub url: url::Url,
    pub token: Option<String>,
    pub read_only: bool,
    pub timeout: Duration,
    pub signing_key: Option<Vec<u8>>,
    /// The largest object a download may declare (`VELO_MAX_UNPACKED_SIZE`): the server is the
    /// one the repository names, and its answer goes to the user's disk.
    pub max_object_size: u64,
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token or the key.
        f.debug_struct("RemoteConfig")
            .field("url", &self.display_url())
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl RemoteConfig {
    /// `VELO_CACHE_URL` and `VELO_CACHE_TOKEN` over `cache.remote` in `velo.json` (whose values
    /// may name variables as `${NAME}`, only those `expansion` allows). `None` when no remote is
    /// configured. The flag says that the user's secrets were withheld (worth a note).
    ///
    /// A URL the repository chose (`cache.remote.url` without `VELO_CACHE_URL`) gets the user's
    /// secrets only when the user trusts the project (`trusted`, from `velo trust`, whose
    /// digest covers `cache.remote`). Otherwise it is used as written: no `${NAME}` is expanded,
    /// `VELO_CACHE_TOKEN` is not sent, and only a literal token from the manifest is.
    pub fn resolve(
        manifest: Option<&RemoteCache>,
        expansion: crate::manifest::Expansion<'_>,
        trusted: bool,
    ) -> Result<(Option<Self>, bool), Error> {
        let env = expansion.vars;
        let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
        let user_url = var(env_vars::VELO_CACHE_URL);
        let guarded = user_url.is_none() && !trusted;
        let literal = |text: &str| !text.contains("${");
        let url = match (user_url, manifest) {
            (Some(url), _) => url,
            (None, Some(m)) if guarded && !literal(&m.url) => return Ok((None, true)),
            (None, Some(m)) if guarded => m.url.clone(),
            (None, Some(m)) => expansion.expand(&m.url, "cache.remote.url")?,
            (None, None) => return Ok((None, false)),
        };
        if url.is_empty() {
            return Ok((None, false));
        }
        let hint = || {
            Some(format!(
                "fix `cache.remote.url` in `velo.json` or `{}`",
                env_vars::VELO_CACHE_URL
            ))
        };
        // Never the text itself in the message: it may carry credentials.
        let parsed = url::Url::parse(&url)
            .map_err(|err| Error::usage(format!("the remote cache URL is not a URL ({err})"), hint()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::usage(
                format!(
                    "the remote cache URL `{}` is not an http(s) URL",
                    redacted(&parsed)
                ),
                hint(),
            ));
        }
        let (env_token, manifest_token) = (
            var(env_vars::VELO_CACHE_TOKEN),
            manifest.and_then(|m| m.token.as_deref()),
        );
        let withheld = guarded && (env_token.is_some() || manifest_token.is_some_and(|t| !literal(t)));
        let token = match (env_token, manifest_token) {
            _ if guarded => manifest_token.filter(|t| literal(t)).map(str::to_string),
            (Some(token), _) => Some(token),
            (None, Some(token)) => {
                // The token may name `VELO_CACHE_TOKEN` (as the documented example does): it is
                // sent only where that variable would go anyway. No other secret may be read.
                let mut allowed = expansion.allowed.to_vec();
                allowed.push(env_vars::VELO_CACHE_TOKEN.to_string());
                let expansion = crate::manifest::Expansion {
                    allowed: &allowed,
                    ..expansion
                };
                Some(expansion.expand(token, "cache.remote.token")?)
            }
            (None, None) => None,
        }
        .filter(|t| !t.is_empty());
        let config = Self {
            url: parsed,
            token,
            read_only: manifest.is_some_and(|m| m.read_only),
            timeout: manifest
                .and_then(|m| m.timeout_secs)
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            signing_key: var(env_vars::VELO_CACHE_SIGNING_KEY).map(String::into_bytes),
            max_object_size: crate::settings::DEFAULT_MAX_UNPACKED_SIZE,
        };
        Ok((Some(config), withheld))
    }

    /// The URL as it may be printed: without credentials in it (see [`redacted`]).
    pub fn display_url(&self) -> String {
        redacted(&self.url)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.url.as_str().trim_end_matches('/'))
    }
}

pub use crate::http::redacted;

/// The note for a remote whose project is not trusted, so that gets none of the user's secrets.
pub const WITHHELD: &str = "the remote cache named by `velo.json` gets no token or `${NAME}` from your environment until you trust the project; run `velo trust`, or set `VELO_CACHE_URL`";

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Http(String),
    #[error("the server refused the token (401)")]
    Unauthorized,
    #[error("the token may not upload (403)")]
    Forbidden,
    #[error("the server refused it as too large (413)")]
    TooLarge,
    #[error("the server answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the server's answer is not a negotiation: {0}")]
    Protocol(String),
}

/// What went wrong with a request, without its URL: a presigned URL is a credential until it
/// expires, and has no place in a warning or a CI log.
fn http_error(err: reqwest::Error) -> RemoteError {
    let err = err.without_url();
    if err.is_timeout() {
        return RemoteError::Http("timed out".to_string());
    }
    if err.is_connect() {
        // The root cause says it all ("Connection refused", a DNS failure).
        let mut root: &dyn std::error::Error = &err;
        while let Some(source) = root.source() {
            root = source;
        }
        return RemoteError::Http(format!("cannot connect: {root}"));
    }
    RemoteError::Http(crate::error::chain(&err))
}

/// Totals for the run's summary.
#[derive(Debug, Default)]
pub struct Transfers {
    pub downloaded: AtomicU64,
    pub downloaded_bytes: AtomicU64,
    pub uploaded: AtomicU64,
    pub uploaded_bytes: AtomicU64,
}

pub struct Remote {
    config: RemoteConfig,
    /// Built on first use: a run whose tasks are all local hits never pays for TLS set-up.
    http: std::sync::OnceLock<reqwest::Client>,
    report: Reporter,
    /// After the first failure nothing more is tried.
    disabled: AtomicBool,
    can_write: AtomicBool,
    /// Results waiting to be negotiated and uploaded, and whether a worker is on them.
    pending: Mutex<Vec<PendingUpload>>,
    uploading: AtomicBool,
    /// Keys whose results came from the remote in this run.
    fetched: Mutex<HashSet<String>>,
    /// Keys already negotiated in this run.
    negotiated: Mutex<HashSet<String>>,
    uploads: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    pub transfers: Transfers,
}

impl Remote {
    pub fn new(config: RemoteConfig, report: Reporter) -> Self {
        Self {
            can_write: AtomicBool::new(!config.read_only),
            config,
            http: std::sync::OnceLock::new(),
            report,
            disabled: AtomicBool::new(false),
            pending: Mutex::default(),
            uploading: AtomicBool::new(false),
            fetched: Mutex::default(),
            negotiated: Mutex::default(),
            uploads: tokio::sync::Mutex::default(),
            transfers: Transfers::default(),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            let builder = reqwest::Client::builder()
                .connect_timeout(self.config.timeout.min(Duration::from_secs(5)))
                .read_timeout(self.config.timeout)
                .user_agent(crate::http::USER_AGENT);
            // Building fails only when the TLS back end cannot start; then requests fail too,
            // and the remote is reported unreachable like any other failure.
            builder.build().unwrap_or_default()
        })
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Give up on the remote for this run, saying why once.
    fn fail(&self, what: &str, err: &dyn std::fmt::Display) {
        if !self.disabled.swap(true, Ordering::SeqCst) {
            (self.report)(Event::Warning(format!(
                "remote cache {}: {what} failed ({err}); using the local cache only",
                self.config.display_url()
            )));
        }
    }

    fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::SeqCst)
    }

    /// Whether this run restored `key` from the remote.
    pub fn fetched(&self, key: &str) -> bool {
        self.fetched.lock().expect("not poisoned").contains(key)
    }

    async fn negotiate(&self, items: Vec<RequestItem>) -> Result<Vec<ResponseItem>, RemoteError> {
        let request = self
            .http()
            .post(self.config.endpoint("v1/negotiate"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&NegotiateRequest { items }).expect("a negotiation serializes"));
        let body: NegotiateResponse = self.call(request).await?;
        Ok(body.items)
    }

    /// `GET /v1/status`: is the server there, and what may the token do.
    pub async fn status(&self) -> Result<StatusResponse, RemoteError> {
        self.call(self.http().get(self.config.endpoint("v1/status")))
            .await
    }

    /// Send an API request with the token and the timeout, and read its JSON answer.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, RemoteError> {
        let response = self
            .authorized(request)
            .timeout(self.config.timeout)
            .send()
            .await
            .map_err(http_error)?;
        match response.status().as_u16() {
            200 => {}
            401 => return Err(RemoteError::Unauthorized),
            403 => return Err(RemoteError::Forbidden),
            413 => return Err(RemoteError::TooLarge),
            status => {
                // Only the start is shown; a server must not make velo read an endless body.
                let body = crate::http::body_within(response, 64 << 10)
                    .await
                    .ok()
                    .flatten()
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .unwrap_or_default();
                return Err(RemoteError::Status {
                    status,
                    body: body.chars().take(200).collect(),
                });
            }
        }
        let bytes = crate::http::body_within(response, crate::http::MAX_METADATA)
            .await
            .map_err(http_error)?
            .ok_or_else(|| {
                RemoteError::Protocol(format!(
                    "the answer is larger than {} MiB",
                    crate::http::MAX_METADATA >> 20
                ))
            })?;
        serde_json::from_slice(&bytes).map_err(|err| RemoteError::Protocol(err.to_string()))
    }

    /// Negotiate every key the local cache lacks, in one request (asking for upload URLs too
    /// when the token may write), and download what the remote has into the local cache.
    pub async fn prefetch(&self, keys: Vec<String>, cache: &TaskCache) {
        if keys.is_empty() || self.is_disabled() {
            return;
        }
        self.negotiated
            .lock()
            .expect("not poisoned")
            .extend(keys.iter().cloned());
        let items = keys
            .iter()
            .map(|key| RequestItem {
                hash: key.clone(),
                action: Action::Download,
                size: None,
            })
            .collect();
        let answer = match self.negotiate(items).await {
            Ok(items) => items,
            Err(err) => return self.fail("negotiation", &err),
        };
        // Only answers for keys that were asked about are used: a key names a directory in
        // the local cache, and the server is not trusted with choosing one.
        let mut requested: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let found: Vec<ResponseItem> = answer
            .into_iter()
            .filter(|item| item.status == Status::Found && item.url.is_some())
            .filter(|item| requested.remove(item.hash.as_str()))
            .collect();
        let mut downloads = futures::stream::iter(found)
            .map(|item| async move {
                let key = item.hash.clone();
                (key, self.download(&item, cache).await)
            })
            .buffer_unordered(CONCURRENT_DOWNLOADS);
        while let Some((key, result)) = downloads.next().await {
            match result {
                Ok(size) => {
                    self.fetched.lock().expect("not poisoned").insert(key);
                    self.transfers.downloaded.fetch_add(1, Ordering::Relaxed);
                    self.transfers.downloaded_bytes.fetch_add(size, Ordering::Relaxed);
                }
                Err(Rejected::Invalid(reason)) => (self.report)(Event::Warning(format!(
                    "the remote cache's result for {} was rejected: {reason}; the task will run",
                    super::key::short(&key)
                ))),
                Err(Rejected::Vanished) => {}
                Err(Rejected::Transfer(err)) => {
                    self.fail("a download", &err);
                    break;
                }
            }
        }
    }

    /// For a key the first negotiation did not cover (its task's inputs changed as the tasks
    /// before it ran): negotiate it alone and download it. Returns whether it is now in the
    /// local cache.
    pub async fn fetch(&self, key: &str, cache: &TaskCache) -> bool {
        if self.is_disabled()
            || !self
                .negotiated
                .lock()
                .expect("not poisoned")
                .insert(key.to_string())
        {
            return false;
        }
        self.prefetch(vec![key.to_string()], cache).await;
        self.fetched(key)
    }

    /// Fetch one object into the local cache, verifying it on the way. Returns its size.
    async fn download(&self, item: &ResponseItem, cache: &TaskCache) -> Result<u64, Rejected> {
        let url = item.url.as_deref().expect("found items have a URL");
        let request =
            with_headers(self.http().get(url), &item.headers).timeout(self.transfer_timeout(item.size));
        let response = request
            .send()
            .await
            .map_err(|err| Rejected::Transfer(http_error(err)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            // Evicted since the negotiation (retention, a lifecycle rule): a miss.
            return Err(Rejected::Vanished);
        }
        if !status.is_success() {
            return Err(Rejected::Transfer(RemoteError::Status {
                status: status.as_u16(),
                body: String::new(),
            }));
        }
        let staging = cache
            .staging()
            .map_err(|err| Rejected::Invalid(format!("cannot stage it: {err}")))?;
        let path = TaskCache::staged_artifact(&staging);
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|err| Rejected::Invalid(format!("cannot stage it: {err}")))?;
        let signing_key = self.config.signing_key.as_deref();
        let mut header: Option<Envelope> = None;
        let mut pending = Vec::new();
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| Rejected::Transfer(http_error(err)))?;
            let data: &[u8] = if header.is_some() {
                &chunk
            } else {
                pending.extend_from_slice(&chunk);
                // The header is one line after the magic line; wait for both.
                let Some(end) = header_end(&pending) else {
                    if pending.len() > 8192 {
                        return Err(Rejected::Invalid("it is not a velo cache object".to_string()));
                    }
                    continue;
                };
                let envelope =
                    Envelope::read(&mut &pending[..end]).map_err(|err| Rejected::Invalid(err.to_string()))?;
                envelope
                    .check(&item.hash, signing_key)
                    .map_err(|err| Rejected::Invalid(err.to_string()))?;
                if envelope.size > self.config.max_object_size {
                    return Err(Rejected::Invalid(format!(
                        "it declares {} bytes, more than the {} a result may hold (`VELO_MAX_UNPACKED_SIZE`)",
                        envelope.size, self.config.max_object_size
                    )));
                }
                header = Some(envelope);
                pending.drain(..end);
                &pending
            };
            hasher.update(data);
            size += data.len() as u64;
            file.write_all(data)
                .await
                .map_err(|err| Rejected::Invalid(format!("cannot stage it: {err}")))?;
            if header.as_ref().is_some_and(|h| size > h.size) {
                break;
            }
        }
        let Some(header) = header else {
            return Err(Rejected::Invalid("it is not a velo cache object".to_string()));
        };
        file.sync_all()
            .await
            .map_err(|err| Rejected::Invalid(format!("cannot stage it: {err}")))?;
        drop(file);
        let blake3 = hasher.finalize().to_hex().to_string();
        header
            .check_digest(&blake3, size)
            .map_err(|err| Rejected::Invalid(err.to_string()))?;
        cache
            .commit(&item.hash, staging, &Written { blake3, size })
            .map_err(|err| Rejected::Invalid(format!("cannot store it: {err}")))?;
        Ok(size + header.header_bytes().len() as u64)
    }

    /// How long moving `size` bytes may take: the timeout, plus a second per MB (so a
    /// transfer slower than 1 MB/s is abandoned rather than holding up the run).
    fn transfer_timeout(&self, size: Option<u64>) -> Duration {
        self.config.timeout + Duration::from_secs(size.unwrap_or(0) / 1_000_000)
    }

    /// Queue a stored result for upload (when the token may write). Results are negotiated
    /// in batches, with their sizes, by one background worker at a time, and uploaded 8 at once.
    pub async fn upload(self: &Arc<Self>, key: String, artifact: PathBuf, written: Written) {
        if self.is_disabled() || !self.can_write.load(Ordering::SeqCst) {
            return;
        }
        let header = Envelope::new(
            &key,
            &written.blake3,
            written.size,
            self.config.signing_key.as_deref(),
        )
        .header_bytes();
        self.pending.lock().expect("not poisoned").push(PendingUpload {
            key,
            artifact,
            total: header.len() as u64 + written.size,
            header,
        });
        if !self.uploading.swap(true, Ordering::SeqCst) {
            let remote = self.clone();
            self.uploads
                .lock()
                .await
                .spawn(async move { remote.upload_worker().await });
        }
    }

    async fn upload_worker(self: Arc<Self>) {
        loop {
            let batch = std::mem::take(&mut *self.pending.lock().expect("not poisoned"));
            if batch.is_empty() {
                self.uploading.store(false, Ordering::SeqCst);
                // A result queued after the take saw this worker as busy: take it too, unless
                // a new worker already has.
                if self.pending.lock().expect("not poisoned").is_empty()
                    || self.uploading.swap(true, Ordering::SeqCst)
                {
                    return;
                }
                continue;
            }
            self.upload_batch(batch).await;
        }
    }

    /// Negotiate a batch of results in one request, then upload those the remote lacks.
    async fn upload_batch(&self, batch: Vec<PendingUpload>) {
        if self.is_disabled() || !self.can_write.load(Ordering::SeqCst) {
            return;
        }
        let items = batch
            .iter()
            .map(|pending| RequestItem {
                hash: pending.key.clone(),
                action: Action::Upload,
                size: Some(pending.total),
            })
            .collect();
        let answer = match self.negotiate(items).await {
            Ok(answer) => answer,
            Err(RemoteError::Forbidden) => {
                // A read token: nothing to upload this run, and nothing wrong.
                self.can_write.store(false, Ordering::SeqCst);
                return;
            }
            Err(RemoteError::TooLarge) if batch.len() > 1 => {
                // Some result is over the server's limit: find which, one at a time.
                for pending in batch {
                    Box::pin(self.upload_batch(vec![pending])).await;
                }
                return;
            }
            Err(RemoteError::TooLarge) => {
                let pending = &batch[0];
                (self.report)(Event::Warning(format!(
                    "the result for {} ({} bytes) is larger than the remote cache accepts; it was not uploaded",
                    super::key::short(&pending.key),
                    pending.total
                )));
                return;
            }
            Err(err) => return self.fail("an upload", &err),
        };
        let mut urls: HashMap<String, ResponseItem> = answer
            .into_iter()
            .filter(|item| item.status == Status::UploadNeeded && item.url.is_some())
            .map(|item| (item.hash.clone(), item))
            .collect();
        let work: Vec<(PendingUpload, ResponseItem)> = batch
            .into_iter()
            .filter_map(|pending| {
                let item = urls.remove(&pending.key)?;
                Some((pending, item))
            })
            .collect();
        let mut uploads = futures::stream::iter(work)
            .map(|(pending, item)| async move { self.upload_one(&pending, item).await })
            .buffer_unordered(CONCURRENT_UPLOADS);
        while uploads.next().await.is_some() {}
    }

    /// PUT one result to its negotiated URL; when the URL is refused (it expired while the
    /// task ran: S3 says 403, Garage 400), negotiate it again once.
    async fn upload_one(&self, pending: &PendingUpload, mut item: ResponseItem) {
        for attempt in 0..2 {
            if self.is_disabled() {
                return;
            }
            match self
                .put(&item, &pending.header, &pending.artifact, pending.total)
                .await
            {
                Ok(()) => {
                    self.transfers.uploaded.fetch_add(1, Ordering::Relaxed);
                    self.transfers
                        .uploaded_bytes
                        .fetch_add(pending.total, Ordering::Relaxed);
                    return;
                }
                // Another client stored the key first; or the local entry was pruned meanwhile.
                Err(PutError::Status(409 | 412)) | Err(PutError::Gone) => return,
                Err(PutError::Status(400..=499)) if attempt == 0 => {
                    let request = vec![RequestItem {
                        hash: pending.key.clone(),
                        action: Action::Upload,
                        size: Some(pending.total),
                    }];
                    match self.negotiate(request).await {
                        Ok(mut items) => match items.pop() {
                            Some(again) if again.status == Status::UploadNeeded && again.url.is_some() => {
                                item = again;
                            }
                            // Skipped: someone stored it meanwhile.
                            _ => return,
                        },
                        Err(RemoteError::Forbidden) => {
                            self.can_write.store(false, Ordering::SeqCst);
                            return;
                        }
                        Err(err) => return self.fail("an upload", &err),
                    }
                }
                Err(PutError::Status(status)) => {
                    return self.fail("an upload", &format!("the upload URL answered {status}"));
                }
                Err(PutError::Transfer(err)) => return self.fail("an upload", &err),
            }
        }
    }

    /// PUT header + artifact to a negotiated URL.
    async fn put(
        &self,
        item: &ResponseItem,
        header: &[u8],
        artifact: &Path,
        total: u64,
    ) -> Result<(), PutError> {
        let file = tokio::fs::File::open(artifact)
            .await
            .map_err(|_| PutError::Gone)?;
        let head = futures::stream::once(futures::future::ready(Ok::<_, std::io::Error>(
            bytes::Bytes::copy_from_slice(header),
        )));
        let body = head.chain(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
        let url = item.url.as_deref().expect("upload items have a URL");
        let request = self
            .http()
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, total);
        let response = with_headers(request, &item.headers)
            .timeout(self.transfer_timeout(Some(total)))
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|err| PutError::Transfer(http_error(err)))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(PutError::Status(response.status().as_u16()))
        }
    }

    /// Wait for the uploads started in this run (or drop them, when interrupted).
    pub async fn finish(&self, interrupted: bool) {
        let mut uploads = self.uploads.lock().await;
        if interrupted {
            uploads.abort_all();
        }
        while uploads.join_next().await.is_some() {}
    }
}

/// A stored result waiting for upload: the object is `header` then the artifact.
struct PendingUpload {
    key: String,
    artifact: PathBuf,
    header: Vec<u8>,
    total: u64,
}

enum PutError {
    /// The local artifact is gone (pruned since it was stored).
    Gone,
    Status(u16),
    Transfer(RemoteError),
}

/// Add the headers a negotiated URL was signed with. The body's length is set by the caller,
/// once, whatever the server listed.
fn with_headers(
    mut request: reqwest::RequestBuilder,
    headers: &BTreeMap<String, String>,
) -> reqwest::RequestBuilder {
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, value);
        }
    }
    request
}

/// Why a download was not used.
enum Rejected {
    /// The object is bad (tampered, truncated, unsigned): skip it, keep using the remote.
    Invalid(String),
    /// The transfer failed: stop using the remote.
    Transfer(RemoteError),
    /// The object was removed after the negotiation found it: a miss.
    Vanished,
}

/// Where the artifact starts in an object's first bytes: after the magic line and the header
/// line, once both have arrived.
fn header_end(bytes: &[u8]) -> Option<usize> {
    let magic = crate::protocol::ENVELOPE_MAGIC.len();
    if bytes.len() < magic {
        return None;
    }
    let newline = bytes[magic..].iter().position(|&b| b == b'\n')?;
    Some(magic + newline + 1)
}

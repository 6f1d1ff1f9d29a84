//! The remote build cache client: one negotiation for the whole graph, downloads into the local
//! cache before tasks start, uploads after they succeed.
//!
//! The remote is an optimisation and never a reason for a build to fail: any error (refused,
//! unreachable, slow past the timeout, a bad token) is reported once, and the run carries on
//! with the local cache alone. Downloads are verified before anything is restored: the object's
//! header must name the key asked for, its blake3 and size must match the artifact, and with
//! `VELO_CACHE_SIGNING_KEY` set its HMAC-SHA256 must too.

use std::collections::{BTreeMap, HashMap, HashSet};
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
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token or the key.
        f.debug_struct("RemoteConfig")
            .field("url", &self.url.as_str())
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl RemoteConfig {
    /// `VELO_CACHE_URL` and `VELO_CACHE_TOKEN` over `cache.remote` in `velo.json` (whose values
    /// may name variables as `${NAME}`). `None` when no remote is configured.
    pub fn resolve(
        manifest: Option<&RemoteCache>,
        env: &BTreeMap<String, String>,
    ) -> Result<Option<Self>, Error> {
        let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
        let expand = |text: &str| crate::ops::env::expand(text, env);
        let Some(url) = var(env_vars::VELO_CACHE_URL).or_else(|| manifest.map(|m| expand(&m.url))) else {
            return Ok(None);
        };
        if url.is_empty() {
            return Ok(None);
        }
        let parsed = url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Error::usage(
                    format!("the remote cache URL `{url}` is not an http(s) URL"),
                    Some(format!(
                        "fix `cache.remote.url` in `velo.json` or `{}`",
                        env_vars::VELO_CACHE_URL
                    )),
                )
            })?;
        let token = var(env_vars::VELO_CACHE_TOKEN)
            .or_else(|| manifest.and_then(|m| m.token.as_deref()).map(expand))
            .filter(|t| !t.is_empty());
        Ok(Some(Self {
            url: parsed,
            token,
            read_only: manifest.is_some_and(|m| m.read_only),
            timeout: manifest
                .and_then(|m| m.timeout_secs)
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            signing_key: var(env_vars::VELO_CACHE_SIGNING_KEY).map(String::into_bytes),
        }))
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.url.as_str().trim_end_matches('/'))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Http(String),
    #[error("the server refused the token (401)")]
    Unauthorized,
    #[error("the token may not upload (403)")]
    Forbidden,
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
    http: reqwest::Client,
    report: Reporter,
    /// After the first failure nothing more is tried.
    disabled: AtomicBool,
    can_write: AtomicBool,
    /// Upload URLs from the negotiation, by key.
    upload_urls: Mutex<HashMap<String, ResponseItem>>,
    /// Keys whose results came from the remote in this run.
    fetched: Mutex<HashSet<String>>,
    /// Keys already negotiated in this run.
    negotiated: Mutex<HashSet<String>>,
    uploads: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    upload_slots: Arc<tokio::sync::Semaphore>,
    pub transfers: Transfers,
}

impl Remote {
    pub fn new(config: RemoteConfig, report: Reporter) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .read_timeout(config.timeout)
            .user_agent(concat!("velo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Error::Internal(format!("cannot build the HTTP client: {err}")))?;
        Ok(Self {
            can_write: AtomicBool::new(!config.read_only),
            config,
            http,
            report,
            disabled: AtomicBool::new(false),
            upload_urls: Mutex::default(),
            fetched: Mutex::default(),
            negotiated: Mutex::default(),
            uploads: tokio::sync::Mutex::default(),
            upload_slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS)),
            transfers: Transfers::default(),
        })
    }

    pub fn url(&self) -> &url::Url {
        &self.config.url
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
                self.config.url
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
        let response = self
            .authorized(self.http.post(self.config.endpoint("v1/negotiate")))
            .timeout(self.config.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&NegotiateRequest { items }).expect("a negotiation serializes"))
            .send()
            .await
            .map_err(http_error)?;
        match response.status().as_u16() {
            200 => {}
            401 => return Err(RemoteError::Unauthorized),
            403 => return Err(RemoteError::Forbidden),
            status => {
                let body = response.text().await.unwrap_or_default();
                return Err(RemoteError::Status {
                    status,
                    body: body.chars().take(200).collect(),
                });
            }
        }
        let body: NegotiateResponse = read_json(response).await?;
        Ok(body.items)
    }

    /// `GET /v1/status`: is the server there, and what may the token do.
    pub async fn status(&self) -> Result<StatusResponse, RemoteError> {
        let response = self
            .authorized(self.http.get(self.config.endpoint("v1/status")))
            .timeout(self.config.timeout)
            .send()
            .await
            .map_err(http_error)?;
        match response.status().as_u16() {
            200 => read_json(response).await,
            401 => Err(RemoteError::Unauthorized),
            status => Err(RemoteError::Status {
                status,
                body: response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect(),
            }),
        }
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
        let items = |upload: bool| {
            keys.iter()
                .flat_map(|key| {
                    let download = RequestItem {
                        hash: key.clone(),
                        action: Action::Download,
                        size: None,
                    };
                    let upload = upload.then(|| RequestItem {
                        hash: key.clone(),
                        action: Action::Upload,
                        size: None,
                    });
                    std::iter::once(download).chain(upload)
                })
                .collect::<Vec<_>>()
        };
        let writable = self.can_write.load(Ordering::SeqCst);
        let answer = match self.negotiate(items(writable)).await {
            Err(RemoteError::Forbidden) if writable => {
                // A read-only token: download only, and upload nothing this run.
                self.can_write.store(false, Ordering::SeqCst);
                self.negotiate(items(false)).await
            }
            answer => answer,
        };
        let answer = match answer {
            Ok(items) => items,
            Err(err) => return self.fail("negotiation", &err),
        };
        let mut found = Vec::new();
        {
            let mut urls = self.upload_urls.lock().expect("not poisoned");
            for item in answer {
                match item.status {
                    Status::Found if item.url.is_some() => found.push(item),
                    Status::UploadNeeded if item.url.is_some() => {
                        urls.insert(item.hash.clone(), item);
                    }
                    _ => {}
                }
            }
        }
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
                    &key[..key.len().min(16)]
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
        let mut request = self.http.get(url);
        for (name, value) in &item.headers {
            request = request.header(name, value);
        }
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

    /// Upload a stored result in the background (when the token may write).
    pub async fn upload(self: &Arc<Self>, key: String, artifact: PathBuf, written: Written) {
        if self.is_disabled() || !self.can_write.load(Ordering::SeqCst) {
            return;
        }
        let remote = self.clone();
        self.uploads.lock().await.spawn(async move {
            let Ok(_slot) = remote.upload_slots.clone().acquire_owned().await else {
                return;
            };
            remote.upload_now(&key, &artifact, &written).await;
        });
    }

    async fn upload_now(&self, key: &str, artifact: &std::path::Path, written: &Written) {
        let envelope = Envelope::new(
            key,
            &written.blake3,
            written.size,
            self.config.signing_key.as_deref(),
        );
        let header = envelope.header_bytes();
        let total = header.len() as u64 + written.size;
        let negotiated = self.upload_urls.lock().expect("not poisoned").remove(key);
        for attempt in 0..2 {
            if self.is_disabled() {
                return;
            }
            let item = match (attempt, &negotiated) {
                (0, Some(item)) => item.clone(),
                _ => {
                    let request = vec![RequestItem {
                        hash: key.to_string(),
                        action: Action::Upload,
                        size: Some(total),
                    }];
                    match self.negotiate(request).await {
                        Ok(mut items) => match items.pop() {
                            Some(item) if item.status == Status::UploadNeeded && item.url.is_some() => item,
                            // Skipped: someone stored it first.
                            _ => return,
                        },
                        Err(RemoteError::Forbidden) => {
                            self.can_write.store(false, Ordering::SeqCst);
                            return;
                        }
                        Err(err) => return self.fail("an upload", &err),
                    }
                }
            };
            match self.put(&item, &header, artifact, total).await {
                Ok(()) => {
                    self.transfers.uploaded.fetch_add(1, Ordering::Relaxed);
                    self.transfers.uploaded_bytes.fetch_add(total, Ordering::Relaxed);
                    return;
                }
                // The key was written first by another client.
                Err(Some(409 | 412)) => return,
                // The URL from the run's first negotiation expired while the task ran (S3 says
                // 403, Garage 400), or the store refused a second write that way: ask again.
                Err(Some(400..=499)) if attempt == 0 => continue,
                Err(Some(status)) => {
                    return self.fail("an upload", &format!("the upload URL answered {status}"));
                }
                Err(None) => return self.fail("an upload", &"the connection failed"),
            }
        }
    }

    /// PUT header + artifact to a negotiated URL. `Err(Some(status))` for an HTTP error.
    async fn put(
        &self,
        item: &ResponseItem,
        header: &[u8],
        artifact: &std::path::Path,
        total: u64,
    ) -> Result<(), Option<u16>> {
        let file = tokio::fs::File::open(artifact).await.map_err(|_| None)?;
        let head = futures::stream::once(futures::future::ready(Ok::<_, std::io::Error>(
            bytes::Bytes::copy_from_slice(header),
        )));
        let body = head.chain(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
        let mut request = self
            .http
            .put(item.url.as_deref().expect("upload items have a URL"))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, total);
        for (name, value) in &item.headers {
            request = request.header(name, value);
        }
        let response = request
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|_| None)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Some(response.status().as_u16()))
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

async fn read_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, RemoteError> {
    let bytes = response.bytes().await.map_err(http_error)?;
    serde_json::from_slice(&bytes).map_err(|err| RemoteError::Protocol(err.to_string()))
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

//! Downloads into the store: streamed to disk while hashing, size and sha256 verified before
//! the file is renamed into `downloads-v1/`, retried with backoff, resumed with `Range`.
//! A URL under a registry's base (Homebrew's bottles on ghcr) carries that registry's token,
//! and its redirects are followed here, hop by hop, so the token never reaches another host.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_RANGE, LOCATION, RANGE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use super::{io_error, Store, StoreError, DOWNLOADS_BUCKET};
use crate::http::{self, HttpClient, Scoped, MAX_RETRY_AFTER};

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("checksum mismatch for `{url}`:\n  expected sha256 {expected}\n  actual   sha256 {actual}")]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("`{url}` is {actual} bytes, but the lock says {expected}")]
    SizeMismatch { url: String, expected: u64, actual: u64 },
    #[error("`{url}` is larger than the {expected} bytes the lock says")]
    TooLarge { url: String, expected: u64 },
    #[error("`{url}` was not found (404)")]
    NotFound { url: String },
    #[error("`{url}` answered {status} ({attempts} attempts)")]
    Status {
        url: String,
        status: StatusCode,
        attempts: u32,
    },
    #[error("failed to download `{url}` ({attempts} attempts)")]
    Request {
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error("`{url}` stopped sending: nothing arrived for {} s ({attempts} attempts)", timeout.as_secs_f64())]
    Stalled {
        url: String,
        attempts: u32,
        timeout: std::time::Duration,
        #[source]
        source: reqwest::Error,
    },
    #[error("`{url}` redirected {reason}")]
    Redirect { url: String, reason: &'static str },
    #[error("`{url}` is not in the cache and `--offline` forbids downloading it")]
    Offline { url: String },
    #[error("`{url}` is not a URL or a path velo can download from")]
    BadUrl { url: String },
    #[error("`{url}` is not a regular file (`{}` is a link, directory, FIFO or device)", path.display())]
    NotAFile { url: String, path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Progress of one download, for whoever shows it.
#[derive(Debug, Clone)]
pub enum DownloadEvent {
    /// Another velo process holds a lock this one needs.
    Waiting {
        what: String,
    },
    /// A download began; `label` names it for people (`jq 1.7.1`).
    Started {
        id: usize,
        label: String,
        total: u64,
    },
    Progress {
        id: usize,
        bytes: u64,
    },
    /// The file was already in the store.
    Cached {
        id: usize,
    },
    Finished {
        id: usize,
    },
}

pub type Reporter = Arc<dyn Fn(DownloadEvent) + Send + Sync>;

/// What to fetch.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    /// Identifies the download in [`DownloadEvent`]s.
    pub id: usize,
    /// What the download is, for people.
    pub label: String,
    /// An `http(s)://` or `file://` URL, or a path relative to `base_dir`.
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Clone)]
pub struct Downloader {
    store: Store,
    http: HttpClient,
    /// Relative artifact paths (a local index) resolve against this directory.
    base_dir: PathBuf,
    offline: bool,
    reporter: Reporter,
    /// The registry whose URLs get a token (Homebrew's bottle base), if any.
    scoped: Option<Scoped>,
}

/// How many redirects one download follows, as browsers and reqwest do.
const MAX_REDIRECTS: usize = 10;

enum Attempt {
    Done,
    /// Retry after this long; the partial file is kept for a `Range` request.
    Retry(std::time::Duration, DownloadError),
}

impl Downloader {
    pub fn new(store: Store, http: HttpClient, base_dir: PathBuf, offline: bool, reporter: Reporter) -> Self {
        Self {
            store,
            http,
            base_dir,
            offline,
            reporter,
            scoped: None,
        }
    }

    /// Send `scoped`'s token with every request under its base, and with no other.
    pub fn with_scoped_auth(mut self, scoped: Scoped) -> Self {
        self.scoped = Some(scoped);
        self
    }

    /// The verified file for `request`, downloading it if the store does not have it.
    pub async fn fetch(&self, request: &DownloadRequest) -> Result<PathBuf, DownloadError> {
        let target = self.store.download_path(&request.sha256);
        if tokio::fs::metadata(&target)
            .await
            .is_ok_and(|m| m.len() == request.size)
        {
            super::touch(&target);
            (self.reporter)(DownloadEvent::Cached { id: request.id });
            return Ok(target);
        }
        if self.offline {
            return Err(DownloadError::Offline {
                url: request.url.clone(),
            });
        }
        // One process downloads a given file at a time; the others wait and then find it.
        let store = self.store.clone();
        let key = request.sha256.clone();
        let _lock = tokio::task::spawn_blocking(move || store.lock("download", &key))
            .await
            .map_err(|err| StoreError::Io {
                path: target.clone(),
                source: std::io::Error::other(err),
            })??;
        if tokio::fs::metadata(&target)
            .await
            .is_ok_and(|m| m.len() == request.size)
        {
            (self.reporter)(DownloadEvent::Cached { id: request.id });
            return Ok(target);
        }
        let bucket = self.store.bucket(DOWNLOADS_BUCKET)?;
        let parts = bucket.join(".part");
        fs_err::create_dir_all(&parts).map_err(io_error(&parts))?;
        let part = parts.join(&request.sha256);

        (self.reporter)(DownloadEvent::Started {
            id: request.id,
            label: request.label.clone(),
            total: request.size,
        });
        match self.source(&request.url)? {
            Source::Local(path) => self.copy_local(request, &path, &part).await?,
            Source::Remote(url) => self.download_remote(request, &url, &part).await?,
        }
        fs_err::rename(&part, &target).map_err(io_error(&target))?;
        (self.reporter)(DownloadEvent::Finished { id: request.id });
        Ok(target)
    }

    fn source(&self, url: &str) -> Result<Source, DownloadError> {
        match Url::parse(url) {
            Ok(parsed) if parsed.scheme() == "file" => parsed
                .to_file_path()
                .map(Source::Local)
                .map_err(|()| DownloadError::BadUrl { url: url.to_string() }),
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(Source::Remote(parsed)),
            Ok(parsed) if parsed.scheme().len() > 1 => Err(DownloadError::BadUrl { url: url.to_string() }),
            _ => Ok(Source::Local(self.base_dir.join(url))),
        }
    }

    async fn copy_local(
        &self,
        request: &DownloadRequest,
        path: &Path,
        part: &Path,
    ) -> Result<(), DownloadError> {
        // A lock can name any local path: only a regular file is read (a FIFO or a device would
        // block or never end), opened without following a link and checked on the open file.
        let opened = {
            let owned = path.to_path_buf();
            tokio::task::spawn_blocking(move || {
                crate::fs::owned::open_regular(&owned, std::fs::OpenOptions::new().read(true))
            })
            .await
            .map_err(|err| StoreError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(err),
            })?
        };
        let mut input = tokio::fs::File::from_std(opened.map_err(|err| {
            match err.kind() {
                std::io::ErrorKind::NotFound => DownloadError::NotFound {
                    url: request.url.clone(),
                },
                std::io::ErrorKind::InvalidInput => DownloadError::NotAFile {
                    url: request.url.clone(),
                    path: path.to_path_buf(),
                },
                _ => StoreError::Io {
                    path: path.to_path_buf(),
                    source: err,
                }
                .into(),
            }
        })?);
        let actual = input.metadata().await.map_err(io_error(path))?.len();
        if actual != request.size {
            return Err(DownloadError::SizeMismatch {
                url: request.url.clone(),
                expected: request.size,
                actual,
            });
        }
        // Written in place: not through a link or into a FIFO someone left at its name.
        if std::fs::symlink_metadata(part).is_ok_and(|m| !m.is_file()) {
            crate::fs::remove_any(part).map_err(io_error(part))?;
        }
        let output = crate::fs::owned::open_regular(
            part,
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true),
        )
        .map_err(io_error(part))?;
        let mut output = tokio::fs::File::from_std(output);
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut written = 0u64;
        loop {
            let n = input.read(&mut buffer).await.map_err(io_error(path))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > request.size {
                break;
            }
            hasher.update(&buffer[..n]);
            output.write_all(&buffer[..n]).await.map_err(io_error(part))?;
            (self.reporter)(DownloadEvent::Progress {
                id: request.id,
                bytes: n as u64,
            });
        }
        output.sync_all().await.map_err(io_error(part))?;
        drop(output);
        self.verify(request, part, written, hasher).await
    }

    async fn download_remote(
        &self,
        request: &DownloadRequest,
        url: &Url,
        part: &Path,
    ) -> Result<(), DownloadError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(request, url, part, attempt).await? {
                Attempt::Done => return Ok(()),
                Attempt::Retry(delay, error) => {
                    if attempt > self.http.retries() {
                        return Err(error);
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// A failed request; a timeout is a stall, since only stalls time out (no byte for the
    /// HTTP timeout), never a download that keeps making progress.
    fn request_error(&self, url: &Url, attempts: u32, source: reqwest::Error) -> DownloadError {
        if source.is_timeout() {
            DownloadError::Stalled {
                url: url.to_string(),
                attempts,
                timeout: self.http.timeout(),
                source,
            }
        } else {
            DownloadError::Request {
                url: url.to_string(),
                attempts,
                source,
            }
        }
    }

    /// One request, resuming from what `part` already holds.
    async fn attempt(
        &self,
        request: &DownloadRequest,
        url: &Url,
        part: &Path,
        attempt: u32,
    ) -> Result<Attempt, DownloadError> {
        let mut offset = tokio::fs::metadata(part).await.map(|m| m.len()).unwrap_or(0);
        if offset >= request.size {
            offset = 0;
        }
        let response = match self.get(url, offset).await {
            Ok(response) => response,
            Err(Hop::Redirect(reason)) => {
                return Err(DownloadError::Redirect {
                    url: url.to_string(),
                    reason,
                })
            }
            Err(Hop::Request(source)) if http::is_transient(&source) => {
                let error = self.request_error(url, attempt, source);
                return Ok(Attempt::Retry(self.http.backoff(attempt), error));
            }
            Err(Hop::Request(source)) => {
                return Err(DownloadError::Request {
                    url: url.to_string(),
                    attempts: attempt,
                    source,
                })
            }
        };
        let status = response.status();
        let status_error = || DownloadError::Status {
            url: url.to_string(),
            status,
            attempts: attempt,
        };
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Err(DownloadError::NotFound { url: url.to_string() });
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let wait = http::retry_after(response.headers());
            if wait.is_some_and(|wait| wait > MAX_RETRY_AFTER) {
                return Err(status_error());
            }
            return Ok(Attempt::Retry(
                wait.unwrap_or_else(|| self.http.backoff(attempt)),
                status_error(),
            ));
        }
        // The server says how big the whole file is: a different size than the lock's is a
        // wrong file, not a flaky connection, so it fails at once instead of being retried.
        let total = match status {
            StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE => {
                content_range_total(response.headers())
            }
            _ if status.is_success() => response.content_length(),
            _ => None,
        };
        if let Some(total) = total.filter(|total| *total != request.size) {
            let _ = tokio::fs::remove_file(part).await;
            return Err(DownloadError::SizeMismatch {
                url: url.to_string(),
                expected: request.size,
                actual: total,
            });
        }
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            let _ = tokio::fs::remove_file(part).await;
            return Ok(Attempt::Retry(self.http.backoff(attempt), status_error()));
        }
        if !status.is_success() {
            return Err(status_error());
        }
        // A 206 continues the partial file; anything else starts it over.
        let resumed = offset > 0
            && status == StatusCode::PARTIAL_CONTENT
            && response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|range| range.starts_with(&format!("bytes {offset}-")));
        let mut hasher = Sha256::new();
        let mut file = if resumed {
            hash_file(part, &mut hasher).await.map_err(io_error(part))?;
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(part)
                .await
                .map_err(io_error(part))?
        } else {
            offset = 0;
            tokio::fs::File::create(part).await.map_err(io_error(part))?
        };
        if offset > 0 {
            (self.reporter)(DownloadEvent::Progress {
                id: request.id,
                bytes: offset,
            });
        }
        let mut written = offset;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(source) => {
                    // Keep what arrived; the next attempt asks for the rest.
                    file.flush().await.map_err(io_error(part))?;
                    let error = self.request_error(url, attempt, source);
                    return Ok(Attempt::Retry(self.http.backoff(attempt), error));
                }
            };
            written += chunk.len() as u64;
            if written > request.size {
                drop(file);
                let _ = tokio::fs::remove_file(part).await;
                return Err(DownloadError::TooLarge {
                    url: url.to_string(),
                    expected: request.size,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_error(part))?;
            (self.reporter)(DownloadEvent::Progress {
                id: request.id,
                bytes: chunk.len() as u64,
            });
        }
        file.sync_all().await.map_err(io_error(part))?;
        drop(file);
        if written < request.size {
            let error = DownloadError::SizeMismatch {
                url: url.to_string(),
                expected: request.size,
                actual: written,
            };
            return Ok(Attempt::Retry(self.http.backoff(attempt), error));
        }
        self.verify(request, part, written, hasher)
            .await
            .map(|()| Attempt::Done)
    }

    /// GET `url` from byte `offset`. Without a token in play the client follows redirects;
    /// with one, each hop is sent by hand and gets the token only if it is under the base
    /// (reqwest drops `Authorization` when a hop changes host, but puts it back on a second
    /// hop within the new host, since it compares each hop only with the one before).
    async fn get(&self, url: &Url, offset: u64) -> Result<reqwest::Response, Hop> {
        let range = (offset > 0).then(|| format!("bytes={offset}-"));
        let Some(scoped) = self.scoped.as_ref().filter(|scoped| scoped.covers(url)) else {
            let mut get = self.http.client().get(url.clone());
            if let Some(range) = &range {
                get = get.header(RANGE, range);
            }
            return get.send().await.map_err(Hop::Request);
        };
        let client = self.http.streaming_client_without_redirects();
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut get = client.get(current.clone());
            if let Some(range) = &range {
                get = get.header(RANGE, range);
            }
            if let Some(value) = scoped.authorization_for(&current) {
                get = get.header(AUTHORIZATION, value.clone());
            }
            let response = get.send().await.map_err(Hop::Request)?;
            let redirect = matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308);
            let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok());
            let (true, Some(location)) = (redirect, location) else {
                return Ok(response);
            };
            let next = current
                .join(location)
                .map_err(|_| Hop::Redirect("to a `Location` that is not a URL"))?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(Hop::Redirect("to a URL that is not http(s)"));
            }
            current = next;
        }
        Err(Hop::Redirect("more than 10 times"))
    }

    /// Check size and digest; a file that fails is deleted so nothing uses it.
    async fn verify(
        &self,
        request: &DownloadRequest,
        part: &Path,
        written: u64,
        hasher: Sha256,
    ) -> Result<(), DownloadError> {
        let fail = |error: DownloadError| async {
            let _ = tokio::fs::remove_file(part).await;
            Err(error)
        };
        if written != request.size {
            return fail(DownloadError::SizeMismatch {
                url: request.url.clone(),
                expected: request.size,
                actual: written,
            })
            .await;
        }
        let actual = hex::encode(hasher.finalize());
        if actual != request.sha256 {
            return fail(DownloadError::ChecksumMismatch {
                url: request.url.clone(),
                expected: request.sha256.clone(),
                actual,
            })
            .await;
        }
        Ok(())
    }
}

/// Why a GET (with its redirects) produced no response.
enum Hop {
    Request(reqwest::Error),
    Redirect(&'static str),
}

enum Source {
    Local(PathBuf),
    Remote(Url),
}

/// The full length from `Content-Range: bytes 0-99/1234` or `bytes */1234`.
fn content_range_total(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_RANGE)?
        .to_str()
        .ok()?
        .rsplit_once('/')?
        .1
        .trim()
        .parse()
        .ok()
}

async fn hash_file(path: &Path, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..n]);
    }
}

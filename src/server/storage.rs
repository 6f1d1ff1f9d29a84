//! Where `velo serve` keeps objects: a local directory, or an S3-compatible bucket.
//!
//! Objects are named `v1/<key>` (velo's tasks) and `turbo/<team>/<hash>` (the Turborepo API);
//! keys are validated hex before they get here, and team names are restricted to a safe
//! alphabet, so a name never leaves its directory or prefix.
//!
//! First write wins on both drivers. On disk an upload is written to a temporary file, synced,
//! then hard-linked to its name, which fails if the name exists (`link(2)` never replaces); the
//! temporary name is removed either way. In S3 every PUT carries `If-None-Match: *`, signed into
//! the URL so a client cannot drop it; the server checks at startup that the store honours it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use rusty_s3::S3Action;
use tokio::io::AsyncWriteExt;

use crate::protocol::FirstWriteWins;

/// The top-level prefixes objects are stored under.
pub const OBJECT_PREFIXES: [&str; 2] = ["v1", "turbo"];

/// The largest number of objects the server checks in S3 at once for one negotiation.
pub const HEAD_CONCURRENCY: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O on `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the object is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload was cut short: {0}")]
    Body(String),
    #[error("the upload has no Content-Length")]
    LengthRequired,
    #[error("object storage: {0}")]
    Upstream(String),
}

/// A URL a client uses as it is, with the headers signed into it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created(u64),
    /// The name was taken; the existing object is unchanged.
    Existed,
}

pub enum Storage {
    Local(Local),
    S3(Box<S3>),
}

impl Storage {
    pub fn kind(&self) -> &'static str {
        match self {
            Storage::Local(_) => "local",
            Storage::S3(_) => "s3",
        }
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn head(&self, object: &str) -> Result<Option<u64>, StorageError> {
        match self {
            Storage::Local(local) => local.head(object).await,
            Storage::S3(s3) => s3.head(object).await,
        }
    }

    /// The sizes of many objects (`None` where one does not exist), in the order given: on disk
    /// in one trip to a blocking thread, in S3 with up to [`HEAD_CONCURRENCY`] requests at once.
    pub async fn head_many(&self, objects: Vec<String>) -> Result<Vec<(String, Option<u64>)>, StorageError> {
        match self {
            Storage::Local(local) => {
                let paths: Vec<PathBuf> = objects.iter().map(|object| local.path(object)).collect();
                let sizes = tokio::task::spawn_blocking(move || {
                    paths
                        .into_iter()
                        .map(|path| match std::fs::metadata(&path) {
                            Ok(metadata) => Ok(Some(metadata.len())),
                            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                            Err(source) => Err(StorageError::Io { path, source }),
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .await
                .map_err(|err| StorageError::Upstream(err.to_string()))??;
                Ok(objects.into_iter().zip(sizes).collect())
            }
            Storage::S3(s3) => futures::stream::iter(objects)
                .map(|object| async move {
                    let size = s3.head(&object).await?;
                    Ok((object, size))
                })
                .buffered(HEAD_CONCURRENCY)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect(),
        }
    }

    /// Write `body` under `object` unless it exists. `length` is the declared size, if any.
    pub async fn put<S, E>(
        &self,
        object: &str,
        body: S,
        length: Option<u64>,
        limit: u64,
    ) -> Result<Put, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::fmt::Display + Send + Sync + 'static,
    {
        if length.is_some_and(|n| n > limit) {
            return Err(StorageError::TooLarge { limit });
        }
        match self {
            Storage::Local(local) => local.put(object, body, limit).await,
            // The length, checked above, is signed into the request: S3 holds the body to it.
            Storage::S3(s3) => s3.put(object, body, length).await,
        }
    }
}

pub struct Local {
    root: PathBuf,
}

impl Local {
    pub fn new(root: PathBuf) -> Result<Self, StorageError> {
        let tmp = root.join(".tmp");
        std::fs::create_dir_all(&tmp).map_err(|source| StorageError::Io { path: tmp, source })?;
        Ok(Self { root })
    }

    /// `v1/<key>` is stored as `v1/<first two digits>/<key>`, so no directory grows too large.
    pub fn path(&self, object: &str) -> PathBuf {
        let (prefix, name) = object.rsplit_once('/').unwrap_or(("", object));
        let fan = &name[..name.len().min(2)];
        self.root.join(prefix).join(fan).join(name)
    }

    async fn head(&self, object: &str) -> Result<Option<u64>, StorageError> {
        let path = self.path(object);
        match tokio::fs::metadata(&path).await {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StorageError::Io { path, source }),
        }
    }

    /// Open an object for reading, marking it as used now (retention evicts the objects used
    /// longest ago).
    pub async fn open(&self, object: &str) -> Result<Option<(tokio::fs::File, u64)>, StorageError> {
        let path = self.path(object);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StorageError::Io { path, source }),
        };
        let io = |source| StorageError::Io {
            path: path.clone(),
            source,
        };
        let length = file.metadata().map_err(io)?.len();
        // Marks it used, for retention (best effort).
        let _ = file.set_modified(SystemTime::now());
        Ok(Some((tokio::fs::File::from_std(file), length)))
    }

    async fn put<S, E>(&self, object: &str, mut body: S, limit: u64) -> Result<Put, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.path(object);
        if path.exists() {
            return Ok(Put::Existed);
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StorageError::Io { path, source }
        };
        let temps = self.root.join(".tmp");
        // Made at startup, but the directory may have been cleaned since.
        tokio::fs::create_dir_all(&temps).await.map_err(io(&temps))?;
        // Removed when this is dropped: after the link, on an error, or when the request is
        // abandoned half way (the client went away).
        let temp = temps.join(format!("{:016x}", fastrand::u64(..)));
        let temp = tempfile::TempPath::try_from_path(&temp).map_err(io(&temp))?;
        async {
            let mut file = tokio::fs::File::create_new(&temp).await.map_err(io(&temp))?;
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|err| StorageError::Body(err.to_string()))?;
                written += chunk.len() as u64;
                if written > limit {
                    return Err(StorageError::TooLarge { limit });
                }
                file.write_all(&chunk).await.map_err(io(&temp))?;
            }
            file.sync_all().await.map_err(io(&temp))?;
            drop(file);
            let parent = path.parent().expect("objects live in a directory");
            tokio::fs::create_dir_all(parent).await.map_err(io(parent))?;
            match tokio::fs::hard_link(&temp, &path).await {
                Ok(()) => Ok(Put::Created(written)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(Put::Existed),
                Err(source) => Err(StorageError::Io {
                    path: path.clone(),
                    source,
                }),
            }
        }
        .await
    }

    /// Remove objects not used for `max_age`, then the least recently used ones until the rest
    /// fit in `max_size`, and uploads abandoned more than an hour ago. Only velo's own
    /// directories (`v1/`, `turbo/`, `.tmp/`) are looked at: anything else under the root is
    /// left alone. Returns (objects, bytes) removed.
    pub fn prune(&self, max_age: Option<Duration>, max_size: Option<u64>) -> (usize, u64) {
        let now = SystemTime::now();
        let mut objects = Vec::new();
        let mut stack: Vec<PathBuf> = OBJECT_PREFIXES
            .iter()
            .chain([&".tmp"])
            .map(|prefix| self.root.join(prefix))
            .collect();
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(metadata) = entry.metadata() else { continue };
                let path = entry.path();
                let used = metadata.modified().unwrap_or(now);
                if metadata.is_dir() {
                    stack.push(path);
                } else if dir == self.root.join(".tmp") {
                    if now.duration_since(used).unwrap_or_default() > Duration::from_secs(3600) {
                        let _ = std::fs::remove_file(&path);
                    }
                } else {
                    objects.push((path, used, metadata.len()));
                }
            }
        }
        crate::fs::evict_least_recently_used(objects, max_age, max_size)
    }
}

/// An S3-compatible bucket. The server signs; clients move the bytes.
pub struct S3 {
    bucket: rusty_s3::Bucket,
    credentials: rusty_s3::Credentials,
    http: reqwest::Client,
    expiry: Duration,
}

/// Sent, and signed, on every request: Garage wants it on each one, and no store objects.
const CONTENT_SHA256: (&str, &str) = ("x-amz-content-sha256", "UNSIGNED-PAYLOAD");

pub struct S3Config {
    pub endpoint: url::Url,
    pub bucket: String,
    pub region: String,
    pub virtual_host: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub expiry: Duration,
}

impl S3 {
    pub fn new(config: S3Config) -> Result<Self, String> {
        let style = if config.virtual_host {
            rusty_s3::UrlStyle::VirtualHost
        } else {
            rusty_s3::UrlStyle::Path
        };
        let bucket = rusty_s3::Bucket::new(config.endpoint, style, config.bucket, config.region)
            .map_err(|err| err.to_string())?;
        let credentials = match config.session_token {
            Some(token) => {
                rusty_s3::Credentials::new_with_token(config.access_key_id, config.secret_access_key, token)
            }
            None => rusty_s3::Credentials::new(config.access_key_id, config.secret_access_key),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| err.to_string())?;
        Ok(Self {
            bucket,
            credentials,
            http,
            expiry: config.expiry,
        })
    }

    fn signed<'a>(mut action: impl S3Action<'a>, expiry: Duration, headers: &[(&'a str, &'a str)]) -> Signed {
        for (name, value) in headers {
            action.headers_mut().insert(*name, *value);
        }
        Signed {
            url: action.sign(expiry).to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        }
    }

    /// A GET URL for a client. `bare` leaves out the extra signed header, for clients (such as
    /// `turbo` following a redirect) that send nothing but the URL.
    pub fn presign_get(&self, object: &str, bare: bool) -> Signed {
        let headers: &[_] = if bare { &[] } else { &[CONTENT_SHA256] };
        let action = self.bucket.get_object(Some(&self.credentials), object);
        Self::signed(action, self.expiry, headers)
    }

    /// A PUT URL that only creates: `If-None-Match: *` is part of its signature, and so is the
    /// body's length when it is known, so the bucket refuses a body of any other size.
    pub fn presign_put(&self, object: &str, length: Option<u64>) -> Signed {
        let action = self.bucket.put_object(Some(&self.credentials), object);
        let length = length.map(|n| n.to_string());
        let mut headers = vec![CONTENT_SHA256, ("if-none-match", "*")];
        if let Some(length) = &length {
            headers.push(("content-length", length.as_str()));
        }
        Self::signed(action, self.expiry, &headers)
    }

    fn request(&self, method: reqwest::Method, signed: &Signed) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, &signed.url);
        for (name, value) in &signed.headers {
            request = request.header(name, value);
        }
        request
    }

    async fn head(&self, object: &str) -> Result<Option<u64>, StorageError> {
        let action = self.bucket.head_object(Some(&self.credentials), object);
        let signed = Self::signed(action, Duration::from_secs(60), &[CONTENT_SHA256]);
        let response = self
            .request(reqwest::Method::HEAD, &signed)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|err| StorageError::Upstream(crate::error::chain(&err.without_url())))?;
        match response.status().as_u16() {
            200..=299 => Ok(Some(crate::http::content_length(response.headers()).unwrap_or(0))),
            404 => Ok(None),
            status => Err(StorageError::Upstream(format!("HEAD {object} returned {status}"))),
        }
    }

    async fn put<S, E>(&self, object: &str, body: S, length: Option<u64>) -> Result<Put, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::fmt::Display + Send + Sync + 'static,
    {
        if self.head(object).await?.is_some() {
            return Ok(Put::Existed);
        }
        // S3 needs the length up front, and it is signed into the request, so the bucket
        // refuses a body that turns out longer or shorter. A body without one is refused rather
        // than held in memory.
        let Some(length) = length else {
            return Err(StorageError::LengthRequired);
        };
        let body = body.map(|chunk| chunk.map_err(|err| std::io::Error::other(err.to_string())));
        let signed = self.presign_put(object, Some(length));
        let response = self
            .request(reqwest::Method::PUT, &signed)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|err| StorageError::Upstream(crate::error::chain(&err.without_url())))?;
        match response.status().as_u16() {
            200..=299 => Ok(Put::Created(length)),
            // Precondition failed, or a concurrent conditional write in progress.
            409 | 412 => Ok(Put::Existed),
            status => {
                // Some stores answer a failed precondition with another code: if the object is
                // there now, the upload lost a race, which is not an error.
                if self.head(object).await?.is_some() {
                    return Ok(Put::Existed);
                }
                Err(StorageError::Upstream(format!("PUT {object} returned {status}")))
            }
        }
    }

    async fn delete(&self, object: &str) {
        let action = self.bucket.delete_object(Some(&self.credentials), object);
        let signed = Self::signed(action, Duration::from_secs(60), &[CONTENT_SHA256]);
        let _ = self.request(reqwest::Method::DELETE, &signed).send().await;
    }

    /// Check that the bucket can be written and whether it refuses a second conditional PUT of
    /// one key (Garage 2.5, for one, overwrites).
    pub async fn probe(&self) -> Result<FirstWriteWins, String> {
        let object = format!("velo-probe/{:016x}", fastrand::u64(..));
        let mut statuses = Vec::new();
        for body in ["first", "second"] {
            let signed = self.presign_put(&object, Some(body.len() as u64));
            let response = self
                .request(reqwest::Method::PUT, &signed)
                .body(body)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map_err(|err| {
                    format!(
                        "cannot reach the bucket: {}",
                        crate::error::chain(&err.without_url())
                    )
                })?;
            let status = response.status();
            if statuses.is_empty() && !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                return Err(format!(
                    "a test write to the bucket returned {status}: {}",
                    text.chars().take(300).collect::<String>()
                ));
            }
            statuses.push(status);
        }
        let action = self.bucket.get_object(Some(&self.credentials), &object);
        let signed = Self::signed(action, Duration::from_secs(60), &[CONTENT_SHA256]);
        let kept = match self.request(reqwest::Method::GET, &signed).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        self.delete(&object).await;
        if !statuses[1].is_success() && kept == "first" {
            Ok(FirstWriteWins::Atomic)
        } else {
            Ok(FirstWriteWins::Checked)
        }
    }
}

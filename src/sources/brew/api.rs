//! The formulae JSON API: fetching, verifying (JWS, PS512), caching with ETag revalidation, and
//! looking a formula up by name, alias or old name without parsing the whole catalogue.
//!
//! ```text
//! <cache>/homebrew-v1/<digest of api_url>/formula.cache        header, index, verified payload
//! <cache>/homebrew-v1/<digest of api_url>/formula.fresh.json   until when it needs no revalidation
//! ```
//!
//! The whole signed `formula.jws.json` is fetched rather than one unsigned `formula/NAME.json`
//! per formula: it is the only form Homebrew signs, it resolves aliases and old names, it feeds
//! "did you mean", and after one download a lock costs no request at all while it is fresh, and
//! one conditional request (a 304) after. See `catalogue` for the index that keeps lookups cheap.

pub mod catalogue;
pub mod jws;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use url::Url;

use self::catalogue::{Catalogue, Header};
use self::jws::{JwsError, TrustedKey};
use crate::cache::{url_digest, Cache};
use crate::http::{Fetched, HttpClient, HttpError, Validators};
use crate::settings::HomebrewSettings;

/// Formula catalogues fetched from Homebrew's API.
pub const HOMEBREW_BUCKET: &str = "homebrew-v1";

/// The signed catalogue's file name under `api_url`.
pub const FORMULA_DOCUMENT: &str = "formula.jws.json";

const CATALOGUE_FILE: &str = "formula.cache";
const FRESH_FILE: &str = "formula.fresh.json";

/// One formula's record as the API serves it.
#[derive(Debug, Clone)]
pub struct FormulaRecord {
    /// The canonical name (`python@3.13` when asked for `python`).
    pub name: String,
    /// The record's JSON, exactly as in the catalogue.
    pub json: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("`{url}` does not exist")]
    NotFound { url: String },
    #[error("`{url}` failed verification: {reason}; nothing from it was used or cached")]
    BadSignature { url: String, reason: JwsError },
    #[error("`{url}` is not a Homebrew formulae API document: {message}")]
    Invalid { url: String, message: String },
    #[error("Homebrew's formulae are not cached yet, and `--offline` forbids fetching `{url}`")]
    NotCached { url: String },
    #[error("cannot use `{}` as the Homebrew API key: {message}", path.display())]
    Key { path: PathBuf, message: String },
    #[error("failed to use the Homebrew API cache at `{}`", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An error from the one attempt that every lookup shares.
    #[error(transparent)]
    Shared(Arc<ApiError>),
}

impl ApiError {
    pub fn hint(&self) -> Option<String> {
        use crate::env_vars::{VELO_HOMEBREW_API_KEY, VELO_HOMEBREW_API_URL};
        match self {
            ApiError::NotFound { .. } | ApiError::Invalid { .. } => Some(format!(
                "`{VELO_HOMEBREW_API_URL}`, `HOMEBREW_API_DOMAIN` or `[homebrew] api_url` in config.toml must name the folder holding `{FORMULA_DOCUMENT}`"
            )),
            ApiError::BadSignature { .. } => Some(format!(
                "the document may have been tampered with; a mirror that signs with its own key needs `{VELO_HOMEBREW_API_KEY}` (or `[homebrew] public_key`) set to that key's PEM file"
            )),
            ApiError::NotCached { .. } => Some("run the command once without `--offline`".to_string()),
            ApiError::Key { .. } => Some(format!(
                "`{VELO_HOMEBREW_API_KEY}` and `[homebrew] public_key` name a PEM file holding an RSA `PUBLIC KEY`"
            )),
            ApiError::Http(_) => Some(format!(
                "check the network, or `{VELO_HOMEBREW_API_URL}` if you use a mirror"
            )),
            ApiError::Cache { .. } => None,
            ApiError::Shared(inner) => inner.hint(),
        }
    }

    /// Whether the error is the user's input rather than the outside world.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ApiError::Key { .. } | ApiError::NotCached { .. } => true,
            ApiError::Shared(inner) => inner.is_bad_input(),
            _ => false,
        }
    }
}

/// Homebrew core's catalogue of formulae. Cheap to clone; clones share fetches.
#[derive(Clone)]
pub struct FormulaApi {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    cache: Cache,
    settings: HomebrewSettings,
    offline: bool,
    catalogue: tokio::sync::OnceCell<Result<Arc<Catalogue>, Arc<ApiError>>>,
    warnings: std::sync::Mutex<Vec<String>>,
}

/// Beside the catalogue: until when the server said it stays current.
#[derive(Debug, Serialize, Deserialize)]
struct Freshness {
    #[serde(flatten)]
    validators: Validators,
    fresh_until: u64,
}

impl FormulaApi {
    pub fn new(http: HttpClient, cache: &Cache, settings: &HomebrewSettings, offline: bool) -> Self {
        let inner = Inner {
            http,
            cache: cache.clone(),
            settings: settings.clone(),
            offline,
            catalogue: tokio::sync::OnceCell::new(),
            warnings: std::sync::Mutex::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The record of the formula `name` names (its canonical name, an alias or an old name),
    /// or `None` when Homebrew core has no such formula.
    pub async fn formula(&self, name: &str) -> Result<Option<FormulaRecord>, ApiError> {
        let catalogue = self.catalogue().await?;
        let found = catalogue.record(name).map_err(|source| ApiError::Cache {
            path: self.inner.dir().join(CATALOGUE_FILE),
            source,
        })?;
        Ok(found.map(|(name, json)| FormulaRecord {
            name,
            json: Arc::from(json),
        }))
    }

    /// The closest formula name to `name`, for a "did you mean" hint.
    pub async fn suggest(&self, name: &str) -> Option<String> {
        let catalogue = self.catalogue().await.ok()?;
        crate::suggest::closest(name, catalogue.names()).map(str::to_string)
    }

    /// What went wrong without failing (a refresh that fell back to the cached catalogue), for
    /// the caller to print once.
    pub fn warnings(&self) -> Vec<String> {
        self.inner
            .warnings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    async fn catalogue(&self) -> Result<Arc<Catalogue>, ApiError> {
        self.inner
            .catalogue
            .get_or_init(|| async { self.inner.load().await.map(Arc::new).map_err(Arc::new) })
            .await
            .clone()
            .map_err(ApiError::Shared)
    }
}

impl Inner {
    fn dir(&self) -> PathBuf {
        self.cache
            .root()
            .join(HOMEBREW_BUCKET)
            .join(url_digest(self.settings.api_url.as_str()))
    }

    fn document_url(&self) -> Url {
        self.settings
            .api_url
            .join(FORMULA_DOCUMENT)
            .expect("a file name joins onto a base URL")
    }

    fn key(&self) -> Result<TrustedKey, ApiError> {
        let Some(path) = &self.settings.public_key else {
            return Ok(TrustedKey::homebrew());
        };
        let pem = std::fs::read_to_string(path).map_err(|err| ApiError::Key {
            path: path.clone(),
            message: err.to_string(),
        })?;
        TrustedKey::from_pem(&pem).map_err(|message| ApiError::Key {
            path: path.clone(),
            message,
        })
    }

    async fn load(&self) -> Result<Catalogue, ApiError> {
        let key = self.key()?;
        let url = self.document_url();
        let dir = self.dir();
        let path = dir.join(CATALOGUE_FILE);
        let cache_error = |source| ApiError::Cache {
            path: path.clone(),
            source,
        };
        // A copy from another URL or verified with another key is no copy at all.
        let cached = Catalogue::open(&path).map_err(cache_error)?.filter(|catalogue| {
            catalogue.header.url == url.as_str() && catalogue.header.key == key.fingerprint
        });
        if self.offline {
            return cached.ok_or_else(|| ApiError::NotCached {
                url: crate::http::redacted(&url),
            });
        }
        let fresh = cached.as_ref().is_some_and(|cached| {
            read_freshness(&dir).is_some_and(|fresh| {
                fresh.fresh_until > now_secs() && same(&fresh.validators, &cached.header.validators)
            })
        });
        if fresh {
            return Ok(cached.expect("fresh only when cached"));
        }
        let validators = cached.as_ref().map(|cached| &cached.header.validators);
        let fetched = match self.http.fetch(&url, validators).await {
            Ok(fetched) => fetched,
            // Homebrew does the same: a catalogue that cannot be refreshed is still a catalogue.
            Err(err) if cached.is_some() => {
                self.warn(format!("{err}; using the Homebrew formulae cached before"));
                return Ok(cached.expect("checked above"));
            }
            Err(err) => return Err(err.into()),
        };
        let (bytes, validators, max_age) = match fetched {
            Fetched::NotModified => match cached {
                // A 304 carries no new max-age, so the next lock revalidates again.
                Some(cached) => return Ok(cached),
                // A 304 we did not ask for: fetch again without validators.
                None => match self.http.fetch(&url, None).await? {
                    Fetched::Body {
                        bytes,
                        validators,
                        max_age,
                    } => (bytes, validators, max_age),
                    _ => {
                        return Err(ApiError::NotFound {
                            url: crate::http::redacted(&url),
                        })
                    }
                },
            },
            Fetched::NotFound => {
                return Err(ApiError::NotFound {
                    url: crate::http::redacted(&url),
                })
            }
            Fetched::Body {
                bytes,
                validators,
                max_age,
            } => (bytes, validators, max_age),
        };
        let header = Header::new(url.to_string(), key.fingerprint.clone(), validators.clone());
        let redacted = crate::http::redacted(&url);
        // Verifying hashes the whole document and indexing parses it: work for a blocking thread.
        let built = tokio::task::spawn_blocking(move || {
            let payload = jws::verify(&bytes, &key).map_err(|reason| ApiError::BadSignature {
                url: redacted.clone(),
                reason,
            })?;
            catalogue::build(header, &payload).map_err(|message| ApiError::Invalid {
                url: redacted,
                message,
            })
        })
        .await
        .map_err(|err| ApiError::Cache {
            path: path.clone(),
            source: std::io::Error::other(err),
        })??;
        self.store(&dir, &path, &built).map_err(cache_error)?;
        if let Some(age) = max_age {
            write_freshness(&dir, &validators, age);
        }
        Catalogue::open(&path)
            .map_err(cache_error)?
            .ok_or_else(|| ApiError::Cache {
                path: path.clone(),
                source: std::io::Error::other("the catalogue just written cannot be read back"),
            })
    }

    fn store(&self, dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.cache.bucket(HOMEBREW_BUCKET)?;
        fs_err::create_dir_all(dir)?;
        // A freshness record of the previous catalogue must not vouch for this one.
        let _ = std::fs::remove_file(dir.join(FRESH_FILE));
        crate::fs::write_atomic(path, bytes)
    }

    fn warn(&self, message: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(message);
    }
}

fn same(a: &Validators, b: &Validators) -> bool {
    a.etag == b.etag && a.last_modified == b.last_modified
}

fn read_freshness(dir: &Path) -> Option<Freshness> {
    let bytes = std::fs::read(dir.join(FRESH_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Record that the catalogue with `validators` is current for `age`.
fn write_freshness(dir: &Path, validators: &Validators, age: Duration) {
    let fresh = Freshness {
        validators: validators.clone(),
        fresh_until: now_secs() + age.as_secs(),
    };
    if let Ok(bytes) = serde_json::to_vec(&fresh) {
        // The freshness record only saves a request; failing to write it fails nothing.
        let _ = crate::fs::write_atomic_unsynced(&dir.join(FRESH_FILE), &bytes);
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

//! The formulae JSON API: fetching, verifying (JWS, PS512), caching with ETag revalidation, and
//! looking a formula up by name, alias or old name without parsing the whole catalogue.

use std::sync::Arc;

/// One formula's record as the API serves it.
#[derive(Debug, Clone)]
pub struct FormulaRecord {
    /// The canonical name (`python@3.13` when asked for `python`).
    pub name: String,
    /// The record's JSON, exactly as in the catalogue.
    pub json: Arc<str>,
}

use crate::cache::Cache;
use crate::http::HttpClient;
use crate::settings::HomebrewSettings;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the Homebrew formulae API is not available in this build yet")]
    NotImplemented,
}

impl ApiError {
    pub fn hint(&self) -> Option<String> {
        None
    }

    /// Whether the error is the user's input rather than the outside world.
    pub fn is_bad_input(&self) -> bool {
        false
    }
}

/// Homebrew core's catalogue of formulae. Cheap to clone; clones share fetches.
#[derive(Clone)]
pub struct FormulaApi {
    inner: Arc<Inner>,
}

#[allow(dead_code)]
struct Inner {
    http: HttpClient,
    cache: Cache,
    settings: HomebrewSettings,
    offline: bool,
}

impl FormulaApi {
    pub fn new(http: HttpClient, cache: &Cache, settings: &HomebrewSettings, offline: bool) -> Self {
        let inner = Inner {
            http,
            cache: cache.clone(),
            settings: settings.clone(),
            offline,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The record of the formula `name` names (its canonical name, an alias or an old name),
    /// or `None` when Homebrew core has no such formula.
    pub async fn formula(&self, name: &str) -> Result<Option<FormulaRecord>, ApiError> {
        let _ = (name, &self.inner);
        Err(ApiError::NotImplemented)
    }

    /// The closest formula name to `name`, for a "did you mean" hint.
    pub async fn suggest(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
}

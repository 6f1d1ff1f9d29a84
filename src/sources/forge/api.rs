//! Talking to forge APIs politely: conditional requests from a cache (an unchanged list costs
//! no rate limit), pagination, and rate limits read from the headers: wait when the reset is
//! near, otherwise fail at once with a hint to set a token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use reqwest::header::{HeaderMap, ETAG, IF_NONE_MATCH, RETRY_AFTER};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use url::Url;

use super::providers::{ForgeRepo, Release};
use crate::cache::{url_digest, Cache};
use crate::http::HttpClient;

/// The forge cache bucket: one file per API page, with its ETag.
pub const FORGE_BUCKET: &str = "forge-v1";

/// The most pages of releases read (100 per page on GitHub: 5,000 releases).
const MAX_PAGES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("repository `{key}` was not found (404 from `{url}`); it may have been renamed or deleted")]
    RepoNotFound { key: String, url: String },
    #[error("`{host}` rate limit is used up; it resets in {}", human_wait(*reset_in))]
    RateLimited {
        host: String,
        reset_in: Duration,
        token_var: &'static str,
    },
    #[error("`{url}` refused the request ({status})")]
    Forbidden {
        url: String,
        status: StatusCode,
        token_var: &'static str,
    },
    #[error("`{url}` answered {status}")]
    Status { url: String, status: StatusCode },
    #[error("failed to reach `{url}`")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("`{url}` returned releases velo cannot read: {message}")]
    BadResponse { url: String, message: String },
    #[error("the releases of `{key}` are not cached and `--offline` forbids asking the forge")]
    Offline { key: String },
    #[error("invalid forge API URL `{url}`: {reason}")]
    BadApiUrl { url: String, reason: String },
    #[error("`{key}` is not a forge package")]
    NotAForge { key: String },
}

impl ForgeError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ForgeError::RepoNotFound { .. } => Some(
                "check the repository name in `velo.json` and update it if the project moved".to_string(),
            ),
            ForgeError::RateLimited { token_var, .. } => Some(format!(
                "set `{token_var}` to a token to get a much higher limit, or try again later"
            )),
            ForgeError::Forbidden { token_var, .. } => Some(format!(
                "if the repository is private, set `{token_var}` to a token that can read it"
            )),
            ForgeError::Offline { .. } => Some("run the command again without `--offline`".to_string()),
            _ => None,
        }
    }
}

fn human_wait(wait: Duration) -> String {
    let secs = wait.as_secs();
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CachedPage {
    url: String,
    #[serde(default)]
    etag: Option<String>,
    /// The `Link` / `X-Next-Page` headers that came with it, for pagination from the cache.
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    next_page: Option<String>,
    body: String,
}

/// Every release of `repo`, newest first as the forge lists them.
pub async fn releases(
    http: &HttpClient,
    cache: &Cache,
    offline: bool,
    repo: &ForgeRepo,
) -> Result<Vec<Release>, ForgeError> {
    let mut releases = Vec::new();
    let mut next = Some(repo.releases_url());
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        let (body, headers) = page(http, cache, offline, repo, &url).await?;
        let page = repo
            .parse_page(&body)
            .map_err(|message| ForgeError::BadResponse {
                url: url.to_string(),
                message,
            })?;
        let count = page.len();
        releases.extend(page);
        if count > 0 && pages < MAX_PAGES {
            next = repo.next_page(&url, &headers, count);
        }
    }
    Ok(releases)
}

/// One API page: from the cache when the forge says it has not changed (304).
async fn page(
    http: &HttpClient,
    cache: &Cache,
    offline: bool,
    repo: &ForgeRepo,
    url: &Url,
) -> Result<(Vec<u8>, HeaderMap), ForgeError> {
    let path = cache
        .root()
        .join(FORGE_BUCKET)
        .join(format!("{}.json", url_digest(url.as_str())));
    let cached: Option<CachedPage> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(|page: &CachedPage| page.url == url.as_str());
    let cached_headers = |page: &CachedPage| {
        let mut headers = HeaderMap::new();
        if let Some(link) = page.link.as_deref().and_then(|v| v.parse().ok()) {
            headers.insert(reqwest::header::LINK, link);
        }
        if let Some(next) = page.next_page.as_deref().and_then(|v| v.parse().ok()) {
            headers.insert("x-next-page", next);
        }
        headers
    };
    if offline {
        return match cached {
            Some(page) => Ok((page.body.clone().into_bytes(), cached_headers(&page))),
            None => Err(ForgeError::Offline {
                key: repo.key.clone(),
            }),
        };
    }
    let mut headers = repo.headers();
    if let Some(etag) = cached
        .as_ref()
        .and_then(|page| page.etag.as_deref())
        .and_then(|e| e.parse().ok())
    {
        headers.insert(IF_NONE_MATCH, etag);
    }
    let response = send(http, repo, url, headers, reqwest::Method::GET).await?;
    if response.status() == StatusCode::NOT_MODIFIED {
        if let Some(page) = cached {
            return Ok((page.body.clone().into_bytes(), cached_headers(&page)));
        }
    }
    let status = response.status();
    if !status.is_success() {
        return Err(ForgeError::Status {
            url: url.to_string(),
            status,
        });
    }
    let headers = response.headers().clone();
    let body = crate::http::body_within(response, crate::http::MAX_METADATA)
        .await
        .map_err(|source| ForgeError::Request {
            url: url.to_string(),
            source,
        })?
        .ok_or_else(|| ForgeError::BadResponse {
            url: url.to_string(),
            message: format!(
                "the response is larger than {} MiB",
                crate::http::MAX_METADATA >> 20
            ),
        })?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let page = CachedPage {
        url: url.to_string(),
        etag: header(ETAG.as_str()),
        link: header("link"),
        next_page: header("x-next-page"),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    // The cache only saves rate limit; failing to write it is not an error.
    let _ = cache.bucket(FORGE_BUCKET).and_then(|_| {
        crate::fs::write_atomic(&path, &serde_json::to_vec(&page).map_err(std::io::Error::other)?)
    });
    Ok((body, headers))
}

/// Send a request, retrying server errors with backoff and waiting out a rate limit that
/// resets soon. 404 is the repository's absence; other 4xx are returned to the caller.
async fn send(
    http: &HttpClient,
    repo: &ForgeRepo,
    url: &Url,
    headers: HeaderMap,
    method: reqwest::Method,
) -> Result<reqwest::Response, ForgeError> {
    let mut attempt = 0;
    let mut waited_for_limit = false;
    let mut url = url.clone();
    let mut redirects = 0;
    loop {
        attempt += 1;
        // Redirects are followed here, not by reqwest, so that a token (GitLab's
        // `PRIVATE-TOKEN` as much as `Authorization`) goes only to the forge's own host.
        let mut request = http
            .client_without_redirects()
            .request(method.clone(), url.clone());
        for (name, value) in &headers {
            if !value.is_sensitive() || repo.same_host(&url) {
                request = request.header(name, value);
            }
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(source) if attempt <= http.retries() && crate::http::is_transient(&source) => {
                tokio::time::sleep(http.backoff(attempt)).await;
                continue;
            }
            Err(source) => {
                return Err(ForgeError::Request {
                    url: url.to_string(),
                    source,
                })
            }
        };
        let status = response.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            if let Some(next) = location
                .and_then(|location| url.join(location).ok())
                .filter(|_| redirects < 10)
            {
                redirects += 1;
                url = next;
                attempt = 0;
                continue;
            }
            return Err(ForgeError::Status {
                url: url.to_string(),
                status,
            });
        }
        if status == StatusCode::NOT_FOUND {
            return Err(ForgeError::RepoNotFound {
                key: repo.key.clone(),
                url: url.to_string(),
            });
        }
        if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
            match rate_limit_wait(response.headers(), status) {
                Some(wait) if wait <= crate::http::MAX_RETRY_AFTER && !waited_for_limit => {
                    waited_for_limit = true;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Some(wait) => {
                    let host = url.host_str().unwrap_or_default().to_string();
                    return Err(ForgeError::RateLimited {
                        host,
                        reset_in: wait,
                        token_var: repo.token_var,
                    });
                }
                None => {
                    return Err(ForgeError::Forbidden {
                        url: url.to_string(),
                        status,
                        token_var: repo.token_var,
                    })
                }
            }
        }
        if status.is_server_error() && attempt <= http.retries() {
            tokio::time::sleep(http.backoff(attempt)).await;
            continue;
        }
        return Ok(response);
    }
}

/// How long until a used-up rate limit resets, from `Retry-After`, `X-RateLimit-Reset`
/// (GitHub, Gitea) or `RateLimit-Reset` (GitLab); `None` when the response is not about limits.
fn rate_limit_wait(headers: &HeaderMap, status: StatusCode) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(seconds) = header(RETRY_AFTER.as_str()).and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(seconds));
    }
    let remaining = header("x-ratelimit-remaining").or_else(|| header("ratelimit-remaining"));
    let exhausted = remaining == Some("0") || status == StatusCode::TOO_MANY_REQUESTS;
    if !exhausted {
        return None;
    }
    let reset = header("x-ratelimit-reset")
        .or_else(|| header("ratelimit-reset"))
        .and_then(|v| v.parse::<u64>().ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Some(Duration::from_secs(
        reset.map_or(60, |reset| reset.saturating_sub(now)),
    ))
}

/// Request a release file (the token goes only to the forge's own host); any status but
/// success is an error, except for `HEAD`, whose caller falls back to a download.
async fn release_file(
    http: &HttpClient,
    url: &str,
    repo: &ForgeRepo,
    method: reqwest::Method,
) -> Result<reqwest::Response, ForgeError> {
    let parsed = parse_url(url)?;
    let head = method == reqwest::Method::HEAD;
    let response = send(http, repo, &parsed, repo.headers_for_download(), method).await?;
    if !head && !response.status().is_success() {
        return Err(ForgeError::Status {
            url: url.to_string(),
            status: response.status(),
        });
    }
    Ok(response)
}

/// A small text file of a release (a checksum list).
pub async fn fetch_text(http: &HttpClient, url: &str, repo: &ForgeRepo) -> Result<String, ForgeError> {
    let response = release_file(http, url, repo, reqwest::Method::GET).await?;
    let bytes = response.bytes().await.map_err(|source| ForgeError::Request {
        url: url.to_string(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// An asset's size from a `HEAD` request, else from downloading it.
pub async fn content_length(http: &HttpClient, url: &str, repo: &ForgeRepo) -> Result<u64, ForgeError> {
    let response = release_file(http, url, repo, reqwest::Method::HEAD).await?;
    let length = crate::http::content_length(response.headers()).filter(|_| response.status().is_success());
    match length {
        Some(length) => Ok(length),
        None => download_digest(http, url, repo).await.map(|(_, size)| size),
    }
}

/// Download an asset to learn its sha256 and size, when the release says neither.
pub async fn download_digest(
    http: &HttpClient,
    url: &str,
    repo: &ForgeRepo,
) -> Result<(String, u64), ForgeError> {
    let response = release_file(http, url, repo, reqwest::Method::GET).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| ForgeError::Request {
            url: url.to_string(),
            source,
        })?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

fn parse_url(url: &str) -> Result<Url, ForgeError> {
    Url::parse(url).map_err(|err| ForgeError::BadResponse {
        url: url.to_string(),
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn rate_limits() {
        let mut headers = HeaderMap::new();
        assert_eq!(rate_limit_wait(&headers, StatusCode::FORBIDDEN), None);
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        let soon = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 30;
        headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&soon.to_string()).unwrap(),
        );
        let wait = rate_limit_wait(&headers, StatusCode::FORBIDDEN).unwrap();
        assert!(
            wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28),
            "{wait:?}"
        );
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        assert_eq!(
            rate_limit_wait(&headers, StatusCode::TOO_MANY_REQUESTS),
            Some(Duration::from_secs(5))
        );
        assert_eq!(human_wait(Duration::from_secs(3700)), "1h01m");
    }
}

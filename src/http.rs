//! The HTTP client every remote fetch goes through: timeouts, retries with exponential backoff
//! and jitter on connection errors, 5xx and 429 (honouring `Retry-After`), and conditional
//! requests. Proxies come from `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`.

use std::time::Duration;

use reqwest::header::{HeaderMap, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER};
use reqwest::StatusCode;
use url::Url;

use crate::settings::HttpSettings;

/// The longest `Retry-After` (or forge rate-limit reset) velo waits for; longer ones fail at once
/// with the wait in the message.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("failed to build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("failed to fetch `{}` ({})", redacted(url), attempts_text(*attempts))]
    Request {
        url: Url,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error("`{}` answered {status} ({})", redacted(url), attempts_text(*attempts))]
    Status {
        url: Url,
        status: StatusCode,
        attempts: u32,
    },
    #[error("`{}` is rate limiting requests and asks to wait {}s", redacted(url), retry_after.as_secs())]
    RateLimited { url: Url, retry_after: Duration },
    #[error("`{}` sent more than {} MiB, more than velo reads for an index or API file", redacted(url), MAX_METADATA >> 20)]
    TooLarge { url: Url },
}

/// `url` as velo prints it (every URL in an error goes through here), without what may be a
/// credential: the user name and password become `***`, and the
/// query (presigned or token parameters) and fragment are dropped.
pub fn redacted(url: &url::Url) -> String {
    let mut url = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        // Only fails for URLs that cannot have credentials, which then have none to hide.
        let _ = url.set_password(None);
        let _ = url.set_username("***");
    }
    if url.query().is_some() {
        url.set_query(Some("***"));
    }
    url.set_fragment(None);
    url.to_string()
}

/// The most a metadata response (an index file, a forge API page) may hold: a server that a
/// repository's `registry` names must not fill memory with one endless body.
pub const MAX_METADATA: usize = 64 << 20;

/// The body of `response`, or `None` once it passes `limit` bytes (read no further).
pub async fn body_within(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > limit {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

fn attempts_text(attempts: u32) -> String {
    if attempts == 1 {
        "1 attempt, no retries".to_string()
    } else {
        format!("after {attempts} attempts")
    }
}

/// What a server's validators were when a cached copy was fetched.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Fetched {
    /// The cached copy is still current (304).
    NotModified,
    NotFound,
    Body {
        bytes: Vec<u8>,
        validators: Validators,
        max_age: Option<Duration>,
    },
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// The same, but returning redirects instead of following them: for requests carrying a
    /// secret that must not follow a redirect to another host.
    manual_redirects: reqwest::Client,
    /// Streaming (no whole-request deadline) and returning redirects: for downloads that carry
    /// a credential, whose every hop is checked against its [`Scoped`] base.
    streaming_manual_redirects: reqwest::Client,
    settings: HttpSettings,
}

impl HttpClient {
    pub fn new(settings: &HttpSettings) -> Result<Self, HttpError> {
        // `timeout` bounds a stall (no byte for that long), not a request: a large download
        // that makes steady progress over a slow link must not be abandoned and restarted.
        let builder = || {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
                .read_timeout(settings.timeout)
        };
        let client = builder().build().map_err(HttpError::Client)?;
        // API requests (small bodies, with a token) also get a whole-request deadline.
        let manual_redirects = builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(HttpError::Client)?;
        let streaming_manual_redirects = builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(HttpError::Client)?;
        Ok(Self {
            client,
            manual_redirects,
            streaming_manual_redirects,
            settings: settings.clone(),
        })
    }

    /// The client that hands redirects back to the caller.
    pub fn client_without_redirects(&self) -> &reqwest::Client {
        &self.manual_redirects
    }

    /// Like [`HttpClient::client`] (a stall timeout only), but handing redirects back.
    pub fn streaming_client_without_redirects(&self) -> &reqwest::Client {
        &self.streaming_manual_redirects
    }

    /// GET `url` in full, revalidating against `validators` when given.
    pub async fn fetch(&self, url: &Url, validators: Option<&Validators>) -> Result<Fetched, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt > self.settings.retries;
            match self.fetch_once(url, validators).await {
                Ok(Outcome::Done(fetched)) => return Ok(fetched),
                Ok(Outcome::Retry { status, retry_after }) => {
                    if let Some(wait) = retry_after.filter(|wait| *wait > MAX_RETRY_AFTER) {
                        return Err(HttpError::RateLimited {
                            url: url.clone(),
                            retry_after: wait,
                        });
                    }
                    if last {
                        return Err(HttpError::Status {
                            url: url.clone(),
                            status,
                            attempts: attempt,
                        });
                    }
                    tokio::time::sleep(retry_after.unwrap_or_else(|| self.backoff(attempt))).await;
                }
                Ok(Outcome::TooLarge) => return Err(HttpError::TooLarge { url: url.clone() }),
                Ok(Outcome::Fail(status)) => {
                    return Err(HttpError::Status {
                        url: url.clone(),
                        status,
                        attempts: attempt,
                    });
                }
                Err(source) => {
                    if last || !is_transient(&source) {
                        return Err(HttpError::Request {
                            url: url.clone(),
                            attempts: attempt,
                            source,
                        });
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
            }
        }
    }

    async fn fetch_once(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Outcome, reqwest::Error> {
        // Metadata is small: the whole request, not only a stall, is bounded.
        let mut request = self.client.get(url.clone()).timeout(self.settings.timeout);
        if let Some(validators) = validators {
            if let Some(etag) = &validators.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(last_modified) = &validators.last_modified {
                request = request.header(IF_MODIFIED_SINCE, last_modified);
            }
        }
        let response = request.send().await?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Outcome::Done(Fetched::NotModified));
        }
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(Outcome::Done(Fetched::NotFound));
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Ok(Outcome::Retry {
                status,
                retry_after: retry_after(response.headers()),
            });
        }
        if !status.is_success() {
            return Ok(Outcome::Fail(status));
        }
        let headers = response.headers().clone();
        // A body cut short surfaces here as an error and is retried like a dropped connection.
        let Some(bytes) = body_within(response, MAX_METADATA).await? else {
            return Ok(Outcome::TooLarge);
        };
        let header = |name| {
            headers
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        Ok(Outcome::Done(Fetched::Body {
            bytes,
            validators,
            max_age: max_age(&headers),
        }))
    }

    /// The underlying client, for requests that stream (downloads): it times out on a stall of
    /// `timeout`, never on the total duration.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// How many times a failed request is retried.
    /// How long a request may wait for its next byte.
    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    pub fn retries(&self) -> u32 {
        self.settings.retries
    }

    /// Exponential backoff with full jitter: a random delay up to `retry_delay * 2^(attempt-1)`,
    /// never less than half of it, capped at 10 s.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .settings
            .retry_delay
            .saturating_mul(1 << (attempt - 1).min(10))
            .min(Duration::from_secs(10));
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

enum Outcome {
    Done(Fetched),
    Retry {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    Fail(StatusCode),
    /// The body passed [`MAX_METADATA`].
    TooLarge,
}

/// The `User-Agent` velo sends.
pub const USER_AGENT: &str = concat!("velo/", env!("CARGO_PKG_VERSION"));

/// The `Content-Length` header's value. Not `Response::content_length()`, which is the size of
/// the body a response has: a HEAD response has none.
pub fn content_length(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn is_transient(err: &reqwest::Error) -> bool {
    err.is_connect() || err.is_timeout() || err.is_body() || err.is_decode() || err.is_request()
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// `Cache-Control: max-age=N`, unless `no-cache` or `no-store` is also there.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("no-store") {
            return None;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            max_age = seconds.parse().ok().map(Duration::from_secs);
        }
    }
    max_age
}

/// ghcr's token for anonymous pulls of public images (base64 of `A`), as `brew` sends it.
pub const GHCR_ANONYMOUS_AUTHORIZATION: &str = "Bearer QQ==";

/// An `Authorization` value that belongs to one base URL (Homebrew's bottle registry) and is
/// sent only to URLs under it: same scheme, host and port, and a path inside the base's.
/// Each request and each redirect hop is checked on its own, so a registry's redirect to a
/// storage host, or a URL a repository's lock names elsewhere, never carries it.
#[derive(Debug, Clone)]
pub struct Scoped {
    base: Url,
    authorization: reqwest::header::HeaderValue,
}

impl Scoped {
    pub fn new(base: &Url, authorization: &str) -> Option<Self> {
        let mut value = reqwest::header::HeaderValue::from_str(authorization).ok()?;
        value.set_sensitive(true);
        Some(Self {
            base: base.clone(),
            authorization: value,
        })
    }

    /// ghcr's anonymous token for everything under `base`.
    pub fn ghcr_anonymous(base: &Url) -> Self {
        Self::new(base, GHCR_ANONYMOUS_AUTHORIZATION).expect("a valid header value")
    }

    /// Whether `url` is under the base. `Url` has already resolved `..` and `%2e%2e` segments.
    pub fn covers(&self, url: &Url) -> bool {
        let prefix = self.base.path().trim_end_matches('/');
        url.scheme() == self.base.scheme()
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
            && url
                .path()
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The header value for `url`, when it is under the base.
    pub fn authorization_for(&self, url: &Url) -> Option<&reqwest::header::HeaderValue> {
        self.covers(url).then_some(&self.authorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_cache_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        headers.insert(
            reqwest::header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=600"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        assert_eq!(max_age(&headers), Some(Duration::from_secs(600)));
        headers.insert(
            reqwest::header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=600, no-cache"),
        );
        assert_eq!(max_age(&headers), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let client = HttpClient::new(&HttpSettings::default()).unwrap();
        for attempt in 1..20 {
            let delay = client.backoff(attempt);
            let ceiling = Duration::from_millis(250)
                .saturating_mul(1 << (attempt - 1).min(10))
                .min(Duration::from_secs(10));
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn a_scoped_token_covers_only_its_base() {
        let base = Url::parse("https://ghcr.io/v2/homebrew/core").unwrap();
        let scoped = Scoped::ghcr_anonymous(&base);
        let covered = |url: &str| scoped.covers(&Url::parse(url).unwrap());
        assert!(covered("https://ghcr.io/v2/homebrew/core/wget/blobs/sha256:ab"));
        assert!(covered(
            "https://ghcr.io:443/v2/homebrew/core/openssl/3/manifests/3.3.2"
        ));
        for url in [
            "https://ghcr.io/v2/homebrew/core",
            "https://ghcr.io/v2/homebrew/corex/wget/blobs/sha256:ab",
            "https://ghcr.io/v2/homebrew/core/../evil/blobs/sha256:ab",
            "https://ghcr.io/v2/homebrew/core/%2e%2e/evil/x",
            "http://ghcr.io/v2/homebrew/core/wget/blobs/sha256:ab",
            "https://ghcr.io:8443/v2/homebrew/core/wget/blobs/sha256:ab",
            "https://ghcr.io.evil.example/v2/homebrew/core/wget",
            "https://user@ghcr.io/v2/homebrew/core/wget",
            "https://pkg-containers.githubusercontent.com/ghcr1/blobs/sha256:ab",
        ] {
            assert!(!covered(url), "{url}");
        }
        assert_eq!(
            scoped
                .authorization_for(&Url::parse("https://ghcr.io/v2/homebrew/core/x/y").unwrap())
                .map(|v| v.to_str().unwrap().to_string()),
            Some("Bearer QQ==".to_string())
        );
    }
}

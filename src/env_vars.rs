//! Every environment variable velo reads, in one place.

/// Directory for velo's caches (package metadata, downloads, extracted trees).
pub const VELO_CACHE_DIR: &str = "VELO_CACHE_DIR";
/// Directory holding velo's `config.toml`.
pub const VELO_CONFIG_DIR: &str = "VELO_CONFIG_DIR";
/// Use only cached data; never touch the network (same as `--offline`).
pub const VELO_OFFLINE: &str = "VELO_OFFLINE";
/// Pretend to run on this platform (`linux-x86_64`, …) when deciding what must be installable here.
pub const VELO_PLATFORM: &str = "VELO_PLATFORM";
/// Seconds one HTTP request may take before it is abandoned and retried (default 30).
pub const VELO_HTTP_TIMEOUT: &str = "VELO_HTTP_TIMEOUT";
/// How many times a failed HTTP request is retried (default 3).
pub const VELO_HTTP_RETRIES: &str = "VELO_HTTP_RETRIES";
/// The first retry's delay in milliseconds, doubled on each retry, with jitter (default 250).
pub const VELO_HTTP_RETRY_DELAY_MS: &str = "VELO_HTTP_RETRY_DELAY_MS";
/// How many artifacts `velo sync` downloads at once (default 8).
pub const VELO_CONCURRENT_DOWNLOADS: &str = "VELO_CONCURRENT_DOWNLOADS";
/// The most bytes one archive may unpack to before it is refused as a bomb (default 8 GiB).
pub const VELO_MAX_UNPACKED_SIZE: &str = "VELO_MAX_UNPACKED_SIZE";
/// The GitHub API (default `https://api.github.com`); set it for GitHub Enterprise.
pub const VELO_GITHUB_API_URL: &str = "VELO_GITHUB_API_URL";
/// The GitLab API (default `https://gitlab.com/api/v4`); set it for a self-hosted GitLab.
pub const VELO_GITLAB_API_URL: &str = "VELO_GITLAB_API_URL";
/// The API of every `gitea:` host (default `https://HOST/api/v1`).
pub const VELO_GITEA_API_URL: &str = "VELO_GITEA_API_URL";
/// The Codeberg API (default `https://codeberg.org/api/v1`).
pub const VELO_CODEBERG_API_URL: &str = "VELO_CODEBERG_API_URL";
/// The remote build cache's URL (overrides `cache.remote.url` in `velo.json`).
pub const VELO_CACHE_URL: &str = "VELO_CACHE_URL";
/// The remote build cache's bearer token (overrides `cache.remote.token`); never printed.
pub const VELO_CACHE_TOKEN: &str = "VELO_CACHE_TOKEN";
/// A secret shared by everyone using a remote cache: uploads are signed with it (HMAC-SHA256)
/// and downloads must carry a valid signature.
pub const VELO_CACHE_SIGNING_KEY: &str = "VELO_CACHE_SIGNING_KEY";
/// `velo serve`: the address to listen on (default `127.0.0.1:8080`).
pub const VELO_SERVER_LISTEN: &str = "VELO_SERVER_LISTEN";
/// `velo serve`: `file:///path` or `s3://bucket`.
pub const VELO_SERVER_STORAGE: &str = "VELO_SERVER_STORAGE";
/// `velo serve`: the tokens file (`read SECRET` / `write SECRET` lines).
pub const VELO_SERVER_TOKENS_FILE: &str = "VELO_SERVER_TOKENS_FILE";
/// `velo serve`: the URL clients reach the server at (for the local driver's artifact URLs).
pub const VELO_SERVER_PUBLIC_URL: &str = "VELO_SERVER_PUBLIC_URL";
/// `velo serve`: the secret that signs the local driver's URLs (random per process if unset).
pub const VELO_SERVER_URL_SECRET: &str = "VELO_SERVER_URL_SECRET";
/// `velo serve`: seconds a signed or presigned URL stays valid (default 900).
pub const VELO_SERVER_URL_EXPIRY: &str = "VELO_SERVER_URL_EXPIRY";
/// `velo serve`: the S3 endpoint (falls back to `AWS_ENDPOINT_URL`).
pub const VELO_SERVER_S3_ENDPOINT: &str = "VELO_SERVER_S3_ENDPOINT";
/// `velo serve`: the S3 region (falls back to `AWS_REGION`, then `us-east-1`).
pub const VELO_SERVER_S3_REGION: &str = "VELO_SERVER_S3_REGION";
/// `velo serve`: address buckets as `bucket.host` instead of `host/bucket`.
pub const VELO_SERVER_S3_VIRTUAL_HOST: &str = "VELO_SERVER_S3_VIRTUAL_HOST";
/// `velo serve`: the largest artifact accepted (default 2G).
pub const VELO_SERVER_MAX_ARTIFACT_SIZE: &str = "VELO_SERVER_MAX_ARTIFACT_SIZE";
/// `velo serve`: the largest negotiation body accepted (default 1M).
pub const VELO_SERVER_MAX_REQUEST_SIZE: &str = "VELO_SERVER_MAX_REQUEST_SIZE";
/// `velo serve`, local driver: remove objects not used for this long (`30d`, `12h`).
pub const VELO_SERVER_MAX_AGE: &str = "VELO_SERVER_MAX_AGE";
/// `velo serve`, local driver: evict the least recently used objects past this size.
pub const VELO_SERVER_MAX_SIZE: &str = "VELO_SERVER_MAX_SIZE";
/// `velo serve`: `text` or `json` log lines.
pub const VELO_SERVER_LOG_FORMAT: &str = "VELO_SERVER_LOG_FORMAT";
/// `velo serve`: close a connection whose request headers are not complete after this long.
pub const VELO_SERVER_HEADER_READ_TIMEOUT: &str = "VELO_SERVER_HEADER_READ_TIMEOUT";
/// `velo serve`: close a connection on which no byte moved for this long.
pub const VELO_SERVER_IDLE_TIMEOUT: &str = "VELO_SERVER_IDLE_TIMEOUT";
/// `velo serve`: the most connections served at once.
pub const VELO_SERVER_MAX_CONNECTIONS: &str = "VELO_SERVER_MAX_CONNECTIONS";
/// Homebrew's formulae API: the folder holding `formula.jws.json` (default
/// `https://formulae.brew.sh/api/`; falls back to `HOMEBREW_API_DOMAIN`).
pub const VELO_HOMEBREW_API_URL: &str = "VELO_HOMEBREW_API_URL";
/// A mirror of `https://ghcr.io/v2/homebrew/core` that bottles are downloaded from (falls back to
/// `HOMEBREW_BOTTLE_DOMAIN`).
pub const VELO_HOMEBREW_BOTTLE_URL: &str = "VELO_HOMEBREW_BOTTLE_URL";
/// A PEM public key file that replaces Homebrew's for verifying `formula.jws.json`.
pub const VELO_HOMEBREW_API_KEY: &str = "VELO_HOMEBREW_API_KEY";
/// Homebrew's own mirror settings, honoured after the `VELO_HOMEBREW_*` ones.
pub const HOMEBREW_API_DOMAIN: &str = "HOMEBREW_API_DOMAIN";
pub const HOMEBREW_BOTTLE_DOMAIN: &str = "HOMEBREW_BOTTLE_DOMAIN";
/// Standard AWS variables `velo serve` reads for S3.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
pub const AWS_REGION: &str = "AWS_REGION";
/// Tokens for forge APIs; never printed.
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
pub const GH_TOKEN: &str = "GH_TOKEN";
pub const GITLAB_TOKEN: &str = "GITLAB_TOKEN";
pub const GITEA_TOKEN: &str = "GITEA_TOKEN";
pub const CODEBERG_TOKEN: &str = "CODEBERG_TOKEN";
/// Disable coloured output (any value), as <https://no-color.org> describes.
pub const NO_COLOR: &str = "NO_COLOR";
/// Where pinned Homebrew bottles (and what they need) are poured: a short per-user prefix.
pub const VELO_HOMEBREW_PREFIX: &str = "VELO_HOMEBREW_PREFIX";

/// Every `VELO_*` variable, for documentation and for tests that must clear them.
pub const ALL: &[&str] = &[
    VELO_CACHE_DIR,
    VELO_CONFIG_DIR,
    VELO_OFFLINE,
    VELO_PLATFORM,
    VELO_HTTP_TIMEOUT,
    VELO_HTTP_RETRIES,
    VELO_HTTP_RETRY_DELAY_MS,
    VELO_CONCURRENT_DOWNLOADS,
    VELO_MAX_UNPACKED_SIZE,
    VELO_GITHUB_API_URL,
    VELO_GITLAB_API_URL,
    VELO_GITEA_API_URL,
    VELO_CODEBERG_API_URL,
    VELO_CACHE_URL,
    VELO_CACHE_TOKEN,
    VELO_CACHE_SIGNING_KEY,
    VELO_SERVER_LISTEN,
    VELO_SERVER_STORAGE,
    VELO_SERVER_TOKENS_FILE,
    VELO_SERVER_PUBLIC_URL,
    VELO_SERVER_URL_SECRET,
    VELO_SERVER_URL_EXPIRY,
    VELO_SERVER_S3_ENDPOINT,
    VELO_SERVER_S3_REGION,
    VELO_SERVER_S3_VIRTUAL_HOST,
    VELO_SERVER_MAX_ARTIFACT_SIZE,
    VELO_SERVER_MAX_REQUEST_SIZE,
    VELO_SERVER_MAX_AGE,
    VELO_SERVER_MAX_SIZE,
    VELO_SERVER_LOG_FORMAT,
    VELO_SERVER_HEADER_READ_TIMEOUT,
    VELO_SERVER_IDLE_TIMEOUT,
    VELO_SERVER_MAX_CONNECTIONS,
    VELO_HOMEBREW_PREFIX,
    VELO_HOMEBREW_API_URL,
    VELO_HOMEBREW_BOTTLE_URL,
    VELO_HOMEBREW_API_KEY,
];

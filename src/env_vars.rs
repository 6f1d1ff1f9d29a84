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
/// Tokens for forge APIs; never printed.
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
pub const GH_TOKEN: &str = "GH_TOKEN";
pub const GITLAB_TOKEN: &str = "GITLAB_TOKEN";
pub const GITEA_TOKEN: &str = "GITEA_TOKEN";
pub const CODEBERG_TOKEN: &str = "CODEBERG_TOKEN";
/// Disable coloured output (any value), as <https://no-color.org> describes.
pub const NO_COLOR: &str = "NO_COLOR";

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
];

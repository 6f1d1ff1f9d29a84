//! Settings resolved once from flags, environment and defaults, then passed down.

use std::path::PathBuf;
use std::time::Duration;

use crate::cache::Cache;
use crate::platform::Platform;

#[derive(Debug, Clone)]
pub struct Settings {
    pub cache: Cache,
    pub offline: bool,
    /// The platform this machine counts as; `None` when velo does not support it.
    pub host: Option<Platform>,
    pub http: HttpSettings,
    /// How many downloads may run at once.
    pub concurrent_downloads: usize,
    /// Refuse archives that unpack to more than this many bytes.
    pub max_unpacked_size: u64,
    /// The user's `config.toml`.
    pub config: crate::config::Config,
    /// Where Homebrew core's formulae and bottles come from.
    pub homebrew: HomebrewSettings,
}

/// Homebrew endpoints and trust, from `VELO_HOMEBREW_*`, `HOMEBREW_*_DOMAIN`, `config.toml`.
#[derive(Debug, Clone)]
pub struct HomebrewSettings {
    /// The folder holding `formula.jws.json` and `formula/`, ending in `/`.
    pub api_url: url::Url,
    /// The registry path bottles are pulled from (`https://ghcr.io/v2/homebrew/core`), without
    /// a trailing `/`; bottle URLs in formula records are rewritten onto it.
    pub bottle_url: url::Url,
    /// A PEM public key that replaces Homebrew's for verifying `formula.jws.json`.
    pub public_key: Option<PathBuf>,
}

impl Default for HomebrewSettings {
    fn default() -> Self {
        Self {
            api_url: url::Url::parse("https://formulae.brew.sh/api/").expect("a valid URL"),
            bottle_url: url::Url::parse("https://ghcr.io/v2/homebrew/core").expect("a valid URL"),
            public_key: None,
        }
    }
}

/// Default for [`Settings::concurrent_downloads`].
pub const DEFAULT_CONCURRENT_DOWNLOADS: usize = 8;
/// Default for [`Settings::max_unpacked_size`]: 8 GiB.
pub const DEFAULT_MAX_UNPACKED_SIZE: u64 = 8 << 30;

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The longest a request may wait for its next byte (connect, answer, or body); metadata
    /// requests must also finish within it, downloads only keep making progress.
    pub timeout: Duration,
    pub retries: u32,
    pub retry_delay: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retries: 3,
            retry_delay: Duration::from_millis(250),
        }
    }
}

/// The default cache directory: the platform's user cache dir.
pub fn default_cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "velo").map(|dirs| dirs.cache_dir().to_path_buf())
}

/// The default config directory: the platform's user config dir.
pub fn default_config_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "velo").map(|dirs| dirs.config_dir().to_path_buf())
}

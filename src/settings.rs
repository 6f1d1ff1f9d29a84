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

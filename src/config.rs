//! The user's `config.toml` in the config directory (`VELO_CONFIG_DIR` overrides): settings a
//! person sets once for every project. Read with `toml_edit`, the same parser `velo config`
//! will write with, so comments survive.

use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.toml";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Run `velo sync` from the shell hook when a project's `.velo` is out of date.
    pub auto_sync: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not valid TOML: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// The config in `dir`, or the defaults when there is no file.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let document: toml_edit::DocumentMut =
            text.parse()
                .map_err(|err: toml_edit::TomlError| ConfigError::Invalid {
                    path: path.clone(),
                    message: err.to_string(),
                })?;
        let auto_sync = match document.get("auto_sync") {
            None => None,
            Some(item) => Some(item.as_bool().ok_or_else(|| ConfigError::Invalid {
                path: path.clone(),
                message: "`auto_sync` must be `true` or `false`".to_string(),
            })?),
        };
        Ok(Self { auto_sync })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auto_sync() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), Config::default());
        fs_err::write(dir.path().join(CONFIG_FILE), "# mine\nauto_sync = true\n").unwrap();
        assert_eq!(Config::load(dir.path()).unwrap().auto_sync, Some(true));
        fs_err::write(dir.path().join(CONFIG_FILE), "auto_sync = \"yes\"\n").unwrap();
        assert!(Config::load(dir.path()).is_err());
    }
}

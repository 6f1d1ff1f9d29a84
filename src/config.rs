//! The user's `config.toml` in the config directory (`VELO_CONFIG_DIR` overrides): settings a
//! person sets once for every project. Read with `toml_edit`, the same parser `velo config`
//! will write with, so comments survive. The directory also holds `trust.json` (see
//! [`crate::shell::trust`]).

use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.toml";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The config directory itself, where trust records live; `None` when this user has none.
    pub dir: Option<PathBuf>,
    /// Run `velo sync` from the shell hook when a project's `.velo` is out of date.
    pub auto_sync: Option<bool>,
    /// Environment variables besides `VELO_*` that `${NAME}` in a manifest may read. A
    /// repository chooses the URL a value is sent to, so the user chooses what may be sent.
    pub expand_env: Vec<String>,
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
    /// The defaults, for the config directory `dir`.
    pub fn defaults_in(dir: &Path) -> Self {
        Self {
            dir: Some(dir.to_path_buf()),
            ..Self::default()
        }
    }

    /// The config in `dir`, or the defaults when there is no file.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::defaults_in(dir)),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let document: toml_edit::DocumentMut =
            text.parse()
                .map_err(|err: toml_edit::TomlError| ConfigError::Invalid {
                    path: path.clone(),
                    message: err.to_string(),
                })?;
        let invalid = |message: &str| ConfigError::Invalid {
            path: path.clone(),
            message: message.to_string(),
        };
        let auto_sync = match document.get("auto_sync") {
            None => None,
            Some(item) => Some(
                item.as_bool()
                    .ok_or_else(|| invalid("`auto_sync` must be `true` or `false`"))?,
            ),
        };
        let expand_env = match document.get("expand_env") {
            None => Vec::new(),
            Some(item) => {
                let message = "`expand_env` must be a list of variable names, like `[\"CI_JOB_TOKEN\"]`";
                let array = item.as_array().ok_or_else(|| invalid(message))?;
                array
                    .iter()
                    .map(|value| {
                        value
                            .as_str()
                            .filter(|name| crate::manifest::is_valid_env_name(name))
                            .map(str::to_string)
                            .ok_or_else(|| invalid(message))
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        Ok(Self {
            dir: Some(dir.to_path_buf()),
            auto_sync,
            expand_env,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auto_sync() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), Config::defaults_in(dir.path()));
        fs_err::write(dir.path().join(CONFIG_FILE), "# mine\nauto_sync = true\n").unwrap();
        assert_eq!(Config::load(dir.path()).unwrap().auto_sync, Some(true));
        fs_err::write(dir.path().join(CONFIG_FILE), "auto_sync = \"yes\"\n").unwrap();
        assert!(Config::load(dir.path()).is_err());
    }

    #[test]
    fn reads_expand_env() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(CONFIG_FILE), "expand_env = [\"CI_JOB_TOKEN\"]\n").unwrap();
        assert_eq!(Config::load(dir.path()).unwrap().expand_env, ["CI_JOB_TOKEN"]);
        for bad in [
            "expand_env = \"CI_JOB_TOKEN\"\n",
            "expand_env = [\"A-B\"]\n",
            "expand_env = [1]\n",
        ] {
            fs_err::write(dir.path().join(CONFIG_FILE), bad).unwrap();
            assert!(Config::load(dir.path()).is_err(), "{bad}");
        }
    }
}

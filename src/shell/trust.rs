//! Which projects the shell hook may activate: `trust.json` in the config directory, written
//! by `velo trust` and `velo untrust`.
//!
//! A record holds a project's `velo.json` (its canonical path) and a digest of what entering
//! it applies: the manifest's `env` (with `PATH`) and `auto_sync`. A change to those asks
//! again; a change elsewhere in the manifest (dependencies, tasks) does not. The file:
//!
//! ```json
//! {"version": 1, "trusted": {"/home/ada/app/velo.json": {"digest": "sha256:…"}}}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::{EnvValue, Manifest};

pub const TRUST_FILE: &str = "trust.json";
/// Held while `trust.json` is read, changed and replaced, so two `velo trust` cannot lose one.
const TRUST_LOCK: &str = "trust.lock";
const VERSION: u32 = 1;

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    version: u32,
    /// Keyed by the canonical path of the project's `velo.json`.
    trusted: BTreeMap<String, Record>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    digest: String,
}

/// Whether entering a project may apply its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    /// Never trusted, or untrusted since.
    Untrusted,
    /// Trusted once, but its `env`, `PATH` or `auto_sync` changed since.
    Changed,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("velo has no config directory to keep trust records in")]
    NoConfigDir,
    #[error("failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a trust file velo understands: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("velo can only trust a project whose path is UTF-8, not `{}`", path.display())]
    NotUtf8 { path: PathBuf },
}

impl From<TrustError> for crate::error::Error {
    fn from(err: TrustError) -> Self {
        match err {
            TrustError::NotUtf8 { .. } => crate::error::Error::usage(err.to_string(), None),
            TrustError::NoConfigDir => crate::error::Error::usage(
                err.to_string(),
                Some(format!(
                    "set `{}` to a directory",
                    crate::env_vars::VELO_CONFIG_DIR
                )),
            ),
            TrustError::Io { path, source } => crate::error::Error::Io { path, source },
            TrustError::Invalid { ref path, .. } => {
                let hint = format!(
                    "fix or remove `{}`; every project is untrusted until then",
                    path.display()
                );
                crate::error::Error::usage(err.to_string(), Some(hint))
            }
        }
    }
}

/// What entering a project applies, in a fixed shape: fields in this order, `env` sorted by
/// name (a `serde_json::Map` would depend on whether a crate turned on `preserve_order`).
#[derive(serde::Serialize)]
struct Applied<'a> {
    env: BTreeMap<&'a str, serde_json::Value>,
    auto_sync: Option<bool>,
    /// Where the user's cache token may go (absent, and so leaving older records valid, when
    /// the manifest names no remote cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<(&'a str, Option<&'a str>)>,
}

/// The digest of what entering a project with `manifest` applies.
pub fn digest(manifest: &Manifest) -> String {
    let env = manifest
        .env
        .iter()
        .map(|(name, value)| {
            let value = match value {
                EnvValue::Value(text) => serde_json::Value::from(text.as_str()),
                EnvValue::Paths(paths) => serde_json::Value::from(paths.clone()),
            };
            (name.as_str(), value)
        })
        .collect();
    let remote = manifest
        .cache
        .as_ref()
        .and_then(|cache| cache.remote.as_ref())
        .map(|remote| (remote.url.as_str(), remote.token.as_deref()));
    let applied = Applied {
        env,
        auto_sync: manifest.auto_sync,
        remote,
    };
    let bytes = serde_json::to_vec(&applied).expect("JSON values serialize");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether the user trusts the project at `root` (canonical) as `manifest` is now; anything
/// that stops the check (no config dir, a broken trust file) means no.
pub fn is_trusted(config: &crate::config::Config, root: &Path, manifest: &Manifest) -> bool {
    TrustStore::from_config(config)
        .and_then(|store| store.status(&root.join(crate::manifest::MANIFEST_FILE), manifest))
        .is_ok_and(|trust| trust == Trust::Trusted)
}

/// A record's key: the path as text (JSON has no other kind).
fn key(manifest_path: &Path) -> Result<&str, TrustError> {
    manifest_path.to_str().ok_or_else(|| TrustError::NotUtf8 {
        path: manifest_path.to_path_buf(),
    })
}

/// The trust records in a config directory.
#[derive(Debug, Clone)]
pub struct TrustStore {
    dir: PathBuf,
}

impl TrustStore {
    /// The store in `dir`, velo's config directory.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The store of the user's config, if there is a config directory.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, TrustError> {
        config
            .dir
            .as_deref()
            .map(Self::new)
            .ok_or(TrustError::NoConfigDir)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(TRUST_FILE)
    }

    fn read(&self) -> Result<TrustFile, TrustError> {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TrustFile {
                    version: VERSION,
                    ..TrustFile::default()
                })
            }
            Err(source) => return Err(TrustError::Io { path, source }),
        };
        let file: TrustFile = serde_json::from_str(&text).map_err(|err| TrustError::Invalid {
            path: path.clone(),
            message: err.to_string(),
        })?;
        if file.version != VERSION {
            return Err(TrustError::Invalid {
                path,
                message: format!("version {} (this velo reads version {VERSION})", file.version),
            });
        }
        Ok(file)
    }

    /// Whether the project whose `velo.json` is at `manifest_path` (canonical) is trusted as
    /// `manifest` is now.
    pub fn status(&self, manifest_path: &Path, manifest: &Manifest) -> Result<Trust, TrustError> {
        let file = self.read()?;
        Ok(match file.trusted.get(key(manifest_path)?) {
            None => Trust::Untrusted,
            Some(record) if record.digest == digest(manifest) => Trust::Trusted,
            Some(_) => Trust::Changed,
        })
    }

    /// Trust the project at `manifest_path` as `manifest` is now.
    pub fn trust(&self, manifest_path: &Path, manifest: &Manifest) -> Result<(), TrustError> {
        let key = key(manifest_path)?.to_string();
        self.update(|file| {
            let record = Record {
                digest: digest(manifest),
            };
            file.trusted.insert(key, record);
        })
    }

    /// Forget the project at `manifest_path`; whether it had a record.
    pub fn untrust(&self, manifest_path: &Path) -> Result<bool, TrustError> {
        let key = key(manifest_path)?;
        let mut removed = false;
        self.update(|file| removed = file.trusted.remove(key).is_some())?;
        Ok(removed)
    }

    fn update(&self, change: impl FnOnce(&mut TrustFile)) -> Result<(), TrustError> {
        let io = |path: PathBuf| move |source| TrustError::Io { path, source };
        fs_err::create_dir_all(&self.dir).map_err(io(self.dir.clone()))?;
        let lock_path = self.dir.join(TRUST_LOCK);
        let _lock = crate::store::FileLock::acquire(&lock_path).map_err(|err| TrustError::Io {
            path: lock_path.clone(),
            source: std::io::Error::other(err.to_string()),
        })?;
        let mut file = self.read()?;
        change(&mut file);
        let mut text = serde_json::to_string_pretty(&file).expect("trust records serialize");
        text.push('\n');
        let path = self.path();
        crate::fs::write_atomic(&path, text.as_bytes()).map_err(io(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::from_str(text, Path::new("velo.json")).unwrap()
    }

    #[test]
    fn a_change_to_what_the_hook_applies_asks_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = TrustStore::new(dir.path());
        let path = Path::new("/p/velo.json");
        let first = manifest(r#"{"env": {"A": "1", "PATH": ["./bin"]}}"#);
        assert_eq!(store.status(path, &first).unwrap(), Trust::Untrusted);
        store.trust(path, &first).unwrap();
        assert_eq!(store.status(path, &first).unwrap(), Trust::Trusted);
        assert_eq!(
            store.status(Path::new("/q/velo.json"), &first).unwrap(),
            Trust::Untrusted
        );
        let tasks = manifest(r#"{"env": {"A": "1", "PATH": ["./bin"]}, "tasks": {"t": {"command": "x"}}}"#);
        assert_eq!(store.status(path, &tasks).unwrap(), Trust::Trusted);
        for changed in [
            r#"{"env": {"A": "2", "PATH": ["./bin"]}}"#,
            r#"{"env": {"A": "1", "PATH": ["./tools"]}}"#,
            r#"{"env": {"A": "1", "PATH": ["./bin"]}, "auto_sync": true}"#,
        ] {
            assert_eq!(
                store.status(path, &manifest(changed)).unwrap(),
                Trust::Changed,
                "{changed}"
            );
        }
        assert!(store.untrust(path).unwrap());
        assert!(!store.untrust(path).unwrap());
        assert_eq!(store.status(path, &first).unwrap(), Trust::Untrusted);
    }

    #[test]
    fn the_digest_is_over_env_then_auto_sync() {
        let m = manifest(r#"{"auto_sync": true, "env": {"B": "2", "A": ["x"]}}"#);
        let expected = br#"{"env":{"A":["x"],"B":"2"},"auto_sync":true}"#;
        assert_eq!(
            digest(&m),
            format!("sha256:{}", hex::encode(Sha256::digest(expected)))
        );
    }

    #[test]
    fn a_broken_file_trusts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = TrustStore::new(dir.path());
        fs_err::write(store.path(), "{").unwrap();
        let m = manifest("{}");
        assert!(store.status(Path::new("/p/velo.json"), &m).is_err());
        assert!(store.trust(Path::new("/p/velo.json"), &m).is_err());
    }
}

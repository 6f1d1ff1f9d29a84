//! `velo.lock`: what `velo lock` decided and `velo sync` installs.
//!
//! The lock records the manifest inputs it was solved from ([`LockInputs`]), so whether it is
//! stale is a comparison, not a re-solve. It is written canonically (sorted keys, two-space
//! indentation, trailing newline) and only when its bytes would change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::manifest::{AssetPattern, BinSelection, Manifest, PackageKey};
use crate::platform::Platform;

pub const LOCK_FILE: &str = "velo.lock";

/// Bumped when the format changes in a way older velo cannot read.
pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    /// The parts of `velo.json` the resolution depends on.
    pub manifest: LockInputs,
    pub packages: BTreeMap<String, LockedPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockInputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    pub platforms: Vec<Platform>,
    /// The manifest's `min_macos`, when set: it picks the macOS Homebrew bottles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_macos: Option<crate::manifest::MacosVersion>,
    pub dependencies: BTreeMap<String, LockedRequirement>,
}

/// A direct dependency as the manifest asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedRequirement {
    pub version: String,
    /// The source, when the long form names one that differs from the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<BinSelection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetPattern>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Vec<Platform>>,
    /// The package's key in `packages`, when resolving gave another than the key alone says:
    /// a Homebrew alias or old name (`python` → `python@3.13`), or `brew:wget` in a project
    /// without a `registry` (Homebrew formulae go by their bare name there). Not an input: a
    /// result remembered so the lock's direct packages are known without asking Homebrew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub version: String,
    /// The tag or version string the source used, when it differs from `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// `index+<registry>`, `github:owner/repo`, …
    pub source: String,
    /// Keys of the locked packages this one depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    pub artifacts: BTreeMap<Platform, Artifact>,
    /// Target platforms the package has no artifact for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<Platform>,
}

/// One downloadable file for one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// An absolute URL, or a path relative to the project root for a local index.
    pub url: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub strip_components: u32,
    /// Command name → path inside the extracted tree.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bin: BTreeMap<String, String>,
    /// Environment the package's commands need, set by a shim in `.velo/bin`. Values may use
    /// `{prefix}` (the package's directory) and `{opt}` (the project's `.velo/opt`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Keys of the locked packages this one depends on for this platform, when that differs
    /// from the package's `dependencies` (Homebrew formulae depend on more on Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<String>>,
    /// Set when the artifact is a Homebrew bottle: how to pour it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bottle: Option<Bottle>,
}

/// What pouring a Homebrew bottle needs beyond unpacking it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bottle {
    /// The formula's canonical name: its directory in `.velo/Cellar` and `.velo/opt`.
    pub formula: String,
    /// The bottle tag chosen for this platform: `x86_64_linux`, `arm64_sonoma`, `all`.
    pub tag: String,
    /// `:any`, `:any_skip_relocation`, or the absolute Cellar path the bottle was built for
    /// (a pinned bottle, with that path compiled in).
    pub cellar: String,
    /// Not linked into `.velo/bin` (Homebrew's `keg_only`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub keg_only: bool,
    /// The formula has a `post_install` step.
    #[serde(default, skip_serializing_if = "is_false")]
    pub post_install: bool,
}

/// `LockedPackage::source` of a Homebrew core formula.
pub const BREW_SOURCE: &str = "brew";

/// Whether `version` is a Homebrew package version velo accepts: it starts with a letter or
/// digit and uses letters, digits and `._+-~` (`3.3.2_1`, `9.5p1`, `2024-01-15`).
pub fn is_brew_version(version: &str) -> bool {
    let mut chars = version.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "._+-~".contains(c))
        && version.len() <= 100
}

/// The lock key a direct dependency's key alone says (without resolving anything).
fn lock_key_of(key: &str, requirement: &LockedRequirement) -> String {
    let source = requirement.source.as_deref().unwrap_or(key);
    source
        .parse::<PackageKey>()
        .map_or_else(|_| key.to_string(), |package| package.lock_key(key))
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a valid lock file: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("`{}` was written by a newer velo (lock format {found}; this velo reads {LOCK_VERSION})", path.display())]
    TooNew { path: PathBuf, found: u32 },
    #[error("refusing to write `{}`: {message}", path.display())]
    Unsafe { path: PathBuf, message: String },
    #[error("failed to write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Invalid { .. } => Some("delete it and run `velo lock` to create it again".to_string()),
            LockError::TooNew { .. } => Some("upgrade velo".to_string()),
            LockError::Unsafe { .. } => Some(
                "a package source gave a `bin` path or `env` name velo refuses; tell its maintainers"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// Why a lock does not match its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    Missing,
    Changed(Vec<String>),
}

impl LockInputs {
    pub fn from_manifest(manifest: &Manifest) -> Self {
        let dependencies = manifest
            .dependencies
            .iter()
            .map(|dep| {
                let source = dep.package.to_string();
                let requirement = LockedRequirement {
                    version: dep.requirement.as_str().to_string(),
                    source: (source != dep.key).then_some(source),
                    bin: dep.bin.clone(),
                    asset: dep.asset.clone(),
                    platforms: dep.platforms.clone(),
                    package: None,
                };
                (dep.key.clone(), requirement)
            })
            .collect();
        Self {
            registry: manifest.registry.clone(),
            platforms: manifest.target_platforms(),
            min_macos: manifest.min_macos,
            dependencies,
        }
    }

    /// Record the lock key each direct dependency resolved to (`direct`: manifest key → lock
    /// key) where it differs from what its key alone says.
    pub fn with_packages(mut self, direct: &BTreeMap<String, String>) -> Self {
        for (key, requirement) in &mut self.dependencies {
            let Some(package) = direct.get(key) else { continue };
            requirement.package = None;
            if *package != lock_key_of(key, requirement) {
                requirement.package = Some(package.clone());
            }
        }
        self
    }

    /// The lock key of the direct dependency `key`.
    pub fn package_of(&self, key: &str) -> Option<String> {
        let requirement = self.dependencies.get(key)?;
        Some(
            requirement
                .package
                .clone()
                .unwrap_or_else(|| lock_key_of(key, requirement)),
        )
    }

    /// The lock keys of the project's direct dependencies.
    pub fn direct_packages(&self) -> std::collections::BTreeSet<String> {
        self.dependencies
            .keys()
            .filter_map(|key| self.package_of(key))
            .collect()
    }

    /// What changed between these inputs (from the lock) and `current` (from the manifest).
    pub fn changes(&self, current: &LockInputs) -> Vec<String> {
        let mut changes = Vec::new();
        if self.registry != current.registry {
            changes.push("`registry` changed".to_string());
        }
        if self.platforms != current.platforms {
            changes.push("`platforms` changed".to_string());
        }
        if self.min_macos != current.min_macos {
            changes.push("`min_macos` changed".to_string());
        }
        for (key, requirement) in &current.dependencies {
            match self.dependencies.get(key) {
                None => changes.push(format!("`{key}` was added")),
                Some(locked) if locked.version != requirement.version => changes.push(format!(
                    "`{key}` changed from `{}` to `{}`",
                    locked.version, requirement.version
                )),
                Some(locked)
                    if LockedRequirement {
                        package: None,
                        ..locked.clone()
                    } != *requirement =>
                {
                    changes.push(format!("`{key}` changed"))
                }
                Some(_) => {}
            }
        }
        for key in self.dependencies.keys() {
            if !current.dependencies.contains_key(key) {
                changes.push(format!("`{key}` was removed"));
            }
        }
        changes
    }
}

impl Lock {
    /// Read `path`; `None` when there is no lock yet.
    pub fn read(path: &Path) -> Result<Option<Lock>, LockError> {
        Ok(Self::read_with_text(path)?.map(|(lock, _)| lock))
    }

    /// Like [`Lock::read`], also returning the text the lock was parsed from.
    pub fn read_with_text(path: &Path) -> Result<Option<(Lock, String)>, LockError> {
        // A FIFO, a device or an endless file at `velo.lock` is refused, not read forever.
        let read = crate::fs::owned::read_regular(path, crate::fs::owned::MAX_PROJECT_FILE)
            .and_then(|bytes| String::from_utf8(bytes).map_err(std::io::Error::other));
        let text = match read {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LockError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let invalid = |err: serde_json::Error| LockError::Invalid {
            path: path.to_path_buf(),
            message: err.to_string(),
        };
        let found = serde_json::from_str::<VersionOnly>(&text)
            .map_err(invalid)?
            .version;
        if found > LOCK_VERSION {
            return Err(LockError::TooNew {
                path: path.to_path_buf(),
                found,
            });
        }
        let lock: Lock = serde_json::from_str(&text).map_err(invalid)?;
        lock.validate().map_err(|message| LockError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(Some((lock, text)))
    }

    /// Refuse a lock whose names, versions, digests or paths could lead a sync outside the
    /// project or the store: a lock comes from the repository, and a repository can be hostile.
    pub fn validate(&self) -> Result<(), String> {
        use crate::manifest::{
            check_bin_path, check_bin_selection, is_valid_command_name, is_valid_env_name,
        };
        for (key, requirement) in &self.manifest.dependencies {
            if let Some(bin) = &requirement.bin {
                check_bin_selection(bin).map_err(|why| format!("dependency `{key}`: {why}"))?;
            }
        }
        for (key, requirement) in &self.manifest.dependencies {
            if let Some(package) = &requirement.package {
                if package.parse::<PackageKey>().is_err() {
                    return Err(format!("dependency `{key}` names an invalid package `{package}`"));
                }
            }
        }
        for (name, package) in &self.packages {
            let key_ok = name.parse::<PackageKey>().is_ok();
            if !key_ok {
                return Err(format!("package `{name}` has an invalid name"));
            }
            let canonical = crate::version::Version::parse_lenient(&package.version).map(|v| v.to_string());
            // Homebrew versions are kept as Homebrew spells them (`3.3.2_1`, `9.5p1`); they
            // name a Cellar directory, so they are held to a plain file-name alphabet.
            let exact_ok = package.source == BREW_SOURCE && is_brew_version(&package.version);
            if (canonical.as_deref() != Ok(package.version.as_str()) && !exact_ok)
                || !crate::manifest::is_valid_command_name(&package.version)
            {
                return Err(format!(
                    "package `{name}` has an invalid version `{}`",
                    package.version
                ));
            }
            for (platform, artifact) in &package.artifacts {
                if artifact.sha256.len() != 64
                    || !artifact
                        .sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(format!("`{name}` has an invalid sha256 for {platform}"));
                }
                for (command, path) in &artifact.bin {
                    let problem = if is_valid_command_name(command) {
                        check_bin_path(path).err()
                    } else {
                        Some(format!("`{command}` is not a command name"))
                    };
                    if let Some(why) = problem {
                        return Err(format!(
                            "`{name}` has an unsafe `bin` entry `{command}` -> `{path}` for {platform}: {why}"
                        ));
                    }
                }
                for (variable, value) in &artifact.env {
                    // These become lines of a shell script: a name that is not a variable
                    // name would run code.
                    if !is_valid_env_name(variable) || value.contains('\0') {
                        return Err(format!(
                            "`{name}` has an invalid `env` entry `{variable}` for {platform} (names use letters, digits and `_`, not starting with a digit)"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether this lock was solved from `manifest` as it is now.
    pub fn staleness(lock: Option<&Lock>, manifest: &Manifest) -> Option<Staleness> {
        let Some(lock) = lock else {
            return Some(Staleness::Missing);
        };
        let mut changes = lock.manifest.changes(&LockInputs::from_manifest(manifest));
        for dep in manifest
            .dependencies
            .iter()
            .filter(|dep| lock.manifest.dependencies.contains_key(&dep.key))
        {
            let package = lock
                .manifest
                .package_of(&dep.key)
                .unwrap_or_else(|| dep.lock_key());
            if !lock.packages.contains_key(&package) {
                changes.push(format!("`{}` is missing from `packages`", dep.key));
            }
        }
        (!changes.is_empty()).then_some(Staleness::Changed(changes))
    }

    /// The canonical text of this lock.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a lock always serializes");
        text.push('\n');
        text
    }

    /// Write the lock to `path` unless the file already holds exactly this content.
    /// Returns whether the file was written.
    pub fn write_if_changed(&self, path: &Path) -> Result<bool, LockError> {
        // Never write a lock that reading it back would refuse.
        self.validate().map_err(|message| LockError::Unsafe {
            path: path.to_path_buf(),
            message,
        })?;
        let text = self.to_text();
        let existing = crate::fs::owned::read_regular(path, crate::fs::owned::MAX_PROJECT_FILE);
        if existing.is_ok_and(|existing| existing == text.as_bytes()) {
            return Ok(false);
        }
        crate::fs::write_atomic(path, text.as_bytes()).map_err(|source| LockError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(true)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A lock of `python` (an alias of `python@3.13`) in a project without a registry; on
    /// Linux only, `python@3.13` also needs `zlib`.
    pub(crate) const BREW_LOCK: &str = r#"{
      "version": 1,
      "manifest": {
        "platforms": ["linux-x86_64", "macos-aarch64"],
        "dependencies": {"python": {"version": "*", "package": "python@3.13"}}
      },
      "packages": {
        "python@3.13": {"version": "3.13.1_1", "source": "brew", "dependencies": ["mpdecimal", "zlib"],
          "artifacts": {
            "linux-x86_64": {"url": "https://ghcr.io/v2/homebrew/core/python/3.13/blobs/sha256:1111111111111111111111111111111111111111111111111111111111111111",
              "sha256": "1111111111111111111111111111111111111111111111111111111111111111", "size": 1, "format": "tar.gz", "strip_components": 2,
              "dependencies": ["mpdecimal", "zlib"],
              "bottle": {"formula": "python@3.13", "tag": "x86_64_linux", "cellar": ":any"}},
            "macos-aarch64": {"url": "https://ghcr.io/v2/homebrew/core/python/3.13/blobs/sha256:2222222222222222222222222222222222222222222222222222222222222222",
              "sha256": "2222222222222222222222222222222222222222222222222222222222222222", "size": 1, "format": "tar.gz", "strip_components": 2,
              "dependencies": ["mpdecimal"],
              "bottle": {"formula": "python@3.13", "tag": "arm64_sonoma", "cellar": ":any"}}
          }},
        "mpdecimal": {"version": "4.0.0", "source": "brew", "artifacts": {
            "linux-x86_64": {"url": "u", "sha256": "3333333333333333333333333333333333333333333333333333333333333333", "size": 1, "dependencies": []},
            "macos-aarch64": {"url": "u", "sha256": "4444444444444444444444444444444444444444444444444444444444444444", "size": 1, "dependencies": []}
          }},
        "zlib": {"version": "1.3.1", "source": "brew", "artifacts": {
            "linux-x86_64": {"url": "u", "sha256": "5555555555555555555555555555555555555555555555555555555555555555", "size": 1, "dependencies": []}
          }, "unavailable": ["macos-aarch64"]}
      }
    }"#;

    pub(crate) fn brew_lock() -> Lock {
        let lock: Lock = serde_json::from_str(BREW_LOCK).unwrap();
        lock.validate().unwrap();
        lock
    }

    #[test]
    fn an_alias_is_remembered_as_the_direct_package() {
        let lock = brew_lock();
        assert_eq!(lock.manifest.package_of("python").as_deref(), Some("python@3.13"));
        assert_eq!(
            lock.manifest.direct_packages(),
            std::collections::BTreeSet::from(["python@3.13".to_string()])
        );
        let manifest = Manifest::from_str(
            r#"{"platforms": ["linux-x86_64", "macos-aarch64"], "dependencies": {"python": "*"}}"#,
            Path::new("velo.json"),
        )
        .unwrap();
        assert_eq!(Lock::staleness(Some(&lock), &manifest), None);
        let changed = Manifest::from_str(
            r#"{"platforms": ["linux-x86_64", "macos-aarch64"], "dependencies": {"python": "^3"}}"#,
            Path::new("velo.json"),
        )
        .unwrap();
        assert!(Lock::staleness(Some(&lock), &changed).is_some());
    }

    #[test]
    fn homebrew_versions_are_kept_as_spelled_and_checked() {
        let mut lock = brew_lock();
        assert_eq!(lock.packages["python@3.13"].version, "3.13.1_1");
        lock.packages.get_mut("zlib").unwrap().version = "../x".to_string();
        assert!(lock.validate().unwrap_err().contains("invalid version"));
        // Only Homebrew packages may use Homebrew's spelling.
        let mut lock = brew_lock();
        lock.packages.get_mut("zlib").unwrap().source = "index+https://example.com/".to_string();
        lock.packages.get_mut("zlib").unwrap().version = "1.3.1_1".to_string();
        assert!(lock.validate().is_err());
        let mut lock = brew_lock();
        lock.manifest.dependencies.get_mut("python").unwrap().package = Some("../python".to_string());
        assert!(lock.validate().unwrap_err().contains("invalid package"));
    }
}

//! `velo.json`: the project manifest.
//!
//! [`Manifest`] is what the rest of velo reads; [`load`] finds and parses it with errors that
//! point at a line and column; [`edit`] changes it for `velo add` and `velo remove` without
//! disturbing the user's formatting or key order.

mod edit;
mod expand;
mod key;
mod load;
mod macos;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;

pub use edit::{EditError, ManifestEditor};
pub use expand::{ExpandError, Expansion};
pub use key::{is_valid_name, PackageKey, PackageKeyError, PackageSource};
pub use load::{find_project_root, ManifestError, MANIFEST_FILE};
pub use macos::{MacosVersion, MacosVersionError, CODENAMES as MACOS_CODENAMES};

use crate::platform::Platform;
use crate::version::VersionReq;

/// A parsed `velo.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "$schema")]
    pub schema: Option<String>,
    pub name: Option<String>,
    /// Where bare package names resolve: a velo index URL or a path relative to `velo.json`.
    pub registry: Option<String>,
    pub platforms: Option<Vec<Platform>>,
    #[serde(default)]
    pub dependencies: Dependencies,
    /// Homebrew taps, kept for compatibility with Velocity manifests.
    #[serde(default)]
    pub taps: Vec<String>,
    #[serde(default, deserialize_with = "env_map")]
    pub env: BTreeMap<String, EnvValue>,
    #[serde(default)]
    pub tasks: BTreeMap<String, Task>,
    pub workspace: Option<Workspace>,
    pub cache: Option<CacheSettings>,
    pub auto_sync: Option<bool>,
    /// The oldest macOS the project supports (default 14): picks its macOS Homebrew bottles.
    pub min_macos: Option<MacosVersion>,
}

/// One entry of `dependencies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The key as written in `velo.json`.
    pub key: String,
    /// Where the package comes from: the key itself, or the `source` of the long form.
    pub package: PackageKey,
    pub requirement: VersionReq,
    /// Executables to expose, when the package's own list should be narrowed or renamed.
    pub bin: Option<BinSelection>,
    /// Asset name patterns for forge sources, for all platforms or per platform.
    pub asset: Option<AssetPattern>,
    /// Platforms on which this dependency is wanted (default: all of the project's).
    pub platforms: Option<Vec<Platform>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum BinSelection {
    Names(Vec<String>),
    Map(BTreeMap<String, String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum AssetPattern {
    All(String),
    PerPlatform(BTreeMap<Platform, String>),
}

impl Dependency {
    /// The package's key in the solver and in `velo.lock` (see [`PackageKey::lock_key`]).
    pub fn lock_key(&self) -> String {
        self.package.lock_key(&self.key)
    }
}

/// Whether `name` can be a shell variable: letters, digits and `_`, not starting with a digit.
/// Anything else could not be exported, and would be a way to run code in the shell hook.
pub fn is_valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` can be a command in `.velo/bin` (or a version's directory in the Cellar): one
/// file name, no separators, short enough for any file system (255 bytes).
pub fn is_valid_command_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Check a `bin` path, which names a file inside a package: relative, with no `..` and no
/// drive or root, so it cannot name a file elsewhere (`/bin/rm`, `../../usr/bin/id`). Links
/// inside the package are checked when it is installed.
pub fn check_bin_path(path: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{path}` {why}"));
    if path.is_empty() {
        return bad("is empty");
    }
    if path.starts_with(['/', '\\']) || path.contains(':') {
        return bad("is absolute; use a path relative to the package's directory");
    }
    if path.contains('\0') {
        return bad("contains a NUL byte");
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return bad("leaves the package's directory with `..`");
    }
    Ok(())
}

/// Check a `bin` selection: command names that are file names, and paths inside the package.
pub fn check_bin_selection(selection: &BinSelection) -> Result<(), String> {
    let check_name = |name: &str| {
        if is_valid_command_name(name) {
            Ok(())
        } else {
            Err(format!("`{name}` is not a command name"))
        }
    };
    match selection {
        BinSelection::Names(names) => names.iter().try_for_each(|name| check_name(name)),
        BinSelection::Map(map) => map.iter().try_for_each(|(name, path)| {
            check_name(name)?;
            check_bin_path(path).map_err(|why| format!("`bin` entry `{name}`: {why}"))
        }),
    }
}

/// `env`, refusing names that are not variable names (with the position of the bad one).
fn env_map<'de, D: de::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, EnvValue>, D::Error> {
    struct EnvVisitor;

    impl<'de> Visitor<'de> for EnvVisitor {
        type Value = BTreeMap<String, EnvValue>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object mapping variable names to values")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut vars = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                if !is_valid_env_name(&name) {
                    return Err(de::Error::custom(format!(
                        "`{name}` is not a variable name (use letters, digits and `_`, not starting with a digit)"
                    )));
                }
                let value: EnvValue = map.next_value()?;
                vars.insert(name, value);
            }
            Ok(vars)
        }
    }

    deserializer.deserialize_map(EnvVisitor)
}

/// The dependencies in the order they are written.
#[derive(Debug, Clone, Default)]
pub struct Dependencies(pub Vec<Dependency>);

impl Dependencies {
    pub fn iter(&self) -> std::slice::Iter<'_, Dependency> {
        self.0.iter()
    }

    pub fn get(&self, key: &str) -> Option<&Dependency> {
        self.0.iter().find(|dep| dep.key == key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// A value in `env`: a plain string, or a list of paths to put in front of the variable.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Value(String),
    Paths(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub command: String,
    pub description: Option<String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub depends_on: Vec<String>,
    pub env: Vec<String>,
    pub cache: bool,
    pub cwd: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFields {
    command: String,
    description: Option<String>,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    outputs: Vec<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default = "default_true")]
    cache: bool,
    cwd: Option<String>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workspace {
    /// In a workspace root: globs of member directories.
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// In a member: the other members it depends on, by name or by path from the root.
    #[serde(default)]
    pub dependencies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    pub dir: Option<String>,
    pub remote: Option<RemoteCache>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteCache {
    pub url: String,
    pub token: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    pub timeout_secs: Option<u64>,
}

impl Manifest {
    /// Parse a manifest from text; `path` is only used in error messages.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, ManifestError> {
        load::parse(text, path)
    }

    /// The platforms the project targets, sorted.
    pub fn target_platforms(&self) -> Vec<Platform> {
        let mut platforms = self
            .platforms
            .clone()
            .unwrap_or_else(|| Platform::DEFAULT_TARGETS.to_vec());
        platforms.sort();
        platforms.dedup();
        platforms
    }

    /// The oldest macOS the project supports.
    pub fn min_macos(&self) -> MacosVersion {
        self.min_macos.unwrap_or(MacosVersion::DEFAULT)
    }
}

/// Where a project lives: its root directory and its parsed manifest.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub manifest: Manifest,
}

impl Project {
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST_FILE)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(crate::lock::LOCK_FILE)
    }

    /// Find the nearest `velo.json` at or above `start` and parse it.
    pub fn discover(start: &Path) -> Result<Self, ManifestError> {
        let root = find_project_root(start)?;
        Self::load(&root)
    }

    /// Parse the `velo.json` in `root`.
    pub fn load(root: &Path) -> Result<Self, ManifestError> {
        let path = root.join(MANIFEST_FILE);
        let text = crate::fs::owned::read_regular(&path, crate::fs::owned::MAX_PROJECT_FILE)
            .and_then(|bytes| String::from_utf8(bytes).map_err(std::io::Error::other))
            .map_err(|source| ManifestError::Read {
                path: path.clone(),
                source,
            })?;
        let manifest = Manifest::from_str(&text, &path)?;
        Ok(Self {
            root: root.to_path_buf(),
            manifest,
        })
    }
}

impl<'de> Deserialize<'de> for Dependencies {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DependenciesVisitor;

        impl<'de> Visitor<'de> for DependenciesVisitor {
            type Value = Dependencies;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping package names to version requirements")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut dependencies: Vec<Dependency> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let package: PackageKey = key.parse().map_err(de::Error::custom)?;
                    if dependencies.iter().any(|dep| dep.key == key) {
                        return Err(de::Error::custom(format!("dependency `{key}` is listed twice")));
                    }
                    let spec: DependencySpec = map.next_value()?;
                    if let Some(bin) = &spec.bin {
                        check_bin_selection(bin)
                            .map_err(|why| de::Error::custom(format!("dependency `{key}`: {why}")))?;
                    }
                    let package = match spec.source {
                        Some(source) => source.parse().map_err(de::Error::custom)?,
                        None => package,
                    };
                    dependencies.push(Dependency {
                        key,
                        package,
                        requirement: spec.requirement,
                        bin: spec.bin,
                        asset: spec.asset,
                        platforms: spec.platforms,
                    });
                }
                Ok(Dependencies(dependencies))
            }
        }

        deserializer.deserialize_map(DependenciesVisitor)
    }
}

/// A dependency's value: `"^1.7"` or `{"version": "^1.7", "source": …, "bin": …}`.
struct DependencySpec {
    requirement: VersionReq,
    source: Option<String>,
    bin: Option<BinSelection>,
    asset: Option<AssetPattern>,
    platforms: Option<Vec<Platform>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DependencyFields {
    version: Option<String>,
    source: Option<String>,
    bin: Option<BinSelection>,
    asset: Option<AssetPattern>,
    platforms: Option<Vec<Platform>>,
}

fn parse_requirement<E: de::Error>(text: &str) -> Result<VersionReq, E> {
    text.parse().map_err(|err| {
        de::Error::custom(format!(
            "{err}; expected a Cargo-style requirement such as `^1.7`, `~1.2.3`, `>=1, <2` or `*`"
        ))
    })
}

impl<'de> Deserialize<'de> for DependencySpec {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;

        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = DependencySpec;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a version requirement string or an object with `version`, `source`, `bin`")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(DependencySpec {
                    requirement: parse_requirement(text)?,
                    source: None,
                    bin: None,
                    asset: None,
                    platforms: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let fields = DependencyFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let requirement = match &fields.version {
                    Some(text) => parse_requirement(text)?,
                    None => VersionReq::any(),
                };
                Ok(DependencySpec {
                    requirement,
                    source: fields.source,
                    bin: fields.bin,
                    asset: fields.asset,
                    platforms: fields.platforms,
                })
            }
        }

        deserializer.deserialize_any(SpecVisitor)
    }
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TaskVisitor;

        impl<'de> Visitor<'de> for TaskVisitor {
            type Value = Task;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or an object with `command`")
            }

            fn visit_str<E: de::Error>(self, command: &str) -> Result<Self::Value, E> {
                Ok(Task {
                    command: command.to_string(),
                    description: None,
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    depends_on: Vec::new(),
                    env: Vec::new(),
                    cache: true,
                    cwd: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let f = TaskFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Task {
                    command: f.command,
                    description: f.description,
                    inputs: f.inputs,
                    outputs: f.outputs,
                    depends_on: f.depends_on,
                    env: f.env,
                    cache: f.cache,
                    cwd: f.cwd,
                })
            }
        }

        deserializer.deserialize_any(TaskVisitor)
    }
}

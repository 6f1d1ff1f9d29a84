//! One formula record from the formulae API, read for one platform: `variations.<tag>` merged
//! over the base record first (shallow, per top-level key, as Homebrew does), then only the
//! fields a lock needs.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::bottle::{self, BottleFile, Selection};
use crate::manifest::MacosVersion;
use crate::platform::Platform;
use crate::version::Version;

/// A formula record as the API serves it, parsed once.
#[derive(Debug, Clone)]
pub struct Formula {
    base: Map<String, Value>,
    /// The canonical name, version and flags, which no variation changes in practice; read
    /// from the base record.
    pub common: Record,
}

/// The fields of a record velo reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Record {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub versions: Versions,
    #[serde(default, deserialize_with = "nullable")]
    pub revision: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub bottle: Bottles,
    #[serde(default, deserialize_with = "nullable")]
    pub dependencies: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub recommended_dependencies: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub uses_from_macos: Vec<UsesFromMacos>,
    #[serde(default, deserialize_with = "nullable")]
    pub requirements: Vec<Requirement>,
    #[serde(default, deserialize_with = "nullable")]
    pub keg_only: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub disabled: bool,
    #[serde(default)]
    pub disable_reason: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub post_install_defined: bool,
    #[serde(default)]
    pub pour_bottle_only_if: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Versions {
    #[serde(default)]
    pub stable: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Bottles {
    #[serde(default)]
    pub stable: Option<StableBottles>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StableBottles {
    #[serde(default, deserialize_with = "nullable")]
    pub rebuild: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub files: BTreeMap<String, BottleFile>,
}

/// `"zlib"`, or `{"python": "build"}` / `{"python": ["build", "test"]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum UsesFromMacos {
    Name(String),
    Tagged(BTreeMap<String, Value>),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Requirement {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub contexts: Vec<String>,
}

/// `null` reads as the default, as Homebrew writes `null` for many empty fields.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// What a formula offers one platform.
#[derive(Debug, Clone)]
pub struct PlatformView {
    /// The tag whose variation was merged (`x86_64_linux`, `arm64_sonoma`).
    pub variation: String,
    /// Runtime dependencies by formula name, sorted.
    pub dependencies: Vec<String>,
    /// Why the formula cannot be installed here (a requirement), if it cannot.
    pub excluded: Option<String>,
    /// The bottle chosen for this platform and why the other tags were not.
    pub selection: Selection,
    pub keg_only: bool,
    pub post_install: bool,
}

impl Formula {
    pub fn parse(json: &str) -> Result<Self, String> {
        let base: Map<String, Value> = serde_json::from_str(json)
            .map_err(|err| format!("the formula record is not valid JSON: {err}"))?;
        let common: Record = serde_json::from_value(Value::Object(base.clone()))
            .map_err(|err| format!("the formula record has an unexpected shape: {err}"))?;
        Ok(Self { base, common })
    }

    /// The record with `variations.<tag>` merged over it, key by key.
    fn merged(&self, tag: &str) -> Result<Record, String> {
        let mut record = self.base.clone();
        if let Some(Value::Object(variation)) = self
            .base
            .get("variations")
            .and_then(|variations| variations.get(tag))
        {
            for (key, value) in variation {
                record.insert(key.clone(), value.clone());
            }
        }
        serde_json::from_value(Value::Object(record))
            .map_err(|err| format!("the `{tag}` variation of the record has an unexpected shape: {err}"))
    }

    /// The package version: `stable`, plus `_REVISION` when the revision is not zero.
    pub fn pkg_version(&self) -> Option<String> {
        let stable = self.common.versions.stable.as_deref()?;
        Some(match self.common.revision {
            0 => stable.to_string(),
            revision => format!("{stable}_{revision}"),
        })
    }

    /// The solver's version: the numbers of `stable` (`9.5p1` → 9.5.1, never a prerelease),
    /// then the revision as one more component, so `^1.7` matches `1.7.1_1`.
    pub fn solver_version(&self) -> Option<Version> {
        let stable = self.common.versions.stable.as_deref()?;
        let mut parts: Vec<u64> = stable
            .split(|c: char| !c.is_ascii_digit())
            .filter(|part| !part.is_empty())
            .map(|part| part.parse::<u64>().unwrap_or(u64::MAX - 1))
            .collect();
        if parts.is_empty() {
            parts.push(0);
        }
        if self.common.revision > 0 {
            parts.resize(parts.len().max(3), 0);
            parts.push(u64::from(self.common.revision));
        }
        Some(Version::new(&parts))
    }

    /// The formula read for `platform`; `None` for platforms Homebrew has no bottles for.
    pub fn for_platform(
        &self,
        platform: Platform,
        min_macos: MacosVersion,
    ) -> Result<Option<PlatformView>, String> {
        let Some(variation) = variation_tag(platform, min_macos) else {
            return Ok(None);
        };
        let record = self.merged(&variation)?;
        let linux = matches!(platform, Platform::LinuxX86_64 | Platform::LinuxAarch64);
        let mut dependencies: Vec<String> = record
            .dependencies
            .iter()
            .chain(&record.recommended_dependencies)
            .cloned()
            .collect();
        if linux {
            dependencies.extend(record.uses_from_macos.iter().filter_map(runtime_use));
        }
        dependencies.sort();
        dependencies.dedup();
        let excluded = record
            .requirements
            .iter()
            .find_map(|requirement| excluded_by(requirement, platform, min_macos));
        let files = record
            .bottle
            .stable
            .as_ref()
            .map(|stable| &stable.files)
            .cloned()
            .unwrap_or_default();
        Ok(Some(PlatformView {
            variation,
            dependencies,
            excluded,
            selection: bottle::select(&files, platform, min_macos),
            keg_only: record.keg_only,
            post_install: record.post_install_defined,
        }))
    }

    /// Why this formula cannot be locked at all, naming it.
    pub fn refusal(&self) -> Option<String> {
        let name = &self.common.name;
        if self.common.disabled {
            let reason = match &self.common.disable_reason {
                Some(Value::String(reason)) => format!(" ({})", reason.replace('_', " ")),
                _ => String::new(),
            };
            return Some(format!("the Homebrew formula `{name}` is disabled{reason}"));
        }
        if self.common.pour_bottle_only_if.as_deref() == Some("default_prefix") {
            return Some(format!(
                "the Homebrew formula `{name}`'s bottles may only be poured into Homebrew's default prefix"
            ));
        }
        if self.common.versions.stable.is_none() {
            return Some(format!("the Homebrew formula `{name}` has no stable version"));
        }
        None
    }

    /// The rebuild number of the stable bottles (part of the image tag on ghcr).
    pub fn rebuild(&self) -> u32 {
        self.common
            .bottle
            .stable
            .as_ref()
            .map_or(0, |stable| stable.rebuild)
    }
}

/// The variation (and bottle-tag family) of `platform`: `x86_64_linux`, `arm64_linux`,
/// `arm64_<codename>` and `<codename>` on macOS for the project's oldest macOS.
pub fn variation_tag(platform: Platform, min_macos: MacosVersion) -> Option<String> {
    match platform {
        Platform::LinuxX86_64 => Some("x86_64_linux".to_string()),
        Platform::LinuxAarch64 => Some("arm64_linux".to_string()),
        Platform::MacosAarch64 => Some(format!("arm64_{}", min_macos.codename())),
        Platform::MacosX86_64 => Some(min_macos.codename().to_string()),
        Platform::WindowsX86_64 | Platform::WindowsAarch64 => None,
    }
}

/// The formula name of a `uses_from_macos` entry that is needed at run time (on Linux).
fn runtime_use(entry: &UsesFromMacos) -> Option<String> {
    match entry {
        UsesFromMacos::Name(name) => Some(name.clone()),
        UsesFromMacos::Tagged(map) => {
            let (name, tags) = map.iter().next()?;
            let tags: Vec<&str> = match tags {
                Value::String(tag) => vec![tag.as_str()],
                Value::Array(tags) => tags.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let build_only = tags
                .iter()
                .any(|tag| matches!(*tag, "build" | "test" | "optional"));
            (!build_only).then(|| name.clone())
        }
    }
}

/// Why `requirement` rules `platform` out, if it does. Build-time requirements (Xcode to
/// compile) do not matter for a bottle.
fn excluded_by(requirement: &Requirement, platform: Platform, min_macos: MacosVersion) -> Option<String> {
    if requirement
        .contexts
        .iter()
        .any(|context| context == "build" || context == "test")
    {
        return None;
    }
    let macos = matches!(platform, Platform::MacosAarch64 | Platform::MacosX86_64);
    match requirement.name.as_str() {
        "macos" if !macos => Some("it needs macOS".to_string()),
        "macos" => {
            let needed = requirement
                .version
                .as_deref()
                .and_then(|version| version.parse::<MacosVersion>().ok())?;
            (needed > min_macos).then(|| {
                format!("it needs macOS {needed} or newer, and the project supports macOS {min_macos} (`min_macos`)")
            })
        }
        "linux" if macos => Some("it needs Linux".to_string()),
        "arch" => {
            let wanted = match requirement.version.as_deref()? {
                "arm64" | "aarch64" | "arm" => "arm64",
                "x86_64" | "intel" => "x86_64",
                _ => return None,
            };
            let here = match platform {
                Platform::LinuxAarch64 | Platform::MacosAarch64 | Platform::WindowsAarch64 => "arm64",
                _ => "x86_64",
            };
            (wanted != here).then(|| format!("it needs an {wanted} machine"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like homebrew-core's `curl` record (trimmed): a Linux variation adds
    /// dependencies, `uses_from_macos` mixes plain and build-only entries.
    const CURL: &str = r#"{
      "name": "curl", "full_name": "curl", "tap": "homebrew/core", "oldnames": [], "aliases": [],
      "versions": {"stable": "8.11.1", "head": "HEAD", "bottle": true},
      "revision": 1, "version_scheme": 0,
      "bottle": {"stable": {"rebuild": 0, "root_url": "https://ghcr.io/v2/homebrew/core",
        "files": {
          "arm64_sequoia": {"cellar": ":any", "url": "https://ghcr.io/v2/homebrew/core/curl/blobs/sha256:aa", "sha256": "aa"},
          "arm64_sonoma": {"cellar": ":any", "url": "https://ghcr.io/v2/homebrew/core/curl/blobs/sha256:bb", "sha256": "bb"},
          "arm64_ventura": {"cellar": ":any", "url": "https://ghcr.io/v2/homebrew/core/curl/blobs/sha256:cc", "sha256": "cc"},
          "sonoma": {"cellar": ":any", "url": "https://ghcr.io/v2/homebrew/core/curl/blobs/sha256:dd", "sha256": "dd"},
          "x86_64_linux": {"cellar": "/home/linuxbrew/.linuxbrew/Cellar", "url": "https://ghcr.io/v2/homebrew/core/curl/blobs/sha256:ee", "sha256": "ee"}
        }}},
      "keg_only": true, "keg_only_reason": {"reason": ":provided_by_macos", "explanation": ""},
      "build_dependencies": ["pkgconf"],
      "dependencies": ["brotli", "libnghttp2", "libssh2", "openssl@3", "zstd"],
      "test_dependencies": [], "recommended_dependencies": [], "optional_dependencies": [],
      "uses_from_macos": [{"krb5": "build"}, "openldap", {"python": ["build", "test"]}, "zlib"],
      "uses_from_macos_bounds": [{}, {}, {}, {}],
      "requirements": [],
      "disabled": false, "disable_date": null, "disable_reason": null,
      "deprecated": false, "post_install_defined": false, "pour_bottle_only_if": null,
      "variations": {
        "x86_64_linux": {"dependencies": ["brotli", "libnghttp2", "libssh2", "openssl@3", "zstd", "krb5"]},
        "arm64_linux": {"dependencies": ["brotli", "openssl@3"]}
      }
    }"#;

    #[test]
    fn variation_and_uses_from_macos_per_platform() {
        let formula = Formula::parse(CURL).unwrap();
        let min = MacosVersion::DEFAULT;
        let linux = formula.for_platform(Platform::LinuxX86_64, min).unwrap().unwrap();
        assert_eq!(
            linux.dependencies,
            [
                "brotli",
                "krb5",
                "libnghttp2",
                "libssh2",
                "openldap",
                "openssl@3",
                "zlib",
                "zstd"
            ]
        );
        let arm_linux = formula
            .for_platform(Platform::LinuxAarch64, min)
            .unwrap()
            .unwrap();
        assert_eq!(
            arm_linux.dependencies,
            ["brotli", "openldap", "openssl@3", "zlib"]
        );
        assert_eq!(arm_linux.selection.chosen, None, "no arm64_linux bottle");
        let mac = formula
            .for_platform(Platform::MacosAarch64, min)
            .unwrap()
            .unwrap();
        assert_eq!(mac.variation, "arm64_sonoma");
        assert_eq!(
            mac.dependencies,
            ["brotli", "libnghttp2", "libssh2", "openssl@3", "zstd"]
        );
        assert_eq!(mac.selection.chosen.as_deref(), Some("arm64_sonoma"));
        assert!(mac.keg_only);
        assert!(formula
            .for_platform(Platform::WindowsX86_64, min)
            .unwrap()
            .is_none());
    }

    #[test]
    fn versions_carry_the_revision_and_are_never_prereleases() {
        let formula = Formula::parse(CURL).unwrap();
        assert_eq!(formula.pkg_version().as_deref(), Some("8.11.1_1"));
        let version = formula.solver_version().unwrap();
        assert!("^8.11"
            .parse::<crate::version::VersionReq>()
            .unwrap()
            .matches(&version));
        assert!(!"^8.12"
            .parse::<crate::version::VersionReq>()
            .unwrap()
            .matches(&version));

        let openssh =
            Formula::parse(r#"{"name": "openssh", "versions": {"stable": "9.5p1"}, "revision": 0}"#).unwrap();
        let version = openssh.solver_version().unwrap();
        assert!(!version.is_prerelease());
        assert!("^9.5"
            .parse::<crate::version::VersionReq>()
            .unwrap()
            .matches(&version));
        assert_eq!(openssh.pkg_version().as_deref(), Some("9.5p1"));
    }

    #[test]
    fn requirements_exclude_platforms() {
        let record = r#"{"name": "macos-only", "versions": {"stable": "1.0"},
          "requirements": [{"name": "macos", "cask": null, "download": null, "version": "15", "contexts": [], "specs": ["stable"]},
                           {"name": "xcode", "version": "16.0", "contexts": ["build"]}]}"#;
        let formula = Formula::parse(record).unwrap();
        let linux = formula
            .for_platform(Platform::LinuxX86_64, MacosVersion::DEFAULT)
            .unwrap()
            .unwrap();
        assert_eq!(linux.excluded.as_deref(), Some("it needs macOS"));
        let mac = formula
            .for_platform(Platform::MacosAarch64, MacosVersion::DEFAULT)
            .unwrap()
            .unwrap();
        assert!(mac.excluded.unwrap().contains("macOS 15 or newer"));
        let mac = formula
            .for_platform(Platform::MacosAarch64, MacosVersion::new(15, 0))
            .unwrap()
            .unwrap();
        assert_eq!(mac.excluded, None);
    }

    #[test]
    fn disabled_and_default_prefix_only_are_refused() {
        let disabled = Formula::parse(
            r#"{"name": "old", "versions": {"stable": "1"}, "disabled": true, "disable_reason": "no_license"}"#,
        )
        .unwrap();
        assert_eq!(
            disabled.refusal().unwrap(),
            "the Homebrew formula `old` is disabled (no license)"
        );
        let prefix = Formula::parse(
            r#"{"name": "pinned", "versions": {"stable": "1"}, "pour_bottle_only_if": "default_prefix"}"#,
        )
        .unwrap();
        assert!(prefix.refusal().unwrap().contains("`pinned`"));
        assert!(Formula::parse(CURL).unwrap().refusal().is_none());
    }
}

//! Target platforms: the names used in `velo.json`, the index and `velo.lock`, and detection of
//! the platform velo is running on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An operating system and CPU architecture pair that a project can target. Ordered by name, so
/// maps keyed by platform serialize sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    LinuxX86_64,
    LinuxAarch64,
    MacosX86_64,
    MacosAarch64,
    WindowsX86_64,
    WindowsAarch64,
}

impl Platform {
    /// Every platform velo knows, in a stable order.
    pub const ALL: [Platform; 6] = [
        Platform::LinuxX86_64,
        Platform::LinuxAarch64,
        Platform::MacosX86_64,
        Platform::MacosAarch64,
        Platform::WindowsX86_64,
        Platform::WindowsAarch64,
    ];

    /// The platforms a project targets when `velo.json` does not list any.
    pub const DEFAULT_TARGETS: [Platform; 4] = [
        Platform::LinuxX86_64,
        Platform::LinuxAarch64,
        Platform::MacosX86_64,
        Platform::MacosAarch64,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::LinuxX86_64 => "linux-x86_64",
            Platform::LinuxAarch64 => "linux-aarch64",
            Platform::MacosX86_64 => "macos-x86_64",
            Platform::MacosAarch64 => "macos-aarch64",
            Platform::WindowsX86_64 => "windows-x86_64",
            Platform::WindowsAarch64 => "windows-aarch64",
        }
    }

    /// Read names people write for platforms: `linux-amd64`, `darwin-arm64`, `x86_64-linux`.
    pub fn from_alias(name: &str) -> Option<Platform> {
        let lower = name.to_ascii_lowercase();
        let words: Vec<&str> = lower.split(['-', '_', '/', ' ']).collect();
        let os = if words.contains(&"linux") {
            "linux"
        } else if words
            .iter()
            .any(|w| matches!(*w, "macos" | "darwin" | "osx" | "mac" | "apple"))
        {
            "macos"
        } else if words.iter().any(|w| matches!(*w, "windows" | "win" | "win64")) {
            "windows"
        } else {
            return None;
        };
        let arch = if lower.contains("x86_64") || words.iter().any(|w| matches!(*w, "amd64" | "x64" | "x86"))
        {
            "x86_64"
        } else if words.iter().any(|w| matches!(*w, "aarch64" | "arm64")) {
            "aarch64"
        } else {
            return None;
        };
        format!("{os}-{arch}").parse().ok()
    }

    /// The platform of the running binary, if velo supports it.
    pub fn host() -> Option<Platform> {
        let platform = match (std::env::consts::OS, std::env::consts::ARCH) {
            ("linux", "x86_64") => Platform::LinuxX86_64,
            ("linux", "aarch64") => Platform::LinuxAarch64,
            ("macos", "x86_64") => Platform::MacosX86_64,
            ("macos", "aarch64") => Platform::MacosAarch64,
            ("windows", "x86_64") => Platform::WindowsX86_64,
            ("windows", "aarch64") => Platform::WindowsAarch64,
            _ => return None,
        };
        Some(platform)
    }
}

impl Ord for Platform {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Platform {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown platform `{0}`")]
pub struct UnknownPlatform(pub String);

impl UnknownPlatform {
    /// `; did you mean …?` or the list of platforms, for an error message.
    pub fn suggestion(&self) -> String {
        if let Some(platform) = Platform::from_alias(&self.0) {
            return format!("; did you mean `{platform}`?");
        }
        crate::suggest::did_you_mean(&self.0, Platform::ALL.map(Platform::as_str)).unwrap_or_else(|| {
            format!(
                "; expected one of {}",
                Platform::ALL.map(|p| format!("`{p}`")).join(", ")
            )
        })
    }
}

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlatform(s.to_string()))
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse()
            .map_err(|err: UnknownPlatform| serde::de::Error::custom(format!("{err}{}", err.suggestion())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for platform in Platform::ALL {
            assert_eq!(platform.as_str().parse::<Platform>().unwrap(), platform);
        }
        assert!("linux-amd64".parse::<Platform>().is_err());
    }

    #[test]
    fn aliases() {
        assert_eq!(Platform::from_alias("linux-amd64"), Some(Platform::LinuxX86_64));
        assert_eq!(Platform::from_alias("darwin-arm64"), Some(Platform::MacosAarch64));
        assert_eq!(Platform::from_alias("x86_64-linux"), Some(Platform::LinuxX86_64));
        assert_eq!(Platform::from_alias("win-x64"), Some(Platform::WindowsX86_64));
        assert_eq!(Platform::from_alias("freebsd-amd64"), None);
    }
}

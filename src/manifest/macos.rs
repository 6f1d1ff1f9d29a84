//! `min_macos`: the oldest macOS a project supports, which picks its macOS Homebrew bottles.

use std::fmt;
use std::str::FromStr;

/// A macOS release: `14`, `13.5`, `10.15`, or a codename such as `sonoma`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacosVersion {
    pub major: u32,
    pub minor: u32,
}

/// Homebrew's bottle codenames, newest first, with the release each names.
pub const CODENAMES: [(&str, MacosVersion); 12] = [
    ("tahoe", MacosVersion::new(26, 0)),
    ("sequoia", MacosVersion::new(15, 0)),
    ("sonoma", MacosVersion::new(14, 0)),
    ("ventura", MacosVersion::new(13, 0)),
    ("monterey", MacosVersion::new(12, 0)),
    ("big_sur", MacosVersion::new(11, 0)),
    ("catalina", MacosVersion::new(10, 15)),
    ("mojave", MacosVersion::new(10, 14)),
    ("high_sierra", MacosVersion::new(10, 13)),
    ("sierra", MacosVersion::new(10, 12)),
    ("el_capitan", MacosVersion::new(10, 11)),
    ("yosemite", MacosVersion::new(10, 10)),
];

impl MacosVersion {
    /// The default oldest macOS: 14, Sonoma.
    pub const DEFAULT: MacosVersion = MacosVersion::new(14, 0);

    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// The release a bottle codename names (`sonoma` → 14).
    pub fn from_codename(name: &str) -> Option<Self> {
        CODENAMES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// The codename of the newest release not newer than this one (`13.5` → `ventura`).
    pub fn codename(self) -> &'static str {
        CODENAMES
            .iter()
            .find(|(_, v)| *v <= self)
            .map_or("yosemite", |(n, _)| n)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not a macOS version; use a number such as `14` or `13.5`, or a name such as `sonoma`")]
pub struct MacosVersionError(String);

impl FromStr for MacosVersion {
    type Err = MacosVersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || MacosVersionError(text.to_string());
        let lower = text.trim().to_ascii_lowercase().replace(' ', "_");
        if let Some(version) = Self::from_codename(&lower) {
            return Ok(version);
        }
        let (major, minor) = lower.split_once('.').unwrap_or((&lower, "0"));
        let major: u32 = major.parse().map_err(|_| error())?;
        let minor: u32 = minor.parse().map_err(|_| error())?;
        // macOS 10.x counted minors; 11 and later count majors. Anything else is a typo.
        if !(major == 10 || (11..=99).contains(&major)) {
            return Err(error());
        }
        Ok(Self::new(major, minor))
    }
}

impl fmt::Display for MacosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.minor == 0 && self.major > 10 {
            write!(f, "{}", self.major)
        } else {
            write!(f, "{}.{}", self.major, self.minor)
        }
    }
}

impl<'de> serde::Deserialize<'de> for MacosVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for MacosVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_codenames() {
        assert_eq!("14".parse::<MacosVersion>().unwrap(), MacosVersion::new(14, 0));
        assert_eq!("13.5".parse::<MacosVersion>().unwrap(), MacosVersion::new(13, 5));
        assert_eq!(
            "Sonoma".parse::<MacosVersion>().unwrap(),
            MacosVersion::new(14, 0)
        );
        assert_eq!(
            "big sur".parse::<MacosVersion>().unwrap(),
            MacosVersion::new(11, 0)
        );
        assert_eq!("10.15".parse::<MacosVersion>().unwrap().codename(), "catalina");
        assert_eq!("13.5".parse::<MacosVersion>().unwrap().codename(), "ventura");
        for bad in ["", "x", "9", "14.x", "100"] {
            assert!(bad.parse::<MacosVersion>().is_err(), "{bad}");
        }
    }
}

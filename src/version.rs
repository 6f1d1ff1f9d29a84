//! Versions and version requirements.
//!
//! A [`Version`] is a semver-like release (`1.2.3`, `1.2.3-rc.1`) with any number of numeric
//! components, so that tags which are not semver (`v1.2`, `jq-1.7.1`, `2024.01.15`, `1.2.3.4`)
//! still sort correctly. Missing components count as zero: `1.7` and `1.7.0` are the same version.
//! The tag a version was parsed from is kept by the source that found it, not here.
//!
//! A [`VersionReq`] uses Cargo's requirement syntax and is turned into a pubgrub [`Ranges`]
//! once, when it is parsed.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::str::FromStr;

use pubgrub::Ranges;
use semver::{Comparator, Op, Prerelease};

/// An ordered version.
#[derive(Debug, Clone)]
pub struct Version {
    /// Numeric components, without trailing zeros beyond the third.
    release: Box<[u64]>,
    /// Empty for a release.
    pre: Prerelease,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a version: {reason}")]
pub struct VersionError {
    input: String,
    reason: &'static str,
}

impl Version {
    pub fn new(release: &[u64]) -> Self {
        Self::with_pre(release, Prerelease::EMPTY)
    }

    fn with_pre(release: &[u64], pre: Prerelease) -> Self {
        let mut release = release.to_vec();
        while release.len() > 3 && release.last() == Some(&0) {
            release.pop();
        }
        Self {
            release: release.into_boxed_slice(),
            pre,
        }
    }

    /// The smallest version of this release: below all its prereleases. Used as the exclusive
    /// upper bound of `<2.0.0` so that `2.0.0-alpha` is not inside `^1`.
    fn floor(release: &[u64]) -> Self {
        Self::with_pre(release, Prerelease::new("0").expect("`0` is a valid prerelease"))
    }

    fn is_floor(&self) -> bool {
        self.pre.as_str() == "0"
    }

    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    fn component(&self, index: usize) -> u64 {
        self.release.get(index).copied().unwrap_or(0)
    }

    /// Parse a version or release tag leniently.
    ///
    /// A leading non-numeric prefix (`v`, `jq-`, `release-`) is dropped; the numeric components
    /// follow, then an optional prerelease (`-rc.1`, or letters directly after the numbers as
    /// in `1.0rc1`) and optional build metadata (`+build`), which is ignored.
    pub fn parse_lenient(input: &str) -> Result<Self, VersionError> {
        let error = |reason| VersionError {
            input: input.to_string(),
            reason,
        };
        let start = input
            .find(|c: char| c.is_ascii_digit())
            .ok_or_else(|| error("it has no number"))?;
        let prefix = &input[..start];
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Err(error("it does not start with a number"));
        }
        let rest = &input[start..];
        let (rest, _build) = rest.split_once('+').unwrap_or((rest, ""));

        let numbers_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (numbers, suffix) = rest.split_at(numbers_end);
        let numbers = numbers.strip_suffix('.').unwrap_or(numbers);
        let mut release = Vec::new();
        for part in numbers.split('.') {
            if part.is_empty() {
                return Err(error("it has an empty number component"));
            }
            release.push(
                part.parse::<u64>()
                    .map_err(|_| error("a number component is too large"))?,
            );
        }

        let pre = suffix.strip_prefix(['-', '_', '.']).unwrap_or(suffix);
        let pre = if pre.is_empty() {
            Prerelease::EMPTY
        } else {
            let normalized = pre.replace('_', ".");
            Prerelease::new(&normalized).map_err(|_| error("its prerelease part is not valid"))?
        };
        Ok(Self::with_pre(&release, pre))
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_lenient(s)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.release.len().max(other.release.len());
        for i in 0..len {
            match self.component(i).cmp(&other.component(i)) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => self.pre.cmp(&other.pre),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let significant = self.release.iter().rposition(|&n| n != 0).map_or(0, |i| i + 1);
        self.release[..significant].hash(state);
        self.pre.as_str().hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in 0..self.release.len().max(3) {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{}", self.component(i))?;
        }
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A Cargo-style version requirement, kept as written and as the set of versions it allows.
#[derive(Debug, Clone)]
pub struct VersionReq {
    text: String,
    ranges: Ranges<Version>,
    allows_prerelease: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid version requirement `{input}`: {reason}")]
pub struct VersionReqError {
    input: String,
    reason: String,
}

impl VersionReq {
    pub fn any() -> Self {
        "*".parse().expect("`*` is a valid requirement")
    }

    /// The requirement a new dependency gets when `velo add` is not given one: compatible
    /// updates of `version`, as `cargo add` writes.
    pub fn caret(version: &Version) -> Self {
        let text = if version.is_prerelease() {
            format!("^{version}")
        } else {
            let shown = version.release.len().clamp(1, 3);
            let parts: Vec<String> = (0..shown).map(|i| version.component(i).to_string()).collect();
            format!("^{}", parts.join("."))
        };
        text.parse()
            .expect("a caret requirement built from a version is valid")
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn ranges(&self) -> &Ranges<Version> {
        &self.ranges
    }

    /// Whether the requirement names a prerelease, which opts its package into prereleases.
    pub fn allows_prerelease(&self) -> bool {
        self.allows_prerelease
    }

    pub fn matches(&self, version: &Version) -> bool {
        self.ranges.contains(version) && (self.allows_prerelease || !version.is_prerelease())
    }
}

impl FromStr for VersionReq {
    type Err = VersionReqError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        let error = |reason: String| VersionReqError {
            input: input.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(error("it is empty; use `*` to allow any version".to_string()));
        }
        if text.contains("||") {
            return Err(error(
                "`||` is not supported; use one range such as `>=1.2, <3`".to_string(),
            ));
        }
        let req = semver::VersionReq::parse(text).map_err(|err| error(err.to_string()))?;
        let mut ranges = Ranges::full();
        let mut allows_prerelease = false;
        for comparator in &req.comparators {
            allows_prerelease |= !comparator.pre.is_empty();
            ranges = ranges.intersection(&comparator_ranges(comparator));
        }
        Ok(Self {
            text: text.to_string(),
            ranges,
            allows_prerelease,
        })
    }
}

impl PartialEq for VersionReq {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for VersionReq {}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The versions one comparator allows, following Cargo's rules for partial versions.
fn comparator_ranges(c: &Comparator) -> Ranges<Version> {
    // Bounds one past the largest number a component can hold do not exist: such a comparator
    // simply has no upper bound there.
    if [Some(c.major), c.minor, c.patch]
        .into_iter()
        .flatten()
        .any(|n| n == u64::MAX)
    {
        return match c.op {
            Op::Less | Op::LessEq => Ranges::full(),
            _ => Ranges::higher_than(Version::new(&[
                c.major,
                c.minor.unwrap_or(0),
                c.patch.unwrap_or(0),
            ])),
        };
    }
    let (major, minor, patch) = (c.major, c.minor, c.patch);
    let exact = || match (minor, patch) {
        (Some(minor), Some(patch)) => Version::with_pre(&[major, minor, patch], c.pre.clone()),
        (Some(minor), None) => Version::new(&[major, minor, 0]),
        _ => Version::new(&[major, 0, 0]),
    };
    // The first version after the partial version written: `1.2` → `1.3.0`, `1` → `2.0.0`.
    let after_partial = || match (minor, patch) {
        (Some(minor), None) => Version::floor(&[major, minor + 1, 0]),
        (None, _) => Version::floor(&[major + 1, 0, 0]),
        (Some(minor), Some(patch)) => Version::floor(&[major, minor, patch + 1]),
    };
    match c.op {
        Op::Exact | Op::Wildcard => match patch {
            Some(_) => Ranges::singleton(exact()),
            None => Ranges::from_range_bounds(exact()..after_partial()),
        },
        Op::Greater => match patch {
            Some(_) => Ranges::strictly_higher_than(exact()),
            None => Ranges::higher_than(after_partial()),
        },
        Op::GreaterEq => Ranges::higher_than(exact()),
        Op::Less => {
            let bound = exact();
            if bound.is_prerelease() {
                Ranges::strictly_lower_than(bound)
            } else {
                Ranges::strictly_lower_than(Version::floor(&bound.release))
            }
        }
        Op::LessEq => match patch {
            Some(_) => Ranges::lower_than(exact()),
            None => Ranges::strictly_lower_than(after_partial()),
        },
        Op::Tilde => {
            let upper = match minor {
                Some(minor) => Version::floor(&[major, minor + 1, 0]),
                None => Version::floor(&[major + 1, 0, 0]),
            };
            Ranges::from_range_bounds(exact()..upper)
        }
        Op::Caret => {
            let upper = match (major, minor, patch) {
                (0, None, _) => Version::floor(&[1, 0, 0]),
                (0, Some(0), None) => Version::floor(&[0, 1, 0]),
                (0, Some(0), Some(patch)) => Version::floor(&[0, 0, patch + 1]),
                (0, Some(minor), _) => Version::floor(&[0, minor + 1, 0]),
                (major, _, _) => Version::floor(&[major + 1, 0, 0]),
            };
            Ranges::from_range_bounds(exact()..upper)
        }
        _ => Ranges::full(),
    }
}

/// Show a set of versions the way a person would write it: `>=1.2.0, <2.0.0`, `1.4.0`, `*`.
pub fn display_ranges(ranges: &Ranges<Version>) -> String {
    if ranges == &Ranges::full() {
        return "*".to_string();
    }
    if ranges.is_empty() {
        return "no version".to_string();
    }
    let show = |v: &Version| {
        if v.is_floor() {
            Version::new(&v.release).to_string()
        } else {
            v.to_string()
        }
    };
    let segments: Vec<String> = ranges
        .iter()
        .map(|(lower, upper)| match (lower, upper) {
            (Bound::Included(a), Bound::Included(b)) if a == b => show(a),
            (lower, upper) => {
                let lower = match lower {
                    Bound::Included(v) => Some(format!(">={}", show(v))),
                    Bound::Excluded(v) => Some(format!(">{}", show(v))),
                    Bound::Unbounded => None,
                };
                let upper = match upper {
                    Bound::Included(v) => Some(format!("<={}", show(v))),
                    Bound::Excluded(v) => Some(format!("<{}", show(v))),
                    Bound::Unbounded => None,
                };
                lower.into_iter().chain(upper).collect::<Vec<_>>().join(", ")
            }
        })
        .collect();
    segments.join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn req(s: &str) -> VersionReq {
        s.parse().unwrap()
    }

    #[test]
    fn lenient_tags() {
        assert_eq!(v("v1.2").to_string(), "1.2.0");
        assert_eq!(v("jq-1.7.1").to_string(), "1.7.1");
        assert_eq!(v("2024.01.15").to_string(), "2024.1.15");
        assert_eq!(v("1.2.3.4").to_string(), "1.2.3.4");
        assert_eq!(v("release-1.0.0-rc.1").to_string(), "1.0.0-rc.1");
        assert_eq!(v("1.0rc1").to_string(), "1.0.0-rc1");
        assert_eq!(v("1.2.3+build.5").to_string(), "1.2.3");
        assert!("latest".parse::<Version>().is_err());
        assert!("1..2".parse::<Version>().is_err());
        assert!("7zip-23.01".parse::<Version>().is_err());
    }

    #[test]
    fn ordering() {
        assert_eq!(v("1.7"), v("1.7.0"));
        assert_eq!(v("1.2.3.0"), v("1.2.3"));
        assert!(v("1.2.3.4") > v("1.2.3"));
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.10.0") > v("1.9.0"));
        assert!(v("2024.1.15") > v("2023.12.31"));
    }

    #[test]
    fn cargo_requirements() {
        let cases = [
            ("^1.2", ">=1.2.0, <2.0.0"),
            ("1.2", ">=1.2.0, <2.0.0"),
            ("^0.2.3", ">=0.2.3, <0.3.0"),
            ("^0.0.3", ">=0.0.3, <0.0.4"),
            ("^0", ">=0.0.0, <1.0.0"),
            ("~1.2", ">=1.2.0, <1.3.0"),
            ("~1", ">=1.0.0, <2.0.0"),
            ("=1.2.3", "1.2.3"),
            ("=1.2", ">=1.2.0, <1.3.0"),
            (">=1, <2", ">=1.0.0, <2.0.0"),
            (">1.2", ">=1.3.0"),
            ("<=1.2", "<1.3.0"),
            ("1.*", ">=1.0.0, <2.0.0"),
            ("*", "*"),
        ];
        for (input, expected) in cases {
            assert_eq!(display_ranges(req(input).ranges()), expected, "{input}");
        }
    }

    #[test]
    fn prereleases_need_asking_for() {
        assert!(!req("^1").matches(&v("1.5.0-beta.1")));
        assert!(!req("^1").ranges().contains(&v("2.0.0-alpha")));
        assert!(req("^2.0.0-beta").matches(&v("2.0.0-beta.2")));
        assert!(req("^2.0.0-beta").matches(&v("2.0.0")));
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        let req = req("^18446744073709551615");
        assert!(req.matches(&v("18446744073709551615.0.0")));
        assert!(!req.matches(&v("1.0.0")));
        let _ = VersionReq::from_str("~1.18446744073709551615").unwrap();
        let _ = VersionReq::from_str("<=1.2.18446744073709551615").unwrap();
    }

    #[test]
    fn bad_requirements() {
        for bad in ["", "^^1", "1.2.x.y", ">=1 || <0", "latest"] {
            assert!(bad.parse::<VersionReq>().is_err(), "{bad}");
        }
    }

    #[test]
    fn caret_from_version() {
        assert_eq!(VersionReq::caret(&v("1.7.1")).as_str(), "^1.7.1");
        assert_eq!(VersionReq::caret(&v("2024.01.15")).as_str(), "^2024.1.15");
    }
}

//! Version resolution with PubGrub.
//!
//! This module knows no network: it asks a [`PackageSource`] for each package's versions and
//! dependencies (the sources prefetch concurrently while the solver works) and returns the chosen
//! version of every package, or a conflict explained in plain English ([`report`]).

mod lock;
mod provider;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

pub use lock::{build_lock, LockBuildError, LockOutcome};
pub use provider::{resolve, Preferences, Resolution, ResolveError};

use crate::lock::Artifact;
use crate::platform::Platform;
use crate::version::{Version, VersionReq};

/// Everything a source knows about one package.
#[derive(Debug, Default)]
pub struct PackageMeta {
    /// `index+<registry>`, `github:owner/repo`, …: recorded in the lock.
    pub source: String,
    pub versions: BTreeMap<Version, VersionMeta>,
    /// Problems found in the package's metadata that did not stop it from being used.
    pub warnings: Vec<String>,
}

/// One version of a package. Its dependencies and artifacts are read on first use: a solve
/// visits every version's number but only a few versions' details, and a lock needs artifacts
/// of the chosen version alone.
#[derive(Debug)]
pub struct VersionMeta {
    /// The version string as the source spells it (`v1.2.0`, `jq-1.7.1`).
    pub tag: String,
    /// The lock records `tag` itself as the version (Homebrew's `3.3.2_1`, `9.5p1`), not the
    /// solver's reading of it.
    pub exact_tag: bool,
    details: Box<dyn VersionDetails>,
    dependencies: OnceLock<Result<Vec<(String, VersionReq)>, String>>,
}

/// Artifacts by platform, and problems with the ones that had to be left out.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    pub by_platform: BTreeMap<Platform, Artifact>,
    pub warnings: Vec<String>,
}

/// How a source reads a version's details when they are first needed.
pub trait VersionDetails: std::fmt::Debug + Send + Sync {
    /// Dependencies by package key, or why they could not be read.
    fn dependencies(&self) -> Result<Vec<(String, VersionReq)>, String>;
    /// Artifacts for `platforms` (others may be left out). May block on the network (a forge
    /// fetching a checksum file); called on a blocking thread.
    fn artifacts(&self, platforms: &BTreeSet<Platform>) -> Result<Artifacts, String>;
    /// The keys this version depends on for `platform`, when that differs from
    /// [`VersionDetails::dependencies`] (a Homebrew formula's per-platform closure).
    fn platform_dependencies(&self, _platform: Platform) -> Option<Vec<String>> {
        None
    }
}

impl VersionMeta {
    pub fn new(tag: String, details: impl VersionDetails + 'static) -> Self {
        Self {
            tag,
            exact_tag: false,
            details: Box::new(details),
            dependencies: OnceLock::new(),
        }
    }

    /// A version whose lock version is `tag` exactly.
    pub fn exact(tag: String, details: impl VersionDetails + 'static) -> Self {
        Self {
            exact_tag: true,
            ..Self::new(tag, details)
        }
    }

    /// The version string the lock records for `version` (this entry's key).
    pub fn lock_version(&self, version: &Version) -> String {
        if self.exact_tag {
            self.tag.clone()
        } else {
            version.to_string()
        }
    }

    pub fn dependencies(&self) -> &Result<Vec<(String, VersionReq)>, String> {
        self.dependencies.get_or_init(|| self.details.dependencies())
    }

    pub fn artifacts(&self, platforms: &BTreeSet<Platform>) -> Result<Artifacts, String> {
        self.details.artifacts(platforms)
    }

    pub fn platform_dependencies(&self, platform: Platform) -> Option<Vec<String>> {
        self.details.platform_dependencies(platform)
    }
}

/// Where the resolver gets package metadata. Implementations may block (the resolver runs on a
/// blocking thread) and should start fetching what [`PackageSource::prefetch`] names right away.
pub trait PackageSource: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// All versions of the package with key `name`.
    fn get(&self, name: &str) -> Result<Arc<PackageMeta>, Self::Error>;

    /// A hint that these packages will be asked for soon.
    fn prefetch(&self, _names: &[&str]) {}
}

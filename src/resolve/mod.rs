//! Version resolution with PubGrub.
//!
//! This module knows no network: it asks a [`PackageSource`] for each package's versions and
//! dependencies (the sources prefetch concurrently while the solver works) and returns the chosen
//! version of every package, or a conflict explained in plain English ([`report`]).

mod lock;
mod provider;
mod report;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use lock::{build_lock, LockBuildError, LockOutcome};
pub use provider::{resolve, Preferences, Resolution, ResolveError};

use crate::lock::Artifact;
use crate::platform::Platform;
use crate::version::{Version, VersionReq};

/// Everything a source knows about one package.
#[derive(Debug, Clone, Default)]
pub struct PackageMeta {
    /// `index+<registry>`, `github:owner/repo`, …: recorded in the lock.
    pub source: String,
    pub versions: BTreeMap<Version, VersionMeta>,
    /// Problems found in the package's metadata that did not stop it from being used.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VersionMeta {
    /// The version string as the source spells it (`v1.2.0`, `jq-1.7.1`).
    pub tag: String,
    /// Dependencies by package key, or why they could not be read.
    pub dependencies: Result<Vec<(String, VersionReq)>, String>,
    pub artifacts: BTreeMap<Platform, Artifact>,
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

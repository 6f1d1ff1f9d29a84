//! The error type commands return, with the hint and exit code each error deserves.

use std::sync::Arc;

use crate::install::InstallError;
use crate::lock::LockError;
use crate::manifest::{EditError, ManifestError};
use crate::resolve::{LockBuildError, ResolveError};
use crate::sources::SourceError;
use crate::store::DownloadError;

/// Exit code for a failure of the work itself (a conflict, a stale lock, a network failure).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for bad usage or bad input.
pub const EXIT_USAGE: i32 = 2;

/// An error and its causes on one line: `outer: cause: root cause`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // reqwest and hyper often repeat the cause in the message; say it once.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Resolve(#[from] ResolveError<Arc<SourceError>>),
    #[error(transparent)]
    LockBuild(#[from] LockBuildError),
    #[error(transparent)]
    Source(#[from] Arc<SourceError>),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("failed to unpack `{package}`")]
    Unpack {
        package: String,
        #[source]
        source: crate::store::StoreError,
    },
    #[error("failed to download `{package}`")]
    Download {
        package: String,
        #[source]
        source: DownloadError,
    },
    /// The lock does not match the manifest and the command may not update it.
    #[error("`velo.lock` is out of date with `velo.json`:\n{}", changes.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n"))]
    StaleLock { changes: Vec<String> },
    /// Bad input that is not a file's fault: an unknown package name, a malformed spec.
    #[error("{message}")]
    Usage { message: String, hint: Option<String> },
    /// Something asked for is not there (a command, a package): not bad input, exit 1.
    #[error("{message}")]
    Lookup { message: String, hint: String },
    #[error("failed to access `{}`", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Resolve(ResolveError::Source { package, required_by: Some(by), source })
                if matches!(**source, SourceError::PackageNotFound { .. }) =>
            {
                Some(format!(
                    "the index lists `{package}` as a dependency of {by} but does not have it; tell the index's maintainers, or require a different version of the package that needs it"
                ))
            }
            Error::Manifest(err) => err.hint(),
            Error::Lock(err) => err.hint(),
            Error::Resolve(ResolveError::NoSolution { hint, .. }) => Some(hint.clone()),
            Error::Resolve(ResolveError::Source { source, .. }) | Error::Source(source) => source.hint(),
            Error::LockBuild(err) => err.hint(),
            Error::StaleLock { .. } => Some("run `velo lock` to update it".to_string()),
            Error::Download { source: DownloadError::ChecksumMismatch { .. }, .. } => Some(
                "the file differs from the one that was locked; if the publisher replaced it on purpose, run `velo lock --upgrade-package` for it"
                    .to_string(),
            ),
            Error::Download { source: DownloadError::NotFound { .. }, .. } => Some(
                "the index points at a file its server does not have; tell the index's maintainers, or lock another version"
                    .to_string(),
            ),
            Error::Download {
                source: DownloadError::SizeMismatch { .. } | DownloadError::TooLarge { .. },
                ..
            } => Some("the file differs from the one that was locked; nothing was installed".to_string()),
            Error::Unpack { source: crate::store::StoreError::Extract(_), .. } => Some(
                "velo refused this archive and installed nothing from it; it matched the locked sha256, so tell the package's publisher"
                    .to_string(),
            ),
            Error::Download { source: DownloadError::Offline { .. }, .. } => {
                Some("run `velo sync` once without `--offline` to fill the cache".to_string())
            }
            Error::Install(InstallError::NoArtifact { .. }) => Some(
                "add this platform to `platforms` in `velo.json` and run `velo lock`, on a machine where the packages have artifacts for it"
                    .to_string(),
            ),
            Error::Usage { hint, .. } => hint.clone(),
            Error::Lookup { hint, .. } => Some(hint.clone()),
            _ => None,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Manifest(ManifestError::Read { .. }) => EXIT_FAILURE,
            Error::Manifest(_) | Error::Edit(_) | Error::Usage { .. } => EXIT_USAGE,
            // A lock that fails validation came from the repository (or a hand edit): bad input.
            Error::Lock(LockError::Invalid { .. }) => EXIT_USAGE,
            Error::Resolve(ResolveError::Source { source, .. }) | Error::Source(source)
                if source.is_bad_input() =>
            {
                EXIT_USAGE
            }
            _ => EXIT_FAILURE,
        }
    }
}

//! Package sources: turn a package key into its versions, dependencies and artifacts.
//!
//! [`Sources`] routes each key to the source that serves it and implements the resolver's
//! [`PackageSource`]: the velo index ([`index`]), forge releases ([`forge`]) and Homebrew core
//! ([`brew`]: `brew:NAME`, and bare names in a project without a `registry`).

pub mod brew;
pub mod forge;
mod index;
mod memo;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use index::{IndexLocation, IndexSource};

use crate::http::{HttpClient, HttpError};
use crate::manifest::{Manifest, PackageKey, PackageKeyError, PackageSource as KeySource};
use crate::resolve::{PackageMeta, PackageSource};
use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("package `{name}` not found in the velo index at `{index}`")]
    PackageNotFound {
        name: String,
        index: String,
        suggestion: Option<String>,
    },
    #[error("package `{name}` is not in the cache and `--offline` forbids fetching it from `{index}`")]
    NotCached { name: String, index: String },
    #[error("`{name}` needs a velo index, but `velo.json` has no `registry`")]
    NoRegistry { name: String },
    #[error("`{key}` uses the {kind} source, which this version of velo cannot resolve yet")]
    Unsupported { key: String, kind: &'static str },
    #[error("invalid `registry` `{registry}`: {reason}")]
    InvalidRegistry { registry: String, reason: String },
    #[error("the package file `{url}` is invalid: {message}")]
    InvalidPackageFile { url: String, message: String },
    #[error(transparent)]
    Key(#[from] PackageKeyError),
    #[error(transparent)]
    Forge(Arc<forge::ForgeError>),
    #[error(transparent)]
    Brew(Arc<brew::BrewError>),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SourceError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SourceError::PackageNotFound { suggestion: Some(best), .. } => Some(format!("did you mean `{best}`?")),
            SourceError::PackageNotFound { index, .. } => {
                // `index` is printed without its query, so the listing is named apart from it.
                let base = index.split_once('?').map_or(index.as_str(), |(base, _)| base);
                Some(format!("check the name; `{base}index.json` lists the packages the index has"))
            }
            SourceError::NotCached { .. } => Some("run the command again without `--offline`".to_string()),
            SourceError::NoRegistry { .. } => Some(
                "without a `registry`, bare names mean Homebrew core; set `\"registry\"` in `velo.json` to a velo index URL or path"
                    .to_string(),
            ),
            SourceError::Unsupported { .. } => Some("use a package from a velo index or a forge for now".to_string()),
            SourceError::Forge(err) => err.hint(),
            SourceError::Brew(err) => err.hint(),
            SourceError::Http(HttpError::RateLimited { .. }) => Some("wait a while and try again".to_string()),
            SourceError::Http(_) => Some("check your network connection and proxy settings, or use `--offline` to work from the cache".to_string()),
            _ => None,
        }
    }

    /// Whether the error is the user's input rather than the outside world.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            SourceError::PackageNotFound { .. }
                | SourceError::NoRegistry { .. }
                | SourceError::Unsupported { .. }
                | SourceError::InvalidRegistry { .. }
                | SourceError::Key(_)
        ) || matches!(self, SourceError::Brew(err) if err.is_bad_input())
            || matches!(self, SourceError::Forge(err) if matches!(**err, forge::ForgeError::RepoNotFound { .. } | forge::ForgeError::NotAForge { .. }))
    }
}

/// All sources a project uses, keyed the way the resolver names packages.
pub struct Sources {
    index: Option<IndexSource>,
    forge: forge::ForgeSource,
    brew: brew::BrewSource,
    /// Per forge dependency (by lock key): prerelease opt-in, asset pattern, bin.
    forge_options: HashMap<String, forge::ForgeOptions>,
    /// Direct dependencies whose lock key differs from what their key alone would say
    /// (`"fd": {"source": "github:sharkdp/fd"}`).
    aliases: HashMap<String, PackageKey>,
}

impl Sources {
    /// The sources for `manifest` in the project at `root`. Must be called inside a tokio runtime.
    pub fn new(manifest: &Manifest, root: &Path, settings: &Settings) -> Result<Self, SourceError> {
        let http = HttpClient::new(&settings.http)?;
        let index = match &manifest.registry {
            Some(registry) => {
                let location = IndexLocation::parse(registry, root)?;
                Some(IndexSource::new(
                    location,
                    http.clone(),
                    &settings.cache,
                    settings.offline,
                ))
            }
            None => None,
        };
        let brew = brew::BrewSource::new(
            http.clone(),
            &settings.cache,
            &settings.homebrew,
            settings.offline,
            brew::BrewOptions {
                targets: manifest.target_platforms().into_iter().collect(),
                min_macos: manifest.min_macos(),
                prefixed: manifest.registry.is_some(),
            },
        );
        let forge = forge::ForgeSource::new(http, &settings.cache, settings.offline);
        let forge_options = manifest
            .dependencies
            .iter()
            .map(|dep| {
                let options = forge::ForgeOptions {
                    allow_prerelease: dep.requirement.allows_prerelease(),
                    asset: dep.asset.clone(),
                    bin: dep.bin.clone(),
                };
                (dep.lock_key(), options)
            })
            .collect();
        let aliases = manifest
            .dependencies
            .iter()
            .map(|dep| (dep.lock_key(), dep.package.clone()))
            .collect();
        Ok(Self {
            index,
            forge,
            brew,
            forge_options,
            aliases,
        })
    }

    fn key(&self, name: &str) -> Result<PackageKey, SourceError> {
        match self.aliases.get(name) {
            Some(key) => Ok(key.clone()),
            None => Ok(name.parse()?),
        }
    }

    /// The Homebrew formula name `key` stands for, if Homebrew core serves it: `brew:NAME`, or
    /// a bare name in a project without a `registry`.
    fn brew_name<'k>(&self, key: &'k PackageKey) -> Result<Option<&'k str>, SourceError> {
        match &key.source {
            KeySource::Brew { tap: None } => Ok(Some(&key.name)),
            KeySource::Brew { tap: Some(_) } => Err(SourceError::Brew(Arc::new(brew::BrewError::Tap {
                key: key.to_string(),
            }))),
            KeySource::Default if self.index.is_none() => Ok(Some(&key.name)),
            _ => Ok(None),
        }
    }

    /// The lock key of every direct dependency, by manifest key. A Homebrew formula named by
    /// an alias or old name goes by its canonical name, so that it and a formula depending on
    /// it share one entry (this asks Homebrew's API for those dependencies).
    pub async fn direct_keys(
        &self,
        manifest: &Manifest,
    ) -> Result<std::collections::BTreeMap<String, String>, Arc<SourceError>> {
        let lookups = manifest.dependencies.iter().map(|dep| async move {
            let lock_key = dep.lock_key();
            let key = self.key(&lock_key).map_err(Arc::new)?;
            let resolved = match self.brew_name(&key).map_err(Arc::new)? {
                Some(name) => self
                    .brew
                    .canonical_key(name)
                    .await
                    .map_err(|err| Arc::new(SourceError::Brew(Arc::new(err))))?,
                None => lock_key,
            };
            Ok::<_, Arc<SourceError>>((dep.key.clone(), resolved))
        });
        futures::future::try_join_all(lookups)
            .await
            .map(|pairs| pairs.into_iter().collect())
    }

    fn index(&self, name: &str) -> Result<&IndexSource, SourceError> {
        self.index.as_ref().ok_or_else(|| SourceError::NoRegistry {
            name: name.to_string(),
        })
    }

    /// Fetch a package's metadata (async form, for commands that are not resolving).
    pub async fn get_async(&self, name: &str) -> Result<Arc<PackageMeta>, Arc<SourceError>> {
        let key = self.key(name).map_err(Arc::new)?;
        if let Some(formula) = self.brew_name(&key).map_err(Arc::new)? {
            return self.brew.get_async(name, formula).await.map_err(brew_error);
        }
        match key.source {
            KeySource::Default | KeySource::Index => {
                self.index(name).map_err(Arc::new)?.get_async(&key.name).await
            }
            KeySource::Brew { .. } => Err(Arc::new(unsupported(&key))),
            _ => self
                .forge
                .get_async(name, &key, &self.options(name))
                .await
                .map_err(|err| Arc::new(SourceError::Forge(err))),
        }
    }

    fn options(&self, name: &str) -> forge::ForgeOptions {
        self.forge_options.get(name).cloned().unwrap_or_default()
    }
}

fn brew_error(err: Arc<brew::BrewError>) -> Arc<SourceError> {
    Arc::new(SourceError::Brew(err))
}

fn unsupported(key: &PackageKey) -> SourceError {
    let kind = match key.source {
        KeySource::GitHub { .. } => "GitHub releases",
        KeySource::GitLab { .. } => "GitLab releases",
        KeySource::Gitea { .. } => "Gitea releases",
        KeySource::Codeberg { .. } => "Codeberg releases",
        KeySource::Brew { .. } => "Homebrew",
        KeySource::Default | KeySource::Index => "velo index",
    };
    SourceError::Unsupported {
        key: key.to_string(),
        kind,
    }
}

impl PackageSource for Sources {
    type Error = Arc<SourceError>;

    fn get(&self, name: &str) -> Result<Arc<PackageMeta>, Self::Error> {
        let key = self.key(name).map_err(Arc::new)?;
        if let Some(formula) = self.brew_name(&key).map_err(Arc::new)? {
            return self.brew.get_blocking(name, formula).map_err(brew_error);
        }
        match key.source {
            KeySource::Default | KeySource::Index => {
                self.index(name).map_err(Arc::new)?.get_blocking(&key.name)
            }
            KeySource::Brew { .. } => Err(Arc::new(unsupported(&key))),
            _ => self
                .forge
                .get_blocking(name, &key, &self.options(name))
                .map_err(|err| Arc::new(SourceError::Forge(err))),
        }
    }

    fn prefetch(&self, names: &[&str]) {
        for name in names {
            if let Ok(key) = self.key(name) {
                if let Ok(Some(formula)) = self.brew_name(&key) {
                    self.brew.prefetch(name, formula);
                }
            }
        }
        let Some(index) = &self.index else { return };
        for name in names {
            if let Ok(PackageKey {
                source: KeySource::Default | KeySource::Index,
                name,
            }) = self.key(name)
            {
                index.prefetch(&name);
            }
        }
    }
}

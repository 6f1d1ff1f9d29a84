//! Homebrew core as a package source: formula records from Homebrew's JSON API, bottles from
//! its OCI registry (ghcr.io), chosen per platform and recorded in the lock.
//!
//! A formula has one version. Its lock key is its canonical name (`wget`, `openssl@3`) in a
//! project without a `registry` and `brew:NAME` in one with a registry; dependencies come back
//! in the same form. The solver sees the union of the dependencies over the project's
//! platforms; each artifact records its own platform's list.

pub mod api;
pub mod bottle;
pub mod formula;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use self::api::{ApiError, FormulaApi};
use self::formula::Formula;
use super::memo::Memo;
use crate::cache::Cache;
use crate::http::HttpClient;
use crate::lock::{Artifact, Bottle, BREW_SOURCE};
use crate::manifest::MacosVersion;
use crate::platform::Platform;
use crate::resolve::{Artifacts, PackageMeta, VersionDetails, VersionMeta};
use crate::settings::HomebrewSettings;
use crate::version::VersionReq;

/// Bottle sizes by sha256, learnt from image indexes: a sha256 names one file forever.
const SIZES_BUCKET: &str = "homebrew-sizes-v1";

#[derive(Debug, thiserror::Error)]
pub enum BrewError {
    #[error("Homebrew core has no formula `{name}`")]
    NotFound {
        name: String,
        suggestion: Option<String>,
    },
    #[error("{message}")]
    Refused { name: String, message: String },
    #[error("the Homebrew record of `{name}` is invalid: {message}")]
    Invalid { name: String, message: String },
    #[error("`{key}` names a formula in a tap, which this version of velo cannot resolve yet")]
    Tap { key: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl BrewError {
    pub fn hint(&self) -> Option<String> {
        match self {
            BrewError::NotFound { suggestion: Some(best), .. } => Some(format!("did you mean `{best}`?")),
            BrewError::NotFound { .. } => Some("check the name on https://formulae.brew.sh".to_string()),
            BrewError::Refused { name, .. } => Some(format!(
                "remove `{name}` from `velo.json`, or get the tool from another source (a velo index or `github:OWNER/REPO`)"
            )),
            BrewError::Tap { .. } => Some("use a Homebrew core formula (`brew:NAME`) or another source".to_string()),
            BrewError::Api(err) => err.hint(),
            BrewError::Invalid { .. } => None,
        }
    }

    pub fn is_bad_input(&self) -> bool {
        match self {
            BrewError::NotFound { .. } | BrewError::Refused { .. } | BrewError::Tap { .. } => true,
            BrewError::Api(err) => err.is_bad_input(),
            BrewError::Invalid { .. } => false,
        }
    }
}

/// What a project asks of Homebrew: which platforms, the oldest macOS, and how its lock keys
/// are spelled.
#[derive(Debug, Clone)]
pub struct BrewOptions {
    pub targets: BTreeSet<Platform>,
    pub min_macos: MacosVersion,
    /// Lock keys carry `brew:` (the project has a `registry`, which bare names belong to).
    pub prefixed: bool,
}

/// An image index's bottle sizes by sha256, fetched once.
type SizesCell = Arc<OnceCell<Result<BTreeMap<String, u64>, String>>>;

/// Homebrew core. Cheap to clone; clones share fetches.
#[derive(Clone)]
pub struct BrewSource {
    inner: Arc<Inner>,
}

struct Inner {
    api: FormulaApi,
    http: HttpClient,
    cache: Cache,
    bottle_url: url::Url,
    offline: bool,
    options: BrewOptions,
    runtime: tokio::runtime::Handle,
    packages: Memo<BrewError>,
    /// Image indexes by `repo:tag`, each fetched at most once.
    sizes: Mutex<HashMap<String, SizesCell>>,
}

impl BrewSource {
    /// Must be called inside a tokio runtime.
    pub fn new(
        http: HttpClient,
        cache: &Cache,
        settings: &HomebrewSettings,
        offline: bool,
        options: BrewOptions,
    ) -> Self {
        let inner = Inner {
            api: FormulaApi::new(http.clone(), cache, settings, offline),
            http,
            cache: cache.clone(),
            bottle_url: settings.bottle_url.clone(),
            offline,
            options,
            runtime: tokio::runtime::Handle::current(),
            packages: Memo::default(),
            sizes: Mutex::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The lock key of the formula `name`.
    pub fn lock_key(&self, name: &str) -> String {
        if self.inner.options.prefixed {
            format!("brew:{name}")
        } else {
            name.to_string()
        }
    }

    /// The formula `name` (canonical, alias or old name) names, parsed.
    pub async fn formula(&self, name: &str) -> Result<Formula, BrewError> {
        let Some(record) = self.inner.api.formula(name).await? else {
            return Err(BrewError::NotFound {
                name: name.to_string(),
                suggestion: self.inner.api.suggest(name).await,
            });
        };
        Formula::parse(&record.json).map_err(|message| BrewError::Invalid {
            name: record.name.clone(),
            message,
        })
    }

    /// The lock key of the formula `name` names: an alias or old name becomes the canonical name.
    pub async fn canonical_key(&self, name: &str) -> Result<String, BrewError> {
        let formula = self.formula(name).await?;
        Ok(self.lock_key(&formula.common.name))
    }

    /// The package the lock key `key` (whose formula name is `name`) stands for.
    pub async fn get_async(&self, key: &str, name: &str) -> Result<Arc<PackageMeta>, Arc<BrewError>> {
        self.inner
            .packages
            .get(key, || async {
                let formula = self.formula(name).await?;
                if let Some(message) = formula.refusal() {
                    return Err(BrewError::Refused {
                        name: formula.common.name.clone(),
                        message,
                    });
                }
                self.meta(formula)
            })
            .await
    }

    pub fn get_blocking(&self, key: &str, name: &str) -> Result<Arc<PackageMeta>, Arc<BrewError>> {
        self.inner.runtime.block_on(self.get_async(key, name))
    }

    /// Start fetching `name` without waiting.
    pub fn prefetch(&self, key: &str, name: &str) {
        if self.inner.packages.is_done(key) {
            return;
        }
        let (source, key, name) = (self.clone(), key.to_string(), name.to_string());
        self.inner.runtime.spawn(async move {
            let _ = source.get_async(&key, &name).await;
        });
    }

    fn meta(&self, formula: Formula) -> Result<PackageMeta, BrewError> {
        let invalid = |message: String| BrewError::Invalid {
            name: formula.common.name.clone(),
            message,
        };
        let (Some(version), Some(pkg_version)) = (formula.solver_version(), formula.pkg_version()) else {
            return Err(invalid("it has no stable version".to_string()));
        };
        if !crate::lock::is_brew_version(&pkg_version) {
            return Err(invalid(format!(
                "`{pkg_version}` is not a version velo can install"
            )));
        }
        let options = &self.inner.options;
        let mut views = BTreeMap::new();
        for platform in &options.targets {
            if let Some(view) = formula
                .for_platform(*platform, options.min_macos)
                .map_err(invalid)?
            {
                views.insert(*platform, view);
            }
        }
        let details = FormulaVersion {
            source: self.clone(),
            formula: Arc::new(formula),
            pkg_version: pkg_version.clone(),
            views,
        };
        let mut meta = PackageMeta {
            source: BREW_SOURCE.to_string(),
            ..PackageMeta::default()
        };
        meta.versions
            .insert(version, VersionMeta::exact(pkg_version, details));
        Ok(meta)
    }

    /// The size of the bottle `sha256` in `repo`, from the formula's image index (or from the
    /// cache, where earlier locks left it).
    async fn bottle_size(&self, repo: &str, tag: &str, sha256: &str) -> Result<u64, String> {
        let inner = &self.inner;
        let cached = inner.cache.bucket(SIZES_BUCKET).ok().map(|dir| dir.join(sha256));
        if let Some(size) = cached
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| text.trim().parse().ok())
        {
            return Ok(size);
        }
        if inner.offline {
            return Err(format!(
                "the size of the bottle `{sha256}` is not in the cache and `--offline` forbids asking the registry"
            ));
        }
        let cell = {
            let mut sizes = inner
                .sizes
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            sizes.entry(format!("{repo}:{tag}")).or_default().clone()
        };
        let sizes = cell
            .get_or_init(|| bottle::fetch_sizes(&inner.http, &inner.bottle_url, repo, tag))
            .await
            .clone()?;
        if let Ok(dir) = inner.cache.bucket(SIZES_BUCKET) {
            for (digest, size) in &sizes {
                if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    let _ = crate::fs::write_atomic(&dir.join(digest), size.to_string().as_bytes());
                }
            }
        }
        sizes
            .get(sha256)
            .copied()
            .ok_or_else(|| format!("the image index `{repo}:{tag}` does not list the bottle `{sha256}`"))
    }
}

/// The one version of a formula, read for each of the project's platforms.
struct FormulaVersion {
    source: BrewSource,
    formula: Arc<Formula>,
    pkg_version: String,
    views: BTreeMap<Platform, formula::PlatformView>,
}

impl std::fmt::Debug for FormulaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormulaVersion")
            .field("formula", &self.formula.common.name)
            .field("version", &self.pkg_version)
            .finish()
    }
}

impl FormulaVersion {
    /// The platforms the formula can be installed on, with what it offers there.
    fn installable(&self) -> impl Iterator<Item = (&Platform, &formula::PlatformView)> {
        self.views
            .iter()
            .filter(|(_, view)| view.excluded.is_none() && view.selection.chosen.is_some())
    }

    fn keys(&self, names: &[String]) -> Vec<String> {
        let mut keys: Vec<String> = names.iter().map(|name| self.source.lock_key(name)).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    async fn artifacts_async(&self, platforms: &BTreeSet<Platform>) -> Result<Artifacts, String> {
        let name = &self.formula.common.name;
        let mut artifacts = Artifacts::default();
        for platform in platforms {
            let Some(view) = self.views.get(platform) else {
                continue;
            };
            let why_not = match (&view.excluded, &view.selection.file) {
                (Some(reason), _) => Some(reason.clone()),
                (None, None) => Some("Homebrew has no bottle for it".to_string()),
                (None, Some(_)) => None,
            };
            if let Some(reason) = why_not {
                artifacts.warnings.push(format!(
                    "the Homebrew formula `{name}` is not available for {platform}: {reason}"
                ));
                continue;
            }
            let (Some(tag), Some(file)) = (&view.selection.chosen, &view.selection.file) else {
                continue;
            };
            let sha256 = file.sha256.to_ascii_lowercase();
            let (repo, digest) = bottle::blob_parts(&file.url).ok_or_else(|| {
                format!(
                    "the `{tag}` bottle's URL `{}` is not a registry blob URL",
                    file.url
                )
            })?;
            if !digest.eq_ignore_ascii_case(&sha256) {
                return Err(format!(
                    "the `{tag}` bottle's URL does not name its sha256 `{sha256}`"
                ));
            }
            let image = bottle::image_tag(&self.pkg_version, self.formula.rebuild());
            let size = self.source.bottle_size(repo, &image, &sha256).await?;
            let artifact = Artifact {
                url: bottle::blob_url(&self.source.inner.bottle_url, repo, &sha256),
                sha256,
                size,
                format: Some("tar.gz".to_string()),
                // A bottle holds `NAME/PKG_VERSION/…`: the store tree is the keg itself.
                strip_components: 2,
                bin: BTreeMap::new(),
                env: BTreeMap::new(),
                dependencies: Some(self.keys(&view.dependencies)),
                bottle: Some(Bottle {
                    formula: name.clone(),
                    tag: tag.clone(),
                    cellar: file.cellar.clone(),
                    keg_only: view.keg_only,
                    post_install: view.post_install,
                }),
            };
            artifacts.by_platform.insert(*platform, artifact);
        }
        Ok(artifacts)
    }
}

impl VersionDetails for FormulaVersion {
    fn dependencies(&self) -> Result<Vec<(String, VersionReq)>, String> {
        let names: Vec<String> = self
            .installable()
            .flat_map(|(_, view)| view.dependencies.iter().cloned())
            .collect();
        Ok(self
            .keys(&names)
            .into_iter()
            .map(|key| (key, VersionReq::any()))
            .collect())
    }

    fn artifacts(&self, platforms: &BTreeSet<Platform>) -> Result<Artifacts, String> {
        self.source
            .inner
            .runtime
            .block_on(self.artifacts_async(platforms))
    }

    fn platform_dependencies(&self, platform: Platform) -> Option<Vec<String>> {
        let deps = match self.views.get(&platform) {
            Some(view) if view.excluded.is_none() && view.selection.chosen.is_some() => {
                self.keys(&view.dependencies)
            }
            _ => Vec::new(),
        };
        Some(deps)
    }
}

//! Git forge releases as a package source: GitHub (and GitHub Enterprise), GitLab (and
//! self-hosted), Gitea/Forgejo (and Codeberg), behind one small interface: list a repository's
//! releases with their assets.
//!
//! A release is a version; for each platform the lock needs, [`assets::select`] picks the asset
//! deterministically, and its sha256 comes from the API's digest when there is one, else from a
//! checksum file in the release, else from downloading and hashing it. Installing from a
//! complete `velo.lock` asks no API anything.

mod api;
pub mod assets;
mod providers;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::OnceCell;

pub use api::{releases as api_releases, ForgeError, FORGE_BUCKET};
pub use providers::{ForgeRepo, Release, ReleaseAsset};

use super::memo::Memo;
use crate::cache::Cache;
use crate::http::HttpClient;
use crate::lock::Artifact;
use crate::manifest::{AssetPattern, BinSelection, PackageKey};
use crate::platform::Platform;
use crate::resolve::{Artifacts, PackageMeta, VersionDetails, VersionMeta};
use crate::version::{Version, VersionReq};

/// What the manifest says about one forge dependency.
#[derive(Debug, Clone, Default)]
pub struct ForgeOptions {
    /// Prerelease releases are considered only when the requirement names a prerelease.
    pub allow_prerelease: bool,
    pub asset: Option<AssetPattern>,
    pub bin: Option<BinSelection>,
}

/// All forge packages of one project. Cheap to clone; clones share fetches.
#[derive(Clone)]
pub struct ForgeSource {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    cache: Cache,
    offline: bool,
    runtime: tokio::runtime::Handle,
    packages: Memo<ForgeError>,
}

impl ForgeSource {
    /// Must be called inside a tokio runtime.
    pub fn new(http: HttpClient, cache: &Cache, offline: bool) -> Self {
        let inner = Inner {
            http,
            cache: cache.clone(),
            offline,
            runtime: tokio::runtime::Handle::current(),
            packages: Memo::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Every release of the repository `key` names, as versions.
    pub async fn get_async(
        &self,
        name: &str,
        key: &PackageKey,
        options: &ForgeOptions,
    ) -> Result<Arc<PackageMeta>, Arc<ForgeError>> {
        self.inner
            .packages
            .get(name, || async {
                let repo = ForgeRepo::from_key(key)?;
                let releases =
                    api::releases(&self.inner.http, &self.inner.cache, self.inner.offline, &repo).await?;
                Ok(self.meta(&repo, releases, options))
            })
            .await
    }

    pub fn get_blocking(
        &self,
        name: &str,
        key: &PackageKey,
        options: &ForgeOptions,
    ) -> Result<Arc<PackageMeta>, Arc<ForgeError>> {
        self.inner.runtime.block_on(self.get_async(name, key, options))
    }

    fn meta(&self, repo: &ForgeRepo, releases: Vec<Release>, options: &ForgeOptions) -> PackageMeta {
        let mut meta = PackageMeta {
            source: repo.key.clone(),
            ..PackageMeta::default()
        };
        let context = Arc::new(ReleaseContext {
            source: self.clone(),
            repo: repo.clone(),
            options: options.clone(),
        });
        for release in releases {
            if release.draft || (release.prerelease && !options.allow_prerelease) {
                continue;
            }
            let Ok(version) = Version::parse_lenient(&release.tag) else {
                meta.warnings.push(format!(
                    "skipped release `{}` of `{}`: its tag is not a version",
                    release.tag, repo.key
                ));
                continue;
            };
            if version.is_prerelease() && !options.allow_prerelease || meta.versions.contains_key(&version) {
                continue;
            }
            let tag = release.tag.clone();
            let details = ForgeVersion {
                context: context.clone(),
                release: Arc::new(release),
                checksums: OnceCell::new(),
            };
            meta.versions.insert(version, VersionMeta::new(tag, details));
        }
        meta
    }
}

/// What every release of one package shares.
struct ReleaseContext {
    source: ForgeSource,
    repo: ForgeRepo,
    options: ForgeOptions,
}

impl std::fmt::Debug for ReleaseContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseContext")
            .field("repo", &self.repo.key)
            .finish()
    }
}

/// One release, whose artifacts are worked out only if the lock chooses it.
#[derive(Debug)]
struct ForgeVersion {
    context: Arc<ReleaseContext>,
    release: Arc<Release>,
    /// Checksum files of the release, fetched at most once: file name → (asset name → sha256).
    checksums: OnceCell<BTreeMap<String, BTreeMap<String, String>>>,
}

impl VersionDetails for ForgeVersion {
    fn dependencies(&self) -> Result<Vec<(String, VersionReq)>, String> {
        Ok(Vec::new())
    }

    fn artifacts(&self, platforms: &BTreeSet<Platform>) -> Result<Artifacts, String> {
        let inner = &self.context.source.inner;
        inner.runtime.block_on(self.artifacts_async(platforms))
    }
}

impl ForgeVersion {
    async fn artifacts_async(&self, platforms: &BTreeSet<Platform>) -> Result<Artifacts, String> {
        let mut artifacts = Artifacts::default();
        let infos = self.release.asset_infos();
        for &platform in platforms {
            let preferences = assets::Preferences {
                pattern: self.pattern(platform),
                ..assets::Preferences::default()
            };
            let selection = assets::select(&infos, platform, &preferences);
            let Some(index) = selection.chosen else { continue };
            let asset = &self.release.assets[index];
            let artifact = self.artifact(asset).await.map_err(|err| err.to_string())?;
            artifacts.by_platform.insert(platform, artifact);
        }
        Ok(artifacts)
    }

    fn pattern(&self, platform: Platform) -> Option<String> {
        match &self.context.options.asset {
            Some(AssetPattern::All(pattern)) => Some(pattern.clone()),
            Some(AssetPattern::PerPlatform(map)) => map.get(&platform).cloned(),
            None => None,
        }
    }

    /// The lock entry for `asset`: its digest from the API, a checksum file, or a download.
    async fn artifact(&self, asset: &ReleaseAsset) -> Result<Artifact, ForgeError> {
        let inner = &self.context.source.inner;
        let format = assets::archive_format(&asset.name).unwrap_or("raw");
        let (sha256, size) = match (&asset.sha256, asset.size) {
            (Some(sha256), Some(size)) => (sha256.clone(), size),
            _ => match self.checksum_from_files(&asset.name).await? {
                Some(sha256) => {
                    let size = match asset.size {
                        Some(size) => size,
                        None => api::content_length(&inner.http, &asset.url, &self.context.repo).await?,
                    };
                    (sha256, size)
                }
                None => api::download_digest(&inner.http, &asset.url, &self.context.repo).await?,
            },
        };
        let mut bin = BTreeMap::new();
        if format == "raw" || matches!(format, "gz" | "xz" | "zst") {
            // A bare binary is saved under the command's name.
            let command = match &self.context.options.bin {
                Some(BinSelection::Names(names)) if names.len() == 1 => names[0].clone(),
                _ => self.context.repo.name.clone(),
            };
            let file = if asset.name.to_ascii_lowercase().ends_with(".exe") {
                format!("{command}.exe")
            } else {
                command.clone()
            };
            bin.insert(command, file);
        }
        Ok(Artifact {
            url: asset.url.clone(),
            sha256,
            size,
            format: Some(format.to_string()),
            strip_components: 0,
            bin,
            env: BTreeMap::new(),
            dependencies: None,
            bottle: None,
        })
    }

    /// The asset's sha256 from a checksum file in the release: `<asset>.sha256` first, then
    /// files listing many (`sha256sums.txt`, `checksums.txt`, …).
    async fn checksum_from_files(&self, name: &str) -> Result<Option<String>, ForgeError> {
        let files = self
            .checksums
            .get_or_try_init(|| async {
                let inner = &self.context.source.inner;
                let mut files = BTreeMap::new();
                for asset in self
                    .release
                    .assets
                    .iter()
                    .filter(|a| assets::is_checksum_file(&a.name))
                {
                    let text = api::fetch_text(&inner.http, &asset.url, &self.context.repo).await?;
                    files.insert(asset.name.clone(), parse_checksums(&text, &asset.name));
                }
                Ok::<_, ForgeError>(files)
            })
            .await?;
        let own = [format!("{name}.sha256"), format!("{name}.sha256sum")];
        let ordered = files
            .iter()
            .filter(|(file, _)| own.contains(file))
            .chain(files.iter().filter(|(file, _)| !own.contains(file)));
        for (_, sums) in ordered {
            if let Some(sha256) = sums.get(name) {
                return Ok(Some(sha256.clone()));
            }
        }
        Ok(None)
    }
}

/// `<hex>  <name>` / `<hex> *<name>` lines, or a lone digest in `<name>.sha256`.
fn parse_checksums(text: &str, file_name: &str) -> BTreeMap<String, String> {
    let mut sums = BTreeMap::new();
    let is_digest = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(first), second) = (parts.next(), parts.next()) else {
            continue;
        };
        // Some files put the name first: `name: <hex>` or `name <hex>`.
        let (digest, name) = if is_digest(first) {
            (first, second.map(|n| n.trim_start_matches('*')))
        } else if let Some(second) = second.filter(|s| is_digest(s)) {
            (second, Some(first.trim_end_matches(':')))
        } else {
            continue;
        };
        let name = name
            .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
            .unwrap_or_else(|| {
                file_name
                    .trim_end_matches(".sha256sum")
                    .trim_end_matches(".sha256")
                    .to_string()
            });
        sums.insert(name, digest.to_ascii_lowercase());
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_files() {
        let d = "a".repeat(64);
        let e = "B".repeat(64);
        let text = format!("{d}  tool-linux.tar.gz\n{e} *dist/tool-mac.zip\n# comment\n");
        let sums = parse_checksums(&text, "sha256sums.txt");
        assert_eq!(sums["tool-linux.tar.gz"], d);
        assert_eq!(sums["tool-mac.zip"], "b".repeat(64));
        let single = parse_checksums(&format!("{d}\n"), "tool.tar.gz.sha256");
        assert_eq!(single["tool.tar.gz"], d);
        let name_first = parse_checksums(&format!("tool.zip: {d}\n"), "checksums.txt");
        assert_eq!(name_first["tool.zip"], d);
    }
}

//! The velo index: a static tree of JSON files served over `https://`, `http://` or `file://`.
//!
//! ```text
//! <root>/index.json              {"format": 1, "packages": [...]}
//! <root>/packages/<name>.json    all versions of one package
//! ```
//!
//! Package files are fetched concurrently (the resolver names what it will want next), cached
//! in the user cache with their ETag / Last-Modified and revalidated with conditional requests.
//! A local index is read in place and never cached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use url::Url;

use super::memo::Memo;
use super::SourceError;
use crate::cache::{url_digest, Cache, INDEX_BUCKET};
use crate::http::{Fetched, HttpClient, Validators};
use crate::lock::Artifact;
use crate::manifest::is_valid_name;
use crate::platform::Platform;
use crate::resolve::{Artifacts, PackageMeta, VersionDetails, VersionMeta};
use crate::version::{Version, VersionReq};

/// Where an index lives.
#[derive(Debug, Clone)]
pub struct IndexLocation {
    /// The registry as written in `velo.json`; recorded in the lock's `source` fields.
    pub registry: String,
    /// The index root, always ending in `/`.
    pub url: Url,
    /// For an index given as a relative path: the project root, so that artifact URLs are
    /// recorded relative to it and the lock stays the same on every machine.
    relative_to: Option<PathBuf>,
}

impl IndexLocation {
    /// Parse a `registry` value: an `http(s)://` or `file://` URL, or a path relative to `root`.
    pub fn parse(registry: &str, root: &Path) -> Result<Self, SourceError> {
        let invalid = |reason: &str| SourceError::InvalidRegistry {
            registry: registry.to_string(),
            reason: reason.to_string(),
        };
        let with_slash = |mut url: Url| {
            // `…/index.json` names the index by its root file; the root is its directory.
            if url.path().ends_with("/index.json") {
                let dir = url.path().trim_end_matches("index.json").to_string();
                url.set_path(&dir);
            }
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            url
        };
        if let Ok(url) = Url::parse(registry) {
            return match url.scheme() {
                "http" | "https" | "file" => Ok(Self {
                    registry: registry.to_string(),
                    url: with_slash(url),
                    relative_to: None,
                }),
                // `C:\index` parses as a URL with scheme `c`.
                scheme if scheme.len() > 1 => Err(invalid(
                    "only `https://`, `http://` and `file://` URLs or local paths are supported",
                )),
                _ => Self::from_path(registry, root),
            };
        }
        Self::from_path(registry, root)
    }

    fn from_path(registry: &str, root: &Path) -> Result<Self, SourceError> {
        let path = Path::new(registry);
        let path = if path.file_name().is_some_and(|name| name == "index.json") {
            path.parent().unwrap_or(path)
        } else {
            path
        };
        let relative = path.is_relative();
        let absolute = if relative {
            root.join(path)
        } else {
            path.to_path_buf()
        };
        let absolute = crate::fs::normalize(&std::path::absolute(&absolute).unwrap_or(absolute));
        let url = Url::from_directory_path(&absolute).map_err(|()| SourceError::InvalidRegistry {
            registry: registry.to_string(),
            reason: "not a usable path".to_string(),
        })?;
        Ok(Self {
            registry: registry.to_string(),
            url,
            relative_to: relative.then(|| root.to_path_buf()),
        })
    }

    fn package_url(&self, name: &str) -> Url {
        self.url
            .join(&format!("packages/{name}.json"))
            .expect("a package name is a valid URL path segment")
    }

    /// How an artifact URL is recorded in the lock.
    fn lock_url(&self, url: &Url) -> String {
        let Some(root) = &self.relative_to else {
            return url.to_string();
        };
        let Ok(path) = url.to_file_path() else {
            return url.to_string();
        };
        let root = crate::fs::normalize(&std::path::absolute(root).unwrap_or_else(|_| root.clone()));
        relative_path(&root, &path).map_or_else(|| url.to_string(), |rel| rel.replace('\\', "/"))
    }
}

/// `path` relative to the directory `base`, when both are absolute.
fn relative_path(base: &Path, path: &Path) -> Option<String> {
    let base: Vec<_> = base.components().collect();
    let path: Vec<_> = path.components().collect();
    let common = base.iter().zip(&path).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), base.len() - common).collect();
    parts.extend(
        path[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Some(parts.join("/"))
}

/// `<root>/packages/<name>.json`.
#[derive(Debug, Deserialize)]
struct PackageFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    versions: BTreeMap<String, VersionEntry>,
}

#[derive(Debug, Deserialize)]
struct VersionEntry {
    #[serde(default)]
    dependencies: Option<Box<RawValue>>,
    #[serde(default)]
    artifacts: Option<Box<RawValue>>,
    #[serde(default)]
    yanked: bool,
}

/// Every field optional here so that one bad artifact costs its platform, not the package.
#[derive(Debug, Deserialize)]
struct ArtifactEntry {
    url: Option<String>,
    sha256: Option<String>,
    size: Option<u64>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    strip_components: u32,
    #[serde(default)]
    bin: BTreeMap<String, String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// `<root>/index.json`.
#[derive(Debug, Deserialize)]
struct IndexFile {
    #[serde(default)]
    packages: Vec<String>,
}

/// Stored beside a cached package file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheEntryMeta {
    url: String,
    #[serde(flatten)]
    validators: Validators,
    /// Seconds since the epoch until which the server said the copy is fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fresh_until: Option<u64>,
}

/// A velo index. Cheap to clone; clones share fetches.
#[derive(Clone)]
pub struct IndexSource {
    inner: Arc<Inner>,
}

/// How many package files may be in flight at once.
const MAX_CONCURRENT_FETCHES: usize = 32;

struct Inner {
    location: Arc<IndexLocation>,
    http: HttpClient,
    fetch_slots: tokio::sync::Semaphore,
    cache: Cache,
    offline: bool,
    runtime: tokio::runtime::Handle,
    packages: Memo<SourceError>,
}

impl IndexSource {
    /// Must be called inside a tokio runtime.
    pub fn new(location: IndexLocation, http: HttpClient, cache: &Cache, offline: bool) -> Self {
        let inner = Inner {
            location: Arc::new(location),
            http,
            fetch_slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
            cache: cache.clone(),
            offline,
            runtime: tokio::runtime::Handle::current(),
            packages: Memo::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// All versions of `name`, fetched once however many callers ask.
    pub async fn get_async(&self, name: &str) -> Result<Arc<PackageMeta>, Arc<SourceError>> {
        self.inner.packages.get(name, || self.inner.load(name)).await
    }

    /// The blocking form, for the resolver's thread.
    pub fn get_blocking(&self, name: &str) -> Result<Arc<PackageMeta>, Arc<SourceError>> {
        self.inner.runtime.block_on(self.get_async(name))
    }

    /// Start fetching `name` in the background.
    pub fn prefetch(&self, name: &str) {
        if self.inner.packages.is_done(name) {
            return;
        }
        let this = self.clone();
        let name = name.to_string();
        self.inner.runtime.spawn(async move {
            let _ = this.get_async(&name).await;
        });
    }
}

impl Inner {
    async fn load(&self, name: &str) -> Result<PackageMeta, SourceError> {
        let url = self.location.package_url(name);
        let Some(bytes) = self.read(name, &url).await? else {
            let suggestion = self.suggest(name).await;
            return Err(SourceError::PackageNotFound {
                name: name.to_string(),
                index: crate::http::redacted(&self.location.url),
                suggestion,
            });
        };
        self.parse_package(name, &url, &bytes)
    }

    /// The package file's bytes, or `None` when the index does not have it.
    async fn read(&self, name: &str, url: &Url) -> Result<Option<Vec<u8>>, SourceError> {
        if url.scheme() == "file" {
            let path = url.to_file_path().map_err(|()| SourceError::InvalidRegistry {
                registry: self.location.registry.clone(),
                reason: "not a local path".to_string(),
            })?;
            return match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(SourceError::Io { path, source }),
            };
        }
        self.read_cached(name, url).await
    }

    async fn read_cached(&self, name: &str, url: &Url) -> Result<Option<Vec<u8>>, SourceError> {
        let dir = self
            .cache
            .root()
            .join(INDEX_BUCKET)
            .join(url_digest(self.location.url.as_str()));
        let body_path = dir.join(format!("{name}.json"));
        let meta_path = dir.join(format!("{name}.meta.json"));
        let cached_meta: Option<CacheEntryMeta> = tokio::fs::read(&meta_path)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .filter(|meta: &CacheEntryMeta| meta.url == url.as_str());
        let cached_body = match &cached_meta {
            Some(_) => tokio::fs::read(&body_path).await.ok(),
            None => None,
        };

        if self.offline {
            return match cached_body {
                Some(body) => Ok(Some(body)),
                None => Err(SourceError::NotCached {
                    name: name.to_string(),
                    index: crate::http::redacted(&self.location.url),
                }),
            };
        }
        if let (Some(meta), Some(body)) = (&cached_meta, &cached_body) {
            if meta.fresh_until.is_some_and(|until| until > now_secs()) {
                return Ok(Some(body.clone()));
            }
        }
        let validators = cached_body
            .as_ref()
            .and(cached_meta.as_ref())
            .map(|meta| &meta.validators);
        let _slot = self
            .fetch_slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        match self.http.fetch(url, validators).await? {
            Fetched::NotModified => match cached_body {
                Some(body) => Ok(Some(body)),
                // A 304 we did not ask for: fetch again without validators.
                None => match self.http.fetch(url, None).await? {
                    Fetched::Body { bytes, .. } => Ok(Some(bytes)),
                    _ => Ok(None),
                },
            },
            Fetched::NotFound => Ok(None),
            Fetched::Body {
                bytes,
                validators,
                max_age,
            } => {
                let meta = CacheEntryMeta {
                    url: url.to_string(),
                    validators,
                    fresh_until: max_age.map(|age| now_secs() + age.as_secs()),
                };
                // The cache is an optimisation: failing to write it must not fail the lock.
                let _ = store(&self.cache, &dir, &body_path, &bytes, &meta_path, &meta);
                Ok(Some(bytes))
            }
        }
    }

    /// A close match for a missing package name, from `index.json`.
    async fn suggest(&self, name: &str) -> Option<String> {
        let url = self.location.url.join("index.json").ok()?;
        let bytes = if url.scheme() == "file" {
            tokio::fs::read(url.to_file_path().ok()?).await.ok()?
        } else if self.offline {
            return None;
        } else {
            match self.http.fetch(&url, None).await.ok()? {
                Fetched::Body { bytes, .. } => bytes,
                _ => return None,
            }
        };
        let index: IndexFile = serde_json::from_slice(&bytes).ok()?;
        crate::suggest::closest(name, index.packages.iter().map(String::as_str)).map(str::to_string)
    }

    fn parse_package(&self, name: &str, url: &Url, bytes: &[u8]) -> Result<PackageMeta, SourceError> {
        let invalid = |message: String| SourceError::InvalidPackageFile {
            url: crate::http::redacted(url),
            message,
        };
        let file: PackageFile = serde_json::from_slice(bytes).map_err(|err| invalid(err.to_string()))?;
        if let Some(other) = file.name.as_deref().filter(|other| *other != name) {
            return Err(invalid(format!("it describes `{other}`, not `{name}`")));
        }
        let mut meta = PackageMeta {
            source: format!("index+{}", self.location.registry),
            ..PackageMeta::default()
        };
        let context = Arc::new(PackageContext {
            name: name.to_string(),
            url: url.clone(),
            location: self.location.clone(),
        });
        for (text, entry) in file.versions {
            if entry.yanked {
                continue;
            }
            let version = match Version::parse_lenient(&text) {
                Ok(version) => version,
                Err(err) => {
                    meta.warnings
                        .push(format!("skipped a version of `{name}` in the index: {err}"));
                    continue;
                }
            };
            if meta.versions.contains_key(&version) {
                meta.warnings
                    .push(format!("`{name}` lists version {version} twice; using the first"));
                continue;
            }
            let details = IndexVersion {
                context: context.clone(),
                version: version.to_string(),
                dependencies: entry.dependencies,
                artifacts: entry.artifacts,
            };
            meta.versions.insert(version, VersionMeta::new(text, details));
        }
        Ok(meta)
    }
}

/// What every version of one package file shares.
#[derive(Debug)]
struct PackageContext {
    name: String,
    /// The package file's URL, which relative artifact URLs are resolved against.
    url: Url,
    location: Arc<IndexLocation>,
}

/// One version's entry, kept as raw JSON until the resolver or the lock needs it.
#[derive(Debug)]
struct IndexVersion {
    context: Arc<PackageContext>,
    version: String,
    dependencies: Option<Box<RawValue>>,
    artifacts: Option<Box<RawValue>>,
}

impl VersionDetails for IndexVersion {
    fn dependencies(&self) -> Result<Vec<(String, VersionReq)>, String> {
        let Some(raw) = &self.dependencies else {
            return Ok(Vec::new());
        };
        let dependencies: BTreeMap<String, String> = serde_json::from_str(raw.get())
            .map_err(|err| format!("its `dependencies` are not a map of names to requirements: {err}"))?;
        parse_dependencies(&dependencies)
    }

    fn artifacts(&self, _platforms: &std::collections::BTreeSet<Platform>) -> Result<Artifacts, String> {
        let mut artifacts = Artifacts::default();
        let PackageContext { name, url, location } = &*self.context;
        let version = &self.version;
        let Some(raw) = &self.artifacts else {
            return Ok(artifacts);
        };
        let entries: BTreeMap<String, ArtifactEntry> = match serde_json::from_str(raw.get()) {
            Ok(entries) => entries,
            Err(err) => {
                artifacts
                    .warnings
                    .push(format!("`{name} {version}` has unreadable `artifacts`: {err}"));
                return Ok(artifacts);
            }
        };
        for (platform, entry) in entries {
            // Platforms this velo does not know are for newer velo; skip them quietly.
            let Ok(platform) = platform.parse::<Platform>() else {
                continue;
            };
            match artifact(location, url, entry) {
                Ok(artifact) => {
                    artifacts.by_platform.insert(platform, artifact);
                }
                Err(reason) => artifacts.warnings.push(format!(
                    "`{name} {version}` has an invalid {platform} artifact: {reason}"
                )),
            }
        }
        Ok(artifacts)
    }
}

fn artifact(location: &IndexLocation, package_url: &Url, entry: ArtifactEntry) -> Result<Artifact, String> {
    let (Some(url), Some(sha256), Some(size)) = (entry.url, entry.sha256, entry.size) else {
        return Err("it needs `url`, `sha256` and `size`".to_string());
    };
    let sha256 = sha256.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{sha256}` is not a sha256 digest"));
    }
    let url = package_url
        .join(&url)
        .map_err(|err| format!("bad url `{url}`: {err}"))?;
    if !matches!(url.scheme(), "http" | "https" | "file") {
        return Err(format!("unsupported url scheme in `{url}`"));
    }
    if url.scheme() == "file" && package_url.scheme() != "file" {
        return Err(format!("a remote index may not point at local file `{url}`"));
    }
    for path in entry.bin.values() {
        if path.starts_with('/') || path.split(['/', '\\']).any(|part| part == "..") {
            return Err(format!("bin path `{path}` leaves the package"));
        }
    }
    Ok(Artifact {
        url: location.lock_url(&url),
        sha256,
        size,
        format: entry.format,
        strip_components: entry.strip_components,
        bin: entry.bin,
        env: entry.env,
        dependencies: None,
        bottle: None,
    })
}

fn parse_dependencies(dependencies: &BTreeMap<String, String>) -> Result<Vec<(String, VersionReq)>, String> {
    dependencies
        .iter()
        .map(|(name, requirement)| {
            if !is_valid_name(name) {
                return Err(format!("its dependency name `{name}` is invalid"));
            }
            let requirement = requirement
                .parse::<VersionReq>()
                .map_err(|err| format!("its dependency on `{name}` has an {err}"))?;
            Ok((name.clone(), requirement))
        })
        .collect()
}

fn store(
    cache: &Cache,
    dir: &Path,
    body_path: &Path,
    body: &[u8],
    meta_path: &Path,
    meta: &CacheEntryMeta,
) -> std::io::Result<()> {
    cache.bucket(INDEX_BUCKET)?;
    fs_err::create_dir_all(dir)?;
    crate::fs::write_atomic(body_path, body)?;
    let meta = serde_json::to_vec(meta).map_err(std::io::Error::other)?;
    crate::fs::write_atomic(meta_path, &meta)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/project"), Path::new("/a/b/index/x.tgz")).unwrap(),
            "../index/x.tgz"
        );
        assert_eq!(
            relative_path(Path::new("/a/p"), Path::new("/a/p/index/x.tgz")).unwrap(),
            "index/x.tgz"
        );
    }

    #[test]
    fn registry_forms() {
        let root = Path::new("/work/project");
        let http = IndexLocation::parse("http://127.0.0.1:8080/velo", root).unwrap();
        assert_eq!(http.url.as_str(), "http://127.0.0.1:8080/velo/");
        assert_eq!(
            http.package_url("jq").as_str(),
            "http://127.0.0.1:8080/velo/packages/jq.json"
        );
        let local = IndexLocation::parse("../index", root).unwrap();
        assert_eq!(local.url.as_str(), "file:///work/index/");
        let artifact = local
            .url
            .join("packages/jq.json")
            .unwrap()
            .join("../artifacts/jq.tgz")
            .unwrap();
        assert_eq!(local.lock_url(&artifact), "../index/artifacts/jq.tgz");
        assert!(IndexLocation::parse("ftp://example.com/x", root).is_err());
        let file = IndexLocation::parse("http://127.0.0.1:8080/velo/index.json", root).unwrap();
        assert_eq!(file.url.as_str(), "http://127.0.0.1:8080/velo/");
        let file = IndexLocation::parse("../index/index.json", root).unwrap();
        assert_eq!(file.url.as_str(), "file:///work/index/");
    }
}

//! The global content-addressed store in the user cache directory.
//!
//! ```text
//! <cache>/downloads-v1/<sha256>        verified downloads, named by their digest
//! <cache>/downloads-v1/.part/<sha256>  downloads in progress (resumed with `Range`)
//! <cache>/trees-v1/<key>/              extracted trees, keyed by digest + how they were unpacked
//! <cache>/locks/<kind>-<key>.lock      file locks, so several velo processes can share the store
//! <cache>/tmp/                         staging: trees are built here, then renamed into place
//! ```
//!
//! Every entry appears by a rename of something complete, under a file lock, so a reader sees
//! a whole entry or none, and two processes never build the same entry at once. The store knows
//! content hashes, not packages.

pub mod download;
pub mod extract;
pub mod link;

use std::fs::File;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use download::{DownloadError, DownloadEvent, Downloader};
pub use extract::{ArchiveFormat, ExtractError, ExtractOptions};
pub use link::{symlink, LinkMode, Linker};

use crate::cache::Cache;

pub const DOWNLOADS_BUCKET: &str = "downloads-v1";
pub const TREES_BUCKET: &str = "trees-v1";
const LOCKS_DIR: &str = "locks";
const TMP_DIR: &str = "tmp";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to access the cache at `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Extract(#[from] ExtractError),
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How an artifact becomes a tree; part of the tree's key.
#[derive(Debug, Clone)]
pub struct TreeSpec {
    pub sha256: String,
    pub format: ArchiveFormat,
    pub strip_components: u32,
    /// The file name for single-file formats.
    pub file_name: String,
}

impl TreeSpec {
    /// The tree's directory name: a digest of everything that decides its content.
    pub fn key(&self) -> String {
        let input = format!(
            "v1\0{}\0{:?}\0{}\0{}",
            self.sha256, self.format, self.strip_components, self.file_name
        );
        hex::encode(&Sha256::digest(input.as_bytes())[..16])
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    cache: Cache,
    /// Refuse archives that unpack to more than this (decompression bombs).
    pub max_unpacked_size: u64,
}

impl Store {
    pub fn new(cache: Cache, max_unpacked_size: u64) -> Self {
        Self {
            cache,
            max_unpacked_size,
        }
    }

    pub fn root(&self) -> &Path {
        self.cache.root()
    }

    pub fn download_path(&self, sha256: &str) -> PathBuf {
        self.root().join(DOWNLOADS_BUCKET).join(sha256)
    }

    pub fn tree_path(&self, spec: &TreeSpec) -> PathBuf {
        self.root().join(TREES_BUCKET).join(spec.key())
    }

    /// A directory for staging, on the same file system as the store.
    pub fn temp_dir(&self) -> Result<tempfile::TempDir, StoreError> {
        let dir = self.bucket(TMP_DIR)?;
        tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&dir)
            .map_err(io_error(&dir))
    }

    pub fn bucket(&self, name: &str) -> Result<PathBuf, StoreError> {
        self.cache.bucket(name).map_err(io_error(&self.root().join(name)))
    }

    /// Take the exclusive lock named `kind-key`, waiting for another process to release it.
    /// Blocking: call from a blocking thread.
    pub fn lock(&self, kind: &str, key: &str) -> Result<FileLock, StoreError> {
        let dir = self.bucket(LOCKS_DIR)?;
        FileLock::acquire(&dir.join(format!("{kind}-{key}.lock")))
    }

    /// The unpacked tree for `spec`, extracting `archive` into the store if it is not there yet.
    /// Blocking: call from a blocking thread.
    pub fn tree(&self, spec: &TreeSpec, archive: &Path) -> Result<PathBuf, StoreError> {
        let target = self.tree_path(spec);
        // Not through a link: whatever is at a tree's place must be a directory velo built.
        let is_tree = |path: &Path| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        if is_tree(&target) {
            touch(&target);
            return Ok(target);
        }
        let _lock = self.lock("tree", &spec.key())?;
        if is_tree(&target) {
            return Ok(target);
        }
        // Something else there (a link, a file) would make the rename fail or land elsewhere.
        let trees = crate::fs::owned::OwnedDir::ensure(self.root(), Path::new(TREES_BUCKET))
            .map_err(io_error(&self.root().join(TREES_BUCKET)))?;
        trees.remove(&spec.key()).map_err(io_error(&target))?;
        let staging = self.temp_dir()?;
        let unpacked = staging.path().join("tree");
        fs_err::create_dir(&unpacked).map_err(io_error(&unpacked))?;
        let options = ExtractOptions {
            strip_components: spec.strip_components,
            max_unpacked_size: self.max_unpacked_size,
            file_name: spec.file_name.clone(),
        };
        extract::extract(archive, spec.format, &unpacked, &options)?;
        fs_err::rename(&unpacked, &target).map_err(io_error(trees.path()))?;
        Ok(target)
    }
}

/// Mark a store entry as used now, for least-recently-used pruning.
pub fn touch(path: &Path) {
    if let Ok(file) = File::open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// An exclusive advisory lock on a file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// The lock file, created if missing; never through a symlink, and only a regular file.
    fn open(path: &Path) -> Result<File, StoreError> {
        crate::fs::owned::open_regular(path, File::options().create(true).truncate(false).write(true))
            .map_err(io_error(path))
    }

    pub fn acquire(path: &Path) -> Result<Self, StoreError> {
        Self::lock_file(Self::open(path)?, path)
    }

    /// Wait for the lock on `file`, an open lock file (at `path`, for errors).
    pub fn lock_file(file: File, path: &Path) -> Result<Self, StoreError> {
        file.lock().map_err(io_error(path))?;
        Ok(Self { file })
    }

    /// Take the lock if it is free; `None` when another process holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>, StoreError> {
        Self::try_lock_file(Self::open(path)?, path)
    }

    /// Like [`FileLock::try_acquire`], for an open lock file.
    pub fn try_lock_file(file: File, path: &Path) -> Result<Option<Self>, StoreError> {
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

//! The user cache directory and its buckets.
//!
//! ```text
//! <cache>/CACHEDIR.TAG
//! <cache>/index-v1/<digest of index URL>/<name>.json       package files fetched over HTTP
//! <cache>/index-v1/<digest of index URL>/<name>.meta.json  their ETag / Last-Modified / expiry
//! ```
//! Bucket names carry a version so a format change starts a fresh bucket instead of misreading
//! an old one. The `CACHEDIR.TAG` is also how velo knows a directory is its own: `velo cache
//! clean` and `prune` refuse one without it ([`Cache::check_owned`]), since `VELO_CACHE_DIR` may
//! point anywhere.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by velo.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// Package metadata fetched from velo indexes.
pub const INDEX_BUCKET: &str = "index-v1";

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `bucket`, created (with the cache's `CACHEDIR.TAG`) if needed.
    pub fn bucket(&self, bucket: &str) -> std::io::Result<PathBuf> {
        let dir = self.root.join(bucket);
        fs_err::create_dir_all(&dir)?;
        let tag = self.root.join("CACHEDIR.TAG");
        if !tag.exists() {
            crate::fs::write_atomic(&tag, CACHEDIR_TAG.as_bytes())?;
        }
        Ok(dir)
    }
}

/// A directory that `velo cache clean` or `prune` will not touch.
#[derive(Debug, thiserror::Error)]
#[error("`{}` is not a velo cache directory: it has no `CACHEDIR.TAG` written by velo", root.display())]
pub struct NotOwned {
    pub root: PathBuf,
}

impl Cache {
    /// Whether the root holds velo's own `CACHEDIR.TAG`: a regular file (not a link) that starts
    /// with the tag signature and names velo. A root that does not exist or is empty has nothing
    /// to lose and passes.
    pub fn check_owned(&self) -> Result<(), NotOwned> {
        let not_owned = || NotOwned {
            root: self.root.clone(),
        };
        match std::fs::read_dir(&self.root) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) => return Err(not_owned()),
            Ok(mut entries) => {
                if entries.next().is_none() {
                    return Ok(());
                }
            }
        }
        let tag = self.root.join("CACHEDIR.TAG");
        let is_file = std::fs::symlink_metadata(&tag).is_ok_and(|metadata| metadata.is_file());
        let mut head = Vec::new();
        let read = is_file
            && std::fs::File::open(&tag)
                .and_then(|file| std::io::Read::read_to_end(&mut std::io::Read::take(file, 512), &mut head))
                .is_ok();
        let ours = read && head.starts_with(CACHEDIR_TAG.lines().next().unwrap_or_default().as_bytes()) && {
            String::from_utf8_lossy(&head).contains("created by velo")
        };
        if ours {
            Ok(())
        } else {
            Err(not_owned())
        }
    }
}

/// A short, stable directory name for a URL.
pub fn url_digest(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    hex::encode(&digest[..8])
}

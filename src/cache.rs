//! The user cache directory and its buckets.
//!
//! ```text
//! <cache>/CACHEDIR.TAG
//! <cache>/index-v1/<digest of index URL>/<name>.json       package files fetched over HTTP
//! <cache>/index-v1/<digest of index URL>/<name>.meta.json  their ETag / Last-Modified / expiry
//! ```
//! Bucket names carry a version so a format change starts a fresh bucket instead of misreading
//! an old one.

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

/// A short, stable directory name for a URL.
pub fn url_digest(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    hex::encode(&digest[..8])
}

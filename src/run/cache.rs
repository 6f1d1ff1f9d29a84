//! The local task cache: `<cache>/tasks-v1/<key>/` holding `artifact.tar.zst` and
//! `artifact.json` (the artifact's blake3 and size).
//!
//! An entry is built in a hidden staging directory beside the others and renamed into place,
//! so readers see a whole entry or none; when two runs store the same key, the first rename
//! wins and the second drops its copy. A hit sets the entry's modification time, which is what
//! `velo cache prune --max-size` evicts by. Only an entry verified to be damaged is discarded,
//! renamed aside first so no reader sees half of one; an unreadable entry is a miss.

use std::path::{Path, PathBuf};

use super::artifact::{self, ArtifactError, ArtifactMeta, Written};
use super::glob::Found;

pub const TASKS_BUCKET: &str = "tasks-v1";
const ARTIFACT: &str = "artifact.tar.zst";
const SIDECAR: &str = "artifact.json";
/// How long to wait before reading an entry again that seemed to change while it was read.
const RECHECK: std::time::Duration = std::time::Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct TaskCache {
    dir: PathBuf,
    /// `--force`: a new result replaces a stored one instead of giving way to it.
    replace: bool,
    /// Keys whose entries this process committed, from artifacts whose digest it computed as
    /// it wrote or downloaded them: a lookup need not read them again to check.
    verified: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// The result of looking a key up.
#[derive(Debug)]
pub enum Lookup {
    Hit(PathBuf),
    Miss,
    /// The entry exists but does not match its recorded digest (it has been removed).
    Corrupt(String),
    /// The entry exists but cannot be read (permissions, I/O): a miss; the entry is kept.
    Unreadable(String),
}

impl TaskCache {
    pub fn new(cache: &crate::cache::Cache) -> std::io::Result<Self> {
        Ok(Self {
            dir: cache.bucket(TASKS_BUCKET)?,
            replace: false,
            verified: Default::default(),
        })
    }

    /// With `replace`, `store` overwrites an existing entry (for `--force`).
    pub fn replacing(self, replace: bool) -> Self {
        Self { replace, ..self }
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// Whether an entry exists, without verifying it (for `--dry-run`).
    pub fn contains(&self, key: &str) -> bool {
        self.entry(key).join(SIDECAR).is_file()
    }

    /// Find `key` and verify the artifact against its digest. Only an entry verified to be
    /// damaged is deleted: one that cannot be read is a miss, and one that changed while it was
    /// read (another run replacing it with `--force`) is read again.
    pub fn lookup(&self, key: &str) -> Lookup {
        let entry = self.entry(key);
        let mut tries = 0;
        loop {
            tries += 1;
            let sidecar_bytes = match std::fs::read(entry.join(SIDECAR)) {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    if !entry.exists() {
                        return Lookup::Miss;
                    }
                    // An entry is renamed in whole, so one without a digest is damaged, unless
                    // another run is removing it right now.
                    if tries < 3 {
                        std::thread::sleep(RECHECK);
                        continue;
                    }
                    return self.discard(key, "its digest file is missing".to_string());
                }
                Err(err) => return Lookup::Unreadable(format!("cannot read its digest: {err}")),
            };
            let Ok(sidecar) = serde_json::from_slice::<Written>(&sidecar_bytes) else {
                return self.discard(key, "its digest file is damaged".to_string());
            };
            let artifact = entry.join(ARTIFACT);
            if self.verified.lock().expect("not poisoned").contains(key) {
                // Written or downloaded by this process, and checked as it was.
                crate::store::touch(&entry);
                return Lookup::Hit(artifact);
            }
            let reason = match artifact::digest_file(&artifact) {
                Ok((blake3, size)) if blake3 == sidecar.blake3 && size == sidecar.size => {
                    crate::store::touch(&entry);
                    return Lookup::Hit(artifact);
                }
                Ok((blake3, size)) => format!(
                    "its artifact has blake3 {blake3} ({size} bytes), expected {} ({} bytes)",
                    sidecar.blake3, sidecar.size
                ),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    if !entry.exists() {
                        // Removed by a concurrent prune between the two reads.
                        return Lookup::Miss;
                    }
                    "its artifact is missing".to_string()
                }
                Err(err) => return Lookup::Unreadable(format!("cannot read its artifact: {err}")),
            };
            // The digest and the artifact disagree: damage only if the digest read is still the
            // entry's (a concurrent replacement changes both).
            let stable = std::fs::read(entry.join(SIDECAR)).is_ok_and(|now| now == sidecar_bytes);
            if stable || tries >= 3 {
                return self.discard(key, reason);
            }
            std::thread::sleep(RECHECK);
        }
    }

    /// Remove a damaged entry, reporting why. It is renamed aside first, so no reader ever
    /// sees half of it.
    fn discard(&self, key: &str, reason: String) -> Lookup {
        self.remove(key);
        Lookup::Corrupt(reason)
    }

    pub fn remove(&self, key: &str) {
        let aside = self.dir.join(format!(".tmp-discard-{:016x}", fastrand::u64(..)));
        if std::fs::rename(self.entry(key), &aside).is_ok() {
            let _ = crate::fs::remove_any(&aside);
        }
    }

    /// Archive `outputs` and `log` under `key`. Returns the artifact's path and digest (the
    /// stored copy, whether this call or a concurrent one stored it). Unless the cache is
    /// `replacing`, the first entry stored for a key stays.
    pub fn store(
        &self,
        key: &str,
        member_dir: &Path,
        root: &Path,
        outputs: &[Found],
        log: &[u8],
        meta: &ArtifactMeta,
    ) -> Result<(PathBuf, Written), ArtifactError> {
        let staging = self.staging().map_err(|source| ArtifactError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let written = artifact::create(
            &Self::staged_artifact(&staging),
            member_dir,
            root,
            outputs,
            log,
            meta,
        )?;
        self.commit(key, staging, &written)
            .map_err(|source| ArtifactError::Io {
                path: self.entry(key),
                source,
            })
    }

    /// A hidden directory to build an entry in, beside the entries.
    pub fn staging(&self) -> std::io::Result<tempfile::TempDir> {
        tempfile::Builder::new().prefix(".tmp-").tempdir_in(&self.dir)
    }

    /// Where the artifact goes in a staging directory.
    pub fn staged_artifact(staging: &tempfile::TempDir) -> PathBuf {
        staging.path().join(ARTIFACT)
    }

    /// Record the staged artifact's digest and move the entry into place (see [`Self::store`]).
    /// Returns the stored artifact and its digest: this one's, or, when another run stored the
    /// key first, that run's (the two differ: an artifact records its run's time).
    pub fn commit(
        &self,
        key: &str,
        staging: tempfile::TempDir,
        written: &Written,
    ) -> std::io::Result<(PathBuf, Written)> {
        let sidecar = serde_json::to_vec(written).expect("a sidecar always serializes");
        std::fs::write(staging.path().join(SIDECAR), sidecar)?;
        let entry = self.entry(key);
        let staged = staging.keep();
        if std::fs::rename(&staged, &entry).is_err() {
            if self.replace {
                // Move the old entry aside in one rename, so readers see the old or the new.
                let old = self.dir.join(format!(".tmp-old-{}", fastrand::u64(..)));
                if std::fs::rename(&entry, &old).is_ok() {
                    let _ = std::fs::remove_dir_all(&old);
                }
                if std::fs::rename(&staged, &entry).is_ok() {
                    self.verified
                        .lock()
                        .expect("not poisoned")
                        .insert(key.to_string());
                    return Ok((entry.join(ARTIFACT), written.clone()));
                }
            }
            // Another run stored this key first; its entry is as good as ours.
            let _ = std::fs::remove_dir_all(&staged);
            let stored: Written = serde_json::from_slice(&std::fs::read(entry.join(SIDECAR))?)
                .map_err(std::io::Error::other)?;
            return Ok((entry.join(ARTIFACT), stored));
        }
        self.verified
            .lock()
            .expect("not poisoned")
            .insert(key.to_string());
        Ok((entry.join(ARTIFACT), written.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When another run stored the key first, `commit` reports that run's artifact and digest,
    /// not the one it dropped (an upload must send the bytes its header describes).
    #[test]
    fn a_losing_commit_reports_the_stored_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TaskCache {
            dir: dir.path().to_path_buf(),
            replace: false,
            verified: Default::default(),
        };
        let stage = |bytes: &[u8]| {
            let staging = cache.staging().unwrap();
            std::fs::write(TaskCache::staged_artifact(&staging), bytes).unwrap();
            let written = Written {
                blake3: blake3::hash(bytes).to_hex().to_string(),
                size: bytes.len() as u64,
            };
            (staging, written)
        };
        let (first, first_written) = stage(b"first run");
        let (second, second_written) = stage(b"second run, longer");
        let (path, stored) = cache.commit("k", first, &first_written).unwrap();
        assert_eq!(stored.blake3, first_written.blake3);
        let (again, stored) = cache.commit("k", second, &second_written).unwrap();
        assert_eq!(again, path);
        assert_eq!(
            (stored.blake3, stored.size),
            (first_written.blake3, first_written.size)
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"first run");
        assert!(matches!(cache.lookup("k"), Lookup::Hit(_)));
    }
}

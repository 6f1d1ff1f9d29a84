//! What each task last left in its outputs: `.velo/tasks/<id>.json` in the workspace root, the
//! key and a digest of the stat fingerprints (size, modification and change times, inode,
//! mode, link target) of every output. On a cache hit whose outputs on disk still match it exactly, there is
//! nothing to restore: velo only replays the log. Any write to a file changes its change time
//! (which no program can set), so a fingerprint that matches means the files are the ones velo
//! put there, as git's index trusts its stat data.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::glob::{Found, Kind};
use crate::fs::owned::OwnedDir;

#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    key: String,
    /// blake3 of the outputs' stamps, in path order.
    outputs: String,
}

/// Where the fingerprints of one workspace live. `.velo/` may come with the repository, so
/// `tasks/` is reached through [`OwnedDir`]: never through a link it planted.
#[derive(Debug, Clone)]
pub struct OutputState {
    root: PathBuf,
    dir: PathBuf,
}

/// A fingerprint is well under a kilobyte.
const MAX_RECORD_SIZE: u64 = 64 << 10;

impl OutputState {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            dir: Path::new(crate::install::VELO_DIR).join("tasks"),
        }
    }

    fn file(&self, member: &str, task: &str) -> String {
        let id = blake3::hash(format!("{member}\0{task}").as_bytes()).to_hex();
        format!("{}.json", &id[..32])
    }

    /// Whether the outputs on disk are exactly what was recorded for `key`.
    pub fn unchanged(&self, member: &str, task: &str, key: &str, outputs: &[Found]) -> bool {
        let Some(dir) = OwnedDir::existing(&self.root, &self.dir) else {
            return false;
        };
        let Ok(bytes) = dir.read(&self.file(member, task), MAX_RECORD_SIZE) else {
            return false;
        };
        let Ok(recorded) = serde_json::from_slice::<Recorded>(&bytes) else {
            return false;
        };
        recorded.key == key && fingerprint(outputs).is_some_and(|now| now == recorded.outputs)
    }

    /// Remember what `outputs` are now, for `key`. Best effort: without it the next hit restores.
    pub fn record(&self, member: &str, task: &str, key: &str, outputs: &[Found]) {
        let name = self.file(member, task);
        let Some(outputs) = fingerprint(outputs) else {
            self.forget(member, task);
            return;
        };
        let recorded = Recorded {
            key: key.to_string(),
            outputs,
        };
        let json = serde_json::to_vec(&recorded).expect("a fingerprint always serializes");
        let velo = Path::new(crate::install::VELO_DIR);
        if std::fs::symlink_metadata(self.root.join(velo)).is_err() {
            // A project without tools gets its first `.velo/` here; keep it out of git.
            if let Ok(dir) = OwnedDir::ensure(&self.root, velo) {
                let _ = dir.write_atomic(".gitignore", b"*\n", false);
            }
        }
        if let Ok(dir) = OwnedDir::ensure(&self.root, &self.dir) {
            let _ = dir.write_atomic(&name, &json, false);
        }
    }

    /// Forget the fingerprint, before outputs are changed.
    pub fn forget(&self, member: &str, task: &str) {
        if let Some(dir) = OwnedDir::existing(&self.root, &self.dir) {
            let _ = dir.remove(&self.file(member, task));
        }
    }
}

/// The digest of the stamps of `outputs` in order (each one's path, kind, mode, size,
/// modification and change times, inode and link target), `None` when one cannot be read.
fn fingerprint(outputs: &[Found]) -> Option<String> {
    let mut hasher = blake3::Hasher::new();
    for found in outputs {
        stamp(found, &mut hasher)?;
    }
    Some(hasher.finalize().to_hex().to_string())
}

#[cfg(unix)]
fn stamp(found: &Found, hasher: &mut blake3::Hasher) -> Option<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = found.metadata().ok()?;
    hasher.update(found.relative.as_bytes());
    hasher.update(&[0]);
    hasher.update(&metadata.mode().to_le_bytes());
    // A directory changes whenever an entry does; its entries are stamped one by one.
    if found.kind == Kind::Dir {
        hasher.update(b"d");
        return Some(());
    }
    hasher.update(if found.kind == Kind::Symlink { b"l" } else { b"f" });
    for field in [
        metadata.size(),
        metadata.mtime() as u64,
        metadata.mtime_nsec() as u64,
        metadata.ctime() as u64,
        metadata.ctime_nsec() as u64,
        metadata.ino(),
    ] {
        hasher.update(&field.to_le_bytes());
    }
    if found.kind == Kind::Symlink {
        let target = std::fs::read_link(&found.path).ok()?;
        hasher.update(target.as_os_str().as_encoded_bytes());
        hasher.update(&[0]);
    }
    Some(())
}

/// Without change times to trust, never skip a restore.
#[cfg(not(unix))]
fn stamp(_: &Found, _: &mut blake3::Hasher) -> Option<()> {
    None
}

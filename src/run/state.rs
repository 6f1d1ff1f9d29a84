//! What each task last left in its outputs: `.velo/tasks/<id>.json` in the workspace root, the
//! key and a digest of the stat fingerprints (size, modification and change times, inode,
//! mode, link target) of every output. On a cache hit whose outputs on disk still match it exactly, there is
//! nothing to restore: velo only replays the log. Any write to a file changes its change time
//! (which no program can set), so a fingerprint that matches means the files are the ones velo
//! put there, as git's index trusts its stat data.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::glob::{Found, Kind};

#[derive(Debug, Serialize, Deserialize)]
struct Recorded {
    key: String,
    /// blake3 of the outputs' stamps, in path order.
    outputs: String,
}

/// Where the fingerprints of one workspace live.
#[derive(Debug, Clone)]
pub struct OutputState {
    dir: PathBuf,
}

impl OutputState {
    pub fn new(root: &Path) -> Self {
        Self {
            dir: root.join(crate::install::VELO_DIR).join("tasks"),
        }
    }

    fn file(&self, member: &str, task: &str) -> PathBuf {
        let id = blake3::hash(format!("{member}\0{task}").as_bytes()).to_hex();
        self.dir.join(format!("{}.json", &id[..32]))
    }

    /// Whether the outputs on disk are exactly what was recorded for `key`.
    pub fn unchanged(&self, member: &str, task: &str, key: &str, outputs: &[Found]) -> bool {
        let Ok(bytes) = std::fs::read(self.file(member, task)) else {
            return false;
        };
        let Ok(recorded) = serde_json::from_slice::<Recorded>(&bytes) else {
            return false;
        };
        recorded.key == key && fingerprint(outputs).is_some_and(|now| now == recorded.outputs)
    }

    /// Remember what `outputs` are now, for `key`. Best effort: without it the next hit restores.
    pub fn record(&self, member: &str, task: &str, key: &str, outputs: &[Found]) {
        let path = self.file(member, task);
        let Some(outputs) = fingerprint(outputs) else {
            self.forget(member, task);
            return;
        };
        let recorded = Recorded {
            key: key.to_string(),
            outputs,
        };
        let json = serde_json::to_vec(&recorded).expect("a fingerprint always serializes");
        if !self.owned() {
            return;
        }
        if let Some(velo) = self.dir.parent().filter(|velo| !velo.exists()) {
            // A project without tools gets its first `.velo/` here; keep it out of git.
            if std::fs::create_dir_all(velo).is_ok() {
                let _ = std::fs::write(velo.join(".gitignore"), "*\n");
            }
        }
        if std::fs::create_dir_all(&self.dir).is_ok() && self.owned() {
            let _ = crate::fs::write_atomic_unsynced(&path, &json);
        }
    }

    /// Forget the fingerprint, before outputs are changed.
    pub fn forget(&self, member: &str, task: &str) {
        if self.owned() {
            let _ = std::fs::remove_file(self.file(member, task));
        }
    }

    /// Whether `.velo` and `.velo/tasks` are real directories or absent: a symlink there (a
    /// repository may commit one) is never written or removed through.
    fn owned(&self) -> bool {
        let velo = self.dir.parent().unwrap_or(&self.dir);
        [velo, self.dir.as_path()]
            .iter()
            .all(|dir| match std::fs::symlink_metadata(dir) {
                Ok(metadata) => metadata.is_dir(),
                Err(err) => err.kind() == std::io::ErrorKind::NotFound,
            })
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

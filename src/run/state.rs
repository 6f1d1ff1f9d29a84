//! What each task last left in its outputs: `.velo/tasks/<id>.json` in the workspace root, the
//! key and a digest of the stat fingerprints (size, modification and change times, inode,
//! mode, link target) of every output. On a cache hit whose outputs on disk still match it exactly, there is
//! nothing to restore: velo only replays the log. Any write to a file changes its change time
//! (which no program can set), so a fingerprint that matches means the files are the ones velo
//! put there, as git's index trusts its stat data.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::glob::{Found, Kind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stamp {
    path: String,
    kind: char,
    mode: u32,
    size: u64,
    mtime: i128,
    ctime: i128,
    inode: u64,
    target: Option<String>,
}

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
        if std::fs::create_dir_all(&self.dir).is_ok() {
            let _ = crate::fs::write_atomic_unsynced(&path, &json);
        }
    }

    /// Forget the fingerprint, before outputs are changed.
    pub fn forget(&self, member: &str, task: &str) {
        let _ = std::fs::remove_file(self.file(member, task));
    }
}

/// The digest of the stamps of `outputs` in order, `None` when one cannot be read.
fn fingerprint(outputs: &[Found]) -> Option<String> {
    let stamps = outputs.iter().map(stamp).collect::<Option<Vec<Stamp>>>()?;
    let json = serde_json::to_vec(&stamps).expect("stamps always serialize");
    Some(blake3::hash(&json).to_hex().to_string())
}

#[cfg(unix)]
fn stamp(found: &Found) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let metadata = match &found.metadata {
        Some(metadata) => metadata.clone(),
        None => std::fs::symlink_metadata(&found.path).ok()?,
    };
    let dir = found.kind == Kind::Dir;
    let time = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    Some(Stamp {
        path: found.relative.clone(),
        kind: match found.kind {
            Kind::File => 'f',
            Kind::Symlink => 'l',
            Kind::Dir => 'd',
        },
        mode: metadata.mode(),
        // A directory changes whenever an entry does; its entries are stamped one by one.
        size: if dir { 0 } else { metadata.size() },
        mtime: if dir {
            0
        } else {
            time(metadata.mtime(), metadata.mtime_nsec())
        },
        ctime: if dir {
            0
        } else {
            time(metadata.ctime(), metadata.ctime_nsec())
        },
        inode: if dir { 0 } else { metadata.ino() },
        target: match found.kind {
            Kind::Symlink => Some(
                std::fs::read_link(&found.path)
                    .ok()?
                    .to_string_lossy()
                    .into_owned(),
            ),
            _ => None,
        },
    })
}

/// Without change times to trust, never skip a restore.
#[cfg(not(unix))]
fn stamp(_: &Found) -> Option<Stamp> {
    None
}

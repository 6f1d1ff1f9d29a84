//! `velo cache`: what the cache holds, and making it smaller.
//!
//! Only velo's own buckets are ever removed, only in a directory that carries velo's
//! `CACHEDIR.TAG` (`VELO_CACHE_DIR` may point at a home directory), and a bucket that is a symlink
//! is never followed: the link itself is what goes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::cache::{Cache, NotOwned, INDEX_BUCKET};
use crate::install::KEYS_BUCKET;
use crate::run::cache::TASKS_BUCKET;
use crate::shell::HOOK_BUCKET;
use crate::sources::forge::FORGE_BUCKET;
use crate::store::{DOWNLOADS_BUCKET, TREES_BUCKET};

/// Every top-level name velo creates in its cache directory, and so all that `clean` removes
/// (`CACHEDIR.TAG` stays, so the directory is still known to be velo's). `serve-v1` is `velo
/// serve`'s default local storage; `keys-v1` holds the key that seals `.velo/state.json` (a new key
/// only costs each project one re-link).
pub const OWNED_BUCKETS: [&str; 10] = [
    INDEX_BUCKET,
    DOWNLOADS_BUCKET,
    TREES_BUCKET,
    TASKS_BUCKET,
    HOOK_BUCKET,
    FORGE_BUCKET,
    KEYS_BUCKET,
    "locks",
    "tmp",
    "serve-v1",
];

/// What a clean removed.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CleanResult {
    pub removed: usize,
    pub freed: u64,
    pub kept: usize,
}

/// Remove velo's buckets from the cache at `root` (each link, file or directory itself; nothing a
/// link points to), after checking the directory is velo's. When nothing else is left, the tag
/// and the directory go too; anything velo does not own stays, and is counted in `kept`.
pub fn clean(root: &Path) -> Result<CleanResult, NotOwned> {
    Cache::new(root.to_owned()).check_owned()?;
    let mut result = CleanResult::default();
    for name in OWNED_BUCKETS {
        let path = root.join(name);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let size = disk_size(&path);
        if crate::fs::remove_any(&path).is_ok() {
            result.removed += 1;
            result.freed += size;
        }
    }
    let left: Vec<_> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name() != "CACHEDIR.TAG")
        .collect();
    result.kept = left.len();
    if left.is_empty() && root.exists() {
        // `remove_dir` only removes an empty directory, so a file created meanwhile survives.
        let _ = std::fs::remove_file(root.join("CACHEDIR.TAG")).and_then(|()| std::fs::remove_dir(root));
    }
    Ok(result)
}

/// `root/name` if it is a real directory (not a symlink to one).
fn bucket_dir(root: &Path, name: &str) -> Option<PathBuf> {
    let dir = root.join(name);
    std::fs::symlink_metadata(&dir)
        .is_ok_and(|metadata| metadata.is_dir())
        .then_some(dir)
}

/// Size and entry count of one bucket.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BucketStatus {
    pub name: String,
    pub entries: usize,
    pub bytes: u64,
}

/// The buckets of the cache at `root`.
pub fn status(root: &Path) -> Vec<BucketStatus> {
    [INDEX_BUCKET, DOWNLOADS_BUCKET, TREES_BUCKET, TASKS_BUCKET, "tmp"]
        .into_iter()
        .map(|name| {
            let entries = bucket_dir(root, name)
                .map(|dir| entries(&dir))
                .unwrap_or_default();
            BucketStatus {
                name: name.to_string(),
                entries: entries.len(),
                bytes: entries.iter().map(|(path, _)| disk_size(path)).sum(),
            }
        })
        .collect()
}

/// Top-level entries of a bucket (hidden ones, such as partial downloads, excluded) with their
/// last-used time.
fn entries(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    read.flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| {
            let used = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            (entry.path(), used)
        })
        .collect()
}

/// Bytes under `path`, not following symlinks.
pub fn disk_size(path: &Path) -> u64 {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !metadata.is_dir() {
        return metadata.len();
    }
    std::fs::read_dir(path).map_or(0, |read| {
        read.flatten().map(|entry| disk_size(&entry.path())).sum()
    })
}

/// What a prune removed.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PruneResult {
    pub removed: usize,
    pub freed: u64,
}

/// Remove staging leftovers and partial downloads; with `max_size`, then remove the least
/// recently used downloads, trees, index files and task results until the cache fits (a task
/// result's time is that of its last hit). Projects keep working: their files
/// are links or copies, not references into the cache. Refuses a directory that is not velo's;
/// a bucket that is a symlink is left alone.
pub fn prune(root: &Path, max_size: Option<u64>) -> Result<PruneResult, NotOwned> {
    Cache::new(root.to_owned()).check_owned()?;
    let mut result = PruneResult::default();
    let drop_entry = |path: &Path, result: &mut PruneResult| {
        let size = disk_size(path);
        if crate::fs::remove_any(path).is_ok() {
            result.removed += 1;
            result.freed += size;
        }
    };
    // Staging dirs and partial downloads younger than this may belong to a sync running now.
    let in_use = SystemTime::now() - std::time::Duration::from_secs(3600);
    for (path, used) in bucket_dir(root, "tmp")
        .map(|dir| entries(&dir))
        .unwrap_or_default()
    {
        if used < in_use {
            drop_entry(&path, &mut result);
        }
    }
    // Partial downloads, and task results being stored.
    let parts = bucket_dir(root, DOWNLOADS_BUCKET)
        .and_then(|dir| bucket_dir(&dir, ".part"))
        .map(std::fs::read_dir);
    let task_staging = bucket_dir(root, TASKS_BUCKET)
        .map(std::fs::read_dir)
        .into_iter()
        .flatten()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".tmp-"));
    for entry in parts
        .into_iter()
        .flatten()
        .flatten()
        .flatten()
        .chain(task_staging)
    {
        let used = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        if used < in_use {
            drop_entry(&entry.path(), &mut result);
        }
    }
    let Some(max_size) = max_size else {
        return Ok(result);
    };
    let candidates: Vec<(PathBuf, SystemTime, u64)> =
        [DOWNLOADS_BUCKET, TREES_BUCKET, INDEX_BUCKET, TASKS_BUCKET]
            .iter()
            .filter_map(|bucket| bucket_dir(root, bucket))
            .flat_map(|dir| entries(&dir))
            .map(|(path, used)| {
                let size = disk_size(&path);
                (path, used, size)
            })
            .collect();
    let (removed, freed) = crate::fs::evict_least_recently_used(candidates, None, Some(max_size));
    result.removed += removed;
    result.freed += freed;
    Ok(result)
}

/// Parse `500M`, `2G`, `1.5GiB`, `1024` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    Some((number * multiplier as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("500M"), Some(500 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("12 parsecs"), None);
    }
}

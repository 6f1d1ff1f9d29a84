//! File system helpers shared by the modules that own files.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Replace `path` with `contents` atomically: write a temporary file beside it, then rename it
/// over the target, so a reader never sees a half-written file. The file's permissions are kept
/// when it already exists.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    replace(path, contents, true)
}

/// Like [`write_atomic`], without waiting for the data to reach the disk: for files that only
/// record what can be recomputed (losing one to a crash costs a re-check, not data).
pub fn write_atomic_unsynced(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    replace(path, contents, false)
}

fn replace(path: &Path, contents: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(".velo-tmp-").tempfile_in(dir)?;
    temp.write_all(contents)?;
    if durable {
        temp.as_file().sync_all()?;
    }
    // Only a file's own permission bits carry over: a link at `path` (which the rename
    // replaces) could point at a device or a setuid file whose mode the new file must not get.
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => keep_permission_bits(temp.as_file(), &metadata)?,
        _ => set_default_permissions(temp.as_file())?,
    }
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Give `file` the read, write and execute bits of `metadata` (never setuid, setgid or sticky).
#[cfg(unix)]
fn keep_permission_bits(file: &std::fs::File, metadata: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(
        metadata.permissions().mode() & 0o777,
    ))
}

#[cfg(not(unix))]
fn keep_permission_bits(file: &std::fs::File, metadata: &std::fs::Metadata) -> std::io::Result<()> {
    file.set_permissions(metadata.permissions())
}

/// Temporary files are created private; a new project file should be readable like any other.
#[cfg(unix)]
fn set_default_permissions(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_default_permissions(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// Whether any execute bit is set (always false where there are none).
#[cfg(unix)]
pub fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

/// Remove `path` whatever it is: a directory with everything in it, or a file or symlink
/// (never what a symlink points at).
pub fn remove_any(path: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

/// Resolve `.` and `..` in `path` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Remove the least recently used of `items` (path, last use, size) until those left were all
/// used within `max_age` and together fit in `max_size`. Returns how many were removed and the
/// bytes they held.
pub fn evict_least_recently_used(
    mut items: Vec<(PathBuf, std::time::SystemTime, u64)>,
    max_age: Option<std::time::Duration>,
    max_size: Option<u64>,
) -> (usize, u64) {
    let now = std::time::SystemTime::now();
    items.sort_by_key(|(_, used, _)| *used);
    let mut total: u64 = items.iter().map(|(_, _, size)| size).sum();
    let (mut removed, mut freed) = (0, 0);
    for (path, used, size) in items {
        let too_old = max_age.is_some_and(|age| now.duration_since(used).unwrap_or_default() > age);
        let too_big = max_size.is_some_and(|max| total > max);
        // Oldest first: once one is neither, so are all the rest.
        if !too_old && !too_big {
            break;
        }
        if remove_any(&path).is_ok() {
            removed += 1;
            freed += size;
            total -= size;
        }
    }
    (removed, freed)
}

pub mod owned;

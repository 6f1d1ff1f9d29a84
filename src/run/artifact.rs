//! A task's cache artifact: one zstd-compressed tar holding `velo-task.json` (what ran and how
//! long it took), `log` (the combined stdout and stderr) and `outputs/…` (the output files,
//! directories and symlinks with their modes and modification times, relative to the task's
//! member).
//!
//! Restoring refuses entries that would land outside the member directory, be written through
//! a symlink, or be symlinks pointing outside the workspace, whatever the artifact says.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::glob::{Found, Kind};

pub const ARTIFACT_FORMAT: &str = "velo-task-artifact-v1";
const META_ENTRY: &str = "velo-task.json";
const LOG_ENTRY: &str = "log";
const OUTPUTS_PREFIX: &str = "outputs/";
/// Metadata and logs are read into memory; an artifact claiming more is refused.
const MAX_META: u64 = 1 << 20;
const MAX_LOG: u64 = 256 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactMeta {
    pub format: String,
    pub key: String,
    pub task: String,
    pub duration_ms: u64,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("failed to access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("output `{entry}` is a symlink to `{target}`, outside the project")]
    SymlinkEscapes { entry: String, target: String },
    #[error("the cache artifact is corrupt: {0}")]
    Corrupt(String),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `create` wrote: the artifact's digest and size (also stored beside it in the cache).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Written {
    pub blake3: String,
    pub size: u64,
}

/// Write the artifact for `outputs` (found under `member_dir`) to `dest`. Symlinks must point
/// inside `root`.
pub fn create(
    dest: &Path,
    member_dir: &Path,
    root: &Path,
    outputs: &[Found],
    log: &[u8],
    meta: &ArtifactMeta,
) -> Result<Written, ArtifactError> {
    let file = File::create(dest).map_err(io_error(dest))?;
    let hashing = HashingWriter {
        inner: BufWriter::new(file),
        hasher: blake3::Hasher::new(),
        size: 0,
    };
    let encoder = zstd::Encoder::new(hashing, 3).map_err(io_error(dest))?;
    let mut tar = tar::Builder::new(encoder);
    tar.mode(tar::HeaderMode::Complete);
    let meta_json = serde_json::to_vec_pretty(meta).expect("metadata always serializes");
    append_bytes(&mut tar, META_ENTRY, &meta_json).map_err(io_error(dest))?;
    append_bytes(&mut tar, LOG_ENTRY, log).map_err(io_error(dest))?;
    for found in outputs {
        let name = format!("{OUTPUTS_PREFIX}{}", found.relative);
        let metadata = found.metadata().map_err(io_error(&found.path))?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&metadata, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        match found.kind {
            Kind::Symlink => {
                let target = std::fs::read_link(&found.path).map_err(io_error(&found.path))?;
                check_link(&found.relative, member_dir, &target, root)?;
                header.set_size(0);
                tar.append_link(&mut header, &name, &target)
                    .map_err(io_error(&found.path))?;
            }
            Kind::Dir => {
                header.set_size(0);
                tar.append_data(&mut header, &name, io::empty())
                    .map_err(io_error(&found.path))?;
            }
            Kind::File => {
                let file = File::open(&found.path).map_err(io_error(&found.path))?;
                header.set_size(metadata.len());
                tar.append_data(&mut header, &name, BufReader::new(file).take(metadata.len()))
                    .map_err(io_error(&found.path))?;
            }
        }
    }
    let encoder = tar.into_inner().map_err(io_error(dest))?;
    let mut hashing = encoder.finish().map_err(io_error(dest))?;
    hashing.inner.flush().map_err(io_error(dest))?;
    Ok(Written {
        blake3: hashing.hasher.finalize().to_hex().to_string(),
        size: hashing.size,
    })
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(bytes.len() as u64);
    header.set_mtime(0);
    tar.append_data(&mut header, name, bytes)
}

struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The blake3 digest and size of a file.
pub fn digest_file(path: &Path) -> io::Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut file = File::open(path)?;
    let size = io::copy(&mut file, &mut hasher)?;
    Ok((hasher.finalize().to_hex().to_string(), size))
}

/// What `restore` read besides the outputs.
#[derive(Debug)]
pub struct Restored {
    pub meta: ArtifactMeta,
    pub log: Vec<u8>,
    pub files: usize,
    /// The outputs were already in place, so nothing was written.
    pub in_place: bool,
}

/// Unpack the outputs of `artifact` (already verified by its digest) into `member_dir`, over
/// whatever is there. Symlinks may point anywhere inside `root`.
pub fn restore(artifact: &Path, member_dir: &Path, root: &Path) -> Result<Restored, ArtifactError> {
    let corrupt = |what: String| ArtifactError::Corrupt(what);
    let mut archive = open(artifact)?;
    let mut meta: Option<ArtifactMeta> = None;
    let mut log = Vec::new();
    let mut files = 0;
    let mut safe_dirs: HashSet<PathBuf> = HashSet::new();
    let mut dir_modes: Vec<(PathBuf, u32, u64)> = Vec::new();
    let entries = archive
        .entries()
        .map_err(|err| corrupt(format!("cannot read the archive: {err}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| corrupt(format!("cannot read an entry: {err}")))?;
        let name = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| corrupt("an entry name is not UTF-8".to_string()))?;
        match name.as_str() {
            META_ENTRY => {
                meta = Some(parse_meta(&read_entry(&mut entry, MAX_META, artifact)?)?);
                continue;
            }
            LOG_ENTRY => {
                log = read_entry(&mut entry, MAX_LOG, artifact)?;
                continue;
            }
            _ => {}
        }
        let Some(relative) = name.strip_prefix(OUTPUTS_PREFIX) else {
            return Err(corrupt(format!("unexpected entry `{name}`")));
        };
        let relative = relative.trim_end_matches('/');
        let target = safe_join(member_dir, relative)
            .ok_or_else(|| corrupt(format!("entry `{name}` is not a plain relative path")))?;
        let parent = target.parent().unwrap_or(member_dir);
        ensure_real_dirs(member_dir, parent, &mut safe_dirs)?;
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let mtime = header.mtime().unwrap_or(0);
        match header.entry_type() {
            tar::EntryType::Directory => {
                if let Ok(existing) = std::fs::symlink_metadata(&target) {
                    if !existing.is_dir() {
                        crate::fs::remove_any(&target).map_err(io_error(&target))?;
                    }
                }
                std::fs::create_dir_all(&target).map_err(io_error(&target))?;
                safe_dirs.insert(target.clone());
                dir_modes.push((target, mode, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(&target)?;
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(io_error(&target))?;
                io::copy(&mut entry, &mut out).map_err(io_error(&target))?;
                set_mode(&out, mode).map_err(io_error(&target))?;
                out.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
                    .map_err(io_error(&target))?;
                files += 1;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(|err| corrupt(format!("entry `{name}`: {err}")))?
                    .ok_or_else(|| corrupt(format!("symlink `{name}` has no target")))?
                    .into_owned();
                check_link(relative, member_dir, &link, root)?;
                remove_existing(&target)?;
                crate::store::symlink(&link, &target).map_err(io_error(&target))?;
                files += 1;
            }
            other => {
                return Err(corrupt(format!(
                    "entry `{name}` has the unsupported type {other:?}"
                )));
            }
        }
    }
    // Directory modes last: a read-only directory must not stop its own contents being written.
    for (dir, mode, mtime) in dir_modes.into_iter().rev() {
        if let Ok(handle) = File::open(&dir) {
            let _ = handle.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime));
            let _ = set_mode(&handle, mode);
        }
    }
    let meta = meta.ok_or_else(|| corrupt(format!("no `{META_ENTRY}`")))?;
    Ok(Restored {
        meta,
        log,
        files,
        in_place: false,
    })
}

/// Only the metadata and the log, for a hit whose outputs are already in place.
pub fn read_log(artifact: &Path) -> Result<(ArtifactMeta, Vec<u8>), ArtifactError> {
    let corrupt = |what: String| ArtifactError::Corrupt(what);
    let mut archive = open(artifact)?;
    let mut meta = None;
    let entries = archive
        .entries()
        .map_err(|err| corrupt(format!("cannot read the archive: {err}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| corrupt(format!("cannot read an entry: {err}")))?;
        let name = entry.path_bytes().into_owned();
        if name == META_ENTRY.as_bytes() {
            meta = Some(parse_meta(&read_entry(&mut entry, MAX_META, artifact)?)?);
        } else if name == LOG_ENTRY.as_bytes() {
            let log = read_entry(&mut entry, MAX_LOG, artifact)?;
            let meta = meta.ok_or_else(|| corrupt(format!("no `{META_ENTRY}` before the log")))?;
            return Ok((meta, log));
        } else {
            break;
        }
    }
    Err(corrupt(format!("no `{LOG_ENTRY}`")))
}

/// An artifact's tar stream.
fn open(artifact: &Path) -> Result<tar::Archive<zstd::Decoder<'static, io::BufReader<File>>>, ArtifactError> {
    let file = File::open(artifact).map_err(io_error(artifact))?;
    let decoder = zstd::Decoder::new(file).map_err(io_error(artifact))?;
    Ok(tar::Archive::new(decoder))
}

/// The bytes of one entry, at most `limit` of them.
fn read_entry(entry: &mut impl Read, limit: u64, artifact: &Path) -> Result<Vec<u8>, ArtifactError> {
    let mut bytes = Vec::new();
    entry
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(io_error(artifact))?;
    Ok(bytes)
}

fn parse_meta(text: &[u8]) -> Result<ArtifactMeta, ArtifactError> {
    let parsed: ArtifactMeta = serde_json::from_slice(text)
        .map_err(|err| ArtifactError::Corrupt(format!("bad `{META_ENTRY}`: {err}")))?;
    if parsed.format != ARTIFACT_FORMAT {
        return Err(ArtifactError::Corrupt(format!(
            "unknown format `{}`",
            parsed.format
        )));
    }
    Ok(parsed)
}

/// `base/relative` when `relative` is only plain names.
fn safe_join(base: &Path, relative: &str) -> Option<PathBuf> {
    if relative.is_empty() {
        return None;
    }
    let path = Path::new(relative);
    path.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| base.join(path))
}

/// Every directory from `base` down to `dir` is a real directory (created if missing), never a
/// symlink that would carry writes elsewhere.
fn ensure_real_dirs(base: &Path, dir: &Path, safe: &mut HashSet<PathBuf>) -> Result<(), ArtifactError> {
    if dir == base || safe.contains(dir) {
        return Ok(());
    }
    let relative = dir.strip_prefix(base).unwrap_or(dir);
    let mut current = base.to_path_buf();
    for component in relative.components() {
        current.push(component);
        if safe.contains(&current) {
            continue;
        }
        match std::fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                return Err(ArtifactError::Corrupt(format!(
                    "restoring would write through the symlink `{}`",
                    current.display()
                )));
            }
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => crate::fs::remove_any(&current).map_err(io_error(&current))?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_error(&current)(err)),
        }
        if !current.is_dir() {
            std::fs::create_dir(&current).map_err(io_error(&current))?;
        }
        safe.insert(current.clone());
    }
    Ok(())
}

fn remove_existing(target: &Path) -> Result<(), ArtifactError> {
    match std::fs::symlink_metadata(target) {
        Ok(_) => crate::fs::remove_any(target).map_err(io_error(target)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_error(target)(err)),
    }
}

/// A symlink at `member_dir/entry` pointing to `target` must be relative and stay inside `root`.
fn check_link(entry: &str, member_dir: &Path, target: &Path, root: &Path) -> Result<(), ArtifactError> {
    let escapes = || ArtifactError::SymlinkEscapes {
        entry: entry.to_string(),
        target: target.display().to_string(),
    };
    if target.has_root() {
        return Err(escapes());
    }
    let link_dir = member_dir.join(entry);
    let link_dir = link_dir.parent().unwrap_or(member_dir);
    let resolved = crate::fs::normalize(&link_dir.join(target));
    if resolved.starts_with(crate::fs::normalize(root)) {
        Ok(())
    } else {
        Err(escapes())
    }
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &File, _: u32) -> io::Result<()> {
    Ok(())
}

//! A task's cache artifact: one zstd-compressed tar holding `velo-task.json` (what ran and how
//! long it took), `log` (the combined stdout and stderr) and `outputs/…` (the output files,
//! directories and symlinks with their modes and modification times, relative to the task's
//! member).
//!
//! The metadata comes first, so a restore knows the artifact's key before it reads anything else.
//! Restoring is two passes over the archive: the first reads and checks every entry
//! ([`super::restore`]) and writes nothing; the second writes, never through a symlink.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::glob::{Found, Globs, Kind};
use super::restore::{self, Node};
use crate::store::extract::tar_reader;

pub const ARTIFACT_FORMAT: &str = "velo-task-artifact-v1";
const META_ENTRY: &str = "velo-task.json";
const LOG_ENTRY: &str = "log";
const OUTPUTS_PREFIX: &str = "outputs/";
/// Metadata and logs are read into memory; an artifact claiming more is refused.
const MAX_META: u64 = 1 << 20;
const MAX_LOG: u64 = 256 << 20;
/// Output entries one artifact may hold (as many as a tool archive may).
pub const MAX_ENTRIES: usize = 1_000_000;

/// What a restore may write, checked against the entries' headers before anything is written:
/// a few kilobytes of zstd can declare terabytes of zeros.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The sum of the files' sizes.
    pub bytes: u64,
    pub entries: usize,
}

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
    #[error("the cache artifact is for key {found}, not {expected}")]
    WrongKey { expected: String, found: String },
    /// The artifact holds what a restore may not write (outside the outputs, a symlink out).
    #[error("the cache artifact is refused: {0}")]
    Refused(String),
    /// The project stands in the way (a symlink where an output's directory goes).
    #[error("{0}")]
    Blocked(String),
    /// More than the [`Limits`] allow. Not proof the artifact is bad (a task may make that
    /// much), so its entry is kept.
    #[error("the cache artifact holds more than {limit}, the most a restore writes (`VELO_MAX_UNPACKED_SIZE` sets the bytes)")]
    TooLarge { limit: String },
}

impl ArtifactError {
    /// Whether the artifact's bytes are bad (so its cache entry is worth nothing), rather than
    /// the project or the file system being in the way.
    pub fn is_bad_artifact(&self) -> bool {
        matches!(
            self,
            ArtifactError::Corrupt(_) | ArtifactError::WrongKey { .. } | ArtifactError::Refused(_)
        )
    }
}

impl From<restore::Refusal> for ArtifactError {
    fn from(refusal: restore::Refusal) -> Self {
        match refusal {
            restore::Refusal::Artifact(why) => ArtifactError::Refused(why),
            restore::Refusal::Project(why) => ArtifactError::Blocked(why),
            restore::Refusal::Io { path, source } => ArtifactError::Io { path, source },
        }
    }
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
                let file =
                    crate::fs::owned::open_regular(&found.path, std::fs::OpenOptions::new().read(true))
                        .map_err(io_error(&found.path))?;
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

/// One output entry as the first pass read it.
struct Planned {
    relative: String,
    node: Node,
    mode: u32,
    mtime: u64,
}

/// Unpack the outputs of `artifact` (already verified by its digest) into `member_dir`, over
/// whatever is there. Nothing is written until the whole artifact has been read and checked
/// (see [`super::restore`]): its metadata must come first and name `key`, and every entry must be
/// one of `outputs`; symlinks may point anywhere inside `root`.
pub fn restore(
    artifact: &Path,
    key: &str,
    member_dir: &Path,
    root: &Path,
    outputs: &Globs,
    limits: Limits,
) -> Result<Restored, ArtifactError> {
    let corrupt = |what: String| ArtifactError::Corrupt(what);
    let mut file = File::open(artifact).map_err(io_error(artifact))?;
    // First pass: read and check everything, write nothing.
    let mut archive = tar::Archive::new(zstd::Decoder::new(&file).map_err(io_error(artifact))?);
    let mut meta: Option<ArtifactMeta> = None;
    let mut log = Vec::new();
    let mut planned: Vec<Planned> = Vec::new();
    let mut tree: BTreeMap<String, Node> = BTreeMap::new();
    let mut index = 0;
    let mut declared: u64 = 0;
    for entry in entries(&mut archive)? {
        let mut entry = entry.map_err(entry_error)?;
        let kind = entry.header().entry_type();
        let name_bytes = entry.path_bytes().to_vec();
        let link_bytes = entry.link_name_bytes().map(<[u8]>::to_vec);
        let name =
            String::from_utf8(name_bytes).map_err(|_| corrupt("an entry name is not UTF-8".to_string()))?;
        index += 1;
        if index == 1 {
            if name != META_ENTRY {
                return Err(corrupt(format!("its first entry is not `{META_ENTRY}`")));
            }
            let parsed = parse_meta(&read_entry(&mut entry, MAX_META, artifact)?)?;
            if parsed.key != key {
                return Err(ArtifactError::WrongKey {
                    expected: key.to_string(),
                    found: crate::escape::untrusted(&parsed.key).to_string(),
                });
            }
            meta = Some(parsed);
            continue;
        }
        if index == 2 && name == LOG_ENTRY {
            log = read_entry(&mut entry, MAX_LOG, artifact)?;
            continue;
        }
        let Some(relative) = name.strip_prefix(OUTPUTS_PREFIX) else {
            return Err(corrupt(format!(
                "unexpected entry `{}`",
                crate::escape::untrusted(&name)
            )));
        };
        let relative = relative.strip_suffix('/').unwrap_or(relative).to_string();
        restore::check_entry(&relative, outputs)?;
        let header = entry.header();
        // Permission bits only: an artifact never makes a setuid, setgid or sticky file.
        let mode = header.mode().unwrap_or(0o644) & 0o777;
        let mtime = header.mtime().unwrap_or(0);
        let node = match kind {
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => Node::File,
            tar::EntryType::Symlink => {
                let target = link_bytes.filter(|target| !target.is_empty()).ok_or_else(|| {
                    corrupt(format!(
                        "symlink `{}` has no target",
                        crate::escape::untrusted(&name)
                    ))
                })?;
                Node::Link(path_from_bytes(target).ok_or_else(|| {
                    corrupt(format!(
                        "symlink `{}` has a target that is not UTF-8",
                        crate::escape::untrusted(&name)
                    ))
                })?)
            }
            other => {
                return Err(corrupt(format!(
                    "entry `{}` has the unsupported type {other:?}",
                    crate::escape::untrusted(&name)
                )));
            }
        };
        if node == Node::File {
            declared = declared.saturating_add(entry.size());
            if declared > limits.bytes {
                return Err(ArtifactError::TooLarge {
                    limit: format!("{} bytes of files", limits.bytes),
                });
            }
        }
        if planned.len() >= limits.entries {
            return Err(ArtifactError::TooLarge {
                limit: format!("{} entries", limits.entries),
            });
        }
        if tree.insert(relative.clone(), node.clone()).is_some() {
            return Err(ArtifactError::Refused(format!(
                "entry `{}` appears more than once",
                crate::escape::untrusted(&name)
            )));
        }
        planned.push(Planned {
            relative,
            node,
            mode,
            mtime,
        });
    }
    let meta = meta.ok_or_else(|| corrupt(format!("no `{META_ENTRY}`")))?;
    restore::check_tree(&tree, member_dir, root)?;

    // Second pass, over the same open file: write what was checked.
    file.seek(SeekFrom::Start(0)).map_err(io_error(artifact))?;
    let mut archive = tar::Archive::new(zstd::Decoder::new(&file).map_err(io_error(artifact))?);
    let mut writer = restore::Writer::new(member_dir, outputs);
    let mut planned = planned.into_iter();
    let mut files = 0;
    for entry in entries(&mut archive)? {
        let mut entry = entry.map_err(entry_error)?;
        if !entry.path_bytes().starts_with(OUTPUTS_PREFIX.as_bytes()) {
            continue;
        }
        let Some(next) = planned.next() else {
            return Err(changed(artifact));
        };
        let name = entry.path_bytes();
        let name = name.strip_prefix(OUTPUTS_PREFIX.as_bytes()).unwrap_or(name);
        if name.strip_suffix(b"/").unwrap_or(name) != next.relative.as_bytes() {
            return Err(changed(artifact));
        }
        match &next.node {
            Node::Dir => writer.dir(&next.relative, next.mode, next.mtime)?,
            Node::File => {
                writer.file(&next.relative, &mut entry, next.mode, next.mtime)?;
                files += 1;
            }
            Node::Link(target) => {
                writer.symlink(&next.relative, target)?;
                files += 1;
            }
        }
    }
    writer.finish();
    if planned.next().is_some() {
        return Err(changed(artifact));
    }
    Ok(Restored {
        meta,
        log,
        files,
        in_place: false,
    })
}

/// A path from an archive's bytes (any bytes on Unix, UTF-8 elsewhere).
fn path_from_bytes(bytes: Vec<u8>) -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }
    #[cfg(not(unix))]
    {
        String::from_utf8(bytes).ok().map(PathBuf::from)
    }
}

/// The second pass read other entries than the first, from the same open file: the archive is
/// not what it seemed (or was edited in place while restoring).
fn changed(artifact: &Path) -> ArtifactError {
    ArtifactError::Corrupt(format!(
        "`{}` read differently the second time",
        artifact.display()
    ))
}

/// Only the metadata and the log, for a hit whose outputs are already in place.
pub fn read_log(artifact: &Path) -> Result<(ArtifactMeta, Vec<u8>), ArtifactError> {
    let corrupt = |what: String| ArtifactError::Corrupt(what);
    let mut archive = open(artifact)?;
    let mut meta = None;
    for entry in entries(&mut archive)? {
        let mut entry = entry.map_err(entry_error)?;
        let name = entry.path_bytes().to_vec();
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

/// The archive's entries through the shared bounded reader ([`tar_reader`]): names, link
/// targets and PAX records are checked against its limits before they are read, and a PAX
/// `path` or `linkpath` is applied, so both passes see the names the checks saw.
fn entries<R: Read>(archive: &mut tar::Archive<R>) -> Result<tar_reader::TarEntries<'_, R>, ArtifactError> {
    tar_reader::entries(archive)
        .map_err(|err| ArtifactError::Corrupt(format!("cannot read the archive: {err}")))
}

fn entry_error(err: io::Error) -> ArtifactError {
    let too_large = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<tar_reader::RecordTooLarge>());
    ArtifactError::Corrupt(match too_large {
        Some(record) => format!("an entry's {} is longer than {} bytes", record.what, record.limit),
        None => format!("cannot read an entry: {err}"),
    })
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

/// A symlink at `member_dir/entry` pointing to `target` must stay inside `root`, following
/// the symlinks on disk as the restore would ([`restore::resolve_link`]).
fn check_link(entry: &str, member_dir: &Path, target: &Path, root: &Path) -> Result<(), ArtifactError> {
    let escapes = || ArtifactError::SymlinkEscapes {
        entry: entry.to_string(),
        target: target.display().to_string(),
    };
    let member = member_dir.strip_prefix(root).map_err(|_| escapes())?;
    restore::resolve_link(root, member, entry, target, &|_| None).map_err(|_| escapes())
}

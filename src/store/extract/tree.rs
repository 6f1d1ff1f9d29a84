//! The only code that writes into the destination directory.
//!
//! Before each entry the file system itself is asked what is already there, so nothing an earlier
//! entry did can redirect a later one: no ancestor of an entry may be a symlink (nothing is
//! written through a link), nothing replaces a symlink or a directory, and files are created with
//! `create_new`, which never follows a link. Directories are never removed, so one found to be a
//! real directory stays one. The tree also keeps the byte budget that stops decompression bombs.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::path::{self, TargetProblem, TreePath};
use super::{ArchiveFormat, ExtractError, ExtractSummary};

const COPY_BUFFER: usize = 64 * 1024;

/// The most entries one archive may write. The tree remembers every path it wrote, so a stream
/// of millions of tiny headers (which compress to almost nothing) would otherwise grow memory
/// without bound; real packages, toolchains included, have well under a tenth of this.
pub(super) const MAX_ENTRIES: u64 = 1_000_000;

pub(super) struct Tree<'a> {
    root: &'a Path,
    archive: &'a Path,
    format: ArchiveFormat,
    limit: u64,
    /// Bytes charged against `limit`: content written, plus the data of entries skipped.
    used: u64,
    /// Set by a reader wrapped around the decompressed stream when that stream grew past its own
    /// cap, so the read error it caused is reported as a bomb rather than as corruption.
    stream_limit_hit: Rc<Cell<bool>>,
    /// Entries written so far (files, directories, links), against [`MAX_ENTRIES`].
    entries: u64,
    /// Paths (relative to `root`) known to be real directories.
    dirs: HashSet<PathBuf>,
    /// Regular files written so far: the only things a hard link may point to.
    files: HashSet<TreePath>,
    summary: ExtractSummary,
}

/// What the file system holds at a path, without following a symlink there.
enum Existing {
    Missing,
    File,
    Dir,
    Symlink,
    Other,
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
    TooLarge,
}

impl<'a> Tree<'a> {
    pub(super) fn new(root: &'a Path, archive: &'a Path, format: ArchiveFormat, limit: u64) -> Self {
        Tree {
            root,
            archive,
            format,
            limit,
            used: 0,
            stream_limit_hit: Rc::new(Cell::new(false)),
            entries: 0,
            dirs: HashSet::new(),
            files: HashSet::new(),
            summary: ExtractSummary::default(),
        }
    }

    pub(super) fn finish(self) -> ExtractSummary {
        self.summary
    }

    pub(super) fn archive(&self) -> &Path {
        self.archive
    }

    pub(super) fn limit(&self) -> u64 {
        self.limit
    }

    pub(super) fn stream_limit_flag(&self) -> Rc<Cell<bool>> {
        Rc::clone(&self.stream_limit_hit)
    }

    /// The error for a failed read of the archive: corruption, unless it was the stream cap.
    pub(super) fn read_error(&self, entry: Option<&str>, source: io::Error) -> ExtractError {
        if self.stream_limit_hit.get() {
            self.too_large(entry)
        } else {
            ExtractError::Corrupt {
                archive: self.archive.to_owned(),
                format: self.format,
                entry: entry.map(str::to_owned),
                source,
            }
        }
    }

    fn too_large(&self, entry: Option<&str>) -> ExtractError {
        ExtractError::TooLarge {
            entry: entry.map(str::to_owned),
            limit: self.limit,
        }
    }

    /// Count `bytes` against the limit, failing as soon as the total passes it.
    pub(super) fn charge(&mut self, entry: &str, bytes: u64) -> Result<(), ExtractError> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(self.too_large(Some(entry)));
        }
        Ok(())
    }

    /// A regular file at `path`, with `reader`'s content; returns how many bytes that was.
    /// `claimed` is the size a header states: it can stop a bomb before a byte is written, but
    /// the bytes actually read are what count.
    pub(super) fn file(
        &mut self,
        entry: &str,
        path: &TreePath,
        reader: &mut dyn Read,
        claimed: Option<u64>,
        executable: bool,
    ) -> Result<u64, ExtractError> {
        if claimed.is_some_and(|claimed| self.used.saturating_add(claimed) > self.limit) {
            return Err(self.too_large(Some(entry)));
        }
        let full = self.prepare(entry, path)?;
        let replaced = self.clear_for_file(entry, &full)?;
        let mut out = create_new(&full).map_err(|err| write_error(entry, &full, err))?;
        let written = match self.copy(reader, &mut out) {
            Ok(written) => written,
            Err(CopyError::Read(err)) => return Err(self.read_error(Some(entry), err)),
            Err(CopyError::Write(err)) => return Err(write_error(entry, &full, err)),
            Err(CopyError::TooLarge) => return Err(self.too_large(Some(entry))),
        };
        set_file_mode(&out, executable).map_err(|err| write_error(entry, &full, err))?;
        self.files.insert(path.clone());
        if !replaced {
            self.summary.files += 1;
        }
        Ok(written)
    }

    /// A directory at `path`; one already there (made for an earlier entry's parent) is fine.
    pub(super) fn directory(&mut self, entry: &str, path: &TreePath) -> Result<(), ExtractError> {
        let full = self.prepare(entry, path)?;
        match existing(&full).map_err(|err| write_error(entry, &full, err))? {
            Existing::Missing => create_dir(&full).map_err(|err| write_error(entry, &full, err))?,
            Existing::Dir => {}
            Existing::Symlink => return Err(replaces_symlink(entry)),
            Existing::File => return Err(conflict(entry, path, "file")),
            Existing::Other => return Err(conflict(entry, path, "special file")),
        }
        self.dirs.insert(path.to_path());
        Ok(())
    }

    /// A symlink at `path` to `raw_target`, which must stay inside the tree.
    pub(super) fn symlink(
        &mut self,
        entry: &str,
        path: &TreePath,
        raw_target: &[u8],
    ) -> Result<(), ExtractError> {
        let target_text = String::from_utf8_lossy(raw_target).into_owned();
        let target = path::symlink_target(path, raw_target).map_err(|problem| match problem {
            TargetProblem::Absolute => ExtractError::SymlinkAbsolute {
                entry: entry.to_owned(),
                target: target_text.clone(),
            },
            TargetProblem::Escapes => ExtractError::SymlinkEscapes {
                entry: entry.to_owned(),
                target: target_text.clone(),
            },
            TargetProblem::Invalid(reason) => ExtractError::SymlinkTargetInvalid {
                entry: entry.to_owned(),
                target: target_text.clone(),
                reason,
            },
        })?;
        let full = self.prepare(entry, path)?;
        match existing(&full).map_err(|err| write_error(entry, &full, err))? {
            Existing::Missing => {}
            Existing::Symlink => return Err(replaces_symlink(entry)),
            Existing::File => return Err(conflict(entry, path, "file")),
            Existing::Dir => return Err(conflict(entry, path, "directory")),
            Existing::Other => return Err(conflict(entry, path, "special file")),
        }
        make_symlink(entry, &target, &full)?;
        self.summary.files += 1;
        Ok(())
    }

    /// A hard link at `path` to `target`, a regular file an earlier entry wrote. Copies the file
    /// where the file system cannot link.
    pub(super) fn hard_link(
        &mut self,
        entry: &str,
        path: &TreePath,
        target: &TreePath,
    ) -> Result<(), ExtractError> {
        let not_extracted = || ExtractError::HardLinkTarget {
            entry: entry.to_owned(),
            target: target.to_path().display().to_string(),
        };
        if !self.files.contains(target) {
            return Err(not_extracted());
        }
        let source = self.root.join(target.to_path());
        if !matches!(existing(&source), Ok(Existing::File)) {
            return Err(not_extracted());
        }
        if path == target {
            // A link to itself: the file is already there.
            return Ok(());
        }
        let full = self.prepare(entry, path)?;
        let replaced = self.clear_for_file(entry, &full)?;
        if fs::hard_link(&source, &full).is_err() {
            self.copy_file(entry, &source, &full)?;
        }
        self.files.insert(path.clone());
        if !replaced {
            self.summary.files += 1;
        }
        Ok(())
    }

    /// Make sure every ancestor of `path` is a real directory inside the tree, creating missing
    /// ones, and return the full path of `path` itself.
    fn prepare(&mut self, entry: &str, path: &TreePath) -> Result<PathBuf, ExtractError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(ExtractError::TooManyEntries { limit: MAX_ENTRIES });
        }
        let components = path.components();
        let Some((last, ancestors)) = components.split_last() else {
            // A TreePath is never empty; refuse rather than write to the root itself.
            return Err(ExtractError::InvalidName {
                entry: entry.to_owned(),
                reason: "the name is empty",
            });
        };
        let mut relative = PathBuf::new();
        let mut full = self.root.to_path_buf();
        for component in ancestors {
            relative.push(component);
            full.push(component);
            if self.dirs.contains(&relative) {
                continue;
            }
            match existing(&full).map_err(|err| write_error(entry, &full, err))? {
                Existing::Missing => {
                    create_dir(&full).map_err(|err| write_error(entry, &full, err))?;
                }
                Existing::Dir => {}
                Existing::Symlink => {
                    return Err(ExtractError::ThroughSymlink {
                        entry: entry.to_owned(),
                        link: relative.display().to_string(),
                    })
                }
                Existing::File | Existing::Other => {
                    return Err(ExtractError::Conflict {
                        entry: entry.to_owned(),
                        existing: relative.display().to_string(),
                        kind: "file",
                    })
                }
            }
            self.dirs.insert(relative.clone());
        }
        full.push(last);
        Ok(full)
    }

    /// Make room for a file or hard link at `full`: it must be free, or hold a regular file from
    /// an earlier entry, which the new one replaces. Returns whether something was replaced.
    fn clear_for_file(&mut self, entry: &str, full: &Path) -> Result<bool, ExtractError> {
        match existing(full).map_err(|err| write_error(entry, full, err))? {
            Existing::Missing => Ok(false),
            Existing::File => {
                fs::remove_file(full).map_err(|err| write_error(entry, full, err))?;
                Ok(true)
            }
            Existing::Symlink => Err(replaces_symlink(entry)),
            Existing::Dir => Err(ExtractError::Conflict {
                entry: entry.to_owned(),
                existing: entry.to_owned(),
                kind: "directory",
            }),
            Existing::Other => Err(ExtractError::Conflict {
                entry: entry.to_owned(),
                existing: entry.to_owned(),
                kind: "special file",
            }),
        }
    }

    /// Copy `source` (a file in the tree) to the new file `full`, keeping its mode.
    fn copy_file(&mut self, entry: &str, source: &Path, full: &Path) -> Result<(), ExtractError> {
        let mut input = File::open(source).map_err(|err| write_error(entry, full, err))?;
        let executable = input
            .metadata()
            .map(|metadata| crate::fs::is_executable(&metadata))
            .map_err(|err| write_error(entry, full, err))?;
        let mut out = create_new(full).map_err(|err| write_error(entry, full, err))?;
        match self.copy(&mut input, &mut out) {
            Ok(_) => {}
            Err(CopyError::Read(err) | CopyError::Write(err)) => return Err(write_error(entry, full, err)),
            Err(CopyError::TooLarge) => return Err(self.too_large(Some(entry))),
        }
        set_file_mode(&out, executable).map_err(|err| write_error(entry, full, err))
    }

    /// Copy until the end of `reader`, charging every chunk before it is written; returns the
    /// number of bytes copied.
    fn copy(&mut self, reader: &mut dyn Read, out: &mut File) -> Result<u64, CopyError> {
        let mut buffer = vec![0; COPY_BUFFER];
        let mut copied: u64 = 0;
        loop {
            let read = match reader.read(&mut buffer) {
                Ok(0) => return Ok(copied),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(CopyError::Read(err)),
            };
            let chunk = buffer.get(..read).ok_or(CopyError::Read(io::Error::other(
                "a reader reported more bytes than its buffer holds",
            )))?;
            self.used = self.used.saturating_add(chunk.len() as u64);
            if self.used > self.limit {
                return Err(CopyError::TooLarge);
            }
            out.write_all(chunk).map_err(CopyError::Write)?;
            copied += chunk.len() as u64;
            self.summary.bytes += chunk.len() as u64;
        }
    }
}

fn write_error(entry: &str, path: &Path, source: io::Error) -> ExtractError {
    ExtractError::Write {
        entry: entry.to_owned(),
        path: path.to_owned(),
        source,
    }
}

fn replaces_symlink(entry: &str) -> ExtractError {
    ExtractError::ReplacesSymlink {
        entry: entry.to_owned(),
    }
}

fn conflict(entry: &str, path: &TreePath, kind: &'static str) -> ExtractError {
    ExtractError::Conflict {
        entry: entry.to_owned(),
        existing: path.to_path().display().to_string(),
        kind,
    }
}

fn existing(path: &Path) -> io::Result<Existing> {
    match fs::symlink_metadata(path) {
        Ok(metadata) => {
            let kind = metadata.file_type();
            Ok(if kind.is_symlink() {
                Existing::Symlink
            } else if kind.is_dir() {
                Existing::Dir
            } else if kind.is_file() {
                Existing::File
            } else {
                Existing::Other
            })
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Existing::Missing),
        Err(err) => Err(err),
    }
}

/// A new file, never an existing one: `create_new` fails on anything already at `path`,
/// a dangling symlink included, so a write can never follow a link.
fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A new directory with mode 0o755 whatever the umask, so the store is readable by everyone.
fn create_dir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// 0o755 or 0o644: an archive's setuid, setgid and sticky bits, and its owner-only or
/// world-writable modes, are never kept.
#[cfg(unix)]
fn set_file_mode(file: &File, executable: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_file_mode(_file: &File, _executable: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn make_symlink(entry: &str, target: &Path, full: &Path) -> Result<(), ExtractError> {
    std::os::unix::fs::symlink(target, full).map_err(|err| write_error(entry, full, err))
}

#[cfg(not(unix))]
fn make_symlink(entry: &str, _target: &Path, _full: &Path) -> Result<(), ExtractError> {
    Err(ExtractError::SymlinkUnsupported {
        entry: entry.to_owned(),
    })
}

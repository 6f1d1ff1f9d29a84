//! Directories velo owns below a trusted root, handled without following links.
//!
//! A project's `.velo/` may come from the repository (a clone that committed it) and so may hold
//! anything at velo's own paths: a symlink `Cellar/x -> ../../..`, a `sync.lock` that points at
//! a file elsewhere, a `.velo` that is itself a link. [`OwnedDir`] is how velo walks such a tree:
//! it starts at a root the user chose (the project root, the cache root) and reaches every
//! directory below it one checked name at a time, so a path it hands out never passes through a
//! symlink below the root. What it finds where it expects its own directory (a link, a file) is
//! removed, the link itself and never its target, and replaced; deletion never descends through
//! a link (`remove_dir_all` is only ever given a path whose parents are checked directories, and
//! itself unlinks a symlink instead of following it); files are opened with `O_NOFOLLOW`.
//!
//! The threat is content planted before velo runs, not a second local user racing velo: checks
//! happen once, on the way down, and the rest of the disk is reached only through checked
//! directories.

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A directory that was a real directory (not a symlink) all the way down from its root when
/// velo reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedDir {
    path: PathBuf,
}

/// Refuse anything but one plain path component: a name can never climb out of its directory.
fn checked_name(name: &str) -> io::Result<&str> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a file name"),
        ));
    }
    Ok(name)
}

impl OwnedDir {
    /// The root itself, trusted as it is: the user chose it (it may well be a symlink).
    pub fn trusted(root: &Path) -> Self {
        Self {
            path: root.to_path_buf(),
        }
    }

    /// `root/relative` (plain names only) as a real directory, created where missing and
    /// repaired where a component is a link or a file.
    pub fn ensure(root: &Path, relative: &Path) -> io::Result<Self> {
        let mut dir = Self::trusted(root);
        for part in relative.iter() {
            dir = dir.ensure_dir(&part.to_string_lossy())?;
        }
        Ok(dir)
    }

    /// `root/relative` when every component below `root` is a real directory; `None` when one
    /// is missing, a link or a file. Changes nothing: for readers.
    pub fn existing(root: &Path, relative: &Path) -> Option<Self> {
        let mut dir = Self::trusted(root);
        for part in relative.iter() {
            dir = dir.dir(&part.to_string_lossy())?;
        }
        Some(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the entry `name`; only for handing to calls that do not follow a link in
    /// the last component (rename, unlink, `lstat`, `symlink`, `O_NOFOLLOW` opens).
    pub fn join(&self, name: &str) -> io::Result<PathBuf> {
        Ok(self.path.join(checked_name(name)?))
    }

    /// What `name` is, without following a link; `None` when it does not exist.
    pub fn kind(&self, name: &str) -> Option<FileType> {
        let path = self.join(name).ok()?;
        std::fs::symlink_metadata(path).ok().map(|m| m.file_type())
    }

    /// The directory `name` if it is a real one.
    pub fn dir(&self, name: &str) -> Option<Self> {
        self.kind(name).filter(FileType::is_dir)?;
        Some(Self {
            path: self.join(name).ok()?,
        })
    }

    /// The directory `name`: created if missing; a link or file there is removed first.
    pub fn ensure_dir(&self, name: &str) -> io::Result<Self> {
        let path = self.join(name)?;
        match self.kind(name) {
            Some(kind) if kind.is_dir() => return Ok(Self { path }),
            Some(_) => std::fs::remove_file(&path)?,
            None => {}
        }
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            // Another velo made it meanwhile: fine if it is a directory.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && self.dir(name).is_some() => {}
            Err(err) => return Err(err),
        }
        Ok(Self { path })
    }

    /// The names in this directory with what each is (links not followed).
    pub fn entries(&self) -> io::Result<Vec<(String, FileType)>> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            // `DirEntry::file_type` is `lstat`-like: a link is reported as a link.
            let kind = entry.file_type()?;
            if let Some(name) = entry.file_name().to_str() {
                entries.push((name.to_string(), kind));
            }
        }
        Ok(entries)
    }

    /// Remove the entry `name` whatever it is: a directory with everything in it, or a file or
    /// link (never what a link points at). A missing entry is not an error.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        let path = self.join(name)?;
        let result = match self.kind(name) {
            None => return Ok(()),
            // Its parents are checked directories and `remove_dir_all` does not follow links
            // inside it, so nothing outside `path` is touched.
            Some(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
            Some(_) => std::fs::remove_file(&path),
        };
        match result {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Remove `name` unless it is a regular file, so the next open finds a file or nothing.
    pub fn clear_unless_file(&self, name: &str) -> io::Result<()> {
        match self.kind(name) {
            Some(kind) if !kind.is_file() => self.remove(name),
            _ => Ok(()),
        }
    }

    /// Read the regular file `name` (a link, FIFO or device is refused), at most `limit` bytes.
    pub fn read(&self, name: &str, limit: u64) -> io::Result<Vec<u8>> {
        let file = open_regular(&self.join(name)?, OpenOptions::new().read(true))?;
        let mut bytes = Vec::new();
        file.take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("`{name}` is larger than {limit} bytes"),
            ));
        }
        Ok(bytes)
    }

    /// Replace the file `name` with `contents` by a rename from a temporary file in this
    /// directory: a link at `name` is replaced, not written through. Mode 0644.
    pub fn write_atomic(&self, name: &str, contents: &[u8], durable: bool) -> io::Result<()> {
        let path = self.join(name)?;
        let mut temp = tempfile::Builder::new()
            .prefix(".velo-tmp-")
            .tempfile_in(&self.path)?;
        temp.write_all(contents)?;
        if durable {
            temp.as_file().sync_all()?;
        }
        set_mode(temp.as_file(), 0o644)?;
        if self.kind(name).is_some_and(|kind| kind.is_dir()) {
            self.remove(name)?;
        }
        temp.persist(&path).map_err(|err| err.error)?;
        Ok(())
    }

    /// Open (creating) the regular file `name` for writing without following a link; whatever
    /// else is there (a link, a directory, a FIFO) is removed first.
    pub fn open_file(&self, name: &str) -> io::Result<File> {
        self.clear_unless_file(name)?;
        open_regular(
            &self.join(name)?,
            OpenOptions::new().create(true).truncate(false).write(true),
        )
    }

    /// A fresh staging directory in this one.
    pub fn tempdir(&self, prefix: &str) -> io::Result<tempfile::TempDir> {
        tempfile::Builder::new().prefix(prefix).tempdir_in(&self.path)
    }
}

/// Open `path` with `options`, refusing a symlink in the last component (`O_NOFOLLOW`) and
/// anything that is not a regular file, checked on the open file so nothing can be swapped in
/// between. `O_NONBLOCK` keeps a FIFO from blocking the open itself (regular files ignore it).
pub fn open_regular(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|err| {
        #[cfg(unix)]
        if err.raw_os_error() == Some(libc::ELOOP) {
            return io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` is a symbolic link", path.display()),
            );
        }
        err
    })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a regular file", path.display()),
        ));
    }
    Ok(file)
}

/// The largest project file (`velo.json`, `velo.lock`) velo reads.
pub const MAX_PROJECT_FILE: u64 = 64 << 20;

/// Read the regular file at `path` (a link to one is fine: a project may share its files), at
/// most `limit` bytes. A FIFO or a device is refused without blocking, a directory is refused,
/// and a file larger than `limit` is an error instead of a read that never ends.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a regular file", path.display()),
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{}` is larger than {limit} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_at_owned_paths_are_replaced_not_followed() {
        let temp = tempfile::tempdir().unwrap();
        let (root, outside) = (temp.path().join("root"), temp.path().join("outside"));
        fs_err::create_dir_all(&root).unwrap();
        fs_err::create_dir_all(outside.join("keep")).unwrap();
        fs_err::write(outside.join("file"), "x").unwrap();
        symlink(&outside, root.join("a")).unwrap();
        assert!(OwnedDir::existing(&root, Path::new("a/keep")).is_none());
        let dir = OwnedDir::ensure(&root, Path::new("a/keep")).unwrap();
        assert!(!root.join("a").is_symlink());
        assert_eq!(dir.path(), root.join("a/keep"));
        assert!(outside.join("keep").is_dir() && outside.join("file").is_file());

        let a = OwnedDir::existing(&root, Path::new("a")).unwrap();
        symlink(outside.join("file"), root.join("a/lock")).unwrap();
        let mut lock = a.open_file("lock").unwrap();
        lock.write_all(b"mine").unwrap();
        assert_eq!(fs_err::read_to_string(outside.join("file")).unwrap(), "x");
        symlink(&outside, root.join("a/tree")).unwrap();
        a.remove("tree").unwrap();
        assert!(outside.join("keep").is_dir() && outside.join("file").is_file());
        assert!(a.join("../x").is_err() && a.join("..").is_err());
    }

    #[test]
    fn reading_refuses_links_and_fifos() {
        let temp = tempfile::tempdir().unwrap();
        let dir = OwnedDir::trusted(temp.path());
        fs_err::write(temp.path().join("real"), "data").unwrap();
        symlink(temp.path().join("real"), temp.path().join("link")).unwrap();
        let mkfifo = std::process::Command::new("mkfifo")
            .arg(temp.path().join("fifo"))
            .status();
        assert!(mkfifo.unwrap().success());
        assert_eq!(dir.read("real", 10).unwrap(), b"data");
        assert!(dir.read("real", 2).is_err());
        assert!(dir.read("link", 10).is_err());
        assert!(dir.read("fifo", 10).is_err());
    }
}

//! Materializing store trees into projects: reflink where the file system can, else hard link,
//! else copy. The method is chosen on the first file and kept; falling back to copying is
//! reported once so the user knows why a sync used disk space.

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use super::{io_error, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    Reflink,
    HardLink,
    Copy,
}

const UNDECIDED: u8 = 0;

impl LinkMode {
    fn to_u8(self) -> u8 {
        match self {
            LinkMode::Reflink => 1,
            LinkMode::HardLink => 2,
            LinkMode::Copy => 3,
        }
    }

    fn from_u8(n: u8) -> Option<Self> {
        match n {
            1 => Some(LinkMode::Reflink),
            2 => Some(LinkMode::HardLink),
            3 => Some(LinkMode::Copy),
            _ => None,
        }
    }
}

/// Shared by every tree one sync materializes.
#[derive(Debug, Default)]
pub struct Linker {
    mode: AtomicU8,
}

impl Linker {
    /// The method in use, once the first file has been placed.
    pub fn mode(&self) -> Option<LinkMode> {
        LinkMode::from_u8(self.mode.load(Ordering::Relaxed))
    }

    /// Recreate the tree `src` at `dst` (which must not exist). Blocking.
    pub fn link_tree(&self, src: &Path, dst: &Path) -> Result<(), StoreError> {
        fs_err::create_dir(dst).map_err(io_error(dst))?;
        for entry in fs_err::read_dir(src).map_err(io_error(src))? {
            let entry = entry.map_err(io_error(src))?;
            let (from, to) = (entry.path(), dst.join(entry.file_name()));
            let kind = entry.file_type().map_err(io_error(&from))?;
            if kind.is_dir() {
                self.link_tree(&from, &to)?;
            } else if kind.is_symlink() {
                let target = fs_err::read_link(&from).map_err(io_error(&from))?;
                symlink(&target, &to).map_err(io_error(&to))?;
            } else {
                self.link_file(&from, &to)?;
            }
        }
        Ok(())
    }

    fn link_file(&self, from: &Path, to: &Path) -> Result<(), StoreError> {
        match self.mode() {
            Some(LinkMode::Reflink) if reflink_copy::reflink(from, to).is_ok() => return Ok(()),
            Some(LinkMode::HardLink) if std::fs::hard_link(from, to).is_ok() => return Ok(()),
            Some(_) => {
                // The chosen method failed for this file (another device, a link limit): copy it.
                fs_err::copy(from, to).map_err(io_error(to))?;
                return Ok(());
            }
            None => {}
        }
        let mode = if reflink_copy::reflink(from, to).is_ok() {
            LinkMode::Reflink
        } else if std::fs::hard_link(from, to).is_ok() {
            LinkMode::HardLink
        } else {
            fs_err::copy(from, to).map_err(io_error(to))?;
            LinkMode::Copy
        };
        // Only the first decision sticks, however many threads race to make it.
        let _ = self
            .mode
            .compare_exchange(UNDECIDED, mode.to_u8(), Ordering::Relaxed, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(unix)]
pub fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
pub fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_a_tree_with_files_dirs_and_symlinks() {
        let temp = tempfile::tempdir().unwrap();
        let src = temp.path().join("src");
        fs_err::create_dir_all(src.join("bin")).unwrap();
        fs_err::write(src.join("bin/tool"), "#!/bin/sh\n").unwrap();
        symlink(Path::new("bin/tool"), &src.join("tool")).unwrap();
        let linker = Linker::default();
        linker.link_tree(&src, &temp.path().join("dst")).unwrap();
        assert_eq!(
            fs_err::read_to_string(temp.path().join("dst/bin/tool")).unwrap(),
            "#!/bin/sh\n"
        );
        assert_eq!(
            fs_err::read_link(temp.path().join("dst/tool")).unwrap(),
            Path::new("bin/tool")
        );
        assert!(linker.mode().is_some());
    }
}

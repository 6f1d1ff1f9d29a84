//! Walking a zip archive entry by entry and handing each one, checked, to the [`Tree`].
//!
//! The zip crate reads the central directory and decompresses; names, types, modes and sizes are
//! judged here, with the same rules as tar (the crate's own `extract` trusts too much).

use std::io::{Read, Seek};

use super::path::{self, Separators};
use super::tar_reader::MAX_NAME;
use super::tree::{Tree, MAX_ENTRIES};
use super::{ExtractError, ExtractOptions};

/// File type bits of a Unix mode, as zip stores it in the upper half of the external attributes.
const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFSOCK: u32 = 0o140_000;

/// The longest symlink target accepted (`PATH_MAX` on Linux); zip stores the target as the
/// entry's content, so it is read with this cap.
const MAX_LINK_TARGET: u64 = 4096;

enum Kind {
    Directory,
    File { executable: bool },
    Symlink,
}

/// Unpack the zip archive `reader` into `tree`.
pub(super) fn extract<R: Read + Seek>(
    reader: R,
    tree: &mut Tree<'_>,
    options: &ExtractOptions,
) -> Result<(), ExtractError> {
    // The zip crate reads the central directory whole, but its records are length-prefixed and
    // live in the file, so that costs memory in proportion to the (verified) download.
    let mut archive = zip::ZipArchive::new(reader).map_err(|source| zip_error(tree, None, source))?;
    if archive.len() as u64 > MAX_ENTRIES {
        return Err(ExtractError::TooManyEntries { limit: MAX_ENTRIES });
    }
    for index in 0..archive.len() {
        let listed_name = archive.name_for_index(index).map(str::to_owned);
        if let Some(name) = listed_name.as_ref().filter(|name| name.len() as u64 > MAX_NAME) {
            return Err(ExtractError::InvalidName {
                entry: name.clone(),
                reason: "the name is longer than 4096 bytes",
            });
        }
        let mut file = archive
            .by_index(index)
            .map_err(|source| zip_error(tree, listed_name, source))?;
        let name = file.name().to_owned();
        let kind = classify(&name, file.unix_mode())?;
        let path = path::entry_path(
            name.as_bytes(),
            Separators::SlashOrBackslash,
            options.strip_components,
        )
        .map_err(|problem| problem.into_entry_error(&name))?;
        // Stripped away entirely. Zip is random access, so a skipped entry is never decompressed.
        let Some(path) = path else { continue };
        match kind {
            Kind::Directory => tree.directory(&name, &path)?,
            Kind::File { executable } => {
                let claimed = file.size();
                // The zip crate checks the CRC at the end, so a short or altered entry is an
                // error there; the central directory's size claim needs no second check.
                tree.file(&name, &path, &mut file, Some(claimed), executable)?;
            }
            Kind::Symlink => {
                let mut target = Vec::new();
                (&mut file)
                    .take(MAX_LINK_TARGET + 1)
                    .read_to_end(&mut target)
                    .map_err(|err| tree.read_error(Some(&name), err))?;
                if target.len() as u64 > MAX_LINK_TARGET {
                    return Err(ExtractError::SymlinkTargetInvalid {
                        entry: name,
                        target: String::from_utf8_lossy(&target).into_owned(),
                        reason: "the target is longer than 4096 bytes",
                    });
                }
                tree.charge(&name, target.len() as u64)?;
                tree.symlink(&name, &path, &target)?;
            }
        }
    }
    Ok(())
}

/// What an entry is, from its name (a trailing separator means a directory) and its Unix mode.
/// Entries without a Unix mode (written on Windows) are plain files.
fn classify(name: &str, mode: Option<u32>) -> Result<Kind, ExtractError> {
    let file_type = mode.map_or(0, |mode| mode & S_IFMT);
    if name.ends_with(['/', '\\']) || file_type == S_IFDIR {
        return Ok(Kind::Directory);
    }
    let kind = match file_type {
        0 | S_IFREG => {
            return Ok(Kind::File {
                executable: mode.is_some_and(|mode| mode & 0o111 != 0),
            })
        }
        S_IFLNK => return Ok(Kind::Symlink),
        S_IFCHR => "character device",
        S_IFBLK => "block device",
        S_IFIFO => "FIFO (named pipe)",
        S_IFSOCK => "socket",
        _ => "special file",
    };
    Err(ExtractError::UnsupportedType {
        entry: name.to_owned(),
        kind: kind.to_owned(),
    })
}

fn zip_error(tree: &Tree<'_>, entry: Option<String>, source: zip::result::ZipError) -> ExtractError {
    ExtractError::Zip {
        archive: tree.archive().to_owned(),
        entry,
        source,
    }
}

//! Walking a tar stream entry by entry and handing each one, checked, to the [`Tree`].
//!
//! The `tar` crate parses headers and [`tar_reader`](super::tar_reader) joins GNU long names and
//! PAX records to their entries with bounded memory; nothing of the crate's own `unpack` is used,
//! since it trusts too much of the archive.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use tar::EntryType;

use super::path::{self, PathProblem, Separators};
use super::tar_reader::{self, RecordTooLarge, TarEntry};
use super::tree::Tree;
use super::{ExtractError, ExtractOptions};

/// Room the decompressed stream gets beyond the unpacked limit, for headers, padding and GNU/PAX
/// records. A package of many tiny files needs about 1 KiB of tar per file.
const STREAM_OVERHEAD: u64 = 64 << 20;

/// Unpack the decompressed tar `stream` into `tree`.
pub(super) fn extract<R: Read>(
    stream: R,
    tree: &mut Tree<'_>,
    options: &ExtractOptions,
) -> Result<(), ExtractError> {
    // Entry data is charged as it is read, and headers, padding and (bounded) extension records
    // are not, so the stream as a whole is capped too.
    let limit = tree.limit();
    let cap = limit.saturating_add(limit.max(STREAM_OVERHEAD));
    let stream = StreamCap {
        inner: stream,
        remaining: cap,
        hit: tree.stream_limit_flag(),
    };
    let mut archive = tar::Archive::new(stream);
    let entries = tar_reader::entries(&mut archive).map_err(|err| tree.read_error(None, err))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| header_error(tree, err))?;
        let name = String::from_utf8_lossy(entry.path_bytes()).into_owned();
        unpack_entry(tree, &mut entry, &name, options.strip_components)?;
    }
    Ok(())
}

/// A record past the reader's bounds is its own error, not corruption.
fn header_error(tree: &Tree<'_>, err: io::Error) -> ExtractError {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<RecordTooLarge>())
    {
        Some(record) => ExtractError::RecordTooLarge {
            archive: tree.archive().to_owned(),
            what: record.what,
            declared: record.declared,
            limit: record.limit,
        },
        None => tree.read_error(None, err),
    }
}

fn unpack_entry<R: Read>(
    tree: &mut Tree<'_>,
    entry: &mut TarEntry<'_, R>,
    name: &str,
    strip: u32,
) -> Result<(), ExtractError> {
    let kind = entry.header().entry_type();
    let size = entry.size();
    match kind {
        EntryType::Regular
        | EntryType::Continuous
        | EntryType::GNUSparse
        | EntryType::Directory
        | EntryType::Symlink
        | EntryType::Link => {}
        other => {
            return Err(ExtractError::UnsupportedType {
                entry: name.to_owned(),
                kind: describe(other),
            })
        }
    }
    let path = path::entry_path(entry.path_bytes(), Separators::Slash, strip)
        .map_err(|problem| problem.into_entry_error(name))?;
    let Some(path) = path else {
        // Stripped away entirely; its data still counts, since it is decompressed to skip it.
        return tree.charge(name, size);
    };
    match kind {
        EntryType::Directory => {
            tree.charge(name, size)?;
            tree.directory(name, &path)
        }
        EntryType::Symlink => {
            tree.charge(name, size)?;
            let target = entry.link_name_bytes().unwrap_or_default().to_vec();
            tree.symlink(name, &path, &target)
        }
        EntryType::Link => {
            tree.charge(name, size)?;
            let raw = entry.link_name_bytes().unwrap_or_default().to_vec();
            let target_text = String::from_utf8_lossy(&raw).into_owned();
            let target = match path::entry_path(&raw, Separators::Slash, strip) {
                Ok(Some(target)) => target,
                Err(PathProblem::Absolute | PathProblem::ParentDir) => {
                    return Err(ExtractError::HardLinkEscapes {
                        entry: name.to_owned(),
                        target: target_text,
                    })
                }
                Ok(None) | Err(PathProblem::Invalid(_)) => {
                    return Err(ExtractError::HardLinkTarget {
                        entry: name.to_owned(),
                        target: target_text,
                    })
                }
            };
            tree.hard_link(name, &path, &target)
        }
        // A regular file. The reader expands a GNU sparse file's holes as it reads, so one is
        // written like any other (its holes filled, and counted against the limit).
        _ => {
            let mode = entry
                .header()
                .mode()
                .map_err(|err| tree.read_error(Some(name), err))?;
            let written = tree.file(name, &path, entry, Some(size), mode & 0o111 != 0)?;
            // At the end of the stream the tar crate hands out a short read, not an error.
            if written != size {
                let truncated = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the archive ends after {written} of the entry's {size} bytes"),
                );
                return Err(tree.read_error(Some(name), truncated));
            }
            Ok(())
        }
    }
}

fn describe(kind: EntryType) -> String {
    match kind {
        EntryType::Char => "character device".to_owned(),
        EntryType::Block => "block device".to_owned(),
        EntryType::Fifo => "FIFO (named pipe)".to_owned(),
        other => format!("special file (tar type {:?})", char::from(other.as_byte())),
    }
}

/// Caps how many decompressed bytes the tar reader may pull, and raises `hit` when it trips so
/// the resulting read error is reported as a bomb.
struct StreamCap<R> {
    inner: R,
    remaining: u64,
    hit: Rc<Cell<bool>>,
}

impl<R: Read> Read for StreamCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        match self.remaining.checked_sub(read as u64) {
            Some(remaining) => {
                self.remaining = remaining;
                Ok(read)
            }
            None => {
                self.hit.set(true);
                self.remaining = 0;
                Err(io::Error::other(
                    "the decompressed archive is larger than allowed",
                ))
            }
        }
    }
}

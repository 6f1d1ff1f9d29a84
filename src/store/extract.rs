//! Unpacking a downloaded artifact into a directory of the store.
//!
//! Owns what an artifact may put on disk: the supported formats (tar with gzip, xz, zstd or bzip2;
//! zip; a single gzip, xz or zstd file; a raw executable), the path rules that keep every entry
//! inside the destination, the link rules, the file modes, and the size limit that stops
//! decompression bombs. The caller has already verified the artifact's checksum, but a checksum
//! only proves the file is the one the index named, not that it is harmless, so every entry is
//! treated as hostile.
//!
//! The parts: `path` turns entry names into checked relative paths, `tree` is the only code that
//! writes into the destination, `untar` and `unzip` walk the two archive kinds.

mod path;
pub mod tar_reader;
mod tree;
mod untar;
mod unzip;

#[cfg(all(test, unix))]
mod tests;

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::escape::{untrusted, untrusted_path};
use tar_reader::RecordTooLarge;
use tree::Tree;

/// Decoders for xz may ask for a dictionary of up to 1.5 GiB; real artifacts (`xz -9` included)
/// need well under 100 MiB, so a larger request is treated as a corrupt or hostile file.
const XZ_MEMORY_LIMIT: u64 = 256 << 20;

/// What kind of file an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    TarGz,
    TarXz,
    TarZst,
    TarBz2,
    Zip,
    Gz,
    Xz,
    Zst,
    Raw,
}

impl ArchiveFormat {
    /// From an explicit format name as an index may give it: "tar.gz", "tgz", "tar.xz", "txz",
    /// "tar.zst", "tzst", "tar.bz2", "tbz2", "zip", "gz", "xz", "zst", "raw" (a leading `.` is
    /// accepted, case is ignored); `None` if unknown.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.strip_prefix('.').unwrap_or(name).to_ascii_lowercase();
        let format = match name.as_str() {
            "tar.gz" | "tgz" => Self::TarGz,
            "tar.xz" | "txz" => Self::TarXz,
            "tar.zst" | "tzst" => Self::TarZst,
            "tar.bz2" | "tbz2" => Self::TarBz2,
            "zip" => Self::Zip,
            "gz" => Self::Gz,
            "xz" => Self::Xz,
            "zst" => Self::Zst,
            "raw" => Self::Raw,
            _ => return None,
        };
        Some(format)
    }

    /// From a URL or file name, by its extension (query string and fragment ignored, case
    /// ignored). Anything without a known extension is a raw file, since release pages often
    /// publish bare executables such as `tool-linux-amd64`.
    pub fn from_file_name(name: &str) -> Self {
        let end = name.find(['?', '#']).unwrap_or(name.len());
        let name = name[..end].to_ascii_lowercase();
        // Longest suffixes first, so `.tar.gz` wins over `.gz`.
        const SUFFIXES: [(&str, ArchiveFormat); 12] = [
            (".tar.gz", ArchiveFormat::TarGz),
            (".tar.xz", ArchiveFormat::TarXz),
            (".tar.zst", ArchiveFormat::TarZst),
            (".tar.bz2", ArchiveFormat::TarBz2),
            (".tgz", ArchiveFormat::TarGz),
            (".txz", ArchiveFormat::TarXz),
            (".tzst", ArchiveFormat::TarZst),
            (".tbz2", ArchiveFormat::TarBz2),
            (".zip", ArchiveFormat::Zip),
            (".gz", ArchiveFormat::Gz),
            (".xz", ArchiveFormat::Xz),
            (".zst", ArchiveFormat::Zst),
        ];
        SUFFIXES
            .iter()
            .find(|(suffix, _)| name.ends_with(suffix))
            .map_or(Self::Raw, |&(_, format)| format)
    }

    fn name(self) -> &'static str {
        match self {
            Self::TarGz => "tar.gz",
            Self::TarXz => "tar.xz",
            Self::TarZst => "tar.zst",
            Self::TarBz2 => "tar.bz2",
            Self::Zip => "zip",
            Self::Gz => "gz",
            Self::Xz => "xz",
            Self::Zst => "zst",
            Self::Raw => "raw",
        }
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Leading path components to drop from every entry, like `tar --strip-components` (a `./`
    /// counts as a component, as it does for GNU tar). Entries with no more components than this
    /// (the top-level directory itself) are skipped.
    pub strip_components: u32,
    /// Refuse archives whose entries add up to more than this many bytes once unpacked. Counted
    /// from the bytes actually decompressed, not from what headers claim.
    pub max_unpacked_size: u64,
    /// For `Gz`, `Xz`, `Zst` and `Raw`: the name of the single file written inside `dest`.
    pub file_name: String,
}

/// What an extraction wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Regular files, symlinks and hard links created (a file replaced by a later entry of the
    /// same name counts once).
    pub files: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("cannot unpack into `{}`: {reason}", dest.display())]
    Destination {
        dest: PathBuf,
        reason: &'static str,
        #[source]
        source: Option<io::Error>,
    },
    #[error("failed to open the archive `{}`", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the archive `{}` is corrupt or is not a {format} file{}", archive.display(), at_entry(.entry))]
    Corrupt {
        archive: PathBuf,
        format: ArchiveFormat,
        entry: Option<String>,
        #[source]
        source: io::Error,
    },
    #[error("the archive `{}` is not a valid zip file{}", archive.display(), at_entry(.entry))]
    Zip {
        archive: PathBuf,
        entry: Option<String>,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("archive entry `{entry}` is an absolute path; a package may only contain relative paths", entry = untrusted(.entry))]
    AbsolutePath { entry: String },
    #[error("archive entry `{entry}` points outside the package: its path contains `..`", entry = untrusted(.entry))]
    ParentDir { entry: String },
    #[error("archive entry `{entry}` has an invalid name: {reason}", entry = untrusted(.entry))]
    InvalidName { entry: String, reason: &'static str },
    #[error("archive entry `{entry}` is a {kind}; a package may only contain files, directories and links", entry = untrusted(.entry))]
    UnsupportedType { entry: String, kind: String },
    #[error(
        "symlink `{entry}` points to the absolute path `{target}`; a package's symlinks must be relative"
    , entry = untrusted(.entry), target = untrusted(.target))]
    SymlinkAbsolute { entry: String, target: String },
    #[error("symlink `{entry}` -> `{target}` points outside the package", entry = untrusted(.entry), target = untrusted(.target))]
    SymlinkEscapes { entry: String, target: String },
    #[error("symlink `{entry}` -> `{target}` is not allowed: {reason}", entry = untrusted(.entry), target = untrusted(.target))]
    SymlinkTargetInvalid {
        entry: String,
        target: String,
        reason: &'static str,
    },
    #[error("symlinks are not supported on this platform (archive entry `{entry}`)", entry = untrusted(.entry))]
    SymlinkUnsupported { entry: String },
    #[error(
        "archive entry `{entry}` would be written through the symlink `{link}` that an earlier entry created"
    , entry = untrusted(.entry), link = untrusted(.link))]
    ThroughSymlink { entry: String, link: String },
    #[error("archive entry `{entry}` would replace the symlink that an earlier entry created at that path", entry = untrusted(.entry))]
    ReplacesSymlink { entry: String },
    #[error(
        "archive entry `{entry}` conflicts with `{existing}`, which an earlier entry created as a {kind}"
    , entry = untrusted(.entry), existing = untrusted(.existing))]
    Conflict {
        entry: String,
        existing: String,
        kind: &'static str,
    },
    #[error("hard link `{entry}` -> `{target}` points outside the package", entry = untrusted(.entry), target = untrusted(.target))]
    HardLinkEscapes { entry: String, target: String },
    #[error("hard link `{entry}` -> `{target}` does not point to a regular file extracted earlier from the archive", entry = untrusted(.entry), target = untrusted(.target))]
    HardLinkTarget { entry: String, target: String },
    #[error("the archive unpacks to more than {limit} bytes{}; it may be a decompression bomb", at_entry(.entry))]
    TooLarge { entry: Option<String>, limit: u64 },
    #[error("the archive `{}` is refused: {}", archive.display(), RecordTooLarge { what, declared: *declared, limit: *limit })]
    RecordTooLarge {
        archive: PathBuf,
        what: &'static str,
        declared: u64,
        limit: u64,
    },
    #[error("the archive has more than {limit} entries; velo refuses it rather than track them all")]
    TooManyEntries { limit: u64 },
    #[error("`{name}` is not a valid name for the unpacked file: it must be a single file name, without `/`, `\\` or `..`", name = untrusted(.name))]
    BadFileName { name: String },
    #[error("failed to write archive entry `{entry}` to `{}`", untrusted_path(path), entry = untrusted(.entry))]
    Write {
        entry: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn at_entry(entry: &Option<String>) -> String {
    match entry {
        Some(entry) => format!(" (at entry `{}`)", untrusted(entry)),
        None => String::new(),
    }
}

/// Unpack `archive` (a file on disk, already checksum-verified by the caller) of `format` into
/// the directory `dest`, which must exist and be empty. On error the caller deletes `dest`; this
/// function never writes outside `dest` under any input.
pub fn extract(
    archive: &Path,
    format: ArchiveFormat,
    dest: &Path,
    options: &ExtractOptions,
) -> Result<ExtractSummary, ExtractError> {
    check_destination(dest)?;
    let file = File::open(archive).map_err(|source| ExtractError::Open {
        path: archive.to_owned(),
        source,
    })?;
    let reader = BufReader::new(file);
    let mut tree = Tree::new(dest, archive, format, options.max_unpacked_size);
    match format {
        ArchiveFormat::TarGz => {
            untar::extract(flate2::read::MultiGzDecoder::new(reader), &mut tree, options)?;
        }
        ArchiveFormat::TarXz => {
            let decoder = xz_decoder(reader).map_err(|err| tree.read_error(None, err))?;
            untar::extract(decoder, &mut tree, options)?;
        }
        ArchiveFormat::TarZst => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(reader).map_err(|err| tree.read_error(None, err))?;
            untar::extract(decoder, &mut tree, options)?;
        }
        ArchiveFormat::TarBz2 => {
            untar::extract(bzip2::read::MultiBzDecoder::new(reader), &mut tree, options)?;
        }
        ArchiveFormat::Zip => unzip::extract(reader, &mut tree, options)?,
        ArchiveFormat::Gz | ArchiveFormat::Xz | ArchiveFormat::Zst | ArchiveFormat::Raw => {
            single(reader, format, &mut tree, options)?;
        }
    }
    Ok(tree.finish())
}

/// Decompress (or, for `Raw`, copy) the artifact to `dest/<file_name>`, executable.
fn single(
    reader: BufReader<File>,
    format: ArchiveFormat,
    tree: &mut Tree<'_>,
    options: &ExtractOptions,
) -> Result<(), ExtractError> {
    let name = &options.file_name;
    let path =
        path::single_file_name(name).ok_or_else(|| ExtractError::BadFileName { name: name.clone() })?;
    let mut reader: Box<dyn Read> = match format {
        ArchiveFormat::Gz => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        ArchiveFormat::Xz => Box::new(xz_decoder(reader).map_err(|err| tree.read_error(None, err))?),
        ArchiveFormat::Zst => Box::new(
            zstd::stream::read::Decoder::with_buffer(reader).map_err(|err| tree.read_error(None, err))?,
        ),
        _ => Box::new(reader),
    };
    tree.file(name, &path, &mut reader, None, true)?;
    Ok(())
}

/// An xz decoder that accepts concatenated streams (as `xz` and `pixz` write them) but refuses a
/// file whose dictionary would need more than [`XZ_MEMORY_LIMIT`].
fn xz_decoder<R: Read>(reader: R) -> io::Result<xz2::read::XzDecoder<R>> {
    let stream = xz2::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, xz2::stream::CONCATENATED)?;
    Ok(xz2::read::XzDecoder::new_stream(reader, stream))
}

fn check_destination(dest: &Path) -> Result<(), ExtractError> {
    let error = |reason, source| ExtractError::Destination {
        dest: dest.to_owned(),
        reason,
        source,
    };
    let mut entries =
        std::fs::read_dir(dest).map_err(|err| error("it is not a directory that can be read", Some(err)))?;
    match entries.next() {
        None => Ok(()),
        Some(Ok(_)) => Err(error("the directory is not empty", None)),
        Some(Err(err)) => Err(error("it is not a directory that can be read", Some(err))),
    }
}

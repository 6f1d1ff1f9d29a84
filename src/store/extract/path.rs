//! Entry names and link targets turned into checked paths inside the package tree.
//!
//! Names are judged from their raw bytes, split at the separators by hand, so the rules are the
//! same on every platform and never depend on how `Path` happens to parse a string there.

use std::ffi::OsString;
use std::path::PathBuf;

use super::ExtractError;

/// A path inside the tree: one or more plain names; never empty, `.`, `..`, a root or a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TreePath(Vec<OsString>);

impl TreePath {
    pub(super) fn components(&self) -> &[OsString] {
        &self.0
    }

    /// The path relative to the tree's root.
    pub(super) fn to_path(&self) -> PathBuf {
        self.0.iter().collect()
    }
}

/// Which bytes separate the components of an entry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Separators {
    /// Tar: only `/`. A `\` is an ordinary character on Unix (and refused elsewhere).
    Slash,
    /// Zip: `/`, and also `\`, which some Windows tools write.
    SlashOrBackslash,
}

/// Why an entry name cannot be used; callers turn it into the error for their kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathProblem {
    Absolute,
    ParentDir,
    Invalid(&'static str),
}

impl PathProblem {
    pub(super) fn into_entry_error(self, entry: &str) -> ExtractError {
        let entry = entry.to_owned();
        match self {
            Self::Absolute => ExtractError::AbsolutePath { entry },
            Self::ParentDir => ExtractError::ParentDir { entry },
            Self::Invalid(reason) => ExtractError::InvalidName { entry, reason },
        }
    }
}

/// Check an entry name and drop its first `strip` components. `Ok(None)` when nothing is left
/// (the top-level directory itself, say).
///
/// The whole name is checked, stripped part included: `..` anywhere, a leading separator or a NUL
/// byte make the entry an error rather than something to skip. Components are counted the way GNU
/// tar counts them for `--strip-components`: empty ones (`a//b`, a trailing `/`) do not count, a
/// `.` does; after stripping, `.` components are dropped.
pub(super) fn entry_path(
    raw: &[u8],
    separators: Separators,
    strip: u32,
) -> Result<Option<TreePath>, PathProblem> {
    if raw.is_empty() {
        return Err(PathProblem::Invalid("the name is empty"));
    }
    if raw.contains(&0) {
        return Err(PathProblem::Invalid("the name contains a NUL byte"));
    }
    let is_separator =
        |byte: &u8| *byte == b'/' || (separators == Separators::SlashOrBackslash && *byte == b'\\');
    if raw.first().is_some_and(is_separator) {
        return Err(PathProblem::Absolute);
    }
    let parts: Vec<&[u8]> = raw.split(is_separator).filter(|part| !part.is_empty()).collect();
    for part in &parts {
        if *part == b".." {
            return Err(PathProblem::ParentDir);
        }
        check_name(part)?;
    }
    let strip = usize::try_from(strip).unwrap_or(usize::MAX);
    let kept = parts
        .into_iter()
        .skip(strip)
        .filter(|part| *part != b".")
        .map(os_name)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!kept.is_empty()).then_some(TreePath(kept)))
}

/// Why a symlink target cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TargetProblem {
    Absolute,
    Escapes,
    Invalid(&'static str),
}

/// Check the target of a symlink at `link`, returning it as it should be written.
///
/// The target must be relative and, resolved from the link's own directory, stay inside the tree.
/// `..` may only come at the start (`../../lib/x` is fine, `a/../b` is not): the link's directory
/// is known to be a real directory, so leading `..`s climb real directories, but a `..` after a
/// name would climb out of whatever that name is, and if it is itself a symlink the lexical answer
/// is wrong (`c -> b/../x` with `b -> ..` resolves outside).
pub(super) fn symlink_target(link: &TreePath, raw: &[u8]) -> Result<PathBuf, TargetProblem> {
    if raw.is_empty() {
        return Err(TargetProblem::Invalid("the target is empty"));
    }
    if raw.contains(&0) {
        return Err(TargetProblem::Invalid("the target contains a NUL byte"));
    }
    if raw.first() == Some(&b'/') {
        return Err(TargetProblem::Absolute);
    }
    let depth = link.components().len().saturating_sub(1);
    let mut up = 0;
    let mut seen_name = false;
    for part in raw.split(|byte| *byte == b'/') {
        match part {
            b"" | b"." => {}
            b".." if seen_name => {
                return Err(TargetProblem::Invalid(
                    "`..` may only appear at the start of a symlink target",
                ))
            }
            b".." => {
                up += 1;
                if up > depth {
                    return Err(TargetProblem::Escapes);
                }
            }
            _ => seen_name = true,
        }
    }
    os_name(raw)
        .map(PathBuf::from)
        .map_err(|_| TargetProblem::Invalid("the target is not valid UTF-8"))
}

/// Check the name of the single file a compressed or raw artifact unpacks to: one plain name.
pub(super) fn single_file_name(name: &str) -> Option<TreePath> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return None;
    }
    check_name(name.as_bytes()).ok()?;
    Some(TreePath(vec![OsString::from(name)]))
}

/// Platform rules for one component. On Unix every byte but `/` and NUL is allowed; elsewhere a
/// `\` or `:` would be read as a separator, a drive or a stream name.
fn check_name(part: &[u8]) -> Result<(), PathProblem> {
    if cfg!(unix) || !part.iter().any(|byte| *byte == b'\\' || *byte == b':') {
        Ok(())
    } else {
        Err(PathProblem::Invalid(
            "the name contains `\\` or `:`, which are not allowed in file names on this platform",
        ))
    }
}

#[cfg(unix)]
fn os_name(part: &[u8]) -> Result<OsString, PathProblem> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::ffi::OsStr::from_bytes(part).to_owned())
}

#[cfg(not(unix))]
fn os_name(part: &[u8]) -> Result<OsString, PathProblem> {
    std::str::from_utf8(part)
        .map(OsString::from)
        .map_err(|_| PathProblem::Invalid("the name is not valid UTF-8"))
}

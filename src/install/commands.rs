//! Which commands a package puts in `.velo/bin`: each one a regular file inside the package,
//! found without following a link out of it.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::{InstallError, Wanted};
use crate::manifest::BinSelection;

/// Where a command points inside its package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandTarget {
    /// Relative to the package's directory.
    pub path: String,
}

/// Links followed while resolving one path, as the kernel allows (`ELOOP`).
const MAX_LINKS: usize = 40;

/// The regular file `path` names inside `tree`, following links only while they stay inside
/// it: an absolute link target, or one that climbs above `tree`, resolves to nothing.
pub fn resolve_inside(tree: &Path, path: &str) -> Option<PathBuf> {
    crate::manifest::check_bin_path(path).ok()?;
    let mut pending: VecDeque<OsString> = Path::new(path)
        .components()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut current = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        match Path::new(&part).components().next() {
            Some(Component::CurDir) => continue,
            Some(Component::ParentDir) => {
                if !current.pop() {
                    return None;
                }
                continue;
            }
            Some(Component::Normal(_)) => {}
            _ => return None,
        }
        let candidate = current.join(&part);
        let metadata = std::fs::symlink_metadata(tree.join(&candidate)).ok()?;
        if metadata.file_type().is_symlink() {
            links += 1;
            let target = std::fs::read_link(tree.join(&candidate)).ok()?;
            if links > MAX_LINKS
                || target.has_root()
                || target.components().any(|c| matches!(c, Component::Prefix(_)))
            {
                return None;
            }
            // Relative to the link's directory (`current`), before what is left of the path.
            for component in target.components().rev() {
                pending.push_front(component.as_os_str().to_os_string());
            }
        } else if pending.is_empty() {
            return metadata.is_file().then(|| tree.join(candidate));
        } else if metadata.is_dir() {
            current = candidate;
        } else {
            return None;
        }
    }
    None
}

/// What identifies the file a command runs as it is now: inode, size and modification time.
/// Recorded in the sealed state, so a file replaced after the sync (a `git checkout` of a
/// committed `.velo/`) no longer counts as installed. (Not the change time: linking the same
/// store file into another project changes it.)
pub fn command_stamp(package_dir: &Path, target: &CommandTarget) -> Option<String> {
    let metadata = std::fs::metadata(resolve_inside(package_dir, &target.path)?).ok()?;
    let modified = metadata
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(format!("{inode}:{}:{modified}", metadata.len()))
}

/// The stamps of `commands` in `package_dir`, `None` when one cannot be read.
pub fn command_stamps(
    package_dir: &Path,
    commands: &BTreeMap<String, CommandTarget>,
) -> Option<BTreeMap<String, String>> {
    commands
        .iter()
        .map(|(name, target)| Some((name.clone(), command_stamp(package_dir, target)?)))
        .collect()
}

fn is_executable(tree: &Path, path: &str) -> bool {
    resolve_inside(tree, path)
        .and_then(|file| std::fs::metadata(file).ok())
        .is_some_and(|metadata| cfg!(not(unix)) || crate::fs::is_executable(&metadata))
}

use crate::manifest::is_valid_command_name as valid_command_name;

/// The package's commands: its artifact's `bin` map, else every executable in `bin/`, else the
/// single executable at the top of the tree; then narrowed or renamed by the manifest's `bin`.
pub fn find_commands(
    package: &Wanted,
    tree: &Path,
    selection: Option<&BinSelection>,
) -> Result<BTreeMap<String, CommandTarget>, InstallError> {
    let missing = |path: &str| InstallError::MissingCommand {
        name: package.name.clone(),
        path: path.to_string(),
    };
    let mut commands = BTreeMap::new();
    if let Some(bottle) = &package.artifact.bottle {
        // A keg's commands are its `bin/` and `sbin/`, unless it is keg-only.
        if !bottle.keg_only {
            commands = executables_in(tree, "sbin");
            commands.extend(executables_in(tree, "bin"));
        }
    } else if !package.artifact.bin.is_empty() {
        for (command, path) in &package.artifact.bin {
            if !valid_command_name(command) || resolve_inside(tree, path).is_none() {
                return Err(missing(path));
            }
            commands.insert(command.clone(), CommandTarget { path: path.clone() });
        }
    } else {
        let repository = package.name.rsplit(['/', ':']).next().unwrap_or(&package.name);
        commands = default_commands(tree, repository);
    }
    match selection {
        None => Ok(commands),
        Some(BinSelection::Names(names)) => names
            .iter()
            .map(|name| {
                commands
                    .get(name)
                    .map(|target| (name.clone(), target.clone()))
                    .ok_or_else(|| missing(name))
            })
            .collect(),
        Some(BinSelection::Map(map)) => map
            .iter()
            .map(|(command, path)| {
                if valid_command_name(command) && resolve_inside(tree, path).is_some() {
                    Ok((command.clone(), CommandTarget { path: path.clone() }))
                } else {
                    Err(missing(path))
                }
            })
            .collect(),
    }
}

/// Without a `bin` map: every executable in `bin/`; else the top-level executable named like
/// the package, or the only one; and the same inside a single top-level directory (release
/// archives often hold `tool-1.2.3-linux/tool`).
fn default_commands(tree: &Path, package: &str) -> BTreeMap<String, CommandTarget> {
    let mut places = vec![String::new()];
    if let Ok(entries) = std::fs::read_dir(tree) {
        let entries: Vec<_> = entries.flatten().collect();
        if let [only] = entries.as_slice() {
            if only.file_type().is_ok_and(|t| t.is_dir()) {
                places.push(only.file_name().to_string_lossy().into_owned());
            }
        }
    }
    for place in places {
        let join = |dir: &str| {
            if place.is_empty() {
                dir.to_string()
            } else if dir.is_empty() {
                place.clone()
            } else {
                format!("{place}/{dir}")
            }
        };
        let in_bin = executables_in(tree, &join("bin"));
        if !in_bin.is_empty() {
            return in_bin;
        }
        let top = executables_in(tree, &join(""));
        let named = top.iter().find(|(name, _)| {
            let stem = name.strip_suffix(".exe").unwrap_or(name);
            stem.eq_ignore_ascii_case(package)
        });
        if let Some((name, target)) = named {
            return BTreeMap::from([(name.clone(), target.clone())]);
        }
        if top.len() == 1 {
            return top;
        }
    }
    BTreeMap::new()
}

/// Executable files directly inside `tree/dir`, by file name.
fn executables_in(tree: &Path, dir: &str) -> BTreeMap<String, CommandTarget> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(tree.join(dir)) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        if !name.starts_with('.') && valid_command_name(&name) && is_executable(tree, &path) {
            found.insert(name, CommandTarget { path });
        }
    }
    found
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn commands_resolve_only_inside_the_package() {
        let temp = tempfile::tempdir().unwrap();
        let tree = temp.path().join("tree");
        fs_err::create_dir_all(tree.join("bin")).unwrap();
        fs_err::create_dir_all(tree.join("libexec/real")).unwrap();
        fs_err::write(tree.join("libexec/real/tool"), "#!/bin/sh\n").unwrap();
        fs_err::write(temp.path().join("outside"), "#!/bin/sh\n").unwrap();
        symlink("../libexec/real/tool", tree.join("bin/tool")).unwrap();
        symlink("../libexec", tree.join("bin/lib")).unwrap();
        symlink("../../outside", tree.join("bin/up")).unwrap();
        symlink(temp.path().join("outside"), tree.join("bin/absolute")).unwrap();
        symlink("lib/../../../outside", tree.join("bin/sneaky")).unwrap();
        symlink("loop", tree.join("bin/loop")).unwrap();
        let inside = tree.join("libexec/real/tool");
        assert_eq!(resolve_inside(&tree, "bin/tool"), Some(inside.clone()));
        assert_eq!(resolve_inside(&tree, "bin/lib/real/tool"), Some(inside.clone()));
        assert_eq!(resolve_inside(&tree, "./bin/tool"), Some(inside));
        for path in [
            "bin/up",
            "bin/absolute",
            "bin/sneaky",
            "bin/loop",
            "bin",
            "../outside",
            "/bin/sh",
            "bin/missing",
        ] {
            assert_eq!(resolve_inside(&tree, path), None, "{path}");
        }
    }
}

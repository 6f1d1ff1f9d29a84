//! Which commands a package puts in `.velo/bin`.

use std::collections::BTreeMap;
use std::path::Path;

use super::{InstallError, Wanted};
use crate::manifest::BinSelection;

/// Where a command points inside its package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandTarget {
    /// Relative to the package's directory.
    pub path: String,
}

fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    if !metadata.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

fn valid_command_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

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
    if !package.artifact.bin.is_empty() {
        for (command, path) in &package.artifact.bin {
            if !valid_command_name(command) || std::fs::symlink_metadata(tree.join(path)).is_err() {
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
                if valid_command_name(command) && std::fs::symlink_metadata(tree.join(path)).is_ok() {
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
        if !name.starts_with('.') && valid_command_name(&name) && is_executable(&entry.path()) {
            let path = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            found.insert(name, CommandTarget { path });
        }
    }
    found
}

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
        commands = executables_in(tree, "bin");
        if commands.is_empty() {
            let top = executables_in(tree, "");
            if top.len() == 1 {
                commands = top;
            }
        }
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

//! Where a keg is poured. A relocatable bottle goes into the project (`<root>/.velo`). A pinned
//! bottle has Homebrew's prefix compiled into strings that can only be replaced by a path no
//! longer than it, so it (and its runtime closure: a keg can only find libraries in its own
//! prefix) goes into a short prefix shared by the user's projects, `<cache>/b` unless
//! `VELO_HOMEBREW_PREFIX` says otherwise, and the project's Cellar links to it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{io_error, BrewError};
use crate::fs::owned::OwnedDir;
use crate::install::Wanted;
use crate::store::link::symlink;
use crate::store::{FileLock, Linker};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixKind {
    Project,
    Shared,
}

/// The shared prefix for pinned bottles.
pub fn shared_prefix(cache_root: &Path) -> PathBuf {
    match std::env::var_os(crate::env_vars::VELO_HOMEBREW_PREFIX) {
        // Only an absolute path: a relative one would land wherever velo happens to run.
        Some(value) if Path::new(&value).is_absolute() => PathBuf::from(value),
        _ => cache_root.join("b"),
    }
}

/// Whether `cellar` (the lock's cellar kind) is a path, so the bottle is pinned to it.
pub fn pinned_prefix(cellar: &str) -> Option<String> {
    cellar
        .starts_with('/')
        .then(|| cellar.strip_suffix("/Cellar").unwrap_or(cellar).to_string())
}

/// The lock keys of packages poured into the shared prefix: pinned bottles and everything they
/// depend on at run time.
pub fn shared_packages(wanted: &[Wanted]) -> BTreeSet<String> {
    let by_name: BTreeMap<&str, &Wanted> = wanted.iter().map(|w| (w.name.as_str(), w)).collect();
    let mut pending: Vec<&str> = wanted
        .iter()
        .filter(|w| {
            w.artifact
                .bottle
                .as_ref()
                .is_some_and(|b| pinned_prefix(&b.cellar).is_some())
        })
        .map(|w| w.name.as_str())
        .collect();
    let mut shared = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !shared.insert(name.to_string()) {
            continue;
        }
        if let Some(package) = by_name.get(name) {
            for dependency in package.artifact.dependencies.iter().flatten() {
                if by_name
                    .get(dependency.as_str())
                    .is_some_and(|d| d.artifact.bottle.is_some())
                {
                    pending.push(dependency);
                }
            }
        }
    }
    shared
}

/// Pour `tree` as `formula` `version` into the shared prefix at `prefix` (a mini Homebrew
/// prefix: Cellar/, opt/, lib/, etc/, var/), unless the same store tree is there already;
/// under the prefix's lock, so projects syncing at once share one pour. Returns the keg.
pub fn pour_shared(
    prefix: &Path,
    formula: &str,
    version: &str,
    tree_key: &str,
    tree: &Path,
    linker: &Linker,
    relocate: impl FnOnce(&Path) -> Result<(), BrewError>,
) -> Result<PathBuf, BrewError> {
    for dir in ["Cellar", "opt", "lib", "etc", "var"] {
        let path = prefix.join(dir);
        fs_err::create_dir_all(&path).map_err(io_error(&path))?;
    }
    let lock_path = prefix.join(".velo-lock");
    let _lock = FileLock::acquire(&lock_path).map_err(|err| BrewError::Io {
        path: lock_path.clone(),
        source: std::io::Error::other(err.to_string()),
    })?;
    let parent = prefix.join("Cellar").join(formula);
    fs_err::create_dir_all(&parent).map_err(io_error(&parent))?;
    let keg = parent.join(version);
    // Which store tree the keg was poured from: another tree of the same version (a rebuilt
    // bottle) replaces it.
    let marker = parent.join(format!(".{version}.velo-tree"));
    let current = std::fs::read_to_string(&marker).ok();
    let keg_is_dir = std::fs::symlink_metadata(&keg).is_ok_and(|m| m.is_dir());
    if current.as_deref() != Some(tree_key) || !keg_is_dir {
        let staging = tempfile::Builder::new()
            .prefix(".velo-tmp-")
            .tempdir_in(&parent)
            .map_err(io_error(&parent))?;
        let built = staging.path().join("keg");
        linker.link_tree(tree, &built).map_err(|err| BrewError::Io {
            path: built.clone(),
            source: std::io::Error::other(err.to_string()),
        })?;
        relocate(&built)?;
        if std::fs::symlink_metadata(&keg).is_ok() {
            fs_err::rename(&keg, staging.path().join("old")).map_err(io_error(&keg))?;
        }
        fs_err::rename(&built, &keg).map_err(io_error(&keg))?;
        fs_err::write(&marker, tree_key).map_err(io_error(&marker))?;
        super::pour::install_etc_var(&keg, &OwnedDir::trusted(prefix))?;
    }
    replace_link(
        &Path::new("../Cellar").join(formula).join(version),
        &prefix.join("opt").join(formula),
    )?;
    Ok(keg)
}

/// Link `lib/ld.so` to the host's loader, and each entry of the kegs' `lib/` (given relative
/// to `lib`) into `lib`, the first keg winning a name; existing entries are replaced.
pub fn link_libs(lib: &Path, loader: &Path, kegs: &[PathBuf]) -> Result<(), BrewError> {
    fs_err::create_dir_all(lib).map_err(io_error(lib))?;
    replace_link(loader, &lib.join("ld.so"))?;
    let mut taken = BTreeSet::from(["ld.so".to_string()]);
    for keg in kegs {
        let Ok(entries) = std::fs::read_dir(lib.join(keg)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            if taken.insert(name.clone()) {
                replace_link(&keg.join(&name), &lib.join(&name))?;
            }
        }
    }
    Ok(())
}

/// Make `link` a symlink to `target` in one rename.
pub fn replace_link(target: &Path, link: &Path) -> Result<(), BrewError> {
    if std::fs::read_link(link).is_ok_and(|existing| existing == target) {
        return Ok(());
    }
    let dir = link.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".velo-link-{}", fastrand::u64(..)));
    symlink(target, &temp).map_err(io_error(&temp))?;
    if std::fs::symlink_metadata(link).is_ok_and(|m| m.is_dir()) {
        fs_err::remove_dir_all(link).map_err(io_error(link))?;
    }
    fs_err::rename(&temp, link).map_err(io_error(link))?;
    Ok(())
}

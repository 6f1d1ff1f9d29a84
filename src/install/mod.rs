//! The project-local `.velo/` directory:
//!
//! ```text
//! .velo/Cellar/<name>/<version>/   installed package trees (linked from the store)
//! .velo/gen-<id>/bin/<command>     a generation: symlinks into the Cellar, or shims
//! .velo/gen-<id>/opt/<name>        relative symlinks to the active version in the Cellar
//! .velo/current -> gen-<id>        the active generation, switched by one atomic rename
//! .velo/bin -> current/bin         what goes on PATH
//! .velo/opt -> current/opt
//! .velo/state.json                 what is installed, so a no-op sync decides at once
//! .velo/sync.lock                  held while a sync changes anything
//! ```
//!
//! Nothing here is half-switched: packages are built in `.velo/.tmp-*` and renamed into the
//! Cellar, a new generation is complete before `current` points at it, and `state.json` is
//! written last. A sync killed at any point leaves leftovers the next sync removes.

mod commands;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use commands::{find_commands, CommandTarget};
pub use state::{InstallState, InstalledPackage, STATE_VERSION};

use crate::lock::{Artifact, Lock};
use crate::manifest::{BinSelection, PackageKey};
use crate::platform::Platform;
use crate::store::link::symlink;
use crate::store::{ArchiveFormat, Linker, StoreError, TreeSpec};

pub const VELO_DIR: &str = ".velo";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("failed to update `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{name} {version}` has no artifact for {platform}, the platform of this machine")]
    NoArtifact {
        name: String,
        version: String,
        platform: Platform,
    },
    #[error("`{name}`'s `bin` names `{path}`, which is not in the package")]
    MissingCommand { name: String, path: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Paths inside a project's `.velo/`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub velo: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            velo: root.join(VELO_DIR),
        }
    }

    pub fn cellar(&self) -> PathBuf {
        self.velo.join("Cellar")
    }

    pub fn package_dir(&self, name: &str, version: &str) -> PathBuf {
        self.cellar().join(dir_name(name).as_ref()).join(version)
    }

    pub fn bin(&self) -> PathBuf {
        self.velo.join("bin")
    }

    pub fn opt(&self) -> PathBuf {
        self.velo.join("opt")
    }

    pub fn current(&self) -> PathBuf {
        self.velo.join("current")
    }

    pub fn state_path(&self) -> PathBuf {
        self.velo.join("state.json")
    }

    pub fn sync_lock_path(&self) -> PathBuf {
        self.velo.join("sync.lock")
    }
}

/// A package's directory name in the Cellar and `opt/`: its lock key, with a forge key's `:`
/// made `-` and each `/` made `+` (`github:BurntSushi/ripgrep` → `github-BurntSushi+ripgrep`).
/// Owners and repositories never contain `+` and source prefixes never contain `-`, so two keys
/// never share a directory.
pub fn dir_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains([':', '/']) {
        std::borrow::Cow::Owned(name.replacen(':', "-", 1).replace('/', "+"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// A package the lock wants installed on this platform.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub name: String,
    pub version: String,
    pub artifact: Artifact,
    pub tree: TreeSpec,
    /// Direct dependencies' commands win when two packages offer the same name.
    pub direct: bool,
    /// The manifest's `bin` for this package, when it narrows or renames its commands.
    pub bin: Option<BinSelection>,
}

/// What the lock asks for on `platform`.
pub fn wanted(lock: &Lock, platform: Platform) -> Result<Vec<Wanted>, InstallError> {
    let direct = lock.manifest.direct_packages();
    let selections: BTreeMap<String, BinSelection> = lock
        .manifest
        .dependencies
        .iter()
        .filter_map(|(key, requirement)| {
            let selection = requirement.bin.clone()?;
            let source = requirement.source.as_deref().unwrap_or(key);
            let name = source
                .parse::<PackageKey>()
                .map_or_else(|_| key.clone(), |package| package.lock_key(key));
            Some((name, selection))
        })
        .collect();
    let mut wanted = Vec::new();
    for (name, package) in &lock.packages {
        let Some(artifact) = package.artifacts.get(&platform) else {
            return Err(InstallError::NoArtifact {
                name: name.clone(),
                version: package.version.clone(),
                platform,
            });
        };
        let format = artifact
            .format
            .as_deref()
            .and_then(ArchiveFormat::from_name)
            .unwrap_or_else(|| ArchiveFormat::from_file_name(&artifact.url));
        let tree = TreeSpec {
            sha256: artifact.sha256.clone(),
            format,
            strip_components: artifact.strip_components,
            file_name: single_file_name(name, artifact),
        };
        wanted.push(Wanted {
            name: name.clone(),
            version: package.version.clone(),
            artifact: artifact.clone(),
            tree,
            direct: direct.contains(name),
            bin: selections.get(name).cloned(),
        });
    }
    Ok(wanted)
}

/// The file name a single-file artifact (`tool.gz`, a raw binary) is saved under: the only
/// `bin` path if there is exactly one, else the URL's last segment without its compression
/// suffix, else the package name.
fn single_file_name(name: &str, artifact: &Artifact) -> String {
    if let [(_, path)] = artifact.bin.iter().collect::<Vec<_>>().as_slice() {
        if !path.contains('/') {
            return path.to_string();
        }
    }
    let last = artifact
        .url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("");
    let stem = [".gz", ".xz", ".zst"]
        .iter()
        .find_map(|ext| last.strip_suffix(ext))
        .unwrap_or(last);
    if stem.is_empty() || stem == "." || stem == ".." {
        name.to_string()
    } else {
        stem.to_string()
    }
}

/// Remove leftovers of syncs that were interrupted: staging dirs and unused generations.
pub fn remove_leftovers(layout: &Layout, keep_generation: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(&layout.velo) else {
        return;
    };
    // Whatever `current` points at is live, whatever the state file says.
    let live = std::fs::read_link(layout.current())
        .ok()
        .map(|target| target.to_string_lossy().into_owned());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_generation = name.starts_with("gen-")
            && Some(name.as_str()) != keep_generation
            && Some(name.as_str()) != live.as_deref();
        if name.starts_with(".tmp-") || stale_generation || name.starts_with("current.tmp-") {
            let _ = crate::fs::remove_any(&entry.path());
        }
    }
}

/// Put the store tree `tree` at `.velo/Cellar/<name>/<version>`, replacing what is there.
pub fn materialize(
    layout: &Layout,
    package: &Wanted,
    tree: &Path,
    linker: &Linker,
) -> Result<(), InstallError> {
    let staging = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&layout.velo)
        .map_err(io_error(&layout.velo))?;
    let built = staging.path().join("package");
    linker.link_tree(tree, &built)?;
    let target = layout.package_dir(&package.name, &package.version);
    // A backstop to the lock's own validation: nothing outside the Cellar is ever replaced.
    if crate::fs::normalize(&target).parent().and_then(Path::parent)
        != Some(crate::fs::normalize(&layout.cellar()).as_path())
    {
        return Err(InstallError::Io {
            path: target,
            source: std::io::Error::other("the package's directory would be outside `.velo/Cellar`"),
        });
    }
    let parent = target.parent().expect("a package dir has a parent");
    fs_err::create_dir_all(parent).map_err(io_error(parent))?;
    if target.exists() {
        let old = staging.path().join("old");
        fs_err::rename(&target, &old).map_err(io_error(&target))?;
    }
    fs_err::rename(&built, &target).map_err(io_error(&target))?;
    Ok(())
}

/// Build a complete generation (`bin/` and `opt/`) for `packages`, returning its directory name.
pub fn build_generation(
    layout: &Layout,
    packages: &[(Wanted, BTreeMap<String, CommandTarget>)],
    warnings: &mut Vec<String>,
) -> Result<String, InstallError> {
    let id = format!("gen-{}", fastrand::u64(..));
    let generation = layout.velo.join(&id);
    let (bin, opt) = (generation.join("bin"), generation.join("opt"));
    fs_err::create_dir_all(&bin).map_err(io_error(&bin))?;
    fs_err::create_dir_all(&opt).map_err(io_error(&opt))?;

    // Direct dependencies first, so their commands win a name clash.
    let mut ordered: Vec<&(Wanted, BTreeMap<String, CommandTarget>)> = packages.iter().collect();
    ordered.sort_by(|a, b| b.0.direct.cmp(&a.0.direct).then_with(|| a.0.name.cmp(&b.0.name)));
    let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
    for (package, commands) in ordered {
        let directory = dir_name(&package.name);
        let relative_package = Path::new("../../Cellar")
            .join(directory.as_ref())
            .join(&package.version);
        symlink(&relative_package, &opt.join(directory.as_ref())).map_err(io_error(&opt))?;
        for (command, target) in commands {
            if let Some(owner) = owners.get(command.as_str()) {
                warnings.push(format!(
                    "`{}` and `{owner}` both provide `{command}`; using `{owner}`'s",
                    package.name
                ));
                continue;
            }
            owners.insert(command, &package.name);
            let link = bin.join(command);
            if package.artifact.env.is_empty() {
                symlink(&relative_package.join(&target.path), &link).map_err(io_error(&link))?;
            } else {
                let package_dir = layout.package_dir(&package.name, &package.version);
                write_shim(
                    &link,
                    &package_dir.join(&target.path),
                    &package_dir,
                    &layout.opt(),
                    &package.artifact.env,
                )?;
            }
        }
    }
    Ok(id)
}

/// A tiny POSIX shell script that sets the package's environment and execs the command.
fn write_shim(
    link: &Path,
    executable: &Path,
    prefix: &Path,
    opt: &Path,
    env: &BTreeMap<String, String>,
) -> Result<(), InstallError> {
    let mut script = String::from("#!/bin/sh\n");
    for (name, value) in env {
        let value = value
            .replace("{prefix}", &prefix.to_string_lossy())
            .replace("{opt}", &opt.to_string_lossy());
        script.push_str(&format!("{name}={}; export {name}\n", shell_quote(&value)));
    }
    script.push_str(&format!(
        "exec {} \"$@\"\n",
        shell_quote(&executable.to_string_lossy())
    ));
    fs_err::write(link, script).map_err(io_error(link))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(link, std::fs::Permissions::from_mode(0o755)).map_err(io_error(link))?;
    }
    Ok(())
}

/// Quote `value` for POSIX sh: single quotes, with embedded ones closed and escaped.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Point `.velo/current` at `generation` in one rename, and make sure `.velo/bin` and
/// `.velo/opt` lead through it.
pub fn switch(layout: &Layout, generation: &str) -> Result<(), InstallError> {
    let temp = layout.velo.join(format!("current.tmp-{}", fastrand::u64(..)));
    symlink(Path::new(generation), &temp).map_err(io_error(&temp))?;
    fs_err::rename(&temp, layout.current()).map_err(io_error(&layout.current()))?;
    for (link, target) in [(layout.bin(), "current/bin"), (layout.opt(), "current/opt")] {
        if std::fs::read_link(&link).is_ok_and(|existing| existing == Path::new(target)) {
            continue;
        }
        let temp = layout.velo.join(format!("current.tmp-{}", fastrand::u64(..)));
        symlink(Path::new(target), &temp).map_err(io_error(&temp))?;
        if link.is_dir() && !link.is_symlink() {
            fs_err::remove_dir_all(&link).map_err(io_error(&link))?;
        }
        fs_err::rename(&temp, &link).map_err(io_error(&link))?;
    }
    Ok(())
}

/// Remove Cellar entries that are not in `keep` (directory name, version).
pub fn remove_unused_packages(layout: &Layout, keep: &BTreeSet<(String, String)>) -> Vec<(String, String)> {
    let mut removed = Vec::new();
    let Ok(names) = std::fs::read_dir(layout.cellar()) else {
        return removed;
    };
    for name_entry in names.flatten() {
        let name = name_entry.file_name().to_string_lossy().into_owned();
        let Ok(versions) = std::fs::read_dir(name_entry.path()) else {
            continue;
        };
        for version_entry in versions.flatten() {
            let version = version_entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&(name.clone(), version.clone()))
                && std::fs::remove_dir_all(version_entry.path()).is_ok()
            {
                removed.push((name.clone(), version));
            }
        }
        let _ = std::fs::remove_dir(name_entry.path());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn single_file_names() {
        let mut artifact = Artifact {
            url: "../artifacts/shout/0.3.0/shout.gz".to_string(),
            sha256: "0".repeat(64),
            size: 1,
            format: None,
            strip_components: 0,
            bin: BTreeMap::new(),
            env: BTreeMap::new(),
        };
        assert_eq!(single_file_name("shout", &artifact), "shout");
        artifact.url = "https://x/dl/tool-linux-amd64?sig=1".to_string();
        assert_eq!(single_file_name("tool", &artifact), "tool-linux-amd64");
        artifact.bin.insert("tool".to_string(), "tool".to_string());
        assert_eq!(single_file_name("tool", &artifact), "tool");
    }
}

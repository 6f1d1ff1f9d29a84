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
//! Nothing here is half-switched: packages are built and validated in `.velo/.tmp-*` and only
//! then renamed into the Cellar, a new generation is complete before `current` points at it, and
//! `state.json` is written last. A sync killed or failing at any point leaves the previous
//! generation working and leftovers the next sync removes.
//!
//! `.velo/` may have come with the repository, so nothing in it is trusted: every path is
//! reached through [`OwnedDir`] (no symlink followed, a link or file where velo expects its own
//! directory replaced), and `state.json` counts only when it carries the seal of this machine's
//! cache key (see `state.rs`), so a committed state cannot make velo skip installing a package.

pub mod brew;
mod commands;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use commands::{command_stamps, find_commands, CommandTarget};
pub use state::{InstallState, InstalledPackage, StateKey, KEYS_BUCKET, STATE_VERSION};

use crate::fs::owned::OwnedDir;
use crate::lock::{Artifact, Lock};
use crate::manifest::BinSelection;
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
    #[error("`{name}`'s `bin` names `{path}`, which is not a file inside the package")]
    MissingCommand { name: String, path: String },
    #[error("`{name}` asks its shim to set `{variable}`, which is not a variable name")]
    BadEnvName { name: String, variable: String },
    #[error(transparent)]
    Brew(#[from] brew::BrewError),
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

/// A package's directory name in the Cellar and `opt/`.
///
/// A bare name (`jq`, `gtk+3`) is its own directory: package names are lowercase letters,
/// digits and `._+@-`, starting with a letter or digit. A prefixed key becomes `_` + the prefix
/// and each path segment joined by `+`, with every uppercase letter written `^` + its lowercase
/// (`github:BurntSushi/ripgrep` -> `_github+^burnt^sushi+ripgrep`). The mapping is injective,
/// even on a file system that ignores case: only prefixed keys start with `_`; prefixes and
/// segments never contain `+` or `^`; and no directory name has an uppercase letter.
/// [`key_from_dir_name`] is its inverse. The exception is a Homebrew core formula,
/// `brew:NAME`, which is `NAME` as in Homebrew's own Cellar: a lock holding both `NAME` and
/// `brew:NAME` is refused when it is made.
pub fn dir_name(name: &str) -> std::borrow::Cow<'_, str> {
    let Some((prefix, rest)) = name.split_once(':') else {
        return std::borrow::Cow::Borrowed(name);
    };
    // A Homebrew core formula keeps its own name, as in Homebrew's Cellar (its kegs' RPATHs
    // name `opt/NAME`); `brew:NAME@3` has no `/`, which only taps' keys have.
    if prefix == "brew" && !rest.contains('/') {
        return std::borrow::Cow::Borrowed(rest);
    }
    let mut out = format!("_{prefix}");
    for segment in rest.split('/') {
        out.push('+');
        for byte in segment.bytes() {
            match byte {
                b'A'..=b'Z' => {
                    out.push('^');
                    out.push(byte.to_ascii_lowercase() as char);
                }
                b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'@' | b'-' => out.push(byte as char),
                _ => out.push_str(&format!("%{byte:02x}")),
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The package key a Cellar directory name stands for (the inverse of [`dir_name`]).
pub fn key_from_dir_name(dir: &str) -> String {
    let Some(encoded) = dir.strip_prefix('_') else {
        return dir.to_string();
    };
    let mut parts = encoded.split('+');
    let prefix = parts.next().unwrap_or_default();
    let segments: Vec<String> = parts
        .map(|segment| {
            let mut out = Vec::new();
            let mut bytes = segment.bytes();
            while let Some(byte) = bytes.next() {
                match byte {
                    b'^' => out.extend(bytes.next().map(|b| b.to_ascii_uppercase())),
                    b'%' => {
                        let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                        let text = std::str::from_utf8(&hex).unwrap_or_default();
                        out.extend(u8::from_str_radix(text, 16).ok());
                    }
                    other => out.push(other),
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect();
    format!("{prefix}:{}", segments.join("/"))
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

/// What the lock asks for on `platform`: the packages reachable from the direct dependencies
/// through each artifact's `dependencies` for this platform (falling back to the package's),
/// so a formula's Linux-only dependencies are not installed on macOS.
pub fn wanted(lock: &Lock, platform: Platform) -> Result<Vec<Wanted>, InstallError> {
    let direct = lock.manifest.direct_packages();
    let selections: BTreeMap<String, BinSelection> = lock
        .manifest
        .dependencies
        .iter()
        .filter_map(|(key, requirement)| {
            let selection = requirement.bin.clone()?;
            Some((lock.manifest.package_of(key)?, selection))
        })
        .collect();
    let mut reachable = BTreeSet::new();
    let mut queue: Vec<&String> = direct.iter().collect();
    while let Some(name) = queue.pop() {
        if !reachable.insert(name.clone()) {
            continue;
        }
        let Some(package) = lock.packages.get(name) else {
            continue;
        };
        let dependencies = package
            .artifacts
            .get(&platform)
            .and_then(|artifact| artifact.dependencies.as_ref())
            .unwrap_or(&package.dependencies);
        queue.extend(dependencies);
    }
    let mut wanted = Vec::new();
    for (name, package) in lock.packages.iter().filter(|(name, _)| reachable.contains(*name)) {
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

/// `.velo/` as a real directory, repaired if the repository put a link or a file there.
pub fn velo_dir(layout: &Layout) -> Result<OwnedDir, InstallError> {
    OwnedDir::ensure(&layout.root, Path::new(VELO_DIR)).map_err(io_error(&layout.velo))
}

/// `.velo/` if it is a real directory; for readers, which change nothing.
pub fn existing_velo_dir(layout: &Layout) -> Option<OwnedDir> {
    OwnedDir::existing(&layout.root, Path::new(VELO_DIR))
}

/// `.velo/Cellar/<dir>/<version>` if every part of it is a real directory.
pub fn existing_package_dir(velo: &OwnedDir, name: &str, version: &str) -> Option<OwnedDir> {
    velo.dir("Cellar")?.dir(&dir_name(name))?.dir(version)
}

/// The installed package directory: `.velo/Cellar/<dir>/<version>` as a real directory, or the
/// link velo makes for a keg poured into the shared prefix `shared` (that exact link only,
/// and only to a real directory there: a link a repository committed counts for nothing).
pub fn installed_package_dir(velo: &OwnedDir, name: &str, version: &str, shared: &Path) -> Option<OwnedDir> {
    if let Some(dir) = existing_package_dir(velo, name, version) {
        return Some(dir);
    }
    let directory = dir_name(name);
    let parent = velo.dir("Cellar")?.dir(&directory)?;
    let target = std::fs::read_link(parent.path().join(version)).ok()?;
    let relative = Path::new("Cellar").join(directory.as_ref()).join(version);
    if target != shared.join(&relative) {
        return None;
    }
    OwnedDir::existing(shared, &relative)
}

/// Remove leftovers of syncs that were interrupted: staging dirs and unused generations.
pub fn remove_leftovers(velo: &OwnedDir, keep_generation: Option<&str>) {
    let Ok(entries) = velo.entries() else {
        return;
    };
    // Whatever `current` points at is live, whatever the state file says.
    let live = std::fs::read_link(velo.path().join("current"))
        .ok()
        .map(|target| target.to_string_lossy().into_owned());
    for (name, _) in entries {
        let stale_generation = name.starts_with("gen-")
            && Some(name.as_str()) != keep_generation
            && Some(name.as_str()) != live.as_deref();
        if name.starts_with(".tmp-")
            || name.starts_with(".velo-tmp-")
            || stale_generation
            || name.starts_with("current.tmp-")
        {
            let _ = velo.remove(&name);
        }
    }
}

/// A package built and validated in `.velo/.tmp-*`, not yet in the Cellar.
#[derive(Debug)]
pub struct Staged {
    pub package: Wanted,
    pub commands: BTreeMap<String, CommandTarget>,
    staging: tempfile::TempDir,
}

impl Staged {
    fn built(&self) -> PathBuf {
        self.staging.path().join("package")
    }
}

/// How this sync pours Homebrew bottles (see `brew::prefix`).
#[derive(Debug, Clone, Default)]
pub struct Pouring {
    /// The prefix pinned bottles and their closure go into.
    pub shared_prefix: PathBuf,
    /// The lock keys of the packages poured there.
    pub shared: BTreeSet<String>,
}

impl Pouring {
    pub fn new(cache_root: &Path, wanted: &[Wanted]) -> Self {
        Self {
            shared_prefix: brew::shared_prefix(cache_root),
            shared: brew::prefix::shared_packages(wanted),
        }
    }

    /// The prefix `package`'s keg is poured for.
    fn prefix(&self, velo: &OwnedDir, package: &Wanted) -> PathBuf {
        if self.shared.contains(&package.name) {
            self.shared_prefix.clone()
        } else {
            velo.path().to_path_buf()
        }
    }
}

/// Link the store tree `tree` into a staging directory of `.velo/` and check that it provides
/// the commands it should; the Cellar is not touched. A Homebrew bottle is relocated there for
/// its final place (or poured into the shared prefix, and linked).
pub fn stage(
    velo: &OwnedDir,
    package: &Wanted,
    tree: &Path,
    linker: &Linker,
    pouring: &Pouring,
) -> Result<Staged, InstallError> {
    let staging = velo.tempdir(".tmp-").map_err(io_error(velo.path()))?;
    let built = staging.path().join("package");
    match &package.artifact.bottle {
        None => linker.link_tree(tree, &built)?,
        Some(bottle) => stage_bottle(velo, package, bottle, tree, &built, linker, pouring)?,
    }
    let commands = find_commands(package, &built, package.bin.as_ref())?;
    Ok(Staged {
        package: package.clone(),
        commands,
        staging,
    })
}

fn stage_bottle(
    velo: &OwnedDir,
    package: &Wanted,
    bottle: &crate::lock::Bottle,
    tree: &Path,
    built: &Path,
    linker: &Linker,
    pouring: &Pouring,
) -> Result<(), InstallError> {
    if !brew::is_plain_name(&bottle.formula) {
        return Err(brew::BrewError::BadFormula(bottle.formula.clone()).into());
    }
    let prefix = pouring.prefix(velo, package);
    let relocation = brew::Relocation {
        formula: bottle.formula.clone(),
        prefix: prefix.clone(),
        dependencies: package
            .artifact
            .dependencies
            .iter()
            .flatten()
            .map(|key| dir_name(key).into_owned())
            .collect(),
        pinned: brew::prefix::pinned_prefix(&bottle.cellar),
    };
    if !pouring.shared.contains(&package.name) {
        linker.link_tree(tree, built)?;
        brew::relocate_keg(built, &relocation)?;
        return Ok(());
    }
    let keg = brew::prefix::pour_shared(
        &prefix,
        &bottle.formula,
        &package.version,
        &package.tree.key(),
        tree,
        linker,
        |keg| brew::relocate_keg(keg, &relocation),
    )?;
    let loader = brew::elf::host_loader().ok_or(brew::BrewError::NoLoader)?;
    let kegs = if bottle.keg_only {
        Vec::new()
    } else {
        vec![Path::new("../Cellar")
            .join(&bottle.formula)
            .join(&package.version)
            .join("lib")]
    };
    brew::prefix::link_libs(&prefix.join("lib"), &loader, &kegs)?;
    symlink(&keg, built).map_err(io_error(built))?;
    Ok(())
}

/// Move a validated package into `.velo/Cellar/<name>/<version>`, replacing what is there (a
/// tree velo did not record, or a link, is replaced, never followed). A bottle's
/// `.bottle/etc` and `var` then go into its prefix, and its `post_install` runs as far as velo
/// knows it; a warning says when it does not.
pub fn commit(velo: &OwnedDir, staged: &Staged, pouring: &Pouring) -> Result<Option<String>, InstallError> {
    let package = &staged.package;
    let cellar = velo.ensure_dir("Cellar").map_err(io_error(velo.path()))?;
    let parent = cellar
        .ensure_dir(&dir_name(&package.name))
        .map_err(io_error(cellar.path()))?;
    let target = parent.join(&package.version).map_err(io_error(parent.path()))?;
    if parent.kind(&package.version).is_some() {
        // Out of the way in one rename (which moves a link, never what it points at); it goes
        // with the staging directory.
        let old = staged.staging.path().join("old");
        fs_err::rename(&target, &old).map_err(io_error(&target))?;
    }
    fs_err::rename(staged.built(), &target).map_err(io_error(&target))?;
    let Some(bottle) = &package.artifact.bottle else {
        return Ok(None);
    };
    let prefix = if pouring.shared.contains(&package.name) {
        OwnedDir::trusted(&pouring.shared_prefix)
    } else {
        brew::pour::install_etc_var(&target, velo)?;
        velo.clone()
    };
    if !bottle.post_install {
        return Ok(None);
    }
    Ok(brew::pour::post_install(&bottle.formula, &target, &prefix)?)
}

/// Build a complete generation (`bin/` and `opt/`) for `packages`, returning its directory name.
pub fn build_generation(
    layout: &Layout,
    velo: &OwnedDir,
    packages: &[(Wanted, BTreeMap<String, CommandTarget>)],
    warnings: &mut Vec<String>,
) -> Result<String, InstallError> {
    // A new name: whatever the repository put at `gen-*` is never reused.
    let (id, generation) = loop {
        let id = format!("gen-{}", fastrand::u64(..));
        let path = velo.join(&id).map_err(io_error(velo.path()))?;
        match std::fs::create_dir(&path) {
            Ok(()) => break (id, path),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(InstallError::Io { path, source }),
        }
    };
    let (bin, opt) = (generation.join("bin"), generation.join("opt"));
    fs_err::create_dir(&bin).map_err(io_error(&bin))?;
    fs_err::create_dir(&opt).map_err(io_error(&opt))?;
    link_bottle_libs(&generation, packages)?;

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
                    package,
                )?;
            }
        }
    }
    Ok(id)
}

/// `lib/` of a generation with bottles: `ld.so` (the host's loader, which every relocated ELF
/// file names) and the entries of linked kegs' `lib/`, which Homebrew's RPATHs name as
/// `@@HOMEBREW_PREFIX@@/lib`.
fn link_bottle_libs(
    generation: &Path,
    packages: &[(Wanted, BTreeMap<String, CommandTarget>)],
) -> Result<(), InstallError> {
    let bottles: Vec<&Wanted> = packages
        .iter()
        .map(|(package, _)| package)
        .filter(|package| package.artifact.bottle.is_some())
        .collect();
    if bottles.is_empty() {
        return Ok(());
    }
    let loader = brew::elf::host_loader().ok_or(brew::BrewError::NoLoader)?;
    let mut kegs: Vec<(bool, PathBuf)> = bottles
        .iter()
        .filter(|package| package.artifact.bottle.as_ref().is_some_and(|b| !b.keg_only))
        .map(|package| {
            let dir = Path::new("../../Cellar")
                .join(dir_name(&package.name).as_ref())
                .join(&package.version)
                .join("lib");
            (!package.direct, dir)
        })
        .collect();
    kegs.sort();
    let kegs: Vec<PathBuf> = kegs.into_iter().map(|(_, dir)| dir).collect();
    brew::prefix::link_libs(&generation.join("lib"), &loader, &kegs)?;
    Ok(())
}

/// A tiny POSIX shell script that sets the package's environment and execs the command.
fn write_shim(
    link: &Path,
    executable: &Path,
    prefix: &Path,
    opt: &Path,
    package: &Wanted,
) -> Result<(), InstallError> {
    let mut script = String::from("#!/bin/sh\n");
    for (name, value) in &package.artifact.env {
        // The lock was checked already; a name that is not a variable would be shell code.
        if !crate::manifest::is_valid_env_name(name) {
            return Err(InstallError::BadEnvName {
                name: package.name.clone(),
                variable: name.clone(),
            });
        }
        let value = value
            .replace("{prefix}", &prefix.to_string_lossy())
            .replace("{opt}", &opt.to_string_lossy());
        script.push_str(&format!("{name}={}; export {name}\n", shell_quote(&value)));
    }
    script.push_str(&format!(
        "exec {} \"$@\"\n",
        shell_quote(&executable.to_string_lossy())
    ));
    // `link` is in a generation directory this sync just created: nothing else is there.
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
/// `.velo/opt` lead through it. A directory or file the repository put at one of these names
/// is removed first (a link is simply replaced by the rename).
pub fn switch(velo: &OwnedDir, generation: &str) -> Result<(), InstallError> {
    // `lib` only for a generation with bottles; otherwise a `lib` link goes.
    let has_lib = velo.dir(generation).is_some_and(|dir| dir.dir("lib").is_some());
    if !has_lib && velo.kind("lib").is_some_and(|kind| kind.is_symlink()) {
        let _ = velo.remove("lib");
    }
    let lib = has_lib.then_some(("lib", "current/lib"));
    for (name, target) in [
        ("current", generation),
        ("bin", "current/bin"),
        ("opt", "current/opt"),
    ]
    .into_iter()
    .chain(lib)
    {
        let path = velo.join(name).map_err(io_error(velo.path()))?;
        if std::fs::read_link(&path).is_ok_and(|existing| existing == Path::new(target)) {
            continue;
        }
        let temp_name = format!("current.tmp-{}", fastrand::u64(..));
        let temp = velo.join(&temp_name).map_err(io_error(velo.path()))?;
        symlink(Path::new(target), &temp).map_err(io_error(&temp))?;
        if velo.kind(name).is_some_and(|kind| kind.is_dir()) {
            velo.remove(name).map_err(io_error(&path))?;
        }
        fs_err::rename(&temp, &path).map_err(io_error(&path))?;
    }
    Ok(())
}

/// Remove Cellar entries that are not in `keep` (directory name, version), and anything in the
/// Cellar velo would not have made (a link, a file). Returns the package versions removed.
pub fn remove_unused_packages(velo: &OwnedDir, keep: &BTreeSet<(String, String)>) -> Vec<(String, String)> {
    let mut removed = Vec::new();
    let Some(cellar) = velo.dir("Cellar") else {
        return removed;
    };
    for (name, kind) in cellar.entries().unwrap_or_default() {
        let Some(package) = kind.is_dir().then(|| cellar.dir(&name)).flatten() else {
            // Not a directory velo made: the link itself goes, never what it points at.
            let _ = cellar.remove(&name);
            continue;
        };
        for (version, kind) in package.entries().unwrap_or_default() {
            if !keep.contains(&(name.clone(), version.clone()))
                && package.remove(&version).is_ok()
                && kind.is_dir()
            {
                removed.push((key_from_dir_name(&name), version));
            }
        }
        let _ = std::fs::remove_dir(package.path());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys as the manifest and lock allow them: bare names, and every prefixed shape.
    fn any_key() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = "[a-z0-9][a-z0-9._+@-]{0,6}";
        let segment = "[A-Za-z0-9._-]{1,6}";
        prop_oneof![
            proptest::string::string_regex(name).unwrap(),
            (
                prop_oneof![
                    Just("github"),
                    Just("codeberg"),
                    Just("gitea"),
                    Just("gitlab"),
                    Just("brew"),
                    Just("index")
                ],
                prop::collection::vec(proptest::string::string_regex(segment).unwrap(), 1..4),
            )
                .prop_map(|(prefix, segments)| format!("{prefix}:{}", segments.join("/"))),
        ]
        .prop_filter("a valid key", |key| {
            key.parse::<crate::manifest::PackageKey>().is_ok()
        })
        // `brew:NAME` shares `NAME`'s directory on purpose (a lock refuses both at once).
        .prop_filter("not a Homebrew core key", |key| {
            !key.starts_with("brew:") || key.contains('/')
        })
    }

    #[test]
    fn installs_only_the_closure_of_the_host_platform() {
        let lock: Lock = serde_json::from_str(crate::lock::tests::BREW_LOCK).unwrap();
        let names = |platform| -> Vec<String> {
            wanted(&lock, platform)
                .unwrap()
                .into_iter()
                .map(|wanted| format!("{}{}", wanted.name, if wanted.direct { "*" } else { "" }))
                .collect()
        };
        assert_eq!(
            names(Platform::LinuxX86_64),
            ["mpdecimal", "python@3.13*", "zlib"]
        );
        // `zlib` has no macOS artifact and is not needed there.
        assert_eq!(names(Platform::MacosAarch64), ["mpdecimal", "python@3.13*"]);
    }

    #[test]
    fn homebrew_core_formulae_keep_their_name_in_the_cellar() {
        assert_eq!(dir_name("brew:wget"), "wget");
        assert_eq!(dir_name("brew:openssl@3"), "openssl@3");
        assert_eq!(dir_name("brew:owner/tap/name"), "_brew+owner+tap+name");
    }

    proptest::proptest! {
        #[test]
        fn cellar_names_are_injective_even_ignoring_case(a in any_key(), b in any_key()) {
            let (dir_a, dir_b) = (dir_name(&a), dir_name(&b));
            proptest::prop_assert_eq!(key_from_dir_name(&dir_a), a.clone());
            if a != b {
                proptest::prop_assert_ne!(dir_a.to_lowercase(), dir_b.to_lowercase());
            }
            proptest::prop_assert!(!dir_a.contains('/') && dir_a != "." && dir_a != "..");
        }
    }

    #[test]
    fn cellar_names() {
        for (key, dir) in [
            ("jq", "jq"),
            ("github-foo+bar", "github-foo+bar"),
            ("github:foo/bar", "_github+foo+bar"),
            ("github:BurntSushi/ripgrep", "_github+^burnt^sushi+ripgrep"),
            ("gitea:codeberg.org/o/r", "_gitea+codeberg.org+o+r"),
        ] {
            assert_eq!(dir_name(key), dir, "{key}");
            assert_eq!(key_from_dir_name(dir), key, "{dir}");
        }
    }

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
            dependencies: None,
            bottle: None,
        };
        assert_eq!(single_file_name("shout", &artifact), "shout");
        artifact.url = "https://x/dl/tool-linux-amd64?sig=1".to_string();
        assert_eq!(single_file_name("tool", &artifact), "tool-linux-amd64");
        artifact.bin.insert("tool".to_string(), "tool".to_string());
        assert_eq!(single_file_name("tool", &artifact), "tool");
    }
}

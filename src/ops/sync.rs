//! `velo sync`: make the project's `.velo/` match `velo.lock`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::install::{
    self, CommandTarget, InstallError, InstallState, InstalledPackage, Layout, Wanted, STATE_VERSION,
};
use crate::lock::{Lock, LOCK_FILE};
use crate::manifest::MANIFEST_FILE;
use crate::platform::Platform;
use crate::settings::Settings;
use crate::store::download::{DownloadRequest, Reporter};
use crate::store::{DownloadEvent, Downloader, FileLock, LinkMode, Linker, Store};

/// What a sync did.
#[derive(Debug, Default)]
pub struct SyncResult {
    /// Nothing needed doing.
    pub noop: bool,
    /// Packages newly placed in the Cellar.
    pub installed: Vec<(String, String)>,
    /// Cellar entries removed because the lock no longer has them.
    pub removed: Vec<(String, String)>,
    /// How files were placed, when any were.
    pub link_mode: Option<LinkMode>,
    pub warnings: Vec<String>,
    /// Packages installed in all.
    pub packages: usize,
}

/// The digest of the file at `path`, if it can be read.
pub fn digest_file(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| digest(&bytes))
}

/// Whether `.velo/` was synced from exactly this `velo.lock` (and, unless `frozen`, this
/// `velo.json`) for `host`: the no-op check, which reads three small files, parses only the
/// state, and checks that each installed package's directory is still there.
pub fn is_fresh(root: &Path, host: Platform, frozen: bool) -> bool {
    let layout = Layout::new(root);
    let Some(state) = InstallState::read(&layout.state_path()) else {
        return false;
    };
    state.platform == host
        && Path::new(&state.root) == root
        && std::fs::symlink_metadata(layout.current()).is_ok()
        && digest_file(&root.join(LOCK_FILE)).as_deref() == Some(state.lock_digest.as_str())
        && state
            .packages
            .iter()
            .all(|(name, package)| layout.package_dir(name, &package.version).is_dir())
        && (frozen
            || digest_file(&root.join(MANIFEST_FILE)).as_deref() == Some(state.manifest_digest.as_str()))
}

/// The digests a sync records, taken from the files before it started: a file changed while
/// the sync ran then differs from the record, and the next sync looks again.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `velo.json`'s digest when the lock was found to match it; `None` for `--frozen`.
    pub manifest: Option<String>,
    /// The digest of the text the lock being installed was read from.
    pub lock: String,
}

/// The sha256 of `bytes`, as the state records files.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Install `lock` into the project at `root`, recording `inputs` as what it was installed from.
pub async fn install(
    root: &Path,
    lock: &Lock,
    inputs: Inputs,
    settings: &Settings,
    reporter: Reporter,
) -> Result<SyncResult, Error> {
    let checked = inputs.manifest.is_some();
    let host = require_host(settings)?;
    let layout = Layout::new(root);
    fs_err::create_dir_all(&layout.velo).map_err(|source| Error::Io {
        path: layout.velo.clone(),
        source,
    })?;

    let _guard = wait_for_project(&layout, &reporter).await?;
    if is_fresh(root, host, !checked) {
        return Ok(SyncResult {
            noop: true,
            packages: lock.packages.len(),
            ..SyncResult::default()
        });
    }

    let previous = InstallState::read(&layout.state_path());
    install::remove_leftovers(&layout, previous.as_ref().map(|state| state.generation.as_str()));
    let wanted = install::wanted(lock, host)?;
    let mut result = SyncResult {
        packages: wanted.len(),
        ..SyncResult::default()
    };

    let store = Store::new(settings.cache.clone(), settings.max_unpacked_size);
    let http = crate::http::HttpClient::new(&settings.http)
        .map_err(crate::sources::SourceError::from)
        .map_err(Arc::new)?;
    let downloader = Downloader::new(
        store.clone(),
        http,
        root.to_path_buf(),
        settings.offline,
        reporter,
    );
    let linker = Arc::new(Linker::default());

    let (present, missing): (Vec<&Wanted>, Vec<&Wanted>) = wanted
        .iter()
        .partition(|package| is_installed(&layout, previous.as_ref(), package));

    // Phase one: every missing package downloaded, verified and unpacked into the store. A
    // failure here (a bad checksum, a hostile archive) leaves `.velo/` untouched.
    let trees = fetch_trees(&missing, &downloader, &store, settings.concurrent_downloads).await?;

    // Phase two: link them into the Cellar.
    let to_link: Vec<(Wanted, PathBuf)> = missing
        .iter()
        .map(|package| (*package).clone())
        .zip(trees)
        .collect();
    link_packages(&layout, to_link, &linker).await?;
    result.installed = missing
        .iter()
        .map(|package| (package.name.clone(), package.version.clone()))
        .collect();
    result.link_mode = linker.mode();

    let mut installed = Vec::new();
    for package in present.iter().chain(&missing) {
        let dir = layout.package_dir(&package.name, &package.version);
        let commands = install::find_commands(package, &dir, package.bin.as_ref())?;
        installed.push(((*package).clone(), commands));
    }
    installed.sort_by(|a, b| a.0.name.cmp(&b.0.name));

    let packages: BTreeMap<String, InstalledPackage> = installed
        .iter()
        .map(|(package, commands)| {
            let entry = InstalledPackage {
                version: package.version.clone(),
                tree: package.tree.key(),
                commands: commands.clone(),
                shim: !package.artifact.env.is_empty(),
            };
            (package.name.clone(), entry)
        })
        .collect();
    let root_text = root.to_string_lossy().into_owned();
    let reusable = previous.as_ref().filter(|state| {
        state.packages == packages
            && state.root == root_text
            && layout.velo.join(&state.generation).is_dir()
            && std::fs::symlink_metadata(layout.current()).is_ok()
    });
    let generation = match reusable {
        Some(state) => state.generation.clone(),
        None => {
            let generation = install::build_generation(&layout, &installed, &mut result.warnings)?;
            install::switch(&layout, &generation)?;
            generation
        }
    };

    let state = InstallState {
        version: STATE_VERSION,
        root: root_text,
        platform: host,
        manifest_digest: inputs.manifest.unwrap_or_default(),
        lock_digest: inputs.lock,
        generation: generation.clone(),
        packages,
    };
    state.write(&layout.state_path()).map_err(|source| Error::Io {
        path: layout.state_path(),
        source,
    })?;

    install::remove_leftovers(&layout, Some(&generation));
    // Cellar entries are named by directory (`ripgrep` for `github:BurntSushi/ripgrep`).
    let keep: BTreeSet<(String, String)> = wanted
        .iter()
        .map(|p| (install::dir_name(&p.name).into_owned(), p.version.clone()))
        .collect();
    result.removed = install::remove_unused_packages(&layout, &keep);
    Ok(result)
}

/// The platform to install for, or an error on a machine velo has no artifacts for.
pub fn require_host(settings: &Settings) -> Result<Platform, Error> {
    settings.host.ok_or_else(|| {
        Error::usage(
            format!(
                "velo cannot install packages on this platform ({} {})",
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
            Some(format!(
                "set `{}` to the platform whose artifacts should be used",
                crate::env_vars::VELO_PLATFORM
            )),
        )
    })
}

/// Take the project's sync lock: one sync per project at a time; a second one waits, then
/// usually finds nothing to do.
async fn wait_for_project(layout: &Layout, reporter: &Reporter) -> Result<FileLock, Error> {
    let path = layout.sync_lock_path();
    if let Some(guard) = FileLock::try_acquire(&path).map_err(InstallError::from)? {
        return Ok(guard);
    }
    reporter(DownloadEvent::Waiting {
        what: format!("another velo is syncing `{}`", layout.root.display()),
    });
    tokio::task::spawn_blocking(move || FileLock::acquire(&path))
        .await
        .map_err(|err| Error::Internal(format!("waiting for the sync lock: {err}")))?
        .map_err(|err| InstallError::from(err).into())
}

/// Download, verify and unpack each package into the store, `concurrency` at a time; the
/// trees come back in the packages' order.
async fn fetch_trees(
    packages: &[&Wanted],
    downloader: &Downloader,
    store: &Store,
    concurrency: usize,
) -> Result<Vec<PathBuf>, Error> {
    let jobs = packages.iter().enumerate().map(|(id, package)| async move {
        let request = DownloadRequest {
            id,
            label: label(package),
            url: package.artifact.url.clone(),
            sha256: package.artifact.sha256.clone(),
            size: package.artifact.size,
        };
        let archive = downloader.fetch(&request).await.map_err(|err| Error::Download {
            package: label(package),
            source: err,
        })?;
        let (store, spec) = (store.clone(), package.tree.clone());
        tokio::task::spawn_blocking(move || store.tree(&spec, &archive))
            .await
            .map_err(|err| Error::Internal(format!("unpacking a package: {err}")))?
            .map_err(|err| Error::Unpack {
                package: label(package),
                source: err,
            })
    });
    futures::stream::iter(jobs)
        .buffered(concurrency)
        .try_collect()
        .await
}

/// Link each tree into the Cellar, on a few threads: the work is file-system calls.
async fn link_packages(
    layout: &Layout,
    packages: Vec<(Wanted, PathBuf)>,
    linker: &Arc<Linker>,
) -> Result<(), Error> {
    let (layout, linker) = (layout.clone(), linker.clone());
    tokio::task::spawn_blocking(move || -> Result<(), Error> {
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.min(packages.len()))
                .map(|_| {
                    scope.spawn(|| -> Result<(), Error> {
                        while let Some((package, tree)) =
                            packages.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                        {
                            install::materialize(&layout, package, tree, &linker)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|worker| {
                worker
                    .join()
                    .map_err(|_| Error::Internal("a linking thread panicked".to_string()))?
            })
        })
    })
    .await
    .map_err(|err| Error::Internal(format!("installing packages: {err}")))?
}

/// Whether the last sync left exactly this package (same version, same store tree) in place.
fn is_installed(layout: &Layout, previous: Option<&InstallState>, package: &Wanted) -> bool {
    previous
        .and_then(|state| state.packages.get(&package.name))
        .is_some_and(|installed| {
            installed.version == package.version
                && installed.tree == package.tree.key()
                && layout.package_dir(&package.name, &package.version).is_dir()
        })
}

fn label(package: &Wanted) -> String {
    format!("{} {}", package.name, package.version)
}

/// The commands `.velo/bin` provides, from the state of the last sync.
pub fn installed_commands(root: &Path) -> BTreeMap<String, (String, String, CommandTarget)> {
    let layout = Layout::new(root);
    let Some(state) = InstallState::read(&layout.state_path()) else {
        return BTreeMap::new();
    };
    let mut commands = BTreeMap::new();
    for (name, package) in &state.packages {
        for (command, target) in &package.commands {
            commands
                .entry(command.clone())
                .or_insert_with(|| (name.clone(), package.version.clone(), target.clone()));
        }
    }
    commands
}

/// The installed packages, from the state of the last sync.
pub fn installed(root: &Path) -> Option<InstallState> {
    InstallState::read(&Layout::new(root).state_path())
}

/// Directories a project's environment puts first on `PATH`.
pub fn bin_dir(root: &Path) -> PathBuf {
    Layout::new(root).bin()
}

//! `velo sync`: make the project's `.velo/` match `velo.lock`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::cache::Cache;
use crate::error::Error;
use crate::fs::owned::OwnedDir;
use crate::install::{
    self, CommandTarget, InstallError, InstallState, InstalledPackage, Layout, StateKey, Wanted,
    STATE_VERSION,
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
    crate::fs::owned::read_regular(path, crate::fs::owned::MAX_PROJECT_FILE)
        .ok()
        .map(|bytes| digest(&bytes))
}

/// Whether `.velo/` was synced from exactly this `velo.lock` (and, unless `frozen`, this
/// `velo.json`) for `host`: the no-op check, which reads three small files, parses only the
/// state, and checks that each installed package's directory is still there. A state not sealed
/// with `cache`'s key, or a `.velo/` whose links are not the ones velo makes, is never fresh.
pub fn is_fresh(root: &Path, host: Platform, frozen: bool, cache: &Cache) -> bool {
    let layout = Layout::new(root);
    let Some(velo) = install::existing_velo_dir(&layout) else {
        return false;
    };
    let Some(state) = InstallState::read(&velo, StateKey::find(cache).as_ref()) else {
        return false;
    };
    let shared = install::brew::shared_prefix(cache.root());
    state.platform == host
        && Path::new(&state.root) == root
        && links_are_velos(&velo, &state)
        && digest_file(&root.join(LOCK_FILE)).as_deref() == Some(state.lock_digest.as_str())
        && state.packages.iter().all(|(name, package)| {
            install::installed_package_dir(&velo, name, &package.version, &shared).is_some_and(|dir| {
                install::command_stamps(dir.path(), &package.commands).as_ref() == Some(&package.stamps)
            })
        })
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
///
/// Until the new generation is switched in, a failure leaves the previous one working: new
/// package versions are built and validated aside, and only then moved into the Cellar.
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
    // A `.velo` link or file from the repository is replaced by a real directory here.
    let velo = install::velo_dir(&layout)?;

    let _guard = wait_for_project(&velo, &layout, &reporter).await?;
    if is_fresh(root, host, !checked, &settings.cache) {
        return Ok(SyncResult {
            noop: true,
            packages: lock.packages.len(),
            ..SyncResult::default()
        });
    }
    let key = StateKey::get_or_create(&settings.cache).map_err(|source| Error::Io {
        path: settings.cache.root().to_path_buf(),
        source,
    })?;

    // Only a state this machine sealed says what is installed; without one, every package is
    // linked again, replacing whatever a repository committed in the Cellar.
    let previous = InstallState::read(&velo, Some(&key));
    install::remove_leftovers(&velo, previous.as_ref().map(|state| state.generation.as_str()));
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
    )
    .with_scoped_auth(crate::http::Scoped::ghcr_anonymous(&settings.homebrew.bottle_url));
    let linker = Arc::new(Linker::default());

    let mut installed = Vec::new();
    let mut missing = Vec::new();
    let shared = install::brew::shared_prefix(settings.cache.root());
    for package in &wanted {
        match installed_commands_of(&velo, previous.as_ref(), package, &shared) {
            Some(commands) => installed.push((package.clone(), commands)),
            None => missing.push(package),
        }
    }

    // Phase one: every missing package downloaded, verified and unpacked into the store. A
    // failure here (a bad checksum, a hostile archive) leaves `.velo/` untouched.
    let trees = fetch_trees(&missing, &downloader, &store, settings.concurrent_downloads).await?;

    // Phase two: each linked into a staging directory and its commands checked there. A
    // failure leaves the Cellar and the live generation as they were.
    let to_link: Vec<(Wanted, PathBuf)> = missing
        .iter()
        .map(|package| (*package).clone())
        .zip(trees)
        .collect();
    let pouring = install::Pouring::new(settings.cache.root(), &wanted);
    let staged = stage_packages(&velo, to_link, &linker, &pouring).await?;

    // Phase three: all of them moved into the Cellar.
    for package in &staged {
        result.warnings.extend(install::commit(&velo, package, &pouring)?);
    }
    result.installed = missing
        .iter()
        .map(|package| (package.name.clone(), package.version.clone()))
        .collect();
    result.link_mode = linker.mode();
    installed.extend(staged.iter().map(|s| (s.package.clone(), s.commands.clone())));
    drop(staged);
    installed.sort_by(|a, b| a.0.name.cmp(&b.0.name));

    let packages: BTreeMap<String, InstalledPackage> = installed
        .iter()
        .map(|(package, commands)| {
            let dir = layout.package_dir(&package.name, &package.version);
            let entry = InstalledPackage {
                version: package.version.clone(),
                tree: package.tree.key(),
                commands: commands.clone(),
                shim: !package.artifact.env.is_empty(),
                // Every command was just found, so each has a stamp; one that vanished since
                // leaves the stamps short, and the next sync installs the package again.
                stamps: install::command_stamps(&dir, commands).unwrap_or_default(),
            };
            (package.name.clone(), entry)
        })
        .collect();
    let root_text = root.to_string_lossy().into_owned();
    let reusable = previous.as_ref().filter(|state| {
        state.packages == packages
            && state.root == root_text
            && velo.dir(&state.generation).is_some()
            && std::fs::read_link(velo.path().join("current"))
                .is_ok_and(|target| target == Path::new(&state.generation))
    });
    let generation = match reusable {
        Some(state) => state.generation.clone(),
        None => install::build_generation(&layout, &velo, &installed, &mut result.warnings)?,
    };
    // Also when the generation is reused: `bin` and `opt` may not be velo's links.
    install::switch(&velo, &generation)?;

    let mut state = InstallState {
        version: STATE_VERSION,
        root: root_text,
        platform: host,
        manifest_digest: inputs.manifest.unwrap_or_default(),
        lock_digest: inputs.lock,
        generation: generation.clone(),
        packages,
        seal: String::new(),
    };
    state.write(&velo, &key).map_err(|source| Error::Io {
        path: layout.state_path(),
        source,
    })?;

    install::remove_leftovers(&velo, Some(&generation));
    let keep: BTreeSet<(String, String)> = wanted
        .iter()
        .map(|p| (install::dir_name(&p.name).into_owned(), p.version.clone()))
        .collect();
    result.removed = install::remove_unused_packages(&velo, &keep);
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
/// usually finds nothing to do. `.velo/sync.lock` is opened without following a link, and
/// whatever else the repository put there is removed first.
async fn wait_for_project(velo: &OwnedDir, layout: &Layout, reporter: &Reporter) -> Result<FileLock, Error> {
    let path = layout.sync_lock_path();
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    if let Some(guard) = FileLock::try_lock_file(velo.open_file("sync.lock").map_err(io)?, &path)
        .map_err(InstallError::from)?
    {
        return Ok(guard);
    }
    reporter(DownloadEvent::Waiting {
        what: format!("another velo is syncing `{}`", layout.root.display()),
    });
    let file = velo.open_file("sync.lock").map_err(io)?;
    tokio::task::spawn_blocking(move || FileLock::lock_file(file, &path))
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

/// Link each tree into a staging directory and check it, on a few threads: the work is
/// file-system calls. The staged packages come back in the input's order.
async fn stage_packages(
    velo: &OwnedDir,
    packages: Vec<(Wanted, PathBuf)>,
    linker: &Arc<Linker>,
    pouring: &install::Pouring,
) -> Result<Vec<install::Staged>, Error> {
    let (velo, linker, pouring) = (velo.clone(), linker.clone(), pouring.clone());
    tokio::task::spawn_blocking(move || -> Result<Vec<install::Staged>, Error> {
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.min(packages.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        while let Some(index) = Some(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                            .filter(|index| *index < packages.len())
                        {
                            let (package, tree) = &packages[index];
                            done.push((index, install::stage(&velo, package, tree, &linker, &pouring)));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .map_err(|_| Error::Internal("a linking thread panicked".to_string()))
                })
                .collect::<Result<Vec<_>, Error>>()
        })?;
        let mut results: Vec<_> = results.into_iter().flatten().collect();
        results.sort_by_key(|(index, _)| *index);
        results
            .into_iter()
            .map(|(_, staged)| staged.map_err(Error::from))
            .collect()
    })
    .await
    .map_err(|err| Error::Internal(format!("installing packages: {err}")))?
}

/// The commands of `package` as the last sync left it, when that sync (a sealed state) put
/// exactly this package (same version, same store tree) in a Cellar directory that is still
/// there and still provides them; `None` means it is installed again.
fn installed_commands_of(
    velo: &OwnedDir,
    previous: Option<&InstallState>,
    package: &Wanted,
    shared: &Path,
) -> Option<BTreeMap<String, CommandTarget>> {
    let installed = previous?.packages.get(&package.name)?;
    if installed.version != package.version || installed.tree != package.tree.key() {
        return None;
    }
    let dir = install::installed_package_dir(velo, &package.name, &package.version, shared)?;
    let commands = install::find_commands(package, dir.path(), package.bin.as_ref()).ok()?;
    // The files are still the ones this machine's velo put there.
    (commands == installed.commands
        && install::command_stamps(dir.path(), &commands).as_ref() == Some(&installed.stamps))
    .then_some(commands)
}

fn label(package: &Wanted) -> String {
    format!("{} {}", package.name, package.version)
}

/// The state of the last sync, if this machine's velo wrote it.
pub fn installed(root: &Path, cache: &Cache) -> Option<InstallState> {
    let velo = install::existing_velo_dir(&Layout::new(root))?;
    InstallState::read(&velo, StateKey::find(cache).as_ref())
}

/// The commands `.velo/bin` provides, from the state of the last sync.
pub fn installed_commands(root: &Path, cache: &Cache) -> BTreeMap<String, (String, String, CommandTarget)> {
    let Some(state) = installed(root, cache) else {
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

/// Whether `current`, `bin` and `opt` are the links the sync that wrote `state` made.
fn links_are_velos(velo: &OwnedDir, state: &InstallState) -> bool {
    let links_to = |name: &str, target: &str| {
        std::fs::read_link(velo.path().join(name)).is_ok_and(|link| link == Path::new(target))
    };
    links_to("current", &state.generation)
        && links_to("bin", "current/bin")
        && links_to("opt", "current/opt")
        && velo.dir(&state.generation).is_some()
}

/// The directory a project's environment puts first on `PATH`: `.velo/bin`, but only when this
/// velo made it here (a state sealed with this cache's key for this root, and the links that
/// sync made; a moved project's shims name its old place). A committed `.velo/bin` never
/// reaches `PATH`, trusted project or not.
pub fn bin_dir(root: &Path, cache: &Cache) -> Option<PathBuf> {
    let velo = install::existing_velo_dir(&Layout::new(root))?;
    let state = InstallState::read(&velo, StateKey::find(cache).as_ref())?;
    (Path::new(&state.root) == root && links_are_velos(&velo, &state)).then(|| Layout::new(root).bin())
}

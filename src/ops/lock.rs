//! `velo lock`: solve the manifest's requirements and write `velo.lock`.

use std::collections::HashMap;

use crate::error::Error;
use crate::lock::{Lock, LockError, Staleness};
use crate::manifest::{Manifest, Project};
use crate::resolve::{self, Preferences};
use crate::settings::Settings;
use crate::sources::Sources;
use crate::version::Version;

/// Which locked versions may move.
#[derive(Debug, Clone, Default)]
pub enum Upgrade {
    /// Keep every locked version that still satisfies the manifest.
    #[default]
    None,
    All,
    Packages(Vec<String>),
}

/// What a lock run decided.
#[derive(Debug)]
pub struct LockResult {
    pub lock: Lock,
    pub changes: Vec<LockChange>,
    pub warnings: Vec<String>,
    /// True when the lock already matched the manifest and nothing was solved.
    pub up_to_date: bool,
    /// Whether there was a lock before; without one every package is new and `changes` says
    /// nothing worth listing.
    pub had_lock: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockChange {
    Added { name: String, version: String },
    Updated { name: String, from: String, to: String },
    Removed { name: String, version: String },
}

/// Read the project's lock. An unreadable lock is reported as a warning and treated as absent,
/// since re-locking replaces it anyway.
pub fn read_existing(project: &Project, warnings: &mut Vec<String>) -> Result<Option<Lock>, Error> {
    match Lock::read(&project.lock_path()) {
        Ok(lock) => Ok(lock),
        Err(err @ LockError::Invalid { .. }) => {
            warnings.push(format!("{err}; it will be replaced"));
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

/// Lock `manifest` (which may differ from the project's file, as in `velo add`) without writing.
pub async fn lock(
    project: &Project,
    manifest: &Manifest,
    settings: &Settings,
    upgrade: &Upgrade,
) -> Result<LockResult, Error> {
    let mut warnings = Vec::new();
    let existing = read_existing(project, &mut warnings)?;

    if matches!(upgrade, Upgrade::None) && Lock::staleness(existing.as_ref(), manifest).is_none() {
        let lock = existing.expect("a lock that is not stale exists");
        return Ok(LockResult {
            lock,
            changes: Vec::new(),
            warnings,
            up_to_date: true,
            had_lock: true,
        });
    }

    let preferences = Preferences {
        locked: existing
            .iter()
            .flat_map(|lock| &lock.packages)
            .filter_map(|(name, package)| Some((name.clone(), package.version.parse::<Version>().ok()?)))
            .collect::<HashMap<_, _>>(),
        upgrade_all: matches!(upgrade, Upgrade::All),
        upgrade: match upgrade {
            Upgrade::Packages(names) => names.iter().cloned().collect(),
            _ => Default::default(),
        },
    };

    let sources = Sources::new(manifest, &project.root, settings).map_err(std::sync::Arc::new)?;
    // Homebrew aliases become canonical names before solving, so one formula is one package.
    let direct = sources.direct_keys(manifest).await?;
    let root: Vec<_> = manifest
        .dependencies
        .iter()
        .map(|dep| (direct[&dep.key].clone(), dep.requirement.clone()))
        .collect();
    // Solving and reading the chosen versions' artifacts (which for a forge can mean fetching a
    // checksum file) both block, so both run off the async threads.
    let (manifest_for_lock, host) = (manifest.clone(), settings.host);
    let outcome = tokio::task::spawn_blocking(move || -> Result<_, Error> {
        let resolution = resolve::resolve(&sources, &root, &preferences)?;
        let outcome = resolve::build_lock(&manifest_for_lock, &resolution, host, &direct)?;
        check_cellar_dirs(&outcome.lock)?;
        Ok(outcome)
    })
    .await
    .map_err(|err| Error::Internal(format!("the resolver stopped unexpectedly: {err}")))??;
    warnings.extend(outcome.warnings);
    let changes = diff(existing.as_ref(), &outcome.lock);
    if let Some(existing) = &existing {
        warnings.extend(renamed_assets(existing, &outcome.lock));
    }
    Ok(LockResult {
        lock: outcome.lock,
        changes,
        warnings,
        up_to_date: false,
        had_lock: existing.is_some(),
    })
}

/// Refuse a lock in which two packages would be installed into one Cellar directory (the
/// index's `jq` and Homebrew's `brew:jq`).
fn check_cellar_dirs(lock: &Lock) -> Result<(), resolve::LockBuildError> {
    let mut by_dir: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for name in lock.packages.keys() {
        by_dir
            .entry(crate::install::dir_name(name).into_owned())
            .or_default()
            .push(name.clone());
    }
    match by_dir.into_iter().find(|(_, packages)| packages.len() > 1) {
        Some((dir, packages)) => Err(resolve::LockBuildError::SharedCellar { dir, packages }),
        None => Ok(()),
    }
}

/// Whether the lock is current, without solving anything.
pub fn check(project: &Project) -> Result<(), Error> {
    let mut warnings = Vec::new();
    let existing = read_existing(project, &mut warnings)?;
    check_lock(existing.as_ref(), &project.manifest)
}

/// Whether `lock` (already read) matches `manifest`.
pub fn check_lock(lock: Option<&Lock>, manifest: &Manifest) -> Result<(), Error> {
    match Lock::staleness(lock, manifest) {
        None => Ok(()),
        Some(Staleness::Missing) => Err(Error::StaleLock {
            changes: vec!["`velo.lock` does not exist".to_string()],
        }),
        Some(Staleness::Changed(changes)) => Err(Error::StaleLock { changes }),
    }
}

/// Notes for packages whose download for a platform changed its name between the old and the
/// new version by more than the version itself (`x86_64` → `amd64`, `.tar.gz` → `.tar.xz`):
/// the asset was picked again, and the user may want to know.
fn renamed_assets(old: &Lock, new: &Lock) -> Vec<String> {
    let file_name = |url: &str| {
        url.split(['?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string()
    };
    let without_version = |name: &str, version: &str, tag: Option<&str>| {
        let name = tag.map_or_else(
            || name.to_string(),
            |tag| name.replace(tag.trim_start_matches('v'), "{version}"),
        );
        name.replace(version, "{version}")
    };
    let mut notes = Vec::new();
    for (name, package) in &new.packages {
        let Some(before) = old
            .packages
            .get(name)
            .filter(|before| before.version != package.version)
        else {
            continue;
        };
        for (platform, artifact) in &package.artifacts {
            let Some(previous) = before.artifacts.get(platform) else {
                continue;
            };
            let (old_name, new_name) = (file_name(&previous.url), file_name(&artifact.url));
            let old_shape = without_version(&old_name, &before.version, before.tag.as_deref());
            let new_shape = without_version(&new_name, &package.version, package.tag.as_deref());
            if old_shape != new_shape {
                notes.push(format!(
                    "`{name}`: the {platform} download was renamed between {} and {}: `{old_name}` -> `{new_name}`",
                    before.version, package.version
                ));
            }
        }
    }
    notes
}

fn diff(old: Option<&Lock>, new: &Lock) -> Vec<LockChange> {
    let empty = Default::default();
    let old_packages = old.map_or(&empty, |lock| &lock.packages);
    let mut changes = Vec::new();
    for (name, package) in &new.packages {
        match old_packages.get(name) {
            None => changes.push(LockChange::Added {
                name: name.clone(),
                version: package.version.clone(),
            }),
            Some(before) if before.version != package.version => changes.push(LockChange::Updated {
                name: name.clone(),
                from: before.version.clone(),
                to: package.version.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, package) in old_packages {
        if !new.packages.contains_key(name) {
            changes.push(LockChange::Removed {
                name: name.clone(),
                version: package.version.clone(),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{Artifact, LockInputs, LockedPackage};
    use crate::platform::Platform;
    use std::collections::BTreeMap;

    fn lock(version: &str, file: &str) -> Lock {
        let artifact = Artifact {
            url: format!("https://example.com/dl/{file}"),
            sha256: "0".repeat(64),
            size: 1,
            format: None,
            strip_components: 0,
            bin: BTreeMap::new(),
            env: BTreeMap::new(),
            dependencies: None,
            bottle: None,
        };
        let package = LockedPackage {
            version: version.to_string(),
            tag: Some(format!("v{version}")),
            source: "github:o/tool".to_string(),
            dependencies: Vec::new(),
            artifacts: BTreeMap::from([(Platform::LinuxX86_64, artifact)]),
            unavailable: Vec::new(),
        };
        Lock {
            version: 1,
            manifest: LockInputs {
                registry: None,
                platforms: vec![Platform::LinuxX86_64],
                min_macos: None,
                dependencies: BTreeMap::new(),
            },
            packages: BTreeMap::from([("github:o/tool".to_string(), package)]),
        }
    }

    #[test]
    fn an_index_package_and_a_formula_of_one_name_are_refused() {
        let mut lock = lock("1.0.0", "tool.tar.gz");
        check_cellar_dirs(&lock).unwrap();
        let package = lock.packages["github:o/tool"].clone();
        lock.packages.insert("jq".to_string(), package.clone());
        lock.packages.insert("brew:jq".to_string(), package);
        let err = check_cellar_dirs(&lock).unwrap_err().to_string();
        assert_eq!(
            err,
            "`brew:jq` and `jq` would share the directory `.velo/Cellar/jq`"
        );
    }

    #[test]
    fn notes_renamed_assets_but_not_version_bumps() {
        let old = lock("1.0.0", "tool-1.0.0-x86_64-linux.tar.gz");
        assert!(renamed_assets(&old, &lock("1.1.0", "tool-1.1.0-x86_64-linux.tar.gz")).is_empty());
        let notes = renamed_assets(&old, &lock("1.1.0", "tool-1.1.0-amd64-linux.tar.xz"));
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("`tool-1.0.0-x86_64-linux.tar.gz` -> `tool-1.1.0-amd64-linux.tar.xz`"),
            "{}",
            notes[0]
        );
    }
}

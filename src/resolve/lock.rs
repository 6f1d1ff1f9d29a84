//! Turning a [`Resolution`] into a [`Lock`]: per-platform artifacts, platform gaps.

use std::collections::{BTreeMap, BTreeSet};

use super::Resolution;
use crate::lock::{Lock, LockInputs, LockedPackage, LOCK_VERSION};
use crate::manifest::Manifest;
use crate::platform::Platform;

/// A lock and what the user should hear about it.
#[derive(Debug)]
pub struct LockOutcome {
    pub lock: Lock,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockBuildError {
    #[error("{} no artifact for {host}, the platform of this machine:\n{}", if missing.len() == 1 { "a locked package has" } else { "locked packages have" }, missing.iter().map(|m| format!("  {m}")).collect::<Vec<_>>().join("\n"))]
    NoArtifactForHost { host: Platform, missing: Vec<String> },
    #[error("failed to read the artifacts of `{package}`: {message}")]
    Artifacts { package: String, message: String },
    #[error("{} would share the directory `.velo/Cellar/{dir}`", packages.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(" and "))]
    SharedCellar { dir: String, packages: Vec<String> },
}

impl LockBuildError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LockBuildError::Artifacts { .. } => None,
            LockBuildError::SharedCellar { .. } => Some(
                "depend on only one of them in `velo.json` (a Homebrew formula and an index package of the same name cannot both be installed)"
                    .to_string(),
            ),
            LockBuildError::NoArtifactForHost { .. } => Some(
                "require a version that ships one for this platform in `velo.json`, or ask the index maintainers to add it"
                    .to_string(),
            ),
        }
    }
}

/// The platforms each package is needed on: a dependency's own `platforms` (default: all the
/// project's), passed down to what it depends on there. `direct` maps each manifest key to
/// its lock key.
fn wanted_platforms(
    manifest: &Manifest,
    resolution: &Resolution,
    direct: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeSet<Platform>> {
    let targets: BTreeSet<Platform> = manifest.target_platforms().into_iter().collect();
    let mut wanted: BTreeMap<String, BTreeSet<Platform>> = BTreeMap::new();
    let mut queue: Vec<(String, BTreeSet<Platform>)> = manifest
        .dependencies
        .iter()
        .map(|dep| {
            let platforms = match &dep.platforms {
                Some(only) => only.iter().copied().filter(|p| targets.contains(p)).collect(),
                None => targets.clone(),
            };
            let key = direct.get(&dep.key).cloned().unwrap_or_else(|| dep.lock_key());
            (key, platforms)
        })
        .collect();
    while let Some((name, platforms)) = queue.pop() {
        let entry = wanted.entry(name.clone()).or_default();
        let new: BTreeSet<Platform> = platforms.difference(entry).copied().collect();
        if new.is_empty() && !entry.is_empty() {
            continue;
        }
        entry.extend(new.iter().copied());
        let Some(package) = resolution.packages.get(&name) else {
            continue;
        };
        let info = &package.meta.versions[&package.version];
        for platform in new {
            let dependencies = info
                .platform_dependencies(platform)
                .unwrap_or_else(|| package.dependencies.clone());
            for dependency in dependencies {
                queue.push((dependency, BTreeSet::from([platform])));
            }
        }
    }
    wanted
}

/// Build the lock for `manifest` from `resolution`. `host` is the platform velo runs on; a package
/// that cannot be installed here fails the lock, one missing elsewhere is recorded and warned about.
pub fn build_lock(
    manifest: &Manifest,
    resolution: &Resolution,
    host: Option<Platform>,
    direct: &BTreeMap<String, String>,
) -> Result<LockOutcome, LockBuildError> {
    let wanted = wanted_platforms(manifest, resolution, direct);
    let mut warnings = Vec::new();
    let mut missing_on_host = Vec::new();
    let mut packages = BTreeMap::new();

    for (name, resolved) in &resolution.packages {
        let info = &resolved.meta.versions[&resolved.version];
        let shown = info.lock_version(&resolved.version);
        let platforms = wanted.get(name).cloned().unwrap_or_default();
        let all = info
            .artifacts(&platforms)
            .map_err(|message| LockBuildError::Artifacts {
                package: format!("{name} {shown}"),
                message,
            })?;
        let artifacts: BTreeMap<_, _> = all
            .by_platform
            .iter()
            .filter(|(platform, _)| platforms.contains(platform))
            .map(|(platform, artifact)| (*platform, artifact.clone()))
            .collect();
        let unavailable: Vec<Platform> = platforms
            .iter()
            .copied()
            .filter(|p| !artifacts.contains_key(p))
            .collect();
        let available = || {
            let list: Vec<&str> = all.by_platform.keys().map(|p| p.as_str()).collect();
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        };
        if let Some(h) = host.filter(|h| unavailable.contains(h)) {
            // A source may have said why (a Homebrew formula that needs macOS).
            let marker = format!(" for {h}: ");
            let why = all
                .warnings
                .iter()
                .find_map(|w| w.split_once(marker.as_str()).map(|(_, why)| format!("; {why}")))
                .unwrap_or_default();
            missing_on_host.push(format!("`{name} {shown}` (available for: {}){why}", available()));
        } else if !unavailable.is_empty() {
            let list: Vec<&str> = unavailable.iter().map(|p| p.as_str()).collect();
            warnings.push(format!(
                "`{name} {shown}` has no artifact for {}; it will not be installed there",
                list.join(", ")
            ));
        }
        for warning in resolved.meta.warnings.iter().chain(&all.warnings) {
            if !warnings.contains(warning) {
                warnings.push(warning.clone());
            }
        }
        let version = shown;
        packages.insert(
            name.clone(),
            LockedPackage {
                tag: (info.tag != version).then(|| info.tag.clone()),
                version,
                source: resolved.meta.source.clone(),
                dependencies: resolved.dependencies.clone(),
                artifacts,
                unavailable,
            },
        );
    }

    if let (Some(host), false) = (host, missing_on_host.is_empty()) {
        return Err(LockBuildError::NoArtifactForHost {
            host,
            missing: missing_on_host,
        });
    }
    let lock = Lock {
        version: LOCK_VERSION,
        manifest: LockInputs::from_manifest(manifest).with_packages(direct),
        packages,
    };
    Ok(LockOutcome { lock, warnings })
}

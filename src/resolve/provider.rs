//! The pubgrub [`DependencyProvider`] and the [`resolve`] entry point.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics, PubGrubError,
    Ranges,
};

use super::{report, PackageMeta, PackageSource};
use crate::version::{Version, VersionReq};

/// A node of the dependency graph: the project itself, or a package by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Node {
    Root,
    Package(Arc<str>),
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Root => f.write_str("your project"),
            Node::Package(name) => f.write_str(name),
        }
    }
}

/// Versions to keep when they still fit: what the current lock has (minimal churn).
#[derive(Debug, Clone, Default)]
pub struct Preferences {
    pub locked: HashMap<String, Version>,
    /// `--upgrade`: ignore every locked version.
    pub upgrade_all: bool,
    /// `--upgrade-package NAME`: ignore these packages' locked versions.
    pub upgrade: HashSet<String>,
}

impl Preferences {
    fn preferred(&self, name: &str) -> Option<&Version> {
        if self.upgrade_all || self.upgrade.contains(name) {
            return None;
        }
        self.locked.get(name)
    }
}

/// The chosen version of every package the project needs.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub packages: BTreeMap<String, ResolvedPackage>,
}

#[derive(Debug, Clone)]
pub struct ResolvedPackage {
    pub version: Version,
    pub meta: Arc<PackageMeta>,
    /// Keys of the packages this version depends on, sorted.
    pub dependencies: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError<E: std::error::Error + 'static> {
    /// The requirements cannot all hold; `report` says why in plain English.
    #[error("no set of versions satisfies every requirement:\n\n{report}")]
    NoSolution { report: String, hint: String },
    #[error("failed to get package `{package}`{}", required_by.as_ref().map(|by| format!(" (required by {by})")).unwrap_or_default())]
    Source {
        package: String,
        required_by: Option<String>,
        #[source]
        source: E,
    },
}

pub(super) struct Provider<'a, S> {
    source: &'a S,
    root: Vec<(Arc<str>, VersionReq)>,
    preferences: &'a Preferences,
    /// Packages whose requirement in the manifest names a prerelease.
    allow_prerelease: HashSet<Arc<str>>,
    /// Metadata fetched so far, filled only by this (the solver's) thread so that priorities
    /// and therefore results never depend on network timing.
    metas: RefCell<HashMap<Arc<str>, Arc<PackageMeta>>>,
    /// The first package version found to need each package, for error messages.
    required_by: RefCell<HashMap<Arc<str>, String>>,
}

impl<S: PackageSource> Provider<'_, S> {
    fn meta(&self, name: &Arc<str>) -> Result<Arc<PackageMeta>, S::Error> {
        if let Some(meta) = self.metas.borrow().get(name) {
            return Ok(meta.clone());
        }
        let meta = self.source.get(name)?;
        self.metas.borrow_mut().insert(name.clone(), meta.clone());
        Ok(meta)
    }

    pub(super) fn known_versions(&self, name: &str) -> Vec<Version> {
        self.metas
            .borrow()
            .get(name)
            .map(|meta| meta.versions.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn requirement_text(
        &self,
        package: &Node,
        versions: &Ranges<Version>,
        dependency: &str,
        range: &Ranges<Version>,
    ) -> Option<String> {
        let matches = |req: &VersionReq| req.ranges() == range;
        match package {
            Node::Root => self
                .root
                .iter()
                .find(|(name, req)| &**name == dependency && matches(req))
                .map(|(_, req)| req.to_string()),
            Node::Package(name) => {
                let metas = self.metas.borrow();
                let meta = metas.get(name)?;
                meta.versions
                    .iter()
                    .filter(|(version, _)| versions.contains(version))
                    .filter_map(|(_, info)| info.dependencies().as_ref().ok())
                    .flatten()
                    .find(|(name, req)| name == dependency && matches(req))
                    .map(|(_, req)| req.to_string())
            }
        }
    }

    pub(super) fn allows_prerelease(&self, name: &str) -> bool {
        self.allow_prerelease.contains(name)
    }
}

impl<S: PackageSource> DependencyProvider for Provider<'_, S> {
    type P = Node;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Priority = (u32, Reverse<usize>);
    type Err = S::Error;

    fn prioritize(
        &self,
        package: &Node,
        range: &Ranges<Version>,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let Node::Package(name) = package else {
            return (u32::MAX, Reverse(0));
        };
        // Fewest candidate versions first; packages not fetched yet go last, giving their
        // prefetch time to finish.
        let candidates = self.metas.borrow().get(name).map_or(usize::MAX, |meta| {
            meta.versions.keys().filter(|v| range.contains(v)).count()
        });
        (stats.conflict_count(), Reverse(candidates))
    }

    fn choose_version(&self, package: &Node, range: &Ranges<Version>) -> Result<Option<Version>, S::Error> {
        let Node::Package(name) = package else {
            return Ok(Some(root_version()));
        };
        let meta = self.meta(name)?;
        let allow_prerelease = self.allow_prerelease.contains(name);
        let usable = |v: &Version| range.contains(v) && (allow_prerelease || !v.is_prerelease());
        if let Some(preferred) = self.preferences.preferred(name) {
            if let Some((version, _)) = meta.versions.get_key_value(preferred).filter(|(v, _)| usable(v)) {
                return Ok(Some(version.clone()));
            }
        }
        Ok(meta.versions.keys().rev().find(|v| usable(v)).cloned())
    }

    fn get_dependencies(
        &self,
        package: &Node,
        version: &Version,
    ) -> Result<Dependencies<Node, Ranges<Version>, String>, S::Error> {
        let Node::Package(name) = package else {
            let constraints = self
                .root
                .iter()
                .map(|(name, req)| (Node::Package(name.clone()), req.ranges().clone()))
                .collect();
            return Ok(Dependencies::Available(constraints));
        };
        let meta = self.meta(name)?;
        let Some(info) = meta.versions.get(version) else {
            return Ok(Dependencies::Unavailable(
                "its metadata disappeared during resolution".to_string(),
            ));
        };
        let dependencies = match info.dependencies() {
            Ok(dependencies) => dependencies,
            Err(reason) => return Ok(Dependencies::Unavailable(reason.clone())),
        };
        let names: Vec<&str> = dependencies.iter().map(|(name, _)| name.as_str()).collect();
        self.source.prefetch(&names);
        let mut required_by = self.required_by.borrow_mut();
        let mut constraints = DependencyConstraints::default();
        for (dependency, req) in dependencies {
            let dependency: Arc<str> = Arc::from(dependency.as_str());
            required_by
                .entry(dependency.clone())
                .or_insert_with(|| format!("`{name} {version}`"));
            constraints.insert(Node::Package(dependency), req.ranges().clone());
        }
        Ok(Dependencies::Available(constraints))
    }
}

fn root_version() -> Version {
    Version::new(&[0])
}

/// Choose a version of every package reachable from `root`.
pub fn resolve<S: PackageSource>(
    source: &S,
    root: &[(String, VersionReq)],
    preferences: &Preferences,
) -> Result<Resolution, ResolveError<S::Error>> {
    let names: Vec<&str> = root.iter().map(|(name, _)| name.as_str()).collect();
    source.prefetch(&names);
    let provider = Provider {
        source,
        root: root
            .iter()
            .map(|(name, req)| (Arc::from(name.as_str()), req.clone()))
            .collect(),
        preferences,
        allow_prerelease: root
            .iter()
            .filter(|(_, req)| req.allows_prerelease())
            .map(|(name, _)| Arc::from(name.as_str()))
            .collect(),
        metas: RefCell::default(),
        required_by: RefCell::default(),
    };
    let source_error = |package: &Node, source| ResolveError::Source {
        package: package.to_string(),
        required_by: match package {
            Node::Package(name) => provider.required_by.borrow().get(name).cloned(),
            Node::Root => None,
        },
        source,
    };
    let solution = match pubgrub::resolve(&provider, Node::Root, root_version()) {
        Ok(solution) => solution,
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            let (report, hint) = report::explain(&tree, &provider);
            return Err(ResolveError::NoSolution { report, hint });
        }
        Err(PubGrubError::ErrorChoosingVersion { package, source }) => {
            return Err(source_error(&package, source))
        }
        Err(PubGrubError::ErrorRetrievingDependencies { package, source, .. }) => {
            return Err(source_error(&package, source))
        }
        Err(PubGrubError::ErrorInShouldCancel(source)) => return Err(source_error(&Node::Root, source)),
    };

    let metas = provider.metas.borrow();
    let mut packages = BTreeMap::new();
    for (node, version) in solution {
        let Node::Package(name) = node else { continue };
        let meta = metas[&name].clone();
        let mut dependencies: Vec<String> = meta.versions[&version]
            .dependencies()
            .as_ref()
            .map(|deps| deps.iter().map(|(name, _)| name.clone()).collect())
            .unwrap_or_default();
        dependencies.sort();
        dependencies.dedup();
        packages.insert(
            name.to_string(),
            ResolvedPackage {
                version,
                meta,
                dependencies,
            },
        );
    }
    Ok(Resolution { packages })
}

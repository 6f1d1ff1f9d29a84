//! Finding the workspace a directory belongs to, its members, and which members depend on
//! which.
//!
//! A workspace root's `velo.json` lists `workspace.members` globs; every matched directory with a
//! `velo.json` is a member. A member names the members it depends on in
//! `workspace.dependencies` (by name or by path from the root); for JavaScript monorepos the
//! `package.json` dependencies that name another member's package count too. A project outside
//! any workspace is a workspace of one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::glob::{Globs, Walk};
use crate::error::Error;
use crate::manifest::{find_project_root, Manifest, Project, MANIFEST_FILE};

/// The label of a workspace root that has no `name`.
pub const ROOT_LABEL: &str = "//";

#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    /// `members[0]` is the root project itself.
    pub members: Vec<Member>,
    /// Whether the root lists `workspace.members` (labels then carry the member's name).
    pub is_workspace: bool,
}

#[derive(Debug)]
pub struct Member {
    /// How tasks are labelled and `--filter` and `member#task` refer to it.
    pub name: String,
    pub dir: PathBuf,
    /// Path from the root, with `/`; `.` for the root.
    pub relative: String,
    pub manifest: Manifest,
    /// Indices of the members this one depends on.
    pub dependencies: Vec<usize>,
}

impl Workspace {
    /// The workspace containing `start`, and the index of the member `start` is in.
    pub fn discover(start: &Path) -> Result<(Self, usize), Error> {
        let project_root = find_project_root(start)?;
        let project = Project::load(&project_root)?;
        if project
            .manifest
            .workspace
            .as_ref()
            .is_some_and(|w| !w.members.is_empty())
        {
            return Ok((Self::load(project)?, 0));
        }
        // Is this project a member of a workspace further up?
        for dir in project_root.ancestors().skip(1) {
            if !dir.join(MANIFEST_FILE).is_file() {
                continue;
            }
            let outer = Project::load(dir)?;
            if outer
                .manifest
                .workspace
                .as_ref()
                .is_none_or(|w| w.members.is_empty())
            {
                continue;
            }
            let workspace = Self::load(outer)?;
            if let Some(index) = workspace.members.iter().position(|m| m.dir == project_root) {
                return Ok((workspace, index));
            }
            break;
        }
        let member = Member {
            name: project
                .manifest
                .name
                .clone()
                .unwrap_or_else(|| ROOT_LABEL.to_string()),
            dir: project.root.clone(),
            relative: ".".to_string(),
            manifest: project.manifest,
            dependencies: Vec::new(),
        };
        Ok((
            Self {
                root: project.root,
                members: vec![member],
                is_workspace: false,
            },
            0,
        ))
    }

    fn load(root: Project) -> Result<Self, Error> {
        let settings = root.manifest.workspace.clone().unwrap_or_else(|| unreachable!());
        let bad_glob = |err: super::glob::GlobError| {
            Error::usage(
                format!(
                    "invalid `workspace` in `{}`: {err}",
                    root.manifest_path().display()
                ),
                None,
            )
        };
        let members_globs = Globs::exact(&settings.members).map_err(bad_glob)?;
        let exclude = Globs::exact(&settings.exclude).map_err(bad_glob)?;
        let walk = Walk {
            gitignore: true,
            dirs: true,
            skip: Vec::new(),
        };
        let mut dirs: Vec<(String, PathBuf)> = members_globs
            .walk(&root.root, &walk)
            .into_iter()
            .filter(|found| found.kind == super::glob::Kind::Dir)
            .filter(|found| !(exclude.is_match(&found.relative)))
            // `packages/*` also matches `packages/a/src`: only the directories the globs name.
            .filter(|found| found.path.join(MANIFEST_FILE).is_file())
            .map(|found| (found.relative, found.path))
            .collect();
        // A member inside another member is still its own member; keep the walk order.
        dirs.sort();

        let root_package = read_package_json(&root.root);
        let mut members = vec![Member {
            name: root
                .manifest
                .name
                .clone()
                .or_else(|| root_package.as_ref().and_then(|p| p.name.clone()))
                .unwrap_or_else(|| ROOT_LABEL.to_string()),
            dir: root.root.clone(),
            relative: ".".to_string(),
            manifest: root.manifest.clone(),
            dependencies: Vec::new(),
        }];
        let mut packages = vec![root_package];
        for (relative, dir) in dirs {
            let project = Project::load(&dir)?;
            if !project.manifest.dependencies.is_empty() {
                return Err(Error::usage(
                    format!("workspace member `{relative}` declares `dependencies` in its `{MANIFEST_FILE}`"),
                    Some(format!(
                        "the tools of a workspace are declared once, in `{}`; move them there",
                        root.manifest_path().display()
                    )),
                ));
            }
            let package = read_package_json(&dir);
            let name = project
                .manifest
                .name
                .clone()
                .or_else(|| package.as_ref().and_then(|p| p.name.clone()))
                .unwrap_or_else(|| relative.clone());
            members.push(Member {
                name,
                dir,
                relative,
                manifest: project.manifest,
                dependencies: Vec::new(),
            });
            packages.push(package);
        }

        let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, member) in members.iter().enumerate() {
            if let Some(other) = by_name.insert(&member.name, index) {
                return Err(Error::usage(
                    format!(
                        "workspace members `{}` and `{}` are both named `{}`",
                        members[other].relative, member.relative, member.name
                    ),
                    Some("give one of them a different `name` in its velo.json".to_string()),
                ));
            }
        }
        let by_package: BTreeMap<&str, usize> = packages
            .iter()
            .enumerate()
            .filter_map(|(index, package)| Some((package.as_ref()?.name.as_deref()?, index)))
            .collect();

        let mut all_dependencies = Vec::new();
        for (index, member) in members.iter().enumerate() {
            let mut dependencies = BTreeSet::new();
            let declared = member
                .manifest
                .workspace
                .as_ref()
                .map_or(&[][..], |w| &w.dependencies[..]);
            for name in declared {
                let trimmed = name.trim_start_matches("./").trim_end_matches('/');
                let found = by_name
                    .get(name.as_str())
                    .copied()
                    .or_else(|| members.iter().position(|m| m.relative == trimmed));
                let Some(found) = found else {
                    let names = members.iter().map(|m| m.name.as_str());
                    let hint = crate::suggest::closest_or_all(name, names, "members");
                    return Err(Error::usage(
                        format!(
                            "`{}` depends on the workspace member `{name}`, which does not exist",
                            member.dir.join(MANIFEST_FILE).display()
                        ),
                        Some(hint),
                    ));
                };
                dependencies.insert(found);
            }
            if let Some(package) = &packages[index] {
                dependencies.extend(
                    package
                        .dependencies
                        .iter()
                        .filter_map(|name| by_package.get(name.as_str()).copied()),
                );
            }
            dependencies.remove(&index);
            all_dependencies.push(dependencies.into_iter().collect());
        }
        for (member, dependencies) in members.iter_mut().zip(all_dependencies) {
            member.dependencies = dependencies;
        }
        Ok(Self {
            root: root.root,
            members,
            is_workspace: true,
        })
    }

    /// Directories of the members other than `index` that lie inside its directory.
    pub fn nested_members(&self, index: usize) -> Vec<PathBuf> {
        let dir = &self.members[index].dir;
        self.members
            .iter()
            .enumerate()
            .filter(|(other, m)| *other != index && m.dir.starts_with(dir))
            .map(|(_, m)| m.dir.clone())
            .collect()
    }
}

/// The parts of a `package.json` a workspace needs.
struct PackageJson {
    name: Option<String>,
    dependencies: Vec<String>,
}

/// `dir/package.json`, if there is one that parses; a broken one is as good as none.
fn read_package_json(dir: &Path) -> Option<PackageJson> {
    let text = std::fs::read_to_string(dir.join("package.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let name = value.get("name").and_then(|n| n.as_str()).map(str::to_string);
    let dependencies = [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ]
    .iter()
    .filter_map(|field| value.get(field)?.as_object())
    .flat_map(|deps| deps.keys().cloned())
    .collect();
    Some(PackageJson { name, dependencies })
}

//! Putting a task artifact's outputs in place without trusting the artifact. An artifact is
//! hostile input wherever it came from: a remote (signed or not) or the local cache (whose
//! entries may have come from a remote).
//!
//! [`check_entry`] and [`check_tree`] run over every entry before anything is written: an entry
//! must be a plain relative path matched by the task's output globs (never in `.git` or `.velo`),
//! appear once, not sit beneath another entry that is not a directory, and every symlink must
//! resolve inside the workspace, following the artifact's own links and those already on disk
//! ([`resolve_link`], which `velo run` also applies when archiving). [`Writer`] then writes
//! without following a symlink: every parent below the member directory is checked one name at
//! a time (one that is an output is replaced, any other refuses the restore), files and links
//! are made beside their target and renamed over it, and directory modes and times are set
//! through a handle that cannot be a symlink. The no-follow primitives are `crate::fs::owned`'s;
//! what is here is the artifact's policy (which entries, which replacements).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::glob::Globs;
use crate::fs::owned::{create_real_dir, is_real_dir, open_dir_nofollow, set_mode};

/// What an entry (or a path on disk) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File,
    Dir,
    Link(PathBuf),
}

/// Why a restore cannot go ahead.
#[derive(Debug)]
pub enum Refusal {
    /// The artifact itself is unacceptable, whatever is on disk.
    Artifact(String),
    /// What is on disk in the project stands in the way (a symlink where a directory must be).
    Project(String),
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

/// Directories an artifact never writes into, whatever the outputs say.
const NEVER_RESTORED: [&str; 2] = [".git", ".velo"];

/// Whether a path component names `.git` or `.velo` as some file system may take it: case
/// folded (macOS and Windows), trailing dots and spaces dropped (Windows), so `.GIT/hooks` on a
/// case-insensitive disk is refused as `.git/hooks` is.
fn is_never_restored(part: &str) -> bool {
    let trimmed = part.trim_end_matches(['.', ' ']);
    NEVER_RESTORED
        .iter()
        .any(|never| trimmed.eq_ignore_ascii_case(never))
}

/// Check one output entry's path (relative to the member, without the `outputs/` prefix).
pub fn check_entry(relative: &str, outputs: &Globs) -> Result<(), Refusal> {
    let refuse = |why: &str| {
        Refusal::Artifact(format!(
            "entry `outputs/{}` {why}",
            crate::escape::untrusted(relative)
        ))
    };
    // Canonical names only (no `.`, no empty parts): two spellings of one path would slip past
    // the duplicate check.
    let plain = relative
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != "..")
        && Path::new(relative)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !relative.contains('\\');
    if !plain {
        return Err(refuse("is not a plain relative path"));
    }
    if relative.split('/').any(is_never_restored) {
        return Err(refuse("is inside `.git` or `.velo`"));
    }
    if !outputs.is_match(relative) {
        return Err(refuse("is not one of the task's outputs"));
    }
    Ok(())
}

/// Check the whole set of entries: none beneath a file or symlink of the artifact, and every
/// symlink resolving inside `root` (through the artifact's links and those already on disk).
pub fn check_tree(entries: &BTreeMap<String, Node>, member_dir: &Path, root: &Path) -> Result<(), Refusal> {
    for relative in entries.keys() {
        let mut prefix = String::new();
        for part in relative
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, p)| p)
        {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match entries.get(&prefix) {
                Some(Node::Dir) | None => {}
                Some(_) => {
                    return Err(Refusal::Artifact(format!(
                        "entry `outputs/{}` is inside `outputs/{}`, which is not a directory",
                        crate::escape::untrusted(relative),
                        crate::escape::untrusted(&prefix)
                    )))
                }
            }
        }
    }
    let member = member_dir
        .strip_prefix(root)
        .map_err(|_| Refusal::Project(format!("`{}` is outside the workspace", member_dir.display())))?;
    let overlay = |relative: &Path| -> Option<Node> { entries.get(relative.to_str()?).cloned() };
    for (relative, node) in entries {
        if let Node::Link(target) = node {
            resolve_link(root, member, relative, target, &overlay).map_err(|err| {
                let what = format!(
                    "symlink `outputs/{}` -> `{}` {}",
                    crate::escape::untrusted(relative),
                    crate::escape::untrusted(&target.to_string_lossy()),
                    err.reason
                );
                if err.via_disk {
                    Refusal::Project(format!("{what} (through a symlink in the project)"))
                } else {
                    Refusal::Artifact(what)
                }
            })?;
        }
    }
    Ok(())
}

/// Why a symlink's target is refused.
#[derive(Debug)]
pub struct LinkError {
    pub reason: &'static str,
    /// A symlink already on disk took part (so the artifact alone is not to blame).
    pub via_disk: bool,
}

/// Symlinks followed before a target counts as a loop (as Linux's `MAXSYMLINKS`).
const MAX_HOPS: usize = 40;

enum Step {
    Up,
    Name(OsString),
}

/// Follow the symlink `member/relative -> target` (`member` relative to `root`) to where it
/// leads, through the links `overlay` knows (the artifact's, by path relative to the member)
/// and, elsewhere, those on disk (never following one to look). `Ok` when it stays inside
/// `root`. The link's own parents are taken as the real directories the restore makes them.
pub fn resolve_link(
    root: &Path,
    member: &Path,
    relative: &str,
    target: &Path,
    overlay: &dyn Fn(&Path) -> Option<Node>,
) -> Result<(), LinkError> {
    let none = |_: &Path| None;
    let mut resolver = Resolver {
        root,
        overlay: &none,
        here: Vec::new(),
        fresh: None,
        hops: 0,
        via_disk: false,
    };
    // The member directory itself may sit behind symlinks on disk; the artifact's entries are
    // wherever it really is.
    resolver.follow(member)?;
    let member_here: PathBuf = resolver.here.iter().collect();
    let below_member = |path: &Path| overlay(path.strip_prefix(&member_here).ok()?);
    resolver.overlay = &below_member;
    let parent = Path::new(relative).parent().unwrap_or(Path::new(""));
    resolver
        .here
        .extend(parent.components().map(|c| c.as_os_str().to_os_string()));
    resolver.fresh = None;
    resolver.follow(target)
}

struct Resolver<'a> {
    root: &'a Path,
    overlay: &'a dyn Fn(&Path) -> Option<Node>,
    /// Where the walk is, as names below `root`.
    here: Vec<OsString>,
    /// From this depth down nothing is on disk yet (a directory the restore creates): only the
    /// artifact counts.
    fresh: Option<usize>,
    hops: usize,
    via_disk: bool,
}

impl Resolver<'_> {
    fn error(&self, reason: &'static str) -> LinkError {
        LinkError {
            reason,
            via_disk: self.via_disk,
        }
    }

    fn follow(&mut self, path: &Path) -> Result<(), LinkError> {
        let mut pending = VecDeque::new();
        self.prepend(&mut pending, path)?;
        while let Some(step) = pending.pop_front() {
            let name = match step {
                Step::Up => {
                    if self.here.pop().is_none() {
                        return Err(self.error("leads outside the project"));
                    }
                    if self.fresh.is_some_and(|depth| self.here.len() < depth) {
                        self.fresh = None;
                    }
                    continue;
                }
                Step::Name(name) => name,
            };
            self.here.push(name);
            let path: PathBuf = self.here.iter().collect();
            let node = match (self.overlay)(&path) {
                Some(node) => {
                    if node == Node::Dir && self.fresh.is_none() && !is_real_dir(&self.root.join(&path)) {
                        self.fresh = Some(self.here.len());
                    }
                    node
                }
                None if self.fresh.is_some() => Node::Dir,
                None => match std::fs::symlink_metadata(self.root.join(&path)) {
                    Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(self.root.join(&path)) {
                        Ok(target) => {
                            self.via_disk = true;
                            Node::Link(target)
                        }
                        Err(_) => Node::File,
                    },
                    Ok(m) if m.is_dir() => Node::Dir,
                    Ok(_) => Node::File,
                    // Nothing there: the rest is names in a directory that does not exist.
                    Err(_) => {
                        self.fresh = Some(self.here.len());
                        Node::Dir
                    }
                },
            };
            if let Node::Link(target) = node {
                self.hops += 1;
                if self.hops > MAX_HOPS {
                    return Err(self.error("is a loop of symlinks"));
                }
                self.here.pop();
                if self.fresh.is_some_and(|depth| self.here.len() < depth) {
                    self.fresh = None;
                }
                self.prepend(&mut pending, &target)?;
            }
        }
        Ok(())
    }

    /// Put `path`'s steps in front of `pending`.
    fn prepend(&self, pending: &mut VecDeque<Step>, path: &Path) -> Result<(), LinkError> {
        let mut steps = Vec::new();
        for component in path.components() {
            match component {
                Component::Prefix(_) | Component::RootDir => return Err(self.error("is absolute")),
                Component::CurDir => {}
                Component::ParentDir => steps.push(Step::Up),
                Component::Normal(name) => steps.push(Step::Name(name.to_os_string())),
            }
        }
        for step in steps.into_iter().rev() {
            pending.push_front(step);
        }
        Ok(())
    }
}

/// Writes checked entries below a member directory, never through a symlink.
pub struct Writer<'a> {
    member_dir: &'a Path,
    outputs: &'a Globs,
    /// Directories below the member directory known to be real (made or checked by this writer).
    real: HashSet<String>,
    /// Directory modes and times, set last: a read-only directory must not stop its own
    /// contents being written.
    dirs: Vec<(PathBuf, u32, u64)>,
}

fn io_refusal(path: &Path) -> impl FnOnce(io::Error) -> Refusal + '_ {
    move |source| Refusal::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl<'a> Writer<'a> {
    pub fn new(member_dir: &'a Path, outputs: &'a Globs) -> Self {
        Self {
            member_dir,
            outputs,
            real: HashSet::new(),
            dirs: Vec::new(),
        }
    }

    pub fn file(
        &mut self,
        relative: &str,
        contents: &mut impl Read,
        mode: u32,
        mtime: u64,
    ) -> Result<(), Refusal> {
        let parent = self.parent(relative)?;
        // Whatever was a directory here is not one any more.
        self.real.remove(relative);
        let target = self.member_dir.join(relative);
        self.clear_dir(&target, relative)?;
        let mut temp = tempfile::Builder::new()
            .prefix(".velo-restore-")
            .tempfile_in(&parent)
            .map_err(io_refusal(&parent))?;
        io::copy(contents, temp.as_file_mut()).map_err(io_refusal(&target))?;
        set_mode(temp.as_file(), mode).map_err(io_refusal(&target))?;
        temp.as_file()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
            .map_err(io_refusal(&target))?;
        // A rename replaces a file or symlink at the target; it never follows one.
        temp.persist(&target).map_err(|err| Refusal::Io {
            path: target.clone(),
            source: err.error,
        })?;
        Ok(())
    }

    pub fn symlink(&mut self, relative: &str, link: &Path) -> Result<(), Refusal> {
        let parent = self.parent(relative)?;
        // Whatever was a directory here is not one any more.
        self.real.remove(relative);
        let target = self.member_dir.join(relative);
        self.clear_dir(&target, relative)?;
        let mut tries = 0;
        let temp = loop {
            let temp = parent.join(format!(".velo-restore-{:016x}", fastrand::u64(..)));
            match crate::store::symlink(link, &temp) {
                Ok(()) => break temp,
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
                Err(err) => return Err(io_refusal(&target)(err)),
            }
        };
        std::fs::rename(&temp, &target).map_err(|err| {
            let _ = std::fs::remove_file(&temp);
            io_refusal(&target)(err)
        })
    }

    pub fn dir(&mut self, relative: &str, mode: u32, mtime: u64) -> Result<(), Refusal> {
        self.parent(relative)?;
        let target = self.member_dir.join(relative);
        self.real_dir(&target, relative, true)?;
        self.dirs.push((target, mode, mtime));
        Ok(())
    }

    /// Set the directories' modes and times, deepest first, through handles that cannot be
    /// symlinks.
    pub fn finish(self) {
        for (dir, mode, mtime) in self.dirs.into_iter().rev() {
            if let Ok(handle) = open_dir_nofollow(&dir) {
                let _ = handle.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime));
                let _ = set_mode(&handle, mode);
            }
        }
    }

    /// Make every directory above `relative` real, and return the innermost one.
    fn parent(&mut self, relative: &str) -> Result<PathBuf, Refusal> {
        let parts: Vec<&str> = relative.split('/').collect();
        let mut prefix = String::new();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !self.real.contains(&prefix) {
                let path = self.member_dir.join(&prefix);
                let replace = self.outputs.is_match(&prefix);
                self.real_dir(&path, &prefix, replace)?;
            }
        }
        Ok(match relative.rsplit_once('/') {
            Some((parent, _)) => self.member_dir.join(parent),
            None => self.member_dir.to_path_buf(),
        })
    }

    /// Make `path` a real directory. Something else there is replaced when it is an output
    /// (`replace`), and otherwise refuses the restore.
    fn real_dir(&mut self, path: &Path, relative: &str, replace: bool) -> Result<(), Refusal> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                if !replace {
                    let what = if m.file_type().is_symlink() {
                        "a symlink"
                    } else {
                        "not a directory"
                    };
                    return Err(Refusal::Project(format!(
                        "`{}` is {what}, and restoring never writes through one or replaces what is not an output",
                        crate::escape::untrusted(&path.display().to_string())
                    )));
                }
                // `remove_file` removes a symlink itself, never what it points at.
                std::fs::remove_file(path).map_err(io_refusal(path))?;
                create_real_dir(path).map_err(io_refusal(path))?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                create_real_dir(path).map_err(io_refusal(path))?
            }
            Err(err) => return Err(io_refusal(path)(err)),
        }
        self.real.insert(relative.to_string());
        Ok(())
    }

    /// Remove a directory where a file or symlink is to go, when everything in it is an output.
    fn clear_dir(&self, path: &Path, relative: &str) -> Result<(), Refusal> {
        if !is_real_dir(path) {
            return Ok(());
        }
        if let Some(kept) = self.first_non_output(path, relative) {
            return Err(Refusal::Project(format!(
                "`{}` is in the way of an output and holds `{}`, which is not one",
                crate::escape::untrusted(&path.display().to_string()),
                crate::escape::untrusted(&kept.display().to_string())
            )));
        }
        // `remove_dir_all` does not follow the symlinks inside.
        std::fs::remove_dir_all(path).map_err(io_refusal(path))
    }

    fn first_non_output(&self, dir: &Path, relative: &str) -> Option<PathBuf> {
        let entries = std::fs::read_dir(dir).ok()?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Some(path);
            };
            let child = format!("{relative}/{name}");
            if !self.outputs.is_match(&child) {
                return Some(path);
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if let Some(kept) = self.first_non_output(&path, &child) {
                    return Some(kept);
                }
            }
        }
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::run::artifact::{self, ArtifactMeta, ARTIFACT_FORMAT};
    use proptest::prelude::*;
    use std::io::Write;

    const KEY: &str = "k";

    /// Path → kind, mode, content or link target, and a file's modification time.
    type Snapshot = BTreeMap<PathBuf, (char, u32, Vec<u8>, Option<SystemTime>)>;

    #[derive(Debug, Clone)]
    enum Craft {
        File(String, Vec<u8>),
        Dir(String, u32),
        Link(String, String),
    }

    /// A tar header whose name (and link target) are the raw bytes given, `..` and all: what an
    /// attacker writes, not what the `tar` crate would let through.
    fn header(name: &str, kind: tar::EntryType, mode: u32, size: u64, link: Option<&str>) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(1_000_000_000);
        header.set_cksum();
        header
    }

    /// A zstd tar artifact: metadata naming `key`, a log, then `entries` as given.
    fn craft(key: &str, entries: &[Craft]) -> Vec<u8> {
        let meta = ArtifactMeta {
            format: ARTIFACT_FORMAT.to_string(),
            key: key.to_string(),
            task: "build".to_string(),
            duration_ms: 1,
            created: 0,
        };
        let meta = serde_json::to_vec(&meta).unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let regular = tar::EntryType::Regular;
        let meta_header = header("velo-task.json", regular, 0o644, meta.len() as u64, None);
        tar.append(&meta_header, &meta[..]).unwrap();
        tar.append(&header("log", regular, 0o644, 3, None), &b"log"[..])
            .unwrap();
        for entry in entries {
            match entry {
                Craft::File(name, content) => {
                    let h = header(name, regular, 0o644, content.len() as u64, None);
                    tar.append(&h, &content[..]).unwrap();
                }
                Craft::Dir(name, mode) => {
                    let h = header(name, tar::EntryType::Directory, *mode, 0, None);
                    tar.append(&h, io::empty()).unwrap();
                }
                Craft::Link(name, target) => {
                    let h = header(name, tar::EntryType::Symlink, 0o777, 0, Some(target));
                    tar.append(&h, io::empty()).unwrap();
                }
            }
        }
        let bytes = tar.into_inner().unwrap();
        let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
        encoder.write_all(&bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Everything under `dir` but its `cache` (not following symlinks): path → kind, mode, content or target,
    /// and a file's modification time. A directory's time is left out: adding an output to
    /// a directory changes it.
    fn snapshot(dir: &Path) -> Snapshot {
        use std::os::unix::fs::PermissionsExt;
        let mut out = BTreeMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(current) = pending.pop() {
            for entry in std::fs::read_dir(&current).unwrap() {
                let path = entry.unwrap().path();
                if path == dir.join("cache") {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).unwrap();
                let mode = meta.permissions().mode() & 0o7777;
                let value = if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&path).unwrap();
                    ('l', 0, target.into_os_string().into_encoded_bytes(), None)
                } else if meta.is_dir() {
                    pending.push(path.clone());
                    ('d', mode, Vec::new(), None)
                } else {
                    ('f', mode, std::fs::read(&path).unwrap(), meta.modified().ok())
                };
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), value);
            }
        }
        out
    }

    struct Project {
        _temp: tempfile::TempDir,
        base: PathBuf,
        root: PathBuf,
        member: PathBuf,
        outputs: Globs,
    }

    /// `<base>/sentinel` outside the workspace `<base>/ws`, whose member `m` has sources, an
    /// old output, a symlink out of the workspace that is not an output (`up`) and one that is
    /// (`dist/esc`). The outputs are `dist/**` and `out.txt`.
    fn project() -> Project {
        let temp = tempfile::tempdir().unwrap();
        let base = temp.path().canonicalize().unwrap();
        let root = base.join("ws");
        let member = root.join("m");
        for dir in [
            base.join("sentinel/deep"),
            member.join("src"),
            member.join("dist"),
            base.join("cache"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(base.join("sentinel/s.txt"), "outside").unwrap();
        std::fs::write(root.join("keep.txt"), "workspace file").unwrap();
        std::fs::write(member.join("src/a.txt"), "source").unwrap();
        std::fs::write(member.join("dist/old.txt"), "old output").unwrap();
        crate::store::symlink(Path::new("../.."), &member.join("up")).unwrap();
        crate::store::symlink(Path::new("../../../sentinel"), &member.join("dist/esc")).unwrap();
        let outputs = Globs::new(&["dist/**".to_string(), "out.txt".to_string()]).unwrap();
        Project {
            _temp: temp,
            base,
            root,
            member,
            outputs,
        }
    }

    fn restore(project: &Project, bytes: &[u8]) -> Result<artifact::Restored, artifact::ArtifactError> {
        let path = project.base.join("cache/artifact.tar.zst");
        std::fs::write(&path, bytes).unwrap();
        let limits = artifact::Limits {
            bytes: 1 << 20,
            entries: 100,
        };
        artifact::restore(
            &path,
            KEY,
            &project.member,
            &project.root,
            &project.outputs,
            limits,
        )
    }

    /// What changed between two snapshots must be inside the member's outputs, or a directory
    /// made to hold one.
    fn assert_only_outputs_changed(project: &Project, before: &Snapshot, after: &Snapshot) {
        let member = project.member.strip_prefix(&project.base).unwrap();
        for path in before.keys().chain(after.keys()) {
            if before.get(path) == after.get(path) {
                continue;
            }
            let relative = path.strip_prefix(member).ok().and_then(|p| p.to_str());
            let allowed = relative.is_some_and(|relative| {
                project.outputs.is_match(relative)
                    || (before.get(path).is_none() && after.get(path).is_some_and(|a| a.0 == 'd'))
            });
            assert!(
                allowed,
                "`{}` changed: {:?} -> {:?}",
                path.display(),
                before.get(path),
                after.get(path)
            );
        }
    }

    #[test]
    fn a_chain_of_symlinks_leading_up_is_refused() {
        let project = project();
        let before = snapshot(&project.base);
        let chain = [
            Craft::Link("outputs/dist/a".into(), ".".into()),
            Craft::Link("outputs/dist/b".into(), "a/../../..".into()),
        ];
        let err = restore(&project, &craft(KEY, &chain)).unwrap_err();
        assert!(err.is_bad_artifact(), "{err}");
        assert!(err.to_string().contains("outputs/dist/b"), "{err}");
        assert_eq!(snapshot(&project.base), before);
        // The same links pointing inside are fine.
        let inside = [
            Craft::Link("outputs/dist/a".into(), ".".into()),
            Craft::Link("outputs/dist/b".into(), "a/../src/a.txt".into()),
            Craft::Link("outputs/dist/c".into(), "../../keep.txt".into()),
        ];
        restore(&project, &craft(KEY, &inside)).unwrap();
        assert_eq!(
            std::fs::read_to_string(project.member.join("dist/b")).unwrap(),
            "source"
        );
    }

    /// A few kilobytes of zstd declaring more bytes or entries than the limits are refused from
    /// their headers, before anything is written; the entry is kept (a task may make that much).
    #[test]
    fn an_artifact_past_the_limits_writes_nothing() {
        let project = project();
        let before = snapshot(&project.base);
        let big = [Craft::File("outputs/dist/zeros".into(), vec![0; 2 << 20])];
        let many: Vec<Craft> = (0..101)
            .map(|i| Craft::File(format!("outputs/dist/f{i}"), Vec::new()))
            .collect();
        for entries in [&big[..], &many[..]] {
            let bytes = craft(KEY, entries);
            assert!(bytes.len() < 64 << 10);
            let err = restore(&project, &bytes).unwrap_err();
            assert!(matches!(err, artifact::ArtifactError::TooLarge { .. }), "{err}");
            assert!(!err.is_bad_artifact(), "{err}");
            assert_eq!(snapshot(&project.base), before);
        }
    }

    /// A remote artifact's modes keep only the permission bits: no setuid or setgid file, no
    /// sticky directory.
    #[test]
    fn special_mode_bits_are_dropped() {
        use std::os::unix::fs::PermissionsExt;
        let project = project();
        // `craft` writes files 0644: this one is setuid and setgid.
        let meta = serde_json::json!({"format": ARTIFACT_FORMAT, "key": KEY, "task": "t", "duration_ms": 0, "created": 0}).to_string();
        let mut tar = tar::Builder::new(Vec::new());
        let regular = tar::EntryType::Regular;
        tar.append(
            &header("velo-task.json", regular, 0o644, meta.len() as u64, None),
            meta.as_bytes(),
        )
        .unwrap();
        tar.append(
            &header("outputs/dist/d", tar::EntryType::Directory, 0o1777, 0, None),
            io::empty(),
        )
        .unwrap();
        tar.append(
            &header("outputs/dist/d/suid", regular, 0o6755, 2, None),
            &b"#!"[..],
        )
        .unwrap();
        let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
        encoder.write_all(&tar.into_inner().unwrap()).unwrap();
        restore(&project, &encoder.finish().unwrap()).unwrap();
        let mode = |path: &str| {
            std::fs::symlink_metadata(project.member.join(path))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("dist/d/suid"), 0o755);
        assert_eq!(mode("dist/d"), 0o777);
    }

    /// `.GIT` is `.git` on a case-insensitive disk (macOS, Windows), `.git.` on Windows: an
    /// artifact of a task whose outputs are `**` may not write hooks through either spelling.
    #[test]
    fn git_and_velo_are_refused_in_every_spelling() {
        let everything = Globs::new(&["**".to_string()]).unwrap();
        for name in [
            ".GIT/hooks/post-checkout",
            "a/.Git/config",
            ".git./hooks/x",
            ".git /x",
            ".VELO/bin/ls",
            ".git",
        ] {
            let err = check_entry(name, &everything).unwrap_err();
            assert!(
                matches!(&err, Refusal::Artifact(why) if why.contains("inside `.git` or `.velo`")),
                "{name}: {err:?}"
            );
        }
        for name in [".github/workflows/x", ".gitignore", "git/x", ".velocity"] {
            assert!(check_entry(name, &everything).is_ok(), "{name}");
        }
    }

    /// `dist/./sub` is `dist/sub`: a second spelling may not turn a directory into a link (to
    /// `src`, which is no output) for the entries after it.
    #[test]
    fn a_path_spelled_twice_is_refused() {
        let project = project();
        let before = snapshot(&project.base);
        let entries = [
            Craft::Dir("outputs/dist/sub/".into(), 0o755),
            Craft::Link("outputs/dist/./sub".into(), "../src".into()),
            Craft::File("outputs/dist/sub/pwned".into(), b"x".to_vec()),
        ];
        let err = restore(&project, &craft(KEY, &entries)).unwrap_err();
        assert!(err.is_bad_artifact(), "{err}");
        assert_eq!(snapshot(&project.base), before);
    }

    #[test]
    fn a_link_through_a_symlink_on_disk_is_not_the_artifacts_fault() {
        let project = project();
        let through = [Craft::Link("outputs/dist/x".into(), "../up/sentinel".into())];
        let err = restore(&project, &craft(KEY, &through)).unwrap_err();
        assert!(!err.is_bad_artifact(), "{err}");
        assert!(!project.member.join("dist/x").exists());
    }

    /// Long names (GNU long-name records, as `tar` writes past 100 bytes) restore; one longer
    /// than velo's limit is refused before it is read.
    #[test]
    fn long_names_are_read_within_a_limit() {
        let project = project();
        let long = format!("outputs/dist/{}/file.txt", "d".repeat(150));
        let target = format!("../{}", "x".repeat(150));
        let mut tar = tar::Builder::new(Vec::new());
        let mut append = |name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            match link {
                Some(link) => tar.append_link(&mut header, name, link).unwrap(),
                None => tar.append_data(&mut header, name, data).unwrap(),
            }
        };
        let meta = serde_json::json!({"format": ARTIFACT_FORMAT, "key": KEY, "task": "t", "duration_ms": 0, "created": 0});
        append(
            "velo-task.json",
            tar::EntryType::Regular,
            None,
            meta.to_string().as_bytes(),
        );
        append(&long, tar::EntryType::Regular, None, b"deep");
        append("outputs/dist/link", tar::EntryType::Symlink, Some(&target), b"");
        let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
        encoder.write_all(&tar.into_inner().unwrap()).unwrap();
        restore(&project, &encoder.finish().unwrap()).unwrap();
        let restored = project.member.join(long.trim_start_matches("outputs/"));
        assert_eq!(std::fs::read(restored).unwrap(), b"deep");
        assert_eq!(
            std::fs::read_link(project.member.join("dist/link")).unwrap(),
            Path::new(&target)
        );

        let mut tar = tar::Builder::new(Vec::new());
        let meta = meta.to_string();
        tar.append(
            &header(
                "velo-task.json",
                tar::EntryType::Regular,
                0o644,
                meta.len() as u64,
                None,
            ),
            meta.as_bytes(),
        )
        .unwrap();
        let huge = vec![b'a'; 1 << 20];
        tar.append(
            &header(
                "././@LongLink",
                tar::EntryType::GNULongName,
                0o644,
                huge.len() as u64,
                None,
            ),
            &huge[..],
        )
        .unwrap();
        tar.append(
            &header("outputs/dist/x", tar::EntryType::Regular, 0o644, 0, None),
            io::empty(),
        )
        .unwrap();
        let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
        encoder.write_all(&tar.into_inner().unwrap()).unwrap();
        let err = restore(&project, &encoder.finish().unwrap()).unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
    }

    /// A PAX `path` record is what the entry is named, so it is checked like any other name:
    /// one climbing out of the outputs is refused, one inside them restores.
    #[test]
    fn a_pax_path_is_checked_like_a_name() {
        let project = project();
        let meta = serde_json::json!({"format": ARTIFACT_FORMAT, "key": KEY, "task": "t", "duration_ms": 0, "created": 0})
            .to_string();
        let with_pax_path = |path: &str| {
            let mut tar = tar::Builder::new(Vec::new());
            let meta_header = header(
                "velo-task.json",
                tar::EntryType::Regular,
                0o644,
                meta.len() as u64,
                None,
            );
            tar.append(&meta_header, meta.as_bytes()).unwrap();
            tar.append_pax_extensions([("path", path.as_bytes())]).unwrap();
            tar.append(
                &header("outputs/dist/x", tar::EntryType::Regular, 0o644, 2, None),
                &b"hi"[..],
            )
            .unwrap();
            let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
            encoder.write_all(&tar.into_inner().unwrap()).unwrap();
            encoder.finish().unwrap()
        };
        let before = snapshot(&project.base);
        let err = restore(&project, &with_pax_path("outputs/../../sentinel/s.txt")).unwrap_err();
        assert!(err.is_bad_artifact(), "{err}");
        assert_eq!(snapshot(&project.base), before);
        restore(&project, &with_pax_path("outputs/dist/y")).unwrap();
        assert_eq!(std::fs::read(project.member.join("dist/y")).unwrap(), b"hi");
        assert!(!project.member.join("dist/x").exists());
    }

    fn component() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "dist", "dist", "a", "b", "..", ".", "up", "esc", "out.txt", ".git", "src", "old.txt",
        ])
    }

    fn path() -> impl Strategy<Value = String> {
        (any::<bool>(), prop::collection::vec(component(), 1..5))
            .prop_map(|(absolute, parts)| format!("{}{}", if absolute { "/" } else { "" }, parts.join("/")))
    }

    /// An entry name: mostly under `outputs/` (often in `dist`), sometimes not.
    fn name() -> impl Strategy<Value = String> {
        (0..10u8, path()).prop_map(|(prefix, path)| match prefix {
            0 => path,
            1..=5 => format!("outputs/dist/{}", path.trim_start_matches('/')),
            _ => format!("outputs/{}", path.trim_start_matches('/')),
        })
    }

    fn entry() -> impl Strategy<Value = Craft> {
        prop_oneof![
            (name(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(n, c)| Craft::File(n, c)),
            (name(), prop::sample::select(vec![0o755, 0o700, 0o750])).prop_map(|(n, m)| Craft::Dir(n, m)),
            (name(), path()).prop_map(|(n, t)| Craft::Link(n, t)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Whatever the entries (`..`, absolute paths, links, chains of links, duplicates, a
        /// directory replaced by a link), a restore changes nothing outside the outputs, and an
        /// artifact it refuses changes nothing at all.
        #[test]
        fn nothing_outside_the_outputs_changes(entries in prop::collection::vec(entry(), 0..8), right_key in prop::bool::weighted(0.9)) {
            let project = project();
            let before = snapshot(&project.base);
            let result = restore(&project, &craft(if right_key { KEY } else { "other" }, &entries));
            let after = snapshot(&project.base);
            assert_only_outputs_changed(&project, &before, &after);
            if let Err(err) = &result {
                if err.is_bad_artifact() {
                    prop_assert_eq!(&before, &after, "refused ({}) but changed files", err);
                }
            }
            if !right_key {
                prop_assert!(result.is_err());
            }
        }
    }
}

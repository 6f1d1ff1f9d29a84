//! Task globs (`inputs`, `outputs`, workspace `members`) and walking only the directories they
//! can match.
//!
//! Patterns are relative to a directory and use `/`. `*` stays within one path component and
//! `**` crosses them; a pattern that names a directory (`dist`) also matches everything below
//! it; a leading `!` excludes. Each pattern is walked from its literal prefix (`src/**/*.rs`
//! walks `src`), so `inputs: ["src/**"]` never reads `node_modules`.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use ignore::WalkBuilder;

#[derive(Debug, thiserror::Error)]
pub enum GlobError {
    #[error("`{pattern}` is not a valid glob: {reason}")]
    Invalid { pattern: String, reason: String },
    #[error("`{pattern}` points outside the project; globs are relative paths without `..`")]
    Escapes { pattern: String },
}

/// A compiled list of patterns.
#[derive(Debug, Clone)]
pub struct Globs {
    include: GlobSet,
    exclude: GlobSet,
    /// Literal prefixes to walk from, relative, `""` for the whole directory.
    bases: Vec<String>,
    /// How deep below its base a match can be, when no pattern has `**`.
    depth: Option<usize>,
}

/// What a walk found: a path relative to the walked directory (with `/`) and what it is.
#[derive(Debug, Clone)]
pub struct Found {
    pub relative: String,
    pub path: PathBuf,
    pub kind: Kind,
    /// The entry's own metadata (not following symlinks), when the walk read it anyway.
    pub metadata: Option<std::fs::Metadata>,
}

impl Found {
    /// The entry's own metadata: what the walk read, else read now.
    pub fn metadata(&self) -> std::io::Result<std::borrow::Cow<'_, std::fs::Metadata>> {
        match &self.metadata {
            Some(metadata) => Ok(std::borrow::Cow::Borrowed(metadata)),
            None => std::fs::symlink_metadata(&self.path).map(std::borrow::Cow::Owned),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink,
    Dir,
}

impl Kind {
    fn of(file_type: std::fs::FileType) -> Self {
        if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        }
    }
}

/// How a walk treats ignore files and what it yields.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// Skip what `.gitignore` (and `.ignore`) files exclude, with or without a git repository.
    pub gitignore: bool,
    /// Yield matched directories too (with `Kind::Dir`).
    pub dirs: bool,
    /// Absolute directories never entered (nested workspace members, for the root's tasks).
    pub skip: Vec<PathBuf>,
}

impl Globs {
    /// Patterns where a directory also stands for everything below it (inputs, outputs).
    pub fn new(patterns: &[String]) -> Result<Self, GlobError> {
        Self::build(patterns, true)
    }

    /// Patterns that match exactly what they say (workspace members).
    pub fn exact(patterns: &[String]) -> Result<Self, GlobError> {
        Self::build(patterns, false)
    }

    fn build(patterns: &[String], below: bool) -> Result<Self, GlobError> {
        let mut depth = Some(0);
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        let mut bases: Vec<String> = Vec::new();
        for raw in patterns {
            let (negated, pattern) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw.as_str()),
            };
            let pattern = normalize_pattern(raw, pattern)?;
            let builder = if negated { &mut exclude } else { &mut include };
            let variants = if pattern.is_empty() {
                vec!["**".to_string()]
            } else if below {
                vec![pattern.clone(), format!("{pattern}/**")]
            } else {
                vec![pattern.clone()]
            };
            for variant in variants {
                let glob = GlobBuilder::new(&variant)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|err| GlobError::Invalid {
                        pattern: raw.clone(),
                        reason: err.kind().to_string(),
                    })?;
                builder.add(glob);
            }
            if !negated {
                let base = literal_prefix(&pattern);
                depth = match depth {
                    Some(d) if !below && !pattern.contains("**") => {
                        let below_base =
                            pattern.split('/').count() - base.split('/').filter(|p| !p.is_empty()).count();
                        Some(d.max(below_base))
                    }
                    _ => None,
                };
                bases.push(base);
            }
        }
        let build = |builder: GlobSetBuilder| {
            builder.build().map_err(|err| GlobError::Invalid {
                pattern: patterns.join(", "),
                reason: err.to_string(),
            })
        };
        // A base inside another base is walked by the outer one.
        bases.sort();
        bases.dedup();
        let mut outer: Vec<String> = Vec::new();
        for base in bases {
            if !outer.iter().any(|o| is_within(&base, o)) {
                outer.push(base);
            }
        }
        Ok(Self {
            include: build(include)?,
            exclude: build(exclude)?,
            bases: outer,
            depth,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }

    pub fn is_match(&self, relative: &str) -> bool {
        self.include.is_match(relative) && !self.exclude.is_match(relative)
    }

    /// Everything under `dir` the patterns match, sorted by path. Symlinks are never followed.
    /// Unreadable entries are skipped. The walk itself is sequential: it only reads directories,
    /// and a thread pool costs more than that for the small trees most tasks have.
    pub fn walk(&self, dir: &Path, options: &Walk) -> Vec<Found> {
        let mut found = Vec::new();
        for base in &self.bases {
            let start = if base.is_empty() {
                dir.to_path_buf()
            } else {
                dir.join(base)
            };
            // A base behind a symlink (`dist -> /elsewhere` for `dist/js/**`) is not walked:
            // what it matched would be outside the directory, and outputs found there would be
            // archived and, before a restore, deleted.
            if !below_real_dirs(dir, base) {
                continue;
            }
            let Ok(metadata) = std::fs::symlink_metadata(&start) else {
                continue;
            };
            if !metadata.is_dir() {
                // A literal file is taken as named, even when an ignore file lists it.
                let kind = Kind::of(metadata.file_type());
                if self.is_match(base) {
                    found.push(Found {
                        relative: base.clone(),
                        path: start,
                        kind,
                        metadata: Some(metadata),
                    });
                }
                continue;
            }
            if !options.gitignore {
                if !base.is_empty() && options.dirs && self.is_match(base) {
                    found.push(Found {
                        relative: base.clone(),
                        path: start.clone(),
                        kind: Kind::Dir,
                        metadata: Some(metadata),
                    });
                }
                self.walk_plain(&start, base, 1, options, &mut found);
                continue;
            }
            let skip = options.skip.clone();
            let mut builder = WalkBuilder::new(&start);
            builder
                .standard_filters(false)
                .hidden(false)
                .follow_links(false)
                .max_depth(self.depth)
                .filter_entry(move |entry| {
                    let name = entry.file_name();
                    !(entry.depth() > 0
                        && entry.file_type().is_some_and(|t| t.is_dir())
                        && (name == ".git" || name == ".velo" || skip.iter().any(|s| s == entry.path())))
                });
            if options.gitignore {
                builder
                    .git_ignore(true)
                    .git_exclude(true)
                    .ignore(true)
                    .parents(true)
                    .require_git(false);
            }
            for entry in builder.build().flatten() {
                let Some(file_type) = entry.file_type() else {
                    continue;
                };
                let Some(relative) = entry.path().strip_prefix(dir).ok().and_then(slash_path) else {
                    continue;
                };
                let kind = Kind::of(file_type);
                if (kind != Kind::Dir || options.dirs) && !relative.is_empty() && self.is_match(&relative) {
                    found.push(Found {
                        relative,
                        path: entry.into_path(),
                        kind,
                        metadata: None,
                    });
                }
            }
        }
        found.sort_by(|a, b| a.relative.cmp(&b.relative));
        found.dedup_by(|a, b| a.relative == b.relative);
        found
    }
}

impl Globs {
    /// The walk without ignore files (outputs): plain directory reads, with each entry's
    /// metadata read relative to its directory, which the output fingerprints need anyway.
    /// `depth` is that of the entries of `dir` below the walk's start; `relative` is `dir`'s
    /// path from the walked directory.
    fn walk_plain(&self, dir: &Path, relative: &str, depth: usize, options: &Walk, found: &mut Vec<Found>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(metadata) = entry.metadata() else { continue };
            let file_type = metadata.file_type();
            let kind = Kind::of(file_type);
            let path = entry.path();
            if kind == Kind::Dir && (name == ".git" || name == ".velo" || options.skip.contains(&path)) {
                continue;
            }
            let mut entry_relative = String::with_capacity(relative.len() + name.len() + 1);
            if !relative.is_empty() {
                entry_relative.push_str(relative);
                entry_relative.push('/');
            }
            entry_relative.push_str(name);
            let matched = self.is_match(&entry_relative);
            if kind == Kind::Dir && self.depth.is_none_or(|max| depth < max) {
                self.walk_plain(&path, &entry_relative, depth + 1, options, found);
            }
            if matched && (kind != Kind::Dir || options.dirs) {
                found.push(Found {
                    relative: entry_relative,
                    path,
                    kind,
                    metadata: Some(metadata),
                });
            }
        }
    }
}

/// `pattern` without `./` and trailing `/`, refused when absolute or climbing out with `..`.
fn normalize_pattern(raw: &str, pattern: &str) -> Result<String, GlobError> {
    let escapes = || GlobError::Escapes {
        pattern: raw.to_string(),
    };
    if pattern.starts_with('/') || pattern.starts_with('\\') || Path::new(pattern).has_root() {
        return Err(escapes());
    }
    let mut parts = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(escapes()),
            _ => parts.push(part),
        }
    }
    if cfg!(windows) && pattern.contains(':') {
        return Err(escapes());
    }
    Ok(parts.join("/"))
}

/// The leading components of `pattern` that contain no glob syntax.
fn literal_prefix(pattern: &str) -> String {
    let mut parts = Vec::new();
    for part in pattern.split('/') {
        if part.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            break;
        }
        parts.push(part);
    }
    parts.join("/")
}

/// Whether every directory between `dir` and `dir/relative` is a real directory, not a symlink.
fn below_real_dirs(dir: &Path, relative: &str) -> bool {
    let Some((parents, _)) = relative.rsplit_once('/') else {
        return true;
    };
    crate::fs::owned::OwnedDir::existing(dir, Path::new(parents)).is_some()
}

/// Whether relative path `path` is `base` or below it.
fn is_within(path: &str, base: &str) -> bool {
    base.is_empty() || path == base || path.strip_prefix(base).is_some_and(|rest| rest.starts_with('/'))
}

/// A relative path with `/` separators, `None` if it is not valid UTF-8.
pub fn slash_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(patterns: &[&str]) -> Globs {
        Globs::new(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn star_stays_in_one_component() {
        let g = globs(&["src/*.rs"]);
        assert!(g.is_match("src/main.rs"));
        assert!(!g.is_match("src/a/b.rs"));
        let g = globs(&["src/**/*.rs"]);
        assert!(g.is_match("src/a/b.rs"));
        assert!(g.is_match("src/main.rs"));
    }

    #[test]
    fn directory_names_match_their_contents() {
        let g = globs(&["dist", "./out/"]);
        assert!(g.is_match("dist"));
        assert!(g.is_match("dist/a/b.js"));
        assert!(g.is_match("out/x"));
        assert!(!g.is_match("distribution"));
    }

    #[test]
    fn negation_excludes() {
        let g = globs(&["src/**", "!src/**/*.test.js"]);
        assert!(g.is_match("src/a.js"));
        assert!(!g.is_match("src/x/a.test.js"));
    }

    #[test]
    fn bases_are_literal_prefixes_without_nesting() {
        let g = globs(&["src/**/*.rs", "src/lib/x.rs", "Cargo.toml", "!target/**"]);
        assert_eq!(g.bases, vec!["Cargo.toml", "src"]);
        let g = globs(&["**/*.md", "docs/*"]);
        assert_eq!(g.bases, vec![""]);
    }

    #[test]
    fn escaping_patterns_are_refused() {
        for bad in ["../x", "/etc/passwd", "a/../../b", "!../x"] {
            assert!(
                matches!(Globs::new(&[bad.to_string()]), Err(GlobError::Escapes { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Globs::new(&["src/[".to_string()]),
            Err(GlobError::Invalid { .. })
        ));
    }

    #[test]
    fn walk_respects_gitignore_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "src/a.rs",
            "src/gen/b.rs",
            "docs/x.md",
            "member/src/c.rs",
            ".velo/bin/t",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        std::fs::write(root.join(".gitignore"), "gen/\n").unwrap();
        let all = globs(&[""]);
        let names = |found: Vec<Found>| found.into_iter().map(|f| f.relative).collect::<Vec<_>>();
        let walk = Walk {
            gitignore: true,
            dirs: false,
            skip: vec![root.join("member")],
        };
        assert_eq!(
            names(all.walk(root, &walk)),
            vec![".gitignore", "docs/x.md", "src/a.rs"]
        );
        let raw = Walk::default();
        assert_eq!(
            names(globs(&["src/**"]).walk(root, &raw)),
            vec!["src/a.rs", "src/gen/b.rs"]
        );
        // A literal file is taken even when ignored.
        std::fs::write(root.join(".gitignore"), "docs/\n").unwrap();
        assert_eq!(names(globs(&["docs/x.md"]).walk(root, &walk)), vec!["docs/x.md"]);
    }
}

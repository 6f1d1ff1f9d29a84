//! What is on disk under a directory, links not followed: the one snapshot the tests compare
//! before and after to show that nothing outside what a command owns changed.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Relative path (`/`-separated) → (kind `f`/`d`/`l`, mode, content or link target, a file's
/// modification time in seconds). A directory's time is left out: adding an entry changes it.
pub type Tree = BTreeMap<String, (char, u32, Vec<u8>, i64)>;

/// Everything under `dir` but the relative paths in `skip` (and what is below them). A
/// directory or file the test cannot read counts as empty.
pub fn tree(dir: &Path, skip: &[&str]) -> Tree {
    fn visit(base: &Path, dir: &Path, skip: &[&str], out: &mut Tree) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(base).unwrap().display().to_string();
            if skip.contains(&relative.as_str()) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(
                    relative,
                    ('l', 0, target.into_os_string().into_encoded_bytes(), 0),
                );
            } else if meta.is_dir() {
                out.insert(relative, ('d', mode, Vec::new(), 0));
                visit(base, &path, skip, out);
            } else {
                let content = std::fs::read(&path).unwrap_or_default();
                out.insert(relative, ('f', mode, content, meta.mtime()));
            }
        }
    }
    let mut out = Tree::new();
    visit(dir, dir, skip, &mut out);
    out
}

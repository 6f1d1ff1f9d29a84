//! Task keys: blake3 over everything that decides what a task produces.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use super::glob::{Found, Globs, Kind, Walk};

/// Bumped when the key's meaning changes, so old cache entries are never mistaken for new ones.
pub const KEY_FORMAT: &str = "velo-task-key-v1";

/// What goes into a task's key. Serialized as JSON and hashed; every field is sorted so the
/// same task gives the same key on every machine with the same files.
#[derive(Debug, Serialize)]
pub struct KeyInput<'a> {
    pub format: &'static str,
    pub platform: &'a str,
    /// The member's path from the workspace root and the task's name.
    pub member: &'a str,
    pub task: &'a str,
    pub command: &'a str,
    pub cwd: Option<&'a str>,
    pub outputs: &'a [String],
    pub inputs: InputsDigest,
    /// The values of the variables the task lists (`None`: unset).
    pub env: BTreeMap<&'a str, Option<&'a str>>,
    /// The `env` of the root's and the member's `velo.json`, as written.
    pub project_env: BTreeMap<&'a str, serde_json::Value>,
    /// Locked tools: key → `version sha256` for this platform.
    pub tools: &'a BTreeMap<String, String>,
    /// Labels and keys of the tasks this one depends on.
    pub dependencies: BTreeMap<&'a str, &'a str>,
}

impl KeyInput<'_> {
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("a key input always serializes");
        blake3::hash(&json).to_hex().to_string()
    }
}

/// The start of a key, as messages show it.
pub fn short(key: &str) -> &str {
    key.get(..16).unwrap_or(key)
}

/// The input files of a task, folded into one digest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InputsDigest {
    pub files: usize,
    pub bytes: u64,
    pub digest: String,
}

/// Hash the files under `dir` that `inputs` match and `outputs` do not, on every core when there
/// are many. A symlink counts as its target path, not the file it points to; the executable bit
/// counts too.
pub fn hash_inputs(
    dir: &Path,
    inputs: &Globs,
    outputs: &Globs,
    walk: &Walk,
) -> std::io::Result<InputsDigest> {
    let files: Vec<Found> = inputs
        .walk(dir, walk)
        .into_iter()
        .filter(|found| found.kind != Kind::Dir && !outputs.is_match(&found.relative))
        .collect();
    let hash_all = |chunk: &[Found]| -> std::io::Result<Vec<Option<Hashed>>> {
        chunk
            .iter()
            .map(|found| match hash_file(found) {
                Ok(hashed) => Ok(Some(hashed)),
                // A file deleted while walking is simply not an input.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(err) => Err(std::io::Error::new(
                    err.kind(),
                    format!("failed to read input `{}`: {err}", found.path.display()),
                )),
            })
            .collect()
    };
    let threads = super::parallelism();
    let hashed: Vec<Option<Hashed>> = if files.len() < PARALLEL_FROM || threads < 2 {
        hash_all(&files)?
    } else {
        let chunk = files.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = files
                .chunks(chunk)
                .map(|part| scope.spawn(move || hash_all(part)))
                .collect();
            let mut all = Vec::with_capacity(files.len());
            for worker in workers {
                all.extend(worker.join().expect("hashing never panics")?);
            }
            Ok::<_, std::io::Error>(all)
        })?
    };
    let mut all = blake3::Hasher::new();
    let mut count = 0;
    let mut bytes = 0;
    for (found, hashed) in files.iter().zip(hashed) {
        let Some((digest, size)) = hashed else { continue };
        all.update(found.relative.as_bytes());
        all.update(&[0]);
        all.update(&digest);
        count += 1;
        bytes += size;
    }
    Ok(InputsDigest {
        files: count,
        bytes,
        digest: all.finalize().to_hex().to_string(),
    })
}

/// A file's digest and size.
type Hashed = ([u8; 32], u64);

/// Below this many files, starting threads costs more than hashing on one.
const PARALLEL_FROM: usize = 64;

fn hash_file(found: &Found) -> std::io::Result<([u8; 32], u64)> {
    let mut hasher = blake3::Hasher::new();
    if found.kind == Kind::Symlink {
        let target = std::fs::read_link(&found.path)?;
        hasher.update(b"symlink\0");
        hasher.update(target.as_os_str().as_encoded_bytes());
        return Ok((*hasher.finalize().as_bytes(), 0));
    }
    let mut file = match crate::fs::owned::open_regular(&found.path, std::fs::OpenOptions::new().read(true)) {
        Ok(file) => file,
        // A FIFO, socket or device counts by its name alone: reading one could block forever.
        Err(err) if err.kind() == std::io::ErrorKind::InvalidInput => {
            hasher.update(b"special\0");
            return Ok((*hasher.finalize().as_bytes(), 0));
        }
        Err(err) => return Err(err),
    };
    let metadata = file.metadata()?;
    hasher.update(if crate::fs::is_executable(&metadata) {
        b"exec\0"
    } else {
        b"file\0"
    });
    let bytes = if metadata.len() <= 64 * 1024 {
        let mut buffer = Vec::with_capacity(metadata.len() as usize + 1);
        file.read_to_end(&mut buffer)?;
        hasher.update(&buffer);
        buffer.len() as u64
    } else {
        let mut counted = 0;
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            counted += n as u64;
        }
        counted
    };
    Ok((*hasher.finalize().as_bytes(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(dir: &Path, inputs: &[&str], outputs: &[&str]) -> InputsDigest {
        let strings = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let walk = Walk {
            gitignore: true,
            ..Walk::default()
        };
        hash_inputs(
            dir,
            &Globs::new(&strings(inputs)).unwrap(),
            &Globs::new(&strings(outputs)).unwrap(),
            &walk,
        )
        .unwrap()
    }

    #[test]
    fn content_names_and_modes_change_the_digest_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.txt"), "a").unwrap();
        std::fs::write(root.join("notes.txt"), "n").unwrap();
        let first = digest_of(root, &["src/**"], &[]);
        assert_eq!(first.files, 1);
        std::fs::write(root.join("notes.txt"), "changed").unwrap();
        assert_eq!(digest_of(root, &["src/**"], &[]), first, "unrelated file");
        std::fs::write(root.join("src/a.txt"), "b").unwrap();
        let changed = digest_of(root, &["src/**"], &[]);
        assert_ne!(changed, first, "content");
        std::fs::rename(root.join("src/a.txt"), root.join("src/c.txt")).unwrap();
        let renamed = digest_of(root, &["src/**"], &[]);
        assert_ne!(renamed, changed, "name");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.join("src/c.txt"), std::fs::Permissions::from_mode(0o755)).unwrap();
            assert_ne!(digest_of(root, &["src/**"], &[]), renamed, "mode");
        }
    }

    #[test]
    fn outputs_are_not_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("in.txt"), "a").unwrap();
        let before = digest_of(root, &[""], &["dist"]);
        std::fs::create_dir_all(root.join("dist")).unwrap();
        std::fs::write(root.join("dist/out.txt"), "o").unwrap();
        assert_eq!(digest_of(root, &[""], &["dist"]), before);
    }
}

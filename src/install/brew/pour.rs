//! Relocating a keg in place in a staging directory: text placeholders, ELF loaders and
//! RPATHs, a pinned bottle's compiled-in prefix; then `.bottle/etc` and `var`, and the
//! `post_install` steps velo knows.
//!
//! The staging tree is linked from the store, so a file is never edited: its new content goes
//! to a new file beside it, renamed over the link (and hard-linked over the file's other names
//! in the keg, as Homebrew keeps them).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{elf, io_error, text, BrewError, LINUXBREW_PREFIX};
use crate::fs::owned::OwnedDir;

/// Where a keg is poured, and what it was built for.
#[derive(Debug, Clone)]
pub struct Relocation {
    pub formula: String,
    /// The new `HOMEBREW_PREFIX`.
    pub prefix: PathBuf,
    /// The keg's runtime dependencies (formula names), for `@@HOMEBREW_JAVA@@`.
    pub dependencies: Vec<String>,
    /// A pinned bottle's prefix (`/home/linuxbrew/.linuxbrew`), replaced inside strings.
    pub pinned: Option<String>,
}

impl Relocation {
    pub fn cellar(&self) -> PathBuf {
        self.prefix.join("Cellar")
    }

    pub fn loader(&self) -> PathBuf {
        self.prefix.join("lib").join("ld.so")
    }

    /// Text replacements, longest first as `keg_relocate.rb` orders them.
    fn pairs(&self) -> Vec<(String, String)> {
        let prefix = self.prefix.to_string_lossy().into_owned();
        let cellar = self.cellar().to_string_lossy().into_owned();
        let mut pairs = vec![
            ("@@HOMEBREW_REPOSITORY@@".to_string(), prefix.clone()),
            ("@@HOMEBREW_LIBRARY@@".to_string(), format!("{prefix}/Library")),
            ("@@HOMEBREW_PREFIX@@".to_string(), prefix.clone()),
            ("@@HOMEBREW_CELLAR@@".to_string(), cellar.clone()),
            (
                "@@HOMEBREW_PERL@@".to_string(),
                format!("{prefix}/opt/perl/bin/perl"),
            ),
        ];
        if let Some(openjdk) = self
            .dependencies
            .iter()
            .find(|d| *d == "openjdk" || d.starts_with("openjdk@"))
        {
            pairs.push((
                "@@HOMEBREW_JAVA@@".to_string(),
                format!("{prefix}/opt/{openjdk}/libexec"),
            ));
        }
        if let Some(old) = &self.pinned {
            pairs.push((format!("{old}/Cellar"), cellar));
            pairs.push((old.clone(), prefix));
        }
        pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        pairs
    }

    /// An RPATH entry with the placeholders and Homebrew's default prefix replaced.
    fn map_rpath(&self, entry: &str) -> String {
        let prefix = self.prefix.to_string_lossy();
        let cellar = self.cellar().to_string_lossy().into_owned();
        entry
            .replace("@@HOMEBREW_CELLAR@@", &cellar)
            .replace("@@HOMEBREW_PREFIX@@", &prefix)
            .replace(&format!("{LINUXBREW_PREFIX}/Cellar"), &cellar)
            .replace(LINUXBREW_PREFIX, &prefix)
    }
}

/// Relocate every file of the keg at `keg` (a staging tree) for `relocation`. Fails, before the
/// keg goes anywhere, on an ELF file velo cannot rewrite or one needing a newer glibc.
pub fn relocate_keg(keg: &Path, relocation: &Relocation) -> Result<(), BrewError> {
    if let Some(old) = &relocation.pinned {
        if relocation.prefix.as_os_str().len() > old.len() {
            return Err(BrewError::PrefixTooLong {
                formula: relocation.formula.clone(),
                old: old.clone(),
                new: relocation.prefix.clone(),
            });
        }
    }
    let mut files = Vec::new();
    collect_files(keg, &mut files)?;
    // Names of one inode are relocated once, then all point at the new file.
    let mut groups: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
    let mut order = Vec::new();
    for (path, dev, ino) in files {
        let group = groups.entry((dev, ino)).or_default();
        if group.is_empty() {
            order.push((dev, ino));
        }
        group.push(path);
    }
    let pairs = relocation.pairs();
    let host = elf::host_glibc();
    let patch_elf = relocation.formula != "glibc";
    let loader = relocation.loader().to_string_lossy().into_owned();
    let host_loader = elf::host_loader().ok_or(BrewError::NoLoader)?;
    let host_loader = host_loader.to_string_lossy();
    for key in order {
        let names = &groups[&key];
        let first = &names[0];
        let data = fs_err::read(first).map_err(io_error(first))?;
        let new = if elf::is_elf(&data) {
            if let (Some(needed), Some(host)) = (elf::glibc_needed(&data), host) {
                if needed > host && patch_elf {
                    return Err(BrewError::GlibcTooOld {
                        formula: relocation.formula.clone(),
                        path: first.strip_prefix(keg).unwrap_or(first).to_path_buf(),
                        needed,
                        host,
                    });
                }
            }
            let patched = if patch_elf {
                elf::relocate(&data, &loader, &host_loader, &|entry| relocation.map_rpath(entry)).map_err(
                    |reason| BrewError::BadElf {
                        formula: relocation.formula.clone(),
                        path: first.strip_prefix(keg).unwrap_or(first).to_path_buf(),
                        reason,
                    },
                )?
            } else {
                None
            };
            pin_strings(patched, &data, relocation)
        } else if is_macho(&data) {
            // H-macho: on macOS, `super::macho::relocate(&data, &map)` goes here.
            None
        } else if text::is_text(&data) {
            text::replace_all(&data, &pairs).map(text::fix_long_shebang)
        } else {
            pin_strings(None, &data, relocation)
        };
        if let Some(new) = new {
            replace_files(names, &new)?;
        }
    }
    Ok(())
}

/// `patched` (or `data`) with a pinned bottle's prefix replaced inside its strings.
fn pin_strings(patched: Option<Vec<u8>>, data: &[u8], relocation: &Relocation) -> Option<Vec<u8>> {
    let Some(old) = &relocation.pinned else {
        return patched;
    };
    let new = relocation.prefix.to_string_lossy();
    let base = patched.as_deref().unwrap_or(data);
    text::replace_in_c_strings(base, old.as_bytes(), new.as_bytes()).or(patched)
}

fn is_macho(data: &[u8]) -> bool {
    matches!(
        data.get(..4),
        Some([0xcf, 0xfa, 0xed, 0xfe] | [0xce, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe])
    )
}

/// Regular files under `dir`, with their device and inode; links are not followed.
fn collect_files(dir: &Path, out: &mut Vec<(PathBuf, u64, u64)>) -> Result<(), BrewError> {
    for entry in fs_err::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let metadata = std::fs::symlink_metadata(&path).map_err(io_error(&path))?;
        if metadata.is_dir() {
            collect_files(&path, out)?;
        } else if metadata.is_file() {
            out.push((path, metadata.dev(), metadata.ino()));
        }
    }
    Ok(())
}

/// Write `data` to a new file beside `names[0]` with its permissions, and rename it over each
/// name: the store's file, linked there, is left as it was.
fn replace_files(names: &[PathBuf], data: &[u8]) -> Result<(), BrewError> {
    let first = &names[0];
    let dir = first.parent().unwrap_or(Path::new("."));
    let mode = std::fs::metadata(first).map_err(io_error(first))?.permissions();
    let mut temp = tempfile::Builder::new()
        .prefix(".velo-relocate-")
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    std::io::Write::write_all(&mut temp, data).map_err(io_error(first))?;
    fs_err::set_permissions(temp.path(), mode).map_err(io_error(first))?;
    for other in &names[1..] {
        let dir = other.parent().unwrap_or(Path::new("."));
        let link = dir.join(format!(".velo-relocate-{}", fastrand::u64(..)));
        fs_err::hard_link(temp.path(), &link).map_err(io_error(other))?;
        fs_err::rename(&link, other).map_err(io_error(other))?;
    }
    temp.persist(first).map_err(|err| BrewError::Io {
        path: first.clone(),
        source: err.error,
    })?;
    Ok(())
}

/// Copy the keg's `.bottle/etc` and `.bottle/var` into the prefix's `etc/` and `var/`, never
/// overwriting a file that is there (a user's edited configuration). The prefix's directories
/// are reached through [`OwnedDir`]: a link a repository put at `.velo/etc` is replaced, never
/// written through.
pub fn install_etc_var(keg: &Path, prefix: &OwnedDir) -> Result<(), BrewError> {
    for name in ["etc", "var"] {
        let from = keg.join(".bottle").join(name);
        if std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_dir()) {
            let to = prefix.ensure_dir(name).map_err(io_error(prefix.path()))?;
            copy_missing(&from, &to)?;
        }
    }
    Ok(())
}

fn copy_missing(from: &Path, to: &OwnedDir) -> Result<(), BrewError> {
    for entry in fs_err::read_dir(from).map_err(io_error(from))? {
        let entry = entry.map_err(io_error(from))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let source = entry.path();
        let target = to.join(&name).map_err(io_error(to.path()))?;
        let metadata = std::fs::symlink_metadata(&source).map_err(io_error(&source))?;
        if metadata.is_dir() {
            // Into a real directory only: whatever else is there stays, and is not followed.
            match to.kind(&name) {
                None => copy_missing(&source, &to.ensure_dir(&name).map_err(io_error(&target))?)?,
                Some(kind) if kind.is_dir() => {
                    if let Some(dir) = to.dir(&name) {
                        copy_missing(&source, &dir)?;
                    }
                }
                Some(_) => {}
            }
        } else if to.kind(&name).is_some() {
            continue;
        } else if metadata.is_file() {
            fs_err::copy(&source, &target).map_err(io_error(&target))?;
        } else if metadata.file_type().is_symlink() {
            let link = fs_err::read_link(&source).map_err(io_error(&source))?;
            crate::store::link::symlink(&link, &target).map_err(io_error(&target))?;
        }
    }
    Ok(())
}

/// The host's CA bundle, where the common distributions keep it.
const HOST_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Run `formula`'s `post_install` as far as velo knows how: certificates for
/// `ca-certificates` and `openssl@3`. Returns a warning for any other formula that has one.
pub fn post_install(formula: &str, keg: &Path, prefix: &OwnedDir) -> Result<Option<String>, BrewError> {
    let host_bundle = HOST_BUNDLES.iter().map(Path::new).find(|p| p.is_file());
    let etc = prefix.ensure_dir("etc").map_err(io_error(prefix.path()))?;
    let ca_pem = etc.path().join("ca-certificates").join("cert.pem");
    match formula {
        "ca-certificates" => {
            // Homebrew writes the bundle to `etc/ca-certificates/cert.pem`; on Linux it adds
            // the system's certificates, so the host's bundle is used when there is one.
            // The keg's file is read without following a link (it may point anywhere).
            let bytes = match host_bundle {
                Some(host) => std::fs::read(host),
                None => {
                    crate::fs::owned::read_regular(&keg.join("share/ca-certificates/cacert.pem"), 64 << 20)
                }
            };
            if let Ok(bytes) = bytes {
                let dir = etc.ensure_dir("ca-certificates").map_err(io_error(etc.path()))?;
                dir.write_atomic("cert.pem", &bytes, false)
                    .map_err(io_error(&ca_pem))?;
            }
            Ok(None)
        }
        name if name.starts_with("openssl@") => {
            // Homebrew links `etc/openssl@3/cert.pem` to ca-certificates' bundle.
            let dir = etc.ensure_dir(name).map_err(io_error(etc.path()))?;
            let target = if ca_pem.is_file() {
                Some(ca_pem)
            } else {
                host_bundle.map(Path::to_path_buf)
            };
            if let Some(target) = target {
                super::prefix::replace_link(&target, &dir.path().join("cert.pem"))?;
            }
            Ok(None)
        }
        other => Ok(Some(format!(
            "`{other}` has a post-install step velo does not run; it may need setting up by hand"
        ))),
    }
}

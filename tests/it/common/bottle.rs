//! Homebrew bottles built at test time from real ELF programs and libraries (`cc`, then
//! `patchelf` for Homebrew's placeholder loader and RPATH), laid out as real bottles are
//! (`NAME/VERSION/...`, `INSTALL_RECEIPT.json`, `.bottle/etc`), and the `velo.lock` that
//! installs them from files on disk.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::archive::{self, Entry};

/// The loader Homebrew's Linux bottles name.
pub const LOADER: &str = "@@HOMEBREW_PREFIX@@/lib/ld.so";

/// Whether `cc` and `patchelf` are here; without them the test is skipped (and fails on CI,
/// whose machine installs them).
pub fn tools_available() -> bool {
    let found = ["cc", "patchelf"].iter().all(|program| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "`cc` or `patchelf` is not installed; CI must run this test"
        );
        eprintln!("note: `cc` or `patchelf` is not installed here; skipping this test");
    }
    found
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a build tool");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds ELF files in a scratch directory.
pub struct Compiler {
    dir: PathBuf,
}

impl Compiler {
    pub fn new(dir: &Path) -> Self {
        fs_err::create_dir_all(dir).unwrap();
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// `lib<name>.so` from C `source`, with its soname set.
    pub fn library(&self, name: &str, source: &str) -> Vec<u8> {
        let (src, out) = (
            self.dir.join(format!("{name}.c")),
            self.dir.join(format!("lib{name}.so")),
        );
        fs_err::write(&src, source).unwrap();
        run(Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&src)
            .arg(format!("-Wl,-soname,lib{name}.so")));
        fs_err::read(&out).unwrap()
    }

    /// A program from C `source` linked against `libs` (built by [`Compiler::library`]), its
    /// loader set to Homebrew's placeholder and its RPATH to `rpath` (when given).
    pub fn program(&self, name: &str, source: &str, libs: &[&str], rpath: Option<&str>) -> Vec<u8> {
        let (src, out) = (self.dir.join(format!("{name}.c")), self.dir.join(name));
        fs_err::write(&src, source).unwrap();
        let mut command = Command::new("cc");
        command.arg("-o").arg(&out).arg(&src).arg("-L").arg(&self.dir);
        for lib in libs {
            command.arg(format!("-l{lib}"));
        }
        run(&mut command);
        let mut patch = Command::new("patchelf");
        patch
            .arg("--set-interpreter")
            .arg(self.argument("interpreter", LOADER));
        if let Some(rpath) = rpath {
            patch.arg("--set-rpath").arg(self.argument("rpath", rpath));
        }
        run(patch.arg(&out));
        fs_err::read(&out).unwrap()
    }
}

impl Compiler {
    /// `value` as a patchelf argument: one starting with `@` (as Homebrew's placeholders do)
    /// names a file to read the value from, so the value goes through a file.
    fn argument(&self, what: &str, value: &str) -> String {
        let path = self.dir.join(format!("{what}.arg"));
        fs_err::write(&path, value).unwrap();
        format!("@{}", path.display())
    }
}

/// A bottle tarball: `entries` (relative to the keg) under `NAME/VERSION/`, with an
/// `INSTALL_RECEIPT.json` as Homebrew writes one.
pub fn bottle(name: &str, version: &str, entries: Vec<Entry>) -> Vec<u8> {
    let receipt = json!({ "homebrew_version": "4.4.0", "poured_from_bottle": false, "source": { "path": format!("@@HOMEBREW_REPOSITORY@@/Library/Taps/homebrew/homebrew-core/Formula/{name}.rb") } });
    let mut all = vec![archive::file(
        &format!("{name}/{version}/INSTALL_RECEIPT.json"),
        serde_json::to_vec_pretty(&receipt).unwrap(),
    )];
    for mut entry in entries {
        entry.path = format!("{name}/{version}/{}", entry.path);
        all.push(entry);
    }
    archive::tar_gz(&all)
}

/// One bottle in a lock.
pub struct Locked {
    pub name: &'static str,
    pub version: &'static str,
    pub tarball: Vec<u8>,
    pub dependencies: Vec<&'static str>,
    /// `:any`, `:any_skip_relocation` or a Cellar path.
    pub cellar: &'static str,
    pub keg_only: bool,
    pub post_install: bool,
}

impl Locked {
    pub fn new(name: &'static str, version: &'static str, tarball: Vec<u8>) -> Self {
        Self {
            name,
            version,
            tarball,
            dependencies: Vec::new(),
            cellar: ":any",
            keg_only: false,
            post_install: false,
        }
    }
}

/// Write each bottle to `<dir>/<name>-<version>.bottle.tar.gz` and return a `velo.lock` for
/// `linux-x86_64` whose direct dependencies are `direct`, with URLs relative to `root`.
pub fn lock(root: &Path, dir: &Path, bottles: &[Locked], direct: &[&str]) -> String {
    fs_err::create_dir_all(dir).unwrap();
    let mut packages = serde_json::Map::new();
    for bottle in bottles {
        let file = dir.join(format!("{}-{}.bottle.tar.gz", bottle.name, bottle.version));
        fs_err::write(&file, &bottle.tarball).unwrap();
        let url = pathdiff(&file, root);
        let artifact = json!({
            "url": url,
            "sha256": hex::encode(Sha256::digest(&bottle.tarball)),
            "size": bottle.tarball.len(),
            "format": "tar.gz",
            "strip_components": 2,
            "dependencies": bottle.dependencies,
            "bottle": {
                "formula": bottle.name,
                "tag": "x86_64_linux",
                "cellar": bottle.cellar,
                "keg_only": bottle.keg_only,
                "post_install": bottle.post_install,
            },
        });
        let mut package = json!({
            "version": bottle.version,
            "source": "brew",
            "artifacts": { "linux-x86_64": artifact },
        });
        if !bottle.dependencies.is_empty() {
            package["dependencies"] = json!(bottle.dependencies);
        }
        packages.insert(bottle.name.to_string(), package);
    }
    let dependencies: serde_json::Map<String, Value> = direct
        .iter()
        .map(|name| (name.to_string(), json!({ "version": "*" })))
        .collect();
    let lock = json!({
        "version": 1,
        "manifest": { "platforms": ["linux-x86_64"], "dependencies": dependencies },
        "packages": packages,
    });
    serde_json::to_string_pretty(&lock).unwrap() + "\n"
}

/// `path` relative to `base` (both absolute), with `..` as needed.
fn pathdiff(path: &Path, base: &Path) -> String {
    let (path, base): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); base.len() - common];
    parts.extend(
        path[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

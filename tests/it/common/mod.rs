//! Shared test support: a temporary project with its own cache, config and home, a builder for
//! velo indexes, and a loopback HTTP server with fault injection.

#![allow(dead_code)]

pub mod archive;
pub mod bottle;
pub mod disk;
pub mod forge_server;
pub mod ghcr;
mod index;
pub mod serve;
mod server;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use index::IndexBuilder;
pub use server::{Fault, FixtureServer};

/// The platform tests pretend to run on, so results do not depend on the CI machine.
pub const HOST: &str = "linux-x86_64";

pub struct TestContext {
    temp: tempfile::TempDir,
    /// The project directory (holds `velo.json`).
    pub root: PathBuf,
    pub cache_dir: PathBuf,
    pub config_dir: PathBuf,
    pub home: PathBuf,
    /// Extra environment for every command.
    env: Vec<(String, String)>,
    /// Extra (pattern, replacement) filters for snapshots.
    filters: Vec<(String, String)>,
}

impl TestContext {
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("create a temp dir");
        let base = temp.path().canonicalize().expect("canonical temp dir");
        let root = base.join("project");
        let cache_dir = base.join("cache");
        let config_dir = base.join("config");
        let home = base.join("home");
        for dir in [&root, &cache_dir, &config_dir, &home] {
            fs_err::create_dir_all(dir).expect("create test dir");
        }
        Self {
            temp,
            root,
            cache_dir,
            config_dir,
            home,
            env: Vec::new(),
            filters: Vec::new(),
        }
    }

    /// The temporary directory everything lives in.
    pub fn base(&self) -> PathBuf {
        self.temp.path().canonicalize().expect("canonical temp dir")
    }

    /// A velo index in `<temp>/index` to fill and write.
    pub fn index(&self) -> IndexBuilder {
        IndexBuilder::new(self.base().join("index"))
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn with_filter(mut self, pattern: &str, replacement: &str) -> Self {
        self.filters.push((pattern.to_string(), replacement.to_string()));
        self
    }

    pub fn write_manifest(&self, text: &str) {
        fs_err::write(self.root.join("velo.json"), text).expect("write velo.json");
    }

    pub fn manifest(&self) -> String {
        fs_err::read_to_string(self.root.join("velo.json")).expect("read velo.json")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("velo.lock")
    }

    pub fn lock(&self) -> String {
        fs_err::read_to_string(self.lock_path()).expect("read velo.lock")
    }

    pub fn lock_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.lock()).expect("velo.lock is JSON")
    }

    /// `velo` with a clean environment, run in the project directory.
    pub fn velo(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_velo"));
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let proxy = key.to_ascii_lowercase().ends_with("_proxy");
            if key.starts_with("VELO_") || proxy {
                command.env_remove(&key);
            }
        }
        command
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("VELO_CACHE_DIR", &self.cache_dir)
            .env("VELO_CONFIG_DIR", &self.config_dir)
            .env("VELO_PLATFORM", HOST)
            .env("VELO_HTTP_RETRY_DELAY_MS", "10")
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Run `velo ARGS…` and return its output.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.velo().args(args).output().expect("run velo")
    }

    /// Run `velo ARGS…` and render exit code, stdout and stderr for a snapshot.
    pub fn snapshot<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.render(&self.run(args))
    }

    pub fn render(&self, output: &Output) -> String {
        let text = format!(
            "exit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
            output
                .status
                .code()
                .map_or("signal".to_string(), |c| c.to_string()),
            String::from_utf8_lossy(&output.stdout).trim_end(),
            String::from_utf8_lossy(&output.stderr).trim_end(),
        );
        self.filter(&text)
    }

    /// Replace temp paths, ports and timings with stable placeholders.
    pub fn filter(&self, text: &str) -> String {
        let mut text = text.replace(&self.base().display().to_string(), "[TEMP]");
        for (pattern, replacement) in self.filters.iter().map(|(p, r)| (p.as_str(), r.as_str())).chain([
            (r"in \d+ms", "in [TIME]"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        ]) {
            let re = regex::Regex::new(pattern).expect("valid filter");
            text = re.replace_all(&text, replacement).into_owned();
        }
        text
    }
}

/// Assert a command succeeded, showing its output when it did not.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "velo failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Assert that `text` contains `needle`, showing the whole text when it does not.
#[track_caller]
pub fn assert_contains(text: &str, needle: impl AsRef<str>) {
    let needle = needle.as_ref();
    assert!(text.contains(needle), "expected `{needle}` in:\n{text}");
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn path_str(path: &Path) -> String {
    path.display().to_string()
}

/// Start every command at once (stdout and stderr captured), then wait for them all.
pub fn run_at_once(commands: impl IntoIterator<Item = Command>) -> Vec<Output> {
    let children: Vec<_> = commands
        .into_iter()
        .map(|mut command| {
            command
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect()
}

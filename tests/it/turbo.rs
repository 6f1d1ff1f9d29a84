//! The real `turbo` (2.11, from npm) against `velo serve`'s Turborepo API, over the local
//! driver and over S3 (where downloads are 302 redirects to presigned URLs).
//!
//! Skipped with a note when no `turbo` binary is found (`VELO_TEST_TURBO`, `PATH`); on CI
//! (`CI` set, as `.ci/run` does after installing it) that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::assert_contains;
use crate::common::serve::{Cache, Driver, READ_TOKEN, WRITE_TOKEN};

fn turbo() -> Option<PathBuf> {
    let found = std::env::var_os("VELO_TEST_TURBO")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("turbo"))
                .find(|candidate| candidate.is_file())
        })
        .filter(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "`turbo` is not installed (set VELO_TEST_TURBO); CI must run this test"
        );
        eprintln!("note: `turbo` is not installed here; skipping this test");
    }
    found
}

fn write(dir: &Path, relative: &str, text: &str) {
    let path = dir.join(relative);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// An npm workspace with one package whose `build` writes `dist/out.txt` and counts its runs
/// in `../../../runs.txt` (outside the repository), committed to git as turbo wants.
fn repo(dir: &Path) {
    write(
        dir,
        "package.json",
        r#"{"name": "root", "private": true, "packageManager": "npm@10.0.0", "workspaces": ["packages/*"]}"#,
    );
    write(
        dir,
        "packages/a/package.json",
        r#"{"name": "a", "version": "1.0.0", "scripts": {"build": "echo run >> ../../../runs.txt && mkdir -p dist && echo hi > dist/out.txt && echo building"}}"#,
    );
    write(dir, "packages/a/src.txt", "one\n");
    write(
        dir,
        "turbo.json",
        r#"{"tasks": {"build": {"outputs": ["dist/**"]}}}"#,
    );
    write(
        dir,
        "package-lock.json",
        r#"{"name": "root", "lockfileVersion": 3, "requires": true, "packages": {
  "": {"name": "root", "workspaces": ["packages/*"]},
  "node_modules/a": {"resolved": "packages/a", "link": true},
  "packages/a": {"version": "1.0.0"}}}"#,
    );
    write(dir, ".gitignore", "dist\n.turbo\nnode_modules\n");
    for args in [
        &["init", "-q", "."][..],
        &["add", "-A"],
        &[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let status = Command::new("git").args(args).current_dir(dir).status().unwrap();
        assert!(status.success(), "git {args:?}");
    }
}

fn run_turbo(turbo: &Path, dir: &Path, api: &str, token: &str) -> Output {
    let home = dir.parent().unwrap().join("home");
    fs_err::create_dir_all(&home).unwrap();
    Command::new(turbo)
        .args(["run", "build", "--cache=local:,remote:rw", "--no-update-notifier"])
        .current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("TURBO_API", api)
        .env("TURBO_TOKEN", token)
        .env("TURBO_TEAM", "velo")
        .env("TURBO_TELEMETRY_DISABLED", "1")
        .env("DO_NOT_TRACK", "1")
        .env("TURBO_UI", "false")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn runs(machine: &Path) -> usize {
    std::fs::read_to_string(machine.join("runs.txt"))
        .unwrap_or_default()
        .lines()
        .count()
}

fn turbo_round_trip(driver: Driver) {
    let Some(turbo) = turbo() else { return };
    let cache = Cache::new(driver);
    let server = cache.start(&[]);
    let temp = tempfile::tempdir().unwrap();
    let (ci, laptop) = (temp.path().join("ci"), temp.path().join("laptop"));
    for machine in [&ci, &laptop] {
        repo(&machine.join("repo"));
    }

    let output = run_turbo(&turbo, &ci.join("repo"), &server.url(), WRITE_TOKEN);
    assert!(output.status.success(), "{}", text(&output));
    assert_contains(&text(&output), "cache miss, executing");
    assert_eq!(runs(&ci), 1);
    let stored = match driver {
        Driver::Local => cache
            .files()
            .into_iter()
            .filter(|f| f.starts_with("turbo/velo/"))
            .count(),
        Driver::S3 => cache.s3_keys("turbo/velo/").len(),
    };
    assert_eq!(stored, 1, "one artifact under the team's prefix");

    let output = run_turbo(&turbo, &laptop.join("repo"), &server.url(), READ_TOKEN);
    assert!(output.status.success(), "{}", text(&output));
    assert_contains(&text(&output), "cache hit, replaying logs");
    assert_eq!(runs(&laptop), 0, "the laptop replayed the CI result");
    assert_eq!(
        fs_err::read_to_string(laptop.join("repo/packages/a/dist/out.txt")).unwrap(),
        "hi\n"
    );
    if driver == Driver::S3 {
        assert_contains(&server.logs(), "status=302");
    }

    // A read token cannot upload: turbo warns and the build still succeeds.
    write(&laptop.join("repo"), "packages/a/src.txt", "two\n");
    let output = run_turbo(&turbo, &laptop.join("repo"), &server.url(), READ_TOKEN);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(runs(&laptop), 1);
    assert_contains(&text(&output), "403");
    assert!(
        !text(&output).contains("unable to parse"),
        "errors are in turbo's shape: {}",
        text(&output)
    );
}

#[test]
fn turbo_uses_the_local_driver() {
    turbo_round_trip(Driver::Local);
}

#[test]
fn turbo_uses_the_s3_driver() {
    if !crate::common::serve::s3_available() {
        return;
    }
    turbo_round_trip(Driver::S3);
}

//! `velo sync`: every artifact format end to end, the `.velo/` layout, no-op and incremental
//! syncs, default commands and shims, hostile archives, download faults, `--locked`,
//! `--frozen` and `--offline`, the shared store, concurrent and interrupted syncs, `velo cache`.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::archive::{self, executable, file, script, Entry};
use crate::common::{
    assert_contains, assert_success, stderr, Fault, FixtureServer, IndexBuilder, TestContext,
};

/// A `velo.json` using `registry` with these dependencies (`{"name": "req" or {…}}`).
pub(crate) fn manifest(registry: &str, dependencies: Value) -> String {
    let manifest = json!({ "name": "demo", "registry": registry, "dependencies": dependencies });
    serde_json::to_string_pretty(&manifest).unwrap() + "\n"
}

/// The registry of a project whose index is the test's local `<temp>/index`.
pub(crate) const LOCAL: &str = "../index";

/// The usual shape of a release: `<name>-<version>/bin/<name>` plus a README.
pub(crate) fn release(name: &str, version: &str) -> Vec<Entry> {
    vec![
        executable(&format!("{name}-{version}/bin/{name}"), script(name, version)),
        file(&format!("{name}-{version}/README"), format!("{name} {version}\n")),
    ]
}

/// Add `name` `version` as a `.tar.gz` release unpacked with `strip_components: 1` and the
/// default commands; returns the artifact's file name.
pub(crate) fn add_tool(index: &mut IndexBuilder, name: &str, version: &str) -> String {
    let file = format!("{name}-{version}.tar.gz");
    index.add_archive(
        name,
        version,
        &file,
        &archive::tar_gz(&release(name, version)),
        json!({ "strip_components": 1 }),
    );
    file
}

/// A context whose local index holds the tools `names` (all version 1.0.0).
pub(crate) fn local_project(names: &[&str]) -> TestContext {
    let context = TestContext::new();
    let mut index = context.index();
    for name in names {
        add_tool(&mut index, name, "1.0.0");
    }
    index.write();
    context
}

/// `{"a": "*", "b": "*"}`.
pub(crate) fn any_version(names: &[&str]) -> Value {
    names.iter().map(|name| (name.to_string(), json!("*"))).collect()
}

/// Run `.velo/bin/<command> ARGS…` by its absolute path; its stdout.
pub(crate) fn run_tool(context: &TestContext, command: &str, args: &[&str]) -> String {
    let path = context.root.join(".velo/bin").join(command);
    let output = Command::new(&path)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap_or_else(|err| panic!("failed to run `{}`: {err}", path.display()));
    assert!(
        output.status.success(),
        "`{}` failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Names in `dir` (empty when it does not exist).
pub(crate) fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|read| {
            read.flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn velo_dir(context: &TestContext) -> PathBuf {
    context.root.join(".velo")
}

pub(crate) fn current_target(context: &TestContext) -> PathBuf {
    fs_err::read_link(velo_dir(context).join("current")).unwrap()
}

/// `.velo/` holds exactly one generation, the current one, and no staging leftovers.
fn assert_no_leftovers(context: &TestContext) {
    let names = names_in(&velo_dir(context));
    let current = current_target(context).to_string_lossy().into_owned();
    let generations: Vec<&String> = names.iter().filter(|n| n.starts_with("gen-")).collect();
    assert_eq!(generations, [&current], "generations in .velo: {names:?}");
    let leftovers: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(".tmp-") || n.starts_with("current.tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "leftovers in .velo: {leftovers:?}");
}

/// Filter for sha256 digests that are not the point of a snapshot.
fn without_digests(context: TestContext) -> TestContext {
    context.with_filter("[0-9a-f]{64}", "[SHA256]")
}

/// Filter for download sizes, which depend on the compressor's version.
fn without_sizes(context: TestContext) -> TestContext {
    context.with_filter(r"\(\d+(\.\d+)? (B|KiB|MiB)\)", "([SIZE])")
}

/// Bytes that do not compress, so a download has a real body to cut in half.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A `.tar.gz` of `entries` plus symlinks (path, target).
fn tar_gz_with_links(entries: &[Entry], links: &[(&str, &str)]) -> Vec<u8> {
    archive::gz(&archive::tar_with_links(entries, links))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn every_format_installs_and_runs() {
    let context = TestContext::new();
    let mut index = context.index();
    let targz = tar_gz_with_links(&release("targz", "1.0.0"), &[("targz-1.0.0/bin/tg", "targz")]);
    index.add_archive(
        "targz",
        "1.0.0",
        "targz-1.0.0.tar.gz",
        &targz,
        json!({ "strip_components": 1 }),
    );
    let entries = |name: &str| {
        vec![
            executable(&format!("bin/{name}"), script(name, "2.0.0")),
            file("share/doc.txt", "docs\n"),
        ]
    };
    index.add_archive(
        "tarxz",
        "2.0.0",
        "tarxz.tar.xz",
        &archive::tar_xz(&entries("tarxz")),
        json!({ "bin": { "tarxz": "bin/tarxz" } }),
    );
    index.add_archive(
        "tarzst",
        "2.0.0",
        "tarzst.tar.zst",
        &archive::tar_zst(&entries("tarzst")),
        json!({}),
    );
    index.add_archive(
        "tarbz",
        "2.0.0",
        "tarbz.tar.bz2",
        &archive::tar_bz2(&entries("tarbz")),
        json!({}),
    );
    index.add_archive(
        "zipped",
        "2.0.0",
        "zipped.zip",
        &archive::zip(&entries("zipped")),
        json!({}),
    );
    // Single compressed files: named after the only `bin` path without `/`, else after the URL.
    index.add_archive(
        "gzipped",
        "3.0.0",
        "gzipped-linux.gz",
        &archive::gz(&script("gzipped", "3.0.0")),
        json!({ "bin": { "gzipped": "gzipped" } }),
    );
    index.add_archive(
        "xzed",
        "3.0.0",
        "xzed-linux-amd64.xz",
        &archive::xz(&script("xzed", "3.0.0")),
        json!({}),
    );
    index.add_archive(
        "zsted",
        "3.0.0",
        "zsted.zst",
        &archive::zst(&script("zsted", "3.0.0")),
        json!({ "bin": { "zs": "zs-real" } }),
    );
    index.add_archive(
        "rawtool",
        "4.0.0",
        "rawtool-linux-x86_64",
        &script("rawtool", "4.0.0"),
        json!({ "bin": { "rawtool": "rawtool" } }),
    );
    index.write();
    let names = [
        "targz", "tarxz", "tarzst", "tarbz", "zipped", "gzipped", "xzed", "zsted", "rawtool",
    ];
    context.write_manifest(&manifest(LOCAL, any_version(&names)));

    let output = context.run(["sync"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Installed 9 of 9 packages");

    for (command, expected) in [
        ("targz", "targz 1.0.0\n"),
        ("tg", "targz 1.0.0\n"),
        ("tarxz", "tarxz 2.0.0\n"),
        ("tarzst", "tarzst 2.0.0\n"),
        ("tarbz", "tarbz 2.0.0\n"),
        ("zipped", "zipped 2.0.0\n"),
        ("gzipped", "gzipped 3.0.0\n"),
        ("xzed-linux-amd64", "xzed 3.0.0\n"),
        ("zs", "zsted 3.0.0\n"),
        ("rawtool", "rawtool 4.0.0\n"),
    ] {
        assert_eq!(run_tool(&context, command, &["--version"]), expected, "{command}");
    }
    assert_eq!(
        names_in(&velo_dir(&context).join("bin")),
        [
            "gzipped",
            "rawtool",
            "tarbz",
            "tarxz",
            "tarzst",
            "targz",
            "tg",
            "xzed-linux-amd64",
            "zipped",
            "zs"
        ]
        .map(String::from)
        .into()
    );

    let cellar = velo_dir(&context).join("Cellar");
    // `strip_components: 1` dropped the top directory.
    let targz_dir = cellar.join("targz/1.0.0");
    assert_eq!(names_in(&targz_dir), ["README", "bin"].map(String::from).into());
    // The symlink inside the archive is a symlink in the Cellar.
    assert_eq!(
        fs_err::read_link(targz_dir.join("bin/tg")).unwrap(),
        Path::new("targz")
    );
    // Executable bits kept, and not added where there were none.
    for dir in ["tarxz/2.0.0", "tarzst/2.0.0", "tarbz/2.0.0", "zipped/2.0.0"] {
        let name = dir.split('/').next().unwrap();
        assert_eq!(
            mode(&cellar.join(dir).join("bin").join(name)) & 0o111,
            0o111,
            "{dir}"
        );
        assert_eq!(mode(&cellar.join(dir).join("share/doc.txt")) & 0o111, 0, "{dir}");
    }
    assert_eq!(mode(&targz_dir.join("README")) & 0o111, 0);
    // Single files are saved under the right name, executable.
    for path in [
        "gzipped/3.0.0/gzipped",
        "xzed/3.0.0/xzed-linux-amd64",
        "zsted/3.0.0/zs-real",
        "rawtool/4.0.0/rawtool",
    ] {
        assert_eq!(names_in(cellar.join(path).parent().unwrap()).len(), 1, "{path}");
        assert_eq!(mode(&cellar.join(path)) & 0o111, 0o111, "{path}");
    }
}

#[test]
fn velo_layout_goes_through_current() {
    let context = local_project(&["alpha", "beta"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha", "beta"])));
    assert_success(&context.run(["sync"]));

    let velo = velo_dir(&context);
    assert_eq!(
        fs_err::read_link(velo.join("bin")).unwrap(),
        Path::new("current/bin")
    );
    assert_eq!(
        fs_err::read_link(velo.join("opt")).unwrap(),
        Path::new("current/opt")
    );
    let current = current_target(&context);
    assert!(
        current.to_string_lossy().starts_with("gen-") && current.is_relative(),
        "current -> {}",
        current.display()
    );
    for name in ["alpha", "beta"] {
        let opt = velo.join("opt").join(name);
        let link = fs_err::read_link(&opt).unwrap();
        assert!(link.is_relative(), "opt/{name} -> {}", link.display());
        assert_eq!(
            fs_err::canonicalize(&opt).unwrap(),
            velo.join("Cellar").join(name).join("1.0.0")
        );
        assert!(fs_err::symlink_metadata(velo.join("bin").join(name))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs_err::canonicalize(velo.join("bin").join(name)).unwrap(),
            velo.join("Cellar").join(name).join("1.0.0/bin").join(name)
        );
    }
    let state: Value =
        serde_json::from_str(&fs_err::read_to_string(velo.join("state.json")).unwrap()).unwrap();
    let installed: Vec<&String> = state["packages"].as_object().unwrap().keys().collect();
    assert_eq!(installed, ["alpha", "beta"]);
    assert_eq!(state["generation"], current.to_string_lossy().as_ref());
    assert_no_leftovers(&context);
}

#[test]
fn second_sync_is_a_noop_without_requests() {
    let context = TestContext::new();
    let mut index = context.index();
    add_tool(&mut index, "alpha", "1.0.0");
    let server = FixtureServer::start(index.write());
    context.write_manifest(&manifest(&server.url(), any_version(&["alpha"])));
    assert_success(&context.run(["sync"]));
    assert_eq!(server.requests_to("/artifacts/").len(), 1);
    let current = current_target(&context);

    server.clear_log();
    let output = context.run(["sync"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Checked");
    assert!(
        server.log().is_empty(),
        "a no-op sync made requests: {:?}",
        server.log()
    );
    assert_eq!(current_target(&context), current);
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
}

#[test]
fn adding_a_package_installs_only_that_one() {
    let context = TestContext::new();
    let mut index = context.index();
    add_tool(&mut index, "alpha", "1.0.0");
    add_tool(&mut index, "beta", "1.0.0");
    let server = FixtureServer::start(index.write());
    context.write_manifest(&manifest(&server.url(), any_version(&["alpha"])));
    assert_success(&context.run(["sync"]));
    let alpha = velo_dir(&context).join("Cellar/alpha/1.0.0/bin/alpha");
    let alpha_inode = fs_err::metadata(&alpha).unwrap().ino();

    server.clear_log();
    context.write_manifest(&manifest(&server.url(), any_version(&["alpha", "beta"])));
    let output = context.run(["sync"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Installed 1 of 2 packages");
    let downloads: Vec<String> = server
        .requests_to("/artifacts/")
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(downloads, ["/artifacts/beta-1.0.0.tar.gz"]);
    // alpha was left where it was, not unpacked or linked again.
    assert_eq!(fs_err::metadata(&alpha).unwrap().ino(), alpha_inode);
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
    assert_eq!(run_tool(&context, "beta", &["--version"]), "beta 1.0.0\n");
    assert_no_leftovers(&context);
}

#[test]
fn removing_a_package_removes_it_from_the_cellar_and_bin() {
    let context = local_project(&["alpha", "beta"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha", "beta"])));
    assert_success(&context.run(["sync"]));
    assert!(velo_dir(&context).join("Cellar/beta/1.0.0").is_dir());

    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    let output = context.run(["sync"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Removed beta 1.0.0");
    assert_eq!(
        names_in(&velo_dir(&context).join("Cellar")),
        ["alpha"].map(String::from).into()
    );
    assert_eq!(
        names_in(&velo_dir(&context).join("bin")),
        ["alpha"].map(String::from).into()
    );
    assert_eq!(
        names_in(&velo_dir(&context).join("opt")),
        ["alpha"].map(String::from).into()
    );
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
    assert_no_leftovers(&context);
}

#[test]
fn without_a_bin_map_every_executable_in_bin_is_a_command() {
    let context = TestContext::new();
    let mut index = context.index();
    let entries = [
        executable("kit/bin/one", script("one", "1.0.0")),
        executable("kit/bin/two", script("two", "1.0.0")),
        file("kit/bin/data.txt", "not a command\n"),
        executable("kit/libexec/helper", script("helper", "1.0.0")),
    ];
    index.add_archive(
        "kit",
        "1.0.0",
        "kit.tar.gz",
        &archive::tar_gz(&entries),
        json!({ "strip_components": 1 }),
    );
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["kit"])));
    assert_success(&context.run(["sync"]));
    assert_eq!(
        names_in(&velo_dir(&context).join("bin")),
        ["one", "two"].map(String::from).into()
    );
    assert_eq!(run_tool(&context, "two", &["--version"]), "two 1.0.0\n");
}

#[test]
fn without_a_bin_dir_the_single_top_level_executable_is_the_command() {
    let context = TestContext::new();
    let mut index = context.index();
    let entries = [
        executable("solo", script("solo", "1.0.0")),
        file("LICENSE", "MIT\n"),
        executable("docs/build.sh", "#!/bin/sh\n"),
    ];
    index.add_archive("solo", "1.0.0", "solo.zip", &archive::zip(&entries), json!({}));
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["solo"])));
    assert_success(&context.run(["sync"]));
    assert_eq!(
        names_in(&velo_dir(&context).join("bin")),
        ["solo"].map(String::from).into()
    );
    assert_eq!(run_tool(&context, "solo", &["--version"]), "solo 1.0.0\n");
}

#[test]
fn an_artifact_env_gets_a_shim_that_sets_it() {
    let context = TestContext::new();
    let mut index = context.index();
    let tool = "#!/bin/sh\necho \"home=$ENVY_HOME mode=$ENVY_MODE\"\n";
    index.add_archive(
        "envy",
        "1.0.0",
        "envy.tar.gz",
        &archive::tar_gz(&[executable("bin/envy", tool), file("share/data", "x")]),
        json!({ "env": { "ENVY_HOME": "{prefix}/share", "ENVY_MODE": "it's fine" } }),
    );
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["envy"])));
    assert_success(&context.run(["sync"]));

    let shim = velo_dir(&context).join("bin/envy");
    let metadata = fs_err::symlink_metadata(&shim).unwrap();
    assert!(metadata.file_type().is_file(), "the shim is not a plain file");
    assert_eq!(mode(&shim) & 0o111, 0o111);
    let package = velo_dir(&context).join("Cellar/envy/1.0.0");
    let text = fs_err::read_to_string(&shim).unwrap();
    assert_contains(&text, "export ENVY_HOME");
    assert_eq!(
        run_tool(&context, "envy", &[]),
        format!("home={}/share mode=it's fine\n", package.display())
    );
}

#[test]
fn manifest_bin_narrows_the_commands() {
    let context = TestContext::new();
    let mut index = context.index();
    let entries = [
        executable("bin/one", script("one", "1.0.0")),
        executable("bin/two", script("two", "1.0.0")),
    ];
    index.add_archive(
        "kit",
        "1.0.0",
        "kit.tar.gz",
        &archive::tar_gz(&entries),
        json!({}),
    );
    index.write();
    context.write_manifest(&manifest(
        LOCAL,
        json!({ "kit": { "version": "*", "bin": ["two"] } }),
    ));
    assert_success(&context.run(["sync"]));
    assert_eq!(
        names_in(&velo_dir(&context).join("bin")),
        ["two"].map(String::from).into()
    );
    assert_eq!(run_tool(&context, "two", &["--version"]), "two 1.0.0\n");
}

/// Sync the tool `good`, then add `evil`, whose artifact `file` is `bytes`: the sync must fail
/// with exit code 1 and leave the project, the cache and the rest of the disk as they were.
/// Returns the failed sync's output, rendered.
fn assert_refused(file: &str, bytes: &[u8], extra: Value, env: &[(&str, &str)]) -> String {
    let mut context = without_sizes(without_digests(TestContext::new()));
    for (key, value) in env {
        context = context.with_env(key, value);
    }
    let mut index = context.index();
    add_tool(&mut index, "good", "1.0.0");
    index.add_archive("evil", "6.6.6", file, bytes, extra);
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["good"])));
    assert_success(&context.run(["sync"]));
    let bin = names_in(&velo_dir(&context).join("bin"));
    let current = current_target(&context);
    let trees = context.cache_dir.join("trees-v1");
    let trees_before = names_in(&trees);

    context.write_manifest(&manifest(LOCAL, any_version(&["good", "evil"])));
    let output = context.run(["sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));

    assert_eq!(run_tool(&context, "good", &["--version"]), "good 1.0.0\n");
    assert_eq!(names_in(&velo_dir(&context).join("bin")), bin);
    assert_eq!(current_target(&context), current);
    assert!(!velo_dir(&context).join("Cellar/evil").exists());
    assert_eq!(
        names_in(&context.base()),
        ["cache", "config", "home", "index", "project"]
            .map(String::from)
            .into(),
        "something was written outside the project and the cache"
    );
    assert_eq!(
        names_in(&trees),
        trees_before,
        "a tree was stored for the hostile archive"
    );
    assert!(
        names_in(&context.cache_dir.join("tmp")).is_empty(),
        "staging left in the cache: {:?}",
        names_in(&context.cache_dir.join("tmp"))
    );
    context.render(&output)
}

/// A path in the test's temp dir for an absolute entry to aim at.
fn outside(name: &str) -> (tempfile::TempDir, String) {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().canonicalize().unwrap().join(name);
    let text = path.to_string_lossy().into_owned();
    (temp, text)
}

#[test]
fn hostile_parent_dir_entry_is_refused() {
    let bytes = archive::hostile_tar_gz("../../../../evil", tar::EntryType::Regular, None, b"owned\n");
    let output = assert_refused("evil.tar.gz", &bytes, json!({}), &[]);
    assert_contains(&output, "`../../../../evil`");
    insta::assert_snapshot!(output);
}

#[test]
fn hostile_absolute_entry_is_refused() {
    let (temp, target) = outside("evil-absolute");
    let bytes = archive::hostile_tar_gz(&target, tar::EntryType::Regular, None, b"owned\n");
    let output = assert_refused("evil.tar.gz", &bytes, json!({}), &[]);
    assert!(!Path::new(&target).exists(), "{target} was written");
    let output = output.replace(
        &temp.path().canonicalize().unwrap().display().to_string(),
        "[OUTSIDE]",
    );
    assert_contains(&output, "`[OUTSIDE]/evil-absolute`");
    insta::assert_snapshot!(output);
}

#[test]
fn hostile_symlink_escaping_is_refused() {
    let bytes = archive::hostile_tar_gz("escape", tar::EntryType::Symlink, Some("../../../../.."), b"");
    let output = assert_refused("evil.tar.gz", &bytes, json!({}), &[]);
    assert_contains(&output, "`escape`");
    insta::assert_snapshot!(output);
}

#[test]
fn hostile_hard_link_escaping_is_refused() {
    let bytes = archive::hostile_tar_gz(
        "passwd",
        tar::EntryType::Link,
        Some("../../../../../etc/passwd"),
        b"",
    );
    let output = assert_refused("evil.tar.gz", &bytes, json!({}), &[]);
    assert_contains(&output, "`passwd`");
    insta::assert_snapshot!(output);
}

#[test]
fn hostile_device_file_is_refused() {
    let bytes = archive::hostile_tar_gz("bin/console", tar::EntryType::Char, None, b"");
    let output = assert_refused("evil.tar.gz", &bytes, json!({}), &[]);
    assert_contains(&output, "`bin/console`");
    insta::assert_snapshot!(output);
}

#[test]
fn zip_bomb_is_refused() {
    let bytes = archive::zip(&[file("zeros", vec![0u8; 10_000_000])]);
    assert!(bytes.len() < 1_000_000, "the bomb is {} bytes", bytes.len());
    let output = assert_refused(
        "evil.zip",
        &bytes,
        json!({}),
        &[("VELO_MAX_UNPACKED_SIZE", "1000000")],
    );
    assert_contains(&output, "`zeros`");
    insta::assert_snapshot!(output);
}

#[test]
fn gzip_bomb_is_refused() {
    let bytes = archive::gz(&vec![0u8; 10_000_000]);
    let output = assert_refused(
        "evil.gz",
        &bytes,
        json!({}),
        &[("VELO_MAX_UNPACKED_SIZE", "1000000")],
    );
    assert_contains(&output, "1000000 bytes");
}

/// A project whose registry is a `FixtureServer` serving an index with the tool `big`, whose
/// artifact is large enough to be cut in half; returns the artifact's bytes too.
fn served_big() -> (TestContext, FixtureServer, Vec<u8>) {
    let context = TestContext::new();
    let mut index = context.index();
    let mut entries = release("big", "1.0.0");
    entries.push(file("big-1.0.0/share/blob", noise(256 * 1024, 7)));
    let bytes = archive::tar_gz(&entries);
    index.add_archive(
        "big",
        "1.0.0",
        "big.tar.gz",
        &bytes,
        json!({ "strip_components": 1 }),
    );
    let server = FixtureServer::start(index.write());
    context.write_manifest(&manifest(&server.url(), any_version(&["big"])));
    (context, server, bytes)
}

#[test]
fn a_truncated_download_is_resumed_with_range() {
    let (context, server, bytes) = served_big();
    server.inject("/artifacts/big.tar.gz", 1, Fault::Truncate);
    assert_success(&context.run(["sync"]));
    assert_eq!(run_tool(&context, "big", &["--version"]), "big 1.0.0\n");

    let requests = server.requests_to("/artifacts/big.tar.gz");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None, "{requests:?}");
    assert_eq!(requests[1].status, 206, "{requests:?}");
    let range = requests[1].range.as_deref().expect("the retry asks for the rest");
    let offset: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected Range `{range}`"));
    assert!(
        offset > 0 && offset <= bytes.len() / 2,
        "Range `{range}` for {} bytes",
        bytes.len()
    );
    // The resumed file is whole: it is in the store under its digest, nothing partial is left.
    let downloads = context.cache_dir.join("downloads-v1");
    assert_eq!(fs_err::read(downloads.join(sha256(&bytes))).unwrap(), bytes);
    assert!(names_in(&downloads.join(".part")).is_empty());
}

#[test]
fn server_errors_on_a_download_are_retried() {
    let (context, server, _) = served_big();
    server.inject("/artifacts/big.tar.gz", 2, Fault::Status(500));
    assert_success(&context.run(["sync"]));
    assert_eq!(run_tool(&context, "big", &["--version"]), "big 1.0.0\n");
    let statuses: Vec<u16> = server
        .requests_to("/artifacts/big.tar.gz")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
}

#[test]
fn a_checksum_mismatch_installs_nothing() {
    let context = TestContext::new();
    let mut index = context.index();
    let bytes = script("sumtool", "1.0.0");
    let expected = sha256(b"the file the index was made from\n");
    index.add_archive(
        "sumtool",
        "1.0.0",
        "sumtool",
        &bytes,
        json!({ "sha256": expected, "bin": { "sumtool": "sumtool" } }),
    );
    let server = FixtureServer::start(index.write());
    context.write_manifest(&manifest(&server.url(), any_version(&["sumtool"])));

    let output = context.run(["sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    let text = stderr(&output);
    let url = format!("{}artifacts/sumtool", server.url());
    for needle in [url.as_str(), expected.as_str(), sha256(&bytes).as_str()] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }
    insta::assert_snapshot!(context.render(&output));

    let velo = velo_dir(&context);
    assert!(!velo.join("Cellar").exists() && !velo.join("bin").exists() && !velo.join("state.json").exists());
    let downloads = context.cache_dir.join("downloads-v1");
    assert!(
        names_in(&downloads).iter().all(|name| name == ".part"),
        "downloads-v1: {:?}",
        names_in(&downloads)
    );
    assert!(names_in(&downloads.join(".part")).is_empty());
    assert!(names_in(&context.cache_dir.join("trees-v1")).is_empty());
}

#[test]
fn a_missing_artifact_is_a_clear_error() {
    let (context, server, _) = served_big();
    server.inject("/artifacts/big.tar.gz", 10, Fault::Status(404));
    let output = context.run(["sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    assert_eq!(
        server.requests_to("/artifacts/big.tar.gz").len(),
        1,
        "a 404 is not retried"
    );
    insta::assert_snapshot!(context.render(&output));
    assert!(!velo_dir(&context).join("bin").exists());
}

#[test]
fn locked_with_a_stale_lock_fails_and_writes_nothing() {
    let context = local_project(&["alpha", "beta"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    assert_success(&context.run(["lock"]));
    let lock = context.lock();
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha", "beta"])));

    let output = context.run(["sync", "--locked"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    assert_contains(&stderr(&output), "velo lock");
    insta::assert_snapshot!(context.render(&output));
    assert_eq!(context.lock(), lock);
    assert!(!velo_dir(&context).exists(), ".velo was created");
}

#[test]
fn locked_with_a_fresh_lock_installs() {
    let context = local_project(&["alpha"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    assert_success(&context.run(["lock"]));
    let lock = context.lock();
    assert_success(&context.run(["sync", "--locked"]));
    assert_eq!(context.lock(), lock);
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
}

#[test]
fn frozen_installs_the_lock_as_it_is() {
    let context = local_project(&["alpha", "beta"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    assert_success(&context.run(["lock"]));
    let lock = context.lock();
    let modified = fs_err::metadata(context.lock_path()).unwrap().modified().unwrap();
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha", "beta"])));

    assert_success(&context.run(["sync", "--frozen"]));
    assert_eq!(
        names_in(&velo_dir(&context).join("bin")),
        ["alpha"].map(String::from).into()
    );
    assert_eq!(context.lock(), lock);
    assert_eq!(
        fs_err::metadata(context.lock_path()).unwrap().modified().unwrap(),
        modified,
        "velo.lock was rewritten"
    );
    // A frozen sync is a no-op the second time too, even though velo.json differs.
    let output = context.run(["sync", "--frozen"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Checked");

    // A plain sync then catches up with velo.json.
    assert_success(&context.run(["sync"]));
    assert_eq!(run_tool(&context, "beta", &["--version"]), "beta 1.0.0\n");
}

#[test]
fn sync_without_a_lock_creates_it() {
    let context = local_project(&["alpha"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    assert!(!context.lock_path().exists());
    assert_success(&context.run(["sync"]));
    assert_eq!(context.lock_json()["packages"]["alpha"]["version"], "1.0.0");
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
}

#[test]
fn offline_sync_works_from_the_store() {
    let (context, server, _) = served_big();
    assert_success(&context.run(["sync"]));
    drop(server);
    fs_err::remove_dir_all(velo_dir(&context)).unwrap();

    let output = context.run(["sync", "--offline", "--frozen"]);
    assert_success(&output);
    assert_eq!(run_tool(&context, "big", &["--version"]), "big 1.0.0\n");
    assert_no_leftovers(&context);
}

#[test]
fn offline_with_an_empty_cache_fails() {
    let (context, server, _) = served_big();
    assert_success(&context.run(["lock"]));
    fs_err::remove_dir_all(&context.cache_dir).unwrap();
    server.clear_log();

    let output = context.run(["sync", "--offline"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    insta::assert_snapshot!(context.render(&output));
    assert!(
        server.log().is_empty(),
        "--offline made requests: {:?}",
        server.log()
    );
    assert!(!velo_dir(&context).join("bin").exists());
}

#[test]
fn a_second_project_reuses_the_store() {
    let (first, server, _) = served_big();
    assert_success(&first.run(["sync"]));

    let second = TestContext::new().with_env("VELO_CACHE_DIR", &first.cache_dir.to_string_lossy());
    second.write_manifest(&first.manifest());
    fs_err::copy(first.lock_path(), second.lock_path()).unwrap();
    server.clear_log();
    let output = second.run(["sync"]);
    assert_success(&output);
    assert!(
        server.log().is_empty(),
        "the second project made requests: {:?}",
        server.log()
    );
    assert_eq!(run_tool(&second, "big", &["--version"]), "big 1.0.0\n");
    assert!(
        names_in(&second.cache_dir).is_empty(),
        "the second project's own cache dir was used"
    );

    let trees = names_in(&first.cache_dir.join("trees-v1"));
    assert_eq!(trees.len(), 1, "{trees:?}");
    let tree = first.cache_dir.join("trees-v1").join(trees.first().unwrap());
    for relative in ["bin/big", "share/blob", "README"] {
        let store = fs_err::metadata(tree.join(relative)).unwrap();
        let cellar_path = velo_dir(&second).join("Cellar/big/1.0.0").join(relative);
        let cellar = fs_err::metadata(&cellar_path).unwrap();
        assert_eq!(
            fs_err::read(tree.join(relative)).unwrap(),
            fs_err::read(&cellar_path).unwrap(),
            "{relative}"
        );
        if store.dev() == cellar.dev() && cellar.nlink() > 1 {
            assert_eq!(
                store.ino(),
                cellar.ino(),
                "{relative} is not a hard link of the store's"
            );
        }
        assert_eq!(
            store.permissions().mode(),
            cellar.permissions().mode(),
            "{relative}"
        );
        if store.ino() != cellar.ino() {
            // Not a hard link: then a reflink (its own inode), never a silent copy.
            assert!(!stderr(&output).contains("copied"), "{}", stderr(&output));
        }
    }
}

pub(crate) fn spawn_sync(context: &TestContext) -> std::process::Child {
    context
        .velo()
        .arg("sync")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn velo sync")
}

#[test]
fn two_syncs_of_one_project_at_once() {
    let context = local_project(&["alpha", "beta", "gamma"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha", "beta", "gamma"])));
    let children = [spawn_sync(&context), spawn_sync(&context)];
    for child in children {
        assert_success(&child.wait_with_output().unwrap());
    }
    for name in ["alpha", "beta", "gamma"] {
        assert_eq!(
            run_tool(&context, name, &["--version"]),
            format!("{name} 1.0.0\n")
        );
    }
    assert_no_leftovers(&context);
    let output = context.run(["sync"]);
    assert_contains(&stderr(&output), "Checked");
}

#[test]
fn two_projects_syncing_at_once_share_one_cache() {
    let first = TestContext::new();
    let mut index = first.index();
    add_tool(&mut index, "alpha", "1.0.0");
    add_tool(&mut index, "beta", "1.0.0");
    let server = FixtureServer::start(index.write());
    // Slow artifacts keep both syncs in flight at the same time.
    server.inject("/artifacts/", 4, Fault::Slow(Duration::from_millis(200)));
    let second = TestContext::new().with_env("VELO_CACHE_DIR", &first.cache_dir.to_string_lossy());
    let text = manifest(&server.url(), any_version(&["alpha", "beta"]));
    first.write_manifest(&text);
    second.write_manifest(&text);

    let children = [spawn_sync(&first), spawn_sync(&second)];
    for child in children {
        assert_success(&child.wait_with_output().unwrap());
    }
    for context in [&first, &second] {
        for name in ["alpha", "beta"] {
            assert_eq!(run_tool(context, name, &["--version"]), format!("{name} 1.0.0\n"));
        }
        assert_no_leftovers(context);
    }
    // The store's download lock let only one of them fetch each file.
    for name in ["alpha", "beta"] {
        let requests = server.requests_to(&format!("/artifacts/{name}-1.0.0.tar.gz"));
        assert_eq!(requests.len(), 1, "{requests:?}");
    }
    assert_eq!(names_in(&first.cache_dir.join("trees-v1")).len(), 2);
}

#[test]
fn a_killed_sync_is_finished_by_the_next() {
    let context = TestContext::new();
    let mut index = context.index();
    add_tool(&mut index, "alpha", "1.0.0");
    let mut entries = release("big", "1.0.0");
    entries.push(file("big-1.0.0/share/blob", noise(256 * 1024, 11)));
    let big = archive::tar_gz(&entries);
    index.add_archive(
        "big",
        "1.0.0",
        "big.tar.gz",
        &big,
        json!({ "strip_components": 1 }),
    );
    let server = FixtureServer::start(index.write());
    context.write_manifest(&manifest(&server.url(), any_version(&["alpha"])));
    assert_success(&context.run(["sync"]));

    // The next sync adds `big`, whose download stalls half way; kill it there.
    context.write_manifest(&manifest(&server.url(), any_version(&["alpha", "big"])));
    server.inject("/artifacts/big.tar.gz", 1, Fault::Stall(Duration::from_secs(30)));
    let mut child = spawn_sync(&context);
    let start = Instant::now();
    while server.requests_to("/artifacts/big.tar.gz").is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("velo sync ended before the download started: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    // Killed mid-way, the project still has what the first sync installed.
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");

    let output = context.run(["sync"]);
    assert_success(&output);
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
    assert_eq!(run_tool(&context, "big", &["--version"]), "big 1.0.0\n");
    assert_no_leftovers(&context);
    assert_eq!(
        names_in(&velo_dir(&context).join("Cellar")),
        ["alpha", "big"].map(String::from).into()
    );
    let requests = server.requests_to("/artifacts/big.tar.gz");
    assert_eq!(requests.len(), 2, "{requests:?}"); // The second sync carried on from the partial file or started over; either way the store
                                                   // holds the whole, verified file and no partial one.
    if let Some(range) = &requests[1].range {
        assert_eq!(requests[1].status, 206, "{requests:?}");
        let offset: usize = range["bytes=".len()..range.len() - 1].parse().unwrap();
        assert!(offset <= big.len() / 2, "{requests:?}");
    }
    let downloads = context.cache_dir.join("downloads-v1");
    assert_eq!(fs_err::read(downloads.join(sha256(&big))).unwrap(), big);
    assert!(names_in(&downloads.join(".part")).is_empty());
}

fn cache_status(context: &TestContext) -> Value {
    let output = context.run(["cache", "status", "--json"]);
    assert_success(&output);
    serde_json::from_slice(&output.stdout).expect("cache status --json prints JSON")
}

fn bucket(status: &Value, name: &str) -> (u64, u64) {
    let bucket = status["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no bucket {name} in {status}"));
    (
        bucket["entries"].as_u64().unwrap(),
        bucket["bytes"].as_u64().unwrap(),
    )
}

#[test]
fn cache_dir_status_prune_and_clean() {
    let context = local_project(&["alpha", "beta"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha", "beta"])));

    let output = context.run(["cache", "dir"]);
    assert_success(&output);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{}\n", context.cache_dir.display())
    );

    assert_success(&context.run(["sync"]));
    let status = cache_status(&context);
    for name in ["downloads-v1", "trees-v1"] {
        let (entries, bytes) = bucket(&status, name);
        assert_eq!(entries, 2, "{name}: {status}");
        assert!(bytes > 0, "{name}: {status}");
    }

    let output = context.run(["cache", "prune", "--max-size", "0"]);
    assert_success(&output);
    let status = cache_status(&context);
    for name in ["downloads-v1", "trees-v1"] {
        assert_eq!(bucket(&status, name), (0, 0), "{name}: {status}");
    }
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
    // The store is refilled on demand.
    fs_err::remove_dir_all(velo_dir(&context)).unwrap();
    assert_success(&context.run(["sync"]));
    assert_eq!(run_tool(&context, "beta", &["--version"]), "beta 1.0.0\n");

    let output = context.run(["cache", "clean"]);
    assert_success(&output);
    assert!(!context.cache_dir.exists(), "velo cache clean left the cache dir");
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
}

#[test]
fn upgrading_a_package_replaces_it() {
    let context = TestContext::new();
    let mut index = context.index();
    add_tool(&mut index, "alpha", "1.0.0");
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    assert_success(&context.run(["sync"]));

    add_tool(&mut index, "alpha", "2.0.0");
    index.write();
    assert_success(&context.run(["lock", "--upgrade"]));
    let output = context.run(["sync"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Removed alpha 1.0.0");
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 2.0.0\n");
    assert_eq!(
        names_in(&velo_dir(&context).join("Cellar/alpha")),
        ["2.0.0"].map(String::from).into()
    );
    assert_eq!(
        fs_err::canonicalize(velo_dir(&context).join("opt/alpha")).unwrap(),
        velo_dir(&context).join("Cellar/alpha/2.0.0")
    );
    assert_no_leftovers(&context);

    // No dependencies at all: an empty but valid `.velo`.
    context.write_manifest(&manifest(LOCAL, json!({})));
    assert_success(&context.run(["sync"]));
    assert!(names_in(&velo_dir(&context).join("Cellar")).is_empty());
    assert!(names_in(&velo_dir(&context).join("bin")).is_empty());
    assert!(velo_dir(&context).join("bin").is_dir());
    assert_no_leftovers(&context);
}

#[test]
fn a_command_two_packages_provide_goes_to_the_first_with_a_warning() {
    let context = TestContext::new();
    let mut index = context.index();
    for name in ["one", "two"] {
        let entries = [executable("bin/same", script(name, "1.0.0"))];
        index.add_archive(
            name,
            "1.0.0",
            &format!("{name}.tar.gz"),
            &archive::tar_gz(&entries),
            json!({}),
        );
    }
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["one", "two"])));
    let output = context.run(["sync"]);
    assert_success(&output);
    assert!(
        stderr(&output).contains("warning: `two` and `one` both provide `same`; using `one`'s"),
        "{}",
        stderr(&output)
    );
    assert_eq!(run_tool(&context, "same", &["--version"]), "one 1.0.0\n");
}

#[test]
fn sync_repairs_a_deleted_cellar_entry() {
    let context = local_project(&["alpha", "beta"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha", "beta"])));
    assert_success(&context.run(["sync"]));
    fs_err::remove_dir_all(velo_dir(&context).join("Cellar/alpha")).unwrap();

    let output = context.run(["sync"]);
    assert_success(&output);
    // Today it prints "Checked `.velo` is up to date" and leaves `.velo/bin/alpha` dangling.
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
}

#[test]
fn a_larger_size_in_the_index_is_a_size_mismatch() {
    let context = TestContext::new();
    let mut index = context.index();
    let bytes = script("sized", "1.0.0");
    index.add_archive(
        "sized",
        "1.0.0",
        "sized",
        &bytes,
        json!({ "size": bytes.len() + 100, "bin": { "sized": "sized" } }),
    );
    let server = FixtureServer::start(index.write());
    context.write_manifest(&manifest(&server.url(), any_version(&["sized"])));
    let output = context.run(["sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    let expected = format!(
        "`{}artifacts/sized` is {} bytes, but the lock says {}",
        server.url(),
        bytes.len(),
        bytes.len() + 100
    );
    assert_contains(&stderr(&output), &expected);
}

#[test]
fn a_smaller_size_in_the_index_is_reported_with_the_real_size() {
    let context = TestContext::new();
    let mut index = context.index();
    let bytes = noise(300_000, 3);
    index.add_archive(
        "sized",
        "1.0.0",
        "sized",
        &bytes,
        json!({ "size": 1000, "bin": { "sized": "sized" } }),
    );
    let server = FixtureServer::start(index.write());
    context.write_manifest(&manifest(&server.url(), any_version(&["sized"])));
    let output = context.run(["sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    let text = stderr(&output);
    // The message may give the real size (300000, the response's Content-Length) or say "more
    // than 1000 bytes"; it must not state a size the file does not have.
    let sizes: Vec<&str> = regex::Regex::new(r"is (\d+) bytes")
        .unwrap()
        .captures_iter(&text)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert!(sizes.iter().all(|size| *size == "300000"), "{text}");
    assert_contains(&text, "1000");
}

#[test]
fn locked_and_frozen_without_a_lock_fail_and_write_nothing() {
    let context = local_project(&["alpha"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    let locked = context.run(["sync", "--locked"]);
    assert_eq!(locked.status.code(), Some(2), "{}", context.render(&locked));
    let frozen = context.run(["sync", "--frozen"]);
    assert_eq!(frozen.status.code(), Some(2), "{}", context.render(&frozen));
    for output in [&locked, &frozen] {
        assert_contains(&stderr(output), "run `velo lock`");
    }
    insta::assert_snapshot!(format!(
        "{}\n\n{}",
        context.render(&locked),
        context.render(&frozen)
    ));
    assert_eq!(names_in(&context.root), ["velo.json"].map(String::from).into());
}

#[test]
fn a_moved_project_gets_shims_for_its_new_place() {
    let context = TestContext::new();
    let mut index = context.index();
    let tool = "#!/bin/sh\necho \"home=$ENVY_HOME\"\n";
    index.add_archive(
        "envy",
        "1.0.0",
        "envy.tar.gz",
        &archive::tar_gz(&[executable("bin/envy", tool)]),
        json!({ "env": { "ENVY_HOME": "{prefix}/share" } }),
    );
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["envy"])));
    assert_success(&context.run(["sync"]));

    // `../index` still points at the index from the new place.
    let moved = context.base().join("moved");
    fs_err::rename(&context.root, &moved).unwrap();
    assert_success(&context.velo().current_dir(&moved).arg("sync").output().unwrap());
    let output = Command::new(moved.join(".velo/bin/envy")).output().unwrap();
    assert_success(&output);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("home={}/.velo/Cellar/envy/1.0.0/share\n", moved.display())
    );
}

/// `HTTP_PROXY` carries every request, so a registry whose host does not even resolve works
/// through the proxy; `NO_PROXY` sends a host around a proxy that is down.
#[test]
fn proxies_from_the_environment_are_honoured() {
    let context = TestContext::new();
    let mut index = context.index();
    index.add_archive(
        "alpha",
        "1.0.0",
        "alpha.tar.gz",
        &archive::tar_gz(&[archive::executable(
            "bin/alpha",
            archive::script("alpha", "1.0.0"),
        )]),
        json!({}),
    );
    let proxy = FixtureServer::start(index.write());
    let unresolvable = "http://velo-proxy-test.invalid/";
    context
        .write_manifest(&json!({ "registry": unresolvable, "dependencies": { "alpha": "*" } }).to_string());
    let output = context
        .velo()
        .env("HTTP_PROXY", proxy.url())
        .arg("sync")
        .output()
        .unwrap();
    assert_success(&output);
    let proxied = proxy.proxied();
    assert!(
        proxied
            .iter()
            .any(|url| url == "http://velo-proxy-test.invalid/packages/alpha.json"),
        "{proxied:?}"
    );
    assert!(
        proxied.iter().any(|url| url.ends_with("/artifacts/alpha.tar.gz")),
        "{proxied:?}"
    );
    assert!(context.root.join(".velo/bin/alpha").exists());

    // A dead proxy, bypassed for the loopback server by NO_PROXY.
    let direct = TestContext::new();
    let mut index = direct.index();
    index.add("beta", "1.0.0", &[]);
    let server = FixtureServer::start(index.write());
    direct.write_manifest(&json!({ "registry": server.url(), "dependencies": { "beta": "*" } }).to_string());
    let output = direct
        .velo()
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1")
        .arg("lock")
        .output()
        .unwrap();
    assert_success(&output);
    assert!(server.proxied().is_empty());
    assert!(!server.requests_to("/packages/beta.json").is_empty());
}

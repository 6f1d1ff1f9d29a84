//! Restoring a task's cached outputs from hostile artifacts: crafted tar + zstd artifacts placed
//! in the local cache, or uploaded to a real `velo serve` with a write token and replayed by a
//! read-token client. Nothing outside the task's outputs may change, and the task runs instead.
//! Also outputs behind a symlinked directory, and three `velo run` at once in one project.
//!
//! Commands count their runs by appending to `../runs.txt`, outside the project.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use serde_json::{json, Value};

use crate::common::disk;
use crate::common::serve::{Cache, Server, READ_TOKEN};
use crate::common::{assert_contains, assert_success, run_at_once, stderr, TestContext};

/// An entry of a crafted artifact, named as it is in the tar (`outputs/…`).
enum Craft {
    File(&'static str, &'static str, u32),
    Dir(&'static str, u32),
    Link(&'static str, &'static str),
}

/// A tar header with exactly these name and link bytes (`..` included, which the `tar` crate's
/// own setters refuse).
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

/// A task artifact as velo lays it out (metadata naming `key`, the log, the outputs), with
/// `entries` as the outputs.
fn craft(key: &str, entries: &[Craft]) -> Vec<u8> {
    let meta = json!({
        "format": "velo-task-artifact-v1", "key": key, "task": "build", "duration_ms": 5, "created": 0
    })
    .to_string();
    let mut tar = tar::Builder::new(Vec::new());
    let regular = tar::EntryType::Regular;
    let meta_header = header("velo-task.json", regular, 0o644, meta.len() as u64, None);
    tar.append(&meta_header, meta.as_bytes()).unwrap();
    let log = b"crafted log\n";
    tar.append(&header("log", regular, 0o644, log.len() as u64, None), &log[..])
        .unwrap();
    for entry in entries {
        match *entry {
            Craft::File(name, content, mode) => {
                let h = header(name, regular, mode, content.len() as u64, None);
                tar.append(&h, content.as_bytes()).unwrap();
            }
            Craft::Dir(name, mode) => {
                let h = header(name, tar::EntryType::Directory, mode, 0, None);
                tar.append(&h, std::io::empty()).unwrap();
            }
            Craft::Link(name, target) => {
                let h = header(name, tar::EntryType::Symlink, 0o777, 0, Some(target));
                tar.append(&h, std::io::empty()).unwrap();
            }
        }
    }
    let mut encoder = zstd::Encoder::new(Vec::new(), 3).unwrap();
    encoder.write_all(&tar.into_inner().unwrap()).unwrap();
    encoder.finish().unwrap()
}

/// A project whose `build` writes `dist/out.txt`, with a `.git/hooks` directory, beside a
/// sentinel directory (`<temp>/sentinel`, mode 0750) that no restore may touch.
fn project() -> TestContext {
    let context = TestContext::new();
    context.write_manifest(
        &json!({ "tasks": { "build": {
            "command": "echo run >> ../runs.txt; mkdir -p dist && echo built > dist/out.txt && echo built it",
            "inputs": ["src/**"],
            "outputs": ["dist/**"]
        } } })
        .to_string(),
    );
    for dir in ["src", ".git/hooks"] {
        fs_err::create_dir_all(context.root.join(dir)).unwrap();
    }
    fs_err::write(context.root.join("src/a.txt"), "a\n").unwrap();
    fs_err::write(context.root.join(".git/hooks/pre-commit.sample"), "#!/bin/sh\n").unwrap();
    let sentinel = context.base().join("sentinel");
    fs_err::create_dir_all(sentinel.join("deep")).unwrap();
    fs_err::write(sentinel.join("s.txt"), "outside\n").unwrap();
    fs_err::set_permissions(&sentinel, std::fs::Permissions::from_mode(0o750)).unwrap();
    context
}

fn runs(context: &TestContext) -> usize {
    std::fs::read_to_string(context.base().join("runs.txt")).map_or(0, |t| t.lines().count())
}

/// The key of `build`, from `velo run build --dry-run=json`.
fn build_key(context: &TestContext) -> String {
    let output = context.run(["run", "build", "--dry-run=json"]);
    assert_success(&output);
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    plan["tasks"][0]["key"].as_str().unwrap().to_string()
}

/// What must not change: the sentinel, and the project but its outputs and `.velo`.
fn protected(context: &TestContext) -> (disk::Tree, disk::Tree) {
    (
        disk::tree(&context.base().join("sentinel"), &[]),
        disk::tree(&context.root, &["dist", ".velo"]),
    )
}

/// Put `artifact` in the local cache under `key`, with a matching digest.
fn place_locally(context: &TestContext, key: &str, artifact: &[u8]) {
    let entry = context.cache_dir.join("tasks-v1").join(key);
    fs_err::create_dir_all(&entry).unwrap();
    fs_err::write(entry.join("artifact.tar.zst"), artifact).unwrap();
    let sidecar = json!({ "blake3": blake3::hash(artifact).to_hex().to_string(), "size": artifact.len() });
    fs_err::write(entry.join("artifact.json"), sidecar.to_string()).unwrap();
}

/// Upload `artifact` under `key` to `server` as a write-token holder would: a valid envelope
/// (right key, right digest), unsigned.
fn upload(server: &Server, key: &str, artifact: &[u8]) {
    let mut object = b"velo-cache-object-v1\n".to_vec();
    let header =
        json!({ "key": key, "blake3": blake3::hash(artifact).to_hex().to_string(), "size": artifact.len() });
    object.extend(header.to_string().into_bytes());
    object.push(b'\n');
    object.extend_from_slice(artifact);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(server.upload(key, &object));
}

/// The hostile artifacts, each with what it must not leave behind (relative to the project).
fn cases() -> Vec<(&'static str, Option<&'static str>, Vec<Craft>, &'static str)> {
    vec![
        (
            // `b` resolves to `<temp>/sentinel` (`a` is `dist`, so `a/../..` is the project's
            // parent), though lexically it stays in the project.
            "a chain of symlinks leading up",
            None,
            vec![
                Craft::Link("outputs/dist/a", "."),
                Craft::Link("outputs/dist/b", "a/../../sentinel"),
                Craft::File("outputs/dist/b/pwned.txt", "pwned\n", 0o644),
            ],
            "dist/b",
        ),
        (
            "a directory replaced by a symlink later in the archive",
            None,
            vec![
                Craft::Dir("outputs/dist/sub/", 0o755),
                Craft::Link("outputs/dist/a", "."),
                Craft::Link("outputs/dist/sub", "a/../../sentinel"),
                Craft::File("outputs/dist/sub/pwned.txt", "pwned\n", 0o644),
            ],
            "dist/sub",
        ),
        (
            "an entry outside the outputs",
            None,
            vec![
                Craft::File("outputs/dist/ok.txt", "ok\n", 0o644),
                Craft::File(
                    "outputs/.git/hooks/post-checkout",
                    "#!/bin/sh\necho pwned\n",
                    0o755,
                ),
            ],
            "dist/ok.txt",
        ),
        (
            "metadata naming another key",
            Some("00000000000000000000000000000000000000000000000000000000000000ff"),
            vec![Craft::File("outputs/dist/planted.txt", "planted\n", 0o644)],
            "dist/planted.txt",
        ),
        (
            "a directory whose mode is fixed through a later symlink",
            None,
            vec![
                Craft::Link("outputs/dist/a", "."),
                Craft::Dir("outputs/dist/d/", 0o777),
                Craft::Link("outputs/dist/d", "a/../../sentinel"),
            ],
            "dist/d",
        ),
    ]
}

/// Run `build` over a hostile result and check it was refused: the task ran, nothing protected
/// changed, the artifact left nothing behind, and the refusal was said.
fn assert_refused(
    context: &TestContext,
    case: &str,
    leftover: &str,
    before: &(disk::Tree, disk::Tree),
) -> Output {
    let ran = runs(context);
    let output = context.run(["run", "build"]);
    assert_success(&output);
    let text = stderr(&output);
    assert_eq!(
        runs(context),
        ran + 1,
        "{case}: the task must run instead:\n{text}"
    );
    assert!(!text.contains("cache hit"), "{case}:\n{text}");
    assert_contains(&text, "warning:");
    assert_eq!(
        &protected(context),
        before,
        "{case}: something outside the outputs changed"
    );
    assert!(
        fs_err::symlink_metadata(context.root.join(leftover)).is_err(),
        "{case}: `{leftover}` was restored"
    );
    assert!(!context.root.join(".git/hooks/post-checkout").exists(), "{case}");
    assert_eq!(
        fs_err::read_to_string(context.root.join("dist/out.txt")).unwrap(),
        "built\n"
    );
    output
}

#[test]
fn hostile_local_artifacts_are_refused_and_the_task_runs() {
    for (case, meta_key, entries, leftover) in cases() {
        let context = project();
        let key = build_key(&context);
        place_locally(&context, &key, &craft(meta_key.unwrap_or(&key), &entries));
        let before = protected(&context);
        let output = assert_refused(&context, case, leftover, &before);
        // A refused artifact is worth nothing: it was discarded, and the task's own result
        // replaced it.
        assert_contains(&stderr(&output), "discarded");
        let output = context.run(["run", "build"]);
        assert_success(&output);
        assert_contains(&stderr(&output), "Replaying build (cache hit");
        assert_eq!(runs(&context), 1, "{case}");
    }
}

#[test]
fn hostile_remote_artifacts_are_refused_and_the_task_runs() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    for (number, (case, meta_key, entries, leftover)) in cases().into_iter().enumerate() {
        let context = project()
            .with_env("VELO_CACHE_URL", &server.url())
            .with_env("VELO_CACHE_TOKEN", READ_TOKEN);
        // Each case gets its own key: the command says which case it is.
        let manifest = context
            .manifest()
            .replace("built it", &format!("built it {number}"));
        context.write_manifest(&manifest);
        let key = build_key(&context);
        upload(&server, &key, &craft(meta_key.unwrap_or(&key), &entries));
        let before = protected(&context);
        let output = assert_refused(&context, case, leftover, &before);
        assert!(
            !stderr(&output).contains("remote cache hit"),
            "{case}: {}",
            stderr(&output)
        );
    }
}

/// `dist -> <temp>/elsewhere`, with outputs `dist/js/**`: what is under the link is neither
/// archived nor deleted before a restore, and a cached result is not restored through it.
#[test]
fn outputs_behind_a_symlinked_directory_stay_outside() {
    let context = project();
    context.write_manifest(
        &json!({ "tasks": { "build": {
            "command": "echo run >> ../runs.txt; [ -L dist ] || { mkdir -p dist/js && echo a > dist/js/a.js; }",
            "inputs": ["src/**"],
            "outputs": ["dist/js/**"]
        } } })
        .to_string(),
    );
    let elsewhere = context.base().join("elsewhere");
    fs_err::create_dir_all(elsewhere.join("js")).unwrap();
    fs_err::write(elsewhere.join("js/keep.js"), "not the project's\n").unwrap();
    let outside = disk::tree(&elsewhere, &[]);

    // A result cached from a real `dist`, restored where `dist` is now a symlink out.
    assert_success(&context.run(["run", "build"]));
    fs_err::remove_dir_all(context.root.join("dist")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, context.root.join("dist")).unwrap();
    let output = context.run(["run", "build"]);
    assert_success(&output);
    let text = stderr(&output);
    assert_contains(&text, "could not be restored");
    assert!(!text.contains("discarded"), "the entry is good:\n{text}");
    assert_eq!(runs(&context), 2);
    assert_eq!(
        disk::tree(&elsewhere, &[]),
        outside,
        "a restore wrote or deleted through `dist`"
    );
    assert!(context
        .cache_dir
        .join("tasks-v1")
        .join(build_key(&context))
        .is_dir());

    // The task's result with `dist` a symlink: the files behind it are not outputs.
    let with_link = context.manifest().replace("dist/js/**", "dist/js/*.js");
    context.write_manifest(&with_link);
    let output = context.run(["run", "build"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "no files matched the outputs");
    let output = context.run(["run", "build"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Replaying build (cache hit");
    assert_eq!(
        disk::tree(&elsewhere, &[]),
        outside,
        "files behind `dist` were deleted"
    );
}

/// Three `velo run` at once in one project, restoring (and racing on) the same outputs: a good
/// cache entry is never discarded as corrupt.
#[test]
fn concurrent_runs_in_one_project_keep_a_good_entry() {
    let context = project();
    context.write_manifest(
        &json!({ "tasks": { "build": {
            "command": "echo run >> ../runs.txt; mkdir -p dist/a dist/b && for i in $(seq 1 150); do echo $i > dist/a/f$i.txt; echo $i > dist/b/g$i.txt; done",
            "inputs": ["src/**"],
            "outputs": ["dist/**"]
        } } })
        .to_string(),
    );
    assert_success(&context.run(["run", "build"]));
    let key = build_key(&context);
    let entry = context.cache_dir.join("tasks-v1").join(&key);
    for round in 0..3 {
        fs_err::remove_dir_all(context.root.join("dist")).unwrap();
        let runs = (0..3).map(|_| {
            let mut command = context.velo();
            command.args(["run", "build"]);
            command
        });
        for output in run_at_once(runs) {
            assert_success(&output);
            let text = stderr(&output);
            assert!(
                !text.contains("corrupt") && !text.contains("discarded"),
                "round {round}: a good entry was discarded:\n{text}"
            );
        }
        assert!(entry.join("artifact.tar.zst").is_file(), "round {round}");
        assert_eq!(
            fs_err::read_to_string(context.root.join("dist/b/g150.txt")).unwrap(),
            "150\n"
        );
    }
}

/// A repository that commits `.velo -> elsewhere` (or `.velo/tasks -> elsewhere`): the task
/// cache's records are neither written nor removed through it.
#[test]
fn a_planted_velo_symlink_is_not_written_through() {
    for planted in [".velo", ".velo/tasks"] {
        let context = project();
        let elsewhere = context.base().join("elsewhere");
        fs_err::create_dir_all(&elsewhere).unwrap();
        fs_err::write(elsewhere.join("keep.json"), "{}").unwrap();
        let before = disk::tree(&elsewhere, &[]);
        let link = context.root.join(planted);
        fs_err::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        assert_success(&context.run(["run", "build"]));
        fs_err::remove_dir_all(context.root.join("dist")).unwrap();
        let output = context.run(["run", "build"]);
        assert_success(&output);
        assert_contains(&stderr(&output), "Replaying build (cache hit");
        assert_eq!(
            disk::tree(&elsewhere, &[]),
            before,
            "`{planted}` was written through"
        );
    }
}

/// A FIFO among the inputs or the outputs never blocks `velo run`: an input counts by its name,
/// and an output that is not a regular file is not cached (with a warning).
#[test]
fn fifos_in_inputs_and_outputs_do_not_hang() {
    let context = project();
    context.write_manifest(
        &json!({ "tasks": { "build": {
            "command": "echo run >> ../runs.txt; mkdir -p dist && rm -f dist/pipe && mkfifo dist/pipe",
            "inputs": ["src/**"],
            "outputs": ["dist/**"]
        } } })
        .to_string(),
    );
    let status = std::process::Command::new("mkfifo")
        .arg(context.root.join("src/pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let bound = std::time::Duration::from_secs(60);
    let mut command = context.velo();
    command.args(["run", "build"]);
    let output = crate::common::serve::run_to_exit(command, bound);
    assert_success(&output);
    assert_contains(&stderr(&output), "could not cache the result");
    assert_contains(&stderr(&output), "is not a regular file");
    assert_eq!(runs(&context), 1);
}

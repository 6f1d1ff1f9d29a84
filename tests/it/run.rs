//! `velo run`: the task graph, the local task cache (keys, restore, replay, corruption),
//! parallelism, failures and the command line around them.
//!
//! Commands count their runs by appending to files outside the project (`../runs.txt` from a
//! single project, `../../../NAME` from a workspace member in `packages/`), so the counters are
//! neither inputs nor outputs.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};

use crate::common::archive::{self, executable, script};
use crate::common::disk;
use crate::common::{assert_contains, assert_success, run_at_once, stderr, TestContext};

/// A test context whose snapshots hide task keys and durations.
fn context() -> TestContext {
    TestContext::new()
        .with_filter(r"\b[0-9a-f]{64}\b", "[KEY]")
        .with_filter(r"\b[0-9a-f]{16}\b", "[SHORT]")
        .with_filter(r"\b\d+\.\d{2}s\b", "[TIME]")
}

fn write(dir: &Path, relative: &str, content: impl AsRef<[u8]>) {
    let path = dir.join(relative);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, content).unwrap();
}

fn write_json(dir: &Path, relative: &str, value: &Value) {
    write(dir, relative, serde_json::to_string_pretty(value).unwrap() + "\n");
}

fn chmod(path: &Path, mode: u32) {
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The number of lines in `path` (0 when it does not exist).
fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// `velo run ARGS…`, which must succeed.
fn run_ok(context: &TestContext, args: &[&str]) -> Output {
    let output = context.velo().arg("run").args(args).output().unwrap();
    assert_success(&output);
    output
}

/// `velo run ARGS… --dry-run=json`, parsed.
fn dry_run(context: &TestContext, args: &[&str]) -> Value {
    let output = context
        .velo()
        .arg("run")
        .args(args)
        .arg("--dry-run=json")
        .output()
        .unwrap();
    assert_success(&output);
    serde_json::from_slice(&output.stdout).expect("--dry-run=json prints JSON")
}

/// Task label → row of a `--dry-run=json`.
fn rows(plan: &Value) -> BTreeMap<String, Value> {
    plan["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["task"].as_str().unwrap().to_string(), row.clone()))
        .collect()
}

/// The key of `label` when running `args`.
fn key_of(context: &TestContext, args: &[&str], label: &str) -> String {
    let plan = dry_run(context, args);
    let key = rows(&plan)
        .get(label)
        .unwrap_or_else(|| panic!("no task `{label}` in {plan:#}"))["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(key.len(), 64, "{key}");
    key
}

/// The entries of the task cache (key directories and anything else left there).
fn cache_entries(context: &TestContext) -> Vec<String> {
    let dir = context.cache_dir.join("tasks-v1");
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A workspace: the root `velo.json` lists `packages/*`; each member is `(name, velo.json)`.
fn workspace(context: &TestContext, members: &[(&str, Value)]) {
    context.write_manifest(
        &(serde_json::to_string_pretty(&json!({ "workspace": { "members": ["packages/*"] } })).unwrap()
            + "\n"),
    );
    for (name, manifest) in members {
        write_json(&context.root, &format!("packages/{name}/velo.json"), manifest);
    }
}

fn member_dir(context: &TestContext, name: &str) -> PathBuf {
    context.root.join("packages").join(name)
}

// ---------------------------------------------------------------------------------------------
// 1. Run, then replay from the cache.
// ---------------------------------------------------------------------------------------------

#[test]
fn second_run_replays_the_log_without_running_the_command() {
    let context = context();
    context.write_manifest(
        &json!({
            "name": "demo",
            "tasks": {
                "build": {
                    "command": "echo run >> ../runs.txt; mkdir -p dist; echo x > dist/out.txt; echo hello; echo to-stderr >&2; printf 'no newline'",
                    "outputs": ["dist/**"]
                }
            }
        })
        .to_string(),
    );
    write(&context.root, "src/main.txt", "main");
    let runs = context.base().join("runs.txt");

    let first = run_ok(&context, &["build"]);
    assert_eq!(
        stdout(&first),
        "build: hello\nbuild: to-stderr\nbuild: no newline\n"
    );
    assert_eq!(lines(&runs), 1);
    insta::assert_snapshot!("first_run", context.render(&first));

    let second = run_ok(&context, &["build"]);
    assert_eq!(lines(&runs), 1, "a cache hit must not run the command");
    assert_eq!(
        stdout(&second),
        stdout(&first),
        "the log is replayed as it was printed"
    );
    insta::assert_snapshot!("second_run", context.render(&second));

    // Both runs name the same key.
    let short = |output: &Output| {
        let text = stderr(output);
        let re = regex::Regex::new(r"build \(cache (?:miss|hit), ([0-9a-f]{16})\)").unwrap();
        re.captures(&text).unwrap_or_else(|| panic!("{text}"))[1].to_string()
    };
    assert_eq!(short(&first), short(&second));
    assert!(key_of(&context, &["build"], "build").starts_with(&short(&first)));
}

#[test]
fn quiet_hides_task_output_and_statuses() {
    let context = context();
    context.write_manifest(&json!({ "tasks": { "build": "echo hello" } }).to_string());
    for _ in 0..2 {
        let output = run_ok(&context, &["-q", "build"]);
        assert_eq!(stdout(&output), "");
        assert_eq!(stderr(&output), "");
    }
    // The quiet run's log was still cached and is replayed by a normal run.
    let output = run_ok(&context, &["build"]);
    assert_eq!(stdout(&output), "build: hello\n");
    assert_contains(&stderr(&output), "Replaying build (cache hit");
}

// ---------------------------------------------------------------------------------------------
// 2. Outputs restored exactly.
// ---------------------------------------------------------------------------------------------

#[test]
fn outputs_are_restored_byte_for_byte() {
    let context = context();
    let command = [
        "echo run >> ../runs.txt",
        "mkdir -p dist/nested/deep",
        "printf 'bin\\000\\001\\377ary' > dist/app.bin",
        "printf '#!/bin/sh\\necho hi\\n' > dist/run.sh",
        "chmod 755 dist/run.sh",
        "echo data > dist/data.txt",
        "chmod 644 dist/data.txt",
        "echo deep > dist/nested/deep/file.txt",
        "ln -s nested/deep/file.txt dist/link",
        "touch -t 200102030405.06 dist/data.txt",
        "echo built",
    ]
    .join(" && ");
    context.write_manifest(
        &json!({ "tasks": { "build": { "command": command, "inputs": ["src/**"], "outputs": ["dist"] } } })
            .to_string(),
    );
    write(&context.root, "src/a.txt", "a");
    let runs = context.base().join("runs.txt");
    let dist = context.root.join("dist");

    run_ok(&context, &["build"]);
    let built = disk::tree(&dist, &[]);
    assert_eq!(built["run.sh"].1, 0o755, "{built:?}");
    assert_eq!(built["data.txt"].1, 0o644, "{built:?}");
    assert_eq!(built["link"].0, 'l');
    let data_mtime = fs_err::metadata(dist.join("data.txt"))
        .unwrap()
        .modified()
        .unwrap();

    fs_err::remove_dir_all(&dist).unwrap();
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "Replaying build (cache hit");
    assert_eq!(stdout(&output), "build: built\n");
    assert_eq!(lines(&runs), 1, "the command must not run on a hit");
    assert_eq!(disk::tree(&dist, &[]), built);
    assert_eq!(
        fs_err::read_link(dist.join("link")).unwrap(),
        Path::new("nested/deep/file.txt")
    );
    assert_eq!(fs_err::read_to_string(dist.join("link")).unwrap(), "deep\n");
    assert_eq!(
        fs_err::metadata(dist.join("data.txt"))
            .unwrap()
            .modified()
            .unwrap(),
        data_mtime,
        "mtime preserved exactly"
    );

    // Stale and changed outputs: the restore leaves exactly the cached result.
    write(&dist, "stale.txt", "not from the cache");
    write(&dist, "nested/stale/old.txt", "not from the cache");
    write(&dist, "data.txt", "changed by hand");
    chmod(&dist.join("run.sh"), 0o600);
    fs_err::remove_file(dist.join("link")).unwrap();
    write(&dist, "link", "now a file");
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "Replaying build (cache hit");
    assert_eq!(lines(&runs), 1);
    let mut restored = disk::tree(&dist, &[]);
    // Stale directories may stay; stale files may not.
    restored.retain(|path, entry| !(entry.0 == 'd' && path.contains("stale")));
    assert_eq!(restored, built);
}

/// Build output is usually gitignored; it is cached all the same. A restore never writes
/// through a symlink planted where the outputs go.
#[test]
fn ignored_outputs_are_cached_and_restores_do_not_follow_symlinks() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": { "build": {
            "command": "echo run >> ../runs.txt; mkdir -p dist/sub && echo inner > dist/sub/file.txt",
            "inputs": ["src/**"],
            "outputs": ["dist/**"]
        } } })
        .to_string(),
    );
    write(&context.root, ".gitignore", "dist/\n");
    write(&context.root, "src/a.txt", "a");
    run_ok(&context, &["build"]);

    let outside = context.base().join("outside");
    fs_err::create_dir_all(&outside).unwrap();
    fs_err::remove_dir_all(context.root.join("dist/sub")).unwrap();
    std::os::unix::fs::symlink(&outside, context.root.join("dist/sub")).unwrap();
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "Replaying build (cache hit");
    assert_eq!(runs(&context), 1);
    assert!(
        !outside.join("file.txt").exists(),
        "the restore wrote through a symlink"
    );
    let sub = fs_err::symlink_metadata(context.root.join("dist/sub")).unwrap();
    assert!(sub.is_dir() && !sub.file_type().is_symlink());
    assert_eq!(
        fs_err::read_to_string(context.root.join("dist/sub/file.txt")).unwrap(),
        "inner\n"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. What the key depends on.
// ---------------------------------------------------------------------------------------------

const FLAVOR: &str = "RUN_TEST_FLAVOR";

/// A single project whose `build` lists its inputs (`src/**`), an output and a variable.
fn key_project() -> TestContext {
    let context = context();
    context.write_manifest(&key_manifest(
        "echo run >> ../runs.txt; mkdir -p dist; ls src > dist/list.txt",
        json!({}),
    ));
    write(&context.root, "src/a.txt", "alpha");
    write(&context.root, "src/b.txt", "beta");
    write(&context.root, "notes.md", "unrelated");
    write(&context.root, ".gitignore", "*.log\n");
    context
}

fn key_manifest(command: &str, env: Value) -> String {
    json!({
        "name": "demo",
        "env": env,
        "tasks": {
            "build": {
                "command": command,
                "inputs": ["src/**"],
                "outputs": ["dist/**"],
                "env": [FLAVOR]
            }
        }
    })
    .to_string()
}

fn runs(context: &TestContext) -> usize {
    lines(&context.base().join("runs.txt"))
}

/// `velo run build` with `FLAVOR` unset; returns stderr.
fn build(context: &TestContext) -> String {
    let output = context
        .velo()
        .env_remove(FLAVOR)
        .args(["run", "build"])
        .output()
        .unwrap();
    assert_success(&output);
    stderr(&output)
}

fn build_key(context: &TestContext) -> String {
    let output = context
        .velo()
        .env_remove(FLAVOR)
        .args(["run", "build", "--dry-run=json"])
        .output()
        .unwrap();
    assert_success(&output);
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    plan["tasks"][0]["key"].as_str().unwrap().to_string()
}

/// Run once (so there is a cached result), `change` the project, and check the key moved and
/// the task ran again.
fn assert_invalidated(context: &TestContext, change: impl FnOnce(&TestContext)) {
    build(context);
    let before = build_key(context);
    let ran = runs(context);
    assert!(build(context).contains("Replaying build (cache hit"));
    change(context);
    let after = build_key(context);
    assert_ne!(before, after, "the key must change");
    let status = build(context);
    assert_contains(&status, format!("Running build (cache miss, {})", &after[..16]));
    assert_eq!(runs(context), ran + 1, "the task must run again");
    assert!(build(context).contains("Replaying build (cache hit"));
}

/// Run once, `change` the project, and check the key stayed and the result is replayed.
fn assert_stable(context: &TestContext, change: impl FnOnce(&TestContext)) {
    build(context);
    let before = build_key(context);
    let ran = runs(context);
    change(context);
    assert_eq!(build_key(context), before, "the key must not change");
    let status = build(context);
    assert_contains(&status, "Replaying build (cache hit");
    assert_eq!(runs(context), ran, "the task must not run again");
}

#[test]
fn key_changes_with_input_content() {
    let context = key_project();
    assert_invalidated(&context, |c| write(&c.root, "src/a.txt", "ALPHA"));
}

#[test]
fn key_changes_with_a_new_input_file() {
    let context = key_project();
    assert_invalidated(&context, |c| write(&c.root, "src/deeper/c.txt", "gamma"));
}

#[test]
fn key_changes_with_a_deleted_input_file() {
    let context = key_project();
    assert_invalidated(&context, |c| {
        fs_err::remove_file(c.root.join("src/b.txt")).unwrap()
    });
}

#[test]
fn key_changes_with_a_renamed_input() {
    let context = key_project();
    assert_invalidated(&context, |c| {
        fs_err::rename(c.root.join("src/a.txt"), c.root.join("src/renamed.txt")).unwrap()
    });
}

#[test]
fn key_changes_with_the_exec_bit() {
    let context = key_project();
    assert_invalidated(&context, |c| chmod(&c.root.join("src/a.txt"), 0o755));
}

#[test]
fn key_changes_with_the_command() {
    let context = key_project();
    assert_invalidated(&context, |c| {
        c.write_manifest(&key_manifest(
            "echo run >> ../runs.txt; mkdir -p dist; ls -a src > dist/list.txt",
            json!({}),
        ))
    });
}

#[test]
fn key_changes_with_the_project_env() {
    let context = key_project();
    let command = "echo run >> ../runs.txt; mkdir -p dist; ls src > dist/list.txt";
    context.write_manifest(&key_manifest(command, json!({ "MODE": "debug" })));
    assert_invalidated(&context, |c| {
        c.write_manifest(&key_manifest(command, json!({ "MODE": "release" })))
    });
}

#[test]
fn key_changes_with_a_listed_env_var() {
    let context = key_project();
    let key_with = |value: Option<&str>| {
        let mut command = context.velo();
        command.args(["run", "build", "--dry-run=json"]);
        match value {
            Some(value) => command.env(FLAVOR, value),
            None => command.env_remove(FLAVOR),
        };
        let output = command.output().unwrap();
        assert_success(&output);
        let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
        plan["tasks"][0]["key"].as_str().unwrap().to_string()
    };
    let run_with = |value: Option<&str>| {
        let mut command = context.velo();
        command.args(["run", "build"]);
        match value {
            Some(value) => command.env(FLAVOR, value),
            None => command.env_remove(FLAVOR),
        };
        let output = command.output().unwrap();
        assert_success(&output);
        stderr(&output)
    };
    let unset = key_with(None);
    let empty = key_with(Some(""));
    let one = key_with(Some("one"));
    let two = key_with(Some("two"));
    let all = [&unset, &empty, &one, &two];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b, "unset, empty, `one` and `two` give four keys");
        }
    }
    assert!(run_with(None).contains("cache miss"));
    assert!(run_with(Some("one")).contains("cache miss"));
    assert!(run_with(Some("two")).contains("cache miss"));
    assert_eq!(runs(&context), 3);
    // Each value keeps its own result.
    assert!(run_with(None).contains("cache hit"));
    assert!(run_with(Some("one")).contains("cache hit"));
    assert_eq!(runs(&context), 3);
    // A variable the task does not list changes nothing.
    let mut command = context.velo();
    command.env_remove(FLAVOR).env("RUN_TEST_UNLISTED", "x");
    let output = command.args(["run", "build"]).output().unwrap();
    assert_success(&output);
    assert_contains(&stderr(&output), "cache hit");
}

#[test]
fn key_changes_with_the_end_of_a_large_input() {
    let context = key_project();
    let mut big = vec![b'.'; 300_000];
    write(&context.root, "src/big.bin", &big);
    assert_invalidated(&context, |c| {
        *big.last_mut().unwrap() = b'!';
        write(&c.root, "src/big.bin", &big);
    });
}

#[test]
fn key_changes_with_a_symlink_target() {
    let context = key_project();
    std::os::unix::fs::symlink("a.txt", context.root.join("src/link")).unwrap();
    assert_invalidated(&context, |c| {
        fs_err::remove_file(c.root.join("src/link")).unwrap();
        std::os::unix::fs::symlink("b.txt", c.root.join("src/link")).unwrap();
    });
}

#[test]
fn key_ignores_unrelated_files() {
    let context = key_project();
    assert_stable(&context, |c| {
        write(&c.root, "notes.md", "changed");
        write(&c.root, "other/new.txt", "new");
    });
}

#[test]
fn key_ignores_gitignored_files() {
    let context = key_project();
    write(&context.root, "src/debug.log", "one");
    assert_stable(&context, |c| {
        write(&c.root, "src/debug.log", "two");
        write(&c.root, "src/more.log", "new");
    });
}

#[test]
fn key_ignores_output_files() {
    let context = key_project();
    assert_stable(&context, |c| write(&c.root, "dist/list.txt", "edited output"));
}

#[test]
fn key_ignores_touching_inputs() {
    let context = key_project();
    assert_stable(&context, |c| {
        let file = fs_err::File::options()
            .write(true)
            .open(c.root.join("src/a.txt"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
    });
}

/// With no `inputs`, every file of the project is an input, except outputs, ignored files,
/// `.git` and `.velo`.
#[test]
fn default_inputs_are_the_project_minus_outputs_and_ignored_files() {
    let context = context();
    context.write_manifest(
        &json!({
            "tasks": { "build": { "command": "echo run >> ../runs.txt; mkdir -p dist; echo x > dist/x", "outputs": ["dist/**"] } }
        })
        .to_string(),
    );
    write(&context.root, "main.c", "int main;");
    write(&context.root, ".gitignore", "tmp/\n");
    let key = |c: &TestContext| key_of(c, &["build"], "build");
    run_ok(&context, &["build"]);
    let first = key(&context);
    let plan = dry_run(&context, &["build"]);
    // velo.json, .gitignore and main.c.
    assert_eq!(plan["tasks"][0]["inputs"], 3, "{plan:#}");

    write(&context.root, "tmp/scratch.txt", "ignored");
    write(&context.root, "dist/x", "edited output");
    write(&context.root, ".git/HEAD", "ref: refs/heads/main\n");
    write(&context.root, ".velo/state", "velo's own");
    assert_eq!(key(&context), first);
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "cache hit");

    write(&context.root, "docs/readme.md", "a new file is an input");
    assert_ne!(key(&context), first);
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "cache miss");
    assert_eq!(runs(&context), 2);
}

#[test]
fn dependency_input_changes_propagate_to_dependents() {
    let context = context();
    let member = |name: &str, deps: &[&str]| {
        json!({
            "name": name,
            "workspace": { "dependencies": deps },
            "tasks": {
                "build": {
                    "command": format!("echo {name} >> ../../../runs.txt"),
                    "inputs": ["src/**"],
                    "depends_on": ["^build"]
                }
            }
        })
    };
    workspace(&context, &[("a", member("a", &[])), ("b", member("b", &["a"]))]);
    write(&member_dir(&context, "a"), "src/a.txt", "a");
    write(&member_dir(&context, "b"), "src/b.txt", "b");
    let keys = |c: &TestContext| {
        let plan = dry_run(c, &["build"]);
        let rows = rows(&plan);
        (
            rows["a:build"]["key"].as_str().unwrap().to_string(),
            rows["b:build"]["key"].as_str().unwrap().to_string(),
        )
    };
    run_ok(&context, &["build"]);
    let (a1, b1) = keys(&context);
    let ran = runs(&context);
    assert_eq!(ran, 2);

    write(&member_dir(&context, "a"), "src/a.txt", "changed");
    let (a2, b2) = keys(&context);
    assert_ne!(a1, a2);
    assert_ne!(b1, b2, "b's key includes a's key");
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "Finished 2 tasks");
    assert_contains(&stderr(&output), "(0 cached, 2 ran)");
    assert_eq!(runs(&context), 4);

    // A change in the dependent only does not touch the dependency.
    write(&member_dir(&context, "b"), "src/b.txt", "changed");
    let (a3, b3) = keys(&context);
    assert_eq!(a3, a2);
    assert_ne!(b3, b2);
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "(1 cached, 1 ran)");
}

// ---------------------------------------------------------------------------------------------
// 4. Order and parallelism.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_chain_runs_in_dependency_order() {
    let context = context();
    let member = |name: &str, deps: &[&str]| {
        json!({
            "name": name,
            "workspace": { "dependencies": deps },
            "tasks": {
                "build": {
                    "command": format!("sleep 0.1; echo {name} >> ../../../order.txt"),
                    "depends_on": ["^build"],
                    "cache": false
                }
            }
        })
    };
    // Names that sort against the dependency order.
    workspace(
        &context,
        &[
            ("c", member("c", &[])),
            ("b", member("b", &["c"])),
            ("a", member("a", &["b"])),
        ],
    );
    let output = run_ok(&context, &["build", "-j", "2"]);
    assert_eq!(
        fs_err::read_to_string(context.base().join("order.txt")).unwrap(),
        "c\nb\na\n"
    );
    insta::assert_snapshot!(context.render(&output));
}

/// Two tasks that each wait (boundedly) for the other to have started: both succeed only when
/// they run at the same time.
fn rendezvous_workspace(context: &TestContext, tries: u32) {
    let member = |me: &str, other: &str| {
        json!({
            "name": me,
            "tasks": {
                "wait": {
                    "command": format!(
                        "touch ../../../{me}.started; i=0; while [ ! -f ../../../{other}.started ] && [ $i -lt {tries} ]; do sleep 0.05; i=$((i+1)); done; [ -f ../../../{other}.started ] && echo met"
                    ),
                    "cache": false
                }
            }
        })
    };
    workspace(context, &[("x", member("x", "y")), ("y", member("y", "x"))]);
}

#[test]
fn independent_tasks_run_in_parallel() {
    let context = context();
    rendezvous_workspace(&context, 600);
    let output = run_ok(&context, &["wait", "-j", "2"]);
    let mut out: Vec<&str> = std::str::from_utf8(&output.stdout).unwrap().lines().collect();
    out.sort();
    assert_eq!(out, ["x:wait: met", "y:wait: met"]);
}

#[test]
fn one_job_runs_tasks_one_at_a_time() {
    let context = context();
    rendezvous_workspace(&context, 10);
    let output = context.velo().args(["run", "wait", "-j", "1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    // x runs first (by name) and gives up waiting for y, which never started.
    assert!(context.base().join("x.started").exists());
    assert!(!context.base().join("y.started").exists());
    insta::assert_snapshot!(context.render(&output));
}

// ---------------------------------------------------------------------------------------------
// 5. Graph errors and `member#task`.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_cycle_is_an_error_naming_its_path() {
    let context = context();
    workspace(
        &context,
        &[
            (
                "a",
                json!({ "name": "a", "tasks": { "build": { "command": "echo a > ../../../ran", "depends_on": ["b#build"] } } }),
            ),
            (
                "b",
                json!({ "name": "b", "tasks": { "build": { "command": "echo b > ../../../ran", "depends_on": ["a#build"] } } }),
            ),
        ],
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "a:build -> b:build -> a:build");
    assert!(!context.base().join("ran").exists());
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn a_self_cycle_in_a_single_project() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": {
            "build": { "command": "true", "depends_on": ["gen"] },
            "gen": { "command": "true", "depends_on": ["build"] }
        } })
        .to_string(),
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn a_missing_dependency_task_suggests_a_close_name() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": {
            "build": { "command": "true", "depends_on": ["codegn"] },
            "codegen": "true"
        } })
        .to_string(),
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "did you mean `codegen`?");
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn an_unknown_task_suggests_a_close_name() {
    let context = context();
    context.write_manifest(&json!({ "tasks": { "build": "true", "test": "true" } }).to_string());
    let output = context.run(["run", "biuld"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "did you mean `build`?");
    insta::assert_snapshot!("unknown_task_close", context.render(&output));

    let output = context.run(["run", "zzzzzzzz"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("unknown_task_far", context.render(&output));
}

#[test]
fn an_unknown_filter_suggests_a_member() {
    let context = context();
    workspace(
        &context,
        &[
            ("alpha", json!({ "name": "alpha", "tasks": { "build": "true" } })),
            ("beta", json!({ "name": "beta", "tasks": { "build": "true" } })),
        ],
    );
    let output = context.run(["run", "build", "--filter", "alpah"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "did you mean `alpha`?");
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn a_member_task_dependency_runs_first() {
    let context = context();
    workspace(
        &context,
        &[
            (
                "app",
                json!({ "name": "app", "tasks": { "build": {
                    "command": "echo app >> ../../../order.txt",
                    "depends_on": ["tools#gen"],
                    "cache": false
                } } }),
            ),
            (
                "tools",
                json!({ "name": "tools", "tasks": { "gen": {
                    "command": "echo tools-gen >> ../../../order.txt",
                    "cache": false
                } } }),
            ),
        ],
    );
    // Only in `app`, yet `tools#gen` runs first.
    let output = run_ok(&context, &["build", "-F", "app"]);
    assert_eq!(
        fs_err::read_to_string(context.base().join("order.txt")).unwrap(),
        "tools-gen\napp\n"
    );
    insta::assert_snapshot!("member_task_dependency", context.render(&output));

    // A misspelt member or task in `member#task`.
    for (dependency, hint, snapshot) in [
        (
            "tols#gen",
            "did you mean `tools#gen`?",
            "member_task_dependency_unknown_member",
        ),
        (
            "tools#gne",
            "did you mean `gen`?",
            "member_task_dependency_unknown_task",
        ),
    ] {
        write_json(
            &member_dir(&context, "app"),
            "velo.json",
            &json!({ "name": "app", "tasks": { "build": { "command": "true", "depends_on": [dependency] } } }),
        );
        let output = context.run(["run", "build"]);
        assert_eq!(output.status.code(), Some(2));
        assert_contains(&stderr(&output), hint);
        insta::assert_snapshot!(snapshot, context.render(&output));
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Workspaces: `^task`, package.json, scope and `--filter`.
// ---------------------------------------------------------------------------------------------

/// A JavaScript-style workspace: members named by their `package.json`, `@acme/app` depending
/// on `@acme/lib` there, and an unrelated `@acme/other`; a root task too.
fn js_workspace(context: &TestContext) {
    let task = |name: &str| {
        json!({ "tasks": { "build": {
            "command": format!("echo {name} >> ../../../order.txt; echo built {name}"),
            "depends_on": ["^build"],
            "cache": false
        } } })
    };
    workspace(
        context,
        &[
            ("app", task("app")),
            ("lib", task("lib")),
            ("other", task("other")),
        ],
    );
    write_json(
        &member_dir(context, "app"),
        "package.json",
        &json!({ "name": "@acme/app", "devDependencies": { "@acme/lib": "workspace:*", "left-pad": "1" } }),
    );
    write_json(
        &member_dir(context, "lib"),
        "package.json",
        &json!({ "name": "@acme/lib" }),
    );
    write_json(
        &member_dir(context, "other"),
        "package.json",
        &json!({ "name": "@acme/other" }),
    );
}

fn order(context: &TestContext) -> String {
    let path = context.base().join("order.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    text
}

#[test]
fn package_json_dependencies_link_members() {
    let context = context();
    js_workspace(&context);
    let output = run_ok(&context, &["build", "-j", "1"]);
    assert_eq!(order(&context), "lib\napp\nother\n");
    insta::assert_snapshot!(context.render(&output));
    let plan = dry_run(&context, &["build"]);
    assert_eq!(
        rows(&plan)["@acme/app:build"]["depends_on"],
        json!(["@acme/lib:build"])
    );
}

#[test]
fn running_inside_a_member_runs_it_and_its_dependencies() {
    let context = context();
    js_workspace(&context);
    let output = context
        .velo()
        .current_dir(member_dir(&context, "app"))
        .args(["run", "build"])
        .output()
        .unwrap();
    assert_success(&output);
    assert_eq!(order(&context), "lib\napp\n");
    insta::assert_snapshot!(context.render(&output));

    // From a subdirectory of a member too.
    let sub = member_dir(&context, "lib").join("src/deep");
    fs_err::create_dir_all(&sub).unwrap();
    let output = context
        .velo()
        .current_dir(&sub)
        .args(["run", "build"])
        .output()
        .unwrap();
    assert_success(&output);
    assert_eq!(order(&context), "lib\n");
}

#[test]
fn filter_by_name_path_and_glob() {
    let context = context();
    js_workspace(&context);
    run_ok(&context, &["build", "--filter", "@acme/lib"]);
    assert_eq!(order(&context), "lib\n");
    run_ok(&context, &["build", "-F", "packages/other", "-j", "1"]);
    assert_eq!(order(&context), "other\n");
    run_ok(&context, &["build", "-F", "./packages/app/", "-j", "1"]);
    assert_eq!(
        order(&context),
        "lib\napp\n",
        "a filtered member's dependencies still run"
    );
    run_ok(&context, &["build", "-F", "@acme/{lib,other}", "-j", "1"]);
    assert_eq!(order(&context), "lib\nother\n");
    run_ok(&context, &["build", "-F", "packages/*", "-j", "1"]);
    assert_eq!(order(&context), "lib\napp\nother\n");
    run_ok(
        &context,
        &["build", "-F", "@acme/other", "-F", "@acme/lib", "-j", "1"],
    );
    assert_eq!(order(&context), "lib\nother\n");
}

#[test]
fn the_root_runs_its_own_task_and_every_members() {
    let context = context();
    js_workspace(&context);
    let mut root = serde_json::from_str::<Value>(&context.manifest()).unwrap();
    root["name"] = json!("root");
    root["tasks"] = json!({ "build": { "command": "echo root >> ../order.txt", "cache": false } });
    context.write_manifest(&root.to_string());
    run_ok(&context, &["build", "-j", "1"]);
    assert_eq!(order(&context), "lib\napp\nother\nroot\n");
    let plan = dry_run(&context, &["build"]);
    let labels: Vec<&str> = plan["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "@acme/lib:build",
            "@acme/app:build",
            "@acme/other:build",
            "root:build"
        ]
    );
}

#[test]
fn excluded_directories_are_not_members() {
    let context = context();
    js_workspace(&context);
    let mut root = serde_json::from_str::<Value>(&context.manifest()).unwrap();
    root["workspace"]["exclude"] = json!(["packages/other"]);
    context.write_manifest(&root.to_string());
    run_ok(&context, &["build", "-j", "1"]);
    assert_eq!(order(&context), "lib\napp\n");
    let output = context.run(["run", "build", "-F", "@acme/other"]);
    assert_eq!(output.status.code(), Some(2), "{}", context.render(&output));
}

/// The root's default inputs leave out its members' files.
#[test]
fn root_default_inputs_skip_members() {
    let context = context();
    workspace(
        &context,
        &[("a", json!({ "name": "a", "tasks": { "build": "true" } }))],
    );
    let mut root = serde_json::from_str::<Value>(&context.manifest()).unwrap();
    root["tasks"] = json!({ "check": "true" });
    context.write_manifest(&root.to_string());
    write(&context.root, "README.md", "root");
    let key = |c: &TestContext| key_of(c, &["check", "-F", "."], "//:check");
    let first = key(&context);
    write(&member_dir(&context, "a"), "src/a.txt", "member file");
    assert_eq!(key(&context), first, "member files are not the root's inputs");
    write(&context.root, "README.md", "changed");
    assert_ne!(key(&context), first);
}

#[test]
fn a_members_env_is_set_for_its_tasks_and_keyed() {
    let context = context();
    let member = |mode: &str| {
        json!({ "name": "a", "env": { "MODE": mode }, "tasks": { "show": {
            "command": "echo run >> ../../../runs.txt; echo \"$MODE $ROOT_VAR\"",
            "inputs": ["src/**"]
        } } })
    };
    workspace(&context, &[("a", member("debug"))]);
    let mut root = serde_json::from_str::<Value>(&context.manifest()).unwrap();
    root["env"] = json!({ "ROOT_VAR": "from-root" });
    context.write_manifest(&root.to_string());
    let output = run_ok(&context, &["show"]);
    assert_eq!(stdout(&output), "a:show: debug from-root\n");
    let first = key_of(&context, &["show"], "a:show");

    write_json(&member_dir(&context, "a"), "velo.json", &member("release"));
    let second = key_of(&context, &["show"], "a:show");
    assert_ne!(first, second, "the member's env is part of the key");
    let output = run_ok(&context, &["show"]);
    assert_eq!(stdout(&output), "a:show: release from-root\n");

    root["env"] = json!({ "ROOT_VAR": "changed" });
    context.write_manifest(&root.to_string());
    assert_ne!(
        key_of(&context, &["show"], "a:show"),
        second,
        "the root's env is part of the key"
    );
    let output = run_ok(&context, &["show"]);
    assert_eq!(stdout(&output), "a:show: release changed\n");
    assert_eq!(runs(&context), 3);
}

#[test]
fn workspace_errors() {
    let context = context();
    // Two members with one name.
    workspace(
        &context,
        &[
            ("a", json!({ "name": "same", "tasks": { "build": "true" } })),
            ("b", json!({ "name": "same", "tasks": { "build": "true" } })),
        ],
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("workspace_duplicate_names", context.render(&output));

    // A dependency on a member that does not exist.
    write_json(
        &member_dir(&context, "b"),
        "velo.json",
        &json!({ "name": "bravo", "workspace": { "dependencies": ["sme"] }, "tasks": { "build": "true" } }),
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "did you mean `same`?");
    insta::assert_snapshot!("workspace_unknown_dependency", context.render(&output));

    // Tools belong to the root.
    write_json(
        &member_dir(&context, "b"),
        "velo.json",
        &json!({ "name": "bravo", "dependencies": { "jq": "*" }, "tasks": { "build": "true" } }),
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("workspace_member_tools", context.render(&output));
}

// ---------------------------------------------------------------------------------------------
// 7. Failures.
// ---------------------------------------------------------------------------------------------

/// Members `bad` (fails with 3), `dep` (depends on `bad`), `slow` (independent, finishes only
/// after `bad` has failed) and `zlate` (independent, after the others by name). With
/// `rendezvous`, `bad` waits for `slow` to have started, so both run at once.
fn failing_workspace(context: &TestContext, rendezvous: bool) {
    let wait = if rendezvous {
        "i=0; while [ ! -f ../../../slow.started ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
    } else {
        ""
    };
    workspace(
        context,
        &[
            (
                "bad",
                json!({ "name": "bad", "tasks": { "build": {
                    "command": format!("echo run >> ../../../bad.runs; {wait}echo boom; touch ../../../bad.failing; exit 3"),
                    "inputs": ["src/**"]
                } } }),
            ),
            (
                "dep",
                json!({ "name": "dep", "workspace": { "dependencies": ["bad"] }, "tasks": { "build": {
                    "command": "touch ../../../dep.ran",
                    "depends_on": ["^build"],
                    "inputs": ["src/**"]
                } } }),
            ),
            (
                "slow",
                json!({ "name": "slow", "tasks": { "build": {
                    "command": "touch ../../../slow.started; i=0; while [ ! -f ../../../bad.failing ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; sleep 0.3; echo slow done; touch ../../../slow.done",
                    "inputs": ["src/**"]
                } } }),
            ),
            (
                "zlate",
                json!({ "name": "zlate", "tasks": { "build": {
                    "command": "echo zlate ran; touch ../../../zlate.ran",
                    "inputs": ["src/**"]
                } } }),
            ),
        ],
    );
}

#[test]
fn a_failure_stops_the_run_but_lets_running_tasks_finish() {
    let context = context();
    failing_workspace(&context, true);
    let output = context.velo().args(["run", "build", "-j", "2"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    let base = context.base();
    assert!(
        base.join("slow.done").exists(),
        "the running independent task finished"
    );
    assert!(!base.join("dep.ran").exists(), "the dependent did not run");
    assert!(
        !base.join("zlate.ran").exists(),
        "nothing new starts after a failure"
    );
    let err = stderr(&output);
    assert_contains(&err, "error: task `bad:build` exited with code 3");
    assert_contains(&err, "not run: dep:build");
    assert_contains(&err, "not run: zlate:build");
    assert!(
        err.ends_with("error: 1 task failed: `bad:build` (0 cached, 1 ran, 4 in all)\n"),
        "{err}"
    );
    let out = stdout(&output);
    assert_contains(&out, "bad:build: boom\n");
    assert_contains(&out, "slow:build: slow done\n");
}

#[test]
fn continue_runs_independent_tasks_and_skips_dependents() {
    let context = context();
    failing_workspace(&context, false);
    let output = context
        .velo()
        .args(["run", "build", "-j", "1", "--continue"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    let base = context.base();
    assert!(base.join("zlate.ran").exists());
    assert!(base.join("slow.done").exists());
    assert!(!base.join("dep.ran").exists());
    insta::assert_snapshot!("continue_first", context.render(&output));

    // The failure was not cached: it runs again; the successes are replayed.
    let output = context
        .velo()
        .args(["run", "build", "-j", "1", "--continue"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(lines(&base.join("bad.runs")), 2);
    assert_contains(&stderr(&output), "Running bad:build (cache miss");
    insta::assert_snapshot!("continue_second", context.render(&output));
    let plan = dry_run(&context, &["build"]);
    let rows = rows(&plan);
    assert_eq!(rows["bad:build"]["cache"], "miss");
    assert_eq!(rows["dep:build"]["cache"], "miss");
    assert_eq!(rows["slow:build"]["cache"], "hit");
    assert_eq!(rows["zlate:build"]["cache"], "hit");
}

#[test]
fn several_failures_and_signals_are_reported() {
    let context = context();
    workspace(
        &context,
        &[
            (
                "a",
                json!({ "name": "a", "tasks": { "build": "echo a failing; exit 7" } }),
            ),
            ("b", json!({ "name": "b", "tasks": { "build": "kill -TERM $$" } })),
            ("c", json!({ "name": "c", "tasks": { "build": "echo c fine" } })),
        ],
    );
    let output = context
        .velo()
        .args(["run", "build", "--continue", "-j", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(context.render(&output));
}

// ---------------------------------------------------------------------------------------------
// 8. Output lines never mix.
// ---------------------------------------------------------------------------------------------

#[test]
fn parallel_output_is_never_interleaved_within_a_line() {
    let context = context();
    const HALF: usize = 2500;
    let member = |me: &str, other: &str| {
        let half = me.repeat(HALF);
        json!({
            "name": me,
            "tasks": { "t": {
                "command": format!(
                    "touch ../../../{me}.started; i=0; while [ ! -f ../../../{other}.started ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
                     H={half}; i=0; while [ $i -lt 200 ]; do printf '%s' \"$H\"; printf '%s\\n' \"$H\"; i=$((i+1)); done"
                ),
                "cache": false
            } }
        })
    };
    workspace(&context, &[("a", member("a", "b")), ("b", member("b", "a"))]);
    let output = run_ok(&context, &["t", "-j", "2"]);
    let text = String::from_utf8(output.stdout).unwrap();
    let a = format!("a:t: {}", "a".repeat(2 * HALF));
    let b = format!("b:t: {}", "b".repeat(2 * HALF));
    let (mut count_a, mut count_b) = (0, 0);
    for (n, line) in text.lines().enumerate() {
        if line == a {
            count_a += 1;
        } else if line == b {
            count_b += 1;
        } else {
            panic!("line {n} is mixed or cut: {:?}…", &line[..line.len().min(80)]);
        }
    }
    assert_eq!((count_a, count_b), (200, 200));
    assert!(text.ends_with('\n'));
}

/// A line longer than velo's 64 KiB line buffer: whatever the live run prints for it, the
/// replay must print the same. Live, `process::Lines::push` cuts a pending line once it has
/// grown past `MAX_LINE` at whatever read boundary that happens (pieces of 81920, 65536 and
/// 52544 bytes for a 200000-byte line here, and it varies with pipe read sizes), but a replay
/// pushes the whole log at once, finds the newline first and prints the line in one piece.
#[test]

fn a_very_long_line_is_replayed_as_it_was_printed() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": { "long": {
            "command": "echo before; head -c 200000 /dev/zero | tr '\\0' x; echo; echo after",
            "inputs": ["src/**"]
        } } })
        .to_string(),
    );
    let first = run_ok(&context, &["long"]);
    let second = run_ok(&context, &["long"]);
    assert_contains(&stderr(&second), "cache hit");
    let first = stdout(&first);
    let second = stdout(&second);
    let shape = |text: &str| text.lines().map(|l| l.len()).collect::<Vec<_>>();
    assert!(first.starts_with("long: before\nlong: xxx"), "{}", &first[..40]);
    assert!(first.ends_with("xxx\nlong: after\n"));
    // Every piece carries the prefix and only x's follow it.
    for line in first.lines().chain(second.lines()) {
        let rest = line.strip_prefix("long: ").expect("every line is prefixed");
        assert!(rest == "before" || rest == "after" || rest.bytes().all(|b| b == b'x'));
    }
    assert_eq!(
        first.bytes().filter(|&b| b == b'x').count(),
        second.bytes().filter(|&b| b == b'x').count()
    );
    assert_eq!(
        shape(&first),
        shape(&second),
        "live and replayed output split the long line alike"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. A damaged cache entry.
// ---------------------------------------------------------------------------------------------

fn corrupt_case(damage: impl FnOnce(&Path)) -> (TestContext, Output) {
    let context = context().with_filter(r"\(\d+ bytes\)", "([N] bytes)");
    context.write_manifest(
        &json!({ "tasks": { "build": {
            "command": "echo run >> ../runs.txt; mkdir -p dist; echo out > dist/out.txt; echo built",
            "inputs": ["src/**"],
            "outputs": ["dist/**"]
        } } })
        .to_string(),
    );
    write(&context.root, "src/a.txt", "a");
    run_ok(&context, &["build"]);
    let key = key_of(&context, &["build"], "build");
    let entry = context.cache_dir.join("tasks-v1").join(&key);
    assert!(entry.join("artifact.tar.zst").is_file());
    assert!(entry.join("artifact.json").is_file());
    let sidecar: Value =
        serde_json::from_str(&fs_err::read_to_string(entry.join("artifact.json")).unwrap()).unwrap();
    assert_eq!(sidecar["blake3"].as_str().unwrap().len(), 64);
    assert_eq!(
        sidecar["size"],
        fs_err::metadata(entry.join("artifact.tar.zst")).unwrap().len()
    );
    damage(&entry);
    fs_err::remove_dir_all(context.root.join("dist")).unwrap();

    let output = context.velo().args(["run", "build"]).output().unwrap();
    assert_success(&output);
    let err = stderr(&output);
    assert_contains(&err, "corrupt");
    assert_contains(&err, "discarded");
    assert_contains(&err, "Running build (cache miss");
    assert_eq!(lines(&context.base().join("runs.txt")), 2, "the task ran again");
    assert_eq!(
        fs_err::read_to_string(context.root.join("dist/out.txt")).unwrap(),
        "out\n"
    );
    assert_eq!(stdout(&output), "build: built\n");

    // The entry was stored again: a clean hit.
    fs_err::remove_dir_all(context.root.join("dist")).unwrap();
    let clean = run_ok(&context, &["build"]);
    assert!(
        stderr(&clean).starts_with("   Replaying build (cache hit"),
        "{}",
        stderr(&clean)
    );
    assert!(!stderr(&clean).contains("warning"), "{}", stderr(&clean));
    assert_eq!(lines(&context.base().join("runs.txt")), 2);
    assert_eq!(
        fs_err::read_to_string(context.root.join("dist/out.txt")).unwrap(),
        "out\n"
    );
    (context, output)
}

#[test]
fn a_flipped_byte_in_the_artifact_is_detected() {
    let (context, output) = corrupt_case(|entry| {
        let path = entry.join("artifact.tar.zst");
        let mut bytes = fs_err::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        fs_err::write(&path, bytes).unwrap();
    });
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn a_truncated_artifact_is_detected() {
    corrupt_case(|entry| {
        let path = entry.join("artifact.tar.zst");
        let bytes = fs_err::read(&path).unwrap();
        fs_err::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    });
}

#[test]
fn a_missing_artifact_is_detected() {
    corrupt_case(|entry| fs_err::remove_file(entry.join("artifact.tar.zst")).unwrap());
}

#[test]
fn a_damaged_sidecar_is_detected() {
    corrupt_case(|entry| fs_err::write(entry.join("artifact.json"), "{not json").unwrap());
}

/// An artifact that matches its recorded digest but is not a valid archive (written by a
/// broken velo, say) is discarded when restoring fails.
#[test]
fn an_artifact_that_does_not_unpack_is_discarded() {
    corrupt_case(|entry| {
        let garbage = b"this is not zstd at all".to_vec();
        fs_err::write(entry.join("artifact.tar.zst"), &garbage).unwrap();
        let sidecar = json!({ "blake3": blake3::hash(&garbage).to_hex().to_string(), "size": garbage.len() });
        fs_err::write(entry.join("artifact.json"), sidecar.to_string()).unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// 10. Several `velo run` at once on one cache.
// ---------------------------------------------------------------------------------------------

#[test]
fn concurrent_runs_share_the_cache() {
    let context = context();
    let manifest = json!({ "tasks": {
        "gen": {
            "command": "echo gen >> ../runs.txt; mkdir -p gen; echo generated > gen/g.txt",
            "inputs": ["src/**"],
            "outputs": ["gen/**"]
        },
        "build": {
            "command": "echo build >> ../runs.txt; mkdir -p dist; cat gen/g.txt src/a.txt > dist/out.txt",
            "inputs": ["src/**", "gen/**"],
            "outputs": ["dist/**"],
            "depends_on": ["gen"]
        }
    } });
    let copies: Vec<PathBuf> = (0..5)
        .map(|i| context.base().join("copies").join(format!("p{i}")))
        .collect();
    for dir in &copies {
        write_json(dir, "velo.json", &manifest);
        write(dir, "src/a.txt", "source\n");
    }
    let runs = copies[..4].iter().map(|dir| {
        let mut command = context.velo();
        command.current_dir(dir).args(["run", "build"]);
        command
    });
    for output in run_at_once(runs) {
        assert_success(&output);
    }
    for dir in &copies[..4] {
        assert_eq!(
            fs_err::read_to_string(dir.join("dist/out.txt")).unwrap(),
            "generated\nsource\n"
        );
    }
    // One entry per key, no staging leftovers.
    let entries = cache_entries(&context);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let plan = context
        .velo()
        .current_dir(&copies[0])
        .args(["run", "build", "--dry-run=json"])
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let mut keys: Vec<String> = rows(&plan)
        .values()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(entries, keys);
    let runs_so_far = lines(&context.base().join("copies/runs.txt"));
    assert!((2..=8).contains(&runs_so_far), "{runs_so_far}");

    // Every copy, and a fresh one, now hits.
    for dir in &copies {
        let output = context
            .velo()
            .current_dir(dir)
            .args(["run", "build"])
            .output()
            .unwrap();
        assert_success(&output);
        assert_contains(&stderr(&output), "(2 cached, 0 ran)");
    }
    assert_eq!(lines(&context.base().join("copies/runs.txt")), runs_so_far);
    assert_eq!(
        fs_err::read_to_string(copies[4].join("dist/out.txt")).unwrap(),
        "generated\nsource\n"
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Dry runs.
// ---------------------------------------------------------------------------------------------

fn dry_run_workspace(context: &TestContext) {
    workspace(
        context,
        &[
            (
                "a",
                json!({ "name": "a", "tasks": {
                    "build": { "command": "echo a >> ../../../runs.txt; mkdir -p dist; echo a > dist/a", "inputs": ["src/**"], "outputs": ["dist/**"] },
                    "lint": { "command": "echo lint >> ../../../runs.txt", "inputs": ["src/**"], "cache": false }
                } }),
            ),
            (
                "b",
                json!({ "name": "b", "workspace": { "dependencies": ["a"] }, "tasks": {
                    "build": { "command": "echo b >> ../../../runs.txt", "inputs": ["src/**"], "depends_on": ["^build", "lint"] },
                    "lint": { "command": "true", "cache": false }
                } }),
            ),
        ],
    );
    write(&member_dir(context, "a"), "src/one.txt", "1");
    write(&member_dir(context, "a"), "src/two.txt", "2");
    write(&member_dir(context, "b"), "src/one.txt", "1");
}

/// Render a `--dry-run` table with its keys hidden but its columns kept.
fn render_table(context: &TestContext, mut output: Output) -> String {
    let re = regex::Regex::new(r"\b[0-9a-f]{64}\b").unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    output.stdout = re
        .replace_all(&text, format!("{:<64}", "[KEY]"))
        .into_owned()
        .into_bytes();
    context.render(&output)
}

#[test]
fn dry_run_shows_keys_and_cache_status_without_running() {
    let context = context();
    dry_run_workspace(&context);
    let runs = context.base().join("runs.txt");

    let output = context.run(["run", "build", "lint", "--dry-run"]);
    assert_success(&output);
    insta::assert_snapshot!("dry_run_text_before", render_table(&context, output));
    let output = context.run(["run", "build", "lint", "--dry-run=json"]);
    assert_success(&output);
    insta::assert_snapshot!("dry_run_json_before", context.render(&output));
    assert!(!runs.exists(), "a dry run runs nothing");
    assert!(!member_dir(&context, "a").join("dist").exists());
    assert!(
        cache_entries(&context).is_empty(),
        "{:?}",
        cache_entries(&context)
    );

    let plan = dry_run(&context, &["build", "lint"]);
    run_ok(&context, &["build", "lint"]);
    assert_eq!(lines(&runs), 3);
    let after = dry_run(&context, &["build", "lint"]);
    for (label, row) in rows(&after) {
        assert_eq!(
            row["key"],
            rows(&plan)[&label]["key"],
            "the dry run predicted {label}'s key"
        );
        let expected = if label.ends_with(":lint") {
            "disabled"
        } else {
            "hit"
        };
        assert_eq!(row["cache"], expected, "{label}");
    }
    let output = context.run(["run", "build", "lint", "--dry-run"]);
    assert_success(&output);
    insta::assert_snapshot!("dry_run_text_after", render_table(&context, output));
    assert_eq!(lines(&runs), 3);
}

// ---------------------------------------------------------------------------------------------
// 12. Uncached tasks and what outputs may be.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_uncached_task_always_runs() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": { "serve": { "command": "echo run >> ../runs.txt; echo serving", "cache": false } } })
            .to_string(),
    );
    let first = run_ok(&context, &["serve"]);
    let second = run_ok(&context, &["serve"]);
    assert_eq!(runs(&context), 2);
    assert_eq!(stdout(&second), "serve: serving\n");
    assert_contains(&stderr(&first), "Running serve (cache disabled");
    insta::assert_snapshot!(context.render(&second));
    assert!(
        cache_entries(&context).is_empty(),
        "{:?}",
        cache_entries(&context)
    );
}

fn force_project() -> TestContext {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": { "build": {
            "command": "echo run >> ../runs.txt; mkdir -p dist; date +%s%N > dist/stamp; echo stamped",
            "inputs": ["src/**"],
            "outputs": ["dist"]
        } } })
        .to_string(),
    );
    context
}

#[test]
fn force_runs_a_cached_task_again() {
    let context = force_project();
    run_ok(&context, &["build"]);
    let output = run_ok(&context, &["build", "--force"]);
    assert_contains(&stderr(&output), "Running build (cache miss");
    assert_eq!(stdout(&output), "build: stamped\n");
    assert_eq!(runs(&context), 2);
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "Replaying build (cache hit");
    assert_eq!(runs(&context), 2);
}

/// `--force` is documented as "Run every task even when a cached result exists, and cache the
/// new results", but the new result is dropped: `TaskCache::store` renames its staging
/// directory onto `tasks-v1/<key>`, which fails because the old entry is there, and then treats
/// that as "another run stored this key first" and deletes the new result.
#[test]

fn force_replaces_the_cached_result() {
    let context = force_project();
    run_ok(&context, &["build"]);
    let first = fs_err::read_to_string(context.root.join("dist/stamp")).unwrap();
    run_ok(&context, &["build", "--force"]);
    let forced = fs_err::read_to_string(context.root.join("dist/stamp")).unwrap();
    assert_ne!(first, forced);
    fs_err::remove_dir_all(context.root.join("dist")).unwrap();
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "Replaying build (cache hit");
    assert_eq!(runs(&context), 2);
    assert_eq!(
        fs_err::read_to_string(context.root.join("dist/stamp")).unwrap(),
        forced,
        "the forced run's result must replace the cached one"
    );
}

#[test]
fn a_symlink_output_pointing_outside_the_project_fails_the_task() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": {
            "build": { "command": "mkdir -p dist && ln -sf ../../secret dist/escape", "outputs": ["dist/**"] }
        } })
        .to_string(),
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    assert_contains(
        &stderr(&output),
        "output `dist/escape` is a symlink to `../../secret`, outside the project",
    );
    insta::assert_snapshot!("symlink_escape_relative", context.render(&output));
    assert!(
        cache_entries(&context).is_empty(),
        "{:?}",
        cache_entries(&context)
    );

    context.write_manifest(
        &json!({ "tasks": {
            "build": { "command": "mkdir -p dist && ln -sf /etc/passwd dist/escape", "outputs": ["dist/**"] }
        } })
        .to_string(),
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    assert_contains(
        &stderr(&output),
        "output `dist/escape` is a symlink to `/etc/passwd`, outside the project",
    );
    assert!(
        cache_entries(&context).is_empty(),
        "{:?}",
        cache_entries(&context)
    );
}

#[test]
fn globs_outside_the_project_are_refused() {
    let context = context();
    for (field, pattern) in [
        ("outputs", "../dist/**"),
        ("outputs", "/tmp/out"),
        ("inputs", "src/../../x"),
    ] {
        context.write_manifest(
            &json!({ "tasks": { "build": { "command": "echo run >> ../runs.txt", field: [pattern] } } })
                .to_string(),
        );
        let output = context.run(["run", "build"]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{field} {pattern}: {}",
            context.render(&output)
        );
        assert_contains(
            &stderr(&output),
            format!("`{pattern}` points outside the project"),
        );
        if pattern == "../dist/**" {
            insta::assert_snapshot!("glob_escapes", context.render(&output));
        }
    }
    assert_eq!(runs(&context), 0);
}

#[test]
fn a_cwd_outside_the_project_is_refused() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": { "build": { "command": "pwd", "cwd": "../elsewhere" } } }).to_string(),
    );
    let output = context.run(["run", "build"]);
    assert_eq!(output.status.code(), Some(2), "{}", context.render(&output));
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn cwd_runs_the_command_in_a_subdirectory() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": { "where": { "command": "pwd", "cwd": "sub/dir", "cache": false } } }).to_string(),
    );
    fs_err::create_dir_all(context.root.join("sub/dir")).unwrap();
    let output = run_ok(&context, &["where"]);
    assert_eq!(
        stdout(&output),
        format!("where: {}\n", context.root.join("sub/dir").display())
    );
}

// ---------------------------------------------------------------------------------------------
// 13. Tasks and tools.
// ---------------------------------------------------------------------------------------------

/// A project using the tool `hello-velo` (versions 1.2.3 and 1.3.0 in a local index) from a
/// task; returns the context and a function giving the manifest for a requirement.
fn tool_project() -> (TestContext, impl Fn(&str) -> String) {
    let context = context();
    let mut index = context.index();
    for version in ["1.2.3", "1.3.0"] {
        index.add_archive(
            "hello-velo",
            version,
            &format!("hello-velo-{version}.tar.gz"),
            &archive::tar_gz(&[executable("bin/hello-velo", script("hello-velo", version))]),
            json!({}),
        );
    }
    index.write();
    let manifest = |requirement: &str| {
        json!({
            "name": "demo",
            "registry": "../index",
            "dependencies": { "hello-velo": requirement },
            "tasks": { "version": {
                "command": "echo run >> ../runs.txt; command -v hello-velo; hello-velo --version",
                "inputs": ["src/**"]
            } }
        })
        .to_string()
    };
    context.write_manifest(&manifest("=1.2.3"));
    write(&context.root, "src/a.txt", "a");
    (context, manifest)
}

#[test]
fn run_syncs_tools_first_and_keys_on_their_versions() {
    let (context, manifest) = tool_project();
    assert!(!context.lock_path().exists());

    let output = run_ok(&context, &["version"]);
    assert!(context.lock_path().exists(), "velo run locked and synced first");
    assert_eq!(
        stdout(&output),
        format!(
            "version: {}/.velo/bin/hello-velo\nversion: hello-velo 1.2.3\n",
            context.root.display()
        )
    );
    let first = key_of(&context, &["version"], "version");
    let output = run_ok(&context, &["version"]);
    assert_contains(&stderr(&output), "cache hit");

    // Another tool version: the lock is stale, velo run syncs it, and the key moves.
    context.write_manifest(&manifest("=1.3.0"));
    let output = run_ok(&context, &["version"]);
    assert_contains(&stderr(&output), "Running version (cache miss");
    assert!(
        stdout(&output).ends_with("version: hello-velo 1.3.0\n"),
        "{}",
        stdout(&output)
    );
    assert_ne!(key_of(&context, &["version"], "version"), first);
    assert_eq!(runs(&context), 2);

    // Back to the first version: its result is still cached.
    context.write_manifest(&manifest("=1.2.3"));
    let output = run_ok(&context, &["version"]);
    assert_contains(&stderr(&output), "Replaying version (cache hit");
    assert!(
        stdout(&output).ends_with("version: hello-velo 1.2.3\n"),
        "{}",
        stdout(&output)
    );
    assert_eq!(key_of(&context, &["version"], "version"), first);
    assert_eq!(runs(&context), 2);
}

/// `--dry-run` does not sync, so with a stale lock it keys the tasks with the tools of the old
/// lock: it predicts another key than the run then uses, and here claims a cache hit for a task
/// the run then runs (src/cli/run.rs skips `ensure_synced` for dry runs; `locked_tools` reads
/// the stale `velo.lock`).
#[test]

fn dry_run_with_a_stale_lock_predicts_the_key_the_run_uses() {
    let (context, manifest) = tool_project();
    run_ok(&context, &["version"]);
    context.write_manifest(&manifest("=1.3.0"));
    let plan = dry_run(&context, &["version"]);
    let predicted = plan["tasks"][0]["key"].as_str().unwrap().to_string();
    let cache = plan["tasks"][0]["cache"].clone();
    let output = run_ok(&context, &["version"]);
    assert!(
        stderr(&output).contains(&format!("Running version (cache miss, {})", &predicted[..16])),
        "the dry run predicted {predicted} ({cache}):\n{}",
        stderr(&output)
    );
    assert_eq!(cache, "miss");
}

// ---------------------------------------------------------------------------------------------
// Signals and cache bookkeeping.
// ---------------------------------------------------------------------------------------------

#[test]
fn ctrl_c_stops_the_running_tasks() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": { "long": {
            "command": "echo $$ > ../task.pid; touch ../started; exec sleep 60",
            "cache": false
        } } })
        .to_string(),
    );
    let child = context
        .velo()
        .args(["run", "long"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = context.base().join("started");
    for _ in 0..1200 {
        if started.exists() && context.base().join("task.pid").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(started.exists(), "the task never started");
    // SAFETY: plain kill(2) on the child we spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", context.render(&output));
    assert_contains(&stderr(&output), "interrupted");
    let pid: i32 = fs_err::read_to_string(context.base().join("task.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signal 0 only checks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    if alive {
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    assert!(!alive, "the task's process outlived velo run");
}

#[test]
fn a_hit_marks_the_entry_as_recently_used() {
    let context = context();
    context.write_manifest(
        &json!({ "tasks": { "build": { "command": "echo hi", "inputs": ["src/**"] } } }).to_string(),
    );
    run_ok(&context, &["build"]);
    let key = key_of(&context, &["build"], "build");
    let entry = context.cache_dir.join("tasks-v1").join(&key);
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    fs_err::File::open(&entry).unwrap().set_modified(old).unwrap();
    assert_eq!(fs_err::metadata(&entry).unwrap().modified().unwrap(), old);
    let output = run_ok(&context, &["build"]);
    assert_contains(&stderr(&output), "cache hit");
    assert!(fs_err::metadata(&entry).unwrap().modified().unwrap() > old);
}

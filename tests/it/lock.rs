//! `velo lock`: resolution, the lock file, staleness, minimal churn, platforms.

use serde_json::json;

use crate::common::{assert_contains, assert_success, stderr, TestContext};

/// A project whose registry is the test index, with these dependencies.
fn project(context: &TestContext, dependencies: serde_json::Value) {
    let manifest = json!({ "registry": "../index", "dependencies": dependencies });
    context.write_manifest(&serde_json::to_string_pretty(&manifest).unwrap());
}

fn locked_version(context: &TestContext, name: &str) -> String {
    context.lock_json()["packages"][name]["version"]
        .as_str()
        .unwrap_or("<absent>")
        .to_string()
}

#[test]
fn transitive_dependencies_are_locked_with_their_edges() {
    let context = TestContext::new();
    context
        .index()
        .add("a", "1.0.0", &[("b", "^1")])
        .add("b", "1.3.0", &[("c", ">=2")])
        .add("c", "2.0.0", &[])
        .add("c", "3.1.0", &[])
        .write();
    project(&context, json!({ "a": "*" }));

    insta::assert_snapshot!(context.snapshot(["lock"]), @"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
        Resolved 3 packages in [TIME]
    ");
    let lock = context.lock_json();
    assert_eq!(lock["packages"]["a"]["dependencies"], json!(["b"]));
    assert_eq!(lock["packages"]["b"]["dependencies"], json!(["c"]));
    assert_eq!(locked_version(&context, "c"), "3.1.0");
}

#[test]
fn lock_file_format() {
    let context = TestContext::new();
    context
        .index()
        .add("tool", "1.2.0", &[("lib", "^0.3")])
        .add("lib", "0.3.1", &[])
        .write();
    project(&context, json!({ "tool": "^1" }));
    assert_success(&context.run(["lock"]));
    insta::assert_snapshot!(context.lock());
}

#[test]
fn diamond_dependencies_meet_in_the_middle() {
    let context = TestContext::new();
    context
        .index()
        .add("app", "1.0.0", &[("left", "^1"), ("right", "^1")])
        .add("left", "1.0.0", &[("base", ">=1.2")])
        .add("right", "1.0.0", &[("base", "<1.4")])
        .add("base", "1.1.0", &[])
        .add("base", "1.2.0", &[])
        .add("base", "1.3.5", &[])
        .add("base", "1.4.0", &[])
        .write();
    project(&context, json!({ "app": "1" }));
    assert_success(&context.run(["lock"]));
    assert_eq!(locked_version(&context, "base"), "1.3.5");
    assert_eq!(context.lock_json()["packages"].as_object().unwrap().len(), 4);
}

#[test]
fn conflict_is_explained_in_plain_english() {
    let context = TestContext::new();
    context
        .index()
        .add("a", "2.0.0", &[("b", ">=3")])
        .add("a", "2.1.0", &[("b", ">=3")])
        .add("b", "1.0.0", &[])
        .add("b", "2.4.0", &[])
        .write();
    project(&context, json!({ "a": "^2" }));
    insta::assert_snapshot!(context.snapshot(["lock"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: no set of versions satisfies every requirement:

    Because your project depends on a ^2 and every version of a depends on b >=3 (only b 1.0.0 and 2.4.0 exist), your project's requirements cannot all be met.
    hint: loosen the requirement on `a` in `velo.json`; `velo outdated` lists the versions that exist
    ");
    assert!(!context.lock_path().exists(), "a failed lock writes nothing");
}

#[test]
fn conflict_between_two_direct_dependencies() {
    let context = TestContext::new();
    context
        .index()
        .add("x", "1.0.0", &[("shared", "^1")])
        .add("y", "1.0.0", &[("shared", "^2")])
        .add("shared", "1.5.0", &[])
        .add("shared", "2.0.0", &[])
        .write();
    project(&context, json!({ "x": "*", "y": "*" }));
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(1));
    let text = context.filter(&stderr(&output));
    assert_contains(&text, "x 1.0.0 depends on shared ^1");
    assert_contains(&text, "y 1.0.0 depends on shared ^2");
    assert_contains(&text, "loosen the requirement on `x` and `y`");
}

#[test]
fn relocking_keeps_versions_that_still_fit() {
    let context = TestContext::new();
    let mut index = context.index();
    index.add("a", "1.0.0", &[]).add("b", "1.0.0", &[]).write();
    project(&context, json!({ "a": "^1", "b": "^1" }));
    assert_success(&context.run(["lock"]));

    // New releases appear; a manifest change elsewhere must not move `a` or `b`.
    index
        .add("a", "1.1.0", &[])
        .add("b", "1.1.0", &[])
        .add("c", "1.0.0", &[])
        .write();
    project(&context, json!({ "a": "^1", "b": "^1", "c": "*" }));
    insta::assert_snapshot!(context.snapshot(["lock"]), @r"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
        Resolved 3 packages in [TIME]
          Adding c 1.0.0
    ");
    assert_eq!(locked_version(&context, "a"), "1.0.0");

    insta::assert_snapshot!(context.snapshot(["lock", "--upgrade-package", "a"]), @r"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
        Resolved 3 packages in [TIME]
        Updating a 1.0.0 -> 1.1.0
    ");
    assert_eq!(locked_version(&context, "b"), "1.0.0");

    assert_success(&context.run(["lock", "--upgrade"]));
    assert_eq!(locked_version(&context, "b"), "1.1.0");

    let output = context.run(["lock", "--upgrade-package", "zzz"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("`zzz` is not in `velo.lock`"));
}

#[test]
fn a_locked_version_that_no_longer_fits_moves() {
    let context = TestContext::new();
    context
        .index()
        .add("a", "1.0.0", &[])
        .add("a", "2.0.0", &[])
        .write();
    project(&context, json!({ "a": "^1" }));
    assert_success(&context.run(["lock"]));
    assert_eq!(locked_version(&context, "a"), "1.0.0");
    project(&context, json!({ "a": "^2" }));
    assert_success(&context.run(["lock"]));
    assert_eq!(locked_version(&context, "a"), "2.0.0");
}

#[test]
fn lock_is_rewritten_only_when_its_content_changes() {
    let context = TestContext::new();
    context.index().add("a", "1.0.0", &[]).write();
    project(&context, json!({ "a": "*" }));
    assert_success(&context.run(["lock"]));
    let first = context.lock();
    let modified = std::fs::metadata(context.lock_path())
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));

    insta::assert_snapshot!(context.snapshot(["lock"]), @r"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
         Checked 1 package; `velo.lock` is up to date
    ");
    // A full re-solve that lands on the same result leaves the file alone too.
    assert_success(&context.run(["lock", "--upgrade"]));
    assert_eq!(context.lock(), first);
    assert_eq!(
        std::fs::metadata(context.lock_path())
            .unwrap()
            .modified()
            .unwrap(),
        modified
    );
    assert!(first.ends_with("}\n"));
}

#[test]
fn lock_is_identical_across_projects_and_caches() {
    let one = TestContext::new();
    let two = TestContext::new();
    for context in [&one, &two] {
        context
            .index()
            .add("a", "1.0.0", &[("b", "*")])
            .add("b", "0.9.0", &[])
            .write();
        project(context, json!({ "b": ">=0.1", "a": "^1.0" }));
        assert_success(&context.run(["lock"]));
    }
    assert_eq!(one.lock(), two.lock());
}

#[test]
fn check_reports_staleness_without_writing() {
    let context = TestContext::new();
    context
        .index()
        .add("a", "1.0.0", &[])
        .add("b", "1.0.0", &[])
        .write();
    project(&context, json!({ "a": "^1" }));

    let output = context.run(["lock", "--check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!context.lock_path().exists());

    assert_success(&context.run(["lock"]));
    assert_success(&context.run(["lock", "--check"]));

    project(&context, json!({ "a": "^1.0", "b": "*" }));
    let before = context.lock();
    insta::assert_snapshot!(context.snapshot(["lock", "--check"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `velo.lock` is out of date with `velo.json`:
      - `a` changed from `^1` to `^1.0`
      - `b` was added
    hint: run `velo lock` to update it
    ");
    assert_eq!(context.lock(), before);
}

#[test]
fn platform_missing_elsewhere_is_recorded_and_warned() {
    let context = TestContext::new();
    context
        .index()
        .add_for(
            "tool",
            "1.0.0",
            &[],
            &["linux-x86_64", "linux-aarch64", "macos-aarch64"],
        )
        .write();
    project(&context, json!({ "tool": "*" }));
    insta::assert_snapshot!(context.snapshot(["lock"]), @"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
    warning: `tool 1.0.0` has no artifact for macos-x86_64; it will not be installed there
        Resolved 1 package in [TIME]
    ");
    let lock = context.lock_json();
    assert_eq!(lock["packages"]["tool"]["unavailable"], json!(["macos-x86_64"]));
    assert_eq!(
        lock["packages"]["tool"]["artifacts"].as_object().unwrap().len(),
        3
    );
}

#[test]
fn platform_missing_here_fails_the_lock() {
    let context = TestContext::new();
    context
        .index()
        .add_for("tool", "1.0.0", &[], &["macos-aarch64", "macos-x86_64"])
        .write();
    project(&context, json!({ "tool": "*" }));
    insta::assert_snapshot!(context.snapshot(["lock"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: a locked package has no artifact for linux-x86_64, the platform of this machine:
      `tool 1.0.0` (available for: macos-aarch64, macos-x86_64)
    hint: require a version that ships one for this platform in `velo.json`, or ask the index maintainers to add it
    ");
    assert!(!context.lock_path().exists());
}

#[test]
fn platforms_limit_what_is_locked() {
    let context = TestContext::new();
    context
        .index()
        .add_for("tool", "1.0.0", &[], &["linux-x86_64", "windows-x86_64"])
        .write();
    let manifest = json!({ "registry": "../index", "platforms": ["windows-x86_64", "linux-x86_64"], "dependencies": { "tool": "*" } });
    context.write_manifest(&manifest.to_string());
    assert_success(&context.run(["lock"]));
    let lock = context.lock_json();
    assert_eq!(
        lock["manifest"]["platforms"],
        json!(["linux-x86_64", "windows-x86_64"])
    );
    assert_eq!(
        lock["packages"]["tool"]["artifacts"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["linux-x86_64", "windows-x86_64"]
    );
    assert!(lock["packages"]["tool"].get("unavailable").is_none());
}

#[test]
fn lenient_tags_keep_the_original_string() {
    let context = TestContext::new();
    context
        .index()
        .add("jq", "jq-1.6", &[])
        .add("jq", "jq-1.7.1", &[])
        .add("calver", "2023.12.31", &[])
        .add("calver", "2024.01.15", &[])
        .add("four", "1.2.3.4", &[])
        .add("four", "1.2.3.10", &[])
        .add("vee", "v0.9", &[])
        .write();
    project(
        &context,
        json!({ "jq": "^1.7", "calver": ">=2024", "four": "~1.2.3", "vee": "*" }),
    );
    assert_success(&context.run(["lock"]));
    let lock = context.lock_json();
    let get = |name: &str| {
        (
            lock["packages"][name]["version"].clone(),
            lock["packages"][name]["tag"].clone(),
        )
    };
    assert_eq!(get("jq"), (json!("1.7.1"), json!("jq-1.7.1")));
    assert_eq!(get("calver"), (json!("2024.1.15"), json!("2024.01.15")));
    // No `tag` when the version string is already canonical.
    assert_eq!(get("four"), (json!("1.2.3.10"), json!(null)));
    assert_eq!(get("vee"), (json!("0.9.0"), json!("v0.9")));
}

#[test]
fn prereleases_only_when_asked_for() {
    let context = TestContext::new();
    context
        .index()
        .add("a", "1.0.0", &[])
        .add("a", "2.0.0-beta.1", &[])
        .add("b", "0.1.0-rc.1", &[])
        .write();
    project(&context, json!({ "a": "*" }));
    assert_success(&context.run(["lock"]));
    assert_eq!(locked_version(&context, "a"), "1.0.0");

    project(&context, json!({ "a": "^2.0.0-beta" }));
    assert_success(&context.run(["lock"]));
    assert_eq!(locked_version(&context, "a"), "2.0.0-beta.1");

    project(&context, json!({ "b": "*" }));
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("your project depends on b (only b 0.1.0-rc.1 exists; prereleases are skipped"),
        "{text}"
    );
}

#[test]
fn bad_versions_in_the_index_are_skipped_with_a_warning() {
    let context = TestContext::new();
    let mut index = context.index();
    index.add("a", "1.0.0", &[]).add("a", "nightly", &[]);
    index.add("a", "1.1.0", &[("missing-dep", "^^1")]);
    index.write();
    project(&context, json!({ "a": "*" }));
    let output = context.run(["lock"]);
    assert_success(&output);
    assert_contains(
        &stderr(&output),
        "skipped a version of `a` in the index: `nightly` is not a version",
    );
    // 1.1.0 has an unreadable requirement, so the older release is used.
    assert_eq!(locked_version(&context, "a"), "1.0.0");
}

#[test]
fn bare_names_without_a_registry_are_homebrew_formulae() {
    let context = TestContext::new();
    context.write_manifest(r#"{"dependencies": {"wget": "*"}, "taps": []}"#);
    // Offline with an empty cache: the lock must ask Homebrew (and may not), not a velo index.
    let output = context.run(["lock", "--offline"]);
    assert_ne!(output.status.code(), Some(0));
    let text = stderr(&output);
    assert_contains(&text, "Homebrew");
    assert!(!text.contains("needs a velo index"), "{text}");
}

#[test]
fn project_is_found_from_a_subdirectory() {
    let context = TestContext::new();
    context.index().add("a", "1.0.0", &[]).write();
    project(&context, json!({ "a": "*" }));
    let nested = context.root.join("src/deep");
    fs_err::create_dir_all(&nested).unwrap();
    let output = context.velo().current_dir(&nested).arg("lock").output().unwrap();
    assert_success(&output);
    assert!(context.lock_path().exists());
    assert!(!nested.join("velo.lock").exists());
}

#[test]
fn the_example_project_locks_offline() {
    let context = TestContext::new();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let output = context
        .velo()
        .arg("lock")
        .arg("--check")
        .current_dir(examples.join("project"))
        .output()
        .unwrap();
    assert_success(&output);
}

#[test]
fn a_bad_artifact_costs_its_platform_not_the_package() {
    let context = TestContext::new();
    let mut index = context.index();
    index.add("tool", "1.0.0", &[]);
    index.version_value(
        "tool",
        "1.1.0",
        json!({ "artifacts": {
            "linux-x86_64": { "url": "../a/tool.tgz", "sha256": "ab".repeat(32), "size": 10 },
            "linux-aarch64": { "url": "../a/tool.tgz", "sha256": "not-a-digest", "size": 10 },
            "macos-aarch64": { "url": "../a/tool.tgz", "size": 10 },
            "macos-x86_64": { "url": "../a/tool.tgz", "sha256": "AB".repeat(32), "size": 10 },
            "freebsd-x86_64": { "url": "../a/tool.tgz", "sha256": "ab".repeat(32), "size": 10 }
        }}),
    );
    index.write();
    project(&context, json!({ "tool": "*" }));
    let output = context.run(["lock"]);
    assert_success(&output);
    let text = stderr(&output);
    assert_contains(
        &text,
        "`tool 1.1.0` has an invalid linux-aarch64 artifact: `not-a-digest` is not a sha256 digest",
    );
    assert_contains(
        &text,
        "`tool 1.1.0` has an invalid macos-aarch64 artifact: it needs `url`, `sha256` and `size`",
    );
    let lock = context.lock_json();
    assert_eq!(lock["packages"]["tool"]["version"], "1.1.0");
    assert_eq!(
        lock["packages"]["tool"]["unavailable"],
        json!(["linux-aarch64", "macos-aarch64"])
    );
    // Digests are recorded in lowercase whatever the index wrote.
    assert_eq!(
        lock["packages"]["tool"]["artifacts"]["macos-x86_64"]["sha256"],
        "ab".repeat(32)
    );
}

#[test]
fn registry_may_name_the_index_file() {
    let context = TestContext::new();
    context.index().add("a", "1.0.0", &[]).write();
    context.write_manifest(
        &json!({ "registry": "../index/index.json", "dependencies": { "a": "*" } }).to_string(),
    );
    assert_success(&context.run(["lock"]));
    assert_eq!(
        context.lock_json()["packages"]["a"]["artifacts"]["linux-x86_64"]["url"],
        "../index/artifacts/a-1.0.0-linux-x86_64.tar.gz"
    );
}

/// A lock comes from the repository: one whose version or digest would lead outside the
/// project is refused before anything is touched.
#[test]
fn a_crafted_lock_cannot_reach_outside_the_project() {
    let context = TestContext::new();
    context.index().add("a", "1.0.0", &[]).write();
    project(&context, json!({ "a": "*" }));
    assert_success(&context.run(["lock"]));
    let victim = context.base().join("victim");
    fs_err::create_dir_all(&victim).unwrap();
    fs_err::write(victim.join("data.txt"), "keep me").unwrap();

    for (field, value) in [
        ("version", json!("../../../../victim")),
        ("source", json!("index+../index")),
    ] {
        let mut lock = context.lock_json();
        lock["packages"]["a"][field] = value.clone();
        if field == "source" {
            lock["packages"]["a"]["artifacts"]["linux-x86_64"]["sha256"] = json!("../../../etc/passwd");
        }
        fs_err::write(context.lock_path(), serde_json::to_string_pretty(&lock).unwrap()).unwrap();
        let output = context.run(["sync", "--frozen"]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert_contains(&stderr(&output), "is not a valid lock file");
        assert_eq!(
            fs_err::read_to_string(victim.join("data.txt")).unwrap(),
            "keep me"
        );
        assert!(!context.root.join(".velo/Cellar").exists());
    }
}

//! `velo init`, `velo add` and `velo remove`: what they write to `velo.json` and `velo.lock`,
//! that the user's formatting survives, and that a failure leaves both files untouched.

use crate::common::{assert_contains, assert_success, stderr, IndexBuilder, TestContext};

/// A hand-formatted manifest: four-space indent, keys in the user's order, a registry that is a
/// path relative to the project (`<temp>/project/../index`).
const HAND_WRITTEN: &str = r#"{
    "name": "demo",
    "registry": "../index",
    "dependencies": {
        "fd": "^9"
    },
    "env": {
        "RUST_LOG": "info"
    },
    "platforms": ["linux-x86_64", "macos-aarch64"]
}
"#;

/// jq (1.3.0, 1.4.2, a 2.0 prerelease), fd 9 and 10, and ripgrep → pcre2 → zlib, which jq uses too.
fn write_index(context: &TestContext) {
    let mut index: IndexBuilder = context.index();
    index
        .add("jq", "1.0.0", &[("zlib", "^1")])
        .add("jq", "1.3.0", &[("zlib", "^1")])
        .add("jq", "1.4.2", &[("zlib", "^1")])
        .add("jq", "2.0.0-rc.1", &[("zlib", "^1")])
        .add("fd", "9.0.0", &[])
        .add("fd", "10.1.0", &[])
        .add("ripgrep", "14.1.0", &[("pcre2", "^10.40")])
        .add("pcre2", "10.42.0", &[("zlib", "^1")])
        .add("zlib", "1.3.1", &[]);
    index.write();
}

fn project(manifest: &str) -> TestContext {
    let context = TestContext::new();
    write_index(&context);
    context.write_manifest(manifest);
    context
}

fn locked_names(context: &TestContext) -> Vec<String> {
    context.lock_json()["packages"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn init_writes_a_starter_manifest_once() {
    let context = TestContext::new();
    let output = context.run(["init"]);
    assert_success(&output);
    insta::assert_snapshot!("init_manifest", context.manifest());
    insta::assert_snapshot!("init_output", context.render(&output));
    let written = context.manifest();
    serde_json::from_str::<serde_json::Value>(&written).expect("velo.json is JSON");

    let output = context.run(["init", "--name", "other"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("init_twice", context.render(&output));
    assert_eq!(
        context.manifest(),
        written,
        "a second `velo init` changed velo.json"
    );
}

#[test]
fn init_with_registry_and_name() {
    let context = TestContext::new();
    assert_success(&context.run(["init", "--registry", "./index", "--name", "demo"]));
    insta::assert_snapshot!(context.manifest());
    let manifest: serde_json::Value = serde_json::from_str(&context.manifest()).unwrap();
    assert_eq!(manifest["name"], "demo");
    assert_eq!(manifest["registry"], "./index");
    // The written manifest is usable as it is.
    assert_success(&context.run(["lock"]));
    assert_eq!(context.lock_json()["manifest"]["registry"], "./index");
}

#[test]
fn add_pins_the_newest_version_and_keeps_formatting() {
    let context = project(HAND_WRITTEN);
    let output = context.run(["add", "jq"]);
    assert_success(&output);
    insta::assert_snapshot!("add_manifest", context.manifest());
    insta::assert_snapshot!("add_output", context.render(&output));

    let manifest: serde_json::Value = serde_json::from_str(&context.manifest()).unwrap();
    assert_eq!(
        manifest["dependencies"]["jq"], "^1.4.2",
        "the prerelease 2.0.0-rc.1 is not the newest"
    );
    let lock = context.lock_json();
    assert_eq!(lock["packages"]["jq"]["version"], "1.4.2");
    assert_eq!(lock["packages"]["zlib"]["version"], "1.3.1");
    assert_eq!(lock["manifest"]["dependencies"]["jq"]["version"], "^1.4.2");
    // The lock matches the manifest as written.
    assert_success(&context.run(["lock", "--check"]));
}

#[test]
fn add_with_a_requirement_uses_it() {
    let context = project(HAND_WRITTEN);
    assert_success(&context.run(["add", "jq@^1.2"]));
    let manifest: serde_json::Value = serde_json::from_str(&context.manifest()).unwrap();
    assert_eq!(manifest["dependencies"]["jq"], "^1.2");
    assert_eq!(context.lock_json()["packages"]["jq"]["version"], "1.4.2");
    assert_success(&context.run(["lock", "--check"]));

    // Several at once, one with `=`.
    assert_success(&context.run(["add", "ripgrep", "jq@=1.3.0"]));
    let manifest: serde_json::Value = serde_json::from_str(&context.manifest()).unwrap();
    assert_eq!(manifest["dependencies"]["jq"], "=1.3.0");
    assert_eq!(manifest["dependencies"]["ripgrep"], "^14.1.0");
    assert_eq!(context.lock_json()["packages"]["jq"]["version"], "1.3.0");
}

#[test]
fn add_updates_an_existing_dependency_in_place() {
    let context = project(
        r#"{
    "registry": "../index",
    "dependencies": {
        "jq": "^1.0",
        "fd": { "version": "^9", "bin": ["fd"] },
        "zlib": "*"
    }
}
"#,
    );
    assert_success(&context.run(["lock"]));
    assert_eq!(context.lock_json()["packages"]["jq"]["version"], "1.4.2");
    assert_eq!(context.lock_json()["packages"]["fd"]["version"], "9.0.0");

    assert_success(&context.run(["add", "jq@~1.3", "fd@^10"]));
    insta::assert_snapshot!(context.manifest(), @r#"
    {
        "registry": "../index",
        "dependencies": {
            "jq": "~1.3",
            "fd": { "version": "^10", "bin": ["fd"] },
            "zlib": "*"
        }
    }
    "#);
    let lock = context.lock_json();
    assert_eq!(lock["packages"]["jq"]["version"], "1.3.0");
    assert_eq!(lock["packages"]["fd"]["version"], "10.1.0");
    assert_eq!(
        lock["manifest"]["dependencies"]["fd"]["bin"],
        serde_json::json!(["fd"])
    );
    assert_success(&context.run(["lock", "--check"]));
}

#[test]
fn add_of_an_unknown_package_changes_nothing() {
    let context = project(HAND_WRITTEN);
    assert_success(&context.run(["lock"]));
    let (manifest, lock) = (context.manifest(), context.lock());

    let output = context.run(["add", "jqq"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(context.render(&output));
    assert!(stderr(&output).contains("did you mean `jq`?"));
    assert_eq!(context.manifest(), manifest);
    assert_eq!(context.lock(), lock);
}

#[test]
fn add_with_an_unsatisfiable_requirement_changes_nothing() {
    let context = project(HAND_WRITTEN);
    assert_success(&context.run(["lock"]));
    let (manifest, lock) = (context.manifest(), context.lock());

    let output = context.run(["add", "jq@^5"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(context.render(&output));
    assert_eq!(context.manifest(), manifest);
    assert_eq!(context.lock(), lock);
}

#[test]
fn add_rejects_bad_specs() {
    let context = project(HAND_WRITTEN);
    let output = context.run(["add", "bad name"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("add_bad_name", context.render(&output));

    let output = context.run(["add", "jq@^^1"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("add_bad_requirement", context.render(&output));

    assert_eq!(context.manifest(), HAND_WRITTEN);
    assert!(!context.lock_path().exists());
}

#[test]
fn remove_prunes_the_lock_and_keeps_formatting() {
    let context = project(
        r#"{
    "name": "demo",
    "registry": "../index",
    "dependencies": {
        "jq": "^1.4",
        "ripgrep": "^14",
        "fd": "^10"
    },
    "env": {}
}
"#,
    );
    assert_success(&context.run(["lock"]));
    assert_eq!(locked_names(&context), ["fd", "jq", "pcre2", "ripgrep", "zlib"]);

    let output = context.run(["remove", "ripgrep"]);
    assert_success(&output);
    insta::assert_snapshot!("remove_manifest", context.manifest());
    insta::assert_snapshot!("remove_output", context.render(&output));
    // pcre2 went with ripgrep; zlib stays because jq still needs it.
    assert_eq!(locked_names(&context), ["fd", "jq", "zlib"]);
    assert!(context.lock_json()["manifest"]["dependencies"]
        .get("ripgrep")
        .is_none());
    assert_success(&context.run(["lock", "--check"]));

    assert_success(&context.run(["remove", "jq", "fd"]));
    assert!(locked_names(&context).is_empty());
    let manifest: serde_json::Value = serde_json::from_str(&context.manifest()).unwrap();
    assert_eq!(manifest["dependencies"], serde_json::json!({}));
}

#[test]
fn remove_of_an_unknown_dependency_fails() {
    let context = project(HAND_WRITTEN);
    assert_success(&context.run(["lock"]));
    let (manifest, lock) = (context.manifest(), context.lock());

    let output = context.run(["remove", "fdd"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("remove_close_name", context.render(&output));
    assert!(stderr(&output).contains("did you mean `fd`?"));

    let output = context.run(["remove", "kubernetes"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).contains("did you mean"), "{}", stderr(&output));

    assert_eq!(context.manifest(), manifest);
    assert_eq!(context.lock(), lock);
}

#[test]
fn add_pins_an_existing_star_dependency_in_the_lock_too() {
    let context = project(
        r#"{
    "registry": "../index",
    "dependencies": {
        "jq": "*"
    }
}
"#,
    );
    assert_success(&context.run(["lock"]));
    assert_eq!(
        context.lock_json()["manifest"]["dependencies"]["jq"]["version"],
        "*"
    );

    assert_success(&context.run(["add", "jq"]));
    let manifest: serde_json::Value = serde_json::from_str(&context.manifest()).unwrap();
    assert_eq!(manifest["dependencies"]["jq"], "^1.4.2");
    assert_eq!(
        context.lock_json()["manifest"]["dependencies"]["jq"]["version"],
        "^1.4.2"
    );
    let check = context.run(["lock", "--check"]);
    assert_success(&check);
}

#[test]
fn add_without_a_requirement_moves_an_existing_dependency_to_the_newest() {
    let context = TestContext::new();
    let mut index = context.index();
    index.add("jq", "1.0.0", &[]).write();
    context.write_manifest(r#"{"registry": "../index", "dependencies": {"jq": "^1.0"}}"#);
    crate::common::assert_success(&context.run(["lock"]));
    index.add("jq", "1.6.0", &[]).write();
    crate::common::assert_success(&context.run(["add", "jq"]));
    assert_contains(&context.manifest(), r#""jq": "^1.6.0""#);
    assert_eq!(context.lock_json()["packages"]["jq"]["version"], "1.6.0");
    crate::common::assert_success(&context.run(["lock", "--check"]));
}

/// An edit made to `velo.json` while `velo add` is resolving is not overwritten.
#[test]
fn add_does_not_overwrite_a_concurrent_edit() {
    use crate::common::{Fault, FixtureServer};
    let context = TestContext::new();
    let mut index = context.index();
    index.add("jq", "1.0.0", &[]).add("fd", "1.0.0", &[]);
    let server = FixtureServer::start(index.write());
    context.write_manifest(&format!(
        r#"{{"registry": "{}", "dependencies": {{}}}}"#,
        server.url()
    ));
    // A stalled response is logged as soon as it starts, and then retried.
    server.inject(
        "/packages/jq.json",
        1,
        Fault::Stall(std::time::Duration::from_millis(1500)),
    );
    let child = context
        .velo()
        .args(["add", "jq"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until velo is waiting on the slow index, then edit the file as a person would.
    for _ in 0..100 {
        if !server.requests_to("/packages/jq.json").is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let edited = format!(
        r#"{{"registry": "{}", "dependencies": {{"fd": "*"}}}}"#,
        server.url()
    );
    context.write_manifest(&edited);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("`velo.json` changed while velo was working"));
    assert_eq!(context.manifest(), edited);
}

//! `velo tree` and `velo outdated`: the locked graph as text and JSON, and which dependencies
//! have newer versions.

use serde_json::{json, Value};

use crate::common::{assert_success, TestContext};

/// app → left, right; left → base; right → base; base → leaf. The manifest also needs `tool`
/// (no dependencies) directly.
fn diamond() -> TestContext {
    let context = TestContext::new();
    context
        .index()
        .add("app", "1.0.0", &[("left", "^1"), ("right", "^1")])
        .add("left", "1.1.0", &[("base", "^2")])
        .add("right", "1.2.0", &[("base", "^2.1")])
        .add("base", "2.0.0", &[("leaf", "^0.3")])
        .add("base", "2.1.5", &[("leaf", "^0.3")])
        .add("leaf", "0.3.0", &[])
        .add("tool", "4.0.0", &[])
        .write();
    context.write_manifest(
        r#"{
  "registry": "../index",
  "dependencies": {
    "app": "^1",
    "tool": "4"
  }
}
"#,
    );
    context
}

#[test]
fn tree_marks_repeated_subtrees() {
    let context = diamond();
    assert_success(&context.run(["lock"]));
    let output = context.run(["tree"]);
    assert_success(&output);
    insta::assert_snapshot!(context.render(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.matches("base v2.1.5").count(), 2);
    assert_eq!(
        stdout.matches("leaf v0.3.0").count(),
        1,
        "a repeated subtree is printed once"
    );
    assert_eq!(stdout.matches("(*)").count(), 1);
}

#[test]
fn tree_json_has_the_whole_graph() {
    let context = diamond();
    let output = context.run(["tree", "--json"]);
    assert_success(&output);
    let tree: Value = serde_json::from_slice(&output.stdout).expect("`velo tree --json` prints JSON");
    let roots = tree.as_array().expect("a list of direct dependencies");
    assert_eq!(roots.len(), 2);

    let app = &roots[0];
    assert_eq!(
        (&app["name"], &app["version"], &app["requirement"]),
        (&json!("app"), &json!("1.0.0"), &json!("^1"))
    );
    let children: Vec<&str> = app["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["left", "right"]);
    for side in app["dependencies"].as_array().unwrap() {
        assert!(
            side.get("requirement").is_none(),
            "only direct dependencies carry a requirement"
        );
        let base = &side["dependencies"][0];
        assert_eq!(
            (&base["name"], &base["version"]),
            (&json!("base"), &json!("2.1.5"))
        );
        // JSON repeats shared subtrees in full rather than marking them.
        assert_eq!(
            base["dependencies"],
            json!([{ "name": "leaf", "version": "0.3.0", "dependencies": [] }])
        );
    }
    assert_eq!(
        roots[1],
        json!({ "name": "tool", "version": "4.0.0", "requirement": "4", "dependencies": [] })
    );
}

#[test]
fn tree_locks_first_when_there_is_no_lock() {
    let context = diamond();
    assert!(!context.lock_path().exists());
    let output = context.run(["tree"]);
    assert_success(&output);
    assert!(context.lock_path().exists(), "`velo tree` should write velo.lock");
    let lock = context.lock_json();
    assert_eq!(lock["packages"].as_object().unwrap().len(), 6);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("app v1.0.0\n"));
    // And the lock it wrote is current.
    assert_success(&context.run(["lock", "--check"]));
}

/// A project that locked `tool` 1.0.0 and `lib` 0.9.0, after which newer versions appeared.
fn outdated_project() -> TestContext {
    let context = TestContext::new();
    context
        .index()
        .add("tool", "1.0.0", &[])
        .add("lib", "0.9.0", &[])
        .add("fresh", "2.0.0", &[])
        .write();
    context.write_manifest(
        r#"{
  "registry": "../index",
  "dependencies": {
    "tool": "^1.0",
    "lib": "~0.9",
    "fresh": "*"
  }
}
"#,
    );
    assert_success(&context.run(["lock"]));
    context
        .index()
        .add("tool", "1.0.0", &[])
        .add("tool", "1.2.0", &[])
        .add("tool", "2.0.0", &[])
        .add("tool", "3.0.0-beta.1", &[])
        .add("lib", "0.9.0", &[])
        .add("lib", "0.9.3", &[])
        .add("fresh", "2.0.0", &[])
        .add("fresh", "2.1.0-rc.1", &[])
        .write();
    context
}

#[test]
fn outdated_shows_compatible_and_latest() {
    let context = outdated_project();
    let before = context.lock();
    let output = context.run(["outdated"]);
    assert_success(&output);
    insta::assert_snapshot!(context.render(&output));
    assert_eq!(
        context.lock(),
        before,
        "`velo outdated` must not move locked versions"
    );
}

#[test]
fn outdated_json_reports_every_direct_dependency() {
    let context = outdated_project();
    let output = context.run(["outdated", "--json"]);
    assert_success(&output);
    let rows: Value = serde_json::from_slice(&output.stdout).expect("`velo outdated --json` prints JSON");
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no row for {name}"))
    };
    let fields = |name: &str| {
        let row = row(name);
        (
            row["locked"].clone(),
            row["compatible"].clone(),
            row["latest"].clone(),
        )
    };
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(fields("tool"), (json!("1.0.0"), json!("1.2.0"), json!("2.0.0")));
    assert_eq!(row("tool")["requirement"], "^1.0");
    assert_eq!(fields("lib"), (json!("0.9.0"), json!("0.9.3"), json!("0.9.3")));
    // Prereleases are not "latest" for a requirement that does not ask for one.
    assert_eq!(fields("fresh"), (json!("2.0.0"), json!("2.0.0"), json!("2.0.0")));
}

#[test]
fn outdated_reports_prereleases_when_the_requirement_asks_for_them() {
    let context = TestContext::new();
    context
        .index()
        .add("tool", "3.0.0-alpha.1", &[])
        .add("tool", "2.0.0", &[])
        .write();
    context.write_manifest(r#"{"registry": "../index", "dependencies": {"tool": ">=3.0.0-alpha.1"}}"#);
    assert_success(&context.run(["lock"]));
    context
        .index()
        .add("tool", "2.0.0", &[])
        .add("tool", "3.0.0-alpha.1", &[])
        .add("tool", "3.0.0-beta.2", &[])
        .write();
    let output = context.run(["outdated", "--json"]);
    assert_success(&output);
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows[0]["locked"], "3.0.0-alpha.1");
    assert_eq!(rows[0]["compatible"], "3.0.0-beta.2");
    assert_eq!(rows[0]["latest"], "3.0.0-beta.2");
}

#[test]
fn outdated_when_everything_is_newest() {
    let context = TestContext::new();
    context
        .index()
        .add("tool", "1.0.0", &[])
        .add("tool", "1.1.0", &[])
        .add("tool", "2.0.0-rc.1", &[])
        .write();
    context.write_manifest(r#"{"registry": "../index", "dependencies": {"tool": "^1"}}"#);
    assert_success(&context.run(["lock"]));
    let output = context.run(["outdated"]);
    assert_success(&output);
    insta::assert_snapshot!(context.render(&output));
    assert!(output.stdout.is_empty(), "no table when nothing is outdated");
}

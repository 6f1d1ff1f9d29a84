//! Bad `velo.json` files: every one gets a message with file, line and column, and a hint.

use crate::common::assert_contains;
use crate::common::TestContext;

fn check(manifest: &str) -> String {
    let context = TestContext::new();
    context.write_manifest(manifest);
    let output = context.run(["lock"]);
    assert!(
        !context.lock_path().exists(),
        "a bad manifest must not produce a lock"
    );
    context.render(&output)
}

#[test]
fn unknown_top_level_key() {
    insta::assert_snapshot!(check("{\n  \"name\": \"demo\",\n  \"dependancies\": {}\n}\n"), @r#"
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: invalid `velo.json`: unknown key `dependancies`
      --> [TEMP]/project/velo.json:3:3
      |
    3 |   "dependancies": {}
      |   ^
    hint: did you mean `dependencies`?
    "#);
}

#[test]
fn unknown_key_without_a_close_match_lists_the_valid_ones() {
    let text = check("{\"frobnicate\": 1}");
    assert_contains(&text, "unknown key `frobnicate`");
    assert_contains(
        &text,
        "valid keys here are `$schema`, `name`, `registry`, `platforms`, `dependencies`",
    );
}

#[test]
fn unknown_key_in_a_dependency() {
    insta::assert_snapshot!(check("{\n  \"registry\": \"./i\",\n  \"dependencies\": {\n    \"fd\": { \"verison\": \"9\" }\n  }\n}\n"), @r#"
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: invalid `velo.json`: unknown key `verison`
      --> [TEMP]/project/velo.json:4:13
      |
    4 |     "fd": { "verison": "9" }
      |             ^
    hint: did you mean `version`?
    "#);
}

#[test]
fn bad_requirement() {
    insta::assert_snapshot!(check("{\n  \"dependencies\": {\n    \"jq\": \"^^1.7\"\n  }\n}\n"), @r#"
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: invalid `velo.json`: invalid version requirement `^^1.7`: unexpected character '^' while parsing major version number
      --> [TEMP]/project/velo.json:3:12
      |
    3 |     "jq": "^^1.7"
      |            ^
    hint: expected a Cargo-style requirement such as `^1.7`, `~1.2.3`, `>=1, <2` or `*`
    "#);
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(check("{\n  \"dependencies\": {\n    \"jq\": 17\n  }\n}\n"), @r#"
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: invalid `velo.json`: wrong type: integer `17`, expected a version requirement string or an object with `version`, `source`, `bin`
      --> [TEMP]/project/velo.json:3:12
      |
    3 |     "jq": 17
      |            ^
    "#);
}

#[test]
fn bad_platform() {
    let text = check("{\"platforms\": [\"linux-amd64\"]}");
    assert_contains(&text, "unknown platform `linux-amd64`");
    assert_contains(&text, "hint: did you mean `linux-x86_64`?");
    assert_contains(&text, "velo.json:1:");
}

#[test]
fn bad_package_key() {
    insta::assert_snapshot!(check("{\"dependencies\": {\"githb:BurntSushi/ripgrep\": \"14\"}}"), @r#"
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: invalid `velo.json`: invalid package key `githb:BurntSushi/ripgrep`: unknown source `githb:`
      --> [TEMP]/project/velo.json:1:20
      |
    1 | {"dependencies": {"githb:BurntSushi/ripgrep": "14"}}
      |                    ^
    hint: did you mean `github:`?
    "#);
}

#[test]
fn duplicate_dependency() {
    let text = check("{\"dependencies\": {\"jq\": \"1\", \"jq\": \"2\"}}");
    assert_contains(&text, "dependency `jq` is listed twice");
}

#[test]
fn trailing_comma() {
    insta::assert_snapshot!(check("{\n  \"name\": \"demo\",\n}\n"), @r#"
    exit_code: 2
    ----- stdout -----

    ----- stderr -----
    error: invalid `velo.json`: trailing comma
      --> [TEMP]/project/velo.json:3:1
      |
    3 | }
      | ^
    hint: JSON does not allow a comma after the last item; remove it
    "#);
}

#[test]
fn truncated_file() {
    let text = check("{\n  \"name\": \"demo\",\n  \"dependencies\": {\n");
    assert_contains(&text, "unexpected end of file");
    assert_contains(&text, "hint: check for a missing `}` or `]`");
}

#[test]
fn task_without_command() {
    let text = check("{\"tasks\": {\"build\": {\"inputs\": [\"src/**\"]}}}");
    assert_contains(&text, "missing key `command`");
}

#[test]
fn not_an_object() {
    let text = check("[]");
    assert_contains(&text, "exit_code: 2");
    assert_contains(&text, "the top level must be an object");
    let text = check("  \n");
    assert_contains(&text, "the file is empty");
    assert_contains(&text, "hint: the smallest valid manifest is `{}`");
}

#[test]
fn no_manifest_anywhere() {
    let context = TestContext::new();
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(2));
    let text = context.filter(&String::from_utf8_lossy(&output.stderr));
    assert_contains(
        &text,
        "no `velo.json` found in `[TEMP]/project` or any parent directory",
    );
    assert_contains(&text, "hint: run `velo init`");
}

#[test]
fn velocity_manifests_parse() {
    let context = TestContext::new();
    context.write_manifest(r#"{"dependencies": {"wget": "*"}, "taps": []}"#);
    // It parses: locking goes on to Homebrew core (offline here, so it stops there).
    let text = context.render(&context.run(["lock", "--offline"]));
    assert!(!text.contains("invalid"), "{text}");
    assert_contains(&text, "Homebrew");
}

/// An `env` name that is not a variable name would be pasted into the shell hook: refused.
#[test]
fn env_names_must_be_variable_names() {
    let text = check("{\n  \"env\": {\"A=1; touch PWNED; B\": \"x\"}\n}\n");
    assert_contains(&text, "exit_code: 2");
    assert!(
        text.contains("`A=1; touch PWNED; B` is not a variable name"),
        "{text}"
    );
    assert_contains(&text, "velo.json:2:");
}

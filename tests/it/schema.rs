//! `schema/velo.schema.json` against the manifest corpus in `tests/schema/`.
//!
//! `tests/schema/valid/*.json` must all validate. Each file in `tests/schema/invalid/` must fail
//! for exactly the reason its name gives; `INVALID` below says where in the document that reason
//! sits, so a file that fails somewhere else (a typo in the fixture, a schema that got too strict)
//! is caught instead of counted as a pass. The shipped examples must validate too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Every file in `tests/schema/invalid/`, with the JSON pointer of the value every validation
/// error must point at (`""` is the document itself). A new invalid fixture needs a line here.
const INVALID: &[(&str, &str)] = &[
    ("auto-sync-not-boolean.json", "/auto_sync"),
    ("dependency-bin-outside-package.json", "/dependencies/kit"),
    (
        "dependency-asset-unknown-platform.json",
        "/dependencies/github:sharkdp~1fd",
    ),
    ("dependency-object-unknown-key.json", "/dependencies/fd"),
    ("dependency-platforms-typo.json", "/dependencies/fd"),
    ("dependency-source-bad-key.json", "/dependencies/fd"),
    ("dependency-value-number.json", "/dependencies/jq"),
    ("dependency-version-empty.json", "/dependencies/jq"),
    ("env-bad-variable-name.json", "/env"),
    ("env-value-number.json", "/env/JOBS"),
    ("not-an-object.json", ""),
    ("package-key-capitalized-prefix.json", "/dependencies"),
    ("package-key-github-missing-repo.json", "/dependencies"),
    ("package-key-space.json", "/dependencies"),
    ("package-key-unknown-prefix.json", "/dependencies"),
    ("package-key-uppercase-name.json", "/dependencies"),
    ("platform-typo.json", "/platforms/1"),
    ("platforms-duplicate.json", "/platforms"),
    ("platforms-empty.json", "/platforms"),
    ("registry-unsupported-scheme.json", "/registry"),
    ("remote-timeout-zero.json", "/cache/remote/timeout_secs"),
    ("remote-without-url.json", "/cache/remote"),
    ("task-cache-not-boolean.json", "/tasks/deploy"),
    ("task-depends-on-bad-entry.json", "/tasks/build"),
    ("task-unknown-key.json", "/tasks/build"),
    ("task-without-command.json", "/tasks/build"),
    ("unknown-top-level-key.json", ""),
    ("workspace-without-members.json", "/workspace"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("`{}` is not JSON: {e}", path.display()))
}

fn schema() -> Value {
    read_json(&root().join("schema/velo.schema.json"))
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).unwrap_or_else(|e| {
        panic!(
            "schema/velo.schema.json does not compile: {e} (at {})",
            e.schema_path
        )
    })
}

/// The `.json` files of `tests/schema/<kind>/`, sorted.
fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = root().join("tests/schema").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list `{}`: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every validation error as `(instance pointer, message)`.
fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<(String, String)> {
    validator
        .iter_errors(instance)
        .map(|e| (e.instance_path.as_str().to_owned(), e.to_string()))
        .collect()
}

fn show(errors: &[(String, String)]) -> String {
    errors
        .iter()
        .map(|(at, message)| format!("\n    at `{at}`: {message}"))
        .collect()
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = schema();
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "the schema must declare draft 2020-12"
    );
    let problems: Vec<String> = jsonschema::draft202012::meta::VALIDATOR
        .iter_errors(&schema)
        .map(|e| format!("\n    at `{}`: {e}", e.instance_path))
        .collect();
    assert!(
        problems.is_empty(),
        "schema/velo.schema.json is not a valid draft 2020-12 schema:{}",
        problems.concat()
    );
    assert!(jsonschema::meta::is_valid(&schema));
    // Building compiles every `pattern` and resolves every `$ref`.
    validator();
}

/// Editors show `description` on hover and in completions, so every property has one.
#[test]
fn every_property_and_definition_has_a_description() {
    fn walk(node: &Value, pointer: &str, missing: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                for group in ["properties", "$defs"] {
                    if let Some(Value::Object(children)) = map.get(group) {
                        for (name, child) in children {
                            if child
                                .get("description")
                                .and_then(Value::as_str)
                                .is_none_or(str::is_empty)
                            {
                                missing.push(format!("{pointer}/{group}/{name}"));
                            }
                        }
                    }
                }
                for (key, child) in map {
                    walk(child, &format!("{pointer}/{key}"), missing);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{pointer}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let mut missing = Vec::new();
    walk(&schema(), "", &mut missing);
    assert!(
        missing.is_empty(),
        "schema entries without a description: {missing:#?}"
    );
}

#[test]
fn valid_corpus_validates() {
    let validator = validator();
    let files = corpus("valid");
    assert!(
        files.len() >= 8,
        "expected at least 8 files in tests/schema/valid, found {}",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let found = errors(&validator, &read_json(path));
            (!found.is_empty()).then(|| format!("\n  {} was rejected:{}", file_name(path), show(&found)))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "valid manifests failed validation:{}",
        failures.concat()
    );
}

#[test]
fn invalid_corpus_fails_for_the_reason_in_its_name() {
    let validator = validator();
    let files = corpus("invalid");
    assert!(
        files.len() >= 10,
        "expected at least 10 files in tests/schema/invalid, found {}",
        files.len()
    );

    let on_disk: BTreeSet<String> = files.iter().map(|path| file_name(path)).collect();
    let listed: BTreeSet<String> = INVALID.iter().map(|(name, _)| (*name).to_owned()).collect();
    let unlisted: Vec<_> = on_disk.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "INVALID in tests/it/schema.rs and tests/schema/invalid/ disagree; \
         add these files to INVALID: {unlisted:?}; remove these entries: {gone:?}"
    );

    let mut failures = Vec::new();
    for (name, at) in INVALID {
        let found = errors(
            &validator,
            &read_json(&root().join("tests/schema/invalid").join(name)),
        );
        if found.is_empty() {
            failures.push(format!("\n  {name} was accepted, but must fail at `{at}`"));
        } else if found.iter().any(|(pointer, _)| pointer != at) {
            failures.push(format!(
                "\n  {name} must fail only at `{at}`, got:{}",
                show(&found)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "invalid manifests did not fail as expected:{}",
        failures.concat()
    );
}

#[test]
fn original_velocity_manifest_is_valid() {
    let validator = validator();
    let velocity = json!({"dependencies": {"wget": "*"}, "taps": []});
    assert_eq!(errors(&validator, &velocity), []);
}

#[test]
fn shipped_examples_validate() {
    let validator = validator();
    for relative in ["velo.json.example", "examples/project/velo.json"] {
        let path = root().join(relative);
        let manifest = read_json(&path);
        let found = errors(&validator, &manifest);
        assert!(found.is_empty(), "{relative} does not validate:{}", show(&found));

        // Their `$schema` must lead an editor to the schema in this repository.
        let schema_ref = manifest["$schema"]
            .as_str()
            .unwrap_or_else(|| panic!("{relative} has no `$schema`"));
        let target = path.parent().unwrap().join(schema_ref);
        assert_eq!(
            target.canonicalize().ok(),
            root().join("schema/velo.schema.json").canonicalize().ok(),
            "the `$schema` of {relative} (`{schema_ref}`) does not point at schema/velo.schema.json"
        );
    }
}

//! `velo lock` against a fake Homebrew: formula records (variations, `uses_from_macos`,
//! requirements, aliases, old names) from a fake formulae API, bottle sizes from a fake ghcr's
//! image indexes. Per platform the closure, the bottle tag and the unavailable platforms are
//! checked in `velo.lock`; a current lock asks neither server anything.

use serde_json::{json, Value};

use crate::common::ghcr::{Blob, Ghcr, GhcrServer};
use crate::common::homebrew_api::{HomebrewApi, RunningHomebrewApi};
use crate::common::{assert_contains, assert_success, stderr, TestContext};

/// A bottle's bytes: only its digest and size matter to a lock.
fn bytes(name: &str, tag: &str) -> Vec<u8> {
    format!("bottle of {name} for {tag}").into_bytes()
}

/// A formula record shaped like homebrew-core's, with bottles for `tags` as `ghcr` serves them.
fn record(
    name: &str,
    stable: &str,
    revision: u32,
    dependencies: &[&str],
    tags: &[&str],
    ghcr: &GhcrServer,
) -> Value {
    let files: serde_json::Map<String, Value> = tags
        .iter()
        .map(|tag| {
            let blob: &Blob = ghcr.blob(name, tag);
            (
                tag.to_string(),
                json!({"cellar": blob.cellar, "url": blob.url, "sha256": blob.sha256}),
            )
        })
        .collect();
    json!({
        "name": name, "full_name": name, "tap": "homebrew/core", "oldnames": [], "aliases": [],
        "versions": {"stable": stable, "head": null, "bottle": true},
        "revision": revision, "version_scheme": 0,
        "bottle": {"stable": {"rebuild": 0, "root_url": "https://ghcr.io/v2/homebrew/core", "files": files}},
        "keg_only": false, "build_dependencies": [], "dependencies": dependencies,
        "test_dependencies": [], "recommended_dependencies": [], "optional_dependencies": [],
        "uses_from_macos": [], "uses_from_macos_bounds": [], "requirements": [],
        "disabled": false, "deprecated": false, "post_install_defined": false,
        "pour_bottle_only_if": null, "variations": {}
    })
}

fn pkg_version(stable: &str, revision: u32) -> String {
    if revision == 0 {
        stable.to_string()
    } else {
        format!("{stable}_{revision}")
    }
}

/// Formulae (name, stable, revision, tags) served as bottles by one fake ghcr.
fn ghcr(formulae: &[(&str, &str, u32, &[&str])]) -> GhcrServer {
    let mut ghcr = Ghcr::new();
    for (name, stable, revision, tags) in formulae {
        for tag in *tags {
            ghcr = ghcr.bottle(
                name,
                &pkg_version(stable, *revision),
                tag,
                bytes(name, tag),
                ":any",
            );
        }
    }
    ghcr.start()
}

fn context(api: &RunningHomebrewApi, ghcr: &GhcrServer) -> TestContext {
    TestContext::new()
        .with_env("VELO_HOMEBREW_API_URL", &api.api_url())
        .with_env("VELO_HOMEBREW_API_KEY", &api.public_key().to_string_lossy())
        .with_env("VELO_HOMEBREW_BOTTLE_URL", &ghcr.url())
}

fn read_lock(context: &TestContext) -> Value {
    serde_json::from_str(&std::fs::read_to_string(context.lock_path()).expect("a lock")).expect("lock JSON")
}

const BOTH: &[&str] = &["x86_64_linux", "arm64_sonoma"];

/// `curl`'s shape: a Linux variation adds a dependency, `uses_from_macos` adds `zlib` on Linux
/// (and a build-only `krb5` nowhere); macOS has bottles for several releases.
#[test]
fn the_closure_and_the_bottle_are_chosen_per_platform() {
    let server = ghcr(&[
        (
            "curl",
            "8.11.1",
            1,
            &["x86_64_linux", "arm64_sequoia", "arm64_sonoma", "arm64_ventura"],
        ),
        ("openssl@3", "3.4.0", 0, BOTH),
        ("libssh2", "1.11.1", 0, &["x86_64_linux"]),
        ("zlib", "1.3.1", 0, BOTH),
    ]);
    let mut curl = record(
        "curl",
        "8.11.1",
        1,
        &["openssl@3"],
        &["x86_64_linux", "arm64_sequoia", "arm64_sonoma", "arm64_ventura"],
        &server,
    );
    curl["uses_from_macos"] = json!([{"krb5": "build"}, "zlib"]);
    curl["variations"] = json!({"x86_64_linux": {"dependencies": ["openssl@3", "libssh2"]}});
    let api = HomebrewApi::new()
        .formulae([
            curl,
            record("openssl@3", "3.4.0", 0, &[], BOTH, &server),
            record("libssh2", "1.11.1", 0, &[], &["x86_64_linux"], &server),
            record("zlib", "1.3.1", 0, &[], BOTH, &server),
        ])
        .start();
    let context = context(&api, &server);
    context.write_manifest(
        r#"{"platforms": ["linux-x86_64", "macos-aarch64"], "dependencies": {"curl": "^8.11"}}"#,
    );
    let output = context.run(["lock"]);
    assert_success(&output);
    let lock = read_lock(&context);
    let packages = lock["packages"].as_object().unwrap();
    assert_eq!(
        packages.keys().collect::<Vec<_>>(),
        ["curl", "libssh2", "openssl@3", "zlib"],
        "{lock:#}"
    );
    let curl = &lock["packages"]["curl"];
    assert_eq!(curl["version"], "8.11.1_1");
    assert_eq!(curl["source"], "brew");
    assert_eq!(curl["dependencies"], json!(["libssh2", "openssl@3", "zlib"]));
    let linux = &curl["artifacts"]["linux-x86_64"];
    assert_eq!(linux["dependencies"], json!(["libssh2", "openssl@3", "zlib"]));
    assert_eq!(linux["bottle"]["tag"], "x86_64_linux");
    assert_eq!(linux["strip_components"], 2);
    assert_eq!(linux["format"], "tar.gz");
    let blob = server.blob("curl", "x86_64_linux");
    assert_eq!(linux["url"], blob.url.as_str());
    assert_eq!(linux["sha256"], blob.sha256.as_str());
    assert_eq!(linux["size"], blob.size);
    let mac = &curl["artifacts"]["macos-aarch64"];
    assert_eq!(mac["dependencies"], json!(["openssl@3"]));
    // The newest bottle not newer than the default oldest macOS, 14.
    assert_eq!(mac["bottle"]["tag"], "arm64_sonoma");
    // Needed on Linux only: locked for Linux only, and not called unavailable on macOS.
    for linux_only in ["zlib", "libssh2"] {
        let package = &lock["packages"][linux_only];
        assert_eq!(package["artifacts"].as_object().unwrap().len(), 1, "{package:#}");
        assert!(package.get("unavailable").is_none(), "{package:#}");
    }

    // `velo info` tells the same story, with the reasons for the other tags.
    let output = context.run(["info", "brew:curl", "--json"]);
    assert_success(&output);
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mac = info["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == "macos-aarch64")
        .unwrap();
    assert_eq!(mac["bottle"]["tag"], "arm64_sonoma");
    assert_contains(
        mac["tags"]["arm64_sequoia"].as_str().unwrap(),
        "newer than the project's oldest macOS 14",
    );
    assert_contains(mac["tags"]["x86_64_linux"].as_str().unwrap(), "a Linux bottle");

    // A newer `min_macos` takes the newer bottle.
    context.write_manifest(
        r#"{"platforms": ["linux-x86_64", "macos-aarch64"], "min_macos": "sequoia", "dependencies": {"curl": "^8.11"}}"#,
    );
    assert_success(&context.run(["lock"]));
    assert_eq!(
        read_lock(&context)["packages"]["curl"]["artifacts"]["macos-aarch64"]["bottle"]["tag"],
        "arm64_sequoia"
    );
}

#[test]
fn aliases_and_old_names_lock_the_canonical_name_once() {
    let server = ghcr(&[
        ("python@3.13", "3.13.1", 0, BOTH),
        ("pipx", "1.7.1", 0, BOTH),
        ("jq", "1.7.1", 0, BOTH),
    ]);
    let mut python = record("python@3.13", "3.13.1", 0, &[], BOTH, &server);
    python["aliases"] = json!(["python", "python3"]);
    let mut jq = record("jq", "1.7.1", 0, &[], BOTH, &server);
    jq["oldnames"] = json!(["jq-old"]);
    let api = HomebrewApi::new()
        .formulae([
            python,
            record("pipx", "1.7.1", 0, &["python@3.13"], BOTH, &server),
            jq,
        ])
        .start();
    let context = context(&api, &server);
    context.write_manifest(
        r#"{"platforms": ["linux-x86_64"], "dependencies": {"python": "^3.13", "pipx": "*", "brew:jq-old": "*"}}"#,
    );
    let output = context.run(["lock"]);
    assert_success(&output);
    let lock = read_lock(&context);
    assert_eq!(
        lock["packages"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["jq", "pipx", "python@3.13"],
        "{lock:#}"
    );
    assert_eq!(
        lock["manifest"]["dependencies"]["python"]["package"],
        "python@3.13"
    );
    assert_eq!(lock["manifest"]["dependencies"]["brew:jq-old"]["package"], "jq");
    assert!(lock["manifest"]["dependencies"]["pipx"].get("package").is_none());

    // The lock is current: nothing is asked of either server, by `lock` or `lock --check`.
    api.clear_log();
    server.clear_log();
    let output = context.run(["lock"]);
    assert_success(&output);
    assert_success(&context.run(["lock", "--check"]));
    assert_eq!(api.log().len(), 0, "{:?}", api.log());
    assert_eq!(server.log().len(), 0, "{:?}", server.log());
}

#[test]
fn a_requirement_is_checked_against_the_one_version() {
    let server = ghcr(&[("jq", "1.7.1", 0, BOTH)]);
    let api = HomebrewApi::new()
        .formula(record("jq", "1.7.1", 0, &[], BOTH, &server))
        .start();
    let context = context(&api, &server);
    context.write_manifest(r#"{"platforms": ["linux-x86_64"], "dependencies": {"jq": "^1.8"}}"#);
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert_contains(&text, "jq");
    assert_contains(&text, "your project depends on jq ^1.8 (only jq 1.7.1 exists)");
    assert!(!context.lock_path().exists());
}

#[test]
fn disabled_and_default_prefix_formulae_are_refused_by_name() {
    let server = ghcr(&[("old", "1.0", 0, BOTH), ("pinned", "2.0", 0, BOTH)]);
    let mut old = record("old", "1.0", 0, &[], BOTH, &server);
    old["disabled"] = json!(true);
    old["disable_reason"] = json!("unmaintained");
    let mut pinned = record("pinned", "2.0", 0, &[], BOTH, &server);
    pinned["pour_bottle_only_if"] = json!("default_prefix");
    let api = HomebrewApi::new().formulae([old, pinned]).start();
    let context = context(&api, &server);
    context.write_manifest(r#"{"platforms": ["linux-x86_64"], "dependencies": {"old": "*"}}"#);
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(
        &stderr(&output),
        "the Homebrew formula `old` is disabled (unmaintained)",
    );
    context.write_manifest(r#"{"platforms": ["linux-x86_64"], "dependencies": {"pinned": "*"}}"#);
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(
        &stderr(&output),
        "`pinned`'s bottles may only be poured into Homebrew's default prefix",
    );
}

#[test]
fn a_platform_without_a_bottle_or_ruled_out_is_recorded_unavailable() {
    let server = ghcr(&[
        ("tool", "1.0", 0, &["x86_64_linux"]),
        ("macfuse-thing", "2.0", 0, &["arm64_sonoma"]),
    ]);
    let mut mac_only = record("macfuse-thing", "2.0", 0, &[], &["arm64_sonoma"], &server);
    mac_only["requirements"] = json!([{"name": "macos", "cask": null, "download": null, "version": null, "contexts": [], "specs": ["stable"]}]);
    let api = HomebrewApi::new()
        .formulae([
            record("tool", "1.0", 0, &[], &["x86_64_linux"], &server),
            mac_only,
        ])
        .start();
    let context = context(&api, &server);
    context.write_manifest(
        r#"{"platforms": ["linux-x86_64", "linux-aarch64", "macos-aarch64"],
            "dependencies": {"tool": "*", "macfuse-thing": {"version": "*", "platforms": ["macos-aarch64"]}}}"#,
    );
    let output = context.run(["lock"]);
    assert_success(&output);
    assert_contains(
        &stderr(&output),
        "the Homebrew formula `tool` is not available for linux-aarch64: Homebrew has no bottle for it",
    );
    let lock = read_lock(&context);
    assert_eq!(
        lock["packages"]["tool"]["unavailable"],
        json!(["linux-aarch64", "macos-aarch64"])
    );
    assert_eq!(
        lock["packages"]["macfuse-thing"]["artifacts"]["macos-aarch64"]["bottle"]["tag"],
        "arm64_sonoma"
    );

    // Wanted on Linux too, it has no artifact for this machine: a clear lock error.
    context.write_manifest(
        r#"{"platforms": ["linux-x86_64", "macos-aarch64"], "dependencies": {"macfuse-thing": "*"}}"#,
    );
    let output = context.run(["lock"]);
    assert_ne!(output.status.code(), Some(0));
    assert_contains(
        &stderr(&output),
        "`macfuse-thing 2.0` (available for: macos-aarch64); it needs macOS",
    );
}

#[test]
fn add_takes_a_formula_by_name_in_a_project_without_a_registry() {
    let server = ghcr(&[("wget", "1.25.0", 0, BOTH)]);
    let api = HomebrewApi::new()
        .formula(record("wget", "1.25.0", 0, &[], BOTH, &server))
        .start();
    let context = context(&api, &server);
    context.write_manifest(r#"{"platforms": ["linux-x86_64"], "dependencies": {}}"#);
    let output = context.run(["add", "wget"]);
    assert_success(&output);
    let manifest: Value = serde_json::from_str(&context.manifest()).unwrap();
    // One version per formula: pinned as `*`, not `^1.25`, so Homebrew's next release locks.
    assert_eq!(manifest["dependencies"]["wget"], "*");
    assert_eq!(read_lock(&context)["packages"]["wget"]["version"], "1.25.0");
}

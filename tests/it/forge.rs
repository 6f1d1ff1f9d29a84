//! Git forge releases as a package source, against a fake GitHub, GitLab and Gitea on loopback:
//! asset selection end to end, sha256 from API digests, checksum files or a download, pagination
//! and ETags, prereleases and drafts, rate limits and tokens, missing repositories, raw binaries,
//! renamed assets, aliases and asset patterns.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::common::archive::{self, executable, file, script, Entry};
use crate::common::forge_server::{sha256_hex, sha256sums, ForgeFault, ForgeServer, RunningForge};
use crate::common::{assert_contains, assert_success, stderr, TestContext};

/// Token variables a developer's shell may have set; every test decides its own.
const TOKEN_VARS: [&str; 5] = [
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
    "GITEA_TOKEN",
    "CODEBERG_TOKEN",
];

/// A token that appears nowhere else, so finding it in output means it leaked.
const TOKEN: &str = "ghp_TESTtoken0123456789abcdef";

/// A `velo.json` targeting `platforms` with these dependencies.
fn manifest(platforms: &[&str], dependencies: Value) -> String {
    let manifest = json!({ "name": "demo", "platforms": platforms, "dependencies": dependencies });
    serde_json::to_string_pretty(&manifest).unwrap() + "\n"
}

/// A project whose GitHub API (or GitLab, Gitea, Codeberg: `api_var`) is `forge`.
fn project(api_var: &str, forge: &RunningForge) -> TestContext {
    TestContext::new().with_env(api_var, &forge.api_url())
}

/// `velo ARGS…` without any forge token from the caller's environment.
fn velo(context: &TestContext) -> Command {
    let mut command = context.velo();
    for var in TOKEN_VARS {
        command.env_remove(var);
    }
    command
}

fn run(context: &TestContext, args: &[&str]) -> Output {
    velo(context).args(args).output().expect("run velo")
}

/// Run a command the project installed into `.velo/bin`.
fn run_tool(context: &TestContext, name: &str, args: &[&str]) -> String {
    let output = Command::new(context.root.join(".velo/bin").join(name))
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("run .velo/bin/{name}: {err}"));
    assert!(output.status.success(), "{name} failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn artifact<'a>(lock: &'a Value, package: &str, platform: &str) -> &'a Value {
    let artifact = &lock["packages"][package]["artifacts"][platform];
    assert!(
        artifact.is_object(),
        "no {platform} artifact for {package} in {lock:#}"
    );
    artifact
}

/// A release archive the way Rust projects ship them: `<top>/<exe>` and some documentation.
fn release_archive(top: &str, exe: &str, version_text: &str, zip: bool) -> Vec<u8> {
    let entries = vec![
        executable(
            &format!("{top}/{exe}"),
            script(exe.trim_end_matches(".exe"), version_text),
        ),
        file(&format!("{top}/README.md"), "read me\n"),
        file(&format!("{top}/COPYING"), "MIT\n"),
        file(&format!("{top}/doc/{exe}.1"), ".TH\n"),
    ];
    if zip {
        archive::zip(&entries)
    } else {
        archive::tar_gz(&entries)
    }
}

/// (target triple, velo platform) of ripgrep's builds.
const RG_TARGETS: [(&str, Option<&str>); 6] = [
    ("x86_64-unknown-linux-musl", Some("linux-x86_64")),
    ("x86_64-unknown-linux-gnu", None),
    ("aarch64-unknown-linux-gnu", Some("linux-aarch64")),
    ("x86_64-apple-darwin", Some("macos-x86_64")),
    ("aarch64-apple-darwin", Some("macos-aarch64")),
    ("x86_64-pc-windows-msvc", Some("windows-x86_64")),
];

/// ripgrep `version`'s assets: an archive per target (with API digests), a `.sha256` for
/// each, and a `.deb`. Each archive's `rg --version` names its target.
fn ripgrep_assets(version: &str) -> Vec<(String, Vec<u8>, bool)> {
    let mut assets = Vec::new();
    for (target, _) in RG_TARGETS {
        let windows = target.contains("windows");
        let top = format!("ripgrep-{version}-{target}");
        let name = format!("{top}.{}", if windows { "zip" } else { "tar.gz" });
        let exe = if windows { "rg.exe" } else { "rg" };
        let bytes = release_archive(&top, exe, &format!("{version} ({target})"), windows);
        let sum = format!("{}  {name}\n", sha256_hex(&bytes));
        assets.push((format!("{name}.sha256"), sum.into_bytes(), true));
        assets.push((name, bytes, true));
    }
    assets.push((
        format!("ripgrep_{version}-1_amd64.deb"),
        b"!<arch>\n".to_vec(),
        true,
    ));
    assets
}

fn bytes_of<'a>(assets: &'a [(String, Vec<u8>, bool)], name: &str) -> &'a [u8] {
    &assets
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no asset {name}"))
        .1
}

const ALL_PLATFORMS: [&str; 5] = [
    "linux-x86_64",
    "linux-aarch64",
    "macos-x86_64",
    "macos-aarch64",
    "windows-x86_64",
];

#[test]
fn github_release_locks_the_right_asset_for_each_platform() {
    let old = ripgrep_assets("13.0.0");
    let new = ripgrep_assets("14.1.0");
    let forge = ForgeServer::github()
        .release("BurntSushi", "ripgrep", "13.0.0", &old)
        .release("BurntSushi", "ripgrep", "14.1.0", &new)
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    let text = manifest(&ALL_PLATFORMS, json!({ "github:BurntSushi/ripgrep": "^14" }));
    context.write_manifest(&text);

    assert_success(&run(&context, &["lock"]));
    let lock = context.lock_json();
    let package = &lock["packages"]["github:BurntSushi/ripgrep"];
    assert_eq!(package["version"], "14.1.0", "{lock:#}");
    assert_eq!(package["source"], "github:BurntSushi/ripgrep");
    for (target, platform) in RG_TARGETS {
        let Some(platform) = platform else { continue };
        let ext = if platform.starts_with("windows") {
            "zip"
        } else {
            "tar.gz"
        };
        let name = format!("ripgrep-14.1.0-{target}.{ext}");
        let bytes = bytes_of(&new, &name);
        let artifact = artifact(&lock, "github:BurntSushi/ripgrep", platform);
        assert_eq!(
            artifact["url"],
            forge.download_url("BurntSushi", "ripgrep", "14.1.0", &name),
            "{platform}"
        );
        assert_eq!(artifact["sha256"], sha256_hex(bytes), "{platform}");
        assert_eq!(artifact["size"], bytes.len(), "{platform}");
    }
    // The API's digests were enough: no checksum file read, nothing downloaded.
    let downloads = forge.requests_to("/download/");
    assert!(downloads.is_empty(), "{downloads:#?}");
    let api = forge.api_requests();
    assert_eq!(api.len(), 1, "{api:#?}");
    assert_eq!(api[0].path, "/repos/BurntSushi/ripgrep/releases?per_page=100");
}

#[test]
fn github_release_installs_without_asking_the_api() {
    let forge = ForgeServer::github()
        .release("BurntSushi", "ripgrep", "13.0.0", &ripgrep_assets("13.0.0"))
        .release("BurntSushi", "ripgrep", "14.1.0", &ripgrep_assets("14.1.0"))
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    let text = manifest(&ALL_PLATFORMS, json!({ "github:BurntSushi/ripgrep": "^14" }));
    context.write_manifest(&text);
    assert_success(&run(&context, &["lock"]));

    forge.clear_log();
    assert_success(&run(&context, &["sync"]));
    assert_eq!(
        run_tool(&context, "rg", &["--version"]),
        "rg 14.1.0 (x86_64-unknown-linux-musl)"
    );
    let log = forge.log();
    assert!(
        log.iter().all(|r| !r.api),
        "sync of a fresh lock asked the API: {log:#?}"
    );
    let fetched: Vec<&str> = log.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        fetched,
        ["/download/BurntSushi/ripgrep/14.1.0/ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz"]
    );

    // Nothing to do: not a single request.
    forge.clear_log();
    assert_success(&run(&context, &["sync"]));
    assert!(forge.log().is_empty(), "{:#?}", forge.log());

    // Another machine with the lock and an empty cache downloads the file and asks no API.
    let other = project("VELO_GITHUB_API_URL", &forge);
    other.write_manifest(&text);
    fs_err::write(other.lock_path(), context.lock()).unwrap();
    forge.clear_log();
    assert_success(&run(&other, &["sync", "--frozen"]));
    assert!(forge.api_requests().is_empty(), "{:#?}", forge.log());
    assert_eq!(
        run_tool(&other, "rg", &["--version"]),
        "rg 14.1.0 (x86_64-unknown-linux-musl)"
    );

    // With the forge gone, the lock and the store are all a reinstall needs.
    drop(forge);
    fs_err::remove_dir_all(context.root.join(".velo")).unwrap();
    assert_success(&run(&context, &["sync", "--frozen"]));
    assert_eq!(
        run_tool(&context, "rg", &["--version"]),
        "rg 14.1.0 (x86_64-unknown-linux-musl)"
    );
}

/// `tool` `version` for linux-x86_64 and macos-aarch64: (asset name, archive).
fn tool_archives(version: &str) -> Vec<(String, Vec<u8>)> {
    ["x86_64-unknown-linux-musl", "aarch64-apple-darwin"]
        .iter()
        .map(|target| {
            let top = format!("tool-{version}-{target}");
            (
                format!("{top}.tar.gz"),
                release_archive(&top, "tool", &format!("{version} {target}"), false),
            )
        })
        .collect()
}

const TWO_PLATFORMS: [&str; 2] = ["linux-x86_64", "macos-aarch64"];

/// Both archives are locked with their real sha256 and size.
fn assert_locked(
    context: &TestContext,
    forge: &RunningForge,
    key: &str,
    owner: &str,
    archives: &[(String, Vec<u8>)],
) {
    let lock = context.lock_json();
    for ((name, bytes), platform) in archives.iter().zip(TWO_PLATFORMS) {
        let artifact = artifact(&lock, key, platform);
        assert_eq!(artifact["url"], forge.download_url(owner, "tool", "1.0.0", name));
        assert_eq!(artifact["sha256"], sha256_hex(bytes), "{platform}");
        assert_eq!(artifact["size"], bytes.len(), "{platform}");
    }
}

#[test]
fn sha256_from_a_sha256sums_file_without_downloading_the_assets() {
    let archives = tool_archives("1.0.0");
    let assets: Vec<(String, Vec<u8>, bool)> = archives
        .iter()
        .map(|(name, bytes)| (name.clone(), bytes.clone(), false))
        .collect();
    let sums: Vec<(&str, &[u8])> = archives.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let forge = ForgeServer::github()
        .release("acme", "tool", "1.0.0", &assets)
        .checksum_file("acme", "tool", "1.0.0", "sha256sums.txt", &sha256sums(&sums))
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&TWO_PLATFORMS, json!({ "github:acme/tool": "*" })));

    assert_success(&run(&context, &["lock"]));
    assert_locked(&context, &forge, "github:acme/tool", "acme", &archives);
    let downloads: Vec<String> = forge
        .requests_to("/download/")
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(downloads, ["/download/acme/tool/1.0.0/sha256sums.txt"]);
}

#[test]
fn sha256_from_per_asset_sha256_files() {
    let archives = tool_archives("1.0.0");
    let mut forge = ForgeServer::github().release(
        "acme",
        "tool",
        "1.0.0",
        &archives
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone(), false))
            .collect::<Vec<_>>(),
    );
    for (name, bytes) in &archives {
        // `sha256sum -b` style: a `*` before the name.
        let text = format!("{} *{name}\n", sha256_hex(bytes));
        forge = forge.checksum_file("acme", "tool", "1.0.0", &format!("{name}.sha256"), &text);
    }
    let forge = forge.start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&TWO_PLATFORMS, json!({ "github:acme/tool": "*" })));

    assert_success(&run(&context, &["lock"]));
    assert_locked(&context, &forge, "github:acme/tool", "acme", &archives);
    let downloads = forge.requests_to("/download/");
    assert!(!downloads.is_empty());
    assert!(
        downloads
            .iter()
            .all(|r| r.path.ends_with(".sha256") && r.method == "GET"),
        "an asset was downloaded at lock time: {downloads:#?}"
    );
}

#[test]
fn sha256_by_downloading_when_the_release_says_nothing() {
    let archives = tool_archives("1.0.0");
    let mut assets: Vec<(String, Vec<u8>, bool)> = archives
        .iter()
        .map(|(name, bytes)| (name.clone(), bytes.clone(), false))
        .collect();
    let windows = release_archive("tool-1.0.0-x86_64-pc-windows-msvc", "tool.exe", "1.0.0", true);
    assets.push((
        "tool-1.0.0-x86_64-pc-windows-msvc.zip".to_string(),
        windows,
        false,
    ));
    let forge = ForgeServer::github()
        .release("acme", "tool", "1.0.0", &assets)
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&TWO_PLATFORMS, json!({ "github:acme/tool": "*" })));

    assert_success(&run(&context, &["lock"]));
    assert_locked(&context, &forge, "github:acme/tool", "acme", &archives);
    // Only the two chosen assets, not the Windows build no platform needs.
    let mut downloads: Vec<String> = forge
        .requests_to("/download/")
        .into_iter()
        .map(|r| r.path)
        .collect();
    downloads.sort();
    assert_eq!(
        downloads,
        [
            "/download/acme/tool/1.0.0/tool-1.0.0-aarch64-apple-darwin.tar.gz",
            "/download/acme/tool/1.0.0/tool-1.0.0-x86_64-unknown-linux-musl.tar.gz",
        ]
    );
}

/// One linux-x86_64 asset for `tool` `version`, with a digest.
fn linux_asset(version: &str) -> Vec<(String, Vec<u8>, bool)> {
    let top = format!("tool-{version}-x86_64-unknown-linux-musl");
    let bytes = release_archive(&top, "tool", version, false);
    vec![(format!("{top}.tar.gz"), bytes, true)]
}

#[test]
fn every_page_of_releases_is_read_and_revalidated_with_etags() {
    let mut forge = ForgeServer::github().page_size(100);
    for minor in 0..250 {
        forge = forge.release(
            "acme",
            "many",
            &format!("v0.{minor}.0"),
            &linux_asset(&format!("0.{minor}.0")),
        );
    }
    let forge = forge.start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    // 0.1.0 is the second oldest release: on the last page.
    context.write_manifest(&manifest(
        &["linux-x86_64"],
        json!({ "github:acme/many": "^0.1" }),
    ));

    assert_success(&run(&context, &["lock"]));
    let lock = context.lock_json();
    let package = &lock["packages"]["github:acme/many"];
    assert_eq!(package["version"], "0.1.0", "{lock:#}");
    assert_eq!(package["tag"], "v0.1.0");
    assert_musl_tarball(&lock, &forge, "github:acme/many", "acme/many", "v0.1.0", "0.1.0");
    let pages: Vec<(String, u16)> = forge
        .api_requests()
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect();
    assert_eq!(
        pages,
        [
            ("/repos/acme/many/releases?per_page=100".to_string(), 200),
            ("/repos/acme/many/releases?per_page=100&page=2".to_string(), 200),
            ("/repos/acme/many/releases?per_page=100&page=3".to_string(), 200),
        ]
    );

    // Nothing changed on the forge: every page is revalidated and comes back 304.
    forge.clear_log();
    assert_success(&run(&context, &["lock", "--upgrade"]));
    let again = forge.api_requests();
    assert_eq!(again.len(), 3, "{again:#?}");
    assert!(
        again.iter().all(|r| r.if_none_match.is_some() && r.status == 304),
        "{again:#?}"
    );
    assert_eq!(context.lock_json(), lock);
}

#[test]
fn a_new_release_is_seen_through_the_cached_page() {
    let forge = ForgeServer::github()
        .release("acme", "tool", "1.0.0", &linux_asset("1.0.0"))
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&["linux-x86_64"], json!({ "github:acme/tool": "*" })));
    assert_success(&run(&context, &["lock"]));
    assert_eq!(
        context.lock_json()["packages"]["github:acme/tool"]["version"],
        "1.0.0"
    );

    forge.add_release("acme", "tool", "1.1.0", &linux_asset("1.1.0"));
    forge.clear_log();
    assert_success(&run(&context, &["lock", "--upgrade"]));
    assert_eq!(
        context.lock_json()["packages"]["github:acme/tool"]["version"],
        "1.1.0"
    );
    let api = forge.api_requests();
    assert_eq!(api.len(), 1, "{api:#?}");
    assert!(api[0].if_none_match.is_some() && api[0].status == 200, "{api:#?}");
}

#[test]
fn prereleases_and_drafts_are_skipped_unless_asked_for() {
    let forge = ForgeServer::github()
        .release("acme", "tool", "v14.1.0", &linux_asset("14.1.0"))
        .prerelease("acme", "tool", "v15.0.0", &linux_asset("15.0.0"))
        .draft("acme", "tool", "v16.0.0", &linux_asset("16.0.0"))
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&["linux-x86_64"], json!({ "github:acme/tool": "*" })));
    assert_success(&run(&context, &["lock"]));
    let lock = context.lock_json();
    assert_eq!(
        lock["packages"]["github:acme/tool"]["version"], "14.1.0",
        "{lock:#}"
    );
    assert_eq!(lock["packages"]["github:acme/tool"]["tag"], "v14.1.0");

    // Drafts stay out even of a requirement only they would satisfy.
    context.write_manifest(&manifest(
        &["linux-x86_64"],
        json!({ "github:acme/tool": ">=16" }),
    ));
    let output = run(&context, &["lock"]);
    assert!(!output.status.success(), "{}", stderr(&output));
    assert!(!context.lock().contains("16.0.0"), "{}", context.lock());
}

#[test]
fn a_requirement_naming_a_prerelease_can_choose_one() {
    let forge = ForgeServer::github()
        .release("acme", "tool", "v14.1.0", &linux_asset("14.1.0"))
        .prerelease("acme", "tool", "v15.0.0-rc.1", &linux_asset("15.0.0-rc.1"))
        .draft("acme", "tool", "v16.0.0", &linux_asset("16.0.0"))
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(
        &["linux-x86_64"],
        json!({ "github:acme/tool": ">=15.0.0-rc.1" }),
    ));
    assert_success(&run(&context, &["lock"]));
    let lock = context.lock_json();
    let package = &lock["packages"]["github:acme/tool"];
    assert_eq!(package["version"], "15.0.0-rc.1", "{lock:#}");
    assert_eq!(package["tag"], "v15.0.0-rc.1");
    assert_musl_tarball(
        &lock,
        &forge,
        "github:acme/tool",
        "acme/tool",
        "v15.0.0-rc.1",
        "15.0.0-rc.1",
    );
}

/// `package` is locked, for linux-x86_64, to the release `tag` of `owner/repo`: its
/// `tool-VERSION-x86_64-unknown-linux-musl.tar.gz` asset on the forge.
fn assert_musl_tarball(
    lock: &Value,
    forge: &RunningForge,
    package: &str,
    repo: &str,
    tag: &str,
    version: &str,
) {
    let (owner, name) = repo.rsplit_once('/').expect("owner/repo");
    let url = forge.download_url(
        owner,
        name,
        tag,
        &format!("tool-{version}-x86_64-unknown-linux-musl.tar.gz"),
    );
    assert_eq!(artifact(lock, package, "linux-x86_64")["url"], url);
}

/// A GitHub forge with `acme/tool` 1.0.0 and a project depending on it.
fn one_tool() -> (TestContext, RunningForge) {
    let forge = ForgeServer::github()
        .release("acme", "tool", "1.0.0", &linux_asset("1.0.0"))
        .start();
    let context =
        project("VELO_GITHUB_API_URL", &forge).with_filter(r"resets in \d+[hms]\d*[ms]?", "resets in [WAIT]");
    context.write_manifest(&manifest(&["linux-x86_64"], json!({ "github:acme/tool": "*" })));
    (context, forge)
}

const TOOL_RELEASES: &str = "/repos/acme/tool/releases";

#[test]
fn a_rate_limit_that_resets_soon_is_waited_out() {
    let (context, forge) = one_tool();
    forge.fail(TOOL_RELEASES, &[ForgeFault::RateLimited { reset_in: 1 }]);
    assert_success(&run(&context, &["lock"]));
    let statuses: Vec<u16> = forge
        .requests_to(TOOL_RELEASES)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [403, 200]);
    assert_eq!(
        context.lock_json()["packages"]["github:acme/tool"]["version"],
        "1.0.0"
    );
}

#[test]
fn a_rate_limit_that_resets_in_an_hour_fails_at_once() {
    let (context, forge) = one_tool();
    forge.fail(TOOL_RELEASES, &[ForgeFault::RateLimited { reset_in: 3600 }]);
    let output = run(&context, &["lock"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert_contains(&text, "127.0.0.1");
    assert_contains(&text, "GITHUB_TOKEN");
    assert_eq!(forge.requests_to(TOOL_RELEASES).len(), 1, "it waited or retried");
    assert!(!context.lock_path().exists());
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn too_many_requests_with_retry_after_is_retried() {
    let (context, forge) = one_tool();
    forge.fail(TOOL_RELEASES, &[ForgeFault::TooManyRequests { retry_after: 1 }]);
    assert_success(&run(&context, &["lock"]));
    let statuses: Vec<u16> = forge
        .requests_to(TOOL_RELEASES)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 200]);
}

#[test]
fn a_server_error_is_retried() {
    let (context, forge) = one_tool();
    forge.fail(TOOL_RELEASES, &[ForgeFault::Status(500)]);
    assert_success(&run(&context, &["lock"]));
    let statuses: Vec<u16> = forge
        .requests_to(TOOL_RELEASES)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 200]);
}

#[test]
fn a_token_is_sent_to_the_api_and_never_printed() {
    let (context, forge) = one_tool();
    let output = velo(&context)
        .env("GITHUB_TOKEN", TOKEN)
        .args(["lock", "-v"])
        .output()
        .unwrap();
    assert_success(&output);
    let api = forge.api_requests();
    assert_eq!(api.len(), 1);
    assert_eq!(
        api[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
    assert!(!all.contains(TOKEN), "{all}");
    assert!(!context.lock().contains(TOKEN));

    // GH_TOKEN, when GITHUB_TOKEN is not set.
    forge.clear_log();
    let output = velo(&context)
        .env("GH_TOKEN", TOKEN)
        .args(["lock", "--upgrade"])
        .output()
        .unwrap();
    assert_success(&output);
    assert_eq!(
        forge.api_requests()[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    // Refused (the token cannot read the repository), rate limited, not found: no token shown.
    for fault in [
        ForgeFault::Status(403),
        ForgeFault::RateLimited { reset_in: 3600 },
        ForgeFault::Status(404),
    ] {
        forge.fail(TOOL_RELEASES, std::slice::from_ref(&fault));
        let output = velo(&context)
            .env("GITHUB_TOKEN", TOKEN)
            .args(["lock", "--upgrade", "-v"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{fault:?}");
        let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
        assert!(!all.contains(TOKEN), "{fault:?}: {all}");
        assert!(!all.contains("Bearer"), "{fault:?}: {all}");
    }
}

#[test]
fn a_forbidden_repository_hints_at_a_token() {
    let (context, forge) = one_tool();
    forge.fail(TOOL_RELEASES, &[ForgeFault::Status(403)]);
    let output = run(&context, &["lock"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn a_missing_repository_is_named_with_a_hint() {
    let (context, forge) = one_tool();
    context.write_manifest(&manifest(&["linux-x86_64"], json!({ "github:acme/gone": "*" })));
    let output = run(&context, &["lock"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        forge.requests_to("/repos/acme/gone/releases").len(),
        1,
        "a 404 is not retried"
    );
    assert!(!context.lock_path().exists());
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn gitlab_project_in_a_subgroup() {
    let archives = tool_archives("1.0.0");
    let sums: Vec<(&str, &[u8])> = archives.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let assets: Vec<(&str, Vec<u8>, bool)> = archives
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone(), false))
        .collect();
    // One release per page, so pagination follows `X-Next-Page`.
    let forge = ForgeServer::gitlab()
        .page_size(1)
        .release("group/sub", "tool", "1.0.0", &assets)
        .checksum_file("group/sub", "tool", "1.0.0", "sha256sums.txt", &sha256sums(&sums))
        .release("group/sub", "tool", "2.0.0", &linux_asset("2.0.0"))
        .release("group/sub", "tool", "3.0.0", &linux_asset("3.0.0"))
        .start();
    let context = project("VELO_GITLAB_API_URL", &forge);
    context.write_manifest(&manifest(
        &TWO_PLATFORMS,
        json!({ "gitlab:group/sub/tool": "^1" }),
    ));

    let output = velo(&context)
        .env("GITLAB_TOKEN", TOKEN)
        .arg("lock")
        .output()
        .unwrap();
    assert_success(&output);
    assert!(!stderr(&output).contains(TOKEN));
    let api: Vec<String> = forge.api_requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        api,
        [
            "/api/v4/projects/group%2Fsub%2Ftool/releases?per_page=100",
            "/api/v4/projects/group%2Fsub%2Ftool/releases?per_page=100&page=2",
            "/api/v4/projects/group%2Fsub%2Ftool/releases?per_page=100&page=3",
        ]
    );
    assert!(
        forge
            .api_requests()
            .iter()
            .all(|r| r.private_token.as_deref() == Some(TOKEN) && r.authorization.is_none()),
        "{:#?}",
        forge.api_requests()
    );
    let lock = context.lock_json();
    assert_eq!(
        lock["packages"]["gitlab:group/sub/tool"]["version"], "1.0.0",
        "{lock:#}"
    );
    assert_eq!(
        lock["packages"]["gitlab:group/sub/tool"]["source"],
        "gitlab:group/sub/tool"
    );
    for ((name, bytes), platform) in archives.iter().zip(TWO_PLATFORMS) {
        let artifact = artifact(&lock, "gitlab:group/sub/tool", platform);
        let url = forge.download_url("group/sub", "tool", "1.0.0", name);
        assert_contains(&url, "/group/sub/tool/-/releases/1.0.0/downloads/");
        assert_eq!(artifact["url"], url, "{platform}");
        assert_eq!(artifact["sha256"], sha256_hex(bytes), "{platform}");
    }
}

#[test]
fn gitlab_sizes_come_from_a_head_request() {
    let (forge, archives) = with_sha256sums(ForgeServer::gitlab(), "group");
    let forge = forge.start();
    let context = project("VELO_GITLAB_API_URL", &forge);
    context.write_manifest(&manifest(&TWO_PLATFORMS, json!({ "gitlab:group/tool": "*" })));
    assert_success(&run(&context, &["lock"]));
    // The API gives no sizes: with the sha256 from `sha256sums.txt`, a HEAD request is enough.
    assert_locked(&context, &forge, "gitlab:group/tool", "group", &archives);
    let files: Vec<(String, String)> = forge
        .requests_to("/downloads/")
        .into_iter()
        .filter(|r| !r.path.ends_with("sha256sums.txt"))
        .map(|r| (r.method, r.path))
        .collect();
    assert!(
        !files.is_empty() && files.iter().all(|(method, _)| method == "HEAD"),
        "{files:#?}"
    );
}

#[test]
fn gitea_host_through_its_api_url() {
    let archives = tool_archives("1.0.0");
    let assets: Vec<(&str, Vec<u8>, bool)> = archives
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone(), false))
        .collect();
    let forge = ForgeServer::gitea()
        .page_size(1)
        .release("owner", "tool", "v0.9.0", &linux_asset("0.9.0"))
        .release("owner", "tool", "v1.0.0", &assets)
        .start();
    let context = project("VELO_GITEA_API_URL", &forge);
    context.write_manifest(&manifest(
        &TWO_PLATFORMS,
        json!({ "gitea:git.example.com/owner/tool": "*" }),
    ));

    let output = velo(&context)
        .env("GITEA_TOKEN", TOKEN)
        .arg("lock")
        .output()
        .unwrap();
    assert_success(&output);
    let api = forge.api_requests();
    assert_eq!(api.len(), 2, "{api:#?}");
    assert_eq!(api[0].path, "/api/v1/repos/owner/tool/releases?limit=50&page=1");
    assert_eq!(
        api[0].authorization.as_deref(),
        Some(format!("token {TOKEN}").as_str())
    );
    let lock = context.lock_json();
    let package = &lock["packages"]["gitea:git.example.com/owner/tool"];
    assert_eq!(package["version"], "1.0.0", "{lock:#}");
    assert_eq!(package["tag"], "v1.0.0");
    let download = |name: &str| forge.download_url("owner", "tool", "v1.0.0", name);
    for ((name, bytes), platform) in archives.iter().zip(TWO_PLATFORMS) {
        let artifact = artifact(&lock, "gitea:git.example.com/owner/tool", platform);
        assert_eq!(artifact["url"], download(name));
        assert_eq!(artifact["sha256"], sha256_hex(bytes));
        assert_eq!(artifact["size"], bytes.len());
    }
    // Gitea gives sizes but no digests: the two chosen files were downloaded to hash them.
    assert_eq!(forge.requests_to("/download/").len(), 2, "{:#?}", forge.log());
}

#[test]
fn codeberg_through_its_api_url() {
    let forge = ForgeServer::gitea()
        .release("owner", "tool", "v2.1.0", &linux_asset("2.1.0"))
        .start();
    let context = project("VELO_CODEBERG_API_URL", &forge);
    context.write_manifest(&manifest(
        &["linux-x86_64"],
        json!({ "codeberg:owner/tool": "^2" }),
    ));
    let output = velo(&context)
        .env("CODEBERG_TOKEN", TOKEN)
        .arg("lock")
        .output()
        .unwrap();
    assert_success(&output);
    let api = forge.api_requests();
    assert_eq!(api[0].path, "/api/v1/repos/owner/tool/releases?limit=50&page=1");
    assert_eq!(
        api[0].authorization.as_deref(),
        Some(format!("token {TOKEN}").as_str())
    );
    let lock = context.lock_json();
    assert_eq!(
        lock["packages"]["codeberg:owner/tool"]["version"], "2.1.0",
        "{lock:#}"
    );
    assert_eq!(
        lock["packages"]["codeberg:owner/tool"]["source"],
        "codeberg:owner/tool"
    );
    assert_musl_tarball(
        &lock,
        &forge,
        "codeberg:owner/tool",
        "owner/tool",
        "v2.1.0",
        "2.1.0",
    );
}

#[test]
fn a_raw_binary_asset_is_locked_under_the_repository_name() {
    let raw = |target: &str| {
        (
            format!("widget-{target}"),
            script("widget", &format!("1.0.0 {target}")),
            true,
        )
    };
    let assets = vec![
        raw("linux-amd64"),
        raw("linux-arm64"),
        raw("darwin-amd64"),
        raw("darwin-arm64"),
        raw("windows-amd64.exe"),
    ];
    let forge = ForgeServer::github()
        .release("acme", "widget", "v1.0.0", &assets)
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&ALL_PLATFORMS, json!({ "github:acme/widget": "*" })));

    assert_success(&run(&context, &["lock"]));
    let lock = context.lock_json();
    let expected = [
        ("linux-x86_64", "widget-linux-amd64", "widget"),
        ("linux-aarch64", "widget-linux-arm64", "widget"),
        ("macos-x86_64", "widget-darwin-amd64", "widget"),
        ("macos-aarch64", "widget-darwin-arm64", "widget"),
        ("windows-x86_64", "widget-windows-amd64.exe", "widget.exe"),
    ];
    for (platform, name, file) in expected {
        let artifact = artifact(&lock, "github:acme/widget", platform);
        assert_eq!(
            artifact["url"],
            forge.download_url("acme", "widget", "v1.0.0", name),
            "{platform}"
        );
        assert_eq!(artifact["format"], "raw", "{platform}");
        assert_eq!(artifact["bin"], json!({ "widget": file }), "{platform}");
    }
}

#[test]
fn an_asset_renamed_between_versions_is_picked_and_reported() {
    let old_name = "tool-1.0.0-x86_64-unknown-linux-musl.tar.gz";
    let old = release_archive("tool-1.0.0-x86_64-unknown-linux-musl", "tool", "1.0.0", false);
    let forge = ForgeServer::github()
        .release("acme", "tool", "v1.0.0", &[(old_name, old, true)])
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&["linux-x86_64"], json!({ "github:acme/tool": "*" })));
    assert_success(&run(&context, &["lock"]));

    let new_name = "tool-2.0.0-linux-amd64.tar.xz";
    let new = archive::tar_xz(&[executable("tool-2.0.0-linux-amd64/tool", script("tool", "2.0.0"))]);
    forge.add_release("acme", "tool", "v2.0.0", &[(new_name, new.clone(), true)]);
    let output = run(&context, &["lock", "--upgrade"]);
    assert_success(&output);
    let lock = context.lock_json();
    let artifact = artifact(&lock, "github:acme/tool", "linux-x86_64");
    assert_eq!(
        artifact["url"],
        forge.download_url("acme", "tool", "v2.0.0", new_name)
    );
    assert_eq!(artifact["sha256"], sha256_hex(&new));
    assert_eq!(artifact["format"], "tar.xz");
    let text = stderr(&output);
    assert!(
        text.lines()
            .any(|line| line.contains(old_name) && line.contains(new_name)),
        "no note about the renamed asset:\n{text}"
    );
    insta::assert_snapshot!(context.render(&output));
}

/// fd `tag`'s linux-x86_64 builds, musl and gnu, whose `fd --version` says which.
fn fd_assets(tag: &str) -> Vec<(String, Vec<u8>, bool)> {
    ["musl", "gnu"]
        .iter()
        .map(|libc| {
            let top = format!("fd-{tag}-x86_64-unknown-linux-{libc}");
            let entries: Vec<Entry> = vec![
                executable(
                    &format!("{top}/fd"),
                    script("fd", &format!("{} {libc}", tag.trim_start_matches('v'))),
                ),
                file(&format!("{top}/fd.1"), ".TH FD\n"),
                file(&format!("{top}/autocomplete/fd.bash"), "complete\n"),
            ];
            (format!("{top}.tar.gz"), archive::tar_gz(&entries), true)
        })
        .collect()
}

fn fd_forge() -> RunningForge {
    let mut forge = ForgeServer::github();
    for tag in ["v8.7.1", "v9.0.0", "v10.2.0", "v11.0.0"] {
        forge = forge.release("sharkdp", "fd", tag, &fd_assets(tag));
    }
    forge.start()
}

#[test]
fn an_alias_with_a_version_range_and_bin() {
    let forge = fd_forge();
    let context = project("VELO_GITHUB_API_URL", &forge);
    let fd = json!({ "source": "github:sharkdp/fd", "version": ">=9, <11", "bin": ["fd"] });
    context.write_manifest(&manifest(&["linux-x86_64"], json!({ "fd": fd })));
    assert_success(&run(&context, &["lock"]));
    let lock = context.lock_json();
    let package = &lock["packages"]["fd"];
    assert_eq!(package["version"], "10.2.0", "{lock:#}");
    assert_eq!(package["tag"], "v10.2.0");
    assert_eq!(package["source"], "github:sharkdp/fd");
    assert_eq!(
        artifact(&lock, "fd", "linux-x86_64")["url"],
        forge.download_url(
            "sharkdp",
            "fd",
            "v10.2.0",
            "fd-v10.2.0-x86_64-unknown-linux-musl.tar.gz"
        )
    );
    assert_success(&run(&context, &["sync"]));
    assert_eq!(run_tool(&context, "fd", &["--version"]), "fd 10.2.0 musl");
    let commands: Vec<String> = fs_err::read_dir(context.root.join(".velo/bin"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(commands, ["fd"]);
}

#[test]
fn an_asset_pattern_picks_the_gnu_build() {
    let forge = fd_forge();
    let context = project("VELO_GITHUB_API_URL", &forge);
    let fd = json!({ "source": "github:sharkdp/fd", "version": ">=9, <11", "bin": ["fd"], "asset": "*-gnu.tar.gz" });
    context.write_manifest(&manifest(&["linux-x86_64"], json!({ "fd": fd })));
    assert_success(&run(&context, &["lock"]));
    let lock = context.lock_json();
    assert_eq!(
        artifact(&lock, "fd", "linux-x86_64")["url"],
        forge.download_url(
            "sharkdp",
            "fd",
            "v10.2.0",
            "fd-v10.2.0-x86_64-unknown-linux-gnu.tar.gz"
        ),
        "{lock:#}"
    );
    assert_success(&run(&context, &["sync"]));
    assert_eq!(run_tool(&context, "fd", &["--version"]), "fd 10.2.0 gnu");
}

/// `acme/tool` 1.0.0 for two platforms, without digests, with a `sha256sums.txt`.
fn with_sha256sums(forge: ForgeServer, owner: &str) -> (ForgeServer, Vec<(String, Vec<u8>)>) {
    let archives = tool_archives("1.0.0");
    let sums: Vec<(&str, &[u8])> = archives.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let assets: Vec<(&str, Vec<u8>, bool)> = archives
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone(), false))
        .collect();
    let forge = forge.release(owner, "tool", "1.0.0", &assets).checksum_file(
        owner,
        "tool",
        "1.0.0",
        "sha256sums.txt",
        &sha256sums(&sums),
    );
    (forge, archives)
}

#[test]
fn a_token_is_not_sent_to_another_host() {
    let (forge, archives) = with_sha256sums(ForgeServer::github().files_host("localhost"), "acme");
    let forge = forge.start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&TWO_PLATFORMS, json!({ "github:acme/tool": "*" })));
    let output = velo(&context)
        .env("GITHUB_TOKEN", TOKEN)
        .arg("lock")
        .output()
        .unwrap();
    assert_success(&output);
    assert_locked(&context, &forge, "github:acme/tool", "acme", &archives);
    assert!(forge
        .download_url("acme", "tool", "1.0.0", "x")
        .starts_with("http://localhost:"));
    let api = forge.api_requests();
    assert!(api.iter().all(|r| r.authorization.is_some()), "{api:#?}");
    let files = forge.requests_to("/download/");
    assert_eq!(files.len(), 1, "{files:#?}");
    assert!(files[0].host.starts_with("localhost:"), "{files:#?}");
    assert_eq!(files[0].authorization, None, "the token went to the file host");
}

#[test]
fn a_gitlab_token_does_not_follow_a_redirect_to_another_host() {
    let (forge, archives) = with_sha256sums(ForgeServer::gitlab().files_host("localhost"), "group");
    let forge = forge.start();
    let context = project("VELO_GITLAB_API_URL", &forge);
    context.write_manifest(&manifest(&TWO_PLATFORMS, json!({ "gitlab:group/tool": "*" })));
    let output = velo(&context)
        .env("GITLAB_TOKEN", TOKEN)
        .arg("lock")
        .output()
        .unwrap();
    assert_success(&output);
    let lock = context.lock_json();
    for ((name, bytes), platform) in archives.iter().zip(TWO_PLATFORMS) {
        let artifact = artifact(&lock, "gitlab:group/tool", platform);
        assert_eq!(
            artifact["url"],
            forge.download_url("group", "tool", "1.0.0", name)
        );
        assert_eq!(artifact["sha256"], sha256_hex(bytes), "{platform}");
    }
    let api = forge.api_requests();
    assert!(api.iter().all(|r| r.private_token.is_some()), "{api:#?}");
    // The permalinks on the GitLab host may see the token; the file host they redirect to not.
    let permalinks = forge.requests_to("/-/releases/");
    assert!(permalinks
        .iter()
        .all(|r| r.status == 302 && r.host.starts_with("127.0.0.1:")));
    let files = forge.requests_to("/download/");
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|r| r.host.starts_with("localhost:")),
        "{files:#?}"
    );
    assert!(files.iter().all(|r| r.private_token.is_none()), "{files:#?}");
}

#[test]
fn offline_locking_uses_the_cached_releases() {
    let (context, forge) = one_tool();
    assert_success(&run(&context, &["lock"]));
    let lock = context.lock();
    forge.clear_log();
    assert_success(&run(&context, &["lock", "--upgrade", "--offline"]));
    assert!(forge.log().is_empty(), "{:#?}", forge.log());
    assert_eq!(context.lock(), lock);

    // Another project with an empty cache has nothing to work from.
    let other = project("VELO_GITHUB_API_URL", &forge);
    other.write_manifest(&context.manifest());
    let output = run(&other, &["lock", "--offline"]);
    assert!(!output.status.success());
    assert!(forge.log().is_empty(), "{:#?}", forge.log());
    assert!(!other.lock_path().exists());
    insta::assert_snapshot!(other.render(&output));
}

/// A linux-x86_64 `.tar.gz` of `repo` `version` whose one command is `command`.
fn single_command(repo: &str, version: &str, command: &str) -> Vec<(String, Vec<u8>, bool)> {
    let top = format!("{repo}-{version}-x86_64-unknown-linux-musl");
    let entries = [executable(&format!("{top}/{command}"), script(command, version))];
    vec![(format!("{top}.tar.gz"), archive::tar_gz(&entries), false)]
}

#[test]
fn a_tool_from_every_forge_is_installed() {
    let raw = ("widget-linux-amd64".to_string(), script("widget", "3.0.0"), true);
    let github = ForgeServer::github()
        .release("acme", "widget", "v3.0.0", &[raw])
        .start();
    let gitlab = ForgeServer::gitlab()
        .release(
            "group/sub",
            "tool",
            "1.0.0",
            &single_command("tool", "1.0.0", "tool"),
        )
        .start();
    let gitea = ForgeServer::gitea()
        .release(
            "owner",
            "gtool",
            "v2.0.0",
            &single_command("gtool", "2.0.0", "gtool"),
        )
        .release(
            "owner",
            "ctool",
            "v4.0.0",
            &single_command("ctool", "4.0.0", "ctool"),
        )
        .start();
    let context = TestContext::new()
        .with_env("VELO_GITHUB_API_URL", &github.api_url())
        .with_env("VELO_GITLAB_API_URL", &gitlab.api_url())
        .with_env("VELO_GITEA_API_URL", &gitea.api_url())
        .with_env("VELO_CODEBERG_API_URL", &gitea.api_url());
    context.write_manifest(&manifest(
        &["linux-x86_64"],
        json!({
            "github:acme/widget": "*",
            "gitlab:group/sub/tool": "*",
            "gitea:git.example.com/owner/gtool": "*",
            "codeberg:owner/ctool": "*",
        }),
    ));
    assert_success(&run(&context, &["lock"]));
    assert_success(&run(&context, &["sync"]));
    assert_eq!(run_tool(&context, "widget", &["--version"]), "widget 3.0.0");
    assert_eq!(run_tool(&context, "tool", &["--version"]), "tool 1.0.0");
    assert_eq!(run_tool(&context, "gtool", &["--version"]), "gtool 2.0.0");
    assert_eq!(run_tool(&context, "ctool", &["--version"]), "ctool 4.0.0");
    let widget = fs_err::canonicalize(context.root.join(".velo/bin/widget")).unwrap();
    let mode = fs_err::metadata(&widget).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "{}", widget.display());

    // Still there on the next sync, which has nothing to do.
    assert_success(&run(&context, &["sync"]));
    assert_eq!(run_tool(&context, "ctool", &["--version"]), "ctool 4.0.0");
}

/// Two GitHub repositories, `(owner, repo, command)` each, locked and synced into one project:
/// both commands work.
fn installs_side_by_side(first: (&str, &str, &str), second: (&str, &str, &str)) {
    let mut forge = ForgeServer::github();
    for (owner, repo, command) in [first, second] {
        forge = forge.release(owner, repo, "1.0.0", &single_command(repo, "1.0.0", command));
    }
    let forge = forge.start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    let key = |(owner, repo, _): (&str, &str, &str)| format!("github:{owner}/{repo}");
    context.write_manifest(&manifest(
        &["linux-x86_64"],
        json!({ key(first): "*", key(second): "*" }),
    ));
    assert_success(&run(&context, &["lock"]));
    assert_success(&run(&context, &["sync"]));
    for (_, _, command) in [first, second] {
        assert_eq!(
            run_tool(&context, command, &["--version"]),
            format!("{command} 1.0.0")
        );
    }
}

#[test]
fn two_repositories_with_the_same_name_are_installed_side_by_side() {
    installs_side_by_side(("acme", "tool", "acme-tool"), ("other", "tool", "other-tool"));
}

#[test]
fn keys_that_differ_only_in_where_the_slash_is_do_not_collide() {
    installs_side_by_side(("acme", "foo-tool", "one"), ("acme-foo", "tool", "two"));
}

#[test]
fn the_executable_named_like_the_repository_is_the_command() {
    let top = "tool-1.0.0-x86_64-unknown-linux-musl";
    let entries = [
        executable(&format!("{top}/tool"), script("tool", "1.0.0")),
        executable(&format!("{top}/install.sh"), "#!/bin/sh\nexit 1\n"),
    ];
    let asset = (format!("{top}.tar.gz"), archive::tar_gz(&entries), true);
    let forge = ForgeServer::github()
        .release("acme", "tool", "1.0.0", &[asset])
        .start();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&["linux-x86_64"], json!({ "github:acme/tool": "*" })));
    assert_success(&run(&context, &["sync"]));
    assert_eq!(run_tool(&context, "tool", &["--version"]), "tool 1.0.0");
    let commands: Vec<String> = fs_err::read_dir(context.root.join(".velo/bin"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(commands, ["tool"]);
}

fn ripgrep_forge() -> RunningForge {
    ForgeServer::github()
        .release("BurntSushi", "ripgrep", "14.1.0", &ripgrep_assets("14.1.0"))
        .start()
}

/// Without a terminal, `velo add` takes the first of several fitting assets and says so.
#[test]
fn add_without_a_terminal_takes_the_first_asset_and_says_so() {
    let forge = ripgrep_forge();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&["linux-x86_64"], json!({})));
    let output = run(&context, &["add", "github:BurntSushi/ripgrep"]);
    assert_success(&output);
    let text = stderr(&output);
    assert!(
        text.contains("Picked `ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz` for linux-x86_64 (2 fit;"),
        "{text}"
    );
    assert!(
        context
            .manifest()
            .contains(r#""github:BurntSushi/ripgrep": "^14.1.0""#),
        "{}",
        context.manifest()
    );
}

/// On a terminal, `velo add` lists the candidates; a bad answer is asked again; picking another
/// records it as an `asset` pattern that later releases match too.
#[test]
fn add_on_a_terminal_asks_which_asset() {
    let forge = ripgrep_forge();
    let context = project("VELO_GITHUB_API_URL", &forge);
    context.write_manifest(&manifest(&["linux-x86_64"], json!({})));
    // `script` runs velo on a pseudo-terminal; what it reads on stdin is typed into it, and
    // the terminal keeps the typed-ahead lines until velo reads them.
    let template = velo(&context);
    let mut command = Command::new("script");
    command
        .args([
            "-qec",
            &format!("{} add github:BurntSushi/ripgrep", env!("CARGO_BIN_EXE_velo")),
            "/dev/null",
        ])
        .current_dir(&context.root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in template.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let mut child = command.spawn().expect("run velo under script");
    {
        use std::io::Write;
        child.stdin.as_mut().unwrap().write_all(b"x\n2\n").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let screen =
        String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{screen}");
    assert_contains(
        &screen,
        ":: 2 compatible assets of `github:BurntSushi/ripgrep` for linux-x86_64",
    );
    assert_contains(
        &screen,
        "1) ripgrep-14.1.0-x86_64-unknown-linux-musl.tar.gz (default)",
    );
    assert_contains(&screen, ":: Invalid selection. Enter a number [1-2]:");
    let manifest = context.manifest();
    let parsed: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        parsed["dependencies"]["github:BurntSushi/ripgrep"]["asset"],
        json!({ "linux-x86_64": "ripgrep-*-x86_64-unknown-linux-gnu.tar.gz" }),
        "{manifest}"
    );
    let lock = context.lock_json();
    assert!(
        artifact(&lock, "github:BurntSushi/ripgrep", "linux-x86_64")["url"]
            .as_str()
            .unwrap()
            .ends_with("ripgrep-14.1.0-x86_64-unknown-linux-gnu.tar.gz"),
        "{lock}"
    );
}

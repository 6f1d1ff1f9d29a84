//! Homebrew bottles pulled from a fake ghcr: the anonymous token goes to the registry and never
//! to the storage host it redirects to (nor to a URL outside the bottle base), retries and
//! resume work through the redirect, a bad digest changes nothing, `--offline` uses the store.
//! The locks are written by hand and installed with `--frozen` (as they are), so these tests
//! need no formulae API.

use serde_json::{json, Value};

use crate::common::archive::{self, executable, file, script};
use crate::common::ghcr::{Blob, Ghcr, GhcrServer, Host, ANONYMOUS};
use crate::common::{assert_contains, assert_success, stderr, Fault, TestContext};
use crate::sync::{names_in, run_tool, velo_dir};

/// A bottle as Homebrew builds one: `NAME/VERSION/…` with the command in `bin/`, padded with
/// bytes that do not compress so a download can be cut in half.
fn bottle(name: &str, version: &str) -> Vec<u8> {
    let mut state = name.len() as u64 | 1;
    let padding: Vec<u8> = (0..128 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    archive::tar_gz(&[
        executable(&format!("{name}/{version}/bin/{name}"), script(name, version)),
        file(&format!("{name}/{version}/share/{name}/padding"), padding),
        file(
            &format!("{name}/{version}/.brew/{name}.rb"),
            "class Formula; end\n",
        ),
    ])
}

/// The lock's artifact for a served bottle.
fn artifact(blob: &Blob) -> Value {
    json!({
        "url": blob.url,
        "sha256": blob.sha256,
        "size": blob.size,
        "format": "tar.gz",
        "strip_components": 2,
        "dependencies": [],
        "bottle": { "formula": blob.name, "tag": blob.tag, "cellar": blob.cellar },
    })
}

/// Write `velo.json` and a `velo.lock` that installs `packages` (lock key, artifact) on
/// linux-x86_64, as `velo lock` would for Homebrew core in a project without a registry.
fn write_project(context: &TestContext, packages: &[(&str, &str, Value)]) {
    let dependencies: serde_json::Map<String, Value> = packages
        .iter()
        .map(|(key, _, _)| (key.to_string(), json!("*")))
        .collect();
    let manifest = json!({ "platforms": ["linux-x86_64"], "dependencies": dependencies });
    context.write_manifest(&(serde_json::to_string_pretty(&manifest).unwrap() + "\n"));
    let locked: serde_json::Map<String, Value> = packages
        .iter()
        .map(|(key, version, artifact)| {
            let package = json!({
                "version": version,
                "source": "brew",
                "artifacts": { "linux-x86_64": artifact },
            });
            (key.to_string(), package)
        })
        .collect();
    let requirements: serde_json::Map<String, Value> = packages
        .iter()
        .map(|(key, _, _)| (key.to_string(), json!({ "version": "*" })))
        .collect();
    let lock = json!({
        "version": 1,
        "manifest": { "platforms": ["linux-x86_64"], "dependencies": requirements },
        "packages": locked,
    });
    fs_err::write(
        context.lock_path(),
        serde_json::to_string_pretty(&lock).unwrap() + "\n",
    )
    .unwrap();
}

/// A fake ghcr serving `hello` 1.0.0 (and `openssl@3` 3.3.2, a repository with a `/`), and a
/// project whose lock installs `hello` from it.
fn hello_project(ghcr: Ghcr) -> (TestContext, GhcrServer) {
    let server = ghcr
        .bottle(
            "hello",
            "1.0.0",
            "x86_64_linux",
            bottle("hello", "1.0.0"),
            ":any_skip_relocation",
        )
        .bottle(
            "openssl@3",
            "3.3.2",
            "x86_64_linux",
            bottle("openssl", "3.3.2"),
            ":any",
        )
        .start();
    let context = TestContext::new()
        .with_env("VELO_HOMEBREW_BOTTLE_URL", &server.url())
        .with_filter("[0-9a-f]{64}", "[SHA256]")
        .with_filter(r"\(\d+(\.\d+)? (B|KiB|MiB)\)", "([SIZE])");
    write_project(
        &context,
        &[("hello", "1.0.0", artifact(server.blob("hello", "x86_64_linux")))],
    );
    (context, server)
}

fn statuses(server: &GhcrServer, host: Host) -> Vec<u16> {
    server.requests(host).iter().map(|r| r.status).collect()
}

#[test]
fn a_bottle_is_pulled_with_the_token_and_fetched_from_storage_without_it() {
    let (context, server) = hello_project(Ghcr::new());
    let output = context.run(["sync", "--frozen"]);
    assert_success(&output);
    insta::assert_snapshot!(context.render(&output));
    assert_eq!(run_tool(&context, "hello", &["--version"]), "hello 1.0.0\n");

    let blob = server.blob("hello", "x86_64_linux");
    let registry = server.requests(Host::Registry);
    assert_eq!(registry.len(), 1, "{registry:?}");
    assert_eq!(
        registry[0].path,
        format!("/v2/homebrew/core/hello/blobs/sha256:{}", blob.sha256)
    );
    assert_eq!(registry[0].authorization.as_deref(), Some(ANONYMOUS));
    assert_eq!(registry[0].status, 307);
    assert_eq!(statuses(&server, Host::Storage), [200]);
    assert!(server.leaks().is_empty(), "{:?}", server.leaks());
    // The keg is the store tree: `strip_components: 2` removed `hello/1.0.0/`.
    let keg = velo_dir(&context).join("Cellar/hello/1.0.0");
    assert_eq!(names_in(&keg), [".brew", "bin", "share"].map(String::from).into());
}

#[test]
fn the_token_stays_off_a_storage_host_that_redirects_again() {
    // reqwest's own redirect handling drops `Authorization` on the hop to a new host but sends
    // it again on a second hop within that host; velo follows the hops itself.
    let (context, server) = hello_project(Ghcr::new().storage_hops(2));
    assert_success(&context.run(["sync", "--frozen"]));
    assert_eq!(run_tool(&context, "hello", &["--version"]), "hello 1.0.0\n");
    assert_eq!(statuses(&server, Host::Storage), [307, 307, 200]);
    assert!(server.leaks().is_empty(), "{:?}", server.leaks());
}

#[test]
fn a_repository_with_a_slash_is_pulled_like_any_other() {
    let (context, server) = hello_project(Ghcr::new());
    let blob = server.blob("openssl@3", "x86_64_linux").clone();
    assert!(
        blob.url.contains("/v2/homebrew/core/openssl/3/blobs/sha256:"),
        "{}",
        blob.url
    );
    write_project(&context, &[("openssl@3", "3.3.2", artifact(&blob))]);
    assert_success(&context.run(["sync", "--frozen"]));
    assert_eq!(run_tool(&context, "openssl", &["--version"]), "openssl 3.3.2\n");
    assert!(velo_dir(&context)
        .join("Cellar/openssl@3/3.3.2/bin/openssl")
        .is_file());
    assert!(server.leaks().is_empty());
}

#[test]
fn a_flaky_registry_is_retried_and_a_dropped_download_resumed() {
    let (context, server) = hello_project(Ghcr::new());
    server.inject(Host::Registry, "/blobs/", 2, Fault::Status(503));
    server.inject(Host::Storage, "/blobs/", 1, Fault::Truncate);
    assert_success(&context.run(["sync", "--frozen"]));
    assert_eq!(run_tool(&context, "hello", &["--version"]), "hello 1.0.0\n");

    // Two 503s, then the redirect that led to the cut download, then the one that resumed it.
    assert_eq!(statuses(&server, Host::Registry), [503, 503, 307, 307]);
    let registry = server.requests(Host::Registry);
    assert!(
        registry
            .iter()
            .all(|r| r.authorization.as_deref() == Some(ANONYMOUS)),
        "{registry:?}"
    );
    let storage = server.requests(Host::Storage);
    assert_eq!(statuses(&server, Host::Storage), [200, 206], "{storage:?}");
    assert_eq!(storage[0].range, None);
    let range = storage[1].range.as_deref().expect("the retry asks for the rest");
    assert!(range.starts_with("bytes=") && range != "bytes=0-", "{range}");
    // The registry saw the same `Range` as the storage host: it goes through the redirect.
    assert_eq!(registry[3].range.as_deref(), Some(range));
    assert!(server.leaks().is_empty(), "{:?}", server.leaks());

    let blob = server.blob("hello", "x86_64_linux");
    let stored = context.cache_dir.join("downloads-v1").join(&blob.sha256);
    assert_eq!(fs_err::metadata(stored).unwrap().len(), blob.size);
}

#[test]
fn a_digest_mismatch_is_a_clear_error_and_leaves_velo_as_it_was() {
    let (context, server) = hello_project(Ghcr::new());
    assert_success(&context.run(["sync", "--frozen"]));
    let state = fs_err::read(velo_dir(&context).join("state.json")).unwrap();
    let current = fs_err::read_link(velo_dir(&context).join("current")).unwrap();

    let openssl = server.blob("openssl@3", "x86_64_linux");
    let mut wrong = artifact(openssl);
    wrong["sha256"] = json!("0".repeat(64));
    write_project(
        &context,
        &[
            ("hello", "1.0.0", artifact(server.blob("hello", "x86_64_linux"))),
            ("openssl@3", "3.3.2", wrong),
        ],
    );
    let output = context.run(["sync", "--frozen"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    assert_contains(&stderr(&output), &openssl.sha256);
    insta::assert_snapshot!(context.render(&output));

    assert_eq!(
        fs_err::read(velo_dir(&context).join("state.json")).unwrap(),
        state
    );
    assert_eq!(
        fs_err::read_link(velo_dir(&context).join("current")).unwrap(),
        current
    );
    assert!(!velo_dir(&context).join("Cellar/openssl@3").exists());
    assert_eq!(run_tool(&context, "hello", &["--version"]), "hello 1.0.0\n");
    let downloads = context.cache_dir.join("downloads-v1");
    assert!(!downloads.join(&openssl.sha256).exists());
    assert!(names_in(&downloads.join(".part")).is_empty());
}

#[test]
fn offline_with_a_warm_store_needs_no_registry() {
    let (context, server) = hello_project(Ghcr::new());
    assert_success(&context.run(["sync", "--frozen"]));
    fs_err::remove_dir_all(velo_dir(&context)).unwrap();
    server.clear_log();

    let output = context.run(["sync", "--frozen", "--offline"]);
    assert_success(&output);
    assert_eq!(run_tool(&context, "hello", &["--version"]), "hello 1.0.0\n");
    assert!(
        server.log().is_empty(),
        "--offline made requests: {:?}",
        server.log()
    );
}

#[test]
fn only_urls_under_the_bottle_base_get_the_token() {
    let (context, server) = hello_project(Ghcr::new());
    let blob = server.blob("hello", "x86_64_linux");

    // A lock may name the storage host itself: no token goes there.
    let mut direct = artifact(blob);
    direct["url"] = json!(format!(
        "{}/ghcr1/blobs/sha256:{}",
        server.storage_url(),
        blob.sha256
    ));
    write_project(&context, &[("hello", "1.0.0", direct)]);
    assert_success(&context.run(["sync", "--frozen"]));
    assert!(server.leaks().is_empty(), "{:?}", server.leaks());
    assert!(server.requests(Host::Registry).is_empty());

    // Nor to the registry's host outside the base: it answers 401 to a request without one.
    fs_err::remove_dir_all(&context.cache_dir).unwrap();
    let mut outside = artifact(blob);
    let base = server.url();
    let host = base.strip_suffix("/v2/homebrew/core").unwrap();
    outside["url"] = json!(format!(
        "{host}/v2/homebrew/corex/hello/blobs/sha256:{}",
        blob.sha256
    ));
    write_project(&context, &[("hello", "1.0.0", outside)]);
    let output = context.run(["sync", "--frozen"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    let registry = server.requests(Host::Registry);
    assert_eq!(registry.len(), 1, "{registry:?}");
    assert_eq!(
        (registry[0].status, registry[0].authorization.as_deref()),
        (401, None)
    );
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn the_fake_registry_answers_manifests_as_ghcr_does() {
    // What the formulae side reads from ghcr (sizes and digests from the image index), checked
    // here against the fixture so the other tests can rely on it.
    let (_context, server) = hello_project(Ghcr::new());
    let get = |path: &str, token: Option<&str>| {
        let url = format!("{}{path}", server.url());
        let mut request = vec![("Accept", "application/vnd.oci.image.index.v1+json".to_string())];
        if let Some(token) = token {
            request.push(("Authorization", token.to_string()));
        }
        http_get(&url, &request)
    };
    let (status, _) = get("/openssl/3/manifests/3.3.2", None);
    assert_eq!(status, 401);
    let (status, body) = get("/openssl/3/manifests/3.3.2", Some(ANONYMOUS));
    assert_eq!(status, 200);
    let index: Value = serde_json::from_slice(&body).unwrap();
    let blob = server.blob("openssl@3", "x86_64_linux");
    let manifest = &index["manifests"][0];
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["platform"]["os"], "linux");
    assert_eq!(manifest["platform"]["architecture"], "amd64");
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.ref.name"],
        "3.3.2.x86_64_linux"
    );
    assert_eq!(annotations["sh.brew.bottle.digest"], blob.sha256.as_str());
    assert_eq!(annotations["sh.brew.bottle.size"], blob.size.to_string());
    let tab: Value = serde_json::from_str(annotations["sh.brew.tab"].as_str().unwrap()).unwrap();
    assert_eq!(tab["arch"], "x86_64");
    assert_eq!(index["annotations"]["org.opencontainers.image.ref.name"], "3.3.2");
    let (status, _) = get("/openssl/3/manifests/9.9.9", Some(ANONYMOUS));
    assert_eq!(status, 404);
}

/// A plain HTTP/1.1 GET over a socket: status and body.
fn http_get(url: &str, headers: &[(&str, String)]) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body)
}

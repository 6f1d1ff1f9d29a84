//! The velo index served over HTTP: caching and revalidation, `--offline`, retries on server
//! faults, timeouts, and the errors users see when the index or the network lets them down.

use std::time::Duration;

use serde_json::json;

use crate::common::{
    assert_contains, assert_success, stderr, Fault, FixtureServer, IndexBuilder, TestContext,
};

/// A `velo.json` using `registry` with these direct dependencies.
fn manifest(registry: &str, dependencies: &[(&str, &str)]) -> String {
    let dependencies: serde_json::Map<String, serde_json::Value> = dependencies
        .iter()
        .map(|(name, req)| (name.to_string(), json!(req)))
        .collect();
    let manifest = json!({ "name": "demo", "registry": registry, "dependencies": dependencies });
    serde_json::to_string_pretty(&manifest).unwrap() + "\n"
}

/// jq 1.6.0 and 1.7.1 (needing oniguruma), oniguruma 6.9.8 and 6.9.9.
fn small_index(index: &mut IndexBuilder) {
    index
        .add("jq", "1.6.0", &[("oniguruma", "^6.9")])
        .add("jq", "1.7.1", &[("oniguruma", "^6.9")])
        .add("oniguruma", "6.9.8", &[])
        .add("oniguruma", "6.9.9", &[]);
}

/// A project whose registry is a `FixtureServer` serving `build`'s index.
fn served(build: impl FnOnce(&mut IndexBuilder)) -> (TestContext, FixtureServer) {
    let context = TestContext::new();
    let mut index = context.index();
    build(&mut index);
    let server = FixtureServer::start(index.write());
    (context, server)
}

#[test]
fn lock_over_http_is_the_same_in_every_project() {
    let (context, server) = served(small_index);
    let text = manifest(&server.url(), &[("jq", "^1.6")]);
    context.write_manifest(&text);
    assert_success(&context.run(["lock"]));

    let lock = context.lock_json();
    assert_eq!(lock["packages"]["jq"]["version"], "1.7.1");
    assert_eq!(lock["packages"]["oniguruma"]["version"], "6.9.9");
    let url = lock["packages"]["jq"]["artifacts"]["linux-x86_64"]["url"]
        .as_str()
        .unwrap();
    assert_eq!(
        url,
        format!("{}artifacts/jq-1.7.1-linux-x86_64.tar.gz", server.url())
    );
    assert_eq!(
        lock["packages"]["jq"]["source"],
        format!("index+{}", server.url())
    );

    // Another project, with its own (cold) cache, locking the same manifest.
    let other = TestContext::new();
    other.write_manifest(&text);
    assert_success(&other.run(["lock"]));
    assert_eq!(context.lock(), other.lock(), "velo.lock differs between projects");
    assert!(!context.lock().contains(&context.base().display().to_string()));
    assert!(context.lock().ends_with("}\n"));
}

#[test]
fn metadata_is_cached_and_revalidated_with_etags() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    assert_success(&context.run(["lock"]));
    let first = context.lock();
    let fetched = server.requests_to("/packages/");
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    assert!(
        fetched.iter().all(|r| r.status == 200 && !r.conditional),
        "{fetched:?}"
    );

    server.clear_log();
    assert_success(&context.run(["lock", "--upgrade"]));
    let revalidated = server.requests_to("/packages/");
    assert_eq!(revalidated.len(), 2, "{revalidated:?}");
    assert!(
        revalidated.iter().all(|r| r.conditional && r.status == 304),
        "expected conditional requests answered 304: {revalidated:?}"
    );
    assert_eq!(context.lock(), first);
}

#[test]
fn offline_with_a_warm_cache_works_without_the_server() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    assert_success(&context.run(["lock"]));
    let first = context.lock();
    drop(server);

    fs_err::remove_file(context.lock_path()).unwrap();
    assert_success(&context.run(["lock", "--offline"]));
    assert_eq!(context.lock(), first);

    // `VELO_OFFLINE` is the same switch.
    fs_err::remove_file(context.lock_path()).unwrap();
    let output = context
        .velo()
        .arg("lock")
        .env("VELO_OFFLINE", "1")
        .output()
        .unwrap();
    assert_success(&output);
    assert_eq!(context.lock(), first);
}

#[test]
fn offline_with_a_cold_cache_fails() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    let output = context.run(["lock", "--offline"]);
    assert_ne!(output.status.code(), Some(0));
    insta::assert_snapshot!(context.render(&output));
    assert!(!context.lock_path().exists(), "velo.lock was written");
    assert!(
        server.log().is_empty(),
        "--offline touched the network: {:?}",
        server.log()
    );
}

#[test]
fn server_errors_are_retried() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    server.inject("/packages/jq.json", 2, Fault::Status(500));
    assert_success(&context.run(["lock"]));
    let statuses: Vec<u16> = server
        .requests_to("/packages/jq.json")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(context.lock_json()["packages"]["jq"]["version"], "1.7.1");
}

#[test]
fn rate_limits_are_honoured() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    server.inject("/packages/jq.json", 1, Fault::RateLimit { retry_after: 1 });
    assert_success(&context.run(["lock"]));
    let statuses: Vec<u16> = server
        .requests_to("/packages/jq.json")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 200]);
    assert_eq!(context.lock_json()["packages"]["jq"]["version"], "1.7.1");
}

#[test]
fn truncated_bodies_are_retried() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    server.inject("/packages/oniguruma.json", 1, Fault::Truncate);
    assert_success(&context.run(["lock"]));
    assert_eq!(server.requests_to("/packages/oniguruma.json").len(), 2);
    assert_eq!(context.lock_json()["packages"]["oniguruma"]["version"], "6.9.9");

    // The cut-short copy was not cached: a revalidation finds the whole file.
    server.clear_log();
    assert_success(&context.run(["lock", "--upgrade"]));
    let revalidated = server.requests_to("/packages/oniguruma.json");
    assert_eq!(revalidated.len(), 1);
    assert_eq!(revalidated[0].status, 304);
}

#[test]
fn slow_responses_time_out() {
    let (context, server) = served(small_index);
    let context = context
        .with_env("VELO_HTTP_TIMEOUT", "1")
        .with_env("VELO_HTTP_RETRIES", "0");
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    server.inject("/packages/jq.json", 1, Fault::Slow(Duration::from_secs(3)));
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(context.render(&output));
    assert!(
        stderr(&output).contains("timed out"),
        "the error should say the request timed out"
    );
    assert!(!context.lock_path().exists());
}

#[test]
fn persistent_server_errors_fail_after_retries() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    server.inject("/packages/jq.json", 100, Fault::Status(500));
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(context.render(&output));
    // One attempt and the default three retries.
    assert_eq!(server.requests_to("/packages/jq.json").len(), 4);
    assert!(!context.lock_path().exists());
}

#[test]
fn unknown_package_names_the_index() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jqq", "*")]));
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("unknown_package_close_name", context.render(&output));
    assert!(stderr(&output).contains("did you mean `jq`?"));

    context.write_manifest(&manifest(&server.url(), &[("frobnicate", "*")]));
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!("unknown_package_no_close_name", context.render(&output));
    assert!(!stderr(&output).contains("did you mean"));
    assert!(!context.lock_path().exists());
}

#[test]
fn missing_transitive_dependency_names_who_required_it() {
    let (context, server) = served(|index| {
        index.add("app", "1.0.0", &[("ghost", "^1")]);
    });
    context.write_manifest(&manifest(&server.url(), &[("app", "^1")]));
    let output = context.run(["lock"]);
    assert_ne!(output.status.code(), Some(0));
    insta::assert_snapshot!(context.render(&output));
    let text = stderr(&output);
    assert_contains(&text, "`ghost`");
    assert_contains(&text, "app");
    assert!(!context.lock_path().exists());
}

#[test]
fn invalid_package_file_names_its_url() {
    let (context, server) = served(small_index);
    let index_dir = context.base().join("index");
    fs_err::write(
        index_dir.join("packages/oniguruma.json"),
        "<html><body>502 Bad Gateway</body></html>",
    )
    .unwrap();
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(context.render(&output));
    let url = format!("{}packages/oniguruma.json", server.url());
    assert!(stderr(&output).contains(&url), "the error should name `{url}`");
    assert!(!context.lock_path().exists());
}

#[test]
fn many_dependencies_are_fetched_concurrently_and_once() {
    let names: Vec<String> = (0..20).map(|i| format!("tool{i:02}")).collect();
    let (context, server) = served(|index| {
        index.add("common", "1.0.0", &[]).add("common", "1.1.0", &[]);
        for name in &names {
            let (a, b) = (format!("{name}-core"), format!("{name}-data"));
            index
                .add(name, "1.0.0", &[(a.as_str(), "^2"), (b.as_str(), "^3")])
                .add(
                    name,
                    "1.1.0",
                    &[(a.as_str(), "^2"), (b.as_str(), "^3"), ("common", "^1")],
                )
                .add(&a, "2.0.0", &[("common", "^1")])
                .add(&a, "2.3.1", &[("common", "^1")])
                .add(&b, "3.0.0", &[]);
        }
    });
    let dependencies: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "^1")).collect();
    context.write_manifest(&manifest(&server.url(), &dependencies));
    assert_success(&context.run(["lock"]));

    let lock = context.lock_json();
    let packages = lock["packages"].as_object().unwrap();
    assert_eq!(
        packages.len(),
        20 * 3 + 1,
        "{:?}",
        packages.keys().collect::<Vec<_>>()
    );
    assert_eq!(packages["common"]["version"], "1.1.0");
    for name in &names {
        assert_eq!(packages[name.as_str()]["version"], "1.1.0");
        assert_eq!(packages[&format!("{name}-core")]["version"], "2.3.1");
        assert_eq!(packages[&format!("{name}-data")]["version"], "3.0.0");
        let requests = server.requests_to(&format!("/packages/{name}.json"));
        assert_eq!(requests.len(), 1, "{name} was fetched {} times", requests.len());
    }
    assert_eq!(server.requests_to("/packages/common.json").len(), 1);
}

#[test]
fn long_retry_after_fails_at_once() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    server.inject("/packages/jq.json", 1, Fault::RateLimit { retry_after: 120 });
    let output = context.run(["lock"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(context.render(&output));
    assert_eq!(
        server.requests_to("/packages/jq.json").len(),
        1,
        "velo must not sit out a two-minute wait"
    );
    assert!(!context.lock_path().exists());
}

#[test]
fn an_up_to_date_lock_needs_no_network() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    assert_success(&context.run(["lock"]));
    let first = context.lock();
    server.clear_log();
    assert_success(&context.run(["lock"]));
    assert!(server.log().is_empty(), "{:?}", server.log());
    drop(server);
    assert_success(&context.run(["lock"]));
    assert_success(&context.run(["tree"]));
    assert_eq!(context.lock(), first);
}

#[test]
fn upgrade_picks_up_newly_published_versions() {
    let (context, server) = served(small_index);
    context.write_manifest(&manifest(&server.url(), &[("jq", "^1.6")]));
    assert_success(&context.run(["lock"]));
    assert_eq!(context.lock_json()["packages"]["jq"]["version"], "1.7.1");

    let mut index = context.index();
    small_index(&mut index);
    index.add("jq", "1.8.0", &[("oniguruma", "^6.9")]);
    index.write();
    server.clear_log();
    let output = context.run(["lock", "--upgrade"]);
    assert_success(&output);
    assert_eq!(context.lock_json()["packages"]["jq"]["version"], "1.8.0");
    let jq = server.requests_to("/packages/jq.json");
    assert_eq!(jq.len(), 1);
    assert!(
        jq[0].conditional && jq[0].status == 200,
        "a changed file is served in full: {jq:?}"
    );
    assert_contains(&stderr(&output), "Updating jq 1.7.1 -> 1.8.0");
}

#[test]
fn registry_url_with_a_path_and_no_trailing_slash() {
    let context = TestContext::new();
    let mut index = context.index();
    small_index(&mut index);
    index.write();
    // Serve the temp dir, so the index lives under `/index`.
    let server = FixtureServer::start(context.base());
    let registry = format!("{}index", server.url());
    context.write_manifest(&manifest(&registry, &[("jq", "^1.6")]));
    assert_success(&context.run(["lock"]));
    let lock = context.lock_json();
    assert_eq!(lock["manifest"]["registry"], registry.as_str());
    assert_eq!(
        lock["packages"]["jq"]["artifacts"]["linux-x86_64"]["url"],
        format!("{registry}/artifacts/jq-1.7.1-linux-x86_64.tar.gz")
    );
    assert_eq!(server.requests_to("/index/packages/jq.json").len(), 1);
}

/// An index with `tool` 1.0.0, whose artifact (a few KB that do not compress) is on the server.
fn artifact_index(index: &mut IndexBuilder) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..24_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let tar = crate::common::archive::tar_gz(&[
        crate::common::archive::executable("tool-1.0.0/bin/tool", "#!/bin/sh\necho tool\n"),
        crate::common::archive::file("tool-1.0.0/noise", noise),
    ]);
    index.add_archive(
        "tool",
        "1.0.0",
        "tool.tar.gz",
        &tar,
        json!({ "strip_components": 1 }),
    );
}

#[test]
fn a_download_making_steady_progress_is_not_cut_off() {
    let (context, server) = served(artifact_index);
    // Once, the stall timeout bounded the whole request: with no retries, 1 s in all.
    let context = context
        .with_env("VELO_HTTP_TIMEOUT", "1")
        .with_env("VELO_HTTP_RETRIES", "0");
    context.write_manifest(&manifest(&server.url(), &[("tool", "*")]));
    // About 3 s in all, a piece every 250 ms.
    server.inject(
        "/artifacts/tool.tar.gz",
        1,
        Fault::Trickle {
            pieces: 12,
            every: Duration::from_millis(250),
        },
    );
    let output = context.run(["sync"]);
    assert_success(&output);
    assert_eq!(server.requests_to("/artifacts/tool.tar.gz").len(), 1);
    assert!(context.root.join(".velo/bin/tool").exists());
}

#[test]
fn a_download_that_stalls_fails_with_a_clear_error() {
    let (context, server) = served(artifact_index);
    let context = context
        .with_env("VELO_HTTP_TIMEOUT", "1")
        .with_env("VELO_HTTP_RETRIES", "0")
        .with_filter(r"\(\d+(\.\d+)? (B|KiB|MiB)\)", "([SIZE])");
    context.write_manifest(&manifest(&server.url(), &[("tool", "*")]));
    server.inject("/artifacts/tool.tar.gz", 1, Fault::Stall(Duration::from_secs(30)));
    let output = context.run(["sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", context.render(&output));
    assert_contains(
        &stderr(&output),
        "stopped sending: nothing arrived for 1 s (1 attempts)",
    );
    insta::assert_snapshot!(context.render(&output));
}

/// A registry (which the repository chooses) answering with an endless body, declared or not:
/// velo stops reading at 64 MiB and says so, instead of filling memory.
#[test]
fn an_endless_index_response_is_cut_off() {
    let port = endless_server();
    for _ in 0..2 {
        let context = TestContext::new().with_env("VELO_HTTP_RETRIES", "0");
        context.write_manifest(&manifest(&format!("http://127.0.0.1:{port}/idx"), &[("jq", "1")]));
        let output = context.run(["lock"]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert_contains(
            &stderr(&output),
            "sent more than 64 MiB, more than velo reads for an index or API file",
        );
    }
}

/// The same for a remote cache's answers (its URL is the repository's too).
#[test]
fn an_endless_remote_cache_answer_is_cut_off() {
    let port = endless_server();
    let context = TestContext::new();
    context.write_manifest(&format!(
        r#"{{ "cache": {{ "remote": {{ "url": "http://127.0.0.1:{port}" }} }} }}"#
    ));
    let output = context.run(["cache", "status"]);
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
    assert_contains(&said, "the answer is larger than 64 MiB");
}

/// A server whose every answer is `200 OK` and an endless body: every other one declares a
/// huge length, the rest are chunked.
fn endless_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (served, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                // Every other response declares its (huge) length; the rest are chunked.
                let header: &[u8] = if served % 2 == 0 {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                };
                let _ = stream.write_all(header);
                let chunk = [b' '; 1 << 16];
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                let body: &[u8] = if served % 2 == 0 { &chunk } else { &framed };
                while stream.write_all(body).is_ok() {}
            });
        }
    });
    port
}

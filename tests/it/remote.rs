//! `velo run` with a remote cache: the real `velo serve` (local driver and S3 over moto), two
//! "machines" (projects with separate local caches) sharing it, tokens, integrity checks, and a
//! remote that is down, dies mid-run or hangs.
//!
//! Commands count their runs by appending to `../runs.txt`, outside the project.

use std::net::TcpListener;
use std::process::Output;

use crate::common::serve::{Cache, Driver, Server, READ_TOKEN, WRITE_TOKEN};
use crate::common::{assert_contains, assert_success, stderr, TestContext};

/// A project whose `build` writes `out/result.txt` and whose `test` reads it; the remote cache
/// is `url`, its token `${CACHE_TOKEN}`.
fn machine(url: &str, token: &str) -> TestContext {
    let context = TestContext::new().with_env("CACHE_TOKEN", token);
    context.write_manifest(&format!(
        r#"{{
  "tasks": {{
    "build": {{
      "command": "echo build >> ../runs.txt && mkdir -p out && echo result > out/result.txt && echo built it",
      "inputs": ["src/**"],
      "outputs": ["out/**"]
    }},
    "lint": {{ "command": "echo lint >> ../runs.txt && echo linted", "inputs": ["src/**"] }},
    "test": {{
      "command": "echo test >> ../runs.txt && cat out/result.txt",
      "depends_on": ["build"],
      "inputs": ["out/**"]
    }}
  }},
  "cache": {{ "remote": {{ "url": "{url}", "token": "${{CACHE_TOKEN}}", "timeout_secs": 2 }} }}
}}"#
    ));
    // `${CACHE_TOKEN}` expands only because the user allows it.
    fs_err::write(
        context.config_dir.join("config.toml"),
        "expand_env = [\"CACHE_TOKEN\"]\n",
    )
    .unwrap();
    fs_err::create_dir_all(context.root.join("src")).unwrap();
    fs_err::write(context.root.join("src/main.c"), "int main() { return 0; }\n").unwrap();
    // The user's token goes to the URL the manifest names only once they trust the project.
    assert_success(&context.run(["trust"]));
    context
}

fn runs(context: &TestContext) -> Vec<String> {
    let path = context.root.parent().unwrap().join("runs.txt");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn run(context: &TestContext, args: &[&str]) -> Output {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    context.run(all)
}

/// `velo run ARGS`, which must succeed without a warning.
fn run_quietly(context: &TestContext, args: &[&str]) -> Output {
    let output = run(context, args);
    assert_success(&output);
    assert!(warnings(&output).is_empty(), "{}", stderr(&output));
    output
}

fn warnings(output: &Output) -> Vec<String> {
    stderr(output)
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .map(str::to_string)
        .collect()
}

/// Objects the server stores for velo (`v1/…`).
fn objects(cache: &Cache) -> usize {
    match cache.driver() {
        Driver::Local => cache.files().iter().filter(|f| f.starts_with("v1/")).count(),
        Driver::S3 => cache.s3_keys("v1/").len(),
    }
}

fn metric(server: &Server, name: &str) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = runtime.block_on(server.metrics());
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn round_trip(driver: Driver) {
    let cache = Cache::new(driver);
    let server = cache.start(&[]);
    let ci = machine(&server.url(), WRITE_TOKEN);
    let output = run(&ci, &["test"]);
    assert_success(&output);
    assert_eq!(runs(&ci), ["build", "test"]);
    let text = stderr(&output);
    assert_contains(&text, "Uploaded 2 results to the remote cache");
    assert!(warnings(&output).is_empty(), "{text}");
    assert_eq!(objects(&cache), 2);

    // A second machine: nothing runs, the outputs and logs come from the remote.
    let laptop = machine(&server.url(), READ_TOKEN);
    let output = run(&laptop, &["test"]);
    assert_success(&output);
    let text = stderr(&output);
    assert!(runs(&laptop).is_empty(), "{text}");
    assert_contains(&text, "Replaying build (remote cache hit");
    assert_contains(&text, "Replaying test (remote cache hit");
    assert_contains(&text, "Downloaded 2 results from the remote cache");
    assert!(warnings(&output).is_empty(), "{text}");
    assert_eq!(
        fs_err::read_to_string(laptop.root.join("out/result.txt")).unwrap(),
        "result\n"
    );
    let out = String::from_utf8_lossy(&output.stdout);
    assert_contains(&out, "build: built it");
    assert_contains(&out, "test: result");
    // The second run is all local hits: no negotiation at all.
    let negotiations = metric(&server, "velo_cache_negotiation_duration_seconds_count");
    let output = run(&laptop, &["test"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Replaying test (cache hit");
    assert_eq!(
        metric(&server, "velo_cache_negotiation_duration_seconds_count"),
        negotiations
    );
}

#[test]
fn miss_upload_then_remote_hit_local_driver() {
    round_trip(Driver::Local);
}

#[test]
fn miss_upload_then_remote_hit_s3_driver() {
    if !crate::common::serve::s3_available() {
        return;
    }
    round_trip(Driver::S3);
}

#[test]
fn one_negotiation_covers_the_graph() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    let ci = machine(&server.url(), WRITE_TOKEN);
    assert_success(&run(&ci, &["build", "lint"]));
    let before = metric(&server, "velo_cache_negotiation_duration_seconds_count");
    let laptop = machine(&server.url(), READ_TOKEN);
    let output = run(&laptop, &["build", "lint"]);
    assert_success(&output);
    assert!(runs(&laptop).is_empty(), "{}", stderr(&output));
    // Two independent tasks, one request.
    assert_eq!(
        metric(&server, "velo_cache_negotiation_duration_seconds_count") - before,
        1.0
    );
}

#[test]
fn read_token_never_uploads_and_does_not_warn() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    let laptop = machine(&server.url(), READ_TOKEN);
    let output = run(&laptop, &["test"]);
    assert_success(&output);
    assert_eq!(runs(&laptop), ["build", "test"]);
    assert!(warnings(&output).is_empty(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("Uploaded"));
    assert_eq!(objects(&cache), 0);
}

#[test]
fn read_only_setting_stops_uploads_with_a_write_token() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    let ci = machine(&server.url(), WRITE_TOKEN);
    let manifest = ci
        .manifest()
        .replace(r#""timeout_secs": 2"#, r#""timeout_secs": 2, "read_only": true"#);
    ci.write_manifest(&manifest);
    assert_success(&run(&ci, &["build"]));
    assert_eq!(objects(&cache), 0);
}

#[test]
fn env_overrides_the_manifest() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    // The manifest points at nothing; the environment at the server.
    let ci = machine("http://127.0.0.1:9", "wrong-token-0123456789")
        .with_env("VELO_CACHE_URL", &server.url())
        .with_env("VELO_CACHE_TOKEN", WRITE_TOKEN);
    run_quietly(&ci, &["build"]);
    assert_eq!(objects(&cache), 1);
}

#[test]
fn uploads_are_negotiated_after_the_task_with_their_size() {
    let cache = Cache::local();
    // URLs valid for one second, and a task that takes longer: uploads are negotiated once a
    // result exists, so no URL outlives its task.
    let server = cache.start(&["--url-expiry", "1", "--max-artifact-size", "1M"]);
    let ci = machine(&server.url(), WRITE_TOKEN);
    let manifest = ci
        .manifest()
        .replace("echo built it", "echo built it && sleep 1.5");
    ci.write_manifest(&manifest);
    let output = run_quietly(&ci, &["build"]);
    assert_contains(&stderr(&output), "Uploaded 1 result");
    assert_eq!(objects(&cache), 1);
    assert!(!server.logs().contains("expired"), "{}", server.logs());

    // A result over the server's limit is refused at negotiation (413): a warning naming it,
    // and the remote stays in use for the rest of the run.
    let big = machine(&server.url(), WRITE_TOKEN);
    let manifest = big.manifest().replace(
        "echo result > out/result.txt",
        "head -c 3000000 /dev/urandom > out/result.txt",
    );
    big.write_manifest(&manifest);
    let output = run(&big, &["build", "lint"]);
    assert_success(&output);
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("larger than the remote cache accepts"),
        "{warnings:?}"
    );
    assert!(
        stderr(&output).contains("Uploaded 1 result"),
        "lint still uploads: {}",
        stderr(&output)
    );
}

#[test]
fn wrong_token_warns_once_and_builds() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    let ci = machine(&server.url(), "not-a-token-0123456789");
    let output = run(&ci, &["test", "lint"]);
    assert_success(&output);
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("401") && warnings[0].contains("using the local cache only"),
        "{warnings:?}"
    );
    assert!(
        !stderr(&output).contains("not-a-token"),
        "the token is never printed"
    );
    assert!(
        !server.logs().contains("not-a-token"),
        "the token is never logged"
    );
}

/// Overwrite an object in local storage with `edit` applied.
fn tamper(cache: &Cache, edit: impl Fn(&mut Vec<u8>)) {
    for file in cache.files().iter().filter(|f| f.starts_with("v1/")) {
        let path = cache.dir().join(file);
        let mut bytes = fs_err::read(&path).unwrap();
        edit(&mut bytes);
        fs_err::write(&path, bytes).unwrap();
    }
}

/// Split an object into its header (as JSON) and artifact.
fn split(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let magic = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let end = magic + bytes[magic..].iter().position(|&b| b == b'\n').unwrap() + 1;
    (
        serde_json::from_slice(&bytes[magic..end - 1]).unwrap(),
        bytes[end..].to_vec(),
    )
}

fn join(header: &serde_json::Value, artifact: &[u8]) -> Vec<u8> {
    let mut bytes = b"velo-cache-object-v1\n".to_vec();
    bytes.extend(serde_json::to_vec(header).unwrap());
    bytes.push(b'\n');
    bytes.extend_from_slice(artifact);
    bytes
}

fn assert_rejected_and_ran(laptop: &TestContext, reason: &str) {
    let output = run(laptop, &["build"]);
    assert_success(&output);
    let text = stderr(&output);
    assert_eq!(runs(laptop), ["build"], "{text}");
    assert!(
        text.contains("was rejected") && text.contains(reason),
        "expected a rejection for `{reason}`:\n{text}"
    );
    assert!(!text.contains("remote cache hit"), "{text}");
    assert_eq!(
        fs_err::read_to_string(laptop.root.join("out/result.txt")).unwrap(),
        "result\n"
    );
}

#[test]
fn tampered_artifact_is_rejected_and_the_task_runs() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    assert_success(&run(&machine(&server.url(), WRITE_TOKEN), &["build"]));
    tamper(&cache, |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
    });
    assert_rejected_and_ran(&machine(&server.url(), READ_TOKEN), "blake3");
}

/// A server (the one the repository names) declaring a result larger than
/// `VELO_MAX_UNPACKED_SIZE` is refused before its body is read into the cache: it could fill
/// the disk.
#[test]
fn a_result_declaring_more_than_the_limit_is_rejected() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    assert_success(&run(&machine(&server.url(), WRITE_TOKEN), &["build"]));
    tamper(&cache, |bytes| {
        let (mut header, artifact) = split(bytes);
        header["size"] = serde_json::json!(1u64 << 40);
        *bytes = join(&header, &artifact);
    });
    let laptop = machine(&server.url(), READ_TOKEN).with_env("VELO_MAX_UNPACKED_SIZE", "1048576");
    assert_rejected_and_ran(&laptop, "it declares 1099511627776 bytes, more than the 1048576");
}

#[test]
fn unsigned_or_wrongly_signed_results_are_rejected_with_a_signing_key() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    // Uploaded without a key: a machine that requires signatures refuses it.
    assert_success(&run(&machine(&server.url(), WRITE_TOKEN), &["build"]));
    let laptop = machine(&server.url(), READ_TOKEN).with_env("VELO_CACHE_SIGNING_KEY", "team-secret");
    assert_rejected_and_ran(&laptop, "not signed");

    let cache = Cache::local();
    let server = cache.start(&[]);
    let ci = machine(&server.url(), WRITE_TOKEN).with_env("VELO_CACHE_SIGNING_KEY", "team-secret");
    assert_success(&run(&ci, &["build"]));
    let other = machine(&server.url(), READ_TOKEN).with_env("VELO_CACHE_SIGNING_KEY", "another-secret");
    assert_rejected_and_ran(&other, "signature does not match");

    // Someone with write access to the storage swaps the outputs and fixes up the digest, but
    // cannot sign: rejected.
    tamper(&cache, |bytes| {
        let (mut header, _) = split(bytes);
        let forged = b"not an artifact".to_vec();
        header["blake3"] = blake3::hash(&forged).to_hex().to_string().into();
        header["size"] = forged.len().into();
        *bytes = join(&header, &forged);
    });
    let laptop = machine(&server.url(), READ_TOKEN).with_env("VELO_CACHE_SIGNING_KEY", "team-secret");
    assert_rejected_and_ran(&laptop, "signature does not match");
}

#[test]
fn signed_results_are_accepted_with_the_same_key() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    let ci = machine(&server.url(), WRITE_TOKEN).with_env("VELO_CACHE_SIGNING_KEY", "team-secret");
    assert_success(&run(&ci, &["build"]));
    let laptop = machine(&server.url(), READ_TOKEN).with_env("VELO_CACHE_SIGNING_KEY", "team-secret");
    let output = run(&laptop, &["build"]);
    assert_success(&output);
    assert!(runs(&laptop).is_empty(), "{}", stderr(&output));
    assert!(stderr(&output).contains("remote cache hit"));
}

#[test]
fn a_result_for_another_key_is_rejected() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    let ci = machine(&server.url(), WRITE_TOKEN);
    assert_success(&run(&ci, &["build", "lint"]));
    // Put `lint`'s object under `build`'s name.
    let files: Vec<_> = cache
        .files()
        .into_iter()
        .filter(|f| f.starts_with("v1/"))
        .collect();
    assert_eq!(files.len(), 2);
    let contents: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs_err::read(cache.dir().join(f)).unwrap())
        .collect();
    fs_err::write(cache.dir().join(&files[0]), &contents[1]).unwrap();
    fs_err::write(cache.dir().join(&files[1]), &contents[0]).unwrap();
    let laptop = machine(&server.url(), READ_TOKEN);
    let output = run(&laptop, &["build", "lint"]);
    assert_success(&output);
    assert_eq!(runs(&laptop).len(), 2, "{}", stderr(&output));
    assert_contains(&stderr(&output), "it is for key");
}

#[test]
fn remote_down_before_the_run_warns_once() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ci = machine(&format!("http://127.0.0.1:{port}"), WRITE_TOKEN);
    let output = run(&ci, &["test", "lint"]);
    assert_success(&output);
    assert_eq!(runs(&ci).len(), 3);
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("cannot connect"), "{warnings:?}");
    // The local cache still works.
    let output = run(&ci, &["test", "lint"]);
    assert_success(&output);
    assert_eq!(runs(&ci).len(), 3);
}

#[test]
fn remote_dying_mid_run_does_not_fail_the_build() {
    let cache = Cache::local();
    let mut server = cache.start(&[]);
    let ci = machine(&server.url(), WRITE_TOKEN);
    // `build` kills the server while it runs: its upload and `test`'s have nowhere to go.
    let manifest = ci.manifest().replace(
        "echo build >> ../runs.txt",
        &format!("echo build >> ../runs.txt && kill -9 {}", server.pid()),
    );
    ci.write_manifest(&manifest);
    let output = run(&ci, &["test", "lint", "-j", "1"]);
    assert_success(&output);
    assert_eq!(runs(&ci).len(), 3, "{}", stderr(&output));
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("using the local cache only"), "{warnings:?}");
    server.kill();
}

#[test]
fn a_hanging_remote_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let ci = machine(&url, WRITE_TOKEN);
    let output = run(&ci, &["build"]);
    assert_success(&output);
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("timed out"), "{warnings:?}");
    drop(listener);
}

#[test]
fn cache_status_shows_the_remote_and_the_token_scope() {
    let cache = Cache::local();
    let server = cache.start(&[]);
    let ci = machine(&server.url(), WRITE_TOKEN);
    let output = ci.run(["cache", "status"]);
    assert_success(&output);
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        text.contains("reachable; token scope read-write; storage local (first write wins: enforced)"),
        "{text}"
    );

    let laptop = machine(&server.url(), READ_TOKEN);
    let output = laptop.run(["cache", "status", "--json"]);
    assert_success(&output);
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["remote"]["reachable"], true);
    assert_eq!(status["remote"]["scope"], "read");
    assert_eq!(status["remote"]["storage"], "local");

    let wrong = machine(&server.url(), "not-a-token-0123456789");
    let status: serde_json::Value =
        serde_json::from_slice(&wrong.run(["cache", "status", "--json"]).stdout).unwrap();
    assert_eq!(status["remote"]["reachable"], true);
    assert!(status["remote"]["error"].as_str().unwrap().contains("401"));

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = machine(&format!("http://127.0.0.1:{port}"), WRITE_TOKEN);
    let output = down.run(["cache", "status"]);
    assert_success(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("unreachable: cannot connect"));
}

#[test]
fn a_bad_remote_url_is_a_usage_error() {
    let ci = machine("ftp://cache.example", WRITE_TOKEN);
    let output = run(&ci, &["build"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("is not an http(s) URL"));
    assert!(runs(&ci).is_empty());
}

/// A fake remote. Download items are `found` at `found_url` (relative URLs are served by the
/// fake: `/gone` with a 404), or `missing` without one. Upload items are `upload_needed` at
/// `/put` when `put_statuses` is not empty, else `skipped`; the n-th PUT there gets
/// `put_statuses[n]` (the last one from then on). Returns its URL and the request lines it saw.
fn fake_remote(
    found_url: Option<&'static str>,
    put_statuses: &'static [u16],
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let base = url.clone();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut puts = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push(line.trim().to_string());
            let found = found_url.map(|found| {
                if found.starts_with('/') {
                    format!("{base}{found}")
                } else {
                    found.to_string()
                }
            });
            let (status, reply) = if line.starts_with("POST /v1/negotiate") {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let items: Vec<_> = request["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|item| match (item["action"].as_str().unwrap(), &found) {
                        ("download", Some(found)) => {
                            serde_json::json!({"hash": item["hash"], "status": "found", "url": found})
                        }
                        ("download", None) => serde_json::json!({"hash": item["hash"], "status": "missing"}),
                        _ if !put_statuses.is_empty() => {
                            serde_json::json!({"hash": item["hash"], "status": "upload_needed", "url": format!("{base}/put")})
                        }
                        _ => serde_json::json!({"hash": item["hash"], "status": "skipped"}),
                    })
                    .collect();
                (
                    "200 OK".to_string(),
                    serde_json::json!({ "items": items }).to_string(),
                )
            } else if line.starts_with("PUT /put") {
                let status = put_statuses[puts.min(put_statuses.len() - 1)];
                puts += 1;
                (format!("{status} Status"), String::new())
            } else {
                ("404 Not Found".to_string(), String::new())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, seen)
}

/// An upload URL refused (expired: S3 says 403, Garage 400) is negotiated again, once.
#[test]
fn a_refused_upload_url_is_negotiated_again() {
    let (url, seen) = fake_remote(None, &[403, 200]);
    let ci = machine(&url, WRITE_TOKEN);
    let output = run_quietly(&ci, &["build"]);
    assert_contains(&stderr(&output), "Uploaded 1 result");
    let seen = seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen
        .iter()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .map(|l| if l.starts_with("POST") { "negotiate" } else { "put" })
        .collect();
    // Downloads, uploads (refused), uploads again, then the PUT that lands.
    assert_eq!(lines, ["negotiate", "negotiate", "put", "negotiate", "put"]);
}

/// An upload refused twice turns the remote off with one warning; the build succeeds.
#[test]
fn an_upload_refused_twice_warns_once() {
    let (url, _) = fake_remote(None, &[403]);
    let ci = machine(&url, WRITE_TOKEN);
    let output = run(&ci, &["build", "lint"]);
    assert_success(&output);
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("the upload URL answered 403"),
        "{warnings:?}"
    );
}

/// The object was evicted after the negotiation found it: a miss, without a warning.
#[test]
fn a_found_object_that_is_gone_is_a_miss() {
    let ci = machine(&fake_remote(Some("/gone"), &[]).0, WRITE_TOKEN);
    let output = run(&ci, &["build"]);
    assert_success(&output);
    assert_eq!(runs(&ci), ["build"]);
    assert!(warnings(&output).is_empty(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("remote cache hit"));
}

/// A presigned URL is a credential: a failed download's warning does not print it.
#[test]
fn a_failed_download_does_not_print_its_url() {
    let ci = machine(
        &fake_remote(
            Some("http://127.0.0.1:9/bucket/v1/key?X-Amz-Signature=deadbeefsecret"),
            &[],
        )
        .0,
        WRITE_TOKEN,
    );
    let output = run(&ci, &["build"]);
    assert_success(&output);
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("a download failed"), "{warnings:?}");
    assert!(!stderr(&output).contains("deadbeefsecret"), "{}", stderr(&output));
}

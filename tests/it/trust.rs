//! What a cloned repository may not do without the user: `velo trust` / `velo untrust` and the
//! records they keep, explicit commands that need no trust, and `${NAME}` in `cache.remote`
//! reading only variables the user opted into, with credentials in a remote URL never printed.
//! (The shell hook's side of trust is tested in real shells in `shell.rs`.)

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::common::{assert_contains, assert_success, stderr, TestContext};

const SECRET: &str = "hunter2-aws-secret";

fn project() -> TestContext {
    let context = TestContext::new();
    context.write_manifest(
        r#"{
  "env": { "GREETING": "hi", "PATH": ["./tools"] },
  "auto_sync": true,
  "tasks": { "build": { "command": "echo built" } }
}
"#,
    );
    context
}

#[test]
fn trust_show_and_untrust() {
    let context = project();
    insta::assert_snapshot!(context.snapshot(["trust", "--show"]), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
         Project `[TEMP]/project` is not trusted
      sets `GREETING` to `hi`
      puts `.velo/bin`, `./tools` in front of `PATH`
      runs `velo sync` on entering when `.velo` is out of date (`auto_sync`)
    ");
    insta::assert_snapshot!(context.snapshot(["trust"]), @r"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
         Trusted `[TEMP]/project`
      sets `GREETING` to `hi`
      puts `.velo/bin`, `./tools` in front of `PATH`
      runs `velo sync` on entering when `.velo` is out of date (`auto_sync`)
    ");
    let records = fs_err::read_to_string(context.config_dir.join("trust.json")).unwrap();
    let records = regex::Regex::new("sha256:[0-9a-f]{64}")
        .unwrap()
        .replace_all(&context.filter(&records), "sha256:[DIGEST]")
        .into_owned();
    insta::assert_snapshot!(records, @r#"
    {
      "version": 1,
      "trusted": {
        "[TEMP]/project/velo.json": {
          "digest": "sha256:[DIGEST]"
        }
      }
    }
    "#);
    assert_eq!(context.run(["trust", "--show", "-q"]).status.code(), Some(0));

    // Tasks and dependencies are not what entering applies: still trusted.
    let manifest = context.manifest().replace("echo built", "echo built again");
    context.write_manifest(&manifest);
    assert_eq!(context.run(["trust", "--show", "-q"]).status.code(), Some(0));
    // `env`, `PATH` and `auto_sync` are.
    for (from, to) in [
        ("\"hi\"", "\"hello\""),
        ("./tools", "./bin"),
        ("\"auto_sync\": true", "\"auto_sync\": false"),
    ] {
        let before = context.manifest();
        context.write_manifest(&before.replace(from, to));
        let output = context.run(["trust", "--show"]);
        assert_eq!(output.status.code(), Some(1), "{to}");
        assert_contains(
            &stderr(&output),
            "its `env`, `PATH` or `auto_sync` changed since `velo trust`",
        );
        assert_success(&context.run(["trust"]));
    }

    insta::assert_snapshot!(context.snapshot(["untrust"]), @r"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
       Untrusted `[TEMP]/project`
    ");
    assert_eq!(context.run(["trust", "--show", "-q"]).status.code(), Some(1));
    insta::assert_snapshot!(context.snapshot(["untrust"]), @r"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
       Unchanged `[TEMP]/project` was not trusted
    ");
}

/// `velo trust PATH` takes a directory inside the project or its `velo.json`; `velo untrust`
/// forgets a project that is gone.
#[test]
fn trust_takes_a_path() {
    let context = project();
    fs_err::create_dir_all(context.root.join("src/deep")).unwrap();
    let outside = context.base().join("outside");
    fs_err::create_dir_all(&outside).unwrap();
    let velo = |args: &[&str]| context.velo().current_dir(&outside).args(args).output().unwrap();
    assert_success(&velo(&["trust", "../project/src/deep"]));
    assert_eq!(
        velo(&["trust", "--show", "../project/velo.json"]).status.code(),
        Some(0)
    );
    assert_success(&velo(&["untrust", "../project/velo.json"]));
    assert_eq!(velo(&["trust", "--show", "../project"]).status.code(), Some(1));
    assert_success(&velo(&["trust", "../project"]));
    assert_contains(&stderr(&velo(&["untrust", "../project/src"])), "Untrusted");
    assert_eq!(velo(&["trust", "--show", "../project"]).status.code(), Some(1));

    assert_success(&velo(&["trust", "../project"]));
    fs_err::remove_dir_all(&context.root).unwrap();
    let output = velo(&["untrust", "../project"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Untrusted");
    let records = fs_err::read_to_string(context.config_dir.join("trust.json")).unwrap();
    assert!(!records.contains("project"), "{records}");
}

/// A `trust.json` velo cannot read trusts nothing, and `velo trust` does not overwrite it.
#[test]
fn a_broken_trust_file_trusts_nothing() {
    let context = project();
    let file = context.config_dir.join("trust.json");
    fs_err::write(&file, "{ not json").unwrap();
    let output = context.run(["trust"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "is not a trust file velo understands");
    assert_contains(&stderr(&output), "fix or remove");
    assert_eq!(fs_err::read_to_string(&file).unwrap(), "{ not json");
    let output = context.run(["hook-env", "--shell", "bash", "--entered"]);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("GREETING"), "{stdout}");
    assert!(!stdout.contains("export"), "{stdout}");
    assert_contains(&stderr(&output), "is not a trust file velo understands");
}

/// `velo exec`, `velo env` and `velo run` are explicit: they work in a project nobody trusted.
#[test]
fn explicit_commands_need_no_trust() {
    let context = project();
    let output = context.run(["exec", "--", "sh", "-c", "echo \"$GREETING\""]);
    assert_success(&output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hi\n");
    let output = context.run(["env", "--json"]);
    assert_success(&output);
    assert_contains(&String::from_utf8_lossy(&output.stdout), "\"GREETING\": \"hi\"");
    let output = context.run(["run", "build"]);
    assert_success(&output);
    let mut shell = context
        .velo()
        .args(["shell", "--shell", "bash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo \"$GREETING\"; exit 3\n")
        .unwrap();
    let output = shell.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hi\n");
    assert!(!context.config_dir.join("trust.json").exists());
}

// --- `${NAME}` in cache.remote, and credentials in its URL ------------------------------------

/// A server on 127.0.0.1 that answers every request 401 and keeps the bytes it received.
struct Recorder {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                sink.lock().unwrap().extend_from_slice(&request);
                let _ = stream.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { port, received }
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

/// A project whose remote cache is `url` with `token` (no token when `None`), not trusted.
fn untrusted_remote_project(url: &str, token: Option<&str>) -> TestContext {
    let context = TestContext::new().with_env("AWS_SECRET_ACCESS_KEY", SECRET);
    let token = token
        .map(|token| format!(r#", "token": "{token}""#))
        .unwrap_or_default();
    context.write_manifest(&format!(
        r#"{{ "tasks": {{ "build": {{ "command": "echo built" }} }}, "cache": {{ "remote": {{ "url": "{url}"{token}, "timeout_secs": 2 }} }} }}"#
    ));
    context
}

/// The same, trusted by the user: what `${NAME}` may read is then up to `expand_env`.
fn remote_project(url: &str, token: &str) -> TestContext {
    let context = untrusted_remote_project(url, Some(token));
    assert_success(&context.run(["trust"]));
    context
}

/// A URL the repository chose gets none of the user's secrets until the user trusts the
/// project: `VELO_CACHE_TOKEN` (from the environment or as `${VELO_CACHE_TOKEN}`) went to
/// whatever `cache.remote.url` named. A literal token is the repository's own and is sent; a
/// URL the user set (`VELO_CACHE_URL`) gets the user's token whatever the manifest says.
#[test]
fn an_untrusted_remote_gets_no_secret() {
    let server = Recorder::start();
    let base = format!("http://127.0.0.1:{}", server.port);
    for token in [None, Some("${VELO_CACHE_TOKEN}")] {
        let context = untrusted_remote_project(&base, token).with_env("VELO_CACHE_TOKEN", "users-token");
        let output = context.run(["cache", "status"]);
        assert_contains(&stderr(&output), "until you trust the project; run `velo trust`");
        let output = context.run(["run", "build"]);
        assert_success(&output);
        assert_contains(&stderr(&output), "until you trust the project");
    }
    let received = server.received();
    assert_contains(&received, "/v1/status");
    assert!(!received.contains("users-token"), "{received}");
    assert!(!received.contains("Authorization"), "{received}");

    // A URL that would expand a variable is not asked at all.
    let before = server.received().len();
    let context = untrusted_remote_project(&format!("{base}/${{VELO_CACHE_TOKEN}}"), None)
        .with_env("VELO_CACHE_TOKEN", "users-token");
    assert_success(&context.run(["run", "build"]));
    assert_eq!(server.received().len(), before, "{}", server.received());

    // The repository's own literal token is sent; after `velo trust`, the user's is.
    let context =
        untrusted_remote_project(&base, Some("repos-own-token")).with_env("VELO_CACHE_TOKEN", "users-token");
    context.run(["cache", "status"]);
    assert_contains(&server.received(), "Bearer repos-own-token");
    assert!(!server.received().contains("users-token"));
    let context = untrusted_remote_project(&base, Some("${VELO_CACHE_TOKEN}"))
        .with_env("VELO_CACHE_TOKEN", "users-token");
    assert_success(&context.run(["trust"]));
    context.run(["cache", "status"]);
    assert_contains(&server.received(), "Bearer users-token");

    // The user's own URL gets the user's token, trusted or not.
    let mine = Recorder::start();
    let context = untrusted_remote_project("http://127.0.0.1:9/elsewhere", None)
        .with_env("VELO_CACHE_URL", &format!("http://127.0.0.1:{}", mine.port))
        .with_env("VELO_CACHE_TOKEN", "users-token");
    let output = context.run(["cache", "status"]);
    assert!(
        !stderr(&output).contains("until you trust"),
        "{}",
        stderr(&output)
    );
    assert_contains(&mine.received(), "Bearer users-token");
}

/// Confirmed: `${AWS_SECRET_ACCESS_KEY}` in the URL or token went to the manifest's server.
#[test]
fn remote_expansion_reads_only_opted_in_variables() {
    let server = Recorder::start();
    let base = format!("http://127.0.0.1:{}", server.port);
    for (url, token, field) in [
        (
            format!("{base}/${{AWS_SECRET_ACCESS_KEY}}"),
            "t".to_string(),
            "cache.remote.url",
        ),
        (
            base.clone(),
            "${AWS_SECRET_ACCESS_KEY}".to_string(),
            "cache.remote.token",
        ),
    ] {
        let context = remote_project(&url, &token);
        let output = context.run(["cache", "status"]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let said = stderr(&output);
        assert_contains(
            &said,
            format!("`{field}` in `velo.json` refers to `${{AWS_SECRET_ACCESS_KEY}}`"),
        );
        assert_contains(
            &said,
            "add `expand_env = [\"AWS_SECRET_ACCESS_KEY\"]` to `config.toml`",
        );
        assert!(!said.contains(SECRET), "{said}");
        let output = context.run(["run", "build"]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert_contains(&stderr(&output), format!("`{field}` in `velo.json`"));
    }
    assert_eq!(server.received(), "", "nothing may reach the server");

    // `VELO_*` names always expand, and so do the names the user lists in `config.toml`: the
    // recorder does see what it is sent.
    let context = remote_project(&base, "${VELO_TEST_TOKEN}").with_env("VELO_TEST_TOKEN", "velo-token");
    context.run(["cache", "status"]);
    assert_contains(&server.received(), "Bearer velo-token");
    let context = remote_project(&base, "${AWS_SECRET_ACCESS_KEY}");
    fs_err::write(
        context.config_dir.join("config.toml"),
        "expand_env = [\"AWS_SECRET_ACCESS_KEY\"]\n",
    )
    .unwrap();
    context.run(["cache", "status"]);
    assert_contains(&server.received(), SECRET);
}

/// velo's own secrets are `VELO_*` names too, but a repository's cache URL or token never
/// reads them: `${VELO_CACHE_SIGNING_KEY}` in the URL went to the manifest's server and was
/// printed by `velo cache status`. The token may still name `VELO_CACHE_TOKEN`.
#[test]
fn velo_secrets_never_expand_into_the_remote() {
    let server = Recorder::start();
    let base = format!("http://127.0.0.1:{}", server.port);
    for (url, token, field, name) in [
        (
            format!("{base}/${{VELO_CACHE_SIGNING_KEY}}"),
            "t",
            "cache.remote.url",
            "VELO_CACHE_SIGNING_KEY",
        ),
        (
            format!("{base}/${{VELO_CACHE_TOKEN}}"),
            "t",
            "cache.remote.url",
            "VELO_CACHE_TOKEN",
        ),
        (
            base.clone(),
            "${VELO_SERVER_URL_SECRET}",
            "cache.remote.token",
            "VELO_SERVER_URL_SECRET",
        ),
    ] {
        let context = remote_project(&url, token)
            .with_env("VELO_CACHE_SIGNING_KEY", SECRET)
            .with_env("VELO_SERVER_URL_SECRET", SECRET)
            .with_env("VELO_CACHE_TOKEN", "");
        let output = context.run(["cache", "status"]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let said = stderr(&output);
        assert_contains(&said, format!("`{field}` in `velo.json` refers to `${{{name}}}`"));
        assert!(!said.contains(SECRET), "{said}");
    }
    assert_eq!(server.received(), "", "nothing may reach the server");
    let context = remote_project(&base, "${VELO_CACHE_TOKEN}").with_env("VELO_CACHE_TOKEN", "the-token");
    context.run(["cache", "status"]);
    assert_contains(&server.received(), "Bearer the-token");
}

/// Credentials in the `registry` URL (user info or a query) are never printed either: every
/// fetch error names its URL through one redaction (they were printed by `velo lock`, `sync`,
/// `outdated` and `tree`).
#[test]
fn registry_credentials_are_never_printed() {
    let server = Recorder::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for port in [server.port, closed] {
        let context = TestContext::new().with_env("VELO_HTTP_RETRIES", "0");
        context.write_manifest(&format!(
            r#"{{ "registry": "http://ada:{SECRET}@127.0.0.1:{port}/idx?token={SECRET}", "dependencies": {{ "jq": "1" }} }}"#
        ));
        for args in [&["lock"][..], &["sync"], &["outdated"], &["tree"]] {
            let output = context.run(args);
            assert!(!output.status.success(), "{args:?}");
            let said = stderr(&output);
            assert_contains(&said, format!("http://***@127.0.0.1:{port}/idx/"));
            assert!(!said.contains(SECRET), "{args:?}: {said}");
        }
    }
}

/// Credentials in the remote's URL are never printed: not by `velo cache status` (text or
/// JSON), not in `velo run`'s warning.
#[test]
fn remote_credentials_are_never_printed() {
    let server = Recorder::start();
    let url = format!("http://ada:{SECRET}@127.0.0.1:{}/cache?sig={SECRET}", server.port);
    let context = remote_project(&url, "token");
    let output = context.run(["cache", "status"]);
    assert_success(&output);
    let text = context.render(&output);
    assert!(!text.contains(SECRET), "{text}");
    let remote: Vec<&str> = text
        .lines()
        .skip_while(|line| !line.starts_with("remote"))
        .take_while(|line| !line.starts_with("-----"))
        .collect();
    insta::assert_snapshot!(remote.join("\n"), @r"
    remote http://***@127.0.0.1:[PORT]/cache?***
      reachable, but the server refused the token (401)
    ");
    let output = context.run(["cache", "status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        context.filter(json["remote"]["url"].as_str().unwrap()),
        "http://***@127.0.0.1:[PORT]/cache?***"
    );

    let output = context.run(["run", "build", "-v"]);
    assert_success(&output);
    let said = stderr(&output);
    assert_contains(&said, "remote cache http://***@127.0.0.1");
    assert!(!said.contains(SECRET), "{said}");

    // Nor when the URL is refused.
    let context = remote_project(&format!("ftp://ada:{SECRET}@127.0.0.1/"), "token");
    let output = context.run(["cache", "status"]);
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "`ftp://***@127.0.0.1/` is not an http(s) URL");
    assert!(!stderr(&output).contains(SECRET));
}

/// `auto_sync`, from the repository or from the user's own `config.toml`, never syncs a
/// project that is not trusted; once it is, it does.
#[test]
fn the_hook_never_syncs_an_untrusted_project() {
    let context = project();
    fs_err::write(context.config_dir.join("config.toml"), "auto_sync = true\n").unwrap();
    let hook = || context.run(["hook-env", "--shell", "bash", "--entered"]);
    let output = hook();
    assert_success(&output);
    assert_contains(
        &stderr(&output),
        "is not trusted; run `velo trust` to activate it",
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("export"));
    assert!(!context.root.join(".velo").exists());
    assert!(!context.lock_path().exists());

    assert_success(&context.run(["trust"]));
    let output = hook();
    assert_success(&output);
    assert_contains(&String::from_utf8_lossy(&output.stdout), "export GREETING='hi';");
    assert!(context.root.join(".velo").is_dir(), "{}", stderr(&output));
}

/// A trusted project's `${NAME}` still reads only opted-in variables: the hook applies nothing
/// and names the variable.
#[test]
fn the_hook_expands_only_opted_in_variables() {
    let context = TestContext::new().with_env("AWS_SECRET_ACCESS_KEY", SECRET);
    context.write_manifest(r#"{ "env": { "HTTPS_PROXY": "http://${AWS_SECRET_ACCESS_KEY}@example.com" } }"#);
    assert_success(&context.run(["trust"]));
    let output = context.run(["hook-env", "--shell", "bash", "--entered"]);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("export"), "{stdout}");
    assert!(!stdout.contains(SECRET), "{stdout}");
    assert_contains(&stderr(&output), "refers to `${AWS_SECRET_ACCESS_KEY}`");
}

/// A project whose path is not UTF-8 cannot be recorded: an error, not a panic, and the hook
/// applies nothing there.
#[test]
fn a_path_that_is_not_utf8_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let context = TestContext::new();
    let dir = context.base().join(std::ffi::OsStr::from_bytes(b"proj-\xff"));
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join("velo.json"), r#"{ "env": { "GREETING": "hi" } }"#).unwrap();
    let output = context.velo().current_dir(&dir).arg("trust").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_contains(&stderr(&output), "whose path is UTF-8");
    let output = context
        .velo()
        .current_dir(&dir)
        .args(["hook-env", "--shell", "bash", "--entered"])
        .output()
        .unwrap();
    assert_success(&output);
    assert!(!String::from_utf8_lossy(&output.stdout).contains("GREETING"));
}

//! `velo serve` under test: the real binary on a free loopback port, over a local directory or
//! a bucket in a real moto server (`moto[server]` from PyPI), with its log collected.
//!
//! Every [`Cache`] is one storage (a directory, or a fresh bucket) plus a tokens file and a
//! temporary home; [`Cache::start`] runs a server over it, and may be called again after the
//! server stopped (retention runs at startup). moto is started once per test process, on the
//! first S3 test, and dies with the process (`PR_SET_PDEATHSIG`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A token with `write` scope in every tokens file.
pub const WRITE_TOKEN: &str = "ci-write-0123456789abcdef";
/// A token with `read` scope in every tokens file.
pub const READ_TOKEN: &str = "laptop-read-fedcba9876543210";

/// How long a server may take to say it listens.
const STARTUP: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Local,
    S3,
}

/// Where a cache's objects live.
pub enum Store {
    Local { dir: PathBuf },
    S3 { bucket: String, endpoint: String },
}

/// One storage, a tokens file and a temporary home for `velo serve`.
pub struct Cache {
    temp: tempfile::TempDir,
    pub store: Store,
}

impl Cache {
    pub fn new(driver: Driver) -> Self {
        match driver {
            Driver::Local => Self::local(),
            Driver::S3 => Self::s3(),
        }
    }

    /// A cache over `<temp>/storage`.
    pub fn local() -> Self {
        let temp = Self::temp();
        let dir = temp.path().canonicalize().unwrap().join("storage");
        Self {
            temp,
            store: Store::Local { dir },
        }
    }

    /// A cache over a new bucket in the shared moto server.
    pub fn s3() -> Self {
        static BUCKETS: AtomicUsize = AtomicUsize::new(0);
        let moto = moto();
        let bucket = format!(
            "velo-{}-{}",
            std::process::id(),
            BUCKETS.fetch_add(1, Ordering::SeqCst)
        );
        let response = http(moto.addr, "PUT", &format!("/{bucket}"), &[], b"");
        assert_eq!(
            response.status,
            200,
            "create bucket {bucket} in moto: {}",
            response.text()
        );
        Self {
            temp: Self::temp(),
            store: Store::S3 {
                bucket,
                endpoint: format!("http://{}", moto.addr),
            },
        }
    }

    fn temp() -> tempfile::TempDir {
        let temp = tempfile::tempdir().expect("create a temp dir");
        for dir in ["cache", "config", "home"] {
            fs_err::create_dir_all(temp.path().join(dir)).unwrap();
        }
        fs_err::write(
            temp.path().join("tokens"),
            format!("# test tokens\nwrite {WRITE_TOKEN}\nread {READ_TOKEN}\n"),
        )
        .unwrap();
        temp
    }

    /// The temporary directory holding the tokens file, the home and (local driver) storage.
    pub fn base(&self) -> PathBuf {
        self.temp.path().canonicalize().unwrap()
    }

    pub fn tokens_file(&self) -> PathBuf {
        self.base().join("tokens")
    }

    pub fn driver(&self) -> Driver {
        match self.store {
            Store::Local { .. } => Driver::Local,
            Store::S3 { .. } => Driver::S3,
        }
    }

    /// `--storage` for this cache.
    pub fn storage_url(&self) -> String {
        match &self.store {
            Store::Local { dir } => format!("file://{}", dir.display()),
            Store::S3 { bucket, .. } => format!("s3://{bucket}"),
        }
    }

    /// The storage directory (local driver only).
    pub fn dir(&self) -> &Path {
        match &self.store {
            Store::Local { dir } => dir,
            Store::S3 { .. } => panic!("an S3 cache has no directory"),
        }
    }

    /// `velo serve` with a clean environment and no arguments beyond the subcommand: no `VELO_*`,
    /// `AWS_*` or proxy variables, the cache, config and home in the temp dir, and (S3) dummy
    /// credentials.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_velo"));
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("VELO_")
                || key.starts_with("AWS_")
                || key.to_ascii_lowercase().ends_with("_proxy")
            {
                command.env_remove(&key);
            }
        }
        let base = self.base();
        command
            .arg("serve")
            .current_dir(&base)
            .env("HOME", base.join("home"))
            .env("XDG_CACHE_HOME", base.join("home/.cache"))
            .env("XDG_CONFIG_HOME", base.join("home/.config"))
            .env("VELO_CACHE_DIR", base.join("cache"))
            .env("VELO_CONFIG_DIR", base.join("config"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        if let Store::S3 { .. } = self.store {
            command
                .env("AWS_ACCESS_KEY_ID", "velo-test-key-id")
                .env("AWS_SECRET_ACCESS_KEY", "velo-test-secret-key");
        }
        command
    }

    /// `velo serve --listen 127.0.0.1:0 --tokens-file … --storage … EXTRA…`.
    pub fn serve_command(&self, extra: &[&str]) -> Command {
        let mut command = self.command();
        command
            .args(["--listen", "127.0.0.1:0", "--tokens-file"])
            .arg(self.tokens_file())
            .args(["--storage", &self.storage_url()]);
        if let Store::S3 { endpoint, .. } = &self.store {
            command.args(["--s3-endpoint", endpoint]);
        }
        command.args(extra);
        command
    }

    /// Start a server over this cache and wait until it listens.
    pub fn start(&self, extra: &[&str]) -> Server {
        Server::spawn(self.serve_command(extra))
    }

    /// Every file under the local storage directory (temporary uploads included), relative to
    /// it, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut files = walk(self.dir());
        files.sort();
        files
    }

    /// Files under the local storage directory's `.tmp/` (abandoned or in-flight uploads).
    pub fn temp_files(&self) -> Vec<String> {
        self.files()
            .into_iter()
            .filter(|f| f.starts_with(".tmp/"))
            .collect()
    }

    /// Stored objects under the local storage directory (everything but `.tmp/`), with their
    /// contents.
    pub fn objects(&self) -> Vec<(String, Vec<u8>)> {
        self.files()
            .into_iter()
            .filter(|f| !f.starts_with(".tmp/"))
            .map(|f| {
                let bytes = fs_err::read(self.dir().join(&f)).unwrap();
                (f, bytes)
            })
            .collect()
    }

    /// Every file in the temp dir (storage, tokens, home, cache), relative to it, sorted: a
    /// path traversal that escaped storage would show up here.
    pub fn all_files(&self) -> Vec<String> {
        let mut files = walk(&self.base());
        files.sort();
        files
    }

    /// The bucket's keys under `prefix`, straight from moto (S3 only).
    pub fn s3_keys(&self, prefix: &str) -> Vec<String> {
        let (bucket, moto) = self.bucket();
        let response = http(
            moto,
            "GET",
            &format!("/{bucket}?list-type=2&prefix={prefix}"),
            &[],
            b"",
        );
        assert_eq!(response.status, 200, "list {bucket}: {}", response.text());
        let re = regex::Regex::new("<Key>([^<]*)</Key>").unwrap();
        let text = response.text();
        re.captures_iter(&text).map(|c| c[1].to_string()).collect()
    }

    /// An object's bytes straight from moto, or `None` (S3 only).
    pub fn s3_object(&self, key: &str) -> Option<Vec<u8>> {
        let (bucket, moto) = self.bucket();
        // moto checks no signature, but an anonymous GET of a private object is refused.
        let auth = "AWS4-HMAC-SHA256 Credential=velo-test-key-id/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
        let response = http(
            moto,
            "GET",
            &format!("/{bucket}/{key}"),
            &[("Authorization", auth)],
            b"",
        );
        match response.status {
            200 => Some(response.body),
            404 => None,
            status => panic!("GET {key} from moto returned {status}: {}", response.text()),
        }
    }

    fn bucket(&self) -> (&str, SocketAddr) {
        match &self.store {
            Store::S3 { bucket, .. } => (bucket, moto().addr),
            Store::Local { .. } => panic!("a local cache has no bucket"),
        }
    }
}

fn walk(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    files
}

/// A running `velo serve`; killed on drop.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    logs: Arc<Mutex<String>>,
}

impl Server {
    /// Spawn `command` and wait (up to 20 s) for `velo serve listening on http://…`; panic
    /// with its log if it exits or does not say so in time.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn velo serve");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let collected = logs.clone();
        thread::spawn(move || {
            let re = regex::Regex::new(r"velo serve listening on http://(127\.0\.0\.1:\d+)").unwrap();
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                collected.lock().unwrap().push_str(&line);
                if let Some(found) = re.captures(&line) {
                    let _ = tx.send(Some(found[1].parse::<SocketAddr>().unwrap()));
                }
            }
            let _ = tx.send(None);
        });
        match rx.recv_timeout(STARTUP) {
            Ok(Some(addr)) => Self { child, addr, logs },
            Ok(None) => {
                let status = child.wait().unwrap();
                panic!(
                    "velo serve exited ({status}) before listening:\n{}",
                    logs.lock().unwrap()
                );
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "velo serve did not listen within {STARTUP:?}:\n{}",
                    logs.lock().unwrap()
                );
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the server wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Wait (up to `timeout`) for a log line containing `text`; panic with the log otherwise.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.logs().lines().find(|line| line.contains(text)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line containing {text:?} within {timeout:?}:\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ask the server to stop, as a service manager does.
    pub fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid this server owns (it has not been reaped yet).
        let result = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(result, 0, "kill -TERM {pid}");
    }

    /// Wait (up to `timeout`) for the server to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop the server at once (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// `POST /v1/negotiate` with `body`, as `token`: (status, JSON body or null).
    pub async fn negotiate(&self, token: Option<&str>, body: &Value) -> (u16, Value) {
        let request = client()
            .post(format!("{}/v1/negotiate", self.url()))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap());
        send_json(authorized(request, token)).await
    }

    /// Negotiate a single item and return the response's only item; panics unless the
    /// negotiation was answered 200.
    pub async fn negotiate_one(&self, token: &str, hash: &str, action: &str, size: Option<u64>) -> Value {
        let mut item = serde_json::json!({"hash": hash, "action": action});
        if let Some(size) = size {
            item["size"] = size.into();
        }
        let (status, body) = self
            .negotiate(Some(token), &serde_json::json!({"items": [item]}))
            .await;
        assert_eq!(status, 200, "negotiate {action} {hash}: {body}");
        let items = body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{body}");
        items[0].clone()
    }

    /// Negotiate an upload of `hash` and PUT `body` to the URL, which must succeed (2xx).
    pub async fn upload(&self, hash: &str, body: &[u8]) {
        let item = self
            .negotiate_one(WRITE_TOKEN, hash, "upload", Some(body.len() as u64))
            .await;
        assert_eq!(item["status"], "upload_needed", "{item}");
        let (status, text) = put_to(&item, body.to_vec()).await;
        assert!((200..300).contains(&status), "PUT {hash}: {status} {text}");
    }

    /// Negotiate a download of `hash` and GET it: `None` when missing.
    pub async fn download(&self, hash: &str) -> Option<Vec<u8>> {
        let item = self.negotiate_one(READ_TOKEN, hash, "download", None).await;
        match item["status"].as_str() {
            Some("missing") => None,
            Some("found") => {
                let (status, bytes) = get_from(&item).await;
                assert_eq!(status, 200, "GET {hash}: {}", String::from_utf8_lossy(&bytes));
                Some(bytes)
            }
            _ => panic!("unexpected negotiation answer {item}"),
        }
    }

    /// `GET PATH` on this server as `token`: (status, JSON body or null).
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        send_json(authorized(client().get(format!("{}{path}", self.url())), token)).await
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let response = client()
            .get(format!("{}/metrics", self.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client for tests: no proxy, no redirects followed, generous timeouts.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub fn authorized(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(token) => request.header("authorization", format!("Bearer {token}")),
        None => request,
    }
}

/// Send and read the body as JSON (null when empty or not JSON).
pub async fn send_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("send request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("read response");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The headers a negotiated item says its URL needs.
fn item_headers(request: reqwest::RequestBuilder, item: &Value) -> reqwest::RequestBuilder {
    let mut request = request;
    if let Some(headers) = item["headers"].as_object() {
        for (name, value) in headers {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    request
}

/// PUT `body` to a negotiated item's URL with its headers: (status, response text).
pub async fn put_to(item: &Value, body: Vec<u8>) -> (u16, String) {
    let url = item["url"].as_str().unwrap_or_else(|| panic!("no url in {item}"));
    put_url(url, item, body).await
}

/// PUT `body` to `url` with `item`'s headers: (status, response text).
pub async fn put_url(url: &str, item: &Value, body: Vec<u8>) -> (u16, String) {
    // A PUT without a binary content type loses its body in moto.
    let request = item_headers(client().put(url), item)
        .header("content-type", "application/octet-stream")
        .body(body);
    let response = request.send().await.expect("PUT");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// GET a negotiated item's URL with its headers: (status, body).
pub async fn get_from(item: &Value) -> (u16, Vec<u8>) {
    let url = item["url"].as_str().unwrap_or_else(|| panic!("no url in {item}"));
    let response = item_headers(client().get(url), item).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// A 64-digit hex key derived from `label`.
pub fn key(label: &str) -> String {
    blake3::hash(label.as_bytes()).to_hex().to_string()
}

/// The value of a sample in a Prometheus text exposition (`name{labels}` exactly as
/// rendered), or `None` when it is not there.
pub fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().unwrap())
        })
}

/// A loopback port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A raw HTTP/1.1 response.
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request written by hand, so the target is sent exactly as given (no client
/// normalises `..` away), on its own connection.
pub fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|err| panic!("connect to {addr}: {err}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    RawResponse { status, head, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
    body
}

/// The moto server every S3 test in this process shares.
pub struct Moto {
    pub addr: SocketAddr,
    output: Arc<Mutex<String>>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The shared moto server, started on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(start_moto)
}

/// Whether the S3 tests can run: moto's server is installed. A missing one skips the test with
/// a note, except on CI (`CI` set, as `.ci/run` does after installing it): there it fails.
pub fn s3_available() -> bool {
    let found = moto_program().is_some();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "moto's S3 server (`moto_server`) is not installed; CI must run the S3 tests (see `.ci/run`)"
        );
        eprintln!(
            "note: `moto_server` is not installed here (pip install 'moto[server]'); skipping this S3 test"
        );
    }
    found
}

/// `VELO_TEST_MOTO_SERVER`, else `moto_server` on `PATH`, else `/work/tools/moto/bin/moto_server`.
fn moto_program() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VELO_TEST_MOTO_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "VELO_TEST_MOTO_SERVER={} does not exist",
            path.display()
        );
        return Some(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.is_file())
    });
    let fallback = PathBuf::from("/work/tools/moto/bin/moto_server");
    on_path.or_else(|| fallback.is_file().then_some(fallback))
}

fn find_moto() -> PathBuf {
    moto_program().unwrap_or_else(|| {
        panic!(
            "the S3 tests need moto's server (`moto_server`) and it was not found: run `.ci/run`, or \
             `pip install 'moto[server]'` and put `moto_server` on PATH (or point VELO_TEST_MOTO_SERVER at it)"
        )
    })
}

fn start_moto() -> Moto {
    let program = find_moto();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let collected = output.clone();
    // The child is spawned from a thread that lives as long as the process: the parent-death
    // signal fires when the spawning thread exits, and test threads exit early.
    thread::Builder::new()
        .name("moto".to_string())
        .spawn(move || {
            let mut command = Command::new(&program);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (key, _) in std::env::vars_os() {
                let key = key.to_string_lossy().into_owned();
                if key.starts_with("AWS_") || key.to_ascii_lowercase().ends_with("_proxy") {
                    command.env_remove(&key);
                }
            }
            #[cfg(target_os = "linux")]
            {
                use std::os::unix::process::CommandExt;
                // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
                unsafe {
                    command.pre_exec(|| {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(err) => {
                    let _ = tx.send(Err(format!("cannot run {}: {err}", program.display())));
                    return;
                }
            };
            for stream in [
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
                Box::new(child.stderr.take().unwrap()),
            ] {
                let collected = collected.clone();
                thread::spawn(move || {
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        let mut text = collected.lock().unwrap();
                        // Keep the start (startup errors) and not every request forever.
                        if text.len() < 64 * 1024 {
                            text.push_str(&line);
                            text.push('\n');
                        }
                    }
                });
            }
            let _ = tx.send(Ok(()));
            let status = child.wait();
            collected
                .lock()
                .unwrap()
                .push_str(&format!("\nmoto_server exited: {status:?}\n"));
            loop {
                thread::park();
            }
        })
        .unwrap();
    if let Err(err) = rx.recv().unwrap() {
        panic!("{err}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            && http(addr, "GET", "/", &[], b"").status == 200
        {
            break;
        }
        let text = output.lock().unwrap().clone();
        assert!(
            !text.contains("moto_server exited"),
            "moto_server failed to start:\n{text}"
        );
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on {addr} within 60 s:\n{text}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    Moto { addr, output }
}

impl Moto {
    /// What moto printed (its first 64 KiB).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

/// Run a command that is expected to exit by itself (a server that fails to start), killing it
/// and failing if it is still running after `timeout`.
pub fn run_to_exit(mut command: Command, timeout: Duration) -> std::process::Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn velo");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(output) => output.expect("wait for velo"),
        Err(_) => {
            // SAFETY: the child has not been reaped (its waiter is still blocked).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let output = rx.recv().unwrap().unwrap();
            panic!(
                "velo was still running after {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

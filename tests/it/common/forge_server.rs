//! A fake Git forge on 127.0.0.1: the GitHub, GitLab and Gitea release APIs (pagination, ETags,
//! rate-limit headers), the release files themselves (GET and HEAD), fault injection and a log
//! of every request.
//!
//! Written by hand like `server.rs`, one thread per connection and `Connection: close`, so that
//! every header a test depends on is exactly what the test asked for.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Which forge's API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `GET /repos/{owner}/{repo}/releases?per_page=N&page=N`, `Link` pagination, digests.
    GitHub,
    /// `GET /api/v4/projects/{url-encoded path}/releases?per_page=N&page=N`, `X-Next-Page`,
    /// assets as links without sizes, `direct_asset_url` redirecting to the file.
    GitLab,
    /// `GET /api/v1/repos/{owner}/{repo}/releases?limit=N&page=N`, GitHub's shape without digests.
    Gitea,
}

impl Flavor {
    /// Where the API lives on the server.
    fn api_prefix(self) -> &'static str {
        match self {
            Flavor::GitHub => "",
            Flavor::GitLab => "/api/v4",
            Flavor::Gitea => "/api/v1",
        }
    }

    /// The largest page the forge serves, and the page size when the client names none.
    fn page_limits(self) -> (usize, usize) {
        match self {
            Flavor::GitHub => (100, 30),
            Flavor::GitLab => (100, 20),
            Flavor::Gitea => (50, 30),
        }
    }
}

/// What to answer instead of the normal response, once per queued entry.
#[derive(Debug, Clone)]
pub enum ForgeFault {
    /// This status with a small JSON error body (404, 500, 403 without rate-limit headers…).
    Status(u16),
    /// 403 with `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` this many seconds from now.
    RateLimited { reset_in: u64 },
    /// 429 with `Retry-After: <seconds>`.
    TooManyRequests { retry_after: u64 },
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct ForgeRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub status: u16,
    /// Whether it went to the releases API (not a file download or redirect).
    pub api: bool,
    pub if_none_match: Option<String>,
    pub authorization: Option<String>,
    pub private_token: Option<String>,
    /// The `Host` header: `127.0.0.1:PORT`, or the files host (`localhost:PORT`).
    pub host: String,
}

#[derive(Debug, Clone)]
struct Asset {
    name: String,
    bytes: Vec<u8>,
    digest: bool,
}

#[derive(Debug, Clone)]
struct Release {
    /// `owner/repo`, or a GitLab project path.
    project: String,
    tag: String,
    draft: bool,
    prerelease: bool,
    assets: Vec<Asset>,
}

struct State {
    flavor: Flavor,
    /// Oldest first; the API lists them newest first.
    releases: Vec<Release>,
    page_size: usize,
    faults: Vec<(String, VecDeque<ForgeFault>)>,
    log: Vec<ForgeRequest>,
    /// The host name release files are served under, when not the API's (`127.0.0.1`).
    files_host: Option<String>,
}

impl State {
    /// Where release files live: the API's server, or the same server under `files_host`.
    fn files_base(&self, addr: SocketAddr) -> String {
        match &self.files_host {
            Some(host) => format!("http://{host}:{}", addr.port()),
            None => format!("http://{addr}"),
        }
    }
}

impl State {
    fn add<N: AsRef<str>>(
        &mut self,
        project: &str,
        tag: &str,
        assets: &[(N, Vec<u8>, bool)],
        draft: bool,
        prerelease: bool,
    ) {
        let assets = assets
            .iter()
            .map(|(name, bytes, digest)| Asset {
                name: name.as_ref().to_string(),
                bytes: bytes.clone(),
                digest: *digest,
            })
            .collect();
        self.releases.push(Release {
            project: project.to_string(),
            tag: tag.to_string(),
            draft,
            prerelease,
            assets,
        });
    }

    fn add_file(&mut self, project: &str, tag: &str, name: &str, content: &[u8]) {
        let release = self
            .releases
            .iter_mut()
            .find(|r| r.project == project && r.tag == tag)
            .unwrap_or_else(|| panic!("no release {project} {tag} to add `{name}` to"));
        release.assets.push(Asset {
            name: name.to_string(),
            bytes: content.to_vec(),
            digest: false,
        });
    }
}

/// Builds a fake forge; [`ForgeServer::start`] serves it.
pub struct ForgeServer {
    state: State,
}

impl ForgeServer {
    pub fn new(flavor: Flavor) -> Self {
        let state = State {
            flavor,
            releases: Vec::new(),
            page_size: flavor.page_limits().0,
            faults: Vec::new(),
            log: Vec::new(),
            files_host: None,
        };
        Self { state }
    }

    pub fn github() -> Self {
        Self::new(Flavor::GitHub)
    }

    pub fn gitlab() -> Self {
        Self::new(Flavor::GitLab)
    }

    pub fn gitea() -> Self {
        Self::new(Flavor::Gitea)
    }

    /// A published release of `owner/repo` (for GitLab, `owner` may be `group/subgroup`) with
    /// these assets: (file name, content, whether the API gives its sha256 digest).
    pub fn release<N: AsRef<str>>(
        mut self,
        owner: &str,
        repo: &str,
        tag: &str,
        assets: &[(N, Vec<u8>, bool)],
    ) -> Self {
        self.state
            .add(&format!("{owner}/{repo}"), tag, assets, false, false);
        self
    }

    /// A release marked as a prerelease (GitLab: an upcoming release).
    pub fn prerelease<N: AsRef<str>>(
        mut self,
        owner: &str,
        repo: &str,
        tag: &str,
        assets: &[(N, Vec<u8>, bool)],
    ) -> Self {
        self.state
            .add(&format!("{owner}/{repo}"), tag, assets, false, true);
        self
    }

    /// A draft release (GitHub and Gitea).
    pub fn draft<N: AsRef<str>>(
        mut self,
        owner: &str,
        repo: &str,
        tag: &str,
        assets: &[(N, Vec<u8>, bool)],
    ) -> Self {
        self.state
            .add(&format!("{owner}/{repo}"), tag, assets, true, false);
        self
    }

    /// Add a checksum file (no digest) to an existing release.
    pub fn checksum_file(mut self, owner: &str, repo: &str, tag: &str, name: &str, content: &str) -> Self {
        self.state
            .add_file(&format!("{owner}/{repo}"), tag, name, content.as_bytes());
        self
    }

    /// The most releases one page holds, whatever the client asks for.
    pub fn page_size(mut self, size: usize) -> Self {
        self.state.page_size = size;
        self
    }

    /// Serve release files under another host name for the same server (`localhost`), as
    /// forges do from a storage host: GitHub and Gitea link there directly; GitLab's
    /// `direct_asset_url` stays on the API host and redirects there.
    pub fn files_host(mut self, host: &str) -> Self {
        self.state.files_host = Some(host.to_string());
        self
    }

    /// Serve on a free loopback port.
    pub fn start(self) -> RunningForge {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(self.state));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = state2.clone();
                thread::spawn(move || {
                    let _ = handle(stream, addr, &state);
                });
            }
        });
        RunningForge { addr, state, stop }
    }
}

/// A fake forge being served; stops listening when dropped.
pub struct RunningForge {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl RunningForge {
    /// The server's root, ending in `/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// What `VELO_GITHUB_API_URL` / `VELO_GITLAB_API_URL` / `VELO_GITEA_API_URL` should be:
    /// the API root, without a trailing slash (as users write it).
    pub fn api_url(&self) -> String {
        let flavor = self.state.lock().unwrap().flavor;
        format!("http://{}{}", self.addr, flavor.api_prefix())
    }

    /// The URL the API gives for a release file.
    pub fn download_url(&self, owner: &str, repo: &str, tag: &str, name: &str) -> String {
        let state = self.state.lock().unwrap();
        let project = format!("{owner}/{repo}");
        asset_url(
            state.flavor,
            &format!("http://{}", self.addr),
            &state.files_base(self.addr),
            &project,
            tag,
            name,
        )
    }

    /// The path of the first page of `owner/repo`'s releases (without the query).
    pub fn releases_path(&self, owner: &str, repo: &str) -> String {
        let flavor = self.state.lock().unwrap().flavor;
        let project = format!("{owner}/{repo}");
        match flavor {
            Flavor::GitLab => format!("/api/v4/projects/{}/releases", project.replace('/', "%2F")),
            _ => format!("{}/repos/{project}/releases", flavor.api_prefix()),
        }
    }

    /// Publish another release while the server runs.
    pub fn add_release<N: AsRef<str>>(
        &self,
        owner: &str,
        repo: &str,
        tag: &str,
        assets: &[(N, Vec<u8>, bool)],
    ) {
        self.state
            .lock()
            .unwrap()
            .add(&format!("{owner}/{repo}"), tag, assets, false, false);
    }

    /// Answer the next requests whose path starts with `prefix` with these faults, in order.
    pub fn fail(&self, prefix: &str, faults: &[ForgeFault]) {
        let mut state = self.state.lock().unwrap();
        match state.faults.iter_mut().find(|(p, _)| p == prefix) {
            Some((_, queue)) => queue.extend(faults.iter().cloned()),
            None => state
                .faults
                .push((prefix.to_string(), faults.iter().cloned().collect())),
        }
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<ForgeRequest> {
        self.state.lock().unwrap().log.clone()
    }

    /// Requests to the releases API so far.
    pub fn api_requests(&self) -> Vec<ForgeRequest> {
        self.log().into_iter().filter(|r| r.api).collect()
    }

    /// Requests so far whose path contains `part`.
    pub fn requests_to(&self, part: &str) -> Vec<ForgeRequest> {
        self.log().into_iter().filter(|r| r.path.contains(part)).collect()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

impl Drop for RunningForge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A `sha256sums.txt` for these files, in the `<hex>  <name>` format of `sha256sum`.
pub fn sha256sums(files: &[(&str, &[u8])]) -> String {
    files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", sha256_hex(bytes)))
        .collect()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Where a release file is downloaded from: GitHub and Gitea link to the file; GitLab's
/// `direct_asset_url` is a permalink on the API host that redirects to it.
fn asset_url(flavor: Flavor, base: &str, files_base: &str, project: &str, tag: &str, name: &str) -> String {
    match flavor {
        Flavor::GitLab => format!("{base}/{project}/-/releases/{tag}/downloads/{name}"),
        _ => file_url(files_base, project, tag, name),
    }
}

fn file_url(files_base: &str, project: &str, tag: &str, name: &str) -> String {
    format!("{files_base}/download/{project}/{tag}/{name}")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<usize> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
}

/// A prepared answer.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
            body: serde_json::to_vec(body).unwrap(),
        }
    }

    fn not_found() -> Self {
        Self::json(404, &json!({ "message": "Not Found" }))
    }
}

fn handle(stream: TcpStream, addr: SocketAddr, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }

    let base = format!("http://{addr}");
    let response = {
        let mut state = state.lock().unwrap();
        let api = target
            .split('?')
            .next()
            .unwrap_or_default()
            .ends_with("/releases");
        let fault = state
            .faults
            .iter_mut()
            .find(|(prefix, queue)| target.starts_with(prefix.as_str()) && !queue.is_empty())
            .and_then(|(_, queue)| queue.pop_front());
        let response = match fault {
            Some(fault) => fault_response(&fault),
            None => route(
                &state,
                &method,
                &target,
                &base,
                &state.files_base(addr),
                headers.get("if-none-match"),
            ),
        };
        state.log.push(ForgeRequest {
            method: method.clone(),
            path: target.clone(),
            status: response.status,
            api,
            if_none_match: headers.get("if-none-match").cloned(),
            authorization: headers.get("authorization").cloned(),
            private_token: headers.get("private-token").cloned(),
            host: headers.get("host").cloned().unwrap_or_default(),
        });
        response
    };
    respond(stream, &method, response)
}

fn fault_response(fault: &ForgeFault) -> Response {
    match fault {
        ForgeFault::Status(status) => Response::json(*status, &json!({ "message": "injected fault" })),
        ForgeFault::RateLimited { reset_in } => {
            let mut response = Response::json(
                403,
                &json!({
                    "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit.)",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                }),
            );
            let reset = now() + reset_in;
            for (name, value) in [
                ("X-RateLimit-Limit", "60".to_string()),
                ("X-RateLimit-Remaining", "0".to_string()),
                ("X-RateLimit-Reset", reset.to_string()),
                ("X-RateLimit-Used", "60".to_string()),
                ("X-RateLimit-Resource", "core".to_string()),
            ] {
                response.headers.push((name.to_string(), value));
            }
            response
        }
        ForgeFault::TooManyRequests { retry_after } => {
            let mut response = Response::json(429, &json!({ "message": "Too Many Requests" }));
            response
                .headers
                .push(("Retry-After".into(), retry_after.to_string()));
            response
        }
    }
}

fn route(
    state: &State,
    method: &str,
    target: &str,
    base: &str,
    files_base: &str,
    if_none_match: Option<&String>,
) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // Release files.
    if let Some(rest) = path.strip_prefix("/download/") {
        let mut parts = rest.rsplitn(3, '/');
        let (Some(name), Some(tag), Some(project)) = (parts.next(), parts.next(), parts.next()) else {
            return Response::not_found();
        };
        let asset = state
            .releases
            .iter()
            .filter(|r| r.project == project && r.tag == tag)
            .flat_map(|r| &r.assets)
            .find(|a| a.name == name);
        return match asset {
            Some(asset) => Response {
                status: 200,
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                body: asset.bytes.clone(),
            },
            None => Response::not_found(),
        };
    }
    // GitLab's permalinks: `/{project}/-/releases/{tag}/downloads/{name}` → the file.
    if let Some((project, rest)) = path.trim_start_matches('/').split_once("/-/releases/") {
        if let Some((tag, name)) = rest.split_once("/downloads/") {
            return Response {
                status: 302,
                headers: vec![("Location".into(), file_url(files_base, project, tag, name))],
                body: Vec::new(),
            };
        }
    }
    if method != "GET" {
        return Response::json(405, &json!({ "message": "Method Not Allowed" }));
    }
    let Some(api_path) = path.strip_prefix(state.flavor.api_prefix()) else {
        return Response::not_found();
    };
    let project = match state.flavor {
        Flavor::GitHub | Flavor::Gitea => api_path
            .strip_prefix("/repos/")
            .and_then(|p| p.strip_suffix("/releases"))
            .filter(|p| p.matches('/').count() == 1)
            .map(str::to_string),
        // The project path is one URL-encoded segment; a raw `/` would be another route.
        Flavor::GitLab => api_path
            .strip_prefix("/projects/")
            .and_then(|p| p.strip_suffix("/releases"))
            .filter(|p| !p.contains('/'))
            .map(percent_decode),
    };
    let Some(project) = project else {
        return Response::not_found();
    };
    let releases: Vec<&Release> = state
        .releases
        .iter()
        .rev()
        .filter(|r| r.project == project)
        .collect();
    if releases.is_empty() {
        return Response::not_found();
    }
    releases_page(state, &releases, path, query, base, files_base, if_none_match)
}

fn releases_page(
    state: &State,
    releases: &[&Release],
    path: &str,
    query: &str,
    base: &str,
    files_base: &str,
    if_none_match: Option<&String>,
) -> Response {
    let flavor = state.flavor;
    let (max, default) = flavor.page_limits();
    let size_param = if flavor == Flavor::Gitea {
        "limit"
    } else {
        "per_page"
    };
    let per_page = query_param(query, size_param)
        .unwrap_or(default)
        .clamp(1, max)
        .min(state.page_size);
    let page = query_param(query, "page").unwrap_or(1).max(1);
    let pages = releases.len().div_ceil(per_page);
    let items: Vec<Value> = releases
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|release| release_json(flavor, base, files_base, release))
        .collect();
    let body = serde_json::to_vec(&Value::Array(items)).unwrap();
    let etag = format!("W/\"{}\"", &sha256_hex(&body)[..32]);
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ),
        ("ETag".to_string(), etag.clone()),
    ];
    let reset = (now() + 3600).to_string();
    let used = state.log.len() + 1;
    match flavor {
        Flavor::GitLab => {
            headers.push(("RateLimit-Limit".into(), "2000".into()));
            headers.push(("RateLimit-Remaining".into(), (2000 - used.min(1999)).to_string()));
            headers.push(("RateLimit-Reset".into(), reset));
        }
        _ => {
            headers.push(("X-RateLimit-Limit".into(), "5000".into()));
            headers.push((
                "X-RateLimit-Remaining".into(),
                (5000 - used.min(4999)).to_string(),
            ));
            headers.push(("X-RateLimit-Reset".into(), reset));
        }
    }
    let page_url = |n: usize| format!("{base}{path}?{size_param}={per_page}&page={n}");
    match flavor {
        // GitLab paginates with headers; this one leaves out `Link`, as GitLab does for large
        // collections, so the client has to read `X-Next-Page` (empty on the last page).
        Flavor::GitLab => {
            let next = if page < pages {
                (page + 1).to_string()
            } else {
                String::new()
            };
            headers.push(("X-Next-Page".into(), next));
            headers.push(("X-Page".into(), page.to_string()));
            headers.push(("X-Per-Page".into(), per_page.to_string()));
            headers.push(("X-Total".into(), releases.len().to_string()));
            headers.push(("X-Total-Pages".into(), pages.to_string()));
        }
        Flavor::GitHub | Flavor::Gitea => {
            let mut links = Vec::new();
            if page < pages {
                links.push(format!("<{}>; rel=\"next\"", page_url(page + 1)));
                links.push(format!("<{}>; rel=\"last\"", page_url(pages)));
            }
            if page > 1 {
                links.push(format!("<{}>; rel=\"prev\"", page_url(page - 1)));
                links.push(format!("<{}>; rel=\"first\"", page_url(1)));
            }
            if !links.is_empty() {
                headers.push(("Link".into(), links.join(", ")));
            }
            if flavor == Flavor::Gitea {
                headers.push(("X-Total-Count".into(), releases.len().to_string()));
            }
        }
    }
    if if_none_match == Some(&etag) {
        return Response {
            status: 304,
            headers: headers
                .into_iter()
                .filter(|(name, _)| name != "Content-Type")
                .collect(),
            body: Vec::new(),
        };
    }
    Response {
        status: 200,
        headers,
        body,
    }
}

fn release_json(flavor: Flavor, base: &str, files_base: &str, release: &Release) -> Value {
    let url = |asset: &Asset| {
        asset_url(
            flavor,
            base,
            files_base,
            &release.project,
            &release.tag,
            &asset.name,
        )
    };
    match flavor {
        Flavor::GitHub => {
            let assets: Vec<Value> = release
                .assets
                .iter()
                .enumerate()
                .map(|(id, asset)| {
                    let mut value = json!({
                        "url": format!("{base}/repos/{}/releases/assets/{id}", release.project),
                        "id": id,
                        "name": asset.name,
                        "label": "",
                        "content_type": "application/octet-stream",
                        "state": "uploaded",
                        "size": asset.bytes.len(),
                        "download_count": 7,
                        "browser_download_url": url(asset),
                    });
                    if asset.digest {
                        value["digest"] = json!(format!("sha256:{}", sha256_hex(&asset.bytes)));
                    }
                    value
                })
                .collect();
            json!({
                "url": format!("{base}/repos/{}/releases/1", release.project),
                "tag_name": release.tag,
                "name": release.tag,
                "draft": release.draft,
                "prerelease": release.prerelease,
                "tarball_url": format!("{base}/repos/{}/tarball/{}", release.project, release.tag),
                "zipball_url": format!("{base}/repos/{}/zipball/{}", release.project, release.tag),
                "assets": assets,
            })
        }
        Flavor::Gitea => {
            let assets: Vec<Value> = release
                .assets
                .iter()
                .enumerate()
                .map(|(id, asset)| {
                    json!({
                        "id": id,
                        "name": asset.name,
                        "size": asset.bytes.len(),
                        "download_count": 3,
                        "uuid": format!("00000000-0000-0000-0000-{id:012}"),
                        "browser_download_url": url(asset),
                    })
                })
                .collect();
            json!({
                "id": 1,
                "tag_name": release.tag,
                "name": release.tag,
                "draft": release.draft,
                "prerelease": release.prerelease,
                "tarball_url": format!("{base}/{}/archive/{}.tar.gz", release.project, release.tag),
                "zipball_url": format!("{base}/{}/archive/{}.zip", release.project, release.tag),
                "assets": assets,
            })
        }
        Flavor::GitLab => {
            let links: Vec<Value> = release
                .assets
                .iter()
                .enumerate()
                .map(|(id, asset)| {
                    json!({
                        "id": id,
                        "name": asset.name,
                        "url": file_url(files_base, &release.project, &release.tag, &asset.name),
                        "direct_asset_url": url(asset),
                        "link_type": "package",
                    })
                })
                .collect();
            // Source archives are listed too; they are not release files.
            let sources: Vec<Value> = ["zip", "tar.gz", "tar.bz2", "tar"]
                .iter()
                .map(|format| {
                    let name = release.project.rsplit('/').next().unwrap_or_default();
                    json!({
                        "format": format,
                        "url": format!("{base}/{}/-/archive/{}/{name}-{}.{format}", release.project, release.tag, release.tag),
                    })
                })
                .collect();
            json!({
                "name": release.tag,
                "tag_name": release.tag,
                "upcoming_release": release.prerelease,
                "released_at": "2024-01-15T10:00:00.000Z",
                "assets": { "count": links.len() + sources.len(), "sources": sources, "links": links },
            })
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn respond(mut stream: TcpStream, method: &str, response: Response) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // A HEAD response says how long the body would be and sends none.
    if method != "HEAD" && response.status != 304 {
        stream.write_all(&response.body)?;
    }
    stream.flush()
}

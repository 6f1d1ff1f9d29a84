//! A fake ghcr.io for Homebrew bottles: two loopback servers, as the real registry is.
//!
//! The registry (`/v2/homebrew/core/<repo>/…`) answers manifests with an OCI image index whose
//! per-tag descriptors carry the annotations `brew` writes (`org.opencontainers.image.ref.name`
//! = `<version>.<tag>`, `sh.brew.bottle.digest`, `sh.brew.bottle.size`, `sh.brew.tab`, …), and
//! answers a blob with a 307 to the storage host, which serves the bytes. Both want what ghcr
//! wants: the registry a `Authorization: Bearer QQ==` (401 otherwise), the storage host none at
//! all (a request carrying one is answered 400 and recorded as a leak). Faults can be injected
//! on either host; every request is logged with its `Authorization` and `Range`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::server::{fault_head, respond};
use super::Fault;

/// The token ghcr hands anonymous clients for public images, as `brew` sends it.
pub const ANONYMOUS: &str = "Bearer QQ==";

/// The registry's path for Homebrew core, under which each formula is a repository.
pub const CORE: &str = "/v2/homebrew/core";

/// Which of the two servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Registry,
    Storage,
}

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct GhcrRequest {
    pub host: Host,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub authorization: Option<String>,
    pub range: Option<String>,
    pub accept: Option<String>,
}

/// A bottle to serve.
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    version: String,
    tag: String,
    bytes: Vec<u8>,
    cellar: String,
}

/// A served bottle: what a lock needs to name it.
#[derive(Debug, Clone)]
pub struct Blob {
    pub name: String,
    pub version: String,
    pub tag: String,
    pub cellar: String,
    /// The formula's repository under [`CORE`] (`openssl/3` for `openssl@3`).
    pub repo: String,
    /// `<base>/<repo>/blobs/sha256:<hex>`, as formula records name bottles.
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

/// The repository Homebrew pushes a formula's bottles to: `@` becomes `/` and `+` becomes `x`
/// (`image_formula_name` in brew's `github_packages.rb`).
pub fn repo_of(formula: &str) -> String {
    formula.replace('@', "/").replace('+', "x")
}

/// Builds a [`GhcrServer`].
#[derive(Debug, Default)]
pub struct Ghcr {
    specs: Vec<Spec>,
    storage_hops: usize,
}

impl Ghcr {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serve `bytes` as `name`'s bottle for `tag` (`x86_64_linux`, `arm64_sonoma`, `all`) at
    /// `version` (the package version, `3.3.2_1`); `cellar` is `:any`, `:any_skip_relocation`
    /// or a path.
    pub fn bottle(mut self, name: &str, version: &str, tag: &str, bytes: Vec<u8>, cellar: &str) -> Self {
        self.specs.push(Spec {
            name: name.to_string(),
            version: version.to_string(),
            tag: tag.to_string(),
            bytes,
            cellar: cellar.to_string(),
        });
        self
    }

    /// The storage host redirects each blob request to itself this many times before serving
    /// it, as a CDN may: a client that puts the token back on a same-host hop shows up as a leak.
    pub fn storage_hops(mut self, hops: usize) -> Self {
        self.storage_hops = hops;
        self
    }

    pub fn start(self) -> GhcrServer {
        let storage = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let registry = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let storage_addr = storage.local_addr().unwrap();
        let registry_addr = registry.local_addr().unwrap();
        let base = format!("http://{registry_addr}{CORE}");
        let blobs: Vec<Blob> = self
            .specs
            .iter()
            .map(|spec| Blob {
                name: spec.name.clone(),
                version: spec.version.clone(),
                tag: spec.tag.clone(),
                cellar: spec.cellar.clone(),
                repo: repo_of(&spec.name),
                url: format!(
                    "{base}/{}/blobs/sha256:{}",
                    repo_of(&spec.name),
                    sha256(&spec.bytes)
                ),
                sha256: sha256(&spec.bytes),
                size: spec.bytes.len() as u64,
            })
            .collect();
        let shared = Arc::new(Shared {
            documents: documents(&self.specs),
            bytes: self
                .specs
                .iter()
                .map(|spec| (sha256(&spec.bytes), spec.bytes.clone()))
                .collect(),
            storage: storage_addr,
            storage_hops: self.storage_hops,
            state: Mutex::new(State::default()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        for (listener, host) in [(registry, Host::Registry), (storage, Host::Storage)] {
            let (shared, stop) = (shared.clone(), stop.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    thread::spawn(move || {
                        let _ = handle(stream, host, &shared);
                    });
                }
            });
        }
        GhcrServer {
            registry: registry_addr,
            storage: storage_addr,
            shared,
            stop,
            blobs,
        }
    }
}

#[derive(Debug)]
struct Injected {
    host: Host,
    path_contains: String,
    remaining: usize,
    fault: Fault,
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<Injected>,
    log: Vec<GhcrRequest>,
}

struct Shared {
    /// Registry paths (`/v2/…/manifests/…`) → (media type, body).
    documents: BTreeMap<String, (String, Vec<u8>)>,
    /// Blob digests → bytes.
    bytes: BTreeMap<String, Vec<u8>>,
    storage: SocketAddr,
    storage_hops: usize,
    state: Mutex<State>,
}

pub struct GhcrServer {
    registry: SocketAddr,
    storage: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    blobs: Vec<Blob>,
}

impl GhcrServer {
    /// The base to put in `VELO_HOMEBREW_BOTTLE_URL`: `http://127.0.0.1:PORT/v2/homebrew/core`.
    pub fn url(&self) -> String {
        format!("http://{}{CORE}", self.registry)
    }

    /// The storage host's origin, `http://127.0.0.1:PORT`.
    pub fn storage_url(&self) -> String {
        format!("http://{}", self.storage)
    }

    /// Every bottle served, in the order they were added.
    pub fn blobs(&self) -> &[Blob] {
        &self.blobs
    }

    /// `name`'s bottle for `tag`.
    pub fn blob(&self, name: &str, tag: &str) -> &Blob {
        self.blobs
            .iter()
            .find(|blob| blob.name == name && blob.tag == tag)
            .unwrap_or_else(|| panic!("no bottle {name} {tag}"))
    }

    /// Apply `fault` to the next `times` requests to `host` whose path contains `path_contains`.
    /// On the storage host, [`Fault::Truncate`] drops the connection halfway through the body.
    pub fn inject(&self, host: Host, path_contains: &str, times: usize, fault: Fault) {
        self.shared.state.lock().unwrap().faults.push(Injected {
            host,
            path_contains: path_contains.to_string(),
            remaining: times,
            fault,
        });
    }

    pub fn log(&self) -> Vec<GhcrRequest> {
        self.shared.state.lock().unwrap().log.clone()
    }

    pub fn requests(&self, host: Host) -> Vec<GhcrRequest> {
        self.log().into_iter().filter(|r| r.host == host).collect()
    }

    /// Requests to the storage host that carried an `Authorization` header (it answered 400).
    pub fn leaks(&self) -> Vec<GhcrRequest> {
        self.requests(Host::Storage)
            .into_iter()
            .filter(|r| r.authorization.is_some())
            .collect()
    }

    pub fn clear_log(&self) {
        self.shared.state.lock().unwrap().log.clear();
    }
}

impl Drop for GhcrServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.registry);
        let _ = TcpStream::connect(self.storage);
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// OCI platform fields for a bottle tag, as brew derives them from the tab.
fn platform(tag: &str) -> (Value, &'static str) {
    let macos = |arch: &str, version: &str| json!({ "architecture": arch, "os": "darwin", "os.version": format!("macOS {version}") });
    let (arch, mac) = match tag.strip_prefix("arm64_") {
        Some(rest) => ("arm64", rest),
        None => ("amd64", tag),
    };
    let version = match mac {
        "tahoe" => "26",
        "sequoia" => "15",
        "sonoma" => "14",
        "ventura" => "13",
        "monterey" => "12",
        "big_sur" => "11",
        _ => "",
    };
    match tag {
        "x86_64_linux" => (
            json!({ "architecture": "amd64", "os": "linux", "os.version": "Ubuntu 22.04" }),
            "x86_64",
        ),
        "arm64_linux" => (
            json!({ "architecture": "arm64", "os": "linux", "os.version": "Ubuntu 22.04" }),
            "arm64",
        ),
        _ if !version.is_empty() => (
            macos(arch, version),
            if arch == "arm64" { "arm64" } else { "x86_64" },
        ),
        _ => (macos("arm64", "14"), "arm64"),
    }
}

/// The manifests each formula version is reachable by: its image index under the version and,
/// under each per-tag digest, that tag's image manifest.
fn documents(specs: &[Spec]) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut versions: BTreeMap<(String, String), Vec<&Spec>> = BTreeMap::new();
    for spec in specs {
        versions
            .entry((spec.name.clone(), spec.version.clone()))
            .or_default()
            .push(spec);
    }
    let mut documents = BTreeMap::new();
    for ((name, version), specs) in versions {
        let repo = repo_of(&name);
        let formula = json!({
            "com.github.package.type": "homebrew_bottle",
            "org.opencontainers.image.created": "2024-09-01T00:00:00+00:00",
            "org.opencontainers.image.description": format!("{name}, a formula made by the tests"),
            "org.opencontainers.image.documentation": format!("https://formulae.brew.sh/formula/{name}"),
            "org.opencontainers.image.license": "MIT",
            "org.opencontainers.image.ref.name": version,
            "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
            "org.opencontainers.image.source": format!("https://github.com/Homebrew/homebrew-core/blob/HEAD/Formula/{name}.rb"),
            "org.opencontainers.image.title": name,
            "org.opencontainers.image.url": "https://example.com",
            "org.opencontainers.image.vendor": "homebrew",
            "org.opencontainers.image.version": version,
        });
        let mut manifests = Vec::new();
        for spec in specs {
            let (platform, arch) = platform(&spec.tag);
            let linux = spec.tag.ends_with("_linux");
            let tab = json!({
                "homebrew_version": "4.4.0",
                "changed_files": [],
                "source_modified_time": 0,
                "compiler": if linux { "gcc-11" } else { "clang" },
                "runtime_dependencies": [],
                "arch": arch,
                "built_on": if linux {
                    json!({ "os": "Linux", "os_version": "Ubuntu 22.04", "cpu_family": "haswell", "glibc_version": "2.35" })
                } else {
                    json!({ "os": "Macintosh", "os_version": platform["os.version"] })
                },
            });
            let sha = sha256(&spec.bytes);
            let mut descriptor = json!({
                "org.opencontainers.image.ref.name": format!("{version}.{}", spec.tag),
                "sh.brew.bottle.digest": sha,
                "sh.brew.bottle.size": spec.bytes.len().to_string(),
                "sh.brew.tab": tab.to_string(),
            });
            if linux {
                descriptor["sh.brew.bottle.cpu.variant"] = json!("haswell");
                descriptor["sh.brew.bottle.glibc.version"] = json!("2.35");
            }
            let config = serde_json::to_vec_pretty(&json!({
                "architecture": platform["architecture"],
                "os": platform["os"],
                "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{sha}")] },
            }))
            .unwrap();
            let mut annotations = formula.clone();
            for (key, value) in descriptor.as_object().unwrap() {
                annotations[key] = value.clone();
            }
            annotations["org.opencontainers.image.title"] = json!(format!("{name} {version}.{}", spec.tag));
            let image = serde_json::to_vec_pretty(&json!({
                "schemaVersion": 2,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": format!("sha256:{}", sha256(&config)),
                    "size": config.len(),
                },
                "layers": [{
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": format!("sha256:{sha}"),
                    "size": spec.bytes.len(),
                    "annotations": {
                        "org.opencontainers.image.title": format!("{name}--{version}.{}.bottle.tar.gz", spec.tag),
                    },
                }],
                "annotations": annotations,
            }))
            .unwrap();
            let digest = format!("sha256:{}", sha256(&image));
            manifests.push(json!({
                "mediaType": MANIFEST,
                "digest": digest,
                "size": image.len(),
                "platform": platform,
                "annotations": descriptor,
            }));
            documents.insert(
                format!("{CORE}/{repo}/manifests/{digest}"),
                (MANIFEST.to_string(), image),
            );
        }
        let index = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "manifests": manifests,
            "annotations": formula,
        }))
        .unwrap();
        documents.insert(
            format!("{CORE}/{repo}/manifests/{version}"),
            (INDEX.to_string(), index),
        );
    }
    documents
}

struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    range: Option<String>,
    accept: Option<String>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut request = Request {
        method,
        path,
        authorization: None,
        range: None,
        accept: None,
    };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = Some(value.trim().to_string());
            match name.trim().to_ascii_lowercase().as_str() {
                "authorization" => request.authorization = value,
                "range" => request.range = value,
                "accept" => request.accept = value,
                _ => {}
            }
        }
    }
    Ok(request)
}

fn handle(mut stream: TcpStream, host: Host, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = read_request(&stream)?;
    let log = |status: u16| {
        shared.state.lock().unwrap().log.push(GhcrRequest {
            host,
            method: request.method.clone(),
            path: request.path.clone(),
            status,
            authorization: request.authorization.clone(),
            range: request.range.clone(),
            accept: request.accept.clone(),
        });
    };
    let fault = {
        let mut state = shared.state.lock().unwrap();
        state
            .faults
            .iter_mut()
            .find(|f| f.host == host && f.remaining > 0 && request.path.contains(&f.path_contains))
            .map(|f| {
                f.remaining -= 1;
                f.fault.clone()
            })
    };
    match &fault {
        Some(Fault::Status(status)) => {
            log(*status);
            return respond(&mut stream, *status, &[], b"");
        }
        Some(Fault::RateLimit { retry_after }) => {
            log(429);
            return respond(&mut stream, 429, &[("Retry-After", retry_after.to_string())], b"");
        }
        Some(Fault::Slow(delay)) => thread::sleep(*delay),
        _ => {}
    }
    let head = request.method == "HEAD";
    let path = request.path.split('?').next().unwrap_or("").to_string();
    match host {
        Host::Registry => {
            if path == "/token" {
                log(200);
                return respond(&mut stream, 200, &json_type(), br#"{"token":"QQ=="}"#);
            }
            if request.authorization.as_deref() != Some(ANONYMOUS) {
                log(401);
                let challenge = format!(
                    "Bearer realm=\"http://{}/token\",service=\"ghcr.io\",scope=\"repository:homebrew/core:pull\"",
                    stream.local_addr()?
                );
                let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
                return respond(&mut stream, 401, &[("WWW-Authenticate", challenge)], body);
            }
            if let Some((media_type, body)) = shared.documents.get(&path) {
                log(200);
                let headers = [
                    ("Content-Type", media_type.clone()),
                    ("Docker-Content-Digest", format!("sha256:{}", sha256(body))),
                ];
                if head {
                    stream.write_all(fault_head(200, body.len(), &headers).as_bytes())?;
                    return stream.flush();
                }
                return respond(&mut stream, 200, &headers, body);
            }
            if let Some(digest) = path
                .strip_prefix(CORE)
                .and_then(|rest| rest.rsplit_once("/blobs/sha256:"))
                .map(|(_, digest)| digest.to_string())
                .filter(|digest| shared.bytes.contains_key(digest))
            {
                log(307);
                let location = format!(
                    "http://{}/ghcr1/blobs/sha256:{digest}?se=2030-01-01T00%3A00%3A00Z&sig=fake",
                    shared.storage
                );
                return respond(&mut stream, 307, &[("Location", location)], b"");
            }
            log(404);
            let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
            respond(&mut stream, 404, &json_type(), body)
        }
        Host::Storage => {
            if request.authorization.is_some() {
                log(400);
                return respond(&mut stream, 400, &[], b"the storage host takes no Authorization");
            }
            let hop: usize = request
                .path
                .split_once("hop=")
                .and_then(|(_, n)| n.split('&').next()?.parse().ok())
                .unwrap_or(0);
            let Some(bytes) = path
                .strip_prefix("/ghcr1/blobs/sha256:")
                .and_then(|digest| shared.bytes.get(digest))
            else {
                log(404);
                return respond(&mut stream, 404, &[], b"not found");
            };
            if hop < shared.storage_hops {
                log(307);
                let location = format!("{path}?hop={}&sig=fake", hop + 1);
                return respond(&mut stream, 307, &[("Location", location)], b"");
            }
            serve_bytes(&mut stream, &request, bytes, fault, head, log)
        }
    }
}

fn json_type() -> [(&'static str, String); 1] {
    [("Content-Type", "application/json".to_string())]
}

/// The blob, or its tail for `Range: bytes=N-`, cut in half when the fault says so.
fn serve_bytes(
    stream: &mut TcpStream,
    request: &Request,
    bytes: &[u8],
    fault: Option<Fault>,
    head: bool,
    log: impl Fn(u16),
) -> std::io::Result<()> {
    let mut status = 200;
    let mut headers = vec![("Content-Type", "application/octet-stream".to_string())];
    let mut content = bytes;
    if let Some(start) = request
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.trim().parse::<usize>().ok())
    {
        if start >= bytes.len() {
            log(416);
            return respond(
                stream,
                416,
                &[("Content-Range", format!("bytes */{}", bytes.len()))],
                b"",
            );
        }
        status = 206;
        headers.push((
            "Content-Range",
            format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()),
        ));
        content = &bytes[start..];
    }
    log(status);
    if let Some(Fault::Truncate | Fault::Stall(_)) = fault {
        stream.write_all(fault_head(status, content.len(), &headers).as_bytes())?;
        stream.write_all(&content[..content.len() / 2])?;
        stream.flush()?;
        if let Some(Fault::Stall(delay)) = fault {
            thread::sleep(delay);
        }
        return Ok(());
    }
    if head {
        stream.write_all(fault_head(status, content.len(), &headers).as_bytes())?;
        return stream.flush();
    }
    respond(stream, status, &headers, content)
}

//! A small HTTP/1.1 file server on 127.0.0.1 with ETags, `Range: bytes=N-` and fault injection.
//!
//! Written by hand rather than with a framework so that faults are exact: a body cut short
//! after its `Content-Length` was promised, a response that stalls, a 429 with `Retry-After`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// What to do instead of serving a request normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    RateLimit { retry_after: u64 },
    /// Promise the whole body, send half, close the connection.
    Truncate,
    /// Wait this long before answering.
    Slow(Duration),
    /// Promise the whole body, send half, then hold the connection open this long before
    /// closing it. The request is logged as soon as the half is sent, so a test can tell that
    /// the client is in the middle of the download.
    Stall(Duration),
    /// Send the body in `pieces` parts, waiting `every` before each: slow but steady.
    Trickle { pieces: usize, every: Duration },
}

#[derive(Debug, Clone)]
struct Injected {
    path_contains: String,
    remaining: usize,
    fault: Fault,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub status: u16,
    pub conditional: bool,
    /// The `Range` header, when the request carried one.
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    /// Absolute URLs requested through this server acting as a proxy.
    proxied: Vec<String>,
    faults: Vec<Injected>,
    log: Vec<Logged>,
}

pub struct FixtureServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl FixtureServer {
    /// Serve the files under `root` on a free loopback port.
    pub fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (state, root) = (state2.clone(), root.clone());
                thread::spawn(move || {
                    let _ = handle(stream, &root, &state);
                });
            }
        });
        Self { addr, state, stop }
    }

    /// The server's base URL, ending in `/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Apply `fault` to the next `times` requests whose path contains `path_contains`.
    pub fn inject(&self, path_contains: &str, times: usize, fault: Fault) {
        self.state.lock().unwrap().faults.push(Injected {
            path_contains: path_contains.to_string(),
            remaining: times,
            fault,
        });
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    /// Requests so far whose path contains `part`.
    pub fn requests_to(&self, part: &str) -> Vec<Logged> {
        self.log().into_iter().filter(|r| r.path.contains(part)).collect()
    }

    /// The absolute URLs clients asked for with this server as their proxy.
    pub fn proxied(&self) -> Vec<String> {
        self.state.lock().unwrap().proxied.clone()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn handle(stream: TcpStream, root: &std::path::Path, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    // A client talking to a proxy sends the absolute URL (`GET http://host/path`); serve it
    // the same way, and record that it came through as a proxy request.
    let proxied = target.starts_with("http://");
    let path = match target
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
    {
        Some(path) => path.to_string(),
        None => target.to_string(),
    };
    if proxied {
        state.lock().unwrap().proxied.push(target.to_string());
    }
    let mut if_none_match = None;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("if-none-match") {
                if_none_match = Some(value.trim().to_string());
            }
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }

    let fault = {
        let mut state = state.lock().unwrap();
        state
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && path.contains(&f.path_contains))
            .map(|f| {
                f.remaining -= 1;
                f.fault.clone()
            })
    };
    let log = |status: u16| {
        state.lock().unwrap().log.push(Logged {
            path: path.clone(),
            status,
            conditional: if_none_match.is_some(),
            range: range.clone(),
        });
    };
    let mut stream = stream;
    match fault {
        Some(Fault::Status(status)) => {
            log(status);
            return respond(&mut stream, status, &[], b"");
        }
        Some(Fault::RateLimit { retry_after }) => {
            log(429);
            return respond(&mut stream, 429, &[("Retry-After", retry_after.to_string())], b"");
        }
        Some(Fault::Slow(delay)) => thread::sleep(delay),
        Some(Fault::Truncate | Fault::Stall(_) | Fault::Trickle { .. }) | None => {}
    }

    let relative = path.split('?').next().unwrap_or("").trim_start_matches('/');
    if relative.split('/').any(|part| part == "..") {
        log(400);
        return respond(&mut stream, 400, &[], b"");
    }
    let Ok(body) = std::fs::read(root.join(relative)) else {
        log(404);
        return respond(&mut stream, 404, &[], b"not found");
    };
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..16]);
    if if_none_match.as_deref() == Some(etag.as_str()) {
        log(304);
        return respond(&mut stream, 304, &[("ETag", etag)], b"");
    }
    // `Range: bytes=N-` (the only form a resuming client sends): the tail from byte N.
    let mut status = 200;
    let mut headers = vec![("ETag", etag)];
    let mut content = body.as_slice();
    if let Some(start) = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.trim().parse::<usize>().ok())
    {
        if start >= body.len() {
            log(416);
            let unsatisfied = format!("bytes */{}", body.len());
            return respond(&mut stream, 416, &[("Content-Range", unsatisfied)], b"");
        }
        status = 206;
        headers.push((
            "Content-Range",
            format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
        ));
        content = &body[start..];
    }
    if let Some(Fault::Trickle { pieces, every }) = fault {
        log(status);
        stream.write_all(fault_head(status, content.len(), &headers).as_bytes())?;
        stream.flush()?;
        for piece in content.chunks(content.len().div_ceil(pieces.max(1)).max(1)) {
            thread::sleep(every);
            stream.write_all(piece)?;
            stream.flush()?;
        }
        return Ok(());
    }
    if let Some(Fault::Truncate | Fault::Stall(_)) = fault {
        if matches!(fault, Some(Fault::Truncate)) {
            log(status);
        }
        stream.write_all(fault_head(status, content.len(), &headers).as_bytes())?;
        stream.write_all(&content[..content.len() / 2])?;
        stream.flush()?;
        if let Some(Fault::Stall(delay)) = fault {
            log(status);
            thread::sleep(delay);
        }
        return Ok(());
    }
    log(status);
    respond(&mut stream, status, &headers, content)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        304 => "Not Modified",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

pub(super) fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    // Drain anything left so the client sees a clean close.
    let _ = stream.read(&mut [0u8; 0]);
    Ok(())
}

/// The status line and headers of a faulty reply (which closes the connection after it).
pub(super) fn fault_head(status: u16, length: usize, headers: &[(&str, String)]) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {length}\r\nConnection: close\r\n",
        reason(status)
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

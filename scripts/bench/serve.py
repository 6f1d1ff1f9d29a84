#!/usr/bin/env python3
"""A small threaded HTTP server for a static velo index, on loopback only.

Usage:
    serve.py DIR [PORT] [--log]

Serves the files under DIR on http://127.0.0.1:PORT/ (PORT 0, the default, picks
a free port). The first line printed on stdout is the port number, so a script can
read it; the server then runs until killed.

Caching behaviour (what a client's metadata cache is measured against):
  * every 200 carries a strong ETag (the sha256 of the file's content, quoted) and
    Content-Length;
  * `If-None-Match` with a matching tag (or `*`) gets 304 Not Modified, no body;
  * `Cache-Control: no-cache` and no max-age: a client may store a response but must
    revalidate it before each use.

Also answers GET /__bench/stats with request counters as JSON (status code ->
count, plus the number of bytes of bodies sent) and POST /__bench/reset to zero
them, so a benchmark can count the requests one run made.

Only binds 127.0.0.1. Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import posixpath
import sys
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATS_PATH = "/__bench/stats"
RESET_PATH = "/__bench/reset"

CONTENT_TYPES = {
    ".json": "application/json",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".zip": "application/zip",
}


class State:
    def __init__(self, root: Path, log: bool):
        self.root = root
        self.log = log
        self.lock = threading.Lock()
        # path -> ((mtime_ns, size, ino), etag, body); files are small and the
        # benchmark wants the server out of the way, so keep bodies in memory.
        self.cache: dict[str, tuple[tuple[int, int, int], str, bytes]] = {}
        self.counts: dict[str, int] = {}
        self.bytes_sent = 0

    def count(self, status: int, nbytes: int) -> None:
        with self.lock:
            key = str(status)
            self.counts[key] = self.counts.get(key, 0) + 1
            self.bytes_sent += nbytes

    def load(self, path: str) -> tuple[str, bytes] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not os.path.isfile(path):
            return None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self.lock:
            hit = self.cache.get(path)
        if hit and hit[0] == key:
            return hit[1], hit[2]
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError:
            return None
        etag = '"' + hashlib.sha256(body).hexdigest() + '"'
        with self.lock:
            self.cache[path] = (key, etag, body)
        return etag, body


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2)."""
    header = header.strip()
    if header == "*":
        return True
    want = etag.removeprefix("W/")
    for tag in header.split(","):
        if tag.strip().removeprefix("W/") == want:
            return True
    return False


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the
        # client's delayed ACK add ~40 ms to every response on a kept-alive connection.
        disable_nagle_algorithm = True
        server_version = "velo-bench-serve/1"

        def version_string(self) -> str:
            return self.server_version

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            if state.log:
                super().log_message(format, *args)

        def fs_path(self) -> str | None:
            raw = urllib.parse.urlsplit(self.path).path
            path = posixpath.normpath(urllib.parse.unquote(raw))
            parts = [p for p in path.split("/") if p]
            if any(p in (".", "..") or "\\" in p or "\0" in p for p in parts):
                return None
            return os.path.join(state.root, *parts)

        def send_simple(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            state.count(status, len(body))

        def do_GET(self) -> None:
            self.serve(head=False)

        def do_HEAD(self) -> None:
            self.serve(head=True)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if urllib.parse.urlsplit(self.path).path == RESET_PATH:
                with state.lock:
                    state.counts.clear()
                    state.bytes_sent = 0
                body = b"{}\n"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_simple(405, b"method not allowed\n")

        def serve(self, head: bool) -> None:
            if urllib.parse.urlsplit(self.path).path == STATS_PATH:
                with state.lock:
                    body = json.dumps({"status": state.counts,
                                       "bytes_sent": state.bytes_sent}).encode() + b"\n"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                return
            path = self.fs_path()
            loaded = state.load(path) if path else None
            if loaded is None:
                self.send_simple(404, b"not found\n")
                return
            etag, body = loaded
            inm = self.headers.get("If-None-Match")
            if inm is not None and etag_matches(inm, etag):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Cache-Control", state.cache_control)
                self.end_headers()
                state.count(304, 0)
                return
            self.send_response(200)
            ext = os.path.splitext(path)[1]
            self.send_header("Content-Type", CONTENT_TYPES.get(ext, "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", state.cache_control)
            self.end_headers()
            if not head:
                self.wfile.write(body)
            state.count(200, 0 if head else len(body))

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("port", type=int, nargs="?", default=0)
    ap.add_argument("--log", action="store_true", help="log every request to stderr")
    ap.add_argument("--max-age", type=int, default=0,
                    help="send Cache-Control: max-age=N (as static hosts do) instead of no-cache")
    a = ap.parse_args(argv)
    root = a.dir.resolve()
    if not root.is_dir():
        ap.error(f"{root} is not a directory")
    state = State(root, a.log)
    state.cache_control = f"max-age={a.max_age}" if a.max_age > 0 else "no-cache"
    httpd = Server(("127.0.0.1", a.port), make_handler(state))
    print(httpd.server_address[1], flush=True)
    print(f"serving {root} on http://127.0.0.1:{httpd.server_address[1]}/",
          file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

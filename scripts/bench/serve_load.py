#!/usr/bin/env python3
"""Load helpers for serve.sh, the `velo serve` benchmark. Python 3.11 standard library only.

Subcommands:
    negotiate  POST one negotiation for COUNT keys (all uploads or all downloads), check that
               every item got the expected status, and write a curl config (`curl --parallel
               -K FILE`) that moves the bytes through the URLs and headers the server answered.
    check      check a curl --write-out log from such a config: one line per transfer, every
               status as expected, every byte accounted for; prints the total bytes.
    body       write a negotiation body (`one`: a download of a missing key; `mixed`: 100 items,
               25 each of download-present, download-missing, upload-present, upload-missing),
               the wrk Lua script that POSTs it, and (with --server) POST it once to check the
               statuses.
    snap       print a CPU snapshot of a process as JSON: utime+stime from /proc/PID/stat (clock
               ticks) and the per-thread run time from /proc/PID/task/*/schedstat (ns).
    procs      print a snapshot of every process's name, utime+stime and start time (ticks) as
               JSON, to see who else used the CPU during a phase.

Keys are deterministic: key(label, i) = sha256("label:i") in hex (64 digits), so the shell and
this helper agree on which keys exist without passing lists around.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

WRITE_OUT = r"%{http_code} %{size_upload} %{size_download} %{time_total}\n"


def key(label: str, i: int) -> str:
    return hashlib.sha256(f"{label}:{i}".encode()).hexdigest()


def post(server: str, token: str, body: bytes) -> tuple[dict, float]:
    request = urllib.request.Request(
        server.rstrip("/") + "/v1/negotiate",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        answer = json.load(response)
    return answer, time.perf_counter() - started


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cmd_negotiate(args: argparse.Namespace) -> int:
    size = os.path.getsize(args.file) if args.file else args.size
    items = []
    for i in range(args.start, args.start + args.count):
        item = {"hash": key(args.label, i), "action": args.action}
        if args.action == "upload":
            item["size"] = size
        items.append(item)
    answer, seconds = post(args.server, args.token, json.dumps({"items": items}).encode())
    got = answer.get("items", [])
    statuses = Counter(item.get("status") for item in got)
    if len(got) != len(items) or statuses.get(args.expect, 0) != len(items):
        print(f"serve_load.py: expected {len(items)} x {args.expect}, got {dict(statuses)}", file=sys.stderr)
        return 1
    with open(args.config, "w") as out:
        for n, (want, item) in enumerate(zip(items, got)):
            if item["hash"] != want["hash"] or not item.get("url"):
                print(f"serve_load.py: bad answer item {item}", file=sys.stderr)
                return 1
            # `next` between blocks (not after the last: that would be a transfer with no URL).
            if n:
                out.write("next\n")
            out.write(f"url = {quote(item['url'])}\n")
            out.write("silent\nshow-error\n")
            for name, value in item.get("headers", {}).items():
                out.write(f"header = {quote(f'{name}: {value}')}\n")
            # No `Expect: 100-continue` round trip (and no 1 s wait where a server ignores it).
            out.write('header = "Expect:"\n')
            if args.action == "upload":
                out.write(f"upload-file = {quote(args.file)}\n")
                out.write('header = "Content-Type: application/octet-stream"\n')
            out.write('output = "/dev/null"\n')
            out.write(f"write-out = {quote(WRITE_OUT)}\n")
    print(json.dumps({"items": len(got), "statuses": dict(statuses), "seconds": round(seconds, 4)}))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    codes = {int(c) for c in args.codes.split(",")}
    lines = [line.split() for line in Path(args.log).read_text().splitlines() if line.strip()]
    bad = []
    total = 0
    seconds = []
    for fields in lines:
        code, up, down, t = int(fields[0]), int(fields[1]), int(fields[2]), float(fields[3])
        moved = up if args.direction == "up" else down
        if code not in codes or moved != args.bytes:
            bad.append(fields)
        total += moved
        seconds.append(t)
    if len(lines) != args.count or bad:
        print(
            f"serve_load.py: {args.log}: {len(lines)} transfers (want {args.count}), "
            f"{len(bad)} bad (want status in {sorted(codes)} and {args.bytes} bytes each): {bad[:3]}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps({"transfers": len(lines), "bytes": total, "max_transfer_s": max(seconds)}))
    return 0


LUA = """-- Generated by serve_load.py: POST one negotiation body, over and over.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.body = [==[%(body)s]==]

function done(summary, latency, requests)
  local e = summary.errors
  local f = assert(io.open("%(result)s", "w"))
  f:write(string.format(
    '{"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect_errors": %%d, "read_errors": %%d, ' ..
    '"write_errors": %%d, "status_errors": %%d, "timeouts": %%d, "p50_us": %%.1f, "p90_us": %%.1f, ' ..
    '"p99_us": %%.1f, "mean_us": %%.1f, "max_us": %%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
  f:close()
end
"""


def cmd_body(args: argparse.Namespace) -> int:
    if args.kind == "one":
        items = [{"hash": key("missing-download", 0), "action": "download"}]
        expect = {"missing": 1}
    else:
        # 100 items, interleaved: present keys 0..24 downloaded (found), 25..49 uploaded
        # (skipped); 25 missing downloads; 25 missing uploads (upload_needed, URL signed).
        items = []
        for i in range(25):
            items.append({"hash": key(args.present_label, i), "action": "download"})
            items.append({"hash": key("missing-download", i), "action": "download"})
            items.append({"hash": key(args.present_label, 25 + i), "action": "upload", "size": 1024})
            items.append({"hash": key("missing-upload", i), "action": "upload", "size": 1024})
        expect = {"found": 25, "missing": 25, "skipped": 25, "upload_needed": 25}
    body = json.dumps({"items": items}, separators=(",", ":"))
    Path(args.body).write_text(body)
    Path(args.lua).write_text(LUA % {"token": args.token, "body": body, "result": args.result})
    out = {"items": len(items), "body_bytes": len(body), "expect": expect}
    if args.server:
        answer, seconds = post(args.server, args.token, body.encode())
        got = dict(Counter(item["status"] for item in answer["items"]))
        out.update(statuses=got, seconds=round(seconds, 4), response_bytes=len(json.dumps(answer)))
        if got != expect:
            print(f"serve_load.py: {args.kind} negotiation: expected {expect}, got {got}", file=sys.stderr)
            return 1
    print(json.dumps(out))
    return 0


def stat_fields(pid: str) -> tuple[int, int, int]:
    """(utime, stime, starttime) in clock ticks, from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5) (state): utime is field 14, stime 15, starttime 22.
    return int(fields[11]), int(fields[12]), int(fields[19])


def stat_ticks(pid: str) -> int:
    utime, stime, _ = stat_fields(pid)
    return utime + stime


def cmd_snap(args: argparse.Namespace) -> int:
    threads = {}
    for task in Path(f"/proc/{args.pid}/task").iterdir():
        try:
            threads[task.name] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    utime, stime, _ = stat_fields(args.pid)
    print(
        json.dumps(
            {
                "ticks": utime + stime,
                "utime": utime,
                "stime": stime,
                "clk_tck": os.sysconf("SC_CLK_TCK"),
                "threads_ns": threads,
                "t": time.time(),
            }
        )
    )
    return 0


def cmd_procs(args: argparse.Namespace) -> int:
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            utime, stime, start = stat_fields(proc.name)
            out[proc.name] = [comm, utime + stime, start]
        except (OSError, ValueError):
            pass
    print(json.dumps({"t": time.time(), "self": str(os.getpid()), "procs": out}))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("negotiate")
    p.add_argument("--server", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--action", choices=["upload", "download"], required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--file", help="upload: the file every key's PUT sends (its size is declared)")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--expect", required=True, help="the status every item must get")
    p.add_argument("--config", required=True, help="the curl config to write")
    p.set_defaults(func=cmd_negotiate)

    p = sub.add_parser("check")
    p.add_argument("--log", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--codes", required=True, help="accepted HTTP statuses, comma-separated")
    p.add_argument("--bytes", type=int, required=True, help="bytes each transfer must move")
    p.add_argument("--direction", choices=["up", "down"], required=True)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("body")
    p.add_argument("--kind", choices=["one", "mixed"], required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--present-label", default="present")
    p.add_argument("--body", required=True)
    p.add_argument("--lua", required=True)
    p.add_argument("--result", required=True, help="where the Lua done() writes its JSON")
    p.add_argument("--server", help="POST the body once and check the statuses")
    p.set_defaults(func=cmd_body)

    p = sub.add_parser("snap")
    p.add_argument("pid")
    p.set_defaults(func=cmd_snap)

    p = sub.add_parser("procs")
    p.set_defaults(func=cmd_procs)

    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

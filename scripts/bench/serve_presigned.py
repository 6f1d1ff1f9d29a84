#!/usr/bin/env python3
"""Server CPU per GB for one workload against a running `velo serve`, measured exactly.

    python3 serve_presigned.py SERVER_URL LABEL SERVER_PID COUNT

Uploads then downloads COUNT artifacts (the bytes of ./a.bin, e.g. 10 MiB of random data)
through URLs from one negotiation per direction (4 transfers at once, `requests`), and prints
the server's CPU (the sum of its threads' /proc/PID/task/*/schedstat, in ns) per GB moved.
Point it at a server over an S3 store that keeps connections alive (Garage, MinIO) to measure
presigned mode the way production sees it, and at a local-driver server for the baseline; the
token is the bench's write token (`write ci-0123456789abcdef`). See results-serve.md.
"""
import os, sys, json, random, time, glob, requests, concurrent.futures as cf
server, label = sys.argv[1], sys.argv[2]
pid = int(sys.argv[3]); n = int(sys.argv[4])
H = {"Authorization": "Bearer ci-0123456789abcdef"}
data = open("a.bin", "rb").read()
def cpu():
    return sum(int(open(f).read().split()[0]) for f in glob.glob(f"/proc/{pid}/task/*/schedstat")) / 1e9
run = "%08x" % random.getrandbits(32)
keys = [run + "%056x" % i for i in range(n)]
s = requests.Session()
def negotiate(action):
    r = s.post(server + "/v1/negotiate", headers=H, json={"items": [{"hash": k, "action": action} for k in keys]})
    r.raise_for_status(); return r.json()["items"]
def put(item):
    h = dict(item.get("headers", {})); h["Content-Type"] = "application/octet-stream"
    r = requests.put(item["url"], data=data, headers=h); assert r.status_code in (200, 201), r.status_code
def get(item):
    r = requests.get(item["url"], headers=item.get("headers", {})); assert r.status_code == 200 and len(r.content) == len(data)
c0 = cpu()
items = negotiate("upload")
with cf.ThreadPoolExecutor(4) as ex: list(ex.map(put, items))
items = negotiate("download")
with cf.ThreadPoolExecutor(4) as ex: list(ex.map(get, items))
c1 = cpu()
gb = 2 * n * len(data) / 1e9
print(json.dumps({"label": label, "artifacts": n, "mb_each": len(data) / 1e6, "gb": round(gb, 3), "server_cpu_s": round(c1 - c0, 4), "cpu_s_per_gb": round((c1 - c0) / gb, 5)}))

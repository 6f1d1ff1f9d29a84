#!/usr/bin/env bash
# Benchmark `velo serve`, the remote build cache server: negotiation throughput, and the
# server's CPU per GB of artifacts moved with its local driver and with presigned S3 URLs.
#
#   scripts/bench/serve.sh           # build velo (release), then measure (~3-5 minutes)
#
# Scenarios:
#   negotiate  wrk (-t1 -c32 -d15s, after a 3 s warm-up) POSTs one negotiation body over and
#              over to /v1/negotiate: `one` = 1 item (a download of a missing key), `mixed` = 100
#              items (25 each of download-present, download-missing, upload-present,
#              upload-missing; 50 keys of 1 KiB uploaded first). Req/s, latency p50/p99 (wrk's
#              own histogram, via a Lua done()), and the server's CPU per request. Local driver,
#              then the S3 driver against moto (-c4 -d10s): there every item is a HEAD to moto,
#              a single-threaded Python server, so those numbers measure moto, not velo.
#   transfer   upload then download through negotiated URLs with `curl --parallel` (4 at a
#              time), 16 x 64 MiB and 100 x 10 MiB (each ~1 GB up + ~1 GB down), on both drivers:
#              local (the server carries the bytes) and S3 against moto (presigned: bytes go
#              curl <-> moto, the server only negotiates; moto is emptied before each workload,
#              as it keeps objects in memory). Server CPU = utime+stime of the `velo serve`
#              process from /proc/PID/stat (clock ticks) before and after each direction, and the
#              sum of its threads' /proc/PID/task/*/schedstat (ns; the ticks cannot resolve the
#              presigned cost), per GB (10^9 bytes of artifacts) moved. Goal: presigned CPU/GB
#              < 1% of local CPU/GB, compared at the same artifact size.
# The server is the only `velo` process; every request it serves writes one log line to a file
# (its default text log), as in production. The script records the machine's other CPU users
# during each phase (a concurrent build skews req/s, not CPU seconds).
# Results: scripts/bench/results-serve.md.
#
# Knobs (environment): VELO_BENCH_SCENARIOS ("negotiate transfer"), VELO_BENCH_DRIVERS
# ("local s3"), VELO_BENCH_DURATION (15: wrk seconds, local), VELO_BENCH_WARMUP (3: wrk
# warm-up seconds), VELO_BENCH_CONNECTIONS (32), VELO_BENCH_WRK_THREADS (1),
# VELO_BENCH_S3_DURATION (10), VELO_BENCH_S3_CONNECTIONS (4), VELO_BENCH_BIG_COUNT (16) and
# VELO_BENCH_BIG_MB (64: MiB each), VELO_BENCH_COUNT (100) and VELO_BENCH_MB (10) (the two
# transfer workloads; a count of 0 skips one), VELO_BENCH_PARALLEL (4: curl
# transfers at once), VELO_BENCH_MOTO (moto_server; default /work/tools/moto/bin/moto_server,
# or on PATH), VELO_BENCH_BIN (a velo binary: skips the cargo build), VELO_BENCH_RESULTS
# (markdown output path), VELO_BENCH_KEEP=1 (keep the temp dir: logs, wrk output).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

SCENARIOS=${VELO_BENCH_SCENARIOS:-"negotiate transfer"}
DRIVERS=${VELO_BENCH_DRIVERS:-"local s3"}
DURATION=${VELO_BENCH_DURATION:-15}
WARMUP=${VELO_BENCH_WARMUP:-3}
CONNS=${VELO_BENCH_CONNECTIONS:-32}
WRK_THREADS=${VELO_BENCH_WRK_THREADS:-1}
S3_DURATION=${VELO_BENCH_S3_DURATION:-10}
S3_CONNS=${VELO_BENCH_S3_CONNECTIONS:-4}
BIG_COUNT=${VELO_BENCH_BIG_COUNT:-16}
BIG_MB=${VELO_BENCH_BIG_MB:-64}
COUNT=${VELO_BENCH_COUNT:-100}
MB=${VELO_BENCH_MB:-10}
PARALLEL=${VELO_BENCH_PARALLEL:-4}
RESULTS=${VELO_BENCH_RESULTS:-$here/results-serve.md}
KEEP=${VELO_BENCH_KEEP:-0}
PY=${PYTHON:-python3}
if [[ -n "${VELO_BENCH_MOTO:-}" ]]; then MOTO=$VELO_BENCH_MOTO
elif [[ -x /work/tools/moto/bin/moto_server ]]; then MOTO=/work/tools/moto/bin/moto_server
else MOTO=$(command -v moto_server || true); fi

# shellcheck source=lib.sh
source "$here/lib.sh"
driver() { [[ " $DRIVERS " == *" $1 "* ]]; }
LOAD=$here/serve_load.py

command -v wrk >/dev/null 2>&1 || die "wrk is not on PATH; install it with: apt-get install -y wrk"
need "$PY" curl head
for s in $SCENARIOS; do [[ "$s" == negotiate || "$s" == transfer ]] || die "unknown scenario '$s' (negotiate, transfer)"; done
for d in $DRIVERS; do [[ "$d" == local || "$d" == s3 ]] || die "unknown driver '$d' (local, s3)"; done
for n in "$DURATION" "$WARMUP" "$CONNS" "$WRK_THREADS" "$S3_DURATION" "$S3_CONNS" "$BIG_COUNT" "$BIG_MB" "$COUNT" "$MB" "$PARALLEL"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "knobs must be non-negative integers (got '$n')"
done
# --parallel needs curl >= 7.66.
curl --help all 2>/dev/null | grep -q -- '--parallel-max' || die "this curl has no --parallel (need curl >= 7.66)"
if driver s3 && [[ -z "$MOTO" || ! -x "$MOTO" ]]; then
  die "the s3 driver needs moto_server (set VELO_BENCH_MOTO, or VELO_BENCH_DRIVERS=local)"
fi

velo_binary
out=$("$VELO" serve --help 2>&1) || die "'$VELO serve --help' failed: this velo has no \`velo serve\` (${out:0:300})"

work=$(mktemp -d "${TMPDIR:-/tmp}/velo-bench-serve.XXXXXX")
work=$(cd "$work" && pwd -P)
SERVER_PID="" MOTO_PID=""
cleanup() {
  local rc=$?
  [[ -n "$SERVER_PID" ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [[ -n "$MOTO_PID" ]] && kill -TERM "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null || true
  if [[ "$KEEP" == 1 ]]; then echo "serve.sh: kept $work" >&2
  else
    rm -rf "$work"
    [[ "$rc" == 0 ]] || echo "serve.sh: removed $work; VELO_BENCH_KEEP=1 keeps it (server logs, wrk output) for a look" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo '{}' >"$work/info.json"

# Nothing of the user's setup is read or written; no proxy between curl/wrk and loopback.
export HOME=$work/home
export VELO_CONFIG_DIR=$work/velo-config VELO_CACHE_DIR=$work/velo-cache
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
for v in "${!VELO_SERVER_@}" AWS_ENDPOINT_URL AWS_SESSION_TOKEN AWS_PROFILE; do unset "$v"; done
mkdir -p "$HOME" "$VELO_CONFIG_DIR" "$VELO_CACHE_DIR"

# ---------------------------------------------------------------- facts for the summary
note velo_version "$(jstr "$("$VELO" --version 2>/dev/null | head -n1 || true)")"
git_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n "$(git -C "$repo" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]] && git_rev="$git_rev + uncommitted changes"
note git_rev "$(jstr "$git_rev")"
note nproc "$(nproc)"
note cpu_model "$(jstr "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)")"
note kernel "$(jstr "$(uname -sr)")"
note mem_gb "$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
note clk_tck "$(getconf CLK_TCK)"
note wrk_version "$(jstr "$(wrk --version 2>&1 | head -n1 | sed 's/ Copyright.*//')")"
note curl_version "$(jstr "$(curl --version | head -n1 | cut -d' ' -f1-2)")"
note python_version "$(jstr "$("$PY" --version 2>&1)")"
if driver s3; then
  motopy=$(head -n1 "$MOTO" | sed 's/^#! *//')
  note moto_version "$(jstr "moto $("$motopy" -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?') ($("$motopy" --version 2>&1), werkzeug $("$motopy" -c 'import importlib.metadata as m; print(m.version("werkzeug"))' 2>/dev/null || echo '?'))")"
fi
if fs=$(findmnt -no SOURCE,FSTYPE -T "$work" 2>/dev/null); then note fs "$(jstr "$fs")"; fi
note knobs "$("$PY" -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
  duration "$DURATION" warmup "$WARMUP" connections "$CONNS" wrk_threads "$WRK_THREADS" \
  s3_duration "$S3_DURATION" s3_connections "$S3_CONNS" big_count "$BIG_COUNT" big_mb "$BIG_MB" \
  count "$COUNT" mb "$MB" parallel "$PARALLEL")"

# cmd KEY TEXT: record a command line for the results.
cmd() { note "cmd_$1" "$(jstr "$2")"; }

# ---------------------------------------------------------------- fixtures
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'write %s\n' "$TOKEN" >"$work/tokens"
say "artifact files: 1 KiB, $MB MiB, $BIG_MB MiB of /dev/urandom"
head -c 1024 /dev/urandom >"$work/a-1k.bin"
head -c $((MB * 1048576)) /dev/urandom >"$work/a-${MB}m.bin"
head -c $((BIG_MB * 1048576)) /dev/urandom >"$work/a-${BIG_MB}m.bin"

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server NAME ARGS...: `velo serve` on a free loopback port, stderr to $work/NAME.log;
# sets SERVER_PID and SERVER_URL.
start_server() {
  local name=$1; shift
  "$VELO" serve --listen 127.0.0.1:0 --tokens-file "$work/tokens" "$@" 2>"$work/$name.log" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    SERVER_URL=$(grep -o 'listening on http://[0-9.:]*' "$work/$name.log" 2>/dev/null | head -n1 | sed 's/^listening on //' || true)
    [[ -n "$SERVER_URL" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$work/$name.log" >&2; die "velo serve ($name) exited"; }
    sleep 0.1
  done
  [[ -n "$SERVER_URL" ]] || { cat "$work/$name.log" >&2; die "velo serve ($name) did not say where it listens"; }
  say "velo serve ($name) on $SERVER_URL, pid $SERVER_PID"
}
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# Phases: CPU snapshots of the server (and moto) and of every process, around a measurement.
snap() { "$PY" "$LOAD" snap "$1"; }
phase_start() {
  P_SERVER=$(snap "$SERVER_PID")
  P_MOTO=null; [[ -n "$MOTO_PID" ]] && P_MOTO=$(snap "$MOTO_PID")
  P_PROCS=$("$PY" "$LOAD" procs)
}
# phase_end KEY EXTRA-JSON: note phase_KEY = {server, moto, procs: [before, after], pids, ...EXTRA}.
phase_end() {
  local key=$1 extra=$2 s1 m1=null p1
  s1=$(snap "$SERVER_PID")
  [[ -n "$MOTO_PID" ]] && m1=$(snap "$MOTO_PID")
  p1=$("$PY" "$LOAD" procs)
  note "phase_$key" "$("$PY" - "$P_SERVER" "$s1" "$P_MOTO" "$m1" "$P_PROCS" "$p1" "$SERVER_PID" "${MOTO_PID:-0}" "$extra" <<'PYTHON'
import json, sys
s0, s1, m0, m1, p0, p1, spid, mpid, extra = sys.argv[1:]
d = {"server": [json.loads(s0), json.loads(s1)], "moto": [json.loads(m0), json.loads(m1)],
     "procs": [json.loads(p0), json.loads(p1)], "server_pid": spid, "moto_pid": mpid}
d.update(json.loads(extra))
print(json.dumps(d))
PYTHON
)"
}

# populate: the 50 "present" keys of the mixed negotiation, 1 KiB each, through the server's URLs.
populate() {
  local codes=$1
  "$PY" "$LOAD" negotiate --server "$SERVER_URL" --token "$TOKEN" --action upload --label present \
    --count 50 --file "$work/a-1k.bin" --expect upload_needed --config "$work/populate.curl" >/dev/null \
    || die "negotiating the 50 present keys failed"
  curl -sS --parallel --parallel-max "$PARALLEL" -K "$work/populate.curl" >"$work/populate.out" 2>"$work/curl.err" \
    || { cat "$work/curl.err" >&2; die "uploading the 50 present keys failed"; }
  "$PY" "$LOAD" check --log "$work/populate.out" --count 50 --codes "$codes" --bytes 1024 --direction up >/dev/null \
    || die "uploading the 50 present keys failed"
}

# negotiate_bench DRIVER CONNECTIONS DURATION: wrk on the 1-item and the 100-item bodies.
negotiate_bench() {
  local drv=$1 conns=$2 dur=$3 kind check res
  for kind in one mixed; do
    res=$work/wrk-$drv-$kind.json
    check=$("$PY" "$LOAD" body --kind "$kind" --token "$TOKEN" --body "$work/body-$kind.json" \
      --lua "$work/wrk-$kind.lua" --result "$res" --server "$SERVER_URL") \
      || die "the $kind negotiation body did not get the expected answer ($drv)"
    note "body_${drv}_$kind" "$check"
    say "negotiate ($drv, $kind): wrk -t$WRK_THREADS -c$conns ${WARMUP}s warm-up + ${dur}s"
    if [[ "$WARMUP" -gt 0 ]]; then
      wrk -t"$WRK_THREADS" -c"$conns" -d"${WARMUP}s" --timeout 30s -s "$work/wrk-$kind.lua" "$SERVER_URL/v1/negotiate" >/dev/null
    fi
    rm -f "$res"
    phase_start
    wrk -t"$WRK_THREADS" -c"$conns" -d"${dur}s" --timeout 30s --latency -s "$work/wrk-$kind.lua" \
      "$SERVER_URL/v1/negotiate" >"$work/wrk-$drv-$kind.txt"
    [[ -s "$res" ]] || die "wrk wrote no result ($work/wrk-$drv-$kind.txt)"
    phase_end "neg_${drv}_$kind" "{\"wrk\": $(cat "$res"), \"wrk_text\": $(jstr "$(cat "$work/wrk-$drv-$kind.txt")")}"
    cmd "wrk_${drv}_$kind" "wrk -t$WRK_THREADS -c$conns -d${dur}s --timeout 30s --latency -s wrk-$kind.lua $SERVER_URL/v1/negotiate"
    grep -E 'Requests/sec|Non-2xx' "$work/wrk-$drv-$kind.txt" | sed 's/^/    /' >&2
  done
}

# transfer DRIVER LABEL COUNT FILE PUT-CODES: upload COUNT x FILE under fresh keys, then download
# them, each direction one negotiation + curl --parallel, each its own phase.
transfer() {
  local drv=$1 label=$2 count=$3 file=$4 codes=$5 bytes neg chk t0 t1 dir
  bytes=$(wc -c <"$file" | tr -d ' ')
  for dir in up down; do
    local action=upload expect=upload_needed okcodes=$codes
    [[ "$dir" == down ]] && action=download expect=found okcodes=200
    say "transfer ($drv, $label, $dir): $count x $((bytes / 1048576)) MiB, curl --parallel-max $PARALLEL"
    phase_start
    t0=$("$PY" -c 'import time; print(time.time())')
    neg=$("$PY" "$LOAD" negotiate --server "$SERVER_URL" --token "$TOKEN" --action "$action" --label "$label" \
      --count "$count" --file "$file" --expect "$expect" --config "$work/xfer.curl") \
      || die "negotiating the $label $action failed ($drv)"
    # (curl's stderr to a file: in --parallel mode it draws a progress meter despite -s.)
    curl -sS --parallel --parallel-max "$PARALLEL" -K "$work/xfer.curl" >"$work/xfer-$drv-$label-$dir.out" \
      2>"$work/curl.err" || { cat "$work/curl.err" >&2; die "curl failed moving $label ($drv, $dir)"; }
    t1=$("$PY" -c 'import time; print(time.time())')
    chk=$("$PY" "$LOAD" check --log "$work/xfer-$drv-$label-$dir.out" --count "$count" --codes "$okcodes" \
      --bytes "$bytes" --direction "$dir") || die "the $label $action did not move every byte ($drv)"
    phase_end "xfer_${drv}_${label}_$dir" "{\"negotiation\": $neg, \"check\": $chk, \"wall_s\": $(
      "$PY" -c "print(round($t1 - $t0, 3))"), \"count\": $count, \"artifact_bytes\": $bytes, \"direction\": \"$dir\"}"
    say "    $("$PY" -c 'import json, sys; c = json.loads(sys.argv[1]); print("%.2f GB in %.2f s" % (c["bytes"] / 1e9, float(sys.argv[2])))' \
      "$chk" "$("$PY" -c "print($t1 - $t0)")")"
  done
  cmd "curl" "curl -sS --parallel --parallel-max $PARALLEL -K xfer.curl   # per transfer: url, headers from the answer, Expect: (none), upload-file / output /dev/null, write-out"
}

# ---------------------------------------------------------------- local driver
if driver local; then
  start_server local --storage "file://$work/store-local"
  cmd serve_local "velo serve --listen 127.0.0.1:0 --tokens-file tokens --storage file://\$WORK/store-local"
  populate 201
  want negotiate && negotiate_bench local "$CONNS" "$DURATION"
  if want transfer; then
    [[ "$BIG_COUNT" -gt 0 ]] && transfer local big "$BIG_COUNT" "$work/a-${BIG_MB}m.bin" 201
    [[ "$COUNT" -gt 0 ]] && transfer local std "$COUNT" "$work/a-${MB}m.bin" 201
  fi
  stop_server
  rm -rf "$work/store-local"
fi

# ---------------------------------------------------------------- S3 driver, against moto
if driver s3; then
  port=$(free_port)
  say "moto_server on 127.0.0.1:$port"
  "$MOTO" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    kill -0 "$MOTO_PID" 2>/dev/null || { cat "$work/moto.log" >&2; die "moto_server exited"; }
    sleep 0.1
  done
  curl -sSf -X PUT "http://127.0.0.1:$port/velo-bench" >/dev/null || die "could not create the bucket in moto"
  cmd moto "$MOTO -H 127.0.0.1 -p $port; curl -X PUT http://127.0.0.1:$port/velo-bench"
  export AWS_ACCESS_KEY_ID=velobenchkey AWS_SECRET_ACCESS_KEY=velobenchsecret AWS_REGION=us-east-1
  start_server s3 --storage s3://velo-bench --s3-endpoint "http://127.0.0.1:$port"
  cmd serve_s3 "AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... velo serve --listen 127.0.0.1:0 --tokens-file tokens --storage s3://velo-bench --s3-endpoint http://127.0.0.1:$port"
  note s3_first_write_wins "$(jstr "$(curl -s "$SERVER_URL/healthz")")"
  populate 200,201
  want negotiate && negotiate_bench s3 "$S3_CONNS" "$S3_DURATION"
  if want transfer; then
    # moto keeps objects in memory: empty it (POST /moto-api/reset) before each ~1 GB workload.
    for wl in big std; do
      curl -sSf -X POST "http://127.0.0.1:$port/moto-api/reset" >/dev/null || die "could not reset moto"
      curl -sSf -X PUT "http://127.0.0.1:$port/velo-bench" >/dev/null || die "could not re-create the bucket in moto"
      if [[ "$wl" == big && "$BIG_COUNT" -gt 0 ]]; then transfer s3 big "$BIG_COUNT" "$work/a-${BIG_MB}m.bin" 200,201
      elif [[ "$wl" == std && "$COUNT" -gt 0 ]]; then transfer s3 std "$COUNT" "$work/a-${MB}m.bin" 200,201; fi
    done
  fi
  stop_server
  kill -TERM "$MOTO_PID" 2>/dev/null || true
  wait "$MOTO_PID" 2>/dev/null || true
  MOTO_PID=""
fi

# ---------------------------------------------------------------- the machine's cost of new memory
# On a VM whose balloon driver reports free pages back to the host (virtio_balloon with
# page_reporting), the first write to a page the host has taken back faults on the host: a
# process that fills new page cache (the local driver's uploads) is charged several times the
# bare-metal cost in kernel time. Measured last, so that it does not warm pages for the phases:
# dd 1 GiB into a new file after 20 s idle (freed pages returned to the host), then again at
# once after deleting it (the same pages, still backed). The summary uses the difference to
# bound how much of the local upload CPU is this effect.
if want transfer && driver local; then
  say "memory check: dd 1 GiB into a new file after 20 s idle, then again at once"
  sleep 20
  cold=$( { TIMEFORMAT=%S; time dd if=/dev/zero of="$work/vmcheck.bin" bs=1M count=1024 status=none; } 2>&1 )
  rm -f "$work/vmcheck.bin"
  warm=$( { TIMEFORMAT=%S; time dd if=/dev/zero of="$work/vmcheck.bin" bs=1M count=1024 status=none; } 2>&1 )
  rm -f "$work/vmcheck.bin"
  reporting=false; [[ -d /sys/module/page_reporting ]] && reporting=true
  note vm_check "{\"cold_sys_s\": $cold, \"warm_sys_s\": $warm, \"bytes\": 1073741824, \"page_reporting\": $reporting}"
  cmd vm_check "sleep 20; time dd if=/dev/zero of=\$WORK/vmcheck.bin bs=1M count=1024; rm \$WORK/vmcheck.bin; time dd ... (again)"
  say "    sys time: $cold s (after 20 s idle), $warm s (at once)"
fi

"$PY" "$here/serve_summarize.py" --work "$work" --out "$RESULTS"
say "wrote $RESULTS"

#!/usr/bin/env bash
# Benchmark `velo lock` on synthetic indexes of 500, 2,000 and 8,000 packages.
#
#   scripts/bench/lock.sh            # build velo (release), generate, serve, measure
#
# For each size: generate an index (gen_index.py), check it is solvable
# (check_solvable.py), serve it on loopback (serve.py), then time with hyperfine:
#   warm-http  metadata cache pre-warmed, velo.lock removed before each run
#   cold-http  metadata cache and velo.lock removed before each run
#   file       the same index through a file:// registry, velo.lock removed
#   noop       velo.lock already up to date, nothing removed
# Results: hyperfine tables and a summary in scripts/bench/results-lock.md.
#
# Knobs (environment): VELO_BENCH_SIZES ("500 2000 8000"), VELO_BENCH_RUNS (10),
# VELO_BENCH_WARMUP (2), VELO_BENCH_SEED (1), VELO_BENCH_VERSIONS (30),
# VELO_BENCH_DIRECT (50), VELO_BENCH_BIN (a velo binary: skips the cargo build),
# VELO_BENCH_RESULTS (markdown output path), VELO_BENCH_KEEP=1 (keep the temp dir).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

SIZES=${VELO_BENCH_SIZES:-"500 2000 8000"}
RUNS=${VELO_BENCH_RUNS:-10}
WARMUP=${VELO_BENCH_WARMUP:-2}
SEED=${VELO_BENCH_SEED:-1}
VERSIONS=${VELO_BENCH_VERSIONS:-30}
DIRECT=${VELO_BENCH_DIRECT:-50}
RESULTS=${VELO_BENCH_RESULTS:-$here/results-lock.md}
KEEP=${VELO_BENCH_KEEP:-0}
PY=${PYTHON:-python3}

# shellcheck source=lib.sh
source "$here/lib.sh"

need_hyperfine
command -v "$PY" >/dev/null 2>&1 || die "python3 is not on PATH"

velo_binary

work=$(mktemp -d "${TMPDIR:-/tmp}/velo-bench-lock.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ "$KEEP" == 1 ]]; then echo "lock.sh: kept $work" >&2; else rm -rf "$work"; fi
  [[ -n "${fresh_pid:-}" ]] && kill "$fresh_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keep the user's config and proxies out of the measurement.
export VELO_CONFIG_DIR=$work/config
mkdir -p "$VELO_CONFIG_DIR"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost NO_COLOR=1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

# The benchmarked command line: velo lock run in the project directory.
cmd() { # PROJECT CACHE
  echo "cd $(q "$1") && VELO_CACHE_DIR=$(q "$2") $(q "$VELO") lock"
}

# One `velo lock` in a project with a cache dir; fails loudly with velo's output.
lock_once() { # PROJECT CACHE
  if ! (cd "$1" && VELO_CACHE_DIR=$2 "$VELO" lock) >"$work/lock.log" 2>&1; then
    cat "$work/lock.log" >&2
    die "velo lock failed in $1"
  fi
}

count_locked() { # LOCKFILE -> number of packages in its top-level "packages" object
  "$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["packages"]))' "$1"
}

stats() { # PORT reset|get -> JSON of request counts by status
  "$PY" - "$@" <<'EOF'
import json, sys, urllib.request
port, what = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
if what == "reset":
    opener.open(urllib.request.Request(f"http://127.0.0.1:{port}/__bench/reset", data=b"", method="POST")).read()
else:
    print(json.dumps(json.load(opener.open(f"http://127.0.0.1:{port}/__bench/stats"))))
EOF
}

echo "{}" >"$work/counts.json"
record() { # SIZE KEY VALUE(JSON)
  "$PY" - "$work/counts.json" "$@" <<'EOF'
import json, sys
path, size, key, value = sys.argv[1:]
d = json.load(open(path))
d.setdefault(size, {})[key] = json.loads(value)
json.dump(d, open(path, "w"), indent=1)
EOF
}

for n in $SIZES; do
  d=$work/n$n
  say "n=$n: generating index ($n packages x $VERSIONS versions, $DIRECT direct dependencies)"
  "$PY" "$here/gen_index.py" --packages "$n" --versions "$VERSIONS" --direct "$DIRECT" \
    --seed "$SEED" --out "$d" --project-dir "$d/project-file"
  check=$("$PY" "$here/check_solvable.py" --json --index "$d/index" --manifest "$d/project-file/velo.json") \
    || die "generated index for n=$n is not solvable: $check"
  record "$n" check "$check"
  record "$n" meta "$(cat "$d/meta.json")"

  "$PY" "$here/serve.py" "$d/index" 0 >"$d/serve.port" 2>"$d/serve.log" &
  server_pid=$!
  for _ in $(seq 100); do [[ -s "$d/serve.port" ]] && break; sleep 0.1; done
  port=$(head -n1 "$d/serve.port")
  [[ "$port" =~ ^[0-9]+$ ]] || die "serve.py did not start: $(cat "$d/serve.log")"
  say "n=$n: serving $d/index on http://127.0.0.1:$port/"

  "$PY" "$here/gen_index.py" --packages "$n" --versions "$VERSIONS" --direct "$DIRECT" \
    --seed "$SEED" --out "$d" --manifest-only --registry "http://127.0.0.1:$port/" \
    --project-dir "$d/project-warm"
  for p in cold noop; do mkdir -p "$d/project-$p"; cp "$d/project-warm/velo.json" "$d/project-$p/"; done

  # The same index from a server that allows caching (Cache-Control: max-age=600), as static
  # hosts do: a warm cache is then used without revalidating.
  "$PY" "$here/serve.py" --max-age 600 "$d/index" 0 >"$d/serve-fresh.port" 2>"$d/serve-fresh.log" &
  fresh_pid=$!
  for _ in $(seq 100); do [[ -s "$d/serve-fresh.port" ]] && break; sleep 0.1; done
  fresh_port=$(head -n1 "$d/serve-fresh.port")
  [[ "$fresh_port" =~ ^[0-9]+$ ]] || die "serve.py --max-age did not start: $(cat "$d/serve-fresh.log")"
  "$PY" "$here/gen_index.py" --packages "$n" --versions "$VERSIONS" --direct "$DIRECT" \
    --seed "$SEED" --out "$d" --manifest-only --registry "http://127.0.0.1:$fresh_port/" \
    --project-dir "$d/project-fresh"
  lock_once "$d/project-fresh" "$d/cache-fresh"

  # One cold lock (counts full downloads), then one warm lock (counts revalidations).
  stats "$port" reset
  lock_once "$d/project-warm" "$d/cache-warm"
  record "$n" requests_cold "$(stats "$port" get)"
  stats "$port" reset
  rm -f "$d/project-warm/velo.lock"
  lock_once "$d/project-warm" "$d/cache-warm"
  record "$n" requests_warm "$(stats "$port" get)"
  record "$n" locked_http "$(count_locked "$d/project-warm/velo.lock")"
  lock_once "$d/project-noop" "$d/cache-warm"
  stats "$port" reset
  lock_once "$d/project-noop" "$d/cache-warm"
  record "$n" requests_noop "$(stats "$port" get)"
  lock_once "$d/project-file" "$d/cache-file"
  record "$n" locked_file "$(count_locked "$d/project-file/velo.lock")"
  say "n=$n: velo.lock has $(count_locked "$d/project-warm/velo.lock") packages (http), $(count_locked "$d/project-file/velo.lock") (file://)"

  say "n=$n: hyperfine"
  hyperfine --warmup "$WARMUP" --runs "$RUNS" --style basic \
    --export-json "$d/hyperfine.json" --export-markdown "$d/hyperfine.md" \
    -n "warm-http" --prepare "rm -f $(q "$d/project-warm/velo.lock")" \
      "$(cmd "$d/project-warm" "$d/cache-warm")" \
    -n "cold-http" --prepare "rm -rf $(q "$d/cache-cold") $(q "$d/project-cold/velo.lock")" \
      "$(cmd "$d/project-cold" "$d/cache-cold")" \
    -n "file" --prepare "rm -f $(q "$d/project-file/velo.lock")" \
      "$(cmd "$d/project-file" "$d/cache-file")" \
    -n "noop" --prepare "true" \
      "$(cmd "$d/project-noop" "$d/cache-warm")" \
    -n "warm-http-max-age" --prepare "rm -f $(q "$d/project-fresh/velo.lock")" \
      "$(cmd "$d/project-fresh" "$d/cache-fresh")"
  cp "$d/hyperfine.json" "$work/hyperfine-$n.json"
  cp "$d/hyperfine.md" "$work/hyperfine-$n.md"

  kill "$fresh_pid" 2>/dev/null || true
  wait "$fresh_pid" 2>/dev/null || true
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
done

velo_version=$( "$VELO" --version 2>/dev/null | head -n1 || true)
git_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
"$PY" "$here/summarize.py" --work "$work" --sizes "$SIZES" --runs "$RUNS" --warmup "$WARMUP" \
  --velo-version "${velo_version:-unknown}" --git-rev "$git_rev" --out "$RESULTS"
say "wrote $RESULTS"

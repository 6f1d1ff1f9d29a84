#!/usr/bin/env bash
# Benchmark `velo sync` against its targets, mise and a curl | sha256sum; tar baseline.
#
#   scripts/bench/sync.sh            # build velo (release), fixture, serve, measure
#
# Scenarios (hyperfine; each one a single hyperfine run with its peer side by side):
#   noop   `velo sync` in a project whose 20 tools are installed, vs `mise install` with the
#          same 20 tools already installed (`mise link`). Target < 5 ms; goal >= 5x faster.
#   warm   `velo sync --frozen` in a new project (same velo.json + velo.lock) whose tools are
#          all in the store; `.velo` deleted before each run. Target < 50 ms.
#   cold   `velo sync --frozen` of 20 x ~10 MB from loopback, store and `.velo` deleted before
#          each run, vs sync_baseline.sh (sequential curl | tee | sha256sum; tar -xzf, and a
#          streamed variant). MB/s = bytes / median. Goal: faster than the baseline.
#   large  the same for one ~200 MB package. Goal: within 1.2x of the baseline.
#   shim   `.velo/bin/tool-c --version` vs the Cellar binary directly (-N, 300 runs).
#          Goal: < 1 ms added.
# Results: hyperfine tables and a summary in scripts/bench/results-sync.md.
#
# Knobs (environment): VELO_BENCH_SCENARIOS ("noop warm cold large shim"),
# VELO_BENCH_RUNS (50: noop, warm), VELO_BENCH_WARMUP (5), VELO_BENCH_COLD_RUNS (10: cold,
# large), VELO_BENCH_SHIM_RUNS (300), VELO_BENCH_SHIM_WARMUP (20), VELO_BENCH_SEED (1),
# VELO_BENCH_TOOLS (20), VELO_BENCH_SIZE_MB (10), VELO_BENCH_LARGE_MB (200),
# VELO_BENCH_BIN (a velo binary: skips the cargo build), VELO_BENCH_MISE (a mise binary, or
# "skip"; default: npm install @jdxcode/mise into the temp dir), VELO_BENCH_RESULTS (markdown
# output path), VELO_BENCH_KEEP=1 (keep the temp dir). VELO_CONCURRENT_DOWNLOADS is passed
# through to velo when set.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

SCENARIOS=${VELO_BENCH_SCENARIOS:-"noop warm cold large shim"}
RUNS=${VELO_BENCH_RUNS:-50}
WARMUP=${VELO_BENCH_WARMUP:-5}
COLD_RUNS=${VELO_BENCH_COLD_RUNS:-10}
SHIM_RUNS=${VELO_BENCH_SHIM_RUNS:-300}
SHIM_WARMUP=${VELO_BENCH_SHIM_WARMUP:-20}
SEED=${VELO_BENCH_SEED:-1}
TOOLS=${VELO_BENCH_TOOLS:-20}
SIZE_MB=${VELO_BENCH_SIZE_MB:-10}
LARGE_MB=${VELO_BENCH_LARGE_MB:-200}
RESULTS=${VELO_BENCH_RESULTS:-$here/results-sync.md}
KEEP=${VELO_BENCH_KEEP:-0}
MISE_WANT=${VELO_BENCH_MISE:-npm}
PY=${PYTHON:-python3}

# shellcheck source=lib.sh
source "$here/lib.sh"

need_hyperfine
need "$PY" curl tar sha256sum gzip mkfifo

velo_binary

work=$(mktemp -d "${TMPDIR:-/tmp}/velo-bench-sync.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ "$KEEP" == 1 ]]; then echo "sync.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keep the user's config and proxies out of the measurement.
export VELO_CONFIG_DIR=$work/config
mkdir -p "$VELO_CONFIG_DIR"
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost NO_COLOR=1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

echo '{}' >"$work/info.json"

# ---------------------------------------------------------------- mise (the no-op peer)
MISE=""
mise_skip() { say "mise: $1; the no-op comparison with mise is skipped"; note mise_skipped "$(jstr "$1")"; MISE=""; }
if want noop; then
  install_mise
fi

# mise only sees temp dirs: nothing of the user's setup is read or written.
mise_home=$work/mise
mise_exports() {
  export HOME=$mise_home/home MISE_DATA_DIR=$mise_home/data MISE_CACHE_DIR=$mise_home/cache \
    MISE_CONFIG_DIR=$mise_home/config MISE_STATE_DIR=$mise_home/state \
    XDG_CONFIG_HOME=$mise_home/home/.config XDG_DATA_HOME=$mise_home/home/.local/share \
    XDG_CACHE_HOME=$mise_home/home/.cache XDG_STATE_HOME=$mise_home/home/.local/state \
    MISE_CEILING_PATHS=$work MISE_YES=1
}
mise_run() { (mise_exports; "$MISE" "$@"); }

# ---------------------------------------------------------------- fixture + server
fx=$work/fx
say "sync_fixture.py: $TOOLS tools x $SIZE_MB MiB, one of $LARGE_MB MiB, tool-c"
"$PY" "$here/sync_fixture.py" --out "$fx" --seed "$SEED" --tools "$TOOLS" \
  --size-mb "$SIZE_MB" --large-mb "$LARGE_MB" 2>"$work/fixture.log" \
  || { cat "$work/fixture.log" >&2; die "sync_fixture.py failed"; }
note meta "$(cat "$fx/meta.json")"

"$PY" "$here/serve.py" "$fx/index" 0 >"$work/serve.port" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do [[ -s "$work/serve.port" ]] && break; sleep 0.1; done
port=$(head -n1 "$work/serve.port")
[[ "$port" =~ ^[0-9]+$ ]] || die "serve.py did not start: $(cat "$work/serve.log")"
base_url=http://127.0.0.1:$port
say "serving $fx/index on $base_url/"
"$PY" "$here/sync_fixture.py" --out "$fx" --manifest-only --registry "$base_url/" \
  --seed "$SEED" --tools "$TOOLS"

stats() { # reset|get -> JSON of request counts by status and bytes sent
  "$PY" - "$port" "$1" <<'EOF'
import json, sys, urllib.request
port, what = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
if what == "reset":
    opener.open(urllib.request.Request(f"http://127.0.0.1:{port}/__bench/reset", data=b"", method="POST")).read()
else:
    print(json.dumps(json.load(opener.open(f"http://127.0.0.1:{port}/__bench/stats"))))
EOF
}

# URL SHA256 NAME lines for the baseline, per project.
urls() { # PROJECT-KEY
  "$PY" - "$fx/meta.json" "$base_url" "$1" <<'EOF'
import json, sys
meta, base, proj = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
for n in meta["projects"][proj]:
    p = meta["packages"][n]
    print(f"{base}/{p['file']} {p['sha256']} {n}")
EOF
}
urls project >"$work/urls.txt"
urls project-large >"$work/urls-large.txt"

# ---------------------------------------------------------------- velo projects
P=$fx/project            # no-op; locked here, velo.lock copied to the others
PW=$fx/project-warm      # warm materialize
PC=$fx/project-cold      # cold sync
PL=$fx/project-large     # cold sync of the large package
PS=$fx/project-shim      # tool-c, the shim-overhead test
C_WARM=$work/cache-warm C_COLD=$work/cache-cold C_LARGE=$work/cache-large

velo_in() { # PROJECT CACHE ARGS...: run velo there, fail loudly with its output
  local dir=$1 cache=$2; shift 2
  if ! (cd "$dir" && VELO_CACHE_DIR=$cache "$VELO" "$@") >"$work/velo.log" 2>&1; then
    cat "$work/velo.log" >&2
    die "velo $* failed in $dir"
  fi
}
check_bins() { # PROJECT NAME...: every .velo/bin/NAME --version prints "NAME 1.0.0"
  local dir=$1 n out; shift
  for n in "$@"; do
    out=$("$dir/.velo/bin/$n" --version 2>&1) || die "$dir/.velo/bin/$n --version failed: $out"
    [[ "$out" == "$n 1.0.0" ]] || die "$dir/.velo/bin/$n --version printed '$out', want '$n 1.0.0'"
  done
}
tools=$("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["projects"]["project"]))' "$fx/meta.json")
first_tool=${tools%% *}

say "velo lock + sync in $P"
stats reset
velo_in "$P" "$C_WARM" lock
velo_in "$P" "$C_WARM" sync
check_bins "$P" $tools
note requests_first_sync "$(stats get)"
for d in "$PW" "$PC"; do mkdir -p "$d"; cp "$P/velo.json" "$P/velo.lock" "$d/"; done
velo_in "$PL" "$C_LARGE" lock
velo_in "$PS" "$C_WARM" lock
velo_in "$PS" "$C_WARM" sync
check_bins "$PS" tool-c

# What one run of each scenario asks of the server: a no-op and a warm sync none of the
# artifacts, a cold sync each of them once.
stats reset; velo_in "$P" "$C_WARM" sync; note requests_noop "$(stats get)"
rm -rf "$PW/.velo"; stats reset; velo_in "$PW" "$C_WARM" sync --frozen
check_bins "$PW" $tools; note requests_warm "$(stats get)"
rm -rf "$C_COLD" "$PC/.velo"; stats reset; velo_in "$PC" "$C_COLD" sync --frozen
check_bins "$PC" $tools; note requests_cold "$(stats get)"
rm -rf "$C_LARGE" "$PL/.velo"; stats reset; velo_in "$PL" "$C_LARGE" sync --frozen
check_bins "$PL" bigtool; note requests_large "$(stats get)"

# ---------------------------------------------------------------- mise setup
# Each tool is a directory extracted from the same archive; `mise link http:toolNN@1.0.0 DIR`
# registers it as installed. The `http:` backend needs no plugin and no registry: for an
# exact version that is installed, `mise install` only checks the install dir. Its url is
# a closed loopback port, so a download attempt would fail the run rather than go unnoticed.
MISE_DIR=$work/mise-project
if [[ -n "$MISE" ]]; then
  say "mise $(mise_run --version 2>/dev/null | head -n1): linking $TOOLS tools"
  mkdir -p "$mise_home/home" "$mise_home/tools" "$MISE_DIR"
  {
    echo "[tools]"
    for n in $tools; do
      echo "\"http:$n\" = { version = \"1.0.0\", url = \"http://127.0.0.1:9/unreachable/$n.tar.gz\" }"
    done
  } >"$MISE_DIR/mise.toml"
  mise_ok=1
  for n in $tools; do
    mkdir -p "$mise_home/tools/$n"
    tar -xzf "$fx/index/artifacts/$n-1.0.0.tar.gz" --strip-components=1 -C "$mise_home/tools/$n"
    mise_run link "http:$n@1.0.0" "$mise_home/tools/$n" >>"$work/mise.log" 2>&1 || { mise_ok=0; break; }
  done
  [[ "$mise_ok" == 1 ]] && mise_run trust "$MISE_DIR/mise.toml" >>"$work/mise.log" 2>&1 || mise_ok=0
  if [[ "$mise_ok" == 1 ]] && mise_run -C "$MISE_DIR" install >>"$work/mise.log" 2>&1 \
      && out=$(cd "$MISE_DIR" && mise_run exec -- "$first_tool" --version 2>>"$work/mise.log") \
      && [[ "$out" == "$first_tool 1.0.0" ]]; then
    note mise_version "$(jstr "$(mise_run --version 2>/dev/null | head -n1)")"
    # Proof that the measured `mise install` stays off the network.
    if command -v strace >/dev/null 2>&1 \
        && (mise_exports; strace -f -e trace=connect -o "$work/mise.strace" "$MISE" -C "$MISE_DIR" install) >/dev/null 2>&1; then
      inet=$(grep -cE 'AF_INET6?' "$work/mise.strace" || true)
      note mise_network_check "$(jstr "strace: ${inet:-0} connect() calls to AF_INET/AF_INET6 in one mise install")"
      [[ "${inet:-0}" == 0 ]] || say "mise: WARNING: mise install made network connections: $(grep -E 'AF_INET6?' "$work/mise.strace" | head -n 3)"
    else
      note mise_network_check "$(jstr "not checked (strace missing or not permitted)")"
    fi
  else
    cat "$work/mise.log" >&2
    mise_skip "mise link / mise install with linked tools failed (log above)"
  fi
fi

# ---------------------------------------------------------------- hyperfine
hf() { # KEY HYPERFINE-ARGS...: hyperfine with the exports sync_summarize.py reads
  local key=$1; shift
  hyperfine --style basic --export-json "$work/hyperfine-$key.json" \
    --export-markdown "$work/hyperfine-$key.md" "$@"
}

if want noop; then
  say "noop: velo sync${MISE:+ vs mise install}"
  noop_cmds=(-n "velo sync (no-op)" "$(q "$VELO") sync")
  [[ -n "$MISE" ]] && noop_cmds+=(-n "mise install (no-op)" "$(q "$MISE") -C $(q "$MISE_DIR") install")
  # -N: no shell in between; velo runs in its project dir, mise gets -C.
  (cd "$P" && export VELO_CACHE_DIR=$C_WARM && { [[ -z "$MISE" ]] || mise_exports; } \
    && hf noop -N --warmup "$WARMUP" --runs "$RUNS" "${noop_cmds[@]}")
fi

if want warm; then
  say "warm: velo sync --frozen in a new project, store warm"
  hf warm --warmup "$WARMUP" --runs "$RUNS" \
    --prepare "rm -rf $(q "$PW/.velo")" \
    -n "velo sync --frozen (warm store)" "cd $(q "$PW") && VELO_CACHE_DIR=$(q "$C_WARM") $(q "$VELO") sync --frozen"
  check_bins "$PW" $tools
fi

cold_bench() { # KEY PROJECT CACHE URLS
  local key=$1 proj=$2 cache=$3 list=$4 base=$work/baseline-$1
  hf "$key" --warmup 1 --runs "$COLD_RUNS" \
    --prepare "rm -rf $(q "$cache") $(q "$proj/.velo")" \
    -n "velo sync --frozen (cold)" "cd $(q "$proj") && VELO_CACHE_DIR=$(q "$cache") $(q "$VELO") sync --frozen" \
    --prepare "rm -rf $(q "$base")" \
    -n "baseline: curl | tee | sha256sum; tar -xzf" "bash $(q "$here/sync_baseline.sh") $(q "$list") $(q "$base")" \
    --prepare "rm -rf $(q "$base")" \
    -n "baseline: curl | tee | sha256sum + tar -xz (streamed)" "bash $(q "$here/sync_baseline.sh") --stream $(q "$list") $(q "$base")"
  rm -rf "$base"
}
if want cold; then
  say "cold: velo sync --frozen of $TOOLS packages vs the sequential baseline"
  cold_bench cold "$PC" "$C_COLD" "$work/urls.txt"
  check_bins "$PC" $tools
fi
if want large; then
  say "large: velo sync --frozen of one $LARGE_MB MiB package vs the baseline"
  cold_bench large "$PL" "$C_LARGE" "$work/urls-large.txt"
  check_bins "$PL" bigtool
fi

if want shim; then
  shim=$PS/.velo/bin/tool-c
  direct=$(readlink -f "$shim")
  # A shim that is a file of its own (not a link): call the Cellar's binary instead.
  if [[ "$direct" == "$(readlink -f "$PS/.velo/bin")"/* ]]; then
    direct=$(readlink -f "$PS/.velo/Cellar/tool-c/1.0.0/bin/tool-c")
  fi
  [[ -x "$direct" ]] && [[ "$("$direct" --version)" == "tool-c 1.0.0" ]] \
    || die "cannot find the Cellar binary of tool-c behind $shim (got $direct)"
  if [[ -L "$shim" ]]; then kind="symlink to $(readlink "$shim")"
  elif [[ "$(head -c 2 "$shim")" == '#!' ]]; then kind="script: $(head -n1 "$shim")"
  else kind="executable file of $(wc -c <"$shim") bytes"; fi
  note shim "$(jstr "$kind")"
  note shim_direct "$(jstr "${direct#"$work"/}")"
  say "shim: $shim ($kind) vs $direct"
  hf shim -N --warmup "$SHIM_WARMUP" --runs "$SHIM_RUNS" \
    -n ".velo/bin/tool-c --version (shim)" "$(q "$shim") --version" \
    -n "Cellar tool-c --version (direct)" "$(q "$direct") --version"
fi

velo_version=$("$VELO" --version 2>/dev/null | head -n1 || true)
git_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
note concurrent_downloads "$(jstr "${VELO_CONCURRENT_DOWNLOADS:-default}")"
"$PY" "$here/sync_summarize.py" --work "$work" --scenarios "$SCENARIOS" \
  --runs "$RUNS" --warmup "$WARMUP" --cold-runs "$COLD_RUNS" \
  --shim-runs "$SHIM_RUNS" --shim-warmup "$SHIM_WARMUP" \
  --velo-version "${velo_version:-unknown}" --git-rev "$git_rev" --out "$RESULTS"
say "wrote $RESULTS"

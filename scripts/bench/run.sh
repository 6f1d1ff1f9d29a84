#!/usr/bin/env bash
# Benchmark `velo run` (task runner + local build cache) next to turborepo's `turbo run`.
#
#   scripts/bench/run.sh             # build velo (release), install turbo, generate, measure
#
# gen_monorepo.py writes a monorepo of 50 members that is at once a velo workspace and an npm +
# turborepo workspace: each member's `build` is the same POSIX sh snippet for both tools (it
# writes 100 files into dist/; inputs src/**, outputs dist/**, dependsOn ^build), and members
# depend on 0-3 lower-numbered members through package.json, so both tools see one graph. It
# also writes a single project with 10,000 input files (~41 MB) for the hashing test. Each tool
# gets its own copy of the monorepo, so neither finds its outputs rewritten by the other.
#
# Scenarios:
#   hit    both local caches warmed (each tool builds all members once, then a second run is
#          checked to be a full hit), then ONE hyperfine run, side by side, of `velo run build`
#          and `turbo run build` in the repo root (`-N`, `env -C TREE`; both replay the cached
#          logs, their default).
#          Goal: velo's median >= 3x faster than turbo's (turbo's native binary; the npm
#          `.bin/turbo` node wrapper, what a global or npx turbo runs, is timed too).
#   hash   `velo run hash --dry-run=json` (hashes every input) in the 10,000-file project:
#          files/s and MB/s = inputs / median. Side by side: `velo run hash --force`,
#          `turbo run hash --dry-run=json` (turbo takes a clean tracked file's hash from the
#          git index) and `find | xargs sha256sum`; then again with every input's mtime bumped
#          before each run (`touch`), so no stat-keyed cache can skip reading a file.
# Every build appends its member's name to .bench-runs.log in the repo root, so a run that
# executed anything shows there: the script dies if a warm run or any timed run did.
# Results: hyperfine tables and a summary in scripts/bench/results-run.md.
#
# Knobs (environment): VELO_BENCH_SCENARIOS ("hit hash"), VELO_BENCH_RUNS (30),
# VELO_BENCH_WARMUP (3), VELO_BENCH_MEMBERS (50), VELO_BENCH_FILES (100: files per build),
# VELO_BENCH_HASH_FILES (10000), VELO_BENCH_SEED (1), VELO_BENCH_BIN (a velo binary: skips
# the cargo build; "skip": turbo alone, to check the turbo half), VELO_BENCH_TURBO (a turbo
# binary, or "skip"; default: npm install turbo@2 into the temp dir), VELO_BENCH_RESULTS
# (markdown output path), VELO_BENCH_KEEP=1 (keep the temp dir).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

SCENARIOS=${VELO_BENCH_SCENARIOS:-"hit hash"}
RUNS=${VELO_BENCH_RUNS:-30}
WARMUP=${VELO_BENCH_WARMUP:-3}
MEMBERS=${VELO_BENCH_MEMBERS:-50}
FILES=${VELO_BENCH_FILES:-100}
HASH_FILES=${VELO_BENCH_HASH_FILES:-10000}
SEED=${VELO_BENCH_SEED:-1}
RESULTS=${VELO_BENCH_RESULTS:-$here/results-run.md}
KEEP=${VELO_BENCH_KEEP:-0}
TURBO_WANT=${VELO_BENCH_TURBO:-npm}
PY=${PYTHON:-python3}

# shellcheck source=lib.sh
source "$here/lib.sh"

need_hyperfine
need "$PY" find xargs sha256sum touch
for s in $SCENARIOS; do [[ "$s" == hit || "$s" == hash ]] || die "unknown scenario '$s' (hit, hash)"; done
[[ "$MEMBERS" =~ ^[1-9][0-9]*$ && "$FILES" =~ ^[1-9][0-9]*$ && "$HASH_FILES" =~ ^[1-9][0-9]*$ ]] \
  || die "VELO_BENCH_MEMBERS, VELO_BENCH_FILES and VELO_BENCH_HASH_FILES must be positive integers"

VELO=""
if [[ "${VELO_BENCH_BIN:-}" == skip ]]; then
  say "VELO_BENCH_BIN=skip: velo is not measured"
else
  velo_binary
  # Fail early, and say why, when this velo has no task runner.
  if ! out=$("$VELO" run --help 2>&1); then
    die "'$VELO run --help' failed: this velo has no working \`velo run\` (${out:0:300})"
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/velo-bench-run.XXXXXX")
work=$(cd "$work" && pwd -P)
cleanup() {
  local rc=$?
  if [[ "$KEEP" == 1 ]]; then echo "run.sh: kept $work" >&2
  else
    rm -rf "$work"
    [[ "$rc" == 0 ]] || echo "run.sh: removed $work; VELO_BENCH_KEEP=1 keeps it (logs, repos) for a look" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo '{}' >"$work/info.json"

# The temp dir's filesystem (restoring outputs is file creation; on ext4 without a journal the
# inode allocator skips recently deleted inodes, so delete + re-create of thousands of files
# costs far more kernel time than with one).
if fs=$(findmnt -no SOURCE,FSTYPE -T "$work" 2>/dev/null); then
  if [[ "$fs" == *ext4 && -r "/sys/fs/ext4/$(basename "${fs%% *}")/journal_task" ]]; then
    jt=$(cat "/sys/fs/ext4/$(basename "${fs%% *}")/journal_task")
    [[ "$jt" == "<none>" ]] && fs="$fs, no journal" || fs="$fs, journal"
  fi
  note fs "$(jstr "$fs")"
fi

# ---------------------------------------------------------------- turbo (the peer)
TURBO="" TURBO_SHIM=""
turbo_skip() { say "turbo: $1; the comparison with turbo is skipped"; note turbo_skipped "$(jstr "$1")"; TURBO="" TURBO_SHIM=""; }
install_turbo     # before HOME moves: npm reads the user's npmrc (registry settings)
[[ "$TURBO_SHIM" == "$TURBO" ]] && TURBO_SHIM=""
[[ -n "$VELO" || -n "$TURBO" ]] || die "neither velo nor turbo to measure"

# Nothing of the user's setup is read or written; no telemetry, no update check, no proxy.
export HOME=$work/home
export XDG_CONFIG_HOME=$HOME/.config XDG_DATA_HOME=$HOME/.local/share \
  XDG_CACHE_HOME=$HOME/.cache XDG_STATE_HOME=$HOME/.local/state
export VELO_CONFIG_DIR=$work/velo-config VELO_CACHE_DIR=$work/velo-cache
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1 NO_COLOR=1
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
mkdir -p "$HOME" "$VELO_CONFIG_DIR" "$VELO_CACHE_DIR"

if [[ -n "$TURBO" ]]; then
  turbo_version=$("$TURBO" --version 2>/dev/null | head -n1)
  note turbo_version "$(jstr "$turbo_version")"
  note turbo_binary "$(jstr "${TURBO#"$work"/}")"
  [[ -n "$TURBO_SHIM" ]] && note turbo_shim "$(jstr "${TURBO_SHIM#"$work"/}")"
  # turbo 2.x: the daemon is not used by `turbo run` (the flags are deprecated no-ops); an
  # older turbo that still has it is timed with its default and with --daemon / --no-daemon.
  turbo_help=$("$TURBO" run --help 2>&1 || true)
  TURBO_DAEMON_ROWS=0
  if grep -qi 'daemon is no longer used' <<<"$turbo_help"; then
    note turbo_daemon "$(jstr "not used by \`turbo run\` in turbo $turbo_version (--daemon / --no-daemon are deprecated no-ops), so there is no daemon in the numbers")"
  elif grep -q -- '--no-daemon' <<<"$turbo_help"; then
    TURBO_DAEMON_ROWS=1
    note turbo_daemon "$(jstr "turbo $turbo_version has a daemon: timed with its default, --daemon and --no-daemon")"
  else
    note turbo_daemon "$(jstr "turbo $turbo_version run --help mentions no daemon")"
  fi
fi
if [[ -n "$VELO" ]]; then
  note velo_version "$(jstr "$("$VELO" --version 2>/dev/null | head -n1 || true)")"
fi

# ---------------------------------------------------------------- fixtures
# One generated monorepo, copied so that each tool has a tree of its own: a tool that finds its
# outputs rewritten by the other restores them (turbo 2.x leaves outputs already in place alone),
# and that would be timed too.
mono=$work/mono
mono_velo=$work/mono-velo
mono_turbo=$work/mono-turbo
hashp=$work/hash
# Lines in DIR/.bench-runs.log: one per build executed there.
runlog_lines() { if [[ -f "$1/.bench-runs.log" ]]; then wc -l <"$1/.bench-runs.log" | tr -d ' '; else echo 0; fi; }
now() { "$PY" -c 'import time; print(time.time())'; }

# run_in DIR LOG LABEL CMD...: run CMD in DIR, stdout to LOG, stderr to LOG.err; die showing
# both if it fails.
run_in() {
  local dir=$1 log=$2 label=$3; shift 3
  if ! (cd "$dir" && "$@") >"$log" 2>"$log.err"; then
    tail -n 30 "$log" "$log.err" >&2
    die "$label failed in $dir (output above; all of it in $log and $log.err with VELO_BENCH_KEEP=1)"
  fi
}

if want hit; then
  say "gen_monorepo.py: $MEMBERS members x $FILES output files"
  "$PY" "$here/gen_monorepo.py" --out "$mono" --members "$MEMBERS" --files "$FILES" --seed "$SEED" \
    >"$work/mono-meta.json" 2>"$work/gen.log" || { cat "$work/gen.log" >&2; die "gen_monorepo.py failed"; }
  note mono "$(cat "$mono/meta.json")"
  [[ -n "$VELO" ]] && cp -a "$mono" "$mono_velo"
  [[ -n "$TURBO" ]] && cp -a "$mono" "$mono_turbo"
fi
if want hash; then
  say "gen_monorepo.py --hash-tree: $HASH_FILES input files"
  "$PY" "$here/gen_monorepo.py" --hash-tree --out "$hashp" --hash-files "$HASH_FILES" --seed "$SEED" \
    >"$work/hash-meta.json" 2>"$work/gen.log" || { cat "$work/gen.log" >&2; die "gen_monorepo.py --hash-tree failed"; }
  note hash "$(cat "$hashp/meta.json")"
fi

hf() { # KEY HYPERFINE-ARGS...: hyperfine with the exports run_summarize.py reads
  local key=$1; shift
  hyperfine --style basic --export-json "$work/hyperfine-$key.json" \
    --export-markdown "$work/hyperfine-$key.md" "$@"
}

# ---------------------------------------------------------------- hit: warm both caches
# warm LABEL KEY DIR CMD...: in DIR, a full build (every member's build runs once), then a
# second run that must execute nothing; the second run's output is kept as $work/KEY-hit.log.
warm() {
  local label=$1 key=$2 dir=$3 before after t0 t1; shift 3
  before=$(runlog_lines "$dir"); t0=$(now)
  run_in "$dir" "$work/$key-build.log" "$label (first, full build)" "$@"
  t1=$(now); after=$(runlog_lines "$dir")
  [[ $((after - before)) == "$MEMBERS" ]] \
    || die "$label (first run, empty cache) ran build in $((after - before)) of $MEMBERS members (want each once; see $work/$key-build.log)"
  note "${key}_full_build_s" "$("$PY" -c "print(round($t1 - $t0, 3))")"
  before=$after
  run_in "$dir" "$work/$key-hit.log" "$label (second run, warm cache)" "$@"
  after=$(runlog_lines "$dir")
  [[ "$after" == "$before" ]] \
    || die "$label (second run) executed build in $((after - before)) members: not a full cache hit (see $work/$key-hit.log)"
}

# Each timed command runs in its tool's tree: `env -C DIR` keeps hyperfine's -N (no shell in
# between; one exec of env for both tools alike); without env -C, a shell `cd DIR &&`.
if env -C / true 2>/dev/null; then
  in_dir() { printf 'env -C %s ' "$(q "$1")"; }
  HF_NOSHELL=(-N)
  note hit_launch "$(jstr "hyperfine -N, each command as \`env -C TREE TOOL run build\`")"
else
  in_dir() { printf 'cd %s && ' "$(q "$1")"; }
  HF_NOSHELL=()
  note hit_launch "$(jstr "hyperfine with a shell (no env -C here), each command as \`cd TREE && TOOL run build\`")"
fi

if want hit; then
  if [[ -n "$TURBO" ]]; then
    say "turbo run build: full build, then a full hit"
    warm "turbo run build" turbo "$mono_turbo" "$TURBO" run build
    turbo_hit=$(cat "$work/turbo-hit.log" "$work/turbo-hit.log.err")
    if grep -q 'FULL TURBO' <<<"$turbo_hit"; then
      note turbo_hit_check "$(jstr "second run: $(grep -E 'Cached:' <<<"$turbo_hit" | tr -s ' ' | head -n1) >>> FULL TURBO; no build executed")"
    elif grep -Eq "Cached: +$MEMBERS cached, $MEMBERS total" <<<"$turbo_hit"; then
      note turbo_hit_check "$(jstr "second run: $MEMBERS cached of $MEMBERS; no build executed")"
    else
      tail -n 20 <<<"$turbo_hit" >&2
      die "the second turbo run build did not report a full hit (no FULL TURBO, no '$MEMBERS cached, $MEMBERS total')"
    fi
  fi
  if [[ -n "$VELO" ]]; then
    say "velo run build: full build, then a full hit"
    warm "velo run build" velo "$mono_velo" "$VELO" run build
    # The run log proved it; velo's own words are checked loosely (the format is velo's).
    velo_hit=$(cat "$work/velo-hit.log" "$work/velo-hit.log.err")
    if grep -Eqi 'hit|cached|replay' <<<"$velo_hit"; then
      note velo_hit_check "$(jstr "second run executed no build; its output mentions cache hits ($(grep -Eci 'hit|cached|replay' <<<"$velo_hit") lines)")"
    else
      say "WARNING: the second velo run build executed nothing but its output does not mention a cache hit"
      note velo_hit_check "$(jstr "second run executed no build, but its output does not mention a cache hit (first line: ${velo_hit%%$'\n'*})")"
    fi
    before=$(runlog_lines "$mono_velo")
    run_in "$mono_velo" "$work/velo-dry.json" "velo run build --dry-run=json" "$VELO" run build --dry-run=json
    [[ "$(runlog_lines "$mono_velo")" == "$before" ]] || die "velo run build --dry-run=json executed builds"
    note velo_dry_run "$("$PY" "$here/run_summarize.py" --dry-run-report "$work/velo-dry.json" --expect "$MEMBERS")"
  fi

  say "hit: ${VELO:+velo run build}${VELO:+${TURBO:+ vs }}${TURBO:+turbo run build}, $MEMBERS members, all cached"
  hit_cmds=()
  [[ -n "$VELO" ]] && hit_cmds+=(-n "velo run build" "$(in_dir "$mono_velo")$(q "$VELO") run build")
  if [[ -n "$TURBO" ]]; then
    hit_cmds+=(-n "turbo run build" "$(in_dir "$mono_turbo")$(q "$TURBO") run build")
    if [[ "$TURBO_DAEMON_ROWS" == 1 ]]; then
      hit_cmds+=(-n "turbo run build --daemon" "$(in_dir "$mono_turbo")$(q "$TURBO") run build --daemon"
                 -n "turbo run build --no-daemon" "$(in_dir "$mono_turbo")$(q "$TURBO") run build --no-daemon")
    fi
    [[ -n "$TURBO_SHIM" ]] \
      && hit_cmds+=(-n "turbo run build (npm .bin/turbo, node wrapper)" "$(in_dir "$mono_turbo")$(q "$TURBO_SHIM") run build")
  fi
  before=$(( $(runlog_lines "$mono_velo") + $(runlog_lines "$mono_turbo") ))
  hf hit "${HF_NOSHELL[@]}" --warmup "$WARMUP" --runs "$RUNS" "${hit_cmds[@]}" \
    || die "hyperfine failed on the hit scenario (a command exited non-zero; VELO_BENCH_KEEP=1 keeps the trees to rerun it by hand)"
  after=$(( $(runlog_lines "$mono_velo") + $(runlog_lines "$mono_turbo") ))
  [[ "$after" == "$before" ]] || die "the timed runs executed build $((after - before)) times: they were not all full hits"
  note hit_runlog_check "$(jstr "no build executed during the $(( (RUNS + WARMUP) * ${#hit_cmds[@]} / 3 )) timed and warm-up runs of hyperfine")"
fi

# ---------------------------------------------------------------- hash
if want hash; then
  hash_cmds=()
  if [[ -n "$VELO" ]]; then
    run_in "$hashp" "$work/velo-hash-dry.json" "velo run hash --dry-run=json" "$VELO" run hash --dry-run=json
    note velo_hash_dry_run "$("$PY" "$here/run_summarize.py" --dry-run-report "$work/velo-hash-dry.json" --expect 1)"
    run_in "$hashp" "$work/velo-hash-force.log" "velo run hash --force" "$VELO" run hash --force
    hash_cmds+=(-n "velo run hash --dry-run=json" "$(q "$VELO") run hash --dry-run=json")
  fi
  if [[ -n "$TURBO" ]]; then
    run_in "$hashp" "$work/turbo-hash-dry.json" "turbo run hash --dry-run=json" "$TURBO" run hash --dry-run=json
    note turbo_hash_inputs "$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["tasks"][0]["inputs"]))' "$work/turbo-hash-dry.json" 2>/dev/null || echo null)"
    hash_cmds+=(-n "turbo run hash --dry-run=json" "$(q "$TURBO") run hash --dry-run=json")
  fi
  baseline=(-n "sha256sum of every file (find + xargs)" "find src -type f -print0 | xargs -0 sha256sum >/dev/null")
  force=()
  [[ -n "$VELO" ]] && force=(-n "velo run hash --force" "$(q "$VELO") run hash --force")

  say "hash: $HASH_FILES files, as they are"
  (cd "$hashp" && hf hash --warmup "$WARMUP" --runs "$RUNS" "${hash_cmds[@]}" "${force[@]}" "${baseline[@]}") \
    || die "hyperfine failed on the hash scenario"
  say "hash: $HASH_FILES files, every mtime bumped before each run"
  (cd "$hashp" && hf hash-touched --warmup "$WARMUP" --runs "$RUNS" \
      --prepare "find src -type f -exec touch {} +" "${hash_cmds[@]}") \
    || die "hyperfine failed on the hash-touched scenario"
fi

git_rev=$(git -C "$repo" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
"$PY" "$here/run_summarize.py" --work "$work" --scenarios "$SCENARIOS" \
  --runs "$RUNS" --warmup "$WARMUP" --git-rev "$git_rev" --out "$RESULTS"
say "wrote $RESULTS"

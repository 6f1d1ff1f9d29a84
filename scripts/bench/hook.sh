#!/usr/bin/env bash
# Benchmark the prompt overhead of velo's bash hook next to direnv's and mise's, in one run.
#
#   scripts/bench/hook.sh            # build velo (release), set up a project, measure
#
# One temp project (a copy of examples/project + examples/index, synced with `velo sync`)
# carries velo.json, an .envrc (direnv) and a mise.toml (mise), each giving the same
# environment: GREETING=hi and one bin dir on PATH. Each tool's hook is installed the way a
# user installs it (`eval "$(velo activate bash)"`, `eval "$(direnv hook bash)"`,
# `eval "$(mise activate bash)"`) in a bash process of its own, and a prompt is simulated the
# way bash runs one: `eval "$PROMPT_COMMAND"`. Inside that process (no bash startup in the
# numbers) a loop times with $EPOCHREALTIME:
#   unchanged  N prompts in the project, after two warm-up prompts (hook already active)
#   enter      N x (cd OUTSIDE; prompt; cd PROJECT; prompt): one leave + one enter per cycle
# Each measurement is repeated VELO_BENCH_REPEAT times (rounds interleave the tools, one fresh
# bash per tool per round); the summary takes the median. Goal (the issue): velo's unchanged
# prompt < 1 ms and >= 10x cheaper than each peer. hyperfine also times the standalone commands
# (`velo hook-env`, `direnv export bash`, `mise hook-env -s bash`) for reference, and strace
# (when present) counts the processes each prompt starts and any network connects.
# Results: scripts/bench/results-hook.md.
#
# Knobs (environment): VELO_BENCH_N (2000: velo unchanged prompts), VELO_BENCH_PEER_N (200:
# direnv/mise unchanged prompts), VELO_BENCH_ENTER_N (200: velo enter cycles),
# VELO_BENCH_PEER_ENTER_N (100: direnv/mise enter cycles), VELO_BENCH_REPEAT (5),
# VELO_BENCH_HF_RUNS (100), VELO_BENCH_HF_WARMUP (10), VELO_BENCH_BIN (a velo binary: skips the
# cargo build), VELO_BENCH_MISE (a mise binary, or "skip"; default: npm install @jdxcode/mise
# into the temp dir), VELO_BENCH_RESULTS (markdown output path), VELO_BENCH_KEEP=1 (keep the
# temp dir).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

N=${VELO_BENCH_N:-2000}
PEER_N=${VELO_BENCH_PEER_N:-200}
ENTER_N=${VELO_BENCH_ENTER_N:-200}
PEER_ENTER_N=${VELO_BENCH_PEER_ENTER_N:-100}
REPEAT=${VELO_BENCH_REPEAT:-5}
HF_RUNS=${VELO_BENCH_HF_RUNS:-100}
HF_WARMUP=${VELO_BENCH_HF_WARMUP:-10}
RESULTS=${VELO_BENCH_RESULTS:-$here/results-hook.md}
KEEP=${VELO_BENCH_KEEP:-0}
MISE_WANT=${VELO_BENCH_MISE:-npm}
PY=${PYTHON:-python3}
STRACE_N=20   # prompts / enter cycles per strace count

# shellcheck source=lib.sh
source "$here/lib.sh"

need_hyperfine
command -v direnv >/dev/null 2>&1 \
  || die "direnv is not on PATH; install it with: apt-get install -y direnv"
need "$PY" git
(( BASH_VERSINFO[0] >= 5 )) || die "bash 5 or newer is needed (\$EPOCHREALTIME); this is $BASH_VERSION"
BASH_BIN=$(command -v bash)

velo_binary

# realpath: the hooks compare $PWD with paths they computed; /tmp may be a symlink.
work=$(mktemp -d "${TMPDIR:-/tmp}/velo-bench-hook.XXXXXX")
work=$(cd "$work" && pwd -P)
cleanup() {
  if [[ "$KEEP" == 1 ]]; then echo "hook.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Nothing of the user's setup is read or written: every tool sees temp HOME/XDG/config dirs.
export HOME=$work/home
export XDG_CONFIG_HOME=$HOME/.config XDG_DATA_HOME=$HOME/.local/share \
  XDG_CACHE_HOME=$HOME/.cache XDG_STATE_HOME=$HOME/.local/state
export VELO_CONFIG_DIR=$work/velo-config VELO_CACHE_DIR=$work/velo-cache
export MISE_DATA_DIR=$work/mise/data MISE_CACHE_DIR=$work/mise/cache \
  MISE_CONFIG_DIR=$work/mise/config MISE_STATE_DIR=$work/mise/state \
  MISE_CEILING_PATHS=$work MISE_YES=1
export DIRENV_LOG_FORMAT=   # no "direnv: loading" lines on stderr
export NO_COLOR=1 LC_ALL=C NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY BASH_ENV ENV PROMPT_COMMAND
unset DIRENV_DIR DIRENV_FILE DIRENV_DIFF DIRENV_WATCHES __MISE_DIFF __MISE_SESSION __MISE_ORIG_PATH \
  MISE_SHELL __VELO_ROOT __VELO_STAMP __VELO_RESTORE __VELO_PWD
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME" \
  "$VELO_CONFIG_DIR" "$MISE_CONFIG_DIR"
BASE_PATH=$PATH

echo '{}' >"$work/info.json"

# ---------------------------------------------------------------- project (velo)
ex=$work/ex
P=$ex/project
OUT=$work/outside          # no velo.json / .envrc / mise.toml here or above (up to /)
mkdir -p "$ex" "$OUT"
cp -R "$repo/examples/project" "$repo/examples/index" "$ex/"
rm -rf "$P/.velo"
say "velo sync in $P"
if ! (cd "$P" && "$VELO" sync) >"$work/velo-sync.log" 2>&1; then
  cat "$work/velo-sync.log" >&2; die "velo sync failed in $P"
fi
[[ -f "$P/.velo/state.json" && -d "$P/.velo/bin" ]] || die "velo sync left no .velo/state.json or .velo/bin in $P"
# The hook applies a project's environment only once the user trusts it.
(cd "$P" && "$VELO" trust) >>"$work/velo-sync.log" 2>&1 || die "velo trust failed in $P"
for d in "$OUT" "$work" "$(dirname "$work")"; do
  [[ ! -e "$d/velo.json" && ! -e "$d/.envrc" && ! -e "$d/mise.toml" ]] || die "$d has a velo.json/.envrc/mise.toml; the 'outside' dir must have none"
done

# ---------------------------------------------------------------- direnv
printf 'export GREETING=hi\nPATH_add .velo/bin\n' >"$P/.envrc"
(cd "$P" && direnv allow .) >"$work/direnv.log" 2>&1 || { cat "$work/direnv.log" >&2; die "direnv allow failed"; }

# ---------------------------------------------------------------- mise
MISE=""
mise_skip() { say "mise: $1; velo and direnv only"; note mise_skipped "$(jstr "$1")"; MISE=""; }
install_mise

# The same environment as velo.json/.envrc: GREETING=hi and one tool's bin dir on PATH. The tool
# is hello 1.1.0 (a copy of velo's Cellar tree) linked with `mise link`; the `http:` backend
# needs no plugin or registry, and its url is a closed loopback port, so a download attempt
# would fail instead of going unnoticed.
MISE_BIN_DIR=""
if [[ -n "$MISE" ]]; then
  MISE_VERSION=$("$MISE" --version 2>/dev/null | head -n1)
  say "mise $MISE_VERSION: mise.toml with [env] GREETING and http:hello@1.1.0 (mise link)"
  mkdir -p "$work/mise/tools/hello"
  cp -R "$P/.velo/Cellar/hello/1.1.0/." "$work/mise/tools/hello/"
  cat >"$P/mise.toml" <<'EOF'
[env]
GREETING = "hi"

[tools]
"http:hello" = { version = "1.1.0", url = "http://127.0.0.1:9/unreachable/hello-1.1.0.tar.gz" }
EOF
  # For reference only (hyperfine): the same environment from [env] alone, no [tools].
  MISE_ENV_ONLY=$work/mise-env-only
  mkdir -p "$MISE_ENV_ONLY"
  printf '[env]\nGREETING = "hi"\n_.path = ["%s"]\n' "$work/mise/tools/hello/bin" >"$MISE_ENV_ONLY/mise.toml"
  if { "$MISE" link http:hello@1.1.0 "$work/mise/tools/hello" \
        && "$MISE" trust "$P/mise.toml" \
        && "$MISE" trust "$MISE_ENV_ONLY/mise.toml" \
        && (cd "$P" && "$MISE" install); } >"$work/mise.log" 2>&1 \
      && MISE_BIN_DIR=$(cd "$P" && "$MISE" where http:hello@1.1.0 2>>"$work/mise.log")/bin \
      && [[ -x "$MISE_BIN_DIR/hello" ]]; then
    note mise_version "$(jstr "$MISE_VERSION")"
  else
    cat "$work/mise.log" >&2
    rm -f "$P/mise.toml"
    mise_skip "mise link / trust / install of the linked tool failed (log above)"
  fi
fi

TOOLS="velo direnv${MISE:+ mise}"
note tools "$(jstr "$TOOLS")"

# ---------------------------------------------------------------- the measuring shell
# bash measure.bash TOOL N_UNCHANGED N_ENTER: install TOOL's hook, check that it applies and
# restores the environment, then print "unchanged N T0 T1" and "enter N T0 T1".
cat >"$work/measure.bash" <<'EOF'
tool=$1 n_unchanged=$2 n_enter=$3
fail() { echo "check FAIL $tool: $*"; exit 1; }
cd "$BENCH_PROJECT" || exit 1
case $tool in
  velo)   eval "$("$BENCH_VELO" activate bash)"; want_bin=$BENCH_PROJECT/.velo/bin ;;
  direnv) eval "$(direnv hook bash)"; want_bin=$BENCH_PROJECT/.velo/bin ;;
  mise)   eval "$("$BENCH_MISE" activate bash)"; want_bin=$BENCH_MISE_BIN ;;
  none)   _bench_noop_hook() { local ret=$?; return $ret; }; PROMPT_COMMAND=_bench_noop_hook; want_bin= ;;
  *)      fail "unknown tool" ;;
esac
[[ -n "${PROMPT_COMMAND-}" ]] || fail "the hook did not set PROMPT_COMMAND"
prompt() { eval "$PROMPT_COMMAND"; }
active() {   # in the project, with the hook's environment
  [[ $tool == none ]] && return 0
  [[ "${GREETING-}" == hi ]] || fail "$1: GREETING='${GREETING-<unset>}', want hi"
  [[ ":$PATH:" == *":$want_bin:"* ]] || fail "$1: PATH lacks $want_bin: $PATH"
}
inactive() { # outside, environment restored
  [[ $tool == none ]] && return 0
  [[ -z "${GREETING+x}" ]] || fail "$1: GREETING='$GREETING' outside the project"
  [[ ":$PATH:" != *":$want_bin:"* ]] || fail "$1: PATH still has $want_bin outside the project"
}
prompt; prompt
active "after activation"
cd "$BENCH_OUTSIDE"; prompt; inactive "after leaving"
cd "$BENCH_PROJECT"; prompt; prompt; active "after entering"

# unchanged: the hook is active and nothing changed.
t0=$EPOCHREALTIME
for ((i = 0; i < n_unchanged; i++)); do eval "$PROMPT_COMMAND"; done
t1=$EPOCHREALTIME
echo "unchanged $n_unchanged $t0 $t1"
active "after the unchanged loop"

# enter: leave (restore) and enter (apply) once per cycle.
t0=$EPOCHREALTIME
for ((i = 0; i < n_enter; i++)); do
  cd "$BENCH_OUTSIDE"; eval "$PROMPT_COMMAND"; cd "$BENCH_PROJECT"; eval "$PROMPT_COMMAND"
done
t1=$EPOCHREALTIME
echo "enter $n_enter $t0 $t1"
active "after the enter loop"
cd "$BENCH_OUTSIDE"; prompt; inactive "after the enter loop, leaving"
echo "check ok $tool"
EOF
export BENCH_PROJECT=$P BENCH_OUTSIDE=$OUT BENCH_VELO=$VELO BENCH_MISE=$MISE BENCH_MISE_BIN=$MISE_BIN_DIR

measure() { # TOOL N_UNCHANGED N_ENTER -> stdout of measure.bash; dies on a failed check
  local out
  out=$(env PATH="$BASE_PATH" "$BASH_BIN" --noprofile --norc "$work/measure.bash" "$@" 2>>"$work/measure-$1.stderr") \
    || { echo "$out" >&2; tail -n 20 "$work/measure-$1.stderr" >&2; die "measuring $1 failed"; }
  [[ "$out" == *"check ok $1"* ]] || { echo "$out" >&2; die "measuring $1: checks did not pass"; }
  printf '%s\n' "$out"
}

# ---------------------------------------------------------------- processes and network (strace)
# Processes started per prompt: execve count with K prompts minus with 0, over K.
if command -v strace >/dev/null 2>&1 && strace -f -qq -o /dev/null true 2>/dev/null; then
  say "strace: processes per prompt, network connects"
  strace_count() { # TOOL NU NE -> "EXECVES INET_CONNECTS"
    local f=$work/strace-$1-$2-$3.txt
    env PATH="$BASE_PATH" strace -f -qq -e trace=execve,connect -o "$f" \
      "$BASH_BIN" --noprofile --norc "$work/measure.bash" "$@" >/dev/null 2>>"$work/measure-$1.stderr" \
      || die "strace of $1 failed"
    echo "$(grep -cE '(execve\(|<\.\.\. execve resumed>).* = 0$' "$f" || true) $(grep -cE 'connect\(.*AF_INET6?' "$f" || true)"
  }
  for t in none $TOOLS; do
    c=$(strace_count "$t" 0 0); read -r base_e base_c <<<"$c"
    c=$(strace_count "$t" "$STRACE_N" 0); read -r un_e un_c <<<"$c"
    c=$(strace_count "$t" 0 "$STRACE_N"); read -r en_e en_c <<<"$c"
    note "procs_$t" "{\"unchanged\": $(( un_e - base_e )), \"enter\": $(( en_e - base_e )), \"k\": $STRACE_N, \"inet_connects\": $(( base_c + un_c + en_c ))}"
  done
else
  note procs_skipped "$(jstr "strace missing or not permitted (apt-get install -y strace)")"
fi

# ---------------------------------------------------------------- the loops
: >"$work/raw.txt"
say "timing: $REPEAT rounds; velo $N unchanged prompts + $ENTER_N enter cycles, peers $PEER_N + $PEER_ENTER_N"
for ((r = 1; r <= REPEAT; r++)); do
  for t in none $TOOLS; do
    case $t in velo|none) nu=$N ne=$ENTER_N ;; *) nu=$PEER_N ne=$PEER_ENTER_N ;; esac
    measure "$t" "$nu" "$ne" | sed -n "s/^\(unchanged\|enter\) /$r $t &/p" >>"$work/raw.txt"
  done
  echo "    round $r/$REPEAT: $(awk -v r="$r" '$1 == r { printf "%s %s %.1f us  ", $2, $3, ($6 - $5) / $4 * 1e6 }' "$work/raw.txt")" >&2
done

# Anything the hooks said on stderr while being measured (should be nothing).
for t in none $TOOLS; do
  f=$work/measure-$t.stderr
  if [[ -s "$f" ]]; then
    note "stderr_$t" "$(jstr "$(sort "$f" | uniq -c | sort -rn | head -n 5)")"
    say "WARNING: $t wrote to stderr while measured: $(head -n 3 "$f")"
  fi
done

# ---------------------------------------------------------------- hyperfine, standalone commands
hf() { # KEY ARGS...
  local key=$1; shift
  hyperfine --style basic -N --warmup "$HF_WARMUP" --runs "$HF_RUNS" \
    --export-json "$work/hyperfine-$key.json" "$@" >&2
}
say "hyperfine: standalone commands (-N --warmup $HF_WARMUP --runs $HF_RUNS)"
# Not active (a plain environment): what each hook runs when entering the project.
fresh=(-n "velo hook-env --shell bash -- ROOT" "$(q "$VELO") hook-env --shell bash -- $(q "$P")"
       -n "direnv export bash (not loaded: loads .envrc)" "direnv export bash")
[[ -n "$MISE" ]] && fresh+=(-n "mise hook-env -s bash (not active)" "$(q "$MISE") hook-env -s bash")
(cd "$P" && hf fresh "${fresh[@]}")
if [[ -n "$MISE" ]]; then
  (cd "$MISE_ENV_ONLY" && hf mise-env-only \
    -n "mise hook-env -s bash (not active; [env] only, no [tools])" "$(q "$MISE") hook-env -s bash")
fi
# Active (the tool's environment applied, nothing changed): what the hook runs on every prompt.
check_quiet() { # LABEL OUTPUT: the command must print nothing in the active state
  [[ -z "$2" ]] || say "WARNING: $1 printed output in the active state: ${2:0:200}"
  note "active_output_$1" "${#2}"
}
(cd "$P" && eval "$(direnv export bash 2>/dev/null)" \
  && check_quiet direnv "$(direnv export bash 2>&1)" \
  && hf direnv-active -n "direnv export bash (loaded, unchanged)" "direnv export bash")
if [[ -n "$MISE" ]]; then
  (cd "$P" && eval "$("$MISE" hook-env -s bash 2>/dev/null)" \
    && check_quiet mise "$("$MISE" hook-env -s bash 2>&1)" \
    && hf mise-active -n "mise hook-env -s bash (active, unchanged)" "$(q "$MISE") hook-env -s bash")
fi

# ---------------------------------------------------------------- summary
git_rev=$(git -C "$repo" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
"$PY" "$here/hook_summarize.py" --work "$work" --raw "$work/raw.txt" \
  --n "$N" --peer-n "$PEER_N" --enter-n "$ENTER_N" --peer-enter-n "$PEER_ENTER_N" \
  --repeat "$REPEAT" --hf-runs "$HF_RUNS" --hf-warmup "$HF_WARMUP" \
  --bash-version "$BASH_VERSION" \
  --direnv-version "$(direnv version 2>/dev/null | head -n1)" \
  --mise-version "${MISE:+$("$MISE" --version 2>/dev/null | head -n1)}" \
  --velo-version "$("$VELO" --version 2>/dev/null | head -n1)" --git-rev "$git_rev" \
  --out "$RESULTS"
say "wrote $RESULTS"

# Shared by the benchmark scripts (sourced). Callers define `repo`, `work`, `PY` and (for `want`)
# `SCENARIOS`; `install_mise` also needs `MISE_WANT` and a `mise_skip REASON` of their own,
# `install_turbo` `TURBO_WANT` and a `turbo_skip REASON`.

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
say() { echo "==> $*" >&2; }
# want SCENARIO: whether it is one of $SCENARIOS.
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }
q() { printf '%q' "$1"; }
# need TOOL...: stop unless every one is on PATH.
need() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || die "$t is not on PATH"; done
}
need_hyperfine() {
  command -v hyperfine >/dev/null 2>&1 \
    || die "hyperfine is not on PATH; install it with: apt-get install -y hyperfine (or: cargo install hyperfine)"
}

# note KEY VALUE(JSON): record a fact for the summary in $work/info.json (which must exist).
note() {
  "$PY" - "$work/info.json" "$@" <<'PYTHON'
import json, sys
path, key, value = sys.argv[1:]
d = json.load(open(path))
d[key] = json.loads(value)
json.dump(d, open(path, "w"), indent=1)
PYTHON
}

# jstr TEXT: TEXT as a JSON string.
jstr() { "$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

# Set VELO to an absolute path: `VELO_BENCH_BIN`, or a fresh release build.
velo_binary() {
  if [[ -n "${VELO_BENCH_BIN:-}" ]]; then
    VELO=$VELO_BENCH_BIN
  else
    say "cargo build --release"
    (cd "$repo" && cargo build --release)
    VELO=$repo/target/release/velo
  fi
  [[ -x "$VELO" ]] || die "no velo binary at $VELO"
  VELO=$(cd "$(dirname "$VELO")" && pwd)/$(basename "$VELO")
}

# Set MISE to a runnable mise: from npm into $work/npm (MISE_WANT=npm), a given path, or none
# (calling mise_skip with the reason).
install_mise() {
  MISE=""
  case "$MISE_WANT" in
    skip|0|no|"") mise_skip "VELO_BENCH_MISE=$MISE_WANT" ;;
    npm)
      say "npm install --prefix $work/npm @jdxcode/mise"
      if ! command -v npm >/dev/null 2>&1; then
        mise_skip "npm is not on PATH (apt-get install -y npm), so mise could not be installed"
      elif npm install --prefix "$work/npm" --no-audit --no-fund --loglevel=error @jdxcode/mise \
          >"$work/npm.log" 2>&1; then
        # The package's preinstall links the platform binary to bin/mise; if install scripts
        # were blocked, use the platform package's binary directly.
        local m
        for m in "$work/npm/node_modules/.bin/mise" \
                 "$work"/npm/node_modules/@jdxcode/mise/node_modules/@jdxcode/mise-*/bin/mise \
                 "$work"/npm/node_modules/@jdxcode/mise-*/bin/mise; do
          if [[ -x "$m" ]] && "$m" --version >/dev/null 2>&1; then MISE=$m; break; fi
        done
        [[ -n "$MISE" ]] || mise_skip "npm installed @jdxcode/mise but no runnable mise binary was found (see $work/npm.log)"
      else
        mise_skip "npm install @jdxcode/mise failed: $(tail -n 3 "$work/npm.log" | tr '\n' ' ')"
      fi ;;
    *)
      if [[ -x "$MISE_WANT" ]] && "$MISE_WANT" --version >/dev/null 2>&1; then MISE=$MISE_WANT
      else mise_skip "VELO_BENCH_MISE=$MISE_WANT is not a runnable mise"; fi ;;
  esac
}

# Set TURBO to a runnable native turbo binary and TURBO_SHIM to npm's `.bin/turbo` (the node
# script that a global or `npx` turbo runs, which starts the native binary): from npm into
# $work/npm (TURBO_WANT=npm: npm package `turbo`, 2.x), a given path (TURBO_SHIM stays empty),
# or none (calling turbo_skip with the reason). Needs TURBO_WANT and a `turbo_skip REASON`.
install_turbo() {
  TURBO="" TURBO_SHIM=""
  case "$TURBO_WANT" in
    skip|0|no|"") turbo_skip "VELO_BENCH_TURBO=$TURBO_WANT" ;;
    npm)
      say "npm install --prefix $work/npm turbo@2"
      if ! command -v npm >/dev/null 2>&1; then
        turbo_skip "npm is not on PATH (apt-get install -y npm), so turbo could not be installed"
      elif npm install --prefix "$work/npm" --no-audit --no-fund --loglevel=error 'turbo@2' \
          >"$work/npm-turbo.log" 2>&1; then
        # The platform binary comes in an optional dependency (@turbo/linux-64, ...).
        local t
        for t in "$work"/npm/node_modules/@turbo/*/bin/turbo \
                 "$work"/npm/node_modules/turbo/node_modules/@turbo/*/bin/turbo; do
          if [[ -x "$t" ]] && "$t" --version >/dev/null 2>&1; then TURBO=$t; break; fi
        done
        t=$work/npm/node_modules/.bin/turbo
        if [[ -x "$t" ]] && "$t" --version >/dev/null 2>&1; then
          TURBO_SHIM=$t
          [[ -n "$TURBO" ]] || TURBO=$t
        fi
        [[ -n "$TURBO" ]] || turbo_skip "npm installed turbo but no runnable turbo binary was found (see $work/npm-turbo.log)"
      else
        turbo_skip "npm install turbo@2 failed: $(tail -n 3 "$work/npm-turbo.log" | tr '\n' ' ')"
      fi ;;
    *)
      if [[ -x "$TURBO_WANT" ]] && "$TURBO_WANT" --version >/dev/null 2>&1; then TURBO=$TURBO_WANT
      else turbo_skip "VELO_BENCH_TURBO=$TURBO_WANT is not a runnable turbo"; fi ;;
  esac
}

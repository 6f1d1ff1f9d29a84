# velo for direnv: save as ~/.config/direnv/lib/use_velo.sh (`velo direnv > …`), then put
# `use velo` in a project's .envrc. direnv reloads when velo.json, velo.lock or the installed
# state change.
use_velo() {
  watch_file velo.json velo.lock .velo/state.json
  eval "$(__VELO_EXE__ env --shell bash 2>/dev/null)"
}

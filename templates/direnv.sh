# velo for direnv: save as ~/.config/direnv/lib/use_velo.sh (`velo direnv > …`), then put
# `use velo` in a project's .envrc. direnv reloads when velo.json, velo.lock, the installed
# state or velo's trust records change. `direnv allow` trusts the .envrc; velo applies a
# project's environment only once `velo trust` trusts its velo.json as well.
use_velo() {
  watch_file velo.json velo.lock .velo/state.json
  eval "$(__VELO_EXE__ hook-env --direnv --shell bash)"
}

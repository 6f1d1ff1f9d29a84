# velo shell hook for zsh: `eval "$(velo activate zsh)"` in ~/.zshrc.
# On each prompt and directory change, find the nearest velo.json with builtins only; when the
# project, its velo.json, velo.lock, .velo/state.json and the user's trust.json are what they
# were last time, do nothing. Otherwise restore what velo changed and ask `velo hook-env` once
# (which applies nothing for a project the user has not trusted with `velo trust`).
# Remember how to put variable $1 back exactly as it is now: its value and whether it is
# exported, or that it is unset. Builtins only.
_velo_save() {
  if (( ${(P)+1} )); then
    if [[ ${(tP)1} == *export* ]]; then
      __VELO_RESTORE+="export $1=${(qq)${(P)1}};"
    else
      __VELO_RESTORE+="typeset -g +x $1=${(qq)${(P)1}};"
    fi
  else
    __VELO_RESTORE+="unset $1;"
  fi
}
_velo_hook() {
  local ret=$? dir root=
  if [[ -n "${__VELO_ROOT-}" && "$PWD" == "${__VELO_PWD-}" ]]; then
    root=$__VELO_ROOT
  else
    dir=$PWD
    while :; do
      if [[ -f "$dir/velo.json" ]]; then root=$dir; break; fi
      [[ -z "$dir" || "$dir" == / ]] && break
      dir=${dir%/*}
      [[ -z "$dir" ]] && dir=/
    done
    typeset -g __VELO_PWD=$PWD
  fi
  if [[ -z "$root" ]]; then
    if [[ -n "${__VELO_ROOT-}" ]]; then
      eval "$__VELO_RESTORE"
      unset __VELO_ROOT __VELO_STAMP __VELO_TRUST __VELO_RESTORE
    fi
    return $ret
  fi
  if [[ "$root" == "${__VELO_ROOT-}" && -e "${__VELO_STAMP-}" \
        && ! "$root/velo.json" -nt "$__VELO_STAMP" && ! "$root/velo.lock" -nt "$__VELO_STAMP" \
        && ! "$root/.velo/state.json" -nt "$__VELO_STAMP" && ! "${__VELO_TRUST-}" -nt "$__VELO_STAMP" ]]; then
    return $ret
  fi
  local entered=
  [[ "$root" != "${__VELO_ROOT-}" ]] && entered=--entered
  [[ -n "${__VELO_ROOT-}" ]] && eval "$__VELO_RESTORE"
  eval "$(__VELO_EXE__ hook-env --shell zsh $entered -- "$root")"
  return $ret
}
typeset -ag precmd_functions chpwd_functions
(( ${precmd_functions[(I)_velo_hook]} )) || precmd_functions=(_velo_hook $precmd_functions)
(( ${chpwd_functions[(I)_velo_hook]} )) || chpwd_functions=(_velo_hook $chpwd_functions)

# velo shell hook for fish: `velo activate fish | source` in ~/.config/fish/config.fish.
# On each prompt and directory change, find the nearest velo.json with builtins only; when the
# project, its velo.json, velo.lock, .velo/state.json and the user's trust.json are what they
# were last time, do nothing. Otherwise restore what velo changed and ask `velo hook-env` once
# (which applies nothing for a project the user has not trusted with `velo trust`).
# Remember how to put variable $argv[1] back exactly as it is now: its value and whether it is
# exported, or that it is unset. Builtins only.
function __velo_save
    if set -q $argv[1]
        set -l scope -gu
        set -qx $argv[1]; and set scope -gx
        set -l value (string escape -- $$argv[1])
        set -g __VELO_RESTORE "$__VELO_RESTORE; set $scope $argv[1] $value"
    else
        set -g __VELO_RESTORE "$__VELO_RESTORE; set -e $argv[1]"
    end
end

function __velo_hook --on-variable PWD --on-event fish_prompt
    set -l root
    if set -q __VELO_ROOT; and test "$PWD" = "$__VELO_PWD"
        set root $__VELO_ROOT
    else
        set -l dir $PWD
        while true
            if test -f "$dir/velo.json"
                set root $dir
                break
            end
            if test -z "$dir"; or test "$dir" = /
                break
            end
            set dir (string replace -r '/[^/]*$' '' -- $dir)
            test -z "$dir"; and set dir /
        end
        set -g __VELO_PWD $PWD
    end
    if test -z "$root"
        if set -q __VELO_ROOT
            eval $__VELO_RESTORE
            set -e __VELO_ROOT __VELO_STAMP __VELO_TRUST __VELO_RESTORE
        end
        return
    end
    if set -q __VELO_ROOT; and test "$root" = "$__VELO_ROOT"; and test -e "$__VELO_STAMP"
        and not test "$root/velo.json" -nt "$__VELO_STAMP"
        and not test "$root/velo.lock" -nt "$__VELO_STAMP"
        and not test "$root/.velo/state.json" -nt "$__VELO_STAMP"
        and not test "$__VELO_TRUST" -nt "$__VELO_STAMP"
        return
    end
    set -l entered
    test "$root" = "$__VELO_ROOT"; or set entered --entered
    set -q __VELO_ROOT; and eval $__VELO_RESTORE
    __VELO_EXE__ hook-env --shell fish $entered -- "$root" | source
end

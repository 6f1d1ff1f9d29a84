//! Shell activation: the hook scripts (`templates/hook.*`), the commands `velo hook-env` prints,
//! and the stamp file that lets the hook skip work with shell builtins alone.
//!
//! The hook remembers four shell variables: `__VELO_ROOT` (the active project),
//! `__VELO_STAMP` (a file whose modification time is that of the newest of the project's
//! `velo.json`, `velo.lock`, `.velo/state.json` and the user's `trust.json` when the
//! environment was computed), `__VELO_TRUST` (that `trust.json`, so `velo trust` is seen at
//! the next prompt) and `__VELO_RESTORE` (commands that put back every variable velo changed,
//! set or unset). A project the user has not trusted ([`trust`]) gets the same variables and
//! no environment: the hook stays quiet and process-free until something changes.

pub mod trust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::install::shell_quote;

const BASH_HOOK: &str = include_str!("../../templates/hook.bash");
const ZSH_HOOK: &str = include_str!("../../templates/hook.zsh");
const FISH_HOOK: &str = include_str!("../../templates/hook.fish");
const DIRENV_LIB: &str = include_str!("../../templates/direnv.sh");

/// Where hook stamps live in the cache.
pub const HOOK_BUCKET: &str = "hook-v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    /// The user's shell from `$SHELL`, else bash.
    pub fn from_env() -> Shell {
        let shell = std::env::var("SHELL").unwrap_or_default();
        match shell.rsplit('/').next() {
            Some("zsh") => Shell::Zsh,
            Some("fish") => Shell::Fish,
            _ => Shell::Bash,
        }
    }
}

/// The hook for `shell`, calling velo at `exe`.
pub fn activation_script(shell: Shell, exe: &Path) -> String {
    let template = match shell {
        Shell::Bash => BASH_HOOK,
        Shell::Zsh => ZSH_HOOK,
        Shell::Fish => FISH_HOOK,
    };
    let quoted = match shell {
        Shell::Fish => fish_quote(&exe.to_string_lossy()),
        Shell::Bash | Shell::Zsh => shell_quote(&exe.to_string_lossy()),
    };
    template.replace("__VELO_EXE__", &quoted)
}

/// The direnv library defining `use velo`.
pub fn direnv_script(exe: &Path) -> String {
    DIRENV_LIB.replace("__VELO_EXE__", &shell_quote(&exe.to_string_lossy()))
}

/// Quote for fish: single quotes, with `\` and `'` escaped.
pub fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn set_var(shell: Shell, name: &str, value: &str) -> String {
    match shell {
        Shell::Bash | Shell::Zsh => format!("export {name}={};\n", shell_quote(value)),
        Shell::Fish if name == "PATH" => {
            let parts: Vec<String> = value.split(':').map(fish_quote).collect();
            format!("set -gx PATH {};\n", parts.join(" "))
        }
        Shell::Fish => format!("set -gx {name} {};\n", fish_quote(value)),
    }
}

/// Whether a variable can be set from a script: a valid name, and a value without NUL (which
/// no environment can hold, and which shells drop from command output with a warning).
fn exportable(name: &str, value: &str) -> bool {
    crate::manifest::is_valid_env_name(name) && !value.contains('\0')
}

/// Commands that set `vars` in `shell`, one per line.
pub fn export_script(shell: Shell, vars: &BTreeMap<String, String>) -> String {
    vars.iter()
        .filter(|(name, value)| exportable(name, value))
        .map(|(name, value)| set_var(shell, name, value))
        .collect()
}

fn set_global(shell: Shell, name: &str, value: &str) -> String {
    match shell {
        Shell::Bash | Shell::Zsh => format!("{name}={};\n", shell_quote(value)),
        Shell::Fish => format!("set -g {name} {};\n", fish_quote(value)),
    }
}

/// What `velo hook-env` prints: have the shell remember each variable it is about to change
/// (its own helper sees unexported variables, which velo cannot), apply `vars`, and record the
/// project root, the stamp and the trust file.
pub fn hook_output(
    shell: Shell,
    vars: &BTreeMap<String, String>,
    root: &Path,
    stamp: &Path,
    trust_file: Option<&Path>,
) -> String {
    let save = match shell {
        Shell::Bash | Shell::Zsh => "_velo_save",
        Shell::Fish => "__velo_save",
    };
    let mut out = set_global(shell, "__VELO_RESTORE", "");
    for name in vars
        .iter()
        .filter(|(name, value)| exportable(name, value))
        .map(|(name, _)| name)
    {
        out.push_str(&format!("{save} {name};\n"));
    }
    out.push_str(&export_script(shell, vars));
    out.push_str(&set_global(shell, "__VELO_ROOT", &root.to_string_lossy()));
    out.push_str(&set_global(shell, "__VELO_STAMP", &stamp.to_string_lossy()));
    let trust_file = trust_file.map(|path| path.to_string_lossy()).unwrap_or_default();
    out.push_str(&set_global(shell, "__VELO_TRUST", &trust_file));
    out
}

/// The files whose changes make the hook ask again.
pub fn watched_files(root: &Path) -> [PathBuf; 3] {
    [
        root.join(crate::manifest::MANIFEST_FILE),
        root.join(crate::lock::LOCK_FILE),
        crate::install::Layout::new(root).state_path(),
    ]
}

/// The newest modification time among the watched files and the trust file.
pub fn newest_watched(root: &Path, trust_file: Option<&Path>) -> Option<SystemTime> {
    watched_files(root)
        .iter()
        .map(PathBuf::as_path)
        .chain(trust_file)
        .filter_map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
        .max()
}

/// File systems stamp times with a coarse clock: a file written within this long of being read
/// could change again without its time moving.
const SETTLE: Duration = Duration::from_millis(50);

/// A digest of the watched files' contents, kept in the stamp so that a second look at files
/// that did not really change can stay quiet.
pub fn watched_digest(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for path in watched_files(root) {
        // Never a FIFO or a device: the prompt must not hang on a planted file.
        let bytes =
            crate::fs::owned::read_regular(&path, crate::fs::owned::MAX_PROJECT_FILE).unwrap_or_default();
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    hex::encode(hasher.finalize())
}

/// The digest the stamp recorded last time, if any.
pub fn read_stamp(stamp: &Path) -> Option<String> {
    std::fs::read_to_string(stamp)
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

/// Record `seen` (what [`newest_watched`] said before the files were read) as the stamp file's
/// time, and `digest` as its content. When `seen` is too recent to trust, the stamp is set just
/// before it, so the next prompt looks once more.
pub fn write_stamp(stamp: &Path, seen: Option<SystemTime>, digest: &str) -> std::io::Result<()> {
    if let Some(dir) = stamp.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let mut file = std::fs::File::create(stamp)?;
    std::io::Write::write_all(&mut file, digest.as_bytes())?;
    let Some(seen) = seen else { return Ok(()) };
    let settled = SystemTime::now()
        .duration_since(seen)
        .is_ok_and(|age| age > SETTLE);
    let time = if settled {
        seen
    } else {
        seen.checked_sub(Duration::from_nanos(1)).unwrap_or(seen)
    };
    file.set_modified(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_output_saves_before_setting() {
        let vars: BTreeMap<String, String> = [("PATH", "/p/.velo/bin:/usr/bin"), ("GREETING", "hi")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let trust = Some(Path::new("/t/trust.json"));
        let out = hook_output(Shell::Bash, &vars, Path::new("/p"), Path::new("/c/stamp"), trust);
        assert_eq!(
            out,
            "__VELO_RESTORE='';\n_velo_save GREETING;\n_velo_save PATH;\nexport GREETING='hi';\nexport PATH='/p/.velo/bin:/usr/bin';\n__VELO_ROOT='/p';\n__VELO_STAMP='/c/stamp';\n__VELO_TRUST='/t/trust.json';\n"
        );
        let fish = hook_output(Shell::Fish, &vars, Path::new("/p"), Path::new("/c/stamp"), trust);
        assert!(
            fish.starts_with("set -g __VELO_RESTORE '';\n__velo_save GREETING;\n"),
            "{fish}"
        );
        assert!(fish.contains("set -gx PATH '/p/.velo/bin' '/usr/bin';"), "{fish}");
    }

    #[test]
    fn nothing_unexportable_reaches_the_shell() {
        let vars: BTreeMap<String, String> = [("NUL", "a\0b"), ("A;touch x", "1"), ("OK", "$(x)`y`'z'")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let out = hook_output(shell, &vars, Path::new("/p"), Path::new("/s"), None);
            assert!(!out.contains("NUL") && !out.contains("touch"), "{out}");
            assert!(out.contains("OK"), "{out}");
        }
        assert_eq!(
            export_script(Shell::Bash, &vars),
            r#"export OK='$(x)`y`'\''z'\''';"#.to_string() + "\n"
        );
        assert_eq!(
            export_script(Shell::Fish, &vars),
            r#"set -gx OK '$(x)`y`\'z\'';"#.to_string() + "\n"
        );
    }

    #[test]
    fn stamps_settle() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = dir.path().join("stamp");
        let old = SystemTime::now() - Duration::from_secs(10);
        write_stamp(&stamp, Some(old), "d1").unwrap();
        assert_eq!(std::fs::metadata(&stamp).unwrap().modified().unwrap(), old);
        let fresh = SystemTime::now();
        write_stamp(&stamp, Some(fresh), "d2").unwrap();
        assert_eq!(read_stamp(&stamp).as_deref(), Some("d2"));
        assert!(std::fs::metadata(&stamp).unwrap().modified().unwrap() < fresh);
    }
}

//! Pouring Homebrew bottles: relocating a keg from Homebrew's placeholders and default prefix
//! to the project's, on Linux (ELF) and macOS (Mach-O).

pub mod macho;

pub mod elf;
pub mod pour;
pub mod prefix;
pub mod text;

pub use pour::{relocate_keg, Relocation};
pub use prefix::{shared_prefix, PrefixKind};

use std::path::PathBuf;

/// Homebrew's default prefix on Linux, compiled into pinned bottles and into RPATHs.
pub const LINUXBREW_PREFIX: &str = "/home/linuxbrew/.linuxbrew";

#[derive(Debug, thiserror::Error)]
pub enum BrewError {
    #[error("failed to pour `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` in `{formula}` is not an ELF file velo can rewrite: {reason}", path.display())]
    BadElf {
        formula: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "`{formula}` needs glibc {}.{} (`{}`), but this machine has glibc {}.{}\nhint: use a newer Linux distribution, or install `{formula}` another way",
        needed.0, needed.1, path.display(), host.0, host.1
    )]
    GlibcTooOld {
        formula: String,
        path: PathBuf,
        needed: (u32, u32),
        host: (u32, u32),
    },
    #[error(
        "`{formula}` is a pinned bottle built for `{old}`, and its compiled-in paths can only be replaced by one no longer than that; `{}` is longer\nhint: set `{}` to a shorter directory (at most {} characters), for example `~/.vb`",
        new.display(), crate::env_vars::VELO_HOMEBREW_PREFIX, old.len()
    )]
    PrefixTooLong {
        formula: String,
        old: String,
        new: PathBuf,
    },
    #[error("the lock names a bottle for formula `{0}`, which is not a formula name\nhint: run `velo lock` to write the lock again")]
    BadFormula(String),
    #[error("this machine's dynamic loader could not be found (no PT_INTERP in velo or `/bin/sh`)")]
    NoLoader,
}

/// Whether `name` can be a formula's directory: lowercase letters, digits and `._+@-`,
/// starting with a letter or digit (so never `..` nor a path).
pub fn is_plain_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._+@-".contains(&b))
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BrewError + '_ {
    move |source| BrewError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formula_names_are_plain() {
        for name in ["openssl@3", "gtk+3", "python@3.12", "ca-certificates"] {
            assert!(super::is_plain_name(name), "{name}");
        }
        for name in ["", "..", ".hidden", "a/b", "../../etc", "Upper"] {
            assert!(!super::is_plain_name(name), "{name}");
        }
    }
}

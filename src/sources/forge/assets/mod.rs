//! Picking a release's asset for a platform, the way grel does: read each name's words, drop
//! every asset that does not fit (with the reason in words), and sort the rest by a fixed
//! cascade. No scores, no fuzzy matching: the same assets always give the same choice, whatever
//! order the forge lists them in.
//!
//! What is dropped, in this order (the first reason found is the one reported):
//! - with a user pattern, names it does not match;
//! - files that are not installable: checksums, signatures, SBOMs, attestations, certificates,
//!   text, scripts, system packages (`.deb`, `.msi`, `.dmg`, `setup.exe`, …), VS Code
//!   extensions, debug symbols, formats velo does not unpack;
//! - debug builds (`debug`, `dSYM`, `symbols` in the name);
//! - builds for another OS; on Windows, bare executables that do not say Windows nor end in
//!   `.exe`;
//! - source archives (`src`, `source` or no platform word at all, when other assets have one);
//! - builds for another architecture (32-bit ones too, unless `allow_32bit_fallback`).
//!
//! The cascade, first difference wins:
//! 0. the OS is named (by a word, by `.exe`, or by a Linux libc word) before it is not;
//! 1. architecture: exact > universal (macOS) > not named > 32-bit fallback;
//! 2. libc: on Linux musl/static > unknown > gnu (gnu first without `prefer_musl`); on Windows
//!    msvc > unknown > gnu (MinGW);
//! 3. format: tar.gz, tar.xz, tar.zst, zip, tar.bz2, gz, xz, zst, raw; on Windows zip, `.exe`,
//!    then the others in the same order;
//! 4. fewer extra words (the project's name, `extended`, `baseline`: the plain build before its
//!    variants), then the shorter name;
//! 5. the name itself.
//!
//! With a user pattern only the name orders the candidates.

mod glob;
mod kind;
mod tokens;

#[cfg(test)]
mod tests;

use crate::platform::Platform;

pub use kind::{archive_format, is_checksum_file};
pub use tokens::tokens;

use kind::Kind;
use tokens::{Arch, Os, Traits};

/// One release asset as a forge lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetInfo {
    pub name: String,
    pub size: Option<u64>,
}

/// The C library a Linux build is linked against, as far as its name says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Libc {
    Musl,
    Gnu,
    Static,
    #[default]
    Unknown,
}

/// The libc the name of an asset says it is built for (`Unknown` when it says none).
pub fn libc(name: &str) -> Libc {
    tokens::traits(name).libc
}

/// How to choose among a release's assets.
#[derive(Debug, Clone)]
pub struct Preferences {
    /// Linux: prefer musl/static builds (default true) or gnu.
    pub prefer_musl: bool,
    /// Allow 32-bit x86/arm builds when no 64-bit one exists (default false).
    pub allow_32bit_fallback: bool,
    /// A user pattern (`*` and `?` wildcards, matched against the whole asset name,
    /// case-insensitive) that overrides detection: when set, only matching assets are
    /// candidates (checksums, signatures and other files velo cannot install still are not),
    /// sorted by name.
    pub pattern: Option<String>,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            prefer_musl: true,
            allow_32bit_fallback: false,
            pattern: None,
        }
    }
}

/// Why an asset was kept or dropped, for `velo info --assets` and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Kept; `rank` is its place in [`Selection::candidates`], 0 for the chosen one.
    Candidate { rank: usize },
    /// Dropped, and why, in words: `checksum file`, `for windows, not linux`, `arm32 build`.
    Dropped(String),
}

/// The outcome of [`select`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The asset to install: the first candidate, if any.
    pub chosen: Option<usize>,
    /// Indices into the input, best first.
    pub candidates: Vec<usize>,
    /// A verdict for every input asset, in input order.
    pub verdicts: Vec<(usize, Verdict)>,
}

/// The asset of `assets` to install on `platform`, the other candidates, and why each of the
/// rest was dropped. Deterministic: the same assets in any order give the same choice (ties are
/// broken by name).
pub fn select(assets: &[AssetInfo], platform: Platform, prefs: &Preferences) -> Selection {
    let target = Target::of(platform);
    let read: Vec<(Kind, Traits)> = assets
        .iter()
        .map(|asset| {
            let traits = tokens::traits(&asset.name);
            (kind::classify_with(&asset.name, &traits), traits)
        })
        .collect();
    let any_os_named = read
        .iter()
        .any(|(kind, traits)| !kind.describes_other_files() && !traits.os.is_empty());

    let mut ranked: Vec<(Rank<'_>, usize)> = Vec::new();
    let mut verdicts: Vec<(usize, Verdict)> = Vec::with_capacity(assets.len());
    for (index, (asset, (kind, traits))) in assets.iter().zip(&read).enumerate() {
        let judged = match &prefs.pattern {
            Some(pattern) => judge_by_pattern(asset, kind, pattern),
            None => judge(asset, kind, traits, target, prefs, any_os_named),
        };
        match judged {
            Ok(rank) => ranked.push((rank, index)),
            Err(reason) => verdicts.push((index, Verdict::Dropped(reason))),
        }
    }
    ranked.sort();
    let candidates: Vec<usize> = ranked.iter().map(|&(_, index)| index).collect();
    verdicts.extend(
        candidates
            .iter()
            .enumerate()
            .map(|(rank, &index)| (index, Verdict::Candidate { rank })),
    );
    verdicts.sort_by_key(|&(index, _)| index);
    Selection {
        chosen: candidates.first().copied(),
        candidates,
        verdicts,
    }
}

/// The platform being selected for, as the words of a name would say it.
#[derive(Debug, Clone, Copy)]
struct Target {
    os: Os,
    arch: Arch,
}

impl Target {
    fn of(platform: Platform) -> Target {
        let (os, arch) = match platform {
            Platform::LinuxX86_64 => (Os::Linux, Arch::X86_64),
            Platform::LinuxAarch64 => (Os::Linux, Arch::Aarch64),
            Platform::MacosX86_64 => (Os::Macos, Arch::X86_64),
            Platform::MacosAarch64 => (Os::Macos, Arch::Aarch64),
            Platform::WindowsX86_64 => (Os::Windows, Arch::X86_64),
            Platform::WindowsAarch64 => (Os::Windows, Arch::Aarch64),
        };
        Target { os, arch }
    }

    /// The 32-bit architecture this one's machines can also run.
    fn arch_32bit(self) -> Arch {
        match self.arch {
            Arch::Aarch64 => Arch::Arm32,
            _ => Arch::X86,
        }
    }
}

/// A candidate's place in the cascade: fields compare in order, lower is better.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank<'a> {
    os: u8,
    arch: u8,
    libc: u8,
    format: u8,
    extra_words: usize,
    length: usize,
    name: &'a str,
    /// Only two assets with the same name get this far.
    size: Option<u64>,
}

impl<'a> Rank<'a> {
    /// The rank of a candidate picked by a user pattern: by name alone.
    fn by_name(asset: &'a AssetInfo) -> Rank<'a> {
        Rank {
            os: 0,
            arch: 0,
            libc: 0,
            format: 0,
            extra_words: 0,
            length: 0,
            name: &asset.name,
            size: asset.size,
        }
    }
}

fn judge_by_pattern<'a>(asset: &'a AssetInfo, kind: &Kind, pattern: &str) -> Result<Rank<'a>, String> {
    if !glob::matches(pattern, &asset.name) {
        return Err(format!("does not match `{pattern}`"));
    }
    match kind.reason() {
        Some(reason) => Err(reason),
        None => Ok(Rank::by_name(asset)),
    }
}

fn judge<'a>(
    asset: &'a AssetInfo,
    kind: &Kind,
    traits: &Traits,
    target: Target,
    prefs: &Preferences,
    any_os_named: bool,
) -> Result<Rank<'a>, String> {
    let format = match kind {
        Kind::Installable(format) => *format,
        other => return Err(other.reason().unwrap_or_default()),
    };
    if traits.debug_word {
        return Err("debug symbols or debug build".to_string());
    }
    let is_exe = asset.name.to_lowercase().ends_with(".exe");

    // The OS: named by a word, else implied by `.exe` or a Linux libc word.
    let mut os = traits.os.clone();
    if os.is_empty() {
        if is_exe {
            os.push(Os::Windows);
        } else if matches!(traits.libc, Libc::Musl | Libc::Gnu) {
            os.push(Os::Linux);
        }
    }
    let os_named = !os.is_empty();
    if os_named && !os.contains(&target.os) {
        return Err(format!("for {}, not {}", os[0].name(), target.os.name()));
    }
    if target.os == Os::Windows && format == "raw" && !is_exe && !os_named {
        return Err("not a Windows executable (no .exe, no Windows in the name)".to_string());
    }
    let arch_named = !traits.arch.is_empty();
    if !os_named && !arch_named {
        if traits.source_word {
            return Err("source archive".to_string());
        }
        if any_os_named {
            return Err(
                "no OS or architecture in the name, unlike other assets (a source archive?)".to_string(),
            );
        }
    }

    let arch = if traits.arch.contains(&target.arch) {
        0
    } else if arch_named {
        let asset_arch = traits.arch[0];
        if prefs.allow_32bit_fallback && traits.arch.contains(&target.arch_32bit()) {
            3
        } else if matches!(asset_arch, Arch::X86_64 | Arch::Aarch64) {
            return Err(format!(
                "for {}, not {}",
                asset_arch.build_name(),
                target.arch.build_name()
            ));
        } else {
            return Err(format!("{} build", asset_arch.build_name()));
        }
    } else if traits.universal && target.os == Os::Macos && os_named {
        1
    } else {
        2
    };

    let libc = match target.os {
        Os::Linux => match (traits.libc, prefs.prefer_musl) {
            (Libc::Musl | Libc::Static, true) | (Libc::Gnu, false) => 0,
            (Libc::Unknown, _) => 1,
            _ => 2,
        },
        Os::Windows if traits.msvc => 0,
        Os::Windows if traits.libc == Libc::Gnu => 2,
        Os::Windows => 1,
        _ => 0,
    };

    Ok(Rank {
        os: if os_named { 0 } else { 1 },
        arch,
        libc,
        format: format_rank(format, is_exe, target.os == Os::Windows),
        extra_words: traits.extra,
        length: asset.name.len(),
        name: &asset.name,
        size: asset.size,
    })
}

/// Step 3 of the cascade: lower is better.
fn format_rank(format: &str, is_exe: bool, windows: bool) -> u8 {
    const ORDER: [&str; 9] = [
        "tar.gz", "tar.xz", "tar.zst", "zip", "tar.bz2", "gz", "xz", "zst", "raw",
    ];
    const WINDOWS_ORDER: [&str; 9] = [
        "zip", "raw.exe", "tar.gz", "tar.xz", "tar.zst", "tar.bz2", "gz", "xz", "zst",
    ];
    let position = if windows {
        let format = if format == "raw" && is_exe {
            "raw.exe"
        } else {
            format
        };
        WINDOWS_ORDER.iter().position(|f| *f == format)
    } else {
        ORDER.iter().position(|f| *f == format)
    };
    // An extensionless binary on Windows (which still had to name Windows) comes last.
    position.unwrap_or(ORDER.len()) as u8
}

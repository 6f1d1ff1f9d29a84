//! Tokenizing asset names and reading the OS, architecture and libc they name.
//!
//! A name is split on every non-alphanumeric character and lowercased. Words that a separator
//! cuts in two are joined back (`x86_64`, `x86-64`, `64-bit`, `32_bit`), and numbers that are part
//! of a dotted version (`1.386.2`) are never read as an architecture.

use super::Libc;

/// An operating system a name can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Os {
    Linux,
    Macos,
    Windows,
    /// Anything velo does not target: `freebsd`, `android`, …
    Other(&'static str),
}

impl Os {
    pub(super) fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Macos => "macos",
            Os::Windows => "windows",
            Os::Other(name) => name,
        }
    }
}

/// A CPU architecture a name can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arch {
    X86_64,
    Aarch64,
    /// 32-bit x86.
    X86,
    /// 32-bit ARM.
    Arm32,
    /// Anything velo does not target: `riscv64`, `s390x`, …
    Other(&'static str),
}

impl Arch {
    /// How a drop reason names an asset built for this architecture.
    pub(super) fn build_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::X86 => "32-bit x86",
            Arch::Arm32 => "arm32",
            Arch::Other(name) => name,
        }
    }
}

/// A token and the separator character that came before it (`None` at the start of the name).
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) text: String,
    pub(super) sep: Option<char>,
}

/// Tokens of `name` with their separators, joined words already joined.
pub(super) fn split(name: &str) -> Vec<Token> {
    let mut raw: Vec<Token> = Vec::new();
    let mut current = String::new();
    let mut sep: Option<char> = None;
    for ch in name.chars() {
        if ch.is_alphanumeric() {
            current.extend(ch.to_lowercase());
        } else {
            if !current.is_empty() {
                raw.push(Token {
                    text: std::mem::take(&mut current),
                    sep,
                });
            }
            sep = Some(ch);
        }
    }
    if !current.is_empty() {
        raw.push(Token { text: current, sep });
    }

    // Join words a `-` or `_` cut in two: `x86_64`, `x86-64`, `amd-64`, `64-bit`, `32_bit`.
    let mut joined: Vec<Token> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if let Some(next) = raw.get(i + 1) {
            if matches!(next.sep, Some('-' | '_')) {
                let word = match (raw[i].text.as_str(), next.text.as_str()) {
                    ("x86", "64") => Some("x86_64"),
                    ("amd", "64") => Some("amd64"),
                    ("64", "bit") => Some("64bit"),
                    ("32", "bit") => Some("32bit"),
                    _ => None,
                };
                if let Some(word) = word {
                    joined.push(Token {
                        text: word.to_string(),
                        sep: raw[i].sep,
                    });
                    i += 2;
                    continue;
                }
            }
        }
        joined.push(raw[i].clone());
        i += 1;
    }
    joined
}

/// Tokens of a name: split on non-alphanumeric characters, lowercased, with `x86_64`, `64-bit`
/// and the like joined back into one token.
pub fn tokens(name: &str) -> Vec<String> {
    split(name).into_iter().map(|token| token.text).collect()
}

/// What the words of a name say about the platform it is built for.
#[derive(Debug, Clone, Default)]
pub(super) struct Traits {
    /// Operating systems named by a word (`linux`, `darwin`, `win64`), in order, without repeats.
    pub(super) os: Vec<Os>,
    /// Architectures named by a word, in order, without repeats. Words that only imply an
    /// architecture (`win64`, `64bit`, `linux32`, `gnueabihf`) count only when no word names
    /// one outright.
    pub(super) arch: Vec<Arch>,
    /// `universal`, `universal2`, `all` (the last one only next to a macOS word).
    pub(super) universal: bool,
    pub(super) libc: Libc,
    /// `msvc`: the Windows build against Microsoft's C runtime.
    pub(super) msvc: bool,
    /// `source`, `src`, `sources`, `vendor`: a source archive, unless it also names a platform.
    pub(super) source_word: bool,
    /// `debug`, `dbg`, `debuginfo`, `dsym`, `pdb`, `symbols`.
    pub(super) debug_word: bool,
    /// `setup`, `installer`, `install`.
    pub(super) installer_word: bool,
    /// Words that are none of the above, nor a version, vendor or file extension: the project's
    /// name, `extended`, `baseline`, … Fewer is better (the plain build over its variants).
    pub(super) extra: usize,
}

/// Read the platform words of a name.
pub(super) fn traits(name: &str) -> Traits {
    let tokens = split(name);
    let mut traits = Traits::default();
    let mut weak_arch: Vec<Arch> = Vec::new();
    let mut bare_arm = false;
    let mut bit64 = false;
    let mut all_word = false;
    let mut musl = false;
    let mut gnu = false;
    let mut static_word = false;

    for (i, token) in tokens.iter().enumerate() {
        let word = token.text.as_str();
        if in_dotted_number(&tokens, i) {
            continue;
        }
        let mut recognised = true;
        if let Some(os) = os_word(word) {
            push_unique(&mut traits.os, os);
        } else if let Some((os, arch)) = os_compound(word) {
            push_unique(&mut traits.os, os);
            if let Some(arch) = arch {
                push_unique(&mut weak_arch, arch);
            }
        } else if word == "arm" {
            bare_arm = true;
        } else if let Some(arch) = arch_word(word) {
            push_unique(&mut traits.arch, arch);
        } else {
            match word {
                "64bit" => bit64 = true,
                "32bit" => push_unique(&mut weak_arch, Arch::X86),
                "universal" | "universal2" | "fat" => traits.universal = true,
                "all" => all_word = true,
                "musl" | "musleabi" | "musleabihf" | "alpine" => musl = true,
                "gnu" | "glibc" | "gnueabi" | "gnueabihf" | "gnullvm" => gnu = true,
                "static" => static_word = true,
                "msvc" => {
                    traits.msvc = true;
                    push_unique(&mut traits.os, Os::Windows);
                }
                "source" | "sources" | "src" | "vendor" | "vendored" => traits.source_word = true,
                "debug" | "dbg" | "debuginfo" | "dsym" | "pdb" | "symbols" => traits.debug_word = true,
                "setup" | "installer" | "install" => traits.installer_word = true,
                _ => recognised = is_neutral(word),
            }
            if matches!(
                word,
                "musleabi" | "musleabihf" | "gnueabi" | "gnueabihf" | "eabi" | "eabihf"
            ) {
                push_unique(&mut weak_arch, Arch::Arm32);
            }
        }
        if !recognised {
            traits.extra += 1;
        }
    }

    let macos = traits.os.contains(&Os::Macos);
    if bare_arm {
        // `arm` alone: 32-bit ARM on Linux, but Apple never shipped a 32-bit ARM Mac, so
        // `darwin-arm` means Apple silicon; `arm` next to `64bit` means arm64 too.
        push_unique(
            &mut traits.arch,
            if macos || bit64 {
                Arch::Aarch64
            } else {
                Arch::Arm32
            },
        );
    } else if bit64 {
        push_unique(&mut weak_arch, Arch::X86_64);
    }
    if traits.arch.is_empty() {
        traits.arch = weak_arch;
    }
    if all_word && macos {
        traits.universal = true;
    }
    traits.libc = if static_word {
        Libc::Static
    } else if musl {
        Libc::Musl
    } else if gnu {
        Libc::Gnu
    } else {
        Libc::Unknown
    };
    // `aarch64-linux-android`: an Android build, not a Linux one.
    if traits.os.contains(&Os::Other("android")) {
        traits.os.retain(|os| *os != Os::Linux);
    }
    traits
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Is token `i` a number inside a dotted version such as `1.386.2` or `v0.64.1`?
fn in_dotted_number(tokens: &[Token], i: usize) -> bool {
    let token = &tokens[i];
    if !token.text.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let before = i > 0 && token.sep == Some('.') && is_version_word(&tokens[i - 1].text);
    let after = tokens
        .get(i + 1)
        .is_some_and(|next| next.sep == Some('.') && is_version_word(&next.text));
    before || after
}

/// `12`, `v14`, `1rc2`: a piece of a version number.
fn is_version_word(word: &str) -> bool {
    let digits = word.strip_prefix('v').unwrap_or(word);
    digits.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// Words that carry no platform information but are expected in asset names: versions, target
/// triple vendors, file extensions.
fn is_neutral(word: &str) -> bool {
    is_version_word(word)
        || matches!(
            word,
            "unknown"
                | "pc"
                | "w64"
                | "none"
                | "eabi"
                | "eabihf"
                | "elf"
                | "tar"
                | "gz"
                | "tgz"
                | "xz"
                | "txz"
                | "zst"
                | "zstd"
                | "tzst"
                | "bz2"
                | "tbz"
                | "tbz2"
                | "zip"
                | "exe"
                | "bin"
        )
}

fn os_word(word: &str) -> Option<Os> {
    Some(match word {
        "linux" => Os::Linux,
        "darwin" | "macos" | "macosx" | "osx" | "apple" | "mac" | "macintosh" => Os::Macos,
        "windows" | "win" | "mingw" | "cygwin" | "msys" | "msys2" => Os::Windows,
        "freebsd" => Os::Other("freebsd"),
        "netbsd" => Os::Other("netbsd"),
        "openbsd" => Os::Other("openbsd"),
        "dragonfly" | "dragonflybsd" => Os::Other("dragonfly"),
        "android" | "termux" => Os::Other("android"),
        "illumos" => Os::Other("illumos"),
        "solaris" | "sunos" => Os::Other("solaris"),
        "aix" => Os::Other("aix"),
        "plan9" => Os::Other("plan9"),
        "ios" => Os::Other("ios"),
        "haiku" => Os::Other("haiku"),
        "wasi" | "wasip1" | "wasip2" => Os::Other("wasi"),
        _ => return None,
    })
}

/// `linux64`, `win32`, `mingw64`, `osx64`, `macos11`: an OS word with a number glued on. The
/// number `64` or `32` implies x86_64 or 32-bit x86 (a weak hint); others are an OS version.
fn os_compound(word: &str) -> Option<(Os, Option<Arch>)> {
    let split = word.find(|c: char| c.is_ascii_digit())?;
    let (prefix, number) = word.split_at(split);
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let os = match prefix {
        "linux" => Os::Linux,
        "darwin" | "macos" | "macosx" | "osx" | "mac" => Os::Macos,
        "win" | "windows" | "mingw" => Os::Windows,
        _ => return None,
    };
    let arch = match number {
        "64" => Some(Arch::X86_64),
        "32" | "86" => Some(Arch::X86),
        _ => None,
    };
    Some((os, arch))
}

fn arch_word(word: &str) -> Option<Arch> {
    let arch = match word {
        "x86_64" | "amd64" | "x64" | "x8664" | "intel" | "intel64" => Arch::X86_64,
        "aarch64" | "arm64" | "armv8" | "armv8a" | "arm64v8" | "m1" | "silicon" => Arch::Aarch64,
        "i386" | "i486" | "i586" | "i686" | "386" | "x86" | "ia32" => Arch::X86,
        "armv5" | "armv5te" | "armv5tel" | "armv6" | "armv6l" | "armv6hf" | "armv7" | "armv7l" | "armv7a"
        | "armv7hf" | "armv8l" | "armhf" | "armel" | "arm32" | "armv6m" | "armv7s" | "thumbv7" => Arch::Arm32,
        "s390x" | "s390" => Arch::Other("s390x"),
        "loong64" | "loongarch64" => Arch::Other("loong64"),
        "ppc" | "powerpc" => Arch::Other("powerpc"),
        "sparc" | "sparc64" | "sparcv9" => Arch::Other("sparc"),
        "wasm" | "wasm32" | "wasm64" => Arch::Other("wasm"),
        "ia64" => Arch::Other("ia64"),
        _ if word.starts_with("ppc64") || word.starts_with("powerpc64") => {
            Arch::Other(if word.ends_with("le") || word.ends_with("el") {
                "ppc64le"
            } else {
                "ppc64"
            })
        }
        _ if word.starts_with("riscv") => Arch::Other("riscv64"),
        _ if word.starts_with("mips") => Arch::Other("mips"),
        _ => return None,
    };
    Some(arch)
}

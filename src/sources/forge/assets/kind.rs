//! What kind of file an asset is, judged by its name alone: something velo can install (an
//! archive or a bare executable) or something to skip (a checksum, a signature, a package for a
//! system installer, …), with the reason in words.

use super::tokens::{self, Traits};

/// The kind of file a release asset is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// An archive or executable velo can install, in this format (see [`archive_format`]).
    Installable(&'static str),
    Checksum,
    /// A signature; the suffix that says so (`.sig`).
    Signature(&'static str),
    Sbom,
    Attestation,
    /// A certificate or public key (`.pem`).
    Certificate(&'static str),
    /// Text for people or tools, not a program (`.txt`, `.json`, `LICENSE`).
    Metadata(String),
    /// A shell or PowerShell script, usually an installer (`uv-installer.sh`).
    Script(String),
    /// A package for a system installer (`.deb`, `.msi`, `.dmg`, `setup.exe`).
    Installer(&'static str),
    VsCodeExtension,
    DebugSymbols(&'static str),
    /// A format velo does not unpack (`.7z`, `.jar`, `.dll`).
    Unsupported(String),
}

impl Kind {
    /// Why an asset of this kind is not installed; `None` for an installable one.
    pub(super) fn reason(&self) -> Option<String> {
        Some(match self {
            Kind::Installable(_) => return None,
            Kind::Checksum => "checksum file".to_string(),
            Kind::Signature(suffix) => format!("signature ({suffix})"),
            Kind::Sbom => "SBOM (software bill of materials)".to_string(),
            Kind::Attestation => "build attestation".to_string(),
            Kind::Certificate(suffix) => format!("certificate or key ({suffix})"),
            Kind::Metadata(what) => format!("not a program ({what})"),
            Kind::Script(suffix) => format!("script ({suffix})"),
            Kind::Installer(suffix) => format!("installer package ({suffix})"),
            Kind::VsCodeExtension => "VS Code extension (.vsix)".to_string(),
            Kind::DebugSymbols(suffix) => format!("debug symbols ({suffix})"),
            Kind::Unsupported(suffix) => format!("not an archive or executable velo can install ({suffix})"),
        })
    }

    /// Checksums, signatures and the like: files about the other assets, which say nothing about
    /// which platforms the release covers.
    pub(super) fn describes_other_files(&self) -> bool {
        matches!(
            self,
            Kind::Checksum
                | Kind::Signature(_)
                | Kind::Sbom
                | Kind::Attestation
                | Kind::Certificate(_)
                | Kind::Metadata(_)
        )
    }
}

/// The first suffix of `suffixes` that `name` ends with.
fn suffix_of(name: &str, suffixes: &[&'static str]) -> Option<&'static str> {
    suffixes.iter().copied().find(|suffix| name.ends_with(suffix))
}

const ATTESTATION: &[&str] = &[".intoto.jsonl", ".intoto.json", ".provenance.json", ".att"];
#[rustfmt::skip]
const SBOM: &[&str] = &[
    ".sbom", ".sbom.json", ".sbom.xml", ".spdx", ".spdx.json", ".cdx.json", ".cdx.xml", ".bom.json",
    ".bom.xml", ".cyclonedx.json", ".cyclonedx.xml",
];
#[rustfmt::skip]
const SIGNATURE: &[&str] = &[
    ".sig", ".asc", ".minisig", ".sigstore", ".sigstore.json", ".bundle", ".gpg", ".p7s", ".signature",
];
const CERTIFICATE: &[&str] = &[".pem", ".crt", ".cert", ".cer", ".pub", ".key", ".der"];
#[rustfmt::skip]
const CHECKSUM: &[&str] = &[
    ".sha256", ".sha256sum", ".sha256sums", ".sha512", ".sha512sum", ".sha512sums", ".sha384", ".sha1",
    ".sha1sum", ".md5", ".md5sum", ".b2", ".b3", ".blake3", ".sum", ".sums", ".digest", ".digests",
    ".checksum", ".checksums", ".hash", ".sha256.txt", ".sha512.txt",
];
/// Words that make a name without an archive extension a checksum list (`SHA256SUMS`,
/// `checksums.txt`, yq's `checksums-bsd`).
#[rustfmt::skip]
const CHECKSUM_WORDS: &[&str] = &[
    "checksum", "checksums", "sha256sum", "sha256sums", "sha512sum", "sha512sums", "sha1sums", "md5sum",
    "md5sums", "shasum", "shasums", "shasums256", "b2sums", "hashes", "digests",
];
#[rustfmt::skip]
const INSTALLER: &[&str] = &[
    // Arch Linux packages end like archives, so they come first.
    ".pkg.tar.zst", ".pkg.tar.xz", ".pkg.tar.gz", ".deb", ".rpm", ".msi", ".msix", ".msixbundle",
    ".appx", ".appxbundle", ".pkg", ".mpkg", ".dmg", ".appimage", ".apk", ".snap", ".flatpak",
    ".flatpakref", ".nupkg", ".ipk", ".run", ".xpi",
];
const DEBUG: &[&str] = &[".pdb", ".dsym", ".dwarf", ".debug", ".dbg"];
const ARCHIVES: &[(&str, &str)] = &[
    (".tar.gz", "tar.gz"),
    (".tgz", "tar.gz"),
    (".tar.xz", "tar.xz"),
    (".txz", "tar.xz"),
    (".tar.zst", "tar.zst"),
    (".tar.zstd", "tar.zst"),
    (".tzst", "tar.zst"),
    (".tar.bz2", "tar.bz2"),
    (".tbz2", "tar.bz2"),
    (".tbz", "tar.bz2"),
    (".zip", "zip"),
    (".gz", "gz"),
    (".xz", "xz"),
    (".zst", "zst"),
    (".zstd", "zst"),
];
#[rustfmt::skip]
const METADATA: &[&str] = &[
    ".txt", ".json", ".jsonl", ".md", ".markdown", ".html", ".htm", ".yaml", ".yml", ".xml", ".toml",
    ".csv", ".pdf", ".log", ".rst", ".ts", ".zsync", ".sarif",
];
#[rustfmt::skip]
const SCRIPT: &[&str] = &[
    ".sh", ".bash", ".zsh", ".fish", ".ps1", ".psm1", ".bat", ".cmd", ".py", ".rb", ".pl", ".js",
    ".mjs", ".vbs",
];
/// Formats velo does not unpack, named here because a digit in them (`.7z`, `.lz4`) would
/// otherwise read as a version at the end of a bare executable's name.
#[rustfmt::skip]
const UNSUPPORTED: &[&str] = &[
    ".7z", ".tar", ".bz2", ".lz", ".lz4", ".lzma", ".z", ".rar", ".cab", ".jar", ".war", ".wasm",
    ".whl", ".gem", ".crate", ".iso", ".img", ".so", ".dylib", ".dll", ".a", ".lib", ".o", ".mp4",
    ".png", ".jpg", ".svg", ".gif", ".ico", ".p12", ".pfx",
];
const DOC_NAMES: &[&str] = &[
    "license",
    "licence",
    "readme",
    "changelog",
    "changes",
    "notice",
    "copying",
    "authors",
];

/// What kind of file `name` is.
pub(super) fn classify(name: &str) -> Kind {
    classify_with(name, &tokens::traits(name))
}

pub(super) fn classify_with(name: &str, traits: &Traits) -> Kind {
    let lower = name.to_lowercase();
    // Files about other files first: `x.tar.gz.sig` is a signature, not an archive.
    if suffix_of(&lower, ATTESTATION).is_some() {
        return Kind::Attestation;
    }
    if suffix_of(&lower, SBOM).is_some() {
        return Kind::Sbom;
    }
    if let Some(suffix) = suffix_of(&lower, SIGNATURE) {
        return Kind::Signature(suffix);
    }
    if let Some(suffix) = suffix_of(&lower, CERTIFICATE) {
        return Kind::Certificate(suffix);
    }
    if suffix_of(&lower, CHECKSUM).is_some() {
        return Kind::Checksum;
    }
    let kind = classify_payload(&lower, traits);
    let checksum_word = tokens::tokens(&lower)
        .iter()
        .any(|token| CHECKSUM_WORDS.contains(&token.as_str()));
    let names_platform = !traits.os.is_empty() || !traits.arch.is_empty();
    match kind {
        Kind::Metadata(_) | Kind::Unsupported(_) if checksum_word => Kind::Checksum,
        Kind::Installable("raw") if checksum_word && !names_platform => Kind::Checksum,
        kind => kind,
    }
}

/// The kind of a file that is not about other files. `lower` is the lowercased name.
fn classify_payload(lower: &str, traits: &Traits) -> Kind {
    if let Some(suffix) = suffix_of(lower, INSTALLER) {
        return Kind::Installer(suffix);
    }
    if lower.ends_with(".vsix") {
        return Kind::VsCodeExtension;
    }
    if let Some(suffix) = suffix_of(lower, DEBUG) {
        return Kind::DebugSymbols(suffix);
    }
    if let Some((_, format)) = ARCHIVES.iter().find(|(suffix, _)| lower.ends_with(suffix)) {
        return Kind::Installable(format);
    }
    if lower.ends_with(".exe") {
        return if traits.installer_word {
            Kind::Installer(".exe installer")
        } else {
            Kind::Installable("raw")
        };
    }
    if let Some(suffix) = suffix_of(lower, METADATA) {
        return Kind::Metadata(suffix.to_string());
    }
    if let Some(suffix) = suffix_of(lower, SCRIPT) {
        return Kind::Script(suffix.to_string());
    }
    if let Some(suffix) = suffix_of(lower, UNSUPPORTED) {
        return Kind::Unsupported(suffix.to_string());
    }
    let stem = lower.split('.').next().unwrap_or(lower);
    if DOC_NAMES.contains(&stem) {
        return Kind::Metadata(stem.to_uppercase());
    }
    // What follows the last dot: nothing, a version piece (`tool-1.2.3`), a platform word
    // (`sops-v3.9.1.linux.amd64`) or `bin` means a bare executable; any other word is a format
    // velo does not know (`.7z`, `.jar`, `.wasm`, `.dll`).
    match lower.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphabetic()) => {
            let platform_word = {
                let word_traits = tokens::traits(ext);
                !word_traits.os.is_empty() || !word_traits.arch.is_empty() || word_traits.universal
            };
            if platform_word || ext == "bin" {
                Kind::Installable("raw")
            } else {
                Kind::Unsupported(format!(".{ext}"))
            }
        }
        _ => Kind::Installable("raw"),
    }
}

/// The archive format the name implies: "tar.gz", "tar.xz", "tar.zst", "tar.bz2", "zip", "gz",
/// "xz", "zst", or "raw" (a bare executable or `.exe`); `None` for anything velo does not
/// install (system packages, checksums, signatures, text, scripts, …).
pub fn archive_format(name: &str) -> Option<&'static str> {
    match classify(name) {
        Kind::Installable(format) => Some(format),
        _ => None,
    }
}

/// Is this a file of sha256 sums the lock can use: `sha256sums.txt`, `SHA256SUMS`,
/// `checksums.txt`, `*_checksums.txt`, `*.sha256`, `*.sha256sum`. Files of other digests
/// (sha512, md5) are not.
pub fn is_checksum_file(name: &str) -> bool {
    #[rustfmt::skip]
    const NAMES: &[&str] = &[
        "sha256sums", "sha256sums.txt", "sha256sum", "sha256sum.txt", "sha256.sum", "sha256.txt",
        "checksums.txt", "checksum.txt", "checksums.sha256", "checksums-sha256.txt",
        "checksums_sha256.txt", "shasums256.txt",
    ];
    #[rustfmt::skip]
    const SUFFIXES: &[&str] = &[
        ".sha256", ".sha256sum", ".sha256sums", "_checksums.txt", "-checksums.txt", ".checksums.txt",
        "_sha256sums", "-sha256sums", "_sha256sums.txt", "-sha256sums.txt", "_sha256sum.txt",
        "-sha256sum.txt", ".sha256.txt", "_sha256.txt", "-sha256.txt",
    ];
    let lower = name.to_lowercase();
    NAMES.contains(&lower.as_str()) || SUFFIXES.iter().any(|suffix| lower.ends_with(suffix))
}

//! Relocation of Mach-O files built here by clang and ld64.lld (Debian's, no macOS SDK: `-nostdlib`
//! and `-undefined dynamic_lookup`), checked with goblin and an independent reading of the
//! signature: every page hash recomputed with sha2.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use goblin::mach::load_command::CommandVariant;
use goblin::mach::MachO;
use sha2::{Digest, Sha256};

use super::*;

const PREFIX: &str = "/Users/someone/src/a-project-with-a-long-name/.velo";
const FOO_ID: &str = "@@HOMEBREW_PREFIX@@/opt/foo/lib/libfoo.dylib";
const FOO_RPATH: &str = "@@HOMEBREW_CELLAR@@/foo/1.0/lib";

/// Homebrew's placeholders and default prefix mapped onto [`PREFIX`], as the pouring code does.
fn to_prefix(old: &str) -> Option<String> {
    let cellar = format!("{PREFIX}/Cellar");
    [
        ("@@HOMEBREW_CELLAR@@", cellar.as_str()),
        ("@@HOMEBREW_PREFIX@@", PREFIX),
        ("/opt/homebrew", PREFIX),
    ]
    .iter()
    .find_map(|(from, to)| old.strip_prefix(from).map(|rest| format!("{to}{rest}")))
}

fn moved(path: &str) -> String {
    to_prefix(path).unwrap()
}

/// A temporary directory with clang and ld64.lld to build Mach-O files in; `None` (the test
/// skips) when they are missing, a failure under CI, which installs them.
struct Toolchain {
    dir: tempfile::TempDir,
}

impl Toolchain {
    fn new() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let toolchain = Toolchain { dir };
        std::fs::write(toolchain.path("foo.c"), "int foo(void) { return 42; }\n").unwrap();
        std::fs::write(toolchain.path("bar.c"), "int bar(void) { return 7; }\n").unwrap();
        std::fs::write(
            toolchain.path("main.c"),
            "int foo(void);\nint start(void) { return foo(); }\n",
        )
        .unwrap();
        let works = toolchain
            .clang("arm64", &["-shared", "foo.c", "-o", "probe.dylib"])
            .is_ok();
        if !works {
            assert!(
                std::env::var_os("CI").is_none(),
                "clang and ld64.lld (Debian's `clang` and `lld`) cannot build Mach-O files; CI \
                 must run this test"
            );
            eprintln!("note: clang or ld64.lld is not installed here; skipping this test");
            return None;
        }
        Some(toolchain)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn clang(&self, arch: &str, args: &[&str]) -> Result<(), String> {
        let output = Command::new("clang")
            .current_dir(self.dir.path())
            .args(["-target", &format!("{arch}-apple-macos11")])
            .args([
                "-fuse-ld=lld",
                "-nostdlib",
                "-Wl,-platform_version,macos,11.0,11.0",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| err.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(())
    }

    /// A dylib `name` whose install name is `id`.
    fn dylib(&self, arch: &str, name: &str, id: &str, extra: &[&str]) -> Vec<u8> {
        let source = if name.contains("bar") { "bar.c" } else { "foo.c" };
        let install_name = format!("-Wl,-install_name,{id}");
        let mut args = vec!["-shared", source, install_name.as_str(), "-o", name];
        args.extend(extra);
        self.clang(arch, &args).unwrap();
        std::fs::read(self.path(name)).unwrap()
    }

    /// An executable `name` linking a `libfoo` (install name [`FOO_ID`]) and what `extra` says.
    fn executable(&self, arch: &str, name: &str, extra: &[&str]) -> Vec<u8> {
        let foo = format!("libfoo-for-{name}.dylib");
        self.dylib(arch, &foo, FOO_ID, &[]);
        let mut args = vec!["-Wl,-e,_start", "-Wl,-undefined,dynamic_lookup", "main.c", &foo];
        args.extend(extra);
        args.extend(["-o", name]);
        self.clang(arch, &args).unwrap();
        std::fs::read(self.path(name)).unwrap()
    }
}

/// What goblin reads from a thin file: install name, dylibs, rpaths.
fn names(data: &[u8]) -> (Option<String>, Vec<String>, Vec<String>) {
    let macho = MachO::parse(data, 0).expect("goblin parses the result");
    let libs = macho.libs.iter().skip(1).map(|s| s.to_string()).collect();
    let rpaths = macho.rpaths.iter().map(|s| s.to_string()).collect();
    (macho.name.map(str::to_owned), libs, rpaths)
}

fn section<'a>(data: &'a [u8], name: &str) -> &'a [u8] {
    let macho = MachO::parse(data, 0).unwrap();
    for segment in &macho.segments {
        for (section, bytes) in segment.sections().unwrap() {
            if section.name().unwrap() == name {
                return bytes;
            }
        }
    }
    panic!("no section {name}")
}

fn section_offset(data: &[u8], name: &str) -> usize {
    let macho = MachO::parse(data, 0).unwrap();
    let sections = macho
        .segments
        .iter()
        .flat_map(|segment| segment.sections().unwrap());
    let found = sections
        .into_iter()
        .find(|(section, _)| section.name().unwrap() == name);
    found.unwrap().0.offset as usize
}

/// What a signature says, read without velo's or arwen-codesign's code.
#[derive(Debug)]
struct Signature {
    identifier: String,
    flags: u32,
    requirements: bool,
    entitlements: Option<Vec<u8>>,
}

fn be(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

/// Checks that `data` ends with a signature whose CodeDirectory hashes every 4 KiB page before
/// it with SHA-256 and the requirements blob in its special slot, and that `__LINKEDIT` covers it.
fn verify_signature(data: &[u8]) -> Signature {
    let signature = read_signature(data);
    assert!(
        signature.requirements,
        "an ad-hoc signature as codesign makes has requirements"
    );
    assert_eq!(signature.flags & 0x2, 0x2, "ad hoc");
    assert_eq!(signature.flags & 0x2_0000, 0, "not claiming to be the linker's");
    let macho = MachO::parse(data, 0).unwrap();
    let linkedit = macho.segments.iter().find(|s| s.name().unwrap() == "__LINKEDIT");
    assert_eq!(
        linkedit.unwrap().vmsize % 0x4000,
        0,
        "`__LINKEDIT` maps whole 16 KiB pages"
    );
    signature
}

/// [`verify_signature`] for any signature, a linker's too.
fn read_signature(data: &[u8]) -> Signature {
    let macho = MachO::parse(data, 0).unwrap();
    let (dataoff, datasize) = macho
        .load_commands
        .iter()
        .find_map(|command| match command.command {
            CommandVariant::CodeSignature(sig) => Some((sig.dataoff as usize, sig.datasize as usize)),
            _ => None,
        })
        .expect("the file has LC_CODE_SIGNATURE");
    assert_eq!(data.len(), dataoff + datasize, "the signature ends the file");
    let linkedit = macho
        .segments
        .iter()
        .find(|segment| segment.name().unwrap() == "__LINKEDIT")
        .unwrap();
    assert!(linkedit.fileoff as usize <= dataoff);
    assert_eq!(
        (linkedit.fileoff + linkedit.filesize) as usize,
        dataoff + datasize
    );
    assert!(linkedit.vmsize >= linkedit.filesize);

    let blob = &data[dataoff..];
    assert_eq!(be(blob, 0), 0xfade_0cc0, "an embedded-signature SuperBlob");
    assert!(be(blob, 4) as usize <= datasize);
    let slots: Vec<(u32, usize)> = (0..be(blob, 8) as usize)
        .map(|i| (be(blob, 12 + i * 8), be(blob, 16 + i * 8) as usize))
        .collect();
    let at = |slot: u32| slots.iter().find(|(s, _)| *s == slot).map(|(_, at)| *at);
    let directory = &blob[at(0).expect("a CodeDirectory")..];
    assert_eq!(be(directory, 0), 0xfade_0c02);
    let hash_offset = be(directory, 16) as usize;
    let n_special = be(directory, 24) as usize;
    let n_code = be(directory, 28) as usize;
    let code_limit = be(directory, 32) as usize;
    assert_eq!(
        (directory[36], directory[37], directory[39]),
        (32, 2, 12),
        "SHA-256, 4 KiB"
    );
    assert_eq!(
        code_limit, dataoff,
        "the pages hashed are the file up to the signature"
    );
    assert_eq!(n_code, dataoff.div_ceil(4096));
    for page in 0..n_code {
        let bytes = &data[page * 4096..((page + 1) * 4096).min(code_limit)];
        let stored = &directory[hash_offset + page * 32..hash_offset + (page + 1) * 32];
        assert_eq!(stored, Sha256::digest(bytes).as_slice(), "hash of page {page}");
    }
    // A linker's signature has no requirements; codesign's (and velo's) has empty ones.
    let requirements = at(2).map(|at| {
        let requirements = &blob[at..];
        let requirements = &requirements[..be(requirements, 4) as usize];
        assert!(n_special >= 2);
        let slot = &directory[hash_offset - 2 * 32..hash_offset - 32];
        assert_eq!(slot, Sha256::digest(requirements).as_slice(), "requirements slot");
    });

    let entitlements = at(5).map(|at| {
        let blob = &blob[at..];
        assert_eq!(be(blob, 0), 0xfade_7171);
        let blob = &blob[..be(blob, 4) as usize];
        assert!(n_special >= 5);
        let slot = &directory[hash_offset - 5 * 32..hash_offset - 4 * 32];
        assert_eq!(slot, Sha256::digest(blob).as_slice(), "entitlements slot");
        blob[8..].to_vec()
    });

    let ident = &directory[be(directory, 20) as usize..];
    let ident = &ident[..ident.iter().position(|&b| b == 0).unwrap()];
    Signature {
        identifier: String::from_utf8(ident.to_vec()).unwrap(),
        flags: be(directory, 12),
        requirements: requirements.is_some(),
        entitlements,
    }
}

#[test]
fn tells_mach_o_from_java_elf_and_text() {
    assert!(is_macho(&[0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0, 0, 1]));
    assert!(is_macho(&[0xce, 0xfa, 0xed, 0xfe]));
    assert!(is_macho(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]));
    // A Java class file: 0xcafebabe, then minor 0, major 52.
    assert!(!is_macho(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]));
    assert!(!is_macho(b"\x7fELF\x02\x01\x01"));
    assert!(!is_macho(b"#!/bin/sh\n"));
    assert!(!is_macho(&[0xcf, 0xfa]));
    assert!(matches!(
        relocate(b"#!/bin/sh\n", &to_prefix),
        Err(MachoError::NotMachO)
    ));
}

#[test]
fn arm64_install_names_and_rpaths_move_to_a_longer_prefix_and_are_signed_again() {
    let Some(tc) = Toolchain::new() else { return };
    let pad = "-Wl,-headerpad_max_install_names";
    let dylib = tc.dylib("arm64", "libfoo.dylib", FOO_ID, &[pad]);
    let rpath = format!("-Wl,-rpath,{FOO_RPATH}");
    let exe = tc.executable("arm64", "main", &[&rpath, pad]);
    let old_signature = read_signature(&exe);
    assert_ne!(
        old_signature.flags & 0x2_0000,
        0,
        "ld64.lld signs arm64 output (linker-signed)"
    );

    let new_dylib = relocate(&dylib, &to_prefix)
        .unwrap()
        .expect("the install name changed");
    let (id, _, _) = names(&new_dylib);
    assert_eq!(id.as_deref(), Some(moved(FOO_ID).as_str()));
    assert!(
        moved(FOO_ID).len() > FOO_ID.len(),
        "the new path is longer than the old"
    );
    let signature = verify_signature(&new_dylib);
    assert_eq!(signature.identifier, read_signature(&dylib).identifier);
    assert_eq!(signature.flags & 0x2, 0x2, "ad hoc");

    let new_exe = relocate(&exe, &to_prefix)
        .unwrap()
        .expect("the load commands changed");
    let (_, libs, rpaths) = names(&new_exe);
    assert_eq!(libs, [moved(FOO_ID)]);
    assert_eq!(rpaths, [moved(FOO_RPATH)]);
    assert_eq!(
        section(&new_exe, "__text"),
        section(&exe, "__text"),
        "code untouched"
    );
    let signature = verify_signature(&new_exe);
    assert_eq!(signature.identifier, old_signature.identifier);
    assert_eq!(signature.flags & 0x2, 0x2, "ad hoc");
    assert_eq!(
        signature.flags & 0x1_0000,
        0,
        "no hardened runtime where there was none"
    );

    // Relocating the relocated file again with the same map changes nothing.
    assert!(relocate(&new_exe, &to_prefix).unwrap().is_none());
}

#[test]
fn a_path_longer_than_the_header_room_is_a_clear_error() {
    let Some(tc) = Toolchain::new() else { return };
    let rpath = format!("-Wl,-rpath,{FOO_RPATH}");
    // No -headerpad_max_install_names: a few dozen bytes of room.
    let exe = tc.executable("arm64", "main", &[&rpath]);
    let long = format!("/{}", "x".repeat(300));
    let map = |old: &str| {
        old.strip_prefix("@@HOMEBREW_CELLAR@@")
            .map(|rest| format!("{long}{rest}"))
    };
    let err = relocate(&exe, &map).unwrap_err();
    assert!(matches!(err, MachoError::NoHeaderRoom { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("`{long}/foo/1.0/lib`")), "{message}");
    assert!(message.contains("-headerpad_max_install_names"), "{message}");

    // A path a few bytes longer still fits in the same file.
    let a_bit_longer = |old: &str| {
        old.strip_prefix("@@HOMEBREW_CELLAR@@")
            .map(|r| format!("/opt/cellar{r}"))
    };
    let new = relocate(&exe, &a_bit_longer).unwrap().unwrap();
    assert_eq!(names(&new).2, ["/opt/cellar/foo/1.0/lib"]);
    verify_signature(&new);
}

#[test]
fn a_file_with_nothing_to_change_gives_none() {
    let Some(tc) = Toolchain::new() else { return };
    let dylib = tc.dylib("arm64", "libsys.dylib", "/usr/lib/libfake.dylib", &[]);
    assert!(relocate(&dylib, &to_prefix).unwrap().is_none());
    // A map that gives the same path back is no change either.
    assert!(relocate(&dylib, &|old: &str| Some(old.to_owned()))
        .unwrap()
        .is_none());
}

#[test]
fn weak_and_reexported_dylibs_and_the_default_prefix_are_rewritten() {
    let Some(tc) = Toolchain::new() else { return };
    let pad = "-Wl,-headerpad_max_install_names";
    let bar_id = "/opt/homebrew/opt/bar/lib/libbar.dylib";
    tc.dylib("arm64", "libbar.dylib", bar_id, &[]);
    tc.dylib("arm64", "libfoo.dylib", FOO_ID, &[]);
    let umbrella = tc.dylib(
        "arm64",
        "libumbrella.dylib",
        "@@HOMEBREW_CELLAR@@/u/1/lib/libumbrella.dylib",
        &[
            pad,
            "-Wl,-reexport_library,libbar.dylib",
            "-Wl,-weak_library,libfoo.dylib",
        ],
    );
    let (_, old_libs, _) = names(&umbrella);
    assert!(old_libs.contains(&bar_id.to_owned()) && old_libs.contains(&FOO_ID.to_owned()));
    let new = relocate(&umbrella, &to_prefix).unwrap().unwrap();
    let (id, libs, _) = names(&new);
    assert_eq!(id.unwrap(), format!("{PREFIX}/Cellar/u/1/lib/libumbrella.dylib"));
    assert_eq!(libs, old_libs.iter().map(|lib| moved(lib)).collect::<Vec<_>>());
    let kinds: Vec<u32> = MachO::parse(&new, 0)
        .unwrap()
        .load_commands
        .iter()
        .map(|c| c.command.cmd())
        .filter(|cmd| [0x8000_0018, 0x8000_001f].contains(cmd))
        .collect();
    assert_eq!(kinds.len(), 2, "still one weak and one re-export command");
    verify_signature(&new);
}

#[test]
fn unsigned_x86_64_is_relocated_without_adding_a_signature() {
    let Some(tc) = Toolchain::new() else { return };
    let dylib = tc.dylib(
        "x86_64",
        "libfoo.dylib",
        FOO_ID,
        &["-Wl,-headerpad_max_install_names"],
    );
    let has_signature = |data: &[u8]| {
        MachO::parse(data, 0)
            .unwrap()
            .load_commands
            .iter()
            .any(|c| matches!(c.command, CommandVariant::CodeSignature(_)))
    };
    assert!(!has_signature(&dylib), "ld64.lld does not sign x86_64");
    let new = relocate(&dylib, &to_prefix).unwrap().unwrap();
    assert_eq!(names(&new).0.unwrap(), moved(FOO_ID));
    assert!(!has_signature(&new));
    assert_eq!(new.len(), dylib.len());
}

#[test]
fn an_unsigned_arm64_file_gets_a_signature() {
    let Some(tc) = Toolchain::new() else { return };
    let dylib = tc.dylib(
        "arm64",
        "libfoo.dylib",
        FOO_ID,
        &["-Wl,-headerpad_max_install_names", "-Wl,-no_adhoc_codesign"],
    );
    let new = relocate(&dylib, &to_prefix).unwrap().unwrap();
    assert_eq!(names(&new).0.unwrap(), moved(FOO_ID));
    let signature = verify_signature(&new);
    assert_eq!(
        signature.identifier, "libfoo.dylib",
        "named after the install name"
    );
    assert_eq!(section(&new, "__text"), section(&dylib, "__text"));
}

const PLIST: &[u8] = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>\
    <key>com.apple.security.hypervisor</key><true/></dict></plist>";

#[test]
fn an_edited_file_can_be_signed_again_keeping_entitlements_and_hardened_runtime() {
    let Some(tc) = Toolchain::new() else { return };
    let exe = tc.executable("arm64", "main", &[]);
    // Hardened runtime, as a signature made with `codesign --options runtime` has.
    let hardened = sign::ad_hoc(
        exe.clone(),
        &sign::Identity {
            identifier: "org.example.main".into(),
            hardened_runtime: true,
            entitlements: Some(PLIST.to_vec()),
        },
    )
    .unwrap();
    let mut edited = hardened.clone();
    let text = section_offset(&edited, "__text");
    edited[text] ^= 0xff;
    let signed = sign_ad_hoc(&edited).unwrap();
    let signature = verify_signature(&signed);
    assert_eq!(signature.identifier, "org.example.main");
    assert_eq!(signature.flags & 0x1_0000, 0x1_0000, "hardened runtime kept");
    assert_eq!(
        signature.entitlements.as_deref(),
        Some(PLIST),
        "entitlements kept"
    );
    assert_eq!(signed[text], edited[text]);
}

/// A universal file of the two slices, laid out as lipo does.
fn universal(slices: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0xca, 0xfe, 0xba, 0xbe];
    out.extend_from_slice(&(slices.len() as u32).to_be_bytes());
    let mut offset = 1 << 14;
    let mut bodies = Vec::new();
    for slice in slices {
        for word in [
            u32::from_le_bytes(slice[4..8].try_into().unwrap()),
            u32::from_le_bytes(slice[8..12].try_into().unwrap()),
            offset,
            slice.len() as u32,
            14,
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        bodies.push((offset as usize, *slice));
        offset = (offset + slice.len() as u32).next_multiple_of(1 << 14);
    }
    for (at, body) in bodies {
        out.resize(at, 0);
        out.extend_from_slice(body);
    }
    out
}

#[test]
fn every_slice_of_a_universal_file_is_relocated() {
    let Some(tc) = Toolchain::new() else { return };
    let pad = "-Wl,-headerpad_max_install_names";
    let arm = tc.dylib("arm64", "libfoo-arm.dylib", FOO_ID, &[pad]);
    let intel = tc.dylib("x86_64", "libfoo-x86.dylib", FOO_ID, &[pad]);
    let fat = universal(&[&intel, &arm]);
    assert!(is_macho(&fat));
    let new = relocate(&fat, &to_prefix).unwrap().unwrap();
    let multi = goblin::mach::MultiArch::new(&new).unwrap();
    let arches = multi.arches().unwrap();
    assert_eq!(arches.len(), 2);
    for (index, arch) in arches.iter().enumerate() {
        assert_eq!(arch.offset % (1 << arch.align), 0, "slice {index} aligned");
        let slice = arch.slice(&new);
        assert_eq!(names(slice).0.unwrap(), moved(FOO_ID));
        if arch.cputype == 0x0100_000c {
            verify_signature(slice);
        }
    }
    assert_eq!(arches[0].cputype, 0x0100_0007, "order kept");
    // Nothing to change in any slice: None.
    assert!(relocate(&new, &to_prefix).unwrap().is_none());
}

#[test]
fn crafted_headers_are_errors() {
    let mut thin = vec![0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0, 0, 1, 0, 0, 0, 0, 6, 0, 0, 0];
    thin.extend_from_slice(&1u32.to_le_bytes()); // ncmds
    thin.extend_from_slice(&0xffffu32.to_le_bytes()); // sizeofcmds past the end
    thin.resize(64, 0);
    assert!(matches!(
        relocate(&thin, &to_prefix),
        Err(MachoError::Malformed(_))
    ));

    let mut fat = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1];
    for word in [0x0100_000c_u32, 0, 0x10_0000, 0x1000, 14] {
        fat.extend_from_slice(&word.to_be_bytes());
    }
    assert!(matches!(
        relocate(&fat, &to_prefix),
        Err(MachoError::Malformed(_))
    ));

    let big_endian = [0xfe, 0xed, 0xfa, 0xcf, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 6];
    let left_alone = relocate(&big_endian, &to_prefix);
    assert!(
        matches!(left_alone, Ok(None)),
        "PowerPC is left as it is: {left_alone:?}"
    );
}

/// Flipped bytes anywhere in the header and load commands, and truncation, give an error or a
/// result, never a panic (checked without the `catch_unwind` that `relocate` puts around it).
#[test]
fn damaged_files_never_panic() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let Some(tc) = Toolchain::new() else { return };
    let rpath = format!("-Wl,-rpath,{FOO_RPATH}");
    let exe = tc.executable("arm64", "main", &[&rpath, "-Wl,-headerpad_max_install_names"]);
    let commands_end = 32 + u32::from_le_bytes(exe[20..24].try_into().unwrap()) as usize;
    let fat = universal(&[&exe]);
    let relocated = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    // Bytes of the header and load commands, or of the code signature at the end.
    let signature_start = exe.len() - 600;
    let place = prop_oneof![0..commands_end, signature_start..exe.len()];
    let flips = prop::collection::vec((place, any::<u8>()), 1..6);
    let strategy = (flips, any::<bool>(), prop::option::of(0..exe.len()));
    runner
        .run(&strategy, |(flips, in_fat, cut)| {
            let mut data = if in_fat { fat.clone() } else { exe.clone() };
            let base = if in_fat { 1 << 14 } else { 0 };
            for (at, byte) in flips {
                data[base + at] = byte;
            }
            if let Some(cut) = cut {
                data.truncate(base + cut);
            }
            let outcome = std::panic::catch_unwind(|| relocate_unguarded(&data, &to_prefix));
            prop_assert!(outcome.is_ok(), "relocate panicked");
            if let Ok(Ok(Some(_))) = outcome {
                relocated.set(relocated.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // The damage must not all be caught at the door: many files still go through signing.
    assert!(
        relocated.get() > 30,
        "only {} damaged files were relocated",
        relocated.get()
    );
}

//! ELF files in a keg: pointing their loader at `<prefix>/lib/ld.so` and their RPATH at the
//! new prefix (with arwen), the glibc versions they need, and the host's own loader.

use std::path::PathBuf;

use object::elf::{FileHeader64, PT_INTERP};
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;

/// Whether `data` starts like an ELF file.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// `data` with its interpreter (when it has one) set to `loader` and each RPATH/RUNPATH entry
/// passed through `map`, written as DT_RPATH as Homebrew does; `None` when nothing changes.
///
/// arwen 0.0.5 writes a longer interpreter without growing the `PT_INTERP` segment when the
/// file was patched by patchelf before (as every Homebrew bottle is), which truncates it; so
/// when `loader` does not fit the old segment, `fallback` (the host's loader itself, which
/// `loader` links to) is used, and the result is checked either way.
pub fn relocate(
    data: &[u8],
    loader: &str,
    fallback: &str,
    map: &dyn Fn(&str) -> String,
) -> Result<Option<Vec<u8>>, String> {
    // Only what the loader reads (executables and shared libraries) is rewritten; an object
    // file, or an ELF file with no dynamic segment, is left as it is.
    if !is_dynamic(data) {
        return Ok(None);
    }
    let room = interpreter_room(data);
    let loader = if room.is_some_and(|room| loader.len() < room) {
        loader
    } else {
        fallback
    };
    // arwen can panic on a malformed file rather than return an error: a crafted bottle must
    // get a clear error, so its work runs behind `catch_unwind`.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        relocate_unguarded(data, loader, map)
    }));
    result.unwrap_or_else(|_| Err("the ELF rewriter could not parse it".to_string()))
}

fn relocate_unguarded(
    data: &[u8],
    loader: &str,
    map: &dyn Fn(&str) -> String,
) -> Result<Option<Vec<u8>>, String> {
    let mut elf = arwen::elf::ElfContainer::parse(data).map_err(|err| err.to_string())?;
    let mut changed = false;
    if elf
        .inner
        .elf_interpreter()
        .is_some_and(|interpreter| trim_nul(interpreter) != loader.as_bytes())
    {
        elf.set_interpreter(loader).map_err(|err| err.to_string())?;
        changed = true;
    }
    if let Some(rpath) = elf
        .inner
        .elf_runpath()
        .map(|value| String::from_utf8_lossy(value).into_owned())
    {
        let mapped: Vec<String> = rpath.split(':').map(map).collect();
        let mapped = mapped.join(":");
        if mapped != rpath || has_runpath(data) {
            elf.set_runpath(mapped.as_bytes())
                .map_err(|err| err.to_string())?;
            elf.force_rpath().map_err(|err| err.to_string())?;
            changed = true;
        }
    }
    if !changed {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(data.len() + 4096);
    elf.write(&mut out).map_err(|err| err.to_string())?;
    if interpreter(data).is_some() && interpreter(&out).as_deref() != Some(loader) {
        return Err(format!("its loader could not be set to `{loader}`"));
    }
    Ok(Some(out))
}

/// Whether `data` has a `PT_DYNAMIC` or `PT_INTERP` segment.
fn is_dynamic(data: &[u8]) -> bool {
    let Ok(header) = FileHeader64::<Endianness>::parse(data) else {
        // Not a 64-bit ELF file velo can read: arwen decides (and errors clearly).
        return true;
    };
    let Ok(endian) = header.endian() else {
        return true;
    };
    let Ok(segments) = header.program_headers(endian, data) else {
        return true;
    };
    segments
        .iter()
        .any(|s| matches!(s.p_type(endian), PT_INTERP | object::elf::PT_DYNAMIC))
}

/// The size of the `PT_INTERP` segment, NUL included.
fn interpreter_room(data: &[u8]) -> Option<usize> {
    let header = FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let segments = header.program_headers(endian, data).ok()?;
    let segment = segments.iter().find(|s| s.p_type(endian) == PT_INTERP)?;
    usize::try_from(segment.p_filesz(endian)).ok()
}

fn trim_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// Whether the dynamic section has a DT_RUNPATH (which Homebrew turns into DT_RPATH, so that
/// it also applies to the libraries a library loads).
fn has_runpath(data: &[u8]) -> bool {
    let Ok(header) = FileHeader64::<Endianness>::parse(data) else {
        return false;
    };
    let Ok(endian) = header.endian() else {
        return false;
    };
    let Ok(sections) = header.sections(endian, data) else {
        return false;
    };
    let Ok(Some((entries, _))) = sections.dynamic(endian, data) else {
        return false;
    };
    entries
        .iter()
        .any(|entry| entry.d_tag.get(endian) == u64::from(object::elf::DT_RUNPATH))
}

/// The newest `GLIBC_x.y` version `data` needs (from `.gnu.version_r`), if any.
pub fn glibc_needed(data: &[u8]) -> Option<(u32, u32)> {
    let header = FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, data).ok()?;
    let (mut needs, link) = sections.gnu_verneed(endian, data).ok()??;
    let strings = sections.strings(endian, data, link).ok()?;
    let mut newest = None;
    while let Ok(Some((_, mut auxes))) = needs.next() {
        while let Ok(Some(aux)) = auxes.next() {
            let Ok(name) = aux.name(endian, strings) else {
                continue;
            };
            if let Some(version) = parse_glibc(name) {
                newest = newest.max(Some(version));
            }
        }
    }
    newest
}

fn parse_glibc(name: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(name.strip_prefix(b"GLIBC_")?).ok()?;
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    Some((major, minor))
}

/// The glibc version of this machine, when velo runs against glibc.
pub fn host_glibc() -> Option<(u32, u32)> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
        let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
        return parse_glibc(&[b"GLIBC_", version.to_bytes()].concat());
    }
    #[allow(unreachable_code)]
    None
}

/// The host's dynamic loader: the PT_INTERP of velo itself, or of `/bin/sh` when velo is
/// linked statically.
pub fn host_loader() -> Option<PathBuf> {
    ["/proc/self/exe", "/bin/sh"].iter().find_map(|path| {
        use std::io::Read;
        // The program headers and the interpreter's name sit at the start of the file.
        let mut head = Vec::new();
        std::fs::File::open(path)
            .ok()?
            .take(64 * 1024)
            .read_to_end(&mut head)
            .ok()?;
        interpreter(&head).map(PathBuf::from)
    })
}

fn interpreter(data: &[u8]) -> Option<String> {
    let header = FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let segments = header.program_headers(endian, data).ok()?;
    let segment = segments.iter().find(|s| s.p_type(endian) == PT_INTERP)?;
    let bytes = segment.data(endian, data).ok()?;
    Some(String::from_utf8_lossy(trim_nul(bytes)).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut data = b"\x7fELF\x02\x01\x01".to_vec();
        data.extend(std::iter::repeat_n(0xff, 200));
        assert!(relocate(&data, "/x/ld.so", "/lib/ld.so", &|s| s.to_string()).is_err());
        assert_eq!(glibc_needed(&data), None);
    }

    #[test]
    fn files_without_dynamic_segments_are_left_alone() {
        // A 64-bit ELF header with no program headers, as an object file has.
        let mut data = vec![0u8; 64];
        data[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        data[16] = 1; // ET_REL
        data[18] = 0x3e; // x86-64
        data[20] = 1; // EV_CURRENT
        data[52] = 64; // e_ehsize
        assert_eq!(
            relocate(&data, "/x/ld.so", "/lib/ld.so", &|s| s.to_string()),
            Ok(None)
        );
    }

    #[test]
    fn glibc_names() {
        assert_eq!(parse_glibc(b"GLIBC_2.34"), Some((2, 34)));
        assert_eq!(parse_glibc(b"GLIBC_2"), Some((2, 0)));
        assert_eq!(parse_glibc(b"GLIBC_PRIVATE"), None);
        assert!(host_glibc().is_some());
        assert!(host_loader().is_some());
    }
}

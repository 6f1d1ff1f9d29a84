//! The load commands of one thin Mach-O file: walked with every size checked, paths replaced in
//! place (by index, so a new name equal to another old one cannot be confused with it), the
//! region rebuilt only when it still ends before the first section's bytes, and an empty
//! `LC_CODE_SIGNATURE` added when an arm64 file must be signed and has none.
//!
//! Each rewritten command keeps its old bytes up to the string (so the newer `dylib_use_command`
//! layout, whose name starts at 28, survives) and gets the string NUL-padded to the file's
//! alignment, as ld64 writes them.

use super::{le32, le64, MachoError};

const LC_SEGMENT: u32 = 0x1;
const LC_LOAD_DYLIB: u32 = 0xc;
const LC_ID_DYLIB: u32 = 0xd;
const LC_SEGMENT_64: u32 = 0x19;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const LC_LAZY_LOAD_DYLIB: u32 = 0x20;
const LC_LOAD_WEAK_DYLIB: u32 = 0x8000_0018;
const LC_RPATH: u32 = 0x8000_001c;
const LC_REEXPORT_DYLIB: u32 = 0x8000_001f;
const LC_LOAD_UPWARD_DYLIB: u32 = 0x8000_0023;
const CPU_TYPE_ARM64: u32 = 0x0100_000c;
/// The file types the loader maps, the only ones a signature means anything for.
const LOADABLE: [u32; 4] = [
    2, /* EXECUTE */
    6, /* DYLIB */
    7, /* DYLINKER */
    8, /* BUNDLE */
];
/// Section types with no bytes in the file.
const ZEROFILL: [u32; 3] = [0x1, 0xc, 0x12];

/// A thin file after its load commands were rewritten.
pub(super) struct Rewritten {
    pub data: Vec<u8>,
    pub changed: bool,
    /// The file must be signed (again) before use; when it had no signature, an empty
    /// `LC_CODE_SIGNATURE` now points at the end of `__LINKEDIT`, where `data` ends.
    pub sign: bool,
    /// The (new) install name, whose file name identifies an unsigned dylib's signature.
    pub install_name: Option<String>,
    /// Where the file's old signature lies (offset, size), to read its identifier and flags.
    pub old_signature: Option<(usize, usize)>,
}

/// What the walk found out about a file.
struct Layout {
    wide: bool,
    header_len: usize,
    commands: Vec<Command>,
    /// Where the first bytes after the load commands that belong to a section or segment start.
    room_end: usize,
    linkedit: Option<(u64, u64)>,
    signature: Option<(usize, usize)>,
}

struct Command {
    kind: u32,
    offset: usize,
    size: usize,
    /// Offset of a path inside the command, for the kinds that carry one velo rewrites.
    path_at: Option<usize>,
}

pub(super) fn rewrite(
    data: &[u8],
    map: &dyn Fn(&str) -> Option<String>,
    force_sign: bool,
) -> Result<Rewritten, MachoError> {
    let layout = walk(data)?;
    let mut out_commands = Vec::with_capacity(layout.commands.len() + 1);
    let mut changed = false;
    let mut install_name = None;
    let align = if layout.wide { 8 } else { 4 };
    for command in &layout.commands {
        let bytes = &data[command.offset..command.offset + command.size];
        let Some(path_at) = command.path_at else {
            out_commands.push(bytes.to_vec());
            continue;
        };
        let old = read_path(bytes, path_at)?;
        let new = old.and_then(map).filter(|new| Some(new.as_str()) != old);
        if command.kind == LC_ID_DYLIB {
            install_name = new.clone().or(old.map(str::to_owned));
        }
        match new {
            Some(new) => {
                out_commands.push(with_path(bytes, path_at, &new, align)?);
                changed = true;
            }
            None => out_commands.push(bytes.to_vec()),
        }
    }

    let arm64 = le32(data, 4) == Some(CPU_TYPE_ARM64);
    let loadable = le32(data, 12).is_some_and(|kind| LOADABLE.contains(&kind));
    let sign = (changed || force_sign) && (layout.signature.is_some() || (arm64 && loadable));
    let mut appended_signature = None;
    if sign {
        if !layout.wide {
            return Err(MachoError::Unsupported(
                "a 32-bit file with a code signature cannot be signed again".into(),
            ));
        }
        let (fileoff, filesize) = layout
            .linkedit
            .ok_or_else(|| MachoError::Unsupported("the file has no `__LINKEDIT` segment to sign".into()))?;
        let linkedit_end = usize::try_from(fileoff + filesize)
            .map_err(|_| MachoError::Malformed("`__LINKEDIT` lies outside the file".into()))?;
        match layout.signature {
            Some((dataoff, datasize)) => {
                if (dataoff as u64) < fileoff || linkedit_end > dataoff + datasize {
                    return Err(MachoError::Malformed(
                        "the code signature is not at the end of `__LINKEDIT`".into(),
                    ));
                }
            }
            None => {
                if linkedit_end != data.len() {
                    return Err(MachoError::Unsupported(
                        "bytes follow `__LINKEDIT`, so no code signature can be added".into(),
                    ));
                }
                let dataoff = linkedit_end.next_multiple_of(16);
                let mut command = Vec::with_capacity(16);
                for word in [LC_CODE_SIGNATURE, 16, dataoff as u32, 0] {
                    command.extend_from_slice(&word.to_le_bytes());
                }
                out_commands.push(command);
                appended_signature = Some(dataoff);
            }
        }
    }
    if !changed && !sign {
        return Ok(Rewritten {
            data: Vec::new(),
            changed,
            sign,
            install_name,
            old_signature: layout.signature,
        });
    }

    let old_end = layout.header_len + layout.commands.iter().map(|c| c.size).sum::<usize>();
    let new_size: usize = out_commands.iter().map(Vec::len).sum();
    let new_end = layout.header_len + new_size;
    if new_end > layout.room_end {
        let longest = layout
            .commands
            .iter()
            .zip(&out_commands)
            .filter(|(old, new)| old.path_at.is_some() && new.len() > old.size)
            .filter_map(|(old, new)| read_path(new, old.path_at?).ok().flatten())
            .max_by_key(|path| path.len())
            .unwrap_or("LC_CODE_SIGNATURE");
        return Err(MachoError::NoHeaderRoom {
            path: longest.to_owned(),
            needed: new_size,
            available: layout.room_end - layout.header_len,
        });
    }
    let mut out = data.to_vec();
    let ncmds = out_commands.len() as u32;
    out[16..20].copy_from_slice(&ncmds.to_le_bytes());
    out[20..24].copy_from_slice(&(new_size as u32).to_le_bytes());
    let region = &mut out[layout.header_len..old_end.max(new_end)];
    region.fill(0);
    let mut at = 0;
    for command in &out_commands {
        region[at..at + command.len()].copy_from_slice(command);
        at += command.len();
    }
    if let Some(dataoff) = appended_signature {
        out.resize(dataoff, 0);
    }
    Ok(Rewritten {
        data: out,
        changed,
        sign,
        install_name,
        old_signature: layout.signature,
    })
}

/// Walks the header and load commands, checking every size against the file.
fn walk(data: &[u8]) -> Result<Layout, MachoError> {
    let malformed = |what: &str| MachoError::Malformed(what.to_owned());
    let wide = match le32(data, 0) {
        Some(0xfeed_facf) => true,
        Some(0xfeed_face) => false,
        Some(0xcffa_edfe | 0xcefa_edfe) => {
            return Err(MachoError::Unsupported(
                "a big-endian (PowerPC) file is not relocated".into(),
            ))
        }
        _ => return Err(MachoError::NotMachO),
    };
    let header_len = if wide { 32 } else { 28 };
    let ncmds = le32(data, 16).ok_or_else(|| malformed("the header is cut short"))? as usize;
    let sizeofcmds = le32(data, 20).ok_or_else(|| malformed("the header is cut short"))? as usize;
    let commands_end = header_len + sizeofcmds;
    if commands_end > data.len() || ncmds > sizeofcmds / 8 {
        return Err(malformed("the load commands do not fit in the file"));
    }
    let mut layout = Layout {
        wide,
        header_len,
        commands: Vec::with_capacity(ncmds),
        room_end: data.len(),
        linkedit: None,
        signature: None,
    };
    let mut offset = header_len;
    for _ in 0..ncmds {
        let kind = le32(data, offset).ok_or_else(|| malformed("a load command is cut short"))?;
        let size = le32(data, offset + 4).ok_or_else(|| malformed("a load command is cut short"))? as usize;
        if size < 8 || offset + size > commands_end {
            return Err(malformed("a load command runs past the others' end"));
        }
        let bytes = &data[offset..offset + size];
        let path_at = match kind {
            LC_ID_DYLIB | LC_LOAD_DYLIB | LC_LOAD_WEAK_DYLIB | LC_REEXPORT_DYLIB | LC_LAZY_LOAD_DYLIB
            | LC_LOAD_UPWARD_DYLIB | LC_RPATH => {
                let at = le32(bytes, 8).ok_or_else(|| malformed("a path command is cut short"))?;
                let at = at as usize;
                let fixed = if kind == LC_RPATH { 12 } else { 24 };
                if at < fixed || at >= size {
                    return Err(malformed("a path in a load command lies outside it"));
                }
                Some(at)
            }
            LC_SEGMENT | LC_SEGMENT_64 => {
                segment(&mut layout, bytes, kind == LC_SEGMENT_64)?;
                None
            }
            LC_CODE_SIGNATURE => {
                let (Some(dataoff), Some(datasize)) = (le32(bytes, 8), le32(bytes, 12)) else {
                    return Err(malformed("`LC_CODE_SIGNATURE` is cut short"));
                };
                let (dataoff, datasize) = (dataoff as usize, datasize as usize);
                if dataoff + datasize > data.len() || dataoff < commands_end {
                    return Err(malformed("the code signature lies outside the file"));
                }
                layout.signature = Some((dataoff, datasize));
                None
            }
            _ => None,
        };
        layout.commands.push(Command {
            kind,
            offset,
            size,
            path_at,
        });
        offset += size;
    }
    if offset != commands_end {
        return Err(malformed("the load commands do not add up to `sizeofcmds`"));
    }
    if layout.room_end < commands_end {
        return Err(malformed("a section overlaps the load commands"));
    }
    Ok(layout)
}

/// Notes a segment's place in the file: `__LINKEDIT`'s extent, and where the first section or
/// segment bytes after the header start (the end of the room load commands may grow into).
fn segment(layout: &mut Layout, bytes: &[u8], wide: bool) -> Result<(), MachoError> {
    let malformed = || MachoError::Malformed("a segment command is cut short".into());
    let (fixed, section_len) = if wide { (72, 80) } else { (56, 68) };
    let word = |at: usize| -> Result<u64, MachoError> {
        if wide {
            le64(bytes, at).ok_or_else(malformed)
        } else {
            le32(bytes, at).map(u64::from).ok_or_else(malformed)
        }
    };
    let (fileoff, filesize) = if wide {
        (word(40)?, word(48)?)
    } else {
        (word(32)?, word(36)?)
    };
    let nsects = le32(bytes, if wide { 64 } else { 48 }).ok_or_else(malformed)? as usize;
    if bytes.len() < fixed || nsects > (bytes.len() - fixed) / section_len {
        return Err(malformed());
    }
    if fileoff.checked_add(filesize).is_none() {
        return Err(malformed());
    }
    if &bytes[8..24] == b"__LINKEDIT\0\0\0\0\0\0" {
        layout.linkedit = Some((fileoff, filesize));
    }
    if fileoff > 0 && filesize > 0 {
        layout.room_end = layout
            .room_end
            .min(usize::try_from(fileoff).unwrap_or(usize::MAX));
    }
    for index in 0..nsects {
        let section = &bytes[fixed + index * section_len..fixed + (index + 1) * section_len];
        let (offset, flags) = if wide {
            (le32(section, 48), le32(section, 64))
        } else {
            (le32(section, 40), le32(section, 56))
        };
        let (Some(offset), Some(flags)) = (offset, flags) else {
            return Err(malformed());
        };
        if offset > 0 && !ZEROFILL.contains(&(flags & 0xff)) {
            layout.room_end = layout.room_end.min(offset as usize);
        }
    }
    Ok(())
}

/// The NUL-terminated path at `at` inside a command; `None` when it is not UTF-8 (kept as is).
fn read_path(command: &[u8], at: usize) -> Result<Option<&str>, MachoError> {
    let tail = command.get(at..).unwrap_or_default();
    let len = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| MachoError::Malformed("a path in a load command is not NUL-terminated".into()))?;
    Ok(std::str::from_utf8(&tail[..len]).ok())
}

/// `old` with the path at `at` replaced by `new`: the bytes before it kept, the new size
/// written, the string NUL-padded to `align`.
fn with_path(old: &[u8], at: usize, new: &str, align: usize) -> Result<Vec<u8>, MachoError> {
    if new.as_bytes().contains(&0) {
        return Err(MachoError::Unsupported(format!(
            "the new path `{}` contains a NUL byte",
            new.escape_debug()
        )));
    }
    let size = (at + new.len() + 1).next_multiple_of(align);
    let mut command = Vec::with_capacity(size);
    command.extend_from_slice(&old[..at]);
    command.extend_from_slice(new.as_bytes());
    command.resize(size, 0);
    let size =
        u32::try_from(size).map_err(|_| MachoError::Unsupported("a new path is absurdly long".into()))?;
    command[4..8].copy_from_slice(&size.to_le_bytes());
    Ok(command)
}

//! Mach-O relocation for macOS bottles: install names (`LC_ID_DYLIB`, `LC_LOAD_DYLIB` and its
//! weak, re-export, lazy and upward kin) and `LC_RPATH`s rewritten through a caller's map, then an
//! ad-hoc re-signature wherever the kernel would otherwise refuse the file. Thin files and
//! universal (fat) files alike; a fat file is split, each slice relocated and signed on its own,
//! and the slices laid out again.
//!
//! The load commands are rebuilt here ([`commands`]), not through arwen's `MachoContainer`: that
//! one does not check the room between the load commands and the first section (a longer path
//! silently overwrites `__text`), keeps its parse stale after an edit (a second edit to a later
//! command drops it), finds commands by name (ambiguous when a new name equals another old one),
//! and its builders rewrite the dylib header (losing the newer `dylib_use_command` layout).
//! Signing is `arwen-codesign` ([`sign`]), fed only checked offsets and entitlements read here.
//!
//! Input is untrusted (a bottle from a mirror): every offset is checked, and the parsers are run
//! under `catch_unwind` as a last line, so garbage gives a [`MachoError`], never a panic.

mod commands;
mod sign;
#[cfg(test)]
mod tests;

use std::panic::{catch_unwind, AssertUnwindSafe};

const MH_MAGIC: u32 = 0xfeed_face;
const MH_MAGIC_64: u32 = 0xfeed_facf;
const MH_CIGAM: u32 = 0xcefa_edfe;
const MH_CIGAM_64: u32 = 0xcffa_edfe;
const FAT_MAGIC: u32 = 0xcafe_babe;
const FAT_MAGIC_64: u32 = 0xcafe_babf;
/// Java class files share `0xcafebabe`; their next word (minor/major version) is at least 45,
/// a fat header's (the number of slices) is small. The same test as LLVM's and file(1)'s.
const MAX_FAT_ARCHS: u32 = 42;
/// The largest slice alignment accepted (2^16 = 64 KiB; lipo uses 2^12 and 2^14).
const MAX_FAT_ALIGN: u32 = 16;

/// Why a Mach-O file could not be relocated. The caller adds the file's path.
#[derive(Debug, thiserror::Error)]
pub enum MachoError {
    #[error("not a Mach-O file")]
    NotMachO,
    #[error("malformed Mach-O file: {0}")]
    Malformed(String),
    #[error("unsupported Mach-O file: {0}")]
    Unsupported(String),
    #[error(
        "no room in the Mach-O header for `{path}`: the load commands need {needed} bytes, the \
         file has {available} before its first section\nhint: the file was linked without \
         `-headerpad_max_install_names`; a shorter prefix fits (set a shorter prefix or project path)"
    )]
    NoHeaderRoom {
        path: String,
        needed: usize,
        available: usize,
    },
    #[error("could not sign the relocated Mach-O file ad hoc: {0}")]
    Sign(String),
}

/// Whether `data` starts like a Mach-O file, thin (either width or byte order) or universal.
pub fn is_macho(data: &[u8]) -> bool {
    match be32(data, 0) {
        Some(FAT_MAGIC | FAT_MAGIC_64) => be32(data, 4).is_some_and(|n| n > 0 && n < MAX_FAT_ARCHS),
        Some(magic) => matches!(magic, MH_MAGIC | MH_MAGIC_64 | MH_CIGAM | MH_CIGAM_64),
        None => false,
    }
}

/// Rewrites every install name and rpath for which `map` gives a different path. `None` when
/// nothing changed. A changed slice that had a code signature, or is arm64 (whose kernel kills
/// unsigned code), is signed again ad hoc, keeping its identifier, entitlements and hardened
/// runtime flag, as `codesign --sign - --force --preserve-metadata=…` does for Homebrew.
pub fn relocate(data: &[u8], map: &dyn Fn(&str) -> Option<String>) -> Result<Option<Vec<u8>>, MachoError> {
    guarded(|| relocate_unguarded(data, map))
}

fn relocate_unguarded(
    data: &[u8],
    map: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Vec<u8>>, MachoError> {
    if !is_macho(data) {
        return Err(MachoError::NotMachO);
    }
    match fat_slices(data)? {
        None => relocate_thin(data, map, false),
        Some(slices) => relocate_fat(data, &slices, map),
    }
}

/// Signs every slice of `data` ad hoc that needs it (it had a signature, or is arm64), whether or
/// not anything changed: for callers that edited bytes themselves (a prefix inside a string).
pub fn sign_ad_hoc(data: &[u8]) -> Result<Vec<u8>, MachoError> {
    let keep = |_: &str| None;
    guarded(|| {
        if !is_macho(data) {
            return Err(MachoError::NotMachO);
        }
        let signed = match fat_slices(data)? {
            None => relocate_thin(data, &keep, true)?,
            Some(slices) => {
                let mut out = Vec::with_capacity(slices.len());
                for slice in &slices {
                    let bytes = &data[slice.offset..slice.offset + slice.size];
                    out.push(relocate_thin(bytes, &keep, true)?.unwrap_or_else(|| bytes.to_vec()));
                }
                Some(assemble_fat(data, &slices, out)?)
            }
        };
        Ok(signed.unwrap_or_else(|| data.to_vec()))
    })
}

/// One thin file: rewrite its load commands, then sign it if it must be.
fn relocate_thin(
    data: &[u8],
    map: &dyn Fn(&str) -> Option<String>,
    force_sign: bool,
) -> Result<Option<Vec<u8>>, MachoError> {
    // PowerPC code (big-endian) runs on no macOS a bottle is made for: left as it is, like data.
    if matches!(le32(data, 0), Some(MH_CIGAM | MH_CIGAM_64)) {
        return Ok(None);
    }
    let plan = commands::rewrite(data, map, force_sign)?;
    if !plan.changed && !plan.sign {
        return Ok(None);
    }
    if !plan.sign {
        return Ok(Some(plan.data));
    }
    let identity = sign::Identity::of(data, plan.old_signature, plan.install_name.as_deref());
    sign::ad_hoc(plan.data, &identity).map(Some)
}

fn relocate_fat(
    data: &[u8],
    slices: &[FatSlice],
    map: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Vec<u8>>, MachoError> {
    let bytes = |slice: &FatSlice| &data[slice.offset..slice.offset + slice.size];
    let relocated = slices
        .iter()
        .map(|slice| relocate_thin(bytes(slice), map, false))
        .collect::<Result<Vec<_>, _>>()?;
    if relocated.iter().all(Option::is_none) {
        return Ok(None);
    }
    let bodies = relocated
        .into_iter()
        .zip(slices)
        .map(|(new, slice)| new.unwrap_or_else(|| bytes(slice).to_vec()))
        .collect();
    assemble_fat(data, slices, bodies).map(Some)
}

/// One architecture's entry in a universal file's header.
#[derive(Debug, Clone, Copy)]
struct FatSlice {
    cputype: u32,
    cpusubtype: u32,
    offset: usize,
    size: usize,
    align: u32,
}

/// The slices of a universal file (`None` for a thin one), every one checked to lie inside
/// `data`, to be a thin Mach-O, and not to overlap the header.
fn fat_slices(data: &[u8]) -> Result<Option<Vec<FatSlice>>, MachoError> {
    let magic = be32(data, 0).ok_or(MachoError::NotMachO)?;
    let wide = match magic {
        FAT_MAGIC => false,
        FAT_MAGIC_64 => true,
        _ => return Ok(None),
    };
    let count = be32(data, 4).ok_or(MachoError::NotMachO)? as usize;
    let entry = if wide { 32 } else { 20 };
    let header_len = 8 + count * entry;
    let truncated = || MachoError::Malformed("the universal header is cut short".into());
    let mut slices = Vec::with_capacity(count);
    for index in 0..count {
        let at = 8 + index * entry;
        let (offset, size, align) = if wide {
            let offset = be64(data, at + 8).ok_or_else(truncated)?;
            let size = be64(data, at + 16).ok_or_else(truncated)?;
            (offset, size, be32(data, at + 24).ok_or_else(truncated)?)
        } else {
            let offset = u64::from(be32(data, at + 8).ok_or_else(truncated)?);
            let size = u64::from(be32(data, at + 12).ok_or_else(truncated)?);
            (offset, size, be32(data, at + 16).ok_or_else(truncated)?)
        };
        let slice = FatSlice {
            cputype: be32(data, at).ok_or_else(truncated)?,
            cpusubtype: be32(data, at + 4).ok_or_else(truncated)?,
            offset: usize::try_from(offset).map_err(|_| truncated())?,
            size: usize::try_from(size).map_err(|_| truncated())?,
            align,
        };
        let end = slice.offset.checked_add(slice.size);
        if slice.offset < header_len || end.is_none_or(|end| end > data.len()) {
            return Err(MachoError::Malformed(format!(
                "slice {index} of the universal file lies outside it"
            )));
        }
        if align > MAX_FAT_ALIGN {
            return Err(MachoError::Unsupported(format!(
                "slice {index} asks for an alignment of 2^{align}"
            )));
        }
        let thin = &data[slice.offset..slice.offset + slice.size];
        if !matches!(
            be32(thin, 0),
            Some(MH_MAGIC | MH_MAGIC_64 | MH_CIGAM | MH_CIGAM_64)
        ) {
            return Err(MachoError::Unsupported(format!(
                "slice {index} of the universal file is not a Mach-O file (an archive?)"
            )));
        }
        slices.push(slice);
    }
    Ok(Some(slices))
}

/// Lays the (possibly resized) slices out again after a header of the same kind, each at the
/// alignment its entry asks for, in the original order.
fn assemble_fat(original: &[u8], slices: &[FatSlice], bodies: Vec<Vec<u8>>) -> Result<Vec<u8>, MachoError> {
    let wide = be32(original, 0) == Some(FAT_MAGIC_64);
    let entry = if wide { 32 } else { 20 };
    let mut header = Vec::new();
    header.extend_from_slice(&be32(original, 0).unwrap_or(FAT_MAGIC).to_be_bytes());
    header.extend_from_slice(&(slices.len() as u32).to_be_bytes());
    let mut offsets = Vec::with_capacity(slices.len());
    let mut end = 8 + slices.len() * entry;
    for (slice, body) in slices.iter().zip(&bodies) {
        let offset = end.next_multiple_of(1 << slice.align);
        offsets.push(offset);
        end = offset + body.len();
    }
    let too_big = || MachoError::Unsupported("a slice grew past 4 GiB in a 32-bit universal file".into());
    for ((slice, body), offset) in slices.iter().zip(&bodies).zip(&offsets) {
        header.extend_from_slice(&slice.cputype.to_be_bytes());
        header.extend_from_slice(&slice.cpusubtype.to_be_bytes());
        if wide {
            header.extend_from_slice(&(*offset as u64).to_be_bytes());
            header.extend_from_slice(&(body.len() as u64).to_be_bytes());
            header.extend_from_slice(&slice.align.to_be_bytes());
            header.extend_from_slice(&0u32.to_be_bytes());
        } else {
            let offset = u32::try_from(*offset).map_err(|_| too_big())?;
            let size = u32::try_from(body.len()).map_err(|_| too_big())?;
            header.extend_from_slice(&offset.to_be_bytes());
            header.extend_from_slice(&size.to_be_bytes());
            header.extend_from_slice(&slice.align.to_be_bytes());
        }
    }
    let mut out = header;
    out.resize(end, 0);
    for (body, offset) in bodies.iter().zip(offsets) {
        out[offset..offset + body.len()].copy_from_slice(body);
    }
    Ok(out)
}

/// Runs `f`, turning a panic in a parser (goblin, arwen, arwen-codesign) on crafted input into
/// an error instead of taking velo down.
fn guarded<T>(f: impl FnOnce() -> Result<T, MachoError>) -> Result<T, MachoError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(MachoError::Malformed(
            "the file's structure is inconsistent (a parser gave up on it)".into(),
        ))
    })
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        data.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn be64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        data.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn le32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        data.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        data.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

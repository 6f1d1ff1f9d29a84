//! Ad-hoc signing of one thin file with `arwen-codesign`: a SuperBlob holding a CodeDirectory
//! (SHA-256 hashes of every 4 KiB page up to the signature, the empty requirements' hash in its
//! special slot), empty requirements and an empty CMS wrapper, as `codesign --sign -` writes.
//!
//! What the old signature said is kept, as Homebrew's `--preserve-metadata=entitlements,flags,
//! runtime` does: its identifier, its XML entitlements, and the hardened-runtime flag.

use arwen_codesign::{adhoc_sign, AdhocSignOptions, Entitlements};

use super::{be32, MachoError};

const CSMAGIC_EMBEDDED_SIGNATURE: u32 = 0xfade_0cc0;
const CSMAGIC_CODEDIRECTORY: u32 = 0xfade_0c02;
const CSSLOT_CODEDIRECTORY: u32 = 0;
const CS_RUNTIME: u32 = 0x1_0000;

/// What a new signature says about the file.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Identity {
    pub identifier: String,
    pub hardened_runtime: bool,
}

impl Identity {
    /// The identity of the old signature at `signature` in `data`, or for an unsigned file the
    /// name `codesign` would give it (the install name's file name, for a dylib).
    pub fn of(data: &[u8], signature: Option<(usize, usize)>, install_name: Option<&str>) -> Self {
        let old = signature
            .and_then(|(offset, size)| data.get(offset..offset.checked_add(size)?))
            .and_then(code_directory);
        match old {
            Some((identifier, flags)) => Identity {
                identifier,
                hardened_runtime: flags & CS_RUNTIME != 0,
            },
            None => Identity {
                identifier: install_name
                    .and_then(|name| name.rsplit('/').next())
                    .filter(|name| !name.is_empty())
                    .unwrap_or("a.out")
                    .to_owned(),
                hardened_runtime: false,
            },
        }
    }
}

/// Signs `data`, whose `LC_CODE_SIGNATURE` (old or just added) marks where the signature goes.
pub(super) fn ad_hoc(data: Vec<u8>, identity: &Identity) -> Result<Vec<u8>, MachoError> {
    let mut options =
        AdhocSignOptions::new(&identity.identifier).with_entitlements(Entitlements::Preserve);
    if identity.hardened_runtime {
        options = options.with_hardened_runtime();
    }
    adhoc_sign(data, &options).map_err(|err| MachoError::Sign(err.to_string()))
}

/// The identifier and flags of the first CodeDirectory in a signature SuperBlob (big-endian,
/// unlike the rest of the file), every offset checked.
fn code_directory(blob: &[u8]) -> Option<(String, u32)> {
    if be32(blob, 0)? != CSMAGIC_EMBEDDED_SIGNATURE {
        return None;
    }
    let count = be32(blob, 8)? as usize;
    let directory = (0..count.min(blob.len() / 8)).find_map(|index| {
        let entry = 12 + index * 8;
        (be32(blob, entry)? == CSSLOT_CODEDIRECTORY).then_some(be32(blob, entry + 4)? as usize)
    })?;
    let directory = blob.get(directory..)?;
    if be32(directory, 0)? != CSMAGIC_CODEDIRECTORY {
        return None;
    }
    let flags = be32(directory, 12)?;
    let name = directory.get(be32(directory, 20)? as usize..)?;
    let name = &name[..name.iter().position(|&b| b == 0)?];
    Some((std::str::from_utf8(name).ok()?.to_owned(), flags))
}

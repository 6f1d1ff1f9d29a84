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
const CSMAGIC_EMBEDDED_ENTITLEMENTS: u32 = 0xfade_7171;
const CSSLOT_CODEDIRECTORY: u32 = 0;
const CSSLOT_ENTITLEMENTS: u32 = 5;
const CS_RUNTIME: u32 = 0x1_0000;

/// What a new signature says about the file.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Identity {
    pub identifier: String,
    pub hardened_runtime: bool,
    /// The XML entitlements plist, read here rather than by arwen-codesign, whose reader
    /// trusts the blob's lengths.
    pub entitlements: Option<Vec<u8>>,
}

impl Identity {
    /// The identity of the old signature at `signature` in `data`, or for an unsigned file the
    /// name `codesign` would give it (the install name's file name, for a dylib).
    pub fn of(data: &[u8], signature: Option<(usize, usize)>, install_name: Option<&str>) -> Self {
        let blob = signature
            .and_then(|(offset, size)| data.get(offset..offset.checked_add(size)?))
            .filter(|blob| be32(blob, 0) == Some(CSMAGIC_EMBEDDED_SIGNATURE))
            .unwrap_or_default();
        match code_directory(blob) {
            Some((identifier, flags)) => Identity {
                identifier,
                hardened_runtime: flags & CS_RUNTIME != 0,
                entitlements: entitlements(blob),
            },
            None => Identity {
                identifier: install_name
                    .and_then(|name| name.rsplit('/').next())
                    .filter(|name| !name.is_empty())
                    .unwrap_or("a.out")
                    .to_owned(),
                hardened_runtime: false,
                entitlements: None,
            },
        }
    }
}

/// Signs `data`, whose `LC_CODE_SIGNATURE` (old or just added) marks where the signature goes.
pub(super) fn ad_hoc(data: Vec<u8>, identity: &Identity) -> Result<Vec<u8>, MachoError> {
    let entitlements = match &identity.entitlements {
        Some(plist) => Entitlements::Custom(plist),
        None => Entitlements::None,
    };
    let mut options = AdhocSignOptions::new(&identity.identifier).with_entitlements(entitlements);
    if identity.hardened_runtime {
        options = options.with_hardened_runtime();
    }
    adhoc_sign(data, &options).map_err(|err| MachoError::Sign(err.to_string()))
}

/// The blob in `slot` of a signature SuperBlob (big-endian, unlike the rest of the file), if its
/// magic is `magic` and its length fits, every offset checked.
fn blob_in(superblob: &[u8], slot: u32, magic: u32) -> Option<&[u8]> {
    let count = be32(superblob, 8)? as usize;
    let offset = (0..count.min(superblob.len() / 8)).find_map(|index| {
        let entry = 12 + index * 8;
        (be32(superblob, entry)? == slot).then_some(be32(superblob, entry + 4)? as usize)
    })?;
    let blob = superblob.get(offset..)?;
    let length = be32(blob, 4)? as usize;
    (be32(blob, 0)? == magic && length >= 8).then_some(blob.get(..length)?)
}

fn entitlements(superblob: &[u8]) -> Option<Vec<u8>> {
    let blob = blob_in(superblob, CSSLOT_ENTITLEMENTS, CSMAGIC_EMBEDDED_ENTITLEMENTS)?;
    Some(blob[8..].to_vec())
}

/// The identifier and flags of the CodeDirectory in a signature SuperBlob.
fn code_directory(superblob: &[u8]) -> Option<(String, u32)> {
    let directory = blob_in(superblob, CSSLOT_CODEDIRECTORY, CSMAGIC_CODEDIRECTORY)?;
    if directory.len() < 24 {
        return None;
    }
    let flags = be32(directory, 12)?;
    let name = directory.get(be32(directory, 20)? as usize..)?;
    let name = &name[..name.iter().position(|&b| b == 0)?];
    Some((std::str::from_utf8(name).ok()?.to_owned(), flags))
}

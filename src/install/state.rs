//! `.velo/state.json`: what the last sync installed, and from which manifest and lock.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CommandTarget;
use crate::platform::Platform;

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallState {
    pub version: u32,
    /// The project root the shims were written for; a moved project is re-synced.
    pub root: String,
    pub platform: Platform,
    /// sha256 of `velo.json` and `velo.lock` as they were when this state was written.
    pub manifest_digest: String,
    pub lock_digest: String,
    /// The active generation directory under `.velo/`.
    pub generation: String,
    pub packages: BTreeMap<String, InstalledPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPackage {
    pub version: String,
    /// The store tree it was linked from.
    pub tree: String,
    pub commands: BTreeMap<String, CommandTarget>,
    /// Whether its commands go through a shim that sets environment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shim: bool,
}

impl InstallState {
    /// The state in `path`, or `None` when it is missing or unreadable (then everything is
    /// checked again, which is always safe).
    pub fn read(path: &Path) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice::<Self>(&bytes)
            .ok()
            .filter(|state| state.version == STATE_VERSION)
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        // Only a record of what is on disk: a state lost to a crash makes the next sync check
        // everything again, so it need not wait for the disk.
        crate::fs::write_atomic_unsynced(path, text.as_bytes())
    }
}

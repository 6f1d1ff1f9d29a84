//! `.velo/state.json`: what the last sync installed, and from which manifest and lock.
//!
//! A repository can commit a `.velo/` with a state that lies (packages "installed" that are the
//! repository's own binaries, digests of its own `velo.lock`). So the state carries a seal: an
//! HMAC-SHA256 of its content under a random key kept in the user's cache dir
//! (`<cache>/keys-v1/state`), which no repository can know. A state without a valid seal is no
//! state at all: everything is installed again, and a Cellar entry velo did not record is
//! rebuilt from the store. The key is per cache dir: a new or cleaned cache makes each project's
//! next sync re-link its packages, which is always safe.

use std::collections::BTreeMap;
use std::path::Path;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::CommandTarget;
use crate::cache::Cache;
use crate::fs::owned::OwnedDir;
use crate::platform::Platform;

/// 2: sealed with the cache's key.
pub const STATE_VERSION: u32 = 2;

const STATE_FILE: &str = "state.json";
/// A state is a few kilobytes; anything much larger is not one velo wrote.
const MAX_STATE_SIZE: u64 = 16 << 20;
pub const KEYS_BUCKET: &str = "keys-v1";
const KEY_FILE: &str = "state";
const KEY_LEN: usize = 32;

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
    /// HMAC of everything above under the cache's state key (hex); empty while computing it.
    #[serde(default)]
    pub seal: String,
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
    /// Each command's file as the sync left it ([`super::commands::command_stamp`]).
    #[serde(default)]
    pub stamps: BTreeMap<String, String>,
}

/// The key states are sealed with: random, made once per cache dir.
#[derive(Clone)]
pub struct StateKey([u8; KEY_LEN]);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

impl StateKey {
    /// The cache's key, if it has one (readers never create it).
    pub fn find(cache: &Cache) -> Option<Self> {
        let dir = OwnedDir::existing(cache.root(), Path::new(KEYS_BUCKET))?;
        Self::parse(&dir.read(KEY_FILE, 2 * KEY_LEN as u64 + 1).ok()?)
    }

    /// The cache's key, made now if there is none yet.
    pub fn get_or_create(cache: &Cache) -> std::io::Result<Self> {
        if let Some(key) = Self::find(cache) {
            return Ok(key);
        }
        // Made like any bucket (with the cache's `CACHEDIR.TAG`), then checked like a project's.
        cache.bucket(KEYS_BUCKET)?;
        let dir = OwnedDir::ensure(cache.root(), Path::new(KEYS_BUCKET))?;
        dir.clear_unless_file(KEY_FILE)?;
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|err| std::io::Error::other(err.to_string()))?;
        let mut temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir.path())?;
        std::io::Write::write_all(&mut temp, hex::encode(bytes).as_bytes())?;
        temp.as_file().sync_all()?;
        // Two processes may race to make it: the first one's key wins, the other reads it.
        match temp.persist_noclobber(dir.join(KEY_FILE)?) {
            Ok(_) => Ok(Self(bytes)),
            Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::find(cache).ok_or(err.error)
            }
            Err(err) => Err(err.error),
        }
    }

    fn parse(text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?.trim();
        hex::decode(text).ok()?.try_into().ok().map(Self)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl InstallState {
    /// The state in `velo` (a checked `.velo/`), or `None` when it is missing, unreadable, a
    /// link, or not sealed with `key` (then everything is checked and installed again, which is
    /// always safe).
    pub fn read(velo: &OwnedDir, key: Option<&StateKey>) -> Option<Self> {
        let key = key?;
        let bytes = velo.read(STATE_FILE, MAX_STATE_SIZE).ok()?;
        let state = serde_json::from_slice::<Self>(&bytes)
            .ok()
            .filter(|state| state.version == STATE_VERSION)?;
        let seal = hex::decode(&state.seal).ok()?;
        let mut mac = key.mac();
        mac.update(&state.unsealed_bytes());
        mac.verify_slice(&seal).ok()?;
        Some(state)
    }

    /// Seal the state with `key` and write it into `velo` (replacing, never following, whatever
    /// is at `state.json`).
    pub fn write(&mut self, velo: &OwnedDir, key: &StateKey) -> std::io::Result<()> {
        let mut mac = key.mac();
        mac.update(&self.unsealed_bytes());
        self.seal = hex::encode(mac.finalize().into_bytes());
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        // Only a record of what is on disk: a state lost to a crash makes the next sync check
        // everything again, so it need not wait for the disk.
        velo.write_atomic(STATE_FILE, text.as_bytes(), false)
    }

    /// What the seal covers: the state's canonical JSON with an empty seal.
    fn unsealed_bytes(&self) -> Vec<u8> {
        let unsealed = Self {
            seal: String::new(),
            ..self.clone()
        };
        serde_json::to_vec(&unsealed).expect("a state always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> InstallState {
        InstallState {
            version: STATE_VERSION,
            root: "/p".to_string(),
            platform: "linux-x86_64".parse().unwrap(),
            manifest_digest: String::new(),
            lock_digest: "0".repeat(64),
            generation: "gen-1".to_string(),
            packages: BTreeMap::new(),
            seal: String::new(),
        }
    }

    #[test]
    fn only_a_state_sealed_with_this_caches_key_is_read() {
        let temp = tempfile::tempdir().unwrap();
        let cache = Cache::new(temp.path().join("cache"));
        assert!(StateKey::find(&cache).is_none());
        let key = StateKey::get_or_create(&cache).unwrap();
        assert_eq!(StateKey::find(&cache).unwrap().0, key.0);
        let velo = OwnedDir::ensure(temp.path(), Path::new(".velo")).unwrap();
        let mut written = state();
        written.write(&velo, &key).unwrap();
        assert_eq!(InstallState::read(&velo, Some(&key)), Some(written.clone()));
        assert_eq!(InstallState::read(&velo, None), None);

        // A state edited (or written by a repository) without the key.
        let mut forged = written;
        forged.generation = "gen-evil".to_string();
        let text = serde_json::to_string(&forged).unwrap();
        fs_err::write(velo.path().join(STATE_FILE), text).unwrap();
        assert_eq!(InstallState::read(&velo, Some(&key)), None);

        let other = Cache::new(temp.path().join("other"));
        let mut state = state();
        state
            .write(&velo, &StateKey::get_or_create(&other).unwrap())
            .unwrap();
        assert_eq!(InstallState::read(&velo, Some(&key)), None);
    }
}

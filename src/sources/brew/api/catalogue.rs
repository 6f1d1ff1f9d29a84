//! The verified catalogue on disk and the index that makes a lookup cheap.
//!
//! One file per API URL holds everything a lock needs, written atomically once per download so
//! its parts always agree:
//!
//! ```text
//! {"format":1,"url":…,"key":…,"etag":…,"index_len":N}\n   the header: where it came from
//! {"records":[[name,start,len],…],"aliases":[[alias,i],…]}  N bytes: sorted, for binary search
//! [{…wget…},{…}]                                          the verified payload, as signed
//! ```
//!
//! Opening it reads the header and the index (a few hundred KB for Homebrew core); each lookup
//! then reads only its record's bytes from the payload, never the 30 MB around them.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::http::Validators;

const FORMAT: u32 = 1;

/// Where a catalogue came from; a cached one is used only when this matches what is asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    /// The URL of the signed document.
    pub url: String,
    /// The fingerprint of the key that verified it.
    pub key: String,
    #[serde(flatten)]
    pub validators: Validators,
    #[serde(default)]
    index_len: u64,
}

impl Header {
    pub fn new(url: String, key: String, validators: Validators) -> Self {
        Self {
            format: FORMAT,
            url,
            key,
            validators,
            index_len: 0,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    /// Canonical name, start and length of its record in the payload; sorted by name.
    records: Vec<(String, u64, u32)>,
    /// An alias or old name and the record it names; sorted by name.
    aliases: Vec<(String, u32)>,
}

/// The names in one record; everything else is skipped unread.
#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    aliases: Option<Vec<Cow<'a, str>>>,
    #[serde(default, borrow)]
    oldnames: Option<Vec<Cow<'a, str>>>,
    /// What older API documents carry instead of `oldnames`.
    #[serde(default, borrow)]
    oldname: Option<Cow<'a, str>>,
}

/// Build the file's bytes from a verified `payload` (a JSON array of formula records).
pub fn build(mut header: Header, payload: &str) -> Result<Vec<u8>, String> {
    let records: Vec<&RawValue> =
        serde_json::from_str(payload).map_err(|err| format!("it is not a list of formula records: {err}"))?;
    let base = payload.as_ptr() as usize;
    let mut index = Index::default();
    let mut aliases = Vec::new();
    for raw in records {
        // A record that does not even name itself cannot be asked for; skip it.
        let Ok(names) = serde_json::from_str::<Names>(raw.get()) else {
            continue;
        };
        let number = index.records.len() as u32;
        let start = raw.get().as_ptr() as usize - base;
        index
            .records
            .push((names.name.into_owned(), start as u64, raw.get().len() as u32));
        let old = names
            .oldnames
            .unwrap_or_default()
            .into_iter()
            .chain(names.oldname);
        for alias in names.aliases.unwrap_or_default().into_iter().chain(old) {
            aliases.push((alias.into_owned(), number));
        }
    }
    // Sorting renumbers the records; aliases follow their record's name.
    let numbered: Vec<String> = index.records.iter().map(|(name, ..)| name.clone()).collect();
    index.records.sort_by(|a, b| a.0.cmp(&b.0));
    index.records.dedup_by(|later, first| later.0 == first.0);
    let position = |name: &str| {
        index
            .records
            .binary_search_by(|(other, ..)| other.as_str().cmp(name))
            .ok()
    };
    let mut resolved: Vec<(String, u32)> = aliases
        .into_iter()
        .filter_map(|(alias, number)| {
            // A canonical name always wins over another formula's alias or old name.
            if position(&alias).is_some() {
                return None;
            }
            Some((alias, position(&numbered[number as usize])? as u32))
        })
        .collect();
    resolved.sort_by(|a, b| a.0.cmp(&b.0));
    resolved.dedup_by(|later, first| later.0 == first.0);
    index.aliases = resolved;

    let index = serde_json::to_vec(&index).map_err(|err| err.to_string())?;
    header.index_len = index.len() as u64;
    let mut bytes = serde_json::to_vec(&header).map_err(|err| err.to_string())?;
    bytes.push(b'\n');
    bytes.extend_from_slice(&index);
    bytes.extend_from_slice(payload.as_bytes());
    Ok(bytes)
}

/// An opened catalogue file.
#[derive(Debug)]
pub struct Catalogue {
    pub header: Header,
    path: PathBuf,
    index: Index,
    payload_start: u64,
    file: Mutex<std::fs::File>,
}

impl Catalogue {
    /// Open `path`; `None` when it is missing or not a catalogue this velo wrote.
    pub fn open(path: &Path) -> std::io::Result<Option<Self>> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        reader.by_ref().take(64 << 10).read_until(b'\n', &mut line)?;
        let Ok(header) = serde_json::from_slice::<Header>(&line) else {
            return Ok(None);
        };
        if header.format != FORMAT {
            return Ok(None);
        }
        let mut index = Vec::new();
        reader.by_ref().take(header.index_len).read_to_end(&mut index)?;
        if index.len() as u64 != header.index_len {
            return Ok(None);
        }
        let Ok(index) = serde_json::from_slice::<Index>(&index) else {
            return Ok(None);
        };
        let payload_start = line.len() as u64 + header.index_len;
        Ok(Some(Self {
            header,
            path: path.to_path_buf(),
            index,
            payload_start,
            file: Mutex::new(reader.into_inner()),
        }))
    }

    /// The canonical name `name` stands for: itself, an alias or an old name.
    pub fn canonical(&self, name: &str) -> Option<&str> {
        self.position(name)
            .map(|position| self.index.records[position].0.as_str())
    }

    fn position(&self, name: &str) -> Option<usize> {
        let records = &self.index.records;
        if let Ok(position) = records.binary_search_by(|(other, ..)| other.as_str().cmp(name)) {
            return Some(position);
        }
        let aliases = &self.index.aliases;
        aliases
            .binary_search_by(|(other, _)| other.as_str().cmp(name))
            .ok()
            .map(|found| aliases[found].1 as usize)
    }

    /// The canonical name and the record's JSON for `name`.
    pub fn record(&self, name: &str) -> std::io::Result<Option<(String, String)>> {
        let Some(position) = self
            .position(name)
            .or_else(|| self.position(&name.to_ascii_lowercase()))
        else {
            return Ok(None);
        };
        let (canonical, start, len) = &self.index.records[position];
        let mut bytes = vec![0; *len as usize];
        {
            let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            file.seek(SeekFrom::Start(self.payload_start + start))?;
            file.read_exact(&mut bytes)?;
        }
        let json = String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("`{}` is damaged", self.path.display()),
            )
        })?;
        Ok(Some((canonical.clone(), json)))
    }

    /// Every canonical name, alias and old name, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        let records = self.index.records.iter().map(|(name, ..)| name.as_str());
        records.chain(self.index.aliases.iter().map(|(name, _)| name.as_str()))
    }

    pub fn len(&self) -> usize {
        self.index.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(payload: &str) -> (tempfile::TempDir, Catalogue) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("formula.cache");
        let header = Header::new(
            "http://x/formula.jws.json".into(),
            "k".into(),
            Validators::default(),
        );
        std::fs::write(&path, build(header, payload).unwrap()).unwrap();
        let catalogue = Catalogue::open(&path).unwrap().unwrap();
        (dir, catalogue)
    }

    #[test]
    fn finds_records_by_name_alias_and_old_name() {
        let payload = r#"[
            {"name":"wget","aliases":[],"desc":"a \"quoted\" ünïcode word"},
            {"name":"python@3.13","aliases":["python","python3"],"oldnames":["python@3"]},
            {"name":"zstd","aliases":null,"oldname":"zst"},
            {"name":"jq","aliases":["wget"]},
            {"nameless":true}
        ]"#;
        let (_dir, catalogue) = catalogue(payload);
        assert_eq!(catalogue.len(), 4);
        let (name, json) = catalogue.record("wget").unwrap().unwrap();
        assert_eq!(name, "wget");
        assert_eq!(
            json,
            r#"{"name":"wget","aliases":[],"desc":"a \"quoted\" ünïcode word"}"#
        );
        for asked in ["python", "python3", "python@3", "python@3.13", "Python"] {
            assert_eq!(
                catalogue.record(asked).unwrap().unwrap().0,
                "python@3.13",
                "{asked}"
            );
        }
        assert_eq!(catalogue.canonical("zst"), Some("zstd"));
        assert_eq!(catalogue.record("nope").unwrap(), None);
        let json = catalogue.record("zst").unwrap().unwrap().1;
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
    }

    #[test]
    fn refuses_what_is_not_a_list() {
        let header = Header::new("u".into(), "k".into(), Validators::default());
        assert!(build(header.clone(), r#"{"name":"wget"}"#).is_err());
        assert!(build(header, "[").is_err());
    }

    #[test]
    fn ignores_files_it_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("formula.cache");
        assert!(Catalogue::open(&path).unwrap().is_none());
        std::fs::write(
            &path,
            b"{\"format\":1,\"url\":\"u\",\"key\":\"k\",\"index_len\":99}\n{}",
        )
        .unwrap();
        assert!(Catalogue::open(&path).unwrap().is_none());
        std::fs::write(&path, b"garbage").unwrap();
        assert!(Catalogue::open(&path).unwrap().is_none());
    }
}

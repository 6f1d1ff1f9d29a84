//! Reading tar entries with bounded memory, for every tar velo reads (artifacts and task outputs).
//!
//! The `tar` crate's default iterator reads GNU long names, long links and PAX records whole into
//! memory, however large their header says they are, so a 9 KB archive could ask for gigabytes.
//! Here the crate only parses headers (`raw` mode) and the extension records are handled by us:
//! their declared size is checked against a small limit before a byte of them is read. The crate
//! then no longer applies them, so this module also joins the name, the link target, the PAX
//! overrides and (classic GNU) sparse maps to the entry they describe.

use std::io::{self, Read};

use tar::{EntryType, Header};

/// The longest entry name or link target accepted (`PATH_MAX` on Linux).
pub const MAX_NAME: u64 = 4096;

/// The largest PAX record set accepted for one entry. Real ones carry a path, times, ids and
/// perhaps a few extended attributes: a few hundred bytes.
pub const MAX_PAX_RECORDS: u64 = 64 << 10;

/// An extension record (GNU long name or long link, PAX header) larger than velo accepts. Carried
/// inside the `io::Error` the iterator returns, so callers can tell it from corruption.
#[derive(Debug, thiserror::Error)]
#[error("its {what} record declares {declared} bytes; at most {limit} are accepted")]
pub struct RecordTooLarge {
    pub what: &'static str,
    pub declared: u64,
    pub limit: u64,
}

/// The entries of `archive`, with names, link targets and PAX records bounded. Extension entries
/// (GNU `L`/`K`, PAX `x`/`g`) are consumed here and never yielded.
pub fn entries<R: Read>(archive: &mut tar::Archive<R>) -> io::Result<TarEntries<'_, R>> {
    Ok(TarEntries {
        raw: archive.entries()?.raw(true),
        done: false,
    })
}

pub struct TarEntries<'a, R: Read> {
    raw: tar::Entries<'a, R>,
    done: bool,
}

/// One file, directory or link of the archive, with what its extension records said about it.
pub struct TarEntry<'a, R: Read> {
    raw: tar::Entry<'a, R>,
    path: Vec<u8>,
    link: Option<Vec<u8>>,
    sparse: Option<Sparse>,
}

impl<'a, R: Read> TarEntry<'a, R> {
    pub fn header(&self) -> &Header {
        self.raw.header()
    }

    /// The entry's full name: a GNU long name, else a PAX `path`, else the header's.
    pub fn path_bytes(&self) -> &[u8] {
        &self.path
    }

    /// The link target: a GNU long link, else a PAX `linkpath`, else the header's.
    pub fn link_name_bytes(&self) -> Option<&[u8]> {
        self.link.as_deref()
    }

    /// The size of the content this entry reads to (a sparse file's holes included).
    pub fn size(&self) -> u64 {
        match &self.sparse {
            Some(sparse) => sparse.real_size,
            None => self.raw.size(),
        }
    }
}

impl<R: Read> Read for TarEntry<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.sparse {
            Some(sparse) => sparse.read(&mut self.raw, buf),
            None => self.raw.read(buf),
        }
    }
}

impl<'a, R: Read> Iterator for TarEntries<'a, R> {
    type Item = io::Result<TarEntry<'a, R>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_entry().transpose();
        // After an error the position in the stream is unknown: stop rather than misparse.
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

impl<'a, R: Read> TarEntries<'a, R> {
    fn next_entry(&mut self) -> io::Result<Option<TarEntry<'a, R>>> {
        let mut long_name = None;
        let mut long_link = None;
        let mut pax: Option<Vec<u8>> = None;
        loop {
            let Some(mut entry) = self.raw.next().transpose()? else {
                if long_name.is_some() || long_link.is_some() || pax.is_some() {
                    return Err(invalid(
                        "the archive ends after an extension record, without the entry it describes",
                    ));
                }
                return Ok(None);
            };
            match entry.header().entry_type() {
                EntryType::GNULongName => {
                    let name = read_record(&mut entry, "GNU long name", MAX_NAME + 1)?;
                    set_once(&mut long_name, strip_nul(name), "GNU long name")?;
                }
                EntryType::GNULongLink => {
                    let link = read_record(&mut entry, "GNU long link", MAX_NAME + 1)?;
                    set_once(&mut long_link, strip_nul(link), "GNU long link")?;
                }
                EntryType::XHeader => {
                    let records = read_record(&mut entry, "PAX header", MAX_PAX_RECORDS)?;
                    set_once(&mut pax, records, "PAX header")?;
                }
                // Global records (a `git archive` comment) apply to nothing velo keeps.
                EntryType::XGlobalHeader => {
                    read_record(&mut entry, "PAX global header", MAX_PAX_RECORDS)?;
                }
                _ => return finish(entry, long_name, long_link, pax.as_deref()).map(Some),
            }
        }
    }
}

fn finish<'a, R: Read>(
    raw: tar::Entry<'a, R>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<&[u8]>,
) -> io::Result<TarEntry<'a, R>> {
    let mut path = long_name;
    let mut link = long_link;
    if let Some(records) = pax {
        for record in tar::PaxExtensions::new(records) {
            let record = record.map_err(|_| invalid("a PAX record is malformed"))?;
            match record.key_bytes() {
                b"path" if path.is_none() => path = Some(record.value_bytes().to_vec()),
                b"linkpath" if link.is_none() => link = Some(record.value_bytes().to_vec()),
                // The crate positions the next header by the header's size; a PAX size that
                // differs would make two readers see two different archives.
                b"size" => {
                    let size = std::str::from_utf8(record.value_bytes())
                        .ok()
                        .and_then(|size| size.parse::<u64>().ok());
                    if size != Some(raw.header().entry_size()?) {
                        return Err(invalid("a PAX `size` record disagrees with the entry's header"));
                    }
                }
                // GNU tar's PAX sparse formats keep a map inside the data; written as is, the
                // file would be silently wrong.
                key if key.starts_with(b"GNU.sparse.") => {
                    return Err(invalid(
                        "a PAX sparse file (`GNU.sparse.*` records) is not supported",
                    ));
                }
                _ => {}
            }
        }
    }
    let path = path.unwrap_or_else(|| raw.header().path_bytes().into_owned());
    let link = link.or_else(|| raw.header().link_name_bytes().map(|link| link.into_owned()));
    for name in std::iter::once(&path).chain(&link) {
        if name.len() as u64 > MAX_NAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                RecordTooLarge {
                    what: "name",
                    declared: name.len() as u64,
                    limit: MAX_NAME,
                },
            ));
        }
    }
    let sparse = match raw.header().entry_type() {
        EntryType::GNUSparse => Some(Sparse::new(raw.header())?),
        _ => None,
    };
    Ok(TarEntry {
        raw,
        path,
        link,
        sparse,
    })
}

/// Read an extension entry's data, refusing before reading if its header declares more than
/// `limit` bytes.
fn read_record<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    what: &'static str,
    limit: u64,
) -> io::Result<Vec<u8>> {
    let declared = entry.header().entry_size()?;
    if declared > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            RecordTooLarge {
                what,
                declared,
                limit,
            },
        ));
    }
    let mut data = Vec::with_capacity(declared as usize);
    entry.take(declared).read_to_end(&mut data)?;
    if data.len() as u64 != declared {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the archive ends inside a {what} record"),
        ));
    }
    Ok(data)
}

fn set_once(slot: &mut Option<Vec<u8>>, value: Vec<u8>, what: &str) -> io::Result<()> {
    if slot.is_some() {
        return Err(invalid(&format!("two {what} records describe the same entry")));
    }
    *slot = Some(value);
    Ok(())
}

fn strip_nul(mut name: Vec<u8>) -> Vec<u8> {
    if name.last() == Some(&0) {
        name.pop();
    }
    name
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// A classic GNU sparse file: data regions stored back to back in the archive, holes between
/// them read as zeros. Only the four regions the header itself holds are supported; the
/// extension blocks that would follow the header are refused, since the crate in raw mode does
/// not skip them.
struct Sparse {
    /// `(offset, length)` of each data region, in order.
    regions: Vec<(u64, u64)>,
    real_size: u64,
    /// Logical position in the expanded file.
    position: u64,
}

impl Sparse {
    fn new(header: &Header) -> io::Result<Sparse> {
        let gnu = header
            .as_gnu()
            .ok_or_else(|| invalid("a sparse entry without a GNU header"))?;
        if gnu.is_extended() {
            return Err(invalid(
                "a GNU sparse file with more than four data regions (not supported)",
            ));
        }
        let stored = header.entry_size()?;
        let mut regions = Vec::new();
        let mut end = 0u64;
        let mut data = 0u64;
        for block in gnu.sparse.iter().filter(|block| !block.is_empty()) {
            let (offset, length) = (block.offset()?, block.length()?);
            if offset < end {
                return Err(invalid("out of order or overlapping sparse regions"));
            }
            // Every region but the last is stored padded to whole blocks by GNU tar.
            if length != 0 && !data.is_multiple_of(512) {
                return Err(invalid("a sparse region is not aligned to 512 bytes"));
            }
            end = offset
                .checked_add(length)
                .ok_or_else(|| invalid("a sparse region ends past 2^64"))?;
            data = data
                .checked_add(length)
                .ok_or_else(|| invalid("sparse regions add up past 2^64"))?;
            regions.push((offset, length));
        }
        let real_size = gnu.real_size()?;
        if end != real_size || data != stored {
            return Err(invalid("the sparse map disagrees with the sizes in the header"));
        }
        Ok(Sparse {
            regions,
            real_size,
            position: 0,
        })
    }

    fn read(&mut self, data: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.position >= self.real_size {
            return Ok(0);
        }
        let position = self.position;
        let region = self
            .regions
            .iter()
            .find(|(offset, length)| offset + length > position);
        let (chunk, from_data) = match region {
            Some(&(offset, _)) if position < offset => (offset - position, false),
            Some(&(offset, length)) => (offset + length - position, true),
            None => (self.real_size - position, false),
        };
        let len = usize::try_from(chunk).unwrap_or(usize::MAX).min(buf.len());
        let read = if from_data {
            data.read(&mut buf[..len])?
        } else {
            buf[..len].fill(0);
            len
        };
        self.position += read as u64;
        Ok(read)
    }
}

//! Bounded resources against hostile tar streams, escaped names, and a property test: no
//! sequence of entries writes, changes or removes anything outside the destination.

use std::collections::BTreeMap;
use std::io::{self, Read};

use proptest::prelude::*;

use super::*;
use crate::store::extract::tar_reader::{self, RecordTooLarge};

/// A tar stream that is one header followed by endless `n` bytes, counting what was read.
struct Endless {
    header: Vec<u8>,
    read: u64,
}

impl Endless {
    fn new(kind: EntryType, declared: u64) -> Self {
        let mut header = Header::new_gnu();
        header.set_path("././@LongLink").unwrap();
        header.set_entry_type(kind);
        header.set_size(declared);
        header.set_mode(0o644);
        header.set_cksum();
        Endless {
            header: header.as_bytes().to_vec(),
            read: 0,
        }
    }
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.read as usize;
        let len = buf.len();
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = self.header.get(at + i).copied().unwrap_or(b'n');
        }
        self.read += len as u64;
        Ok(len)
    }
}

/// A record declaring 64 GiB is refused from its header: whatever the reader consumed before
/// the error is a few blocks, not the record (an attempt to buffer it could not finish).
#[test]
fn extension_records_are_refused_before_they_are_read() {
    for (kind, what) in [
        (EntryType::GNULongName, "GNU long name"),
        (EntryType::GNULongLink, "GNU long link"),
        (EntryType::XHeader, "PAX header"),
        (EntryType::XGlobalHeader, "PAX global header"),
    ] {
        let mut archive = tar::Archive::new(Endless::new(kind, 64 << 30));
        let err = tar_reader::entries(&mut archive)
            .unwrap()
            .next()
            .unwrap()
            .err()
            .unwrap_or_else(|| panic!("a {what} of 64 GiB was accepted"));
        let record = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<RecordTooLarge>())
            .unwrap_or_else(|| panic!("not a RecordTooLarge: {err}"));
        assert_eq!((record.what, record.declared), (what, 64 << 30));
        let consumed = archive.into_inner().read;
        assert!(consumed <= 64 << 10, "{what}: read {consumed} bytes");
    }
}

/// The reproduction from the review: a tiny archive whose long name declares 256 MiB.
#[test]
fn a_tiny_tar_declaring_a_huge_long_name_is_refused_with_a_clear_error() {
    let mut header = Header::new_gnu();
    header.set_path("././@LongLink").unwrap();
    header.set_entry_type(EntryType::GNULongName);
    header.set_size(256 << 20);
    header.set_cksum();
    let mut tar = header.as_bytes().to_vec();
    tar.extend(vec![b'n'; 8192]);
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    let err = fixture
        .extract_with(ArchiveFormat::TarGz, options(0, 1 << 40, "tool"))
        .unwrap_err();
    assert!(matches!(err, ExtractError::RecordTooLarge { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.ends_with(
            "is refused: its GNU long name record declares 268435456 bytes; at most 4097 are accepted"
        ),
        "{message}"
    );
    fixture.assert_contained();
}

#[test]
fn a_pax_path_longer_than_a_name_is_refused() {
    let long = vec![b'p'; 5000];
    let tar = TarBuilder::new()
        .pax(&[("path", &long)], EntryType::XHeader)
        .file("short", b"x", 0o644)
        .finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(
            err,
            ExtractError::RecordTooLarge {
                what: "name",
                declared: 5000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_pax_size_that_disagrees_with_the_header_is_corrupt() {
    let tar = TarBuilder::new()
        .pax(&[("size", b"3")], EntryType::XHeader)
        .file("f", b"0123456789", 0o644)
        .finish();
    let err = tar_error(tar, 0);
    assert!(matches!(err, ExtractError::Corrupt { .. }), "{err}");
    assert!(format!("{:?}", err).contains("PAX `size`"), "{err:?}");
}

#[test]
fn an_extension_record_without_an_entry_is_corrupt() {
    let tar = TarBuilder::new()
        .pax(&[("path", b"a")], EntryType::XHeader)
        .finish();
    let err = tar_error(tar, 0);
    assert!(matches!(err, ExtractError::Corrupt { .. }), "{err}");
}

#[test]
fn names_in_errors_are_escaped_and_bounded() {
    let tar = TarBuilder::new()
        .raw("x/\x1b[2J\r\u{202e}".as_bytes(), EntryType::Fifo, b"", b"", 0o644)
        .finish();
    let message = tar_error(tar, 0).to_string();
    assert!(
        message.starts_with("archive entry `x/\\e[2J\\r\\u{202e}` is a FIFO"),
        "{message}"
    );
    let long = format!("{}/..", "d".repeat(3000));
    let tar = TarBuilder::new().long_file(&long, b"").finish();
    let message = tar_error(tar, 0).to_string();
    assert!(message.contains("…[3003 bytes in all]"), "{message}");
    assert!(message.len() < 600, "{message}");
}

// ---------------------------------------------------------------------------------------------
// Property: whatever the entries, nothing outside `dest` changes.

#[derive(Debug, Clone)]
enum Op {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    HardLink(String, String),
    LongFile(String),
}

fn name() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        4 => "[abc]",
        1 => Just("..".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just("".to_owned()),
        1 => Just("sibling".to_owned()),
    ];
    (any::<bool>(), prop::collection::vec(part, 1..4)).prop_map(|(absolute, parts)| {
        let name = parts.join("/");
        if absolute {
            format!("/{name}")
        } else {
            name
        }
    })
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        Just("../sibling".to_owned()),
        Just("../../outside".to_owned()),
        Just("/tmp".to_owned()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (name(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(n, d)| Op::File(n, d)),
        name().prop_map(Op::Dir),
        (name(), target()).prop_map(|(n, t)| Op::Symlink(n, t)),
        (name(), target()).prop_map(|(n, t)| Op::HardLink(n, t)),
        name().prop_map(|n| Op::LongFile(format!("{}/{n}", "l".repeat(120)))),
    ]
}

fn build(ops: &[Op]) -> Vec<u8> {
    let mut builder = TarBuilder::new();
    for op in ops {
        // A name the header cannot hold goes in a GNU long name record.
        builder = match op {
            Op::File(name, data) if name.len() < 100 => builder.file(name, data, 0o755),
            Op::Dir(name) if name.len() < 100 => builder.dir(name),
            Op::Symlink(name, target) if name.len() < 100 && target.len() < 100 => {
                builder.symlink(name, target)
            }
            Op::HardLink(name, target) if name.len() < 100 && target.len() < 100 => {
                builder.hard_link(name, target)
            }
            Op::LongFile(name) => builder.long_file(name, b"long"),
            _ => builder,
        };
    }
    builder.finish()
}

/// Every path under `root` with what it is: content, link target or directory.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let metadata = fs::symlink_metadata(&path).unwrap();
            let what = if metadata.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else if metadata.is_dir() {
                stack.push(path.clone());
                format!("dir {:o}", metadata.mode())
            } else {
                format!("file {:o} {:?}", metadata.mode(), fs::read(&path).unwrap())
            };
            out.insert(path, what);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_entry_sequence_changes_anything_outside_dest(
        ops in prop::collection::vec(op(), 1..10),
        strip in 0u32..2,
    ) {
        let sandbox = TempDir::new().unwrap();
        fs::write(sandbox.path().join("sibling"), b"keep").unwrap();
        fs::create_dir(sandbox.path().join("outside")).unwrap();
        fs::write(sandbox.path().join("outside/a"), b"keep").unwrap();
        let dest = sandbox.path().join("work/dest");
        fs::create_dir_all(&dest).unwrap();
        let archive = sandbox.path().join("work/x.tar");
        fs::write(&archive, build(&ops)).unwrap();
        let outside_before: BTreeMap<_, _> = snapshot(sandbox.path())
            .into_iter()
            .filter(|(path, _)| !path.starts_with(&dest))
            .collect();

        let _ = extract_tar(&archive, &dest, strip);

        let outside_after: BTreeMap<_, _> = snapshot(sandbox.path())
            .into_iter()
            .filter(|(path, _)| !path.starts_with(&dest))
            .collect();
        prop_assert_eq!(outside_before, outside_after);
        // Nothing inside `dest` may lead out of it either.
        for (path, what) in snapshot(&dest) {
            if what.starts_with("-> ") {
                let resolved = path.parent().unwrap().join(fs::read_link(&path).unwrap());
                if let Ok(resolved) = resolved.canonicalize() {
                    prop_assert!(resolved.starts_with(dest.canonicalize().unwrap()), "{:?} -> {:?}", path, resolved);
                }
            }
        }
    }
}

/// Extract a plain (uncompressed) tar through the same walker the compressed formats use.
fn extract_tar(archive: &Path, dest: &Path, strip: u32) -> Result<ExtractSummary, ExtractError> {
    let mut tree = Tree::new(dest, archive, ArchiveFormat::TarGz, GENEROUS);
    let file = File::open(archive).unwrap();
    untar::extract(BufReader::new(file), &mut tree, &options(strip, GENEROUS, "tool"))?;
    Ok(tree.finish())
}

#[test]
fn a_zip_entry_name_longer_than_a_name_is_refused() {
    let long = format!("pkg/{}", "z".repeat(5000));
    let err = zip_error(zip(|w| zip_file(w, &long, b"x", 0o644)));
    assert!(
        matches!(&err, ExtractError::InvalidName { reason, .. } if reason.contains("4096")),
        "{err}"
    );
    assert!(err.to_string().len() < 600, "{err}");
}

#[test]
fn a_pax_sparse_file_is_refused_rather_than_written_mangled() {
    let tar = TarBuilder::new()
        .pax(
            &[("GNU.sparse.major", b"1"), ("GNU.sparse.name", b"pkg/sparse")],
            EntryType::XHeader,
        )
        .file("GNUSparseFile.1/sparse", b"packed map and data", 0o644)
        .finish();
    let err = tar_error(tar, 0);
    assert!(matches!(err, ExtractError::Corrupt { .. }), "{err}");
    assert!(format!("{err:?}").contains("PAX sparse"), "{err:?}");
}

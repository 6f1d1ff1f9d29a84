//! Round trips for every format, and one hostile archive per rule, each checked to have written
//! nothing outside `dest`.

use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};
use tempfile::TempDir;

use super::*;

mod bounds;

const MIB: u64 = 1 << 20;
const GENEROUS: u64 = 64 * MIB;

// ---------------------------------------------------------------------------------------------
// Fixtures

/// An archive on disk, and an empty `dest` that is the only thing in `parent`, so a test can see
/// whether anything was written beside it (or beside `parent`).
struct Fixture {
    temp: TempDir,
    archive: PathBuf,
    parent: PathBuf,
    dest: PathBuf,
}

impl Fixture {
    fn new(file_name: &str, bytes: &[u8]) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let archive = temp.path().join(file_name);
        fs::write(&archive, bytes).unwrap();
        let parent = temp.path().join("out");
        let dest = parent.join("dest");
        fs::create_dir_all(&dest).unwrap();
        Fixture {
            temp,
            archive,
            parent,
            dest,
        }
    }

    fn extract(&self, format: ArchiveFormat, strip: u32) -> Result<ExtractSummary, ExtractError> {
        self.extract_with(format, options(strip, GENEROUS, "tool"))
    }

    fn extract_with(
        &self,
        format: ArchiveFormat,
        options: ExtractOptions,
    ) -> Result<ExtractSummary, ExtractError> {
        extract(&self.archive, format, &self.dest, &options)
    }

    /// Nothing but `dest` in `parent`, and nothing but the archive and `parent` above it.
    fn assert_contained(&self) {
        assert_eq!(names(&self.parent), ["dest"]);
        let archive_name = self.archive.file_name().unwrap().to_str().unwrap().to_owned();
        let mut expected = vec![archive_name, "out".to_owned()];
        expected.sort();
        assert_eq!(names(self.temp.path()), expected);
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dest.join(relative)
    }

    fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap()
    }

    fn mode(&self, relative: &str) -> u32 {
        fs::symlink_metadata(self.path(relative))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    fn link(&self, relative: &str) -> PathBuf {
        fs::read_link(self.path(relative)).unwrap()
    }

    fn exists(&self, relative: &str) -> bool {
        fs::symlink_metadata(self.path(relative)).is_ok()
    }

    /// Every path under `dest`, relative, sorted; directories end in `/`.
    fn listing(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                let relative = path.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
                if entry.file_type().unwrap().is_dir() {
                    out.push(format!("{relative}/"));
                    walk(root, &path, out);
                } else {
                    out.push(relative);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dest, &self.dest, &mut out);
        out.sort();
        out
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn options(strip: u32, limit: u64, file_name: &str) -> ExtractOptions {
    ExtractOptions {
        strip_components: strip,
        max_unpacked_size: limit,
        file_name: file_name.to_owned(),
    }
}

/// Extract a plain tar (gzipped) and expect an error, checking nothing escaped.
fn tar_error(tar: Vec<u8>, strip: u32) -> ExtractError {
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    let err = fixture.extract(ArchiveFormat::TarGz, strip).unwrap_err();
    fixture.assert_contained();
    err
}

fn zip_error(zip: Vec<u8>) -> ExtractError {
    let fixture = Fixture::new("x.zip", &zip);
    let err = fixture.extract(ArchiveFormat::Zip, 0).unwrap_err();
    fixture.assert_contained();
    err
}

/// Builds tar streams, hostile ones included: names and link targets are written into the
/// header bytes directly, so nothing in the `tar` crate sanitizes them.
struct TarBuilder(tar::Builder<Vec<u8>>);

impl TarBuilder {
    fn new() -> Self {
        TarBuilder(tar::Builder::new(Vec::new()))
    }

    fn raw(mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8], mode: u32) -> Self {
        let mut header = Header::new_gnu();
        {
            let old = header.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    fn file(self, name: &str, data: &[u8], mode: u32) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data, mode)
    }

    fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"", 0o755)
    }

    fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Symlink, target.as_bytes(), b"", 0o777)
    }

    fn hard_link(self, name: &str, target: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Link, target.as_bytes(), b"", 0o644)
    }

    /// A file whose name is too long for the header: the `tar` crate writes a GNU long name.
    fn long_file(mut self, name: &str, data: &[u8]) -> Self {
        let mut header = Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(EntryType::Regular);
        self.0.append_data(&mut header, name, data).unwrap();
        self
    }

    /// A PAX extended header carrying `records`, applying to the next entry.
    fn pax(self, records: &[(&str, &[u8])], kind: EntryType) -> Self {
        let mut data = Vec::new();
        for (key, value) in records {
            // "<len> <key>=<value>\n", where <len> counts itself.
            let rest = key.len() + value.len() + 3;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        self.raw(b"PaxHeaders/x", kind, b"", &data, 0o644)
    }

    fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 6);
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zst(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

type ZipWriter = zip::ZipWriter<Cursor<Vec<u8>>>;

fn zip(build: impl FnOnce(&mut ZipWriter)) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    build(&mut writer);
    writer.finish().unwrap().into_inner()
}

fn zip_options(mode: u32) -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(mode)
}

fn zip_file(writer: &mut ZipWriter, name: &str, data: &[u8], mode: u32) {
    writer.start_file(name, zip_options(mode)).unwrap();
    writer.write_all(data).unwrap();
}

/// Rewrite a little-endian u32 at `offset` in every zip header with `signature` that names
/// `name` (central directory: name at 46, local header: name at 30).
fn patch_zip(bytes: &mut [u8], name: &str, signature: u32, offset: usize, value: u32) {
    let name_at = if signature == 0x0201_4b50 { 46 } else { 30 };
    let mut patched = 0;
    for start in 0..bytes.len().saturating_sub(name_at + name.len()) {
        if bytes[start..start + 4] == signature.to_le_bytes()
            && &bytes[start + name_at..start + name_at + name.len()] == name.as_bytes()
        {
            bytes[start + offset..start + offset + 4].copy_from_slice(&value.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 1, "header for `{name}` not found");
}

const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

// ---------------------------------------------------------------------------------------------
// Format names

#[test]
fn format_from_file_name() {
    use ArchiveFormat::*;
    let cases = [
        ("x.tar.gz", TarGz),
        ("x.TGZ", TarGz),
        ("x.tar.zst?foo=1", TarZst),
        ("https://example.com/d/x.tar.xz#frag", TarXz),
        ("x.txz", TarXz),
        ("x.tzst", TarZst),
        ("x.tar.bz2", TarBz2),
        ("x.tbz2", TarBz2),
        ("x.gz", Gz),
        ("x.xz", Xz),
        ("x.zst", Zst),
        ("x.zip", Zip),
        ("X.ZIP?download=1", Zip),
        ("tool-linux-amd64", Raw),
        ("tool.exe", Raw),
        ("https://example.com/download?file=x.tar.gz", Raw),
    ];
    for (name, expected) in cases {
        assert_eq!(ArchiveFormat::from_file_name(name), expected, "{name}");
    }
}

#[test]
fn format_from_name() {
    use ArchiveFormat::*;
    let cases = [
        ("tar.gz", TarGz),
        ("tgz", TarGz),
        (".tar.xz", TarXz),
        ("txz", TarXz),
        ("tar.zst", TarZst),
        ("tzst", TarZst),
        ("tar.bz2", TarBz2),
        ("tbz2", TarBz2),
        ("zip", Zip),
        (".ZIP", Zip),
        ("gz", Gz),
        ("xz", Xz),
        ("zst", Zst),
        ("raw", Raw),
    ];
    for (name, expected) in cases {
        assert_eq!(ArchiveFormat::from_name(name), Some(expected), "{name}");
    }
    for name in ["", ".", "tar", "rar", "7z", "tar.gz.gz"] {
        assert_eq!(ArchiveFormat::from_name(name), None, "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips

fn sample_tar() -> Vec<u8> {
    TarBuilder::new()
        .dir("bin/")
        .file("bin/tool", b"#!/bin/sh\necho tool\n", 0o755)
        .file("bin/owner-only", b"x", 0o700)
        .file("bin/setuid", b"s", 0o4755)
        .file("README", b"read me\n", 0o644)
        .file("lib/private", b"p", 0o600)
        .file("lib/sticky", b"t", 0o1666)
        .finish()
}

fn assert_sample(fixture: &Fixture, summary: &ExtractSummary) {
    assert_eq!(fixture.read("bin/tool"), "#!/bin/sh\necho tool\n");
    assert_eq!(fixture.read("README"), "read me\n");
    assert_eq!(fixture.mode("bin/tool"), 0o755);
    assert_eq!(fixture.mode("bin/owner-only"), 0o755);
    assert_eq!(fixture.mode("bin/setuid"), 0o755);
    assert_eq!(fixture.mode("README"), 0o644);
    assert_eq!(fixture.mode("lib/private"), 0o644);
    assert_eq!(fixture.mode("lib/sticky"), 0o644);
    assert_eq!(fixture.mode("bin"), 0o755);
    assert_eq!(fixture.mode("lib"), 0o755);
    assert_eq!(summary.files, 6);
    assert_eq!(summary.bytes, 20 + 1 + 1 + 8 + 1 + 1);
}

#[test]
fn every_tar_format_round_trips() {
    let tar = sample_tar();
    let cases: [(ArchiveFormat, &str, Vec<u8>); 4] = [
        (ArchiveFormat::TarGz, "x.tar.gz", gz(&tar)),
        (ArchiveFormat::TarXz, "x.tar.xz", xz(&tar)),
        (ArchiveFormat::TarZst, "x.tar.zst", zst(&tar)),
        (ArchiveFormat::TarBz2, "x.tar.bz2", bz2(&tar)),
    ];
    for (format, name, bytes) in cases {
        let fixture = Fixture::new(name, &bytes);
        let summary = fixture.extract(format, 0).unwrap();
        assert_sample(&fixture, &summary);
        fixture.assert_contained();
    }
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let tar = sample_tar();
    let (first, second) = tar.split_at(700);
    let mut bytes = gz(first);
    bytes.extend(gz(second));
    let fixture = Fixture::new("x.tar.gz", &bytes);
    let summary = fixture.extract(ArchiveFormat::TarGz, 0).unwrap();
    assert_sample(&fixture, &summary);
}

#[test]
fn zip_round_trips() {
    let bytes = zip(|w| {
        w.add_directory("bin/", zip_options(0o755)).unwrap();
        zip_file(w, "bin/tool", b"#!/bin/sh\necho tool\n", 0o755);
        zip_file(w, "bin/owner-only", b"x", 0o700);
        zip_file(w, "bin/setuid", b"s", 0o755);
        zip_file(w, "README", b"read me\n", 0o644);
        zip_file(w, "lib/private", b"p", 0o600);
        zip_file(w, "lib/sticky", b"t", 0o666);
    });
    let mut bytes = bytes;
    // The writer masks modes to 0o777; put a setuid bit in by hand.
    patch_zip(&mut bytes, "bin/setuid", CENTRAL, 38, (0o104_755u32) << 16);
    let fixture = Fixture::new("x.zip", &bytes);
    let summary = fixture.extract(ArchiveFormat::Zip, 0).unwrap();
    assert_sample(&fixture, &summary);
    fixture.assert_contained();
}

#[test]
fn zip_without_unix_modes_gives_plain_files() {
    let bytes = zip(|w| {
        let options = zip::write::SimpleFileOptions::default();
        w.start_file("doc.txt", options).unwrap();
        w.write_all(b"doc").unwrap();
    });
    let fixture = Fixture::new("x.zip", &bytes);
    fixture.extract(ArchiveFormat::Zip, 0).unwrap();
    assert_eq!(fixture.read("doc.txt"), "doc");
    assert_eq!(fixture.mode("doc.txt"), 0o644);
}

#[test]
fn single_file_formats_round_trip() {
    let content = b"\x7fELF pretend binary".repeat(100);
    let cases: [(ArchiveFormat, &str, Vec<u8>); 4] = [
        (ArchiveFormat::Gz, "shout.gz", gz(&content)),
        (ArchiveFormat::Xz, "shout.xz", xz(&content)),
        (ArchiveFormat::Zst, "shout.zst", zst(&content)),
        (ArchiveFormat::Raw, "shout-linux-amd64", content.clone()),
    ];
    for (format, name, bytes) in cases {
        let fixture = Fixture::new(name, &bytes);
        let summary = fixture
            .extract_with(format, options(0, GENEROUS, "shout"))
            .unwrap();
        assert_eq!(fs::read(fixture.path("shout")).unwrap(), content, "{format}");
        assert_eq!(fixture.mode("shout"), 0o755, "{format}");
        assert_eq!(fixture.listing(), ["shout"]);
        assert_eq!(
            summary,
            ExtractSummary {
                files: 1,
                bytes: content.len() as u64
            }
        );
        fixture.assert_contained();
    }
}

#[test]
fn strip_components_one_and_two() {
    let tar = TarBuilder::new()
        .dir("pkg-1.0/")
        .dir("pkg-1.0/share/")
        .file("pkg-1.0/README", b"r", 0o644)
        .file("pkg-1.0/share/bin/tool", b"t", 0o755)
        .finish();

    let one = Fixture::new("x.tar.gz", &gz(&tar));
    one.extract(ArchiveFormat::TarGz, 1).unwrap();
    assert_eq!(
        one.listing(),
        ["README", "share/", "share/bin/", "share/bin/tool"]
    );

    let two = Fixture::new("x.tar.gz", &gz(&tar));
    let summary = two.extract(ArchiveFormat::TarGz, 2).unwrap();
    assert_eq!(two.listing(), ["bin/", "bin/tool"]);
    assert_eq!(summary, ExtractSummary { files: 1, bytes: 1 });
    assert_eq!(two.mode("bin/tool"), 0o755);
}

#[test]
fn strip_components_counts_a_leading_dot_like_gnu_tar() {
    let tar = TarBuilder::new()
        .dir("./")
        .dir("./pkg/")
        .file("./pkg/bin/tool", b"t", 0o755)
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    fixture.extract(ArchiveFormat::TarGz, 2).unwrap();
    assert_eq!(fixture.listing(), ["bin/", "bin/tool"]);

    let unstripped = Fixture::new("x.tar.gz", &gz(&tar));
    unstripped.extract(ArchiveFormat::TarGz, 0).unwrap();
    assert_eq!(unstripped.listing(), ["pkg/", "pkg/bin/", "pkg/bin/tool"]);
}

#[test]
fn zip_strip_components() {
    let bytes = zip(|w| {
        w.add_directory("pkg/", zip_options(0o755)).unwrap();
        zip_file(w, "pkg/bin/tool", b"t", 0o755);
        zip_file(w, "pkg\\doc\\windows.txt", b"w", 0o644);
    });
    let fixture = Fixture::new("x.zip", &bytes);
    fixture.extract(ArchiveFormat::Zip, 1).unwrap();
    assert_eq!(fixture.listing(), ["bin/", "bin/tool", "doc/", "doc/windows.txt"]);
}

#[test]
fn gnu_long_names_and_pax_paths_work() {
    let long = format!("pkg/{}/{}", "d".repeat(120), "f".repeat(120));
    let pax_path = format!("pkg/{}/pax-file", "p".repeat(150));
    let tar = TarBuilder::new()
        .long_file(&long, b"long")
        .pax(&[("path", pax_path.as_bytes())], EntryType::XHeader)
        .file("pkg/short-name-replaced-by-pax", b"pax", 0o755)
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    fixture.extract(ArchiveFormat::TarGz, 1).unwrap();
    assert_eq!(fixture.read(&long["pkg/".len()..]), "long");
    assert_eq!(fixture.read(&pax_path["pkg/".len()..]), "pax");
    assert_eq!(fixture.mode(&pax_path["pkg/".len()..]), 0o755);
    assert!(!fixture.exists("short-name-replaced-by-pax"));
}

#[test]
fn pax_global_header_is_skipped() {
    // What `git archive` writes first.
    let tar = TarBuilder::new()
        .pax(&[("comment", b"0123456789abcdef")], EntryType::XGlobalHeader)
        .file("pkg/a", b"a", 0o644)
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    fixture.extract(ArchiveFormat::TarGz, 1).unwrap();
    assert_eq!(fixture.listing(), ["a"]);
}

#[test]
fn symlinks_inside_the_tree_are_kept() {
    let tar = TarBuilder::new()
        .file("pkg/bin/tool", b"tool", 0o755)
        .symlink("pkg/tool", "bin/tool")
        .symlink("pkg/lib/tool", "../bin/tool")
        .symlink("pkg/lib/deep/tool", "./../../bin/tool")
        .symlink("pkg/here", ".")
        .symlink("pkg/bin/up", "..")
        .symlink("pkg/dangling", "not-there")
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    let summary = fixture.extract(ArchiveFormat::TarGz, 1).unwrap();
    assert_eq!(fixture.link("tool"), Path::new("bin/tool"));
    assert_eq!(fixture.link("lib/tool"), Path::new("../bin/tool"));
    assert_eq!(fixture.link("here"), Path::new("."));
    assert_eq!(fixture.link("bin/up"), Path::new(".."));
    assert_eq!(fixture.read("tool"), "tool");
    assert_eq!(fixture.read("lib/tool"), "tool");
    assert_eq!(fixture.read("lib/deep/tool"), "tool");
    assert_eq!(summary.files, 7);
    fixture.assert_contained();
}

#[test]
fn zip_symlinks_inside_the_tree_are_kept() {
    let bytes = zip(|w| {
        zip_file(w, "bin/tool", b"tool", 0o755);
        w.add_symlink("lib/tool", "../bin/tool", zip_options(0o777))
            .unwrap();
    });
    let fixture = Fixture::new("x.zip", &bytes);
    fixture.extract(ArchiveFormat::Zip, 0).unwrap();
    assert_eq!(fixture.link("lib/tool"), Path::new("../bin/tool"));
    assert_eq!(fixture.read("lib/tool"), "tool");
}

#[test]
fn hard_links_inside_the_tree_are_kept() {
    let tar = TarBuilder::new()
        .file("pkg/bin/tool", b"tool", 0o755)
        .hard_link("pkg/bin/alias", "pkg/bin/tool")
        .hard_link("pkg/other/alias", "pkg/bin/alias")
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    let summary = fixture.extract(ArchiveFormat::TarGz, 1).unwrap();
    assert_eq!(fixture.read("bin/alias"), "tool");
    assert_eq!(fixture.read("other/alias"), "tool");
    let inode = |p: &str| fs::metadata(fixture.path(p)).unwrap().ino();
    assert_eq!(inode("bin/alias"), inode("bin/tool"));
    assert_eq!(inode("other/alias"), inode("bin/tool"));
    assert_eq!(fixture.mode("bin/alias"), 0o755);
    assert_eq!(summary, ExtractSummary { files: 3, bytes: 4 });
}

#[test]
fn gnu_sparse_files_are_written_with_their_holes_filled() {
    let mut header = Header::new_gnu();
    header.set_path("pkg/sparse").unwrap();
    header.set_entry_type(EntryType::GNUSparse);
    header.set_mode(0o755);
    header.set_size(3);
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(10);
        gnu.sparse[0].set_length(3);
        gnu.sparse[1].set_offset(20);
        gnu.sparse[1].set_length(0);
        gnu.set_real_size(20);
    }
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &b"abc"[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    let summary = fixture.extract(ArchiveFormat::TarGz, 1).unwrap();
    let mut expected = vec![0; 20];
    expected[10..13].copy_from_slice(b"abc");
    assert_eq!(fs::read(fixture.path("sparse")).unwrap(), expected);
    assert_eq!(fixture.mode("sparse"), 0o755);
    assert_eq!(summary, ExtractSummary { files: 1, bytes: 20 });
}

#[test]
fn a_later_file_replaces_an_earlier_one() {
    let tar = TarBuilder::new()
        .file("a", b"old", 0o755)
        .file("a", b"new", 0o644)
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    let summary = fixture.extract(ArchiveFormat::TarGz, 0).unwrap();
    assert_eq!(fixture.read("a"), "new");
    assert_eq!(fixture.mode("a"), 0o644);
    assert_eq!(summary.files, 1);
}

#[test]
fn a_later_file_replacing_a_hard_linked_one_leaves_the_other_name_alone() {
    let tar = TarBuilder::new()
        .file("a", b"old", 0o644)
        .hard_link("b", "a")
        .file("a", b"new", 0o644)
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    fixture.extract(ArchiveFormat::TarGz, 0).unwrap();
    assert_eq!(fixture.read("a"), "new");
    assert_eq!(fixture.read("b"), "old");
}

// ---------------------------------------------------------------------------------------------
// Hostile paths

#[test]
fn rejects_parent_dir_entry() {
    let tar = TarBuilder::new().file("../evil", b"x", 0o644).finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::ParentDir { entry } if entry == "../evil"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "archive entry `../evil` points outside the package: its path contains `..`"
    );
}

#[test]
fn rejects_absolute_entry() {
    let tar = TarBuilder::new().file("/abs/path", b"x", 0o644).finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::AbsolutePath { entry } if entry == "/abs/path"),
        "{err}"
    );
    assert!(
        err.to_string().contains("`/abs/path` is an absolute path"),
        "{err}"
    );
}

#[test]
fn rejects_climbing_entry_in_the_middle() {
    let tar = TarBuilder::new().file("a/../../evil", b"x", 0o644).finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::ParentDir { entry } if entry == "a/../../evil"),
        "{err}"
    );
}

#[test]
fn rejects_parent_dir_even_inside_the_stripped_part() {
    let tar = TarBuilder::new().file("../pkg/file", b"x", 0o644).finish();
    let err = tar_error(tar, 1);
    assert!(matches!(&err, ExtractError::ParentDir { .. }), "{err}");
}

#[test]
fn rejects_parent_dir_in_a_pax_path() {
    let tar = TarBuilder::new()
        .pax(&[("path", b"pkg/../../evil")], EntryType::XHeader)
        .file("pkg/innocent", b"x", 0o644)
        .finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::ParentDir { entry } if entry == "pkg/../../evil"),
        "{err}"
    );
}

#[test]
fn rejects_nul_in_a_pax_path() {
    let tar = TarBuilder::new()
        .pax(&[("path", b"pkg/a\0b")], EntryType::XHeader)
        .file("pkg/innocent", b"x", 0o644)
        .finish();
    let err = tar_error(tar, 0);
    assert!(matches!(&err, ExtractError::InvalidName { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Hostile symlinks

#[test]
fn rejects_absolute_symlink() {
    let tar = TarBuilder::new().symlink("passwd", "/etc/passwd").finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::SymlinkAbsolute { entry, target } if entry == "passwd" && target == "/etc/passwd"),
        "{err}"
    );
}

#[test]
fn rejects_symlink_climbing_out() {
    let tar = TarBuilder::new().symlink("a", "../../x").finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::SymlinkEscapes { entry, target } if entry == "a" && target == "../../x"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "symlink `a` -> `../../x` points outside the package"
    );

    let nested = TarBuilder::new().symlink("pkg/sub/a", "../../../x").finish();
    let err = tar_error(nested, 0);
    assert!(matches!(&err, ExtractError::SymlinkEscapes { .. }), "{err}");
}

#[test]
fn symlink_to_dot_is_fine_but_to_dot_dot_is_not() {
    let fine = TarBuilder::new().symlink("link", ".").finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&fine));
    fixture.extract(ArchiveFormat::TarGz, 0).unwrap();
    assert_eq!(fixture.link("link"), Path::new("."));

    let tar = TarBuilder::new().symlink("link", "..").finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::SymlinkEscapes { entry, .. } if entry == "link"),
        "{err}"
    );
}

#[test]
fn rejects_symlink_to_the_outside_followed_by_a_file_through_it() {
    // Point at `parent`, so a write through the link would show up beside `dest`.
    let fixture_parent = tempfile::tempdir().unwrap();
    let target = fixture_parent.path().to_str().unwrap().to_owned();
    let tar = TarBuilder::new()
        .symlink("dir", &target)
        .file("dir/file", b"x", 0o644)
        .finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::SymlinkAbsolute { entry, .. } if entry == "dir"),
        "{err}"
    );
    assert!(names(fixture_parent.path()).is_empty());

    let tmp = TarBuilder::new()
        .symlink("dir", "/tmp")
        .file("dir/file", b"x", 0o644)
        .finish();
    let err = tar_error(tmp, 0);
    assert!(matches!(&err, ExtractError::SymlinkAbsolute { .. }), "{err}");
}

#[test]
fn rejects_writing_through_a_symlink_from_the_same_archive() {
    let tar = TarBuilder::new()
        .dir("sub/")
        .symlink("link", "sub")
        .file("link/file", b"x", 0o644)
        .finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::ThroughSymlink { entry, link } if entry == "link/file" && link == "link"),
        "{err}"
    );

    // `link -> .` is allowed, but nothing may be written through it either.
    let dot = TarBuilder::new()
        .symlink("link", ".")
        .file("link/file", b"x", 0o644)
        .finish();
    let err = tar_error(dot, 0);
    assert!(matches!(&err, ExtractError::ThroughSymlink { .. }), "{err}");

    let dir_through = TarBuilder::new().symlink("link", ".").dir("link/sub/").finish();
    let err = tar_error(dir_through, 0);
    assert!(matches!(&err, ExtractError::ThroughSymlink { .. }), "{err}");
}

#[test]
fn rejects_replacing_a_symlink() {
    let file = TarBuilder::new()
        .file("target", b"t", 0o644)
        .symlink("link", "target")
        .file("link", b"x", 0o644)
        .finish();
    let err = tar_error(file, 0);
    assert!(
        matches!(&err, ExtractError::ReplacesSymlink { entry } if entry == "link"),
        "{err}"
    );

    let symlink = TarBuilder::new()
        .symlink("link", "a")
        .symlink("link", "b")
        .finish();
    assert!(matches!(
        tar_error(symlink, 0),
        ExtractError::ReplacesSymlink { .. }
    ));

    let dir = TarBuilder::new().symlink("link", "a").dir("link/").finish();
    assert!(matches!(tar_error(dir, 0), ExtractError::ReplacesSymlink { .. }));

    let hard = TarBuilder::new()
        .file("a", b"a", 0o644)
        .symlink("link", "a")
        .hard_link("link", "a")
        .finish();
    assert!(matches!(tar_error(hard, 0), ExtractError::ReplacesSymlink { .. }));
}

#[test]
fn rejects_dot_dot_after_a_name_in_a_symlink_target() {
    // Lexically `c` stays inside, but through `b -> ..` it would not.
    let tar = TarBuilder::new()
        .dir("b-dir/")
        .symlink("b-dir/b", "..")
        .symlink("c", "b-dir/b/../x")
        .finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::SymlinkTargetInvalid { entry, .. } if entry == "c"),
        "{err}"
    );
}

#[test]
fn rejects_empty_symlink_target() {
    let tar = TarBuilder::new().symlink("link", "").finish();
    let err = tar_error(tar, 0);
    assert!(matches!(&err, ExtractError::SymlinkTargetInvalid { .. }), "{err}");
}

#[test]
fn rejects_a_directory_or_symlink_over_a_file_and_a_file_over_a_directory() {
    let dir_over_file = TarBuilder::new().file("a", b"a", 0o644).dir("a/").finish();
    assert!(matches!(
        tar_error(dir_over_file, 0),
        ExtractError::Conflict { .. }
    ));

    let file_under_file = TarBuilder::new()
        .file("a", b"a", 0o644)
        .file("a/b", b"b", 0o644)
        .finish();
    assert!(matches!(
        tar_error(file_under_file, 0),
        ExtractError::Conflict { kind: "file", .. }
    ));

    let file_over_dir = TarBuilder::new().dir("a/").file("a", b"a", 0o644).finish();
    assert!(matches!(
        tar_error(file_over_dir, 0),
        ExtractError::Conflict {
            kind: "directory",
            ..
        }
    ));

    let symlink_over_file = TarBuilder::new()
        .file("a", b"a", 0o644)
        .symlink("a", "b")
        .finish();
    assert!(matches!(
        tar_error(symlink_over_file, 0),
        ExtractError::Conflict { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// Hostile hard links

#[test]
fn rejects_hard_link_climbing_out() {
    let tar = TarBuilder::new().hard_link("link", "../outside").finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::HardLinkEscapes { entry, target } if entry == "link" && target == "../outside"),
        "{err}"
    );

    let absolute = TarBuilder::new().hard_link("link", "/etc/passwd").finish();
    assert!(matches!(
        tar_error(absolute, 0),
        ExtractError::HardLinkEscapes { .. }
    ));
}

#[test]
fn rejects_hard_link_to_something_not_extracted() {
    let tar = TarBuilder::new().hard_link("link", "missing").finish();
    let err = tar_error(tar, 0);
    assert!(
        matches!(&err, ExtractError::HardLinkTarget { entry, target } if entry == "link" && target == "missing"),
        "{err}"
    );

    // A file in the stripped top level was never extracted.
    let stripped = TarBuilder::new()
        .file("top-file", b"x", 0o644)
        .hard_link("pkg/link", "top-file")
        .finish();
    assert!(matches!(
        tar_error(stripped, 1),
        ExtractError::HardLinkTarget { .. }
    ));

    // Symlinks and directories are not regular files.
    let to_symlink = TarBuilder::new()
        .file("a", b"a", 0o644)
        .symlink("s", "a")
        .hard_link("link", "s")
        .finish();
    assert!(matches!(
        tar_error(to_symlink, 0),
        ExtractError::HardLinkTarget { .. }
    ));
    let to_dir = TarBuilder::new().dir("d/").hard_link("link", "d").finish();
    assert!(matches!(
        tar_error(to_dir, 0),
        ExtractError::HardLinkTarget { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// Special files

#[test]
fn rejects_devices_and_fifos() {
    for (kind, word) in [
        (EntryType::Char, "character device"),
        (EntryType::Block, "block device"),
        (EntryType::Fifo, "FIFO (named pipe)"),
        (EntryType::new(b'V'), "special file"),
    ] {
        let tar = TarBuilder::new()
            .raw(b"dev/thing", kind, b"", b"", 0o644)
            .finish();
        let err = tar_error(tar, 0);
        assert!(
            matches!(&err, ExtractError::UnsupportedType { entry, kind } if entry == "dev/thing" && kind.starts_with(word)),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile zips

#[test]
fn rejects_zip_entries_leaving_the_tree() {
    let parent = zip(|w| zip_file(w, "../x", b"x", 0o644));
    let err = zip_error(parent);
    assert!(
        matches!(&err, ExtractError::ParentDir { entry } if entry == "../x"),
        "{err}"
    );

    let absolute = zip(|w| zip_file(w, "/x", b"x", 0o644));
    assert!(matches!(zip_error(absolute), ExtractError::AbsolutePath { .. }));

    let backslash = zip(|w| zip_file(w, "a\\..\\..\\x", b"x", 0o644));
    assert!(matches!(zip_error(backslash), ExtractError::ParentDir { .. }));

    let backslash_root = zip(|w| zip_file(w, "\\x", b"x", 0o644));
    assert!(matches!(
        zip_error(backslash_root),
        ExtractError::AbsolutePath { .. }
    ));
}

#[test]
fn rejects_zip_symlinks_leaving_the_tree() {
    let climbing = zip(|w| w.add_symlink("l", "../../x", zip_options(0o777)).unwrap());
    let err = zip_error(climbing);
    assert!(
        matches!(&err, ExtractError::SymlinkEscapes { entry, .. } if entry == "l"),
        "{err}"
    );

    let absolute = zip(|w| w.add_symlink("l", "/etc/passwd", zip_options(0o777)).unwrap());
    assert!(matches!(
        zip_error(absolute),
        ExtractError::SymlinkAbsolute { .. }
    ));

    let through = zip(|w| {
        w.add_symlink("l", ".", zip_options(0o777)).unwrap();
        zip_file(w, "l/file", b"x", 0o644);
    });
    assert!(matches!(zip_error(through), ExtractError::ThroughSymlink { .. }));
}

#[test]
fn rejects_zip_special_files() {
    let mut bytes = zip(|w| zip_file(w, "dev/null", b"", 0o644));
    patch_zip(&mut bytes, "dev/null", CENTRAL, 38, 0o020_644u32 << 16);
    let err = zip_error(bytes);
    assert!(
        matches!(&err, ExtractError::UnsupportedType { entry, kind } if entry == "dev/null" && kind == "character device"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bombs

fn assert_bomb(err: &ExtractError, limit: u64) {
    assert!(
        matches!(err, ExtractError::TooLarge { limit: l, .. } if *l == limit),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(&format!("more than {limit} bytes")), "{message}");
    assert!(message.contains("decompression bomb"), "{message}");
}

/// No file under `dest` is bigger than `limit`.
fn assert_written_at_most(fixture: &Fixture, limit: u64) {
    for path in fixture.listing() {
        let metadata = fs::symlink_metadata(fixture.path(&path)).unwrap();
        assert!(metadata.len() <= limit, "{path} is {} bytes", metadata.len());
    }
}

#[test]
fn rejects_zip_bomb() {
    let bytes = zip(|w| zip_file(w, "zeros", &vec![0; 10 * MIB as usize], 0o644));
    assert!(bytes.len() < 100_000);
    let fixture = Fixture::new("x.zip", &bytes);
    let err = fixture
        .extract_with(ArchiveFormat::Zip, options(0, MIB, "tool"))
        .unwrap_err();
    assert_bomb(&err, MIB);
    assert_written_at_most(&fixture, MIB);
    fixture.assert_contained();
}

#[test]
fn rejects_zip_bomb_whose_headers_lie_about_its_size() {
    let mut bytes = zip(|w| zip_file(w, "zeros", &vec![0; 10 * MIB as usize], 0o644));
    patch_zip(&mut bytes, "zeros", CENTRAL, 24, 1000);
    patch_zip(&mut bytes, "zeros", LOCAL, 22, 1000);
    let fixture = Fixture::new("x.zip", &bytes);
    let err = fixture
        .extract_with(ArchiveFormat::Zip, options(0, MIB, "tool"))
        .unwrap_err();
    // Either the zip crate stops at the claimed size (and the checksum fails) or it keeps going
    // and the byte count stops it; it must never write more than the limit.
    assert!(
        matches!(err, ExtractError::TooLarge { .. } | ExtractError::Corrupt { .. }),
        "{err}"
    );
    assert_written_at_most(&fixture, MIB);
    fixture.assert_contained();
}

#[test]
fn rejects_tar_bomb() {
    let tar = TarBuilder::new()
        .file("zeros", &vec![0; 10 * MIB as usize], 0o644)
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    let err = fixture
        .extract_with(ArchiveFormat::TarGz, options(0, MIB, "tool"))
        .unwrap_err();
    assert_bomb(&err, MIB);
    assert_written_at_most(&fixture, MIB);
    fixture.assert_contained();
}

#[test]
fn rejects_tar_of_many_files_that_add_up_past_the_limit() {
    let mut builder = TarBuilder::new();
    for i in 0..20 {
        builder = builder.file(&format!("f{i}"), &vec![1; 100_000], 0o644);
    }
    let fixture = Fixture::new("x.tar.zst", &zst(&builder.finish()));
    let err = fixture
        .extract_with(ArchiveFormat::TarZst, options(0, MIB, "tool"))
        .unwrap_err();
    assert_bomb(&err, MIB);
    let written: u64 = fixture
        .listing()
        .iter()
        .map(|p| fs::metadata(fixture.path(p)).unwrap().len())
        .sum();
    assert!(written <= MIB, "{written}");
}

#[test]
fn rejects_tar_bomb_hidden_in_a_stripped_entry() {
    let tar = TarBuilder::new()
        .file("top-level-zeros", &vec![0; 10 * MIB as usize], 0o644)
        .file("pkg/a", b"a", 0o644)
        .finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar));
    let err = fixture
        .extract_with(ArchiveFormat::TarGz, options(1, MIB, "tool"))
        .unwrap_err();
    assert_bomb(&err, MIB);
}

#[test]
fn rejects_a_gnu_long_name_larger_than_a_name_before_reading_it() {
    let name = vec![b'n'; 70 * MIB as usize];
    let tar = TarBuilder::new()
        .raw(b"././@LongLink", EntryType::GNULongName, b"", &name, 0o644)
        .file("a", b"a", 0o644)
        .finish();
    let fixture = Fixture::new("x.tar.zst", &zst(&tar));
    let err = fixture
        .extract_with(ArchiveFormat::TarZst, options(0, GENEROUS * 4, "tool"))
        .unwrap_err();
    assert!(
        matches!(err, ExtractError::RecordTooLarge { what: "GNU long name", declared, .. } if declared == 70 * MIB),
        "{err}"
    );
    fixture.assert_contained();
}

#[test]
fn rejects_single_file_bombs() {
    let zeros = vec![0; 10 * MIB as usize];
    let cases: [(ArchiveFormat, Vec<u8>); 4] = [
        (ArchiveFormat::Gz, gz(&zeros)),
        (ArchiveFormat::Xz, xz(&zeros)),
        (ArchiveFormat::Zst, zst(&zeros)),
        (ArchiveFormat::Raw, zeros.clone()),
    ];
    for (format, bytes) in cases {
        let fixture = Fixture::new("bomb", &bytes);
        let err = fixture.extract_with(format, options(0, MIB, "tool")).unwrap_err();
        assert_bomb(&err, MIB);
        assert!(err.to_string().contains("`tool`"), "{err}");
        assert_written_at_most(&fixture, MIB);
        fixture.assert_contained();
    }
}

#[test]
fn exactly_the_limit_is_allowed() {
    let data = vec![7; 1000];
    let fixture = Fixture::new("x.gz", &gz(&data));
    let summary = fixture
        .extract_with(ArchiveFormat::Gz, options(0, 1000, "tool"))
        .unwrap();
    assert_eq!(summary.bytes, 1000);
}

// ---------------------------------------------------------------------------------------------
// Bad input of other kinds

#[test]
fn rejects_bad_single_file_names() {
    for name in ["../x", "", ".", "..", "a/b", "a\\b", "/x", "nul\0"] {
        let fixture = Fixture::new("tool", b"raw");
        let err = fixture
            .extract_with(ArchiveFormat::Raw, options(0, GENEROUS, name))
            .unwrap_err();
        assert!(
            matches!(&err, ExtractError::BadFileName { name: n } if n == name),
            "{err}"
        );
        fixture.assert_contained();
        assert!(fixture.listing().is_empty());
    }
}

#[test]
fn rejects_a_destination_that_is_not_empty() {
    let fixture = Fixture::new("x.gz", &gz(b"x"));
    fs::write(fixture.path("already"), b"").unwrap();
    let err = fixture.extract(ArchiveFormat::Gz, 0).unwrap_err();
    assert!(matches!(err, ExtractError::Destination { .. }), "{err}");

    let missing = Fixture::new("x.gz", &gz(b"x"));
    fs::remove_dir(&missing.dest).unwrap();
    let err = missing.extract(ArchiveFormat::Gz, 0).unwrap_err();
    assert!(matches!(err, ExtractError::Destination { .. }), "{err}");
}

#[test]
fn reports_corrupt_archives() {
    let garbage = b"this is not an archive at all".repeat(40);
    for (format, name) in [
        (ArchiveFormat::TarGz, "x.tar.gz"),
        (ArchiveFormat::TarXz, "x.tar.xz"),
        (ArchiveFormat::TarZst, "x.tar.zst"),
        (ArchiveFormat::TarBz2, "x.tar.bz2"),
        (ArchiveFormat::Gz, "x.gz"),
        (ArchiveFormat::Xz, "x.xz"),
        (ArchiveFormat::Zst, "x.zst"),
    ] {
        let fixture = Fixture::new(name, &garbage);
        let err = fixture.extract(format, 0).unwrap_err();
        assert!(
            matches!(err, ExtractError::Corrupt { format: f, .. } if f == format),
            "{err}"
        );
        assert!(
            err.to_string().contains(&format!("is not a {format} file")),
            "{err}"
        );
        fixture.assert_contained();
    }
    let fixture = Fixture::new("x.zip", &garbage);
    let err = fixture.extract(ArchiveFormat::Zip, 0).unwrap_err();
    assert!(matches!(err, ExtractError::Zip { .. }), "{err}");

    // A tar cut off in the middle of a file's data.
    let tar = TarBuilder::new().file("a", &[1; 5000], 0o644).finish();
    let fixture = Fixture::new("x.tar.gz", &gz(&tar[..2000]));
    let err = fixture.extract(ArchiveFormat::TarGz, 0).unwrap_err();
    assert!(
        matches!(&err, ExtractError::Corrupt { entry: Some(e), .. } if e == "a"),
        "{err}"
    );
}

#[test]
fn reports_a_missing_archive() {
    let fixture = Fixture::new("x.gz", b"");
    fs::remove_file(&fixture.archive).unwrap();
    let err = fixture.extract(ArchiveFormat::Gz, 0).unwrap_err();
    assert!(matches!(err, ExtractError::Open { .. }), "{err}");
}

/// Flip bytes all over small valid archives: whatever comes out must be an `Ok` or an `Err`,
/// never a panic, and never a file outside `dest`.
#[test]
fn mangled_archives_never_panic_or_escape() {
    let tar = TarBuilder::new()
        .dir("pkg/")
        .file("pkg/bin/tool", b"tool", 0o755)
        .symlink("pkg/tool", "bin/tool")
        .hard_link("pkg/alias", "pkg/bin/tool")
        .long_file(&format!("pkg/{}", "l".repeat(150)), b"long")
        .finish();
    let zip_bytes = zip(|w| {
        zip_file(w, "pkg/bin/tool", b"tool", 0o755);
        w.add_symlink("pkg/tool", "bin/tool", zip_options(0o777)).unwrap();
    });
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let (format, mut bytes) = if round % 2 == 0 {
            (ArchiveFormat::TarGz, tar.clone())
        } else {
            (ArchiveFormat::Zip, zip_bytes.clone())
        };
        for _ in 0..(1 + next() % 4) {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        if format == ArchiveFormat::TarGz {
            bytes = gz(&bytes);
        }
        let fixture = Fixture::new("mangled", &bytes);
        let _ = fixture.extract_with(format, options((round % 3) as u32, MIB, "tool"));
        fixture.assert_contained();
    }
}

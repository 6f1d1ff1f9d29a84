//! Real archives for sync tests: built in memory, written into a test index's `artifacts/`.

use std::io::Write;

/// One file in an archive: path, content, executable.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub content: Vec<u8>,
    pub executable: bool,
}

/// A shell-script tool that prints `NAME VERSION` for `--version` and its arguments otherwise.
pub fn script(name: &str, version: &str) -> Vec<u8> {
    format!("#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{name} {version}'; exit 0; fi\necho \"{name}: $*\"\n").into_bytes()
}

pub fn file(path: &str, content: impl Into<Vec<u8>>) -> Entry {
    Entry {
        path: path.to_string(),
        content: content.into(),
        executable: false,
    }
}

pub fn executable(path: &str, content: impl Into<Vec<u8>>) -> Entry {
    Entry {
        path: path.to_string(),
        content: content.into(),
        executable: true,
    }
}

fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    tar_with_links(entries, &[])
}

/// A tar of `entries`, then symlinks (path, target).
pub fn tar_with_links(entries: &[Entry], links: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(entry.content.len() as u64);
        header.set_mode(if entry.executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, &entry.path, entry.content.as_slice())
            .expect("append to tar");
    }
    for (path, target) in links {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o777);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Symlink);
        builder
            .append_link(&mut header, path, target)
            .expect("append to tar");
    }
    builder.into_inner().expect("finish tar")
}

pub fn tar_gz(entries: &[Entry]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&tar_bytes(entries)).unwrap();
    encoder.finish().unwrap()
}

pub fn tar_xz(entries: &[Entry]) -> Vec<u8> {
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(&tar_bytes(entries)).unwrap();
    encoder.finish().unwrap()
}

pub fn tar_zst(entries: &[Entry]) -> Vec<u8> {
    zstd::stream::encode_all(tar_bytes(entries).as_slice(), 1).unwrap()
}

pub fn tar_bz2(entries: &[Entry]) -> Vec<u8> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    encoder.write_all(&tar_bytes(entries)).unwrap();
    encoder.finish().unwrap()
}

pub fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for entry in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(if entry.executable { 0o755 } else { 0o644 });
        writer.start_file(entry.path.as_str(), options).unwrap();
        writer.write_all(&entry.content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

pub fn gz(content: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(content).unwrap();
    encoder.finish().unwrap()
}

pub fn xz(content: &[u8]) -> Vec<u8> {
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(content).unwrap();
    encoder.finish().unwrap()
}

pub fn zst(content: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(content, 1).unwrap()
}

/// A tar with one raw header, for entries `tar::Builder` refuses to write (`..`, absolute
/// paths, devices): `kind` is the tar type flag, `link` the link target.
pub fn hostile_tar_gz(path: &str, kind: tar::EntryType, link: Option<&str>, content: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    {
        let old = header.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
    }
    header.set_size(content.len() as u64);
    header.set_mode(0o755);
    header.set_entry_type(kind);
    header.set_cksum();
    let mut tar = header.as_bytes().to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    gz(&tar)
}

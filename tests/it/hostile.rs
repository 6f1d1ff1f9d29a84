//! Hostile input that reaches the CLI: archives whose names would drive the terminal or whose
//! extension records would exhaust memory, and a `VELO_CACHE_DIR` that is not velo's.

use std::os::unix::fs::symlink;
use std::path::Path;

use serde_json::json;

use crate::common::archive;
use crate::common::disk;
use crate::common::{assert_contains, assert_success, TestContext};

/// velo's own `CACHEDIR.TAG`, as a cache it created has it.
const VELO_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by velo.\n";

/// A home directory with a dotfile and a repository in it.
fn fake_home(dir: &Path) {
    fs_err::create_dir_all(dir.join("projects/app/.git")).unwrap();
    fs_err::write(dir.join(".bashrc"), "export A=1\n").unwrap();
    fs_err::write(dir.join("projects/app/.git/config"), "[core]\n").unwrap();
    fs_err::write(dir.join("projects/app/main.rs"), "fn main() {}\n").unwrap();
}

#[test]
fn cache_clean_and_prune_refuse_a_directory_that_is_not_velos() {
    let context = TestContext::new();
    let home = context.base().join("someone");
    fake_home(&home);
    // Named like velo's buckets, too: without the tag, nothing is velo's.
    fs_err::create_dir_all(home.join("downloads-v1")).unwrap();
    fs_err::write(home.join("downloads-v1/thesis.pdf"), "years of work").unwrap();
    let before = disk::tree(&home, &[]);
    let context = context.with_env("VELO_CACHE_DIR", &home.display().to_string());

    let clean = context.snapshot(["cache", "clean"]);
    insta::assert_snapshot!(clean);
    let prune = context.run(["cache", "prune", "--max-size", "0"]);
    assert_eq!(prune.status.code(), Some(2), "{}", context.render(&prune));
    assert_eq!(disk::tree(&home, &[]), before);
}

#[test]
fn cache_clean_removes_only_velos_buckets_and_never_follows_a_bucket_link() {
    let context = TestContext::new();
    let victim = context.base().join("victim");
    fake_home(&victim);
    let victim_before = disk::tree(&victim, &[]);
    let cache = &context.cache_dir;
    fs_err::write(cache.join("CACHEDIR.TAG"), VELO_TAG).unwrap();
    symlink(&victim, cache.join("downloads-v1")).unwrap();
    symlink(&victim, cache.join("trees-v1")).unwrap();
    fs_err::create_dir_all(cache.join("tasks-v1/ab")).unwrap();
    fs_err::write(cache.join("tasks-v1/ab/result"), "cached").unwrap();
    fs_err::write(cache.join("notes.txt"), "mine").unwrap();

    // Prune does not reach through the links either.
    assert_success(&context.run(["cache", "prune", "--max-size", "0"]));
    assert_eq!(disk::tree(&victim, &[]), victim_before);

    let output = context.run(["cache", "clean"]);
    assert_success(&output);
    assert_contains(&context.render(&output), "left 1 entries");
    assert_eq!(disk::tree(&victim, &[]), victim_before);
    let left: Vec<_> = disk::tree(cache, &[]).into_keys().collect();
    assert_eq!(left, ["CACHEDIR.TAG", "notes.txt"]);
}

/// `velo sync` of one package `evil` whose artifact is `bytes`; the rendered output.
fn sync_artifact(file: &str, bytes: &[u8]) -> String {
    let context = TestContext::new()
        .with_filter("[0-9a-f]{64}", "[SHA256]")
        .with_filter(r"\(\d+(\.\d+)? (B|KiB|MiB)\)", "([SIZE])");
    let mut index = context.index();
    index.add_archive("evil", "6.6.6", file, bytes, json!({}));
    index.write();
    let manifest = json!({ "name": "demo", "registry": "../index", "dependencies": { "evil": "*" } });
    context.write_manifest(&serde_json::to_string_pretty(&manifest).unwrap());
    let output = context.run(["sync"]);
    assert!(!output.status.success(), "{}", context.render(&output));
    assert!(!context.root.join(".velo/Cellar/evil").exists());
    context.render(&output)
}

#[test]
fn an_archive_name_carrying_terminal_escapes_is_printed_escaped() {
    let bytes = archive::hostile_tar_gz("bin/\x1b[2J\x1b]0;pwned\x07\r", tar::EntryType::Fifo, None, b"");
    let output = sync_artifact("evil.tar.gz", &bytes);
    assert!(!output.contains('\x1b') && !output.contains('\r'), "{output:?}");
    assert_contains(&output, "`bin/\\e[2J\\e]0;pwned\\u{7}\\r`");
    insta::assert_snapshot!(output);
}

/// The review's reproduction: a few KB of tar whose GNU long name record declares 256 MiB.
#[test]
fn a_tar_whose_long_name_record_declares_256_mib_is_refused() {
    let mut header = tar::Header::new_gnu();
    header.set_path("././@LongLink").unwrap();
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_size(256 << 20);
    header.set_cksum();
    let mut tar = header.as_bytes().to_vec();
    tar.extend(vec![b'n'; 8192]);
    let output = sync_artifact("evil.tar.gz", &archive::gz(&tar));
    assert_contains(&output, "its GNU long name record declares 268435456 bytes");
    assert!(output.len() < 4096, "{} bytes of output", output.len());
    insta::assert_snapshot!(output);
}

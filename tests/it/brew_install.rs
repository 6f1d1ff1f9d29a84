//! Pouring Homebrew bottles on Linux: real ELF programs and libraries built at test time, with
//! Homebrew's placeholder loader and RPATHs, installed by `velo sync` from a hand-written lock
//! and run from `.velo/bin`; text placeholders, keg-only formulae, `.bottle/etc`,
//! `post_install`, a pinned bottle in the shared prefix, two projects sharing the store, a
//! host glibc too old, long shebangs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::common::archive::{executable, file, Entry};
use crate::common::bottle::{self, Compiler, Locked};
use crate::common::{assert_contains, assert_success, stderr, TestContext};

const GREET: &str = r#"#include <stdio.h>
void greet(const char *who) { printf("hello, %s, from libgreet\n", who); }
"#;

const HELLO: &str = r#"void greet(const char *who);
int main(int argc, char **argv) { greet(argc > 1 ? argv[1] : "world"); return 0; }
"#;

/// `libgreet` (a library) and `hello` (a program using it through `opt/libgreet/lib`, a second
/// one through `lib/`, and a script with placeholders), plus a keg-only tool.
fn hello_bottles(context: &TestContext) -> Vec<Locked> {
    let cc = Compiler::new(&context.base().join("build"));
    let libgreet = cc.library("greet", GREET);
    let hello = cc.program(
        "hello",
        HELLO,
        &["greet"],
        Some("@@HOMEBREW_PREFIX@@/opt/libgreet/lib"),
    );
    let hi = cc.program("hi", HELLO, &["greet"], Some("@@HOMEBREW_PREFIX@@/lib"));
    let lib = Locked::new(
        "libgreet",
        "1.0.0",
        bottle::bottle("libgreet", "1.0.0", vec![file("lib/libgreet.so", libgreet)]),
    );
    let config = "#!/bin/sh\necho \"prefix=@@HOMEBREW_PREFIX@@ cellar=@@HOMEBREW_CELLAR@@\"\n";
    let mut program = Locked::new(
        "hello",
        "2.0.1",
        bottle::bottle(
            "hello",
            "2.0.1",
            vec![
                executable("bin/hello", hello),
                executable("bin/hi", hi),
                executable("bin/hello-config", config),
                file(".bottle/etc/hello.conf", "greeting=hi\n"),
            ],
        ),
    );
    program.dependencies = vec!["libgreet"];
    program.post_install = true;
    let mut keg_only = Locked::new(
        "kegtool",
        "0.1.0",
        bottle::bottle(
            "kegtool",
            "0.1.0",
            vec![executable("bin/kegtool", "#!/bin/sh\necho kegtool\n")],
        ),
    );
    keg_only.keg_only = true;
    vec![lib, program, keg_only]
}

fn write_project(root: &Path, bottles: &[Locked], direct: &[&str], artifacts: &Path) {
    fs_err::create_dir_all(root).unwrap();
    let dependencies: BTreeMap<&str, &str> = direct.iter().map(|name| (*name, "*")).collect();
    let manifest = serde_json::json!({ "dependencies": dependencies });
    fs_err::write(
        root.join("velo.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    fs_err::write(
        root.join("velo.lock"),
        bottle::lock(root, artifacts, bottles, direct),
    )
    .unwrap();
}

fn run_program(path: &Path, args: &[&str]) -> String {
    let output = Command::new(path)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("run `{}`: {err}", path.display()));
    assert!(
        output.status.success(),
        "`{}` failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Every regular file under `dir` and its digest.
fn digests(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs_err::read_dir(&dir).unwrap().flatten() {
            let metadata = std::fs::symlink_metadata(entry.path()).unwrap();
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() {
                let bytes = fs_err::read(entry.path()).unwrap();
                out.insert(entry.path(), hex::encode(Sha256::digest(bytes)));
            }
        }
    }
    out
}

#[test]
fn bottles_run_from_velo_bin_and_find_their_libraries() {
    if !bottle::tools_available() {
        return;
    }
    // Downloads finish in any order, and compilers make files of different sizes.
    let context = TestContext::new().with_filter(r"(?m)^  Downloaded .*\n", "");
    let bottles = hello_bottles(&context);
    let artifacts = context.base().join("bottles");
    write_project(&context.root, &bottles, &["hello", "kegtool"], &artifacts);
    insta::assert_snapshot!(context.snapshot(["sync", "--frozen"]), @r"
    exit_code: 0
    ----- stdout -----

    ----- stderr -----
    warning: `hello` has a post-install step velo does not run; it may need setting up by hand
       Installed 3 of 3 packages in [TIME]
    ");

    assert_contains(
        &stderr(&context.run(["sync", "--frozen"])),
        "Checked `.velo` is up to date",
    );
    let velo = context.root.join(".velo");
    assert_eq!(
        run_program(&velo.join("bin/hello"), &["velo"]),
        "hello, velo, from libgreet\n"
    );
    // Through `.velo/lib`, where linked kegs' libraries are.
    assert_eq!(
        run_program(&velo.join("bin/hi"), &[]),
        "hello, world, from libgreet\n"
    );
    let root = context.root.display().to_string();
    assert_eq!(
        run_program(&velo.join("bin/hello-config"), &[]),
        format!("prefix={root}/.velo cellar={root}/.velo/Cellar\n")
    );
    // Keg-only: in `opt/`, not in `bin/`.
    assert!(!velo.join("bin/kegtool").exists());
    assert_eq!(
        run_program(&velo.join("opt/kegtool/bin/kegtool"), &[]),
        "kegtool\n"
    );
    assert_eq!(
        fs_err::read_to_string(velo.join("etc/hello.conf")).unwrap(),
        "greeting=hi\n"
    );
    assert_eq!(
        fs_err::read_link(velo.join("lib/libgreet.so")).unwrap(),
        Path::new("../../Cellar/libgreet/1.0.0/lib/libgreet.so")
    );

    // A second project elsewhere, from the same store: both work, the store is unchanged.
    let store_before = digests(&context.cache_dir);
    assert!(
        store_before.values().count() > 0
            && store_before.keys().any(|path| path.ends_with("bin/hello")
                && fs_err::read(path)
                    .unwrap()
                    .windows(bottle::LOADER.len())
                    .any(|w| w == bottle::LOADER.as_bytes())),
        "the store keeps the bottle's own `bin/hello`"
    );
    let other = context.base().join("elsewhere/deeper/project-two");
    write_project(&other, &bottles, &["hello"], &artifacts);
    let output = context
        .velo()
        .current_dir(&other)
        .args(["sync", "--frozen"])
        .output()
        .unwrap();
    assert_success(&output);
    assert_eq!(
        run_program(&other.join(".velo/bin/hello"), &["two"]),
        "hello, two, from libgreet\n"
    );
    assert_eq!(
        run_program(&velo.join("bin/hello"), &["one"]),
        "hello, one, from libgreet\n"
    );
    let store_after = digests(&context.cache_dir);
    for (path, digest) in &store_before {
        assert_eq!(
            store_after.get(path),
            Some(digest),
            "`{}` changed",
            path.display()
        );
    }
}

#[test]
fn a_pinned_bottle_finds_its_compiled_in_path_in_the_shared_prefix() {
    if !bottle::tools_available() {
        return;
    }
    let context = TestContext::new();
    // Short enough for Homebrew's 26-character prefix.
    let shared = context.base().join("b");
    let context = context.with_env("VELO_HOMEBREW_PREFIX", &shared.display().to_string());
    let cc = Compiler::new(&context.base().join("build"));
    let source = r#"#include <stdio.h>
int main(void) {
    const char *path = "/home/linuxbrew/.linuxbrew/etc/pinned/message";
    FILE *f = fopen(path, "r");
    if (!f) { printf("cannot open %s\n", path); return 1; }
    char line[200];
    if (fgets(line, sizeof line, f)) printf("%s", line);
    return 0;
}
"#;
    let program = cc.program("pinned", source, &[], None);
    let mut pinned = Locked::new(
        "pinned",
        "3.3.2",
        bottle::bottle(
            "pinned",
            "3.3.2",
            vec![
                executable("bin/pinned", program),
                file(".bottle/etc/pinned/message", "read from the shared prefix\n"),
            ],
        ),
    );
    pinned.cellar = "/home/linuxbrew/.linuxbrew/Cellar";
    let artifacts = context.base().join("bottles");
    write_project(&context.root, &[pinned], &["pinned"], &artifacts);
    assert_success(&context.run(["sync", "--frozen"]));
    assert_contains(
        &stderr(&context.run(["sync", "--frozen"])),
        "Checked `.velo` is up to date",
    );
    let velo = context.root.join(".velo");
    assert_eq!(
        run_program(&velo.join("bin/pinned"), &[]),
        "read from the shared prefix\n"
    );
    assert_eq!(
        fs_err::read_link(velo.join("Cellar/pinned/3.3.2")).unwrap(),
        shared.join("Cellar/pinned/3.3.2")
    );

    // A prefix longer than Homebrew's cannot hold the replaced strings: a clear error.
    let long = context.base().join("a-prefix-much-longer-than-homebrews");
    let other = context.base().join("other");
    let bottles = vec![{
        let mut pinned = Locked::new(
            "pinned",
            "3.3.2",
            fs_err::read(artifacts.join("pinned-3.3.2.bottle.tar.gz")).unwrap(),
        );
        pinned.cellar = "/home/linuxbrew/.linuxbrew/Cellar";
        pinned
    }];
    write_project(&other, &bottles, &["pinned"], &artifacts);
    let output = context
        .velo()
        .current_dir(&other)
        .env("VELO_HOMEBREW_PREFIX", &long)
        .args(["sync", "--frozen"])
        .output()
        .unwrap();
    insta::assert_snapshot!(context.render(&output), @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `pinned` is a pinned bottle built for `/home/linuxbrew/.linuxbrew`, and its compiled-in paths can only be replaced by one no longer than that; `[TEMP]/a-prefix-much-longer-than-homebrews` is longer
    hint: set `VELO_HOMEBREW_PREFIX` to a shorter directory (at most 26 characters), for example `~/.vb`
    ");
    assert!(!other.join(".velo/bin").exists());
}

#[test]
fn a_host_glibc_older_than_a_bottle_needs_is_an_error_before_anything_is_installed() {
    if !bottle::tools_available() {
        return;
    }
    let context = TestContext::new().with_filter(r"(?m)^  Downloaded .*\n", "");
    let bottles = hello_bottles(&context);
    let artifacts = context.base().join("bottles");
    write_project(&context.root, &bottles, &["hello"], &artifacts);
    assert_success(&context.run(["sync", "--frozen"]));

    // `GLIBC_2.x` in the version needs becomes `GLIBC_9.x`: same length, far newer.
    let cc = Compiler::new(&context.base().join("build-new"));
    let mut program = cc.program(
        "future",
        "#include <stdio.h>\nint main(void) { puts(\"x\"); return 0; }\n",
        &[],
        None,
    );
    let needle = b"GLIBC_2.";
    let mut count = 0;
    for at in 0..program.len() - needle.len() {
        if &program[at..at + needle.len()] == needle {
            program[at + 6] = b'9';
            count += 1;
        }
    }
    assert!(count > 0, "the program names a glibc version");
    let mut all = hello_bottles(&context);
    all.push(Locked::new(
        "future",
        "1.0.0",
        bottle::bottle("future", "1.0.0", vec![executable("bin/future", program)]),
    ));
    write_project(&context.root, &all, &["hello", "future"], &artifacts);
    let output = context.run(["sync", "--frozen"]);
    let rendered = context.render(&output);
    let rendered = regex::Regex::new(r"glibc 2\.\d+")
        .unwrap()
        .replace_all(&rendered, "glibc [HOST]")
        .into_owned();
    let rendered = regex::Regex::new(r"glibc 9\.\d+")
        .unwrap()
        .replace_all(&rendered, "glibc 9.[N]")
        .into_owned();
    let rendered = regex::Regex::new(r"`GLIBC_9\.[\d.]+`")
        .unwrap()
        .replace_all(&rendered, "`GLIBC_9.[N]`")
        .into_owned();
    insta::assert_snapshot!(rendered, @r"
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: `future` needs glibc 9.[N] (`bin/future`), but this machine has glibc [HOST]
    hint: use a newer Linux distribution, or install `future` another way
    ");
    let velo = context.root.join(".velo");
    assert!(!velo.join("Cellar/future").exists());
    assert_eq!(
        run_program(&velo.join("bin/hello"), &[]),
        "hello, world, from libgreet\n"
    );
}

#[test]
fn a_shebang_growing_past_the_kernel_limit_uses_env() {
    if !bottle::tools_available() {
        return;
    }
    let context = TestContext::new();
    let deep = "d".repeat(100);
    let script = format!("#!@@HOMEBREW_PREFIX@@/opt/longtool/libexec/{deep}/sh\necho long ok\n");
    let entries: Vec<Entry> = vec![
        executable("bin/longtool", script),
        executable(&format!("libexec/{deep}/sh"), "#!/bin/sh\nexec /bin/sh \"$@\"\n"),
    ];
    let bottles = vec![Locked::new(
        "longtool",
        "1.0.0",
        bottle::bottle("longtool", "1.0.0", entries),
    )];
    write_project(
        &context.root,
        &bottles,
        &["longtool"],
        &context.base().join("bottles"),
    );
    assert_success(&context.run(["sync", "--frozen"]));
    let tool = context.root.join(".velo/bin/longtool");
    let text = fs_err::read_to_string(&tool).unwrap();
    assert_eq!(text, "#!/usr/bin/env sh\necho long ok\n");
    assert_eq!(run_program(&tool, &[]), "long ok\n");
}

#[test]
fn certificates_for_ca_certificates_and_openssl_and_a_committed_etc_link_is_not_followed() {
    let context = TestContext::new();
    // The repository committed `.velo/etc` as a link out of the project.
    let outside = context.base().join("outside");
    fs_err::create_dir_all(&outside).unwrap();
    fs_err::create_dir_all(context.root.join(".velo")).unwrap();
    std::os::unix::fs::symlink(&outside, context.root.join(".velo/etc")).unwrap();

    let bundle = "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n";
    let mut ca = Locked::new(
        "ca-certificates",
        "2024.11.26",
        bottle::bottle(
            "ca-certificates",
            "2024.11.26",
            vec![
                file("share/ca-certificates/cacert.pem", bundle),
                file(".bottle/etc/ca.conf", "x\n"),
            ],
        ),
    );
    ca.post_install = true;
    let mut openssl = Locked::new(
        "openssl@3",
        "3.4.0",
        bottle::bottle(
            "openssl@3",
            "3.4.0",
            vec![file(".bottle/etc/openssl@3/openssl.cnf", "# cnf\n")],
        ),
    );
    openssl.post_install = true;
    openssl.keg_only = true;
    openssl.dependencies = vec!["ca-certificates"];
    write_project(
        &context.root,
        &[ca, openssl],
        &["openssl@3"],
        &context.base().join("bottles"),
    );
    let output = context.run(["sync", "--frozen"]);
    assert_success(&output);
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));

    let etc = context.root.join(".velo/etc");
    assert!(
        std::fs::symlink_metadata(&etc).unwrap().is_dir(),
        "`.velo/etc` is velo's directory"
    );
    assert_eq!(
        fs_err::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the link"
    );
    let cert = fs_err::read_to_string(etc.join("ca-certificates/cert.pem")).unwrap();
    // The host's bundle when it has one, as Homebrew does on Linux; else the keg's.
    assert!(cert.contains("BEGIN CERTIFICATE"));
    assert_eq!(
        fs_err::read_link(etc.join("openssl@3/cert.pem")).unwrap(),
        etc.join("ca-certificates/cert.pem")
    );
    assert_eq!(
        fs_err::read_to_string(etc.join("openssl@3/openssl.cnf")).unwrap(),
        "# cnf\n"
    );
}

//! A `.velo/` that came with the repository, and locks that name hostile paths: `velo sync`
//! repairs what it does not recognise, follows no link it did not make, trusts no state it did
//! not seal, and changes nothing outside the project and the cache.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::archive::{self, executable, script};
use crate::common::disk;
use crate::common::{assert_contains, assert_success, stderr, TestContext};
use crate::sync::{
    add_tool, any_version, current_target, local_project, manifest, names_in, run_tool, velo_dir, LOCAL,
};

/// Something a repository can commit at one of velo's paths.
#[derive(Debug, Clone)]
enum Plant {
    Link(String),
    File,
    Dir,
}

/// A directory beside the project, as the user's other repositories are: whatever a sync of
/// the project does, it must stay as it is.
fn make_sentinel(context: &TestContext) -> PathBuf {
    let sentinel = context.base().join("sentinel");
    fs_err::create_dir_all(sentinel.join("other-repo/.git")).unwrap();
    fs_err::write(sentinel.join("other-repo/.git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs_err::write(sentinel.join("other-repo/main.rs"), "fn main() {}\n").unwrap();
    fs_err::write(sentinel.join("data.txt"), "precious\n").unwrap();
    fs_err::create_dir_all(sentinel.join("velo/Cellar/alpha/1.0.0/bin")).unwrap();
    fs_err::write(
        sentinel.join("velo/Cellar/alpha/1.0.0/bin/alpha"),
        "#!/bin/sh\necho evil\n",
    )
    .unwrap();
    sentinel
}

/// Everything outside the project and the cache that a test can see.
fn outside(context: &TestContext) -> disk::Tree {
    let mut all = disk::tree(&context.base(), &[]);
    all.retain(|path, _| {
        !["project", "cache"]
            .iter()
            .any(|skip| path == skip || path.starts_with(&format!("{skip}/")))
    });
    all
}

fn plant(root: &Path, path: &str, what: &Plant) {
    let path = root.join(path);
    if std::fs::symlink_metadata(&path).is_ok() || !path.parent().unwrap().is_dir() {
        return;
    }
    match what {
        Plant::Link(target) => symlink(target, &path).unwrap(),
        Plant::File => fs_err::write(&path, "planted\n").unwrap(),
        Plant::Dir => fs_err::create_dir(&path).unwrap(),
    }
}

/// A project that wants `alpha` from the local index, a sentinel beside it, and `plants`
/// committed in it (parents made as real directories).
fn project_with(plants: &[(&str, Plant)]) -> TestContext {
    let context = local_project(&["alpha"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    make_sentinel(&context);
    for (path, what) in plants {
        if let Some(parent) = Path::new(path).parent() {
            let parent = context.root.join(parent);
            if std::fs::symlink_metadata(&parent).is_err() {
                fs_err::create_dir_all(parent).unwrap();
            }
        }
        plant(&context.root, path, what);
    }
    context
}

fn link(target: &str) -> Plant {
    Plant::Link(target.to_string())
}

/// Sync, and check that it worked and that `.velo` holds velo's own links.
fn assert_synced_safely(context: &TestContext, before: &disk::Tree) {
    let output = context.run(["sync"]);
    assert_success(&output);
    assert_eq!(&outside(context), before, "something outside the project changed");
    assert_eq!(run_tool(context, "alpha", &["--version"]), "alpha 1.0.0\n");
    let velo = velo_dir(context);
    assert!(!velo.is_symlink());
    for (name, target) in [("bin", "current/bin"), ("opt", "current/opt")] {
        assert_eq!(fs_err::read_link(velo.join(name)).unwrap(), Path::new(target));
    }
    assert!(current_target(context).to_string_lossy().starts_with("gen-"));
    let cellar = velo.join("Cellar");
    assert_eq!(names_in(&cellar), ["alpha".to_string()].into());
    assert!(!cellar.join("alpha").is_symlink() && !cellar.join("alpha/1.0.0").is_symlink());
}

#[test]
fn cellar_links_out_of_the_project_delete_and_write_nothing() {
    // `x` leads to the directory holding the project and its siblings; `alpha` (a package the
    // sync installs) and `beta/1.0.0` lead into the sentinel.
    let context = project_with(&[
        (".velo/Cellar/x", link("../../..")),
        (".velo/Cellar/alpha", link("../../../sentinel/velo/Cellar/alpha")),
        (".velo/Cellar/beta/1.0.0", link("../../../../sentinel/other-repo")),
    ]);
    let before = outside(&context);
    assert!(before.contains_key("sentinel/other-repo/.git/HEAD"));
    assert_synced_safely(&context, &before);
    assert_eq!(
        fs_err::read_to_string(context.base().join("sentinel/velo/Cellar/alpha/1.0.0/bin/alpha")).unwrap(),
        "#!/bin/sh\necho evil\n"
    );
}

#[test]
fn a_sync_lock_link_creates_and_changes_nothing_outside() {
    for target in [
        "../../sentinel/created-by-velo",
        "../../sentinel/data.txt",
        "../../sentinel",
    ] {
        let context = project_with(&[(".velo/sync.lock", link(target))]);
        let before = outside(&context);
        assert_synced_safely(&context, &before);
        assert!(!context.base().join("sentinel/created-by-velo").exists());
        let lock = fs_err::symlink_metadata(velo_dir(&context).join("sync.lock")).unwrap();
        assert!(lock.is_file(), "{target}");
    }
}

#[test]
fn a_velo_link_or_file_is_replaced_by_a_real_directory() {
    for what in [link("../sentinel/velo"), link("/"), Plant::File] {
        let context = project_with(&[(".velo", what.clone())]);
        let before = outside(&context);
        assert_synced_safely(&context, &before);
        assert!(velo_dir(&context).is_dir(), "{what:?}");
    }
}

#[test]
fn state_current_bin_and_opt_links_are_replaced() {
    let context = project_with(&[
        (".velo/state.json", link("../../sentinel/data.txt")),
        (".velo/current", link("../../sentinel")),
        (".velo/bin", link("../../sentinel/velo/Cellar/alpha/1.0.0/bin")),
        (".velo/opt", link("/")),
        (".velo/gen-1", link("../../sentinel/other-repo")),
        (".velo/.tmp-1", link("../../sentinel/other-repo")),
    ]);
    let before = outside(&context);
    assert_synced_safely(&context, &before);
    let state = fs_err::symlink_metadata(velo_dir(&context).join("state.json")).unwrap();
    assert!(state.is_file());

    // The same links planted in a project velo already synced.
    for (name, target) in [("bin", "../../sentinel"), ("current", "../../sentinel")] {
        let path = velo_dir(&context).join(name);
        fs_err::remove_file(&path).unwrap();
        symlink(target, &path).unwrap();
        assert_synced_safely(&context, &before);
    }
}

#[test]
fn real_directories_at_velos_link_names_are_replaced() {
    let context = project_with(&[
        (".velo/current/bin/alpha", Plant::File),
        (".velo/bin/alpha", Plant::File),
        (".velo/opt/alpha", Plant::Dir),
        (".velo/sync.lock/x", Plant::File),
        (".velo/state.json/x", Plant::File),
    ]);
    let before = outside(&context);
    assert_synced_safely(&context, &before);
}

/// Copy `from` to `to` as `cp -a` does, links as links.
fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

/// A clone of `author`'s project on another machine (its own cache): the manifest, the lock
/// and the author's `.velo/` as the repository committed them.
fn clone_of(author: &TestContext) -> TestContext {
    let clone = local_project(&["alpha"]);
    for file in ["velo.json", "velo.lock"] {
        fs_err::copy(author.root.join(file), clone.root.join(file)).unwrap();
    }
    copy_tree(&velo_dir(author), &clone.root);
    clone
}

#[test]
fn a_committed_state_that_lies_does_not_skip_installing() {
    // Where the repository's author synced, with their own cache.
    let author = project_with(&[]);
    assert_success(&author.run(["sync"]));

    // A clone on another machine: the author's `.velo/` committed, its state rewritten for
    // the clone's path, and the tool in the Cellar swapped for the repository's own script.
    let clone = clone_of(&author);
    let state_path = velo_dir(&clone).join("state.json");
    let mut state: Value = serde_json::from_str(&fs_err::read_to_string(&state_path).unwrap()).unwrap();
    state["root"] = json!(clone.root.display().to_string());
    fs_err::write(&state_path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let tool = velo_dir(&clone).join("Cellar/alpha/1.0.0/bin/alpha");
    fs_err::remove_file(&tool).unwrap();
    fs_err::write(&tool, "#!/bin/sh\necho 'the repository ran'\n").unwrap();
    fs_err::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();

    let output = clone.run(["sync"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Installed 1 of 1 package");
    assert_eq!(run_tool(&clone, "alpha", &["--version"]), "alpha 1.0.0\n");
    let output = clone.run(["exec", "--", "alpha", "--version"]);
    assert_success(&output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "alpha 1.0.0\n");
    // And the author's own project was left alone.
    assert_eq!(run_tool(&author, "alpha", &["--version"]), "alpha 1.0.0\n");
}

#[test]
fn before_a_sync_an_unsealed_state_provides_no_commands() {
    let author = project_with(&[]);
    assert_success(&author.run(["sync"]));
    let clone = clone_of(&author);
    let output = clone.run(["which", "alpha"]);
    assert_eq!(output.status.code(), Some(1), "{}", clone.render(&output));
    assert_contains(&stderr(&output), "run `velo sync`");
}

#[test]
fn a_committed_velo_bin_never_reaches_path() {
    let author = project_with(&[]);
    assert_success(&author.run(["sync"]));
    let clone = clone_of(&author);
    let bin = velo_dir(&clone).join("bin").display().to_string();
    let path_of = |output: &Output| -> String {
        let env: BTreeMap<String, String> = serde_json::from_slice(&output.stdout).unwrap();
        env["PATH"].clone()
    };
    let committed = clone.run(["env", "--json"]);
    assert_success(&committed);
    assert!(
        !path_of(&committed).split(':').any(|dir| dir == bin),
        "{}",
        path_of(&committed)
    );
    // Once this velo has synced, `.velo/bin` is its own and goes first.
    assert_success(&clone.run(["sync"]));
    let synced = clone.run(["env", "--json"]);
    assert_eq!(path_of(&synced).split(':').next(), Some(bin.as_str()));
}

/// A `velo.lock` for the packages (key, artifact file in `<temp>/artifacts`, artifact bytes,
/// extra artifact fields), with a matching `velo.json`; install it with `sync --frozen`.
fn write_lock(context: &TestContext, packages: &[(&str, &str, Vec<u8>, Value)]) {
    let artifacts = context.base().join("artifacts");
    fs_err::create_dir_all(&artifacts).unwrap();
    let mut locked = serde_json::Map::new();
    let mut dependencies = serde_json::Map::new();
    for (key, file, bytes, extra) in packages {
        fs_err::write(artifacts.join(file), bytes).unwrap();
        let mut artifact = json!({
            "url": format!("../artifacts/{file}"),
            "sha256": hex::encode(Sha256::digest(bytes)),
            "size": bytes.len(),
        });
        for (field, value) in extra.as_object().unwrap() {
            artifact[field] = value.clone();
        }
        locked.insert(
            key.to_string(),
            json!({ "version": "1.0.0", "source": "test", "artifacts": { "linux-x86_64": artifact } }),
        );
        dependencies.insert(key.to_string(), json!({ "version": "*" }));
    }
    let lock = json!({
        "version": 1,
        "manifest": { "platforms": ["linux-x86_64"], "dependencies": dependencies },
        "packages": locked,
    });
    fs_err::write(
        context.lock_path(),
        serde_json::to_string_pretty(&lock).unwrap() + "\n",
    )
    .unwrap();
    let manifest = json!({ "platforms": ["linux-x86_64"], "dependencies": dependencies
        .keys()
        .map(|key| (key.clone(), json!("*")))
        .collect::<serde_json::Map<_, _>>() });
    context.write_manifest(&serde_json::to_string_pretty(&manifest).unwrap());
}

fn tool_archive(command: &str, says: &str) -> Vec<u8> {
    archive::tar_gz(&[executable(&format!("bin/{command}"), script(says, "1.0.0"))])
}

#[test]
fn an_index_name_and_a_forge_key_get_different_cellar_dirs() {
    let context = TestContext::new();
    write_lock(
        &context,
        &[
            (
                "github-foo+bar",
                "index.tar.gz",
                tool_archive("from-index", "index"),
                json!({}),
            ),
            (
                "github:foo/bar",
                "forge.tar.gz",
                tool_archive("from-forge", "forge"),
                json!({}),
            ),
            (
                "github:Foo/bar",
                "upper.tar.gz",
                tool_archive("from-upper", "upper"),
                json!({}),
            ),
        ],
    );
    let output = context.run(["sync", "--frozen"]);
    assert_success(&output);
    assert_eq!(run_tool(&context, "from-index", &["--version"]), "index 1.0.0\n");
    assert_eq!(run_tool(&context, "from-forge", &["--version"]), "forge 1.0.0\n");
    assert_eq!(run_tool(&context, "from-upper", &["--version"]), "upper 1.0.0\n");
    assert_eq!(
        names_in(&velo_dir(&context).join("Cellar")),
        ["_github+^foo+bar", "_github+foo+bar", "github-foo+bar"]
            .map(String::from)
            .into()
    );
    let output = context.run(["list", "--json"]);
    assert_success(&output);
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["github-foo+bar", "github:Foo/bar", "github:foo/bar"]);
}

#[test]
fn manifest_bin_targets_outside_the_package_are_refused() {
    let context = local_project(&["kit"]);
    for target in ["/bin/rm", "../../usr/bin/id", "bin/../../../etc/passwd"] {
        context.write_manifest(&manifest(
            LOCAL,
            json!({ "kit": { "version": "*", "bin": { "ls": target } } }),
        ));
        let output = context.run(["sync"]);
        assert_eq!(output.status.code(), Some(2), "{}", context.render(&output));
        let text = stderr(&output);
        for needle in ["velo.json", "`kit`", "`ls`", target] {
            assert_contains(&text, needle);
        }
        assert!(!velo_dir(&context).exists());
    }
    context.write_manifest(&manifest(
        LOCAL,
        json!({ "kit": { "version": "*", "bin": { "ls": "/bin/rm" } } }),
    ));
    insta::assert_snapshot!(context.snapshot(["sync"]));
}

#[test]
fn lock_bin_paths_and_shim_env_names_are_checked() {
    let context = TestContext::new();
    for (extra, needle) in [
        (
            json!({ "bin": { "id": "../../usr/bin/id" } }),
            "`../../usr/bin/id`",
        ),
        (json!({ "bin": { "rm": "/bin/rm" } }), "`/bin/rm`"),
        (json!({ "env": { "X;touch pwned;Y": "1" } }), "`X;touch pwned;Y`"),
        (json!({ "env": { "1X": "1" } }), "`1X`"),
    ] {
        write_lock(
            &context,
            &[("kit", "kit.tar.gz", tool_archive("kit", "kit"), extra)],
        );
        let output = context.run(["sync", "--frozen"]);
        assert!(!output.status.success(), "{}", context.render(&output));
        let text = stderr(&output);
        assert_contains(&text, "velo.lock");
        assert_contains(&text, needle);
        assert!(!velo_dir(&context).join("bin").exists());
        assert!(!context.root.join("pwned").exists());
    }
    // A shim's values are quoted: a value is never code.
    write_lock(
        &context,
        &[(
            "kit",
            "kit.tar.gz",
            archive::tar_gz(&[executable("bin/kit", "#!/bin/sh\necho \"[$KIT_X]\"\n")]),
            json!({ "env": { "KIT_X": "'; touch pwned; '$(touch pwned)`touch pwned`" } }),
        )],
    );
    assert_success(&context.run(["sync", "--frozen"]));
    assert_eq!(
        run_tool(&context, "kit", &[]),
        "['; touch pwned; '$(touch pwned)`touch pwned`]\n"
    );
    assert!(!context.root.join("pwned").exists());
}

/// Run `velo ARGS…`, failing the test (instead of hanging it) after 60 seconds.
fn run_bounded(context: &TestContext, args: &[&str]) -> Output {
    let mut child = context
        .velo()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("`velo {}` hung", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn local_artifacts_that_are_not_regular_files_are_refused() {
    let context = TestContext::new();
    let fifo = context.base().join("artifacts/tool.fifo");
    let directory = context.base().join("artifacts/tool.dir");
    let real = context.base().join("artifacts/tool.real");
    let cases = [
        ("fifo", "../artifacts/tool.fifo".to_string()),
        ("device", "file:///dev/zero".to_string()),
        ("directory", "../artifacts/tool.dir".to_string()),
        ("link", "../artifacts/tool.link".to_string()),
    ];
    for (what, url) in cases {
        write_lock(
            &context,
            &[(
                "tool",
                "tool.real",
                script("tool", "1.0.0"),
                json!({ "url": url, "bin": { "tool": "tool" } }),
            )],
        );
        if !fifo.exists() {
            let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
            assert!(status.success());
            fs_err::create_dir_all(&directory).unwrap();
            symlink(&real, context.base().join("artifacts/tool.link")).unwrap();
        }
        let output = run_bounded(&context, &["sync", "--frozen"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{what}: {}",
            context.render(&output)
        );
        assert_contains(&stderr(&output), "is not a regular file");
        assert!(!velo_dir(&context).join("bin").exists(), "{what}");
    }
}

#[test]
fn a_failed_sync_leaves_the_previous_tools_working() {
    let context = TestContext::new();
    let good = tool_archive("alpha", "alpha");
    write_lock(&context, &[("alpha", "alpha.tar.gz", good, json!({}))]);
    assert_success(&context.run(["sync", "--frozen"]));
    let current = current_target(&context);
    let cellar = velo_dir(&context).join("Cellar/alpha/1.0.0");
    let installed = disk::tree(&cellar, &[]);

    // The same version, now locked to another archive whose command is missing: the live
    // Cellar entry must not be replaced before the new one is checked.
    let missing = archive::tar_gz(&[executable("bin/other", script("other", "1.0.0"))]);
    let a_directory = archive::tar_gz(&[executable("bin/alpha/inside", script("other", "1.0.0"))]);
    for broken in [missing, a_directory] {
        let extra = json!({ "bin": { "alpha": "bin/alpha" } });
        write_lock(&context, &[("alpha", "alpha-2.tar.gz", broken, extra)]);
        let output = context.run(["sync", "--frozen"]);
        assert!(!output.status.success(), "{}", context.render(&output));
        assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
        assert_eq!(current_target(&context), current);
        assert_eq!(disk::tree(&cellar, &[]), installed);
        let leftovers: Vec<String> = names_in(&velo_dir(&context))
            .into_iter()
            .filter(|name| name.starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    // A checksum that does not match fails before anything is linked.
    write_lock(
        &context,
        &[(
            "alpha",
            "alpha-3.tar.gz",
            tool_archive("alpha", "alpha"),
            json!({ "sha256": "0".repeat(64) }),
        )],
    );
    assert!(!context.run(["sync", "--frozen"]).status.success());
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
}

/// Paths velo owns in `.velo/`, and a few it does not know.
const PLANT_PATHS: [&str; 14] = [
    ".velo",
    ".velo/Cellar",
    ".velo/Cellar/alpha",
    ".velo/Cellar/alpha/1.0.0",
    ".velo/Cellar/alpha/1.0.0/bin",
    ".velo/Cellar/x",
    ".velo/bin",
    ".velo/opt",
    ".velo/current",
    ".velo/state.json",
    ".velo/sync.lock",
    ".velo/gen-1",
    ".velo/.tmp-1",
    ".velo/keys",
];

/// Link targets aimed at the sentinel (relative to a path's depth, or absolute).
fn plant_strategy() -> impl Strategy<Value = (usize, Plant)> {
    let what = prop_oneof![
        Just(Plant::Dir),
        Just(Plant::File),
        Just(link("SENTINEL")),
        Just(link("SENTINEL/data.txt")),
        Just(link("SENTINEL/other-repo")),
        Just(link("SENTINEL/missing")),
        Just(link("..")),
    ];
    (0..PLANT_PATHS.len(), what)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn planted_entries_never_reach_outside(plants in prop::collection::vec(plant_strategy(), 1..6)) {
        let context = local_project(&["alpha"]);
        context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
        let sentinel = make_sentinel(&context);
        for (index, what) in &plants {
            let path = PLANT_PATHS[*index];
            let what = match what {
                Plant::Link(target) => Plant::Link(target.replace("SENTINEL", &sentinel.display().to_string())),
                other => other.clone(),
            };
            plant(&context.root, path, &what);
        }
        let before = outside(&context);
        let output = context.run(["sync"]);
        prop_assert_eq!(&outside(&context), &before, "{}", context.render(&output));
        // Either it worked, or it failed with an error (never a panic or a signal).
        let code = output.status.code();
        prop_assert!(matches!(code, Some(0..=2)), "{}", context.render(&output));
        if code == Some(0) {
            prop_assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
        }
        // A second sync repairs whatever is left, and still touches nothing outside.
        let output = context.run(["sync"]);
        prop_assert!(output.status.success(), "{}", context.render(&output));
        prop_assert_eq!(&outside(&context), &before);
    }
}

#[test]
fn upgrading_with_a_link_in_the_cellar_keeps_the_other_package() {
    // A link where an unused package would be: removing unused packages removes the link only.
    let context = TestContext::new();
    let mut index = context.index();
    add_tool(&mut index, "alpha", "1.0.0");
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    make_sentinel(&context);
    assert_success(&context.run(["sync"]));
    symlink(
        "../../../../sentinel",
        velo_dir(&context).join("Cellar/alpha/0.9.0"),
    )
    .unwrap();
    let before = outside(&context);
    fs_err::remove_file(velo_dir(&context).join("state.json")).unwrap();
    let output = context.run(["sync"]);
    assert_success(&output);
    assert_eq!(outside(&context), before);
    assert_eq!(
        names_in(&velo_dir(&context).join("Cellar/alpha")),
        ["1.0.0".to_string()].into()
    );
    assert!(!stderr(&output).contains("0.9.0"), "{}", stderr(&output));
}

#[test]
fn a_tasks_link_in_velo_is_not_written_through() {
    let context = TestContext::new();
    make_sentinel(&context);
    let task = json!({ "command": "echo built > out.txt", "outputs": ["out.txt"] });
    context.write_manifest(&json!({ "tasks": { "build": task } }).to_string());
    fs_err::create_dir_all(velo_dir(&context)).unwrap();
    symlink("../../sentinel", velo_dir(&context).join("tasks")).unwrap();
    let before = outside(&context);
    for _ in 0..2 {
        let output = context.run(["run", "build"]);
        assert_success(&output);
        assert_eq!(outside(&context), before, "{}", context.render(&output));
    }
    assert!(velo_dir(&context).join("tasks").is_dir() && !velo_dir(&context).join("tasks").is_symlink());
    assert_eq!(names_in(&velo_dir(&context).join("tasks")).len(), 1);
}

#[test]
fn a_command_replaced_after_a_sync_is_installed_again() {
    // As `git checkout` does to a committed `.velo/`: the file is replaced, the sealed state is
    // not, and the no-op check must notice.
    let context = project_with(&[]);
    assert_success(&context.run(["sync"]));
    let tool = velo_dir(&context).join("Cellar/alpha/1.0.0/bin/alpha");
    fs_err::remove_file(&tool).unwrap();
    fs_err::write(&tool, "#!/bin/sh\necho 'the repository ran'\n").unwrap();
    fs_err::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = context.run(["sync"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "Installed 1 of 1 package");
    assert_eq!(run_tool(&context, "alpha", &["--version"]), "alpha 1.0.0\n");
    let output = context.run(["sync"]);
    assert_contains(&stderr(&output), "Checked");
}

#[test]
fn an_index_with_an_unsafe_env_name_is_never_locked() {
    // (An index's unsafe `bin` path already makes its artifact unusable when it is read.)
    let context = TestContext::new();
    let mut index = context.index();
    let extra = json!({ "env": { "A=1; touch pwned; B": "x" } });
    index.add_archive("kit", "1.0.0", "kit.tar.gz", &tool_archive("kit", "kit"), extra);
    index.write();
    context.write_manifest(&manifest(LOCAL, any_version(&["kit"])));
    let output = context.run(["sync"]);
    assert!(!output.status.success(), "{}", context.render(&output));
    assert_contains(&stderr(&output), "refusing to write");
    assert_contains(&stderr(&output), "`A=1; touch pwned; B`");
    assert!(!context.lock_path().exists());
    assert!(!velo_dir(&context).join("bin").exists());
    assert!(!context.root.join("pwned").exists());
}

#[test]
fn a_lock_that_is_a_fifo_or_a_device_is_refused_without_hanging() {
    let context = local_project(&["alpha"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    let status = Command::new("mkfifo")
        .arg(context.base().join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    for target in ["/dev/zero", "../fifo"] {
        let _ = std::fs::remove_file(context.lock_path());
        symlink(target, context.lock_path()).unwrap();
        for args in [&["sync", "--frozen"][..], &["sync"], &["exec", "--", "true"]] {
            let output = run_bounded(&context, args);
            assert!(
                !output.status.success(),
                "{target} {args:?}: {}",
                context.render(&output)
            );
            assert_contains(&stderr(&output), "not a regular file");
        }
        // The shell hook reads these files too, and must not hang the prompt.
        run_bounded(&context, &["hook-env", "--shell", "bash"]);
    }
}

#[test]
fn hardlinks_to_outside_files_are_replaced_never_written_into() {
    // A repository delivered as an archive can hold hard links; velo must replace such a file
    // (rename or unlink) and never open it for writing, changing its mode or its times.
    let context = project_with(&[
        (".velo/Cellar/alpha/1.0.0/bin/keep", Plant::Dir),
        (".velo/gen-1/bin/keep", Plant::Dir),
        (".velo/tasks/keep", Plant::Dir),
    ]);
    let data = context.base().join("sentinel/data.txt");
    let velo = velo_dir(&context);
    for path in [
        "state.json",
        "sync.lock",
        ".velo-tmp-1",
        "Cellar/alpha/1.0.0/bin/alpha",
        "gen-1/bin/alpha",
        "tasks/state.json",
        "tasks/.gitignore",
    ] {
        fs_err::hard_link(&data, velo.join(path)).unwrap();
    }
    let before = outside(&context);
    assert_synced_safely(&context, &before);
    assert_success(&context.run(["sync"]));
    assert_eq!(&outside(&context), &before);
    assert_eq!(fs_err::read_to_string(&data).unwrap(), "precious\n");
}

#[test]
fn names_too_long_for_a_file_name_are_bad_input() {
    // Each becomes a file name in `.velo/` (a Cellar directory, a version, a command): one the
    // file system cannot hold is refused up front as bad input, not met as an I/O error.
    let context = TestContext::new();
    let long = "a".repeat(300);
    let archive = || tool_archive("kit", "kit");
    write_lock(&context, &[(long.as_str(), "kit.tar.gz", archive(), json!({}))]);
    let output = context.run(["sync", "--frozen"]);
    assert_eq!(output.status.code(), Some(2), "{}", context.render(&output));
    assert_contains(&stderr(&output), "at most 120 bytes");

    write_lock(
        &context,
        &[(
            "kit",
            "kit.tar.gz",
            archive(),
            json!({ "bin": { long.clone(): "bin/kit" } }),
        )],
    );
    let output = context.run(["sync", "--frozen"]);
    assert_eq!(output.status.code(), Some(2), "{}", context.render(&output));
    assert_contains(&stderr(&output), "is not a command name");

    write_lock(&context, &[("kit", "kit.tar.gz", archive(), json!({}))]);
    let lock = fs_err::read_to_string(context.lock_path()).unwrap();
    let version = format!("1.0.0-{long}");
    fs_err::write(
        context.lock_path(),
        lock.replace("\"1.0.0\"", &format!("\"{version}\"")),
    )
    .unwrap();
    let output = context.run(["sync", "--frozen"]);
    assert_eq!(output.status.code(), Some(2), "{}", context.render(&output));
    assert_contains(&stderr(&output), "invalid version");
    assert!(!velo_dir(&context).join("Cellar").exists());
}

#[test]
fn a_lock_link_lends_its_target_no_mode() {
    // `velo.lock` a link to a world-writable setuid file: the lock written replaces the link
    // with a file of the usual mode, and the target stays as it was.
    let context = local_project(&["alpha"]);
    context.write_manifest(&manifest(LOCAL, any_version(&["alpha"])));
    let target = context.base().join("sentinel-mode");
    fs_err::write(&target, "x").unwrap();
    fs_err::set_permissions(&target, std::fs::Permissions::from_mode(0o4777)).unwrap();
    symlink(&target, context.lock_path()).unwrap();
    assert_success(&context.run(["lock"]));
    let written = std::fs::symlink_metadata(context.lock_path()).unwrap();
    assert!(written.is_file());
    assert_eq!(written.permissions().mode() & 0o7777, 0o644);
    assert_eq!(fs_err::read_to_string(&target).unwrap(), "x");
    assert_eq!(
        fs_err::metadata(&target).unwrap().permissions().mode() & 0o7777,
        0o4777
    );
}

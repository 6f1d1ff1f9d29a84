//! `velo exec`, `velo env`, `velo which` and `velo list`: running a project's tools in its
//! environment and telling the user (or a shell) what that environment is.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use serde_json::json;

use crate::common::archive::{self, executable, script};
use crate::common::{assert_contains, assert_success, stderr, TestContext};

/// A fixed `PATH` for velo, so output does not depend on the machine.
const SYSTEM_PATH: &str = "/usr/bin:/bin";

/// A project (local index) with the tools `hello-velo` (prints its arguments), `fail42` (exits
/// 42) and `selfkill` (kills itself with SIGTERM), and `env` in its manifest.
fn project(env: serde_json::Value) -> TestContext {
    let context = TestContext::new();
    let mut index = context.index();
    let tools: [(&str, Vec<u8>); 3] = [
        ("hello-velo", script("hello-velo", "1.2.3")),
        ("fail42", b"#!/bin/sh\necho failing >&2\nexit 42\n".to_vec()),
        (
            "selfkill",
            b"#!/bin/sh\nkill -TERM $$\nsleep 5\necho survived\n".to_vec(),
        ),
    ];
    for (name, content) in tools {
        index.add_archive(
            name,
            "1.2.3",
            &format!("{name}.tar.gz"),
            &archive::tar_gz(&[executable(&format!("bin/{name}"), content)]),
            json!({}),
        );
    }
    index.write();
    let manifest = json!({
        "name": "demo",
        "registry": "../index",
        "dependencies": { "hello-velo": "*", "fail42": "*", "selfkill": "*" },
        "env": env,
    });
    context.write_manifest(&(serde_json::to_string_pretty(&manifest).unwrap() + "\n"));
    context
}

fn synced(env: serde_json::Value) -> TestContext {
    let context = project(env);
    assert_success(&context.run(["sync"]));
    context
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `velo exec -- ARGS…` with `PATH` set to `path`.
fn exec(context: &TestContext, path: &str, args: &[&str]) -> std::process::Output {
    context
        .velo()
        .env("PATH", path)
        .arg("exec")
        .arg("--")
        .args(args)
        .output()
        .expect("run velo exec")
}

#[test]
fn exec_puts_velo_bin_first_on_path() {
    let context = synced(json!({}));
    // An impostor of the same name earlier on the caller's PATH.
    let fake = context.base().join("fakebin");
    fs_err::create_dir_all(&fake).unwrap();
    fs_err::write(fake.join("hello-velo"), "#!/bin/sh\necho impostor\n").unwrap();
    fs_err::set_permissions(fake.join("hello-velo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{SYSTEM_PATH}", fake.display());

    let output = exec(&context, &path, &["sh", "-c", "command -v hello-velo"]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        format!("{}/.velo/bin/hello-velo\n", context.root.display())
    );
    let output = exec(&context, &path, &["hello-velo", "--version"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "hello-velo 1.2.3\n");
}

#[test]
fn exec_passes_arguments_untouched() {
    let context = synced(json!({}));
    let output = exec(
        &context,
        SYSTEM_PATH,
        &["hello-velo", "two words", "--flag", "-x", "$HOME"],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "hello-velo: two words --flag -x $HOME\n");
    // Argument boundaries survive too.
    let output = exec(
        &context,
        SYSTEM_PATH,
        &["sh", "-c", "echo $#; printf '[%s]' \"$@\"", "sh", "a b", "", "c"],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "3\n[a b][][c]");
}

#[test]
fn exec_passes_the_exit_code_through() {
    let context = synced(json!({}));
    let output = exec(&context, SYSTEM_PATH, &["fail42"]);
    assert_eq!(output.status.code(), Some(42), "{}", context.render(&output));
    assert_eq!(stderr(&output), "failing\n");
}

#[test]
fn exec_passes_signals_through() {
    let context = synced(json!({}));
    let output = exec(&context, SYSTEM_PATH, &["selfkill"]);
    assert_eq!(output.status.signal(), Some(15), "{:?}", output.status);
    assert_eq!(stdout(&output), "");
}

#[test]
fn exec_of_a_missing_command() {
    let context = synced(json!({}));
    let output = exec(&context, SYSTEM_PATH, &["no-such-tool-here"]);
    assert_eq!(output.status.code(), Some(127));
    insta::assert_snapshot!("exec_missing_command", context.render(&output));

    let output = exec(&context, SYSTEM_PATH, &["hello-vel"]);
    assert_eq!(output.status.code(), Some(127));
    assert_contains(&stderr(&output), "did you mean `hello-velo`?");
    insta::assert_snapshot!("exec_close_command", context.render(&output));
}

#[test]
fn exec_syncs_first() {
    let context = project(json!({}));
    assert!(!context.root.join(".velo").exists());
    let output = exec(&context, SYSTEM_PATH, &["hello-velo", "--version"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "hello-velo 1.2.3\n");
    assert!(context.root.join(".velo/bin/hello-velo").exists());
    assert!(context.lock_path().exists());
}

#[test]
fn exec_sets_the_manifest_env() {
    let context = synced(json!({ "GREETING": "hello, world", "PATH": ["./scripts"] }));
    let scripts = context.root.join("scripts");
    fs_err::create_dir_all(&scripts).unwrap();
    fs_err::write(scripts.join("project-script"), "#!/bin/sh\necho from scripts\n").unwrap();
    fs_err::set_permissions(
        scripts.join("project-script"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();

    let output = exec(&context, SYSTEM_PATH, &["sh", "-c", "echo \"$GREETING\""]);
    assert_success(&output);
    assert_eq!(stdout(&output), "hello, world\n");

    let output = exec(&context, SYSTEM_PATH, &["sh", "-c", "echo \"$PATH\""]);
    assert_success(&output);
    let root = context.root.display();
    assert_eq!(
        stdout(&output),
        format!("{root}/.velo/bin:{root}/scripts:{SYSTEM_PATH}\n")
    );
    let output = exec(&context, SYSTEM_PATH, &["project-script"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "from scripts\n");
}

/// `velo env ARGS…` with a fixed `PATH`, rendered.
fn env_snapshot(context: &TestContext, args: &[&str]) -> String {
    let output = context
        .velo()
        .env("PATH", SYSTEM_PATH)
        .arg("env")
        .args(args)
        .output()
        .unwrap();
    assert_success(&output);
    context.render(&output)
}

fn env_project() -> TestContext {
    synced(json!({ "GREETING": "it's a \"test\"", "PATH": ["./scripts"], "EMPTY": "" }))
}

#[test]
fn env_for_bash() {
    let context = env_project();
    insta::assert_snapshot!(env_snapshot(&context, &["--shell", "bash"]));
}

#[test]
fn env_for_zsh() {
    let context = env_project();
    insta::assert_snapshot!(env_snapshot(&context, &["--shell", "zsh"]));
}

#[test]
fn env_for_fish() {
    let context = env_project();
    insta::assert_snapshot!(env_snapshot(&context, &["--shell", "fish"]));
}

#[test]
fn env_as_json() {
    let context = env_project();
    let rendered = env_snapshot(&context, &["--json"]);
    insta::assert_snapshot!(rendered);
    let output = context
        .velo()
        .env("PATH", SYSTEM_PATH)
        .args(["env", "--json"])
        .output()
        .unwrap();
    let env: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(env["GREETING"], "it's a \"test\"");
}

#[test]
fn env_warns_when_not_synced() {
    let context = project(json!({ "GREETING": "hi" }));
    let output = context
        .velo()
        .env("PATH", SYSTEM_PATH)
        .args(["env", "--shell", "bash"])
        .output()
        .unwrap();
    assert_success(&output);
    assert_contains(&stderr(&output), "run `velo sync`");
}

#[test]
fn env_round_trips_through_bash() {
    if !Path::new("/bin/bash").exists() && !Path::new("/usr/bin/bash").exists() {
        eprintln!("skipped: no bash");
        return;
    }
    let context = env_project();
    let output = std::process::Command::new("bash")
        .current_dir(&context.root)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("VELO", env!("CARGO_BIN_EXE_velo"))
        .env("VELO_CACHE_DIR", &context.cache_dir)
        .env("VELO_CONFIG_DIR", &context.config_dir)
        .env("VELO_PLATFORM", crate::common::HOST)
        .env("HOME", &context.home)
        .env("NO_COLOR", "1")
        .args([
            "-c",
            r#"eval "$("$VELO" env --shell bash)" && command -v hello-velo && hello-velo --version && echo "$GREETING""#,
        ])
        .output()
        .unwrap();
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        format!(
            "{}/.velo/bin/hello-velo\nhello-velo 1.2.3\nit's a \"test\"\n",
            context.root.display()
        )
    );
}

#[test]
fn which_prints_the_cellar_path() {
    let context = synced(json!({}));
    let output = context.run(["which", "hello-velo"]);
    assert_success(&output);
    let path = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        Path::new(path.trim_end()),
        context.root.join(".velo/Cellar/hello-velo/1.2.3/bin/hello-velo")
    );
    assert!(Path::new(path.trim_end()).is_file());
    insta::assert_snapshot!(context.render(&output));
}

#[test]
fn which_of_an_unknown_command() {
    let context = synced(json!({}));
    let output = context.run(["which", "hello-vel"]);
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&stderr(&output), "did you mean `hello-velo`?");
    insta::assert_snapshot!("which_close_name", context.render(&output));

    let output = context.run(["which", "zzzzzzzz"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!("which_far_name", context.render(&output));
}

#[test]
fn which_before_sync() {
    let context = project(json!({}));
    let output = context.run(["which", "hello-velo"]);
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&stderr(&output), "velo sync");
}

#[test]
fn list_shows_packages_and_commands() {
    let context = synced(json!({}));
    let output = context.run(["list"]);
    assert_success(&output);
    insta::assert_snapshot!(context.render(&output));

    let output = context.run(["list", "--json"]);
    assert_success(&output);
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows[0]["name"], "fail42");
    assert_eq!(rows[1]["commands"], json!(["hello-velo"]));
    insta::assert_snapshot!("list_json", context.render(&output));
}

#[test]
fn list_before_sync() {
    let context = project(json!({}));
    let output = context.run(["list", "--json"]);
    assert_success(&output);
    assert_eq!(stdout(&output).trim(), "[]");
    let output = context.run(["list"]);
    assert_success(&output);
    assert_contains(&stderr(&output), "run `velo sync`");
}

#[test]
fn exec_of_a_file_that_is_not_executable() {
    let context = synced(json!({}));
    let output = exec(&context, SYSTEM_PATH, &["./velo.json"]);
    assert_eq!(output.status.code(), Some(126), "{}", context.render(&output));
    assert_contains(&stderr(&output), "`./velo.json` cannot be executed");
}

/// `${NAME}` in `env` reads `VELO_*` and the names in `expand_env`; any other name is an error
/// naming it (exit 2), not its value and not an empty string.
#[test]
fn env_expands_only_opted_in_variables() {
    let secret = "hunter2-aws-secret";
    let context = synced(json!({ "PROXY": "http://${AWS_SECRET_ACCESS_KEY}@example.com" }))
        .with_env("AWS_SECRET_ACCESS_KEY", secret)
        .with_env("VELO_EXAMPLE", "velo-value");
    let mut manifest: serde_json::Value = serde_json::from_str(&context.manifest()).unwrap();
    manifest["tasks"] = json!({ "build": { "command": "true" } });
    context.write_manifest(&manifest.to_string());
    for args in [
        &["env", "--json"][..],
        &["exec", "--", "true"],
        &["run", "build", "--dry-run"],
    ] {
        let output = context.run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert_contains(
            &stderr(&output),
            "`env.PROXY` in `velo.json` refers to `${AWS_SECRET_ACCESS_KEY}`",
        );
        assert!(!stderr(&output).contains(secret));
        assert!(!stdout(&output).contains(secret));
    }
    fs_err::write(
        context.config_dir.join("config.toml"),
        "expand_env = [\"AWS_SECRET_ACCESS_KEY\"]\n",
    )
    .unwrap();
    let output = exec(&context, SYSTEM_PATH, &["sh", "-c", "echo \"$PROXY\""]);
    assert_success(&output);
    assert_eq!(stdout(&output), format!("http://{secret}@example.com\n"));

    fs_err::remove_file(context.config_dir.join("config.toml")).unwrap();
    context.write_manifest(
        &context
            .manifest()
            .replace("AWS_SECRET_ACCESS_KEY", "VELO_EXAMPLE"),
    );
    let output = exec(&context, SYSTEM_PATH, &["sh", "-c", "echo \"$PROXY\""]);
    assert_success(&output);
    assert_eq!(stdout(&output), "http://velo-value@example.com\n");
}

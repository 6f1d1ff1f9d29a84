//! Shell activation end to end: the hooks `velo activate` prints, run in real bash, zsh and fish
//! (sessions scripted on stdin, and interactive ones under tmux); the hook's fast path (no
//! process when nothing changed); the sync-needed message and auto-sync; `velo shell`; the
//! direnv library.
//!
//! Every session starts from a clean environment with `GREETING=original`, a `QUOTED` value full
//! of shell metacharacters, and `ONLY_A`/`NEW_VAR` unset, so "restored exactly" can be checked
//! byte for byte.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::common::archive::{self, executable, script};
use crate::common::{assert_contains, assert_success, stderr, TestContext, HOST};

/// One `#[test]` per shell, named as given, for a scenario that takes the shell.
macro_rules! per_shell {
    ($scenario:ident { $($shell:ident: $name:ident),+ $(,)? }) => {
        $(
            #[test]
            fn $name() {
                $scenario(Sh::$shell);
            }
        )+
    };
}

const SYSTEM_PATH: &str = "/usr/bin:/bin";
const VELO: &str = env!("CARGO_BIN_EXE_velo");
const TOOLS: [&str; 3] = ["tool-a", "tool-b", "tool-c"];
const VARS: [&str; 4] = ["GREETING", "ONLY_A", "QUOTED", "NEW_VAR"];
/// `QUOTED` before any project: quotes, `$`, a backslash, so restore commands must quote.
const ORIGINAL_QUOTED: &str = r#"orig 'single' "double" $dollar \back"#;
/// `QUOTED` in project C.
const C_QUOTED: &str = r#"c's "value" $HOME `tick` \end"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sh {
    Bash,
    Zsh,
    Fish,
}

impl Sh {
    fn program(self) -> &'static str {
        match self {
            Sh::Bash => "bash",
            Sh::Zsh => "zsh",
            Sh::Fish => "fish",
        }
    }

    /// Arguments for a session read from stdin. bash and zsh run interactive, so they show a
    /// prompt (and run their prompt hook) after every line; fish reading stdin shows none, so
    /// [`Sh::script`] emits `fish_prompt` after every line instead.
    fn stdin_args(self) -> &'static [&'static str] {
        match self {
            Sh::Bash => &["--norc", "-i"],
            Sh::Zsh => &["-f", "-i"],
            Sh::Fish => &["--no-config"],
        }
    }

    /// `lines` as a script with a prompt after each line.
    fn script(self, lines: &[String]) -> String {
        let mut out = String::new();
        for line in lines {
            out.push_str(line);
            out.push('\n');
            if self == Sh::Fish {
                out.push_str("emit fish_prompt\n");
            }
        }
        out
    }

    /// Silence the prompts (they go to stderr, where the hook's messages are counted), then
    /// load the hook from `file`.
    fn load_hook(self, file: &Path) -> String {
        match self {
            Sh::Bash => format!("PS1=''; PS2=''; source {}", quote(file)),
            // Without `PROMPT_SP`/`PROMPT_CR`, zsh writes no line-end markers around its prompt.
            Sh::Zsh => format!(
                "PS1=''; PS2=''; unsetopt prompt_sp prompt_cr; source {}",
                quote(file)
            ),
            Sh::Fish => format!("source {}", quote(file)),
        }
    }

    /// Print `@@ label`, then `tool=path` for every tool as `command -v` finds it (empty when
    /// not found), then `NAME=value` for every variable (`<unset>` when unset).
    fn report(self, label: &str) -> String {
        let mut parts = vec![format!("printf '%s\\n' '@@ {label}'")];
        for tool in TOOLS {
            parts.push(match self {
                Sh::Bash | Sh::Zsh => format!("printf '%s\\n' \"{tool}=$(command -v {tool})\""),
                Sh::Fish => format!("set -l p (command -s {tool}); printf '%s\\n' \"{tool}=$p\""),
            });
        }
        for var in VARS {
            parts.push(match self {
                Sh::Bash | Sh::Zsh => format!("printf '%s\\n' \"{var}=${{{var}-<unset>}}\""),
                Sh::Fish => format!(
                    "if set -q {var}; printf '%s\\n' \"{var}=${var}\"; else; printf '%s\\n' '{var}=<unset>'; end"
                ),
            });
        }
        parts.join("; ")
    }
}

/// Print `@@ label`, then the exported environment, sorted.
fn env_dump(label: &str) -> String {
    format!("printf '%s\\n' '@@ {label}'; env | sort")
}

/// A marker line on stderr, to split the hook's messages by phase.
fn stderr_marker(label: &str) -> String {
    format!("printf '%s\\n' '@@ {label}' >&2")
}

/// Single-quote a path for bash, zsh and fish alike.
fn quote(path: &Path) -> String {
    let text = path.display().to_string();
    assert!(
        !text.contains('\'') && !text.contains('\\'),
        "test paths need no escaping: {text}"
    );
    format!("'{text}'")
}

/// Whether `program` runs here. A missing one skips the test with a note, except on CI, which
/// installs every shell, tmux and direnv: there it is a failure.
fn available(program: &str) -> bool {
    let arg = match program {
        "tmux" => "-V",
        "direnv" => "version",
        _ => "--version",
    };
    let found = Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{program}` is not installed; CI must run this test"
        );
        eprintln!("note: `{program}` is not installed here; skipping this test");
    }
    found
}

/// `program` with nothing of the test process's environment: a home, the system `PATH`, velo's
/// directories, and the variables the projects change.
fn clean_command(context: &TestContext, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("HOME", &context.home)
        .env("PATH", SYSTEM_PATH)
        .env("TERM", "dumb")
        .env("VELO_CACHE_DIR", &context.cache_dir)
        .env("VELO_CONFIG_DIR", &context.config_dir)
        .env("VELO_PLATFORM", HOST)
        .env("GREETING", "original")
        .env("QUOTED", ORIGINAL_QUOTED);
    command
}

/// Write `text` to `program`'s stdin (from a thread, so a full pipe cannot deadlock) and
/// collect its output.
fn run_with_stdin(mut command: Command, text: String) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("failed to start {command:?}: {err}"));
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The shell may exit before reading everything; its output says what happened.
        let _ = stdin.write_all(text.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for the shell");
    writer.join().unwrap();
    output
}

/// A `velo.json` for a project using `registry`, depending on `tools`, with `env`.
fn manifest(registry: &str, tools: &[&str], env: Value, extra: Value) -> String {
    let dependencies: serde_json::Map<String, Value> =
        tools.iter().map(|tool| (tool.to_string(), json!("*"))).collect();
    let mut manifest =
        json!({ "name": "demo", "registry": registry, "dependencies": dependencies, "env": env });
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            manifest[key] = value;
        }
    }
    serde_json::to_string_pretty(&manifest).unwrap() + "\n"
}

/// Set the modification time of a project's `velo.json`, `velo.lock` and `.velo/state.json`
/// (those that exist) a day back. `velo hook-env` distrusts files changed in the last few
/// milliseconds and asks again at the next prompt; files the test has just written would make
/// the number of calls depend on how fast the shell starts.
fn backdate(dir: &Path) {
    let past = SystemTime::now() - Duration::from_secs(24 * 3600);
    for name in ["velo.json", "velo.lock", ".velo/state.json"] {
        let path = dir.join(name);
        if path.exists() {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(past).unwrap();
        }
    }
}

/// Project A (`context.root`, with a subdirectory `src/deep`), project B (`<temp>/proj b`, a
/// space in its path) with project C nested inside it (`proj b/nested/c`), and a directory
/// outside every project, all using one local index with the tools `tool-a`, `tool-b`,
/// `tool-c` and `tool-x`.
struct Projects {
    context: TestContext,
    a: PathBuf,
    b: PathBuf,
    c: PathBuf,
    outside: PathBuf,
}

impl Projects {
    fn new() -> Self {
        let context = TestContext::new();
        let base = context.base();
        let mut index = context.index();
        for name in ["tool-a", "tool-b", "tool-c", "tool-x"] {
            index.add_archive(
                name,
                "1.0.0",
                &format!("{name}.tar.gz"),
                &archive::tar_gz(&[executable(&format!("bin/{name}"), script(name, "1.0.0"))]),
                json!({}),
            );
        }
        index.write();
        let a = context.root.clone();
        let b = base.join("proj b");
        let c = b.join("nested").join("c");
        let outside = base.join("outside");
        for dir in [a.join("src").join("deep"), c.clone(), outside.clone()] {
            fs_err::create_dir_all(dir).unwrap();
        }
        let projects = Self {
            context,
            a,
            b,
            c,
            outside,
        };
        projects.write_a(json!({ "GREETING": "a", "ONLY_A": "1" }), json!({}));
        fs_err::write(
            projects.b.join("velo.json"),
            manifest("../index", &["tool-b"], json!({ "GREETING": "b" }), json!({})),
        )
        .unwrap();
        fs_err::write(
            projects.c.join("velo.json"),
            manifest(
                "../../../index",
                &["tool-c"],
                json!({ "GREETING": "c", "QUOTED": C_QUOTED }),
                json!({}),
            ),
        )
        .unwrap();
        for dir in [&projects.a, &projects.b, &projects.c] {
            projects.trust(dir);
        }
        projects
    }

    /// `velo trust` in `dir`, with `trust.json` backdated like the projects' files.
    fn trust(&self, dir: &Path) {
        self.velo_in(dir, &["trust"]);
        let file = std::fs::File::options()
            .write(true)
            .open(self.context.config_dir.join("trust.json"))
            .unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(24 * 3600))
            .unwrap();
    }

    /// A, B and C synced, their files backdated.
    fn synced() -> Self {
        let projects = Self::new();
        for dir in [&projects.a, &projects.b, &projects.c] {
            projects.velo_in(dir, &["sync"]);
            assert!(
                dir.join(".velo/state.json").is_file(),
                "the hook watches `.velo/state.json`"
            );
            backdate(dir);
        }
        projects
    }

    /// Write A's manifest with `env` and `extra` top-level keys.
    fn write_a(&self, env: Value, extra: Value) {
        fs_err::write(
            self.a.join("velo.json"),
            manifest("../index", &["tool-a"], env, extra),
        )
        .unwrap();
    }

    fn velo_in(&self, dir: &Path, args: &[&str]) {
        assert_success(&self.context.velo().current_dir(dir).args(args).output().unwrap());
    }

    fn bin(&self, dir: &Path, tool: &str) -> PathBuf {
        dir.join(".velo").join("bin").join(tool)
    }

    /// `velo activate <sh>`, written to a file for the session to `source`.
    fn activation(&self, sh: Sh) -> PathBuf {
        let output = self.context.run(["activate", sh.program()]);
        assert_success(&output);
        let path = self.context.base().join(format!("activate.{}", sh.program()));
        fs_err::write(&path, &output.stdout).unwrap();
        path
    }

    /// The activation for `sh` calling a wrapper that logs every velo invocation to `log`
    /// (one line: its arguments) before running the real velo.
    fn counting_activation(&self, sh: Sh, log: &Path) -> PathBuf {
        let base = self.context.base();
        let wrapper = base.join("counting-velo");
        fs_err::write(
            &wrapper,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} \"$@\"\n",
                quote(log),
                quote(Path::new(VELO))
            ),
        )
        .unwrap();
        fs_err::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = self.activation(sh);
        let text = fs_err::read_to_string(&path).unwrap();
        let exe = velo_exe();
        assert!(
            text.contains(&exe),
            "the hook calls velo by its absolute path:\n{text}"
        );
        fs_err::write(&path, text.replace(&exe, &wrapper.display().to_string())).unwrap();
        path
    }

    /// Run `lines` in `sh`, started in the directory outside every project; a last line marks
    /// that the whole script ran.
    fn session(&self, sh: Sh, lines: &[String]) -> Session {
        let mut lines = lines.to_vec();
        lines.push("printf '%s\\n' '@@ done'".to_string());
        let mut command = clean_command(&self.context, sh.program());
        command.args(sh.stdin_args()).current_dir(&self.outside);
        let session = Session::new(run_with_stdin(command, sh.script(&lines)));
        assert!(
            session.sections.contains_key("done"),
            "the session stopped early:\n{}",
            session.dump()
        );
        session
    }

    /// The report expected with `tools` found in their projects and `vars` set (`None`: unset);
    /// everything else as outside every project: no tools, the original values.
    fn expect(&self, tools: &[(&str, &Path)], vars: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
        let mut expected: BTreeMap<String, String> = TOOLS
            .iter()
            .map(|tool| (tool.to_string(), String::new()))
            .collect();
        expected.insert("GREETING".into(), "original".into());
        expected.insert("ONLY_A".into(), "<unset>".into());
        expected.insert("QUOTED".into(), ORIGINAL_QUOTED.into());
        expected.insert("NEW_VAR".into(), "<unset>".into());
        for (tool, dir) in tools {
            expected.insert(tool.to_string(), self.bin(dir, tool).display().to_string());
        }
        for (var, value) in vars {
            expected.insert(var.to_string(), value.unwrap_or("<unset>").to_string());
        }
        expected
    }
}

/// The velo path the hooks embed (the binary's own path).
fn velo_exe() -> String {
    std::fs::canonicalize(VELO).unwrap().display().to_string()
}

/// A finished session: its output split into `@@ label` sections.
struct Session {
    output: Output,
    sections: BTreeMap<String, Vec<String>>,
}

impl Session {
    fn new(output: Output) -> Self {
        let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some(label) = line.strip_prefix("@@ ") {
                current = Some(label.to_string());
                sections.entry(label.to_string()).or_default();
            } else if let Some(label) = &current {
                sections.get_mut(label).unwrap().push(line.to_string());
            }
        }
        Self { output, sections }
    }

    fn dump(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.output.status,
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    fn section(&self, label: &str) -> &[String] {
        self.sections
            .get(label)
            .unwrap_or_else(|| panic!("no section `{label}`:\n{}", self.dump()))
    }

    /// A [`Sh::report`] section as a map.
    fn report(&self, label: &str) -> BTreeMap<String, String> {
        self.section(label)
            .iter()
            .map(|line| {
                let (key, value) = line
                    .split_once('=')
                    .unwrap_or_else(|| panic!("not a report line: {line}"));
                (key.to_string(), value.to_string())
            })
            .collect()
    }

    /// An [`env_dump`] section without what the shell itself changes on `cd` or startup (fish
    /// exports `LS_COLORS` the first time its `ls` function runs).
    fn env(&self, label: &str) -> Vec<String> {
        self.section(label)
            .iter()
            .filter(|line| {
                let name = line.split_once('=').map_or(line.as_str(), |(name, _)| name);
                !["PWD", "OLDPWD", "_", "SHLVL", "LS_COLORS"].contains(&name)
            })
            .cloned()
            .collect()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// The stderr between `@@ label` and the next marker.
    fn stderr_section(&self, label: &str) -> String {
        let stderr = self.stderr();
        let start = stderr
            .find(&format!("@@ {label}\n"))
            .unwrap_or_else(|| panic!("no stderr marker `{label}`:\n{}", self.dump()));
        let rest = &stderr[start + label.len() + 4..];
        rest[..rest.find("@@ ").unwrap_or(rest.len())].to_string()
    }
}

/// How many lines of `text` mention `velo sync`, asserting each is one `velo: …` line.
fn sync_messages(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().filter(|line| line.contains("velo sync")).collect();
    for line in &lines {
        assert!(
            line.trim_start().starts_with("velo: "),
            "a sync message is one `velo: …` line: {line:?}"
        );
    }
    lines.len()
}

// --- 1. The scripts velo prints --------------------------------------------------------------

fn snapshot_context() -> TestContext {
    let exe = velo_exe();
    let mut context = TestContext::new().with_filter(&regex::escape(&exe), "[VELO]");
    if VELO != exe {
        context = context.with_filter(&regex::escape(VELO), "[VELO]");
    }
    context
}

#[test]
fn activate_bash() {
    insta::assert_snapshot!(snapshot_context().snapshot(["activate", "bash"]));
}

#[test]
fn activate_zsh() {
    insta::assert_snapshot!(snapshot_context().snapshot(["activate", "zsh"]));
}

#[test]
fn activate_fish() {
    insta::assert_snapshot!(snapshot_context().snapshot(["activate", "fish"]));
}

#[test]
fn direnv_library() {
    insta::assert_snapshot!(snapshot_context().snapshot(["direnv"]));
}

#[test]
fn activation_scripts_parse() {
    let projects = Projects::new();
    for (sh, check) in [(Sh::Bash, "-n"), (Sh::Zsh, "-n"), (Sh::Fish, "--no-execute")] {
        if !available(sh.program()) {
            continue;
        }
        let file = projects.activation(sh);
        let output = clean_command(&projects.context, sh.program())
            .arg(check)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{sh:?} rejects its hook: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

// --- 2. Entering, switching, nesting and leaving ---------------------------------------------

fn switches_and_restores(sh: Sh) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::synced();
    let mut lines = vec![sh.load_hook(&p.activation(sh))];
    lines.push(env_dump("before"));
    lines.push(format!("cd {}", quote(&p.a)));
    lines.push(sh.report("a"));
    lines.push("printf '%s\\n' '@@ run'; tool-a --version".to_string());
    lines.push(format!("cd {}", quote(&p.a.join("src/deep"))));
    lines.push(sh.report("a-sub"));
    lines.push(format!("cd {}", quote(&p.b)));
    lines.push(sh.report("b"));
    lines.push(format!("cd {}", quote(&p.c)));
    lines.push(sh.report("c"));
    lines.push(format!("cd {}", quote(&p.outside)));
    lines.push(sh.report("out"));
    lines.push(env_dump("after"));
    let session = p.session(sh, &lines);
    let dump = session.dump();

    let in_a = p.expect(
        &[("tool-a", &p.a)],
        &[("GREETING", Some("a")), ("ONLY_A", Some("1"))],
    );
    assert_eq!(session.report("a"), in_a, "{dump}");
    assert_eq!(session.section("run"), ["tool-a 1.0.0"], "{dump}");
    assert_eq!(session.report("a-sub"), in_a, "{dump}");
    assert_eq!(
        session.report("b"),
        p.expect(&[("tool-b", &p.b)], &[("GREETING", Some("b"))]),
        "{dump}"
    );
    // The nearest project only: B's tools are not on PATH inside C.
    assert_eq!(
        session.report("c"),
        p.expect(
            &[("tool-c", &p.c)],
            &[("GREETING", Some("c")), ("QUOTED", Some(C_QUOTED))]
        ),
        "{dump}"
    );
    assert_eq!(session.report("out"), p.expect(&[], &[]), "{dump}");

    let before = session.env("before");
    assert!(before.contains(&format!("PATH={SYSTEM_PATH}")), "{dump}");
    assert!(before.contains(&"GREETING=original".to_string()), "{dump}");
    assert_eq!(
        session.env("after"),
        before,
        "leaving must restore the environment exactly\n{dump}"
    );
    assert_eq!(sync_messages(&session.stderr()), 0, "{dump}");
}

per_shell!(switches_and_restores {
    Bash: bash_switches_between_projects_and_restores_exactly,
    Zsh: zsh_switches_between_projects_and_restores_exactly,
    Fish: fish_switches_between_projects_and_restores_exactly,
});

/// The hook runs before the prompt, after the user's command: `$?` must still be that
/// command's status. (Not for fish here: its simulated prompt, `emit`, is a command itself.)
fn keeps_exit_status(sh: Sh) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::synced();
    let lines = vec![
        sh.load_hook(&p.activation(sh)),
        format!("cd {}; false", quote(&p.a)),
        "printf '%s\\n' '@@ status' \"$?\"".to_string(),
        format!("cd {}; (exit 7)", quote(&p.outside)),
        "printf '%s\\n' '@@ status-out' \"$?\"".to_string(),
    ];
    let session = p.session(sh, &lines);
    assert_eq!(session.section("status"), ["1"], "{}", session.dump());
    assert_eq!(session.section("status-out"), ["7"], "{}", session.dump());
}

per_shell!(keeps_exit_status {
    Bash: bash_hook_keeps_the_exit_status,
    Zsh: zsh_hook_keeps_the_exit_status,
});

// --- 3. The fast path ------------------------------------------------------------------------

/// Count `velo` calls between markers the script writes into the wrapper's log.
fn fast_path(sh: Sh) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::synced();
    let log = p.context.base().join("velo-calls.log");
    let activation = p.counting_activation(sh, &log);
    // Newer than the backdated files, old enough for velo to trust.
    let touched = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3600;
    let mark = |label: &str| format!("printf '%s\\n' '#{label}' >> {}", quote(&log));
    let lines = vec![
        sh.load_hook(&activation),
        "true".to_string(),
        mark("start"),
        format!("cd {}", quote(&p.a)),
        "true".to_string(),
        "true".to_string(),
        sh.report("entered"),
        mark("entered"),
        format!("touch -d @{touched} {}", quote(&p.a.join("velo.json"))),
        "true".to_string(),
        "true".to_string(),
        mark("touched"),
        format!("cd {}", quote(&p.a.join("src/deep"))),
        "true".to_string(),
        "true".to_string(),
        mark("subdir"),
        format!("cd {}", quote(&p.outside)),
        "true".to_string(),
        sh.report("left"),
        mark("left"),
        format!("cd {}", quote(&p.a)),
        "true".to_string(),
        mark("reentered"),
    ];
    let session = p.session(sh, &lines);
    let dump = session.dump();
    assert_eq!(
        session.report("entered"),
        p.expect(
            &[("tool-a", &p.a)],
            &[("GREETING", Some("a")), ("ONLY_A", Some("1"))]
        ),
        "{dump}"
    );
    assert_eq!(session.report("left"), p.expect(&[], &[]), "{dump}");

    let log_text = fs_err::read_to_string(&log).unwrap();
    let expected_calls = [
        format!("hook-env --shell {} --entered -- {}", sh.program(), p.a.display()),
        format!("hook-env --shell {} -- {}", sh.program(), p.a.display()),
    ];
    let mut counts: Vec<(String, usize)> = vec![("(activation)".to_string(), 0)];
    for line in log_text.lines() {
        if let Some(label) = line.strip_prefix('#') {
            counts.push((label.to_string(), 0));
        } else {
            assert!(
                expected_calls.iter().any(|call| call == line),
                "only `velo hook-env` runs from the hook\n{log_text}"
            );
            counts.last_mut().unwrap().1 += 1;
        }
    }
    let expected: Vec<(String, usize)> = [
        ("(activation)", 0),
        // Entering, then plain prompts: one call.
        ("start", 1),
        // velo.json touched: one more.
        ("entered", 1),
        // A subdirectory of the same project: none.
        ("touched", 0),
        // Leaving restores without a process.
        ("subdir", 0),
        // Entering again: one.
        ("left", 1),
        ("reentered", 0),
    ]
    .map(|(label, count)| (label.to_string(), count))
    .into();
    assert_eq!(
        counts, expected,
        "velo calls after each marker\n{log_text}\n{dump}"
    );
}

per_shell!(fast_path {
    Bash: bash_fast_path_starts_no_process,
    Zsh: zsh_fast_path_starts_no_process,
    Fish: fish_fast_path_starts_no_process,
});

// --- 4. Sync needed, auto-sync ---------------------------------------------------------------

/// A with `velo.lock` but no `.velo/`; B synced, then given another tool and re-locked, so its
/// `.velo/` is older than its lock. Each says once that `velo sync` is needed.
fn sync_needed(sh: Sh) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::new();
    p.velo_in(&p.a, &["lock"]);
    assert!(!p.a.join(".velo").exists());
    p.velo_in(&p.b, &["sync"]);
    fs_err::write(
        p.b.join("velo.json"),
        manifest(
            "../index",
            &["tool-b", "tool-x"],
            json!({ "GREETING": "b" }),
            json!({}),
        ),
    )
    .unwrap();
    p.velo_in(&p.b, &["lock"]);
    backdate(&p.a);
    backdate(&p.b);

    let lines = vec![
        sh.load_hook(&p.activation(sh)),
        stderr_marker("missing"),
        format!("cd {}", quote(&p.a)),
        "true".to_string(),
        "true".to_string(),
        format!("cd {}", quote(&p.a.join("src/deep"))),
        sh.report("a"),
        "true".to_string(),
        format!("cd {}", quote(&p.outside)),
        stderr_marker("stale"),
        format!("cd {}", quote(&p.b)),
        "true".to_string(),
        sh.report("b"),
        "true".to_string(),
        format!("cd {}", quote(&p.outside)),
        stderr_marker("end"),
    ];
    let session = p.session(sh, &lines);
    let dump = session.dump();
    assert_eq!(sync_messages(&session.stderr_section("missing")), 1, "{dump}");
    assert_eq!(sync_messages(&session.stderr_section("stale")), 1, "{dump}");
    // Nothing is installed behind the user's back; the manifest's env still applies.
    assert!(!p.a.join(".velo").join("bin").exists(), "{dump}");
    assert_eq!(
        session.report("a"),
        p.expect(&[], &[("GREETING", Some("a")), ("ONLY_A", Some("1"))]),
        "{dump}"
    );
    assert_eq!(
        session.report("b"),
        p.expect(&[("tool-b", &p.b)], &[("GREETING", Some("b"))]),
        "{dump}"
    );
    assert!(!p.bin(&p.b, "tool-x").exists(), "{dump}");
}

per_shell!(sync_needed {
    Bash: bash_says_once_that_a_sync_is_needed,
    Zsh: zsh_says_once_that_a_sync_is_needed,
    Fish: fish_says_once_that_a_sync_is_needed,
});

/// The lock changes (as `git pull` changes it) just before a prompt: the message still comes
/// once. (The `sleep` only makes sure a later prompt comes when velo trusts the files' times;
/// before the fix the message comes at every prompt until then, and once more after.)
#[test]
fn sync_message_is_said_once_right_after_the_lock_changes() {
    let sh = Sh::Bash;
    if !available(sh.program()) {
        return;
    }
    let p = Projects::synced();
    let base = p.context.base();
    // What B's files will be after the "pull": another tool, locked.
    let old_manifest = fs_err::read(p.b.join("velo.json")).unwrap();
    let old_lock = fs_err::read(p.b.join("velo.lock")).unwrap();
    fs_err::write(
        p.b.join("velo.json"),
        manifest(
            "../index",
            &["tool-b", "tool-x"],
            json!({ "GREETING": "b" }),
            json!({}),
        ),
    )
    .unwrap();
    p.velo_in(&p.b, &["lock"]);
    fs_err::copy(p.b.join("velo.json"), base.join("pulled.json")).unwrap();
    fs_err::copy(p.b.join("velo.lock"), base.join("pulled.lock")).unwrap();
    fs_err::write(p.b.join("velo.json"), old_manifest).unwrap();
    fs_err::write(p.b.join("velo.lock"), old_lock).unwrap();
    backdate(&p.b);

    let lines = vec![
        sh.load_hook(&p.activation(sh)),
        format!("cd {}", quote(&p.b)),
        stderr_marker("pull"),
        format!(
            "cp {} {}; cp {} {}",
            quote(&base.join("pulled.json")),
            quote(&p.b.join("velo.json")),
            quote(&base.join("pulled.lock")),
            quote(&p.b.join("velo.lock"))
        ),
        "true".to_string(),
        "sleep 0.2".to_string(),
        "true".to_string(),
        "true".to_string(),
        stderr_marker("end"),
    ];
    let session = p.session(sh, &lines);
    assert_eq!(
        sync_messages(&session.stderr_section("pull")),
        1,
        "{}",
        session.dump()
    );
}

/// A locked but never synced project A: with auto-sync on, entering installs its tools.
fn auto_sync(sh: Sh, in_manifest: bool) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::new();
    if in_manifest {
        p.write_a(
            json!({ "GREETING": "a", "ONLY_A": "1" }),
            json!({ "auto_sync": true }),
        );
        p.trust(&p.a);
    } else {
        fs_err::write(
            p.context.config_dir.join("config.toml"),
            "# mine\nauto_sync = true\n",
        )
        .unwrap();
    }
    p.velo_in(&p.a, &["lock"]);
    assert!(!p.a.join(".velo").exists());
    backdate(&p.a);
    let lines = vec![
        sh.load_hook(&p.activation(sh)),
        format!("cd {}", quote(&p.a)),
        sh.report("a"),
        "printf '%s\\n' '@@ run'; tool-a --version".to_string(),
        format!("cd {}", quote(&p.outside)),
        sh.report("out"),
    ];
    let session = p.session(sh, &lines);
    let dump = session.dump();
    assert_eq!(
        session.report("a"),
        p.expect(
            &[("tool-a", &p.a)],
            &[("GREETING", Some("a")), ("ONLY_A", Some("1"))]
        ),
        "{dump}"
    );
    assert_eq!(session.section("run"), ["tool-a 1.0.0"], "{dump}");
    assert!(p.bin(&p.a, "tool-a").is_file(), "{dump}");
    assert!(p.a.join(".velo/state.json").is_file(), "{dump}");
    assert_eq!(sync_messages(&session.stderr()), 0, "{dump}");
    assert!(!session.stderr().contains("auto-sync failed"), "{dump}");
    assert_eq!(session.report("out"), p.expect(&[], &[]), "{dump}");
}

#[test]
fn bash_auto_sync_from_the_manifest() {
    auto_sync(Sh::Bash, true);
}

#[test]
fn zsh_auto_sync_from_the_manifest() {
    auto_sync(Sh::Zsh, true);
}

#[test]
fn fish_auto_sync_from_the_manifest() {
    auto_sync(Sh::Fish, true);
}

#[test]
fn bash_auto_sync_from_the_config() {
    auto_sync(Sh::Bash, false);
}

#[test]
fn zsh_auto_sync_from_the_config() {
    auto_sync(Sh::Zsh, false);
}

// --- 5. The manifest changes while inside ----------------------------------------------------

fn manifest_edited_inside(sh: Sh) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::synced();
    let edited = p.context.base().join("a-edited.json");
    fs_err::write(
        &edited,
        manifest(
            "../index",
            &["tool-a"],
            json!({ "GREETING": "a2", "NEW_VAR": "new" }),
            json!({}),
        ),
    )
    .unwrap();
    let lines = vec![
        sh.load_hook(&p.activation(sh)),
        env_dump("before"),
        format!("cd {}", quote(&p.a)),
        sh.report("a"),
        stderr_marker("edited"),
        format!("cp {} {}", quote(&edited), quote(&p.a.join("velo.json"))),
        sh.report("untrusted"),
        stderr_marker("trusting"),
        format!("{} trust", quote(Path::new(VELO))),
        sh.report("edited"),
        format!("cd {}", quote(&p.a.join("src/deep"))),
        sh.report("edited-sub"),
        format!("cd {}", quote(&p.outside)),
        sh.report("out"),
        env_dump("after"),
    ];
    let session = p.session(sh, &lines);
    let dump = session.dump();
    assert_eq!(
        session.report("a"),
        p.expect(
            &[("tool-a", &p.a)],
            &[("GREETING", Some("a")), ("ONLY_A", Some("1"))]
        ),
        "{dump}"
    );
    // A changed `env` is not trusted: the hook takes A's environment away and asks.
    assert_eq!(session.report("untrusted"), p.expect(&[], &[]), "{dump}");
    assert_eq!(
        session.stderr_section("edited").matches("is not trusted").count(),
        1,
        "{dump}"
    );
    let edited = p.expect(
        &[("tool-a", &p.a)],
        &[("GREETING", Some("a2")), ("NEW_VAR", Some("new"))],
    );
    assert_eq!(session.report("edited"), edited, "{dump}");
    assert_eq!(session.report("edited-sub"), edited, "{dump}");
    assert_eq!(session.report("out"), p.expect(&[], &[]), "{dump}");
    assert_eq!(session.env("after"), session.env("before"), "{dump}");
}

per_shell!(manifest_edited_inside {
    Bash: bash_manifest_edited_inside_asks_again_then_left,
    Zsh: zsh_manifest_edited_inside_asks_again_then_left,
    Fish: fish_manifest_edited_inside_asks_again_then_left,
});

/// A shell variable the user set without exporting it, which a project also sets: after a
/// visit it is back, and still not exported.
fn keeps_unexported_variables(sh: Sh) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::synced();
    let lines = vec![
        sh.load_hook(&p.activation(sh)),
        match sh {
            Sh::Bash | Sh::Zsh => "ONLY_A=mine".to_string(),
            Sh::Fish => "set -g ONLY_A mine".to_string(),
        },
        format!("cd {}", quote(&p.a)),
        sh.report("a"),
        format!("cd {}", quote(&p.outside)),
        sh.report("out"),
        env_dump("env"),
    ];
    let session = p.session(sh, &lines);
    let dump = session.dump();
    assert_eq!(session.report("a")["ONLY_A"], "1", "{dump}");
    assert_eq!(
        session.report("out"),
        p.expect(&[], &[("ONLY_A", Some("mine"))]),
        "{dump}"
    );
    assert!(
        !session.env("env").iter().any(|line| line.starts_with("ONLY_A=")),
        "{dump}"
    );
}

per_shell!(keeps_unexported_variables {
    Bash: bash_keeps_unexported_variables,
    Zsh: zsh_keeps_unexported_variables,
    Fish: fish_keeps_unexported_variables,
});

// --- 6. velo shell ---------------------------------------------------------------------------

#[test]
fn velo_shell_runs_the_shell_in_the_project_environment() {
    if !available("bash") {
        return;
    }
    let p = Projects::synced();
    let mut command = clean_command(&p.context, VELO);
    command
        .current_dir(p.a.join("src/deep"))
        .args(["shell", "--shell", "bash"]);
    let output = run_with_stdin(
        command,
        "command -v tool-a; echo \"$GREETING\"; tool-a --version; exit 3\n".to_string(),
    );
    let session = Session::new(output);
    assert_eq!(session.output.status.code(), Some(3), "{}", session.dump());
    assert_eq!(
        String::from_utf8_lossy(&session.output.stdout),
        format!("{}\na\ntool-a 1.0.0\n", p.bin(&p.a, "tool-a").display()),
        "{}",
        session.dump()
    );
}

// --- 7. direnv -------------------------------------------------------------------------------

/// `direnv` with velo's `use velo` library installed in its own config dirs (under the test's
/// base) and `.envrc` saying `use velo` in `dir`: run with arguments, asserted to succeed.
fn direnv_with_use_velo<'a>(p: &'a Projects, dir: &Path) -> impl Fn(&[&str]) -> std::process::Output + 'a {
    let base = p.context.base();
    let config = base.join("xdg-config");
    let direnv_config = config.join("direnv");
    let library = p.context.run(["direnv"]);
    assert_success(&library);
    fs_err::create_dir_all(direnv_config.join("lib")).unwrap();
    fs_err::write(direnv_config.join("lib").join("use_velo.sh"), &library.stdout).unwrap();
    fs_err::write(dir.join(".envrc"), "use velo\n").unwrap();
    move |args: &[&str]| {
        let output = clean_command(&p.context, "direnv")
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_DATA_HOME", base.join("xdg-data"))
            .env("XDG_CACHE_HOME", base.join("xdg-cache"))
            .env("DIRENV_CONFIG", &direnv_config)
            .current_dir(&p.outside)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "direnv {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

#[test]
fn direnv_use_velo() {
    if !available("direnv") {
        return;
    }
    let p = Projects::synced();
    let direnv = direnv_with_use_velo(&p, &p.a);
    let a = p.a.display().to_string();
    direnv(&["allow", &a]);
    let output = direnv(&[
        "exec",
        &a,
        "sh",
        "-c",
        "command -v tool-a; echo \"$GREETING\"; echo \"$ONLY_A\"",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{}\na\n1\n", p.bin(&p.a, "tool-a").display()),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// --- 8. Interactive, under tmux --------------------------------------------------------------

/// A tmux server on a private socket (in the test's temp dir, so nothing is left behind), killed
/// when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Start `argv` in a detached 200x50 session.
    fn start(socket: PathBuf, argv: &[String]) -> Tmux {
        let tmux = Tmux { socket };
        let output = tmux
            .command()
            .args(["new-session", "-d", "-s", "velo", "-x", "200", "-y", "50"])
            .args(argv)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .env_remove("TMUX")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"]);
        command
    }

    /// Type `text` and press Enter.
    fn send(&self, text: &str) {
        for args in [
            &["send-keys", "-t", "velo", "-l", text][..],
            &["send-keys", "-t", "velo", "Enter"],
        ] {
            let output = self.command().args(args).output().unwrap();
            assert!(
                output.status.success(),
                "tmux send-keys: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    fn capture(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-J", "-t", "velo"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Poll the pane (up to 10 s) until a line equals `line`.
    fn wait_for(&self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pane = self.capture();
            if pane.lines().any(|l| l.trim_end() == line) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the pane never showed {line:?}:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .command()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn interactive(sh: Sh) {
    if !available("tmux") || !available(sh.program()) {
        return;
    }
    let p = Projects::synced();
    let base = p.context.base();
    let velo = quote(Path::new(VELO));
    let mut argv: Vec<String> = vec!["env".into(), "-i".into()];
    for (key, value) in [
        ("HOME", p.context.home.display().to_string()),
        ("PATH", SYSTEM_PATH.to_string()),
        ("TERM", "screen".to_string()),
        ("VELO_CACHE_DIR", p.context.cache_dir.display().to_string()),
        ("VELO_CONFIG_DIR", p.context.config_dir.display().to_string()),
        ("VELO_PLATFORM", HOST.to_string()),
        ("GREETING", "original".to_string()),
    ] {
        argv.push(format!("{key}={value}"));
    }
    // As a user's rc file would: `eval`/`source` what `velo activate` prints.
    match sh {
        Sh::Bash => {
            let rc = base.join("bashrc");
            fs_err::write(
                &rc,
                format!("PS1='$ '\neval \"$({velo} activate bash)\"\necho READY\n"),
            )
            .unwrap();
            argv.extend([
                "bash".into(),
                "--rcfile".into(),
                rc.display().to_string(),
                "-i".into(),
            ]);
        }
        Sh::Zsh => {
            let zdotdir = base.join("zdotdir");
            fs_err::create_dir_all(&zdotdir).unwrap();
            fs_err::write(
                zdotdir.join(".zshrc"),
                format!("PS1='%% '\neval \"$({velo} activate zsh)\"\necho READY\n"),
            )
            .unwrap();
            argv.push(format!("ZDOTDIR={}", zdotdir.display()));
            argv.extend(["zsh".into(), "-d".into(), "-i".into()]);
        }
        Sh::Fish => {
            argv.extend([
                "fish".into(),
                "--no-config".into(),
                "--init-command".into(),
                format!("{velo} activate fish | source; echo READY"),
            ]);
        }
    }
    let socket = base.join("tmux.sock");
    let tmux = Tmux::start(socket, &argv);
    tmux.wait_for("READY");

    let probe = match sh {
        Sh::Bash | Sh::Zsh => "echo TOOL=$(command -v tool-a || echo none) G=$GREETING P=$PATH",
        Sh::Fish => "echo TOOL=(command -s tool-a; or echo none) G=$GREETING P=\"$PATH\"",
    };
    tmux.send(&format!("cd {}", quote(&p.a)));
    tmux.send(probe);
    tmux.wait_for(&format!(
        "TOOL={} G=a P={}:{SYSTEM_PATH}",
        p.bin(&p.a, "tool-a").display(),
        p.a.join(".velo/bin").display()
    ));
    tmux.send(&format!("cd {}", quote(&p.outside)));
    tmux.send(probe);
    tmux.wait_for(&format!("TOOL=none G=original P={SYSTEM_PATH}"));
}

per_shell!(interactive {
    Bash: bash_interactive_under_tmux,
    Zsh: zsh_interactive_under_tmux,
    Fish: fish_interactive_under_tmux,
});

// --- 9. Trust --------------------------------------------------------------------------------

/// A cloned repository `hostile` (locked, never synced) whose manifest would run code at the
/// next prompt (`PROMPT_COMMAND`), shadow `ls` with its own `./tools/ls`, change `GREETING`
/// and sync on `cd`. Each of those leaves a file in `marks` when it happens.
struct Hostile {
    dir: PathBuf,
    marks: PathBuf,
}

impl Hostile {
    fn new(p: &Projects) -> Self {
        let base = p.context.base();
        let dir = base.join("hostile");
        let marks = base.join("marks");
        fs_err::create_dir_all(dir.join("tools")).unwrap();
        fs_err::create_dir_all(&marks).unwrap();
        let ls = dir.join("tools").join("ls");
        fs_err::write(&ls, format!("#!/bin/sh\ntouch {}\n", quote(&marks.join("ls")))).unwrap();
        fs_err::set_permissions(&ls, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = json!({
            "PROMPT_COMMAND": format!("touch {}", quote(&marks.join("prompt"))),
            "PATH": ["./tools"],
            "GREETING": "hostile",
        });
        fs_err::write(
            dir.join("velo.json"),
            manifest("../index", &["tool-a"], env, json!({ "auto_sync": true })),
        )
        .unwrap();
        p.velo_in(&dir, &["lock"]);
        backdate(&dir);
        Self { dir, marks }
    }

    fn marks(&self) -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(&self.marks)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Entering a repository nobody trusted changes no variable, puts nothing on PATH, runs no
/// `PROMPT_COMMAND` and syncs nothing; it says so once per entry, and plain prompts inside it
/// start no process. After `velo trust` the same session gets all of it.
fn untrusted_applies_nothing(sh: Sh) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::new();
    let hostile = Hostile::new(&p);
    let log = p.context.base().join("velo-calls.log");
    let activation = p.counting_activation(sh, &log);
    let mark = |label: &str| format!("printf '%s\\n' '#{label}' >> {}", quote(&log));
    let lines = vec![
        sh.load_hook(&activation),
        env_dump("before"),
        stderr_marker("enter"),
        mark("enter"),
        format!("cd {}", quote(&hostile.dir)),
        "true".to_string(),
        "ls >/dev/null".to_string(),
        "true".to_string(),
        sh.report("inside"),
        env_dump("inside-env"),
        mark("inside"),
        format!("cd {}", quote(&hostile.dir.join("tools"))),
        "true".to_string(),
        format!("cd {}", quote(&p.outside)),
        stderr_marker("again"),
        format!("cd {}", quote(&hostile.dir)),
        "true".to_string(),
        format!("cd {}", quote(&p.outside)),
        env_dump("after"),
        format!(
            "printf '%s\\n' '@@ marks'; /bin/sh -c {}",
            quote(Path::new(&format!(
                "ls -A {}; test -e {} && echo synced",
                hostile.marks.display(),
                hostile.dir.join(".velo").display()
            )))
        ),
        stderr_marker("trusted"),
        mark("trust"),
        format!("{} -C {} trust -q", quote(Path::new(VELO)), quote(&hostile.dir)),
        format!("cd {}", quote(&hostile.dir)),
        "true".to_string(),
        "ls >/dev/null".to_string(),
        sh.report("trusted"),
        format!("cd {}", quote(&p.outside)),
    ];
    let session = p.session(sh, &lines);
    let dump = session.dump();

    assert_eq!(session.report("inside"), p.expect(&[], &[]), "{dump}");
    let before = session.env("before");
    assert_eq!(session.env("inside-env"), before, "{dump}");
    assert_eq!(session.env("after"), before, "{dump}");
    for phase in ["enter", "again"] {
        let said = session.stderr_section(phase);
        let expected = format!(
            "velo: `{}` is not trusted; run `velo trust` to activate it",
            hostile.dir.display()
        );
        assert_eq!(said.matches(&expected).count(), 1, "{phase}\n{dump}");
    }
    assert_eq!(sync_messages(&session.stderr_section("enter")), 0, "{dump}");
    // No prompt command ran, the repository's `ls` did not, and nothing was synced.
    assert_eq!(session.section("marks"), [] as [&str; 0], "{dump}");

    // Entering once starts one `velo hook-env`; the prompts inside start none.
    let log_text = fs_err::read_to_string(&log).unwrap();
    let calls: Vec<&str> = log_text
        .split("#inside")
        .next()
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect();
    assert_eq!(calls.len(), 1, "{log_text}");

    // Trusted, the repository gets what it asked for, which shows the checks above can fail.
    let trusted = session.report("trusted");
    assert_eq!(trusted["GREETING"], "hostile", "{dump}");
    assert_eq!(
        trusted["tool-a"],
        p.bin(&hostile.dir, "tool-a").display().to_string(),
        "{dump}"
    );
    let mut expected_marks = vec!["ls".to_string()];
    if sh == Sh::Bash {
        expected_marks.push("prompt".to_string());
    }
    assert_eq!(hostile.marks(), expected_marks, "{dump}");
}

per_shell!(untrusted_applies_nothing {
    Bash: bash_untrusted_project_applies_nothing_until_trusted,
    Zsh: zsh_untrusted_project_applies_nothing_until_trusted,
    Fish: fish_untrusted_project_applies_nothing_until_trusted,
});

/// A trusted project's values reach the shell byte for byte, whatever they hold: quotes,
/// newlines, `$(…)`, backticks, and what fish treats specially. Nothing in them runs.
fn hostile_values(sh: Sh) {
    if !available(sh.program()) {
        return;
    }
    let p = Projects::new();
    let marks = p.context.base().join("marks");
    fs_err::create_dir_all(&marks).unwrap();
    let m = |name: &str| marks.join(name).display().to_string();
    let value = format!(
        "a'b\"c $(touch {}) `touch {}` $HOME \\ \\' \\\\ '\\''\n; touch {} | & # % * ? ~ {{x,y}} (touch {}) $status end\t!",
        m("dollar"),
        m("backtick"),
        m("newline"),
        m("fish")
    );
    p.write_a(json!({ "HOSTILE": value, "GREETING": "a" }), json!({}));
    p.trust(&p.a);
    backdate(&p.a);
    let out = p.context.base().join("value.txt");
    let lines = vec![
        sh.load_hook(&p.activation(sh)),
        format!("cd {}", quote(&p.a)),
        format!("printf '%s' \"$HOSTILE\" > {}", quote(&out)),
        format!("cd {}", quote(&p.outside)),
        match sh {
            Sh::Bash | Sh::Zsh => "printf '%s\\n' '@@ left' \"${HOSTILE-<unset>}\"".to_string(),
            Sh::Fish => "printf '%s\\n' '@@ left'; set -q HOSTILE; or echo '<unset>'".to_string(),
        },
    ];
    let session = p.session(sh, &lines);
    let dump = session.dump();
    assert_eq!(fs_err::read_to_string(&out).unwrap(), value, "{dump}");
    assert_eq!(session.section("left"), ["<unset>"], "{dump}");
    assert_eq!(fs_err::read_dir(&marks).unwrap().count(), 0, "{dump}");
}

per_shell!(hostile_values {
    Bash: bash_hostile_values_arrive_intact_and_run_nothing,
    Zsh: zsh_hostile_values_arrive_intact_and_run_nothing,
    Fish: fish_hostile_values_arrive_intact_and_run_nothing,
});

/// direnv's `use velo` is velo's hook too: `direnv allow` trusts the `.envrc`, but the
/// project's environment comes only after `velo trust`, and again only after a change to it
/// is trusted.
#[test]
fn direnv_use_velo_waits_for_velo_trust() {
    if !available("direnv") {
        return;
    }
    let p = Projects::synced();
    let hostile = Hostile::new(&p);
    let direnv = direnv_with_use_velo(&p, &hostile.dir);
    let dir = hostile.dir.display().to_string();
    direnv(&["allow", &dir]);
    let probe = ["exec", &dir, "sh", "-c", "echo \"$GREETING\"; command -v ls"];
    let output = direnv(&probe);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "original\n/usr/bin/ls\n",
        "stderr: {}",
        stderr(&output)
    );
    assert_contains(&stderr(&output), "is not trusted; run `velo trust`");
    assert!(
        !hostile.dir.join(".velo").exists(),
        "direnv synced an untrusted project"
    );

    p.velo_in(&hostile.dir, &["trust"]);
    let output = direnv(&probe);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("hostile\n{}\n", hostile.dir.join("tools/ls").display()),
        "stderr: {}",
        stderr(&output)
    );
}

//! Running a task's command: through the shell, in its own process group, with stdout and
//! stderr captured through one pipe (so the log keeps their true order) and echoed line by line
//! with the task's label in front. Whole lines go out under the stdout lock, so the output of
//! tasks running side by side never mixes within a line.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anstyle::{AnsiColor, Style};

/// A line longer than this is printed in pieces rather than held back.
const MAX_LINE: usize = 64 * 1024;
/// How long output may keep coming after the command exits, from processes it left running
/// in the background that still hold its stdout.
const DRAIN: Duration = Duration::from_secs(2);

/// Where task output goes: stdout, each line after a coloured `label: `.
#[derive(Debug, Clone)]
pub struct Echo {
    pub prefix: String,
    pub style: Style,
    /// `false` with `--quiet`: output is still captured for the cache, not printed.
    pub enabled: bool,
}

impl Echo {
    pub fn new(label: &str, enabled: bool) -> Self {
        const PALETTE: [AnsiColor; 6] = [
            AnsiColor::Cyan,
            AnsiColor::Magenta,
            AnsiColor::Green,
            AnsiColor::Yellow,
            AnsiColor::Blue,
            AnsiColor::Red,
        ];
        let index = label
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        Self {
            prefix: format!("{label}: "),
            style: Style::new().fg_color(Some(PALETTE[index % PALETTE.len()].into())),
            enabled,
        }
    }

    /// Print one line (without its newline) with the prefix, in a single write.
    pub fn line(&self, line: &[u8]) {
        if !self.enabled {
            return;
        }
        let style = self.style;
        let mut out = Vec::with_capacity(self.prefix.len() + line.len() + 16);
        let _ = write!(out, "{style}{}{style:#}", self.prefix);
        out.extend_from_slice(line);
        out.push(b'\n');
        let mut stdout = anstream::stdout().lock();
        let _ = stdout.write_all(&out);
        let _ = stdout.flush();
    }

    /// Print a whole captured log, which may come from someone else's cache: its colours, but
    /// no other control sequence ([`crate::escape::colours_only`]).
    pub fn replay(&self, log: &[u8]) {
        let mut lines = Lines::default();
        lines.push(&crate::escape::colours_only(log), |line| self.line(line));
        lines.finish(|line| self.line(line));
    }
}

/// Splits a byte stream into lines.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    fn push(&mut self, mut bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                emit_chunked(trim_cr(&bytes[..end]), &mut emit);
            } else {
                self.pending.extend_from_slice(&bytes[..end]);
                emit_chunked(trim_cr(&self.pending), &mut emit);
                self.pending.clear();
            }
            bytes = &bytes[end + 1..];
        }
        self.pending.extend_from_slice(bytes);
        // A very long line goes out in pieces of exactly `MAX_LINE` bytes, as a replay cuts it.
        if self.pending.len() >= MAX_LINE {
            let whole = self.pending.len() - self.pending.len() % MAX_LINE;
            emit_chunked(&self.pending[..whole], &mut emit);
            self.pending.drain(..whole);
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit_chunked(trim_cr(&self.pending), &mut emit);
            self.pending.clear();
        }
    }
}

fn emit_chunked(line: &[u8], emit: &mut impl FnMut(&[u8])) {
    if line.is_empty() {
        emit(line);
    }
    for piece in line.chunks(MAX_LINE) {
        emit(piece);
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The process groups of running tasks, so a Ctrl-C can be passed on to all of them.
#[derive(Debug, Default)]
pub struct Children {
    groups: Mutex<HashSet<u32>>,
    interrupted: AtomicBool,
}

impl Children {
    /// Pass an interruption on to every running task, or kill them all when `kill`.
    pub fn interrupt(&self, kill: bool) {
        self.interrupted.store(true, Ordering::SeqCst);
        let signal = if kill { KILL } else { INTERRUPT };
        for &pid in self.groups.lock().unwrap().iter() {
            signal_group(pid, signal);
        }
    }

    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
}

#[cfg(unix)]
const INTERRUPT: i32 = libc::SIGINT;
#[cfg(unix)]
const KILL: i32 = libc::SIGKILL;
#[cfg(not(unix))]
const INTERRUPT: i32 = 2;
#[cfg(not(unix))]
const KILL: i32 = 9;

#[cfg(unix)]
fn signal_group(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid names the process group.
    unsafe {
        libc::kill(-(pid as i32), signal);
    }
}

#[cfg(not(unix))]
fn signal_group(_pid: u32, _signal: i32) {}

/// Run `command` through the shell in `cwd` with exactly `env`, echoing its output. Returns its
/// exit status, everything it wrote to stdout and stderr, and whether background processes it
/// left kept writing past the drain time (the log then stops there).
pub async fn run(
    command: &str,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    echo: Echo,
    children: &Arc<Children>,
) -> std::io::Result<(ExitStatus, Vec<u8>, bool)> {
    let (mut reader, writer) = std::io::pipe()?;
    let mut process = shell_command(command);
    process
        .current_dir(cwd)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .kill_on_drop(true);
    #[cfg(unix)]
    process.process_group(0);
    let mut child = process.spawn()?;
    // The pipe's write ends now live only in the child: the reader sees EOF when it exits.
    drop(process);
    let pid = child.id();
    if let Some(pid) = pid {
        children.groups.lock().unwrap().insert(pid);
    }
    let abandoned = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut reading = {
        let abandoned = abandoned.clone();
        let log = log.clone();
        tokio::task::spawn_blocking(move || {
            let mut lines = Lines::default();
            let mut buffer = vec![0; 64 * 1024];
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(_) if abandoned.load(Ordering::SeqCst) => return,
                    Ok(n) => {
                        log.lock().unwrap().extend_from_slice(&buffer[..n]);
                        lines.push(&buffer[..n], |line| echo.line(line));
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            lines.finish(|line| echo.line(line));
        })
    };
    let status = child.wait().await;
    if let Some(pid) = pid {
        children.groups.lock().unwrap().remove(&pid);
        if children.is_interrupted() {
            // Whatever the task left running goes too.
            signal_group(pid, KILL);
        }
    }
    let status = status?;
    let drained = tokio::time::timeout(DRAIN, &mut reading).await.is_ok();
    abandoned.store(true, Ordering::SeqCst);
    let log = std::mem::take(&mut *log.lock().unwrap());
    Ok((status, log, !drained))
}

#[cfg(unix)]
fn shell_command(command: &str) -> tokio::process::Command {
    let mut process = tokio::process::Command::new("sh");
    process.arg("-c").arg(command);
    process
}

#[cfg(not(unix))]
fn shell_command(command: &str) -> tokio::process::Command {
    let mut process = tokio::process::Command::new("cmd");
    process.arg("/C").arg(command);
    process
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_joined_across_reads() {
        let mut lines = Lines::default();
        let mut seen: Vec<String> = Vec::new();
        let mut emit = |l: &[u8]| seen.push(String::from_utf8_lossy(l).into_owned());
        lines.push(b"one\ntw", &mut emit);
        lines.push(b"o\r\nthr", &mut emit);
        lines.finish(&mut emit);
        assert_eq!(seen, ["one", "two", "thr"]);
    }
}

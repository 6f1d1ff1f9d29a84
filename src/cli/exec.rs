//! `velo exec`.

use std::ffi::OsString;
use std::process::ExitCode;

use super::sync::{ensure_synced, SyncMode};
use super::Context;
use crate::error::Error;
use crate::manifest::Project;
use crate::ops;

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The command to run and its arguments, after `--`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

/// Exit codes a shell uses when a command cannot run.
const NOT_FOUND: u8 = 127;
const NOT_EXECUTABLE: u8 = 126;

pub async fn run(args: ExecArgs, context: &Context) -> Result<ExitCode, Error> {
    let root = ensure_synced(context, SyncMode::Update, false).await?;
    let project = Project::load(&root)?;
    let allowed = &context.settings.config.expand_env;
    let bin = ops::sync::bin_dir(&root, &context.settings.cache);
    let env = ops::env::project_env(
        &root,
        &project.manifest,
        &ops::env::current_env(),
        bin.as_deref(),
        allowed,
    )?;
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let mut command = std::process::Command::new(program);
    command.args(rest).envs(&env);
    let error = run_command(command);
    let program = program.to_string_lossy();
    let (code, message) = match error.kind() {
        std::io::ErrorKind::NotFound => (
            NOT_FOUND,
            format!("command `{program}` not found in the project's `.velo/bin` or on PATH"),
        ),
        std::io::ErrorKind::PermissionDenied => {
            (NOT_EXECUTABLE, format!("`{program}` cannot be executed: {error}"))
        }
        _ => (NOT_EXECUTABLE, format!("failed to run `{program}`: {error}")),
    };
    let hint = (code == NOT_FOUND).then(|| {
        let commands: Vec<String> = ops::sync::installed_commands(&root, &context.settings.cache)
            .into_keys()
            .collect();
        match crate::suggest::closest(&program, commands.iter().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "`velo list` shows the installed packages and their commands".to_string(),
        }
    });
    context.printer.error(&Error::usage(message, hint));
    Ok(ExitCode::from(code))
}

/// Replace this process with the command, so its exit status and signals are its own.
/// Returns only when that fails.
#[cfg(unix)]
fn run_command(mut command: std::process::Command) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    command.exec()
}

/// Without `exec`, run the command and exit with its code.
#[cfg(not(unix))]
fn run_command(mut command: std::process::Command) -> std::io::Error {
    match command.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => err,
    }
}

//! `velo shell`.

use std::process::ExitCode;

use super::sync::{ensure_synced, SyncMode};
use super::Context;
use crate::error::Error;
use crate::manifest::Project;
use crate::ops;
use crate::shell::Shell;

#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// The shell to start (default: `$SHELL`, else bash).
    #[arg(long, value_enum)]
    shell: Option<Shell>,
}

pub async fn run(args: ShellArgs, context: &Context) -> Result<ExitCode, Error> {
    let root = ensure_synced(context, SyncMode::Update, false).await?;
    let project = Project::load(&root)?;
    let current = ops::env::current_env();
    let vars = ops::env::project_env(
        &root,
        &project.manifest,
        &current,
        ops::sync::bin_dir(&root, &context.settings.cache).as_deref(),
        &context.settings.config.expand_env,
    )?;
    let program = match args.shell {
        Some(Shell::Bash) => "bash".to_string(),
        Some(Shell::Zsh) => "zsh".to_string(),
        Some(Shell::Fish) => "fish".to_string(),
        None => std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "bash".to_string()),
    };
    context.printer.status(
        "Entering",
        format!("{program} with `{}` active; `exit` to leave", root.display()),
    );
    let mut command = std::process::Command::new(&program);
    // Tell an installed hook the project is already active, so it does not apply it twice.
    command.envs(&vars).env("__VELO_ROOT", &root);
    let status = command.status().map_err(|source| Error::Io {
        path: program.into(),
        source,
    })?;
    Ok(ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8))
}

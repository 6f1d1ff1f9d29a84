//! `velo env`.

use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::ops;
use crate::shell::{self, Shell};

#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// The shell to print commands for (default: from `$SHELL`, else bash).
    #[arg(long, value_enum, conflicts_with = "json")]
    shell: Option<Shell>,

    /// Print the variables as a JSON object instead.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EnvArgs, context: &Context) -> Result<ExitCode, Error> {
    let project = context.project()?;
    if let Some(host) = context.settings.host {
        if !ops::sync::is_fresh(&project.root, host, false, &context.settings.cache) {
            context
                .printer
                .warn("`.velo` is not in sync with `velo.json` and `velo.lock`; run `velo sync`");
        }
    }
    let allowed = &context.settings.config.expand_env;
    let env = ops::env::project_env(
        &project.root,
        &project.manifest,
        &ops::env::current_env(),
        ops::sync::bin_dir(&project.root, &context.settings.cache).as_deref(),
        allowed,
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&env).expect("a map of strings serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let shell = args.shell.unwrap_or_else(Shell::from_env);
    print!("{}", shell::export_script(shell, &env));
    Ok(ExitCode::SUCCESS)
}

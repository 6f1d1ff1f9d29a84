//! `velo env`.

use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::ops;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

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
        if !ops::sync::is_fresh(&project.root, host, false) {
            context
                .printer
                .warn("`.velo` is not in sync with `velo.json` and `velo.lock`; run `velo sync`");
        }
    }
    let env = ops::env::project_env(&project.root, &project.manifest, &ops::env::current_env());
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&env).expect("a map of strings serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let shell = args.shell.unwrap_or_else(shell_from_env);
    print!("{}", render(shell, &env));
    Ok(ExitCode::SUCCESS)
}

fn shell_from_env() -> Shell {
    let shell = std::env::var("SHELL").unwrap_or_default();
    match shell.rsplit('/').next() {
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        _ => Shell::Bash,
    }
}

/// Commands that set `env` in `shell`, one per line.
pub fn render(shell: Shell, env: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (name, value) in env {
        match shell {
            Shell::Bash | Shell::Zsh => {
                out.push_str(&format!("export {name}={}\n", crate::install::shell_quote(value)))
            }
            Shell::Fish if name == "PATH" => {
                let parts: Vec<String> = value.split(':').map(fish_quote).collect();
                out.push_str(&format!("set -gx PATH {}\n", parts.join(" ")));
            }
            Shell::Fish => out.push_str(&format!("set -gx {name} {}\n", fish_quote(value))),
        }
    }
    out
}

/// Quote for fish: single quotes, with `\` and `'` escaped.
fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

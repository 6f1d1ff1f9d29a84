//! `velo which`.

use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::install::Layout;
use crate::manifest::find_project_root;
use crate::ops;

#[derive(Debug, clap::Args)]
pub struct WhichArgs {
    /// A command from the project's `.velo/bin`.
    #[arg(value_name = "EXE")]
    command: String,
}

pub fn run(args: WhichArgs, context: &Context) -> Result<ExitCode, Error> {
    let root = find_project_root(&context.cwd)?;
    let commands = ops::sync::installed_commands(&root, &context.settings.cache);
    let Some((name, version, target)) = commands.get(&args.command) else {
        let hint = match crate::suggest::closest(&args.command, commands.keys().map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None if commands.is_empty() => "run `velo sync` to install the project's packages".to_string(),
            None => "`velo list` shows the installed packages and their commands".to_string(),
        };
        return Err(Error::Lookup {
            message: format!("`{}` is not provided by any installed package", args.command),
            hint,
        });
    };
    let path = Layout::new(&root).package_dir(name, version).join(&target.path);
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

//! `velo activate`.

use std::process::ExitCode;

use crate::error::Error;
use crate::shell::{self, Shell};

#[derive(Debug, clap::Args)]
pub struct ActivateArgs {
    /// The shell to print the hook for.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: ActivateArgs) -> Result<ExitCode, Error> {
    print!("{}", shell::activation_script(args.shell, &current_exe()?));
    Ok(ExitCode::SUCCESS)
}

/// This velo's path, so hooks and shims call the same binary whatever `PATH` holds later.
pub(super) fn current_exe() -> Result<std::path::PathBuf, Error> {
    std::env::current_exe().map_err(|source| Error::Io {
        path: "velo".into(),
        source,
    })
}

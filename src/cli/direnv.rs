//! `velo direnv`.

use std::process::ExitCode;

use crate::error::Error;

pub fn run() -> Result<ExitCode, Error> {
    print!(
        "{}",
        crate::shell::direnv_script(&super::activate::current_exe()?)
    );
    Ok(ExitCode::SUCCESS)
}

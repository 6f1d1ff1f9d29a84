//! `velo lock`.

use std::process::ExitCode;
use std::time::Instant;

use super::Context;
use crate::error::Error;
use crate::lock::{Lock, LOCK_FILE};
use crate::manifest::{Manifest, Project};
use crate::ops::lock::{self, LockChange, LockResult, Upgrade};

#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Check that `velo.lock` matches `velo.json` without writing anything; exit 1 if not.
    #[arg(long, conflicts_with_all = ["upgrade", "upgrade_package"])]
    check: bool,

    /// Move every package to the newest version the requirements allow.
    #[arg(long, conflicts_with = "upgrade_package")]
    upgrade: bool,

    /// Move only this package (repeatable); the rest keep their locked versions.
    #[arg(long, value_name = "NAME")]
    upgrade_package: Vec<String>,
}

pub async fn run(args: LockArgs, context: &Context) -> Result<ExitCode, Error> {
    let project = context.project()?;
    if args.check {
        lock::check(&project)?;
        context
            .printer
            .status("Checked", format!("`{LOCK_FILE}` is up to date"));
        return Ok(ExitCode::SUCCESS);
    }
    let upgrade = if args.upgrade {
        Upgrade::All
    } else if !args.upgrade_package.is_empty() {
        check_upgrade_names(&project, &args.upgrade_package)?;
        Upgrade::Packages(args.upgrade_package)
    } else {
        Upgrade::None
    };
    let result = lock_and_write(&project, &project.manifest, context, &upgrade).await?;
    if result.up_to_date {
        let count = result.lock.packages.len();
        let packages = if count == 1 { "package" } else { "packages" };
        context.printer.status(
            "Checked",
            format!("{count} {packages}; `{LOCK_FILE}` is up to date"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--upgrade-package` names must be locked packages.
fn check_upgrade_names(project: &Project, names: &[String]) -> Result<(), Error> {
    let existing = Lock::read(&project.lock_path()).ok().flatten();
    let locked: Vec<&str> = existing
        .iter()
        .flat_map(|lock| lock.packages.keys().map(String::as_str))
        .collect();
    for name in names {
        if !locked.contains(&name.as_str()) {
            return Err(Error::usage(
                format!("`{name}` is not in `velo.lock`, so it cannot be upgraded"),
                crate::suggest::closest(name, locked.iter().copied())
                    .map(|best| format!("did you mean `{best}`?")),
            ));
        }
    }
    Ok(())
}

/// Lock `manifest`, report what changed, and write the lock if its content changed.
pub(super) async fn lock_and_write(
    project: &Project,
    manifest: &Manifest,
    context: &Context,
    upgrade: &Upgrade,
) -> Result<LockResult, Error> {
    let result = solve(project, manifest, context, upgrade).await?;
    write(project, &result, context)?;
    Ok(result)
}

/// Lock `manifest` and report what changed, without writing.
pub(super) async fn solve(
    project: &Project,
    manifest: &Manifest,
    context: &Context,
    upgrade: &Upgrade,
) -> Result<LockResult, Error> {
    let printer = &context.printer;
    let start = Instant::now();
    let result = lock::lock(project, manifest, &context.settings, upgrade).await?;
    for warning in &result.warnings {
        printer.warn(warning);
    }
    if result.up_to_date {
        return Ok(result);
    }
    let count = result.lock.packages.len();
    let packages = if count == 1 { "package" } else { "packages" };
    printer.status(
        "Resolved",
        format!("{count} {packages} in {}ms", start.elapsed().as_millis()),
    );
    for change in result.changes.iter().filter(|_| result.had_lock) {
        match change {
            LockChange::Added { name, version } => printer.status("Adding", format!("{name} {version}")),
            LockChange::Updated { name, from, to } => {
                printer.status("Updating", format!("{name} {from} -> {to}"))
            }
            LockChange::Removed { name, version } => printer.status("Removing", format!("{name} {version}")),
        }
    }
    Ok(result)
}

pub(super) fn write(project: &Project, result: &LockResult, context: &Context) -> Result<(), Error> {
    if result.lock.write_if_changed(&project.lock_path())? {
        context
            .printer
            .debug(format!("wrote `{}`", project.lock_path().display()));
    }
    Ok(())
}

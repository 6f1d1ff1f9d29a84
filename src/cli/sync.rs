//! `velo sync`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::progress::Progress;
use super::Context;
use crate::error::Error;
use crate::lock::{Lock, LOCK_FILE};
use crate::manifest::{find_project_root, Project};
use crate::ops;
use crate::ops::lock::Upgrade;
use crate::store::LinkMode;

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Fail if `velo.lock` is out of date with `velo.json` instead of updating it (for CI).
    #[arg(long, conflicts_with = "frozen")]
    locked: bool,

    /// Install `velo.lock` exactly as it is, without comparing it to `velo.json`.
    #[arg(long)]
    frozen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Update the lock first when it is stale.
    Update,
    /// Fail when the lock is stale.
    Locked,
    /// Install the lock as it is.
    Frozen,
}

pub async fn run(args: SyncArgs, context: &Context) -> Result<ExitCode, Error> {
    let mode = if args.frozen {
        SyncMode::Frozen
    } else if args.locked {
        SyncMode::Locked
    } else {
        SyncMode::Update
    };
    ensure_synced(context, mode, true).await?;
    Ok(ExitCode::SUCCESS)
}

/// Bring `.velo/` up to date and return the project root. `report_noop` prints a line even
/// when there was nothing to do.
pub(super) async fn ensure_synced(
    context: &Context,
    mode: SyncMode,
    report_noop: bool,
) -> Result<PathBuf, Error> {
    let root = find_project_root(&context.cwd)?;
    let printer = &context.printer;
    let host = ops::sync::require_host(&context.settings)?;
    if ops::sync::is_fresh(&root, host, mode == SyncMode::Frozen, &context.settings.cache) {
        if report_noop {
            printer.status("Checked", "`.velo` is up to date");
        }
        return Ok(root);
    }
    // What this sync starts from: the manifest's digest before solving, and the lock's from
    // the very text that is installed, so a change made while it runs leaves the next sync
    // something to do.
    let manifest_digest = (mode != SyncMode::Frozen)
        .then(|| ops::sync::digest_file(&root.join(crate::manifest::MANIFEST_FILE)).unwrap_or_default());
    let project = Project::load(&root)?;
    if mode == SyncMode::Update {
        super::lock::lock_and_write(&project, &project.manifest, context, &Upgrade::None).await?;
    }
    let (lock, lock_text) = Lock::read_with_text(&project.lock_path())?.ok_or_else(|| {
        Error::usage(
            format!("there is no `{LOCK_FILE}` to install"),
            Some("run `velo lock` to create it".to_string()),
        )
    })?;
    if mode == SyncMode::Locked {
        ops::lock::check_lock(Some(&lock), &project.manifest)?;
    }
    let inputs = ops::sync::Inputs {
        manifest: manifest_digest,
        lock: ops::sync::digest(lock_text.as_bytes()),
    };
    let progress = Progress::new(*printer);
    let start = Instant::now();
    let result = ops::sync::install(&root, &lock, inputs, &context.settings, progress.reporter()).await;
    progress.finish();
    let result = result?;
    for warning in &result.warnings {
        printer.warn(warning);
    }
    if result.link_mode == Some(LinkMode::Copy) {
        printer.warn("the cache and the project are on different file systems, so files were copied rather than linked");
    }
    for (name, version) in &result.removed {
        printer.status("Removed", format!("{name} {version}"));
    }
    let packages = if result.packages == 1 {
        "package"
    } else {
        "packages"
    };
    if result.noop || result.installed.is_empty() {
        if report_noop || !result.removed.is_empty() {
            printer.status(
                "Checked",
                format!("{} {packages}; `.velo` is up to date", result.packages),
            );
        }
    } else {
        let elapsed = start.elapsed().as_millis();
        printer.status(
            "Installed",
            format!(
                "{} of {} {packages} in {elapsed}ms",
                result.installed.len(),
                result.packages
            ),
        );
    }
    Ok(root)
}

//! `velo hook-env`: what the shell hook runs when something changed. It never fails the
//! prompt: problems are one line on stderr, and the project is still recorded as seen so the
//! hook does not ask again until a file changes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::sync::{ensure_synced, SyncMode};
use super::Context;
use crate::error::Error;
use crate::manifest::{find_project_root, Project};
use crate::ops;
use crate::shell::{self, Shell, HOOK_BUCKET};

#[derive(Debug, clap::Args)]
pub struct HookEnvArgs {
    #[arg(long, value_enum)]
    shell: Shell,

    /// The project root (default: the nearest above the current directory).
    #[arg(last = true)]
    root: Option<PathBuf>,
}

pub async fn run(args: HookEnvArgs, context: &Context) -> Result<ExitCode, Error> {
    let root = match args.root {
        Some(root) => std::fs::canonicalize(&root).unwrap_or(root),
        None => match find_project_root(&context.cwd) {
            Ok(root) => root,
            Err(_) => return Ok(ExitCode::SUCCESS),
        },
    };
    let current = ops::env::current_env();
    let stamp = context
        .settings
        .cache
        .root()
        .join(HOOK_BUCKET)
        .join(crate::cache::url_digest(&root.to_string_lossy()));
    let vars = match environment(&root, &stamp, context, &current).await {
        Ok(vars) => vars,
        Err(err) => {
            let hint = err.hint().map(|hint| format!(" ({hint})")).unwrap_or_default();
            eprintln!("velo: {err}{hint}");
            BTreeMap::new()
        }
    };
    print!("{}", shell::hook_output(args.shell, &vars, &root, &stamp));
    Ok(ExitCode::SUCCESS)
}

/// The project's environment, syncing first when `auto_sync` is on and saying once when a sync
/// is needed otherwise. The stamp records the files' times from before they were read, so a
/// change made meanwhile (by the sync, or by the user) is seen at the next prompt.
async fn environment(
    root: &std::path::Path,
    stamp: &std::path::Path,
    context: &Context,
    current: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Error> {
    let seen = shell::newest_watched(root);
    let digest = shell::watched_digest(root);
    // The same files as last time: this is a second look after a recent change, already reported.
    let seen_before = shell::read_stamp(stamp).as_deref() == Some(digest.as_str());
    let project = Project::load(root);
    // A stamp that cannot be written only costs a `velo hook-env` on the next prompt.
    let _ = shell::write_stamp(stamp, seen, &digest);
    let project = project?;
    // `.velo/` is missing or was installed from another `velo.lock`, or the lock no longer
    // matches the manifest's dependencies. (An `env` edit needs no sync.)
    let installed = context
        .settings
        .host
        .is_some_and(|host| ops::sync::is_fresh(root, host, true, &context.settings.cache));
    let lock = crate::lock::Lock::read(&project.lock_path()).ok().flatten();
    let stale_lock = crate::lock::Lock::staleness(lock.as_ref(), &project.manifest).is_some();
    if !installed || stale_lock {
        // The user's config decides over a repository's manifest: a cloned repository must
        // not be able to turn on installing things just by being entered.
        if context
            .settings
            .config
            .auto_sync
            .or(project.manifest.auto_sync)
            .unwrap_or(false)
        {
            let printer = super::Printer {
                quiet: true,
                ..context.printer
            };
            let sync_context = Context {
                cwd: root.to_path_buf(),
                printer,
                ..context.clone()
            };
            if let Err(err) = ensure_synced(&sync_context, SyncMode::Update, false).await {
                eprintln!("velo: auto-sync failed: {err}");
            }
        } else if !seen_before {
            eprintln!("velo: this project's tools are not installed or out of date; run `velo sync`");
        }
    }
    Ok(ops::env::project_env(root, &project.manifest, current))
}

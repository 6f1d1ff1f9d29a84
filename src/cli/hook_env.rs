//! `velo hook-env`: what the shell hook runs when something changed, and what direnv's
//! `use velo` runs. It never fails the prompt: problems are one line on stderr, and the
//! project is still recorded as seen so the hook does not ask again until a file changes.
//!
//! A project the user has not trusted (`velo trust`) gets nothing: no variable, nothing on
//! `PATH`, no sync; only a line saying so, once each time the directory is entered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::sync::{ensure_synced, SyncMode};
use super::Context;
use crate::error::Error;
use crate::manifest::{find_project_root, Project, MANIFEST_FILE};
use crate::ops;
use crate::shell::trust::{Trust, TrustStore};
use crate::shell::{self, Shell, HOOK_BUCKET};

#[derive(Debug, clap::Args)]
pub struct HookEnvArgs {
    #[arg(long, value_enum)]
    shell: Shell,

    /// The hook is entering this project (rather than looking again after a change).
    #[arg(long)]
    entered: bool,

    /// Print plain `export` lines and direnv's `watch_file` for the trust file, for `use velo`.
    #[arg(long, conflicts_with = "entered")]
    direnv: bool,

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
    let store = TrustStore::from_config(&context.settings.config).ok();
    let trust_file = store.as_ref().map(TrustStore::path);
    if args.direnv {
        let vars = or_reported(
            trusted_environment(&root, None, args.entered, store.as_ref(), context, &current).await,
        );
        if let Some(path) = &trust_file {
            println!(
                "watch_file {}",
                crate::install::shell_quote(&path.to_string_lossy())
            );
        }
        print!("{}", shell::export_script(Shell::Bash, &vars));
        return Ok(ExitCode::SUCCESS);
    }
    let stamp = context
        .settings
        .cache
        .root()
        .join(HOOK_BUCKET)
        .join(crate::cache::url_digest(&root.to_string_lossy()));
    let vars = or_reported(
        trusted_environment(
            &root,
            Some(&stamp),
            args.entered,
            store.as_ref(),
            context,
            &current,
        )
        .await,
    );
    print!(
        "{}",
        shell::hook_output(args.shell, &vars, &root, &stamp, trust_file.as_deref())
    );
    Ok(ExitCode::SUCCESS)
}

/// The environment to apply: what [`trusted_environment`] found, or nothing, with the problem
/// said on stderr.
fn or_reported(result: Result<BTreeMap<String, String>, Error>) -> BTreeMap<String, String> {
    result.unwrap_or_else(|err| {
        let hint = err.hint().map(|hint| format!(" ({hint})")).unwrap_or_default();
        eprintln!("velo: {err}{hint}");
        BTreeMap::new()
    })
}

/// The project's environment when the user trusts it, syncing first when `auto_sync` is on and
/// saying once when a sync is needed otherwise. The stamp records the files' times from before
/// they were read, so a change made meanwhile (by the sync, or by the user) is seen at the next
/// prompt; its content records what was seen, so a second look stays quiet.
async fn trusted_environment(
    root: &Path,
    stamp: Option<&Path>,
    entered: bool,
    store: Option<&TrustStore>,
    context: &Context,
    current: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Error> {
    let trust_file = store.map(TrustStore::path);
    let seen = shell::newest_watched(root, trust_file.as_deref());
    let project = Project::load(root);
    let trust = match (&project, store) {
        (Ok(project), Some(store)) => Some(store.status(&root.join(MANIFEST_FILE), &project.manifest)),
        _ => None,
    };
    let label = match &trust {
        Some(Ok(Trust::Trusted)) => "trusted",
        Some(Ok(Trust::Changed)) => "changed",
        _ => "untrusted",
    };
    let digest = format!("{} {label}", shell::watched_digest(root));
    // The same files as last time: this is a second look after a recent change, already reported.
    let seen_before = stamp.is_some_and(|stamp| shell::read_stamp(stamp).as_deref() == Some(digest.as_str()));
    if let Some(stamp) = stamp {
        // A stamp that cannot be written only costs a `velo hook-env` on the next prompt.
        let _ = shell::write_stamp(stamp, seen, &digest);
    }
    let project = project?;
    let trust = match trust {
        Some(trust) => trust?,
        None => return Err(crate::shell::trust::TrustError::NoConfigDir.into()),
    };
    if trust != Trust::Trusted {
        if entered || !seen_before {
            let shown = crate::escape::untrusted_path(root);
            let why = match trust {
                Trust::Changed => " since its `env`, `PATH` or `auto_sync` changed",
                _ => "",
            };
            eprintln!("velo: `{shown}` is not trusted{why}; run `velo trust` to activate it");
        }
        return Ok(BTreeMap::new());
    }
    // `.velo/` is missing or was installed from another `velo.lock`, or the lock no longer
    // matches the manifest's dependencies. (An `env` edit needs no sync.)
    let installed = context
        .settings
        .host
        .is_some_and(|host| ops::sync::is_fresh(root, host, true, &context.settings.cache));
    let lock = crate::lock::Lock::read(&project.lock_path()).ok().flatten();
    let stale_lock = crate::lock::Lock::staleness(lock.as_ref(), &project.manifest).is_some();
    if !installed || stale_lock {
        // The user's config decides over the manifest, which counts only because the user
        // trusted it as it is.
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
    let allowed = &context.settings.config.expand_env;
    let bin = ops::sync::bin_dir(root, &context.settings.cache);
    Ok(ops::env::project_env(
        root,
        &project.manifest,
        current,
        bin.as_deref(),
        allowed,
    )?)
}

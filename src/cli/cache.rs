//! `velo cache`.

use std::process::ExitCode;

use super::progress::human_bytes;
use super::Context;
use crate::error::Error;
use crate::ops;
use crate::run::remote::{Remote, RemoteConfig, RemoteError};

#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory.
    Dir,
    /// Show what the cache holds.
    Status {
        /// Print the buckets as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove everything velo keeps in the cache (its own buckets only).
    Clean,
    /// Remove leftovers and, with `--max-size`, the least recently used entries until the cache fits.
    Prune {
        /// The most the cache may hold afterwards: `500M`, `2G`, or bytes.
        #[arg(long, value_name = "SIZE", value_parser = super::parse_size)]
        max_size: Option<u64>,
    },
}

#[derive(serde::Serialize)]
struct RemoteStatus {
    url: String,
    reachable: bool,
    #[serde(flatten)]
    status: Option<crate::protocol::StatusResponse>,
    error: Option<String>,
}

/// The remote cache for the project at `root` with `manifest` (none outside a project), or
/// `VELO_CACHE_URL`'s: the user's secrets go to the manifest's URL only when the project is
/// trusted, and a note says when they were withheld.
pub(super) fn remote_config(
    context: &Context,
    project: Option<(&std::path::Path, &crate::manifest::Manifest)>,
) -> Result<Option<RemoteConfig>, Error> {
    let configured = project
        .and_then(|(_, manifest)| manifest.cache.as_ref())
        .and_then(|c| c.remote.as_ref());
    let vars = ops::env::current_env();
    let expansion = crate::manifest::Expansion {
        vars: &vars,
        allowed: &context.settings.config.expand_env,
    };
    // Trust records name the canonical path, as the hook sees it.
    let trusted = project.is_some_and(|(root, manifest)| {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        crate::shell::trust::is_trusted(&context.settings.config, &root, manifest)
    });
    let (config, withheld) = RemoteConfig::resolve(configured, expansion, trusted)?;
    if withheld {
        context.printer.warn(crate::run::remote::WITHHELD);
    }
    Ok(config.map(|mut config| {
        config.max_object_size = context.settings.max_unpacked_size;
        config
    }))
}

/// The remote cache of the project here (or `VELO_CACHE_URL`), asked who the token is.
async fn remote_status(context: &Context) -> Result<Option<RemoteStatus>, Error> {
    let project = context.project().ok();
    let Some(config) = remote_config(context, project.as_ref().map(|p| (p.root.as_path(), &p.manifest)))?
    else {
        return Ok(None);
    };
    let url = config.display_url();
    let reporter: crate::run::Reporter = std::sync::Arc::new(|_| {});
    let remote = Remote::new(config, reporter);
    let (status, error, reachable) = match remote.status().await {
        Ok(status) => (Some(status), None, true),
        Err(err) => {
            let reachable = !matches!(err, RemoteError::Http(_));
            (None, Some(err.to_string()), reachable)
        }
    };
    Ok(Some(RemoteStatus {
        url,
        reachable,
        status,
        error,
    }))
}

pub async fn run(command: CacheCommand, context: &Context) -> Result<ExitCode, Error> {
    let root = context.settings.cache.root();
    match command {
        CacheCommand::Dir => println!("{}", root.display()),
        CacheCommand::Status { json } => {
            let buckets = ops::cache::status(root);
            let remote = remote_status(context).await?;
            if json {
                let status = serde_json::json!({
                    "dir": root,
                    "buckets": buckets,
                    "remote": remote,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).expect("status serializes")
                );
            } else {
                println!("{}", root.display());
                for bucket in &buckets {
                    println!(
                        "  {:<14} {:>6} entries  {:>10}",
                        bucket.name,
                        bucket.entries,
                        human_bytes(bucket.bytes)
                    );
                }
                let total: u64 = buckets.iter().map(|b| b.bytes).sum();
                println!("  {:<14} {:>6}          {:>10}", "total", "", human_bytes(total));
                if let Some(remote) = &remote {
                    println!("remote {}", remote.url);
                    match (&remote.status, &remote.error) {
                        (Some(status), _) => println!(
                            "  reachable; token scope {}; storage {} (first write wins: {})",
                            status.scope,
                            status.storage,
                            match status.first_write_wins {
                                crate::protocol::FirstWriteWins::Atomic => "enforced",
                                crate::protocol::FirstWriteWins::Checked => "checked only",
                            }
                        ),
                        (None, Some(error)) if remote.reachable => println!("  reachable, but {error}"),
                        (None, Some(error)) => println!("  unreachable: {error}"),
                        (None, None) => {}
                    }
                }
            }
        }
        CacheCommand::Clean => {
            let result = ops::cache::clean(root).map_err(not_owned)?;
            context.printer.status(
                "Removed",
                format!(
                    "{} buckets from {} ({})",
                    result.removed,
                    root.display(),
                    human_bytes(result.freed)
                ),
            );
            if result.kept > 0 {
                context.printer.warn(format!(
                    "left {} entries in `{}` that velo did not create",
                    result.kept,
                    root.display()
                ));
            }
        }
        CacheCommand::Prune { max_size } => {
            let result = ops::cache::prune(root, max_size).map_err(not_owned)?;
            context.printer.status(
                "Pruned",
                format!("{} entries ({})", result.removed, human_bytes(result.freed)),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The cache directory is not velo's: bad input (exit 2), with the way out.
fn not_owned(err: crate::cache::NotOwned) -> Error {
    Error::usage(
        err.to_string(),
        Some(format!(
            "velo only cleans a directory it created; check `{}`, or remove the directory yourself",
            crate::env_vars::VELO_CACHE_DIR
        )),
    )
}

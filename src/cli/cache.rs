//! `velo cache`.

use std::process::ExitCode;

use super::progress::human_bytes;
use super::Context;
use crate::error::Error;
use crate::ops;

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
    /// Remove everything in the cache.
    Clean,
    /// Remove leftovers and, with `--max-size`, the least recently used entries until the cache fits.
    Prune {
        /// The most the cache may hold afterwards: `500M`, `2G`, or bytes.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
    },
}

fn parse_size(text: &str) -> Result<u64, String> {
    ops::cache::parse_size(text)
        .ok_or_else(|| format!("`{text}` is not a size; write it like `500M` or `2G`"))
}

pub fn run(command: CacheCommand, context: &Context) -> Result<ExitCode, Error> {
    let root = context.settings.cache.root();
    match command {
        CacheCommand::Dir => println!("{}", root.display()),
        CacheCommand::Status { json } => {
            let buckets = ops::cache::status(root);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&buckets).expect("status serializes")
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
            }
        }
        CacheCommand::Clean => {
            let size = ops::cache::disk_size(root);
            if root.exists() {
                fs_err::remove_dir_all(root).map_err(|source| Error::Io {
                    path: root.to_path_buf(),
                    source,
                })?;
            }
            context
                .printer
                .status("Removed", format!("{} ({})", root.display(), human_bytes(size)));
        }
        CacheCommand::Prune { max_size } => {
            let result = ops::cache::prune(root, max_size);
            context.printer.status(
                "Pruned",
                format!("{} entries ({})", result.removed, human_bytes(result.freed)),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

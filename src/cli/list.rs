//! `velo list`.

use std::process::ExitCode;

use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::manifest::find_project_root;
use crate::ops;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print the packages as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    version: String,
    commands: Vec<String>,
}

pub fn run(args: ListArgs, context: &Context) -> Result<ExitCode, Error> {
    let root = find_project_root(&context.cwd)?;
    let rows: Vec<Row> = ops::sync::installed(&root, &context.settings.cache)
        .map(|state| {
            state
                .packages
                .into_iter()
                .map(|(name, package)| Row {
                    name,
                    version: package.version,
                    commands: package.commands.into_keys().collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows).expect("rows serialize"));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        context
            .printer
            .status("Checked", "nothing is installed; run `velo sync`");
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows
        .iter()
        .map(|row| row.name.len() + row.version.len() + 1)
        .max()
        .unwrap_or(0);
    for row in rows {
        let name = format!("{} {}", row.name, row.version);
        if row.commands.is_empty() {
            println!("{name}");
        } else {
            println!("{name:<width$}  {}", row.commands.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `velo outdated`.

use crate::escape::untrusted;
use std::process::ExitCode;

use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::ops::lock::Upgrade;
use crate::sources::Sources;
use crate::version::Version;

#[derive(Debug, clap::Args)]
pub struct OutdatedArgs {
    /// Print every direct dependency as JSON on stdout, outdated or not.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    requirement: String,
    locked: String,
    /// The newest version the requirement allows.
    compatible: String,
    /// The newest release, whatever the requirement says.
    latest: String,
}

pub async fn run(args: OutdatedArgs, context: &Context) -> Result<ExitCode, Error> {
    let project = context.project()?;
    let result = super::lock::lock_and_write(&project, &project.manifest, context, &Upgrade::None).await?;
    let sources =
        Sources::new(&project.manifest, &project.root, &context.settings).map_err(std::sync::Arc::new)?;

    let fetches = project.manifest.dependencies.iter().map(|dep| {
        let sources = &sources;
        let package = result
            .lock
            .manifest
            .package_of(&dep.key)
            .unwrap_or_else(|| dep.lock_key());
        async move { (dep, sources.get_async(&package).await) }
    });
    let mut rows = Vec::new();
    for (dep, meta) in futures::future::join_all(fetches).await {
        let meta = meta?;
        let package = result
            .lock
            .manifest
            .package_of(&dep.key)
            .unwrap_or_else(|| dep.lock_key());
        let locked = &result.lock.packages[&package].version;
        let newest = |accept: &dyn Fn(&Version) -> bool| {
            meta.versions
                .keys()
                .rev()
                .find(|v| accept(v))
                .map_or_else(|| locked.clone(), ToString::to_string)
        };
        rows.push(Row {
            name: dep.key.clone(),
            requirement: dep.requirement.to_string(),
            locked: locked.clone(),
            compatible: newest(&|v| dep.requirement.matches(v)),
            latest: newest(&|v| !v.is_prerelease() || dep.requirement.allows_prerelease()),
        });
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows).expect("rows serialize"));
        return Ok(ExitCode::SUCCESS);
    }
    let outdated: Vec<&Row> = rows
        .iter()
        .filter(|row| row.locked != row.compatible || row.locked != row.latest)
        .collect();
    if outdated.is_empty() {
        context
            .printer
            .status("Checked", "every dependency is on its newest version");
        return Ok(ExitCode::SUCCESS);
    }
    let headers = ["Package", "Requirement", "Locked", "Compatible", "Latest"];
    // Every cell comes from a lock, manifest or index a repository chose: printed escaped.
    let escaped: Vec<[String; 5]> = outdated
        .iter()
        .map(|r| {
            [&r.name, &r.requirement, &r.locked, &r.compatible, &r.latest]
                .map(|cell| untrusted(cell).to_string())
        })
        .collect();
    let cells: Vec<[&str; 5]> = escaped
        .iter()
        .map(|row| row.each_ref().map(String::as_str))
        .collect();
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: [&str; 5]| {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    println!("{}", line(headers));
    for row in cells {
        println!("{}", line(row));
    }
    Ok(ExitCode::SUCCESS)
}

//! `velo info`.

use crate::escape::untrusted;
use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::manifest::{PackageKey, PackageSource};
use crate::ops;
use crate::version::VersionReq;

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// A forge package, optionally with a requirement (`github:BurntSushi/ripgrep@^14`), or a
    /// Homebrew core formula (`brew:wget`; a bare name too, outside a project with a `registry`).
    #[arg(value_name = "SPEC")]
    spec: String,

    /// Show every asset of the release and, per platform, which one velo picks and why the
    /// others were dropped.
    #[arg(long)]
    assets: bool,

    /// Only consider assets matching this pattern (`*` and `?`), as `asset` in `velo.json` does.
    #[arg(long, value_name = "PATTERN")]
    asset: Option<String>,

    /// Print as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: InfoArgs, context: &Context) -> Result<ExitCode, Error> {
    let (key, requirement) = match args.spec.rsplit_once('@') {
        Some((key, requirement)) if !key.is_empty() => (key, requirement),
        _ => (args.spec.as_str(), "*"),
    };
    let key: PackageKey = args
        .spec
        .parse()
        .or_else(|_| key.parse())
        .map_err(|err: crate::manifest::PackageKeyError| Error::usage(err.to_string(), None))?;
    let project = context.project().ok();
    let has_registry = project.as_ref().is_some_and(|p| p.manifest.registry.is_some());
    if matches!(key.source, PackageSource::Brew { tap: None })
        || (key.source == PackageSource::Default && !has_registry)
    {
        let min_macos = project
            .as_ref()
            .map_or(crate::manifest::MacosVersion::DEFAULT, |p| p.manifest.min_macos());
        return brew_info(&key.name, min_macos, args.json, context).await;
    }
    if matches!(
        key.source,
        PackageSource::Default | PackageSource::Index | PackageSource::Brew { .. }
    ) {
        return Err(Error::usage(
            format!("`velo info` describes forge packages; `{key}` is not one"),
            Some("use a key such as `github:OWNER/REPO`".to_string()),
        ));
    }
    let requirement: VersionReq = requirement
        .parse()
        .map_err(|err: crate::version::VersionReqError| Error::usage(err.to_string(), None))?;
    let (release, platforms) =
        ops::info::forge_assets(&key, &requirement, &context.settings, args.asset.as_deref())
            .await
            .map_err(|err| {
                Error::Source(std::sync::Arc::new(crate::sources::SourceError::Forge(
                    std::sync::Arc::new(err),
                )))
            })?;
    if args.json {
        let value =
            serde_json::json!({ "package": key.to_string(), "release": release.tag, "platforms": platforms });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("info serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{key} {} ({} assets)",
        untrusted(&release.tag),
        release.assets.len()
    );
    for platform in &platforms {
        let chosen = platform.chosen.as_deref().unwrap_or("nothing fits");
        println!("  {}: {}", platform.platform, untrusted(chosen));
        if args.assets {
            for asset in &platform.assets {
                println!(
                    "      {:<60} {}",
                    untrusted(&asset.name).to_string(),
                    asset.verdict
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `velo info brew:NAME`: per platform the version, dependencies, the bottle velo would lock
/// and why every other tag was passed over.
async fn brew_info(
    name: &str,
    min_macos: crate::manifest::MacosVersion,
    json: bool,
    context: &Context,
) -> Result<ExitCode, Error> {
    let info = ops::info::brew_formula(name, &context.settings, min_macos)
        .await
        .map_err(|err| {
            Error::Source(std::sync::Arc::new(crate::sources::SourceError::Brew(
                std::sync::Arc::new(err),
            )))
        })?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).expect("info serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "brew:{} {} (Homebrew core{}; macOS bottles for macOS {} and later)",
        untrusted(&info.formula),
        untrusted(&info.version),
        if info.keg_only { ", keg-only" } else { "" },
        info.min_macos
    );
    for platform in &info.platforms {
        match (&platform.bottle, &platform.unavailable) {
            (Some(bottle), None) => {
                println!(
                    "  {}: {} ({})",
                    platform.platform,
                    untrusted(&bottle.tag),
                    untrusted(&bottle.cellar)
                );
                println!("      url         {}", untrusted(&bottle.url));
                println!("      sha256      {}", untrusted(&bottle.sha256));
            }
            (_, reason) => println!(
                "  {}: not available: {}",
                platform.platform,
                reason.as_deref().unwrap_or("no bottle")
            ),
        }
        let dependencies: Vec<String> = platform
            .dependencies
            .iter()
            .map(|d| untrusted(d).to_string())
            .collect();
        let shown = if dependencies.is_empty() {
            "none".to_string()
        } else {
            dependencies.join(", ")
        };
        println!("      depends on  {shown}");
        for (tag, verdict) in platform.tags.iter().filter(|(_, v)| v.as_str() != "chosen") {
            println!("      {:<20}{verdict}", untrusted(tag).to_string());
        }
    }
    Ok(ExitCode::SUCCESS)
}

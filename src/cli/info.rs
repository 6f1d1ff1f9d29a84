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
    /// A forge package, optionally with a requirement: `github:BurntSushi/ripgrep@^14`.
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
    let key: PackageKey = key
        .parse()
        .map_err(|err: crate::manifest::PackageKeyError| Error::usage(err.to_string(), None))?;
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

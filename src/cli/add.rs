//! `velo add`.

use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::manifest::{Manifest, ManifestEditor, PackageKey, PackageSource};
use crate::ops::lock::Upgrade;
use crate::version::{Version, VersionReq};

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Packages to add: `NAME` or `NAME@REQUIREMENT` (`jq@^1.7`, `github:BurntSushi/ripgrep@14`).
    /// The requirement starts after the last `@`; without one, velo adds `^` of the newest version.
    #[arg(required = true, value_name = "SPEC")]
    specs: Vec<String>,

    /// Take the first asset without asking when a forge release offers several for this machine.
    #[arg(short, long)]
    yes: bool,
}

struct Spec {
    key: String,
    requirement: Option<VersionReq>,
}

fn parse_spec(spec: &str) -> Result<Spec, Error> {
    let (key, requirement) = match spec.rsplit_once('@') {
        Some((key, requirement)) if !key.is_empty() => (key, Some(requirement)),
        _ => (spec, None),
    };
    key.parse::<PackageKey>()
        .map_err(|err| Error::usage(err.to_string(), None))?;
    let requirement = requirement
        .map(|text| text.parse::<VersionReq>())
        .transpose()
        .map_err(|err| {
            Error::usage(
                err.to_string(),
                Some("write a requirement such as `jq@^1.7` or `jq@>=1.6, <2`".to_string()),
            )
        })?;
    Ok(Spec {
        key: key.to_string(),
        requirement,
    })
}

pub async fn run(args: AddArgs, context: &Context) -> Result<ExitCode, Error> {
    let project = context.project()?;
    let specs = args
        .specs
        .iter()
        .map(|spec| parse_spec(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let manifest_path = project.manifest_path();
    let original = fs_err::read_to_string(&manifest_path).map_err(|source| Error::Io {
        path: manifest_path.clone(),
        source,
    })?;

    let edit = |requirements: &[(String, String)]| -> Result<(String, Manifest), Error> {
        let mut editor = ManifestEditor::parse(&original)?;
        for (key, requirement) in requirements {
            editor.set_dependency(key, requirement)?;
        }
        let text = editor.to_text();
        let manifest = Manifest::from_str(&text, &manifest_path)?;
        Ok((text, manifest))
    };

    // First solve with `*` where no requirement was given, then pin those to `^` of the result.
    let first: Vec<(String, String)> = specs
        .iter()
        .map(|spec| {
            (
                spec.key.clone(),
                spec.requirement
                    .as_ref()
                    .map_or("*".to_string(), |r| r.to_string()),
            )
        })
        .collect();
    let (_, manifest) = edit(&first)?;
    // Packages the user names are moved to the newest version their requirement allows.
    let named = specs
        .iter()
        .filter_map(|spec| manifest.dependencies.get(&spec.key))
        .map(|dep| dep.lock_key());
    let result =
        super::lock::solve(&project, &manifest, context, &Upgrade::Packages(named.collect())).await?;

    let mut pinned = first.clone();
    for ((key, requirement), spec) in pinned.iter_mut().zip(&specs) {
        if spec.requirement.is_some() {
            continue;
        }
        let dependency = manifest
            .dependencies
            .get(key)
            .expect("the edited manifest has every added key");
        let package = result
            .lock
            .manifest
            .package_of(key)
            .unwrap_or_else(|| dependency.lock_key());
        let locked = &result.lock.packages[&package];
        // Homebrew core carries one version of each formula and moves it on: a caret would
        // turn its next major release into a lock error, so a formula is added as `*`.
        if locked.source == crate::lock::BREW_SOURCE {
            continue;
        }
        let version: Version = locked
            .version
            .parse()
            .map_err(|err| Error::Internal(format!("locked version: {err}")))?;
        *requirement = VersionReq::caret(&version).to_string();
    }
    let (mut text, mut manifest) = edit(&pinned)?;
    let mut result = result;

    // A forge release may offer several assets for this machine: let the person choose.
    let mut patterns = Vec::new();
    for spec in &specs {
        let dependency = manifest
            .dependencies
            .get(&spec.key)
            .expect("the edited manifest has every added key");
        if dependency.asset.is_some()
            || matches!(
                dependency.package.source,
                PackageSource::Default | PackageSource::Index | PackageSource::Brew { .. }
            )
        {
            continue;
        }
        let locked = &result.lock.packages[&dependency.lock_key()];
        let tag = locked.tag.as_deref().unwrap_or(&locked.version);
        if let Some(pattern) =
            choose_asset(&dependency.package, &locked.version, tag, context, args.yes).await?
        {
            patterns.push((spec.key.clone(), pattern));
        }
    }
    if !patterns.is_empty() {
        let mut editor = ManifestEditor::parse(&text)?;
        // The pick is for this machine's platform; the others keep velo's own choice.
        let host = context.settings.host.map(|p| p.to_string()).unwrap_or_default();
        for (key, pattern) in &patterns {
            let value =
                jsonc_parser::cst::CstInputValue::Object(vec![(host.clone(), pattern.as_str().into())]);
            editor.set_dependency_field(key, "asset", value)?;
        }
        text = editor.to_text();
        manifest = Manifest::from_str(&text, &manifest_path)?;
        result = super::lock::solve(&project, &manifest, context, &Upgrade::None).await?;
    }
    // The lock keys resolving chose (Homebrew's canonical names) carry over to the final inputs.
    let direct: std::collections::BTreeMap<String, String> = manifest
        .dependencies
        .iter()
        .filter_map(|dep| Some((dep.key.clone(), result.lock.manifest.package_of(&dep.key)?)))
        .collect();
    result.lock.manifest = crate::lock::LockInputs::from_manifest(&manifest).with_packages(&direct);

    ensure_unchanged(&manifest_path, &original)?;
    crate::fs::write_atomic(&manifest_path, text.as_bytes()).map_err(|source| Error::Io {
        path: manifest_path.clone(),
        source,
    })?;
    super::lock::write(&project, &result, context)?;
    for (key, requirement) in &pinned {
        context
            .printer
            .status("Added", format!("{key} {requirement} to `velo.json`"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuse to write `velo.json` over a change someone made while velo was resolving: their edit
/// would be lost.
pub(super) fn ensure_unchanged(path: &std::path::Path, original: &str) -> Result<(), Error> {
    let now = fs_err::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if now != original {
        return Err(Error::Lookup {
            message: "`velo.json` changed while velo was working, so velo wrote nothing".to_string(),
            hint: "run the command again".to_string(),
        });
    }
    Ok(())
}

/// When a forge release has several assets for this machine: on a terminal, ask (`[1]` is the
/// default); otherwise take `[1]` and say so. Returns an `asset` pattern when the person picked
/// another one.
async fn choose_asset(
    key: &PackageKey,
    version: &str,
    tag: &str,
    context: &Context,
    yes: bool,
) -> Result<Option<String>, Error> {
    use std::io::{BufRead, IsTerminal, Write};
    let Some(host) = context.settings.host else {
        return Ok(None);
    };
    let requirement: VersionReq = format!("={version}")
        .parse()
        .map_err(|err: crate::version::VersionReqError| Error::Internal(err.to_string()))?;
    let Ok((_, platforms)) = crate::ops::info::forge_assets(key, &requirement, &context.settings, None).await
    else {
        return Ok(None);
    };
    let Some(here) = platforms.into_iter().find(|p| p.platform == host) else {
        return Ok(None);
    };
    if here.candidates.len() < 2 {
        return Ok(None);
    }
    let interactive = !yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !interactive {
        context.printer.status(
            "Picked",
            format!(
                "`{}` for {host} ({} fit; `velo info {key} --assets` lists them)",
                here.candidates[0],
                here.candidates.len()
            ),
        );
        return Ok(None);
    }
    eprintln!(
        ":: {} compatible assets of `{key}` for {host}",
        here.candidates.len()
    );
    for (i, name) in here.candidates.iter().enumerate() {
        let default = if i == 0 { " (default)" } else { "" };
        eprintln!("  {}) {name}{default}", i + 1);
    }
    let stdin = std::io::stdin();
    let mut prompt = ":: Select asset [1]: ".to_string();
    loop {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
            return Ok(None);
        }
        let choice = line.trim();
        let index = if choice.is_empty() {
            Some(1)
        } else {
            choice.parse::<usize>().ok()
        };
        match index {
            Some(1) => return Ok(None),
            Some(n) if n >= 2 && n <= here.candidates.len() => {
                return Ok(Some(asset_pattern(&here.candidates[n - 1], tag)));
            }
            _ => {
                prompt = format!(
                    ":: Invalid selection. Enter a number [1-{}]: ",
                    here.candidates.len()
                )
            }
        }
    }
}

/// An asset name as a pattern that also matches later releases: the version, as the release's
/// tag spells it (`2024.01.15`, not `2024.1.15`), becomes `*`.
fn asset_pattern(name: &str, version: &str) -> String {
    let version = version.trim_start_matches('v');
    if version.is_empty() || !name.contains(version) {
        return name.to_string();
    }
    name.replace(version, "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let spec = parse_spec("jq@^1.7").unwrap();
        assert_eq!(
            (spec.key.as_str(), spec.requirement.unwrap().as_str()),
            ("jq", "^1.7")
        );
        let spec = parse_spec("github:BurntSushi/ripgrep@14").unwrap();
        assert_eq!(spec.key, "github:BurntSushi/ripgrep");
        assert!(parse_spec("jq").unwrap().requirement.is_none());
        assert_eq!(parse_spec("openssl@3@*").unwrap().key, "openssl@3");
        assert!(parse_spec("jq@^^1").is_err());
        assert!(parse_spec("Bad Name").is_err());
        assert_eq!(
            asset_pattern("rg-14.1.0-x86_64-unknown-linux-gnu.tar.gz", "14.1.0"),
            "rg-*-x86_64-unknown-linux-gnu.tar.gz"
        );
    }
}

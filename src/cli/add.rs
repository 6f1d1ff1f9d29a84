//! `velo add`.

use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::manifest::{Manifest, ManifestEditor, PackageKey};
use crate::ops::lock::Upgrade;
use crate::version::{Version, VersionReq};

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Packages to add: `NAME` or `NAME@REQUIREMENT` (`jq@^1.7`, `github:BurntSushi/ripgrep@14`).
    /// The requirement starts after the last `@`; without one, velo adds `^` of the newest version.
    #[arg(required = true, value_name = "SPEC")]
    specs: Vec<String>,
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
        let locked = &result.lock.packages[&dependency.lock_key()];
        let version: Version = locked
            .version
            .parse()
            .map_err(|err| Error::Internal(format!("locked version: {err}")))?;
        *requirement = VersionReq::caret(&version).to_string();
    }
    let (text, manifest) = edit(&pinned)?;
    let mut result = result;
    result.lock.manifest = crate::lock::LockInputs::from_manifest(&manifest);

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
    }
}

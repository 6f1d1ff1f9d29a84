//! `velo remove`.

use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::manifest::{Manifest, ManifestEditor};
use crate::ops::lock::Upgrade;

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Dependency keys to remove, as written in `velo.json`.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

pub async fn run(args: RemoveArgs, context: &Context) -> Result<ExitCode, Error> {
    let project = context.project()?;
    let manifest_path = project.manifest_path();
    let original = fs_err::read_to_string(&manifest_path).map_err(|source| Error::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let mut editor = ManifestEditor::parse(&original)?;
    for name in &args.names {
        if !editor.remove_dependency(name)? {
            let keys = project.manifest.dependencies.iter().map(|dep| dep.key.as_str());
            return Err(Error::usage(
                format!("`{name}` is not a dependency in `velo.json`"),
                crate::suggest::closest(name, keys).map(|best| format!("did you mean `{best}`?")),
            ));
        }
    }
    let text = editor.to_text();
    let manifest = Manifest::from_str(&text, &manifest_path)?;
    let result = super::lock::solve(&project, &manifest, context, &Upgrade::None).await?;
    super::add::ensure_unchanged(&manifest_path, &original)?;
    crate::fs::write_atomic(&manifest_path, text.as_bytes()).map_err(|source| Error::Io {
        path: manifest_path.clone(),
        source,
    })?;
    super::lock::write(&project, &result, context)?;
    for name in &args.names {
        context
            .printer
            .status("Removed", format!("{name} from `velo.json`"));
    }
    Ok(ExitCode::SUCCESS)
}

//! `velo init`.

use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::manifest::{Manifest, MANIFEST_FILE};

const TEMPLATE: &str = include_str!("../../templates/velo.json");

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The project's name (default: the directory's name).
    #[arg(long)]
    name: Option<String>,

    /// The velo index bare package names resolve against: a URL or a path.
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
}

pub fn run(args: InitArgs, context: &Context) -> Result<ExitCode, Error> {
    let path = context.cwd.join(MANIFEST_FILE);
    if path.exists() {
        return Err(Error::usage(
            format!("`{}` already exists", path.display()),
            Some("edit it, or use `velo add` to add dependencies".to_string()),
        ));
    }
    let name = args
        .name
        .or_else(|| context.cwd.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".to_string());
    let mut text = TEMPLATE.replace(
        "\"{{name}}\"",
        &serde_json::to_string(&name).expect("a string serializes"),
    );
    if let Some(registry) = &args.registry {
        let line = format!(
            "  \"name\": {},\n",
            serde_json::to_string(&name).expect("a string serializes")
        );
        let with_registry = format!(
            "{line}  \"registry\": {},\n",
            serde_json::to_string(registry).expect("a string serializes")
        );
        text = text.replacen(&line, &with_registry, 1);
    }
    // The template is ours, but check what we write parses as users will need it to.
    Manifest::from_str(&text, &path)?;
    fs_err::create_dir_all(&context.cwd).map_err(|source| Error::Io {
        path: context.cwd.clone(),
        source,
    })?;
    crate::fs::write_atomic(&path, text.as_bytes()).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    context
        .printer
        .status("Created", format!("`{MANIFEST_FILE}` for {name}"));
    Ok(ExitCode::SUCCESS)
}

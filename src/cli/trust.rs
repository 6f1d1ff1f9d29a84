//! `velo trust` and `velo untrust`: let the shell hook (and direnv's `use velo`) apply a
//! project's environment, or stop it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::Context;
use crate::error::Error;
use crate::manifest::{find_project_root, EnvValue, Manifest, Project, MANIFEST_FILE};
use crate::shell::trust::{Trust, TrustStore};

#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// The project: a directory in it or its `velo.json` (default: the project here).
    path: Option<PathBuf>,

    /// Only say whether the project is trusted (exit 0) or not (exit 1), and what entering it
    /// applies.
    #[arg(long)]
    show: bool,
}

#[derive(Debug, clap::Args)]
pub struct UntrustArgs {
    /// The project: a directory in it or its `velo.json` (default: the project here).
    path: Option<PathBuf>,
}

pub fn trust(args: TrustArgs, context: &Context) -> Result<ExitCode, Error> {
    let store = TrustStore::from_config(&context.settings.config)?;
    let project = Project::load(&project_root(context, args.path.as_deref())?)?;
    let manifest_path = project.manifest_path();
    let shown = crate::escape::untrusted_path(&project.root);
    if args.show {
        let trust = store.status(&manifest_path, &project.manifest)?;
        let state = match trust {
            Trust::Trusted => "is trusted",
            Trust::Untrusted => "is not trusted",
            Trust::Changed => "is not trusted: its `env`, `PATH` or `auto_sync` changed since `velo trust`",
        };
        context.printer.status("Project", format!("`{shown}` {state}"));
        describe(context, &project.manifest);
        return Ok(if trust == Trust::Trusted {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    store.trust(&manifest_path, &project.manifest)?;
    context.printer.status("Trusted", format!("`{shown}`"));
    describe(context, &project.manifest);
    Ok(ExitCode::SUCCESS)
}

pub fn untrust(args: UntrustArgs, context: &Context) -> Result<ExitCode, Error> {
    let store = TrustStore::from_config(&context.settings.config)?;
    // The project may be gone, or its manifest broken: its record goes all the same.
    let root = match &args.path {
        Some(path) => {
            let dir = named_dir(context, path);
            match std::fs::canonicalize(&dir) {
                // As `velo trust` found it: the nearest `velo.json` at or above.
                Ok(dir) => find_project_root(&dir).unwrap_or(dir),
                Err(_) => crate::fs::normalize(&dir),
            }
        }
        None => find_project_root(&context.cwd)?,
    };
    let shown = crate::escape::untrusted_path(&root);
    if store.untrust(&root.join(MANIFEST_FILE))? {
        context.printer.status("Untrusted", format!("`{shown}`"));
    } else {
        context
            .printer
            .status("Unchanged", format!("`{shown}` was not trusted"));
    }
    Ok(ExitCode::SUCCESS)
}

/// The project named on the command line: the nearest `velo.json` at or above it.
fn project_root(context: &Context, path: Option<&Path>) -> Result<PathBuf, Error> {
    let start = match path {
        Some(path) => named_dir(context, path),
        None => context.cwd.clone(),
    };
    Ok(find_project_root(&start)?)
}

/// The directory `path` names: itself, or the one holding it when it names a `velo.json`.
fn named_dir(context: &Context, path: &Path) -> PathBuf {
    let path = context.cwd.join(path);
    match (path.file_name(), path.parent()) {
        (Some(name), Some(parent)) if name == MANIFEST_FILE => parent.to_path_buf(),
        _ => path,
    }
}

/// What entering the project applies, so the user sees what they trust.
fn describe(context: &Context, manifest: &Manifest) {
    let mut path = vec!["`.velo/bin`".to_string()];
    for (name, value) in &manifest.env {
        match (name.as_str(), value) {
            ("PATH", EnvValue::Paths(paths)) => {
                path.extend(paths.iter().map(|p| format!("`{}`", crate::escape::untrusted(p))))
            }
            (_, EnvValue::Value(text)) => context
                .printer
                .detail(format!("  sets `{name}` to `{}`", crate::escape::untrusted(text))),
            (_, EnvValue::Paths(paths)) => context.printer.detail(format!(
                "  puts {} in front of `{name}`",
                paths
                    .iter()
                    .map(|p| format!("`{}`", crate::escape::untrusted(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    context
        .printer
        .detail(format!("  puts {} in front of `PATH`", path.join(", ")));
    if manifest.auto_sync == Some(true) {
        context
            .printer
            .detail("  runs `velo sync` on entering when `.velo` is out of date (`auto_sync`)");
    }
}

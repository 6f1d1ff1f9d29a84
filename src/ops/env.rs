//! The environment a project's tools run in: `.velo/bin` first on `PATH`, then the manifest's
//! `env`. Shared by `velo exec`, `velo env` and shell activation. `${NAME}` in a value reads
//! only the variables the user opted into ([`Expansion`]).

use std::collections::BTreeMap;
use std::path::Path;

use crate::manifest::{EnvValue, ExpandError, Expansion, Manifest};

/// Variables to set, computed against `current` (the environment velo was started with).
/// `PATH`-like list values are prepended to what the variable holds now. `allowed` lists the
/// names besides `VELO_*` that `${NAME}` may read (`expand_env` in `config.toml`). `bin` is
/// the project's `.velo/bin` when velo made it ([`crate::ops::sync::bin_dir`]).
pub fn project_env(
    root: &Path,
    manifest: &Manifest,
    current: &BTreeMap<String, String>,
    bin: Option<&Path>,
    allowed: &[String],
) -> Result<BTreeMap<String, String>, ExpandError> {
    env_layer(root, &manifest.env, current, bin, allowed)
}

/// The variables `env` (from the `velo.json` in `dir`) sets over `current`, with `bin` first on
/// `PATH` when given.
pub fn env_layer(
    dir: &Path,
    env: &BTreeMap<String, EnvValue>,
    current: &BTreeMap<String, String>,
    bin: Option<&Path>,
    allowed: &[String],
) -> Result<BTreeMap<String, String>, ExpandError> {
    let expansion = Expansion {
        vars: current,
        allowed,
    };
    let expand = |text: &str, name: &str| expansion.expand(text, &format!("env.{name}"));
    let root = dir;
    let separator = if cfg!(windows) { ";" } else { ":" };
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut path_front: Vec<String> = bin.iter().map(|b| b.to_string_lossy().into_owned()).collect();
    for (name, value) in env {
        match value {
            EnvValue::Value(text) => {
                vars.insert(name.clone(), expand(text, name)?);
            }
            EnvValue::Paths(paths) => {
                let resolved: Vec<String> = paths
                    .iter()
                    .map(|p| {
                        Ok(crate::fs::normalize(&root.join(expand(p, name)?))
                            .to_string_lossy()
                            .into_owned())
                    })
                    .collect::<Result<_, ExpandError>>()?;
                if name == "PATH" {
                    path_front.extend(resolved);
                } else {
                    let mut parts = resolved;
                    parts.extend(current.get(name).filter(|v| !v.is_empty()).cloned());
                    vars.insert(name.clone(), parts.join(separator));
                }
            }
        }
    }
    // Entries already on PATH (a nested shell inherits them) move to the front, not twice.
    let mut path = path_front;
    if let Some(existing) = current.get("PATH") {
        let rest: Vec<&str> = existing
            .split(separator)
            .filter(|entry| !entry.is_empty() && !path.iter().any(|p| p == entry))
            .collect();
        path.extend(rest.into_iter().map(str::to_string));
    }
    vars.insert("PATH".to_string(), path.join(separator));
    Ok(vars)
}

/// The current process environment as a sorted map (variables that are not UTF-8 are skipped).
pub fn current_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_prepends() {
        let manifest = Manifest::from_str(
            r#"{"env": {"RUST_LOG": "info", "GREETING": "hi ${USER}", "PATH": ["./scripts"], "PYTHONPATH": ["lib"]}}"#,
            Path::new("velo.json"),
        )
        .unwrap();
        let current: BTreeMap<String, String> =
            [("PATH", "/usr/bin"), ("USER", "ada"), ("PYTHONPATH", "/site")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into();
        let allowed = ["USER".to_string()];
        let env = project_env(
            Path::new("/p"),
            &manifest,
            &current,
            Some(Path::new("/p/.velo/bin")),
            &allowed,
        )
        .unwrap();
        assert_eq!(env["PATH"], "/p/.velo/bin:/p/scripts:/usr/bin");
        assert_eq!(env["GREETING"], "hi ada");
        assert_eq!(env["PYTHONPATH"], "/p/lib:/site");
        let nested: BTreeMap<String, String> = [("PATH".to_string(), env["PATH"].clone())].into();
        assert_eq!(
            project_env(
                Path::new("/p"),
                &manifest,
                &nested,
                Some(Path::new("/p/.velo/bin")),
                &allowed
            )
            .unwrap()["PATH"],
            env["PATH"]
        );
        assert_eq!(env["RUST_LOG"], "info");
        // Without `USER` in `expand_env`, the reference is an error, not an empty string.
        let err = project_env(Path::new("/p"), &manifest, &current, None, &[]).unwrap_err();
        assert_eq!(err.to_string(), "`env.GREETING` in `velo.json` refers to `${USER}`, which velo does not expand unless you allow it");
    }
}
